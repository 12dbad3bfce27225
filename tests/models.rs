//! The model zoo: parameter counts against the references (10 classes, 3×32×32) and stage shapes.
mod common;
use burn::tensor::{Distribution, Tensor};
use distillery::models::{trainable_params, Arch, Staged};
use distillery::Error;

fn params(arch: Arch) -> usize {
    trainable_params(&arch.init([3, 32, 32], 10, &common::cpu()).unwrap())
}

fn about(arch: Arch, millions: f64, tolerance: f64) {
    let n = params(arch.clone()) as f64 / 1e6;
    assert!((n - millions).abs() <= tolerance, "{arch}: {n:.3} M params, reference ≈ {millions} M");
}

#[test]
fn convnet3_matches_the_dc_reference_exactly() {
    assert_eq!(params(Arch::convnet(128, 3)), 320_010);
}

#[test]
fn cifar_resnets_match_their_references() {
    about(Arch::resnet(20), 0.27, 0.005);
    about(Arch::resnet(32), 0.46, 0.01);
    // He et al. count 0.85 M with identity (option A) shortcuts; the 1×1-conv shortcuts used here
    // (RepDistiller, the KD model zoo) give 0.86 M, the figure CRD's tables print.
    about(Arch::resnet(56), 0.85, 0.012);
    about(Arch::resnet(110), 1.7, 0.04);
    about(Arch::resnet_x4(8), 1.23, 0.02);
    about(Arch::resnet_x4(32), 7.43, 0.05);
}

#[test]
fn wide_resnets_match_their_references() {
    about(Arch::wrn(16, 2), 0.70, 0.01);
    about(Arch::wrn(40, 2), 2.2, 0.05);
}

#[test]
fn imagenet_style_resnets_and_mobilenet_match() {
    about(Arch::resnet18(), 11.17, 0.02);
    about(Arch::resnet34(), 21.28, 0.03);
    about(Arch::mobilenet_v2(), 2.24, 0.03);
    assert_eq!(params(Arch::mlp(128, 2)), 3072 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10);
}

