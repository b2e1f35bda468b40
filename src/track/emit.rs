//! Output side of the tracker: person ids, smoothing, and frames in order.
//!
//! In: per processed frame, its faces and the association engine's [`Step`] (each face's track
//! key, the tracks that became persons, the tracks that ended). Out: [`TrackedFrame`]s in frame
//! order, each face with its person id and smoothed scores.
//!
//! A face is held until it is final: its track has been reported as a person (ids are handed
//! out 1, 2, 3, … in the order tracks are reported, so ids have no gaps) and its smoothed value
//! is known (the centred window needs later faces of the track). The faces of a track that ends
//! without being reported, and faces that joined no track, are dropped from the output. Frames
//! are emitted in order once all their faces are final, also when none is left.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::smooth::{SmoothMethod, Smoother};
use super::{FaceObservation, Step, TrackId, TrackKey, TrackedFace, TrackedFrame};
use crate::classify::ExpressionScores;

/// Sequence number of a processed frame and position of a face in it.
type SlotRef = (u64, usize);

struct Slot {
    obs: FaceObservation,
    person: Option<TrackId>,
    smoothed: Option<ExpressionScores>,
    dropped: bool,
}

impl Slot {
    fn is_final(&self) -> bool {
        self.dropped || (self.person.is_some() && self.smoothed.is_some())
    }
}

struct PendingFrame {
    frame_index: u64,
    timestamp_s: f64,
    slots: Vec<Slot>,
    /// Slots not final yet.
    open: usize,
}

struct TrackOut {
    person: Option<TrackId>,
    smoother: Smoother,
    /// Faces whose smoothed value is not known yet, oldest first.
    unsmoothed: VecDeque<SlotRef>,
    /// Faces waiting for the track to be reported.
    unnamed: Vec<SlotRef>,
}

/// Holds faces until they are final; see the module docs.
pub(crate) struct Emitter {
    smooth: SmoothMethod,
    seq: u64,
    frames: BTreeMap<u64, PendingFrame>,
    tracks: HashMap<TrackKey, TrackOut>,
    next_person: u32,
}

impl Emitter {
    pub(crate) fn new(smooth: SmoothMethod) -> Self {
        Self { smooth, seq: 0, frames: BTreeMap::new(), tracks: HashMap::new(), next_person: 1 }
    }

    /// Person ids handed out so far.
    pub(crate) fn persons(&self) -> u32 {
        self.next_person - 1
    }

    /// Adds a processed frame with the engine's decisions about it.
    pub(crate) fn frame(&mut self, frame_index: u64, timestamp_s: f64, faces: Vec<FaceObservation>, step: Step) {
        let seq = self.seq;
        self.seq += 1;
        let keys = step.faces;
        let raws: Vec<ExpressionScores> = faces.iter().map(|f| f.raw).collect();
        let slots: Vec<Slot> = faces.into_iter().zip(&keys).map(|(obs, key)| Slot { obs, person: None, smoothed: None, dropped: key.is_none() }).collect();
        let open = slots.iter().filter(|s| !s.is_final()).count();
        self.frames.insert(seq, PendingFrame { frame_index, timestamp_s, slots, open });
        for (slot, (key, raw)) in keys.iter().zip(raws).enumerate() {
            let Some(key) = *key else { continue };
            let smooth = self.smooth;
            let track = self.tracks.entry(key).or_insert_with(|| TrackOut {
                person: None,
                smoother: Smoother::new(smooth),
                unsmoothed: VecDeque::new(),
                unnamed: Vec::new(),
            });
            let at = (seq, slot);
            track.unsmoothed.push_back(at);
            let person = track.person;
            if person.is_none() {
                track.unnamed.push(at);
            }
            let done: Vec<(SlotRef, ExpressionScores)> =
                track.smoother.push(raw).into_iter().filter_map(|s| track.unsmoothed.pop_front().map(|r| (r, s))).collect();
            if person.is_some() {
                self.update(at, |s| s.person = person);
            }
            for (r, s) in done {
                self.update(r, |slot| slot.smoothed = Some(s));
            }
        }
        for key in step.reported {
            self.report(key);
        }
        for key in step.ended {
            self.end(key);
        }
    }

    /// End of the video: the engine's last reports, then every track ends.
    pub(crate) fn finish(&mut self, step: Step) {
        for key in step.reported {
            self.report(key);
        }
        for key in step.ended {
            self.end(key);
        }
    }

