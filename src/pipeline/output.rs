//! Parquet output of a run: each video writes its three tables to part files in the run's
//! staging folder; only videos that complete are merged into the final files (single-file
//! form) or published into their partitions (dataset form: renamed on a local file system,
//! uploaded to S3, see [`store`]), so a failed or interrupted video leaves nothing behind and
//! a reader never sees a partial table.
//!
//! In: [`TrackedFrame`]s, [`CrowdWindow`]s and [`PersonSummary`]s of each video. Out: the
//! `faces`, `persons` and `crowd` Parquet files described in `schemas/`, at the paths of
//! [`PartPaths`]; the dataset layout is in [`dataset`].

pub mod dataset;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{VideoInput, VideoReport, VideoSink};
use crate::aggregate::{CrowdWindow, PersonSummary};
use crate::decode::VideoInfo;
use crate::sink::{CrowdRow, FaceRow, PersonRow, SinkError, TableRow, TableWriter, WriterOptions};
use crate::track::TrackedFrame;

/// Run-wide values stamped on every row or file.
#[derive(Debug, Clone)]
pub struct RunMeta {
    /// Model id (`name@hash`).
    pub model_id: Arc<str>,
    /// Pipeline name (+ tool version).
    pub pipeline: Arc<str>,
    /// File-level key-value metadata shared by all tables (tool version, model, settings…).
    pub metadata: Vec<(String, String)>,
}

/// Paths of one video's part files.
#[derive(Debug, Clone)]
pub struct PartPaths {
    /// faces part.
    pub faces: PathBuf,
    /// persons part.
    pub persons: PathBuf,
    /// crowd part.
    pub crowd: PathBuf,
}

impl PartPaths {
    /// Part files for video number `n` inside `staging`. They are named `*.staged`, not
    /// `*.parquet`, so that no `**/*.parquet` glob over a dataset picks them up mid-run.
    pub fn new(staging: &Path, n: usize) -> Self {
        Self {
            faces: staging.join(format!("{n:06}.faces.staged")),
            persons: staging.join(format!("{n:06}.persons.staged")),
            crowd: staging.join(format!("{n:06}.crowd.staged")),
        }
    }
}

/// Parses an RFC 3339 / ISO 8601 UTC time (`2024-05-01T08:30:00Z`, fractional seconds and
/// `±HH:MM` offsets allowed, also FFmpeg's `2024-05-01T08:30:00.000000Z`) into microseconds
/// since the Unix epoch.
pub fn parse_utc_micros(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = s.split_once(['T', ' '])?;
    let mut d = date.split('-');
    let (y, m, dd): (i64, i64, i64) = (d.next()?.parse().ok()?, d.next()?.parse().ok()?, d.next()?.parse().ok()?);
    let (time, offset_s) = if let Some(t) = rest.strip_suffix('Z').or_else(|| rest.strip_suffix('z')) {
        (t, 0i64)
    } else if let Some(pos) = rest.rfind(['+', '-']) {
        let (t, off) = rest.split_at(pos);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':').unwrap_or((&off[1..3.min(off.len())], "0"));
        (t, sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60))
    } else {
        (rest, 0)
    };
    let mut t = time.split(':');
    let (hh, mm): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let sec: f64 = t.next().unwrap_or("0").parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&dd) || hh > 23 || mm > 59 || !(0.0..61.0).contains(&sec) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 - offset_s;
    Some(secs * 1_000_000 + (sec * 1e6).round() as i64)
}

/// Writes one video's tables to its part files.
pub struct PartSink {
    video: Arc<str>,
    camera: Option<Arc<str>>,
    start_utc_override: Option<i64>,
    start_utc_us: Option<i64>,
    meta: RunMeta,
    parts: PartPaths,
    options: WriterOptions,
    faces: Option<TableWriter<FaceRow>>,
    crowd: Option<TableWriter<CrowdRow>>,
}

impl PartSink {
    /// A sink for `input` writing to `parts`.
    pub fn new(input: &VideoInput, meta: RunMeta, parts: PartPaths) -> Self {
        let video: Arc<str> = input.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default().into();
        let options = WriterOptions {
            key_value_metadata: meta.metadata.clone(),
            force_replace: true, // staging parts are private files
            ..WriterOptions::default()
        };
        Self {
            video,
            camera: input.camera.as_deref().map(Arc::from),
            start_utc_override: input.start_utc.as_deref().and_then(parse_utc_micros),
            start_utc_us: None,
            meta,
            parts,
            options,
            faces: None,
            crowd: None,
        }
    }

    fn utc(&self, t: f64) -> Option<i64> {
        self.start_utc_us.map(|s| s + (t * 1e6).round() as i64)
    }
}

fn e(err: SinkError) -> String {
    err.to_string()
}

impl VideoSink for PartSink {
    fn start(&mut self, info: &VideoInfo) -> Result<(), String> {
        self.start_utc_us = self.start_utc_override.or_else(|| info.creation_time_utc.as_deref().and_then(parse_utc_micros));
        self.faces = Some(TableWriter::create(&self.parts.faces, &self.options).map_err(e)?);
        self.crowd = Some(TableWriter::create(&self.parts.crowd, &self.options).map_err(e)?);
        Ok(())
    }

