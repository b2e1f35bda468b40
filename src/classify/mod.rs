//! Expression classification with SLDCNN through burn.
//!
//! In: square grey face crops (`input_size²` bytes each, as produced by `align`). Out: one
//! [`ExpressionScores`] (softmax probabilities of the 7 classes) per crop, in input order.
//! Burn types stay inside this module; [`Classifier`] is the whole public surface.
//! A burn module is `Send` but not `Sync`: one `Classifier` lives on one thread.
//!
//! Inference on the CPU (`--device cpu`, the default) runs the loaded network through
//! [`sldcnn_cpu`], a plain-f32 engine with fused, preallocated kernels; burn's own `flex`
//! backend stays available as `--device flex` and is what training uses on the CPU.

pub mod labels;
pub mod model;
pub mod preprocess;
#[cfg(feature = "train")]
pub mod train;
pub mod weights;

use burn::module::Module as _;
use burn::store::ModuleRecord;
use burn::tensor::{Device, Tensor, TensorData};

pub use labels::{Expression, ExpressionScores};
use model::{Sldcnn, SldcnnConfig};
pub use weights::SHIPPED;
use weights::{ModelArtifact, WeightsError};

/// Where inference (and training) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ComputeDevice {
    /// The CPU, pure Rust: inference through the `sldcnn-cpu` engine, training through burn
    /// `flex`.
    #[default]
    Cpu,
    /// burn's `flex` CPU backend for inference too (the reference for `Cpu`'s engine).
    Flex,
    /// libtorch on the CPU (needs the `cuda` feature): the GPU build's code path without a GPU,
    /// used to test that build on machines that have none.
    TorchCpu,
    /// CUDA GPU number N through libtorch (needs the `cuda` feature).
    Cuda(usize),
}

impl std::str::FromStr for ComputeDevice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "flex" => Ok(Self::Flex),
            "torch-cpu" => Ok(Self::TorchCpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse) {
                Some(Ok(n)) => Ok(Self::Cuda(n)),
                _ => Err(format!("unknown device {s:?}: expected cpu, flex, cuda, cuda:N or torch-cpu")),
            },
        }
    }
}

impl std::fmt::Display for ComputeDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Flex => f.write_str("flex"),
            Self::TorchCpu => f.write_str("torch-cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// Test-time augmentation: which views of each crop are classified and averaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tta {
    /// The crop as it is.
    #[default]
    None,
    /// The crop and its mirror image (2 views).
    Flip,
    /// The crop and its mirror image, each as is and shifted by [`Tta::SHIFT_PX`] pixels left,
    /// right, up and down (10 views; the pixels shifted in repeat the border).
    FlipShift,
}

impl Tta {
    /// Shift of the [`Tta::FlipShift`] views in pixels.
    pub const SHIFT_PX: isize = 2;

    /// Flip for `true`, none for `false` (the `--tta` switches of `run` and `classify`).
    pub fn flip_if(on: bool) -> Self {
        if on { Self::Flip } else { Self::None }
    }

    /// The views as (mirrored, shift right, shift down), the identity first.
    fn views(self) -> &'static [(bool, isize, isize)] {
        const S: isize = Tta::SHIFT_PX;
        const FLIP_SHIFT: [(bool, isize, isize); 10] = [
            (false, 0, 0),
            (true, 0, 0),
            (false, -S, 0),
            (false, S, 0),
            (false, 0, -S),
            (false, 0, S),
            (true, -S, 0),
            (true, S, 0),
            (true, 0, -S),
            (true, 0, S),
        ];
        match self {
            Self::None => &[(false, 0, 0)],
            Self::Flip => &[(false, 0, 0), (true, 0, 0)],
            Self::FlipShift => &FLIP_SHIFT,
        }
    }
}

impl std::str::FromStr for Tta {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Self::None),
            "flip" => Ok(Self::Flip),
            "flip-shift" => Ok(Self::FlipShift),
            _ => Err(format!("unknown test-time augmentation {s:?}: expected none, flip or flip-shift")),
        }
    }
}

impl std::fmt::Display for Tta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Flip => "flip",
            Self::FlipShift => "flip-shift",
        })
    }
}

/// Errors of the classifier.
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    /// The model could not be loaded.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// The models given cannot form an ensemble.
    #[error("cannot average these models: {0}")]
    Ensemble(String),
    /// The requested device is not available in this build or on this machine.
    #[error("device {device} is not available: {reason}")]
    Device {
        /// Requested device.
        device: ComputeDevice,
        /// Why.
        reason: String,
    },
    /// A crop has the wrong size.
    #[error("face crop {index} has {len} bytes, expected {expected}")]
    CropSize {
        /// Position in the batch.
        index: usize,
        /// Bytes given.
        len: usize,
        /// Bytes expected.
        expected: usize,
    },
}

