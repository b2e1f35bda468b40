//! Face detection with rustface (SeetaFace frontal detector, BSD-2, model file vendored in
//! `models/seetaface/` and embedded in the binary).
//!
//! In: an upright grey frame. Out: [`Detection`]s with boxes in source-frame pixels.
//!
//! rustface 0.1.7 scans with a fixed 40-pixel window and its pyramid starts at the size it is
//! given (`set_min_face_size` has no effect), so the image scale decides the smallest face
//! found. We therefore rescale each frame by `40 / min_face_px` (capped by `max_pixels`) and
//! map the boxes back. rustface's own non-maximum suppression is kept; [`iou`] and [`nms`]
//! are provided for tracking and for a second pass over merged detections.

use crate::imageops::{GrayView, resize};

/// The SeetaFace frontal model shipped with rustface (BSD-2, see models/seetaface/LICENSE).
static SEETA_MODEL: &[u8] = include_bytes!("../../models/seetaface/seeta_fd_frontal_v1.0.bin");

/// rustface's fixed scan window in pixels.
const WINDOW: f32 = 40.0;

/// Axis-aligned box in source-frame pixels (x, y = top-left corner).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl BBox {
    /// Area in square pixels (0 for degenerate boxes).
    pub fn area(&self) -> f32 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    /// Centre point.
    pub fn center(&self) -> (f32, f32) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }

    /// The box clipped to a `width × height` frame.
    pub fn clipped(&self, width: f32, height: f32) -> BBox {
        let x0 = self.x.clamp(0.0, width);
        let y0 = self.y.clamp(0.0, height);
        let x1 = (self.x + self.w).clamp(0.0, width);
        let y1 = (self.y + self.h).clamp(0.0, height);
        BBox { x: x0, y: y0, w: x1 - x0, h: y1 - y0 }
    }
}

/// Intersection over union of two boxes, in [0, 1].
pub fn iou(a: &BBox, b: &BBox) -> f32 {
    let x0 = a.x.max(b.x);
    let y0 = a.y.max(b.y);
    let x1 = (a.x + a.w).min(b.x + b.w);
    let y1 = (a.y + a.h).min(b.y + b.h);
    let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
    let union = a.area() + b.area() - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Greedy non-maximum suppression: keeps the highest-scoring box of every group overlapping
/// by more than `threshold` IoU. Returns kept detections, best first.
pub fn nms(mut dets: Vec<Detection>, threshold: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::with_capacity(dets.len());
    for d in dets {
        if kept.iter().all(|k| iou(&k.bbox, &d.bbox) <= threshold) {
            kept.push(d);
        }
    }
    kept
}

/// One detected face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Box in source-frame pixels.
    pub bbox: BBox,
    /// Detector score (SeetaFace cascade score; larger is surer, 2.0 is rustface's default cut).
    pub score: f32,
}

/// Detector settings (resolved; see `config` for the TOML form).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DetectSettings {
    /// Smallest face side to find, in source pixels (frames are scaled so this maps to 40 px).
    pub min_face_px: f32,
    /// Largest face side to find, in source pixels (None: no limit).
    pub max_face_px: Option<f32>,
    /// Minimum detector score.
    pub min_score: f32,
    /// Image pyramid scale factor in (0, 1): closer to 1 finds more faces, slower.
    pub pyramid_scale: f32,
    /// Sliding window step in pixels of the scaled image.
    pub window_step: u32,
    /// Cap on the scaled frame's pixel count (speed guard when small faces need upscaling).
    pub max_pixels: usize,
    /// IoU above which two detections are merged.
    pub nms_iou: f32,
}

impl Default for DetectSettings {
    fn default() -> Self {
        Self { min_face_px: 40.0, max_face_px: None, min_score: 2.0, pyramid_scale: 0.8, window_step: 4, max_pixels: 1920 * 1080, nms_iou: 0.4 }
    }
}

