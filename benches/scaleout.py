#!/usr/bin/env python3
"""Scale-out benchmark (issue 19): the same clips as 1, 2 and 4 Slurm array tasks against one
plain `fer-batch run`, on this machine.

    python3 benches/scaleout.py                        # release binary, every clip of ../shared/data/video
    python3 benches/scaleout.py --repeat 3             # medians of 3 (interleaved: plain, 1, 2, 4, plain, ...)
    python3 benches/scaleout.py --bin target/debug/fer-batch --flags "--untrained --sample-fps 1"   # smoke test

A private single-node Slurm cluster (tests/cluster/slurm-start.sh; root, 127.0.0.1 only) runs
deploy/slurm/fer-batch-array.sbatch with `--array=0-(N-1)` and `--cpus-per-task=max(1, CPUs/N)`,
so that Slurm runs at most CPUs/1 tasks at once, as it would on a node of this size. Each run
writes a fresh dataset. Reported per configuration:
  - wall: submission (`sbatch`) to the end of the last task, and the plain run's wall time;
  - overhead: wall / plain wall - 1 (target <= 5%);
  - per task: its seconds (the process's own wall time, measured by a wrapper) and its bytes
    (the shard's videos as `--dry-run` lists them), and the balance: max/mean of each;
  - sched: wall minus the longest chain of task times Slurm could not avoid (scheduling and
    start-up latency).
Output: a markdown table on stdout and everything in target/bench/scaleout-<date>.json. It
warns when other processes keep the CPUs busy (the numbers are then not an idle machine's).
"""

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_busy_share(seconds=3.0):
    """Share of all CPU time that was busy over `seconds` (from /proc/stat)."""
    def snap():
        v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return sum(v), v[3] + v[4]
    t0, i0 = snap()
    time.sleep(seconds)
    t1, i1 = snap()
    return 1 - (i1 - i0) / max(1, t1 - t0)


def write_manifest(path, clips):
    lines = ["# path,camera,start_utc"]
    for i, c in enumerate(clips):
        lines.append(f"{c},cam-{i % 4:02d},2026-12-0{1 + i % 2}T22:00:00Z")
    path.write_text("\n".join(lines) + "\n")


def dry_run(bin_, manifest, out, n, i, flags):
    r = subprocess.run([bin_, "run", "--manifest", str(manifest), "--out", f"{out}/", "--shard-count", str(n),
                        "--shard-index", str(i), "--dry-run", "-q", *flags], capture_output=True, text=True, check=True)
    return [line.split("\t", 1)[1] for line in r.stdout.splitlines() if "\t" in line]


