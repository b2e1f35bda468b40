//! Times upstream rustface 0.1.7 and fer-batch's patched copy on the same raw grey frames.
//!
//! In: `FRAMES.gray WIDTH HEIGHT` (concatenated 8-bit frames, as `ffmpeg -f rawvideo -pix_fmt
//! gray` writes them). Out: one line with milliseconds per frame of each (single thread, best of
//! 3 passes, interleaved), the faces each found and whether every box is identical.
use std::time::Instant;

const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/seetaface/seeta_fd_frontal_v1.0.bin");

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: rustface-ab FRAMES.gray WIDTH HEIGHT");
        std::process::exit(2);
    }
    let (w, h): (u32, u32) = (args[2].parse().expect("width"), args[3].parse().expect("height"));
    let data = std::fs::read(&args[1]).expect("frames file");
    let frames: Vec<&[u8]> = data.chunks_exact((w * h) as usize).collect();
    let model = std::fs::read(MODEL).expect("model");
    let mut up = upstream::create_detector_with_model(upstream::read_model(&model[..]).expect("model"));
    let mut new = patched::create_detector_with_model(patched::read_model(&model[..]).expect("model"));
    up.set_score_thresh(2.0);
    new.set_score_thresh(2.0);

    type Boxes = Vec<(i32, i32, u32, u32)>;
    // One pass of a detector over all frames: (seconds, every box in order).
    let pass = |detect: &mut dyn FnMut(&[u8]) -> Boxes| {
        let t = Instant::now();
        let boxes: Boxes = frames.iter().flat_map(|f| detect(f)).collect();
        (t.elapsed().as_secs_f64(), boxes)
    };
    let mut detect_up = |f: &[u8]| -> Boxes {
        let faces = up.detect(&upstream::ImageData::new(f, w, h));
        faces.iter().map(|f| (f.bbox().x(), f.bbox().y(), f.bbox().width(), f.bbox().height())).collect()
    };
    let mut detect_new = |f: &[u8]| -> Boxes {
        let faces = new.detect(&patched::ImageData::new(f, w, h));
        faces.iter().map(|f| (f.bbox().x(), f.bbox().y(), f.bbox().width(), f.bbox().height())).collect()
    };
    let (mut best_up, mut best_new) = (f64::MAX, f64::MAX);
    let (mut boxes_up, mut boxes_new) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let (t, b) = pass(&mut detect_up);
        (best_up, boxes_up) = (best_up.min(t), b);
        let (t, b) = pass(&mut detect_new);
        (best_new, boxes_new) = (best_new.min(t), b);
    }
    let n = frames.len() as f64;
    println!(
        "{} frames {}x{}: upstream {:.2} ms/frame ({} faces), patched {:.2} ms/frame ({} faces), {:.2}x, boxes {}",
        frames.len(),
        w,
        h,
        best_up * 1e3 / n,
        boxes_up.len(),
        best_new * 1e3 / n,
        boxes_new.len(),
        best_up / best_new,
        if boxes_up == boxes_new { "identical" } else { "DIFFER" }
    );
}
