//! Criterion benchmarks of the pipeline stages through the library's public API:
//! decode (grey frames), face detection (YuNet and SeetaFace) at several face-size settings,
//! alignment,
//! SLDCNN inference on batches of 1/16/64 crops with the shipped model and one of its networks,
//! and tracking.
//!
//! ```sh
//! cargo bench --bench stages                 # all of them (release profile)
//! cargo bench --bench stages -- detect       # one group
//! ```
//!
//! Real frames come from `../shared/data/video/` (override with `FER_BENCH_DATA=DIR`). Without
//! that folder the decode, detect and align benchmarks are skipped with a message, and
//! classification and tracking run on synthetic inputs. Nothing derived from the data is
//! written anywhere except criterion's own timing reports under `target/criterion/`.
//! The whole-process comparison with the Python `fer` package is `benches/compare.py`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fer_batch::align::{AlignSettings, AlignedFace, align};
use fer_batch::classify::weights::EMBEDDED;
use fer_batch::classify::{Classifier, ComputeDevice, ExpressionScores, SHIPPED, Tta};
use fer_batch::config::{Options, Settings};
use fer_batch::decode::{DecodeOptions, Decoder, Frame};
use fer_batch::detect::{BBox, DetectSettings, Detection, DetectorKind, DetectorModel, FrameView};
use fer_batch::imageops::GrayView;
use fer_batch::track::{FaceObservation, FrameObservation, Tracker};

/// Single face, 596×336.
const TALKING_HEAD: &str = "talking_head_woman_596x336.mp4";
/// Several faces, 848×480.
const CLASSROOM: &str = "classroom_front_848x480.mp4";
/// Frames decoded per iteration of the decode benchmark.
const DECODE_FRAMES: usize = 60;
/// Frame of each clip used for detection/alignment.
const FRAME_INDEX: usize = 30;

fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("FER_BENCH_DATA").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/video"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "stages: no clip directory {} (set FER_BENCH_DATA): skipping decode, detect and align; classify and track use synthetic inputs",
            dir.display()
        );
        None
    }
}

fn classroom_settings() -> Settings {
    let (opts, origin) = Options::load("classroom").expect("classroom preset");
    opts.into_settings(&origin).expect("classroom preset resolves")
}

fn frame_at(path: &Path, index: usize) -> Frame {
    let mut dec = Decoder::open(path, &DecodeOptions { rgb: true, ..DecodeOptions::default() }).unwrap_or_else(|e| panic!("{e}"));
    dec.nth(index).expect("clip has enough frames").unwrap_or_else(|e| panic!("{e}"))
}

fn view(f: &Frame) -> GrayView<'_> {
    GrayView { data: &f.gray, width: f.width as usize, height: f.height as usize }
}

fn frame_view(f: &Frame) -> FrameView<'_> {
    FrameView { gray: view(f), rgb: f.rgb.as_deref() }
}

fn decode(c: &mut Criterion, data: &Path) {
    let mut g = c.benchmark_group("decode");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for clip in [TALKING_HEAD, CLASSROOM] {
        let path = data.join(clip);
        g.throughput(Throughput::Elements(DECODE_FRAMES as u64));
        for (name, threads) in [("threads_auto", 0), ("threads_1", 1)] {
            g.bench_with_input(BenchmarkId::new(name, clip), &path, |b, path| {
                b.iter(|| {
                    let opts = DecodeOptions { threads, ..DecodeOptions::default() };
                    let dec = Decoder::open(path, &opts).unwrap();
                    let bytes: usize = dec.take(DECODE_FRAMES).map(|f| f.unwrap().gray.len()).sum();
                    black_box(bytes)
                })
            });
        }
    }
    g.finish();
}

/// Detection on one real frame per clip, single thread, for each detector at three face-size
/// settings: 50 px (fer's Haar `min_face_size`), 24 px and 16 px (the classroom preset; YuNet
/// sees the frame at its own size, SeetaFace scales it up 2.5×). Returns YuNet's faces on the
/// classroom frame at the preset's setting.
fn detect(c: &mut Criterion, frames: &[(&str, Frame)]) -> Vec<Detection> {
    let base = classroom_settings().detect;
    let mut g = c.benchmark_group("detect");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let mut classroom_faces = Vec::new();
    for kind in [DetectorKind::Yunet, DetectorKind::Seetaface] {
        let model = DetectorModel::embedded(kind).unwrap();
        for (clip, frame) in frames {
            for min_face in [50.0, 24.0, 16.0] {
                let settings = DetectSettings { min_face_px: min_face, max_pixels: base.max_pixels, ..DetectSettings::for_detector(kind) };
                let mut det = model.detector(&settings).unwrap();
                let found = det.detect(frame_view(frame));
                eprintln!(
                    "stages: {} on {clip} frame {FRAME_INDEX} ({}×{}), min-face {min_face}: scale {:.2}, {} faces",
                    kind.name(),
                    frame.width,
                    frame.height,
                    det.scale_for(frame.width as usize, frame.height as usize),
                    found.len()
                );
                if *clip == CLASSROOM && min_face == base.min_face_px && kind == base.detector {
                    classroom_faces = found;
                }
                let id = BenchmarkId::new(format!("{}_min_face_{min_face}", kind.name()), clip);
                g.bench_function(id, |b| b.iter(|| black_box(det.detect(frame_view(frame)))));
            }
        }
    }
    g.finish();
    classroom_faces
}

