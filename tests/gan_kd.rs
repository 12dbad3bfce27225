//! GAN-KD augmentation (paper 1): the dropped square (Eq. 1–3), fills that touch only the hole,
//! the generator and discriminator shapes, D learning, cross-validated folds and who labels
//! whom, the fused label, soft CE, bad input, and a short real run of every part.
mod common;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Int, Tensor, TensorData};
use common::{cpu, data_root};
use distillery::data::Dataset;
use distillery::losses;
use distillery::methods::gan_patch::gan::{bce_logits, fill_generated};
use distillery::methods::gan_patch::holes::{crop_holes, drop_holes, paste_patches};
use distillery::methods::gan_patch::networks::natural_patch;
use distillery::methods::gan_patch::{fuse_labels, Fill, FoldTeachers, GanKd, Hole, Labels, PatchDiscriminator, PatchGan, PatchGenerator};
use distillery::methods::{JobBuilder, RunBuilder};
use distillery::models::{Arch, Staged};
use distillery::rng::Rng;
use distillery::train::devices;
use distillery::Error;
use std::sync::Arc;

fn fashion(train: usize, test: usize) -> Dataset {
    Dataset::fashion_mnist_full(&data_root()).unwrap().subset(Some(train), Some(test), 0).unwrap()
}

fn field(e: Error) -> String {
    match e {
        Error::Invalid { field, .. } => field,
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
}

#[test]
fn holes_are_clipped_squares_with_uniform_centres() {
    let (h, w, s) = (28, 28, 8);
    let mut rng = Rng::new(1);
    let mut rows = vec![0usize; h];
    for _ in 0..20_000 {
        let hole = Hole::random(h, w, s, &mut rng);
        assert!(hole.y1 <= h && hole.x1 <= w && hole.y0 < hole.y1 && hole.x0 < hole.x1, "{hole:?}");
        // the unclipped square starts s/2 before the centre: py/px say how much was cut
        let (cy, cx) = (hole.y0 - hole.py + s / 2, hole.x0 - hole.px + s / 2);
        assert!(cy < h && cx < w, "centre ({cy}, {cx}) of {hole:?}");
        let expect = |c: usize, n: usize| (c as isize - (s / 2) as isize).max(0) as usize..(c + s - s / 2).min(n);
        assert_eq!(hole.y0..hole.y1, expect(cy, h), "rows of {hole:?}");
        assert_eq!(hole.x0..hole.x1, expect(cx, w), "columns of {hole:?}");
        if cy >= s / 2 && cy + s - s / 2 <= h && cx >= s / 2 && cx + s - s / 2 <= w {
            assert_eq!((hole.y1 - hole.y0, hole.x1 - hole.x0, hole.py, hole.px), (s, s, 0, 0), "an inner hole is a full square");
        }
        rows[cy] += 1;
    }
    // uniform centre: every row gets its 1/28 share within 15 %
    let mean = 20_000.0 / h as f64;
    assert!(rows.iter().all(|&r| (r as f64 - mean).abs() < 0.15 * mean), "centre rows {rows:?}");
    for _ in 0..1000 {
        let inside = Hole::inside(h, w, s, &mut rng);
        assert_eq!((inside.y1 - inside.y0, inside.x1 - inside.x0), (s, s));
    }
}

#[test]
fn fills_touch_only_the_hole() {
    let shape = [3, 2, 12, 12];
    let mut rng = Rng::new(3);
    let images: Vec<f32> = (0..shape.iter().product::<usize>()).map(|_| rng.normal() as f32).collect();
    let holes: Vec<Hole> = (0..3).map(|_| Hole::random(12, 12, 5, &mut rng)).collect();
    let patches: Vec<f32> = (0..3 * 2 * 25).map(|i| 100.0 + i as f32).collect();
    let mut pasted = images.clone();
    paste_patches(&mut pasted, shape, &holes, &patches, 5);
    let zeroed = drop_holes(&images, shape, &holes);
    for (i, hole) in holes.iter().enumerate() {
        for ch in 0..2 {
            for y in 0..12 {
                for x in 0..12 {
                    let k = ((i * 2 + ch) * 12 + y) * 12 + x;
                    let inside = (hole.y0..hole.y1).contains(&y) && (hole.x0..hole.x1).contains(&x);
                    if inside {
                        let p = ((i * 2 + ch) * 5 + hole.py + y - hole.y0) * 5 + hole.px + x - hole.x0;
                        assert_eq!(pasted[k], patches[p]);
                        assert_eq!(zeroed[k], 0.0);
                    } else {
                        assert_eq!((pasted[k], zeroed[k]), (images[k], images[k]), "pixel ({y}, {x}) outside {hole:?} changed");
                    }
                }
            }
        }
    }
    // crop of a full inner hole gives back what paste wrote
    let inner: Vec<Hole> = (0..3).map(|_| Hole::inside(12, 12, 5, &mut rng)).collect();
    let mut again = images.clone();
    paste_patches(&mut again, shape, &inner, &patches, 5);
    assert_eq!(crop_holes(&again, shape, &inner, 5), patches);
    // the generator's fill changes only hole pixels too
    let device = cpu();
    let g = PatchGenerator::new(4, [2, 12, 12], 5, &device);
    let filled = fill_generated(&g, &images, shape, &holes, &device);
    let area: usize = holes.iter().map(|h| h.area() * 2).sum();
    let changed = filled.iter().zip(&images).filter(|(a, b)| a != b).count();
    assert!(changed <= area && changed > area / 2, "{changed} pixels changed, holes hold {area}");
}

#[test]
fn generator_and_discriminator_shapes_for_28_and_32_pixels() {
    let device = cpu();
    for (shape, want) in [([1, 28, 28], 8), ([3, 32, 32], 8), ([3, 64, 64], 16)] {
        assert_eq!(natural_patch(shape[1]), want, "natural patch for {shape:?}");
        let g = PatchGenerator::new(4, shape, want, &device);
        let x = Tensor::<4>::ones([2, shape[0], shape[1], shape[2]], &device);
        let patch = g.forward(x);
        assert_eq!(patch.dims(), [2, shape[0], want, want], "generator on {shape:?}");
        let d = PatchDiscriminator::new(4, shape[0], want, &device);
        let p: Vec<f32> = d.probability(patch).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|&v| v > 0.0 && v < 1.0), "D outputs {p:?} must be probabilities");
    }
    // a patch size the decoder does not make on its own is resized to it
    let g = PatchGenerator::new(4, [1, 28, 28], 7, &device);
    assert_eq!(g.forward(Tensor::<4>::zeros([1, 1, 28, 28], &device)).dims(), [1, 1, 7, 7]);
}

