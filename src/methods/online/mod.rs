//! Online distillation: peers trained together from scratch, no pre-trained teacher — OKDCR
//! (paper 2) and its baselines DML, ONE, FFL, KDCL and the vanilla rows 1C/2C, one file each,
//! all on the shared trainer and built from one [`OnlineBuilder`]:
//!
//! ```no_run
//! # use distillery::prelude::*;
//! # use distillery::methods::online::Online;
//! # fn main() -> distillery::Result<()> {
//! # let device = Device::auto(); let profile = Profile::Smoke;
//! # let data = Dataset::fashion_mnist(&DataRoot::resolve(None), &profile)?;
//! let run = Online::okdcr().peers([Arch::resnet(8), Arch::wrn(10, 1)]).temperature(3.0).fit(&data, &device)?;
//! println!("Avg {:.2}%  Ens {:.2}%", run.record.final_metric("avg_acc").unwrap() * 100.0, run.record.final_metric("ens_acc").unwrap() * 100.0);
//! # Ok(()) }
//! ```
//!
//! Every run records `peer{k}_acc`, `avg_acc` (the papers' "Avg": mean peer top-1), `ens_acc`
//! ("Ens": the method's ensemble) and `test_acc` (= peer 0, the headline network).
pub mod dml;
pub mod ffl;
pub mod kdcl;
pub mod okdcr;
pub mod one;

pub use dml::Dml;

use crate::data::{Batch, Dataset, Loader};
use crate::error::{ensure, Error, Result};
use crate::losses;
use crate::methods::options::{Fit, JobBuilder, RunBuilder, RunOptions};
use crate::models::Arch;
use crate::train::{Run, StepCtx};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which online method a run trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OnlineKind {
    /// Independent peers, CE only, with one or two classifiers each (the paper's "1C"/"2C").
    Vanilla {
        /// Classifiers per peer (1 or 2).
        classifiers: usize,
    },
    /// Deep Mutual Learning.
    Dml,
    /// ONE: shared low layers, m branches (3 by default), gated ensemble teacher.
    One,
    /// FFL: sub-networks on a shared stem, a fusion module on their last maps with its own
    /// classifier.
    Ffl,
    /// KDCL (the MinLogit variant): peers on their own distorted views, ensemble soft target.
    Kdcl,
    /// OKDCR: two classifiers per peer, intra/inter consistency, adaptive ensemble.
    Okdcr,
}

impl OnlineKind {
    /// The record's method name (`okdcr`, `vanilla-2c` …).
    pub fn name(&self) -> String {
        match self {
            OnlineKind::Vanilla { classifiers } => format!("vanilla-{classifiers}c"),
            OnlineKind::Dml => "dml".into(),
            OnlineKind::One => "one".into(),
            OnlineKind::Ffl => "ffl".into(),
            OnlineKind::Kdcl => "kdcl".into(),
            OnlineKind::Okdcr => "okdcr".into(),
        }
    }
    /// The label of the paper's tables (`1C`, `DML`, `OKDCR` …).
    pub fn label(&self) -> String {
        match self {
            OnlineKind::Vanilla { classifiers } => format!("{classifiers}C"),
            other => other.name().to_uppercase(),
        }
    }
    /// Every row of the paper's table, in its order.
    pub fn all() -> Vec<OnlineKind> {
        vec![OnlineKind::Vanilla { classifiers: 1 }, OnlineKind::Vanilla { classifiers: 2 }, OnlineKind::Dml, OnlineKind::One, OnlineKind::Ffl, OnlineKind::Kdcl, OnlineKind::Okdcr]
    }
}

impl std::str::FromStr for OnlineKind {
    type Err = Error;
    /// `1c`, `2c`, `dml`, `one`, `ffl`, `kdcl`, `okdcr` (any case; `vanilla-1c` too).
    fn from_str(s: &str) -> Result<OnlineKind> {
        match s.trim().to_ascii_lowercase().trim_start_matches("vanilla-") {
            "1c" => Ok(OnlineKind::Vanilla { classifiers: 1 }),
            "2c" => Ok(OnlineKind::Vanilla { classifiers: 2 }),
            "dml" => Ok(OnlineKind::Dml),
            "one" => Ok(OnlineKind::One),
            "ffl" => Ok(OnlineKind::Ffl),
            "kdcl" => Ok(OnlineKind::Kdcl),
            "okdcr" => Ok(OnlineKind::Okdcr),
            _ => Err(Error::invalid("method", s, "expected 1c, 2c, dml, one, ffl, kdcl or okdcr")),
        }
    }
}

