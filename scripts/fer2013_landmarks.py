#!/usr/bin/env python3
"""Where YuNet puts the 5 landmarks on FER2013 faces: the reference points for face alignment.

In:   ../shared/data/fer2013/fer2013.csv.gz (Kaggle CSV: emotion, pixels, Usage; 48x48 grey);
      models/yunet/yunet.{json,f32}; optionally the wheel's libfacedetection.so (--so) to
      cross-check every top detection against the original library.
Out:  models/yunet/fer2013-landmark-template.json: detection rate and the mean / median / std
      of each landmark, the inter-ocular distance, the eye-line angle and the mean box, all in
      the 48x48 FER2013 frame (numbers only).

Per image (the first --rows Training rows): grey -> 3 equal channels; upscale 4x to 192x192
(cv2.resize INTER_LINEAR); pad 32 px on each side (256x256) so the whole face is inside the
frame, with two paddings measured: grey 128 (the template) and edge replication; run the
NumPy reference (scripts/yunet_reference.py, float32, validated against the library) and keep
the top detection if its score >= 0.5. Points go back to the 48x48 frame in pixel-index
coordinates (pixel i has its centre at i, as cv2.warpAffine and the detector's outputs use
them): x48 = (x256 - 32 + 0.5) / 4 - 0.5.

Run:
    python3 scripts/fer2013_landmarks.py --rows 3000 \
        --so /tmp/yuface/x/yuface/libfacedetection.so --so-rows 500
"""

import argparse
import csv
import gzip
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from yunet_reference import OriginalLibrary, Yunet, as_face_rect  # noqa: E402

UP, PAD = 4, 32
POINTS = ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"]  # image-left / image-right


def to_48(v):
    return (np.asarray(v, float) - PAD + 0.5) / UP - 0.5


def prepare(grey48, pad_mode):
    big = cv2.resize(grey48, (48 * UP, 48 * UP), interpolation=cv2.INTER_LINEAR)
    if pad_mode == "grey128":
        big = cv2.copyMakeBorder(big, PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=128)
    else:
        big = cv2.copyMakeBorder(big, PAD, PAD, PAD, PAD, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(np.repeat(big[:, :, None], 3, axis=2))


def summarise(dets, n_images):
    """dets: list of (score, box[4], lm[10]) in the 48x48 frame."""
    if not dets:
        return {"images": n_images, "detected": 0}
    scores = np.array([d[0] for d in dets])
    boxes = np.array([d[1] for d in dets])
    lms = np.array([d[2] for d in dets]).reshape(-1, 5, 2)
    eye_vec = lms[:, 1] - lms[:, 0]
    iod = np.hypot(eye_vec[:, 0], eye_vec[:, 1])
    angles = np.degrees(np.arctan2(eye_vec[:, 1], eye_vec[:, 0]))
    mean_pts = lms.mean(0)
    mv = mean_pts[1] - mean_pts[0]
    r = lambda a: [round(float(v), 4) for v in np.asarray(a).reshape(-1)]
    return {
        "images": n_images,
        "detected": len(dets),
        "detection_rate": round(len(dets) / n_images, 4),
        "score_mean": round(float(scores.mean()), 4),
        "points": {name: {"mean": r(lms[:, k].mean(0)), "median": r(np.median(lms[:, k], 0)),
                          "std": r(lms[:, k].std(0))} for k, name in enumerate(POINTS)},
        "template_mean_xy": [r(p) for p in mean_pts],
        "template_median_xy": [r(p) for p in np.median(lms, 0)],
        "inter_ocular_distance": {"mean": round(float(iod.mean()), 4), "median": round(float(np.median(iod)), 4),
                                  "std": round(float(iod.std()), 4),
                                  "of_mean_points": round(float(np.hypot(*mv)), 4)},
        "eye_line_angle_deg": {"mean": round(float(angles.mean()), 4), "median": round(float(np.median(angles)), 4),
                               "std": round(float(angles.std()), 4),
                               "of_mean_points": round(math.degrees(math.atan2(mv[1], mv[0])), 4),
                               "convention": "atan2(right_eye.y - left_eye.y, right_eye.x - left_eye.x), y down"},
        "box_mean_x1y1x2y2": r(boxes.mean(0)),
        "box_median_x1y1x2y2": r(np.median(boxes, 0)),
        "box_mean_wh": r((boxes[:, 2:] - boxes[:, :2]).mean(0)),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", default="../shared/data/fer2013/fer2013.csv.gz")
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--model-dir", default="models/yunet")
    ap.add_argument("--so", help="cross-check with the wheel's libfacedetection.so")
    ap.add_argument("--so-rows", type=int, default=500, help="how many images to cross-check (the library is slow)")
    ap.add_argument("--out", default="models/yunet/fer2013-landmark-template.json")
    args = ap.parse_args()

    net = Yunet(args.model_dir, np.float32)
    lib = OriginalLibrary(args.so) if args.so else None
    greys = []
    with gzip.open(args.csv, "rt", newline="") as f:
        for row in csv.DictReader(f):
            if row["Usage"] == "Training":
                greys.append(np.array(row["pixels"].split(), np.uint8).reshape(48, 48))
                if len(greys) == args.rows:
                    break

    results, t0 = {}, time.time()
    for pad_mode in ("grey128", "edge"):
        dets, multi, lib_agree, lib_checked = [], 0, 0, 0
        for i, g in enumerate(greys):
            img = prepare(g, pad_mode)
            found = net.detect(img, score_threshold=0.5)
            if lib is not None and i < args.so_rows:
                lib_checked += 1
                lib_top = [r for r in lib.objectdetect_cnn(img) if r[0] >= 0.5]
                mine = [as_face_rect(d)[1:] for d in found]
                theirs = [list(r[1:5]) + r[5] for r in lib_top]
                lib_agree += len(mine) == len(theirs) and all(
                    max(abs(a - b) for a, b in zip(m, t)) <= 1 for m, t in zip(mine, theirs))
            if not found:
                continue
            multi += len(found) > 1
            score, box, lm = found[0]
            dets.append((score, to_48(box), to_48(lm)))
        s = summarise(dets, len(greys))
        s["images_with_more_than_one_face_ge_0_5"] = multi
        if lib is not None:
            s["original_library_agrees_on"] = f"{lib_agree}/{lib_checked} images (same faces >= 0.5, ints within 1)"
        results[pad_mode] = s
        print(pad_mode, json.dumps({k: s.get(k) for k in ("detected", "detection_rate", "template_mean_xy",
                                                          "inter_ocular_distance", "eye_line_angle_deg",
                                                          "box_mean_x1y1x2y2", "original_library_agrees_on")}))
    out = {
        "what": "YuNet (models/yunet) landmarks on FER2013 faces, in the 48x48 frame: reference points for alignment",
        "data": f"first {len(greys)} Training rows of fer2013.csv.gz (row order of the original CSV)",
        "procedure": "grey -> 3 channels; 4x bilinear upscale (cv2 INTER_LINEAR) to 192x192; 32 px border "
                     "(grey 128 for 'template', edge replication measured too) -> 256x256; NumPy reference "
                     "(float32) at score >= 0.2 + NMS 0.45, top detection kept if score >= 0.5",
        "coordinates": "pixel-index convention in the 48x48 frame (pixel centre at integer coordinates, as "
                       "cv2.warpAffine); x48 = (x256 - 32 + 0.5)/4 - 0.5; to use continuous coordinates "
                       "(pixel i spans [i, i+1)) add 0.5",
        "points_order": POINTS,
        "template": results["grey128"]["template_mean_xy"],
        "by_padding": results,
        "seconds": round(time.time() - t0, 1),
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
