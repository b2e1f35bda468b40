//! `fer-batch eval`: one model's scores on a FER2013 split, or two models compared.
//!
//! In: the FER2013 CSV (and FER+ votes for `--labels ferplus`), one model (`--model`; an
//! ensemble averaging its members' probabilities when repeated) or two (`--compare A B`,
//! either side an ensemble written `A1+A2`).
//! Out on stdout: accuracy and macro-F1 with 95% intervals, per-class metrics and the
//! confusion matrix; the same scores on the split without the rows whose
//! pixels exactly equal a Training row's (the count removed is printed); with `--compare`,
//! McNemar's test on both. `--json` writes the same as JSON.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::Status;
use super::args::{EvalArgs, GlobalArgs, LabelSource};
use crate::classify::{Classifier, Expression};
use crate::dataset::{self, Dataset, Split};
use crate::evaluate::stats::{McNemar, McNemarMethod};
use crate::evaluate::{EvalReport, predict};

/// Loads the FER2013 splits asked for, with FER2013 or FER+ labels.
pub(super) fn load_splits(
    data: &std::path::Path,
    splits: &[Split],
    labels: LabelSource,
    ferplus: Option<&std::path::Path>,
) -> anyhow::Result<std::collections::BTreeMap<Split, dataset::Dataset>> {
    let fp = match labels {
        LabelSource::Fer2013 => None,
        LabelSource::Ferplus => {
            let path = ferplus.context("--labels ferplus needs --ferplus PATH (fer2013new.csv)")?;
            Some(dataset::load_ferplus_majority(path)?)
        }
    };
    Ok(dataset::load_fer2013_with_labels(data, splits, fp.as_deref())?)
}

/// The evaluated split and, for a test split, the indices of its rows without an exact pixel
/// copy in Training.
struct Data {
    split: Split,
    set: Dataset,
    deduplicated: Option<Vec<usize>>,
}

impl Data {
    fn load(a: &EvalArgs) -> anyhow::Result<Self> {
        let split = Split::parse(&a.split).with_context(|| format!("unknown split {:?}: use private, public or train", a.split))?;
        if split == Split::Training {
            let mut sets = load_splits(&a.data, &[split], a.labels, a.ferplus.as_deref())?;
            return Ok(Self { split, set: sets.remove(&split).unwrap_or_default(), deduplicated: None });
        }
        // Duplicates are found among all Training rows, whatever the labels: FER+ drops some
        // Training rows, so with FER+ labels the reference is read separately.
        let (set, training) = match a.labels {
            LabelSource::Fer2013 => {
                let mut sets = load_splits(&a.data, &[split, Split::Training], a.labels, None)?;
                (sets.remove(&split).unwrap_or_default(), sets.remove(&Split::Training).unwrap_or_default())
            }
            LabelSource::Ferplus => {
                let mut sets = load_splits(&a.data, &[split], a.labels, a.ferplus.as_deref())?;
                let mut training = dataset::load_fer2013(&a.data, &[Split::Training])?;
                (sets.remove(&split).unwrap_or_default(), training.remove(&Split::Training).unwrap_or_default())
            }
        };
        let deduplicated = Some(set.indices_without_copies_in(&training));
        Ok(Self { split, set, deduplicated })
    }

    fn removed(&self) -> Option<usize> {
        self.deduplicated.as_ref().map(|kept| self.set.len() - kept.len())
    }

    fn report(&self, predicted: &[Expression]) -> EvalReport {
        EvalReport::from_pairs(self.set.labels.iter().copied().zip(predicted.iter().copied()))
    }

    fn deduplicated_report(&self, predicted: &[Expression]) -> Option<EvalReport> {
        let kept = self.deduplicated.as_ref()?;
        Some(EvalReport::from_pairs(kept.iter().map(|&i| (self.set.labels[i], predicted[i]))))
    }

    /// McNemar's test of A against B on the whole split and on the de-duplicated rows.
    fn mcnemar(&self, a: &[Expression], b: &[Expression]) -> (McNemar, Option<McNemar>) {
        let whole = McNemar::from_predictions(&self.set.labels, a, b);
        let dedup = self.deduplicated.as_ref().map(|kept| {
            let pick = |v: &[Expression]| kept.iter().map(|&i| v[i]).collect::<Vec<_>>();
            McNemar::from_predictions(&pick(&self.set.labels), &pick(a), &pick(b))
        });
        (whole, dedup)
    }
}

