//! MKSMT (paper 3; Yu, Wei, Tang & Qian, J. Comput. Res. Dev. 2023): multi-level knowledge
//! self-distillation with multi-step training, on any staged backbone of the zoo (Swin, ResNet …).
//!
//! Model: the backbone plus, on every taught stage but the last, an output-processing module
//! (OPM) and an output layer. **Our reading of OPM** (Fig. 2, not in the text): global average
//! pool over the stage's tokens → LayerNorm(C) → Linear(C → K) → GELU, with K the width of the
//! vector the backbone's own classifier reads (so OPM outputs and the last stage's vector can be
//! compared in feature distillation); the output layer is Linear(K → classes). The last stage
//! keeps the backbone's own head (Swin: norm → pool → linear), which is also the inference head:
//! the run returns the bare backbone, the stage heads are training-only.
//!
//! Training per batch (Algorithm 2), as switches ([`Scheme`], [`Step2`], [`Distill`]):
//! - step 1: forward up to S3 only → head₃ → CE → update (S1–S3 and head₃; nothing else has a
//!   gradient);
//! - step 2: the whole network → L = λ₁·CE(head₄) + λ₂·L_KD (Eq. 7; no CE on head₃ here), one
//!   update (`Sync`), or CE and KD as two updates (`Async`).
//!
//! `L_KD` (Eq. 6 with Eq. 2): **decision** distillation T²·KL(p₄ ‖ p₃), p = softmax(z/T), the
//! deep S4 the teacher (Eq. 2 puts the teacher's distribution first; the paper's notation
//! "KL of p₃ and p₄" does not fix an order, we take Hinton's, T² included so the gradient scale
//! does not shrink with T); p₄ is **detached by default** (the paper does not say; the deep stage
//! teaches, it is not pulled towards the shallow one) — `detach_teacher(false)` lets the gradient
//! reach S4 too. **Feature** distillation replaces it by the mean squared error between OPM₃'s
//! output and the vector S4's classifier reads (the ablation "OPM outputs" of the paper).
//!
//! Three-step trains S2 then S3 then the whole network with KD from S4 to S2 and S3; single-step
//! sums every head's CE and the KD in one update; the baseline is one head (plain CE).
use crate::data::{Batch, Dataset};
use crate::error::{ensure, Error, Result};
use crate::losses;
use crate::methods::options::{Fit, JobBuilder, RunBuilder, RunOptions};
use crate::models::{seeded, Arch, Net};
use crate::train::{devices, scalar, Method, Optimizers, Run, StepCtx, StepLog, StepOutput, MAIN};
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// How the heads are trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scheme {
    /// One head on the last stage, CE only (the paper's "baseline").
    Baseline,
    /// CE on every head + KD, one update per batch.
    SingleStep,
    /// Step 1 CE through S3's head, step 2 CE(S4) + KD on the whole network (the paper's MKSMT).
    TwoStep,
    /// S2's head, then S3's, then CE(S4) + KD from S4 to S2 and S3.
    ThreeStep,
}

impl Scheme {
    /// Stages with a head (counted from the last).
    pub fn taught_stages(&self) -> usize {
        match self {
            Scheme::Baseline => 1,
            Scheme::SingleStep | Scheme::TwoStep => 2,
            Scheme::ThreeStep => 3,
        }
    }
}

/// Step 2 of the multi-step schemes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Step2 {
    /// λ₁·CE + λ₂·KD in one update (the paper's default).
    Sync,
    /// CE then KD, two updates.
    Async,
}

/// What the shallow heads learn from S4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Distill {
    /// Nothing: multi-step training without self-distillation.
    None,
    /// Softmax outputs: T²·KL(p₄ ‖ p_k) (the paper's MKSMT).
    Decision,
    /// OPM outputs: MSE to the vector S4's classifier reads.
    Feature,
}

