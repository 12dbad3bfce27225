//! Ops distillery adds to burn's backends where a measured profile showed burn's own to be the
//! step's largest cost (docs/performance.md). Our layers call them on the backend they target
//! and fall back to burn's op everywhere else (libtorch, CUDA, remote, inference without
//! autodiff), so results never depend on which path ran beyond float rounding.
pub mod conv;
pub mod norm;
