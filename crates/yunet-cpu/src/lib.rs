//! Plain-f32 CPU inference for YuNet, the face detector of libfacedetection (Shiqi Yu et al.,
//! BSD-3): 53 convolutions (a 3×3 stem, then pairs of 1×1 pointwise and 3×3 depthwise
//! convolutions), four 2×2 max-pools, a small feature pyramid (nearest ×2 upsampling and
//! addition) and anchor-free heads at strides 8, 16 and 32 giving a score, a box and five
//! landmarks per position.
//!
//! In: the weights file written by fer-batch's `scripts/convert_yunet.py` (libfacedetection's
//! 106 arrays in order, little-endian f32, batch norms already folded), then RGB images
//! (8-bit, row-major, no padding). Out: [`Face`]s in the image's pixels, best first.
//!
//! Why it exists: the network is small (53,112 parameters, ~0.2 G multiply-adds for a
//! 640×384 frame) and uses only five operations, so a direct implementation over
//! channels-last buffers allocated once per thread ([`Workspace`]) is fast without a tensor
//! library. The forward pass is compiled for AVX-512, AVX2+FMA and the baseline target and
//! chosen at run time ([`Isa`]). The four heads of a level share their input, so they run
//! as one 64→16 pointwise and one 16-channel depthwise convolution (exact: both are
//! per-channel linear maps).
//!
//! Results follow libfacedetection's `objectdetect_cnn` up to float rounding, except that
//! candidates are not capped at 1,000 before non-maximum suppression (the cap drops faces in
//! crowds); fer-batch's tests compare both with numbers computed by the original library.

pub mod decode;
pub mod kernels;
pub mod simd;

pub use decode::{Face, HEAD_CHANNELS, iou, nms};
use kernels::{maxpool2, pad_image, pointwise_depthwise, stem, upsample2_add};
use simd::V16;

/// The weights file does not describe this network.
#[derive(Debug, Clone, thiserror::Error)]
#[error("YuNet weights: {0}")]
pub struct WeightsError(pub String);

/// The instruction set a forward pass is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F with FMA.
    Avx512,
    /// AVX2 with FMA.
    Avx2,
    /// Whatever the target baseline offers (SSE2 on x86-64), no fused multiply-add.
    Baseline,
}

impl Isa {
    /// The best instruction set this CPU supports.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Self::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Self::Avx2;
            }
        }
        Self::Baseline
    }

    /// All instruction sets this CPU can run (for tests comparing them).
    pub fn available() -> Vec<Self> {
        let best = Self::detect();
        [Self::Avx512, Self::Avx2, Self::Baseline]
            .into_iter()
            .skip_while(|&i| i != best)
            .collect()
    }
}

/// libfacedetection's layers in the order of its `param_pConvInfo`: input channels, output
/// channels, depthwise (else pointwise). Layer 0 is the stem, stored as a pointwise
/// convolution over 32 channels of which the first 27 are the 3×3×BGR taps.
const LAYERS: [(usize, usize, bool); 53] = {
    let mut t = [(0, 0, false); 53];
    t[0] = (32, 16, false);
    // Backbone: model0 (one pair), model1..model5 (two pairs each); then three neck pairs.
    let pairs: [(usize, usize); 14] = [
        (16, 16),
        (16, 16),
        (16, 32),
        (32, 32),
        (32, 64),
        (64, 64),
        (64, 64),
        (64, 64),
        (64, 64),
        (64, 64),
        (64, 64),
        (64, 64),
        (64, 64),
        (64, 64),
    ];
    let mut i = 0;
    while i < 14 {
        t[1 + 2 * i] = (pairs[i].0, pairs[i].1, false);
        t[2 + 2 * i] = (pairs[i].1, pairs[i].1, true);
        i += 1;
    }
    // Heads: cls, bbox, obj, kps; three levels each; a pointwise from 64 then a depthwise.
    let outs = [1, 4, 1, 10];
    let mut h = 0;
    while h < 4 {
        let mut l = 0;
        while l < 3 {
            t[29 + 6 * h + 2 * l] = (64, outs[h], false);
            t[30 + 6 * h + 2 * l] = (outs[h], outs[h], true);
            l += 1;
        }
        h += 1;
    }
    t
};

