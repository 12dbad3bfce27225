//! `distillery dsa`: the DSA paper's table at the profile's scale — random, herding, DC, DM and
//! DSA on MNIST and Fashion-MNIST at IPC 1 and 10, each set evaluated by fresh ConvNets, plus
//! cross-architecture evaluation of the DSA set. Every condensed set and every evaluation is
//! saved under `--out` and reused by a rerun with the same settings (`--fresh` redoes them).
use crate::data::{DataRoot, Dataset};
use crate::device::{Device, DeviceExt};
use crate::error::{Error, Result};
use crate::methods::condense::plots::{accuracy_bars, paper_numbers};
use crate::methods::condense::eval::EvalProtocol;
use crate::methods::condense::{Condense, Condensed, EvalConfig, Evaluation, Init, Algorithm};
use crate::methods::JobBuilder;
use crate::models::Arch;
use crate::profile::Profile;
use crate::table::Table;
use crate::train::record::write_atomic;
use std::path::PathBuf;
use std::sync::Mutex;

/// Settings of the DSA experiment (every CLI flag maps to a field).
#[derive(Clone, Debug)]
pub struct DsaExperiment {
    /// Run scale.
    pub profile: Profile,
    /// Where the datasets live.
    pub data_root: DataRoot,
    /// Datasets (`mnist`, `fashion-mnist`).
    pub datasets: Vec<String>,
    /// Images per class.
    pub ipcs: Vec<usize>,
    /// Methods, in table order.
    pub methods: Vec<Algorithm>,
    /// Outer iterations (default from the profile).
    pub iterations: Option<usize>,
    /// Initialisation of the learned sets (default: noise for DC, real for DSA and DM).
    pub init: Option<Init>,
    /// Evaluation networks per set.
    pub models: Option<usize>,
    /// Evaluation epochs.
    pub eval_epochs: Option<usize>,
    /// Each set by its own paper's protocol (default) or every set with DSA augmentation.
    pub protocol: EvalProtocol,
    /// Architectures for the cross-architecture evaluation of the DSA set (empty = skip).
    pub cross_archs: Vec<Arch>,
    /// IPC of the set evaluated across architectures (gpu 10; cpu 1, where ResNet-18 on 100
    /// images for hundreds of epochs would take most of an hour).
    pub cross_ipc: usize,
    /// Output folder.
    pub out: PathBuf,
    /// Seed.
    pub seed: u64,
    /// Redo saved sets and evaluations.
    pub fresh: bool,
    /// Devices the sets are condensed and evaluated on, one set per device at a time (e.g.
    /// [`DeviceExt::fleet`]); with fewer than two, every set
    /// is made on the device `run` is given, in table order.
    pub fleet: Vec<Device>,
}

/// One row of the results.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct DsaRow {
    /// The evaluation.
    pub eval: Evaluation,
    /// Seconds per outer iteration (0 for coresets).
    pub seconds_per_iteration: f64,
    /// Outer iterations run.
    pub iterations: usize,
}

impl DsaExperiment {
    /// Both datasets, IPC 1 and 10, all five methods, cross-architecture MLP / ConvNet /
    /// ResNet-18.
    pub fn new(profile: Profile) -> DsaExperiment {
        DsaExperiment {
            profile,
            data_root: DataRoot::resolve(None),
            datasets: vec!["mnist".into(), "fashion-mnist".into()],
            ipcs: vec![1, 10],
            methods: vec![Algorithm::Random, Algorithm::Herding, Algorithm::Dc, Algorithm::Dm, Algorithm::Dsa],
            iterations: None,
            init: None,
            models: None,
            eval_epochs: None,
            protocol: EvalProtocol::PerPaper,
            cross_archs: vec![Arch::mlp(128, 2), Arch::convnet(profile.width(128), 3), Arch::resnet18_in()],
            cross_ipc: if profile == Profile::Gpu { 10 } else { 1 },
            out: PathBuf::from("out/dsa"),
            seed: 0,
            fresh: false,
            fleet: Vec::new(),
        }
    }

