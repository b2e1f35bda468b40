//! The network's operations over channels-last (`[row][col][channel]`) f32 maps.
//!
//! In: maps and weights already rearranged by [`crate::Network`] (pointwise weights
//! `[cin][cout]`, depthwise `[9][c]`). Out: the next map, written into a caller-owned buffer.
//!
//! Every kernel is generic over [`V16`] (16 f32 lanes as AVX-512, AVX2, SSE or plain
//! registers) and `#[inline(always)]`: the forward pass instantiates them inside
//! `#[target_feature]` entry points. Channel counts are multiples of [`LANES`]; slices are
//! bounds-checked once per call and the inner loops use raw pointers.

use crate::simd::V16;

/// Channels per vector step; every map's channel count is a multiple of it.
pub const LANES: usize = 16;

/// `N` vectors loaded from `p`, `p + step`, `p + 2·step`, … (a plain loop rather than
/// `array::from_fn`, whose closure debug builds may leave un-inlined in another codegen unit).
///
/// # Safety
/// `p + i·step + 16` must be readable for every `i < N`.
#[inline(always)]
unsafe fn load_rows<S: V16, const N: usize>(p: *const f32, step: usize) -> [S::V; N] {
    unsafe {
        let mut v = [S::splat(0.0); N];
        for (i, r) in v.iter_mut().enumerate() {
            *r = S::load(p.add(i * step));
        }
        v
    }
}

/// Copies an RGB image (`w × h`, 8-bit) into `padded`, f32 with a border of zeros: one pixel
/// above and to the left, and below and to the right up to `pw + 2` columns and `ph + 2` rows
/// (`pw`, `ph` ≥ `w`, `h`), the layout [`stem`] reads.
pub fn pad_image(rgb: &[u8], w: usize, h: usize, pw: usize, ph: usize, padded: &mut Vec<f32>) {
    assert!(rgb.len() >= w * h * 3 && pw >= w && ph >= h);
    let row = (pw + 2) * 3;
    padded.clear();
    padded.resize((ph + 2) * row, 0.0);
    for (y, src) in rgb.chunks_exact(w * 3).take(h).enumerate() {
        let dst = &mut padded[(y + 1) * row + 3..][..w * 3];
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = f32::from(s);
        }
    }
}

/// The stem: a 3×3, stride-2, pad-1 convolution of the image to 16 channels, plus bias and
/// ReLU. `padded` is the image from [`pad_image`] (`(2·out_w + 2) × (2·out_h + 2) × 3`);
/// `weight` is `[27][16]` (tap-major: ky, kx, RGB).
#[inline(always)]
pub fn stem<S: V16>(
    padded: &[f32],
    weight: &[f32],
    bias: &[f32],
    out: &mut [f32],
    out_w: usize,
    out_h: usize,
) {
    let row = (2 * out_w + 2) * 3;
    assert!(
        padded.len() >= (2 * out_h + 2) * row
            && weight.len() >= 27 * LANES
            && bias.len() >= LANES
            && out.len() >= out_w * out_h * LANES
    );
    // SAFETY: the assert bounds every read: output (oy, ox) reads padded rows 2·oy..=2·oy+2
    // and columns 2·ox..=2·ox+2.
    unsafe {
        let wt: [S::V; 27] = load_rows::<S, 27>(weight.as_ptr(), LANES);
        let (b, zero) = (S::load(bias.as_ptr()), S::splat(0.0));
        for oy in 0..out_h {
            let base = padded.as_ptr().add(2 * oy * row);
            for ox in 0..out_w {
                let mut part = [b, zero, zero];
                for (ky, acc) in part.iter_mut().enumerate() {
                    let p = base.add(ky * row + 2 * ox * 3);
                    for t in 0..9 {
                        *acc = S::madd(S::splat(*p.add(t)), wt[ky * 9 + t], *acc);
                    }
                }
                let acc = S::add(part[0], S::add(part[1], part[2]));
                S::store(
                    out.as_mut_ptr().add((oy * out_w + ox) * LANES),
                    S::max(acc, zero),
                );
            }
        }
    }
}

