//! The decoder: packets in, [`Frame`]s out, one video stream from start to end.
//!
//! In: a file opened by `open.rs`. Out: an iterator over [`Frame`]s, then [`DecodeStats`] and
//! [`Completeness`] once it has ended.
//!
//! Invariants (see also the stage's module docs):
//! - End of file ends the iterator with `None`. A read failure yields the frames the decoder
//!   still holds, then the error once, then `None`.
//! - Timestamps are forced strictly increasing; missing ones are extrapolated by one frame.
//! - One packet is in flight at a time (plus the decoder's own frame-thread queue).

use std::fmt;
use std::path::Path;

use ff::Error as AvError;
use ff::Packet as AvPacket;
use ff::codec::decoder::Video as AvVideoDecoder;
use ff::ffi as av_sys;
use ff::format::context::Input as AvInput;
use ff::util::frame::video::Video as AvFrame;
use ffmpeg_next as ff;

use super::convert::FrameConverter;
use super::open::{check_size, open_stream};
use super::{Completeness, DecodeError, DecodeOptions, DecodeStats, Frame, Pts, Sampler, VideoInfo, init};

/// With nothing decoded yet, give up after this many rejected packets instead of reading the
/// whole file (e.g. a codec FFmpeg knows but cannot actually decode).
const MAX_LEADING_FAILURES: u64 = 256;

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
/// println!("{:?} {:?}", decoder.stats(), decoder.completeness());
/// # Ok::<(), fer_batch::decode::DecodeError>(())
/// ```
pub struct Decoder {
    info: VideoInfo,
    max_pixels: u64,
    input: AvInput,
    stream_index: usize,
    decoder: AvVideoDecoder,
    decoded: AvFrame,
    converter: FrameConverter,
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
    /// How long the container says the stream is, when it says so (see [`Completeness`]).
    declared_s: Option<f64>,
    /// Duration (ticks) of the last decoded frame, for [`Completeness::decoded_s`].
    last_duration: Option<i64>,
    sampler: Sampler,
    stats: DecodeStats,
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder").field("info", &self.info).field("state", &self.state).field("stats", &self.stats).finish_non_exhaustive()
    }
}

impl Decoder {
    /// Opens `path`, picks its main video stream and prepares a decoder for it.
    ///
    /// Fails with a [`DecodeError`] naming the file if it is missing, unreadable, empty, not
    /// media, has no video stream, uses a codec FFmpeg cannot decode, or is too large.
    pub fn open(path: &Path, opts: &DecodeOptions) -> Result<Self, DecodeError> {
        init();
        let opened = open_stream(path, opts)?;
        Ok(Self {
            converter: FrameConverter::new(opened.info.rotation_deg, opts.rgb),
            info: opened.info,
            max_pixels: opts.max_pixels,
            input: opened.input,
            stream_index: opened.stream_index,
            decoder: opened.decoder,
            decoded: AvFrame::empty(),
            pending_packet: None,
            pending_error: None,
            state: State::Reading,
            start_ts: opened.timing.start_ts,
            last_ts: None,
            last_step: None,
            nominal_step: opened.timing.nominal_step,
            declared_s: opened.timing.declared_s,
            last_duration: None,
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

    /// How much of the declared stream was decoded so far; after the iterator has ended, whether
    /// the recording was cut short (see [`Completeness`] for the rule).
    pub fn completeness(&self) -> Completeness {
        let decoded_s = match (self.last_ts, self.start_ts) {
            (Some(last), Some(start)) => {
                let end = last.saturating_add(self.last_duration.unwrap_or(0));
                Pts::new(end, self.info.time_base).seconds_since(start)
            }
            _ => 0.0,
        };
        let frame_s = [self.last_step, self.nominal_step].into_iter().flatten().find(|&step| step > 0).map(|step| self.info.time_base.seconds(step));
        Completeness::judge(self.declared_s, decoded_s, frame_s)
    }

    fn decode_error(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError::Decode { path: self.info.path.clone(), reason: reason.into() }
    }

    /// Counts a skipped packet or frame; fails once nothing has decoded for too long.
    fn skip_corrupt(&mut self, what: &str, err: AvError) -> Result<(), DecodeError> {
        self.stats.corrupt_skipped += 1;
        tracing::debug!(path = ?self.info.path, "skipping damaged data ({what}): {err}");
        if self.stats.decoded == 0 && self.stats.corrupt_skipped >= MAX_LEADING_FAILURES {
            return Err(self.decode_error(format!("no frame decoded after {} damaged packets (last: {what}: {err})", self.stats.corrupt_skipped)));
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
                        self.pending_error = Some(self.decode_error(format!("reading failed: {err}")));
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
                format!("no frame could be decoded ({} damaged packets skipped)", self.stats.corrupt_skipped)
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
        [Some(from_packet), self.last_step, self.nominal_step].into_iter().flatten().find(|&step| step > 0).unwrap_or(1)
    }

    /// The decoded frame's timestamp in ticks: best effort, then pts, then packet dts, then
    /// extrapolated from the previous frame; forced strictly increasing.
    fn frame_timestamp(&mut self) -> i64 {
        let raw =
            self.decoded.timestamp().or_else(|| self.decoded.pts()).or_else(|| Some(self.decoded.packet().dts).filter(|&dts| dts != av_sys::AV_NOPTS_VALUE));
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
        self.last_duration = Some(self.frame_step());
        let start = *self.start_ts.get_or_insert(ts);
        let pts = Pts::new(ts, self.info.time_base);
        let timestamp_s = pts.seconds_since(start);
        if !self.sampler.accept(timestamp_s) {
            return Ok(None);
        }

        let (coded_width, coded_height) = (self.decoded.width(), self.decoded.height());
        check_size(&self.info.path, u64::from(coded_width), u64::from(coded_height), self.max_pixels)?;
        if coded_width == 0 || coded_height == 0 {
            self.stats.corrupt_skipped += 1;
            return Ok(None);
        }
        let pixels = self.converter.convert(&self.decoded).map_err(|reason| self.decode_error(reason))?;
        self.stats.emitted += 1;
        Ok(Some(Frame { index, pts, timestamp_s, width: pixels.width, height: pixels.height, gray: pixels.gray, rgb: pixels.rgb }))
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
