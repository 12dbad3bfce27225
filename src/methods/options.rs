//! Options every method builder shares (training recipe, run name, checkpoints, record file,
//! cancellation), and the two traits that give every builder the same setters: [`JobBuilder`]
//! (every builder, the condensation's included: name, seed, profile, checkpoints, record,
//! cancellation) and [`RunBuilder`] (the builders that train networks by a recipe: epochs,
//! batch, learning rate, schedule, augmentation, optimiser; and `spawn`).
use crate::data::Augment;
use crate::train::{CancelToken, RunRecord, Schedule, TrainConfig, Trainer};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Shared run options.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The training recipe.
    pub train: TrainConfig,
    /// Run name (defaults to the method's).
    pub name: Option<String>,
    /// The profile the run belongs to (recorded with it).
    pub profile: Option<crate::profile::Profile>,
    /// Checkpoint folder (resume from it when it holds a checkpoint).
    pub checkpoint: Option<PathBuf>,
    /// Where to write the record JSON.
    pub record_path: Option<PathBuf>,
    /// Stop flag.
    pub cancel: Option<CancelToken>,
    /// Live record mirror.
    pub live: Option<Arc<Mutex<RunRecord>>>,
    /// Stop after this many steps, as if killed (tests of resume).
    pub stop_after_steps: Option<usize>,
}

impl RunOptions {
    /// The trainer these options describe.
    pub fn trainer(&self, default_name: &str) -> Trainer {
        let mut t = Trainer::new(self.name.as_deref().unwrap_or(default_name), self.train.clone());
        if let Some(p) = self.profile {
            t = t.profile(p.name());
        }
        if let Some(d) = &self.checkpoint {
            t = t.checkpoint_dir(d.clone());
        }
        if let Some(r) = &self.record_path {
            t = t.record_path(r.clone());
        }
        if let Some(c) = &self.cancel {
            t = t.cancel_token(c.clone());
        }
        if let Some(l) = &self.live {
            t = t.live(l.clone());
        }
        if let Some(n) = self.stop_after_steps {
            t = t.stop_after_steps(n);
        }
        t
    }
}

/// Anything that trains into a [`Run`](crate::train::Run): every method builder.
pub trait Fit {
    /// Trains and returns the run.
    fn fit(self, data: &crate::data::Dataset, device: &burn::tensor::Device) -> crate::Result<crate::train::Run>;
}

/// Setters shared by every builder, the condensation's ([`Condense`](crate::methods::condense::Condense)) included.
pub trait JobBuilder: Sized {
    /// The builder's options.
    fn options(&mut self) -> &mut RunOptions;

    /// Seed (initialisation, data order, augmentation; a condensation's sampling).
    fn seed(mut self, seed: u64) -> Self {
        self.options().train.seed = seed;
        self
    }
    /// Progress lines on or off.
    fn verbose(mut self, on: bool) -> Self {
        self.options().train.verbose = on;
        self
    }
    /// Run name.
    fn name(mut self, name: impl Into<String>) -> Self {
        self.options().name = Some(name.into());
        self
    }
    /// The profile the run belongs to: recorded with it, and the source of every default the
    /// builder sizes by profile — a condensation's iterations, loops, real batch and width
    /// (without it, `DISTILLERY_PROFILE` or the device's). The builders that train by a recipe
    /// take it from [`RunBuilder::train`], so for them it is the record's label only.
    fn profile(mut self, profile: crate::profile::Profile) -> Self {
        self.options().profile = Some(profile);
        self
    }
    /// Checkpoint folder; a run started again with the same folder resumes.
    fn checkpoint_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.options().checkpoint = Some(dir.into());
        self
    }
    /// Record JSON path (written atomically after each epoch).
    fn record_to(mut self, path: impl Into<PathBuf>) -> Self {
        self.options().record_path = Some(path.into());
        self
    }
    /// Stop flag checked after every step.
    fn cancel_token(mut self, token: CancelToken) -> Self {
        self.options().cancel = Some(token);
        self
    }
    /// Stop after `steps` optimisation steps (a condensation's outer iterations) as if the
    /// process were killed (the last checkpoint stays; a later run with the same checkpoint
    /// folder resumes from it).
    fn stop_after_steps(mut self, steps: usize) -> Self {
        self.options().stop_after_steps = Some(steps);
        self
    }
    /// Live mirror of the record, updated after every epoch.
    fn live(mut self, live: Arc<Mutex<RunRecord>>) -> Self {
        self.options().live = Some(live);
        self
    }
}

/// Setters of the builders that train networks by a recipe (every method but condensation),
/// on top of [`JobBuilder`]'s.
pub trait RunBuilder: JobBuilder {
    /// Replaces the whole training recipe.
    fn train(mut self, config: TrainConfig) -> Self {
        self.options().train = config;
        self
    }
    /// Epochs.
    fn epochs(mut self, epochs: usize) -> Self {
        self.options().train.epochs = epochs;
        self
    }
    /// Batch size.
    fn batch_size(mut self, batch: usize) -> Self {
        self.options().train.batch_size = batch;
        self
    }
    /// Base learning rate.
    fn lr(mut self, lr: f64) -> Self {
        self.options().train.lr = lr;
        self
    }
    /// Learning-rate schedule.
    fn schedule(mut self, schedule: Schedule) -> Self {
        self.options().train.schedule = schedule;
        self
    }
    /// Training augmentation.
    fn augment(mut self, augment: Augment) -> Self {
        self.options().train.augment = augment;
        self
    }
    /// The optimiser: `Optimizer::Sgd` (the default; `.train(recipe.with_nesterov(true))` for
    /// SGD-Nesterov) or `Optimizer::AdamW` (give it an AdamW-sized `.lr`, ≈ 1e-3).
    fn optimizer(mut self, optimizer: crate::train::Optimizer) -> Self {
        self.options().train.optimizer = optimizer;
        self
    }

    /// Starts the run on a background thread and returns at once (progress lines off; look at
    /// the job from a later cell).
    fn spawn(mut self, data: &crate::data::Dataset, device: &burn::tensor::Device) -> crate::train::Job
    where
        Self: Fit + Send + 'static,
    {
        let name = self.options().name.clone().unwrap_or_else(|| "job".into());
        let placeholder = serde_json::json!({ "train": { "epochs": self.options().train.epochs } });
        let live = Arc::new(Mutex::new(RunRecord::new(&name, "", placeholder, String::new(), data.describe(), String::new())));
        let cancel = CancelToken::default();
        self.options().train.verbose = false;
        let builder = self.live(live.clone()).cancel_token(cancel.clone());
        let (data, device) = (data.clone(), device.clone());
        crate::train::Job::start(name, live, cancel, move || builder.fit(&data, &device))
    }
}
