//! Pipeline configuration in three layers (as ruff does): [`Options`] mirror the TOML files in
//! `pipelines/` exactly (every field optional, unknown keys rejected), CLI overrides are merged
//! in, and [`Options::into_settings`] resolves and validates them into [`Settings`], the only
//! form the runtime reads.
//!
//! In: a preset name (`classroom`, `traffic`; compiled in) or a TOML path, plus overrides.
//! Out: [`Settings`], or a [`ConfigError`] naming the file and the field.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::align::AlignSettings;
use crate::detect::{DetectSettings, DetectorKind};
use crate::track::{SceneCutSettings, SmoothMethod, TrackMethod, TrackSettings};

/// Presets compiled into the binary: (name, TOML text).
pub const PRESETS: &[(&str, &str)] =
    &[("classroom", include_str!("../../pipelines/classroom.toml")), ("traffic", include_str!("../../pipelines/traffic.toml"))];

/// The preset used when none is named.
pub const DEFAULT_PRESET: &str = "classroom";

/// Configuration errors.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read pipeline file {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// TOML syntax error or unknown/mistyped key.
    #[error("invalid pipeline {origin}: {message}")]
    Parse {
        /// File or preset name.
        origin: String,
        /// The parser's message (names the key and line).
        message: String,
    },
    /// A value is out of range.
    #[error("invalid pipeline {origin}: {field}: {message}")]
    Value {
        /// File or preset name.
        origin: String,
        /// Field (`section.key`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Neither a preset name nor an existing file.
    #[error("unknown pipeline {0:?}: not a preset (classroom, traffic) and no such file")]
    Unknown(String),
}

/// `[decode]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DecodeOptions {
    /// Frames analysed per second of video; 0 or absent = every frame.
    pub sample_fps: Option<f64>,
    /// FFmpeg decoding threads per video (0 = automatic).
    pub threads: Option<usize>,
}

/// `[detect]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DetectOptions {
    /// Face detector: `yunet` (default: a CNN with five landmarks) or `seetaface` (the
    /// cascade of earlier versions, boxes only).
    pub detector: Option<DetectorKind>,
    /// Smallest face side to find, in source pixels.
    pub min_face_px: Option<f32>,
    /// Largest face side to find, in source pixels.
    pub max_face_px: Option<f32>,
    /// Minimum detector score: YuNet's confidence in (0, 1] (default 0.6), SeetaFace's
    /// cascade score (default 2.0).
    pub min_score: Option<f32>,
    /// SeetaFace only: image-pyramid scale factor in [0.5, 0.95].
    pub pyramid_scale: Option<f32>,
    /// SeetaFace only: sliding-window step in pixels.
    pub window_step: Option<u32>,
    /// Cap on the pixels of the rescaled frame the detector scans.
    pub max_pixels: Option<usize>,
    /// IoU above which overlapping detections are merged.
    pub nms_iou: Option<f32>,
    /// Run the full-frame detector on every N-th processed frame (1 = every frame); on the
    /// frames between, each face of the latest key frame is re-found in a small region around
    /// its box (a face that is not re-found is dropped; new faces appear at the next key frame).
    pub every_n_frames: Option<u32>,
}

/// `[align]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AlignOptions {
    /// Margin around the face box on each side, as a fraction of the box side.
    pub margin: Option<f32>,
    /// Align faces through their landmarks when the detector gives them (YuNet): a
    /// similarity transform onto FER2013's mean landmark layout. `false`: the centred square
    /// crop for every face.
    pub landmarks: Option<bool>,
}

/// `[classify]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClassifyOptions {
    /// Faces per inference batch.
    pub batch_size: Option<usize>,
    /// Average each face's scores with those of its mirror image.
    pub flip_tta: Option<bool>,
}

