//! Subject-independent k-fold cross-validation (the paper's CK+ protocol, section 5 / Table 4).
//!
//! In: a [`Dataset`] whose images carry subject ids (CK+), the number of folds, [`TrainOptions`]
//! and the networks to start every fold from (none: random weights; one: fine-tuning; several:
//! each is fine-tuned, with its own architecture, and the fold is scored on their averaged
//! probabilities, as `--model A --model B` classifies). Out: a [`CrossvalReport`]: per-fold
//! accuracy, their mean and spread, one [`EvalReport`] pooled over all held-out images, and
//! with several networks one more per network scored alone (what each start is worth, apart
//! from the averaging). The run directory
//! holds one training run per fold, or one per fold and network:
//!
//! ```text
//! RUN/fold-01/{checkpoint/, best/, metrics.csv}   an ordinary `train` run (resumable)
//! RUN/fold-01/final/{config.json, model.bpk}      the weights after the last epoch
//! RUN/fold-01/net-1/…, RUN/fold-01/net-2/…        the same per network, with several
//! RUN/fold-01/predictions.json                    (true, predicted) per held-out image, and each
//!                                                 network's own prediction with several
//! ```
//!
//! The model scored on a fold is the one after the last epoch, never the epoch that did best
//! on that fold: choosing by held-out accuracy would leak the test fold into model selection.
//! The per-epoch held-out numbers in each `metrics.csv` are a learning curve, nothing more. A
//! fold with `predictions.json` is done; re-running the same command resumes the others.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{TrainError, TrainEvent, TrainOptions, train_from};
use crate::classify::model::SldcnnConfig;
use crate::classify::weights::ModelArtifact;
use crate::classify::{Classifier, ComputeDevice, Expression};
use crate::dataset::{Dataset, subject_folds};
use crate::evaluate::EvalReport;

/// One fold's result.
#[derive(Debug, Clone, Serialize)]
pub struct FoldResult {
    /// 1-based fold number.
    pub fold: usize,
    /// Images trained on.
    pub train_images: usize,
    /// Held-out images.
    pub test_images: usize,
    /// Distinct subjects held out.
    pub test_subjects: usize,
    /// Accuracy on the held-out images.
    pub accuracy: f32,
    /// Macro-F1 on the held-out images (classes present in the fold).
    pub macro_f1: f32,
}

/// Result of a whole cross-validation.
#[derive(Debug, Clone, Serialize)]
pub struct CrossvalReport {
    /// Per fold, in order.
    pub folds: Vec<FoldResult>,
    /// Mean of the per-fold accuracies.
    pub mean_accuracy: f32,
    /// Sample standard deviation of the per-fold accuracies.
    pub std_accuracy: f32,
    /// Every held-out prediction of every fold, scored together.
    pub pooled: EvalReport,
    /// With several networks per fold: each network's own predictions, pooled like `pooled`, in
    /// the order of the initial networks. Empty with one network, or when a fold finished by
    /// an older version left no per-network predictions and its weights are gone.
    pub members: Vec<EvalReport>,
}

/// Progress of a cross-validation.
#[derive(Debug, Clone)]
pub enum CrossvalEvent {
    /// A fold starts training (or resumes).
    FoldStart {
        /// 1-based fold number.
        fold: usize,
        /// Number of folds.
        folds: usize,
        /// Images trained on.
        train_images: usize,
        /// Held-out images.
        test_images: usize,
    },
    /// A training event of the current fold.
    Train(TrainEvent),
    /// A fold finished (or was already done).
    FoldEnd(FoldResult),
}

#[derive(Debug, Serialize, Deserialize)]
struct Predictions {
    /// `(true, predicted)` class indices per held-out image, in dataset order.
    pairs: Vec<(usize, usize)>,
    /// With several networks: each network's predicted class index per held-out image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    members: Vec<Vec<usize>>,
}

