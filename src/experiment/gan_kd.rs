//! The GAN-KD augmentation table (paper 1): no augmentation, Cutout, CutMix, Mixup, label
//! smoothing, Cutout + KD labels, GAN patch + hard labels and GAN patch + KD labels (the paper),
//! the same student, data and recipe, over several seeds. Each seed trains one patch GAN and one
//! set of k fold teachers that every row of that seed shares; every run checkpoints under
//! `out/ckpt`, keyed by everything that changes its numbers, so a rerun reads finished runs back.
use super::KdExperiment;
use crate::data::{Augment, Dataset, Mix};
use crate::device::{Device, DeviceExt};
use crate::error::{ensure, Error, Result};
use crate::methods::gan_patch::holes::Hole;
use crate::methods::gan_patch::teachers::accuracy_on;
use crate::methods::gan_patch::{Fill, FoldTeachers, GanKd, Labels, PatchGan, PatchGanConfig, PatchGanRun};
use crate::methods::{JobBuilder, RunBuilder, Supervised};
use crate::models::Arch;
use crate::plot::{self, Bar, Figure, Normalise};
use crate::profile::Profile;
use crate::rng::Rng;
use crate::table::Table;
use crate::train::{Comparison, Run, Schedule, TrainConfig};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Row {
    /// The recipe's base augmentation only (crop, + flip where allowed), hard labels.
    NoAug,
    /// Cutout: a zeroed square, hard labels.
    Cutout,
    /// CutMix as its official CIFAR recipe runs it ([`Mix::cutmix`]: β = 1, half of the batches, one box per batch).
    CutMix,
    /// Mixup (α = 1).
    Mixup,
    /// Label smoothing (ε of the experiment).
    LabelSmoothing,
    /// Cutout's zeroed square, fused KD labels.
    CutoutKd,
    /// The generated fill, hard labels.
    GanHard,
    /// The generated fill, fused KD labels (the paper's method).
    GanKd,
}

impl Row {
    /// Every row, in the table's order.
    pub fn all() -> Vec<Row> {
        vec![Row::NoAug, Row::Cutout, Row::CutMix, Row::Mixup, Row::LabelSmoothing, Row::CutoutKd, Row::GanHard, Row::GanKd]
    }
    /// The label in tables and plots.
    pub fn label(&self) -> &'static str {
        match self {
            Row::NoAug => "no augmentation",
            Row::Cutout => "Cutout",
            Row::CutMix => "CutMix",
            Row::Mixup => "Mixup",
            Row::LabelSmoothing => "label smoothing",
            Row::CutoutKd => "Cutout + KD labels",
            Row::GanHard => "GAN patch + hard labels",
            Row::GanKd => "GAN patch + KD labels",
        }
    }
    /// The CLI name.
    pub fn name(&self) -> &'static str {
        match self {
            Row::NoAug => "none",
            Row::Cutout => "cutout",
            Row::CutMix => "cutmix",
            Row::Mixup => "mixup",
            Row::LabelSmoothing => "ls",
            Row::CutoutKd => "cutout-kd",
            Row::GanHard => "gan",
            Row::GanKd => "gan-kd",
        }
    }
    fn needs_gan(&self) -> bool {
        matches!(self, Row::GanHard | Row::GanKd)
    }
    fn needs_teachers(&self) -> bool {
        matches!(self, Row::CutoutKd | Row::GanKd)
    }
}

impl std::str::FromStr for Row {
    type Err = Error;
    fn from_str(s: &str) -> Result<Row> {
        Row::all().into_iter().find(|r| r.name() == s.trim().to_ascii_lowercase()).ok_or_else(|| Error::invalid("--methods", s, "expected none, cutout, cutmix, mixup, ls, cutout-kd, gan or gan-kd"))
    }
}

pub use crate::train::CLEAN_TRAIN_ACC;

