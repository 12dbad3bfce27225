//! Categorical comparisons: methods × seeds → a table (mean ± std and every seed), a bar chart
//! and the test-accuracy curves, in one call — the shape of every paper's results table.
//!
//! Every method runs on the same seeds, so each row is compared with the baseline row (the first
//! method, or [`ComparisonSpec::baseline`]) seed by seed: the table's Δ column is the mean of the
//! per-seed differences with its Student-t 95 % interval ([`crate::stats::Paired`]), ✓ where the
//! interval excludes 0, and [`Comparison::differences`] draws them.
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
use crate::stats::Paired;
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
    /// The table cells of how far `metric`'s network fits its training set: the mean clean
    /// training accuracy ([`super::CLEAN_TRAIN_ACC`], %) and it minus the mean `metric` (points);
    /// "–" for records made before the clean accuracy was recorded.
    pub fn fit_cells(&self, metric: &str) -> [String; 2] {
        let mean = |v: Vec<f64>| v.iter().sum::<f64>() * 100.0 / v.len() as f64;
        let measured = self.values(super::CLEAN_TRAIN_ACC);
        if measured.is_empty() {
            return ["–".into(), "–".into()];
        }
        let train = mean(measured);
        [format!("{train:.2}"), format!("{:+.2}", train - mean(self.values(metric)))]
    }

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
    /// Fixed reference values (a teacher's test accuracy in [0, 1]) shown as rows without seeds
    /// in the `test_acc` table and bars (not in those of other metrics).
    pub references: Vec<(String, f64)>,
    /// One row per method, in the order given.
    pub rows: Vec<ComparisonRow>,
    /// The headline network of every run, by row then seed (empty after [`Comparison::load`]).
    #[serde(skip)]
    pub models: Vec<Vec<Net>>,
    /// Runs that did not finish, `(method, seed, error)`: their seed is missing from the method's
    /// row, and every other run went on. (When no run finishes, `run` returns the first error
    /// instead; a cancel stops the comparison at once.)
    #[serde(default)]
    pub failed: Vec<(String, u64, String)>,
    /// The method every row's paired difference is taken against; `None`: the first row.
    #[serde(default)]
    pub baseline: Option<String>,
}

impl PartialEq for Comparison {
    /// Equal results (networks are not compared).
    fn eq(&self, other: &Self) -> bool {
        (&self.title, &self.references, &self.rows, self.baseline_label()) == (&other.title, &other.references, &other.rows, other.baseline_label())
    }
}

/// What [`Comparison::save`] writes: the comparison and, for readers of the JSON, the numbers of
/// its `test_acc` table (ignored by [`Comparison::load`], which recomputes them).
#[derive(Serialize)]
struct Saved<'a> {
    #[serde(flatten)]
    comparison: &'a Comparison,
    summary: Summary,
}

/// The `test_acc` table's numbers in the saved JSON (accuracies in %).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The metric summarised.
    pub metric: String,
    /// The row the differences are taken against.
    pub baseline: String,
    /// Confidence level of the intervals.
    pub level: f64,
    /// One entry per method row.
    pub rows: Vec<SummaryRow>,
}

/// One method's line of a [`Summary`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// Method label.
    pub label: String,
    /// Seeds run.
    pub n: usize,
    /// Mean over seeds.
    pub mean: f64,
    /// Sample std over seeds.
    pub std: f64,
    /// Paired difference to the baseline (`None` for the baseline itself).
    pub vs_baseline: Option<Paired>,
}

/// Accuracies (`*_acc`) are shown in %, everything else as recorded.
fn display_scale(metric: &str) -> f64 {
    if metric.ends_with("_acc") { 100.0 } else { 1.0 }
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
    baseline: Option<String>,
}

impl Comparison {
    /// Starts a comparison titled `title` (one seed, 0, until [`ComparisonSpec::seeds`]).
    pub fn of(title: impl Into<String>) -> ComparisonSpec<'static> {
        ComparisonSpec { title: title.into(), seeds: vec![0], references: Vec::new(), methods: Vec::new(), records: None, verbose: true, devices: Vec::new(), retries: super::sweep::DEFAULT_RETRIES, baseline: None }
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

    /// The label of the row differences are taken against: [`Comparison::baseline`] when set,
    /// else the first row's.
    pub fn baseline_label(&self) -> Option<&str> {
        self.baseline.as_deref().or_else(|| self.rows.first().map(|r| r.label.as_str()))
    }

