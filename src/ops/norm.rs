//! Instance norm, optionally followed by ReLU and 2×2 average pooling, as one op on flex.
//!
//! Composed from burn's tensor ops, a ConvNet block's `pool(relu(instance_norm(x)))` makes about
//! fifteen full-size passes forward and backward, most of them on one thread; it was 49 % of a
//! flex ConvNet-3 step against 1.30× PyTorch for the convolutions (`cargo bench --bench ops`).
//! Here each (sample, channel) plane is normalised, activated and pooled in one parallel pass
//! whose plane stays in the core's cache; the backward recomputes x̂ and the ReLU gate from the
//! saved input and per-plane statistics and writes ∂L/∂x in a second pass.
//!
//! With x̂ = (x − μ)/σ per plane of L pixels, σ = √(Var x + ε), y = γx̂ + β and g = ∂L/∂y (the
//! pooled gradient spread ¼ to each of a window's four pixels, times the ReLU gate 1(y > 0)):
//! ∂L/∂β = Σ g, ∂L/∂γ = Σ g·x̂ (summed over planes of the channel), and
//! ∂L/∂x = γ/(L·σ) · (L·g − Σ g − x̂ · Σ g·x̂) — the standard instance/batch-norm backward (Ioffe &
//! Szegedy 2015, §3, with the batch replaced by one plane), identical to what burn's autodiff
//! derives from the composed forward up to float rounding.
use burn::tensor::activation::relu;
use burn::nn::pool::AvgPool2dConfig;
use burn::tensor::Tensor;

/// What follows the normalisation in one [`instance_norm`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tail {
    /// ReLU after the affine.
    pub relu: bool,
    /// 2×2 average pooling, stride 2, no padding (an odd last row or column is dropped).
    pub pool: bool,
}

impl Tail {
    /// The norm alone.
    pub const NONE: Tail = Tail { relu: false, pool: false };
    /// The DC ConvNet block after its conv: norm → ReLU → AvgPool 2.
    pub const RELU_POOL: Tail = Tail { relu: true, pool: true };
}

/// y = γ·(x − μ)/√(σ² + ε) + β per (sample, channel) plane, then `tail`: the fused op on flex
/// (f32; with its own backward under autodiff), burn's composed ops everywhere else (same values
/// up to rounding).
pub fn instance_norm(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, epsilon: f64, tail: Tail) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if flex::applies(&x, &gamma, &beta) {
        return flex::instance_norm(x, gamma, beta, epsilon, tail);
    }
    composed(x, gamma, beta, epsilon, tail)
}

/// The reference: burn's ops (`models::norm::instance_norm`, then [`apply_tail`]).
pub fn composed(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, epsilon: f64, tail: Tail) -> Tensor<4> {
    apply_tail(crate::models::norm::instance_norm(x, gamma, beta, epsilon), tail)
}

/// `tail` with burn's ops: `relu`, then `AvgPool2d` 2×2.
pub fn apply_tail(mut y: Tensor<4>, tail: Tail) -> Tensor<4> {
    if tail.relu {
        y = relu(y);
    }
    if tail.pool {
        y = AvgPool2dConfig::new([2, 2]).init().forward(y);
    }
    y
}

/// Whether [`instance_norm`] takes the fused flex path for these operands (tests check it).
pub fn is_fused(x: &Tensor<4>, gamma: &Tensor<1>, beta: &Tensor<1>) -> bool {
    #[cfg(feature = "flex")]
    return flex::applies(x, gamma, beta);
    #[cfg(not(feature = "flex"))]
    {
        let _ = (x, gamma, beta);
        false
    }
}

#[cfg(feature = "flex")]
mod flex {
    use super::Tail;
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::autodiff::Autodiff;
    use burn::backend::flex::FlexTensor;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::TensorMetadata;
    use burn::backend::{AutodiffBackend, Flex};
    use burn::tensor::{DType, Tensor, TensorData};
    use rayon::prelude::*;

    type Ad = Autodiff<Flex, NoCheckpointing>;

    /// All three operands are f32 flex tensors, all under autodiff or all without.
    pub fn applies(x: &Tensor<4>, gamma: &Tensor<1>, beta: &Tensor<1>) -> bool {
        fn autodiff_f32<const D: usize>(t: &Tensor<D>) -> bool {
            t.dtype() == DType::F32 && t.clone().try_into_primitive::<Ad>().is_ok()
        }
        fn flex_f32<const D: usize>(t: &Tensor<D>) -> bool {
            t.dtype() == DType::F32 && t.clone().try_into_primitive::<Flex>().is_ok()
        }
        (autodiff_f32(x) && autodiff_f32(gamma) && autodiff_f32(beta)) || (flex_f32(x) && flex_f32(gamma) && flex_f32(beta))
    }

