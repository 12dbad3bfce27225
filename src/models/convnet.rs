//! The DC ConvNet (Zhao & Bilen; official `networks.py::ConvNet`): `depth` blocks of
//! Conv3×3(width, pad 1) → instance norm → ReLU → AvgPool 2, then Linear. For 28×28 inputs the
//! first conv pads by 3 so the feature map is 32×32, as the official code does.
use super::blocks::conv_padded;
use super::norm::{Norm, NormImpl};
use crate::ops::norm::Tail;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

/// DC ConvNet-`depth` of `width` channels.
#[derive(Module, Debug)]
pub struct ConvNet {
    convs: Vec<Conv2d>,
    norms: Vec<Norm>,
    /// The blocks' 2×2 average pooling, now applied inside [`Norm::forward_tail`] (fused with
    /// the norm on flex); kept as a field so saved records keep their shape.
    pool: AvgPool2d,
    fc: Linear,
}

impl ConvNet {
    /// A ConvNet for `[c, h, w]` inputs.
    pub fn new(width: usize, depth: usize, norm: NormImpl, [c, h, w]: [usize; 3], classes: usize, device: &Device) -> ConvNet {
        let (mut h, mut w) = (h, w);
        let first_pad = if h == 28 && w == 28 { 3 } else { 1 };
        if first_pad == 3 {
            (h, w) = (32, 32);
        }
        let mut convs = Vec::with_capacity(depth);
        let mut norms = Vec::with_capacity(depth);
        for d in 0..depth {
            let c_in = if d == 0 { c } else { width };
            convs.push(conv_padded(c_in, width, 3, 1, if d == 0 { first_pad } else { 1 }, true, device));
            norms.push(Norm::instance(norm, width, device));
            (h, w) = (h / 2, w / 2);
        }
        ConvNet {
            convs,
            norms,
            pool: AvgPool2dConfig::new([2, 2]).init(),
            fc: LinearConfig::new(width * h * w, classes).init(device),
        }
    }

    /// The layers, read by functional forward passes (dataset condensation's gradient matching).
    pub fn layers(&self) -> (&[Conv2d], &[Norm], &Linear) {
        (&self.convs, &self.norms, &self.fc)
    }
}

impl super::Backbone for ConvNet {
    /// Output of every block from block `from` on.
    fn stages_between(&self, x: Tensor<4>, from: usize, to: usize) -> Vec<Tensor<4>> {
        let mut out = Vec::with_capacity(self.convs.len());
        let mut x = x;
        for (conv, norm) in self.convs.iter().zip(&self.norms).skip(from).take(to.saturating_sub(from)) {
            x = norm.forward_tail(crate::ops::conv::forward(conv, x), Tail::RELU_POOL);
            out.push(x.clone());
        }
        out
    }

    /// The last block's map, flattened (the official head reads every position).
    fn embed(&self, last: Tensor<4>) -> Tensor<2> {
        last.flatten(1, 3)
    }
    fn classifier(&self) -> &Linear {
        &self.fc
    }
    fn classifier_mut(&mut self) -> &mut Linear {
        &mut self.fc
    }
}

/// The description of a DC ConvNet: `depth` conv blocks of `width` channels.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConvNetSpec {
    /// Channels of every block (official 128).
    pub width: usize,
    /// Conv blocks (official 3).
    pub depth: usize,
    /// Instance-norm implementation.
    pub norm: NormImpl,
}

impl super::Spec for ConvNetSpec {
    fn validate(&self) -> crate::Result<()> {
        crate::error::ensure(self.width > 0 && self.depth > 0, "convnet.width/depth", self.width.min(self.depth), "must be ≥ 1")
    }
    fn build(&self, input: [usize; 3], classes: usize, device: &Device) -> crate::Result<super::Net> {
        // each block halves the map (28×28 is padded to 32×32 first); 0 pixels cannot pool
        let side = if input[1..] == [28, 28] { 32 } else { input[1].min(input[2]) };
        if side >> self.depth.min(63) == 0 {
            let most = usize::BITS - 1 - side.max(1).leading_zeros();
            return Err(crate::Error::invalid("convnet.depth", self.depth, format!("{} pooling blocks shrink {}×{} inputs to nothing; use depth ≤ {most}", self.depth, input[1], input[2])));
        }
        Ok(super::Net::ConvNet(ConvNet::new(self.width, self.depth, self.norm, input, classes, device)))
    }
    fn label(&self) -> String {
        format!("ConvNet-{} (w{})", self.depth, self.width)
    }
    /// `convnet`, `convnet-D`, `convnet-D-wW` (width 128 unless given).
    fn parse(name: &str) -> Option<crate::Result<Self>> {
        let spec = |depth, width| ConvNetSpec { width, depth, norm: NormImpl::Lean };
        match name.split('-').collect::<Vec<_>>().as_slice() {
            ["convnet"] => Some(Ok(spec(3, 128))),
            ["convnet", d] => Some(super::number(name, d).map(|d| spec(d, 128))),
            ["convnet", d, w] if w.starts_with('w') => Some(super::number(name, d).and_then(|d| super::number(name, &w[1..]).map(|w| spec(d, w)))),
            _ => None,
        }
    }
}
