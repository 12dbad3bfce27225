//! Wide ResNet WRN-d-k (Zagoruyko & Komodakis 2016): pre-activation blocks
//! BN → ReLU → Conv3×3 → BN → ReLU → Conv3×3, (d−4)/6 blocks per stage, widths 16k/32k/64k,
//! 1×1 conv shortcut where the width changes; BN → ReLU → pool → Linear at the end.
use super::blocks::conv;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor, activation::relu};

/// Pre-activation wide block.
#[derive(Module, Debug)]
pub struct WideBlock {
    bn1: BatchNorm,
    conv1: Conv2d,
    bn2: BatchNorm,
    conv2: Conv2d,
    shortcut: Option<Conv2d>,
}

impl WideBlock {
    fn new(c_in: usize, c_out: usize, stride: usize, device: &Device) -> WideBlock {
        WideBlock {
            bn1: BatchNormConfig::new(c_in).init(device),
            conv1: conv(c_in, c_out, 3, stride, false, device),
            bn2: BatchNormConfig::new(c_out).init(device),
            conv2: conv(c_out, c_out, 3, 1, false, device),
            shortcut: (c_in != c_out || stride != 1).then(|| conv(c_in, c_out, 1, stride, false, device)),
        }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let pre = relu(self.bn1.forward(x.clone()));
        let out = self.conv2.forward(relu(self.bn2.forward(self.conv1.forward(pre.clone()))));
        match &self.shortcut {
            Some(s) => out + s.forward(pre),
            None => out + x,
        }
    }
}

/// A run of wide blocks.
#[derive(Module, Debug)]
pub struct WideStage {
    blocks: Vec<WideBlock>,
}

/// WRN-d-k.
#[derive(Module, Debug)]
pub struct WideResNet {
    stem: Conv2d,
    stages: Vec<WideStage>,
    bn: BatchNorm,
    fc: Linear,
}

impl WideResNet {
    /// WRN-`depth`-`widen`; `(depth − 4) % 6 == 0` is checked by [`super::Arch::validate`].
    pub fn new(depth: usize, widen: usize, in_channels: usize, classes: usize, device: &Device) -> WideResNet {
        let n = (depth - 4) / 6;
        let widths = [16 * widen, 32 * widen, 64 * widen];
        let mut c = 16;
        let stages = widths
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let blocks = (0..n)
                    .map(|j| {
                        let b = WideBlock::new(c, w, if i > 0 && j == 0 { 2 } else { 1 }, device);
                        c = w;
                        b
                    })
                    .collect();
                WideStage { blocks }
            })
            .collect();
        WideResNet {
            stem: conv(in_channels, 16, 3, 1, false, device),
            stages,
            bn: BatchNormConfig::new(c).init(device),
            fc: LinearConfig::new(c, classes).init(device),
        }
    }
}

impl super::Backbone for WideResNet {
    /// Output of every stage from stage `from` on (pre-activation; the last one after the final BN → ReLU).
    fn stages_between(&self, x: Tensor<4>, from: usize, to: usize) -> Vec<Tensor<4>> {
        let mut x = if from > 0 { x } else { self.stem.forward(x) };
        let mut out = Vec::with_capacity(self.stages.len());
        for (i, stage) in self.stages.iter().enumerate().skip(from).take(to.saturating_sub(from)) {
            for block in &stage.blocks {
                x = block.forward(x);
            }
            if i + 1 == self.stages.len() {
                x = relu(self.bn.forward(x));
            }
            out.push(x.clone());
        }
        out
    }

    fn classifier(&self) -> &Linear {
        &self.fc
    }
    fn classifier_mut(&mut self) -> &mut Linear {
        &mut self.fc
    }
}

/// The description of a WRN-`depth`-`widen`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WrnSpec {
    /// Depth 6n+4 (10, 16, 22, 28, 40).
    pub depth: usize,
    /// Widening factor k ≥ 1.
    pub widen: usize,
}

impl super::Spec for WrnSpec {
    fn validate(&self) -> crate::Result<()> {
        crate::error::ensure(self.depth >= 10 && (self.depth - 4).is_multiple_of(6), "wrn.depth", self.depth, "WRN depth must be 6n+4 (10, 16, 22, 28, 40)")?;
        crate::error::ensure(self.widen > 0, "wrn.widen", self.widen, "must be ≥ 1")
    }
    fn build(&self, input: [usize; 3], classes: usize, device: &Device) -> crate::Result<super::Net> {
        Ok(super::Net::Wrn(WideResNet::new(self.depth, self.widen, input[0], classes, device)))
    }
    fn label(&self) -> String {
        format!("WRN-{}-{}", self.depth, self.widen)
    }
    /// `wrn-D-K`.
    fn parse(name: &str) -> Option<crate::Result<Self>> {
        match name.split('-').collect::<Vec<_>>().as_slice() {
            ["wrn", d, k] => Some(super::number(name, d).and_then(|depth| super::number(name, k).map(|widen| WrnSpec { depth, widen }))),
            _ => None,
        }
    }
}
