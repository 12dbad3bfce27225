//! MKSMT (paper 3): heads, step schemes, the KD term, Grad-CAM, flip robustness, typed errors.
mod common;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};
use distillery::analysis::{flip_accuracy, grad_cam, grad_cam_per_image, Flip};
use distillery::data::{Batch, Dataset, Loader};
use distillery::methods::mksmt::{self_kd, Distill, Mksmt, Scheme, Step2};
use distillery::methods::RunBuilder;
use distillery::models::swin::SwinSpec;
use distillery::models::{trainable_params, Arch, Staged};
use distillery::profile::Profile;
use distillery::train::{devices, Method, Optimizers, StepCtx, TrainConfig};
use distillery::Error;

fn data(train_per_class: usize) -> Dataset {
    let d = Dataset::fashion_mnist(&common::data_root(), &Profile::Cpu).unwrap();
    let mut d = d;
    d.train = d.train.per_class(10, train_per_class, 0).unwrap();
    d
}

fn micro() -> Arch {
    Arch::swin(SwinSpec::micro(8))
}

/// Every float parameter of a module, flattened, in visiting order.
fn params<M: Module>(m: &M) -> Vec<Vec<f32>> {
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0.push(p.val().into_data().convert::<f32>().try_to_vec::<f32>().unwrap());
        }
    }
    let mut c = Collect(Vec::new());
    m.visit(&mut c);
    c.0
}

fn ctx(device: &burn::tensor::Device) -> StepCtx {
    let (plain, train) = devices(device);
    StepCtx { lr: 0.05, epoch: 0, epochs: 1, step: 0, total_steps: 10, device: train, plain, label_smoothing: 0.0 }
}

fn one_batch(d: &Dataset) -> Batch {
    Loader::train(d, 32, distillery::data::Augment::none(), 0).epoch(0).next().unwrap()
}

#[test]
fn heads_are_training_only_the_run_returns_the_bare_backbone() {
    let d = data(10);
    let dev = common::cpu();
    let method = Mksmt::builder().backbone(micro()).build(&d, &dev).unwrap();
    let backbone = micro().init(d.shape(), 10, &dev).unwrap();
    let with_heads = trainable_params(method.model_ref());
    let inference = &method.nets()[0].1;
    assert_eq!(trainable_params(inference), trainable_params(&backbone), "the returned network is the backbone alone");
    assert!(with_heads > trainable_params(&backbone), "the stage head adds parameters while training");
    assert_eq!(method.model_ref().heads.len(), 1);
    assert_eq!(method.model_ref().stages, vec![2], "two-step: a head on S3 (0-based 2) and S4's own");
    let three = Mksmt::builder().backbone(micro()).scheme(Scheme::ThreeStep).build(&d, &dev).unwrap();
    assert_eq!(three.model_ref().stages, vec![1, 2]);
}

#[test]
fn step_one_changes_nothing_beyond_s3_and_its_head() {
    let d = data(10);
    let dev = common::cpu();
    // λ₁ = λ₂ = 0 turns step 2 into a zero update: only step 1 moves parameters
    let mut method = Mksmt::builder().backbone(micro()).lambdas(0.0, 0.0).train(TrainConfig::new().with_weight_decay(0.0)).build(&d, &dev).unwrap();
    let before_s4 = params(&method.model_ref().net.clone());
    let before_heads = params(&method.model_ref().heads);
    let mut optim = Optimizers::new(&TrainConfig::new().with_weight_decay(0.0).with_momentum(0.0));
    method.step(&one_batch(&d), &ctx(&dev), &mut optim).unwrap();
    let after_net = params(&method.model_ref().net);
    let after_heads = params(&method.model_ref().heads);
    assert!(before_heads != after_heads, "head₃ learnt");
    // the backbone visits patch embed, stages 1–4, norm, head: the last stage's tensors and the
    // final norm/head must be untouched, earlier ones must have moved
    let moved: Vec<bool> = before_s4.iter().zip(&after_net).map(|(a, b)| a != b).collect();
    let s4 = 13 * 2 + 3 + 2 + 2; // two blocks, the merge into S4, the final norm, the head
    let n = moved.len();
    assert!(moved[..n - s4].iter().filter(|&&m| m).count() > 20, "S1–S3 moved");
    assert!(moved[n - s4..].iter().all(|&m| !m), "S4, its merge, the final norm and the head did not move: {:?}", &moved[n - s4..]);
}