/// What is known about the loaded model; goes into output metadata.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// `name@hash-prefix`, or `untrained@seed-N`.
    pub id: String,
    /// Full blake3 of config + weights (empty for an untrained model).
    pub hash: String,
    /// Where the weights came from.
    pub source: String,
    /// False for a randomly initialised network (tests, before training).
    pub trained: bool,
    /// Network configuration.
    pub config: SldcnnConfig,
    /// Number of parameters.
    pub parameters: usize,
}

/// Creates the burn device for `device`, or says why it cannot be had: the binary was built
/// without the `cuda` feature, or libtorch sees no such CUDA device.
pub(crate) fn burn_device(device: ComputeDevice) -> Result<Device, ClassifyError> {
    match device {
        ComputeDevice::Cpu | ComputeDevice::Flex => Ok(Device::flex()),
        #[cfg(feature = "cuda")]
        ComputeDevice::TorchCpu => Ok(torch::cpu()),
        #[cfg(feature = "cuda")]
        ComputeDevice::Cuda(n) => torch::cuda(n).map_err(|reason| ClassifyError::Device { device, reason }),
        #[cfg(not(feature = "cuda"))]
        ComputeDevice::TorchCpu | ComputeDevice::Cuda(_) => Err(ClassifyError::Device {
            device,
            reason: "this binary was built without the `cuda` cargo feature (see the README's GPU section: \
                     `bash scripts/torch-env.sh cargo build --release --features cuda`)"
                .into(),
        }),
    }
}

/// libtorch devices (burn-tch), behind the `cuda` feature.
#[cfg(feature = "cuda")]
mod torch {
    use burn::tensor::Device;

    /// libtorch's CPU device.
    #[allow(deprecated)] // burn-tch is deprecated upstream; it is the CUDA backend that builds offline (README).
    pub(super) fn cpu() -> Device {
        Device::libtorch()
    }

    /// CUDA device `n`, after checking that libtorch sees it.
    #[allow(deprecated)]
    pub(super) fn cuda(n: usize) -> Result<Device, String> {
        let count = if tch::Cuda::is_available() { tch::Cuda::device_count().max(0) as usize } else { 0 };
        if count == 0 {
            return Err("libtorch finds no CUDA device (no NVIDIA GPU, no driver, or a CPU-only libtorch)".into());
        }
        if n >= count {
            return Err(format!("libtorch finds {count} CUDA device(s), numbered 0..{}", count - 1));
        }
        Ok(Device::libtorch_cuda(n))
    }
}

/// Decodes burnpack bytes onto a network built from `config`.
pub(crate) fn load_model(artifact: &ModelArtifact, device: &Device) -> Result<Sldcnn, WeightsError> {
    let bad = |reason: String| WeightsError::Weights { path: artifact.source.clone().into(), reason };
    let record = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(artifact.weights.clone())).map_err(|e| bad(e.to_string()))?;
    // Half-precision weights (see `half_precision_weights`) are widened to the network's f32.
    artifact.config.init(device).try_load_record(record.cast_to_module_dtype()).map_err(|e| bad(e.to_string()))
}

/// Storage precision of a model's float parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// f32, as trained.
    Full,
    /// f16: about half the bytes; loading widens it back to f32.
    Half,
}

/// The weights of `artifact` re-encoded with every float parameter in `precision`.
/// BatchNorm running statistics are not parameters and stay f32 (a small running variance
/// would underflow in f16).
pub fn weights_in_precision(artifact: &ModelArtifact, precision: Precision) -> Result<Vec<u8>, WeightsError> {
    struct Cast(burn::tensor::DType);
    impl burn::module::ModuleMapper for Cast {
        fn map_float<const D: usize>(&mut self, param: burn::module::Param<Tensor<D>>) -> burn::module::Param<Tensor<D>> {
            let dtype = self.0;
            param.map(|t| t.cast(dtype))
        }
    }
    let dtype = match precision {
        Precision::Full => burn::tensor::DType::F32,
        Precision::Half => burn::tensor::DType::F16,
    };
    let model = load_model(artifact, &Device::flex())?.map(&mut Cast(dtype));
    let bad = |reason: String| WeightsError::Weights { path: artifact.source.clone().into(), reason };
    model.into_record().into_bytes().map(|b| b.to_vec()).map_err(|e| bad(e.to_string()))
}

