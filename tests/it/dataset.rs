//! Issue 4 and 5: the Hive-partitioned dataset form of `--out dir/`, and reruns that skip work
//! already done (dataset parts, and identical single-file outputs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};

use crate::util::*;

/// A string column (dictionary-encoded or not) as optional strings.
pub fn col_str(batches: &[RecordBatch], name: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for b in batches {
        let c = b.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
        let c = arrow::compute::cast(c, &DataType::Utf8).expect("cast to Utf8");
        let s = c.as_string::<i32>();
        out.extend((0..s.len()).map(|i| (!s.is_null(i)).then(|| s.value(i).to_owned())));
    }
    out
}

/// Every regular file under `dir`, with its modification time.
fn files_with_mtimes(dir: &Path) -> BTreeMap<PathBuf, SystemTime> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "_fer_batch_dataset.json") {
                // The dataset's schema-version marker (checked separately).
            } else {
                out.insert(p.clone(), e.metadata().unwrap().modified().unwrap());
            }
        }
    }
    out
}

fn key<'a>(kv: &'a [(String, String)], k: &str) -> &'a str {
    kv.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no metadata key {k}"))
}

fn blake3_of(path: &Path) -> String {
    blake3::hash(&std::fs::read(path).unwrap()).to_hex().to_string()
}

/// The single part file of `table` in partition `part` (`date=…/camera=…`) of `root`.
fn part_file(root: &Path, table: &str, part: &str) -> PathBuf {
    let dir = root.join(format!("table={table}")).join(part);
    let files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten().map(|e| e.path()).collect();
    assert_eq!(files.len(), 1, "one part file in {}: {files:?}", dir.display());
    let name = files[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("part-") && name.ends_with(".parquet") && name.len() == "part-".len() + 16 + ".parquet".len(), "{name}");
    files[0].clone()
}