    /// The same comparison with its differences taken against `label` (an error naming the
    /// label when no row has it).
    pub fn with_baseline(mut self, label: &str) -> Result<Comparison> {
        if self.row(label).is_none() {
            return Err(Error::invalid("baseline", label, format!("no such row; rows: {}", self.labels().join(", "))));
        }
        self.baseline = Some(label.to_string());
        Ok(self)
    }

    fn labels(&self) -> Vec<&str> {
        self.rows.iter().map(|r| r.label.as_str()).collect()
    }

    /// The paired difference `label − against` of the final `metric` over the seeds both rows
    /// ran, in the table's unit (percentage points for accuracies); `None` when a row is missing
    /// or they share no seed.
    pub fn paired(&self, label: &str, against: &str, metric: &str) -> Option<Paired> {
        let diffs = self.differences_by_seed(label, against, metric)?;
        (!diffs.is_empty()).then(|| Paired::of(&diffs))
    }

    /// `label − against` of the final `metric` on every seed both rows ran, in the table's unit.
    fn differences_by_seed(&self, label: &str, against: &str, metric: &str) -> Option<Vec<f64>> {
        let (a, b) = (self.row(label)?, self.row(against)?);
        let (va, vb, scale) = (a.values(metric), b.values(metric), display_scale(metric));
        Some(a.seeds.iter().zip(&va).filter_map(|(s, x)| b.seeds.iter().position(|t| t == s).map(|k| (x - vb[k]) * scale)).collect())
    }

    /// A table cell for `label − against`: the [`Paired`] difference with its interval,
    /// `baseline` for the row itself, `–` when they cannot be paired.
    pub fn delta_cell(&self, label: &str, against: &str, metric: &str) -> String {
        if label == against {
            return "baseline".into();
        }
        self.paired(label, against, metric).map_or("–".into(), |d| d.to_string())
    }

    /// The note under a table whose Δ column is a paired difference to `against`.
    pub fn delta_note(against: &str) -> String {
        format!("Δ: mean of the per-seed differences to {against} over the same seeds, with its Student-t 95 % interval (n − 1 degrees of freedom); ✓ marks an interval that excludes 0. One seed gives no interval (n = 1).")
    }

    /// Every row's paired difference to the baseline row (`None` for the baseline itself).
    pub fn versus_baseline(&self, metric: &str) -> Vec<(String, Option<Paired>)> {
        let base = self.baseline_label().unwrap_or_default();
        self.rows.iter().map(|r| (r.label.clone(), if r.label == base { None } else { self.paired(&r.label, base, metric) })).collect()
    }

    /// How many seeds a ±`half_width` 95 % interval (in the table's unit) of `label`'s
    /// difference to the baseline needs, judged from this comparison's spread of the paired
    /// differences (a pilot run with a few seeds): see [`crate::stats::seeds_needed`].
    pub fn seeds_needed(&self, label: &str, metric: &str, half_width: f64) -> Option<usize> {
        let pilot = self.paired(label, self.baseline_label()?, metric)?;
        (pilot.n >= 2).then(|| crate::stats::seeds_needed(pilot.std, half_width)).flatten()
    }

    /// Method, mean ± std of the final `metric` (accuracies in %), seeds, the paired difference to
    /// the baseline with its 95 % interval (✓: excludes 0), every seed's value.
    pub fn table(&self, metric: &str) -> Table {
        let scale = display_scale(metric);
        let head = format!("{metric}{}", if scale == 100.0 { " (%)" } else { "" });
        let base = self.baseline_label().unwrap_or_default().to_string();
        let delta = format!("Δ vs {base} (95 % CI)");
        let mut t = Table::new(self.title.clone(), &["method", &head, "seeds", &delta, "per seed"]).with_note(Comparison::delta_note(&base));
        for (label, v) in self.references_for(metric) {
            t.push(vec![label.clone(), format!("{:.2}", v * scale), "–".into(), "–".into(), String::new()]);
        }
        for row in &self.rows {
            let v: Vec<f64> = row.values(metric).iter().map(|x| x * scale).collect();
            let (m, s) = plot::bars::mean_std(&v);
            let diff = self.delta_cell(&row.label, &base, metric);
            t.push(vec![row.label.clone(), crate::table::mean_pm(m, s, v.len()), v.len().to_string(), diff, v.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(", ")]);
        }
        for (label, seed, error) in &self.failed {
            t.push(vec![label.clone(), "failed".into(), "0".into(), "–".into(), format!("seed {seed}: {}", crate::table::brief(error))]);
        }
        t
    }

