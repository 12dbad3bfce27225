//! The Swin Transformer against torchvision's (fixture from `tools/swin_fixture.py`), its window
//! mask, relative-position index and patch merging, and the PyTorch weight import (torchvision
//! and RepDistiller names, `.pth` and `.safetensors`, typed errors).
mod common;
use burn::tensor::{Tensor, TensorData};
use distillery::models::import::{self, Import};
use distillery::models::swin::{relative_position_index, shift_mask, SwinSpec};
use distillery::models::{trainable_params, Arch, Net, Staged};
use distillery::Error;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

struct Reference {
    input: Tensor<4>,
    logits: Vec<f32>,
    params: usize,
    config: serde_json::Value,
}

fn reference(name: &str) -> Reference {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap();
    let floats = |k: &str| v[k].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect::<Vec<f32>>();
    let shape: Vec<usize> = v["input_shape"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
    let input = Tensor::<4>::from_data(TensorData::new(floats("input"), shape), &common::cpu());
    Reference { input, logits: floats("logits"), params: v["params"].as_u64().unwrap() as usize, config: v["config"].clone() }
}

fn fixture_spec(c: &serde_json::Value) -> SwinSpec {
    let list = |k: &str| c[k].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
    let n = |k: &str| c[k].as_u64().unwrap() as usize;
    SwinSpec { patch: n("patch"), window: n("window"), embed: n("embed"), depths: list("depths"), heads: list("heads"), mlp_ratio: c["mlp_ratio"].as_f64().unwrap(), clip_windows: false }
}

fn fixture_swin() -> (Net, Reference) {
    let r = reference("swin_tiny.json");
    let c = &r.config;
    let (ch, side, classes) = (c["in_channels"].as_u64().unwrap() as usize, c["image"].as_u64().unwrap() as usize, c["classes"].as_u64().unwrap() as usize);
    let net = Arch::swin(fixture_spec(c)).init([ch, side, side], classes, &common::cpu()).unwrap();
    (net, r)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn logits(net: &Net, x: Tensor<4>) -> Vec<f32> {
    net.forward(x).into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn swin_matches_torchvision_logits_and_parameter_count_from_both_file_formats() {
    for file in ["swin_tiny.safetensors", "swin_tiny.pth"] {
        let (net, r) = fixture_swin();
        assert_eq!(trainable_params(&net), r.params, "parameter count vs torchvision");
        let before = max_abs_diff(&logits(&net, r.input.clone()), &r.logits);
        let (net, imported) = import::load(net, fixture(file), Import::all()).unwrap();
        let err = max_abs_diff(&logits(&net, r.input.clone()), &r.logits);
        assert!(err <= 1e-4, "{file}: max |Δlogit| = {err} (random init was {before})");
        assert!(before > 0.1, "the random init already matched: the test would prove nothing");
        assert_eq!(imported.loaded, 4 + 8 * 13 + 3 * 3 + 4, "{file}: every parameter tensor loaded");
    }
}

/// A RepDistiller-named network loaded from its fixture gives PyTorch's logits.
fn matches_pytorch(arch: Arch, fixture_name: &str) {
    let r = reference(&format!("{fixture_name}.json"));
    let [_, c, h, w]: [usize; 4] = r.input.dims();
    let net = arch.init([c, h, w], 10, &common::cpu()).unwrap();
    assert_eq!(trainable_params(&net), r.params, "{arch}: parameter count vs PyTorch");
    let net = net.load_weights(fixture(&format!("{fixture_name}.pth"))).unwrap();
    let err = max_abs_diff(&logits(&net, r.input), &r.logits);
    assert!(err <= 1e-4, "{arch}: max |Δlogit| = {err}");
}

#[test]
fn a_resnet_and_a_wrn_load_repdistiller_names_and_match_pytorch() {
    matches_pytorch(Arch::resnet(8), "resnet8_repdistiller");
    matches_pytorch(Arch::wrn(10, 1), "wrn10_1_repdistiller");
}

#[test]
fn checkpoints_as_real_trainers_save_them_import_too() {
    // the same ResNet-8 as {'model': sd, 'optimizer': …, 'epoch': …} (RepDistiller), with every
    // key under `module.` (DataParallel), and as {'state_dict': {'module.' …}} (tools/wrapped_fixtures.py)
    let r = reference("resnet8_repdistiller.json");
    let [_, c, h, w]: [usize; 4] = r.input.dims();
    for file in ["resnet8_wrapped_model.pth", "resnet8_wrapped_module.pth", "resnet8_wrapped_state_dict.pth"] {
        let net = Arch::resnet(8).init([c, h, w], 10, &common::cpu()).unwrap();
        let (net, imported) = import::load(net, fixture(file), Import::all()).unwrap_or_else(|e| panic!("{file}: {e}"));
        let err = max_abs_diff(&logits(&net, r.input.clone()), &r.logits);
        assert!(err <= 1e-4, "{file}: max |Δlogit| = {err}");
        assert!(imported.loaded > 20, "{file}: {} tensors", imported.loaded);
        if file.ends_with("model.pth") {
            assert!(imported.ignored.iter().any(|k| k.starts_with("optimizer.")), "the optimiser's state is set aside: {:?}", imported.ignored);
        }
    }
    // a prefix given by hand; a wrong one is an error naming the top-level keys
    let net = Arch::resnet(8).init([c, h, w], 10, &common::cpu()).unwrap();
    assert!(import::load(net, fixture("resnet8_wrapped_model.pth"), Import::all().prefix("model.")).is_ok());
    let (swin, _) = fixture_swin();
    match import::load(swin, fixture("resnet8_wrapped_model.pth"), Import::all()) {
        Err(Error::Weights { reason, .. }) => assert!(reason.contains("`model`") && reason.contains("`optimizer`"), "{reason}"),
        other => panic!("expected a Weights error, got {:?}", other.map(|(_, i)| i)),
    }
}

#[test]
fn a_wrong_shape_or_a_foreign_file_is_a_typed_error_naming_the_key() {
    // 7 classes where the file has 5: the head does not fit
    let (_, r) = fixture_swin();
    let spec = fixture_spec(&r.config);
    let seven = Arch::swin(spec.clone()).init([1, 28, 28], 7, &common::cpu()).unwrap();
    match import::load(seven, fixture("swin_tiny.safetensors"), Import::all()) {
        Err(Error::Weights { key, reason, .. }) => {
            assert_eq!(key, "head.weight");
            assert!(reason.contains("[8, 5]") || reason.contains("[32, 5]") || reason.contains("5]"), "{reason}");
            assert!(reason.contains("7]"), "both shapes named: {reason}");
        }
        other => panic!("expected a Weights error, got {other:?}"),
    }
    // … unless the classifier is left out: the backbone loads, the 7-way head stays fresh
    let seven = Arch::swin(spec).init([1, 28, 28], 7, &common::cpu()).unwrap();
    let fresh = seven.classifier().weight.val().into_data();
    let (net, imported) = import::load(seven, fixture("swin_tiny.safetensors"), Import::except_classifier()).unwrap();
    assert_eq!(net.classifier().weight.val().into_data(), fresh);
    assert!(imported.ignored.iter().any(|k| k.starts_with("head.")), "{:?}", imported.ignored);
    // a ResNet's weights into a Swin: names that map to nothing
    let (net, _) = fixture_swin();
    assert!(matches!(import::load(net, fixture("resnet8_repdistiller.pth"), Import::all()), Err(Error::Weights { .. })));
    // a ResNet-8 file into a ResNet-20: missing blocks are named
    let r20 = Arch::resnet(20).init([3, 16, 16], 10, &common::cpu()).unwrap();
    match r20.load_weights(fixture("resnet8_repdistiller.pth")) {
        Err(Error::Weights { key, .. }) => assert!(key.contains("blocks.1"), "{key}"),
        other => panic!("expected a Weights error, got {other:?}"),
    }
    // not a weight file at all
    let (net, _) = fixture_swin();
    assert!(matches!(import::load(net, fixture("swin_tiny.json"), Import::all()), Err(Error::Format { .. })));
}

#[test]
fn the_shift_mask_blocks_exactly_the_pairs_from_different_regions() {
    // 8×8 map, window 4, shift 2: the rolled map's last window row/column holds tokens from
    // the map's start and end
    let (h, w, s) = (8usize, 4usize, 2usize);
    let mask = shift_mask(h, h, w, [s, s]);
    let n = w * w;
    assert_eq!(mask.len(), 4 * n * n);
    // region of a rolled position along one axis: 0 = never wrapped, else by where it came from
    let region = |p: usize| if p < h - w { 0 } else if p < h - s { 1 } else { 2 };
    for win in 0..4 {
        let (wr, wc) = (win / 2, win % 2);
        for i in 0..n {
            for j in 0..n {
                let pos = |t: usize| (wr * w + t / w, wc * w + t % w);
                let ((ri, ci), (rj, cj)) = (pos(i), pos(j));
                let same = region(ri) == region(rj) && region(ci) == region(cj);
                let v = mask[win * n * n + i * n + j];
                assert_eq!(v, if same { 0.0 } else { -100.0 }, "window {win} pair ({i},{j})");
            }
        }
    }
    // the first window never mixes regions; the last mixes four
    assert!(mask[..n * n].iter().all(|&v| v == 0.0));
    let blocked = mask[3 * n * n..].iter().filter(|&&v| v < 0.0).count();
    assert_eq!(blocked, n * n - 4 * 4 * 4, "4 regions of 4 tokens: 4·16 allowed pairs");
}

#[test]
fn the_relative_position_index_matches_a_hand_case() {
    // 2×2 window: tokens (0,0) (0,1) (1,0) (1,1); index = (Δr + 1)·3 + (Δc + 1)
    assert_eq!(relative_position_index(2), vec![4, 3, 1, 0, 5, 4, 2, 1, 7, 6, 4, 3, 8, 7, 5, 4]);
    let idx = relative_position_index(7);
    assert_eq!(idx.len(), 49 * 49);
    assert_eq!(*idx.iter().max().unwrap(), 13 * 13 - 1);
    assert!(idx.iter().enumerate().filter(|(k, _)| k / 49 == k % 49).all(|(_, &v)| v == 6 * 13 + 6), "zero offset on the diagonal");
}

#[test]
fn stages_have_the_documented_shapes_with_odd_maps_merged_and_small_maps_padded() {
    let net = Arch::swin(SwinSpec::micro(8)).init([1, 28, 28], 10, &common::cpu()).unwrap();
    let f = net.forward_features(Tensor::zeros([2, 1, 28, 28], &common::cpu()));
    let shapes: Vec<[usize; 4]> = f.stages.iter().map(|s| s.dims()).collect();
    assert_eq!(shapes, vec![[2, 8, 14, 14], [2, 16, 7, 7], [2, 32, 4, 4], [2, 64, 2, 2]]);
    assert_eq!(f.logits.dims(), [2, 10]);
    assert_eq!(SwinSpec::tiny().stage_sizes(224, 224), vec![[56, 56], [28, 28], [14, 14], [7, 7]]);
    assert_eq!(SwinSpec::micro(8).stage_windows(28, 28), vec![7, 7, 4, 2], "clipped to the small maps");
    assert_eq!(SwinSpec { clip_windows: false, ..SwinSpec::micro(8) }.stage_windows(28, 28), vec![7; 4], "torchvision pads instead");
}

#[test]
fn any_image_torchvision_takes_runs_and_only_one_with_no_tokens_is_refused() {
    let dev = common::cpu();
    // 27 px: the patch embedding drops the last row and column (13×13 tokens); 36 px: 18×18
    // maps the 7-window does not divide, padded to 21×21; non-square 30×22: 15×11
    for (side_h, side_w, first) in [(27, 27, [13, 13]), (36, 36, [18, 18]), (30, 22, [15, 11])] {
        let spec = SwinSpec { clip_windows: false, ..SwinSpec::micro(8) };
        let net = Arch::swin(spec).init([1, side_h, side_w], 10, &dev).unwrap_or_else(|e| panic!("{side_h}×{side_w}: {e}"));
        let f = net.forward_features(Tensor::zeros([2, 1, side_h, side_w], &dev));
        assert_eq!(f.stages[0].dims()[2..], first, "{side_h}×{side_w}");
        assert_eq!(f.logits.dims(), [2, 10]);
    }
    match Arch::swin(SwinSpec::micro(8)).init([1, 1, 9], 10, &dev) {
        Err(Error::Invalid { field, reason, .. }) => {
            assert_eq!(field, "swin.patch");
            assert!(reason.contains("1×9"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let bad_heads = SwinSpec { heads: vec![3, 2, 4, 8], ..SwinSpec::micro(8) };
    assert!(matches!(Arch::swin(bad_heads).validate(), Err(Error::Invalid { .. })));
    assert!("swin-q".parse::<Arch>().is_err());
    assert_eq!("swin-t".parse::<Arch>().unwrap(), Arch::swin(SwinSpec::tiny()));
    assert_eq!("swin-micro-w16".parse::<Arch>().unwrap(), Arch::swin(SwinSpec::micro(16)));
}

/// torchvision pads every token map the window does not divide (non-square 30×22 input: 15×11,
/// 8×6, 4×3, 2×2 maps under a 7-window); with the fixture's weights our logits are its logits.
#[test]
fn swin_matches_torchvision_on_maps_the_window_does_not_divide() {
    let r = reference("swin_padded.json");
    let [_, ch, h, w]: [usize; 4] = r.input.dims();
    let classes = r.config["classes"].as_u64().unwrap() as usize;
    let net = Arch::swin(fixture_spec(&r.config)).init([ch, h, w], classes, &common::cpu()).unwrap();
    let (net, _) = import::load(net, fixture("swin_tiny.safetensors"), Import::all()).unwrap();
    let err = max_abs_diff(&logits(&net, r.input.clone()), &r.logits);
    assert!(err <= 1e-4, "max |Δlogit| = {err}");
}

#[test]
fn swin_t_has_torchvisions_parameter_count() {
    // torchvision swin_t: 28,288,354 parameters at 1000 classes
    let net = Arch::swin(SwinSpec::tiny()).init([3, 224, 224], 1000, &common::cpu()).unwrap();
    assert_eq!(trainable_params(&net), 28_288_354);
}
