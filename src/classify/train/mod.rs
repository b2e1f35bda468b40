//! `fer-batch train`: trains SLDCNN on FER2013 (or any [`Dataset`]) with the paper's joint
//! loss, validating every epoch and keeping the best weights.
//!
//! In: a training and a validation [`Dataset`] and [`TrainOptions`]. Out: a run directory:
//!
//! ```text
//! RUN/checkpoint/{model.bpk, optim.bpk, state.json}   latest state, rewritten atomically
//! RUN/best/{config.json, model.bpk}                    best validation accuracy so far
//! RUN/metrics.csv                                      one row per epoch
//! ```
//!
//! Interrupting and re-running the same command resumes from the checkpoint, mid-epoch
//! included: the shuffle of each epoch is a pure function of (seed, epoch), so the remaining
//! steps are exactly those the interrupted run would have taken. A run keeps the options it
//! started with: resuming with other values (a longer `--epochs` included, which would restart
//! the learning-rate schedule warm) is refused.
//!
//! With `distill` options the loss adds a distillation term towards the teachers' soft targets,
//! which the caller stores in the run directory first ([`distill::SoftTargets`]).
//!
//! With `ema-decay` > 0 an exponential moving average of the weights ([`ema`]) is kept beside
//! them (`RUN/checkpoint/ema.bpk`); validation, selection of `RUN/best` and the returned
//! report then use the averaged weights.

pub mod augment;
pub mod crossval;
pub mod distill;
pub mod ema;
pub mod loss;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module as _;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::store::ModuleRecord;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng as _;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom as _;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::model::{Sldcnn, SldcnnConfig};
use super::weights::ModelArtifact;
use super::{Classifier, ComputeDevice, ModelInfo, burn_device};
use crate::dataset::Dataset;
use crate::evaluate::EvalReport;
use augment::{AugmentConfig, augment_into};
use distill::{DistillOptions, SoftTargets};
use loss::{LossConfig, joint_loss};

/// Errors of a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading or writing the run directory failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The checkpoint could not be used.
    #[error("checkpoint {path} cannot be resumed: {reason}")]
    Checkpoint {
        /// File.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Options are inconsistent.
    #[error("invalid training options: {0}")]
    Options(String),
    /// Device or model problem.
    #[error(transparent)]
    Classify(#[from] super::ClassifyError),
    /// Saving weights failed.
    #[error(transparent)]
    Weights(#[from] super::weights::WeightsError),
}

/// Optimiser choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// SGD with Nesterov momentum 0.9 (the paper uses plain mini-batch SGD).
    Sgd,
    /// AdamW.
    Adamw,
}

/// Everything that defines a run; saved in the checkpoint so a resume uses the same values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TrainOptions {
    /// Network configuration.
    pub model: SldcnnConfig,
    /// Number of epochs the learning-rate schedule spans.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Final learning rate of the cosine schedule.
    pub lr_min: f64,
    /// Linear warm-up length in epochs (fractional allowed).
    pub warmup_epochs: f64,
    /// Optimiser.
    pub optimizer: OptimizerKind,
    /// L2 weight decay.
    pub weight_decay: f32,
    /// λ of the intra-class distance penalty.
    pub lambda: f32,
    /// Label smoothing of the cross-entropy.
    pub label_smoothing: f32,
    /// Random seed (initialisation, shuffling, augmentation).
    pub seed: u64,
    /// Apply the paper's augmentation.
    pub augment: bool,
    /// Write a mid-epoch checkpoint every this many steps (0 = only at epoch ends). The only
    /// option a resumed run may change.
    pub checkpoint_every: usize,
    /// Probability of random erasing per training image ([`augment::random_erase`]; 0 = off).
    #[serde(default)]
    pub random_erasing: f64,
    /// Target decay of the exponential moving average of the weights used for validation and
    /// selection (0 = off; 0.999 averages over about 1,000 steps).
    #[serde(default)]
    pub ema_decay: f64,
    /// Distillation from teachers' soft targets (None = off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distill: Option<DistillOptions>,
}

