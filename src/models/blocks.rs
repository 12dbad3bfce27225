//! Small building blocks shared by the model zoo.
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor, activation::relu};

/// A `k×k` convolution with symmetric padding `k/2` (or `pad`), optional bias.
pub fn conv(c_in: usize, c_out: usize, k: usize, stride: usize, bias: bool, device: &Device) -> Conv2d {
    conv_padded(c_in, c_out, k, stride, k / 2, bias, device)
}

/// A `k×k` convolution with explicit symmetric padding.
pub fn conv_padded(c_in: usize, c_out: usize, k: usize, stride: usize, pad: usize, bias: bool, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(bias)
        .init(device)
}

/// A depthwise `3×3` convolution (one group per channel).
pub fn depthwise(channels: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([channels, channels], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_groups(channels)
        .with_bias(false)
        .init(device)
}

/// Convolution followed by batch normalisation (no activation).
#[derive(Module, Debug)]
pub struct ConvBn {
    /// The convolution (no bias).
    pub conv: Conv2d,
    /// Its batch norm.
    pub bn: BatchNorm,
}

impl ConvBn {
    /// `k×k` conv (padding k/2, no bias) + BN.
    pub fn new(c_in: usize, c_out: usize, k: usize, stride: usize, device: &Device) -> ConvBn {
        ConvBn { conv: conv(c_in, c_out, k, stride, false, device), bn: BatchNormConfig::new(c_out).init(device) }
    }
    /// conv → BN.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(self.conv.forward(x))
    }
    /// conv → BN → ReLU.
    pub fn forward_relu(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.forward(x))
    }
}

/// Global average pooling `[N, C, H, W] → [N, C]`.
pub fn global_pool(x: Tensor<4>) -> Tensor<2> {
    let [n, c, _, _] = x.dims();
    burn::tensor::module::adaptive_avg_pool2d(x, [1, 1]).reshape([n, c])
}
