//! The student of the paper: trained on region-dropped samples whose hole is zeroed (Cutout) or
//! filled by the patch generator, against hard labels or the fused cross-validated KD labels.
use super::gan::{validate_patch, PatchGan, PatchGanConfig, PatchGanRun};
use super::holes::{drop_holes, Hole};
use super::networks::PatchGenerator;
use super::teachers::{fuse_labels, mean_entropy, FoldTeachers};
use crate::data::{Batch, Dataset};
use crate::error::{ensure, Error, Result};
use crate::losses;
use crate::methods::options::{JobBuilder, RunBuilder, RunOptions};
use crate::models::{Arch, Net, Staged};
use crate::rng::Rng;
use crate::train::{devices, Method, Run, StepCtx, StepOutput};
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What fills the dropped square.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fill {
    /// Zeros (the normalised mean pixel): Cutout.
    Zero,
    /// The patch generator's output.
    Generated,
}

/// What the student learns the dropped sample as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Labels {
    /// Its one-hot label (label-smoothed by the recipe's ε, if any).
    Hard,
    /// The fused cross-validated KD label ỹ.
    Kd,
}

/// Everything that changes a GAN-KD student's numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GanKdConfig {
    /// Student architecture.
    pub student: Arch,
    /// Teacher architecture (k of them).
    pub teacher: Arch,
    /// Hole fill.
    pub fill: Fill,
    /// Target labels.
    pub labels: Labels,
    /// Folds k (= teachers).
    pub folds: usize,
    /// Weight β of the teacher's soft label in the fusion (paper: unspecified; default 0.5).
    pub beta: f64,
    /// Label-smoothing ε inside the fusion (paper: unspecified; default 0.1).
    pub smoothing: f64,
    /// Temperature T of the teacher's soft label (paper: unspecified; default 4).
    pub temperature: f64,
    /// Also train on the clean sample with CE (the paper's "plus clean samples if enabled").
    pub clean: bool,
    /// The patch GAN (its `patch` is also the hole side of [`Fill::Zero`]).
    pub gan: PatchGanConfig,
    /// Epochs of the GAN when the builder trains one itself.
    pub gan_epochs: usize,
}

impl GanKdConfig {
    /// Checks k, β, ε, T, the architectures and that the patch fits `[c, h, w]` images.
    pub fn validate(&self, shape: [usize; 3]) -> Result<()> {
        ensure(self.folds >= 2, "folds", self.folds, "cross-validated labels need k ≥ 2 folds")?;
        ensure((0.0..=1.0).contains(&self.beta), "beta", self.beta, "β must be in [0, 1]")?;
        ensure((0.0..=1.0).contains(&self.smoothing), "smoothing", self.smoothing, "ε must be in [0, 1]")?;
        ensure(self.temperature > 0.0 && self.temperature.is_finite(), "temperature", self.temperature, "T must be > 0")?;
        ensure(self.gan_epochs >= 1, "gan_epochs", self.gan_epochs, "must be at least 1")?;
        self.student.validate()?;
        self.teacher.validate()?;
        self.gan.validate(shape)?;
        validate_patch(self.gan.patch_for(shape), shape)
    }
    /// A short label: "GAN patch + KD labels", "Cutout", …
    pub fn label(&self) -> String {
        let fill = match self.fill {
            Fill::Zero => "Cutout",
            Fill::Generated => "GAN patch",
        };
        match self.labels {
            Labels::Kd => format!("{fill} + KD labels"),
            Labels::Hard if self.fill == Fill::Zero => fill.into(),
            Labels::Hard => format!("{fill} + hard labels"),
        }
    }
}

/// Stream of the holes the student's batches get.
const HOLE_STREAM: u64 = 0x57D0_0001;

/// A student trained on dropped-and-filled samples.
pub struct GanKdMethod {
    student: Net,
    generator: Option<PatchGenerator>,
    teachers: Option<Arc<FoldTeachers>>,
    config: GanKdConfig,
    patch: usize,
    seed: u64,
}

impl GanKdMethod {
    /// A fresh student; `generator` is needed for [`Fill::Generated`], `teachers` (trained on
    /// folds of `data.train`) for [`Labels::Kd`].
    pub fn new(config: &GanKdConfig, generator: Option<PatchGenerator>, teachers: Option<Arc<FoldTeachers>>, data: &Dataset, seed: u64, device: &Device) -> Result<GanKdMethod> {
        config.validate(data.shape())?;
        let (plain, train) = devices(device);
        let patch = config.gan.patch_for(data.shape());
        let generator = match (config.fill, generator) {
            (Fill::Generated, None) => return Err(Error::invalid("generator", "none", "a GAN-patch fill needs a trained generator: .generator(&gan)")),
            (Fill::Generated, Some(g)) if g.patch() != patch => return Err(Error::invalid("generator", g.patch(), format!("makes {0}×{0} patches; the holes are {patch}×{patch}", g.patch()))),
            (Fill::Generated, Some(g)) => Some(g.to_device(&plain)),
            (Fill::Zero, _) => None,
        };
        let teachers = match (config.labels, teachers) {
            (Labels::Kd, None) => return Err(Error::invalid("teachers", "none", "KD labels need the fold teachers: .teachers(&teachers)")),
            (Labels::Kd, Some(t)) => {
                t.check_fits(data)?;
                t.teachers.iter().try_for_each(|r| r.model.check_fits("teacher", data.shape(), data.num_classes(), &plain))?;
                // the teachers label on this run's device (a fanned-out row may run elsewhere)
                Some(if t.teachers.iter().all(|r| r.model.devices().contains(&plain)) { t } else { Arc::new(t.on(&plain)) })
            }
            (Labels::Hard, _) => None,
        };
        let student = config.student.init_seeded(data.shape(), data.num_classes(), &train, seed)?;
        Ok(GanKdMethod { student, generator, teachers, config: config.clone(), patch, seed })
    }