/// A pointwise + depthwise pair (libfacedetection's `convolutionDP`).
#[derive(Debug, Clone)]
struct Pair {
    cin: usize,
    cout: usize,
    /// `[cin][cout]`.
    pw: Vec<f32>,
    pw_bias: Vec<f32>,
    /// `[9][cout]`.
    dw: Vec<f32>,
    dw_bias: Vec<f32>,
    /// ReLU after the depthwise convolution (backbone and neck; not the heads).
    relu: bool,
}

/// A loaded YuNet network (immutable; share it between threads).
#[derive(Debug, Clone)]
pub struct Network {
    /// `[27][16]`: taps (ky, kx) × RGB, output innermost.
    stem: Vec<f32>,
    stem_bias: Vec<f32>,
    /// Backbone pairs 0..=12 (model0, model1 ×2, …, model5 ×2), then neck pairs for levels
    /// 0, 1, 2 (strides 8, 16, 32).
    pairs: Vec<Pair>,
    /// One fused head per level: 64 → 16 channels `[cls, bbox ×4, obj, kps ×10]`.
    heads: Vec<Pair>,
    isa: Isa,
}

/// Reads `n` floats at `*at` and advances it.
fn take(data: &[f32], at: &mut usize, n: usize) -> Result<Vec<f32>, WeightsError> {
    let v = data
        .get(*at..*at + n)
        .ok_or_else(|| WeightsError(format!("file ends at value {} of {}", data.len(), *at + n)))?;
    *at += n;
    Ok(v.to_vec())
}

impl Network {
    /// Total values in the weights file (weights and biases of all 53 layers).
    pub const VALUES: usize = {
        let mut n = 0;
        let mut i = 0;
        while i < 53 {
            let (cin, cout, dw) = LAYERS[i];
            n += if dw { 9 * cout } else { cin * cout } + cout;
            i += 1;
        }
        n
    };

