//! GAN-based knowledge-distillation data augmentation (Computer Engineering 2022; notes in
//! `docs/gan-kd.md`): region dropping whose hole is filled by a GAN-generated patch
//! ([`PatchGan`]), and labels for the dropped samples from cross-validated teachers
//! ([`FoldTeachers`]) fused with label smoothing; the student ([`GanKd`]) learns from both.
//!
//! - [`holes`]: Eq. 1–3, the dropped square (uniform centre, clipped) and its fills;
//! - [`networks`]: the generator (conv encoder to 1/16, upsample+conv decoder to a 1/4-side
//!   patch) and the discriminator (3 convs with BN after the activation, dense, sigmoid);
//! - [`gan`]: two updates per batch (D then G, Adam each), L1 reconstruction term optional;
//! - [`teachers`]: k stratified folds, teacher i labels fold i only, ỹ = β·q + (1−β)·LS(y);
//! - [`student`]: the student on the dropped samples, every fill × label combination.
pub mod gan;
pub mod holes;
pub mod networks;
pub mod student;
pub mod teachers;

pub use gan::{PatchGan, PatchGanBuilder, PatchGanConfig, PatchGanRun};
pub use holes::Hole;
pub use networks::{PatchDiscriminator, PatchGenerator};
pub use student::{Fill, GanKd, GanKdBuilder, GanKdConfig, GanKdMethod, Labels};
pub use teachers::{fuse_labels, FoldTeachers};