    /// The fused op, with its backward under autodiff (operands checked by [`applies`]).
    pub fn instance_norm(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, epsilon: f64, tail: Tail) -> Tensor<4> {
        let eps = epsilon as f32;
        if let (Ok(xa), Ok(ga), Ok(ba)) = (x.clone().try_into_primitive::<Ad>(), gamma.clone().try_into_primitive::<Ad>(), beta.clone().try_into_primitive::<Ad>()) {
            return Tensor::from_primitive::<Ad>(tracked(xa, ga, ba, eps, tail));
        }
        let plain = |t: Tensor<1>| t.try_into_primitive::<Flex>().expect("checked by applies").to_contiguous().storage::<f32>().to_vec();
        let xp = x.try_into_primitive::<Flex>().expect("checked by applies").to_contiguous();
        let (y, _, _) = forward(&xp, &plain(gamma), &plain(beta), eps, tail);
        Tensor::from_primitive::<Flex>(y)
    }

    /// What the backward needs: the input, γ, β and each plane's mean and 1/σ.
    #[derive(Clone, Debug)]
    struct Saved {
        x: FlexTensor,
        gamma: Vec<f32>,
        beta: Vec<f32>,
        mean: Vec<f32>,
        inv_std: Vec<f32>,
        tail: Tail,
    }

    #[derive(Debug)]
    struct FusedInstanceNorm;

