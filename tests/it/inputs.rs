//! Issue 4 and 5: where inputs come from: `--manifest` files and `--glob` over directories.

use std::path::Path;

use crate::dataset::col_str;
use crate::util::*;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn manifest_with_a_malformed_line_is_fatal_and_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("list.txt");
    std::fs::write(&manifest, "# cameras\na.mp4,hall\n\nb.mp4,hall,half past eight\n").unwrap();
    let out = dir.path().join("out.parquet");
    let o = run(&["run", "--manifest", manifest.to_str().unwrap(), "--out", out.to_str().unwrap(), "--untrained"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("list.txt:4") && err.contains("half past eight"), "{err}");
    std::fs::write(&manifest, "a.mp4,hall,2024-05-01T08:30:00Z,extra\n").unwrap();
    let o = run(&["run", "--manifest", manifest.to_str().unwrap(), "--out", out.to_str().unwrap(), "--untrained"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("list.txt:1"), "{}", stderr(&o));
    let o = run(&["run", "--manifest", dir.path().join("missing.txt").to_str().unwrap(), "--out", out.to_str().unwrap(), "--untrained"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing.txt"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn manifest_paths_are_relative_to_the_manifest_and_may_hold_spaces_and_non_ascii() {
    let Some(phone) = video("single_face_phone_596x336.mp4") else { return };
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    let clips = manifests.join("clips dir ü");
    std::fs::create_dir_all(&clips).unwrap();
    std::fs::copy(&phone, clips.join("phone clip é.mp4")).unwrap();
    let manifest = manifests.join("list.txt");
    std::fs::write(&manifest, "# relative to this file, not to the working directory\n\nclips dir ü/phone clip é.mp4 , caméra 1 \n").unwrap();
    let out = dir.path().join("out.parquet");
    let mut args = vec!["run", "--manifest", manifest.to_str().unwrap(), "--out", out.to_str().unwrap(), "--sample-fps", "2", "--camera", "ignored"];
    args.extend(model_args());
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (faces, kv) = read_parquet(&out);
    assert!(rows(&faces) > 0);
    assert!(col_str(&faces, "camera").iter().all(|c| c.as_deref() == Some("caméra 1")), "the manifest's camera wins over --camera");
    let sources = &kv.iter().find(|(k, _)| k == "sources").unwrap().1;
    assert!(sources.contains("phone clip é.mp4"), "{sources}");
}

#[test]
fn glob_selects_files_under_directories() {
    let Some(phone) = video("single_face_phone_596x336.mp4") else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("footage");
    for d in ["cam1/2024/05", "cam2", "other"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(&phone, root.join("cam1/2024/05/morning.mp4")).unwrap();
    // Files the pattern must leave out are not videos: selecting one would fail the run.
    for junk in ["cam1/notes.txt", "cam2/morning.mov", "other/morning.mp4", "cam1/2024/05/morning.mp4.part"] {
        std::fs::write(root.join(junk), "not a video").unwrap();
    }
    let out = dir.path().join("out.parquet");
    let report = dir.path().join("report.json");
    let mut args = vec![
        "run",
        root.to_str().unwrap(),
        "--glob",
        "cam*/**/*.mp4",
        "--out",
        out.to_str().unwrap(),
        "--sample-fps",
        "2",
        "--report",
        report.to_str().unwrap(),
    ];
    args.extend(model_args());
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let inputs: Vec<&str> = r["inputs"].as_array().unwrap().iter().map(|i| i["path"].as_str().unwrap()).collect();
    assert_eq!(inputs.len(), 1, "{inputs:?}");
    assert!(Path::new(inputs[0]).ends_with("cam1/2024/05/morning.mp4"), "{inputs:?}");
    // A pattern that matches nothing: a clear error naming the directory, exit 1, nothing written.
    let out2 = dir.path().join("none.parquet");
    let o = run(&["run", root.to_str().unwrap(), "--glob", "*.mkv", "--out", out2.to_str().unwrap(), "--untrained"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("footage") && err.contains("*.mkv"), "{err}");
    assert!(!out2.exists());
    // A malformed pattern is a usage error.
    let o = run(&["run", root.to_str().unwrap(), "--glob", "cam[12.mp4", "--out", out2.to_str().unwrap(), "--untrained"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cam[12.mp4"), "{}", stderr(&o));
}

#[test]
fn an_empty_directory_is_an_error_not_a_silent_success() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty cam");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("readme.txt"), "no videos here").unwrap();
    let out = dir.path().join("out.parquet");
    let report = dir.path().join("r.json");
    let o = run(&["run", empty.to_str().unwrap(), "--out", out.to_str().unwrap(), "--untrained", "--report", report.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().filter(|l| l.contains("empty cam") && l.contains("no video file")).count(), 1, "{err}");
    assert!(!out.exists());
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["inputs"][0]["status"], "failed", "{r}");
}