#[test]
fn self_kd_equals_a_hand_value_and_its_detach_switch_works() {
    let dev = common::cpu();
    let z3 = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, -1.0], [1, 3]), &dev);
    let z4 = Tensor::<2>::from_data(TensorData::new(vec![2.0f32, 0.5, 0.0], [1, 3]), &dev);
    // hand value at T = 2: p = softmax(z/2); T²·Σ p₄ log(p₄/p₃)
    let soft = |z: [f64; 3]| {
        let e: Vec<f64> = z.iter().map(|v| (v / 2.0).exp()).collect();
        let s: f64 = e.iter().sum();
        e.into_iter().map(|v| v / s).collect::<Vec<_>>()
    };
    let (p3, p4) = (soft([1.0, 0.0, -1.0]), soft([2.0, 0.5, 0.0]));
    let hand: f64 = 4.0 * p4.iter().zip(&p3).map(|(a, b)| a * (a / b).ln()).sum::<f64>();
    let got = self_kd(z3.clone(), z4.clone(), 2.0, true).into_scalar::<f32>() as f64;
    assert!((got - hand).abs() < 1e-5, "{got} vs hand {hand}");
    // gradients: detached, none reaches z₄; attached, it does
    let (_, ad) = devices(&dev);
    for detach in [true, false] {
        let a = Tensor::<2>::from_data(z3.clone().into_data(), &ad).require_grad();
        let b = Tensor::<2>::from_data(z4.clone().into_data(), &ad).require_grad();
        let g = self_kd(a.clone(), b.clone(), 2.0, detach).backward();
        assert!(a.grad(&g).is_some());
        assert_eq!(b.grad(&g).is_some(), !detach, "detach = {detach}");
    }
}

#[test]
fn bad_settings_are_typed_errors() {
    let d = data(10);
    let dev = common::cpu();
    // a three-step scheme needs three stages; an MLP of one hidden layer has one
    match Mksmt::builder().backbone(Arch::mlp(16, 1)).scheme(Scheme::ThreeStep).build(&d, &dev) {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "scheme"),
        other => panic!("{:?}", other.err()),
    }
    assert!(matches!(Mksmt::builder().temperature(0.0).build(&d, &dev), Err(Error::Invalid { .. })));
    assert!(matches!(Mksmt::builder().lambdas(-1.0, 1.0).build(&d, &dev), Err(Error::Invalid { .. })));
    match grad_cam(&micro().init(d.shape(), 10, &dev).unwrap(), Tensor::zeros([1, 1, 28, 28], &dev), 4, 0) {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "stage"),
        other => panic!("{:?}", other.err()),
    }
}

#[test]
fn every_scheme_trains_and_learns_on_real_fashion_mnist() {
    let d = data(30);
    let dev = common::cpu();
    let mut accs = Vec::new();
    for (scheme, step2, distill) in [
        (Scheme::Baseline, Step2::Sync, Distill::None),
        (Scheme::SingleStep, Step2::Sync, Distill::Decision),
        (Scheme::TwoStep, Step2::Sync, Distill::Decision),
        (Scheme::TwoStep, Step2::Async, Distill::Feature),
        (Scheme::ThreeStep, Step2::Sync, Distill::Decision),
    ] {
        let run = Mksmt::builder()
            .backbone(Arch::convnet(8, 3))
            .scheme(scheme)
            .step2(step2)
            .distill(distill)
            .train(TrainConfig::new().with_epochs(3).with_batch_size(32).with_lr(0.05).with_verbose(false))
            .fit(&d, &dev)
            .unwrap();
        let acc = run.test_acc();
        assert!(acc > 0.35, "{scheme:?} {step2:?} {distill:?}: {acc}");
        let last = run.record.epochs.last().unwrap();
        if scheme != Scheme::Baseline {
            assert!(last.metrics.contains_key("head_s2_acc"), "{:?}", last.metrics.keys());
        }
        if distill != Distill::None {
            assert!(last.losses.contains_key("kd"), "{:?}", last.losses.keys());
        }
        accs.push(acc);
    }
    assert!(accs.iter().any(|&a| a > 0.5), "{accs:?}");
}

