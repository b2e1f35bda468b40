//! Issue 16: `eval` reports intervals, a de-duplicated score and McNemar's test, on a small
//! slice of the real FER2013 file (written to a temporary directory at run time; no pixels
//! are kept in the repository).

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};

use crate::util::*;

/// A slice of FER2013: the first `train` Training rows, the first `test` PrivateTest rows, and
/// `copies` more PrivateTest rows whose pixels copy the slice's first Training rows. Returns
/// the file and how many of its PrivateTest rows have an exact pixel copy among its Training
/// rows.
fn fer2013_slice(dir: &Path, train: usize, test: usize, copies: usize) -> Option<(PathBuf, usize)> {
    let src = shared_data()?.join("fer2013/fer2013.csv.gz");
    if !src.is_file() {
        eprintln!("note: {} not found; skipping", src.display());
        return None;
    }
    let reader = BufReader::new(flate2::read::MultiGzDecoder::new(std::fs::File::open(&src).unwrap()));
    let (mut train_rows, mut test_rows) = (Vec::new(), Vec::new());
    for line in reader.lines().skip(1) {
        let line = line.unwrap();
        if line.ends_with(",Training") && train_rows.len() < train {
            train_rows.push(line);
        } else if line.ends_with(",PrivateTest") && test_rows.len() < test {
            test_rows.push(line);
        }
    }
    let pixels = |line: &str| -> Vec<u8> { line.split(',').nth(1).unwrap().split_ascii_whitespace().map(|v| v.parse().unwrap()).collect() };
    for row in train_rows.iter().take(copies) {
        test_rows.push(row.replace(",Training", ",PrivateTest"));
    }
    let seen: HashSet<Vec<u8>> = train_rows.iter().map(|l| pixels(l)).collect();
    let duplicates = test_rows.iter().filter(|l| seen.contains(&pixels(l))).count();
    let path = dir.join("fer2013-slice.csv");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "emotion,pixels,Usage").unwrap();
    for l in train_rows.iter().chain(&test_rows) {
        writeln!(f, "{l}").unwrap();
    }
    Some((path, duplicates))
}

fn shipped_model() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/sldcnn-fer2013");
    dir.join("model.bpk").is_file().then_some(dir)
}

fn eval_json(args: &[&str], json: &Path) -> (String, serde_json::Value) {
    let mut all = vec!["eval"];
    all.extend_from_slice(args);
    all.extend(["--json", json.to_str().unwrap()]);
    let o = run(&all);
    assert_eq!(o.status.code(), Some(0));
    (String::from_utf8_lossy(&o.stdout).into_owned(), serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap())
}

#[test]
fn eval_reports_intervals_deduplicated_scores_and_mcnemar() {
    let Some(model) = shipped_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let Some((data, duplicates)) = fer2013_slice(dir.path(), 400, 120, 6) else { return };
    assert!(duplicates >= 6, "the injected copies count: {duplicates}");
    let json = dir.path().join("eval.json");
    let data = data.to_str().unwrap();

    let (stdout, v) = eval_json(&["--data", data, "--split", "private"], &json);
    let report = &v["report"];
    assert_eq!(report["images"], 126);
    let acc = report["accuracy"].as_f64().unwrap();
    let [lo, hi] = [0, 1].map(|i| report["accuracy_ci95"][i].as_f64().unwrap());
    assert!(lo < acc && acc < hi && hi - lo > 0.1, "Wilson interval of {acc} on 126 images: {lo}–{hi}");
    let f1 = report["macro_f1"].as_f64().unwrap();
    let [flo, fhi] = [0, 1].map(|i| report["macro_f1_ci95"][i].as_f64().unwrap());
    assert!(flo <= f1 && f1 <= fhi && flo < fhi, "bootstrap interval of {f1}: {flo}–{fhi}");
    assert_eq!(v["deduplicated_removed"], duplicates);
    assert_eq!(v["deduplicated_report"]["images"], 126 - duplicates);
    assert_eq!(v["tta"], "none");
    assert!(stdout.contains(&format!("de-duplicated PrivateTest: {duplicates} rows with an exact pixel copy in Training removed")), "{stdout}");
    assert!(stdout.contains("(95% CI") && stdout.contains("Wilson") && stdout.contains("bootstrap"), "{stdout}");

    // A bare --tta is flip; flip-shift averages 10 views.
    let (_, flip) = eval_json(&["--data", data, "--tta"], &json);
    assert_eq!(flip["tta"], "flip");
    let (_, shift) = eval_json(&["--data", data, "--tta", "flip-shift"], &json);
    assert_eq!(shift["tta"], "flip-shift");
    assert_eq!(shift["report"]["images"], 126);

    // The default is both embedded networks; a repeated --model is an ensemble: the same
    // network twice averages to its own predictions, under both ids, with twice the parameters.
    let dir_s = model.to_str().unwrap();
    let (_, one) = eval_json(&["--data", data, "--model", dir_s], &json);
    assert_eq!(v["model"].as_str().unwrap().split('+').count(), 2, "{v}");
    let (stdout, ens) = eval_json(&["--data", data, "--model", dir_s, "--model", "sldcnn-fer2013"], &json);
    assert_eq!(ens["report"], one["report"], "{stdout}");
    assert_eq!(ens["parameters"].as_u64(), one["parameters"].as_u64().map(|p| 2 * p));
    assert_eq!(ens["model"].as_str().unwrap().split('+').count(), 2, "{ens}");

    // The same weights from the directory and from the binary: no discordant pair at all.
    let (stdout, cmp) = eval_json(&["--data", data, "--compare", dir_s, "sldcnn-fer2013"], &json);
    let t = &cmp["comparison"]["mcnemar"];
    assert_eq!((t["b"].as_u64(), t["c"].as_u64(), t["p_value"].as_f64()), (Some(0), Some(0), Some(1.0)), "{cmp}");
    assert_eq!(cmp["comparison"]["mcnemar_deduplicated"]["b"], 0);
    assert_eq!(cmp["models"].as_array().unwrap().len(), 2);
    assert!(stdout.contains("McNemar's test, A against B on PrivateTest (126 images)"), "{stdout}");

    // A side of --compare may be an ensemble, `A+B`: the network against itself twice, and
    // `shipped` against its two networks written out.
    let twice = format!("sldcnn-fer2013+{dir_s}");
    let (_, cmp) = eval_json(&["--data", data, "--compare", dir_s, &twice], &json);
    assert_eq!((cmp["comparison"]["mcnemar"]["b"].as_u64(), cmp["comparison"]["mcnemar"]["c"].as_u64()), (Some(0), Some(0)), "{cmp}");
    assert_eq!(cmp["models"][1]["parameters"].as_u64(), one["parameters"].as_u64().map(|p| 2 * p), "{cmp}");
    let (_, cmp) = eval_json(&["--data", data, "--compare", "shipped", "sldcnn-fer2013-e92+sldcnn-fer2013-ba"], &json);
    assert_eq!(cmp["models"][0]["model"], cmp["models"][1]["model"], "{cmp}");
    assert_eq!(cmp["models"][0]["report"], v["report"], "{cmp}");

    // --compare and --model exclude each other.
    let o = run(&["eval", "--data", data, "--model", model.to_str().unwrap(), "--compare", "shipped", "shipped"]);
    assert_eq!(o.status.code(), Some(2));
}

