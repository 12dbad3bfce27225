//! Run scales. One notebook serves all three: `Smoke` checks that every cell and plot works in
//! seconds, `Cpu` shows the paper's direction in minutes, `Gpu` is the paper's setting as far as
//! the data allows. Every size (epochs, subset per class, model width, batch) comes from here.
use crate::device::{Device, DeviceExt};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// How big a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Profile {
    /// Tests and CI: a few hundred images, 1–2 epochs, narrow models.
    Smoke,
    /// A real but small run on a laptop-class CPU (minutes).
    Cpu,
    /// The paper's setting on a GPU.
    Gpu,
}

impl Profile {
    /// `DISTILLERY_PROFILE` (smoke|cpu|gpu) if set, else `Gpu` on a GPU device and `Cpu` otherwise.
    /// An unknown value is an [`Error::Invalid`] naming `DISTILLERY_PROFILE` and the value.
    pub fn from_env(device: &Device) -> Result<Profile> {
        Profile::from_setting(std::env::var("DISTILLERY_PROFILE").ok().as_deref(), device)
    }

    /// The profile a `DISTILLERY_PROFILE` value asks for (`None` or empty: the device default).
    pub fn from_setting(value: Option<&str>, device: &Device) -> Result<Profile> {
        match value {
            Some(v) if !v.trim().is_empty() => Profile::parse(v).map_err(|_| Error::invalid("DISTILLERY_PROFILE", v, "expected smoke, cpu or gpu")),
            _ => Ok(Profile::for_device(device)),
        }
    }

    /// `Gpu` on a GPU device, `Cpu` otherwise.
    pub fn for_device(device: &Device) -> Profile {
        if device.is_gpu() { Profile::Gpu } else { Profile::Cpu }
    }

    /// Parses `smoke`, `cpu` or `gpu` (any case).
    pub fn parse(s: &str) -> Result<Profile> {
        match s.trim().to_ascii_lowercase().as_str() {
            "smoke" => Ok(Profile::Smoke),
            "cpu" => Ok(Profile::Cpu),
            "gpu" => Ok(Profile::Gpu),
            _ => Err(Error::invalid("profile", s, "expected smoke, cpu or gpu")),
        }
    }

    /// Epochs for a recipe whose paper setting is `paper` epochs.
    pub fn epochs(&self, paper: usize) -> usize {
        match self {
            Profile::Smoke => paper.min(2),
            Profile::Cpu => (paper / 12).clamp(1, 12).min(paper),
            Profile::Gpu => paper,
        }
    }

    /// Training images per class (`None` = all).
    pub fn train_per_class(&self) -> Option<usize> {
        match self {
            Profile::Smoke => Some(24),
            Profile::Cpu => Some(500),
            Profile::Gpu => None,
        }
    }

    /// Test images per class (`None` = all).
    pub fn test_per_class(&self) -> Option<usize> {
        match self {
            Profile::Smoke => Some(20),
            Profile::Cpu => Some(200),
            Profile::Gpu => None,
        }
    }

    /// Model width (channels) for a paper width.
    pub fn width(&self, paper: usize) -> usize {
        match self {
            Profile::Smoke => (paper / 8).max(4),
            Profile::Cpu => (paper / 2).max(8),
            Profile::Gpu => paper,
        }
    }

    /// Batch size for a paper batch size.
    pub fn batch(&self, paper: usize) -> usize {
        match self {
            Profile::Smoke => paper.min(32),
            Profile::Cpu => paper.min(64),
            Profile::Gpu => paper,
        }
    }

    /// Lower-case name.
    pub fn name(&self) -> &'static str {
        match self {
            Profile::Smoke => "smoke",
            Profile::Cpu => "cpu",
            Profile::Gpu => "gpu",
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