/// Settings of the GAN-KD comparison (every CLI flag maps to a field).
#[derive(Clone, Debug)]
pub struct GanKdExperiment {
    /// Profile, data, output folder, epochs, `fresh` (teacher/student/T/α of the KD experiment
    /// are replaced by the fields below).
    pub base: KdExperiment,
    /// The student every row trains.
    pub student: Arch,
    /// The fold teachers' architecture.
    pub teacher: Arch,
    /// The rows.
    pub rows: Vec<Row>,
    /// Seeds per row.
    pub seeds: usize,
    /// Folds k.
    pub folds: usize,
    /// β, ε (also the label-smoothing row's), T of the fused labels.
    pub beta: f64,
    /// See `beta`.
    pub smoothing: f64,
    /// See `beta`.
    pub temperature: f64,
    /// The patch GAN.
    pub gan: PatchGanConfig,
    /// GAN epochs.
    pub gan_epochs: usize,
    /// Keep this many training images per class (seed 0); `None` = the profile's training set.
    pub train_per_class: Option<usize>,
    /// The recipe's base augmentation under every row: pad-4 crop (+ flip where the dataset
    /// allows it) when true, nothing when false (then "no augmentation" means none at all).
    pub crop_flip: bool,
}

/// Training images per class on the `cpu` profile. Augmentation and soft labels are
/// regularisers: they need a student that overfits. Measured (`just gan-kd-regime`, seed 0):
/// ConvNet-3 w64 on these 1 000 images without base augmentation ends at 100 % train vs 84 %
/// test accuracy, and Cutout, Mixup, CutMix and label smoothing each end above it; with pad-4
/// crop + flip (a heavy distortion of a 28-px garment) it reaches only 88 % train / 81 % test.
pub const CPU_TRAIN_PER_CLASS: usize = 100;
/// Epochs on the `cpu` profile: at 30 the regularised rows had not caught up with the
/// unregularised one (Cutout 83.7 vs 84.1 %); at 60 each is above it.
pub const CPU_EPOCHS: usize = 60;
/// Seeds on the `cpu` profile (the table's wall time on 2 cores grows by ≈ 20 min per seed).
pub const CPU_SEEDS: usize = 4;

impl GanKdExperiment {
    /// Profile defaults. `gpu`: ResNet-20 student, ResNet-56 teachers, the paper's GAN widths
    /// (`base` 32), 200 epochs, crop + flip under every row (the CIFAR recipe); `cpu`: ConvNet-3
    /// w64 student, ConvNet-3 w32 teachers, GAN `base` 8, [`CPU_EPOCHS`] on
    /// [`CPU_TRAIN_PER_CLASS`] images per class, no base augmentation (a student that
    /// overfits); `smoke`: ConvNet-2 w4, 2 folds, 1 seed, no base augmentation. k = 5, β = 0.5,
    /// ε = 0.1, T = 4 everywhere (the paper gives none).
    pub fn new(profile: Profile) -> GanKdExperiment {
        let mut base = KdExperiment::new(profile);
        base.out = PathBuf::from("out/gan-kd");
        if profile == Profile::Gpu {
            // the paper's industrial images are not public; CIFAR-100 is the CIFAR ResNet pair's
            base.dataset = "cifar100".into();
        }
        let (student, teacher, gan_base, epochs, gan_epochs) = match profile {
            Profile::Gpu => (Arch::resnet(20), Arch::resnet(56), 32, 200, 50),
            Profile::Cpu => (Arch::convnet(64, 3), Arch::convnet(32, 3), 8, CPU_EPOCHS, 50),
            Profile::Smoke => (Arch::convnet(4, 2), Arch::convnet(4, 2), 4, 2, 1),
        };
        base.epochs = epochs;
        GanKdExperiment {
            base,
            student,
            teacher,
            rows: Row::all(),
            seeds: match profile {
                Profile::Smoke => 1,
                Profile::Cpu => CPU_SEEDS,
                Profile::Gpu => 3,
            },
            folds: if profile == Profile::Smoke { 2 } else { 5 },
            beta: 0.5,
            smoothing: 0.1,
            temperature: 4.0,
            gan: PatchGanConfig { base: gan_base, ..PatchGanConfig::new() },
            gan_epochs,
            train_per_class: (profile == Profile::Cpu).then_some(CPU_TRAIN_PER_CLASS),
            crop_flip: profile == Profile::Gpu,
        }
    }

    /// SGD with Nesterov momentum 0.9, weight decay 5e-4, lr 0.05 ÷10 at 50 % and 75 %, batch 64
    /// (profile-capped), pad-4 crop (+ flip where the dataset allows it) under every row when
    /// [`crop_flip`](GanKdExperiment::crop_flip) is on.
    pub fn train_config(&self, data: &Dataset) -> TrainConfig {
        TrainConfig::new()
            .with_epochs(self.base.epochs)
            .with_batch_size(self.base.profile.batch(64))
            .with_lr(0.05)
            .with_nesterov(true)
            .with_weight_decay(5e-4)
            .with_schedule(Schedule::steps_half_three_quarters())
            .with_augment(if self.crop_flip { Augment::standard(data.flippable) } else { Augment::none() })
            .with_verbose(false)
    }