/// Distillation from the command line: `--plan-only` writes the options, the starting weights
/// and the two teachers' soft targets; training then uses the stored targets; other teachers or
/// another temperature in the same run directory are refused.
#[test]
fn train_distils_from_stored_soft_targets_of_two_teachers() {
    let Some(shipped) = shipped_model() else { return };
    let second = Path::new(env!("CARGO_MANIFEST_DIR")).join("training/sldcnn-c20/best");
    if !second.join("model.bpk").is_file() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some((data, _)) = fer2013_slice(dir.path(), 96, 32, 0) else { return };
    // Validation reads PublicTest.
    let text = std::fs::read_to_string(&data).unwrap().replace(",PrivateTest", ",PublicTest");
    std::fs::write(&data, text).unwrap();
    let run_dir = dir.path().join("run");
    let (data, run_s, teacher) = (data.to_str().unwrap(), run_dir.to_str().unwrap(), second.to_str().unwrap());
    let mut base = vec!["train", "--data", data, "--run-dir", run_s, "--init", "sldcnn-fer2013", "--teacher", "shipped", "--teacher", teacher];
    base.extend("--epochs 1 --batch-size 32 --lr 0.001".split(' '));

    let o = run(&[&base[..], &["--plan-only"]].concat());
    assert_eq!(o.status.code(), Some(0));
    let options: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("options.json")).unwrap()).unwrap();
    let teachers = options["distill"]["teachers"].as_array().unwrap();
    // `shipped` is its two networks.
    let names: Vec<&str> = teachers.iter().map(|t| t.as_str().unwrap().split('@').next().unwrap()).collect();
    assert_eq!(names, ["sldcnn-fer2013-e92", "sldcnn-fer2013-ba", "best"], "{teachers:?}");
    assert_eq!(options["distill"]["temperature"], 3.0);
    assert_eq!(std::fs::metadata(run_dir.join("soft-targets.f32")).unwrap().len(), 96 * 7 * 4);
    assert!(run_dir.join("init/model.bpk").is_file() && run_dir.join("init/config.json").is_file());
    assert!(shipped.join("config.json").is_file());

    let o = run(&base);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("using the soft targets stored"));
    let metrics = std::fs::read_to_string(run_dir.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 2, "{metrics}");
    assert!(run_dir.join("best/model.bpk").is_file());

    let o = run(&[&base[..], &["--distill-temperature", "2"]].concat());
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("other teachers, temperature"), "{}", String::from_utf8_lossy(&o.stderr));

    // --init takes one network; `shipped` is two, and the error names them.
    let other = dir.path().join("other");
    let o = run(&["train", "--data", data, "--run-dir", other.to_str().unwrap(), "--init", "shipped", "--plan-only"]);
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("shipped is an ensemble of sldcnn-fer2013-e92, sldcnn-fer2013-ba"), "{err}");
}
