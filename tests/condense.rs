//! Dataset condensation: the differentiable siamese augmentation, DC/DSA/DM learning on real
//! MNIST, coresets, evaluation, save/load, and typed errors for bad input.
mod common;
use burn::tensor::{Distribution, Tensor};
use common::{cpu, data_root, tmp_dir};
use distillery::data::{Dataset, Split};
use distillery::methods::condense::io::npy_f32;
use distillery::methods::condense::{normalised, Algorithm, Condense, Condensed, Draw, EvalConfig, Family, Init, Strategy};
use distillery::methods::JobBuilder;
use distillery::models::Arch;
use distillery::profile::Profile;
use distillery::rng::Rng;
use distillery::train::devices;
use distillery::Error;

fn mnist_small(per_class: usize) -> Dataset {
    Dataset::mnist_full(&data_root()).unwrap().subset(Some(per_class), Some(20), 0).unwrap()
}

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn zero_strength_draws_are_the_identity() {
    let device = cpu();
    device.seed(1);
    let x: Tensor<4> = Tensor::random([3, 3, 16, 16], Distribution::Normal(0.0, 1.0), &device);
    for family in Family::ALL {
        let y = Draw::identity(family).apply(x.clone());
        let err = values(x.clone() - y).iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(err < 1e-4, "{family:?}: identity changed the image by {err}");
    }
}

