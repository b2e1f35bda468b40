//! Shared helpers: the binary, the shared data folder, temp dirs and Parquet read-back.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float32Type, Float64Type, Int64Type};

/// Path of the built `fer-batch` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fer-batch"))
}

/// `../shared/data` beside the checkout, or None (the caller skips with a note).
pub fn shared_data() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("note: ../shared/data not found; skipping a test that needs real footage");
        None
    }
}

/// A clip from ../shared/data/video.
pub fn video(name: &str) -> Option<PathBuf> {
    let p = shared_data()?.join("video").join(name);
    p.is_file().then_some(p)
}

/// `--untrained` unless this build ships trained weights (the build embeds them when
/// models/sldcnn-fer2013 holds them).
pub fn model_args() -> Vec<&'static str> {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/sldcnn-fer2013/model.bpk");
    if shipped.is_file() { vec![] } else { vec!["--untrained"] }
}

/// Runs the binary with `args`, with progress bars off.
pub fn run(args: &[&str]) -> Output {
    let out = Command::new(bin()).args(args).arg("--no-progress").env_remove("FER_LOG").output().expect("binary runs");
    eprintln!("$ fer-batch {}\n  exit {:?}\n  stderr: {}", args.join(" "), out.status.code(), String::from_utf8_lossy(&out.stderr).trim());
    out
}

/// Reads a whole Parquet file into one batch per file batch, with its key-value metadata.
pub fn read_parquet(path: &Path) -> (Vec<RecordBatch>, Vec<(String, String)>) {
    fer_batch::sink::read_table(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A column as f64 values (Float32, Float64 or Int64), nulls as NaN.
pub fn col_f64(batches: &[RecordBatch], name: &str) -> Vec<f64> {
    let mut out = Vec::new();
    for b in batches {
        let c = b.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
        for i in 0..c.len() {
            out.push(if c.is_null(i) {
                f64::NAN
            } else if let Some(a) = c.as_primitive_opt::<Float32Type>() {
                f64::from(a.value(i))
            } else if let Some(a) = c.as_primitive_opt::<Float64Type>() {
                a.value(i)
            } else if let Some(a) = c.as_primitive_opt::<Int64Type>() {
                a.value(i) as f64
            } else {
                panic!("column {name} has type {:?}", c.data_type())
            });
        }
    }
    out
}

/// Total rows.
pub fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// The 7 class names in order.
pub const CLASSES: [&str; 7] = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
