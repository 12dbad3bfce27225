//! The matching objectives of DC/DSA (gradient matching) and DM (distribution matching) on a
//! functional copy of the DC ConvNet.
//!
//! ∂D/∂S of gradient matching differentiates through ∇_θ L(S) (PyTorch: `create_graph=True`);
//! burn's autodiff is first order. We take the finite-difference Hessian-vector product with
//! **frozen ReLU masks** (notes `4-dsa.md`, "the hard part"): with v = ∂D/∂g_S,
//!
//! ∂D/∂S = ∂/∂S ⟨∇_θ L(S; θ), v⟩ ≈ [∇_S L(S; θ + εv) − ∇_S L(S; θ − εv)] / 2ε,  ε = 0.01 / ‖v‖,
//!
//! where both passes reuse the 0/1 ReLU gates computed at θ. ReLU's second derivative is zero
//! almost everywhere, so PyTorch's double backward treats the gates as constants too; without
//! freezing, ±εv flips gates and the difference picks up the jumps (cosine 0.06 to the exact
//! value in f32). Instance norm and average pooling are smooth and need nothing special.
//! `tests/dsa_fixture.rs` checks the result against PyTorch's exact double backward.
use super::dsa_aug::Draw;
use crate::losses;
use crate::models::convnet::ConvNet;
use crate::ops::norm::{instance_norm, Tail};
use burn::nn::pool::AvgPool2dConfig;
use crate::ops::conv::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Int, Tensor, TensorData};

/// The weights of a DC ConvNet as plain tensors, for functional forward passes.
#[derive(Clone, Debug)]
pub struct ConvWeights {
    /// Conv kernels `[out, in, 3, 3]`, shallow to deep.
    pub convs: Vec<Tensor<4>>,
    /// Conv biases.
    pub conv_bias: Vec<Tensor<1>>,
    /// Instance-norm scales.
    pub gammas: Vec<Tensor<1>>,
    /// Instance-norm shifts.
    pub betas: Vec<Tensor<1>>,
    /// Classifier `[in, out]` (burn's layout).
    pub fc: Tensor<2>,
    /// Classifier bias.
    pub fc_bias: Tensor<1>,
}

/// One forward pass: logits, the ReLU gates used, and the embedding fed to the classifier.
pub struct Pass {
    /// `[N, classes]`.
    pub logits: Tensor<2>,
    /// The 0/1 ReLU gates of every block.
    pub gates: Vec<Tensor<4>>,
    /// `[N, features]` (DM's embedding, herding's features).
    pub embed: Tensor<2>,
}

impl ConvWeights {
    /// A copy of `net`'s weights on `device` (constants, no graph).
    pub fn of(net: &ConvNet, device: &Device) -> ConvWeights {
        let (convs, norms, fc) = net.layers();
        let width = convs[0].weight.val().dims()[0];
        ConvWeights {
            convs: convs.iter().map(|c| copy(c.weight.val(), device)).collect(),
            conv_bias: convs
                .iter()
                .map(|c| c.bias.as_ref().map(|b| copy(b.val(), device)).unwrap_or_else(|| Tensor::zeros([width], device)))
                .collect(),
            gammas: norms.iter().map(|n| copy(n.affine().0, device)).collect(),
            betas: norms.iter().map(|n| copy(n.affine().1, device)).collect(),
            fc: copy(fc.weight.val(), device),
            fc_bias: copy(fc.bias.as_ref().map(|b| b.val()).expect("the ConvNet classifier has a bias"), device),
        }
    }

    /// The same weights on `device`.
    pub fn on(&self, device: &Device) -> ConvWeights {
        ConvWeights {
            convs: self.convs.iter().map(|t| copy(t.clone(), device)).collect(),
            conv_bias: self.conv_bias.iter().map(|t| copy(t.clone(), device)).collect(),
            gammas: self.gammas.iter().map(|t| copy(t.clone(), device)).collect(),
            betas: self.betas.iter().map(|t| copy(t.clone(), device)).collect(),
            fc: copy(self.fc.clone(), device),
            fc_bias: copy(self.fc_bias.clone(), device),
        }
    }

