//! Every paper's `gpu` configuration — its models and widths, losses and weights, batch,
//! optimiser and schedule, at the paper's input shape and class count — trains two steps on the
//! CPU: each experiment at `Profile::Gpu` with only the epochs cut to 2 and a handful of
//! generated images of the paper's shape (one batch per epoch, so two optimisation steps).
//! Losses stay finite, the objective falls from the first step to the second, and the networks
//! give `[n, classes]` logits. No gpu run has happened on a GPU here; this is what keeps the
//! configurations users would launch there from rotting.
mod common;
use distillery::data::{DataRoot, Dataset, Split};
use distillery::experiment::{GanKdExperiment, MgdExperiment, MksmtExperiment, OkdcrExperiment};
use distillery::methods::condense::{Algorithm, Condense};
use distillery::methods::JobBuilder;
use distillery::methods::online::OnlineConfig;
use distillery::models::{Net, Staged};
use distillery::profile::Profile;
use distillery::train::{Comparison, RunRecord};
use distillery::Error;

/// `train` and `test` images of `[3, side, side]` with `classes` classes, labels taking
/// `distinct` values spread over them, seeded noise: the paper's shape and class count, a
/// handful of images.
fn generated(name: &str, side: usize, classes: usize, distinct: usize, train: usize, test: usize) -> Dataset {
    let split = |n: usize, seed: u64| {
        let mut rng = distillery::rng::Rng::new(seed);
        let images: Vec<u8> = (0..n * 3 * side * side).map(|_| rng.below(256) as u8).collect();
        let labels: Vec<u16> = (0..n).map(|i| ((i % distinct) * (classes / distinct)) as u16).collect();
        Split::new(images, labels, [3, side, side]).unwrap()
    };
    let names = (0..classes).map(|c| format!("class {c}")).collect();
    Dataset::new(name, names, split(train, 1), split(test, 2), true, "generated".into()).unwrap()
}

/// The objective a step minimised: the total loss, or — where a ramp raises the weight of the
/// distillation terms between the two steps (ONE, FFL, OKDCR) — the cross-entropy under it.
fn objective(r: &RunRecord, epoch: usize) -> f64 {
    let e = &r.epochs[epoch];
    let key = if e.metrics.contains_key("ramp") { "ce" } else { "loss" };
    e.losses[key]
}

/// Two epochs of one step each, every loss finite, the objective lower at the second step.
fn two_finite_falling_steps(c: &Comparison) {
    assert!(c.failed.is_empty(), "{:?}", c.failed);
    for row in &c.rows {
        let r = &row.records[0];
        assert_eq!(r.epochs.len(), 2, "{}: two epochs", row.label);
        for e in &r.epochs {
            assert!(e.losses.values().all(|v| v.is_finite()), "{}: {:?}", row.label, e.losses);
        }
        let (first, second) = (objective(r, 0), objective(r, 1));
        assert!(second < first, "{}: loss {first} → {second} did not fall on the second step", row.label);
    }
}

fn logits_shape(net: &Net, data: &Dataset) -> [usize; 2] {
    let [c, h, w] = data.shape();
    net.forward_features(burn::tensor::Tensor::zeros([2, c, h, w], &common::cpu())).logits.dims()
}

/// An output folder that does not exist yet (the experiment makes it), removed after the test.
fn out(name: &str) -> common::TmpDir {
    let dir = common::tmp_dir(name);
    std::fs::remove_dir_all(&dir).ok();
    dir
}

#[test]
fn okdcr_gpu_configuration_runs_on_cifar100_shapes_with_lambda_100() {
    let data = generated("cifar100", 32, 100, 8, 8, 4);
    let mut exp = OkdcrExperiment::new(Profile::Gpu);
    assert_eq!(exp.base.dataset, "cifar100", "the paper's dataset by default");
    let dir = out("gpu-okdcr");
    (exp.seeds, exp.base.epochs, exp.base.out) = (1, 2, dir.to_path_buf());
    assert_eq!(OnlineConfig::new(distillery::methods::online::OnlineKind::Okdcr).consistency_weight(100), 100.0, "λ = 100 at 100 classes");
    let report = exp.run_on(&data, &common::cpu()).unwrap();
    assert_eq!(report.comparison.rows.len(), 7);
    two_finite_falling_steps(&report.comparison);
    for nets in &report.comparison.models {
        assert_eq!(logits_shape(&nets[0], &data), [2, 100]);
    }
}

