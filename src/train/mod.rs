//! One training loop every method plugs into.
//!
//! A [`Method`] owns its models and optimisers and defines one optimisation step (returning its
//! named losses) and its evaluation. The [`Trainer`] runs the epochs: learning-rate schedule,
//! data order and augmentation, progress lines, NaN/Inf detection, the [`RunRecord`], checkpoints
//! and resume, cancellation. The shapes the five papers need all fit `step`:
//! a frozen teacher + student (KD, MGD), peers updated together (online KD), alternating
//! optimisers (GAN: two updates inside one `step`), several updates per batch (MKSMT), and
//! optimising data instead of weights (DSA: the "model" is the synthetic set).
pub mod checkpoint;
pub mod config;
pub mod job;
pub mod record;
pub mod sweep;

pub use config::{Schedule, TrainConfig};
pub use job::Job;
pub use sweep::{Point, Sweep, SweepPoint, SweepSpec};
pub use record::{EpochRecord, RunRecord, Status};

use crate::data::{Batch, Dataset, Loader};
use crate::device::DeviceExt;
use crate::error::{Error, Result};
use crate::losses;
use crate::models::{Net, Staged};
use crate::plot::Figure;
use crate::table::Table;
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
    /// 0-based global step.
    pub step: usize,
    /// Total steps of the run.
    pub total_steps: usize,
    /// The training (autodiff) device.
    pub device: Device,
    /// The same device without autodiff (for frozen networks).
    pub plain: Device,
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
}

/// Named scalar losses of one step; the first is the total that was optimised.
pub type Losses = Vec<(String, f64)>;

/// Reads a scalar loss tensor to the host.
pub fn scalar(t: &Tensor<1>) -> f64 {
    t.clone().into_scalar::<f32>() as f64
}

