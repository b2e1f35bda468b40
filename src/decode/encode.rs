//! The way back out: RGB frames in, a video file out (the annotated footage of
//! `fer-batch annotate`).
//!
//! In: tightly packed RGB24 frames of one size, each with the [`Pts`] of the source frame it
//! was drawn on. Out: one video stream in the container named by the output's extension
//! (`.mp4`, `.mkv`, `.mov`, …), written to a hidden temporary file beside it and renamed into
//! place by [`VideoEncoder::finish`]; an encoder dropped without `finish`, or one that fails,
//! leaves nothing behind.
//!
//! Invariants:
//! - Codec: H.264 (`libx264`, `preset=veryfast`, `crf=20`) when the system FFmpeg has it,
//!   else MPEG-4 Part 2 (`mpeg4`, always built in), else [`EncodeError::NoEncoder`].
//!   Pixels are converted to `yuv420p` (BT.601, limited range), which players expect.
//! - `yuv420p` needs even dimensions: an odd last column or row is **cropped** (dropped), so a
//!   601×335 source becomes a 600×334 video; nothing is rescaled. [`VideoEncoder::size`] says
//!   what was written.
//! - Timestamps are the source's: frames keep their pts in the source time base (the muxer
//!   may pick a finer time base, e.g. MP4 multiplies 1/2997 up to 1/11988, which is exact),
//!   and each frame lasts until the next one's pts; the last lasts as long as the frame
//!   before it (else one nominal frame). So frame count and duration match the source.
//!   MPEG-4 Part 2 cannot store time bases finer than 1/65535; for such sources (e.g. MPEG-TS,
//!   1/90000) the fallback rounds timestamps to its coarser time base.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ff::Dictionary as AvDictionary;
use ff::Packet as AvPacket;
use ff::Rescale as _;
use ff::codec::Context as AvCodecContext;
use ff::codec::Flags as AvCodecFlags;
use ff::encoder::video::Encoder as AvVideoEncoder;
use ff::ffi as av_sys;
use ff::format::Pixel as AvPixel;
use ff::format::context::Output as AvOutput;
use ff::software::scaling::{Context as AvScaler, Flags as AvScalerFlags};
use ff::util::color::{Range as AvColorRange, Space as AvColorSpace};
use ff::util::frame::video::Video as AvFrame;
use ffmpeg_next as ff;

use super::{Pts, Rational};

/// Encoders tried in order, with the options each is opened with.
const ENCODERS: &[(&str, &[(&str, &str)])] = &[("libx264", &[("preset", "veryfast"), ("crf", "20")]), ("mpeg4", &[])];

/// MPEG-4 Part 2 stores the time base denominator in 16 bits.
const MPEG4_MAX_TIME_BASE_DEN: i32 = 65_535;