/// Errors of the detector.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The embedded model could not be parsed (a broken build).
    #[error("face detector model is unreadable: {0}")]
    Model(std::io::Error),
    /// Settings out of range.
    #[error("invalid detector setting: {0}")]
    Settings(String),
}

impl DetectSettings {
    /// Checks values that would make rustface panic or do nothing useful.
    pub fn validate(&self) -> Result<(), DetectError> {
        let bad = |m: String| Err(DetectError::Settings(m));
        if !(self.min_face_px >= 8.0) {
            return bad(format!("min-face-px must be ≥ 8, got {}", self.min_face_px));
        }
        if let Some(m) = self.max_face_px {
            if !(m >= self.min_face_px) {
                return bad(format!("max-face-px ({m}) must be ≥ min-face-px ({})", self.min_face_px));
            }
        }
        if !(self.min_score > 0.0) {
            return bad(format!("min-score must be > 0, got {}", self.min_score));
        }
        if !(0.5..=0.95).contains(&self.pyramid_scale) {
            return bad(format!("pyramid-scale must be in [0.5, 0.95], got {}", self.pyramid_scale));
        }
        if self.window_step == 0 || self.window_step > 16 {
            return bad(format!("window-step must be in 1..=16, got {}", self.window_step));
        }
        if self.max_pixels < 64 * 64 {
            return bad(format!("max-pixels must be ≥ 4096, got {}", self.max_pixels));
        }
        if !(0.0..=1.0).contains(&self.nms_iou) {
            return bad(format!("nms-iou must be in [0, 1], got {}", self.nms_iou));
        }
        Ok(())
    }
}

/// A face detector. Not `Send` (rustface's detector is a trait object): create one per thread.
pub struct FaceDetector {
    inner: Box<dyn rustface::Detector>,
    settings: DetectSettings,
    scaled: Vec<u8>,
    region: Vec<u8>,
}

/// Parsed detector model, shareable across threads; each thread builds its [`FaceDetector`].
#[derive(Clone)]
pub struct DetectorModel(rustface::Model);

impl DetectorModel {
    /// Parses the embedded SeetaFace model.
    pub fn embedded() -> Result<Self, DetectError> {
        rustface::read_model(SEETA_MODEL).map(Self).map_err(DetectError::Model)
    }

    /// A detector with these settings.
    pub fn detector(&self, settings: &DetectSettings) -> Result<FaceDetector, DetectError> {
        settings.validate()?;
        let mut inner = rustface::create_detector_with_model(self.0.clone());
        inner.set_score_thresh(f64::from(settings.min_score));
        inner.set_pyramid_scale_factor(settings.pyramid_scale);
        inner.set_slide_window_step(settings.window_step, settings.window_step);
        Ok(FaceDetector { inner, settings: settings.clone(), scaled: Vec::new(), region: Vec::new() })
    }
}

impl FaceDetector {
    /// The scale factor applied to a `width × height` frame before scanning.
    pub fn scale_for(&self, width: usize, height: usize) -> f32 {
        let want = WINDOW / self.settings.min_face_px;
        let cap = (self.settings.max_pixels as f32 / (width * height).max(1) as f32).sqrt();
        want.min(cap)
    }

    /// Detects faces in an upright grey frame; boxes are returned in the frame's pixels,
    /// best score first.
    pub fn detect(&mut self, frame: GrayView<'_>) -> Vec<Detection> {
        if frame.width < 2 || frame.height < 2 {
            return Vec::new();
        }
        let s = self.scale_for(frame.width, frame.height);
        let (w, h) = (((frame.width as f32 * s).round() as usize).max(1), ((frame.height as f32 * s).round() as usize).max(1));
        if w < WINDOW as usize || h < WINDOW as usize {
            return Vec::new();
        }
        let data: &[u8] = if (s - 1.0).abs() < 1e-3 {
            frame.data
        } else {
            resize(frame, w, h, &mut self.scaled);
            &self.scaled
        };
        let (sx, sy) = (frame.width as f32 / w as f32, frame.height as f32 / h as f32);
        if let Some(m) = self.settings.max_face_px {
            self.inner.set_max_face_size(((m / sx).round() as u32).max(WINDOW as u32));
        }
        let max_face = self.settings.max_face_px;
        let dets = scan(self.inner.as_mut(), data, (w, h), (0.0, 0.0), (sx, sy), (frame.width, frame.height), |d| {
            max_face.is_none_or(|m| d.bbox.w <= m * 1.25)
        });
        nms(dets, self.settings.nms_iou)
    }
}

