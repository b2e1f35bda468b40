//! `fer-batch run`: videos in, Parquet tables out.
//!
//! Inputs are files, directories (filtered by `--glob` or the video extensions) and manifest
//! lines (`--manifest`, with camera and start time). Two output forms:
//!
//! - **Single files** (`--out results.parquet`): each video is analysed into private staging
//!   parts; those that complete are merged into three files. When the three files already
//!   exist and their `sources`, `pipeline_settings` and model metadata are exactly what this
//!   run would write, nothing is decoded.
//! - **Dataset** (`--out dir/`): each video's parts are written straight to their Hive
//!   partition (see [`crate::pipeline::output::dataset`]) under an id derived from its content,
//!   the settings and the model; a video whose three parts exist is skipped.
//!
//! `--force` reprocesses in both forms. Each input file is hashed (blake3, streamed) at most
//! once per run.

mod glob;
mod manifest;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use anyhow::{Context as _, bail};

use self::glob::Glob;
use self::manifest::read_manifest;
use super::Status;
use super::args::{GlobalArgs, RunArgs};
use super::progress::BarReporter;
use crate::classify::model::SldcnnConfig;
use crate::classify::{Classifier, ModelInfo};
use crate::config::{DEFAULT_PRESET, Options, Settings};
use crate::decode::{DecodeOptions, Decoder};
use crate::pipeline::output::dataset::{PartKey, Partition, is_dataset_out};
use crate::pipeline::output::{PartPaths, PartSink, RunMeta, append_part, parse_utc_micros};
use crate::pipeline::{ClassifierService, Pipeline, VideoInput, VideoReport};
use crate::sink::{CrowdRow, FaceRow, OutputPaths, PersonRow, SCHEMA_VERSION, Table, TableWriter, WriterOptions, check_outputs, check_writable, read_key_value_metadata};

/// File extensions treated as video when a directory is given.
pub const VIDEO_EXTENSIONS: &[&str] = &["mp4", "m4v", "mov", "mkv", "avi", "webm", "mpg", "mpeg", "ts", "mts", "m2ts", "flv", "wmv", "3gp", "ogv"];

/// Resolves `--pipeline`, `--set` and the dedicated flags into settings.
pub(super) fn resolve_settings(a: &RunArgs) -> anyhow::Result<Settings> {
    let name = a.pipeline.as_deref().unwrap_or(DEFAULT_PRESET);
    let (mut options, origin) = Options::load(name)?;
    if let Some(kind) = a.detector {
        options = options.with_detector(kind);
    }
    let mut sets = a.set.clone();
    if let Some(f) = a.sample_fps {
        sets.push(format!("decode.sample-fps={f:?}"));
    }
    if let Some(m) = a.min_face {
        sets.push(format!("detect.min-face-px={m:?}"));
    }
    if let Some(k) = a.detect_every {
        sets.push(format!("detect.every-n-frames={k}"));
    }
    if let Some(w) = a.window {
        sets.push(format!("aggregate.window-secs={w:?}"));
    }
    if let Some(s) = &a.smooth {
        sets.push(format!("smooth.method=\"{s}\""));
    }
    if let Some(b) = a.batch_size {
        sets.push(format!("classify.batch-size={b}"));
    }
    let options = options.with_overrides(&sets, &origin)?;
    Ok(options.into_settings(&origin)?)
}

/// What the positional inputs expand to.
pub(super) struct Collected {
    /// Files given directly, then the matching files of each directory (sorted), in argument
    /// order.
    pub(super) videos: Vec<PathBuf>,
    /// Directory inputs without a single matching file, each with a one-line explanation.
    pub(super) empty_dirs: Vec<(PathBuf, String)>,
}

/// Expands files and directories (recursively) into the list of videos, in a stable order.
/// Files under a directory are kept when they match `glob` (a path relative to the directory),
/// or by default when they have one of the [`VIDEO_EXTENSIONS`].
pub(super) fn collect_inputs(paths: &[PathBuf], glob: Option<(&Glob, &str)>) -> Collected {
    let mut videos = Vec::new();
    let mut empty_dirs = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, p, glob.map(|(g, _)| g), &mut found);
            if found.is_empty() {
                let why = match glob {
                    Some((_, pattern)) => format!("no file under this directory matches --glob {pattern:?}"),
                    None => format!("no video file under this directory (looked for .{} files; --glob selects others)", VIDEO_EXTENSIONS[..4].join(", .")),
                };
                empty_dirs.push((p.clone(), why));
            }
            found.sort();
            videos.extend(found);
        } else {
            videos.push(p.clone());
        }
    }
    Collected { videos, empty_dirs }
}

