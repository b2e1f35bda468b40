#!/usr/bin/env python3
"""Tracking benchmark (issue #17): how many person ids each clip gets, and how long they last.

Runs `fer-batch run` on the sample clips once per tracker (`--set track.method=…`, default both
`byte` and `greedy`, side by side), reads the faces and persons tables back and prints, per clip
and tracker:

- ids: distinct `person_id`s (= rows of the persons table);
- median and mean track duration in seconds (`last_timestamp_s - first_timestamp_s` of each
  person: a person seen on one frame lasts 0 s);
- the share of face rows that belong to persons tracked for longer than 2 s;
- face rows written (the byte tracker leaves out faces of tracks too short to be persons);
- against the hand-made reference in benches/track-truth/truth.json: true people and ids per
  true person (target ≤ 1.3 on classroom_front; 1 id for single-person clips), and the scene
  cuts found against those visible;
- the tracker's CPU time and its share of the run's stage split (`stages.track_s` of the run
  report over the sum of all stages).

    python3 benches/track_eval.py                                  # release binary, all clips
    python3 benches/track_eval.py --bin target/debug/fer-batch --clips talking_head_woman_596x336
    python3 benches/track_eval.py --detector seetaface --json target/track-eval/seeta.json

Reading Parquet needs pyarrow: the script re-runs itself with the project's .venv/bin/python when
the system python3 lacks it. Scene cuts are read from the tracker's debug log
(FER_LOG=fer_batch::track=debug). Nothing derived from the pixels is written anywhere: the tables
go to a temporary folder (or --keep DIR) and the summary to --json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "video"
TRUTH = ROOT / "benches" / "track-truth" / "truth.json"
DEFAULT_CLIPS = [
    "classroom_front_848x480",
    "talking_head_woman_596x336",
    "single_face_phone_596x336",
    "classroom_wide_1280x720",
    "classroom_cctv_overhead_640x352",
    "stadium_crowd_1280x720",
    "meeting_scene_cuts_640x360",
]
STAGES = ["decode_s", "detect_s", "align_s", "classify_s", "track_s", "write_s"]
LONG_TRACK_S = 2.0
CUT_LOG = re.compile(r"scene cut.*?timestamp_s=([0-9.]+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def ensure_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        venv = ROOT / ".venv" / "bin" / "python"
        if venv.exists() and not os.environ.get("TRACK_EVAL_IN_VENV"):
            os.environ["TRACK_EVAL_IN_VENV"] = "1"
            os.execv(str(venv), [str(venv), __file__, *sys.argv[1:]])
        sys.exit("track_eval: needs pyarrow (bash scripts/setup.sh makes .venv with it)")


def read_table(path: Path, columns: list[str]) -> dict[str, list]:
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=columns)
    return {c: t.column(c).to_pylist() for c in columns}


def run_clip(binary: Path, clip: Path, method: str, args, out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    out, report = out_dir / "faces.parquet", out_dir / "report.json"
    for f in out_dir.glob("*"):
        f.unlink()
    cmd = [str(binary), "run", str(clip), "--out", str(out), "--report", str(report), "--force", "--no-progress",
           "--set", f"track.method={method}"]
    if args.pipeline:
        cmd += ["--pipeline", args.pipeline]
    if args.detector:
        cmd += ["--detector", args.detector]
    if args.sample_fps is not None:
        cmd += ["--sample-fps", f"{args.sample_fps:g}"]
    for s in args.set:
        cmd += ["--set", s]
    if method == "greedy":
        cmd += [s for kv in args.greedy_set for s in ("--set", kv)]
    env = dict(os.environ, FER_LOG="warn,fer_batch::track=debug")
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.monotonic() - t0
    res = {"clip": clip.stem, "method": method, "cmd": cmd, "rc": r.returncode, "wall_s": round(wall, 2)}
    if r.returncode != 0 or not report.exists():
        res["error"] = (r.stderr or r.stdout).strip()[-2000:]
        return res
    v = json.loads(report.read_text())["inputs"][0]
    if v.get("status") != "ok":
        res["error"] = json.dumps(v)[:2000]
        return res
    rep = v["report"]
    faces = read_table(out, ["person_id", "timestamp_s"])
    persons = read_table(out.with_suffix(".persons.parquet"), ["person_id", "first_timestamp_s", "last_timestamp_s", "frames"])
    spans = [b - a for a, b in zip(persons["first_timestamp_s"], persons["last_timestamp_s"])]
    rows = len(faces["person_id"])
    long_rows = sum(n for n, s in zip(persons["frames"], spans) if s > LONG_TRACK_S)
    stages = rep["stages"]
    stage_total = sum(stages[k] for k in STAGES)
    res.update({
        "frames": rep["frames_processed"],
        "faces_rows": rows,
        "ids": len(set(faces["person_id"])),
        "persons_rows": len(persons["person_id"]),
        "median_track_s": round(statistics.median(spans), 2) if spans else 0.0,
        "mean_track_s": round(statistics.mean(spans), 2) if spans else 0.0,
        "share_rows_long": round(long_rows / rows, 3) if rows else 0.0,
        "track_cpu_s": round(stages["track_s"], 3),
        "track_share": round(stages["track_s"] / stage_total, 4) if stage_total else 0.0,
        "stage_total_s": round(stage_total, 2),
        "scene_cuts_s": [float(m) for m in CUT_LOG.findall(ANSI.sub("", r.stderr))],
    })
    return res


def cut_events(times: list[float], merge_s: float = 1.5) -> list[float]:
    """Cuts closer than `merge_s` (one transition found on several frames) count once."""
    events: list[float] = []
    for t in sorted(times):
        if not events or t - events[-1][-1] > merge_s:
            events.append([t])
        else:
            events[-1].append(t)
    return [e[0] for e in events]


def matched_cuts(found: list[float], truth: list[dict], tol_s: float = 1.0) -> int:
    return sum(any(c["start_s"] - tol_s <= f <= c["end_s"] + tol_s for f in found) for c in truth)


def table(results: list[dict], truth: dict) -> str:
    head = ("| clip | tracker | ids | true people | ids / true person | median track (s) | mean track (s) "
            "| rows in tracks > 2 s | face rows | scene cuts found / visible | track CPU s (share) |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['clip']} | {r['method']} | failed: {r['error'][:80]} |")
            continue
        t = truth.get(r["clip"], {})
        people = t.get("people")
        ratio = f"{r['ids'] / people:.2f}" if people else "–"
        cuts = "–"
        if "scene_cuts" in t:
            ev = cut_events(r["scene_cuts_s"])
            cuts = f"{matched_cuts(ev, t['scene_cuts'])} / {len(t['scene_cuts'])} (+{len(ev) - matched_cuts(ev, t['scene_cuts'])} other)"
        elif r["scene_cuts_s"]:
            cuts = f"{len(cut_events(r['scene_cuts_s']))} (none visible)"
        lines.append(
            f"| {r['clip']} | {r['method']} | {r['ids']} | {people if people else '–'} | {ratio} | {r['median_track_s']:.2f} "
            f"| {r['mean_track_s']:.2f} | {100 * r['share_rows_long']:.0f}% | {r['faces_rows']} | {cuts} "
            f"| {r['track_cpu_s']:.3f} ({100 * r['track_share']:.1f}%) |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "fer-batch", help="fer-batch binary")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the sample clips")
    ap.add_argument("--clips", default=",".join(DEFAULT_CLIPS), help="comma-separated clip stems")
    ap.add_argument("--methods", default="byte,greedy", help="trackers to compare (track.method values)")
    ap.add_argument("--pipeline", help="pipeline preset or TOML (default: classroom)")
    ap.add_argument("--detector", choices=["yunet", "seetaface"], help="face detector (default: the preset's)")
    ap.add_argument("--sample-fps", type=float, help="override the preset's sampling rate")
    ap.add_argument("--set", action="append", default=[], help="extra --set KEY=VALUE for every run")
    ap.add_argument("--greedy-set", action="append", default=[], help="extra --set KEY=VALUE for the greedy runs only")
    ap.add_argument("--truth", type=Path, default=TRUTH, help="hand-made reference (JSON)")
    ap.add_argument("--keep", type=Path, help="keep the tables here instead of a temporary folder")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    ensure_pyarrow()
    if not args.bin.exists():
        sys.exit(f"track_eval: no binary {args.bin} (cargo build --release, or pass --bin)")
    truth = json.loads(args.truth.read_text())["clips"] if args.truth.exists() else {}
    results = []
    with tempfile.TemporaryDirectory(prefix="track-eval-") as tmp:
        base = args.keep or Path(tmp)
        for stem in [c for c in args.clips.split(",") if c]:
            clip = args.data / f"{stem}.mp4"
            if not clip.exists():
                print(f"track_eval: skipping {stem}: no {clip}", file=sys.stderr)
                continue
            for method in [m for m in args.methods.split(",") if m]:
                r = run_clip(args.bin, clip, method, args, base / f"{stem}-{method}")
                print(f"track_eval: {stem} {method}: " + (r.get("error", "")[:200] or f"{r['ids']} ids, {r['faces_rows']} rows, {r['wall_s']} s"), file=sys.stderr)
                results.append(r)
    print(table(results, truth))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"results": results, "args": {k: str(v) for k, v in vars(args).items()}}, indent=1))


if __name__ == "__main__":
    main()
