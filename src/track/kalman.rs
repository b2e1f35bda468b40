//! A constant-velocity Kalman filter over a face box, in continuous time.
//!
//! In: the boxes of one track, each with its timestamp. Out: the box predicted at any later
//! time, and the filtered box after each measurement.
//!
//! The state is the box centre, width and height and their rates of change, as in SORT and
//! ByteTrack (Bewley et al., ICIP 2016, <https://arxiv.org/abs/1602.00763>; Zhang et al., ECCV
//! 2022, <https://arxiv.org/abs/2110.06864>), with two differences:
//! - time is in seconds, not frames: velocities are in pixels per second and the process
//!   noise grows with the elapsed time (the continuous white-noise-acceleration model), so the
//!   filter behaves the same at any sampling rate and across gaps;
//! - with diagonal process and measurement noise, the 8-dimensional filter splits exactly into
//!   four independent 2-state filters (position, velocity) — one per coordinate — so no
//!   matrix library is needed.
//!
//! Noise standard deviations are fractions of the box height, so that near and far faces are
//! filtered alike.

use crate::detect::BBox;

/// Noise of the filter, as fractions of the box height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KalmanNoise {
    /// Standard deviation of a measured coordinate (detector jitter), × height.
    pub measurement: f32,
    /// Spectral density of the centre's acceleration: the velocity's standard deviation grows
    /// by `centre_accel · height · √dt` pixels per second over `dt` seconds.
    pub centre_accel: f32,
    /// The same for width and height (faces change size more slowly than they move).
    pub size_accel: f32,
    /// Standard deviation of the unknown velocity of a new track, × height per second.
    pub initial_velocity: f32,
}

impl Default for KalmanNoise {
    fn default() -> Self {
        Self { measurement: 0.05, centre_accel: 1.0, size_accel: 0.25, initial_velocity: 1.0 }
    }
}

/// One coordinate: position `p`, velocity `v` and their covariance `[[pp, pv], [pv, vv]]`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    p: f64,
    v: f64,
    pp: f64,
    pv: f64,
    vv: f64,
}

impl Axis {
    fn new(p: f64, pos_var: f64, vel_var: f64) -> Self {
        Self { p, v: 0.0, pp: pos_var, pv: 0.0, vv: vel_var }
    }

    /// `x ← F x`, `P ← F P Fᵀ + Q` with `F = [[1, dt], [0, 1]]` and the white-noise-acceleration
    /// `Q = q · [[dt³/3, dt²/2], [dt²/2, dt]]`.
    fn predict(&mut self, dt: f64, q: f64) {
        self.p += self.v * dt;
        self.pp += 2.0 * dt * self.pv + dt * dt * self.vv + q * dt * dt * dt / 3.0;
        self.pv += dt * self.vv + q * dt * dt / 2.0;
        self.vv += q * dt;
    }

    /// Measures the position `z` with variance `r`.
    fn update(&mut self, z: f64, r: f64) {
        let s = self.pp + r;
        if s <= 0.0 {
            return;
        }
        let (k0, k1) = (self.pp / s, self.pv / s);
        let y = z - self.p;
        self.p += k0 * y;
        self.v += k1 * y;
        // P ← (I − K H) P, with H = [1, 0].
        let (pp, pv) = (self.pp, self.pv);
        self.pp = (1.0 - k0) * pp;
        self.pv = (1.0 - k0) * pv;
        self.vv -= k1 * pv;
    }
}

/// The filter of one track: centre x, centre y, width, height.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxKalman {
    axes: [Axis; 4],
    noise: KalmanNoise,
}

impl BoxKalman {
    /// A filter starting at `bbox` with zero velocity (and a wide velocity uncertainty).
    pub fn new(bbox: &BBox, noise: KalmanNoise) -> Self {
        let (cx, cy) = bbox.center();
        let side = f64::from(bbox.h.max(1.0));
        let pos_var = (2.0 * f64::from(noise.measurement) * side).powi(2);
        let vel_var = (f64::from(noise.initial_velocity) * side).powi(2);
        let axes = [cx, cy, bbox.w, bbox.h].map(|p| Axis::new(f64::from(p), pos_var, vel_var));
        Self { axes, noise }
    }

    /// Moves the state `dt` seconds ahead (no-op for `dt ≤ 0`).
    pub fn predict(&mut self, dt: f64) {
        if dt.is_nan() || dt <= 0.0 {
            return;
        }
        let side = self.side();
        let qc = (f64::from(self.noise.centre_accel) * side).powi(2);
        let qs = (f64::from(self.noise.size_accel) * side).powi(2);
        for (i, axis) in self.axes.iter_mut().enumerate() {
            axis.predict(dt, if i < 2 { qc } else { qs });
        }
        // A box cannot shrink below a pixel, however fast it was shrinking.
        for axis in &mut self.axes[2..] {
            axis.p = axis.p.max(1.0);
        }
    }

    /// Corrects the state with a measured box.
    pub fn update(&mut self, bbox: &BBox) {
        let (cx, cy) = bbox.center();
        let r = (f64::from(self.noise.measurement) * f64::from(bbox.h.max(1.0))).powi(2);
        for (axis, z) in self.axes.iter_mut().zip([cx, cy, bbox.w, bbox.h]) {
            axis.update(f64::from(z), r);
        }
    }

