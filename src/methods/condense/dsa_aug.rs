//! Differentiable siamese augmentation (Zhao & Bilen, ICML 2021; official
//! `DatasetCondensation/utils.py::DiffAugment` and `ParamDiffAug`).
//!
//! One family is picked per call from the strategy string; its parameters ω are either one draw
//! shared by every image (siamese: the same ω for a real and a synthetic batch, official
//! `param.Siamese`, "every parameter tensor set to its element 0") or one draw per image
//! (evaluation training, official `seed = -1`). Every family is made of tensor ops that autodiff
//! differentiates with respect to the images: arithmetic for colour, a mask for cutout, a blend
//! for flip, and `affine_grid` + bilinear `grid_sample` (align_corners = true, zero padding, as
//! the official `F.affine_grid(..., align_corners=True)`) for scale, rotate and crop.
use crate::error::{Error, Result};
use crate::rng::Rng;
use burn::tensor::grid::affine_grid_2d;
use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode};
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Scale ratio: sx, sy ∈ [1/1.2, 1.2] (official `ratio_scale`).
pub const SCALE: f32 = 1.2;
/// Rotation range ±15° (official `ratio_rotate`).
pub const ROTATE_DEG: f32 = 15.0;
/// Translation as a fraction of the side, zero padded (official `ratio_crop_pad`).
pub const CROP: f32 = 0.125;
/// Cutout hole side as a fraction of the image side (official `ratio_cutout`).
pub const CUTOUT: f32 = 0.5;
/// Brightness: x + (u − 0.5)·1.0.
pub const BRIGHTNESS: f32 = 1.0;
/// Saturation: (x − mean_c)·(u·2) + mean_c.
pub const SATURATION: f32 = 2.0;
/// Contrast: (x − mean)·(u + 0.5) + mean.
pub const CONTRAST: f32 = 0.5;
/// Probability of a horizontal flip.
pub const FLIP: f32 = 0.5;

/// One augmentation family of the strategy string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Family {
    /// Brightness, then saturation, then contrast.
    Color,
    /// Translation by up to 1/8 of the side with zero padding.
    Crop,
    /// A zeroed square of half the side.
    Cutout,
    /// Horizontal flip with probability ½.
    Flip,
    /// Independent x/y scaling.
    Scale,
    /// Rotation by up to ±15°.
    Rotate,
}

impl Family {
    /// The token of the official strategy string.
    pub fn token(&self) -> &'static str {
        match self {
            Family::Color => "color",
            Family::Crop => "crop",
            Family::Cutout => "cutout",
            Family::Flip => "flip",
            Family::Scale => "scale",
            Family::Rotate => "rotate",
        }
    }
    /// Every family, in the official order.
    pub const ALL: [Family; 6] = [Family::Color, Family::Crop, Family::Cutout, Family::Flip, Family::Scale, Family::Rotate];
}

/// A set of families, parsed from an official strategy string such as
/// `color_crop_cutout_flip_scale_rotate` (`none` or an empty string = no augmentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Strategy {
    /// The families one is picked from at each call.
    pub families: Vec<Family>,
}

impl Strategy {
    /// Parses the `_`-separated tokens; an unknown token is an error that names it.
    pub fn parse(s: &str) -> Result<Strategy> {
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("none") {
            return Ok(Strategy { families: Vec::new() });
        }
        let mut families = Vec::new();
        for token in s.split('_') {
            let family = Family::ALL
                .into_iter()
                .find(|f| f.token().eq_ignore_ascii_case(token))
                .ok_or_else(|| Error::invalid("strategy", token, "unknown token; expected color, crop, cutout, flip, scale or rotate"))?;
            if !families.contains(&family) {
                families.push(family);
            }
        }
        Ok(Strategy { families })
    }

    /// The paper's strategy for a dataset: with flip when flipping keeps the label (CIFAR,
    /// Fashion-MNIST), without it otherwise (MNIST, SVHN).
    pub fn for_data(flippable: bool) -> Strategy {
        let s = if flippable { "color_crop_cutout_flip_scale_rotate" } else { "color_crop_cutout_scale_rotate" };
        Strategy::parse(s).expect("the official strategies parse")
    }

