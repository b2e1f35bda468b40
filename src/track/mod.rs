//! Tracking and temporal smoothing: links faces across frames into per-video person ids and
//! smooths each person's probabilities.
//!
//! In: [`FrameObservation`]s in frame order (every processed frame, also those without faces),
//! each with a [`SceneSignature`] when the pipeline computed one. Out: [`TrackedFrame`]s in the
//! same order, each face with a [`TrackId`], raw and smoothed scores. Output may lag the input
//! (a scene-cut candidate waits for the following second, a new track for its confirmation, the
//! centred smoothing window for later faces); [`Tracker::finish`] flushes.
//!
//! The pieces, one per file:
//! - [`scene`]: per-frame grey signatures and the scene-cut test; a cut ends every track;
//! - [`byte`] (default, `track.method = "byte"`): ByteTrack-style association with a Kalman
//!   filter per track ([`kalman`]), optimal assignment ([`assign`]) on IoU and landmark
//!   geometry ([`affinity`]), a second round for low-score faces, tentative tracks confirmed
//!   after a few hits and lost tracks re-linked within a time limit; camera shake is taken out
//!   of the predictions from the faces' common shift ([`camera`]);
//! - [`greedy`]: the tracker of earlier versions, kept selectable for comparison;
//! - `emit`: person ids for the tracks that are reported, smoothing ([`smooth`]), frame order.
//!
//! Ids are unique within a video, never reused, and handed out 1, 2, 3, … in the order tracks
//! become persons. Faces of tracks that never become persons (too short to confirm) and
//! low-score faces that extend no track are left out of the output. Nothing that identifies a
//! face (no crops, no embeddings) is kept: boxes, landmarks and filter states, for one video.

pub mod affinity;
pub mod assign;
pub mod byte;
pub mod camera;
mod emit;
pub mod greedy;
pub mod kalman;
pub mod scene;
pub mod smooth;

use std::collections::VecDeque;

use crate::classify::ExpressionScores;
use crate::detect::{Detection, DetectorKind};
use byte::{ByteParams, ByteTracker};
use emit::Emitter;
use greedy::GreedyTracker;
pub use scene::{SceneCutDetector, SceneCutSettings, SceneSignature};
pub use smooth::{SmoothMethod, Smoother};

/// Per-video person (track) id, starting at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct TrackId(pub u32);

/// Which tracker links the faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackMethod {
    /// ByteTrack-style: Kalman filter, optimal assignment, low-score second round,
    /// confirmation, time-limited re-linking, scene cuts (see [`byte`]).
    Byte,
    /// Earlier versions' greedy IoU linking (see [`greedy`]): every face is reported.
    Greedy,
}

/// Tracker settings (resolved; see `config` for the TOML form).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrackSettings {
    /// Which tracker.
    pub method: TrackMethod,
    /// Minimum IoU between a track's (predicted) box and a detection to link them.
    pub min_iou: f32,
    /// Fallback: link when the centres are closer than this fraction of the larger box side
    /// (and sizes within a factor of 1.5).
    pub max_center_shift: f32,
    /// `greedy` only: a track ends after missing this many processed frames in a row.
    pub max_missed_frames: u32,
    /// `byte`: detector score at or above which a face may start or revive a track; faces
    /// below it only extend tracks that are being followed. On the detector's own scale (YuNet
    /// confidence in [0, 1], SeetaFace cascade score), hence the per-detector defaults of
    /// [`TrackSettings::for_detector`].
    pub high_score: f32,
    /// `byte`: seconds a confirmed track may go without a face before it ends; a face that
    /// reappears near its predicted or last place within this time keeps its id.
    pub max_lost_s: f64,
    /// `byte`: consecutive frames with a face that confirm a new track.
    pub min_confirm_hits: u32,
    /// `byte`: a confirmed track becomes a person once it spans this many seconds (first to
    /// last face); shorter tracks are not reported.
    pub min_person_s: f64,
    /// `byte`: weight in [0, 1] of the landmark similarity against IoU in the affinity, where
    /// both the track and the face have landmarks (YuNet).
    pub landmark_weight: f32,
    /// `byte`: scene cuts, which end every track.
    pub scene_cut: SceneCutSettings,
    /// Smoothing of each person's probabilities.
    pub smooth: SmoothMethod,
}

