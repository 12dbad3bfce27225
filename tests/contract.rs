//! The method contract every method is built on: the task loss honours Mixup/CutMix targets and
//! label smoothing in every method, no gradient reaches a frozen teacher, losses and metrics are
//! recorded apart, a run holds several named models whose headline is the one it returns,
//! resume checks the dataset and profile, and background panics come back as panics.
mod common;
use burn::optim::GradientsParams;
use common::{cpu, data_root, tmp_dir};
use distillery::data::{Augment, Batch, Dataset, Loader, Mix};
use distillery::methods::{Dml, FitNet, Kd, Mgd, JobBuilder, RunBuilder, Supervised};
use distillery::models::{weights_digest, Arch, Staged};
use distillery::profile::Profile;
use distillery::train::{devices, CancelToken, Job, Method, Run, RunRecord, StepCtx, TrainConfig};
use distillery::Error;
use std::sync::{Arc, Mutex};

fn quick(epochs: usize) -> TrainConfig {
    TrainConfig::new().with_epochs(epochs).with_batch_size(16).with_lr(0.05).with_verbose(false)
}

fn fashion_small() -> Dataset {
    Dataset::fashion_mnist_full(&data_root()).unwrap().subset(Some(20), Some(10), 0).unwrap()
}

fn ctx(smoothing: f64) -> StepCtx {
    let (plain, device) = devices(&cpu());
    StepCtx { lr: 0.05, epoch: 0, epochs: 1, step: 0, total_steps: 1, device, plain, label_smoothing: smoothing }
}

/// A teacher whose parameters live on the autodiff device: were the method to run it in the
/// graph, gradients would reach these very parameters (a cloned module keeps its parameter ids).
fn graph_teacher(data: &Dataset) -> Run {
    let teacher = Supervised::builder().model(Arch::convnet(8, 2)).train(quick(1)).fit(data, &cpu()).unwrap();
    let (_, ad) = devices(&cpu());
    let net = Arch::convnet(8, 2).init_seeded(data.shape(), data.num_classes(), &ad, 1).unwrap();
    Run::new(teacher.record, vec![("teacher".into(), net)])
}

/// The same batch three ways: hard labels, mixed with uniform targets, mixed with one-hot targets.
fn batches(data: &Dataset) -> (Batch, Batch, Batch) {
    let plain = Loader::test(data, 12).epoch(0).next().unwrap();
    let k = plain.classes;
    let uniform = Batch { mixed: Some(vec![1.0 / k as f32; plain.len() * k]), ..plain.clone() };
    let mut one_hot = vec![0f32; plain.len() * k];
    for (i, &l) in plain.labels.iter().enumerate() {
        one_hot[i * k + l] = 1.0;
    }
    let hard_as_mixed = Batch { mixed: Some(one_hot), ..plain.clone() };
    (plain, uniform, hard_as_mixed)
}

/// The task-loss term `key` of `method` on `batch`.
fn task_term<M: Method>(method: &mut M, batch: &Batch, smoothing: f64, key: &str) -> f64 {
    method.losses(batch, &ctx(smoothing)).unwrap().log.get(key).unwrap_or_else(|| panic!("no `{key}` term"))
}

/// Mixed targets and label smoothing must change the task term; one-hot "mixed" targets must not.
fn targets_reach_the_loss<M: Method>(name: &str, method: &mut M, data: &Dataset, key: &str) {
    let (plain, uniform, hard_as_mixed) = batches(data);
    let hard = task_term(method, &plain, 0.0, key);
    let mixed = task_term(method, &uniform, 0.0, key);
    let same = task_term(method, &hard_as_mixed, 0.0, key);
    let smoothed = task_term(method, &plain, 0.2, key);
    assert!((mixed - hard).abs() > 1e-3, "{name}: Mixup targets ignored ({hard} vs {mixed})");
    assert!((same - hard).abs() < 1e-4, "{name}: one-hot targets must give the hard-label loss ({hard} vs {same})");
    // an untrained net's near-uniform outputs make smoothing's effect small (≈ 1e-3 at ε = 0.2,
    // smaller on some inits); ignored smoothing gives the same forward pass, a difference of 0
    assert!((smoothed - hard).abs() > 1e-5, "{name}: label smoothing ignored ({hard} vs {smoothed})");
}

