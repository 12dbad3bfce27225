//! Dataset condensation: learn `ipc` images per class such that a network trained from scratch on
//! them generalises like one trained on the real set.
//!
//! - [`dc`]: gradient matching (DC, Zhao et al. ICLR 2021) and DSA (DC + differentiable siamese
//!   augmentation, Zhao & Bilen ICML 2021), one outer/inner loop for both;
//! - [`dm`]: distribution matching (the cheap, first-order baseline);
//! - [`coreset`]: random and herding selections;
//! - [`eval`]: the evaluation protocol (fresh networks trained on the condensed set, per-image DSA
//!   augmentation, cross-architecture);
//! - [`dsa_aug`], [`matching`]: the augmentation family and the matching objectives.
//!
//! ```no_run
//! # use distillery::prelude::*;
//! # use distillery::methods::condense::{Condense, Init, EvalConfig};
//! # fn main() -> distillery::Result<()> {
//! # let device = Device::auto(); let profile = Profile::Smoke;
//! # let data = Dataset::mnist(&DataRoot::resolve(None), &profile)?;
//! let set = Condense::dsa().ipc(10).profile(profile).init(Init::Real).fit(&data, &device)?;
//! let eval = set.evaluate(&EvalConfig::for_profile(profile), &data, &device)?;
//! # Ok(()) }
//! ```
pub mod coreset;
pub mod dc;
pub mod dc_aug;
pub mod dm;
pub mod dsa_aug;
pub mod eval;
pub mod io;
pub mod matching;
pub mod plots;
pub mod run;

pub use dsa_aug::{Draw, Family, Strategy};
pub use eval::{EvalConfig, Evaluation};

use crate::data::{Dataset, Split};
use crate::methods::{JobBuilder, RunOptions};
use crate::record::RunRecord;
use crate::train::Job;
use burn::module::Module;
use std::sync::{Arc, Mutex};
use crate::error::{Error, Result};
use crate::profile::Profile;
use crate::rng::Rng;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Which condensation (or selection) algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    /// `ipc` random real images per class.
    Random,
    /// Herding: greedy selection whose feature mean tracks the class mean.
    Herding,
    /// Gradient matching without augmentation.
    Dc,
    /// Gradient matching with differentiable siamese augmentation.
    Dsa,
    /// Distribution matching with siamese augmentation.
    Dm,
}

impl Algorithm {
    /// Lower-case name.
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::Random => "random",
            Algorithm::Herding => "herding",
            Algorithm::Dc => "DC",
            Algorithm::Dsa => "DSA",
            Algorithm::Dm => "DM",
        }
    }
    /// Whether the method learns pixels (rather than selecting real images).
    pub fn learns(&self) -> bool {
        matches!(self, Algorithm::Dc | Algorithm::Dsa | Algorithm::Dm)
    }
}

/// How synthetic images start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Init {
    /// Random real images of the class (the DSA/DM default).
    Real,
    /// Standard normal noise in normalised space (the DC default).
    Noise,
}

/// The settings of one condensation, resolved from the builder and the profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CondenseConfig {
    /// Method.
    pub method: Algorithm,
    /// Images per class.
    pub ipc: usize,
    /// Outer iterations (a fresh network each).
    pub iterations: usize,
    /// Matching steps per iteration (official `outer_loop`).
    pub outer_loop: usize,
    /// Network-training epochs on S between matching steps (official `inner_loop`).
    pub inner_loop: usize,
    /// DSA strategy string (`none` for DC).
    pub strategy: String,
    /// Synthetic initialisation.
    pub init: Init,
    /// Learning rate of the images (SGD, momentum 0.5).
    pub lr_img: f64,
    /// Learning rate of the network in the inner loop (plain SGD).
    pub lr_net: f64,
    /// Real images per class per matching step.
    pub batch_real: usize,
    /// ConvNet width (paper 128).
    pub width: usize,
    /// ConvNet depth (paper 3).
    pub depth: usize,
    /// Seed.
    pub seed: u64,
    /// Profile the defaults came from.
    pub profile: Profile,
}

/// Official (outer_loop, inner_loop) by IPC (`utils.py::get_loops`).
pub fn official_loops(ipc: usize) -> (usize, usize) {
    match ipc {
        1 => (1, 1),
        10 => (10, 50),
        20 => (20, 25),
        30 => (30, 20),
        40 => (40, 15),
        50 => (50, 10),
        _ => (ipc.clamp(1, 50), 10),
    }
}

