//! Small grey-image operations shared by the stages: resampling a whole frame and sampling a
//! square region with edge padding. Plain Rust, no allocation beyond the output buffer.
//!
//! In: 8-bit grey images (row-major, tightly packed). Out: resampled 8-bit grey images.

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
        (self.at(x0, y0) * (1.0 - fx) + self.at(x0 + 1, y0) * fx) * (1.0 - fy)
            + (self.at(x0, y0 + 1) * (1.0 - fx) + self.at(x0 + 1, y0 + 1) * fx) * fy
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

/// Resizes a whole image to `dst_w × dst_h` (bilinear, with box pre-averaging when shrinking).
pub fn resize(src: GrayView<'_>, dst_w: usize, dst_h: usize, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(dst_w * dst_h);
    let sx = src.width as f32 / dst_w as f32;
    let sy = src.height as f32 / dst_h as f32;
    let kx = (sx.ceil() as usize).clamp(1, 4);
    let ky = (sy.ceil() as usize).clamp(1, 4);
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

    #[test]
    fn halving_averages_blocks() {
        let data = vec![0u8, 100, 0, 100, 0, 100, 0, 100];
        let src = GrayView { data: &data, width: 4, height: 2 };
        let mut out = Vec::new();
        resize(src, 2, 1, &mut out);
        assert_eq!(out, vec![50, 50]);
    }
}
