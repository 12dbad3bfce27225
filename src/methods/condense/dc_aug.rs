//! The official DC code's evaluation augmentation (`utils.py::augment` with `get_daparam`): on
//! MNIST (strategy `crop_scale_rotate`) each image gets **one** of crop, scale or rotate, picked
//! uniformly per image; on every other dataset none. DC, random and herding sets are evaluated
//! with it under [`EvalProtocol::PerPaper`](super::eval::EvalProtocol).
//!
//! Our reading, built on the differentiable warps of [`super::dsa_aug`] (bilinear, zero fill):
//! - crop: pad 4 px and crop back at a random offset = a shift by −4 … +3 px (`permutation(8)[0]`);
//!   the official pads with the batch's channel mean, we with 0, the dataset mean after normalising;
//! - scale: height and width each × U(0.8, 1.2), centred, zero canvas (the official resizes with
//!   nearest-neighbour `F.interpolate`, we sample bilinearly);
//! - rotate: an integer angle in [−45, 45) degrees about the centre (`randint(-45, 45)`; the
//!   official fills with the mean, we with 0).
use super::dsa_aug::{Draw, Family, Params};
use crate::rng::Rng;
use burn::tensor::Tensor;

/// Shift range of the crop, pixels (`dc_aug_param['crop']`).
pub const CROP: i32 = 4;
/// Scale range ±0.2 (`dc_aug_param['scale']`).
pub const SCALE: f32 = 0.2;
/// Rotation range ±45° (`dc_aug_param['rotate']`).
pub const ROTATE_DEG: i32 = 45;

/// Whether the official DC protocol augments evaluation on `dataset` (MNIST only).
pub fn augments(dataset: &str) -> bool {
    dataset == "mnist"
}

/// One of crop / scale / rotate per image of `x` (`[N, C, H, W]`, normalised).
pub fn augment(x: Tensor<4>, rng: &mut Rng) -> Tensor<4> {
    let n = x.dims()[0];
    let choice: Vec<usize> = (0..n).map(|_| rng.below(3)).collect();
    let mut dy = vec![0; n];
    let mut dx = vec![0; n];
    let mut sx = vec![1.0; n];
    let mut sy = vec![1.0; n];
    let mut theta = vec![0.0; n];
    for (i, &c) in choice.iter().enumerate() {
        match c {
            0 => {
                dy[i] = rng.below(2 * CROP as usize) as i32 - CROP;
                dx[i] = rng.below(2 * CROP as usize) as i32 - CROP;
            }
            1 => {
                // an image enlarged by f is sampled at 1/f
                sy[i] = 1.0 / (1.0 - SCALE + 2.0 * SCALE * rng.uniform() as f32);
                sx[i] = 1.0 / (1.0 - SCALE + 2.0 * SCALE * rng.uniform() as f32);
            }
            _ => theta[i] = ((rng.below(2 * ROTATE_DEG as usize) as i32 - ROTATE_DEG) as f32).to_radians(),
        }
    }
    let mut x = x;
    for (family, used, params) in [
        (Family::Crop, choice.contains(&0), Params::Crop { dy, dx }),
        (Family::Scale, choice.contains(&1), Params::Scale { sx, sy }),
        (Family::Rotate, choice.contains(&2), Params::Rotate { theta }),
    ] {
        // the other images of the batch get this family's identity (shift 0, scale 1, angle 0)
        if used {
            x = Draw { family, params }.apply(x);
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceExt;
    use burn::tensor::{Distribution, TensorData};

    #[test]
    fn each_image_gets_one_transformation_and_identities_leave_the_rest_unchanged() {
        let device = burn::tensor::Device::cpu_default();
        let x = Tensor::<4>::random([64, 1, 12, 12], Distribution::Normal(0.0, 1.0), &device);
        let y = augment(x.clone(), &mut Rng::new(3));
        let (a, b): (Vec<f32>, Vec<f32>) = (x.into_data().try_to_vec::<f32>().unwrap(), y.into_data().try_to_vec::<f32>().unwrap());
        let changed = a.chunks(144).zip(b.chunks(144)).filter(|(p, q)| p.iter().zip(*q).any(|(u, v)| (u - v).abs() > 1e-5)).count();
        // a draw can be the identity (shift 0/0, angle 0): most images, not all, change
        assert!(changed > 48 && changed <= 64, "{changed} of 64 images changed");
        // identities are exact: a crop by (0, 0), a scale by 1 and a rotation by 0 return the input
        let z = Tensor::<4>::from_data(TensorData::new((0..144).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 12, 12]), &device);
        for params in [Params::Crop { dy: vec![0], dx: vec![0] }, Params::Scale { sx: vec![1.0], sy: vec![1.0] }, Params::Rotate { theta: vec![0.0] }] {
            let family = match params {
                Params::Crop { .. } => Family::Crop,
                Params::Scale { .. } => Family::Scale,
                _ => Family::Rotate,
            };
            let out: Vec<f32> = Draw { family, params }.apply(z.clone()).into_data().try_to_vec::<f32>().unwrap();
            assert!(out.iter().enumerate().all(|(i, v)| (v - i as f32).abs() < 1e-3), "{family:?} identity");
        }
        assert!(augments("mnist") && !augments("fashion-mnist"));
    }
}
