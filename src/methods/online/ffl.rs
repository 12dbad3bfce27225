//! FFL — feature fusion for online mutual knowledge distillation (Kim, Park, Kim & Kwak, ICPR
//! 2020), as the official code (`Jangho-Kim/FFL-pytorch`) runs it on CIFAR:
//! - **Sub-networks on a shared stem** (`our_network.py`, `FFL_ResNet`: conv1, layer1, layer2
//!   shared, `layer3_1`/`layer3_2` per sub-network): peer 0 is a whole network whose stages before
//!   the last are the shared stem, every other peer owns its last stage and classifier
//!   ([`OnlineConfig::shared_stem`]; independent peers, which mixed architectures need, are the
//!   variant).
//! - **Fusion module** (`Fusion_module`): the sub-networks' last maps concatenated along channels
//!   (a larger map average-pooled to the smallest, so mixed peers fuse) → depthwise 3×3 conv →
//!   BN → ReLU → 1×1 conv → BN → ReLU → global pool → fused classifier.
//! - **Loss** (paper Eq. 2–5; `train_FFL.py`, `train()`):
//!   L = Σ_i CE(y, z_i) + CE(y, z_f) + w(e)·[T²·Σ_i KL(softmax(z_f/T) ‖ softmax(z_i/T)) +
//!   T²·KL(softmax(z̄/T) ‖ softmax(z_f/T))],
//!   z̄ = the mean of the sub-networks' logits (`ensemble_logit`), each target detached
//!   (`utils.KLLoss` takes the target's `.data`), T = 3, and w(e) the official sigmoid ramp-up
//!   over the first 80 of 300 epochs ([`super::sigmoid_rampup`], `consistency_weight`).
//!
//! "Ens" is the fused classifier. Where we differ: the official fusion module has its own SGD
//! with weight decay 1e-5; here every parameter shares the recipe's optimiser and weight decay.
use super::{distill_towards, evaluate_online, init_peers, sum, OnlineConfig};
use crate::data::{Batch, Dataset, Loader};
use crate::error::Result;
use crate::models::blocks::{conv, depthwise, global_pool};
use crate::models::{seeded, Net, Staged};
use crate::train::{devices, Method, StepCtx, StepOutput};
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor};
use std::collections::BTreeMap;

/// Fusion module and fused classifier: depthwise 3×3 conv → BN → ReLU → 1×1 conv → BN → ReLU
/// → pool → linear (the official `Fusion_module`: `conv1`, `bn1`, `conv1_1`, `bn1_1`, `fc2`).
#[derive(Module, Debug)]
pub struct Fusion {
    depthwise: Conv2d,
    depthwise_bn: BatchNorm,
    pointwise: Conv2d,
    bn: BatchNorm,
    fc: Linear,
}

impl Fusion {
    /// A fusion of maps with `channels` channels in all, into `out` channels.
    pub fn new(channels: usize, out: usize, classes: usize, device: &Device) -> Fusion {
        Fusion {
            depthwise: depthwise(channels, 1, device),
            depthwise_bn: BatchNormConfig::new(channels).init(device),
            pointwise: conv(channels, out, 1, 1, false, device),
            bn: BatchNormConfig::new(out).init(device),
            fc: LinearConfig::new(out, classes).init(device),
        }
    }
    /// The fused map `[N, out, h, w]` of the peers' last maps (pooled to the smallest `h×w`).
    pub fn fuse(&self, maps: Vec<Tensor<4>>) -> Tensor<4> {
        let (h, w) = maps.iter().map(|m| (m.dims()[2], m.dims()[3])).min().expect("two or more peers");
        let maps = maps.into_iter().map(|m| if m.dims()[2..] == [h, w] { m } else { adaptive_avg_pool2d(m, [h, w]) }).collect();
        let x = relu(self.depthwise_bn.forward(self.depthwise.forward(Tensor::cat(maps, 1))));
        relu(self.bn.forward(self.pointwise.forward(x)))
    }
    /// Fused logits.
    pub fn forward(&self, maps: Vec<Tensor<4>>) -> Tensor<2> {
        self.fc.forward(global_pool(self.fuse(maps)))
    }
}

/// Peers and the fusion module.
#[derive(Module, Debug)]
pub struct FflModel {
    /// The peers (with a shared stem: peer 0 whole, the others' stages from the split on).
    pub peers: Vec<Net>,
    /// Fusion module and fused classifier.
    pub fusion: Fusion,
}

/// The FFL method.
pub struct Ffl {
    model: FflModel,
    /// The first stage each sub-network owns when the stem is shared.
    split: Option<usize>,
    temperature: f64,
    rampup: f64,
}

