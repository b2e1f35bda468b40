//! Ensemble distillation (issue 16): the teachers' soft targets, computed once per training
//! image and stored in the run directory, and the distillation term of the loss.
//!
//! In: teacher [`Classifier`]s, the training [`Dataset`] and [`DistillOptions`]. Out:
//! [`SoftTargets`], one distribution over the 7 classes per training image: the mean, over the
//! teachers and over the image and its mirror image, of `softmax(z / T)` (a teacher's logits
//! `z` at temperature `T`). They are written to `RUN/soft-targets.f32` (little-endian `f32`,
//! 7 per image, in dataset order) with `RUN/soft-targets.json` (teachers, temperature, image
//! count), so a resumed run uses exactly the targets it started with. The loss term is
//! [`distillation_loss`]: `T² · KL(q ‖ softmax(s / T))` for student logits `s`, averaged over
//! the batch (Hinton et al. 2015; `T²` keeps its gradient on the scale of the cross-entropy's).
//!
//! The targets belong to the un-augmented image; the student sees it augmented (shifted,
//! rotated, scaled, mirrored), as in offline distillation with stored targets.

use std::path::{Path, PathBuf};

use burn::tensor::Tensor;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

use super::TrainError;
use crate::classify::labels::Expression;
use crate::classify::{Classifier, ClassifyError, Tta};
use crate::dataset::Dataset;

/// Classes per target.
pub const CLASSES: usize = Expression::COUNT;
/// The targets' file in the run directory.
pub const TARGETS_FILE: &str = "soft-targets.f32";
/// Their description beside it.
pub const META_FILE: &str = "soft-targets.json";

/// Distillation settings; part of a run's options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DistillOptions {
    /// The teachers' model ids (`name@hash`), in the order their targets were averaged.
    pub teachers: Vec<String>,
    /// Temperature `T` of the teachers' and the student's softmax in the distillation term.
    pub temperature: f32,
    /// Weight α of the distillation term; the cross-entropy with the labels gets `1 − α`.
    pub weight: f32,
}

impl DistillOptions {
    /// Checks the ranges: at least one teacher, `T` ≥ 1, α in [0, 1].
    pub fn validate(&self) -> Result<(), String> {
        if self.teachers.is_empty() {
            return Err("distillation needs at least one teacher".into());
        }
        if !(self.temperature >= 1.0 && self.temperature.is_finite()) {
            return Err(format!("distillation temperature must be ≥ 1, got {}", self.temperature));
        }
        if !(0.0..=1.0).contains(&self.weight) {
            return Err(format!("distillation weight must be in [0, 1], got {}", self.weight));
        }
        Ok(())
    }
}

/// Description of stored targets (`soft-targets.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct TargetsMeta {
    teachers: Vec<String>,
    temperature: f32,
    images: usize,
    views: Vec<String>,
}

/// One soft target per training image.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftTargets {
    meta: TargetsMeta,
    /// `images × 7` probabilities.
    probs: Vec<f32>,
}

impl SoftTargets {
    /// The teachers' mean `softmax(z / T)` over each image of `set` and its mirror image.
    /// Each teacher classifies with its own test-time augmentation switched off (the mirror
    /// image is one of the two views here).
    pub fn compute(teachers: Vec<Classifier>, set: &Dataset, temperature: f32) -> Result<Self, ClassifyError> {
        let side = set.side;
        let originals: Vec<&[u8]> = (0..set.len()).map(|i| set.image(i)).collect();
        let mirrored: Vec<Vec<u8>> = originals.iter().map(|img| mirror(img, side)).collect();
        let mirrored: Vec<&[u8]> = mirrored.iter().map(Vec::as_slice).collect();
        let mut probs = vec![0f32; set.len() * CLASSES];
        let views = teachers.len() * 2;
        let mut ids = Vec::with_capacity(teachers.len());
        for teacher in teachers {
            ids.push(teacher.info().id.clone());
            let plain = teacher.with_tta(Tta::None);
            for view in [&originals, &mirrored] {
                for (acc, scores) in probs.chunks_exact_mut(CLASSES).zip(plain.classify(view, 256)?) {
                    for (a, q) in acc.iter_mut().zip(at_temperature(&scores.0, temperature)) {
                        *a += q / views as f32;
                    }
                }
            }
        }
        let meta = TargetsMeta { teachers: ids, temperature, images: set.len(), views: vec!["identity".into(), "mirror".into()] };
        Ok(Self { meta, probs })
    }

    /// Targets given directly (tests).
    #[cfg(test)]
    pub(crate) fn from_probs(teachers: Vec<String>, temperature: f32, probs: Vec<f32>) -> Self {
        let meta = TargetsMeta { teachers, temperature, images: probs.len() / CLASSES, views: vec![] };
        Self { meta, probs }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.meta.images
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.meta.images == 0
    }

