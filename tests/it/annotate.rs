//! Issue #6, "Pictures": the annotated video and images, checked like a person would. The
//! annotated video is decoded back (ffprobe and the crate's own decoder): same frame count and
//! duration as the source, boxes in the label's colour where the results put the faces, and
//! the rest of the picture unchanged. Results of another video are refused without leaving a
//! file behind. `classify --annotate` writes images of the same size with the faces drawn.
//! Issue #15: a table's landmarks are drawn as dots.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use arrow::array::{AsArray, Float32Array, RecordBatch};
use fer_batch::classify::Expression;
use fer_batch::decode::{DecodeOptions, Decoder, Frame};
use fer_batch::render::expression_rgb;
use fer_batch::sink::{FaceRow, LANDMARK_COLUMNS, TableWriter, WriterOptions};

use crate::util::*;

const CLIP: &str = "talking_head_woman_596x336.mp4";

/// One run of the talking-head clip at 5 fps with `--annotate`, shared by the tests here.
struct Fixture {
    dir: PathBuf,
    clip: PathBuf,
    results: PathBuf,
    /// Written by `run --annotate`.
    annotated: PathBuf,
}

fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let clip = video(CLIP)?;
            let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
            remove_stale_fixtures(tmp);
            let dir = tmp.join(format!("annotate-{}", std::process::id()));
            std::fs::remove_dir_all(&dir).ok();
            std::fs::create_dir_all(&dir).unwrap();
            let results = dir.join("r.parquet");
            let annotated = dir.join("run.mp4");
            let mut args =
                vec!["run", clip.to_str().unwrap(), "--out", results.to_str().unwrap(), "--sample-fps", "5", "--annotate", annotated.to_str().unwrap()];
            args.extend(model_args());
            let out = run(&args);
            assert_eq!(out.status.code(), Some(0));
            assert!(String::from_utf8_lossy(&out.stderr).contains("annotated video written"));
            Some(Fixture { dir, clip, results, annotated })
        })
        .as_ref()
}

/// Removes the fixture directories of test processes that have ended (the fixture lives as
/// long as the process, so nothing removes it at the end). Linux only: without /proc, none.
fn remove_stale_fixtures(tmp: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    for entry in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("annotate-")
            && !Path::new("/proc").join(pid).exists()
        {
            std::fs::remove_dir_all(entry.path()).ok();
        }
    }
}

/// (frames counted by decoding, duration in seconds, codec) as `ffprobe` reports them; the
/// duration is the stream's, or the container's where the stream has none (Matroska).
fn ffprobe(path: &Path) -> (u64, f64, String) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames,duration,codec_name:format=duration",
            "-of",
            "default=nw=1",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs (scripts/deps.sh installs ffmpeg)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |key: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or_else(|| panic!("no {key} in {text}")).to_string();
    let duration = text.lines().filter_map(|l| l.strip_prefix("duration=")?.parse().ok()).next().unwrap_or_else(|| panic!("no duration in {text}"));
    (get("nb_read_frames").parse().unwrap(), duration, get("codec_name"))
}

/// `fer-batch annotate VIDEO --results RESULTS --out OUT`.
fn annotate(video: &Path, results: &Path, out: &Path) -> std::process::Output {
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    run(&["annotate", &path(video), "--results", &path(results), "--out", &path(out)])
}

/// Frame `index` of `path`, decoded in colour by the crate's decoder.
fn rgb_frame(path: &Path, index: u64) -> Frame {
    let opts = DecodeOptions { rgb: true, ..DecodeOptions::default() };
    Decoder::open(path, &opts).unwrap().map(Result::unwrap).find(|f| f.index == index).unwrap_or_else(|| panic!("{}: no frame {index}", path.display()))
}

fn pixel(f: &Frame, x: u32, y: u32) -> [u8; 3] {
    let i = ((y * f.width + x) * 3) as usize;
    let rgb = f.rgb.as_ref().unwrap();
    [rgb[i], rgb[i + 1], rgb[i + 2]]
}