    /// Moves the box by `(dx, dy)` pixels without touching its velocity or uncertainty (the
    /// camera moved, not the face).
    pub fn shift(&mut self, dx: f32, dy: f32) {
        self.axes[0].p += f64::from(dx);
        self.axes[1].p += f64::from(dy);
    }

    /// The current box estimate.
    pub fn bbox(&self) -> BBox {
        let [cx, cy, w, h] = self.axes.map(|a| a.p as f32);
        let (w, h) = (w.max(1.0), h.max(1.0));
        BBox { x: cx - w / 2.0, y: cy - h / 2.0, w, h }
    }

    /// Velocity of the box centre in pixels per second.
    pub fn centre_velocity(&self) -> (f32, f32) {
        (self.axes[0].v as f32, self.axes[1].v as f32)
    }

    /// Standard deviation of the centre's position estimate, in pixels (x, y).
    pub fn centre_std(&self) -> (f32, f32) {
        (self.axes[0].pp.max(0.0).sqrt() as f32, self.axes[1].pp.max(0.0).sqrt() as f32)
    }

    fn side(&self) -> f64 {
        self.axes[3].p.max(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(x: f32, y: f32, side: f32) -> BBox {
        BBox { x, y, w: side, h: side }
    }

    #[test]
    fn predict_moves_by_velocity_times_time_and_widens_the_uncertainty() {
        let mut a = Axis { p: 10.0, v: 5.0, pp: 1.0, pv: 0.0, vv: 4.0 };
        a.predict(2.0, 0.0);
        assert_eq!(a.p, 20.0);
        // F P Fᵀ: pp = 1 + 4·4 = 17, pv = 2·4 = 8, vv = 4.
        assert_eq!((a.pp, a.pv, a.vv), (17.0, 8.0, 4.0));
        // Process noise adds q·[dt³/3, dt²/2, dt].
        let mut b = Axis { p: 0.0, v: 0.0, pp: 0.0, pv: 0.0, vv: 0.0 };
        b.predict(3.0, 2.0);
        assert_eq!((b.pp, b.pv, b.vv), (18.0, 9.0, 6.0));
        // dt = 0 changes nothing.
        let mut k = BoxKalman::new(&bx(0.0, 0.0, 40.0), KalmanNoise::default());
        let before = k.clone();
        k.predict(0.0);
        assert_eq!(k, before);
    }

    #[test]
    fn update_moves_by_the_kalman_gain_and_shrinks_the_uncertainty() {
        let mut a = Axis { p: 0.0, v: 0.0, pp: 3.0, pv: 1.0, vv: 2.0 };
        a.update(8.0, 1.0);
        // S = 4, K = [0.75, 0.25]; innovation 8.
        assert!((a.p - 6.0).abs() < 1e-12 && (a.v - 2.0).abs() < 1e-12);
        assert!((a.pp - 0.75).abs() < 1e-12 && (a.pv - 0.25).abs() < 1e-12 && (a.vv - 1.75).abs() < 1e-12);
        // A box filter: the estimate lies between the prediction and the measurement.
        let mut k = BoxKalman::new(&bx(100.0, 100.0, 40.0), KalmanNoise::default());
        k.predict(0.2);
        let (sx0, _) = k.centre_std();
        k.update(&bx(110.0, 100.0, 40.0));
        let b = k.bbox();
        assert!(b.x > 100.0 && b.x < 110.0, "{b:?}");
        assert!(k.centre_std().0 < sx0);
    }

    /// A face moving at a constant 50 px/s: after a few measurements the filter knows the
    /// velocity, in pixels per second whatever the sampling rate, and predicts across a gap.
    #[test]
    fn constant_velocity_is_learned_at_any_sampling_rate() {
        for fps in [5.0, 10.0] {
            let dt = 1.0 / fps;
            let at = |t: f64| bx(100.0 + 50.0 * t as f32, 80.0, 40.0);
            let mut k = BoxKalman::new(&at(0.0), KalmanNoise::default());
            let mut t = 0.0;
            for _ in 0..(3.0 * fps) as usize {
                t += dt;
                k.predict(dt);
                k.update(&at(t));
            }
            let (vx, vy) = k.centre_velocity();
            assert!((vx - 50.0).abs() < 2.0 && vy.abs() < 1.0, "fps {fps}: velocity {vx}, {vy}");
            // One second without measurements: the prediction follows the motion.
            k.predict(1.0);
            let (cx, _) = k.bbox().center();
            let (tx, _) = at(t + 1.0).center();
            assert!((cx - tx).abs() < 3.0, "fps {fps}: predicted {cx}, true {tx}");
        }
    }

    #[test]
    fn sizes_never_collapse() {
        let mut k = BoxKalman::new(&bx(0.0, 0.0, 40.0), KalmanNoise::default());
        for side in [30.0, 20.0, 10.0] {
            k.predict(0.2);
            k.update(&bx(0.0, 0.0, side));
        }
        k.predict(100.0);
        let b = k.bbox();
        assert!(b.w >= 1.0 && b.h >= 1.0, "{b:?}");
    }
}
