//! The end of a run: the single-file form's merge, the terminal summary, the JSON run report
//! and the exit status.
//!
//! In: the [`Outcome`]s, the [`Target`] and the run's metadata. Out: the three merged files
//! (single-file form), lines on stderr, `--report FILE`, and a [`Status`].

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::execute::{Outcome, VideoStatus};
use super::plan::{Hashes, source_json};
use super::target::Target;
use crate::classify::ModelInfo;
use crate::cli::Status;
use crate::pipeline::output::append_part;
use crate::pipeline::{StageTimes, VideoReport};
use crate::sink::{CrowdRow, FaceRow, OutputPaths, PersonRow, SCHEMA_VERSION, TableWriter, WriterOptions};

/// Row counts over the completed videos.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Rows {
    pub(super) faces: u64,
    pub(super) persons: u64,
    pub(super) windows: u64,
}

/// The completed videos with their reports.
pub(super) fn done(outcomes: &[Outcome]) -> Vec<(&Outcome, &VideoReport)> {
    outcomes
        .iter()
        .filter_map(|o| match &o.status {
            VideoStatus::Done(r) => Some((o, r)),
            _ => None,
        })
        .collect()
}

/// Single-file form: merges the parts of the videos that completed, in input order, into the
/// three files (three renames; each file is complete on its own).
pub(super) fn merge_files(
    paths: &OutputPaths,
    done: &[(&Outcome, &VideoReport)],
    hashes: &Hashes,
    mut metadata: Vec<(String, String)>,
    force: bool,
) -> anyhow::Result<Rows> {
    let sources: Vec<serde_json::Value> = done.iter().map(|(o, _)| source_json(&o.input, hashes.get(o.index, &o.input.path).ok())).collect();
    metadata.push(("sources".into(), serde_json::Value::Array(sources).to_string()));
    // How much of each source was decoded, in the order of `sources` (truncated recordings).
    let completeness: Vec<serde_json::Value> = done.iter().map(|(o, r)| serde_json::json!({"path": o.input.path.display().to_string(), "declared_s": r.completeness.declared_s, "decoded_s": r.completeness.decoded_s, "truncated": r.completeness.truncated})).collect();
    metadata.push(("source_completeness".into(), serde_json::Value::Array(completeness).to_string()));
    metadata.push(("run_finished_utc".into(), humantime_now()));
    let opts = WriterOptions { key_value_metadata: metadata, force_replace: force, ..WriterOptions::default() };
    let mut fw: TableWriter<FaceRow> = TableWriter::create(&paths.faces, &opts)?;
    let mut pw: TableWriter<PersonRow> = TableWriter::create(&paths.persons, &opts)?;
    let mut cw: TableWriter<CrowdRow> = TableWriter::create(&paths.crowd, &opts)?;
    let mut rows = Rows::default();
    for (o, _) in done {
        let Some(p) = &o.placement else { continue };
        rows.faces += append_part(&mut fw, &p.staged.faces)?;
        rows.persons += append_part(&mut pw, &p.staged.persons)?;
        rows.windows += append_part(&mut cw, &p.staged.crowd)?;
    }
    fw.finish()?;
    pw.finish()?;
    cw.finish()?;
    Ok(rows)
}

/// Row counts from the videos' own reports (dataset form: nothing to merge).
pub(super) fn counted(done: &[(&Outcome, &VideoReport)]) -> Rows {
    done.iter().fold(Rows::default(), |r, (_, v)| Rows { faces: r.faces + v.faces, persons: r.persons + v.persons, windows: r.windows + v.windows })
}

/// Prints every failure (even with `--quiet`), once per video.
pub(super) fn print_failures(outcomes: &[Outcome]) {
    for o in outcomes {
        if let VideoStatus::Failed(e) = &o.status {
            // Most errors already start with the path; don't print it twice.
            let path = o.input.path.display().to_string();
            if e.starts_with(&path) {
                eprintln!("fer-batch: {e}");
            } else {
                eprintln!("fer-batch: {path}: {e}");
            }
        }
    }
}

/// What the terminal summary needs besides the outcomes.
pub(super) struct RunFacts<'a> {
    pub(super) target: &'a Target,
    pub(super) info: &'a ModelInfo,
    pub(super) wall_s: f64,
    /// Inputs of this run (this shard), plus directories that matched nothing.
    pub(super) inputs: usize,
    pub(super) rows: Rows,
    pub(super) failed: usize,
}

