//! Feature distillation: one method ([`FeatureDistill`]) matching student stages to a frozen
//! teacher's, with the loss of MGD ([`mgd`]: Masked Generative Distillation, Yang et al.,
//! ECCV 2022, arXiv 2205.01529) or FitNet ([`fitnet`]); the shared parts are in [`head`]. The
//! loss modules import only `head`, never each other.
//!
//! For a chosen stage, teacher feature T ∈ R^{N×C×H×W} and student feature S (aligned to C by a
//! 1×1 conv when the channel counts differ):
//! - random mask M (paper Eq. 1): M = 0 where R < λ, else 1, R ~ U(0, 1); per channel
//!   (`N×C×1×1`, the official classification code) or per pixel (`N×1×H×W`, detection);
//! - generation block G = Conv3×3 → ReLU → Conv3×3 (C → C) (paper Eq. 2);
//! - L_dis = Σ (T − G(f_align(S) ⊙ M))² / N · α (paper Eq. 3 with the official code's
//!   `MSELoss(reduction='sum') / N` and the factor α in `MGDLoss.forward`,
//!   `cls/mmcls/distillation/losses/mgd.py`);
//! - L = L_CE + L_dis (Eq. 4), optionally plus Hinton KD on the logits.
//!
//! The detection code masks a pixel where R > 1 − λ; R < λ has the same distribution, so both
//! mask kinds use R < λ here. The teacher is frozen: it runs on the plain device (no graph).
//! Align and generation layers train with the student and are dropped at inference.
pub mod fitnet;
pub mod head;
pub mod mgd;

pub use head::{resolve_stages, FeatureHead, StagePair, StudentWithHeads};
pub use mgd::{mgd_loss, random_mask, MaskKind};

use super::options::{Fit, JobBuilder, RunBuilder, RunOptions};
use crate::data::{Batch, Dataset};
use crate::error::{ensure, Error, Result};
use crate::losses;
use crate::models::{Arch, Net, Staged};
use crate::rng::Rng;
use crate::train::{devices, scalar, Method, Run, StepCtx, StepOutput};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The feature loss a [`FeatureDistill`] run applies.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum FeatureLoss {
    /// MGD: mask → generate → match, weight α, mask ratio λ.
    Mgd { alpha: f64, mask_ratio: f64, mask: MaskKind },
    /// FitNet hints: match f_align(S) to T directly (no mask, no generation), weight α.
    FitNet { alpha: f64 },
}

/// A feature-distillation run's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// Student architecture.
    pub student: Arch,
    /// Teacher architecture (for the record).
    pub teacher: Option<Arch>,
    /// Digest of the teacher's weights ([`crate::models::weights_digest`]), set by
    /// [`FeatureBuilder::teacher`]: a checkpoint resumes only against the teacher it learned from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_weights: Option<String>,
    /// The feature term.
    pub loss: FeatureLoss,
    /// Matched stages.
    pub stages: Vec<StagePair>,
    /// Optional Hinton KD on the logits: (T, weight w): L = (1 − w)·CE + w·KD + feature term.
    pub kd: Option<(f64, f64)>,
    /// Set α on the first batch so that α·L_dis equals the task loss (the CE; the MGD author's
    /// advice for new settings: "make the MGD loss about the size of the task loss"); the
    /// configured α is then ignored and the chosen one is recorded as the `alpha` series.
    /// With `kd` set, α is still sized against the CE alone, so MGD + KD weighs the feature
    /// term as MGD does: the official classification config (yzd-v/cls_KD,
    /// `configs/distillers/imagenet/res34_distill_res18_img.py`) keeps `alpha_mgd = 7e-5`
    /// whichever logit loss (KD, WSLD, …) is switched on beside it. Sized against the loss as
    /// optimised, (1 − w)·CE + w·T²·KL, α came out 3–5× larger and MGD + KD diverged on 2 of 5
    /// seeds in the `cpu` MGD table (NaN at epoch 1).
    #[serde(default)]
    pub auto_alpha: bool,
    /// What auto α is sized against when `kd` is set: `Some(Ce)` (the builder sets it). Part of
    /// the run's identity, so a checkpoint of MGD + KD made while α was sized against the
    /// optimised loss (no such field) is not resumed as if it followed this rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_alpha_basis: Option<AlphaBasis>,
}

/// The loss that auto α is sized against, beside KD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlphaBasis {
    /// The cross-entropy alone, as MGD without KD.
    Ce,
}

