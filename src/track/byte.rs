//! The default tracker (`track.method = "byte"`): ByteTrack's association (Zhang et al., ECCV
//! 2022, <https://arxiv.org/abs/2110.06864>) with a Kalman filter in seconds, for faces.
//!
//! In: each frame's faces with their timestamp. Out: a `Step` per frame: each face's track
//! (or none: the face is dropped), the tracks that became persons, and those that ended.
//!
//! Per frame:
//! 1. every track's [`BoxKalman`] predicts its box at the frame's time, and the camera's own
//!    shake or pan, when the faces agree on one ([`estimate_shift`]), moves every prediction;
//! 2. **high-score** faces (score ≥ `high_score`) are assigned optimally ([`assign`]) to the
//!    confirmed tracks, tracked or lost. The affinity is the IoU of the predicted box (for a
//!    lost track also of its last seen box: a face that looked away comes back where it was),
//!    else a centre-distance fallback below `min_iou` (within `max_center_shift` face sides,
//!    widened for a lost track by the filter's grown uncertainty, up to 1.5 sides more), mixed
//!    with the landmark similarity when both sides have landmarks;
//! 3. **low-score** faces (below `high_score`) are assigned to the tracked confirmed tracks left
//!    over, by IoU alone: they extend tracks through blur, profile views and partial occlusion,
//!    but never start or revive one; unmatched, they are dropped;
//! 4. high-score faces left over are assigned to tentative tracks, and the rest start new
//!    tentative tracks;
//! 5. a tentative track is **confirmed** after `min_confirm_hits` consecutive hits and ends at
//!    its first miss (the end of the video is not a miss); a confirmed track that misses
//!    becomes **lost** and ends after `max_lost_s` seconds without a face;
//! 6. a confirmed track becomes a **person** (an id in the tables) once it spans
//!    `min_person_s` seconds; tracks that never do are not reported, and their faces are
//!    dropped.
//!
//! No appearance is stored: only boxes, landmarks and filter states, for the video at hand.

use super::affinity::{center_affinity, landmark_similarity, moved_landmarks};
use super::assign::assign;
use super::camera::estimate_shift;
use super::kalman::{BoxKalman, KalmanNoise};
use super::{FaceObservation, Step, TrackKey};
use crate::detect::{BBox, Detection, Landmarks, iou};

/// Parameters of [`ByteTracker`] (resolved from [`super::TrackSettings`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ByteParams {
    pub min_iou: f32,
    pub max_center_shift: f32,
    pub high_score: f32,
    pub max_lost_s: f64,
    pub min_confirm_hits: u32,
    pub min_person_s: f64,
    pub landmark_weight: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Started, not yet confirmed: dies at its first miss.
    Tentative,
    /// Confirmed and matched in the latest frame.
    Tracked,
    /// Confirmed, missed since `last_s`.
    Lost,
}

#[derive(Debug, Clone)]
struct Track {
    key: TrackKey,
    kf: BoxKalman,
    state: State,
    /// Consecutive hits (counts towards confirmation).
    streak: u32,
    first_s: f64,
    last_s: f64,
    last_box: BBox,
    landmarks: Option<Landmarks>,
    reported: bool,
}

/// ByteTrack-style tracker state of one video.
pub(crate) struct ByteTracker {
    p: ByteParams,
    tracks: Vec<Track>,
    next_key: TrackKey,
    last_t: Option<f64>,
}

/// Which tracks and faces take part in one association round.
#[derive(Clone, Copy)]
enum Gate {
    /// IoU, then the centre fallback.
    IouOrCentre,
    /// IoU alone.
    Iou,
}

impl ByteTracker {
    pub(crate) fn new(p: ByteParams) -> Self {
        Self { p, tracks: Vec::new(), next_key: 0, last_t: None }
    }

