//! The evaluation protocol (official `utils.py::evaluate_synset`): train a fresh network on the
//! condensed set with SGD (momentum 0.9, weight decay 5e-4, lr 0.01 divided by 10 after half the
//! epochs, batch 256) and per-image augmentation, then test it on the real test split; repeat
//! for several seeds and architectures (cross-architecture generalisation).
//!
//! Which augmentation and how many epochs depends on the [`EvalProtocol`]: by default each set by
//! its own paper's protocol (official `main.py`: DSA sets with DSA augmentation for 1000 epochs;
//! DC sets with `get_daparam`'s augmentation, crop/scale/rotate on MNIST for 1000 epochs and none
//! elsewhere for 300; DM's `main_DM.py` as DSA), or every set with DSA augmentation.
use super::dsa_aug::Strategy;
use super::Condensed;
use crate::data::{Dataset, Loader};
use crate::error::{Error, Result};
use crate::losses;
use crate::models::{Arch, Net, Staged};
use crate::plot::{bars, Bar, Figure};
use crate::profile::Profile;
use crate::rng::Rng;
use crate::table::Table;
use crate::train::{devices, evaluate_net, TrainConfig};
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// How condensed sets are evaluated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Architectures to train on the set (the first is the headline, normally the ConvNet).
    pub archs: Vec<Arch>,
    /// Networks per architecture (different seeds).
    pub models: usize,
    /// Training epochs (paper 1000; the official DC code 300).
    pub epochs: usize,
    /// Initial learning rate.
    pub lr: f64,
    /// Batch size.
    pub batch: usize,
    /// DSA strategy for per-image augmentation (`None`: the paper's strategy for the dataset).
    pub strategy: Option<String>,
    /// Base seed.
    pub seed: u64,
    /// Per paper (default) or DSA augmentation for every set.
    #[serde(default)]
    pub protocol: EvalProtocol,
}

/// How each set is evaluated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EvalProtocol {
    /// Each set by its own paper's protocol: DSA and DM sets with DSA augmentation for
    /// `epochs`; DC, random and herding sets (the DC paper's rows) with the DC code's
    /// augmentation ([`super::dc_aug`]: MNIST only) for `epochs`, or without augmentation for
    /// 0.3 × `epochs` where it has none (the official 300 vs 1000).
    #[default]
    PerPaper,
    /// Every set with DSA augmentation for `epochs`: one protocol, the fairest comparison.
    DsaAug,
}

/// The augmentation one evaluation trains with.
#[derive(Clone, Debug, PartialEq)]
pub enum EvalAugment {
    /// Per-image DSA draws of a strategy.
    Dsa(Strategy),
    /// The DC code's crop/scale/rotate ([`super::dc_aug`]).
    Dc,
    /// None.
    None,
}

impl EvalAugment {
    /// A short description for tables: `DSA aug`, `DC aug`, `no aug`.
    pub fn describe(&self) -> String {
        match self {
            EvalAugment::Dsa(s) if s.is_none() => "no aug".into(),
            EvalAugment::Dsa(_) => "DSA aug".into(),
            EvalAugment::Dc => "DC aug".into(),
            EvalAugment::None => "no aug".into(),
        }
    }

    fn apply(&self, x: Tensor<4>, rng: &mut Rng) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        match self {
            EvalAugment::Dsa(strategy) => match strategy.draw(Some(n), [c, h, w], rng) {
                Some(draw) => draw.apply(x),
                None => x,
            },
            EvalAugment::Dc => super::dc_aug::augment(x, rng),
            EvalAugment::None => x,
        }
    }
}

impl EvalConfig {
    /// The augmentation and epochs for a set of `method` condensed from `dataset`.
    pub fn plan(&self, method: super::Algorithm, dataset: &str, flippable: bool) -> Result<(EvalAugment, usize)> {
        use super::Algorithm;
        let dsa = || -> Result<EvalAugment> {
            Ok(EvalAugment::Dsa(match &self.strategy {
                Some(s) => Strategy::parse(s)?,
                None => Strategy::for_data(flippable),
            }))
        };
        match (self.protocol, method) {
            (EvalProtocol::DsaAug, _) | (EvalProtocol::PerPaper, Algorithm::Dsa | Algorithm::Dm) => Ok((dsa()?, self.epochs)),
            (EvalProtocol::PerPaper, Algorithm::Dc | Algorithm::Random | Algorithm::Herding) if super::dc_aug::augments(dataset) => Ok((EvalAugment::Dc, self.epochs)),
            (EvalProtocol::PerPaper, _) => Ok((EvalAugment::None, (self.epochs * 3 / 10).max(1))),
        }
    }

