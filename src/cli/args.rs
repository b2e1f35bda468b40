//! Command-line arguments (clap derive). Every flag has a doc comment: it is the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::classify::{ComputeDevice, Tta};
use crate::detect::DetectorKind;

/// Facial-expression analysis of recorded video into Parquet tables.
#[derive(Debug, Parser)]
#[command(name = "fer-batch", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options for every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output (-v info, -vv debug, -vvv trace). FER_LOG overrides (tracing filter syntax).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = "Global options")]
    pub verbose: u8,
    /// Only errors; no progress bars.
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub quiet: bool,
    /// Never draw progress bars (they are off anyway when stderr is not a terminal).
    #[arg(long, global = true, help_heading = "Global options")]
    pub no_progress: bool,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse videos: detect faces, classify expressions, track people, write Parquet tables.
    Run(RunArgs),
    /// Train SLDCNN on FER2013 (resumable; re-run the same command to continue).
    #[cfg(feature = "train")]
    Train(TrainArgs),
    /// Subject-independent k-fold cross-validation on CK+ (the paper's protocol), optionally
    /// fine-tuning from a FER2013 model; resumable.
    #[cfg(feature = "train")]
    Crossval(CrossvalArgs),
    /// Detect faces in still images and print their 7 expression probabilities.
    Classify(ClassifyArgs),
    /// Write a self-contained HTML report (timelines, people, per-person bars) of a run's tables.
    Report(ReportArgs),
    /// Draw a run's results onto its video: face boxes, person ids, labels, probability bars.
    Annotate(AnnotateArgs),
    /// Evaluate a model on a labelled split: accuracy, macro-F1, per-class metrics, confusion.
    Eval(EvalArgs),
    /// Write a model directory (config.json + model.bpk), optionally with half-precision weights.
    Export(ExportArgs),
}

/// Network presets.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Preset {
    /// 3×3 dense convolutions, stride-2 stem, growth rate 16: trainable on a CPU.
    Compact,
    /// The paper's reading: 7×7 convolutions, growth rate 12, full-resolution first block (1.8M parameters at depth 32).
    Paper,
    /// The compact network with more capacity where the maps are small: blocks of 4, 8, 12
    /// layers growing by 16, 24, 32 maps (1.35M parameters, ~2.2× the compact one's cost per
    /// face; --depth is ignored).
    Wide,
}

/// Attention variants of the paper's ablation (Table 2).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AttentionArg {
    /// SLDCNN: spatial attention unit after every dense block.
    Spatial,
    /// CLDCNN: squeeze-and-excitation channel attention.
    Channel,
    /// LDCNN: no attention.
    None,
}

/// Label sources for FER2013 images.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LabelSource {
    /// The original FER2013 labels.
    Fer2013,
    /// FER+ majority votes (needs --ferplus); images without a majority among the 7 classes are dropped.
    Ferplus,
}

/// `fer-batch train`.
#[cfg(feature = "train")]
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// FER2013 CSV (`emotion,pixels,Usage`, plain or .gz).
    #[arg(long)]
    pub data: PathBuf,
    /// Which labels to train and validate on.
    #[arg(long, value_enum, default_value_t = LabelSource::Fer2013)]
    pub labels: LabelSource,
    /// FER+ votes file (fer2013new.csv), for --labels ferplus.
    #[arg(long)]
    pub ferplus: Option<PathBuf>,
    /// Run directory: checkpoint, best model, metrics.csv. Re-running with the same directory resumes.
    #[arg(long, default_value = "runs/sldcnn")]
    pub run_dir: PathBuf,
    /// Start from this network's weights (an embedded network: `sldcnn-fer2013`,
    /// `sldcnn-fer2013-e92`, `sldcnn-fer2013-ba`, `sldcnn-fer2013-wide`; or a model directory)
    /// instead of a random initialisation; the network options are then taken from it.
    #[arg(long)]
    pub init: Option<String>,
    /// Distil from this teacher (`shipped` or `accurate` for the two networks each averages,
    /// one embedded network's name, or a model directory); repeat the flag for an ensemble. The
    /// teachers' outputs on each training image and its mirror image are computed once and
    /// stored in the run directory (soft-targets.f32).
    #[arg(long = "teacher")]
    pub teachers: Vec<String>,
    /// Temperature T of the distillation term (teachers' and student's softmax).
    #[arg(long, default_value_t = 3.0)]
    pub distill_temperature: f32,
    /// Weight α of the distillation term; the cross-entropy with the labels gets 1 − α.
    #[arg(long, default_value_t = 0.7)]
    pub distill_weight: f32,
    /// Prepare the run directory and stop: write its options (options.json), the starting
    /// weights of --init (init/) and the teachers' soft targets, for training on another machine
    /// (`scripts/gpu-train.sh`).
    #[arg(long)]
    pub plan_only: bool,
    /// Network (ignored with --init).
    #[command(flatten)]
    pub net: NetArgs,
    /// Optimisation.
    #[command(flatten)]
    pub hyper: HyperArgs,
    /// Train on the first N training images only (quick experiments).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Validate on the first N validation images only.
    #[arg(long)]
    pub val_limit: Option<usize>,
}

