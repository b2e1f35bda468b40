//! Progress display for `run`: one indicatif bar per video on a terminal (frames, faces,
//! frames/s, ETA); one log line per finished video otherwise.

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::decode::VideoInfo;
use crate::pipeline::{Reporter, VideoInput, VideoReport};

/// Draws bars (interactive) or prints a line per video.
pub(super) struct BarReporter {
    interactive: bool,
    multi: MultiProgress,
    bars: Mutex<HashMap<std::path::PathBuf, ProgressBar>>,
    total: usize,
    done: Mutex<usize>,
}

impl BarReporter {
    pub(super) fn new(interactive: bool, total: usize) -> Self {
        let multi = MultiProgress::with_draw_target(if interactive { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
        Self { interactive, multi, bars: Mutex::new(HashMap::new()), total, done: Mutex::new(0) }
    }

    pub(super) fn video_done(&self, input: &VideoInput, result: &Result<VideoReport, String>) {
        let n = {
            let mut d = self.done.lock().unwrap_or_else(|e| e.into_inner());
            *d += 1;
            *d
        };
        if let Some(bar) = self.bars.lock().unwrap_or_else(|e| e.into_inner()).remove(&input.path) {
            bar.finish_and_clear();
        }
        let name = input.path.display();
        let line = match result {
            Ok(r) => format!(
                "[{n}/{}] {name}: {} frames, {} faces, {} people in {:.1}s ({:.1} frames/s)",
                self.total,
                r.frames_processed,
                r.faces,
                r.persons,
                r.seconds,
                r.frames_processed as f64 / r.seconds.max(1e-9)
            ),
            Err(e) => format!("[{n}/{}] FAILED {e}", self.total),
        };
        if self.interactive {
            self.multi.println(line).ok();
        } else {
            tracing::info!("{line}");
        }
    }

    pub(super) fn finish(&self) {
        self.multi.clear().ok();
    }
}

impl Reporter for BarReporter {
    fn on_video_start(&self, input: &VideoInput, _info: &VideoInfo, expected_frames: Option<u64>) {
        if !self.interactive {
            return;
        }
        let bar = self.multi.add(ProgressBar::new(expected_frames.unwrap_or(0)));
        bar.set_style(
            ProgressStyle::with_template("{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} frames {msg} {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(input.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        self.bars.lock().unwrap_or_else(|e| e.into_inner()).insert(input.path.clone(), bar);
    }

    fn on_frames(&self, input: &VideoInput, frames: u64, faces: u64) {
        if let Some(bar) = self.bars.lock().unwrap_or_else(|e| e.into_inner()).get(&input.path) {
            bar.set_position(frames);
            bar.set_message(format!("{faces} faces"));
        }
    }
}