/// The distribution distance of OKDCR's consistency terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Distance {
    /// Symmetric KL ½[KL(p‖q) + KL(q‖p)] (default: neither classifier is the other's teacher).
    Kl,
    /// Jensen–Shannon divergence.
    Js,
}

/// Everything an online run is configured by (serialised into the checkpoint identity). Each
/// method reads the fields it uses; the doc of each field says which.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnlineConfig {
    /// The method.
    pub method: OnlineKind,
    /// One architecture per peer (≥ 2; ONE's branches need one architecture for all).
    pub peers: Vec<Arch>,
    /// Distillation temperature T (ONE, FFL, KDCL, OKDCR; the OKDCR paper uses 3 for all).
    pub temperature: f64,
    /// ONE: the number of branches, every one of `peers[0]`'s architecture; `None` = the
    /// official default, 3 (`cifar_one.py` returns three branch outputs and the gated teacher).
    #[serde(default)]
    pub branches: Option<usize>,
    /// ONE, FFL: length of the sigmoid ramp-up of the KL terms as a fraction of training (the
    /// official `--consistency_rampup 80` of 300 epochs = 0.2667; 0 = off), see
    /// [`sigmoid_rampup`].
    #[serde(default = "official_rampup")]
    pub rampup: f64,
    /// FFL: the sub-networks share their low stages and own the last (the official CIFAR network
    /// `FFL_ResNet`: conv1 … layer2 shared, `layer3_1`/`layer3_2` per sub-network); `false` =
    /// independent peers; `None` = shared when every peer has one architecture, else
    /// independent (mixed peers cannot share).
    #[serde(default)]
    pub shared_stem: Option<bool>,
    /// OKDCR: weight λ of the intra- and inter-model consistency terms (the paper's Eq. 2
    /// balance weights); `None` = 1 for fewer than 100 classes, 100 from 100 classes on.
    pub consistency: Option<f64>,
    /// OKDCR: weight γ of the distillation from the adaptive ensemble (before the ramp).
    pub ensemble_weight: f64,
    /// OKDCR: ramp factor r of the weight min(1, r·s/S) on every term but CE — consistency and
    /// ensemble distillation (paper: 1.25; 0 = no ramp, weight 1 from the first step).
    pub ramp: f64,
    /// OKDCR: the consistency distance.
    pub distance: Distance,
    /// OKDCR: adaptive ensemble weights from intra-model consistency (`false`: plain average).
    pub adaptive: bool,
    /// KDCL: weight of the distillation from the ensemble target.
    pub kd_weight: f64,
}

impl OnlineConfig {
    /// The defaults of `method` with two ConvNet-2 (width 16) peers.
    pub fn new(method: OnlineKind) -> OnlineConfig {
        OnlineConfig {
            method,
            peers: vec![Arch::convnet(16, 2); 2],
            temperature: 3.0,
            branches: None,
            rampup: official_rampup(),
            shared_stem: None,
            consistency: None,
            ensemble_weight: 1.0,
            ramp: 1.25,
            distance: Distance::Kl,
            adaptive: true,
            kd_weight: 1.0,
        }
    }

    /// λ of the consistency terms for a dataset of `classes` classes.
    pub fn consistency_weight(&self, classes: usize) -> f64 {
        self.consistency.unwrap_or(if classes >= 100 { 100.0 } else { 1.0 })
    }

    /// Checks every field, naming the bad one.
    pub fn validate(&self) -> Result<()> {
        ensure(self.peers.len() >= 2, "peers", self.peers.len(), "online distillation needs at least two peers")?;
        self.peers.iter().try_for_each(|a| a.validate())?;
        ensure(self.temperature > 0.0 && self.temperature.is_finite(), "temperature", self.temperature, "must be > 0")?;
        if let Some(l) = self.consistency {
            ensure(l >= 0.0 && l.is_finite(), "consistency", l, "must be ≥ 0")?;
        }
        ensure(self.ensemble_weight >= 0.0 && self.ensemble_weight.is_finite(), "ensemble_weight", self.ensemble_weight, "must be ≥ 0")?;
        ensure(self.ramp >= 0.0 && self.ramp.is_finite(), "ramp", self.ramp, "must be ≥ 0")?;
        ensure(self.kd_weight >= 0.0 && self.kd_weight.is_finite(), "kd_weight", self.kd_weight, "must be ≥ 0")?;
        ensure((0.0..=1.0).contains(&self.rampup), "rampup", self.rampup, "a fraction of training in [0, 1]")?;
        if let Some(m) = self.branches {
            ensure(m >= 2, "branches", m, "ONE needs at least two branches")?;
        }
        if self.method == OnlineKind::Ffl && self.shared_stem == Some(true) && self.peers.iter().any(|a| *a != self.peers[0]) {
            return Err(Error::invalid("shared_stem", true, "FFL's sub-networks share their low stages only when every peer has one architecture: use .shared_stem(false) for mixed peers"));
        }
        if let OnlineKind::Vanilla { classifiers } = self.method {
            ensure((1..=2).contains(&classifiers), "classifiers", classifiers, "vanilla peers have 1 or 2 classifiers")?;
        }
        if self.method == OnlineKind::One && self.peers.iter().any(|a| *a != self.peers[0]) {
            return Err(Error::invalid("peers", self.peers.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" & "), "ONE's branches share their low layers: give one architecture for every branch"));
        }
        Ok(())
    }
}

