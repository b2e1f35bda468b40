//! Tests for the decode stage: pure helpers, small clips generated with the `ffmpeg` CLI in a
//! temporary directory, and the real clips in `/work/shared/data/video` (skipped with a note
//! when that folder or the CLI is missing).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::convert::{LIMITED_TO_FULL_RANGE, rotate_pixels};
use super::probe::{display_matrix_from_bytes, rfc3339_from_tag, rotation_from_display_matrix, snap_to_quarter_turn};
use super::*;

const VIDEO_DIR: &str = "/work/shared/data/video";

/// A real clip, or `None` (with a note) when the shared data folder is absent.
fn real_clip(name: &str) -> Option<PathBuf> {
    let path = Path::new(VIDEO_DIR).join(name);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("note: {} not found; skipping", path.display());
        None
    }
}

fn have_ffmpeg() -> bool {
    static HAVE: OnceLock<bool> = OnceLock::new();
    let have = *HAVE.get_or_init(|| Command::new("ffmpeg").arg("-version").output().is_ok_and(|out| out.status.success()));
    if !have {
        eprintln!("note: `ffmpeg` CLI not available; skipping");
    }
    have
}

/// Runs `ffmpeg -nostdin -v error -y <args…> <output>` and panics with its stderr if it fails.
/// `args` is split on whitespace (test paths and filter strings contain none).
fn ffmpeg(args: &str, output: &Path) {
    let out =
        Command::new("ffmpeg").args(["-nostdin", "-hide_banner", "-v", "error", "-y"]).args(args.split_whitespace()).arg(output).output().expect("run ffmpeg");
    assert!(out.status.success(), "ffmpeg {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// First frame of `path` as the `ffmpeg` CLI sees it (autorotated, swscale to gray).
fn cli_gray_first_frame(path: &Path) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// A `size` testsrc clip at `rate` fps for `seconds`, MPEG-4 Part 2 in MP4 (always built in).
fn make_clip(dir: &Path, name: &str, size: &str, rate: u32, seconds: u32) -> PathBuf {
    let path = dir.join(name);
    let args = format!("-f lavfi -i testsrc=size={size}:rate={rate} -t {seconds} -c:v mpeg4 -q:v 3");
    ffmpeg(&args, &path);
    path
}

/// Frame metadata without pixels, so long clips do not sit in memory.
#[derive(Debug)]
struct Seen {
    index: u64,
    timestamp_s: f64,
    pts: Pts,
    width: u32,
    height: u32,
    max_luma: u8,
}

fn decode_all(path: &Path, opts: &DecodeOptions) -> (Vec<Seen>, DecodeStats, VideoInfo) {
    let mut decoder = Decoder::open(path, opts).expect("open");
    let mut seen = Vec::new();
    for frame in &mut decoder {
        let frame = frame.expect("frame");
        assert_eq!(frame.gray.len(), (frame.width * frame.height) as usize);
        seen.push(Seen {
            index: frame.index,
            timestamp_s: frame.timestamp_s,
            pts: frame.pts,
            width: frame.width,
            height: frame.height,
            max_luma: frame.gray.iter().copied().max().unwrap_or(0),
        });
    }
    assert!(decoder.next().is_none(), "iterator stays finished");
    (seen, decoder.stats(), decoder.info().clone())
}

fn assert_strictly_increasing(seen: &[Seen]) {
    for pair in seen.windows(2) {
        assert!(pair[1].timestamp_s > pair[0].timestamp_s, "timestamps not increasing: {:?} then {:?}", pair[0], pair[1]);
        assert!(pair[1].index > pair[0].index);
        assert!(pair[1].pts.value > pair[0].pts.value);
    }
}

fn open_err(path: &Path) -> DecodeError {
    match Decoder::open(path, &DecodeOptions::default()) {
        Ok(decoder) => panic!("{} opened: {:?}", path.display(), decoder.info()),
        Err(err) => err,
    }
}

fn assert_names_file(err: &DecodeError, path: &Path) {
    let message = err.to_string();
    let name = path.file_name().and_then(|n| n.to_str()).expect("file name");
    assert!(message.contains(name), "message {message:?} does not name {name}");
    assert!(!message.contains('\n'), "message {message:?} is not one line");
    assert_eq!(err.path(), path);
}

// ---------------------------------------------------------------------------------------------
// Pure helpers

#[test]
fn limited_range_lut_matches_swscale_endpoints() {
    assert_eq!(LIMITED_TO_FULL_RANGE[0], 0);
    assert_eq!(LIMITED_TO_FULL_RANGE[16], 0);
    assert_eq!(LIMITED_TO_FULL_RANGE[17], 1);
    assert_eq!(LIMITED_TO_FULL_RANGE[126], 128);
    assert_eq!(LIMITED_TO_FULL_RANGE[235], 255);
    assert_eq!(LIMITED_TO_FULL_RANGE[255], 255);
    assert!(LIMITED_TO_FULL_RANGE.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn display_matrix_rotation_follows_ffmpeg_autorotate() {
    const ONE: i32 = 1 << 16;
    const W: i32 = 1 << 30;
    let identity = [ONE, 0, 0, 0, ONE, 0, 0, 0, W];
    // Matrices as `ffprobe -show_streams` prints them for `rotate=270` / `rotate=90` tags
    // written by the FFmpeg 5.1 CLI; `ffmpeg` autorotates those clockwise 90 / 270.
    let cw90 = [0, ONE, 0, -ONE, 0, 0, 0, 0, W];
    let cw270 = [0, -ONE, 0, ONE, 0, 0, 0, 0, W];
    let half = [-ONE, 0, 0, 0, -ONE, 0, 0, 0, W];
    assert_eq!(rotation_from_display_matrix(&identity), Some(0));
    assert_eq!(rotation_from_display_matrix(&cw90), Some(90));
    assert_eq!(rotation_from_display_matrix(&cw270), Some(270));
    assert_eq!(rotation_from_display_matrix(&half), Some(180));
    assert_eq!(rotation_from_display_matrix(&[0; 9]), None);

    let bytes: Vec<u8> = cw90.iter().flat_map(|v| v.to_ne_bytes()).collect();
    assert_eq!(display_matrix_from_bytes(&bytes), Some(cw90));
    assert_eq!(display_matrix_from_bytes(&bytes[..20]), None);
}

#[test]
fn quarter_turns_snap_within_a_degree() {
    assert_eq!(snap_to_quarter_turn(-90.0), Some(270));
    assert_eq!(snap_to_quarter_turn(359.6), Some(0));
    assert_eq!(snap_to_quarter_turn(180.4), Some(180));
    assert_eq!(snap_to_quarter_turn(45.0), None);
    assert_eq!(snap_to_quarter_turn(f64::NAN), None);
}

#[test]
fn rotate_gray_moves_corners_clockwise() {
    // 3 wide, 2 tall:
    // a b c
    // d e f
    let src: Vec<u8> = b"abcdef".to_vec();
    let (out, w, h) = rotate_gray(src.clone(), 3, 2, 90);
    assert_eq!((w, h), (2, 3));
    assert_eq!(out, b"daebfc"); // d a / e b / f c
    let (out, w, h) = rotate_gray(src.clone(), 3, 2, 180);
    assert_eq!((w, h), (3, 2));
    assert_eq!(out, b"fedcba");
    let (out, w, h) = rotate_gray(src.clone(), 3, 2, 270);
    assert_eq!((w, h), (2, 3));
    assert_eq!(out, b"cfbead"); // c f / b e / a d
    assert_eq!(rotate_gray(src.clone(), 3, 2, 0), (src, 3, 2));
}

fn rotate_gray(src: Vec<u8>, width: usize, height: usize, deg: i32) -> (Vec<u8>, usize, usize) {
    rotate_pixels(src, width, height, 1, deg)
}

#[test]
fn rotate_rgb_moves_whole_pixels() {
    // 2 wide, 1 tall, 3 bytes per pixel: A B.
    let src: Vec<u8> = vec![1, 2, 3, 7, 8, 9];
    assert_eq!(rotate_pixels(src.clone(), 2, 1, 3, 90), (src.clone(), 1, 2));
    assert_eq!(rotate_pixels(src.clone(), 2, 1, 3, 180), (vec![7, 8, 9, 1, 2, 3], 2, 1));
    assert_eq!(rotate_pixels(src.clone(), 2, 1, 3, 270), (vec![7, 8, 9, 1, 2, 3], 1, 2));
}

#[test]
fn sampler_keeps_grid_and_skips_gaps() {
    let mut sampler = Sampler::new(Some(5.0));
    // 10 fps with a gap from 0.5 s to 1.25 s.
    let times = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 1.25, 1.3, 1.4, 1.5, 1.6];
    let kept: Vec<f64> = times.into_iter().filter(|&t| sampler.accept(t)).collect();
    assert_eq!(kept, [0.0, 0.2, 0.4, 1.25, 1.4, 1.6]);

    let mut every = Sampler::new(None);
    assert!(times.into_iter().all(|t| every.accept(t)));

    // 29.97 fps for 10 s at 5 fps: one frame per 0.2 s grid point.
    let mut sampler = Sampler::new(Some(5.0));
    let kept = (0..300).map(|i| f64::from(i) * 100.0 / 2997.0).filter(|&t| sampler.accept(t)).count();
    assert_eq!(kept, 50);
}

#[test]
fn creation_time_tags_become_rfc3339() {
    let ok = [
        ("2010-12-23T07:25:59.000000Z", "2010-12-23T07:25:59.000000Z"),
        ("2018-09-24 11:29:46", "2018-09-24T11:29:46Z"),
        ("2020-01-02T03:04:05+0100", "2020-01-02T03:04:05+01:00"),
        ("2020-01-02T03:04:05.5-05:30", "2020-01-02T03:04:05.5-05:30"),
    ];
    for (tag, want) in ok {
        assert_eq!(rfc3339_from_tag(tag).as_deref(), Some(want), "{tag}");
    }
    for tag in ["", "yesterday", "2020-01-02", "2020-01-02T03:04:05.", "2020-01-02T03:04:05 CET"] {
        assert_eq!(rfc3339_from_tag(tag), None, "{tag}");
    }
}

#[test]
fn decoder_is_send_and_init_is_idempotent() {
    fn assert_send<T: Send>() {}
    assert_send::<Decoder>();
    assert_send::<Frame>();
    assert_send::<DecodeError>();
    init();
    init();
}

#[test]
fn ffmpeg_log_goes_to_tracing() {
    use std::sync::{Arc, Mutex};

    #[derive(Clone)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("not-a-movie.mp4");
    std::fs::write(&path, "plain text, not an mp4").expect("write");
    let captured = Captured(Arc::default());
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_max_level(tracing::Level::DEBUG).with_ansi(false).with_writer(move || writer.clone()).finish();
    // The mov demuxer logs on the calling thread while probing the file.
    tracing::subscriber::with_default(subscriber, || open_err(&path));
    let log = String::from_utf8_lossy(&captured.0.lock().expect("lock")).into_owned();
    if cfg!(all(target_arch = "x86_64", not(windows))) {
        assert!(log.contains("ffmpeg"), "{log}");
        assert!(log.contains("moov atom not found"), "{log}");
    }
}

#[test]
fn invalid_options_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("never-read.mp4");
    for fps in [0.0, -5.0, f64::NAN, f64::INFINITY] {
        let opts = DecodeOptions { sample_fps: Some(fps), ..DecodeOptions::default() };
        let err = Decoder::open(&path, &opts).expect_err("invalid fps");
        assert!(matches!(err, DecodeError::InvalidOptions { .. }), "{err}");
        assert_names_file(&err, &path);
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input

#[test]
fn missing_file_is_not_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("does-not-exist.mp4");
    let err = open_err(&path);
    assert!(matches!(err, DecodeError::NotFound { .. }), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn empty_file_is_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("zero-bytes.mp4");
    std::fs::write(&path, b"").expect("write");
    let err = open_err(&path);
    assert!(matches!(err, DecodeError::Empty { .. }), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn random_bytes_and_text_are_not_media() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Deterministic pseudo-random bytes (xorshift), 64 KiB.
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let noise: Vec<u8> = (0..65_536)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[3]
        })
        .collect();
    let random = dir.path().join("random-bytes.mp4");
    std::fs::write(&random, &noise).expect("write");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello world\nthis is not a video\n").expect("write");
    let text_as_mp4 = dir.path().join("notes-renamed.mp4");
    std::fs::write(&text_as_mp4, "hello world\nthis is not a video\n").expect("write");

    for path in [&random, &text, &text_as_mp4] {
        let err = open_err(path);
        assert!(matches!(err, DecodeError::NotMedia { .. }), "{err}");
        assert_names_file(&err, path);
    }
}

#[test]
fn directory_cannot_be_opened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("folder.mp4");
    std::fs::create_dir(&path).expect("mkdir");
    let err = open_err(&path);
    assert!(matches!(err, DecodeError::Open { .. }), "{err}");
    assert_names_file(&err, &path);
}

#[cfg(unix)]
#[test]
fn unreadable_file_is_permission_denied() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("locked.mp4");
    std::fs::write(&path, b"not really a video").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    if std::fs::File::open(&path).is_ok() {
        eprintln!("note: running with privileges that ignore file modes; skipping");
        return;
    }
    let err = open_err(&path);
    assert!(matches!(err, DecodeError::PermissionDenied { .. }), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn audio_only_has_no_video_stream() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tone.m4a");
    ffmpeg("-f lavfi -i sine=duration=0.5 -c:a aac", &path);
    let err = open_err(&path);
    assert!(matches!(err, DecodeError::NoVideoStream { .. }), "{err}");
    assert!(err.to_string().contains("audio"), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn too_large_is_rejected_at_open() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // Motion JPEG in QuickTime: the demuxer reports the size from the sample entry.
    let clip = dir.path().join("small.mov");
    ffmpeg("-f lavfi -i testsrc=size=64x48:rate=10 -t 0.5 -c:v mjpeg", &clip);

    // A limit below the real size.
    let opts = DecodeOptions { max_pixels: 64 * 48 - 1, ..DecodeOptions::default() };
    let err = Decoder::open(&clip, &opts).expect_err("too large");
    assert!(matches!(err, DecodeError::TooLarge { width: 64, height: 48, .. }), "{err}");
    assert_names_file(&err, &clip);

    // A header claiming 65535×65535: patch the `jpeg` sample entry's width and height
    // (type + 6 reserved + 2 data_ref_index + 16 pre_defined/reserved = 28 bytes in).
    let mut bytes = std::fs::read(&clip).expect("read");
    let entry = bytes.windows(4).position(|w| w == b"jpeg").expect("jpeg sample entry");
    assert_eq!(bytes[entry + 28..entry + 32], [0, 64, 0, 48]);
    bytes[entry + 28..entry + 32].copy_from_slice(&[0xFF; 4]);
    let huge = dir.path().join("huge-header.mov");
    std::fs::write(&huge, &bytes).expect("write");
    let err = open_err(&huge);
    assert!(matches!(err, DecodeError::TooLarge { width: 65535, height: 65535, .. }), "{err}");
    assert_names_file(&err, &huge);

    // MPEG-4 Part 2 in MP4: the demuxer leaves the size to the decoder, which refuses to
    // allocate frames above the limit, so the failure surfaces while decoding.
    let mp4 = make_clip(dir.path(), "small.mp4", "64x48", 10, 1);
    let result = Decoder::open(&mp4, &opts).and_then(|mut decoder| decoder.find_map(Result::err).map_or(Ok(()), Err));
    let err = result.expect_err("no frame may exceed the limit");
    assert!(matches!(err, DecodeError::TooLarge { .. } | DecodeError::Decode { .. }), "{err}");
    assert_names_file(&err, &mp4);
}

#[test]
fn truncated_mp4_delivers_frames_before_the_cut() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let full = dir.path().join("full.mp4");
    let args = "-f lavfi -i testsrc=size=160x120:rate=10 -t 3 -c:v mpeg4 -q:v 3";
    ffmpeg(&format!("{args} -movflags +faststart"), &full);
    let bytes = std::fs::read(&full).expect("read");
    let (total, _, _) = decode_all(&full, &DecodeOptions::default());
    assert_eq!(total.len(), 30);
    let (complete, _) = completeness_of(&full);
    assert!(!complete.truncated, "{complete:?}");
    assert!((complete.decoded_s - 3.0).abs() < 1e-9, "{complete:?}");

    // Index first (faststart), media cut off at 60 %.
    let cut = dir.path().join("truncated-faststart.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).expect("write");
    let mut decoder = Decoder::open(&cut, &DecodeOptions::default()).expect("open truncated");
    let items: Vec<_> = (&mut decoder).collect();
    let errors = items.iter().filter(|item| item.is_err()).count();
    assert!(errors <= 1, "at most one error: {items:?}");
    if let Some(Err(err)) = items.last() {
        assert_names_file(err, &cut);
    }
    let frames = items.iter().filter(|item| item.is_ok()).count();
    assert!(frames > 5 && frames < 30, "{frames} frames from a 60 % file");
    eprintln!("truncated clip: {items:?}, {:?}", decoder.stats());
    let complete = decoder.completeness();
    assert!(complete.truncated, "{complete:?}");
    assert!((complete.declared_s.expect("declared") - 3.0).abs() < 0.01);
    assert!(complete.decoded_s < 2.0, "{complete:?}");

    // Index last (the default), so the cut removes it: FFmpeg cannot open the file.
    let plain = dir.path().join("plain.mp4");
    ffmpeg(args, &plain);
    let bytes = std::fs::read(&plain).expect("read");
    let cut = dir.path().join("truncated-no-index.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let err = open_err(&cut);
    assert!(matches!(err, DecodeError::NotMedia { .. }), "{err}");
    assert_names_file(&err, &cut);
}

#[test]
fn corrupt_packets_mid_stream_are_skipped() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("damaged.ts");
    ffmpeg("-f lavfi -i testsrc=size=160x120:rate=25 -t 2 -c:v mpeg4 -q:v 3 -g 10 -f mpegts", &path);
    let mut bytes = std::fs::read(&path).expect("read");
    // Overwrite the payload (not the 4-byte headers) of a run of TS packets in the middle.
    let middle = bytes.len() / 2 / 188 * 188;
    for packet in 0..6 {
        let start = middle + packet * 188 + 4;
        for (offset, byte) in bytes[start..start + 184].iter_mut().enumerate() {
            *byte = (offset as u8).wrapping_mul(37) ^ 0x5A;
        }
    }
    std::fs::write(&path, &bytes).expect("write");

    let mut decoder = Decoder::open(&path, &DecodeOptions::default()).expect("open");
    let mut frames = 0;
    for item in &mut decoder {
        let frame = item.expect("damage in the middle is skipped, not an error");
        assert_eq!(frame.gray.len(), 160 * 120);
        frames += 1;
    }
    eprintln!("damaged clip: {frames} frames, {:?}", decoder.stats());
    assert!(frames >= 40, "{frames} of 50 frames survived");
}

#[test]
fn packet_rejected_by_decoder_is_counted_and_skipped() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad-nal.mp4");
    let encoded = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .args(["testsrc=size=160x120:rate=25", "-t", "2", "-c:v", "libx264", "-g", "10"])
        .args(["-pix_fmt", "yuv420p"])
        .arg(&path)
        .status()
        .is_ok_and(|status| status.success());
    if !encoded {
        eprintln!("note: ffmpeg has no libx264 encoder; skipping");
        return;
    }
    // Byte offset of the 16th packet (a P frame), from ffprobe.
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pos"])
        .args(["-of", "csv=p=0"])
        .arg(&path)
        .output()
        .expect("run ffprobe");
    let positions = String::from_utf8_lossy(&probe.stdout);
    let pos: usize = positions.lines().nth(15).and_then(|line| line.trim().parse().ok()).expect("packet position");
    // An impossible NAL length: the decoder rejects the packet ("Invalid NAL unit size").
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[pos..pos + 4].copy_from_slice(&[0x7F, 0xFF, 0xFF, 0xFF]);
    std::fs::write(&path, &bytes).expect("write");

    let (seen, stats, _) = decode_all(&path, &DecodeOptions::default());
    assert_eq!(stats.corrupt_skipped, 1, "{stats:?}");
    assert_eq!(seen.len(), 49);
    assert_strictly_increasing(&seen);
}

// ---------------------------------------------------------------------------------------------
// Generated clips

#[test]
fn generated_clip_frames_timestamps_and_sampling() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = make_clip(dir.path(), "testsrc.mp4", "64x48", 10, 2);

    let (seen, stats, info) = decode_all(&clip, &DecodeOptions::default());
    assert_eq!((info.width, info.height, info.rotation_deg), (64, 48, 0));
    assert_eq!(info.codec, "mpeg4");
    assert_eq!(info.frames_estimate, Some(20));
    assert!((info.avg_fps.expect("fps") - 10.0).abs() < 1e-9);
    assert_eq!(seen.len(), 20);
    assert_eq!(stats, DecodeStats { decoded: 20, emitted: 20, corrupt_skipped: 0 });
    for (i, frame) in seen.iter().enumerate() {
        assert_eq!(frame.index, i as u64);
        assert!((frame.timestamp_s - i as f64 / 10.0).abs() < 1e-9, "{frame:?}");
        assert_eq!((frame.width, frame.height), (64, 48));
        assert!(frame.max_luma > 200);
    }

    let sampled = |fps: f64| {
        let opts = DecodeOptions { sample_fps: Some(fps), ..DecodeOptions::default() };
        let (seen, stats, _) = decode_all(&clip, &opts);
        assert_eq!(stats.decoded, 20);
        assert_eq!(stats.emitted, seen.len() as u64);
        seen.iter().map(|f| f.index).collect::<Vec<_>>()
    };
    assert_eq!(sampled(5.0), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    assert_eq!(sampled(3.0), [0, 4, 7, 10, 14, 17]);
    assert_eq!(sampled(100.0), (0..20).collect::<Vec<_>>());
}

#[test]
fn luma_matches_ffmpeg_gray_conversion() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // yuv420p (direct Y copy + range expansion), pal8 and rgb24 (swscale).
    let yuv = make_clip(dir.path(), "yuv.mp4", "96x64", 10, 1);
    let gif = dir.path().join("pal.gif");
    ffmpeg("-f lavfi -i testsrc=size=96x64:rate=10 -t 0.5", &gif);
    let rgb = dir.path().join("rgb.mkv");
    let args = "-f lavfi -i testsrc=size=96x64:rate=10 -t 0.5 -c:v png -pix_fmt rgb24";
    ffmpeg(args, &rgb);
    for path in [&yuv, &gif, &rgb] {
        let mut decoder = Decoder::open(path, &DecodeOptions::default()).expect("open");
        let frame = decoder.next().expect("a frame").expect("decodes");
        assert_eq!((frame.width, frame.height), (96, 64));
        let want = cli_gray_first_frame(path);
        assert_eq!(frame.gray.len(), want.len(), "{}", path.display());
        let max_diff = frame.gray.iter().zip(&want).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(0);
        assert!(max_diff <= 2, "{}: max luma difference {max_diff}", path.display());
    }
}

#[test]
fn rotated_clips_come_out_upright() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // A red block in the top-left corner of a black 64×48 frame.
    let plain = dir.path().join("corner.mp4");
    let box_filter = "color=black:size=64x48:rate=10,drawbox=x=0:y=0:w=16:h=8:color=red:t=fill";
    ffmpeg(&format!("-f lavfi -i {box_filter} -t 0.5 -c:v mpeg4 -q:v 2"), &plain);
    // FFmpeg 5.1 only writes a display matrix for `rotate` on stream copy, and its matrix
    // makes `ffmpeg` turn a `rotate=90` clip 90° counter-clockwise (270° clockwise).
    for (tag, clockwise) in [("90", 270), ("180", 180), ("270", 90)] {
        let rotated = dir.path().join(format!("rotate{tag}.mp4"));
        let args = format!("-i {} -c copy -metadata:s:v:0 rotate={tag}", path_str(&plain));
        ffmpeg(&args, &rotated);
        let mut decoder = Decoder::open(&rotated, &DecodeOptions::default()).expect("open");
        let info = decoder.info().clone();
        assert_eq!(info.rotation_deg, clockwise, "rotate={tag}");
        assert_eq!((info.coded_width, info.coded_height), (64, 48));
        let upright = if clockwise == 180 { (64, 48) } else { (48, 64) };
        assert_eq!((info.width, info.height), upright);

        let frame = decoder.next().expect("a frame").expect("decodes");
        assert_eq!((frame.width, frame.height), upright);
        let want = cli_gray_first_frame(&rotated);
        let max_diff = frame.gray.iter().zip(&want).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(0);
        assert_eq!(frame.gray.len(), want.len());
        assert!(max_diff <= 2, "rotate={tag}: differs from ffmpeg's autorotate by {max_diff}");
        assert!(frame.rgb.is_none(), "RGB only when asked for");

        // RGB frames are turned the same way: red where the luma shows the block, else black.
        let opts = DecodeOptions { rgb: true, ..DecodeOptions::default() };
        let frame = Decoder::open(&rotated, &opts).expect("open").next().expect("a frame").expect("decodes");
        let rgb = frame.rgb.as_ref().expect("rgb requested");
        assert_eq!(rgb.len(), frame.gray.len() * 3);
        let (mut red, mut black) = (0, 0);
        for (px, &y) in rgb.chunks_exact(3).zip(&frame.gray) {
            if y > 40 && px[0] > 180 && px[1] < 80 && px[2] < 80 {
                red += 1;
            } else if y <= 40 && px.iter().all(|&c| c < 40) {
                black += 1;
            }
        }
        assert!(red >= 16 * 8 * 8 / 10, "rotate={tag}: {red} red pixels");
        assert!(red + black >= frame.gray.len() * 95 / 100, "rotate={tag}: {red} red + {black} black");
    }
}

