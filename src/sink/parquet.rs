//! Streaming rows into Parquet files that appear atomically.
//!
//! In: rows of one table ([`TableRow`]) and [`WriterOptions`]. Out: one Parquet file per
//! [`TableWriter`], zstd-compressed, dictionary-encoded, with page-level statistics, row groups
//! of at most [`WriterOptions::row_group_rows`] rows and `created_by = "fer-batch <version>"`.
//!
//! Rows are buffered [`WriterOptions::batch_rows`] at a time and handed to the Arrow writer as
//! record batches, so memory stays bounded by one batch plus one encoded row group whatever the
//! length of the video. The file is written as `.<name>.tmp-<pid>-<random>` in the target's
//! directory (same file system, so the final rename is atomic); [`TableWriter::finish`] fsyncs
//! it, renames it over the target and fsyncs the directory. A writer dropped before `finish`
//! (error, panic, Ctrl-C unwinding) removes its temporary file and leaves the target untouched.

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher as _, Hasher as _};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ::parquet::arrow::ArrowWriter;
use ::parquet::basic::{Compression as ParquetCompression, ZstdLevel};
use ::parquet::file::metadata::KeyValue;
use ::parquet::file::properties::{EnabledStatistics, WriterProperties};
use ::parquet::file::reader::{FileReader as _, SerializedFileReader};

use super::schema::{META_SCHEMA_VERSION, META_TABLE, SCHEMA_VERSION, Table, TableRow};
use super::{OutputPaths, SinkError, sibling_paths};

/// Key-value metadata key under which the Arrow writer stores the Arrow schema.
const ARROW_SCHEMA_KEY: &str = "ARROW:schema";

/// Column-chunk compression codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No compression (for debugging; files are several times larger).
    Uncompressed,
    /// Zstandard at the given level (1 = fastest … 22 = smallest).
    Zstd {
        /// Compression level.
        level: i32,
    },
}

impl Default for Compression {
    /// zstd level 3: zstd's own default, a good size/speed balance.
    fn default() -> Self {
        Compression::Zstd { level: 3 }
    }
}

/// How a [`TableWriter`] writes its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    /// Rows buffered before they are encoded as one record batch (bounds memory). Must be ≥ 1.
    pub batch_rows: usize,
    /// Maximum rows per Parquet row group. Must be ≥ 1.
    pub row_group_rows: usize,
    /// Compression of every column.
    pub compression: Compression,
    /// Extra file-level key-value metadata (e.g. model hash, settings, command line), written
    /// after `table` and `schema_version`; those two and `ARROW:schema` are reserved.
    pub key_value_metadata: Vec<(String, String)>,
    /// Replace an existing target even when it is not a fer-batch table of this
    /// [`SCHEMA_VERSION`] (a `--force` flag). Off by default: such files cause an error.
    pub force_replace: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self { batch_rows: 8192, row_group_rows: 64 * 1024, compression: Compression::default(), key_value_metadata: Vec::new(), force_replace: false }
    }
}

impl WriterOptions {
    /// The Parquet writer properties for `table`, or the first invalid option.
    fn writer_properties(&self, table: Table) -> Result<WriterProperties, SinkError> {
        if self.batch_rows == 0 {
            return Err(invalid("batch_rows", "must be at least 1".to_owned()));
        }
        if self.row_group_rows == 0 {
            return Err(invalid("row_group_rows", "must be at least 1".to_owned()));
        }
        let compression = match self.compression {
            Compression::Uncompressed => ParquetCompression::UNCOMPRESSED,
            Compression::Zstd { level } => ParquetCompression::ZSTD(ZstdLevel::try_new(level).map_err(|e| invalid("compression", e.to_string()))?),
        };
        let mut key_value_metadata =
            vec![KeyValue::new(META_TABLE.to_owned(), table.name().to_owned()), KeyValue::new(META_SCHEMA_VERSION.to_owned(), SCHEMA_VERSION.to_owned())];
        for (key, value) in &self.key_value_metadata {
            if [META_TABLE, META_SCHEMA_VERSION, ARROW_SCHEMA_KEY].contains(&key.as_str()) {
                return Err(SinkError::ReservedMetadataKey { key: key.clone() });
            }
            key_value_metadata.push(KeyValue::new(key.clone(), value.clone()));
        }
        Ok(WriterProperties::builder()
            .set_created_by(format!("fer-batch {}", env!("CARGO_PKG_VERSION")))
            .set_compression(compression)
            .set_dictionary_enabled(true)
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_key_value_metadata(Some(key_value_metadata))
            .build())
    }
}