/// The official ramp-up length of ONE and FFL: `--consistency_rampup 80` of `--epochs 300`.
pub fn official_rampup() -> f64 {
    80.0 / 300.0
}

/// The number of ONE branches when [`OnlineConfig::branches`] is unset (official default).
pub const ONE_BRANCHES: usize = 3;

/// The sigmoid ramp-up on ONE's and FFL's KL terms: exp(−5·(1 − e/L)²) with e the 0-based
/// epoch clipped to L = `fraction` × `epochs`, constant within an epoch; 1 once e ≥ L, and 1
/// throughout for `fraction` = 0. The official code multiplies every KL term by
/// `ramps.sigmoid_rampup(epoch, args.consistency_rampup)` (ONE `cifar_one.py`, `train()`;
/// FFL `train_FFL.py`, `get_current_consistency_weight`), the ramp of Laine & Aila (2017).
pub fn sigmoid_rampup(epoch: usize, epochs: usize, fraction: f64) -> f64 {
    let length = fraction * epochs as f64;
    if length <= 0.0 {
        return 1.0;
    }
    let phase = 1.0 - (epoch as f64).min(length) / length;
    (-5.0 * phase * phase).exp()
}

/// The ramp min(1, r·s/S) of the OKDCR paper's Eq. 6 weighting factor (s = step, S = total
/// steps); r = 0 turns it off (weight 1).
pub fn ramp(r: f64, step: usize, total: usize) -> f64 {
    if r == 0.0 { 1.0 } else { (r * step as f64 / total.max(1) as f64).min(1.0) }
}

/// Per-sample KL(p ‖ q) `[N]` between the softmax of two logit rows at temperature `t`.
pub fn kl_rows(p_logits: Tensor<2>, q_logits: Tensor<2>, t: f64) -> Tensor<1> {
    let [n, _] = p_logits.dims();
    let log_p = log_softmax(p_logits.div_scalar(t), 1);
    let log_q = log_softmax(q_logits.div_scalar(t), 1);
    (log_p.clone().exp() * (log_p - log_q)).sum_dim(1).reshape([n])
}

/// Per-sample distance `[N]` between the softmax of two logit rows at temperature `t`:
/// symmetric KL ½[KL(p‖q) + KL(q‖p)] or JS ½KL(p‖m) + ½KL(q‖m), m = (p+q)/2.
pub fn distance_rows(a: Tensor<2>, b: Tensor<2>, t: f64, d: Distance) -> Tensor<1> {
    match d {
        Distance::Kl => (kl_rows(a.clone(), b.clone(), t) + kl_rows(b, a, t)).mul_scalar(0.5),
        Distance::Js => {
            let [n, _] = a.dims();
            let (la, lb) = (log_softmax(a.div_scalar(t), 1), log_softmax(b.div_scalar(t), 1));
            let (pa, pb) = (la.clone().exp(), lb.clone().exp());
            let lm = (pa.clone() + pb.clone()).mul_scalar(0.5).clamp_min(1e-12).log();
            ((pa * (la - lm.clone())).sum_dim(1) + (pb * (lb - lm)).sum_dim(1)).mul_scalar(0.5).reshape([n])
        }
    }
}

/// T² · KL(q ‖ softmax(z/T)) for a fixed target distribution `q` `[N, K]` (detached here),
/// batch mean: distillation of a classifier towards an ensemble (Hinton et al. 2015, §2).
pub fn distill_towards(q: Tensor<2>, logits: Tensor<2>, t: f64) -> Tensor<1> {
    let q = q.detach();
    let log_q = q.clone().clamp_min(1e-12).log();
    (q * (log_q - log_softmax(logits.div_scalar(t), 1))).sum_dim(1).mean().mul_scalar(t * t)
}

