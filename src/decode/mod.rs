//! Decode stage: a video file in, upright 8-bit grayscale frames out.
//!
//! In: a path to anything the system FFmpeg can demux and decode (any container, any video
//! codec), plus [`DecodeOptions`] (optional frame sampling, decoder threads, a size limit).
//! Out: a [`Decoder`], which describes the stream ([`VideoInfo`]) and iterates over
//! [`Frame`]s: luma only, tightly packed, rotated upright, with exact rational timestamps.
//! Only when [`DecodeOptions::rgb`] asks for it does a frame also carry RGB24 pixels (for
//! drawing on the footage; the analysis path never pays for the colour conversion).
//!
//! The way back out is [`encode`]: a [`VideoEncoder`] writes RGB frames with their source
//! timestamps to a new video file (the annotated video of `fer-batch annotate`).
//!
//! Invariants:
//! - This is the only module that imports `ffmpeg_next`. FFmpeg types are aliased `Av*` here
//!   and never appear in the public API (video-rs `src/decode.rs`).
//! - End of file ends the iterator with `None`; it is not an error. A stream that fails
//!   part-way yields the frames decoded before the damage, then at most one error, then `None`.
//! - Damaged packets in an otherwise good stream are skipped and counted
//!   ([`DecodeStats::corrupt_skipped`]); a stream from which nothing decodes is an error.
//! - Timestamps are the decoder's best-effort timestamps, strictly increasing, kept rational
//!   ([`Pts`]) and turned into seconds from the stream start only in [`Frame::timestamp_s`].
//! - Luma is full range (0–255): limited-range ("TV", 16–235) video is expanded, matching what
//!   swscale produces for `-pix_fmt gray`.
//! - Memory is bounded: one packet in flight plus the decoder's own frame-thread queue.

pub mod encode;
pub mod time;

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Once;

use ff::Error as AvError;
use ff::Packet as AvPacket;
use ff::Stream as AvStream;
use ff::codec::Context as AvCodecContext;
use ff::codec::Parameters as AvParameters;
use ff::codec::decoder::Video as AvVideoDecoder;
use ff::codec::packet::side_data::Type as AvSideDataType;
use ff::ffi as av_sys;
use ff::format::Pixel as AvPixel;
use ff::format::context::Input as AvInput;
use ff::format::stream::Disposition as AvDisposition;
use ff::media::Type as AvMediaType;
use ff::software::scaling::{Context as AvScaler, Flags as AvScalerFlags};
use ff::util::color::Range as AvColorRange;
use ff::util::frame::video::Video as AvFrame;
use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};

pub use self::encode::{EncodeError, EncodeSummary, VideoEncoder};
pub use self::time::{Pts, Rational};

/// Default for [`DecodeOptions::max_pixels`]: 8192 × 8192.
pub const DEFAULT_MAX_PIXELS: u64 = 8192 * 8192;

/// With nothing decoded yet, give up after this many rejected packets instead of reading the
/// whole file (e.g. a codec FFmpeg knows but cannot actually decode).
const MAX_LEADING_FAILURES: u64 = 256;

/// `AVPROBE_SCORE_RETRY` (not exported by ffmpeg-sys): probe scores up to this are guesses.
const AVPROBE_SCORE_RETRY: i32 = 25;

/// Two timestamps closer than this (seconds) count as equal when sampling.
const SAMPLE_EPS_S: f64 = 1e-6;

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
        Self {
            sample_fps: None,
            threads: 0,
            max_pixels: DEFAULT_MAX_PIXELS,
            rgb: false,
        }
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
            .field(
                "rgb",
                &format_args!("{:?}", self.rgb.as_ref().map(|rgb| rgb.len())),
            )
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

/// Why a video could not be opened or decoded. Every message names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The path does not exist.
    #[error("{}: no such file", .path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The file exists but may not be read.
    #[error("{}: permission denied", .path.display())]
    PermissionDenied {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be opened for another reason (a directory, an I/O error, …).
    #[error("{}: cannot open: {reason}", .path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The file has zero bytes.
    #[error("{}: file is empty (0 bytes)", .path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// FFmpeg does not recognise the file as a media container.
    #[error("{}: not a recognised media file ({reason})", .path.display())]
    NotMedia {
        /// The file.
        path: PathBuf,
        /// What FFmpeg reported.
        reason: String,
    },
    /// The container holds no video stream (e.g. audio only).
    #[error("{}: no video stream (streams found: {found})", .path.display())]
    NoVideoStream {
        /// The file.
        path: PathBuf,
        /// The kinds of stream that are present, e.g. `audio`, or `none`.
        found: String,
    },
    /// FFmpeg has no working decoder for the video codec.
    #[error("{}: unsupported video codec `{codec}` ({reason})", .path.display())]
    UnsupportedCodec {
        /// The file.
        path: PathBuf,
        /// FFmpeg's codec name.
        codec: String,
        /// What FFmpeg reported.
        reason: String,
    },
    /// Frames are larger than [`DecodeOptions::max_pixels`].
    #[error(
        "{}: frame size {width}x{height} exceeds the limit of {max_pixels} pixels",
        .path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Frame width claimed by the stream.
        width: u64,
        /// Frame height claimed by the stream.
        height: u64,
        /// The configured limit.
        max_pixels: u64,
    },
    /// Decoding failed: nothing decodes, or reading stopped part-way.
    #[error("{}: decode failed: {reason}", .path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// [`DecodeOptions`] are unusable.
    #[error("{}: invalid decode options: {reason}", .path.display())]
    InvalidOptions {
        /// The file.
        path: PathBuf,
        /// Which option and why.
        reason: String,
    },
}

