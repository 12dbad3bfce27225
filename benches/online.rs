//! One training step (forward, losses, backward, SGD update) of every online method on the same
//! two peers and batch, on the default backend: what OKDCR's second view and second classifiers
//! cost against DML. `cargo bench --bench online` (also part of `just bench`).
//! Env: `BENCH_STEPS` (timed steps, default 10), `BENCH_BATCH` (default 64), `BENCH_WIDTH`
//! (ConvNet-3 width of both peers, default 16: the cpu profile's peers).
use distillery::data::{Augment, Dataset, Loader};
use distillery::device::{Device, DeviceExt};
use distillery::methods::online::{ffl, kdcl, okdcr, one, Dml, OnlineConfig, OnlineKind};
use distillery::models::Arch;
use distillery::train::{devices, Method, Optimizers, StepCtx, TrainConfig};
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// Median milliseconds of one `step` of `method` on the first batch of `data`.
fn time_steps<M: Method>(mut method: M, data: &Dataset, batch: usize, steps: usize, device: &Device) -> f64 {
    let recipe = TrainConfig::new().with_batch_size(batch);
    let mut optim = Optimizers::new(&recipe);
    method.configure(&mut optim);
    let b = Loader::train(data, batch, Augment::standard(false), 0).with_views(method.views()).epoch(0).next().unwrap();
    let (plain, ad) = devices(device);
    let mut times = Vec::new();
    for i in 0..steps + 2 {
        let ctx = StepCtx { lr: 0.05, epoch: 0, epochs: 1, step: i, total_steps: 4 * steps, device: ad.clone(), plain: plain.clone(), label_smoothing: 0.0 };
        let t0 = Instant::now();
        let log = method.step(&b, &ctx, &mut optim).unwrap(); // the log's scalars are read: a sync
        assert!(log.get("loss").unwrap_or(0.0).is_finite());
        if i >= 2 {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    times[times.len() / 2]
}

fn main() {
    let (steps, batch, width) = (env("BENCH_STEPS", 10), env("BENCH_BATCH", 64), env("BENCH_WIDTH", 16));
    let device = Device::auto_quiet();
    let data = Dataset::shapes_sized(batch.div_ceil(10), 1, 0).unwrap();
    let peers = vec![Arch::convnet(width, 3); 2];
    eprintln!("# backend: {}, two ConvNet-3 w{width} peers, batch {batch}, 3×32×32, {steps} timed steps (median)", device.describe());
    let cfg = |kind| OnlineConfig { peers: peers.clone(), ..OnlineConfig::new(kind) };
    let mut rows: Vec<(String, f64)> = Vec::new();
    for kind in OnlineKind::all() {
        let c = cfg(kind);
        let ms = match kind {
            OnlineKind::Vanilla { .. } | OnlineKind::Okdcr => time_steps(okdcr::Okdcr::new(&c, &data, &device, 0).unwrap(), &data, batch, steps, &device),
            OnlineKind::Dml => time_steps(Dml::builder().peers(peers.clone()).build(&data, &device).unwrap(), &data, batch, steps, &device),
            OnlineKind::One => time_steps(one::One::new(&c, &data, &device, 0).unwrap(), &data, batch, steps, &device),
            OnlineKind::Ffl => time_steps(ffl::Ffl::new(&c, &data, &device, 0).unwrap(), &data, batch, steps, &device),
            OnlineKind::Kdcl => time_steps(kdcl::Kdcl::new(&c, &data, &device, 0).unwrap(), &data, batch, steps, &device),
        };
        println!("{{\"impl\": \"distillery\", \"method\": \"{}\", \"width\": {width}, \"batch\": {batch}, \"step_ms\": {ms:.1}}}", kind.label());
        rows.push((kind.label(), ms));
    }
    let dml = rows.iter().find(|(l, _)| l == "DML").map(|r| r.1).unwrap();
    println!("\n| method | ms/step | × DML |\n|---|---|---|");
    for (label, ms) in rows {
        println!("| {label} | {ms:.1} | {:.2}× |", ms / dml);
    }
}