    /// The profile's dataset, its training split cut to `train_per_class` when set.
    pub fn load_data(&self) -> Result<Dataset> {
        self.base.load_data_per_class(self.train_per_class)
    }

    fn builder(&self, fill: Fill, labels: Labels) -> crate::methods::gan_patch::GanKdBuilder {
        GanKd::builder()
            .student(self.student.clone())
            .teacher(self.teacher.clone())
            .folds(self.folds)
            .beta(self.beta)
            .smoothing(self.smoothing)
            .temperature(self.temperature)
            .gan(self.gan.clone(), self.gan_epochs)
            .fill(fill)
            .labels(labels)
    }

    /// Checks every setting before anything trains.
    pub fn validate(&self, data: &Dataset) -> Result<()> {
        ensure(self.seeds > 0, "seeds", self.seeds, "must be at least 1")?;
        ensure(!self.rows.is_empty(), "methods", "[]", "name at least one row")?;
        ensure(self.base.epochs > 0, "epochs", self.base.epochs, "must be at least 1")?;
        self.builder(Fill::Generated, Labels::Kd).to_config().validate(data.shape())
    }

    /// Trains (or reads back) the GANs, the fold teachers and every row for every seed on the
    /// profile's dataset.
    pub fn run(&self, device: &Device) -> Result<GanKdReport> {
        self.base.clear_if_fresh()?;
        self.run_on(&self.load_data()?, device)
    }

    /// The same on `data` as given (a notebook's own dataset, a test's generated one).
    pub fn run_on(&self, data: &Dataset, device: &Device) -> Result<GanKdReport> {
        let b = &self.base;
        self.validate(data)?;
        let train = self.train_config(data);
        let base_augment = if self.crop_flip { "pad-4 crop + flip" } else { "none" };
        println!("data: {}\ndevice: {}  profile: {}  epochs: {}  seeds: {}  student: {}  teachers: {} × {}  base augmentation: {base_augment}", data.identity(), device.describe(), b.profile, b.epochs, self.seeds, self.student, self.folds, self.teacher);
        let (mut gans, mut teachers) = (Vec::new(), Vec::new());
        for seed in 0..self.seeds as u64 {
            if self.rows.iter().any(Row::needs_gan) {
                println!("patch GAN, seed {seed} ({} epochs) …{}", self.gan_epochs, KdExperiment::checkpoint_note(&self.gan_dir(seed, data), self.gan_epochs)?);
                let gan = self.fit_gan(seed, data, device)?;
                println!("  patch L1 to the true hole {:.3} (zero fill {:.3})", gan.record.final_metric("patch_l1").unwrap_or(f64::NAN), gan.record.final_metric("zero_l1").unwrap_or(f64::NAN));
                gans.push(gan);
            }
            if self.rows.iter().any(Row::needs_teachers) {
                println!("{} fold teachers, seed {seed} …{}", self.folds, KdExperiment::checkpoint_note(&self.teachers_dir(seed, data), self.folds * b.epochs)?);
                let t = self.fit_teachers(seed, data, device)?;
                let accs: Vec<String> = t.heldout_acc.iter().map(|a| format!("{:.2}", a * 100.0)).collect();
                println!("  held-out fold accuracy (%): {}", accs.join(", "));
                teachers.push(t);
            }
        }
        let title = format!("GAN-KD augmentation on {} ({}, {} profile)", data.name, self.student, b.profile);
        let mut spec = Comparison::of(title).seeds(0..self.seeds as u64).records_to(b.out.join("records"));
        if self.rows.contains(&Row::Cutout) {
            spec = spec.baseline(Row::Cutout.label());
        }
        for &row in &self.rows {
            let (data, train, gans, teachers) = (&data, &train, &gans, &teachers);
            spec = b.row(spec, row.label(), device, move |seed, device| self.fit_row(row, seed, data, train, gans, teachers, device));
        }
        let comparison = spec.run()?;
        let quality = patch_quality(&gans, &teachers, data);
        let report = GanKdReport { comparison, gans, teachers, quality };
        report.comparison.save(b.out.join("comparison.json"))?;
        report.bars().save_svg(b.out.join("gan-kd-bars.svg"))?;
        if let Some(d) = report.comparison.differences("test_acc") {
            d.save_svg(b.out.join("gan-kd-differences.svg"))?;
        }
        crate::record::write_atomic(&b.out.join("summary.md"), report.markdown().as_bytes())?;
        Ok(report)
    }