#[test]
fn every_method_trains_on_the_mixed_and_smoothed_targets() {
    let data = fashion_small();
    let device = cpu();
    let teacher = graph_teacher(&data);
    let student = Arch::convnet(4, 2);
    targets_reach_the_loss("supervised", &mut Supervised::builder().model(student.clone()).build(&data, &device).unwrap(), &data, "ce");
    targets_reach_the_loss("kd", &mut Kd::builder().teacher(&teacher).student(student.clone()).build(&data, &device).unwrap(), &data, "ce");
    targets_reach_the_loss("fitnet", &mut FitNet::builder().teacher(&teacher).student(student.clone()).build(&data, &device).unwrap(), &data, "ce");
    targets_reach_the_loss("mgd", &mut Mgd::builder().teacher(&teacher).student(student.clone()).build(&data, &device).unwrap(), &data, "ce");
    let mut dml = Dml::builder().peers([student.clone(), student]).build(&data, &device).unwrap();
    targets_reach_the_loss("dml peer 0", &mut dml, &data, "ce_0");
    targets_reach_the_loss("dml peer 1", &mut dml, &data, "ce_1");
}

#[test]
fn a_mixup_run_of_every_method_trains_and_records_its_terms() {
    let data = fashion_small();
    let device = cpu();
    let teacher = graph_teacher(&data);
    let recipe = quick(1).with_augment(Augment::none().with_mix(Mix::Mixup { alpha: 1.0 })).with_label_smoothing(0.1);
    let student = Arch::convnet(4, 2);
    let runs = [
        Supervised::builder().model(student.clone()).train(recipe.clone()).fit(&data, &device).unwrap(),
        Kd::builder().teacher(&teacher).student(student.clone()).train(recipe.clone()).fit(&data, &device).unwrap(),
        FitNet::builder().teacher(&teacher).student(student.clone()).train(recipe.clone()).fit(&data, &device).unwrap(),
        Mgd::builder().teacher(&teacher).student(student.clone()).train(recipe.clone()).fit(&data, &device).unwrap(),
        Dml::builder().peers([student.clone(), student]).train(recipe).fit(&data, &device).unwrap(),
    ];
    for run in runs {
        let e = &run.record.epochs[0];
        assert!(e.losses.values().all(|v| v.is_finite()), "{}: {:?}", run.record.method, e.losses);
        // metrics are not losses: train_acc is recorded apart
        assert!(e.metrics.contains_key("train_acc") && !e.losses.contains_key("train_acc"), "{}: {e:?}", run.record.method);
        assert_eq!(run.record.config["train"]["augment"]["mix"]["Mixup"]["alpha"], 1.0);
    }
}

#[test]
fn no_gradient_reaches_a_frozen_teacher_through_any_loss() {
    let data = fashion_small();
    let device = cpu();
    let teacher = graph_teacher(&data);
    let (batch, _, _) = batches(&data);
    let student = Arch::convnet(4, 2);
    fn check<M: Method>(name: &str, mut method: M, teacher: &Run, batch: &Batch) {
        let out = method.losses(batch, &ctx(0.0)).unwrap();
        let mut grads = out.total.backward();
        let to_teacher = GradientsParams::from_module(&mut grads, &teacher.model);
        let to_student = GradientsParams::from_module(&mut grads, method.model());
        assert!(to_teacher.is_empty(), "{name}: {} teacher parameters got a gradient", to_teacher.len());
        assert!(!to_student.is_empty(), "{name}: the student got no gradient");
    }
    check("kd", Kd::builder().teacher(&teacher).student(student.clone()).build(&data, &device).unwrap(), &teacher, &batch);
    check("fitnet", FitNet::builder().teacher(&teacher).student(student.clone()).build(&data, &device).unwrap(), &teacher, &batch);
    check("mgd+kd", Mgd::builder().teacher(&teacher).student(student).with_kd(4.0, 0.5).build(&data, &device).unwrap(), &teacher, &batch);
}

