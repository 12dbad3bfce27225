//! The training recipe shared by every method.
use crate::data::Augment;
use crate::error::ensure;
use burn::config::Config;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{ModuleOptimizer, SgdConfig};
use serde::{Deserialize, Serialize};

/// Learning-rate schedule over epochs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Multiply by `gamma` at each milestone, given as fractions of the run (e.g. 0.5, 0.75), so
    /// that a profile-scaled run keeps the paper's shape.
    MultiStep { milestones: Vec<f64>, gamma: f64 },
    /// Cosine annealing from the base rate to 0 over the run.
    Cosine,
}

impl Schedule {
    /// The rate for `epoch` (0-based) of `epochs`.
    pub fn lr(&self, base: f64, epoch: usize, epochs: usize) -> f64 {
        let progress = epoch as f64 / epochs.max(1) as f64;
        match self {
            Schedule::Constant => base,
            Schedule::MultiStep { milestones, gamma } => base * gamma.powi(milestones.iter().filter(|&&m| progress >= m - 1e-9).count() as i32),
            Schedule::Cosine => base * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        }
    }
    /// The paper-style "÷10 at 50% and 75%".
    pub fn steps_half_three_quarters() -> Schedule {
        Schedule::MultiStep { milestones: vec![0.5, 0.75], gamma: 0.1 }
    }
}

/// Which optimiser a recipe trains with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Optimizer {
    /// SGD with the recipe's `momentum`, `nesterov` (SGD-Nesterov) and L2 `weight_decay`
    /// (PyTorch's `torch.optim.SGD`: no dampening, decay added to the gradient).
    Sgd,
    /// AdamW (Loshchilov & Hutter, ICLR 2019; PyTorch's `torch.optim.AdamW`: β = (0.9, 0.999),
    /// ε = 1e-8) with the recipe's `weight_decay` as its decoupled decay; `momentum` and
    /// `nesterov` are not used. Give it an AdamW-sized `lr` (≈ 1e-3).
    AdamW,
}

/// Training recipe: epochs, batch, optimiser, schedule, augmentation, seed, checkpoints.
#[derive(Config, Debug)]
pub struct TrainConfig {
    /// Passes over the training split.
    #[config(default = 10)]
    pub epochs: usize,
    /// Samples per step.
    #[config(default = 128)]
    pub batch_size: usize,
    /// Base learning rate.
    #[config(default = 0.05)]
    pub lr: f64,
    /// Learning-rate schedule.
    #[config(default = "Schedule::Cosine")]
    pub schedule: Schedule,
    /// The optimiser (SGD unless told otherwise; SGD-Nesterov is SGD with `nesterov`).
    #[config(default = "Optimizer::Sgd")]
    pub optimizer: Optimizer,
    /// SGD momentum (0 = plain SGD).
    #[config(default = 0.9)]
    pub momentum: f64,
    /// Nesterov momentum.
    #[config(default = false)]
    pub nesterov: bool,
    /// L2 weight decay.
    #[config(default = 5e-4)]
    pub weight_decay: f64,
    /// Label smoothing ε for the CE term.
    #[config(default = 0.0)]
    pub label_smoothing: f64,
    /// Training augmentation.
    #[config(default = "Augment::default()")]
    pub augment: Augment,
    /// Seed for initialisation, data order and augmentation.
    #[config(default = 0)]
    pub seed: u64,
    /// Batch size for evaluation.
    #[config(default = 256)]
    pub eval_batch_size: usize,
    /// Print progress lines.
    #[config(default = true)]
    pub verbose: bool,
}

impl crate::profile::Profile {
    /// A training recipe scaled from the paper's epoch count: SGD (lr 0.05, momentum 0.9,
    /// weight decay 5e-4), cosine schedule, the profile's epochs and batch (paper batch 128).
    /// Defined here, beside [`TrainConfig`], so that `profile` does not import `train`.
    pub fn train(&self, paper_epochs: usize) -> TrainConfig {
        TrainConfig::default().with_epochs(self.epochs(paper_epochs)).with_batch_size(self.batch(128))
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig::new()
    }
}

