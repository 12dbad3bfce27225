//! Instance normalisation for the DC ConvNet.
//!
//! The official DatasetCondensation code builds "instancenorm" as
//! `nn.GroupNorm(channels, channels, affine=True)`. burn's `GroupNorm` computes the same thing;
//! [`InstanceNorm`] is a leaner formulation for the training hot path: one reshape to
//! `[N·C, H·W]`, mean and mean of squares taken in the same pass (`var = E[x²] − E[x]²`), and the
//! affine folded into one scale and one shift per (sample, channel), so the autodiff graph holds
//! fewer full-size intermediates. `benches/step.rs` compares both against PyTorch.
use burn::module::{Module, Param};
use crate::ops::norm::Tail;
use burn::nn::{GroupNorm, GroupNormConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Which implementation of instance norm a ConvNet uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NormImpl {
    /// distillery's [`InstanceNorm`] (default).
    #[default]
    Lean,
    /// burn's `GroupNorm(C, C)`, the literal transcription of the official code.
    BurnGroupNorm,
}

/// Per-(sample, channel) normalisation over H×W with a learned per-channel affine.
#[derive(Module, Debug)]
pub struct InstanceNorm {
    /// Scale γ, one per channel (init 1).
    pub gamma: Param<Tensor<1>>,
    /// Shift β, one per channel (init 0).
    pub beta: Param<Tensor<1>>,
    /// ε added to the variance.
    pub epsilon: f64,
}

impl InstanceNorm {
    /// γ = 1, β = 0, ε = 1e-5 (PyTorch's GroupNorm default).
    pub fn new(channels: usize, device: &Device) -> InstanceNorm {
        InstanceNorm {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            epsilon: 1e-5,
        }
    }

    /// y = γ·(x − μ)/√(σ² + ε) + β, statistics per sample and channel (fused on flex:
    /// [`crate::ops::norm`]).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_tail(x, Tail::NONE)
    }

    /// The norm, then `tail` (ReLU, 2×2 average pooling) in the same fused op on flex.
    pub fn forward_tail(&self, x: Tensor<4>, tail: Tail) -> Tensor<4> {
        crate::ops::norm::instance_norm(x, self.gamma.val(), self.beta.val(), self.epsilon, tail)
    }
}

/// The instance norm of burn's own tensor ops (it lives with the fused op it is the reference
/// of: the model layer uses the ops, never the other way round).
pub use crate::ops::norm::composed_instance_norm as instance_norm;

/// A norm layer of either implementation.
#[derive(Module, Debug)]
pub enum Norm {
    /// distillery's lean instance norm.
    Lean(InstanceNorm),
    /// burn's GroupNorm(C, C).
    Group(GroupNorm),
}

impl Norm {
    /// An instance norm over `channels`.
    pub fn instance(kind: NormImpl, channels: usize, device: &Device) -> Norm {
        match kind {
            NormImpl::Lean => Norm::Lean(InstanceNorm::new(channels, device)),
            NormImpl::BurnGroupNorm => Norm::Group(GroupNormConfig::new(channels, channels).init(device)),
        }
    }
    /// The affine (γ, β) of the norm.
    pub fn affine(&self) -> (Tensor<1>, Tensor<1>) {
        match self {
            Norm::Lean(n) => (n.gamma.val(), n.beta.val()),
            Norm::Group(g) => {
                let c = g.num_channels;
                let device = &g.devices()[0];
                (
                    g.gamma.as_ref().map(|p| p.val()).unwrap_or_else(|| Tensor::ones([c], device)),
                    g.beta.as_ref().map(|p| p.val()).unwrap_or_else(|| Tensor::zeros([c], device)),
                )
            }
        }
    }

    /// Applies the norm.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_tail(x, Tail::NONE)
    }

    /// The norm, then `tail` (fused on flex for [`Norm::Lean`]).
    pub fn forward_tail(&self, x: Tensor<4>, tail: Tail) -> Tensor<4> {
        match self {
            Norm::Lean(n) => n.forward_tail(x, tail),
            Norm::Group(n) => crate::ops::norm::apply_tail(n.forward(x), tail),
        }
    }
}
