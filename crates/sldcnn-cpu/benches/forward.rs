//! Per-image cost of a whole network forward pass, Winograd dense layers against the direct
//! kernels, on the instruction set this CPU has.
//!
//! In: nothing (networks of the shipped shapes with random weights; the cost does not depend on
//! the values). Out: per network shape and variant, the median time per image over several
//! rounds and the ratio, printed. The variants alternate round by round, so machine noise
//! falls on both alike.
//!
//! ```sh
//! cargo bench -p sldcnn-cpu --bench forward
//! ```

use std::hint::black_box;
use std::time::Instant;

use sldcnn_cpu::{Affine, Attention, Block, Conv, DenseLayer, Isa, Linear, Network, Transition};

/// Deterministic values in [−0.1, 0.1].
fn values(n: usize, seed: &mut u64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((*seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
        })
        .collect()
}

fn conv(cin: usize, cout: usize, k: usize, stride: usize, dilation: usize, pad: usize, seed: &mut u64) -> Conv {
    Conv::new(cin, cout, k, stride, dilation, pad, &values(cout * cin * k * k, seed), Some(&values(cout, seed))).expect("valid sizes")
}

fn affine(c: usize, seed: &mut u64) -> Affine {
    Affine { scale: values(c, seed).iter().map(|v| 1.0 + v).collect(), shift: values(c, seed) }
}

/// The compact network's structure (48² input, 7×7/2 stem of 32 maps, spatial attention,
/// transitions halving the maps and pooling 2×2) with the given layers and growth per block.
fn network(layers: &[usize], growth: &[usize]) -> Network {
    let seed = &mut 1u64;
    let stem = conv(1, 32, 7, 2, 1, 3, seed);
    let (mut c, mut blocks, mut transitions) = (32, Vec::new(), Vec::new());
    for (b, (&n, &g)) in layers.iter().zip(growth).enumerate() {
        let mut block_layers = Vec::new();
        for _ in 0..n {
            block_layers.push(DenseLayer { norm: affine(c, seed), bottleneck: None, conv: conv(c, g, 3, 1, 1, 1, seed) });
            c += g;
        }
        let per_part = (0..=n).map(|_| conv(2, 1, 3, 1, 2, 2, seed)).collect();
        let pointwise = conv(n + 1, 1, 1, 1, 1, 0, seed);
        blocks.push(Block { layers: block_layers, attention: Attention::Spatial { per_part, pointwise } });
        if b + 1 < layers.len() {
            transitions.push(Transition { norm: affine(c, seed), conv: conv(c, c / 2, 1, 1, 1, 0, seed), pool: 2 });
            c /= 2;
        }
    }
    let head = Linear::new(c, 7, values(c * 7, seed), Some(values(7, seed))).expect("valid sizes");
    Network::new(48, stem, blocks, transitions, affine(c, seed), head).expect("a valid network")
}

/// Seconds per image over `n` forward passes.
fn time(net: &Network, images: &[Vec<f32>], n: usize) -> f64 {
    let mut scratch = net.scratch();
    let mut logits = vec![0f32; net.outputs()];
    let start = Instant::now();
    for i in 0..n {
        net.forward(&images[i % images.len()], &mut scratch, &mut logits);
        black_box(&logits);
    }
    start.elapsed().as_secs_f64() / n as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let seed = &mut 99u64;
    let images: Vec<Vec<f32>> = (0..16).map(|_| values(48 * 48, seed).iter().map(|v| v * 10.0).collect()).collect();
    println!("instruction set: {:?}; one thread; median of 9 rounds of 300 images, the variants alternating", Isa::detect());
    for (name, layers, growth) in [("compact", [5, 5, 6], [16, 16, 16]), ("wide", [4, 8, 12], [16, 24, 32])] {
        let winograd = network(&layers, &growth);
        let direct = winograd.clone().with_winograd(false);
        time(&winograd, &images, 50);
        time(&direct, &images, 50);
        let (mut tw, mut td) = (Vec::new(), Vec::new());
        for _ in 0..9 {
            td.push(time(&direct, &images, 300));
            tw.push(time(&winograd, &images, 300));
        }
        let (d, w) = (median(td), median(tw));
        println!(
            "{name:8} direct {:7.1} µs/image ({:6.0} images/s)   winograd {:7.1} µs/image ({:6.0} images/s)   {:.2}× faster",
            d * 1e6,
            1.0 / d,
            w * 1e6,
            1.0 / w,
            d / w
        );
    }
}
