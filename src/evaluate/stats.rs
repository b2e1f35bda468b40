//! Small statistics for honest evaluation: confidence intervals of a test-set score and a
//! paired test between two classifiers.
//!
//! In: counts (correct out of n, discordant pairs) or a statistic over resampled indices.
//! Out: intervals `(low, high)` and p-values as `f64`. No dependencies; every method is
//! deterministic (the bootstrap uses its own fixed-seed generator, so the same predictions
//! give the same interval on every machine and every build).
//!
//! - Wilson score interval for a binomial proportion (Wilson 1927; recommended over the
//!   normal approximation by Newcombe 1998, "Two-sided confidence intervals for the single
//!   proportion", Statistics in Medicine 17, 857–872).
//! - Percentile bootstrap (Efron & Tibshirani 1993) for statistics without a closed form,
//!   such as macro-F1.
//! - McNemar's test (McNemar 1947) on the discordant pairs of two classifiers evaluated on
//!   the same images: the exact two-sided binomial test when there are few of them, the
//!   chi-square statistic with continuity correction (Edwards 1948) otherwise.

use serde::Serialize;

/// The standard normal quantile for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Below this many discordant pairs (b + c) McNemar's test uses the exact binomial
/// distribution; from it on, the continuity-corrected chi-square approximation.
pub const MCNEMAR_EXACT_BELOW: usize = 25;

/// Wilson score interval for `successes` out of `n` at normal quantile `z` (use [`Z95`]).
/// `(0, 1)` when `n` is 0.
pub fn wilson_interval(successes: usize, n: usize, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n_f = n as f64;
    let p = successes.min(n) as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = z / denom * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny generator whose output is fixed forever,
/// unlike library generators that may change between versions.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2⁻³² for n < 2³²).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// Percentile bootstrap 95% interval: `replicates` times, draws `n` indices from `0..n` with
/// replacement (generator seeded with `seed`), evaluates `statistic` on them, and returns the
/// 2.5th and 97.5th percentiles of the results. `(NaN, NaN)` when `n` or `replicates` is 0.
pub fn bootstrap_interval95(n: usize, replicates: usize, seed: u64, mut statistic: impl FnMut(&[usize]) -> f64) -> (f64, f64) {
    if n == 0 || replicates == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = SplitMix64(seed);
    let mut sample = vec![0usize; n];
    let mut values = Vec::with_capacity(replicates);
    for _ in 0..replicates {
        for s in &mut sample {
            *s = rng.below(n);
        }
        values.push(statistic(&sample));
    }
    values.sort_by(f64::total_cmp);
    // Nearest-rank percentiles.
    let rank = |q: f64| ((q * replicates as f64).ceil() as usize).clamp(1, replicates) - 1;
    (values[rank(0.025)], values[rank(0.975)])
}

/// How [`McNemar::p_value`] was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum McNemarMethod {
    /// Exact two-sided binomial test of `b` against Binomial(b + c, ½).
    ExactBinomial,
    /// `(|b − c| − 1)² / (b + c)` against the chi-square distribution with one degree of freedom.
    ChiSquareCorrected,
}

/// McNemar's test between two classifiers A and B on the same images.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct McNemar {
    /// Images A gets right and B gets wrong.
    pub b: usize,
    /// Images A gets wrong and B gets right.
    pub c: usize,
    /// Which test gave the p-value.
    pub method: McNemarMethod,
    /// The test statistic: `min(b, c)` for the exact test (the binomial tail's bound), the
    /// continuity-corrected chi-square otherwise.
    pub statistic: f64,
    /// Two-sided p-value of "A and B have the same accuracy".
    pub p_value: f64,
}

impl McNemar {
    /// The test on `b` and `c` discordant pairs: exact below [`MCNEMAR_EXACT_BELOW`] pairs,
    /// continuity-corrected chi-square from there on.
    pub fn from_discordant(b: usize, c: usize) -> Self {
        let n = b + c;
        if n < MCNEMAR_EXACT_BELOW {
            let k = b.min(c);
            Self { b, c, method: McNemarMethod::ExactBinomial, statistic: k as f64, p_value: binomial_two_sided_half(k, n) }
        } else {
            let d = (b as f64 - c as f64).abs() - 1.0;
            let statistic = d.max(0.0).powi(2) / n as f64;
            Self { b, c, method: McNemarMethod::ChiSquareCorrected, statistic, p_value: chi_square_1df_sf(statistic) }
        }
    }

    /// The test for predictions of A and B against the true labels (all three in the same
    /// image order).
    ///
    /// # Panics
    /// If the three slices differ in length.
    pub fn from_predictions<T: PartialEq>(truth: &[T], a: &[T], b: &[T]) -> Self {
        assert!(truth.len() == a.len() && a.len() == b.len(), "McNemar needs paired predictions");
        let (mut only_a, mut only_b) = (0, 0);
        for ((t, x), y) in truth.iter().zip(a).zip(b) {
            match (x == t, y == t) {
                (true, false) => only_a += 1,
                (false, true) => only_b += 1,
                _ => {}
            }
        }
        Self::from_discordant(only_a, only_b)
    }
}

