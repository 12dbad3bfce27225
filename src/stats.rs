//! Paired statistics over seeds: every comparison trains each method on the same seeds, so the
//! question "does A beat B?" is answered by the per-seed differences A_s − B_s, their mean and a
//! Student-t 95 % confidence interval (n − 1 degrees of freedom). A difference whose interval
//! excludes 0 is marked ✓; one seed gives a difference but no interval (`n = 1`).
//!
//! ```
//! use distillery::stats::{seeds_needed, Paired};
//! let d = Paired::of(&[0.9, 1.4, 1.1]);            // A − B on seeds 0, 1, 2
//! assert!(d.significant());                          // +1.13 [+0.51, +1.76] ✓
//! // a pilot whose differences vary by 0.6 needs this many seeds for a ±0.5 interval:
//! assert_eq!(seeds_needed(0.6, 0.5), Some(9));
//! ```
use serde::{Deserialize, Serialize};

/// Confidence level of every interval (two-sided).
pub const LEVEL: f64 = 0.95;

/// The paired difference of two methods over their shared seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    /// Number of paired seeds.
    pub n: usize,
    /// Mean of the per-seed differences.
    pub mean: f64,
    /// Sample standard deviation of the differences (0 for one seed).
    pub std: f64,
    /// Lower end of the 95 % interval (NaN for one seed).
    pub lo: f64,
    /// Upper end of the 95 % interval (NaN for one seed).
    pub hi: f64,
}

impl Paired {
    /// The mean difference and its Student-t 95 % interval: mean ± t_{0.975, n−1} · s / √n.
    pub fn of(differences: &[f64]) -> Paired {
        let n = differences.len();
        let mean = differences.iter().sum::<f64>() / n.max(1) as f64;
        if n < 2 {
            return Paired { n, mean: if n == 0 { f64::NAN } else { mean }, std: 0.0, lo: f64::NAN, hi: f64::NAN };
        }
        let std = (differences.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        let half = t_quantile(0.5 + LEVEL / 2.0, (n - 1) as f64) * std / (n as f64).sqrt();
        Paired { n, mean, std, lo: mean - half, hi: mean + half }
    }

    /// The differences `a[i] − b[i]` of values measured on the same seeds.
    pub fn between(a: &[f64], b: &[f64]) -> Paired {
        Paired::of(&a.iter().zip(b).map(|(x, y)| x - y).collect::<Vec<_>>())
    }

    /// Whether the interval excludes 0 (never for one seed).
    pub fn significant(&self) -> bool {
        self.n >= 2 && (self.lo > 0.0 || self.hi < 0.0)
    }

    /// The verdict on a claim that the difference is positive: `reproduced` (the interval is
    /// above 0), `not reproduced: the other way` (below 0), `not distinguishable at n = k`
    /// (it holds 0, or one seed gives no interval).
    pub fn verdict(&self) -> String {
        match (self.significant(), self.lo > 0.0) {
            (true, true) => "reproduced".into(),
            (true, false) => "not reproduced: the other way".into(),
            (false, _) => format!("not distinguishable at n = {}", self.n),
        }
    }
}

/// `+0.44 [−0.21, +1.09]`, `+2.53 [+0.80, +4.26] ✓` (interval excludes 0), `+0.44 (n = 1)`.
impl std::fmt::Display for Paired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.n < 2 {
            return write!(f, "{} (n = {})", signed(self.mean), self.n);
        }
        write!(f, "{} [{}, {}]{}", signed(self.mean), signed(self.lo), signed(self.hi), if self.significant() { " ✓" } else { "" })
    }
}

/// A signed number with two decimals and a typographic minus (`+0.44`, `−0.21`).
pub fn signed(v: f64) -> String {
    let s = format!("{v:+.2}");
    if s == "-0.00" { "+0.00".into() } else { s.replace('-', "−") }
}

/// The smallest number of seeds whose 95 % interval of a paired difference has half-width at
/// most `half_width`, for differences whose standard deviation is `std` (from a pilot's
/// [`Paired::std`]); `None` past 10 000 seeds or for a non-positive width.
pub fn seeds_needed(std: f64, half_width: f64) -> Option<usize> {
    if half_width.is_nan() || half_width <= 0.0 || !std.is_finite() {
        return None;
    }
    (2..=10_000).find(|&n| t_quantile(0.5 + LEVEL / 2.0, (n - 1) as f64) * std / (n as f64).sqrt() <= half_width)
}

/// The `p`-quantile of Student's t with `df` degrees of freedom (p in (0, 1), df > 0), by
/// bisection on the distribution function.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if p == 0.5 {
        return 0.0;
    }
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while t_cdf(hi, df) < p && hi < 1e12 {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p { lo = mid } else { hi = mid }
    }
    0.5 * (lo + hi)
}

/// P(T ≤ t) for Student's t with `df` degrees of freedom: 1 − ½·I_x(df/2, ½), x = df/(df + t²)
/// for t ≥ 0 (Abramowitz & Stegun 26.7.1 with 26.5.27).
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * incomplete_beta(df / (df + t * t), df / 2.0, 0.5);
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// The regularised incomplete beta function I_x(a, b), by its continued fraction (Lentz's
/// method; A&S 26.5.8), using the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where it converges
/// faster.
fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front = (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) { front * beta_fraction(x, a, b) / a } else { 1.0 - front * beta_fraction(1.0 - x, b, a) / b }
}

fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    d = 1.0 / if d.abs() < TINY { TINY } else { d };
    let mut h = d;
    for m in 1..500 {
        let m = m as f64;
        for num in [m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)), -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0))] {
            d = 1.0 + num * d;
            d = 1.0 / if d.abs() < TINY { TINY } else { d };
            c = 1.0 + num / c;
            c = if c.abs() < TINY { TINY } else { c };
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error below 1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [0.999_999_999_999_809_9, 676.520_368_121_885_1, -1_259.139_216_722_402_8, 771.323_428_777_653_1, -176.615_029_162_140_6, 12.507_343_278_686_905, -0.138_571_095_265_720_12, 9.984_369_578_019_572e-6, 1.505_632_735_149_311_6e-7];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = G.iter().enumerate().skip(1).fold(G[0], |s, (i, g)| s + g / (x + i as f64));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_the_tables() {
        // two-sided 95 % critical values (any statistics table)
        for (df, want) in [(1.0, 12.7062), (2.0, 4.3027), (4.0, 2.7764), (9.0, 2.2622), (29.0, 2.0452), (1000.0, 1.9623)] {
            let got = t_quantile(0.975, df);
            assert!((got - want).abs() < 5e-4, "df {df}: {got} vs {want}");
        }
        assert!((t_cdf(0.0, 5.0) - 0.5).abs() < 1e-12);
        assert!((t_quantile(0.025, 4.0) + 2.7764).abs() < 5e-4);
    }

    /// By hand: d = 0.9, 1.4, 1.1 → mean 1.1333, s = 0.25166, t(0.975, 2) = 4.302653,
    /// half-width 4.302653 · 0.25166 / √3 = 0.62516 → [0.5082, 1.7585]: excludes 0.
    #[test]
    fn three_seeds_hand_computed_interval_excludes_zero() {
        let d = Paired::of(&[0.9, 1.4, 1.1]);
        assert_eq!(d.n, 3);
        assert!((d.mean - 1.133_333).abs() < 1e-5 && (d.std - 0.251_661).abs() < 1e-5, "{d:?}");
        assert!((d.lo - 0.508_2).abs() < 1e-3 && (d.hi - 1.758_5).abs() < 1e-3, "{d:?}");
        assert!(d.significant());
        assert_eq!(d.to_string(), "+1.13 [+0.51, +1.76] ✓");
    }

    /// By hand: d = 0.5, −0.3, 0.8, −0.1, 0.3 → mean 0.24, s = 0.444972, t(0.975, 4) = 2.776445,
    /// half-width 2.776445 · 0.444972 / √5 = 0.55250 → [−0.3125, 0.7925]: contains 0.
    #[test]
    fn five_seeds_hand_computed_interval_contains_zero() {
        let d = Paired::between(&[80.5, 79.7, 81.8, 80.9, 80.3], &[80.0, 80.0, 81.0, 81.0, 80.0]);
        assert_eq!(d.n, 5);
        assert!((d.mean - 0.24).abs() < 1e-9 && (d.std - 0.444_972).abs() < 1e-5, "{d:?}");
        assert!((d.lo + 0.312_5).abs() < 1e-3 && (d.hi - 0.792_5).abs() < 1e-3, "{d:?}");
        assert!(!d.significant());
        assert_eq!(d.to_string(), "+0.24 [−0.31, +0.79]");
        // the same differences shifted by +1 are all positive: the interval moves past 0
        assert!(Paired::of(&[1.5, 0.7, 1.8, 0.9, 1.3]).significant());
    }

    #[test]
    fn a_claims_verdict_follows_where_its_interval_lies() {
        assert_eq!(Paired::of(&[0.9, 1.4, 1.1]).verdict(), "reproduced");
        assert_eq!(Paired::of(&[-0.9, -1.4, -1.1]).verdict(), "not reproduced: the other way");
        assert_eq!(Paired::of(&[0.5, -0.3, 0.8, -0.1, 0.3]).verdict(), "not distinguishable at n = 5");
        assert_eq!(Paired::of(&[2.0]).verdict(), "not distinguishable at n = 1", "one seed is no evidence");
    }

    #[test]
    fn one_seed_has_a_difference_and_no_interval() {
        let d = Paired::of(&[0.44]);
        assert!(d.lo.is_nan() && d.hi.is_nan() && !d.significant());
        assert_eq!(d.to_string(), "+0.44 (n = 1)");
        assert_eq!(Paired::of(&[-0.004]).to_string(), "+0.00 (n = 1)", "no negative zero");
        assert_eq!(Paired::of(&[-1.5]).to_string(), "−1.50 (n = 1)");
    }

    #[test]
    fn seeds_needed_is_the_smallest_n_that_reaches_the_width() {
        // s = 0.6, h = 0.5: n = 8 gives 2.3646 · 0.6 / √8 = 0.5016 > 0.5, n = 9 gives 0.4612
        assert_eq!(seeds_needed(0.6, 0.5), Some(9));
        assert_eq!(seeds_needed(0.0, 0.1), Some(2), "no spread: two seeds");
        assert_eq!(seeds_needed(1.0, 0.0), None);
        let n = seeds_needed(1.0, 0.3).unwrap();
        let width = |n: usize| t_quantile(0.975, (n - 1) as f64) / (n as f64).sqrt();
        assert!(width(n) <= 0.3 && width(n - 1) > 0.3);
    }
}
