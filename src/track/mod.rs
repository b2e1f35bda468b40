//! Tracking and temporal smoothing: links faces across frames into per-video person ids and
//! smooths each person's probabilities.
//!
//! In: [`FrameObservation`]s in frame order (every processed frame, also those without faces).
//! Out: [`TrackedFrame`]s in the same order, each face with a [`TrackId`], raw and smoothed
//! scores. Output may lag the input by the smoothing window; [`Tracker::finish`] flushes.
//!
//! Association is greedy on IoU (best pairs first) with a centre-distance fallback for fast
//! motion; a track that misses more than `max_missed_frames` processed frames ends, and a
//! face that matches nothing starts a new track. Ids are unique within a video and never
//! reused.

pub mod smooth;

use std::collections::{BTreeMap, VecDeque};

use crate::classify::ExpressionScores;
use crate::detect::{BBox, Detection, iou};
pub use smooth::{SmoothMethod, Smoother};

/// Per-video person (track) id, starting at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct TrackId(pub u32);

/// Tracker settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrackSettings {
    /// Minimum IoU between a track's last box and a detection to link them.
    pub min_iou: f32,
    /// Fallback: link when the centres are closer than this fraction of the larger box side
    /// (and sizes within a factor of 1.5).
    pub max_center_shift: f32,
    /// A track ends after missing this many processed frames in a row.
    pub max_missed_frames: u32,
    /// Smoothing of each person's probabilities.
    pub smooth: SmoothMethod,
}

impl Default for TrackSettings {
    fn default() -> Self {
        Self { min_iou: 0.3, max_center_shift: 0.5, max_missed_frames: 10, smooth: SmoothMethod::Ema { alpha: 0.3 } }
    }
}

impl TrackSettings {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.min_iou) {
            return Err(format!("track min-iou must be in [0, 1], got {}", self.min_iou));
        }
        if !(self.max_center_shift >= 0.0) {
            return Err(format!("track max-center-shift must be ≥ 0, got {}", self.max_center_shift));
        }
        self.smooth.validate()
    }
}

/// A face of one frame, as the tracker receives it.
#[derive(Debug, Clone)]
pub struct FaceObservation {
    /// Detector output.
    pub detection: Detection,
    /// Classifier output.
    pub raw: ExpressionScores,
}

/// One processed frame, as the tracker receives it.
#[derive(Debug, Clone)]
pub struct FrameObservation {
    /// Index of the frame among all decoded frames.
    pub frame_index: u64,
    /// Seconds from the start of the video.
    pub timestamp_s: f64,
    /// Faces found in the frame.
    pub faces: Vec<FaceObservation>,
}

/// A face with its person id and smoothed scores.
#[derive(Debug, Clone)]
pub struct TrackedFace {
    /// Person id within the video.
    pub track_id: TrackId,
    /// Detector output.
    pub detection: Detection,
    /// Classifier output.
    pub raw: ExpressionScores,
    /// Smoothed scores.
    pub smoothed: ExpressionScores,
}

/// A processed frame with all its faces tracked.
#[derive(Debug, Clone)]
pub struct TrackedFrame {
    /// Index of the frame among all decoded frames.
    pub frame_index: u64,
    /// Seconds from the start of the video.
    pub timestamp_s: f64,
    /// Faces, in detection order.
    pub faces: Vec<TrackedFace>,
}

struct Track {
    id: TrackId,
    last_box: BBox,
    missed: u32,
    smoother: Smoother,
    /// (sequence number, face slot) of observations whose smoothed value is not yet known.
    pending: VecDeque<(u64, usize)>,
}

/// Frame waiting for the smoothed values of some of its faces.
struct PendingFrame {
    frame_index: u64,
    timestamp_s: f64,
    faces: Vec<(TrackId, FaceObservation, Option<ExpressionScores>)>,
    missing: usize,
}

/// The tracker of one video.
pub struct Tracker {
    settings: TrackSettings,
    tracks: Vec<Track>,
    next_id: u32,
    seq: u64,
    buffer: BTreeMap<u64, PendingFrame>,
}

impl Tracker {
    /// A tracker with no tracks.
    pub fn new(settings: TrackSettings) -> Self {
        Self { settings, tracks: Vec::new(), next_id: 1, seq: 0, buffer: BTreeMap::new() }
    }

    /// Number of distinct person ids handed out so far.
    pub fn persons(&self) -> u32 {
        self.next_id - 1
    }

