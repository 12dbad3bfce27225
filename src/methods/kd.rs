//! Hinton knowledge distillation (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a
//! Neural Network"): the student minimises
//! (1 − α)·CE(y, softmax(z_s)) + α·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T))
//! against a frozen teacher. α = 0 is the student trained alone ([`super::supervised`] is that
//! case with its own builder).
use super::options::{JobBuilder, RunBuilder, RunOptions};
use crate::data::{Batch, Dataset};
use crate::error::{ensure, Error, Result};
use crate::losses;
use crate::models::{Arch, Net, Staged};
use crate::train::{devices, Method, Run, StepCtx, StepOutput, TrainConfig};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// What a KD run distils with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KdConfig {
    /// Student architecture.
    pub student: Arch,
    /// Teacher architecture (for the record), if any.
    pub teacher: Option<Arch>,
    /// Digest of the teacher's weights ([`crate::models::weights_digest`]), if any: a checkpoint
    /// resumes only against the teacher it was distilled from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_weights: Option<String>,
    /// Temperature T > 0.
    pub temperature: f64,
    /// Weight α ∈ [0, 1] of the KD term.
    pub alpha: f64,
}

impl KdConfig {
    /// Checks T and α.
    pub fn validate(&self) -> Result<()> {
        ensure(self.temperature > 0.0 && self.temperature.is_finite(), "temperature", self.temperature, "T must be > 0")?;
        ensure((0.0..=1.0).contains(&self.alpha), "alpha", self.alpha, "α must be in [0, 1]")?;
        self.student.validate()
    }
}

/// A student trained with the task loss and, given a teacher, the KD term.
pub struct KdMethod {
    student: Net,
    teacher: Option<Net>,
    temperature: f64,
    alpha: f64,
    name: String,
}

impl KdMethod {
    /// A fresh student; `teacher` (in inference mode, on the plain device) is frozen. A teacher
    /// that does not take `data`'s images or predict its classes is a [`Error::Shape`].
    pub fn new(config: &KdConfig, teacher: Option<Net>, data: &Dataset, train_config: &TrainConfig, device: &Device) -> Result<KdMethod> {
        config.validate()?;
        let (plain, train) = devices(device);
        let student = config.student.init_seeded(data.shape(), data.num_classes(), &train, train_config.seed)?;
        let teacher = teacher.map(|t| t.valid().to_device(&plain));
        if let Some(t) = &teacher {
            t.check_fits("teacher", data.shape(), data.num_classes(), &plain)?;
        }
        let name = if teacher.is_some() { "kd" } else { "supervised" };
        Ok(KdMethod { student, teacher, temperature: config.temperature, alpha: if name == "kd" { config.alpha } else { 0.0 }, name: name.into() })
    }

    /// The trained student in inference mode.
    pub fn student(&self) -> Net {
        self.student.valid()
    }

    fn teacher_logits(&self, teacher: &Net, batch: &Batch, ctx: &StepCtx) -> Tensor<2> {
        // The teacher runs on the plain device: no graph is built and no gradient can reach it.
        let logits = teacher.forward(batch.images(&ctx.plain));
        ctx.constant(logits)
    }
}

impl Method for KdMethod {
    type Model = Net;

    fn name(&self) -> String {
        self.name.clone()
    }
    fn model(&self) -> &Net {
        &self.student
    }
    fn model_mut(&mut self) -> &mut Net {
        &mut self.student
    }
    fn nets(&self) -> Vec<(String, Net)> {
        vec![("student".into(), self.student())]
    }