impl FeatureConfig {
    /// Checks α, λ, the stages and the KD settings.
    pub fn validate(&self) -> Result<()> {
        match self.loss {
            FeatureLoss::Mgd { alpha, mask_ratio, .. } => {
                ensure(alpha >= 0.0 && alpha.is_finite(), "alpha", alpha, "α must be ≥ 0")?;
                ensure((0.0..1.0).contains(&mask_ratio), "mask_ratio", mask_ratio, "λ must be in [0, 1)")?;
            }
            FeatureLoss::FitNet { alpha } => ensure(alpha >= 0.0 && alpha.is_finite(), "alpha", alpha, "α must be ≥ 0")?,
        }
        ensure(!self.stages.is_empty(), "stages", "[]", "choose at least one stage")?;
        if let Some((t, w)) = self.kd {
            ensure(t > 0.0, "kd.temperature", t, "T must be > 0")?;
            ensure((0.0..=1.0).contains(&w), "kd.weight", w, "must be in [0, 1]")?;
        }
        self.student.validate()
    }

    fn alpha(&self) -> f64 {
        match self.loss {
            FeatureLoss::Mgd { alpha, .. } | FeatureLoss::FitNet { alpha } => alpha,
        }
    }

    fn set_alpha(&mut self, a: f64) {
        match &mut self.loss {
            FeatureLoss::Mgd { alpha, .. } | FeatureLoss::FitNet { alpha } => *alpha = a,
        }
    }
}

/// The feature-distillation method (MGD or FitNet, optionally + KD).
pub struct FeatureDistill {
    model: StudentWithHeads,
    teacher: Net,
    pairs: Vec<(usize, usize)>,
    config: FeatureConfig,
    rng: Rng,
    alpha_fixed: bool,
}

/// What a checkpoint keeps besides the weights: the α chosen on the first batch (auto α) and
/// the mask generator, so that a resumed run draws the same masks as an uninterrupted one.
#[derive(Serialize, Deserialize)]
struct FeatureState {
    alpha: f64,
    alpha_fixed: bool,
    rng: u64,
}

impl FeatureDistill {
    /// Builds student and heads on the training device; probes stage shapes with one image. A
    /// teacher that does not fit `data` is an [`Error::Shape`].
    pub fn new(config: FeatureConfig, teacher: Net, data: &Dataset, options: &RunOptions, device: &Device) -> Result<FeatureDistill> {
        config.validate()?;
        options.train.validate()?;
        let (plain, train) = devices(device);
        let net = config.student.init_seeded(data.shape(), data.num_classes(), &train, options.train.seed)?;
        let teacher = teacher.valid().to_device(&plain);
        teacher.check_fits("teacher", data.shape(), data.num_classes(), &plain)?;
        let [c, h, w] = data.shape();
        let probe_s = net.valid().forward_features(Tensor::zeros([1, c, h, w], &plain)).stages.iter().map(|s| s.dims()).collect::<Vec<_>>();
        let probe_t = teacher.forward_features(Tensor::zeros([1, c, h, w], &plain)).stages.iter().map(|s| s.dims()).collect::<Vec<_>>();
        let pairs = resolve_stages(&config.stages, &probe_s, &probe_t)?;
        let generation = matches!(config.loss, FeatureLoss::Mgd { .. });
        // seeded like the student, so a run (and its resume) does not depend on what other threads drew
        let heads = crate::models::seeded(&train, options.train.seed ^ 0x4EAD, || Ok(pairs.iter().map(|&(s, t)| FeatureHead::new(probe_s[s][1], probe_t[t][1], generation, &train)).collect::<Vec<_>>()))?;
        Ok(FeatureDistill { model: StudentWithHeads { net, heads }, teacher, pairs, rng: Rng::derive(options.train.seed, 0x36D), config, alpha_fixed: false })
    }

    /// The trained student (heads dropped), inference mode.
    pub fn student(&self) -> Net {
        self.model.net.valid()
    }

    fn name_of(&self) -> &'static str {
        match (self.config.loss, self.config.kd.is_some()) {
            (FeatureLoss::Mgd { .. }, false) => "mgd",
            (FeatureLoss::Mgd { .. }, true) => "mgd+kd",
            (FeatureLoss::FitNet { .. }, false) => "fitnet",
            (FeatureLoss::FitNet { .. }, true) => "fitnet+kd",
        }
    }
}

impl Method for FeatureDistill {
    type Model = StudentWithHeads;

    fn name(&self) -> String {
        self.name_of().into()
    }
    fn model(&self) -> &StudentWithHeads {
        &self.model
    }
    fn model_mut(&mut self) -> &mut StudentWithHeads {
        &mut self.model
    }
    fn nets(&self) -> Vec<(String, Net)> {
        vec![("student".into(), self.student())]
    }

