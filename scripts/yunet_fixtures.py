#!/usr/bin/env python3
"""Write the YuNet test fixtures (numbers only, never pixels) for the Rust detector's tests.

In:   models/yunet/yunet.{json,f32}; the wheel's libfacedetection.so (--so); the Solvay photo
      from ../shared/data (read, decoded, never copied).
Out:  tests/fixtures/yunet_original_solvay.json
        the ORIGINAL library's facedetect_cnn output on the full-size photo (PIL decode, no
        resize), its objectdetect_cnn float scores, and the NumPy reference's float
        detections with score >= 0.5.
      tests/fixtures/yunet_synthetic.json
        a synthetic BGR image given by a formula (the Rust test regenerates it), and the
        NumPy (float64) reference's raw head outputs before sigmoid at chosen positions, plus
        stem / backbone values for layer-by-layer debugging; each is checked against the
        original library run layer by layer (max difference recorded).
Run:
    python3 scripts/yunet_fixtures.py --so /tmp/yuface/x/yuface/libfacedetection.so \
        --image ../shared/data/images/solvay1927_scientists.jpg
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from yunet_reference import STRIDES, OriginalLibrary, Yunet, load_bgr  # noqa: E402

SYN_W, SYN_H = 100, 70
SYN_FORMULA = {
    "width": SYN_W,
    "height": SYN_H,
    "layout": "row-major HxWx3, channel order B, G, R, uint8; x = column 0..width-1, y = row 0..height-1",
    "B": "(7*x + 3*y) % 256",
    "G": "(2*x + 11*y + 40) % 256",
    "R": "(x*x + y) % 256",
    "note": "100x70 is not a multiple of 32: the network pads it to 128x96 (zeros right and bottom), "
            "so the fixture also covers the padding path",
}


def synthetic_bgr():
    y, x = np.mgrid[0:SYN_H, 0:SYN_W]
    b = (7 * x + 3 * y) % 256
    g = (2 * x + 11 * y + 40) % 256
    r = (x * x + y) % 256
    return np.stack([b, g, r], -1).astype(np.uint8)


def spread(h, w):
    """8 positions over an h x w map: corners, centre and a few in between."""
    pts = [(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1), (h // 2, w // 2),
           (h // 4, (3 * w) // 4), ((3 * h) // 4, w // 4), ((2 * h) // 3, (5 * w) // 6)]
    out = []
    for p in pts:
        if p not in out:
            out.append(p)
    return out


def vals(a):
    return [float(v) for v in np.asarray(a).reshape(-1)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", default="models/yunet")
    ap.add_argument("--so", required=True)
    ap.add_argument("--image", default="../shared/data/images/solvay1927_scientists.jpg")
    ap.add_argument("--out-dir", default="tests/fixtures")
    args = ap.parse_args()

    import PIL
    net = Yunet(args.model_dir, np.float64)
    lib = OriginalLibrary(args.so)
    manifest = json.loads((Path(args.model_dir) / "yunet.json").read_text())
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_info = {"weights": "models/yunet/yunet.f32",
                  "weights_sha256": hashlib.sha256((Path(args.model_dir) / "yunet.f32").read_bytes()).hexdigest(),
                  "library": f"{manifest['source'].get('package')} {manifest['source'].get('path_in_wheel')}",
                  "library_so_sha256": manifest["source"]["so_sha256"]}

    # ---------------------------------------------------------------- (a) Solvay photo
    img_path = Path(args.image)
    bgr = load_bgr(img_path)
    h, w, _ = bgr.shape
    fd = lib.facedetect_cnn(bgr)
    od = lib.objectdetect_cnn(bgr)
    ref = net.detect(bgr)
    raw_ref, raw_lib = net.forward(bgr), lib.forward(bgr)
    solvay = {
        "what": "YuNet on the 1927 Solvay photograph: the original libfacedetection (PyPI yuface 2023.5.1) "
                "and the NumPy float64 reference (scripts/yunet_reference.py)",
        "model": model_info,
        "image": {
            "path": "data/images/" + img_path.name + " (in ../shared)",
            "file_sha256": hashlib.sha256(img_path.read_bytes()).hexdigest(),
            "decoder": f"Pillow {PIL.__version__} (libjpeg-turbo), Image.open().convert('RGB'), channels reversed to BGR; "
                       "OpenCV 5.0.0 imread gives the same bytes. The photo is greyscale stored as RGB (B = G = R).",
            "decoded_bgr_sha256": hashlib.sha256(bgr.tobytes()).hexdigest(),
            "decoded_bgr_sum": int(bgr.astype(np.int64).sum()),
            "width": w, "height": h, "resized": False,
            "network_input": f"{(w + 31) // 32 * 32}x{(h + 31) // 32 * 32} after zero padding to a multiple of 32",
        },
        "facedetect_cnn": {
            "fields": ["score_pct", "x", "y", "w", "h", "lm0x", "lm0y", "lm1x", "lm1y", "lm2x", "lm2y", "lm3x", "lm3y", "lm4x", "lm4y"],
            "note": "exactly as facedetect_cnn returns them: (short)(score*100), then C int casts of x1, y1, x2-x1, "
                    "y2-y1 and the landmarks; all faces with score >= 0.2 after NMS (IoU 0.45), in order",
            "count": len(fd),
            "count_score_ge_0_5": sum(r[0] >= 50 for r in fd),
            "faces": fd,
        },
        "objectdetect_cnn_scores": [r[0] for r in od],
        "reference": {
            "dtype": "float64",
            "note": "float detections before the int casts, score >= 0.5; box = x1, y1, x2, y2; "
                    "landmarks = (x, y) for image-left eye, image-right eye, nose tip, mouth left, mouth right",
            "faces": [{"score": s, "box": b, "landmarks": l} for s, b, l in ref if s >= 0.5],
        },
        "agreement": {
            "score_max_abs_diff_vs_objectdetect_cnn": max(abs(a[0] - b[0]) for a, b in zip(ref, od)),
            "raw_head_max_abs_diff_vs_library_layers": max(float(np.abs(raw_ref[k] - raw_lib[k]).max()) for k in raw_lib
                                                           if k[:3] in ("cls", "obj", "bbo", "kps")),
            "same_count": len(ref) == len(od),
        },
    }
    (out_dir / "yunet_original_solvay.json").write_text(json.dumps(solvay, indent=1) + "\n")
    print(f"solvay: library {len(fd)} faces (>= 0.5: {solvay['facedetect_cnn']['count_score_ge_0_5']}), "
          f"reference {len(ref)}; {solvay['agreement']}")

    # ---------------------------------------------------------------- (b) synthetic image
    bgr = synthetic_bgr()
    raw = net.forward(bgr)
    raw_lib = lib.forward(bgr)
    raw32 = Yunet(args.model_dir, np.float32).forward(bgr)
    heads = {}
    for s in STRIDES:
        mh, mw = raw[f"cls{s}"].shape[:2]
        pos = [(r, c) for r in range(mh) for c in range(mw)] if s == 32 else spread(mh, mw)
        heads[str(s)] = {
            "map_height": mh, "map_width": mw,
            "positions": [{"row": r, "col": c,
                           "cls": float(raw[f"cls{s}"][r, c, 0]), "obj": float(raw[f"obj{s}"][r, c, 0]),
                           "bbox": vals(raw[f"bbox{s}"][r, c]), "kps": vals(raw[f"kps{s}"][r, c])}
                          for r, c in pos],
        }
    layers = {}
    for name, what in (("stem", "stem pointwise 32->16 after its ReLU, stride 2"),
                       ("fb1", "backbone output at stride 8 (after model3, before the FPN add), 64 ch"),
                       ("fb3", "backbone output at stride 32 (after model5), 64 ch"),
                       ("neck8", "neck output at stride 8 (lateral conv 0 after the adds), 64 ch")):
        mh, mw = raw[name].shape[:2]
        pos = [(0, 0), (mh // 3, (2 * mw) // 3), (mh - 1, mw - 1)]
        layers[name] = {"what": what, "height": mh, "width": mw, "channels": raw[name].shape[2],
                        "positions": [{"row": r, "col": c, "values": vals(raw[name][r, c])} for r, c in pos]}
    scores, boxes, kps = net.candidates(raw)
    top = np.argsort(-scores, kind="stable")[:5]
    diffs = {k: float(np.abs(raw[k] - raw_lib[k]).max()) for k in raw_lib}
    diffs32 = {k: float(np.abs(raw[k] - raw32[k]).max()) for k in raw_lib}
    syn = {
        "what": "NumPy float64 reference of YuNet (scripts/yunet_reference.py) on a synthetic image, raw outputs "
                "before sigmoid/decoding, for the Rust engine's layer-by-layer tests",
        "model": model_info,
        "image": SYN_FORMULA,
        "image_bgr_sha256": hashlib.sha256(bgr.tobytes()).hexdigest(),
        "padded_input": {"width": (SYN_W + 31) // 32 * 32, "height": (SYN_H + 31) // 32 * 32},
        "heads": heads,
        "head_layout": "cls, obj: 1 value; bbox: dx, dy, dw, dh (centre = (col + dx)*s, (row + dy)*s; size = exp(dw)*s, "
                       "exp(dh)*s); kps: 5 x (dx, dy) -> ((col + dx)*s, (row + dy)*s)",
        "layers": layers,
        "decoded_top5_note": "the 5 best candidates before any threshold or NMS; index counts stride-8 positions "
                             "row-major, then stride 16, then stride 32; box x1, y1, x2, y2",
        "decoded_top5": [{"stride_major_index": int(i), "score": float(scores[i]), "box": vals(boxes[i]), "landmarks": vals(kps[i])}
                         for i in top],
        "library_facedetect_cnn": lib.facedetect_cnn(bgr),
        "checks": {
            "max_abs_diff_vs_original_library_per_blob": diffs,
            "max_abs_diff_float32_numpy_per_blob": diffs32,
            "suggested_tolerance": "abs 1e-4 + rel 1e-4 for an f32 engine",
        },
    }
    (out_dir / "yunet_synthetic.json").write_text(json.dumps(syn, indent=1) + "\n")
    print("synthetic: max |f64 ref - library| per blob:", json.dumps({k: f"{v:.2g}" for k, v in diffs.items()}))
    print("synthetic: top score", float(scores[top[0]]), "library faces", len(syn["library_facedetect_cnn"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