    /// Every set with DSA augmentation (see [`EvalProtocol::DsaAug`]).
    pub fn all_dsa_aug(mut self) -> Self {
        self.protocol = EvalProtocol::DsaAug;
        self
    }

    /// ConvNet-3 at the profile's width; 3 models; 1000 epochs on the gpu profile, 200 on cpu, 5
    /// on smoke.
    pub fn for_profile(profile: Profile) -> EvalConfig {
        EvalConfig {
            archs: vec![Arch::convnet(profile.width(128), 3)],
            models: if profile == Profile::Smoke { 2 } else { 3 },
            epochs: match profile {
                Profile::Gpu => 1000,
                Profile::Cpu => 200,
                Profile::Smoke => 5,
            },
            lr: 0.01,
            batch: 256,
            strategy: None,
            seed: 0,
            protocol: EvalProtocol::PerPaper,
        }
    }
    /// The architectures to evaluate.
    pub fn archs(mut self, archs: Vec<Arch>) -> Self {
        self.archs = archs;
        self
    }
    /// Networks per architecture.
    pub fn models(mut self, n: usize) -> Self {
        self.models = n;
        self
    }
    /// Training epochs.
    pub fn epochs(mut self, n: usize) -> Self {
        self.epochs = n;
        self
    }
    /// Augmentation strategy ([`Strategy::none`] to train without augmentation).
    pub fn strategy(mut self, s: Strategy) -> Self {
        self.strategy = Some(s.to_string());
        self
    }
}

/// Test accuracies of fresh networks trained on one condensed set.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Evaluation {
    /// Method label (`DSA`, `random`, …).
    pub method: String,
    /// Images per class.
    pub ipc: usize,
    /// Dataset name.
    pub dataset: String,
    /// (architecture, accuracies in %) in the order evaluated.
    pub results: Vec<(String, Vec<f64>)>,
    /// How the networks were trained, e.g. `DSA aug, 200 epochs` (empty in older files).
    #[serde(default)]
    pub protocol: String,
}

impl Evaluation {
    /// Writes the evaluation as JSON, atomically.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        crate::record::write_json_atomic(path.as_ref(), self)
    }
    /// Reads a saved evaluation; a file that is not one, or holds no accuracies, is an error
    /// naming it.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Evaluation> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(crate::Error::io(path))?;
        let e: Evaluation = serde_json::from_slice(&bytes).map_err(|err| crate::Error::format(path, format!("not an evaluation: {err}")))?;
        if e.results.is_empty() || e.results.iter().any(|r| r.1.is_empty()) {
            return Err(crate::Error::format(path, "an evaluation without accuracies (empty `results`)"));
        }
        Ok(e)
    }
    /// Mean and std (%) for the `i`-th architecture.
    pub fn mean_std(&self, i: usize) -> (f64, f64) {
        crate::plot::bars::mean_std(&self.results[i].1)
    }
    /// Mean ± std of the headline architecture, e.g. `88.1 ± 0.4`.
    pub fn summary(&self) -> String {
        let (m, s) = self.mean_std(0);
        format!("{} ipc{} on {}: {} % ({})", self.method, self.ipc, self.dataset, crate::table::mean_pm(m, s, self.results[0].1.len()), self.results[0].0)
    }
    /// A bar for the headline architecture.
    pub fn bar(&self) -> Bar {
        Bar::from_values(self.method.clone(), &self.results[0].1)
    }
    /// Cross-architecture bars.
    pub fn plot_archs(&self) -> Figure {
        let items: Vec<Bar> = self.results.iter().map(|(a, v)| Bar::from_values(a.clone(), v)).collect();
        bars(&format!("{} ipc{} on {}: accuracy by architecture", self.method, self.ipc, self.dataset), "test accuracy (%)", &items)
    }
    /// One row per architecture.
    pub fn table(&self) -> Table {
        let mut t = Table::new(format!("{} ipc{} ({})", self.method, self.ipc, self.dataset), &["architecture", "accuracy (%)", "models"]);
        for (i, (arch, v)) in self.results.iter().enumerate() {
            let (m, s) = self.mean_std(i);
            t.push(vec![arch.clone(), crate::table::mean_pm(m, s, v.len()), v.len().to_string()]);
        }
        t
    }
    /// evcxr rich output.
    pub fn evcxr_display(&self) {
        crate::notebook::Panel::new().figure(self.plot_archs()).table(self.table()).evcxr_display();
    }
}