#[test]
fn a_few_discriminator_steps_lower_its_loss() {
    let (_, train) = devices(&cpu());
    let mut d = PatchDiscriminator::new(4, 1, 8, &train);
    let mut rng = Rng::new(5);
    // real: smooth ramps; fake: noise
    let real: Vec<f32> = (0..16 * 64).map(|i| ((i % 8) as f32 / 4.0) - 1.0).collect();
    let fake: Vec<f32> = (0..16 * 64).map(|_| rng.normal() as f32).collect();
    let real = Tensor::<4>::from_data(TensorData::new(real, [16, 1, 8, 8]), &train);
    let fake = Tensor::<4>::from_data(TensorData::new(fake, [16, 1, 8, 8]), &train);
    let mut optim = AdamConfig::new().with_beta_1(0.5).init();
    let loss = |d: &PatchDiscriminator| (bce_logits(d.logits(real.clone()), true) + bce_logits(d.logits(fake.clone()), false)).mul_scalar(0.5);
    let first = loss(&d).into_scalar::<f32>();
    for _ in 0..10 {
        let l = loss(&d);
        let grads = GradientsParams::from_grads(l.backward(), &d);
        d = optim.step(2e-3, d, grads);
    }
    let last = loss(&d).into_scalar::<f32>();
    assert!(last < 0.7 * first, "D loss {first} → {last} after 10 steps on a fixed batch");
}

#[test]
fn fused_labels_sum_to_one_and_equal_the_hand_value() {
    let soft = [0.7f32, 0.2, 0.1, 0.1, 0.1, 0.8];
    let fused = fuse_labels(&soft, &[0, 1], 3, 0.5, 0.1);
    // row 0: 0.5·0.7 + 0.5·(0.9 + 0.1/3); row 1, class 0: 0.5·0.1 + 0.5·0.1/3
    let hand = [0.5 * 0.7 + 0.5 * (0.9 + 0.1 / 3.0), 0.5 * 0.2 + 0.5 * (0.1 / 3.0), 0.5 * 0.1 + 0.5 * (0.1 / 3.0), 0.5 * 0.1 + 0.5 * (0.1 / 3.0), 0.5 * 0.1 + 0.5 * (0.9 + 0.1 / 3.0), 0.5 * 0.8 + 0.5 * (0.1 / 3.0)];
    for (got, want) in fused.iter().zip(hand) {
        assert!((*got as f64 - want).abs() < 1e-6, "{fused:?} vs {hand:?}");
    }
    for row in fused.chunks(3) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
    // β = 0 is label smoothing alone, β = 1 the teacher alone
    assert_eq!(fuse_labels(&soft, &[0, 1], 3, 1.0, 0.1), soft.to_vec());
    let ls = fuse_labels(&soft, &[2, 0], 3, 0.0, 0.0);
    assert_eq!(ls, vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
}

#[test]
fn soft_ce_with_one_hot_targets_equals_ce() {
    let device = cpu();
    let logits = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, -0.5, 2.0, 0.3, 0.3, -1.0], [2, 3]), &device);
    let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![2i64, 0], [2]), &device);
    let onehot = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 0.0, 1.0, 1.0, 0.0, 0.0], [2, 3]), &device);
    let ce = losses::cross_entropy(logits.clone(), labels, 0.0).into_scalar::<f32>();
    let soft = losses::soft_cross_entropy(logits, onehot).into_scalar::<f32>();
    assert!((ce - soft).abs() < 1e-6, "CE {ce} vs soft CE {soft}");
}

