//! `--shard-index I --shard-count N`: which of a run's videos one task of an array job
//! analyses, the same way on every engine (Slurm job arrays, Kubernetes Indexed Jobs, AWS
//! Batch array jobs, or by hand).
//!
//! In: the run's whole input list (each video's key and file size), the shard count and this
//! task's index. Out: the positions of the videos this shard owns.
//!
//! The rule ([`assign`]), a pure function of the list and the count:
//! 1. order the videos by size, largest first (ties: by key, i.e. path, camera and start);
//! 2. give each in turn to the shard holding the fewest bytes so far (ties: the fewest
//!    videos, then the lowest index).
//!
//! Every video lands in exactly one shard whatever the index, and every task computes the
//! same split from the same list, so tasks never coordinate. Sizes come from the file system
//! at the time of the run (a missing file counts 0 bytes and fails in its own shard). A rerun
//! of some indices only (`sbatch --array=3,7`) must pass the same count.
//!
//! The index comes from `--shard-index`, else from the first of [`INDEX_VARS`] that is set.
//! The count is never taken from the environment: Kubernetes does not tell a pod the
//! completion count, and Slurm's `SLURM_ARRAY_TASK_COUNT` shrinks on partial reruns.

/// Environment variables that carry a task's index, in the order they are looked at.
pub const INDEX_VARS: [&str; 3] = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"];

/// Errors in the shard flags or environment (usage errors: retrying cannot help).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardError {
    /// `--shard-count 0`.
    #[error("--shard-count must be at least 1")]
    ZeroCount,
    /// The index is not below the count.
    #[error("shard index {index} (from {from}) is not below --shard-count {count}")]
    OutOfRange {
        /// The index.
        index: u32,
        /// The count.
        count: u32,
        /// Where the index came from.
        from: String,
    },
    /// `--shard-count` without an index from the flag or the environment.
    #[error("--shard-count {count} needs the task's index: pass --shard-index or run where one of {} is set", INDEX_VARS.join(", "))]
    NoIndex {
        /// The count.
        count: u32,
    },
    /// An index variable is set but is not a number.
    #[error("{var}={value:?} is not a shard index (a non-negative integer)")]
    BadVar {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
}

/// This task's shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// 0-based index of this task.
    pub index: u32,
    /// Number of shards the inputs are split into.
    pub count: u32,
    /// Where the index came from: `--shard-index` or the variable's name.
    pub source: String,
}

/// The shard asked for by the flags and environment (`env` looks a variable up), or `None`
/// without `--shard-count`.
pub fn resolve(index: Option<u32>, count: Option<u32>, env: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>, ShardError> {
    let Some(count) = count else { return Ok(None) };
    if count == 0 {
        return Err(ShardError::ZeroCount);
    }
    let (index, source) = match index {
        Some(i) => (i, "--shard-index".to_owned()),
        None => index_from_env(&env)?.ok_or(ShardError::NoIndex { count })?,
    };
    if index >= count {
        return Err(ShardError::OutOfRange { index, count, from: source });
    }
    Ok(Some(Shard { index, count, source }))
}

/// The first index variable that is set, with its name.
fn index_from_env(env: &impl Fn(&str) -> Option<String>) -> Result<Option<(u32, String)>, ShardError> {
    for var in INDEX_VARS {
        if let Some(value) = env(var).filter(|v| !v.trim().is_empty()) {
            let index = value.trim().parse().map_err(|_| ShardError::BadVar { var, value: value.clone() })?;
            return Ok(Some((index, var.to_owned())));
        }
    }
    Ok(None)
}

/// The name of an index variable set in this process's environment, if any (to warn when a
/// run inside an array task has no `--shard-count`).
pub fn index_var_present() -> Option<&'static str> {
    INDEX_VARS.into_iter().find(|v| std::env::var_os(v).is_some())
}

/// One video as the split sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// What orders equal sizes: the path, camera and start as given.
    pub key: String,
    /// File size in bytes (0 when it cannot be read).
    pub size: u64,
}

