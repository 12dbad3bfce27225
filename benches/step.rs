//! Training-step throughput (forward + backward + SGD momentum update) on this build's CPU
//! backend (flex by default, libtorch with `--no-default-features --features tch`), against the
//! same models in PyTorch on the same CPU with the same thread count.
//!
//! `just bench` runs `tools/bench_torch.py` first (writing `target/bench/torch.json`), then this
//! bench, which prints both sides and the ratio per row. Alone: `cargo bench --bench step`.
//! Arguments: `scale` for the scaling table (ConvNet-3 w32/64/128 at batch 64, ResNet-20/56 at
//! batch 32/64/128) instead of the two headline rows; any other word keeps the rows whose model
//! contains it. Env: `BENCH_STEPS` (timed steps after 3 warm-up steps, default 10).
//!
//! Each row runs in a child process of its own (this binary with `--row MODEL BATCH`) so that
//! its peak resident memory (`VmHWM`) is the step's alone; the parent collects one JSON line per
//! row into `target/bench/step-<backend>.json`.
mod common;
use burn::module::Module;
use burn::optim::GradientsParams;
use distillery::data::{Augment, Dataset, Loader};
use distillery::device::{Device, DeviceExt};
use distillery::losses::cross_entropy;
use distillery::models::{Arch, Staged};
use distillery::train::{devices, TrainConfig};
use std::process::Command;
use std::time::Instant;

const WARMUP: usize = 3;

/// The rows of the headline comparison and of the scaling table: (model, batch).
fn rows(scale: bool) -> Vec<(&'static str, usize)> {
    if scale {
        vec![("convnet3-w32", 64), ("convnet3-w64", 64), ("convnet3-w128", 64), ("resnet20", 32), ("resnet20", 64), ("resnet20", 128), ("resnet56", 32), ("resnet56", 64), ("resnet56", 128)]
    } else {
        vec![("convnet3-w128", 64), ("resnet20", 64)]
    }
}

fn arch(model: &str) -> Arch {
    match model {
        "resnet20" => Arch::resnet(20),
        "resnet56" => Arch::resnet(56),
        m => Arch::convnet(m.trim_start_matches("convnet3-w").parse().expect("convnet3-wN"), 3),
    }
}

/// The threads the backend computes with: libtorch's intra-op pool on tch, rayon's pool on flex
/// (`RAYON_NUM_THREADS`, else every core).
fn threads() -> usize {
    #[cfg(all(feature = "tch", not(feature = "flex")))]
    return tch::get_num_threads() as usize;
    #[allow(unreachable_code)]
    common::rayon_threads()
}

/// Peak resident memory of this process in MiB (Linux `VmHWM`; `None` elsewhere).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// One row, in this process: prints its JSON line.
fn run_row(model: &str, batch: usize, steps: usize) {
    let device = Device::auto_quiet();
    let (_, train) = devices(&device);
    let data = Dataset::shapes_sized(batch.div_ceil(10), 1, 0).unwrap();
    let mut net = arch(model).init(data.shape(), 10, &train).unwrap();
    let params = net.num_params();
    let mut optim = TrainConfig::new().sgd();
    let b = Loader::train(&data, batch, Augment::none(), 0).epoch(0).next().unwrap();
    let (x, y) = (b.images(&train), b.labels(&train));
    let mut times = Vec::new();
    for i in 0..steps + WARMUP {
        let t0 = Instant::now();
        let loss = cross_entropy(net.forward(x.clone()), y.clone(), 0.0);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(0.01, net, grads);
        let _ = loss.into_scalar::<f32>(); // waits for the step
        if i >= WARMUP {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    let ms = common::median(times) * 1e3;
    let rss = peak_rss_mib().map_or("null".into(), |m| format!("{m:.0}"));
    println!(
        "{{\"impl\": \"distillery\", \"backend\": \"{}\", \"model\": \"{model}\", \"batch\": {batch}, \"params\": {params}, \"threads\": {}, \"steps\": {steps}, \"step_ms\": {ms:.1}, \"img_per_s\": {:.1}, \"peak_rss_mib\": {rss}}}",
        backend(&device), threads(), batch as f64 / ms * 1e3
    );
}

fn backend(device: &Device) -> &'static str {
    if device.describe().starts_with("flex") { "flex" } else { "libtorch" }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let steps = common::steps();
    if let Some(i) = args.iter().position(|a| a == "--row") {
        run_row(&args[i + 1], args[i + 2].parse().expect("--row MODEL BATCH"), steps);
        return;
    }
    let scale = args.iter().any(|a| a == "scale");
    let filter = args.iter().find(|a| !a.starts_with('-') && *a != "scale");
    let device = Device::auto_quiet();
    let name = backend(&device);
    eprintln!("# {}: {} threads, {WARMUP} warm-up + {steps} timed steps per row (median), one process per row", device.describe(), threads());
    let torch = common::torch_rows("torch.json");
    let exe = std::env::current_exe().unwrap();
    let mut ours = Vec::new();
    for (model, batch) in rows(scale) {
        if filter.is_some_and(|f| !model.contains(f.as_str())) {
            continue;
        }
        let out = Command::new(&exe).args(["--row", model, &batch.to_string()]).output().unwrap();
        let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
        match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(row) => {
                eprintln!("{line}");
                ours.push(row);
            }
            Err(_) => eprintln!("# {model} batch {batch} failed: {}", String::from_utf8_lossy(&out.stderr)),
        }
    }
    std::fs::create_dir_all("target/bench").unwrap();
    let lines: Vec<String> = ours.iter().map(|r| r.to_string()).collect();
    std::fs::write(format!("target/bench/step-{name}.json"), lines.join("\n") + "\n").unwrap();
    println!("\n| model | batch | params | {name} ms/step | {name} img/s | {name} peak RSS (MiB) | PyTorch ms/step | PyTorch img/s | PyTorch peak RSS (MiB) | ratio ({name} / PyTorch) |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &ours {
        let t = torch.iter().find(|t| t["model"] == r["model"] && t["batch"] == r["batch"]);
        let ms = r["step_ms"].as_f64().unwrap();
        let cells = match t {
            Some(t) => {
                let tms = t["step_ms"].as_f64().unwrap();
                let same = if t["params"] == r["params"] && t["threads"] == r["threads"] { "" } else { " (differs: params or threads)" };
                format!("{tms:.1} | {} | {} | **{:.2}×**{same}", t["img_per_s"], t["peak_rss_mib"], ms / tms)
            }
            None => "– | – | – | – (run `just bench` for the PyTorch side)".into(),
        };
        println!("| {} | {} | {} | {ms:.1} | {} | {} | {cells} |", r["model"].as_str().unwrap(), r["batch"], r["params"], r["img_per_s"], r["peak_rss_mib"]);
    }
}
