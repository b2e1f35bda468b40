//! Opening: a path in, a demuxer and a decoder for the file's main video stream out.
//!
//! In: a path and [`DecodeOptions`]. Out: an [`OpenedStream`] (the FFmpeg input and decoder
//! plus what `probe.rs` read), or a [`DecodeError`] naming the file: missing, unreadable,
//! empty, not media, no video stream, an undecodable codec, or too large.
//!
//! Invariants:
//! - File-system problems are classified before FFmpeg sees the path, so they get specific
//!   errors rather than FFmpeg's generic ones.
//! - The size limit is checked on the container header before probing allocates any frame,
//!   and handed to the decoder so that it refuses larger frames too.
//! - Cover art (`attached_pic`) is never picked as the video stream; the other streams are
//!   discarded at the demuxer.

use std::ffi::{CString, c_int};
use std::path::Path;

use ff::Error as AvError;
use ff::Stream as AvStream;
use ff::codec::Context as AvCodecContext;
use ff::codec::Parameters as AvParameters;
use ff::codec::decoder::Video as AvVideoDecoder;
use ff::ffi as av_sys;
use ff::format::context::Input as AvInput;
use ff::format::stream::Disposition as AvDisposition;
use ff::media::Type as AvMediaType;
use ffmpeg_next as ff;

use super::probe::{StreamTiming, probe_stream};
use super::{DecodeError, DecodeOptions, VideoInfo};

/// `AVPROBE_SCORE_RETRY` (not exported by ffmpeg-sys): probe scores up to this are guesses.
const AVPROBE_SCORE_RETRY: i32 = 25;

/// A file opened for decoding its main video stream.
pub(super) struct OpenedStream {
    /// The demuxer, reading only the chosen stream.
    pub(super) input: AvInput,
    /// Index of the chosen stream in `input`.
    pub(super) stream_index: usize,
    /// An opened decoder for it.
    pub(super) decoder: AvVideoDecoder,
    /// What the container says about it.
    pub(super) info: VideoInfo,
    /// How its timestamps map to seconds.
    pub(super) timing: StreamTiming,
}

/// Checks `opts` and the file, opens it, picks its main video stream, reads its metadata and
/// opens a decoder for it.
pub(super) fn open_stream(path: &Path, opts: &DecodeOptions) -> Result<OpenedStream, DecodeError> {
    check_options(path, opts)?;
    check_file(path)?;

    let mut input = open_input(path, opts.max_pixels)?;
    let stream_index = pick_video_stream(&input).ok_or_else(|| no_video_stream(path, &input))?;
    let stream = input.stream(stream_index).ok_or_else(|| DecodeError::Open { path: path.to_owned(), reason: format!("stream {stream_index} vanished") })?;

    let parameters = stream.parameters();
    let coded_size = parameter_size(&parameters);
    check_size(path, u64::from(coded_size.0), u64::from(coded_size.1), opts.max_pixels)?;
    let (info, timing) = probe_stream(path, &input, &stream, coded_size);
    let decoder = open_decoder(path, parameters, &info.codec, stream.time_base(), opts)?;
    discard_other_streams(&mut input, stream_index);
    tracing::debug!(?info, "opened video");
    Ok(OpenedStream { input, stream_index, decoder, info, timing })
}

fn check_options(path: &Path, opts: &DecodeOptions) -> Result<(), DecodeError> {
    let invalid = |reason: String| DecodeError::InvalidOptions { path: path.to_owned(), reason };
    if let Some(fps) = opts.sample_fps
        && !(fps.is_finite() && fps > 0.0)
    {
        return Err(invalid(format!("sample_fps must be a positive number, got {fps}")));
    }
    if opts.max_pixels == 0 {
        return Err(invalid("max_pixels must be at least 1".to_owned()));
    }
    if i32::try_from(opts.threads).is_err() {
        return Err(invalid(format!("threads must fit in an i32, got {}", opts.threads)));
    }
    Ok(())
}

