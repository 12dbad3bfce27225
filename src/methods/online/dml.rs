//! Deep Mutual Learning (Zhang, Xiang, Hospedales & Lu, CVPR 2018): K peers trained together;
//! peer k minimises L_k = CE(y, p_k) + 1/(K−1) · Σ_{l≠k} KL(p_l ‖ p_k) (paper Eq. 10), with the
//! other peers' predictions treated as constants in L_k (the official code computes them in the
//! same step and detaches them). All peers are updated in the same step as one model.
use crate::data::{Batch, Dataset, Loader};
use crate::error::{ensure, Result};
use crate::losses;
use crate::methods::options::{Fit, JobBuilder, RunBuilder, RunOptions};
use crate::models::{Arch, Net, Staged};
use crate::train::{devices, Method, Run, StepCtx, StepOutput};
use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// K peers, trained as one model (`Vec<Net>`): each peer's loss depends only on its own
/// parameters (the others' predictions are detached), so one optimiser over the sum gives every
/// peer exactly the update its own optimiser would (SGD state is per parameter).
pub struct DmlMethod {
    peers: Vec<Net>,
}

impl Method for DmlMethod {
    type Model = Vec<Net>;

    fn name(&self) -> String {
        "dml".into()
    }
    fn model(&self) -> &Vec<Net> {
        &self.peers
    }
    fn model_mut(&mut self) -> &mut Vec<Net> {
        &mut self.peers
    }
    /// Every peer (`peer0` first: the run's headline model).
    fn nets(&self) -> Vec<(String, Net)> {
        self.peers.iter().enumerate().map(|(i, p)| (format!("peer{i}"), p.valid())).collect()
    }

    /// Σ_k L_k with L_k = task loss(p_k) + 1/(K−1) · Σ_{l≠k} KL(p_l ‖ p_k) (DML paper Eq. 10),
    /// p_l detached in L_k as in the official code.
    fn losses(&mut self, batch: &Batch, ctx: &StepCtx) -> Result<StepOutput> {
        let x = batch.images(&ctx.device);
        let logits: Vec<Tensor<2>> = self.peers.iter().map(|p| p.forward(x.clone())).collect();
        let k = self.peers.len();
        let mut terms = Vec::with_capacity(2 * k);
        let mut total: Option<Tensor<1>> = None;
        for i in 0..k {
            let ce = ctx.task_loss(logits[i].clone(), batch);
            let kl = logits
                .iter()
                .enumerate()
                .filter(|(l, _)| *l != i)
                .map(|(_, other)| losses::kl_logits(other.clone().detach(), logits[i].clone()))
                .reduce(|a, b| a + b)
                .expect("two or more peers")
                .div_scalar((k - 1) as f64);
            let loss = ce.clone() + kl.clone();
            total = Some(match total {
                Some(t) => t + loss,
                None => loss,
            });
            terms.push((format!("ce_{i}"), ce));
            terms.push((format!("kl_{i}"), kl));
        }
        let acc = ctx.batch_accuracy(logits[0].clone(), batch);
        let out = terms.iter().fold(StepOutput::new(total.expect("two or more peers")), |o, (n, t)| o.loss(n.clone(), t));
        Ok(out.metric("train_acc", acc))
    }

    /// Per-peer accuracy (`peer{k}_acc`), `test_acc` = peer 0 (the model the run returns),
    /// `avg_acc` = the peers' mean (the papers' "Avg") and `ens_acc` = the averaged softmax.
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
        m.insert("test_acc".into(), acc(hits[0]));
        m.insert("avg_acc".into(), (0..peers.len()).map(|i| acc(hits[i])).sum::<f64>() / peers.len() as f64);
        m.insert("ens_acc".into(), acc(hits[peers.len()]));
        m
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

impl JobBuilder for DmlBuilder {
    fn options(&mut self) -> &mut RunOptions {
        &mut self.options
    }
}

impl RunBuilder for DmlBuilder {}

impl DmlBuilder {
    /// The peers' architectures.
    pub fn peers(mut self, peers: impl IntoIterator<Item = Arch>) -> Self {
        self.config.peers = peers.into_iter().collect();
        self
    }

    /// Trains the peers together; the run holds every peer (`peer0`, `peer1` …); its headline
    /// model and `test_acc` are peer 0's, `avg_acc` and `ens_acc` are in the record.
    pub fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        let mut method = self.build(data, device)?;
        let cfg = serde_json::to_value(&self.config).expect("config serialises");
        self.options.trainer("dml").run(&mut method, cfg, data, device)
    }

    /// The method this builder describes, untrained.
    pub fn build(&self, data: &Dataset, device: &Device) -> Result<DmlMethod> {
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
        Ok(DmlMethod { peers })
    }
}

impl Fit for DmlBuilder {
    fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        DmlBuilder::fit(self, data, device)
    }
}