/// A 1×1 convolution of `n` pixels: `out[p][o] = bias[o] + Σ_i input[p][i]·weight[i][o]`.
#[inline(always)]
pub fn pointwise<S: V16>(
    input: &[f32],
    n: usize,
    cin: usize,
    weight: &[f32],
    bias: &[f32],
    cout: usize,
    out: &mut [f32],
) {
    assert!(
        input.len() >= n * cin
            && weight.len() >= cin * cout
            && bias.len() >= cout
            && out.len() >= n * cout
    );
    // SAFETY: the assert bounds every access of the tiles below.
    unsafe {
        if S::REGS == 1 {
            // AVX-512: 32 registers hold 8, 12 or 16 accumulators plus the weights.
            match cout {
                16 => pointwise_tiles::<S, 8, 1>(input, n, cin, weight, bias, cout, 0, out),
                32 => pointwise_tiles::<S, 6, 2>(input, n, cin, weight, bias, cout, 0, out),
                64 => pointwise_tiles::<S, 4, 4>(input, n, cin, weight, bias, cout, 0, out),
                _ => unreachable!("pointwise output channels are 16, 32 or 64"),
            }
        } else {
            // AVX2 and SSE: 16 registers. Tiles of at most 12 accumulator registers (6 × 16
            // channels, 3 × 32); 64 channels go as two 32-channel halves, each reading the
            // input again, rather than spill.
            match cout {
                16 => pointwise_tiles::<S, 6, 1>(input, n, cin, weight, bias, cout, 0, out),
                32 | 64 => {
                    for c0 in (0..cout).step_by(32) {
                        pointwise_tiles::<S, 3, 2>(input, n, cin, weight, bias, cout, c0, out)
                    }
                }
                _ => unreachable!("pointwise output channels are 16, 32 or 64"),
            }
        }
    }
}

/// [`pointwise`]'s output channels `c0 .. c0 + NV·16` (of `cout` per pixel) in tiles of `P`
/// pixels × `NV`·16 channels held in registers; the last pixels, fewer than `P`, one at a time.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pointwise_tiles<S: V16, const P: usize, const NV: usize>(
    input: &[f32],
    n: usize,
    cin: usize,
    weight: &[f32],
    bias: &[f32],
    cout: usize,
    c0: usize,
    out: &mut [f32],
) {
    debug_assert!(c0 + NV * LANES <= cout);
    let (inp, wp, op) = (input.as_ptr(), weight.as_ptr().wrapping_add(c0), out.as_mut_ptr().wrapping_add(c0));
    unsafe {
        let b: [S::V; NV] = load_rows::<S, NV>(bias.as_ptr().add(c0), LANES);
        let mut p0 = 0;
        while p0 + P <= n {
            let mut acc = [b; P];
            for i in 0..cin {
                let wr: [S::V; NV] = load_rows::<S, NV>(wp.add(i * cout), LANES);
                for (p, a) in acc.iter_mut().enumerate() {
                    let x = S::splat(*inp.add((p0 + p) * cin + i));
                    for v in 0..NV {
                        a[v] = S::madd(x, wr[v], a[v]);
                    }
                }
            }
            for (p, a) in acc.iter().enumerate() {
                for v in 0..NV {
                    S::store(op.add((p0 + p) * cout + v * LANES), a[v]);
                }
            }
            p0 += P;
        }
        for p in p0..n {
            let mut a = b;
            for i in 0..cin {
                let x = S::splat(*inp.add(p * cin + i));
                for v in 0..NV {
                    a[v] = S::madd(x, S::load(wp.add(i * cout + v * LANES)), a[v]);
                }
            }
            for v in 0..NV {
                S::store(op.add(p * cout + v * LANES), a[v]);
            }
        }
    }
}