    /// The distribution of image `i`.
    pub fn target(&self, i: usize) -> &[f32] {
        &self.probs[i * CLASSES..(i + 1) * CLASSES]
    }

    /// The targets of images `idx`, concatenated (`idx.len() × 7`).
    pub fn batch(&self, idx: &[usize]) -> Vec<f32> {
        idx.iter().flat_map(|&i| self.target(i).iter().copied()).collect()
    }

    /// Whether these are the targets `opts` asks for, for a training set of `images` images.
    pub fn matches(&self, opts: &DistillOptions, images: usize) -> bool {
        self.meta.teachers == opts.teachers && self.meta.temperature == opts.temperature && self.meta.images == images
    }

    /// Writes both files into `run_dir` (each atomically).
    pub fn write(&self, run_dir: &Path) -> Result<(), TrainError> {
        std::fs::create_dir_all(run_dir).map_err(super::io_err(run_dir))?;
        let bytes: Vec<u8> = self.probs.iter().flat_map(|p| p.to_le_bytes()).collect();
        super::write_atomic(&run_dir.join(TARGETS_FILE), &bytes)?;
        let json = serde_json::to_vec_pretty(&self.meta).map_err(|e| bad(run_dir.join(META_FILE), e))?;
        super::write_atomic(&run_dir.join(META_FILE), &json)
    }

    /// Reads the targets stored in `run_dir`; `None` if there are none.
    pub fn read(run_dir: &Path) -> Result<Option<Self>, TrainError> {
        let (meta_path, data_path) = (run_dir.join(META_FILE), run_dir.join(TARGETS_FILE));
        if !meta_path.exists() {
            return Ok(None);
        }
        let text = std::fs::read(&meta_path).map_err(super::io_err(&meta_path))?;
        let meta: TargetsMeta = serde_json::from_slice(&text).map_err(|e| bad(meta_path.clone(), e))?;
        let bytes = std::fs::read(&data_path).map_err(super::io_err(&data_path))?;
        if bytes.len() != meta.images * CLASSES * 4 {
            return Err(bad(data_path, format!("{} bytes, expected {} for {} images", bytes.len(), meta.images * CLASSES * 4, meta.images)));
        }
        let probs = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        Ok(Some(Self { meta, probs }))
    }
}

fn bad(path: PathBuf, reason: impl std::fmt::Display) -> TrainError {
    TrainError::Checkpoint { path, reason: reason.to_string() }
}

/// `softmax(z / T)` from `p = softmax(z)`: `p^(1/T)` renormalised (exact, since
/// `log p = z − logsumexp z`).
pub fn at_temperature(p: &[f32], temperature: f32) -> Vec<f32> {
    let e = 1.0 / temperature;
    let powered: Vec<f32> = p.iter().map(|&x| x.max(0.0).powf(e)).collect();
    let sum: f32 = powered.iter().sum();
    if sum > 0.0 { powered.iter().map(|x| x / sum).collect() } else { vec![1.0 / p.len() as f32; p.len()] }
}

/// A `side × side` image mirrored left–right.
fn mirror(img: &[u8], side: usize) -> Vec<u8> {
    img.chunks_exact(side).flat_map(|row| row.iter().rev().copied()).collect()
}

