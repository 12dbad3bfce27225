//! One training loop every method plugs into.
//!
//! A [`Method`] owns its trainable model (one burn [`Module`]: a network, a network with its
//! training-only heads, several peers, a generator and a discriminator …) and says what to
//! minimise in [`Method::losses`]. The [`Trainer`] owns everything around it: the optimisers
//! ([`Optimizers`], SGD from the recipe unless a method registers another), the learning-rate
//! schedule, data order and augmentation, progress lines, NaN/Inf detection of every loss, the
//! [`RunRecord`] (losses and metrics kept apart), checkpoints of the model, the optimisers and
//! the method's own state, resume, and cancellation.
//!
//! The shapes the five papers need:
//! - one update per batch (KD, FitNet, MGD, DML's peers as one `Vec<Net>` model): only `losses`;
//! - several updates per batch (GAN: D then G; MKSMT: step 1 then step 2): override
//!   [`Method::step`] and call [`Optimizers::minimise`] once per update, each with its own name;
//! - optimising data instead of weights (DC/DSA/DM): the model is the synthetic set, the method
//!   says how many steps an epoch has ([`Method::steps_per_epoch`]) and overrides `step`.
pub mod checkpoint;
pub mod comparison;
pub mod config;
pub mod fanout;
pub mod job;
pub mod optimizers;
pub mod sweep;

pub use crate::record;
pub use comparison::{Comparison, ComparisonRow, ComparisonSpec};
pub use config::{Optimizer, Schedule, TrainConfig};
pub use job::Job;
pub use optimizers::{MAIN, Optimizers};
pub use record::{EpochRecord, RunRecord, Status};
pub use sweep::{Point, Sweep, SweepPoint, SweepSpec};

use crate::data::{Batch, Dataset, Loader};
use crate::device::DeviceExt;
use crate::error::{Error, Result};
use crate::losses;
use crate::models::{Net, Staged};
use crate::plot::Figure;
use crate::table::Table;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What a step sees besides the batch.
#[derive(Debug, Clone)]
pub struct StepCtx {
    /// Learning rate for this step.
    pub lr: f64,
    /// 0-based epoch.
    pub epoch: usize,
    /// Epochs of the run.
    pub epochs: usize,
    /// 0-based global step.
    pub step: usize,
    /// Total steps of the run.
    pub total_steps: usize,
    /// The training (autodiff) device.
    pub device: Device,
    /// The same device without autodiff (for frozen networks).
    pub plain: Device,
    /// Label smoothing ε of the recipe (used by [`StepCtx::task_loss`]).
    pub label_smoothing: f64,
}

impl StepCtx {
    /// Brings a constant computed on the plain device (a frozen teacher's output) onto the
    /// training device, where it enters the graph as a leaf without gradient.
    pub fn constant<const D: usize>(&self, t: Tensor<D>) -> Tensor<D> {
        Tensor::from_data(t.into_data(), &self.device)
    }

    /// Fraction of the run done, in [0, 1] (for ramped loss weights).
    pub fn progress(&self) -> f64 {
        self.step as f64 / self.total_steps.max(1) as f64
    }

    /// The task loss every method trains its classifiers with: cross-entropy against the batch's
    /// targets — the Mixup/CutMix soft targets when the loader mixed the batch, label-smoothed by
    /// the recipe's ε (Szegedy et al. 2016: (1−ε)·target + ε/K) — else plain CE on the labels.
    pub fn task_loss(&self, logits: Tensor<2>, batch: &Batch) -> Tensor<1> {
        match batch.mixed {
            Some(_) => losses::soft_cross_entropy(logits, batch.targets(&self.device, self.label_smoothing)),
            None => losses::cross_entropy(logits, batch.labels(&self.device), self.label_smoothing),
        }
    }

    /// Fraction of the batch whose top-1 prediction is its (unmixed) label.
    pub fn batch_accuracy(&self, logits: Tensor<2>, batch: &Batch) -> f64 {
        losses::correct(logits, batch.labels(&self.device)) as f64 / batch.len().max(1) as f64
    }
}

/// Named values of one step: losses (NaN-checked, plotted as loss curves) and metrics (such
/// as `train_acc` or a chosen weight; recorded, never treated as losses).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepLog {
    /// `(name, value)` of each loss term; the first is `loss`, the total that was optimised.
    pub losses: Vec<(String, f64)>,
    /// `(name, value)` of each metric.
    pub metrics: Vec<(String, f64)>,
}

