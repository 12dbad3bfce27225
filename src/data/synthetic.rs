//! The embedded default dataset: seeded, generated 32×32 RGB images of ten coloured shapes with
//! jittered position, size, colours and pixel noise. Always available, so `cargo run` works on a
//! machine with no data; hard enough that a small model does not reach 100% in one epoch.
use crate::rng::Rng;

/// Class names, in label order.
pub const SHAPES: [&str; 10] =
    ["circle", "square", "triangle", "plus", "ring", "diamond", "x-cross", "h-stripes", "v-stripes", "frame"];

const SIZE: usize = 32;

fn inside(class: usize, dx: f64, dy: f64, r: f64) -> bool {
    let (ax, ay) = (dx.abs(), dy.abs());
    let t = r * 0.3;
    match class {
        0 => dx * dx + dy * dy <= r * r,
        1 => ax <= r * 0.8 && ay <= r * 0.8,
        2 => dy <= r * 0.7 && dy >= -r * 0.9 + 1.6 * ax,
        3 => (ax <= t && ay <= r) || (ay <= t && ax <= r),
        4 => { let d = (dx * dx + dy * dy).sqrt(); d <= r && d >= r * 0.6 }
        5 => ax + ay <= r,
        6 => ((dx - dy).abs() <= t * 1.2 || (dx + dy).abs() <= t * 1.2) && ax <= r * 0.8 && ay <= r * 0.8,
        7 => ax <= r && ay <= r && ((dy + r) / (r * 0.5)).floor() as i64 % 2 == 0,
        8 => ax <= r && ay <= r && ((dx + r) / (r * 0.5)).floor() as i64 % 2 == 0,
        _ => ax <= r * 0.85 && ay <= r * 0.85 && (ax >= r * 0.5 || ay >= r * 0.5),
    }
}

fn colour(rng: &mut Rng) -> [f64; 3] {
    [rng.uniform(), rng.uniform(), rng.uniform()]
}

/// Renders one image of `class` (CHW u8).
pub fn render(class: usize, rng: &mut Rng) -> Vec<u8> {
    let bg = colour(rng);
    let mut fg = colour(rng);
    // a contrast that is sometimes low, strong pixel noise, small to large shapes placed anywhere:
    // easy for a wide network, not for a narrow one
    while (0..3).map(|c| (fg[c] - bg[c]).abs()).sum::<f64>() < 0.45 {
        fg = colour(rng);
    }
    let r = 5.5 + rng.uniform() * 7.0;
    let cx = SIZE as f64 / 2.0 + (rng.uniform() - 0.5) * 12.0;
    let cy = SIZE as f64 / 2.0 + (rng.uniform() - 0.5) * 12.0;
    let noise = 0.08 + rng.uniform() * 0.15;
    let mut img = vec![0u8; 3 * SIZE * SIZE];
    for y in 0..SIZE {
        for x in 0..SIZE {
            let on = inside(class, x as f64 + 0.5 - cx, y as f64 + 0.5 - cy, r);
            for c in 0..3 {
                let v = if on { fg[c] } else { bg[c] } + noise * rng.normal();
                img[c * SIZE * SIZE + y * SIZE + x] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
    }
    img
}

/// Generates `per_class` images of every class, interleaved by class, from `seed`.
pub fn generate(per_class: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng::new(seed);
    let mut images = Vec::with_capacity(per_class * 10 * 3 * SIZE * SIZE);
    let mut labels = Vec::with_capacity(per_class * 10);
    for _ in 0..per_class {
        for class in 0..SHAPES.len() {
            images.extend(render(class, &mut rng));
            labels.push(class as u8);
        }
    }
    (images, labels)
}
