//! The MKSMT study (paper 3): the ablation rows (baseline, multi-step without KD, single-step,
//! two-step sync/async, three-step, feature distillation), the temperature sweep and the flip
//! robustness of the baseline and MKSMT, over several seeds on one backbone. Every run
//! checkpoints under `out/mksmt/ckpt`, keyed by everything that changes its numbers, so a rerun
//! reads finished runs back (`fresh` deletes them).
use super::KdExperiment;
use crate::analysis::{flip_accuracy, grad_cam_figure, Flip};
use crate::data::{Augment, Dataset};
use crate::device::{Device, DeviceExt};
use crate::error::{ensure, Result};
use crate::methods::mksmt::{Distill, Mksmt, MksmtConfig, Scheme, Step2};
use crate::methods::{JobBuilder, RunBuilder};
use crate::models::swin::SwinSpec;
use crate::models::{Arch, Net};
use crate::plot::{self, bars::mean_std, Bar, Figure, Series};
use crate::profile::Profile;
use crate::table::Table;
use crate::train::{Comparison, Schedule, TrainConfig};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The label of the paper's method row (two-step, step 2 synchronous, decision KD at T = 1).
pub const MKSMT: &str = "MKSMT";
/// The label of the baseline row (one head, CE).
pub const BASELINE: &str = "baseline";

/// One row of the study: a label and the switches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Table label.
    pub label: String,
    /// The configuration.
    pub config: MksmtConfig,
}

/// The ablation rows of the paper's Tables 6–8 on `backbone`, with short labels (they name bars):
/// `baseline` (one head), `no KD` (two-step without self-distillation), `single-step`, `MKSMT`
/// (two-step, sync, decision KD), `async` (step 2 as two updates), `three-step`, `feature KD`.
pub fn ablation_rows(backbone: &MksmtConfig) -> Vec<Row> {
    let row = |label: &str, f: &dyn Fn(&mut MksmtConfig)| {
        let mut c = backbone.clone();
        f(&mut c);
        Row { label: label.into(), config: c }
    };
    vec![
        row(BASELINE, &|c| c.scheme = Scheme::Baseline),
        row("no KD", &|c| c.distill = Distill::None),
        row("single-step", &|c| c.scheme = Scheme::SingleStep),
        row(MKSMT, &|_| {}),
        row("async", &|c| c.step2 = Step2::Async),
        row("three-step", &|c| c.scheme = Scheme::ThreeStep),
        row("feature KD", &|c| c.distill = Distill::Feature),
    ]
}

/// Settings of the MKSMT study (every CLI flag maps to a field).
#[derive(Clone, Debug)]
pub struct MksmtExperiment {
    /// Profile, data, output folder, epochs, `fresh` (the KD experiment's teacher/student fields
    /// are unused here).
    pub base: KdExperiment,
    /// The MKSMT configuration every row starts from (backbone, λ, optimiser).
    pub config: MksmtConfig,
    /// Ablation row labels to run (`None`: all of [`ablation_rows`]).
    pub rows: Option<Vec<String>>,
    /// Temperatures of the sweep besides T = 1 (the MKSMT row); empty = no sweep.
    pub temperatures: Vec<f64>,
    /// Seeds per row.
    pub seeds: usize,
    /// Keep only this many training images per class (drawn with seed 0); `None` = the
    /// profile's training set.
    pub train_per_class: Option<usize>,
    /// Pretrain the backbone on some classes and fine-tune every row on the others (the paper's
    /// regime, emulated); `None` = every row trains from scratch on every class.
    pub pretrain: Option<Pretrain>,
}

/// The paper fine-tunes an ImageNet-pretrained Swin on a fine-grained set; this emulates it on
/// one dataset split by class: the backbone is pretrained once (seed 0, the baseline scheme,
/// the from-scratch recipe) on every class in `classes`, then every row × seed starts from it
/// (all but the classifier; the stage heads fresh) and fine-tunes on the other classes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pretrain {
    /// The classes the backbone is pretrained on; the rest form the fine-tune task.
    pub classes: Vec<usize>,
    /// Pretraining images per class (drawn with seed 0 from the full training split); `None` = all.
    pub train_per_class: Option<usize>,
    /// Pretraining epochs; 0 = none: every row trains from scratch on the fine-tune classes (the
    /// from-scratch table of the same task).
    pub epochs: usize,
    /// The fine-tuning learning rate (the paper's recipe fine-tunes at a far smaller rate than it
    /// would train from scratch).
    pub finetune_lr: f64,
}