/// `T² · mean_b KL(q_b ‖ softmax(s_b / T))`: the distillation term for student logits `[b, 7]`
/// and soft targets `q` `[b, 7]` (constants), a scalar `[1]`.
pub fn distillation_loss(logits: Tensor<2>, targets: Tensor<2>, temperature: f32) -> Tensor<1> {
    let log_student = log_softmax(logits / temperature, 1);
    let log_targets = targets.clone().clamp_min(1e-12).log();
    (targets * (log_targets - log_student)).sum_dim(1).mean() * (temperature * temperature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::ComputeDevice;
    use crate::classify::model::SldcnnConfig;
    use burn::tensor::{Device, TensorData};

    fn softmax(z: &[f32]) -> Vec<f32> {
        let m = z.iter().cloned().fold(f32::MIN, f32::max);
        let e: Vec<f32> = z.iter().map(|v| (v - m).exp()).collect();
        let s: f32 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }

    #[test]
    fn temperature_from_probabilities_equals_softmax_of_scaled_logits() {
        let z = [2.0f32, -1.0, 0.5, 3.0, -2.0, 0.0, 1.0];
        for t in [1.0f32, 2.0, 4.0] {
            let scaled: Vec<f32> = z.iter().map(|v| v / t).collect();
            let want = softmax(&scaled);
            let got = at_temperature(&softmax(&z), t);
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "T={t}: {got:?} vs {want:?}");
            }
        }
        // Higher temperature: flatter.
        let p = softmax(&z);
        let max = |v: &[f32]| v.iter().cloned().fold(0f32, f32::max);
        assert!(max(&at_temperature(&p, 4.0)) < max(&at_temperature(&p, 2.0)));
    }

    #[test]
    fn the_loss_is_zero_at_the_targets_and_positive_elsewhere() {
        let dev = Device::default();
        let t = 3.0f32;
        let z = vec![2.0f32, -1.0, 0.5, 3.0, -2.0, 0.0, 1.0];
        let q = softmax(&z.iter().map(|v| v / t).collect::<Vec<_>>());
        let logits = Tensor::<2>::from_data(TensorData::new(z.clone(), [1, 7]), &dev);
        let targets = Tensor::<2>::from_data(TensorData::new(q.clone(), [1, 7]), &dev);
        let at: f32 = distillation_loss(logits, targets.clone(), t).into_scalar();
        assert!(at.abs() < 1e-5, "KL at the target: {at}");
        let other = Tensor::<2>::from_data(TensorData::new(vec![0.0f32; 7], [1, 7]), &dev);
        let away: f32 = distillation_loss(other, targets, t).into_scalar();
        assert!(away > 0.1, "KL away from the target: {away}");
    }

    fn tiny_teacher(seed: u64) -> Classifier {
        let cfg = SldcnnConfig { input_size: 16, block_layers: vec![2, 2], growth_rate: 4.into(), stem_channels: 8, ..SldcnnConfig::compact(12) };
        Classifier::untrained(cfg, seed, ComputeDevice::Cpu).unwrap()
    }

    #[test]
    fn targets_average_teachers_and_mirrors_and_round_trip_through_the_run_directory() {
        let ds = super::super::tests::toy(6);
        // Teachers are built once: the device's random seed is shared with concurrent tests.
        let teachers = vec![tiny_teacher(1), tiny_teacher(2)];
        let ids: Vec<String> = teachers.iter().map(|t| t.info().id.clone()).collect();
        // By hand for image 0: both teachers, both views.
        let img = ds.image(0);
        let flipped = mirror(img, 16);
        let mut want = [0f32; 7];
        for t in &teachers {
            for view in [img, flipped.as_slice()] {
                let p = t.classify(&[view], 1).unwrap();
                for (w, q) in want.iter_mut().zip(at_temperature(&p[0].0, 2.0)) {
                    *w += q / 4.0;
                }
            }
        }
        // A teacher's own test-time augmentation is switched off (the mirror is a view here).
        let mut teachers = teachers.into_iter();
        let (a, b) = (teachers.next().unwrap(), teachers.next().unwrap().with_tta(Tta::Flip));
        let soft = SoftTargets::compute(vec![a, b], &ds, 2.0).unwrap();
        assert_eq!(soft.len(), 6);
        for (a, b) in soft.target(0).iter().zip(&want) {
            assert!((a - b).abs() < 1e-5);
        }
        assert!((soft.target(5).iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert_eq!(soft.batch(&[1, 0]).len(), 14);
        assert_eq!(&soft.batch(&[1, 0])[7..], soft.target(0));

        let dir = tempfile::tempdir().unwrap();
        assert!(SoftTargets::read(dir.path()).unwrap().is_none());
        soft.write(dir.path()).unwrap();
        let back = SoftTargets::read(dir.path()).unwrap().unwrap();
        assert_eq!(back, soft);
        let opts = DistillOptions { teachers: ids, temperature: 2.0, weight: 0.5 };
        assert!(back.matches(&opts, 6));
        assert!(!back.matches(&DistillOptions { temperature: 3.0, ..opts.clone() }, 6));
        assert!(!back.matches(&opts, 7));
        // A truncated targets file is an error, not a silent shorter list.
        std::fs::write(dir.path().join(TARGETS_FILE), [0u8; 12]).unwrap();
        assert!(SoftTargets::read(dir.path()).unwrap_err().to_string().contains("expected 168"));
    }

    #[test]
    fn options_are_checked() {
        let ok = DistillOptions { teachers: vec!["a@1".into()], temperature: 3.0, weight: 0.7 };
        assert!(ok.validate().is_ok());
        assert!(DistillOptions { teachers: vec![], ..ok.clone() }.validate().is_err());
        assert!(DistillOptions { temperature: 0.5, ..ok.clone() }.validate().is_err());
        assert!(DistillOptions { weight: 1.5, ..ok }.validate().is_err());
    }
}