def run_plain(bin_, manifest, out, flags):
    t = time.monotonic()
    # a trailing slash selects the dataset form (pathlib drops it)
    r = subprocess.run([bin_, "run", "--manifest", str(manifest), "--out", f"{out}/", "-q", *flags],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - t
    if r.returncode != 0:
        sys.exit(f"plain run failed ({r.returncode}): {r.stderr[-2000:]}")
    return wall


def run_array(work, env, bin_, manifest, out, n, cpus, flags):
    """An N-task array: (wall from submission to the end of the last task, [task seconds by index])."""
    times = work / f"times-{n}-{time.monotonic_ns()}"
    times.mkdir()
    wrapper = work / "fer-batch-timed"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"s=$(date +%s.%N); \"{bin_}\" \"$@\"; rc=$?; e=$(date +%s.%N)\n"
        "echo \"$s $e $rc\" > \"$TIMES/$SLURM_ARRAY_TASK_ID\"; exit $rc\n")
    wrapper.chmod(0o755)
    cpt = max(1, cpus // n)
    cmd = ["sbatch", "--parsable", f"--array=0-{n - 1}", f"--cpus-per-task={cpt}", "--mem-per-cpu=1G",
           f"--output={work}/logs/%A_%a.out", str(ROOT / "deploy/slurm/fer-batch-array.sbatch"),
           str(manifest), f"{out}/", str(n), "-q", *flags]
    submitted = time.time()
    r = subprocess.run(cmd, env={**env, "FER_BATCH_BIN": str(wrapper), "TIMES": str(times)},
                       capture_output=True, text=True, cwd=work)
    if r.returncode != 0:
        sys.exit(f"sbatch failed ({r.returncode}): {r.stderr[-2000:]}")
    job = r.stdout.strip().split(";")[0]
    # poll the queue (sbatch --wait sleeps in growing steps and would add up to ~30 s)
    while subprocess.run(["squeue", "-h", "-j", job, "-o", "%i"], env=env, capture_output=True, text=True).stdout.strip():
        time.sleep(0.1)
    task, ends = [], []
    for i in range(n):
        s, e, rc = (times / str(i)).read_text().split()
        if rc != "0":
            sys.exit(f"array of {n}: task {i} exited {rc}; logs in {work}/logs")
        task.append(float(e) - float(s))
        ends.append(float(e))
    return max(ends) - submitted, task


def longest_chain(task_seconds, concurrent):
    """Makespan of the tasks in index order on `concurrent` slots (what Slurm does)."""
    slots = [0.0] * concurrent
    for t in task_seconds:
        i = slots.index(min(slots))
        slots[i] += t
    return max(slots)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "target/release/fer-batch"))
    ap.add_argument("--videos", default=str(ROOT.parent / "shared/data/video"))
    ap.add_argument("--counts", default="1,2,4")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--flags", default="", help="extra `fer-batch run` flags, e.g. \"--sample-fps 5\"")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (the private Slurm cluster runs as root)")
    bin_ = str(Path(args.bin).resolve())
    clips = sorted(str(p.resolve()) for p in Path(args.videos).glob("*.mp4"))
    if not clips:
        sys.exit(f"no clips in {args.videos}")
    counts = [int(c) for c in args.counts.split(",")]
    flags = args.flags.split()
    cpus = os.cpu_count() or 1

    busy = cpu_busy_share()
    if busy > 0.10:
        print(f"WARNING: other processes keep {busy:.0%} of the CPUs busy: NOT an idle machine", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="fer-scaleout."))
    work.chmod(0o755)  # munged (user munge) must reach the cluster's directory inside
    (work / "logs").mkdir()
    env = {**os.environ, "SLURM_LOCAL_PREFIX": str(work / "slurm")}
    manifest = work / "manifest.csv"
    write_manifest(manifest, clips)
    results = {"plain": [], **{n: [] for n in counts}}
    shards = {}
    try:
        subprocess.run(["bash", str(ROOT / "tests/cluster/slurm-start.sh")], env=env, check=True, stdout=subprocess.DEVNULL)
        env["SLURM_CONF"] = str(work / "slurm/etc/slurm.conf")
        for n in counts:
            shards[n] = [dry_run(bin_, manifest, work / "probe", n, i, flags) for i in range(n)]
        for rep in range(args.repeat):
            out = work / f"plain-{rep}"
            wall = run_plain(bin_, manifest, out, flags)
            results["plain"].append({"wall": wall})
            print(f"rep {rep + 1}: plain {wall:.1f} s", file=sys.stderr)
            shutil.rmtree(out)
            for n in counts:
                out = work / f"array{n}-{rep}"
                wall, task = run_array(work, env, bin_, manifest, out, n, cpus, flags)
                results[n].append({"wall": wall, "task": task})
                print(f"rep {rep + 1}: {n} task(s) {wall:.1f} s (tasks {', '.join(f'{t:.1f}' for t in task)})", file=sys.stderr)
                shutil.rmtree(out)
    finally:
        subprocess.run(["bash", str(ROOT / "tests/cluster/slurm-stop.sh")], env=env, stdout=subprocess.DEVNULL)

    plain = statistics.median(r["wall"] for r in results["plain"])
    sizes = {c: os.path.getsize(c) for c in clips}
    rows = []
    for n in counts:
        wall = statistics.median(r["wall"] for r in results[n])
        task = [statistics.median(r["task"][i] for r in results[n]) for i in range(n)]
        shard_bytes = [sum(sizes[os.path.realpath(p)] for p in s) for s in shards[n]]
        concurrent = min(n, cpus // max(1, cpus // n))
        chain = longest_chain(task, concurrent)
        rows.append({
            "tasks": n, "cpus_per_task": max(1, cpus // n), "concurrent": concurrent, "wall_s": wall,
            "overhead": wall / plain - 1, "task_s": task, "shard_bytes": shard_bytes,
            "shard_videos": [len(s) for s in shards[n]],
            "balance_bytes": max(shard_bytes) / statistics.mean(shard_bytes),
            "balance_s": max(task) / statistics.mean(task), "sched_s": wall - chain,
        })
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    out_dir = ROOT / "target/bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {"date": stamp, "bin": bin_, "flags": flags, "clips": {Path(c).name: sizes[c] for c in clips},
              "cpus": cpus, "busy_before": busy, "loadavg_after": os.getloadavg(), "repeat": args.repeat,
              "plain_wall_s": plain, "configs": rows, "raw": {str(k): v for k, v in results.items()}}
    (out_dir / f"scaleout-{stamp}.json").write_text(json.dumps(record, indent=2))

    mib = 1 << 20
    print(f"{len(clips)} clips, {sum(sizes.values()) / mib:.1f} MiB, {cpus} CPUs, flags `{' '.join(flags) or '(defaults)'}`, "
          f"median of {args.repeat}; plain `fer-batch run`: **{plain:.1f} s**"
          + ("" if busy <= 0.10 else f"; **NOT an idle machine** ({busy:.0%} busy before)"))
    print()
    print("| tasks | CPUs/task | at once | wall s | overhead vs plain | per-task s | balance s (max/mean) | per-shard MiB | balance bytes (max/mean) | sched+start s |")
    print("|---:|---:|---:|---:|---:|---|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['tasks']} | {r['cpus_per_task']} | {r['concurrent']} | {r['wall_s']:.1f} | {r['overhead']:+.1%} | "
              f"{' / '.join(f'{t:.1f}' for t in r['task_s'])} | {r['balance_s']:.2f} | "
              f"{' / '.join(f'{b / mib:.1f}' for b in r['shard_bytes'])} | {r['balance_bytes']:.2f} | {r['sched_s']:.1f} |")
    print(f"\nraw: {out_dir / f'scaleout-{stamp}.json'}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
