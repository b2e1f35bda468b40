#!/usr/bin/env python3
"""NumPy reference of libfacedetection's `objectdetect_cnn` (YuNet), and a ctypes bridge to the
original library, to validate the weights in models/yunet and the Rust port against.

In:   models/yunet/yunet.json + yunet.f32 (written by scripts/convert_yunet.py); an image as
      BGR uint8 HxWx3 (any size; no resizing happens anywhere, as in the library).
Out:  as a module: `Yunet(model_dir).forward(bgr)` -> raw head maps and intermediate blobs,
      `Yunet.detect(bgr)` -> float detections; `OriginalLibrary(so_path).detect(bgr)` -> the
      wheel's own detections (facedetect_cnn ints, or objectdetect_cnn with the float score).
      As a script: runs both on images/video frames and prints how close they are.

What it reproduces (src/facedetectcnn-model.cpp + facedetectcnn.cpp, upstream commit b6634f6
and later; the wheel's build):
  * input: BGR bytes 0..255 as float, no mean/scale; the 3x3/s2/p1 stem is an im2col into 32
    channels, index (ky*3 + kx)*3 + c (27 used), over the image zero-padded on the right and
    bottom to a multiple of 32 (setDataFrom3x3S2P1to1x1S1P0FromImage).
  * conv 1x1 (pointwise, + bias) and depthwise 3x3 (zero pad 1, + bias). ReLU: after the stem
    (`convolution` defaults to do_relu=true), after the depthwise of every conv pair
    (`convolutionDP` default true; `convolution4layerUnit` runs DP(relu) then DP(relu)),
    never between a pointwise and its depthwise, never in the heads (they pass false).
  * maxpool 2x2 s2 with out = ceil((n - 3) / 2) + 1, i.e. floor(n / 2) for n >= 2 (inputs are
    always even here); nearest x2 upsample and add (FPN, stride 32 -> 16 -> 8).
  * heads (cls 1, bbox 4, obj 1, kps 10 per position) at strides 8/16/32, meshgrid offset 0;
    score = sqrt(sigmoid(cls) * sigmoid(obj)) (sigmoid input clamped to +-88.376);
    box centre = d*s + grid, size = exp(d)*s; landmark = d*s + grid.
  * detection_output: keep score >= 0.2, stable sort descending, cap at top_k = 1000, greedy
    NMS (keep if IoU <= 0.45, IoU without +1), cap at 512; FaceRect ints are C casts
    (truncation toward zero) of x1, y1, x2-x1, y2-y1 and the landmarks; facedetect_cnn
    stores (short)(score*100).

Run (venv with numpy, pillow, opencv-python-headless; the yuface wheel unpacked somewhere):
    python3 scripts/yunet_reference.py --so /tmp/yuface/x/yuface/libfacedetection.so \
        ../shared/data/images/solvay1927_scientists.jpg /tmp/classroom_wide_f60.png
"""

import argparse
import ctypes
import json
import math
import sys
from pathlib import Path

import numpy as np

STRIDES = (8, 16, 32)


# --------------------------------------------------------------------------- model


