//! The videos of a run: positional files and directories (filtered by `--glob` or the video
//! extensions), then manifest lines, then this task's shard of them.
//!
//! In: [`RunArgs`]'s inputs, `--glob`, `--manifest`, `--camera` and the resolved [`Shard`].
//! Out: [`Inputs`], the videos in a stable order plus the directories that matched nothing.

use std::path::{Path, PathBuf};

use super::glob::Glob;
use super::manifest::read_manifest;
use super::shard::{self, Shard};
use crate::cli::args::RunArgs;
use crate::pipeline::VideoInput;

/// File extensions treated as video when a directory is given.
pub const VIDEO_EXTENSIONS: &[&str] = &["mp4", "m4v", "mov", "mkv", "avi", "webm", "mpg", "mpeg", "ts", "mts", "m2ts", "flv", "wmv", "3gp", "ogv"];

/// What the inputs expand to.
pub(super) struct Inputs {
    /// Files given directly, then the matching files of each directory (sorted), in argument
    /// order, then the manifest's lines; only this task's shard of them when sharded.
    pub(super) videos: Vec<VideoInput>,
    /// Directory inputs without a single matching file, each with a one-line explanation.
    pub(super) empty_dirs: Vec<(PathBuf, String)>,
    /// Videos before sharding.
    pub(super) total: usize,
}

/// Expands the positional inputs and the manifest, then keeps `shard`'s videos.
pub(super) fn gather(a: &RunArgs, shard: Option<&Shard>) -> anyhow::Result<Inputs> {
    let glob = a.glob.as_deref().map(Glob::new).transpose()?;
    let (files, empty_dirs) = collect_inputs(&a.inputs, glob.as_ref().zip(a.glob.as_deref()));
    let mut videos: Vec<VideoInput> = files.into_iter().map(|path| VideoInput { path, camera: a.camera.clone(), start_utc: None }).collect();
    if let Some(manifest) = &a.manifest {
        videos.extend(read_manifest(manifest)?.into_iter().map(|mut input| {
            if input.camera.is_none() {
                input.camera = a.camera.clone();
            }
            input
        }));
    }
    let total = videos.len();
    if let Some(shard) = shard {
        videos = select_shard(videos, shard);
    }
    Ok(Inputs { videos, empty_dirs, total })
}

/// `shard`'s part of `videos` (in their original order), by [`shard::assign`] over each
/// video's path, camera, start and file size.
fn select_shard(videos: Vec<VideoInput>, shard: &Shard) -> Vec<VideoInput> {
    let items: Vec<shard::Item> = videos
        .iter()
        .map(|v| shard::Item {
            key: format!("{}\n{}\n{}", v.path.display(), v.camera.as_deref().unwrap_or(""), v.start_utc.as_deref().unwrap_or("")),
            size: std::fs::metadata(&v.path).map_or(0, |m| m.len()),
        })
        .collect();
    let owner = shard::assign(&items, shard.count);
    videos.into_iter().zip(owner).filter(|&(_, s)| s == shard.index).map(|(v, _)| v).collect()
}

/// Expands files and directories (recursively) into the list of files, in a stable order,
/// and the directories that held none. Files under a directory are kept when they match
/// `glob` (a path relative to the directory), or by default when they have one of the
/// [`VIDEO_EXTENSIONS`].
pub(super) fn collect_inputs(paths: &[PathBuf], glob: Option<(&Glob, &str)>) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let mut videos = Vec::new();
    let mut empty_dirs = Vec::new();
    for p in paths {
        if !p.is_dir() {
            videos.push(p.clone());
            continue;
        }
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
    }
    (videos, empty_dirs)
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