/// `fer-batch crossval`.
#[cfg(feature = "train")]
#[derive(Debug, Args)]
pub struct CrossvalArgs {
    /// CK+48 CSV (`label,file,pixels`, plain or .gz); `contempt` rows are dropped (not a
    /// FER2013 class), subjects are read from the file names.
    #[arg(long)]
    pub data: PathBuf,
    /// Number of folds; no subject is in two folds.
    #[arg(long, default_value_t = 10)]
    pub folds: usize,
    /// Start every fold from this network (an embedded FER2013 network: `sldcnn-fer2013`,
    /// `sldcnn-fer2013-e92`, `sldcnn-fer2013-ba`, `sldcnn-fer2013-wide`; or a model directory)
    /// instead of random weights; the network options are then taken from it. Repeat it, or
    /// name `shipped` or `accurate`, to fine-tune each network (each with its own architecture)
    /// on every fold and score the fold on their averaged probabilities.
    #[arg(long)]
    pub init: Vec<String>,
    /// Run directory: one training run per fold. Re-running with the same directory resumes.
    #[arg(long, default_value = "runs/crossval")]
    pub run_dir: PathBuf,
    /// Also write the report (per fold and pooled) as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Network (ignored with --init).
    #[command(flatten)]
    pub net: NetArgs,
    /// Optimisation.
    #[command(flatten)]
    pub hyper: HyperArgs,
}

/// Network options of `train` and `crossval`.
#[cfg(feature = "train")]
#[derive(Debug, Args)]
pub struct NetArgs {
    /// Network preset.
    #[arg(long, value_enum, default_value_t = Preset::Compact)]
    pub preset: Preset,
    /// Network depth (the paper's Table 3 uses 12, 20, 32, 44).
    #[arg(long, default_value_t = 20)]
    pub depth: usize,
    /// Attention variant.
    #[arg(long, value_enum, default_value_t = AttentionArg::Spatial)]
    pub attention: AttentionArg,
    /// Override the preset's growth rate: one number for every block, or one per block
    /// (e.g. 16,24,32).
    #[arg(long, value_delimiter = ',', num_args = 1)]
    pub growth_rate: Vec<usize>,
    /// Override the preset's dense layers per block (e.g. 4,8,12; replaces --depth).
    #[arg(long, value_delimiter = ',', num_args = 1)]
    pub block_layers: Vec<usize>,
    /// Override the preset's dense-conv kernel size.
    #[arg(long)]
    pub kernel_size: Option<usize>,
}

