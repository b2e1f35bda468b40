//! Dataset form of the output: a Hive-partitioned directory of per-video part files.
//!
//! ```text
//! OUT/table=faces/date=2024-05-01/camera=hall-1/part-3f9c0a1be27d4c55.parquet
//! OUT/table=persons/date=2024-05-01/camera=hall-1/part-3f9c0a1be27d4c55.parquet
//! OUT/table=crowd/date=2024-05-01/camera=hall-1/part-3f9c0a1be27d4c55.parquet
//! ```
//!
//! In: one video's content hash, its camera and start time, the run's settings and model.
//! Out: the three [`PartPaths`] of that video inside the dataset root.
//!
//! Invariants:
//! - `date` is the UTC date of the video's start (manifest start time, else the container's
//!   `creation_time`), `camera` the camera name; either is [`UNKNOWN`] when not known. Values
//!   are escaped Hive style: every byte outside `[A-Za-z0-9._-]` becomes `%XX`.
//! - The part id ([`PartKey::id`]) is a hash of everything that decides the rows: the video's
//!   content, the resolved settings, the model, the camera, the start-time override and the
//!   schema version. The same inputs always give the same file names (a rerun finds its own
//!   files and may skip the video); different videos never share a name, so concurrent workers
//!   never collide and a nightly run only adds files.

use std::path::{Path, PathBuf};

use super::PartPaths;
use crate::sink::{SCHEMA_VERSION, Table};

/// Partition value of an unknown date or camera.
pub const UNKNOWN: &str = "unknown";

/// Whether `--out` asks for the dataset form: it ends with a path separator or names an
/// existing directory.
pub fn is_dataset_out(out: &Path) -> bool {
    let bytes = out.as_os_str().as_encoded_bytes();
    bytes.last().is_some_and(|&b| b == b'/' || (cfg!(windows) && b == b'\\')) || out.is_dir()
}

