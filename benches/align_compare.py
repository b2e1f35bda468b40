#!/usr/bin/env python3
"""Landmark alignment against the centred square crop, on real clips (issue 15).

In: the fer-batch binary (`--bin`, default target/release/fer-batch) and clips (default: the
sample videos in ../shared/data/video). For each clip it runs the default pipeline twice into a
temporary directory, once as shipped (YuNet, faces warped through their five landmarks onto
FER2013's mean layout) and once with `--set align.landmarks=false` (the same detections, each
crop the centred square with a 10% margin), and reads both faces tables.

Out (stdout, markdown): per clip
  * the share of face rows per smoothed label (`label`) under both crops, and how often the
    per-frame argmax (`raw_label`) agrees between them, with the mean |difference| of the seven
    raw probabilities;
  * the geometry the classifier sees: where the landmarks land in a 48x48 square crop (eye
    height, inter-ocular distance, eye-line roll: mean and spread) against FER2013's template,
    which the aligned crop matches by construction up to the fit's residual (also reported).
`--json OUT` writes everything. Nothing derived from pixels is written: only numbers.

Run: .venv/bin/python benches/align_compare.py [--bin B] [--clips a.mp4,b.mp4]
(needs pyarrow, which scripts/deps.sh installs into .venv).
"""

import argparse
import json
import math
import statistics as st
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
# FER2013's mean landmark layout in the 48x48 frame (src/align/mod.rs, FER2013_TEMPLATE).
TEMPLATE = [(14.83, 17.41), (32.17, 17.41), (23.5, 27.16), (16.49, 36.01), (30.51, 36.01)]
POINTS = ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"]
DEFAULT_CLIPS = ["classroom_front_848x480.mp4", "classroom_wide_1280x720.mp4", "classroom_cctv_overhead_640x352.mp4",
                 "meeting_scene_cuts_640x360.mp4", "talking_head_woman_596x336.mp4", "single_face_phone_596x336.mp4"]