#[test]
fn a_dml_run_returns_every_peer_and_its_headline_is_the_returned_model() {
    let data = fashion_small();
    let run = Dml::builder().peers([Arch::convnet(4, 2), Arch::mlp(16, 1)]).train(quick(2)).fit(&data, &cpu()).unwrap();
    assert_eq!(run.model_names(), ["peer0", "peer1"]);
    let last = run.record.epochs.last().unwrap();
    assert_eq!(last.metrics["test_acc"], last.metrics["peer0_acc"], "test_acc describes the model the run returns");
    assert!((last.metrics["avg_acc"] - (last.metrics["peer0_acc"] + last.metrics["peer1_acc"]) / 2.0).abs() < 1e-12);
    assert!(last.metrics.contains_key("ens_acc"));
    let probe = Loader::test(&data, 8).epoch(0).next().unwrap();
    let x = probe.images(&cpu());
    run.model.forward(x.clone()).into_data().assert_eq(&run.get("peer0").unwrap().forward(x).into_data(), true);
    assert!(run.plot_models().svg.contains("peer 1 accuracy"), "per-model curves, named in words");
}

#[test]
fn resume_refuses_another_dataset_or_profile_but_not_another_verbosity_or_data_folder() {
    let data = fashion_small();
    let mnist = Dataset::mnist_full(&data_root()).unwrap().subset(Some(20), Some(10), 0).unwrap();
    let dir = tmp_dir("identity");
    let build = || Supervised::builder().model(Arch::mlp(8, 1)).train(quick(2)).checkpoint_dir(dir.join("ckpt"));
    build().verbose(true).stop_after_steps(20).fit(&data, &cpu()).unwrap_err();
    let err = build().fit(&mnist, &cpu()).unwrap_err();
    assert!(matches!(&err, Error::Checkpoint { reason, .. } if reason.contains("dataset")), "{err}");
    let err = build().profile(Profile::Smoke).fit(&data, &cpu()).unwrap_err();
    assert!(matches!(&err, Error::Checkpoint { reason, .. } if reason.contains("profile")), "{err}");
    // progress lines change no number, nor does the folder the same files were read from: a
    // quiet (spawned) run on the data under another path resumes a verbose one's checkpoint
    let mut moved = data.clone();
    moved.source = "/elsewhere/fashion-mnist".into();
    let run = build().spawn(&moved, &cpu()).wait().unwrap();
    assert_eq!(run.record.epochs.len(), 2);
    // a checkpoint from before the identity dropped the folder ("…, from DIR)") and before it
    // carried a content digest still resumes
    let state = std::fs::read_dir(dir.join("ckpt")).unwrap().flatten().map(|e| e.path().join("state.json")).find(|p| p.exists()).unwrap();
    let mut saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let now = saved["config"]["dataset"].as_str().unwrap().to_string();
    assert!(now.contains(", content "), "{now}");
    let old = format!("{}, from {})", &now[..now.rfind(", content ").unwrap()], data.source);
    saved["config"]["dataset"] = old.into();
    std::fs::write(&state, saved.to_string()).unwrap();
    assert_eq!(build().fit(&data, &cpu()).unwrap().record.epochs.len(), 2, "the legacy checkpoint was not read back");
    // a checkpoint of another subset of the same size is refused (one written with the digest)
    let swapped = Dataset::fashion_mnist_full(&data_root()).unwrap().subset(Some(20), Some(10), 99).unwrap();
    assert_eq!((swapped.train.len(), swapped.test.len()), (data.train.len(), data.test.len()));
    let fresh = || Supervised::builder().model(Arch::mlp(8, 1)).train(quick(2)).checkpoint_dir(dir.join("digest"));
    fresh().stop_after_steps(20).fit(&data, &cpu()).unwrap_err();
    let err = fresh().fit(&swapped, &cpu()).unwrap_err();
    assert!(matches!(&err, Error::Checkpoint { reason, .. } if reason.contains("dataset")), "{err}");
}

