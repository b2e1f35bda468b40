//! `fer-batch run`: videos in, Parquet tables out.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context as _, bail};

use super::Status;
use super::args::{GlobalArgs, RunArgs};
use super::progress::BarReporter;
use crate::classify::model::SldcnnConfig;
use crate::classify::{Classifier, ModelInfo};
use crate::config::{DEFAULT_PRESET, Options, Settings};
use crate::pipeline::output::{PartPaths, PartSink, RunMeta, append_part};
use crate::pipeline::{ClassifierService, Pipeline, VideoInput, VideoReport};
use crate::sink::{CrowdRow, FaceRow, PersonRow, SCHEMA_VERSION, TableWriter, WriterOptions, check_outputs};

/// File extensions treated as video when a directory is given.
pub const VIDEO_EXTENSIONS: &[&str] = &["mp4", "m4v", "mov", "mkv", "avi", "webm", "mpg", "mpeg", "ts", "mts", "m2ts", "flv", "wmv", "3gp", "ogv"];

/// Resolves `--pipeline`, `--set` and the dedicated flags into settings.
pub(super) fn resolve_settings(a: &RunArgs) -> anyhow::Result<Settings> {
    let name = a.pipeline.as_deref().unwrap_or(DEFAULT_PRESET);
    let (options, origin) = Options::load(name)?;
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

/// Expands files and directories (recursively) into the list of videos, in a stable order.
pub(super) fn collect_inputs(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found);
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().and_then(|x| x.to_str()).is_some_and(|x| VIDEO_EXTENSIONS.contains(&x.to_ascii_lowercase().as_str())) {
            out.push(p);
        }
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

fn file_hash(path: &Path) -> std::io::Result<(u64, String)> {
    let mut h = blake3::Hasher::new();
    let f = std::fs::File::open(path)?;
    let size = f.metadata()?.len();
    h.update_reader(f)?;
    Ok((size, h.finalize().to_hex().to_string()))
}

struct Outcome {
    input: VideoInput,
    parts: PartPaths,
    result: Result<VideoReport, String>,
}

pub(super) fn run(a: RunArgs, g: &GlobalArgs) -> anyhow::Result<Status> {
    let t0 = Instant::now();
    let started_utc = humantime_now();
    let settings = resolve_settings(&a)?;
    let videos = collect_inputs(&a.inputs);
    if videos.is_empty() {
        bail!("no video files found in {}", a.inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    // Fail on an unusable output before decoding anything.
    let out = a.out.clone();
    let paths = check_outputs(&out, a.force).with_context(|| format!("output {} cannot be written", out.display()))?;
    let classifier = load_classifier(a.model.as_deref(), a.untrained, a.device, settings.flip_tta)?;
    let info: ModelInfo = classifier.info().clone();
    if !info.trained {
        tracing::warn!("using an UNTRAINED model (random weights): scores are meaningless");
        if !g.quiet {
            eprintln!("fer-batch: warning: --untrained: expression scores come from random weights");
        }
    }
    let (service, service_thread) = ClassifierService::spawn(classifier, settings.batch_size).context("cannot start the classifier thread")?;
    crate::decode::init();
    let cancel = Arc::new(AtomicBool::new(false));
    super::signals::install(cancel.clone());
    let pipeline = Pipeline::new(settings.clone(), service.clone(), cancel.clone())?;

    let out_dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    let staging = out_dir.join(format!(".fer-batch-staging-{}-{}", std::process::id(), t0.elapsed().as_nanos() % 1_000_000));
    std::fs::create_dir_all(&staging).with_context(|| format!("cannot create staging directory in {}", out_dir.display()))?;
    let _cleanup = RemoveDirOnDrop(staging.clone());

    let settings_json = serde_json::to_string(&settings)?;
    let pipeline_name: Arc<str> = format!("{}@fer-batch-{}", settings.name, env!("CARGO_PKG_VERSION")).into();
    let mut metadata = vec![
        ("tool".to_string(), format!("fer-batch {}", env!("CARGO_PKG_VERSION"))),
        ("model_id".into(), info.id.clone()),
        ("model_hash".into(), info.hash.clone()),
        ("model_trained".into(), info.trained.to_string()),
        ("pipeline".into(), pipeline_name.to_string()),
        ("pipeline_settings".into(), settings_json),
        ("run_started_utc".into(), started_utc.clone()),
    ];
    let meta = RunMeta { model_id: info.id.clone().into(), pipeline: pipeline_name.clone(), metadata: metadata.clone() };

    let interactive = !g.quiet && !g.no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let reporter = BarReporter::new(interactive, videos.len());
    let jobs = a.jobs.max(1).min(videos.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let outcomes = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= videos.len() || cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    let input = VideoInput { path: videos[i].clone(), camera: a.camera.clone(), start_utc: None };
                    let parts = PartPaths::new(&staging, i);
                    let sink = Box::new(PartSink::new(&input, meta.clone(), parts.clone()));
                    let result = pipeline.run_video(&input, sink, &reporter).map_err(|e| e.to_string());
                    reporter.video_done(&input, &result);
                    if let Ok(mut o) = outcomes.lock() {
                        o.push((i, Outcome { input, parts, result }));
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
    outcomes.sort_by_key(|(i, _)| *i);
    let outcomes: Vec<Outcome> = outcomes.into_iter().map(|(_, o)| o).collect();
    let interrupted = cancel.load(Ordering::Relaxed);

    // Merge the parts of the videos that completed, in input order.
    let ok: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_ok()).collect();
    let failed = outcomes.len() - ok.len() + (videos.len() - outcomes.len());
    let mut sources = Vec::new();
    for o in &ok {
        let (size, hash) = file_hash(&o.input.path).unwrap_or((0, String::new()));
        sources.push(serde_json::json!({"path": o.input.path.display().to_string(), "size": size, "blake3": hash}));
    }
    let (mut faces_n, mut persons_n, mut windows_n) = (0u64, 0u64, 0u64);
    if !ok.is_empty() {
        metadata.push(("sources".into(), serde_json::to_string(&sources)?));
        metadata.push(("run_finished_utc".into(), humantime_now()));
        let opts = WriterOptions { key_value_metadata: metadata, force_replace: a.force, ..WriterOptions::default() };
        let mut fw: TableWriter<FaceRow> = TableWriter::create(&paths.faces, &opts)?;
        let mut pw: TableWriter<PersonRow> = TableWriter::create(&paths.persons, &opts)?;
        let mut cw: TableWriter<CrowdRow> = TableWriter::create(&paths.crowd, &opts)?;
        for o in &ok {
            faces_n += append_part(&mut fw, &o.parts.faces)?;
            persons_n += append_part(&mut pw, &o.parts.persons)?;
            windows_n += append_part(&mut cw, &o.parts.crowd)?;
        }
        // Three renames; each file is complete on its own.
        fw.finish()?;
        pw.finish()?;
        cw.finish()?;
    }

    let wall = t0.elapsed().as_secs_f64();
    let frames: u64 = ok.iter().filter_map(|o| o.result.as_ref().ok()).map(|r| r.frames_processed).sum();
    if !g.quiet {
        for o in &outcomes {
            if let Err(e) = &o.result {
                eprintln!("fer-batch: {}: {e}", o.input.path.display());
            }
        }
        if ok.is_empty() {
            eprintln!("fer-batch: no video completed; nothing was written");
        } else {
            eprintln!(
                "fer-batch: {} of {} videos done in {:.1}s: {frames} frames analysed ({:.1} frames/s), {faces_n} faces, {persons_n} people, {windows_n} crowd windows; model {}{}.\n  faces:   {}\n  persons: {}\n  crowd:   {}",
                ok.len(),
                videos.len(),
                wall,
                frames as f64 / wall.max(1e-9),
                info.id,
                if info.trained { "" } else { " (UNTRAINED)" },
                paths.faces.display(),
                paths.persons.display(),
                paths.crowd.display(),
            );
        }
    }
    if let Some(path) = &a.report {
        let items: Vec<serde_json::Value> = outcomes
            .iter()
            .map(|o| match &o.result {
                Ok(r) => serde_json::json!({"path": o.input.path.display().to_string(), "status": "ok", "report": r}),
                Err(e) => serde_json::json!({"path": o.input.path.display().to_string(), "status": "failed", "error": e}),
            })
            .collect();
        let report = serde_json::json!({
            "tool": format!("fer-batch {}", env!("CARGO_PKG_VERSION")),
            "schema_version": SCHEMA_VERSION,
            "model": info.id, "started_utc": started_utc, "wall_s": wall, "interrupted": interrupted,
            "outputs": {"faces": paths.faces, "persons": paths.persons, "crowd": paths.crowd},
            "inputs": items,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&report)?).with_context(|| format!("writing run report {}", path.display()))?;
    }
    if interrupted {
        eprintln!("fer-batch: interrupted; {} video(s) had completed and were written", ok.len());
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
