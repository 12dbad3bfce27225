//! MobileNetV2 (Sandler et al. 2018) for 32×32 inputs: stem and the second bottleneck group use
//! stride 1 instead of 2 (the usual CIFAR adaptation), inverted residuals with ReLU6, a final
//! 1×1 conv to 1280 channels. Stages are the outputs at each resolution (32, 16, 8, 4 px).
use super::blocks::{ConvBn, depthwise};
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor, activation::relu6};

/// (expansion t, channels c, repeats n, stride s) per bottleneck group, CIFAR strides.
const GROUPS: [(usize, usize, usize, usize); 7] =
    [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];
/// Index of the last group of each stage (resolution).
const STAGE_ENDS: [usize; 4] = [1, 2, 4, 6];

/// Expand 1×1 → depthwise 3×3 → project 1×1, residual when shapes match.
#[derive(Module, Debug)]
pub struct InvertedResidual {
    expand: Option<ConvBn>,
    dw: Conv2d,
    dw_bn: BatchNorm,
    project: ConvBn,
    residual: bool,
}

impl InvertedResidual {
    fn new(c_in: usize, c_out: usize, stride: usize, t: usize, device: &Device) -> InvertedResidual {
        let hidden = c_in * t;
        InvertedResidual {
            expand: (t != 1).then(|| ConvBn::new(c_in, hidden, 1, 1, device)),
            dw: depthwise(hidden, stride, device),
            dw_bn: BatchNormConfig::new(hidden).init(device),
            project: ConvBn::new(hidden, c_out, 1, 1, device),
            residual: stride == 1 && c_in == c_out,
        }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = match &self.expand {
            Some(e) => relu6(e.forward(x.clone())),
            None => x.clone(),
        };
        let h = relu6(self.dw_bn.forward(self.dw.forward(h)));
        let out = self.project.forward(h);
        if self.residual { out + x } else { out }
    }
}

/// Blocks of one resolution.
#[derive(Module, Debug)]
pub struct MobileStage {
    blocks: Vec<InvertedResidual>,
}

/// MobileNetV2 with a width multiplier.
#[derive(Module, Debug)]
pub struct MobileNetV2 {
    stem: ConvBn,
    stages: Vec<MobileStage>,
    last: ConvBn,
    fc: Linear,
}

fn scaled(c: usize, mult: f64) -> usize {
    // round to a multiple of 8 as in the reference implementation, never below 8
    (((c as f64 * mult) / 8.0).round() as usize * 8).max(8)
}

impl MobileNetV2 {
    /// MobileNetV2 ×`mult` for `in_channels` inputs.
    pub fn new(mult: f64, in_channels: usize, classes: usize, device: &Device) -> MobileNetV2 {
        let mut c = scaled(32, mult);
        let stem = ConvBn::new(in_channels, c, 3, 1, device);
        let mut stages = Vec::new();
        let mut blocks = Vec::new();
        for (g, &(t, ch, n, s)) in GROUPS.iter().enumerate() {
            let out = scaled(ch, mult);
            for i in 0..n {
                blocks.push(InvertedResidual::new(c, out, if i == 0 { s } else { 1 }, t, device));
                c = out;
            }
            if STAGE_ENDS.contains(&g) {
                stages.push(MobileStage { blocks: std::mem::take(&mut blocks) });
            }
        }
        let last_c = if mult > 1.0 { scaled(1280, mult) } else { 1280 };
        MobileNetV2 { stem, stages, last: ConvBn::new(c, last_c, 1, 1, device), fc: LinearConfig::new(last_c, classes).init(device) }
    }
}

impl super::Backbone for MobileNetV2 {
    /// Output of every resolution stage from stage `from` on; the last one after the final 1×1 conv.
    fn stages_between(&self, x: Tensor<4>, from: usize, to: usize) -> Vec<Tensor<4>> {
        let mut x = if from > 0 { x } else { relu6(self.stem.forward(x)) };
        let mut out = Vec::with_capacity(self.stages.len());
        for (i, stage) in self.stages.iter().enumerate().skip(from).take(to.saturating_sub(from)) {
            for block in &stage.blocks {
                x = block.forward(x);
            }
            if i + 1 == self.stages.len() {
                x = relu6(self.last.forward(x));
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

/// The description of a MobileNetV2 with a width multiplier.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MobileNetV2Spec {
    /// Width multiplier (> 0).
    pub width_mult: f64,
}

impl super::Spec for MobileNetV2Spec {
    fn validate(&self) -> crate::Result<()> {
        crate::error::ensure(self.width_mult > 0.0 && self.width_mult.is_finite(), "mobilenet.width_mult", self.width_mult, "must be > 0")
    }
    fn build(&self, input: [usize; 3], classes: usize, device: &Device) -> crate::Result<super::Net> {
        Ok(super::Net::MobileNet(MobileNetV2::new(self.width_mult, input[0], classes, device)))
    }
    fn label(&self) -> String {
        format!("MobileNetV2 ×{}", self.width_mult)
    }
    /// `mobilenetv2`.
    fn parse(name: &str) -> Option<crate::Result<Self>> {
        (name == "mobilenetv2").then_some(Ok(MobileNetV2Spec { width_mult: 1.0 }))
    }
}
