//! Small building blocks shared by the model zoo.
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};

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

/// Convolution followed by batch normalisation (no activation), or by instance normalisation
/// when built with [`ConvBn::instance`] (the official DC/DSA `ResNet18`: `GroupNorm(C, C)`).
/// Exactly one of `bn` and `inorm` is set; the batch-norm one keeps the names PyTorch weights
/// are imported under (`….bn.*`).
#[derive(Module, Debug)]
pub struct ConvBn {
    /// The convolution (no bias).
    pub conv: Conv2d,
    /// Its batch norm.
    pub bn: Option<BatchNorm>,
    /// Its instance norm (affine, per channel).
    pub inorm: Option<super::norm::InstanceNorm>,
}

impl ConvBn {
    /// `k×k` conv (padding k/2, no bias) + BN.
    pub fn new(c_in: usize, c_out: usize, k: usize, stride: usize, device: &Device) -> ConvBn {
        ConvBn { conv: conv(c_in, c_out, k, stride, false, device), bn: Some(BatchNormConfig::new(c_out).init(device)), inorm: None }
    }
    /// `k×k` conv (padding k/2, no bias) + instance norm.
    pub fn instance(c_in: usize, c_out: usize, k: usize, stride: usize, device: &Device) -> ConvBn {
        ConvBn { conv: conv(c_in, c_out, k, stride, false, device), bn: None, inorm: Some(super::norm::InstanceNorm::new(c_out, device)) }
    }
    /// conv → norm.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_then(x, false)
    }
    /// conv → norm → ReLU (the norm and the ReLU one fused op on flex).
    pub fn forward_relu(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_then(x, true)
    }
    fn forward_then(&self, x: Tensor<4>, relu: bool) -> Tensor<4> {
        let x = crate::ops::conv::forward(&self.conv, x);
        match (&self.bn, &self.inorm) {
            (Some(bn), _) => crate::ops::norm::batch_norm(bn, x, relu),
            (None, Some(n)) => n.forward_tail(x, crate::ops::norm::Tail { relu, pool: false }),
            (None, None) if relu => burn::tensor::activation::relu(x),
            (None, None) => x,
        }
    }
}

/// Global average pooling `[N, C, H, W] → [N, C]`.
pub fn global_pool(x: Tensor<4>) -> Tensor<2> {
    let [n, c, _, _] = x.dims();
    burn::tensor::module::adaptive_avg_pool2d(x, [1, 1]).reshape([n, c])
}
