//! Camera shake and pans, estimated from the faces themselves.
//!
//! In: the boxes the tracks predict for a frame and the boxes detected in it. Out: the image
//! shift (pixels) common to most faces, or `None` when there is no clear consensus.
//!
//! A hand-held camera moves every face by the same few pixels at once; for a 15-pixel face at
//! the back of a classroom a 15-pixel jerk is a whole face width, and IoU linking breaks for
//! every small face in the frame at the same time. BoT-SORT (Aharon et al. 2022,
//! <https://arxiv.org/abs/2206.14651>) compensates by registering consecutive images; the
//! tracker does not see pixels, so this estimates the shift from the detections: each track's
//! mutually-nearest detection of similar size gives one displacement, and the per-axis median
//! is the camera's when at least three pairs agree with it. People who really move are
//! outliers of the median; the shift is then applied to every track's prediction before
//! association, so they keep their own motion.

use crate::detect::BBox;

/// Fewest agreeing track–detection pairs for a shift to be trusted.
const MIN_PAIRS: usize = 3;
/// A pair is considered when the detection lies within this many face sides of the prediction.
const SEARCH_SIDES: f32 = 1.5;
/// Size ratio above which a detection is not the same face.
const MAX_SIZE_RATIO: f32 = 1.4;

/// The shift `(dx, dy)` in pixels that moves most predictions onto their detections, or
/// `None` without consensus (fewer than three agreeing pairs, or fewer than half agreeing).
pub fn estimate_shift(predicted: &[BBox], detected: &[BBox]) -> Option<(f32, f32)> {
    if predicted.len() < MIN_PAIRS || detected.len() < MIN_PAIRS {
        return None;
    }
    let nearest = |from: &BBox, among: &[BBox]| -> Option<(usize, f32)> {
        let (fx, fy) = from.center();
        among
            .iter()
            .enumerate()
            .filter(|(_, b)| {
                let r = (from.h / b.h.max(1e-6)).max(b.h / from.h.max(1e-6));
                r <= MAX_SIZE_RATIO
            })
            .map(|(i, b)| {
                let (bx, by) = b.center();
                (i, ((fx - bx).powi(2) + (fy - by).powi(2)).sqrt())
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
    };
    let mut dx = Vec::new();
    let mut dy = Vec::new();
    let mut sides = Vec::new();
    for (t, p) in predicted.iter().enumerate() {
        let Some((d, dist)) = nearest(p, detected) else { continue };
        if dist > SEARCH_SIDES * p.h.max(1.0) {
            continue;
        }
        // Mutual: the detection's nearest prediction is this one.
        if nearest(&detected[d], predicted).map(|(i, _)| i) != Some(t) {
            continue;
        }
        let ((px, py), (qx, qy)) = (p.center(), detected[d].center());
        dx.push(qx - px);
        dy.push(qy - py);
        sides.push(p.h.max(1.0));
    }
    if dx.len() < MIN_PAIRS {
        return None;
    }
    let (mx, my) = (median(&dx), median(&dy));
    // Agreement: within a quarter side (at least 3 px) of the median on both axes.
    let agree = (0..dx.len()).filter(|&i| (dx[i] - mx).abs().max((dy[i] - my).abs()) <= (0.25 * sides[i]).max(3.0)).count();
    (agree >= MIN_PAIRS && 2 * agree > dx.len()).then_some((mx, my))
}

fn median(v: &[f32]) -> f32 {
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    let n = s.len();
    if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(x: f32, y: f32, side: f32) -> BBox {
        BBox { x, y, w: side, h: side }
    }

    #[test]
    fn a_common_jerk_is_found_and_one_walker_does_not_change_it() {
        let before: Vec<BBox> = (0..6).map(|i| bx(50.0 + 40.0 * i as f32, 100.0, 16.0)).collect();
        // Camera jerks by (12, −5); the fourth person also walks 10 px further right.
        let mut after: Vec<BBox> = before.iter().map(|b| bx(b.x + 12.0, b.y - 5.0, 16.0)).collect();
        after[3].x += 10.0;
        let (dx, dy) = estimate_shift(&before, &after).unwrap();
        assert!((dx - 12.0).abs() < 1e-4 && (dy + 5.0).abs() < 1e-4, "{dx} {dy}");
    }

    #[test]
    fn no_consensus_no_shift() {
        // Too few faces.
        assert_eq!(estimate_shift(&[bx(0.0, 0.0, 20.0); 2], &[bx(5.0, 0.0, 20.0); 2]), None);
        // Everyone moves their own way.
        let before: Vec<BBox> = (0..4).map(|i| bx(100.0 * i as f32, 0.0, 20.0)).collect();
        let after: Vec<BBox> = before.iter().enumerate().map(|(i, b)| bx(b.x + [-12.0, 0.0, 12.0, 24.0][i], b.y + [10.0, -10.0, 0.0, 20.0][i], 20.0)).collect();
        assert_eq!(estimate_shift(&before, &after), None);
        // Nothing detected nearby.
        let far: Vec<BBox> = before.iter().map(|b| bx(b.x + 50.0, b.y + 300.0, 20.0)).collect();
        assert_eq!(estimate_shift(&before, &far), None);
    }
}