/// Builder of a condensation run (`Condense::dsa().ipc(10)...fit(&data, &device)`). Name,
/// seed, profile (which sizes the defaults), checkpoints, record and cancellation are
/// [`JobBuilder`]'s setters, as on every builder; a condensation has no training recipe, so it
/// is not a [`RunBuilder`](crate::methods::RunBuilder).
#[derive(Clone, Debug)]
pub struct Condense {
    method: Algorithm,
    ipc: usize,
    iterations: Option<usize>,
    loops: Option<(usize, usize)>,
    strategy: Option<Strategy>,
    init: Option<Init>,
    lr_img: Option<f64>,
    lr_net: f64,
    batch_real: Option<usize>,
    width: Option<usize>,
    feature_net: Option<crate::models::Net>,
    options: RunOptions,
}

impl JobBuilder for Condense {
    fn options(&mut self) -> &mut RunOptions {
        &mut self.options
    }
}

impl Condense {
    fn new(method: Algorithm) -> Condense {
        Condense {
            method,
            ipc: 1,
            iterations: None,
            loops: None,
            strategy: None,
            init: None,
            lr_img: None,
            lr_net: 0.01,
            batch_real: None,
            width: None,
            feature_net: None,
            options: RunOptions::default(),
        }
    }
    /// Gradient matching (DC): noise init, no augmentation, lr_img 0.1.
    pub fn dc() -> Condense {
        Condense::new(Algorithm::Dc)
    }
    /// DSA: gradient matching with siamese augmentation, real init, lr_img 0.1.
    pub fn dsa() -> Condense {
        Condense::new(Algorithm::Dsa)
    }
    /// Distribution matching (DM): real init, siamese augmentation, lr_img 1.0.
    pub fn dm() -> Condense {
        Condense::new(Algorithm::Dm)
    }
    /// Random real images.
    pub fn random() -> Condense {
        Condense::new(Algorithm::Random)
    }
    /// Herding selection.
    pub fn herding() -> Condense {
        Condense::new(Algorithm::Herding)
    }
    /// A builder for `method`.
    pub fn method(method: Algorithm) -> Condense {
        Condense::new(method)
    }
    /// Images per class (1, 10, 50 in the paper).
    pub fn ipc(mut self, ipc: usize) -> Self {
        self.ipc = ipc;
        self
    }
    /// Outer iterations (paper: 1000 for DC/DSA, 20000 for DM).
    pub fn iterations(mut self, n: usize) -> Self {
        self.iterations = Some(n);
        self
    }
    /// (outer_loop, inner_loop); default [`official_loops`] (scaled down on the cpu profile).
    pub fn loops(mut self, outer: usize, inner: usize) -> Self {
        self.loops = Some((outer, inner));
        self
    }
    /// DSA augmentation strategy (default: the paper's for the dataset; parse a string with
    /// [`Strategy::parse`], e.g. `"color_crop_cutout_flip_scale_rotate"`).
    pub fn strategy(mut self, s: Strategy) -> Self {
        self.strategy = Some(s);
        self
    }
    /// Synthetic initialisation.
    pub fn init(mut self, init: Init) -> Self {
        self.init = Some(init);
        self
    }
    /// Learning rate of the synthetic images.
    pub fn lr_img(mut self, lr: f64) -> Self {
        self.lr_img = Some(lr);
        self
    }
    /// Learning rate of the inner-loop network.
    pub fn lr_net(mut self, lr: f64) -> Self {
        self.lr_net = lr;
        self
    }
    /// Real images per class per matching step (paper 256).
    pub fn batch_real(mut self, n: usize) -> Self {
        self.batch_real = Some(n);
        self
    }
    /// ConvNet width used for matching (paper 128).
    pub fn width(mut self, width: usize) -> Self {
        self.width = Some(width);
        self
    }
    /// The former name of [`stop_after_steps`](Self::stop_after_steps).
    #[deprecated(note = "use stop_after_steps (JobBuilder), the name every builder uses")]
    pub fn stop_after_iterations(self, n: usize) -> Self {
        JobBuilder::stop_after_steps(self, n)
    }
    /// Starts the condensation on a background thread and returns at once (progress lines off).
    pub fn spawn(mut self, data: &Dataset, device: &Device) -> Job<Condensed> {
        let name = self.options.name.clone().unwrap_or_else(|| self.method.name().to_string());
        let live = Arc::new(Mutex::new(RunRecord::new(&name, self.method.name(), serde_json::json!({}), String::new(), data.describe(), String::new())));
        let cancel = crate::train::CancelToken::default();
        self.options.train.verbose = false;
        self.options.live = Some(live.clone());
        self.options.cancel = Some(cancel.clone());
        let (data, device) = (data.clone(), device.clone());
        Job::start(name, live, cancel, move || self.fit(&data, &device))
    }
    /// Herding's feature extractor (default: a ConvNet trained briefly on the real set).
    pub fn feature_net(mut self, net: crate::models::Net) -> Self {
        self.feature_net = Some(net);
        self
    }

