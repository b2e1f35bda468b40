//! SLDCNN on a GPU against the CPU (issue 8), without FFmpeg: this example uses only the model,
//! the FER2013 loader and training, so its binary links libtorch but no video libraries and
//! travels to a GPU machine small. `scripts/gpu-measure.sh bench` runs it there.
//!
//! ```sh
//! bash scripts/torch-env.sh cargo run --release --features cuda --example gpu_bench -- \
//!     --data fer2013.csv.gz --device cuda [--train-images 3589]
//! ```
//!
//! In: a FER2013 CSV with PrivateTest rows. Out (stdout): accuracy on the CPU (flex) and the
//! device, the largest difference of any class probability between them, inference throughput
//! on the device at several batch sizes, and one training epoch's images/s for the shipped
//! (compact) and the paper's network on the device.

use std::time::Instant;

use fer_batch::classify::model::SldcnnConfig;
use fer_batch::classify::train::{TrainEvent, TrainOptions, train};
use fer_batch::classify::weights::{EMBEDDED, ModelArtifact};
use fer_batch::classify::{Classifier, ComputeDevice, ExpressionScores};
use fer_batch::dataset::{Split, load_fer2013};
use fer_batch::evaluate::EvalReport;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let data = flag("--data").ok_or_else(|| anyhow::anyhow!("usage: gpu_bench --data FER2013.csv[.gz] [--device cuda] [--train-images N]"))?;
    let device: ComputeDevice = flag("--device").unwrap_or_else(|| "cuda".into()).parse().map_err(anyhow::Error::msg)?;
    let train_images: usize = flag("--train-images").map(|s| s.parse()).transpose()?.unwrap_or(usize::MAX);

    let test = load_fer2013(std::path::Path::new(&data), &[Split::PrivateTest])?.remove(&Split::PrivateTest).unwrap_or_default();
    let crops: Vec<&[u8]> = (0..test.len()).map(|i| test.image(i)).collect();
    let shipped = ModelArtifact::embedded(EMBEDDED[0])?;
    println!("model {} ({} images of PrivateTest)", shipped.id(), test.len());

    // 1. The same faces on both devices.
    let mut results = Vec::new();
    for d in [ComputeDevice::Cpu, device] {
        let c = Classifier::new(&shipped, d)?;
        c.classify(&crops[..crops.len().min(64)], 64)?; // warm-up (kernel selection, allocations)
        let t0 = Instant::now();
        let scores = c.classify(&crops, 256)?;
        let secs = t0.elapsed().as_secs_f64();
        let report = EvalReport::from_pairs(test.labels.iter().copied().zip(scores.iter().map(ExpressionScores::label)));
        println!("{d:>10}: accuracy {:.2}%, macro-F1 {:.4}, {:.0} faces/s at batch 256", report.accuracy * 100.0, report.macro_f1, test.len() as f64 / secs);
        results.push(scores);
    }
    let max_diff = results[0].iter().zip(&results[1]).flat_map(|(a, b)| a.0.iter().zip(b.0.iter()).map(|(x, y)| (x - y).abs())).fold(0f32, f32::max);
    let same = results[0].iter().zip(&results[1]).filter(|(a, b)| a.label() == b.label()).count();
    println!("cpu vs {device}: max |Δp| = {max_diff:.2e} over {} faces × 7 classes; same label on {same}/{}", test.len(), test.len());

    // 2. Inference throughput at several batch sizes (each timed over ≥ 2 s after a warm-up).
    let c = Classifier::new(&shipped, device)?;
    for bs in [16, 64, 256, 1024, 4096] {
        c.classify(&crops[..crops.len().min(bs)], bs)?;
        let (t0, mut faces) = (Instant::now(), 0usize);
        while t0.elapsed().as_secs_f64() < 2.0 {
            faces += c.classify(&crops, bs)?.len();
        }
        println!("{device} batch {bs:>5}: {:>8.0} faces/s", faces as f64 / t0.elapsed().as_secs_f64());
    }

    // 3. One training epoch per network on PrivateTest images (validation: 256 of them).
    let n = train_images.min(test.len());
    let train_set = test.subset(&(0..n).collect::<Vec<_>>());
    let val_set = test.subset(&(0..256.min(n)).collect::<Vec<_>>());
    for (name, model) in [("compact depth 20", SldcnnConfig::compact(20)), ("paper depth 32", SldcnnConfig::paper(32))] {
        let dir = tempfile::tempdir()?;
        let opts = TrainOptions { checkpoint_every: 0, ..TrainOptions::shipped_recipe(model, 1) };
        let mut rate = 0.0;
        train(&train_set, &val_set, opts, dir.path(), device, &mut |e| {
            if let TrainEvent::EpochEnd(m) = e {
                rate = m.images_per_sec;
            }
        })?;
        println!("train {name} on {device}: {rate:.1} images/s over {n} images → a 28,709-image FER2013 epoch ≈ {:.0} s", 28_709.0 / rate.max(1e-9));
    }
    Ok(())
}