    /// No augmentation.
    pub fn none() -> Strategy {
        Strategy { families: Vec::new() }
    }

    /// Whether no family is present.
    pub fn is_none(&self) -> bool {
        self.families.is_empty()
    }

    /// A warning when the strategy flips images of a dataset whose labels do not survive a flip.
    pub fn warning_for(&self, dataset: &str, flippable: bool) -> Option<String> {
        (!flippable && self.families.contains(&Family::Flip)).then(|| {
            format!("strategy `{self}` flips images, but {dataset} is marked non-flippable (digits change meaning); the paper drops `flip` there")
        })
    }

    /// Picks one family and draws its parameters: `per_image` = `None` for one siamese draw shared
    /// by every image, `Some(n)` for one draw per image of an `n`-image batch.
    pub fn draw(&self, per_image: Option<usize>, [_, h, w]: [usize; 3], rng: &mut Rng) -> Option<Draw> {
        if self.families.is_empty() {
            return None;
        }
        let family = self.families[rng.below(self.families.len())];
        Some(Draw::sample(family, per_image.unwrap_or(1), [h, w], rng))
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.families.is_empty() {
            return f.write_str("none");
        }
        let tokens: Vec<&str> = self.families.iter().map(Family::token).collect();
        f.write_str(&tokens.join("_"))
    }
}

impl std::str::FromStr for Strategy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Strategy> {
        Strategy::parse(s)
    }
}

/// Parameters of one family: vectors of length 1 (siamese, broadcast to the batch) or of the
/// batch size (per image).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Params {
    /// Uniform draws u ∈ [0, 1) for brightness, saturation and contrast (0.5 each = identity).
    Color { brightness: Vec<f32>, saturation: Vec<f32>, contrast: Vec<f32> },
    /// Integer shifts in pixels along H (`dy`) and W (`dx`).
    Crop { dy: Vec<i32>, dx: Vec<i32> },
    /// Hole centres (row, column) and the hole size (0 = no hole).
    Cutout { cy: Vec<i32>, cx: Vec<i32>, size: [usize; 2] },
    /// Whether each image is flipped.
    Flip { flip: Vec<bool> },
    /// Scale factors along x and y.
    Scale { sx: Vec<f32>, sy: Vec<f32> },
    /// Angles in radians.
    Rotate { theta: Vec<f32> },
}

/// One draw ω of one family.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Draw {
    /// The family picked.
    pub family: Family,
    /// Its parameters.
    pub params: Params,
}

impl Draw {
    /// Draws `n` parameter sets of `family` for `[h, w]` images with the official ranges.
    pub fn sample(family: Family, n: usize, [h, w]: [usize; 2], rng: &mut Rng) -> Draw {
        let mut u = || (0..n).map(|_| rng.uniform() as f32).collect::<Vec<f32>>();
        let params = match family {
            Family::Color => Params::Color { brightness: u(), saturation: u(), contrast: u() },
            Family::Scale => {
                let lo = 1.0 / SCALE;
                Params::Scale { sx: u().iter().map(|v| v * (SCALE - lo) + lo).collect(), sy: u().iter().map(|v| v * (SCALE - lo) + lo).collect() }
            }
            Family::Rotate => Params::Rotate { theta: u().iter().map(|v| (v - 0.5) * 2.0 * ROTATE_DEG.to_radians()).collect() },
            Family::Flip => Params::Flip { flip: u().iter().map(|v| *v < FLIP).collect() },
            Family::Crop => {
                // official: shift = int(side·ratio + 0.5), t ∈ randint(−shift, shift + 1)
                let (sh, sw) = (side_fraction(h, CROP) as i32, side_fraction(w, CROP) as i32);
                let dy = (0..n).map(|_| rng.below((2 * sh + 1) as usize) as i32 - sh).collect();
                let dx = (0..n).map(|_| rng.below((2 * sw + 1) as usize) as i32 - sw).collect();
                Params::Crop { dy, dx }
            }
            Family::Cutout => {
                // official: offset ∈ randint(0, side + (1 − size % 2)), hole = offset − size//2 + [0, size)
                let size = [side_fraction(h, CUTOUT), side_fraction(w, CUTOUT)];
                let cy = (0..n).map(|_| rng.below(h + 1 - size[0] % 2) as i32).collect();
                let cx = (0..n).map(|_| rng.below(w + 1 - size[1] % 2) as i32).collect();
                Params::Cutout { cy, cx, size }
            }
        };
        Draw { family, params }
    }