    /// Condenses, then evaluates the set with `eval`, as one [`Run`](crate::train::Run): its
    /// record is the condensation's (per-block matching loss; empty for coresets) with the
    /// evaluation as final metrics — `test_acc` (mean over the headline architecture's networks,
    /// in [0, 1]), `test_acc_std` and `<arch>_acc` for every architecture — and its model is the
    /// first network trained on the set. This makes condensation a sweep axis or a
    /// [`Comparison`](crate::train::Comparison) method like any other.
    pub fn fit_evaluated(self, eval: &EvalConfig, data: &Dataset, device: &Device) -> Result<crate::train::Run> {
        // the record file follows the condensation block by block, then gets the evaluation
        let record_path = self.options.record_path.clone();
        let set = self.fit(data, device)?;
        let (evaluation, net) = eval::evaluate_keeping_first(&set, eval, data, device)?;
        let mut record = set.run.clone().unwrap_or_else(|| RunRecord::new(set.config.method.name(), set.config.method.name(), serde_json::to_value(&set.config).expect("config serialises"), String::new(), data.describe(), set.config.profile.name().into()));
        let (mean, std) = evaluation.mean_std(0);
        record.final_metrics = std::collections::BTreeMap::from([("test_acc".to_string(), mean / 100.0), ("test_acc_std".to_string(), std / 100.0)]);
        for (i, (arch, _)) in evaluation.results.iter().enumerate() {
            record.final_metrics.insert(format!("{arch}_acc"), evaluation.mean_std(i).0 / 100.0);
        }
        record.status = crate::record::Status::Completed;
        if let Some(path) = record_path {
            record.save(&path)?;
        }
        Ok(crate::train::Run::new(record, vec![(format!("{} on {}", evaluation.results[0].0, set.label()), net)]))
    }

    /// The settings this builder resolves to on `profile` (`.config(…)` is only ever a setter).
    pub fn to_config(&self, profile: Profile, flippable: bool) -> CondenseConfig {
        let m = self.method;
        let paper_iterations = if m == Algorithm::Dm { 20_000 } else { 1000 };
        let iterations = self.iterations.unwrap_or(match profile {
            Profile::Gpu => paper_iterations,
            Profile::Cpu => match (m, self.ipc) {
                (Algorithm::Dm, _) => 200,
                (_, 1) => 60,
                _ => 10,
            },
            Profile::Smoke => 2,
        });
        let (outer, inner) = official_loops(self.ipc);
        let loops = self.loops.unwrap_or(match profile {
            Profile::Gpu => (outer, inner),
            Profile::Cpu => (outer.min(5), inner.min(10)),
            Profile::Smoke => (outer.min(2), inner.min(2)),
        });
        let strategy = match (m, &self.strategy) {
            (Algorithm::Dc, None) => Strategy::none().to_string(),
            (_, Some(s)) => s.to_string(),
            (_, None) => Strategy::for_data(flippable).to_string(),
        };
        CondenseConfig {
            method: m,
            ipc: self.ipc,
            iterations,
            outer_loop: loops.0,
            inner_loop: loops.1,
            strategy,
            init: self.init.unwrap_or(if m == Algorithm::Dc { Init::Noise } else { Init::Real }),
            lr_img: self.lr_img.unwrap_or(if m == Algorithm::Dm { 1.0 } else { 0.1 }),
            lr_net: self.lr_net,
            batch_real: self.batch_real.unwrap_or(profile.batch(256)),
            width: self.width.unwrap_or(profile.width(128)),
            depth: 3,
            seed: self.options.train.seed,
            profile,
        }
    }