/// What runs the forward pass.
enum Engine {
    /// burn, on `device`.
    Burn { model: Box<Sldcnn>, device: Device },
    /// The plain-f32 CPU engine.
    Native(Box<sldcnn_cpu::Network>),
}

impl Engine {
    /// The engine for `device`: the CPU engine for [`ComputeDevice::Cpu`], burn otherwise.
    fn new(model: Sldcnn, device: ComputeDevice, burn_device: Device, config: &SldcnnConfig) -> Result<Self, ClassifyError> {
        if device != ComputeDevice::Cpu {
            return Ok(Self::Burn { model: Box::new(model), device: burn_device });
        }
        model
            .to_native(config.input_size)
            .map(|net| Self::Native(Box::new(net)))
            .map_err(|e| ClassifyError::Device { device, reason: format!("the CPU engine cannot run this network: {e}") })
    }
}

/// A loaded network ready for inference.
pub struct Classifier {
    /// One engine per network; an ensemble ([`Classifier::averaging`]) has several.
    engines: Vec<Engine>,
    info: ModelInfo,
    tta: Tta,
}

impl Classifier {
    /// Loads an artifact onto `device`.
    pub fn new(artifact: &ModelArtifact, device: ComputeDevice) -> Result<Self, ClassifyError> {
        let dev = burn_device(device)?;
        let model = load_model(artifact, &dev)?.valid();
        let info = ModelInfo {
            id: artifact.id(),
            hash: artifact.hash.clone(),
            source: artifact.source.clone(),
            trained: true,
            config: artifact.config.clone(),
            parameters: model.num_params(),
        };
        Ok(Self { engines: vec![Engine::new(model, device, dev, &artifact.config)?], info, tta: Tta::None })
    }

    /// A randomly initialised network (reported as untrained), for tests and before training.
    pub fn untrained(config: SldcnnConfig, seed: u64, device: ComputeDevice) -> Result<Self, ClassifyError> {
        let dev = burn_device(device)?;
        dev.seed(seed);
        let model = config.init(&dev).valid();
        let info = ModelInfo {
            id: format!("untrained@seed-{seed}"),
            hash: String::new(),
            source: "random initialisation".into(),
            trained: false,
            parameters: model.num_params(),
            config,
        };
        Ok(Self { engines: vec![Engine::new(model, device, dev, &info.config)?], info, tta: Tta::None })
    }

    /// The classifier the command-line flags ask for: random weights with `untrained` (tests
    /// only), else the shipped model when `models` is empty, else the networks named
    /// ([`ModelArtifact::named`]: directories, embedded networks, or `shipped`), averaged
    /// ([`Classifier::averaging`]) when there are several; with test-time augmentation `tta`.
    pub fn load(models: &[std::path::PathBuf], untrained: bool, device: ComputeDevice, tta: Tta) -> Result<Self, ClassifyError> {
        if untrained {
            return Ok(Self::untrained(SldcnnConfig::compact(20), 0, device)?.with_tta(tta));
        }
        let shipped = [std::path::PathBuf::from(SHIPPED)];
        let models = if models.is_empty() { &shipped[..] } else { models };
        let members = weights::ModelArtifact::named_all(models)?.iter().map(|a| Self::new(a, device)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self::averaging(members)?.with_tta(tta))
    }

    /// An ensemble: every view of a crop goes through each member and all their probabilities
    /// are averaged. The first member's test-time augmentation becomes the ensemble's
    /// ([`Classifier::with_tta`] changes it for all). Costs the sum of the members. The members
    /// must take the same input size; the ensemble reports the members' ids joined by `+`, a
    /// hash over their hashes and the sum of their parameters.
    pub fn averaging(members: Vec<Classifier>) -> Result<Self, ClassifyError> {
        let Some(first) = members.first() else {
            return Err(ClassifyError::Ensemble("an ensemble needs at least one model".into()));
        };
        if members.len() == 1 {
            return Ok(members.into_iter().next().expect("one member"));
        }
        let (side, tta) = (first.input_size(), first.tta);
        if let Some(m) = members.iter().find(|m| m.input_size() != side) {
            return Err(ClassifyError::Ensemble(format!("{} takes {}-pixel crops, {} takes {side}", m.info.id, m.input_size(), first.info.id)));
        }
        let mut hash = blake3::Hasher::new();
        members.iter().for_each(|m| {
            hash.update(m.info.hash.as_bytes());
        });
        let info = ModelInfo {
            id: members.iter().map(|m| m.info.id.as_str()).collect::<Vec<_>>().join("+"),
            hash: hash.finalize().to_hex().to_string(),
            source: members.iter().map(|m| m.info.source.as_str()).collect::<Vec<_>>().join(" + "),
            trained: members.iter().all(|m| m.info.trained),
            config: first.info.config.clone(),
            parameters: members.iter().map(|m| m.info.parameters).sum(),
        };
        Ok(Self { engines: members.into_iter().flat_map(|m| m.engines).collect(), info, tta })
    }