/// Cross-entropy of a view's logits: view 0 through [`StepCtx::task_loss`] (Mixup/CutMix
/// targets, smoothing), further views (never mixed) against the labels with the recipe's ε.
pub fn view_loss(ctx: &StepCtx, logits: Tensor<2>, batch: &Batch, view: usize) -> Tensor<1> {
    if view == 0 { ctx.task_loss(logits, batch) } else { losses::cross_entropy(logits, batch.labels(&ctx.device), ctx.label_smoothing) }
}

/// Sum of scalar losses (`None` for none).
pub(crate) fn sum(terms: impl IntoIterator<Item = Tensor<1>>) -> Option<Tensor<1>> {
    terms.into_iter().reduce(|a, b| a + b)
}

/// Test metrics of an online method: `peer{k}_acc`, `test_acc` (peer 0), `avg_acc` (mean of the
/// peers) and `ens_acc`. `predict(x)` gives every peer's logits and the ensemble's scores
/// (probabilities or logits: only their argmax is read).
pub fn evaluate_online(test: &Loader, device: &Device, predict: impl Fn(Tensor<4>) -> (Vec<Tensor<2>>, Tensor<2>)) -> BTreeMap<String, f64> {
    let mut hits: Vec<usize> = Vec::new();
    let (mut ens_hits, mut n) = (0usize, 0usize);
    for batch in test.epoch(0) {
        let labels = batch.labels(device);
        let (peers, ens) = predict(batch.images(device));
        hits.resize(peers.len(), 0);
        for (h, logits) in hits.iter_mut().zip(peers) {
            *h += losses::correct(logits, labels.clone());
        }
        ens_hits += losses::correct(ens, labels);
        n += batch.len();
    }
    let acc = |h: usize| h as f64 / n.max(1) as f64;
    let mut m: BTreeMap<String, f64> = hits.iter().enumerate().map(|(i, &h)| (format!("peer{i}_acc"), acc(h))).collect();
    m.insert("test_acc".into(), hits.first().map_or(f64::NAN, |&h| acc(h)));
    m.insert("avg_acc".into(), hits.iter().map(|&h| acc(h)).sum::<f64>() / hits.len().max(1) as f64);
    m.insert("ens_acc".into(), acc(ens_hits));
    m
}

/// Entry point of the online methods' builders.
pub struct Online;

impl Online {
    /// OKDCR (paper 2) with the paper's settings: T = 3, ramp 1.25, KL consistency, adaptive
    /// ensemble.
    pub fn okdcr() -> OnlineBuilder {
        OnlineBuilder::new(OnlineKind::Okdcr)
    }
    /// ONE (Lan, Zhu & Gong, NeurIPS 2018) as its official code runs it: 3 branches, T = 3, the
    /// KL terms under the sigmoid ramp-up (first 80/300 of training).
    pub fn one() -> OnlineBuilder {
        OnlineBuilder::new(OnlineKind::One)
    }
    /// FFL (Kim et al., ICPR 2020) as its official code runs it: sub-networks on a shared stem,
    /// T = 3, the KL terms under the sigmoid ramp-up (first 80/300 of training).
    pub fn ffl() -> OnlineBuilder {
        OnlineBuilder::new(OnlineKind::Ffl)
    }
    /// KDCL-MinLogit (Guo et al., CVPR 2020), T = 3.
    pub fn kdcl() -> OnlineBuilder {
        OnlineBuilder::new(OnlineKind::Kdcl)
    }
    /// DML (Zhang et al., CVPR 2018).
    pub fn dml() -> OnlineBuilder {
        OnlineBuilder::new(OnlineKind::Dml)
    }
    /// Independent peers with `classifiers` (1 or 2) classifiers each, CE only.
    pub fn vanilla(classifiers: usize) -> OnlineBuilder {
        OnlineBuilder::new(OnlineKind::Vanilla { classifiers })
    }
    /// The builder of `method`.
    pub fn method(method: OnlineKind) -> OnlineBuilder {
        OnlineBuilder::new(method)
    }
}

/// Builder of every online method (setters a method does not read are recorded, not used).
pub struct OnlineBuilder {
    config: OnlineConfig,
    options: RunOptions,
}

impl JobBuilder for OnlineBuilder {
    fn options(&mut self) -> &mut RunOptions {
        &mut self.options
    }
}