fn diff(a: [u8; 3], b: [u8; 3]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x.abs_diff(y))).sum::<f64>() / 3.0
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn run_annotate_keeps_every_source_frame_and_the_duration() {
    let Some(f) = fixture() else { return };
    let (src_frames, src_duration, _) = ffprobe(&f.clip);
    let (frames, duration, codec) = ffprobe(&f.annotated);
    assert_eq!(frames, src_frames, "frame count");
    let frame_s = 1.0 / 29.97;
    assert!((duration - src_duration).abs() <= frame_s, "duration {duration} vs source {src_duration}");
    assert!(codec == "h264" || codec == "mpeg4", "codec {codec}");
    // The crate's own decoder agrees, frame by frame in time.
    let times = |p: &Path| Decoder::open(p, &DecodeOptions::default()).unwrap().map(|fr| fr.unwrap().timestamp_s).collect::<Vec<_>>();
    let (src, out) = (times(&f.clip), times(&f.annotated));
    assert_eq!(src.len(), out.len());
    assert!(src.iter().zip(&out).all(|(a, b)| (a - b).abs() < 1e-3), "timestamps differ");
}

#[test]
fn annotate_draws_boxes_in_the_label_colour_where_the_faces_are() {
    let Some(f) = fixture() else { return };
    let out = f.dir.join("annotate.mp4");
    let o = annotate(&f.clip, &f.results, &out);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(ffprobe(&out).0, ffprobe(&f.clip).0);

    // The largest face of the results, on the frame it was found in.
    let (batches, _) = read_parquet(&f.results);
    let (x, y, w, h, index) =
        (col_f64(&batches, "x"), col_f64(&batches, "y"), col_f64(&batches, "width"), col_f64(&batches, "height"), col_f64(&batches, "frame_index"));
    let labels: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let c = b.column_by_name("label").unwrap();
            let c = arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8).unwrap();
            c.as_string::<i32>().iter().map(|s| s.unwrap_or_default().to_string()).collect::<Vec<_>>()
        })
        .collect();
    let i = (0..x.len()).max_by(|&a, &b| (w[a] * h[a]).total_cmp(&(w[b] * h[b]))).expect("the clip has a face");
    let (src, ann) = (rgb_frame(&f.clip, index[i] as u64), rgb_frame(&out, index[i] as u64));
    let colour = expression_rgb(Expression::from_name(&labels[i]).unwrap()).0;

    // Along the middle of the left edge of the box (3 px wide at this size): changed from the
    // source, and of all seven expression colours closest to the label's (not exactly it:
    // 4:2:0 chroma subsampling blurs thin lines).
    let (x0, y0, y1) = (x[i].round() as u32, y[i].round() as u32, (y[i] + h[i]).round() as u32);
    let edge: Vec<(u32, u32)> = (y0 + 4..y1 - 4).map(|yy| (x0 + 1, yy)).collect();
    let changed = edge.iter().map(|&(a, b)| diff(pixel(&ann, a, b), pixel(&src, a, b))).sum::<f64>() / edge.len() as f64;
    assert!(changed > 30.0, "box edge barely changed ({changed:.1})");
    let mut mean = [0.0_f64; 3];
    for &(a, b) in &edge {
        for (m, v) in mean.iter_mut().zip(pixel(&ann, a, b)) {
            *m += f64::from(v) / edge.len() as f64;
        }
    }
    eprintln!("box edge: mean colour {mean:?}, {} is {colour:?}, changed by {changed:.1}", labels[i]);
    let distance = |c: [u8; 3]| c.iter().zip(mean).map(|(&c, m)| (f64::from(c) - m).abs()).sum::<f64>() / 3.0;
    let nearest = Expression::ALL.into_iter().min_by(|&a, &b| distance(expression_rgb(a).0).total_cmp(&distance(expression_rgb(b).0))).unwrap();
    assert_eq!(nearest.name(), labels[i], "mean edge colour {mean:?}");
    assert!(distance(colour) < 20.0, "box edge {mean:?} is far from the {} colour {colour:?}", labels[i]);

    // Far from any face (bottom-right corner), the picture is the source's, up to coding noise.
    let corner: f64 =
        (296..336).flat_map(|yy| (556..596).map(move |xx| (xx, yy))).map(|(a, b)| diff(pixel(&ann, a, b), pixel(&src, a, b))).sum::<f64>() / 1600.0;
    assert!(corner < 8.0, "untouched region changed by {corner:.1} on average");
}

