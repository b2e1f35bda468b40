//! Times the forward pass and prints the faces of a raw RGB24 image.
//!
//! `cargo run --release -p yunet-cpu --example yunet_time -- WEIGHTS RAW.rgb WIDTH HEIGHT [REPS]`
//! (make RAW.rgb with `ffmpeg -i IMAGE -f rawvideo -pix_fmt rgb24 RAW.rgb`). In: the weights
//! file and one image. Out: per instruction set, the median milliseconds of a forward pass
//! on one thread, and the faces found (score ≥ 0.5).

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: yunet_time WEIGHTS RAW.rgb WIDTH HEIGHT [REPS]");
        std::process::exit(2);
    }
    let weights = std::fs::read(&args[1]).expect("weights");
    let rgb = std::fs::read(&args[2]).expect("image");
    let (w, h): (usize, usize) = (
        args[3].parse().expect("width"),
        args[4].parse().expect("height"),
    );
    let reps: usize = args.get(5).map(|r| r.parse().expect("reps")).unwrap_or(20);
    let net = yunet_cpu::Network::from_bytes(&weights).expect("weights parse");
    for isa in yunet_cpu::Isa::available() {
        let net = net.clone().with_isa(isa);
        let mut ws = yunet_cpu::Workspace::new();
        let mut faces = Vec::new();
        let mut times: Vec<f64> = (0..reps)
            .map(|_| {
                let t = Instant::now();
                faces = net.detect(&rgb, w, h, 0.5, 0.45, &mut ws);
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "{isa:?}: {:.2} ms median, {} faces",
            times[times.len() / 2],
            faces.len()
        );
    }
    let mut ws = yunet_cpu::Workspace::new();
    for f in net.detect(&rgb, w, h, 0.5, 0.45, &mut ws).iter().take(40) {
        println!(
            "{:.3} {:.1} {:.1} {:.1} {:.1} lm {:?}",
            f.score,
            f.x1,
            f.y1,
            f.x2 - f.x1,
            f.y2 - f.y1,
            f.landmarks.map(|[x, y]| (x.round(), y.round()))
        );
    }
}