    fn eval_config(&self) -> EvalConfig {
        let mut e = EvalConfig::for_profile(self.profile);
        e.seed = self.seed;
        if let Some(m) = self.models {
            e.models = m;
        }
        if let Some(n) = self.eval_epochs {
            e.epochs = n;
        }
        e.protocol = self.protocol;
        e
    }

    fn key(&self, parts: &impl serde::Serialize) -> String {
        crate::record::settings_digest(parts)
    }

    /// Condenses (or reloads, or resumes) one set, and says which: `read back`, `resumed after
    /// block k/10` (a run killed part-way), or `None` when condensed from the start.
    fn set(&self, data: &Dataset, method: Algorithm, ipc: usize, feature_net: &Mutex<Option<crate::models::Net>>, device: &Device) -> Result<(Condensed, Option<String>)> {
        // one line per set (printed by `run`), not one per tenth of its iterations
        let mut builder = Condense::method(method).ipc(ipc).profile(self.profile).seed(self.seed).verbose(false);
        if let Some(n) = self.iterations {
            builder = builder.iterations(n);
        }
        if let Some(init) = self.init {
            builder = builder.init(init);
        }
        let config = builder.to_config(self.profile, data.flippable);
        let dir = self.out.join("sets").join(format!("{}-{}-ipc{ipc}-{}", data.name, method.name(), self.key(&(&config, &data.name, data.train.len()))));
        if !self.fresh && dir.join("condensed.json").exists()
            && let Ok(set) = Condensed::load(&dir)
        {
            return Ok((set, Some("read back".into())));
        }
        if method == Algorithm::Herding {
            // one feature net per dataset, whichever IPC needs it first (it does not depend on
            // it); trained on a server, it comes home, so that a set on another server can use it
            let mut net = feature_net.lock().unwrap_or_else(|e| e.into_inner());
            if net.is_none() {
                let trained = crate::methods::condense::coreset::train_feature_net(data, &config, device)?;
                *net = Some(crate::train::fanout::bring_home(trained, device));
            }
            builder = builder.feature_net(net.clone().expect("just trained"));
        }
        let mut resumed = None;
        if method.learns() {
            // checkpointed every tenth of its iterations: a run killed part-way resumes there
            let ckpt = dir.join("ckpt");
            resumed = crate::train::checkpoint::latest(&ckpt)?.map(|(_, r)| format!("resumed after block {}/10", r.epochs.len()));
            builder = builder.checkpoint_dir(ckpt);
        }
        let set = builder.fit(data, device)?;
        set.save(&dir)?;
        Ok((set, resumed))
    }

    /// Evaluates (or reloads the evaluation of) one set.
    fn evaluate(&self, set: &Condensed, config: &EvalConfig, data: &Dataset, device: &Device) -> Result<Evaluation> {
        let path = self.out.join("evals").join(format!("{}-{}-ipc{}-{}.json", set.dataset, set.config.method.name(), set.config.ipc, self.key(&(config, &set.config))));
        if !self.fresh
            && let Ok(e) = Evaluation::load(&path)
        {
            return Ok(e);
        }
        let e = set.evaluate(config, data, device)?;
        e.save(&path)?;
        Ok(e)
    }

    /// Makes and evaluates one set (and, for the DSA set at `cross_ipc` on the first dataset,
    /// its cross-architecture evaluation), prints its line, saves its evolution figure.
    fn point(&self, point: &Point, data: &Dataset, feature_net: &Mutex<Option<crate::models::Net>>, progress: &Progress, device: &Device) -> Result<Made> {
        let eval_config = self.eval_config();
        let (set, how) = self.set(data, point.method, point.ipc, feature_net, device)?;
        let eval = self.evaluate(&set, &eval_config, data, device)?;
        let how = match how {
            Some(h) if h == "read back" => h,
            Some(h) => format!("{h}, {:.2} s/iteration", set.record.seconds_per_iteration()),
            None => format!("{:.2} s/iteration", set.record.seconds_per_iteration()),
        };
        let on = if self.fleet.len() > 1 { format!(" on {}", device.describe()) } else { String::new() };
        println!("{}", progress.line(&eval.summary(), &format!("[{how}]{on}")));
        let cross = if point.method == Algorithm::Dsa && point.dataset == 0 && point.ipc == self.cross_ipc && !self.cross_archs.is_empty() {
            let c = self.evaluate(&set, &eval_config.clone().archs(self.cross_archs.clone()), data, device)?;
            c.plot_archs().save_svg(self.out.join(format!("dsa-cross-arch-{}-ipc{}.svg", data.name, point.ipc)))?;
            Some(c)
        } else {
            None
        };
        if point.method.learns() {
            set.plot_evolution().save_svg(self.out.join(format!("{}-{}-ipc{}.svg", data.name, point.method.name(), point.ipc)))?;
        }
        Ok(Made { row: DsaRow { eval, seconds_per_iteration: set.record.seconds_per_iteration(), iterations: set.record.losses.len() }, set, cross })
    }