    /// Classify these views of each crop and average their probabilities (test-time
    /// augmentation).
    pub fn with_tta(mut self, tta: Tta) -> Self {
        self.tta = tta;
        self
    }

    /// The test-time augmentation in use.
    pub fn tta(&self) -> Tta {
        self.tta
    }

    /// Model metadata.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Side of the square input crop in pixels.
    pub fn input_size(&self) -> usize {
        self.info.config.input_size
    }

    /// Classifies crops of `input_size²` grey bytes each, in batches of at most `batch_size`.
    pub fn classify(&self, crops: &[&[u8]], batch_size: usize) -> Result<Vec<ExpressionScores>, ClassifyError> {
        let side = self.input_size();
        let n = side * side;
        for (index, c) in crops.iter().enumerate() {
            if c.len() != n {
                return Err(ClassifyError::CropSize { index, len: c.len(), expected: n });
            }
        }
        let mut out = Vec::with_capacity(crops.len());
        let mut buf = Vec::with_capacity(batch_size.max(1) * n);
        for chunk in crops.chunks(batch_size.max(1)) {
            buf.clear();
            for c in chunk {
                preprocess::normalize_into(c, &mut buf);
            }
            out.extend(mean_scores(self.tta.views().iter().map(|&(mirrored, dx, dy)| {
                if (mirrored, dx, dy) == (false, 0, 0) {
                    self.probabilities(&buf, chunk.len())
                } else {
                    self.probabilities(&view_of(&buf, side, mirrored, dx, dy), chunk.len())
                }
            })));
        }
        Ok(out)
    }

    /// Softmax probabilities for `count` normalised images laid out in `data`: each network's,
    /// averaged over the networks of an ensemble.
    fn probabilities(&self, data: &[f32], count: usize) -> Vec<ExpressionScores> {
        mean_scores(self.engines.iter().map(|engine| self.engine_probabilities(engine, data, count)))
    }

    /// Softmax probabilities of one network.
    fn engine_probabilities(&self, engine: &Engine, data: &[f32], count: usize) -> Vec<ExpressionScores> {
        let side = self.input_size();
        let values: Vec<f32> = match engine {
            Engine::Burn { model, device } => {
                let input = Tensor::<4>::from_data(TensorData::new(data.to_vec(), [count, 1, side, side]), device);
                let logits = model.forward(input); // [count, 7]
                logits.into_data().convert::<f32>().try_into_vec().unwrap_or_default()
            }
            Engine::Native(net) => {
                // Images in parallel on the calling rayon pool, one scratch per worker split.
                use rayon::prelude::*;
                let mut logits = vec![0f32; count * Expression::COUNT];
                data.par_chunks(side * side)
                    .zip(logits.par_chunks_mut(Expression::COUNT))
                    .for_each_init(|| net.scratch(), |scratch, (image, out)| net.forward(image, scratch, out));
                logits
            }
        };
        values.chunks(Expression::COUNT).map(ExpressionScores::from_logits).collect()
    }
}

/// The element-wise mean of equally long lists of scores (views of the same crops, or the
/// members of an ensemble); empty when there are none.
fn mean_scores(parts: impl Iterator<Item = Vec<ExpressionScores>>) -> Vec<ExpressionScores> {
    let mut n = 0usize;
    let mut sum: Vec<ExpressionScores> = Vec::new();
    for part in parts {
        if n == 0 {
            sum = part;
        } else {
            for (p, q) in sum.iter_mut().zip(part) {
                for (a, b) in p.0.iter_mut().zip(q.0) {
                    *a += b;
                }
            }
        }
        n += 1;
    }
    if n > 1 {
        let n = n as f32;
        sum.iter_mut().flat_map(|p| p.0.iter_mut()).for_each(|a| *a /= n);
    }
    sum
}

