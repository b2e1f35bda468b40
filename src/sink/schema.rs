//! The single definition of the output tables: column names, Arrow types, units, meanings.
//!
//! In: the row types of [`super`] ([`FaceRow`], [`PersonRow`], [`CrowdRow`]). Out: each table's
//! Arrow [`SchemaRef`] (with `unit` and `description` field metadata and `table` /
//! `schema_version` schema metadata), the [`RecordBatch`] of a slice of rows, and the
//! human-readable JSON description checked in under `schemas/`.
//!
//! Every column is declared exactly once, in the `*_COLUMNS` lists below, together with the
//! accessor that reads it from a row; the Arrow type and nullability follow from the kind of
//! accessor, so the schema and the batches cannot drift apart. Changing a column here changes
//! `schemas/*.json` (a test fails until they are regenerated with
//! `FER_UPDATE_SCHEMAS=1 cargo test --lib sink::`) and should bump [`SCHEMA_VERSION`].
//!
//! Type choices: strings are dictionary-encoded (`Dictionary(Int32, Utf8)`: few distinct values
//! per file, categorical in pandas/polars); integers are signed `Int64` even where the Rust
//! value is unsigned, because Spark, Java and BigQuery readers lack unsigned types; absolute
//! times are `Timestamp(µs, "UTC")`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, Float32Array, Float64Array, Int64Array, StringDictionaryBuilder, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use serde::Serialize;

use super::{CrowdRow, FaceRow, PerExpression, PersonRow, SinkError};
use crate::classify::labels::Expression;
use crate::detect::Landmarks;

/// Names of the ten landmark columns of `faces`, `[x, y]` per point in the order of
/// [`Landmarks::NAMES`]: `lm_<point>_x`, `lm_<point>_y`.
pub const LANDMARK_COLUMNS: [[&str; 2]; 5] = [
    ["lm_left_eye_x", "lm_left_eye_y"],
    ["lm_right_eye_x", "lm_right_eye_y"],
    ["lm_nose_x", "lm_nose_y"],
    ["lm_mouth_left_x", "lm_mouth_left_y"],
    ["lm_mouth_right_x", "lm_mouth_right_y"],
];

/// Version of the table layouts. Bump it whenever a column is added, removed, renamed or
/// changes type or meaning; the writer refuses to replace a file of another version, and a
/// dataset directory (`_fer_batch_dataset.json`) of another version refuses new parts.
///
/// History: 1, the first release; 2, the ten `lm_*` landmark columns of `faces`.
pub const SCHEMA_VERSION: &str = "2";

/// Schema and key-value metadata key holding the table name.
pub const META_TABLE: &str = "table";
/// Schema and key-value metadata key holding [`SCHEMA_VERSION`].
pub const META_SCHEMA_VERSION: &str = "schema_version";
/// Field metadata key holding a column's unit (absent for unitless columns).
pub const FIELD_UNIT: &str = "unit";
/// Field metadata key holding a column's meaning.
pub const FIELD_DESCRIPTION: &str = "description";

/// The three output tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// One row per face per processed frame.
    Faces,
    /// One row per video and tracked person.
    Persons,
    /// One row per video and time window.
    Crowd,
}

impl Table {
    /// All tables, in output order.
    pub const ALL: [Table; 3] = [Table::Faces, Table::Persons, Table::Crowd];

    /// Name used in metadata, file names and `schemas/<name>.json`.
    pub fn name(self) -> &'static str {
        match self {
            Table::Faces => "faces",
            Table::Persons => "persons",
            Table::Crowd => "crowd",
        }
    }

    /// The table's Arrow schema.
    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Faces => faces_schema(),
            Table::Persons => persons_schema(),
            Table::Crowd => crowd_schema(),
        }
    }

    /// One sentence on what a row is.
    pub fn description(self) -> &'static str {
        match self {
            Table::Faces => "One row per detected face per processed frame.",
            Table::Persons => "One row per video and tracked person, summarising its faces rows.",
            Table::Crowd => "One row per video and time window, summarising the people and faces in it.",
        }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Schema of the `faces` table (`--out`).
pub fn faces_schema() -> SchemaRef {
    Arc::clone(&FACES_SCHEMA)
}

/// Schema of the `persons` table (`<stem>.persons.parquet`).
pub fn persons_schema() -> SchemaRef {
    Arc::clone(&PERSONS_SCHEMA)
}