#[test]
fn grad_cam_highlights_the_region_that_drives_the_logit() {
    // built case: an image bright only in its top-left quadrant; a one-stage ConvNet whose
    // logit 1 is the mean of the stage channel that responds to the bright square (the
    // classifier is set by hand), logit 0 that of a channel silent there
    let dev = common::cpu();
    let net = Arch::convnet(8, 1).init_seeded([1, 16, 16], 2, &dev, 3).unwrap();
    let mut x = vec![0.0f32; 16 * 16];
    for r in 0..8 {
        for c in 0..8 {
            x[r * 16 + c] = 3.0;
        }
    }
    let img = Tensor::<4>::from_data(TensorData::new(x, [1, 1, 16, 16]), &dev);
    let stage = net.forward_features(img.clone()).stages[0].clone().into_data().try_to_vec::<f32>().unwrap(); // [1, 8, 8, 8]
    let quadrant = |ch: usize, r0: usize, c0: usize| (r0..r0 + 4).flat_map(|r| (c0..c0 + 4).map(move |c| (r, c))).map(|(r, c)| stage[ch * 64 + r * 8 + c]).sum::<f32>();
    let bright = (0..8).max_by(|&a, &b| (quadrant(a, 0, 0) - quadrant(a, 4, 4)).total_cmp(&(quadrant(b, 0, 0) - quadrant(b, 4, 4)))).unwrap();
    assert!(quadrant(bright, 0, 0) > quadrant(bright, 4, 4), "some channel responds to the square");
    let mut w = vec![0.0f32; 8 * 64 * 2];
    for p in 0..64 {
        w[(bright * 64 + p) * 2 + 1] = 1.0 / 64.0;
    }
    let fc = burn::nn::Linear { weight: Param::from_tensor(Tensor::from_data(TensorData::new(w, [512, 2]), &dev)), bias: None };
    let net = net.with_classifier(fc);
    let cam = grad_cam(&net, img.clone(), 0, 1).unwrap();
    assert_eq!(cam.dims(), [1, 16, 16]);
    let v = cam.into_data().try_to_vec::<f32>().unwrap();
    assert!(v.iter().all(|&p| (0.0..=1.0 + 1e-6).contains(&p)), "scaled to [0, 1]");
    let mean = |r0: usize, c0: usize| (r0..r0 + 8).flat_map(|r| (c0..c0 + 8).map(move |c| (r, c))).map(|(r, c)| v[r * 16 + c]).sum::<f32>() / 64.0;
    let (tl, br) = (mean(0, 0), mean(8, 8));
    assert!(tl > 2.0 * br && tl > 0.3, "top-left {tl} vs bottom-right {br}");
    // logit 0 reads nothing: its map is empty
    let zero = grad_cam(&net, img, 0, 0).unwrap().into_data().try_to_vec::<f32>().unwrap();
    assert!(zero.iter().all(|&p| p == 0.0));
}

#[test]
fn flips_change_the_images_and_the_identity_does_not() {
    let d = data(10);
    let dev = common::cpu();
    let net = Arch::convnet(8, 2).init(d.shape(), 10, &dev).unwrap();
    let none = flip_accuracy(&net, &d, Flip::None, &dev);
    let plain = distillery::train::evaluate_net(&net, &Loader::test(&d, 256), &dev).0;
    assert!((none - plain).abs() < 1e-9);
    let img = Tensor::<4>::from_data(TensorData::new((0..16).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 4, 4]), &dev);
    let h = Flip::Horizontal.apply(img.clone()).into_data().try_to_vec::<f32>().unwrap();
    let v = Flip::Vertical.apply(img).into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(&h[..4], &[3.0, 2.0, 1.0, 0.0]);
    assert_eq!(&v[..4], &[12.0, 13.0, 14.0, 15.0]);
}