/// Everything an MKSMT run is configured by (serialised into the checkpoint identity).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MksmtConfig {
    /// The staged backbone.
    pub backbone: Arch,
    /// Step scheme.
    pub scheme: Scheme,
    /// Step 2 synchronous or asynchronous.
    pub step2: Step2,
    /// Decision or feature distillation, or none.
    pub distill: Distill,
    /// Temperature T of the softmax in the KD term (paper: best at 1).
    pub temperature: f64,
    /// λ₁, the weight of CE(S4) in step 2 (paper: 1 on CUB).
    pub lambda_ce: f64,
    /// λ₂, the weight of the KD term (paper: 1 on CUB).
    pub lambda_kd: f64,
    /// Detach p₄ (or S4's vector) in the KD term (default; the paper does not say).
    pub detach_teacher: bool,
    /// AdamW with this weight decay instead of the recipe's SGD (Swin's own recipe: 0.05, with a
    /// learning rate around 1e-3); `None` = SGD.
    pub adamw: Option<f64>,
    /// A PyTorch `.pth` / `.safetensors` file to start the backbone from (everything but the
    /// classifier: `models::import`), e.g. torchvision's ImageNet `swin_b` weights.
    pub pretrained: Option<std::path::PathBuf>,
}

impl MksmtConfig {
    /// The paper's MKSMT on `backbone`: two-step, synchronous, decision distillation, T = 1,
    /// λ₁ = λ₂ = 1, p₄ detached.
    pub fn new(backbone: Arch) -> MksmtConfig {
        MksmtConfig { backbone, scheme: Scheme::TwoStep, step2: Step2::Sync, distill: Distill::Decision, temperature: 1.0, lambda_ce: 1.0, lambda_kd: 1.0, detach_teacher: true, adamw: None, pretrained: None }
    }

    /// Checks every field, naming the bad one.
    pub fn validate(&self) -> Result<()> {
        self.backbone.validate()?;
        ensure(self.temperature > 0.0 && self.temperature.is_finite(), "temperature", self.temperature, "must be > 0")?;
        ensure(self.lambda_ce >= 0.0 && self.lambda_ce.is_finite(), "lambda_ce", self.lambda_ce, "must be ≥ 0")?;
        ensure(self.lambda_kd >= 0.0 && self.lambda_kd.is_finite(), "lambda_kd", self.lambda_kd, "must be ≥ 0")?;
        if let Some(wd) = self.adamw {
            ensure(wd >= 0.0 && wd.is_finite(), "adamw", wd, "weight decay must be ≥ 0")?;
        }
        Ok(())
    }

    /// A short label of the switches (`two-step sync decision T=1`).
    pub fn label(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Baseline => return "baseline".into(),
            Scheme::SingleStep => "single-step",
            Scheme::TwoStep => "two-step",
            Scheme::ThreeStep => "three-step",
        };
        let kd = match self.distill {
            Distill::None => "no KD".to_string(),
            Distill::Decision => format!("decision T={}", self.temperature),
            Distill::Feature => "feature".to_string(),
        };
        let step2 = if self.scheme == Scheme::SingleStep { "" } else if self.step2 == Step2::Async { " async" } else { " sync" };
        format!("{scheme}{step2} {kd}")
    }
}

/// The output-processing module: pool over tokens → LayerNorm → Linear(C → K) → GELU.
#[derive(Module, Debug)]
pub struct Opm {
    norm: LayerNorm,
    proj: Linear,
}

impl Opm {
    /// `[N, C, H, W]` stage output → `[N, K]`.
    pub fn forward(&self, stage: Tensor<4>) -> Tensor<2> {
        gelu(self.proj.forward(self.norm.forward(crate::models::blocks::global_pool(stage))))
    }
}

/// A training-only head on an intermediate stage: OPM, then an output layer.
#[derive(Module, Debug)]
pub struct StageHead {
    /// The OPM.
    pub opm: Opm,
    /// Linear(K → classes).
    pub out: Linear,
}

impl StageHead {
    fn new(width: usize, k: usize, classes: usize, device: &Device) -> StageHead {
        StageHead { opm: Opm { norm: LayerNormConfig::new(width).init(device), proj: LinearConfig::new(width, k).init(device) }, out: LinearConfig::new(k, classes).init(device) }
    }
}