    /// One row per claim "`label` beats `against` on `metric`": the paired difference over the
    /// seeds both rows ran with its 95 % interval and the [`Paired::verdict`]; `–` for a row
    /// that is missing.
    pub fn claims(&self, title: impl Into<String>, metric: &str, claims: &[(&str, &str)]) -> Table {
        let mut t = Table::new(title, &["claim", "Δ (95 % CI)", "seeds", "verdict"]).with_note(format!("{} Verdict: reproduced where the interval is above 0.", Comparison::delta_note("the second row")));
        for (label, against) in claims {
            let claim = format!("{label} > {against}");
            match self.paired(label, against, metric) {
                Some(d) => t.push(vec![claim, d.to_string(), d.n.to_string(), d.verdict()]),
                None => t.push(vec![claim, "–".into(), "0".into(), "no paired seeds".into()]),
            }
        }
        t
    }

    /// The reference rows that belong in a table or bars of `metric`: references are test
    /// accuracies, so another metric has none.
    fn references_for(&self, metric: &str) -> impl Iterator<Item = &(String, f64)> {
        self.references.iter().filter(move |_| metric == "test_acc")
    }

    /// The numbers of [`Comparison::table`] for `metric`, as data.
    pub fn summary(&self, metric: &str) -> Summary {
        let scale = display_scale(metric);
        let rows = self
            .rows
            .iter()
            .zip(self.versus_baseline(metric))
            .map(|(r, (_, vs_baseline))| {
                let (mean, std) = plot::bars::mean_std(&r.values(metric).iter().map(|x| x * scale).collect::<Vec<_>>());
                SummaryRow { label: r.label.clone(), n: r.seeds.len(), mean, std, vs_baseline }
            })
            .collect();
        Summary { metric: metric.into(), baseline: self.baseline_label().unwrap_or_default().into(), level: crate::stats::LEVEL, rows }
    }

    /// Bars of the final `metric` (mean ± std over seeds, every seed as a dot), references last
    /// (`test_acc` only),
    /// so that every method has the same colour here as in [`Comparison::curves`].
    pub fn bars(&self, metric: &str) -> Figure {
        let scale = display_scale(metric);
        let mut bars: Vec<Bar> = self.rows.iter().map(|r| Bar::from_values(r.label.clone(), &r.values(metric).iter().map(|x| x * scale).collect::<Vec<_>>())).collect();
        bars.extend(self.references_for(metric).map(|(l, v)| Bar::new(l.clone(), v * scale, 0.0)));
        let y = plot::axis_title(metric);
        plot::bars(&self.title, &y, &bars)
    }

    /// Every row's paired difference to the baseline with its 95 % interval and every seed's
    /// difference, around zero (`None` with fewer than two rows).
    pub fn differences(&self, metric: &str) -> Option<Figure> {
        let base = self.baseline_label()?.to_string();
        let items: Vec<plot::Difference> = self
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.label != base)
            .filter_map(|(color, r)| {
                let points = self.differences_by_seed(&r.label, &base, metric).filter(|p| !p.is_empty())?;
                let d = Paired::of(&points);
                Some(plot::Difference { label: r.label.clone(), mean: d.mean, lo: d.lo, hi: d.hi, points, color })
            })
            .collect();
        if items.is_empty() {
            return None;
        }
        let unit = if display_scale(metric) == 100.0 { " (points)" } else { "" };
        Some(plot::differences(&format!("{}: paired difference to {base}", self.title), &format!("Δ {}{unit}", plot::metric_words(metric)), &items))
    }

    /// `metric` per epoch of every method's first seed, overlaid.
    pub fn curves(&self, metric: &str) -> Figure {
        let firsts: Vec<RunRecord> = self.rows.iter().filter_map(|r| r.records.first().cloned().map(|mut rec| {
            rec.name = r.label.clone();
            rec
        })).collect();
        plot::curves(&format!("{}: {} (seed {})", self.title, plot::metric_words(metric), self.rows.first().and_then(|r| r.seeds.first()).unwrap_or(&0)), &[metric], &firsts.iter().collect::<Vec<_>>())
    }

    /// Writes the comparison as JSON, atomically, with the `test_acc` [`Summary`] (means, stds,
    /// paired differences and intervals) beside the runs.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_json_atomic(path.as_ref(), &Saved { comparison: self, summary: self.summary("test_acc") })
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

    /// Table, bars, paired differences and curves of `test_acc`, inline.
    pub fn evcxr_display(&self) {
        let panel = crate::notebook::Panel::new().figure(self.bars("test_acc"));
        let panel = match self.differences("test_acc") {
            Some(d) => panel.figure(d),
            None => panel,
        };
        panel.figure(self.curves("test_acc")).table(self.table("test_acc")).evcxr_display();
    }
}