impl DecodeError {
    /// The error for a failed file-system operation on `path`: [`DecodeError::NotFound`],
    /// [`DecodeError::PermissionDenied`], else [`DecodeError::Open`].
    pub fn from_io(path: &Path, err: &std::io::Error) -> Self {
        let path = path.to_owned();
        match err.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound { path },
            std::io::ErrorKind::PermissionDenied => Self::PermissionDenied { path },
            _ => Self::Open {
                path,
                reason: err.to_string(),
            },
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::NotFound { path }
            | Self::PermissionDenied { path }
            | Self::Open { path, .. }
            | Self::Empty { path }
            | Self::NotMedia { path, .. }
            | Self::NoVideoStream { path, .. }
            | Self::UnsupportedCodec { path, .. }
            | Self::TooLarge { path, .. }
            | Self::Decode { path, .. }
            | Self::InvalidOptions { path, .. } => path,
        }
    }
}

/// Initialises FFmpeg once per process and routes its log into `tracing` (target `ffmpeg`).
///
/// Idempotent and cheap after the first call; [`Decoder::open`] calls it too. FFmpeg errors
/// and warnings become `debug` events (the decoder reports failures itself), fatal messages
/// `error`, info `trace`; FFmpeg's verbose and debug output is dropped.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if let Err(err) = ff::init() {
            tracing::warn!("ffmpeg init failed: {err:?}");
        }
        install_log_callback();
    });
}

#[cfg(all(target_arch = "x86_64", not(windows)))]
thread_local! {
    /// `print_prefix` state that `av_log_format_line2` keeps between calls on one thread.
    static LOG_PRINT_PREFIX: Cell<c_int> = const { Cell::new(1) };
    /// A partial FFmpeg log line (FFmpeg sometimes logs one line in several calls).
    static LOG_LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// How bindgen spells a C `va_list` parameter on SysV x86_64 (an array decays to a pointer).
#[cfg(all(target_arch = "x86_64", not(windows)))]
type AvVaListArg = *mut av_sys::__va_list_tag;

/// Routes FFmpeg's log into `tracing` where the `va_list` ABI is known; elsewhere only lets
/// FFmpeg print errors.
fn install_log_callback() {
    // SAFETY: sets FFmpeg's global log level and callback; `log_to_tracing` is a valid
    // `extern "C"` function for the whole program and does not unwind into C.
    #[cfg(all(target_arch = "x86_64", not(windows)))]
    unsafe {
        av_sys::av_log_set_level(av_sys::AV_LOG_INFO);
        av_sys::av_log_set_callback(Some(log_to_tracing));
    }
    // SAFETY: sets FFmpeg's global log level.
    #[cfg(not(all(target_arch = "x86_64", not(windows))))]
    unsafe {
        av_sys::av_log_set_level(av_sys::AV_LOG_ERROR);
    }
}

/// FFmpeg log callback: formats the message and emits it as a `tracing` event.
#[cfg(all(target_arch = "x86_64", not(windows)))]
unsafe extern "C" fn log_to_tracing(
    avcl: *mut c_void,
    level: c_int,
    fmt: *const c_char,
    args: AvVaListArg,
) {
    use tracing::Level;
    let tracing_level = if level <= av_sys::AV_LOG_FATAL {
        Level::ERROR
    } else if level <= av_sys::AV_LOG_WARNING {
        Level::DEBUG
    } else if level <= av_sys::AV_LOG_INFO {
        Level::TRACE
    } else {
        return;
    };
    let enabled = match tracing_level {
        Level::ERROR => tracing::enabled!(target: "ffmpeg", Level::ERROR),
        Level::DEBUG => tracing::enabled!(target: "ffmpeg", Level::DEBUG),
        _ => tracing::enabled!(target: "ffmpeg", Level::TRACE),
    };
    if !enabled || fmt.is_null() {
        return;
    }

    let mut buf = [0 as c_char; 1024];
    let mut print_prefix = LOG_PRINT_PREFIX.try_with(Cell::get).unwrap_or(1);
    // SAFETY: `buf` is writable for its full length, `fmt`/`args` come straight from FFmpeg
    // and are consumed exactly once, and the function always NUL-terminates `buf`.
    let written = unsafe {
        av_sys::av_log_format_line2(
            avcl,
            level,
            fmt,
            args,
            buf.as_mut_ptr(),
            buf.len() as c_int,
            &mut print_prefix,
        )
    };
    LOG_PRINT_PREFIX.try_with(|p| p.set(print_prefix)).ok();
    if written < 0 {
        return;
    }
    // SAFETY: NUL-terminated by `av_log_format_line2` (the last byte is never overwritten).
    let part = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy();

    LOG_LINE
        .try_with(|line| {
            let Ok(mut line) = line.try_borrow_mut() else {
                return;
            };
            line.push_str(&part);
            if !line.ends_with('\n') && line.len() < 4096 {
                return;
            }
            let message = line.trim_end();
            match tracing_level {
                Level::ERROR => tracing::error!(target: "ffmpeg", "{message}"),
                Level::DEBUG => tracing::debug!(target: "ffmpeg", "{message}"),
                _ => tracing::trace!(target: "ffmpeg", "{message}"),
            }
            line.clear();
        })
        .ok();
}

/// Where the iterator is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading packets and feeding the decoder.
    Reading,
    /// End of input reached (or reading failed); draining the decoder's delayed frames.
    Draining,
    /// Finished; the iterator only returns `None`.
    Done,
}