/// The backbone with its stage heads (the trained model).
#[derive(Module, Debug)]
pub struct MksmtModel {
    /// The backbone (its own head is S_last's).
    pub net: Net,
    /// Heads of the taught stages but the last, shallow to deep.
    pub heads: Vec<StageHead>,
    /// The stage index (0-based) of every head.
    pub stages: Vec<usize>,
}

/// Logits and OPM vectors of every taught stage, shallow to deep (the last is the backbone's).
pub struct StageOutputs {
    /// Logits per taught stage.
    pub logits: Vec<Tensor<2>>,
    /// OPM output per taught stage (the last: the vector the backbone's classifier reads).
    pub vectors: Vec<Tensor<2>>,
}

impl MksmtModel {
    /// Every taught stage's logits and vector from one full forward pass.
    pub fn forward_all(&self, x: Tensor<4>) -> StageOutputs {
        let stages = self.net.stages_from(x, 0);
        let mut out = StageOutputs { logits: Vec::new(), vectors: Vec::new() };
        for (head, &s) in self.heads.iter().zip(&self.stages) {
            let v = head.opm.forward(stages[s].clone());
            out.logits.push(head.out.forward(v.clone()));
            out.vectors.push(v);
        }
        let v = self.net.embed(stages.last().expect("a stage").clone());
        out.logits.push(self.net.classifier().forward(v.clone()));
        out.vectors.push(v);
        out
    }
    /// Logits of head `h` computing only the stages up to its own (a step-1 forward).
    pub fn forward_head(&self, x: Tensor<4>, h: usize) -> Tensor<2> {
        let s = self.stages[h];
        let stages = self.net.stages_between(x, 0, s + 1);
        let head = &self.heads[h];
        head.out.forward(head.opm.forward(stages[s].clone()))
    }
}

/// T²·KL(p_teacher ‖ p_student), p = softmax(z/T), batch mean — Eq. 2 with S4 as the teacher;
/// the teacher's logits are detached when `detach`.
pub fn self_kd(student: Tensor<2>, teacher: Tensor<2>, t: f64, detach: bool) -> Tensor<1> {
    if detach { losses::kd_kl(student, teacher, t) } else { losses::soft_kl(student, teacher, t) }
}

/// The MKSMT method on the shared trainer.
pub struct Mksmt {
    model: MksmtModel,
    config: MksmtConfig,
}

impl Mksmt {
    /// Builds the backbone (seeded) and a head on every taught stage but the last.
    pub fn new(config: &MksmtConfig, data: &Dataset, device: &Device, seed: u64) -> Result<Mksmt> {
        Mksmt::new_from(config, data, device, seed, None)
    }

    /// [`Mksmt::new`] with the backbone's weights, all but the classifier, taken from `init`
    /// (a network of the same architecture trained elsewhere, e.g. pretrained on other classes);
    /// the classifier and the stage heads start fresh for `data`'s classes.
    pub fn new_from(config: &MksmtConfig, data: &Dataset, device: &Device, seed: u64, init: Option<&Net>) -> Result<Mksmt> {
        config.validate()?;
        let (plain, train) = devices(device);
        let classes = data.num_classes();
        let mut net = config.backbone.init_seeded(data.shape(), classes, &train, seed)?;
        if let Some(path) = &config.pretrained {
            net = crate::models::import::load(net, path, crate::models::import::Import::except_classifier())?.0;
        }
        let maps = net.clone().to_device(&plain).stage_dims(data.shape(), &plain);
        if let Some(init) = init {
            let theirs = init.clone().to_device(&plain).stage_dims(data.shape(), &plain);
            if init.kind() != net.kind() || theirs != maps || init.classifier().weight.dims()[0] != net.classifier().weight.dims()[0] {
                return Err(Error::invalid("init_backbone", init.kind(), format!("is not a {} (stage maps {theirs:?}, expected {maps:?})", config.backbone)));
            }
            let fresh = net.classifier().clone();
            // a finished run's network comes back without autodiff (its parameters no longer
            // require gradients): fine-tuning must move every one of them
            net = init.clone().to_device(&train).set_require_grad(true).train().with_classifier(fresh);
        }
        let taught = config.scheme.taught_stages();
        if taught > maps.len() {
            return Err(Error::invalid("scheme", format!("{:?}", config.scheme), format!("needs {taught} stages, {} has {}", config.backbone, maps.len())));
        }
        // K = the width of the vector S_last's classifier reads (burn's Linear weight is [in, out])
        let k = net.classifier().weight.dims()[0];
        let stages: Vec<usize> = (maps.len() - taught..maps.len() - 1).collect();
        let heads = seeded(&train, seed.wrapping_add(7919), || Ok(stages.iter().map(|&s| StageHead::new(maps[s][1], k, classes, &train)).collect::<Vec<_>>()))?;
        Ok(Mksmt { model: MksmtModel { net, heads, stages }, config: config.clone() })
    }