    /// Condenses (or selects from) `data`'s training split.
    pub fn fit(self, data: &Dataset, device: &Device) -> Result<Condensed> {
        let profile = match self.options.profile {
            Some(p) => p,
            None => Profile::from_env(device)?,
        };
        let config = self.to_config(profile, data.flippable);
        let strategy = Strategy::parse(&config.strategy)?;
        if let Some(w) = strategy.warning_for(&data.name, data.flippable) {
            eprintln!("distillery: warning: {w}");
        }
        validate(&config, data)?;
        let real = RealImages::new(data, device)?;
        let (images, record, run) = match config.method {
            Algorithm::Random => (coreset::random(&real, config.ipc, config.seed), CondenseRecord::default(), None),
            Algorithm::Herding => {
                let net = match self.feature_net {
                    Some(n) => {
                        let plain = crate::train::devices(device).0;
                        let n = n.to_device(&plain);
                        n.check_fits("feature_net", data.shape(), data.num_classes(), &plain)?;
                        n
                    }
                    None => coreset::train_feature_net(data, &config, device)?,
                };
                (coreset::herding(&real, &net, config.ipc), CondenseRecord::default(), None)
            }
            Algorithm::Dc | Algorithm::Dsa | Algorithm::Dm => {
                let mut options = self.options.clone();
                let (epochs, _) = run::blocks(config.iterations);
                options.train = options.train.with_epochs(epochs).with_seed(config.seed).with_lr(config.lr_img).with_schedule(crate::train::Schedule::Constant);
                options.profile = Some(profile);
                let mut method = run::Condensation::new(real, config.clone(), strategy);
                let identity = serde_json::to_value(&config).expect("config serialises");
                let run = options.trainer(config.method.name()).fit(&mut method, identity, data, device)?;
                (method.images(), method.into_record(), Some(run))
            }
        };
        let [c, h, w] = data.shape();
        let n = config.ipc * data.num_classes();
        Ok(Condensed {
            dataset: data.name.clone(),
            classes: data.classes.clone(),
            shape: [n, c, h, w],
            labels: (0..n).map(|i| i / config.ipc).collect(),
            images: images.into_data().try_to_vec::<f32>().map_err(|e| Error::invalid("images", format!("{e:?}"), "not f32"))?,
            mean: data.mean.clone(),
            std: data.std.clone(),
            flippable: data.flippable,
            config,
            record,
            run,
        })
    }
}

fn validate(config: &CondenseConfig, data: &Dataset) -> Result<()> {
    if config.ipc == 0 {
        return Err(Error::invalid("ipc", 0, "must be at least 1"));
    }
    for (class, idx) in data.train.by_class(data.num_classes()).iter().enumerate() {
        if idx.is_empty() {
            return Err(Error::invalid(format!("{}.train.class[{class}]", data.name), 0, "class has no images"));
        }
        if idx.len() < config.ipc {
            return Err(Error::invalid(
                "ipc",
                config.ipc,
                format!("class {class} ({}) of {} has only {} training images", data.classes[class], data.name, idx.len()),
            ));
        }
    }
    if config.method.learns() {
        for (field, v) in [("lr_img", config.lr_img), ("lr_net", config.lr_net)] {
            if v.is_nan() || v <= 0.0 || !v.is_finite() {
                return Err(Error::invalid(field, v, "must be a positive number"));
            }
        }
        for (field, v) in [("iterations", config.iterations), ("outer_loop", config.outer_loop), ("batch_real", config.batch_real), ("width", config.width)] {
            if v == 0 {
                return Err(Error::invalid(field, 0, "must be at least 1"));
            }
        }
    }
    Ok(())
}

/// The real training images, normalised, grouped by class on the plain device.
pub struct RealImages {
    /// `[n_c, C, H, W]` per class.
    pub by_class: Vec<Tensor<4>>,
    /// `[C, H, W]`.
    pub shape: [usize; 3],
    /// The plain device.
    pub device: Device,
}

impl RealImages {
    /// Normalises `data.train` with the dataset's statistics.
    pub fn new(data: &Dataset, device: &Device) -> Result<RealImages> {
        let (plain, _) = crate::train::devices(device);
        let classes = data.num_classes();
        let by_class = data
            .train
            .by_class(classes)
            .iter()
            .enumerate()
            .map(|(c, idx)| {
                if idx.is_empty() {
                    return Err(Error::invalid(format!("{}.train.class[{c}]", data.name), 0, "class has no images"));
                }
                Ok(normalised(&data.train.select(idx), &data.mean, &data.std, &plain))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RealImages { by_class, shape: data.shape(), device: plain })
    }
    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.by_class.len()
    }
    /// `n` random images of `class` (without replacement while the class has enough).
    pub fn sample(&self, class: usize, n: usize, rng: &mut Rng) -> Tensor<4> {
        let total = self.by_class[class].dims()[0];
        let mut idx: Vec<usize> = (0..total).collect();
        rng.shuffle(&mut idx);
        let chosen: Vec<i64> = (0..n).map(|i| idx[i % total] as i64).collect();
        self.pick(class, &chosen)
    }
    /// The images of `class` at `indices`.
    pub fn pick(&self, class: usize, indices: &[i64]) -> Tensor<4> {
        let idx = Tensor::<1, Int>::from_data(TensorData::new(indices.to_vec(), [indices.len()]), &self.device);
        self.by_class[class].clone().select(0, idx)
    }
}

