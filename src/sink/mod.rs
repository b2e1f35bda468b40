//! The last stage: result rows in, Parquet files out.
//!
//! In: [`FaceRow`]s (one per face per processed frame), [`PersonRow`]s (one per video and
//! tracked person) and [`CrowdRow`]s (one per video and time window), in any order the pipeline
//! produces them. Out: three Parquet files beside each other, named by [`sibling_paths`]:
//!
//! ```text
//! results.parquet           faces    faces_schema()
//! results.persons.parquet   persons  persons_schema()
//! results.crowd.parquet     crowd    crowd_schema()
//! ```
//!
//! Invariants:
//! - Each table's Arrow schema is defined once, in [`schema`], with the unit and meaning of
//!   every column in its field metadata; `schemas/*.json` are generated from it and checked by a
//!   test (`FER_UPDATE_SCHEMAS=1 cargo test --lib sink::` rewrites them).
//! - A [`TableWriter`] streams rows in bounded record batches, writes to a hidden temporary file
//!   in the target directory and renames it into place only on [`TableWriter::finish`]; a reader
//!   never sees a half-written table, and a writer dropped without `finish` leaves nothing behind.
//! - Every file carries `table` and `schema_version` key-value metadata. An existing file is only
//!   replaced by a table of the same name and [`SCHEMA_VERSION`]; anything else is an error
//!   (unless [`WriterOptions::force_replace`] is set).
//!
//! Call [`check_outputs`] (or [`check_writable`]) before decoding anything so that a bad output
//! path fails in milliseconds, not after an hour of video.

mod parquet;
pub mod schema;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::classify::labels::Expression;
use crate::detect::Landmarks;

pub use self::parquet::{
    Compression, TableWriter, WriteSummary, WriterOptions, check_outputs, check_replaceable, check_writable, read_key_value_metadata, read_table,
    remove_stale_temporaries,
};
pub use self::schema::{LANDMARK_COLUMNS, SCHEMA_VERSION, Table, TableRow, crowd_schema, faces_schema, persons_schema, schema_json};

/// One probability (or percentage) per expression, indexed by [`Expression::index`].
pub type PerExpression = [f32; Expression::COUNT];

/// One face in one processed frame: a row of the `faces` table.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceRow {
    /// Video id: the file name of the source video.
    pub video: Arc<str>,
    /// Camera id, when a manifest or the caller names one.
    pub camera: Option<Arc<str>>,
    /// 0-based index of the frame in the video's decode order.
    pub frame_index: u64,
    /// Presentation time of the frame, seconds from the start of the video.
    pub timestamp_s: f64,
    /// Absolute time of the frame in microseconds since 1970-01-01T00:00:00Z, when the start of
    /// the video is known (container creation time or manifest).
    pub timestamp_utc_us: Option<i64>,
    /// Left edge of the face box, source-frame pixels (upright frame, origin top-left).
    pub x: f32,
    /// Top edge of the face box, source-frame pixels.
    pub y: f32,
    /// Width of the face box, source-frame pixels.
    pub width: f32,
    /// Height of the face box, source-frame pixels.
    pub height: f32,
    /// Face detector confidence (detector-specific scale, higher is more confident).
    pub detector_score: f32,
    /// Five facial landmarks in source-frame pixels, when the detector gives them (YuNet does,
    /// SeetaFace does not): the ten `lm_*` columns, null when `None`.
    pub landmarks: Option<Landmarks>,
    /// Track id of the person, unique within the video.
    pub person_id: u32,
    /// Raw classifier probabilities of this face in this frame.
    pub raw: PerExpression,
    /// Probabilities after temporal smoothing along the track.
    pub smoothed: PerExpression,
    /// Smoothed label (what the pipeline reports for this face in this frame).
    pub label: Expression,
    /// Label of the raw probabilities alone.
    pub raw_label: Expression,
    /// Id of the expression model (e.g. its artifact name and weights hash).
    pub model_id: Arc<str>,
    /// Pipeline preset name and version.
    pub pipeline: Arc<str>,
}

impl FaceRow {
    /// The `confidence` column: smoothed probability of [`FaceRow::label`].
    pub fn confidence(&self) -> f32 {
        self.smoothed[self.label.index()]
    }
}

/// One tracked person in one video: a row of the `persons` table.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonRow {
    /// Video id: the file name of the source video.
    pub video: Arc<str>,
    /// Camera id, when known.
    pub camera: Option<Arc<str>>,
    /// Track id of the person, unique within the video (`faces.person_id`).
    pub person_id: u32,
    /// `timestamp_s` of the person's first row in `faces`.
    pub first_timestamp_s: f64,
    /// `timestamp_s` of the person's last row in `faces`.
    pub last_timestamp_s: f64,
    /// Number of the person's rows in `faces`.
    pub frames: u64,
    /// Mean raw probabilities over the person's rows.
    pub mean_raw: PerExpression,
    /// Mean smoothed probabilities over the person's rows.
    pub mean_smoothed: PerExpression,
    /// Most frequent smoothed label over the person's rows (first in class order on ties).
    pub dominant_label: Expression,
    /// Fraction (0–1) of the person's rows whose smoothed label is `dominant_label`.
    pub dominant_share: f32,
}