#[test]
fn mgd_gpu_configuration_runs_resnet56_to_resnet20_on_cifar100_shapes() {
    let data = generated("cifar100", 32, 100, 8, 8, 4);
    let mut exp = MgdExperiment::new(Profile::Gpu);
    assert_eq!(exp.base.dataset, "cifar100");
    let dir = out("gpu-mgd");
    (exp.seeds, exp.base.epochs, exp.base.out) = (1, 2, dir.to_path_buf());
    let c = exp.run_on(&data, &common::cpu()).unwrap();
    assert_eq!(c.rows.len(), 5);
    two_finite_falling_steps(&c);
    assert_eq!(logits_shape(&c.models[0][0], &data), [2, 100]);
}

#[test]
fn gan_kd_gpu_configuration_runs_every_row_on_cifar100_shapes() {
    // two classes present, five images each: every one of the k = 5 folds holds both
    let data = generated("cifar100", 32, 100, 2, 10, 4);
    let mut exp = GanKdExperiment::new(Profile::Gpu);
    assert_eq!(exp.base.dataset, "cifar100");
    let dir = out("gpu-gan-kd");
    (exp.seeds, exp.base.epochs, exp.gan_epochs, exp.base.out) = (1, 2, 2, dir.to_path_buf());
    let report = exp.run_on(&data, &common::cpu()).unwrap();
    assert_eq!(report.comparison.rows.len(), 8);
    two_finite_falling_steps(&report.comparison);
    assert_eq!(report.teachers[0].teachers.len(), 5, "k = 5 cross-validated teachers");
    assert_eq!(logits_shape(&report.comparison.models[0][0], &data), [2, 100]);
}

#[test]
fn mksmt_gpu_configuration_runs_swin_b_on_cub_shapes() {
    let data = generated("cub-200", 224, 200, 2, 2, 2);
    let mut exp = MksmtExperiment::new(Profile::Gpu);
    assert_eq!(exp.base.dataset, "cub-200");
    let dir = out("gpu-mksmt");
    (exp.seeds, exp.base.epochs, exp.base.out) = (1, 2, dir.to_path_buf());
    // the MKSMT row alone: a Swin-B checkpoint (weights and AdamW's moments) weighs 1 GB, and
    // CI's disk is small; the baseline row is the same backbone with one head
    exp.rows = Some(vec!["mksmt".into()]);
    exp.temperatures.clear();
    let report = exp.run_on(&data, &common::cpu()).unwrap();
    two_finite_falling_steps(&report.comparison);
    assert_eq!(logits_shape(&report.comparison.models[0][0], &data), [2, 200]);
}

#[test]
fn dsa_gpu_configuration_condenses_cifar10_shapes() {
    let data = generated("cifar10", 32, 10, 10, 40, 10);
    let set = Condense::method(Algorithm::Dsa).ipc(1).profile(Profile::Gpu).iterations(2).verbose(false).fit(&data, &common::cpu()).unwrap();
    assert_eq!(set.shape, [10, 3, 32, 32]);
    assert!(set.config.strategy.contains("flip"), "CIFAR flips: {}", set.config.strategy);
    assert!(set.images.iter().all(|v| v.is_finite()));
    let run = set.run.as_ref().unwrap();
    assert!(run.epochs.iter().flat_map(|e| e.losses.values()).all(|v| v.is_finite()), "{:?}", run.epochs);
}

/// At the gpu profile each job reads the paper's dataset; where it is not on disk, a typed error
/// says what to download and where to put it instead of training on Fashion-MNIST.
#[test]
fn a_missing_paper_dataset_is_a_typed_error_saying_where_to_get_it() {
    let dir = common::tmp_dir("gpu-no-data");
    let empty = DataRoot(dir.to_path_buf());
    let mut okdcr = OkdcrExperiment::new(Profile::Gpu);
    okdcr.base.data_root = empty.clone();
    match okdcr.load_data() {
        Err(e @ Error::MissingData { .. }) => assert!(e.to_string().contains("cifar-100-binary") && e.to_string().contains("cifar-100-binary.tar.gz"), "{e}"),
        other => panic!("{:?}", other.map(|d| d.name)),
    }
    let mut mksmt = MksmtExperiment::new(Profile::Gpu);
    mksmt.base.data_root = empty;
    match mksmt.load_data() {
        Err(e @ Error::MissingData { .. }) => assert!(e.to_string().contains("cub-200/train/<class>") && e.to_string().contains("train_test_split.txt"), "{e}"),
        other => panic!("{:?}", other.map(|d| d.name)),
    }
}
