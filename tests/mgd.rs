//! MGD and FitNet: mask statistics, the loss by hand, gradient flow, α = 0, bad input.
mod common;
use burn::module::Param;
use burn::tensor::{Tensor, TensorData};
use common::{cpu, data_root};
use distillery::data::{Dataset, Loader};
use distillery::methods::feature::{mgd_loss, random_mask, FeatureHead, MaskKind};
use distillery::methods::{FitNet, Mgd, JobBuilder, RunBuilder, Supervised};
use distillery::models::Arch;
use distillery::rng::Rng;
use distillery::train::{devices, TrainConfig};
use distillery::Error;

fn quick(epochs: usize) -> TrainConfig {
    TrainConfig::new().with_epochs(epochs).with_batch_size(32).with_lr(0.05).with_verbose(false)
}

fn fashion_small() -> Dataset {
    Dataset::fashion_mnist_full(&data_root()).unwrap().subset(Some(60), Some(30), 0).unwrap()
}

#[test]
fn masks_drop_the_requested_fraction() {
    let mut rng = Rng::new(3);
    for (kind, ratio) in [(MaskKind::Channel, 0.15), (MaskKind::Channel, 0.5), (MaskKind::Pixel, 0.65), (MaskKind::Pixel, 0.0)] {
        let mut zeros = 0.0;
        let mut total = 0.0;
        for _ in 0..20 {
            let m = random_mask(kind, [32, 64, 8, 8], ratio, &mut rng, &cpu());
            let dims = m.dims();
            match kind {
                MaskKind::Channel => assert_eq!(dims, [32, 64, 1, 1]),
                MaskKind::Pixel => assert_eq!(dims, [32, 1, 8, 8]),
            }
            let v = m.into_data().try_to_vec::<f32>().unwrap();
            zeros += v.iter().filter(|x| **x == 0.0).count() as f64;
            total += v.len() as f64;
        }
        let frac = zeros / total;
        assert!((frac - ratio).abs() < 0.01, "{kind:?} λ={ratio}: dropped {frac}");
    }
}

fn set_identity(conv: &mut burn::nn::conv::Conv2d, c: usize) {
    let mut w = vec![0f32; c * c * 9];
    for i in 0..c {
        w[(i * c + i) * 9 + 4] = 1.0; // centre tap
    }
    let device = conv.weight.val().device();
    conv.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, [c, c, 3, 3]), &device));
    conv.bias = Some(Param::from_tensor(Tensor::zeros([c], &device)));
}

#[test]
fn the_loss_equals_the_hand_computation() {
    // G = identity conv → ReLU → identity conv = ReLU, no align (same channels): the loss is
    // Σ (T − ReLU(S ⊙ M))² / N.
    let device = cpu();
    let mut head = FeatureHead::new(2, 2, true, &device);
    set_identity(head.generate_a.as_mut().unwrap(), 2);
    set_identity(head.generate_b.as_mut().unwrap(), 2);
    // N = 2, C = 2, 1×2 maps
    let s = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, -2.0, 3.0, 4.0, 0.5, 0.5, -1.0, 2.0], [2, 2, 1, 2]), &device);
    let t = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0], [2, 2, 1, 2]), &device);
    // sample 0 keeps channel 0 and drops channel 1; sample 1 keeps both
    let m = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 0.0, 1.0, 1.0], [2, 2, 1, 1]), &device);
    // generated: s0 = [relu(1), relu(-2), 0, 0] = [1, 0, 0, 0]; s1 = [0.5, 0.5, 0, 2]
    // squared errors: s0: (1-1)²+(1-0)²+0+0 = 1; s1: (1-.5)²+(0-.5)²+(0-0)²+(1-2)² = 1.5
    let loss = mgd_loss(&head, s, t, m).into_scalar::<f32>();
    assert!((loss - (1.0 + 1.5) / 2.0).abs() < 1e-6, "{loss}");
}