    /// The batch with a hole in every image, filled as configured (host, normalised).
    pub fn dropped(&self, batch: &Batch, step: usize, plain: &Device) -> Vec<f32> {
        let [n, _, h, w] = batch.shape;
        let mut rng = Rng::derive(self.seed ^ HOLE_STREAM, step as u64);
        let holes = Hole::random_batch(n, h, w, self.patch, &mut rng);
        match &self.generator {
            Some(g) => super::gan::fill_generated(g, &batch.images, batch.shape, &holes, plain),
            None => drop_holes(&batch.images, batch.shape, &holes),
        }
    }
}

impl Method for GanKdMethod {
    type Model = Net;

    fn name(&self) -> String {
        "gan-kd".into()
    }
    fn model(&self) -> &Net {
        &self.student
    }
    fn model_mut(&mut self) -> &mut Net {
        &mut self.student
    }
    fn nets(&self) -> Vec<(String, Net)> {
        vec![("student".into(), self.student.valid())]
    }

    /// Soft CE −Σ ỹ log p_s on the dropped sample (ỹ the fused KD label, or the recipe's
    /// task loss for hard labels), plus CE on the clean sample when `clean`. Metrics: the mean
    /// entropy of the targets (`label_entropy`, nats) and, with KD labels, how often the
    /// labelling teacher's top-1 on the dropped sample is its label (`teacher_acc_dropped`).
    fn losses(&mut self, batch: &Batch, ctx: &StepCtx) -> Result<StepOutput> {
        let images = self.dropped(batch, ctx.step, &ctx.plain);
        let x = Tensor::from_data(TensorData::new(images.clone(), batch.shape), &ctx.device);
        let logits = self.student.forward(x);
        let acc = ctx.batch_accuracy(logits.clone(), batch);
        let k = batch.classes;
        let (loss, entropy, teacher_acc) = match &self.teachers {
            Some(t) => {
                let soft = t.soft_labels(&images, batch.shape, &batch.indices, self.config.temperature, &ctx.plain)?;
                let hits = soft.chunks_exact(k).zip(&batch.labels).filter(|(row, y)| argmax(row) == **y).count();
                let target = fuse_labels(&soft, &batch.labels, k, self.config.beta, self.config.smoothing);
                let entropy = mean_entropy(&target, k);
                let target = Tensor::from_data(TensorData::new(target, [batch.len(), k]), &ctx.device);
                (losses::soft_cross_entropy(logits, target), entropy, Some(hits as f64 / batch.len().max(1) as f64))
            }
            None => (ctx.task_loss(logits, batch), mean_entropy(&batch.target_values(ctx.label_smoothing), k), None),
        };
        let mut out = if self.config.clean {
            let clean = ctx.task_loss(self.student.forward(batch.images(&ctx.device)), batch);
            StepOutput::new(loss.clone() + clean.clone()).loss("dropped", &loss).loss("clean", &clean)
        } else {
            StepOutput::new(loss.clone()).loss("dropped", &loss)
        };
        out = out.metric("train_acc", acc).metric("label_entropy", entropy);
        if let Some(a) = teacher_acc {
            out = out.metric("teacher_acc_dropped", a);
        }
        Ok(out)
    }
}

fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold((0, f32::MIN), |best, (i, &v)| if v > best.1 { (i, v) } else { best }).0
}

/// GAN-KD augmentation: `GanKd::builder().folds(5).beta(0.5).smoothing(0.1).temperature(4.0)…fit`.
pub struct GanKd;

impl GanKd {
    /// The paper's method: GAN-patch fill + fused KD labels; student ConvNet-3 w16, teachers
    /// ConvNet-3 w32, k = 5, β = 0.5, ε = 0.1, T = 4 (the paper gives none of β, ε, T), the
    /// GAN at `base` 8 for 20 epochs when the builder trains it.
    pub fn builder() -> GanKdBuilder {
        let config = GanKdConfig {
            student: Arch::convnet(16, 3),
            teacher: Arch::convnet(32, 3),
            fill: Fill::Generated,
            labels: Labels::Kd,
            folds: 5,
            beta: 0.5,
            smoothing: 0.1,
            temperature: 4.0,
            clean: false,
            gan: PatchGanConfig { base: 8, ..PatchGanConfig::new() },
            gan_epochs: 20,
        };
        GanKdBuilder { config, generator: None, teachers: None, options: RunOptions::default() }
    }
}

