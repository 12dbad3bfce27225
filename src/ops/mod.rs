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

/// The environment variable that holds the switch: `0` turns the fused ops off.
pub const FUSED_ENV: &str = "DISTILLERY_FUSED_OPS";

/// Whether this process uses the fused flex ops where they apply (default: yes; no when
/// `DISTILLERY_FUSED_OPS=0`, e.g. after [`set_fused`]`(false)`). Read on every call: the switch
/// lives in the process environment, the one store that evcxr's per-cell libraries share (each
/// notebook cell links its own copy of this crate's statics).
pub fn fused() -> bool {
    std::env::var_os(FUSED_ENV).is_none_or(|v| v != "0")
}

/// Turns the fused flex ops on or off for the whole process (off: burn's own ops everywhere, the
/// ops a remote server runs — slower on flex, and identical to a remote run of the same seed).
/// It sets `DISTILLERY_FUSED_OPS`: call it before starting runs, not while other threads read
/// the environment from C code (libtorch).
pub fn set_fused(on: bool) {
    // SAFETY: edition 2024 marks set_var unsafe because C code may read the environment
    // concurrently; this is a user's one-off switch, documented to be made between runs.
    unsafe { std::env::set_var(FUSED_ENV, if on { "1" } else { "0" }) }
}