/// u8 images → `(x/255 − mean_c) / std_c` as `[N, C, H, W]`.
pub fn normalised(split: &Split, mean: &[f32], std: &[f32], device: &Device) -> Tensor<4> {
    let [c, h, w] = split.shape;
    let per = split.image_len();
    let mut v = vec![0f32; split.len() * per];
    for (i, dst) in v.chunks_mut(per).enumerate() {
        crate::data::normalise_image(split.image(i), h * w, mean, std, dst);
    }
    Tensor::from_data(TensorData::new(v, [split.len(), c, h, w]), device)
}

/// What a condensation run recorded.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CondenseRecord {
    /// Mean matching loss per iteration (per class and matching step, as the official log).
    pub losses: Vec<f64>,
    /// Wall-clock seconds of each iteration.
    pub seconds: Vec<f64>,
    /// Iterations at which the images were kept (0 = the initialisation).
    pub snapshot_iterations: Vec<usize>,
    /// The images at those iterations, each `[n, C, H, W]` flattened.
    #[serde(skip)]
    pub snapshots: Vec<Vec<f32>>,
}

impl CondenseRecord {
    /// Median seconds of one outer iteration.
    pub fn seconds_per_iteration(&self) -> f64 {
        let mut s = self.seconds.clone();
        if s.is_empty() {
            return 0.0;
        }
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    }
}

/// A condensed (or selected) set: `ipc` normalised images per class, in class order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Condensed {
    /// The settings used.
    pub config: CondenseConfig,
    /// Source dataset name.
    pub dataset: String,
    /// Class names.
    pub classes: Vec<String>,
    /// `[n, C, H, W]`.
    pub shape: [usize; 4],
    /// Labels, `ipc` per class in order.
    pub labels: Vec<usize>,
    /// Normalised pixels (stored in `images.npy`).
    #[serde(skip)]
    pub images: Vec<f32>,
    /// Normalisation mean per channel.
    pub mean: Vec<f32>,
    /// Normalisation std per channel.
    pub std: Vec<f32>,
    /// Whether the source dataset tolerates flips.
    pub flippable: bool,
    /// Losses, timings, snapshots.
    pub record: CondenseRecord,
    /// The trainer's record of a learned set (per-block loss, time, checkpoints); `None` for
    /// coresets.
    #[serde(default)]
    pub run: Option<RunRecord>,
}

impl Condensed {
    /// Short label such as `DSA ipc10`.
    pub fn label(&self) -> String {
        format!("{} ipc{}", self.config.method.name(), self.config.ipc)
    }
    /// The images as a tensor on `device`.
    pub fn tensor(&self, device: &Device) -> Tensor<4> {
        Tensor::from_data(TensorData::new(self.images.clone(), self.shape), device)
    }
    /// Pixels mapped back to [0, 1] (for pictures).
    pub fn denormalised(&self, images: &[f32]) -> Vec<f32> {
        let [_, c, h, w] = self.shape;
        images.iter().enumerate().map(|(i, &v)| (v * self.std[(i / (h * w)) % c] + self.mean[(i / (h * w)) % c]).clamp(0.0, 1.0)).collect()
    }
    /// Trains fresh networks on the set and tests them on `data.test` (see [`eval`]).
    pub fn evaluate(&self, config: &EvalConfig, data: &Dataset, device: &Device) -> Result<Evaluation> {
        eval::evaluate(self, config, data, device)
    }

    /// The set as it was at each kept snapshot (initialisation, each quarter of the iterations),
    /// each evaluated like [`Condensed::evaluate`]: how test accuracy grows with the outer
    /// iterations. A set without snapshots (random, herding) gives its one evaluation.
    pub fn evaluate_snapshots(&self, config: &EvalConfig, data: &Dataset, device: &Device) -> Result<Vec<(usize, Evaluation)>> {
        if self.record.snapshots.is_empty() {
            return Ok(vec![(0, self.evaluate(config, data, device)?)]);
        }
        let mut out = Vec::with_capacity(self.record.snapshots.len());
        for (images, &it) in self.record.snapshots.iter().zip(&self.record.snapshot_iterations) {
            let mut at = self.clone();
            at.images = images.clone();
            at.record.snapshots.clear();
            out.push((it, at.evaluate(config, data, device)?));
        }
        Ok(out)
    }
}