/// Trains `config.models` fresh networks of each architecture on `set` and tests them.
pub fn evaluate(set: &Condensed, config: &EvalConfig, data: &Dataset, device: &Device) -> Result<Evaluation> {
    evaluate_keeping_first(set, config, data, device).map(|(e, _)| e)
}

/// [`evaluate`], also returning the first network it trained (the headline architecture's first
/// seed), in inference mode.
pub fn evaluate_keeping_first(set: &Condensed, config: &EvalConfig, data: &Dataset, device: &Device) -> Result<(Evaluation, Net)> {
    if set.shape[1..] != data.shape() {
        return Err(Error::invalid("condensed.shape", format!("{:?}", &set.shape[1..]), format!("{} images are {:?}", data.name, data.shape())));
    }
    if config.models == 0 || config.epochs == 0 || config.archs.is_empty() {
        return Err(Error::invalid("eval", format!("{} models × {} epochs × {} archs", config.models, config.epochs, config.archs.len()), "need at least one of each"));
    }
    let (augment, epochs) = config.plan(set.config.method, &data.name, data.flippable)?;
    let (plain, ad) = devices(device);
    let images = set.tensor(&plain);
    let test = Loader::test(data, 500);
    let recipe = TrainConfig::default().with_momentum(0.9).with_weight_decay(5e-4).with_batch_size(config.batch);
    let mut results = Vec::new();
    let mut first = None;
    for arch in &config.archs {
        let mut accs = Vec::with_capacity(config.models);
        for m in 0..config.models {
            let seed = config.seed + 1000 * m as u64 + 17;
            let net = arch.init_seeded(data.shape(), data.num_classes(), &ad, seed)?;
            let mut optim = recipe.sgd();
            let mut rng = Rng::derive(seed, 0xE7A1);
            let (lr, half) = (config.lr, epochs / 2);
            let net = train_epochs(net, &images, &set.labels, epochs, &recipe, &|e| if e > half { lr * 0.1 } else { lr }, &augment, &mut optim, &mut rng, &ad);
            let net = net.valid();
            let (acc, _) = evaluate_net(&net, &test, &plain);
            accs.push(100.0 * acc);
            first.get_or_insert(net);
        }
        results.push((arch.to_string(), accs));
    }
    let protocol = format!("{}, {epochs} epochs", augment.describe());
    let evaluation = Evaluation { method: set.config.method.name().to_string(), ipc: set.config.ipc, dataset: set.dataset.clone(), results, protocol };
    Ok((evaluation, first.expect("at least one architecture and model (checked above)")))
}

/// Trains `net` (on the autodiff device `ad`) for `epochs` over the plain `images`, shuffled in
/// batches of `recipe.batch_size`, each batch under its own per-image augmentation draw.
#[allow(clippy::too_many_arguments)]
pub fn train_epochs(
    mut net: Net,
    images: &Tensor<4>,
    labels: &[usize],
    epochs: usize,
    recipe: &TrainConfig,
    lr_at: &dyn Fn(usize) -> f64,
    augment: &EvalAugment,
    optim: &mut ModuleOptimizer,
    rng: &mut Rng,
    ad: &Device,
) -> Net {
    let n = images.dims()[0];
    let plain = images.device();
    let images = images.clone().detach();
    for epoch in 0..epochs {
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        for chunk in order.chunks(recipe.batch_size.max(1)) {
            let idx: Vec<i64> = chunk.iter().map(|&i| i as i64).collect();
            let x = augment.apply(images.clone().select(0, Tensor::<1, Int>::from_data(TensorData::new(idx, [chunk.len()]), &plain)), rng);
            let y: Vec<i64> = chunk.iter().map(|&i| labels[i] as i64).collect();
            let x = Tensor::<4>::from_data(x.into_data(), ad);
            let y = Tensor::<1, Int>::from_data(TensorData::new(y, [chunk.len()]), ad);
            let loss = losses::cross_entropy(net.forward(x), y, 0.0);
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(lr_at(epoch), net, grads);
        }
    }
    net
}