def run(binary: Path, clip: Path, out: Path, extra: list) -> list:
    cmd = [str(binary), "run", str(clip), "--out", str(out), "--force", "--no-progress", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"align_compare: {' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    return pq.read_table(out).to_pylist()


def fit_similarity(src, dst):
    """Least-squares similarity src -> dst: returns (a, b, tx, ty), p -> [a -b; b a] p + t."""
    n = len(src)
    msx, msy = sum(p[0] for p in src) / n, sum(p[1] for p in src) / n
    mdx, mdy = sum(p[0] for p in dst) / n, sum(p[1] for p in dst) / n
    sxx = sab = sba = 0.0
    for (sx, sy), (dx, dy) in zip(src, dst):
        fx, fy, tx, ty = sx - msx, sy - msy, dx - mdx, dy - mdy
        sxx += fx * fx + fy * fy
        sab += fx * tx + fy * ty
        sba += fx * ty - fy * tx
    a, b = sab / sxx, sba / sxx
    return a, b, mdx - (a * msx - b * msy), mdy - (b * msx + a * msy)


def geometry(rows: list, margin: float = 0.1) -> dict:
    """Landmarks in the 48x48 square crop (pixel-centre coordinates), and the aligned fit's residual."""
    eye_y, iod, roll, resid, sums = [], [], [], [], [[0.0, 0.0] for _ in POINTS]
    for r in rows:
        pts = [(r.get(f"lm_{p}_x"), r.get(f"lm_{p}_y")) for p in POINTS]
        if any(x is None or y is None for x, y in pts):
            continue
        side = max(r["width"], r["height"]) * (1 + 2 * margin)
        x0 = r["x"] + r["width"] / 2 - side / 2
        y0 = r["y"] + r["height"] / 2 - side / 2
        crop = [((x - x0) / side * 48 - 0.5, (y - y0) / side * 48 - 0.5) for x, y in pts]
        for acc, (cx, cy) in zip(sums, crop):
            acc[0] += cx
            acc[1] += cy
        (lx, ly), (rx, ry) = crop[0], crop[1]
        eye_y.append((ly + ry) / 2)
        iod.append(math.hypot(rx - lx, ry - ly))
        roll.append(math.degrees(math.atan2(ry - ly, rx - lx)))
        a, b, tx, ty = fit_similarity(pts, TEMPLATE)
        mapped = [(a * x - b * y + tx, b * x + a * y + ty) for x, y in pts]
        resid.append(math.sqrt(sum((mx - t[0]) ** 2 + (my - t[1]) ** 2 for (mx, my), t in zip(mapped, TEMPLATE)) / 5))

    def ms(v):
        return {"mean": round(st.fmean(v), 2), "std": round(st.pstdev(v), 2)} if v else None

    t_iod = TEMPLATE[1][0] - TEMPLATE[0][0]
    n = max(1, len(eye_y))
    return {"faces": len(eye_y), "square_mean_points": [[round(a / n, 2), round(b / n, 2)] for a, b in sums],
            "square_eye_y": ms(eye_y), "square_iod": ms(iod), "square_roll_deg": ms(roll),
            "template_eye_y": TEMPLATE[0][1], "template_iod": round(t_iod, 2), "aligned_fit_rms_px": ms(resid)}


def labels(rows: list, field: str) -> dict:
    n = len(rows) or 1
    return {l: round(100 * sum(1 for r in rows if r[field] == l) / n, 1) for l in LABELS}


def compare(aligned: list, square: list) -> dict:
    key = lambda r: (r["frame_index"], round(r["x"], 1), round(r["y"], 1))
    sq = {key(r): r for r in square}
    pairs = [(a, sq[key(a)]) for a in aligned if key(a) in sq]
    agree = sum(1 for a, s in pairs if a["raw_label"] == s["raw_label"])
    dp = [abs(a[f"p_{l}"] - s[f"p_{l}"]) for a, s in pairs for l in LABELS]
    return {"matched": len(pairs), "raw_label_agreement_pct": round(100 * agree / max(1, len(pairs)), 1),
            "mean_abs_dp": round(st.fmean(dp), 4) if dp else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", type=Path, default=ROOT / "target/release/fer-batch")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/video")
    ap.add_argument("--clips", default=",".join(DEFAULT_CLIPS))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--svg", type=Path, help="draw the mean landmark positions in both 48x48 crops (no pixels)")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="align-compare-") as tmp:
        for name in [c for c in args.clips.split(",") if c]:
            clip = Path(name) if Path(name).exists() else args.data / name
            aligned = run(args.bin, clip, Path(tmp) / "aligned.parquet", [])
            square = run(args.bin, clip, Path(tmp) / "square.parquet", ["--set", "align.landmarks=false"])
            res = {"clip": clip.name, "faces": len(aligned), "labels_aligned": labels(aligned, "label"),
                   "labels_square": labels(square, "label"), **compare(aligned, square), "geometry": geometry(aligned)}
            results.append(res)
            print(f"align_compare: {clip.name}: {len(aligned)} faces", file=sys.stderr)
    print("| clip | faces | crop | " + " | ".join(LABELS) + " | raw_label agreement | mean abs dp |")
    print("|---|---:|---|" + "---:|" * len(LABELS) + "---:|---:|")
    for r in results:
        for crop in ("aligned", "square"):
            cells = " | ".join(f"{r[f'labels_{crop}'][l]:.1f}" for l in LABELS)
            extra = f"{r['raw_label_agreement_pct']:.1f}% | {r['mean_abs_dp']}" if crop == "aligned" else " | "
            print(f"| {r['clip']} | {r['faces']} | {crop} | {cells} | {extra} |")
    print()
    print("| clip | faces with landmarks | square: eye height (template 17.4) | square: inter-ocular px (template 17.3) | square: roll deg | aligned: fit RMS px |")
    print("|---|---:|---|---|---|---|")
    for r in results:
        g = r["geometry"]
        f = lambda m: f"{m['mean']} ± {m['std']}" if m else "–"
        print(f"| {r['clip']} | {g['faces']} | {f(g['square_eye_y'])} | {f(g['square_iod'])} | {f(g['square_roll_deg'])} | {f(g['aligned_fit_rms_px'])} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.svg:
        args.svg.write_text(svg(results))


def svg(results: list) -> str:
    """Two 48x48 crops side by side (drawn 5x): FER2013's template, where the aligned crop puts
    every face's landmarks, and the mean landmark positions in the square crop on each clip."""
    k, gap, colours = 5, 40, ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    w = 2 * 48 * k + gap + 60
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w + 20}" height="{48 * k + 60 + 16 * len(results)}" '
           f'font-family="sans-serif" font-size="12">']
    for i, title in enumerate(["aligned (FER2013 template)", "square crop, 10% margin (mean per clip)"]):
        x0 = 10 + i * (48 * k + gap)
        out.append(f'<rect x="{x0}" y="20" width="{48 * k}" height="{48 * k}" fill="#eee" stroke="#333"/>')
        out.append(f'<text x="{x0}" y="14">{title}</text>')
    for p in TEMPLATE:
        out.append(f'<circle cx="{10 + (p[0] + 0.5) * k}" cy="{20 + (p[1] + 0.5) * k}" r="4" fill="#000"/>')
    for j, r in enumerate(results):
        c = colours[j % len(colours)]
        for p in r["geometry"]["square_mean_points"]:
            out.append(f'<circle cx="{10 + 48 * k + gap + (p[0] + 0.5) * k}" cy="{20 + (p[1] + 0.5) * k}" r="4" fill="{c}"/>')
        out.append(f'<text x="{10 + 48 * k + gap}" y="{48 * k + 40 + 16 * j}" fill="{c}">{r["clip"]}</text>')
    for p in TEMPLATE:  # the template again, as rings, for comparison
        out.append(f'<circle cx="{10 + 48 * k + gap + (p[0] + 0.5) * k}" cy="{20 + (p[1] + 0.5) * k}" r="5" fill="none" stroke="#000"/>')
    out.append(f'<text x="10" y="{48 * k + 40}">black: where alignment puts the eyes,</text>')
    out.append(f'<text x="10" y="{48 * k + 56}">nose tip and mouth corners</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