    /// The matched weights as `[out, rest]` matrices (official `match_loss` reshapes each
    /// ≥ 2-D gradient to `(shape[0], −1)`; PyTorch's Linear weight is `[out, in]`, so burn's
    /// `[in, out]` classifier is transposed). Biases and norm affines are 1-D: not matched.
    pub fn matched(&self) -> Vec<Tensor<2>> {
        let mut out: Vec<Tensor<2>> = self.convs.iter().map(|w| w.clone().flatten(1, 3)).collect();
        out.push(self.fc.clone().transpose());
        out
    }

    /// These weights with the matched ones replaced by `m` (in [`matched`](Self::matched) form).
    pub fn with_matched(&self, m: &[Tensor<2>]) -> ConvWeights {
        let mut w = self.clone();
        for (conv, new) in w.convs.iter_mut().zip(m) {
            *conv = new.clone().reshape(conv.dims());
        }
        w.fc = m[self.convs.len()].clone().transpose();
        w
    }

    /// θ + scale·v on the matched weights.
    pub fn perturbed(&self, v: &[Tensor<2>], scale: f64) -> ConvWeights {
        let m: Vec<Tensor<2>> = self.matched().into_iter().zip(v).map(|(w, d)| w + d.clone().mul_scalar(scale)).collect();
        self.with_matched(&m)
    }

    /// Conv → instance norm → ReLU (or the given frozen gates) → AvgPool 2 per block, then the
    /// classifier; the first conv pads by 3 on 28×28 inputs, as [`ConvNet`] does.
    pub fn forward(&self, x: Tensor<4>, frozen: Option<&[Tensor<4>]>) -> Pass {
        let [_, _, h, w] = x.dims();
        let pool = AvgPool2dConfig::new([2, 2]).init();
        let mut x = x;
        let mut gates = Vec::with_capacity(self.convs.len());
        for d in 0..self.convs.len() {
            let pad = if d == 0 && h == 28 && w == 28 { 3 } else { 1 };
            x = conv2d(x, self.convs[d].clone(), Some(self.conv_bias[d].clone()), ConvOptions::new([1, 1], [pad, pad], [1, 1], 1));
            x = instance_norm(x, self.gammas[d].clone(), self.betas[d].clone(), 1e-5, Tail::NONE);
            let gate = match frozen {
                Some(g) => g[d].clone(),
                None => x.clone().detach().greater_elem(0.0).float(),
            };
            x = pool.forward(x * gate.clone());
            gates.push(gate);
        }
        let embed = x.flatten(1, 3);
        let logits = embed.clone().matmul(self.fc.clone()) + self.fc_bias.clone().unsqueeze_dim(0);
        Pass { logits, gates, embed }
    }
}

fn copy<const D: usize>(t: Tensor<D>, device: &Device) -> Tensor<D> {
    Tensor::from_data(t.into_data(), device)
}

fn labels(label: usize, n: usize, device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(vec![label as i64; n], [n]), device)
}

fn augment(x: Tensor<4>, draw: Option<&Draw>) -> Tensor<4> {
    match draw {
        Some(d) => d.apply(x),
        None => x,
    }
}

/// Gradients of the mean cross-entropy w.r.t. the matched weights, `[out, rest]` each, and the
/// ReLU gates of that pass; `wa` already lives on the autodiff device `ad`.
pub fn weight_gradients(wa: &ConvWeights, x: Tensor<4>, label: usize, ad: &Device) -> (Vec<Tensor<2>>, Vec<Tensor<4>>) {
    let leaves: Vec<Tensor<2>> = wa.matched().into_iter().map(|t| t.require_grad()).collect();
    let n = x.dims()[0];
    let pass = wa.with_matched(&leaves).forward(copy(x, ad), None);
    let grads = losses::cross_entropy(pass.logits, labels(label, n, ad), 0.0).backward();
    let g = leaves.iter().map(|l| l.grad(&grads).expect("matched weights are leaves of the loss")).collect();
    (g, pass.gates)
}

