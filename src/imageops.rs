//! Small image operations shared by the stages: resampling a whole frame (grey or RGB) and
//! sampling a square region with edge padding. Plain Rust, no allocation beyond the output
//! buffer.
//!
//! In: 8-bit grey or RGB24 images (row-major, tightly packed). Out: resampled 8-bit images.

/// A borrowed grey image.
#[derive(Debug, Clone, Copy)]
pub struct GrayView<'a> {
    /// Pixels, `width * height` bytes.
    pub data: &'a [u8],
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

impl GrayView<'_> {
    #[inline]
    fn at(&self, x: isize, y: isize) -> f32 {
        let x = x.clamp(0, self.width as isize - 1) as usize;
        let y = y.clamp(0, self.height as isize - 1) as usize;
        self.data[y * self.width + x] as f32
    }

    /// Bilinear sample at real coordinates (pixel centres at integers), edges replicated.
    #[inline]
    pub fn bilinear(&self, x: f32, y: f32) -> f32 {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (x0, y0) = (x0 as isize, y0 as isize);
        (self.at(x0, y0) * (1.0 - fx) + self.at(x0 + 1, y0) * fx) * (1.0 - fy) + (self.at(x0, y0 + 1) * (1.0 - fx) + self.at(x0 + 1, y0 + 1) * fx) * fy
    }
}

/// Samples the axis-aligned square `[x0, x0+side) × [y0, y0+side)` of `src` (source pixel
/// units, may extend past the edges: replicated border) into `out_side × out_side` bytes.
/// Downscaling averages `k × k` bilinear taps per output pixel (k = ⌈scale⌉, at most 4) so
/// large faces do not alias.
pub fn sample_square(src: GrayView<'_>, x0: f32, y0: f32, side: f32, out_side: usize, out: &mut Vec<u8>) {
    out.clear();
    let scale = side / out_side as f32;
    let k = (scale.ceil() as usize).clamp(1, 4);
    let inv_k = 1.0 / k as f32;
    for oy in 0..out_side {
        for ox in 0..out_side {
            let mut acc = 0.0;
            for sy in 0..k {
                for sx in 0..k {
                    let u = x0 + (ox as f32 + (sx as f32 + 0.5) * inv_k) * scale - 0.5;
                    let v = y0 + (oy as f32 + (sy as f32 + 0.5) * inv_k) * scale - 0.5;
                    acc += src.bilinear(u, v);
                }
            }
            out.push((acc * inv_k * inv_k).round().clamp(0.0, 255.0) as u8);
        }
    }
}

/// Resizes a whole image to `dst_w × dst_h` (bilinear, with box pre-averaging when shrinking:
/// each output pixel averages `k × k` bilinear taps, `k = ⌈scale⌉` at most 4, edges
/// replicated).
///
/// The filter is separable, so it runs as a horizontal pass into a reused per-thread buffer
/// followed by a vertical pass, with the taps' indices and weights computed once per call.
/// This is the detector's per-frame rescale, so it is kept cheap (the naive 2-D form cost
/// about as much as a fifth of the detection itself).
pub fn resize(src: GrayView<'_>, dst_w: usize, dst_h: usize, out: &mut Vec<u8>) {
    resize_interleaved::<1>(src.data, src.width, src.height, dst_w, dst_h, out);
}

/// [`resize`] for an RGB24 image (`width × height × 3` bytes, row-major, no padding).
pub fn resize_rgb(rgb: &[u8], width: usize, height: usize, dst_w: usize, dst_h: usize, out: &mut Vec<u8>) {
    resize_interleaved::<3>(rgb, width, height, dst_w, dst_h, out);
}