/// Builder of a GAN-KD student (and, unless given, of its GAN and fold teachers).
pub struct GanKdBuilder {
    config: GanKdConfig,
    generator: Option<PatchGenerator>,
    teachers: Option<Arc<FoldTeachers>>,
    options: RunOptions,
}

impl JobBuilder for GanKdBuilder {
    fn options(&mut self) -> &mut RunOptions {
        &mut self.options
    }
}

impl RunBuilder for GanKdBuilder {}

impl GanKdBuilder {
    /// Student architecture.
    pub fn student(mut self, arch: Arch) -> Self {
        self.config.student = arch;
        self
    }
    /// Teacher architecture.
    pub fn teacher(mut self, arch: Arch) -> Self {
        self.config.teacher = arch;
        self
    }
    /// Hole fill.
    pub fn fill(mut self, fill: Fill) -> Self {
        self.config.fill = fill;
        self
    }
    /// Target labels.
    pub fn labels(mut self, labels: Labels) -> Self {
        self.config.labels = labels;
        self
    }
    /// Folds k ≥ 2.
    pub fn folds(mut self, k: usize) -> Self {
        self.config.folds = k;
        self
    }
    /// Hole (and patch) side in pixels.
    pub fn patch(mut self, side: usize) -> Self {
        self.config.gan.patch = Some(side);
        self
    }
    /// β of the fusion.
    pub fn beta(mut self, beta: f64) -> Self {
        self.config.beta = beta;
        self
    }
    /// ε of the label smoothing inside the fusion.
    pub fn smoothing(mut self, eps: f64) -> Self {
        self.config.smoothing = eps;
        self
    }
    /// Temperature T of the soft labels.
    pub fn temperature(mut self, t: f64) -> Self {
        self.config.temperature = t;
        self
    }
    /// Also train on clean samples.
    pub fn clean(mut self, on: bool) -> Self {
        self.config.clean = on;
        self
    }
    /// The GAN's configuration, used when the builder trains the GAN itself.
    pub fn gan(mut self, gan: PatchGanConfig, epochs: usize) -> Self {
        self.config.gan = gan;
        self.config.gan_epochs = epochs;
        self
    }
    /// A trained GAN to fill holes with (its patch side becomes the hole side).
    pub fn generator(mut self, gan: &PatchGanRun) -> Self {
        self.config.gan = gan.config.clone();
        // the run's identity names the generator that fills the holes, epochs included
        self.config.gan_epochs = gan.record.epochs.len();
        self.generator = Some(gan.generator.clone());
        self
    }
    /// Trained fold teachers (their architecture and k are taken over).
    pub fn teachers(mut self, teachers: &Arc<FoldTeachers>) -> Self {
        self.config.teacher = teachers.arch.clone();
        self.config.folds = teachers.k();
        self.teachers = Some(teachers.clone());
        self
    }
    /// The configuration this builder describes (`.config(…)` is only ever a setter).
    pub fn to_config(&self) -> &GanKdConfig {
        &self.config
    }
    /// The method, training the GAN and the fold teachers first when it needs them and was not
    /// given them (beside the student's checkpoint folder: `…-gan`, `…-teachers`).
    pub fn build(&self, data: &Dataset, device: &Device) -> Result<GanKdMethod> {
        self.config.validate(data.shape())?;
        self.options.train.validate()?;
        let beside = |suffix: &str| self.options.checkpoint.as_ref().map(|d| d.with_file_name(format!("{}-{suffix}", d.file_name().and_then(|n| n.to_str()).unwrap_or("gan-kd"))));
        let seed = self.options.train.seed;
        let generator = match (&self.generator, self.config.fill) {
            (None, Fill::Generated) => {
                let mut b = PatchGan::builder().config(self.config.gan.clone()).epochs(self.config.gan_epochs).seed(seed).verbose(self.options.train.verbose).name("patch GAN");
                if let Some(d) = beside("gan") {
                    b = b.checkpoint_dir(d);
                }
                Some(b.fit(data, device)?.generator)
            }
            (g, _) => g.clone(),
        };
        let teachers = match (&self.teachers, self.config.labels) {
            (None, Labels::Kd) => {
                let mut b = FoldTeachers::builder().model(self.config.teacher.clone()).folds(self.config.folds).train(self.options.train.clone());
                if let Some(d) = beside("teachers") {
                    b = b.checkpoint_dir(d);
                }
                Some(Arc::new(b.fit(data, device)?))
            }
            (t, _) => t.clone(),
        };
        GanKdMethod::new(&self.config, generator, teachers, data, seed, device)
    }
    /// Trains the student (after the GAN and the teachers when they were not given).
    pub fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        let mut method = self.build(data, device)?;
        let name = self.config.label();
        self.options.trainer(&name).run(&mut method, serde_json::to_value(&self.config).expect("config serialises"), data, device)
    }
}

impl crate::methods::Fit for GanKdBuilder {
    fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        GanKdBuilder::fit(self, data, device)
    }
}