/// Schema of the `crowd` table (`<stem>.crowd.parquet`).
pub fn crowd_schema() -> SchemaRef {
    Arc::clone(&CROWD_SCHEMA)
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::FaceRow {}
    impl Sealed for super::PersonRow {}
    impl Sealed for super::CrowdRow {}
}

/// A row type of one of the output tables; implemented by [`FaceRow`], [`PersonRow`] and
/// [`CrowdRow`] only.
pub trait TableRow: sealed::Sealed + Sized + Send + 'static {
    /// The table the rows belong to.
    const TABLE: Table;

    /// The rows as one record batch of [`Table::schema`].
    fn record_batch(rows: &[Self]) -> Result<RecordBatch, SinkError>;
}

impl TableRow for FaceRow {
    const TABLE: Table = Table::Faces;
    fn record_batch(rows: &[Self]) -> Result<RecordBatch, SinkError> {
        build_batch(Self::TABLE, &FACES_SCHEMA, &FACE_COLUMNS, rows)
    }
}

impl TableRow for PersonRow {
    const TABLE: Table = Table::Persons;
    fn record_batch(rows: &[Self]) -> Result<RecordBatch, SinkError> {
        build_batch(Self::TABLE, &PERSONS_SCHEMA, &PERSON_COLUMNS, rows)
    }
}

impl TableRow for CrowdRow {
    const TABLE: Table = Table::Crowd;
    fn record_batch(rows: &[Self]) -> Result<RecordBatch, SinkError> {
        build_batch(Self::TABLE, &CROWD_SCHEMA, &CROWD_COLUMNS, rows)
    }
}

/// How a column reads its value from a row; decides the Arrow type and nullability.
enum Values<R> {
    /// `Dictionary(Int32, Utf8)`, not null.
    Str(fn(&R) -> &str),
    /// `Dictionary(Int32, Utf8)`, nullable.
    OptStr(fn(&R) -> Option<&str>),
    /// `Float32`, not null.
    F32(fn(&R) -> f32),
    /// `Float32`, not null: one class of a per-expression group.
    F32Of(fn(&R) -> &PerExpression, Expression),
    /// `Float32`, nullable: coordinate `axis` (0 = x, 1 = y) of landmark `point`, null when
    /// the row has no landmarks.
    OptLandmark(fn(&R) -> Option<&Landmarks>, usize, usize),
    /// `Float64`, not null.
    F64(fn(&R) -> f64),
    /// `Int64`, not null, from an unsigned count or id (error above `i64::MAX`).
    Int(fn(&R) -> u64),
    /// `Timestamp(µs, "UTC")`, nullable, from microseconds since the Unix epoch.
    OptTimestampUs(fn(&R) -> Option<i64>),
}

impl<R> Values<R> {
    fn data_type(&self) -> DataType {
        match self {
            Values::Str(_) | Values::OptStr(_) => DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            Values::F32(_) | Values::F32Of(..) | Values::OptLandmark(..) => DataType::Float32,
            Values::F64(_) => DataType::Float64,
            Values::Int(_) => DataType::Int64,
            Values::OptTimestampUs(_) => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }

    fn nullable(&self) -> bool {
        matches!(self, Values::OptStr(_) | Values::OptLandmark(..) | Values::OptTimestampUs(_))
    }
}

/// One column: its name, unit and meaning, and how to read it from a row.
struct Column<R> {
    name: String,
    unit: Option<&'static str>,
    description: String,
    values: Values<R>,
}

impl<R> Column<R> {
    fn field(&self) -> Field {
        let mut metadata = HashMap::from([(FIELD_DESCRIPTION.to_owned(), self.description.clone())]);
        if let Some(unit) = self.unit {
            metadata.insert(FIELD_UNIT.to_owned(), unit.to_owned());
        }
        Field::new(&self.name, self.values.data_type(), self.values.nullable()).with_metadata(metadata)
    }

