//! Sweeps: every point a full run with its record; one or two swept parameters, numeric or
//! categorical (`Sweep::categories("mask", ["channel", "pixel"])`), seeds as an extra axis
//! (mean ± std); serialisable, so a finished sweep reloads and re-plots without re-running.
use super::fanout::{self, Outcome};
use super::{Run, RunRecord};
use crate::device::{Device, DeviceExt};
use crate::error::{Error, Result};
use crate::plot::{self, Figure, Series, bars::mean_std};
use crate::record::write_json_atomic;
use crate::table::Table;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Default [`SweepSpec::retries`].
pub const DEFAULT_RETRIES: usize = 2;

/// One point of a sweep: parameter values, seed and the run's record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// `(axis, value)` for every axis.
    pub params: Vec<(String, f64)>,
    /// Seed of this run.
    pub seed: u64,
    /// The run's record.
    pub record: RunRecord,
}

/// A point that did not finish (its device died and no other took it, or its own error).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailedPoint {
    /// `(axis, value)` for every axis.
    pub params: Vec<(String, f64)>,
    /// Seed of this run.
    pub seed: u64,
    /// What went wrong, with the device it went wrong on.
    pub error: String,
}

/// Parameter values of the point being run.
#[derive(Clone, Debug)]
pub struct Point {
    /// `(axis, value)` for every axis (a categorical axis has the index of its label).
    pub params: Vec<(String, f64)>,
    /// Seed.
    pub seed: u64,
    /// The label of each categorical axis' value, `(axis, label)`.
    pub labels: Vec<(String, String)>,
}

impl Point {
    /// Value of the first axis.
    pub fn x(&self) -> f64 {
        self.params[0].1
    }
    /// Value of the second axis (grids).
    pub fn y(&self) -> f64 {
        self.params.get(1).map(|p| p.1).unwrap_or(f64::NAN)
    }
    /// Value of a named axis.
    pub fn get(&self, axis: &str) -> Option<f64> {
        self.params.iter().find(|p| p.0 == axis).map(|p| p.1)
    }
    /// Label of a categorical axis' value.
    pub fn label(&self, axis: &str) -> Option<&str> {
        self.labels.iter().find(|p| p.0 == axis).map(|p| p.1.as_str())
    }
}

/// What to sweep, before running.
#[derive(Clone, Debug)]
pub struct SweepSpec {
    axes: Vec<(String, Vec<f64>)>,
    labels: Vec<(String, Vec<String>)>,
    seeds: Vec<u64>,
    verbose: bool,
    retries: usize,
}

/// A finished sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// Axis names.
    pub axes: Vec<String>,
    /// Every run.
    pub points: Vec<SweepPoint>,
    /// The labels of each categorical axis, `(axis, labels)`; a point's value is a label's index.
    #[serde(default)]
    pub labels: Vec<(String, Vec<String>)>,
    /// Points that did not finish, with their errors; every other point went on. (When no
    /// point finishes, the sweep returns the first error instead; a cancel stops it at once.)
    #[serde(default)]
    pub failed: Vec<FailedPoint>,
}

impl Sweep {
    /// Sweeps one parameter.
    pub fn over(name: &str, values: impl IntoIterator<Item = f64>) -> SweepSpec {
        SweepSpec { axes: vec![(name.into(), values.into_iter().collect())], labels: Vec::new(), seeds: vec![0], verbose: true, retries: DEFAULT_RETRIES }
    }
    /// Sweeps one categorical parameter (methods, mask kinds, architectures …): the closure gets
    /// each label through [`SweepSpec::run_labels`] or [`Point::label`].
    pub fn categories<S: Into<String>>(name: &str, labels: impl IntoIterator<Item = S>) -> SweepSpec {
        let labels: Vec<String> = labels.into_iter().map(Into::into).collect();
        let values = (0..labels.len()).map(|i| i as f64).collect();
        SweepSpec { axes: vec![(name.into(), values)], labels: vec![(name.into(), labels)], seeds: vec![0], verbose: true, retries: DEFAULT_RETRIES }
    }
    /// A grid of two parameters.
    pub fn grid(a: (&str, Vec<f64>), b: (&str, Vec<f64>)) -> SweepSpec {
        SweepSpec { axes: vec![(a.0.into(), a.1), (b.0.into(), b.1)], labels: Vec::new(), seeds: vec![0], verbose: true, retries: DEFAULT_RETRIES }
    }

