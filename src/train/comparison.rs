//! Categorical comparisons: methods × seeds → a table (mean ± std and every seed), a bar chart
//! and the test-accuracy curves, in one call — the shape of every paper's results table.
//!
//! ```no_run
//! # use distillery::prelude::*;
//! # fn main() -> distillery::Result<()> {
//! # let device = Device::auto(); let profile = Profile::Smoke;
//! # let data = Dataset::fashion_mnist(&DataRoot::resolve(None), &profile)?;
//! # let teacher = Supervised::builder().fit(&data, &device)?;
//! let table = Comparison::of("KD on Fashion-MNIST")
//!     .seeds([0, 1, 2])
//!     .reference("teacher", teacher.test_acc())
//!     .method("student alone", |seed| Supervised::builder().seed(seed).fit(&data, &device))
//!     .method("Hinton KD", |seed| Kd::builder().teacher(&teacher).seed(seed).fit(&data, &device))
//!     .run()?;
//! # Ok(()) }
//! ```
use super::fanout::{self, Outcome};
use super::{Run, RunRecord};
use crate::device::{Device, DeviceExt};
use crate::models::Net;
use crate::error::{Error, Result};
use crate::plot::{self, Bar, Figure};
use crate::record::write_json_atomic;
use crate::table::Table;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One method of a comparison: its label and one record per seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    /// Method label.
    pub label: String,
    /// Seeds, in run order.
    pub seeds: Vec<u64>,
    /// The run of each seed.
    pub records: Vec<RunRecord>,
}

impl ComparisonRow {
    /// Final `metric` of every seed.
    pub fn values(&self, metric: &str) -> Vec<f64> {
        self.records.iter().map(|r| r.final_metric(metric).unwrap_or(f64::NAN)).collect()
    }
}

/// A finished comparison (serialisable: save it and re-plot without re-running; the trained
/// networks stay in memory only).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Comparison {
    /// Title of the table and figures.
    pub title: String,
    /// Fixed reference values (a teacher's accuracy in [0, 1]) shown as rows without seeds.
    pub references: Vec<(String, f64)>,
    /// One row per method, in the order given.
    pub rows: Vec<ComparisonRow>,
    /// The headline network of every run, by row then seed (empty after [`Comparison::load`]).
    #[serde(skip)]
    pub models: Vec<Vec<Net>>,
    /// Runs that did not finish in a fanned-out comparison, `(method, seed, error)`: their seed
    /// is missing from the method's row. A comparison on one device stops at its first error.
    #[serde(default)]
    pub failed: Vec<(String, u64, String)>,
}

impl PartialEq for Comparison {
    /// Equal results (networks are not compared).
    fn eq(&self, other: &Self) -> bool {
        (&self.title, &self.references, &self.rows) == (&other.title, &other.references, &other.rows)
    }
}

/// A method that trains one seed on the device it is handed.
type OnDevice<'a> = dyn Fn(u64, &Device) -> Result<Run> + Sync + 'a;

