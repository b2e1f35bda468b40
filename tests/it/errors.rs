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
fn an_unreadable_input_is_reported_and_the_others_finish() {
    use std::os::unix::fs::PermissionsExt;
    // File permissions do not stop root, so the run drops to `nobody` with util-linux's
    // setpriv; without root or setpriv the case cannot be made and the test says so.
    let root = std::process::Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false);
    if !root || !std::path::Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipped: needs root and setpriv to run fer-batch as an unprivileged user");
        return;
    }
    let as_nobody = || {
        let mut c = std::process::Command::new("/usr/bin/setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(bin());
        c
    };
    // The unprivileged user must be able to run the binary where this checkout lives.
    if !as_nobody().arg("--version").output().is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: user nobody cannot execute {} here", bin().display());
        return;
    }
    let Some(clip) = video("single_face_phone_596x336.mp4") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mode = |p: &std::path::Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    mode(dir.path(), 0o777);
    let (good, locked) = (dir.path().join("good.mp4"), dir.path().join("locked ü.mp4"));
    std::fs::copy(&clip, &good).unwrap();
    std::fs::copy(&clip, &locked).unwrap();
    mode(&good, 0o644);
    mode(&locked, 0o000);
    let out = dir.path().join("results.parquet");
    let o = as_nobody()
        .args(["run", good.to_str().unwrap(), locked.to_str().unwrap(), "--out", out.to_str().unwrap(), "--sample-fps", "2", "--no-progress"])
        .args(model_args())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "one input failed → exit 1: {err}");
    let lines: Vec<_> = err.lines().filter(|l| l.contains("locked ü.mp4")).collect();
    assert_eq!(lines.len(), 1, "the unreadable file is reported once: {err}");
    assert!(lines[0].to_lowercase().contains("permission denied"), "with the reason: {err}");
    let (faces, meta) = read_parquet(&out);
    assert!(rows(&faces) > 0, "the readable clip was analysed");
    let sources = &meta.iter().find(|(k, _)| k == "sources").unwrap().1;
    assert!(sources.contains("good.mp4") && !sources.contains("locked"));
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
    for flag in [
        "--out",
        "--manifest",
        "--glob",
        "--force",
        "--pipeline",
        "--set",
        "--sample-fps",
        "--min-face",
        "--detect-every",
        "--window",
        "--smooth",
        "--model",
        "--jobs",
        "--report",
        "--device",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

/// Makes a file with the ffmpeg CLI; returns false (and the test skips) if ffmpeg is absent.
fn ffmpeg(args: &[&str]) -> bool {
    std::process::Command::new("ffmpeg").args(["-v", "error", "-y"]).args(args).status().is_ok_and(|s| s.success())
}

#[test]
fn the_bad_input_corpus_gets_one_clear_line_each_and_no_partial_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = d.join("good.mp4");
    let audio = d.join("audio only.m4a");
    let huge = d.join("huge.mp4");
    if !ffmpeg(&["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "2", "-pix_fmt", "yuv420p", "-movflags", "+faststart", good.to_str().unwrap()])
        || !ffmpeg(&["-f", "lavfi", "-i", "sine=frequency=440", "-t", "1", audio.to_str().unwrap()])
        || !ffmpeg(&["-f", "lavfi", "-i", "color=size=9000x9000:rate=1", "-t", "1", "-c:v", "mjpeg", huge.to_str().unwrap()])
    {
        eprintln!("note: ffmpeg CLI unavailable; skipping");
        return;
    }
    let bytes = std::fs::read(&good).unwrap();
    // Truncated at several offsets (the moov atom is at the front: frames before the cut survive
    // or the file is rejected, never a crash).
    let mut bad: Vec<std::path::PathBuf> = Vec::new();
    for (i, frac) in [0.02, 0.3, 0.7].iter().enumerate() {
        let p = d.join(format!("truncated_{i}.mp4"));
        std::fs::write(&p, &bytes[..(bytes.len() as f64 * frac) as usize]).unwrap();
        bad.push(p);
    }
    // Damaged moov: overwrite the atom's type.
    let mut moov = bytes.clone();
    if let Some(pos) = moov.windows(4).position(|w| w == b"moov") {
        moov[pos..pos + 4].copy_from_slice(b"xxxx");
    }
    let damaged = d.join("damaged_moov.mp4");
    std::fs::write(&damaged, moov).unwrap();
    // A stream FFmpeg has no decoder for: the sample entry's codec tag renamed.
    let undecodable = d.join("unknown_codec.mp4");
    let mut retagged = bytes.clone();
    for i in 0..retagged.len().saturating_sub(4) {
        if &retagged[i..i + 4] == b"avc1" {
            retagged[i..i + 4].copy_from_slice(b"zzz1");
        }
    }
    assert_ne!(retagged, bytes, "the test clip is H.264 in MP4");
    std::fs::write(&undecodable, retagged).unwrap();
    let text = d.join("notes.mp4");
    std::fs::write(&text, "hello\n").unwrap();
    let missing = d.join("vanished.mp4");
    let out_dir = d.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("o.parquet");
    let mut args: Vec<&str> = vec![
        "run",
        good.to_str().unwrap(),
        audio.to_str().unwrap(),
        huge.to_str().unwrap(),
        damaged.to_str().unwrap(),
        undecodable.to_str().unwrap(),
        text.to_str().unwrap(),
        missing.to_str().unwrap(),
    ];
    args.extend(bad.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--out", out.to_str().unwrap(), "--untrained", "--sample-fps", "0"]);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(1), "some inputs failed → exit 1");
    let err = String::from_utf8_lossy(&o.stderr);
    for (name, why) in [
        ("audio only.m4a", "video"),
        ("huge.mp4", "exceeds the limit"),
        ("damaged_moov.mp4", ""),
        ("unknown_codec.mp4", "no decoder"),
        ("notes.mp4", ""),
        ("vanished.mp4", ""),
    ] {
        let lines: Vec<_> = err.lines().filter(|l| l.contains(name)).collect();
        assert_eq!(lines.len(), 1, "{name} reported once: {err}");
        assert!(lines[0].to_lowercase().contains(why), "{name}: {}", lines[0]);
    }
    // The good clip (and truncations that kept whole frames) are in the output; nothing else.
    let (faces, meta) = read_parquet(&out);
    assert_eq!(rows(&faces), 0, "a synthetic test pattern has no faces");
    let sources = &meta.iter().find(|(k, _)| k == "sources").unwrap().1;
    assert!(sources.contains("good.mp4"));
    for n in ["audio only", "huge", "damaged_moov", "unknown_codec", "notes", "vanished"] {
        assert!(!sources.contains(n), "{n} must not be listed as a source");
    }
    let left: Vec<String> = std::fs::read_dir(&out_dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(left.len(), 3, "only the three tables, no staging leftovers: {left:?}");
}

#[test]
fn a_dataset_of_another_schema_version_is_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ds");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("_fer_batch_dataset.json"), r#"{"schema_version": "0"}"#).unwrap();
    let o = run(&["run", "/nonexistent/clip.mp4", "--out", &format!("{}/", root.display()), "--untrained"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("schema version 0") && err.contains("ds"), "{err}");
    // Partitions without the marker: also refused.
    let other = dir.path().join("other");
    std::fs::create_dir_all(other.join("table=faces")).unwrap();
    let o = run(&["run", "/nonexistent/clip.mp4", "--out", &format!("{}/", other.display()), "--untrained"]);
    assert_eq!(o.status.code(), Some(2));
}