    /// The trained model (backbone + heads).
    pub fn model_ref(&self) -> &MksmtModel {
        &self.model
    }

    /// λ₂·Σ_k KD(head_k ← S_last) over the shallow heads; `None` without distillation.
    fn kd(&self, out: &StageOutputs) -> Option<Tensor<1>> {
        let c = &self.config;
        if c.distill == Distill::None {
            return None;
        }
        let last = out.logits.len() - 1;
        let term = |k: usize| match c.distill {
            Distill::Decision => self_kd(out.logits[k].clone(), out.logits[last].clone(), c.temperature, c.detach_teacher),
            // Feature (None returned above)
            Distill::Feature | Distill::None => {
                let teacher = out.vectors[last].clone();
                let teacher = if c.detach_teacher { teacher.detach() } else { teacher };
                (out.vectors[k].clone() - teacher).square().mean()
            }
        };
        (0..last).map(term).reduce(|a, b| a + b).map(|t| t.mul_scalar(c.lambda_kd))
    }

    /// Step `h` of a multi-step scheme: CE through head `h`, only the stages up to its own.
    fn head_step(&mut self, h: usize, batch: &Batch, ctx: &StepCtx, optim: &mut Optimizers) -> StepLog {
        let logits = self.model.forward_head(batch.images(&ctx.device), h);
        let ce = ctx.task_loss(logits, batch);
        let logged = (format!("ce_s{}", self.model.stages[h] + 1), scalar(&ce));
        optim.minimise(MAIN, &mut self.model, ce, ctx.lr);
        StepLog { losses: vec![logged], metrics: Vec::new() }
    }
}

impl Method for Mksmt {
    type Model = MksmtModel;

    fn name(&self) -> String {
        "mksmt".into()
    }
    fn model(&self) -> &MksmtModel {
        &self.model
    }
    fn model_mut(&mut self) -> &mut MksmtModel {
        &mut self.model
    }
    fn configure(&self, optim: &mut Optimizers) {
        if let Some(wd) = self.config.adamw {
            optim.insert(MAIN, burn::optim::AdamWConfig::new().with_weight_decay(wd as f32).init());
        }
    }
    /// The backbone alone: the stage heads are training-only (their accuracies are recorded by
    /// [`Method::evaluate`]).
    fn nets(&self) -> Vec<(String, Net)> {
        vec![("backbone".into(), self.model.net.valid())]
    }

    /// The single-update schemes (baseline, single-step): CE on every head + λ₂·KD.
    fn losses(&mut self, batch: &Batch, ctx: &StepCtx) -> Result<StepOutput> {
        let out = self.model.forward_all(batch.images(&ctx.device));
        let last = out.logits.len() - 1;
        let mut ces: Vec<(String, Tensor<1>)> = Vec::new();
        for (k, logits) in out.logits.iter().enumerate() {
            let stage = if k == last { "last".to_string() } else { format!("s{}", self.model.stages[k] + 1) };
            let w = if k == last { self.config.lambda_ce } else { 1.0 };
            ces.push((format!("ce_{stage}"), ctx.task_loss(logits.clone(), batch).mul_scalar(w)));
        }
        let kd = self.kd(&out);
        let total = ces.iter().map(|c| c.1.clone()).chain(kd.clone()).reduce(|a, b| a + b).expect("a CE term");
        let mut step = StepOutput::new(total);
        for (name, t) in &ces {
            step = step.loss(name, t);
        }
        if let Some(kd) = &kd {
            step = step.loss("kd", kd);
        }
        Ok(step.metric("train_acc", ctx.batch_accuracy(out.logits[last].clone(), batch)))
    }