/// `[track]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TrackOptions {
    /// `byte` (default: Kalman filter, optimal assignment, low-score second round,
    /// confirmation, time-limited re-linking, scene cuts) or `greedy` (earlier versions).
    pub method: Option<TrackMethod>,
    /// Minimum IoU to link a face to a person's (predicted) box.
    pub min_iou: Option<f32>,
    /// Fallback link when centres are within this fraction of the box side.
    pub max_center_shift: Option<f32>,
    /// `greedy` only: processed frames a person may be missing before their id is retired.
    pub max_missed_frames: Option<u32>,
    /// `byte`: detector score from which a face may start or revive a track (lower faces only
    /// extend tracks). On the detector's scale: default 0.7 with YuNet, 3.0 with SeetaFace.
    pub high_score: Option<f32>,
    /// `byte`: seconds a person may be missing (occluded, looking away) and keep their id.
    pub max_lost_secs: Option<f64>,
    /// `byte`: consecutive frames with a face that confirm a new track.
    pub min_confirm_hits: Option<u32>,
    /// `byte`: seconds a confirmed track must span to be reported as a person.
    pub min_person_secs: Option<f64>,
    /// `byte`: weight of the landmark similarity against IoU, in [0, 1].
    pub landmark_weight: Option<f32>,
    /// `byte`: grey-histogram distance in [0, 1] above which a lasting change is a scene cut,
    /// which ends every track (1 disables).
    pub scene_cut_threshold: Option<f32>,
    /// `byte`: seconds compared before and after a candidate scene cut.
    pub scene_cut_window_secs: Option<f64>,
}

/// `[smooth]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SmoothOptions {
    /// `ema`, `window` or `none`.
    pub method: Option<String>,
    /// EMA weight of the newest observation, in (0, 1].
    pub alpha: Option<f32>,
    /// Centred window: observations on each side.
    pub radius: Option<usize>,
}

/// `[aggregate]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AggregateOptions {
    /// Crowd-statistics window length in seconds.
    pub window_secs: Option<f64>,
}

/// A pipeline file, as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Options {
    /// Pipeline name recorded in the outputs.
    pub name: Option<String>,
    /// Decoding.
    #[serde(default)]
    pub decode: DecodeOptions,
    /// Face detection.
    #[serde(default)]
    pub detect: DetectOptions,
    /// Face alignment.
    #[serde(default)]
    pub align: AlignOptions,
    /// Expression classification.
    #[serde(default)]
    pub classify: ClassifyOptions,
    /// Tracking.
    #[serde(default)]
    pub track: TrackOptions,
    /// Temporal smoothing.
    #[serde(default)]
    pub smooth: SmoothOptions,
    /// Crowd windows.
    #[serde(default)]
    pub aggregate: AggregateOptions,
}

/// Resolved settings of every stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Pipeline name.
    pub name: String,
    /// Frames per second to analyse (None: all).
    pub sample_fps: Option<f64>,
    /// FFmpeg threads per video (0 = auto).
    pub decode_threads: usize,
    /// Detector.
    pub detect: DetectSettings,
    /// Detect on every N-th processed frame.
    pub detect_every: u32,
    /// Alignment.
    pub align: AlignSettings,
    /// Inference batch size.
    pub batch_size: usize,
    /// Flip test-time augmentation.
    pub flip_tta: bool,
    /// Tracking and smoothing.
    pub track: TrackSettings,
    /// Crowd window length (s).
    pub window_s: f64,
}

