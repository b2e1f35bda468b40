//! Annotated footage: a video and the `faces` table of its run in, the same video with every
//! face's box, landmarks (when the table has them), person id, smoothed label and
//! probabilities drawn on it out.
//!
//! In: the source video and the results of `fer-batch run` on it: the single-file `faces`
//! table (`results.parquet`, possibly holding several videos), one dataset part file, or a
//! dataset directory (`OUT/`, searched for the part of this video). Out: a new video written
//! by [`crate::decode::VideoEncoder`] with the source's frames and timestamps, so frame count
//! and duration match the source.
//!
//! Invariants:
//! - The results must come from this very file: the video's blake3 is looked up among the
//!   `sources` (or `source_blake3`) recorded in the table's metadata; any other video is an
//!   [`AnnotateError::WrongVideo`], raised before the output is created.
//! - Which faces go on which frame ([`FaceSchedule`]): runs usually analyse a sample of the
//!   frames (5 per second in the presets). Every source frame shows the faces of the last
//!   analysed frame at or before it, chosen with the same [`Sampler`] the run used, so an
//!   analysed frame without faces clears the boxes; faces are never held longer than one
//!   sampling interval plus half a frame, and frames the run did not reach show none.
//! - Boxes and landmarks are in upright source pixels, like the decoded frames (rotation is
//!   applied); the output is upright and carries no rotation tag.
//! - Landmarks are read from the ten `lm_*` columns ([`LANDMARK_COLUMNS`]). Tables without
//!   them (schema version 1) and rows whose landmarks are null (SeetaFace) draw no dots.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::{Array, RecordBatch};
use image::RgbImage;

use crate::classify::Expression;
use crate::decode::{DecodeError, DecodeOptions, Decoder, EncodeError, Sampler, VideoEncoder};
use crate::render::{FaceOverlay, draw_faces};
use crate::report::{f64_at, str_at};
use crate::sink::{LANDMARK_COLUMNS, read_key_value_metadata, read_table};

/// Why a video could not be annotated. Every message names the file concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnnotateError {
    /// The results cannot be read or are not a fer-batch `faces` table.
    #[error("{}: {reason}", .path.display())]
    Results {
        /// The results file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The results were computed from another video (content hash differs).
    #[error(
        "{}: the results in {} are not of this video (its content hash matches none of the recorded sources: {recorded}); annotate the video they were computed from, or run `fer-batch run` on this one",
        .video.display(), .results.display()
    )]
    WrongVideo {
        /// The video given.
        video: PathBuf,
        /// The results given.
        results: PathBuf,
        /// The sources the results record (paths), for the message.
        recorded: String,
    },
    /// The video could not be read (or hashed).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The annotated video could not be written.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The output path is the source video itself.
    #[error("{}: the output would overwrite the source video", .0.display())]
    OutputIsInput(PathBuf),
}

/// How the run chose the frames it analysed (from its `pipeline_settings` metadata).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// Every frame was analysed.
    EveryFrame,
    /// At most this many frames per second, chosen by [`Sampler`].
    Fps(f64),
    /// Not recorded: frames with rows count as analysed, and their faces are held for the
    /// median gap between them.
    Unknown,
}

/// The faces of one video, read from a results table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VideoFaces {
    /// Faces per analysed frame with faces: frame index → (timestamp in seconds, faces).
    pub frames: BTreeMap<u64, (f64, Vec<FaceOverlay>)>,
    /// How the run sampled frames.
    pub sampling: Option<Sampling>,
    /// The table the rows came from (a part file for dataset results).
    pub table: PathBuf,
}

