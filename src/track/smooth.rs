//! Per-person temporal smoothing of the 7 probabilities.
//!
//! In: one track's raw [`ExpressionScores`] in time order. Out: smoothed scores (still summing
//! to 1), possibly later than the input for the centred window (it needs `radius` future
//! observations, or the end of the track).

use std::collections::VecDeque;

use crate::classify::ExpressionScores;

/// How to smooth.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum SmoothMethod {
    /// No smoothing: smoothed = raw.
    None,
    /// Exponential moving average `s_t = α·p_t + (1−α)·s_{t−1}` (causal, no delay).
    Ema {
        /// Weight of the newest observation, in (0, 1].
        alpha: f32,
    },
    /// Centred moving average over `2·radius + 1` observations of the track (truncated at
    /// the track's ends); delays output by `radius` observations.
    Window {
        /// Observations on each side.
        radius: usize,
    },
}

impl SmoothMethod {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            SmoothMethod::Ema { alpha } if !(alpha > 0.0 && alpha <= 1.0) => Err(format!("smooth alpha must be in (0, 1], got {alpha}")),
            SmoothMethod::Window { radius } if radius > 1000 => Err(format!("smooth radius must be ≤ 1000, got {radius}")),
            _ => Ok(()),
        }
    }
}

/// Smoothing state of one track.
#[derive(Debug, Clone)]
pub struct Smoother {
    method: SmoothMethod,
    ema: Option<ExpressionScores>,
    /// Window: raw values not yet out of the window's reach, and how many of them were emitted.
    window: VecDeque<ExpressionScores>,
    emitted_in_window: usize,
}

impl Smoother {
    /// A fresh smoother.
    pub fn new(method: SmoothMethod) -> Self {
        Self { method, ema: None, window: VecDeque::new(), emitted_in_window: 0 }
    }

    /// Adds an observation; returns the smoothed values that became final, oldest first.
    pub fn push(&mut self, raw: ExpressionScores) -> Vec<ExpressionScores> {
        match self.method {
            SmoothMethod::None => vec![raw],
            SmoothMethod::Ema { alpha } => {
                let s = match self.ema {
                    None => raw,
                    Some(prev) => {
                        let mut v = [0.0; 7];
                        for (i, o) in v.iter_mut().enumerate() {
                            *o = alpha * raw.0[i] + (1.0 - alpha) * prev.0[i];
                        }
                        ExpressionScores(v).normalized()
                    }
                };
                self.ema = Some(s);
                vec![s]
            }
            SmoothMethod::Window { radius } => {
                self.window.push_back(raw);
                let mut out = Vec::new();
                // The next value to emit has index `emitted_in_window`; it is final once
                // `radius` values follow it.
                while self.window.len() > self.emitted_in_window + radius {
                    out.push(self.window_mean(self.emitted_in_window, radius));
                    self.emitted_in_window += 1;
                    while self.emitted_in_window > radius {
                        self.window.pop_front();
                        self.emitted_in_window -= 1;
                    }
                }
                out
            }
        }
    }

    /// Ends the track: returns the values still held back (window method only).
    pub fn finish(&mut self) -> Vec<ExpressionScores> {
        let mut out = Vec::new();
        if let SmoothMethod::Window { radius } = self.method {
            while self.emitted_in_window < self.window.len() {
                out.push(self.window_mean(self.emitted_in_window, radius));
                self.emitted_in_window += 1;
            }
            self.window.clear();
            self.emitted_in_window = 0;
        }
        out
    }

    fn window_mean(&self, center: usize, radius: usize) -> ExpressionScores {
        let lo = center.saturating_sub(radius);
        let hi = (center + radius + 1).min(self.window.len());
        let mut v = [0.0f32; 7];
        for s in self.window.range(lo..hi) {
            for (o, x) in v.iter_mut().zip(s.0) {
                *o += x;
            }
        }
        ExpressionScores(v).normalized()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_hot(i: usize) -> ExpressionScores {
        let mut v = [0.0; 7];
        v[i] = 1.0;
        ExpressionScores(v)
    }

    #[test]
    fn ema_follows_the_formula_and_stays_normalised() {
        let mut s = Smoother::new(SmoothMethod::Ema { alpha: 0.25 });
        assert_eq!(s.push(one_hot(3)), vec![one_hot(3)]);
        let out = s.push(one_hot(4))[0];
        assert!((out.0[3] - 0.75).abs() < 1e-6 && (out.0[4] - 0.25).abs() < 1e-6);
        let out = s.push(one_hot(4))[0];
        assert!((out.0[4] - (0.25 + 0.75 * 0.25)).abs() < 1e-6);
        assert!((out.0.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(s.finish().is_empty());
    }

    #[test]
    fn centred_window_delays_by_radius_and_averages_truncated_ends() {
        let mut s = Smoother::new(SmoothMethod::Window { radius: 1 });
        let seq = [0, 0, 3, 3, 3];
        let mut out = Vec::new();
        let mut lags = Vec::new();
        for (i, &c) in seq.iter().enumerate() {
            let got = s.push(one_hot(c));
            lags.push(got.len());
            out.extend(got);
            assert!(out.len() <= i, "window output must lag by the radius");
        }
        out.extend(s.finish());
        assert_eq!(out.len(), seq.len());
        assert_eq!(lags, vec![0, 1, 1, 1, 1]);
        // First: mean of [0,0] → class 0 = 1. Second: [0,0,3] → 2/3, 1/3.
        assert!((out[0].0[0] - 1.0).abs() < 1e-6);
        assert!((out[1].0[0] - 2.0 / 3.0).abs() < 1e-6 && (out[1].0[3] - 1.0 / 3.0).abs() < 1e-6);
        assert!((out[4].0[3] - 1.0).abs() < 1e-6);
        for o in &out {
            assert!((o.0.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn bad_parameters_are_rejected() {
        assert!(SmoothMethod::Ema { alpha: 0.0 }.validate().is_err());
        assert!(SmoothMethod::Ema { alpha: 1.5 }.validate().is_err());
        assert!(SmoothMethod::Ema { alpha: 1.0 }.validate().is_ok());
    }
}