// ---------------------------------------------------------------------------------------------
// Real clips (frame counts from `ffprobe -count_frames -show_entries stream=nb_read_frames`)

#[test]
fn talking_head_all_frames_and_sampled() {
    let Some(path) = real_clip("talking_head_woman_596x336.mp4") else {
        return;
    };
    let (seen, stats, info) = decode_all(&path, &DecodeOptions::default());
    assert_eq!((info.width, info.height, info.rotation_deg), (596, 336, 0));
    assert_eq!(info.codec, "h264");
    assert_eq!(info.time_base, Rational::new(1, 2997));
    assert!((info.avg_fps.expect("fps") - 29.97).abs() < 1e-9);
    assert_eq!(info.frames_estimate, Some(464));
    assert_eq!(info.creation_time_utc.as_deref(), Some("2010-12-23T07:25:59.000000Z"));
    let duration = info.duration_s.expect("duration");
    assert!((duration - 15.482).abs() < 0.01, "{duration}");

    assert_eq!(seen.len(), 464);
    assert_eq!(stats, DecodeStats { decoded: 464, emitted: 464, corrupt_skipped: 0 });
    assert_strictly_increasing(&seen);
    assert_eq!(seen[0].timestamp_s, 0.0);
    assert!(seen.iter().all(|f| f.timestamp_s <= duration && (f.width, f.height) == (596, 336)));
    assert!(seen.iter().all(|f| f.max_luma > 50), "luma is not blank");
    // Constant 29.97 fps: frame i sits at i × 100/2997 s.
    for (i, frame) in seen.iter().enumerate() {
        assert_eq!(frame.index, i as u64);
        assert!((frame.timestamp_s - i as f64 * 100.0 / 2997.0).abs() < 1e-9);
    }

    let opts = DecodeOptions { sample_fps: Some(5.0), ..DecodeOptions::default() };
    let (sampled, stats, _) = decode_all(&path, &opts);
    let expected = duration * 5.0;
    assert!((sampled.len() as f64 - expected).abs() <= 2.0, "{} frames at 5 fps over {duration} s", sampled.len());
    assert_eq!(stats.decoded, 464);
    assert_eq!(stats.emitted, sampled.len() as u64);
    assert_strictly_increasing(&sampled);
    for frame in &sampled {
        // True timestamps and indices of the original frames.
        assert!((frame.timestamp_s - frame.index as f64 * 100.0 / 2997.0).abs() < 1e-9);
    }
    for pair in sampled.windows(2) {
        let gap = pair[1].timestamp_s - pair[0].timestamp_s;
        assert!(gap > 0.19 && gap < 0.25, "gap {gap}");
    }
}