impl Ffl {
    /// The peers of `config` (on a shared stem when [`OnlineConfig::shared_stem`] allows it) and
    /// a fusion module sized from their last maps (output channels = the widest peer's, the
    /// official `channel*2 → channel` for two equal peers).
    pub fn new(config: &OnlineConfig, data: &Dataset, device: &Device, seed: u64) -> Result<Ffl> {
        config.validate()?;
        let (_, train) = devices(device);
        let peers = init_peers(&config.peers, data, &train, seed)?;
        let same = config.peers.iter().all(|a| *a == config.peers[0]);
        let stages = peers[0].num_stages(data.shape(), &train);
        let split = (config.shared_stem.unwrap_or(same) && stages >= 2).then_some(stages - 1);
        let [c, h, w] = data.shape();
        let widths: Vec<usize> = peers.iter().map(|p| p.forward_features(Tensor::zeros([1, c, h, w], &train)).stages.last().expect("a stage").dims()[1]).collect();
        let total: usize = widths.iter().sum();
        let out = *widths.iter().max().expect("two or more peers");
        let fusion = seeded(&train, seed.wrapping_add(3000), || Ok(Fusion::new(total, out, data.num_classes(), &train)))?;
        Ok(Ffl { model: FflModel { peers, fusion }, split, temperature: config.temperature, rampup: config.rampup })
    }

    /// Whether the sub-networks share their stem, and from which stage on they are their own.
    pub fn shared_from(&self) -> Option<usize> {
        self.split
    }

    /// Every sub-network's last map and logits (through the shared stem when `split` is set).
    fn sub_networks(peers: &[Net], split: Option<usize>, x: Tensor<4>) -> Vec<(Tensor<4>, Tensor<2>)> {
        let last = |stages: Vec<Tensor<4>>| stages.last().expect("a stage").clone();
        match split {
            None => peers.iter().map(|p| p.forward_features(x.clone())).map(|f| (last(f.stages), f.logits)).collect(),
            Some(split) => {
                let stem = peers[0].stages_from(x, 0);
                let shared = stem[split - 1].clone();
                let first = last(stem);
                let mut out = vec![(first.clone(), peers[0].head(first))];
                out.extend(peers[1..].iter().map(|p| {
                    let own = last(p.stages_from(shared.clone(), split));
                    (own.clone(), p.head(own))
                }));
                out
            }
        }
    }

    /// The peers' logits and the fused logits.
    fn forward(model: &FflModel, split: Option<usize>, x: Tensor<4>) -> (Vec<Tensor<2>>, Tensor<2>) {
        let (maps, logits): (Vec<_>, Vec<_>) = Ffl::sub_networks(&model.peers, split, x).into_iter().unzip();
        (logits, model.fusion.forward(maps))
    }
}

impl Method for Ffl {
    type Model = FflModel;

    fn name(&self) -> String {
        "ffl".into()
    }
    fn model(&self) -> &FflModel {
        &self.model
    }
    fn model_mut(&mut self) -> &mut FflModel {
        &mut self.model
    }
    /// Every peer; with a shared stem only peer 0, the one whole network (the others' low
    /// stages are unused copies, as ONE's branches).
    fn nets(&self) -> Vec<(String, Net)> {
        let n = if self.split.is_some() { 1 } else { self.model.peers.len() };
        self.model.peers.iter().take(n).enumerate().map(|(i, p)| (format!("peer{i}"), p.valid())).collect()
    }

    /// Σ CE(z_i) + CE(z_f) + w(e)·[T²·Σ KL(z_f ‖ z_i) + T²·KL(z̄ ‖ z_f)] (module doc).
    fn losses(&mut self, batch: &Batch, ctx: &StepCtx) -> Result<StepOutput> {
        let t = self.temperature;
        let w = super::sigmoid_rampup(ctx.epoch, ctx.epochs, self.rampup);
        let (logits, fused) = Ffl::forward(&self.model, self.split, batch.images(&ctx.device));
        let ce = sum(logits.iter().map(|z| ctx.task_loss(z.clone(), batch))).expect("peers");
        let ce_fused = ctx.task_loss(fused.clone(), batch);
        let mean = logits.iter().cloned().reduce(|a, b| a + b).expect("peers").div_scalar(logits.len() as f64);
        let to_fused = distill_towards(softmax(mean.detach().div_scalar(t), 1), fused.clone(), t);
        let q = softmax(fused.detach().div_scalar(t), 1);
        let to_peers = sum(logits.iter().map(|z| distill_towards(q.clone(), z.clone(), t))).expect("peers");
        let total = ce.clone() + ce_fused.clone() + (to_fused.clone() + to_peers.clone()).mul_scalar(w);
        let acc = ctx.batch_accuracy(logits[0].clone(), batch);
        Ok(StepOutput::new(total).loss("ce", &ce).loss("ce_fused", &ce_fused).loss("kd_to_fused", &to_fused).loss("kd_to_peers", &to_peers).metric("train_acc", acc).metric("ramp", w))
    }

    /// `peer{i}_acc`, `avg_acc`, `ens_acc` = the fused classifier.
    fn evaluate(&self, test: &Loader, device: &Device) -> BTreeMap<String, f64> {
        let model = self.model.valid();
        evaluate_online(test, device, |x| Ffl::forward(&model, self.split, x))
    }
}