/// A swscale converter (same size, another pixel format) and its reusable output frame:
/// GRAY8 for pixel formats whose first plane is not 8-bit luma, RGB24 for [`Frame::rgb`].
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
    fn convert<'a>(
        slot: &'a mut Option<Converter>,
        input: &AvFrame,
        target: AvPixel,
    ) -> Result<&'a AvFrame, String> {
        let (format, width, height) = (input.format(), input.width(), input.height());
        let reusable = slot.as_ref().is_some_and(|c| {
            let from = c.scaler.input();
            (from.format, from.width, from.height) == (format, width, height)
        });
        if !reusable {
            let scaler = AvScaler::get(
                format,
                width,
                height,
                target,
                width,
                height,
                AvScalerFlags::BILINEAR,
            )
            .map_err(|err| {
                format!("cannot convert pixel format {format:?} to {target:?}: {err}")
            })?;
            *slot = Some(Converter {
                scaler,
                output: AvFrame::empty(),
            });
        }
        let converter = slot.as_mut().ok_or("pixel converter missing")?;
        converter
            .scaler
            .run(input, &mut converter.output)
            .map_err(|err| format!("converting {format:?} to {target:?}: {err}"))?;
        Ok(&converter.output)
    }
}

/// Chooses frames to emit when sampling at a fixed rate: the rule behind
/// [`DecodeOptions::sample_fps`], public so that a caller decoding every frame (e.g. the
/// annotator) can tell which of them a sampled run analysed.
#[derive(Debug, Clone)]
pub struct Sampler {
    period_s: Option<f64>,
    anchor_s: Option<f64>,
    next_s: f64,
}

impl Sampler {
    /// A sampler for at most `sample_fps` frames per second (`None`: every frame).
    pub fn new(sample_fps: Option<f64>) -> Self {
        Self {
            period_s: sample_fps.map(|fps| 1.0 / fps),
            anchor_s: None,
            next_s: 0.0,
        }
    }

    /// Whether the frame at `t` seconds (from the stream start, [`Frame::timestamp_s`]) is
    /// emitted; advances the grid when it is. Call it once per decoded frame, in order.
    pub fn accept(&mut self, t: f64) -> bool {
        let Some(period) = self.period_s else {
            return true;
        };
        let Some(anchor) = self.anchor_s else {
            self.anchor_s = Some(t);
            self.next_s = t + period;
            return true;
        };
        if t + SAMPLE_EPS_S < self.next_s {
            return false;
        }
        // The next grid point strictly after `t` (skips grid points inside VFR gaps).
        let steps = ((t - anchor + SAMPLE_EPS_S) / period).floor() + 1.0;
        self.next_s = anchor + steps * period;
        true
    }
}

