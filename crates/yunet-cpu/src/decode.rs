//! From the heads' raw maps to faces: YuNet's centre decoding, scores and non-maximum
//! suppression, as libfacedetection's `bbox_decode`, `kps_decode` and `detection_output` do.
//!
//! In: per level (strides 8, 16, 32) a `rows × cols × 16` map of raw head values, channel
//! order `[cls, dx, dy, dw, dh, obj, 10 landmark offsets]`. Out: [`Face`]s in network-input
//! pixels, best score first.

/// One face in network-input pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    /// `sqrt(sigmoid(cls) · sigmoid(obj))`, in [0, 1].
    pub score: f32,
    /// Left, top, right, bottom.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
    /// `[x, y]` of the eye on the image's left, the eye on the image's right, the nose tip,
    /// the mouth corner on the image's left and the one on the image's right.
    pub landmarks: [[f32; 2]; 5],
}

impl Face {
    /// Area (0 for degenerate boxes).
    pub fn area(&self) -> f32 {
        (self.x2 - self.x1).max(0.0) * (self.y2 - self.y1).max(0.0)
    }
}

/// Values per position of a head map.
pub const HEAD_CHANNELS: usize = 16;

/// The logistic function, with libfacedetection's clamp of the argument to ±88.376.
pub fn sigmoid(v: f32) -> f32 {
    let v = v.clamp(-88.376_26, 88.376_26);
    1.0 / (1.0 + (-v).exp())
}

/// Decodes every position of one level whose score reaches `threshold` and appends it.
/// Prior centres are `(col·stride, row·stride)` (libfacedetection's meshgrid, offset 0).
pub fn decode_level(
    map: &[f32],
    cols: usize,
    rows: usize,
    stride: usize,
    threshold: f32,
    out: &mut Vec<Face>,
) {
    let s = stride as f32;
    for r in 0..rows {
        for c in 0..cols {
            let v = &map[(r * cols + c) * HEAD_CHANNELS..][..HEAD_CHANNELS];
            let score = (sigmoid(v[0]) * sigmoid(v[5])).sqrt();
            if !(score >= threshold) {
                continue;
            }
            let (px, py) = (c as f32 * s, r as f32 * s);
            let (cx, cy) = (v[1] * s + px, v[2] * s + py);
            let (w, h) = (v[3].exp() * s, v[4].exp() * s);
            let mut landmarks = [[0f32; 2]; 5];
            for (k, l) in landmarks.iter_mut().enumerate() {
                *l = [v[6 + 2 * k] * s + px, v[7 + 2 * k] * s + py];
            }
            out.push(Face {
                score,
                x1: cx - w / 2.0,
                y1: cy - h / 2.0,
                x2: cx + w / 2.0,
                y2: cy + h / 2.0,
                landmarks,
            });
        }
    }
}

/// Intersection over union of two faces' boxes (libfacedetection's `JaccardOverlap`).
pub fn iou(a: &Face, b: &Face) -> f32 {
    let (x1, y1) = (a.x1.max(b.x1), a.y1.max(b.y1));
    let (x2, y2) = (a.x2.min(b.x2), a.y2.min(b.y2));
    let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
    let union = a.area() + b.area() - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Greedy NMS: sorted by score (stable, best first), each face is kept unless it overlaps a
/// kept one by more than `threshold`. Unlike libfacedetection there is no cap of 1,000
/// candidates before NMS (it loses faces in crowds) nor of 512 after.
pub fn nms(mut faces: Vec<Face>, threshold: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::with_capacity(faces.len().min(256));
    for f in faces {
        if kept.iter().all(|k| iou(k, &f) <= threshold) {
            kept.push(f);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_map_decodes_to_prior_centred_boxes_of_one_stride() {
        // Raw zeros: score sqrt(0.5·0.5) = 0.5, box centred on the prior, side = stride.
        let map = vec![0f32; 2 * 3 * HEAD_CHANNELS];
        let mut out = Vec::new();
        decode_level(&map, 3, 2, 16, 0.5, &mut out);
        assert_eq!(out.len(), 6);
        let f = out[4]; // row 1, col 1
        assert!((f.score - 0.5).abs() < 1e-6);
        assert_eq!((f.x1, f.y1, f.x2, f.y2), (8.0, 8.0, 24.0, 24.0));
        assert_eq!(f.landmarks[3], [16.0, 16.0]);
        decode_level(&map, 3, 2, 16, 0.51, &mut out);
        assert_eq!(out.len(), 6, "nothing passes a threshold above the score");
    }

    #[test]
    fn offsets_scale_with_the_stride() {
        let mut v = [0f32; HEAD_CHANNELS];
        v[0] = 4.0;
        v[5] = 4.0;
        v[1] = 0.5; // centre x + half a stride
        v[3] = 2f32.ln(); // width two strides
        v[6] = -1.0; // left eye one stride left of the prior
        v[7] = 0.25;
        let mut out = Vec::new();
        decode_level(&v, 1, 1, 32, 0.2, &mut out);
        let f = out[0];
        assert!((f.score - sigmoid(4.0)).abs() < 1e-6);
        assert!(
            (f.x1 - (16.0 - 32.0)).abs() < 1e-4 && (f.x2 - (16.0 + 32.0)).abs() < 1e-4,
            "{f:?}"
        );
        assert!((f.y1 + 16.0).abs() < 1e-4 && (f.y2 - 16.0).abs() < 1e-4);
        assert_eq!(f.landmarks[0], [-32.0, 8.0]);
    }

    #[test]
    fn nms_keeps_the_best_of_each_cluster_and_no_cap() {
        let face = |x: f32, score: f32| Face {
            score,
            x1: x,
            y1: 0.0,
            x2: x + 10.0,
            y2: 10.0,
            landmarks: [[0.0; 2]; 5],
        };
        let mut faces = vec![
            face(0.0, 0.6),
            face(1.0, 0.9),
            face(50.0, 0.7),
            face(2.0, 0.8),
        ];
        // 2,000 separate faces all survive (libfacedetection would keep 512 of 1,000).
        faces.extend((0..2000).map(|i| face(100.0 + 20.0 * i as f32, 0.3)));
        let kept = nms(faces, 0.45);
        assert_eq!(kept.len(), 2002);
        assert_eq!(kept[0].score, 0.9);
        assert_eq!(kept[1].x1, 50.0);
        assert!((iou(&face(0.0, 1.0), &face(5.0, 1.0)) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn sigmoid_is_clamped_not_nan() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert!(sigmoid(1e9) <= 1.0 && sigmoid(-1e9) >= 0.0);
        assert!(!sigmoid(f32::MAX).is_nan());
    }
}