/// The cpu profile's pretraining classes of Fashion-MNIST: t-shirt, trouser, dress, sandal, bag.
/// The fine-tune task is the other five: pullover, coat, shirt, sneaker, boot — the three
/// upper-body garments Fashion-MNIST's classifiers confuse most, a fine-grained group, beside two
/// kinds of shoe, each with a related class (t-shirt, dress; sandal) among the pretraining ones,
/// as CUB's birds have relatives among ImageNet's classes.
pub const CPU_PRETRAIN_CLASSES: [usize; 5] = [0, 1, 3, 5, 8];

impl Pretrain {
    /// The classes of a `classes`-class dataset that are not pretrained on: the fine-tune task.
    pub fn finetune_classes(&self, classes: usize) -> Vec<usize> {
        (0..classes).filter(|c| !self.classes.contains(c)).collect()
    }
}

/// The backbone per profile: `gpu` Swin-B (the paper's Swin-L does not fit most single GPUs;
/// start it from torchvision's ImageNet weights with `--pretrained`, `docs/mksmt.md`); `cpu` a
/// micro Swin of width 16 (patch 2, window 7: 14², 7², 4², 2² token maps on 28-px images; about
/// 300 images/s for one head on 2 cores); `smoke` the same at width 8.
pub fn default_backbone(profile: Profile) -> Arch {
    match profile {
        Profile::Gpu => Arch::swin(SwinSpec::base()),
        Profile::Cpu => Arch::swin(SwinSpec::micro(16)),
        Profile::Smoke => Arch::swin(SwinSpec::micro(8)),
    }
}

/// The paper's temperature sweep besides T = 1 (Table 9).
pub const PAPER_TEMPERATURES: [f64; 5] = [2.0, 3.0, 4.0, 7.0, 10.0];

/// Training images per class on the `cpu` profile.
pub const CPU_TRAIN_PER_CLASS: usize = 100;
/// Epochs on the `cpu` profile (the micro Swin; [`convnet_check`] runs 30).
pub const CPU_EPOCHS: usize = 15;
/// Seeds per row on the `cpu` profile.
pub const CPU_SEEDS: usize = 5;
/// Pretraining images per class on the `cpu` profile.
pub const CPU_PRETRAIN_PER_CLASS: usize = 2000;
/// Pretraining epochs on the `cpu` profile.
pub const CPU_PRETRAIN_EPOCHS: usize = 10;
/// The fine-tuning learning rate of the micro Swin on the `cpu` profile (AdamW). Picked on the
/// baseline row (seed 0, 15 epochs; `docs/mksmt.md`): 3e-4 60.4 %, 1e-3 69.4 %, 3e-3 74.5 % — at
/// this budget a smaller rate than from scratch leaves the network underfitting.
pub const CPU_FINETUNE_LR: f64 = 3e-3;
/// The ConvNet's fine-tuning learning rate on the `cpu` profile (SGD, [`convnet_check`]).
pub const CONVNET_FINETUNE_LR: f64 = 0.05;

/// The optimiser a backbone trains with: AdamW with weight decay 0.05 (Swin's recipe) for a Swin,
/// SGD (`None`) for a convolutional network.
pub fn adamw_for(backbone: &Arch) -> Option<f64> {
    matches!(backbone, Arch::Swin(_)).then_some(0.05)
}

/// The same study on a four-stage ConvNet of width 16 (28-px images padded to 32: 16², 8², 4², 2²
/// maps, S3/S4 where the paper puts them), SGD, 30 epochs on the `cpu` profile: MKSMT on a
/// convolutional backbone, about 6× faster per image than the micro Swin, and where the cpu
/// profile runs the temperature sweep.
pub fn convnet_check(profile: Profile) -> MksmtExperiment {
    let mut e = MksmtExperiment::new(profile);
    e.set_backbone(Arch::convnet(if profile == Profile::Smoke { 8 } else { 16 }, 4));
    if profile == Profile::Cpu {
        e.base.epochs = 30;
        e.temperatures = PAPER_TEMPERATURES.to_vec();
    }
    if let (Some(p), Profile::Cpu) = (&mut e.pretrain, profile) {
        p.epochs = 30;
    }
    e.base.out = e.base.out.join("convnet");
    e
}

