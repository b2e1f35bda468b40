#!/usr/bin/env python3
"""Runs a sample SQL query against a fer-batch result with DuckDB.

    .venv/bin/python samples/query.py results.parquet samples/sql/share_per_minute.sql [--csv]

Creates three views first, `faces`, `persons` and `crowd`, over RESULTS.parquet and its
siblings RESULTS.persons.parquet and RESULTS.crowd.parquet, so every query is plain SQL.
"""
import sys
import duckdb


def views(con, faces_path):
    stem = faces_path[:-len(".parquet")] if faces_path.endswith(".parquet") else faces_path
    for name, path in [("faces", faces_path), ("persons", stem + ".persons.parquet"), ("crowd", stem + ".crowd.parquet")]:
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    con = duckdb.connect()
    views(con, sys.argv[1])
    sql = open(sys.argv[2]).read()
    rel = con.sql(sql)
    if "--csv" in sys.argv:
        print(",".join(rel.columns))
        for row in rel.fetchall():
            print(",".join("" if v is None else str(v) for v in row))
    else:
        print(rel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