    /// The zero-strength draw of a family (the identity map).
    pub fn identity(family: Family) -> Draw {
        let params = match family {
            Family::Color => Params::Color { brightness: vec![0.5], saturation: vec![0.5], contrast: vec![0.5] },
            Family::Crop => Params::Crop { dy: vec![0], dx: vec![0] },
            Family::Cutout => Params::Cutout { cy: vec![0], cx: vec![0], size: [0, 0] },
            Family::Flip => Params::Flip { flip: vec![false] },
            Family::Scale => Params::Scale { sx: vec![1.0], sy: vec![1.0] },
            Family::Rotate => Params::Rotate { theta: vec![0.0] },
        };
        Draw { family, params }
    }

    /// Applies the transformation to `[N, C, H, W]` images (differentiable w.r.t. `x`).
    pub fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        let device = x.device();
        let column = |v: &[f32]| Tensor::<4>::from_data(TensorData::new(v.to_vec(), [v.len(), 1, 1, 1]), &device);
        match &self.params {
            Params::Color { brightness, saturation, contrast } => {
                let x = x + column(brightness).sub_scalar(0.5).mul_scalar(BRIGHTNESS);
                let mean_c = x.clone().mean_dim(1);
                let x = (x - mean_c.clone()) * column(saturation).mul_scalar(SATURATION) + mean_c;
                let mean = x.clone().mean_dim(1).mean_dim(2).mean_dim(3);
                (x - mean.clone()) * column(contrast).add_scalar(CONTRAST) + mean
            }
            Params::Flip { flip } => {
                let m: Vec<f32> = flip.iter().map(|&f| f as u8 as f32).collect();
                let m = column(&m);
                x.clone().flip([3]) * m.clone() + x * m.neg().add_scalar(1.0)
            }
            Params::Cutout { cy, cx, size } => {
                let mask = cutout_mask(cy, cx, *size, [h, w]);
                let len = cy.len();
                x * Tensor::<4>::from_data(TensorData::new(mask, [len, 1, h, w]), &device)
            }
            Params::Scale { sx, sy } => {
                let theta = sx.iter().zip(sy).flat_map(|(&a, &b)| [a, 0.0, 0.0, 0.0, b, 0.0]).collect();
                warp(x, theta, [n, c, h, w])
            }
            Params::Rotate { theta } => {
                // official: [[cos θ, sin(−θ), 0], [sin θ, cos θ, 0]]
                let t = theta.iter().flat_map(|&t| [t.cos(), -t.sin(), 0.0, t.sin(), t.cos(), 0.0]).collect();
                warp(x, t, [n, c, h, w])
            }
            Params::Crop { dy, dx } => {
                // out(i, j) = in(i + dy, j + dx), zero outside: a translation by whole pixels, so
                // bilinear sampling lands on pixel centres and is an exact gather.
                let t = dy
                    .iter()
                    .zip(dx)
                    .flat_map(|(&ty, &tx)| [1.0, 0.0, 2.0 * tx as f32 / (w - 1) as f32, 0.0, 1.0, 2.0 * ty as f32 / (h - 1) as f32])
                    .collect();
                warp(x, t, [n, c, h, w])
            }
        }
    }
}

/// `int(side · ratio + 0.5)`, the official rounding.
fn side_fraction(side: usize, ratio: f32) -> usize {
    (side as f32 * ratio + 0.5) as usize
}