/// One time window of one video: a row of the `crowd` table.
#[derive(Debug, Clone, PartialEq)]
pub struct CrowdRow {
    /// Video id: the file name of the source video.
    pub video: Arc<str>,
    /// Camera id, when known.
    pub camera: Option<Arc<str>>,
    /// Start of the window (inclusive), seconds from the start of the video.
    pub window_start_s: f64,
    /// End of the window (exclusive), seconds from the start of the video.
    pub window_end_s: f64,
    /// Absolute start of the window in microseconds since 1970-01-01T00:00:00Z, when known.
    pub window_start_utc_us: Option<i64>,
    /// Processed frames in the window, with or without faces.
    pub frames: u64,
    /// `faces` rows in the window.
    pub faces: u64,
    /// Distinct `person_id`s in the window.
    pub people: u64,
    /// Percent (0–100) of the window's people whose most frequent smoothed label in the window
    /// is each expression; sums to 100 when `people > 0`, all 0 otherwise.
    pub pct: PerExpression,
    /// Mean smoothed probabilities over the window's `faces` rows (all 0 when there are none).
    pub mean_smoothed: PerExpression,
}

impl CrowdRow {
    /// The `dominant_label` column: the expression with the highest [`CrowdRow::pct`] (first in
    /// class order on ties), `None` when the window has no people.
    pub fn dominant_label(&self) -> Option<Expression> {
        if self.people == 0 {
            return None;
        }
        let mut best: Option<(Expression, f32)> = None;
        for e in Expression::ALL {
            let pct = self.pct[e.index()];
            if pct > 0.0 && best.is_none_or(|(_, b)| pct > b) {
                best = Some((e, pct));
            }
        }
        best.map(|(e, _)| e)
    }
}

/// The three files of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputPaths {
    /// The `faces` table: the `--out` path itself.
    pub faces: PathBuf,
    /// The `persons` table.
    pub persons: PathBuf,
    /// The `crowd` table.
    pub crowd: PathBuf,
}

impl OutputPaths {
    /// The path of one table.
    pub fn get(&self, table: Table) -> &Path {
        match table {
            Table::Faces => &self.faces,
            Table::Persons => &self.persons,
            Table::Crowd => &self.crowd,
        }
    }
}

/// The three output paths for `--out <out>`: `results.parquet` gives `results.parquet`,
/// `results.persons.parquet` and `results.crowd.parquet` in the same directory. A name without
/// the `.parquet` extension keeps its whole name as the stem (`out` → `out.persons.parquet`).
pub fn sibling_paths(out: &Path) -> OutputPaths {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".parquet").unwrap_or(&name);
    OutputPaths {
        faces: out.to_path_buf(),
        persons: out.with_file_name(format!("{stem}.persons.parquet")),
        crowd: out.with_file_name(format!("{stem}.crowd.parquet")),
    }
}

