//! Plain-f32 CPU inference for SLDCNN networks (a densely-connected CNN with an attention unit
//! after every dense block; see fer-batch's `classify::model` for the architecture and paper).
//!
//! In: a [`Network`] built from a trained model's weights (batch norms given as running
//! statistics, convolutions in the PyTorch/burn `[cout][cin][k][k]` layout), then normalised
//! `side × side` grey images. Out: the head's logits for each image.
//!
//! Why it exists: one face costs ~44 M multiply-adds, and a general tensor library spends more
//! than that on layout changes, concatenations and allocations. This crate runs the same
//! network for inference only, with:
//! - channels-last buffers allocated once per thread ([`Scratch`]);
//! - every dense layer writing its maps straight into its block's buffer, so the
//!   concatenations of the dense connectivity cost nothing;
//! - batch norms folded into per-channel affine maps fused with ReLU and zero padding;
//! - transitions pooling before their 1×1 convolution (both are linear, so they commute:
//!   a quarter of the multiply-adds);
//! - direct convolutions in register tiles of 8 (or 4) pixels × 16 output channels, compiled
//!   for AVX-512, AVX2 and the baseline target and chosen at run time ([`conv`]);
//! - the dense layers' 3×3 convolutions as Winograd F(2×2, 3×3) tiles ([`winograd`]): 16
//!   multiplies per tile and channel pair instead of 36, on the same kernels.
//!
//! Results equal a straightforward evaluation up to float rounding (tests here check each
//! kernel against a reference; fer-batch's tests compare whole networks with burn's forward).
//! The crate has no dependency on fer-batch or burn, so that it is compiled with optimisation
//! even in fer-batch's debug builds.

pub mod conv;
pub mod winograd;

pub use conv::{Conv, Isa, LANES};
use conv::{ConvIo, conv};

/// A network whose parts do not fit together.
#[derive(Debug, Clone, thiserror::Error)]
#[error("SLDCNN network shape: {0}")]
pub struct ShapeError(pub String);

/// Per-channel `y = x·scale + shift`: a batch norm at inference time.
#[derive(Debug, Clone)]
pub struct Affine {
    /// Multiplier per channel.
    pub scale: Vec<f32>,
    /// Offset per channel.
    pub shift: Vec<f32>,
}

impl Affine {
    /// Folds a batch norm `(x − mean) / √(var + ε) · γ + β` into `x·scale + shift`.
    pub fn from_batch_norm(gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32], epsilon: f64) -> Result<Self, ShapeError> {
        let n = gamma.len();
        if beta.len() != n || mean.len() != n || var.len() != n {
            return Err(ShapeError(format!(
                "batch norm with {} γ, {} β, {} means and {} variances",
                n,
                beta.len(),
                mean.len(),
                var.len()
            )));
        }
        let scale: Vec<f32> = (0..n).map(|i| (gamma[i] as f64 / (var[i] as f64 + epsilon).sqrt()) as f32).collect();
        let shift = (0..n).map(|i| (beta[i] as f64 - mean[i] as f64 * scale[i] as f64) as f32).collect();
        Ok(Self { scale, shift })
    }

    fn len(&self) -> usize {
        self.scale.len()
    }
}

/// A fully connected layer.
#[derive(Debug, Clone)]
pub struct Linear {
    /// Inputs.
    pub input: usize,
    /// Outputs.
    pub output: usize,
    /// `[input][output]` (burn's layout).
    pub weight: Vec<f32>,
    /// `[output]`.
    pub bias: Vec<f32>,
}

impl Linear {
    /// Checks the sizes.
    pub fn new(input: usize, output: usize, weight: Vec<f32>, bias: Option<Vec<f32>>) -> Result<Self, ShapeError> {
        let bias = bias.unwrap_or_else(|| vec![0.0; output]);
        if weight.len() != input * output || bias.len() != output {
            return Err(ShapeError(format!("linear {input}→{output} with {} weights and {} biases", weight.len(), bias.len())));
        }
        Ok(Self { input, output, weight, bias })
    }

