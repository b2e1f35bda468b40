"""Reads a fer-batch dataset with DuckDB, Polars, DataFusion and Spark, as the README's
"Running on a cluster" section tells users to, and checks what each engine sees.

  consumers.py DATASET_DIR [--engines duckdb,polars,datafusion,spark]

Ground truth comes from pyarrow reading every part file on its own (no partition discovery):
rows, `frames`/`faces` sums per table=/date=/camera= directory, and the column types of
schemas/*.json. For each engine and each table (faces, persons, crowd):
  1. partition discovery: the (date, camera) pairs and their row counts equal the ground truth,
     with `camera` a string (`0042` stays `0042`, `front%20door` reads as `front door`) and
     `date` of the documented type;
  2. every column of schemas/<table>.json has the documented type in that engine;
  3. a query per (date, camera) returns that partition's rows (and the `frames` or `faces` sum
     for persons and crowd), and the plan shows the partition pruning (DuckDB: 1 file read;
     Polars: the plan's scan lists only that partition's files; DataFusion: only the date's
     files are scanned; Spark: both PartitionFilters and, after the query, 1 file read).
Prints ok/FAIL per check; exit status 1 if any failed.
"""

import argparse
import json
import os
import re
import sys
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

TABLES = ("faces", "persons", "crowd")
# per table: a column whose per-partition sum is checked besides the row count
SUM_COLUMN = {"faces": "frame_index", "persons": "frames", "crowd": "faces"}
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
failures = 0


def check(what, ok, detail=""):
    global failures
    print(("ok   - " if ok else "FAIL - ") + what + ("" if ok or not detail else f"\n       {detail}"), flush=True)
    failures += not ok
    return ok


def ground_truth(root):
    """table -> {(date, camera): (rows, sum)} from the part files read one by one, and the paths."""
    truth, files = {}, {}
    for t in TABLES:
        counts = defaultdict(lambda: [0, 0])
        files[t] = defaultdict(list)
        for f in sorted((root / f"table={t}").glob("date=*/camera=*/part-*.parquet")):
            date = urllib.parse.unquote(f.parent.parent.name[len("date="):])
            camera = urllib.parse.unquote(f.parent.name[len("camera="):])
            tab = pq.ParquetFile(f).read()  # not read_table: it would parse camera=0042 as an int
            counts[(date, camera)][0] += tab.num_rows
            counts[(date, camera)][1] += int(sum(v for v in tab.column(SUM_COLUMN[t]).to_pylist() if v is not None))
            files[t][(date, camera)].append(str(f))
        truth[t] = {k: tuple(v) for k, v in counts.items()}
    return truth, files


def schema_types(table):
    return {c["name"]: c["type"] for c in json.load(open(SCHEMAS / f"{table}.json"))["columns"]}


# documented type of each schemas/*.json type in each engine (README "Running on a cluster");
# a tuple lists the accepted alternatives
TYPE_MAP = {
    "duckdb": {"Int64": "BIGINT", "Float64": "DOUBLE", "Float32": "FLOAT", "Dictionary(Int32, Utf8)": "VARCHAR",
               'Timestamp(µs, "UTC")': "TIMESTAMP WITH TIME ZONE"},
    # string columns come back as Categorical (Parquet dictionary) or String, depending on version
    "polars": {"Int64": "Int64", "Float64": "Float64", "Float32": "Float32", "Dictionary(Int32, Utf8)": ("String", "Categorical"),
               'Timestamp(µs, "UTC")': "Datetime(time_unit='us', time_zone='UTC')"},
    "datafusion": {"Int64": "int64", "Float64": "double", "Float32": "float",
                   "Dictionary(Int32, Utf8)": "dictionary<values=string, indices=int32, ordered=0>",
                   'Timestamp(µs, "UTC")': "timestamp[us, tz=UTC]"},
    "spark": {"Int64": "bigint", "Float64": "double", "Float32": "float", "Dictionary(Int32, Utf8)": "string",
              'Timestamp(µs, "UTC")': "timestamp"},
}
# the partition columns as read in the README's way, per engine
PARTITION_TYPES = {
    # DuckDB's hive_partitioning parses every key=value folder of the path, `table=` too
    "duckdb": {"date": "DATE", "camera": "VARCHAR", "table": "VARCHAR"},
    "polars": {"date": "Date", "camera": "String"},  # hive_schema makes the path value win
    # camera is read from the files (see run_datafusion), date declared as a string partition
    "datafusion": {"date": "string", "camera": "dictionary<values=string, indices=int32, ordered=0>"},
    "spark": {"date": "string", "camera": "string"},
}