/// A 3×3 depthwise convolution with zero padding 1, plus bias, then ReLU when `relu`.
/// `input` and `out` are `h × w × c`; `weight` is `[9][c]` (ky, kx); `zeros` is a scratch
/// row of at least `w·c` zeros standing in for the rows above and below the map.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn depthwise<S: V16>(
    input: &[f32],
    w: usize,
    h: usize,
    c: usize,
    weight: &[f32],
    bias: &[f32],
    relu: bool,
    zeros: &[f32],
    out: &mut [f32],
) {
    let row = w * c;
    assert!(
        input.len() >= h * row
            && out.len() >= h * row
            && zeros.len() >= row
            && weight.len() >= 9 * c
            && bias.len() >= c
    );
    assert!(c % LANES == 0 && w > 0);
    for y in 0..h {
        let above = if y > 0 {
            &input[(y - 1) * row..y * row]
        } else {
            &zeros[..row]
        };
        let below = if y + 1 < h {
            &input[(y + 1) * row..(y + 2) * row]
        } else {
            &zeros[..row]
        };
        depthwise_row::<S>(
            [above, &input[y * row..(y + 1) * row], below],
            w,
            c,
            weight,
            bias,
            relu,
            &mut out[y * row..(y + 1) * row],
        );
    }
}

/// A pointwise convolution followed by a depthwise one (libfacedetection's
/// `convolutionDP`), fused by rows: the pointwise output lives only in a ring of three rows
/// (`ring`, at least `3·w·cout` values), so the intermediate map never leaves the cache.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn pointwise_depthwise<S: V16>(
    input: &[f32],
    w: usize,
    h: usize,
    cin: usize,
    (pw, pw_bias): (&[f32], &[f32]),
    cout: usize,
    (dw, dw_bias): (&[f32], &[f32]),
    relu: bool,
    (ring, zeros): (&mut [f32], &[f32]),
    out: &mut [f32],
) {
    let (irow, orow) = (w * cin, w * cout);
    assert!(
        input.len() >= h * irow
            && out.len() >= h * orow
            && ring.len() >= 3 * orow
            && zeros.len() >= orow
            && h > 0
    );
    pointwise::<S>(&input[..irow], w, cin, pw, pw_bias, cout, &mut ring[..orow]);
    for y in 0..h {
        if y + 1 < h {
            let slot = (y + 1) % 3;
            pointwise::<S>(
                &input[(y + 1) * irow..(y + 2) * irow],
                w,
                cin,
                pw,
                pw_bias,
                cout,
                &mut ring[slot * orow..(slot + 1) * orow],
            );
        }
        let slot = |r: usize| &ring[(r % 3) * orow..(r % 3 + 1) * orow];
        let above = if y > 0 { slot(y - 1) } else { &zeros[..orow] };
        let below = if y + 1 < h {
            slot(y + 1)
        } else {
            &zeros[..orow]
        };
        depthwise_row::<S>(
            [above, slot(y), below],
            w,
            cout,
            dw,
            dw_bias,
            relu,
            &mut out[y * orow..(y + 1) * orow],
        );
    }
}