/// One model's predictions and reports.
struct ModelResult {
    id: String,
    parameters: usize,
    images_per_s: f64,
    predicted: Vec<Expression>,
    report: EvalReport,
    deduplicated: Option<EvalReport>,
}

impl ModelResult {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "model": self.id, "parameters": self.parameters, "images_per_s": self.images_per_s,
            "report": self.report, "deduplicated_report": self.deduplicated,
        })
    }
}

fn evaluate_model(specs: &[PathBuf], a: &EvalArgs, data: &Data) -> anyhow::Result<ModelResult> {
    let classifier = Classifier::load(specs, false, a.device, a.tta)?;
    let t0 = std::time::Instant::now();
    let predicted = predict(&classifier, &data.set, a.batch_size)?;
    let images_per_s = data.set.len() as f64 / t0.elapsed().as_secs_f64().max(1e-9);
    Ok(ModelResult {
        id: classifier.info().id.clone(),
        parameters: classifier.info().parameters,
        images_per_s,
        report: data.report(&predicted),
        deduplicated: data.deduplicated_report(&predicted),
        predicted,
    })
}

/// The models one side of `--compare` names: a model directory or `shipped`, or an ensemble
/// written `A+B` (split on `+` unless the whole of it is a directory).
fn ensemble_members(spec: &Path) -> Vec<PathBuf> {
    if spec.is_dir() {
        return vec![spec.to_path_buf()];
    }
    spec.to_string_lossy().split('+').map(PathBuf::from).collect()
}

fn mcnemar_line(t: &McNemar) -> String {
    let test = match t.method {
        McNemarMethod::ExactBinomial => format!("exact binomial, min(b, c) = {}", t.statistic),
        McNemarMethod::ChiSquareCorrected => format!("chi-square with continuity correction = {:.3}", t.statistic),
    };
    format!("b = {} (only A right), c = {} (only B right); {test}; p = {:.4}", t.b, t.c, t.p_value)
}

pub(super) fn run(a: EvalArgs, _g: &GlobalArgs) -> anyhow::Result<Status> {
    let data = Data::load(&a)?;
    let specs: Vec<Vec<PathBuf>> = match &a.compare {
        Some(pair) => pair.iter().map(|p| ensemble_members(p)).collect(),
        None => vec![a.model.clone()],
    };
    let results = specs.iter().map(|s| evaluate_model(s, &a, &data)).collect::<anyhow::Result<Vec<_>>>()?;

    println!("data: {} split {} ({:?} labels), TTA {}", a.data.display(), data.split.name(), a.labels, a.tta);
    let dedup_note = |n: usize| format!("de-duplicated {}: {n} rows with an exact pixel copy in Training removed", data.split.name());
    for (r, name) in results.iter().zip(["A", "B"]) {
        println!();
        if results.len() > 1 {
            println!("model {name}: {} ({} parameters)", r.id, r.parameters);
            print!("{}", r.report.summary());
        } else {
            println!("model: {} ({} parameters)", r.id, r.parameters);
            print!("{}", r.report.to_table());
        }
        if let (Some(d), Some(removed)) = (&r.deduplicated, data.removed()) {
            println!("\n{}", dedup_note(removed));
            print!("{}", d.summary());
        }
        println!("\n{:.1} images/s on {}", r.images_per_s, a.device);
    }
    let mut comparison = serde_json::Value::Null;
    if let [ra, rb] = &results[..] {
        let (whole, dedup) = data.mcnemar(&ra.predicted, &rb.predicted);
        println!("\nMcNemar's test, A against B on {} ({} images):\n  {}", data.split.name(), data.set.len(), mcnemar_line(&whole));
        if let (Some(t), Some(removed)) = (&dedup, data.removed()) {
            println!("  de-duplicated ({} images): {}", data.set.len() - removed, mcnemar_line(t));
        }
        comparison = serde_json::json!({ "mcnemar": whole, "mcnemar_deduplicated": dedup });
    }

    if let Some(path) = &a.json {
        let mut json = serde_json::json!({
            "split": data.split.name(), "tta": a.tta.to_string(), "device": a.device.to_string(),
            "deduplicated_removed": data.removed(),
        });
        if let [r] = &results[..] {
            // The single-model layout of earlier versions, with the new fields beside it.
            for (k, v) in r.json().as_object().into_iter().flatten() {
                json[k] = v.clone();
            }
        } else {
            json["models"] = results.iter().map(ModelResult::json).collect();
            json["comparison"] = comparison;
        }
        std::fs::write(path, serde_json::to_vec_pretty(&json)?).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(Status::Success)
}