/// Two-sided p-value of the exact binomial test for `k = min(b, c)` successes out of `n` with
/// probability ½: `min(1, 2·P(X ≤ k))`. 1 when `n` is 0.
pub fn binomial_two_sided_half(k: usize, n: usize) -> f64 {
    if n == 0 {
        return 1.0;
    }
    // P(X = i) in log space: ln C(n, i) − n·ln 2, with C(n, i) built up term by term.
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_choose = 0.0f64;
    let mut tail = 0.0f64;
    for i in 0..=k.min(n) {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// Upper tail `P(χ²₁ > x)` of the chi-square distribution with one degree of freedom:
/// `erfc(√(x/2))`.
pub fn chi_square_1df_sf(x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    erfc((x / 2.0).sqrt())
}

/// Complementary error function, with a relative error below 1.2·10⁻⁷ everywhere (the
/// Chebyshev fit of Press et al., Numerical Recipes, 2nd ed., §6.2 `erfcc`): ample for
/// p-values.
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06 + t * (0.278_868_07 + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// Newcombe (1998), Table I, method 3 (Wilson score interval without continuity
    /// correction), to the four decimals printed there.
    #[test]
    fn wilson_matches_newcombes_table() {
        for (k, n, lo, hi) in [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)] {
            let (l, h) = wilson_interval(k, n, Z95);
            assert!(close(l, lo, 6e-5) && close(h, hi, 6e-5), "{k}/{n}: ({l:.5}, {h:.5}), expected ({lo}, {hi})");
        }
        assert_eq!(wilson_interval(0, 0, Z95), (0.0, 1.0));
        let (l, h) = wilson_interval(20, 20, Z95);
        assert!(h == 1.0 && close(l, 1.0 - 0.1611, 6e-5), "{l}");
    }

    #[test]
    fn chi_square_tail_matches_the_tables() {
        // Critical values of χ²₁ at 5%, 1% and 0.1%.
        for (x, p) in [(3.841_459, 0.05), (6.634_897, 0.01), (10.827_566, 0.001)] {
            let got = chi_square_1df_sf(x);
            assert!(close(got, p, p * 1e-5), "P(χ² > {x}) = {got}, expected {p}");
        }
        assert_eq!(chi_square_1df_sf(0.0), 1.0);
        assert!(close(erfc(-1.0), 2.0 - erfc(1.0), 1e-12) && close(erfc(0.0), 1.0, 1e-7));
    }

    /// Wikipedia's "McNemar's test" example (b = 6, c = 16) and Agresti's presidential-approval
    /// table (Categorical Data Analysis, 2nd ed., Table 10.1: b = 150, c = 86, corrected
    /// statistic (|150 − 86| − 1)²/236 = 16.82).
    #[test]
    fn mcnemar_matches_textbook_values() {
        let t = McNemar::from_discordant(6, 16);
        assert_eq!(t.method, McNemarMethod::ExactBinomial);
        // 2·Σ_{i≤6} C(22, i) / 2²² = 2·110056 / 4194304.
        assert!(close(t.p_value, 2.0 * 110_056.0 / 4_194_304.0, 1e-12), "{}", t.p_value);
        assert_eq!((t.b, t.c, t.statistic), (6, 16, 6.0));

        let t = McNemar::from_discordant(150, 86);
        assert_eq!(t.method, McNemarMethod::ChiSquareCorrected);
        assert!(close(t.statistic, 3969.0 / 236.0, 1e-12), "{}", t.statistic);
        // erfc(√(16.818/2)) = 4.1146·10⁻⁵ (Python's math.erfc).
        assert!(close(t.p_value, 4.114_562e-5, 1e-9), "{}", t.p_value);
        // Symmetric in A and B, and no difference at all gives p = 1.
        assert_eq!(McNemar::from_discordant(86, 150).p_value, t.p_value);
        assert_eq!(McNemar::from_discordant(0, 0).p_value, 1.0);
        assert_eq!(McNemar::from_discordant(30, 30).p_value, 1.0);
        assert!(close(McNemar::from_discordant(3, 3).p_value, 1.0, 1e-12));
    }

    #[test]
    fn mcnemar_counts_discordant_pairs() {
        let truth = [0, 1, 2, 3, 4, 5];
        let a = [0, 1, 2, 0, 0, 5]; // right on 0, 1, 2, 5
        let b = [0, 0, 0, 3, 4, 0]; // right on 0, 3, 4
        let t = McNemar::from_predictions(&truth, &a, &b);
        assert_eq!((t.b, t.c), (3, 2));
        // 2·(C(5,0) + C(5,1) + C(5,2)) / 32 = 2·16/32 = 1.
        assert!(close(t.p_value, 1.0, 1e-12), "{}", t.p_value);
        assert!(close(binomial_two_sided_half(1, 10), 2.0 * 11.0 / 1024.0, 1e-12));
    }

    #[test]
    fn bootstrap_is_reproducible_and_brackets_the_mean() {
        let data: Vec<f64> = (0..400).map(|i| f64::from(i % 10)).collect();
        let mean = |idx: &[usize]| idx.iter().map(|&i| data[i]).sum::<f64>() / idx.len() as f64;
        let a = bootstrap_interval95(data.len(), 500, 7, mean);
        let b = bootstrap_interval95(data.len(), 500, 7, mean);
        assert_eq!(a, b, "same seed, same interval");
        // Mean 4.5, standard error √8.25/√400 ≈ 0.144: the interval is about ±0.28.
        assert!(a.0 < 4.5 && a.1 > 4.5 && a.1 - a.0 > 0.4 && a.1 - a.0 < 0.75, "{a:?}");
        assert!(bootstrap_interval95(0, 10, 1, mean).0.is_nan());
    }
}
