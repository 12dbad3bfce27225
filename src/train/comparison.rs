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
use super::{Run, RunRecord};
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
}

impl PartialEq for Comparison {
    /// Equal results (networks are not compared).
    fn eq(&self, other: &Self) -> bool {
        (&self.title, &self.references, &self.rows) == (&other.title, &other.references, &other.rows)
    }
}

type Make<'a> = Box<dyn Fn(u64) -> Result<Run> + 'a>;

/// A comparison before it runs.
pub struct ComparisonSpec<'a> {
    title: String,
    seeds: Vec<u64>,
    references: Vec<(String, f64)>,
    methods: Vec<(String, Make<'a>)>,
    records: Option<PathBuf>,
    verbose: bool,
}

impl Comparison {
    /// Starts a comparison titled `title` (one seed, 0, until [`ComparisonSpec::seeds`]).
    pub fn of(title: impl Into<String>) -> ComparisonSpec<'static> {
        ComparisonSpec { title: title.into(), seeds: vec![0], references: Vec::new(), methods: Vec::new(), records: None, verbose: true }
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
            t.push(vec![row.label.clone(), format!("{m:.2} ± {s:.2}"), v.len().to_string(), v.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(", ")]);
        }
        t
    }

    /// Bars of the final `metric` (mean ± std over seeds), references last, so that every method
    /// has the same colour here as in [`Comparison::curves`].
    pub fn bars(&self, metric: &str) -> Figure {
        let scale = if metric.ends_with("_acc") { 100.0 } else { 1.0 };
        let mut bars: Vec<Bar> = self.rows.iter().map(|r| Bar::from_values(r.label.clone(), &r.values(metric).iter().map(|x| x * scale).collect::<Vec<_>>())).collect();
        bars.extend(self.references.iter().map(|(l, v)| Bar::new(l.clone(), v * scale, 0.0)));
        let y = if scale == 100.0 { format!("{metric} (%)") } else { metric.to_string() };
        plot::bars(&self.title, &y, &bars)
    }

    /// `metric` per epoch of every method's first seed, overlaid.
    pub fn curves(&self, metric: &str) -> Figure {
        let firsts: Vec<RunRecord> = self.rows.iter().filter_map(|r| r.records.first().cloned().map(|mut rec| {
            rec.name = r.label.clone();
            rec
        })).collect();
        plot::curves(&format!("{}: {metric} (seed {})", self.title, self.rows.first().and_then(|r| r.seeds.first()).unwrap_or(&0)), &[metric], &firsts.iter().collect::<Vec<_>>())
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
        if c.rows.is_empty() || c.rows.iter().any(|r| r.records.is_empty() || r.records.len() != r.seeds.len()) {
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
        let mut methods: Vec<(String, Make<'b>)> = self.methods.into_iter().map(|(l, m)| (l, m as Make<'b>)).collect();
        methods.push((label.into(), Box::new(make)));
        ComparisonSpec { title: self.title, seeds: self.seeds, references: self.references, methods, records: self.records, verbose: self.verbose }
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

    /// Runs every method for every seed, in order.
    pub fn run(self) -> Result<Comparison> {
        crate::error::ensure(!self.seeds.is_empty(), "comparison.seeds", "[]", "needs at least one seed")?;
        crate::error::ensure(!self.methods.is_empty(), "comparison.methods", "[]", "add a method with .method(label, |seed| …)")?;
        let mut rows = Vec::with_capacity(self.methods.len());
        let mut models = Vec::with_capacity(self.methods.len());
        for (label, make) in &self.methods {
            let mut records = Vec::with_capacity(self.seeds.len());
            let mut nets = Vec::with_capacity(self.seeds.len());
            for &seed in &self.seeds {
                let run = make(seed)?;
                if let Some(dir) = &self.records {
                    let stem: String = label.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
                    run.record.save(&dir.join(format!("{stem}-seed{seed}.json")))?;
                }
                if self.verbose {
                    println!("{label} seed {seed}: test_acc {:.2}%", run.test_acc() * 100.0);
                }
                records.push(run.record);
                nets.push(run.model);
            }
            rows.push(ComparisonRow { label: label.clone(), seeds: self.seeds.clone(), records });
            models.push(nets);
        }
        Ok(Comparison { title: self.title, references: self.references, rows, models })
    }
}