def check_types(engine, table, got):
    """got: column -> type string in the engine."""
    want = {n: TYPE_MAP[engine][t] for n, t in schema_types(table).items()}
    want.update(PARTITION_TYPES[engine])
    alts = {n: (w if isinstance(w, tuple) else (w,)) for n, w in want.items()}
    bad = [f"{n}: {got.get(n)} (want {' or '.join(a)})" for n, a in alts.items() if str(got.get(n)) not in a]
    extra = sorted(set(got) - set(want))
    check(f"{engine} {table}: {len(want)} columns with the documented types", not bad and not extra,
          f"wrong: {bad[:6]}; unexpected columns: {extra}")


def check_partitions(engine, table, got, truth):
    """got: {(date str, camera str): (rows, sum)}."""
    check(f"{engine} {table}: partitions discovered {sorted(got)} with their rows and {SUM_COLUMN[table]} sums",
          got == truth[table], f"got {got}, want {truth[table]}")


# ---------------------------------------------------------------------------------------------
def run_duckdb(root, truth, files):
    import duckdb
    con = duckdb.connect()
    for t in TABLES:
        src = (f"read_parquet('{root}/table={t}/**/*.parquet', hive_partitioning = true, "
               f"hive_types = {{'date': DATE, 'camera': VARCHAR}})")
        types = {r[0]: r[1] for r in con.sql(f"DESCRIBE SELECT * FROM {src}").fetchall()}
        check_types("duckdb", t, types)
        s = SUM_COLUMN[t]
        rows = con.sql(f"SELECT strftime(date, '%Y-%m-%d'), camera, count(*), coalesce(sum({s}), 0) FROM {src} GROUP BY ALL").fetchall()
        check_partitions("duckdb", t, {(d, c): (n, int(x)) for d, c, n, x in rows}, truth)
        for (d, c), (n, x) in sorted(truth[t].items()):
            q = f"SELECT count(*), coalesce(sum({s}), 0) FROM {src} WHERE date = DATE '{d}' AND camera = '{c}'"
            got = con.sql(q).fetchone()
            plan = con.sql("EXPLAIN ANALYZE " + q).fetchall()[0][1]
            read = re.search(r"Total Files Read:\s*(\d+)", plan)
            check(f"duckdb {t}: date={d} camera={c!r}: {n} rows, pruned to {len(files[t][(d, c)])} file(s) read",
                  (got[0], int(got[1])) == (n, x) and read is not None and int(read.group(1)) == len(files[t][(d, c)]),
                  f"got {got}, files read {read.group(1) if read else '?'}")


def run_polars(root, truth, files):
    import polars as pl
    for t in TABLES:
        lf = pl.scan_parquet(f"{root}/table={t}/", hive_partitioning=True,
                             hive_schema={"date": pl.Date, "camera": pl.String})
        schema = lf.collect_schema()
        check_types("polars", t, {n: repr(ty) if isinstance(ty, pl.Datetime) else str(ty) for n, ty in schema.items()})
        s = SUM_COLUMN[t]
        df = (lf.group_by(pl.col("date").dt.to_string("%Y-%m-%d"), pl.col("camera").cast(pl.String))
                .agg(pl.len(), pl.col(s).sum()).collect())
        check_partitions("polars", t, {(r[0], r[1]): (r[2], int(r[3] or 0)) for r in df.iter_rows()}, truth)
        for (d, c), (n, x) in sorted(truth[t].items()):
            y, m, dd = (int(v) for v in d.split("-"))
            q = lf.filter((pl.col("date") == pl.date(y, m, dd)) & (pl.col("camera").cast(pl.String) == c)).select(pl.len(), pl.col(s).sum())
            got = q.collect().row(0)
            plan = q.explain()
            listed = set(re.findall(r"/table=[^\s,\]\[]+?\.parquet", plan))
            want = {f[f.index("/table="):] for f in files[t][(d, c)]}
            check(f"polars {t}: date={d} camera={c!r}: {n} rows, plan scans only that partition's file(s)",
                  (got[0], int(got[1] or 0)) == (n, x) and listed == want, f"got {got}; plan scans {sorted(listed)}; want {sorted(want)}")