#[test]
fn gradients_reach_student_align_and_generation() {
    let (_, train) = devices(&cpu());
    let head = FeatureHead::new(3, 4, true, &train);
    let s = Tensor::<4>::ones([2, 3, 4, 4], &train).require_grad();
    let t = Tensor::<4>::zeros([2, 4, 4, 4], &train);
    let m = Tensor::<4>::ones([2, 4, 1, 1], &train);
    let grads = mgd_loss(&head, s.clone(), t.clone(), m).backward();
    assert!(s.grad(&grads).is_some(), "student feature");
    assert!(head.align.as_ref().unwrap().weight.val().grad(&grads).is_some(), "align conv");
    assert!(head.generate_a.as_ref().unwrap().weight.val().grad(&grads).is_some(), "generation conv 1");
    assert!(head.generate_b.as_ref().unwrap().weight.val().grad(&grads).is_some(), "generation conv 2");
}

#[test]
fn mgd_trains_and_alpha_zero_is_the_baseline() {
    let data = fashion_small();
    let device = cpu();
    let teacher = Supervised::builder().model(Arch::convnet(16, 3)).train(quick(2)).fit(&data, &device).unwrap();
    let student = Arch::convnet(8, 3);
    let mgd = Mgd::builder().teacher(&teacher).student(student.clone()).alpha(1e-3).train(quick(2)).seed(5).fit(&data, &device).unwrap();
    assert!(mgd.record.epochs.iter().all(|e| e.losses["feat2"] > 0.0), "the MGD term is active");
    // α = 0: exactly the student alone (same seed, recipe, data)
    let zero = Mgd::builder().teacher(&teacher).student(student.clone()).alpha(0.0).train(quick(2)).seed(5).fit(&data, &device).unwrap();
    let alone = Supervised::builder().model(student).train(quick(2)).seed(5).fit(&data, &device).unwrap();
    for (a, b) in zero.record.epochs.iter().zip(&alone.record.epochs) {
        assert!((a.losses["ce"] - b.losses["ce"]).abs() < 1e-4, "{} vs {}", a.losses["ce"], b.losses["ce"]);
        assert!((a.metrics["test_acc"] - b.metrics["test_acc"]).abs() < 1e-9);
    }
    // FitNet on the same trainer: its hint term is active, no generation block
    let fit = FitNet::builder().teacher(&teacher).student(Arch::convnet(8, 3)).alpha(1e-3).train(quick(1)).fit(&data, &device).unwrap();
    assert_eq!(fit.record.method, "fitnet");
    assert!(fit.record.epochs[0].losses["feat2"] > 0.0);
}

#[test]
fn bad_mgd_settings_are_typed_errors() {
    let data = Dataset::shapes_sized(2, 1, 0).unwrap();
    let device = cpu();
    let teacher = Supervised::builder().model(Arch::convnet(8, 3)).train(quick(1)).fit(&data, &device).unwrap();
    let cases = [
        (Mgd::builder().teacher(&teacher).mask_ratio(1.0), "mask_ratio"),
        (Mgd::builder().teacher(&teacher).mask_ratio(-0.1), "mask_ratio"),
        (Mgd::builder().teacher(&teacher).alpha(-1.0), "alpha"),
        (Mgd::builder().teacher(&teacher).student(Arch::convnet(4, 3)).stages([5]), "stages.student"),
        // student stage 0 is 16×16, teacher stage 2 is 4×4: no 1×1 conv can align them
        (Mgd::builder().teacher(&teacher).student(Arch::convnet(4, 3)).stage_pairs([(0, 2)]), "stages"),
        (Mgd::builder(), "teacher"),
    ];
    for (builder, field) in cases {
        match builder.verbose(false).train(quick(1)).fit(&data, &device) {
            Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            Err(e) => panic!("{field}: {e}"),
            Ok(_) => panic!("{field}: accepted"),
        }
    }
}

#[test]
fn paper_style_and_heterogeneous_pairs_train() {
    let data = Dataset::shapes_sized(2, 1, 0).unwrap();
    let device = cpu();
    // ResNet teacher → ResNet student, last stages (both 64 channels at 8×8)
    let teacher = Supervised::builder().model(Arch::resnet(14)).train(quick(1)).fit(&data, &device).unwrap();
    let run = Mgd::builder().teacher(&teacher).student(Arch::resnet(8)).train(quick(1)).fit(&data, &device).unwrap();
    assert!(run.record.epochs[0].losses.contains_key("feat2"));
    // ResNet → MobileNetV2: the teacher's last stage (8×8) meets the student's third (96 ch, 8×8)
    // through the 1×1 align conv
    let run = Mgd::builder()
        .teacher(&teacher)
        .student(Arch::MobileNetV2(distillery::models::mobilenet::MobileNetV2Spec { width_mult: 0.25 }))
        .stage_pairs([(2, -1)])
        .mask(MaskKind::Pixel)
        .train(quick(1))
        .fit(&data, &device)
        .unwrap();
    assert!(run.record.epochs[0].losses["feat2"] > 0.0);
}