/// One output row of a 3×3 depthwise convolution from the three input rows around it
/// (each `w·c` values; zeros where the map ends).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn depthwise_row<S: V16>(
    rows: [&[f32]; 3],
    w: usize,
    c: usize,
    weight: &[f32],
    bias: &[f32],
    relu: bool,
    out: &mut [f32],
) {
    let row = w * c;
    assert!(
        rows.iter().all(|r| r.len() >= row)
            && out.len() >= row
            && weight.len() >= 9 * c
            && bias.len() >= c
    );
    assert!(c % LANES == 0 && w > 0);
    // SAFETY: rows are `w·c` long (asserted); column x-1 is read only for x ≥ 1 and x+1 only
    // for x ≤ w-2.
    unsafe {
        let zero = S::splat(0.0);
        for k0 in (0..c).step_by(LANES) {
            let taps: [S::V; 9] = load_rows::<S, 9>(weight.as_ptr().add(k0), c);
            let b = S::load(bias.as_ptr().add(k0));
            let r = [
                rows[0].as_ptr().add(k0),
                rows[1].as_ptr().add(k0),
                rows[2].as_ptr().add(k0),
            ];
            let dst = out.as_mut_ptr().add(k0);
            for x in 0..w {
                let mut part = [b, zero, zero];
                for (ky, rp) in r.iter().enumerate() {
                    for kx in 0..3 {
                        if (x == 0 && kx == 0) || (x + 1 == w && kx == 2) {
                            continue;
                        }
                        let v = S::load(rp.add((x + kx - 1) * c));
                        part[ky] = S::madd(v, taps[ky * 3 + kx], part[ky]);
                    }
                }
                let acc = S::add(part[0], S::add(part[1], part[2]));
                S::store(dst.add(x * c), if relu { S::max(acc, zero) } else { acc });
            }
        }
    }
}

/// 2×2 max-pooling with stride 2 of an `h × w × c` map (even `w` and `h`).
#[inline(always)]
pub fn maxpool2<S: V16>(input: &[f32], w: usize, h: usize, c: usize, out: &mut [f32]) {
    let (ow, oh) = (w / 2, h / 2);
    assert!(input.len() >= w * h * c && out.len() >= ow * oh * c && c % LANES == 0);
    // SAFETY: bounded by the assert.
    unsafe {
        for y in 0..oh {
            for x in 0..ow {
                let a = input.as_ptr().add(((2 * y) * w + 2 * x) * c);
                let b = input.as_ptr().add(((2 * y + 1) * w + 2 * x) * c);
                let d = out.as_mut_ptr().add((y * ow + x) * c);
                for k in (0..c).step_by(LANES) {
                    let m = S::max(
                        S::max(S::load(a.add(k)), S::load(a.add(c + k))),
                        S::max(S::load(b.add(k)), S::load(b.add(c + k))),
                    );
                    S::store(d.add(k), m);
                }
            }
        }
    }
}