    /// Hands the next person id to a track and to all its faces so far.
    fn report(&mut self, key: TrackKey) {
        let Some(track) = self.tracks.get_mut(&key) else { return };
        if track.person.is_some() {
            return;
        }
        let id = TrackId(self.next_person);
        self.next_person += 1;
        track.person = Some(id);
        for r in std::mem::take(&mut track.unnamed) {
            self.update(r, |s| s.person = Some(id));
        }
    }

    /// A track ended: a person's held-back smoothed values are flushed; a track never
    /// reported has its faces dropped.
    pub(crate) fn end(&mut self, key: TrackKey) {
        let Some(mut track) = self.tracks.remove(&key) else { return };
        if track.person.is_some() {
            let rest = track.smoother.finish();
            for s in rest {
                if let Some(r) = track.unsmoothed.pop_front() {
                    self.update(r, |slot| slot.smoothed = Some(s));
                }
            }
            // Smoothers emit one value per input; anything left (none expected) keeps its raw.
            for r in track.unsmoothed {
                self.update(r, |slot| slot.smoothed = Some(slot.obs.raw));
            }
        } else {
            for r in track.unnamed {
                self.update(r, |s| s.dropped = true);
            }
        }
    }

    fn update(&mut self, (seq, slot): SlotRef, f: impl FnOnce(&mut Slot)) {
        let Some(pf) = self.frames.get_mut(&seq) else { return };
        let Some(s) = pf.slots.get_mut(slot) else { return };
        let was = s.is_final();
        f(s);
        if !was && s.is_final() {
            pf.open -= 1;
        }
    }

    /// Frames whose faces are all final, in order.
    pub(crate) fn drain_ready(&mut self) -> Vec<TrackedFrame> {
        let mut out = Vec::new();
        while let Some(entry) = self.frames.first_entry() {
            if entry.get().open > 0 {
                break;
            }
            let pf = entry.remove();
            let faces = pf
                .slots
                .into_iter()
                .filter(|s| !s.dropped)
                .filter_map(|s| {
                    let track_id = s.person?;
                    Some(TrackedFace { track_id, detection: s.obs.detection, smoothed: s.smoothed.unwrap_or(s.obs.raw), raw: s.obs.raw })
                })
                .collect();
            out.push(TrackedFrame { frame_index: pf.frame_index, timestamp_s: pf.timestamp_s, faces });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{BBox, Detection};

    fn face(class: usize) -> FaceObservation {
        let mut p = [0.0; 7];
        p[class] = 1.0;
        FaceObservation { detection: Detection { bbox: BBox { x: 0.0, y: 0.0, w: 9.0, h: 9.0 }, score: 0.9, landmarks: None }, raw: ExpressionScores(p) }
    }

    fn step(faces: Vec<Option<TrackKey>>, reported: Vec<TrackKey>, ended: Vec<TrackKey>) -> Step {
        Step { faces, reported, ended }
    }

    #[test]
    fn faces_wait_for_their_track_to_be_reported_and_unreported_tracks_are_dropped() {
        let mut e = Emitter::new(SmoothMethod::None);
        e.frame(0, 0.0, vec![face(0), face(1)], step(vec![Some(7), Some(8)], vec![], vec![]));
        assert!(e.drain_ready().is_empty(), "nothing is final yet");
        e.frame(1, 0.2, vec![face(0), face(2)], step(vec![Some(7), None], vec![7], vec![]));
        // Track 7 is person 1; track 8 is still undecided, so frame 0 waits and frame 1 too.
        assert!(e.drain_ready().is_empty());
        e.frame(2, 0.4, vec![], step(vec![], vec![], vec![8]));
        let out = e.drain_ready();
        assert_eq!(out.iter().map(|f| f.frame_index).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(out.iter().map(|f| f.faces.len()).collect::<Vec<_>>(), vec![1, 1, 0]);
        assert!(out.iter().flat_map(|f| &f.faces).all(|x| x.track_id == TrackId(1)));
        assert_eq!(e.persons(), 1);
    }

    #[test]
    fn ids_follow_the_order_tracks_are_reported() {
        let mut e = Emitter::new(SmoothMethod::Ema { alpha: 0.5 });
        e.frame(0, 0.0, vec![face(0), face(1)], step(vec![Some(3), Some(4)], vec![4], vec![]));
        e.frame(1, 0.2, vec![face(0), face(1)], step(vec![Some(3), Some(4)], vec![3], vec![]));
        let out = e.drain_ready();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].faces.iter().map(|f| f.track_id.0).collect::<Vec<_>>(), vec![2, 1]);
        assert_eq!(e.persons(), 2);
    }
}