impl Options {
    /// Parses TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse { origin: origin.into(), message: e.to_string().trim().replace('\n', " ") })
    }

    /// Loads a preset by name, or a TOML file by path.
    pub fn load(name_or_path: &str) -> Result<(Self, String), ConfigError> {
        if let Some((name, text)) = PRESETS.iter().find(|(n, _)| *n == name_or_path) {
            return Ok((Self::from_toml(text, &format!("preset {name}"))?, (*name).to_string()));
        }
        let path = Path::new(name_or_path);
        if path.exists() || name_or_path.ends_with(".toml") || name_or_path.contains('/') {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.into(), source })?;
            return Ok((Self::from_toml(&text, &path.display().to_string())?, path.display().to_string()));
        }
        Err(ConfigError::Unknown(name_or_path.into()))
    }

    /// Applies `section.key=value` overrides (TOML values: `detect.min-face-px=30`,
    /// `smooth.method="window"`; bare words are taken as strings).
    pub fn with_overrides(self, overrides: &[String], origin: &str) -> Result<Self, ConfigError> {
        if overrides.is_empty() {
            return Ok(self);
        }
        let mut value = toml::Value::try_from(&self).map_err(|e| ConfigError::Parse { origin: origin.into(), message: e.to_string() })?;
        for o in overrides {
            let bad = |m: &str| ConfigError::Parse { origin: "--set".into(), message: format!("{o:?}: {m}") };
            let (key, raw) = o.split_once('=').ok_or_else(|| bad("expected section.key=value"))?;
            let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
            let mut parts = key.trim().split('.');
            let table = value.as_table_mut().ok_or_else(|| bad("internal: options are not a table"))?;
            match (parts.next(), parts.next(), parts.next()) {
                (Some(k), None, None) => {
                    table.insert(k.into(), parsed);
                }
                (Some(section), Some(k), None) => {
                    let t = table.entry(section).or_insert_with(|| toml::Value::Table(Default::default()));
                    t.as_table_mut().ok_or_else(|| bad("not a section"))?.insert(k.into(), parsed);
                }
                _ => return Err(bad("expected section.key=value")),
            }
        }
        value.try_into().map_err(|e: toml::de::Error| ConfigError::Parse { origin: "--set".into(), message: e.to_string().trim().replace('\n', " ") })
    }

    /// Selects another detector. Scores and NMS thresholds are on each detector's own scale,
    /// so a preset's values for another detector are dropped (its defaults apply; `--set`
    /// overrides applied afterwards still win).
    pub fn with_detector(mut self, kind: DetectorKind) -> Self {
        if self.detect.detector.unwrap_or(DetectorKind::Yunet) != kind {
            self.detect.min_score = None;
            self.detect.nms_iou = None;
            // The tracker's score split is on the detector's scale too.
            self.track.high_score = None;
        }
        self.detect.detector = Some(kind);
        self
    }

    /// Resolves defaults and validates every value.
    pub fn into_settings(self, origin: &str) -> Result<Settings, ConfigError> {
        let val = |field: &str, message: String| ConfigError::Value { origin: origin.into(), field: field.into(), message };
        let dd = DetectSettings::for_detector(self.detect.detector.unwrap_or(DetectorKind::Yunet));
        let detect = DetectSettings {
            detector: dd.detector,
            min_face_px: self.detect.min_face_px.unwrap_or(dd.min_face_px),
            max_face_px: self.detect.max_face_px,
            min_score: self.detect.min_score.unwrap_or(dd.min_score),
            pyramid_scale: self.detect.pyramid_scale.unwrap_or(dd.pyramid_scale),
            window_step: self.detect.window_step.unwrap_or(dd.window_step),
            max_pixels: self.detect.max_pixels.unwrap_or(dd.max_pixels),
            nms_iou: self.detect.nms_iou.unwrap_or(dd.nms_iou),
        };
        detect.validate().map_err(|e| val("detect", e.to_string()))?;
        let sample_fps = match self.decode.sample_fps {
            Some(f) if !(f >= 0.0 && f.is_finite()) => return Err(val("decode.sample-fps", format!("must be ≥ 0, got {f}"))),
            Some(0.0) => None,
            other => other,
        };
        let detect_every = self.detect.every_n_frames.unwrap_or(1);
        if detect_every == 0 {
            return Err(val("detect.every-n-frames", "must be ≥ 1".into()));
        }
        let margin = self.align.margin.unwrap_or(0.1);
        if !(0.0..=1.0).contains(&margin) {
            return Err(val("align.margin", format!("must be in [0, 1], got {margin}")));
        }
        let batch_size = self.classify.batch_size.unwrap_or(64);
        if batch_size == 0 || batch_size > 65536 {
            return Err(val("classify.batch-size", format!("must be in 1..=65536, got {batch_size}")));
        }
        let smooth = match self.smooth.method.as_deref().unwrap_or("ema") {
            "ema" => SmoothMethod::Ema { alpha: self.smooth.alpha.unwrap_or(0.3) },
            "window" => SmoothMethod::Window { radius: self.smooth.radius.unwrap_or(2) },
            "none" => SmoothMethod::None,
            m => return Err(val("smooth.method", format!("expected ema, window or none, got {m:?}"))),
        };
        let dt = TrackSettings::for_detector(detect.detector);
        let method = self.track.method.unwrap_or(dt.method);
        if method == TrackMethod::Byte && self.track.max_missed_frames.is_some() {
            let message = "counts frames and applies to method = \"greedy\" only; use track.max-lost-secs (seconds)".into();
            return Err(val("track.max-missed-frames", message));
        }
        let track = TrackSettings {
            method,
            min_iou: self.track.min_iou.unwrap_or(dt.min_iou),
            max_center_shift: self.track.max_center_shift.unwrap_or(dt.max_center_shift),
            max_missed_frames: self.track.max_missed_frames.unwrap_or(dt.max_missed_frames),
            high_score: self.track.high_score.unwrap_or(dt.high_score),
            max_lost_s: self.track.max_lost_secs.unwrap_or(dt.max_lost_s),
            min_confirm_hits: self.track.min_confirm_hits.unwrap_or(dt.min_confirm_hits),
            min_person_s: self.track.min_person_secs.unwrap_or(dt.min_person_s),
            landmark_weight: self.track.landmark_weight.unwrap_or(dt.landmark_weight),
            scene_cut: SceneCutSettings {
                threshold: self.track.scene_cut_threshold.unwrap_or(dt.scene_cut.threshold),
                window_s: self.track.scene_cut_window_secs.unwrap_or(dt.scene_cut.window_s),
            },
            smooth,
        };
        track.validate().map_err(|e| val(e.field, e.message))?;
        let window_s = self.aggregate.window_secs.unwrap_or(1.0);
        if !(window_s > 0.0 && window_s.is_finite()) {
            return Err(val("aggregate.window-secs", format!("must be > 0, got {window_s}")));
        }
        Ok(Settings {
            name: self.name.unwrap_or_else(|| "custom".into()),
            sample_fps,
            decode_threads: self.decode.threads.unwrap_or(0),
            detect,
            detect_every,
            align: AlignSettings { size: 48, margin, landmarks: self.align.landmarks.unwrap_or(true) },
            batch_size,
            flip_tta: self.classify.flip_tta.unwrap_or(false),
            track,
            window_s,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_pipeline_file_is_valid_and_matches_its_compiled_preset() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let (o, _) = Options::load(path.to_str().unwrap()).unwrap();
                let s = o.clone().into_settings("test").unwrap();
                let stem = path.file_stem().unwrap().to_str().unwrap();
                assert_eq!(s.name, stem);
                let (preset, _) = Options::load(stem).unwrap();
                assert_eq!(preset, o);
                n += 1;
            }
        }
        assert!(n >= 2);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = Options::from_toml("[detect]\nmin-face = 3\n", "x.toml").unwrap_err().to_string();
        assert!(e.contains("x.toml") && e.contains("min-face"), "{e}");
        let e = Options::from_toml("[detect]\nmin-face-px = \"big\"\n", "x.toml").unwrap_err().to_string();
        assert!(e.contains("min-face-px"), "{e}");
        let e = Options::from_toml("[aggregate]\nwindow-secs = -1.0\n", "x").unwrap().into_settings("x").unwrap_err().to_string();
        assert!(e.contains("aggregate.window-secs"), "{e}");
        let e = Options::from_toml("[smooth]\nmethod = \"kalman\"\n", "x").unwrap().into_settings("x").unwrap_err().to_string();
        assert!(e.contains("smooth.method"), "{e}");
        let e = Options::from_toml("[detect]\nmin-face-px = 2.0\n", "x").unwrap().into_settings("x").unwrap_err().to_string();
        assert!(e.contains("min-face-px"), "{e}");
        assert!(matches!(Options::load("nonesuch"), Err(ConfigError::Unknown(_))));
        let e = Options::load("/nonexistent/p.toml").unwrap_err().to_string();
        assert!(e.contains("/nonexistent/p.toml"), "{e}");
    }

    #[test]
    fn overrides_replace_values_and_are_validated() {
        let (o, _) = Options::load("classroom").unwrap();
        let o = o.with_overrides(&["detect.min-face-px=30".into(), "smooth.method=window".into(), "smooth.radius=3".into()], "classroom").unwrap();
        let s = o.clone().into_settings("classroom").unwrap();
        assert_eq!(s.detect.min_face_px, 30.0);
        assert_eq!(s.detect.detector, DetectorKind::Yunet);
        // Switching detector drops the preset's YuNet score for SeetaFace's default.
        let seeta = o.clone().with_detector(DetectorKind::Seetaface).into_settings("classroom").unwrap();
        assert_eq!((seeta.detect.detector, seeta.detect.min_score), (DetectorKind::Seetaface, 2.0));
        assert!(o.clone().with_overrides(&["detect.detector=\"nope\"".into()], "c").is_err());
        assert_eq!(s.track.smooth, SmoothMethod::Window { radius: 3 });
        assert!(o.clone().with_overrides(&["detect.nope=1".into()], "c").is_err());
        assert!(o.with_overrides(&["garbage".into()], "c").is_err());
    }

    #[test]
    fn track_keys_are_seconds_validated_and_named() {
        let s = Options::from_toml("[track]\nmax-lost-secs = 4.5\nmin-person-secs = 1.0\nmin-confirm-hits = 2\n", "x").unwrap().into_settings("x").unwrap();
        assert_eq!((s.track.max_lost_s, s.track.min_person_s, s.track.min_confirm_hits), (4.5, 1.0, 2));
        assert_eq!(s.track.method, TrackMethod::Byte);
        let e = Options::from_toml("[track]\nmax-lost-frames = 3\n", "x.toml").unwrap_err().to_string();
        assert!(e.contains("max-lost-frames"), "{e}");
        for (toml, key) in [
            ("max-lost-secs = -1.0", "track.max-lost-secs"),
            ("min-confirm-hits = 0", "track.min-confirm-hits"),
            ("scene-cut-threshold = 2.0", "track.scene-cut-threshold"),
            ("max-missed-frames = 10", "track.max-missed-frames"),
        ] {
            let e = Options::from_toml(&format!("[track]\n{toml}\n"), "x").unwrap().into_settings("x").unwrap_err().to_string();
            assert!(e.contains(key), "{toml}: {e}");
        }
        let g = Options::from_toml("[track]\nmethod = \"greedy\"\nmax-missed-frames = 4\n", "x").unwrap().into_settings("x").unwrap();
        assert_eq!((g.track.method, g.track.max_missed_frames), (TrackMethod::Greedy, 4));
        // high-score follows the detector's scale unless set; switching detector drops it.
        let (o, _) = Options::load("classroom").unwrap();
        let y = o.clone().with_overrides(&["track.high-score=0.8".into()], "c").unwrap();
        assert_eq!(y.clone().into_settings("c").unwrap().track.high_score, 0.8);
        let seeta = y.with_detector(DetectorKind::Seetaface).into_settings("c").unwrap();
        assert_eq!(seeta.track.high_score, TrackSettings::for_detector(DetectorKind::Seetaface).high_score);
    }
}