/// How a method trains one seed: on the device its closure captured, or on the device the
/// fan-out hands it.
enum Make<'a> {
    Here(Box<dyn Fn(u64) -> Result<Run> + 'a>),
    On(Box<OnDevice<'a>>),
}

/// A comparison before it runs.
pub struct ComparisonSpec<'a> {
    title: String,
    seeds: Vec<u64>,
    references: Vec<(String, f64)>,
    methods: Vec<(String, Make<'a>)>,
    records: Option<PathBuf>,
    verbose: bool,
    devices: Vec<Device>,
    retries: usize,
}

impl Comparison {
    /// Starts a comparison titled `title` (one seed, 0, until [`ComparisonSpec::seeds`]).
    pub fn of(title: impl Into<String>) -> ComparisonSpec<'static> {
        ComparisonSpec { title: title.into(), seeds: vec![0], references: Vec::new(), methods: Vec::new(), records: None, verbose: true, devices: Vec::new(), retries: super::sweep::DEFAULT_RETRIES }
    }

    /// The trained network of method `label` for its `k`-th seed (in memory only).
    pub fn model(&self, label: &str, k: usize) -> Option<&Net> {
        let row = self.rows.iter().position(|r| r.label == label)?;
        self.models.get(row)?.get(k)
    }

    /// The row labelled `label`.
    pub fn row(&self, label: &str) -> Option<&ComparisonRow> {
        self.rows.iter().find(|r| r.label == label)
    }

    /// Mean of the final `metric` over the seeds of `label` (NaN if there is no such row).
    pub fn mean(&self, label: &str, metric: &str) -> f64 {
        self.row(label).map(|r| plot::bars::mean_std(&r.values(metric)).0).unwrap_or(f64::NAN)
    }

    /// Method, mean ± std of the final `metric` (accuracies in %), seeds, every seed's value.
    pub fn table(&self, metric: &str) -> Table {
        let scale = if metric.ends_with("_acc") { 100.0 } else { 1.0 };
        let head = format!("{metric}{}", if scale == 100.0 { " (%)" } else { "" });
        let mut t = Table::new(self.title.clone(), &["method", &head, "seeds", "per seed"]);
        for (label, v) in &self.references {
            t.push(vec![label.clone(), format!("{:.2}", v * scale), "–".into(), String::new()]);
        }
        for row in &self.rows {
            let v: Vec<f64> = row.values(metric).iter().map(|x| x * scale).collect();
            let (m, s) = plot::bars::mean_std(&v);
            t.push(vec![row.label.clone(), crate::table::mean_pm(m, s, v.len()), v.len().to_string(), v.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(", ")]);
        }
        for (label, seed, error) in &self.failed {
            t.push(vec![label.clone(), "failed".into(), "0".into(), format!("seed {seed}: {error}")]);
        }
        t
    }

    /// Bars of the final `metric` (mean ± std over seeds), references last, so that every method
    /// has the same colour here as in [`Comparison::curves`].
    pub fn bars(&self, metric: &str) -> Figure {
        let scale = if metric.ends_with("_acc") { 100.0 } else { 1.0 };
        let mut bars: Vec<Bar> = self.rows.iter().map(|r| Bar::from_values(r.label.clone(), &r.values(metric).iter().map(|x| x * scale).collect::<Vec<_>>())).collect();
        bars.extend(self.references.iter().map(|(l, v)| Bar::new(l.clone(), v * scale, 0.0)));
        let y = plot::axis_title(metric);
        plot::bars(&self.title, &y, &bars)
    }

    /// `metric` per epoch of every method's first seed, overlaid.
    pub fn curves(&self, metric: &str) -> Figure {
        let firsts: Vec<RunRecord> = self.rows.iter().filter_map(|r| r.records.first().cloned().map(|mut rec| {
            rec.name = r.label.clone();
            rec
        })).collect();
        plot::curves(&format!("{}: {} (seed {})", self.title, plot::metric_words(metric), self.rows.first().and_then(|r| r.seeds.first()).unwrap_or(&0)), &[metric], &firsts.iter().collect::<Vec<_>>())
    }

    /// Writes the comparison as JSON, atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_json_atomic(path.as_ref(), self)
    }

    /// Reads a saved comparison; one without methods or runs is an error naming the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Comparison> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(Error::io(path))?;
        let c: Comparison = serde_json::from_slice(&bytes).map_err(|e| Error::format(path, format!("not a comparison: {e}")))?;
        if c.rows.is_empty() || c.rows.iter().any(|r| r.records.len() != r.seeds.len() || (r.records.is_empty() && !c.failed.iter().any(|f| f.0 == r.label))) {
            return Err(Error::format(path, "a comparison needs at least one method, each with one run per seed"));
        }
        Ok(c)
    }

    /// Table, bars and curves of `test_acc`, inline.
    pub fn evcxr_display(&self) {
        crate::notebook::Panel::new().figure(self.bars("test_acc")).figure(self.curves("test_acc")).table(self.table("test_acc")).evcxr_display();
    }
}

