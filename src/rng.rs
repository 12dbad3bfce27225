//! A small seeded generator (SplitMix64) for data order and augmentation draws: deterministic
//! across platforms and independent of the backend's own tensor RNG.

/// Seeded pseudo-random generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// A generator derived from `seed` and a stream id (e.g. the epoch).
    pub fn derive(seed: u64, stream: u64) -> Self {
        let mut r = Rng::new(seed.wrapping_add(stream.wrapping_mul(0xD1B5_4A32_D192_ED03)));
        r.next_u64();
        r
    }
    /// The generator's state (to save with a checkpoint).
    pub fn state(&self) -> u64 {
        self.0
    }
    /// A generator resumed from [`Rng::state`].
    pub fn from_state(state: u64) -> Self {
        Rng(state)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize % n.max(1)
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    /// Gamma(shape, 1) by Marsaglia–Tsang.
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            return self.gamma(shape + 1.0) * self.uniform().max(1e-300).powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }
    /// Beta(a, b), used by Mixup and CutMix; a or b not positive is an [`Error::Invalid`](crate::Error::Invalid).
    pub fn beta(&mut self, a: f64, b: f64) -> crate::Result<f64> {
        crate::error::ensure(a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite(), "beta.a/b", format!("({a}, {b})"), "both parameters must be positive")?;
        let x = self.gamma(a);
        let y = self.gamma(b);
        Ok(x / (x + y))
    }
    /// Fisher–Yates shuffle in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn beta_mean_matches_theory() {
        let mut r = Rng::new(1);
        let n = 20_000;
        let m: f64 = (0..n).map(|_| r.beta(2.0, 2.0).unwrap()).sum::<f64>() / n as f64;
        assert!((m - 0.5).abs() < 0.01, "{m}");
        let m: f64 = (0..n).map(|_| r.beta(1.0, 3.0).unwrap()).sum::<f64>() / n as f64;
        assert!((m - 0.25).abs() < 0.01, "{m}");
    }
    #[test]
    fn beta_rejects_non_positive_parameters() {
        assert!(matches!(Rng::new(1).beta(0.0, 0.0), Err(crate::Error::Invalid { .. })));
    }
    #[test]
    fn same_seed_same_stream() {
        let a: Vec<u64> = { let mut r = Rng::derive(7, 3); (0..5).map(|_| r.next_u64()).collect() };
        let b: Vec<u64> = { let mut r = Rng::derive(7, 3); (0..5).map(|_| r.next_u64()).collect() };
        let c: Vec<u64> = { let mut r = Rng::derive(7, 4); (0..5).map(|_| r.next_u64()).collect() };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