#[test]
fn batched_grad_cam_gives_every_image_its_own_map() {
    // one backward for the batch (one class per image) equals one Grad-CAM per image
    let d = data(10);
    let dev = common::cpu();
    let batch = Loader::test(&d, 3).epoch(0).next().unwrap();
    let images = batch.images(&dev);
    let classes = [1usize, 4, 7];
    for arch in [micro(), Arch::convnet(8, 3)] {
        let net = arch.init_seeded(d.shape(), 10, &dev, 1).unwrap();
        let together = grad_cam_per_image(&net, images.clone(), 1, &classes).unwrap().into_data().try_to_vec::<f32>().unwrap();
        for (i, &class) in classes.iter().enumerate() {
            let alone = grad_cam(&net, images.clone().narrow(0, i, 1), 1, class).unwrap().into_data().try_to_vec::<f32>().unwrap();
            let part = &together[i * alone.len()..(i + 1) * alone.len()];
            let diff = part.iter().zip(&alone).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(diff < 1e-4, "{arch}, image {i}: {diff}");
        }
    }
    assert!(matches!(grad_cam_per_image(&micro().init(d.shape(), 10, &dev).unwrap(), images, 1, &[1, 2]), Err(Error::Shape { .. })));
}

#[test]
fn a_fine_tune_starts_from_the_pretrained_backbone_with_a_fresh_classifier_and_heads() {
    let whole = data(10);
    let (pre, ft) = (whole.with_classes(&[0, 1, 3, 5, 8]).unwrap(), whole.with_classes(&[2, 4, 6]).unwrap());
    let dev = common::cpu();
    // a run's network, as the experiment passes it on (pretrained for one epoch on 50 images)
    let mut small = pre.clone();
    small.train = small.train.per_class(5, 10, 0).unwrap();
    let pretrained = Mksmt::builder().backbone(micro()).scheme(Scheme::Baseline).train(TrainConfig::new().with_epochs(1).with_seed(11)).fit(&small, &dev).unwrap().model;
    let mut method = Mksmt::builder().backbone(micro()).train(TrainConfig::new().with_seed(3)).init_backbone(pretrained.clone()).build(&ft, &dev).unwrap();
    let net = &method.nets()[0].1;
    let fresh = micro().init_seeded(ft.shape(), 3, &dev, 3).unwrap();
    assert_eq!(net.classifier().weight.dims(), [fresh.classifier().weight.dims()[0], 3], "the classifier is sized for the fine-tune classes");
    assert_eq!(params(net.classifier()), params(fresh.classifier()), "the classifier is the seeded fresh one");
    let (ours, theirs) = (params(net), params(&pretrained));
    let (fc, body) = (params(net.classifier()).len(), ours.len());
    assert_eq!(ours[..body - fc], theirs[..body - fc], "every backbone tensor before the classifier comes from the pretrained network");
    assert_ne!(params(&fresh)[0], theirs[0], "(the seeded fresh network differs, so the check above can fail)");
    // and fine-tuning moves it: the pretrained tensors are trainable, not frozen
    let mut optim = Optimizers::new(&TrainConfig::new().with_weight_decay(0.0));
    method.step(&one_batch(&ft), &ctx(&dev), &mut optim).unwrap();
    let after = params(&method.nets()[0].1);
    assert_ne!(after[0], theirs[0], "the patch embedding moved in a fine-tuning step");
    assert!(after.iter().zip(&theirs).filter(|(a, b)| a != b).count() > body / 2, "most backbone tensors moved");
    // without init the same builder starts from the seeded fresh network
    let scratch = Mksmt::builder().backbone(micro()).train(TrainConfig::new().with_seed(3)).build(&ft, &dev).unwrap();
    assert_eq!(params(&scratch.nets()[0].1)[0], params(&fresh)[0]);
    // another architecture is a typed error naming the field
    let other = Arch::swin(SwinSpec::micro(16)).init(pre.shape(), 5, &dev).unwrap();
    match Mksmt::builder().backbone(micro()).init_backbone(other).build(&ft, &dev) {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "init_backbone"),
        other => panic!("{:?}", other.err()),
    }
}