/// Errors of the sink. Each names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A file-system operation failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done ("create", "rename … to", …).
        action: &'static str,
        /// File or directory.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The output directory does not accept new files (checked with a probe file).
    #[error("cannot write to {path}")]
    NotWritable {
        /// The directory that was probed.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// Encoding or writing Parquet failed.
    #[error("cannot write Parquet file {path}")]
    Parquet {
        /// The final path of the table.
        path: PathBuf,
        /// Cause.
        #[source]
        source: ::parquet::errors::ParquetError,
    },
    /// Rows could not be turned into an Arrow record batch.
    #[error("cannot build a record batch of table {table}")]
    Arrow {
        /// Table name.
        table: &'static str,
        /// Cause.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// A value does not fit its column type.
    #[error("value {value} of column {table}.{column} is out of range")]
    ValueOutOfRange {
        /// Table name.
        table: &'static str,
        /// Column name.
        column: String,
        /// The value.
        value: u64,
    },
    /// The target exists and was written with another schema version.
    #[error(
        "{path} was written with schema_version {found}, this build writes {expected}; \
         move it away or choose another --out"
    )]
    SchemaMismatch {
        /// Existing file.
        path: PathBuf,
        /// Its `schema_version`.
        found: String,
        /// [`SCHEMA_VERSION`].
        expected: String,
    },
    /// The target exists and holds another table (e.g. `crowd` where `faces` would go).
    #[error("{path} holds the {found} table, not {expected}; move it away or choose another --out")]
    TableMismatch {
        /// Existing file.
        path: PathBuf,
        /// Its `table`.
        found: String,
        /// The table about to be written.
        expected: &'static str,
    },
    /// The target exists but is not a fer-batch table; it is never replaced silently.
    #[error("{path} exists and {reason}; refusing to replace it")]
    ForeignFile {
        /// Existing path.
        path: PathBuf,
        /// What it is ("is a directory", "is not a Parquet file", …).
        reason: String,
    },
    /// Caller metadata uses a key that the sink sets itself.
    #[error("key-value metadata key {key:?} is reserved by the sink")]
    ReservedMetadataKey {
        /// The key.
        key: String,
    },
    /// A [`WriterOptions`] value is invalid.
    #[error("invalid sink option {name}: {reason}")]
    InvalidOption {
        /// Option name.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Hand-built rows shared by the sink's tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// Probabilities that put `p` on `e` and spread the rest evenly.
    pub(crate) fn peaked(e: Expression, p: f32) -> PerExpression {
        let mut v = [(1.0 - p) / (Expression::COUNT as f32 - 1.0); Expression::COUNT];
        v[e.index()] = p;
        v
    }

    /// A face of `person` in `frame` at 5 fps, happy when smoothed, surprised when raw.
    pub(crate) fn face(frame: u64, person: u32) -> FaceRow {
        FaceRow {
            video: "lecture.mp4".into(),
            camera: None,
            frame_index: frame,
            timestamp_s: frame as f64 / 5.0,
            timestamp_utc_us: Some(1_700_000_000_000_000 + frame as i64 * 200_000),
            x: 10.0 + person as f32,
            y: 20.0,
            width: 64.0,
            height: 72.5,
            detector_score: 3.25,
            landmarks: None,
            person_id: person,
            raw: peaked(Expression::Surprise, 0.4),
            smoothed: peaked(Expression::Happy, 0.7),
            label: Expression::Happy,
            raw_label: Expression::Surprise,
            model_id: "sldcnn-fer2013@0123abcd".into(),
            pipeline: "classroom/1".into(),
        }
    }

    /// Five landmarks of a face at (`x`, `y`): eyes, nose and mouth corners a few pixels apart.
    pub(crate) fn landmarks(x: f32, y: f32) -> Landmarks {
        Landmarks([[x + 20.0, y + 25.5], [x + 44.0, y + 25.0], [x + 32.0, y + 40.25], [x + 22.5, y + 55.0], [x + 42.0, y + 55.5]])
    }

    /// A person seen for `frames` frames, mostly happy.
    pub(crate) fn person(person: u32, frames: u64) -> PersonRow {
        PersonRow {
            video: "lecture.mp4".into(),
            camera: Some("cam-2".into()),
            person_id: person,
            first_timestamp_s: 0.0,
            last_timestamp_s: frames as f64 / 5.0,
            frames,
            mean_raw: peaked(Expression::Surprise, 0.4),
            mean_smoothed: peaked(Expression::Happy, 0.7),
            dominant_label: Expression::Happy,
            dominant_share: 0.75,
        }
    }

    /// A 10 s window with `people` people, 2/3 happy and 1/3 sad when non-empty.
    pub(crate) fn crowd(window: u32, people: u64) -> CrowdRow {
        let mut pct = [0.0; Expression::COUNT];
        if people > 0 {
            pct[Expression::Happy.index()] = 200.0 / 3.0;
            pct[Expression::Sad.index()] = 100.0 / 3.0;
        }
        CrowdRow {
            video: "lecture.mp4".into(),
            camera: None,
            window_start_s: f64::from(window) * 10.0,
            window_end_s: f64::from(window + 1) * 10.0,
            window_start_utc_us: None,
            frames: 50,
            faces: people * 50,
            people,
            pct,
            mean_smoothed: if people > 0 { peaked(Expression::Happy, 0.6) } else { [0.0; 7] },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sibling_paths_share_the_stem_and_directory() {
        let p = sibling_paths(Path::new("out/results.parquet"));
        assert_eq!(p.faces, Path::new("out/results.parquet"));
        assert_eq!(p.persons, Path::new("out/results.persons.parquet"));
        assert_eq!(p.crowd, Path::new("out/results.crowd.parquet"));
        let p = sibling_paths(Path::new("run7"));
        assert_eq!(p.faces, Path::new("run7"));
        assert_eq!(p.persons, Path::new("run7.persons.parquet"));
        assert_eq!(p.get(Table::Crowd), Path::new("run7.crowd.parquet"));
    }

    #[test]
    fn crowd_dominant_label_is_the_top_percentage_and_null_without_people() {
        assert_eq!(fixtures::crowd(0, 3).dominant_label(), Some(Expression::Happy));
        assert_eq!(fixtures::crowd(0, 0).dominant_label(), None);
        let mut tie = fixtures::crowd(0, 2);
        tie.pct = [0.0; 7];
        tie.pct[Expression::Sad.index()] = 50.0;
        tie.pct[Expression::Fear.index()] = 50.0;
        assert_eq!(tie.dominant_label(), Some(Expression::Fear), "ties go to the first class");
    }

    #[test]
    fn face_confidence_is_the_smoothed_probability_of_the_label() {
        let f = fixtures::face(0, 1);
        assert_eq!(f.confidence(), 0.7);
    }
}