    fn frames(&mut self, frames: &[TrackedFrame]) -> Result<(), String> {
        let this = &*self;
        let rows: Vec<FaceRow> = frames
            .iter()
            .flat_map(|f| {
                f.faces.iter().map(move |x| FaceRow {
                    video: this.video.clone(),
                    camera: this.camera.clone(),
                    frame_index: f.frame_index,
                    timestamp_s: f.timestamp_s,
                    timestamp_utc_us: this.utc(f.timestamp_s),
                    x: x.detection.bbox.x,
                    y: x.detection.bbox.y,
                    width: x.detection.bbox.w,
                    height: x.detection.bbox.h,
                    detector_score: x.detection.score,
                    landmarks: x.detection.landmarks,
                    person_id: x.track_id.0,
                    raw: x.raw.0,
                    smoothed: x.smoothed.0,
                    label: x.smoothed.label(),
                    raw_label: x.raw.label(),
                    model_id: this.meta.model_id.clone(),
                    pipeline: this.meta.pipeline.clone(),
                })
            })
            .collect();
        let w = self.faces.as_mut().ok_or("faces table not started")?;
        w.write_all(rows).map_err(e)
    }

    fn windows(&mut self, windows: &[CrowdWindow]) -> Result<(), String> {
        let rows: Vec<CrowdRow> = windows
            .iter()
            .map(|w| CrowdRow {
                video: self.video.clone(),
                camera: self.camera.clone(),
                window_start_s: w.start_s,
                window_end_s: w.end_s,
                window_start_utc_us: self.utc(w.start_s),
                frames: w.frames,
                faces: w.faces,
                people: w.people,
                pct: w.pct,
                mean_smoothed: w.mean,
            })
            .collect();
        let w = self.crowd.as_mut().ok_or("crowd table not started")?;
        w.write_all(rows).map_err(e)
    }

    fn finish(mut self: Box<Self>, persons: &[PersonSummary], report: &VideoReport) -> Result<(), String> {
        let mut pw: TableWriter<PersonRow> = TableWriter::create(&self.parts.persons, &self.options).map_err(e)?;
        pw.write_all(persons.iter().map(|p| PersonRow {
            video: self.video.clone(),
            camera: self.camera.clone(),
            person_id: p.track_id.0,
            first_timestamp_s: p.first_s,
            last_timestamp_s: p.last_s,
            frames: p.frames,
            mean_raw: p.mean_raw,
            mean_smoothed: p.mean_smoothed,
            dominant_label: p.dominant,
            dominant_share: p.dominant_share,
        }))
        .map_err(e)?;
        let mut faces = self.faces.take().ok_or("faces table not started")?;
        let mut crowd = self.crowd.take().ok_or("crowd table not started")?;
        for (key, value) in completeness_metadata(report) {
            pw.append_metadata(key, &value);
            faces.append_metadata(key, &value);
            crowd.append_metadata(key, &value);
        }
        pw.finish().map_err(e)?;
        faces.finish().map_err(e)?;
        crowd.finish().map_err(e)?;
        Ok(())
    }
}

/// How much of the recording was decoded, as part-file metadata: `declared_duration_s` (what
/// the container declares; empty when unknown), `decoded_duration_s` and `truncated`.
pub fn completeness_metadata(report: &VideoReport) -> [(&'static str, String); 3] {
    let c = &report.completeness;
    [
        ("declared_duration_s", c.declared_s.map(|d| format!("{d:.3}")).unwrap_or_default()),
        ("decoded_duration_s", format!("{:.3}", c.decoded_s)),
        ("truncated", c.truncated.to_string()),
    ]
}

/// Appends every record batch of the Parquet file `part` to `writer`.
pub fn append_part<R: TableRow>(writer: &mut TableWriter<R>, part: &Path) -> Result<u64, SinkError> {
    let file = std::fs::File::open(part).map_err(|source| SinkError::Io { action: "open", path: part.to_path_buf(), source })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(8192).build())
        .map_err(|source| SinkError::Parquet { path: part.to_path_buf(), source })?;
    let mut rows = 0;
    for batch in reader {
        let batch = batch.map_err(|source| SinkError::Arrow { table: R::TABLE.name(), source })?;
        rows += batch.num_rows() as u64;
        writer.write_batch(&batch)?;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_parsing_handles_the_common_forms() {
        assert_eq!(parse_utc_micros("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_utc_micros("1970-01-02T00:00:01.5Z"), Some(86_401_500_000));
        assert_eq!(parse_utc_micros("2024-02-29T12:00:00.000000Z"), Some(1_709_208_000_000_000));
        assert_eq!(parse_utc_micros("2024-02-29T14:00:00+02:00"), Some(1_709_208_000_000_000));
        assert_eq!(parse_utc_micros("2024-02-29 12:00:00"), Some(1_709_208_000_000_000));
        assert_eq!(parse_utc_micros("yesterday"), None);
        assert_eq!(parse_utc_micros("2024-13-01T00:00:00Z"), None);
    }
}
