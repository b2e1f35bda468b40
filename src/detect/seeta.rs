//! The SeetaFace frontal detector through rustface 0.1.7 (BSD-2, vendored in `vendor/rustface`
//! with faster inner loops; model file in `models/seetaface/`, embedded in the binary).
//! Selected with `--detector seetaface`; YuNet ([`super::yunet`]) is the default.
//!
//! In: an upright grey frame. Out: [`Detection`]s with boxes in source-frame pixels and no
//! landmarks.
//!
//! rustface scans with a fixed 40-pixel window and its pyramid starts at the size it is given
//! (`set_min_face_size` has no effect), so the image scale decides the smallest face found.
//! We therefore rescale each frame by `40 / min_face_px` (capped by `max_pixels`) and map the
//! boxes back. rustface's own non-maximum suppression is kept, followed by [`nms`] over the
//! mapped boxes.

use super::{BBox, DetectError, DetectSettings, Detection, iou, nms};
use crate::imageops::{GrayView, resize};

/// The SeetaFace frontal model shipped with rustface (BSD-2, see models/seetaface/LICENSE).
static SEETA_MODEL: &[u8] = include_bytes!("../../models/seetaface/seeta_fd_frontal_v1.0.bin");

/// rustface's fixed scan window in pixels.
const WINDOW: f32 = 40.0;

/// The SeetaFace detector. Not `Send` (rustface's detector is a trait object): create one per
/// thread.
pub struct SeetaDetector {
    inner: Box<dyn rustface::Detector>,
    settings: DetectSettings,
    scaled: Vec<u8>,
    region: Vec<u8>,
}

/// Parsed SeetaFace model, shareable across threads; each thread builds its [`SeetaDetector`].
#[derive(Clone)]
pub struct SeetaModel(rustface::Model);

impl SeetaModel {
    /// Parses the embedded SeetaFace model.
    pub fn embedded() -> Result<Self, DetectError> {
        rustface::read_model(SEETA_MODEL).map(Self).map_err(DetectError::Model)
    }

    /// A detector with these settings.
    pub fn detector(&self, settings: &DetectSettings) -> Result<SeetaDetector, DetectError> {
        let mut inner = rustface::create_detector_with_model(self.0.clone());
        inner.set_score_thresh(f64::from(settings.min_score));
        inner.set_pyramid_scale_factor(settings.pyramid_scale);
        inner.set_slide_window_step(settings.window_step, settings.window_step);
        Ok(SeetaDetector { inner, settings: settings.clone(), scaled: Vec::new(), region: Vec::new() })
    }
}

impl SeetaDetector {
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
        let dets =
            scan(self.inner.as_mut(), data, (w, h), (0.0, 0.0), (sx, sy), (frame.width, frame.height), |d| max_face.is_none_or(|m| d.bbox.w <= m * 1.25));
        nms(dets, self.settings.nms_iou)
    }
}

impl SeetaDetector {
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
                landmarks: None,
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

    #[test]
    fn scale_maps_min_face_to_the_window_within_the_pixel_cap() {
        let model = SeetaModel::embedded().unwrap();
        let s = DetectSettings { min_face_px: 20.0, max_pixels: 1920 * 1080, ..DetectSettings::for_detector(super::super::DetectorKind::Seetaface) };
        let d = model.detector(&s).unwrap();
        assert!((d.scale_for(640, 360) - 2.0).abs() < 1e-6);
        assert!(d.scale_for(1920, 1080) <= 1.0 + 1e-6);
    }

    #[test]
    fn a_flat_frame_has_no_faces() {
        let model = SeetaModel::embedded().unwrap();
        let mut d = model.detector(&DetectSettings::for_detector(super::super::DetectorKind::Seetaface)).unwrap();
        let frame = vec![128u8; 320 * 240];
        assert!(d.detect(GrayView { data: &frame, width: 320, height: 240 }).is_empty());
        assert!(d.detect(GrayView { data: &frame[..1], width: 1, height: 1 }).is_empty());
    }
}