    fn apply(&self, x: &[f32], out: &mut [f32]) {
        out.copy_from_slice(&self.bias);
        for (i, &v) in x.iter().enumerate() {
            for (o, w) in out.iter_mut().zip(&self.weight[i * self.output..(i + 1) * self.output]) {
                *o += v * w;
            }
        }
    }
}

/// One dense layer: BN-ReLU, optionally a 1×1 bottleneck with its own BN-ReLU, then a
/// "same"-padded stride-1 convolution adding `conv.cout` maps to the block.
#[derive(Debug, Clone)]
pub struct DenseLayer {
    /// Batch norm over the layer's input channels.
    pub norm: Affine,
    /// 1×1 bottleneck convolution and its batch norm.
    pub bottleneck: Option<(Conv, Affine)>,
    /// The layer's convolution.
    pub conv: Conv,
}

/// What follows a dense block.
#[derive(Debug, Clone)]
pub enum Attention {
    /// Nothing (LDCNN).
    None,
    /// Spatial attention: per part (block input, then each layer's output) a dilated conv over
    /// `[mean over channels, max over channels]`, a pointwise conv of all of them to one plane
    /// `A`, and `F = (1 + σ(A)) ⊗ G`.
    Spatial {
        /// One conv (2 → D channels) per part.
        per_part: Vec<Conv>,
        /// 1×1 conv, parts·D → 1.
        pointwise: Conv,
    },
    /// Squeeze-and-excitation: `F = G ⊗ σ(W₂ ReLU(W₁ mean(G)))`.
    Channel {
        /// Channels → hidden.
        squeeze: Linear,
        /// Hidden → channels.
        excite: Linear,
    },
}

/// A dense block and its attention unit.
#[derive(Debug, Clone)]
pub struct Block {
    /// Layers in order.
    pub layers: Vec<DenseLayer>,
    /// The unit applied to the concatenated block output.
    pub attention: Attention,
}

/// Between blocks: BN-ReLU, 1×1 conv, `pool × pool` average pooling with stride `pool`.
#[derive(Debug, Clone)]
pub struct Transition {
    /// Batch norm over the block output.
    pub norm: Affine,
    /// 1×1 convolution without bias.
    pub conv: Conv,
    /// Pooling window and stride.
    pub pool: usize,
}

/// Shapes of one block, worked out by [`Network::new`].
#[derive(Debug, Clone, Copy)]
struct BlockPlan {
    side: usize,
    c_in: usize,
    c_total: usize,
}

/// A whole network, ready to run. Build with [`Network::new`].
#[derive(Debug, Clone)]
pub struct Network {
    input_size: usize,
    stem: Conv,
    blocks: Vec<Block>,
    transitions: Vec<Transition>,
    final_norm: Affine,
    head: Linear,
    plan: Vec<BlockPlan>,
    isa: Isa,
    winograd: bool,
}

