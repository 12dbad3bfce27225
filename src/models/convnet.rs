//! The DC ConvNet (Zhao & Bilen; official `networks.py::ConvNet`): `depth` blocks of
//! Conv3×3(width, pad 1) → instance norm → ReLU → AvgPool 2, then Linear. For 28×28 inputs the
//! first conv pads by 3 so the feature map is 32×32, as the official code does.
use super::blocks::conv_padded;
use super::norm::{Norm, NormImpl};
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, activation::relu};

/// DC ConvNet-`depth` of `width` channels.
#[derive(Module, Debug)]
pub struct ConvNet {
    convs: Vec<Conv2d>,
    norms: Vec<Norm>,
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
    /// Output of every block.
    fn stages(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let mut out = Vec::with_capacity(self.convs.len());
        let mut x = x;
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            x = self.pool.forward(relu(norm.forward(conv.forward(x))));
            out.push(x.clone());
        }
        out
    }

    /// Logits from the last block's output.
    fn head(&self, last: Tensor<4>) -> Tensor<2> {
        self.fc.forward(last.flatten(1, 3))
    }
}
