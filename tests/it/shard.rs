//! Issue 19: `--shard-index/--shard-count` (or a scheduler's index variable) split one input
//! list over array tasks, each video in exactly one shard, into one dataset; `--dry-run`
//! shows a shard's videos and what is done; bad shard settings are usage errors (exit 2).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::*;

const INDEX_VARS: [&str; 3] = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"];

/// Runs the binary with `args` and the given index variables only (the test may itself run
/// inside an array task).
fn run_env(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.args(args).args(model_args()).arg("--no-progress");
    for v in INDEX_VARS {
        c.env_remove(v);
    }
    c.envs(vars.iter().copied());
    let o = c.output().expect("binary runs");
    eprintln!("$ {vars:?} fer-batch {}\n  exit {:?}\n  stderr: {}", args.join(" "), o.status.code(), String::from_utf8_lossy(&o.stderr).trim());
    o
}

/// A manifest of every clip in ../shared/data/video with a camera per clip.
fn manifest(dir: &Path) -> Option<(PathBuf, Vec<String>)> {
    let videos = shared_data()?.join("video");
    let mut clips: Vec<String> = std::fs::read_dir(videos).ok()?.flatten().map(|e| e.path().display().to_string()).filter(|p| p.ends_with(".mp4")).collect();
    clips.sort();
    let text: String = clips.iter().enumerate().map(|(i, c)| format!("{c},cam-{i}\n")).collect();
    let path = dir.join("night.csv");
    std::fs::write(&path, text).unwrap();
    Some((path, clips))
}

/// `(state, path)` per line of a `--dry-run`.
fn dry_lines(o: &Output) -> Vec<(String, String)> {
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.split_once('\t').map(|(a, b)| (a.to_owned(), b.to_owned())).unwrap_or_else(|| panic!("bad line {l:?}")))
        .collect()
}

#[test]
fn every_video_lands_in_exactly_one_shard_whatever_names_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let Some((m, clips)) = manifest(dir.path()) else { return };
    let out = format!("{}/ds/", dir.path().display());
    for count in [1u32, 3, 11] {
        let mut seen = Vec::new();
        for index in 0..count {
            let (n, i) = (count.to_string(), index.to_string());
            let by_flag =
                dry_lines(&run_env(&["run", "--manifest", m.to_str().unwrap(), "--out", &out, "--shard-count", &n, "--shard-index", &i, "--dry-run"], &[]));
            for var in INDEX_VARS.into_iter().filter(|_| count == 3) {
                let by_env = dry_lines(&run_env(&["run", "--manifest", m.to_str().unwrap(), "--out", &out, "--shard-count", &n, "--dry-run"], &[(var, &i)]));
                assert_eq!(by_env, by_flag, "{var}={i} gives the same shard as --shard-index {i}");
            }
            assert!(by_flag.iter().all(|(state, _)| state == "todo"), "nothing is done yet: {by_flag:?}");
            seen.extend(by_flag.into_iter().map(|(_, p)| p));
        }
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(seen.len(), clips.len(), "{count} shards: no video twice");
        assert_eq!(unique.into_iter().cloned().collect::<Vec<_>>(), clips, "{count} shards: every video once");
    }
}

#[test]
fn bad_shard_settings_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let Some((m, _)) = manifest(dir.path()) else { return };
    let out = format!("{}/ds/", dir.path().display());
    let base = ["run", "--manifest", m.to_str().unwrap(), "--out", &out];
    for (extra, vars, says) in [
        (&["--shard-count", "2", "--shard-index", "2"][..], &[][..], "not below --shard-count 2"),
        (&["--shard-count", "2"][..], &[][..], "needs the task's index"),
        (&["--shard-count", "0", "--shard-index", "0"][..], &[][..], "at least 1"),
        (&["--shard-count", "2"][..], &[("SLURM_ARRAY_TASK_ID", "7")][..], "from SLURM_ARRAY_TASK_ID"),
        (&["--shard-count", "2"][..], &[("JOB_COMPLETION_INDEX", "one")][..], "not a shard index"),
    ] {
        let o = run_env(&[&base[..], extra].concat(), vars);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?} {vars:?}: {err}");
        assert!(err.contains(says), "{extra:?}: {err}");
    }
    assert!(!Path::new(&out).exists(), "a usage error writes nothing");
}

#[test]
fn shards_fill_one_dataset_and_a_rerun_finds_everything_done() {
    let (Some(a), Some(b), Some(c)) =
        (video("single_face_phone_596x336.mp4"), video("talking_head_woman_596x336.mp4"), video("classroom_cctv_overhead_640x352.mp4"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.csv");
    std::fs::write(&m, format!("{},cam-a\n{},cam-b\n{},0042\n", a.display(), b.display(), c.display())).unwrap();
    let out = format!("{}/ds/", dir.path().display());
    let base = ["run", "--manifest", m.to_str().unwrap(), "--out", &out, "--sample-fps", "1", "--shard-count", "2"];
    for i in ["0", "1"] {
        let o = run_env(&base, &[("SLURM_ARRAY_TASK_ID", i)]);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("shard {i} of 2 (index from SLURM_ARRAY_TASK_ID)")));
    }
    // Three videos, three parts each, each under its own camera; no staging left.
    for table in ["faces", "persons", "crowd"] {
        let parts: Vec<PathBuf> = glob_parts(&Path::new(&out).join(format!("table={table}")));
        assert_eq!(parts.len(), 3, "{table}: {parts:?}");
        let cams: BTreeSet<String> = parts.iter().map(|p| p.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(cams.into_iter().collect::<Vec<_>>(), ["camera=0042", "camera=cam-a", "camera=cam-b"]);
    }
    assert!(!Path::new(&out).join("_staging").exists(), "staging removed");
    // Every shard now reports all its videos done, and a rerun analyses nothing.
    let mut done = 0;
    for i in ["0", "1"] {
        let lines = dry_lines(&run_env(&[&base[..], &["--dry-run"]].concat(), &[("JOB_COMPLETION_INDEX", i)]));
        assert!(lines.iter().all(|(s, _)| s == "done"), "{lines:?}");
        done += lines.len();
        let o = run_env(&base, &[("SLURM_ARRAY_TASK_ID", i)]);
        assert_eq!(o.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&o.stderr).contains("up to date"));
    }
    assert_eq!(done, 3);
}

/// The part files under a table folder (any depth).
fn glob_parts(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                assert!(e.file_name().to_string_lossy().starts_with("part-"), "only part files in table folders: {}", e.path().display());
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}