impl StepLog {
    /// The value of a loss or metric.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.losses.iter().chain(&self.metrics).find(|(n, _)| n == name).map(|p| p.1)
    }
    /// Adds the values of another log (e.g. a second update inside one step).
    pub fn extend(&mut self, other: StepLog) {
        self.losses.extend(other.losses);
        self.metrics.extend(other.metrics);
    }
}

/// What [`Method::losses`] returns: the scalar to minimise and the named values to record.
pub struct StepOutput {
    /// The total loss, still in the graph.
    pub total: Tensor<1>,
    /// Named losses (starting with `loss` = the total) and metrics.
    pub log: StepLog,
}

impl StepOutput {
    /// An output whose total is `total` (recorded as `loss`).
    pub fn new(total: Tensor<1>) -> StepOutput {
        let log = StepLog { losses: vec![("loss".into(), scalar(&total))], metrics: Vec::new() };
        StepOutput { total, log }
    }
    /// Records a loss term.
    pub fn loss(mut self, name: impl Into<String>, term: &Tensor<1>) -> Self {
        self.log.losses.push((name.into(), scalar(term)));
        self
    }
    /// Records a metric.
    pub fn metric(mut self, name: impl Into<String>, value: f64) -> Self {
        self.log.metrics.push((name.into(), value));
        self
    }
}

/// Reads a scalar loss tensor to the host.
pub fn scalar(t: &Tensor<1>) -> f64 {
    t.clone().into_scalar::<f32>() as f64
}

/// A training method. Implement [`name`](Method::name), [`model`](Method::model),
/// [`model_mut`](Method::model_mut), [`losses`](Method::losses) and [`nets`](Method::nets); the
/// rest has defaults (see "How to add a method" in `docs/README.md`).
pub trait Method: Send {
    /// Everything the default step trains, as one module (checkpointed by the trainer).
    type Model: Module;
    /// Short name used in records.
    fn name(&self) -> String;
    /// The trainable model.
    fn model(&self) -> &Self::Model;
    /// The trainable model, to be updated in place.
    fn model_mut(&mut self) -> &mut Self::Model;
    /// The loss to minimise on `batch`, with its named terms and metrics.
    fn losses(&mut self, batch: &Batch, ctx: &StepCtx) -> Result<StepOutput>;
    /// The networks the run returns, in inference mode on the plain device; the first is the
    /// headline model whose accuracy is `test_acc`.
    fn nets(&self) -> Vec<(String, Net)>;

    /// One optimisation step: by default `losses`, then optimiser [`MAIN`] on the whole model.
    /// Methods with several updates per batch override this and call
    /// [`Optimizers::minimise`] once per update.
    fn step(&mut self, batch: &Batch, ctx: &StepCtx, optim: &mut Optimizers) -> Result<StepLog> {
        let out = self.losses(batch, ctx)?;
        optim.minimise(MAIN, self.model_mut(), out.total, ctx.lr);
        Ok(out.log)
    }
    /// Evaluation metrics on `test` (accuracies in [0, 1]); by default [`evaluate_nets`].
    fn evaluate(&self, test: &Loader, device: &Device) -> BTreeMap<String, f64> {
        evaluate_nets(&self.nets(), test, device)
    }
    /// Registers optimisers other than the recipe's SGD (called before any step or resume).
    fn configure(&self, _optim: &mut Optimizers) {}
    /// Differently augmented views of every training batch the method reads (OKDCR: 2, KDCL:
    /// one per peer); views 1.. arrive in [`Batch::views`].
    fn views(&self) -> usize {
        1
    }
    /// Steps per epoch when the method does not iterate over training batches (condensation:
    /// outer iterations); `None` = one step per training batch.
    fn steps_per_epoch(&self, _epoch: usize) -> Option<usize> {
        None
    }
    /// Writes state the trainer does not know of (random generators, a chosen weight) into `dir`.
    fn save_state(&self, _dir: &Path) -> Result<()> {
        Ok(())
    }
    /// Restores what [`save_state`](Method::save_state) wrote.
    fn load_state(&mut self, _dir: &Path) -> Result<()> {
        Ok(())
    }
}