/// `big += nearest-neighbour ×2 upsampling of small` (`small` is `w/2 × h/2 × c`).
#[inline(always)]
pub fn upsample2_add<S: V16>(small: &[f32], big: &mut [f32], w: usize, h: usize, c: usize) {
    let sw = w / 2;
    assert!(
        big.len() >= w * h * c
            && small.len() >= sw * (h / 2) * c
            && c % LANES == 0
            && w % 2 == 0
            && h % 2 == 0
    );
    // SAFETY: bounded by the assert.
    unsafe {
        for y in 0..h {
            for x in 0..w {
                let s = small.as_ptr().add(((y / 2) * sw + x / 2) * c);
                let d = big.as_mut_ptr().add((y * w + x) * c);
                for k in (0..c).step_by(LANES) {
                    S::store(d.add(k), S::add(S::load(d.add(k)), S::load(s.add(k))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::Base;

    fn lcg(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// Plain arrays that claim one register per vector, so that [`pointwise`] takes the
    /// AVX-512 tiling on any machine.
    #[derive(Clone, Copy)]
    struct OneRegister;

    impl V16 for OneRegister {
        type V = [f32; 16];
        const REGS: usize = 1;
        unsafe fn load(p: *const f32) -> Self::V {
            unsafe { (p as *const [f32; 16]).read_unaligned() }
        }
        unsafe fn store(p: *mut f32, v: Self::V) {
            unsafe { (p as *mut [f32; 16]).write_unaligned(v) }
        }
        unsafe fn splat(x: f32) -> Self::V {
            [x; 16]
        }
        unsafe fn madd(a: Self::V, b: Self::V, c: Self::V) -> Self::V {
            std::array::from_fn(|i| a[i] * b[i] + c[i])
        }
        unsafe fn add(a: Self::V, b: Self::V) -> Self::V {
            std::array::from_fn(|i| a[i] + b[i])
        }
        unsafe fn max(a: Self::V, b: Self::V) -> Self::V {
            std::array::from_fn(|i| a[i].max(b[i]))
        }
    }

    #[test]
    fn pointwise_matches_a_plain_product_for_every_width_and_remainder() {
        for &(cin, cout, n) in &[
            (16, 16, 13),
            (32, 64, 9),
            (64, 32, 7),
            (64, 16, 3),
            (16, 32, 1),
            (16, 64, 2),
            (32, 64, 3),
            (16, 16, 5),
        ] {
            let (x, w, b) = (lcg(n * cin, 1), lcg(cin * cout, 2), lcg(cout, 3));
            let mut out = vec![0f32; n * cout];
            pointwise::<Base>(&x, n, cin, &w, &b, cout, &mut out);
            let mut wide = vec![0f32; n * cout];
            pointwise::<OneRegister>(&x, n, cin, &w, &b, cout, &mut wide);
            assert_eq!(out, wide, "the two tilings differ for {cin}->{cout} on {n} pixels");
            for p in 0..n {
                for o in 0..cout {
                    let want: f32 = b[o]
                        + (0..cin)
                            .map(|i| x[p * cin + i] * w[i * cout + o])
                            .sum::<f32>();
                    assert!(
                        (out[p * cout + o] - want).abs() < 1e-5,
                        "{cin}->{cout} p{p} o{o}"
                    );
                }
            }
        }
    }

    #[test]
    fn depthwise_matches_a_padded_reference() {
        let (w, h, c) = (5, 4, 32);
        let (x, k, b) = (lcg(w * h * c, 4), lcg(9 * c, 5), lcg(c, 6));
        let mut out = vec![0f32; w * h * c];
        depthwise::<Base>(&x, w, h, c, &k, &b, true, &vec![0f32; w * c], &mut out);
        for y in 0..h {
            for xx in 0..w {
                for ch in 0..c {
                    let mut want = b[ch];
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (sy, sx) =
                                (y as isize + ky as isize - 1, xx as isize + kx as isize - 1);
                            if sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize {
                                want += x[(sy as usize * w + sx as usize) * c + ch]
                                    * k[(ky * 3 + kx) * c + ch];
                            }
                        }
                    }
                    let got = out[(y * w + xx) * c + ch];
                    assert!(
                        (got - want.max(0.0)).abs() < 1e-5,
                        "y{y} x{xx} c{ch}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn pooling_and_upsampling() {
        let (w, h, c) = (4, 2, 16);
        let x: Vec<f32> = (0..w * h * c).map(|i| i as f32).collect();
        let mut p = vec![0f32; 2 * c];
        maxpool2::<Base>(&x, w, h, c, &mut p);
        // The max of each 2×2 block is its bottom-right pixel in this ramp.
        assert_eq!(p[0], x[(w + 1) * c]);
        assert_eq!(p[c + 5], x[(w + 3) * c + 5]);
        let mut big = vec![1f32; w * h * c];
        upsample2_add::<Base>(&p, &mut big, w, h, c);
        assert_eq!(big[(w + 1) * c + 3], 1.0 + p[3]);
        assert_eq!(big[3 * c + 2], 1.0 + p[c + 2]);
    }

    #[test]
    fn stem_zero_pads_outside_the_image() {
        // A 2×2 white image padded to 4×4: output (0,0) sees all 4 pixels, (1,1) only the
        // one at (1,1).
        let img = vec![255u8; 2 * 2 * 3];
        let mut padded = Vec::new();
        pad_image(&img, 2, 2, 4, 4, &mut padded);
        let w = vec![1f32; 27 * 16];
        let b = vec![0f32; 16];
        let mut out = vec![0f32; 2 * 2 * 16];
        stem::<Base>(&padded, &w, &b, &mut out, 2, 2);
        assert_eq!(out[0], 4.0 * 3.0 * 255.0);
        assert_eq!(out[3 * 16], 1.0 * 3.0 * 255.0);
    }
}