impl Default for TrackSettings {
    fn default() -> Self {
        Self::for_detector(DetectorKind::Yunet)
    }
}

/// An invalid tracker setting.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct TrackSettingsError {
    /// The key, as in the pipeline file (`track.max-lost-secs`).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl TrackSettings {
    /// The defaults with a given detector: `high_score` is on that detector's scale (YuNet
    /// 0.7, SeetaFace 3.0 — both a little above the detectors' default `min-score`, 0.5 and
    /// 2.0, so that the faces the detector is least sure of only extend tracks).
    pub fn for_detector(detector: DetectorKind) -> Self {
        let high_score = match detector {
            DetectorKind::Yunet => 0.7,
            DetectorKind::Seetaface => 3.0,
        };
        Self {
            method: TrackMethod::Byte,
            min_iou: 0.3,
            max_center_shift: 0.5,
            max_missed_frames: 10,
            high_score,
            max_lost_s: 3.0,
            min_confirm_hits: 3,
            min_person_s: 0.0,
            landmark_weight: 0.3,
            scene_cut: SceneCutSettings::default(),
            smooth: SmoothMethod::Ema { alpha: 0.3 },
        }
    }

    /// Checks the values; the error names the pipeline-file key.
    pub fn validate(&self) -> Result<(), TrackSettingsError> {
        let err = |field, message: String| Err(TrackSettingsError { field, message });
        if !(0.0..=1.0).contains(&self.min_iou) {
            return err("track.min-iou", format!("must be in [0, 1], got {}", self.min_iou));
        }
        if !(self.max_center_shift >= 0.0 && self.max_center_shift.is_finite()) {
            return err("track.max-center-shift", format!("must be ≥ 0, got {}", self.max_center_shift));
        }
        if !self.high_score.is_finite() {
            return err("track.high-score", format!("must be a number, got {}", self.high_score));
        }
        if !(self.max_lost_s >= 0.0 && self.max_lost_s.is_finite()) {
            return err("track.max-lost-secs", format!("must be ≥ 0 seconds, got {}", self.max_lost_s));
        }
        if !(1..=1000).contains(&self.min_confirm_hits) {
            return err("track.min-confirm-hits", format!("must be in 1..=1000, got {}", self.min_confirm_hits));
        }
        if !(self.min_person_s >= 0.0 && self.min_person_s.is_finite()) {
            return err("track.min-person-secs", format!("must be ≥ 0 seconds, got {}", self.min_person_s));
        }
        if !(0.0..=1.0).contains(&self.landmark_weight) {
            return err("track.landmark-weight", format!("must be in [0, 1], got {}", self.landmark_weight));
        }
        if !(0.0..=1.0).contains(&self.scene_cut.threshold) {
            return err("track.scene-cut-threshold", format!("must be in [0, 1] (1 disables), got {}", self.scene_cut.threshold));
        }
        if !(self.scene_cut.window_s > 0.0 && self.scene_cut.window_s <= 10.0) {
            return err("track.scene-cut-window-secs", format!("must be in (0, 10] seconds, got {}", self.scene_cut.window_s));
        }
        self.smooth.validate().map_err(|message| TrackSettingsError { field: "smooth", message })
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
    /// The frame's grey signature for the scene-cut test (`None`: unknown, never a cut).
    pub scene: Option<SceneSignature>,
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
    /// Faces, in detection order (those of unreported tracks left out).
    pub faces: Vec<TrackedFace>,
}

/// Internal key of a track within one video (person ids are handed out separately, to the
/// tracks that are reported).
pub(crate) type TrackKey = u64;

/// What an association engine decided about one frame.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Step {
    /// Per face, in detection order: its track, or `None` when the face is dropped.
    pub faces: Vec<Option<TrackKey>>,
    /// Tracks that became persons with this frame, in the order their ids are handed out.
    pub reported: Vec<TrackKey>,
    /// Tracks that ended with this frame.
    pub ended: Vec<TrackKey>,
}

enum Engine {
    Byte(ByteTracker),
    Greedy(GreedyTracker),
}

/// The tracker of one video.
pub struct Tracker {
    engine: Engine,
    scene: SceneCutDetector,
    /// Frames waiting for their scene-cut decision.
    waiting: VecDeque<FrameObservation>,
    emitter: Emitter,
    cuts: u32,
}

