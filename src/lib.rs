//! fer-batch: recorded footage in, facial-expression tables out.
//!
//! ```text
//! decode ─► detect ─► align ─► classify (SLDCNN) ─► track + smooth ─► aggregate ─► sink (Parquet)
//!  Frame    Detection  AlignedFace  ExpressionScores   TrackedFace       CrowdWindow
//! ```
//!
//! Each stage is one module with typed inputs and outputs; `pipeline` wires them together and
//! `cli` is the binary's edge. Training and evaluation of the model live in `classify::train`,
//! `dataset` and `evaluate`. `annotate` draws a run's results back onto the footage (boxes,
//! labels, probability bars via `render`) and re-encodes it with `decode::VideoEncoder`.

#![warn(missing_docs)]

pub mod aggregate;
pub mod align;
pub mod annotate;
pub mod classify;
pub mod cli;
pub mod config;
pub mod dataset;
pub mod decode;
pub mod detect;
pub mod evaluate;
pub mod imageops;
pub mod pipeline;
pub mod render;
pub mod report;
pub mod sink;
pub mod track;
