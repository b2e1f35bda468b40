//! Scene cuts from a tiny grey signature per analysed frame.
//!
//! In: one [`SceneSignature`] per analysed frame (computed by the pipeline while the pixels
//! are at hand), with its timestamp. Out: for each frame, in order, whether a cut comes just
//! before it — so that the tracker ends every track there and no id crosses into another shot.
//!
//! The signature is a 32-bin histogram of the frame's grey levels after mean-pooling it to
//! 64 × 36 cells (pooling removes pixel noise and compression grain); two frames differ by half
//! the L1 distance of their histograms, in [0, 1]. Histograms change little when the camera
//! pans or shakes (measured on the sample clips at 5 frames/s: at most 0.14 between consecutive
//! frames in the pans of `meeting_scene_cuts`, 0.26 in its fast zoom) and a lot at cuts (0.5–0.8),
//! but they also jump when someone walks right past the lens (0.5 on `classroom_front`). So a
//! jump between consecutive frames is only a *candidate*; it becomes a cut when it
//! **persists**: every frame of the following `window_s` seconds (at least two frames) differs
//! by more than the threshold from every frame of the preceding `window_s` seconds. A passing
//! occluder is gone within the window and the scene comes back, a cut does not. Deciding a
//! candidate waits for the following window, so decisions may lag the input by `window_s`;
//! frames that are not candidates are decided at once. Slow dissolves spread the change over
//! many frames and may pass unnoticed at high sampling rates; the faces of both shots then
//! rarely sit in the same place, and lost tracks end after `track.max-lost-secs` anyway.

use std::collections::VecDeque;

use crate::imageops::GrayView;

/// Bins of the grey-level histogram.
pub const HIST_BINS: usize = 32;
/// Pooling grid (columns × rows) the histogram is taken over.
const GRID: (usize, usize) = (64, 36);

/// A frame's grey-level histogram after mean-pooling (sums to 1). No pixels are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneSignature {
    hist: [f32; HIST_BINS],
}

impl SceneSignature {
    /// Signature of a grey frame (empty frames give an all-black histogram).
    pub fn from_gray(view: GrayView<'_>) -> Self {
        let (gx, gy) = GRID;
        let (w, h) = (view.width, view.height);
        let mut hist = [0.0f32; HIST_BINS];
        if w == 0 || h == 0 || view.data.len() < w * h {
            hist[0] = 1.0;
            return Self { hist };
        }
        // Sample every `step`-th pixel in each direction: ~a dozen samples per cell on 1080p,
        // every pixel on small frames.
        let step = (w.min(h * 16 / 9) / 256).max(1);
        let mut cells = 0u32;
        for cy in 0..gy {
            let (y0, y1) = (cy * h / gy, ((cy + 1) * h / gy).max(cy * h / gy + 1).min(h));
            for cx in 0..gx {
                let (x0, x1) = (cx * w / gx, ((cx + 1) * w / gx).max(cx * w / gx + 1).min(w));
                let (mut sum, mut n) = (0u32, 0u32);
                for y in (y0..y1).step_by(step) {
                    let row = &view.data[y * w..y * w + w];
                    for &p in row[x0..x1].iter().step_by(step) {
                        sum += u32::from(p);
                        n += 1;
                    }
                }
                if let Some(mean) = sum.checked_div(n) {
                    hist[(mean as usize * HIST_BINS / 256).min(HIST_BINS - 1)] += 1.0;
                    cells += 1;
                }
            }
        }
        if cells == 0 {
            hist[0] = 1.0;
        } else {
            hist.iter_mut().for_each(|b| *b /= cells as f32);
        }
        Self { hist }
    }

    /// A signature from a histogram (normalised here; tests and callers with their own bins).
    pub fn from_histogram(hist: [f32; HIST_BINS]) -> Self {
        let total: f32 = hist.iter().sum();
        let hist = if total > 0.0 { hist.map(|b| b / total) } else { hist };
        Self { hist }
    }

    /// Half the L1 distance of the two histograms: 0 for equal grey-level distributions, 1 for
    /// disjoint ones.
    pub fn distance(&self, other: &SceneSignature) -> f32 {
        self.hist.iter().zip(&other.hist).map(|(a, b)| (a - b).abs()).sum::<f32>() / 2.0
    }
}

/// Scene-cut test settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SceneCutSettings {
    /// Histogram distance (in [0, 1]) above which two frames belong to different shots;
    /// 1 disables the test.
    pub threshold: f32,
    /// Seconds before and after a candidate that are compared (the persistence test).
    pub window_s: f64,
}

