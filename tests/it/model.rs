//! The model commands beyond `eval`: CK+ cross-validation (issue 3) and the compute devices of
//! the `cuda` build (issue 8). Tests of the `cuda` build are compiled only with that feature
//! (`bash scripts/torch-env.sh cargo test --features cuda`); they run on libtorch's CPU device.

use crate::util::*;

/// `crossval` on the real CK+48 file with a tiny network and one epoch: every image is held
/// out exactly once, folds are reported, and a rerun resumes (trains nothing).
#[test]
fn crossval_on_ckplus_holds_out_every_image_once_and_resumes() {
    let Some(data) = shared_data() else { return };
    let ck = data.join("ckplus/ckplus48.csv.gz");
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, json) = (dir.path().join("cv"), dir.path().join("cv.json"));
    let args = [
        "crossval",
        "--data",
        ck.to_str().unwrap(),
        "--folds",
        "3",
        "--epochs",
        "1",
        "--depth",
        "12",
        "--growth-rate",
        "4",
        "--run-dir",
        run_dir.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ];
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("training on").count(), 3, "{err}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("per-fold accuracy: mean"), "{stdout}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let report = &v["report"];
    // CK+48 has 981 images; the 54 `contempt` ones are not a FER2013 class and are dropped.
    assert_eq!(report["pooled"]["images"], 927);
    let folds = report["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 3);
    let held_out: u64 = folds.iter().map(|f| f["test_images"].as_u64().unwrap()).sum();
    assert_eq!(held_out, 927);
    assert!(folds.iter().all(|f| f["train_images"].as_u64().unwrap() + f["test_images"].as_u64().unwrap() == 927));
    let subjects: u64 = folds.iter().map(|f| f["test_subjects"].as_u64().unwrap()).sum();
    // 118 subjects, 106 of them with a non-contempt sequence: each held out in exactly one fold.
    assert_eq!(subjects, 106, "each subject is held out in exactly one fold");
    // Neutral does not occur in CK+: no support, and macro-F1 is over the six classes present.
    assert_eq!(report["pooled"]["per_class"][6]["support"], 0);
    for f in 1..=3 {
        assert!(run_dir.join(format!("fold-0{f}/predictions.json")).is_file());
    }

    let o = run(&args);
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("training on").count(), 0, "a finished cross-validation is not redone: {err}");
    let again: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(again["report"]["pooled"]["confusion"], report["pooled"]["confusion"]);
    assert_eq!(again["init"], serde_json::json!([]), "from random weights");

    // Networks of other architectures may be fine-tuned and averaged together (the unit tests
    // train such a pair); a network for another input size is refused before any fold trains.
    let small = dir.path().join("small");
    let final_dir = run_dir.join("fold-01/final");
    std::fs::create_dir(&small).unwrap();
    std::fs::copy(final_dir.join("model.bpk"), small.join("model.bpk")).unwrap();
    let config = std::fs::read_to_string(final_dir.join("config.json")).unwrap();
    assert!(config.contains(r#""input-size": 48"#), "{config}");
    std::fs::write(small.join("config.json"), config.replace(r#""input-size": 48"#, r#""input-size": 40"#)).unwrap();
    let mixed = dir.path().join("mixed");
    let (ck, small, mixed) = (ck.to_str().unwrap(), small.to_str().unwrap(), mixed.to_str().unwrap());
    let o = run(&["crossval", "--data", ck, "--init", "shipped", "--init", small, "--run-dir", mixed]);
    assert_eq!(o.status.code(), Some(2), "a fatal error");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--init small@") && err.contains("takes 40×40 images, but") && err.contains("has 48×48"), "{err}");
    assert!(!err.contains("training on"), "nothing trained: {err}");
}

/// Without the `cuda` feature, asking for a libtorch device is a usage error that says how to
/// get one, before any input is touched.
#[cfg(not(feature = "cuda"))]
#[test]
fn gpu_devices_need_the_cuda_build() {
    let Some(clip) = video("single_face_phone_596x336.mp4") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.parquet");
    for device in ["cuda", "cuda:1", "torch-cpu"] {
        let o = run(&["run", clip.to_str().unwrap(), "--out", out.to_str().unwrap(), "--device", device]);
        assert_eq!(o.status.code(), Some(2), "{device}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("built without the `cuda` cargo feature"), "{err}");
        assert!(!out.exists());
    }
    let o = run(&["run", clip.to_str().unwrap(), "--out", out.to_str().unwrap(), "--device", "gpu"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected cpu, flex, cuda, cuda:N or torch-cpu"));
}

/// `run --model A --model B` classifies every face with both networks and averages them. The
/// default, `shipped`, is two of the embedded networks, and `accurate` two others: the same
/// probabilities and id as naming both; one network named twice gives exactly its own
/// probabilities; the outputs name the ensemble (the ids joined by `+`).
#[test]
fn run_with_a_repeated_model_writes_the_ensemble_and_its_id() {
    let Some(clip) = video("single_face_phone_596x336.mp4") else { return };
    if !model_args().is_empty() {
        return; // no shipped model in this build
    }
    let dir = tempfile::tempdir().unwrap();
    let runs: [&[&str]; 6] = [
        &[],
        &["--model", "sldcnn-fer2013-e92", "--model", "sldcnn-fer2013-ba"],
        &["--model", "sldcnn-fer2013"],
        &["--model", "sldcnn-fer2013", "--model", "sldcnn-fer2013"],
        &["--model", "accurate"],
        &["--model", "sldcnn-fer2013-wide", "--model", "sldcnn-fer2013-e92"],
    ];
    let mut tables = Vec::new();
    for (k, models) in runs.iter().enumerate() {
        let out = dir.path().join(format!("m{k}.parquet"));
        let mut args = vec!["run", clip.to_str().unwrap(), "--out", out.to_str().unwrap(), "--sample-fps", "5"];
        args.extend(*models);
        assert_eq!(run(&args).status.code(), Some(0));
        tables.push(read_parquet(&out));
    }
    let ids: Vec<String> = tables.iter().map(|t| t.1.iter().find(|(k, _)| k == "model_id").map(|(_, v)| v.clone()).unwrap()).collect();
    let single = &ids[2];
    assert!(single.starts_with("sldcnn-fer2013@"), "{single}");
    let (a, b) = ids[0].split_once('+').unwrap_or_else(|| panic!("the default is an ensemble: {}", ids[0]));
    assert!(a.starts_with("sldcnn-fer2013-e92@") && b.starts_with("sldcnn-fer2013-ba@"), "{ids:?}");
    assert_eq!((&ids[1], &ids[3]), (&ids[0], &format!("{single}+{single}")));
    let (wide, e92) = ids[4].split_once('+').unwrap_or_else(|| panic!("accurate is an ensemble: {}", ids[4]));
    assert!(wide.starts_with("sldcnn-fer2013-wide@") && e92 == a, "{ids:?}");
    assert_eq!(ids[5], ids[4]);
    let p = |t: usize, c: &str| col_f64(&tables[t].0, &format!("p_{c}"));
    let (mut differ, mut differ_accurate) = (0, 0);
    for c in CLASSES {
        assert!(p(0, c).len() >= 10, "the clip should give faces: {}", p(0, c).len());
        assert_eq!(p(0, c), p(1, c), "p_{c}: shipped is both networks");
        assert_eq!(p(2, c), p(3, c), "p_{c}: one network twice is that network");
        assert_eq!(p(4, c), p(5, c), "p_{c}: accurate is the wide network and e92");
        differ += p(0, c).iter().zip(p(2, c)).filter(|(x, y)| (*x - y).abs() > 1e-6).count();
        differ_accurate += p(0, c).iter().zip(p(4, c)).filter(|(x, y)| (*x - y).abs() > 1e-6).count();
    }
    assert!(differ > 0 && differ_accurate > 0, "the default, the single network and accurate are different models");
    let o = run(&["run", clip.to_str().unwrap(), "--out", dir.path().join("x.parquet").to_str().unwrap(), "--model", "shipped", "--untrained"]);
    assert_eq!(o.status.code(), Some(2), "--model and --untrained exclude each other");
}

/// The `cuda` build's code path (libtorch) gives the same per-face probabilities as the default
/// backend on a real clip: the check a GPU run repeats with `--device cuda`.
#[cfg(feature = "cuda")]
#[test]
fn libtorch_run_matches_the_default_backend() {
    let Some(clip) = video("single_face_phone_596x336.mp4") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut probs = Vec::new();
    for device in ["cpu", "torch-cpu"] {
        let out = dir.path().join(format!("{device}.parquet"));
        let mut args = vec!["run", clip.to_str().unwrap(), "--out", out.to_str().unwrap(), "--device", device, "--sample-fps", "5"];
        args.extend(model_args());
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{device}");
        let (faces, _) = read_parquet(&out);
        let cols: Vec<Vec<f64>> = CLASSES.iter().map(|c| col_f64(&faces, &format!("p_{c}"))).collect();
        probs.push(cols);
    }
    let rows = probs[0][0].len();
    assert!(rows >= 10, "the clip should give faces: {rows}");
    assert_eq!(probs[1][0].len(), rows, "same faces on both devices");
    let max_diff = (0..7).flat_map(|c| (0..rows).map(move |i| (c, i))).map(|(c, i)| (probs[0][c][i] - probs[1][c][i]).abs()).fold(0f64, f64::max);
    eprintln!("max |p_cpu − p_torch| over {rows} faces × 7 classes: {max_diff:.2e}");
    assert!(max_diff < 1e-4, "devices disagree by {max_diff}");
}

/// In the `cuda` build, a CUDA device that is not there is a clear usage error.
#[cfg(feature = "cuda")]
#[test]
fn a_missing_cuda_device_is_a_clear_error() {
    let Some(clip) = video("single_face_phone_596x336.mp4") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.parquet");
    let o = run(&["run", clip.to_str().unwrap(), "--out", out.to_str().unwrap(), "--device", "cuda:7"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("device cuda:7 is not available: libtorch finds"), "{err}");
    assert!(!out.exists());
}
