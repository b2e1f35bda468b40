//! Frame conversion: a decoded FFmpeg frame in, the stage's pixels out.
//!
//! In: an `AVFrame` of any pixel format and colour range, plus the stream's rotation. Out:
//! [`Pixels`]: full-range 8-bit luma (and RGB24 when asked for), tightly packed, upright.
//!
//! Invariants:
//! - Planar and semi-planar YUV and grey frames are read straight from plane 0, limited-range
//!   ("TV", 16–235) luma expanded through a lookup table that matches swscale's `-pix_fmt gray`;
//!   any other format goes through swscale.
//! - RGB always goes through swscale (BT.601, as [`VideoEncoder`](super::VideoEncoder) uses on
//!   the way back) and is rotated exactly like the luma.

use ff::format::Pixel as AvPixel;
use ff::software::scaling::{Context as AvScaler, Flags as AvScalerFlags};
use ff::util::color::Range as AvColorRange;
use ff::util::frame::video::Video as AvFrame;
use ffmpeg_next as ff;

/// Upright pixels of one frame.
pub(super) struct Pixels {
    /// `width * height` full-range luma bytes, row-major, no padding.
    pub(super) gray: Vec<u8>,
    /// `width * height * 3` RGB24 bytes, when the converter was asked for them.
    pub(super) rgb: Option<Vec<u8>>,
    /// Upright width in pixels.
    pub(super) width: u32,
    /// Upright height in pixels.
    pub(super) height: u32,
}

/// Turns decoded frames into [`Pixels`], keeping its swscale contexts from frame to frame.
pub(super) struct FrameConverter {
    /// Clockwise rotation (0/90/180/270) that makes coded frames upright.
    rotation_deg: i32,
    /// Whether to produce RGB24 as well as luma.
    rgb: bool,
    gray_converter: Option<Converter>,
    rgb_converter: Option<Converter>,
}

impl FrameConverter {
    /// A converter for frames that need `rotation_deg` clockwise, with RGB when `rgb` is set.
    pub(super) fn new(rotation_deg: i32, rgb: bool) -> Self {
        Self { rotation_deg, rgb, gray_converter: None, rgb_converter: None }
    }

    /// The upright pixels of `decoded` (which has a non-zero size), or why conversion failed.
    pub(super) fn convert(&mut self, decoded: &AvFrame) -> Result<Pixels, String> {
        let gray = self.gray(decoded)?;
        let (coded_width, coded_height) = (decoded.width() as usize, decoded.height() as usize);
        let rotation = self.rotation_deg;
        let rgb = if self.rgb {
            let converted = Converter::convert(&mut self.rgb_converter, decoded, AvPixel::RGB24)?;
            let rgb = copy_plane0(converted, 3, None).ok_or("RGB conversion produced no pixels")?;
            Some(rotate_pixels(rgb, coded_width, coded_height, 3, rotation).0)
        } else {
            None
        };
        let (gray, width, height) = rotate_pixels(gray, coded_width, coded_height, 1, rotation);
        Ok(Pixels { gray, rgb, width: width as u32, height: height as u32 })
    }

    /// Full-range luma of `decoded`, tightly packed (not yet rotated).
    fn gray(&mut self, decoded: &AvFrame) -> Result<Vec<u8>, String> {
        if let Some(full_range) = luma_plane_range(decoded.format(), decoded.color_range()) {
            let lut = (!full_range).then_some(&LIMITED_TO_FULL_RANGE);
            return copy_plane0(decoded, 1, lut).ok_or_else(|| "decoded frame has no pixel data".to_owned());
        }
        let converted = Converter::convert(&mut self.gray_converter, decoded, AvPixel::GRAY8)?;
        copy_plane0(converted, 1, None).ok_or_else(|| "gray conversion produced no pixels".to_owned())
    }
}

/// A swscale converter (same size, another pixel format) and its reusable output frame:
/// GRAY8 for pixel formats whose first plane is not 8-bit luma, RGB24 for
/// [`Frame::rgb`](super::Frame::rgb).
struct Converter {
    scaler: AvScaler,
    output: AvFrame,
}

// SAFETY: an `SwsContext` and an `AVFrame` are plain heap state with no thread affinity; the
// wrapper is only ever used through `&mut`, so moving it to another thread is sound.
unsafe impl Send for Converter {}