impl RunBuilder for OnlineBuilder {}

impl OnlineBuilder {
    fn new(method: OnlineKind) -> OnlineBuilder {
        OnlineBuilder { config: OnlineConfig::new(method), options: RunOptions::default() }
    }
    /// The peers' architectures (two or more; mixed allowed except for ONE).
    pub fn peers(mut self, peers: impl IntoIterator<Item = Arch>) -> Self {
        self.config.peers = peers.into_iter().collect();
        self
    }
    /// Temperature T > 0.
    pub fn temperature(mut self, t: f64) -> Self {
        self.config.temperature = t;
        self
    }
    /// ONE's number of branches (default 3, the official code's; each of `peers[0]`'s
    /// architecture).
    pub fn branches(mut self, m: usize) -> Self {
        self.config.branches = Some(m);
        self
    }
    /// ONE's and FFL's sigmoid ramp-up length as a fraction of training (default 80/300; 0 = off).
    pub fn rampup(mut self, fraction: f64) -> Self {
        self.config.rampup = fraction;
        self
    }
    /// FFL: sub-networks on a shared stem (`true`, the official layout) or independent peers.
    pub fn shared_stem(mut self, shared: bool) -> Self {
        self.config.shared_stem = Some(shared);
        self
    }
    /// OKDCR's consistency weight λ (default by class count: 1, or 100 from 100 classes).
    pub fn consistency(mut self, weight: f64) -> Self {
        self.config.consistency = Some(weight);
        self
    }
    /// OKDCR's ensemble-distillation weight (default 1).
    pub fn ensemble_weight(mut self, weight: f64) -> Self {
        self.config.ensemble_weight = weight;
        self
    }
    /// OKDCR's ramp factor r in min(1, r·s/S) (default 1.25; 0 = off).
    pub fn ramp(mut self, r: f64) -> Self {
        self.config.ramp = r;
        self
    }
    /// OKDCR's consistency distance (default symmetric KL).
    pub fn distance(mut self, d: Distance) -> Self {
        self.config.distance = d;
        self
    }
    /// OKDCR's adaptive ensemble weights on or off (off: plain average).
    pub fn adaptive(mut self, on: bool) -> Self {
        self.config.adaptive = on;
        self
    }
    /// KDCL's distillation weight (default 1).
    pub fn kd_weight(mut self, weight: f64) -> Self {
        self.config.kd_weight = weight;
        self
    }
    /// The configuration so far (`.config(…)` is only ever a setter).
    pub fn to_config(&self) -> &OnlineConfig {
        &self.config
    }

    /// Trains the peers; the run holds every peer's network (`peer0`, `peer1` …; ONE: its first
    /// branch) and records `peer{k}_acc`, `avg_acc`, `ens_acc` per epoch (OKDCR also its
    /// adaptive weights `w{k}` and consistencies `intra{k}`, `inter`).
    pub fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        self.options.train.validate()?;
        self.config.validate()?;
        let cfg = serde_json::to_value(&self.config).expect("config serialises");
        let trainer = self.options.trainer(&self.config.method.name());
        let seed = self.options.train.seed;
        match self.config.method {
            OnlineKind::Vanilla { .. } | OnlineKind::Okdcr => trainer.run(&mut okdcr::Okdcr::new(&self.config, data, device, seed)?, cfg, data, device),
            OnlineKind::Dml => trainer.run(&mut Dml::builder().peers(self.config.peers.clone()).seed(seed).build(data, device)?, cfg, data, device),
            OnlineKind::One => trainer.run(&mut one::One::new(&self.config, data, device, seed)?, cfg, data, device),
            OnlineKind::Ffl => trainer.run(&mut ffl::Ffl::new(&self.config, data, device, seed)?, cfg, data, device),
            OnlineKind::Kdcl => trainer.run(&mut kdcl::Kdcl::new(&self.config, data, device, seed)?, cfg, data, device),
        }
    }
}

impl Fit for OnlineBuilder {
    fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        OnlineBuilder::fit(self, data, device)
    }
}

/// Builds one network per peer, peer `i` seeded with `seed + i`, and checks that they all take
/// the dataset's images and classes.
pub(crate) fn init_peers(peers: &[Arch], data: &Dataset, device: &Device, seed: u64) -> Result<Vec<crate::models::Net>> {
    peers.iter().enumerate().map(|(i, a)| a.init_seeded(data.shape(), data.num_classes(), device, seed.wrapping_add(i as u64))).collect()
}
