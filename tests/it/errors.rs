//! Bad input: clear one-line errors naming the file, the right exit code, no partial output.

use crate::util::*;

#[test]
fn a_bad_file_among_good_ones_is_reported_and_skipped() {
    let Some(clip) = video("single_face_phone_596x336.mp4") else { return };
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("not a video ü.mp4");
    std::fs::write(&junk, "this is plain text, not H.264").unwrap();
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, "").unwrap();
    let out = dir.path().join("out.parquet");
    let mut args = vec!["run", junk.to_str().unwrap(), clip.to_str().unwrap(), empty.to_str().unwrap(), "--out", out.to_str().unwrap(), "--sample-fps", "2"];
    args.extend(model_args());
    let o = run(&args);
    assert_eq!(o.status.code(), Some(1), "some inputs failed → exit 1");
    let err = String::from_utf8_lossy(&o.stderr);
    let junk_lines: Vec<_> = err.lines().filter(|l| l.contains("not a video ü.mp4")).collect();
    assert_eq!(junk_lines.len(), 1, "the bad file is reported once: {err}");
    assert!(err.lines().any(|l| l.contains("empty.mp4") && l.to_lowercase().contains("empty")), "{err}");
    let (faces, meta) = read_parquet(&out);
    assert!(rows(&faces) > 0, "the good clip's faces were written");
    let sources = &meta.iter().find(|(k, _)| k == "sources").unwrap().1;
    assert!(sources.contains("single_face_phone") && !sources.contains("empty.mp4"));
}

#[test]
fn only_bad_inputs_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("random.mp4");
    std::fs::write(&junk, (0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<_>>()).unwrap();
    let out = dir.path().join("o.parquet");
    let o = run(&["run", junk.to_str().unwrap(), "--out", out.to_str().unwrap(), "--untrained"]);
    assert_eq!(o.status.code(), Some(1));
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left.len(), 1, "nothing but the input is left: {left:?}");
}

#[test]
fn unwritable_output_and_bad_config_are_fatal_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a_file");
    std::fs::write(&file, "x").unwrap();
    let clip = dir.path().join("missing.mp4");
    // Output under a regular file: exit 2 without touching any input.
    let out = file.join("out.parquet");
    let o = run(&["run", clip.to_str().unwrap(), "--out", out.to_str().unwrap(), "--untrained"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("out.parquet"));
    // Unknown key in a pipeline file: exit 2 naming the key.
    let toml = dir.path().join("p.toml");
    std::fs::write(&toml, "[detect]\nmin-face-pixels = 30\n").unwrap();
    let out = dir.path().join("o.parquet");
    let o = run(&["run", clip.to_str().unwrap(), "--out", out.to_str().unwrap(), "--pipeline", toml.to_str().unwrap(), "--untrained"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("min-face-pixels") && err.contains("p.toml"), "{err}");
    // A model directory with corrupt weights: exit 2 naming the file.
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    std::fs::write(model.join("config.json"), serde_json::to_string(&fer_batch::classify::model::SldcnnConfig::compact(12)).unwrap()).unwrap();
    std::fs::write(model.join("model.bpk"), b"garbage").unwrap();
    let o = run(&["run", clip.to_str().unwrap(), "--out", out.to_str().unwrap(), "--model", model.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("model.bpk") || String::from_utf8_lossy(&o.stderr).contains(model.to_str().unwrap()));
    assert!(!out.exists());
}

#[test]
fn help_documents_every_run_flag() {
    let o = run(&["run", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = String::from_utf8_lossy(&o.stdout);
    for flag in ["--out", "--manifest", "--glob", "--force", "--pipeline", "--set", "--sample-fps", "--min-face", "--detect-every", "--window", "--smooth", "--model", "--jobs", "--report", "--device"] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}