    fn array(&self, table: Table, rows: &[R]) -> Result<ArrayRef, SinkError> {
        let arrow_err = |source| SinkError::Arrow { table: table.name(), source };
        Ok(match &self.values {
            Values::Str(get) => {
                let mut b = StringDictionaryBuilder::<Int32Type>::new();
                for r in rows {
                    b.append(get(r)).map_err(arrow_err)?;
                }
                Arc::new(b.finish())
            }
            Values::OptStr(get) => {
                let mut b = StringDictionaryBuilder::<Int32Type>::new();
                for r in rows {
                    match get(r) {
                        Some(v) => {
                            b.append(v).map_err(arrow_err)?;
                        }
                        None => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            Values::F32(get) => Arc::new(Float32Array::from_iter_values(rows.iter().map(get))),
            Values::F32Of(get, class) => Arc::new(Float32Array::from_iter_values(rows.iter().map(|r| get(r)[class.index()]))),
            Values::OptLandmark(get, point, axis) => Arc::new(Float32Array::from_iter(rows.iter().map(|r| get(r).map(|l| l.0[*point][*axis])))),
            Values::F64(get) => Arc::new(Float64Array::from_iter_values(rows.iter().map(get))),
            Values::Int(get) => {
                let values = rows
                    .iter()
                    .map(|r| {
                        let value = get(r);
                        i64::try_from(value).map_err(|_| SinkError::ValueOutOfRange { table: table.name(), column: self.name.clone(), value })
                    })
                    .collect::<Result<Vec<i64>, SinkError>>()?;
                Arc::new(Int64Array::from(values))
            }
            Values::OptTimestampUs(get) => Arc::new(TimestampMicrosecondArray::from(rows.iter().map(get).collect::<Vec<_>>()).with_timezone("UTC")),
        })
    }
}

fn build_batch<R>(table: Table, schema: &SchemaRef, columns: &[Column<R>], rows: &[R]) -> Result<RecordBatch, SinkError> {
    let arrays = columns.iter().map(|c| c.array(table, rows)).collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), arrays).map_err(|source| SinkError::Arrow { table: table.name(), source })
}

fn schema_of<R>(table: Table, columns: &[Column<R>]) -> SchemaRef {
    let metadata = HashMap::from([(META_TABLE.to_owned(), table.name().to_owned()), (META_SCHEMA_VERSION.to_owned(), SCHEMA_VERSION.to_owned())]);
    Arc::new(Schema::new_with_metadata(columns.iter().map(Column::field).collect::<Vec<_>>(), metadata))
}

fn col<R>(name: &str, unit: Option<&'static str>, description: &str, values: Values<R>) -> Column<R> {
    Column { name: name.to_owned(), unit, description: description.to_owned(), values }
}

/// The ten nullable `Float32` columns [`LANDMARK_COLUMNS`], x then y of each point.
fn landmark_columns<R>(get: fn(&R) -> Option<&Landmarks>) -> impl Iterator<Item = Column<R>> {
    LANDMARK_COLUMNS.into_iter().zip(LANDMARK_DESCRIPTIONS).enumerate().flat_map(move |(point, (names, what))| {
        names.into_iter().enumerate().map(move |(axis, name)| Column {
            name: name.to_owned(),
            unit: Some("px"),
            description: format!(
                "{} of {what}, in source-frame pixels (same frame and origin as x and y; may \
                     lie outside the box). Null when the detector gives no landmarks (SeetaFace); \
                     the ten lm_* columns are null together.",
                ["Horizontal position", "Vertical position"][axis]
            ),
            values: Values::OptLandmark(get, point, axis),
        })
    })
}

/// What each landmark is, in the order of [`LANDMARK_COLUMNS`].
const LANDMARK_DESCRIPTIONS: [&str; 5] = [
    "the centre of the eye on the image's left (the person's right eye when they face an \
     unmirrored camera)",
    "the centre of the eye on the image's right",
    "the nose tip",
    "the mouth corner on the image's left",
    "the mouth corner on the image's right",
];

/// Seven `Float32` columns `<prefix>angry` … `<prefix>neutral`, in class order.
fn per_expression<R>(prefix: &str, unit: &'static str, describe: impl Fn(&str) -> String, get: fn(&R) -> &PerExpression) -> impl Iterator<Item = Column<R>> {
    Expression::ALL.into_iter().map(move |e| Column {
        name: format!("{prefix}{}", e.name()),
        unit: Some(unit),
        description: describe(e.name()),
        values: Values::F32Of(get, e),
    })
}

const VIDEO: &str = "Video id: the file name of the source video.";
const CAMERA: &str = "Camera id from the manifest or the command line; null when unknown.";
const PERSON_ID: &str = "Track id of the person, unique within the video (not across videos); see faces.person_id.";
/// Unit of probabilities and fractions.
const UNIT_PROB: &str = "0-1";

static FACE_COLUMNS: LazyLock<Vec<Column<FaceRow>>> = LazyLock::new(|| {
    let mut c = vec![
        col("video", None, VIDEO, Values::Str(|r: &FaceRow| &r.video)),
        col("camera", None, CAMERA, Values::OptStr(|r: &FaceRow| r.camera.as_deref())),
        col(
            "frame_index",
            None,
            "0-based index of the frame in the video's decode order (processed frames may skip \
             indices when frames are sampled).",
            Values::Int(|r: &FaceRow| r.frame_index),
        ),
        col("timestamp_s", Some("s"), "Presentation time of the frame, seconds from the start of the video.", Values::F64(|r: &FaceRow| r.timestamp_s)),
        col(
            "timestamp_utc",
            Some("µs"),
            "Absolute time of the frame: the video's start (container creation time, or the \
             manifest's start) plus timestamp_s; null when the start is unknown.",
            Values::OptTimestampUs(|r: &FaceRow| r.timestamp_utc_us),
        ),
        col(
            "x",
            Some("px"),
            "Left edge of the face box in source-frame pixels (upright frame after the \
             container's rotation, origin top-left).",
            Values::F32(|r: &FaceRow| r.x),
        ),
        col("y", Some("px"), "Top edge of the face box in source-frame pixels.", Values::F32(|r: &FaceRow| r.y)),
        col("width", Some("px"), "Width of the face box in source-frame pixels.", Values::F32(|r: &FaceRow| r.width)),
        col("height", Some("px"), "Height of the face box in source-frame pixels.", Values::F32(|r: &FaceRow| r.height)),
        col(
            "detector_score",
            None,
            "Face detector confidence (detector-specific scale; higher is more confident).",
            Values::F32(|r: &FaceRow| r.detector_score),
        ),
    ];
    c.extend(landmark_columns(|r: &FaceRow| r.landmarks.as_ref()));
    c.push(col("person_id", None, PERSON_ID, Values::Int(|r: &FaceRow| u64::from(r.person_id))));
    c.extend(per_expression("p_", UNIT_PROB, |e| format!("Raw classifier probability of {e} for this face in this frame."), |r: &FaceRow| &r.raw));
    c.extend(per_expression("s_", UNIT_PROB, |e| format!("Probability of {e} after temporal smoothing along the person's track."), |r: &FaceRow| &r.smoothed));
    c.extend([
        col("label", None, "Smoothed expression label (angry, disgust, fear, happy, sad, surprise, neutral).", Values::Str(|r: &FaceRow| r.label.name())),
        col("raw_label", None, "Expression label of the raw probabilities alone.", Values::Str(|r: &FaceRow| r.raw_label.name())),
        col("confidence", Some(UNIT_PROB), "Smoothed probability of label (the s_* column named by label).", Values::F32(FaceRow::confidence)),
        col("model_id", None, "Id of the expression model that produced the probabilities.", Values::Str(|r: &FaceRow| &r.model_id)),
        col("pipeline", None, "Pipeline preset name and version that produced the row.", Values::Str(|r: &FaceRow| &r.pipeline)),
    ]);
    c
});

static PERSON_COLUMNS: LazyLock<Vec<Column<PersonRow>>> = LazyLock::new(|| {
    let mut c = vec![
        col("video", None, VIDEO, Values::Str(|r: &PersonRow| &r.video)),
        col("camera", None, CAMERA, Values::OptStr(|r: &PersonRow| r.camera.as_deref())),
        col("person_id", None, PERSON_ID, Values::Int(|r: &PersonRow| u64::from(r.person_id))),
        col("first_timestamp_s", Some("s"), "timestamp_s of the person's first faces row.", Values::F64(|r: &PersonRow| r.first_timestamp_s)),
        col("last_timestamp_s", Some("s"), "timestamp_s of the person's last faces row.", Values::F64(|r: &PersonRow| r.last_timestamp_s)),
        col("frames", None, "Number of the person's rows in faces (processed frames in which it was seen).", Values::Int(|r: &PersonRow| r.frames)),
    ];
    c.extend(per_expression(
        "mean_p_",
        UNIT_PROB,
        |e| format!("Mean raw probability of {e} (faces.p_{e}) over the person's rows."),
        |r: &PersonRow| &r.mean_raw,
    ));
    c.extend(per_expression(
        "mean_s_",
        UNIT_PROB,
        |e| format!("Mean smoothed probability of {e} (faces.s_{e}) over the person's rows."),
        |r: &PersonRow| &r.mean_smoothed,
    ));
    c.extend([
        col(
            "dominant_label",
            None,
            "Most frequent smoothed label (faces.label) over the person's rows; ties go to the \
             first in the order angry, disgust, fear, happy, sad, surprise, neutral.",
            Values::Str(|r: &PersonRow| r.dominant_label.name()),
        ),
        col(
            "dominant_share",
            Some(UNIT_PROB),
            "Fraction of the person's rows whose smoothed label is dominant_label.",
            Values::F32(|r: &PersonRow| r.dominant_share),
        ),
    ]);
    c
});

static CROWD_COLUMNS: LazyLock<Vec<Column<CrowdRow>>> = LazyLock::new(|| {
    let mut c = vec![
        col("video", None, VIDEO, Values::Str(|r: &CrowdRow| &r.video)),
        col("camera", None, CAMERA, Values::OptStr(|r: &CrowdRow| r.camera.as_deref())),
        col("window_start_s", Some("s"), "Start of the window (inclusive), seconds from the start of the video.", Values::F64(|r: &CrowdRow| r.window_start_s)),
        col("window_end_s", Some("s"), "End of the window (exclusive), seconds from the start of the video.", Values::F64(|r: &CrowdRow| r.window_end_s)),
        col(
            "window_start_utc",
            Some("µs"),
            "Absolute start of the window; null when the video's start time is unknown.",
            Values::OptTimestampUs(|r: &CrowdRow| r.window_start_utc_us),
        ),
        col("frames", None, "Processed frames in the window, with or without faces.", Values::Int(|r: &CrowdRow| r.frames)),
        col("faces", None, "faces rows in the window.", Values::Int(|r: &CrowdRow| r.faces)),
        col("people", None, "Distinct person_id values in the window.", Values::Int(|r: &CrowdRow| r.people)),
    ];
    c.extend(per_expression(
        "pct_",
        "%",
        |e| {
            format!(
                "Percent of the window's people showing {e}: each person counts once, by their \
                 most frequent smoothed label in the window. The seven pct_* sum to 100 when \
                 people > 0 and are all 0 when people = 0."
            )
        },
        |r: &CrowdRow| &r.pct,
    ));
    c.extend(per_expression(
        "mean_s_",
        UNIT_PROB,
        |e| format!("Mean smoothed probability of {e} (faces.s_{e}) over the window's faces rows; 0 when faces = 0."),
        |r: &CrowdRow| &r.mean_smoothed,
    ));
    c.push(col(
        "dominant_label",
        None,
        "Expression with the highest pct_* (ties go to the first in class order); null when \
         people = 0.",
        Values::OptStr(|r: &CrowdRow| r.dominant_label().map(Expression::name)),
    ));
    c
});

static FACES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| schema_of(Table::Faces, &FACE_COLUMNS));
static PERSONS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| schema_of(Table::Persons, &PERSON_COLUMNS));
static CROWD_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| schema_of(Table::Crowd, &CROWD_COLUMNS));

