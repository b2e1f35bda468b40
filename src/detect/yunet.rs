//! YuNet, libfacedetection's face detector (Shiqi Yu et al., BSD-3; weights converted once
//! from PyPI's `yuface` 2023.5.1 by `scripts/convert_yunet.py`, see `models/yunet/`), run by
//! our own CPU engine, `crates/yunet-cpu`.
//!
//! In: an upright frame ([`FrameView`], RGB preferred). Out: [`Detection`]s with boxes,
//! confidences in [0, 1] and five landmarks, in source-frame pixels.
//!
//! The network finds faces from about [`NET_MIN_FACE_PX`] pixels up, so each frame is scaled
//! by `NET_MIN_FACE_PX / min_face_px` (capped by `max_pixels`, and at most 2×) before the
//! network sees it; boxes smaller than `min_face_px` are dropped after mapping back.

use std::sync::Arc;

use yunet_cpu::{Face, Network, Workspace};

use super::{BBox, DetectError, DetectSettings, Detection, FrameView, Landmarks, iou};
use crate::imageops::resize_rgb;

/// YuNet's weights (53,184 f32 values: libfacedetection's 106 arrays in order).
static YUNET_WEIGHTS: &[u8] = include_bytes!("../../models/yunet/yunet.f32");

/// The face side, in network-input pixels, that `min_face_px` is scaled to. YuNet's finest
/// level has stride 8 and finds faces from about 10 px; 16 px leaves a margin.
pub const NET_MIN_FACE_PX: f32 = 16.0;

/// Largest upscaling of a frame, whatever `min_face_px` asks for.
const MAX_UPSCALE: f32 = 2.0;

/// Re-detection scales the region so the prior face is this many network pixels wide.
const REDETECT_FACE_PX: f32 = 48.0;

/// The parsed network, shareable across threads.
#[derive(Clone)]
pub struct YunetModel(Arc<Network>);

impl YunetModel {
    /// Parses the embedded weights.
    pub fn embedded() -> Result<Self, DetectError> {
        Ok(Self(Arc::new(Network::from_bytes(YUNET_WEIGHTS)?)))
    }

    /// A detector with these settings (validated by the caller).
    pub fn detector(&self, settings: &DetectSettings) -> YunetDetector {
        YunetDetector { net: self.0.clone(), settings: settings.clone(), ws: Workspace::new(), rgb: Vec::new(), scaled: Vec::new() }
    }
}

/// YuNet with its per-thread buffers.
pub struct YunetDetector {
    net: Arc<Network>,
    settings: DetectSettings,
    ws: Workspace,
    /// RGB made from grey when the frame has no colour, or a region's copy.
    rgb: Vec<u8>,
    /// The rescaled network input.
    scaled: Vec<u8>,
}

/// Where the network input came from: `frame = origin + input · scale`.
#[derive(Debug, Clone, Copy)]
struct Mapping {
    origin: (f32, f32),
    scale: (f32, f32),
}

impl YunetDetector {
    /// The scale factor applied to a `width × height` frame before the network sees it.
    pub fn scale_for(&self, width: usize, height: usize) -> f32 {
        let want = (NET_MIN_FACE_PX / self.settings.min_face_px).min(MAX_UPSCALE);
        let cap = (self.settings.max_pixels as f32 / (width * height).max(1) as f32).sqrt();
        want.min(cap)
    }

    /// Detects faces in a frame; boxes and landmarks in the frame's pixels, best score first.
    pub fn detect(&mut self, frame: FrameView<'_>) -> Vec<Detection> {
        let (w, h) = (frame.gray.width, frame.gray.height);
        if w < 2 || h < 2 {
            return Vec::new();
        }
        let s = self.scale_for(w, h);
        let rgb = rgb_of(frame, &mut self.rgb);
        let (faces, mapping) = run(&self.net, &mut self.ws, &mut self.scaled, rgb, (w, h), s, &self.settings);
        let mapping = Mapping { origin: (0.0, 0.0), ..mapping };
        faces.iter().filter_map(|f| self.to_detection(f, mapping, (w, h))).collect()
    }

