//! Accuracy on horizontally / vertically flipped test images (MKSMT §3.5: a vertical flip costs
//! the baseline ~11 points and MKSMT ~7 on CUB).
use crate::data::{Dataset, Loader};
use crate::losses;
use crate::models::{Net, Staged};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// A flip of the test images.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Flip {
    /// The images as they are.
    None,
    /// Left ↔ right.
    Horizontal,
    /// Top ↔ bottom.
    Vertical,
}

impl Flip {
    /// All three, in the order tables show them.
    pub const ALL: [Flip; 3] = [Flip::None, Flip::Horizontal, Flip::Vertical];

    /// `[N, C, H, W]` images flipped.
    pub fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Flip::None => x,
            Flip::Horizontal => x.flip([3]),
            Flip::Vertical => x.flip([2]),
        }
    }
    /// `` (none), ` h-flip`, ` v-flip`: a suffix for bar labels.
    pub fn short(&self) -> &'static str {
        match self {
            Flip::None => "",
            Flip::Horizontal => " h-flip",
            Flip::Vertical => " v-flip",
        }
    }
    /// `original`, `horizontal flip`, `vertical flip`.
    pub fn label(&self) -> &'static str {
        match self {
            Flip::None => "original",
            Flip::Horizontal => "horizontal flip",
            Flip::Vertical => "vertical flip",
        }
    }
}

/// Top-1 accuracy in [0, 1] of `net` on the test split with every image flipped by `flip`.
pub fn flip_accuracy(net: &Net, data: &Dataset, flip: Flip, device: &Device) -> f64 {
    let (mut hits, mut n) = (0usize, 0usize);
    for batch in Loader::test(data, 256).epoch(0) {
        let logits = net.forward(flip.apply(batch.images(device)));
        hits += losses::correct(logits, batch.labels(device));
        n += batch.len();
    }
    hits as f64 / n.max(1) as f64
}