    /// Associates the faces of the frame at `t` seconds.
    pub(crate) fn step(&mut self, t: f64, faces: &[FaceObservation]) -> Step {
        let dt = self.last_t.map_or(0.0, |l| (t - l).max(0.0));
        self.last_t = Some(t);
        for tr in &mut self.tracks {
            tr.kf.predict(dt);
        }
        let dets: Vec<&Detection> = faces.iter().map(|f| &f.detection).collect();
        self.compensate_camera(&dets);
        let (high, low): (Vec<usize>, Vec<usize>) = (0..dets.len()).partition(|&d| dets[d].score >= self.p.high_score);
        let mut det_track: Vec<Option<usize>> = vec![None; dets.len()];
        let mut track_hit = vec![false; self.tracks.len()];

        let confirmed: Vec<usize> = (0..self.tracks.len()).filter(|&i| self.tracks[i].state != State::Tentative).collect();
        self.round(&confirmed, &high, &dets, Gate::IouOrCentre, &mut det_track, &mut track_hit);
        let tracked_left: Vec<usize> = confirmed.iter().copied().filter(|&i| !track_hit[i] && self.tracks[i].state == State::Tracked).collect();
        self.round(&tracked_left, &low, &dets, Gate::Iou, &mut det_track, &mut track_hit);
        let tentative: Vec<usize> = (0..self.tracks.len()).filter(|&i| self.tracks[i].state == State::Tentative).collect();
        let high_left: Vec<usize> = high.iter().copied().filter(|&d| det_track[d].is_none()).collect();
        self.round(&tentative, &high_left, &dets, Gate::IouOrCentre, &mut det_track, &mut track_hit);

        let mut step = Step { faces: vec![None; dets.len()], ..Step::default() };
        // Updates, in detection order (person ids follow it); new tracks from the high-score rest.
        for (d, det) in dets.iter().enumerate() {
            let i = match det_track[d] {
                Some(i) => i,
                None if det.score >= self.p.high_score => {
                    self.tracks.push(Track {
                        key: self.next_key,
                        kf: BoxKalman::new(&det.bbox, KalmanNoise::default()),
                        state: State::Tentative,
                        streak: 0,
                        first_s: t,
                        last_s: t,
                        last_box: det.bbox,
                        landmarks: det.landmarks,
                        reported: false,
                    });
                    self.next_key += 1;
                    track_hit.push(true);
                    self.tracks.len() - 1
                }
                None => continue,
            };
            let p = self.p;
            let tr = &mut self.tracks[i];
            if tr.streak > 0 || tr.state != State::Tentative {
                tr.kf.update(&det.bbox);
            }
            tr.streak += 1;
            tr.last_s = t;
            tr.last_box = det.bbox;
            tr.landmarks = det.landmarks;
            if tr.state != State::Tentative || tr.streak >= p.min_confirm_hits {
                tr.state = State::Tracked;
            }
            if tr.state == State::Tracked && !tr.reported && tr.last_s - tr.first_s >= p.min_person_s - 1e-9 {
                tr.reported = true;
                step.reported.push(tr.key);
            }
            step.faces[d] = Some(tr.key);
        }
        // Misses: tentative tracks end, confirmed ones are lost until `max_lost_s` has passed.
        let max_lost = self.p.max_lost_s;
        let mut i = 0;
        self.tracks.retain_mut(|tr| {
            let hit = track_hit[i];
            i += 1;
            if hit {
                return true;
            }
            tr.streak = 0;
            let keep = match tr.state {
                State::Tentative => false,
                State::Tracked | State::Lost => {
                    tr.state = State::Lost;
                    t - tr.last_s <= max_lost + 1e-9
                }
            };
            if !keep {
                step.ended.push(tr.key);
            }
            keep
        });
        step
    }

    /// Moves every track by the camera's shift since the last frame, when the faces agree on
    /// one ([`estimate_shift`]).
    fn compensate_camera(&mut self, dets: &[&Detection]) {
        let followed: Vec<BBox> = self.tracks.iter().filter(|t| t.state == State::Tracked).map(|t| t.kf.bbox()).collect();
        let detected: Vec<BBox> = dets.iter().map(|d| d.bbox).collect();
        let Some((dx, dy)) = estimate_shift(&followed, &detected) else { return };
        for tr in &mut self.tracks {
            tr.kf.shift(dx, dy);
            tr.last_box.x += dx;
            tr.last_box.y += dy;
            if let Some(lm) = &mut tr.landmarks {
                *lm = lm.mapped((dx, dy), (1.0, 1.0));
            }
        }
    }

    /// Ends every track at a scene cut.
    pub(crate) fn end_all(&mut self) -> Vec<TrackKey> {
        self.tracks.drain(..).map(|t| t.key).collect()
    }

    /// Ends every track at the end of the video. The end is not a miss: a tentative track
    /// that never missed a frame counts as confirmed (so the faces of a clip shorter than
    /// `min_confirm_hits` frames, or of one still image, are reported), subject to
    /// `min_person_s` like any other.
    pub(crate) fn finish(&mut self) -> Step {
        let mut step = Step::default();
        for tr in self.tracks.drain(..) {
            let confirmed = tr.state != State::Tentative || tr.streak > 0;
            if confirmed && !tr.reported && tr.last_s - tr.first_s >= self.p.min_person_s - 1e-9 {
                step.reported.push(tr.key);
            }
            step.ended.push(tr.key);
        }
        step
    }

