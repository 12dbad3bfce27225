//! The OKDCR table (paper 2): 1C, 2C, DML, ONE, FFL, KDCL and OKDCR on the same peers, data and
//! recipe, over several seeds; "Avg" (mean peer top-1) and "Ens" (ensemble top-1) per method.
//! Every run checkpoints under `out/ckpt`, keyed by everything that changes its numbers, so a
//! rerun reads finished runs back instead of training them again (`fresh` deletes them).
use super::KdExperiment;
use crate::data::{Augment, Dataset};
use crate::device::{Device, DeviceExt};
use crate::error::{ensure, Result};
use crate::methods::online::{Online, OnlineKind};
use crate::methods::{JobBuilder, RunBuilder};
use crate::models::Arch;
use crate::plot::{self, Bar, Figure};
use crate::profile::Profile;
use crate::table::Table;
use crate::train::{Comparison, Schedule, TrainConfig};
use std::path::PathBuf;

/// Settings of the OKDCR comparison (every CLI flag maps to a field).
#[derive(Clone, Debug)]
pub struct OkdcrExperiment {
    /// Profile, data, output folder, epochs, `fresh` (the KD experiment's teacher/student
    /// fields are unused here).
    pub base: KdExperiment,
    /// The peers every method trains.
    pub peers: Vec<Arch>,
    /// The rows of the table.
    pub methods: Vec<OnlineKind>,
    /// Seeds per method.
    pub seeds: usize,
    /// Keep only this many training images per class (drawn with seed 0), the regime where
    /// peers can overfit; `None` keeps the profile's training set (cpu default:
    /// [`CPU_TRAIN_PER_CLASS`]).
    pub train_per_class: Option<usize>,
    /// Zero padding of the random crop, in pixels (each of the two views draws its own crop):
    /// the paper's 4 on gpu and smoke, [`CPU_CROP_PAD`] on cpu.
    pub crop_pad: usize,
}

/// The paper's peers per profile: `gpu` two ResNet-32 (its first CIFAR pair); `cpu` two
/// ConvNet-3 of width 16 (three stages, so ONE can branch the last; a 2-core CPU trains a pair
/// in under a minute and a half per method at [`CPU_EPOCHS`] on [`CPU_TRAIN_PER_CLASS`] images
/// per class, and they fit those images: 96 % clean training accuracy for 1C); `smoke` two
/// ConvNet-2 of width 4.
pub fn default_peers(profile: Profile) -> Vec<Arch> {
    match profile {
        Profile::Gpu => vec![Arch::resnet(32); 2],
        Profile::Cpu => vec![Arch::convnet(16, 3); 2],
        Profile::Smoke => vec![Arch::convnet(4, 2); 2],
    }
}

/// A heterogeneous pair per profile: `gpu` WRN-16-2 & ResNet-32 (the paper's); `cpu` ConvNet-3
/// w16 & ConvNet-2 w32 (different depth, width and map size); `smoke` ConvNet-2 w4 & ConvNet-3 w4.
pub fn mixed_peers(profile: Profile) -> Vec<Arch> {
    match profile {
        Profile::Gpu => vec![Arch::wrn(16, 2), Arch::resnet(32)],
        Profile::Cpu => vec![Arch::convnet(16, 3), Arch::convnet(32, 2)],
        Profile::Smoke => vec![Arch::convnet(4, 2), Arch::convnet(4, 3)],
    }
}

/// Training images per class on the `cpu` profile: the paper's peers fit their CIFAR training
/// sets over 300 epochs, and online distillation helps where peers can overfit; on the cpu
/// profile's 500 images per class at 12 epochs every peer underfits (train ≈ test accuracy) and
/// every online method lands within a point of 1C (measured: `docs/okdcr.md`), so the cpu
/// table trains on 100 per class for longer.
pub const CPU_TRAIN_PER_CLASS: usize = 100;

