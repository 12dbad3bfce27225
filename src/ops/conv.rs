//! 2-D convolution on flex as per-image matrix products (im2col + gemm), forward and backward.
//!
//! flex's own conv runs a direct convolution forward and computes the weight gradient
//! (`conv2d_weight_backward`) as a forward convolution with batch and channels swapped: many thin
//! products and re-layouts. On the thin convs of a CIFAR ResNet (16–64 channels on 32×32 to 8×8
//! maps) that ran at 4.3× PyTorch's time, and the weight gradient was the largest item of a
//! ConvNet-3 step (`cargo bench --bench ops`). Here each image is laid out once as columns
//! (`cols_i = im2col(x_i)`, `[C·kh·kw, OH·OW]`) and every pass is one product per image:
//!
//! - forward: `y_i = W · cols_i` (`[O, C·kh·kw] · [C·kh·kw, OH·OW]`, already NCHW);
//! - input gradient: `∂L/∂x_i = col2im(Wᵀ · G_i)`, `G_i = ∂L/∂y_i` as `[O, OH·OW]`;
//! - weight gradient: `∂L/∂W = Σ_i G_i · cols_iᵀ`, summed per thread, then across threads.
//!
//! Images run in parallel with one-thread products when there are at least as many images as
//! threads; a smaller batch (DSA's synthetic sets) uses the product's own threads instead.
//! Elsewhere (libtorch, CUDA, remote, groups > 1, dilation > 1) it is burn's op.
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

/// burn's `conv2d`, computed by this module where [`uses_gemm_path`] says; burn's own op
/// everywhere else.
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, options: ConvOptions<2>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if options.groups == 1 && options.dilation == [1, 1] && uses_gemm_path(&x, &weight) {
        let out = weight.dims()[0];
        let y = flex::conv2d(x, weight, options);
        return match bias {
            Some(b) => y + b.reshape([1, out, 1, 1]),
            None => y,
        };
    }
    burn::tensor::module::conv2d(x, weight, bias, options)
}