/// Top-1 accuracy and mean CE of a network on a loader (no autodiff).
pub fn evaluate_net(net: &Net, test: &Loader, device: &Device) -> (f64, f64) {
    let (mut hits, mut loss, mut n) = (0usize, 0.0f64, 0usize);
    for batch in test.epoch(0) {
        let logits = net.forward(batch.images(device));
        let labels = batch.labels(device);
        loss += scalar(&losses::cross_entropy(logits.clone(), labels.clone(), 0.0)) * batch.len() as f64;
        hits += losses::correct(logits, labels);
        n += batch.len();
    }
    (hits as f64 / n.max(1) as f64, loss / n.max(1) as f64)
}

/// The record key of a run's final accuracy on its clean training images (no augmentation, no
/// mixing, no hole), beside `test_acc`: how far the network fits its training set.
pub const CLEAN_TRAIN_ACC: &str = "clean_train_acc";

/// Adds [`CLEAN_TRAIN_ACC`] of the run's network (`run.model`, the one `test_acc` measures) to
/// its final metrics, measured on `data`'s training split without augmentation.
pub fn record_clean_train_acc(run: &mut Run, data: &Dataset, batch_size: usize, device: &Device) {
    let clean = Loader::train(data, batch_size, crate::data::Augment::none(), 0);
    let (acc, _) = evaluate_net(&run.model, &clean, device);
    run.record.final_metrics.insert(CLEAN_TRAIN_ACC.into(), acc);
}

/// `test_acc` and `test_loss` of the first network and, when there are several, `<name>_acc`
/// of every one.
pub fn evaluate_nets(nets: &[(String, Net)], test: &Loader, device: &Device) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for (i, (name, net)) in nets.iter().enumerate() {
        let (acc, loss) = evaluate_net(net, test, device);
        if i == 0 {
            m.insert("test_acc".into(), acc);
            m.insert("test_loss".into(), loss);
        }
        if nets.len() > 1 {
            m.insert(format!("{name}_acc"), acc);
        }
    }
    m
}

/// The plain (non-autodiff) and training (autodiff) versions of a device.
pub fn devices(device: &Device) -> (Device, Device) {
    crate::device::keep_freed_memory();
    if device.is_remote() {
        crate::device::remote_here();
    }
    let plain = device.clone().without_autodiff();
    (plain.clone(), plain.autodiff())
}

/// A shareable stop flag (a `Job` handle or a test sets it; the trainer stops after the step).
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// Asks the run to stop after its current step.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Whether a stop was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Runs a [`Method`] for the epochs of a [`TrainConfig`].
pub struct Trainer {
    config: TrainConfig,
    name: String,
    profile: String,
    checkpoint: Option<PathBuf>,
    record_path: Option<PathBuf>,
    cancel: CancelToken,
    stop_after_steps: Option<usize>,
    live: Option<Arc<Mutex<RunRecord>>>,
}

/// Sums of per-step values over an epoch, weighted by batch size, in first-seen order.
#[derive(Default)]
struct Means(Vec<(String, f64)>);

impl Means {
    fn add(&mut self, values: &[(String, f64)], weight: f64) {
        for (name, v) in values {
            match self.0.iter_mut().find(|(n, _)| n == name) {
                Some((_, s)) => *s += v * weight,
                None => self.0.push((name.clone(), v * weight)),
            }
        }
    }
    fn means(self, total: f64) -> BTreeMap<String, f64> {
        self.0.into_iter().map(|(n, s)| (n, s / total.max(1e-12))).collect()
    }
}

