//! Ops distillery adds to burn's backends where a measured profile showed burn's own to be the
//! step's largest cost (docs/performance.md). Our layers call them on the backend they target
//! and fall back to burn's op everywhere else (libtorch, CUDA, remote, inference without
//! autodiff), so results never depend on which path ran beyond float rounding.
//!
//! Float rounding is enough to make two training runs drift apart after a few epochs, so a run on
//! a remote device (which executes burn's own ops on the server) does not repeat a local flex
//! run number for number. [`set_fused`]`(false)` (or `DISTILLERY_FUSED_OPS=0` in the environment)
//! makes this process use burn's ops too: then local and remote runs of one seed are identical.
pub mod conv;
pub mod norm;

use std::sync::atomic::{AtomicU8, Ordering};

/// 0: not read from the environment yet, 1: on, 2: off.
static FUSED: AtomicU8 = AtomicU8::new(0);

/// Whether this process uses the fused flex ops where they apply (default: yes; no when
/// `DISTILLERY_FUSED_OPS=0` or after [`set_fused`]`(false)`).
pub fn fused() -> bool {
    match FUSED.load(Ordering::Relaxed) {
        0 => {
            let on = std::env::var("DISTILLERY_FUSED_OPS").map_or(true, |v| v.trim() != "0");
            FUSED.store(if on { 1 } else { 2 }, Ordering::Relaxed);
            on
        }
        state => state == 1,
    }
}

/// Turns the fused flex ops on or off for the whole process (off: burn's own ops everywhere, the
/// ops a remote server runs — slower on flex, and identical to a remote run of the same seed).
pub fn set_fused(on: bool) {
    FUSED.store(if on { 1 } else { 2 }, Ordering::Relaxed);
}
