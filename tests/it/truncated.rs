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
    let mut args = vec![
        "run",
        clip.to_str().unwrap(),
        cut.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--sample-fps",
        "2",
        "--report",
        report.to_str().unwrap(),
    ];
    args.extend(model_args());
    run(&args);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let inputs = r["inputs"].as_array().unwrap();
    let completeness = |name: &str| {
        let item = inputs
            .iter()
            .find(|i| i["path"].as_str().unwrap().ends_with(name))
            .unwrap();
        assert_eq!(item["status"], "ok", "{item}");
        item["report"]["completeness"].clone()
    };
    let whole = completeness("classroom_wide_1280x720.mp4");
    assert_eq!(whole["truncated"], false, "{whole}");
    let declared = whole["declared_s"].as_f64().unwrap();
    assert!((declared - 4.98).abs() < 0.01, "{whole}");
    assert!(
        (whole["decoded_s"].as_f64().unwrap() - declared).abs() < 0.2,
        "{whole}"
    );

    let half = completeness("cut.mp4");
    assert_eq!(half["truncated"], true, "{half}");
    assert_eq!(half["declared_s"], whole["declared_s"], "{half}");
    let decoded = half["decoded_s"].as_f64().unwrap();
    assert!(decoded > 1.0 && decoded < 0.8 * declared, "{half}");
    // The whole shape: exactly these three fields.
    assert_eq!(half.as_object().unwrap().len(), 3, "{half}");
}