/// Epochs on the `cpu` profile (with [`CPU_TRAIN_PER_CLASS`]: 16 steps per epoch at batch 64).
/// At 30 epochs with a pad-4 crop the peers did not fit their training images (1C, seed 0: 87.7 %
/// clean training accuracy, 80.0 % test); at 60 with [`CPU_CROP_PAD`] they do (96.1 / 83.9;
/// `just okdcr-regime`, `docs/okdcr.md`).
pub const CPU_EPOCHS: usize = 60;

/// Crop padding on the `cpu` profile: a 2-pixel shift of a 28-pixel garment (the paper pads
/// 32-pixel CIFAR images by 4). With pad 4 the peers needed 100 epochs to reach the same 96 % on
/// their training images, and ended 0.8 points lower on test (measured, `docs/okdcr.md`).
pub const CPU_CROP_PAD: usize = 2;

/// Seeds on the `cpu` profile: the differences between online methods are a point or less, so
/// five seeds for the paired intervals.
pub const CPU_SEEDS: usize = 5;

impl OkdcrExperiment {
    /// Profile defaults: [`default_peers`], every method, 3 seeds on gpu ([`CPU_SEEDS`] on cpu,
    /// 1 on smoke), epochs scaled from the paper's 300 (cpu: [`CPU_EPOCHS`] on
    /// [`CPU_TRAIN_PER_CLASS`] images per class), a pad-4 crop (cpu: [`CPU_CROP_PAD`]), output
    /// `out/okdcr`.
    pub fn new(profile: Profile) -> OkdcrExperiment {
        let mut base = KdExperiment::new(profile);
        base.epochs = if profile == Profile::Cpu { CPU_EPOCHS } else { profile.epochs(300) };
        base.out = PathBuf::from("out/okdcr");
        if profile == Profile::Gpu {
            base.dataset = "cifar100".into();
        }
        let train_per_class = (profile == Profile::Cpu).then_some(CPU_TRAIN_PER_CLASS);
        let seeds = match profile {
            Profile::Smoke => 1,
            Profile::Cpu => CPU_SEEDS,
            Profile::Gpu => 3,
        };
        let crop_pad = if profile == Profile::Cpu { CPU_CROP_PAD } else { 4 };
        OkdcrExperiment { base, peers: default_peers(profile), methods: OnlineKind::all(), seeds, train_per_class, crop_pad }
    }

    /// The paper's recipe at the profile's scale: SGD with Nesterov momentum 0.9, weight decay
    /// 1e-4, lr 0.1 ÷10 at 50 % and 75 %, batch 128 (profile-capped), a random crop of
    /// [`crop_pad`](Self::crop_pad) and no flip (the paper's CIFAR recipe, "zero-pad to 40×40 and
    /// randomly crop 32×32", as the online-KD methods it follows; it flips only on ImageNet).
    pub fn train_config(&self, _data: &Dataset) -> TrainConfig {
        TrainConfig::new()
            .with_epochs(self.base.epochs)
            .with_batch_size(self.base.profile.batch(128))
            .with_lr(0.1)
            .with_nesterov(true)
            .with_weight_decay(1e-4)
            .with_schedule(Schedule::steps_half_three_quarters())
            .with_augment(Augment { crop_pad: self.crop_pad, ..Augment::none() })
            .with_verbose(false)
    }

    /// The builder of one row: `kind` on the peers, ONE with one branch per peer (so that its Avg
    /// is over as many networks as every other row's; the official default is 3 branches), every
    /// other setting the method's official default.
    pub fn method(&self, kind: OnlineKind) -> crate::methods::online::OnlineBuilder {
        let builder = Online::method(kind).peers(self.peers.clone());
        if kind == OnlineKind::One { builder.branches(self.peers.len()) } else { builder }
    }

    /// The profile's dataset, its training split cut to `train_per_class` when set.
    pub fn load_data(&self) -> Result<Dataset> {
        self.base.load_data_per_class(self.train_per_class)
    }

