//! Frame sampling at a fixed rate: which decoded frames a run analyses.
//!
//! In: the timestamps (seconds from the stream start) of every decoded frame, in order.
//! Out: keep or drop for each. Plain Rust, no FFmpeg: the annotator reuses it to tell which
//! frames a sampled run analysed.

/// Two timestamps closer than this (seconds) count as equal when sampling.
const SAMPLE_EPS_S: f64 = 1e-6;

/// Chooses frames to emit when sampling at a fixed rate: the rule behind
/// [`DecodeOptions::sample_fps`](super::DecodeOptions::sample_fps), public so that a caller
/// decoding every frame (e.g. the annotator) can tell which of them a sampled run analysed.
#[derive(Debug, Clone)]
pub struct Sampler {
    period_s: Option<f64>,
    anchor_s: Option<f64>,
    next_s: f64,
}

impl Sampler {
    /// A sampler for at most `sample_fps` frames per second (`None`: every frame).
    pub fn new(sample_fps: Option<f64>) -> Self {
        Self { period_s: sample_fps.map(|fps| 1.0 / fps), anchor_s: None, next_s: 0.0 }
    }

    /// Whether the frame at `t` seconds (from the stream start,
    /// [`Frame::timestamp_s`](super::Frame::timestamp_s)) is emitted; advances the grid when it
    /// is. Call it once per decoded frame, in order.
    pub fn accept(&mut self, t: f64) -> bool {
        let Some(period) = self.period_s else {
            return true;
        };
        let Some(anchor) = self.anchor_s else {
            self.anchor_s = Some(t);
            self.next_s = t + period;
            return true;
        };
        if t + SAMPLE_EPS_S < self.next_s {
            return false;
        }
        // The next grid point strictly after `t` (skips grid points inside VFR gaps).
        let steps = ((t - anchor + SAMPLE_EPS_S) / period).floor() + 1.0;
        self.next_s = anchor + steps * period;
        true
    }
}