/// The shard (0..count) of each item, by the rule in the module header.
pub fn assign(items: &[Item], count: u32) -> Vec<u32> {
    let count = count.max(1) as usize;
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| items[b].size.cmp(&items[a].size).then_with(|| items[a].key.cmp(&items[b].key)));
    let mut load = vec![(0u64, 0usize); count];
    let mut shard_of = vec![0u32; items.len()];
    for i in order {
        let (s, _) = load.iter().enumerate().min_by_key(|&(s, &(bytes, n))| (bytes, n, s)).unwrap_or((0, &(0, 0)));
        load[s].0 += items[i].size;
        load[s].1 += 1;
        shard_of[i] = s as u32;
    }
    shard_of
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(sizes: &[u64]) -> Vec<Item> {
        sizes.iter().enumerate().map(|(i, &size)| Item { key: format!("v{i:02}.mp4"), size }).collect()
    }

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn every_item_lands_in_exactly_one_shard() {
        let list = items(&[5, 900, 30, 30, 0, 77, 400, 401, 12, 12, 12]);
        for n in 1..=6 {
            let shards = assign(&list, n);
            assert_eq!(shards.len(), list.len());
            assert!(shards.iter().all(|&s| s < n));
            let mut seen = 0;
            for i in 0..n {
                seen += shards.iter().filter(|&&s| s == i).count();
            }
            assert_eq!(seen, list.len());
        }
    }

    #[test]
    fn the_split_does_not_depend_on_the_input_order() {
        let list = items(&[5, 900, 30, 30, 0, 77, 400, 401]);
        let mut reversed = list.clone();
        reversed.reverse();
        let a = assign(&list, 3);
        let b = assign(&reversed, 3);
        for (i, item) in list.iter().enumerate() {
            let j = reversed.iter().position(|x| x == item).unwrap();
            assert_eq!(a[i], b[j], "{}", item.key);
        }
    }

    #[test]
    fn sizes_are_balanced_largest_first() {
        // 8→0; 7→1; 6→1 (7 < 8); 5→0 (8 < 13); 4→0 (13 = 13 bytes, 2 = 2 videos: lower index).
        let list = items(&[8, 7, 6, 5, 4]);
        let s = assign(&list, 2);
        let bytes = |k: u32| list.iter().zip(&s).filter(|(_, x)| **x == k).map(|(i, _)| i.size).sum::<u64>();
        assert_eq!(s, vec![0, 1, 1, 0, 0]);
        assert_eq!((bytes(0), bytes(1)), (17, 13));
    }

    #[test]
    fn empty_files_spread_by_count() {
        let s = assign(&items(&[0, 0, 0, 0]), 2);
        assert_eq!(s.iter().filter(|&&x| x == 0).count(), 2);
    }

    #[test]
    fn the_index_comes_from_the_flag_then_the_environment() {
        assert_eq!(resolve(None, None, env(&[("SLURM_ARRAY_TASK_ID", "3")])), Ok(None));
        let s = resolve(Some(1), Some(4), env(&[("SLURM_ARRAY_TASK_ID", "3")])).unwrap().unwrap();
        assert_eq!((s.index, s.source.as_str()), (1, "--shard-index"));
        let s = resolve(None, Some(4), env(&[("JOB_COMPLETION_INDEX", "2"), ("AWS_BATCH_JOB_ARRAY_INDEX", "0")])).unwrap().unwrap();
        assert_eq!((s.index, s.source.as_str()), (2, "JOB_COMPLETION_INDEX"));
        let s = resolve(None, Some(4), env(&[("SLURM_ARRAY_TASK_ID", "0"), ("JOB_COMPLETION_INDEX", "2")])).unwrap().unwrap();
        assert_eq!((s.index, s.source.as_str()), (0, "SLURM_ARRAY_TASK_ID"));
    }

    #[test]
    fn bad_shard_settings_are_usage_errors() {
        assert_eq!(resolve(Some(0), Some(0), env(&[])), Err(ShardError::ZeroCount));
        assert_eq!(resolve(None, Some(2), env(&[])), Err(ShardError::NoIndex { count: 2 }));
        assert!(matches!(resolve(None, Some(2), env(&[("SLURM_ARRAY_TASK_ID", "2")])), Err(ShardError::OutOfRange { index: 2, count: 2, .. })));
        assert!(matches!(resolve(None, Some(2), env(&[("SLURM_ARRAY_TASK_ID", "x")])), Err(ShardError::BadVar { .. })));
    }
}
