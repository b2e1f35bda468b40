//! Direct 2-D convolution over channels-last (`HWC`) buffers, with SIMD-width output tiles.
//!
//! In: a zero-padded input buffer `[hp][wp][in_stride]` (the first `cin` channels are used),
//! a [`Conv`] whose weights are laid out `[ky][kx][cin][coutp]` (output channels innermost,
//! padded with zeros to a multiple of [`LANES`]). Out: `cout` channels written at channel offset
//! `out_off` of an `[h][w][out_stride]` buffer.
//!
//! The kernel keeps `R × LANES` accumulators (R output pixels × 16 output channels) in
//! registers and, for every input channel of every tap, multiplies one broadcast input value
//! by one weight vector. The same generic code is compiled three times, for AVX-512, AVX2 and
//! plain x86-64/other targets, and the widest one the CPU has is chosen at run time.

use crate::ShapeError;

/// Output channels per register tile. Weights and biases are padded to a multiple of it.
pub const LANES: usize = 16;

/// A convolution layer with its weights rearranged for [`conv`].
#[derive(Debug, Clone)]
pub struct Conv {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Square kernel side.
    pub k: usize,
    /// Stride (both axes).
    pub stride: usize,
    /// Dilation (both axes).
    pub dilation: usize,
    /// Zero padding on every side that the caller must provide around the input.
    pub pad: usize,
    /// `cout` rounded up to a multiple of [`LANES`].
    coutp: usize,
    /// `[ky][kx][cin][coutp]`.
    weight: Vec<f32>,
    /// `[coutp]`, zeros where the layer has no bias.
    pub(crate) bias: Vec<f32>,
    /// The weights transformed for [`crate::winograd`], for 3×3 stride-1 undilated layers.
    pub(crate) winograd: Option<Box<crate::winograd::Weights>>,
}

impl Conv {
    /// Builds a layer from weights in the PyTorch/burn layout `[cout][cin][k][k]` (row-major).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        dilation: usize,
        pad: usize,
        weight: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<Self, ShapeError> {
        if cin == 0 || cout == 0 || k == 0 || stride == 0 || dilation == 0 {
            return Err(ShapeError(format!("convolution with a zero size: cin {cin}, cout {cout}, k {k}, stride {stride}, dilation {dilation}")));
        }
        if weight.len() != cout * cin * k * k {
            return Err(ShapeError(format!("convolution weight has {} values, expected {cout}·{cin}·{k}·{k}", weight.len())));
        }
        if let Some(b) = bias
            && b.len() != cout
        {
            return Err(ShapeError(format!("convolution bias has {} values, expected {cout}", b.len())));
        }
        let coutp = cout.div_ceil(LANES) * LANES;
        let mut w = vec![0f32; k * k * cin * coutp];
        for co in 0..cout {
            for ci in 0..cin {
                for ky in 0..k {
                    for kx in 0..k {
                        w[((ky * k + kx) * cin + ci) * coutp + co] = weight[((co * cin + ci) * k + ky) * k + kx];
                    }
                }
            }
        }
        let mut b = vec![0f32; coutp];
        if let Some(bias) = bias {
            b[..cout].copy_from_slice(bias);
        }
        let winograd = (k == 3 && stride == 1 && dilation == 1).then(|| Box::new(crate::winograd::Weights::new(cin, cout, weight)));
        Ok(Self { cin, cout, k, stride, dilation, pad, coutp, weight: w, bias: b, winograd })
    }

    /// Output side for an input side `n` (before padding).
    pub fn out_size(&self, n: usize) -> usize {
        (n + 2 * self.pad).saturating_sub(self.dilation * (self.k - 1) + 1) / self.stride + 1
    }

    /// Multiply-accumulates per output pixel (for benchmarks and reports).
    pub fn macs_per_pixel(&self) -> usize {
        self.k * self.k * self.cin * self.cout
    }
}

