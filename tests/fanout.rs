//! Fan-out on this machine: sweeps and comparisons over a list of devices give what the
//! sequential forms give, keep their order, and list a failed point instead of aborting.
mod common;
use common::{cpu, data_root};
use distillery::prelude::*;

fn data() -> Dataset {
    Dataset::fashion_mnist(&data_root(), &Profile::Smoke).unwrap()
}

fn quick(seed: u64, lr: f64) -> TrainConfig {
    TrainConfig::new().with_epochs(1).with_batch_size(32).with_lr(lr).with_seed(seed).with_verbose(false)
}

fn train(data: &Dataset, lr: f64, seed: u64, device: &Device) -> distillery::Result<Run> {
    Supervised::builder().model(Arch::mlp(32, 1)).train(quick(seed, lr)).fit(data, device)
}

/// `(params, seed, final test accuracy)` of every point, in order.
type Accuracies = Vec<(Vec<(String, f64)>, u64, f64)>;

fn accuracies(sweep: &Sweep) -> Accuracies {
    sweep.points.iter().map(|p| (p.params.clone(), p.seed, p.record.final_metric("test_acc").unwrap())).collect()
}

#[test]
fn a_sweep_fanned_out_over_two_devices_equals_the_sequential_sweep() {
    let data = data();
    let spec = || Sweep::over("lr", [0.01, 0.05, 0.1]).seeds([0, 1]).verbose(false);
    let sequential = spec().run_seeded(|lr, seed| train(&data, lr, seed, &cpu())).unwrap();
    let fanned = spec().run_on(&[cpu(), cpu()], |p, device| train(&data, p.x(), p.seed, device)).unwrap();
    assert!(fanned.failed.is_empty(), "{:?}", fanned.failed);
    assert_eq!(accuracies(&fanned), accuracies(&sequential), "same points, same order, same numbers");
    assert_eq!(fanned.table("test_acc"), sequential.table("test_acc"));
}

#[test]
fn a_point_that_fails_on_a_working_device_is_listed_and_the_others_finish() {
    let data = data();
    let sweep = Sweep::over("lr", [0.05, -1.0, 0.1])
        .verbose(false)
        .run_on(&[cpu(), cpu()], |p, device| {
            if p.x() < 0.0 {
                panic!("a bug in the point's own code");
            }
            train(&data, p.x(), p.seed, device)
        })
        .unwrap();
    assert_eq!(sweep.points.len(), 2, "the other two points finished");
    assert_eq!(sweep.failed.len(), 1);
    let failed = &sweep.failed[0];
    assert_eq!(failed.params, vec![("lr".to_string(), -1.0)]);
    assert!(failed.error.contains("a bug in the point's own code") && failed.error.contains("device answers"), "{}", failed.error);
    let table = sweep.table("test_acc");
    assert!(table.rows.iter().any(|r| r[1].starts_with("failed (seed 0)")), "{table:?}");
    // a typed error is the run's own too: listed, not retried, not fatal
    let sweep = Sweep::over("epochs", [0.0, 1.0])
        .verbose(false)
        .run_on(&[cpu()], |p, device| Supervised::builder().model(Arch::mlp(8, 1)).train(quick(0, 0.05).with_epochs(p.x() as usize)).fit(&data, device))
        .unwrap();
    assert_eq!((sweep.points.len(), sweep.failed.len()), (1, 1), "{:?}", sweep.failed);
    assert!(sweep.failed[0].error.contains("epochs"), "{}", sweep.failed[0].error);
}

#[test]
fn a_comparison_fans_its_device_methods_out_and_keeps_rows_in_order() {
    let data = data();
    let local = Comparison::of("mlp widths")
        .seeds([0, 1])
        .verbose(false)
        .method("narrow", |seed| Supervised::builder().model(Arch::mlp(8, 1)).train(quick(seed, 0.05)).fit(&data, &cpu()))
        .method("wide", |seed| Supervised::builder().model(Arch::mlp(32, 1)).train(quick(seed, 0.05)).fit(&data, &cpu()))
        .run()
        .unwrap();
    let fanned = Comparison::of("mlp widths")
        .seeds([0, 1])
        .verbose(false)
        .devices([cpu(), cpu()])
        .method_on("narrow", |seed, device| Supervised::builder().model(Arch::mlp(8, 1)).train(quick(seed, 0.05)).fit(&data, device))
        .method_on("wide", |seed, device| Supervised::builder().model(Arch::mlp(32, 1)).train(quick(seed, 0.05)).fit(&data, device))
        .run()
        .unwrap();
    let summary = |c: &Comparison| c.rows.iter().map(|r| (r.label.clone(), r.seeds.clone(), r.values("test_acc"), r.records.iter().map(|x| x.epochs[0].losses.clone()).collect::<Vec<_>>())).collect::<Vec<_>>();
    assert_eq!(summary(&fanned), summary(&local), "same rows, seeds, accuracies and losses");
    assert_eq!(fanned.models.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2], "every trained network kept");
    assert!(fanned.failed.is_empty());
}

#[test]
fn fanning_out_needs_a_device() {
    let err = Sweep::over("lr", [0.1]).run_on(&[], |_, _| unreachable!()).unwrap_err();
    assert!(matches!(err, Error::Invalid { ref field, .. } if field == "devices"), "{err}");
}