    /// Writes the sweep as JSON (atomically).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        write_json_atomic(path, self)
    }
    /// Reads a saved sweep.
    pub fn load(path: impl AsRef<Path>) -> Result<Sweep> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(Error::io(path))?;
        let sweep: Sweep = serde_json::from_slice(&bytes).map_err(|e| Error::format(path, format!("not a sweep: {e}")))?;
        if sweep.axes.is_empty() || (sweep.points.is_empty() && sweep.failed.is_empty()) || sweep.points.iter().any(|p| p.params.len() != sweep.axes.len()) {
            return Err(Error::format(path, "a sweep needs at least one axis and one point, each point with a value per axis"));
        }
        Ok(sweep)
    }

    /// A parameter value as shown: its label on a categorical axis, else the number.
    fn show(&self, axis: &str, value: f64) -> String {
        label_of(&self.labels, axis, value).unwrap_or_else(|| short(value))
    }

    /// Distinct parameter combinations in run order, with the `metric` of each seed.
    fn groups(&self, metric: &str) -> Vec<Group> {
        let mut groups: Vec<Group> = Vec::new();
        for p in &self.points {
            let v = p.record.final_metric(metric).unwrap_or(f64::NAN);
            match groups.iter_mut().find(|g| g.0 == p.params) {
                Some(g) => g.1.push(v),
                None => groups.push((p.params.clone(), vec![v])),
            }
        }
        groups
    }

    /// Mean ± std of a final metric per parameter combination (accuracies in %).
    pub fn table(&self, metric: &str) -> Table {
        let scale = if metric.ends_with("_acc") { 100.0 } else { 1.0 };
        let mut cols: Vec<&str> = self.axes.iter().map(|s| s.as_str()).collect();
        let head = format!("{metric} (mean ± std)");
        cols.extend([head.as_str(), "seeds"]);
        let mut t = Table::new(format!("Sweep over {}", self.axes.join(" × ")), &cols);
        for (params, values) in self.groups(metric) {
            let (m, s) = mean_std(&values);
            let mut row: Vec<String> = params.iter().map(|p| self.show(&p.0, p.1)).collect();
            row.push(crate::table::mean_pm(m * scale, s * scale, values.len()));
            row.push(values.len().to_string());
            t.push(row);
        }
        for f in &self.failed {
            let mut row: Vec<String> = f.params.iter().map(|p| self.show(&p.0, p.1)).collect();
            row.push(format!("failed (seed {}): {}", f.seed, crate::table::brief(&f.error)));
            row.push("0".into());
            t.push(row);
        }
        t
    }

    /// Line plot of a final metric against the first axis (one line per value of the second
    /// axis), error bars over seeds.
    /// A categorical first axis gives bars (mean ± std over seeds) instead of lines.
    pub fn plot(&self, metric: &str) -> Figure {
        let scale = if metric.ends_with("_acc") { 100.0 } else { 1.0 };
        if self.labels.iter().any(|l| l.0 == self.axes[0]) {
            let bars: Vec<plot::Bar> = self
                .groups(metric)
                .into_iter()
                .map(|(params, values)| {
                    let name = params.iter().map(|p| self.show(&p.0, p.1)).collect::<Vec<_>>().join(", ");
                    plot::Bar::from_values(name, &values.iter().map(|v| v * scale).collect::<Vec<_>>())
                })
                .collect();
            let y = plot::axis_title(metric);
            return plot::bars(&format!("{} by {}", plot::metric_words(metric), self.axes.join(" × ")), &y, &bars);
        }
        let mut series: Vec<Series> = Vec::new();
        for (params, values) in self.groups(metric) {
            let name = params.get(1).map(|p| format!("{} = {}", p.0, self.show(&p.0, p.1))).unwrap_or_else(|| plot::metric_words(metric));
            let (m, s) = mean_std(&values);
            let point = (params[0].1, m * scale, s * scale);
            match series.iter_mut().find(|x| x.name == name) {
                Some(x) => x.points.push(point),
                None => series.push(Series { name, points: vec![point] }),
            }
        }
        for s in &mut series {
            s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let xs: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
        let log_x = xs.iter().all(|&x| x > 0.0) && xs.iter().cloned().fold(0.0, f64::max) / xs.iter().cloned().fold(f64::INFINITY, f64::min) >= 20.0;
        let y = plot::axis_title(metric);
        plot::lines(&format!("{} vs {}", plot::metric_words(metric), self.axes[0]), &self.axes[0], &y, &series, log_x)
    }

    /// Records of every point (for curve plots).
    pub fn records(&self) -> Vec<&RunRecord> {
        self.points.iter().map(|p| &p.record).collect()
    }

    /// Plot of `test_acc` and its table, inline.
    pub fn evcxr_display(&self) {
        crate::notebook::Panel::new().figure(self.plot("test_acc")).table(self.table("test_acc")).evcxr_display();
    }
}