/// Runs (or resumes) `k`-fold cross-validation of `ds` into `run_dir`, starting every fold from
/// each of `inits` (random weights of `opts.model` when empty). Each of `inits` is fine-tuned
/// with its own network configuration and the rest of `opts`, so networks of different
/// architectures (same input size) may be averaged.
pub fn crossval(
    ds: &Dataset,
    k: usize,
    opts: &TrainOptions,
    inits: &[ModelArtifact],
    run_dir: &Path,
    device: ComputeDevice,
    on_event: &mut dyn FnMut(CrossvalEvent),
) -> Result<CrossvalReport, TrainError> {
    if k < 2 {
        return Err(TrainError::Options(format!("cross-validation needs at least 2 folds, got {k}")));
    }
    if ds.subjects.iter().any(Option::is_none) {
        return Err(TrainError::Options("every image needs a subject id for a subject-independent split".into()));
    }
    // Checked before any fold trains: networks of other architectures are fine, other input
    // sizes are not.
    if let Some(other) = inits.iter().find(|i| i.config.input_size != ds.side) {
        return Err(TrainError::Options(format!("--init {} takes {1}×{1} images, but the data has {2}×{2}", other.id(), other.config.input_size, ds.side)));
    }
    let folds = subject_folds(ds, k);
    if let Some(empty) = folds.iter().position(Vec::is_empty) {
        return Err(TrainError::Options(format!("fold {} has no images: the data has fewer subjects than folds", empty + 1)));
    }
    let mut results = Vec::with_capacity(k);
    let mut pooled = Vec::new();
    let mut member_pairs: Option<Vec<Vec<(usize, usize)>>> = (inits.len() > 1).then(|| vec![Vec::new(); inits.len()]);
    for (f, test_idx) in folds.iter().enumerate() {
        let fold = f + 1;
        let dir = run_dir.join(format!("fold-{fold:02}"));
        let train_idx: Vec<usize> = (0..ds.len()).filter(|i| test_idx.binary_search(i).is_err()).collect();
        let (train_set, test_set) = (ds.subset(&train_idx), ds.subset(test_idx));
        let members = member_dirs(&dir, inits.len());
        let preds = match read_predictions(&dir.join("predictions.json"))? {
            Some(p) if p.pairs.len() == test_set.len() => complete_members(p, &members, &test_set, device, &dir)?,
            _ => {
                on_event(CrossvalEvent::FoldStart { fold, folds: k, train_images: train_set.len(), test_images: test_set.len() });
                let starts: Vec<Option<&ModelArtifact>> = if inits.is_empty() { vec![None] } else { inits.iter().map(Some).collect() };
                let mut configs = Vec::with_capacity(members.len());
                for (init, member) in starts.into_iter().zip(&members) {
                    let model = init.map_or_else(|| opts.model.clone(), |a| a.config.clone());
                    configs.push(model.clone());
                    let member_opts = TrainOptions { model, ..opts.clone() };
                    train_from(&train_set, &test_set, member_opts, init, member, device, &mut |e| on_event(CrossvalEvent::Train(e)))?;
                }
                let p = score_final(&members, &configs, &test_set, device)?;
                write_predictions(&dir, &p)?;
                p
            }
        };
        let report = report_of(&preds.pairs);
        let mut subjects: Vec<&str> = test_set.subjects.iter().flatten().map(String::as_str).collect();
        subjects.sort_unstable();
        subjects.dedup();
        let r = FoldResult {
            fold,
            train_images: train_set.len(),
            test_images: test_set.len(),
            test_subjects: subjects.len(),
            accuracy: report.accuracy,
            macro_f1: report.macro_f1,
        };
        on_event(CrossvalEvent::FoldEnd(r.clone()));
        results.push(r);
        if preds.members.len() != inits.len() {
            member_pairs = None;
        }
        if let Some(mp) = member_pairs.as_mut() {
            for (acc, own) in mp.iter_mut().zip(&preds.members) {
                acc.extend(preds.pairs.iter().zip(own).map(|(&(t, _), &p)| (t, p)));
            }
        }
        pooled.extend(preds.pairs);
    }
    let accs: Vec<f64> = results.iter().map(|r| f64::from(r.accuracy)).collect();
    let mean = accs.iter().sum::<f64>() / accs.len() as f64;
    let var = accs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (accs.len() as f64 - 1.0);
    Ok(CrossvalReport {
        folds: results,
        mean_accuracy: mean as f32,
        std_accuracy: var.sqrt() as f32,
        pooled: report_of(&pooled),
        members: member_pairs.unwrap_or_default().iter().map(|p| report_of(p)).collect(),
    })
}

