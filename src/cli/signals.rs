//! Ctrl-C / SIGTERM: the first asks the pipeline to stop after the current chunk (completed
//! videos are still written, unfinished ones are discarded); the second exits at once (no
//! output is ever left half-written: results are renamed into place only when complete).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Installs the handler (once per process; later calls are ignored).
pub(super) fn install(cancel: Arc<AtomicBool>) {
    let result = ctrlc::set_handler(move || {
        if cancel.swap(true, Ordering::SeqCst) {
            eprintln!("\nfer-batch: interrupted again, exiting now");
            std::process::exit(130);
        }
        eprintln!("\nfer-batch: stopping after the current frames (Ctrl-C again to quit at once)…");
    });
    if let Err(e) = result {
        tracing::debug!("signal handler not installed: {e:?}");
    }
}