impl Tracker {
    /// A tracker with no tracks.
    pub fn new(settings: TrackSettings) -> Self {
        let (engine, scene) = match settings.method {
            TrackMethod::Byte => (
                Engine::Byte(ByteTracker::new(ByteParams {
                    min_iou: settings.min_iou,
                    max_center_shift: settings.max_center_shift,
                    high_score: settings.high_score,
                    max_lost_s: settings.max_lost_s,
                    min_confirm_hits: settings.min_confirm_hits,
                    min_person_s: settings.min_person_s,
                    landmark_weight: settings.landmark_weight,
                })),
                settings.scene_cut,
            ),
            // Earlier versions knew no scene cuts.
            TrackMethod::Greedy => (
                Engine::Greedy(GreedyTracker::new(settings.min_iou, settings.max_center_shift, settings.max_missed_frames)),
                SceneCutSettings { threshold: 1.0, ..settings.scene_cut },
            ),
        };
        Self { engine, scene: SceneCutDetector::new(scene), waiting: VecDeque::new(), emitter: Emitter::new(settings.smooth), cuts: 0 }
    }

    /// Number of distinct person ids handed out so far.
    pub fn persons(&self) -> u32 {
        self.emitter.persons()
    }

    /// Scene cuts found so far.
    pub fn scene_cuts(&self) -> u32 {
        self.cuts
    }

    /// Adds a frame; returns the frames whose faces are now all final, in order.
    pub fn push(&mut self, mut frame: FrameObservation) -> Vec<TrackedFrame> {
        let decisions = self.scene.push(frame.timestamp_s, frame.scene.take());
        self.waiting.push_back(frame);
        for cut in decisions {
            self.process(cut);
        }
        self.emitter.drain_ready()
    }

    /// Ends the video: flushes every track and returns all remaining frames in order.
    pub fn finish(&mut self) -> Vec<TrackedFrame> {
        for cut in self.scene.finish() {
            self.process(cut);
        }
        let step = match &mut self.engine {
            Engine::Byte(b) => b.finish(),
            Engine::Greedy(g) => Step { ended: g.finish(), ..Step::default() },
        };
        self.emitter.finish(step);
        self.emitter.drain_ready()
    }