/// Why a video could not be written. Every message names the output file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The system FFmpeg has none of the encoders this module knows.
    #[error("{}: this FFmpeg build has no H.264 (libx264) or MPEG-4 Part 2 (mpeg4) encoder", .path.display())]
    NoEncoder {
        /// The output file.
        path: PathBuf,
    },
    /// The output could not be created, or the encoder or container refused the settings.
    #[error("{}: cannot create the video: {reason}", .path.display())]
    Open {
        /// The output file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A frame does not fit the encoder (wrong size, timestamp not after the previous one).
    #[error("{}: bad frame: {reason}", .path.display())]
    BadFrame {
        /// The output file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Encoding, writing or the final rename failed.
    #[error("{}: writing the video failed: {reason}", .path.display())]
    Write {
        /// The output file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// What [`VideoEncoder::finish`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodeSummary {
    /// The video file (renamed into place).
    pub path: PathBuf,
    /// FFmpeg's name of the encoder used (`libx264` or `mpeg4`).
    pub encoder: &'static str,
    /// Frames written.
    pub frames: u64,
    /// Encoded width (the input width, minus one if it was odd).
    pub width: u32,
    /// Encoded height (the input height, minus one if it was odd).
    pub height: u32,
}

/// Writes RGB frames with source timestamps to a video file; see the module docs.
///
/// ```no_run
/// use fer_batch::decode::{DecodeOptions, Decoder, VideoEncoder};
/// let opts = DecodeOptions { rgb: true, ..DecodeOptions::default() };
/// let mut decoder = Decoder::open("in.mp4".as_ref(), &opts)?;
/// let info = decoder.info().clone();
/// let mut encoder = VideoEncoder::create("out.mp4".as_ref(), info.width, info.height, info.time_base, info.avg_fps)?;
/// for frame in &mut decoder {
///     let frame = frame?;
///     encoder.push_rgb(frame.rgb.as_deref().unwrap_or_default(), frame.pts)?;
/// }
/// encoder.finish()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct VideoEncoder {
    final_path: PathBuf,
    temp_path: PathBuf,
    /// `None` once closed (finish, or drop before removing the temporary file).
    output: Option<AvOutput>,
    encoder: AvVideoEncoder,
    encoder_name: &'static str,
    converter: AvScaler,
    rgb_frame: AvFrame,
    yuv_frame: AvFrame,
    /// Input frame size (RGB).
    width: u32,
    height: u32,
    /// Encoded size (even).
    encoded_width: u32,
    encoded_height: u32,
    source_time_base: Rational,
    encoder_time_base: ff::Rational,
    stream_time_base: ff::Rational,
    /// Duration (encoder ticks) of each frame sent whose packet has not been written yet.
    durations: BTreeMap<i64, i64>,
    /// Last frame's pts in source ticks, and in encoder ticks.
    last_source_pts: Option<i64>,
    last_pts: Option<i64>,
    last_step: Option<i64>,
    /// One frame at the nominal rate, in encoder ticks (duration of a single-frame video).
    nominal_step: i64,
    frames: u64,
}

impl std::fmt::Debug for VideoEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoEncoder")
            .field("path", &self.final_path)
            .field("encoder", &self.encoder_name)
            .field("size", &(self.encoded_width, self.encoded_height))
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl VideoEncoder {
    /// Creates `path` (through a temporary file beside it) for `width`×`height` RGB frames
    /// whose timestamps are in `time_base` (the source stream's); `frame_rate` is the
    /// source's average rate, used for rate control and the container's rate field.
    pub fn create(path: &Path, width: u32, height: u32, time_base: Rational, frame_rate: Option<f64>) -> Result<Self, EncodeError> {
        super::init();
        let open_err = |reason: String| EncodeError::Open { path: path.to_owned(), reason };
        let (encoded_width, encoded_height) = (width & !1, height & !1);
        if encoded_width == 0 || encoded_height == 0 {
            return Err(open_err(format!("frame size {width}x{height} is too small to encode")));
        }
        if !time_base.is_positive() {
            return Err(open_err(format!("invalid source time base {time_base}")));
        }
        if path.to_str().is_none() {
            return Err(open_err("the path is not valid UTF-8".to_owned()));
        }
        let (encoder_name, codec, options) = ENCODERS
            .iter()
            .find_map(|&(name, options)| Some((name, ff::encoder::find_by_name(name)?, options)))
            .ok_or_else(|| EncodeError::NoEncoder { path: path.to_owned() })?;

        let source_tb = ff::Rational::new(time_base.num, time_base.den);
        let encoder_time_base = if encoder_name == "mpeg4" && time_base.den > MPEG4_MAX_TIME_BASE_DEN {
            let den = frame_rate
                .map(|fps| (fps * 1000.0).round())
                .filter(|den| den.is_finite() && *den >= 1.0)
                .map_or(MPEG4_MAX_TIME_BASE_DEN, |den| (den as i32).min(MPEG4_MAX_TIME_BASE_DEN));
            ff::Rational::new(1, den)
        } else {
            source_tb
        };
        let rate = frame_rate.filter(|fps| fps.is_finite() && *fps > 0.0).map(ff::Rational::from).filter(|rate| rate.numerator() > 0 && rate.denominator() > 0);
        let nominal_step = rate.map(|rate| 1_i64.rescale(rate.invert(), encoder_time_base)).filter(|step| *step > 0).unwrap_or(1);

        let temp_path = temp_path_for(path);
        let mut guard = RemoveOnDrop(Some(temp_path.clone()));
        let mut output = ff::format::output(&temp_path)
            .map_err(|err| open_err(format!("no container for this file name ({err}); use an extension such as .mp4 or .mkv")))?;
        let global_header = output.format().flags().contains(ff::format::Flags::GLOBAL_HEADER);

        let mut encoder = AvCodecContext::new_with_codec(codec).encoder().video().map_err(|err| open_err(format!("{encoder_name}: {err}")))?;
        encoder.set_width(encoded_width);
        encoder.set_height(encoded_height);
        encoder.set_format(AvPixel::YUV420P);
        encoder.set_time_base(encoder_time_base);
        if let Some(rate) = rate {
            encoder.set_frame_rate(Some(rate));
        }
        encoder.set_color_range(AvColorRange::MPEG);
        encoder.set_colorspace(AvColorSpace::SMPTE170M);
        let mut flags = AvCodecFlags::empty();
        if global_header {
            flags |= AvCodecFlags::GLOBAL_HEADER;
        }
        if encoder_name == "mpeg4" {
            // Constant quantiser 3 (good quality), as `-q:v 3` does.
            flags |= AvCodecFlags::QSCALE;
            encoder.set_global_quality(3 * av_sys::FF_QP2LAMBDA);
        }
        encoder.set_flags(flags);
        let mut dictionary = AvDictionary::new();
        for (key, value) in options {
            dictionary.set(key, value);
        }
        let encoder = encoder.open_as_with(codec, dictionary).map_err(|err| open_err(format!("opening encoder {encoder_name}: {err}")))?;

        let mut stream = output.add_stream(codec).map_err(|err| open_err(format!("adding the video stream: {err}")))?;
        stream.set_parameters(&encoder);
        stream.set_time_base(source_tb);
        if let Some(rate) = rate {
            stream.set_avg_frame_rate(rate);
        }
        // `set_parameters` leaves the codec tag of the encoder context (0: the muxer picks).
        output.write_header().map_err(|err| open_err(format!("writing the container header: {err}")))?;
        let stream_time_base = output.stream(0).map(|s| s.time_base()).filter(|tb| tb.numerator() > 0 && tb.denominator() > 0).unwrap_or(source_tb);

        let converter = AvScaler::get(AvPixel::RGB24, encoded_width, encoded_height, AvPixel::YUV420P, encoded_width, encoded_height, AvScalerFlags::BILINEAR)
            .map_err(|err| open_err(format!("RGB to yuv420p converter: {err}")))?;

        tracing::debug!(
            path = ?path,
            encoder = encoder_name,
            width = encoded_width,
            height = encoded_height,
            %time_base,
            stream_time_base = %stream_time_base,
            "opened video encoder"
        );
        guard.0 = None;
        Ok(Self {
            final_path: path.to_owned(),
            temp_path,
            output: Some(output),
            encoder,
            encoder_name,
            converter,
            rgb_frame: AvFrame::new(AvPixel::RGB24, encoded_width, encoded_height),
            yuv_frame: AvFrame::new(AvPixel::YUV420P, encoded_width, encoded_height),
            width,
            height,
            encoded_width,
            encoded_height,
            source_time_base: time_base,
            encoder_time_base,
            stream_time_base,
            durations: BTreeMap::new(),
            last_source_pts: None,
            last_pts: None,
            last_step: None,
            nominal_step,
            frames: 0,
        })
    }

    /// FFmpeg's name of the encoder in use (`libx264` or `mpeg4`).
    pub fn encoder_name(&self) -> &'static str {
        self.encoder_name
    }

    /// Encoded width and height (odd input sizes cropped to even).
    pub fn size(&self) -> (u32, u32) {
        (self.encoded_width, self.encoded_height)
    }

    /// Encodes one frame: `rgb` holds `width * height * 3` bytes (the size given to
    /// [`VideoEncoder::create`]), `pts` its source timestamp, which must be later than the
    /// previous frame's and in the source time base.
    pub fn push_rgb(&mut self, rgb: &[u8], pts: Pts) -> Result<(), EncodeError> {
        let row = self.width as usize * 3;
        if rgb.len() != row * self.height as usize {
            return Err(self.bad_frame(format!("{} bytes, expected {}x{}x3 = {}", rgb.len(), self.width, self.height, row * self.height as usize)));
        }
        if pts.time_base != self.source_time_base {
            return Err(self.bad_frame(format!("timestamp in time base {}, expected {}", pts.time_base, self.source_time_base)));
        }
        if let Some(prev) = self.last_source_pts
            && pts.value <= prev
        {
            return Err(self.bad_frame(format!("timestamp {} is not after the previous frame's ({prev})", pts.value)));
        }
        self.last_source_pts = Some(pts.value);
        let source_tb = ff::Rational::new(self.source_time_base.num, self.source_time_base.den);
        let mut ts = pts.value.rescale(source_tb, self.encoder_time_base);
        if let Some(prev) = self.last_pts {
            if ts <= prev {
                // Only when rounding to a coarser time base collapsed two frames.
                ts = prev + 1;
            }
            self.durations.insert(prev, ts - prev);
            self.last_step = Some(ts - prev);
        }
        self.last_pts = Some(ts);

        // The encoder may still hold the previous picture (frame threads): get a fresh buffer.
        // SAFETY: both frames were allocated by `AvFrame::new`; `av_frame_make_writable` only
        // replaces their buffers when another reference exists.
        let rc = unsafe { av_sys::av_frame_make_writable(self.rgb_frame.as_mut_ptr()).min(av_sys::av_frame_make_writable(self.yuv_frame.as_mut_ptr())) };
        if rc < 0 {
            return Err(self.write_error(format!("frame buffer: {}", ff::Error::from(rc))));
        }
        let stride = self.rgb_frame.stride(0);
        let used = self.encoded_width as usize * 3;
        let plane = self.rgb_frame.data_mut(0);
        for (y, src_row) in rgb.chunks_exact(row).take(self.encoded_height as usize).enumerate() {
            plane[y * stride..y * stride + used].copy_from_slice(&src_row[..used]);
        }
        self.converter.run(&self.rgb_frame, &mut self.yuv_frame).map_err(|err| self.write_error(format!("RGB to yuv420p: {err}")))?;
        self.yuv_frame.set_pts(Some(ts));
        self.encoder.send_frame(&self.yuv_frame).map_err(|err| self.write_error(format!("encoder refused frame {}: {err}", self.frames)))?;
        self.frames += 1;
        self.write_packets()
    }

    /// Flushes the encoder, writes the container trailer and renames the file into place.
    pub fn finish(mut self) -> Result<EncodeSummary, EncodeError> {
        if let Some(last) = self.last_pts {
            self.durations.insert(last, self.last_step.unwrap_or(self.nominal_step));
        }
        self.encoder.send_eof().map_err(|err| self.write_error(format!("flushing the encoder: {err}")))?;
        self.write_packets()?;
        let mut output = self.output.take().ok_or_else(|| self.write_error("already closed".to_owned()))?;
        let trailer = output.write_trailer();
        // Closes the file before it is renamed (or removed).
        drop(output);
        let done = trailer.map_err(|err| format!("writing the container trailer: {err}")).and_then(|()| {
            std::fs::rename(&self.temp_path, &self.final_path).map_err(|err| format!("renaming {} into place: {err}", self.temp_path.display()))
        });
        if let Err(reason) = done {
            std::fs::remove_file(&self.temp_path).ok();
            return Err(self.write_error(reason));
        }
        tracing::debug!(path = ?self.final_path, frames = self.frames, "video written");
        Ok(EncodeSummary {
            path: self.final_path.clone(),
            encoder: self.encoder_name,
            frames: self.frames,
            width: self.encoded_width,
            height: self.encoded_height,
        })
    }

    /// Writes every packet the encoder has ready.
    fn write_packets(&mut self) -> Result<(), EncodeError> {
        let mut packet = AvPacket::empty();
        loop {
            match self.encoder.receive_packet(&mut packet) {
                Ok(()) => {}
                Err(ff::Error::Eof) => return Ok(()),
                Err(ff::Error::Other { errno }) if errno == ff::error::EAGAIN => return Ok(()),
                Err(err) => return Err(self.write_error(format!("encoding: {err}"))),
            }
            let duration = packet.pts().and_then(|pts| self.durations.remove(&pts)).or(self.last_step).unwrap_or(self.nominal_step);
            packet.set_duration(duration);
            packet.set_stream(0);
            packet.rescale_ts(self.encoder_time_base, self.stream_time_base);
            let output = self.output.as_mut().ok_or_else(|| EncodeError::Write { path: self.final_path.clone(), reason: "already closed".to_owned() })?;
            packet.write_interleaved(output).map_err(|err| EncodeError::Write { path: self.final_path.clone(), reason: format!("muxing: {err}") })?;
        }
    }

    fn bad_frame(&self, reason: String) -> EncodeError {
        EncodeError::BadFrame { path: self.final_path.clone(), reason }
    }

    fn write_error(&self, reason: String) -> EncodeError {
        EncodeError::Write { path: self.final_path.clone(), reason }
    }
}

