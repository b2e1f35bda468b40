//! `fer-batch classify IMAGE...`: faces in still images and their 7 expression probabilities
//! (the paper's Table 5), as a table or JSON; `--annotate` also writes each image with its
//! faces drawn on it (the overlays of the annotated video, [`crate::render`]).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use super::Status;
use super::args::{ClassifyArgs, GlobalArgs};
use crate::align::{AlignSettings, align};
use crate::classify::Expression;
use crate::detect::{DetectSettings, DetectorModel, FrameView};
use crate::imageops::GrayView;
use crate::render::{FaceOverlay, draw_faces};

pub(super) fn run(a: ClassifyArgs, g: &GlobalArgs) -> anyhow::Result<Status> {
    let classifier = crate::classify::Classifier::load(&a.model, a.untrained, a.device, crate::classify::Tta::flip_if(a.tta))?;
    let base = DetectSettings::for_detector(a.detector);
    let detect = DetectSettings { min_face_px: a.min_face, min_score: a.min_score.unwrap_or(base.min_score), max_pixels: 8_000_000, ..base };
    let mut detector = DetectorModel::embedded(a.detector)?.detector(&detect)?;
    let align_settings = AlignSettings { size: classifier.input_size(), ..AlignSettings::default() };
    let annotate = a.annotate.as_deref().map(|out| AnnotateTarget::new(out, a.images.len())).transpose()?;
    let mut failed = 0;
    let mut json = Vec::new();
    if !a.json {
        let names: Vec<String> = Expression::ALL.iter().map(|e| format!("{:>9}", e.name())).collect();
        println!("{:<28} {:>4} {:>20} {} {:>9}", "image", "face", "box x,y,w,h", names.join(""), "label");
    }
    for path in &a.images {
        let (img, colour) = match image::open(path).with_context(|| format!("{}: cannot read image", path.display())) {
            Ok(i) => (i.to_luma8(), i.into_rgb8()),
            Err(e) => {
                if !g.quiet {
                    eprintln!("fer-batch: {e:#}");
                }
                failed += 1;
                continue;
            }
        };
        let (w, h) = (img.width() as usize, img.height() as usize);
        let view = GrayView { data: img.as_raw(), width: w, height: h };
        let faces = align(view, &detector.detect(FrameView { gray: view, rgb: Some(colour.as_raw()) }), &align_settings);
        let crops: Vec<&[u8]> = faces.iter().map(|f| f.crop.as_slice()).collect();
        let scores = classifier.classify(&crops, 64)?;
        if faces.is_empty() && !a.json {
            println!("{:<28} no faces found", path.display());
        }
        for (i, (f, s)) in faces.iter().zip(&scores).enumerate() {
            let b = f.detection.bbox;
            if a.json {
                json.push(serde_json::json!({
                    "image": path.display().to_string(), "face": i + 1,
                    "box": {"x": b.x, "y": b.y, "width": b.w, "height": b.h}, "detector_score": f.detection.score,
                    "landmarks": f.detection.landmarks.map(|l| crate::detect::Landmarks::NAMES.iter().zip(l.0).map(|(n, p)| (n.to_string(), serde_json::json!(p))).collect::<serde_json::Map<_, _>>()),
                    "probabilities": Expression::ALL.iter().map(|e| (e.name().to_string(), serde_json::json!(s.get(*e)))).collect::<serde_json::Map<_, _>>(),
                    "label": s.label().name(),
                }));
            } else {
                let probs: Vec<String> = s.0.iter().map(|p| format!("{:>9.3}", p)).collect();
                let bx = format!("{:.0},{:.0},{:.0},{:.0}", b.x, b.y, b.w, b.h);
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                println!("{:<28} {:>4} {:>20} {} {:>9}", name, i + 1, bx, probs.join(""), s.label().name());
            }
        }
        if let Some(target) = &annotate {
            let overlays: Vec<FaceOverlay> = faces
                .iter()
                .zip(&scores)
                .enumerate()
                .map(|(i, (f, s))| {
                    let b = f.detection.bbox;
                    FaceOverlay {
                        x: b.x,
                        y: b.y,
                        width: b.w,
                        height: b.h,
                        id: i as u32 + 1,
                        label: s.label(),
                        probabilities: s.0,
                        landmarks: f.detection.landmarks.map(|l| l.0),
                    }
                })
                .collect();
            let mut rgb = colour.clone();
            draw_faces(&mut rgb, &overlays);
            if let Err(e) = target.save(path, &rgb) {
                eprintln!("fer-batch: {e:#}");
                failed += 1;
            }
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    if !classifier.info().trained && !g.quiet {
        eprintln!("fer-batch: warning: --untrained: expression scores come from random weights");
    }
    Ok(if failed == 0 { Status::Success } else { Status::Partial })
}

/// Where `--annotate` writes: one file, or `<stem>.annotated.png` files in a directory.
enum AnnotateTarget {
    File(PathBuf, image::ImageFormat),
    Dir(PathBuf),
}

impl AnnotateTarget {
    /// A directory when there are several images or `out` is (or ends like) a directory,
    /// else a PNG or JPEG file named by its extension. Checked before any image is read.
    fn new(out: &Path, images: usize) -> anyhow::Result<Self> {
        let dir_like = out.as_os_str().as_encoded_bytes().ends_with(b"/") || out.is_dir();
        if images > 1 || dir_like {
            std::fs::create_dir_all(out).with_context(|| format!("cannot create the directory {}", out.display()))?;
            crate::sink::check_writable(out).with_context(|| format!("{} cannot be written", out.display()))?;
            return Ok(Self::Dir(out.to_owned()));
        }
        match image::ImageFormat::from_path(out) {
            Ok(f @ (image::ImageFormat::Png | image::ImageFormat::Jpeg)) => {
                crate::sink::check_writable(out).with_context(|| format!("{} cannot be written", out.display()))?;
                Ok(Self::File(out.to_owned(), f))
            }
            _ => bail!("--annotate {}: name a .png or .jpg file (or a directory)", out.display()),
        }
    }

    /// Writes the annotated `img` of the input `source` (temporary file, then rename).
    fn save(&self, source: &Path, img: &image::RgbImage) -> anyhow::Result<()> {
        let (path, format) = match self {
            Self::File(path, format) => (path.clone(), *format),
            Self::Dir(dir) => {
                let stem = source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                (dir.join(format!("{stem}.annotated.png")), image::ImageFormat::Png)
            }
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let written = img.save_with_format(&tmp, format).map_err(anyhow::Error::from).and_then(|()| Ok(std::fs::rename(&tmp, &path)?));
        if written.is_err() {
            std::fs::remove_file(&tmp).ok();
        }
        written.with_context(|| format!("{}: cannot write the annotated image {}", source.display(), path.display()))
    }
}