fn invalid(name: &'static str, reason: String) -> SinkError {
    SinkError::InvalidOption { name, reason }
}

/// What [`TableWriter::finish`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSummary {
    /// The table.
    pub table: Table,
    /// The final path of the file.
    pub path: PathBuf,
    /// Rows written.
    pub rows: u64,
    /// Row groups written.
    pub row_groups: usize,
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// Streams rows of one table into a Parquet file that appears atomically on
/// [`TableWriter::finish`].
///
/// ```no_run
/// # use fer_batch::sink::{FaceRow, TableWriter, WriterOptions};
/// # fn rows() -> Vec<FaceRow> { Vec::new() }
/// let mut faces = TableWriter::<FaceRow>::create("results.parquet", &WriterOptions::default())?;
/// for row in rows() {
///     faces.write(row)?;
/// }
/// let summary = faces.finish()?;
/// # Ok::<(), fer_batch::sink::SinkError>(())
/// ```
pub struct TableWriter<R: TableRow> {
    // Field order matters: the writer (and its file handle) drops before the temp file guard
    // removes the file.
    writer: ArrowWriter<File>,
    temp: TempFile,
    path: PathBuf,
    buffer: Vec<R>,
    batch_rows: usize,
    rows: u64,
}

impl<R: TableRow> TableWriter<R> {
    /// Starts writing the table to a temporary file beside `path`.
    ///
    /// Fails before creating anything when an option is invalid or when `path` exists and is
    /// not a fer-batch table of the same name and [`SCHEMA_VERSION`] (see
    /// [`check_replaceable`]; skipped with [`WriterOptions::force_replace`]).
    pub fn create(path: impl Into<PathBuf>, options: &WriterOptions) -> Result<Self, SinkError> {
        let path = path.into();
        let props = options.writer_properties(R::TABLE)?;
        if !options.force_replace {
            check_replaceable(&path, R::TABLE)?;
        }
        let (temp, file) =
            TempFile::create_beside(&path).map_err(|source| SinkError::Io { action: "create a temporary file beside", path: path.clone(), source })?;
        let writer = ArrowWriter::try_new(file, R::TABLE.schema(), Some(props)).map_err(|source| SinkError::Parquet { path: path.clone(), source })?;
        Ok(Self { writer, temp, path, buffer: Vec::with_capacity(options.batch_rows), batch_rows: options.batch_rows, rows: 0 })
    }

    /// The final path of the table.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows accepted so far (written or buffered).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Adds one row; every [`WriterOptions::batch_rows`] rows are encoded as a record batch.
    pub fn write(&mut self, row: R) -> Result<(), SinkError> {
        self.buffer.push(row);
        self.rows += 1;
        if self.buffer.len() >= self.batch_rows {
            self.flush_batch()?;
        }
        Ok(())
    }

    /// Adds rows in order.
    pub fn write_all(&mut self, rows: impl IntoIterator<Item = R>) -> Result<(), SinkError> {
        rows.into_iter().try_for_each(|row| self.write(row))
    }

    /// Appends a record batch of this table (e.g. read back from a part file written by a
    /// `TableWriter` of the same table). Columns must match the table's schema by name and
    /// type; the batch is re-labelled with the canonical schema (units, descriptions).
    pub fn write_batch(&mut self, batch: &arrow::record_batch::RecordBatch) -> Result<(), SinkError> {
        self.flush_batch()?;
        let schema = R::TABLE.schema();
        let same = batch.num_columns() == schema.fields().len()
            && batch.schema().fields().iter().zip(schema.fields()).all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        if !same {
            return Err(SinkError::TableMismatch {
                path: self.path.clone(),
                found: format!("a record batch with columns {:?}", batch.schema().fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>()),
                expected: R::TABLE.name(),
            });
        }
        let batch = arrow::record_batch::RecordBatch::try_new(schema, batch.columns().to_vec())
            .map_err(|source| SinkError::Arrow { table: R::TABLE.name(), source })?;
        self.writer.write(&batch).map_err(|source| SinkError::Parquet { path: self.path.clone(), source })?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn flush_batch(&mut self) -> Result<(), SinkError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let batch = R::record_batch(&self.buffer)?;
        self.writer.write(&batch).map_err(|source| SinkError::Parquet { path: self.path.clone(), source })?;
        self.buffer.clear();
        Ok(())
    }

