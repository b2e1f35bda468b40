//! `fer-batch run`: videos in, Parquet tables out.
//!
//! Along the data's path, one step per file:
//!
//! 1. [`inputs`]: files, directories (filtered by `--glob` or the video extensions) and
//!    manifest lines (`--manifest`, with camera and start time), then this task's [`shard`]
//!    (`--shard-index`/`--shard-count`, or the index from a scheduler's environment).
//! 2. [`target`]: the output, checked before anything is decoded, and the staging folder.
//!    - **Single files** (`--out results.parquet`): each video is analysed into private
//!      staging parts; those that complete are merged into three files. When the three files
//!      already exist and their `sources`, `pipeline_settings` and model metadata are exactly
//!      what this run would write, nothing is decoded.
//!    - **Dataset** (`--out dir/` or `--out s3://bucket/prefix/`): each video's parts are
//!      staged outside the table folders, then renamed or uploaded to their Hive partition
//!      (see [`crate::pipeline::output::dataset`]) under an id derived from its content, the
//!      settings and the model; a video whose three parts exist is skipped.
//! 3. The model ([`Classifier::load`]).
//! 4. [`plan`]: each video's placement and the up-to-date checks; `--dry-run` stops here.
//! 5. [`execute`]: the batch loop and publishing.
//! 6. [`summary`]: the merge (single files), the summary, the JSON report and the exit status.
//!
//! `--force` reprocesses in both forms. Each input file is hashed (blake3, streamed) at most
//! once per run.

mod execute;
mod glob;
mod inputs;
mod manifest;
mod plan;
mod shard;
mod summary;
mod target;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context as _;

use self::execute::{Batch, execute};
use self::inputs::{Inputs, gather};
use self::plan::{Hashes, Planner, outputs_up_to_date};
use self::shard::Shard;
use self::summary::{ReportHead, RunFacts, humantime_now};
use self::target::{Staging, Target};
use super::Status;
use super::args::{GlobalArgs, RunArgs};
use super::progress::BarReporter;
use crate::classify::{Classifier, ModelInfo, Tta};
use crate::config::{DEFAULT_PRESET, Options, Settings};
use crate::pipeline::output::RunMeta;
use crate::pipeline::{ClassifierService, Pipeline, VideoInput};

/// Resolves `--pipeline`, `--set` and the dedicated flags into settings.
pub(super) fn resolve_settings(a: &RunArgs) -> anyhow::Result<Settings> {
    let name = a.pipeline.as_deref().unwrap_or(DEFAULT_PRESET);
    let (mut options, origin) = Options::load(name)?;
    if let Some(kind) = a.detector {
        options = options.with_detector(kind);
    }
    let mut sets = a.set.clone();
    if let Some(f) = a.sample_fps {
        sets.push(format!("decode.sample-fps={f:?}"));
    }
    if let Some(m) = a.min_face {
        sets.push(format!("detect.min-face-px={m:?}"));
    }
    if let Some(k) = a.detect_every {
        sets.push(format!("detect.every-n-frames={k}"));
    }
    if let Some(w) = a.window {
        sets.push(format!("aggregate.window-secs={w:?}"));
    }
    if let Some(s) = &a.smooth {
        sets.push(format!("smooth.method=\"{s}\""));
    }
    if let Some(b) = a.batch_size {
        sets.push(format!("classify.batch-size={b}"));
    }
    let options = options.with_overrides(&sets, &origin)?;
    Ok(options.into_settings(&origin)?)
}