impl Network {
    /// Checks that the parts fit together (channel counts, sides, pad sizes) and plans buffers.
    pub fn new(
        input_size: usize,
        stem: Conv,
        blocks: Vec<Block>,
        transitions: Vec<Transition>,
        final_norm: Affine,
        head: Linear,
    ) -> Result<Self, ShapeError> {
        let bad = |s: String| Err(ShapeError(s));
        if stem.cin != 1 {
            return bad(format!("the stem takes {} channels, expected 1 (grey)", stem.cin));
        }
        if blocks.is_empty() || transitions.len() + 1 != blocks.len() {
            return bad(format!("{} blocks need {} transitions, got {}", blocks.len(), blocks.len().saturating_sub(1), transitions.len()));
        }
        let mut side = stem.out_size(input_size);
        let mut c = stem.cout;
        let mut plan = Vec::new();
        for (b, block) in blocks.iter().enumerate() {
            let c_in = c;
            for (l, layer) in block.layers.iter().enumerate() {
                if layer.norm.len() != c {
                    return bad(format!("block {b} layer {l}: batch norm over {} channels, input has {c}", layer.norm.len()));
                }
                let conv_in = match &layer.bottleneck {
                    Some((bc, bn)) => {
                        if bc.cin != c || bc.k != 1 || bc.stride != 1 || bc.pad != 0 || bn.len() != bc.cout {
                            return bad(format!("block {b} layer {l}: bottleneck does not fit"));
                        }
                        bc.cout
                    }
                    None => c,
                };
                let lc = &layer.conv;
                if lc.cin != conv_in || lc.stride != 1 || lc.out_size(side) != side {
                    return bad(format!("block {b} layer {l}: the convolution must keep the side and take {conv_in} channels"));
                }
                c += lc.cout;
            }
            match &block.attention {
                Attention::None => {}
                Attention::Spatial { per_part, pointwise } => {
                    let parts = block.layers.len() + 1;
                    let d = per_part.first().map_or(0, |p| p.cout);
                    let fits = per_part.len() == parts
                        && per_part.iter().all(|p| p.cin == 2 && p.cout == d && p.stride == 1 && p.out_size(side) == side)
                        && pointwise.cin == parts * d
                        && pointwise.cout == 1
                        && pointwise.k == 1
                        && pointwise.pad == 0;
                    if !fits {
                        return bad(format!("block {b}: spatial attention does not fit {parts} parts"));
                    }
                }
                Attention::Channel { squeeze, excite } => {
                    if squeeze.input != c || excite.input != squeeze.output || excite.output != c {
                        return bad(format!("block {b}: channel attention does not fit {c} channels"));
                    }
                }
            }
            plan.push(BlockPlan { side, c_in, c_total: c });
            if let Some(t) = transitions.get(b) {
                if t.norm.len() != c || t.conv.cin != c || t.conv.k != 1 || t.conv.pad != 0 || t.conv.stride != 1 || t.pool == 0 {
                    return bad(format!("transition {b} does not fit {c} channels"));
                }
                side = side.checked_sub(t.pool).map(|s| s / t.pool + 1).unwrap_or(0);
                c = t.conv.cout;
            }
            if side == 0 {
                return bad(format!("the input of {input_size} pixels shrinks to nothing by block {b}"));
            }
        }
        if final_norm.len() != c || head.input != c {
            return bad(format!("the head takes {} features and the final norm {}, the network gives {c}", head.input, final_norm.len()));
        }
        Ok(Self { input_size, stem, blocks, transitions, final_norm, head, plan, isa: Isa::detect(), winograd: true })
    }

    /// Uses `isa` instead of the detected one (it must be one of [`Isa::available`]).
    pub fn with_isa(mut self, isa: Isa) -> Self {
        assert!(Isa::available().contains(&isa), "{isa:?} is not available on this CPU");
        self.isa = isa;
        self
    }

    /// Runs the dense layers' 3×3 convolutions as Winograd tiles ([`winograd`], the default)
    /// or with the direct kernels only (for comparisons).
    pub fn with_winograd(mut self, enabled: bool) -> Self {
        self.winograd = enabled;
        self
    }

    /// Side of the square input.
    pub fn input_size(&self) -> usize {
        self.input_size
    }

    /// Number of outputs (classes).
    pub fn outputs(&self) -> usize {
        self.head.output
    }

