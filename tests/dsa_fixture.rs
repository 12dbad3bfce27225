//! ∂D/∂S of gradient matching against PyTorch's exact double backward
//! (`tests/fixtures/dsa_grad.json`, written by `tools/dsa_fixture.py` / `just dsa-fixture`).
mod common;

use burn::tensor::{Tensor, TensorData};
use distillery::methods::condense::dsa_aug::{Draw, Family, Params};
use distillery::methods::condense::matching::{match_class, ConvWeights};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number") as f32).collect()
}

fn t1(v: &Value, device: &distillery::device::Device) -> Tensor<1> {
    let d = floats(v);
    let n = d.len();
    Tensor::from_data(TensorData::new(d, [n]), device)
}

fn cosine_and_rel_err(a: &[f32], b: &[f32]) -> (f64, f64) {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let diff = a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum::<f64>().sqrt();
    (dot / (na * nb), diff / nb)
}

#[test]
fn frozen_relu_finite_difference_matches_pytorch_double_backward() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dsa_grad.json")).unwrap();
    let f: Value = serde_json::from_str(&text).unwrap();
    let device = common::cpu();
    let (plain, ad) = distillery::train::devices(&device);
    let (w, depth, classes, hw) = (f["width"].as_u64().unwrap() as usize, f["depth"].as_u64().unwrap() as usize, f["classes"].as_u64().unwrap() as usize, f["hw"].as_u64().unwrap() as usize);
    let (n_real, n_syn) = (f["n_real"].as_u64().unwrap() as usize, f["n_syn"].as_u64().unwrap() as usize);
    let weights = ConvWeights {
        convs: (0..depth).map(|d| Tensor::from_data(TensorData::new(floats(&f["convs"][d]), [w, if d == 0 { 1 } else { w }, 3, 3]), &plain)).collect(),
        conv_bias: (0..depth).map(|d| t1(&f["conv_bias"][d], &plain)).collect(),
        gammas: (0..depth).map(|d| t1(&f["gammas"][d], &plain)).collect(),
        betas: (0..depth).map(|d| t1(&f["betas"][d], &plain)).collect(),
        fc: Tensor::from_data(TensorData::new(floats(&f["fc_in_out"]), [w * 16, classes]), &plain),
        fc_bias: t1(&f["fc_bias"], &plain),
    };
    let syn: Tensor<4> = Tensor::from_data(TensorData::new(floats(&f["syn"]), [classes * n_syn, 1, hw, hw]), &plain);
    for case in f["cases"].as_array().unwrap() {
        let aug = &case["augment"];
        let draw = match aug["family"].as_str().unwrap() {
            "none" => None,
            "rotate" => Some(Draw { family: Family::Rotate, params: Params::Rotate { theta: vec![aug["theta"].as_f64().unwrap() as f32] } }),
            "scale" => Some(Draw { family: Family::Scale, params: Params::Scale { sx: vec![aug["sx"].as_f64().unwrap() as f32], sy: vec![aug["sy"].as_f64().unwrap() as f32] } }),
            other => panic!("fixture family {other}"),
        };
        let mut grads = Vec::new();
        let mut distance = 0.0;
        for c in 0..classes {
            let real: Tensor<4> = Tensor::from_data(TensorData::new(floats(&f["real"][c]), [n_real, 1, hw, hw]), &plain);
            let m = match_class(&weights, real, syn.clone().slice(c * n_syn..(c + 1) * n_syn), draw.as_ref(), c, &ad);
            distance += m.distance;
            grads.extend(m.grad.into_data().try_to_vec::<f32>().unwrap());
        }
        let expected = floats(&case["grad"]);
        let (cos, rel) = cosine_and_rel_err(&grads, &expected);
        let want_d = case["distance"].as_f64().unwrap();
        println!("{aug}: cosine {cos:.6}, relative error {rel:.2e}, D {distance:.6} vs {want_d:.6}");
        assert!((distance - want_d).abs() < 1e-3 * want_d, "{aug}: distance {distance} vs PyTorch {want_d}");
        assert!(cos >= 0.99, "{aug}: cosine {cos} to PyTorch's ∂D/∂S");
        assert!(rel <= 0.02, "{aug}: relative norm error {rel}");
    }
}
