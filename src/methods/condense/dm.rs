//! DM: distribution matching (Zhao & Bilen, WACV 2023; official `main_DM.py`). Each iteration
//! samples a fresh, untrained ConvNet φ and, per class, pulls the mean embedding of A(S) towards
//! that of A(T) under one siamese draw: L = Σ_c ‖mean φ(A(T_c)) − mean φ(A(S_c))‖². First order
//! only; SGD on S with momentum 0.5 (official lr_img 1.0).
use super::dc::convnet;
use super::dsa_aug::Strategy;
use super::matching::{dm_class, ConvWeights};
use super::{CondenseConfig, RealImages};
use crate::error::{Error, Result};
use crate::models::Arch;
use crate::rng::Rng;
use crate::train::devices;
use burn::tensor::{Device, Tensor};

/// One DM iteration number `it` on the images `syn` with momentum buffer `velocity`; returns
/// both updated and the mean matching loss per class.
#[allow(clippy::too_many_arguments)]
pub fn iteration(real: &RealImages, config: &CondenseConfig, strategy: &Strategy, syn: Tensor<4>, velocity: Tensor<4>, it: usize, rng: &mut Rng, device: &Device) -> Result<(Tensor<4>, Tensor<4>, f64)> {
    let (plain, ad) = devices(device);
    let classes = real.classes();
    let ipc = config.ipc;
    let net = Arch::convnet(config.width, config.depth).init_seeded(real.shape, classes, &plain, config.seed.wrapping_mul(1_000_003).wrapping_add(it as u64))?;
    let weights = ConvWeights::of(convnet(&net), &plain);
    let mut loss = 0.0;
    let mut grads = Vec::with_capacity(classes);
    for c in 0..classes {
        let draw = strategy.draw(None, real.shape, rng);
        let real_c = real.sample(c, config.batch_real, rng);
        let (l, g) = dm_class(&weights, real_c, syn.clone().slice(c * ipc..(c + 1) * ipc), draw.as_ref(), &ad);
        if !l.is_finite() {
            return Err(Error::NonFinite { run: "DM".into(), loss: "distribution matching".into(), value: l, epoch: it, step: c });
        }
        loss += l;
        grads.push(g);
    }
    let velocity = velocity.mul_scalar(0.5) + Tensor::cat(grads, 0);
    let syn = syn - velocity.clone().mul_scalar(config.lr_img);
    Ok((syn, velocity, loss / classes as f64))
}