impl<'a> ComparisonSpec<'a> {
    /// The seeds every method runs with. The paired 95 % interval of a difference shrinks with
    /// t_{0.975, n−1}/√n: ×2.48 the spread of the per-seed differences for 3 seeds, ×1.24 for
    /// 5, ×0.72 for 10 — so a 0.5-point effect whose differences vary by 0.6 points needs 9
    /// seeds to show. [`Comparison::seeds_needed`] reads that n off a pilot comparison.
    pub fn seeds(mut self, seeds: impl IntoIterator<Item = u64>) -> Self {
        self.seeds = seeds.into_iter().collect();
        self
    }
    /// The method every other row is compared with, seed by seed (default: the first method).
    pub fn baseline(mut self, label: impl Into<String>) -> Self {
        self.baseline = Some(label.into());
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
        ComparisonSpec { title: self.title, seeds: self.seeds, references: self.references, methods, records: self.records, verbose: self.verbose, devices: self.devices, retries: self.retries, baseline: self.baseline }
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
        if let Some(b) = self.baseline.as_deref().filter(|b| !self.methods.iter().any(|(l, _)| l == b)) {
            let labels: Vec<&str> = self.methods.iter().map(|(l, _)| l.as_str()).collect();
            return Err(Error::invalid("comparison.baseline", b, format!("no method has this label; methods: {}", labels.join(", "))));
        }
        let mut results: Vec<Vec<Option<Run>>> = self.methods.iter().map(|_| self.seeds.iter().map(|_| None).collect()).collect();
        let total = self.methods.len() * self.seeds.len();
        let (start, done) = (std::time::Instant::now(), std::sync::atomic::AtomicUsize::new(0));
        let progress = || crate::train::progress_eta(start, done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1, total);
        let mut failed = Vec::new();
        let mut first_error = None;
        for (m, (label, make)) in self.methods.iter().enumerate() {
            if let Make::Here(make) = make {
                for (k, &seed) in self.seeds.iter().enumerate() {
                    match make(seed) {
                        Ok(run) => {
                            finished(self.records.as_deref(), self.verbose.then(progress), label, seed, &run, None)?;
                            results[m][k] = Some(run);
                        }
                        // a cancel stops the comparison; any other failure is that run's own
                        Err(e @ Error::Cancelled { .. }) => return Err(e),
                        Err(e) => {
                            println!("comparison: {label} seed {seed} failed: {}", e.to_string().lines().next().unwrap_or_default());
                            failed.push((label.clone(), seed, e.to_string()));
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
        }
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
        if let Some(e) = first_error.filter(|_| results.iter().flatten().all(Option::is_none)) {
            return Err(e); // nothing finished: the settings, not one run, are at fault
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
        Ok(Comparison { title: self.title, references: self.references, rows, models, failed, baseline: self.baseline })
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
        println!("{label} seed {seed}{on}: test_acc {:.2}%{}  [{progress}]", run.test_acc() * 100.0, run.provenance());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: &str, seeds: &[u64], accs: &[f64]) -> ComparisonRow {
        let records = accs
            .iter()
            .map(|&a| {
                let mut r = RunRecord::new(label, "test", serde_json::Value::Null, String::new(), String::new(), String::new());
                r.final_metrics.insert("test_acc".into(), a);
                r
            })
            .collect();
        ComparisonRow { label: label.into(), seeds: seeds.to_vec(), records }
    }

    fn comparison(rows: Vec<ComparisonRow>) -> Comparison {
        Comparison { title: "t".into(), references: vec![("teacher".into(), 0.9)], rows, models: Vec::new(), failed: Vec::new(), baseline: None }
    }

    #[test]
    fn rows_are_paired_by_seed_against_the_baseline_in_points() {
        // "b" lost seed 1: the pairs are seeds 0 and 2 only
        let c = comparison(vec![row("a", &[0, 1, 2], &[0.800, 0.810, 0.790]), row("b", &[0, 2], &[0.812, 0.803])]);
        assert_eq!(c.baseline_label(), Some("a"), "the first method by default");
        let d = c.paired("b", "a", "test_acc").unwrap();
        assert_eq!(d.n, 2);
        assert!((d.mean - 1.25).abs() < 1e-9, "(1.2 + 1.3) / 2 points, got {}", d.mean);
        let t = c.table("test_acc");
        assert_eq!(t.columns[3], "Δ vs a (95 % CI)");
        assert_eq!((t.rows[1][3].as_str(), t.rows[0][3].as_str()), ("baseline", "–"), "baseline row, reference row");
        assert_eq!(t.rows[2][3], d.to_string());
        assert!(t.rows[2][3].ends_with('✓'), "1.2 and 1.3: a tight positive interval, {}", t.rows[2][3]);
        assert!(t.markdown().contains("Student-t 95 % interval"), "the table says how to read Δ");
        let flipped = c.clone().with_baseline("b").unwrap();
        assert!((flipped.paired("a", "b", "test_acc").unwrap().mean + 1.25).abs() < 1e-9);
        assert_eq!(flipped.table("test_acc").rows[2][3], "baseline");
        assert!(c.clone().with_baseline("c").unwrap_err().to_string().contains("`baseline` = c: no such row; rows: a, b"));
        assert!(c.differences("test_acc").unwrap().svg.contains("paired difference to a"));
    }

    #[test]
    fn a_claims_table_pairs_each_claim_by_seed_and_gives_its_verdict() {
        let c = comparison(vec![
            row("base", &[0, 1, 2], &[0.800, 0.810, 0.790]),
            row("better", &[0, 1, 2], &[0.812, 0.823, 0.801]),
            row("mixed", &[0, 1, 2], &[0.805, 0.800, 0.795]),
        ]);
        let t = c.claims("claims", "test_acc", &[("better", "base"), ("base", "better"), ("mixed", "base"), ("better", "absent")]);
        let cells = |i: usize| (t.rows[i][0].as_str(), t.rows[i][2].as_str(), t.rows[i][3].as_str());
        assert_eq!(cells(0), ("better > base", "3", "reproduced"));
        assert_eq!(t.rows[0][1], c.paired("better", "base", "test_acc").unwrap().to_string());
        assert_eq!(cells(1), ("base > better", "3", "not reproduced: the other way"));
        assert_eq!(cells(2), ("mixed > base", "3", "not distinguishable at n = 3"));
        assert_eq!(cells(3), ("better > absent", "0", "no paired seeds"));
    }

    #[test]
    fn the_saved_json_carries_the_table_numbers_and_loads_back() {
        let c = comparison(vec![row("a", &[0, 1, 2], &[0.80, 0.81, 0.79]), row("b", &[0, 1, 2], &[0.81, 0.80, 0.80])]);
        let dir = std::env::temp_dir().join(format!("distillery-cmp-{}", std::process::id()));
        let path = dir.join("c.json");
        c.save(&path).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let summary: Summary = serde_json::from_value(json["summary"].clone()).unwrap();
        assert_eq!(summary, c.summary("test_acc"));
        assert_eq!(summary.rows[1].vs_baseline.as_ref().unwrap().to_string(), c.table("test_acc").rows[2][3]);
        assert!(summary.rows[0].vs_baseline.is_none());
        assert_eq!(Comparison::load(&path).unwrap(), c);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn an_unknown_baseline_is_refused_before_anything_runs() {
        let e = Comparison::of("t").baseline("nope").method("a", |_| -> Result<Run> { panic!("must not run") }).run().unwrap_err();
        assert!(e.to_string().contains("`comparison.baseline` = nope") && e.to_string().contains("methods: a"), "{e}");
    }

    #[test]
    fn the_teacher_reference_is_a_test_accuracy_and_stays_out_of_other_metrics() {
        let mut c = comparison(vec![row("a", &[0], &[0.80])]);
        c.rows[0].records[0].final_metrics.insert("train_acc".into(), 0.95);
        let labels = |t: Table| t.rows.iter().map(|r| r[0].clone()).collect::<Vec<_>>();
        assert_eq!(labels(c.table("test_acc")), ["teacher", "a"]);
        assert_eq!(labels(c.table("train_acc")), ["a"]);
        assert!(c.bars("test_acc").svg.contains("teacher") && !c.bars("train_acc").svg.contains("teacher"));
    }

    #[test]
    fn one_seed_shows_no_interval() {
        let c = comparison(vec![row("a", &[0], &[0.80]), row("b", &[0], &[0.8044])]);
        assert_eq!(c.table("test_acc").rows[2][3], "+0.44 (n = 1)");
        assert_eq!(c.seeds_needed("b", "test_acc", 0.5), None, "no spread to judge from one seed");
    }
}