impl Drop for VideoEncoder {
    fn drop(&mut self) {
        if self.output.take().is_some() {
            // Not finished (an error, or the caller gave up): the partial file goes.
            std::fs::remove_file(&self.temp_path).ok();
        }
    }
}

/// Removes a file when dropped unless disarmed (`.0 = None`): cleans up after a failed
/// [`VideoEncoder::create`].
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            std::fs::remove_file(path).ok();
        }
    }
}

/// `dir/.name.tmp-<pid>.<ext>`: hidden, beside the output (so the rename is atomic), and with
/// the same extension (FFmpeg picks the container from it).
fn temp_path_for(path: &Path) -> PathBuf {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    dir.join(format!(".{stem}.tmp-{}{ext}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_name_is_hidden_beside_the_output_with_its_extension() {
        let tmp = temp_path_for(Path::new("out/clip.annotated.mp4"));
        assert_eq!(tmp.parent(), Some(Path::new("out")));
        let name = tmp.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert!(name.starts_with(".clip.annotated.tmp-") && name.ends_with(".mp4"), "{name}");
        assert_eq!(temp_path_for(Path::new("x.mkv")).parent(), Some(Path::new(".")));
    }

    /// Encodes `n` frames at 1/2997 × 100 ticks (29.97 fps) and decodes them back.
    #[test]
    fn frames_and_timestamps_survive_a_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rt.mp4");
        let tb = Rational::new(1, 2997);
        // Odd size: cropped to 64x48.
        let (w, h) = (65, 49);
        let mut enc = VideoEncoder::create(&path, w, h, tb, Some(29.97)).expect("create");
        assert_eq!(enc.size(), (64, 48));
        for i in 0..12_i64 {
            let mut rgb = vec![0_u8; (w * h * 3) as usize];
            // A bright square that moves one pixel per frame.
            for y in 10..20 {
                for x in (10 + i as usize)..(20 + i as usize) {
                    rgb[(y * w as usize + x) * 3..][..3].copy_from_slice(&[250, 250, 250]);
                }
            }
            enc.push_rgb(&rgb, Pts::new(1000 + i * 100, tb)).expect("push");
        }
        assert!(enc.push_rgb(&[0; 3], Pts::new(9999, tb)).is_err(), "wrong size is refused");
        let summary = enc.finish().expect("finish");
        assert_eq!((summary.frames, summary.width, summary.height), (12, 64, 48));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").flatten().map(|e| e.file_name()).collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("rt.mp4")], "only the video remains");

        let mut decoder = super::super::Decoder::open(&path, &super::super::DecodeOptions::default()).expect("decodes");
        let frames: Vec<_> = decoder.by_ref().map(|f| f.expect("frame")).collect();
        assert_eq!(frames.len(), 12);
        assert_eq!((frames[0].width, frames[0].height), (64, 48));
        for (i, f) in frames.iter().enumerate() {
            assert!((f.timestamp_s - i as f64 * 100.0 / 2997.0).abs() < 1e-6, "frame {i} at {}", f.timestamp_s);
        }
        let duration = decoder.info().duration_s.expect("duration");
        assert!((duration - 12.0 * 100.0 / 2997.0).abs() < 1e-3, "duration {duration}");
        // The square is where it was drawn.
        let f = &frames[5];
        assert!(f.gray[(15 * 64 + 20) as usize] > 200 && f.gray[(15 * 64 + 40) as usize] < 40);
    }

    #[test]
    fn failures_leave_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tb = Rational::new(1, 25);
        // Unknown container extension.
        let err = VideoEncoder::create(&dir.path().join("x.notavideo"), 32, 32, tb, Some(25.0)).expect_err("no container");
        assert!(err.to_string().contains("x.notavideo"), "{err}");
        // Dropped before finish.
        let path = dir.path().join("dropped.mp4");
        let mut enc = VideoEncoder::create(&path, 32, 32, tb, Some(25.0)).expect("create");
        enc.push_rgb(&[0; 32 * 32 * 3], Pts::new(0, tb)).expect("push");
        assert!(enc.push_rgb(&[0; 32 * 32 * 3], Pts::new(0, tb)).is_err(), "same timestamp twice");
        drop(enc);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0, "nothing left behind");
        // Too small.
        assert!(VideoEncoder::create(&dir.path().join("tiny.mp4"), 1, 1, tb, None).is_err());
    }
}