    fn key(&self, data: &Dataset) -> impl serde::Serialize + std::fmt::Debug {
        let b = &self.base;
        (b.dataset.clone(), b.profile, self.train_config(data), self.train_per_class)
    }

    /// The patch GAN of `seed` (checkpointed under `out/ckpt`, so the table's run reads it back).
    pub fn fit_gan(&self, seed: u64, data: &Dataset, device: &Device) -> Result<PatchGanRun> {
        let b = &self.base;
        PatchGan::builder()
            .config(self.gan.clone())
            .epochs(self.gan_epochs)
            .seed(seed)
            .verbose(false)
            .profile(b.profile)
            .checkpoint_dir(self.gan_dir(seed, data))
            .fit(data, device)
    }

    fn gan_dir(&self, seed: u64, data: &Dataset) -> PathBuf {
        self.base.ckpt("gan", &(self.key(data), &self.gan, self.gan_epochs, seed))
    }

    fn teachers_dir(&self, seed: u64, data: &Dataset) -> PathBuf {
        self.base.ckpt("teachers", &(self.key(data), &self.teacher, self.folds, seed))
    }

    /// The k fold teachers of `seed` (each trained with the experiment's recipe and that seed).
    pub fn fit_teachers(&self, seed: u64, data: &Dataset, device: &Device) -> Result<Arc<FoldTeachers>> {
        let b = &self.base;
        let t = FoldTeachers::builder().model(self.teacher.clone())
            .folds(self.folds)
            .train(self.train_config(data).with_seed(seed))
            .profile(b.profile)
            .checkpoint_dir(self.teachers_dir(seed, data))
            .fit(data, device)?;
        Ok(Arc::new(t))
    }

    /// One row of one seed, with its final network's accuracy on the clean training images
    /// ([`CLEAN_TRAIN_ACC`]) added to its record: the overfitting a regulariser can remove.
    #[allow(clippy::too_many_arguments)]
    fn fit_row(&self, row: Row, seed: u64, data: &Dataset, train: &TrainConfig, gans: &[PatchGanRun], teachers: &[Arc<FoldTeachers>], device: &Device) -> Result<Run> {
        let mut run = self.train_row(row, seed, data, train, gans, teachers, device)?;
        crate::train::record_clean_train_acc(&mut run, data, train.eval_batch_size, device);
        Ok(run)
    }

    #[allow(clippy::too_many_arguments)]
    fn train_row(&self, row: Row, seed: u64, data: &Dataset, train: &TrainConfig, gans: &[PatchGanRun], teachers: &[Arc<FoldTeachers>], device: &Device) -> Result<Run> {
        let b = &self.base;
        let recipe = train.clone().with_seed(seed);
        // keyed by what changes this row's numbers only: a new GAN setting retrains the GAN rows
        let teachers_key = row.needs_teachers().then(|| (&self.teacher, self.folds, self.beta.to_bits(), self.temperature.to_bits()));
        let gan_key = row.needs_gan().then_some((&self.gan, self.gan_epochs));
        let ckpt = b.ckpt(row.name(), &((&b.dataset, &b.profile, &recipe, self.train_per_class), &self.student, self.smoothing.to_bits(), teachers_key, gan_key));
        let supervised = |recipe: TrainConfig| Supervised::builder().model(self.student.clone()).train(recipe).name(row.label()).profile(b.profile).checkpoint_dir(ckpt.clone()).fit(data, device);
        let (fill, labels) = match row {
            Row::NoAug => return supervised(recipe),
            Row::CutMix => return supervised(recipe.clone().with_augment(recipe.augment.clone().with_mix(Mix::cutmix()))),
            Row::Mixup => return supervised(recipe.clone().with_augment(recipe.augment.clone().with_mix(Mix::mixup()))),
            Row::LabelSmoothing => return supervised(recipe.with_label_smoothing(self.smoothing)),
            Row::Cutout => (Fill::Zero, Labels::Hard),
            Row::CutoutKd => (Fill::Zero, Labels::Kd),
            Row::GanHard => (Fill::Generated, Labels::Hard),
            Row::GanKd => (Fill::Generated, Labels::Kd),
        };
        let mut builder = self.builder(fill, labels).train(recipe).name(row.label()).profile(b.profile).checkpoint_dir(ckpt);
        if fill == Fill::Generated {
            builder = builder.generator(&gans[seed as usize]);
        }
        if labels == Labels::Kd {
            builder = builder.teachers(&teachers[seed as usize]);
        }
        builder.fit(data, device)
    }
}

