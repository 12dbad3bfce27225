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
    soft_kl(student, teacher.detach(), t)
}

/// [`kd_kl`] without the detach: the gradient reaches the teacher's logits too (self-
/// distillation inside one network, where the "teacher" is a stage being trained).
pub fn soft_kl(student: Tensor<2>, teacher: Tensor<2>, t: f64) -> Tensor<1> {
    let log_ps = log_softmax(student.div_scalar(t), 1);
    let log_pt = log_softmax(teacher.div_scalar(t), 1);
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn dev() -> Device {
        crate::device::DeviceExt::cpu_default()
    }
    fn t2(rows: Vec<Vec<f32>>) -> Tensor<2> {
        let (n, k) = (rows.len(), rows[0].len());
        Tensor::from_data(TensorData::new(rows.concat(), [n, k]), &dev())
    }
    fn labels(v: &[i64]) -> Tensor<1, Int> {
        Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &dev())
    }
    fn val(t: Tensor<1>) -> f64 {
        t.into_scalar::<f32>() as f64
    }
    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }

    #[test]
    fn cross_entropy_by_hand() {
        // −log softmax([1,2,3])[2] = log(e¹+e²+e³) − 3
        close(val(cross_entropy(t2(vec![vec![1.0, 2.0, 3.0]]), labels(&[2]), 0.0)), 0.40760596);
        // ε = 0.1: 0.9·0.40760596 + 0.1·mean(2.40760596, 1.40760596, 0.40760596)
        close(val(cross_entropy(t2(vec![vec![1.0, 2.0, 3.0]]), labels(&[2]), 0.1)), 0.50760596);
    }

    #[test]
    fn soft_ce_by_hand() {
        close(val(soft_cross_entropy(t2(vec![vec![0.0, 0.0]]), t2(vec![vec![0.3, 0.7]]))), std::f64::consts::LN_2);
    }

    #[test]
    fn hinton_kd_by_hand() {
        let teacher = t2(vec![vec![3f32.ln(), 0.0]]);
        // T = 1: KL([.75,.25] ‖ [.5,.5]) = .75 ln 1.5 + .25 ln .5
        close(val(kd_kl(t2(vec![vec![0.0, 0.0]]), teacher.clone(), 1.0)), 0.75 * 1.5f64.ln() + 0.25 * 0.5f64.ln());
        // T = 2: teacher softmax([ln3/2, 0]) = [√3, 1]/(√3+1); ×T² = 4
        close(val(kd_kl(t2(vec![vec![0.0, 0.0]]), teacher, 2.0)), 0.14536313);
        // identical logits: zero
        close(val(kd_kl(t2(vec![vec![1.0, -2.0]]), t2(vec![vec![1.0, -2.0]]), 3.0)), 0.0);
    }

    #[test]
    fn kl_and_js_by_hand() {
        let p = t2(vec![vec![3f32.ln(), 0.0]]);
        let q = t2(vec![vec![0.0, 0.0]]);
        close(val(kl_logits(p.clone(), q.clone())), 0.13081204);
        close(val(js(p, q)), 0.03382208);
    }

    #[test]
    fn cosine_distance_by_hand() {
        let a = t2(vec![vec![1.0, 0.0], vec![1.0, 1.0]]);
        let b = t2(vec![vec![2.0, 0.0], vec![-1.0, -1.0]]);
        // row 0 parallel (1 − 1), row 1 opposite (1 + 1)
        assert!((val(cosine_matching_distance(a, b)) - 2.0).abs() < 1e-4);
    }

    #[test]
    fn mse_sum_by_hand() {
        let a = t2(vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
        close(val(mse_sum(a, t2(vec![vec![0.0, 0.0], vec![0.0, 0.0]]), 2)), 15.0);
    }

    #[test]
    fn accuracy_counts_hits() {
        let logits = t2(vec![vec![0.1, 0.9], vec![0.8, 0.2], vec![0.3, 0.7]]);
        close(accuracy(logits, labels(&[1, 1, 1])), 2.0 / 3.0);
    }
}