/// Turns file-system problems into specific errors before FFmpeg sees the path.
fn check_file(path: &Path) -> Result<(), DecodeError> {
    let io_error = |err: std::io::Error| DecodeError::from_io(path, &err);
    let metadata = std::fs::metadata(path).map_err(io_error)?;
    if metadata.is_dir() {
        return Err(DecodeError::Open { path: path.to_owned(), reason: "is a directory".to_owned() });
    }
    // Opening proves read permission (metadata does not need it).
    std::fs::File::open(path).map_err(io_error)?;
    if metadata.is_file() && metadata.len() == 0 {
        return Err(DecodeError::Empty { path: path.to_owned() });
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
    let c_path = c_path(path).ok_or_else(|| DecodeError::Open { path: path.to_owned(), reason: "path is not representable for FFmpeg".to_owned() })?;

    let mut raw: *mut av_sys::AVFormatContext = std::ptr::null_mut();
    // SAFETY: `raw` is a valid out-pointer and `c_path` a NUL-terminated string; on failure
    // FFmpeg frees the context and leaves `raw` null.
    let rc = unsafe { av_sys::avformat_open_input(&mut raw, c_path.as_ptr(), std::ptr::null(), std::ptr::null_mut()) };
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
        AvError::Other { errno } if errno == ff::error::EACCES || errno == ff::error::EPERM => DecodeError::PermissionDenied { path },
        AvError::InvalidData | AvError::DemuxerNotFound | AvError::StreamNotFound | AvError::Eof => DecodeError::NotMedia { path, reason: err.to_string() },
        _ => DecodeError::Open { path, reason: err.to_string() },
    }
}

/// The main video stream, ignoring cover art (`attached_pic`) that audio files carry.
fn pick_video_stream(input: &AvInput) -> Option<usize> {
    let usable = |stream: &AvStream| stream.parameters().medium() == AvMediaType::Video && !stream.disposition().contains(AvDisposition::ATTACHED_PIC);
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
            reason: format!("format `{}` guessed with low confidence and no video stream", input.format().name()),
        };
    }
    DecodeError::NoVideoStream { path: path.to_owned(), found: if kinds.is_empty() { "none".to_owned() } else { kinds.join(", ") } }
}

fn open_decoder(
    path: &Path,
    parameters: AvParameters,
    codec: &str,
    packet_time_base: ff::Rational,
    opts: &DecodeOptions,
) -> Result<AvVideoDecoder, DecodeError> {
    let unsupported = |reason: String| DecodeError::UnsupportedCodec { path: path.to_owned(), codec: codec.to_owned(), reason };
    let codec_id = parameters.id();
    let av_codec = ff::decoder::find(codec_id).ok_or_else(|| unsupported("FFmpeg has no decoder for it".to_owned()))?;
    let mut context = AvCodecContext::from_parameters(parameters).map_err(|err| unsupported(err.to_string()))?;
    // SAFETY: `context` owns a valid, not yet opened `AVCodecContext`; these fields may be set
    // freely before `avcodec_open2`. `threads` was checked to fit in an i32.
    unsafe {
        let raw = context.as_mut_ptr();
        (*raw).thread_count = opts.threads as c_int;
        (*raw).thread_type = av_sys::FF_THREAD_FRAME | av_sys::FF_THREAD_SLICE;
        (*raw).max_pixels = opts.max_pixels.min(i64::MAX as u64) as i64;
        (*raw).pkt_timebase = packet_time_base.into();
    }
    context.decoder().open_as(av_codec).and_then(|opened| opened.video()).map_err(|err| unsupported(err.to_string()))
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
    (u32::try_from(width).unwrap_or(0), u32::try_from(height).unwrap_or(0))
}

pub(super) fn check_size(path: &Path, width: u64, height: u64, max_pixels: u64) -> Result<(), DecodeError> {
    if width.saturating_mul(height) > max_pixels {
        return Err(DecodeError::TooLarge { path: path.to_owned(), width, height, max_pixels });
    }
    Ok(())
}
