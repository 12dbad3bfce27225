//! Online distillation: peers trained together from scratch, no pre-trained teacher.
//! DML is here; ONE, FFL, KDCL and OKDCR (paper 2) join it.
pub mod dml;

pub use dml::Dml;