impl VideoFaces {
    /// Reads the faces of `video` from `results` (a `faces` table or a dataset directory),
    /// checking by content hash that they were computed from this file.
    pub fn load(results: &Path, video: &Path) -> Result<Self, AnnotateError> {
        let hash = blake3_of(video)?;
        let results_err = |reason: String| AnnotateError::Results { path: results.to_owned(), reason };
        let (table, kv) = if results.is_dir() {
            find_dataset_part(results, &hash)?.ok_or_else(|| AnnotateError::WrongVideo {
                video: video.to_owned(),
                results: results.to_owned(),
                recorded: "no part of the dataset".to_owned(),
            })?
        } else {
            let kv = read_key_value_metadata(results).map_err(|e| results_err(e.to_string()))?;
            (results.to_owned(), kv)
        };
        let get = |key: &str| kv.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        if let Some(name) = get("table").filter(|&t| t != "faces") {
            return Err(results_err(format!("this is the `{name}` table; pass the faces table (the file given to --out)")));
        }
        let sources: Vec<serde_json::Value> = get("sources")
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| results_err("no `sources` metadata: not a faces table written by fer-batch run".to_owned()))?;
        let name_of = |s: &serde_json::Value| -> String {
            let path = s["path"].as_str().unwrap_or_default();
            Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        };
        let Some(source) = sources.iter().find(|s| s["blake3"].as_str() == Some(hash.as_str())) else {
            let recorded: Vec<&str> = sources.iter().filter_map(|s| s["path"].as_str()).collect();
            return Err(AnnotateError::WrongVideo {
                video: video.to_owned(),
                results: results.to_owned(),
                recorded: if recorded.is_empty() { "none".to_owned() } else { recorded.join(", ") },
            });
        };
        let name = name_of(source);
        if sources.iter().filter(|s| name_of(s) == name).count() > 1 {
            return Err(results_err(format!("several inputs of that run are named {name:?}; their rows cannot be told apart")));
        }
        let sampling =
            get("pipeline_settings").and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok()).and_then(|settings| match settings.get("sample_fps")? {
                serde_json::Value::Null => Some(Sampling::EveryFrame),
                value => value.as_f64().filter(|f| *f > 0.0).map(Sampling::Fps),
            });
        let (batches, _) = read_table(&table).map_err(|e| results_err(e.to_string()))?;
        let mut frames = BTreeMap::new();
        for batch in &batches {
            rows_of(batch, &name, &mut frames).map_err(|reason| AnnotateError::Results { path: table.clone(), reason })?;
        }
        Ok(Self { frames, sampling, table })
    }
}

/// Appends the rows of `batch` whose `video` is `name` to `frames`.
fn rows_of(batch: &RecordBatch, name: &str, frames: &mut BTreeMap<u64, (f64, Vec<FaceOverlay>)>) -> Result<(), String> {
    let column = |n: &str| batch.column_by_name(n).map(|c| c.as_ref()).ok_or_else(|| format!("no column {n}: not a fer-batch faces table"));
    let [video, frame_index, timestamp, x, y, width, height, person, label] =
        ["video", "frame_index", "timestamp_s", "x", "y", "width", "height", "person_id", "label"].map(column);
    let (video, frame_index, timestamp, x, y, width, height, person, label) = (video?, frame_index?, timestamp?, x?, y?, width?, height?, person?, label?);
    let smoothed: Vec<&dyn Array> = Expression::ALL.iter().map(|e| column(&format!("s_{}", e.name()))).collect::<Result<_, _>>()?;
    let landmarks = landmark_columns(batch);
    for i in 0..batch.num_rows() {
        if str_at(video, i) != name {
            continue;
        }
        let mut probabilities = [0.0_f32; Expression::COUNT];
        for (p, c) in probabilities.iter_mut().zip(&smoothed) {
            *p = f64_at(*c, i) as f32;
        }
        let label = Expression::from_name(&str_at(label, i)).unwrap_or_else(|| {
            let best = (0..Expression::COUNT).max_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]));
            best.and_then(Expression::from_index).unwrap_or(Expression::Neutral)
        });
        let index = f64_at(frame_index, i);
        if index.is_nan() || index < 0.0 {
            return Err(format!("row {i}: frame_index is missing"));
        }
        let entry = frames.entry(index as u64).or_insert_with(|| (f64_at(timestamp, i), Vec::new()));
        entry.1.push(FaceOverlay {
            x: f64_at(x, i) as f32,
            y: f64_at(y, i) as f32,
            width: f64_at(width, i) as f32,
            height: f64_at(height, i) as f32,
            id: f64_at(person, i).max(0.0) as u32,
            label,
            probabilities,
            landmarks: landmarks.as_deref().and_then(|c| landmarks_at(c, i)),
        });
    }
    Ok(())
}

/// The ten landmark columns of a faces table, x and y of each point in order, when it has
/// them all (tables of schema version 1 have none).
fn landmark_columns(batch: &RecordBatch) -> Option<Vec<&dyn Array>> {
    LANDMARK_COLUMNS.as_flattened().iter().map(|name| batch.column_by_name(name).map(|c| c.as_ref())).collect()
}

