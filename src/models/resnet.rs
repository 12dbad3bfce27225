//! ResNets with a CIFAR stem (3×3 conv, no max-pool), BasicBlocks and a 1×1-conv + BN projection
//! shortcut where the shape changes (option B, as in the CRD / RepDistiller model zoo):
//! - CIFAR ResNet-(6n+2): widths 16/32/64 (He et al. 2016, §4.2); the ×4 variants use 32 for
//!   the stem and 64/128/256 for the stages (RepDistiller's `resnet8x4`, `resnet32x4`).
//! - ResNet-18/34 with a CIFAR stem: widths 64–512, blocks `[2,2,2,2]` / `[3,4,6,3]`; batch norm, or
//!   instance norm everywhere (`resnet18-in`, the official DC/DSA/DM `ResNet18`).
use super::blocks::ConvBn;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, activation::relu};

/// Two 3×3 convs with a residual connection.
#[derive(Module, Debug)]
pub struct BasicBlock {
    a: ConvBn,
    b: ConvBn,
    shortcut: Option<ConvBn>,
}

impl BasicBlock {
    fn new(c_in: usize, c_out: usize, stride: usize, norm: ResNorm, device: &Device) -> BasicBlock {
        let cb = |a, b, k, s| norm.conv(a, b, k, s, device);
        let shortcut = (stride != 1 || c_in != c_out).then(|| cb(c_in, c_out, 1, stride));
        BasicBlock { a: cb(c_in, c_out, 3, stride), b: cb(c_out, c_out, 3, 1), shortcut }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = self.b.forward(self.a.forward_relu(x.clone()));
        let skip = match &self.shortcut {
            Some(s) => s.forward(x),
            None => x,
        };
        relu(out + skip)
    }
}

/// A run of blocks at one resolution.
#[derive(Module, Debug)]
pub struct Stage {
    blocks: Vec<BasicBlock>,
}

/// The norm layer of a ResNet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ResNorm {
    /// Batch norm (He et al.; RepDistiller; the official DC code's `ResNet18BN`).
    #[default]
    Batch,
    /// Instance norm, `GroupNorm(C, C)` (the official DC/DSA/DM code's `ResNet18`: batch
    /// statistics mean little when a condensed set has 10 images).
    Instance,
}

impl ResNorm {
    fn conv(self, c_in: usize, c_out: usize, k: usize, stride: usize, device: &Device) -> ConvBn {
        match self {
            ResNorm::Batch => ConvBn::new(c_in, c_out, k, stride, device),
            ResNorm::Instance => ConvBn::instance(c_in, c_out, k, stride, device),
        }
    }
}

/// ResNet with a CIFAR stem.
#[derive(Module, Debug)]
pub struct ResNet {
    stem: ConvBn,
    stages: Vec<Stage>,
    fc: Linear,
}

impl ResNet {
    /// `blocks[i]` BasicBlocks of `widths[i]` channels per stage; the first stage keeps the
    /// resolution, later stages halve it.
    pub fn new(in_channels: usize, stem: usize, widths: &[usize], blocks: &[usize], classes: usize, device: &Device) -> ResNet {
        ResNet::with_norm(in_channels, stem, widths, blocks, classes, ResNorm::Batch, device)
    }

    /// [`ResNet::new`] with the given norm layer.
    #[allow(clippy::too_many_arguments)]
    pub fn with_norm(in_channels: usize, stem: usize, widths: &[usize], blocks: &[usize], classes: usize, norm: ResNorm, device: &Device) -> ResNet {
        let mut c = stem;
        let stages = widths
            .iter()
            .zip(blocks)
            .enumerate()
            .map(|(i, (&w, &n))| {
                let blocks = (0..n)
                    .map(|j| {
                        let stride = if i > 0 && j == 0 { 2 } else { 1 };
                        let b = BasicBlock::new(c, w, stride, norm, device);
                        c = w;
                        b
                    })
                    .collect();
                Stage { blocks }
            })
            .collect();
        ResNet { stem: norm.conv(in_channels, stem, 3, 1, device), stages, fc: LinearConfig::new(c, classes).init(device) }
    }
}

