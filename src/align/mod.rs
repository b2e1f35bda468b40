//! Face alignment: each detection resampled to the classifier's input size in grey, framed
//! as FER2013 frames its faces.
//!
//! In: an upright grey frame and its [`Detection`]s. Out: one [`AlignedFace`] per detection
//! (same order), whose `crop` is `size × size` bytes ready for `classify`. Crops that reach
//! past the frame edge are padded by replicating the border rather than dropped.
//!
//! With landmarks (YuNet), a similarity transform (rotation, uniform scale, shift; fitted to
//! the five points by least squares) maps them onto [`FER2013_TEMPLATE`], the mean landmark
//! positions of FER2013's faces, so eyes come out level at FER2013's inter-ocular distance;
//! the crop is sampled bilinearly through that transform. Without landmarks (SeetaFace), the
//! crop is a centred square around the box with a margin.

use crate::detect::{BBox, Detection, Landmarks};
use crate::imageops::{GrayView, sample_square};

/// Where FER2013's faces have their five landmarks in the 48×48 frame (pixel centres at
/// integer coordinates; order of [`Landmarks`]): the mean of YuNet's landmarks over the
/// 2,963 faces it found in FER2013's first 3,000 training images
/// (`scripts/fer2013_landmarks.py`, `models/yunet/fer2013-landmark-template.json`), made
/// left-right symmetric about the frame's centre (the raw means differ from it by ≤ 0.2 px).
pub const FER2013_TEMPLATE: [[f32; 2]; 5] = [[14.83, 17.41], [32.17, 17.41], [23.5, 27.16], [16.49, 36.01], [30.51, 36.01]];

/// A similarity transform `p ↦ [a −b; b a]·p + t` (rotation and uniform scale, no shear).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// `scale · cos(angle)`.
    pub a: f32,
    /// `scale · sin(angle)`.
    pub b: f32,
    /// Translation.
    pub t: [f32; 2],
}

impl Similarity {
    /// The least-squares similarity taking `from` onto `to` (Umeyama's solution in 2-D).
    pub fn fit(from: &[[f32; 2]], to: &[[f32; 2]]) -> Option<Similarity> {
        let n = from.len().min(to.len()) as f32;
        let mean = |p: &[[f32; 2]]| p.iter().fold([0.0, 0.0], |m, q| [m[0] + q[0] / n, m[1] + q[1] / n]);
        let (mf, mt) = (mean(from), mean(to));
        let (mut sxx, mut sab, mut sba) = (0.0f32, 0.0f32, 0.0f32);
        for (f, t) in from.iter().zip(to) {
            let (fx, fy, tx, ty) = (f[0] - mf[0], f[1] - mf[1], t[0] - mt[0], t[1] - mt[1]);
            sxx += fx * fx + fy * fy;
            sab += fx * tx + fy * ty;
            sba += fx * ty - fy * tx;
        }
        // Also refuses NaN: the points are degenerate or not numbers.
        if sxx.is_nan() || sxx <= 1e-6 {
            return None;
        }
        let (a, b) = (sab / sxx, sba / sxx);
        Some(Similarity { a, b, t: [mt[0] - (a * mf[0] - b * mf[1]), mt[1] - (b * mf[0] + a * mf[1])] })
    }

    /// The transformed point.
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [self.a * p[0] - self.b * p[1] + self.t[0], self.b * p[0] + self.a * p[1] + self.t[1]]
    }

    /// The inverse transform (`None` when degenerate).
    pub fn inverse(&self) -> Option<Similarity> {
        let d = self.a * self.a + self.b * self.b;
        if d.is_nan() || d <= 1e-12 {
            return None;
        }
        let (a, b) = (self.a / d, -self.b / d);
        Some(Similarity { a, b, t: [-(a * self.t[0] - b * self.t[1]), -(b * self.t[0] + a * self.t[1])] })
    }

    /// The uniform scale factor.
    pub fn scale(&self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }
}

/// Alignment settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlignSettings {
    /// Output side in pixels (the model's input size, 48 for FER2013).
    pub size: usize,
    /// Extra margin on each side as a fraction of the box side (0.1 = 10% each way), for
    /// faces without landmarks (landmarked faces are framed by [`FER2013_TEMPLATE`]).
    pub margin: f32,
    /// Use the landmarks when a detection has them (else every crop is a centred square).
    pub landmarks: bool,
}

impl Default for AlignSettings {
    fn default() -> Self {
        Self { size: 48, margin: 0.1, landmarks: true }
    }
}

/// A detection with its classifier-ready crop.
#[derive(Debug, Clone)]
pub struct AlignedFace {
    /// The detection it came from.
    pub detection: Detection,
    /// The square region sampled, in frame pixels (may extend past the frame).
    pub crop_in_frame: BBox,
    /// True when part of the crop lay outside the frame and was padded.
    pub padded: bool,
    /// `size × size` grey bytes.
    pub crop: Vec<u8>,
}