impl TrainConfig {
    /// Checks every field; errors name the field and value.
    pub fn validate(&self) -> crate::Result<()> {
        ensure(self.epochs > 0, "epochs", self.epochs, "must be at least 1")?;
        ensure(self.batch_size > 0, "batch_size", self.batch_size, "must be at least 1")?;
        ensure(self.eval_batch_size > 0, "eval_batch_size", self.eval_batch_size, "must be at least 1")?;
        ensure(self.lr > 0.0 && self.lr.is_finite(), "lr", self.lr, "must be a positive number")?;
        ensure((0.0..1.0).contains(&self.momentum), "momentum", self.momentum, "must be in [0, 1)")?;
        ensure(self.weight_decay >= 0.0, "weight_decay", self.weight_decay, "must be ≥ 0")?;
        ensure((0.0..1.0).contains(&self.label_smoothing), "label_smoothing", self.label_smoothing, "must be in [0, 1)")?;
        self.augment.validate()?;
        if let Schedule::MultiStep { milestones, gamma } = &self.schedule {
            ensure(*gamma > 0.0, "schedule.gamma", gamma, "must be > 0")?;
            if let Some(m) = milestones.iter().find(|m| !(0.0..=1.0).contains(*m)) {
                ensure(false, "schedule.milestones", m, "milestones are fractions of the run in [0, 1]")?;
            }
        }
        Ok(())
    }

    /// The recipe's optimiser: [`sgd`](Self::sgd), or AdamW with the recipe's weight decay.
    pub fn optimiser(&self) -> ModuleOptimizer {
        match self.optimizer {
            Optimizer::Sgd => self.sgd(),
            Optimizer::AdamW => burn::optim::AdamWConfig::new().with_beta_1(0.9).with_beta_2(0.999).with_epsilon(1e-8).with_weight_decay(self.weight_decay as f32).init(),
        }
    }

    /// An SGD optimiser with this recipe's momentum, Nesterov flag and weight decay
    /// (PyTorch semantics: no dampening, decay added to the gradient).
    pub fn sgd(&self) -> ModuleOptimizer {
        let momentum = (self.momentum > 0.0).then(|| MomentumConfig::new().with_momentum(self.momentum).with_dampening(0.0).with_nesterov(self.nesterov));
        let decay = (self.weight_decay > 0.0).then(|| WeightDecayConfig::new(self.weight_decay as f32));
        SgdConfig::new().with_momentum(momentum).with_weight_decay(decay).init()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multistep_divides_at_the_milestones() {
        let s = Schedule::steps_half_three_quarters();
        let lrs: Vec<f64> = (0..8).map(|e| s.lr(0.1, e, 8)).collect();
        let want = [0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001];
        for (a, b) in lrs.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{lrs:?}");
        }
    }

    #[test]
    fn cosine_starts_at_base_and_halves_midway() {
        assert!((Schedule::Cosine.lr(0.2, 0, 10) - 0.2).abs() < 1e-12);
        assert!((Schedule::Cosine.lr(0.2, 5, 10) - 0.1).abs() < 1e-12);
        assert!(Schedule::Cosine.lr(0.2, 9, 10) < 0.01);
    }

    #[test]
    fn invalid_recipes_name_their_field() {
        let cases = [
            (TrainConfig::new().with_epochs(0), "epochs"),
            (TrainConfig::new().with_batch_size(0), "batch_size"),
            (TrainConfig::new().with_lr(-1.0), "lr"),
            (TrainConfig::new().with_momentum(1.5), "momentum"),
            (TrainConfig::new().with_label_smoothing(1.0), "label_smoothing"),
            (TrainConfig::new().with_schedule(Schedule::MultiStep { milestones: vec![1.5], gamma: 0.1 }), "schedule.milestones"),
        ];
        for (cfg, field) in cases {
            match cfg.validate() {
                Err(crate::Error::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