#[test]
fn folds_are_disjoint_cover_the_set_and_no_sample_is_labelled_by_a_teacher_that_saw_it() {
    let data = fashion(60, 20);
    let device = cpu();
    let t = FoldTeachers::builder().model(Arch::convnet(4, 1)).folds(3).epochs(1).batch_size(32).verbose(false).fit(&data, &device).unwrap();
    let mut seen = vec![0usize; data.train.len()];
    for (f, fold) in t.folds.iter().enumerate() {
        for &i in fold {
            seen[i] += 1;
            assert_eq!(t.fold_of(i), Some(f));
        }
        // teacher f trained on everything but fold f
        let trained_on = data.train.len() - fold.len();
        assert!(t.teachers[f].record.dataset.contains(&format!("({trained_on} train")), "teacher {f}: {}", t.teachers[f].record.dataset);
        let (train, held) = data.train.fold(&t.folds, f);
        assert_eq!((train.len(), held.len()), (trained_on, fold.len()));
    }
    assert!(seen.iter().all(|&c| c == 1), "every sample in exactly one fold: {seen:?}");
    // the soft label of sample i is teacher fold_of(i)'s softmax(z/T), and no other teacher's
    let loader = distillery::data::Loader::train(&data, 16, distillery::data::Augment::none(), 0);
    let batch = loader.make_batch(&loader.order(0), 0, &mut Rng::new(0));
    let soft = t.soft_labels(&batch.images, batch.shape, &batch.indices, 4.0, &device).unwrap();
    let per = batch.images.len() / batch.len();
    for (r, &i) in batch.indices.iter().enumerate() {
        let img = Tensor::<4>::from_data(TensorData::new(batch.images[r * per..(r + 1) * per].to_vec(), [1, 1, 28, 28]), &device);
        let own: Vec<f32> = burn::tensor::activation::softmax(t.teachers[t.fold_of(i).unwrap()].model.forward(img).div_scalar(4.0), 1).into_data().try_to_vec::<f32>().unwrap();
        for (a, b) in soft[r * 10..(r + 1) * 10].iter().zip(&own) {
            assert!((a - b).abs() < 1e-5, "sample {i}: soft label not from its fold's teacher");
        }
    }
    // an index outside the teachers' training set is an error, not a panic
    let err = t.soft_labels(&batch.images[..per], [1, 1, 28, 28], &[10_000], 4.0, &device).unwrap_err();
    assert_eq!(field(err), "sample index");
}