/// D = Σ_layers Σ_out (1 − cos(g_S, g_T)) and v = ∂D/∂g_S.
pub fn distance_and_direction(g_syn: &[Tensor<2>], g_real: &[Tensor<2>], ad: &Device) -> (f64, Vec<Tensor<2>>) {
    let leaves: Vec<Tensor<2>> = g_syn.iter().map(|g| copy(g.clone(), ad).require_grad()).collect();
    let d = leaves
        .iter()
        .zip(g_real)
        .map(|(s, r)| losses::cosine_matching_distance(s.clone(), copy(r.clone(), ad)))
        .reduce(|a, b| a + b)
        .expect("at least one matched layer");
    let value = crate::train::scalar(&d);
    let grads = d.backward();
    (value, leaves.iter().map(|l| l.grad(&grads).expect("g_S is a leaf of D")).collect())
}

/// One class of gradient matching: the distance D(∇_θ L(A(S)), ∇_θ L(A(T))) and ∂D/∂S.
pub struct ClassMatch {
    /// D for this class.
    pub distance: f64,
    /// ∂D/∂S, shaped like `syn`, on the plain device.
    pub grad: Tensor<4>,
}

/// Matches one class: `real` and `syn` are plain (un-augmented) images of class `label`; `draw`
/// is the siamese ω applied to both (None for DC).
pub fn match_class(w: &ConvWeights, real: Tensor<4>, syn: Tensor<4>, draw: Option<&Draw>, label: usize, ad: &Device) -> ClassMatch {
    let plain = syn.device();
    let wa = w.on(ad);
    let (g_real, _) = weight_gradients(&wa, augment(real, draw), label, ad);
    let (g_syn, gates) = weight_gradients(&wa, augment(syn.clone(), draw), label, ad);
    let (distance, v) = distance_and_direction(&g_syn, &g_real, ad);
    let grad = hvp_wrt_images(&wa, syn, draw, label, &v, &gates, ad);
    ClassMatch { distance, grad: copy(grad, &plain) }
}

/// ∂/∂S ⟨∇_θ L(A(S); θ), v⟩ by central differences with frozen ReLU gates (module docs); `wa`
/// lives on the autodiff device `ad` (as constants).
pub fn hvp_wrt_images(wa: &ConvWeights, syn: Tensor<4>, draw: Option<&Draw>, label: usize, v: &[Tensor<2>], gates: &[Tensor<4>], ad: &Device) -> Tensor<4> {
    let norm = v.iter().map(|t| t.clone().square().sum().into_scalar::<f32>() as f64).sum::<f64>().sqrt();
    if norm.is_nan() || norm <= 0.0 || !norm.is_finite() {
        return Tensor::zeros(syn.dims(), &syn.device());
    }
    let eps = 0.01 / norm;
    let n = syn.dims()[0];
    let s = copy(syn, ad).require_grad();
    let x = augment(s.clone(), draw);
    let v: Vec<Tensor<2>> = v.iter().map(|t| copy(t.clone(), ad)).collect();
    let ce = |weights: ConvWeights, x: Tensor<4>| {
        let logits = weights.forward(x, Some(gates)).logits;
        losses::cross_entropy(logits, labels(label, n, ad), 0.0)
    };
    let plus = ce(wa.perturbed(&v, eps), x.clone());
    let minus = ce(wa.perturbed(&v, -eps), x);
    let grads = (plus - minus).backward();
    s.grad(&grads).expect("S is a leaf").div_scalar(2.0 * eps)
}

/// One class of distribution matching (DM, Zhao & Bilen WACV 2023, official `main_DM.py`):
/// ‖mean φ(A(T)) − mean φ(A(S))‖² with φ a randomly initialised ConvNet's embedding; returns the
/// loss and its gradient w.r.t. `syn` (first order).
pub fn dm_class(w: &ConvWeights, real: Tensor<4>, syn: Tensor<4>, draw: Option<&Draw>, ad: &Device) -> (f64, Tensor<4>) {
    let plain = syn.device();
    let mean_real = w.forward(augment(real, draw), None).embed.mean_dim(0);
    let s = copy(syn, ad).require_grad();
    let mean_syn = w.on(ad).forward(augment(s.clone(), draw), None).embed.mean_dim(0);
    let loss = (copy(mean_real, ad) - mean_syn).square().sum();
    let value = crate::train::scalar(&loss.clone().reshape([1]));
    let grads = loss.backward();
    (value, copy(s.grad(&grads).expect("S is a leaf"), &plain))
}