/// The closing lines: what was done, skipped and written, and the stage split.
pub(super) fn print_summary(outcomes: &[Outcome], facts: &RunFacts<'_>) {
    let done = done(outcomes);
    let skipped: Vec<&Outcome> = outcomes.iter().filter(|o| matches!(o.status, VideoStatus::Skipped)).collect();
    for o in &skipped {
        eprintln!("fer-batch: {}: skipped (up to date)", o.input.path.display());
    }
    let outputs = facts.target.describe();
    let skipped_note = if skipped.is_empty() { String::new() } else { format!("; {} skipped (up to date)", skipped.len()) };
    if done.is_empty() && !skipped.is_empty() && facts.failed == 0 {
        eprintln!("fer-batch: all {} video(s) are up to date; nothing to do (--force reprocesses).{outputs}", skipped.len());
        return;
    }
    if done.is_empty() {
        eprintln!("fer-batch: no video completed; nothing was written{skipped_note}");
        return;
    }
    let frames: u64 = done.iter().map(|(_, r)| r.frames_processed).sum();
    let Rows { faces, persons, windows } = facts.rows;
    eprintln!(
        "fer-batch: {} of {} videos done in {:.1}s: {frames} frames analysed ({:.1} frames/s), {faces} faces, {persons} people, {windows} crowd windows{skipped_note}; model {}{}.{outputs}",
        done.len(),
        facts.inputs,
        facts.wall_s,
        frames as f64 / facts.wall_s.max(1e-9),
        facts.info.id,
        if facts.info.trained { "" } else { " (UNTRAINED)" },
    );
    let st = done.iter().fold(StageTimes::default(), |mut st, (_, r)| {
        st.decode_s += r.stages.decode_s;
        st.decode_wait_s += r.stages.decode_wait_s;
        st.detect_s += r.stages.detect_s;
        st.align_s += r.stages.align_s;
        st.classify_s += r.stages.classify_s;
        st.track_s += r.stages.track_s;
        st.write_s += r.stages.write_s;
        st
    });
    eprintln!(
        "  stages (CPU s): decode {:.1}, detect {:.1}, align {:.1}, classify {:.1}, track+aggregate {:.2}, write {:.2}; waited {:.1}s for frames",
        st.decode_s, st.detect_s, st.align_s, st.classify_s, st.track_s, st.write_s, st.decode_wait_s
    );
}

/// The JSON run report's per-input entries: every outcome, then the empty directories.
pub(super) fn report_items(outcomes: &[Outcome], target: &Target, empty_dirs: &[(PathBuf, String)]) -> Vec<serde_json::Value> {
    let mut items: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            let p = o.input.path.display().to_string();
            let mut item = match &o.status {
                VideoStatus::Done(r) if r.completeness.truncated => {
                    serde_json::json!({"path": p, "status": "ok", "warning": "truncated recording", "report": r})
                }
                VideoStatus::Done(r) => serde_json::json!({"path": p, "status": "ok", "report": r}),
                VideoStatus::Skipped => serde_json::json!({"path": p, "status": "skipped", "reason": "up to date"}),
                VideoStatus::Failed(e) => serde_json::json!({"path": p, "status": "failed", "error": e}),
            };
            if let (Some(root), Some(keys)) = (target.dataset(), o.placement.as_ref().and_then(|p| p.keys.as_ref())) {
                let [faces, persons, crowd] = keys.each_ref().map(|k| root.address(k));
                item["outputs"] = serde_json::json!({"faces": faces, "persons": persons, "crowd": crowd});
            }
            item
        })
        .collect();
    items.extend(empty_dirs.iter().map(|(d, why)| serde_json::json!({"path": d.display().to_string(), "status": "failed", "error": why})));
    items
}

/// The run-wide fields of the JSON run report.
pub(super) struct ReportHead<'a> {
    pub(super) model: Option<&'a str>,
    pub(super) started_utc: &'a str,
    pub(super) wall_s: f64,
    pub(super) interrupted: bool,
    /// `{"index": I, "count": N, "source": …, "videos_in_run": M}` when sharded.
    pub(super) shard: serde_json::Value,
}

/// Writes the JSON run report.
pub(super) fn write_report(path: &Path, head: &ReportHead<'_>, outputs: serde_json::Value, items: Vec<serde_json::Value>) -> anyhow::Result<()> {
    let report = serde_json::json!({
        "tool": format!("fer-batch {}", env!("CARGO_PKG_VERSION")),
        "schema_version": SCHEMA_VERSION,
        "model": head.model, "started_utc": head.started_utc, "wall_s": head.wall_s, "interrupted": head.interrupted,
        "shard": head.shard,
        "outputs": outputs,
        "inputs": items,
    });
    std::fs::write(path, serde_json::to_vec_pretty(&report)?).with_context(|| format!("writing run report {}", path.display()))
}

/// The exit status: interrupted (by which signal), some failed, or all done or skipped.
pub(super) fn status(interrupted: Option<i32>, failed: usize) -> Status {
    match interrupted {
        Some(sig) => Status::Interrupted(sig),
        None if failed > 0 => Status::Partial,
        None => Status::Success,
    }
}

/// Current UTC time as RFC 3339 (seconds).
pub(super) fn humantime_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let date = crate::pipeline::output::dataset::date_from_utc_micros(days * 86_400_000_000);
    format!("{date}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}
