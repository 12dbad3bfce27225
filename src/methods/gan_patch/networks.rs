//! The patch generation network of the GAN-KD augmentation paper (§ "补丁生成网络", Fig. 2–3),
//! scaled by a base width: the paper's layer list is `base` = 32.
//!
//! - Generator: encoder of 4 convs with LeakyReLU(0.2) — `b` 3×3 s2, `2b` 3×3 s2, `4b` 3×3 s2,
//!   `16b` 1×1 s2 (paper 32/64/128/512) — down to 1/16 of the side; decoder of
//!   [nearest ×2 upsampling + `4b` 3×3 s1] and [×2 + `2b` 3×3 s1] (paper 128/64) and an output
//!   3×3 conv to the image channels: a patch of 4 × the code side = 1/4 of the image side
//!   (28 → 14 → 7 → 4 → 2 ⇒ 8×8; 32 → … → 2 ⇒ 8×8). Upsampling + conv instead of deconvolution,
//!   as the paper says, to avoid checkerboard artefacts. The output is linear: patches live in the
//!   loader's normalised pixel space, not in [−1, 1].
//! - Discriminator: `2b` 3×3 s2, `4b` 3×3 s2, `8b` 3×3 s1 (paper 64/128/256), each conv →
//!   LeakyReLU(0.2) → BatchNorm ("BN after the activation"), no pooling, flatten, dense → one
//!   logit; [`PatchDiscriminator::probability`] is its sigmoid.
use crate::models::blocks::conv_padded;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{leaky_relu, sigmoid};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};

/// The paper's LeakyReLU slope ("系数为 0.2 的 LeakyReLu").
pub const SLOPE: f64 = 0.2;

/// Output side of a convolution with kernel `k`, stride `s` and padding `p`.
fn conv_out(side: usize, k: usize, s: usize, p: usize) -> usize {
    (side + 2 * p - k) / s + 1
}

/// Side of the code the encoder leaves from an input side.
pub fn code_side(side: usize) -> usize {
    conv_out(conv_out(conv_out(conv_out(side, 3, 2, 1), 3, 2, 1), 3, 2, 1), 1, 2, 0)
}

/// The side the decoder produces without resizing: 4 × the code side (1/4 of a 32-px input).
pub fn natural_patch(side: usize) -> usize {
    4 * code_side(side)
}

/// Nearest-neighbour ×2 upsampling (Keras `UpSampling2D`), as a reshape and a broadcast so that
/// every backend differentiates it.
pub fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1]).expand([n, c, h, 2, w, 2]).reshape([n, c, 2 * h, 2 * w])
}

/// The generator: the holed image in, a `patch×patch` fill out.
#[derive(Module, Debug)]
pub struct PatchGenerator {
    encoder: Vec<Conv2d>,
    decoder: Vec<Conv2d>,
    output: Conv2d,
    patch: usize,
}

impl PatchGenerator {
    /// A generator for `[c, h, w]` images producing `patch×patch` patches (resized bilinearly
    /// from [`natural_patch`] when that differs).
    pub fn new(base: usize, [c, _, _]: [usize; 3], patch: usize, device: &Device) -> PatchGenerator {
        let b = base;
        let encoder = vec![
            conv_padded(c, b, 3, 2, 1, true, device),
            conv_padded(b, 2 * b, 3, 2, 1, true, device),
            conv_padded(2 * b, 4 * b, 3, 2, 1, true, device),
            conv_padded(4 * b, 16 * b, 1, 2, 0, true, device),
        ];
        let decoder = vec![conv_padded(16 * b, 4 * b, 3, 1, 1, true, device), conv_padded(4 * b, 2 * b, 3, 1, 1, true, device)];
        PatchGenerator { encoder, decoder, output: conv_padded(2 * b, c, 3, 1, 1, true, device), patch }
    }

    /// Side of the patches it produces.
    pub fn patch(&self) -> usize {
        self.patch
    }

    /// `[n, c, h, w]` holed images → `[n, c, patch, patch]` patches.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = x;
        for conv in &self.encoder {
            x = leaky_relu(conv.forward(x), SLOPE);
        }
        for conv in &self.decoder {
            x = leaky_relu(conv.forward(upsample2(x)), SLOPE);
        }
        let x = self.output.forward(x);
        let [_, _, h, w] = x.dims();
        if h == self.patch && w == self.patch {
            x
        } else {
            interpolate(x, InterpolateOptions { output_size: Some([self.patch, self.patch]), align_corners: false, ..InterpolateOptions::new(InterpolateMode::Bilinear) })
        }
    }
}

/// The discriminator: a patch in, one logit ("is this a real patch?") out.
#[derive(Module, Debug)]
pub struct PatchDiscriminator {
    convs: Vec<Conv2d>,
    norms: Vec<BatchNorm>,
    dense: Linear,
}

impl PatchDiscriminator {
    /// A discriminator for `[c, patch, patch]` inputs.
    pub fn new(base: usize, channels: usize, patch: usize, device: &Device) -> PatchDiscriminator {
        let widths = [2 * base, 4 * base, 8 * base];
        let strides = [2, 2, 1];
        let (mut c_in, mut side) = (channels, patch);
        let (mut convs, mut norms) = (Vec::new(), Vec::new());
        for (&w, &s) in widths.iter().zip(&strides) {
            convs.push(conv_padded(c_in, w, 3, s, 1, true, device));
            norms.push(BatchNormConfig::new(w).init(device));
            (c_in, side) = (w, conv_out(side, 3, s, 1));
        }
        PatchDiscriminator { convs, norms, dense: LinearConfig::new(c_in * side * side, 1).init(device) }
    }

    /// `[n, c, p, p]` → logits `[n, 1]`.
    pub fn logits(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = x;
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            x = norm.forward(leaky_relu(conv.forward(x), SLOPE));
        }
        self.dense.forward(x.flatten(1, 3))
    }

    /// The probability that each patch is real, in (0, 1).
    pub fn probability(&self, x: Tensor<4>) -> Tensor<2> {
        sigmoid(self.logits(x))
    }
}

/// Generator and discriminator, trained together (one module, so one checkpoint).
#[derive(Module, Debug)]
pub struct PatchGanPair {
    /// The generator.
    pub generator: PatchGenerator,
    /// The discriminator.
    pub discriminator: PatchDiscriminator,
}