/// Optimisation options of `train` and `crossval`.
#[cfg(feature = "train")]
#[derive(Debug, Args)]
pub struct HyperArgs {
    /// Epochs the schedule spans. Fixed for a run: resuming with another value is refused.
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Images per step.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 0.05)]
    pub lr: f64,
    /// Final learning rate of the cosine schedule.
    #[arg(long, default_value_t = 1e-4)]
    pub lr_min: f64,
    /// Warm-up epochs.
    #[arg(long, default_value_t = 1.0)]
    pub warmup_epochs: f64,
    /// Optimiser.
    #[arg(long, value_enum, default_value_t = OptimizerArg::Sgd)]
    pub optimizer: OptimizerArg,
    /// Weight decay.
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f32,
    /// λ of the intra-class distance penalty (0 = plain cross-entropy).
    #[arg(long, default_value_t = 0.01)]
    pub lambda: f32,
    /// Label smoothing of the cross-entropy.
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f32,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Disable augmentation.
    #[arg(long)]
    pub no_augment: bool,
    /// Random erasing: probability that a training image gets one rectangle (2–33% of it)
    /// filled with random grey levels (0: off).
    #[arg(long, default_value_t = 0.0)]
    pub random_erasing: f64,
    /// Keep an exponential moving average of the weights with this decay and validate, select
    /// and ship the averaged weights (0: off; 0.999 averages over about 1,000 steps).
    #[arg(long, default_value_t = 0.0)]
    pub ema_decay: f64,
    /// Mid-epoch checkpoint interval in steps (0: epoch ends only).
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: usize,
    /// Compute device: cpu, flex (burn's CPU backend), cuda[:N] or torch-cpu (the last two need the `cuda` build).
    #[arg(long, default_value = "cpu")]
    pub device: ComputeDevice,
}

/// Optimisers.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OptimizerArg {
    /// SGD, Nesterov momentum 0.9.
    Sgd,
    /// AdamW.
    Adamw,
}

/// `fer-batch export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The network to write: a model directory (config.json + model.bpk) or an embedded
    /// network (`sldcnn-fer2013`, `sldcnn-fer2013-e92`, `sldcnn-fer2013-ba`,
    /// `sldcnn-fer2013-wide`).
    #[arg(long)]
    pub model: PathBuf,
    /// Directory to write (created if needed; its config.json and model.bpk are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Store every float parameter in half precision (f16): about half the size. Check the
    /// result with `fer-batch eval --model OUT`. Without it the weights are written in f32.
    #[arg(long)]
    pub half: bool,
}

/// `fer-batch eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// FER2013 CSV (`emotion,pixels,Usage`, plain or .gz).
    #[arg(long)]
    pub data: PathBuf,
    /// Split to evaluate: private (PrivateTest), public (PublicTest) or train.
    #[arg(long, default_value = "private")]
    pub split: String,
    /// Labels to compare against.
    #[arg(long, value_enum, default_value_t = LabelSource::Fer2013)]
    pub labels: LabelSource,
    /// FER+ votes file, for --labels ferplus.
    #[arg(long)]
    pub ferplus: Option<PathBuf>,
    /// Model directory (config.json + model.bpk), an embedded network (`sldcnn-fer2013`,
    /// `sldcnn-fer2013-e92`, `sldcnn-fer2013-ba`, `sldcnn-fer2013-wide`), `shipped` (e92 and ba
    /// averaged; the default) or `accurate` (wide and e92 averaged). Repeat it to evaluate an
    /// ensemble: each image goes through every network and their probabilities are averaged.
    #[arg(long)]
    pub model: Vec<PathBuf>,
    /// Evaluate two models on the same images and test whether their accuracies differ
    /// (McNemar's test, also on the de-duplicated split). Each is what `--model` takes, or an
    /// ensemble of those joined by `+` (`DIR1+DIR2`).
    #[arg(long, num_args = 2, value_names = ["A", "B"], conflicts_with = "model")]
    pub compare: Option<Vec<PathBuf>>,
    /// Test-time augmentation, averaging the probabilities of several views of each image:
    /// none; flip (the image and its mirror image; also what a bare `--tta` means); flip-shift
    /// (both, each also shifted by 2 pixels left, right, up and down: 10 views).
    #[arg(long, num_args = 0..=1, default_value = "none", default_missing_value = "flip", value_name = "MODE")]
    pub tta: Tta,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Images per inference batch.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Compute device: cpu, flex (burn's CPU backend), cuda[:N] or torch-cpu (the last two need the `cuda` build).
    #[arg(long, default_value = "cpu")]
    pub device: ComputeDevice,
}

