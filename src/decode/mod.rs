//! Decode stage: a video file in, upright 8-bit grayscale frames out.
//!
//! In: a path to anything the system FFmpeg can demux and decode (any container, any video
//! codec), plus [`DecodeOptions`] (optional frame sampling, decoder threads, a size limit).
//! Out: a [`Decoder`], which describes the stream ([`VideoInfo`]) and iterates over
//! [`Frame`]s: luma only, tightly packed, rotated upright, with exact rational timestamps.
//! Only when [`DecodeOptions::rgb`] asks for it does a frame also carry RGB24 pixels (for
//! drawing on the footage; the analysis path never pays for the colour conversion). Once the
//! iterator has ended, [`Decoder::stats`] counts what was decoded and skipped, and
//! [`Decoder::completeness`] says whether the recording was cut short ([`Completeness`]).
//!
//! The way back out is [`encode`]: a [`VideoEncoder`] writes RGB frames with their source
//! timestamps to a new video file (the annotated video of `fer-batch annotate`).
//!
//! Files, by concern (as video-rs splits its decoder, frame conversion and time):
//! - `init.rs`: FFmpeg's one-time set-up and its log routed into `tracing`;
//! - `open.rs`: file checks, opening, stream selection, decoder set-up;
//! - `probe.rs`: the stream's metadata ([`VideoInfo`]: rotation, rate, duration, creation time);
//! - `decoder.rs`: the [`Decoder`] iterator (packets, draining, timestamps, damage);
//! - `convert.rs`: decoded frames to full-range luma / RGB, rotated upright;
//! - `sampler.rs` and [`time`]: the frame sampler, and rational timestamps;
//! - this file: the stage's public types.
//!
//! Invariants:
//! - This is the only module that imports `ffmpeg_next`. FFmpeg types are aliased `Av*` here
//!   and never appear in the public API (video-rs `src/decode.rs`).
//! - End of file ends the iterator with `None`; it is not an error. A stream that fails
//!   part-way yields the frames decoded before the damage, then at most one error, then `None`.
//! - Damaged packets in an otherwise good stream are skipped and counted
//!   ([`DecodeStats::corrupt_skipped`]); a stream from which nothing decodes is an error. A
//!   file whose end is missing decodes up to the cut without an error; [`Completeness`] is
//!   how a caller learns about it.
//! - Timestamps are the decoder's best-effort timestamps, strictly increasing, kept rational
//!   ([`Pts`]) and turned into seconds from the stream start only in [`Frame::timestamp_s`].
//! - Luma is full range (0–255): limited-range ("TV", 16–235) video is expanded, matching what
//!   swscale produces for `-pix_fmt gray`.
//! - Memory is bounded: one packet in flight plus the decoder's own frame-thread queue.

mod convert;
mod decoder;
pub mod encode;
mod error;
mod init;
mod open;
mod probe;
mod sampler;
pub mod time;

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use self::decoder::Decoder;
pub use self::encode::{EncodeError, EncodeSummary, VideoEncoder};
pub use self::error::DecodeError;
pub use self::init::init;
pub use self::sampler::Sampler;
pub use self::time::{Pts, Rational};

/// Default for [`DecodeOptions::max_pixels`]: 8192 × 8192.
pub const DEFAULT_MAX_PIXELS: u64 = 8192 * 8192;

/// How [`Decoder`] reads a video.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeOptions {
    /// Emit at most this many frames per second of video (`None`: every frame). The first
    /// frame is always emitted; later frames are emitted when their timestamp reaches the next
    /// point of a `1 / sample_fps` grid anchored at the first frame. Must be finite and > 0.
    pub sample_fps: Option<f64>,
    /// Decoder threads (frame + slice threading); `0` lets FFmpeg pick from the CPU count.
    pub threads: usize,
    /// Reject videos whose frames have more pixels than this ([`DecodeError::TooLarge`]),
    /// checked on the container header before anything is allocated.
    pub max_pixels: u64,
    /// Also convert each emitted frame to RGB24 ([`Frame::rgb`]); off for the analysis path,
    /// which only reads luma.
    pub rgb: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self { sample_fps: None, threads: 0, max_pixels: DEFAULT_MAX_PIXELS, rgb: false }
    }
}