#[test]
fn traffic_cam_vfr_timestamps() {
    let Some(path) = real_clip("traffic_cam_no_faces_640x360.mp4") else {
        return;
    };
    let (seen, stats, info) = decode_all(&path, &DecodeOptions::default());
    assert_eq!((info.width, info.height), (640, 360));
    // The index lists 754 packets, but the first 20 precede the first keyframe and never
    // decode: `ffprobe -count_frames` reads 734 frames, like us.
    assert_eq!(info.frames_estimate, Some(754));
    assert_eq!(seen.len(), 734);
    assert_eq!(stats.decoded, 734);
    assert_eq!(stats.emitted, 734);
    assert_strictly_increasing(&seen);
    let duration = info.duration_s.expect("duration");
    assert!((duration - 75.086).abs() < 0.01, "{duration}");
    // First decodable frame is the keyframe at pts 167400 / 90000 s.
    assert_eq!(seen[0].pts, Pts::new(167_400, Rational::new(1, 90_000)));
    assert!((seen[0].timestamp_s - 1.86).abs() < 1e-9);
    assert!(seen.iter().all(|f| f.timestamp_s <= duration));
    assert!(seen.iter().all(|f| f.max_luma > 50));
    // Strongly variable frame rate.
    let gaps: Vec<f64> = seen.windows(2).map(|p| p[1].timestamp_s - p[0].timestamp_s).collect();
    let (min, max) = gaps.iter().fold((f64::MAX, 0.0_f64), |(lo, hi), &g| (lo.min(g), hi.max(g)));
    assert!(max > 2.0 * min, "gaps {min}..{max}");
}