    /// Re-finds one known face near `prior` in a square region of twice its side, scaled so
    /// the face is about [`REDETECT_FACE_PX`] network pixels wide (never more upscaled than a
    /// full-frame detection). Returns the detection overlapping `prior` best, or `None`.
    pub fn redetect(&mut self, frame: FrameView<'_>, prior: &BBox) -> Option<Detection> {
        let (fw, fh) = (frame.gray.width, frame.gray.height);
        let side = prior.w.max(prior.h);
        if side < 2.0 || fw < 2 || fh < 2 {
            return None;
        }
        let (cx, cy) = prior.center();
        let region = BBox { x: cx - side, y: cy - side, w: 2.0 * side, h: 2.0 * side }.clipped(fw as f32, fh as f32);
        let (x0, y0) = (region.x.floor() as usize, region.y.floor() as usize);
        let x1 = ((region.x + region.w).ceil() as usize).min(fw);
        let y1 = ((region.y + region.h).ceil() as usize).min(fh);
        let (rw, rh) = (x1.saturating_sub(x0), y1.saturating_sub(y0));
        if rw < 2 || rh < 2 {
            return None;
        }
        let mut region_rgb = std::mem::take(&mut self.rgb);
        copy_region(frame, (x0, y0, rw, rh), &mut region_rgb);
        let s = (REDETECT_FACE_PX / side).min(self.scale_for(fw, fh).max(1.0));
        let (faces, mapping) = run(&self.net, &mut self.ws, &mut self.scaled, &region_rgb, (rw, rh), s, &self.settings);
        self.rgb = region_rgb;
        let mapping = Mapping { origin: (x0 as f32, y0 as f32), ..mapping };
        faces
            .iter()
            .filter_map(|f| self.to_detection(f, mapping, (fw, fh)))
            .filter(|d| iou(&d.bbox, prior) > 0.0)
            .max_by(|a, b| iou(&a.bbox, prior).total_cmp(&iou(&b.bbox, prior)))
    }

    /// Maps a network face back to the frame; `None` when it is outside the size limits or
    /// degenerate after clipping.
    fn to_detection(&self, f: &Face, m: Mapping, frame: (usize, usize)) -> Option<Detection> {
        let ((ox, oy), (sx, sy)) = (m.origin, m.scale);
        let bbox = BBox { x: ox + f.x1 * sx, y: oy + f.y1 * sy, w: (f.x2 - f.x1) * sx, h: (f.y2 - f.y1) * sy };
        let side = bbox.w.max(bbox.h);
        if side < self.settings.min_face_px || self.settings.max_face_px.is_some_and(|m| side > m) {
            return None;
        }
        let landmarks = Landmarks(f.landmarks).mapped((ox, oy), (sx, sy));
        // Boxes are reported inside the frame; alignment pads what lies beyond the edge.
        let bbox = bbox.clipped(frame.0 as f32, frame.1 as f32);
        (bbox.w >= 2.0 && bbox.h >= 2.0).then_some(Detection { bbox, score: f.score, landmarks: Some(landmarks) })
    }
}

/// Scales `rgb` (`size`) by `s` and runs the network; faces in network pixels, and the
/// scale back to `rgb`'s pixels.
fn run(net: &Network, ws: &mut Workspace, scaled: &mut Vec<u8>, rgb: &[u8], size: (usize, usize), s: f32, settings: &DetectSettings) -> (Vec<Face>, Mapping) {
    let (w, h) = size;
    let (nw, nh) = (((w as f32 * s).round() as usize).max(1), ((h as f32 * s).round() as usize).max(1));
    let input: &[u8] = if nw == w && nh == h {
        rgb
    } else {
        resize_rgb(rgb, w, h, nw, nh, scaled);
        scaled
    };
    let faces = net.detect(input, nw, nh, settings.min_score, settings.nms_iou, ws);
    (faces, Mapping { origin: (0.0, 0.0), scale: (w as f32 / nw as f32, h as f32 / nh as f32) })
}

