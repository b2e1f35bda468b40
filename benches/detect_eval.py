#!/usr/bin/env python3
"""Face-detection recall and precision of fer-batch against benches/detect-truth/truth.json.

    python3 benches/detect_eval.py                                   # yunet and seetaface, release binary
    python3 benches/detect_eval.py --bin target/debug/fer-batch --detectors seetaface
    python3 benches/detect_eval.py --json target/bench/detect-eval.json -- --min-score 1.5

For every frame of the ground truth (benches/detect-truth/README.md) the frame is decoded with
the ffmpeg CLI into a temporary PNG (photos are used as they are), and all frames go to one
`fer-batch classify IMAGE... --json --detector NAME` call per detector. Arguments after `--` are
passed to classify as they are. Unless they set it, `--min-face 16` is added: the truth labels
every face whose box is at least 16 px (sqrt(w*h)) and smaller faces are "ignore" regions, and
classify's own default (20 px) would make the smallest bucket unreachable.

If classify does not know `--detector` (binaries before the YuNet work only have SeetaFace), it
is run once without the flag and the row is labelled "seetaface"; other detectors are reported as
unavailable.

Matching, per frame: detections in order of decreasing detector_score; each one takes the
unmatched truth face with the highest IoU if that IoU is >= --iou (default 0.5): a true positive.
A detection that matches no face but overlaps an "ignore" region (IoU >= --iou, or at least half
of the detection's area inside it) counts neither way, and so does an unmatched detection
smaller than the truth's floor (sqrt(w*h) < 16 px: faces that small are not all labelled;
--count-small-fp counts them). Everything else is a false positive (including a second
detection of an already matched face). Precision = TP / (TP + FP); FP/frame over all frames of
the row. Recall is per size bucket of the truth face, by sqrt(w*h) of its box: <24 (16-24 in
practice), 24-48 and >48 px. "recall@0.3" and "precision@0.3" repeat the matching at IoU 0.3: a
large gap to the IoU 0.5 numbers means the detector finds the faces but draws its boxes in
another style than the truth (WIDER FACE: hairline to chin), see the box-style line under each
table, or places small boxes loosely.

Python 3 standard library only; needs ffmpeg on PATH.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRUTH = ROOT / "benches" / "detect-truth" / "truth.json"
DEFAULT_DATA = ROOT.parent / "shared" / "data"
BUCKETS = ["<24", "24-48", ">48"]


def bucket(b) -> str:
    s = math.sqrt(b[2] * b[3])
    return "<24" if s < 24 else ("24-48" if s <= 48 else ">48")


def iou(a, b) -> float:
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def inside(det, region) -> float:
    """Share of the detection's area that lies inside the region."""
    iw = max(0.0, min(det[0] + det[2], region[0] + region[2]) - max(det[0], region[0]))
    ih = max(0.0, min(det[1] + det[3], region[1] + region[3]) - max(det[1], region[1]))
    area = det[2] * det[3]
    return iw * ih / area if area > 0 else 0.0


# ---------------------------------------------------------------- frames


def extract_frames(truth, data: Path, out: Path) -> dict[str, Path]:
    """key -> image file. One ffmpeg call per video (select the wanted 0-based frame numbers)."""
    paths: dict[str, Path] = {}
    by_video = defaultdict(list)
    for f in truth["frames"]:
        src = data / f["source"]
        if f["frame"] is None:
            if not src.exists():
                sys.exit(f"detect_eval: {src} not found (use --data)")
            paths[f["key"]] = src
        else:
            by_video[f["source"]].append(f)
    for source, frames in by_video.items():
        src = data / source
        if not src.exists():
            sys.exit(f"detect_eval: {src} not found (use --data)")
        frames = sorted(frames, key=lambda f: f["frame"])
        stem = Path(source).stem
        expr = "+".join(f"eq(n\\,{f['frame']})" for f in frames)
        pattern = out / f"{stem}_%03d.png"
        subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(src), "-vf", f"select={expr}", "-vsync", "0",
                        "-frames:v", str(len(frames)), str(pattern)], check=True)
        for i, f in enumerate(frames, 1):
            p = out / f"{stem}_{i:03d}.png"
            if not p.exists():
                sys.exit(f"detect_eval: ffmpeg gave no frame {f['frame']} of {source}")
            final = out / f"{stem}_{f['frame']:05d}.png"
            p.rename(final)
            paths[f["key"]] = final
    return paths