    impl Backward<Flex, 3> for FusedInstanceNorm {
        type State = Saved;

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node_x, node_gamma, node_beta] = ops.parents;
            let grad = grads.consume::<Flex>(&ops.node);
            let (dx, dgamma, dbeta) = backward(&ops.state, &grad);
            let c = ops.state.gamma.len();
            if let Some(node) = node_x {
                grads.register::<Flex>(node.id, dx);
            }
            if let Some(node) = node_gamma {
                grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dgamma, [c])));
            }
            if let Some(node) = node_beta {
                grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dbeta, [c])));
            }
        }
    }

    fn tracked(x: FloatTensor<Ad>, gamma: FloatTensor<Ad>, beta: FloatTensor<Ad>, epsilon: f32, tail: Tail) -> FloatTensor<Ad> {
        let prep = FusedInstanceNorm.prepare::<NoCheckpointing>([x.node(), gamma.node(), beta.node()]).compute_bound().stateful();
        let values = |t: FloatTensor<Ad>| Ad::inner(t).to_contiguous().storage::<f32>().to_vec();
        let (xi, g, b) = (Ad::inner(x).to_contiguous(), values(gamma), values(beta));
        let (y, mean, inv_std) = forward(&xi, &g, &b, epsilon, tail);
        match prep {
            OpsKind::Tracked(prep) => prep.finish(Saved { x: xi, gamma: g, beta: b, mean, inv_std, tail }, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    /// Plane geometry: input `[n, c, h, w]`, output `[oh, ow]` (pooled or not).
    fn geometry(x: &FlexTensor, tail: Tail) -> ([usize; 4], [usize; 2]) {
        let dims: [usize; 4] = x.shape().dims();
        let [_, _, h, w] = dims;
        (dims, if tail.pool { [h / 2, w / 2] } else { [h, w] })
    }

    /// Σ f(a_i, b_i) in eight independent lanes, so the loop vectorises (a plain f32 fold
    /// cannot be reordered by the compiler).
    #[inline(always)]
    fn sum_by(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
        let mut acc = [0f32; 8];
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(&x, &y)| f(x, y)).sum();
        for (x, y) in ca.zip(cb) {
            for i in 0..8 {
                acc[i] += f(x[i], y[i]);
            }
        }
        acc.iter().sum::<f32>() + tail
    }

    /// y, and each plane's mean and 1/σ (two-pass variance over the cached plane).
    fn forward(x: &FlexTensor, gamma: &[f32], beta: &[f32], epsilon: f32, tail: Tail) -> (FlexTensor, Vec<f32>, Vec<f32>) {
        let ([n, c, h, w], [oh, ow]) = geometry(x, tail);
        let xs: &[f32] = x.storage();
        let (l, ol) = (h * w, oh * ow);
        let mut y = vec![0f32; n * c * ol];
        let mut stats = vec![(0f32, 0f32); n * c];
        let planes = y.par_chunks_mut(ol.max(1)).zip(stats.par_iter_mut()).enumerate();
        planes.for_each_init(
            || vec![0f32; if tail.pool { l } else { 0 }],
            |scratch, (p, (out, stat))| {
                let plane = &xs[p * l..][..l];
                let mu = sum_by(plane, plane, |v, _| v) / l as f32;
                let var = sum_by(plane, plane, |v, _| (v - mu) * (v - mu)) / l as f32;
                let inv = 1.0 / (var + epsilon).sqrt();
                *stat = (mu, inv);
                let scale = gamma[p % c] * inv;
                let shift = beta[p % c] - mu * scale;
                let act = if tail.pool { &mut scratch[..] } else { &mut out[..] };
                for (o, &v) in act.iter_mut().zip(plane) {
                    *o = v * scale + shift;
                }
                if tail.relu {
                    act.iter_mut().for_each(|o| *o = o.max(0.0));
                }
                if tail.pool {
                    for (oy, row) in out.chunks_exact_mut(ow.max(1)).enumerate() {
                        let (top, bottom) = (&scratch[2 * oy * w..][..w], &scratch[(2 * oy + 1) * w..][..w]);
                        for (ox, o) in row.iter_mut().enumerate() {
                            *o = 0.25 * (top[2 * ox] + top[2 * ox + 1] + bottom[2 * ox] + bottom[2 * ox + 1]);
                        }
                    }
                }
            },
        );
        let (mean, inv_std) = stats.into_iter().unzip();
        (FlexTensor::from_data(TensorData::new(y, [n, c, oh, ow])), mean, inv_std)
    }

    /// (∂L/∂x, ∂L/∂γ, ∂L/∂β) from the output gradient (module docs).
    fn backward(s: &Saved, grad: &FlexTensor) -> (FlexTensor, Vec<f32>, Vec<f32>) {
        let ([n, c, h, w], [oh, ow]) = geometry(&s.x, s.tail);
        let (xs, grad) = (s.x.storage::<f32>(), grad.to_contiguous());
        let gs: &[f32] = grad.storage();
        let (l, ol) = (h * w, oh * ow);
        let mut dx = vec![0f32; n * c * l];
        let mut sums = vec![(0f32, 0f32); n * c];
        dx.par_chunks_mut(l.max(1)).zip(sums.par_iter_mut()).enumerate().for_each(|(p, (out, sum))| {
            let (plane, gp) = (&xs[p * l..][..l], &gs[p * ol..][..ol]);
            let (mu, inv, gamma) = (s.mean[p], s.inv_std[p], s.gamma[p % c]);
            let scale = gamma * inv;
            let shift = s.beta[p % c] - mu * scale;
            // g = ∂L/∂(γx̂ + β) at every pixel, in `out`; then turned into ∂L/∂x in place
            if s.tail.pool {
                out.fill(0.0);
                for y in 0..2 * oh {
                    let (row, up) = (&mut out[y * w..][..2 * ow], &gp[(y / 2) * ow..][..ow]);
                    for (pair, &u) in row.chunks_exact_mut(2).zip(up) {
                        pair.fill(0.25 * u);
                    }
                }
            } else {
                out.copy_from_slice(gp);
            }
            if s.tail.relu {
                for (o, &v) in out.iter_mut().zip(plane) {
                    *o = if v * scale + shift > 0.0 { *o } else { 0.0 };
                }
            }
            let sg = sum_by(out, plane, |g, _| g);
            let sgx = sum_by(out, plane, |g, v| g * (v - mu)) * inv;
            *sum = (sg, sgx);
            // ∂L/∂x = k·(L·g − Σg − x̂·Σg·x̂), k = γ/(L·σ), as a·g + b·x + c
            let k = scale / l as f32;
            let (a, b) = (k * l as f32, -k * inv * sgx);
            let c0 = -k * sg - b * mu;
            for (o, &v) in out.iter_mut().zip(plane) {
                *o = a * *o + b * v + c0;
            }
        });
        let mut dgamma = vec![0f32; c];
        let mut dbeta = vec![0f32; c];
        for (p, (sg, sgx)) in sums.into_iter().enumerate() {
            dbeta[p % c] += sg;
            dgamma[p % c] += sgx;
        }
        (FlexTensor::from_data(TensorData::new(dx, [n, c, h, w])), dgamma, dbeta)
    }
}
