//! Crowd statistics per time window and per-person summaries (the paper's Tables 6 and 8:
//! the share of people showing each expression).
//!
//! In: [`TrackedFrame`]s in frame order. Out: [`CrowdWindow`]s as each window closes and, at
//! the end of the video, one [`PersonSummary`] per person.
//!
//! In a window, each person counts once, with the smoothed label they showed most often in
//! that window (ties go to the earlier class index); `pct` is the share of people per label in
//! percent. `mean` averages the smoothed probabilities over the window's face rows.

use std::collections::BTreeMap;

use crate::classify::{Expression, ExpressionScores};
use crate::track::{TrackId, TrackedFrame};

/// Statistics of one time window.
#[derive(Debug, Clone, PartialEq)]
pub struct CrowdWindow {
    /// Window number (start = index · window length).
    pub index: u64,
    /// Start in seconds from the start of the video.
    pub start_s: f64,
    /// End (exclusive) in seconds.
    pub end_s: f64,
    /// Processed frames in the window.
    pub frames: u64,
    /// Face rows in the window.
    pub faces: u64,
    /// Distinct people in the window.
    pub people: u64,
    /// Percent of people per expression (sums to 100 when `people > 0`).
    pub pct: [f32; Expression::COUNT],
    /// Mean smoothed probability per expression over the face rows.
    pub mean: [f32; Expression::COUNT],
    /// Expression with the largest share (None without people).
    pub dominant: Option<Expression>,
}

/// Summary of one person over the whole video.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonSummary {
    /// Person id.
    pub track_id: TrackId,
    /// First time seen (s).
    pub first_s: f64,
    /// Last time seen (s).
    pub last_s: f64,
    /// Face rows of this person.
    pub frames: u64,
    /// Mean raw probabilities.
    pub mean_raw: [f32; Expression::COUNT],
    /// Mean smoothed probabilities.
    pub mean_smoothed: [f32; Expression::COUNT],
    /// Most frequent smoothed label.
    pub dominant: Expression,
    /// Fraction of the person's rows with the dominant label.
    pub dominant_share: f32,
}

#[derive(Default)]
struct WindowAcc {
    frames: u64,
    faces: u64,
    labels: BTreeMap<TrackId, [u32; Expression::COUNT]>,
    sum: [f64; Expression::COUNT],
}

#[derive(Clone)]
struct PersonAcc {
    first_s: f64,
    last_s: f64,
    frames: u64,
    raw: [f64; Expression::COUNT],
    smoothed: [f64; Expression::COUNT],
    labels: [u32; Expression::COUNT],
}

/// Accumulates windows and persons for one video.
pub struct Aggregator {
    window_s: f64,
    current: Option<(u64, WindowAcc)>,
    persons: BTreeMap<TrackId, PersonAcc>,
}

fn argmax_counts(c: &[u32; Expression::COUNT]) -> usize {
    let mut best = 0;
    for i in 1..Expression::COUNT {
        if c[i] > c[best] {
            best = i;
        }
    }
    best
}

impl Aggregator {
    /// An aggregator with windows of `window_s` seconds (must be > 0).
    pub fn new(window_s: f64) -> Self {
        Self { window_s, current: None, persons: BTreeMap::new() }
    }

    /// Adds a frame; returns the windows it closed.
    pub fn push(&mut self, frame: &TrackedFrame) -> Vec<CrowdWindow> {
        let idx = (frame.timestamp_s.max(0.0) / self.window_s).floor() as u64;
        let mut closed = Vec::new();
        if self.current.as_ref().is_some_and(|(i, _)| *i != idx)
            && let Some((i, acc)) = self.current.take()
        {
            closed.push(self.close(i, acc));
        }
        let (_, acc) = self.current.get_or_insert_with(|| (idx, WindowAcc::default()));
        acc.frames += 1;
        for f in &frame.faces {
            acc.faces += 1;
            let label = f.smoothed.label().index();
            acc.labels.entry(f.track_id).or_default()[label] += 1;
            for (s, v) in acc.sum.iter_mut().zip(f.smoothed.0) {
                *s += f64::from(v);
            }
            let p = self.persons.entry(f.track_id).or_insert(PersonAcc {
                first_s: frame.timestamp_s,
                last_s: frame.timestamp_s,
                frames: 0,
                raw: [0.0; 7],
                smoothed: [0.0; 7],
                labels: [0; 7],
            });
            p.last_s = frame.timestamp_s;
            p.frames += 1;
            p.labels[label] += 1;
            for i in 0..Expression::COUNT {
                p.raw[i] += f64::from(f.raw.0[i]);
                p.smoothed[i] += f64::from(f.smoothed.0[i]);
            }
        }
        closed
    }