fn walk(root: &Path, dir: &Path, glob: Option<&Glob>, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, glob, out);
        } else if is_selected(root, &p, glob) {
            out.push(p);
        }
    }
}

fn is_selected(root: &Path, file: &Path, glob: Option<&Glob>) -> bool {
    match glob {
        Some(g) => file.strip_prefix(root).is_ok_and(|rel| {
            let rel: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            g.matches(&rel.join("/"))
        }),
        None => file.extension().and_then(|x| x.to_str()).is_some_and(|x| VIDEO_EXTENSIONS.contains(&x.to_ascii_lowercase().as_str())),
    }
}

/// Loads the classifier named by the flags.
pub(super) fn load_classifier(model: Option<&Path>, untrained: bool, a_device: crate::classify::ComputeDevice, tta: bool) -> anyhow::Result<Classifier> {
    let c = if untrained {
        Classifier::untrained(SldcnnConfig::compact(20), 0, a_device)?
    } else {
        let artifact = super::eval::load_artifact(model)?;
        Classifier::new(&artifact, a_device)?
    };
    Ok(c.with_flip_tta(tta))
}

/// Size and blake3 of one input file.
#[derive(Debug, Clone)]
struct SourceHash {
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
struct Hashes(Vec<OnceLock<Result<SourceHash, String>>>);

impl Hashes {
    fn new(n: usize) -> Self {
        Self((0..n).map(|_| OnceLock::new()).collect())
    }