impl Default for SceneCutSettings {
    fn default() -> Self {
        Self { threshold: 0.35, window_s: 1.0 }
    }
}

/// Whether the frames `after` a candidate cut belong to another shot than those `before` it:
/// every pair differs by more than `threshold`. Empty sides give no cut.
pub fn is_cut(before: &[&SceneSignature], after: &[&SceneSignature], threshold: f32) -> bool {
    !before.is_empty() && !after.is_empty() && before.iter().all(|b| after.iter().all(|a| b.distance(a) > threshold))
}

/// The cut test over a stream of frames; see the module docs.
#[derive(Debug, Clone)]
pub struct SceneCutDetector {
    settings: SceneCutSettings,
    /// Decided frames since the last cut, newest last, within `window_s` of the newest.
    before: VecDeque<(f64, SceneSignature)>,
    /// Frames not decided yet, oldest first.
    pending: VecDeque<(f64, Option<SceneSignature>)>,
}

impl SceneCutDetector {
    /// A detector that has seen no frame.
    pub fn new(settings: SceneCutSettings) -> Self {
        Self { settings, before: VecDeque::new(), pending: VecDeque::new() }
    }

    /// Adds a frame (`None`: no signature, never a cut); returns the decisions that became
    /// known, oldest first: `true` when a cut comes right before that frame.
    pub fn push(&mut self, timestamp_s: f64, signature: Option<SceneSignature>) -> Vec<bool> {
        self.pending.push_back((timestamp_s, signature));
        self.decide(false)
    }

    /// End of the video: decides every frame still pending.
    pub fn finish(&mut self) -> Vec<bool> {
        self.decide(true)
    }