impl SweepSpec {
    /// Repeats every point for each seed (mean ± std in tables and plots).
    pub fn seeds(mut self, seeds: impl IntoIterator<Item = u64>) -> Self {
        self.seeds = seeds.into_iter().collect();
        self
    }
    /// Prints one line per finished point (on by default).
    pub fn verbose(mut self, on: bool) -> Self {
        self.verbose = on;
        self
    }

    /// Every point of the spec, first axis varying slowest, seeds fastest.
    pub fn points(&self) -> Vec<Point> {
        let mut combos: Vec<Vec<(String, f64)>> = vec![Vec::new()];
        for (name, values) in &self.axes {
            combos = combos.into_iter().flat_map(|c| values.iter().map(move |v| [c.clone(), vec![(name.clone(), *v)]].concat())).collect();
        }
        let labelled = |params: &[(String, f64)]| params.iter().filter_map(|(a, v)| label_of(&self.labels, a, *v).map(|l| (a.clone(), l))).collect::<Vec<_>>();
        combos.into_iter().flat_map(|params| self.seeds.iter().map(move |&seed| Point { labels: labelled(&params), params: params.clone(), seed })).collect()
    }

    /// How many other devices a point whose device died is retried on in [`SweepSpec::run_on`]
    /// (default 2).
    pub fn retries(mut self, retries: usize) -> Self {
        self.retries = retries;
        self
    }

    /// Checks the spec before running.
    fn check(&self) -> Result<()> {
        if let Some((name, _)) = self.axes.iter().find(|a| a.1.is_empty()) {
            return Err(Error::invalid(format!("sweep.{name}"), "[]", "needs at least one value"));
        }
        crate::error::ensure(!self.seeds.is_empty(), "sweep.seeds", "[]", "needs at least one seed")
    }

    /// The finished-point line a verbose sweep prints.
    fn progress(&self, i: usize, total: usize, p: &Point, run: &Run, on: Option<&Device>, start: std::time::Instant) -> String {
        let params: Vec<String> = p.params.iter().map(|(n, v)| format!("{n}={}", label_of(&self.labels, n, *v).unwrap_or_else(|| short(*v)))).collect();
        let on = on.map(|d| format!(" on {}", d.describe())).unwrap_or_default();
        format!("sweep {}: {} seed {}{on} → test_acc {:.2}%{}", super::progress_eta(start, i + 1, total), params.join(" "), p.seed, run.test_acc() * 100.0, run.provenance())
    }

    /// Runs `f(point, device)` at every point, concurrently over `devices` (one point per device
    /// at a time: local GPUs, remote `distillery serve` devices from [`DeviceExt::fleet`] …).
    /// The sweep is the one [`run_points`](SweepSpec::run_points) gives — same points, same
    /// order, same records for the same seeds. A point whose device dies is retried on another
    /// ([`retries`](SweepSpec::retries) times); one that still fails, or fails on its own, is
    /// listed in [`Sweep::failed`] and the rest go on.
    pub fn run_on(self, devices: &[Device], f: impl Fn(&Point, &Device) -> Result<Run> + Sync) -> Result<Sweep> {
        self.check()?;
        let points = self.points();
        let done = std::sync::atomic::AtomicUsize::new(0);
        let start = std::time::Instant::now();
        let outcomes = fanout::fan_out(&points, devices, self.retries, |p, device| {
            let run = f(p, device)?;
            if self.verbose {
                let i = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                println!("{}", self.progress(i, points.len(), p, &run, Some(device), start));
            }
            Ok(run.record)
        })?;
        let mut sweep = Sweep { axes: self.axes.iter().map(|a| a.0.clone()).collect(), points: Vec::new(), labels: self.labels, failed: Vec::new() };
        for (p, outcome) in points.into_iter().zip(outcomes) {
            match outcome {
                Outcome::Done { value, .. } => sweep.points.push(SweepPoint { params: p.params, seed: p.seed, record: value }),
                Outcome::Failed { error, .. } => sweep.failed.push(FailedPoint { params: p.params, seed: p.seed, error }),
            }
        }
        Ok(sweep)
    }

