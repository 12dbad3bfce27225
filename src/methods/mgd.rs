//! Masked Generative Distillation (Yang et al., ECCV 2022, arXiv 2205.01529) and the shared
//! feature-distillation method that FitNet ([`super::fitnet`]) also runs on.
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
use super::options::{Fit, RunBuilder, RunOptions};
use crate::data::{Batch, Dataset, Loader};
use crate::error::{ensure, Error, Result};
use crate::losses;
use crate::models::blocks::conv;
use crate::models::{Arch, Net, Staged};
use crate::rng::Rng;
use crate::train::{checkpoint, devices, evaluate_net, scalar, Losses, Method, Run, StepCtx};
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Where MGD's random mask drops features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MaskKind {
    /// Whole channels (`N×C×1×1`): the official classification setting.
    Channel,
    /// Spatial positions (`N×1×H×W`): the official detection/segmentation setting.
    Pixel,
}

/// Which stage of the student is matched to which stage of the teacher. Negative indices count
/// from the end (−1 = last stage).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagePair {
    /// Student stage index.
    pub student: isize,
    /// Teacher stage index.
    pub teacher: isize,
}

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
    /// The feature term.
    pub loss: FeatureLoss,
    /// Matched stages.
    pub stages: Vec<StagePair>,
    /// Optional Hinton KD on the logits: (T, weight w): L = (1 − w)·CE + w·KD + feature term.
    pub kd: Option<(f64, f64)>,
    /// Set α on the first batch so that α·L_dis equals the task loss (the MGD author's advice
    /// for new settings: "make the MGD loss about the size of the task loss"); the configured α
    /// is then ignored and the chosen one is recorded as the `alpha` series.
    #[serde(default)]
    pub auto_alpha: bool,
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

/// Align + generation layers for one matched stage (training only).
#[derive(Module, Debug)]
pub struct FeatureHead {
    /// 1×1 conv from student to teacher channels, when they differ.
    pub align: Option<Conv2d>,
    /// Generation block (MGD only), first Conv3×3 (followed by ReLU).
    pub generate_a: Option<Conv2d>,
    /// Generation block, second Conv3×3.
    pub generate_b: Option<Conv2d>,
}

impl FeatureHead {
    /// A head from `c_s` student channels to `c_t` teacher channels.
    pub fn new(c_s: usize, c_t: usize, generation: bool, device: &Device) -> FeatureHead {
        FeatureHead {
            align: (c_s != c_t).then(|| conv(c_s, c_t, 1, 1, true, device)),
            generate_a: generation.then(|| conv(c_t, c_t, 3, 1, true, device)),
            generate_b: generation.then(|| conv(c_t, c_t, 3, 1, true, device)),
        }
    }
    /// f_align(S).
    pub fn align(&self, s: Tensor<4>) -> Tensor<4> {
        match &self.align {
            Some(a) => a.forward(s),
            None => s,
        }
    }
    /// G(x) (identity without a generation block).
    pub fn generate(&self, x: Tensor<4>) -> Tensor<4> {
        match (&self.generate_a, &self.generate_b) {
            (Some(a), Some(b)) => b.forward(relu(a.forward(x))),
            _ => x,
        }
    }
}

