//! The tracker of earlier versions (`track.method = "greedy"`), kept for comparison.
//!
//! In: each frame's faces. Out: a `Step` per frame.
//!
//! Association is greedy on IoU with each track's last box (best pairs first), with a
//! centre-distance fallback for fast motion; a track that misses more than
//! `max_missed_frames` processed frames in a row ends; a face that matches nothing starts a new
//! track, which is a person at once. No motion model, no confirmation, no scene cuts. On the
//! sample clips it splits one person into many ids (see the README's "Tracking" table), which is
//! why [`super::byte`] replaced it as the default.

use super::affinity::center_affinity;
use super::{FaceObservation, Step, TrackKey};
use crate::detect::{BBox, iou};

struct Track {
    key: TrackKey,
    last_box: BBox,
    missed: u32,
}

/// Greedy IoU tracker state of one video.
pub(crate) struct GreedyTracker {
    min_iou: f32,
    max_center_shift: f32,
    max_missed_frames: u32,
    tracks: Vec<Track>,
    next_key: TrackKey,
}

impl GreedyTracker {
    pub(crate) fn new(min_iou: f32, max_center_shift: f32, max_missed_frames: u32) -> Self {
        Self { min_iou, max_center_shift, max_missed_frames, tracks: Vec::new(), next_key: 0 }
    }

    /// Associates one frame's faces.
    pub(crate) fn step(&mut self, faces: &[FaceObservation]) -> Step {
        let assignment = self.associate(faces);
        let mut step = Step { faces: Vec::with_capacity(faces.len()), ..Step::default() };
        let mut matched = vec![false; self.tracks.len()];
        for (obs, slot) in faces.iter().zip(assignment) {
            let t = match slot {
                Some(t) => t,
                None => {
                    self.tracks.push(Track { key: self.next_key, last_box: obs.detection.bbox, missed: 0 });
                    step.reported.push(self.next_key);
                    self.next_key += 1;
                    matched.push(false);
                    self.tracks.len() - 1
                }
            };
            matched[t] = true;
            let track = &mut self.tracks[t];
            track.last_box = obs.detection.bbox;
            track.missed = 0;
            step.faces.push(Some(track.key));
        }
        // Age unmatched tracks; end those that missed too many frames (in the same order as
        // earlier versions, so that ties between equal affinities resolve the same way).
        let mut ended = Vec::new();
        for (t, m) in matched.iter().enumerate() {
            if !m {
                self.tracks[t].missed += 1;
                if self.tracks[t].missed > self.max_missed_frames {
                    ended.push(t);
                }
            }
        }
        for t in ended.into_iter().rev() {
            step.ended.push(self.tracks.swap_remove(t).key);
        }
        step
    }

    /// Ends every track.
    pub(crate) fn finish(&mut self) -> Vec<TrackKey> {
        self.tracks.drain(..).map(|t| t.key).collect()
    }

    /// Greedy assignment of detections to live tracks: per detection, a track slot.
    fn associate(&self, faces: &[FaceObservation]) -> Vec<Option<usize>> {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (d, f) in faces.iter().enumerate() {
            for (t, track) in self.tracks.iter().enumerate() {
                let v = iou(&track.last_box, &f.detection.bbox);
                if v >= self.min_iou && v > 0.0 {
                    pairs.push((1.0 + v, d, t)); // IoU matches rank above centre matches
                } else if let Some(c) = center_affinity(&track.last_box, &f.detection.bbox, self.max_center_shift) {
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
