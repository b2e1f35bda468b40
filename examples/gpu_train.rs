//! Trains SLDCNN on a lent GPU machine, resumably, without FFmpeg (so the binary stays small
//! enough to travel with its data): the same `classify::train::train` and the same
//! hyper-parameters as the README's `fer-batch train` command for the shipped model.
//!
//! In: `--data DIR` holding `train.bin` and `val.bin` (records of 1 label byte + 48×48 grey
//! bytes, made from FER2013's Training and PublicTest rows by `scripts/gpu-train.sh pack`),
//! `--run-dir DIR` (a run directory; an existing checkpoint there is resumed), `--device`
//! (default cuda). The run's options are `RUN/options.json` when the directory was planned by
//! `fer-batch train --plan-only …` (any recipe: preset, batch size, EMA, distillation with the
//! soft targets stored beside it, starting weights in `RUN/init/`); otherwise the shipped
//! model's recipe for `--epochs N`. Out: the run directory (checkpoint every 100 steps and each
//! epoch, `best/`, `metrics.csv`), and one line per epoch on stdout.
//!
//! ```sh
//! bash scripts/torch-env.sh cargo build --release --features cuda --example gpu_train
//! ```

use std::path::Path;

use fer_batch::classify::Expression;
use fer_batch::classify::model::SldcnnConfig;
use fer_batch::classify::train::{TrainEvent, TrainOptions, train_from};
use fer_batch::classify::weights::ModelArtifact;
use fer_batch::dataset::Dataset;

const SIDE: usize = 48;

fn load(path: &Path) -> anyhow::Result<Dataset> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let record = 1 + SIDE * SIDE;
    anyhow::ensure!(!bytes.is_empty() && bytes.len() % record == 0, "{}: not a whole number of {record}-byte records", path.display());
    let mut ds = Dataset { side: SIDE, ..Default::default() };
    for r in bytes.chunks_exact(record) {
        let label = Expression::ALL.get(r[0] as usize).copied().ok_or_else(|| anyhow::anyhow!("label {} out of range", r[0]))?;
        ds.labels.push(label);
        ds.subjects.push(None);
        ds.pixels.extend_from_slice(&r[1..]);
    }
    Ok(ds)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let usage = "usage: gpu_train --data DIR --run-dir DIR [--epochs N] [--device cuda]";
    let data = flag("--data").ok_or_else(|| anyhow::anyhow!(usage))?;
    let run_dir = std::path::PathBuf::from(flag("--run-dir").ok_or_else(|| anyhow::anyhow!(usage))?);
    let device = flag("--device").unwrap_or_else(|| "cuda".into()).parse().map_err(anyhow::Error::msg)?;
    let planned = run_dir.join("options.json");
    let opts: TrainOptions = if planned.is_file() {
        serde_json::from_slice(&std::fs::read(&planned)?).map_err(|e| anyhow::anyhow!("{}: {e}", planned.display()))?
    } else {
        // The shipped model's recipe: compact preset, depth 20, spatial attention.
        let epochs: usize = flag("--epochs").ok_or_else(|| anyhow::anyhow!("{usage} (--epochs: no options.json in the run directory)"))?.parse()?;
        TrainOptions::shipped_recipe(SldcnnConfig::compact(20), epochs)
    };
    let init_dir = run_dir.join("init");
    let init = if init_dir.is_dir() { Some(ModelArtifact::from_dir(&init_dir)?) } else { None };
    let train_set = load(&Path::new(&data).join("train.bin"))?;
    let val_set = load(&Path::new(&data).join("val.bin"))?;
    println!(
        "training on {} images, validating on {}, {device}, {} epochs of batch {}{}{}",
        train_set.len(),
        val_set.len(),
        opts.epochs,
        opts.batch_size,
        init.as_ref().map(|i| format!(", from {}", i.id())).unwrap_or_default(),
        opts.distill.as_ref().map(|d| format!(", distilling from {}", d.teachers.join(" + "))).unwrap_or_default()
    );

    train_from(&train_set, &val_set, opts, init.as_ref(), &run_dir, device, &mut |e| match e {
        TrainEvent::Resumed { epoch, step } => println!("resumed at epoch {epoch}, step {step}"),
        TrainEvent::EpochEnd(m) => println!(
            "epoch {}: train acc {:.4}, val acc {:.4}, val macro-F1 {:.4}, {:.0} images/s{}",
            m.epoch,
            m.train_acc,
            m.val_acc,
            m.val_macro_f1,
            m.images_per_sec,
            if m.best { " (best)" } else { "" }
        ),
        _ => {}
    })?;
    Ok(())
}