    /// (1 − α)·task loss + α·T²·KL(p_t^T ‖ p_s^T) (Hinton et al. 2015, §2); the task loss honours
    /// Mixup/CutMix targets and label smoothing ([`StepCtx::task_loss`]).
    fn losses(&mut self, batch: &Batch, ctx: &StepCtx) -> Result<StepOutput> {
        let logits = self.student.forward(batch.images(&ctx.device));
        let ce = ctx.task_loss(logits.clone(), batch);
        let acc = ctx.batch_accuracy(logits.clone(), batch);
        let out = match &self.teacher {
            Some(teacher) if self.alpha > 0.0 => {
                let kd = losses::kd_kl(logits, self.teacher_logits(teacher, batch, ctx), self.temperature);
                let total = ce.clone().mul_scalar(1.0 - self.alpha) + kd.clone().mul_scalar(self.alpha);
                StepOutput::new(total).loss("ce", &ce).loss("kd", &kd)
            }
            _ => StepOutput::new(ce.clone()).loss("ce", &ce),
        };
        Ok(out.metric("train_acc", acc))
    }
}

/// Hinton KD.
pub struct Kd;

impl Kd {
    /// A builder with T = 4, α = 0.9 (the common CIFAR setting, e.g. CRD's benchmark).
    pub fn builder() -> KdBuilder {
        KdBuilder { student: Arch::convnet(32, 2), teacher: None, temperature: 4.0, alpha: 0.9, options: RunOptions::default() }
    }
}

/// Builder for a KD student.
pub struct KdBuilder {
    student: Arch,
    teacher: Option<(Net, Option<Arch>)>,
    temperature: f64,
    alpha: f64,
    options: RunOptions,
}

impl JobBuilder for KdBuilder {
    fn options(&mut self) -> &mut RunOptions {
        &mut self.options
    }
}

impl RunBuilder for KdBuilder {}

impl KdBuilder {
    /// The teacher: a finished [`Run`] (its trained model).
    pub fn teacher(mut self, teacher: &Run) -> Self {
        let arch = teacher.record.config.pointer("/method/student").and_then(|a| serde_json::from_value(a.clone()).ok());
        self.teacher = Some((teacher.model.clone(), arch));
        self
    }
    /// The teacher as a bare network.
    pub fn teacher_net(mut self, net: Net) -> Self {
        self.teacher = Some((net, None));
        self
    }
    /// Student architecture.
    pub fn student(mut self, arch: Arch) -> Self {
        self.student = arch;
        self
    }
    /// Temperature T.
    pub fn temperature(mut self, t: f64) -> Self {
        self.temperature = t;
        self
    }
    /// Weight α of the KD term.
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// The configuration this builder describes (`.config(…)` is only ever a setter).
    pub fn to_config(&self) -> KdConfig {
        KdConfig {
            student: self.student.clone(),
            teacher: self.teacher.as_ref().and_then(|t| t.1.clone()),
            teacher_weights: self.teacher.as_ref().map(|t| crate::models::weights_digest(&t.0)),
            temperature: self.temperature,
            alpha: self.alpha,
        }
    }

    /// The method this builder describes, untrained (to call [`Method::losses`] on a batch).
    pub fn build(&self, data: &Dataset, device: &Device) -> Result<KdMethod> {
        let (teacher, _) = self.teacher.clone().ok_or_else(|| Error::invalid("teacher", "none", "KD needs a teacher: call .teacher(&run)"))?;
        self.options.train.validate()?;
        KdMethod::new(&self.to_config(), Some(teacher), data, &self.options.train, device)
    }

    /// Trains the student against the teacher.
    pub fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        let mut method = self.build(data, device)?;
        fit_student(&mut method, &self.to_config(), &self.options, "kd", data, device)
    }
}

/// Shared by the supervised and KD builders: trains a built student and returns the run.
pub(crate) fn fit_student(method: &mut KdMethod, config: &KdConfig, options: &RunOptions, default_name: &str, data: &Dataset, device: &Device) -> Result<Run> {
    options.trainer(default_name).run(method, serde_json::to_value(config).expect("config serialises"), data, device)
}

impl super::Fit for KdBuilder {
    fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        KdBuilder::fit(self, data, device)
    }
}
