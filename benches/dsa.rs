//! One class of DSA gradient matching (real batch and synthetic images of one class through one
//! siamese rotate, weight gradients, the distance, and ∂D/∂S by the frozen-ReLU finite-difference
//! HVP) on the default backend, against PyTorch's double backward on the same CPU
//! (`tools/bench_dsa_torch.py`). `just bench` runs both; alone: `cargo bench --bench dsa`.
//! Env: `BENCH_STEPS` (timed steps after 3 warm-up steps, default 10). The width-128 rows with 256
//! real images are the official setting at IPC 1, 10 and 50; ten of them (one per class) are the
//! matching part of one outer iteration, printed in its own column.
mod common;
use burn::tensor::{Distribution, Tensor};
use distillery::device::{Device, DeviceExt};
use distillery::methods::condense::matching::{match_class, ConvWeights};
use distillery::methods::condense::{Draw, Family};
use distillery::models::{Arch, Net};
use distillery::train::devices;
use std::time::Instant;

fn main() {
    let steps = common::steps();
    let device = Device::auto_quiet();
    let (plain, ad) = devices(&device);
    eprintln!("# backend: {}, {steps} timed steps (median)", device.describe());
    let torch = common::torch_rows("torch-dsa.json");
    let draw = Draw { family: Family::Rotate, params: distillery::methods::condense::dsa_aug::Params::Rotate { theta: vec![0.2] } };
    eprintln!("# {} threads", common::rayon_threads());
    println!("| ConvNet width | real | syn (IPC) | distillery ms | PyTorch ms (double backward) | ratio | outer iteration, 10 classes: distillery s / PyTorch s |\n|---|---:|---:|---:|---:|---:|---:|");
    for (width, n_real, n_syn) in [(64usize, 64usize, 10usize), (128, 256, 1), (128, 256, 10), (128, 256, 50)] {
        let Net::ConvNet(net) = Arch::convnet(width, 3).init_seeded([1, 28, 28], 10, &plain, 0).unwrap() else { unreachable!() };
        let weights = ConvWeights::of(&net, &plain);
        let real: Tensor<4> = Tensor::random([n_real, 1, 28, 28], Distribution::Normal(0.0, 1.0), &plain);
        let syn: Tensor<4> = Tensor::random([n_syn, 1, 28, 28], Distribution::Normal(0.0, 1.0), &plain);
        let mut times = Vec::new();
        for i in 0..steps + 3 {
            let t0 = Instant::now();
            let m = match_class(&weights, real.clone(), syn.clone(), Some(&draw), 0, &ad);
            let _ = m.grad.sum().into_scalar::<f32>(); // sync
            if i >= 3 {
                times.push(t0.elapsed().as_secs_f64());
            }
        }
        let ms = common::median(times) * 1e3;
        let t = torch.iter().find(|t| t["width"] == width && t["real"] == n_real && t["syn"] == n_syn).and_then(|t| t["ms"].as_f64());
        match t {
            Some(t) => println!("| {width} | {n_real} | {n_syn} | {ms:.1} | {t:.1} | **{:.2}×** | {:.2} / {:.2} |", ms / t, ms / 100.0, t / 100.0),
            None => println!("| {width} | {n_real} | {n_syn} | {ms:.1} | – (run `just bench`) | – | {:.2} / – |", ms / 100.0),
        }
    }
}