/// How good the fills are, per seed: the first fold teacher's test accuracy on clean images, on
/// Cutout's zero fill and on the GAN's fill of the same holes, and the GAN's L1 to the truth.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatchQuality {
    /// Seed.
    pub seed: u64,
    /// Teacher accuracy on the clean test images.
    pub clean: f64,
    /// … with a zeroed hole.
    pub zero: f64,
    /// … with the generated fill.
    pub generated: f64,
    /// Mean |fill − truth| of the generated fill (normalised pixels, full holes).
    pub patch_l1: f64,
    /// The same for the zero fill.
    pub zero_l1: f64,
}

/// The finished comparison, the GANs and teachers behind it, and its views.
#[derive(Clone, Debug)]
pub struct GanKdReport {
    /// Every row × seed.
    pub comparison: Comparison,
    /// The patch GAN of every seed (empty when no row used one).
    pub gans: Vec<PatchGanRun>,
    /// The fold teachers of every seed (empty when no row used them).
    pub teachers: Vec<Arc<FoldTeachers>>,
    /// Fill quality per seed (when both GANs and teachers exist).
    pub quality: Vec<PatchQuality>,
}

impl GanKdReport {
    /// Row, test accuracy mean ± std (%), the paired difference to Cutout with its 95 %
    /// interval, the clean training-set accuracy and the train − test gap (means over seeds),
    /// mean label entropy, every seed's test accuracy.
    pub fn table(&self) -> Table {
        let c = &self.comparison;
        let head = ["method", "test acc (%)", "Δ vs Cutout (95 % CI)", "train acc, clean (%)", "train − test", "label entropy (nats)", "seeds", "per seed"];
        let mut t = Table::new(c.title.clone(), &head).with_note(Comparison::delta_note("Cutout"));
        let mean = |v: &[f64]| plot::bars::mean_std(v).0;
        let cell = |x: f64, text: String| if x.is_nan() { "–".to_string() } else { text };
        for row in &c.rows {
            let v: Vec<f64> = row.values("test_acc").iter().map(|x| x * 100.0).collect();
            let (m, s) = plot::bars::mean_std(&v);
            let gain = c.delta_cell(&row.label, "Cutout", "test_acc");
            let train = mean(&row.values(CLEAN_TRAIN_ACC)) * 100.0;
            let entropy = mean(&row.values("label_entropy"));
            t.push(vec![
                row.label.clone(),
                crate::table::mean_pm(m, s, v.len()),
                gain,
                cell(train, format!("{train:.2}")),
                cell(train, format!("{:+.2}", train - m)),
                cell(entropy, format!("{entropy:.3}")),
                v.len().to_string(),
                v.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(", "),
            ]);
        }
        t
    }

    /// The three tables (results, fill quality, teachers) as markdown, each under its title.
    pub fn markdown(&self) -> String {
        [self.table(), self.quality_table(), self.teacher_table()].iter().map(|t| format!("### {}\n\n{}", t.title, t.markdown())).collect::<Vec<_>>().join("\n")
    }

    /// Test accuracy per row (mean ± std over seeds).
    pub fn bars(&self) -> Figure {
        let bars: Vec<Bar> = self.comparison.rows.iter().map(|r| Bar::from_values(r.label.clone(), &r.values("test_acc").iter().map(|x| x * 100.0).collect::<Vec<_>>())).collect();
        plot::bars(&self.comparison.title, "test accuracy (%)", &bars)
    }

    /// Teacher accuracy on clean / zero-filled / GAN-filled test images, and the fills' L1.
    pub fn quality_table(&self) -> Table {
        let mut t = Table::new("Fill quality (fold-1 teacher on the test set; L1 in normalised pixels)", &["seed", "clean (%)", "Cutout fill (%)", "GAN fill (%)", "GAN L1", "zero L1"]);
        for q in &self.quality {
            t.push(vec![q.seed.to_string(), format!("{:.2}", q.clean * 100.0), format!("{:.2}", q.zero * 100.0), format!("{:.2}", q.generated * 100.0), format!("{:.3}", q.patch_l1), format!("{:.3}", q.zero_l1)]);
        }
        t
    }

