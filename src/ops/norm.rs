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
use burn::nn::BatchNorm;
use burn::tensor::activation::{self, relu};
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

/// Instance norm as a function of explicit (γ, β) in burn's tensor ops: one pass for E\[x\] and
/// E\[x²\], the affine folded into one scale and one shift per (sample, channel). The reference
/// of the fused [`instance_norm`], and what runs off flex.
pub fn composed_instance_norm(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, epsilon: f64) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let flat = x.reshape([n * c, h * w]);
    let mean = flat.clone().mean_dim(1);
    let mean_sq = flat.clone().square().mean_dim(1);
    let inv_std = (mean_sq - mean.clone().square()).clamp_min(0.0).add_scalar(epsilon).sqrt().recip();
    let gamma = gamma.reshape([1, c]).expand([n, c]).reshape([n * c, 1]);
    let beta = beta.reshape([1, c]).expand([n, c]).reshape([n * c, 1]);
    let scale = inv_std * gamma;
    let shift = beta - mean * scale.clone();
    (flat * scale + shift).reshape([n, c, h, w])
}

/// The reference: burn's ops ([`composed_instance_norm`], then [`apply_tail`]).
pub fn composed(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, epsilon: f64, tail: Tail) -> Tensor<4> {
    apply_tail(composed_instance_norm(x, gamma, beta, epsilon), tail)
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

/// `bn.forward(x)` (then ReLU if `relu`); in training mode on flex under autodiff, one fused op
/// for the normalisation and the ReLU, with the running statistics updated as burn's
/// `BatchNorm::forward` does (`running ← (1 − momentum)·running + momentum·batch`, biased
/// variance).
pub fn batch_norm(bn: &BatchNorm, x: Tensor<4>, relu: bool) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if is_batch_norm_fused(bn, &x) {
        let device = x.device();
        let (y, mean, variance) = flex::batch_norm_train(x, bn.gamma.val(), bn.beta.val(), bn.epsilon, relu);
        let blend = |running: Tensor<1>, batch: Vec<f32>| {
            let c = batch.len();
            let batch: Tensor<1> = Tensor::from_data(burn::tensor::TensorData::new(batch, [c]), &device);
            (running.to_device(&device).mul_scalar(1.0 - bn.momentum) + batch.mul_scalar(bn.momentum)).detach()
        };
        bn.running_mean.update(blend(bn.running_mean.value_sync(), mean));
        bn.running_var.update(blend(bn.running_var.value_sync(), variance));
        return y;
    }
    let y = bn.forward(x);
    if relu { activation::relu(y) } else { y }
}