impl FaceDetector {
    /// Re-finds one known face near `prior` (a box from an earlier frame) by scanning only a
    /// region of 1.6× its side around it, scaled so the face maps to about 1.15× the detector
    /// window. rustface's cost is about proportional to the pixels scanned, so this is a small
    /// fraction of a full-frame [`detect`](Self::detect) (~2–3 ms against ~55 ms for a 596×336
    /// frame); used between full detections (detect-every-k). Returns the detection overlapping `prior` best, or
    /// `None` if the face is no longer there (it left, turned away or was occluded). A miss is
    /// retried once over a wider region at a finer scale before giving up.
    pub fn redetect(&mut self, frame: GrayView<'_>, prior: &BBox) -> Option<Detection> {
        self.redetect_in(frame, prior, 1.6, 1.15).or_else(|| self.redetect_in(frame, prior, 2.2, 1.4))
    }

    /// [`redetect`](Self::redetect) over a region `region × side` wide, with the face scaled
    /// to `windows` detector windows.
    fn redetect_in(&mut self, frame: GrayView<'_>, prior: &BBox, region: f32, windows: f32) -> Option<Detection> {
        let side = prior.w.max(prior.h);
        if side < 2.0 || frame.width < 2 || frame.height < 2 {
            return None;
        }
        let (cx, cy) = prior.center();
        let half = region * side / 2.0;
        let region = BBox { x: cx - half, y: cy - half, w: 2.0 * half, h: 2.0 * half }.clipped(frame.width as f32, frame.height as f32);
        let (x0, y0) = (region.x.floor() as usize, region.y.floor() as usize);
        let x1 = ((region.x + region.w).ceil() as usize).min(frame.width);
        let y1 = ((region.y + region.h).ceil() as usize).min(frame.height);
        let (rw, rh) = (x1.saturating_sub(x0), y1.saturating_sub(y0));
        // The face should map to `windows` windows; never upscale past the full-frame settings'
        // smallest face, so a re-detection cannot find faces a full scan would not.
        let s = (WINDOW * windows / side).min(WINDOW / self.settings.min_face_px.min(side));
        let (w, h) = (((rw as f32 * s).round() as usize), ((rh as f32 * s).round() as usize));
        if w < WINDOW as usize || h < WINDOW as usize {
            return None;
        }
        self.region.clear();
        for row in frame.data.chunks_exact(frame.width).skip(y0).take(rh) {
            self.region.extend_from_slice(&row[x0..x1]);
        }
        resize(GrayView { data: &self.region, width: rw, height: rh }, w, h, &mut self.scaled);
        let (sx, sy) = (rw as f32 / w as f32, rh as f32 / h as f32);
        // No size limit inside the region (0 = none); `detect` sets its own limit every call.
        self.inner.set_max_face_size(0);
        scan(self.inner.as_mut(), &self.scaled, (w, h), (x0 as f32, y0 as f32), (sx, sy), (frame.width, frame.height), |d| iou(&d.bbox, prior) > 0.0)
            .into_iter()
            .max_by(|a, b| iou(&a.bbox, prior).total_cmp(&iou(&b.bbox, prior)))
    }
}