impl Trainer {
    /// A trainer for run `name`.
    pub fn new(name: &str, config: TrainConfig) -> Trainer {
        Trainer { config, name: name.into(), profile: String::new(), checkpoint: None, record_path: None, cancel: CancelToken::default(), stop_after_steps: None, live: None }
    }
    /// Profile name stored in the record (part of the checkpoint identity).
    pub fn profile(mut self, profile: &str) -> Self {
        self.profile = profile.into();
        self
    }
    /// Checkpoint after every epoch into `dir`, and resume from it if it holds one.
    pub fn checkpoint_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.checkpoint = Some(dir.into());
        self
    }
    /// Write the record (atomically) to `path` after every epoch and at the end.
    pub fn record_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.record_path = Some(path.into());
        self
    }
    /// Stop when `token` is cancelled.
    pub fn cancel_token(mut self, token: CancelToken) -> Self {
        self.cancel = token;
        self
    }
    /// Stop (as if cancelled) after this many steps of this invocation — simulates a kill.
    pub fn stop_after_steps(mut self, steps: usize) -> Self {
        self.stop_after_steps = Some(steps);
        self
    }
    /// Mirror the record into `live` after every epoch (for background jobs).
    pub fn live(mut self, live: Arc<Mutex<RunRecord>>) -> Self {
        self.live = Some(live);
        self
    }

    /// What a checkpoint must match to be resumed: the method's configuration, the recipe (less
    /// `verbose`, which changes no number), the dataset (not the folder it was read from) and the
    /// profile.
    fn identity(&self, method_config: serde_json::Value, data: &Dataset) -> serde_json::Value {
        let mut train = serde_json::to_value(&self.config).expect("the recipe serialises");
        if let Some(t) = train.as_object_mut() {
            t.remove("verbose");
        }
        serde_json::json!({ "method": method_config, "train": train, "dataset": data.identity(), "profile": self.profile })
    }

    /// Trains `method` on `data` and returns the run (record and networks).
    pub fn run<M: Method>(&self, method: &mut M, method_config: serde_json::Value, data: &Dataset, device: &Device) -> Result<Run> {
        let (record, resumed_at) = crate::device::catching_remote(device, || self.train(method, method_config, data, device))?;
        Ok(Run { resumed_at, ..Run::new(record, method.nets()) })
    }

    /// Trains `method` on `data`; returns the record. Resumes from the checkpoint folder if it
    /// holds a checkpoint of the same configuration, dataset and profile.
    pub fn fit<M: Method>(&self, method: &mut M, method_config: serde_json::Value, data: &Dataset, device: &Device) -> Result<RunRecord> {
        crate::device::catching_remote(device, || self.train(method, method_config, data, device)).map(|(record, _)| record)
    }

    /// [`Trainer::fit`], also returning the epochs its checkpoint held when it started.
    fn train<M: Method>(&self, method: &mut M, method_config: serde_json::Value, data: &Dataset, device: &Device) -> Result<(RunRecord, Option<usize>)> {
        let cfg = &self.config;
        cfg.validate()?;
        let (plain, train_device) = devices(device);
        let config = self.identity(method_config, data);
        let mut record = RunRecord::new(&self.name, &method.name(), config.clone(), plain.describe(), data.describe(), self.profile.clone());
        let mut optim = Optimizers::new(cfg);
        method.configure(&mut optim);
        let _lock = self.checkpoint.as_deref().map(checkpoint::Lock::acquire).transpose()?;
        let mut resumed_at = None;
        if let Some(dir) = &self.checkpoint
            && let Some((ckpt, saved)) = checkpoint::latest(dir)?
        {
            let seen = as_seen_before_digests(&config, &saved.config);
            let extends = extends_to(&saved.config, &seen, saved.epochs.len());
            let compared = match extends {
                // only the length grew: compare as if it had not
                Some(_) => with_epochs(&seen, saved.config.pointer("/train/epochs")),
                None => seen,
            };
            if let Some(diff) = differing_keys(&without_data_folder(saved.config.clone()), &compared) {
                return Err(Error::Checkpoint { path: ckpt, reason: format!("written by a run with another {diff}; delete the folder, use another checkpoint dir or `--fresh`") });
            }
            if let Some(total) = extends {
                self.log(format_args!("extending `{}` from {} to {total} epochs (the schedule is the new length's)", self.name, saved.epochs.len()));
            }
            *method.model_mut() = checkpoint::load_module(method.model().clone(), &ckpt, MODEL_FILE)?;
            optim.load(&ckpt)?;
            method.load_state(&ckpt)?;
            resumed_at = Some(saved.epochs.len());
            record = saved;
            record.status = Status::Running;
            if extends.is_some() {
                record.config = config.clone();
            }
            self.log(format_args!("resuming `{}` from {} (epoch {}/{})", self.name, ckpt.display(), record.epochs.len(), cfg.epochs));
        }
        let train = Loader::train(data, cfg.batch_size, cfg.augment.clone(), cfg.seed).with_views(method.views());
        let test = Loader::test(data, cfg.eval_batch_size);
        let per_epoch = |e: usize| method.steps_per_epoch(e).unwrap_or_else(|| train.batches_per_epoch());
        let first_step: Vec<usize> = (0..=cfg.epochs)
            .scan(0, |acc, e| {
                let at = *acc;
                *acc += if e < cfg.epochs { per_epoch(e) } else { 0 };
                Some(at)
            })
            .collect();
        let total_steps = first_step[cfg.epochs];
        let started = Instant::now();
        let wall_before = record.wall_time_s;
        let mut steps_here = 0usize;
        for (epoch, &epoch_start) in first_step.iter().enumerate().take(cfg.epochs).skip(record.epochs.len()) {
            let lr = cfg.schedule.lr(cfg.lr, epoch, cfg.epochs);
            let t0 = Instant::now();
            let (mut losses, mut metrics, mut seen) = (Means::default(), Means::default(), 0usize);
            // the data's batches, or empty ones for a method that reads none (condensation); a
            // panic while preparing a batch is an error here, not a short epoch
            let (empty_batches, mut prefetched) = match method.steps_per_epoch(epoch) {
                Some(n) => (n, None),
                None => (0, Some(train.epoch(epoch))),
            };
            let mut b = 0;
            loop {
                let batch = match &mut prefetched {
                    Some(batches) => match batches.next_checked()? {
                        Some(batch) => batch,
                        None => break,
                    },
                    None if b < empty_batches => Batch::empty(data.num_classes()),
                    None => break,
                };
                let ctx = StepCtx { lr, epoch, epochs: cfg.epochs, step: epoch_start + b, total_steps, device: train_device.clone(), plain: plain.clone(), label_smoothing: cfg.label_smoothing };
                let log = method.step(&batch, &ctx, &mut optim)?;
                if let Some((name, value)) = log.losses.iter().find(|(_, v)| !v.is_finite()) {
                    return Err(Error::NonFinite { run: self.name.clone(), loss: name.clone(), value: *value, epoch: epoch + 1, step: b + 1 });
                }
                let weight = batch.len().max(1);
                losses.add(&log.losses, weight as f64);
                metrics.add(&log.metrics, weight as f64);
                seen += weight;
                steps_here += 1;
                if self.cancel.is_cancelled() || self.stop_after_steps.is_some_and(|s| steps_here >= s) {
                    record.status = Status::Cancelled;
                    record.wall_time_s = wall_before + started.elapsed().as_secs_f64();
                    self.publish(&record)?;
                    return Err(Error::Cancelled { run: self.name.clone(), epoch: epoch + 1, step: b + 1 });
                }
                b += 1;
            }
            let seconds = t0.elapsed().as_secs_f64();
            let mut epoch_metrics = metrics.means(seen as f64);
            epoch_metrics.extend(method.evaluate(&test, &plain));
            let entry = EpochRecord { epoch: epoch + 1, lr, losses: losses.means(seen as f64), metrics: epoch_metrics.clone(), seconds, images_per_s: seen as f64 / seconds.max(1e-9) };
            record.epochs.push(entry);
            record.final_metrics = epoch_metrics;
            record.wall_time_s = wall_before + started.elapsed().as_secs_f64();
            // steps done and in all, from the cumulative counts the loop already keeps
            let blocks = method.steps_per_epoch(epoch).map(|_| (first_step[epoch + 1], total_steps));
            self.progress(&record, cfg.epochs, blocks);
            if let Some(dir) = &self.checkpoint {
                checkpoint::save(dir, &record, |d| {
                    checkpoint::save_module(method.model(), d, MODEL_FILE)?;
                    optim.save(d)?;
                    method.save_state(d)
                })?;
            }
            self.publish(&record)?;
        }
        record.status = Status::Completed;
        record.wall_time_s = wall_before + started.elapsed().as_secs_f64();
        self.publish(&record)?;
        Ok((record, resumed_at))
    }

    fn publish(&self, record: &RunRecord) -> Result<()> {
        if let Some(live) = &self.live {
            *live.lock().unwrap_or_else(|p| p.into_inner()) = record.clone();
        }
        if let Some(path) = &self.record_path {
            record.save(path)?;
        }
        Ok(())
    }

    fn log(&self, args: std::fmt::Arguments) {
        if self.config.verbose {
            println!("{args}");
        }
    }

    /// One line per epoch. `blocks` = (steps done, steps in all) for a method whose "epochs" are
    /// blocks of steps that read no images (condensation: a tenth of its iterations each), so
    /// the line counts steps and gives their rate per second.
    fn progress(&self, record: &RunRecord, epochs: usize, blocks: Option<(usize, usize)>) {
        let e = record.epochs.last().expect("called after an epoch");
        let show = |(k, v): (&String, &f64)| {
            if k.ends_with("_acc") { format!("{k} {:.2}%", v * 100.0) } else { format!("{k} {v:.4}") }
        };
        let losses: Vec<String> = e.losses.iter().map(show).collect();
        let metrics: Vec<String> = e.metrics.iter().map(show).collect();
        let per_epoch = record.wall_time_s / record.epochs.len() as f64;
        let eta = per_epoch * (epochs - e.epoch) as f64;
        let (at, rate) = match blocks {
            None => (format!("epoch {}/{epochs}", e.epoch), format!("{:.0} img/s", e.images_per_s)),
            Some((done, total)) => (format!("iteration {done}/{total} (block {}/{epochs})", e.epoch), format!("{:.2} iterations/s", e.images_per_s)),
        };
        self.log(format_args!("[{}] {at}  lr {:.4}  {}  {}  {rate}  ETA {}", self.name, e.lr, losses.join("  "), metrics.join("  "), fmt_duration(eta)));
    }
}