    /// Adds a key-value pair to the file's metadata (footer), e.g. a fact known only once all
    /// rows are written.
    pub fn append_metadata(&mut self, key: &str, value: &str) {
        self.writer.append_key_value_metadata(KeyValue::new(key.to_owned(), value.to_owned()));
    }

    /// Writes the buffered rows and the footer, fsyncs, and renames the file into place
    /// (replacing an existing target atomically).
    #[tracing::instrument(skip_all, fields(table = %R::TABLE, path = ?self.path, rows, bytes))]
    pub fn finish(mut self) -> Result<WriteSummary, SinkError> {
        self.flush_batch()?;
        let Self { mut writer, temp, path, rows, .. } = self;
        let parquet_err = |source| SinkError::Parquet { path: path.clone(), source };
        let metadata = writer.finish().map_err(parquet_err)?;
        let bytes = writer.bytes_written() as u64;
        writer.inner().sync_all().map_err(|source| SinkError::Io { action: "fsync", path: temp.path.clone(), source })?;
        drop(writer);
        temp.persist_as(&path)?;
        let span = tracing::Span::current();
        span.record("rows", rows);
        span.record("bytes", bytes);
        tracing::debug!("table written");
        Ok(WriteSummary { table: R::TABLE, path, rows, row_groups: metadata.num_row_groups(), bytes })
    }
}

impl<R: TableRow> std::fmt::Debug for TableWriter<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter")
            .field("table", &R::TABLE)
            .field("path", &self.path)
            .field("temp", &self.temp.path)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

fn open_table(path: &Path) -> Result<::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder<File>, SinkError> {
    let file = File::open(path).map_err(|source| SinkError::Io { action: "open", path: path.to_path_buf(), source })?;
    ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).map_err(|source| SinkError::Parquet { path: path.to_path_buf(), source })
}

fn key_values(builder: &::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder<File>) -> Vec<(String, String)> {
    builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kvs| kvs.iter().map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default())).collect())
        .unwrap_or_default()
}

/// The file-level key-value metadata of a Parquet file (footer only).
pub fn read_key_value_metadata(path: &Path) -> Result<Vec<(String, String)>, SinkError> {
    Ok(key_values(&open_table(path)?))
}

/// A whole table read back: its record batches and its file-level key-value metadata.
type TableContents = (Vec<arrow::record_batch::RecordBatch>, Vec<(String, String)>);

/// A whole Parquet file as record batches, with its key-value metadata (for read-back by
/// reports and tests; tables are small enough to hold).
pub fn read_table(path: &Path) -> Result<TableContents, SinkError> {
    let builder = open_table(path)?;
    let kv = key_values(&builder);
    let reader = builder.build().map_err(|source| SinkError::Parquet { path: path.to_path_buf(), source })?;
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|source| SinkError::Arrow { table: "(read back)", source })?;
    Ok((batches, kv))
}

/// Checks that a file can be created in `dir_or_file` (an existing directory) or in the
/// directory that would hold `dir_or_file` (a file path), by creating and removing a hidden
/// probe file there. Cheap; meant to run before any video is decoded.
pub fn check_writable(dir_or_file: &Path) -> Result<(), SinkError> {
    let dir = if dir_or_file.is_dir() { dir_or_file } else { parent_dir(dir_or_file) };
    let (probe, file) = TempFile::create_in(dir, "fer-batch-probe").map_err(|source| SinkError::NotWritable { path: dir.to_path_buf(), source })?;
    drop(file);
    drop(probe);
    Ok(())
}

