//! The trainer end to end on real data: learning, KD vs baseline, NaN detection, checkpoints and
//! resume, records, invalid hyper-parameters.
mod common;
use common::{cpu, data_root, tmp_dir};
use distillery::data::{Batch, Dataset, Loader};
use distillery::methods::{Dml, Kd, JobBuilder, RunBuilder, Supervised};
use distillery::models::Arch;
use distillery::profile::Profile;
use distillery::models::Net;
use distillery::train::{Method, Optimizers, RunRecord, Status, StepCtx, StepLog, StepOutput, TrainConfig, Trainer};
use distillery::Error;

fn mnist_small() -> Dataset {
    Dataset::mnist_full(&data_root()).unwrap().subset(Some(100), Some(50), 0).unwrap()
}

fn fashion_small() -> Dataset {
    Dataset::fashion_mnist_full(&data_root()).unwrap().subset(Some(100), Some(50), 0).unwrap()
}

fn quick(epochs: usize) -> TrainConfig {
    TrainConfig::new().with_epochs(epochs).with_batch_size(32).with_lr(0.05).with_verbose(false)
}

#[test]
fn a_small_convnet_learns_real_mnist_well_above_chance() {
    let data = mnist_small();
    let run = Supervised::builder().model(Arch::convnet(16, 2)).train(quick(3)).fit(&data, &cpu()).unwrap();
    let acc = run.test_acc();
    assert!(acc > 0.80, "MNIST test accuracy {acc} after 3 epochs on 1000 images (chance 0.10)");
    let losses: Vec<f64> = run.record.series("ce").iter().map(|p| p.1).collect();
    assert!(losses[2] < losses[0], "training loss falls: {losses:?}");
    assert_eq!(run.record.status, Status::Completed);
    assert!(run.record.epochs.iter().all(|e| e.images_per_s > 0.0 && e.seconds > 0.0));
}

#[test]
fn kd_student_and_baseline_train_on_the_same_data_and_seed() {
    let data = fashion_small();
    let device = cpu();
    let teacher = Supervised::builder().model(Arch::convnet(32, 3)).train(quick(4)).name("teacher").fit(&data, &device).unwrap();

    let student = Arch::convnet(8, 2);
    let alone = Supervised::builder().model(student.clone()).train(quick(3)).seed(7).name("alone").fit(&data, &device).unwrap();
    let kd = Kd::builder().teacher(&teacher).student(student.clone()).temperature(4.0).alpha(0.9).train(quick(3)).seed(7).name("kd").fit(&data, &device).unwrap();
    let kd_alpha0 = Kd::builder().teacher(&teacher).student(student).alpha(0.0).train(quick(3)).seed(7).name("kd α=0").fit(&data, &device).unwrap();

    println!("teacher {:.3}  alone {:.3}  kd {:.3}  kd(α=0) {:.3}", teacher.test_acc(), alone.test_acc(), kd.test_acc(), kd_alpha0.test_acc());
    // same data, same seed, same recipe
    assert_eq!(alone.record.dataset, kd.record.dataset);
    assert_eq!(alone.record.config["train"], kd.record.config["train"]);
    assert_eq!(kd.record.config["train"]["seed"], 7);
    // KD optimised its own term and both students learned
    assert!(kd.record.epochs.iter().all(|e| e.losses.contains_key("kd")));
    assert!(!alone.record.epochs[0].losses.contains_key("kd"));
    assert!(alone.test_acc() > 0.5 && kd.test_acc() > 0.5 && teacher.test_acc() > 0.6);
    // α = 0 is exactly the student alone
    for (a, b) in alone.record.epochs.iter().zip(&kd_alpha0.record.epochs) {
        assert!((a.losses["ce"] - b.losses["ce"]).abs() < 1e-4, "{a:?} vs {b:?}");
    }
    // (that no gradient reaches the teacher is checked in tests/contract.rs)
}

#[test]
fn kd_hyper_parameters_are_validated() {
    let data = Dataset::shapes_sized(2, 1, 0).unwrap();
    let teacher = Supervised::builder().model(Arch::convnet(4, 1)).train(quick(1)).fit(&data, &cpu()).unwrap();
    let cases = [
        (Kd::builder().teacher(&teacher).temperature(0.0), "temperature"),
        (Kd::builder().teacher(&teacher).temperature(-2.0), "temperature"),
        (Kd::builder().teacher(&teacher).alpha(1.5), "alpha"),
        (Kd::builder().teacher(&teacher).alpha(-0.1), "alpha"),
        (Kd::builder().teacher(&teacher).epochs(0), "epochs"),
        (Kd::builder().teacher(&teacher).batch_size(0), "batch_size"),
        (Kd::builder(), "teacher"),
    ];
    for (builder, field) in cases {
        match builder.verbose(false).fit(&data, &cpu()) {
            Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            Err(e) => panic!("{field}: wrong error {e}"),
            Ok(_) => panic!("{field}: accepted"),
        }
    }
}

