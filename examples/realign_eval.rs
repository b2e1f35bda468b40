//! Does landmark alignment reproduce FER2013's framing? PrivateTest faces are re-found by the
//! pipeline's own detector and re-cropped two ways, and the shipped model is scored on each.
//!
//! ```sh
//! cargo run --release --example realign_eval -- ../shared/data/fer2013/fer2013.csv.gz
//! ```
//!
//! In: FER2013 (`fer2013.csv.gz`). For each PrivateTest image: the 48×48 face upscaled 4×
//! (bilinear) into a 256×256 grey frame with a 32-pixel border of grey 128, YuNet on it (as the
//! pipeline runs it: min-face 16, min-score 0.6), the best detection, then three 48×48 crops:
//! the original image, the crop aligned through the landmarks onto `align::FER2013_TEMPLATE`
//! (the pipeline's default), and the centred square with a 10% margin around the box (what
//! faces without landmarks get). Out: accuracy and macro-F1 of the shipped model on each, over
//! the images where a face was found (stdout). If alignment frames faces as FER2013 does, the
//! aligned crops score close to the originals.

use fer_batch::align::{AlignSettings, align};
use fer_batch::classify::{Classifier, ComputeDevice, Tta};
use fer_batch::dataset::{Split, load_fer2013};
use fer_batch::detect::{DetectSettings, DetectorKind, DetectorModel, FrameView};
use fer_batch::evaluate::EvalReport;
use fer_batch::imageops::{GrayView, resize};

const UP: usize = 4;
const BORDER: usize = 32;

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "../shared/data/fer2013/fer2013.csv.gz".into());
    let sets = load_fer2013(std::path::Path::new(&path), &[Split::PrivateTest])?;
    let ds = &sets[&Split::PrivateTest];
    let classifier = Classifier::load(&[], false, ComputeDevice::Cpu, Tta::None)?;
    let settings = DetectSettings { min_face_px: 16.0, ..DetectSettings::for_detector(DetectorKind::Yunet) };
    let mut detector = DetectorModel::embedded(DetectorKind::Yunet)?.detector(&settings)?;
    let side = ds.side * UP + 2 * BORDER;
    let (mut up, mut frame) = (Vec::new(), vec![128u8; side * side]);
    let (mut labels, mut original, mut aligned, mut square) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..ds.len() {
        let img = GrayView { data: ds.image(i), width: ds.side, height: ds.side };
        resize(img, ds.side * UP, ds.side * UP, &mut up);
        for (y, row) in up.chunks_exact(ds.side * UP).enumerate() {
            frame[(y + BORDER) * side + BORDER..][..row.len()].copy_from_slice(row);
        }
        let view = GrayView { data: &frame, width: side, height: side };
        let Some(best) = detector.detect(FrameView { gray: view, rgb: None }).into_iter().next() else {
            continue;
        };
        let crop = |landmarks| align(view, &[best], &AlignSettings { landmarks, ..AlignSettings::default() }).remove(0).crop;
        labels.push(ds.labels[i]);
        original.push(ds.image(i).to_vec());
        aligned.push(crop(true));
        square.push(crop(false));
    }
    println!("PrivateTest: {} images, a face found in {} ({:.1}%)", ds.len(), labels.len(), 100.0 * labels.len() as f64 / ds.len() as f64);
    for (name, crops) in [("original FER2013 crop", &original), ("aligned through the landmarks", &aligned), ("square box crop, 10% margin", &square)] {
        let refs: Vec<&[u8]> = crops.iter().map(|c| c.as_slice()).collect();
        let scores = classifier.classify(&refs, 256)?;
        let report = EvalReport::from_pairs(labels.iter().copied().zip(scores.iter().map(|s| s.label())));
        let agree = scores.iter().zip(&labels).filter(|(s, l)| s.label() == **l).count();
        println!("{name:<32} accuracy {:.2}%  macro-F1 {:.3}  ({agree} right)", 100.0 * report.accuracy, report.macro_f1);
    }
    Ok(())
}