impl super::Backbone for ResNet {
    /// Output of every stage from stage `from` on (the stem is not a stage).
    fn stages_between(&self, x: Tensor<4>, from: usize, to: usize) -> Vec<Tensor<4>> {
        let mut x = if from > 0 { x } else { self.stem.forward_relu(x) };
        let mut out = Vec::with_capacity(self.stages.len());
        for stage in self.stages.iter().skip(from).take(to.saturating_sub(from)) {
            for block in &stage.blocks {
                x = block.forward(x);
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

/// The description of a CIFAR ResNet-(6n+2), plain or ×4 wide.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResNetSpec {
    /// Depth 6n+2 (8, 14, 20, 32, 44, 56, 110).
    pub depth: usize,
    /// The 4× wider RepDistiller variant (`resnet8x4`, `resnet32x4`).
    pub x4: bool,
}

impl super::Spec for ResNetSpec {
    fn validate(&self) -> crate::Result<()> {
        crate::error::ensure(self.depth >= 8 && (self.depth - 2).is_multiple_of(6), "resnet.depth", self.depth, "CIFAR ResNet depth must be 6n+2 (8, 14, 20, 32, 44, 56, 110)")
    }
    fn build(&self, input: [usize; 3], classes: usize, device: &Device) -> crate::Result<super::Net> {
        let n = (self.depth - 2) / 6;
        let (stem, widths) = if self.x4 { (32, [64, 128, 256]) } else { (16, [16, 32, 64]) };
        Ok(super::Net::ResNet(ResNet::new(input[0], stem, &widths, &[n; 3], classes, device)))
    }
    fn label(&self) -> String {
        format!("ResNet-{}{}", self.depth, if self.x4 { "x4" } else { "" })
    }
    /// `resnetN`, `resnetNx4` (not `resnet18` / `resnet34`, see [`ResNetImageNetSpec`]).
    fn parse(name: &str) -> Option<crate::Result<Self>> {
        let rest = name.strip_prefix("resnet")?;
        if matches!(rest, "18" | "34" | "18-in" | "34-in") {
            return None;
        }
        Some(match rest.strip_suffix("x4") {
            Some(d) => super::number(name, d).map(|depth| ResNetSpec { depth, x4: true }),
            None => super::number(name, rest).map(|depth| ResNetSpec { depth, x4: false }),
        })
    }
}

/// The description of ResNet-18 / ResNet-34 with a CIFAR stem.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResNetImageNetSpec {
    /// 18 or 34.
    pub depth: usize,
    /// Batch norm (`resnet18`) or instance norm (`resnet18-in`, the official DC/DSA `ResNet18`).
    #[serde(default)]
    pub norm: ResNorm,
}

impl super::Spec for ResNetImageNetSpec {
    fn validate(&self) -> crate::Result<()> {
        crate::error::ensure(self.depth == 18 || self.depth == 34, "resnet.depth", self.depth, "expected 18 or 34")
    }
    fn build(&self, input: [usize; 3], classes: usize, device: &Device) -> crate::Result<super::Net> {
        let blocks: &[usize] = if self.depth == 18 { &[2, 2, 2, 2] } else { &[3, 4, 6, 3] };
        Ok(super::Net::ResNet(ResNet::with_norm(input[0], 64, &[64, 128, 256, 512], blocks, classes, self.norm, device)))
    }
    fn label(&self) -> String {
        let norm = if self.norm == ResNorm::Instance { " (IN)" } else { "" };
        format!("ResNet-{}{norm}", self.depth)
    }
    /// `resnet18`, `resnet34` (batch norm), `resnet18-in`, `resnet34-in` (instance norm).
    fn parse(name: &str) -> Option<crate::Result<Self>> {
        let (base, norm) = match name.strip_suffix("-in") {
            Some(b) => (b, ResNorm::Instance),
            None => (name, ResNorm::Batch),
        };
        match base {
            "resnet18" => Some(Ok(ResNetImageNetSpec { depth: 18, norm })),
            "resnet34" => Some(Ok(ResNetImageNetSpec { depth: 34, norm })),
            _ => None,
        }
    }
}
