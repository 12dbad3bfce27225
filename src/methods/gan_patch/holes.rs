//! Region dropping (Eq. 1–3 of the GAN-KD augmentation paper) on host batches: a `s×s` square
//! with a uniform centre, clipped to the image, zeroed (Cutout) or filled with a patch.
use crate::rng::Rng;

/// One dropped square: rows `y0..y1`, columns `x0..x1` (end-exclusive, clipped to the image),
/// and where that clipped box starts inside the full `s×s` square (`py`, `px`), so that a
/// patch pastes the part of itself that lies on the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hole {
    /// First row.
    pub y0: usize,
    /// One past the last row.
    pub y1: usize,
    /// First column.
    pub x0: usize,
    /// One past the last column.
    pub x1: usize,
    /// Row of the patch that lands on `y0`.
    pub py: usize,
    /// Column of the patch that lands on `x0`.
    pub px: usize,
}

impl Hole {
    /// Eq. 1–3: centre (cx, cy) uniform over the `h×w` image, corners centre ∓ s/2 clipped.
    pub fn random(h: usize, w: usize, side: usize, rng: &mut Rng) -> Hole {
        let cy = rng.below(h) as isize;
        let cx = rng.below(w) as isize;
        let (sy, sx) = (cy - side as isize / 2, cx - side as isize / 2);
        let clip = |v: isize, hi: usize| v.clamp(0, hi as isize) as usize;
        let (y0, x0) = (clip(sy, h), clip(sx, w));
        Hole { y0, y1: clip(sy + side as isize, h), x0, x1: clip(sx + side as isize, w), py: (y0 as isize - sy) as usize, px: (x0 as isize - sx) as usize }
    }
    /// A full square that lies inside the image (the real patches the discriminator sees).
    pub fn inside(h: usize, w: usize, side: usize, rng: &mut Rng) -> Hole {
        let y0 = rng.below(h - side + 1);
        let x0 = rng.below(w - side + 1);
        Hole { y0, y1: y0 + side, x0, x1: x0 + side, py: 0, px: 0 }
    }
    /// [`Hole::random`] for each of `n` images, drawn in order from `rng`.
    pub fn random_batch(n: usize, h: usize, w: usize, side: usize, rng: &mut Rng) -> Vec<Hole> {
        (0..n).map(|_| Hole::random(h, w, side, rng)).collect()
    }
    /// [`Hole::inside`] for each of `n` images, drawn in order from `rng`.
    pub fn inside_batch(n: usize, h: usize, w: usize, side: usize, rng: &mut Rng) -> Vec<Hole> {
        (0..n).map(|_| Hole::inside(h, w, side, rng)).collect()
    }
    /// Pixels of the (clipped) hole per channel.
    pub fn area(&self) -> usize {
        (self.y1 - self.y0) * (self.x1 - self.x0)
    }
}

/// Sets every hole to 0 (the normalised mean pixel: Cutout's fill) and returns the images.
pub fn drop_holes(images: &[f32], [n, c, h, w]: [usize; 4], holes: &[Hole]) -> Vec<f32> {
    let mut out = images.to_vec();
    for (i, hole) in holes.iter().enumerate().take(n) {
        for_each_pixel(hole, c, |ch, y, x, _, _| out[((i * c + ch) * h + y) * w + x] = 0.0);
    }
    out
}

/// The content of full-size holes, `[n, c, s, s]` (holes from [`Hole::inside`]).
pub fn crop_holes(images: &[f32], [n, c, h, w]: [usize; 4], holes: &[Hole], side: usize) -> Vec<f32> {
    let mut out = vec![0f32; n * c * side * side];
    for (i, hole) in holes.iter().enumerate().take(n) {
        for_each_pixel(hole, c, |ch, y, x, py, px| out[((i * c + ch) * side + py) * side + px] = images[((i * c + ch) * h + y) * w + x]);
    }
    out
}

/// Pastes `patches` (`[n, c, s, s]`) into the holes: only hole pixels change.
pub fn paste_patches(images: &mut [f32], [n, c, h, w]: [usize; 4], holes: &[Hole], patches: &[f32], side: usize) {
    for (i, hole) in holes.iter().enumerate().take(n) {
        for_each_pixel(hole, c, |ch, y, x, py, px| images[((i * c + ch) * h + y) * w + x] = patches[((i * c + ch) * side + py) * side + px]);
    }
}

/// Calls `f(channel, y, x, patch_y, patch_x)` for every pixel of a hole.
fn for_each_pixel(hole: &Hole, c: usize, mut f: impl FnMut(usize, usize, usize, usize, usize)) {
    for ch in 0..c {
        for y in hole.y0..hole.y1 {
            for x in hole.x0..hole.x1 {
                f(ch, y, x, hole.py + y - hole.y0, hole.px + x - hole.x0);
            }
        }
    }
}