# ---------------------------------------------------------------- running fer-batch


class FlagUnknown(Exception):
    pass


def run_classify(binary: str, images: list[Path], detector: str | None, extra: list[str], chunk: int):
    """All detections as {image path string: [(box, score)]}, and the wall time."""
    dets: dict[str, list] = defaultdict(list)
    wall = 0.0
    for i in range(0, len(images), chunk):
        part = images[i:i + chunk]
        cmd = [binary, "classify", *map(str, part), "--json"]
        if detector is not None:
            cmd += ["--detector", detector]
        cmd += extra
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True)
        wall += time.monotonic() - t0
        if p.returncode != 0 and detector is not None and "--detector" in p.stderr and (
                "unexpected argument" in p.stderr or "unrecognized" in p.stderr or "Found argument" in p.stderr):
            raise FlagUnknown(p.stderr.strip())
        start = p.stdout.find("[")
        if start < 0:
            sys.exit(f"detect_eval: {' '.join(cmd[:2])} ... failed (exit {p.returncode}):\n{p.stderr.strip()}")
        try:
            rows = json.loads(p.stdout[start:])
        except json.JSONDecodeError as e:
            sys.exit(f"detect_eval: cannot parse classify's JSON ({e}); exit {p.returncode}; stderr:\n{p.stderr.strip()}")
        if p.returncode != 0:
            print(f"detect_eval: warning: classify exited {p.returncode}: {p.stderr.strip()[:500]}", file=sys.stderr)
        for r in rows:
            b = r["box"]
            dets[r["image"]].append(([float(b["x"]), float(b["y"]), float(b["width"]), float(b["height"])],
                                     float(r.get("detector_score", 0.0))))
    return dets, wall


# ---------------------------------------------------------------- matching


def match_frame(frame, dets, thr: float, min_face: float = 0.0):
    """Greedy by score. Returns the truth faces, per-truth matched flags and per-detection outcomes.

    An unmatched detection smaller than min_face (sqrt(w*h)) is "ignored": the truth only labels
    faces from that size, smaller ones are not all marked."""
    faces = [b for b in frame["boxes"] if b["status"] == "face"]
    ignores = [b["box"] for b in frame["boxes"] if b["status"] != "face"]
    taken = [False] * len(faces)
    outcome = []
    for box, score in sorted(dets, key=lambda d: -d[1]):
        best, best_iou = -1, thr
        for j, t in enumerate(faces):
            if taken[j]:
                continue
            o = iou(box, t["box"])
            if o >= best_iou:
                best, best_iou = j, o
        if best >= 0:
            taken[best] = True
            outcome.append({"box": box, "score": score, "result": "tp", "truth": best, "iou": round(best_iou, 3)})
        elif any(iou(box, r) >= thr or inside(box, r) >= 0.5 for r in ignores):
            outcome.append({"box": box, "score": score, "result": "ignored"})
        elif math.sqrt(max(box[2], 0.0) * max(box[3], 0.0)) < min_face:
            outcome.append({"box": box, "score": score, "result": "small"})
        else:
            outcome.append({"box": box, "score": score, "result": "fp"})
    return faces, taken, outcome


def evaluate(truth, images: dict[str, Path], dets: dict[str, list], thr: float, min_face: float):
    per_frame = []
    for f in truth["frames"]:
        d = dets.get(str(images[f["key"]]), [])
        faces, taken, outcome = match_frame(f, d, thr, min_face)
        _, taken_lo, outcome_lo = match_frame(f, d, 0.3, min_face)
        per_frame.append({"key": f["key"], "source": Path(f["source"]).stem, "faces": faces, "found": taken,
                          "found_iou03": taken_lo, "fp_iou03": sum(o["result"] == "fp" for o in outcome_lo),
                          "detections": outcome})
    return per_frame