#[test]
fn a_distilled_checkpoint_resumes_only_against_its_own_teacher() {
    let data = fashion_small();
    let dir = tmp_dir("teacher-identity");
    let teacher = |seed| Supervised::builder().model(Arch::mlp(8, 1)).train(quick(1)).seed(seed).fit(&data, &cpu()).unwrap();
    let (a, b) = (teacher(0), teacher(1));
    let kd = |t: &Run, sub: &str| Kd::builder().teacher(t).student(Arch::mlp(4, 1)).train(quick(2)).checkpoint_dir(dir.join(sub));
    kd(&a, "kd").stop_after_steps(20).fit(&data, &cpu()).unwrap_err();
    // same architecture, other weights: refused, naming the method settings
    let err = kd(&b, "kd").fit(&data, &cpu()).unwrap_err();
    assert!(matches!(&err, Error::Checkpoint { reason, .. } if reason.contains("method")), "{err}");
    assert_eq!(kd(&a, "kd").fit(&data, &cpu()).unwrap().record.epochs.len(), 2, "its own teacher resumes");
    // a bare network is recorded by its weights too, and so is MGD's teacher
    let bare = kd(&a, "bare").teacher_net(b.model.clone());
    assert_eq!(bare.to_config().teacher_weights, Some(weights_digest(&b.model)));
    assert_ne!(weights_digest(&a.model), weights_digest(&b.model));
    assert_eq!(Mgd::builder().teacher(&a).to_config().teacher_weights, Some(weights_digest(&a.model)));
}

#[test]
fn one_checkpoint_folder_takes_one_run_at_a_time() {
    let data = fashion_small();
    let tmp = tmp_dir("lock");
    let dir = tmp.join("ckpt");
    let build = |epochs| Supervised::builder().model(Arch::mlp(8, 1)).train(quick(epochs)).checkpoint_dir(&dir);
    let job = build(400).spawn(&data, &cpu());
    let waited = std::time::Instant::now();
    while !dir.join("LOCK").exists() {
        assert!(waited.elapsed().as_secs() < 30, "the running job never took the folder's lock");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let err = build(400).fit(&data, &cpu()).unwrap_err();
    assert!(matches!(&err, Error::Checkpoint { reason, .. } if reason.contains("in use")), "{err}");
    job.cancel();
    let _ = job.wait();
    assert!(!dir.join("LOCK").exists(), "released when the run ends");
    // a lock left by a process that no longer runs (killed) is taken over
    std::fs::write(dir.join("LOCK"), "4000000000\n").unwrap();
    let err = build(400).stop_after_steps(1).fit(&data, &cpu()).unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "it trained (and stopped as asked): {err}");
}

#[test]
fn a_panic_in_a_background_job_comes_back_with_its_message() {
    let live = Arc::new(Mutex::new(RunRecord::new("p", "", serde_json::json!({}), String::new(), String::new(), String::new())));
    let job: Job = Job::start("p".into(), live, CancelToken::default(), || panic!("the loader exploded"));
    match job.wait() {
        Err(Error::Panicked { run, message }) => assert_eq!((run.as_str(), message.as_str()), ("p", "the loader exploded")),
        other => panic!("{:?}", other.map(|r| r.record.name)),
    }
}

