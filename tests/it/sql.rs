//! Real SQL engines on real results: every table read with pyarrow (columns as in
//! `schemas/`), every sample query in `samples/sql/` run through DuckDB, and the answers
//! checked against the tables as read back in Rust.
//!
//! Needs `.venv` with duckdb and pyarrow (`scripts/deps.sh` creates it; `scripts/test.sh`
//! sets FER_REQUIRE_SQL=1 so that a missing venv fails instead of skipping).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

fn python() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let ok = p.is_file() && Command::new(&p).args(["-c", "import duckdb, pyarrow"]).status().is_ok_and(|s| s.success());
    if !ok {
        assert!(std::env::var_os("FER_REQUIRE_SQL").is_none(), ".venv with duckdb and pyarrow is required (run scripts/deps.sh)");
        eprintln!("note: no .venv with duckdb/pyarrow; skipping the SQL tests (scripts/deps.sh creates it)");
        return None;
    }
    Some(p)
}

fn csv(python: &Path, results: &Path, query: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = Command::new(python)
        .arg(root.join("samples/query.py"))
        .arg(results)
        .arg(root.join("samples/sql").join(query))
        .arg("--csv")
        .output()
        .expect("python runs");
    assert!(o.status.success(), "{query}: {}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default().split(',').map(str::to_owned).collect();
    (header, lines.map(|l| l.split(',').map(str::to_owned).collect()).collect())
}

fn num(v: &str) -> f64 {
    v.parse().unwrap_or_else(|_| panic!("not a number: {v:?}"))
}

#[test]
fn sample_queries_answer_consistently_with_the_tables() {
    let Some(py) = python() else { return };
    let Some(clip) = video("classroom_front_848x480.mp4") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("classroom.parquet");
    let mut args = vec!["run", clip.to_str().unwrap(), "--out", out.to_str().unwrap(), "--sample-fps", "2", "--camera", "room-101"];
    args.extend(model_args());
    assert_eq!(run(&args).status.code(), Some(0));
    let (faces, _) = read_parquet(&out);
    let (persons, _) = read_parquet(&dir.path().join("classroom.persons.parquet"));
    let n_faces = rows(&faces);
    let n_persons = rows(&persons);
    assert!(n_faces > 0);

    // pyarrow reads every table, with exactly the columns documented in schemas/.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = r#"
import json, sys, pyarrow.parquet as pq
stem, schemas = sys.argv[1], sys.argv[2]
for table, path in [("faces", stem + ".parquet"), ("persons", stem + ".persons.parquet"), ("crowd", stem + ".crowd.parquet")]:
    t = pq.read_table(path)
    doc = json.load(open(f"{schemas}/{table}.json"))
    want = [c["name"] for c in doc["columns"]]
    assert t.column_names == want, (table, t.column_names, want)
    meta = pq.read_metadata(path).metadata
    assert meta[b"schema_version"].decode() == str(doc["schema_version"]), table
    print(table, t.num_rows)
"#;
    let stem = dir.path().join("classroom");
    let o = Command::new(&py).args(["-c", script]).arg(&stem).arg(root.join("schemas")).output().unwrap();
    assert!(o.status.success(), "pyarrow: {}", String::from_utf8_lossy(&o.stderr));
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(printed.contains(&format!("faces {n_faces}")) && printed.contains(&format!("persons {n_persons}")), "{printed}");

    // Share per minute: percentages sum to 100, people never exceed the persons table.
    let (h, rows_) = csv(&py, &out, "share_per_minute.sql");
    assert!(!rows_.is_empty());
    let pct: Vec<usize> = (0..h.len()).filter(|&i| h[i].starts_with("pct_")).collect();
    assert_eq!(pct.len(), 7);
    for r in &rows_ {
        let s: f64 = pct.iter().map(|&i| num(&r[i])).sum();
        assert!((s - 100.0).abs() < 0.5, "minute shares sum to {s}");
        assert!(num(&r[2]) as usize <= n_persons);
    }
    // Most negative five minutes: one row per video, a percentage.
    let (_, rows_) = csv(&py, &out, "most_negative_five_minutes.sql");
    assert_eq!(rows_.len(), 1);
    assert!((0.0..=100.0).contains(&num(&rows_[0][3])));
    // Dominant expression per person: one row per person, frames add up to the face rows.
    let (h, rows_) = csv(&py, &out, "person_dominant_expression.sql");
    assert_eq!(rows_.len(), n_persons);
    let fi = h.iter().position(|c| c == "frames").unwrap();
    assert_eq!(rows_.iter().map(|r| num(&r[fi])).sum::<f64>() as usize, n_faces);
    let labels: BTreeSet<&str> = rows_.iter().map(|r| r[h.iter().position(|c| c == "dominant_label").unwrap()].as_str()).collect();
    assert!(labels.iter().all(|l| CLASSES.contains(l)), "{labels:?}");
    // Cameras by night: our camera name, every face row and person counted once.
    let (h, rows_) = csv(&py, &out, "cameras_by_night.sql");
    assert!(rows_.iter().all(|r| r[0] == "room-101"));
    let fr = h.iter().position(|c| c == "face_rows").unwrap();
    assert_eq!(rows_.iter().map(|r| num(&r[fr])).sum::<f64>() as usize, n_faces);
    let pe = h.iter().position(|c| c == "people").unwrap();
    assert!(rows_.iter().map(|r| num(&r[pe])).sum::<f64>() as usize >= n_persons);
}
