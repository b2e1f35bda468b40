//! Probing: what the container says about the chosen video stream, read once at open.
//!
//! In: the opened input and its video stream. Out: [`VideoInfo`] (size, rotation, time base,
//! rate, duration, codec, creation time) and the [`StreamTiming`] the decoder needs to turn
//! raw timestamps into seconds and to judge whether the whole stream was decoded.
//!
//! Invariants:
//! - Rotation is a quarter turn (0/90/180/270) read as FFmpeg 5.1's autorotate reads it:
//!   display matrix first, then the legacy `rotate` tag; anything else counts as 0.
//! - `creation_time` is RFC 3339, taken as UTC when the tag has no offset.

use std::path::Path;

use ff::Stream as AvStream;
use ff::codec::packet::side_data::Type as AvSideDataType;
use ff::ffi as av_sys;
use ff::format::context::Input as AvInput;
use ffmpeg_next as ff;

use super::{Rational, VideoInfo};

/// What the decoder needs beyond [`VideoInfo`] to time frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct StreamTiming {
    /// Timestamp (ticks) that maps to 0 s: the stream start time, if the container has one.
    pub(super) start_ts: Option<i64>,
    /// One frame duration in ticks derived from the average frame rate, if known.
    pub(super) nominal_step: Option<i64>,
    /// The video's duration as the container states it (header, or measured from timestamps):
    /// the stream's own, else the container's when the video is its only stream; `None` when
    /// unknown or only guessed from the bitrate. What a complete file decodes to.
    pub(super) declared_s: Option<f64>,
}

/// Reads the metadata of `stream` (one of `input`'s streams), whose coded frames are
/// `coded_width`×`coded_height`.
pub(super) fn probe_stream(path: &Path, input: &AvInput, stream: &AvStream, (coded_width, coded_height): (u32, u32)) -> (VideoInfo, StreamTiming) {
    let time_base = rational_from_av(stream.time_base());
    let rotation_deg = stream_rotation(stream);
    let avg_fps = [stream.avg_frame_rate(), stream.rate()].into_iter().map(rational_from_av).find(|rate| rate.is_positive()).and_then(Rational::to_f64);
    let stream_duration_s = positive(stream.duration()).map(|ticks| time_base.seconds(ticks));
    let container_duration_s = positive(input.duration()).map(|us| us as f64 / f64::from(av_sys::AV_TIME_BASE));
    let duration_s = stream_duration_s.or(container_duration_s).filter(|s| s.is_finite());
    let frames_estimate = u64::try_from(stream.frames()).ok().filter(|&n| n > 0).or_else(|| {
        let estimate = (duration_s? * avg_fps?).round();
        (estimate >= 1.0).then_some(estimate as u64)
    });
    let start_ts = (stream.start_time() != av_sys::AV_NOPTS_VALUE).then(|| stream.start_time());
    let nominal_step =
        avg_fps.and_then(|fps| time_base.to_f64().map(|tb| 1.0 / (fps * tb))).filter(|step| step.is_finite() && *step >= 1.0).map(|step| step.round() as i64);
    let creation_time_utc =
        input.metadata().get("creation_time").and_then(rfc3339_from_tag).or_else(|| stream.metadata().get("creation_time").and_then(rfc3339_from_tag));
    let codec = stream.parameters().id().name().to_owned();

    let (width, height) = if rotation_deg % 180 == 0 { (coded_width, coded_height) } else { (coded_height, coded_width) };
    // The container's duration is the longest stream's (e.g. audio that outlasts the video),
    // so it only stands for the video's when the video is all the file holds.
    let declared_s = if duration_from_bitrate(input) {
        None
    } else if input.nb_streams() == 1 {
        stream_duration_s.or(container_duration_s)
    } else {
        stream_duration_s
    }
    .filter(|s| s.is_finite());
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
    let timing = StreamTiming { start_ts, nominal_step, declared_s };
    (info, timing)
}

/// Whether FFmpeg only guessed the durations from the file size and bitrate (no stream
/// states its duration and the format has no timestamps to measure it from).
fn duration_from_bitrate(input: &AvInput) -> bool {
    // SAFETY: `input` owns a valid, opened format context; this reads a plain enum field
    // that `avformat_find_stream_info` has set.
    let method = unsafe { (*input.as_ptr()).duration_estimation_method };
    matches!(method, av_sys::AVDurationEstimationMethod::AVFMT_DURATION_FROM_BITRATE)
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
    stream.metadata().get("rotate").and_then(|tag| tag.trim().parse::<f64>().ok()).and_then(snap_to_quarter_turn).unwrap_or(0)
}

pub(super) fn display_matrix_from_bytes(bytes: &[u8]) -> Option<[i32; 9]> {
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
pub(super) fn rotation_from_display_matrix(matrix: &[i32; 9]) -> Option<i32> {
    let fixed = |value: i32| f64::from(value) / 65536.0;
    let scale_x = fixed(matrix[0]).hypot(fixed(matrix[3]));
    let scale_y = fixed(matrix[1]).hypot(fixed(matrix[4]));
    if scale_x == 0.0 || scale_y == 0.0 {
        return None;
    }
    let counter_clockwise = -(fixed(matrix[1]) / scale_y).atan2(fixed(matrix[0]) / scale_x).to_degrees();
    snap_to_quarter_turn(-counter_clockwise)
}

/// `degrees` normalised to 0/90/180/270, or `None` if it is more than 1° off a quarter turn.
pub(super) fn snap_to_quarter_turn(degrees: f64) -> Option<i32> {
    if !degrees.is_finite() {
        return None;
    }
    let normalised = degrees.rem_euclid(360.0);
    let quarters = (normalised / 90.0).round();
    ((normalised - quarters * 90.0).abs() <= 1.0).then(|| (quarters as i32 % 4) * 90)
}

/// Normalises a container `creation_time` tag to RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.f](Z|±HH:MM)`).
/// A tag without an offset is taken as UTC (MP4/QuickTime store UTC); other shapes give `None`.
pub(super) fn rfc3339_from_tag(tag: &str) -> Option<String> {
    let tag = tag.trim();
    let bytes = tag.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes.get(range).is_some_and(|b| b.iter().all(u8::is_ascii_digit));
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
