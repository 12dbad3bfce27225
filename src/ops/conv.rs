//! 2-D convolution whose weight gradient on flex is one large matrix product.
//!
//! burn computes a conv's weight gradient (`conv2d_weight_backward`) as a forward convolution
//! with batch and channels swapped: many thin products and re-layouts. It was the largest item of
//! a flex ConvNet-3 step (`cargo bench --bench ops`). Here, on flex with autodiff, the backward
//! lays the input out once as columns (im2col, `[C·kh·kw, N·OH·OW]`) and takes
//! `∂L/∂W = G · colsᵀ` with `G = ∂L/∂y` as `[O, N·OH·OW]`: one product whose inner dimension is
//! the whole batch's pixels. The forward and the input gradient stay burn's.
use burn::nn::conv::Conv2d;
use burn::nn::PaddingConfig2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::Tensor;

/// `conv.forward(x)`, through [`conv2d`] when the layer's padding is explicit and symmetric.
pub fn forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let PaddingConfig2d::Explicit(top, left, bottom, right) = conv.padding else { return conv.forward(x) };
    if top != bottom || left != right {
        return conv.forward(x);
    }
    let options = ConvOptions::new(conv.stride, [top, left], conv.dilation, conv.groups);
    conv2d(x, conv.weight.val(), conv.bias.as_ref().map(|b| b.val()), options)
}

/// burn's `conv2d`, with this module's weight gradient where
/// [`uses_flex_weight_gradient`] says (and groups 1, dilation 1); burn's own op everywhere else.
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, options: ConvOptions<2>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if options.groups == 1 && options.dilation == [1, 1] && uses_flex_weight_gradient(&x, &weight) {
        let out = weight.dims()[0];
        let y = flex::conv2d(x, weight, options);
        return match bias {
            Some(b) => y + b.reshape([1, out, 1, 1]),
            None => y,
        };
    }
    burn::tensor::module::conv2d(x, weight, bias, options)
}

/// Fewer output channels than this and burn's weight gradient is as fast or faster (ResNet-20's
/// 16-channel stage: 15 ms against 25 ms for the six convs; from 32 channels on ours is 1.1–2.4×
/// faster, `cargo bench --bench ops`).
pub const MIN_OUT_CHANNELS: usize = 32;

/// Whether [`conv2d`] takes the flex path for these operands: f32 flex tensors under autodiff
/// with at least [`MIN_OUT_CHANNELS`] filters (tests and benches check it).
pub fn uses_flex_weight_gradient(x: &Tensor<4>, weight: &Tensor<4>) -> bool {
    #[cfg(feature = "flex")]
    return weight.dims()[0] >= MIN_OUT_CHANNELS && flex::applies(x, weight);
    #[cfg(not(feature = "flex"))]
    {
        let _ = (x, weight);
        false
    }
}

#[cfg(feature = "flex")]
mod flex {
    use super::*;
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::autodiff::{Autodiff, NodeId};
    use burn::backend::flex::FlexTensor;
    use burn::backend::ops::ModuleOps;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{AutodiffBackend, Flex};
    use burn::backend::TensorMetadata;
    use burn::tensor::TensorData;
    use rayon::prelude::*;

    type Ad = Autodiff<Flex, NoCheckpointing>;

    /// Both operands are f32 flex tensors under autodiff.
    pub fn applies(x: &Tensor<4>, weight: &Tensor<4>) -> bool {
        let ok = |t: &Tensor<4>| t.dtype() == burn::tensor::DType::F32 && t.clone().try_into_primitive::<Ad>().is_ok();
        ok(x) && ok(weight)
    }

    pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, options: ConvOptions<2>) -> Tensor<4> {
        let x = x.try_into_primitive::<Ad>().expect("checked by applies");
        let weight = weight.try_into_primitive::<Ad>().expect("checked by applies");
        Tensor::from_primitive::<Ad>(tracked_conv2d(x, weight, options))
    }

    #[derive(Debug)]
    struct Conv2dGemmWeightGrad;

    impl Backward<Flex, 2> for Conv2dGemmWeightGrad {
        type State = (NodeId, NodeId, ConvOptions<2>);

        fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
            let [node_x, node_weight] = ops.parents;
            let grad = grads.consume::<Flex>(&ops.node);
            let (x_state, weight_state, options) = ops.state;
            let x: FlexTensor = checkpointer.retrieve_node_output(x_state);
            let weight: FlexTensor = checkpointer.retrieve_node_output(weight_state);
            if let Some(node) = node_x {
                grads.register::<Flex>(node.id, Flex::conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone()));
            }
            if let Some(node) = node_weight {
                let dims: [usize; 4] = weight.shape().dims();
                grads.register::<Flex>(node.id, weight_grad(&x, &grad, dims, &options));
            }
        }
    }

    /// The forward of burn-autodiff's conv2d (no bias), with [`Conv2dGemmWeightGrad`] as backward.
    fn tracked_conv2d(x: FloatTensor<Ad>, weight: FloatTensor<Ad>, options: ConvOptions<2>) -> FloatTensor<Ad> {
        match Conv2dGemmWeightGrad.prepare::<NoCheckpointing>([x.node(), weight.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let y = Flex::conv2d(Ad::inner(x), Ad::inner(weight), None, options.clone());
                prep.finish((x_state, weight_state, options), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::conv2d(Ad::inner(x), Ad::inner(weight), None, options)),
        }
    }

    /// Columns of at most this many floats per chunk of images (32 MiB).
    const COLUMN_BUDGET: usize = 8 << 20;

    /// ∂L/∂W[o, c, i, j] = Σ_n Σ_(p,q) G[n, o, p, q] · x[n, c, p·s + i − pad, q·s + j − pad]
    /// (the transpose of the conv's forward map applied to the weight), as `G · colsᵀ` over chunks
    /// of images, accumulated in place.
    pub(super) fn weight_grad(x: &FlexTensor, grad: &FlexTensor, dims: [usize; 4], options: &ConvOptions<2>) -> FlexTensor {
        let (x, grad) = (x.to_contiguous(), grad.to_contiguous());
        let (xs, gs): (&[f32], &[f32]) = (x.storage(), grad.storage());
        let [n, c, h, w]: [usize; 4] = x.shape().dims();
        let [_, o, oh, ow]: [usize; 4] = grad.shape().dims();
        let [_, _, kh, kw] = dims;
        let (k, l) = (c * kh * kw, oh * ow);
        let chunk = (COLUMN_BUDGET / (k * l).max(1)).clamp(1, n);
        let mut dw = vec![0f32; o * k];
        let mut cols = vec![0f32; k * chunk * l];
        let mut g = vec![0f32; o * chunk * l];
        for start in (0..n).step_by(chunk) {
            let m = chunk.min(n - start);
            let nl = m * l;
            cols[..k * nl].par_chunks_mut(nl).enumerate().for_each(|(row, out)| {
                let (ci, ki, kj) = (row / (kh * kw), row % (kh * kw) / kw, row % kw);
                for i in 0..m {
                    let image = &xs[((start + i) * c + ci) * h * w..][..h * w];
                    for p in 0..oh {
                        let dst = &mut out[i * l + p * ow..][..ow];
                        let iy = (p * options.stride[0] + ki) as isize - options.padding[0].0 as isize;
                        if iy < 0 || iy >= h as isize {
                            dst.fill(0.0);
                            continue;
                        }
                        let src = &image[iy as usize * w..][..w];
                        for (q, d) in dst.iter_mut().enumerate() {
                            let ix = (q * options.stride[1] + kj) as isize - options.padding[1].0 as isize;
                            *d = if ix < 0 || ix >= w as isize { 0.0 } else { src[ix as usize] };
                        }
                    }
                }
            });
            g[..o * nl].par_chunks_mut(nl).enumerate().for_each(|(oc, out)| {
                for i in 0..m {
                    out[i * l..][..l].copy_from_slice(&gs[((start + i) * o + oc) * l..][..l]);
                }
            });
            // dw[o × k] (+)= g[o × nl] · cols[k × nl]ᵀ
            // SAFETY: every pointer covers the extent its strides reach (o·k, o·nl, k·nl floats)
            // and dw does not alias the operands.
            unsafe {
                gemm::gemm(o, k, nl, dw.as_mut_ptr(), 1, k as isize, start > 0, g.as_ptr(), 1, nl as isize, cols.as_ptr(), nl as isize, 1, 1.0, 1.0, false, false, false, gemm::Parallelism::Rayon(0));
            }
        }
        FlexTensor::from_data(TensorData::new(dw, dims))
    }
}