    /// Buffers for one thread's forward passes.
    pub fn scratch(&self) -> Scratch {
        let mut s = Scratch::default();
        let sp = self.stem.pad;
        s.act.resize((self.input_size + 2 * sp).pow(2), 0.0);
        for (b, (p, block)) in self.plan.iter().zip(&self.blocks).enumerate() {
            let area = p.side * p.side;
            s.block.resize(s.block.len().max(area * p.c_total), 0.0);
            let mut c = p.c_in;
            for layer in &block.layers {
                let pad = layer.conv.pad;
                s.act.resize(s.act.len().max((p.side + 2 * pad).pow(2) * layer.conv.cin), 0.0);
                s.work.resize(s.work.len().max(winograd::work_len(&layer.conv, p.side, p.side)), 0.0);
                if let Some((bc, _)) = &layer.bottleneck {
                    s.act.resize(s.act.len().max(area * c), 0.0);
                    s.bottleneck.resize(s.bottleneck.len().max(area * bc.cout), 0.0);
                }
                c += layer.conv.cout;
            }
            if let Attention::Spatial { per_part, .. } = &block.attention {
                let pad = per_part[0].pad;
                s.act.resize(s.act.len().max((p.side + 2 * pad).pow(2) * 2), 0.0);
                s.maps.resize(s.maps.len().max(area * per_part.len() * per_part[0].cout), 0.0);
                s.mask.resize(s.mask.len().max(area), 0.0);
            }
            if let Some(t) = self.transitions.get(b) {
                let next = p.side / t.pool;
                s.pooled.resize(s.pooled.len().max(next * next * p.c_total), 0.0);
            }
        }
        s.features.resize(self.head.input.max(self.plan.iter().map(|p| p.c_total).max().unwrap_or(0)), 0.0);
        s.hidden.resize(self.blocks.iter().map(|b| if let Attention::Channel { squeeze, .. } = &b.attention { squeeze.output } else { 0 }).max().unwrap_or(0), 0.0);
        s
    }