    /// L = task loss (or (1 − w)·task + w·KD) + Σ_stages α·L_dis (MGD paper Eq. 4); the task loss
    /// honours Mixup/CutMix targets and label smoothing.
    fn losses(&mut self, batch: &Batch, ctx: &StepCtx) -> Result<StepOutput> {
        let teacher = self.teacher.forward_features(batch.images(&ctx.plain));
        let student = self.model.net.forward_features(batch.images(&ctx.device));
        let ce = ctx.task_loss(student.logits.clone(), batch);
        let ce_value = (self.config.auto_alpha && !self.alpha_fixed).then(|| scalar(&ce));
        let mut named = vec![("ce".to_string(), ce.clone())];
        let mut total = match self.config.kd {
            Some((t, w)) => {
                let kd = losses::kd_kl(student.logits.clone(), ctx.constant(teacher.logits.clone()), t);
                named.push(("kd".into(), kd.clone()));
                ce.mul_scalar(1.0 - w) + kd.mul_scalar(w)
            }
            None => ce,
        };
        let mut terms = Vec::with_capacity(self.pairs.len());
        for (k, &(s, t)) in self.pairs.iter().enumerate() {
            let t_feat = ctx.constant(teacher.stages[t].clone());
            let s_feat = student.stages[s].clone();
            let head = &self.model.heads[k];
            let dis = match self.config.loss {
                FeatureLoss::Mgd { mask_ratio, mask, .. } => {
                    let m = random_mask(mask, head.align(s_feat.clone()).dims(), mask_ratio, &mut self.rng, &ctx.device);
                    mgd_loss(head, s_feat, t_feat, m)
                }
                FeatureLoss::FitNet { .. } => fitnet::fitnet_loss(head, s_feat, t_feat),
            };
            terms.push((s, dis));
        }
        if let Some(ce_value) = ce_value {
            // against the CE, with or without KD (see `FeatureConfig::auto_alpha`)
            let raw: f64 = terms.iter().map(|(_, d)| scalar(d)).sum();
            self.config.set_alpha(if raw > 0.0 { ce_value / raw } else { 0.0 });
            self.alpha_fixed = true;
        }
        for (s, dis) in terms {
            let dis = dis.mul_scalar(self.config.alpha());
            named.push((format!("feat{s}"), dis.clone()));
            total = total + dis;
        }
        let acc = ctx.batch_accuracy(student.logits, batch);
        let out = named.iter().fold(StepOutput::new(total), |out, (name, t)| out.loss(name.clone(), t));
        Ok(out.metric("alpha", self.config.alpha()).metric("train_acc", acc))
    }

    fn save_state(&self, dir: &Path) -> Result<()> {
        let state = FeatureState { alpha: self.config.alpha(), alpha_fixed: self.alpha_fixed, rng: self.rng.state() };
        crate::record::write_json_atomic(&dir.join("feature.json"), &state)
    }

    fn load_state(&mut self, dir: &Path) -> Result<()> {
        let path = dir.join("feature.json");
        let text = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
        let state: FeatureState = serde_json::from_str(&text).map_err(|e| Error::format(&path, e.to_string()))?;
        self.config.set_alpha(state.alpha);
        self.alpha_fixed = state.alpha_fixed;
        self.rng = Rng::from_state(state.rng);
        Ok(())
    }
}

/// FitNet hints.
pub struct FitNet;

impl FitNet {
    /// α = 7e-5 (MGD's scale, so the two compare at equal weight), last stage.
    pub fn builder() -> FeatureBuilder {
        FeatureBuilder::new(FeatureLoss::FitNet { alpha: 7e-5 })
    }
}

/// MGD.
pub struct Mgd;

impl Mgd {
    /// The official classification defaults: α = 7e-5, λ = 0.15, channel mask, last stage.
    pub fn builder() -> FeatureBuilder {
        FeatureBuilder::new(FeatureLoss::Mgd { alpha: 7e-5, mask_ratio: 0.15, mask: MaskKind::Channel })
    }
}

/// Builder shared by MGD and FitNet.
pub struct FeatureBuilder {
    config: FeatureConfig,
    teacher: Option<Net>,
    options: RunOptions,
}

impl JobBuilder for FeatureBuilder {
    fn options(&mut self) -> &mut RunOptions {
        &mut self.options
    }
}

impl RunBuilder for FeatureBuilder {}

