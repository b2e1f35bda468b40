#!/usr/bin/env python3
"""Compares two fer-batch face tables of the same video frame by frame; prints JSON.

    python match_faces.py REFERENCE.parquet CANDIDATE.parquet

Used by benches/compare.py (with the project's `.venv`, which has pyarrow) to measure what
`--detect-every K` costs against detection on every frame: both runs must have analysed the
same frames (every frame), so a frame missing from a table had no faces in that run.
Faces are matched greedily per frame by IoU (>= 0.5, best pairs first).
Reports recall (reference faces found), precision (candidate faces that match a reference
face), mean IoU of matched pairs, agreement of the smoothed `label` and the raw argmax
`raw_label`, and the mean absolute difference of the 7 raw probabilities.
"""

import json
import sys
from collections import defaultdict

import pyarrow.parquet as pq

CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
IOU_MIN = 0.5


def load(path):
    cols = ["frame_index", "x", "y", "width", "height", "label", "raw_label"] + [f"p_{c}" for c in CLASSES]
    t = pq.read_table(path, columns=cols).to_pydict()
    frames = defaultdict(list)
    for i in range(len(t["frame_index"])):
        frames[t["frame_index"][i]].append(
            {
                "box": (t["x"][i], t["y"][i], t["width"][i], t["height"][i]),
                "label": t["label"][i],
                "raw_label": t["raw_label"][i],
                "p": [t[f"p_{c}"][i] for c in CLASSES],
            }
        )
    return frames


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ref, cand = load(sys.argv[1]), load(sys.argv[2])
    n_ref = sum(len(v) for v in ref.values())
    n_cand = sum(len(v) for v in cand.values())
    matched = label_same = raw_same = 0
    iou_sum = dp_sum = 0.0
    for frame in set(ref) | set(cand):
        r, c = ref.get(frame, []), cand.get(frame, [])
        pairs = sorted(
            ((iou(a["box"], b["box"]), i, j) for i, a in enumerate(r) for j, b in enumerate(c)),
            reverse=True,
        )
        used_r, used_c = set(), set()
        for v, i, j in pairs:
            if v < IOU_MIN:
                break
            if i in used_r or j in used_c:
                continue
            used_r.add(i)
            used_c.add(j)
            matched += 1
            iou_sum += v
            label_same += r[i]["label"] == c[j]["label"]
            raw_same += r[i]["raw_label"] == c[j]["raw_label"]
            dp_sum += sum(abs(x - y) for x, y in zip(r[i]["p"], c[j]["p"])) / len(CLASSES)
    out = {
        "reference_faces": n_ref,
        "candidate_faces": n_cand,
        "matched": matched,
        "recall": matched / n_ref if n_ref else None,
        "precision": matched / n_cand if n_cand else None,
        "mean_iou": iou_sum / matched if matched else None,
        "label_agreement": label_same / matched if matched else None,
        "raw_label_agreement": raw_same / matched if matched else None,
        "mean_abs_prob_diff": dp_sum / matched if matched else None,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
