//! Cross-validated KD labels (the paper's "label generation"): the training set is split into k
//! stratified folds, teacher i is trained on every fold but i and labels only the samples of
//! fold i, so a sample's soft label never comes from a teacher that saw it. The soft label of an
//! augmented sample is softmax(z_t/T) of that sample, fused with label smoothing:
//! ỹ = β·softmax(z_t/T) + (1 − β)·[(1 − ε)·onehot(y) + ε/K].
use crate::data::{Augment, Dataset, Loader};
use crate::error::{ensure, Error, Result};
use crate::methods::options::{JobBuilder, RunBuilder, RunOptions};
use crate::methods::supervised::Supervised;
use crate::models::{Arch, Net, Staged};
use crate::train::{devices, evaluate_net, Run, TrainConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};

/// k teachers and the folds they were trained on.
#[derive(Debug, Clone)]
pub struct FoldTeachers {
    /// Indices (into the training split) of every fold.
    pub folds: Vec<Vec<usize>>,
    /// Fold of every training sample.
    fold_of: Vec<usize>,
    /// Teacher i: trained on every fold but i (its record and network).
    pub teachers: Vec<Run>,
    /// Accuracy of teacher i on fold i, the samples it labels and never saw.
    pub heldout_acc: Vec<f64>,
    /// The architecture of every teacher.
    pub arch: Arch,
    /// [`Dataset::identity`] of the data the folds index.
    pub data: String,
}

impl FoldTeachers {
    /// A builder: k = 5 teachers, ConvNet-3 (width 32) unless [`.model`](FoldTeachersBuilder::model) names another.
    pub fn builder() -> FoldTeachersBuilder {
        FoldTeachersBuilder { arch: Arch::convnet(32, 3), folds: 5, options: RunOptions::default() }
    }
    /// The same teachers with their networks on `device`.
    pub fn on(&self, device: &Device) -> FoldTeachers {
        use burn::module::Module;
        let mut moved = self.clone();
        for run in &mut moved.teachers {
            run.model = run.model.clone().to_device(device);
        }
        moved
    }
    /// Number of folds.
    pub fn k(&self) -> usize {
        self.folds.len()
    }
    /// The fold (= the labelling teacher) of training sample `i`.
    pub fn fold_of(&self, i: usize) -> Option<usize> {
        self.fold_of.get(i).copied()
    }
    /// Checks that the folds index `data`'s training split.
    pub fn check_fits(&self, data: &Dataset) -> Result<()> {
        if self.data != data.identity() || self.fold_of.len() != data.train.len() {
            return Err(Error::invalid("teachers", &self.data, format!("were trained on folds of another training set (now {})", data.identity())));
        }
        Ok(())
    }

    /// softmax(z/T) of every image of a normalised batch (`[n, c, h, w]`), each from the teacher
    /// of its sample's fold (`indices` into the training split), row-major `[n, K]`.
    pub fn soft_labels(&self, images: &[f32], shape: [usize; 4], indices: &[usize], temperature: f64, device: &Device) -> Result<Vec<f32>> {
        let [n, c, h, w] = shape;
        if let Some(&i) = indices.iter().find(|&&i| self.fold_of.get(i).is_none()) {
            return Err(Error::invalid("sample index", i, format!("outside the {} training samples the teachers' folds cover", self.fold_of.len())));
        }
        let per = c * h * w;
        let mut out: Vec<f32> = Vec::new();
        for (f, teacher) in self.teachers.iter().enumerate() {
            let rows: Vec<usize> = (0..n).filter(|&r| self.fold_of.get(indices[r]) == Some(&f)).collect();
            if rows.is_empty() {
                continue;
            }
            let sub: Vec<f32> = rows.iter().flat_map(|&r| images[r * per..(r + 1) * per].iter().copied()).collect();
            let logits = teacher.model.forward(Tensor::from_data(TensorData::new(sub, [rows.len(), c, h, w]), device));
            let probs: Vec<f32> = softmax(logits.div_scalar(temperature), 1).into_data().try_to_vec::<f32>().expect("the teachers make f32 logits");
            let classes = probs.len() / rows.len();
            out.resize(n * classes, f32::NAN);
            for (j, &r) in rows.iter().enumerate() {
                out[r * classes..(r + 1) * classes].copy_from_slice(&probs[j * classes..(j + 1) * classes]);
            }
        }
        Ok(out)
    }
}

