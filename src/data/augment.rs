//! Classic host-side augmentations on normalised CHW f32 images: pad-and-crop, horizontal flip,
//! Cutout (DeVries & Taylor 2017), and the batch-level Mixup (Zhang et al. 2018) and CutMix
//! (Yun et al. 2019), which also return the mixed soft labels.
use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// Batch-level mixing.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Mix {
    /// x = λ·x_a + (1−λ)·x_b, λ ~ Beta(α, α), on every batch; target mixed the same way
    /// (Zhang et al. 2018, official `train.py` `mixup_data`).
    Mixup { alpha: f64 },
    /// With probability `prob` a batch is mixed: λ ~ Beta(α, α), a box of area ≈ (1−λ) pasted
    /// from a permuted batch, the target mixed by the box's actual area. The official recipe
    /// (clovaai `train.py`: `if args.beta > 0 and r < args.cutmix_prob`, one `rand_bbox` for the
    /// whole batch; CIFAR: β = 1, `cutmix_prob` 0.5) is [`Mix::cutmix`]; `per_image` draws a box
    /// per image instead (one λ per batch still), our earlier variant.
    CutMix {
        alpha: f64,
        /// Probability that a batch is mixed at all (official CIFAR recipe: 0.5).
        #[serde(default = "always")]
        prob: f64,
        /// One box per image instead of one per batch.
        #[serde(default = "per_image_default")]
        per_image: bool,
    },
}

fn always() -> f64 {
    1.0
}

// records written before `per_image` existed drew a box per image
fn per_image_default() -> bool {
    true
}

impl Mix {
    /// CutMix as its official CIFAR recipe runs it: β = 1, half of the batches mixed, one box
    /// per batch.
    pub fn cutmix() -> Mix {
        Mix::CutMix { alpha: 1.0, prob: 0.5, per_image: false }
    }
    /// Mixup as its official CIFAR recipe runs it: α = 1, every batch.
    pub fn mixup() -> Mix {
        Mix::Mixup { alpha: 1.0 }
    }
}

/// Which augmentations a training loader applies (evaluation uses none).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// Zero-pad by this many pixels, then crop back at a random offset (0 = off).
    pub crop_pad: usize,
    /// Random horizontal flip with probability ½.
    pub flip: bool,
    /// Cutout square side in pixels (0 = off); the centre is uniform, the square clipped.
    pub cutout: usize,
    /// Mixup / CutMix.
    pub mix: Option<Mix>,
}

impl Augment {
    /// No augmentation.
    pub fn none() -> Augment {
        Augment::default()
    }
    /// Pad-4 crop, plus flip when the dataset allows it (the CIFAR recipe).
    pub fn standard(flippable: bool) -> Augment {
        Augment { crop_pad: 4, flip: flippable, ..Augment::default() }
    }
    /// Adds Cutout with the given side.
    pub fn with_cutout(mut self, side: usize) -> Augment {
        self.cutout = side;
        self
    }
    /// Adds Mixup or CutMix.
    pub fn with_mix(mut self, mix: Mix) -> Augment {
        self.mix = Some(mix);
        self
    }

    /// Checks the Mixup/CutMix α (Beta(α, α) needs α > 0).
    pub fn validate(&self) -> crate::Result<()> {
        match self.mix {
            Some(Mix::Mixup { alpha }) => crate::error::ensure(alpha > 0.0 && alpha.is_finite(), "augment.mix.alpha", alpha, "Beta(α, α) needs α > 0"),
            Some(Mix::CutMix { alpha, prob, .. }) => {
                crate::error::ensure(alpha > 0.0 && alpha.is_finite(), "augment.mix.alpha", alpha, "Beta(α, α) needs α > 0")?;
                crate::error::ensure((0.0..=1.0).contains(&prob), "augment.mix.prob", prob, "a probability in [0, 1]")
            }
            None => Ok(()),
        }
    }

    /// Applies the per-sample augmentations to one CHW image in place.
    pub fn apply_sample(&self, img: &mut [f32], shape: [usize; 3], rng: &mut Rng) {
        if self.crop_pad > 0 {
            pad_crop(img, shape, self.crop_pad, rng);
        }
        if self.flip && rng.uniform() < 0.5 {
            hflip(img, shape);
        }
        if self.cutout > 0 {
            cutout(img, shape, self.cutout, rng);
        }
    }
}