/// The frame's RGB, or its grey replicated into `buf`.
fn rgb_of<'a>(frame: FrameView<'a>, buf: &'a mut Vec<u8>) -> &'a [u8] {
    match frame.rgb {
        Some(rgb) => rgb,
        None => {
            buf.clear();
            buf.extend(frame.gray.data.iter().flat_map(|&g| [g, g, g]));
            buf
        }
    }
}

/// Copies the `(x0, y0, w, h)` region of the frame as RGB into `out`.
fn copy_region(frame: FrameView<'_>, (x0, y0, w, h): (usize, usize, usize, usize), out: &mut Vec<u8>) {
    out.clear();
    let fw = frame.gray.width;
    for y in y0..y0 + h {
        match frame.rgb {
            Some(rgb) => out.extend_from_slice(&rgb[(y * fw + x0) * 3..(y * fw + x0 + w) * 3]),
            None => out.extend(frame.gray.data[y * fw + x0..y * fw + x0 + w].iter().flat_map(|&g| [g, g, g])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imageops::GrayView;

    fn detector(min_face: f32) -> YunetDetector {
        YunetModel::embedded().unwrap().detector(&DetectSettings { min_face_px: min_face, ..DetectSettings::default() })
    }

    #[test]
    fn scale_maps_min_face_to_the_network_size_within_caps() {
        assert!((detector(32.0).scale_for(640, 360) - 0.5).abs() < 1e-6);
        assert!((detector(16.0).scale_for(640, 360) - 1.0).abs() < 1e-6);
        assert!((detector(8.0).scale_for(640, 360) - MAX_UPSCALE).abs() < 1e-6);
        // 4K at min-face 16 would be 8.3 M pixels: capped at max_pixels (1920×1080).
        let s = detector(16.0).scale_for(3840, 2160);
        assert!((s - 0.5).abs() < 1e-3, "{s}");
    }

    #[test]
    fn a_flat_frame_has_no_faces_with_or_without_colour() {
        let mut d = detector(16.0);
        let gray = vec![128u8; 320 * 240];
        let rgb = vec![128u8; 320 * 240 * 3];
        let view = GrayView { data: &gray, width: 320, height: 240 };
        assert!(d.detect(FrameView { gray: view, rgb: None }).is_empty());
        assert!(d.detect(FrameView { gray: view, rgb: Some(&rgb) }).is_empty());
        assert!(d.detect(FrameView { gray: GrayView { data: &gray[..1], width: 1, height: 1 }, rgb: None }).is_empty());
        let prior = BBox { x: 100.0, y: 100.0, w: 40.0, h: 40.0 };
        assert!(d.redetect(FrameView { gray: view, rgb: Some(&rgb) }, &prior).is_none());
    }

    #[test]
    fn mapping_back_scales_boxes_and_landmarks_and_applies_size_limits() {
        let d = detector(20.0);
        let face =
            Face { score: 0.9, x1: 10.0, y1: 20.0, x2: 30.0, y2: 50.0, landmarks: [[15.0, 30.0], [25.0, 30.0], [20.0, 36.0], [16.0, 42.0], [24.0, 42.0]] };
        let m = Mapping { origin: (100.0, 50.0), scale: (2.0, 2.0) };
        let det = d.to_detection(&face, m, (1000, 1000)).unwrap();
        assert_eq!(det.bbox, BBox { x: 120.0, y: 90.0, w: 40.0, h: 60.0 });
        assert_eq!(det.landmarks.unwrap().0[2], [140.0, 122.0]);
        // At scale 0.5 the box is 10 × 15 px: below min-face 20, dropped.
        assert!(d.to_detection(&face, Mapping { origin: (0.0, 0.0), scale: (0.5, 0.5) }, (1000, 1000)).is_none());
        let capped = YunetModel::embedded().unwrap().detector(&DetectSettings { min_face_px: 20.0, max_face_px: Some(50.0), ..DetectSettings::default() });
        assert!(capped.to_detection(&face, m, (1000, 1000)).is_none(), "60 px > max-face 50");
    }
}
