//! Face alignment: a square crop with a margin around each detection, resampled to the
//! classifier's input size in grey.
//!
//! In: an upright grey frame and its [`Detection`]s. Out: one [`AlignedFace`] per detection
//! (same order), whose `crop` is `size × size` bytes ready for `classify`. Crops that reach
//! past the frame edge are padded by replicating the border rather than dropped.
//! The SeetaFace detector gives no landmarks, so alignment is a centred square; FER2013's
//! faces are centred squares of roughly the same framing.

use crate::detect::{BBox, Detection};
use crate::imageops::{GrayView, sample_square};

/// Alignment settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlignSettings {
    /// Output side in pixels (the model's input size, 48 for FER2013).
    pub size: usize,
    /// Extra margin on each side as a fraction of the box side (0.1 = 10% each way).
    pub margin: f32,
}

impl Default for AlignSettings {
    fn default() -> Self {
        Self { size: 48, margin: 0.1 }
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

/// Crops and resamples every detection of `frame`.
pub fn align(frame: GrayView<'_>, detections: &[Detection], settings: &AlignSettings) -> Vec<AlignedFace> {
    detections
        .iter()
        .map(|d| {
            let region = crop_region(&d.bbox, settings.margin);
            let padded = region.x < 0.0
                || region.y < 0.0
                || region.x + region.w > frame.width as f32
                || region.y + region.h > frame.height as f32;
            let mut crop = Vec::with_capacity(settings.size * settings.size);
            sample_square(frame, region.x, region.y, region.w, settings.size, &mut crop);
            AlignedFace { detection: *d, crop_in_frame: region, padded, crop }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32, w: f32, h: f32) -> Detection {
        Detection { bbox: BBox { x, y, w, h }, score: 3.0 }
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
}
