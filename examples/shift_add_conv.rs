//! Measures the dense-layer convolution two ways on the CPU backend: burn's `Conv2d` (im2col +
//! gemm) and the shift-add form that `classify::model` uses (one 1×1 convolution to k²·cout
//! planes, then k² shifted additions), at the shapes of the shipped SLDCNN's dense layers
//! (batch 64, growth rate 16). Prints the time of each and the largest difference.
//!
//! `cargo run --release --example shift_add_conv`

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::tensor::{Device, Distribution, Tensor};
use std::time::Instant;
fn main() {
    let dev = Device::flex();
    for (cin, hw) in [(32usize, 24usize), (64, 24), (112, 24), (56, 12), (136, 12), (68, 6), (164, 6)] {
        let b = 64;
        let x: Tensor<4> = Tensor::random([b, cin, hw, hw], Distribution::Normal(0.0, 1.0), &dev);
        let conv = Conv2dConfig::new([cin, 16], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).with_bias(false).init(&dev);
        let y0 = conv.forward(x.clone());
        let reps = 5;
        let t = Instant::now();
        for _ in 0..reps {
            let _ = conv.forward(x.clone()).into_data();
        }
        let t_conv = t.elapsed().as_secs_f64() / reps as f64;
        // shift-add: W [16,cin,3,3] -> [3,3,16,cin] -> [144,cin,1,1]
        let w = conv.weight.val();
        let w2 = w.permute([2, 3, 0, 1]).reshape([144, cin, 1, 1]);
        let f = |x: Tensor<4>| {
            let y = burn::tensor::module::conv2d(x, w2.clone(), None, burn::tensor::ops::ConvOptions::new([1, 1], [0, 0], [1, 1], 1));
            let y = y.reshape([b, 9 * 16, hw, hw]);
            let yp = y.pad([(0, 0), (0, 0), (1, 1), (1, 1)], burn::tensor::ops::PadMode::Constant(0.0));
            let mut out: Option<Tensor<4>> = None;
            for dy in 0..3 {
                for dx in 0..3 {
                    let k = dy * 3 + dx;
                    // out[y][x] += Y_k[y+dy-1][x+dx-1]  -> in padded coords: [y+dy][x+dx]
                    let s = yp.clone().slice([0..b, k * 16..(k + 1) * 16, dy..dy + hw, dx..dx + hw]);
                    out = Some(match out {
                        None => s,
                        Some(o) => o + s,
                    });
                }
            }
            out.unwrap()
        };
        let y1 = f(x.clone());
        let diff: f32 = (y0 - y1.clone()).abs().max().into_scalar();
        let t = Instant::now();
        for _ in 0..reps {
            let _ = f(x.clone()).into_data();
        }
        let t_sa = t.elapsed().as_secs_f64() / reps as f64;
        println!("cin {cin} hw {hw}: conv {:.2} ms, shift-add {:.2} ms, maxdiff {diff}", t_conv * 1e3, t_sa * 1e3);
    }
}