    /// One association round between `tracks` and `dets` (indices), recording the matches.
    fn round(&self, tracks: &[usize], dets_idx: &[usize], dets: &[&Detection], gate: Gate, det_track: &mut [Option<usize>], track_hit: &mut [bool]) {
        if tracks.is_empty() || dets_idx.is_empty() {
            return;
        }
        let mut costs = Vec::with_capacity(tracks.len() * dets_idx.len());
        for &i in tracks {
            for &d in dets_idx {
                costs.push(self.affinity(&self.tracks[i], dets[d], gate).map_or(f64::INFINITY, |a| 1.0 - f64::from(a)));
            }
        }
        for (r, c) in assign(&costs, tracks.len(), dets_idx.len(), 1.0) {
            det_track[dets_idx[c]] = Some(tracks[r]);
            track_hit[tracks[r]] = true;
        }
    }

    /// Affinity in (0, 1] of a track and a detection, or `None` when they may not be linked.
    fn affinity(&self, tr: &Track, det: &Detection, gate: Gate) -> Option<f32> {
        let pred = tr.kf.bbox();
        let lost = tr.state == State::Lost;
        let mut base = iou(&pred, &det.bbox);
        if lost {
            base = base.max(iou(&tr.last_box, &det.bbox));
        }
        if base < self.p.min_iou || base <= 0.0 {
            base = match gate {
                Gate::Iou => return None,
                Gate::IouOrCentre => {
                    // A lost track's gate widens with the filter's uncertainty (up to 1.5 sides more).
                    let mut shift = self.p.max_center_shift;
                    if lost {
                        let (sx, sy) = tr.kf.centre_std();
                        shift += (sx.max(sy) / pred.h.max(1.0)).min(1.5);
                    }
                    let mut c = center_affinity(&pred, &det.bbox, shift);
                    if lost {
                        let at_last = center_affinity(&tr.last_box, &det.bbox, shift);
                        c = match (c, at_last) {
                            (Some(a), Some(b)) => Some(a.max(b)),
                            (a, b) => a.or(b),
                        };
                    }
                    // Centre matches rank below every IoU match.
                    c? * self.p.min_iou.max(0.01) * 0.999
                }
            };
        }
        let w = self.p.landmark_weight;
        match (tr.landmarks, det.landmarks) {
            (Some(a), Some(b)) if w > 0.0 => {
                let side = pred.h.max(det.bbox.h);
                let sim = landmark_similarity(&moved_landmarks(&a, &tr.last_box, &pred), &b, side);
                Some((1.0 - w) * base + w * sim)
            }
            _ => Some(base),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::ExpressionScores;

    fn params() -> ByteParams {
        ByteParams { min_iou: 0.3, max_center_shift: 0.5, high_score: 0.7, max_lost_s: 2.0, min_confirm_hits: 3, min_person_s: 0.0, landmark_weight: 0.3 }
    }

    fn face(x: f32, y: f32, score: f32) -> FaceObservation {
        FaceObservation { detection: Detection { bbox: BBox { x, y, w: 40.0, h: 40.0 }, score, landmarks: None }, raw: ExpressionScores::uniform() }
    }

    #[test]
    fn tentative_tracks_confirm_after_enough_consecutive_hits_and_die_at_a_miss() {
        let mut bt = ByteTracker::new(params());
        let s0 = bt.step(0.0, &[face(0.0, 0.0, 0.9)]);
        assert_eq!((s0.faces.clone(), s0.reported.clone()), (vec![Some(0)], vec![]));
        let s1 = bt.step(0.2, &[face(2.0, 0.0, 0.9)]);
        assert!(s1.reported.is_empty());
        let s2 = bt.step(0.4, &[face(4.0, 0.0, 0.9)]);
        assert_eq!(s2.reported, vec![0], "third hit confirms");
        // A second face appears once and is gone: its tentative track ends, never reported.
        let s3 = bt.step(0.6, &[face(6.0, 0.0, 0.9), face(300.0, 0.0, 0.9)]);
        assert_eq!(s3.faces, vec![Some(0), Some(1)]);
        let s4 = bt.step(0.8, &[face(8.0, 0.0, 0.9)]);
        assert_eq!(s4.ended, vec![1]);
        assert!(s4.reported.is_empty());
    }

    #[test]
    fn low_score_faces_extend_tracks_but_never_start_them() {
        let mut p = params();
        p.min_confirm_hits = 1;
        let mut bt = ByteTracker::new(p);
        assert_eq!(bt.step(0.0, &[face(0.0, 0.0, 0.9)]).reported, vec![0]);
        // Low score, overlapping: extends track 0. Low score elsewhere: dropped.
        let s = bt.step(0.2, &[face(3.0, 0.0, 0.55), face(300.0, 0.0, 0.6)]);
        assert_eq!(s.faces, vec![Some(0), None]);
        assert!(s.ended.is_empty() && s.reported.is_empty());
        // Low score far from the track: not a centre match in the low round.
        let s = bt.step(0.4, &[face(30.0, 0.0, 0.6)]);
        assert_eq!(s.faces, vec![None]);
    }

    #[test]
    fn lost_tracks_are_relinked_within_max_lost_seconds() {
        let mut p = params();
        p.min_confirm_hits = 1;
        let mut bt = ByteTracker::new(p);
        bt.step(0.0, &[face(100.0, 100.0, 0.9)]);
        bt.step(0.2, &[face(100.0, 100.0, 0.9)]);
        for k in 2..10 {
            assert!(bt.step(k as f64 * 0.2, &[]).ended.is_empty());
        }
        // 1.8 s later the face is back, slightly moved: same track.
        let s = bt.step(2.0, &[face(108.0, 104.0, 0.9)]);
        assert_eq!(s.faces, vec![Some(0)]);
        // Gone for longer than max_lost_s: the track ends and the face starts a new one.
        let mut ended = Vec::new();
        for k in 11..22 {
            ended.extend(bt.step(k as f64 * 0.2, &[]).ended);
        }
        assert_eq!(ended, vec![0]);
        assert_eq!(bt.step(4.4, &[face(108.0, 104.0, 0.9)]).faces, vec![Some(1)]);
    }

    #[test]
    fn the_motion_model_keeps_ids_through_a_crossing() {
        // Two faces moving towards each other at 75 px/s (15 px per frame at 5 frames/s), one
        // passing 10 px below the other, and on past each other.
        let mut p = params();
        p.min_confirm_hits = 1;
        let mut bt = ByteTracker::new(p);
        for k in 0..15 {
            let dx = 15.0 * k as f32;
            let s = bt.step(k as f64 * 0.2, &[face(100.0 + dx, 0.0, 0.9), face(310.0 - dx, 10.0, 0.9)]);
            assert_eq!(s.faces, vec![Some(0), Some(1)], "frame {k}");
        }
        let (vx, _) = bt.tracks[0].kf.centre_velocity();
        assert!((vx - 75.0).abs() < 5.0, "{vx}");
    }

    #[test]
    fn landmarks_break_ties_between_overlapping_neighbours() {
        let mut p = params();
        p.min_confirm_hits = 1;
        p.landmark_weight = 0.5;
        let mut bt = ByteTracker::new(p);
        let pts = |x: f32| Landmarks([[x + 12.0, 16.0], [x + 28.0, 16.0], [x + 20.0, 24.0], [x + 14.0, 32.0], [x + 26.0, 32.0]]);
        let with = |x: f32, lm: Landmarks| {
            let mut f = face(x, 0.0, 0.9);
            f.detection.landmarks = Some(lm);
            f
        };
        bt.step(0.0, &[with(100.0, pts(100.0)), with(130.0, pts(130.0))]);
        // A box half-way between the two (IoU 0.45 with each): its landmarks are those of the
        // face on the right.
        let s = bt.step(0.2, &[with(115.0, pts(130.0))]);
        assert_eq!(s.faces, vec![Some(1)]);
        // The same box with the landmarks of another face fits far worse.
        let t = &bt.tracks[0];
        let a = bt.affinity(t, &with(t.last_box.x, pts(t.last_box.x)).detection, Gate::Iou).unwrap();
        let b = bt.affinity(t, &with(t.last_box.x, pts(t.last_box.x + 30.0)).detection, Gate::Iou).unwrap();
        assert!(a > b + 0.3, "same box, landmarks of another face: {a} vs {b}");
    }

    #[test]
    fn the_end_of_the_video_is_not_a_miss() {
        let mut bt = ByteTracker::new(params());
        let s = bt.step(0.0, &[face(0.0, 0.0, 0.9), face(200.0, 0.0, 0.9)]);
        assert!(s.reported.is_empty(), "one frame does not confirm");
        let end = bt.finish();
        assert_eq!((end.reported, end.ended), (vec![0, 1], vec![0, 1]));
        // With a minimum duration, a one-frame track is still not a person.
        let mut p = params();
        p.min_person_s = 0.5;
        let mut bt = ByteTracker::new(p);
        bt.step(0.0, &[face(0.0, 0.0, 0.9)]);
        assert!(bt.finish().reported.is_empty());
    }
}
