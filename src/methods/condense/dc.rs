//! DC and DSA: the outer/inner loop of gradient matching (Zhao et al. ICLR 2021, Algorithm 1;
//! official `main.py`). Each iteration samples a fresh ConvNet; `outer_loop` times it matches,
//! per class, the gradients of a real batch and of S (both under one siamese draw ω for DSA) and
//! takes one SGD step (momentum 0.5) on S with the summed ∂D/∂S, then trains the network on S
//! for `inner_loop` epochs (skipped after the last matching step, as the official `break`).
use super::dsa_aug::Strategy;
use super::eval::{train_epochs, EvalAugment};
use super::matching::{match_class, ConvWeights};
use super::{CondenseConfig, CondenseRecord, Init, RealImages};
use crate::error::{Error, Result};
use crate::models::{Arch, Net};
use crate::rng::Rng;
use crate::train::{devices, TrainConfig};
use burn::tensor::{Device, Distribution, Tensor};

/// One outer iteration of DC (strategy `none`) or DSA number `it` on the images `syn` with SGD
/// momentum buffer `velocity`; returns both updated and the mean matching distance.
#[allow(clippy::too_many_arguments)]
pub fn iteration(real: &RealImages, config: &CondenseConfig, strategy: &Strategy, syn: Tensor<4>, velocity: Tensor<4>, it: usize, rng: &mut Rng, device: &Device) -> Result<(Tensor<4>, Tensor<4>, f64)> {
    let (plain, ad) = devices(device);
    let classes = real.classes();
    let ipc = config.ipc;
    let labels: Vec<usize> = (0..classes * ipc).map(|i| i / ipc).collect();
    let (mut syn, mut velocity) = (syn, velocity);
    let arch = Arch::convnet(config.width, config.depth);
    let inner = TrainConfig::default().with_momentum(0.0).with_weight_decay(0.0).with_batch_size(256);
    let mut net = arch.init_seeded(real.shape, classes, &ad, config.seed.wrapping_mul(1_000_003).wrapping_add(it as u64))?;
    let mut optim = inner.sgd();
    let mut distance = 0.0;
    for step in 0..config.outer_loop {
        let weights = ConvWeights::of(convnet(&net), &plain);
        let mut grads = Vec::with_capacity(classes);
        for c in 0..classes {
            let draw = strategy.draw(None, real.shape, rng);
            let real_c = real.sample(c, config.batch_real, rng);
            let syn_c = syn.clone().slice(c * ipc..(c + 1) * ipc);
            let m = match_class(&weights, real_c, syn_c, draw.as_ref(), c, &ad);
            if !m.distance.is_finite() {
                return Err(Error::NonFinite { run: config.method.name().into(), loss: "matching distance".into(), value: m.distance, epoch: it, step });
            }
            distance += m.distance;
            grads.push(m.grad);
        }
        velocity = velocity.mul_scalar(0.5) + Tensor::cat(grads, 0);
        syn = syn - velocity.clone().mul_scalar(config.lr_img);
        if step + 1 < config.outer_loop {
            let lr = config.lr_net;
            net = train_epochs(net, &syn, &labels, config.inner_loop, &inner, &|_| lr, &EvalAugment::Dsa(strategy.clone()), &mut optim, rng, &ad);
        }
    }
    Ok((syn, velocity, distance / (classes * config.outer_loop) as f64))
}

/// The DC ConvNet inside a [`Net`].
pub fn convnet(net: &Net) -> &crate::models::convnet::ConvNet {
    match net {
        Net::ConvNet(n) => n,
        _ => unreachable!("condensation always matches on the DC ConvNet"),
    }
}

/// S at iteration 0: random real images of each class, or N(0, 1) noise in normalised space.
pub fn initial_images(real: &RealImages, config: &CondenseConfig, rng: &mut Rng) -> Tensor<4> {
    let [c, h, w] = real.shape;
    match config.init {
        Init::Real => Tensor::cat((0..real.classes()).map(|k| real.sample(k, config.ipc, rng)).collect(), 0),
        Init::Noise => {
            crate::models::with_seed(&real.device, rng.next_u64(), || Tensor::random([real.classes() * config.ipc, c, h, w], Distribution::Normal(0.0, 1.0), &real.device))
        }
    }
}

impl CondenseRecord {
    /// Keeps a copy of the images at `iteration`.
    pub fn snapshot(&mut self, iteration: usize, images: &Tensor<4>) {
        self.snapshot_iterations.push(iteration);
        self.snapshots.push(images.clone().into_data().try_to_vec::<f32>().unwrap_or_default());
    }

    /// Records an iteration's loss and time and keeps the snapshots after each quarter of the
    /// iterations (the last one is the final set).
    pub fn finish_iteration(&mut self, it: usize, config: &CondenseConfig, loss: f64, seconds: f64, images: &Tensor<4>) {
        self.losses.push(loss);
        self.seconds.push(seconds);
        let done = it + 1;
        let at_a_quarter = (1..=4).any(|q| config.iterations * q / 4 == done);
        if at_a_quarter && self.snapshot_iterations.last() != Some(&done) {
            self.snapshot(done, images);
        }
    }
}
