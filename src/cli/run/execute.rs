//! The batch loop: `--jobs` workers take the videos in order, run the pipeline into each
//! video's staged part files, and publish the parts of the videos that complete.
//!
//! In: the videos, a [`Planner`] and the shared [`Pipeline`]. Out: one [`Outcome`] per video
//! that was started (in input order); videos not started because the run was interrupted
//! have none.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::plan::{Placement, Planner};
use super::target::Target;
use crate::cli::args::OnTruncated;
use crate::cli::progress::BarReporter;
use crate::pipeline::output::PartSink;
use crate::pipeline::{Pipeline, VideoInput, VideoReport};

/// What became of one video.
pub(super) enum VideoStatus {
    /// Analysed; its parts were written (dataset form: published).
    Done(VideoReport),
    /// Dataset form: its three parts already exist (same content, settings and model).
    Skipped,
    /// It failed; nothing of it was published.
    Failed(String),
}

/// One video's result.
pub(super) struct Outcome {
    pub(super) index: usize,
    pub(super) input: VideoInput,
    /// Where it went; `None` when it failed before that was known.
    pub(super) placement: Option<Placement>,
    pub(super) status: VideoStatus,
}

/// The run-wide parts the workers share.
pub(super) struct Batch<'a> {
    pub(super) pipeline: &'a Pipeline,
    pub(super) planner: &'a Planner<'a>,
    pub(super) reporter: &'a BarReporter,
    pub(super) cancel: &'a AtomicBool,
    /// `--force`: reprocess dataset videos whose parts exist.
    pub(super) force: bool,
    /// Videos processed at the same time.
    pub(super) jobs: usize,
    /// `--on-truncated`.
    pub(super) on_truncated: OnTruncated,
}

/// Runs every video of `inputs` (until cancelled) on `batch.jobs` threads.
pub(super) fn execute(batch: &Batch<'_>, inputs: &[VideoInput]) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::with_capacity(inputs.len()));
    std::thread::scope(|s| {
        for _ in 0..batch.jobs.clamp(1, inputs.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= inputs.len() || batch.cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    let outcome = one(batch, i, &inputs[i]);
                    if let Ok(mut o) = outcomes.lock() {
                        o.push(outcome);
                    }
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap_or_default();
    outcomes.sort_by_key(|o| o.index);
    outcomes
}

/// Places, skips or analyses and publishes video `i`.
fn one(batch: &Batch<'_>, i: usize, input: &VideoInput) -> Outcome {
    let outcome = |placement, status| Outcome { index: i, input: input.clone(), placement, status };
    let placement = match batch.planner.place(i, input) {
        Ok(p) => p,
        Err(e) => return outcome(None, VideoStatus::Failed(e)),
    };
    if !batch.force {
        match batch.planner.is_done(&placement) {
            Ok(true) => {
                tracing::info!("{}: skipped (up to date)", input.path.display());
                return outcome(Some(placement), VideoStatus::Skipped);
            }
            Ok(false) => {}
            Err(e) => return outcome(Some(placement), VideoStatus::Failed(e)),
        }
    }
    let sink = Box::new(PartSink::new(input, placement.meta.clone(), placement.staged.clone()));
    let result = batch.pipeline.run_video(input, sink, batch.reporter).map_err(|e| e.to_string());
    batch.reporter.video_done(input, &result);
    let status = match result.and_then(|r| check_complete(batch.on_truncated, input, r)).and_then(|r| publish(batch, i, input, &placement).map(|()| r)) {
        Ok(r) => VideoStatus::Done(r),
        Err(e) => VideoStatus::Failed(e),
    };
    outcome(Some(placement), status)
}

/// A video of which nothing could be decoded fails; a truncated one (see
/// [`crate::decode::Completeness`]) is named on stderr, and fails with `--on-truncated fail`.
fn check_complete(policy: OnTruncated, input: &VideoInput, r: VideoReport) -> Result<VideoReport, String> {
    let c = r.completeness;
    let declared = c.declared_s.map_or_else(|| "an unknown length".to_owned(), |d| format!("{d:.1}s"));
    if r.frames_decoded == 0 {
        return Err(format!("no frame could be decoded (the container declares {declared})"));
    }
    if !c.truncated {
        return Ok(r);
    }
    let what = format!("truncated recording: decoded {:.1}s of the {declared} its container declares", c.decoded_s);
    match policy {
        OnTruncated::Fail => Err(format!("{what} (--on-truncated fail)")),
        OnTruncated::Warn => {
            eprintln!("fer-batch: warning: {}: {what}; its results cover only that part", input.path.display());
            Ok(r)
        }
    }
}

/// Dataset form: moves the video's three staged parts to their keys. Single-file form: hashes
/// the source for the `sources` metadata while other workers decode.
fn publish(batch: &Batch<'_>, i: usize, input: &VideoInput, placement: &Placement) -> Result<(), String> {
    match (batch.planner.target, &placement.keys) {
        (Target::Dataset(root), Some(keys)) => {
            for (staged, key) in placement.staged.all().into_iter().zip(keys) {
                root.publish(staged, key).map_err(|e| format!("the results could not be published: {e}"))?;
            }
            Ok(())
        }
        _ => {
            batch.planner.hashes.get(i, &input.path).ok();
            Ok(())
        }
    }
}