#[test]
fn a_resumed_mgd_run_draws_the_same_masks_as_an_uninterrupted_one() {
    let data = fashion_small();
    let device = cpu();
    let teacher = Supervised::builder().model(Arch::convnet(8, 3)).train(quick(1)).fit(&data, &device).unwrap();
    let dir = common::tmp_dir("mgd-resume");
    let build = || Mgd::builder().teacher(&teacher).student(Arch::convnet(4, 3)).alpha_auto().mask_ratio(0.5).train(quick(3)).seed(3);
    let per_epoch = Loader::train(&data, 32, Default::default(), 0).batches_per_epoch();
    let err = build().checkpoint_dir(&dir).stop_after_steps(per_epoch + 1).fit(&data, &device).unwrap_err();
    assert!(matches!(err, Error::Cancelled { epoch: 2, .. }), "{err}");
    let resumed = build().checkpoint_dir(&dir).fit(&data, &device).unwrap();
    let straight = build().fit(&data, &device).unwrap();
    for (a, b) in resumed.record.epochs.iter().zip(&straight.record.epochs) {
        // the feature term depends on the masks drawn: equal only if the generator was restored
        assert!((a.losses["feat2"] - b.losses["feat2"]).abs() < 1e-5, "epoch {}: {} vs {}", a.epoch, a.losses["feat2"], b.losses["feat2"]);
        assert_eq!(a.metrics["alpha"], b.metrics["alpha"], "auto α survives the resume");
    }
}

#[test]
fn auto_alpha_sizes_the_feature_term_to_the_ce_with_or_without_kd() {
    // one batch per epoch: epoch 1's logged losses are the first batch's, where α is chosen
    let data = fashion_small();
    let device = cpu();
    let one_batch = TrainConfig::new().with_epochs(1).with_batch_size(data.train.len()).with_lr(0.05).with_verbose(false);
    let teacher = Supervised::builder().model(Arch::convnet(8, 3)).train(quick(1)).fit(&data, &device).unwrap();
    let w = 0.9;
    let run = Mgd::builder().teacher(&teacher).student(Arch::convnet(4, 3)).alpha_auto().with_kd(4.0, w).train(one_batch).seed(1).fit(&data, &device).unwrap();
    let e = &run.record.epochs[0].losses;
    let optimised = (1.0 - w) * e["ce"] + w * e["kd"];
    // the official config keeps α_MGD when a logit loss is added: sized against the CE, not
    // against (1 − w)·CE + w·KD (which made α 3–5× larger and diverged on the cpu table)
    assert!((e["feat2"] - e["ce"]).abs() < 1e-3 * e["ce"].max(1.0), "α·L_dis = {} vs CE {} ((1 − w)·CE + w·KD = {optimised})", e["feat2"], e["ce"]);
    assert!((e["feat2"] - optimised).abs() > 1e-2, "the two sizes must differ here to tell them apart");
}

#[test]
fn the_alpha_sizing_rule_is_part_of_an_mgd_plus_kd_runs_identity() {
    let text = |b: distillery::methods::feature::FeatureBuilder| serde_json::to_string(b.to_config()).unwrap();
    // either order of the setters records it: a checkpoint made while α was sized against the
    // optimised loss (no such member) has another digest and is not resumed under the new rule
    for config in [text(Mgd::builder().alpha_auto().with_kd(4.0, 0.9)), text(Mgd::builder().with_kd(4.0, 0.9).alpha_auto())] {
        assert!(config.contains(r#""auto_alpha_basis":"Ce""#), "{config}");
    }
    // without KD or without auto α nothing changed, so those checkpoints keep their folders
    for config in [text(Mgd::builder().alpha_auto()), text(Mgd::builder().with_kd(4.0, 0.9)), text(Mgd::builder())] {
        assert!(!config.contains("auto_alpha_basis"), "{config}");
    }
}