/// [`resize`] over `C` interleaved channels.
fn resize_interleaved<const C: usize>(src: &[u8], width: usize, height: usize, dst_w: usize, dst_h: usize, out: &mut Vec<u8>) {
    out.clear();
    if dst_w == 0 || dst_h == 0 || width == 0 || height == 0 {
        return;
    }
    let tx = Taps::new(width, dst_w);
    let ty = Taps::new(height, dst_h);
    let row_len = dst_w * C;
    thread_local! {
        static ROWS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    ROWS.with(|rows| {
        let mut rows = rows.borrow_mut();
        // Horizontal pass over every source row: rows[sy * row_len + x * C + c].
        rows.clear();
        rows.resize(height * row_len, 0.0);
        for (sy, row) in src.chunks_exact(width * C).take(height).enumerate() {
            let dst = &mut rows[sy * row_len..(sy + 1) * row_len];
            for (x, d) in dst.chunks_exact_mut(C).enumerate() {
                for (c, v) in d.iter_mut().enumerate() {
                    *v = tx.apply(x, |i| f32::from(row[i * C + c]));
                }
            }
        }
        // Vertical pass, row by row (the inner loop runs over contiguous x).
        out.resize(row_len * dst_h, 0);
        let mut acc = vec![0f32; row_len];
        for (y, dst) in out.chunks_exact_mut(row_len).enumerate() {
            acc.iter_mut().for_each(|a| *a = 0.0);
            for t in 0..ty.per {
                let (sy, w) = (ty.index[y * ty.per + t] as usize, ty.weight[y * ty.per + t]);
                for (a, &r) in acc.iter_mut().zip(&rows[sy * row_len..(sy + 1) * row_len]) {
                    *a += w * r;
                }
            }
            for (d, &a) in dst.iter_mut().zip(&acc) {
                *d = a.round().clamp(0.0, 255.0) as u8;
            }
        }
    });
}

/// The 1-D resampling filter of [`resize`] along one axis: for each output position, `per`
/// source indices (clamped to the edge) and weights summing to 1.
struct Taps {
    per: usize,
    index: Vec<u32>,
    weight: Vec<f32>,
}

impl Taps {
    fn new(src_len: usize, dst_len: usize) -> Self {
        let scale = src_len as f32 / dst_len as f32;
        let k = (scale.ceil() as usize).clamp(1, 4);
        let per = 2 * k;
        let mut index = Vec::with_capacity(dst_len * per);
        let mut weight = Vec::with_capacity(dst_len * per);
        let last = src_len as isize - 1;
        for o in 0..dst_len {
            for i in 0..k {
                // Same tap positions as the 2-D form: k sub-samples per output pixel.
                let u = (o as f32 + (i as f32 + 0.5) / k as f32) * scale - 0.5;
                let u0 = u.floor();
                let f = u - u0;
                let u0 = u0 as isize;
                index.push(u0.clamp(0, last) as u32);
                weight.push((1.0 - f) / k as f32);
                index.push((u0 + 1).clamp(0, last) as u32);
                weight.push(f / k as f32);
            }
        }
        Self { per, index, weight }
    }

    #[inline]
    fn apply(&self, o: usize, px: impl Fn(usize) -> f32) -> f32 {
        let base = o * self.per;
        (0..self.per).map(|t| self.weight[base + t] * px(self.index[base + t] as usize)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_square_copies_pixels() {
        let data: Vec<u8> = (0..16).map(|i| i * 10).collect();
        let src = GrayView { data: &data, width: 4, height: 4 };
        let mut out = Vec::new();
        sample_square(src, 0.0, 0.0, 4.0, 4, &mut out);
        assert_eq!(out, data);
    }

    #[test]
    fn outside_the_frame_is_edge_padded() {
        let data = vec![7u8; 16];
        let src = GrayView { data: &data, width: 4, height: 4 };
        let mut out = Vec::new();
        sample_square(src, -10.0, -10.0, 30.0, 6, &mut out);
        assert!(out.iter().all(|&v| v == 7));
    }

    /// The direct 2-D form of [`resize`]'s filter, as the reference for the separable one.
    fn resize_reference(src: GrayView<'_>, dst_w: usize, dst_h: usize) -> Vec<u8> {
        let sx = src.width as f32 / dst_w as f32;
        let sy = src.height as f32 / dst_h as f32;
        let kx = (sx.ceil() as usize).clamp(1, 4);
        let ky = (sy.ceil() as usize).clamp(1, 4);
        let mut out = Vec::new();
        for y in 0..dst_h {
            for x in 0..dst_w {
                let mut acc = 0.0;
                for j in 0..ky {
                    for i in 0..kx {
                        let u = (x as f32 + (i as f32 + 0.5) / kx as f32) * sx - 0.5;
                        let v = (y as f32 + (j as f32 + 0.5) / ky as f32) * sy - 0.5;
                        acc += src.bilinear(u, v);
                    }
                }
                out.push((acc / (kx * ky) as f32).round().clamp(0.0, 255.0) as u8);
            }
        }
        out
    }

    #[test]
    fn separable_resize_matches_the_two_dimensional_filter() {
        // A deterministic textured image (no RNG dependency needed).
        let (w, h) = (37, 23);
        let data: Vec<u8> = (0..w * h).map(|i| ((i * 73 + (i / w) * 31) % 256) as u8).collect();
        let src = GrayView { data: &data, width: w, height: h };
        let mut out = Vec::new();
        for (dw, dh) in [(37, 23), (74, 46), (61, 40), (18, 11), (9, 5), (50, 12), (3, 60)] {
            resize(src, dw, dh, &mut out);
            let reference = resize_reference(src, dw, dh);
            assert_eq!(out.len(), reference.len());
            // Float summation order differs, so a value on a .5 boundary may round either way.
            let worst = out.iter().zip(&reference).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(0);
            assert!(worst <= 1, "{dw}x{dh}: differs by {worst}");
        }
    }

    #[test]
    fn halving_averages_blocks() {
        let data = vec![0u8, 100, 0, 100, 0, 100, 0, 100];
        let src = GrayView { data: &data, width: 4, height: 2 };
        let mut out = Vec::new();
        resize(src, 2, 1, &mut out);
        assert_eq!(out, vec![50, 50]);
    }
}