#[test]
fn classroom_wide_sampled_at_5_fps() {
    let Some(path) = real_clip("classroom_wide_1280x720.mp4") else {
        return;
    };
    let opts = DecodeOptions { sample_fps: Some(5.0), ..DecodeOptions::default() };
    let (sampled, stats, info) = decode_all(&path, &opts);
    assert_eq!((info.width, info.height), (1280, 720));
    assert_eq!(stats.decoded, 149);
    let duration = info.duration_s.expect("duration");
    assert!((sampled.len() as f64 - duration * 5.0).abs() <= 2.0, "{} frames over {duration} s", sampled.len());
    assert_strictly_increasing(&sampled);
    assert!(sampled.iter().all(|f| f.timestamp_s <= duration && f.max_luma > 50));
}

// ---------------------------------------------------------------------------------------------
// Completeness: declared against decoded duration (issue 19)

#[test]
fn completeness_rule_allows_a_frame_or_two_and_flags_real_shortfalls() {
    let judge = |declared, decoded, frame_s| Completeness::judge(declared, decoded, frame_s).truncated;
    // Complete files: equal, or off by rounding or a missing last frame.
    assert!(!judge(Some(10.0), 10.0, Some(1.0 / 30.0)));
    assert!(!judge(Some(10.0), 9.6, Some(1.0 / 30.0)));
    // Low frame rates get two frames of slack.
    assert!(!judge(Some(10.0), 8.5, Some(1.0)));
    assert!(judge(Some(10.0), 7.9, Some(1.0)));
    // Issue 19: 12 of 30 frames at 5 fps.
    assert!(judge(Some(6.0), 2.4, Some(0.2)));
    // Nothing decoded at all, or no frame duration known.
    assert!(judge(Some(6.0), 0.0, None));
    assert!(!judge(Some(6.0), 5.6, None));
    // Longer than declared is not truncated; without a declared duration nothing is.
    assert!(!judge(Some(6.0), 7.0, Some(0.2)));
    assert!(!judge(None, 0.5, Some(0.2)));
    assert_eq!(Completeness::default().declared_s, None);
}