/// ỹ = β·q + (1 − β)·[(1 − ε)·onehot(y) + ε/K] per row (`q` row-major `[n, K]`): the paper's
/// fusion of the teacher's soft label with label smoothing. Rows sum to 1 when `q`'s do.
pub fn fuse_labels(soft: &[f32], labels: &[usize], classes: usize, beta: f64, smoothing: f64) -> Vec<f32> {
    let mut out = vec![0f32; labels.len() * classes];
    for (i, &y) in labels.iter().enumerate() {
        for k in 0..classes {
            let smoothed = (1.0 - smoothing) * f64::from(u8::from(k == y)) + smoothing / classes as f64;
            out[i * classes + k] = (beta * soft[i * classes + k] as f64 + (1.0 - beta) * smoothed) as f32;
        }
    }
    out
}

/// Mean entropy (nats) of the rows of `[n, K]` distributions.
pub fn mean_entropy(dists: &[f32], classes: usize) -> f64 {
    let n = dists.len() / classes.max(1);
    let h: f64 = dists.chunks_exact(classes).map(|row| row.iter().filter(|&&p| p > 0.0).map(|&p| -(p as f64) * (p as f64).ln()).sum::<f64>()).sum();
    // a one-hot row sums −0.0: report it as 0
    if h > 0.0 { h / n.max(1) as f64 } else { 0.0 }
}

/// Builder of the k fold teachers.
pub struct FoldTeachersBuilder {
    arch: Arch,
    folds: usize,
    options: RunOptions,
}

impl JobBuilder for FoldTeachersBuilder {
    fn options(&mut self) -> &mut RunOptions {
        &mut self.options
    }
}

impl RunBuilder for FoldTeachersBuilder {}

impl FoldTeachersBuilder {
    /// Every teacher's architecture.
    pub fn model(mut self, arch: Arch) -> Self {
        self.arch = arch;
        self
    }
    /// Number of folds k ≥ 2 (also the number of teachers).
    pub fn folds(mut self, k: usize) -> Self {
        self.folds = k;
        self
    }
    /// The recipe every teacher trains with.
    pub fn recipe(&self) -> &TrainConfig {
        &self.options.train
    }
    /// Splits `data.train` into stratified folds (seeded by the recipe's seed) and trains teacher
    /// i on every fold but i; with a checkpoint folder, teacher i checkpoints in `…/fold{i}`.
    pub fn fit(self, data: &Dataset, device: &Device) -> Result<FoldTeachers> {
        ensure(self.folds >= 2, "folds", self.folds, "cross-validated labels need k ≥ 2 folds")?;
        self.arch.validate()?;
        self.options.train.validate()?;
        let seed = self.options.train.seed;
        let folds = data.train.stratified_folds(data.num_classes(), self.folds, seed)?;
        let mut fold_of = vec![usize::MAX; data.train.len()];
        for (f, idx) in folds.iter().enumerate() {
            idx.iter().for_each(|&i| fold_of[i] = f);
        }
        let (plain, _) = devices(device);
        let (mut teachers, mut heldout_acc) = (Vec::new(), Vec::new());
        for i in 0..self.folds {
            let (train, held) = data.train.fold(&folds, i);
            let mut fold_data = data.clone();
            fold_data.train = train;
            let mut options = self.options.clone();
            options.name = Some(format!("teacher fold {}/{}", i + 1, self.folds));
            options.checkpoint = self.options.checkpoint.as_ref().map(|d| d.join(format!("fold{i}")));
            options.record_path = self.options.record_path.as_ref().map(|p| p.with_file_name(format!("teacher-fold{i}.json")));
            let mut builder = Supervised::builder().model(self.arch.clone());
            *builder.options() = options;
            let run = builder.fit(&fold_data, device)?;
            let held = Loader::over(data, held, 256, false, Augment::none(), 0);
            heldout_acc.push(evaluate_net(&run.model, &held, &plain).0);
            teachers.push(run);
        }
        Ok(FoldTeachers { folds, fold_of, teachers, heldout_acc, arch: self.arch, data: data.identity() })
    }
}

/// A teacher network's top-1 accuracy on normalised images.
pub fn accuracy_on(net: &Net, images: &[f32], shape: [usize; 4], labels: &[usize], device: &Device) -> f64 {
    let logits = net.forward(Tensor::from_data(TensorData::new(images.to_vec(), shape), device));
    let y: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    crate::losses::accuracy(logits, Tensor::from_data(TensorData::new(y, [labels.len()]), device))
}
