//! The `fer-batch` binary: parse arguments, set up logging, run, map the outcome to an exit
//! code (0 all good, 1 some inputs failed, 2 fatal error).

use std::process::ExitCode;

fn main() -> ExitCode {
    fer_batch::cli::main()
}
