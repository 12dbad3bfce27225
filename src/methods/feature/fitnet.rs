//! FitNets (Romero et al., ICLR 2015): the student's stage output, passed through a learned
//! regressor, imitates the teacher's hint layer. Here the regressor is the shared 1×1 align conv
//! of [`FeatureHead`] and the distance is MGD's Σ(·)²/N, so FitNet is exactly MGD without mask and
//! generation block and the same α compares them (the paper's ½‖·‖² (Eq. 3) differs only by a
//! constant folded into α).
use super::head::FeatureHead;
use crate::losses;
use burn::tensor::Tensor;

/// Σ (T − f_align(S))² / N (before α).
pub fn fitnet_loss(head: &FeatureHead, student: Tensor<4>, teacher: Tensor<4>) -> Tensor<1> {
    let n = teacher.dims()[0];
    losses::mse_sum(head.align(student), teacher, n)
}