/// The random mask M: 0 with probability λ (R < λ), else 1; `[N, C, 1, 1]` or `[N, 1, H, W]`.
pub fn random_mask(kind: MaskKind, [n, c, h, w]: [usize; 4], ratio: f64, rng: &mut Rng, device: &Device) -> Tensor<4> {
    let shape = match kind {
        MaskKind::Channel => [n, c, 1, 1],
        MaskKind::Pixel => [n, 1, h, w],
    };
    let values: Vec<f32> = (0..shape.iter().product::<usize>()).map(|_| if rng.uniform() < ratio { 0.0 } else { 1.0 }).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// MGD's distillation loss for one stage (before α): Σ (T − G(f_align(S) ⊙ M))² / N.
pub fn mgd_loss(head: &FeatureHead, student: Tensor<4>, teacher: Tensor<4>, mask: Tensor<4>) -> Tensor<1> {
    let n = teacher.dims()[0];
    let generated = head.generate(head.align(student) * mask);
    losses::mse_sum(generated, teacher, n)
}

/// Student plus its training-only heads, optimised together.
#[derive(Module, Debug)]
pub struct StudentWithHeads {
    /// The student network.
    pub net: Net,
    /// One head per matched stage.
    pub heads: Vec<FeatureHead>,
}

fn stage_index(i: isize, len: usize, side: &str) -> Result<usize> {
    let idx = if i < 0 { len as isize + i } else { i };
    if idx < 0 || idx as usize >= len {
        return Err(Error::invalid(format!("stages.{side}"), i, format!("the {side} has {len} stages")));
    }
    Ok(idx as usize)
}

/// Resolves stage pairs and checks that each pair's spatial sizes agree (channels are aligned by
/// the 1×1 conv; spatial sizes cannot be).
pub fn resolve_stages(pairs: &[StagePair], student: &[[usize; 4]], teacher: &[[usize; 4]]) -> Result<Vec<(usize, usize)>> {
    pairs
        .iter()
        .map(|p| {
            let s = stage_index(p.student, student.len(), "student")?;
            let t = stage_index(p.teacher, teacher.len(), "teacher")?;
            let (ss, ts) = (student[s], teacher[t]);
            if ss[2..] != ts[2..] {
                return Err(Error::invalid(
                    "stages",
                    format!("student {s} / teacher {t}"),
                    format!("student stage is {}×{}, teacher stage is {}×{}: spatial sizes must match (pick other stages)", ss[2], ss[3], ts[2], ts[3]),
                ));
            }
            Ok((s, t))
        })
        .collect()
}

/// The feature-distillation method (MGD or FitNet, optionally + KD).
pub struct FeatureDistill {
    model: StudentWithHeads,
    optim: ModuleOptimizer,
    teacher: Net,
    pairs: Vec<(usize, usize)>,
    config: FeatureConfig,
    rng: Rng,
    alpha_fixed: bool,
}

impl FeatureDistill {
    /// Builds student and heads on the training device; probes stage shapes with one image.
    pub fn new(config: FeatureConfig, teacher: Net, data: &Dataset, options: &RunOptions, device: &Device) -> Result<FeatureDistill> {
        config.validate()?;
        options.train.validate()?;
        let (plain, train) = devices(device);
        let net = config.student.init_seeded(data.shape(), data.num_classes(), &train, options.train.seed)?;
        let teacher = teacher.valid().to_device(&plain);
        let [c, h, w] = data.shape();
        let probe_s = net.valid().forward_features(Tensor::zeros([1, c, h, w], &plain)).stages.iter().map(|s| s.dims()).collect::<Vec<_>>();
        let probe_t = teacher.forward_features(Tensor::zeros([1, c, h, w], &plain)).stages.iter().map(|s| s.dims()).collect::<Vec<_>>();
        let pairs = resolve_stages(&config.stages, &probe_s, &probe_t)?;
        let generation = matches!(config.loss, FeatureLoss::Mgd { .. });
        let heads = pairs.iter().map(|&(s, t)| FeatureHead::new(probe_s[s][1], probe_t[t][1], generation, &train)).collect();
        Ok(FeatureDistill { model: StudentWithHeads { net, heads }, optim: options.train.sgd(), teacher, pairs, rng: Rng::derive(options.train.seed, 0x36D), config, alpha_fixed: false })
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
    fn name(&self) -> String {
        self.name_of().into()
    }

    fn step(&mut self, batch: &Batch, ctx: &StepCtx) -> Result<Losses> {
        let teacher = self.teacher.forward_features(batch.images(&ctx.plain));
        let student = self.model.net.forward_features(batch.images(&ctx.device));
        let labels = batch.labels(&ctx.device);
        let ce = losses::cross_entropy(student.logits.clone(), labels.clone(), 0.0);
        let ce_value = scalar(&ce);
        let mut out: Losses = vec![("loss".into(), 0.0), ("ce".into(), ce_value)];
        let mut total = match self.config.kd {
            Some((t, w)) => {
                let t_logits = ctx.constant(teacher.logits.clone());
                let kd = losses::kd_kl(student.logits.clone(), t_logits, t);
                out.push(("kd".into(), scalar(&kd)));
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
                FeatureLoss::FitNet { .. } => super::fitnet::fitnet_loss(head, s_feat, t_feat),
            };
            terms.push((s, dis));
        }
        if self.config.auto_alpha && !self.alpha_fixed {
            let raw: f64 = terms.iter().map(|(_, d)| scalar(d)).sum();
            self.config.set_alpha(if raw > 0.0 { ce_value / raw } else { 0.0 });
            self.alpha_fixed = true;
        }
        for (s, dis) in terms {
            let dis = dis.mul_scalar(self.config.alpha());
            out.push((format!("feat{s}"), scalar(&dis)));
            total = total + dis;
        }
        out.push(("alpha".into(), self.config.alpha()));
        out[0].1 = scalar(&total);
        let hits = losses::correct(student.logits, labels);
        out.push(("train_acc".into(), hits as f64 / batch.len() as f64));
        let grads = GradientsParams::from_grads(total.backward(), &self.model);
        self.model = self.optim.step(ctx.lr, self.model.clone(), grads);
        Ok(out)
    }

    fn evaluate(&self, test: &Loader, device: &Device) -> BTreeMap<String, f64> {
        let (acc, loss) = evaluate_net(&self.model.net.valid(), test, device);
        BTreeMap::from([("test_acc".into(), acc), ("test_loss".into(), loss)])
    }

    fn save(&self, dir: &Path) -> Result<()> {
        checkpoint::save_module(&self.model, dir, "student-heads.bpk")?;
        checkpoint::save_optim(&self.optim, dir, "optim.bpk")?;
        // the α chosen on the first batch (auto α) must survive a resume
        crate::train::record::write_atomic(&dir.join("alpha.json"), format!("[{}, {}]", self.config.alpha(), self.alpha_fixed).as_bytes())
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        self.model = checkpoint::load_module(self.model.clone(), dir, "student-heads.bpk")?;
        checkpoint::load_optim(&mut self.optim, dir, "optim.bpk")?;
        let path = dir.join("alpha.json");
        let text = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
        let (alpha, fixed): (f64, bool) = serde_json::from_str(&text).map_err(|e| Error::format(&path, e.to_string()))?;
        self.config.set_alpha(alpha);
        self.alpha_fixed = fixed;
        Ok(())
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

impl RunBuilder for FeatureBuilder {
    fn options(&mut self) -> &mut RunOptions {
        &mut self.options
    }
}

impl FeatureBuilder {
    pub(crate) fn new(loss: FeatureLoss) -> FeatureBuilder {
        FeatureBuilder {
            config: FeatureConfig { student: Arch::resnet(8), teacher: None, loss, stages: vec![StagePair { student: -1, teacher: -1 }], kd: None, auto_alpha: false },
            teacher: None,
            options: RunOptions::default(),
        }
    }
    /// The frozen teacher (a finished run).
    pub fn teacher(mut self, run: &Run) -> Self {
        self.config.teacher = run.record.config.pointer("/method/student").and_then(|a| serde_json::from_value(a.clone()).ok());
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
        self
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
        self
    }
    /// The configuration.
    pub fn config(&self) -> &FeatureConfig {
        &self.config
    }

    /// Trains the student with the feature term.
    pub fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        let teacher = self.teacher.clone().ok_or_else(|| Error::invalid("teacher", "none", "call .teacher(&run) first"))?;
        let mut method = FeatureDistill::new(self.config.clone(), teacher, data, &self.options, device)?;
        let name = method.name_of();
        let cfg = serde_json::to_value(&self.config).expect("config serialises");
        let record = self.options.trainer(name).fit(&mut method, cfg, data, device)?;
        Ok(Run { record, model: method.student() })
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
    let i = stage_index(stage, f.stages.len(), "student")?;
    let [n, _, h, w] = f.stages[i].dims();
    let att = f.stages[i].clone().abs().mean_dim(1).reshape([n, h * w]);
    let v = att.into_data().try_to_vec::<f32>().map_err(|e| Error::invalid("attention", "tensor", format!("{e:?}")))?;
    Ok((v, [h, w]))
}