/// Zero-padded random translation by up to `pad` pixels (pad-and-crop).
pub fn pad_crop(img: &mut [f32], [c, h, w]: [usize; 3], pad: usize, rng: &mut Rng) {
    let dy = rng.below(2 * pad + 1) as isize - pad as isize;
    let dx = rng.below(2 * pad + 1) as isize - pad as isize;
    let src = img.to_vec();
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                let (sy, sx) = (y as isize + dy, x as isize + dx);
                let inside = sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize;
                img[ch * h * w + y * w + x] = if inside { src[ch * h * w + sy as usize * w + sx as usize] } else { 0.0 };
            }
        }
    }
}

/// Mirrors every row.
pub fn hflip(img: &mut [f32], [c, h, w]: [usize; 3]) {
    for row in img.chunks_exact_mut(w).take(c * h) {
        row.reverse();
    }
}

/// A `side×side` hole (zeros) with a uniform centre, clipped to the image (Eq. 1–3 of the
/// GAN-KD augmentation paper; DeVries & Taylor's Cutout).
pub fn cutout(img: &mut [f32], [c, h, w]: [usize; 3], side: usize, rng: &mut Rng) {
    let (y0, y1, x0, x1) = random_box(h, w, side, side, rng);
    fill_box(img, [c, h, w], (y0, y1, x0, x1), |_, _| 0.0);
}

/// A box of `bh×bw` with a uniform centre, clipped: `(y0, y1, x0, x1)`, end-exclusive.
pub fn random_box(h: usize, w: usize, bh: usize, bw: usize, rng: &mut Rng) -> (usize, usize, usize, usize) {
    let cy = rng.below(h) as isize;
    let cx = rng.below(w) as isize;
    let clip = |v: isize, hi: usize| v.clamp(0, hi as isize) as usize;
    (
        clip(cy - bh as isize / 2, h),
        clip(cy + (bh as isize - bh as isize / 2), h),
        clip(cx - bw as isize / 2, w),
        clip(cx + (bw as isize - bw as isize / 2), w),
    )
}

/// Sets every pixel of a box to `value(channel, flat_index)`.
pub fn fill_box(img: &mut [f32], [c, h, w]: [usize; 3], (y0, y1, x0, x1): (usize, usize, usize, usize), value: impl Fn(usize, usize) -> f32) {
    for ch in 0..c {
        for y in y0..y1 {
            for x in x0..x1 {
                let i = ch * h * w + y * w + x;
                img[i] = value(ch, i);
            }
        }
    }
}

