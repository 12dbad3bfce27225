//! Fan-out: independent runs (sweep points, comparison seeds) over several devices at once —
//! local GPUs, remote `distillery serve` devices, or both — one run per device at a time.
//!
//! Each device gets a worker thread that trains whatever it is handed (the closures borrow the
//! notebook's data and teachers, so they run on scoped threads, not as `'static` tasks); tokio
//! does the scheduling around them: a queue of points, a channel of finished ones, and the
//! health check of a device whose run failed, under a deadline.
//!
//! A failed run is checked against its device: when the device no longer answers (a server
//! that went down), the device is retired and the point goes back to the queue for another
//! device, up to `retries` times; when the device is fine, the failure is the run's own (bad
//! settings, a bug) and the point is marked failed with its error at once. Either way every
//! other point goes on, and nothing is dropped silently: each point ends [`Outcome::Done`] or
//! [`Outcome::Failed`], in the order given.
use crate::device::{DeviceExt, FAN_OUT_THREAD as THREAD_PREFIX};
use crate::error::{Error, Result};
use burn::tensor::{Device, Tensor};
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a failed run's device has to answer a one-element read before it is retired.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);

/// How one point ended.
#[derive(Debug)]
pub enum Outcome<T> {
    /// It ran to the end on `device` (an index into the device list).
    Done {
        /// What the run returned.
        value: T,
        /// Which device ran it.
        device: usize,
    },
    /// It failed on every device it was tried on (or its error was its own).
    Failed {
        /// The last error, with the device it came from.
        error: String,
        /// How many devices it was tried on.
        attempts: usize,
    },
}

/// A worker's report: which point, which worker, and how the run ended.
struct Report<T> {
    item: usize,
    worker: usize,
    result: std::result::Result<T, String>,
}

/// Runs `f(item, device)` for every item, concurrently over `devices` (one item per device at a
/// time), retrying an item whose device died on another device up to `retries` times.
/// Returns one [`Outcome`] per item, in the order of `items`.
pub fn fan_out<I: Sync, T: Send>(items: &[I], devices: &[Device], retries: usize, f: impl Fn(&I, &Device) -> Result<T> + Sync) -> Result<Vec<Outcome<T>>> {
    crate::error::ensure(!devices.is_empty(), "devices", "[]", "fan-out needs at least one device")?;
    crate::device::quiet_panics();
    crate::device::remote_here();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().thread_name(THREAD_PREFIX.to_string() + " check").build().map_err(|e| Error::invalid("fan-out", "tokio runtime", e.to_string()))?;
    let (done_tx, done_rx) = mpsc::unbounded_channel::<Report<T>>();
    let mut queues = Vec::with_capacity(devices.len());
    let f = &f;
    let outcomes = std::thread::scope(|scope| {
        for (worker, device) in devices.iter().enumerate() {
            let (job_tx, mut job_rx) = mpsc::unbounded_channel::<usize>();
            queues.push(job_tx);
            let done_tx = done_tx.clone();
            let work = move || {
                while let Some(item) = job_rx.blocking_recv() {
                    let result = match catch_unwind(AssertUnwindSafe(|| f(&items[item], device))) {
                        Ok(Ok(value)) => Ok(value),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(panic) => Err(format!("panicked: {}", crate::models::panic_message(&*panic))),
                    };
                    if done_tx.send(Report { item, worker, result }).is_err() {
                        break;
                    }
                }
            };
            std::thread::Builder::new().name(format!("{THREAD_PREFIX} {worker}")).spawn_scoped(scope, work).expect("spawn a fan-out thread");
        }
        drop(done_tx);
        runtime.block_on(schedule(items.len(), devices, retries, queues, done_rx))
    });
    // a health check that hung stays behind on the blocking pool instead of blocking the return
    runtime.shutdown_background();
    outcomes
}