/// Whether [`conv2d`] takes this module's path for these operands (groups 1 and dilation 1
/// besides): both f32 flex tensors, both under autodiff or both without (tests and benches
/// check it).
pub fn uses_gemm_path(x: &Tensor<4>, weight: &Tensor<4>) -> bool {
    #[cfg(feature = "flex")]
    return flex::applies(x, weight);
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
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{AutodiffBackend, Flex};
    use burn::backend::TensorMetadata;
    use burn::tensor::{DType, TensorData};
    use rayon::prelude::*;

    type Ad = Autodiff<Flex, NoCheckpointing>;

    /// Both operands are f32 flex tensors, both under autodiff or both without.
    pub fn applies(x: &Tensor<4>, weight: &Tensor<4>) -> bool {
        let f32 = x.dtype() == DType::F32 && weight.dtype() == DType::F32;
        let autodiff = |t: &Tensor<4>| t.clone().try_into_primitive::<Ad>().is_ok();
        let plain = |t: &Tensor<4>| t.clone().try_into_primitive::<Flex>().is_ok();
        crate::ops::fused() && f32 && ((autodiff(x) && autodiff(weight)) || (plain(x) && plain(weight)))
    }

    /// The convolution without bias, recorded for autodiff when its operands are.
    pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, options: ConvOptions<2>) -> Tensor<4> {
        if let (Ok(xa), Ok(wa)) = (x.clone().try_into_primitive::<Ad>(), weight.clone().try_into_primitive::<Ad>()) {
            return Tensor::from_primitive::<Ad>(tracked_conv2d(xa, wa, options));
        }
        let x = x.try_into_primitive::<Flex>().expect("checked by applies").to_contiguous();
        let weight = weight.try_into_primitive::<Flex>().expect("checked by applies").to_contiguous();
        Tensor::from_primitive::<Flex>(forward(&Geometry::of(&x, &weight, &options), x.storage(), weight.storage()))
    }

    #[derive(Debug)]
    struct Conv2dGemm;

    impl Backward<Flex, 2> for Conv2dGemm {
        type State = (NodeId, NodeId, ConvOptions<2>);

        fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
            let [node_x, node_weight] = ops.parents;
            let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
            let (x_state, weight_state, options) = ops.state;
            let x: FlexTensor = checkpointer.retrieve_node_output(x_state);
            let weight: FlexTensor = checkpointer.retrieve_node_output(weight_state);
            let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
            let geometry = Geometry::of(&x, &weight, &options);
            if let Some(node) = node_x {
                grads.register::<Flex>(node.id, input_grad(&geometry, weight.storage(), grad.storage()));
            }
            if let Some(node) = node_weight {
                grads.register::<Flex>(node.id, weight_grad(&geometry, x.storage(), grad.storage()));
            }
        }
    }

    /// burn-autodiff's conv2d (no bias) with [`Conv2dGemm`]'s forward and backward.
    fn tracked_conv2d(x: FloatTensor<Ad>, weight: FloatTensor<Ad>, options: ConvOptions<2>) -> FloatTensor<Ad> {
        let run = |x: FlexTensor, weight: FlexTensor, options: &ConvOptions<2>| {
            let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
            forward(&Geometry::of(&x, &weight, options), x.storage(), weight.storage())
        };
        match Conv2dGemm.prepare::<NoCheckpointing>([x.node(), weight.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let y = run(Ad::inner(x), Ad::inner(weight), &options);
                prep.finish((x_state, weight_state, options), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(run(Ad::inner(x), Ad::inner(weight), &options)),
        }
    }

    /// One convolution's sizes: input `[n, c, h, w]`, `o` filters of `kh × kw`, output `oh × ow`.
    #[derive(Clone, Copy, Debug)]
    pub(super) struct Geometry {
        n: usize,
        c: usize,
        h: usize,
        w: usize,
        o: usize,
        kh: usize,
        kw: usize,
        oh: usize,
        ow: usize,
        stride: [usize; 2],
        /// Padding before the first row and column (the end padding only sets oh, ow).
        pad: [usize; 2],
    }

    impl Geometry {
        pub(super) fn of(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> Geometry {
            let [n, c, h, w]: [usize; 4] = x.shape().dims();
            let [o, _, kh, kw]: [usize; 4] = weight.shape().dims();
            let (stride, [(top, bottom), (left, right)]) = (options.stride, options.padding);
            let (oh, ow) = ((h + top + bottom - kh) / stride[0] + 1, (w + left + right - kw) / stride[1] + 1);
            Geometry { n, c, h, w, o, kh, kw, oh, ow, stride, pad: [top, left] }
        }
        /// Rows of an image's column matrix (c·kh·kw).
        fn k(&self) -> usize {
            self.c * self.kh * self.kw
        }
        /// Output pixels per image (oh·ow).
        fn l(&self) -> usize {
            self.oh * self.ow
        }
        /// Input floats per image.
        fn image(&self) -> usize {
            self.c * self.h * self.w
        }
        /// For output column `q` of kernel column `kj`: the input column, if inside the image.
        #[inline(always)]
        fn source_column(&self, q: usize, kj: usize) -> Option<usize> {
            (q * self.stride[1] + kj).checked_sub(self.pad[1]).filter(|&ix| ix < self.w)
        }
        /// The output columns `[lo, hi)` whose input column for `kj` is inside the image.
        fn valid_columns(&self, kj: usize) -> (usize, usize) {
            let lo = (0..self.ow).find(|&q| self.source_column(q, kj).is_some()).unwrap_or(self.ow);
            let hi = (lo..self.ow).find(|&q| self.source_column(q, kj).is_none()).unwrap_or(self.ow);
            (lo, hi)
        }
        /// Every image runs on its own thread (one-thread products) when there are enough
        /// images; otherwise the product itself is parallel.
        fn parallelism(&self) -> gemm::Parallelism {
            if self.n >= rayon::current_num_threads() { gemm::Parallelism::None } else { gemm::Parallelism::Rayon(0) }
        }
    }

    /// One image's columns `[c·kh·kw, oh·ow]`: row (ci, ki, kj), column (p, q) holds
    /// x[ci, p·s + ki − pad, q·s + kj − pad] (0 outside the image).
    fn im2col(g: &Geometry, image: &[f32], cols: &mut [f32]) {
        let l = g.l();
        for (row, out) in cols.chunks_exact_mut(l).enumerate() {
            let (ci, ki, kj) = (row / (g.kh * g.kw), row % (g.kh * g.kw) / g.kw, row % g.kw);
            let (lo, hi) = g.valid_columns(kj);
            let channel = &image[ci * g.h * g.w..][..g.h * g.w];
            for (p, dst) in out.chunks_exact_mut(g.ow).enumerate() {
                let Some(iy) = (p * g.stride[0] + ki).checked_sub(g.pad[0]).filter(|&iy| iy < g.h) else {
                    dst.fill(0.0);
                    continue;
                };
                let src = &channel[iy * g.w..][..g.w];
                dst[..lo].fill(0.0);
                dst[hi..].fill(0.0);
                if lo == hi {
                    // no output column reads a pixel for this kernel column (a map narrower than
                    // the padding): the row stays zero, and `start` would point past the row
                    continue;
                }
                if g.stride[1] == 1 {
                    let start = lo + kj - g.pad[1];
                    dst[lo..hi].copy_from_slice(&src[start..start + hi - lo]);
                } else {
                    for q in lo..hi {
                        dst[q] = src[q * g.stride[1] + kj - g.pad[1]];
                    }
                }
            }
        }
    }

    /// The adjoint of [`im2col`]: adds each column entry back onto the input pixel it came from.
    fn col2im_add(g: &Geometry, cols: &[f32], image: &mut [f32]) {
        let l = g.l();
        for (row, src) in cols.chunks_exact(l).enumerate() {
            let (ci, ki, kj) = (row / (g.kh * g.kw), row % (g.kh * g.kw) / g.kw, row % g.kw);
            let (lo, hi) = g.valid_columns(kj);
            let channel = &mut image[ci * g.h * g.w..][..g.h * g.w];
            for (p, from) in src.chunks_exact(g.ow).enumerate() {
                let Some(iy) = (p * g.stride[0] + ki).checked_sub(g.pad[0]).filter(|&iy| iy < g.h) else { continue };
                if lo == hi {
                    continue;
                }
                let dst = &mut channel[iy * g.w..][..g.w];
                if g.stride[1] == 1 {
                    let start = lo + kj - g.pad[1];
                    for (d, &v) in dst[start..start + hi - lo].iter_mut().zip(&from[lo..hi]) {
                        *d += v;
                    }
                } else {
                    for q in lo..hi {
                        dst[q * g.stride[1] + kj - g.pad[1]] += from[q];
                    }
                }
            }
        }
    }

    /// `dst[m × n] = (read ? dst : 0) + lhs[m × k] · rhs[k × n]`, every operand row-major unless
    /// its strides say otherwise: (column stride, row stride) per operand.
    ///
    /// # Safety
    /// Each pointer covers the extent its strides reach; `dst` aliases neither operand.
    #[allow(clippy::too_many_arguments)]
    unsafe fn product(m: usize, n: usize, k: usize, dst: &mut [f32], read: bool, lhs: (&[f32], isize, isize), rhs: (&[f32], isize, isize), parallelism: gemm::Parallelism) {
        debug_assert!(dst.len() >= m * n);
        unsafe { gemm::gemm(m, n, k, dst.as_mut_ptr(), 1, n as isize, read, lhs.0.as_ptr(), lhs.1, lhs.2, rhs.0.as_ptr(), rhs.1, rhs.2, 1.0, 1.0, false, false, false, parallelism) }
    }

    /// y_i = W · cols(x_i) per image: `[o, c·kh·kw] · [c·kh·kw, oh·ow]`, already NCHW.
    pub(super) fn forward(g: &Geometry, xs: &[f32], ws: &[f32]) -> FlexTensor {
        let (k, l, par) = (g.k(), g.l(), g.parallelism());
        let mut y = vec![0f32; g.n * g.o * l];
        y.par_chunks_mut((g.o * l).max(1)).enumerate().for_each_init(
            || vec![0f32; k * l],
            |cols, (i, yi)| {
                im2col(g, &xs[i * g.image()..][..g.image()], cols);
                // SAFETY: W is [o × k], cols [k × l], y_i [o × l], all row-major and disjoint.
                unsafe { product(g.o, l, k, yi, false, (ws, 1, k as isize), (cols, 1, l as isize), par) };
            },
        );
        FlexTensor::from_data(TensorData::new(y, [g.n, g.o, g.oh, g.ow]))
    }

    /// ∂L/∂x_i = col2im(Wᵀ · G_i) per image, G_i = ∂L/∂y_i as `[o, oh·ow]`.
    pub(super) fn input_grad(g: &Geometry, ws: &[f32], gs: &[f32]) -> FlexTensor {
        let (k, l, par) = (g.k(), g.l(), g.parallelism());
        let mut dx = vec![0f32; g.n * g.image()];
        dx.par_chunks_mut(g.image().max(1)).enumerate().for_each_init(
            || vec![0f32; k * l],
            |cols, (i, dxi)| {
                // SAFETY: Wᵀ is W read with swapped strides ([k × o]), G_i [o × l], cols [k × l].
                unsafe { product(k, l, g.o, cols, false, (ws, k as isize, 1), (&gs[i * g.o * l..][..g.o * l], 1, l as isize), par) };
                col2im_add(g, cols, dxi);
            },
        );
        FlexTensor::from_data(TensorData::new(dx, [g.n, g.c, g.h, g.w]))
    }

    /// Images per partial sum of the weight gradient: the batch is cut into at most this many
    /// fixed runs of images, so the summation order, and the result, does not depend on how
    /// rayon schedules the runs.
    const WEIGHT_GRAD_PARTS: usize = 16;

    /// ∂L/∂W[o, c, i, j] = Σ_n Σ_(p,q) G[n, o, p, q] · x[n, c, p·s + i − pad, q·s + j − pad]
    /// (the transpose of the conv's forward map applied to the weight) = Σ_i G_i · cols(x_i)ᵀ,
    /// summed over fixed runs of images in parallel, then the runs' sums in order.
    pub(super) fn weight_grad(g: &Geometry, xs: &[f32], gs: &[f32]) -> FlexTensor {
        let (k, l, par) = (g.k(), g.l(), g.parallelism());
        let run = g.n.div_ceil(WEIGHT_GRAD_PARTS).max(1);
        let parts: Vec<Vec<f32>> = (0..g.n.div_ceil(run))
            .into_par_iter()
            .map(|part| {
                let (mut dw, mut cols) = (vec![0f32; g.o * k], vec![0f32; k * l]);
                for i in part * run..((part + 1) * run).min(g.n) {
                    im2col(g, &xs[i * g.image()..][..g.image()], &mut cols);
                    // SAFETY: G_i is [o × l]; colsᵀ is cols read with swapped strides ([l × k]).
                    unsafe { product(g.o, k, l, &mut dw, i > part * run, (&gs[i * g.o * l..][..g.o * l], 1, l as isize), (&cols, l as isize, 1), par) };
                }
                dw
            })
            .collect();
        let mut dw = vec![0f32; g.o * k];
        for part in &parts {
            dw.iter_mut().zip(part).for_each(|(a, b)| *a += b);
        }
        FlexTensor::from_data(TensorData::new(dw, [g.o, g.c, g.kh, g.kw]))
    }
}