    /// Decides pending frames, oldest first, until one needs frames not seen yet.
    fn decide(&mut self, at_end: bool) -> Vec<bool> {
        let mut out = Vec::new();
        while let Some((t, sig)) = self.pending.front() {
            let t = *t;
            let Some(sig) = sig else {
                self.pending.pop_front();
                out.push(false);
                continue;
            };
            let threshold = self.settings.threshold;
            let candidate = self.before.back().is_some_and(|(_, prev)| prev.distance(sig) > threshold);
            let cut = if candidate {
                let window = self.settings.window_s;
                // Complete once a frame beyond the window (and at least one after the candidate) arrived.
                let complete = self.pending.len() >= 2 && self.pending.back().is_some_and(|(tb, _)| *tb > t + window);
                if !complete && !at_end {
                    break;
                }
                let after: Vec<&SceneSignature> =
                    self.pending.iter().enumerate().take_while(|(k, (ta, _))| *k < 2 || *ta <= t + window).filter_map(|(_, (_, s))| s.as_ref()).collect();
                let before: Vec<&SceneSignature> = self.before.iter().map(|(_, s)| s).collect();
                is_cut(&before, &after, threshold)
            } else {
                false
            };
            let Some((t, Some(sig))) = self.pending.pop_front() else { break };
            if cut {
                self.before.clear();
            }
            self.before.push_back((t, sig));
            while self.before.len() > 1 && self.before.front().is_some_and(|(tb, _)| *tb < t - self.settings.window_s) {
                self.before.pop_front();
            }
            out.push(cut);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flat frame of one grey level: its histogram is a single bin.
    fn flat(level: u8) -> SceneSignature {
        let px = vec![level; 64 * 36];
        SceneSignature::from_gray(GrayView { data: &px, width: 64, height: 36 })
    }

    fn run(settings: SceneCutSettings, frames: &[(f64, SceneSignature)]) -> Vec<bool> {
        let mut d = SceneCutDetector::new(settings);
        let mut out = Vec::new();
        for (t, s) in frames {
            out.extend(d.push(*t, Some(s.clone())));
        }
        out.extend(d.finish());
        assert_eq!(out.len(), frames.len(), "one decision per frame");
        out
    }

    #[test]
    fn signature_is_a_normalised_histogram_of_pooled_grey() {
        assert_eq!(flat(0).distance(&flat(255)), 1.0);
        assert_eq!(flat(100).distance(&flat(101)), 0.0, "same bin");
        // Left half black, right half white, 1080p: half the cells in each end bin.
        let (w, h) = (1920, 1080);
        let px: Vec<u8> = (0..w * h).map(|i| if i % w < w / 2 { 0 } else { 255 }).collect();
        let s = SceneSignature::from_gray(GrayView { data: &px, width: w, height: h });
        assert!((s.hist[0] - 0.5).abs() < 1e-6 && (s.hist[HIST_BINS - 1] - 0.5).abs() < 1e-6, "{:?}", s.hist);
        assert!((s.distance(&flat(0)) - 0.5).abs() < 1e-6);
        // Frames smaller than the grid still work.
        let tiny = SceneSignature::from_gray(GrayView { data: &[7u8; 6], width: 3, height: 2 });
        assert_eq!(tiny.hist[0], 1.0);
    }

    #[test]
    fn a_lasting_change_is_a_cut_and_a_passing_occluder_is_not() {
        let s = SceneCutSettings { threshold: 0.25, window_s: 0.5 };
        let fps = 5.0;
        // Shot A for 2 s, shot B for 2 s.
        let frames: Vec<_> = (0..20).map(|i| (i as f64 / fps, if i < 10 { flat(40) } else { flat(200) })).collect();
        let cuts = run(s, &frames);
        assert_eq!(cuts.iter().positions(), vec![10]);
        // Shot A with a dark occluder on two frames: no cut.
        let frames: Vec<_> = (0..20).map(|i| (i as f64 / fps, if (8..10).contains(&i) { flat(5) } else { flat(120) })).collect();
        assert!(run(s, &frames).iter().all(|c| !c));
        // A pan over a textured scene (a gradient moving 8 px per frame) never fires: the
        // grey levels move, their histogram hardly changes.
        let (w, h) = (256, 36);
        let pan = |i: usize| {
            let px: Vec<u8> = (0..w * h).map(|k| (((k % w + 8 * i) % w) as f32 * 0.6 + 40.0) as u8).collect();
            SceneSignature::from_gray(GrayView { data: &px, width: w, height: h })
        };
        assert!(pan(0).distance(&pan(1)) < 0.1, "{}", pan(0).distance(&pan(1)));
        let frames: Vec<_> = (0..20).map(|i| (i as f64 / fps, pan(i))).collect();
        assert!(run(s, &frames).iter().all(|c| !c));
    }

    #[test]
    fn the_window_is_in_seconds_so_the_test_agrees_at_two_sampling_rates() {
        let s = SceneCutSettings { threshold: 0.25, window_s: 0.5 };
        for fps in [2.0, 10.0] {
            // A 0.3 s occluder, then a real cut at 4 s.
            let frames: Vec<_> = (0..(6.0 * fps) as usize)
                .map(|i| {
                    let t = i as f64 / fps;
                    let sig = if t >= 4.0 {
                        flat(220)
                    } else if (2.0..2.3).contains(&t) {
                        flat(5)
                    } else {
                        flat(120)
                    };
                    (t, sig)
                })
                .collect();
            let cuts = run(s, &frames);
            let at: Vec<f64> = cuts.iter().positions().into_iter().map(|i| frames[i].0).collect();
            assert_eq!(at, vec![4.0], "fps {fps}");
        }
    }

    #[test]
    fn decisions_wait_only_at_candidates_and_threshold_one_disables() {
        let mut d = SceneCutDetector::new(SceneCutSettings { threshold: 0.25, window_s: 1.0 });
        assert_eq!(d.push(0.0, Some(flat(10))), vec![false]);
        assert_eq!(d.push(0.2, Some(flat(10))), vec![false], "no candidate: decided at once");
        assert_eq!(d.push(0.4, Some(flat(250))), Vec::<bool>::new(), "candidate: waits for the window");
        assert_eq!(d.push(0.6, None), Vec::<bool>::new());
        assert_eq!(d.push(1.6, Some(flat(250))), vec![true, false, false]);
        let off = SceneCutSettings { threshold: 1.0, window_s: 1.0 };
        assert!(run(off, &[(0.0, flat(0)), (1.0, flat(255)), (2.0, flat(255))]).iter().all(|c| !c));
        assert!(is_cut(&[&flat(0)], &[&flat(255)], 0.5));
        assert!(!is_cut(&[&flat(0), &flat(255)], &[&flat(255)], 0.5));
        assert!(!is_cut(&[], &[&flat(255)], 0.5));
    }

    trait Positions {
        fn positions(self) -> Vec<usize>;
    }
    impl<'a, I: Iterator<Item = &'a bool>> Positions for I {
        fn positions(self) -> Vec<usize> {
            self.enumerate().filter(|(_, c)| **c).map(|(i, _)| i).collect()
        }
    }
}