/// The coordinator: hands queued items to idle devices, collects reports, retires dead devices
/// and re-queues their items, until every item has an outcome.
async fn schedule<T>(count: usize, devices: &[Device], retries: usize, mut queues: Vec<mpsc::UnboundedSender<usize>>, mut done: mpsc::UnboundedReceiver<Report<T>>) -> Result<Vec<Outcome<T>>> {
    let mut outcomes: Vec<Option<Outcome<T>>> = (0..count).map(|_| None).collect();
    let mut attempts = vec![0usize; count];
    let mut last_error: Vec<Option<String>> = vec![None; count];
    let mut pending: VecDeque<usize> = (0..count).collect();
    let mut idle: VecDeque<usize> = (0..devices.len()).collect();
    let mut busy = 0usize;
    loop {
        while let (Some(_), Some(&worker)) = (pending.front(), idle.front()) {
            let item = pending.pop_front().expect("checked above");
            idle.pop_front();
            attempts[item] += 1;
            if queues[worker].send(item).is_err() {
                // the worker thread is gone (it cannot be, short of a bug): the item waits for
                // another, and the worker is not handed anything again
                pending.push_front(item);
                attempts[item] -= 1;
                continue;
            }
            busy += 1;
        }
        if busy == 0 {
            // nothing running: either every item has an outcome, or no device is left for the rest
            for item in pending.drain(..) {
                let last = last_error[item].take().map(|e| format!("; last error: {e}")).unwrap_or_default();
                outcomes[item] = Some(Outcome::Failed { error: format!("no device left to run it (every device was retired){last}"), attempts: attempts[item] });
            }
            break;
        }
        let Some(report) = done.recv().await else { break };
        busy -= 1;
        // the device takes the next item unless its run failed and it no longer answers
        let keep_device = match report.result {
            Ok(value) => {
                outcomes[report.item] = Some(Outcome::Done { value, device: report.worker });
                true
            }
            Err(error) => {
                let device = &devices[report.worker];
                let healthy = answers(device.clone()).await;
                let error = format!("{} ({}): {error}", device.describe(), if healthy { "device answers" } else { "device no longer answers" });
                let first_line = error.lines().next().unwrap_or_default();
                if healthy || attempts[report.item] > retries {
                    println!("fan-out: point {} failed on {first_line}", report.item + 1);
                    outcomes[report.item] = Some(Outcome::Failed { error, attempts: attempts[report.item] });
                } else {
                    // what the dead device's backend said stays with the point (its error if no
                    // device is left), not in the notebook
                    println!("fan-out: point {} lost its device, {} (no longer answers); retrying on another device", report.item + 1, device.describe());
                    last_error[report.item] = Some(error);
                    pending.push_back(report.item);
                }
                healthy
            }
        };
        if keep_device {
            idle.push_back(report.worker);
        }
    }
    // closing the job queues ends the worker threads
    queues.clear();
    Ok(outcomes.into_iter().map(|o| o.unwrap_or(Outcome::Failed { error: "never scheduled".into(), attempts: 0 })).collect())
}

/// Whether `device` still computes and returns a one-element tensor within [`HEALTH_TIMEOUT`].
/// The check runs on tokio's blocking pool; a check that hangs is abandoned there.
async fn answers(device: Device) -> bool {
    let check = tokio::task::spawn_blocking(move || catch_unwind(AssertUnwindSafe(|| Tensor::<1>::from_floats([1.0], &device).add_scalar(1.0).into_data().try_to_vec::<f32>().is_ok_and(|v| v == [2.0]))).unwrap_or(false));
    matches!(tokio::time::timeout(HEALTH_TIMEOUT, check).await, Ok(Ok(true)))
}

/// A trained network on a remote device comes home to this machine's CPU, so it outlives the
/// server; a local network stays where it is.
pub fn bring_home(net: crate::models::Net, device: &Device) -> crate::models::Net {
    use burn::module::Module;
    if device.is_remote() { net.to_device(&Device::cpu_default()) } else { net }
}