/// The training run directories of a fold started from `networks` initial networks: the fold's
/// own directory for one (or none), `net-1`, `net-2`, … inside it for several.
fn member_dirs(fold_dir: &Path, networks: usize) -> Vec<PathBuf> {
    match networks {
        0 | 1 => vec![fold_dir.to_path_buf()],
        n => (1..=n).map(|i| fold_dir.join(format!("net-{i}"))).collect(),
    }
}

/// Saves each run's last-epoch weights as an artifact (with the configuration it was trained
/// with, in `configs`) and classifies the held-out images with their average, and with each
/// alone when there are several.
fn score_final(runs: &[PathBuf], configs: &[SldcnnConfig], test_set: &Dataset, device: ComputeDevice) -> Result<Predictions, TrainError> {
    for (dir, config) in runs.iter().zip(configs) {
        let ckpt = dir.join("checkpoint").join("model.bpk");
        let bytes = std::fs::read(&ckpt).map_err(|source| TrainError::Io { path: ckpt.clone(), source })?;
        ModelArtifact::write_dir(config, &bytes, &dir.join("final"))?;
    }
    let members = load_finals(runs, device)?;
    let own = if members.len() > 1 { predict_each(&members, test_set)? } else { Vec::new() };
    let ensemble = predict(&Classifier::averaging(members)?, test_set)?;
    Ok(Predictions { pairs: test_set.labels.iter().zip(ensemble).map(|(t, p)| (t.index(), p)).collect(), members: own })
}

/// A finished fold's predictions, with each network's own added (and saved) when they are
/// missing (a fold finished before they were recorded) and the networks' final weights are
/// still there; unchanged otherwise.
fn complete_members(mut p: Predictions, runs: &[PathBuf], test_set: &Dataset, device: ComputeDevice, fold_dir: &Path) -> Result<Predictions, TrainError> {
    if runs.len() < 2 || p.members.len() == runs.len() || !runs.iter().all(|d| d.join("final").join("model.bpk").exists()) {
        return Ok(p);
    }
    p.members = predict_each(&load_finals(runs, device)?, test_set)?;
    write_predictions(fold_dir, &p)?;
    Ok(p)
}

/// One classifier per run directory, from its `final/` weights.
fn load_finals(runs: &[PathBuf], device: ComputeDevice) -> Result<Vec<Classifier>, TrainError> {
    runs.iter().map(|dir| Ok(Classifier::new(&ModelArtifact::from_dir(&dir.join("final"))?, device)?)).collect()
}

/// Each classifier's own [`predict`]ions of `set`.
fn predict_each(classifiers: &[Classifier], set: &Dataset) -> Result<Vec<Vec<usize>>, TrainError> {
    classifiers.iter().map(|c| predict(c, set)).collect()
}

/// The predicted class index of every image of `set`.
fn predict(classifier: &Classifier, set: &Dataset) -> Result<Vec<usize>, TrainError> {
    let crops: Vec<&[u8]> = (0..set.len()).map(|i| set.image(i)).collect();
    Ok(classifier.classify(&crops, 256)?.iter().map(|s| s.label().index()).collect())
}

fn write_predictions(fold_dir: &Path, p: &Predictions) -> Result<(), TrainError> {
    let path = fold_dir.join("predictions.json");
    let json = serde_json::to_vec(p).map_err(|e| TrainError::Checkpoint { path: path.clone(), reason: e.to_string() })?;
    super::write_atomic(&path, &json)
}

