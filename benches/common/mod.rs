//! What the PyTorch-comparison benches share: the step count, the thread count both sides use,
//! the PyTorch side's JSON lines, the median.
#![allow(dead_code)]

/// `BENCH_STEPS`: timed steps (default 10).
pub fn steps() -> usize {
    std::env::var("BENCH_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(10)
}

/// The threads flex computes with, and the PyTorch scripts are given: `RAYON_NUM_THREADS`, else
/// every core.
pub fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The JSON lines a `tools/bench_*_torch.py` script wrote to `target/bench/<file>` (none when it
/// has not run).
pub fn torch_rows(file: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(format!("target/bench/{file}")).map(|s| s.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()).unwrap_or_default()
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