    /// Adds a frame; returns the frames whose faces are now all final, in order.
    pub fn push(&mut self, frame: FrameObservation) -> Vec<TrackedFrame> {
        let seq = self.seq;
        self.seq += 1;
        let assignment = self.associate(&frame.faces);
        let mut pf = PendingFrame {
            frame_index: frame.frame_index,
            timestamp_s: frame.timestamp_s,
            faces: Vec::with_capacity(frame.faces.len()),
            missing: frame.faces.len(),
        };
        let mut matched = vec![false; self.tracks.len()];
        let mut finals = Vec::new();
        for (slot, (obs, track_slot)) in frame.faces.into_iter().zip(assignment).enumerate() {
            let t = match track_slot {
                Some(t) => t,
                None => {
                    self.tracks.push(Track {
                        id: TrackId(self.next_id),
                        last_box: obs.detection.bbox,
                        missed: 0,
                        smoother: Smoother::new(self.settings.smooth),
                        pending: VecDeque::new(),
                    });
                    self.next_id += 1;
                    matched.push(false);
                    self.tracks.len() - 1
                }
            };
            matched[t] = true;
            let track = &mut self.tracks[t];
            track.last_box = obs.detection.bbox;
            track.missed = 0;
            track.pending.push_back((seq, slot));
            let raw = obs.raw;
            pf.faces.push((track.id, obs, None));
            for s in track.smoother.push(raw) {
                if let Some(key) = track.pending.pop_front() {
                    finals.push((key, s));
                }
            }
        }
        self.buffer.insert(seq, pf);
        // Age unmatched tracks; end those that missed too many frames.
        let max_missed = self.settings.max_missed_frames;
        let mut ended = Vec::new();
        for (t, m) in matched.iter().enumerate() {
            if !m {
                self.tracks[t].missed += 1;
                if self.tracks[t].missed > max_missed {
                    ended.push(t);
                }
            }
        }
        for t in ended.into_iter().rev() {
            let mut track = self.tracks.swap_remove(t);
            finals.extend(Self::flush_track(&mut track));
        }
        for (key, s) in finals {
            self.resolve(key, s);
        }
        self.drain_ready()
    }

    /// Ends the video: flushes every track and returns all remaining frames in order.
    pub fn finish(&mut self) -> Vec<TrackedFrame> {
        let mut finals = Vec::new();
        for mut t in std::mem::take(&mut self.tracks) {
            finals.extend(Self::flush_track(&mut t));
        }
        for (key, s) in finals {
            self.resolve(key, s);
        }
        self.drain_ready()
    }

    fn flush_track(track: &mut Track) -> Vec<((u64, usize), ExpressionScores)> {
        track.smoother.finish().into_iter().filter_map(|s| track.pending.pop_front().map(|k| (k, s))).collect()
    }

    fn resolve(&mut self, (seq, slot): (u64, usize), smoothed: ExpressionScores) {
        if let Some(pf) = self.buffer.get_mut(&seq) {
            if pf.faces[slot].2.is_none() {
                pf.missing -= 1;
            }
            pf.faces[slot].2 = Some(smoothed);
        }
    }

    fn drain_ready(&mut self) -> Vec<TrackedFrame> {
        let mut out = Vec::new();
        while let Some(entry) = self.buffer.first_entry() {
            if entry.get().missing > 0 {
                break;
            }
            let pf = entry.remove();
            out.push(TrackedFrame {
                frame_index: pf.frame_index,
                timestamp_s: pf.timestamp_s,
                faces: pf
                    .faces
                    .into_iter()
                    .map(|(track_id, obs, s)| TrackedFace {
                        track_id,
                        detection: obs.detection,
                        smoothed: s.unwrap_or(obs.raw),
                        raw: obs.raw,
                    })
                    .collect(),
            });
        }
        out
    }

