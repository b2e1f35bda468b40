//! The classifier thread. A burn module is `Send` but not `Sync`, so one thread owns the
//! [`Classifier`] and every video's pipeline sends it batches of crops over a bounded channel.
//!
//! In: `Vec` of `input_size²`-byte crops per request. Out: one [`ExpressionScores`] per crop.

use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::classify::{Classifier, ClassifyError, ExpressionScores, ModelInfo};

/// Errors talking to the classifier thread.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Classification failed.
    #[error(transparent)]
    Classify(#[from] ClassifyError),
    /// The classifier thread is gone (it panicked or was shut down).
    #[error("the classifier thread stopped")]
    Stopped,
}

struct Request {
    crops: Vec<Vec<u8>>,
    reply: Sender<Result<Vec<ExpressionScores>, ClassifyError>>,
}

/// Handle to the classifier thread; cheap to clone and share between videos.
#[derive(Clone)]
pub struct ClassifierService {
    tx: Sender<Request>,
    info: ModelInfo,
    batch_size: usize,
}

impl ClassifierService {
    /// Moves `classifier` onto its own thread.
    pub fn spawn(classifier: Classifier, batch_size: usize) -> std::io::Result<(Self, JoinHandle<()>)> {
        let info = classifier.info().clone();
        let (tx, rx): (Sender<Request>, Receiver<Request>) = bounded(4);
        let handle = std::thread::Builder::new().name("classify".into()).spawn(move || {
            for req in rx {
                let refs: Vec<&[u8]> = req.crops.iter().map(Vec::as_slice).collect();
                // A receiver that went away (its video failed) is not our error.
                req.reply.send(classifier.classify(&refs, batch_size)).ok();
            }
        })?;
        Ok((Self { tx, info, batch_size }, handle))
    }

    /// Model metadata.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Inference batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Classifies crops (blocking until the thread answers).
    pub fn classify(&self, crops: Vec<Vec<u8>>) -> Result<Vec<ExpressionScores>, ServiceError> {
        let (reply, rx) = bounded(1);
        self.tx.send(Request { crops, reply }).map_err(|_| ServiceError::Stopped)?;
        rx.recv().map_err(|_| ServiceError::Stopped)?.map_err(ServiceError::from)
    }
}