/// Reads one video file and yields its frames; see the module docs.
///
/// ```no_run
/// use fer_batch::decode::{DecodeOptions, Decoder};
/// let opts = DecodeOptions { sample_fps: Some(5.0), ..DecodeOptions::default() };
/// let mut decoder = Decoder::open("clip.mp4".as_ref(), &opts)?;
/// for frame in &mut decoder {
///     let frame = frame?;
///     println!("{} at {:.3} s", frame.index, frame.timestamp_s);
/// }
/// println!("{:?}", decoder.stats());
/// # Ok::<(), fer_batch::decode::DecodeError>(())
/// ```
pub struct Decoder {
    info: VideoInfo,
    max_pixels: u64,
    input: AvInput,
    stream_index: usize,
    decoder: AvVideoDecoder,
    decoded: AvFrame,
    gray_converter: Option<Converter>,
    /// Set when [`DecodeOptions::rgb`] asks for RGB frames.
    rgb: bool,
    rgb_converter: Option<Converter>,
    /// A packet the decoder refused with `EAGAIN`; sent again before reading more.
    pending_packet: Option<AvPacket>,
    /// A read error to report once the decoder has been drained.
    pending_error: Option<DecodeError>,
    state: State,
    /// Timestamp (ticks) that maps to 0 s: the stream start time, else the first frame's.
    start_ts: Option<i64>,
    last_ts: Option<i64>,
    last_step: Option<i64>,
    /// One frame duration in ticks derived from the average frame rate, if known.
    nominal_step: Option<i64>,
    sampler: Sampler,
    stats: DecodeStats,
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("info", &self.info)
            .field("state", &self.state)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// Opens `path`, picks its main video stream and prepares a decoder for it.
    ///
    /// Fails with a [`DecodeError`] naming the file if it is missing, unreadable, empty, not
    /// media, has no video stream, uses a codec FFmpeg cannot decode, or is too large.
    pub fn open(path: &Path, opts: &DecodeOptions) -> Result<Self, DecodeError> {
        init();
        check_options(path, opts)?;
        check_file(path)?;

        let mut input = open_input(path, opts.max_pixels)?;
        let stream_index =
            pick_video_stream(&input).ok_or_else(|| no_video_stream(path, &input))?;
        let stream = input
            .stream(stream_index)
            .ok_or_else(|| DecodeError::Open {
                path: path.to_owned(),
                reason: format!("stream {stream_index} vanished"),
            })?;

        let parameters = stream.parameters();
        let (coded_width, coded_height) = parameter_size(&parameters);
        check_size(
            path,
            u64::from(coded_width),
            u64::from(coded_height),
            opts.max_pixels,
        )?;

        let time_base = rational_from_av(stream.time_base());
        let rotation_deg = stream_rotation(&stream);
        let avg_fps = [stream.avg_frame_rate(), stream.rate()]
            .into_iter()
            .map(rational_from_av)
            .find(|rate| rate.is_positive())
            .and_then(Rational::to_f64);
        let duration_s = positive(stream.duration())
            .map(|ticks| time_base.seconds(ticks))
            .or_else(|| {
                positive(input.duration()).map(|us| us as f64 / f64::from(av_sys::AV_TIME_BASE))
            })
            .filter(|s| s.is_finite());
        let frames_estimate = u64::try_from(stream.frames())
            .ok()
            .filter(|&n| n > 0)
            .or_else(|| {
                let estimate = (duration_s? * avg_fps?).round();
                (estimate >= 1.0).then_some(estimate as u64)
            });
        let start_ts = (stream.start_time() != av_sys::AV_NOPTS_VALUE).then(|| stream.start_time());
        let nominal_step = avg_fps
            .and_then(|fps| time_base.to_f64().map(|tb| 1.0 / (fps * tb)))
            .filter(|step| step.is_finite() && *step >= 1.0)
            .map(|step| step.round() as i64);
        let creation_time_utc = input
            .metadata()
            .get("creation_time")
            .and_then(rfc3339_from_tag)
            .or_else(|| {
                stream
                    .metadata()
                    .get("creation_time")
                    .and_then(rfc3339_from_tag)
            });
        let codec = parameters.id().name().to_owned();

        let decoder = open_decoder(path, parameters, &codec, stream.time_base(), opts)?;
        discard_other_streams(&mut input, stream_index);

        let (width, height) = if rotation_deg % 180 == 0 {
            (coded_width, coded_height)
        } else {
            (coded_height, coded_width)
        };
        let info = VideoInfo {
            path: path.to_owned(),
            width,
            height,
            coded_width,
            coded_height,
            rotation_deg,
            time_base,
            avg_fps,
            duration_s,
            frames_estimate,
            codec,
            creation_time_utc,
        };
        tracing::debug!(?info, "opened video");

        Ok(Self {
            info,
            max_pixels: opts.max_pixels,
            input,
            stream_index,
            decoder,
            decoded: AvFrame::empty(),
            gray_converter: None,
            rgb: opts.rgb,
            rgb_converter: None,
            pending_packet: None,
            pending_error: None,
            state: State::Reading,
            start_ts,
            last_ts: None,
            last_step: None,
            nominal_step,
            sampler: Sampler::new(opts.sample_fps),
            stats: DecodeStats::default(),
        })
    }

    /// What the container says about the video stream.
    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// Frames decoded, emitted and skipped so far.
    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    fn decode_error(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError::Decode {
            path: self.info.path.clone(),
            reason: reason.into(),
        }
    }

    /// Counts a skipped packet or frame; fails once nothing has decoded for too long.
    fn skip_corrupt(&mut self, what: &str, err: AvError) -> Result<(), DecodeError> {
        self.stats.corrupt_skipped += 1;
        tracing::debug!(path = ?self.info.path, "skipping damaged data ({what}): {err}");
        if self.stats.decoded == 0 && self.stats.corrupt_skipped >= MAX_LEADING_FAILURES {
            return Err(self.decode_error(format!(
                "no frame decoded after {} damaged packets (last: {what}: {err})",
                self.stats.corrupt_skipped
            )));
        }
        Ok(())
    }

    fn start_draining(&mut self) {
        self.state = State::Draining;
        if let Err(err) = self.decoder.send_eof() {
            // Only fails if EOF was already sent; the next receive reports the real state.
            tracing::debug!(path = ?self.info.path, "flushing decoder: {err}");
        }
    }

    /// Reads the next packet of the video stream and hands it to the decoder.
    fn feed(&mut self) -> Result<(), DecodeError> {
        let packet = match self.pending_packet.take() {
            Some(packet) => packet,
            None => {
                let mut packet = AvPacket::empty();
                match packet.read(&mut self.input) {
                    Ok(()) if packet.stream() == self.stream_index => packet,
                    Ok(()) => return Ok(()),
                    Err(AvError::Eof) => {
                        self.start_draining();
                        return Ok(());
                    }
                    Err(err @ AvError::InvalidData) => {
                        return self.skip_corrupt("unreadable packet", err);
                    }
                    Err(err) => {
                        // I/O failure: deliver what the decoder still holds, then report it.
                        self.pending_error =
                            Some(self.decode_error(format!("reading failed: {err}")));
                        self.start_draining();
                        return Ok(());
                    }
                }
            }
        };
        match self.decoder.send_packet(&packet) {
            Ok(()) => Ok(()),
            Err(AvError::Other { errno }) if errno == ff::error::EAGAIN => {
                self.pending_packet = Some(packet);
                Ok(())
            }
            Err(AvError::Eof) => {
                self.state = State::Draining;
                Ok(())
            }
            Err(err) => self.skip_corrupt("packet rejected by decoder", err),
        }
    }