/// `fer-batch run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Video files or directories (searched recursively for video files, see --glob).
    #[arg(required_unless_present = "manifest")]
    pub inputs: Vec<PathBuf>,
    /// Inputs listed in a file, one per line: `path[,camera[,start_utc]]` (start_utc RFC 3339,
    /// e.g. 2024-05-01T08:30:00Z; `#` comments; relative paths are relative to the manifest).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Which files under directory inputs are videos, e.g. '*.mp4' or 'cam*/**/*.mkv' (`*`, `?`,
    /// `**`, `[a-z]`; a pattern without `/` matches file names at any depth). Default: the usual
    /// video extensions.
    #[arg(long, value_name = "PATTERN")]
    pub glob: Option<String>,
    /// Output. A file (NAME.parquet): the per-face table, with NAME.persons.parquet and
    /// NAME.crowd.parquet beside it. A directory (ends with / or exists) or s3://bucket/prefix/:
    /// a Hive-partitioned dataset, table=T/date=YYYY-MM-DD/camera=NAME/part-ID.parquet, one
    /// part per video; reruns add new videos and skip those already there. S3 settings come
    /// from the AWS_* environment variables (AWS_ENDPOINT_URL for S3-compatible servers).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Pipeline preset (classroom, traffic) or path to a pipeline TOML file.
    #[arg(long, short)]
    pub pipeline: Option<String>,
    /// Override any pipeline value: --set section.key=value (repeatable), e.g. --set detect.min-score=3.
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Frames analysed per second of video (0: every frame). Overrides decode.sample-fps.
    #[arg(long)]
    pub sample_fps: Option<f64>,
    /// Smallest face side to detect, in source pixels. Overrides detect.min-face-px.
    #[arg(long)]
    pub min_face: Option<f32>,
    /// Face detector: yunet (CNN with five landmarks, the presets' default) or seetaface (the
    /// earlier cascade, boxes only). Overrides detect.detector.
    #[arg(long, value_enum)]
    pub detector: Option<DetectorKind>,
    /// Run the full face detector on every N-th analysed frame only; in between, each face is
    /// re-found near its last box.
    #[arg(long)]
    pub detect_every: Option<u32>,
    /// Crowd-statistics window in seconds. Overrides aggregate.window-secs.
    #[arg(long)]
    pub window: Option<f64>,
    /// Temporal smoothing: ema, window or none. Overrides smooth.method.
    #[arg(long)]
    pub smooth: Option<String>,
    /// Faces per inference batch. Overrides classify.batch-size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Expression model: a directory (config.json + model.bpk), an embedded network
    /// (`sldcnn-fer2013`, `sldcnn-fer2013-e92`, `sldcnn-fer2013-ba`: each half the default's
    /// cost; `sldcnn-fer2013-wide`: 1.2–1.5× the default's cost), `shipped` (e92 and ba averaged;
    /// the default) or `accurate` (wide and e92 averaged: the most accurate choice, at 1.7–1.9×
    /// the default's cost; numbers in the model card). Repeat it for an ensemble: every face
    /// goes through each network and their probabilities are averaged (costs the sum of the
    /// networks).
    #[arg(long)]
    pub model: Vec<PathBuf>,
    /// Use a randomly initialised network instead of trained weights (testing only; reported in the outputs).
    #[arg(long, conflicts_with = "model")]
    pub untrained: bool,
    /// Camera name stored in every row (a manifest line's camera takes precedence).
    #[arg(long)]
    pub camera: Option<String>,
    /// Videos processed at the same time (they share the model).
    #[arg(long, short, default_value_t = 1)]
    pub jobs: usize,
    /// Write a JSON run report (status, counts and timings per input) to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Reprocess videos whose outputs are up to date (same content, settings and model), and
    /// replace existing output files even if they are not fer-batch tables of this schema version.
    #[arg(long)]
    pub force: bool,
    /// Compute device for the expression model: cpu, flex (burn's CPU backend), cuda[:N] or torch-cpu (the last two need
    /// the `cuda` build).
    #[arg(long, default_value = "cpu")]
    pub device: ComputeDevice,
    /// Split the inputs into this many shards and analyse one of them (array jobs: Slurm,
    /// Kubernetes Indexed Jobs, AWS Batch). Every task must pass the same count, also when
    /// rerunning some indices only. The rule: largest file first, to the shard with the fewest
    /// bytes so far.
    #[arg(long, value_name = "N")]
    pub shard_count: Option<u32>,
    /// This task's shard, 0-based. Default: from SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or
    /// AWS_BATCH_JOB_ARRAY_INDEX, in that order.
    #[arg(long, value_name = "I", requires = "shard_count")]
    pub shard_index: Option<u32>,
    /// What a truncated recording does (decoded clearly shorter than its container declares,
    /// e.g. a recorder that died): `warn` keeps its results, names it on stderr and records
    /// both durations in the report and the tables' metadata; `fail` also counts it as failed
    /// (exit 1) and publishes nothing for it, so a rerun tries it again. A video of which
    /// nothing could be decoded fails either way.
    #[arg(long, value_enum, default_value_t = OnTruncated::Warn)]
    pub on_truncated: OnTruncated,
    /// Print this run's (shard's) videos, one per line as `todo<TAB>PATH`, `done<TAB>PATH` (its
    /// results exist) or `fail<TAB>PATH` (unreadable), and exit without analysing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// After the run, also write the video with the results drawn on it (as `fer-batch
    /// annotate` does) to this file (.mp4, .mkv, …). Only with a single video file input.
    #[arg(long, value_name = "OUT_VIDEO", conflicts_with = "manifest")]
    pub annotate: Option<PathBuf>,
}

