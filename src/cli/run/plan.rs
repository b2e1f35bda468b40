//! Each video's place in the outputs, decided before it is decoded.
//!
//! In: a [`VideoInput`], the [`Target`], the run's settings and model. Out: a [`Placement`]:
//! the private files its tables are staged in, and in dataset form its part id, its three
//! keys under the dataset root and the file metadata that records its source. Also the
//! up-to-date checks of both forms: a dataset video is done when its three keys exist; the
//! three single files are up to date when their metadata records exactly this run.

use std::path::Path;
use std::sync::OnceLock;

use super::target::Target;
use crate::classify::ModelInfo;
use crate::decode::{DecodeOptions, Decoder};
use crate::pipeline::VideoInput;
use crate::pipeline::output::dataset::{PartKey, Partition};
use crate::pipeline::output::{PartPaths, RunMeta, parse_utc_micros};
use crate::sink::{OutputPaths, Table, read_key_value_metadata};

/// Size and blake3 of one input file.
#[derive(Debug, Clone)]
pub(super) struct SourceHash {
    size: u64,
    blake3: String,
}

/// Streams `path` through blake3 (constant memory, whatever the size of the file).
fn file_hash(path: &Path) -> std::io::Result<SourceHash> {
    let mut h = blake3::Hasher::new();
    let f = std::fs::File::open(path)?;
    let size = f.metadata()?.len();
    h.update_reader(f)?;
    Ok(SourceHash { size, blake3: h.finalize().to_hex().to_string() })
}

/// The hash of each input, computed at most once per run and only when needed.
pub(super) struct Hashes(Vec<OnceLock<Result<SourceHash, String>>>);

impl Hashes {
    pub(super) fn new(n: usize) -> Self {
        Self((0..n).map(|_| OnceLock::new()).collect())
    }

    pub(super) fn get(&self, i: usize, path: &Path) -> Result<&SourceHash, &str> {
        self.0[i].get_or_init(|| file_hash(path).map_err(|e| format!("cannot read the file: {e}"))).as_ref().map_err(String::as_str)
    }
}

/// The `sources` entry of one input: what decides its rows besides settings and model.
pub(super) fn source_json(input: &VideoInput, hash: Option<&SourceHash>) -> serde_json::Value {
    let mut v = serde_json::json!({
        "path": input.path.display().to_string(),
        "size": hash.map_or(0, |h| h.size),
        "blake3": hash.map_or("", |h| h.blake3.as_str()),
    });
    if let Some(c) = &input.camera {
        v["camera"] = c.as_str().into();
    }
    if let Some(s) = &input.start_utc {
        v["start_utc"] = s.as_str().into();
    }
    v
}

/// The recording start of `path` from its container's `creation_time` (header only; no frame
/// is decoded).
fn container_start_utc(path: &Path) -> Option<i64> {
    let opts = DecodeOptions { threads: 1, ..DecodeOptions::default() };
    let decoder = Decoder::open(path, &opts).ok()?;
    decoder.info().creation_time_utc.as_deref().and_then(parse_utc_micros)
}

/// One video's destination.
#[derive(Debug, Clone)]
pub(super) struct Placement {
    /// Its three part files in the run's staging folder, complete only when it finished.
    pub(super) staged: PartPaths,
    /// Dataset form: its three keys under the root, `table=T/date=…/camera=…/part-ID.parquet`
    /// (faces, persons, crowd).
    pub(super) keys: Option<[String; 3]>,
    /// Key-value metadata of its part files.
    pub(super) meta: RunMeta,
}

/// Decides placements for one run.
pub(super) struct Planner<'a> {
    pub(super) target: &'a Target,
    pub(super) staging: &'a Path,
    pub(super) meta: &'a RunMeta,
    pub(super) settings_json: &'a str,
    pub(super) info: &'a ModelInfo,
    pub(super) hashes: &'a Hashes,
}

impl Planner<'_> {
    /// Where video `i` goes, or why it cannot be placed (an unreadable file).
    pub(super) fn place(&self, i: usize, input: &VideoInput) -> Result<Placement, String> {
        let staged = PartPaths::new(self.staging, i);
        if matches!(self.target, Target::Files(_)) {
            return Ok(Placement { staged, keys: None, meta: self.meta.clone() });
        }
        let hash = self.hashes.get(i, &input.path).map_err(str::to_owned)?;
        let start_us = input.start_utc.as_deref().and_then(parse_utc_micros).or_else(|| container_start_utc(&input.path));
        let partition = Partition::new(start_us, input.camera.as_deref());
        let key = PartKey {
            source_blake3: &hash.blake3,
            settings_json: self.settings_json,
            model_id: &self.info.id,
            camera: input.camera.as_deref(),
            start_utc: input.start_utc.as_deref(),
        };
        let id = key.id();
        let rel = PartPaths::in_dataset(Path::new(""), &partition, &id);
        let keys = rel.all().map(|p| p.to_string_lossy().into_owned());
        let mut meta = self.meta.clone();
        meta.metadata.extend([
            ("source_path".to_string(), input.path.display().to_string()),
            ("source_size".into(), hash.size.to_string()),
            ("source_blake3".into(), hash.blake3.clone()),
            ("sources".into(), serde_json::Value::Array(vec![source_json(input, Some(hash))]).to_string()),
            ("part_id".into(), id),
        ]);
        Ok(Placement { staged, keys: Some(keys), meta })
    }

    /// Dataset form: whether all three of the placement's keys exist (an earlier run of the
    /// same content, settings and model completed it).
    pub(super) fn is_done(&self, p: &Placement) -> Result<bool, String> {
        let (Target::Dataset(root), Some(keys)) = (self.target, &p.keys) else { return Ok(false) };
        for key in keys {
            if !root.exists(key).map_err(|e| e.to_string())? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Whether the three existing single-file outputs hold exactly what this run would write:
/// the same settings, model and `sources` (path, size, blake3, camera, start of every input).
/// The inputs are hashed only when everything else already matches.
pub(super) fn outputs_up_to_date(paths: &OutputPaths, inputs: &[VideoInput], hashes: &Hashes, settings_json: &str, info: &ModelInfo) -> bool {
    if !Table::ALL.iter().all(|&t| paths.get(t).is_file()) {
        return false;
    }
    let Some(kvs) = Table::ALL.iter().map(|&t| read_key_value_metadata(paths.get(t)).ok()).collect::<Option<Vec<_>>>() else { return false };
    let mut recorded = Vec::new();
    for kv in &kvs {
        let get = |k: &str| kv.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        if get("pipeline_settings") != Some(settings_json) || get("model_hash") != Some(info.hash.as_str()) || get("model_id") != Some(info.id.as_str()) {
            return false;
        }
        match get("sources").and_then(|s| serde_json::from_str::<Vec<serde_json::Value>>(s).ok()) {
            Some(sources) => recorded.push(sources),
            None => return false,
        }
    }
    let Some(sources) = recorded.first() else { return false };
    if recorded.iter().any(|r| r != sources) || sources.len() != inputs.len() {
        return false;
    }
    // Paths and sizes before content: a changed file usually changes size.
    let cheap_match = inputs.iter().zip(sources).all(|(input, s)| {
        s["path"].as_str() == Some(&input.path.display().to_string()) && std::fs::metadata(&input.path).is_ok_and(|m| s["size"].as_u64() == Some(m.len()))
    });
    cheap_match && inputs.iter().enumerate().zip(sources).all(|((i, input), s)| hashes.get(i, &input.path).is_ok_and(|h| source_json(input, Some(h)) == *s))
}