impl Converter {
    /// Converts `input` to `target` with the converter in `slot`, (re)building it when the
    /// input format or size changed; returns the converted frame or why it failed.
    fn convert<'a>(slot: &'a mut Option<Converter>, input: &AvFrame, target: AvPixel) -> Result<&'a AvFrame, String> {
        let (format, width, height) = (input.format(), input.width(), input.height());
        let reusable = slot.as_ref().is_some_and(|c| {
            let from = c.scaler.input();
            (from.format, from.width, from.height) == (format, width, height)
        });
        if !reusable {
            let scaler = AvScaler::get(format, width, height, target, width, height, AvScalerFlags::BILINEAR)
                .map_err(|err| format!("cannot convert pixel format {format:?} to {target:?}: {err}"))?;
            *slot = Some(Converter { scaler, output: AvFrame::empty() });
        }
        let converter = slot.as_mut().ok_or("pixel converter missing")?;
        converter.scaler.run(input, &mut converter.output).map_err(|err| format!("converting {format:?} to {target:?}: {err}"))?;
        Ok(&converter.output)
    }
}
/// For pixel formats whose plane 0 is 8-bit luma: `Some(true)` if it is already full range,
/// `Some(false)` if it is limited range. `None`: convert with swscale instead.
fn luma_plane_range(format: AvPixel, range: AvColorRange) -> Option<bool> {
    match format {
        AvPixel::GRAY8 | AvPixel::YUVJ420P | AvPixel::YUVJ422P | AvPixel::YUVJ444P | AvPixel::YUVJ440P => Some(true),
        AvPixel::YUV420P
        | AvPixel::YUV422P
        | AvPixel::YUV444P
        | AvPixel::YUV410P
        | AvPixel::YUV411P
        | AvPixel::YUV440P
        | AvPixel::YUVA420P
        | AvPixel::YUVA422P
        | AvPixel::YUVA444P
        | AvPixel::NV12
        | AvPixel::NV21
        | AvPixel::NV16
        | AvPixel::NV24
        | AvPixel::NV42 => Some(range == AvColorRange::JPEG),
        _ => None,
    }
}

/// Limited-range luma (16–235) to full range (0–255), rounded and clamped like swscale.
pub(super) static LIMITED_TO_FULL_RANGE: [u8; 256] = limited_to_full_range();

const fn limited_to_full_range() -> [u8; 256] {
    let mut lut = [0_u8; 256];
    let mut value = 0;
    while value < 256 {
        let scaled = if value <= 16 {
            0
        } else {
            // round((value - 16) * 255 / 219)
            (2 * (value - 16) * 255 + 219) / 438
        };
        lut[value] = if scaled > 255 { 255 } else { scaled as u8 };
        value += 1;
    }
    lut
}

/// Copies plane 0 (packed 8-bit samples, `bytes_per_pixel` per pixel) of `frame` row by row
/// into a tightly packed buffer, honouring the line size (which may be padded or negative),
/// optionally through a lookup table.
fn copy_plane0(frame: &AvFrame, bytes_per_pixel: usize, lut: Option<&[u8; 256]>) -> Option<Vec<u8>> {
    let (width, height) = (frame.width() as usize * bytes_per_pixel, frame.height() as usize);
    // SAFETY: reading plain fields of a valid decoded frame.
    let (data, stride) = unsafe {
        let raw = frame.as_ptr();
        ((*raw).data[0], (*raw).linesize[0] as isize)
    };
    if data.is_null() || stride.unsigned_abs() < width {
        return None;
    }
    let mut out = Vec::with_capacity(width * height);
    for row_index in 0..height {
        // SAFETY: FFmpeg guarantees `height` rows of at least `width` bytes, each starting
        // `linesize` bytes after the previous one (possibly backwards), from `data[0]`.
        let row = unsafe { std::slice::from_raw_parts(data.offset(row_index as isize * stride), width) };
        match lut {
            Some(lut) => out.extend(row.iter().map(|&v| lut[usize::from(v)])),
            None => out.extend_from_slice(row),
        }
    }
    Some(out)
}

/// Rotates a tightly packed `width`×`height` image of `bpp` bytes per pixel clockwise by
/// 0/90/180/270 degrees; returns the new buffer and its width and height.
pub(super) fn rotate_pixels(src: Vec<u8>, width: usize, height: usize, bpp: usize, clockwise_deg: i32) -> (Vec<u8>, usize, usize) {
    let pixel = |x: usize, y: usize| &src[(y * width + x) * bpp..][..bpp];
    match clockwise_deg {
        90 => {
            // out(x', y') = src(x = y', y = height - 1 - x'), out is height wide.
            let mut out = vec![0_u8; src.len()];
            for (y_out, row) in out.chunks_exact_mut(height * bpp).enumerate() {
                for (x_out, px) in row.chunks_exact_mut(bpp).enumerate() {
                    px.copy_from_slice(pixel(y_out, height - 1 - x_out));
                }
            }
            (out, height, width)
        }
        180 if bpp == 1 => {
            let mut out = src;
            out.reverse();
            (out, width, height)
        }
        180 => {
            let out = src.chunks_exact(bpp).rev().flatten().copied().collect();
            (out, width, height)
        }
        270 => {
            // out(x', y') = src(x = width - 1 - y', y = x').
            let mut out = vec![0_u8; src.len()];
            for (y_out, row) in out.chunks_exact_mut(height * bpp).enumerate() {
                for (x_out, px) in row.chunks_exact_mut(bpp).enumerate() {
                    px.copy_from_slice(pixel(width - 1 - y_out, x_out));
                }
            }
            (out, height, width)
        }
        _ => (src, width, height),
    }
}