impl MksmtExperiment {
    /// Profile defaults: [`default_backbone`] with AdamW (weight decay 0.05, Swin's recipe), every
    /// ablation row, the sweep T ∈ {2, 3, 4, 7, 10} (the paper's, T = 1 being the MKSMT row) on
    /// `gpu` ({4} on `smoke`; on `cpu` [`convnet_check`] runs it), 3 seeds (1 on smoke), output
    /// `out/mksmt`.
    pub fn new(profile: Profile) -> MksmtExperiment {
        let mut base = KdExperiment::new(profile);
        base.epochs = if profile == Profile::Cpu { CPU_EPOCHS } else { profile.epochs(100) };
        base.out = PathBuf::from("out/mksmt");
        if profile == Profile::Gpu {
            base.dataset = "cub-200".into();
        }
        let temperatures = match profile {
            Profile::Smoke => vec![4.0],
            // the micro Swin's 15 sweep runs would triple a 2-core run: the sweep is convnet_check's
            Profile::Cpu => Vec::new(),
            Profile::Gpu => PAPER_TEMPERATURES.to_vec(),
        };
        let backbone = default_backbone(profile);
        let config = MksmtConfig { adamw: adamw_for(&backbone), ..MksmtConfig::new(backbone) };
        let pretrain = match profile {
            Profile::Cpu => Some(Pretrain { classes: CPU_PRETRAIN_CLASSES.to_vec(), train_per_class: Some(CPU_PRETRAIN_PER_CLASS), epochs: CPU_PRETRAIN_EPOCHS, finetune_lr: CPU_FINETUNE_LR }),
            Profile::Smoke => Some(Pretrain { classes: CPU_PRETRAIN_CLASSES.to_vec(), train_per_class: Some(24), epochs: 1, finetune_lr: CPU_FINETUNE_LR }),
            // the gpu profile starts from real ImageNet weights (`--pretrained`)
            Profile::Gpu => None,
        };
        let seeds = match profile {
            Profile::Smoke => 1,
            Profile::Cpu => CPU_SEEDS,
            Profile::Gpu => 3,
        };
        MksmtExperiment { base, config, rows: None, temperatures, seeds, train_per_class: (profile == Profile::Cpu).then_some(CPU_TRAIN_PER_CLASS), pretrain }
    }

    /// Sets the backbone, its optimiser ([`adamw_for`]) and, with [`Pretrain`], that optimiser's
    /// fine-tuning rate ([`CPU_FINETUNE_LR`] for AdamW, [`CONVNET_FINETUNE_LR`] for SGD).
    pub fn set_backbone(&mut self, arch: Arch) {
        self.config.adamw = adamw_for(&arch);
        if let Some(p) = &mut self.pretrain {
            p.finetune_lr = if self.config.adamw.is_some() { CPU_FINETUNE_LR } else { CONVNET_FINETUNE_LR };
        }
        self.config.backbone = arch;
    }

    /// With AdamW: lr 3e-3 from scratch (1e-4 from `pretrained` weights), batch 32; with SGD:
    /// lr 0.05, Nesterov momentum 0.9, weight decay 5e-4, batch 64. Cosine schedule, pad-4 crop
    /// and **no flip** on any dataset: the flip study then tests horizontal and vertical flips
    /// the networks never saw in training (a network trained with flips would be tested on its
    /// own augmentation). Batches are capped by the profile.
    /// With [`Pretrain`] (of at least one epoch), the learning rate is `pretrain.finetune_lr`.
    pub fn train_config(&self, _data: &Dataset) -> TrainConfig {
        let recipe = self.scratch_recipe();
        match (&self.pretrain, &self.config.pretrained) {
            (Some(p), _) if p.epochs > 0 => recipe.with_lr(p.finetune_lr),
            (None, Some(_)) if self.config.adamw.is_some() => recipe.with_lr(1e-4),
            _ => recipe,
        }
    }

