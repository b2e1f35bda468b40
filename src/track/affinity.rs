//! How well a detection fits a track, beyond box IoU ([`crate::detect::iou`]).
//!
//! In: boxes (and, from YuNet, five landmarks) in source pixels. Out: affinities in [0, 1]
//! (1 = perfect fit), used as `1 − affinity` costs by the assignment.
//!
//! - [`center_affinity`]: a fallback for fast motion and re-linking, when boxes no longer
//!   overlap enough: close centres (relative to the face size) and similar sizes.
//! - [`landmark_similarity`]: the five points of a detection against those a track predicts,
//!   in the spirit of COCO's object keypoint similarity: a Gaussian of each point's distance
//!   relative to the face size, averaged. Two neighbouring faces whose boxes overlap have
//!   their eyes and mouths in different places, so this separates them where IoU cannot.

use crate::detect::{BBox, Landmarks};

/// Size ratio above which two boxes are not the same face for [`center_affinity`].
const MAX_SIZE_RATIO: f32 = 1.5;

/// Landmark tolerance: the Gaussian's standard deviation as a fraction of the face side.
const LANDMARK_SIGMA: f32 = 0.15;

/// Affinity in (0, 1] when the centres are within `max_shift` × the larger box side and the
/// widths within a factor of 1.5; `None` otherwise.
pub fn center_affinity(a: &BBox, b: &BBox, max_shift: f32) -> Option<f32> {
    let side = a.w.max(a.h).max(b.w.max(b.h));
    if side <= 0.0 || max_shift <= 0.0 {
        return None;
    }
    let ratio = (a.w / b.w.max(1e-6)).max(b.w / a.w.max(1e-6));
    if ratio > MAX_SIZE_RATIO {
        return None;
    }
    let (ax, ay) = a.center();
    let (bx, by) = b.center();
    let d = ((ax - bx).powi(2) + (ay - by).powi(2)).sqrt() / side;
    (d <= max_shift).then(|| 1.0 - d / max_shift * 0.999)
}

/// `points` (measured with the box `from`) carried along to the box `to`: same place relative
/// to the box centre, scaled with the box height.
pub fn moved_landmarks(points: &Landmarks, from: &BBox, to: &BBox) -> Landmarks {
    let (fx, fy) = from.center();
    let (tx, ty) = to.center();
    let s = to.h / from.h.max(1e-6);
    Landmarks(points.0.map(|[x, y]| [tx + (x - fx) * s, ty + (y - fy) * s]))
}

/// Mean over the five points of `exp(−d² / 2σ²)` with `σ = 0.15 × side`: 1 when the points
/// coincide, about 0.6 when each is off by 15% of the face side, near 0 for another face.
pub fn landmark_similarity(a: &Landmarks, b: &Landmarks, side: f32) -> f32 {
    let sigma = (LANDMARK_SIGMA * side).max(1e-3);
    let k = 2.0 * sigma * sigma;
    a.0.iter().zip(&b.0).map(|(p, q)| (-((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)) / k).exp()).sum::<f32>() / 5.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(x: f32, y: f32, side: f32) -> BBox {
        BBox { x, y, w: side, h: side }
    }

    fn face_points(b: &BBox) -> Landmarks {
        let p = |u: f32, v: f32| [b.x + u * b.w, b.y + v * b.h];
        Landmarks([p(0.3, 0.4), p(0.7, 0.4), p(0.5, 0.6), p(0.35, 0.8), p(0.65, 0.8)])
    }

    #[test]
    fn centre_affinity_needs_close_centres_and_similar_sizes() {
        let a = bx(0.0, 0.0, 40.0);
        assert!((center_affinity(&a, &a, 0.5).unwrap() - 1.0).abs() < 1e-6);
        // 22 px shift of a 40 px box: 0.55 sides.
        assert!(center_affinity(&a, &bx(22.0, 0.0, 40.0), 0.5).is_none());
        let c = center_affinity(&a, &bx(22.0, 0.0, 40.0), 0.6).unwrap();
        assert!(c > 0.0 && c < 0.1, "{c}");
        assert!(center_affinity(&a, &bx(0.0, 0.0, 70.0), 2.0).is_none(), "size ratio 1.75");
        assert!(center_affinity(&a, &a, 0.0).is_none());
    }

    #[test]
    fn landmarks_follow_the_box_and_tell_neighbours_apart() {
        let a = bx(100.0, 100.0, 40.0);
        let b = bx(120.0, 110.0, 60.0);
        let moved = moved_landmarks(&face_points(&a), &a, &b);
        for (p, q) in moved.0.iter().zip(face_points(&b).0) {
            assert!((p[0] - q[0]).abs() < 1e-3 && (p[1] - q[1]).abs() < 1e-3);
        }
        assert!((landmark_similarity(&moved, &face_points(&b), 60.0) - 1.0).abs() < 1e-6);
        // A neighbour half a face to the right: IoU 1/3, landmarks far apart.
        let n = bx(120.0, 100.0, 40.0);
        let s = landmark_similarity(&face_points(&a), &face_points(&n), 40.0);
        assert!(s < 0.01, "{s}");
    }
}
