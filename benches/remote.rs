//! What scale-out costs and gives on this machine (`just bench-remote`; feature
//! `remote-server`): an 8-point smoke sweep on the local device vs fanned out over 1, 2 and 3
//! loopback `distillery serve` servers (flex, one per server), and the per-step overhead of the
//! remote protocol (the same training run, local flex vs one remote flex device).
//! Env: `BENCH_POINTS` (sweep points, default 8), `BENCH_WIDTH` (ConvNet-3 width, default 16).
//! Writes `target/bench/remote.json` and prints a markdown table.
use distillery::data::{DataRoot, Dataset};
use distillery::device::{Device, DeviceExt};
use distillery::methods::{RunBuilder, Supervised};
use distillery::models::Arch;
use distillery::profile::Profile;
use distillery::serve::{ServeConfig, Server};
use distillery::train::{Run, Sweep, TrainConfig};
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn train(data: &Dataset, width: usize, lr: f64, device: &Device) -> distillery::Result<Run> {
    let recipe = TrainConfig::new().with_epochs(1).with_batch_size(64).with_lr(lr).with_verbose(false);
    Supervised::builder().model(Arch::convnet(width, 3)).train(recipe).fit(data, device)
}

fn servers(n: usize) -> (Vec<Server>, Vec<Device>) {
    let servers: Vec<Server> = (0..n).map(|_| Server::start(ServeConfig { bind: ([127, 0, 0, 1], 0).into(), token: Some("bench".into()), devices: vec![Device::cpu_default()] }).unwrap()).collect();
    let devices = servers.iter().map(|s| Device::remote(&s.url, Some("bench")).unwrap()).collect();
    (servers, devices)
}

fn main() {
    let (points, width) = (env("BENCH_POINTS", 8), env("BENCH_WIDTH", 16));
    let data = Dataset::fashion_mnist(&DataRoot::resolve(None), &Profile::Smoke).expect("Fashion-MNIST under the data root (just data)");
    let lrs: Vec<f64> = (0..points).map(|i| 0.01 + 0.01 * i as f64).collect();
    let local = Device::cpu_default();
    eprintln!("# {points}-point sweep, ConvNet-3 w{width}, 1 epoch on {} each; {} threads", data.describe(), std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let mut rows: Vec<(String, f64, f64)> = Vec::new();
    let started = Instant::now();
    let reference = Sweep::over("lr", lrs.clone()).verbose(false).run(|lr| train(&data, width, lr, &local)).unwrap();
    rows.push(("local flex, one point after another".into(), started.elapsed().as_secs_f64(), 1.0));
    let base = rows[0].1;
    let started = Instant::now();
    let sweep = Sweep::over("lr", lrs.clone()).verbose(false).run_on(&[local.clone(), local.clone()], |p, d| train(&data, width, p.x(), d)).unwrap();
    assert_eq!(sweep.table("test_acc"), reference.table("test_acc"));
    let s = started.elapsed().as_secs_f64();
    rows.push(("local flex, two points at a time (run_on [cpu, cpu])".into(), s, base / s));
    for n in 1..=3 {
        let (_servers, devices) = servers(n);
        let started = Instant::now();
        let sweep = Sweep::over("lr", lrs.clone()).verbose(false).run_on(&devices, |p, d| train(&data, width, p.x(), d)).unwrap();
        let s = started.elapsed().as_secs_f64();
        assert!(sweep.failed.is_empty());
        assert_eq!(sweep.table("test_acc"), reference.table("test_acc"), "the remote sweep gives the local numbers");
        rows.push((format!("{n} loopback server{}", if n > 1 { "s" } else { "" }), s, base / s));
    }
    // per-step overhead: the same run's training throughput, local vs remote
    let (_servers, devices) = servers(1);
    let local_run = train(&data, width, 0.05, &local).unwrap();
    let remote_run = train(&data, width, 0.05, &devices[0]).unwrap();
    let ips = |r: &Run| r.record.epochs[0].images_per_s;
    let steps = data.train.len().div_ceil(64) as f64;
    let step_ms = |r: &Run| 1e3 * r.record.epochs[0].seconds / steps;
    println!("| setting | {points}-point sweep (s) | speed-up |\n|---|---|---|");
    for (name, s, x) in &rows {
        println!("| {name} | {s:.1} | {x:.2}× |");
    }
    println!("\n| one training step, batch 64 | ms | images/s |\n|---|---|---|");
    println!("| local flex | {:.1} | {:.0} |", step_ms(&local_run), ips(&local_run));
    println!("| remote flex over loopback | {:.1} | {:.0} |", step_ms(&remote_run), ips(&remote_run));
    println!("\nremote / local step time: {:.2}×", step_ms(&remote_run) / step_ms(&local_run));
    let json = serde_json::json!({
        "points": points, "width": width,
        "sweep_s": rows.iter().map(|r| serde_json::json!({"setting": r.0, "seconds": r.1, "speedup": r.2})).collect::<Vec<_>>(),
        "step_ms": {"local": step_ms(&local_run), "remote": step_ms(&remote_run)},
    });
    std::fs::create_dir_all("target/bench").unwrap();
    std::fs::write("target/bench/remote.json", serde_json::to_string_pretty(&json).unwrap()).unwrap();
}
