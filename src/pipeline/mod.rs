//! Wires the stages together for one video:
//!
//! ```text
//! decode thread ─(bounded channel)─► chunk of frames ─► detect+align (rayon, one detector
//! per worker thread) ─► classify (the shared classifier thread, batched) ─► track+smooth ─►
//! aggregate ─► VideoSink
//! ```
//!
//! Decoding runs ahead on its own thread, and one chunk is in flight on the classifier
//! while the next chunk is detected, so all three overlap.
//!
//! In: a [`VideoInput`], resolved [`Settings`], a [`ClassifierService`] and a [`VideoSink`].
//! Out: a [`VideoReport`] (counts, timings, and whether the recording was complete), or a
//! [`PipelineError`] that names the file.
//! Memory is bounded: at most a few chunks of frames are alive at any time.

pub mod output;
mod service;

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use rayon::prelude::*;

use crate::aggregate::{Aggregator, CrowdWindow, PersonSummary};
use crate::align::align;
use crate::config::Settings;
use crate::decode::{Completeness, DecodeError, DecodeOptions, Decoder, Frame, VideoInfo};
use crate::detect::{Detection, DetectorKind, DetectorModel, FaceDetector, FrameView};
use crate::imageops::GrayView;
use crate::track::{FaceObservation, FrameObservation, SceneSignature, TrackedFrame, Tracker};
pub use service::{ClassifierService, PendingScores, ServiceError};

/// One input video.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInput {
    /// File path.
    pub path: PathBuf,
    /// Camera name (from a manifest), if any.
    pub camera: Option<String>,
    /// Recording start as RFC 3339 UTC (from a manifest), overriding the container's.
    pub start_utc: Option<String>,
}

/// Errors processing one video.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Decoding failed (open, or mid-stream).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The classifier thread failed.
    #[error(transparent)]
    Classify(#[from] ServiceError),
    /// The detector could not be built.
    #[error(transparent)]
    Detect(#[from] crate::detect::DetectError),
    /// Writing results failed.
    #[error("{path}: writing results failed: {reason}")]
    Sink {
        /// Input video.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Stopped by the user (Ctrl-C / SIGTERM) before the video was complete.
    #[error("{0}: interrupted before completion")]
    Interrupted(PathBuf),
}

/// Where a video's results go. One instance per video; `finish` makes them visible.
pub trait VideoSink: Send {
    /// Called once after the video is opened.
    fn start(&mut self, info: &VideoInfo) -> Result<(), String>;
    /// Frames whose faces are final, in frame order.
    fn frames(&mut self, frames: &[TrackedFrame]) -> Result<(), String>;
    /// Crowd windows that closed, in time order.
    fn windows(&mut self, windows: &[CrowdWindow]) -> Result<(), String>;
    /// End of the video: person summaries; commit everything.
    fn finish(self: Box<Self>, persons: &[PersonSummary], report: &VideoReport) -> Result<(), String>;
}

/// Progress callbacks (the CLI draws bars; tests count).
pub trait Reporter: Send + Sync {
    /// A video was opened.
    fn on_video_start(&self, _input: &VideoInput, _info: &VideoInfo, _expected_frames: Option<u64>) {}
    /// More frames were processed.
    fn on_frames(&self, _input: &VideoInput, _frames: u64, _faces: u64) {}
}

/// A reporter that reports nothing.
pub struct NoReporter;
impl Reporter for NoReporter {}

/// Time spent per stage (summed over worker threads for parallel stages).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct StageTimes {
    /// CPU seconds of the decode thread (demux, decode calls, grey copy, sampling; FFmpeg's
    /// own frame-threading workers are not included).
    pub decode_s: f64,
    /// Waiting for decoded frames (decode runs on its own thread).
    pub decode_wait_s: f64,
    /// Face detection (CPU seconds summed over worker threads).
    pub detect_s: f64,
    /// Crop + resample (CPU seconds summed over worker threads).
    pub align_s: f64,
    /// Inference CPU seconds summed over the classifier's threads (inference overlaps the next
    /// chunk's detection).
    pub classify_s: f64,
    /// Tracking, smoothing and aggregation.
    pub track_s: f64,
    /// Sink writes.
    pub write_s: f64,
}

/// What happened to one video.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct VideoReport {
    /// Frames decoded.
    pub frames_decoded: u64,
    /// Frames analysed (after sampling).
    pub frames_processed: u64,
    /// Face rows.
    pub faces: u64,
    /// Distinct people.
    pub persons: u64,
    /// Crowd windows written.
    pub windows: u64,
    /// Packets or frames FFmpeg could not decode and that were skipped.
    pub corrupt_skipped: u64,
    /// Frames on which the detector ran.
    pub frames_detected: u64,
    /// Declared against decoded duration: `truncated` when the recording ends before the
    /// container says it does (see [`Completeness`] for the rule).
    pub completeness: Completeness,
    /// Wall time (s).
    pub seconds: f64,
    /// Per-stage split.
    pub stages: StageTimes,
}

