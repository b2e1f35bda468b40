//! `fer-batch train`.

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};

use super::Status;
use super::args::{AttentionArg, GlobalArgs, HyperArgs, NetArgs, OptimizerArg, Preset, TrainArgs};
use crate::classify::model::{Attention, GrowthRate, SldcnnConfig};
use crate::classify::train::distill::{DistillOptions, SoftTargets};
use crate::classify::train::{OptimizerKind, TrainEvent, TrainOptions, train_from};
use crate::classify::weights::ModelArtifact;
use crate::classify::{Classifier, ComputeDevice, ExpressionScores};
use crate::dataset::Dataset;
use crate::dataset::Split;

/// The network `net` describes, checked.
pub(super) fn network(net: &NetArgs) -> anyhow::Result<SldcnnConfig> {
    let mut model = match net.preset {
        Preset::Compact => SldcnnConfig::compact(net.depth),
        Preset::Paper => SldcnnConfig::paper(net.depth),
        Preset::Wide => SldcnnConfig::wide(),
    };
    model.attention = match net.attention {
        AttentionArg::Spatial => Attention::Spatial,
        AttentionArg::Channel => Attention::Channel,
        AttentionArg::None => Attention::None,
    };
    if !net.block_layers.is_empty() {
        model.block_layers = net.block_layers.clone();
    }
    match net.growth_rate.as_slice() {
        [] => {}
        [k] => model.growth_rate = GrowthRate::Uniform(*k),
        ks => model.growth_rate = GrowthRate::PerBlock(ks.to_vec()),
    }
    if let Some(k) = net.kernel_size {
        model.kernel_size = k;
    }
    model.validate().map_err(|reason| anyhow::anyhow!("invalid network: {reason}"))?;
    Ok(model)
}

/// Training options for `model` from the command line's optimisation flags.
pub(super) fn options(model: SldcnnConfig, h: &HyperArgs) -> TrainOptions {
    TrainOptions {
        model,
        epochs: h.epochs,
        batch_size: h.batch_size,
        lr: h.lr,
        lr_min: h.lr_min,
        warmup_epochs: h.warmup_epochs,
        optimizer: match h.optimizer {
            OptimizerArg::Sgd => OptimizerKind::Sgd,
            OptimizerArg::Adamw => OptimizerKind::Adamw,
        },
        weight_decay: h.weight_decay,
        lambda: h.lambda,
        label_smoothing: h.label_smoothing,
        seed: h.seed,
        augment: !h.no_augment,
        checkpoint_every: h.checkpoint_every,
        random_erasing: h.random_erasing,
        ema_decay: h.ema_decay,
        distill: None,
    }
}

/// The one network `spec` names (`--init`): an embedded network or a model directory.
fn artifact(spec: &str) -> anyhow::Result<ModelArtifact> {
    Ok(ModelArtifact::one_network(std::path::Path::new(spec))?)
}

/// The distillation options of `a`, with the teachers' soft targets stored in the run
/// directory (computed now unless it already holds the same ones); None without teachers.
fn distillation(a: &TrainArgs, train_set: &Dataset) -> anyhow::Result<Option<DistillOptions>> {
    if a.teachers.is_empty() {
        return Ok(None);
    }
    let teachers = ModelArtifact::named_all(&a.teachers)?;
    let opts = DistillOptions { teachers: teachers.iter().map(ModelArtifact::id).collect(), temperature: a.distill_temperature, weight: a.distill_weight };
    opts.validate().map_err(anyhow::Error::msg)?;
    match SoftTargets::read(&a.run_dir)? {
        Some(stored) if stored.matches(&opts, train_set.len()) => {
            eprintln!("using the soft targets stored in {}", a.run_dir.display());
            return Ok(Some(opts));
        }
        Some(_) => anyhow::bail!("{} already holds soft targets of other teachers, temperature or training set; use another --run-dir", a.run_dir.display()),
        None => {}
    }
    eprintln!(
        "computing soft targets of {} at T = {} on {} training images (and their mirror images)",
        opts.teachers.join(", "),
        opts.temperature,
        train_set.len()
    );
    let classifiers = teachers.iter().map(|t| Classifier::new(t, ComputeDevice::Cpu)).collect::<Result<Vec<_>, _>>()?;
    let soft = SoftTargets::compute(classifiers, train_set, opts.temperature)?;
    let label = |i: usize| soft.target(i).try_into().map(|p| ExpressionScores(p).label()).ok();
    let agree = (0..soft.len()).filter(|&i| label(i) == Some(train_set.labels[i])).count();
    eprintln!("the teachers' soft targets agree with {:.2}% of the training labels", 100.0 * agree as f64 / soft.len().max(1) as f64);
    soft.write(&a.run_dir)?;
    Ok(Some(opts))
}