/// `--on-truncated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnTruncated {
    /// Keep the results, warn, record the durations.
    Warn,
    /// Count the video as failed and publish nothing for it.
    Fail,
}

/// `fer-batch classify`.
#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// Image files (JPEG or PNG).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Expression model: a directory, an embedded network (`sldcnn-fer2013`,
    /// `sldcnn-fer2013-e92`, `sldcnn-fer2013-ba`, `sldcnn-fer2013-wide`), `shipped` (e92 and ba
    /// averaged; the default) or `accurate` (wide and e92 averaged); repeat it for an ensemble
    /// that averages the networks' probabilities.
    #[arg(long)]
    pub model: Vec<PathBuf>,
    /// Use a randomly initialised network (testing only).
    #[arg(long, conflicts_with = "model")]
    pub untrained: bool,
    /// Smallest face side to detect, in pixels.
    #[arg(long, default_value_t = 20.0)]
    pub min_face: f32,
    /// Face detector: yunet (CNN with five landmarks) or seetaface (boxes only).
    #[arg(long, value_enum, default_value = "yunet")]
    pub detector: DetectorKind,
    /// Minimum detector score (default: the detector's own, 0.6 for yunet, 2.0 for seetaface).
    #[arg(long)]
    pub min_score: Option<f32>,
    /// Average each face with its mirror image.
    #[arg(long)]
    pub tta: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Compute device: cpu, flex (burn's CPU backend), cuda[:N] or torch-cpu (the last two need the `cuda` build).
    #[arg(long, default_value = "cpu")]
    pub device: ComputeDevice,
    /// Also write each image with its faces drawn on it (box, label, probability bar). With one
    /// image: the output file (.png or .jpg). With several (or an existing directory): a
    /// directory that receives <stem>.annotated.png per image.
    #[arg(long, value_name = "OUT")]
    pub annotate: Option<PathBuf>,
}

/// `fer-batch report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The faces table of a single-file run (its .persons and .crowd siblings are read too).
    pub results: PathBuf,
    /// HTML file to write (self-contained: inline SVG, no scripts, no network).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Page title.
    #[arg(long)]
    pub title: Option<String>,
    /// Also write the timeline as a PNG (for slides).
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Add a few annotated frames of this source video to the page, with every face blanked
    /// out (nothing of the footage is included unless this is given).
    #[arg(long, value_name = "VIDEO")]
    pub thumbnails: Option<PathBuf>,
    /// How many annotated frames `--thumbnails` adds, spread over the video.
    #[arg(long, default_value_t = 4, requires = "thumbnails")]
    pub thumbnail_count: usize,
}

/// `fer-batch annotate`.
#[derive(Debug, Args)]
pub struct AnnotateArgs {
    /// The source video (the same file `fer-batch run` analysed).
    pub video: PathBuf,
    /// The run's results: its faces table (the --out file), or its dataset directory.
    #[arg(long)]
    pub results: PathBuf,
    /// Video file to write (.mp4 recommended; H.264 when FFmpeg has libx264, else MPEG-4).
    #[arg(long, short)]
    pub out: PathBuf,
}