/// Row `i`'s landmarks from [`landmark_columns`]; `None` when any coordinate is null or not a
/// number.
fn landmarks_at(columns: &[&dyn Array], i: usize) -> Option<[[f32; 2]; 5]> {
    let mut points = [[0.0_f32; 2]; 5];
    let coordinates = points.as_flattened_mut();
    if columns.len() != coordinates.len() {
        return None;
    }
    for (v, c) in coordinates.iter_mut().zip(columns) {
        let value = f64_at(*c, i);
        if !value.is_finite() {
            return None;
        }
        *v = value as f32;
    }
    Some(points)
}

/// A Parquet file's key-value metadata.
type KeyValues = Vec<(String, String)>;

/// The part file of a dataset directory whose `source_blake3` is `hash` (the most recent
/// run's when several settings produced parts for it), with its key-value metadata.
fn find_dataset_part(root: &Path, hash: &str) -> Result<Option<(PathBuf, KeyValues)>, AnnotateError> {
    let faces = root.join("table=faces");
    if !faces.is_dir() {
        return Err(AnnotateError::Results { path: root.to_owned(), reason: "a directory without table=faces/: not a fer-batch dataset".to_owned() });
    }
    let mut parts = Vec::new();
    collect_parquet(&faces, &mut parts);
    // (run_started_utc, part, metadata) of the most recent match.
    let mut best: Option<(String, PathBuf, KeyValues)> = None;
    for part in parts {
        let Ok(kv) = read_key_value_metadata(&part) else {
            continue;
        };
        let get = |key: &str| kv.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        if get("source_blake3").as_deref() != Some(hash) {
            continue;
        }
        let started = get("run_started_utc").unwrap_or_default();
        if best.as_ref().is_none_or(|(s, _, _)| started > *s) {
            best = Some((started, part, kv));
        }
    }
    Ok(best.map(|(_, part, kv)| (part, kv)))
}

fn collect_parquet(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_parquet(&path, out);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
}

/// blake3 of a file's content (streamed), as `fer-batch run` records it in `sources`.
fn blake3_of(path: &Path) -> Result<String, AnnotateError> {
    let read = || -> std::io::Result<String> {
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(std::fs::File::open(path)?)?;
        Ok(hasher.finalize().to_hex().to_string())
    };
    read().map_err(|err| DecodeError::from_io(path, &err).into())
}

/// Which faces to draw on each source frame; see the module docs.
#[derive(Debug, Clone)]
pub struct FaceSchedule {
    frames: BTreeMap<u64, (f64, Vec<FaceOverlay>)>,
    sampler: Option<Sampler>,
    max_hold_s: f64,
    /// The analysed frame whose faces are on screen: (frame index, timestamp).
    shown: Option<(u64, f64)>,
    /// Frames with rows that were reached.
    reached: u64,
}

impl FaceSchedule {
    /// A schedule for the faces of one video; `frame_duration_s` is one source frame (used
    /// for the hold limit).
    pub fn new(frames: BTreeMap<u64, (f64, Vec<FaceOverlay>)>, sampling: Sampling, frame_duration_s: f64) -> Self {
        let (sampler, period_s) = match sampling {
            Sampling::EveryFrame => (Some(Sampler::new(None)), 0.0),
            Sampling::Fps(fps) => (Some(Sampler::new(Some(fps))), 1.0 / fps),
            Sampling::Unknown => {
                let times: Vec<f64> = frames.values().map(|(t, _)| *t).collect();
                let mut gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).filter(|g| *g > 0.0).collect();
                gaps.sort_by(f64::total_cmp);
                (None, gaps.get(gaps.len() / 2).copied().unwrap_or(0.0))
            }
        };
        let half_frame = if frame_duration_s.is_finite() && frame_duration_s > 0.0 { frame_duration_s / 2.0 } else { 0.0 };
        Self { frames, sampler, max_hold_s: period_s + half_frame, shown: None, reached: 0 }
    }

    /// The faces to draw on the source frame `index` at `timestamp_s` (seconds from the
    /// stream start). Call once per decoded frame, in order.
    pub fn faces_for(&mut self, index: u64, timestamp_s: f64) -> &[FaceOverlay] {
        let sampled = self.sampler.as_mut().is_some_and(|s| s.accept(timestamp_s));
        let has_rows = self.frames.contains_key(&index);
        self.reached += u64::from(has_rows);
        if sampled || has_rows {
            self.shown = Some((index, timestamp_s));
        }
        match self.shown {
            Some((shown, t0)) if timestamp_s - t0 <= self.max_hold_s + 1e-9 => self.frames.get(&shown).map_or(&[], |(_, faces)| faces.as_slice()),
            _ => &[],
        }
    }

    /// Frames with rows that no [`FaceSchedule::faces_for`] call has reached (rows past the
    /// end of the decoded video: a sign of mismatched results).
    pub fn unreached(&self) -> u64 {
        self.frames.len() as u64 - self.reached
    }
}

