//! Training-time augmentation (the paper's section 5.1: random crop/shift, horizontal flip,
//! small rotation, illumination), seeded and reproducible.
//!
//! In: a `side × side` grey image and a random generator. Out: the normalised `f32` image of
//! the same size, written into a caller-provided buffer (no allocation per image).
//! All geometric changes are one inverse affine map sampled bilinearly with edge clamping.

use rand::Rng;

use crate::classify::preprocess::normalize;

/// Strength of each augmentation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AugmentConfig {
    /// Maximum shift in pixels along each axis (random crop of a padded image).
    pub max_shift: f32,
    /// Maximum rotation in degrees (either direction).
    pub max_rotation_deg: f32,
    /// Maximum relative zoom (0.1 = 0.9×–1.1×).
    pub max_zoom: f32,
    /// Probability of a horizontal flip.
    pub flip_prob: f64,
    /// Maximum relative contrast change (0.25 = ×0.75–×1.25).
    pub max_contrast: f32,
    /// Maximum brightness offset in grey levels.
    pub max_brightness: f32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self { max_shift: 4.0, max_rotation_deg: 10.0, max_zoom: 0.1, flip_prob: 0.5, max_contrast: 0.25, max_brightness: 25.0 }
    }
}

impl AugmentConfig {
    /// No augmentation at all (evaluation).
    pub fn none() -> Self {
        Self { max_shift: 0.0, max_rotation_deg: 0.0, max_zoom: 0.0, flip_prob: 0.0, max_contrast: 0.0, max_brightness: 0.0 }
    }
}

fn sym<R: Rng>(rng: &mut R, max: f32) -> f32 {
    if max > 0.0 { rng.random_range(-max..=max) } else { 0.0 }
}

/// Writes an augmented, normalised copy of `src` (`side × side`) to `out[..side*side]`.
pub fn augment_into<R: Rng>(src: &[u8], side: usize, cfg: &AugmentConfig, rng: &mut R, out: &mut [f32]) {
    let flip = cfg.flip_prob > 0.0 && rng.random_bool(cfg.flip_prob);
    let angle = sym(rng, cfg.max_rotation_deg).to_radians();
    let zoom = 1.0 + sym(rng, cfg.max_zoom);
    let (tx, ty) = (sym(rng, cfg.max_shift), sym(rng, cfg.max_shift));
    let contrast = 1.0 + sym(rng, cfg.max_contrast);
    let brightness = sym(rng, cfg.max_brightness);
    let c = (side as f32 - 1.0) / 2.0;
    let (sin, cos) = angle.sin_cos();
    let inv = 1.0 / zoom;
    let mut mean = 0.0f32;
    for &p in src {
        mean += p as f32;
    }
    mean /= src.len().max(1) as f32;
    let max_i = side as isize - 1;
    let at = |x: isize, y: isize| src[(y.clamp(0, max_i) as usize) * side + x.clamp(0, max_i) as usize] as f32;
    for y in 0..side {
        for x in 0..side {
            // Output pixel → centred coordinates → undo shift, rotation, zoom, flip.
            let mut dx = x as f32 - c - tx;
            let dy = y as f32 - c - ty;
            if flip {
                dx = -dx;
            }
            let sx = (cos * dx + sin * dy) * inv + c;
            let sy = (-sin * dx + cos * dy) * inv + c;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            let v = (at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx) * (1.0 - fy) + (at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx) * fy;
            let v = ((v - mean) * contrast + mean + brightness).clamp(0.0, 255.0);
            out[y * side + x] = normalize(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;
    use rand::rngs::SmallRng;

    fn ramp() -> Vec<u8> {
        (0..48 * 48).map(|i| ((i % 48) * 5) as u8).collect()
    }

    #[test]
    fn no_augmentation_is_plain_normalisation() {
        let src = ramp();
        let mut out = vec![0.0; 48 * 48];
        augment_into(&src, 48, &AugmentConfig::none(), &mut SmallRng::seed_from_u64(1), &mut out);
        for (o, &s) in out.iter().zip(&src) {
            assert!((o - normalize(s as f32)).abs() < 1e-5);
        }
    }

    #[test]
    fn flip_only_mirrors_columns() {
        let src = ramp();
        let cfg = AugmentConfig { flip_prob: 1.0, ..AugmentConfig::none() };
        let mut out = vec![0.0; 48 * 48];
        augment_into(&src, 48, &cfg, &mut SmallRng::seed_from_u64(1), &mut out);
        assert!((out[0] - normalize(src[47] as f32)).abs() < 1e-4);
        assert!((out[47] - normalize(src[0] as f32)).abs() < 1e-4);
    }

    #[test]
    fn same_seed_same_output_and_values_stay_in_range() {
        let src = ramp();
        let cfg = AugmentConfig::default();
        let (mut a, mut b) = (vec![0.0; 2304], vec![0.0; 2304]);
        augment_into(&src, 48, &cfg, &mut SmallRng::seed_from_u64(7), &mut a);
        augment_into(&src, 48, &cfg, &mut SmallRng::seed_from_u64(7), &mut b);
        assert_eq!(a, b);
        let mut c = vec![0.0; 2304];
        augment_into(&src, 48, &cfg, &mut SmallRng::seed_from_u64(8), &mut c);
        assert_ne!(a, c);
        let (lo, hi) = (normalize(0.0), normalize(255.0));
        assert!(a.iter().all(|&v| v >= lo - 1e-4 && v <= hi + 1e-4));
    }
}
