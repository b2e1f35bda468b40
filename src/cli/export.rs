//! `fer-batch export`: copies a model to a directory, optionally with half-precision weights.

use super::Status;
use super::args::{ExportArgs, GlobalArgs};
use crate::classify::weights::ModelArtifact;
use crate::classify::{Classifier, ComputeDevice, Precision, weights_in_precision};

pub(super) fn run(a: ExportArgs, _g: &GlobalArgs) -> anyhow::Result<Status> {
    let artifact = ModelArtifact::one_network(&a.model)?;
    let weights = weights_in_precision(&artifact, if a.half { Precision::Half } else { Precision::Full })?;
    ModelArtifact::write_dir(&artifact.config, &weights, &a.out)?;
    // Read it back the way `--model` will, so a bad export fails here and not in a nightly run.
    let written = ModelArtifact::from_dir(&a.out)?;
    let parameters = Classifier::new(&written, ComputeDevice::Cpu)?.info().parameters;
    println!(
        "{} → {} ({}, {} parameters): weights {} → {} bytes",
        artifact.id(),
        a.out.display(),
        written.id(),
        parameters,
        artifact.weights.len(),
        written.weights.len()
    );
    Ok(Status::Success)
}