/// Runs rustface on `data` (`size`, a copy of the frame region at `origin` rescaled by
/// `1 / scale`) and maps the boxes back to frame pixels: those passing `keep` (judged on the
/// unclipped box) are clipped to the `frame` size, and degenerate ones are dropped.
fn scan(
    inner: &mut dyn rustface::Detector,
    data: &[u8],
    size: (usize, usize),
    origin: (f32, f32),
    scale: (f32, f32),
    frame: (usize, usize),
    keep: impl Fn(&Detection) -> bool,
) -> Vec<Detection> {
    let ((x0, y0), (sx, sy)) = (origin, scale);
    inner
        .detect(&rustface::ImageData::new(data, size.0 as u32, size.1 as u32))
        .iter()
        .map(|f| {
            let b = f.bbox();
            Detection {
                bbox: BBox { x: x0 + b.x() as f32 * sx, y: y0 + b.y() as f32 * sy, w: b.width() as f32 * sx, h: b.height() as f32 * sy },
                score: f.score() as f32,
            }
        })
        .filter(|d| keep(d))
        // Boxes are reported inside the frame; alignment pads what lies beyond the edge.
        .map(|d| Detection { bbox: d.bbox.clipped(frame.0 as f32, frame.1 as f32), ..d })
        .filter(|d| d.bbox.w >= 2.0 && d.bbox.h >= 2.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: f32, y: f32, w: f32, h: f32) -> BBox {
        BBox { x, y, w, h }
    }

    #[test]
    fn iou_hand_cases() {
        assert_eq!(iou(&b(0.0, 0.0, 10.0, 10.0), &b(0.0, 0.0, 10.0, 10.0)), 1.0);
        assert_eq!(iou(&b(0.0, 0.0, 10.0, 10.0), &b(20.0, 0.0, 10.0, 10.0)), 0.0);
        // Half overlap: inter 50, union 150.
        let v = iou(&b(0.0, 0.0, 10.0, 10.0), &b(5.0, 0.0, 10.0, 10.0));
        assert!((v - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou(&b(0.0, 0.0, 10.0, 10.0), &b(5.0, 0.0, 10.0, 10.0)), iou(&b(5.0, 0.0, 10.0, 10.0), &b(0.0, 0.0, 10.0, 10.0)));
        assert_eq!(iou(&b(0.0, 0.0, 0.0, 0.0), &b(0.0, 0.0, 0.0, 0.0)), 0.0);
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let d = |x: f32, s: f32| Detection { bbox: b(x, 0.0, 10.0, 10.0), score: s };
        let kept = nms(vec![d(0.0, 3.0), d(1.0, 5.0), d(30.0, 2.5), d(2.0, 4.0)], 0.4);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].score, 5.0);
        assert_eq!(kept[1].bbox.x, 30.0);
    }

    #[test]
    fn clipping_keeps_boxes_inside_the_frame() {
        let c = b(-5.0, 90.0, 20.0, 20.0).clipped(100.0, 100.0);
        assert_eq!(c, b(0.0, 90.0, 15.0, 10.0));
    }

    #[test]
    fn scale_maps_min_face_to_the_window_within_the_pixel_cap() {
        let model = DetectorModel::embedded().unwrap();
        let s = DetectSettings { min_face_px: 20.0, max_pixels: 1920 * 1080, ..Default::default() };
        let d = model.detector(&s).unwrap();
        assert!((d.scale_for(640, 360) - 2.0).abs() < 1e-6);
        assert!(d.scale_for(1920, 1080) <= 1.0 + 1e-6);
        let bad = DetectSettings { min_face_px: 4.0, ..Default::default() };
        assert!(model.detector(&bad).is_err());
        let bad = DetectSettings { pyramid_scale: 1.0, ..Default::default() };
        assert!(model.detector(&bad).is_err());
    }

    #[test]
    fn a_flat_frame_has_no_faces() {
        let model = DetectorModel::embedded().unwrap();
        let mut d = model.detector(&DetectSettings::default()).unwrap();
        let frame = vec![128u8; 320 * 240];
        assert!(d.detect(GrayView { data: &frame, width: 320, height: 240 }).is_empty());
        assert!(d.detect(GrayView { data: &frame[..1], width: 1, height: 1 }).is_empty());
    }
}
