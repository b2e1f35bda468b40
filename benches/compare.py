#!/usr/bin/env python3
"""fer-batch against the Python `fer` package and FFmpeg's decode-only floor (issue #7).

Runs, interleaved and on the same clips: fer-batch in up to three configurations, the PyPI
`fer` package (OpenCV Haar detector + its TFLite model; when installed with --setup-fer), and
`ffmpeg -f null` (decode only). Prints a markdown table and writes every run, the medians and
the machine description to target/bench/results-<date>.json (and .md).

    python3 benches/compare.py --setup-fer                 # once: .bench-venv/ with fer 25.10.3
    python3 benches/compare.py --build --repeat 3          # the full benchmark (quiet machine!)
    python3 benches/compare.py --bin target/debug/fer-batch --seconds 3 --repeat 1   # smoke test

Python 3 standard library only (the fer side runs in its own venv; the detect-every-k accuracy
check uses the project's .venv with pyarrow when it exists). Numbers only mean something on an
idle machine: the load average is recorded and a warning printed when it is above 0.5.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ROOT / "benches"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "video"
CLIP_CACHE = ROOT / "target" / "bench-clips"
RESULTS = ROOT / "target" / "bench"
DEFAULT_CLIPS = [
    "talking_head_woman_596x336",
    "classroom_front_848x480",
    "classroom_wide_1280x720",
    "classroom_wide_1920x1080",  # made from classroom_wide_1280x720 with the ffmpeg CLI
]
FER_VERSION = "25.10.3"
VENVS = {"haar": ROOT / ".bench-venv", "mtcnn": ROOT / ".bench-venv-mtcnn"}
REQUIREMENTS = {"haar": BENCHES / "fer-requirements.txt", "mtcnn": BENCHES / "fer-mtcnn-requirements.txt"}
EXTRA_NO_DEPS = {"haar": [f"fer=={FER_VERSION}"], "mtcnn": [f"fer=={FER_VERSION}", "facenet-pytorch==2.6.0"]}
# fer 25.10.3's FER.__init__ default (Haar minSize), used when fer's source cannot be read.
FER_MIN_FACE_FALLBACK = 50
LOAD_LIMIT = 0.5
# Share of the CPUs other processes may use before the start for the run to count as idle.
BUSY_LIMIT = 0.10
STAGES = [("decode", "decode_s"), ("detect", "detect_s"), ("align", "align_s"),
          ("infer", "classify_s"), ("track", "track_s"), ("write", "write_s")]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat, or None where it does not exist."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    return sum(v) - idle, sum(v)


def busy_fraction(seconds: float = 3.0) -> float | None:
    """Share of all CPUs that other processes keep busy, sampled over `seconds` before the
    benchmark starts (the load average lags: it still counts work that just ended)."""
    a = cpu_ticks()
    time.sleep(seconds)
    b = cpu_ticks()
    if a is None or b is None or b[1] == a[1]:
        return None
    return (b[0] - a[0]) / (b[1] - a[1])


def warn_load(when: str) -> float:
    load1 = os.getloadavg()[0]
    if load1 > LOAD_LIMIT:
        bar = "!" * 78
        log(f"{bar}\n!! load average {load1:.2f} {when} (> {LOAD_LIMIT}): the machine is busy; these are NOT\n"
            f"!! idle-machine numbers. Stop other work (training, builds) for a real measurement.\n{bar}")
    return load1


# ---------------------------------------------------------------------------------------------
# Measuring one process: wall time and peak RSS without any dependency (os.wait4 rusage).

def measure(cmd: list[str], env: dict | None = None, timeout: float | None = None) -> dict:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
        timer = threading.Timer(timeout, proc.kill) if timeout else None
        if timer:
            timer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        finally:
            if timer:
                timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {
            "cmd": cmd,
            "rc": proc.returncode,
            "wall_s": wall,
            "user_s": ru.ru_utime,
            "sys_s": ru.ru_stime,
            "peak_rss_mb": ru.ru_maxrss / 1024.0,  # Linux: KiB
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace"),
        }


def run_quiet(cmd: list[str], **kw) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


# ---------------------------------------------------------------------------------------------
# Machine and versions.

def machine_info() -> dict:
    model = None
    try:
        for line in run_quiet(["lscpu"]).splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    mem_kib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    os_name = None
    try:
        os_name = re.search(r'PRETTY_NAME="([^"]*)"', Path("/etc/os-release").read_text()).group(1)
    except (OSError, AttributeError):
        pass
    return {
        "cpu_model": model,
        "nproc": len(os.sched_getaffinity(0)),
        "ram_gib": round(mem_kib / 1024 / 1024, 1) if mem_kib else None,
        "kernel": platform.release(),
        "os": os_name,
        "gpu": False,
    }


def first_line(cmd: list[str]) -> str | None:
    try:
        return run_quiet(cmd).strip().splitlines()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return None


# ---------------------------------------------------------------------------------------------
# The fer venv.

def venv_python(detector: str) -> Path:
    return VENVS[detector] / "bin" / "python"


def setup_fer(detector: str) -> None:
    venv = VENVS[detector]
    req = REQUIREMENTS[detector]
    log(f"setup: creating {venv.relative_to(ROOT)} with fer {FER_VERSION} ({detector}) from {req.relative_to(ROOT)}")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["-r", str(req)], check=True)
    # fer declares opencv-contrib-python (GUI build: needs X11/GL) and, for every user,
    # tensorflow + facenet-pytorch (torch); its own dependencies are pinned in the file above.
    subprocess.run(pip + ["--no-deps"] + EXTRA_NO_DEPS[detector], check=True)
    check = [str(venv / "bin" / "python"), str(BENCHES / "fer_runner.py"), "--check"]
    if detector == "mtcnn":
        check.append("--mtcnn")
    res = subprocess.run(check, capture_output=True, text=True)
    if res.returncode != 0:
        log(res.stderr)
        sys.exit(f"setup: fer does not run in {venv}")
    log(f"setup: ok {res.stdout.strip()}")


def fer_defaults(detector: str = "haar") -> dict:
    """FER.__init__ keyword defaults, read from the installed fer source (no import)."""
    found = sorted(VENVS[detector].glob("lib/python*/site-packages/fer/fer.py"))
    if not found:
        return {}
    tree = ast.parse(found[0].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "FER":
            for fn in node.body:
                if isinstance(fn, ast.FunctionDef) and fn.name == "__init__":
                    a = fn.args
                    names = [x.arg for x in a.args][-len(a.defaults):] if a.defaults else []
                    out = {}
                    for name, default in zip(names, a.defaults):
                        try:
                            out[name] = ast.literal_eval(default)
                        except ValueError:
                            pass
                    out["source"] = str(found[0].relative_to(ROOT))
                    return out
    return {}


def fer_versions(detector: str) -> dict | None:
    py = venv_python(detector)
    if not py.exists():
        return None
    code = ("import importlib.metadata as m, json\n"
            "def v(d):\n"
            "    try: return m.version(d)\n"
            "    except m.PackageNotFoundError: return None\n"
            "print(json.dumps({d: v(d) for d in ['fer', 'tensorflow-cpu', 'opencv-python-headless', 'numpy',"
            " 'facenet-pytorch', 'torch']}))")
    try:
        vs = json.loads(run_quiet([str(py), "-c", code]))
    except (OSError, subprocess.CalledProcessError, json.JSONDecodeError):
        return None
    return {k: v for k, v in vs.items() if v}


# ---------------------------------------------------------------------------------------------
# Clips.

def ffmpeg_encode(src: Path, dst: Path, extra: list[str]) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.stem + ".part" + dst.suffix)
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-map", "0:v:0", *extra,
           "-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p", "-an", str(tmp)]
    log(f"clips: {' '.join(cmd)}")
    subprocess.run(cmd, check=True)
    tmp.replace(dst)


def resolve_clip(name: str, data: Path, seconds: float | None) -> Path:
    p = Path(name)
    if p.suffix and p.exists():
        src = p.resolve()
    else:
        stem = p.name.removesuffix(".mp4")
        src = data / f"{stem}.mp4"
        if not src.exists():
            # NAME_WxH that is not in the data directory: scale a clip NAME_*.mp4 to W×H.
            m = re.fullmatch(r"(.+)_(\d+)x(\d+)", stem)
            bases = sorted(data.glob(f"{m.group(1)}_*x*.mp4")) if m else []
            if not bases:
                sys.exit(f"clips: {name}: no {src} and nothing to scale it from")
            src = CLIP_CACHE / f"{stem}.mp4"
            if not src.exists():
                w, h = m.group(2), m.group(3)
                ffmpeg_encode(bases[0], src, ["-vf", f"scale={w}:{h}:flags=lanczos"])
    if seconds:
        cut = CLIP_CACHE / f"{src.stem}.first{seconds:g}s.mp4"
        if not cut.exists():
            ffmpeg_encode(src, cut, ["-t", f"{seconds:g}"])
        src = cut
    return src


def probe(path: Path) -> dict:
    out = json.loads(run_quiet(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                                "-show_entries", "stream=codec_name,width,height,avg_frame_rate,nb_read_frames",
                                "-show_entries", "format=duration", "-of", "json", str(path)]))
    s = out["streams"][0]
    num, _, den = s.get("avg_frame_rate", "0/1").partition("/")
    return {
        "codec": s.get("codec_name"),
        "width": s.get("width"),
        "height": s.get("height"),
        "fps": float(num) / float(den) if float(den or 0) else None,
        "frames": int(s["nb_read_frames"]),
        "duration_s": float(out["format"]["duration"]),
    }


# ---------------------------------------------------------------------------------------------
# The three tools.

SEETA = "-seeta"


def mode_args(mode: str, args) -> list[str]:
    if mode.endswith(SEETA):  # the same configuration with the earlier detector
        return mode_args(mode[: -len(SEETA)], args) + ["--detector", "seetaface"]
    if mode == "every":
        return ["--sample-fps", "0"]
    if mode == "detect-k":
        return ["--sample-fps", "0", "--detect-every", str(args.detect_every)]
    if mode == "sampled":
        return ["--sample-fps", f"{args.sample_fps:g}"]
    if mode == "sampled-k":
        return ["--sample-fps", f"{args.sample_fps:g}", "--detect-every", str(args.detect_every)]
    raise ValueError(mode)


def mode_label(mode: str, args) -> str:
    if mode.endswith(SEETA):
        return mode_label(mode[: -len(SEETA)], args) + ", SeetaFace detector"
    return {
        "every": "every frame, detect every frame",
        "detect-k": f"every frame, detect every {args.detect_every}th",
        "sampled": f"{args.sample_fps:g} fps sampling",
        "sampled-k": f"{args.sample_fps:g} fps sampling, detect every {args.detect_every}th sampled frame",
    }[mode]


def run_fer_batch(binary: Path, clip: Path, mode: str, min_face: float, args, keep: Path) -> dict:
    keep.mkdir(parents=True, exist_ok=True)
    out, report = keep / "faces.parquet", keep / "report.json"
    for f in keep.glob("*"):
        f.unlink()
    cmd = [str(binary), "run", str(clip), "--out", str(out), "--report", str(report), "--force",
           "--no-progress", "--min-face", f"{min_face:g}", *mode_args(mode, args), *args.fb_arg]
    r = measure(cmd, timeout=args.timeout)
    res = {"tool": "fer-batch", "mode": mode, "rc": r["rc"], "wall_s": r["wall_s"],
           "cpu_s": r["user_s"] + r["sys_s"], "peak_rss_mb": r["peak_rss_mb"], "cmd": cmd}
    if r["rc"] != 0 or not report.exists():
        res["error"] = (r["stderr"] or r["stdout"]).strip()[-2000:]
        return res
    rep = json.loads(report.read_text())
    v = rep["inputs"][0]
    if v.get("status") != "ok":
        res["error"] = json.dumps(v)[:2000]
        return res
    v = v["report"]
    res.update({
        "frames": v["frames_processed"],
        "source_frames": v["frames_decoded"],
        "frames_detected": v["frames_detected"],
        "faces": v["faces"],
        "persons": v["persons"],
        "video_s": v["seconds"],
        "stages_s": {name: v["stages"][key] for name, key in STAGES},
        "output": str(out),
    })
    return res


def run_fer(detector: str, clip: Path, args) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [str(venv_python(detector)), str(BENCHES / "fer_runner.py"), str(clip)]
    if detector == "mtcnn":
        cmd.append("--mtcnn")
    r = measure(cmd, env=env, timeout=args.timeout)
    res = {"tool": "fer", "mode": detector, "rc": r["rc"], "wall_s": r["wall_s"],
           "cpu_s": r["user_s"] + r["sys_s"], "peak_rss_mb": r["peak_rss_mb"], "cmd": cmd}
    try:
        out = json.loads(r["stdout"].strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        out = {}
    if r["rc"] != 0 or "frames" not in out:
        res["error"] = (r["stderr"] or r["stdout"]).strip()[-2000:]
        return res
    res.update({
        "frames": out["frames"],
        "source_frames": out["frames"],
        "faces": out["faces"],
        "frames_with_faces": out["frames_with_faces"],
        "video_s": out["loop_s"],
        "startup_s": out["import_s"] + out["init_s"],
    })
    return res


def run_ffmpeg(clip: Path, frames: int, args) -> dict:
    cmd = ["ffmpeg", "-v", "error", "-threads", str(args.ffmpeg_threads), "-i", str(clip),
           "-map", "0:v:0", "-an", "-sn", "-f", "null", "-"]
    r = measure(cmd, timeout=args.timeout)
    res = {"tool": "ffmpeg", "mode": "decode-only", "rc": r["rc"], "wall_s": r["wall_s"],
           "cpu_s": r["user_s"] + r["sys_s"], "peak_rss_mb": r["peak_rss_mb"], "cmd": cmd,
           "frames": frames, "source_frames": frames, "video_s": r["wall_s"]}
    if r["rc"] != 0:
        res["error"] = r["stderr"].strip()[-2000:]
    return res


def compare_outputs(ref: str, cand: str) -> dict | None:
    py = ROOT / ".venv" / "bin" / "python"
    if not py.exists():
        return None
    try:
        return json.loads(run_quiet([str(py), str(BENCHES / "match_faces.py"), ref, cand]))
    except (OSError, subprocess.CalledProcessError, json.JSONDecodeError) as e:
        log(f"accuracy: comparison failed: {e}")
        return None


# ---------------------------------------------------------------------------------------------
# Summary.

def med(runs: list[dict], key: str):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def summarise(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    s = {"runs": len(runs), "failed": len(runs) - len(ok)}
    if not ok:
        s["error"] = runs[0].get("error") if runs else "no runs"
        return s
    for k in ("frames", "source_frames", "faces", "wall_s", "video_s", "cpu_s", "startup_s"):
        v = med(ok, k)
        if v is not None:
            s[k] = v
    s["peak_rss_mb"] = max(r["peak_rss_mb"] for r in ok)
    s["fps"] = statistics.median(r["frames"] / r["video_s"] for r in ok if r["video_s"])
    s["fps_process"] = statistics.median(r["frames"] / r["wall_s"] for r in ok)
    s["source_fps"] = statistics.median(r["source_frames"] / r["video_s"] for r in ok if r["video_s"])
    s["wall_s_min"] = min(r["wall_s"] for r in ok)
    s["wall_s_max"] = max(r["wall_s"] for r in ok)
    if ok[0].get("stages_s"):
        s["stages_s"] = {name: statistics.median(r["stages_s"][name] for r in ok) for name, _ in STAGES}
    return s


def fmt(v, nd=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def markdown(result: dict) -> str:
    m = result["machine"]
    args = argparse.Namespace(**result["settings"])
    lines = [
        f"Date {result['date']}; {m['cpu_model']}, {m['nproc']} CPUs, {m['ram_gib']} GiB RAM, {m['os']}; "
        f"load average at start {result['load_start']:.2f}, at end {result['load_end']:.2f} (includes the runs)"
        + (f"; other processes busy {100 * result['busy_start']:.0f}% before the start" if result.get("busy_start") is not None else "")
        + (f", {result['other_cpu_s']:.1f} CPU s of other work during the runs" if result.get("other_cpu_s") is not None else "")
        + ("" if result["idle"] else " — **NOT an idle machine**"),
        (f"{result['versions']['fer_batch']} ({result['binary']}), --min-face {result['min_face']:g}; "
         if result["versions"].get("fer_batch") else "")
        + f"fer {(result['versions'].get('fer') or result['versions'].get('fer_mtcnn') or {}).get('fer', '–')}; "
        f"{result['versions'].get('ffmpeg')}; "
        f"repeat {args.repeat} (medians)" + (f"; clips cut to their first {args.seconds:g} s" if args.seconds else ""),
        "",
        "| clip | tool, configuration | frames | faces | frames/s | frames/s incl. startup | × fer | wall s | CPU s | peak RSS MB | % of decode floor | stage split s: decode / detect / align / infer / track / write |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in result["clips"]:
        rows = c["results"]
        fer = next((r for k, r in rows.items() if k.startswith("fer ") and "fps" in r), None)
        floor = rows.get("ffmpeg decode-only", {}).get("fps")
        for key, r in rows.items():
            if "error" in r:
                lines.append(f"| {c['name']} | {key} | failed: {r['error'][:80]!r} | | | | | | | | | |")
                continue
            ratio = r["fps"] / fer["fps"] if fer and key.startswith("fer-batch") else None
            pct = 100 * r["source_fps"] / floor if floor and key.startswith("fer-batch") else None
            st = r.get("stages_s")
            split = " / ".join(fmt(st[n], 2) for n, _ in STAGES) if st else ""
            lines.append(
                f"| {c['name']} | {key} | {r['frames']} | {fmt(r.get('faces'))} | {fmt(r['fps'])} | "
                f"{fmt(r['fps_process'])} | {fmt(ratio)}{'×' if ratio else ''} | {fmt(r['wall_s'], 2)} | {fmt(r.get('cpu_s'))} | "
                f"{fmt(r['peak_rss_mb'], 0)} | {fmt(pct, 0)}{'%' if pct else ''} | {split} |")
    for field, what in (("accuracy", f"Detect every {args.detect_every}th frame against detection on every frame"),
                        ("accuracy_sampled_k", f"At {args.sample_fps:g} fps sampling, detect every {args.detect_every}th sampled "
                                               "frame against detection on every sampled frame")):
        acc = [(c["name"], c[field]) for c in result["clips"] if c.get(field)]
        if not acc:
            continue
        lines += [
            "",
            f"{what} (same binary, same clip; faces matched per frame at IoU ≥ 0.5):",
            "",
            "| clip | faces (reference / every-k) | recall | precision | mean IoU | label agreement | raw-label agreement | mean abs Δp |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, a in acc:
            pc = lambda v: fmt(100 * v if v is not None else None) + ("%" if v is not None else "")  # noqa: E731
            lines.append(f"| {name} | {a['reference_faces']} / {a['candidate_faces']} | {pc(a['recall'])} | "
                         f"{pc(a['precision'])} | {fmt(a['mean_iou'], 2)} | {pc(a['label_agreement'])} | "
                         f"{pc(a['raw_label_agreement'])} | {fmt(a['mean_abs_prob_diff'], 3)} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setup-fer", action="store_true",
                    help=f"create .bench-venv/ with fer {FER_VERSION} (pinned, headless) and exit")
    ap.add_argument("--mtcnn", action="store_true",
                    help="with --setup-fer: create .bench-venv-mtcnn/ instead (facenet-pytorch, torch; several GB)")
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "fer-batch", help="fer-batch binary")
    ap.add_argument("--build", action="store_true", help="cargo build (--release for the default binary) if --bin is missing")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="directory of the source clips")
    ap.add_argument("--clips", default=",".join(DEFAULT_CLIPS),
                    help="comma-separated clip names (in --data, without .mp4) or paths; NAME_WxH not in --data is "
                         "made by scaling NAME_*.mp4 with ffmpeg into target/bench-clips/")
    ap.add_argument("--seconds", type=float, default=None, help="cut every clip to its first N seconds (quick runs)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repetitions (medians are reported)")
    ap.add_argument("--tools", default="fer-batch,fer,ffmpeg", help="subset of fer-batch,fer,ffmpeg")
    ap.add_argument("--modes", default="every,detect-k,sampled",
                    help="fer-batch configurations: every (detect every frame), detect-k (--detect-every K), "
                         "any of them with the suffix -seeta (the SeetaFace detector, e.g. every-seeta), "
                         "sampled-k (--sample-fps F --detect-every K; add it explicitly), "
                         "sampled (--sample-fps F)")
    ap.add_argument("--detect-every", type=int, default=5, help="K of the detect-k mode")
    ap.add_argument("--sample-fps", type=float, default=5.0, help="F of the sampled mode")
    ap.add_argument("--min-face", type=float, default=None,
                    help="fer-batch --min-face (default: fer's Haar min_face_size, read from its source)")
    ap.add_argument("--fer-detectors", default="haar", help="haar and/or mtcnn (mtcnn needs --setup-fer --mtcnn)")
    ap.add_argument("--ffmpeg-threads", type=int, default=len(os.sched_getaffinity(0)), help="ffmpeg -threads")
    ap.add_argument("--fb-arg", action="append", default=[], help="extra argument for fer-batch run (repeatable)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per run before it is killed")
    ap.add_argument("--json", type=Path, default=None, help="results file (default target/bench/results-<date>.json)")
    ap.add_argument("--render", type=Path, default=None, help="print the markdown table of an existing results JSON and exit")
    args = ap.parse_args()

    if args.render:
        print(markdown(json.loads(args.render.read_text())))
        return 0
    if args.setup_fer:
        setup_fer("mtcnn" if args.mtcnn else "haar")
        return 0

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        mode_args(m, args)
    detectors = [d.strip() for d in args.fer_detectors.split(",") if d.strip()]
    if "fer" in tools:
        missing = [d for d in detectors if not venv_python(d).exists()]
        for d in missing:
            log(f"fer: {VENVS[d].relative_to(ROOT)} is missing; skipping fer ({d}). "
                f"Install it with: python3 benches/compare.py --setup-fer{' --mtcnn' if d == 'mtcnn' else ''}")
        detectors = [d for d in detectors if d not in missing]
    binary = args.bin if args.bin.is_absolute() else (Path.cwd() / args.bin)
    if "fer-batch" in tools and not binary.exists():
        if not args.build:
            sys.exit(f"{binary} is missing: build it (cargo build --release) or pass --build")
        release = "release" in binary.parts
        subprocess.run(["cargo", "build", "--bin", "fer-batch"] + (["--release"] if release else []), cwd=ROOT, check=True)
    if not args.data.is_dir():
        sys.exit(f"no clip directory {args.data}")

    load_start = os.getloadavg()[0]
    busy_start = busy_fraction()
    if busy_start is None:
        warn_load("at start")
    elif busy_start > BUSY_LIMIT:
        bar = "!" * 78
        log(f"{bar}\n!! other processes keep {100 * busy_start:.0f}% of the CPUs busy (> {100 * BUSY_LIMIT:.0f}%): these are NOT\n"
            f"!! idle-machine numbers. Stop other work (training, builds) for a real measurement.\n{bar}")
    else:
        log(f"bench: other processes kept {100 * busy_start:.0f}% of the CPUs busy over 3 s before the start")
    ticks_start = cpu_ticks()
    defaults = fer_defaults("haar")
    min_face = args.min_face or defaults.get("min_face_size") or FER_MIN_FACE_FALLBACK
    now = dt.datetime.now(dt.timezone.utc)
    versions = {
        "fer_batch": first_line([str(binary), "--version"]) if "fer-batch" in tools else None,
        "ffmpeg": " ".join((first_line(["ffmpeg", "-version"]) or "").split()[:3]).replace(" version", "") or None,
        "python": sys.version.split()[0],
    }
    for d in detectors:
        versions["fer" if d == "haar" else "fer_mtcnn"] = fer_versions(d)
    clips = []
    for name in [c.strip() for c in args.clips.split(",") if c.strip()]:
        path = resolve_clip(name, args.data, args.seconds)
        clips.append({"name": name, "path": str(path), **probe(path)})
    log(f"bench: {len(clips)} clips, tools {tools}, fer-batch modes {modes}, fer {detectors}, "
        f"min-face {min_face:g} (fer defaults {defaults or 'unknown'}), repeat {args.repeat}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=RESULTS))
    runs = []
    try:
        for rep in range(args.repeat):
            for ci, clip in enumerate(clips):
                path = Path(clip["path"])
                seq = []
                for tool in tools:
                    if tool == "fer-batch":
                        seq += [("fer-batch", m) for m in modes]
                    elif tool == "fer":
                        seq += [("fer", d) for d in detectors]
                    elif tool == "ffmpeg":
                        seq.append(("ffmpeg", "decode-only"))
                    else:
                        sys.exit(f"unknown tool {tool}")
                for tool, mode in seq:
                    if tool == "fer-batch":
                        r = run_fer_batch(binary, path, mode, min_face, args, work / f"c{ci}-{mode}")
                        key = f"fer-batch {mode_label(mode, args)}"
                    elif tool == "fer":
                        r = run_fer(mode, path, args)
                        key = f"fer {mode}"
                    else:
                        r = run_ffmpeg(path, clip["frames"], args)
                        key = "ffmpeg decode-only"
                    r.update({"clip": clip["name"], "repeat": rep, "key": key})
                    runs.append(r)
                    status = r.get("error", "")[:200] or (
                        f"{r['frames']} frames, {r.get('faces', '–')} faces, {r['wall_s']:.2f} s wall, "
                        f"{r['frames'] / r['video_s']:.1f} frames/s, {r['peak_rss_mb']:.0f} MB")
                    log(f"[{rep + 1}/{args.repeat}] {clip['name']}: {key}: {status}")
        for ci, clip in enumerate(clips):
            keys = list(dict.fromkeys(r["key"] for r in runs if r["clip"] == clip["name"]))
            clip["results"] = {k: summarise([r for r in runs if r["clip"] == clip["name"] and r["key"] == k]) for k in keys}
            # Each detect-every-k mode against the same frames with detection on each of them.
            for field, ref, cand in (("accuracy", "every", "detect-k"), ("accuracy_sampled_k", "sampled", "sampled-k")):
                a, b = work / f"c{ci}-{ref}" / "faces.parquet", work / f"c{ci}-{cand}" / "faces.parquet"
                if a.exists() and b.exists():
                    clip[field] = compare_outputs(str(a), str(b))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for r in runs:
        r.pop("output", None)

    # The 1-minute load average at the end includes the benchmark's own processes; what matters
    # is how much CPU everything else used meanwhile: all busy CPU time minus our runs' rusage.
    load_end = os.getloadavg()[0]
    ticks_end = cpu_ticks()
    other_cpu_s = None
    if ticks_start and ticks_end:
        busy_s = (ticks_end[0] - ticks_start[0]) / os.sysconf("SC_CLK_TCK")
        other_cpu_s = max(0.0, busy_s - sum(r.get("cpu_s") or 0.0 for r in runs))
        log(f"bench: other processes (and this harness) used {other_cpu_s:.1f} CPU s during the runs")
    result = {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "load_start": load_start,
        "load_end": load_end,
        "busy_start": busy_start,
        "other_cpu_s": other_cpu_s,
        "idle": busy_start <= BUSY_LIMIT if busy_start is not None else load_start <= LOAD_LIMIT,
        "versions": versions,
        "binary": str(binary.relative_to(ROOT)) if binary.is_relative_to(ROOT) else str(binary),
        "min_face": min_face,
        "fer_defaults": defaults,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "clips": clips,
        "runs": runs,
    }
    md = markdown(result)
    print(md)
    out = args.json or RESULTS / f"results-{now.strftime('%Y-%m-%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(md)
    log(f"bench: wrote {out} and {out.with_suffix('.md')}")
    failed = [r for r in runs if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    # `kill PID` cleans up like Ctrl-C does (the temporary outputs under target/bench/).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