/// `--plan-only`: the run's options and starting weights, written into the run directory.
fn plan(run_dir: &std::path::Path, opts: &TrainOptions, init: Option<&ModelArtifact>) -> anyhow::Result<Status> {
    std::fs::create_dir_all(run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    let path = run_dir.join("options.json");
    std::fs::write(&path, serde_json::to_vec_pretty(opts)?).with_context(|| format!("writing {}", path.display()))?;
    if let Some(art) = init {
        ModelArtifact::write_dir(&art.config, &art.weights, &run_dir.join("init"))?;
    }
    eprintln!(
        "planned {}: options.json{}; train it with examples/gpu_train (scripts/gpu-train.sh)",
        run_dir.display(),
        if init.is_some() { ", init/" } else { "" }
    );
    Ok(Status::Success)
}

pub(super) fn run(a: TrainArgs, g: &GlobalArgs) -> anyhow::Result<Status> {
    let init = a.init.as_deref().map(artifact).transpose()?;
    let model = match &init {
        Some(art) => art.config.clone(),
        None => network(&a.net)?,
    };
    let mut opts = options(model, &a.hyper);
    let mut sets = super::eval::load_splits(&a.data, &[Split::Training, Split::PublicTest], a.labels, a.ferplus.as_deref())?;
    let mut train_set = sets.remove(&Split::Training).unwrap_or_default();
    let mut val_set = sets.remove(&Split::PublicTest).unwrap_or_default();
    if let Some(n) = a.limit {
        train_set = train_set.subset(&(0..n.min(train_set.len())).collect::<Vec<_>>());
    }
    if let Some(n) = a.val_limit {
        val_set = val_set.subset(&(0..n.min(val_set.len())).collect::<Vec<_>>());
    }
    opts.distill = distillation(&a, &train_set)?;
    if a.plan_only {
        return plan(&a.run_dir, &opts, init.as_ref());
    }
    eprintln!("training on {} images, validating on {}; run directory {}", train_set.len(), val_set.len(), a.run_dir.display());
    let mut progress = TrainProgress::new(g, opts.epochs);
    train_from(&train_set, &val_set, opts, init.as_ref(), &a.run_dir, a.hyper.device, &mut |e| progress.on(e))?;
    progress.bar.finish_and_clear();
    eprintln!("done; best model in {}", a.run_dir.join("best").display());
    Ok(Status::Success)
}

/// Progress bar (on a terminal) or a line a minute (otherwise) for training events.
pub(super) struct TrainProgress {
    pub(super) bar: ProgressBar,
    interactive: bool,
    quiet: bool,
    total_epochs: usize,
    last_log: std::time::Instant,
}

impl TrainProgress {
    pub(super) fn new(g: &GlobalArgs, epochs: usize) -> Self {
        let interactive = !g.quiet && !g.no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = ProgressBar::hidden();
        if interactive {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Self { bar, interactive, quiet: g.quiet, total_epochs: epochs.max(1), last_log: std::time::Instant::now() }
    }

    pub(super) fn on(&mut self, e: TrainEvent) {
        let (bar, total_epochs) = (&self.bar, self.total_epochs);
        match e {
            TrainEvent::Resumed { epoch, step } => eprintln!("resuming at epoch {} step {step}", epoch + 1),
            TrainEvent::EpochStart { epoch, steps } => {
                bar.set_length(steps as u64);
                bar.set_position(0);
                bar.set_prefix(format!("{}/{total_epochs}", epoch + 1));
            }
            TrainEvent::Step { step, loss, acc, lr } => {
                bar.set_position(step as u64);
                bar.set_message(format!("loss {loss:.4} acc {:.1}% lr {lr:.2e}", acc * 100.0));
                if !self.interactive && !self.quiet && self.last_log.elapsed().as_secs() >= 60 {
                    self.last_log = std::time::Instant::now();
                    eprintln!("step {step}: loss {loss:.4} acc {:.1}% lr {lr:.2e}", acc * 100.0);
                }
            }
            TrainEvent::EpochEnd(m) => {
                bar.println(format!(
                    "epoch {:>3}: loss {:.4} (ce {:.4} pe {:.4}) train {:.1}% | val {:.2}% F1 {:.3} | {:.0}s, {:.1} img/s{}",
                    m.epoch,
                    m.train_loss,
                    m.train_ce,
                    m.train_pe,
                    m.train_acc * 100.0,
                    m.val_acc * 100.0,
                    m.val_macro_f1,
                    m.seconds,
                    m.images_per_sec,
                    if m.best { " *best" } else { "" }
                ));
                if !self.interactive && !self.quiet {
                    eprintln!(
                        "epoch {} done: val {:.2}% F1 {:.3}, {:.1} img/s{}",
                        m.epoch,
                        m.val_acc * 100.0,
                        m.val_macro_f1,
                        m.images_per_sec,
                        if m.best { " (best)" } else { "" }
                    );
                }
            }
        }
    }
}
