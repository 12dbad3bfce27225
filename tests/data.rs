//! Real readers on real files, and every bad-input path of the data layer.
mod common;
use common::{data_root, tmp_dir};
use distillery::data::{cifar, idx, Augment, DataRoot, Dataset, Loader, Split};
use distillery::profile::Profile;
use distillery::Error;
use std::io::Write;

#[test]
fn mnist_is_real_and_complete() {
    let d = Dataset::mnist_full(&data_root()).unwrap();
    assert_eq!((d.train.len(), d.test.len()), (60_000, 10_000));
    assert_eq!(d.shape(), [1, 28, 28]);
    let counts: Vec<usize> = d.test.by_class(10).iter().map(|c| c.len()).collect();
    assert_eq!(counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009], "official MNIST test counts");
    assert!((d.mean[0] - 0.1307).abs() < 1e-3, "MNIST mean {}", d.mean[0]);
    assert!((d.std[0] - 0.3081).abs() < 1e-3, "MNIST std {}", d.std[0]);
}

#[test]
fn fashion_mnist_is_real_and_balanced() {
    let d = Dataset::fashion_mnist_full(&data_root()).unwrap();
    assert_eq!((d.train.len(), d.test.len()), (60_000, 10_000));
    assert!(d.train.by_class(10).iter().all(|c| c.len() == 6000));
    assert!(d.flippable);
}

#[test]
fn profile_subsets_are_per_class_and_seeded() {
    let d = Dataset::fashion_mnist(&data_root(), &Profile::Smoke).unwrap();
    let n = Profile::Smoke.train_per_class().unwrap();
    assert!(d.train.by_class(10).iter().all(|c| c.len() == n));
    let again = Dataset::fashion_mnist(&data_root(), &Profile::Smoke).unwrap();
    assert_eq!(d.train.labels(), again.train.labels());
    assert_eq!(d.train.image(7), again.train.image(7));
}

#[test]
fn missing_data_root_says_what_is_expected() {
    let err = Dataset::mnist(&DataRoot("/nonexistent/data".into()), &Profile::Smoke).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::MissingData { .. }), "{err:?}");
    assert!(msg.contains("train-images-idx3-ubyte") && msg.contains("just data"), "{msg}");
}

fn write(path: &std::path::Path, bytes: &[u8]) {
    std::fs::File::create(path).unwrap().write_all(bytes).unwrap();
}

#[test]
fn corrupt_idx_files_are_typed_errors_naming_the_file() {
    let dir = tmp_dir("idx-bad");
    let mut img = idx::encode(&[2, 2, 2], &[1, 2, 3, 4, 5, 6, 7, 8]);
    // wrong magic
    img[2] = 0x09;
    let p = dir.join("wrong-magic");
    write(&p, &img);
    let e = idx::parse(&p, &std::fs::read(&p).unwrap(), 3).unwrap_err();
    assert!(matches!(&e, Error::Format { path, reason } if path == &p && reason.contains("magic")), "{e}");
    // truncated body
    let good = idx::encode(&[2, 2, 2], &[1, 2, 3, 4, 5, 6, 7, 8]);
    let p = dir.join("short-body");
    write(&p, &good[..good.len() - 3]);
    let e = idx::parse(&p, &std::fs::read(&p).unwrap(), 3).unwrap_err();
    // the reason, not the file's name, must say what is wrong
    assert!(matches!(&e, Error::Format { path, reason } if path == &p && reason.contains("truncated")), "{e}");
    // too short for a header
    let e = idx::parse(&p, &[0, 0], 3).unwrap_err();
    assert!(matches!(e, Error::Format { .. }));
    // a .gz that is not gzip
    let p = dir.join("train-images-idx3-ubyte.gz");
    write(&p, b"not gzip at all");
    let e = idx::read_maybe_gz(&p).unwrap_err();
    assert!(e.to_string().contains("gzip") && e.to_string().contains("train-images"), "{e}");
    // a gzip stream larger than its header promises stops at the promise (+1 byte)
    let gz = |bytes: &[u8]| {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    };
    let mut bomb = idx::encode(&[2, 2, 2], &[1; 8]);
    bomb.extend(std::iter::repeat_n(0u8, 50_000_000));
    write(&p, &gz(&bomb));
    let e = idx::read_maybe_gz(&p).unwrap_err();
    assert!(e.to_string().contains("more than the 8 data bytes"), "{e}");
    write(&p, &gz(&idx::encode(&[2, 2, 2], &[1; 8])));
    assert_eq!(idx::parse(&p, &idx::read_maybe_gz(&p).unwrap(), 3).unwrap().data, vec![1; 8], "a well-formed .gz reads whole");
    // dims whose product overflows are an error, not a panic or a wrap
    let mut huge = vec![0, 0, 0x08, 3];
    for _ in 0..3 {
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
    }
    let e = idx::parse(&p, &huge, 3).unwrap_err();
    assert!(e.to_string().contains("overflow"), "{e}");
}

