//! The paper's joint loss (section 4.3): `Loss = CE + λ·PE`.
//!
//! In: logits `[b, 7]`, pooled features `f` `[b, d]` and targets `[b]`. Out: a scalar loss
//! tensor and its two parts as numbers for the metrics log.
//!
//! The intra-class distance penalty (eq. 27–28):
//! `PE = ½ · mean_i max(‖f_i − z_{c_i}‖² − d_{c_i}², 0)`, where `z_c` is the mean feature of
//! the batch's class-`c` samples and `d_c` half the distance from `z_c` to the nearest other
//! class centre present in the batch. The centres and `d_c` are treated as constants (eq. 29
//! gives `∂PE/∂f_i = f_i − z_{c_i}` for the samples outside their radius, 0 otherwise), so
//! they are computed from detached features. We average over the batch instead of summing
//! (eq. 27 sums): the batch size then does not rescale λ. A class with no other class present
//! in the batch has no radius and is not penalised.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Int, Tensor};

use crate::classify::labels::Expression;

/// Loss weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossConfig {
    /// λ, the weight of the intra-class distance penalty (0 = plain cross-entropy).
    pub lambda: f32,
    /// Label smoothing α for the cross-entropy (None or 0 = none).
    pub label_smoothing: Option<f32>,
    /// Distillation as (weight α, temperature T): the loss becomes
    /// `(1 − α)·CE + α·KD + λ·PE` with KD from [`super::distill::distillation_loss`].
    pub distill: Option<(f32, f32)>,
}

/// A computed loss.
pub struct JointLoss {
    /// `CE + λ·PE` (with distillation `(1 − α)·CE + α·KD + λ·PE`), the value to differentiate.
    pub total: Tensor<1>,
    /// Its value.
    pub value: f32,
    /// Cross-entropy part (mean over the batch).
    pub ce: f32,
    /// Penalty part before λ.
    pub pe: f32,
}

/// The intra-class distance penalty (eq. 27–28) as a differentiable scalar `[1]`.
pub fn intra_class_penalty(features: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [b, _d] = features.dims();
    let c = Expression::COUNT;
    let onehot: Tensor<2> = targets.one_hot::<2>(c).float(); // [b, c]
    let fixed = features.clone().detach(); // centres are constants (eq. 29)
    let counts = onehot.clone().sum_dim(0); // [1, c]
    let present = counts.clone().greater_elem(0.0); // [1, c]
    let sums = onehot.clone().transpose().matmul(fixed); // [c, d]
    let centres = sums / counts.clone().clamp_min(1.0).transpose(); // [c, d]
    // Squared distances between centres: ‖a‖² + ‖b‖² − 2ab   [c, c]
    let sq = centres.clone().powf_scalar(2.0).sum_dim(1); // [c, 1]
    let dist2 = (sq.clone() + sq.transpose() - centres.clone().matmul(centres.clone().transpose()) * 2.0).clamp_min(0.0);
    // Exclude the diagonal and absent classes from the nearest-centre search.
    let eye = Tensor::<2, Int>::eye(c, &dist2.device()).bool();
    let absent_col = present.clone().bool_not().expand([c, c]);
    let big = 1e30f32;
    let masked = dist2.mask_fill(eye, big).mask_fill(absent_col, big);
    let nearest2 = masked.min_dim(1); // [c, 1]: squared distance to nearest other centre
    // d_c² = (½·min‖z_c − z_c'‖)² = ¼·nearest²; no other class present → no penalty.
    let radius2 = (nearest2.clone() * 0.25).mask_fill(nearest2.greater_elem(big * 0.5), big); // [c, 1]
    let z = onehot.clone().matmul(centres); // [b, d]
    let r2 = onehot.matmul(radius2).reshape([b]); // [b]
    let dist = (features - z).powf_scalar(2.0).sum_dim(1).reshape([b]); // [b]
    (dist - r2).clamp_min(0.0).mean() * 0.5
}

