//! A network trained alone with cross-entropy (optionally label smoothing, Mixup/CutMix targets):
//! teachers and the "student alone" baseline.
use super::kd::{fit_student, KdConfig, KdMethod};
use super::options::{JobBuilder, RunBuilder, RunOptions};
use crate::data::Dataset;
use crate::error::Result;
use crate::models::Arch;
use crate::train::Run;
use burn::tensor::Device;

/// Plain supervised training.
pub struct Supervised;

impl Supervised {
    /// A builder (ConvNet-3 of width 64 by default).
    pub fn builder() -> SupervisedBuilder {
        SupervisedBuilder { model: Arch::convnet(64, 3), options: RunOptions::default() }
    }
}

/// Builder for a supervised run.
pub struct SupervisedBuilder {
    model: Arch,
    options: RunOptions,
}

impl JobBuilder for SupervisedBuilder {
    fn options(&mut self) -> &mut RunOptions {
        &mut self.options
    }
}

impl RunBuilder for SupervisedBuilder {}

impl SupervisedBuilder {
    /// The architecture to train.
    pub fn model(mut self, arch: Arch) -> Self {
        self.model = arch;
        self
    }
    /// Label smoothing ε of the CE loss.
    pub fn label_smoothing(mut self, eps: f64) -> Self {
        self.options.train.label_smoothing = eps;
        self
    }
    fn to_config(&self) -> KdConfig {
        KdConfig { student: self.model.clone(), teacher: None, teacher_weights: None, temperature: 1.0, alpha: 0.0 }
    }
    /// The method this builder describes, untrained (to call [`Method::losses`] on a batch).
    ///
    /// [`Method::losses`]: crate::train::Method::losses
    pub fn build(&self, data: &Dataset, device: &Device) -> Result<KdMethod> {
        self.options.train.validate()?;
        KdMethod::new(&self.to_config(), None, data, &self.options.train, device)
    }
    /// Trains the network.
    pub fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        let mut method = self.build(data, device)?;
        fit_student(&mut method, &self.to_config(), &self.options, "supervised", data, device)
    }
}

impl super::Fit for SupervisedBuilder {
    fn fit(self, data: &Dataset, device: &Device) -> Result<Run> {
        SupervisedBuilder::fit(self, data, device)
    }
}
