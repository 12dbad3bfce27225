//! What every feature-distillation method shares: the stage pairs it matches, the training-only
//! head on the student's side (1×1 align conv and, for MGD, the generation block) and the student
//! optimised together with its heads.
use crate::error::{Error, Result};
use crate::models::blocks::conv;
use crate::models::Net;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Which stage of the student is matched to which stage of the teacher. Negative indices count
/// from the end (−1 = last stage).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagePair {
    /// Student stage index.
    pub student: isize,
    /// Teacher stage index.
    pub teacher: isize,
}

/// Align + generation layers for one matched stage (training only).
#[derive(Module, Debug)]
pub struct FeatureHead {
    /// 1×1 conv from student to teacher channels, when they differ.
    pub align: Option<Conv2d>,
    /// Generation block (MGD only), first Conv3×3 (followed by ReLU).
    pub generate_a: Option<Conv2d>,
    /// Generation block, second Conv3×3.
    pub generate_b: Option<Conv2d>,
}

impl FeatureHead {
    /// A head from `c_s` student channels to `c_t` teacher channels.
    pub fn new(c_s: usize, c_t: usize, generation: bool, device: &Device) -> FeatureHead {
        FeatureHead {
            align: (c_s != c_t).then(|| conv(c_s, c_t, 1, 1, true, device)),
            generate_a: generation.then(|| conv(c_t, c_t, 3, 1, true, device)),
            generate_b: generation.then(|| conv(c_t, c_t, 3, 1, true, device)),
        }
    }
    /// f_align(S).
    pub fn align(&self, s: Tensor<4>) -> Tensor<4> {
        match &self.align {
            Some(a) => a.forward(s),
            None => s,
        }
    }
    /// G(x) (identity without a generation block).
    pub fn generate(&self, x: Tensor<4>) -> Tensor<4> {
        match (&self.generate_a, &self.generate_b) {
            (Some(a), Some(b)) => b.forward(relu(a.forward(x))),
            _ => x,
        }
    }
}

/// Student plus its training-only heads, optimised together.
#[derive(Module, Debug)]
pub struct StudentWithHeads {
    /// The student network.
    pub net: Net,
    /// One head per matched stage.
    pub heads: Vec<FeatureHead>,
}

pub fn stage_index(i: isize, len: usize, side: &str) -> Result<usize> {
    let idx = if i < 0 { len as isize + i } else { i };
    if idx < 0 || idx as usize >= len {
        return Err(Error::invalid(format!("stages.{side}"), i, format!("the {side} has {len} stages")));
    }
    Ok(idx as usize)
}

/// Resolves stage pairs and checks that each pair's spatial sizes agree (channels are aligned by
/// the 1×1 conv; spatial sizes cannot be).
pub fn resolve_stages(pairs: &[StagePair], student: &[[usize; 4]], teacher: &[[usize; 4]]) -> Result<Vec<(usize, usize)>> {
    pairs
        .iter()
        .map(|p| {
            let s = stage_index(p.student, student.len(), "student")?;
            let t = stage_index(p.teacher, teacher.len(), "teacher")?;
            let (ss, ts) = (student[s], teacher[t]);
            if ss[2..] != ts[2..] {
                return Err(Error::invalid(
                    "stages",
                    format!("student {s} / teacher {t}"),
                    format!("student stage is {}×{}, teacher stage is {}×{}: spatial sizes must match (pick other stages)", ss[2], ss[3], ts[2], ts[3]),
                ));
            }
            Ok((s, t))
        })
        .collect()
}