    /// The from-scratch recipe ([`MksmtExperiment::train_config`] without pretrained weights).
    fn scratch_recipe(&self) -> TrainConfig {
        let recipe = TrainConfig::new().with_epochs(self.base.epochs).with_schedule(Schedule::Cosine).with_augment(Augment::standard(false)).with_verbose(false);
        match self.config.adamw {
            Some(_) => recipe.with_lr(3e-3).with_batch_size(self.base.profile.batch(32)).with_weight_decay(0.0),
            None => recipe.with_lr(0.05).with_nesterov(true).with_batch_size(self.base.profile.batch(64)).with_weight_decay(5e-4),
        }
    }

    /// The rows this study runs: the ablation rows asked for, then the T sweep.
    pub fn all_rows(&self) -> Result<Vec<Row>> {
        let ablation = ablation_rows(&self.config);
        let mut rows = match &self.rows {
            None => ablation,
            Some(labels) => labels
                .iter()
                .map(|l| ablation.iter().find(|r| norm(&r.label).starts_with(&norm(l))).cloned().ok_or_else(|| crate::Error::invalid("rows", l, format!("expected one of: {}", ablation.iter().map(|r| r.label.as_str()).collect::<Vec<_>>().join("; ")))))
                .collect::<Result<Vec<_>>>()?,
        };
        for &t in &self.temperatures {
            let mut c = self.config.clone();
            c.temperature = t;
            rows.push(Row { label: format!("T={t}"), config: c });
        }
        Ok(rows)
    }

    /// The profile's dataset, its training split cut to `train_per_class` when set. With
    /// [`Pretrain`], every training image of every class (the profile's test split) instead:
    /// [`MksmtExperiment::run_on`] cuts the pretraining and fine-tuning parts from it
    /// ([`MksmtExperiment::split`]).
    pub fn load_data(&self) -> Result<Dataset> {
        match &self.pretrain {
            None => self.base.load_data_per_class(self.train_per_class),
            Some(_) => {
                // the unscaled split (the gpu profile keeps everything), then the profile's test images
                let whole = KdExperiment { profile: Profile::Gpu, ..self.base.clone() }.load_data()?;
                whole.subset(None, self.base.profile.test_per_class(), 0)
            }
        }
    }

    /// With [`Pretrain`]: the pretraining set (its classes, `pretrain.train_per_class` training
    /// images of each) and the fine-tune set (the other classes, `train_per_class` of each, else
    /// the profile's number), both drawn with seed 0 from `data`. Without: `None` and `data` as given.
    pub fn split(&self, data: &Dataset) -> Result<(Option<Dataset>, Dataset)> {
        let Some(p) = &self.pretrain else { return Ok((None, data.clone())) };
        let finetune = p.finetune_classes(data.num_classes());
        ensure(!finetune.is_empty(), "pretrain.classes", format!("{:?}", p.classes), "leaves no class to fine-tune on")?;
        let cut = |d: Dataset, n: Option<usize>, field: &str| -> Result<Dataset> {
            let mut d = d;
            if let Some(n) = n {
                d.train = d.train.per_class(d.num_classes(), n, 0).map_err(|e| crate::Error::invalid(field, n, e.to_string()))?;
            }
            Ok(d)
        };
        let pre = cut(data.with_classes(&p.classes).map_err(|e| crate::Error::invalid("pretrain.classes", format!("{:?}", p.classes), e.to_string()))?, p.train_per_class, "pretrain.train_per_class")?;
        let ft = cut(data.with_classes(&finetune)?, self.train_per_class.or(self.base.profile.train_per_class()), "train_per_class")?;
        Ok((Some(pre), ft))
    }

    /// The pretrained backbone (seed 0, the baseline scheme, the from-scratch recipe for
    /// `pretrain.epochs`), trained or read back from its checkpoint, and its record.
    pub fn pretrained(&self, pre: &Dataset, device: &Device) -> Result<crate::train::Run> {
        let p = self.pretrain.as_ref().ok_or_else(|| crate::Error::invalid("pretrain", "none", "no pretraining is set"))?;
        let b = &self.base;
        let config = MksmtConfig { scheme: Scheme::Baseline, pretrained: None, ..self.config.clone() };
        let train = self.scratch_recipe().with_epochs(p.epochs).with_seed(0);
        // not the fine-tuning rate: one pretraining serves every fine-tuning recipe
        let ckpt = b.ckpt("mksmt-pretrain", &(&b.dataset, &b.profile, &train, &config, &p.classes, p.train_per_class));
        let batch = train.eval_batch_size;
        let mut run = Mksmt::builder().config(config).train(train).name("pretrain").profile(b.profile).checkpoint_dir(ckpt).fit(pre, device)?;
        crate::train::record_clean_train_acc(&mut run, pre, batch, device);
        Ok(run)
    }