/// Each `side × side` image of `data`, mirrored left–right if `mirrored`, then shifted `dx`
/// pixels right and `dy` down; the pixels shifted in repeat the nearest border pixel.
fn view_of(data: &[f32], side: usize, mirrored: bool, dx: isize, dy: isize) -> Vec<f32> {
    let mut out = vec![0f32; data.len()];
    let last = side as isize - 1;
    for (src, dst) in data.chunks_exact(side * side).zip(out.chunks_exact_mut(side * side)) {
        for y in 0..side {
            let sy = (y as isize - dy).clamp(0, last) as usize;
            for x in 0..side {
                let sx = (x as isize - dx).clamp(0, last) as usize;
                let sx = if mirrored { side - 1 - sx } else { sx };
                dst[y * side + x] = src[sy * side + sx];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrained_classifier_gives_distributions_and_reports_itself() {
        let mut cfg = SldcnnConfig::compact(12);
        cfg.growth_rate = 4.into();
        cfg.stem_channels = 8;
        let c = Classifier::untrained(cfg, 3, ComputeDevice::Cpu).unwrap();
        assert!(!c.info().trained);
        assert!(c.info().id.starts_with("untrained"));
        let a = vec![10u8; 48 * 48];
        let b: Vec<u8> = (0..48 * 48).map(|i| (i % 256) as u8).collect();
        let scores = c.classify(&[&a, &b, &a], 2).unwrap();
        assert_eq!(scores.len(), 3);
        for s in &scores {
            assert!((s.0.iter().sum::<f32>() - 1.0).abs() < 1e-4);
            assert!(s.0.iter().all(|p| (0.0..=1.0).contains(p)));
        }
        assert_eq!(scores[0], scores[2], "same crop, same batch position class → same scores");
        let err = c.classify(&[&a[..10]], 2).unwrap_err().to_string();
        assert!(err.contains("expected 2304"), "{err}");
    }

    #[test]
    fn tta_views_mirror_and_shift_with_the_border_repeated() {
        // One 3×3 image: 0 1 2 / 3 4 5 / 6 7 8.
        let img: Vec<f32> = (0..9).map(|v| v as f32).collect();
        assert_eq!(view_of(&img, 3, false, 0, 0), img);
        assert_eq!(view_of(&img, 3, true, 0, 0), [2., 1., 0., 5., 4., 3., 8., 7., 6.]);
        assert_eq!(view_of(&img, 3, false, 1, 0), [0., 0., 1., 3., 3., 4., 6., 6., 7.]);
        assert_eq!(view_of(&img, 3, false, 0, -2), [6., 7., 8., 6., 7., 8., 6., 7., 8.]);
        // Mirrored, then shifted right: the shift applies to the mirrored image.
        assert_eq!(view_of(&img, 3, true, 1, 0), [2., 2., 1., 5., 5., 4., 8., 8., 7.]);
        // Two images are transformed independently.
        let two: Vec<f32> = img.iter().chain(&img).copied().collect();
        assert_eq!(&view_of(&two, 3, true, 0, 0)[9..], &view_of(&img, 3, true, 0, 0)[..]);
        assert_eq!((Tta::None.views().len(), Tta::Flip.views().len(), Tta::FlipShift.views().len()), (1, 2, 10));
        for t in [Tta::None, Tta::Flip, Tta::FlipShift] {
            assert_eq!(t.to_string().parse::<Tta>(), Ok(t));
            assert_eq!(t.views()[0], (false, 0, 0), "the identity comes first");
        }
        assert!("shift".parse::<Tta>().is_err());
    }

    #[test]
    fn flip_tta_averages_a_crop_and_its_mirror_image() {
        let mut cfg = SldcnnConfig::compact(12);
        cfg.growth_rate = 4.into();
        cfg.stem_channels = 8;
        let c = Classifier::untrained(cfg, 5, ComputeDevice::Cpu).unwrap();
        let crops = varied_crops(3);
        let mirrored: Vec<Vec<u8>> = crops.iter().map(|c| c.chunks(48).flat_map(|r| r.iter().rev().copied()).collect()).collect();
        let refs: Vec<&[u8]> = crops.iter().map(Vec::as_slice).collect();
        let mrefs: Vec<&[u8]> = mirrored.iter().map(Vec::as_slice).collect();
        let (plain, flipped) = (c.classify(&refs, 2).unwrap(), c.classify(&mrefs, 2).unwrap());
        let c = c.with_tta(Tta::Flip);
        let tta = c.classify(&refs, 2).unwrap();
        for ((t, p), f) in tta.iter().zip(&plain).zip(&flipped) {
            for k in 0..Expression::COUNT {
                assert!((t.0[k] - (p.0[k] + f.0[k]) / 2.0).abs() < 1e-6);
            }
        }
        // A crop and its mirror image get the same flip-averaged scores.
        assert!(max_abs_diff(&tta, &c.classify(&mrefs, 2).unwrap()) < 1e-6);
        let shifted = c.with_tta(Tta::FlipShift).classify(&refs, 2).unwrap();
        assert!(shifted.iter().all(|s| (s.0.iter().sum::<f32>() - 1.0).abs() < 1e-4));
    }

    #[test]
    fn an_ensemble_averages_its_members_and_sums_their_size() {
        let small = |seed| {
            let mut cfg = SldcnnConfig::compact(12);
            cfg.growth_rate = 4.into();
            cfg.stem_channels = 8;
            Classifier::untrained(cfg, seed, ComputeDevice::Cpu).unwrap()
        };
        let crops = varied_crops(5);
        let refs: Vec<&[u8]> = crops.iter().map(Vec::as_slice).collect();
        // Each member is built once: burn's seeded initialisation draws from a generator that
        // tests running in parallel share, so a second `small(1)` need not equal the first.
        let (m1, m2) = (small(1), small(2));
        let parameters = m1.info().parameters + m2.info().parameters;
        let (a, b) = (m1.classify(&refs, 2).unwrap(), m2.classify(&refs, 2).unwrap());
        assert!(max_abs_diff(&a, &b) > 1e-4, "two seeds, two different networks");
        let (m1, m2) = (m1.with_tta(Tta::Flip), m2.with_tta(Tta::Flip));
        let (fa, fb) = (m1.classify(&refs, 2).unwrap(), m2.classify(&refs, 2).unwrap());
        let mean = |a: &[ExpressionScores], b: &[ExpressionScores]| -> Vec<ExpressionScores> {
            a.iter().zip(b).map(|(p, q)| ExpressionScores(std::array::from_fn(|k| (p.0[k] + q.0[k]) / 2.0))).collect()
        };
        // The first member's flip TTA is the ensemble's: the mean over both members of both views.
        let ens = Classifier::averaging(vec![m1, m2]).unwrap();
        assert_eq!(ens.tta(), Tta::Flip);
        assert_eq!(ens.info().id, "untrained@seed-1+untrained@seed-2");
        assert_eq!(ens.info().parameters, parameters);
        assert!(!ens.info().trained);
        assert!(max_abs_diff(&ens.classify(&refs, 2).unwrap(), &mean(&fa, &fb)) < 1e-6);
        assert!(max_abs_diff(&ens.with_tta(Tta::None).classify(&refs, 3).unwrap(), &mean(&a, &b)) < 1e-6);
        // One member is that member; none, or members of different input sizes, are errors.
        assert_eq!(Classifier::averaging(vec![small(3)]).unwrap().info().id, "untrained@seed-3");
        assert!(Classifier::averaging(vec![]).is_err());
        let mut big = SldcnnConfig::compact(12);
        big.input_size = 64;
        let other = Classifier::untrained(big, 4, ComputeDevice::Cpu).unwrap();
        let err = Classifier::averaging(vec![small(1), other]).err().unwrap().to_string();
        assert!(err.contains("64-pixel"), "{err}");
    }

    #[test]
    fn device_names_parse() {
        assert_eq!("cpu".parse::<ComputeDevice>(), Ok(ComputeDevice::Cpu));
        assert_eq!("cuda:1".parse::<ComputeDevice>(), Ok(ComputeDevice::Cuda(1)));
        assert!("gpu".parse::<ComputeDevice>().is_err());
        for d in [ComputeDevice::Cpu, ComputeDevice::TorchCpu, ComputeDevice::Cuda(2)] {
            assert_eq!(d.to_string().parse::<ComputeDevice>(), Ok(d));
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn libtorch_devices_need_the_cuda_feature() {
        let art = ModelArtifact::embedded(weights::EMBEDDED[0]).unwrap();
        for d in [ComputeDevice::Cuda(0), ComputeDevice::TorchCpu] {
            let err = Classifier::new(&art, d).err().unwrap().to_string();
            assert!(err.contains(&format!("device {d} is not available")), "{err}");
            assert!(err.contains("without the `cuda` cargo feature"), "{err}");
        }
    }

    /// Crops with structure (gradients, a bright blob, noise) so that the model's outputs differ.
    fn varied_crops(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|k| {
                (0..48 * 48)
                    .map(|i| {
                        let (y, x) = (i / 48, i % 48);
                        let blob = if (y as i64 - 20 - k as i64 % 9).pow(2) + (x as i64 - 24).pow(2) < 60 { 90 } else { 0 };
                        ((x * (k % 5 + 1) + y * 3 + blob + (i * 7919 + k * 104_729) % 23) % 256) as u8
                    })
                    .collect()
            })
            .collect()
    }

    /// Switches the CPU engines of `c` to instruction set `isa`.
    fn use_isa(c: &mut Classifier, isa: sldcnn_cpu::Isa) {
        c.engines = std::mem::take(&mut c.engines)
            .into_iter()
            .map(|e| match e {
                Engine::Native(net) => Engine::Native(Box::new((*net).with_isa(isa))),
                burn => burn,
            })
            .collect();
    }

    fn max_abs_diff(a: &[ExpressionScores], b: &[ExpressionScores]) -> f32 {
        a.iter().zip(b).flat_map(|(x, y)| x.0.iter().zip(y.0.iter()).map(|(u, v)| (u - v).abs())).fold(0f32, f32::max)
    }

    #[test]
    fn half_precision_weights_are_half_the_size_and_give_nearly_the_same_scores() {
        let dir = tempfile::tempdir().unwrap();
        let shipped = ModelArtifact::embedded(weights::EMBEDDED[0]).unwrap();
        let write = |name: &str, bytes: &[u8]| {
            ModelArtifact::write_dir(&shipped.config, bytes, &dir.path().join(name)).unwrap();
            ModelArtifact::from_dir(&dir.path().join(name)).unwrap()
        };
        let full = write("full", &weights_in_precision(&shipped, Precision::Full).unwrap());
        let half = write("half", &weights_in_precision(&full, Precision::Half).unwrap());
        assert!(half.weights.len() < full.weights.len() * 6 / 10, "{} vs {} bytes", half.weights.len(), full.weights.len());
        let crops = varied_crops(40);
        let refs: Vec<&[u8]> = crops.iter().map(Vec::as_slice).collect();
        let scores = |art: &ModelArtifact| Classifier::new(art, ComputeDevice::Cpu).unwrap().classify(&refs, 16).unwrap();
        let (f, h) = (scores(&full), scores(&half));
        assert!(max_abs_diff(&f, &h) < 0.02, "f16 weights moved a probability by {}", max_abs_diff(&f, &h));
        // Widening f16 back to f32 is exact, and so is narrowing that again.
        let wide = write("wide", &weights_in_precision(&half, Precision::Full).unwrap());
        assert_eq!(max_abs_diff(&scores(&wide), &h), 0.0);
        let again = write("again", &weights_in_precision(&wide, Precision::Half).unwrap());
        assert_eq!(again.weights.len(), half.weights.len());
        assert_eq!(max_abs_diff(&scores(&again), &h), 0.0);
    }

    /// The CPU engine computes what burn's flex backend computes, on each embedded network
    /// (folded batch norms with real running statistics) and with every instruction set this
    /// CPU has.
    #[test]
    fn cpu_engine_agrees_with_flex_on_the_embedded_networks() {
        let crops = varied_crops(40);
        let refs: Vec<&[u8]> = crops.iter().map(Vec::as_slice).collect();
        for art in weights::EMBEDDED.map(|n| ModelArtifact::embedded(n).unwrap()) {
            let flex = Classifier::new(&art, ComputeDevice::Flex).unwrap().classify(&refs, 16).unwrap();
            let mut engine = Classifier::new(&art, ComputeDevice::Cpu).unwrap();
            assert!(matches!(engine.engines[..], [Engine::Native(_)]), "cpu must use the CPU engine");
            for isa in sldcnn_cpu::Isa::available() {
                use_isa(&mut engine, isa);
                let cpu = engine.classify(&refs, 16).unwrap();
                let max_diff = max_abs_diff(&flex, &cpu);
                assert!(max_diff < 1e-4, "{isa:?}: CPU engine and flex differ by {max_diff}");
                assert!(flex.iter().zip(&cpu).all(|(a, b)| a.label() == b.label()), "{isa:?}: labels differ");
            }
            let distinct = flex.iter().filter(|s| s.label() != flex[0].label()).count();
            assert!(distinct > 0, "the crops should not all get the same label");
            // Flip TTA goes through the same path.
            for mode in [Tta::Flip, Tta::FlipShift] {
                let tta = |d| Classifier::new(&art, d).unwrap().with_tta(mode).classify(&refs, 7).unwrap();
                assert!(max_abs_diff(&tta(ComputeDevice::Flex), &tta(ComputeDevice::Cpu)) < 1e-4, "{mode}");
            }
        }
    }

    /// Every architecture variant (attention none/channel/spatial, with and without the
    /// bottleneck, odd sides that leave remainders in the kernels' tiles) converts and agrees.
    #[test]
    fn cpu_engine_agrees_with_flex_on_every_variant() {
        use model::Attention;
        let crops = varied_crops(6);
        let refs: Vec<&[u8]> = crops.iter().map(Vec::as_slice).collect();
        for attention in [Attention::None, Attention::Channel, Attention::Spatial] {
            for bottleneck in [false, true] {
                let mut cfg = SldcnnConfig::compact(12);
                cfg.growth_rate = 6.into();
                cfg.stem_channels = 10;
                cfg.attention = attention;
                cfg.bottleneck = bottleneck;
                // One network (burn's RNG is shared by parallel tests, so two inits could differ),
                // run by burn and by the CPU engine.
                let flex = Classifier::untrained(cfg.clone(), 9, ComputeDevice::Flex).unwrap();
                let Engine::Burn { model, device } = &flex.engines[0] else { panic!("flex must run on burn") };
                let cpu = Classifier {
                    engines: vec![Engine::new((**model).clone(), ComputeDevice::Cpu, device.clone(), &cfg).unwrap()],
                    info: flex.info.clone(),
                    tta: Tta::None,
                };
                let diff = max_abs_diff(&flex.classify(&refs, 4).unwrap(), &cpu.classify(&refs, 4).unwrap());
                assert!(diff < 1e-4, "{attention:?} bottleneck {bottleneck}: differ by {diff}");
            }
        }
    }

    /// Per-block growth rates and depths (one rate above the kernels' 16-channel tile, odd ones
    /// that leave remainders) convert and agree, with every attention variant.
    #[test]
    fn cpu_engine_agrees_with_flex_on_per_block_growth_rates() {
        use model::{Attention, GrowthRate};
        let crops = varied_crops(6);
        let refs: Vec<&[u8]> = crops.iter().map(Vec::as_slice).collect();
        for (attention, bottleneck) in [(Attention::Spatial, false), (Attention::Channel, false), (Attention::Spatial, true)] {
            let cfg = SldcnnConfig {
                block_layers: vec![2, 3, 2],
                growth_rate: GrowthRate::PerBlock(vec![6, 20, 9]),
                stem_channels: 10,
                attention,
                bottleneck,
                ..SldcnnConfig::compact(12)
            };
            cfg.validate().unwrap();
            let flex = Classifier::untrained(cfg.clone(), 13, ComputeDevice::Flex).unwrap();
            let Engine::Burn { model, device } = &flex.engines[0] else { panic!("flex must run on burn") };
            let mut cpu = Classifier {
                engines: vec![Engine::new((**model).clone(), ComputeDevice::Cpu, device.clone(), &cfg).unwrap()],
                info: flex.info.clone(),
                tta: Tta::None,
            };
            let expected = flex.classify(&refs, 4).unwrap();
            for isa in sldcnn_cpu::Isa::available() {
                use_isa(&mut cpu, isa);
                let diff = max_abs_diff(&expected, &cpu.classify(&refs, 4).unwrap());
                assert!(diff < 1e-4, "{attention:?} bottleneck {bottleneck} {isa:?}: differ by {diff}");
            }
        }
    }

    /// The shipped weights give the same probabilities through libtorch as through flex: the GPU
    /// build's code path, checked on a machine without a GPU.
    #[cfg(feature = "cuda")]
    #[test]
    fn libtorch_cpu_agrees_with_flex_and_the_cpu_engine_on_the_shipped_model() {
        let art = ModelArtifact::embedded(weights::EMBEDDED[0]).unwrap();
        let crops = varied_crops(40);
        let refs: Vec<&[u8]> = crops.iter().map(Vec::as_slice).collect();
        let flex = Classifier::new(&art, ComputeDevice::Flex).unwrap().classify(&refs, 16).unwrap();
        let engine = Classifier::new(&art, ComputeDevice::Cpu).unwrap().classify(&refs, 16).unwrap();
        let torch = Classifier::new(&art, ComputeDevice::TorchCpu).unwrap().classify(&refs, 16).unwrap();
        let max_diff = max_abs_diff(&flex, &torch);
        assert!(max_diff < 1e-4, "flex and libtorch differ by {max_diff}");
        let max_diff = max_abs_diff(&engine, &torch);
        assert!(max_diff < 1e-4, "the CPU engine and libtorch differ by {max_diff}");
        let distinct = flex.iter().filter(|s| s.label() != flex[0].label()).count();
        assert!(distinct > 0, "the crops should not all get the same label");
    }

    #[cfg(feature = "cuda")]
    #[test]
    fn a_missing_cuda_device_is_a_clear_error() {
        let art = ModelArtifact::embedded(weights::EMBEDDED[0]).unwrap();
        let visible = if tch::Cuda::is_available() { tch::Cuda::device_count() as usize } else { 0 };
        let err = Classifier::new(&art, ComputeDevice::Cuda(visible)).err().unwrap().to_string();
        assert!(err.contains(&format!("device cuda:{visible} is not available: libtorch finds")), "{err}");
    }
}
