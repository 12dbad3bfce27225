//! FFL — feature fusion for online mutual knowledge distillation (Kim, Park, Kim & Kwak, ICPR
//! 2020). The peers' last feature maps are concatenated along channels (a larger map is
//! average-pooled to the smallest size, so mixed peers fuse), a fusion module — depthwise 3×3
//! conv → 1×1 conv → BN → ReLU — mixes them, and a fused classifier reads the pooled result.
//! Mutual distillation both ways (paper Eq. 2–5):
//! L = Σ_i CE(y, z_i) + CE(y, z_f) + T²·KL(softmax(z̄/T) ‖ softmax(z_f/T))
//!     + T²·Σ_i KL(softmax(z_f/T) ‖ softmax(z_i/T)),
//! z̄ = the mean of the peers' logits (the ensemble teaching the fused classifier), each target
//! detached, T = 3. "Ens" is the fused classifier.
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

/// Fusion module and fused classifier.
#[derive(Module, Debug)]
pub struct Fusion {
    depthwise: Conv2d,
    pointwise: Conv2d,
    bn: BatchNorm,
    fc: Linear,
}

impl Fusion {
    /// A fusion of maps with `channels` channels in all, into `out` channels.
    pub fn new(channels: usize, out: usize, classes: usize, device: &Device) -> Fusion {
        Fusion { depthwise: depthwise(channels, 1, device), pointwise: conv(channels, out, 1, 1, false, device), bn: BatchNormConfig::new(out).init(device), fc: LinearConfig::new(out, classes).init(device) }
    }
    /// The fused map `[N, out, h, w]` of the peers' last maps (pooled to the smallest `h×w`).
    pub fn fuse(&self, maps: Vec<Tensor<4>>) -> Tensor<4> {
        let (h, w) = maps.iter().map(|m| (m.dims()[2], m.dims()[3])).min().expect("two or more peers");
        let maps = maps.into_iter().map(|m| if m.dims()[2..] == [h, w] { m } else { adaptive_avg_pool2d(m, [h, w]) }).collect();
        relu(self.bn.forward(self.pointwise.forward(self.depthwise.forward(Tensor::cat(maps, 1)))))
    }
    /// Fused logits.
    pub fn forward(&self, maps: Vec<Tensor<4>>) -> Tensor<2> {
        self.fc.forward(global_pool(self.fuse(maps)))
    }
}

/// Peers and the fusion module.
#[derive(Module, Debug)]
pub struct FflModel {
    /// The peers.
    pub peers: Vec<Net>,
    /// Fusion module and fused classifier.
    pub fusion: Fusion,
}

/// The FFL method.
pub struct Ffl {
    model: FflModel,
    temperature: f64,
}

impl Ffl {
    /// The peers of `config` and a fusion module sized from their last maps (output channels =
    /// the widest peer's).
    pub fn new(config: &OnlineConfig, data: &Dataset, device: &Device, seed: u64) -> Result<Ffl> {
        config.validate()?;
        let (_, train) = devices(device);
        let peers = init_peers(&config.peers, data, &train, seed)?;
        let [c, h, w] = data.shape();
        let widths: Vec<usize> = peers.iter().map(|p| p.forward_features(Tensor::zeros([1, c, h, w], &train)).stages.last().expect("a stage").dims()[1]).collect();
        let total: usize = widths.iter().sum();
        let out = *widths.iter().max().expect("two or more peers");
        let fusion = seeded(&train, seed.wrapping_add(3000), || Ok(Fusion::new(total, out, data.num_classes(), &train)))?;
        Ok(Ffl { model: FflModel { peers, fusion }, temperature: config.temperature })
    }

    /// The peers' logits and the fused logits.
    fn forward(model: &FflModel, x: Tensor<4>) -> (Vec<Tensor<2>>, Tensor<2>) {
        let feats: Vec<_> = model.peers.iter().map(|p| p.forward_features(x.clone())).collect();
        let fused = model.fusion.forward(feats.iter().map(|f| f.stages.last().expect("a stage").clone()).collect());
        (feats.into_iter().map(|f| f.logits).collect(), fused)
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
    fn nets(&self) -> Vec<(String, Net)> {
        self.model.peers.iter().enumerate().map(|(i, p)| (format!("peer{i}"), p.valid())).collect()
    }

    /// Σ CE(z_i) + CE(z_f) + T²·KL(z̄ ‖ z_f) + T²·Σ KL(z_f ‖ z_i) (module doc).
    fn losses(&mut self, batch: &Batch, ctx: &StepCtx) -> Result<StepOutput> {
        let t = self.temperature;
        let (logits, fused) = Ffl::forward(&self.model, batch.images(&ctx.device));
        let ce = sum(logits.iter().map(|z| ctx.task_loss(z.clone(), batch))).expect("peers");
        let ce_fused = ctx.task_loss(fused.clone(), batch);
        let mean = logits.iter().cloned().reduce(|a, b| a + b).expect("peers").div_scalar(logits.len() as f64);
        let to_fused = distill_towards(softmax(mean.detach().div_scalar(t), 1), fused.clone(), t);
        let q = softmax(fused.detach().div_scalar(t), 1);
        let to_peers = sum(logits.iter().map(|z| distill_towards(q.clone(), z.clone(), t))).expect("peers");
        let total = ce.clone() + ce_fused.clone() + to_fused.clone() + to_peers.clone();
        let acc = ctx.batch_accuracy(logits[0].clone(), batch);
        Ok(StepOutput::new(total).loss("ce", &ce).loss("ce_fused", &ce_fused).loss("kd_to_fused", &to_fused).loss("kd_to_peers", &to_peers).metric("train_acc", acc))
    }

    /// `peer{i}_acc`, `avg_acc`, `ens_acc` = the fused classifier.
    fn evaluate(&self, test: &Loader, device: &Device) -> BTreeMap<String, f64> {
        let model = self.model.valid();
        evaluate_online(test, device, |x| Ffl::forward(&model, x))
    }
}