    fn check(&self) -> Result<()> {
        ensure(self.seeds > 0, "seeds", self.seeds, "must be at least 1")?;
        ensure(!self.methods.is_empty(), "methods", "[]", "name at least one method")?;
        ensure(self.base.epochs > 0, "epochs", self.base.epochs, "must be at least 1")?;
        self.methods.iter().try_for_each(|m| self.method(*m).to_config().validate())
    }

    /// Trains (or reads back) every method for every seed on the profile's dataset.
    pub fn run(&self, device: &Device) -> Result<OkdcrReport> {
        self.check()?;
        self.base.clear_if_fresh()?;
        self.run_on(&self.load_data()?, device)
    }

    /// The same on `data` as given (a notebook's own dataset, a test's generated one).
    pub fn run_on(&self, data: &Dataset, device: &Device) -> Result<OkdcrReport> {
        self.check()?;
        let b = &self.base;
        let train = self.train_config(data);
        let pair: Vec<String> = self.peers.iter().map(|a| a.to_string()).collect();
        println!("data: {}\ndevice: {}  profile: {}  epochs: {}  seeds: {}  peers: {}", data.describe(), device.describe(), b.profile, b.epochs, self.seeds, pair.join(" & "));
        let title = format!("Online KD on {} ({}, {} profile)", data.name, pair.join(" & "), b.profile);
        let mut spec = Comparison::of(title).seeds(0..self.seeds as u64).records_to(b.out.join("records"));
        if self.methods.contains(&OnlineKind::Dml) {
            spec = spec.baseline(OnlineKind::Dml.label());
        }
        for &kind in &self.methods {
            let (data, train) = (&data, &train);
            spec = b.row(spec, kind.label(), device, move |seed, device| {
                let method = self.method(kind);
                let key = (&b.dataset, &b.profile, train, method.to_config(), seed);
                let ckpt = match self.train_per_class {
                    None => b.ckpt(&kind.name(), &key),
                    Some(n) => b.ckpt(&kind.name(), &(key, n)),
                };
                let mut run = method.train(train.clone().with_seed(seed)).name(kind.label()).profile(b.profile).checkpoint_dir(ckpt).fit(data, device)?;
                crate::train::record_clean_train_acc(&mut run, data, train.eval_batch_size, device);
                Ok(run)
            });
        }
        let comparison = spec.run()?;
        let report = OkdcrReport { comparison };
        report.comparison.save(b.out.join("comparison.json"))?;
        report.bars().save_svg(b.out.join("okdcr-bars.svg"))?;
        if let Some(d) = report.comparison.differences("avg_acc") {
            d.save_svg(b.out.join("okdcr-differences.svg"))?;
        }
        let summary = format!("{}\n{}", report.table().markdown(), report.claims().markdown());
        crate::record::write_atomic(&b.out.join("summary.md"), summary.as_bytes())?;
        Ok(report)
    }
}

/// The finished comparison and its views.
#[derive(Clone, Debug)]
pub struct OkdcrReport {
    /// Every method × seed (records hold `avg_acc`, `ens_acc`, `peer{k}_acc`, OKDCR's `w{k}`,
    /// `intra{k}`, `inter`).
    pub comparison: Comparison,
}