/// The instruction set the kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F with FMA: 8-pixel tiles of one 512-bit register each.
    Avx512,
    /// AVX2 with FMA: 4-pixel tiles of two 256-bit registers each.
    Avx2,
    /// Whatever the target baseline offers (SSE2 on x86-64), no fused multiply-add.
    Baseline,
}

impl Isa {
    /// The best instruction set this CPU supports.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma") {
                return Self::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                return Self::Avx2;
            }
        }
        Self::Baseline
    }

    /// All instruction sets this CPU can run (for tests comparing them).
    pub fn available() -> Vec<Self> {
        let best = Self::detect();
        [Self::Avx512, Self::Avx2, Self::Baseline].into_iter().skip_while(|&i| i != best).collect()
    }
}

/// Where [`conv`] reads and writes.
pub struct ConvIo<'a> {
    /// Zero-padded input, `[hp][wp][in_stride]`.
    pub input: &'a [f32],
    /// Padded input width.
    pub wp: usize,
    /// Channels per input pixel (≥ `cin`; the first `cin` are read).
    pub in_stride: usize,
    /// Output, `[h][w][out_stride]`.
    pub output: &'a mut [f32],
    /// Output height.
    pub h: usize,
    /// Output width.
    pub w: usize,
    /// Channels per output pixel.
    pub out_stride: usize,
    /// First output channel written.
    pub out_off: usize,
}

/// `output[y][x][out_off + co] = bias[co] + Σ input[y·s + ky·d][x·s + kx·d][ci] · W[co][ci][ky][kx]`.
///
/// # Panics
/// If a buffer is too small for the geometry (checked once, before the unchecked inner loops).
pub fn conv(c: &Conv, io: ConvIo<'_>, isa: Isa) {
    let (h, w) = (io.h, io.w);
    if h == 0 || w == 0 {
        return;
    }
    check_io(c, &io);
    let args = Args {
        c,
        input: io.input.as_ptr(),
        wp: io.wp,
        ins: io.in_stride,
        output: io.output.as_mut_ptr(),
        h,
        w,
        outs: io.out_stride,
        off: io.out_off,
    };
    // SAFETY: the asserts above bound every index the kernels touch (see `tile`), and the
    // feature-specific versions run only where `Isa::detect` found those features.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => conv_avx512(&args),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => conv_avx2(&args),
            _ => conv_baseline(&args),
        }
    }
}

/// Panics unless `io` fits `c` over an `io.h × io.w` output (both at least 1): every input value
/// a kernel reads and every output value it writes lies inside the buffers.
pub(crate) fn check_io(c: &Conv, io: &ConvIo<'_>) {
    let reach = |n: usize| (n - 1) * c.stride + (c.k - 1) * c.dilation + 1;
    assert!(io.in_stride >= c.cin && reach(io.w) <= io.wp, "conv input too narrow");
    // The last value read: the last channel of the bottom right input pixel.
    assert!(((reach(io.h) - 1) * io.wp + reach(io.w) - 1) * io.in_stride + c.cin <= io.input.len(), "conv input too short");
    assert!(io.out_off + c.cout <= io.out_stride && io.h * io.w * io.out_stride <= io.output.len(), "conv output too small");
}

struct Args<'a> {
    c: &'a Conv,
    input: *const f32,
    wp: usize,
    ins: usize,
    output: *mut f32,
    h: usize,
    w: usize,
    outs: usize,
    off: usize,
}

