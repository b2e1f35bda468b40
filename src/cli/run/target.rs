//! Where a run's tables go, checked before anything is decoded, and the private folder its
//! files are staged in.
//!
//! In: `--out` and `--force`. Out: a [`Target`] (three single files, or a dataset on a local
//! file system or S3) and a [`Staging`] folder that is removed when the run ends.
//!
//! Staging never happens inside a `table=…` folder, so readers scanning the dataset while a
//! run is going never meet a partial file: dataset parts are staged under `ROOT/_staging/`
//! (S3: the system temporary folder) and renamed or uploaded into place when complete; the
//! single-file form stages per-video parts in a hidden folder beside the output and merges them.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::pipeline::output::dataset::is_dataset_out;
use crate::pipeline::output::store::{self, DatasetRoot};
use crate::sink::{OutputPaths, SCHEMA_VERSION, check_outputs, check_writable};

/// File at the root of a dataset recording which schema version its parts use.
pub(super) const DATASET_MARKER: &str = "_fer_batch_dataset.json";

/// Where the tables go.
pub(super) enum Target {
    /// Three files, merged from per-video staging parts.
    Files(OutputPaths),
    /// A Hive-partitioned dataset; per-video parts are published into their partitions.
    Dataset(DatasetRoot),
}

impl Target {
    /// Checks `out` and prepares it (creates a local dataset folder and its marker), failing
    /// on an unusable output before any video is decoded.
    pub(super) fn open(out: &Path, force: bool) -> anyhow::Result<Self> {
        if store::is_remote(out) {
            let root = DatasetRoot::open(out)?;
            check_dataset_marker(&root)?;
            return Ok(Target::Dataset(root));
        }
        if is_dataset_out(out) {
            std::fs::create_dir_all(out).with_context(|| format!("cannot create the output directory {}", out.display()))?;
            check_writable(out).with_context(|| format!("output {} cannot be written", out.display()))?;
            let root = DatasetRoot::Local(out.to_path_buf());
            check_dataset_marker(&root)?;
            return Ok(Target::Dataset(root));
        }
        Ok(Target::Files(check_outputs(out, force).with_context(|| format!("output {} cannot be written", out.display()))?))
    }

    /// The dataset root, in dataset form.
    pub(super) fn dataset(&self) -> Option<&DatasetRoot> {
        match self {
            Target::Dataset(root) => Some(root),
            Target::Files(_) => None,
        }
    }

    /// The outputs as JSON, for the run report.
    pub(super) fn json(&self) -> serde_json::Value {
        match self {
            Target::Files(p) => serde_json::json!({"faces": p.faces, "persons": p.persons, "crowd": p.crowd}),
            Target::Dataset(root) => serde_json::json!({"dataset": root.display()}),
        }
    }

    /// The outputs as lines for the terminal summary.
    pub(super) fn describe(&self) -> String {
        match self {
            Target::Files(p) => format!("\n  faces:   {}\n  persons: {}\n  crowd:   {}", p.faces.display(), p.persons.display(), p.crowd.display()),
            Target::Dataset(root) => format!("\n  dataset: {} (table=faces|persons|crowd/date=…/camera=…/part-ID.parquet)", root.display()),
        }
    }
}

/// Refuses a dataset written with another schema version (mixing versions would break
/// readers silently); marks a new one, atomically even when several tasks start at once.
fn check_dataset_marker(root: &DatasetRoot) -> anyhow::Result<()> {
    let marker = root.address(DATASET_MARKER);
    let bytes = match root.read(DATASET_MARKER)? {
        Some(bytes) => bytes,
        None => {
            if root.has_tables()? {
                bail!("{} holds table=… partitions but no {DATASET_MARKER}: not a fer-batch dataset of this version; write to a new directory", root.display());
            }
            let json = serde_json::json!({"schema_version": SCHEMA_VERSION, "tool": format!("fer-batch {}", env!("CARGO_PKG_VERSION")), "layout": "table=NAME/date=YYYY-MM-DD/camera=NAME/part-ID.parquet"});
            if root.create_new(DATASET_MARKER, serde_json::to_vec_pretty(&json)?)? {
                return Ok(());
            }
            // Another task created it first: check theirs.
            root.read(DATASET_MARKER)?.with_context(|| format!("{marker} vanished while being checked"))?
        }
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes).with_context(|| format!("{marker} is not valid JSON"))?;
    let found = v.get("schema_version").and_then(|x| x.as_str()).unwrap_or("unknown");
    if found != SCHEMA_VERSION {
        bail!("dataset {} holds tables of schema version {found}, this fer-batch writes version {SCHEMA_VERSION}; write to a new directory", root.display());
    }
    Ok(())
}

/// This run's private staging folder, removed (with anything left in it) on drop.
pub(super) struct Staging(PathBuf);

impl Staging {
    /// Creates the folder: `.fer-batch-staging-PID-N` beside single-file outputs, or
    /// `HOST.PID.N` under the dataset's staging parent, after removing the leftovers of this
    /// host's runs that were killed outright (SIGKILL, power loss). Returns it and how many
    /// leftovers were removed.
    pub(super) fn create(target: &Target) -> anyhow::Result<(Self, usize)> {
        let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let pid = std::process::id();
        let (dir, swept) = match target {
            Target::Files(paths) => {
                let out_dir = paths.faces.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                let swept = crate::sink::remove_stale_temporaries(out_dir).len();
                (out_dir.join(format!(".fer-batch-staging-{pid}-{nonce}")), swept)
            }
            Target::Dataset(root) => {
                let parent = root.staging_parent();
                let host = hostname();
                let swept = remove_dead_stagings(&parent, &host);
                (parent.join(format!("{host}.{pid}.{nonce}")), swept)
            }
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create the staging folder {}", dir.display()))?;
        Ok((Staging(dir), swept))
    }

    /// The folder.
    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
        // The dataset's `_staging` itself, when this was the last run using it.
        if let Some(parent) = self.0.parent().filter(|p| p.file_name().is_some_and(|n| n == "_staging")) {
            std::fs::remove_dir(parent).ok();
        }
    }
}

/// This machine's name, for staging folders on a file system shared by many nodes.
fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok().or_else(|| std::env::var("HOSTNAME").ok()).unwrap_or_default();
    let name: String = name.trim().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    if name.is_empty() { "localhost".into() } else { name }
}

/// Removes `HOST.PID.N` folders under `parent` whose process no longer runs on this host.
/// Folders of other hosts are left alone: their processes cannot be checked from here.
fn remove_dead_stagings(parent: &Path, host: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else { return 0 };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(host).and_then(|r| r.strip_prefix('.')).and_then(|r| r.split('.').next()).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() && std::fs::remove_dir_all(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dead_stagings_of_this_host_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mine = format!("h1.{}.5", std::process::id());
        for name in ["h1.999999999.1", "h2.999999999.1", mine.as_str(), "h1.notapid.3"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        assert_eq!(remove_dead_stagings(dir.path(), "h1"), 1);
        let mut left: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        let mut expected = vec!["h1.notapid.3".to_string(), mine, "h2.999999999.1".into()];
        left.sort();
        expected.sort();
        assert_eq!(left, expected);
    }
}