    /// Ends the iteration: the pending read error, "nothing decoded", or a clean `None`.
    fn finish(&mut self) -> Option<Result<Frame, DecodeError>> {
        self.state = State::Done;
        if let Some(err) = self.pending_error.take() {
            return Some(Err(err));
        }
        if self.stats.decoded == 0 {
            let reason = if self.stats.corrupt_skipped > 0 {
                format!(
                    "no frame could be decoded ({} damaged packets skipped)",
                    self.stats.corrupt_skipped
                )
            } else {
                "the video stream contains no frames".to_owned()
            };
            return Some(Err(self.decode_error(reason)));
        }
        None
    }

    /// Best guess of one frame duration in ticks, for repairing missing timestamps.
    fn frame_step(&self) -> i64 {
        let from_packet = self.decoded.packet().duration;
        [Some(from_packet), self.last_step, self.nominal_step]
            .into_iter()
            .flatten()
            .find(|&step| step > 0)
            .unwrap_or(1)
    }

    /// The decoded frame's timestamp in ticks: best effort, then pts, then packet dts, then
    /// extrapolated from the previous frame; forced strictly increasing.
    fn frame_timestamp(&mut self) -> i64 {
        let raw = self
            .decoded
            .timestamp()
            .or_else(|| self.decoded.pts())
            .or_else(|| {
                Some(self.decoded.packet().dts).filter(|&dts| dts != av_sys::AV_NOPTS_VALUE)
            });
        let ts = match (raw, self.last_ts) {
            (Some(ts), Some(prev)) if ts > prev => ts,
            (Some(ts), None) => ts,
            (_, Some(prev)) => {
                let repaired = prev.saturating_add(self.frame_step());
                tracing::debug!(
                    path = ?self.info.path,
                    "frame {}: timestamp {raw:?} missing or not after {prev}; using {repaired}",
                    self.stats.decoded
                );
                repaired
            }
            (None, None) => self.start_ts.unwrap_or(0),
        };
        if let Some(prev) = self.last_ts {
            self.last_step = Some(ts - prev);
        }
        self.last_ts = Some(ts);
        ts
    }

    /// Turns the frame in `self.decoded` into a [`Frame`], or `None` if sampling drops it.
    fn take_decoded(&mut self) -> Result<Option<Frame>, DecodeError> {
        let index = self.stats.decoded;
        self.stats.decoded += 1;

        let ts = self.frame_timestamp();
        let start = *self.start_ts.get_or_insert(ts);
        let pts = Pts::new(ts, self.info.time_base);
        let timestamp_s = pts.seconds_since(start);
        if !self.sampler.accept(timestamp_s) {
            return Ok(None);
        }

        let (coded_width, coded_height) = (self.decoded.width(), self.decoded.height());
        check_size(
            &self.info.path,
            u64::from(coded_width),
            u64::from(coded_height),
            self.max_pixels,
        )?;
        if coded_width == 0 || coded_height == 0 {
            self.stats.corrupt_skipped += 1;
            return Ok(None);
        }
        let gray = self.gray_from_decoded()?;
        let (coded_width, coded_height) = (coded_width as usize, coded_height as usize);
        let rotation = self.info.rotation_deg;
        let rgb = if self.rgb {
            let path = &self.info.path;
            let error = |reason: String| DecodeError::Decode {
                path: path.clone(),
                reason,
            };
            let converted =
                Converter::convert(&mut self.rgb_converter, &self.decoded, AvPixel::RGB24)
                    .map_err(error)?;
            let rgb = copy_plane0(converted, 3, None)
                .ok_or_else(|| error("RGB conversion produced no pixels".to_owned()))?;
            Some(rotate_pixels(rgb, coded_width, coded_height, 3, rotation).0)
        } else {
            None
        };
        let (gray, width, height) = rotate_pixels(gray, coded_width, coded_height, 1, rotation);
        self.stats.emitted += 1;
        Ok(Some(Frame {
            index,
            pts,
            timestamp_s,
            width: width as u32,
            height: height as u32,
            gray,
            rgb,
        }))
    }

    /// Full-range luma of `self.decoded`, tightly packed (not yet rotated).
    fn gray_from_decoded(&mut self) -> Result<Vec<u8>, DecodeError> {
        let format = self.decoded.format();
        if let Some(full_range) = luma_plane_range(format, self.decoded.color_range()) {
            let lut = (!full_range).then_some(&LIMITED_TO_FULL_RANGE);
            return copy_plane0(&self.decoded, 1, lut)
                .ok_or_else(|| self.decode_error("decoded frame has no pixel data"));
        }
        let path = &self.info.path;
        let converted = Converter::convert(&mut self.gray_converter, &self.decoded, AvPixel::GRAY8)
            .map_err(|reason| DecodeError::Decode {
                path: path.clone(),
                reason,
            })?;
        copy_plane0(converted, 1, None).ok_or_else(|| DecodeError::Decode {
            path: path.clone(),
            reason: "gray conversion produced no pixels".to_owned(),
        })
    }
}

