//! FitNets (Romero et al., ICLR 2015): the student's stage output, passed through a learned
//! regressor, imitates the teacher's hint layer. Here the regressor is MGD's 1×1 align conv and
//! the distance is MGD's Σ(·)²/N, so FitNet is exactly MGD without mask and generation block and
//! the same α compares them (the paper's ½‖·‖² differs only by a constant folded into α).
use super::mgd::{FeatureBuilder, FeatureHead, FeatureLoss};
use crate::losses;
use burn::tensor::Tensor;

/// Σ (T − f_align(S))² / N (before α).
pub fn fitnet_loss(head: &FeatureHead, student: Tensor<4>, teacher: Tensor<4>) -> Tensor<1> {
    let n = teacher.dims()[0];
    losses::mse_sum(head.align(student), teacher, n)
}

/// FitNet hints.
pub struct FitNet;

impl FitNet {
    /// α = 7e-5 (MGD's scale, so the two compare at equal weight), last stage.
    pub fn builder() -> FeatureBuilder {
        FeatureBuilder::new(FeatureLoss::FitNet { alpha: 7e-5 })
    }
}
