//! Winograd F(2×2, 3×3) for 3×3, stride-1, undilated convolutions: the dense layers.
//!
//! In: the same [`ConvIo`] as [`conv`] (a zero-padded channels-last input; the output written
//! at a channel offset), a [`Conv`] whose transformed weights [`Conv::new`] prepared, and a
//! work buffer. Out: the direct convolution's values up to float rounding, for 16/36 of its
//! multiply-adds plus the transforms.
//!
//! Every 2×2 output tile comes from its 4×4 input patch `d` as `Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A`
//! (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016). Summed over the
//! input channels, the element-wise products become 16 matrix products `[tiles × cin] ·
//! [cin × cout]`, one per position of the 4×4 transformed tile; those run on the direct
//! convolution's SIMD kernels, as 1×1 convolutions over a row of "pixels" that are tiles. The
//! transforms are additions over channels-last vectors. Tiles are processed in bands of tile
//! rows, so that a band's transformed inputs and products stay in the core's cache.
//!
//! It applies where the output sides are even (whole tiles); [`conv_dense`] falls back to the
//! direct kernels elsewhere.

use crate::conv::{Conv, ConvIo, Isa, check_io, conv};

/// Positions of a transformed 4×4 tile.
const POSITIONS: usize = 16;

/// Floats of work buffer per band (transformed inputs and products): 128 KB, inside L2.
const BAND_FLOATS: usize = 32 * 1024;

/// The 16 matrices `V[p] = (G g Gᵀ)[p]`, each `[cin][coutp]`, as 1×1 convolutions.
#[derive(Debug, Clone)]
pub(crate) struct Weights {
    positions: Vec<Conv>,
}

impl Weights {
    /// Transforms 3×3 weights in the PyTorch layout `[cout][cin][3][3]`.
    pub(crate) fn new(cin: usize, cout: usize, weight: &[f32]) -> Self {
        // G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]
        const G: [[f64; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];
        let mut v = vec![vec![0f32; cin * cout]; POSITIONS];
        for co in 0..cout {
            for ci in 0..cin {
                let g = &weight[(co * cin + ci) * 9..][..9];
                for i in 0..4 {
                    for j in 0..4 {
                        let mut u = 0f64;
                        for a in 0..3 {
                            for b in 0..3 {
                                u += G[i][a] * g[a * 3 + b] as f64 * G[j][b];
                            }
                        }
                        // `Conv::new` takes `[cout][cin]` for a 1×1 kernel.
                        v[i * 4 + j][co * cin + ci] = u as f32;
                    }
                }
            }
        }
        let positions = v.iter().map(|w| Conv::new(cin, cout, 1, 1, 1, 0, w, None).expect("the sizes of a checked 3×3 convolution")).collect();
        Self { positions }
    }
}

/// Whether `c` over an `h × w` output runs as Winograd tiles.
pub fn applies(c: &Conv, h: usize, w: usize) -> bool {
    c.winograd.is_some() && h > 0 && w > 0 && h.is_multiple_of(2) && w.is_multiple_of(2)
}

/// Tile rows per band: as many as fit [`BAND_FLOATS`], at least one.
fn band_rows(c: &Conv, h: usize, w: usize) -> usize {
    (BAND_FLOATS / (POSITIONS * (w / 2).max(1) * (c.cin + c.cout))).clamp(1, (h / 2).max(1))
}

/// Floats of work buffer that [`conv_dense`] needs for `c` over an `h × w` output (0 where the
/// direct kernels run).
pub fn work_len(c: &Conv, h: usize, w: usize) -> usize {
    if !applies(c, h, w) {
        return 0;
    }
    POSITIONS * band_rows(c, h, w) * (w / 2) * (c.cin + c.cout)
}

/// [`conv`] for a dense layer: Winograd tiles where they apply ([`applies`]), the direct
/// kernels elsewhere. `work` grows to one band's size once and is reused.
///
/// # Panics
/// As [`conv`], if a buffer is too small for the geometry.
pub fn conv_dense(c: &Conv, io: ConvIo<'_>, isa: Isa, work: &mut Vec<f32>) {
    let (h, w) = (io.h, io.w);
    let Some(weights) = c.winograd.as_deref().filter(|_| applies(c, h, w)) else {
        return conv(c, io, isa);
    };
    // Whole tiles read exactly what the direct kernels read (padded rows y ..= y+2, columns
    // x ..= x+2 for output (y, x)), so the same check bounds them.
    check_io(c, &io);

    let (cin, cout, tw) = (c.cin, c.cout, w / 2);
    let band_rows = band_rows(c, h, w);
    let need = work_len(c, h, w);
    if work.len() < need {
        work.resize(need, 0.0);
    }
    let mut ty0 = 0;
    while ty0 < h / 2 {
        let rows = band_rows.min(h / 2 - ty0);
        let tiles = rows * tw;
        // Transformed inputs `[position][tile][cin]` and products `[position][tile][cout]`:
        // each position is a row of pixels for the direct kernels.
        let (u, m) = work[..POSITIONS * tiles * (cin + cout)].split_at_mut(POSITIONS * tiles * cin);
        for t in 0..tiles {
            let (y, x) = (2 * (ty0 + t / tw), 2 * (t % tw));
            let patch_rows = [0, 1, 2, 3].map(|r| ((y + r) * io.wp + x) * io.in_stride);
            transform_input(io.input, patch_rows, io.in_stride, &mut u[t * cin..], tiles * cin, cin, isa);
        }
        for (p, vp) in weights.positions.iter().enumerate() {
            let input = &u[p * tiles * cin..][..tiles * cin];
            let output = &mut m[p * tiles * cout..][..tiles * cout];
            conv(vp, ConvIo { input, wp: tiles, in_stride: cin, output, h: 1, w: tiles, out_stride: cout, out_off: 0 }, isa);
        }
        for t in 0..tiles {
            let (y, x) = (2 * (ty0 + t / tw), 2 * (t % tw));
            let at = [(0, 0), (0, 1), (1, 0), (1, 1)].map(|(i, j)| ((y + i) * w + x + j) * io.out_stride + io.out_off);
            transform_output(&m[t * cout..], tiles * cout, &c.bias[..cout], io.output, at, isa);
        }
        ty0 += rows;
    }
}

/// `Bᵀ d B` of the first `n` channels of the 4×4 patch whose rows start at `x[rows[r]]`
/// (pixels `ins` apart) into `u[p·pstride ..][..n]` for the 16 positions `p`.
fn transform_input(x: &[f32], rows: [usize; 4], ins: usize, u: &mut [f32], pstride: usize, n: usize, isa: Isa) {
    // SAFETY: the feature-specific versions run only where `Isa::detect` found the features.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => input_avx512(x, rows, ins, u, pstride, n),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => input_avx2(x, rows, ins, u, pstride, n),
            _ => input_channels(x, rows, ins, u, pstride, n),
        }
    }
}