/// Generates a row driver for one instruction set (its attributes come first): full
/// `$r`-pixel tiles along each output row, then one narrower tile for the row's remainder.
macro_rules! rows {
    ($(#[$attr:meta])* $name:ident, $tile:ident, $r:literal) => {
        $(#[$attr])*
        unsafe fn $name(a: &Args<'_>) {
            for y in 0..a.h {
                let mut x0 = 0;
                // SAFETY (all tiles): x0 + width ≤ w, and `conv` checked the buffers.
                while x0 + $r <= a.w {
                    unsafe { $tile::<$r>(a, y, x0) };
                    x0 += $r;
                }
                unsafe {
                    match a.w - x0 {
                        0 => {}
                        1 => $tile::<1>(a, y, x0),
                        2 => $tile::<2>(a, y, x0),
                        3 => $tile::<3>(a, y, x0),
                        4 => $tile::<4>(a, y, x0),
                        5 => $tile::<5>(a, y, x0),
                        6 => $tile::<6>(a, y, x0),
                        7 => $tile::<7>(a, y, x0),
                        _ => unreachable!("tiles are at most 8 pixels wide"),
                    }
                }
            }
        }
    };
}

rows!(
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    conv_avx512, tile_avx512, 8
);
rows!(
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    conv_avx2, tile_avx2, 4
);
// The portable version: plain Rust, left to the compiler's vectoriser for the target baseline.
rows!(conv_baseline, tile, 4);

/// [`tile`] with one 512-bit register per pixel: 16 output channels.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn tile_avx512<const R: usize>(a: &Args<'_>, y: usize, x0: usize) {
    use std::arch::x86_64::*;
    let c = a.c;
    let (k, s, d, cin, coutp) = (c.k, c.stride, c.dilation, c.cin, c.coutp);
    let mut co0 = 0;
    while co0 < coutp {
        // SAFETY: the same bounds as `tile`; bias and weights are padded to LANES.
        unsafe {
            let mut acc = [_mm512_loadu_ps(c.bias.as_ptr().add(co0)); R];
            for ky in 0..k {
                for kx in 0..k {
                    let ibase = a.input.add(((y * s + ky * d) * a.wp + x0 * s + kx * d) * a.ins);
                    let wbase = c.weight.as_ptr().add((ky * k + kx) * cin * coutp + co0);
                    for ci in 0..cin {
                        let wv = _mm512_loadu_ps(wbase.add(ci * coutp));
                        for (r, acc) in acc.iter_mut().enumerate() {
                            *acc = _mm512_fmadd_ps(_mm512_set1_ps(*ibase.add(r * s * a.ins + ci)), wv, *acc);
                        }
                    }
                }
            }
            let n = (c.cout - co0).min(LANES);
            let mask: __mmask16 = if n == LANES { 0xffff } else { (1u16 << n) - 1 };
            for (r, acc) in acc.iter().enumerate() {
                _mm512_mask_storeu_ps(a.output.add((y * a.w + x0 + r) * a.outs + a.off + co0), mask, *acc);
            }
        }
        co0 += LANES;
    }
}

/// [`tile`] with two 256-bit registers per pixel: 16 output channels.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile_avx2<const R: usize>(a: &Args<'_>, y: usize, x0: usize) {
    use std::arch::x86_64::*;
    let c = a.c;
    let (k, s, d, cin, coutp) = (c.k, c.stride, c.dilation, c.cin, c.coutp);
    let mut co0 = 0;
    while co0 < coutp {
        // SAFETY: the same bounds as `tile`; bias and weights are padded to LANES.
        unsafe {
            let b = c.bias.as_ptr().add(co0);
            let mut acc = [[_mm256_loadu_ps(b), _mm256_loadu_ps(b.add(8))]; R];
            for ky in 0..k {
                for kx in 0..k {
                    let ibase = a.input.add(((y * s + ky * d) * a.wp + x0 * s + kx * d) * a.ins);
                    let wbase = c.weight.as_ptr().add((ky * k + kx) * cin * coutp + co0);
                    for ci in 0..cin {
                        let w0 = _mm256_loadu_ps(wbase.add(ci * coutp));
                        let w1 = _mm256_loadu_ps(wbase.add(ci * coutp + 8));
                        for (r, acc) in acc.iter_mut().enumerate() {
                            let v = _mm256_set1_ps(*ibase.add(r * s * a.ins + ci));
                            acc[0] = _mm256_fmadd_ps(v, w0, acc[0]);
                            acc[1] = _mm256_fmadd_ps(v, w1, acc[1]);
                        }
                    }
                }
            }
            let n = (c.cout - co0).min(LANES);
            for (r, acc) in acc.iter().enumerate() {
                let o = a.output.add((y * a.w + x0 + r) * a.outs + a.off + co0);
                if n == LANES {
                    _mm256_storeu_ps(o, acc[0]);
                    _mm256_storeu_ps(o.add(8), acc[1]);
                } else {
                    let mut row = [0f32; LANES];
                    _mm256_storeu_ps(row.as_mut_ptr(), acc[0]);
                    _mm256_storeu_ps(row.as_mut_ptr().add(8), acc[1]);
                    std::ptr::copy_nonoverlapping(row.as_ptr(), o, n);
                }
            }
        }
        co0 += LANES;
    }
}