    fn check(&self) -> Result<Vec<Row>> {
        ensure(self.seeds > 0, "seeds", self.seeds, "must be at least 1")?;
        ensure(self.base.epochs > 0, "epochs", self.base.epochs, "must be at least 1")?;
        let rows = self.all_rows()?;
        rows.iter().try_for_each(|r| r.config.validate())?;
        Ok(rows)
    }

    /// Trains (or reads back) every row for every seed on the profile's dataset, then the flip
    /// study.
    pub fn run(&self, device: &Device) -> Result<MksmtReport> {
        self.check()?;
        self.base.clear_if_fresh()?;
        self.run_on(&self.load_data()?, device)
    }

    /// The same on `data` as given (a notebook's own dataset, a test's generated one).
    /// With [`Pretrain`], `data` holds every class ([`MksmtExperiment::load_data`]): the backbone
    /// is pretrained on some ([`MksmtExperiment::pretrained`]) and every row fine-tunes on the
    /// others ([`MksmtExperiment::split`]).
    pub fn run_on(&self, data: &Dataset, device: &Device) -> Result<MksmtReport> {
        let rows = self.check()?;
        let b = &self.base;
        let (pre, data) = self.split(data)?;
        let data = &data;
        let pretrained = match &pre {
            Some(pre) if self.pretrain.as_ref().is_some_and(|p| p.epochs > 0) => {
                let run = self.pretrained(pre, device)?;
                let summary = PretrainSummary { data: pre.identity(), classes: pre.classes.clone(), epochs: self.pretrain.as_ref().map_or(0, |p| p.epochs), test_acc: run.record.final_metric("test_acc").unwrap_or(f64::NAN), clean_train_acc: run.record.final_metric(crate::train::CLEAN_TRAIN_ACC) };
                println!("pretrained on {} for {} epochs: test accuracy {:.2} %", summary.data, summary.epochs, summary.test_acc * 100.0);
                Some((run.model, summary))
            }
            _ => None,
        };
        let train = self.train_config(data);
        println!("data: {}\ndevice: {}  profile: {}  epochs: {}  seeds: {}  backbone: {}{}  rows: {}", data.identity(), device.describe(), b.profile, b.epochs, self.seeds, self.config.backbone, if pretrained.is_some() { " (pretrained)" } else { "" }, rows.len());
        let start = if pretrained.is_some() { "fine-tuned" } else { "from scratch" };
        let title = format!("MKSMT on {} ({}, {start}, {} profile)", data.name, self.config.backbone, b.profile);
        let mut spec = Comparison::of(title).seeds(0..self.seeds as u64).records_to(b.out.join("records"));
        if rows.iter().any(|r| r.label == BASELINE) {
            spec = spec.baseline(BASELINE);
        }
        for row in &rows {
            let (data, train) = (&data, &train);
            let init = pretrained.as_ref().map(|(net, _)| net);
            spec = b.row(spec, row.label.clone(), device, move |seed, device| {
                let ckpt = b.ckpt("mksmt", &(&b.dataset, &b.profile, train, &row.config, seed, self.train_per_class, &self.pretrain));
                let builder = Mksmt::builder().config(row.config.clone()).train(train.clone().with_seed(seed)).name(row.label.clone()).profile(b.profile).checkpoint_dir(ckpt);
                let mut run = match init {
                    Some(net) => builder.init_backbone(net.clone()).fit(data, device)?,
                    None => builder.fit(data, device)?,
                };
                crate::train::record_clean_train_acc(&mut run, data, train.eval_batch_size, device);
                Ok(run)
            });
        }
        let comparison = spec.run()?;
        let robustness = flip_study(&comparison, data, device);
        let report = MksmtReport { comparison, robustness, temperatures: self.temperatures.clone(), pretrain: pretrained.map(|(_, s)| s) };
        report.comparison.save(b.out.join("comparison.json"))?;
        report.bars().save_svg(b.out.join("mksmt-bars.svg"))?;
        if let Some(d) = report.comparison.differences("test_acc") {
            d.save_svg(b.out.join("mksmt-differences.svg"))?;
        }
        if let Some(f) = report.temperature_plot() {
            f.save_svg(b.out.join("mksmt-temperature.svg"))?;
        }
        report.robustness_bars().save_svg(b.out.join("mksmt-flips.svg"))?;
        let md = format!("{}\n\n{}\n{}\n{}", report.pretrain_line(), report.table().markdown(), report.claims().markdown(), report.robustness_table().markdown());
        crate::record::write_atomic(&b.out.join("summary.md"), md.as_bytes())?;
        Ok(report)
    }
}

