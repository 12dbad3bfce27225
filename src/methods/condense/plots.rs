//! Pictures of a condensation: the synthetic images per class at the start, middle and end; the
//! matching loss; one real and one synthetic batch under the same siamese draws; accuracy bars
//! against the baselines and the paper's numbers.
use super::dsa_aug::{Draw, Strategy};
use super::{Condensed, Evaluation, RealImages};
use crate::notebook::Panel;
use crate::plot::images::{image_grid_columns_unchecked, image_grid_unchecked};
use crate::plot::{bars, lines, Bar, Figure, Normalise, Series};
use crate::rng::Rng;
use burn::tensor::Tensor;

impl Condensed {
    /// One siamese draw per augmentation family applied to real images of `data` (top rows) and
    /// to this set (bottom rows): what DSA's shared ω looks like (see [`siamese_preview`]).
    pub fn plot_siamese(&self, data: &crate::data::Dataset, strategy: &Strategy, per_row: usize, seed: u64) -> crate::Result<Figure> {
        use crate::device::DeviceExt;
        let real = RealImages::new(data, &burn::tensor::Device::cpu_default())?;
        Ok(siamese_preview(&real, self, strategy, per_row, seed))
    }

    /// The images at snapshot `k` (0 = initialisation), a row per class.
    pub fn plot_snapshot(&self, k: usize) -> Figure {
        let images = self.record.snapshots.get(k).unwrap_or(&self.images);
        let it = self.record.snapshot_iterations.get(k).copied().unwrap_or(self.config.iterations);
        self.grid(&format!("{} ipc{} on {}: iteration {it}", self.config.method.name(), self.config.ipc, self.dataset), images)
    }

    /// The final images, a row per class.
    pub fn plot_images(&self) -> Figure {
        let ipc = self.config.ipc;
        self.grid(&format!("{}: {ipc} image{} per class ({})", self.label(), if ipc == 1 { "" } else { "s" }, self.dataset), &self.images)
    }

    fn grid(&self, title: &str, images: &[f32]) -> Figure {
        let ipc = self.config.ipc.max(1);
        let mut shown = self.denormalised(images);
        if ipc == 1 {
            // one image per class: a row, each headed by its class (a column of ten is 1,000 px tall)
            let cols = self.shape[0];
            return crate::plot::images::image_grid_columns_unchecked(title, &shown, self.shape, cols, &[], &self.classes, Normalise::Fixed(0.0, 1.0));
        }
        let mut shape = self.shape;
        // at most 10 columns per class keeps the figure readable
        if ipc > 10 {
            let per: usize = self.shape[1..].iter().product();
            shown = (0..self.shape[0]).filter(|i| i % ipc < 10).flat_map(|i| shown[i * per..(i + 1) * per].to_vec()).collect();
            shape[0] = self.classes.len() * 10;
        }
        image_grid_unchecked(title, &shown, shape, ipc.min(10), &self.classes, Normalise::Fixed(0.0, 1.0))
    }

    /// The set at every kept snapshot side by side (initialisation, middle, end; the DSA paper's
    /// picture): a row per class, a column group per snapshot headed by its iteration, up to
    /// 12 images per row. A set without snapshots (random, herding) shows its images.
    pub fn plot_evolution(&self) -> Figure {
        let snaps = &self.record.snapshots;
        if snaps.is_empty() {
            return self.plot_images();
        }
        let (k, ipc) = (snaps.len(), self.config.ipc.max(1));
        let shown = ipc.min((12 / k).max(1));
        let per: usize = self.shape[1..].iter().product();
        let mut images = Vec::with_capacity(self.classes.len() * k * shown * per);
        for class in 0..self.classes.len() {
            for snap in snaps {
                for j in 0..shown {
                    let i = class * ipc + j;
                    images.extend_from_slice(&snap[i * per..(i + 1) * per]);
                }
            }
        }
        // short heads: a column group can be one 28-px image wide
        let heads: Vec<String> = self.record.snapshot_iterations.iter().map(|it| if *it == 0 { "start".to_string() } else { it.to_string() }).collect();
        let shape = [self.classes.len() * k * shown, self.shape[1], self.shape[2], self.shape[3]];
        let what = if shown < ipc { format!(" (first {shown} of {ipc} per class)") } else { String::new() };
        let title = format!("{} ipc{} on {}: the set by outer iteration{what}", self.config.method.name(), self.config.ipc, self.dataset);
        image_grid_columns_unchecked(&title, &self.denormalised(&images), shape, k * shown, &self.classes, &heads, Normalise::Fixed(0.0, 1.0))
    }

    /// Matching loss over the outer iterations.
    pub fn plot_loss(&self) -> Figure {
        let points = self.record.losses.iter().enumerate().map(|(i, &l)| ((i + 1) as f64, l, 0.0)).collect();
        lines(
            &format!("{} ipc{}: matching loss", self.config.method.name(), self.config.ipc),
            "outer iteration",
            "loss per class and step",
            &[Series { name: self.label(), points }],
            false,
        )
    }

    /// evcxr rich output: the final images and the loss curve.
    pub fn evcxr_display(&self) {
        let mut p = Panel::new().figure(self.plot_images());
        if !self.record.losses.is_empty() {
            p = p.figure(self.plot_loss());
        }
        p.evcxr_display();
    }
}