impl Iterator for Decoder {
    type Item = Result<Frame, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.state == State::Done {
                return None;
            }
            match self.decoder.receive_frame(&mut self.decoded) {
                Ok(()) => match self.take_decoded() {
                    Ok(Some(frame)) => return Some(Ok(frame)),
                    Ok(None) => {}
                    Err(err) => {
                        self.state = State::Done;
                        return Some(Err(err));
                    }
                },
                Err(AvError::Other { errno }) if errno == ff::error::EAGAIN => {
                    if self.state == State::Draining {
                        // A drained decoder answers EOF; treat anything else as the end too.
                        return self.finish();
                    }
                    if let Err(err) = self.feed() {
                        self.state = State::Done;
                        return Some(Err(err));
                    }
                }
                Err(AvError::Eof) => return self.finish(),
                Err(err) => {
                    if let Err(err) = self.skip_corrupt("frame failed to decode", err) {
                        self.state = State::Done;
                        return Some(Err(err));
                    }
                }
            }
        }
    }
}

fn check_options(path: &Path, opts: &DecodeOptions) -> Result<(), DecodeError> {
    let invalid = |reason: String| DecodeError::InvalidOptions {
        path: path.to_owned(),
        reason,
    };
    if let Some(fps) = opts.sample_fps
        && !(fps.is_finite() && fps > 0.0)
    {
        return Err(invalid(format!(
            "sample_fps must be a positive number, got {fps}"
        )));
    }
    if opts.max_pixels == 0 {
        return Err(invalid("max_pixels must be at least 1".to_owned()));
    }
    if i32::try_from(opts.threads).is_err() {
        return Err(invalid(format!(
            "threads must fit in an i32, got {}",
            opts.threads
        )));
    }
    Ok(())
}

/// Turns file-system problems into specific errors before FFmpeg sees the path.
fn check_file(path: &Path) -> Result<(), DecodeError> {
    let io_error = |err: std::io::Error| DecodeError::from_io(path, &err);
    let metadata = std::fs::metadata(path).map_err(io_error)?;
    if metadata.is_dir() {
        return Err(DecodeError::Open {
            path: path.to_owned(),
            reason: "is a directory".to_owned(),
        });
    }
    // Opening proves read permission (metadata does not need it).
    std::fs::File::open(path).map_err(io_error)?;
    if metadata.is_file() && metadata.len() == 0 {
        return Err(DecodeError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(())
}

fn c_path(path: &Path) -> Option<CString> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt as _;
        CString::new(path.as_os_str().as_bytes()).ok()
    }
    #[cfg(not(unix))]
    {
        CString::new(path.to_str()?).ok()
    }
}

/// `avformat_open_input` + `avformat_find_stream_info`, with the size limit checked on the
/// container header in between so that probing never allocates a huge frame.
fn open_input(path: &Path, max_pixels: u64) -> Result<AvInput, DecodeError> {
    let c_path = c_path(path).ok_or_else(|| DecodeError::Open {
        path: path.to_owned(),
        reason: "path is not representable for FFmpeg".to_owned(),
    })?;

    let mut raw: *mut av_sys::AVFormatContext = std::ptr::null_mut();
    // SAFETY: `raw` is a valid out-pointer and `c_path` a NUL-terminated string; on failure
    // FFmpeg frees the context and leaves `raw` null.
    let rc = unsafe {
        av_sys::avformat_open_input(
            &mut raw,
            c_path.as_ptr(),
            std::ptr::null(),
            std::ptr::null_mut(),
        )
    };
    if rc < 0 || raw.is_null() {
        return Err(open_error(path, AvError::from(rc)));
    }
    // SAFETY: `raw` is a freshly opened input context; `AvInput` closes it on drop.
    let mut input = unsafe { AvInput::wrap(raw) };

    for stream in input.streams() {
        let parameters = stream.parameters();
        if parameters.medium() == AvMediaType::Video {
            let (width, height) = parameter_size(&parameters);
            check_size(path, u64::from(width), u64::from(height), max_pixels)?;
        }
    }

    // Per-stream decoder options for probing: refuse to allocate frames above the limit.
    let limit = CString::new(max_pixels.min(i64::MAX as u64).to_string()).unwrap_or_default();
    // SAFETY: `input` owns a valid context whose `streams` array has `nb_streams` entries.
    let stream_count = unsafe { (*input.as_ptr()).nb_streams } as usize;
    let mut options: Vec<*mut av_sys::AVDictionary> = vec![std::ptr::null_mut(); stream_count];
    for dict in &mut options {
        // SAFETY: `dict` is a valid (null) dictionary pointer; key and value are C strings.
        unsafe { av_sys::av_dict_set(dict, c"max_pixels".as_ptr(), limit.as_ptr(), 0) };
    }
    // SAFETY: `options` holds exactly `nb_streams` dictionaries as FFmpeg requires; they are
    // freed right after (FFmpeg replaces each with the unused entries).
    let rc = unsafe {
        let rc = av_sys::avformat_find_stream_info(input.as_mut_ptr(), options.as_mut_ptr());
        for dict in &mut options {
            av_sys::av_dict_free(dict);
        }
        rc
    };
    if rc < 0 {
        return Err(open_error(path, AvError::from(rc)));
    }
    Ok(input)
}

fn open_error(path: &Path, err: AvError) -> DecodeError {
    let path = path.to_owned();
    match err {
        AvError::Other { errno } if errno == ff::error::ENOENT => DecodeError::NotFound { path },
        AvError::Other { errno } if errno == ff::error::EACCES || errno == ff::error::EPERM => {
            DecodeError::PermissionDenied { path }
        }
        AvError::InvalidData
        | AvError::DemuxerNotFound
        | AvError::StreamNotFound
        | AvError::Eof => DecodeError::NotMedia {
            path,
            reason: err.to_string(),
        },
        _ => DecodeError::Open {
            path,
            reason: err.to_string(),
        },
    }
}

