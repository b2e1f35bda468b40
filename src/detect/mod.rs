//! Face detection: which faces are in a frame, as boxes in source-frame pixels with a score
//! and, for YuNet, five landmarks.
//!
//! In: an upright frame ([`FrameView`]: grey, plus RGB when the detector wants colour).
//! Out: [`Detection`]s, best first.
//!
//! Two detectors, chosen by [`DetectSettings::detector`]:
//! - [`yunet`] (default): YuNet, libfacedetection's CNN (BSD-3, weights in `models/yunet/`),
//!   run by our own engine (`crates/yunet-cpu`); boxes, scores in [0, 1] and five landmarks.
//! - [`seeta`]: SeetaFace's frontal cascade through the vendored rustface; boxes only.
//!
//! [`iou`] and [`nms`] are shared with tracking.

pub mod seeta;
pub mod yunet;

use crate::imageops::GrayView;

/// Which face detector to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DetectorKind {
    /// YuNet (libfacedetection's CNN): boxes, scores in [0, 1] and five landmarks.
    Yunet,
    /// SeetaFace's frontal cascade (rustface): boxes only.
    Seetaface,
}

impl DetectorKind {
    /// The name used in settings and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Yunet => "yunet",
            Self::Seetaface => "seetaface",
        }
    }
}

/// A frame as the detectors see it.
#[derive(Debug, Clone, Copy)]
pub struct FrameView<'a> {
    /// Full-range luma, `width × height`.
    pub gray: GrayView<'a>,
    /// RGB24 of the same frame (`width × height × 3`), when decoded; YuNet uses it and falls
    /// back to the grey replicated into three channels without it.
    pub rgb: Option<&'a [u8]>,
}

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

/// Five facial landmarks in source-frame pixels, as `[x, y]` pairs in the order of the
/// ArcFace template: the eye on the image's left, the eye on the image's right, the nose
/// tip, the mouth corner on the image's left, the mouth corner on the image's right.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Landmarks(pub [[f32; 2]; 5]);

impl Landmarks {
    /// Names of the five points, in order (column-name stems of the faces table).
    pub const NAMES: [&'static str; 5] = ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"];

    /// The points moved by `(dx, dy)` and scaled by `(sx, sy)` about the origin: `p·s + d`.
    pub fn mapped(&self, (dx, dy): (f32, f32), (sx, sy): (f32, f32)) -> Landmarks {
        Landmarks(self.0.map(|[x, y]| [dx + x * sx, dy + y * sy]))
    }
}

/// One detected face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Box in source-frame pixels.
    pub bbox: BBox,
    /// Detector score: YuNet's confidence in [0, 1], or SeetaFace's cascade score (larger is
    /// surer, 2.0 is rustface's default cut). Only comparable within one detector.
    pub score: f32,
    /// Five landmarks, when the detector gives them (YuNet does, SeetaFace does not).
    pub landmarks: Option<Landmarks>,
}

/// Detector settings (resolved; see `config` for the TOML form).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DetectSettings {
    /// Which detector runs.
    pub detector: DetectorKind,
    /// Smallest face side to find, in source pixels. YuNet: frames are scaled so this maps to
    /// [`yunet::NET_MIN_FACE_PX`] and smaller boxes are dropped; SeetaFace: frames are scaled
    /// so this maps to its 40 px window.
    pub min_face_px: f32,
    /// Largest face side to find, in source pixels (None: no limit).
    pub max_face_px: Option<f32>,
    /// Minimum detector score: YuNet's confidence in (0, 1] (default 0.6), or SeetaFace's
    /// cascade score (default 2.0, rustface's own).
    pub min_score: f32,
    /// SeetaFace only: image pyramid scale factor in (0, 1); closer to 1 finds more, slower.
    pub pyramid_scale: f32,
    /// SeetaFace only: sliding window step in pixels of the scaled image.
    pub window_step: u32,
    /// Cap on the scaled frame's pixel count (speed guard when small faces need upscaling).
    pub max_pixels: usize,
    /// IoU above which two detections are merged (YuNet's default 0.45 is libfacedetection's).
    pub nms_iou: f32,
}

impl Default for DetectSettings {
    fn default() -> Self {
        Self::for_detector(DetectorKind::Yunet)
    }
}

impl DetectSettings {
    /// The defaults of one detector.
    pub fn for_detector(detector: DetectorKind) -> Self {
        let (min_score, nms_iou) = match detector {
            DetectorKind::Yunet => (0.6, 0.45),
            DetectorKind::Seetaface => (2.0, 0.4),
        };
        Self { detector, min_face_px: 40.0, max_face_px: None, min_score, pyramid_scale: 0.8, window_step: 4, max_pixels: 1920 * 1080, nms_iou }
    }
}

/// Errors of the detector.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The embedded SeetaFace model could not be parsed (a broken build).
    #[error("face detector model is unreadable: {0}")]
    Model(std::io::Error),
    /// The embedded YuNet weights could not be parsed (a broken build).
    #[error("face detector model is unreadable: {0}")]
    Weights(#[from] yunet_cpu::WeightsError),
    /// Settings out of range.
    #[error("invalid detector setting: {0}")]
    Settings(String),
}