#[test]
fn a_dataset_with_a_corrupt_file_fails_with_that_file() {
    let root = tmp_dir("idx-root");
    let dir = root.join("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    write(&dir.join("train-images-idx3-ubyte"), &idx::encode(&[3, 2, 2], &[0; 12]));
    write(&dir.join("train-labels-idx1-ubyte"), &idx::encode(&[2], &[0, 1])); // 2 labels for 3 images
    write(&dir.join("t10k-images-idx3-ubyte"), &idx::encode(&[2, 2, 2], &[0; 8]));
    write(&dir.join("t10k-labels-idx1-ubyte"), &idx::encode(&[2], &[0, 1]));
    let e = Dataset::mnist_full(&DataRoot(root.to_path_buf())).unwrap_err();
    assert!(e.to_string().contains("train-labels-idx1-ubyte") && e.to_string().contains("2 labels for 3 images"), "{e}");
}

fn cifar_record(label: &[u8], fill: u8) -> Vec<u8> {
    let mut r = label.to_vec();
    r.extend(std::iter::repeat_n(fill, 3072));
    r
}

#[test]
fn cifar10_binary_reader_roundtrip_and_errors() {
    let root = tmp_dir("cifar10");
    let dir = root.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 1..=5 {
        let bytes: Vec<u8> = (0..4u8).flat_map(|k| cifar_record(&[(k + i) % 10], k * 10 + i)).collect();
        write(&dir.join(format!("data_batch_{i}.bin")), &bytes);
    }
    write(&dir.join("test_batch.bin"), &[cifar_record(&[3], 7), cifar_record(&[9], 8)].concat());
    let d = Dataset::cifar_full(&DataRoot(root.to_path_buf()), cifar::Cifar::Ten).unwrap();
    assert_eq!((d.train.len(), d.test.len(), d.shape()), (20, 2, [3, 32, 32]));
    assert_eq!(d.test.label(1), 9);
    assert!(d.test.image(0).iter().all(|&p| p == 7));
    // size not a multiple of the record
    write(&dir.join("test_batch.bin"), &cifar_record(&[3], 7)[..3000]);
    let e = Dataset::cifar_full(&DataRoot(root.to_path_buf()), cifar::Cifar::Ten).unwrap_err();
    assert!(e.to_string().contains("test_batch.bin") && e.to_string().contains("3073"), "{e}");
    // label out of range
    write(&dir.join("test_batch.bin"), &cifar_record(&[12], 7));
    let e = Dataset::cifar_full(&DataRoot(root.to_path_buf()), cifar::Cifar::Ten).unwrap_err();
    assert!(e.to_string().contains("label 12"), "{e}");
    // missing file
    std::fs::remove_file(dir.join("data_batch_3.bin")).unwrap();
    let e = Dataset::cifar_full(&DataRoot(root.to_path_buf()), cifar::Cifar::Ten).unwrap_err();
    assert!(matches!(&e, Error::MissingData { expected, .. } if expected.contains("data_batch_3.bin")), "{e}");
}

#[test]
fn cifar100_uses_the_fine_label() {
    let root = tmp_dir("cifar100");
    let dir = root.join("cifar-100-binary");
    std::fs::create_dir_all(&dir).unwrap();
    write(&dir.join("train.bin"), &[cifar_record(&[1, 57], 0), cifar_record(&[2, 99], 1)].concat());
    write(&dir.join("test.bin"), &cifar_record(&[3, 42], 2));
    let d = Dataset::cifar_full(&DataRoot(root.to_path_buf()), cifar::Cifar::Hundred).unwrap();
    assert_eq!(d.num_classes(), 100);
    assert_eq!((d.train.label(0), d.train.label(1), d.test.label(0)), (57, 99, 42));
}

#[test]
fn image_folder_reads_png_and_jpeg_resized() {
    let tmp = tmp_dir("folder");
    let root = tmp.join("birds");
    for (split, n) in [("train", 2), ("test", 1)] {
        for (c, colour) in [("albatross", [200u8, 10, 10]), ("wren", [10u8, 200, 10])] {
            let dir = root.join(split).join(c);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                let img = image::RgbImage::from_pixel(40, 20, image::Rgb(colour));
                let ext = if i == 0 { "png" } else { "jpg" };
                img.save(dir.join(format!("{i}.{ext}"))).unwrap();
            }
        }
    }
    let d = Dataset::image_folder(&root, 16).unwrap();
    assert_eq!(d.classes, ["albatross", "wren"]);
    assert_eq!((d.train.len(), d.test.len(), d.shape()), (4, 2, [3, 16, 16]));
    assert!(d.train.image(0)[0] > 190 && d.train.image(0)[256] < 20, "red channel first");
    std::fs::write(root.join("test/wren/broken.png"), b"nope").unwrap();
    let e = Dataset::image_folder(&root, 16).unwrap_err();
    assert!(e.to_string().contains("broken.png"), "{e}");
}

