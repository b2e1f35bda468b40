//! Integration tests: the real binary on real footage from ../shared/data (tests that need it
//! print a note and pass vacuously when the folder is absent, e.g. outside this workplace).

mod annotate;
mod dataset;
mod detect;
mod errors;
mod eval;
mod inputs;
mod interrupt;
mod model;
mod report;
mod run;
mod shard;
mod sql;
mod truncated;
mod util;
