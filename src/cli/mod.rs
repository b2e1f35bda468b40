//! The command-line edge: argument parsing (clap), progress display (indicatif), error
//! reporting and exit codes. The only place that uses `anyhow` and `indicatif`.
//!
//! Exit codes, the same for every command, so that schedulers can act on them:
//!
//! | code | meaning | retry? |
//! |---|---|---|
//! | 0 | everything done, or skipped as up to date | — |
//! | 1 | some inputs failed, the others were written | yes (only the failed ones are redone) |
//! | 2 | usage or configuration error (flags, config, model, unusable output); nothing was analysed | no |
//! | 128+N | stopped by signal N (143 SIGTERM, 130 Ctrl-C, 129 SIGHUP); completed videos were kept | yes |

mod annotate;
mod args;
mod classify;
#[cfg(feature = "train")]
mod crossval;
mod eval;
mod export;
mod progress;
mod report;
mod run;
mod signals;
#[cfg(feature = "train")]
mod train;

use std::process::ExitCode;

use clap::Parser as _;

pub use args::{Cli, Command};

/// Outcome of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything succeeded (exit 0).
    Success,
    /// Some inputs failed, the rest were processed (exit 1: a retry may help).
    Partial,
    /// Stopped by this signal; what had completed was kept (exit 128 + signal: 143 after
    /// SIGTERM, 130 after Ctrl-C).
    Interrupted(i32),
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose, cli.global.quiet);
    match run(cli) {
        Ok(Status::Success) => ExitCode::SUCCESS,
        Ok(Status::Partial) => ExitCode::from(1),
        Ok(Status::Interrupted(sig)) => ExitCode::from(u8::try_from(128 + sig).unwrap_or(1)),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("fer-batch: error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  cause: {cause}");
            }
            if is_temporary(&err) {
                eprintln!(
                    "fer-batch: the output store could not be reached, a failure that may pass: retry later (exit {EXIT_TEMPORARY}); a rerun skips what was already published"
                );
                return ExitCode::from(EXIT_TEMPORARY);
            }
            ExitCode::from(2)
        }
    }
}

/// Exit status of a run stopped by a failure that may pass by itself (sysexits' `EX_TEMPFAIL`):
/// the output store was unreachable, so the same command can be retried later. Exit 2 means
/// the opposite: the same command would fail again.
pub const EXIT_TEMPORARY: u8 = 75;

/// Whether `err` comes from an output store that could not be reached ([`StoreError::is_temporary`]).
///
/// [`StoreError::is_temporary`]: crate::pipeline::output::store::StoreError::is_temporary
fn is_temporary(err: &anyhow::Error) -> bool {
    err.chain().any(|c| c.downcast_ref::<crate::pipeline::output::store::StoreError>().is_some_and(|e| e.is_temporary()))
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}

fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("FER_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

fn run(cli: Cli) -> anyhow::Result<Status> {
    match cli.command {
        #[cfg(feature = "train")]
        Command::Train(a) => train::run(a, &cli.global),
        #[cfg(feature = "train")]
        Command::Crossval(a) => crossval::run(a, &cli.global),
        Command::Eval(a) => eval::run(a, &cli.global),
        Command::Export(a) => export::run(a, &cli.global),
        Command::Run(a) => annotate::run_then_annotate(a, &cli.global),
        Command::Classify(a) => classify::run(a, &cli.global),
        Command::Report(a) => report::run(a, &cli.global),
        Command::Annotate(a) => annotate::run(a, &cli.global),
    }
}