fn run_ok(args: &[&str]) -> String {
    let mut args = args.to_vec();
    args.extend(model_args());
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "run failed");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn dataset_form_partitions_by_date_and_camera_and_skips_what_is_done() {
    let (Some(phone), Some(hall)) = (video("single_face_phone_596x336.mp4"), video("classroom_cctv_overhead_640x352.mp4")) else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dataset");
    let root_slash = format!("{}/", root.display());
    // Run 1: a camera name with a space, start time from the container (2018-09-24T11:29:46Z).
    let m1 = dir.path().join("night1.txt");
    std::fs::write(&m1, format!("# night 1\n{},front door\n", phone.display())).unwrap();
    run_ok(&["run", "--manifest", m1.to_str().unwrap(), "--out", &root_slash, "--sample-fps", "2"]);
    // Run 2: another clip into the now existing directory (no trailing slash), start from the manifest.
    let m2 = dir.path().join("night2.txt");
    std::fs::write(&m2, format!("{},hall-1,2024-05-01T23:30:00-02:00\n", hall.display())).unwrap();
    run_ok(&["run", "--manifest", m2.to_str().unwrap(), "--out", root.to_str().unwrap(), "--sample-fps", "1"]);

    let marker: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("_fer_batch_dataset.json")).expect("dataset marker")).unwrap();
    assert_eq!(marker["schema_version"], fer_batch::sink::SCHEMA_VERSION);
    let all = files_with_mtimes(&root);
    assert_eq!(all.len(), 6, "three tables × two videos, nothing else (no temporary files): {all:?}");
    for (part, clip, camera) in [("date=2018-09-24/camera=front%20door", &phone, "front door"), ("date=2024-05-02/camera=hall-1", &hall, "hall-1")] {
        let mut ids = Vec::new();
        for table in ["faces", "persons", "crowd"] {
            let file = part_file(&root, table, part);
            ids.push(file.file_name().unwrap().to_owned());
            let (batches, kv) = read_parquet(&file);
            assert_eq!(key(&kv, "table"), table);
            assert_eq!(key(&kv, "source_blake3"), blake3_of(clip), "{}", file.display());
            assert_eq!(key(&kv, "source_size"), std::fs::metadata(clip).unwrap().len().to_string());
            assert_eq!(key(&kv, "source_path"), clip.display().to_string());
            assert!(key(&kv, "pipeline_settings").contains("sample"), "the run metadata is there too");
            for k in ["tool", "model_id", "model_hash", "schema_version"] {
                key(&kv, k);
            }
            assert!(col_str(&batches, "camera").iter().all(|c| c.as_deref() == Some(camera)), "{table}: camera column");
        }
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "the three tables share the part id: {ids:?}");
    }
    // The manifest's start time drives the absolute times: 2024-05-02T01:30:00Z + t.
    let (crowd, _) = read_parquet(&part_file(&root, "crowd", "date=2024-05-02/camera=hall-1"));
    let start = crowd[0].column_by_name("window_start_utc").unwrap();
    let start = arrow::compute::cast(start, &DataType::Int64).unwrap();
    let offset_s = col_f64(&crowd, "window_start_s")[0];
    assert_eq!(
        start.as_primitive::<Int64Type>().value(0),
        1_714_613_400_000_000 + (offset_s * 1e6).round() as i64,
        "absolute times start at the manifest's start"
    );
    let (faces, _) = read_parquet(&part_file(&root, "faces", "date=2018-09-24/camera=front%20door"));
    assert!(rows(&faces) > 0, "the phone clip has a face");

    // Rerun of run 1: skipped, exit 0, files untouched, reported in the summary and the JSON report.
    let report = dir.path().join("report.json");
    let err = run_ok(&["run", "--manifest", m1.to_str().unwrap(), "--out", &root_slash, "--sample-fps", "2", "--report", report.to_str().unwrap()]);
    assert!(err.contains("skipped (up to date)"), "{err}");
    assert_eq!(files_with_mtimes(&root), all, "a skipped video's files are untouched");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["inputs"][0]["status"], "skipped", "{r}");
    assert!(r["inputs"][0]["outputs"]["faces"].as_str().unwrap().contains("camera=front%20door"), "{r}");

    // Other settings are other content: a new part beside the old one, the old one untouched.
    run_ok(&["run", "--manifest", m1.to_str().unwrap(), "--out", &root_slash, "--sample-fps", "1"]);
    let now = files_with_mtimes(&root);
    assert_eq!(now.len(), 9, "a second part per table for the new settings: {now:?}");
    assert!(all.iter().all(|(p, t)| now.get(p) == Some(t)), "existing parts are never rewritten");

    // --force reprocesses (and rewrites) the same parts.
    let err = run_ok(&["run", "--manifest", m2.to_str().unwrap(), "--out", &root_slash, "--sample-fps", "1", "--force"]);
    assert!(!err.contains("skipped"), "{err}");
    let forced = files_with_mtimes(&root);
    assert_eq!(forced.len(), 9, "same names: {forced:?}");
    for table in ["faces", "persons", "crowd"] {
        let f = part_file(&root, table, "date=2024-05-02/camera=hall-1");
        assert_ne!(forced[&f], all[&f], "{} was rewritten", f.display());
    }
}

#[test]
fn single_file_rerun_is_up_to_date_and_leaves_the_files_alone() {
    let Some(phone) = video("single_face_phone_596x336.mp4") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.parquet");
    let args = ["run", phone.to_str().unwrap(), "--out", out.to_str().unwrap(), "--sample-fps", "2", "--camera", "desk"];
    run_ok(&args);
    let first = files_with_mtimes(dir.path());
    assert_eq!(first.len(), 3, "{first:?}");
    let err = run_ok(&args);
    assert!(err.contains("up to date"), "{err}");
    assert_eq!(files_with_mtimes(dir.path()), first, "nothing rewritten");
    // Another camera name changes the rows, so the outputs are no longer up to date.
    let mut other = args.to_vec();
    *other.last_mut().unwrap() = "door";
    let err = run_ok(&other);
    assert!(!err.contains("up to date") && err.contains("1 of 1 videos done"), "{err}");
    assert_ne!(files_with_mtimes(dir.path())[&out], first[&out]);
    // --force reprocesses even when up to date.
    let before = files_with_mtimes(dir.path());
    let mut forced = other.clone();
    forced.push("--force");
    let err = run_ok(&forced);
    assert!(!err.contains("up to date"), "{err}");
    assert_ne!(files_with_mtimes(dir.path())[&out], before[&out]);
}