/// The file the trainer keeps the model in, inside each checkpoint folder.
pub const MODEL_FILE: &str = "model.bpk";

/// The top-level keys (`method`, `train`, `dataset`, `profile`) on which two identities differ.
fn differing_keys(saved: &serde_json::Value, now: &serde_json::Value) -> Option<String> {
    let (mut saved, mut now) = (saved.clone(), now.clone());
    crate::record::drop_added_defaults(&mut saved);
    crate::record::drop_added_defaults(&mut now);
    let (saved, now) = (&saved, &now);
    let keys = ["method", "train", "dataset", "profile"];
    let differ: Vec<String> = keys.iter().filter(|k| saved.get(**k) != now.get(**k)).map(|k| format!("`{k}`")).collect();
    (!differ.is_empty()).then(|| {
        let details: Vec<String> = ["dataset", "profile"]
            .iter()
            .filter(|k| saved.get(**k) != now.get(**k))
            .map(|k| format!("{k} {} (now {})", saved.get(*k).unwrap_or(&serde_json::Value::Null), now.get(*k).unwrap_or(&serde_json::Value::Null)))
            .collect();
        if details.is_empty() { differ.join(", ") } else { format!("{} — {}", differ.join(", "), details.join("; ")) }
    })
}

/// The new length when `now` only asks for more epochs than the finished run `saved` (of
/// `done` epochs) was trained for: a finished run extended by more epochs resumes from its last
/// checkpoint instead of being refused.
fn extends_to(saved: &serde_json::Value, now: &serde_json::Value, done: usize) -> Option<usize> {
    let (was, wants) = (saved.pointer("/train/epochs")?.as_u64()? as usize, now.pointer("/train/epochs")?.as_u64()? as usize);
    (wants > was && done == was).then_some(wants)
}

