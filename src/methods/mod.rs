//! Methods: each owns its models and optimisers, defines its step on the shared [`Trainer`], and
//! has a builder whose `fit` returns a [`Run`](crate::train::Run).
//!
//! [`Trainer`]: crate::train::Trainer
pub mod fitnet;
pub mod condense;
pub mod kd;
pub mod mgd;
pub mod online;
pub mod options;
pub mod supervised;

pub use options::{Fit, RunBuilder, RunOptions};