def run_datafusion(root, truth, files):
    import pyarrow as pa
    from datafusion import SessionContext
    for t in TABLES:
        ctx = SessionContext()
        # `camera` is also a column inside every part file, so only `date` can be declared a
        # partition column (declaring camera too fails: duplicate field); camera filters are
        # pruned by the row-group statistics instead.
        ctx.register_parquet(t, f"{root}/table={t}/", table_partition_cols=[("date", pa.string())], file_extension=".parquet")
        schema = ctx.table(t).schema()
        check_types("datafusion", t, {f.name: str(f.type) for f in schema})
        s = SUM_COLUMN[t]
        rows = ctx.sql(f"SELECT date, arrow_cast(camera, 'Utf8') AS camera, count(*) AS n, coalesce(sum({s}), 0) AS x FROM {t} GROUP BY 1, 2").to_pylist()
        check_partitions("datafusion", t, {(r["date"], r["camera"]): (r["n"], int(r["x"])) for r in rows}, truth)
        for (d, c), (n, x) in sorted(truth[t].items()):
            q = f"SELECT count(*) AS n, coalesce(sum({s}), 0) AS x FROM {t} WHERE date = '{d}' AND camera = '{c}'"
            got = ctx.sql(q).to_pylist()[0]
            plan = "\n".join(str(v) for r in ctx.sql("EXPLAIN " + q).to_pylist() for v in r.values())
            scanned = set(re.findall(r"table=[^\s,\]\[]+?\.parquet", plan))
            want = {f[f.index("table="):] for k, fs in files[t].items() if k[0] == d for f in fs}
            check(f"datafusion {t}: date={d} camera={c!r}: {n} rows, only date={d}'s files scanned",
                  (got["n"], int(got["x"])) == (n, x) and scanned == want, f"got {got}; scanned {sorted(scanned)}; want {sorted(want)}")


def run_spark(root, truth, files):
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession
    t0 = time.time()
    spark = (SparkSession.builder.master("local[2]").appName("fer-batch-consumers")
             # `camera=0042` must stay the string "0042" (inference would make it the integer 42)
             .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.memory", "1g")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    print(f"       (Spark {spark.version} session started in {time.time() - t0:.1f} s)", flush=True)
    try:
        for t in TABLES:
            # one table folder at a time: the dataset root mixes three schemas
            df = spark.read.parquet(f"{root}/table={t}/")
            check_types("spark", t, {f.name: f.dataType.simpleString() for f in df.schema.fields})
            s = SUM_COLUMN[t]
            rows = df.groupBy("date", "camera").agg({"*": "count", s: "sum"}).collect()
            check_partitions("spark", t, {(r["date"], r["camera"]): (r["count(1)"], int(r[f"sum({s})"] or 0)) for r in rows}, truth)
            for (d, c), (n, x) in sorted(truth[t].items()):
                q = df.where((df.date == d) & (df.camera == c)).agg({"*": "count", s: "sum"})
                r = q.collect()[0]
                got = (r["count(1)"], r[f"sum({s})"])
                plan = q._jdf.queryExecution().executedPlan().toString()
                pf = re.search(r"PartitionFilters: \[([^\]]*)\]", plan)
                pruned = pf is not None and f"date#" in pf.group(1) and "camera#" in pf.group(1)
                nfiles = spark_files_read(q)
                check(f"spark {t}: date={d} camera={c!r}: {n} rows, PartitionFilters on date and camera, {nfiles} file(s) read",
                      (got[0], int(got[1] or 0)) == (n, x) and pruned and nfiles == len(files[t][(d, c)]),
                      f"got {got}; PartitionFilters {pf.group(1) if pf else None}")
    finally:
        spark.stop()


def spark_files_read(q):
    """The `numFiles` metric of the file scan in q's executed plan (after collect), or -1."""
    plan = q._jdf.queryExecution().executedPlan()
    # adaptive execution wraps the plan; its final plan holds the scan
    if plan.getClass().getSimpleName() == "AdaptiveSparkPlanExec":
        plan = plan.finalPhysicalPlan()
    stack = [plan]
    while stack:
        node = stack.pop()
        metrics = node.metrics()
        if metrics.contains("numFiles"):
            return int(metrics.apply("numFiles").value())
        children = node.children()
        stack.extend(children.apply(i) for i in range(children.size()))
        # query stages and wrappers keep their plan outside children()
        for attr in ("plan", "child"):
            try:
                stack.append(getattr(node, attr)())
            except Exception:  # noqa: BLE001 - not every node has it
                pass
    return -1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--engines", default="duckdb,polars,datafusion,spark")
    args = ap.parse_args()
    root = Path(args.dataset).resolve()
    truth, files = ground_truth(root)
    for t in TABLES:
        print(f"       ground truth {t}: " + ", ".join(f"{d}/{c}: {n} rows" for (d, c), (n, _) in sorted(truth[t].items())))
    check("the dataset has 3 tables with partitions", all(truth[t] for t in TABLES))
    runners = {"duckdb": run_duckdb, "polars": run_polars, "datafusion": run_datafusion, "spark": run_spark}
    for name in args.engines.split(","):
        t0 = time.time()
        print(f"== {name}", flush=True)
        try:
            runners[name](root, truth, files)
        except Exception as e:  # noqa: BLE001 - an engine that cannot read the dataset is a failure
            check(f"{name}: reads the dataset", False, f"{type(e).__name__}: {e}")
        print(f"       ({name}: {time.time() - t0:.1f} s)", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
