//! Exponential moving average (EMA) of a network's weights during training (Polyak & Juditsky
//! 1992; the "model EMA" of timm and TensorFlow's `ExponentialMovingAverage`), used to select
//! and ship smoother weights than any single step's.
//!
//! In: the training network after each optimiser step. Out: an averaged [`Sldcnn`] of the same
//! configuration, `ema ← d·ema + (1 − d)·current` over every float tensor, batch-norm running
//! statistics included. The decay ramps up as `min(d, (1 + t)/(10 + t))` at update `t`, so the
//! average forgets the random initialisation quickly. The average owns its tensors: burn
//! shares batch-norm running statistics between clones of a module, so the copy is made
//! through a record, never by `clone`.

use burn::module::{Module as _, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};

use crate::classify::model::{Sldcnn, SldcnnConfig};

/// The decay used at update `t` (0-based) for a target decay `decay`.
pub fn decay_at(decay: f64, t: u64) -> f64 {
    decay.min((1.0 + t as f64) / (10.0 + t as f64))
}

/// A moving average of a network's weights.
#[derive(Debug)]
pub struct Ema {
    model: Sldcnn,
    decay: f64,
}

impl Ema {
    /// Starts the average at `start` (a copy of its values on `device`), with target `decay`.
    pub fn new(config: &SldcnnConfig, start: &Sldcnn, decay: f64, device: &Device) -> Result<Self, String> {
        Ok(Self { model: Self::owned_copy(config, start, device)?, decay })
    }

    /// A copy of `model` that shares no tensor state with it.
    pub fn owned_copy(config: &SldcnnConfig, model: &Sldcnn, device: &Device) -> Result<Sldcnn, String> {
        let record = model.valid().into_record();
        config.init(device).valid().try_load_record(record).map_err(|e| e.to_string())
    }

    /// Moves the average towards `current` (update number `t`, counting from 0 over the run).
    pub fn update(&mut self, current: &Sldcnn, t: u64) {
        let mut collect = Collect(Vec::new());
        current.valid().visit(&mut collect);
        let d = decay_at(self.decay, t) as f32;
        let mut blend = Blend { current: collect.0.into_iter(), decay: d };
        self.model = self.model.clone().map(&mut blend);
        debug_assert!(blend.current.next().is_none(), "the two networks have different parameters");
    }

    /// The averaged network.
    pub fn model(&self) -> &Sldcnn {
        &self.model
    }
}

/// Every float tensor of a module, flattened, in visiting order.
struct Collect(Vec<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let n = t.dims().iter().product::<usize>();
        self.0.push(t.reshape([n]));
    }
}

/// `ema ← d·ema + (1 − d)·current`, tensor by tensor in visiting order.
struct Blend {
    current: std::vec::IntoIter<Tensor<1>>,
    decay: f32,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(current) = self.current.next() else { return param };
        let d = self.decay;
        param.map(|ema| {
            let dims = ema.dims();
            ema.mul_scalar(d) + current.reshape(dims).mul_scalar(1.0 - d)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The training tests' tiny network.
    fn tiny() -> SldcnnConfig {
        super::super::tests::tiny_opts().model
    }

    fn floats(m: &Sldcnn) -> Vec<f32> {
        let mut c = Collect(Vec::new());
        m.visit(&mut c);
        c.0.into_iter().flat_map(|t| t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()).collect()
    }

    #[test]
    fn decay_ramps_up_to_its_target() {
        assert!((decay_at(0.999, 0) - 0.1).abs() < 1e-12);
        assert!((decay_at(0.999, 90) - 0.91).abs() < 1e-12);
        assert_eq!(decay_at(0.999, 1_000_000), 0.999);
        assert_eq!(decay_at(0.5, 100), 0.5);
    }

    #[test]
    fn the_average_blends_every_tensor_and_leaves_the_trained_network_alone() {
        let device = Device::flex();
        let cfg = tiny();
        device.seed(1);
        let a = cfg.init(&device);
        device.seed(2);
        let b = cfg.init(&device);
        // Give b's batch norms running statistics of their own (one training-mode forward).
        let x = Tensor::<4>::random([4, 1, 16, 16], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
        let _ = b.forward(x);
        let (fa, fb) = (floats(&a), floats(&b));
        assert_eq!(fa.len(), fb.len());
        let mut ema = Ema::new(&cfg, &a, 0.75, &device).unwrap();
        // At a late update the decay is the target: ema = 0.75·a + 0.25·b everywhere,
        // running statistics included.
        ema.update(&b, 1_000_000);
        let fe = floats(ema.model());
        let worst = fe.iter().zip(fa.iter().zip(&fb)).map(|(e, (x, y))| (e - (0.75 * x + 0.25 * y)).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-5, "max deviation {worst}");
        assert_eq!(floats(&a), fa, "the starting network is untouched");
        assert_eq!(floats(&b), fb, "the current network is untouched");
        // A second update keeps blending from the average.
        ema.update(&b, 1_000_000);
        let fe2 = floats(ema.model());
        let worst = fe2.iter().zip(fe.iter().zip(&fb)).map(|(e, (x, y))| (e - (0.75 * x + 0.25 * y)).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-5, "max deviation {worst}");
    }
}