/// Decodes every frame of `path` (emitting one per second, to keep it cheap) and returns how
/// complete it was.
fn completeness_of(path: &Path) -> (Completeness, DecodeStats) {
    let opts = DecodeOptions { sample_fps: Some(1.0), ..DecodeOptions::default() };
    let mut decoder = Decoder::open(path, &opts).expect("open");
    for item in &mut decoder {
        item.expect("frame");
    }
    (decoder.completeness(), decoder.stats())
}

#[test]
fn shared_clips_are_complete_and_their_cut_copies_truncated() {
    let Ok(entries) = std::fs::read_dir(VIDEO_DIR) else {
        eprintln!("note: {VIDEO_DIR} not found; skipping");
        return;
    };
    let mut clips: Vec<PathBuf> =
        entries.filter_map(|entry| entry.ok().map(|entry| entry.path())).filter(|path| path.extension().is_some_and(|ext| ext == "mp4")).collect();
    clips.sort();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cut_copies = 0;
    for clip in &clips {
        let (complete, stats) = completeness_of(clip);
        eprintln!("{}: {complete:?} {stats:?}", clip.display());
        let declared = complete.declared_s.expect("mp4 declares its duration");
        assert!(!complete.truncated, "{}: {complete:?}", clip.display());
        assert!((declared - complete.decoded_s).abs() < 0.05, "{complete:?}");

        // The first half of the file, as a recorder that died would leave it: clips with the
        // index in front still open and decode up to the cut, which is reported.
        let bytes = std::fs::read(clip).expect("read");
        let name = clip.file_name().expect("file name");
        let cut = dir.path().join(name);
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
        if Decoder::open(&cut, &DecodeOptions::default()).is_err() {
            continue; // index at the end: the cut copy is not media at all
        }
        let (cut_complete, cut_stats) = completeness_of(&cut);
        eprintln!("{} (first half): {cut_complete:?} {cut_stats:?}", cut.display());
        assert!(cut_complete.truncated, "{}: {cut_complete:?}", cut.display());
        assert_eq!(cut_complete.declared_s, complete.declared_s);
        assert!(cut_complete.decoded_s < declared * 0.8, "{cut_complete:?}");
        cut_copies += 1;
    }
    if clips.len() >= 8 {
        assert!(cut_copies >= 3, "the three clips with the index in front");
    }
}