class Yunet:
    def __init__(self, model_dir="models/yunet", dtype=np.float64):
        model_dir = Path(model_dir)
        manifest = json.loads((model_dir / "yunet.json").read_text())
        flat = np.fromfile(model_dir / "yunet.f32", dtype="<f4")
        if flat.size != manifest["total_floats"]:
            raise ValueError("yunet.f32 does not match its manifest")
        self.dtype = dtype
        self.layers = []
        for l in manifest["layers"]:
            w = flat[l["weight_offset"]: l["weight_offset"] + l["weight_len"]].astype(dtype)
            b = flat[l["bias_offset"]: l["bias_offset"] + l["bias_len"]].astype(dtype)
            w = w.reshape(9, l["channels"]) if l["depthwise"] else w.reshape(l["num_filters"], l["channels"])
            self.layers.append((l, w, b))

    # ---- kernels (blobs are H x W x C arrays)

    def stem_input(self, bgr):
        """setDataFrom3x3S2P1to1x1S1P0FromImage: H/2 x W/2 x 32 (padded to a multiple of 32)."""
        h, w, _ = bgr.shape
        hp, wp = (h + 31) // 32 * 32, (w + 31) // 32 * 32
        img = np.zeros((hp + 2, wp + 2, 3), self.dtype)  # +1 zero border each side for pad 1
        img[1: h + 1, 1: w + 1] = bgr
        rows, cols = hp // 2, wp // 2
        out = np.zeros((rows, cols, 32), self.dtype)
        for ky in range(3):
            for kx in range(3):
                k = (ky * 3 + kx) * 3
                out[:, :, k: k + 3] = img[ky: ky + 2 * rows: 2, kx: kx + 2 * cols: 2]
        return out

    def conv(self, x, i, relu):
        info, w, b = self.layers[i]
        if x.shape[2] != info["channels"]:
            raise ValueError(f"layer {i}: {x.shape[2]} channels in, expects {info['channels']}")
        if info["pointwise"]:
            y = x @ w.T + b
        else:
            xp = np.pad(x, ((1, 1), (1, 1), (0, 0)))
            y = np.zeros_like(x)
            for ky in range(3):
                for kx in range(3):
                    y += xp[ky: ky + x.shape[0], kx: kx + x.shape[1]] * w[ky * 3 + kx]
            y += b
        return np.maximum(y, 0) if relu else y

    def dp(self, x, p, d, relu=True):
        return self.conv(self.conv(x, p, False), d, relu)

    def unit4(self, x, p1, d1, p2, d2):
        return self.dp(self.dp(x, p1, d1, True), p2, d2, True)

    @staticmethod
    def maxpool(x):
        r, c = (math.ceil((n - 3.0) / 2) + 1 for n in x.shape[:2])
        if r < 1 or c < 1:
            raise ValueError(f"maxpool of a {x.shape[:2]} blob")
        out = np.full((r, c, x.shape[2]), -np.inf, x.dtype)
        for dy in range(2):
            for dx in range(2):
                src = x[dy: dy + 2 * r: 2, dx: dx + 2 * c: 2]  # windows clipped at the edge
                out[: src.shape[0], : src.shape[1]] = np.maximum(out[: src.shape[0], : src.shape[1]], src)
        return out

    @staticmethod
    def up2(x):
        return x.repeat(2, axis=0).repeat(2, axis=1)

    # ---- network

    def forward(self, bgr):
        """Raw outputs: {'stem', 'fb1', 'fb2', 'fb3' (backbone), 'neck8/16/32', and per stride
        s: 'cls{s}' HxWx1, 'obj{s}' HxWx1, 'bbox{s}' HxWx4, 'kps{s}' HxWx10} before sigmoid."""
        bgr = np.asarray(bgr)
        if bgr.dtype != np.uint8 or bgr.ndim != 3 or bgr.shape[2] != 3:
            raise ValueError("expected a BGR uint8 HxWx3 image")
        o = {}
        x = o["stem"] = self.conv(self.stem_input(bgr), 0, True)
        x = self.dp(x, 1, 2)
        x = self.maxpool(x)
        x = self.unit4(x, 3, 4, 5, 6)
        x = self.unit4(x, 7, 8, 9, 10)
        x = self.maxpool(x)
        fb1 = o["fb1"] = self.unit4(x, 11, 12, 13, 14)
        fb2 = o["fb2"] = self.unit4(self.maxpool(fb1), 15, 16, 17, 18)
        fb3 = o["fb3"] = self.unit4(self.maxpool(fb2), 19, 20, 21, 22)
        n32 = o["neck32"] = self.dp(fb3, 27, 28)
        n16 = o["neck16"] = self.dp(self.up2(n32) + fb2, 25, 26)
        n8 = o["neck8"] = self.dp(self.up2(n16) + fb1, 23, 24)
        for k, (s, feat) in enumerate(zip(STRIDES, (n8, n16, n32))):
            o[f"cls{s}"] = self.dp(feat, 29 + 2 * k, 30 + 2 * k, False)
            o[f"bbox{s}"] = self.dp(feat, 35 + 2 * k, 36 + 2 * k, False)
            o[f"obj{s}"] = self.dp(feat, 41 + 2 * k, 42 + 2 * k, False)
            o[f"kps{s}"] = self.dp(feat, 47 + 2 * k, 48 + 2 * k, False)
        return o

    def candidates(self, raw):
        """All positions, in the library's order (stride 8, 16, 32; row-major): score, box
        (x1, y1, x2, y2), landmarks (x, y) * 5."""
        scores, boxes, kps = [], [], []
        for s in STRIDES:
            h, w = raw[f"cls{s}"].shape[:2]
            gx, gy = np.meshgrid(np.arange(w) * s, np.arange(h) * s)  # offset 0
            grid = np.stack([gx, gy], -1).reshape(-1, 2).astype(self.dtype)
            sig = lambda v: 1.0 / (1.0 + np.exp(-np.clip(v, -88.3762626647949, 88.3762626647949)))
            scores.append(np.sqrt(sig(raw[f"cls{s}"].reshape(-1)) * sig(raw[f"obj{s}"].reshape(-1))))
            d = raw[f"bbox{s}"].reshape(-1, 4)
            c = d[:, :2] * s + grid
            wh = np.exp(d[:, 2:]) * s
            boxes.append(np.concatenate([c - wh / 2, c + wh / 2], 1))
            kps.append((raw[f"kps{s}"].reshape(-1, 5, 2) * s + grid[:, None, :]).reshape(-1, 10))
        return np.concatenate(scores), np.concatenate(boxes), np.concatenate(kps)

    def detect(self, bgr, score_threshold=0.2, nms_iou=0.45, top_k=1000, keep_top_k=512):
        """Float detections [(score, [x1, y1, x2, y2], [10 landmark values])], as
        detection_output computes them (before the int casts). top_k=None: no cap."""
        scores, boxes, kps = self.candidates(self.forward(bgr))
        idx = np.nonzero(scores >= score_threshold)[0]
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        if top_k is not None:
            idx = idx[:top_k]
        kept = []
        for i in idx:
            if all(iou(boxes[i], boxes[j]) <= nms_iou for j in kept):
                kept.append(i)
        kept = kept[:keep_top_k]
        return [(float(scores[i]), boxes[i].tolist(), kps[i].tolist()) for i in kept]


