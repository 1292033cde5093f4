//! Seeded randomness that does not depend on the order of work.
//!
//! Every piece of data is drawn from a generator keyed by `(seed, table, unit)`, where the
//! unit is a day (events, orders) or a block of customers — never from one stream shared
//! across a table. So chunks can be made in any order or in parallel, and the bytes of a
//! file depend only on the scale and the seed. Per-customer traits (country, signup day,
//! propensity to buy) are pure functions of `(seed, customer_id)`: every table that needs a
//! customer's trait computes it, and no table holds the customers in memory.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Which table a generator belongs to, so that tables draw independent streams.
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
pub enum Stream {
    Customers = 1,
    Events = 2,
    Campaigns = 3,
    Spend = 4,
    Orders = 5,
    Consent = 6,
    Profile = 7,
}

/// SplitMix64's finaliser: a fast, well-mixed 64-bit hash.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The hash of `(seed, stream, unit)`.
pub fn key(seed: u64, stream: Stream, unit: u64) -> u64 {
    mix(mix(mix(seed) ^ stream as u64) ^ unit)
}

/// A generator for one unit of work of one table.
pub fn rng(seed: u64, stream: Stream, unit: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(key(seed, stream, unit))
}

/// A uniform number in [0, 1) from 53 bits of a hash.
pub fn unit_f64(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A standard normal variate (Box–Muller).
pub fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal variate with the given median and shape.
pub fn lognormal(rng: &mut impl Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

/// A table for drawing an index with fixed weights, by binary search over the cumulative sum.
#[derive(Debug, Clone)]
pub struct Weighted {
    cumulative: Vec<f64>,
}

impl Weighted {
    pub fn new(weights: &[f64]) -> Self {
        let mut total = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        Weighted { cumulative }
    }

    pub fn total(&self) -> f64 {
        self.cumulative.last().copied().unwrap_or(0.0)
    }

    /// The index whose slice of the total holds `u * total`, for `u` in [0, 1).
    pub fn index_at(&self, u: f64) -> usize {
        let x = u * self.total();
        self.cumulative
            .partition_point(|&c| c <= x)
            .min(self.cumulative.len() - 1)
    }

    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        self.index_at(rng.random())
    }
}

/// Splits `total` into parts proportional to `weights` that add up to exactly `total`.
pub fn apportion(total: u64, weights: &[f64]) -> Vec<u64> {
    let sum: f64 = weights.iter().sum();
    let mut acc = 0.0;
    let mut given = 0u64;
    let last = weights.len().saturating_sub(1);
    weights
        .iter()
        .enumerate()
        .map(|(i, w)| {
            acc += w;
            let upto = if i == last {
                total
            } else {
                ((total as f64 * acc / sum).round() as u64).clamp(given, total)
            };
            let part = upto - given;
            given = upto;
            part
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_adds_up() {
        for total in [0, 1, 7, 1000, 999_999] {
            let parts = apportion(total, &[1.0, 2.5, 0.0, 3.3, 0.7]);
            assert_eq!(parts.iter().sum::<u64>(), total);
        }
        assert_eq!(apportion(10, &[1.0, 1.0]), vec![5, 5]);
    }

    #[test]
    fn weighted_respects_weights() {
        let w = Weighted::new(&[1.0, 0.0, 3.0]);
        assert_eq!(w.index_at(0.0), 0);
        assert_eq!(w.index_at(0.2), 0);
        assert_eq!(w.index_at(0.3), 2);
        assert_eq!(w.index_at(0.999_999), 2);
        let mut rng = rng(1, Stream::Events, 0);
        let hits = (0..10_000).filter(|_| w.sample(&mut rng) == 2).count();
        assert!((7_000..8_000).contains(&hits), "{hits}");
    }

    #[test]
    fn streams_differ() {
        assert_ne!(key(1, Stream::Events, 0), key(1, Stream::Orders, 0));
        assert_ne!(key(1, Stream::Events, 0), key(2, Stream::Events, 0));
        assert_ne!(key(1, Stream::Events, 0), key(1, Stream::Events, 1));
    }
}