/// Output pixels `(y, x0 .. x0 + R)`, all output channels, `LANES` at a time.
///
/// Reads input pixels up to `((y·s + (k−1)·d) · wp + (x0+R−1)·s + (k−1)·d) · ins + cin − 1`,
/// which `conv`'s asserts keep inside `input`; writes output values up to
/// `((y·w + x0 + R − 1) · outs + off + cout − 1`, inside `output`.
#[inline(always)]
unsafe fn tile<const R: usize>(a: &Args<'_>, y: usize, x0: usize) {
    let c = a.c;
    let (k, s, d, cin, coutp) = (c.k, c.stride, c.dilation, c.cin, c.coutp);
    let mut co0 = 0;
    while co0 < coutp {
        let mut acc = [[0f32; LANES]; R];
        let bias: &[f32; LANES] = c.bias[co0..co0 + LANES].try_into().expect("bias is padded to LANES");
        for row in acc.iter_mut() {
            *row = *bias;
        }
        for ky in 0..k {
            for kx in 0..k {
                // SAFETY: see the function comment.
                unsafe {
                    let ibase = a.input.add(((y * s + ky * d) * a.wp + x0 * s + kx * d) * a.ins);
                    let wbase = c.weight.as_ptr().add((ky * k + kx) * cin * coutp + co0);
                    for ci in 0..cin {
                        let wv = &*(wbase.add(ci * coutp) as *const [f32; LANES]);
                        for (r, row) in acc.iter_mut().enumerate() {
                            let v = *ibase.add(r * s * a.ins + ci);
                            for j in 0..LANES {
                                row[j] += v * wv[j];
                            }
                        }
                    }
                }
            }
        }
        let n = (c.cout - co0).min(LANES);
        for (r, row) in acc.iter().enumerate() {
            // SAFETY: see the function comment.
            unsafe {
                let o = a.output.add((y * a.w + x0 + r) * a.outs + a.off + co0);
                std::ptr::copy_nonoverlapping(row.as_ptr(), o, n);
            }
        }
        co0 += LANES;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Straightforward reference convolution over an unpadded `[h][w][cin]` input.
    #[allow(clippy::too_many_arguments)]
    fn reference(x: &[f32], h: usize, w: usize, cin: usize, cout: usize, k: usize, s: usize, d: usize, p: usize, wt: &[f32], b: &[f32]) -> Vec<f32> {
        let ho = (h + 2 * p - d * (k - 1) - 1) / s + 1;
        let wo = (w + 2 * p - d * (k - 1) - 1) / s + 1;
        let mut out = vec![0f32; ho * wo * cout];
        for y in 0..ho {
            for xx in 0..wo {
                for co in 0..cout {
                    let mut acc = b[co] as f64;
                    for ci in 0..cin {
                        for ky in 0..k {
                            for kx in 0..k {
                                let iy = (y * s + ky * d) as isize - p as isize;
                                let ix = (xx * s + kx * d) as isize - p as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let v = x[(iy as usize * w + ix as usize) * cin + ci] as f64;
                                acc += v * wt[((co * cin + ci) * k + ky) * k + kx] as f64;
                            }
                        }
                    }
                    out[(y * wo + xx) * cout + co] = acc as f32;
                }
            }
        }
        out
    }

    /// Checks an output written at channel offset 2 of `cout + 3` channels per pixel (the rest
    /// filled with −7 beforehand) against `want` (`cout` per pixel), within 10⁻⁴ relative.
    pub(crate) fn check_output(out: &[f32], want: &[f64], cout: usize, what: &str) {
        let out_stride = cout + 3;
        assert_eq!(out.len() / out_stride, want.len() / cout, "{what}: pixel count");
        for (px, (row, w_row)) in out.chunks_exact(out_stride).zip(want.chunks_exact(cout)).enumerate() {
            for (co, &got) in row.iter().enumerate() {
                if co < 2 || co >= 2 + cout {
                    assert_eq!(got, -7.0, "{what}: channel {co} outside the output was written");
                } else {
                    let w = w_row[co - 2];
                    assert!((got as f64 - w).abs() <= 1e-4 * (1.0 + w.abs()), "{what}: pixel {px} channel {co}: {got} vs {w}");
                }
            }
        }
    }

    /// `n` deterministic values in [−1, 1) (also used by the Winograd tests).
    pub(crate) fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn every_isa_matches_the_reference_convolution() {
        // (h, w, cin, cout, k, stride, dilation, pad): dense 3×3, stem 7×7/2, dilated
        // attention, 1×1 transitions, widths that leave every tile remainder, cout > LANES.
        let cases = [
            (24, 24, 32, 16, 3, 1, 1, 1),
            (48, 48, 1, 32, 7, 2, 1, 3),
            (12, 12, 2, 1, 3, 1, 2, 2),
            (6, 6, 148, 16, 3, 1, 1, 1),
            (12, 12, 112, 56, 1, 1, 1, 0),
            (5, 13, 7, 37, 3, 1, 1, 1),
            (9, 11, 3, 5, 5, 2, 1, 2),
            (7, 7, 4, 3, 3, 3, 2, 0),
        ];
        for (i, &(h, w, cin, cout, k, s, d, p)) in cases.iter().enumerate() {
            let x = noise(h * w * cin, i as u64);
            let wt = noise(cout * cin * k * k, 100 + i as u64);
            let b = noise(cout, 200 + i as u64);
            let want = reference(&x, h, w, cin, cout, k, s, d, p, &wt, &b);
            let c = Conv::new(cin, cout, k, s, d, p, &wt, Some(&b)).unwrap();
            let (ho, wo) = (c.out_size(h), c.out_size(w));
            assert_eq!(ho * wo * cout, want.len());
            // Pad the input, and give it one extra channel per pixel to check in_stride.
            let (hp, wp, stride) = (h + 2 * p, w + 2 * p, cin + 1);
            let mut padded = vec![0f32; hp * wp * stride];
            for yy in 0..h {
                for xx in 0..w {
                    for ci in 0..cin {
                        padded[((yy + p) * wp + xx + p) * stride + ci] = x[(yy * w + xx) * cin + ci];
                    }
                    padded[((yy + p) * wp + xx + p) * stride + cin] = f32::NAN; // never read
                }
            }
            for isa in Isa::available() {
                // Write at channel offset 2 of 3 + cout channels; the rest must stay untouched.
                let out_stride = cout + 3;
                let mut out = vec![-7f32; ho * wo * out_stride];
                conv(&c, ConvIo { input: &padded, wp, in_stride: stride, output: &mut out, h: ho, w: wo, out_stride, out_off: 2 }, isa);
                let want: Vec<f64> = want.iter().map(|&v| v as f64).collect();
                check_output(&out, &want, cout, &format!("case {i} {isa:?}"));
            }
        }
    }

    #[test]
    fn bad_weights_are_rejected() {
        assert!(Conv::new(2, 3, 3, 1, 1, 1, &[0.0; 10], None).is_err());
        assert!(Conv::new(2, 3, 1, 1, 1, 0, &[0.0; 6], Some(&[0.0; 2])).is_err());
        assert!(Conv::new(0, 3, 1, 1, 1, 0, &[], None).is_err());
    }
}