    /// Runs everything; returns the rows (dataset, ipc, method order), the sets and the
    /// cross-architecture evaluation, and writes `summary.md`, `results.json` and the figures.
    /// With a [`fleet`](Self::fleet) of several devices the sets are made concurrently, one per
    /// device (a set whose server dies goes to another); the table is the same.
    pub fn run(&self, device: &Device) -> Result<DsaReport> {
        let mut data = Vec::new();
        for name in &self.datasets {
            let d = Dataset::load(name, &self.data_root, &self.profile)?;
            println!("{}", d.describe());
            data.push(d);
        }
        let points: Vec<Point> = (0..data.len()).flat_map(|d| self.ipcs.iter().flat_map(move |&ipc| self.methods.iter().map(move |&method| Point { dataset: d, ipc, method }))).collect();
        let feature_nets: Vec<Mutex<Option<crate::models::Net>>> = data.iter().map(|_| Mutex::new(None)).collect();
        let progress = Progress::new(points.len());
        let made: Vec<Made> = if self.fleet.len() > 1 {
            let outcomes = crate::train::fanout::fan_out(&points, &self.fleet, crate::train::sweep::DEFAULT_RETRIES, |p, device| self.point(p, &data[p.dataset], &feature_nets[p.dataset], &progress, device))?;
            let mut made = Vec::new();
            for (p, outcome) in points.iter().zip(outcomes) {
                match outcome {
                    crate::train::fanout::Outcome::Done { value, .. } => made.push(value),
                    crate::train::fanout::Outcome::Failed { error, .. } => return Err(Error::invalid(format!("set {} {} ipc {}", data[p.dataset].name, p.method.name(), p.ipc), "failed on every device", error)),
                }
            }
            made
        } else {
            points.iter().map(|p| self.point(p, &data[p.dataset], &feature_nets[p.dataset], &progress, device)).collect::<Result<_>>()?
        };
        let mut rows = Vec::new();
        let mut sets = Vec::new();
        let mut cross = None;
        for m in made {
            rows.push(m.row);
            sets.push(m.set);
            cross = cross.or(m.cross);
        }
        for d in &data {
            for &ipc in &self.ipcs {
                let evals: Vec<&Evaluation> = rows.iter().map(|r| &r.eval).filter(|e| e.dataset == d.name && e.ipc == ipc).collect();
                accuracy_bars(&format!("{} ipc {ipc} ({} profile)", d.name, self.profile), &evals, &paper_numbers(&d.name, ipc)).save_svg(self.out.join(format!("dsa-bars-{}-ipc{ipc}.svg", d.name)))?;
            }
        }
        let table = results_table(&rows, self.profile);
        let mut summary = table.markdown();
        if let Some(c) = &cross {
            summary.push('\n');
            summary.push_str(&c.table().markdown());
        }
        write_atomic(&self.out.join("summary.md"), summary.as_bytes())?;
        let json = serde_json::to_vec_pretty(&(&rows, &cross)).map_err(|e| Error::format(self.out.join("results.json"), e.to_string()))?;
        write_atomic(&self.out.join("results.json"), &json)?;
        Ok(DsaReport { rows, sets, cross, profile: self.profile })
    }
}

/// One set of the table: which dataset (an index into the loaded ones), IPC and method.
struct Point {
    dataset: usize,
    ipc: usize,
    method: Algorithm,
}