#[test]
fn the_instance_norm_resnet18_is_the_official_dc_network() {
    // the official DC/DSA `ResNet18` (instance norm) has the same parameters as the BN one …
    let arch: Arch = "resnet18-in".parse().unwrap();
    assert_eq!(arch, Arch::resnet18_in());
    assert_eq!(arch.to_string(), "ResNet-18 (IN)");
    assert_eq!(params(arch.clone()), params(Arch::resnet18()));
    // … but an image's logits do not depend on the rest of its batch, in training mode too
    let device = distillery::train::devices(&common::cpu()).1;
    let net = arch.init([1, 28, 28], 10, &device).unwrap();
    let x = Tensor::<4>::random([4, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    let alone: Vec<f32> = net.forward(x.clone().slice(0..1)).into_data().try_to_vec::<f32>().unwrap();
    let in_batch: Vec<f32> = net.forward(x).slice(0..1).into_data().try_to_vec::<f32>().unwrap();
    assert!(alone.iter().zip(&in_batch).all(|(a, b)| (a - b).abs() < 1e-4), "{alone:?} vs {in_batch:?}");
    let bn = Arch::resnet18().init([1, 28, 28], 10, &device).unwrap();
    let x = Tensor::<4>::random([4, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    let alone: Vec<f32> = bn.forward(x.clone().slice(0..2)).into_data().try_to_vec::<f32>().unwrap();
    let in_batch: Vec<f32> = bn.forward(x).slice(0..2).into_data().try_to_vec::<f32>().unwrap();
    assert!(alone.iter().zip(&in_batch).any(|(a, b)| (a - b).abs() > 1e-4), "batch norm in training mode mixes the batch");
}

#[test]
fn stages_and_logits_have_the_expected_shapes() {
    let device = common::cpu();
    let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let cases: Vec<(Arch, Vec<[usize; 4]>)> = vec![
        (Arch::convnet(16, 3), vec![[2, 16, 16, 16], [2, 16, 8, 8], [2, 16, 4, 4]]),
        (Arch::resnet(8), vec![[2, 16, 32, 32], [2, 32, 16, 16], [2, 64, 8, 8]]),
        (Arch::resnet_x4(8), vec![[2, 64, 32, 32], [2, 128, 16, 16], [2, 256, 8, 8]]),
        (Arch::wrn(10, 1), vec![[2, 16, 32, 32], [2, 32, 16, 16], [2, 64, 8, 8]]),
        (Arch::mobilenet_v2(), vec![[2, 24, 32, 32], [2, 32, 16, 16], [2, 96, 8, 8], [2, 1280, 4, 4]]),
        (Arch::mlp(32, 2), vec![[2, 32, 1, 1], [2, 32, 1, 1]]),
    ];
    for (arch, shapes) in cases {
        let f = arch.init([3, 32, 32], 10, &device).unwrap().forward_features(x.clone());
        let got: Vec<[usize; 4]> = f.stages.iter().map(|s| s.dims()).collect();
        assert_eq!(got, shapes, "{arch}");
        assert_eq!(f.logits.dims(), [2, 10], "{arch}");
    }
}

#[test]
fn convnet_pads_28x28_gray_to_32_like_the_official_code() {
    let device = common::cpu();
    let net = Arch::convnet(8, 3).init([1, 28, 28], 10, &device).unwrap();
    let f = net.forward_features(Tensor::<4>::zeros([1, 1, 28, 28], &device));
    assert_eq!(f.stages[0].dims(), [1, 8, 16, 16]);
    assert_eq!(f.stages[2].dims(), [1, 8, 4, 4]);
}

#[test]
fn invalid_architectures_are_typed_errors() {
    for (s, field) in [("resnet21", "resnet.depth"), ("wrn-15-2", "wrn.depth"), ("resnet0", "resnet.depth")] {
        let e = s.parse::<Arch>().unwrap_err();
        assert!(matches!(&e, Error::Invalid { field: f, .. } if f == field), "{s}: {e}");
    }
    assert!(matches!("transformer".parse::<Arch>(), Err(Error::Invalid { .. })));
    assert_eq!("convnet-2-w16".parse::<Arch>().unwrap(), Arch::convnet(16, 2));
    assert_eq!("resnet8x4".parse::<Arch>().unwrap(), Arch::resnet_x4(8));
    assert_eq!("wrn-40-2".parse::<Arch>().unwrap(), Arch::wrn(40, 2));
    let e = Arch::convnet(8, 2).init([3, 32, 32], 1, &common::cpu()).unwrap_err();
    assert!(e.to_string().contains("classes"));
}

#[test]
fn a_convnet_too_deep_for_its_input_is_an_error_naming_the_depth() {
    let device = common::cpu();
    // 28×28 is padded to 32: five halvings leave 1 pixel, six leave none
    let deepest = distillery::models::Arch::convnet(4, 5).init([1, 28, 28], 10, &device).unwrap();
    let logits = deepest.forward(burn::tensor::Tensor::zeros([2, 1, 28, 28], &device));
    assert_eq!(logits.dims(), [2, 10], "five halvings still classify");
    let e = distillery::models::Arch::convnet(4, 6).init([1, 28, 28], 10, &device).unwrap_err();
    assert!(matches!(&e, distillery::Error::Invalid { field, .. } if field == "convnet.depth"), "{e}");
    assert!(e.to_string().contains("depth ≤ 5"), "{e}");
    assert!(distillery::models::Arch::convnet(4, 3).init([3, 4, 4], 10, &device).is_err());
}

#[test]
fn token_maps_and_feature_maps_convert_both_ways() {
    use burn::tensor::{Tensor, TensorData};
    use distillery::models::{map_to_tokens, tokens_to_map};
    let device = common::cpu();
    // N = 1, C = 2, 2×3: token (y, x) holds the C values at that position
    let map = Tensor::<4>::from_data(TensorData::new((0..12).map(|v| v as f32).collect::<Vec<_>>(), [1, 2, 2, 3]), &device);
    let tokens = map_to_tokens(map.clone());
    assert_eq!(tokens.dims(), [1, 6, 2]);
    let v = tokens.clone().into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(&v[..4], &[0.0, 6.0, 1.0, 7.0], "token 0 = (c0, c1) at (0, 0), then (0, 1)");
    tokens_to_map(tokens, 2, 3).into_data().assert_eq(&map.into_data(), true);
}
