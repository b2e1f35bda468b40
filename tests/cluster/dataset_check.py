"""Checks on a fer-batch dataset (local directory or s3://bucket/prefix/) for the cluster tests.

Run with the project's .venv python (pyarrow, from scripts/deps.sh). For s3:// the endpoint and
credentials come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION.

  dataset_check.py complete URI MANIFEST [--table-rows]
      every video of MANIFEST exactly once: one part per table (faces, persons, crowd) whose
      `source_path` metadata names it, the same part id in the three tables, in the
      date=/camera= partition the manifest gives it; no other part; every part a complete,
      readable Parquet file; nothing left in _staging/ but empty directories.
  dataset_check.py no-partial URI [--min-complete N] [--max-complete N]
      after an interrupted run: every file under table=*/ is a complete, readable
      part-*.parquet; a video present in one table is present in all three; nothing left in
      _staging/ but empty directories; at least/at most N complete videos.
  dataset_check.py snapshot URI
      one line per file (key, size, modification time; local files also inode) to compare two
      states of the dataset with diff.

Each check prints `ok   - ...` or `FAIL - ...`; the exit status is 1 if any check failed.
"""

import argparse
import csv
import os
import sys
from collections import defaultdict
from datetime import datetime, timezone

import pyarrow.fs as pafs
import pyarrow.parquet as pq

TABLES = ("faces", "persons", "crowd")
failures = 0


def check(what, ok, detail=""):
    global failures
    print(("ok   - " if ok else "FAIL - ") + what + ("" if ok or not detail else f"\n       {detail}"))
    failures += not ok
    return ok