pub(super) fn run(a: RunArgs, g: &GlobalArgs) -> anyhow::Result<Status> {
    let t0 = Instant::now();
    let started_utc = humantime_now();
    let settings = resolve_settings(&a)?;
    let shard = resolve_shard(&a, g)?;
    let inputs = gather(&a, shard.as_ref())?;
    // Errors are printed even with --quiet.
    for (dir, why) in &inputs.empty_dirs {
        eprintln!("fer-batch: {}: {why}", dir.display());
    }
    if let Some(s) = &shard
        && !g.quiet
    {
        eprintln!("fer-batch: shard {} of {} (index from {}): {} of {} video(s)", s.index, s.count, s.source, inputs.videos.len(), inputs.total);
    }
    let head = |model, interrupted| ReportHead {
        model,
        started_utc: &started_utc,
        wall_s: t0.elapsed().as_secs_f64(),
        interrupted,
        shard: shard_json(shard.as_ref(), &inputs),
    };
    if inputs.videos.is_empty() {
        return nothing_to_analyse(&a, &inputs, shard.is_some(), &head(None, false));
    }

    let target = Target::open(&a.out, a.force)?;
    let classifier = Classifier::load(&a.model, a.untrained, a.device, Tta::flip_if(settings.flip_tta))?;
    let info: ModelInfo = classifier.info().clone();
    warn_untrained(&info, g);
    let settings_json = serde_json::to_string(&settings)?;
    let hashes = Hashes::new(inputs.videos.len());

    // Single-file form: nothing to do when the three files already hold exactly this run.
    if let Target::Files(paths) = &target
        && inputs.empty_dirs.is_empty()
        && !a.force
        && outputs_up_to_date(paths, &inputs.videos, &hashes, &settings_json, &info)
    {
        if a.dry_run {
            inputs.videos.iter().for_each(|v| println!("done\t{}", v.path.display()));
            return Ok(Status::Success);
        }
        if !g.quiet {
            eprintln!(
                "fer-batch: outputs are up to date (same {} input(s), settings and model); nothing to do (--force reprocesses).{}",
                inputs.videos.len(),
                target.describe()
            );
        }
        if let Some(report) = &a.report {
            let items =
                inputs.videos.iter().map(|i| serde_json::json!({"path": i.path.display().to_string(), "status": "skipped", "reason": "up to date"})).collect();
            summary::write_report(report, &head(Some(&info.id), false), target.json(), items)?;
        }
        return Ok(Status::Success);
    }

    let pipeline_name: Arc<str> = format!("{}@fer-batch-{}", settings.name, env!("CARGO_PKG_VERSION")).into();
    let meta = RunMeta {
        model_id: info.id.clone().into(),
        pipeline: pipeline_name.clone(),
        metadata: run_metadata(&info, &pipeline_name, &settings_json, &started_utc),
    };
    if a.dry_run {
        let planner = Planner { target: &target, staging: std::path::Path::new(""), meta: &meta, settings_json: &settings_json, info: &info, hashes: &hashes };
        return Ok(dry_run(&planner, &inputs.videos, a.force));
    }
    let (staging, swept) = Staging::create(&target)?;
    if swept > 0 && !g.quiet {
        eprintln!("fer-batch: removed {swept} temporary file(s) left by an interrupted run");
    }
    let planner = Planner { target: &target, staging: staging.path(), meta: &meta, settings_json: &settings_json, info: &info, hashes: &hashes };

    let (service, service_thread) = ClassifierService::spawn(classifier, settings.batch_size).context("cannot start the classifier thread")?;
    crate::decode::init();
    let cancel = Arc::new(AtomicBool::new(false));
    super::signals::install(cancel.clone());
    let pipeline = Pipeline::new(settings.clone(), service.clone(), cancel.clone())?;
    let interactive = !g.quiet && !g.no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let reporter = BarReporter::new(interactive, inputs.videos.len());
    let batch =
        Batch { pipeline: &pipeline, planner: &planner, reporter: &reporter, cancel: &cancel, force: a.force, jobs: a.jobs, on_truncated: a.on_truncated };
    let outcomes = execute(&batch, &inputs.videos);
    drop(pipeline);
    drop(service);
    service_thread.join().ok();
    reporter.finish();
    let interrupted = cancel.load(Ordering::Relaxed).then(|| super::signals::received().unwrap_or(libc::SIGTERM));

    let done = summary::done(&outcomes);
    let failed = outcomes.iter().filter(|o| matches!(o.status, execute::VideoStatus::Failed(_))).count()
        + (inputs.videos.len() - outcomes.len())
        + inputs.empty_dirs.len();
    let rows = match &target {
        Target::Files(paths) if !done.is_empty() => summary::merge_files(paths, &done, &hashes, meta.metadata.clone(), a.force)?,
        _ => summary::counted(&done),
    };
    drop(staging);

    summary::print_failures(&outcomes);
    if !g.quiet {
        let facts =
            RunFacts { target: &target, info: &info, wall_s: t0.elapsed().as_secs_f64(), inputs: inputs.videos.len() + inputs.empty_dirs.len(), rows, failed };
        summary::print_summary(&outcomes, &facts);
    }
    if let Some(path) = &a.report {
        let items = summary::report_items(&outcomes, &target, &inputs.empty_dirs);
        summary::write_report(path, &head(Some(&info.id), interrupted.is_some()), target.json(), items)?;
    }
    if interrupted.is_some() {
        eprintln!("fer-batch: interrupted; {} video(s) had completed and were written", done.len());
    }
    Ok(summary::status(interrupted, failed))
}