/// The square crop region for a box: centred on the box, side = max(w, h)·(1 + 2·margin).
pub fn crop_region(b: &BBox, margin: f32) -> BBox {
    let side = b.w.max(b.h) * (1.0 + 2.0 * margin);
    let (cx, cy) = b.center();
    BBox { x: cx - side / 2.0, y: cy - side / 2.0, w: side, h: side }
}

/// Crops and resamples every detection of `frame`: through its landmarks when it has them,
/// else as a centred square.
pub fn align(frame: GrayView<'_>, detections: &[Detection], settings: &AlignSettings) -> Vec<AlignedFace> {
    detections
        .iter()
        .map(|d| match d.landmarks.filter(|_| settings.landmarks).and_then(|l| to_template(&l, settings.size)) {
            Some(to_crop) => warp(frame, d, &to_crop, settings.size),
            None => square(frame, d, settings),
        })
        .collect()
}

/// The transform from frame pixels to a `size × size` crop that puts `landmarks` on
/// [`FER2013_TEMPLATE`] (scaled from 48 to `size`).
pub fn to_template(landmarks: &Landmarks, size: usize) -> Option<Similarity> {
    let k = size as f32 / 48.0;
    // Pixel-centre coordinates scale about the frame's corner at (−0.5, −0.5).
    let template = FER2013_TEMPLATE.map(|[x, y]| [(x + 0.5) * k - 0.5, (y + 0.5) * k - 0.5]);
    Similarity::fit(&landmarks.0, &template)
}

/// The crop through `to_crop`: each output pixel averages `k × k` bilinear samples of the frame
/// (`k` = ⌈frame pixels per crop pixel⌉, at most 4) so that large faces do not alias.
fn warp(frame: GrayView<'_>, d: &Detection, to_crop: &Similarity, size: usize) -> AlignedFace {
    let Some(to_frame) = to_crop.inverse() else {
        return square(frame, d, &AlignSettings { size, ..AlignSettings::default() });
    };
    let k = (to_frame.scale().ceil() as usize).clamp(1, 4);
    let inv_k = 1.0 / k as f32;
    let mut crop = Vec::with_capacity(size * size);
    for oy in 0..size {
        for ox in 0..size {
            let mut acc = 0.0;
            for sy in 0..k {
                for sx in 0..k {
                    let p = [ox as f32 - 0.5 + (sx as f32 + 0.5) * inv_k, oy as f32 - 0.5 + (sy as f32 + 0.5) * inv_k];
                    let [u, v] = to_frame.apply(p);
                    acc += frame.bilinear(u, v);
                }
            }
            crop.push((acc * inv_k * inv_k).round().clamp(0.0, 255.0) as u8);
        }
    }
    let corners = [[-0.5, -0.5], [size as f32 - 0.5, -0.5], [-0.5, size as f32 - 0.5], [size as f32 - 0.5, size as f32 - 0.5]].map(|c| to_frame.apply(c));
    let (x0, x1) = corners.iter().fold((f32::MAX, f32::MIN), |(lo, hi), c| (lo.min(c[0]), hi.max(c[0])));
    let (y0, y1) = corners.iter().fold((f32::MAX, f32::MIN), |(lo, hi), c| (lo.min(c[1]), hi.max(c[1])));
    // Continuous bounds: pixel-centre coordinate −0.5 is the frame's edge.
    let crop_in_frame = BBox { x: x0 + 0.5, y: y0 + 0.5, w: x1 - x0, h: y1 - y0 };
    let padded = crop_in_frame.x < 0.0 || crop_in_frame.y < 0.0 || x1 + 0.5 > frame.width as f32 || y1 + 0.5 > frame.height as f32;
    AlignedFace { detection: *d, crop_in_frame, padded, crop }
}