/// A training method: models, optimisers, one step, evaluation, persistence.
pub trait Method: Send {
    /// Short name used in records.
    fn name(&self) -> String;
    /// One optimisation step on `batch`; returns the named losses.
    fn step(&mut self, batch: &Batch, ctx: &StepCtx) -> Result<Losses>;
    /// Evaluation metrics on `test` (accuracies in [0, 1]); `test_acc` is the headline.
    fn evaluate(&self, test: &Loader, device: &Device) -> BTreeMap<String, f64>;
    /// Writes models and optimiser states into `dir`.
    fn save(&self, dir: &Path) -> Result<()>;
    /// Restores what [`save`](Method::save) wrote.
    fn load(&mut self, dir: &Path) -> Result<()>;
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

/// The plain (non-autodiff) and training (autodiff) versions of a device.
pub fn devices(device: &Device) -> (Device, Device) {
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

impl Trainer {
    /// A trainer for run `name`.
    pub fn new(name: &str, config: TrainConfig) -> Trainer {
        Trainer {
            config,
            name: name.into(),
            profile: String::new(),
            checkpoint: None,
            record_path: None,
            cancel: CancelToken::default(),
            stop_after_steps: None,
            live: None,
        }
    }
    /// Profile name stored in the record.
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

    /// Trains `method` on `data`; returns the record. Resumes from the checkpoint folder if it
    /// holds a checkpoint of the same configuration.
    pub fn fit<M: Method>(&self, method: &mut M, method_config: serde_json::Value, data: &Dataset, device: &Device) -> Result<RunRecord> {
        let cfg = &self.config;
        cfg.validate()?;
        let (plain, train_device) = devices(device);
        let config = serde_json::json!({ "method": method_config, "train": cfg });
        let mut record = RunRecord::new(&self.name, &method.name(), config.clone(), plain.describe(), data.describe(), self.profile.clone());
        if let Some(dir) = &self.checkpoint {
            if let Some((ckpt, saved)) = checkpoint::latest(dir)? {
                if saved.config != config {
                    return Err(Error::Checkpoint {
                        path: ckpt,
                        reason: "written by a different configuration; delete the folder or use another checkpoint dir".into(),
                    });
                }
                method.load(&ckpt)?;
                record = saved;
                record.status = Status::Running;
                self.log(format_args!("resuming `{}` from {} (epoch {}/{})", self.name, ckpt.display(), record.epochs.len(), cfg.epochs));
            }
        }
        let train = Loader::train(data, cfg.batch_size, cfg.augment.clone(), cfg.seed);
        let test = Loader::test(data, cfg.eval_batch_size);
        let per_epoch = train.batches_per_epoch();
        let total_steps = per_epoch * cfg.epochs;
        let started = Instant::now();
        let wall_before = record.wall_time_s;
        let mut steps_here = 0usize;
        for epoch in record.epochs.len()..cfg.epochs {
            let lr = cfg.schedule.lr(cfg.lr, epoch, cfg.epochs);
            let t0 = Instant::now();
            let mut sums: Vec<(String, f64)> = Vec::new();
            let mut seen = 0usize;
            for (b, batch) in train.epoch(epoch).enumerate() {
                let step = epoch * per_epoch + b;
                let ctx = StepCtx { lr, epoch, step, total_steps, device: train_device.clone(), plain: plain.clone() };
                let losses = method.step(&batch, &ctx)?;
                for (name, value) in &losses {
                    if !value.is_finite() {
                        return Err(Error::NonFinite { run: self.name.clone(), loss: name.clone(), value: *value, epoch: epoch + 1, step: b + 1 });
                    }
                    match sums.iter_mut().find(|(n, _)| n == name) {
                        Some((_, s)) => *s += value * batch.len() as f64,
                        None => sums.push((name.clone(), value * batch.len() as f64)),
                    }
                }
                seen += batch.len();
                steps_here += 1;
                if self.cancel.is_cancelled() || self.stop_after_steps.is_some_and(|s| steps_here >= s) {
                    record.status = Status::Cancelled;
                    record.wall_time_s = wall_before + started.elapsed().as_secs_f64();
                    self.publish(&record)?;
                    return Err(Error::Cancelled { run: self.name.clone(), epoch: epoch + 1, step: b + 1 });
                }
            }
            let seconds = t0.elapsed().as_secs_f64();
            let metrics = method.evaluate(&test, &plain);
            let losses: BTreeMap<String, f64> = sums.into_iter().map(|(n, s)| (n, s / seen.max(1) as f64)).collect();
            let entry = EpochRecord { epoch: epoch + 1, lr, losses, metrics: metrics.clone(), seconds, images_per_s: seen as f64 / seconds.max(1e-9) };
            record.epochs.push(entry);
            record.final_metrics = metrics;
            record.wall_time_s = wall_before + started.elapsed().as_secs_f64();
            self.progress(&record, cfg.epochs);
            if let Some(dir) = &self.checkpoint {
                checkpoint::save(dir, &record, |d| method.save(d))?;
            }
            self.publish(&record)?;
        }
        record.status = Status::Completed;
        record.wall_time_s = wall_before + started.elapsed().as_secs_f64();
        self.publish(&record)?;
        Ok(record)
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

    fn progress(&self, record: &RunRecord, epochs: usize) {
        let e = record.epochs.last().expect("called after an epoch");
        let show = |(k, v): (&String, &f64)| if k.ends_with("_acc") { format!("{k} {:.2}%", v * 100.0) } else { format!("{k} {v:.4}") };
        let losses: Vec<String> = e.losses.iter().map(show).collect();
        let metrics: Vec<String> = e.metrics.iter().map(show).collect();
        let per_epoch = record.wall_time_s / record.epochs.len() as f64;
        let eta = per_epoch * (epochs - e.epoch) as f64;
        self.log(format_args!(
            "[{}] epoch {}/{}  lr {:.4}  {}  {}  {:.0} img/s  ETA {}",
            self.name,
            e.epoch,
            epochs,
            e.lr,
            losses.join("  "),
            metrics.join("  "),
            e.images_per_s,
            fmt_duration(eta)
        ));
    }
}

/// `1h02m`, `3m20s`, `12s`.
pub fn fmt_duration(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A finished run: its record and its trained network (on the plain device, inference mode).
#[derive(Debug, Clone)]
pub struct Run {
    /// The record.
    pub record: RunRecord,
    /// The trained network.
    pub model: Net,
}

impl Run {
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

    /// Loss curves of this run.
    pub fn plot_losses(&self) -> Figure {
        let keys: Vec<&str> = self.record.epochs.first().map(|e| e.losses.keys().filter(|k| !k.ends_with("_acc")).map(|k| k.as_str()).collect()).unwrap_or_default();
        crate::plot::curves(&format!("{}: losses", self.record.name), &keys, &[&self.record])
    }

    /// A compact summary table.
    pub fn table(&self) -> Table {
        runs_table(&format!("Run `{}`", self.record.name), &[&self.record])
    }

    /// Curves and summary, inline.
    pub fn evcxr_display(&self) {
        crate::notebook::show_html(&crate::notebook::compose(&[self.plot(), self.plot_losses()], &[self.table().html()]));
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
