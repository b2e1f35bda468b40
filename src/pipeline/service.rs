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
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("classify-{i}")).build().map_err(std::io::Error::other)?;
        let handle = std::thread::Builder::new().name("classify".into()).spawn(move || {
            let pool_cpu = || pool.broadcast(|_| super::thread_cpu_seconds()).iter().sum::<f64>();
            while let Ok(first) = rx.recv() {
                // Requests of several videos that are already waiting are classified together,
                // up to one batch, so a GPU gets full batches when many videos run at once.
                let mut reqs = vec![first];
                let mut queued = reqs[0].crops.len();
                while queued < batch_size {
                    match rx.try_recv() {
                        Ok(r) => {
                            queued += r.crops.len();
                            reqs.push(r);
                        }
                        Err(_) => break,
                    }
                }
                let refs: Vec<&[u8]> = reqs.iter().flat_map(|r| r.crops.iter().map(Vec::as_slice)).collect();
                let total = refs.len().max(1) as f64;
                let (me, all) = (super::thread_cpu_seconds(), pool_cpu());
                let result = pool.install(|| classifier.classify(&refs, batch_size));
                drop(refs);
                let cpu = (super::thread_cpu_seconds() - me) + (pool_cpu() - all);
                match result {
                    Ok(mut scores) => {
                        // Hand each request its own scores (in order) and its share of the time.
                        for r in reqs.into_iter().rev() {
                            let mine = scores.split_off(scores.len() - r.crops.len());
                            let share = cpu * r.crops.len() as f64 / total;
                            // A receiver that went away (its video failed) is not our error.
                            r.reply.send(Ok((mine, share))).ok();
                        }
                    }
                    Err(_) if reqs.len() > 1 => {
                        // Find out whose crops were bad: classify each request on its own.
                        for r in reqs {
                            let refs: Vec<&[u8]> = r.crops.iter().map(Vec::as_slice).collect();
                            let result = pool.install(|| classifier.classify(&refs, batch_size));
                            r.reply.send(result.map(|s| (s, 0.0))).ok();
                        }
                    }
                    Err(e) => {
                        reqs[0].reply.send(Err(e)).ok();
                    }
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::ComputeDevice;
    use crate::classify::model::SldcnnConfig;

    fn tiny() -> Classifier {
        let mut cfg = SldcnnConfig::compact(12);
        cfg.growth_rate = 4.into();
        cfg.stem_channels = 8;
        Classifier::untrained(cfg, 5, ComputeDevice::Cpu).unwrap()
    }

    fn crops(seed: usize, n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|k| (0..48 * 48).map(|i| ((i * (seed + 3) + k * 31) % 251) as u8).collect()).collect()
    }

    /// Requests queued together may be classified as one batch; each still gets exactly its
    /// own scores, and a request with a bad crop fails alone.
    #[test]
    fn queued_requests_get_their_own_scores_and_errors() {
        let reference = tiny();
        let (service, handle) = ClassifierService::spawn(tiny(), 64).unwrap();
        let requests: Vec<Vec<Vec<u8>>> = (0..4).map(|s| crops(s, 3 + s)).collect();
        let mut bad = crops(9, 2);
        bad[1].truncate(100);
        let pending: Vec<PendingScores> = requests.iter().map(|r| service.submit(r.clone()).unwrap()).collect();
        let failing = service.submit(bad).unwrap();
        for (req, p) in requests.iter().zip(pending) {
            let (got, cpu) = p.wait().unwrap();
            let refs: Vec<&[u8]> = req.iter().map(Vec::as_slice).collect();
            let want = reference.classify(&refs, 64).unwrap();
            assert_eq!(got.len(), want.len());
            for (a, b) in got.iter().zip(&want) {
                assert!(a.0.iter().zip(b.0.iter()).all(|(x, y)| (x - y).abs() < 1e-5), "{a:?} vs {b:?}");
            }
            assert!(cpu >= 0.0);
        }
        let err = failing.wait().unwrap_err().to_string();
        assert!(err.contains("face crop 1 has 100 bytes"), "{err}");
        drop(service);
        handle.join().unwrap();
    }
}
