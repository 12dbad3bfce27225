//! # distillery
//!
//! Knowledge-distillation methods on [burn](https://burn.dev), made to be explored from evcxr
//! Jupyter notebooks: real data readers, a model zoo with per-stage features, one trainer every
//! method plugs into, run records, and SVG plots.
//!
//! ```no_run
//! use distillery::prelude::*;
//! # fn main() -> distillery::Result<()> {
//! let device = Device::auto();
//! let profile = Profile::from_env(&device)?;
//! let data = Dataset::fashion_mnist(&DataRoot::resolve(None), &profile)?;
//! let teacher = Supervised::builder().model(Arch::convnet(64, 3)).train(profile.train(30)).fit(&data, &device)?;
//! let kd = Kd::builder().teacher(&teacher).student(Arch::convnet(16, 2)).fit(&data, &device)?;
//! println!("{}", kd.summary());
//! # Ok(()) }
//! ```
pub mod analysis;
pub mod data;
pub mod device;
pub mod display;
pub mod error;
pub mod experiment;
pub mod losses;
pub mod methods;
pub mod notebook;
pub mod ops;
pub mod models;
pub mod plot;
pub mod profile;
pub mod record;
pub mod rng;
#[cfg(feature = "remote-server")]
pub mod serve;
pub mod stats;
pub mod table;
pub mod train;

pub use burn;
pub use error::{Error, RemoteFailure, Result};

/// Everything a notebook needs in scope.
pub mod prelude {
    pub use crate::data::{Augment, DataRoot, Dataset, Mix, Split};
    pub use crate::device::Device;
    // `Result` stays out: evcxr's generated code (and burn's derives) name `Result<T, E>`.
    pub use crate::error::Error;
    pub use crate::methods::condense::{Algorithm, Condense, Condensed, EvalConfig, Evaluation, Init, Strategy};
    pub use crate::methods::{FitNet, Kd, MaskKind, Mgd, Supervised};
    pub use crate::methods::online::{Distance, Online, OnlineKind};
    pub use crate::methods::gan_patch::{Fill, FoldTeachers, GanKd, Labels, PatchGan, PatchGanConfig};
    pub use crate::models::{Arch, Net, Staged};
    pub use crate::models::import::Import;
    pub use crate::models::swin::SwinSpec;
    pub use crate::methods::mksmt::{Distill, Mksmt, MksmtConfig, Scheme, Step2};
    pub use crate::data::Loader;
    pub use crate::plot::Figure;
    pub use crate::profile::Profile;
    pub use crate::device::DeviceExt;
    pub use crate::methods::{Fit, JobBuilder, RunBuilder};
    pub use crate::models::trainable_params;
    pub use crate::plot::{bars, curves, heatmap_grid, image_grid, lines, Bar, Normalise, Series};
    pub use crate::table::Table;
    pub use crate::stats::Paired;
    pub use crate::notebook::Panel;
    pub use crate::train::{compare, CancelToken, Comparison, Job, Optimizer, Run, RunRecord, Schedule, Sweep, TrainConfig};
}