impl OkdcrReport {
    /// Method, Avg and Ens (mean ± std over seeds, %), the paired difference of Avg to DML's
    /// with its 95 % interval, peer 0's accuracy on the clean training images and its train −
    /// test gap (means over seeds), and every seed's Avg.
    pub fn table(&self) -> Table {
        let c = &self.comparison;
        let mut t = Table::new(c.title.clone(), &["method", "Avg (%)", "Ens (%)", "Δ Avg vs DML (95 % CI)", "peer 0 train acc, clean (%)", "peer 0 train − test", "seeds", "Avg per seed"]).with_note(Comparison::delta_note("DML"));
        let ms = |v: Vec<f64>| plot::bars::mean_std(&v.iter().map(|x| x * 100.0).collect::<Vec<_>>());
        for row in &c.rows {
            let (a, sa) = ms(row.values("avg_acc"));
            let (e, se) = ms(row.values("ens_acc"));
            let gain = c.delta_cell(&row.label, "DML", "avg_acc");
            let per: Vec<String> = row.values("avg_acc").iter().map(|x| format!("{:.2}", x * 100.0)).collect();
            let fit = row.fit_cells("test_acc");
            t.push([vec![row.label.clone(), crate::table::mean_pm(a, sa, row.seeds.len()), crate::table::mean_pm(e, se, row.seeds.len()), gain], fit.to_vec(), vec![row.seeds.len().to_string(), per.join(", ")]].concat());
        }
        t
    }

    /// The paper's claims on Avg, each as a paired difference over seeds with a verdict: OKDCR
    /// above every online baseline and above the vanilla rows (rows not run are left out).
    pub fn claims(&self) -> Table {
        let others = ["DML", "ONE", "FFL", "KDCL", "1C", "2C"];
        let present: Vec<(&str, &str)> = others.iter().filter(|o| self.comparison.row(o).is_some()).map(|o| ("OKDCR", *o)).collect();
        self.comparison.claims(format!("{}: the paper's claims on Avg", self.comparison.title), "avg_acc", &present)
    }

    /// Avg and Ens bars side by side per method (mean ± std over seeds).
    pub fn bars(&self) -> Figure {
        let bars: Vec<Bar> = self
            .comparison
            .rows
            .iter()
            .flat_map(|r| {
                let pct = |m: &str| r.values(m).iter().map(|x| x * 100.0).collect::<Vec<_>>();
                [Bar::from_values(format!("{} Avg", r.label), &pct("avg_acc")), Bar::from_values(format!("{} Ens", r.label), &pct("ens_acc"))]
            })
            .collect();
        plot::bars(&self.comparison.title, "test accuracy (%)", &bars)
    }

    /// Test accuracy of every peer and of the ensemble over epochs, for `label`'s first seed.
    pub fn peer_curves(&self, label: &str) -> Option<Figure> {
        let rec = self.comparison.row(label)?.records.first()?;
        let keys: Vec<&str> = rec.epochs.last()?.metrics.keys().filter(|k| k.starts_with("peer") || *k == "ens_acc").map(|k| k.as_str()).collect();
        Some(plot::curves(&format!("{label}: every peer and the ensemble"), &keys, &[rec]))
    }

    /// OKDCR's mean adaptive weight of every peer per epoch (first seed).
    pub fn weight_curves(&self) -> Option<Figure> {
        self.okdcr_curves("adaptive ensemble weights (batch mean)", |k| k.starts_with('w') && k[1..].parse::<usize>().is_ok())
    }

    /// OKDCR's intra-model (per peer) and inter-model consistency distances per epoch.
    pub fn consistency_curves(&self) -> Option<Figure> {
        self.okdcr_curves("consistency distances (lower = more consistent)", |k| k.starts_with("intra") || k == "inter")
    }

    fn okdcr_curves(&self, what: &str, pick: impl Fn(&str) -> bool) -> Option<Figure> {
        let rec = self.comparison.row("OKDCR")?.records.first()?;
        let keys: Vec<&str> = rec.epochs.last()?.metrics.keys().filter(|k| pick(k)).map(|k| k.as_str()).collect();
        Some(plot::curves(&format!("OKDCR: {what}"), &keys, &[rec]))
    }

    /// Table, bars and the Avg curves of every method, inline.
    pub fn evcxr_display(&self) {
        let panel = crate::notebook::Panel::new().figure(self.bars());
        let panel = self.comparison.differences("avg_acc").into_iter().fold(panel, |p, d| p.figure(d));
        panel.figure(self.comparison.curves("avg_acc")).table(self.table()).evcxr_display();
    }
}
