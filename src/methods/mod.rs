//! Methods: each owns its trainable model, says what to minimise on the shared [`Trainer`]
//! ([`Method::losses`](crate::train::Method::losses)), and has a builder whose `fit` returns a
//! [`Run`](crate::train::Run). One module (or folder) per method family; no method imports
//! another's internals.
//!
//! [`Trainer`]: crate::train::Trainer
pub mod condense;
pub mod kd;
pub mod mksmt;
pub mod feature;
pub mod gan_patch;
pub mod online;
pub mod options;
pub mod supervised;

pub use feature::{FitNet, MaskKind, Mgd};
pub use gan_patch::{FoldTeachers, GanKd, PatchGan};
pub use kd::Kd;
pub use mksmt::{Distill, Mksmt, Scheme, Step2};
pub use online::{Dml, Online, OnlineKind};
pub use options::{Fit, JobBuilder, RunBuilder, RunOptions};
pub use supervised::Supervised;