/// Checks that writing `table` to `path` may replace what is there: nothing, or a fer-batch
/// Parquet file of the same table and [`SCHEMA_VERSION`] (read from its footer only).
///
/// Errors: [`SinkError::SchemaMismatch`] for another schema version,
/// [`SinkError::TableMismatch`] for another table, [`SinkError::ForeignFile`] for a directory,
/// a non-Parquet file or a Parquet file without fer-batch metadata.
pub fn check_replaceable(path: &Path, table: Table) -> Result<(), SinkError> {
    let foreign = |reason: String| SinkError::ForeignFile { path: path.to_path_buf(), reason };
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(SinkError::Io { action: "inspect", path: path.to_path_buf(), source });
        }
    };
    if meta.is_dir() {
        return Err(foreign("is a directory".to_owned()));
    }
    if !meta.is_file() {
        return Err(foreign("is not a regular file".to_owned()));
    }
    let file = File::open(path).map_err(|source| SinkError::Io { action: "open", path: path.to_path_buf(), source })?;
    let reader = SerializedFileReader::new(file).map_err(|e| foreign(format!("is not a readable Parquet file ({e})")))?;
    let key_values = reader.metadata().file_metadata().key_value_metadata();
    let get = |key: &str| key_values.and_then(|kvs| kvs.iter().find(|kv| kv.key == key)).and_then(|kv| kv.value.clone());
    match get(META_SCHEMA_VERSION) {
        None => {
            return Err(foreign("has no schema_version metadata (not written by fer-batch)".into()));
        }
        Some(found) if found != SCHEMA_VERSION => {
            return Err(SinkError::SchemaMismatch { path: path.to_path_buf(), found, expected: SCHEMA_VERSION.to_owned() });
        }
        Some(_) => {}
    }
    match get(META_TABLE) {
        Some(found) if found == table.name() => Ok(()),
        found => Err(SinkError::TableMismatch { path: path.to_path_buf(), found: found.unwrap_or_else(|| "(unnamed)".to_owned()), expected: table.name() }),
    }
}

/// Everything that can be checked about `--out` before decoding: the directory accepts new
/// files ([`check_writable`]) and each of the three paths of [`sibling_paths`] may be replaced
/// ([`check_replaceable`], skipped when `force_replace`). Returns the three paths.
pub fn check_outputs(out: &Path, force_replace: bool) -> Result<OutputPaths, SinkError> {
    check_writable(out)?;
    let paths = sibling_paths(out);
    if !force_replace {
        for table in Table::ALL {
            check_replaceable(paths.get(table), table)?;
        }
    }
    Ok(paths)
}

/// The directory that holds `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Removes what interrupted runs left in `dir` (not recursive): temporary files
/// `.<name>.tmp-<pid>[-<hex>]` and private staging directories `.fer-batch-staging-<pid>-<n>`
/// whose process no longer runs (it was killed with SIGKILL or the machine lost power, so
/// its own clean-up never ran). Files of live processes, including concurrent runs, are left
/// alone. Returns the paths removed. Liveness is read from `/proc`; where that does not exist
/// nothing is removed.
pub fn remove_stale_temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    if !Path::new("/proc/self").exists() {
        return removed;
    }
    let Ok(entries) = fs::read_dir(dir) else { return removed };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = stale_owner(&name.to_string_lossy()) else { continue };
        if pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        let path = entry.path();
        let gone = if entry.file_type().is_ok_and(|t| t.is_dir()) { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        match gone {
            Ok(()) => removed.push(path),
            Err(e) => tracing::warn!(path = ?path, error = %e, "cannot remove a stale temporary file"),
        }
    }
    removed
}