fn align_bench(c: &mut Criterion, frame: &Frame, faces: &[Detection]) -> Vec<AlignedFace> {
    let settings = AlignSettings { margin: classroom_settings().align.margin, ..AlignSettings::default() };
    let mut g = c.benchmark_group("align");
    g.throughput(Throughput::Elements(faces.len() as u64));
    g.bench_function(BenchmarkId::new("faces", faces.len()), |b| b.iter(|| black_box(align(view(frame), faces, &settings))));
    g.finish();
    align(view(frame), faces, &settings)
}

fn classify(c: &mut Criterion, real: &[AlignedFace]) {
    // `shipped` is the default model (both embedded networks averaged), the other rows one
    // network; `cpu` is the sldcnn-cpu engine, `flex` burn's backend running the same weights.
    for (model, device) in [(SHIPPED, ComputeDevice::Cpu), (EMBEDDED[0], ComputeDevice::Cpu), (EMBEDDED[0], ComputeDevice::Flex)] {
        let classifier = match Classifier::load(&[PathBuf::from(model)], false, device, Tta::None) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("stages: skipping classify: {e}");
                return;
            }
        };
        let side = classifier.input_size();
        let synthetic: Vec<Vec<u8>> = (0..4).map(|k| (0..side * side).map(|i| ((i * (k + 3) + i / side * 7) % 256) as u8).collect()).collect();
        let pool: Vec<&[u8]> = if real.is_empty() { synthetic.iter().map(Vec::as_slice).collect() } else { real.iter().map(|f| f.crop.as_slice()).collect() };
        let mut g = c.benchmark_group(format!("classify-{model}-{device}"));
        g.sample_size(10).measurement_time(Duration::from_secs(5));
        for n in [1usize, 16, 64] {
            let crops: Vec<&[u8]> = pool.iter().copied().cycle().take(n).collect();
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(BenchmarkId::new("batch", n), &crops, |b, crops| b.iter(|| black_box(classifier.classify(crops, n).unwrap())));
        }
        g.finish();
    }
}

/// 300 frames of `faces` (real detections or a synthetic row of boxes) drifting and jittering,
/// one face missing on every 7th frame, a new face appearing half-way.
fn track_input(faces: &[Detection]) -> Vec<FrameObservation> {
    let synthetic: Vec<Detection> =
        (0..8).map(|i| Detection { bbox: BBox { x: 40.0 + 90.0 * i as f32, y: 120.0, w: 48.0, h: 48.0 }, score: 3.0, landmarks: None }).collect();
    let base = if faces.is_empty() { &synthetic[..] } else { faces };
    (0..300u64)
        .map(|t| {
            let mut dets: Vec<Detection> = base
                .iter()
                .enumerate()
                .filter(|(i, _)| !(t % 7 == 0 && *i == 0))
                .map(|(i, d)| {
                    let j = ((t as usize * 31 + i * 17) % 9) as f32 - 4.0;
                    Detection { bbox: BBox { x: d.bbox.x + 0.2 * t as f32 + j * 0.5, y: d.bbox.y + j * 0.3, ..d.bbox }, score: d.score, landmarks: None }
                })
                .collect();
            if t >= 150 {
                dets.push(Detection { bbox: BBox { x: 10.0, y: 10.0, w: 60.0, h: 60.0 }, score: 2.5, landmarks: None });
            }
            FrameObservation {
                frame_index: t,
                timestamp_s: t as f64 / 30.0,
                faces: dets.into_iter().map(|detection| FaceObservation { detection, raw: ExpressionScores::uniform() }).collect(),
                scene: None,
            }
        })
        .collect()
}

fn track(c: &mut Criterion, faces: &[Detection]) {
    let settings = classroom_settings().track;
    let input = track_input(faces);
    let n_faces: usize = input.iter().map(|f| f.faces.len()).sum();
    let mut g = c.benchmark_group("track");
    g.throughput(Throughput::Elements(input.len() as u64));
    g.bench_function(BenchmarkId::new("frames_300", format!("{n_faces}_faces")), |b| {
        b.iter_batched(
            || input.clone(),
            |frames| {
                let mut tracker = Tracker::new(settings.clone());
                let mut out = 0usize;
                for f in frames {
                    out += tracker.push(f).len();
                }
                out += tracker.finish().len();
                black_box((out, tracker.persons()))
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn stages(c: &mut Criterion) {
    let Some(data) = data_dir() else {
        classify(c, &[]);
        track(c, &[]);
        return;
    };
    decode(c, &data);
    let frames: Vec<(&str, Frame)> = [TALKING_HEAD, CLASSROOM].into_iter().map(|clip| (clip, frame_at(&data.join(clip), FRAME_INDEX))).collect();
    let faces = detect(c, &frames);
    let classroom = &frames[1].1;
    let aligned = align_bench(c, classroom, &faces);
    classify(c, &aligned);
    track(c, &faces);
}

criterion_group!(benches, stages);
criterion_main!(benches);
