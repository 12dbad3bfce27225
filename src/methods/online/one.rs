//! ONE — On-the-fly Native Ensemble (Lan, Zhu & Gong, NeurIPS 2018): the low layers are shared,
//! the last stage and the classifier are replicated into m branches (official default m = 3,
//! [`OnlineConfig::branches`]), and a gate on the shared features, FC → BN → ReLU → softmax (the
//! official `control_v1`, `bn_v1`), weighs the branch logits into a teacher z_t = Σ_i g_i·z_i.
//! Loss (paper Eq. 5–7, official `cifar_one.py` `train()`):
//! L = Σ_i CE(y, z_i) + CE(y, z_t) + w(e)·T²·Σ_i KL(softmax(z_t/T) ‖ softmax(z_i/T)), T = 3, the
//! teacher's distribution detached in the KL (`loss/kl_loss.py` takes `target_data.data`: the
//! gate learns from CE(z_t) only), and w(e) the official sigmoid ramp-up over the first 80 of
//! 300 epochs ([`super::sigmoid_rampup`]; `consistency_weight * (criterion_kl(...) + …)`).
//!
//! Branch 0 is a whole network of the zoo (its low stages are the shared trunk); branches 1..
//! own their last stage and classifier (their copies of the low stages are unused). The run
//! returns branch 0 as `peer0`; every branch's accuracy is recorded.
use super::{distill_towards, evaluate_online, init_peers, sum, OnlineConfig};
use crate::data::{Batch, Dataset, Loader};
use crate::error::{Error, Result};
use crate::models::{seeded, Net};
use crate::train::{devices, Method, StepCtx, StepOutput};
use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Tensor};
use std::collections::BTreeMap;

/// The gate: FC → BN → ReLU → softmax over the branches, from the pooled shared features.
#[derive(Module, Debug)]
pub struct Gate {
    fc: Linear,
    bn: BatchNorm,
}

impl Gate {
    /// Branch weights `[N, m]` (rows sum to 1).
    pub fn forward(&self, shared: Tensor<4>) -> Tensor<2> {
        let pooled = crate::models::blocks::global_pool(shared);
        softmax(relu(self.bn.forward(self.fc.forward(pooled))), 1)
    }
}

/// Trunk (branch 0), the other branches and the gate.
#[derive(Module, Debug)]
pub struct OneModel {
    /// Branch 0; its stages before `split` are the shared trunk.
    pub trunk: Net,
    /// Branches 1..m (only their stages from `split` on and their classifiers are used).
    pub branches: Vec<Net>,
    /// The gate.
    pub gate: Gate,
}

/// The ONE method.
pub struct One {
    model: OneModel,
    split: usize,
    temperature: f64,
    rampup: f64,
}

impl One {
    /// m = [`OnlineConfig::branches`] (default 3) branches of `peers[0]`'s architecture; the
    /// last stage is branched (as the official code branches ResNet's `layer3`).
    pub fn new(config: &OnlineConfig, data: &Dataset, device: &Device, seed: u64) -> Result<One> {
        config.validate()?;
        let (_, train) = devices(device);
        let m = config.branches.unwrap_or(super::ONE_BRANCHES);
        let mut nets = init_peers(&vec![config.peers[0].clone(); m], data, &train, seed)?;
        let stages = nets[0].num_stages(data.shape(), &train);
        if stages < 2 {
            return Err(Error::invalid("peers", config.peers[0].to_string(), "ONE shares the low stages and branches the last: the network needs at least two stages"));
        }
        let split = stages - 1;
        let [c, h, w] = data.shape();
        let shared = nets[0].stages_from(Tensor::zeros([1, c, h, w], &train), 0)[split - 1].dims()[1];
        let m = nets.len();
        let gate = seeded(&train, seed.wrapping_add(2000), || Ok(Gate { fc: LinearConfig::new(shared, m).init(&train), bn: BatchNormConfig::new(m).init(&train) }))?;
        let trunk = nets.remove(0);
        Ok(One { model: OneModel { trunk, branches: nets, gate }, split, temperature: config.temperature, rampup: config.rampup })
    }

    /// Every branch's logits and the gated teacher's logits.
    fn forward(model: &OneModel, split: usize, x: Tensor<4>) -> (Vec<Tensor<2>>, Tensor<2>) {
        let stages = model.trunk.stages_from(x, 0);
        let shared = stages[split - 1].clone();
        let mut logits = vec![model.trunk.head(stages.last().expect("stages").clone())];
        for b in &model.branches {
            let up = b.stages_from(shared.clone(), split);
            logits.push(b.head(up.last().expect("a branched stage").clone()));
        }
        let g = model.gate.forward(shared);
        let [n, _] = g.dims();
        let teacher = logits.iter().enumerate().map(|(i, z)| z.clone() * g.clone().slice([0..n, i..i + 1])).reduce(|a, b| a + b).expect("branches");
        (logits, teacher)
    }
}

impl Method for One {
    type Model = OneModel;

    fn name(&self) -> String {
        "one".into()
    }
    fn model(&self) -> &OneModel {
        &self.model
    }
    fn model_mut(&mut self) -> &mut OneModel {
        &mut self.model
    }
    /// Branch 0 (trunk + its own last stage and classifier).
    fn nets(&self) -> Vec<(String, Net)> {
        vec![("peer0".into(), self.model.trunk.valid())]
    }

    /// Σ_i CE(z_i) + CE(z_t) + w(e)·T²·Σ_i KL(p_t ‖ p_i) (module doc).
    fn losses(&mut self, batch: &Batch, ctx: &StepCtx) -> Result<StepOutput> {
        let t = self.temperature;
        let w = super::sigmoid_rampup(ctx.epoch, ctx.epochs, self.rampup);
        let (logits, teacher) = One::forward(&self.model, self.split, batch.images(&ctx.device));
        let ce = sum(logits.iter().map(|z| ctx.task_loss(z.clone(), batch))).expect("branches");
        let ce_teacher = ctx.task_loss(teacher.clone(), batch);
        let q = softmax(teacher.clone().detach().div_scalar(t), 1);
        let kd = sum(logits.iter().map(|z| distill_towards(q.clone(), z.clone(), t))).expect("branches");
        let total = ce.clone() + ce_teacher.clone() + kd.clone().mul_scalar(w);
        let acc = ctx.batch_accuracy(logits[0].clone(), batch);
        Ok(StepOutput::new(total).loss("ce", &ce).loss("ce_teacher", &ce_teacher).loss("kd", &kd).metric("train_acc", acc).metric("ramp", w))
    }

    /// `peer{i}_acc` of every branch, `avg_acc`, `ens_acc` = the gated teacher.
    fn evaluate(&self, test: &Loader, device: &Device) -> BTreeMap<String, f64> {
        let model = self.model.valid();
        evaluate_online(test, device, |x| One::forward(&model, self.split, x))
    }
}

/// The gate weights of a model on `x` (rows sum to 1; for tests and notebooks).
pub fn gate_weights(model: &OneModel, split: usize, x: Tensor<4>) -> Tensor<2> {
    let shared = model.trunk.stages_from(x, 0)[split - 1].clone();
    model.gate.forward(shared)
}

impl One {
    /// The model and the index of the first branched stage.
    pub fn parts(&self) -> (&OneModel, usize) {
        (&self.model, self.split)
    }
}