#[test]
fn bad_settings_are_typed_errors() {
    let data = fashion(3, 2); // 3 training images per class
    let device = cpu();
    let short = |b: distillery::methods::gan_patch::GanKdBuilder| b.epochs(1).verbose(false).fill(Fill::Zero).labels(Labels::Hard);
    assert_eq!(field(short(GanKd::builder()).folds(1).fit(&data, &device).unwrap_err()), "folds");
    assert_eq!(field(short(GanKd::builder()).beta(1.5).fit(&data, &device).unwrap_err()), "beta");
    assert_eq!(field(short(GanKd::builder()).smoothing(-0.1).fit(&data, &device).unwrap_err()), "smoothing");
    assert_eq!(field(short(GanKd::builder()).temperature(0.0).fit(&data, &device).unwrap_err()), "temperature");
    assert_eq!(field(short(GanKd::builder()).patch(29).fit(&data, &device).unwrap_err()), "patch");
    assert_eq!(field(short(GanKd::builder()).patch(0).fit(&data, &device).unwrap_err()), "patch");
    // 3 images per class cannot make 5 folds
    assert_eq!(field(FoldTeachers::builder().model(Arch::convnet(4, 1)).folds(5).epochs(1).fit(&data, &device).unwrap_err()), "folds");
    assert_eq!(field(FoldTeachers::builder().model(Arch::convnet(4, 1)).folds(1).fit(&data, &device).unwrap_err()), "folds");
    assert_eq!(field(PatchGan::builder().patch(40).fit(&data, &device).unwrap_err()), "patch");
    assert_eq!(field(PatchGan::builder().base(0).fit(&data, &device).unwrap_err()), "gan.base");
    assert_eq!(field(PatchGan::builder().reconstruction(-1.0).fit(&data, &device).unwrap_err()), "gan.reconstruction");
    let no_gan_epochs = distillery::methods::gan_patch::PatchGanConfig::default();
    assert_eq!(field(short(GanKd::builder()).gan(no_gan_epochs, 0).fit(&data, &device).unwrap_err()), "gan_epochs");
    // teachers of another training set
    let other = fashion(4, 2);
    let t = Arc::new(FoldTeachers::builder().model(Arch::convnet(4, 1)).folds(2).epochs(1).verbose(false).fit(&other, &device).unwrap());
    let err = GanKd::builder().fill(Fill::Zero).teachers(&t).epochs(1).verbose(false).fit(&data, &device).unwrap_err();
    assert_eq!(field(err), "teachers");
    // … and of another subset of the same size (its fold indices would point at other images)
    let same_size = Dataset::fashion_mnist_full(&data_root()).unwrap().subset(Some(3), Some(2), 7).unwrap();
    assert_eq!(same_size.train.len(), data.train.len());
    let t = Arc::new(FoldTeachers::builder().model(Arch::convnet(4, 1)).folds(2).epochs(1).verbose(false).fit(&same_size, &device).unwrap());
    let err = GanKd::builder().fill(Fill::Zero).teachers(&t).epochs(1).verbose(false).fit(&data, &device).unwrap_err();
    assert_eq!(field(err), "teachers");
}

#[test]
fn the_gan_learns_fills_closer_to_the_truth_than_zeros() {
    let data = fashion(100, 10);
    let gan = PatchGan::builder().base(8).epochs(3).verbose(false).fit(&data, &cpu()).unwrap();
    assert_eq!(GanKd::builder().generator(&gan).to_config().gan_epochs, 3, "a student's identity names the generator it was given, epochs included");
    let l1 = gan.record.series("patch_l1");
    let zero = gan.record.final_metric("zero_l1").unwrap();
    assert_eq!(l1.len(), 3);
    assert!(l1[2].1 < 0.97 * zero, "after 48 steps the fill ({:.3}) must be closer to the truth than zeros ({zero:.3}): {l1:?}", l1[2].1);
    for key in ["d", "g_adv", "g_rec"] {
        assert!(gan.record.epochs[0].losses.contains_key(key), "GAN record lacks `{key}`");
    }
    assert_eq!(gan.snapshots.len(), 3, "one probe fill per epoch");
    // the probe row and one row per asked epoch (an epoch past the run is left out), labelled
    let fig = gan.snapshots_figure(&[1, 3, 9]).unwrap();
    for label in [">original</text>", ">epoch 1</text>", ">epoch 3</text>"] {
        assert!(fig.svg.contains(label), "{label} missing");
    }
    assert!(!fig.svg.contains(">epoch 9</text>") && fig.raster, "an image grid, shown as PNG");
    let png = image::load_from_memory(&fig.png().unwrap()).unwrap();
    let (w, h) = fig.size();
    assert_eq!((png.width(), png.height()), (w as u32, h as u32));
}

#[test]
fn every_part_trains_end_to_end_and_the_student_learns() {
    let data = fashion(20, 5);
    let device = cpu();
    let run = GanKd::builder().student(Arch::convnet(4, 2)).teacher(Arch::convnet(4, 2)).folds(2).gan(distillery::methods::gan_patch::PatchGanConfig { base: 4, ..Default::default() }, 1).epochs(3).batch_size(32).verbose(false).fit(&data, &device).unwrap();
    let m = &run.record.final_metrics;
    assert!(run.test_acc() > 0.3, "3 epochs on 20 Fashion-MNIST images per class: test_acc {}", run.test_acc());
    let entropy = m["label_entropy"];
    // fused labels are softer than one-hot and than ε = 0.1 smoothing alone (0.50 nats for K = 10)
    assert!(entropy > 0.5 && entropy < (10f64).ln(), "label entropy {entropy}");
    assert!(m.contains_key("teacher_acc_dropped"));
    assert!(run.record.config.pointer("/method/fill").is_some());
}
