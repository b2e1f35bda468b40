//! Rational timestamps for decoded frames.
//!
//! In: a raw timestamp (`i64` ticks) plus the stream's time base, exactly as the container
//! stores them. Out: [`Pts`], which keeps the exact rational value, and seconds (`f64`) only
//! when asked for at the edge (tables, logs, sampling decisions).
//!
//! Follows video-rs `src/time.rs` (`Time { time, time_base }`), without FFmpeg types: this file
//! is plain Rust so any module can use it without pulling in `ffmpeg_next`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A rational number `num / den`, used for time bases (seconds per tick) and frame rates.
///
/// A rational with `den == 0` is invalid (FFmpeg uses `0/0` or `0/1` for "unknown"); the
/// conversions below return `None` or `NaN` for it rather than panicking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rational {
    /// Numerator.
    pub num: i32,
    /// Denominator.
    pub den: i32,
}

impl Rational {
    /// Builds `num / den` (not reduced).
    pub const fn new(num: i32, den: i32) -> Self {
        Self { num, den }
    }

    /// True when both parts are positive, i.e. the value is a usable time base or rate.
    pub const fn is_positive(self) -> bool {
        self.num > 0 && self.den > 0
    }

    /// The value as `f64`, or `None` when the denominator is zero.
    pub fn to_f64(self) -> Option<f64> {
        (self.den != 0).then(|| f64::from(self.num) / f64::from(self.den))
    }

    /// Seconds represented by `value` ticks of this time base (`value * num / den`).
    ///
    /// Returns `NaN` when the denominator is zero. Computed as one multiplication and one
    /// division so that `n` ticks of `1/den` give the closest `f64` to `n / den`.
    pub fn seconds(self, value: i64) -> f64 {
        if self.den == 0 {
            return f64::NAN;
        }
        (value as f64) * f64::from(self.num) / f64::from(self.den)
    }

    /// The reciprocal `den / num` (e.g. frame duration from a frame rate), or `None` if
    /// `num` is zero.
    pub fn invert(self) -> Option<Self> {
        (self.num != 0).then_some(Self { num: self.den, den: self.num })
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

/// A presentation timestamp: `value` ticks of `time_base` seconds, exactly as in the stream.
///
/// Values are not rebased: subtract the stream's start time (see
/// [`Pts::seconds_since`]) to get seconds from the start of the video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pts {
    /// Timestamp in ticks of `time_base`.
    pub value: i64,
    /// Seconds per tick.
    pub time_base: Rational,
}

impl Pts {
    /// Builds a timestamp from ticks and a time base.
    pub const fn new(value: i64, time_base: Rational) -> Self {
        Self { value, time_base }
    }

    /// The timestamp in seconds (absolute, i.e. not relative to the stream start).
    pub fn seconds(&self) -> f64 {
        self.time_base.seconds(self.value)
    }

    /// Seconds elapsed since `start` ticks of the same time base.
    ///
    /// The subtraction happens in ticks (exact) before converting to seconds.
    pub fn seconds_since(&self, start: i64) -> f64 {
        self.time_base.seconds(self.value.saturating_sub(start))
    }
}

impl fmt::Display for Pts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}×{} ({:.6} s)", self.value, self.time_base, self.seconds())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_exact_for_common_time_bases() {
        let tb = Rational::new(1, 90_000);
        assert_eq!(tb.seconds(167_400), 1.86);
        let tb = Rational::new(100, 2997);
        assert!((tb.seconds(2997) - 100.0).abs() < 1e-12);
        assert_eq!(Pts::new(1_500, Rational::new(1, 1000)).seconds(), 1.5);
    }

    #[test]
    fn seconds_since_subtracts_in_ticks() {
        let pts = Pts::new(10_512, Rational::new(1, 1024));
        assert_eq!(pts.seconds_since(512), 10_000.0 / 1024.0);
    }

    #[test]
    fn invalid_rationals_do_not_panic() {
        let zero = Rational::new(0, 0);
        assert!(zero.seconds(10).is_nan());
        assert_eq!(zero.to_f64(), None);
        assert_eq!(zero.invert(), None);
        assert!(!zero.is_positive());
        assert_eq!(Rational::new(30_000, 1001).invert(), Some(Rational::new(1001, 30_000)));
    }
}
