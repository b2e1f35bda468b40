//! Interrupting `fer-batch run`: SIGTERM stops cleanly and keeps what finished; SIGKILL
//! leaves only hidden temporaries, which no reader mistakes for results and the next run
//! removes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// Every file under `dir` (recursive), split into (visible `.parquet` results, hidden names).
fn files(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut results, mut hidden) = (Vec::new(), Vec::new());
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                hidden.push(e.path());
            } else if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if name.ends_with(".parquet") {
                results.push(e.path());
            }
        }
    }
    (results, hidden)
}

fn spawn(args: &[&str]) -> Child {
    Command::new(bin()).args(args).args(model_args()).arg("--no-progress").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start fer-batch")
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill").args([sig, &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
}

#[test]
fn sigterm_keeps_finished_videos_and_a_rerun_does_only_the_rest() {
    let (Some(short), Some(long)) = (video("single_face_phone_596x336.mp4"), video("meeting_scene_cuts_640x360.mp4")) else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = format!("{}/ds/", dir.path().display());
    let args = ["run", short.to_str().unwrap(), long.to_str().unwrap(), "--out", &out, "--sample-fps", "2", "--jobs", "1"];
    let child = spawn(&args);
    // The short video's three parts appear first; the long one is then in progress.
    wait_for("the first video's results", Duration::from_secs(120), || files(Path::new(&out)).0.len() >= 3);
    signal(&child, "-TERM");
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(143), "128 + SIGTERM, so that schedulers see the signal: {err}");
    assert!(err.contains("interrupted; 1 video(s) had completed"), "says what was finished: {err}");
    let (results, hidden) = files(Path::new(&out));
    assert_eq!(results.len(), 3, "only the finished video's tables: {results:?}");
    assert!(hidden.iter().all(|p| !p.to_string_lossy().contains(".tmp-")), "no temporaries after a clean stop: {hidden:?}");
    assert!(!Path::new(&out).join("_staging").exists(), "the staging folder is removed after a clean stop");
    for r in &results {
        read_parquet(r); // complete, readable files
    }
    // Restarting the same command finishes the job without redoing the first video.
    let o = run(&[&args[..], &model_args()].concat());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let (results2, _) = files(Path::new(&out));
    assert_eq!(results2.len(), 6);
    assert!(results.iter().all(|r| results2.contains(r)));
}

#[test]
fn sigkill_leaves_no_visible_result_and_the_next_run_cleans_up() {
    let (Some(short), Some(long)) = (video("single_face_phone_596x336.mp4"), video("meeting_scene_cuts_640x360.mp4")) else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.parquet");
    let mut child = spawn(&["run", long.to_str().unwrap(), "--out", out.to_str().unwrap(), "--sample-fps", "2"]);
    // Wait until the run is writing (its private staging parts exist), then kill it outright.
    wait_for("staging files", Duration::from_secs(120), || {
        files(dir.path()).1.iter().any(|d| d.is_dir() && std::fs::read_dir(d).map(|mut r| r.next().is_some()).unwrap_or(false))
    });
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap(); // SIGKILL: no handler, no clean-up
    child.wait().unwrap();
    let (results, hidden) = files(dir.path());
    assert!(results.is_empty(), "a killed run leaves no result a reader could take: {results:?}");
    assert!(!hidden.is_empty(), "the killed run's hidden staging is still there (test premise)");
    // The next run into the same place removes the leftovers and writes complete tables.
    let o = run(&[&["run", short.to_str().unwrap(), "--out", out.to_str().unwrap(), "--sample-fps", "2"][..], &model_args()].concat());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("left by an interrupted run"), "{err}");
    let (results, hidden) = files(dir.path());
    assert_eq!(results.len(), 3);
    assert!(hidden.is_empty(), "leftovers removed: {hidden:?}");
}
