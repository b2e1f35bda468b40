//! Truncated recordings (issue 19): a file whose index is in front but whose end is missing
//! decodes up to the cut without an error; the run report says how much of it was there.

use crate::util::*;

/// The first half of a clip with its index in front (as a recorder that died leaves it), run
/// beside the whole clip: both succeed, and each video's report carries `completeness`:
/// `{"declared_s": 4.98, "decoded_s": 2.57, "truncated": true}` for the cut copy.
#[test]
fn issue_19_a_cut_recording_is_reported_as_truncated() {
    let Some(clip) = video("classroom_wide_1280x720.mp4") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(&clip).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = dir.path().join("out.parquet");
    let report = dir.path().join("report.json");
    let mut args =
        vec!["run", clip.to_str().unwrap(), cut.to_str().unwrap(), "--out", out.to_str().unwrap(), "--sample-fps", "2", "--report", report.to_str().unwrap()];
    args.extend(model_args());
    run(&args);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let inputs = r["inputs"].as_array().unwrap();
    let completeness = |name: &str| {
        let item = inputs.iter().find(|i| i["path"].as_str().unwrap().ends_with(name)).unwrap();
        assert_eq!(item["status"], "ok", "{item}");
        item["report"]["completeness"].clone()
    };
    let whole = completeness("classroom_wide_1280x720.mp4");
    assert_eq!(whole["truncated"], false, "{whole}");
    let declared = whole["declared_s"].as_f64().unwrap();
    assert!((declared - 4.98).abs() < 0.01, "{whole}");
    assert!((whole["decoded_s"].as_f64().unwrap() - declared).abs() < 0.2, "{whole}");

    let half = completeness("cut.mp4");
    assert_eq!(half["truncated"], true, "{half}");
    assert_eq!(half["declared_s"], whole["declared_s"], "{half}");
    let decoded = half["decoded_s"].as_f64().unwrap();
    assert!(decoded > 1.0 && decoded < 0.8 * declared, "{half}");
    // The whole shape: exactly these three fields.
    assert_eq!(half.as_object().unwrap().len(), 3, "{half}");
}

/// `--on-truncated`: by default (warn) the cut copy's results are kept, stderr names it and
/// its part files record both durations; with `fail` the run exits 1, nothing of it is
/// published, and a later run tries it again.
#[test]
fn issue_19_on_truncated_warns_by_default_and_fails_on_request() {
    let Some(clip) = video("classroom_front_848x480.mp4") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(&clip).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let strict = format!("{}/strict/", dir.path().display());
    let mut args = vec!["run", cut.to_str().unwrap(), "--out", &strict, "--sample-fps", "1", "--on-truncated", "fail"];
    args.extend(model_args());
    let o = run(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("cut.mp4") && err.contains("truncated recording") && err.contains("--on-truncated fail"), "{err}");
    assert!(!dir.path().join("strict/table=faces").exists(), "nothing published for a failed video");

    let lenient = format!("{}/lenient/", dir.path().display());
    let mut args = vec!["run", cut.to_str().unwrap(), "--out", &lenient, "--sample-fps", "1"];
    args.extend(model_args());
    let o = run(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("warning") && err.contains("cut.mp4") && err.contains("truncated recording: decoded"), "{err}");
    for table in ["faces", "persons", "crowd"] {
        let part = find_part(&dir.path().join(format!("lenient/table={table}")));
        let (_, meta) = read_parquet(&part);
        let get = |k: &str| meta.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("{table}: no {k}"));
        assert_eq!(get("truncated"), "true", "{table}");
        let declared: f64 = get("declared_duration_s").parse().unwrap();
        let decoded: f64 = get("decoded_duration_s").parse().unwrap();
        assert!(decoded > 0.5 && decoded + 1.0 < declared, "{table}: {decoded} of {declared}");
    }
}

/// The one part file under a table folder.
fn find_part(dir: &std::path::Path) -> std::path::PathBuf {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                return e.path();
            }
        }
    }
    panic!("no part under {}", dir.display());
}