/// 1 everywhere except a `size` hole centred at (cy, cx), clipped at the borders.
fn cutout_mask(cy: &[i32], cx: &[i32], size: [usize; 2], [h, w]: [usize; 2]) -> Vec<f32> {
    let mut mask = vec![1.0f32; cy.len() * h * w];
    if size[0] == 0 || size[1] == 0 {
        return mask;
    }
    for (i, (&y, &x)) in cy.iter().zip(cx).enumerate() {
        let y0 = (y - (size[0] / 2) as i32).max(0) as usize;
        let x0 = (x - (size[1] / 2) as i32).max(0) as usize;
        let y1 = ((y - (size[0] / 2) as i32 + size[0] as i32 - 1).min(h as i32 - 1)) as usize;
        let x1 = ((x - (size[1] / 2) as i32 + size[1] as i32 - 1).min(w as i32 - 1)) as usize;
        for r in y0..=y1 {
            mask[i * h * w + r * w + x0..=i * h * w + r * w + x1].fill(0.0);
        }
    }
    mask
}

/// Resamples `x` through the affine maps `theta` (6 numbers per map; one map broadcast to the
/// batch or one per image).
fn warp(x: Tensor<4>, theta: Vec<f32>, dims: [usize; 4]) -> Tensor<4> {
    let maps = theta.len() / 6;
    let theta = Tensor::<3>::from_data(TensorData::new(theta, [maps, 2, 3]), &x.device());
    let theta = if maps == dims[0] { theta } else { theta.expand([dims[0], 2, 3]) };
    let grid = affine_grid_2d(theta, dims);
    let options = GridSampleOptions::new(InterpolateMode::Bilinear).with_padding_mode(GridSamplePaddingMode::Zeros).with_align_corners(true);
    x.grid_sample_2d(grid, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_parses_and_rejects_unknown_tokens() {
        let s = Strategy::parse("color_crop_cutout_flip_scale_rotate").unwrap();
        assert_eq!(s.families.len(), 6);
        assert_eq!(s.to_string(), "color_crop_cutout_flip_scale_rotate");
        assert!(Strategy::parse("none").unwrap().is_none());
        let err = Strategy::parse("color_blur").unwrap_err().to_string();
        assert!(err.contains("blur"), "{err}");
        assert!(Strategy::for_data(false).warning_for("mnist", false).is_none());
        assert!(Strategy::for_data(true).warning_for("mnist", false).unwrap().contains("mnist"));
    }

    #[test]
    fn draws_stay_in_the_official_ranges() {
        let mut rng = Rng::new(3);
        for _ in 0..50 {
            match Draw::sample(Family::Scale, 4, [28, 28], &mut rng).params {
                Params::Scale { sx, sy } => assert!(sx.iter().chain(&sy).all(|&v| (1.0 / 1.2 - 1e-6..=1.2 + 1e-6).contains(&v))),
                _ => unreachable!(),
            }
            match Draw::sample(Family::Crop, 4, [32, 32], &mut rng).params {
                Params::Crop { dy, dx } => assert!(dy.iter().chain(&dx).all(|&v| (-4..=4).contains(&v))),
                _ => unreachable!(),
            }
            match Draw::sample(Family::Rotate, 4, [32, 32], &mut rng).params {
                Params::Rotate { theta } => assert!(theta.iter().all(|t| t.abs() <= 15f32.to_radians() + 1e-6)),
                _ => unreachable!(),
            }
        }
    }

    #[test]
    fn cutout_mask_zeroes_a_half_side_square() {
        let m = cutout_mask(&[16], &[16], [16, 16], [32, 32]);
        assert_eq!(m.iter().filter(|&&v| v == 0.0).count(), 256);
        // at a corner the hole is clipped
        let m = cutout_mask(&[0], &[0], [16, 16], [32, 32]);
        assert_eq!(m.iter().filter(|&&v| v == 0.0).count(), 64);
    }
}
