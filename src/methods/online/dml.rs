//! Deep Mutual Learning (Zhang, Xiang, Hospedales & Lu, CVPR 2018): K peers trained together;
//! peer k minimises L_k = CE(y, p_k) + 1/(K−1) · Σ_{l≠k} KL(p_l ‖ p_k) (paper Eq. 10), with the
//! other peers' predictions treated as constants in L_k (the official code computes them in the
//! same step and detaches them). All peers are updated in the same step, each by its own
//! optimiser — the "several peers updated together" shape of the trainer.
use crate::data::{Batch, Dataset, Loader};
use crate::error::{ensure, Result};
use crate::losses;
use crate::methods::options::{Fit, RunBuilder, RunOptions};
use crate::models::{Arch, Net, Staged};
use crate::train::{checkpoint, devices, scalar, Losses, Method, Run, StepCtx};
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Peers of a DML run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DmlConfig {
    /// One architecture per peer (two or more; mixed architectures allowed).
    pub peers: Vec<Arch>,
}

impl DmlConfig {
    /// At least two valid peers.
    pub fn validate(&self) -> Result<()> {
        ensure(self.peers.len() >= 2, "peers", self.peers.len(), "DML needs at least two peers")?;
        self.peers.iter().try_for_each(|a| a.validate())
    }
}

/// K peers with their optimisers.
pub struct DmlMethod {
    peers: Vec<Net>,
    optims: Vec<ModuleOptimizer>,
}

impl Method for DmlMethod {
    fn name(&self) -> String {
        "dml".into()
    }

    fn step(&mut self, batch: &Batch, ctx: &StepCtx) -> Result<Losses> {
        let x = batch.images(&ctx.device);
        let labels = batch.labels(&ctx.device);
        let logits: Vec<Tensor<2>> = self.peers.iter().map(|p| p.forward(x.clone())).collect();
        let k = self.peers.len();
        let mut out: Losses = vec![("loss".into(), 0.0)];
        let mut total = 0.0;
        for i in 0..k {
            let ce = losses::cross_entropy(logits[i].clone(), labels.clone(), 0.0);
            // Eq. 10: mean over the other peers of KL(p_l ‖ p_i), p_l constant
            let mut kl = Tensor::<1>::zeros([1], &ctx.device);
            for other in logits.iter().enumerate().filter(|(l, _)| *l != i).map(|(_, o)| o) {
                kl = kl + losses::kl_logits(other.clone().detach(), logits[i].clone());
            }
            let kl = kl.div_scalar((k - 1) as f64);
            let loss = ce.clone() + kl.clone();
            let (ce_v, kl_v, loss_v) = (scalar(&ce), scalar(&kl), scalar(&loss));
            total += loss_v;
            out.push((format!("ce_{i}"), ce_v));
            out.push((format!("kl_{i}"), kl_v));
            let grads = GradientsParams::from_grads(loss.backward(), &self.peers[i]);
            self.peers[i] = self.optims[i].step(ctx.lr, self.peers[i].clone(), grads);
        }
        out[0].1 = total / k as f64;
        Ok(out)
    }

    /// Per-peer accuracy (`peer{k}_acc`), their mean (`test_acc`, the papers' "Avg") and the
    /// accuracy of the averaged softmax (`ens_acc`).
    fn evaluate(&self, test: &Loader, device: &Device) -> BTreeMap<String, f64> {
        let peers: Vec<Net> = self.peers.iter().map(|p| p.valid()).collect();
        let mut hits = vec![0usize; peers.len() + 1];
        let mut n = 0usize;
        for batch in test.epoch(0) {
            let x = batch.images(device);
            let labels = batch.labels(device);
            let logits: Vec<Tensor<2>> = peers.iter().map(|p| p.forward(x.clone())).collect();
            let ens = logits.iter().map(|l| softmax(l.clone(), 1)).reduce(|a, b| a + b).expect("two or more peers");
            for (i, l) in logits.into_iter().enumerate() {
                hits[i] += losses::correct(l, labels.clone());
            }
            hits[peers.len()] += losses::correct(ens, labels);
            n += batch.len();
        }
        let acc = |h: usize| h as f64 / n.max(1) as f64;
        let mut m: BTreeMap<String, f64> = (0..peers.len()).map(|i| (format!("peer{i}_acc"), acc(hits[i]))).collect();
        m.insert("test_acc".into(), (0..peers.len()).map(|i| acc(hits[i])).sum::<f64>() / peers.len() as f64);
        m.insert("ens_acc".into(), acc(hits[peers.len()]));
        m
    }

    fn save(&self, dir: &Path) -> Result<()> {
        for (i, (p, o)) in self.peers.iter().zip(&self.optims).enumerate() {
            checkpoint::save_module(p, dir, &format!("peer{i}.bpk"))?;
            checkpoint::save_optim(o, dir, &format!("peer{i}-optim.bpk"))?;
        }
        Ok(())
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        for i in 0..self.peers.len() {
            self.peers[i] = checkpoint::load_module(self.peers[i].clone(), dir, &format!("peer{i}.bpk"))?;
            checkpoint::load_optim(&mut self.optims[i], dir, &format!("peer{i}-optim.bpk"))?;
        }
        Ok(())
    }
}

/// Deep Mutual Learning.
pub struct Dml;

impl Dml {
    /// Two ConvNet-2 (width 16) peers by default.
    pub fn builder() -> DmlBuilder {
        DmlBuilder { config: DmlConfig { peers: vec![Arch::convnet(16, 2); 2] }, options: RunOptions::default() }
    }
}

/// Builder for a DML run.
pub struct DmlBuilder {
    config: DmlConfig,
    options: RunOptions,
}

impl RunBuilder for DmlBuilder {
    fn options(&mut self) -> &mut RunOptions {
        &mut self.options
    }
}

impl DmlBuilder {
    /// The peers' architectures.
    pub fn peers(mut self, peers: impl IntoIterator<Item = Arch>) -> Self {
        self.config.peers = peers.into_iter().collect();
        self
    }

    /// Trains the peers together; the returned run's model is peer 0 (all peers' metrics are in
    /// the record).
    pub fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        self.options.train.validate()?;
        self.config.validate()?;
        let (_, train) = devices(device);
        let seed = self.options.train.seed;
        let peers = self
            .config
            .peers
            .iter()
            .enumerate()
            .map(|(i, a)| a.init_seeded(data.shape(), data.num_classes(), &train, seed.wrapping_add(i as u64)))
            .collect::<Result<Vec<_>>>()?;
        let optims = peers.iter().map(|_| self.options.train.sgd()).collect();
        let mut method = DmlMethod { peers, optims };
        let cfg = serde_json::to_value(&self.config).expect("config serialises");
        let record = self.options.trainer("dml").fit(&mut method, cfg, data, device)?;
        Ok(Run { record, model: method.peers[0].valid() })
    }
}

impl Fit for DmlBuilder {
    fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        DmlBuilder::fit(self, data, device)
    }
}
