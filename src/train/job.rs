//! Background runs: `builder.spawn(&data, &device)` returns a [`Job`] at once; training goes on
//! in a thread of the same (evcxr) process. A later cell shows `job` (the curves so far),
//! `job.wait()` returns the [`Run`], `job.cancel()` stops it after the current step with its
//! record kept.
use super::{CancelToken, Run, RunRecord, Status};
use crate::error::{Error, Result};
use crate::plot::{self, Figure};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A run training in the background; `T` is what it returns (a [`Run`], or a condensed set).
pub struct Job<T = Run> {
    name: String,
    live: Arc<Mutex<RunRecord>>,
    cancel: CancelToken,
    handle: Option<JoinHandle<Result<T>>>,
}

impl<T: Send + 'static> Job<T> {
    /// Starts `work` on a new thread; it must publish into `live` and honour `cancel`.
    pub fn start(name: String, live: Arc<Mutex<RunRecord>>, cancel: CancelToken, work: impl FnOnce() -> Result<T> + Send + 'static) -> Job<T> {
        let handle = std::thread::Builder::new().name(format!("distillery job {name}")).spawn(work).expect("spawn a thread");
        Job { name, live, cancel, handle: Some(handle) }
    }

    /// A snapshot of the record so far.
    pub fn record(&self) -> RunRecord {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether the thread has finished (completed, failed or cancelled).
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    /// Asks the run to stop after its current step; the record and last checkpoint are kept.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Blocks until the run ends and returns it (or its error: [`Error::Cancelled`] when it was
    /// cancelled, [`Error::Panicked`] with the message when its thread panicked).
    pub fn wait(mut self) -> Result<T> {
        let handle = self.handle.take().expect("a job is waited on once");
        handle.join().unwrap_or_else(|panic| Err(Error::Panicked { run: self.name.clone(), message: crate::models::panic_message(&*panic) }))
    }

    /// One status line: state, epochs done, latest metrics.
    pub fn status(&self) -> String {
        let r = self.record();
        let total = r.config.pointer("/train/epochs").and_then(|v| v.as_u64()).unwrap_or(0);
        let state = match (self.is_finished(), r.status) {
            (false, _) if self.cancel.is_cancelled() => "stopping",
            (false, _) => "running",
            (true, Status::Completed) => "finished",
            (true, Status::Cancelled) => "cancelled",
            (true, _) => "stopped (see wait() for the error)",
        };
        let acc = r.final_metric("test_acc").map(|a| format!(", test_acc {:.2}%", a * 100.0)).unwrap_or_default();
        format!("job `{}`: {state}, epoch {}/{total}{acc}, {:.0}s", self.name, r.epochs.len(), r.wall_time_s)
    }

    /// Test-accuracy curve so far.
    pub fn plot(&self) -> Figure {
        let r = self.record();
        plot::curves(&format!("{} (so far)", self.name), &["test_acc", "train_acc"], &[&r])
    }

    /// Status line and curves so far, inline.
    pub fn evcxr_display(&self) {
        crate::notebook::Panel::new().line(self.status()).figure(self.plot()).evcxr_display();
    }
}

impl<T> Drop for Job<T> {
    fn drop(&mut self) {
        // a dropped, unfinished job is stopped rather than left running unseen
        if self.handle.is_some() {
            self.cancel.cancel();
        }
    }
}