impl<'a> ComparisonSpec<'a> {
    /// The seeds every method runs with.
    pub fn seeds(mut self, seeds: impl IntoIterator<Item = u64>) -> Self {
        self.seeds = seeds.into_iter().collect();
        self
    }
    /// A fixed reference row (a teacher's accuracy, in [0, 1]).
    pub fn reference(mut self, label: impl Into<String>, value: f64) -> Self {
        self.references.push((label.into(), value));
        self
    }
    /// A method: `make(seed)` trains one run.
    pub fn method<'b>(self, label: impl Into<String>, make: impl Fn(u64) -> Result<Run> + 'b) -> ComparisonSpec<'b>
    where
        'a: 'b,
    {
        self.with(label.into(), Make::Here(Box::new(make)))
    }
    /// A method that trains on the device it is handed: with [`devices`](ComparisonSpec::devices)
    /// its seeds run concurrently, one per device, like every other `method_on` method's.
    pub fn method_on<'b>(self, label: impl Into<String>, make: impl Fn(u64, &Device) -> Result<Run> + Sync + 'b) -> ComparisonSpec<'b>
    where
        'a: 'b,
    {
        self.with(label.into(), Make::On(Box::new(make)))
    }
    /// The devices [`method_on`](ComparisonSpec::method_on) methods fan out over (local GPUs,
    /// remote devices from `Device::fleet()` …); this machine's `Device::auto()` device when
    /// none are given. [`method`](ComparisonSpec::method) closures keep the device they captured
    /// and run one after another first.
    pub fn devices(mut self, devices: impl IntoIterator<Item = Device>) -> Self {
        self.devices = devices.into_iter().collect();
        self
    }
    /// How many other devices a run whose device died is retried on (default 2).
    pub fn retries(mut self, retries: usize) -> Self {
        self.retries = retries;
        self
    }

    fn with<'b>(self, label: String, make: Make<'b>) -> ComparisonSpec<'b>
    where
        'a: 'b,
    {
        let mut methods: Vec<(String, Make<'b>)> = self.methods.into_iter().map(|(l, m)| (l, m.shorten())).collect();
        methods.push((label, make));
        ComparisonSpec { title: self.title, seeds: self.seeds, references: self.references, methods, records: self.records, verbose: self.verbose, devices: self.devices, retries: self.retries }
    }
    /// Also write every run's record as `dir/<method>-seed<seed>.json`.
    pub fn records_to(mut self, dir: impl Into<PathBuf>) -> Self {
        self.records = Some(dir.into());
        self
    }
    /// One line per finished run (on by default).
    pub fn verbose(mut self, on: bool) -> Self {
        self.verbose = on;
        self
    }

    /// Runs every method for every seed: [`method`](ComparisonSpec::method)s in order on this
    /// thread, then every seed of the [`method_on`](ComparisonSpec::method_on)s fanned out over
    /// the devices. Rows keep the order the methods were given.
    pub fn run(self) -> Result<Comparison> {
        crate::error::ensure(!self.seeds.is_empty(), "comparison.seeds", "[]", "needs at least one seed")?;
        crate::error::ensure(!self.methods.is_empty(), "comparison.methods", "[]", "add a method with .method(label, |seed| …)")?;
        let mut results: Vec<Vec<Option<Run>>> = self.methods.iter().map(|_| self.seeds.iter().map(|_| None).collect()).collect();
        let total = self.methods.len() * self.seeds.len();
        let (start, done) = (std::time::Instant::now(), std::sync::atomic::AtomicUsize::new(0));
        let progress = || crate::train::progress_eta(start, done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1, total);
        for (m, (label, make)) in self.methods.iter().enumerate() {
            if let Make::Here(make) = make {
                for (k, &seed) in self.seeds.iter().enumerate() {
                    let run = make(seed)?;
                    finished(self.records.as_deref(), self.verbose.then(progress), label, seed, &run, None)?;
                    results[m][k] = Some(run);
                }
            }
        }
        let mut failed = Vec::new();
        let jobs: Vec<(usize, usize)> = self.methods.iter().enumerate().filter(|(_, (_, make))| matches!(make, Make::On(_))).flat_map(|(m, _)| (0..self.seeds.len()).map(move |k| (m, k))).collect();
        if !jobs.is_empty() {
            let devices = if self.devices.is_empty() { vec![Device::auto_quiet()] } else { self.devices.clone() };
            // only the device methods cross threads (a `method` closure need not be `Sync`)
            let on_device: Vec<Option<(&str, &OnDevice)>> = self.methods.iter().map(|(label, make)| match make {
                Make::On(f) => Some((label.as_str(), f.as_ref())),
                Make::Here(_) => None,
            }).collect();
            let (seeds, records, verbose) = (&self.seeds, self.records.as_deref(), self.verbose);
            let outcomes = fanout::fan_out(&jobs, &devices, self.retries, |&(m, k), device| {
                let (label, make) = on_device[m].expect("only device methods are fanned out");
                let run = make(seeds[k], device)?;
                // `Run::new` takes the headline from the first network: each one moves once
                let run = Run::new(run.record, run.models.into_iter().map(|(name, net)| (name, fanout::bring_home(net, device))).collect());
                finished(records, verbose.then(progress), label, seeds[k], &run, Some(device))?;
                Ok(run)
            })?;
            for (&(m, k), outcome) in jobs.iter().zip(outcomes) {
                match outcome {
                    Outcome::Done { value, .. } => results[m][k] = Some(value),
                    Outcome::Failed { error, .. } => failed.push((self.methods[m].0.clone(), self.seeds[k], error)),
                }
            }
        }
        let mut rows = Vec::with_capacity(self.methods.len());
        let mut models = Vec::with_capacity(self.methods.len());
        for ((label, _), runs) in self.methods.iter().zip(results) {
            let (mut seeds, mut records, mut nets) = (Vec::new(), Vec::new(), Vec::new());
            for (&seed, run) in self.seeds.iter().zip(runs) {
                if let Some(run) = run {
                    seeds.push(seed);
                    records.push(run.record);
                    nets.push(run.model);
                }
            }
            rows.push(ComparisonRow { label: label.clone(), seeds, records });
            models.push(nets);
        }
        Ok(Comparison { title: self.title, references: self.references, rows, models, failed })
    }

}

/// Saves a finished run's record (with [`ComparisonSpec::records_to`]) and prints its line with
/// `progress` (when verbose).
fn finished(records: Option<&Path>, progress: Option<String>, label: &str, seed: u64, run: &Run, on: Option<&Device>) -> Result<()> {
    if let Some(dir) = records {
        let stem: String = label.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
        run.record.save(&dir.join(format!("{stem}-seed{seed}.json")))?;
    }
    if let Some(progress) = progress {
        let on = on.map(|d| format!(" on {}", d.describe())).unwrap_or_default();
        println!("{label} seed {seed}{on}: test_acc {:.2}%  [{progress}]", run.test_acc() * 100.0);
    }
    Ok(())
}

impl<'a> Make<'a> {
    /// The same closure under a shorter lifetime.
    fn shorten<'b>(self) -> Make<'b>
    where
        'a: 'b,
    {
        match self {
            Make::Here(f) => Make::Here(f),
            Make::On(f) => Make::On(f),
        }
    }
}