/// What the container says about the chosen video stream, read once at open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoInfo {
    /// The file that was opened.
    pub path: PathBuf,
    /// Upright width in pixels (after [`VideoInfo::rotation_deg`] is applied); `0` if unknown.
    pub width: u32,
    /// Upright height in pixels; `0` if unknown.
    pub height: u32,
    /// Width as coded in the stream, before rotation.
    pub coded_width: u32,
    /// Height as coded in the stream, before rotation.
    pub coded_height: u32,
    /// Clockwise rotation (0, 90, 180 or 270 degrees) applied to coded frames to make them
    /// upright, from the stream's display matrix (or legacy `rotate` tag).
    pub rotation_deg: i32,
    /// Time base of the stream: seconds per timestamp tick.
    pub time_base: Rational,
    /// Average frame rate reported by the container, if known.
    pub avg_fps: Option<f64>,
    /// Stream (or else container) duration in seconds, if known.
    pub duration_s: Option<f64>,
    /// Frame count from the container index (or duration × rate). Only an estimate: e.g.
    /// packets before the first keyframe are counted here but never decode.
    pub frames_estimate: Option<u64>,
    /// FFmpeg's short codec name (`h264`, `hevc`, `mpeg4`, …).
    pub codec: String,
    /// The container's `creation_time` tag as RFC 3339 (UTC when the tag has no offset).
    pub creation_time_utc: Option<String>,
}

/// One decoded frame: upright 8-bit luma (and RGB when asked for) plus its timestamp.
#[derive(Clone, PartialEq)]
pub struct Frame {
    /// 0-based position among all decoded frames of the video, sampled or not.
    pub index: u64,
    /// Exact presentation timestamp in the stream's time base.
    pub pts: Pts,
    /// Seconds from the stream start (`pts - start_time`).
    pub timestamp_s: f64,
    /// Upright width in pixels.
    pub width: u32,
    /// Upright height in pixels.
    pub height: u32,
    /// `width * height` full-range luma bytes, row-major, no padding, upright.
    pub gray: Vec<u8>,
    /// `width * height * 3` RGB24 bytes, row-major, no padding, upright (rotated like
    /// [`Frame::gray`]), converted by swscale (BT.601 matrix, as [`VideoEncoder`] uses on the
    /// way back); only with [`DecodeOptions::rgb`], else `None`.
    pub rgb: Option<Vec<u8>>,
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("index", &self.index)
            .field("pts", &self.pts)
            .field("timestamp_s", &self.timestamp_s)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("gray", &format_args!("[{} bytes]", self.gray.len()))
            .field("rgb", &format_args!("{:?}", self.rgb.as_ref().map(|rgb| rgb.len())))
            .finish()
    }
}

/// Running counts for one [`Decoder`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodeStats {
    /// Frames that came out of the decoder (emitted or sampled away).
    pub decoded: u64,
    /// Frames returned by the iterator.
    pub emitted: u64,
    /// Damaged packets (or frames) that were skipped.
    pub corrupt_skipped: u64,
}

/// Whether a video was decoded to the end its container declares: how a caller tells a
/// recording that was cut short (a recorder that died, a copy that stopped) from a complete one.
///
/// Such a file decodes without an error up to the cut, and FFmpeg does not say that the end
/// came early either: with the index in front, the MP4 demuxer answers end-of-file where the
/// data stops, and only the last, partial packet is rejected (one
/// [`DecodeStats::corrupt_skipped`], as for any damaged packet). So the durations are the
/// evidence.
///
/// The rule ([`Completeness::judge`]): `truncated` when the container declares a duration and
/// the decoded duration falls short of it by more than [`TRUNCATION_TOLERANCE_S`] or
/// [`TRUNCATION_TOLERANCE_FRAMES`] frame durations, whichever is longer. Complete files agree
/// to within a frame (the 8 shared sample clips: exactly, or 0.025 s longer than declared);
/// their first halves fall 2.4–35 s short. Without a declared duration (one only guessed from
/// the bitrate, or only the container's while the file holds other streams that may outlast
/// the video) nothing is flagged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Completeness {
    /// The video's duration as the container states it, in seconds: the stream's own, else the
    /// container's when the video is its only stream (`None`: unknown, or only guessed from
    /// the bitrate).
    pub declared_s: Option<f64>,
    /// Seconds from the stream start to the end of the last decoded frame (its timestamp plus
    /// its duration); `0` when nothing was decoded.
    pub decoded_s: f64,
    /// The verdict: the declared duration was not reached (see the rule above).
    pub truncated: bool,
}

/// Shortfall (seconds) below which a video counts as complete, however short its frames.
pub const TRUNCATION_TOLERANCE_S: f64 = 0.5;

/// Shortfall (frame durations) below which a video counts as complete, for low frame rates.
pub const TRUNCATION_TOLERANCE_FRAMES: f64 = 2.0;

impl Completeness {
    /// Applies the rule to a `declared_s` and `decoded_s` duration, with `frame_s` one frame
    /// duration (if known).
    pub fn judge(declared_s: Option<f64>, decoded_s: f64, frame_s: Option<f64>) -> Self {
        let tolerance_s =
            frame_s.filter(|s| s.is_finite()).map_or(TRUNCATION_TOLERANCE_S, |frame_s| (TRUNCATION_TOLERANCE_FRAMES * frame_s).max(TRUNCATION_TOLERANCE_S));
        let truncated = declared_s.is_some_and(|declared| declared - decoded_s > tolerance_s);
        Self { declared_s, decoded_s, truncated }
    }
}

#[cfg(test)]
mod tests;
