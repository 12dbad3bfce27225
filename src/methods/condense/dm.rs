//! DM: distribution matching (Zhao & Bilen, WACV 2023; official `main_DM.py`). Each iteration
//! samples a fresh, untrained ConvNet φ and, per class, pulls the mean embedding of A(S) towards
//! that of A(T) under one siamese draw: L = Σ_c ‖mean φ(A(T_c)) − mean φ(A(S_c))‖². First order
//! only; SGD on S with momentum 0.5 (official lr_img 1.0).
use super::dc::{convnet, initial_images};
use super::dsa_aug::Strategy;
use super::matching::{dm_class, ConvWeights};
use super::{CondenseConfig, CondenseRecord, RealImages};
use crate::error::{Error, Result};
use crate::models::Arch;
use crate::rng::Rng;
use crate::train::devices;
use burn::tensor::{Device, Tensor};
use std::time::Instant;

/// Runs DM and returns the learned images `[classes·ipc, C, H, W]`.
pub fn condense(real: &RealImages, config: &CondenseConfig, strategy: &Strategy, record: &mut CondenseRecord, quiet: bool, device: &Device) -> Result<Tensor<4>> {
    let (plain, ad) = devices(device);
    let classes = real.classes();
    let ipc = config.ipc;
    let mut rng = Rng::derive(config.seed, 0xD3);
    let mut syn = initial_images(real, config, &mut rng);
    let mut velocity = syn.zeros_like();
    record.snapshot(0, &syn);
    let arch = Arch::convnet(config.width, config.depth);
    for it in 0..config.iterations {
        let start = Instant::now();
        let net = arch.init_seeded(real.shape, classes, &plain, config.seed.wrapping_mul(1_000_003).wrapping_add(it as u64))?;
        let weights = ConvWeights::of(convnet(&net), &plain);
        let mut loss = 0.0;
        let mut grads = Vec::with_capacity(classes);
        for c in 0..classes {
            let draw = strategy.draw(None, real.shape, &mut rng);
            let real_c = real.sample(c, config.batch_real, &mut rng);
            let (l, g) = dm_class(&weights, real_c, syn.clone().slice(c * ipc..(c + 1) * ipc), draw.as_ref(), &ad);
            if !l.is_finite() {
                return Err(Error::NonFinite { run: "DM".into(), loss: "distribution matching".into(), value: l, epoch: it, step: c });
            }
            loss += l;
            grads.push(g);
        }
        velocity = velocity.mul_scalar(0.5) + Tensor::cat(grads, 0);
        syn = syn - velocity.clone().mul_scalar(config.lr_img);
        record.finish_iteration(it, config, loss / classes as f64, start, &syn, quiet);
    }
    Ok(syn)
}