#[test]
fn per_class_asks_for_more_than_exists() {
    let d = Dataset::shapes_sized(5, 3, 0).unwrap();
    let e = d.clone().subset(Some(6), None, 0).unwrap_err();
    assert!(matches!(&e, Error::Invalid { field, value, .. } if field == "train_per_class" && value == "6"), "{e}");
    let e = d.subset(None, Some(0), 0).unwrap_err();
    assert!(e.to_string().contains("test_per_class"), "{e}");
}

#[test]
fn stratified_folds_are_disjoint_balanced_and_cover_everything() {
    let d = Dataset::shapes_sized(9, 1, 0).unwrap();
    let folds = d.train.stratified_folds(10, 3, 7).unwrap();
    let mut all: Vec<usize> = folds.concat();
    all.sort_unstable();
    assert_eq!(all, (0..90).collect::<Vec<_>>());
    for f in &folds {
        let split = d.train.select(f);
        assert!(split.by_class(10).iter().all(|c| c.len() == 3));
    }
    let (train, held) = d.train.fold(&folds, 1);
    assert_eq!((train.len(), held.len()), (60, 30));
    assert!(d.train.stratified_folds(10, 10, 0).is_err(), "9 images per class cannot make 10 folds");
}

#[test]
fn generated_shapes_are_seeded_and_distinct() {
    let a = Dataset::shapes_sized(3, 2, 1).unwrap();
    let b = Dataset::shapes_sized(3, 2, 1).unwrap();
    assert_eq!(a.train.image(4), b.train.image(4));
    assert_ne!(a.train.image(0), a.test.image(0), "train and test are different draws");
    assert_eq!(a.classes.len(), 10);
}

#[test]
fn loader_is_deterministic_normalised_and_complete() {
    let d = Dataset::shapes_sized(10, 2, 0).unwrap();
    let loader = Loader::train(&d, 32, Augment::standard(true).with_cutout(8), 3);
    let first: Vec<_> = loader.epoch(0).collect();
    let again: Vec<_> = loader.epoch(0).collect();
    let other: Vec<_> = loader.epoch(1).collect();
    assert_eq!(first.len(), 4);
    assert_eq!(first.iter().map(|b| b.len()).sum::<usize>(), 100);
    assert_eq!(first[0].images, again[0].images);
    assert_ne!(first[0].indices, other[0].indices);
    let mut seen: Vec<usize> = first.iter().flat_map(|b| b.indices.clone()).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..100).collect::<Vec<_>>());
    // unaugmented test batches are normalised: mean ≈ 0 and std ≈ 1 per channel over the split
    let test = Loader::over(&d, d.train.clone(), 100, false, Augment::none(), 0);
    let b = test.epoch(0).next().unwrap();
    let [n, c, h, w] = b.shape;
    assert_eq!(n, 100, "the whole split in one batch");
    for ch in 0..c {
        let values: Vec<f64> = (0..n).flat_map(|i| b.images[(i * c + ch) * h * w..(i * c + ch + 1) * h * w].iter().map(|&v| v as f64)).collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
        assert!(mean.abs() < 1e-3 && (std - 1.0).abs() < 1e-2, "channel {ch}: mean {mean}, std {std}");
    }
}

#[test]
fn split_rejects_inconsistent_sizes() {
    let e = Split::new(vec![0; 10], vec![0, 1], [1, 2, 2]).unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }));
}