def iou(a, b):
    """JaccardOverlap of facedetectcnn.cpp (no +1; 0 unless both overlaps are positive)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def as_face_rect(det):
    """What objectdetect_cnn's FaceRect holds for a float detection: (score, x, y, w, h, lm[10])
    with C int casts; facedetect_cnn then stores int(score * 100)."""
    score, (x1, y1, x2, y2), lm = det
    return [score, int(x1), int(y1), int(x2 - x1), int(y2 - y1)] + [int(v) for v in lm]


# --------------------------------------------------------------------------- original library


class FaceRect(ctypes.Structure):
    _fields_ = [("score", ctypes.c_float), ("x", ctypes.c_int), ("y", ctypes.c_int),
                ("w", ctypes.c_int), ("h", ctypes.c_int), ("lm", ctypes.c_int * 10)]


class OriginalLibrary:
    """The wheel's libfacedetection.so through ctypes (C++ symbols, so mangled names).

    facedetect_cnn(buffer, bgr, width, height, step) -> int count, then per face 16 shorts:
    (short)(score*100), x, y, w, h, 10 landmark values, 1 unused.
    objectdetect_cnn returns std::vector<FaceRect> by value: in the Itanium C++ ABI that is a
    hidden first argument (the vector's 3 pointers are written there); used for the float
    score. The vectors it returns are leaked (fine for a script).
    """

    def __init__(self, so_path):
        self.lib = ctypes.CDLL(str(so_path))
        self.fd = self.lib["_Z14facedetect_cnnPhS_iii"]
        self.fd.restype = ctypes.POINTER(ctypes.c_int)
        self.fd.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.od = self.lib["_Z16objectdetect_cnnPhiii"]
        self.od.restype = ctypes.c_void_p
        self.od.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.buf = ctypes.create_string_buffer(0x20000)  # the 2023 header asks for 0x20000

    def facedetect_cnn(self, bgr):
        """[[score_pct, x, y, w, h, l0x, l0y, ..., l4y]] exactly as the library returns them."""
        bgr = np.ascontiguousarray(bgr, dtype=np.uint8)
        h, w, _ = bgr.shape
        p = self.fd(self.buf, bgr.ctypes.data, w, h, w * 3)
        n = p[0]
        shorts = np.frombuffer(self.buf, dtype="<i2", count=n * 16, offset=4).reshape(n, 16)
        return shorts[:, :15].astype(int).tolist()

    def objectdetect_cnn(self, bgr):
        """[(float score, x, y, w, h, [10 ints])]"""
        bgr = np.ascontiguousarray(bgr, dtype=np.uint8)
        h, w, _ = bgr.shape
        vec = (ctypes.c_void_p * 3)()
        self.od(vec, bgr.ctypes.data, w, h, w * 3)
        if not vec[0]:
            return []
        n = (vec[1] - vec[0]) // ctypes.sizeof(FaceRect)
        rects = (FaceRect * n).from_address(vec[0])
        return [(r.score, r.x, r.y, r.w, r.h, list(r.lm)) for r in rects]

    # ---- layer by layer, with the library's own kernels

    def _fn(self, name):
        f = self.lib[name]
        f.restype = ctypes.c_void_p
        return f

    def _call(self, name, *args):
        """Call a function returning CDataBlob<float> by value (hidden sret first argument)."""
        out = CDataBlob()
        f = self._fn(name)
        f.argtypes = [ctypes.c_void_p] * (1 + len(args))
        f(ctypes.byref(out), *args)
        self._keep.append(out)
        return out

    def forward(self, bgr):
        """Same dict as Yunet.forward, computed by the library's own functions, wired as
        objectdetect_cnn wires them (float32, the library's summation order). Leaks."""
        bgr = np.ascontiguousarray(bgr, dtype=np.uint8)
        h, w, _ = bgr.shape
        self._keep = []
        self.lib["_Z15init_parametersv"]()
        g = ctypes.addressof(ctypes.c_char.in_dll(self.lib, "g_pFilters"))
        F = lambda i: ctypes.c_void_p(g + 64 * i)  # sizeof(Filters<float>) == 64
        ref = lambda b: ctypes.byref(b)
        t, f_ = ctypes.c_void_p(1), ctypes.c_void_p(0)  # bool true/false in a register

        f = self._fn("_Z36setDataFrom3x3S2P1to1x1S1P0FromImagePKhiiiii")
        f.argtypes = [ctypes.c_void_p, ctypes.c_void_p] + [ctypes.c_int] * 5
        inp = CDataBlob()
        f(ctypes.byref(inp), bgr.ctypes.data, w, h, 3, w * 3, 32)
        conv = lambda x, i, r: self._call("_Z11convolutionRK9CDataBlobIfERK7FiltersIfEb", ref(x), F(i), r)
        dp = lambda x, p, d, r=t: self._call("_Z13convolutionDPRK9CDataBlobIfERK7FiltersIfES6_b", ref(x), F(p), F(d), r)
        unit4 = lambda x, a, b, c, d: self._call(
            "_Z21convolution4layerUnitRK9CDataBlobIfERK7FiltersIfES6_S6_S6_b", ref(x), F(a), F(b), F(c), F(d), t)
        pool = lambda x: self._call("_Z15maxpooling2x2S2RK9CDataBlobIfE", ref(x))
        up = lambda x: self._call("_Z10upsampleX2RK9CDataBlobIfE", ref(x))
        add = lambda x, y: self._call("_Z10elementAddRK9CDataBlobIfES2_", ref(x), ref(y))

        o = {}
        o["stem"] = x = conv(inp, 0, t)
        x = pool(dp(x, 1, 2))
        x = unit4(unit4(x, 3, 4, 5, 6), 7, 8, 9, 10)
        o["fb1"] = fb1 = unit4(pool(x), 11, 12, 13, 14)
        o["fb2"] = fb2 = unit4(pool(fb1), 15, 16, 17, 18)
        o["fb3"] = fb3 = unit4(pool(fb2), 19, 20, 21, 22)
        o["neck32"] = n32 = dp(fb3, 27, 28)
        o["neck16"] = n16 = dp(add(up(n32), fb2), 25, 26)
        o["neck8"] = n8 = dp(add(up(n16), fb1), 23, 24)
        for k, (s, feat) in enumerate(zip(STRIDES, (n8, n16, n32))):
            o[f"cls{s}"] = dp(feat, 29 + 2 * k, 30 + 2 * k, f_)
            o[f"bbox{s}"] = dp(feat, 35 + 2 * k, 36 + 2 * k, f_)
            o[f"obj{s}"] = dp(feat, 41 + 2 * k, 42 + 2 * k, f_)
            o[f"kps{s}"] = dp(feat, 47 + 2 * k, 48 + 2 * k, f_)
        return {k: v.to_numpy() for k, v in o.items()}


class CDataBlob(ctypes.Structure):
    """CDataBlob<float>: rows, cols, channels, channelStep (bytes, padded), data."""
    _fields_ = [("rows", ctypes.c_int), ("cols", ctypes.c_int), ("channels", ctypes.c_int),
                ("channelStep", ctypes.c_int), ("data", ctypes.c_void_p)]

    def to_numpy(self):
        step = self.channelStep // 4
        buf = (ctypes.c_float * (self.rows * self.cols * step)).from_address(self.data)
        return np.ctypeslib.as_array(buf).reshape(self.rows, self.cols, step)[:, :, : self.channels].copy()


# --------------------------------------------------------------------------- comparison


def load_bgr(path):
    """Images via PIL (RGB -> BGR), so no OpenCV decoder is needed."""
    from PIL import Image
    rgb = np.asarray(Image.open(path).convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])


def compare(ref_dets, lib_rects):
    """Match the library's FaceRects to the reference's float detections in order, and
    report the differences."""
    out = {"n_reference": len(ref_dets), "n_library": len(lib_rects)}
    n = min(len(ref_dets), len(lib_rects))
    ds, int_diffs, same_order = [], [], True
    for k in range(n):
        score, x, y, w, h, lm = lib_rects[k]
        mine = as_face_rect(ref_dets[k])
        ds.append(abs(mine[0] - score))
        int_diffs.append(max(abs(a - b) for a, b in zip(mine[1:], [x, y, w, h] + lm)))
    out["max_abs_score_diff"] = max(ds) if ds else 0.0
    out["max_abs_int_field_diff"] = max(int_diffs) if int_diffs else 0
    out["rects_with_any_int_diff"] = sum(d > 0 for d in int_diffs)
    return out


def main():
    ap = argparse.ArgumentParser(description="compare the NumPy YuNet reference with the wheel's library")
    ap.add_argument("images", nargs="+")
    ap.add_argument("--model-dir", default="models/yunet")
    ap.add_argument("--so", required=True, help="the wheel's yuface/libfacedetection.so")
    args = ap.parse_args()
    lib = OriginalLibrary(args.so)
    for dtype in (np.float64, np.float32):
        net = Yunet(args.model_dir, dtype)
        for path in args.images:
            bgr = load_bgr(path)
            ref = net.detect(bgr)
            od = lib.objectdetect_cnn(bgr)
            fd = lib.facedetect_cnn(bgr)
            fd_from_od = [[int(r[0] * 100)] + list(r[1:5]) + r[5] for r in od]
            res = compare(ref, od)
            res["facedetect_cnn_equals_objectdetect_cnn"] = fd == fd_from_od
            res["library_faces_ge_0.5"] = sum(r[0] >= 0.5 for r in od)
            res["reference_faces_ge_0.5"] = sum(d[0] >= 0.5 for d in ref)
            raw_ref, raw_lib = net.forward(bgr), lib.forward(bgr)
            res["raw_max_abs_diff"] = {k: float(np.abs(raw_ref[k] - raw_lib[k]).max()) for k in raw_lib}
            print(np.dtype(dtype).name, Path(path).name, bgr.shape[1], "x", bgr.shape[0], json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