fn read_predictions(path: &Path) -> Result<Option<Predictions>, TrainError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let p: Predictions = serde_json::from_slice(&bytes).map_err(|e| TrainError::Checkpoint { path: path.to_path_buf(), reason: e.to_string() })?;
            let out_of_range = |c: usize| c >= Expression::COUNT;
            if p.pairs.iter().any(|&(t, q)| out_of_range(t) || out_of_range(q))
                || p.members.iter().any(|m| m.len() != p.pairs.len() || m.iter().copied().any(out_of_range))
            {
                return Err(TrainError::Checkpoint { path: path.to_path_buf(), reason: "class index out of range or wrong count".into() });
            }
            Ok(Some(p))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TrainError::Io { path: path.to_path_buf(), source }),
    }
}

fn report_of(pairs: &[(usize, usize)]) -> EvalReport {
    EvalReport::from_pairs(pairs.iter().filter_map(|&(t, p)| Some((Expression::from_index(t)?, Expression::from_index(p)?))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::train::tests::{tiny_opts, toy};

    /// Toy data with subjects: 6 subjects × 4 images of two separable classes.
    fn toy_with_subjects() -> Dataset {
        let mut ds = toy(24);
        ds.subjects = (0..24).map(|i| Some(format!("S{:03}", i / 4))).collect();
        ds
    }

    #[test]
    fn every_image_is_held_out_once_and_a_rerun_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let ds = toy_with_subjects();
        let mut opts = tiny_opts();
        opts.epochs = 10;
        let mut started = 0;
        let report = crossval(&ds, 3, &opts, &[], dir.path(), ComputeDevice::Cpu, &mut |e| {
            if let CrossvalEvent::FoldStart { .. } = e {
                started += 1
            }
        })
        .unwrap();
        assert_eq!(started, 3);
        assert_eq!(report.folds.len(), 3);
        assert_eq!(report.pooled.images, 24, "every image held out exactly once");
        assert_eq!(report.folds.iter().map(|f| f.test_images).sum::<usize>(), 24);
        assert!(report.folds.iter().all(|f| f.test_subjects == 2 && f.train_images == 16));
        let mean = report.folds.iter().map(|f| f.accuracy).sum::<f32>() / 3.0;
        assert!((report.mean_accuracy - mean).abs() < 1e-6);
        assert!(report.pooled.accuracy > 0.9, "toy task not learned: {}", report.pooled.accuracy);
        assert!(dir.path().join("fold-02/final/model.bpk").exists());

        // A rerun trains nothing and reports the same numbers.
        let mut restarted = 0;
        let again = crossval(&ds, 3, &opts, &[], dir.path(), ComputeDevice::Cpu, &mut |e| {
            if let CrossvalEvent::FoldStart { .. } = e {
                restarted += 1
            }
        })
        .unwrap();
        assert_eq!(restarted, 0);
        assert_eq!(again.pooled.confusion, report.pooled.confusion);
    }

    #[test]
    fn folds_need_subjects_and_enough_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let opts = tiny_opts();
        let err = crossval(&toy(8), 2, &opts, &[], dir.path(), ComputeDevice::Cpu, &mut |_| {}).unwrap_err().to_string();
        assert!(err.contains("subject id"), "{err}");
        let err = crossval(&toy_with_subjects(), 7, &opts, &[], dir.path(), ComputeDevice::Cpu, &mut |_| {}).unwrap_err().to_string();
        assert!(err.contains("fewer subjects than folds"), "{err}");
    }

    #[test]
    fn fine_tuning_starts_from_the_given_weights() {
        let dir = tempfile::tempdir().unwrap();
        let ds = toy_with_subjects();
        let mut opts = tiny_opts();
        opts.epochs = 10;
        // Train once, then start a cross-validation from that model with a zero learning rate:
        // the folds' final weights must be the initial ones.
        super::super::train(&ds, &ds, opts.clone(), &dir.path().join("pre"), ComputeDevice::Cpu, &mut |_| {}).unwrap();
        let init = ModelArtifact::from_dir(&dir.path().join("pre/best")).unwrap();
        let mut frozen = opts.clone();
        frozen.lr = 0.0;
        frozen.lr_min = 0.0;
        frozen.weight_decay = 0.0;
        frozen.epochs = 1;
        let from_init = crossval(&ds, 2, &frozen, std::slice::from_ref(&init), &dir.path().join("cv"), ComputeDevice::Cpu, &mut |_| {}).unwrap();
        let from_scratch = crossval(&ds, 2, &frozen, &[], &dir.path().join("cv0"), ComputeDevice::Cpu, &mut |_| {}).unwrap();
        assert!(from_init.pooled.accuracy > 0.9, "the initial model's skill was lost: {}", from_init.pooled.accuracy);
        assert!(
            from_scratch.pooled.accuracy < from_init.pooled.accuracy - 0.2,
            "an untrained network should do worse: {} vs {}",
            from_scratch.pooled.accuracy,
            from_init.pooled.accuracy
        );

        // Two networks per fold (here the same one twice): each is trained in its own
        // directory and the fold is scored on their average, which equals the one network.
        let pair = crossval(&ds, 2, &frozen, &[init.clone(), init.clone()], &dir.path().join("cv2n"), ComputeDevice::Cpu, &mut |_| {}).unwrap();
        assert_eq!(pair.pooled.confusion, from_init.pooled.confusion);
        assert!(dir.path().join("cv2n/fold-01/net-1/final/model.bpk").exists() && dir.path().join("cv2n/fold-02/net-2/final/model.bpk").exists());
        // Each network is also scored alone; one network has no separate scores.
        assert_eq!(pair.members.len(), 2);
        assert!(pair.members.iter().all(|m| m.confusion == from_init.pooled.confusion));
        assert!(from_init.members.is_empty());
        // A fold finished before per-network predictions were recorded gets them from its
        // networks' final weights on the next run, without training again.
        let fold1 = dir.path().join("cv2n/fold-01/predictions.json");
        let mut old: serde_json::Value = serde_json::from_slice(&std::fs::read(&fold1).unwrap()).unwrap();
        assert_eq!(old["members"].as_array().unwrap().len(), 2);
        old.as_object_mut().unwrap().remove("members");
        std::fs::write(&fold1, serde_json::to_vec(&old).unwrap()).unwrap();
        let mut restarted = 0;
        let again = crossval(&ds, 2, &frozen, &[init.clone(), init.clone()], &dir.path().join("cv2n"), ComputeDevice::Cpu, &mut |e| {
            if let CrossvalEvent::FoldStart { .. } = e {
                restarted += 1
            }
        })
        .unwrap();
        assert_eq!(restarted, 0);
        assert_eq!(again.members.len(), 2);
        assert!(std::fs::read_to_string(&fold1).unwrap().contains("members"));
        // Without the weights the scores per network cannot be made, and none are reported.
        std::fs::write(&fold1, serde_json::to_vec(&old).unwrap()).unwrap();
        std::fs::remove_dir_all(dir.path().join("cv2n/fold-01/net-2/final")).unwrap();
        let partial = crossval(&ds, 2, &frozen, &[init.clone(), init.clone()], &dir.path().join("cv2n"), ComputeDevice::Cpu, &mut |_| {}).unwrap();
        assert!(partial.members.is_empty());
        assert_eq!(partial.pooled.confusion, pair.pooled.confusion);
        // Networks of another architecture are fine-tuned as they are and averaged with the
        // first: each fold's final weights keep their own configuration.
        let mut other = opts.clone();
        other.model.growth_rate = 6.into();
        super::super::train(&ds, &ds, other.clone(), &dir.path().join("pre6"), ComputeDevice::Cpu, &mut |_| {}).unwrap();
        let init6 = ModelArtifact::from_dir(&dir.path().join("pre6/best")).unwrap();
        let mixed = crossval(&ds, 2, &frozen, &[init.clone(), init6.clone()], &dir.path().join("cv2m"), ComputeDevice::Cpu, &mut |_| {}).unwrap();
        assert_eq!(mixed.members[0].confusion, from_init.pooled.confusion, "the first network, frozen, scores as alone");
        for fold in ["fold-01", "fold-02"] {
            let finals = ["net-1", "net-2"].map(|n| ModelArtifact::from_dir(&dir.path().join("cv2m").join(fold).join(n).join("final")).unwrap());
            assert_eq!((&finals[0].config, &finals[1].config), (&init.config, &init6.config), "{fold}");
        }
    }
}
