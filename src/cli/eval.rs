//! `fer-batch eval`.

use anyhow::Context as _;

use super::Status;
use super::args::{EvalArgs, GlobalArgs, LabelSource};
use crate::classify::Classifier;
use crate::classify::weights::ModelArtifact;
use crate::dataset::{self, Split};

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

pub(super) fn run(a: EvalArgs, _g: &GlobalArgs) -> anyhow::Result<Status> {
    let split = Split::parse(&a.split).with_context(|| format!("unknown split {:?}: use private, public or train", a.split))?;
    let artifact = ModelArtifact::load(a.model.as_deref())?;
    let classifier = Classifier::new(&artifact, a.device)?.with_flip_tta(a.tta);
    let sets = load_splits(&a.data, &[split], a.labels, a.ferplus.as_deref())?;
    let ds = &sets[&split];
    let t0 = std::time::Instant::now();
    let report = crate::evaluate::evaluate(&classifier, ds, a.batch_size)?;
    let secs = t0.elapsed().as_secs_f64();
    println!("model: {} ({} parameters)", classifier.info().id, classifier.info().parameters);
    println!("data: {} split {} ({:?} labels){}", a.data.display(), split.name(), a.labels, if a.tta { ", flip TTA" } else { "" });
    print!("{}", report.to_table());
    println!("\n{:.1} images/s on {}", ds.len() as f64 / secs, a.device);
    if let Some(path) = a.json {
        let json = serde_json::json!({
            "model": classifier.info().id, "split": split.name(), "tta": a.tta, "report": report,
        });
        std::fs::write(&path, serde_json::to_vec_pretty(&json)?).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(Status::Success)
}