    /// Logits of one normalised `input_size²` image (row-major) into `logits` (`outputs()` long).
    ///
    /// # Panics
    /// If `image` or `logits` has the wrong length, or `scratch` came from another network.
    pub fn forward(&self, image: &[f32], scratch: &mut Scratch, logits: &mut [f32]) {
        let n = self.input_size;
        assert_eq!(image.len(), n * n, "image size");
        assert_eq!(logits.len(), self.head.output, "logits size");
        let s = scratch;
        let isa = self.isa;

        // Stem: pad the grey image, convolve into the first block's buffer.
        let first = self.plan[0];
        let p = self.stem.pad;
        pad_into(image, n, 1, p, &mut s.act);
        conv(
            &self.stem,
            ConvIo { input: &s.act, wp: n + 2 * p, in_stride: 1, output: &mut s.block, h: first.side, w: first.side, out_stride: first.c_total, out_off: 0 },
            isa,
        );

        for (b, (block, plan)) in self.blocks.iter().zip(&self.plan).enumerate() {
            let (side, ct) = (plan.side, plan.c_total);
            let area = side * side;
            let mut c = plan.c_in;
            for layer in &block.layers {
                let pad = layer.conv.pad;
                let wp = side + 2 * pad;
                match &layer.bottleneck {
                    None => bn_relu_pad(&s.block, ct, c, side, &layer.norm, pad, &mut s.act),
                    Some((bc, bn)) => {
                        bn_relu_pad(&s.block, ct, c, side, &layer.norm, 0, &mut s.act);
                        conv(bc, ConvIo { input: &s.act, wp: side, in_stride: c, output: &mut s.bottleneck, h: side, w: side, out_stride: bc.cout, out_off: 0 }, isa);
                        bn_relu_pad(&s.bottleneck, bc.cout, bc.cout, side, bn, pad, &mut s.act);
                    }
                }
                let io = ConvIo { input: &s.act, wp, in_stride: layer.conv.cin, output: &mut s.block, h: side, w: side, out_stride: ct, out_off: c };
                if self.winograd {
                    winograd::conv_dense(&layer.conv, io, isa, &mut s.work);
                } else {
                    conv(&layer.conv, io, isa);
                }
                c += layer.conv.cout;
            }

            match &block.attention {
                Attention::None => {}
                Attention::Spatial { per_part, pointwise } => {
                    let d = per_part[0].cout;
                    let parts = per_part.len();
                    let mut start = 0;
                    for (j, pc) in per_part.iter().enumerate() {
                        let end = if j == 0 { plan.c_in } else { start + block.layers[j - 1].conv.cout };
                        channel_mean_max_pad(&s.block, ct, start..end, side, pc.pad, &mut s.act);
                        let wp = side + 2 * pc.pad;
                        conv(pc, ConvIo { input: &s.act, wp, in_stride: 2, output: &mut s.maps, h: side, w: side, out_stride: parts * d, out_off: j * d }, isa);
                        start = end;
                    }
                    conv(pointwise, ConvIo { input: &s.maps, wp: side, in_stride: parts * d, output: &mut s.mask, h: side, w: side, out_stride: 1, out_off: 0 }, isa);
                    for (px, &a) in s.block[..area * ct].chunks_exact_mut(ct).zip(&s.mask[..area]) {
                        let gain = 1.0 + sigmoid(a);
                        px.iter_mut().for_each(|v| *v *= gain);
                    }
                }
                Attention::Channel { squeeze, excite } => {
                    let z = &mut s.features[..ct];
                    channel_means(&s.block, ct, area, z);
                    let hidden = &mut s.hidden[..squeeze.output];
                    squeeze.apply(z, hidden);
                    hidden.iter_mut().for_each(|v| *v = v.max(0.0));
                    excite.apply(hidden, z);
                    z.iter_mut().for_each(|v| *v = sigmoid(*v));
                    for px in s.block[..area * ct].chunks_exact_mut(ct) {
                        px.iter_mut().zip(z.iter()).for_each(|(v, g)| *v *= g);
                    }
                }
            }

            if let Some(t) = self.transitions.get(b) {
                // BN-ReLU and pooling first, then the 1×1 conv writes the next block's input.
                let next = self.plan[b + 1];
                bn_relu_pool(&s.block, ct, side, &t.norm, t.pool, &mut s.pooled);
                conv(
                    &t.conv,
                    ConvIo { input: &s.pooled, wp: next.side, in_stride: ct, output: &mut s.block, h: next.side, w: next.side, out_stride: next.c_total, out_off: 0 },
                    isa,
                );
            }
        }

        // BN-ReLU, global average pool, head.
        let last = self.plan[self.plan.len() - 1];
        let ct = last.c_total;
        let area = last.side * last.side;
        let f = &mut s.features[..ct];
        f.fill(0.0);
        let (scale, shift) = (&self.final_norm.scale, &self.final_norm.shift);
        for px in s.block[..area * ct].chunks_exact(ct) {
            for c in 0..ct {
                f[c] += (px[c] * scale[c] + shift[c]).max(0.0);
            }
        }
        let inv = 1.0 / area as f32;
        f.iter_mut().for_each(|v| *v *= inv);
        self.head.apply(f, logits);
    }
}

