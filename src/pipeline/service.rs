//! The classifier thread. A burn module is `Send` but not `Sync`, so one thread owns the
//! [`Classifier`] and every video's pipeline sends it batches of crops over a bounded channel.
//!
//! In: `Vec` of `input_size²`-byte crops per request. Out: one [`ExpressionScores`] per crop,
//! and the CPU seconds the inference took.
//!
//! Inference runs on a rayon pool of its own, so it is scheduled beside the detection workers
//! (on the global pool) instead of queueing behind their long per-frame tasks. Its time is
//! measured as CPU time of that pool's threads, which stays meaningful when the two compete.

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

type Reply = Result<(Vec<ExpressionScores>, f64), ClassifyError>;

struct Request {
    crops: Vec<Vec<u8>>,
    reply: Sender<Reply>,
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
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("classify-{i}"))
            .build()
            .map_err(std::io::Error::other)?;
        let handle = std::thread::Builder::new().name("classify".into()).spawn(move || {
            let pool_cpu = || pool.broadcast(|_| super::thread_cpu_seconds()).iter().sum::<f64>();
            for req in rx {
                let refs: Vec<&[u8]> = req.crops.iter().map(Vec::as_slice).collect();
                let (me, all) = (super::thread_cpu_seconds(), pool_cpu());
                let result = pool.install(|| classifier.classify(&refs, batch_size));
                let cpu = (super::thread_cpu_seconds() - me) + (pool_cpu() - all);
                let result = result.map(|s| (s, cpu));
                // A receiver that went away (its video failed) is not our error.
                req.reply.send(result).ok();
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
        self.submit(crops)?.wait().map(|(scores, _)| scores)
    }

    /// Queues crops for classification and returns at once, so the caller can detect the next
    /// frames while the classifier works; [`PendingScores::wait`] collects the answer. Blocks
    /// only while the request queue is full (back-pressure).
    pub fn submit(&self, crops: Vec<Vec<u8>>) -> Result<PendingScores, ServiceError> {
        let (reply, rx) = bounded(1);
        if crops.is_empty() {
            // Nothing to do: answer locally instead of a round trip through the thread.
            reply.send(Ok((Vec::new(), 0.0))).ok();
        } else {
            self.tx.send(Request { crops, reply }).map_err(|_| ServiceError::Stopped)?;
        }
        Ok(PendingScores(rx))
    }
}

/// Scores being computed by the classifier thread (see [`ClassifierService::submit`]).
#[must_use = "the scores are only collected by `wait`"]
pub struct PendingScores(Receiver<Reply>);

impl PendingScores {
    /// Blocks until the classifier thread answers: the scores, one per crop in order, and the
    /// CPU seconds the classifier spent on them (summed over its threads).
    pub fn wait(self) -> Result<(Vec<ExpressionScores>, f64), ServiceError> {
        self.0.recv().map_err(|_| ServiceError::Stopped)?.map_err(ServiceError::from)
    }
}