def open_root(uri):
    """(filesystem, root path without trailing slash) for a local path or s3:// URI."""
    if uri.startswith("s3://"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
        scheme = "http" if endpoint.startswith("http://") else "https"
        fs = pafs.S3FileSystem(
            endpoint_override=endpoint.split("://", 1)[-1] or None,
            scheme=scheme,
            access_key=os.environ.get("AWS_ACCESS_KEY_ID"),
            secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
            region=os.environ.get("AWS_REGION", "us-east-1"),
        )
        return fs, uri[len("s3://"):].rstrip("/")
    return pafs.LocalFileSystem(), os.path.abspath(uri).rstrip("/")


def list_files(fs, root):
    """Relative path -> FileInfo of every file below root (directories left out)."""
    sel = pafs.FileSelector(root, recursive=True, allow_not_found=True)
    return {info.path[len(root) + 1:]: info for info in fs.get_file_info(sel) if info.type == pafs.FileType.File}


def escape(value):
    """fer-batch's partition escaping: bytes outside [A-Za-z0-9._-] become %XX."""
    if not value:
        return "unknown"
    out = "".join(chr(b) if (chr(b).isascii() and (chr(b).isalnum() or chr(b) in "._-")) else f"%{b:02X}"
                  for b in value.encode())
    return {".": "%2E", "..": "%2E%2E"}.get(out, out)


def read_manifest(path):
    """[(realpath, camera or None, start or None)] of a manifest (comments and blanks skipped)."""
    base = os.path.dirname(os.path.abspath(path))
    rows = []
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                continue
            p = row[0].strip()
            camera = row[1] if len(row) > 1 and row[1] != "" else None
            start = row[2].strip() if len(row) > 2 and row[2].strip() else None
            rows.append((os.path.realpath(os.path.join(base, p)), camera, start))
    return rows


def partition_of(camera, start):
    date = "unknown"
    if start:
        t = datetime.fromisoformat(start.replace("Z", "+00:00")).astimezone(timezone.utc)
        date = t.strftime("%Y-%m-%d")
    return f"date={escape(date)}/camera={escape(camera or '')}"


def scan(fs, root):
    """Classify every file: parts per table, staging leftovers, strays. Reads every part in full."""
    files = list_files(fs, root)
    parts = {t: [] for t in TABLES}  # table -> [dict]
    staging, strays, unreadable = [], [], []
    for rel, info in sorted(files.items()):
        top = rel.split("/", 1)[0]
        if top == "_staging":
            staging.append(rel)
            continue
        if not top.startswith("table="):
            continue  # the dataset marker, reports, ...
        table = top[len("table="):]
        segs = rel.split("/")
        name = segs[-1]
        if table not in TABLES or len(segs) != 4 or not name.startswith("part-") or not name.endswith(".parquet"):
            strays.append(rel)
            continue
        try:
            with fs.open_input_file(f"{root}/{rel}") as fh:
                pf = pq.ParquetFile(fh)
                # the file's key-value metadata (fer-batch writes source_path, part_id, ... there)
                meta = {k.decode(): v.decode(errors="replace") for k, v in (pf.metadata.metadata or {}).items()}
                rows = pf.read().num_rows  # every page decoded: a truncated file fails here
        except Exception as e:  # noqa: BLE001 - any failure to read is the finding
            unreadable.append(f"{rel}: {e}")
            continue
        parts[table].append({
            "rel": rel, "partition": "/".join(segs[1:3]), "id": name[len("part-"):-len(".parquet")],
            "source": meta.get("source_path"), "part_id": meta.get("part_id"), "rows": rows,
        })
    return files, parts, staging, strays, unreadable


def common_checks(parts, staging, strays, unreadable):
    check("every file under table=*/ is table=T/date=D/camera=C/part-ID.parquet", not strays, f"strays: {strays[:5]}")
    check("every part file is a complete, readable Parquet file", not unreadable, "; ".join(unreadable[:5]))
    check("nothing left in _staging/ (only empty directories allowed)", not staging, f"left: {staging[:5]}")
    for t in TABLES:
        bad = [p["rel"] for p in parts[t] if p["part_id"] != p["id"] or not p["source"]]
        check(f"table={t}: each part's metadata has source_path and its own part_id", not bad, f"{bad[:5]}")


def cmd_complete(args):
    fs, root = open_root(args.uri)
    files, parts, staging, strays, unreadable = scan(fs, root)
    check(f"{args.uri} holds files", bool(files))
    common_checks(parts, staging, strays, unreadable)
    videos = read_manifest(args.manifest)
    expected = {v[0]: partition_of(v[1], v[2]) for v in videos}
    ids = {}
    for t in TABLES:
        by_source = defaultdict(list)
        for p in parts[t]:
            by_source[os.path.realpath(p["source"] or "(no source_path)")].append(p)
        dup = {s: len(ps) for s, ps in by_source.items() if len(ps) > 1}
        missing = sorted(set(expected) - set(by_source))
        extra = sorted(set(by_source) - set(expected))
        check(f"table={t}: {len(parts[t])} parts for {len(expected)} videos, each video exactly once",
              not dup and not missing and not extra and len(parts[t]) == len(expected),
              f"duplicates {dup}, missing {missing}, not in manifest {extra}")
        wrong = [f"{p['rel']} (expected {expected[s]})" for s, ps in by_source.items() if s in expected
                 for p in ps if p["partition"] != expected[s]]
        check(f"table={t}: every part in the date=/camera= partition of its manifest line", not wrong, f"{wrong[:5]}")
        for s, ps in by_source.items():
            ids.setdefault(s, {})[t] = ps[0]["id"]
    mismatch = [s for s, d in ids.items() if len(set(d.values())) != 1 or len(d) != len(TABLES)]
    check("each video has the same part id in faces, persons and crowd", not mismatch, f"{mismatch[:5]}")
    print(f"       {sum(len(p) for p in parts.values())} parts, "
          + ", ".join(f"{t} {sum(p['rows'] for p in parts[t])} rows" for t in TABLES))


def cmd_no_partial(args):
    fs, root = open_root(args.uri)
    _, parts, staging, strays, unreadable = scan(fs, root)
    common_checks(parts, staging, strays, unreadable)
    per_id = defaultdict(set)
    for t in TABLES:
        for p in parts[t]:
            per_id[p["id"]].add(t)
    partial = {i: sorted(ts) for i, ts in per_id.items() if len(ts) != len(TABLES)}
    check("every video present in one table is present in all three (completed videos kept whole)",
          not partial, f"{partial}")
    n = len(per_id) - len(partial)
    if args.min_complete is not None:
        check(f"{n} complete videos kept (at least {args.min_complete})", n >= args.min_complete)
    if args.max_complete is not None:
        check(f"{n} complete videos kept (at most {args.max_complete}: the run was interrupted mid-way)",
              n <= args.max_complete)


def cmd_snapshot(args):
    fs, root = open_root(args.uri)
    for rel, info in sorted(list_files(fs, root).items()):
        ino = os.stat(info.path).st_ino if isinstance(fs, pafs.LocalFileSystem) else ""
        print(f"{rel}\t{info.size}\t{info.mtime_ns}\t{ino}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("complete")
    c.add_argument("uri")
    c.add_argument("manifest")
    c.set_defaults(fn=cmd_complete)
    n = sub.add_parser("no-partial")
    n.add_argument("uri")
    n.add_argument("--min-complete", type=int)
    n.add_argument("--max-complete", type=int)
    n.set_defaults(fn=cmd_no_partial)
    s = sub.add_parser("snapshot")
    s.add_argument("uri")
    s.set_defaults(fn=cmd_snapshot)
    args = ap.parse_args()
    args.fn(args)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