impl FeatureBuilder {
    pub(crate) fn new(loss: FeatureLoss) -> FeatureBuilder {
        FeatureBuilder {
            config: FeatureConfig { student: Arch::resnet(8), teacher: None, teacher_weights: None, loss, stages: vec![StagePair { student: -1, teacher: -1 }], kd: None, auto_alpha: false, auto_alpha_basis: None },
            teacher: None,
            options: RunOptions::default(),
        }
    }
    /// The frozen teacher (a finished run).
    pub fn teacher(mut self, run: &Run) -> Self {
        self.config.teacher = run.record.config.pointer("/method/student").and_then(|a| serde_json::from_value(a.clone()).ok());
        self.config.teacher_weights = Some(crate::models::weights_digest(&run.model));
        self.teacher = Some(run.model.clone());
        self
    }
    /// Student architecture.
    pub fn student(mut self, arch: Arch) -> Self {
        self.config.student = arch;
        self
    }
    /// Loss weight α.
    pub fn alpha(mut self, a: f64) -> Self {
        match &mut self.config.loss {
            FeatureLoss::Mgd { alpha, .. } | FeatureLoss::FitNet { alpha } => *alpha = a,
        }
        self
    }
    /// Choose α on the first batch so that the feature term equals the task loss (see
    /// [`FeatureConfig::auto_alpha`]).
    pub fn alpha_auto(mut self) -> Self {
        self.config.auto_alpha = true;
        self.with_alpha_basis()
    }
    /// Mask ratio λ (MGD only).
    pub fn mask_ratio(mut self, r: f64) -> Self {
        if let FeatureLoss::Mgd { mask_ratio, .. } = &mut self.config.loss {
            *mask_ratio = r;
        }
        self
    }
    /// Mask kind (MGD only).
    pub fn mask(mut self, kind: MaskKind) -> Self {
        if let FeatureLoss::Mgd { mask, .. } = &mut self.config.loss {
            *mask = kind;
        }
        self
    }
    /// Stages by index, the same index on both sides (−1 = last).
    pub fn stages(mut self, stages: impl IntoIterator<Item = isize>) -> Self {
        self.config.stages = stages.into_iter().map(|i| StagePair { student: i, teacher: i }).collect();
        self
    }
    /// Explicit (student, teacher) stage pairs, for heterogeneous pairs.
    pub fn stage_pairs(mut self, pairs: impl IntoIterator<Item = (isize, isize)>) -> Self {
        self.config.stages = pairs.into_iter().map(|(s, t)| StagePair { student: s, teacher: t }).collect();
        self
    }
    /// Adds Hinton KD on the logits at temperature T with weight w.
    pub fn with_kd(mut self, t: f64, weight: f64) -> Self {
        self.config.kd = Some((t, weight));
        self.with_alpha_basis()
    }
    /// Records what auto α is sized against beside KD ([`FeatureConfig::auto_alpha_basis`]).
    fn with_alpha_basis(mut self) -> Self {
        self.config.auto_alpha_basis = (self.config.auto_alpha && self.config.kd.is_some()).then_some(AlphaBasis::Ce);
        self
    }
    /// The configuration (`.config(…)` is only ever a setter).
    pub fn to_config(&self) -> &FeatureConfig {
        &self.config
    }

    /// Trains the student with the feature term.
    pub fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        let mut method = self.build(data, device)?;
        let name = method.name_of();
        let cfg = serde_json::to_value(&self.config).expect("config serialises");
        self.options.trainer(name).run(&mut method, cfg, data, device)
    }

    /// The method this builder describes, untrained (to call [`Method::losses`] on a batch).
    pub fn build(&self, data: &Dataset, device: &Device) -> Result<FeatureDistill> {
        let teacher = self.teacher.clone().ok_or_else(|| Error::invalid("teacher", "none", "call .teacher(&run) first"))?;
        FeatureDistill::new(self.config.clone(), teacher, data, &self.options, device)
    }
}

impl Fit for FeatureBuilder {
    fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        FeatureBuilder::fit(self, data, device)
    }
}

/// Feature "attention" of a stage (Fig. 1 of the paper): the channel mean of |F|, `[N, H·W]`
/// values and the map size.
pub fn attention_maps(net: &Net, images: Tensor<4>, stage: isize) -> Result<(Vec<f32>, [usize; 2])> {
    let f = net.forward_features(images);
    let i = head::stage_index(stage, f.stages.len(), "student")?;
    let [n, _, h, w] = f.stages[i].dims();
    let att = f.stages[i].clone().abs().mean_dim(1).reshape([n, h * w]);
    let v = att.into_data().try_to_vec::<f32>().map_err(|e| Error::invalid("attention", "tensor", format!("{e:?}")))?;
    Ok((v, [h, w]))
}