    /// Runs `f` at every point.
    pub fn run_points(self, mut f: impl FnMut(&Point) -> Result<Run>) -> Result<Sweep> {
        self.check()?;
        let points = self.points();
        let mut out = Vec::with_capacity(points.len());
        let start = std::time::Instant::now();
        let (mut failed, mut first_error) = (Vec::new(), None);
        for (i, p) in points.iter().enumerate() {
            match f(p) {
                Ok(run) => {
                    if self.verbose {
                        println!("{}", self.progress(i, points.len(), p, &run, None, start));
                    }
                    out.push(SweepPoint { params: p.params.clone(), seed: p.seed, record: run.record });
                }
                // a cancel stops the sweep; any other failure is that point's own
                Err(e @ Error::Cancelled { .. }) => return Err(e),
                Err(e) => {
                    println!("sweep: point {} of {} failed: {}", i + 1, points.len(), e.to_string().lines().next().unwrap_or_default());
                    failed.push(FailedPoint { params: p.params.clone(), seed: p.seed, error: e.to_string() });
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if out.is_empty() => Err(e), // nothing finished: the settings are at fault
            _ => Ok(Sweep { axes: self.axes.into_iter().map(|a| a.0).collect(), points: out, labels: self.labels, failed }),
        }
    }

    /// One categorical axis, seeds through [`Point::seed`]: `f(label, seed)`.
    pub fn run_labels(self, mut f: impl FnMut(&str, u64) -> Result<Run>) -> Result<Sweep> {
        self.run_points(|p| f(p.labels.first().map(|l| l.1.as_str()).unwrap_or_default(), p.seed))
    }
    /// One axis, one seed: `f(value)`.
    pub fn run(self, mut f: impl FnMut(f64) -> Result<Run>) -> Result<Sweep> {
        self.run_points(|p| f(p.x()))
    }
    /// One axis with seeds: `f(value, seed)`.
    pub fn run_seeded(self, mut f: impl FnMut(f64, u64) -> Result<Run>) -> Result<Sweep> {
        self.run_points(|p| f(p.x(), p.seed))
    }
    /// Two axes: `f(a, b)` (seeds through [`Point::seed`] with `run_points`).
    pub fn run_grid(self, mut f: impl FnMut(f64, f64) -> Result<Run>) -> Result<Sweep> {
        self.run_points(|p| f(p.x(), p.y()))
    }
}

/// A parameter combination and the final metric of each of its seeds.
type Group = (Vec<(String, f64)>, Vec<f64>);

/// The label of `value` on `axis` if the axis is categorical.
/// A parameter value as a reader wants it: as written when short (`0.15`, `64`), else four
/// significant digits (`0.01967`, `5.900e-3`), not `0.005899843010904095`.
fn short(value: f64) -> String {
    let plain = format!("{value}");
    if plain.len() <= 7 || !value.is_finite() {
        return plain;
    }
    let magnitude = value.abs().log10().floor();
    if (-2.0..4.0).contains(&magnitude) {
        let fixed = format!("{value:.*}", (3.0 - magnitude) as usize);
        // trailing zeros are only noise after a decimal point ("1000" keeps its zeros)
        if fixed.contains('.') { fixed.trim_end_matches('0').trim_end_matches('.').to_string() } else { fixed }
    } else {
        format!("{value:.3e}")
    }
}

fn label_of(labels: &[(String, Vec<String>)], axis: &str, value: f64) -> Option<String> {
    labels.iter().find(|l| l.0 == axis).and_then(|l| l.1.get(value as usize).cloned())
}

#[cfg(test)]
mod value_display {
    use super::short;

    #[test]
    fn parameter_values_print_short() {
        assert_eq!(short(0.15), "0.15");
        assert_eq!(short(64.0), "64");
        assert_eq!(short(0.0), "0");
        assert_eq!(short(0.019666143369680315), "0.01967");
        assert_eq!(short(0.005899843010904095), "5.900e-3");
        assert_eq!(short(1.0 / 3.0), "0.3333");
        assert_eq!(short(123456.789), "1.235e5");
        // four digits before the point: no decimals, and no zeros of the integer part trimmed
        assert_eq!(short(1000.123456), "1000");
        assert_eq!(short(-2500.0004), "-2500");
        assert_eq!(short(120.56789), "120.6");
    }
}