def summarize(rows) -> dict:
    s = {"frames": len(rows), "faces": 0, "tp": 0, "tp_iou03": 0, "fp": 0, "fp_iou03": 0, "ignored": 0, "small": 0,
         "detections": 0}
    for b in BUCKETS:
        s[f"faces {b}"] = 0
        s[f"tp {b}"] = 0
    for r in rows:
        for t, hit, hit_lo in zip(r["faces"], r["found"], r["found_iou03"]):
            b = bucket(t["box"])
            s["faces"] += 1
            s[f"faces {b}"] += 1
            s["tp"] += hit
            s[f"tp {b}"] += hit
            s["tp_iou03"] += hit_lo
        s["fp_iou03"] += r["fp_iou03"]
        for d in r["detections"]:
            s["detections"] += 1
            s["fp"] += d["result"] == "fp"
            s["ignored"] += d["result"] == "ignored"
            s["small"] += d["result"] == "small"
    s["recall"] = s["tp"] / s["faces"] if s["faces"] else None
    s["recall_iou03"] = s["tp_iou03"] / s["faces"] if s["faces"] else None
    for b in BUCKETS:
        s[f"recall {b}"] = s[f"tp {b}"] / s[f"faces {b}"] if s[f"faces {b}"] else None
    counted = s["tp"] + s["fp"]
    s["precision"] = s["tp"] / counted if counted else None
    counted = s["tp_iou03"] + s["fp_iou03"]
    s["precision_iou03"] = s["tp_iou03"] / counted if counted else None
    s["fp_per_frame"] = s["fp"] / s["frames"] if s["frames"] else None
    return s


def box_style(rows, truth_frames) -> dict | None:
    """Median detection/truth size ratio and centre offset over pairs matched at IoU >= 0.3."""
    by_key = {f["key"]: f for f in truth_frames}
    sw, sh, dx, dy = [], [], [], []
    for r in rows:
        faces = [b for b in by_key[r["key"]]["boxes"] if b["status"] == "face"]
        dets = [(d["box"], d["score"]) for d in r["detections"]]
        _, _, outcome = match_frame({"boxes": faces}, dets, 0.3)
        for d in outcome:
            if d["result"] != "tp":
                continue
            t, b = faces[d["truth"]]["box"], d["box"]
            sw.append(b[2] / t[2])
            sh.append(b[3] / t[3])
            dx.append((b[0] + b[2] / 2 - t[0] - t[2] / 2) / t[2])
            dy.append((b[1] + b[3] / 2 - t[1] - t[3] / 2) / t[3])
    if not sw:
        return None
    med = statistics.median
    return {"pairs": len(sw), "width_ratio": round(med(sw), 3), "height_ratio": round(med(sh), 3),
            "centre_dx": round(med(dx), 3), "centre_dy": round(med(dy), 3)}


def pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def table(name: str, cmdline: str, rows, style) -> str:
    sources = []
    for r in rows:
        if r["source"] not in sources:
            sources.append(r["source"])
    lines = [f"### {name}", "", f"`{cmdline}`", "",
             "| source | frames | faces (<24/24-48/>48) | recall <24 | recall 24-48 | recall >48 | recall | detections | FP | precision | FP/frame | recall@0.3 | precision@0.3 |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for src in sources + ["**all**"]:
        sel = rows if src == "**all**" else [r for r in rows if r["source"] == src]
        s = summarize(sel)
        faces = f"{s['faces']} ({s['faces <24']}/{s['faces 24-48']}/{s['faces >48']})"
        lines.append(f"| {src} | {s['frames']} | {faces} | {pct(s['recall <24'])} | {pct(s['recall 24-48'])} | "
                     f"{pct(s['recall >48'])} | **{pct(s['recall'])}** | {s['detections']} | {s['fp']} | "
                     f"**{pct(s['precision'])}** | {s['fp_per_frame']:.2f} | {pct(s['recall_iou03'])} | "
                     f"{pct(s['precision_iou03'])} |")
    if style:
        lines += ["", f"Box style against the truth (median over {style['pairs']} pairs at IoU >= 0.3): width × "
                      f"{style['width_ratio']}, height × {style['height_ratio']}, centre shift "
                      f"{style['centre_dx']:+.3f} w, {style['centre_dy']:+.3f} h."]
    return "\n".join(lines)


def main():
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        k = argv.index("--")
        argv, extra = argv[:k], argv[k + 1:]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 usage="%(prog)s [options] [-- extra fer-batch classify flags]")
    ap.add_argument("--bin", default=str(ROOT / "target" / "release" / "fer-batch"), help="fer-batch binary (default target/release/fer-batch)")
    ap.add_argument("--detectors", default="yunet,seetaface", help="comma-separated --detector names (default yunet,seetaface)")
    ap.add_argument("--truth", type=Path, default=TRUTH)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("FER_DATA_ROOT", DEFAULT_DATA)),
                    help="the shared data folder the truth's paths are relative to (default ../shared/data)")
    ap.add_argument("--iou", type=float, default=0.5, help="IoU for a true positive (default 0.5)")
    ap.add_argument("--chunk", type=int, default=64, help="images per classify call (default 64)")
    ap.add_argument("--count-small-fp", action="store_true",
                    help="count unmatched detections under the truth's 16 px floor as false positives (default: ignored)")
    ap.add_argument("--json", type=Path, help="also write everything (settings, per-frame matches, metrics) here")
    ap.add_argument("--keep-frames", type=Path, help="decode frames into this folder and keep them (pixels of the shared data: keep it under /tmp)")
    a = ap.parse_args(argv)

    binary = a.bin
    if not (Path(binary).exists() or shutil.which(binary)):
        sys.exit(f"detect_eval: {binary} not found (build it, or pass --bin)")
    truth = json.loads(a.truth.read_text())
    if not any(x == "--min-face" or x.startswith("--min-face=") for x in extra):
        extra = ["--min-face", "16", *extra]

    tmp = None
    if a.keep_frames:
        frames_dir = a.keep_frames
        frames_dir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.mkdtemp(prefix="detect-eval-")
        frames_dir = Path(tmp)
    try:
        images = extract_frames(truth, a.data, frames_dir)
        order = [images[f["key"]] for f in truth["frames"]]
        results, notes = {}, []
        flag_known = True
        for name in [d.strip() for d in a.detectors.split(",") if d.strip()]:
            if not flag_known:
                if name != "seetaface":
                    notes.append(f"{name}: not run (this fer-batch has no --detector)")
                continue
            try:
                dets, wall = run_classify(binary, order, name, extra, a.chunk)
                label, cmd_flags = name, ["--detector", name]
            except FlagUnknown:
                flag_known = False
                if "seetaface" in results:
                    continue
                print("detect_eval: classify has no --detector: running it without (SeetaFace)", file=sys.stderr)
                dets, wall = run_classify(binary, order, None, extra, a.chunk)
                label, cmd_flags = "seetaface", []
                if name != "seetaface":
                    notes.append(f"{name}: not run (this fer-batch has no --detector)")
            rows = evaluate(truth, images, dets, a.iou, 0.0 if a.count_small_fp else float(truth.get("min_face", 16)))
            results[label] = {"rows": rows, "wall_s": wall,
                              "cmdline": " ".join(["fer-batch", "classify", "IMAGE...", "--json", *cmd_flags, *extra])}
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    out = [f"## Face detection against benches/detect-truth ({len(truth['frames'])} frames, IoU >= {a.iou})", ""]
    summary = {}
    for label, r in results.items():
        style = box_style(r["rows"], truth["frames"])
        out += [table(label, r["cmdline"], r["rows"], style), "",
                f"classify wall time for all frames (detection, alignment and expressions): {r['wall_s']:.1f} s", ""]
        summary[label] = {"overall": summarize(r["rows"]), "box_style": style, "wall_s": round(r["wall_s"], 2),
                          "cmdline": r["cmdline"],
                          "per_source": {src: summarize([x for x in r["rows"] if x["source"] == src])
                                         for src in dict.fromkeys(x["source"] for x in r["rows"])}}
    out += [f"- {n}" for n in notes]
    print("\n".join(out).rstrip())
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        doc = {"truth": str(a.truth), "binary": binary, "iou": a.iou, "extra_flags": extra, "notes": notes,
               "summary": summary,
               "frames": {label: [{"key": x["key"], "faces": [t["box"] for t in x["faces"]], "found": x["found"],
                                   "found_iou03": x["found_iou03"], "detections": x["detections"]} for x in r["rows"]]
                          for label, r in results.items()}}
        a.json.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"\nwrote {a.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