#[test]
fn the_gradient_reaches_the_images_through_every_family() {
    let (_, ad) = devices(&cpu());
    let mut rng = Rng::new(5);
    for family in Family::ALL {
        let x: Tensor<4> = Tensor::random([2, 1, 28, 28], Distribution::Normal(0.0, 1.0), &ad).require_grad();
        let mut draw = Draw::sample(family, 1, [28, 28], &mut rng);
        if family == Family::Flip {
            draw = Draw { family, params: distillery::methods::condense::dsa_aug::Params::Flip { flip: vec![true] } };
        }
        let y = draw.apply(x.clone());
        let grads = (y.clone() * y).sum().backward();
        let g = values(x.grad(&grads).expect("gradient reaches the images"));
        let nonzero = g.iter().filter(|v| v.abs() > 1e-8).count();
        assert!(nonzero > g.len() / 4, "{family:?}: only {nonzero} of {} pixels get a gradient", g.len());
        assert!(g.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn one_siamese_draw_transforms_every_image_alike() {
    let device = cpu();
    device.seed(2);
    let real: Tensor<4> = Tensor::random([4, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    let syn: Tensor<4> = Tensor::random([2, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    let strategy = Strategy::for_data(false);
    let mut rng = Rng::new(9);
    for _ in 0..10 {
        let draw = strategy.draw(None, [1, 28, 28], &mut rng).unwrap();
        let together = values(draw.apply(Tensor::cat(vec![real.clone(), syn.clone()], 0)));
        let apart = [values(draw.apply(real.clone())), values(draw.apply(syn.clone()))].concat();
        let err = together.iter().zip(&apart).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(err < 1e-5, "{:?}: the batch split changed the result by {err}", draw.family);
    }
    // per-image draws transform copies of one image differently
    let one = real.clone().slice(0..1);
    let copies = Tensor::cat(vec![one.clone(), one.clone(), one.clone(), one], 0);
    let mut rng = Rng::new(3);
    for _ in 0..5 {
        let per = strategy.draw(Some(4), [1, 28, 28], &mut rng).unwrap();
        let out = values(per.apply(copies.clone()));
        let n = out.len() / 4;
        let distinct = (1..4).filter(|&i| out[i * n..(i + 1) * n].iter().zip(&out[..n]).any(|(a, b)| (a - b).abs() > 1e-4)).count();
        assert!(distinct >= 2, "{:?}: per-image draws gave {} of 3 images unlike the first", per.family, distinct);
    }
}

#[test]
fn gradient_matching_learns_on_real_mnist() {
    let data = mnist_small(40);
    let set = Condense::dc()
        .ipc(1)
        .profile(Profile::Smoke)
        .iterations(30)
        .lr_img(0.3)
        .width(8)
        .batch_real(16)
        .init(Init::Noise)
        .verbose(false)
        .fit(&data, &cpu())
        .unwrap();
    let l = &set.record.losses;
    let (first, last) = (l[..5].iter().sum::<f64>() / 5.0, l[l.len() - 5..].iter().sum::<f64>() / 5.0);
    assert!(last < 0.9 * first, "matching loss did not fall: {first:.3} → {last:.3} ({l:?})");
    assert_eq!(set.record.snapshot_iterations, vec![0, 7, 15, 22, 30], "the start and every quarter");
    assert_ne!(set.record.snapshots[0], set.images, "the images did not change");
    assert_eq!(set.record.snapshots.last(), Some(&set.images), "the last snapshot is the final set");
    assert_eq!(set.labels, (0..10).collect::<Vec<_>>());
    // accuracy against the outer iteration: one evaluation per snapshot, and its figure
    let quick = EvalConfig::for_profile(Profile::Smoke).archs(vec![Arch::convnet(4, 3)]).models(1).epochs(2);
    let curve = set.evaluate_snapshots(&quick, &data, &cpu()).unwrap();
    assert_eq!(curve.iter().map(|c| c.0).collect::<Vec<_>>(), vec![0, 7, 15, 22, 30]);
    let fig = distillery::methods::condense::plots::accuracy_vs_iteration("DC", &[("DC ipc1".into(), curve)], &[("DC".into(), 91.7)]);
    assert!(fig.svg.contains("outer iteration") && fig.svg.contains("DC (paper, 1000 iterations)"));
}

#[test]
fn dsa_and_dm_sets_train_a_convnet_better_than_their_own_real_initialisation() {
    // real-image initialisation alone already trains a ConvNet well above chance: the learned
    // set must beat the very images it started from, under the same evaluation networks
    let data = mnist_small(30);
    let device = cpu();
    let eval = EvalConfig::for_profile(Profile::Smoke).archs(vec![Arch::convnet(8, 3), Arch::mlp(32, 1)]).models(4).epochs(30);
    for (method, iterations, lr_img) in [(Algorithm::Dsa, 20, 1.0), (Algorithm::Dm, 40, 1.0)] {
        let set = Condense::method(method).ipc(1).profile(Profile::Smoke).iterations(iterations).lr_img(lr_img).init(Init::Real).width(8).batch_real(16).seed(1).verbose(false).fit(&data, &device).unwrap();
        assert_eq!(set.shape[0], 10);
        assert!(set.images.iter().all(|v| v.is_finite()));
        let learned = set.evaluate(&eval, &data, &device).unwrap();
        assert_eq!((learned.results.len(), learned.results[0].1.len()), (2, 4));
        let mut start = set.clone();
        start.images = set.record.snapshots[0].clone();
        let initial = start.evaluate(&eval, &data, &device).unwrap();
        let (after, before) = (learned.mean_std(0).0, initial.mean_std(0).0);
        println!("{method:?}: {after:.1}% after {iterations} iterations vs {before:.1}% from the initial real images");
        assert!(after > before + 3.0, "{method:?}: the learned set ({after:.1}%) does not beat its real initialisation ({before:.1}%)");
    }
}

#[test]
fn herding_and_random_select_real_images_of_each_class() {
    let data = mnist_small(25);
    let device = cpu();
    let net = Arch::convnet(8, 3).init_seeded([1, 28, 28], 10, &device, 0).unwrap();
    let by_class = data.train.by_class(10);
    let real: Vec<Vec<f32>> = by_class.iter().map(|idx| values(normalised(&data.train.select(idx), &data.mean, &data.std, &device))).collect();
    let per = 28 * 28;
    for builder in [Condense::random(), Condense::herding().feature_net(net)] {
        let set = builder.ipc(3).profile(Profile::Smoke).fit(&data, &device).unwrap();
        assert_eq!(set.shape, [30, 1, 28, 28]);
        assert!(set.record.losses.is_empty());
        // every picked image is a distinct training image of the class it is labelled with
        for (i, img) in set.images.chunks(per).enumerate() {
            let c = set.labels[i];
            let found: Vec<usize> = (0..by_class[c].len()).filter(|&j| real[c][j * per..(j + 1) * per].iter().zip(img).all(|(a, b)| (a - b).abs() < 1e-6)).collect();
            assert!(!found.is_empty(), "{}: image {i} (label {c}) is not a training image of class {c}", set.label());
        }
        for c in 0..10 {
            let imgs: Vec<&[f32]> = set.images.chunks(per).skip(3 * c).take(3).collect();
            assert!(imgs[0] != imgs[1] && imgs[1] != imgs[2] && imgs[0] != imgs[2], "{}: class {c} picked an image twice", set.label());
        }
    }
}

#[test]
fn a_saved_set_loads_back_and_bad_files_name_themselves() {
    let data = mnist_small(20);
    let set = Condense::dsa().ipc(1).profile(Profile::Smoke).iterations(2).width(4).batch_real(8).verbose(false).fit(&data, &cpu()).unwrap();
    let dir = tmp_dir("condensed");
    set.save(&dir).unwrap();
    for f in ["images.npy", "snapshots.npy", "grid.png", "condensed.json"] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let back = Condensed::load(&dir).unwrap();
    assert_eq!(back.images, set.images);
    assert_eq!(back.record.snapshots, set.record.snapshots);
    assert_eq!(back.config, set.config);
    // the same number of values in the wrong shape
    std::fs::write(dir.join("images.npy"), npy_f32(&set.images, &[1, 10, 28, 28])).unwrap();
    let err = Condensed::load(&dir).unwrap_err();
    assert!(matches!(err, Error::Format { .. }) && err.to_string().contains("images.npy"), "{err}");
    std::fs::write(dir.join("images.npy"), b"not numpy").unwrap();
    assert!(Condensed::load(&dir).unwrap_err().to_string().contains("images.npy"));
}

/// The shared setters (`JobBuilder`) reach the condensation: the seed its config records, and
/// the profile that sizes its defaults and labels its record.
#[test]
fn the_shared_setters_reach_a_condensation() {
    let data = mnist_small(4);
    assert_eq!(Condense::dsa().seed(7).to_config(Profile::Cpu, false).seed, 7);
    let set = Condense::dsa().ipc(1).seed(3).profile(Profile::Smoke).width(4).batch_real(4).verbose(false).name("mine").fit(&data, &cpu()).unwrap();
    assert_eq!((set.config.seed, set.config.profile, set.config.iterations), (3, Profile::Smoke, 2), "smoke sizes the run: 2 iterations");
    let run = set.run.as_ref().unwrap();
    assert_eq!((run.name.as_str(), run.profile.as_str()), ("mine", "smoke"));
}

#[test]
fn bad_settings_are_typed_errors() {
    let data = mnist_small(5);
    let device = cpu();
    let err = Condense::dsa().ipc(6).profile(Profile::Smoke).fit(&data, &device).unwrap_err();
    assert!(matches!(err, Error::Invalid { ref field, .. } if field == "ipc"), "{err}");
    assert!(err.to_string().contains("only 5"), "{err}");
    let err = Strategy::parse("color_blur").unwrap_err();
    assert!(err.to_string().contains("blur"), "{err}");
    let err = Condense::dc().ipc(0).profile(Profile::Smoke).fit(&data, &device).unwrap_err();
    assert!(matches!(err, Error::Invalid { ref field, .. } if field == "ipc"), "{err}");
    let err = Condense::dc().ipc(1).lr_img(-1.0).profile(Profile::Smoke).fit(&data, &device).unwrap_err();
    assert!(err.to_string().contains("lr_img"), "{err}");
    // a class with no training images
    let shape = [1, 4, 4];
    let train = Split::new(vec![0; 3 * 16], vec![0, 0, 1], shape).unwrap();
    let test = Split::new(vec![0; 16], vec![2], shape).unwrap();
    let tiny = Dataset::new("tiny", vec!["a".into(), "b".into(), "c".into()], train, test, false, "test".into()).unwrap();
    let err = Condense::random().ipc(1).fit(&tiny, &device).unwrap_err();
    assert!(err.to_string().contains("class[2]") && err.to_string().contains("no images"), "{err}");
    // flip on digits is allowed but warned about
    assert!(Strategy::parse("flip").unwrap().warning_for("mnist", false).is_some());
}

#[test]
fn a_dsa_run_cancelled_midway_resumes_and_ends_with_the_same_images() {
    let data = mnist_small(10);
    let device = cpu();
    let dir = tmp_dir("dsa-resume");
    let build = || Condense::dsa().ipc(1).profile(Profile::Smoke).iterations(6).loops(2, 1).width(4).batch_real(8).seed(4).verbose(false);
    // six iterations are checkpointed one by one; killed during the fourth
    let err = build().checkpoint_dir(&dir).record_to(dir.join("record.json")).stop_after_steps(4).fit(&data, &device).unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err}");
    let partial = distillery::train::RunRecord::load(&dir.join("record.json")).unwrap();
    assert_eq!(partial.epochs.len(), 3, "a record after every checkpointed block");
    let resumed = build().checkpoint_dir(&dir).fit(&data, &device).unwrap();
    let straight = build().fit(&data, &device).unwrap();
    assert_eq!(resumed.record.losses.len(), 6);
    let diff = resumed.images.iter().zip(&straight.images).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff < 1e-5, "resumed images differ from an uninterrupted run's by {diff}");
    for (a, b) in resumed.record.losses.iter().zip(&straight.record.losses) {
        assert!((a - b).abs() < 1e-6, "{:?} vs {:?}", resumed.record.losses, straight.record.losses);
    }
    assert_eq!(resumed.record.snapshot_iterations, straight.record.snapshot_iterations);
}

#[test]
fn a_spawned_condensation_returns_its_set() {
    let data = mnist_small(5);
    let job = Condense::dm().ipc(1).profile(Profile::Smoke).iterations(2).width(4).batch_real(4).spawn(&data, &cpu());
    let set = job.wait().unwrap();
    assert_eq!(set.record.losses.len(), 2);
}

#[test]
fn condensation_is_a_sweep_axis_with_the_evaluation_as_its_headline() {
    let data = mnist_small(10);
    let device = cpu();
    let eval = EvalConfig::for_profile(Profile::Smoke).archs(vec![Arch::convnet(4, 2), Arch::mlp(16, 1)]).models(2).epochs(3);
    let sweep = distillery::train::Sweep::categories("method", ["random", "DM"])
        .verbose(false)
        .run_labels(|m, _| {
            let method = if m == "DM" { Algorithm::Dm } else { Algorithm::Random };
            Condense::method(method).ipc(1).profile(Profile::Smoke).iterations(2).width(4).batch_real(4).verbose(false).fit_evaluated(&eval, &data, &device)
        })
        .unwrap();
    let dm = &sweep.points[1].record;
    let direct = Condense::dm().ipc(1).profile(Profile::Smoke).iterations(2).width(4).batch_real(4).verbose(false).fit(&data, &device).unwrap().evaluate(&eval, &data, &device).unwrap();
    assert!((dm.final_metric("test_acc").unwrap() * 100.0 - direct.mean_std(0).0).abs() < 1e-9, "the headline is the evaluation's mean");
    assert_eq!(dm.epochs.len(), 2, "a learned set keeps its condensation record");
    assert!(dm.final_metric("MLP 1×16_acc").is_some());
    assert!(sweep.points[0].record.epochs.is_empty(), "a coreset has no training record");
    assert!(sweep.table("test_acc").rows[1][0] == "DM");
}

#[test]
fn a_herding_feature_net_that_does_not_fit_the_data_is_a_shape_error() {
    let data = mnist_small(5);
    let device = cpu();
    // built for 3×32×32 colour images: MNIST is 1×28×28
    let net = Arch::convnet(4, 2).init_seeded([3, 32, 32], 10, &device, 0).unwrap();
    let err = Condense::herding().ipc(1).profile(Profile::Smoke).feature_net(net).fit(&data, &device).unwrap_err();
    assert!(matches!(&err, Error::Shape { what, .. } if what == "feature_net"), "{err}");
    assert!(err.to_string().contains("[N, 1, 28, 28] → [N, 10]"), "{err}");
}

#[test]
fn each_set_is_evaluated_by_its_own_papers_protocol_unless_told_otherwise() {
    use distillery::methods::condense::eval::EvalAugment;
    let config = EvalConfig::for_profile(Profile::Gpu);
    let plan = |c: &EvalConfig, m, d: &str, flippable| c.plan(m, d, flippable).unwrap();
    // official main.py: DSA (and main_DM.py: DM) with DSA augmentation for 1000 epochs
    for m in [Algorithm::Dsa, Algorithm::Dm] {
        assert_eq!(plan(&config, m, "mnist", false), (EvalAugment::Dsa(Strategy::for_data(false)), 1000));
    }
    // get_daparam: the DC rows with crop/scale/rotate on MNIST for 1000 epochs, none elsewhere for 300
    for m in [Algorithm::Dc, Algorithm::Random, Algorithm::Herding] {
        assert_eq!(plan(&config, m, "mnist", false), (EvalAugment::Dc, 1000));
        assert_eq!(plan(&config, m, "fashion-mnist", true), (EvalAugment::None, 300));
    }
    // the switch: every set with DSA augmentation
    let all = config.clone().all_dsa_aug();
    assert_eq!(plan(&all, Algorithm::Dc, "fashion-mnist", true), (EvalAugment::Dsa(Strategy::for_data(true)), 1000));
    assert_eq!(EvalAugment::Dc.describe(), "DC aug");
}