    fn get(&self, i: usize, path: &Path) -> Result<&SourceHash, &str> {
        self.0[i].get_or_init(|| file_hash(path).map_err(|e| format!("cannot read the file: {e}"))).as_ref().map_err(String::as_str)
    }
}

/// The `sources` entry of one input: what decides its rows besides settings and model.
fn source_json(input: &VideoInput, hash: Option<&SourceHash>) -> serde_json::Value {
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

/// File at the root of a dataset recording which schema version its parts use.
pub(super) const DATASET_MARKER: &str = "_fer_batch_dataset.json";

/// Refuses a dataset written with another schema version (mixing versions would break
/// readers silently); marks a new one. Runs before any video is decoded.
fn check_dataset_marker(root: &Path) -> anyhow::Result<()> {
    let marker = root.join(DATASET_MARKER);
    match std::fs::read(&marker) {
        Ok(bytes) => {
            let v: serde_json::Value = serde_json::from_slice(&bytes).with_context(|| format!("{} is not valid JSON", marker.display()))?;
            let found = v.get("schema_version").and_then(|x| x.as_str()).unwrap_or("unknown");
            if found != SCHEMA_VERSION {
                bail!(
                    "dataset {} holds tables of schema version {found}, this fer-batch writes version {SCHEMA_VERSION}; write to a new directory",
                    root.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let has_tables = std::fs::read_dir(root)?.flatten().any(|e| e.file_name().to_string_lossy().starts_with("table="));
            if has_tables {
                bail!("{} holds table=… partitions but no {DATASET_MARKER}: not a fer-batch dataset of this version; write to a new directory", root.display());
            }
            let json = serde_json::json!({"schema_version": SCHEMA_VERSION, "tool": format!("fer-batch {}", env!("CARGO_PKG_VERSION")), "layout": "table=NAME/date=YYYY-MM-DD/camera=NAME/part-ID.parquet"});
            let tmp = root.join(format!(".{DATASET_MARKER}.tmp-{}", std::process::id()));
            std::fs::write(&tmp, serde_json::to_vec_pretty(&json)?).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, &marker).with_context(|| format!("writing {}", marker.display()))?;
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", marker.display())),
    }
}

/// Where the tables go.
enum Target {
    /// Three files, merged from per-video staging parts.
    Files(OutputPaths),
    /// A Hive-partitioned dataset rooted here; per-video parts go straight to their partition.
    Dataset(PathBuf),
}

/// What became of one input.
enum VideoStatus {
    Done(VideoReport),
    /// Dataset form: all three part files of this content + settings + model exist.
    Skipped,
    Failed(String),
}

struct Outcome {
    index: usize,
    input: VideoInput,
    /// The video's part files (staging or dataset); `None` when it failed before they were known.
    parts: Option<PartPaths>,
    status: VideoStatus,
}

/// Whether the three existing single-file outputs hold exactly what this run would write:
/// the same settings, model and `sources` (path, size, blake3, camera, start of every input).
/// The inputs are hashed only when everything else already matches.
fn outputs_up_to_date(paths: &OutputPaths, inputs: &[VideoInput], hashes: &Hashes, settings_json: &str, info: &ModelInfo) -> bool {
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

/// Writes the JSON run report.
fn write_report(path: &Path, model: Option<&str>, started_utc: &str, wall: f64, interrupted: bool, outputs: serde_json::Value, items: Vec<serde_json::Value>) -> anyhow::Result<()> {
    let report = serde_json::json!({
        "tool": format!("fer-batch {}", env!("CARGO_PKG_VERSION")),
        "schema_version": SCHEMA_VERSION,
        "model": model, "started_utc": started_utc, "wall_s": wall, "interrupted": interrupted,
        "outputs": outputs,
        "inputs": items,
    });
    std::fs::write(path, serde_json::to_vec_pretty(&report)?).with_context(|| format!("writing run report {}", path.display()))
}

fn parts_json(parts: &PartPaths) -> serde_json::Value {
    serde_json::json!({"faces": parts.faces, "persons": parts.persons, "crowd": parts.crowd})
}

pub(super) fn run(a: RunArgs, g: &GlobalArgs) -> anyhow::Result<Status> {
    let t0 = Instant::now();
    let started_utc = humantime_now();
    let settings = resolve_settings(&a)?;
    let glob = a.glob.as_deref().map(Glob::new).transpose()?;
    let collected = collect_inputs(&a.inputs, glob.as_ref().zip(a.glob.as_deref()));
    let mut inputs: Vec<VideoInput> = collected.videos.into_iter().map(|path| VideoInput { path, camera: a.camera.clone(), start_utc: None }).collect();
    if let Some(manifest) = &a.manifest {
        inputs.extend(read_manifest(manifest)?.into_iter().map(|mut input| {
            if input.camera.is_none() {
                input.camera = a.camera.clone();
            }
            input
        }));
    }
    let dir_errors = collected.empty_dirs;
    // Errors are printed even with --quiet.
    for (dir, why) in &dir_errors {
        eprintln!("fer-batch: {}: {why}", dir.display());
    }
    let dir_items = || dir_errors.iter().map(|(d, why)| serde_json::json!({"path": d.display().to_string(), "status": "failed", "error": why}));
    if inputs.is_empty() {
        // Only empty directories: each was reported above; nothing to write.
        eprintln!("fer-batch: no video to analyse; nothing was written");
        if let Some(report) = &a.report {
            write_report(report, None, &started_utc, t0.elapsed().as_secs_f64(), false, serde_json::Value::Null, dir_items().collect())?;
        }
        return Ok(Status::Partial);
    }

    // Fail on an unusable output before decoding anything.
    let target = if is_dataset_out(&a.out) {
        std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create the output directory {}", a.out.display()))?;
        check_writable(&a.out).with_context(|| format!("output {} cannot be written", a.out.display()))?;
        check_dataset_marker(&a.out)?;
        Target::Dataset(a.out.clone())
    } else {
        Target::Files(check_outputs(&a.out, a.force).with_context(|| format!("output {} cannot be written", a.out.display()))?)
    };
    let classifier = load_classifier(a.model.as_deref(), a.untrained, a.device, settings.flip_tta)?;
    let info: ModelInfo = classifier.info().clone();
    if !info.trained {
        tracing::warn!("using an UNTRAINED model (random weights): scores are meaningless");
        if !g.quiet {
            eprintln!("fer-batch: warning: --untrained: expression scores come from random weights");
        }
    }
    let settings_json = serde_json::to_string(&settings)?;
    let hashes = Hashes::new(inputs.len());

    // Single-file form: nothing to do when the three files already hold exactly this run.
    if let Target::Files(paths) = &target
        && dir_errors.is_empty()
        && !a.force
        && Table::ALL.iter().all(|&t| paths.get(t).is_file())
        && outputs_up_to_date(paths, &inputs, &hashes, &settings_json, &info)
    {
        if !g.quiet {
            eprintln!(
                "fer-batch: outputs are up to date (same {} input(s), settings and model); nothing to do (--force reprocesses).\n  faces:   {}\n  persons: {}\n  crowd:   {}",
                inputs.len(),
                paths.faces.display(),
                paths.persons.display(),
                paths.crowd.display(),
            );
        }
        if let Some(report) = &a.report {
            let items = inputs.iter().map(|i| serde_json::json!({"path": i.path.display().to_string(), "status": "skipped", "reason": "up to date"})).collect();
            let outputs = serde_json::json!({"faces": paths.faces, "persons": paths.persons, "crowd": paths.crowd});
            write_report(report, Some(&info.id), &started_utc, t0.elapsed().as_secs_f64(), false, outputs, items)?;
        }
        return Ok(Status::Success);
    }

    let (service, service_thread) = ClassifierService::spawn(classifier, settings.batch_size).context("cannot start the classifier thread")?;
    crate::decode::init();
    let cancel = Arc::new(AtomicBool::new(false));
    super::signals::install(cancel.clone());
    let pipeline = Pipeline::new(settings.clone(), service.clone(), cancel.clone())?;

    // Leftovers of runs that were killed outright (SIGKILL, power loss) are hidden files no
    // reader mistakes for results; remove them now so they do not accumulate.
    let swept = match &target {
        Target::Files(paths) => crate::sink::remove_stale_temporaries(paths.faces.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))),
        Target::Dataset(root) => remove_stale_in_tree(root, 4),
    };
    if !swept.is_empty() && !g.quiet {
        eprintln!("fer-batch: removed {} temporary file(s) left by an interrupted run", swept.len());
    }

    // Single-file form: per-video parts go to a private staging directory beside the output.
    let staging = match &target {
        Target::Files(paths) => {
            let out_dir = paths.faces.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
            let staging = out_dir.join(format!(".fer-batch-staging-{}-{}", std::process::id(), t0.elapsed().as_nanos() % 1_000_000));
            std::fs::create_dir_all(&staging).with_context(|| format!("cannot create staging directory in {}", out_dir.display()))?;
            Some(RemoveDirOnDrop(staging))
        }
        Target::Dataset(_) => None,
    };

    let pipeline_name: Arc<str> = format!("{}@fer-batch-{}", settings.name, env!("CARGO_PKG_VERSION")).into();
    let mut metadata = vec![
        ("tool".to_string(), format!("fer-batch {}", env!("CARGO_PKG_VERSION"))),
        ("model_id".into(), info.id.clone()),
        ("model_hash".into(), info.hash.clone()),
        ("model_trained".into(), info.trained.to_string()),
        ("pipeline".into(), pipeline_name.to_string()),
        ("pipeline_settings".into(), settings_json.clone()),
        ("run_started_utc".into(), started_utc.clone()),
    ];
    let meta = RunMeta { model_id: info.id.clone().into(), pipeline: pipeline_name.clone(), metadata: metadata.clone() };

    // Where one video's parts go, or why it is skipped or failed before decoding.
    let prepare = |i: usize, input: &VideoInput| -> Result<(PartPaths, RunMeta), VideoStatus> {
        let root = match (&target, &staging) {
            (Target::Dataset(root), _) => root,
            (Target::Files(_), Some(staging)) => return Ok((PartPaths::new(&staging.0, i), meta.clone())),
            (Target::Files(_), None) => return Err(VideoStatus::Failed("no staging directory".into())),
        };
        let hash = hashes.get(i, &input.path).map_err(|e| VideoStatus::Failed(e.to_owned()))?;
        let start_us = input.start_utc.as_deref().and_then(parse_utc_micros).or_else(|| container_start_utc(&input.path));
        let partition = Partition::new(start_us, input.camera.as_deref());
        let key = PartKey { source_blake3: &hash.blake3, settings_json: &settings_json, model_id: &info.id, camera: input.camera.as_deref(), start_utc: input.start_utc.as_deref() };
        let id = key.id();
        let parts = PartPaths::in_dataset(root, &partition, &id);
        let mut video_meta = meta.clone();
        video_meta.metadata.extend([
            ("source_path".to_string(), input.path.display().to_string()),
            ("source_size".into(), hash.size.to_string()),
            ("source_blake3".into(), hash.blake3.clone()),
            ("sources".into(), serde_json::Value::Array(vec![source_json(input, Some(hash))]).to_string()),
            ("part_id".into(), id),
        ]);
        Ok((parts, video_meta))
    };

    let interactive = !g.quiet && !g.no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let reporter = BarReporter::new(interactive, inputs.len());
    let jobs = a.jobs.max(1).min(inputs.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let outcomes = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= inputs.len() || cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    let input = inputs[i].clone();
                    let (parts, status) = match prepare(i, &input) {
                        Err(status) => (None, status),
                        Ok((parts, _)) if matches!(target, Target::Dataset(_)) && !a.force && parts.all_exist() => {
                            tracing::info!("{}: skipped (up to date)", input.path.display());
                            (Some(parts), VideoStatus::Skipped)
                        }
                        Ok((parts, video_meta)) => {
                            let status = match parts.create_dirs() {
                                Err(e) => VideoStatus::Failed(format!("cannot create the partition directory: {e}")),
                                Ok(()) => {
                                    let sink = Box::new(PartSink::new(&input, video_meta, parts.clone()).with_force_replace(matches!(target, Target::Files(_)) || a.force));
                                    let result = pipeline.run_video(&input, sink, &reporter).map_err(|e| e.to_string());
                                    reporter.video_done(&input, &result);
                                    match result {
                                        Ok(r) => {
                                            // Single-file form: the hash for `sources`, while other workers decode.
                                            if matches!(target, Target::Files(_)) {
                                                hashes.get(i, &input.path).ok();
                                            }
                                            VideoStatus::Done(r)
                                        }
                                        Err(e) => VideoStatus::Failed(e),
                                    }
                                }
                            };
                            (Some(parts), status)
                        }
                    };
                    if let Ok(mut o) = outcomes.lock() {
                        o.push(Outcome { index: i, input, parts, status });
                    }
                }
            });
        }
    });
    drop(pipeline);
    drop(service);
    service_thread.join().ok();
    reporter.finish();
    let mut outcomes = outcomes.into_inner().unwrap_or_default();
    outcomes.sort_by_key(|o| o.index);
    let interrupted = cancel.load(Ordering::Relaxed);

    let done: Vec<(&Outcome, &VideoReport)> = outcomes
        .iter()
        .filter_map(|o| match &o.status {
            VideoStatus::Done(r) => Some((o, r)),
            _ => None,
        })
        .collect();
    let skipped: Vec<&Outcome> = outcomes.iter().filter(|o| matches!(o.status, VideoStatus::Skipped)).collect();
    let failed = outcomes.iter().filter(|o| matches!(o.status, VideoStatus::Failed(_))).count() + (inputs.len() - outcomes.len()) + dir_errors.len();

    // Single-file form: merge the parts of the videos that completed, in input order.
    let (mut faces_n, mut persons_n, mut windows_n) = (0u64, 0u64, 0u64);
    match &target {
        Target::Files(paths) if !done.is_empty() => {
            let sources: Vec<serde_json::Value> = done.iter().map(|(o, _)| source_json(&o.input, hashes.get(o.index, &o.input.path).ok())).collect();
            metadata.push(("sources".into(), serde_json::Value::Array(sources).to_string()));
            metadata.push(("run_finished_utc".into(), humantime_now()));
            let opts = WriterOptions { key_value_metadata: metadata, force_replace: a.force, ..WriterOptions::default() };
            let mut fw: TableWriter<FaceRow> = TableWriter::create(&paths.faces, &opts)?;
            let mut pw: TableWriter<PersonRow> = TableWriter::create(&paths.persons, &opts)?;
            let mut cw: TableWriter<CrowdRow> = TableWriter::create(&paths.crowd, &opts)?;
            for (o, _) in &done {
                let Some(parts) = &o.parts else { continue };
                faces_n += append_part(&mut fw, &parts.faces)?;
                persons_n += append_part(&mut pw, &parts.persons)?;
                windows_n += append_part(&mut cw, &parts.crowd)?;
            }
            // Three renames; each file is complete on its own.
            fw.finish()?;
            pw.finish()?;
            cw.finish()?;
        }
        _ => {
            for (_, r) in &done {
                faces_n += r.faces;
                persons_n += r.persons;
                windows_n += r.windows;
            }
        }
    }
    drop(staging);

    let wall = t0.elapsed().as_secs_f64();
    let frames: u64 = done.iter().map(|(_, r)| r.frames_processed).sum();
    // Errors are printed even with --quiet.
    for o in &outcomes {
        if let VideoStatus::Failed(e) = &o.status {
            // Most errors already start with the path; don't print it twice.
            let path = o.input.path.display().to_string();
            if e.starts_with(&path) {
                eprintln!("fer-batch: {e}");
            } else {
                eprintln!("fer-batch: {path}: {e}");
            }
        }
    }
    if !g.quiet {
        for o in &skipped {
            eprintln!("fer-batch: {}: skipped (up to date)", o.input.path.display());
        }
        let outputs = match &target {
            Target::Files(paths) => format!("\n  faces:   {}\n  persons: {}\n  crowd:   {}", paths.faces.display(), paths.persons.display(), paths.crowd.display()),
            Target::Dataset(root) => format!("\n  dataset: {} (table=faces|persons|crowd/date=…/camera=…/part-ID.parquet)", root.display()),
        };
        let skipped_note = if skipped.is_empty() { String::new() } else { format!("; {} skipped (up to date)", skipped.len()) };
        if done.is_empty() && !skipped.is_empty() && failed == 0 {
            eprintln!("fer-batch: all {} video(s) are up to date; nothing to do (--force reprocesses).{outputs}", skipped.len());
        } else if done.is_empty() {
            eprintln!("fer-batch: no video completed; nothing was written{skipped_note}");
        } else {
            eprintln!(
                "fer-batch: {} of {} videos done in {:.1}s: {frames} frames analysed ({:.1} frames/s), {faces_n} faces, {persons_n} people, {windows_n} crowd windows{skipped_note}; model {}{}.{outputs}",
                done.len(),
                inputs.len() + dir_errors.len(),
                wall,
                frames as f64 / wall.max(1e-9),
                info.id,
                if info.trained { "" } else { " (UNTRAINED)" },
            );
            let mut st = crate::pipeline::StageTimes::default();
            for (_, r) in &done {
                st.decode_s += r.stages.decode_s;
                st.decode_wait_s += r.stages.decode_wait_s;
                st.detect_s += r.stages.detect_s;
                st.align_s += r.stages.align_s;
                st.classify_s += r.stages.classify_s;
                st.track_s += r.stages.track_s;
                st.write_s += r.stages.write_s;
            }
            eprintln!(
                "  stages (CPU s): decode {:.1}, detect {:.1}, align {:.1}, classify {:.1}, track+aggregate {:.2}, write {:.2}; waited {:.1}s for frames",
                st.decode_s, st.detect_s, st.align_s, st.classify_s, st.track_s, st.write_s, st.decode_wait_s
            );
        }
    }
    if let Some(path) = &a.report {
        let dataset = matches!(target, Target::Dataset(_));
        let mut items: Vec<serde_json::Value> = outcomes
            .iter()
            .map(|o| {
                let p = o.input.path.display().to_string();
                let mut item = match &o.status {
                    VideoStatus::Done(r) => serde_json::json!({"path": p, "status": "ok", "report": r}),
                    VideoStatus::Skipped => serde_json::json!({"path": p, "status": "skipped", "reason": "up to date"}),
                    VideoStatus::Failed(e) => serde_json::json!({"path": p, "status": "failed", "error": e}),
                };
                if dataset && let Some(parts) = &o.parts {
                    item["outputs"] = parts_json(parts);
                }
                item
            })
            .collect();
        items.extend(dir_items());
        let outputs = match &target {
            Target::Files(paths) => serde_json::json!({"faces": paths.faces, "persons": paths.persons, "crowd": paths.crowd}),
            Target::Dataset(root) => serde_json::json!({"dataset": root}),
        };
        write_report(path, Some(&info.id), &started_utc, wall, interrupted, outputs, items)?;
    }
    if interrupted {
        eprintln!("fer-batch: interrupted; {} video(s) had completed and were written", done.len());
        return Ok(Status::Partial);
    }
    Ok(if failed == 0 { Status::Success } else { Status::Partial })
}

struct RemoveDirOnDrop(PathBuf);
impl Drop for RemoveDirOnDrop {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// Current UTC time as RFC 3339 (seconds).
pub(super) fn humantime_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// [`crate::sink::remove_stale_temporaries`] in `dir` and its subdirectories down to `depth`
/// levels (the dataset's `table=/date=/camera=` partitions).
fn remove_stale_in_tree(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let mut removed = crate::sink::remove_stale_temporaries(dir);
    if depth > 0
        && let Ok(entries) = std::fs::read_dir(dir)
    {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) && !e.file_name().to_string_lossy().starts_with('.') {
                removed.extend(remove_stale_in_tree(&e.path(), depth - 1));
            }
        }
    }
    removed
}