impl DetectSettings {
    /// Checks values that would make a detector fail or do nothing useful.
    pub fn validate(&self) -> Result<(), DetectError> {
        let bad = |m: String| Err(DetectError::Settings(m));
        // `is_nan` first: a NaN setting fails every check below, as it should.
        if self.min_face_px.is_nan() || self.min_face_px < 8.0 {
            return bad(format!("min-face-px must be ≥ 8, got {}", self.min_face_px));
        }
        if let Some(m) = self.max_face_px
            && (m.is_nan() || m < self.min_face_px)
        {
            return bad(format!("max-face-px ({m}) must be ≥ min-face-px ({})", self.min_face_px));
        }
        match self.detector {
            DetectorKind::Yunet if self.min_score.is_nan() || self.min_score <= 0.0 || self.min_score > 1.0 => {
                return bad(format!("min-score must be in (0, 1] for yunet (a confidence), got {}", self.min_score));
            }
            DetectorKind::Seetaface if self.min_score.is_nan() || self.min_score <= 0.0 => {
                return bad(format!("min-score must be > 0, got {}", self.min_score));
            }
            _ => {}
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

/// A parsed detector model, shareable across threads; each thread builds its [`FaceDetector`].
#[derive(Clone)]
pub enum DetectorModel {
    /// YuNet's network.
    Yunet(yunet::YunetModel),
    /// SeetaFace's cascade.
    Seetaface(seeta::SeetaModel),
}

impl DetectorModel {
    /// Parses the embedded model of `kind`.
    pub fn embedded(kind: DetectorKind) -> Result<Self, DetectError> {
        Ok(match kind {
            DetectorKind::Yunet => Self::Yunet(yunet::YunetModel::embedded()?),
            DetectorKind::Seetaface => Self::Seetaface(seeta::SeetaModel::embedded()?),
        })
    }

    /// A detector with these settings (validated; `settings.detector` must match the model).
    pub fn detector(&self, settings: &DetectSettings) -> Result<FaceDetector, DetectError> {
        settings.validate()?;
        match (self, settings.detector) {
            (Self::Yunet(m), DetectorKind::Yunet) => Ok(FaceDetector::Yunet(Box::new(m.detector(settings)))),
            (Self::Seetaface(m), DetectorKind::Seetaface) => Ok(FaceDetector::Seetaface(Box::new(m.detector(settings)?))),
            (_, kind) => Err(DetectError::Settings(format!("settings are for {}, the model is not", kind.name()))),
        }
    }
}

/// A face detector with its buffers. Not `Send` (rustface's detector is a trait object):
/// create one per thread.
pub enum FaceDetector {
    /// YuNet.
    Yunet(Box<yunet::YunetDetector>),
    /// SeetaFace.
    Seetaface(Box<seeta::SeetaDetector>),
}

impl FaceDetector {
    /// Detects faces in an upright frame; boxes in the frame's pixels, best score first.
    pub fn detect(&mut self, frame: FrameView<'_>) -> Vec<Detection> {
        match self {
            Self::Yunet(d) => d.detect(frame),
            Self::Seetaface(d) => d.detect(frame.gray),
        }
    }

    /// The scale factor applied to a `width × height` frame before detection.
    pub fn scale_for(&self, width: usize, height: usize) -> f32 {
        match self {
            Self::Yunet(d) => d.scale_for(width, height),
            Self::Seetaface(d) => d.scale_for(width, height),
        }
    }

    /// Re-finds one known face near `prior` (a box from an earlier frame) by scanning only a
    /// region around it; `None` if it is no longer there. Used between full detections
    /// (detect-every-k).
    pub fn redetect(&mut self, frame: FrameView<'_>, prior: &BBox) -> Option<Detection> {
        match self {
            Self::Yunet(d) => d.redetect(frame, prior),
            Self::Seetaface(d) => d.redetect(frame.gray, prior),
        }
    }
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
        let d = |x: f32, s: f32| Detection { bbox: b(x, 0.0, 10.0, 10.0), score: s, landmarks: None };
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
    fn settings_are_checked_per_detector() {
        let y = DetectSettings::default();
        assert_eq!(y.detector, DetectorKind::Yunet);
        assert!(y.validate().is_ok());
        // 2.0 is a SeetaFace score, not a YuNet confidence.
        let bad = DetectSettings { min_score: 2.0, ..y.clone() };
        assert!(bad.validate().unwrap_err().to_string().contains("(0, 1]"));
        assert!(DetectSettings { min_score: 2.0, ..DetectSettings::for_detector(DetectorKind::Seetaface) }.validate().is_ok());
        assert!(DetectSettings { min_face_px: 4.0, ..y.clone() }.validate().is_err());
        assert!(DetectSettings { min_face_px: f32::NAN, ..y.clone() }.validate().is_err());
        assert!(DetectSettings { min_score: f32::NAN, ..y.clone() }.validate().is_err());
        assert!(DetectSettings { max_face_px: Some(10.0), min_face_px: 20.0, ..y.clone() }.validate().is_err());
        assert!(DetectSettings { pyramid_scale: 1.0, ..y.clone() }.validate().is_err());
        let model = DetectorModel::embedded(DetectorKind::Yunet).unwrap();
        assert!(model.detector(&DetectSettings::for_detector(DetectorKind::Seetaface)).is_err());
    }
}