/// The pid in a temporary name written by this crate, if `name` is one.
fn stale_owner(name: &str) -> Option<u32> {
    let rest = if let Some(r) = name.strip_prefix(".fer-batch-staging-") {
        r
    } else {
        let hidden = name.strip_prefix('.')?;
        let at = hidden.rfind(".tmp-")?;
        &hidden[at + 5..]
    };
    let digits: &str = rest.split('-').next()?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A hidden file that is removed on drop unless persisted.
struct TempFile {
    path: PathBuf,
    persisted: bool,
}

impl TempFile {
    /// Creates `.<name>.tmp-<pid>-<random>` in the directory of `target`.
    fn create_beside(target: &Path) -> io::Result<(Self, File)> {
        let name = target.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the output path has no file name"))?;
        Self::create_in(parent_dir(target), &name.to_string_lossy())
    }

    /// Creates `.<name>.tmp-<pid>-<random>` in `dir`, never reusing an existing file.
    fn create_in(dir: &Path, name: &str) -> io::Result<(Self, File)> {
        let mut attempts = 0;
        loop {
            let path = dir.join(format!(".{name}.tmp-{}-{:016x}", std::process::id(), random_u64()));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    return Ok((Self { path, persisted: false }, file));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 8 => attempts += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Renames the file to `target` (atomically replacing it) and fsyncs the directory.
    fn persist_as(mut self, target: &Path) -> Result<(), SinkError> {
        fs::rename(&self.path, target).map_err(|source| SinkError::Io { action: "rename the temporary file to", path: target.to_path_buf(), source })?;
        self.persisted = true;
        // The data is already in place; a failed directory fsync only weakens durability
        // after a power cut, so it is reported but does not fail the run.
        if let Err(e) = sync_dir(parent_dir(target)) {
            tracing::warn!(path = ?target, error = %e, "cannot fsync the output directory");
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted
            && let Err(e) = fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = ?self.path, error = %e, "cannot remove temporary file");
        }
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// 64 unpredictable bits for temporary names, from std's per-process random hash keys, a
/// counter and the clock (no RNG dependency needed: this is uniqueness, not security).
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn stale_temporaries_are_recognised_by_name_and_removed_only_for_dead_processes() {
        use super::{remove_stale_temporaries, stale_owner};
        assert_eq!(stale_owner(".faces.parquet.tmp-4242-00ab12cd00ab12cd"), Some(4242));
        assert_eq!(stale_owner(".fer-batch-dataset.json.tmp-17"), Some(17));
        assert_eq!(stale_owner(".fer-batch-staging-99-12345"), Some(99));
        assert_eq!(stale_owner("faces.parquet"), None);
        assert_eq!(stale_owner(".hidden"), None);
        assert_eq!(stale_owner(".x.tmp-abc-1"), None);
        assert_eq!(stale_owner("x.tmp-12-1"), None, "only hidden names are ours");

        let dir = tempfile::tempdir().unwrap();
        // A pid that cannot be running (above Linux's pid_max limit of 2^22).
        let dead = 4_999_999u32;
        let me = std::process::id();
        let stale_file = dir.path().join(format!(".a.parquet.tmp-{dead}-0011223344556677"));
        let stale_dir = dir.path().join(format!(".fer-batch-staging-{dead}-7"));
        let live_file = dir.path().join(format!(".b.parquet.tmp-{me}-0011223344556677"));
        let result = dir.path().join("a.parquet");
        std::fs::write(&stale_file, b"partial").unwrap();
        std::fs::create_dir(&stale_dir).unwrap();
        std::fs::write(stale_dir.join("part"), b"x").unwrap();
        std::fs::write(&live_file, b"in progress").unwrap();
        std::fs::write(&result, b"done").unwrap();
        let mut removed = remove_stale_temporaries(dir.path());
        removed.sort();
        let mut want = vec![stale_dir.clone(), stale_file.clone()];
        want.sort();
        assert_eq!(removed, want);
        assert!(live_file.exists() && result.exists());
    }

    use std::sync::Arc;

    use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use arrow::array::{Array as _, AsArray as _, RecordBatch};
    use arrow::compute::{cast, concat_batches};
    use arrow::datatypes::{DataType, Float32Type, Float64Type, Int64Type, TimestampMicrosecondType};

    use super::*;
    use crate::classify::labels::Expression;
    use crate::sink::{CrowdRow, FaceRow, LANDMARK_COLUMNS, PersonRow, fixtures};

    struct ReadBack {
        batch: RecordBatch,
        key_values: Vec<(String, String)>,
        created_by: Option<String>,
        row_groups: usize,
    }

    fn read(path: &Path, table: Table) -> ReadBack {
        let file = File::open(path).expect("open written file");
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet footer");
        let meta = builder.metadata().file_metadata();
        let key_values = meta
            .key_value_metadata()
            .into_iter()
            .flatten()
            .filter(|kv| kv.key != ARROW_SCHEMA_KEY)
            .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
            .collect();
        let created_by = meta.created_by().map(str::to_owned);
        let row_groups = builder.metadata().num_row_groups();
        let schema = Arc::clone(builder.schema());
        assert_eq!(schema.fields(), table.schema().fields(), "types, nullability and field metadata");
        let batches = builder.build().expect("reader").collect::<Result<Vec<_>, _>>().expect("batches");
        let batch = concat_batches(&schema, &batches).expect("concat");
        ReadBack { batch, key_values, created_by, row_groups }
    }

    fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
        let col = cast(batch.column_by_name(name).expect("column"), &DataType::Utf8).expect("cast");
        col.as_string::<i32>().iter().map(|s| s.map(str::to_owned)).collect()
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir).expect("read dir").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    fn options() -> WriterOptions {
        WriterOptions { batch_rows: 2, row_group_rows: 3, key_value_metadata: vec![("model_blake3".into(), "0123abcd".into())], ..WriterOptions::default() }
    }

    #[test]
    fn all_three_tables_round_trip_with_metadata_and_no_leftovers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = check_outputs(&dir.path().join("results.parquet"), false).expect("preflight");

        let faces: Vec<FaceRow> = (0..5).map(|i| fixtures::face(i, 1 + (i % 2) as u32)).collect();
        let mut w = TableWriter::<FaceRow>::create(&paths.faces, &options()).expect("create");
        assert!(!paths.faces.exists(), "nothing appears before finish");
        w.write_all(faces.clone()).expect("write");
        assert_eq!(w.rows(), 5);
        let summary = w.finish().expect("finish");
        assert_eq!((summary.table, summary.rows, summary.row_groups), (Table::Faces, 5, 2));
        assert_eq!(summary.bytes, fs::metadata(&paths.faces).expect("stat").len());

        let mut w = TableWriter::<PersonRow>::create(&paths.persons, &options()).expect("create");
        w.write_all([fixtures::person(1, 3), fixtures::person(2, 2)]).expect("write");
        w.finish().expect("finish");
        let mut w = TableWriter::<CrowdRow>::create(&paths.crowd, &options()).expect("create");
        w.write_all([fixtures::crowd(0, 2), fixtures::crowd(1, 0)]).expect("write");
        w.finish().expect("finish");

        assert_eq!(files_in(dir.path()), ["results.crowd.parquet", "results.parquet", "results.persons.parquet"], "no temporary or probe files are left");

        let f = read(&paths.faces, Table::Faces);
        assert_eq!(f.batch.num_rows(), 5);
        assert_eq!(f.row_groups, 2, "row_group_rows = 3 splits 5 rows in two groups");
        assert_eq!(
            f.key_values,
            [("table", "faces"), ("schema_version", SCHEMA_VERSION), ("model_blake3", "0123abcd")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(f.created_by, Some(format!("fer-batch {}", env!("CARGO_PKG_VERSION"))));
        let b = &f.batch;
        assert_eq!(b.schema().metadata()["table"], "faces");
        assert_eq!(strings(b, "video"), vec![Some("lecture.mp4".to_owned()); 5]);
        assert_eq!(strings(b, "camera"), vec![None; 5]);
        assert_eq!(strings(b, "label")[0].as_deref(), Some("happy"));
        assert_eq!(strings(b, "raw_label")[0].as_deref(), Some("surprise"));
        assert_eq!(strings(b, "pipeline")[4].as_deref(), Some("classroom/1"));
        let frame = b.column_by_name("frame_index").expect("col").as_primitive::<Int64Type>();
        assert_eq!(frame.values().as_ref(), &[0, 1, 2, 3, 4]);
        let person = b.column_by_name("person_id").expect("col").as_primitive::<Int64Type>();
        assert_eq!(person.values().as_ref(), &[1, 2, 1, 2, 1]);
        let t = b.column_by_name("timestamp_s").expect("col").as_primitive::<Float64Type>();
        assert_eq!(t.value(3), 0.6);
        let utc = b.column_by_name("timestamp_utc").expect("col").as_primitive::<TimestampMicrosecondType>();
        assert_eq!(utc.value(1), 1_700_000_000_200_000);
        assert_eq!(utc.timezone(), Some("UTC"));
        let h = b.column_by_name("height").expect("col").as_primitive::<Float32Type>();
        assert_eq!(h.value(0), 72.5);
        let p_surprise = b.column_by_name("p_surprise").expect("col").as_primitive::<Float32Type>();
        let s_happy = b.column_by_name("s_happy").expect("col").as_primitive::<Float32Type>();
        let s_angry = b.column_by_name("s_angry").expect("col").as_primitive::<Float32Type>();
        assert_eq!((p_surprise.value(2), s_happy.value(2)), (0.4, 0.7));
        assert_eq!(s_angry.value(2), fixtures::peaked(Expression::Happy, 0.7)[0]);

        let p = read(&paths.persons, Table::Persons);
        assert_eq!(p.batch.num_rows(), 2);
        assert_eq!(p.key_values[0], ("table".to_owned(), "persons".to_owned()));
        assert_eq!(strings(&p.batch, "camera")[1].as_deref(), Some("cam-2"));
        assert_eq!(strings(&p.batch, "dominant_label")[0].as_deref(), Some("happy"));
        let frames = p.batch.column_by_name("frames").expect("col").as_primitive::<Int64Type>();
        assert_eq!(frames.values().as_ref(), &[3, 2]);

        let c = read(&paths.crowd, Table::Crowd);
        assert_eq!(c.batch.num_rows(), 2);
        assert_eq!(c.key_values[0], ("table".to_owned(), "crowd".to_owned()));
        assert_eq!(strings(&c.batch, "dominant_label"), [Some("happy".to_owned()), None]);
        let pct_sad = c.batch.column_by_name("pct_sad").expect("col").as_primitive::<Float32Type>();
        assert_eq!(pct_sad.values().as_ref(), &[100.0 / 3.0, 0.0]);
        assert_eq!(c.batch.column_by_name("window_start_utc").expect("col").null_count(), 2);
    }

    #[test]
    fn landmarks_round_trip_and_rows_without_them_read_back_as_nulls() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("faces.parquet");
        let landmarks = fixtures::landmarks(300.0, 140.0);
        let mut with = fixtures::face(0, 1);
        with.landmarks = Some(landmarks);
        let rows = [with, fixtures::face(0, 2), fixtures::face(1, 1)];
        let mut w = TableWriter::<FaceRow>::create(&path, &options()).expect("create");
        w.write_all(rows).expect("write");
        w.finish().expect("finish");

        let (batches, _) = read_table(&path).expect("read back");
        let schema = Arc::clone(&batches[0].schema());
        let b = concat_batches(&schema, &batches).expect("concat");
        for (point, names) in LANDMARK_COLUMNS.iter().enumerate() {
            for (axis, name) in names.iter().enumerate() {
                let c = b.column_by_name(name).expect("col").as_primitive::<Float32Type>();
                assert_eq!(c.len(), 3);
                assert!(c.is_valid(0), "{name}");
                assert_eq!(c.value(0), landmarks.0[point][axis], "{name}");
                assert!(c.is_null(1) && c.is_null(2), "{name}: no landmarks, null");
            }
        }
    }

    #[test]
    fn an_empty_table_is_a_valid_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.persons.parquet");
        let w = TableWriter::<PersonRow>::create(&path, &WriterOptions::default()).expect("create");
        assert_eq!(w.finish().expect("finish").rows, 0);
        assert_eq!(read(&path, Table::Persons).batch.num_rows(), 0);
    }

    #[test]
    fn dropping_without_finish_leaves_nothing_and_keeps_the_old_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("results.parquet");
        let mut w = TableWriter::<FaceRow>::create(&path, &options()).expect("create");
        w.write_all((0..5).map(|i| fixtures::face(i, 1))).expect("write");
        assert_eq!(files_in(dir.path()).len(), 1, "the temporary file exists while writing");
        assert!(files_in(dir.path())[0].starts_with(".results.parquet.tmp-"));
        drop(w);
        assert!(files_in(dir.path()).is_empty(), "{:?}", files_in(dir.path()));

        // Same schema version: replaced atomically on finish, untouched by an aborted writer.
        let mut w = TableWriter::<FaceRow>::create(&path, &options()).expect("create");
        w.write(fixtures::face(0, 1)).expect("write");
        w.finish().expect("finish");
        let mut w = TableWriter::<FaceRow>::create(&path, &options()).expect("create again");
        w.write_all((0..4).map(|i| fixtures::face(i, 1))).expect("write");
        drop(w);
        assert_eq!(read(&path, Table::Faces).batch.num_rows(), 1);
        let mut w = TableWriter::<FaceRow>::create(&path, &options()).expect("create again");
        w.write_all((0..4).map(|i| fixtures::face(i, 1))).expect("write");
        w.finish().expect("finish");
        assert_eq!(read(&path, Table::Faces).batch.num_rows(), 4);
        assert_eq!(files_in(dir.path()), ["results.parquet"]);
    }

    #[test]
    fn other_schema_versions_tables_and_foreign_files_are_not_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("results.parquet");

        // A faces file from a hypothetical older layout.
        let props = WriterProperties::builder()
            .set_key_value_metadata(Some(vec![
                KeyValue::new(META_TABLE.to_owned(), "faces".to_owned()),
                KeyValue::new(META_SCHEMA_VERSION.to_owned(), "0".to_owned()),
            ]))
            .build();
        let batch = FaceRow::record_batch(&[fixtures::face(0, 1)]).expect("batch");
        let mut old = ArrowWriter::try_new(File::create(&path).expect("create"), batch.schema(), Some(props)).expect("writer");
        old.write(&batch).expect("write");
        old.close().expect("close");
        let before = fs::read(&path).expect("read");
        match TableWriter::<FaceRow>::create(&path, &options()) {
            Err(SinkError::SchemaMismatch { path: p, found, expected }) => {
                assert_eq!((p, found.as_str(), expected.as_str()), (path.clone(), "0", SCHEMA_VERSION));
            }
            other => panic!("expected SchemaMismatch, got {other:?}"),
        }
        assert!(matches!(check_outputs(&path, false), Err(SinkError::SchemaMismatch { .. })));
        assert_eq!(fs::read(&path).expect("read"), before, "the old file is untouched");
        assert_eq!(files_in(dir.path()), ["results.parquet"]);

        // --force replaces it.
        let forced = WriterOptions { force_replace: true, ..options() };
        TableWriter::<FaceRow>::create(&path, &forced).expect("create").finish().expect("finish");
        check_replaceable(&path, Table::Faces).expect("now a current faces table");

        // A current faces table is not a persons table.
        assert!(matches!(TableWriter::<PersonRow>::create(&path, &options()), Err(SinkError::TableMismatch { expected: "persons", .. })));

        // Not Parquet at all, or a directory.
        let notes = dir.path().join("notes.parquet");
        fs::write(&notes, "not parquet").expect("write");
        assert!(matches!(TableWriter::<CrowdRow>::create(&notes, &options()), Err(SinkError::ForeignFile { .. })));
        assert!(matches!(check_replaceable(dir.path(), Table::Faces), Err(SinkError::ForeignFile { .. })));
        assert_eq!(fs::read_to_string(&notes).expect("read"), "not parquet");
    }

    #[test]
    fn check_writable_probes_and_cleans_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        check_writable(dir.path()).expect("dir is writable");
        check_writable(&dir.path().join("results.parquet")).expect("file in dir is writable");
        assert!(files_in(dir.path()).is_empty(), "the probe is removed");

        // A parent that is a regular file fails even for root (unlike chmod).
        let file = dir.path().join("plain-file");
        fs::write(&file, b"x").expect("write");
        let under_file = file.join("results.parquet");
        match check_writable(&under_file) {
            Err(SinkError::NotWritable { path, .. }) => assert_eq!(path, file),
            other => panic!("expected NotWritable, got {other:?}"),
        }
        assert!(matches!(TableWriter::<FaceRow>::create(&under_file, &options()), Err(SinkError::Io { .. })));
        let missing = dir.path().join("no-such-dir").join("results.parquet");
        assert!(matches!(check_writable(&missing), Err(SinkError::NotWritable { .. })));
    }

    #[test]
    fn invalid_options_and_reserved_keys_fail_before_creating_anything() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("results.parquet");
        let reserved = WriterOptions { key_value_metadata: vec![("schema_version".into(), "9".into())], ..options() };
        assert!(matches!(
            TableWriter::<FaceRow>::create(&path, &reserved),
            Err(SinkError::ReservedMetadataKey { key }) if key == "schema_version"
        ));
        let zero = WriterOptions { row_group_rows: 0, ..options() };
        assert!(matches!(TableWriter::<FaceRow>::create(&path, &zero), Err(SinkError::InvalidOption { name: "row_group_rows", .. })));
        let level = WriterOptions { compression: Compression::Zstd { level: 99 }, ..options() };
        assert!(matches!(TableWriter::<FaceRow>::create(&path, &level), Err(SinkError::InvalidOption { name: "compression", .. })));
        assert!(files_in(dir.path()).is_empty());
    }
}