    /// Every fold teacher's accuracy on the fold it labels (never seen) and on the test set.
    pub fn teacher_table(&self) -> Table {
        let k = self.teachers.first().map_or(0, |t| t.k());
        let mut head = vec!["seed".to_string()];
        head.extend((1..=k).map(|i| format!("fold {i}: held-out / test (%)")));
        let head: Vec<&str> = head.iter().map(|s| s.as_str()).collect();
        let mut t = Table::new("Cross-validated teachers", &head);
        for (seed, ts) in self.teachers.iter().enumerate() {
            let mut row = vec![seed.to_string()];
            row.extend(ts.heldout_acc.iter().zip(&ts.teachers).map(|(h, r)| format!("{:.2} / {:.2}", h * 100.0, r.test_acc() * 100.0)));
            t.push(row);
        }
        t
    }

    /// The same test images three ways — original, Cutout's zeroed hole, the GAN's fill of the
    /// same hole (first seed's GAN).
    pub fn samples_figure(&self, data: &Dataset, n: usize) -> Result<Figure> {
        let gan = self.gans.first().ok_or_else(|| Error::invalid("gans", "none", "no row trained a GAN"))?;
        samples_figure(gan, data, n, 7)
    }

    /// Table, bars and the test-accuracy curves, inline.
    pub fn evcxr_display(&self) {
        let panel = crate::notebook::Panel::new().figure(self.bars());
        let panel = self.comparison.differences("test_acc").into_iter().fold(panel, |p, d| p.figure(d));
        panel.figure(self.comparison.curves("test_acc")).table(self.table()).table(self.quality_table()).evcxr_display();
    }
}

/// Fill quality per seed: seed i's first fold teacher on 1 000 test images, clean, with a zeroed
/// hole and with seed i's GAN filling the same hole (the same holes for every seed).
fn patch_quality(gans: &[PatchGanRun], teachers: &[Arc<FoldTeachers>], data: &Dataset) -> Vec<PatchQuality> {
    let (images, shape, labels) = test_images(data, 1000);
    let [n, _, h, w] = shape;
    let mut out = Vec::new();
    for (seed, (gan, teachers)) in gans.iter().zip(teachers).enumerate() {
        let teacher = &teachers.teachers[0].model;
        let holes = Hole::random_batch(n, h, w, gan.patch(), &mut Rng::new(0x9A7C));
        let zero = crate::methods::gan_patch::holes::drop_holes(&images, shape, &holes);
        let filled = gan.fill(&images, shape, &holes);
        let device = &gan.device;
        out.push(PatchQuality {
            seed: seed as u64,
            clean: accuracy_on(teacher, &images, shape, &labels, device),
            zero: accuracy_on(teacher, &zero, shape, &labels, device),
            generated: accuracy_on(teacher, &filled, shape, &labels, device),
            patch_l1: gan.record.final_metric("patch_l1").unwrap_or(f64::NAN),
            zero_l1: gan.record.final_metric("zero_l1").unwrap_or(f64::NAN),
        });
    }
    out
}

/// The first `n` test images (normalised), their shape and labels.
pub fn test_images(data: &Dataset, n: usize) -> (Vec<f32>, [usize; 4], Vec<usize>) {
    let loader = crate::data::Loader::test(data, n.min(data.test.len()).max(1));
    let batch = loader.make_batch(&loader.order(0), 0, &mut Rng::new(0));
    (batch.images, batch.shape, batch.labels)
}

/// `n` test images as three rows: original, zeroed hole (Cutout), generated fill of that hole.
pub fn samples_figure(gan: &PatchGanRun, data: &Dataset, n: usize, seed: u64) -> Result<Figure> {
    let (images, shape, _) = test_images(data, n);
    let [n, c, h, w] = shape;
    let holes = Hole::random_batch(n, h, w, gan.patch(), &mut Rng::new(seed));
    let mut all = images.clone();
    all.extend(crate::methods::gan_patch::holes::drop_holes(&images, shape, &holes));
    all.extend(gan.fill(&images, shape, &holes));
    let labels = vec!["original".to_string(), "Cutout (zero)".into(), "GAN patch".into()];
    plot::image_grid("the same holes: zero fill vs GAN patch", &all, [3 * n, c, h, w], n, &labels, Normalise::PerGrid)
}
