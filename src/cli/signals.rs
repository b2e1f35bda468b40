//! SIGINT / SIGTERM / SIGHUP: the first asks the pipeline to stop after the current chunk
//! (completed videos are still written, unfinished ones are discarded) and is remembered, so
//! that the run can end with the conventional status 128 + signal (130 for Ctrl-C, 143 for a
//! scheduler's SIGTERM); a second signal exits at once with that status. No output is ever
//! left half-written: results are renamed into place only when complete.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The first signal received, 0 while none.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Installs the handler (a thread that waits for the signals). Call once per process.
pub(super) fn install(cancel: Arc<AtomicBool>) {
    let mut signals = match Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("signal handler not installed: {e:?}");
            return;
        }
    };
    let spawned = std::thread::Builder::new().name("signals".into()).spawn(move || {
        for sig in signals.forever() {
            // Recorded before the pipeline sees `cancel`, so that the run's status names it.
            RECEIVED.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst).ok();
            if cancel.swap(true, Ordering::SeqCst) {
                eprintln!("\nfer-batch: {} again, exiting now", name(sig));
                std::process::exit(128 + sig);
            }
            eprintln!("\nfer-batch: {}: stopping after the current frames (send it again to quit at once)…", name(sig));
        }
    });
    if let Err(e) = spawned {
        tracing::debug!("signal thread not started: {e:?}");
    }
}

/// The signal that stopped the run, if one did.
pub(super) fn received() -> Option<i32> {
    Some(RECEIVED.load(Ordering::SeqCst)).filter(|&s| s != 0)
}

fn name(sig: i32) -> &'static str {
    if sig == SIGINT {
        "interrupted (SIGINT)"
    } else if sig == SIGTERM {
        "terminated (SIGTERM)"
    } else if sig == SIGHUP {
        "hung up (SIGHUP)"
    } else {
        "signal"
    }
}