/// The main video stream, ignoring cover art (`attached_pic`) that audio files carry.
fn pick_video_stream(input: &AvInput) -> Option<usize> {
    let usable = |stream: &AvStream| {
        stream.parameters().medium() == AvMediaType::Video
            && !stream.disposition().contains(AvDisposition::ATTACHED_PIC)
    };
    if let Some(best) = input.streams().best(AvMediaType::Video)
        && usable(&best)
    {
        return Some(best.index());
    }
    input.streams().find(usable).map(|stream| stream.index())
}

fn no_video_stream(path: &Path, input: &AvInput) -> DecodeError {
    let mut kinds: Vec<&str> = input
        .streams()
        .map(|stream| match stream.parameters().medium() {
            AvMediaType::Video => "cover art",
            AvMediaType::Audio => "audio",
            AvMediaType::Subtitle => "subtitle",
            AvMediaType::Data => "data",
            AvMediaType::Attachment => "attachment",
            AvMediaType::Unknown => "unknown",
        })
        .collect();
    kinds.dedup();
    // A weak probe with no video is more likely a misdetected non-media file.
    if input.probe_score() <= AVPROBE_SCORE_RETRY {
        return DecodeError::NotMedia {
            path: path.to_owned(),
            reason: format!(
                "format `{}` guessed with low confidence and no video stream",
                input.format().name()
            ),
        };
    }
    DecodeError::NoVideoStream {
        path: path.to_owned(),
        found: if kinds.is_empty() {
            "none".to_owned()
        } else {
            kinds.join(", ")
        },
    }
}

fn open_decoder(
    path: &Path,
    parameters: AvParameters,
    codec: &str,
    packet_time_base: ff::Rational,
    opts: &DecodeOptions,
) -> Result<AvVideoDecoder, DecodeError> {
    let unsupported = |reason: String| DecodeError::UnsupportedCodec {
        path: path.to_owned(),
        codec: codec.to_owned(),
        reason,
    };
    let codec_id = parameters.id();
    let av_codec = ff::decoder::find(codec_id)
        .ok_or_else(|| unsupported("FFmpeg has no decoder for it".to_owned()))?;
    let mut context =
        AvCodecContext::from_parameters(parameters).map_err(|err| unsupported(err.to_string()))?;
    // SAFETY: `context` owns a valid, not yet opened `AVCodecContext`; these fields may be set
    // freely before `avcodec_open2`. `threads` was checked to fit in an i32.
    unsafe {
        let raw = context.as_mut_ptr();
        (*raw).thread_count = opts.threads as c_int;
        (*raw).thread_type = av_sys::FF_THREAD_FRAME | av_sys::FF_THREAD_SLICE;
        (*raw).max_pixels = opts.max_pixels.min(i64::MAX as u64) as i64;
        (*raw).pkt_timebase = packet_time_base.into();
    }
    context
        .decoder()
        .open_as(av_codec)
        .and_then(|opened| opened.video())
        .map_err(|err| unsupported(err.to_string()))
}

/// Tells the demuxer to drop packets of every stream but the chosen one.
fn discard_other_streams(input: &mut AvInput, keep: usize) {
    // SAFETY: `input` owns a valid context; `streams` has `nb_streams` valid entries and
    // `discard` is a plain field the demuxer reads on each packet.
    unsafe {
        let context = input.as_mut_ptr();
        for index in 0..(*context).nb_streams as usize {
            if index != keep {
                let stream = *(*context).streams.add(index);
                (*stream).discard = av_sys::AVDiscard::AVDISCARD_ALL;
            }
        }
    }
}

fn parameter_size(parameters: &AvParameters) -> (u32, u32) {
    // SAFETY: `parameters` wraps a valid `AVCodecParameters` owned by the input context.
    let (width, height) = unsafe {
        let raw = parameters.as_ptr();
        ((*raw).width, (*raw).height)
    };
    (
        u32::try_from(width).unwrap_or(0),
        u32::try_from(height).unwrap_or(0),
    )
}

fn check_size(path: &Path, width: u64, height: u64, max_pixels: u64) -> Result<(), DecodeError> {
    if width.saturating_mul(height) > max_pixels {
        return Err(DecodeError::TooLarge {
            path: path.to_owned(),
            width,
            height,
            max_pixels,
        });
    }
    Ok(())
}

fn rational_from_av(value: ff::Rational) -> Rational {
    Rational::new(value.numerator(), value.denominator())
}

fn positive(value: i64) -> Option<i64> {
    (value > 0 && value != av_sys::AV_NOPTS_VALUE).then_some(value)
}

/// Clockwise quarter turns needed to show the stream upright: the display matrix (stream side
/// data) if present, else the legacy `rotate` tag, else 0.
fn stream_rotation(stream: &AvStream) -> i32 {
    for side_data in stream.side_data() {
        if side_data.kind() != AvSideDataType::DisplayMatrix {
            continue;
        }
        let bytes = side_data.data();
        let Some(matrix) = display_matrix_from_bytes(bytes) else {
            continue;
        };
        if let Some(rotation) = rotation_from_display_matrix(&matrix) {
            return rotation;
        }
        tracing::debug!(?matrix, "display matrix is not a quarter turn; ignoring it");
    }
    stream
        .metadata()
        .get("rotate")
        .and_then(|tag| tag.trim().parse::<f64>().ok())
        .and_then(snap_to_quarter_turn)
        .unwrap_or(0)
}