    /// Multi-step schemes: one CE update per shallow head (shallow first, each through its own
    /// stages only), then step 2 on the whole network, sync or async.
    fn step(&mut self, batch: &Batch, ctx: &StepCtx, optim: &mut Optimizers) -> Result<StepLog> {
        if matches!(self.config.scheme, Scheme::Baseline | Scheme::SingleStep) {
            let out = self.losses(batch, ctx)?;
            optim.minimise(MAIN, &mut self.model, out.total, ctx.lr);
            return Ok(out.log);
        }
        let mut log = StepLog::default();
        for h in 0..self.model.heads.len() {
            log.extend(self.head_step(h, batch, ctx, optim));
        }
        let out = self.model.forward_all(batch.images(&ctx.device));
        let last = out.logits.len() - 1;
        let acc = ctx.batch_accuracy(out.logits[last].clone(), batch);
        let ce = ctx.task_loss(out.logits[last].clone(), batch).mul_scalar(self.config.lambda_ce);
        let mut step2 = StepLog { losses: vec![("ce_last".into(), scalar(&ce))], metrics: vec![("train_acc".into(), acc)] };
        let distill = self.config.distill != Distill::None;
        match (distill, self.config.step2) {
            (false, _) => optim.minimise(MAIN, &mut self.model, ce, ctx.lr),
            (true, Step2::Sync) => {
                let kd = self.kd(&out).expect("distillation is on");
                step2.losses.push(("kd".into(), scalar(&kd)));
                optim.minimise(MAIN, &mut self.model, ce + kd, ctx.lr);
            }
            (true, Step2::Async) => {
                // the KD update reads the network as the CE update left it
                optim.minimise(MAIN, &mut self.model, ce, ctx.lr);
                let kd = self.kd(&self.model.forward_all(batch.images(&ctx.device))).expect("distillation is on");
                step2.losses.push(("kd".into(), scalar(&kd)));
                optim.minimise(MAIN, &mut self.model, kd, ctx.lr);
            }
        }
        let total: f64 = log.losses.iter().chain(&step2.losses).map(|l| l.1).sum();
        let mut all = StepLog { losses: vec![("loss".into(), total)], metrics: Vec::new() };
        all.extend(log);
        all.extend(step2);
        Ok(all)
    }

    /// `test_acc` of the backbone (S_last's head, the inference model) and `head_s{k}_acc` of
    /// every stage head.
    fn evaluate(&self, test: &crate::data::Loader, device: &Device) -> std::collections::BTreeMap<String, f64> {
        let model = self.model.valid();
        let mut hits = vec![0usize; model.heads.len() + 1];
        let (mut n, mut loss) = (0usize, 0.0);
        for batch in test.epoch(0) {
            let labels = batch.labels(device);
            let out = model.forward_all(batch.images(device));
            let last = out.logits.len() - 1;
            loss += scalar(&losses::cross_entropy(out.logits[last].clone(), labels.clone(), 0.0)) * batch.len() as f64;
            for (h, logits) in hits.iter_mut().zip(out.logits) {
                *h += losses::correct(logits, labels.clone());
            }
            n += batch.len();
        }
        let acc = |h: usize| h as f64 / n.max(1) as f64;
        let mut m = std::collections::BTreeMap::new();
        m.insert("test_acc".into(), acc(hits[model.heads.len()]));
        m.insert("test_loss".into(), loss / n.max(1) as f64);
        for (k, &s) in model.stages.iter().enumerate() {
            m.insert(format!("head_s{}_acc", s + 1), acc(hits[k]));
        }
        m
    }
}