/// `identity` with its recipe's epochs set to `epochs`.
fn with_epochs(identity: &serde_json::Value, epochs: Option<&serde_json::Value>) -> serde_json::Value {
    let mut out = identity.clone();
    if let (Some(e), Some(slot)) = (epochs, out.pointer_mut("/train/epochs")) {
        *slot = e.clone();
    }
    out
}

/// A saved identity with its dataset's folder dropped: checkpoints written before the identity
/// left the folder out ("…, 10 classes, from data/fashion-mnist)") still resume.
fn without_data_folder(mut identity: serde_json::Value) -> serde_json::Value {
    if let Some(d) = identity.get_mut("dataset")
        && let Some(cut) = d.as_str().and_then(|s| s.rfind(", from ").map(|i| format!("{})", &s[..i])))
    {
        *d = serde_json::Value::String(cut);
    }
    identity
}

/// `now` as a checkpoint written before the data identity carried a content digest saw it: where
/// the saved dataset identity has no ", content …" part, the current one is compared without it,
/// so such checkpoints resume as they did (new ones are told apart by content). The same for a
/// saved method without a teacher weight digest.
fn as_seen_before_digests(now: &serde_json::Value, saved: &serde_json::Value) -> serde_json::Value {
    let legacy = saved.get("dataset").and_then(|d| d.as_str()).is_some_and(|d| !d.contains(", content "));
    let mut now = now.clone();
    // likewise a teacher's weight digest, recorded since
    if saved.pointer("/method/teacher_weights").is_none()
        && let Some(method) = now.get_mut("method").and_then(|m| m.as_object_mut())
    {
        method.remove("teacher_weights");
    }
    if legacy
        && let Some(d) = now.get_mut("dataset")
        && let Some(cut) = d.as_str().and_then(|s| s.rfind(", content ").map(|i| format!("{})", &s[..i])))
    {
        *d = serde_json::Value::String(cut);
    }
    now
}