/// CPU time consumed so far by the calling thread, in seconds (0 where unsupported). Stage
/// times are measured with it so that they stay true when stages share the cores.
pub(crate) fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID needs no other state.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc == 0 { ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9 } else { 0.0 }
}

/// Frames per detect/classify chunk.
const CHUNK: usize = 8;

thread_local! {
    static DETECTOR: RefCell<Option<(u64, FaceDetector)>> = const { RefCell::new(None) };
}

/// Shared, immutable parts of the pipeline.
pub struct Pipeline {
    settings: Settings,
    detector_model: DetectorModel,
    settings_key: u64,
    classifier: ClassifierService,
    cancel: Arc<AtomicBool>,
}

struct Faces {
    detections: Vec<Detection>,
    crops: Vec<Vec<u8>>,
    detect_s: f64,
    align_s: f64,
}

impl Pipeline {
    /// Builds the shared parts. `cancel` is polled between chunks.
    pub fn new(settings: Settings, classifier: ClassifierService, cancel: Arc<AtomicBool>) -> Result<Self, PipelineError> {
        let detector_model = DetectorModel::embedded(settings.detect.detector)?;
        // Detectors are cached per thread; this key invalidates them if settings differ.
        let settings_key = {
            let json = serde_json::to_string(&settings.detect).unwrap_or_default();
            let h = blake3::hash(json.as_bytes());
            u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or([0; 8]))
        };
        detector_model.detector(&settings.detect)?; // validate now, not on a worker
        Ok(Self { settings, detector_model, settings_key, classifier, cancel })
    }

    /// Resolved settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Runs `f` with this thread's detector (built on first use, rebuilt if settings changed).
    fn with_detector<T: Default>(&self, f: impl FnOnce(&mut FaceDetector) -> T) -> T {
        DETECTOR.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.as_ref().is_none_or(|(k, _)| *k != self.settings_key) {
                // Settings were validated in `new`, so this cannot fail here.
                *slot = self.detector_model.detector(&self.settings.detect).ok().map(|d| (self.settings_key, d));
            }
            slot.as_mut().map(|(_, d)| f(d)).unwrap_or_default()
        })
    }

    /// Full-frame detection and alignment of one frame.
    fn detect_one(&self, frame: &Frame) -> Faces {
        let view = GrayView { data: &frame.gray, width: frame.width as usize, height: frame.height as usize };
        let t0 = thread_cpu_seconds();
        let detections = self.with_detector(|d| d.detect(FrameView { gray: view, rgb: frame.rgb.as_deref() }));
        self.align_faces(view, detections, thread_cpu_seconds() - t0)
    }

    /// Re-finds the faces of the latest key frame near their boxes, then aligns them.
    fn redetect_one(&self, frame: &Frame, prior: &[Detection]) -> Faces {
        let view = GrayView { data: &frame.gray, width: frame.width as usize, height: frame.height as usize };
        let t0 = thread_cpu_seconds();
        let fv = FrameView { gray: view, rgb: frame.rgb.as_deref() };
        let found: Vec<Detection> = self.with_detector(|d| prior.iter().filter_map(|p| d.redetect(fv, &p.bbox)).collect());
        // Two priors may re-find the same face; keep one.
        let detections = crate::detect::nms(found, self.settings.detect.nms_iou);
        self.align_faces(view, detections, thread_cpu_seconds() - t0)
    }

    fn align_faces(&self, view: GrayView<'_>, detections: Vec<Detection>, detect_s: f64) -> Faces {
        let t1 = thread_cpu_seconds();
        let crops = align(view, &detections, &self.settings.align).into_iter().map(|a| a.crop).collect();
        Faces { detections, crops, detect_s, align_s: thread_cpu_seconds() - t1 }
    }

    /// Processes one video from start to end into `sink`.
    pub fn run_video(&self, input: &VideoInput, mut sink: Box<dyn VideoSink>, reporter: &dyn Reporter) -> Result<VideoReport, PipelineError> {
        let t_start = Instant::now();
        // YuNet sees colour; SeetaFace reads luma only.
        let rgb = self.settings.detect.detector == DetectorKind::Yunet;
        let opts = DecodeOptions { sample_fps: self.settings.sample_fps, threads: self.settings.decode_threads, rgb, ..DecodeOptions::default() };
        let decoder = Decoder::open(&input.path, &opts)?;
        let info = decoder.info().clone();
        sink.start(&info).map_err(|reason| PipelineError::Sink { path: input.path.clone(), reason })?;
        let expected = match self.settings.sample_fps {
            Some(f) => info.duration_s.map(|d| (d * f).ceil() as u64),
            None => info.frames_estimate,
        };
        reporter.on_video_start(input, &info, expected);

        let (tx, rx) = bounded::<Result<Frame, DecodeError>>(CHUNK * 2);
        let cancel = self.cancel.clone();
        let decode_thread = std::thread::Builder::new()
            .name("decode".into())
            .spawn(move || {
                let mut decoder = decoder;
                for item in decoder.by_ref() {
                    let stop = item.is_err();
                    if cancel.load(Ordering::Relaxed) || tx.send(item).is_err() || stop {
                        break;
                    }
                }
                (decoder.stats(), decoder.completeness(), thread_cpu_seconds())
            })
            .map_err(|e| PipelineError::Sink { path: input.path.clone(), reason: format!("cannot start decode thread: {e}") })?;

        let mut report = VideoReport::default();
        let mut tracker = Tracker::new(self.settings.track.clone());
        let mut aggregator = Aggregator::new(self.settings.window_s);
        let mut chunk: Vec<Frame> = Vec::with_capacity(CHUNK);
        let mut decode_error = None;
        let sink_err = |reason: String| PipelineError::Sink { path: input.path.clone(), reason };
        // Detect-every-N: the faces of the latest key frame, re-found on the frames between.
        let mut carried: Option<Vec<Detection>> = None;
        let mut processed_index: u64 = 0;
        let mut in_flight: Option<InFlight> = None;
        let chunk_err = |e: ChunkError| match e {
            ChunkError::Classify(e) => PipelineError::Classify(e),
            ChunkError::Sink(r) => sink_err(r),
        };
        loop {
            let t_wait = Instant::now();
            let next = rx.recv_timeout(Duration::from_millis(200));
            report.stages.decode_wait_s += t_wait.elapsed().as_secs_f64();
            let end = match next {
                Ok(Ok(frame)) => {
                    chunk.push(frame);
                    false
                }
                Ok(Err(e)) => {
                    decode_error = Some(e);
                    true
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    if self.cancel.load(Ordering::Relaxed) {
                        true
                    } else {
                        continue;
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => true,
            };
            if chunk.len() < CHUNK && !end {
                continue;
            }
            if self.cancel.load(Ordering::Relaxed) {
                drop(rx);
                let _ = decode_thread.join();
                return Err(PipelineError::Interrupted(input.path.clone()));
            }
            if !chunk.is_empty() {
                let next = self.detect_chunk(&mut chunk, &mut carried, &mut processed_index, &mut report)?;
                // One chunk in flight: finish the previous one while `next` is being classified.
                if let Some(prev) = in_flight.replace(next) {
                    self.finish_chunk(prev, &mut tracker, &mut aggregator, &mut *sink, &mut report).map_err(chunk_err)?;
                    reporter.on_frames(input, report.frames_processed, report.faces);
                }
            }
            if end {
                break;
            }
        }
        if let Some(last) = in_flight.take() {
            self.finish_chunk(last, &mut tracker, &mut aggregator, &mut *sink, &mut report).map_err(chunk_err)?;
            reporter.on_frames(input, report.frames_processed, report.faces);
        }
        let (stats, completeness, decode_cpu) = decode_thread.join().unwrap_or_default();
        report.stages.decode_s = decode_cpu;
        if let Some(e) = decode_error {
            // Frames before the damage were processed; the video as a whole still failed.
            return Err(PipelineError::Decode(e));
        }
        let t_track = Instant::now();
        let rest = tracker.finish();
        report.faces += rest.iter().map(|f| f.faces.len() as u64).sum::<u64>();
        for f in &rest {
            let w = aggregator.push(f);
            report.windows += w.len() as u64;
            sink.windows(&w).map_err(sink_err)?;
        }
        report.persons = u64::from(tracker.persons());
        let (windows, persons) = aggregator.finish();
        report.windows += windows.len() as u64;
        report.stages.track_s += t_track.elapsed().as_secs_f64();
        let t_write = Instant::now();
        sink.frames(&rest).map_err(sink_err)?;
        sink.windows(&windows).map_err(sink_err)?;
        report.frames_decoded = stats.decoded;
        report.corrupt_skipped = stats.corrupt_skipped;
        report.completeness = completeness;
        report.seconds = t_start.elapsed().as_secs_f64();
        sink.finish(&persons, &report).map_err(sink_err)?;
        report.stages.write_s += t_write.elapsed().as_secs_f64();
        report.seconds = t_start.elapsed().as_secs_f64();
        Ok(report)
    }

    /// First half of a chunk: detection and alignment on the rayon pool, then the crops are
    /// queued on the classifier thread without waiting, so the next chunk's detection overlaps
    /// this chunk's inference.
    fn detect_chunk(
        &self,
        chunk: &mut Vec<Frame>,
        carried: &mut Option<Vec<Detection>>,
        processed_index: &mut u64,
        report: &mut VideoReport,
    ) -> Result<InFlight, ServiceError> {
        let every = u64::from(self.settings.detect_every.max(1));
        let first = *processed_index;
        *processed_index += chunk.len() as u64;
        // Key frames run the full detector (in parallel); the frames between them re-find each
        // face of the latest key frame in a small region around its box (also in parallel).
        let key: Vec<bool> = (0..chunk.len() as u64).map(|i| (first + i).is_multiple_of(every)).collect();
        let full: Vec<Option<Faces>> = chunk.par_iter().zip(key.par_iter()).map(|(f, &k)| k.then(|| self.detect_one(f))).collect();
        report.frames_detected += full.iter().filter(|f| f.is_some()).count() as u64;
        // Each frame between key frames gets the faces of the latest key frame before it.
        let priors: Vec<Vec<Detection>> = full
            .iter()
            .map(|f| match f {
                Some(f) => {
                    *carried = Some(f.detections.clone());
                    Vec::new()
                }
                None => carried.clone().unwrap_or_default(),
            })
            .collect();
        let faces: Vec<Faces> = chunk
            .par_iter()
            .zip(full.into_par_iter().zip(priors.into_par_iter()))
            .map(|(frame, (f, prior))| f.unwrap_or_else(|| self.redetect_one(frame, &prior)))
            .collect();
        let mut frames = Vec::with_capacity(chunk.len());
        let mut all_crops: Vec<Vec<u8>> = Vec::new();
        for (frame, faces) in chunk.drain(..).zip(faces) {
            report.stages.detect_s += faces.detect_s;
            report.stages.align_s += faces.align_s;
            all_crops.extend(faces.crops);
            // The scene-cut signature needs the pixels, which are dropped here; it is tracking's cost.
            let t_scene = thread_cpu_seconds();
            let scene = SceneSignature::from_gray(GrayView { data: &frame.gray, width: frame.width as usize, height: frame.height as usize });
            report.stages.track_s += thread_cpu_seconds() - t_scene;
            frames.push(DetectedFrame { index: frame.index, timestamp_s: frame.timestamp_s, detections: faces.detections, scene });
        }
        let pending = self.classifier.submit(all_crops)?;
        Ok(InFlight { frames, pending })
    }

    /// Second half of a chunk: waits for its scores, then tracks, aggregates and writes, in
    /// frame order.
    fn finish_chunk(
        &self,
        chunk: InFlight,
        tracker: &mut Tracker,
        aggregator: &mut Aggregator,
        sink: &mut dyn VideoSink,
        report: &mut VideoReport,
    ) -> Result<(), ChunkError> {
        let (scores, infer_s) = chunk.pending.wait().map_err(ChunkError::Classify)?;
        report.stages.classify_s += infer_s;
        let t_track = Instant::now();
        let mut scores = scores.into_iter();
        let mut finished = Vec::new();
        let mut windows = Vec::new();
        for frame in chunk.frames {
            let obs = FrameObservation {
                frame_index: frame.index,
                timestamp_s: frame.timestamp_s,
                faces: frame.detections.into_iter().zip(scores.by_ref()).map(|(detection, raw)| FaceObservation { detection, raw }).collect(),
                scene: Some(frame.scene),
            };
            report.frames_processed += 1;
            for tf in tracker.push(obs) {
                // Rows written: faces of tracks that never became persons are left out.
                report.faces += tf.faces.len() as u64;
                windows.extend(aggregator.push(&tf));
                finished.push(tf);
            }
        }
        report.stages.track_s += t_track.elapsed().as_secs_f64();
        let t_write = Instant::now();
        report.windows += windows.len() as u64;
        sink.frames(&finished).map_err(ChunkError::Sink)?;
        sink.windows(&windows).map_err(ChunkError::Sink)?;
        report.stages.write_s += t_write.elapsed().as_secs_f64();
        Ok(())
    }
}

/// A frame after detection: what tracking needs once its scores arrive (the pixels are gone).
struct DetectedFrame {
    index: u64,
    timestamp_s: f64,
    detections: Vec<Detection>,
    /// Grey signature for the tracker's scene-cut test.
    scene: SceneSignature,
}

/// A chunk whose crops are being classified.
struct InFlight {
    frames: Vec<DetectedFrame>,
    pending: PendingScores,
}

enum ChunkError {
    Classify(ServiceError),
    Sink(String),
}