/// A method whose loss turns NaN at the third step (it has no parameters: `step` only reports).
struct Exploding(usize, Vec<Net>);

impl Method for Exploding {
    type Model = Vec<Net>;
    fn name(&self) -> String {
        "exploding".into()
    }
    fn model(&self) -> &Vec<Net> {
        &self.1
    }
    fn model_mut(&mut self) -> &mut Vec<Net> {
        &mut self.1
    }
    fn nets(&self) -> Vec<(String, Net)> {
        Vec::new()
    }
    fn losses(&mut self, _: &Batch, _: &StepCtx) -> distillery::Result<StepOutput> {
        unreachable!("step is overridden")
    }
    fn step(&mut self, _: &Batch, _: &StepCtx, _: &mut Optimizers) -> distillery::Result<StepLog> {
        self.0 += 1;
        let value = if self.0 == 3 { f64::NAN } else { 1.0 };
        // a NaN *metric* is recorded, never mistaken for a diverged loss
        Ok(StepLog { losses: vec![("total".into(), value)], metrics: vec![("ratio".into(), f64::NAN)] })
    }
}

#[test]
fn a_nan_loss_stops_the_run_naming_step_and_loss() {
    let data = Dataset::shapes_sized(4, 1, 0).unwrap();
    let err = Trainer::new("boom", quick(2).with_batch_size(8)).fit(&mut Exploding(0, Vec::new()), serde_json::json!({}), &data, &cpu()).unwrap_err();
    match err {
        Error::NonFinite { loss, epoch, step, value, .. } => {
            assert_eq!((loss.as_str(), epoch, step), ("total", 1, 3));
            assert!(value.is_nan());
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_killed_run_resumes_from_its_last_checkpoint_and_matches_an_uninterrupted_one() {
    let data = mnist_small();
    let dir = tmp_dir("resume");
    let build = || Supervised::builder().model(Arch::convnet(8, 2)).train(quick(3)).checkpoint_dir(dir.join("ckpt")).record_to(dir.join("run.json"));
    let per_epoch = Loader::train(&data, 32, Default::default(), 0).batches_per_epoch();
    // killed in the middle of epoch 2
    let err = build().stop_after_steps(per_epoch + per_epoch / 2).fit(&data, &cpu()).unwrap_err();
    assert!(matches!(err, Error::Cancelled { epoch: 2, .. }), "{err}");
    let on_disk = RunRecord::load(&dir.join("run.json")).unwrap();
    assert_eq!((on_disk.epochs.len(), on_disk.status), (1, Status::Cancelled));
    // the rerun resumes at epoch 2 and finishes
    let resumed = build().fit(&data, &cpu()).unwrap();
    let epochs: Vec<usize> = resumed.record.epochs.iter().map(|e| e.epoch).collect();
    assert_eq!(epochs, [1, 2, 3]);
    assert_eq!(RunRecord::load(&dir.join("run.json")).unwrap(), resumed.record);
    // and equals a run that was never interrupted
    let straight = Supervised::builder().model(Arch::convnet(8, 2)).train(quick(3)).fit(&data, &cpu()).unwrap();
    for (a, b) in resumed.record.epochs.iter().zip(&straight.record.epochs) {
        assert!((a.losses["ce"] - b.losses["ce"]).abs() < 1e-4, "epoch {}: {} vs {}", a.epoch, a.losses["ce"], b.losses["ce"]);
        assert!((a.metrics["test_acc"] - b.metrics["test_acc"]).abs() < 1e-9);
    }
    // a different configuration refuses the checkpoint instead of mixing runs (more epochs
    // extend it: a_finished_run_extends_by_more_epochs…)
    let err = Supervised::builder().model(Arch::convnet(8, 2)).train(quick(3).with_lr(0.1)).checkpoint_dir(dir.join("ckpt")).fit(&data, &cpu()).unwrap_err();
    assert!(matches!(err, Error::Checkpoint { .. }), "{err}");
}

#[test]
fn records_roundtrip_and_corrupt_records_name_the_file() {
    let data = Dataset::shapes_sized(3, 1, 0).unwrap();
    let dir = tmp_dir("record");
    let run = Supervised::builder().model(Arch::mlp(16, 1)).train(quick(2)).profile(Profile::Smoke).record_to(dir.join("r.json")).fit(&data, &cpu()).unwrap();
    let back = RunRecord::load(&dir.join("r.json")).unwrap();
    assert_eq!(back, run.record);
    assert_eq!(back.profile, "smoke");
    assert!(back.backend.contains("CPU"));
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().contains("tmp")).collect();
    assert!(leftovers.is_empty(), "atomic write leaves no temporary files");
    std::fs::write(dir.join("bad.json"), b"{\"name\": 3").unwrap();
    let e = RunRecord::load(&dir.join("bad.json")).unwrap_err();
    assert!(e.to_string().contains("bad.json"), "{e}");
}

#[test]
fn dml_updates_two_peers_together_and_both_learn() {
    let data = fashion_small();
    let run = Dml::builder().peers([Arch::convnet(8, 2), Arch::mlp(32, 1)]).train(quick(3)).fit(&data, &cpu()).unwrap();
    let last = run.record.epochs.last().unwrap();
    println!("{:?}", last.metrics);
    assert!(last.metrics["peer0_acc"] > 0.5 && last.metrics["peer1_acc"] > 0.5, "{:?}", last.metrics);
    assert!(last.metrics["ens_acc"] > 0.5);
    assert!(last.losses["kl_0"] > 0.0 && last.losses["kl_1"] > 0.0, "mutual terms are active");
    let e = Dml::builder().peers([Arch::mlp(8, 1)]).train(quick(1)).fit(&data, &cpu()).unwrap_err();
    assert!(matches!(&e, Error::Invalid { field, .. } if field == "peers"), "{e}");
}

#[test]
fn adamw_is_part_of_the_recipe_and_sgd_recipes_keep_their_checkpoint_names() {
    use distillery::train::Optimizer;
    let data = fashion_small();
    let fit = |optimizer: Optimizer, lr: f64| Supervised::builder().model(Arch::mlp(32, 1)).train(quick(2)).optimizer(optimizer).lr(lr).fit(&data, &cpu()).unwrap();
    let (sgd, adamw) = (fit(Optimizer::Sgd, 0.05), fit(Optimizer::AdamW, 1e-3));
    assert!(adamw.test_acc() > 0.3, "AdamW learns: {}", adamw.test_acc());
    assert_ne!(sgd.record.epochs[0].losses, adamw.record.epochs[0].losses, "the optimiser changed the run");
    assert_eq!(adamw.record.config.pointer("/train/optimizer").and_then(|o| o.as_str()), Some("AdamW"), "the record says which optimiser");
    // an SGD recipe digests as it did before the optimiser was a setting (no orphaned folders)
    let recipe = TrainConfig::new();
    // 1780195b73fffff6: `settings_digest(&TrainConfig::new())` at the commit before the recipe had
    // an optimiser (every checkpoint folder of an SGD run keeps its name)
    assert_eq!(distillery::record::settings_digest(&recipe), "1780195b73fffff6", "the default recipe's digest moved");
    assert_ne!(distillery::record::settings_digest(&recipe.clone().with_optimizer(Optimizer::AdamW)), distillery::record::settings_digest(&recipe));
}

#[test]
fn a_finished_run_extends_by_more_epochs_and_an_old_checkpoint_without_an_optimizer_resumes() {
    let data = fashion_small();
    let dir = tmp_dir("train-extend");
    let fit = |epochs: usize| Supervised::builder().model(Arch::mlp(16, 1)).train(quick(epochs)).checkpoint_dir(&dir).fit(&data, &cpu());
    let two = fit(2).unwrap();
    // written before the recipe named its optimiser: the saved identity has no `optimizer`
    let state = dir.join("epoch-0002/state.json");
    let mut saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    saved["config"]["train"].as_object_mut().unwrap().remove("optimizer").expect("the recipe records its optimiser");
    std::fs::write(&state, saved.to_string()).unwrap();
    let three = fit(3).unwrap();
    assert_eq!(three.resumed_at, Some(2), "extended from its checkpoint, not retrained");
    assert_eq!(three.record.epochs.len(), 3);
    assert_eq!(three.record.epochs[..2].iter().map(|e| &e.losses).collect::<Vec<_>>(), two.record.epochs.iter().map(|e| &e.losses).collect::<Vec<_>>());
    // fewer epochs than it holds is another run: refused, naming the recipe
    let err = fit(1).unwrap_err();
    assert!(err.to_string().contains("`train`"), "{err}");
}
