//! Hinton knowledge distillation (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a
//! Neural Network"): the student minimises
//! (1 − α)·CE(y, softmax(z_s)) + α·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T))
//! against a frozen teacher. α = 0 is the student trained alone ([`super::supervised`] is that
//! case with its own builder).
use super::options::{RunBuilder, RunOptions};
use crate::data::{Batch, Dataset, Loader};
use crate::error::{ensure, Error, Result};
use crate::losses;
use crate::models::{Arch, Net, Staged};
use crate::train::{checkpoint, devices, evaluate_net, scalar, Losses, Method, Run, StepCtx, TrainConfig};
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// What a KD run distils with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KdConfig {
    /// Student architecture.
    pub student: Arch,
    /// Teacher architecture (for the record), if any.
    pub teacher: Option<Arch>,
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

/// A student trained with CE and, given a teacher, the KD term.
pub struct KdMethod {
    student: Net,
    optim: ModuleOptimizer,
    teacher: Option<Net>,
    temperature: f64,
    alpha: f64,
    smoothing: f64,
    name: String,
}

impl KdMethod {
    /// A fresh student; `teacher` (in inference mode, on the plain device) is frozen.
    pub fn new(config: &KdConfig, teacher: Option<Net>, data: &Dataset, train_config: &TrainConfig, device: &Device) -> Result<KdMethod> {
        config.validate()?;
        let (plain, train) = devices(device);
        let student = config.student.init_seeded(data.shape(), data.num_classes(), &train, train_config.seed)?;
        let name = if teacher.is_some() { "kd" } else { "supervised" };
        Ok(KdMethod {
            student,
            optim: train_config.sgd(),
            teacher: teacher.map(|t| t.valid().to_device(&plain)),
            temperature: config.temperature,
            alpha: if name == "kd" { config.alpha } else { 0.0 },
            smoothing: train_config.label_smoothing,
            name: name.into(),
        })
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
    fn name(&self) -> String {
        self.name.clone()
    }

    fn step(&mut self, batch: &Batch, ctx: &StepCtx) -> Result<Losses> {
        let logits = self.student.forward(batch.images(&ctx.device));
        let ce = match batch.mixed {
            Some(_) => losses::soft_cross_entropy(logits.clone(), batch.targets(&ctx.device, 0.0)),
            None => losses::cross_entropy(logits.clone(), batch.labels(&ctx.device), self.smoothing),
        };
        let hits = losses::correct(logits.clone(), batch.labels(&ctx.device));
        let mut out = vec![("ce".to_string(), scalar(&ce)), ("train_acc".to_string(), hits as f64 / batch.len() as f64)];
        let total = match &self.teacher {
            Some(teacher) if self.alpha > 0.0 => {
                let kd = losses::kd_kl(logits, self.teacher_logits(teacher, batch, ctx), self.temperature);
                out.push(("kd".into(), scalar(&kd)));
                ce.mul_scalar(1.0 - self.alpha) + kd.mul_scalar(self.alpha)
            }
            _ => ce,
        };
        out.insert(0, ("loss".into(), scalar(&total)));
        let grads = GradientsParams::from_grads(total.backward(), &self.student);
        self.student = self.optim.step(ctx.lr, self.student.clone(), grads);
        Ok(out)
    }

    fn evaluate(&self, test: &Loader, device: &Device) -> BTreeMap<String, f64> {
        let (acc, loss) = evaluate_net(&self.student.valid(), test, device);
        BTreeMap::from([("test_acc".into(), acc), ("test_loss".into(), loss)])
    }

    fn save(&self, dir: &Path) -> Result<()> {
        checkpoint::save_module(&self.student, dir, "student.bpk")?;
        checkpoint::save_optim(&self.optim, dir, "student-optim.bpk")
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        self.student = checkpoint::load_module(self.student.clone(), dir, "student.bpk")?;
        checkpoint::load_optim(&mut self.optim, dir, "student-optim.bpk")
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

impl RunBuilder for KdBuilder {
    fn options(&mut self) -> &mut RunOptions {
        &mut self.options
    }
}

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

    /// The configuration this builder describes.
    pub fn config(&self) -> KdConfig {
        KdConfig { student: self.student.clone(), teacher: self.teacher.as_ref().and_then(|t| t.1.clone()), temperature: self.temperature, alpha: self.alpha }
    }

    /// Trains the student against the teacher.
    pub fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        let (teacher, _) = self.teacher.clone().ok_or_else(|| Error::invalid("teacher", "none", "KD needs a teacher: call .teacher(&run)"))?;
        let config = self.config();
        fit_student(config, Some(teacher), &self.options, "kd", data, device)
    }
}

/// Shared by the supervised and KD builders: seeds, builds the method, trains, returns the run.
pub(crate) fn fit_student(config: KdConfig, teacher: Option<Net>, options: &RunOptions, default_name: &str, data: &Dataset, device: &Device) -> Result<Run> {
    options.train.validate()?;
    config.validate()?;
    let mut method = KdMethod::new(&config, teacher, data, &options.train, device)?;
    let record = options.trainer(default_name).fit(&mut method, serde_json::to_value(&config).expect("config serialises"), data, device)?;
    Ok(Run { record, model: method.student() })
}

impl super::Fit for KdBuilder {
    fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        KdBuilder::fit(self, data, device)
    }
}