/// Escapes a partition value: bytes outside `[A-Za-z0-9._-]` become `%XX` (upper-case hex of
/// each UTF-8 byte), as Hive and Spark do for path values. An empty value is [`UNKNOWN`].
pub fn escape_partition_value(value: &str) -> String {
    if value.is_empty() {
        return UNKNOWN.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    // `.` and `..` would escape the partition directory.
    match out.as_str() {
        "." => "%2E".to_owned(),
        ".." => "%2E%2E".to_owned(),
        _ => out,
    }
}

/// `YYYY-MM-DD` of a time given in microseconds since the Unix epoch (UTC).
pub fn date_from_utc_micros(us: i64) -> String {
    let days = us.div_euclid(86_400_000_000);
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The `date=` and `camera=` values of one video (unescaped; `None` is [`UNKNOWN`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// `YYYY-MM-DD` (UTC) of the video's start, if known.
    pub date: Option<String>,
    /// Camera name, if known.
    pub camera: Option<String>,
}

impl Partition {
    /// The partition of a video starting at `start_utc_us` (µs since the epoch) on `camera`.
    pub fn new(start_utc_us: Option<i64>, camera: Option<&str>) -> Self {
        Self { date: start_utc_us.map(date_from_utc_micros), camera: camera.filter(|c| !c.is_empty()).map(str::to_owned) }
    }

    /// `date=…/camera=…`, escaped.
    pub fn relative_dir(&self) -> PathBuf {
        let date = escape_partition_value(self.date.as_deref().unwrap_or(UNKNOWN));
        let camera = escape_partition_value(self.camera.as_deref().unwrap_or(UNKNOWN));
        PathBuf::from(format!("date={date}")).join(format!("camera={camera}"))
    }
}

/// Everything that decides a video's rows, hashed into its part id.
#[derive(Debug, Clone, Copy)]
pub struct PartKey<'a> {
    /// blake3 (hex) of the video file.
    pub source_blake3: &'a str,
    /// The resolved pipeline settings as JSON.
    pub settings_json: &'a str,
    /// The expression model's id (`name@hash`).
    pub model_id: &'a str,
    /// Camera name stored in the rows.
    pub camera: Option<&'a str>,
    /// Start time override (manifest) stored in the rows' absolute times.
    pub start_utc: Option<&'a str>,
}

impl PartKey<'_> {
    /// First 16 hex digits of a blake3 hash over all fields (length-prefixed, so no two
    /// different keys hash the same bytes).
    pub fn id(&self) -> String {
        let mut h = blake3::Hasher::new();
        let fields = [
            Some("fer-batch part"),
            Some(SCHEMA_VERSION),
            Some(self.source_blake3),
            Some(self.settings_json),
            Some(self.model_id),
            self.camera,
            self.start_utc,
        ];
        for field in fields {
            match field {
                Some(s) => {
                    h.update(&[1]);
                    h.update(&(s.len() as u64).to_le_bytes());
                    h.update(s.as_bytes());
                }
                None => {
                    h.update(&[0]);
                }
            }
        }
        h.finalize().to_hex()[..16].to_owned()
    }
}

impl PartPaths {
    /// The three part files of the video with part id `id` in `partition` of the dataset at
    /// `root`: `root/table=T/date=…/camera=…/part-<id>.parquet`.
    pub fn in_dataset(root: &Path, partition: &Partition, id: &str) -> Self {
        let dir = partition.relative_dir();
        let path = |t: Table| root.join(format!("table={}", t.name())).join(&dir).join(format!("part-{id}.parquet"));
        Self { faces: path(Table::Faces), persons: path(Table::Persons), crowd: path(Table::Crowd) }
    }

    /// The three paths.
    pub fn all(&self) -> [&Path; 3] {
        [&self.faces, &self.persons, &self.crowd]
    }

    /// Whether all three files exist (a complete earlier run of the same part id).
    pub fn all_exist(&self) -> bool {
        self.all().iter().all(|p| p.is_file())
    }

    /// Creates the directories that hold the three files.
    pub fn create_dirs(&self) -> std::io::Result<()> {
        for p in self.all() {
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_are_escaped_hive_style() {
        assert_eq!(escape_partition_value("hall-1_a.b"), "hall-1_a.b");
        assert_eq!(escape_partition_value("front door"), "front%20door");
        assert_eq!(escape_partition_value("a/b=c"), "a%2Fb%3Dc");
        assert_eq!(escape_partition_value("caméra"), "cam%C3%A9ra");
        assert_eq!(escape_partition_value("50%"), "50%25");
        assert_eq!(escape_partition_value(""), UNKNOWN);
        assert_eq!(escape_partition_value(".."), "%2E%2E");
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(date_from_utc_micros(0), "1970-01-01");
        assert_eq!(date_from_utc_micros(86_400_000_000 - 1), "1970-01-01");
        assert_eq!(date_from_utc_micros(-1), "1969-12-31");
        assert_eq!(date_from_utc_micros(1_709_208_000_000_000), "2024-02-29");
        assert_eq!(date_from_utc_micros(1_735_689_599_000_000), "2024-12-31");
        assert_eq!(date_from_utc_micros(1_735_689_600_000_000), "2025-01-01");
    }

    #[test]
    fn dataset_paths_follow_the_layout() {
        let p = Partition::new(Some(1_709_208_000_000_000), Some("front door"));
        let paths = PartPaths::in_dataset(Path::new("out"), &p, "0123456789abcdef");
        assert_eq!(paths.faces, Path::new("out/table=faces/date=2024-02-29/camera=front%20door/part-0123456789abcdef.parquet"));
        assert_eq!(paths.persons, Path::new("out/table=persons/date=2024-02-29/camera=front%20door/part-0123456789abcdef.parquet"));
        assert_eq!(paths.crowd, Path::new("out/table=crowd/date=2024-02-29/camera=front%20door/part-0123456789abcdef.parquet"));
        let unknown = PartPaths::in_dataset(Path::new("out"), &Partition::new(None, None), "x");
        assert_eq!(unknown.faces, Path::new("out/table=faces/date=unknown/camera=unknown/part-x.parquet"));
    }

    #[test]
    fn part_ids_are_stable_and_depend_on_every_field() {
        let key = PartKey { source_blake3: "ab", settings_json: "{}", model_id: "m@1", camera: None, start_utc: None };
        let id = key.id();
        assert_eq!(id.len(), 16);
        assert_eq!(id, key.id());
        let variants = [
            PartKey { source_blake3: "ac", ..key },
            PartKey { settings_json: "{ }", ..key },
            PartKey { model_id: "m@2", ..key },
            PartKey { camera: Some("c"), ..key },
            PartKey { camera: Some(""), ..key },
            PartKey { start_utc: Some("2024-05-01T00:00:00Z"), ..key },
        ];
        for v in variants {
            assert_ne!(v.id(), id, "{v:?}");
        }
    }

    #[test]
    fn dataset_form_is_a_trailing_slash_or_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(is_dataset_out(dir.path()));
        assert!(is_dataset_out(&dir.path().join("new/")));
        assert!(!is_dataset_out(&dir.path().join("new")));
        assert!(!is_dataset_out(&dir.path().join("results.parquet")));
    }
}