/// Builder of an MKSMT run: `Mksmt::builder().backbone(Arch::swin(SwinSpec::micro(24)))
/// .scheme(Scheme::TwoStep).temperature(1.0).fit(&data, &device)`.
pub struct MksmtBuilder {
    config: MksmtConfig,
    options: RunOptions,
    init: Option<Net>,
}

impl Mksmt {
    /// The paper's MKSMT (see [`MksmtConfig::new`]) on a micro Swin (width 24).
    pub fn builder() -> MksmtBuilder {
        MksmtBuilder { config: MksmtConfig::new(Arch::swin(crate::models::swin::SwinSpec::micro(24))), options: RunOptions::default(), init: None }
    }
}

impl JobBuilder for MksmtBuilder {
    fn options(&mut self) -> &mut RunOptions {
        &mut self.options
    }
}

impl RunBuilder for MksmtBuilder {}

impl MksmtBuilder {
    /// The staged backbone (≥ 2 stages; 3 for three-step).
    pub fn backbone(mut self, arch: Arch) -> Self {
        self.config.backbone = arch;
        self
    }
    /// Step scheme (default two-step).
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.config.scheme = scheme;
        self
    }
    /// Step 2 sync (default) or async.
    pub fn step2(mut self, step2: Step2) -> Self {
        self.config.step2 = step2;
        self
    }
    /// Decision (default), feature or no distillation.
    pub fn distill(mut self, distill: Distill) -> Self {
        self.config.distill = distill;
        self
    }
    /// Temperature T (default 1).
    pub fn temperature(mut self, t: f64) -> Self {
        self.config.temperature = t;
        self
    }
    /// λ₁ (CE of the last stage) and λ₂ (KD), default 1 and 1.
    pub fn lambdas(mut self, ce: f64, kd: f64) -> Self {
        self.config.lambda_ce = ce;
        self.config.lambda_kd = kd;
        self
    }
    /// Detach S4's output in the KD term (default true).
    pub fn detach_teacher(mut self, on: bool) -> Self {
        self.config.detach_teacher = on;
        self
    }
    /// AdamW with weight decay `wd` instead of the recipe's SGD (give a learning rate ≈ 1e-3).
    pub fn adamw(mut self, wd: f64) -> Self {
        self.config.adamw = Some(wd);
        self
    }
    /// Start the backbone from the weights in a PyTorch `.pth` or `.safetensors` file (all but
    /// the classifier; torchvision names for Swin, RepDistiller's for CIFAR ResNets/WRNs).
    pub fn pretrained(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.config.pretrained = Some(path.into());
        self
    }
    /// Start the backbone from `net`'s weights, all but the classifier (a network of the same
    /// architecture, e.g. one pretrained on other classes of the same images); the classifier and
    /// the stage heads start fresh. Not part of the configuration: a checkpoint key must name
    /// where `net` came from.
    pub fn init_backbone(mut self, net: Net) -> Self {
        self.init = Some(net);
        self
    }
    /// Replaces the whole configuration.
    pub fn config(mut self, config: MksmtConfig) -> Self {
        self.config = config;
        self
    }
    /// The configuration so far (`.config(…)` is only ever a setter).
    pub fn to_config(&self) -> &MksmtConfig {
        &self.config
    }
    /// The method, untrained (to inspect its heads or call a step).
    pub fn build(&self, data: &Dataset, device: &Device) -> Result<Mksmt> {
        self.options.train.validate()?;
        Mksmt::new_from(&self.config, data, device, self.options.train.seed, self.init.as_ref())
    }
    /// Trains; the run's model is the backbone alone (inference uses the last stage's head) and
    /// its record holds `test_acc` (last head) and `head_s{k}_acc` per stage head.
    pub fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        let mut method = self.build(data, device)?;
        let cfg = serde_json::to_value(&self.config).expect("config serialises");
        self.options.trainer(&format!("mksmt {}", self.config.label())).run(&mut method, cfg, data, device)
    }
}

impl Fit for MksmtBuilder {
    fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        MksmtBuilder::fit(self, data, device)
    }
}