/// A row label or a `--rows` entry, compared case- and dash-insensitively (`no-kd` = `no KD`).
fn norm(label: &str) -> String {
    label.trim().to_lowercase().replace('-', " ")
}

/// Test accuracy on original / flipped images of the baseline and MKSMT rows, per seed.
fn flip_study(c: &Comparison, data: &Dataset, device: &Device) -> Vec<(String, Flip, Vec<f64>)> {
    let plain = device.clone().without_autodiff();
    let mut out = Vec::new();
    for label in [BASELINE, MKSMT] {
        let Some(i) = c.rows.iter().position(|r| r.label == label) else { continue };
        // a fanned-out run's network came home to this machine's CPU: evaluate it on `device`
        let nets: Vec<_> = c.models[i].iter().map(|net| burn::module::Module::to_device(net.clone(), &plain)).collect();
        for flip in Flip::ALL {
            let accs = nets.iter().map(|net| flip_accuracy(net, data, flip, &plain)).collect();
            out.push((label.to_string(), flip, accs));
        }
    }
    out
}

/// What the pretraining of a fine-tuned study was and reached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PretrainSummary {
    /// The pretraining set ([`Dataset::identity`]).
    pub data: String,
    /// Its class names.
    pub classes: Vec<String>,
    /// Epochs.
    pub epochs: usize,
    /// Final test accuracy on its own classes (a fraction; `pretrain_line` prints %).
    pub test_acc: f64,
    /// Final accuracy on its clean training images (a fraction), where recorded.
    pub clean_train_acc: Option<f64>,
}

/// The finished study and its views.
#[derive(Clone, Debug)]
pub struct MksmtReport {
    /// Every row × seed (records hold `test_acc` = the last stage's head, `head_s{k}_acc` per
    /// stage head, losses `ce_s{k}`, `ce_last`, `kd`).
    pub comparison: Comparison,
    /// `(row, flip, accuracy per seed)` for the baseline and MKSMT.
    pub robustness: Vec<(String, Flip, Vec<f64>)>,
    /// The sweep's temperatures (besides T = 1).
    pub temperatures: Vec<f64>,
    /// The pretraining every row started from; `None` = from scratch.
    pub pretrain: Option<PretrainSummary>,
}

fn pct(v: &[f64]) -> (f64, f64) {
    mean_std(&v.iter().map(|x| x * 100.0).collect::<Vec<_>>())
}

impl MksmtReport {
    /// Row, last head (the inference model) and S3's head (mean ± std, %), the last head's gain
    /// over the baseline, and every seed's value.
    pub fn table(&self) -> Table {
        let c = &self.comparison;
        let mut t = Table::new(c.title.clone(), &["row", "S4 head = model (%)", "S3 head (%)", "Δ vs baseline (95 % CI)", "train acc, clean (%)", "train − test", "seeds", "per seed"]).with_note(Comparison::delta_note(BASELINE));
        for row in &c.rows {
            let (m, s) = pct(&row.values("test_acc"));
            let s3 = row.records.first().and_then(|r| r.final_metrics.keys().filter(|k| k.starts_with("head_s")).max().cloned());
            let s3 = s3.map(|k| pct(&row.values(&k))).map_or("–".into(), |(a, b)| crate::table::mean_pm(a, b, row.seeds.len()));
            let gain = c.delta_cell(&row.label, BASELINE, "test_acc");
            let per: Vec<String> = row.values("test_acc").iter().map(|x| format!("{:.2}", x * 100.0)).collect();
            let fit = row.fit_cells("test_acc");
            t.push([vec![row.label.clone(), crate::table::mean_pm(m, s, row.seeds.len()), s3, gain], fit.to_vec(), vec![row.seeds.len().to_string(), per.join(", ")]].concat());
        }
        t
    }