    fn close(&self, index: u64, acc: WindowAcc) -> CrowdWindow {
        let people = acc.labels.len() as u64;
        let mut counts = [0u64; Expression::COUNT];
        for c in acc.labels.values() {
            counts[argmax_counts(c)] += 1;
        }
        let mut pct = [0.0f32; Expression::COUNT];
        let mut mean = [0.0f32; Expression::COUNT];
        if people > 0 {
            for i in 0..Expression::COUNT {
                pct[i] = (counts[i] as f64 * 100.0 / people as f64) as f32;
            }
        }
        if acc.faces > 0 {
            for (mean, sum) in mean.iter_mut().zip(acc.sum) {
                *mean = (sum / acc.faces as f64) as f32;
            }
        }
        let dominant = (people > 0).then(|| {
            let mut best = 0;
            for i in 1..Expression::COUNT {
                if counts[i] > counts[best] {
                    best = i;
                }
            }
            Expression::ALL[best]
        });
        CrowdWindow {
            index,
            start_s: index as f64 * self.window_s,
            end_s: (index + 1) as f64 * self.window_s,
            frames: acc.frames,
            faces: acc.faces,
            people,
            pct,
            mean,
            dominant,
        }
    }

    /// Ends the video: the last window and every person's summary.
    pub fn finish(mut self) -> (Vec<CrowdWindow>, Vec<PersonSummary>) {
        let mut windows = Vec::new();
        if let Some((i, acc)) = self.current.take() {
            windows.push(self.close(i, acc));
        }
        let persons = self
            .persons
            .iter()
            .map(|(&track_id, p)| {
                let n = p.frames.max(1) as f64;
                let d = argmax_counts(&p.labels);
                PersonSummary {
                    track_id,
                    first_s: p.first_s,
                    last_s: p.last_s,
                    frames: p.frames,
                    mean_raw: p.raw.map(|v| (v / n) as f32),
                    mean_smoothed: p.smoothed.map(|v| (v / n) as f32),
                    dominant: Expression::ALL[d],
                    dominant_share: (f64::from(p.labels[d]) / n) as f32,
                }
            })
            .collect();
        (windows, persons)
    }
}

/// Mean of several score vectors (uniform for none).
pub fn mean_scores(items: &[ExpressionScores]) -> ExpressionScores {
    if items.is_empty() {
        return ExpressionScores::uniform();
    }
    let mut v = [0.0f32; Expression::COUNT];
    for s in items {
        for (o, x) in v.iter_mut().zip(s.0) {
            *o += x;
        }
    }
    ExpressionScores(v).normalized()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{BBox, Detection};
    use crate::track::TrackedFace;

    fn tf(id: u32, class: usize) -> TrackedFace {
        let mut p = [0.0; 7];
        p[class] = 1.0;
        TrackedFace {
            track_id: TrackId(id),
            detection: Detection { bbox: BBox { x: 0.0, y: 0.0, w: 10.0, h: 10.0 }, score: 3.0, landmarks: None },
            raw: ExpressionScores(p),
            smoothed: ExpressionScores(p),
        }
    }

    fn frame(t: f64, faces: Vec<TrackedFace>) -> TrackedFrame {
        TrackedFrame { frame_index: (t * 10.0) as u64, timestamp_s: t, faces }
    }

    #[test]
    fn windows_count_each_person_once_by_their_majority_label() {
        let mut a = Aggregator::new(1.0);
        let mut closed = Vec::new();
        // Window 0: person 1 happy, happy, sad → happy; person 2 sad; person 3 neutral.
        closed.extend(a.push(&frame(0.0, vec![tf(1, 3), tf(2, 4)])));
        closed.extend(a.push(&frame(0.3, vec![tf(1, 3), tf(3, 6)])));
        closed.extend(a.push(&frame(0.6, vec![tf(1, 4)])));
        assert!(closed.is_empty());
        // Window 2 (window 1 has no frames and is not emitted): nobody.
        closed.extend(a.push(&frame(2.5, vec![])));
        assert_eq!(closed.len(), 1);
        let w = &closed[0];
        assert_eq!((w.frames, w.faces, w.people), (3, 5, 3));
        let third = 100.0 / 3.0;
        assert!((w.pct[3] - third).abs() < 1e-4 && (w.pct[4] - third).abs() < 1e-4 && (w.pct[6] - third).abs() < 1e-4);
        assert!((w.pct.iter().sum::<f32>() - 100.0).abs() < 1e-3);
        assert!((w.mean[3] - 0.4).abs() < 1e-6, "2 of 5 face rows happy");
        assert_eq!(w.dominant, Some(Expression::Happy), "tie → first class index");
        let (rest, persons) = a.finish();
        assert_eq!(rest.len(), 1);
        assert_eq!((rest[0].index, rest[0].people, rest[0].frames), (2, 0, 1));
        assert_eq!(rest[0].pct, [0.0; 7]);
        assert_eq!(rest[0].dominant, None);
        assert_eq!(persons.len(), 3);
        let p1 = &persons[0];
        assert_eq!((p1.frames, p1.dominant), (3, Expression::Happy));
        assert!((p1.dominant_share - 2.0 / 3.0).abs() < 1e-6);
        assert_eq!((p1.first_s, p1.last_s), (0.0, 0.6));
    }
}