/// The centred square crop with `settings.margin` around the box.
fn square(frame: GrayView<'_>, d: &Detection, settings: &AlignSettings) -> AlignedFace {
    let region = crop_region(&d.bbox, settings.margin);
    let padded = region.x < 0.0 || region.y < 0.0 || region.x + region.w > frame.width as f32 || region.y + region.h > frame.height as f32;
    let mut crop = Vec::with_capacity(settings.size * settings.size);
    sample_square(frame, region.x, region.y, region.w, settings.size, &mut crop);
    AlignedFace { detection: *d, crop_in_frame: region, padded, crop }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32, w: f32, h: f32) -> Detection {
        Detection { bbox: BBox { x, y, w, h }, score: 3.0, landmarks: None }
    }

    #[test]
    fn region_is_a_centred_square_with_margin() {
        let r = crop_region(&BBox { x: 10.0, y: 20.0, w: 40.0, h: 50.0 }, 0.1);
        assert!((r.w - 60.0).abs() < 1e-4 && (r.h - 60.0).abs() < 1e-4, "{r:?}");
        let (cx, cy) = r.center();
        assert!((cx - 30.0).abs() < 1e-4 && (cy - 45.0).abs() < 1e-4, "{r:?}");
    }

    #[test]
    fn crops_have_model_size_and_edge_faces_are_padded_not_dropped() {
        // Left half dark, right half bright.
        let (w, h) = (100, 80);
        let frame: Vec<u8> = (0..w * h).map(|i| if i % w < 50 { 20 } else { 220 }).collect();
        let view = GrayView { data: &frame, width: w, height: h };
        let faces = align(view, &[det(30.0, 20.0, 40.0, 40.0), det(-10.0, -10.0, 30.0, 30.0)], &AlignSettings::default());
        assert_eq!(faces.len(), 2);
        assert!(faces.iter().all(|f| f.crop.len() == 48 * 48));
        assert!(!faces[0].padded);
        assert!(faces[1].padded);
        // The first crop straddles the edge: dark on the left, bright on the right.
        let c = &faces[0].crop;
        assert!(c[24 * 48 + 2] < 60 && c[24 * 48 + 45] > 180);
        // The corner face is entirely in the dark half (replicated border).
        assert!(faces[1].crop.iter().all(|&v| v == 20));
    }

    #[test]
    fn similarity_fit_recovers_a_known_transform_and_inverts() {
        let truth = Similarity { a: 0.8 * 0.3f32.cos(), b: 0.8 * 0.3f32.sin(), t: [5.0, -2.0] };
        let from = FER2013_TEMPLATE;
        let to = from.map(|p| truth.apply(p));
        let fit = Similarity::fit(&from, &to).unwrap();
        assert!((fit.a - truth.a).abs() < 1e-4 && (fit.b - truth.b).abs() < 1e-4, "{fit:?}");
        assert!((fit.t[0] - 5.0).abs() < 1e-3 && (fit.t[1] + 2.0).abs() < 1e-3);
        let back = fit.inverse().unwrap().apply(fit.apply([3.0, 7.0]));
        assert!((back[0] - 3.0).abs() < 1e-4 && (back[1] - 7.0).abs() < 1e-4);
        assert!(Similarity::fit(&[[1.0, 1.0]; 5], &FER2013_TEMPLATE).is_none(), "all points equal");
    }

    #[test]
    fn a_tilted_face_comes_out_with_level_eyes_at_the_template() {
        // A synthetic frame: two dark "eyes" on a bright face, the line between them tilted
        // by 20 degrees, inter-ocular distance 40 px (the template's is 17.3 px at 48).
        let (w, h) = (200, 200);
        let (c, ang, iod) = ([100.0f32, 90.0f32], 20f32.to_radians(), 40.0f32);
        let le = [c[0] - iod / 2.0 * ang.cos(), c[1] - iod / 2.0 * ang.sin()];
        let re = [c[0] + iod / 2.0 * ang.cos(), c[1] + iod / 2.0 * ang.sin()];
        let frame: Vec<u8> = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32, (i / w) as f32);
                let near = |p: [f32; 2]| (x - p[0]).powi(2) + (y - p[1]).powi(2) < 16.0;
                if near(le) || near(re) { 0 } else { 220 }
            })
            .collect();
        // Landmarks from the template mapped by the same tilt and scale.
        let s = iod / (FER2013_TEMPLATE[1][0] - FER2013_TEMPLATE[0][0]);
        let tilt = Similarity::fit(&FER2013_TEMPLATE[..2], &[le, re]).unwrap();
        assert!((tilt.scale() - s).abs() < 1e-3);
        let lm = Landmarks(FER2013_TEMPLATE.map(|p| tilt.apply(p)));
        let d = Detection { bbox: BBox { x: 60.0, y: 50.0, w: 80.0, h: 100.0 }, score: 0.9, landmarks: Some(lm) };
        let face = &align(GrayView { data: &frame, width: w, height: h }, &[d], &AlignSettings::default())[0];
        assert_eq!(face.crop.len(), 48 * 48);
        assert!(!face.padded);
        // Both eyes are dark at the template's eye positions, on the same row.
        let at = |p: [f32; 2]| face.crop[p[1].round() as usize * 48 + p[0].round() as usize];
        assert!(at(FER2013_TEMPLATE[0]) < 60 && at(FER2013_TEMPLATE[1]) < 60, "{} {}", at(FER2013_TEMPLATE[0]), at(FER2013_TEMPLATE[1]));
        // Between the eyes and below them it is bright.
        assert!(at([23.5, 17.41]) > 180 && at([23.5, 30.0]) > 180);
    }
}