fn display_matrix_from_bytes(bytes: &[u8]) -> Option<[i32; 9]> {
    let mut matrix = [0_i32; 9];
    for (value, chunk) in matrix.iter_mut().zip(bytes.get(..36)?.chunks_exact(4)) {
        *value = i32::from_ne_bytes(chunk.try_into().ok()?);
    }
    Some(matrix)
}

/// Clockwise rotation in degrees (0/90/180/270) that makes frames upright, from an FFmpeg
/// display matrix (16.16 fixed point, row-major 3×3).
///
/// Mirrors FFmpeg 5.1: `av_display_rotation_get` gives the counter-clockwise angle `a`, and
/// `ffmpeg`'s autorotate applies a clockwise rotation of `-a` (`fftools/cmdutils.c`
/// `get_rotation`). Flips (negative determinant) are ignored, as FFmpeg 5.1 does.
fn rotation_from_display_matrix(matrix: &[i32; 9]) -> Option<i32> {
    let fixed = |value: i32| f64::from(value) / 65536.0;
    let scale_x = fixed(matrix[0]).hypot(fixed(matrix[3]));
    let scale_y = fixed(matrix[1]).hypot(fixed(matrix[4]));
    if scale_x == 0.0 || scale_y == 0.0 {
        return None;
    }
    let counter_clockwise = -(fixed(matrix[1]) / scale_y)
        .atan2(fixed(matrix[0]) / scale_x)
        .to_degrees();
    snap_to_quarter_turn(-counter_clockwise)
}

/// `degrees` normalised to 0/90/180/270, or `None` if it is more than 1° off a quarter turn.
fn snap_to_quarter_turn(degrees: f64) -> Option<i32> {
    if !degrees.is_finite() {
        return None;
    }
    let normalised = degrees.rem_euclid(360.0);
    let quarters = (normalised / 90.0).round();
    ((normalised - quarters * 90.0).abs() <= 1.0).then(|| (quarters as i32 % 4) * 90)
}

/// Normalises a container `creation_time` tag to RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.f](Z|±HH:MM)`).
/// A tag without an offset is taken as UTC (MP4/QuickTime store UTC); other shapes give `None`.
fn rfc3339_from_tag(tag: &str) -> Option<String> {
    let tag = tag.trim();
    let bytes = tag.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|b| b.iter().all(u8::is_ascii_digit))
    };
    let shape_ok = digits(0..4)
        && bytes.get(4) == Some(&b'-')
        && digits(5..7)
        && bytes.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(bytes.get(10), Some(b'T' | b't' | b' '))
        && digits(11..13)
        && bytes.get(13) == Some(&b':')
        && digits(14..16)
        && bytes.get(16) == Some(&b':')
        && digits(17..19);
    if !shape_ok {
        return None;
    }
    let mut rest = &tag[19..];
    let mut fraction = "";
    if let Some(after_dot) = rest.strip_prefix('.') {
        let len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        fraction = &rest[..=len];
        rest = &after_dot[len..];
    }
    let offset = match rest {
        "" | "Z" | "z" => "Z".to_owned(),
        _ => {
            let sign = rest.chars().next().filter(|c| matches!(c, '+' | '-'))?;
            let hhmm: String = rest[1..].chars().filter(|&c| c != ':').collect();
            if hhmm.len() != 4 || !hhmm.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            format!("{sign}{}:{}", &hhmm[..2], &hhmm[2..])
        }
    };
    Some(format!("{}T{}{fraction}{offset}", &tag[..10], &tag[11..19]))
}

/// For pixel formats whose plane 0 is 8-bit luma: `Some(true)` if it is already full range,
/// `Some(false)` if it is limited range. `None`: convert with swscale instead.
fn luma_plane_range(format: AvPixel, range: AvColorRange) -> Option<bool> {
    match format {
        AvPixel::GRAY8
        | AvPixel::YUVJ420P
        | AvPixel::YUVJ422P
        | AvPixel::YUVJ444P
        | AvPixel::YUVJ440P => Some(true),
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
static LIMITED_TO_FULL_RANGE: [u8; 256] = limited_to_full_range();

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
fn copy_plane0(
    frame: &AvFrame,
    bytes_per_pixel: usize,
    lut: Option<&[u8; 256]>,
) -> Option<Vec<u8>> {
    let (width, height) = (
        frame.width() as usize * bytes_per_pixel,
        frame.height() as usize,
    );
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
        let row =
            unsafe { std::slice::from_raw_parts(data.offset(row_index as isize * stride), width) };
        match lut {
            Some(lut) => out.extend(row.iter().map(|&v| lut[usize::from(v)])),
            None => out.extend_from_slice(row),
        }
    }
    Some(out)
}

/// Rotates a tightly packed `width`×`height` image of `bpp` bytes per pixel clockwise by
/// 0/90/180/270 degrees; returns the new buffer and its width and height.
fn rotate_pixels(
    src: Vec<u8>,
    width: usize,
    height: usize,
    bpp: usize,
    clockwise_deg: i32,
) -> (Vec<u8>, usize, usize) {
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

#[cfg(test)]
mod tests;
