//! Losses shared by the methods. Each returns a scalar tensor (shape `[1]`) averaged over the
//! batch unless its doc says otherwise.
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Int, Tensor};

/// Cross-entropy with label smoothing ε (Szegedy et al. 2016):
/// −Σ_k [(1−ε)·1{k=y} + ε/K] · log p_k, mean over the batch. ε = 0 is plain CE.
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>, smoothing: f64) -> Tensor<1> {
    let [n, k] = logits.dims();
    let logp = log_softmax(logits, 1);
    let nll = logp.clone().gather(1, labels.reshape([n, 1])).reshape([n]).neg();
    if smoothing == 0.0 {
        return nll.mean();
    }
    let uniform = logp.sum_dim(1).reshape([n]).neg().div_scalar(k as f64);
    (nll.mul_scalar(1.0 - smoothing) + uniform.mul_scalar(smoothing)).mean()
}

/// Soft-target cross-entropy −Σ_k q_k log p_k (q a distribution per row), mean over the batch.
pub fn soft_cross_entropy(logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    (log_softmax(logits, 1) * targets).sum_dim(1).neg().mean()
}

/// Hinton et al. (2015) KD term: T² · KL(softmax(z_t/T) ‖ softmax(z_s/T)), batch mean.
/// The T² factor keeps gradient magnitudes independent of T (paper §2). The teacher logits are
/// detached: no gradient reaches the teacher.
pub fn kd_kl(student: Tensor<2>, teacher: Tensor<2>, t: f64) -> Tensor<1> {
    let log_ps = log_softmax(student.div_scalar(t), 1);
    let log_pt = log_softmax(teacher.detach().div_scalar(t), 1);
    let pt = log_pt.clone().exp();
    (pt * (log_pt - log_ps)).sum_dim(1).mean().mul_scalar(t * t)
}

/// KL(p ‖ q) between two rows-of-probabilities given as logits, batch mean.
pub fn kl_logits(p_logits: Tensor<2>, q_logits: Tensor<2>) -> Tensor<1> {
    let log_p = log_softmax(p_logits, 1);
    let log_q = log_softmax(q_logits, 1);
    (log_p.clone().exp() * (log_p - log_q)).sum_dim(1).mean()
}

/// Jensen–Shannon divergence ½KL(p‖m) + ½KL(q‖m), m = (p+q)/2, batch mean.
pub fn js(p_logits: Tensor<2>, q_logits: Tensor<2>) -> Tensor<1> {
    let p = softmax(p_logits, 1);
    let q = softmax(q_logits, 1);
    let m = (p.clone() + q.clone()).mul_scalar(0.5);
    let kl = |a: Tensor<2>| (a.clone() * (a.clamp_min(1e-12).log() - m.clone().clamp_min(1e-12).log())).sum_dim(1);
    (kl(p) + kl(q)).mul_scalar(0.5).mean()
}

/// Gradient-matching distance of DC (Zhao et al. 2021, `utils.py::distance_wb`): the weight
/// gradients are reshaped to `[out, rest]` and the distance is Σ_out (1 − cos(g_a, g_b)).
/// Inputs are already `[out, rest]`; ε = 1e-6 in the norms as in the official code.
pub fn cosine_matching_distance(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    let dot = (a.clone() * b.clone()).sum_dim(1);
    let na = a.square().sum_dim(1).sqrt();
    let nb = b.square().sum_dim(1).sqrt();
    (dot / (na * nb).add_scalar(1e-6)).neg().add_scalar(1.0).sum().reshape([1])
}

/// Σ (a − b)² over all elements divided by `batch` (MGD's `MSELoss(reduction='sum') / N`).
pub fn mse_sum<const D: usize>(a: Tensor<D>, b: Tensor<D>, batch: usize) -> Tensor<1> {
    (a - b).square().sum().div_scalar(batch as f64)
}

/// Top-1 accuracy (fraction in [0, 1]) of logits against labels.
pub fn accuracy(logits: Tensor<2>, labels: Tensor<1, Int>) -> f64 {
    let n = labels.dims()[0].max(1);
    correct(logits, labels) as f64 / n as f64
}

/// Number of top-1 hits.
pub fn correct(logits: Tensor<2>, labels: Tensor<1, Int>) -> usize {
    let [n, _] = logits.dims();
    let pred = logits.argmax(1).reshape([n]);
    pred.equal(labels).int().sum().into_scalar::<i64>() as usize
}