/// `Aᵀ m A + bias` of every channel of a tile's products (`m[p·pstride ..][..cout]` for the 16
/// positions `p`, `cout = bias.len()`) into the four output pixels that start at `at` in
/// `output` (top left, top right, bottom left, bottom right).
fn transform_output(m: &[f32], pstride: usize, bias: &[f32], output: &mut [f32], at: [usize; 4], isa: Isa) {
    // SAFETY: as in `transform_input`.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => output_avx512(m, pstride, bias, output, at),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => output_avx2(m, pstride, bias, output, at),
            _ => output_channels(m, pstride, bias, output, at),
        }
    }
}

/// Compiles the transforms for one instruction set (its attributes come first).
macro_rules! transforms {
    ($(#[$attr:meta])* $input:ident, $output:ident) => {
        $(#[$attr])*
        unsafe fn $input(x: &[f32], rows: [usize; 4], ins: usize, u: &mut [f32], pstride: usize, n: usize) {
            input_channels(x, rows, ins, u, pstride, n)
        }
        $(#[$attr])*
        unsafe fn $output(m: &[f32], pstride: usize, bias: &[f32], output: &mut [f32], at: [usize; 4]) {
            output_channels(m, pstride, bias, output, at)
        }
    };
}

transforms!(
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    input_avx512,
    output_avx512
);
transforms!(
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    input_avx2,
    output_avx2
);

/// The transforms run over channels in steps of [`STEP`] (one AVX2 register), one column of
/// the tile at a time, so that a step's values stay in registers; the channels that do not
/// fill a step go one at a time.
const STEP: usize = 8;

#[inline(always)]
fn input_channels(x: &[f32], rows: [usize; 4], ins: usize, u: &mut [f32], pstride: usize, n: usize) {
    assert!(n <= ins && rows.iter().all(|&r| r + 3 * ins + n <= x.len()), "Winograd patch outside the input");
    assert!(15 * pstride + n <= u.len(), "Winograd positions outside the work buffer");
    let mut c0 = 0;
    // SAFETY (both loops): every patch pixel's channels c0 .. c0 + L ≤ n lie inside `x`, and
    // every position's inside `u` (the asserts).
    while c0 + STEP <= n {
        unsafe { input_step::<STEP>(x, rows, ins, c0, pstride, u) };
        c0 += STEP;
    }
    for c in c0..n {
        unsafe { input_step::<1>(x, rows, ins, c, pstride, u) };
    }
}

/// Channels `c0 .. c0 + L` of [`transform_input`]: `U = Bᵀ d B` with
/// `Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]`.
///
/// # Safety
/// `rows[r] + 3·ins + c0 + L ≤ x.len()` for every row and `15·pstride + c0 + L ≤ u.len()`.
#[inline(always)]
unsafe fn input_step<const L: usize>(x: &[f32], rows: [usize; 4], ins: usize, c0: usize, pstride: usize, u: &mut [f32]) {
    // SAFETY: the caller's bounds.
    let d = |r: usize, col: usize| unsafe { x.as_ptr().add(rows[r] + col * ins + c0).cast::<[f32; L]>().read_unaligned() };
    let out = u.as_mut_ptr();
    for j in 0..4 {
        // Column j of d B for each patch row …
        let mut e = [[0f32; L]; 4];
        for (r, er) in e.iter_mut().enumerate() {
            *er = match j {
                0 => sub(d(r, 0), d(r, 2)),
                1 => add(d(r, 1), d(r, 2)),
                2 => sub(d(r, 2), d(r, 1)),
                _ => sub(d(r, 1), d(r, 3)),
            };
        }
        // … then Bᵀ over the rows: positions p = i·4 + j.
        let column = [sub(e[0], e[2]), add(e[1], e[2]), sub(e[2], e[1]), sub(e[1], e[3])];
        for (i, v) in column.iter().enumerate() {
            // SAFETY: position 4i + j, channels c0 .. c0 + L: the caller's bounds.
            unsafe { out.add((4 * i + j) * pstride + c0).cast::<[f32; L]>().write_unaligned(*v) };
        }
    }
}

#[inline(always)]
fn output_channels(m: &[f32], pstride: usize, bias: &[f32], output: &mut [f32], at: [usize; 4]) {
    let n = bias.len();
    assert!(15 * pstride + n <= m.len() && at.iter().all(|&a| a + n <= output.len()), "Winograd tile outside the output");
    let mut c0 = 0;
    // SAFETY (both loops): the assert bounds every read and write of channels c0 .. c0 + L ≤ n.
    while c0 + STEP <= n {
        unsafe { output_step::<STEP>(m, pstride, bias, c0, output, at) };
        c0 += STEP;
    }
    for c in c0..n {
        unsafe { output_step::<1>(m, pstride, bias, c, output, at) };
    }
}

/// Channels `c0 .. c0 + L` of [`transform_output`]: `Y = Aᵀ m A + bias` with
/// `Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]`.
///
/// # Safety
/// `c0 + L ≤ bias.len() = n`, `15·pstride + n ≤ m.len()`, and `at[k] + n ≤ output.len()`.
#[inline(always)]
unsafe fn output_step<const L: usize>(m: &[f32], pstride: usize, bias: &[f32], c0: usize, output: &mut [f32], at: [usize; 4]) {
    // SAFETY: the caller's bounds.
    let (b, mp) = unsafe { (bias.as_ptr().add(c0).cast::<[f32; L]>().read_unaligned(), m.as_ptr().add(c0)) };
    let mp = |p: usize| unsafe { mp.add(p * pstride).cast::<[f32; L]>().read_unaligned() };
    let out = output.as_mut_ptr();
    for i in 0..2 {
        // Row i of Aᵀ m …
        let mut s = [[0f32; L]; 4];
        for (col, sc) in s.iter_mut().enumerate() {
            *sc = match i {
                0 => add(add(mp(col), mp(4 + col)), mp(8 + col)),
                _ => sub(sub(mp(4 + col), mp(8 + col)), mp(12 + col)),
            };
        }
        // … then A over the columns: output pixels (i, 0) and (i, 1).
        let y0 = add(add(add(s[0], s[1]), s[2]), b);
        let y1 = add(sub(sub(s[1], s[2]), s[3]), b);
        // SAFETY: the caller's bounds.
        unsafe {
            out.add(at[2 * i] + c0).cast::<[f32; L]>().write_unaligned(y0);
            out.add(at[2 * i + 1] + c0).cast::<[f32; L]>().write_unaligned(y1);
        }
    }
}

#[inline(always)]
fn add<const L: usize>(mut a: [f32; L], b: [f32; L]) -> [f32; L] {
    for i in 0..L {
        a[i] += b[i];
    }
    a
}

#[inline(always)]
fn sub<const L: usize>(mut a: [f32; L], b: [f32; L]) -> [f32; L] {
    for i in 0..L {
        a[i] -= b[i];
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::tests::{check_output, noise};

    /// Straightforward 3×3 stride-1 convolution of a padded `[hp][wp][ins]` input, in f64.
    #[allow(clippy::too_many_arguments)]
    fn reference(x: &[f32], wp: usize, ins: usize, h: usize, w: usize, cin: usize, cout: usize, wt: &[f32], b: &[f32]) -> Vec<f64> {
        let mut out = vec![0f64; h * w * cout];
        for y in 0..h {
            for xx in 0..w {
                for co in 0..cout {
                    let mut acc = b[co] as f64;
                    for ky in 0..3 {
                        for kx in 0..3 {
                            for ci in 0..cin {
                                acc += x[((y + ky) * wp + xx + kx) * ins + ci] as f64 * wt[((co * cin + ci) * 3 + ky) * 3 + kx] as f64;
                            }
                        }
                    }
                    out[(y * w + xx) * cout + co] = acc;
                }
            }
        }
        out
    }

    #[test]
    fn tiles_match_the_direct_convolution_on_every_isa() {
        // (h, w, cin, cout, pad): the compact and wide networks' dense layers (24², 12², 6²;
        // growth 16, 24, 32), several bands with a short last one (24² × 96 channels), channel
        // counts that leave a tail in both transforms, a valid (unpadded) convolution, and odd
        // sides, which fall back to the direct kernels.
        let cases = [
            (24, 24, 32, 16, 1),
            (24, 24, 96, 16, 1),
            (12, 12, 56, 24, 1),
            (6, 6, 148, 16, 1),
            (6, 6, 120, 32, 1),
            (8, 10, 5, 37, 1),
            (4, 6, 19, 3, 0),
            (5, 7, 3, 4, 1),
        ];
        for (i, &(h, w, cin, cout, pad)) in cases.iter().enumerate() {
            let (hp, wp) = (h + 2, w + 2);
            let ins = cin + 1; // one extra channel per pixel, never read
            let mut x = noise(hp * wp * ins, i as u64);
            for px in 0..hp * wp {
                x[px * ins + cin] = f32::NAN;
                let (py, pxx) = (px / wp, px % wp);
                if pad == 1 && (py == 0 || pxx == 0 || py == hp - 1 || pxx == wp - 1) {
                    x[px * ins..px * ins + cin].fill(0.0);
                }
            }
            let wt = noise(cout * cin * 9, 100 + i as u64);
            let b = noise(cout, 200 + i as u64);
            let c = Conv::new(cin, cout, 3, 1, 1, pad, &wt, Some(&b)).unwrap();
            assert_eq!(c.out_size(h + 2 - 2 * pad), h);
            assert_eq!(applies(&c, h, w), h % 2 == 0 && w % 2 == 0, "case {i}");
            let want = reference(&x, wp, ins, h, w, cin, cout, &wt, &b);
            let mut work = Vec::new();
            for isa in Isa::available() {
                let out_stride = cout + 3;
                let mut out = vec![-7f32; h * w * out_stride];
                let io = ConvIo { input: &x, wp, in_stride: ins, output: &mut out, h, w, out_stride, out_off: 2 };
                conv_dense(&c, io, isa, &mut work);
                check_output(&out, &want, cout, &format!("case {i} {isa:?}"));
            }
        }
    }

    #[test]
    fn only_3x3_stride_1_undilated_layers_get_tiles() {
        let w = |cin: usize, cout: usize, k: usize| noise(cin * cout * k * k, 7);
        assert!(Conv::new(4, 8, 3, 1, 1, 1, &w(4, 8, 3), None).unwrap().winograd.is_some());
        assert!(Conv::new(4, 8, 3, 1, 2, 2, &w(4, 8, 3), None).unwrap().winograd.is_none());
        assert!(Conv::new(4, 8, 3, 2, 1, 1, &w(4, 8, 3), None).unwrap().winograd.is_none());
        assert!(Conv::new(1, 8, 7, 2, 1, 3, &w(1, 8, 7), None).unwrap().winograd.is_none());
        assert!(Conv::new(4, 8, 1, 1, 1, 0, &w(4, 8, 1), None).unwrap().winograd.is_none());
    }
}