/// `CE + λ·PE`, or with `soft` targets (`[b, 7]`) and [`LossConfig::distill`]
/// `(1 − α)·CE + α·KD + λ·PE`.
pub fn joint_loss(logits: Tensor<2>, features: Tensor<2>, targets: Tensor<1, Int>, soft: Option<Tensor<2>>, cfg: &LossConfig) -> JointLoss {
    let device = logits.device();
    let ce = CrossEntropyLossConfig::new().with_smoothing(cfg.label_smoothing.filter(|&a| a > 0.0)).init(&device).forward(logits.clone(), targets.clone());
    let ce_value: f32 = ce.clone().into_scalar();
    let supervised = match (soft, cfg.distill) {
        (Some(q), Some((weight, temperature))) => ce * (1.0 - weight) + super::distill::distillation_loss(logits, q, temperature) * weight,
        _ => ce,
    };
    let (total, pe_value) = if cfg.lambda == 0.0 {
        (supervised, 0.0)
    } else {
        let pe = intra_class_penalty(features, targets);
        let pe_value: f32 = pe.clone().into_scalar();
        (supervised + pe * cfg.lambda, pe_value)
    };
    let value: f32 = total.clone().into_scalar();
    JointLoss { total, value, ce: ce_value, pe: pe_value }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    /// Hand-computed example (1-D features for readability, padded to 2-D):
    /// class 0: f = 0, 2 → z₀ = 1; class 3: f = 10 → z₃ = 10; d₀ = d₃ = ½·9 = 4.5.
    /// Distances² to own centre: 1, 1, 0 — all inside d² = 20.25, so PE = 0.
    /// Moving the class-0 samples to −5 and 7 (z₀ = 1, ‖f−z‖² = 36 each, z₃ = 10, d₀ = 4.5):
    /// PE = ½·mean(36 − 20.25, 36 − 20.25, 0) = ½·(31.5/3) = 5.25 and
    /// ∂PE/∂f = ½·(1/3)·2(f − z) = (f − z)/3 for the two outside samples (eq. 29, with our
    /// mean over the batch), 0 for the third.
    #[test]
    fn penalty_value_and_gradient_match_hand_computation() {
        let device = Device::default();
        let targets = Tensor::<1, Int>::from_data(TensorData::from([0i64, 0, 3]), &device);
        let inside = Tensor::<2>::from_data(TensorData::from([[0.0f32, 0.0], [2.0, 0.0], [10.0, 0.0]]), &device);
        let pe: f32 = intra_class_penalty(inside, targets.clone()).into_scalar();
        assert!(pe.abs() < 1e-5, "all samples inside their radius, got {pe}");

        let ad = device.autodiff();
        let f = Tensor::<2>::from_data(TensorData::from([[-5.0f32, 0.0], [7.0, 0.0], [10.0, 0.0]]), &ad).require_grad();
        let targets = Tensor::<1, Int>::from_data(TensorData::from([0i64, 0, 3]), &ad);
        let pe = intra_class_penalty(f.clone(), targets);
        let value: f32 = pe.clone().into_scalar();
        assert!((value - 5.25).abs() < 1e-4, "PE = {value}");
        let grads = pe.backward();
        let g: Vec<f32> = f.grad(&grads).expect("gradient").into_data().try_into_vec().unwrap();
        let want = [-2.0f32, 0.0, 2.0, 0.0, 0.0, 0.0];
        for (a, b) in g.iter().zip(want) {
            assert!((a - b).abs() < 1e-4, "grad {g:?} != {want:?}");
        }
    }

    #[test]
    fn a_single_class_batch_is_not_penalised() {
        let device = Device::default();
        let targets = Tensor::<1, Int>::from_data(TensorData::from([2i64, 2]), &device);
        let f = Tensor::<2>::from_data(TensorData::from([[0.0f32, 0.0], [100.0, 0.0]]), &device);
        let pe: f32 = intra_class_penalty(f, targets).into_scalar();
        assert_eq!(pe, 0.0);
    }

    #[test]
    fn lambda_zero_is_plain_cross_entropy() {
        let device = Device::default();
        let logits = Tensor::<2>::from_data(TensorData::from([[2.0f32, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]), &device);
        let f = Tensor::<2>::zeros([1, 4], &device);
        let t = Tensor::<1, Int>::from_data(TensorData::from([0i64]), &device);
        let l = joint_loss(logits, f, t, None, &LossConfig { lambda: 0.0, label_smoothing: None, distill: None });
        let want = -(2.0f32.exp() / (2.0f32.exp() + 6.0)).ln();
        assert!((l.ce - want).abs() < 1e-5);
        assert_eq!(l.pe, 0.0);
    }

    #[test]
    fn distillation_mixes_the_label_and_the_soft_target_terms() {
        let device = Device::default();
        let logits = || Tensor::<2>::from_data(TensorData::from([[2.0f32, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]), &device);
        let f = Tensor::<2>::zeros([1, 4], &device);
        let t = Tensor::<1, Int>::from_data(TensorData::from([0i64]), &device);
        let q = Tensor::<2>::from_data(TensorData::from([[0.1f32, 0.1, 0.1, 0.1, 0.1, 0.1, 0.4]]), &device);
        let cfg = LossConfig { lambda: 0.0, label_smoothing: None, distill: Some((0.7, 2.0)) };
        let l = joint_loss(logits(), f.clone(), t.clone(), Some(q.clone()), &cfg);
        let kd: f32 = super::super::distill::distillation_loss(logits(), q, 2.0).into_scalar();
        assert!(kd > 0.0);
        assert!((l.value - (0.3 * l.ce + 0.7 * kd)).abs() < 1e-5, "{} vs {}", l.value, 0.3 * l.ce + 0.7 * kd);
        // Without targets the term is absent.
        let plain = joint_loss(logits(), f, t, None, &cfg);
        assert!((plain.value - plain.ce).abs() < 1e-6);
    }
}