    /// Greedy assignment of detections to live tracks: returns, per detection, a track slot.
    fn associate(&self, faces: &[FaceObservation]) -> Vec<Option<usize>> {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (d, f) in faces.iter().enumerate() {
            for (t, track) in self.tracks.iter().enumerate() {
                let v = iou(&track.last_box, &f.detection.bbox);
                if v >= self.settings.min_iou && v > 0.0 {
                    pairs.push((1.0 + v, d, t)); // IoU matches rank above centre matches
                } else if let Some(c) = center_affinity(&track.last_box, &f.detection.bbox, self.settings.max_center_shift) {
                    pairs.push((c, d, t));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut det_to_track = vec![None; faces.len()];
        let mut used = vec![false; self.tracks.len()];
        for (_, d, t) in pairs {
            if det_to_track[d].is_none() && !used[t] {
                det_to_track[d] = Some(t);
                used[t] = true;
            }
        }
        det_to_track
    }
}

/// Affinity in (0, 1] when two boxes are close and of similar size, else None.
fn center_affinity(a: &BBox, b: &BBox, max_shift: f32) -> Option<f32> {
    let side = a.w.max(a.h).max(b.w.max(b.h));
    if side <= 0.0 || max_shift <= 0.0 {
        return None;
    }
    let ratio = (a.w / b.w.max(1e-6)).max(b.w / a.w.max(1e-6));
    if ratio > 1.5 {
        return None;
    }
    let (ax, ay) = a.center();
    let (bx, by) = b.center();
    let d = ((ax - bx).powi(2) + (ay - by).powi(2)).sqrt() / side;
    (d <= max_shift).then(|| 1.0 - d / max_shift * 0.999)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, class: usize) -> FaceObservation {
        let mut p = [0.0; 7];
        p[class] = 1.0;
        FaceObservation { detection: Detection { bbox: BBox { x, y, w: 40.0, h: 40.0 }, score: 3.0 }, raw: ExpressionScores(p) }
    }

    fn frame(i: u64, faces: Vec<FaceObservation>) -> FrameObservation {
        FrameObservation { frame_index: i, timestamp_s: i as f64 / 10.0, faces }
    }

    fn run(settings: TrackSettings, frames: Vec<FrameObservation>) -> Vec<TrackedFrame> {
        let mut t = Tracker::new(settings);
        let mut out = Vec::new();
        for f in frames {
            out.extend(t.push(f));
        }
        out.extend(t.finish());
        out
    }

    #[test]
    fn two_people_moving_keep_their_ids_and_a_newcomer_gets_a_new_one() {
        let mut frames = Vec::new();
        for i in 0..10 {
            let dx = i as f32 * 3.0;
            let mut faces = vec![face(10.0 + dx, 10.0, 3), face(200.0 - dx, 10.0, 4)];
            if i >= 5 {
                faces.push(face(100.0, 150.0, 6));
            }
            frames.push(frame(i, faces));
        }
        let out = run(TrackSettings::default(), frames);
        assert_eq!(out.len(), 10);
        for f in &out {
            assert_eq!(f.faces[0].track_id, TrackId(1));
            assert_eq!(f.faces[1].track_id, TrackId(2));
            if f.faces.len() == 3 {
                assert_eq!(f.faces[2].track_id, TrackId(3));
            }
            let mut ids: Vec<_> = f.faces.iter().map(|x| x.track_id).collect();
            ids.dedup();
            assert_eq!(ids.len(), f.faces.len(), "ids unique within a frame");
        }
    }

    #[test]
    fn a_track_survives_short_gaps_but_not_long_ones() {
        let s = TrackSettings { max_missed_frames: 2, ..Default::default() };
        let mut frames = vec![frame(0, vec![face(0.0, 0.0, 0)])];
        frames.push(frame(1, vec![]));
        frames.push(frame(2, vec![]));
        frames.push(frame(3, vec![face(2.0, 0.0, 0)])); // missed 2: same person
        for i in 4..7 {
            frames.push(frame(i, vec![]));
        }
        frames.push(frame(7, vec![face(2.0, 0.0, 0)])); // missed 3: new person
        let out = run(s, frames);
        assert_eq!(out.len(), 8, "frames without faces are kept");
        assert_eq!(out[3].faces[0].track_id, TrackId(1));
        assert_eq!(out[7].faces[0].track_id, TrackId(2));
    }

    #[test]
    fn window_smoothing_keeps_frame_order_and_every_face() {
        let s = TrackSettings { smooth: SmoothMethod::Window { radius: 2 }, ..Default::default() };
        let frames: Vec<_> = (0..7).map(|i| frame(i, vec![face(0.0, 0.0, if i < 3 { 3 } else { 4 })])).collect();
        let out = run(s, frames);
        let idx: Vec<u64> = out.iter().map(|f| f.frame_index).collect();
        assert_eq!(idx, (0..7).collect::<Vec<_>>());
        // Frame 3 sees classes [3,3,4,4,4] → smoothed sad (4) 0.6, happy 0.4.
        let s3 = out[3].faces[0].smoothed;
        assert!((s3.0[4] - 0.6).abs() < 1e-6 && (s3.0[3] - 0.4).abs() < 1e-6);
        for f in &out {
            for x in &f.faces {
                assert!((x.smoothed.0.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn fast_motion_links_by_centre_distance() {
        // Moves 25 px per frame with a 40 px box: IoU ≈ 0.23 < 0.3, centre shift 0.625·side
        // would fail, so use 15 px: IoU 0.45 ok; then a 22 px jump: IoU 0.29, centre 0.55.
        let s = TrackSettings { max_center_shift: 0.6, ..Default::default() };
        let out = run(s, vec![frame(0, vec![face(0.0, 0.0, 0)]), frame(1, vec![face(22.0, 0.0, 0)])]);
        assert_eq!(out[1].faces[0].track_id, TrackId(1));
    }
}