#[test]
fn image_folder_labels_go_beyond_255_classes() {
    // NABirds has 555 classes: labels must not wrap at 256
    let tmp = tmp_dir("many-classes");
    let root = tmp.join("many");
    let classes = 300;
    for split in ["train", "test"] {
        for c in 0..classes {
            let dir = root.join(split).join(format!("c{c:03}"));
            std::fs::create_dir_all(&dir).unwrap();
            image::RgbImage::from_pixel(2, 2, image::Rgb([c as u8, 0, 0])).save(dir.join("0.png")).unwrap();
        }
    }
    let d = Dataset::image_folder(&root, 2).unwrap();
    assert_eq!(d.num_classes(), classes);
    let max = d.train.labels().iter().copied().max().unwrap();
    assert_eq!(max as usize, classes - 1, "the last class keeps its label");
    assert_eq!(d.train.label(299), 299);
}

#[test]
fn a_profile_typo_is_an_error_naming_the_variable() {
    use distillery::profile::Profile;
    let device = common::cpu();
    assert_eq!(Profile::from_setting(Some("Smoke"), &device).unwrap(), Profile::Smoke);
    assert_eq!(Profile::from_setting(None, &device).unwrap(), Profile::Cpu);
    let e = Profile::from_setting(Some("smok"), &device).unwrap_err();
    assert!(matches!(&e, Error::Invalid { field, value, .. } if field == "DISTILLERY_PROFILE" && value == "smok"), "{e}");
}

/// Two subsets of one size drawn with different seeds are different data: their identities (what
/// a checkpoint must match to be resumed) differ; the same subset read twice is the same.
#[test]
fn the_identity_tells_subsets_of_one_size_apart() {
    let full = Dataset::fashion_mnist_full(&data_root()).unwrap();
    let a = full.clone().subset(Some(5), Some(3), 0).unwrap();
    let b = full.clone().subset(Some(5), Some(3), 1).unwrap();
    assert_eq!((a.train.len(), a.test.len()), (b.train.len(), b.test.len()));
    assert_ne!(a.identity(), b.identity(), "same sizes, other images");
    assert_eq!(a.identity(), full.subset(Some(5), Some(3), 0).unwrap().identity());
    let mut relabelled = a.clone();
    relabelled.train = Split::new((0..a.train.len()).flat_map(|i| a.train.image(i).to_vec()).collect(), (0..a.train.len()).map(|i| ((a.train.label(i) + 1) % 10) as u16).collect(), a.train.shape).unwrap();
    assert_ne!(a.identity(), relabelled.identity(), "same images, other labels");
}

#[test]
fn a_mixup_alpha_of_zero_is_refused_before_training() {
    use distillery::data::{Augment, Mix};
    use distillery::train::TrainConfig;
    for mix in [Mix::Mixup { alpha: 0.0 }, Mix::CutMix { alpha: -1.0, prob: 0.5, per_image: false }] {
        let e = TrainConfig::new().with_augment(Augment::none().with_mix(mix)).validate().unwrap_err();
        assert!(matches!(&e, Error::Invalid { field, .. } if field == "augment.mix.alpha"), "{e}");
    }
    let e = TrainConfig::new().with_augment(Augment::none().with_mix(Mix::CutMix { alpha: 1.0, prob: 1.5, per_image: false })).validate().unwrap_err();
    assert!(matches!(&e, Error::Invalid { field, value, .. } if field == "augment.mix.prob" && value == "1.5"), "{e}");
}

#[test]
fn a_class_split_keeps_those_classes_relabelled_in_the_order_given() {
    let d = Dataset::fashion_mnist(&data_root(), &Profile::Smoke).unwrap();
    let part = d.with_classes(&[6, 2, 4]).unwrap();
    assert_eq!(part.classes, ["shirt", "pullover", "coat"]);
    assert_eq!(part.name, "fashion-mnist[6,2,4]");
    let n = Profile::Smoke.train_per_class().unwrap();
    assert_eq!(part.train.by_class(3).iter().map(Vec::len).collect::<Vec<_>>(), [n, n, n]);
    assert_eq!(part.train.len(), 3 * n, "no image of another class is kept");
    // the first shirt of the part is the first shirt of the whole, now labelled 0
    let first_shirt = d.train.by_class(10)[6][0];
    assert_eq!(part.train.image(part.train.by_class(3)[0][0]), d.train.image(first_shirt));
    assert_eq!(part.test.by_class(3)[1].len(), d.test.by_class(10)[2].len());
    let e = d.with_classes(&[1, 10]).unwrap_err();
    assert!(matches!(&e, Error::Invalid { field, value, .. } if field == "classes" && value == "10"), "{e}");
    let e = d.with_classes(&[3, 3]).unwrap_err();
    assert!(e.to_string().contains("named twice"), "{e}");
    assert!(d.with_classes(&[]).is_err());
}