impl TrainOptions {
    /// The shipped model's recipe (model card, "Training"): SGD with Nesterov momentum at peak
    /// lr 0.05 after a 0.3-epoch warm-up, cosine to 5·10⁻⁴, weight decay 5·10⁻⁴, batch 64,
    /// λ = 0.01, augmentation, seed 42, a checkpoint every 100 steps; `epochs` long.
    pub fn shipped_recipe(model: SldcnnConfig, epochs: usize) -> Self {
        Self {
            model,
            epochs,
            batch_size: 64,
            lr: 0.05,
            lr_min: 5e-4,
            warmup_epochs: 0.3,
            optimizer: OptimizerKind::Sgd,
            weight_decay: 5e-4,
            lambda: 0.01,
            label_smoothing: 0.0,
            seed: 42,
            augment: true,
            checkpoint_every: 100,
            random_erasing: 0.0,
            ema_decay: 0.0,
            distill: None,
        }
    }

    /// The options other than `checkpoint_every` in which `self` differs from `other`, as
    /// `name: old → new` (in `state.json` spelling), sorted.
    pub fn changes_from(&self, other: &TrainOptions) -> Vec<String> {
        let as_map = |o: &TrainOptions| match serde_json::to_value(o) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        let (old, new) = (as_map(other), as_map(self));
        new.iter()
            .filter(|(k, v)| k.as_str() != "checkpoint-every" && old.get(k.as_str()) != Some(v))
            .map(|(k, v)| format!("{k}: {} → {v}", old.get(k.as_str()).map_or("(none)".into(), ToString::to_string)))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

/// Progress of training, as it happens.
#[derive(Debug, Clone)]
pub enum TrainEvent {
    /// Resuming from a checkpoint.
    Resumed {
        /// Epoch (0-based) and step within it.
        epoch: usize,
        /// Step within the epoch.
        step: usize,
    },
    /// A new epoch starts.
    EpochStart {
        /// 0-based epoch.
        epoch: usize,
        /// Steps in the epoch.
        steps: usize,
    },
    /// One optimiser step done.
    Step {
        /// Step within the epoch (1-based).
        step: usize,
        /// Running mean loss this epoch.
        loss: f32,
        /// Running training accuracy this epoch.
        acc: f32,
        /// Learning rate used.
        lr: f64,
    },
    /// An epoch finished and was validated.
    EpochEnd(EpochMetrics),
}

/// Metrics of one epoch (one row of `metrics.csv`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss (CE + λ·PE).
    pub train_loss: f32,
    /// Mean cross-entropy.
    pub train_ce: f32,
    /// Mean penalty.
    pub train_pe: f32,
    /// Training accuracy (on augmented images).
    pub train_acc: f32,
    /// Validation accuracy.
    pub val_acc: f32,
    /// Validation macro-F1.
    pub val_macro_f1: f32,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Wall time of the epoch in seconds (this process only).
    pub seconds: f64,
    /// Training images per second.
    pub images_per_sec: f64,
    /// Whether this epoch became the best model.
    pub best: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    options: TrainOptions,
    /// Epoch in progress (0-based).
    epoch: usize,
    /// Steps of that epoch already done.
    step: usize,
    best_val_acc: f32,
    /// Running sums of the epoch in progress.
    sums: Sums,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Sums {
    loss: f64,
    ce: f64,
    pe: f64,
    correct: u64,
    seen: u64,
    seconds: f64,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_path_buf(), source }
}

/// Learning rate at global step `t` of `total`: linear warm-up then cosine annealing.
pub fn lr_at(opts: &TrainOptions, t: usize, total: usize, steps_per_epoch: usize) -> f64 {
    let warm = (opts.warmup_epochs * steps_per_epoch as f64).round() as usize;
    if t < warm {
        return opts.lr * (t + 1) as f64 / warm as f64;
    }
    let span = total.saturating_sub(warm).max(1);
    let p = ((t - warm) as f64 / span as f64).min(1.0);
    opts.lr_min + 0.5 * (opts.lr - opts.lr_min) * (1.0 + (std::f64::consts::PI * p).cos())
}

fn make_optimizer(opts: &TrainOptions) -> ModuleOptimizer {
    let decay = (opts.weight_decay > 0.0).then(|| WeightDecayConfig::new(opts.weight_decay));
    match opts.optimizer {
        OptimizerKind::Sgd => {
            SgdConfig::new().with_momentum(Some(MomentumConfig { momentum: 0.9, dampening: 0.0, nesterov: true })).with_weight_decay(decay).init()
        }
        OptimizerKind::Adamw => AdamWConfig::new().with_weight_decay(opts.weight_decay).init(),
    }
}

/// Builds a `[n, 1, side, side]` batch tensor and `[n]` target tensor.
fn batch_tensors(data: Vec<f32>, labels: Vec<i64>, side: usize, device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let n = labels.len();
    (Tensor::<4>::from_data(TensorData::new(data, [n, 1, side, side]), device), Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

fn model_bytes(model: &Sldcnn) -> Result<Vec<u8>, TrainError> {
    model.clone().into_record().into_bytes().map(|b| b.to_vec()).map_err(|e| TrainError::Checkpoint { path: PathBuf::from("<memory>"), reason: e.to_string() })
}

/// Runs (or resumes) training into `run_dir`, from a random initialisation. `on_event`
/// receives progress.
pub fn train(
    train_set: &Dataset,
    val_set: &Dataset,
    opts: TrainOptions,
    run_dir: &Path,
    device: ComputeDevice,
    on_event: &mut dyn FnMut(TrainEvent),
) -> Result<Option<EvalReport>, TrainError> {
    train_from(train_set, val_set, opts, None, run_dir, device, on_event)
}

/// [`train`], starting from the weights of `init` (fine-tuning) when the run directory has no
/// checkpoint yet. `init` must have the network configuration of `opts.model`.
pub fn train_from(
    train_set: &Dataset,
    val_set: &Dataset,
    opts: TrainOptions,
    init: Option<&ModelArtifact>,
    run_dir: &Path,
    device: ComputeDevice,
    on_event: &mut dyn FnMut(TrainEvent),
) -> Result<Option<EvalReport>, TrainError> {
    opts.model.validate().map_err(TrainError::Options)?;
    if opts.batch_size == 0 || opts.epochs == 0 {
        return Err(TrainError::Options("batch-size and epochs must be > 0".into()));
    }
    if !(0.0..1.0).contains(&opts.ema_decay) || !(0.0..=1.0).contains(&opts.random_erasing) {
        return Err(TrainError::Options(format!(
            "ema-decay must be in [0, 1) and random-erasing in [0, 1], got {} and {}",
            opts.ema_decay, opts.random_erasing
        )));
    }
    let soft = soft_targets(&opts, train_set.len(), run_dir)?;
    if train_set.side != opts.model.input_size {
        return Err(TrainError::Options(format!("images are {0}×{0} but the model expects {1}×{1}", train_set.side, opts.model.input_size)));
    }
    let base = burn_device(device)?;
    let ad = base.clone().autodiff();
    let ckpt_dir = run_dir.join("checkpoint");
    let state_path = ckpt_dir.join("state.json");
    std::fs::create_dir_all(&ckpt_dir).map_err(io_err(&ckpt_dir))?;

    // Resume or start.
    let (mut model, mut optim, mut state) = if state_path.exists() {
        let text = std::fs::read(&state_path).map_err(io_err(&state_path))?;
        let state: CheckpointState = serde_json::from_slice(&text).map_err(|e| TrainError::Checkpoint { path: state_path.clone(), reason: e.to_string() })?;
        if state.options.model != opts.model {
            return Err(TrainError::Checkpoint { path: state_path, reason: "it was trained with another network configuration; use another --run-dir".into() });
        }
        let changed = opts.changes_from(&state.options);
        if !changed.is_empty() {
            return Err(TrainError::Checkpoint {
                path: state_path,
                reason: format!(
                    "the run started with other options ({}); a run keeps one schedule (a longer --epochs would restart the learning rate): \
                     rerun with the original options, or use another --run-dir",
                    changed.join(", ")
                ),
            });
        }
        let mp = ckpt_dir.join("model.bpk");
        let rec = ModuleRecord::load(&mp).map_err(|e| TrainError::Checkpoint { path: mp.clone(), reason: e.to_string() })?;
        let model = opts.model.init(&ad).try_load_record(rec).map_err(|e| TrainError::Checkpoint { path: mp, reason: e.to_string() })?;
        let op = ckpt_dir.join("optim.bpk");
        let optim = make_optimizer(&opts).load(&op).map_err(|e| TrainError::Checkpoint { path: op, reason: e.to_string() })?;
        on_event(TrainEvent::Resumed { epoch: state.epoch, step: state.step });
        // Only the checkpoint interval may differ.
        let state = CheckpointState { options: opts.clone(), ..state };
        (model, optim, state)
    } else {
        ad.seed(opts.seed);
        let model = match init {
            Some(art) if art.config != opts.model => {
                return Err(TrainError::Options(format!("the initial model {} has another network configuration than the one to train", art.source)));
            }
            Some(art) => super::load_model(art, &ad)?,
            None => opts.model.init(&ad),
        };
        let state = CheckpointState { options: opts.clone(), epoch: 0, step: 0, best_val_acc: -1.0, sums: Sums::default() };
        (model, make_optimizer(&opts), state)
    };

    let side = opts.model.input_size;
    let px = side * side;
    let steps_per_epoch = train_set.len().div_ceil(opts.batch_size);
    let total_steps = steps_per_epoch * opts.epochs;
    let loss_cfg =
        LossConfig { lambda: opts.lambda, label_smoothing: Some(opts.label_smoothing), distill: opts.distill.as_ref().map(|d| (d.weight, d.temperature)) };
    let aug = if opts.augment { AugmentConfig::default() } else { AugmentConfig::none() };
    let metrics_path = run_dir.join("metrics.csv");
    let mut last_report = None;
    let ema_path = ckpt_dir.join("ema.bpk");
    let mut ema = if opts.ema_decay > 0.0 {
        let start = if state.epoch > 0 || state.step > 0 {
            let rec = ModuleRecord::load(&ema_path).map_err(|e| TrainError::Checkpoint { path: ema_path.clone(), reason: e.to_string() })?;
            opts.model.init(&base).try_load_record(rec).map_err(|e| TrainError::Checkpoint { path: ema_path.clone(), reason: e.to_string() })?
        } else {
            model.valid()
        };
        Some(ema::Ema::new(&opts.model, &start, opts.ema_decay, &base).map_err(|reason| TrainError::Checkpoint { path: ema_path.clone(), reason })?)
    } else {
        None
    };

    while state.epoch < opts.epochs {
        let epoch = state.epoch;
        let mut order: Vec<usize> = (0..train_set.len()).collect();
        order.shuffle(&mut SmallRng::seed_from_u64(opts.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        on_event(TrainEvent::EpochStart { epoch, steps: steps_per_epoch });
        let mut sums = state.sums;
        let mut t0 = Instant::now();
        let mut buf = vec![0f32; opts.batch_size * px];
        for step in state.step..steps_per_epoch {
            let idx = &order[step * opts.batch_size..((step + 1) * opts.batch_size).min(order.len())];
            let n = idx.len();
            let labels: Vec<i64> = idx.iter().map(|&i| train_set.labels[i].index() as i64).collect();
            augment_batch(train_set, idx, &aug, &opts, (epoch * steps_per_epoch + step) as u64, &mut buf[..n * px]);
            let (x, y) = batch_tensors(buf[..n * px].to_vec(), labels.clone(), side, &ad);
            let targets = soft.as_ref().map(|s| Tensor::<2>::from_data(TensorData::new(s.batch(idx), [n, distill::CLASSES]), &ad));
            let out = model.forward_all(x);
            let pred: Vec<i64> = out.logits.clone().argmax(1).into_data().convert::<i64>().try_into_vec().unwrap_or_default();
            let l = joint_loss(out.logits, out.features, y, targets, &loss_cfg);
            let lr = lr_at(&opts, epoch * steps_per_epoch + step, total_steps, steps_per_epoch);
            let grads = GradientsParams::from_grads(l.total.backward(), &model);
            model = optim.step(lr, model, grads);
            if let Some(ema) = &mut ema {
                ema.update(&model, (epoch * steps_per_epoch + step) as u64);
            }

            sums.loss += f64::from(l.value) * n as f64;
            sums.ce += f64::from(l.ce) * n as f64;
            sums.pe += f64::from(l.pe) * n as f64;
            sums.correct += pred.iter().zip(&labels).filter(|(a, b)| a == b).count() as u64;
            sums.seen += n as u64;
            on_event(TrainEvent::Step { step: step + 1, loss: (sums.loss / sums.seen as f64) as f32, acc: sums.correct as f32 / sums.seen as f32, lr });
            let done = step + 1;
            if opts.checkpoint_every > 0 && done % opts.checkpoint_every == 0 && done < steps_per_epoch {
                sums.seconds += t0.elapsed().as_secs_f64();
                t0 = Instant::now();
                state.step = done;
                state.sums = sums;
                save_checkpoint(&ckpt_dir, &model, ema.as_ref(), &optim, &state)?;
            }
        }
        sums.seconds += t0.elapsed().as_secs_f64();

        // Validate (the averaged weights when there are any).
        let selected = match &ema {
            Some(ema) => ema::Ema::owned_copy(&opts.model, ema.model(), &base).map_err(|reason| TrainError::Checkpoint { path: ema_path.clone(), reason })?,
            None => model.valid(),
        };
        let info = ModelInfo {
            id: format!("epoch-{}", epoch + 1),
            hash: String::new(),
            source: run_dir.display().to_string(),
            trained: true,
            config: opts.model.clone(),
            parameters: model.num_params(),
        };
        let classifier =
            Classifier { engines: vec![super::Engine::Burn { model: Box::new(selected.clone()), device: base.clone() }], info, tta: super::Tta::None };
        let report = crate::evaluate::evaluate(&classifier, val_set, 256)?;
        let best = report.accuracy > state.best_val_acc;
        if best {
            state.best_val_acc = report.accuracy;
            let bytes = model_bytes(&selected)?;
            ModelArtifact::write_dir(&opts.model, &bytes, &run_dir.join("best"))?;
        }
        let seen = sums.seen.max(1) as f64;
        let m = EpochMetrics {
            epoch: epoch + 1,
            train_loss: (sums.loss / seen) as f32,
            train_ce: (sums.ce / seen) as f32,
            train_pe: (sums.pe / seen) as f32,
            train_acc: (sums.correct as f64 / seen) as f32,
            val_acc: report.accuracy,
            val_macro_f1: report.macro_f1,
            lr: lr_at(&opts, (epoch + 1) * steps_per_epoch - 1, total_steps, steps_per_epoch),
            seconds: sums.seconds,
            images_per_sec: sums.seen as f64 / sums.seconds.max(1e-9),
            best,
        };
        append_metrics(&metrics_path, &m)?;
        on_event(TrainEvent::EpochEnd(m));
        last_report = Some(report);
        state.epoch += 1;
        state.step = 0;
        state.sums = Sums::default();
        save_checkpoint(&ckpt_dir, &model, ema.as_ref(), &optim, &state)?;
    }
    Ok(last_report)
}

/// The stored soft targets the options ask for (None without distillation).
fn soft_targets(opts: &TrainOptions, images: usize, run_dir: &Path) -> Result<Option<SoftTargets>, TrainError> {
    let Some(d) = &opts.distill else { return Ok(None) };
    d.validate().map_err(TrainError::Options)?;
    match SoftTargets::read(run_dir)? {
        Some(s) if s.matches(d, images) => Ok(Some(s)),
        _ => Err(TrainError::Options(format!(
            "{} holds no soft targets of teachers {} at temperature {} for {images} images (`fer-batch train --teacher …` computes them)",
            run_dir.display(),
            d.teachers.join(", "),
            d.temperature
        ))),
    }
}

/// Augments the training images `idx` into `out` (`idx.len()` images), in parallel. Each
/// image's random stream is a function of (seed, global step, position in the batch), so a
/// resumed run repeats it whatever the number of threads.
fn augment_batch(set: &Dataset, idx: &[usize], aug: &AugmentConfig, opts: &TrainOptions, global_step: u64, out: &mut [f32]) {
    let side = set.side;
    let step_seed = opts.seed.wrapping_add(global_step.wrapping_mul(7919));
    out.par_chunks_mut(side * side).zip(idx.par_iter()).enumerate().for_each(|(k, (dst, &i))| {
        let mut rng = SmallRng::seed_from_u64(step_seed ^ (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        augment_into(set.image(i), side, aug, &mut rng, dst);
        augment::random_erase(dst, side, opts.random_erasing, &mut rng);
    });
}

fn save_checkpoint(dir: &Path, model: &Sldcnn, ema: Option<&ema::Ema>, optim: &ModuleOptimizer, state: &CheckpointState) -> Result<(), TrainError> {
    // Weights and optimiser first, state last: a state file always points at complete files
    // of at least its own progress.
    write_atomic(&dir.join("model.bpk"), &model_bytes(model)?)?;
    if let Some(ema) = ema {
        write_atomic(&dir.join("ema.bpk"), &model_bytes(ema.model())?)?;
    }
    let op = dir.join("optim.bpk");
    let tmp = dir.join("optim.tmp");
    optim.save(&tmp).map_err(|e| TrainError::Checkpoint { path: tmp.clone(), reason: e.to_string() })?;
    std::fs::rename(&tmp, &op).map_err(io_err(&op))?;
    let json = serde_json::to_vec_pretty(state).map_err(|e| TrainError::Checkpoint { path: dir.into(), reason: e.to_string() })?;
    write_atomic(&dir.join("state.json"), &json)
}

fn append_metrics(path: &Path, m: &EpochMetrics) -> Result<(), TrainError> {
    let new = !path.exists();
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io_err(path))?;
    if new {
        writeln!(f, "epoch,train_loss,train_ce,train_pe,train_acc,val_acc,val_macro_f1,lr,seconds,images_per_sec,best").map_err(io_err(path))?;
    }
    writeln!(
        f,
        "{},{:.5},{:.5},{:.5},{:.5},{:.5},{:.5},{:.6e},{:.1},{:.1},{}",
        m.epoch, m.train_loss, m.train_ce, m.train_pe, m.train_acc, m.val_acc, m.val_macro_f1, m.lr, m.seconds, m.images_per_sec, m.best
    )
    .map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::labels::Expression;
    use crate::classify::model::Attention;

    pub(crate) fn tiny_opts() -> TrainOptions {
        TrainOptions {
            model: SldcnnConfig {
                input_size: 16,
                block_layers: vec![2, 2],
                growth_rate: 4.into(),
                stem_channels: 8,
                attention: Attention::Spatial,
                ..SldcnnConfig::compact(12)
            },
            epochs: 2,
            batch_size: 8,
            lr: 0.05,
            lr_min: 0.0,
            warmup_epochs: 0.0,
            optimizer: OptimizerKind::Sgd,
            weight_decay: 0.0,
            lambda: 0.01,
            label_smoothing: 0.0,
            seed: 1,
            augment: false,
            checkpoint_every: 1,
            random_erasing: 0.0,
            ema_decay: 0.0,
            distill: None,
        }
    }

    /// Two easily separable classes: bright top half vs bright bottom half.
    pub(crate) fn toy(n: usize) -> Dataset {
        let mut ds = Dataset { side: 16, ..Default::default() };
        for i in 0..n {
            let happy = i % 2 == 0;
            for p in 0..256 {
                let top = p < 128;
                ds.pixels.push(if top == happy { 220 } else { 30 } + (i % 7) as u8);
            }
            ds.labels.push(if happy { Expression::Happy } else { Expression::Sad });
            ds.subjects.push(None);
        }
        ds
    }

    /// Runs `opts` into `dir`, panicking (as an interruption would stop it) at step `step` of
    /// 0-based epoch `epoch`; returns the running losses seen.
    fn interrupted_run(ds: &Dataset, opts: &TrainOptions, dir: &Path, epoch: usize, step: usize) -> Vec<f32> {
        let mut losses = Vec::new();
        let mut current = 0;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            train(ds, ds, opts.clone(), dir, ComputeDevice::Cpu, &mut |e| match e {
                TrainEvent::EpochStart { epoch, .. } => current = epoch,
                TrainEvent::Step { step: s, loss, .. } => {
                    losses.push(loss);
                    assert!(!(current == epoch && s == step), "interrupted");
                }
                _ => {}
            })
        }));
        assert!(result.is_err(), "the run should have been interrupted");
        losses
    }

    #[test]
    fn a_few_steps_reduce_the_loss_and_an_interrupted_run_resumes_with_its_schedule() {
        let dir = tempfile::tempdir().unwrap();
        let ds = toy(32);
        let mut opts = tiny_opts();
        opts.epochs = 6;
        // 4 steps per epoch, a checkpoint after every step: stopped during step 3 of the
        // second epoch, the checkpoint holds step 2.
        let losses = interrupted_run(&ds, &opts, dir.path(), 1, 3);
        assert_eq!(losses.len(), 7);
        // Resuming with a longer schedule would restart the learning rate: refused.
        let longer = TrainOptions { epochs: 8, ..opts.clone() };
        let err = train(&ds, &ds, longer, dir.path(), ComputeDevice::Cpu, &mut |_| {}).unwrap_err().to_string();
        assert!(err.contains("epochs: 6 → 8") && err.contains("one schedule"), "{err}");
        let other_lr = TrainOptions { lr: 0.1, ..opts.clone() };
        assert!(train(&ds, &ds, other_lr, dir.path(), ComputeDevice::Cpu, &mut |_| {}).unwrap_err().to_string().contains("lr: 0.05 → 0.1"));
        // The checkpoint interval may change.
        opts.checkpoint_every = 3;
        let mut resumed = None;
        let mut epoch_losses = Vec::new();
        let report = train(&ds, &ds, opts, dir.path(), ComputeDevice::Cpu, &mut |e| match e {
            TrainEvent::Resumed { epoch, step } => resumed = Some((epoch, step)),
            TrainEvent::EpochEnd(m) => epoch_losses.push(m.train_ce),
            _ => {}
        })
        .unwrap()
        .unwrap();
        assert_eq!(resumed, Some((1, 2)));
        assert_eq!(epoch_losses.len(), 5);
        assert!(epoch_losses[4] < losses[0] * 0.7, "loss did not fall: first step {} → last epoch {}", losses[0], epoch_losses[4]);
        assert!(report.accuracy > 0.9, "toy task not learned: {}", report.accuracy);
        let metrics = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
        assert_eq!(metrics.lines().count(), 7, "{metrics}");
        let art = ModelArtifact::from_dir(&dir.path().join("best")).unwrap();
        let c = Classifier::new(&art, ComputeDevice::Cpu).unwrap();
        assert!(c.info().trained);
    }

    #[test]
    fn options_changes_are_listed_by_name() {
        let a = tiny_opts();
        assert!(a.changes_from(&a).is_empty());
        let b = TrainOptions { checkpoint_every: 9, ..a.clone() };
        assert!(b.changes_from(&a).is_empty(), "the checkpoint interval is not part of the schedule");
        let c = TrainOptions { epochs: 3, ema_decay: 0.99, ..a.clone() };
        assert_eq!(c.changes_from(&a), vec!["ema-decay: 0.0 → 0.99".to_string(), "epochs: 2 → 3".to_string()]);
        // A state.json from before random erasing and the moving average still loads.
        let mut old = serde_json::to_value(&a).unwrap();
        let m = old.as_object_mut().unwrap();
        m.remove("random-erasing");
        m.remove("ema-decay");
        assert_eq!(serde_json::from_value::<TrainOptions>(old).unwrap(), a);
    }

    /// With a moving average, the validated (and returned, and shipped) weights are the
    /// average's, and an interrupted run resumes it from the checkpoint.
    #[test]
    fn the_moving_average_is_what_gets_validated_and_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let ds = toy(32);
        let opts = TrainOptions { epochs: 3, ema_decay: 0.9, random_erasing: 0.5, ..tiny_opts() };
        interrupted_run(&ds, &opts, dir.path(), 1, 2);
        assert!(dir.path().join("checkpoint/ema.bpk").is_file());
        let report = train(&ds, &ds, opts.clone(), dir.path(), ComputeDevice::Cpu, &mut |_| {}).unwrap().unwrap();
        assert!(report.accuracy > 0.9, "toy task not learned: {}", report.accuracy);
        // The returned report is the average's: evaluate the checkpoint's two weight files.
        let scores = |file: &str| {
            let out = dir.path().join(format!("{file}-artifact"));
            ModelArtifact::write_dir(&opts.model, &std::fs::read(dir.path().join("checkpoint").join(file)).unwrap(), &out).unwrap();
            let c = Classifier::new(&ModelArtifact::from_dir(&out).unwrap(), ComputeDevice::Flex).unwrap();
            let crops: Vec<&[u8]> = (0..ds.len()).map(|i| ds.image(i)).collect();
            (crate::evaluate::evaluate(&c, &ds, 256).unwrap(), c.classify(&crops, 256).unwrap())
        };
        let ((averaged, avg_scores), (_, raw_scores)) = (scores("ema.bpk"), scores("model.bpk"));
        assert_eq!(averaged.confusion, report.confusion);
        let diff = avg_scores.iter().zip(&raw_scores).flat_map(|(a, b)| a.0.iter().zip(b.0.iter()).map(|(x, y)| (x - y).abs())).fold(0f32, f32::max);
        assert!(diff > 1e-4, "the average should differ from the last step's weights");
    }

    /// Distillation is refused without stored targets; with them, and the labels' weight at 0,
    /// the student learns what the targets say even from swapped labels.
    #[test]
    fn a_student_follows_stored_soft_targets_over_its_labels() {
        let ds = toy(32);
        let mut swapped = ds.clone();
        for l in &mut swapped.labels {
            *l = if *l == Expression::Happy { Expression::Sad } else { Expression::Happy };
        }
        // Targets that know the true class (0.9 on it), as a trained teacher's would.
        let probs: Vec<f32> = ds.labels.iter().flat_map(|l| (0..7).map(move |c| if c == l.index() { 0.9 } else { 0.1 / 6.0 })).collect();
        let dir = tempfile::tempdir().unwrap();
        let distill = DistillOptions { teachers: vec!["hand@0".into()], temperature: 2.0, weight: 1.0 };
        let opts = TrainOptions { epochs: 8, seed: 5, lambda: 0.0, distill: Some(distill), ..tiny_opts() };
        let err = train(&swapped, &ds, opts.clone(), dir.path(), ComputeDevice::Cpu, &mut |_| {}).unwrap_err().to_string();
        assert!(err.contains("no soft targets"), "{err}");
        SoftTargets::from_probs(vec!["hand@0".into()], 2.0, probs).write(dir.path()).unwrap();
        let report = train(&swapped, &ds, opts, dir.path(), ComputeDevice::Cpu, &mut |_| {}).unwrap().unwrap();
        assert!(report.accuracy > 0.9, "the student should follow the targets, not the swapped labels: {}", report.accuracy);
    }

    /// The parallel augmentation is a pure function of (seed, step, position in the batch).
    #[test]
    fn batch_augmentation_repeats_for_the_same_step_only() {
        let ds = toy(8);
        let opts = TrainOptions { augment: true, random_erasing: 0.5, ..tiny_opts() };
        let aug = AugmentConfig::default();
        let run = |step: u64, idx: &[usize]| {
            let mut out = vec![0f32; idx.len() * 256];
            augment_batch(&ds, idx, &aug, &opts, step, &mut out);
            out
        };
        let idx = [3, 1, 4, 0];
        assert_eq!(run(7, &idx), run(7, &idx));
        assert_ne!(run(7, &idx), run(8, &idx));
        // Image 1 at position 1: the same whatever the rest of the batch.
        assert_eq!(run(7, &idx)[256..512], run(7, &[5, 1])[256..512]);
    }

    #[test]
    fn resuming_with_another_network_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ds = toy(8);
        let mut opts = tiny_opts();
        opts.epochs = 1;
        train(&ds, &ds, opts.clone(), dir.path(), ComputeDevice::Cpu, &mut |_| {}).unwrap();
        opts.model.growth_rate = 6.into();
        let err = train(&ds, &ds, opts, dir.path(), ComputeDevice::Cpu, &mut |_| {}).unwrap_err().to_string();
        assert!(err.contains("another network configuration"), "{err}");
    }

    #[test]
    fn schedule_warms_up_then_anneals() {
        let mut o = tiny_opts();
        o.lr = 0.1;
        o.lr_min = 0.001;
        o.warmup_epochs = 1.0;
        assert!((lr_at(&o, 0, 100, 10) - 0.01).abs() < 1e-12);
        assert!((lr_at(&o, 9, 100, 10) - 0.1).abs() < 1e-12);
        assert!((lr_at(&o, 10, 100, 10) - 0.1).abs() < 1e-12);
        assert!((lr_at(&o, 100, 100, 10) - 0.001).abs() < 1e-9);
        assert!(lr_at(&o, 50, 100, 10) < lr_at(&o, 30, 100, 10));
    }
}