    /// The paper's claims on the deployed (S4) head, each as a paired difference over seeds with
    /// a verdict: MKSMT above the baseline, above multi-step training without KD (what the
    /// self-distillation adds), two-step above single-step, synchronous above asynchronous step 2,
    /// above three-step, decision above feature distillation, and T = 1 above every T of the sweep
    /// (rows not run are left out).
    pub fn claims(&self) -> Table {
        let c = &self.comparison;
        let others: Vec<String> = [BASELINE, "no KD", "single-step", "async", "three-step", "feature KD"].iter().map(|s| s.to_string()).chain(self.temperatures.iter().map(|t| format!("T={t}"))).collect();
        let present: Vec<(&str, &str)> = others.iter().filter(|o| c.row(MKSMT).is_some() && c.row(o).is_some()).map(|o| (MKSMT, o.as_str())).collect();
        c.claims(format!("{}: the paper's claims on the S4 head", c.title), "test_acc", &present)
    }

    /// What pretraining gives each row: this (fine-tuned) study's S4-head accuracy against
    /// `scratch`'s (the same task from scratch), paired over their shared seeds, for every row
    /// both ran.
    pub fn pretraining_gain(&self, scratch: &MksmtReport) -> Table {
        let mut t = Table::new("Fine-tuned from the pretrained backbone − from scratch (S4 head, %)", &["row", "fine-tuned", "from scratch", "Δ (95 % CI)", "seeds"]).with_note("Δ: mean of the per-seed differences with its Student-t 95 % interval; ✓ marks an interval that excludes 0.");
        for row in &self.comparison.rows {
            let Some(other) = scratch.comparison.row(&row.label) else { continue };
            let by_seed = |r: &crate::train::ComparisonRow| -> std::collections::BTreeMap<u64, f64> { r.seeds.iter().copied().zip(r.values("test_acc").into_iter().map(|v| v * 100.0)).collect() };
            let (a, b) = (by_seed(row), by_seed(other));
            let shared: Vec<u64> = a.keys().filter(|s| b.contains_key(s)).copied().collect();
            let d = crate::stats::Paired::between(&shared.iter().map(|s| a[s]).collect::<Vec<_>>(), &shared.iter().map(|s| b[s]).collect::<Vec<_>>());
            let mean = |m: &std::collections::BTreeMap<u64, f64>| format!("{:.2}", m.values().sum::<f64>() / m.len().max(1) as f64);
            t.push(vec![row.label.clone(), mean(&a), mean(&b), d.to_string(), shared.len().to_string()]);
        }
        t
    }

    /// One line on the pretraining, or that every row trained from scratch.
    pub fn pretrain_line(&self) -> String {
        match &self.pretrain {
            Some(p) => format!(
                "every row fine-tuned a backbone pretrained on {} ({}) for {} epochs: test accuracy {:.2} % on those classes{}",
                p.data,
                p.classes.join(", "),
                p.epochs,
                p.test_acc * 100.0,
                p.clean_train_acc.map_or(String::new(), |a| format!(", clean training accuracy {:.2} %", a * 100.0))
            ),
            None => "every row trained from scratch".into(),
        }
    }

    /// Bars of the last head's test accuracy per row (mean ± std over seeds).
    pub fn bars(&self) -> Figure {
        self.comparison.bars("test_acc")
    }

    /// Test accuracy of the last head against T (T = 1 is the MKSMT row), mean ± std, with the
    /// baseline as a flat line.
    pub fn temperature_plot(&self) -> Option<Figure> {
        let c = &self.comparison;
        let mut points: Vec<(f64, f64, f64)> = Vec::new();
        if let Some(r) = c.row(MKSMT) {
            let (m, s) = pct(&r.values("test_acc"));
            points.push((1.0, m, s));
        }
        for &t in &self.temperatures {
            if let Some(r) = c.row(&format!("T={t}")) {
                let (m, s) = pct(&r.values("test_acc"));
                points.push((t, m, s));
            }
        }
        if points.len() < 2 {
            return None;
        }
        let mut series = vec![Series { name: "MKSMT (S4 head)".into(), points: points.clone() }];
        if let Some(r) = c.row(BASELINE) {
            let (m, s) = pct(&r.values("test_acc"));
            series.push(Series { name: "baseline (no KD)".into(), points: points.iter().map(|p| (p.0, m, s)).collect() });
        }
        Some(plot::lines("MKSMT: temperature sweep", "temperature T", "test accuracy (%)", &series, false))
    }

