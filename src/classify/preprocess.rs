//! Pixel normalisation shared by training and inference, so that both see identical inputs.
//!
//! In: a square grey crop as bytes (0–255). Out: `f32` values `(x/255 − MEAN) / STD`.
//! MEAN and STD are the usual FER2013 training-set statistics (grey level 129.5 ± 65.0).

/// Mean of FER2013 training pixels after division by 255.
pub const MEAN: f32 = 0.5077;
/// Standard deviation of FER2013 training pixels after division by 255.
pub const STD: f32 = 0.2550;

/// Appends the normalised values of `pixels` to `out`.
pub fn normalize_into(pixels: &[u8], out: &mut Vec<f32>) {
    out.extend(pixels.iter().map(|&p| normalize(p as f32)));
}

/// Normalises one grey level given in 0–255 (may be fractional after interpolation).
#[inline]
pub fn normalize(p: f32) -> f32 {
    (p / 255.0 - MEAN) / STD
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mid_grey_maps_near_zero_and_range_is_symmetric_enough() {
        assert!(normalize(129.5).abs() < 0.01);
        let mut v = Vec::new();
        normalize_into(&[0, 255], &mut v);
        assert!((v[0] + 1.99).abs() < 0.01 && (v[1] - 1.93).abs() < 0.01, "{v:?}");
    }
}