/// The shard asked for, and a warning when a run inside an array task is not sharded.
fn resolve_shard(a: &RunArgs, g: &GlobalArgs) -> anyhow::Result<Option<Shard>> {
    let shard = shard::resolve(a.shard_index, a.shard_count, |k| std::env::var(k).ok())?;
    if shard.is_none()
        && let Some(var) = shard::index_var_present()
        && !g.quiet
    {
        eprintln!("fer-batch: warning: {var} is set but --shard-count is not: this task analyses every input (pass --shard-count N to split them)");
    }
    Ok(shard)
}

fn shard_json(shard: Option<&Shard>, inputs: &Inputs) -> serde_json::Value {
    match shard {
        Some(s) => serde_json::json!({"index": s.index, "count": s.count, "source": s.source, "videos": inputs.videos.len(), "videos_in_run": inputs.total}),
        None => serde_json::Value::Null,
    }
}

/// No video in this run: only empty directories (each reported), or an empty shard.
fn nothing_to_analyse(a: &RunArgs, inputs: &Inputs, sharded: bool, head: &ReportHead<'_>) -> anyhow::Result<Status> {
    // More shards than videos: an empty shard is a success, not an error.
    let empty_shard = sharded && inputs.empty_dirs.is_empty();
    if empty_shard {
        eprintln!("fer-batch: this shard holds none of the {} video(s); nothing to do", inputs.total);
    } else {
        eprintln!("fer-batch: no video to analyse; nothing was written");
    }
    if let Some(report) = &a.report {
        summary::write_report(
            report,
            head,
            serde_json::Value::Null,
            summary::report_items(&[], &Target::Files(crate::sink::sibling_paths(&a.out)), &inputs.empty_dirs),
        )?;
    }
    Ok(if empty_shard { Status::Success } else { Status::Partial })
}

fn warn_untrained(info: &ModelInfo, g: &GlobalArgs) {
    if !info.trained {
        tracing::warn!("using an UNTRAINED model (random weights): scores are meaningless");
        if !g.quiet {
            eprintln!("fer-batch: warning: --untrained: expression scores come from random weights");
        }
    }
}

/// File-level metadata shared by every table this run writes.
fn run_metadata(info: &ModelInfo, pipeline: &str, settings_json: &str, started_utc: &str) -> Vec<(String, String)> {
    vec![
        ("tool".to_string(), format!("fer-batch {}", env!("CARGO_PKG_VERSION"))),
        ("model_id".into(), info.id.clone()),
        ("model_hash".into(), info.hash.clone()),
        ("model_trained".into(), info.trained.to_string()),
        ("pipeline".into(), pipeline.to_owned()),
        ("pipeline_settings".into(), settings_json.to_owned()),
        ("run_started_utc".into(), started_utc.to_owned()),
    ]
}

/// `--dry-run`: one line per video of this run on stdout, `todo<TAB>PATH`, `done<TAB>PATH`
/// (its results exist) or `fail<TAB>PATH` (unreadable: exit 1), and nothing decoded.
fn dry_run(planner: &Planner<'_>, videos: &[VideoInput], force: bool) -> Status {
    let mut failed = 0;
    for (i, input) in videos.iter().enumerate() {
        let state = match planner.place(i, input).and_then(|p| planner.is_done(&p)) {
            Ok(true) if !force => "done",
            Ok(_) => "todo",
            Err(e) => {
                eprintln!("fer-batch: {}: {e}", input.path.display());
                failed += 1;
                "fail"
            }
        };
        println!("{state}\t{}", input.path.display());
    }
    if failed == 0 { Status::Success } else { Status::Partial }
}