/// Mixes a batch in place (images `[n, C, H, W]` flattened) and returns its soft targets
/// `[n, classes]`, or `None` when CutMix's coin leaves the batch as it is (hard labels).
pub fn mix_batch(mix: Mix, images: &mut [f32], shape: [usize; 3], labels: &[usize], classes: usize, rng: &mut Rng) -> Option<Vec<f32>> {
    let (alpha, cut) = match mix {
        Mix::Mixup { alpha } => (alpha, None),
        Mix::CutMix { alpha, prob, per_image } => {
            // official order: the coin first, then λ and the permutation
            if rng.uniform() >= prob {
                return None;
            }
            (alpha, Some(per_image))
        }
    };
    let n = labels.len();
    let per = shape.iter().product::<usize>();
    // α > 0 is checked by `Augment::validate` before any loader runs; a bad α mixes nothing
    let lam = rng.beta(alpha, alpha).unwrap_or(1.0);
    let mut perm: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut perm);
    let src = images.to_vec();
    let [_, h, w] = shape;
    let r = (1.0 - lam).sqrt();
    let draw_box = |rng: &mut Rng| random_box(h, w, (h as f64 * r) as usize, (w as f64 * r) as usize, rng);
    let batch_box = (cut == Some(false)).then(|| draw_box(rng));
    let mut targets = vec![0f32; n * classes];
    for i in 0..n {
        let j = perm[i];
        let (dst, other) = (&mut images[i * per..(i + 1) * per], &src[j * per..(j + 1) * per]);
        let kept = match cut {
            Some(_) => {
                let b = batch_box.unwrap_or_else(|| draw_box(rng));
                fill_box(dst, shape, b, |_, k| other[k]);
                1.0 - ((b.1 - b.0) * (b.3 - b.2)) as f64 / (h * w) as f64
            }
            None => {
                for (d, o) in dst.iter_mut().zip(other) {
                    *d = lam as f32 * *d + (1.0 - lam as f32) * o;
                }
                lam
            }
        };
        targets[i * classes + labels[i]] += kept as f32;
        targets[i * classes + labels[j]] += (1.0 - kept) as f32;
    }
    Some(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(shape: [usize; 3]) -> Vec<f32> {
        (0..shape.iter().product::<usize>()).map(|i| i as f32 + 1.0).collect()
    }

    #[test]
    fn flip_twice_is_identity() {
        let s = [2, 3, 4];
        let mut img = ramp(s);
        hflip(&mut img, s);
        assert_eq!(&img[..4], &[4.0, 3.0, 2.0, 1.0]);
        hflip(&mut img, s);
        assert_eq!(img, ramp(s));
    }

    #[test]
    fn cutout_zeroes_at_most_a_square() {
        let s = [1, 8, 8];
        let mut rng = Rng::new(3);
        for _ in 0..50 {
            let mut img = ramp(s);
            cutout(&mut img, s, 4, &mut rng);
            let zeros = img.iter().filter(|v| **v == 0.0).count();
            assert!((1..=16).contains(&zeros), "{zeros}");
        }
    }

    #[test]
    fn pad_crop_keeps_a_shifted_copy() {
        let s = [1, 6, 6];
        let mut rng = Rng::new(5);
        let mut img = ramp(s);
        pad_crop(&mut img, s, 2, &mut rng);
        let kept = img.iter().filter(|v| **v != 0.0).count();
        assert!(kept >= 16, "a shift of at most 2 keeps at least a 4×4 block, kept {kept}");
    }

    #[test]
    fn mixed_targets_sum_to_one_and_match_pixels() {
        let s = [1, 4, 4];
        let mut rng = Rng::new(9);
        for mix in [Mix::mixup(), Mix::CutMix { alpha: 1.0, prob: 1.0, per_image: true }, Mix::CutMix { alpha: 1.0, prob: 1.0, per_image: false }] {
            let n = 6;
            let mut imgs: Vec<f32> = (0..n).flat_map(|i| vec![i as f32; 16]).collect();
            let labels: Vec<usize> = (0..n).collect();
            let t = mix_batch(mix, &mut imgs, s, &labels, n, &mut rng).expect("prob 1 mixes every batch");
            for i in 0..n {
                let row = &t[i * n..(i + 1) * n];
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
                // image i's mean equals Σ_k target_k · k (each source image is constant k)
                let mean: f32 = imgs[i * 16..(i + 1) * 16].iter().sum::<f32>() / 16.0;
                let expect: f32 = row.iter().enumerate().map(|(k, w)| k as f32 * w).sum();
                assert!((mean - expect).abs() < 1e-4, "{mix:?}: {mean} vs {expect}");
            }
        }
    }

    /// Pins the official CutMix (clovaai `train.py`): one box for the whole batch, so every
    /// mixed image keeps the same share of itself, and half of the batches left unmixed.
    #[test]
    fn official_cutmix_pastes_one_box_per_batch_on_half_the_batches() {
        let (s, n) = ([1, 8, 8], 8);
        let mut rng = Rng::new(21);
        let (mut mixed, mut shares) = (0, Vec::new());
        for _ in 0..400 {
            let mut imgs: Vec<f32> = (0..n).flat_map(|i| vec![i as f32; 64]).collect();
            let labels: Vec<usize> = (0..n).collect();
            let Some(t) = mix_batch(Mix::cutmix(), &mut imgs, s, &labels, n, &mut rng) else {
                assert_eq!(imgs, (0..n).flat_map(|i| vec![i as f32; 64]).collect::<Vec<_>>(), "an unmixed batch is untouched");
                continue;
            };
            mixed += 1;
            let kept: Vec<f32> = (0..n).map(|i| t[i * n + i]).collect();
            // an image paired with itself keeps everything; every other image keeps the batch's share
            let share = kept.iter().copied().filter(|&k| k < 1.0).fold(None, |acc: Option<f32>, k| {
                if let Some(a) = acc {
                    assert!((a - k).abs() < 1e-6, "one box per batch: every image keeps the same share, got {kept:?}");
                }
                Some(k)
            });
            shares.extend(share);
        }
        assert!((160..=240).contains(&mixed), "cutmix_prob 0.5: {mixed} of 400 batches mixed");
        assert!(shares.windows(2).any(|w| w[0] != w[1]), "λ is drawn anew per batch");
    }
}