/// Where the synthetic landmarks of [`with_landmarks`] sit in a face box, as fractions of its
/// width and height: eyes, nose tip, mouth corners.
const LANDMARK_FRACTIONS: [[f32; 2]; 5] = [[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.33, 0.8], [0.67, 0.8]];

/// `batch` (a faces table) with its ten `lm_*` columns set to [`LANDMARK_FRACTIONS`] of
/// each row's box, whatever the detector gave.
fn with_landmarks(batch: &RecordBatch) -> RecordBatch {
    let [x, y, w, h] = ["x", "y", "width", "height"].map(|n| col_f64(std::slice::from_ref(batch), n).into_iter().map(|v| v as f32).collect::<Vec<f32>>());
    let mut columns = batch.columns().to_vec();
    for (names, [fx, fy]) in LANDMARK_COLUMNS.iter().zip(LANDMARK_FRACTIONS) {
        for (name, (origin, size, f)) in names.iter().zip([(&x, &w, fx), (&y, &h, fy)]) {
            let values: Float32Array = origin.iter().zip(size).map(|(o, s)| o + f * s).collect();
            columns[batch.schema().index_of(name).unwrap()] = Arc::new(values);
        }
    }
    RecordBatch::try_new(batch.schema(), columns).unwrap()
}

/// Issue #15: the landmarks of the table are drawn as white dots in a black ring. The run's
/// rows get landmarks inside their boxes and are written back with the run's metadata, so the
/// check holds whichever detector ran.
#[test]
fn annotate_draws_the_landmarks_of_the_table() {
    let Some(f) = fixture() else { return };
    let (batches, kv) = read_parquet(&f.results);
    let results = f.dir.join("landmarks.parquet");
    let reserved = ["table", "schema_version", "ARROW:schema"];
    let options = WriterOptions { key_value_metadata: kv.into_iter().filter(|(k, _)| !reserved.contains(&k.as_str())).collect(), ..WriterOptions::default() };
    let mut writer = TableWriter::<FaceRow>::create(&results, &options).unwrap();
    for b in &batches {
        writer.write_batch(&with_landmarks(b)).unwrap();
    }
    writer.finish().unwrap();
    let out = f.dir.join("landmarks.mp4");
    assert_eq!(annotate(&f.clip, &results, &out).status.code(), Some(0));

    // The largest face, on the frame it was found in.
    let (x, y, w, h, index) =
        (col_f64(&batches, "x"), col_f64(&batches, "y"), col_f64(&batches, "width"), col_f64(&batches, "height"), col_f64(&batches, "frame_index"));
    let i = (0..x.len()).max_by(|&a, &b| (w[a] * h[a]).total_cmp(&(w[b] * h[b]))).expect("the clip has a face");
    let radius = fer_batch::render::landmark_radius(w[i].min(h[i]) as f32);
    let ann = rgb_frame(&out, index[i] as u64);
    let luma = |px: u32, py: u32| {
        let [r, g, b] = pixel(&ann, px, py);
        0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b)
    };
    for [fx, fy] in LANDMARK_FRACTIONS {
        let (cx, cy) = ((x[i] + f64::from(fx) * w[i]).round() as u32, (y[i] + f64::from(fy) * h[i]).round() as u32);
        let ring = radius + 1;
        let (centre, outline) = (luma(cx, cy), [(cx - ring, cy), (cx + ring, cy), (cx, cy - ring), (cx, cy + ring)].map(|(a, b)| luma(a, b)));
        eprintln!("landmark at ({cx}, {cy}), radius {radius}: centre {centre:.0}, ring {outline:.0?}");
        assert!(centre > 190.0, "dot centre at ({cx}, {cy}) is not white: {centre:.0}");
        assert!(outline.iter().all(|&v| v < 90.0), "ring around ({cx}, {cy}) is not dark: {outline:.0?}");
    }
}

#[test]
fn annotate_refuses_results_of_another_video_and_writes_nothing() {
    let Some(f) = fixture() else { return };
    let Some(other) = video("single_face_phone_596x336.mp4") else {
        return;
    };
    let out_dir = f.dir.join("wrong");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join("wrong.mp4");
    let o = annotate(&other, &f.results, &out);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("are not of this video") && stderr.contains(CLIP), "{stderr}");
    assert_eq!(files_in(&out_dir), Vec::<String>::new(), "no output or temporary file");

    // The persons table instead of the faces table: named as such.
    let persons = f.dir.join("r.persons.parquet");
    let o = annotate(&f.clip, &persons, &out);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("`persons` table"));
    // The source itself as the output.
    let o = annotate(&f.clip, &f.results, &f.clip);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("overwrite the source"));
    assert_eq!(files_in(&out_dir), Vec::<String>::new());
}