/// What one [`Point`] made.
struct Made {
    row: DsaRow,
    set: Condensed,
    cross: Option<Evaluation>,
}

/// The `set k/n: … ETA` lines, counted as sets finish (in any order when fanned out).
struct Progress {
    total: usize,
    done: std::sync::atomic::AtomicUsize,
    started: std::time::Instant,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress { total, done: 0.into(), started: std::time::Instant::now() }
    }
    /// The line of the next finished set.
    fn line(&self, summary: &str, how: &str) -> String {
        let done = self.done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let elapsed = self.started.elapsed().as_secs_f64();
        let eta = crate::train::fmt_duration(elapsed / done as f64 * self.total.saturating_sub(done) as f64);
        format!("set {done}/{}: {summary}  {how}  ETA {eta}", self.total)
    }
}

/// What [`DsaExperiment::run`] produced: one row and one set per (dataset, ipc, method).
#[derive(Clone, Debug)]
pub struct DsaReport {
    /// The evaluations, in run order.
    pub rows: Vec<DsaRow>,
    /// The condensed (or selected) sets, in the same order.
    pub sets: Vec<Condensed>,
    /// The cross-architecture evaluation of the DSA set, if asked for.
    pub cross: Option<Evaluation>,
    /// The profile it ran at.
    pub profile: Profile,
}

impl DsaReport {
    /// The results table (ours next to the paper's numbers).
    pub fn table(&self) -> Table {
        results_table(&self.rows, self.profile)
    }
    /// The set of `method` at `ipc` on `dataset`.
    pub fn set(&self, dataset: &str, method: Algorithm, ipc: usize) -> Option<&Condensed> {
        self.sets.iter().find(|s| s.dataset == dataset && s.config.method == method && s.config.ipc == ipc)
    }
    /// Accuracy bars of every method at `ipc` on `dataset`, with the paper's numbers as ticks.
    pub fn bars(&self, dataset: &str, ipc: usize) -> crate::plot::Figure {
        let evals: Vec<&Evaluation> = self.rows.iter().map(|r| &r.eval).filter(|e| e.dataset == dataset && e.ipc == ipc).collect();
        accuracy_bars(&format!("{dataset}, ipc {ipc} ({} profile)", self.profile), &evals, &paper_numbers(dataset, ipc))
    }
    /// Bars for every (dataset, ipc) and the table, inline.
    pub fn evcxr_display(&self) {
        let mut seen: Vec<(String, usize)> = Vec::new();
        for r in &self.rows {
            let key = (r.eval.dataset.clone(), r.eval.ipc);
            if !seen.contains(&key) {
                seen.push(key);
            }
        }
        let panel = seen.iter().fold(crate::notebook::Panel::new(), |p, (d, ipc)| p.figure(self.bars(d, *ipc)));
        panel.table(self.table()).evcxr_display();
    }
}

/// The results table: ours (mean ± std over evaluation models) next to the paper's number.
pub fn results_table(rows: &[DsaRow], profile: Profile) -> Table {
    let mut t = Table::new(format!("Dataset condensation, ConvNet evaluation ({profile} profile)"), &["dataset", "ipc", "method", "ours (%)", "paper (%)", "evaluated with", "s / outer iteration", "iterations"]);
    for r in rows {
        let (m, s) = r.eval.mean_std(0);
        let paper = paper_numbers(&r.eval.dataset, r.eval.ipc).into_iter().find(|(k, _)| *k == r.eval.method).map_or("–".to_string(), |(_, v)| format!("{v:.1}"));
        let time = if r.iterations > 0 { format!("{:.2}", r.seconds_per_iteration) } else { "–".into() };
        let protocol = if r.eval.protocol.is_empty() { "DSA aug".to_string() } else { r.eval.protocol.clone() };
        t.push(vec![r.eval.dataset.clone(), r.eval.ipc.to_string(), r.eval.method.clone(), crate::table::mean_pm(m, s, r.eval.results[0].1.len()), paper, protocol, time, r.iterations.to_string()]);
    }
    t
}