/// One real and one synthetic batch under the same siamese draw, one pair of rows per family of
/// `strategy`: the top row of a pair is real, the bottom synthetic, and each column of the pair
/// went through the identical transformation.
pub fn siamese_preview(real: &RealImages, set: &Condensed, strategy: &Strategy, per_row: usize, seed: u64) -> Figure {
    let mut rng = Rng::derive(seed, 0x51A);
    let per_row = per_row.clamp(1, set.classes.len());
    let [_, c, h, w] = set.shape;
    let ipc = set.config.ipc;
    let syn_all = set.tensor(&real.device);
    let reals: Vec<Tensor<4>> = (0..per_row).map(|k| real.sample(k, 1, &mut rng)).collect();
    let syns: Vec<Tensor<4>> = (0..per_row).map(|k| syn_all.clone().slice(k * ipc..k * ipc + 1)).collect();
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    let mut push = |name: String, xs: &[Tensor<4>], draws: &[Draw]| {
        for (x, d) in xs.iter().zip(draws) {
            rows.push(d.apply(x.clone()));
        }
        labels.push(name);
    };
    for &f in &strategy.families {
        // one draw per column, shared by the real and the synthetic image of that column
        let draws: Vec<Draw> = (0..per_row).map(|_| Draw::sample(f, 1, [h, w], &mut rng)).collect();
        push(format!("{} real", f.token()), &reals, &draws);
        push(format!("{} syn", f.token()), &syns, &draws);
    }
    let n = rows.len();
    let images = Tensor::cat(rows, 0).into_data().try_to_vec::<f32>().unwrap_or_default();
    image_grid_unchecked("siamese augmentation: the same ω on real (top) and synthetic (bottom)", &set.denormalised(&images), [n, c, h, w], per_row, &labels, Normalise::Fixed(0.0, 1.0))
}

/// Test accuracy (headline architecture, mean ± std over the evaluation networks) against the
/// outer iteration, one line per set, from [`Condensed::evaluate_snapshots`]; `paper` draws the
/// paper's final number as a flat line per set where given (label, value).
pub fn accuracy_vs_iteration(title: &str, sets: &[(String, Vec<(usize, Evaluation)>)], paper: &[(String, f64)]) -> Figure {
    let mut series: Vec<Series> = sets
        .iter()
        .map(|(name, evals)| Series { name: name.clone(), points: evals.iter().map(|(it, e)| { let (m, s) = e.mean_std(0); (*it as f64, m, s) }).collect() })
        .collect();
    let x_max = sets.iter().flat_map(|s| s.1.iter().map(|p| p.0)).max().unwrap_or(1) as f64;
    for (name, v) in paper {
        series.push(Series { name: format!("{name} (paper, 1000 iterations)"), points: vec![(0.0, *v, 0.0), (x_max, *v, 0.0)] });
    }
    lines(title, "outer iteration", "test accuracy (%)", &series, false)
}

/// Accuracy bars (headline architecture) of several evaluations, with the paper's number as a
/// tick where `paper` has one for that method label.
pub fn accuracy_bars(title: &str, evals: &[&Evaluation], paper: &[(&str, f64)]) -> Figure {
    let items: Vec<Bar> = evals
        .iter()
        .map(|e| {
            let bar = e.bar();
            match paper.iter().find(|(m, _)| *m == e.method) {
                Some((_, v)) => bar.with_reference(*v),
                None => bar,
            }
        })
        .collect();
    bars(title, "test accuracy (%)", &items)
}

/// The papers' ConvNet accuracies for `dataset` at `ipc`, as (method, %) pairs: DC, DSA, random
/// and herding from the DSA paper's Table 1 (random and herding as the DC paper's Table 1 reports
/// them), DM from the DM paper's Table 1 where it reports the dataset (not Fashion-MNIST).
pub fn paper_numbers(dataset: &str, ipc: usize) -> Vec<(&'static str, f64)> {
    let row: &[(&str, [f64; 3])] = match dataset {
        "mnist" => &[
            ("DC", [91.7, 97.4, 98.8]),
            ("DSA", [88.7, 97.8, 99.2]),
            ("random", [64.9, 95.1, 97.9]),
            ("herding", [89.2, 93.7, 94.8]),
            ("DM", [89.7, 97.5, 98.6]),
        ],
        "fashion-mnist" => &[("DC", [70.5, 82.3, 83.6]), ("DSA", [70.6, 84.6, 88.7]), ("random", [51.4, 73.8, 82.5]), ("herding", [67.0, 71.1, 71.9])],
        "svhn" => &[("DC", [31.2, 76.1, 82.3]), ("DSA", [27.5, 79.2, 84.4])],
        "cifar10" => &[
            ("DC", [28.3, 44.9, 53.9]),
            ("DSA", [28.8, 52.1, 60.6]),
            ("random", [14.4, 26.0, 43.4]),
            ("herding", [21.5, 31.6, 40.4]),
            ("DM", [26.0, 48.9, 63.0]),
        ],
        _ => &[],
    };
    let col = match ipc {
        1 => 0,
        10 => 1,
        50 => 2,
        _ => return Vec::new(),
    };
    row.iter().map(|(m, v)| (*m, v[col])).collect()
}
