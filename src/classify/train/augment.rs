//! Training-time augmentation (the paper's section 5.1: random crop/shift, horizontal flip,
//! small rotation, illumination), seeded and reproducible, plus random erasing.
//!
//! In: a `side × side` grey image and a random generator. Out: the normalised `f32` image of
//! the same size, written into a caller-provided buffer (no allocation per image).
//! All geometric changes are one inverse affine map sampled bilinearly with edge clamping.
//! [`random_erase`] then works on that normalised image in place.

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

/// Smallest and largest erased area of [`random_erase`], as fractions of the image.
pub const ERASE_AREA: (f64, f64) = (0.02, 0.33);
/// Smallest aspect ratio (height / width) of the erased rectangle; the largest is its inverse.
pub const ERASE_MIN_ASPECT: f64 = 0.3;

/// Random erasing (Zhong et al. 2020, "Random Erasing Data Augmentation", AAAI, Algorithm 1):
/// with probability `prob`, one rectangle of [`ERASE_AREA`] of the normalised `side × side`
/// image `img`, aspect ratio log-uniform in [0.3, 1/0.3] (as torchvision samples it), is filled
/// with uniformly random grey levels. Up to 10 placements are tried; none fits → unchanged.
/// Draws nothing from `rng` when `prob` is 0, so runs without erasing keep their random
/// sequence.
pub fn random_erase<R: Rng>(img: &mut [f32], side: usize, prob: f64, rng: &mut R) {
    if prob <= 0.0 || !rng.random_bool(prob.min(1.0)) {
        return;
    }
    let area = (side * side) as f64;
    let log_aspect = (ERASE_MIN_ASPECT.ln(), -ERASE_MIN_ASPECT.ln());
    for _ in 0..10 {
        let target = area * rng.random_range(ERASE_AREA.0..=ERASE_AREA.1);
        let aspect = rng.random_range(log_aspect.0..=log_aspect.1).exp();
        let h = (target * aspect).sqrt().round() as usize;
        let w = (target / aspect).sqrt().round() as usize;
        if h == 0 || w == 0 || h > side || w > side {
            continue;
        }
        let (y0, x0) = (rng.random_range(0..=side - h), rng.random_range(0..=side - w));
        for y in y0..y0 + h {
            for v in &mut img[y * side + x0..y * side + x0 + w] {
                *v = normalize(rng.random_range(0.0..=255.0));
            }
        }
        return;
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

    #[test]
    fn random_erasing_fills_one_rectangle_of_the_documented_size() {
        use rand::Rng as _;
        let side = 48;
        let marker = 100.0; // outside the normalised range: untouched pixels keep it
        for seed in 0..50 {
            let mut img = vec![marker; side * side];
            random_erase(&mut img, side, 1.0, &mut SmallRng::seed_from_u64(seed));
            let erased: Vec<(usize, usize)> = (0..side * side).filter(|&i| img[i] != marker).map(|i| (i / side, i % side)).collect();
            let (y0, y1) = (erased.iter().map(|p| p.0).min().unwrap(), erased.iter().map(|p| p.0).max().unwrap());
            let (x0, x1) = (erased.iter().map(|p| p.1).min().unwrap(), erased.iter().map(|p| p.1).max().unwrap());
            let (h, w) = (y1 - y0 + 1, x1 - x0 + 1);
            assert_eq!(erased.len(), h * w, "seed {seed}: the erased pixels form one rectangle");
            let frac = (h * w) as f64 / (side * side) as f64;
            assert!((0.015..=0.35).contains(&frac), "seed {seed}: erased {frac} of the image");
            let aspect = h as f64 / w as f64;
            assert!((0.25..=4.0).contains(&aspect), "seed {seed}: aspect {aspect}");
            let (lo, hi) = (normalize(0.0), normalize(255.0));
            assert!(erased.iter().all(|&(y, x)| (lo..=hi).contains(&img[y * side + x])));
        }
        // Probability 0: the image and the generator are left alone.
        let mut img = vec![marker; side * side];
        let (mut a, mut b) = (SmallRng::seed_from_u64(3), SmallRng::seed_from_u64(3));
        random_erase(&mut img, side, 0.0, &mut a);
        assert!(img.iter().all(|&v| v == marker));
        assert_eq!(a.random::<u64>(), b.random::<u64>());
        // Probability ½: about half the images are erased.
        let mut rng = SmallRng::seed_from_u64(9);
        let erased = (0..400)
            .filter(|_| {
                let mut img = vec![marker; side * side];
                random_erase(&mut img, side, 0.5, &mut rng);
                img.iter().any(|&v| v != marker)
            })
            .count();
        assert!((160..=240).contains(&erased), "{erased} of 400");
    }
}