#[test]
fn annotate_finds_the_video_in_a_dataset() {
    let Some(clip) = video("single_face_phone_596x336.mp4") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dataset = format!("{}/", dir.path().join("ds").display());
    let mut args = vec!["run", clip.to_str().unwrap(), "--out", &dataset, "--sample-fps", "2"];
    args.extend(model_args());
    assert_eq!(run(&args).status.code(), Some(0));
    let out = dir.path().join("a.mkv");
    let o = annotate(&clip, Path::new(&dataset), &out);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(ffprobe(&out).0, ffprobe(&clip).0);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("faces drawn on 0 of them"), "{stderr}");
    // A video the dataset does not hold.
    let Some(talking) = video(CLIP) else { return };
    let o = annotate(&talking, Path::new(&dataset), &dir.path().join("b.mp4"));
    assert_eq!(o.status.code(), Some(2));
    assert!(!dir.path().join("b.mp4").exists());
}

#[test]
fn run_annotate_needs_one_video_file() {
    let Some(a) = video(CLIP) else { return };
    let Some(b) = video("single_face_phone_596x336.mp4") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (out, ann) = (dir.path().join("r.parquet"), dir.path().join("a.mp4"));
    let o = run(&["run", a.to_str().unwrap(), b.to_str().unwrap(), "--out", out.to_str().unwrap(), "--annotate", ann.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("exactly one video file"));
    assert_eq!(files_in(dir.path()), Vec::<String>::new(), "refused before anything was written");
}

/// Pixels of `img` exactly in one of the seven expression colours.
fn palette_pixels(img: &image::RgbImage) -> usize {
    let palette: Vec<[u8; 3]> = Expression::ALL.iter().map(|&e| expression_rgb(e).0).collect();
    img.pixels().filter(|p| palette.contains(&p.0)).count()
}

/// `fer-batch classify IMAGES... --annotate OUT`; asserts exit 0.
fn classify_annotate(images: &[&Path], out: &Path) {
    let mut args = vec!["classify"];
    args.extend(images.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--annotate", out.to_str().unwrap()]);
    args.extend(model_args());
    assert_eq!(run(&args).status.code(), Some(0));
}

#[test]
fn classify_annotate_writes_images_with_the_faces_drawn() {
    let Some(data) = shared_data() else { return };
    let justin = data.join("images/single_face_justin.jpg");
    let group = data.join("images/poster_group_faces.jpg");
    let dir = tempfile::tempdir().unwrap();

    // One image: a PNG of the same size, with a box in a label colour.
    let png = dir.path().join("justin.png");
    classify_annotate(&[&justin], &png);
    let src = image::open(&justin).unwrap().into_rgb8();
    let ann = image::open(&png).expect("a valid PNG").into_rgb8();
    assert_eq!(ann.dimensions(), src.dimensions());
    let changed = src.pixels().zip(ann.pixels()).filter(|(a, b)| diff(a.0, b.0) > 40.0).count();
    assert!(changed > 500, "only {changed} pixels changed");
    assert!(palette_pixels(&ann) > 300 + palette_pixels(&src), "no box in an expression colour");

    // JPEG by extension.
    let jpg = dir.path().join("justin.jpg");
    classify_annotate(&[&justin], &jpg);
    assert_eq!(image::ImageFormat::from_path(&jpg).unwrap(), image::ImageFormat::Jpeg);
    assert_eq!(image::open(&jpg).unwrap().into_rgb8().dimensions(), src.dimensions());

    // Several images: a directory of <stem>.annotated.png.
    let out = dir.path().join("many");
    classify_annotate(&[&justin, &group], &out);
    assert_eq!(files_in(&out), vec!["poster_group_faces.annotated.png", "single_face_justin.annotated.png"]);
    let group_ann = image::open(out.join("poster_group_faces.annotated.png")).unwrap().into_rgb8();
    assert_eq!(group_ann.dimensions(), image::open(&group).unwrap().into_rgb8().dimensions());
}
