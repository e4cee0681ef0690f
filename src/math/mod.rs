//! Numerical helpers shared by every layer above: the normal distribution, dense linear
//! algebra ([`linalg`]), L-BFGS minimisation ([`lbfgs`]), maths on the probability simplex
//! ([`simplex`]), independent seed
//! streams ([`derive_seed`]) and streaming top-k selection ([`TopK`]). Nothing here knows
//! about mixtures, runs or models.

pub mod lbfgs;
pub mod linalg;
pub mod simplex;
mod top_k;

pub use top_k::TopK;

/// Standard normal density.
pub fn normal_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Standard normal distribution function, `0.5 * erfc(-z / sqrt 2)`.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// `(seed, stream)` to an independent seed: splitmix64 of their combination, so chunk and
/// block RNGs do not overlap.
pub fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_functions() {
        // Reference values from scipy.stats.norm.
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.96) - 0.975_002_104_851_780).abs() < 1e-7);
        assert!((normal_cdf(-3.0) - 0.001_349_898_031_630).abs() < 1e-8);
        assert!((normal_pdf(1.0) - 0.241_970_724_519_143).abs() < 1e-12);
    }
}
