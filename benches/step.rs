//! Training-step throughput (forward + backward + SGD update) of ConvNet-3 and ResNet-20 on the
//! default backend, batch 64, 3×32×32, against the same models in PyTorch on the same CPU.
//!
//! `just bench` runs `tools/bench_torch.py` first (writing `target/bench/torch.json`), then this
//! bench, which prints both and the ratio. Run alone: `cargo bench --bench step`.
//! Env: `BENCH_STEPS` (timed steps, default 10), `BENCH_BATCH` (default 64).
use distillery::data::{Augment, Dataset, Loader};
use distillery::device::{Device, DeviceExt};
use distillery::losses::cross_entropy;
use distillery::models::{Arch, NormImpl, Staged};
use distillery::train::{devices, TrainConfig};
use burn::optim::GradientsParams;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn bench(name: &str, arch: Arch, data: &Dataset, batch: usize, steps: usize, device: &Device) -> f64 {
    let (_, train) = devices(device);
    let mut net = arch.init(data.shape(), 10, &train).unwrap();
    let mut optim = TrainConfig::new().sgd();
    let loader = Loader::train(data, batch, Augment::none(), 0);
    let b = loader.epoch(0).next().unwrap();
    let (x, y) = (b.images(&train), b.labels(&train));
    let mut times = Vec::new();
    for i in 0..steps + 2 {
        let t0 = Instant::now();
        let loss = cross_entropy(net.forward(x.clone()), y.clone(), 0.0);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(0.01, net, grads);
        let _ = loss.into_scalar::<f32>(); // sync
        if i >= 2 {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    let ms = median(times) * 1e3;
    println!("{{\"impl\": \"distillery\", \"model\": \"{name}\", \"batch\": {batch}, \"step_ms\": {ms:.1}, \"img_per_s\": {:.1}}}", batch as f64 / ms * 1e3);
    ms
}

fn main() {
    let steps: usize = std::env::var("BENCH_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let batch: usize = std::env::var("BENCH_BATCH").ok().and_then(|s| s.parse().ok()).unwrap_or(64);
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let device = Device::auto_quiet();
    eprintln!("# backend: {}, batch {batch}, {steps} timed steps (median)", device.describe());
    let data = Dataset::shapes_sized(batch.div_ceil(10), 1, 0).unwrap();
    let models = [
        ("convnet3", Arch::convnet(128, 3)),
        ("convnet3-burn-groupnorm", Arch::ConvNet(distillery::models::convnet::ConvNetSpec { width: 128, depth: 3, norm: NormImpl::BurnGroupNorm })),
        ("resnet20", Arch::resnet(20)),
    ];
    let torch: Vec<serde_json::Value> = std::fs::read_to_string("target/bench/torch.json")
        .map(|s| s.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
        .unwrap_or_default();
    let mut rows = Vec::new();
    for (name, arch) in models {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let ms = bench(name, arch, &data, batch, steps, &device);
        let base = name.split('-').next().unwrap();
        let torch_ms = torch.iter().find(|t| t["model"] == base).and_then(|t| t["step_ms"].as_f64());
        rows.push((name, ms, torch_ms));
    }
    println!("\n| model | distillery ms/step | PyTorch ms/step | ratio (distillery / PyTorch) |\n|---|---|---|---|");
    for (name, ms, torch_ms) in rows {
        match torch_ms {
            Some(t) => println!("| {name} | {ms:.1} | {t:.1} | {:.2}× |", ms / t),
            None => println!("| {name} | {ms:.1} | – (run `just bench` for the PyTorch side) | – |"),
        }
    }
}