    /// Test accuracy of S3's head and S4's head per epoch, one figure per row label given (first
    /// seed).
    pub fn head_curves(&self, label: &str) -> Option<Figure> {
        let rec = self.comparison.row(label)?.records.first()?;
        let keys: Vec<&str> = rec.epochs.last()?.metrics.keys().filter(|k| k.starts_with("head_s") || *k == "test_acc").map(|k| k.as_str()).collect();
        Some(plot::curves(&format!("{label}: accuracy of each stage's head (test accuracy = the last head's)"), &keys, &[rec]))
    }

    /// Accuracy on original / horizontally / vertically flipped test images (mean ± std, %).
    pub fn robustness_table(&self) -> Table {
        let mut t = Table::new("Flip robustness (test accuracy, %)", &["row", "original", "horizontal flip", "vertical flip", "vertical − original"]);
        let labels: Vec<&String> = self.robustness.iter().map(|r| &r.0).fold(Vec::new(), |mut v, l| {
            if !v.contains(&l) {
                v.push(l);
            }
            v
        });
        for label in labels {
            let get = |f: Flip| self.robustness.iter().find(|r| &r.0 == label && r.1 == f).map(|r| pct(&r.2)).unwrap_or((f64::NAN, 0.0));
            let cells: Vec<String> = Flip::ALL.iter().map(|&f| get(f)).map(|(m, s)| format!("{m:.2} ± {s:.2}")).collect();
            let drop = get(Flip::Vertical).0 - get(Flip::None).0;
            t.push(vec![label.clone(), cells[0].clone(), cells[1].clone(), cells[2].clone(), format!("{drop:+.2}")]);
        }
        t
    }

    /// The flip study as bars (mean ± std over seeds).
    pub fn robustness_bars(&self) -> Figure {
        let bars: Vec<Bar> = self.robustness.iter().map(|(l, f, v)| Bar::from_values(format!("{l}{}", f.short()), &v.iter().map(|x| x * 100.0).collect::<Vec<_>>())).collect();
        plot::bars("Flip robustness", "test accuracy (%)", &bars)
    }

    /// The network of `label`'s seed `k`.
    pub fn model(&self, label: &str, k: usize) -> Option<&Net> {
        self.comparison.model(label, k)
    }

    /// Grad-CAM of stages 2–4 for the baseline and MKSMT (seed 0) on the first `n` test images,
    /// for their true classes.
    pub fn grad_cams(&self, data: &Dataset, n: usize, device: &Device) -> Result<Figure> {
        let plain = device.clone().without_autodiff();
        let (base, ours) = match (self.model(BASELINE, 0), self.model(MKSMT, 0)) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err(crate::Error::invalid("rows", "–", "Grad-CAM compares the baseline and MKSMT rows: run both")),
        };
        let stages = base.stages_from(Tensor::zeros([1, data.shape()[0], data.shape()[1], data.shape()[2]], &plain), 0).len();
        let batch = crate::data::Loader::test(data, n).epoch(0).next().ok_or_else(|| crate::Error::invalid("data", "test", "empty test split"))?;
        let images = batch.images(&plain);
        let classes = batch.labels.clone();
        let mut rows: Vec<(String, &Net, usize)> = Vec::new();
        for s in stages.saturating_sub(3)..stages {
            rows.push((format!("baseline S{}", s + 1), base, s));
            rows.push((format!("MKSMT S{}", s + 1), ours, s));
        }
        let title = format!("Grad-CAM per stage for the true class, baseline vs MKSMT: {}", self.comparison.title);
        grad_cam_figure(&title, &rows, images, &classes, &data.classes)
    }

    /// Table, bars, the temperature sweep and the flip study, inline.
    pub fn evcxr_display(&self) {
        let mut p = crate::notebook::Panel::new().figure(self.bars());
        if let Some(f) = self.comparison.differences("test_acc") {
            p = p.figure(f);
        }
        if let Some(f) = self.temperature_plot() {
            p = p.figure(f);
        }
        p.figure(self.robustness_bars()).table(self.table()).table(self.robustness_table()).evcxr_display();
    }
}