    /// Associates the oldest waiting frame, after ending every track if a cut precedes it.
    fn process(&mut self, cut: bool) {
        let Some(frame) = self.waiting.pop_front() else { return };
        if cut {
            self.cuts += 1;
            tracing::debug!(timestamp_s = frame.timestamp_s, frame = frame.frame_index, "scene cut: every track ends");
            if let Engine::Byte(b) = &mut self.engine {
                for key in b.end_all() {
                    self.emitter.end(key);
                }
            }
        }
        let step = match &mut self.engine {
            Engine::Byte(b) => b.step(frame.timestamp_s, &frame.faces),
            Engine::Greedy(g) => g.step(&frame.faces),
        };
        self.emitter.frame(frame.frame_index, frame.timestamp_s, frame.faces, step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::BBox;

    fn face(x: f32, y: f32, class: usize) -> FaceObservation {
        scored(x, y, class, 0.9)
    }

    fn scored(x: f32, y: f32, class: usize, score: f32) -> FaceObservation {
        let mut p = [0.0; 7];
        p[class] = 1.0;
        FaceObservation { detection: Detection { bbox: BBox { x, y, w: 40.0, h: 40.0 }, score, landmarks: None }, raw: ExpressionScores(p) }
    }

    fn frame(i: u64, faces: Vec<FaceObservation>) -> FrameObservation {
        at(i, i as f64 / 10.0, faces)
    }

    fn at(i: u64, t: f64, faces: Vec<FaceObservation>) -> FrameObservation {
        FrameObservation { frame_index: i, timestamp_s: t, faces, scene: None }
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

    fn ids(f: &TrackedFrame) -> Vec<u32> {
        f.faces.iter().map(|x| x.track_id.0).collect()
    }

    fn greedy() -> TrackSettings {
        TrackSettings { method: TrackMethod::Greedy, ..Default::default() }
    }

    #[test]
    fn two_people_moving_keep_their_ids_and_a_newcomer_gets_a_new_one() {
        for settings in [TrackSettings::default(), greedy()] {
            let mut frames = Vec::new();
            for i in 0..10 {
                let dx = i as f32 * 3.0;
                let mut faces = vec![face(10.0 + dx, 10.0, 3), face(200.0 - dx, 10.0, 4)];
                if i >= 5 {
                    faces.push(face(100.0, 150.0, 6));
                }
                frames.push(frame(i, faces));
            }
            let out = run(settings.clone(), frames);
            assert_eq!(out.len(), 10);
            for f in &out {
                assert_eq!(ids(f)[..2], [1, 2], "{:?}", settings.method);
                if f.faces.len() == 3 {
                    assert_eq!(f.faces[2].track_id, TrackId(3));
                }
                let mut v = ids(f);
                v.dedup();
                assert_eq!(v.len(), f.faces.len(), "ids unique within a frame");
            }
            assert_eq!(out.iter().map(|f| f.faces.len()).sum::<usize>(), 25, "every face reported");
        }
    }

    #[test]
    fn greedy_keeps_the_frame_counted_gap_of_earlier_versions() {
        let s = TrackSettings { max_missed_frames: 2, ..greedy() };
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

    /// `max-lost-secs` and `min-person-secs` are seconds: the same footage sampled at 5 and at
    /// 10 frames/s gives the same persons.
    #[test]
    fn time_based_settings_agree_at_two_sampling_rates() {
        let s = TrackSettings { max_lost_s: 2.0, min_person_s: 1.0, ..Default::default() };
        for fps in [5.0, 10.0] {
            // A face for 0–2 s, away 2–3.5 s (1.5 s gap), back 3.5–5 s, away 5–7.5 s (2.5 s gap),
            // back 7.5–9 s; a second face only 0.5–1.2 s (too short to be a person).
            let n = (9.0 * fps) as u64;
            let frames: Vec<_> = (0..n)
                .map(|i| {
                    let t = i as f64 / fps;
                    let mut faces = Vec::new();
                    if t < 2.0 || (3.5..5.0).contains(&t) || t >= 7.5 {
                        faces.push(face(100.0, 100.0, 3));
                    }
                    if (0.5..1.2).contains(&t) {
                        faces.push(face(300.0, 100.0, 4));
                    }
                    at(i, t, faces)
                })
                .collect();
            let mut tracker = Tracker::new(s.clone());
            let mut out = Vec::new();
            for f in frames {
                out.extend(tracker.push(f));
            }
            out.extend(tracker.finish());
            assert_eq!(out.len() as u64, n, "fps {fps}: every frame comes out");
            let first = |lo: f64, hi: f64| -> Vec<u32> {
                let mut v: Vec<u32> = out.iter().filter(|f| (lo..hi).contains(&f.timestamp_s)).flat_map(ids).collect();
                v.dedup();
                v
            };
            assert_eq!(first(0.0, 5.0), vec![1], "fps {fps}: a 1.5 s gap keeps the id");
            assert_eq!(first(7.5, 9.0), vec![2], "fps {fps}: a 2.5 s gap does not");
            assert_eq!(tracker.persons(), 2, "fps {fps}: the 0.7 s face is no person");
        }
    }

    #[test]
    fn short_unconfirmed_tracks_are_not_persons_and_ids_have_no_gaps() {
        let mut frames = Vec::new();
        for i in 0..10 {
            let mut faces = vec![face(0.0, 0.0, 3)];
            if i == 4 || i == 6 {
                faces.push(face(200.0, 0.0, 5)); // flicker: never 3 frames in a row
            }
            if i >= 7 {
                faces.push(face(400.0, 0.0, 6));
            }
            frames.push(frame(i, faces));
        }
        let mut t = Tracker::new(TrackSettings::default());
        let mut out = Vec::new();
        for f in frames {
            out.extend(t.push(f));
        }
        out.extend(t.finish());
        assert_eq!(out.len(), 10);
        assert_eq!(t.persons(), 2);
        assert_eq!(ids(&out[4]), vec![1], "the flicker is left out");
        assert_eq!(ids(&out[9]), vec![1, 2], "the newcomer is person 2, not 3");
        // With confirmation after one hit and no minimum duration, everything is reported.
        let all = TrackSettings { min_confirm_hits: 1, ..Default::default() };
        let out = run(all, (0..10).map(|i| frame(i, if i == 4 { vec![face(0.0, 0.0, 3), face(200.0, 0.0, 5)] } else { vec![face(0.0, 0.0, 3)] })).collect());
        assert_eq!(ids(&out[4]), vec![1, 2]);
    }

    #[test]
    fn low_score_faces_bridge_a_person_but_are_never_a_person_alone() {
        // The face's score drops below high-score for 3 frames (looking away): same id, the
        // rows are kept. A low-score face elsewhere is left out.
        let frames: Vec<_> = (0..12)
            .map(|i| {
                let score = if (5..8).contains(&i) { 0.55 } else { 0.9 };
                let mut faces = vec![scored(100.0 + i as f32, 100.0, 3, score)];
                if i >= 3 {
                    faces.push(scored(300.0, 100.0, 4, 0.6));
                }
                frame(i, faces)
            })
            .collect();
        let out = run(TrackSettings::default(), frames);
        assert!(out.iter().all(|f| ids(f) == vec![1]), "{:?}", out.iter().map(ids).collect::<Vec<_>>());
    }

    #[test]
    fn a_scene_cut_ends_every_track() {
        let shot = |level: f32| {
            let mut h = [0.0; scene::HIST_BINS];
            h[(level / 8.0) as usize] = 1.0;
            Some(SceneSignature::from_histogram(h))
        };
        let s = TrackSettings { min_confirm_hits: 1, ..Default::default() };
        // The same place in both shots: without the cut this would be one track.
        let frames: Vec<_> = (0..30)
            .map(|i| {
                let mut f = at(i, i as f64 / 5.0, vec![face(100.0, 100.0, 3)]);
                f.scene = if i < 15 { shot(40.0) } else { shot(200.0) };
                f
            })
            .collect();
        let mut t = Tracker::new(s.clone());
        let mut out = Vec::new();
        for f in frames.clone() {
            out.extend(t.push(f));
        }
        out.extend(t.finish());
        assert_eq!(t.scene_cuts(), 1);
        assert_eq!(ids(&out[14]), vec![1]);
        assert_eq!(ids(&out[15]), vec![2]);
        assert_eq!(out.len(), 30);
        // The test disabled (threshold 1): one person.
        let off = TrackSettings { scene_cut: SceneCutSettings { threshold: 1.0, ..s.scene_cut }, ..s };
        let out = run(off, frames);
        assert!(out.iter().all(|f| ids(f) == vec![1]));
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
        // A 22 px jump with a 40 px box: IoU 0.29 < 0.3, centre shift 0.55 of the side.
        for method in [TrackMethod::Byte, TrackMethod::Greedy] {
            let s = TrackSettings { method, max_center_shift: 0.6, min_confirm_hits: 1, ..Default::default() };
            let out = run(s, vec![frame(0, vec![face(0.0, 0.0, 0)]), frame(1, vec![face(22.0, 0.0, 0)])]);
            assert_eq!(out[1].faces[0].track_id, TrackId(1), "{method:?}");
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = [
            (TrackSettings { max_lost_s: -1.0, ..Default::default() }, "track.max-lost-secs"),
            (TrackSettings { min_confirm_hits: 0, ..Default::default() }, "track.min-confirm-hits"),
            (TrackSettings { min_person_s: f64::NAN, ..Default::default() }, "track.min-person-secs"),
            (TrackSettings { landmark_weight: 2.0, ..Default::default() }, "track.landmark-weight"),
            (TrackSettings { scene_cut: SceneCutSettings { threshold: 1.5, window_s: 1.0 }, ..Default::default() }, "track.scene-cut-threshold"),
            (TrackSettings { scene_cut: SceneCutSettings { threshold: 0.3, window_s: 0.0 }, ..Default::default() }, "track.scene-cut-window-secs"),
            (TrackSettings { min_iou: 1.5, ..Default::default() }, "track.min-iou"),
        ];
        for (s, key) in bad {
            assert_eq!(s.validate().unwrap_err().field, key);
        }
        assert!(TrackSettings::default().validate().is_ok());
        assert_eq!(TrackSettings::for_detector(DetectorKind::Seetaface).high_score, 3.0);
    }
}