/// Per-thread buffers for [`Network::forward`]; made by [`Network::scratch`].
#[derive(Debug, Default)]
pub struct Scratch {
    /// The current block's maps, `[side][side][c_total]`.
    block: Vec<f32>,
    /// Activated (and padded) input of the next convolution.
    act: Vec<f32>,
    /// Bottleneck output.
    bottleneck: Vec<f32>,
    /// Attention maps `S`, all parts.
    maps: Vec<f32>,
    /// Attention logits `A`.
    mask: Vec<f32>,
    /// Pooled transition input.
    pooled: Vec<f32>,
    /// Pooled features, or channel means for channel attention.
    features: Vec<f32>,
    /// Channel attention's hidden layer.
    hidden: Vec<f32>,
    /// Winograd's transformed inputs and products for one band of tiles.
    work: Vec<f32>,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Copies a `[n][n][c]` image into `dst` as `[n+2p][n+2p][c]` with a zero border.
fn pad_into(src: &[f32], n: usize, c: usize, p: usize, dst: &mut [f32]) {
    let wp = n + 2 * p;
    let dst = &mut dst[..wp * wp * c];
    dst.fill(0.0);
    for y in 0..n {
        dst[((y + p) * wp + p) * c..((y + p) * wp + p + n) * c].copy_from_slice(&src[y * n * c..(y + 1) * n * c]);
    }
}

/// Zeroes the `p`-pixel border of a `[wp][wp][c]` buffer.
fn zero_border(dst: &mut [f32], wp: usize, c: usize, p: usize) {
    if p == 0 {
        return;
    }
    dst[..p * wp * c].fill(0.0);
    dst[(wp - p) * wp * c..wp * wp * c].fill(0.0);
    for y in p..wp - p {
        dst[y * wp * c..(y * wp + p) * c].fill(0.0);
        dst[((y + 1) * wp - p) * c..(y + 1) * wp * c].fill(0.0);
    }
}

/// `relu(x·scale + shift)` of the first `c` channels of `[side][side][stride]` into a
/// `[side+2p][side+2p][c]` buffer with a zero border.
fn bn_relu_pad(src: &[f32], stride: usize, c: usize, side: usize, norm: &Affine, p: usize, dst: &mut [f32]) {
    let wp = side + 2 * p;
    zero_border(dst, wp, c, p);
    let (scale, shift) = (&norm.scale[..c], &norm.shift[..c]);
    for y in 0..side {
        for x in 0..side {
            let s = &src[(y * side + x) * stride..][..c];
            let d = &mut dst[((y + p) * wp + x + p) * c..][..c];
            for i in 0..c {
                d[i] = (s[i] * scale[i] + shift[i]).max(0.0);
            }
        }
    }
}

/// `[mean, max]` over channels `range` of `[side][side][stride]` into a `[side+2p]²×2` buffer
/// with a zero border.
fn channel_mean_max_pad(src: &[f32], stride: usize, range: std::ops::Range<usize>, side: usize, p: usize, dst: &mut [f32]) {
    let wp = side + 2 * p;
    zero_border(dst, wp, 2, p);
    let inv = 1.0 / range.len() as f32;
    for y in 0..side {
        for x in 0..side {
            let v = &src[(y * side + x) * stride..][range.clone()];
            let (sum, max) = sum_max(v);
            let o = ((y + p) * wp + x + p) * 2;
            dst[o] = sum * inv;
            dst[o + 1] = max;
        }
    }
}

/// Sum and maximum of `v`, eight lanes at a time so that both vectorise (a plain fold with
/// `f32::max` stays scalar, to keep its NaN rule; the maps here hold no NaN).
fn sum_max(v: &[f32]) -> (f32, f32) {
    const W: usize = 8;
    let (mut sums, mut maxes) = ([0f32; W], [f32::NEG_INFINITY; W]);
    let mut chunks = v.chunks_exact(W);
    for chunk in &mut chunks {
        for i in 0..W {
            sums[i] += chunk[i];
            maxes[i] = if chunk[i] > maxes[i] { chunk[i] } else { maxes[i] };
        }
    }
    let (mut sum, mut max) = (sums.iter().sum::<f32>(), f32::NEG_INFINITY);
    for &a in maxes.iter().chain(chunks.remainder()) {
        max = if a > max { a } else { max };
    }
    sum += chunks.remainder().iter().sum::<f32>();
    (sum, max)
}

/// Mean of each channel of `[area][c]` into `out`.
fn channel_means(src: &[f32], c: usize, area: usize, out: &mut [f32]) {
    out.fill(0.0);
    for px in src[..area * c].chunks_exact(c) {
        out.iter_mut().zip(px).for_each(|(o, v)| *o += v);
    }
    let inv = 1.0 / area as f32;
    out.iter_mut().for_each(|v| *v *= inv);
}

/// `relu(x·scale + shift)` of `[side][side][c]`, averaged over `pool × pool` windows with
/// stride `pool` (floor), into `[side/pool][side/pool][c]`.
fn bn_relu_pool(src: &[f32], c: usize, side: usize, norm: &Affine, pool: usize, dst: &mut [f32]) {
    let out = side / pool;
    let inv = 1.0 / (pool * pool) as f32;
    let (scale, shift) = (&norm.scale[..c], &norm.shift[..c]);
    for oy in 0..out {
        for ox in 0..out {
            let d = &mut dst[(oy * out + ox) * c..][..c];
            d.fill(0.0);
            for dy in 0..pool {
                for dx in 0..pool {
                    let s = &src[((oy * pool + dy) * side + ox * pool + dx) * c..][..c];
                    for i in 0..c {
                        d[i] += (s[i] * scale[i] + shift[i]).max(0.0);
                    }
                }
            }
            d.iter_mut().for_each(|v| *v *= inv);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_norm_folds_into_an_affine_map() {
        let a = Affine::from_batch_norm(&[2.0], &[0.5], &[1.0], &[3.0], 1.0).unwrap();
        // (x − 1) / 2 · 2 + 0.5 = x − 0.5
        assert!((a.scale[0] - 1.0).abs() < 1e-7 && (a.shift[0] + 0.5).abs() < 1e-7, "{a:?}");
        assert!(Affine::from_batch_norm(&[1.0], &[], &[0.0], &[1.0], 1e-5).is_err());
    }

    #[test]
    fn pooling_and_border_helpers() {
        // 4×4×1 of 0..16, identity norm, 2×2 pool.
        let src: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let id = Affine { scale: vec![1.0], shift: vec![0.0] };
        let mut out = vec![0f32; 4];
        bn_relu_pool(&src, 1, 4, &id, 2, &mut out);
        assert_eq!(out, vec![2.5, 4.5, 10.5, 12.5]);
        let mut padded = vec![9f32; 36];
        bn_relu_pad(&src, 1, 1, 4, &Affine { scale: vec![-1.0], shift: vec![3.0] }, 1, &mut padded);
        assert_eq!(&padded[..6], &[0.0; 6]);
        assert_eq!(&padded[7..11], &[3.0, 2.0, 1.0, 0.0]);
        assert_eq!(padded[11], 0.0);
        assert_eq!(&padded[30..], &[0.0; 6]);
    }

    #[test]
    fn sum_and_max_over_channels() {
        for n in [1, 7, 8, 9, 16, 37] {
            let v: Vec<f32> = (0..n).map(|i| ((i * 7919) % 23) as f32 - 11.0).collect();
            let (sum, max) = sum_max(&v);
            assert_eq!(sum, v.iter().sum::<f32>(), "n = {n}");
            assert_eq!(max, v.iter().copied().fold(f32::NEG_INFINITY, f32::max), "n = {n}");
        }
    }

    #[test]
    fn misfitting_parts_are_rejected() {
        let stem = Conv::new(1, 4, 3, 2, 1, 1, &[0.1; 36], None).unwrap();
        let norm = |c: usize| Affine { scale: vec![1.0; c], shift: vec![0.0; c] };
        let layer = |cin: usize| DenseLayer { norm: norm(cin), bottleneck: None, conv: Conv::new(cin, 2, 3, 1, 1, 1, &vec![0.1; 2 * cin * 9], None).unwrap() };
        let block = |cin: usize| Block { layers: vec![layer(cin)], attention: Attention::None };
        let head = |c: usize| Linear::new(c, 7, vec![0.0; 7 * c], None).unwrap();
        let ok = Network::new(16, stem.clone(), vec![block(4)], vec![], norm(6), head(6));
        assert!(ok.is_ok(), "{ok:?}");
        let err = Network::new(16, stem.clone(), vec![block(5)], vec![], norm(7), head(7)).unwrap_err();
        assert!(err.0.contains("batch norm over 5 channels, input has 4"), "{err}");
        let err = Network::new(16, stem, vec![block(4), block(3)], vec![], norm(6), head(6)).unwrap_err();
        assert!(err.0.contains("need 1 transitions"), "{err}");
    }
}