/// `1h02m`, `3m20s`, `12s`.
/// `"3/15, 2m10s so far, ETA 8m40s"`: progress of `done` of `total` equal-sized jobs begun at
/// `start`, the ETA extrapolated from the mean so far.
pub fn progress_eta(start: std::time::Instant, done: usize, total: usize) -> String {
    let elapsed = start.elapsed().as_secs_f64();
    let left = elapsed / done.max(1) as f64 * total.saturating_sub(done) as f64;
    format!("{done}/{total}, {} so far, ETA {}", fmt_duration(elapsed), fmt_duration(left))
}

pub fn fmt_duration(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A finished run: its record and its trained networks (on the plain device, inference mode).
#[derive(Debug, Clone)]
pub struct Run {
    /// The record.
    pub record: RunRecord,
    /// The headline network: the one `test_acc` describes.
    pub model: Net,
    /// Every network the method returns by name (`student`, `peer0`, `peer1` …), the headline
    /// first.
    pub models: Vec<(String, Net)>,
    /// The epochs its checkpoint already held when this run started (`None`: it started from
    /// scratch; all of them: it was read back, nothing trained).
    pub resumed_at: Option<usize>,
}

impl Run {
    /// A run from its record and its named networks (at least one; the first is the headline).
    pub fn new(record: RunRecord, models: Vec<(String, Net)>) -> Run {
        let model = models.first().map(|m| m.1.clone()).expect("every method returns at least one network");
        Run { record, model, models, resumed_at: None }
    }
    /// How this run came about, for progress lines: `" (read back)"` when its checkpoint held
    /// every epoch, `" (resumed at epoch k)"`, or nothing for a run trained from scratch.
    pub fn provenance(&self) -> String {
        match self.resumed_at {
            Some(k) if k >= self.record.epochs.len() => " (read back)".into(),
            Some(k) => format!(" (resumed at epoch {k})"),
            None => String::new(),
        }
    }
    /// The network called `name`, if the run has one.
    pub fn get(&self, name: &str) -> Option<&Net> {
        self.models.iter().find(|m| m.0 == name).map(|m| &m.1)
    }
    /// Names of the run's networks.
    pub fn model_names(&self) -> Vec<&str> {
        self.models.iter().map(|m| m.0.as_str()).collect()
    }
    /// Final test accuracy in [0, 1] (NaN if not evaluated).
    pub fn test_acc(&self) -> f64 {
        self.record.final_metric("test_acc").unwrap_or(f64::NAN)
    }
    /// One line: name, method, test accuracy, time.
    pub fn summary(&self) -> String {
        format!("{}: test_acc {:.2}% after {} epochs ({})", self.record.name, self.test_acc() * 100.0, self.record.epochs.len(), fmt_duration(self.record.wall_time_s))
    }

    /// Accuracy curves (test solid, train dashed) of this run.
    pub fn plot(&self) -> Figure {
        crate::plot::curves(&self.record.name, &["test_acc", "train_acc"], &[&self.record])
    }

    /// Test-accuracy curves of every named network (`peer0_acc`, `ens_acc` …) when the run has
    /// several, else the accuracy curves of [`Run::plot`].
    pub fn plot_models(&self) -> Figure {
        let keys: Vec<&str> =
            self.record.epochs.last().map(|e| e.metrics.keys().filter(|k| k.ends_with("_acc") && !k.starts_with("train") && *k != "test_acc").map(|k| k.as_str()).collect()).unwrap_or_default();
        if keys.is_empty() {
            return self.plot();
        }
        crate::plot::curves(&format!("{}: accuracy per model", self.record.name), &keys, &[&self.record])
    }

    /// Loss curves of this run: every term, and the total `loss` when it is not just the one
    /// term (supervised runs would draw CE twice).
    pub fn plot_losses(&self) -> Figure {
        let all: Vec<&str> = self.record.epochs.first().map(|e| e.losses.keys().map(|k| k.as_str()).collect()).unwrap_or_default();
        let keys: Vec<&str> = if all.len() == 2 { all.into_iter().filter(|k| *k != "loss").collect() } else { all };
        crate::plot::curves(&format!("{}: losses", self.record.name), &keys, &[&self.record])
    }

    /// What a KD student is asked to match: the headline network's softened output
    /// p_i = exp(z_i / T) / Σ_j exp(z_j / T) (Hinton et al. 2015, Eq. 1) on test image `index` of
    /// `data`, one bar series per temperature. T = 1 is the plain softmax; higher T spreads the
    /// mass over the classes the network finds similar ("dark knowledge"); T → 0 is the one-hot
    /// arg max. An index past the test split or a T ≤ 0 is an [`Error::Invalid`].
    pub fn plot_soft_targets(&self, data: &Dataset, index: usize, temperatures: &[f64]) -> Result<Figure> {
        if index >= data.test.len() {
            return Err(crate::Error::invalid("index", index, format!("the test split of {} has {} images", data.name, data.test.len())));
        }
        if let Some(t) = temperatures.iter().find(|t| !t.is_finite() || **t <= 0.0) {
            return Err(crate::Error::invalid("temperature", t, "must be > 0"));
        }
        let device = self.model.devices().into_iter().next().unwrap_or_else(Device::cpu_default);
        let batch = Loader::test(data, 1).make_batch(&[index], 0, &mut crate::rng::Rng::new(0));
        let logits = self.model.forward(batch.images(&device));
        let soft = |t: f64| -> Vec<f64> {
            let p = burn::tensor::activation::softmax(logits.clone().div_scalar(t), 1);
            p.into_data().try_to_vec::<f32>().unwrap_or_default().into_iter().map(|v| v as f64 * 100.0).collect()
        };
        let series: Vec<(String, Vec<f64>)> = temperatures.iter().map(|&t| (format!("T = {t}"), soft(t))).collect();
        let label = data.classes.get(data.test.label(index)).cloned().unwrap_or_default();
        let title = format!("{}: softened outputs on test image {index} (class {label})", self.record.name);
        Ok(crate::plot::grouped_bars(&title, "probability (%)", &data.classes, &series))
    }

    /// A compact summary table.
    pub fn table(&self) -> Table {
        runs_table(&format!("Run `{}`", self.record.name), &[&self.record])
    }

    /// Curves and summary, inline.
    pub fn evcxr_display(&self) {
        let mut panel = crate::notebook::Panel::new().figure(self.plot()).figure(self.plot_losses());
        if self.models.len() > 1 {
            panel = panel.figure(self.plot_models());
        }
        panel.table(self.table()).evcxr_display();
    }
}

/// Test-accuracy curves of several runs overlaid, with their summary table.
pub fn compare(title: &str, runs: &[&Run]) -> crate::notebook::Panel {
    let records: Vec<&RunRecord> = runs.iter().map(|r| &r.record).collect();
    crate::notebook::Panel::new()
        .figure(crate::plot::curves(&format!("{title}: test accuracy"), &["test_acc"], &records))
        .figure(crate::plot::curves(&format!("{title}: training CE"), &["ce"], &records))
        .table(runs_table(title, &records))
}

/// One row per record: method, epochs, final and best test accuracy, wall time, backend.
pub fn runs_table(title: &str, records: &[&RunRecord]) -> Table {
    let mut t = Table::new(title, &["run", "method", "epochs", "test acc (%)", "best (%)", "time", "backend"]);
    for r in records {
        let best = r.series("test_acc").iter().map(|p| p.1).fold(f64::NAN, f64::max);
        t.push(vec![
            r.name.clone(),
            r.method.clone(),
            r.epochs.len().to_string(),
            format!("{:.2}", r.final_metric("test_acc").unwrap_or(f64::NAN) * 100.0),
            format!("{:.2}", best * 100.0),
            fmt_duration(r.wall_time_s),
            r.backend.clone(),
        ]);
    }
    t
}