    /// Parses the weights file (little-endian f32, see the crate docs).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsError> {
        if bytes.len() != 4 * Self::VALUES {
            return Err(WeightsError(format!(
                "expected {} bytes ({} values), got {}",
                4 * Self::VALUES,
                Self::VALUES,
                bytes.len()
            )));
        }
        let data: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(WeightsError(format!("value {i} is not finite")));
        }
        let mut at = 0;
        let mut raw = Vec::with_capacity(53);
        for &(cin, cout, dw) in &LAYERS {
            let w = take(&data, &mut at, if dw { 9 * cout } else { cin * cout })?;
            let b = take(&data, &mut at, cout)?;
            raw.push((w, b));
        }
        // Stem: [16][32] with BGR taps → [27][16] with RGB taps.
        let (sw, sb) = &raw[0];
        let mut stem = vec![0f32; 27 * 16];
        for o in 0..16 {
            for tap in 0..9 {
                for c in 0..3 {
                    stem[(tap * 3 + c) * 16 + o] = sw[o * 32 + tap * 3 + (2 - c)];
                }
            }
        }
        let pair = |p: usize, d: usize| {
            let (cin, cout, _) = LAYERS[p];
            Pair {
                cin,
                cout,
                pw: transpose(&raw[p].0, cout, cin),
                pw_bias: raw[p].1.clone(),
                dw: raw[d].0.clone(),
                dw_bias: raw[d].1.clone(),
                relu: true,
            }
        };
        let pairs = (0..14).map(|i| pair(1 + 2 * i, 2 + 2 * i)).collect();
        let heads = (0..3).map(|level| fuse_heads(&raw, level)).collect();
        Ok(Self {
            stem,
            stem_bias: sb.clone(),
            pairs,
            heads,
            isa: Isa::detect(),
        })
    }

    /// The same network running on `isa` (which the CPU must support; tests compare them).
    pub fn with_isa(mut self, isa: Isa) -> Self {
        assert!(
            Isa::available().contains(&isa),
            "{isa:?} is not available on this CPU"
        );
        self.isa = isa;
        self
    }

    /// The instruction set in use.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Runs the network on a `width × height` RGB image and returns the faces scoring at
    /// least `threshold`, after non-maximum suppression at `nms_iou`, in image pixels.
    pub fn detect(
        &self,
        rgb: &[u8],
        width: usize,
        height: usize,
        threshold: f32,
        nms_iou: f32,
        ws: &mut Workspace,
    ) -> Vec<Face> {
        if width == 0 || height == 0 {
            return Vec::new();
        }
        self.forward(rgb, width, height, ws);
        let mut faces = Vec::new();
        for level in 0..3 {
            let (cols, rows) = ws.level_size(level);
            decode::decode_level(
                &ws.heads[level],
                cols,
                rows,
                8 << level,
                threshold,
                &mut faces,
            );
        }
        nms(faces, nms_iou)
    }

    /// Runs the network and leaves the raw head maps in `ws` ([`Workspace::head`]).
    pub fn forward(&self, rgb: &[u8], width: usize, height: usize, ws: &mut Workspace) {
        assert_eq!(rgb.len(), width * height * 3, "RGB buffer size");
        ws.prepare(width, height);
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `with_isa` and `Isa::detect` only select ISAs the CPU supports.
            Isa::Avx512 => unsafe { forward_avx512(self, rgb, width, height, ws) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Isa::Avx2 => unsafe { forward_avx2(self, rgb, width, height, ws) },
            _ => self.forward_impl::<simd::Base>(rgb, width, height, ws),
        }
    }

    #[inline(always)]
    fn forward_impl<S: V16>(&self, rgb: &[u8], width: usize, height: usize, ws: &mut Workspace) {
        let Workspace {
            image,
            a,
            b,
            t,
            fb1,
            fb2,
            fb3,
            heads,
            zeros,
            w2,
            h2,
        } = ws;
        let z: &[f32] = zeros;
        let (mut w, mut h) = (*w2, *h2);
        pad_image(rgb, width, height, 2 * w, 2 * h, image);
        stem::<S>(image, &self.stem, &self.stem_bias, a, w, h);
        let p = &self.pairs;
        run_pair::<S>(&p[0], a, w, h, t, z, b); // s2, 16
        maxpool2::<S>(b, w, h, 16, a);
        (w, h) = (w / 2, h / 2); // s4
        run_pair::<S>(&p[1], a, w, h, t, z, b);
        run_pair::<S>(&p[2], b, w, h, t, z, a); // 32
        run_pair::<S>(&p[3], a, w, h, t, z, b);
        run_pair::<S>(&p[4], b, w, h, t, z, a); // 64
        maxpool2::<S>(a, w, h, 64, b);
        (w, h) = (w / 2, h / 2); // s8
        run_pair::<S>(&p[5], b, w, h, t, z, a);
        run_pair::<S>(&p[6], a, w, h, t, z, fb1);
        let (w8, h8) = (w, h);
        maxpool2::<S>(fb1, w, h, 64, b);
        (w, h) = (w / 2, h / 2); // s16
        run_pair::<S>(&p[7], b, w, h, t, z, a);
        run_pair::<S>(&p[8], a, w, h, t, z, fb2);
        let (w16, h16) = (w, h);
        maxpool2::<S>(fb2, w, h, 64, b);
        (w, h) = (w / 2, h / 2); // s32
        run_pair::<S>(&p[9], b, w, h, t, z, a);
        run_pair::<S>(&p[10], a, w, h, t, z, fb3);
        // Neck and heads, from the coarsest level up.
        run_pair::<S>(&p[13], fb3, w, h, t, z, a);
        run_pair::<S>(&self.heads[2], a, w, h, t, z, &mut heads[2]);
        upsample2_add::<S>(a, fb2, w16, h16, 64);
        run_pair::<S>(&p[12], fb2, w16, h16, t, z, b);
        run_pair::<S>(&self.heads[1], b, w16, h16, t, z, &mut heads[1]);
        upsample2_add::<S>(b, fb1, w8, h8, 64);
        run_pair::<S>(&p[11], fb1, w8, h8, t, z, a);
        run_pair::<S>(&self.heads[0], a, w8, h8, t, z, &mut heads[0]);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")]
fn forward_avx512(net: &Network, rgb: &[u8], width: usize, height: usize, ws: &mut Workspace) {
    net.forward_impl::<simd::Avx512>(rgb, width, height, ws)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn forward_avx2(net: &Network, rgb: &[u8], width: usize, height: usize, ws: &mut Workspace) {
    net.forward_impl::<simd::Avx2>(rgb, width, height, ws)
}

/// A pair: pointwise then depthwise (with ReLU where the pair has it) into `out` (`t`: the
/// three-row ring).
#[inline(always)]
fn run_pair<S: V16>(
    p: &Pair,
    input: &[f32],
    w: usize,
    h: usize,
    t: &mut [f32],
    zeros: &[f32],
    out: &mut [f32],
) {
    pointwise_depthwise::<S>(
        input,
        w,
        h,
        p.cin,
        (&p.pw, &p.pw_bias),
        p.cout,
        (&p.dw, &p.dw_bias),
        p.relu,
        (t, zeros),
        out,
    );
}

/// `[rows][cols]` → `[cols][rows]`.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

/// The cls, bbox, obj and kps layers of one level as one pair with 16 outputs.
fn fuse_heads(raw: &[(Vec<f32>, Vec<f32>)], level: usize) -> Pair {
    let mut pw = vec![0f32; 64 * HEAD_CHANNELS];
    let (mut pw_bias, mut dw, mut dw_bias) = (
        vec![0f32; HEAD_CHANNELS],
        vec![0f32; 9 * HEAD_CHANNELS],
        vec![0f32; HEAD_CHANNELS],
    );
    // Output channel offsets: cls 0, bbox 1..5, obj 5, kps 6..16.
    for (head, offset) in [(0usize, 0usize), (1, 1), (2, 5), (3, 6)] {
        let p = 29 + 6 * head + 2 * level;
        let n = LAYERS[p].1;
        let (w, b) = &raw[p];
        let (dwv, dwb) = &raw[p + 1];
        for o in 0..n {
            for i in 0..64 {
                pw[i * HEAD_CHANNELS + offset + o] = w[o * 64 + i];
            }
            pw_bias[offset + o] = b[o];
            dw_bias[offset + o] = dwb[o];
            for tap in 0..9 {
                dw[tap * HEAD_CHANNELS + offset + o] = dwv[tap * n + o];
            }
        }
    }
    Pair {
        cin: 64,
        cout: HEAD_CHANNELS,
        pw,
        pw_bias,
        dw,
        dw_bias,
        relu: false,
    }
}

/// Buffers of one forward pass, sized for the last input size; keep one per thread.
#[derive(Debug, Default)]
pub struct Workspace {
    /// The input image as f32 with a zero border ([`kernels::pad_image`]).
    image: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
    t: Vec<f32>,
    fb1: Vec<f32>,
    fb2: Vec<f32>,
    fb3: Vec<f32>,
    heads: [Vec<f32>; 3],
    /// A row of zeros (the depthwise convolutions' padding above and below).
    zeros: Vec<f32>,
    /// Stem output size: the input padded to a multiple of 32, halved.
    w2: usize,
    h2: usize,
}

impl Workspace {
    /// An empty workspace (buffers grow on first use).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sizes the buffers for a `width × height` input (no allocation when they fit).
    fn prepare(&mut self, width: usize, height: usize) {
        let (pw, ph) = (width.div_ceil(32) * 32, height.div_ceil(32) * 32);
        (self.w2, self.h2) = (pw / 2, ph / 2);
        // The largest maps: stride 2 × 16 channels and stride 4 × 64 channels, both pw·ph·4.
        let big = pw * ph * 4;
        for v in [&mut self.a, &mut self.b] {
            v.resize(big, 0.0);
        }
        // Three rows of the widest row: stride 4 × 64 channels (stride 2 × 16 is half).
        self.t.resize(3 * pw / 4 * 64, 0.0);
        self.zeros.resize(pw / 2 * 64, 0.0);
        self.fb1.resize(pw / 8 * ph / 8 * 64, 0.0);
        self.fb2.resize(pw / 16 * ph / 16 * 64, 0.0);
        self.fb3.resize(pw / 32 * ph / 32 * 64, 0.0);
        for level in 0..3 {
            let (c, r) = self.level_size(level);
            self.heads[level].resize(c * r * HEAD_CHANNELS, 0.0);
        }
    }

    /// Columns and rows of a level's head map (level 0, 1, 2 = stride 8, 16, 32).
    pub fn level_size(&self, level: usize) -> (usize, usize) {
        let stride = 8 << level;
        (self.w2 * 2 / stride, self.h2 * 2 / stride)
    }

    /// The raw head map of a level after [`Network::forward`]: `rows × cols × 16` values,
    /// `[cls, dx, dy, dw, dh, obj, landmark offsets ×10]` before any sigmoid or decoding.
    pub fn head(&self, level: usize) -> &[f32] {
        &self.heads[level]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A network with pseudo-random weights (small, so activations stay in range).
    fn random_network() -> Network {
        let mut s = 12345u32;
        let bytes: Vec<u8> = (0..Network::VALUES)
            .flat_map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.4).to_le_bytes()
            })
            .collect();
        Network::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn every_instruction_set_computes_the_same_heads() {
        let (w, h) = (70, 45); // not multiples of 32: the padding path
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| ((i * 37) % 251) as u8).collect();
        let net = random_network();
        let mut reference = Workspace::new();
        net.clone()
            .with_isa(Isa::Baseline)
            .forward(&rgb, w, h, &mut reference);
        for isa in Isa::available() {
            let mut ws = Workspace::new();
            net.clone().with_isa(isa).forward(&rgb, w, h, &mut ws);
            for level in 0..3 {
                assert_eq!(ws.level_size(level), reference.level_size(level));
                for (a, b) in ws.head(level).iter().zip(reference.head(level)) {
                    assert!(
                        (a - b).abs() <= 1e-3 * (1.0 + b.abs()),
                        "{isa:?} level {level}: {a} vs {b}"
                    );
                }
            }
        }
        assert_eq!(
            reference.level_size(0),
            (12, 8),
            "96×64 padded input at stride 8"
        );
    }

    #[test]
    fn bad_weight_files_are_refused() {
        assert!(
            Network::from_bytes(&[0u8; 16])
                .unwrap_err()
                .to_string()
                .contains("expected")
        );
        let mut nan = vec![0u8; 4 * Network::VALUES];
        nan[4 * 7..4 * 8].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(
            Network::from_bytes(&nan)
                .unwrap_err()
                .to_string()
                .contains("not finite")
        );
    }

    #[test]
    fn a_workspace_serves_inputs_of_changing_size() {
        let net = random_network();
        let mut ws = Workspace::new();
        for (w, h) in [(200, 120), (33, 33), (64, 300)] {
            let rgb = vec![90u8; w * h * 3];
            let faces = net.detect(&rgb, w, h, 0.0, 0.45, &mut ws);
            assert_eq!(ws.level_size(2), (w.div_ceil(32), h.div_ceil(32)));
            assert!(faces.iter().all(|f| f.score.is_finite()));
        }
    }
}
