//! MGD's own parts (Yang et al., ECCV 2022, arXiv 2205.01529): the random mask (paper Eq. 1)
//! and the masked generative loss (Eq. 2–3); the method that applies them is
//! [`super::FeatureDistill`].
use super::head::FeatureHead;
use crate::losses;
use crate::rng::Rng;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Where MGD's random mask drops features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MaskKind {
    /// Whole channels (`N×C×1×1`): the official classification setting.
    Channel,
    /// Spatial positions (`N×1×H×W`): the official detection/segmentation setting.
    Pixel,
}

/// The random mask M: 0 with probability λ (R < λ), else 1; `[N, C, 1, 1]` or `[N, 1, H, W]`.
pub fn random_mask(kind: MaskKind, [n, c, h, w]: [usize; 4], ratio: f64, rng: &mut Rng, device: &Device) -> Tensor<4> {
    let shape = match kind {
        MaskKind::Channel => [n, c, 1, 1],
        MaskKind::Pixel => [n, 1, h, w],
    };
    let values: Vec<f32> = (0..shape.iter().product::<usize>()).map(|_| if rng.uniform() < ratio { 0.0 } else { 1.0 }).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// MGD's distillation loss for one stage (before α): Σ (T − G(f_align(S) ⊙ M))² / N.
pub fn mgd_loss(head: &FeatureHead, student: Tensor<4>, teacher: Tensor<4>, mask: Tensor<4>) -> Tensor<1> {
    let n = teacher.dims()[0];
    let generated = head.generate(head.align(student) * mask);
    losses::mse_sum(generated, teacher, n)
}