/// Whether [`batch_norm`] takes the fused flex path (training mode, f32 flex under autodiff).
pub fn is_batch_norm_fused(bn: &BatchNorm, x: &Tensor<4>) -> bool {
    #[cfg(feature = "flex")]
    return bn.training.is_enabled() && flex::applies_tracked(x, &bn.gamma.val(), &bn.beta.val());
    #[cfg(not(feature = "flex"))]
    {
        let _ = (bn, x);
        false
    }
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

    fn autodiff_f32<const D: usize>(t: &Tensor<D>) -> bool {
        t.dtype() == DType::F32 && t.clone().try_into_primitive::<Ad>().is_ok()
    }

    fn flex_f32<const D: usize>(t: &Tensor<D>) -> bool {
        t.dtype() == DType::F32 && t.clone().try_into_primitive::<Flex>().is_ok()
    }

    /// All three operands are f32 flex tensors under autodiff.
    pub fn applies_tracked(x: &Tensor<4>, gamma: &Tensor<1>, beta: &Tensor<1>) -> bool {
        crate::ops::fused() && autodiff_f32(x) && autodiff_f32(gamma) && autodiff_f32(beta)
    }

    /// All three operands are f32 flex tensors, all under autodiff or all without.
    pub fn applies(x: &Tensor<4>, gamma: &Tensor<1>, beta: &Tensor<1>) -> bool {
        applies_tracked(x, gamma, beta) || (crate::ops::fused() && flex_f32(x) && flex_f32(gamma) && flex_f32(beta))
    }

    /// The fused op, with its backward under autodiff (operands checked by [`applies`]).
    pub fn instance_norm(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, epsilon: f64, tail: Tail) -> Tensor<4> {
        if let (Ok(xa), Ok(ga), Ok(ba)) = (x.clone().try_into_primitive::<Ad>(), gamma.clone().try_into_primitive::<Ad>(), beta.clone().try_into_primitive::<Ad>()) {
            return Tensor::from_primitive::<Ad>(tracked(xa, ga, ba, epsilon as f32, tail, Scope::Plane).0);
        }
        let plain = |t: Tensor<1>| t.try_into_primitive::<Flex>().expect("checked by applies").to_contiguous().storage::<f32>().to_vec();
        let xp = x.try_into_primitive::<Flex>().expect("checked by applies").to_contiguous();
        let (y, _) = forward(&xp, &plain(gamma), &plain(beta), epsilon as f32, tail, Scope::Plane);
        Tensor::from_primitive::<Flex>(y)
    }

    /// Batch norm in training mode (statistics over N, H, W per channel), ReLU if `relu`:
    /// the output, and the batch's mean and biased variance per channel.
    pub fn batch_norm_train(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, epsilon: f64, relu: bool) -> (Tensor<4>, Vec<f32>, Vec<f32>) {
        let x = x.try_into_primitive::<Ad>().expect("checked by applies_tracked");
        let [gamma, beta] = [gamma, beta].map(|t| t.try_into_primitive::<Ad>().expect("checked by applies_tracked"));
        let (y, stats) = tracked(x, gamma, beta, epsilon as f32, Tail { relu, pool: false }, Scope::Channel);
        (Tensor::from_primitive::<Ad>(y), stats.mean, stats.variance)
    }

    /// Over what a mean and variance are taken.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Scope {
        /// Each (sample, channel) plane: instance norm.
        Plane,
        /// Each channel over the batch and the map: batch norm (training mode).
        Channel,
    }

    /// Each group's mean and 1/σ (a group is a plane or a channel, per [`Scope`]).
    #[derive(Clone, Debug)]
    struct Stats {
        mean: Vec<f32>,
        /// Biased variance, from the centred sums (not recovered from 1/σ, which loses it to
        /// rounding when ε is not small beside it).
        variance: Vec<f32>,
        inv_std: Vec<f32>,
    }

    /// What the backward needs: the input, γ, β and the forward's statistics.
    #[derive(Clone, Debug)]
    struct Saved {
        x: FlexTensor,
        gamma: Vec<f32>,
        beta: Vec<f32>,
        stats: Stats,
        tail: Tail,
        scope: Scope,
    }

    #[derive(Debug)]
    struct FusedNorm;

    impl Backward<Flex, 3> for FusedNorm {
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

    fn tracked(x: FloatTensor<Ad>, gamma: FloatTensor<Ad>, beta: FloatTensor<Ad>, epsilon: f32, tail: Tail, scope: Scope) -> (FloatTensor<Ad>, Stats) {
        let prep = FusedNorm.prepare::<NoCheckpointing>([x.node(), gamma.node(), beta.node()]).compute_bound().stateful();
        let values = |t: FloatTensor<Ad>| Ad::inner(t).to_contiguous().storage::<f32>().to_vec();
        let (xi, g, b) = (Ad::inner(x).to_contiguous(), values(gamma), values(beta));
        let (y, stats) = forward(&xi, &g, &b, epsilon, tail, scope);
        let y = match prep {
            OpsKind::Tracked(prep) => prep.finish(Saved { x: xi, gamma: g, beta: b, stats: stats.clone(), tail, scope }, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        (y, stats)
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

    /// A plane's mean and sum of squared deviations (two passes over the cached plane).
    fn plane_moments(plane: &[f32]) -> (f32, f32) {
        let mu = sum_by(plane, plane, |v, _| v) / plane.len() as f32;
        (mu, sum_by(plane, plane, |v, _| (v - mu) * (v - mu)))
    }

    /// One plane's output: `v·scale + shift`, then the tail (`scratch` holds a plane when pooling).
    fn write_plane(plane: &[f32], scale: f32, shift: f32, tail: Tail, w: usize, scratch: &mut [f32], out: &mut [f32]) {
        let act = if tail.pool { &mut scratch[..] } else { &mut out[..] };
        for (o, &v) in act.iter_mut().zip(plane) {
            *o = v * scale + shift;
        }
        if tail.relu {
            act.iter_mut().for_each(|o| *o = o.max(0.0));
        }
        if tail.pool {
            let ow = w / 2;
            for (oy, row) in out.chunks_exact_mut(ow.max(1)).enumerate() {
                let (top, bottom) = (&scratch[2 * oy * w..][..w], &scratch[(2 * oy + 1) * w..][..w]);
                for (ox, o) in row.iter_mut().enumerate() {
                    *o = 0.25 * (top[2 * ox] + top[2 * ox + 1] + bottom[2 * ox] + bottom[2 * ox + 1]);
                }
            }
        }
    }

    /// y and the statistics: per plane in one pass each; per channel, per-plane moments first,
    /// combined exactly (equal counts: M2 = Σ M2_p + L·Σ (μ_p − μ)²), then the output pass.
    fn forward(x: &FlexTensor, gamma: &[f32], beta: &[f32], epsilon: f32, tail: Tail, scope: Scope) -> (FlexTensor, Stats) {
        let ([n, c, h, w], [oh, ow]) = geometry(x, tail);
        let xs: &[f32] = x.storage();
        let (l, ol) = (h * w, oh * ow);
        let mut y = vec![0f32; n * c * ol];
        let scratch = || vec![0f32; if tail.pool { l } else { 0 }];
        let stats = match scope {
            Scope::Plane => {
                let mut stats = vec![(0f32, 0f32); n * c];
                y.par_chunks_mut(ol.max(1)).zip(stats.par_iter_mut()).enumerate().for_each_init(scratch, |scratch, (p, (out, stat))| {
                    let plane = &xs[p * l..][..l];
                    let (mu, m2) = plane_moments(plane);
                    let variance = m2 / l as f32;
                    let inv = 1.0 / (variance + epsilon).sqrt();
                    *stat = (mu, variance);
                    let scale = gamma[p % c] * inv;
                    write_plane(plane, scale, beta[p % c] - mu * scale, tail, w, scratch, out);
                });
                stats
            }
            Scope::Channel => {
                let moments: Vec<(f32, f32)> = xs.par_chunks(l.max(1)).map(plane_moments).collect();
                let stats: Vec<(f32, f32)> = (0..c)
                    .map(|ch| {
                        let of_channel = || (0..n).map(|i| moments[i * c + ch]);
                        let mu = of_channel().map(|m| m.0).sum::<f32>() / n as f32;
                        let m2 = of_channel().map(|m| m.1 + l as f32 * (m.0 - mu) * (m.0 - mu)).sum::<f32>();
                        (mu, m2 / (n * l) as f32)
                    })
                    .collect();
                y.par_chunks_mut(ol.max(1)).enumerate().for_each_init(scratch, |scratch, (p, out)| {
                    let (mu, variance) = stats[p % c];
                    let inv = 1.0 / (variance + epsilon).sqrt();
                    let scale = gamma[p % c] * inv;
                    write_plane(&xs[p * l..][..l], scale, beta[p % c] - mu * scale, tail, w, scratch, out);
                });
                stats
            }
        };
        let (mean, variance): (Vec<f32>, Vec<f32>) = stats.into_iter().unzip();
        let inv_std = variance.iter().map(|v| 1.0 / (v + epsilon).sqrt()).collect();
        (FlexTensor::from_data(TensorData::new(y, [n, c, oh, ow])), Stats { mean, variance, inv_std })
    }

    /// g = ∂L/∂(γx̂ + β) at every pixel of a plane, into `out`: the upstream gradient (spread ¼
    /// over each pooling window), shut where the ReLU was.
    fn gate_upstream(plane: &[f32], up: &[f32], scale: f32, shift: f32, tail: Tail, [h, w]: [usize; 2], out: &mut [f32]) {
        if tail.pool {
            let (oh, ow) = (h / 2, w / 2);
            out.fill(0.0);
            for y in 0..2 * oh {
                let (row, from) = (&mut out[y * w..][..2 * ow], &up[(y / 2) * ow..][..ow]);
                for (pair, &u) in row.chunks_exact_mut(2).zip(from) {
                    pair.fill(0.25 * u);
                }
            }
        } else {
            out.copy_from_slice(up);
        }
        if tail.relu {
            for (o, &v) in out.iter_mut().zip(plane) {
                *o = if v * scale + shift > 0.0 { *o } else { 0.0 };
            }
        }
    }

    /// ∂L/∂x = γ/(L·σ) · (L·g − Σg − x̂·Σg·x̂) over a group of `count` pixels, in place over g,
    /// as a·g + b·x + c.
    fn input_grad_in_place(out: &mut [f32], plane: &[f32], (mu, inv, gamma): (f32, f32, f32), count: usize, (sg, sgx): (f32, f32)) {
        let k = gamma * inv / count as f32;
        let (a, b) = (k * count as f32, -k * inv * sgx);
        let c0 = -k * sg - b * mu;
        for (o, &v) in out.iter_mut().zip(plane) {
            *o = a * *o + b * v + c0;
        }
    }

    /// (∂L/∂x, ∂L/∂γ, ∂L/∂β) from the output gradient (module docs).
    fn backward(s: &Saved, grad: &FlexTensor) -> (FlexTensor, Vec<f32>, Vec<f32>) {
        let ([n, c, h, w], _) = geometry(&s.x, s.tail);
        let (xs, grad) = (s.x.storage::<f32>(), grad.to_contiguous());
        let gs: &[f32] = grad.storage();
        let l = h * w;
        let ol = gs.len() / (n * c).max(1);
        let group = |p: usize| if s.scope == Scope::Plane { p } else { p % c };
        let mut dx = vec![0f32; n * c * l];
        // per plane: g into dx, and Σg, Σg·x̂ with the group's statistics
        let plane_sums = |p: usize, out: &mut [f32]| {
            let plane = &xs[p * l..][..l];
            let (mu, inv) = (s.stats.mean[group(p)], s.stats.inv_std[group(p)]);
            let scale = s.gamma[p % c] * inv;
            gate_upstream(plane, &gs[p * ol..][..ol], scale, s.beta[p % c] - mu * scale, s.tail, [h, w], out);
            (sum_by(out, plane, |g, _| g), sum_by(out, plane, |g, v| g * (v - mu)) * inv)
        };
        let per_plane: Vec<(f32, f32)> = match s.scope {
            // the statistics are the plane's own: finish ∂L/∂x while the plane is in cache
            Scope::Plane => dx
                .par_chunks_mut(l.max(1))
                .enumerate()
                .map(|(p, out)| {
                    let sums = plane_sums(p, out);
                    input_grad_in_place(out, &xs[p * l..][..l], (s.stats.mean[p], s.stats.inv_std[p], s.gamma[p % c]), l, sums);
                    sums
                })
                .collect(),
            Scope::Channel => dx.par_chunks_mut(l.max(1)).enumerate().map(|(p, out)| plane_sums(p, out)).collect(),
        };
        let per_channel: Vec<(f32, f32)> = (0..c).map(|ch| (0..n).map(|i| per_plane[i * c + ch]).fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))).collect();
        if s.scope == Scope::Channel {
            dx.par_chunks_mut(l.max(1)).enumerate().for_each(|(p, out)| {
                let ch = p % c;
                input_grad_in_place(out, &xs[p * l..][..l], (s.stats.mean[ch], s.stats.inv_std[ch], s.gamma[ch]), n * l, per_channel[ch]);
            });
        }
        let (dbeta, dgamma) = per_channel.into_iter().unzip();
        (FlexTensor::from_data(TensorData::new(dx, [n, c, h, w])), dgamma, dbeta)
    }
}