#[test]
fn a_teacher_that_does_not_fit_the_data_is_a_shape_error() {
    let data = fashion_small(); // 1×28×28, 10 classes
    let device = cpu();
    let (_, ad) = devices(&device);
    let teacher = graph_teacher(&data);
    let mut rgb = teacher.clone();
    rgb.model = Arch::convnet(8, 2).init([3, 32, 32], 10, &ad).unwrap();
    let mut five = teacher.clone();
    five.model = Arch::convnet(8, 2).init([1, 28, 28], 5, &ad).unwrap();
    for (t, what) in [(&rgb, "cannot take"), (&five, "5 classes")] {
        for err in [Kd::builder().teacher(t).build(&data, &device).err(), Mgd::builder().teacher(t).student(Arch::convnet(4, 2)).build(&data, &device).err()] {
            let err = err.expect("a misfit teacher is refused");
            assert!(matches!(&err, Error::Shape { what: w, .. } if w == "teacher"), "{err}");
            assert!(err.to_string().contains(what) && err.to_string().contains("[N, 1, 28, 28] → [N, 10]"), "{err}");
        }
    }
}

/// The 30-line example method of docs/README.md ("How to add a method"), verbatim.
mod example {
    use burn::module::Module;
    use burn::tensor::activation::{log_softmax, softmax};
    use distillery::data::{Batch, Dataset};
    use distillery::models::{Arch, Net, Staged};
    use distillery::train::{devices, Method, Run, StepCtx, StepOutput, TrainConfig, Trainer};

    struct ConfidencePenalty { net: Net, beta: f64 }

    impl Method for ConfidencePenalty {
        type Model = Net;
        fn name(&self) -> String { "confidence-penalty".into() }
        fn model(&self) -> &Net { &self.net }
        fn model_mut(&mut self) -> &mut Net { &mut self.net }
        fn nets(&self) -> Vec<(String, Net)> { vec![("student".into(), self.net.valid())] }
        /// Pereyra et al. 2017, Eq. 2: L = CE(y, p) − β·H(p), H(p) = −Σ p log p (batch mean).
        fn losses(&mut self, batch: &Batch, ctx: &StepCtx) -> distillery::Result<StepOutput> {
            let logits = self.net.forward(batch.images(&ctx.device));
            let ce = ctx.task_loss(logits.clone(), batch);
            let entropy = (softmax(logits.clone(), 1) * log_softmax(logits.clone(), 1)).sum_dim(1).neg().mean();
            let total = ce.clone() - entropy.clone().mul_scalar(self.beta);
            Ok(StepOutput::new(total).loss("ce", &ce).loss("entropy", &entropy).metric("train_acc", ctx.batch_accuracy(logits, batch)))
        }
    }

    pub fn fit(data: &Dataset, device: &burn::tensor::Device, recipe: TrainConfig) -> distillery::Result<Run> {
        let net = Arch::convnet(16, 2).init_seeded(data.shape(), data.num_classes(), &devices(device).1, recipe.seed)?;
        let mut method = ConfidencePenalty { net, beta: 0.1 };
        Trainer::new("confidence penalty", recipe).run(&mut method, serde_json::json!({ "beta": 0.1 }), data, device)
    }
}

#[test]
fn the_documented_example_method_trains_with_every_service() {
    let data = Dataset::fashion_mnist_full(&data_root()).unwrap().subset(Some(60), Some(20), 0).unwrap();
    let run = example::fit(&data, &cpu(), quick(3)).unwrap();
    let series: Vec<f64> = run.record.series("ce").iter().map(|p| p.1).collect();
    assert!(series[2] < series[0], "it learns: {series:?}");
    assert!(run.test_acc() > 0.4, "{}", run.test_acc());
    let e = &run.record.epochs[0];
    assert!(e.losses.contains_key("entropy") && e.metrics.contains_key("train_acc") && !e.losses.contains_key("train_acc"));
    assert_eq!(run.model_names(), ["student"]);
}