/// What [`annotate_video`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnotateSummary {
    /// The annotated video.
    pub out: PathBuf,
    /// The table the faces were read from.
    pub table: PathBuf,
    /// Frames written (every decoded source frame).
    pub frames: u64,
    /// Frames with at least one face drawn.
    pub frames_with_faces: u64,
    /// Face overlays drawn, summed over frames.
    pub faces_drawn: u64,
    /// Analysed frames with faces in the results.
    pub analysed_frames_with_faces: u64,
    /// Of those, frames beyond the decoded video (should be 0).
    pub unreached_frames: u64,
    /// FFmpeg encoder used.
    pub encoder: &'static str,
    /// Encoded size.
    pub width: u32,
    /// Encoded size.
    pub height: u32,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Writes `out`: `video` with the faces of `results` drawn on every frame (see the module
/// docs). Nothing is created when the results do not belong to the video; a failure part-way
/// leaves no file behind.
pub fn annotate_video(video: &Path, results: &Path, out: &Path) -> Result<AnnotateSummary, AnnotateError> {
    let t0 = Instant::now();
    check_output(video, out)?;
    let faces = VideoFaces::load(results, video)?;
    let table = faces.table.clone();
    let opts = DecodeOptions { rgb: true, ..DecodeOptions::default() };
    let mut decoder = Decoder::open(video, &opts)?;
    let info = decoder.info().clone();
    let frame_duration_s = info.avg_fps.filter(|f| *f > 0.0).map_or(1.0 / 30.0, |f| 1.0 / f);
    let analysed_frames_with_faces = faces.frames.len() as u64;
    let mut schedule = FaceSchedule::new(faces.frames, faces.sampling.unwrap_or(Sampling::Unknown), frame_duration_s);

    let mut encoder: Option<VideoEncoder> = None;
    let (mut frames, mut frames_with_faces, mut faces_drawn) = (0_u64, 0_u64, 0_u64);
    for frame in &mut decoder {
        let mut frame = frame?;
        let rgb = frame.rgb.take().unwrap_or_default();
        let Some(mut img) = RgbImage::from_raw(frame.width, frame.height, rgb) else {
            return Err(DecodeError::Decode { path: video.to_owned(), reason: format!("frame {} has no RGB pixels", frame.index) }.into());
        };
        let enc = match &mut encoder {
            Some(enc) => enc,
            None => encoder.insert(VideoEncoder::create(out, frame.width, frame.height, info.time_base, info.avg_fps)?),
        };
        let drawn = schedule.faces_for(frame.index, frame.timestamp_s);
        draw_faces(&mut img, drawn);
        frames_with_faces += u64::from(!drawn.is_empty());
        faces_drawn += drawn.len() as u64;
        enc.push_rgb(img.as_raw(), frame.pts)?;
        frames += 1;
    }
    let encoder = encoder.ok_or_else(|| DecodeError::Decode { path: video.to_owned(), reason: "no frame decoded".to_owned() })?;
    let written = encoder.finish()?;
    Ok(AnnotateSummary {
        out: written.path,
        table,
        frames,
        frames_with_faces,
        faces_drawn,
        analysed_frames_with_faces,
        unreached_frames: schedule.unreached(),
        encoder: written.encoder,
        width: written.width,
        height: written.height,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// One face-free still of an annotated frame, for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Thumbnail {
    /// Frame index in the source video.
    pub frame_index: u64,
    /// Seconds from the start of the video.
    pub timestamp_s: f64,
    /// Number of faces drawn.
    pub faces: usize,
    /// The PNG file's bytes.
    pub png: Vec<u8>,
}

/// Up to `count` face-free stills of `video` annotated with `results`: analysed frames with
/// faces, evenly spread over the video. Every face box is filled with a flat colour before
/// the overlays (box, tag, probability bars) are drawn, so no face pixels leave the tool;
/// frames are scaled to at most `max_width` pixels wide. Only made when a user asks for them
/// (`report --thumbnails`): the tables themselves never hold pixels.
pub fn thumbnails(video: &Path, results: &Path, count: usize, max_width: u32) -> Result<Vec<Thumbnail>, AnnotateError> {
    let faces = VideoFaces::load(results, video)?;
    let keys: Vec<u64> = faces.frames.keys().copied().collect();
    if count == 0 || keys.is_empty() {
        return Ok(Vec::new());
    }
    let n = count.min(keys.len());
    // Evenly spread picks: the middle of each of n equal parts of the analysed frames.
    let wanted: std::collections::BTreeSet<u64> = (0..n).map(|i| keys[(2 * i + 1) * keys.len() / (2 * n)]).collect();
    let last = wanted.last().copied().unwrap_or(0);
    let opts = DecodeOptions { rgb: true, ..DecodeOptions::default() };
    let mut out = Vec::with_capacity(n);
    for frame in Decoder::open(video, &opts)? {
        let mut frame = frame?;
        if frame.index > last {
            break;
        }
        if !wanted.contains(&frame.index) {
            continue;
        }
        let Some((_, overlays)) = faces.frames.get(&frame.index) else { continue };
        let Some(mut img) = RgbImage::from_raw(frame.width, frame.height, frame.rgb.take().unwrap_or_default()) else { continue };
        blank_faces(&mut img, overlays);
        draw_faces(&mut img, overlays);
        let img = if img.width() > max_width.max(1) {
            let h = (u64::from(img.height()) * u64::from(max_width) / u64::from(img.width())).max(1) as u32;
            image::imageops::resize(&img, max_width, h, image::imageops::FilterType::Triangle)
        } else {
            img
        };
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| AnnotateError::Results { path: video.to_owned(), reason: format!("cannot encode a thumbnail: {e}") })?;
        out.push(Thumbnail { frame_index: frame.index, timestamp_s: frame.timestamp_s, faces: overlays.len(), png });
    }
    Ok(out)
}

/// Fills every face box (clipped to the image) with a flat dark grey: the face-free part of
/// [`thumbnails`].
pub fn blank_faces(img: &mut RgbImage, faces: &[FaceOverlay]) {
    let (w, h) = (img.width() as f32, img.height() as f32);
    for f in faces {
        let x0 = f.x.clamp(0.0, w).floor() as u32;
        let y0 = f.y.clamp(0.0, h).floor() as u32;
        let x1 = (f.x + f.width).clamp(0.0, w).ceil() as u32;
        let y1 = (f.y + f.height).clamp(0.0, h).ceil() as u32;
        crate::render::fill_rect(img, x0, y0, x1, y1, image::Rgb([48, 48, 48]));
    }
}

/// Fails fast on an output that cannot work: the source video itself, or a directory that
/// does not accept new files. Cheap; [`annotate_video`] calls it first, and `run --annotate`
/// before the run.
pub fn check_output(video: &Path, out: &Path) -> Result<(), AnnotateError> {
    if let (Ok(a), Ok(b)) = (std::fs::canonicalize(video), std::fs::canonicalize(out))
        && a == b
    {
        return Err(AnnotateError::OutputIsInput(out.to_owned()));
    }
    crate::sink::check_writable(out).map_err(|e| AnnotateError::Encode(EncodeError::Open { path: out.to_owned(), reason: e.to_string() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Rows = BTreeMap<u64, (f64, Vec<FaceOverlay>)>;

    #[test]
    fn blanking_fills_every_face_box_and_nothing_else() {
        let mut img = RgbImage::from_pixel(40, 30, image::Rgb([200, 10, 10]));
        let mut inside = face(1);
        (inside.x, inside.y, inside.width, inside.height) = (5.0, 4.0, 10.0, 8.0);
        let mut edge = face(2);
        (edge.x, edge.y, edge.width, edge.height) = (35.0, -3.0, 20.0, 6.0); // partly outside
        blank_faces(&mut img, &[inside, edge]);
        let grey = image::Rgb([48, 48, 48]);
        for (x, y, p) in img.enumerate_pixels() {
            let in_a = (5..15).contains(&x) && (4..12).contains(&y);
            let in_b = (35..40).contains(&x) && (0..3).contains(&y);
            assert_eq!(*p == grey, in_a || in_b, "pixel {x},{y}");
        }
    }

    fn face(id: u32) -> FaceOverlay {
        FaceOverlay { x: 1.0, y: 2.0, width: 3.0, height: 4.0, id, label: Expression::Happy, probabilities: [0.0; 7], landmarks: None }
    }

    #[test]
    fn landmarks_are_read_back_and_absent_from_null_rows_and_older_tables() {
        use crate::sink::{FaceRow, TableRow as _, fixtures};

        let mut with = fixtures::face(3, 1);
        with.landmarks = Some(fixtures::landmarks(40.0, 30.0));
        let batch = FaceRow::record_batch(&[with, fixtures::face(3, 2)]).expect("record batch");
        let mut frames: Rows = BTreeMap::new();
        rows_of(&batch, "lecture.mp4", &mut frames).expect("rows");
        let faces = &frames[&3].1;
        assert_eq!(faces.len(), 2);
        assert_eq!(faces[0].landmarks, Some(fixtures::landmarks(40.0, 30.0).0));
        assert_eq!(faces[1].landmarks, None, "null columns: no landmarks");

        // A schema version 1 table: the same rows without the lm_* columns.
        let schema = batch.schema();
        let old: Vec<usize> = (0..schema.fields().len()).filter(|&k| !schema.field(k).name().starts_with("lm_")).collect();
        let old = batch.project(&old).expect("project");
        assert_eq!(old.num_columns(), batch.num_columns() - 10);
        let mut frames: Rows = BTreeMap::new();
        rows_of(&old, "lecture.mp4", &mut frames).expect("an older table still reads");
        let faces = &frames[&3].1;
        assert_eq!((faces.len(), faces[0].x), (2, 11.0));
        assert!(faces.iter().all(|f| f.landmarks.is_none()));
    }

    /// Runs the schedule over `n` frames at `fps` and returns the person ids drawn on each.
    fn drawn(rows: &[(u64, u32)], fps: f64, sampling: Sampling, n: u64) -> Vec<Vec<u32>> {
        let mut frames: Rows = BTreeMap::new();
        for &(index, id) in rows {
            frames.entry(index).or_insert_with(|| (index as f64 / fps, Vec::new())).1.push(face(id));
        }
        let mut schedule = FaceSchedule::new(frames, sampling, 1.0 / fps);
        (0..n).map(|i| schedule.faces_for(i, i as f64 / fps).iter().map(|f| f.id).collect()).collect()
    }

    #[test]
    fn sampled_faces_are_held_until_the_next_analysed_frame() {
        // 10 fps analysed at 5 fps: frames 0, 2, 4, 6 … were analysed; frame 2 had no face.
        let got = drawn(&[(0, 1), (0, 2), (4, 7)], 10.0, Sampling::Fps(5.0), 8);
        let want: Vec<Vec<u32>> = vec![vec![1, 2], vec![1, 2], vec![], vec![], vec![7], vec![7], vec![], vec![]];
        assert_eq!(got, want);
    }

    #[test]
    fn every_frame_runs_show_each_frame_its_own_faces() {
        let got = drawn(&[(1, 5), (3, 6)], 25.0, Sampling::EveryFrame, 5);
        assert_eq!(got, vec![vec![], vec![5], vec![], vec![6], vec![]]);
    }

    #[test]
    fn unknown_sampling_holds_for_the_median_gap_only() {
        // 30 fps, rows every 6 frames (0.2 s) up to frame 12, then a long gap to frame 30.
        let got = drawn(&[(0, 1), (6, 2), (12, 3), (30, 4)], 30.0, Sampling::Unknown, 32);
        assert!(got[..6].iter().all(|ids| ids == &[1]), "{got:?}");
        assert!(got[6..12].iter().all(|ids| ids == &[2]), "{got:?}");
        // Held for 0.2 s + half a frame: frames 12..=18, then nothing until frame 30.
        assert!(got[12..=18].iter().all(|ids| ids == &[3]), "{got:?}");
        assert!(got[19..30].iter().all(Vec::is_empty), "{got:?}");
        assert_eq!(got[30], vec![4]);
    }

    #[test]
    fn rows_past_the_end_are_reported() {
        let mut frames: Rows = BTreeMap::new();
        frames.insert(2, (0.2, vec![face(1)]));
        frames.insert(50, (5.0, vec![face(1)]));
        let mut schedule = FaceSchedule::new(frames, Sampling::EveryFrame, 0.1);
        for i in 0..10 {
            schedule.faces_for(i, i as f64 * 0.1);
        }
        assert_eq!(schedule.unreached(), 1);
    }

    #[test]
    fn output_over_the_input_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let video = dir.path().join("v.mp4");
        std::fs::write(&video, b"x").expect("write");
        let err = annotate_video(&video, &dir.path().join("r.parquet"), &dir.path().join(".").join("v.mp4")).expect_err("refused");
        assert!(matches!(err, AnnotateError::OutputIsInput(_)), "{err}");
    }
}
