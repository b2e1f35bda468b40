//! `fer-batch classify IMAGE...`: faces in still images and their 7 expression probabilities
//! (the paper's Table 5), as a table or JSON.

use anyhow::Context as _;

use super::Status;
use super::args::{ClassifyArgs, GlobalArgs};
use crate::align::{AlignSettings, align};
use crate::classify::Expression;
use crate::detect::{DetectSettings, DetectorModel};
use crate::imageops::GrayView;

pub(super) fn run(a: ClassifyArgs, g: &GlobalArgs) -> anyhow::Result<Status> {
    let classifier = super::run::load_classifier(a.model.as_deref(), a.untrained, a.device, a.tta)?;
    let detect = DetectSettings { min_face_px: a.min_face, min_score: a.min_score, max_pixels: 8_000_000, ..DetectSettings::default() };
    let mut detector = DetectorModel::embedded()?.detector(&detect)?;
    let align_settings = AlignSettings { size: classifier.input_size(), ..AlignSettings::default() };
    let mut failed = 0;
    let mut json = Vec::new();
    if !a.json {
        let names: Vec<String> = Expression::ALL.iter().map(|e| format!("{:>9}", e.name())).collect();
        println!("{:<28} {:>4} {:>20} {} {:>9}", "image", "face", "box x,y,w,h", names.join(""), "label");
    }
    for path in &a.images {
        let img = match image::open(path).with_context(|| format!("{}: cannot read image", path.display())) {
            Ok(i) => i.into_luma8(),
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
        let faces = align(view, &detector.detect(view), &align_settings);
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
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    if !classifier.info().trained && !g.quiet {
        eprintln!("fer-batch: warning: --untrained: expression scores come from random weights");
    }
    Ok(if failed == 0 { Status::Success } else { Status::Partial })
}