#[derive(Serialize)]
struct SchemaDoc<'a> {
    #[serde(rename = "$comment")]
    comment: &'static str,
    table: &'static str,
    schema_version: &'static str,
    description: &'static str,
    columns: Vec<ColumnDoc<'a>>,
}

#[derive(Serialize)]
struct ColumnDoc<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    data_type: String,
    nullable: bool,
    unit: Option<&'a str>,
    description: &'a str,
}

/// The JSON description of a table checked in as `schemas/<table>.json`: every column's name,
/// Arrow type (its `Display` form), nullability, unit and description, plus the table name and
/// [`SCHEMA_VERSION`]. Generated from [`Table::schema`] alone, so it shows exactly what the
/// Parquet files carry.
pub fn schema_json(table: Table) -> Result<String, serde_json::Error> {
    let schema = table.schema();
    let columns = schema
        .fields()
        .iter()
        .map(|f| ColumnDoc {
            name: f.name(),
            data_type: f.data_type().to_string(),
            nullable: f.is_nullable(),
            unit: f.metadata().get(FIELD_UNIT).map(String::as_str),
            description: f.metadata().get(FIELD_DESCRIPTION).map_or("", String::as_str),
        })
        .collect();
    let doc = SchemaDoc {
        comment: "Generated from src/sink/schema.rs; do not edit. \
                  Regenerate with FER_UPDATE_SCHEMAS=1 cargo test --lib sink::",
        table: table.name(),
        schema_version: SCHEMA_VERSION,
        description: table.description(),
        columns,
    };
    let mut json = serde_json::to_string_pretty(&doc)?;
    json.push('\n');
    Ok(json)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use arrow::array::{Array as _, AsArray as _};
    use arrow::datatypes::{Float32Type, Int64Type};

    use super::*;
    use crate::sink::fixtures;

    fn names(schema: &Schema) -> Vec<&str> {
        schema.fields().iter().map(|f| f.name().as_str()).collect()
    }

    fn expand(prefix: &str) -> Vec<String> {
        Expression::ALL.iter().map(|e| format!("{prefix}{}", e.name())).collect()
    }

    /// The column names are the contract with downstream readers: changing them must be a
    /// deliberate edit of this test (and of SCHEMA_VERSION).
    #[test]
    fn column_names_and_order_are_stable() {
        let mut faces: Vec<String> = [
            "video",
            "camera",
            "frame_index",
            "timestamp_s",
            "timestamp_utc",
            "x",
            "y",
            "width",
            "height",
            "detector_score",
            "lm_left_eye_x",
            "lm_left_eye_y",
            "lm_right_eye_x",
            "lm_right_eye_y",
            "lm_nose_x",
            "lm_nose_y",
            "lm_mouth_left_x",
            "lm_mouth_left_y",
            "lm_mouth_right_x",
            "lm_mouth_right_y",
            "person_id",
        ]
        .map(String::from)
        .to_vec();
        faces.extend(expand("p_"));
        faces.extend(expand("s_"));
        faces.extend(["label", "raw_label", "confidence", "model_id", "pipeline"].map(String::from));
        assert_eq!(names(&faces_schema()), faces);

        let mut persons: Vec<String> = ["video", "camera", "person_id", "first_timestamp_s", "last_timestamp_s", "frames"].map(String::from).to_vec();
        persons.extend(expand("mean_p_"));
        persons.extend(expand("mean_s_"));
        persons.extend(["dominant_label", "dominant_share"].map(String::from));
        assert_eq!(names(&persons_schema()), persons);

        let mut crowd: Vec<String> =
            ["video", "camera", "window_start_s", "window_end_s", "window_start_utc", "frames", "faces", "people"].map(String::from).to_vec();
        crowd.extend(expand("pct_"));
        crowd.extend(expand("mean_s_"));
        crowd.push("dominant_label".into());
        assert_eq!(names(&crowd_schema()), crowd);
    }

    #[test]
    fn every_column_is_documented_and_the_schema_names_itself() {
        for table in Table::ALL {
            let schema = table.schema();
            assert_eq!(schema.metadata()[META_TABLE], table.name());
            assert_eq!(schema.metadata()[META_SCHEMA_VERSION], SCHEMA_VERSION);
            for f in schema.fields() {
                let d = &f.metadata()[FIELD_DESCRIPTION];
                assert!(d.len() > 10, "{table}.{} needs a description", f.name());
            }
        }
        let faces = faces_schema();
        let ts = faces.field_with_name("timestamp_utc").cloned();
        assert!(ts.as_ref().is_ok_and(|f| f.is_nullable()));
        assert_eq!(faces.field_with_name("x").map(|f| f.metadata()[FIELD_UNIT].clone()).ok(), Some("px".into()));
        assert!(faces.field_with_name("video").is_ok_and(|f| !f.metadata().contains_key(FIELD_UNIT)));
    }

    #[test]
    fn record_batches_fit_the_schema_and_derive_the_computed_columns() {
        let rows = [fixtures::face(0, 1), fixtures::face(1, 1), fixtures::face(1, 2)];
        let batch = FaceRow::record_batch(&rows).expect("batch");
        assert_eq!(batch.schema(), faces_schema());
        assert_eq!(batch.num_rows(), 3);
        let conf = batch.column_by_name("confidence").expect("column").as_primitive::<Float32Type>();
        assert_eq!(conf.values().as_ref(), &[0.7, 0.7, 0.7]);
        let ids = batch.column_by_name("person_id").expect("column").as_primitive::<Int64Type>();
        assert_eq!(ids.values().as_ref(), &[1, 1, 2]);
        let labels = batch.column_by_name("label").expect("column").as_dictionary::<Int32Type>();
        assert_eq!(labels.values().len(), 1, "one dictionary entry for three equal labels");

        let crowd = CrowdRow::record_batch(&[fixtures::crowd(0, 3), fixtures::crowd(1, 0)]).expect("batch");
        let dominant = crowd.column_by_name("dominant_label").expect("column");
        assert_eq!(dominant.null_count(), 1);
        assert!(dominant.is_valid(0) && dominant.is_null(1));
        assert_eq!(PersonRow::record_batch(&[]).expect("empty batch").num_rows(), 0);
    }

    #[test]
    fn landmark_columns_are_nullable_float32_pixels_named_after_the_points() {
        for (names, point) in LANDMARK_COLUMNS.iter().zip(Landmarks::NAMES) {
            assert_eq!(names.map(String::from), [format!("lm_{point}_x"), format!("lm_{point}_y")]);
        }
        let faces = faces_schema();
        for name in LANDMARK_COLUMNS.as_flattened() {
            let f = faces.field_with_name(name).expect("landmark column");
            assert_eq!(f.data_type(), &DataType::Float32, "{name}");
            assert!(f.is_nullable(), "{name}");
            assert_eq!(f.metadata()[FIELD_UNIT], "px", "{name}");
            assert!(f.metadata()[FIELD_DESCRIPTION].contains("Null when"), "{name}: the null rule is documented");
        }
        // Only the landmarks are nullable among the numeric columns of faces.
        let nullable: Vec<&str> = faces.fields().iter().filter(|f| f.is_nullable() && f.data_type() == &DataType::Float32).map(|f| f.name().as_str()).collect();
        assert_eq!(nullable, LANDMARK_COLUMNS.as_flattened());
    }

    #[test]
    fn landmarks_fill_their_columns_and_are_null_without_them() {
        let mut with = fixtures::face(0, 1);
        with.landmarks = Some(fixtures::landmarks(100.0, 50.0));
        let rows = [with, fixtures::face(1, 1)];
        let batch = FaceRow::record_batch(&rows).expect("batch");
        let value = |name: &str| {
            let c = batch.column_by_name(name).expect("column").as_primitive::<Float32Type>();
            (c.is_valid(0).then(|| c.value(0)), c.is_null(1))
        };
        assert_eq!(value("lm_left_eye_x"), (Some(120.0), true));
        assert_eq!(value("lm_left_eye_y"), (Some(75.5), true));
        assert_eq!(value("lm_nose_y"), (Some(90.25), true));
        assert_eq!(value("lm_mouth_right_x"), (Some(142.0), true));
        assert_eq!(value("lm_mouth_right_y"), (Some(105.5), true));
    }

    #[test]
    fn unsigned_values_beyond_int64_are_an_error() {
        let mut row = fixtures::face(0, 1);
        row.frame_index = u64::MAX;
        match FaceRow::record_batch(&[row]) {
            Err(SinkError::ValueOutOfRange { table: "faces", column, value }) => {
                assert_eq!((column.as_str(), value), ("frame_index", u64::MAX));
            }
            other => panic!("expected ValueOutOfRange, got {other:?}"),
        }
    }

    /// `schemas/*.json` are generated from the schemas above (ruff's generate_json_schema):
    /// `FER_UPDATE_SCHEMAS=1 cargo test --lib sink::` rewrites them.
    #[test]
    fn schemas_on_disk_match_the_writer() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas");
        let update = std::env::var_os("FER_UPDATE_SCHEMAS").is_some_and(|v| v == "1");
        for table in Table::ALL {
            let path = dir.join(format!("{}.json", table.name()));
            let generated = schema_json(table).expect("serialize schema");
            if update {
                std::fs::create_dir_all(&dir).expect("create schemas/");
                std::fs::write(&path, &generated).expect("write schema");
                continue;
            }
            let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                on_disk == generated,
                "{} is out of date with src/sink/schema.rs; regenerate it with \
                 `FER_UPDATE_SCHEMAS=1 cargo test --lib sink::` and bump SCHEMA_VERSION if a \
                 column changed.\n--- on disk\n{on_disk}\n--- generated\n{generated}",
                path.display()
            );
        }
    }
}
