//! `fer-batch crossval`: subject-independent k-fold cross-validation on CK+.

use anyhow::Context as _;

use super::Status;
use super::args::{CrossvalArgs, GlobalArgs};
use super::train::{TrainProgress, network, options};
use crate::classify::train::crossval::{CrossvalEvent, crossval};
use crate::classify::weights::ModelArtifact;

pub(super) fn run(a: CrossvalArgs, g: &GlobalArgs) -> anyhow::Result<Status> {
    let inits = ModelArtifact::named_all(&a.init)?;
    // With --init, each network keeps its own architecture; the options' network is the first's.
    let model = match inits.first() {
        Some(art) => art.config.clone(),
        None => network(&a.net)?,
    };
    let opts = options(model, &a.hyper);
    let ds = crate::dataset::load_ckplus(&a.data)?;
    let ids: Vec<String> = inits.iter().map(ModelArtifact::id).collect();
    let from = if ids.is_empty() { String::new() } else { format!(", starting from {}", ids.join(" and ")) };
    eprintln!("{}-fold cross-validation by subject on {} images{from}; run directory {}", a.folds, ds.len(), a.run_dir.display());
    let mut progress = TrainProgress::new(g, opts.epochs);
    let report = crossval(&ds, a.folds, &opts, &inits, &a.run_dir, a.hyper.device, &mut |e| match e {
        CrossvalEvent::FoldStart { fold, folds, train_images, test_images } => {
            eprintln!("fold {fold}/{folds}: training on {train_images} images, holding out {test_images}")
        }
        CrossvalEvent::Train(e) => progress.on(e),
        CrossvalEvent::FoldEnd(f) => eprintln!(
            "fold {}: {:.2}% of {} held-out images ({} subjects), macro-F1 {:.3}",
            f.fold,
            f.accuracy * 100.0,
            f.test_images,
            f.test_subjects,
            f.macro_f1
        ),
    })?;
    progress.bar.finish_and_clear();
    println!("data: {} ({} images, {} folds by subject)", a.data.display(), report.pooled.images, a.folds);
    println!("per-fold accuracy: mean {:.2}% ± {:.2} (sample sd)", report.mean_accuracy * 100.0, report.std_accuracy * 100.0);
    println!("pooled over all held-out images:");
    print!("{}", report.pooled.to_table());
    for (id, alone) in ids.iter().zip(&report.members) {
        let [lo, hi] = alone.accuracy_ci95;
        println!(
            "{id} alone (pooled, fine-tuned the same way): {:.2}% ({:.2}-{:.2}%), macro-F1 {:.3}",
            alone.accuracy * 100.0,
            lo * 100.0,
            hi * 100.0,
            alone.macro_f1
        );
    }
    if let Some(path) = a.json {
        let json = serde_json::json!({
            "data": a.data.display().to_string(),
            "init": ids,
            "init_models": inits.iter().map(|i| &i.config).collect::<Vec<_>>(),
            "options": opts,
            "report": report,
        });
        std::fs::write(&path, serde_json::to_vec_pretty(&json)?).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(Status::Success)
}
