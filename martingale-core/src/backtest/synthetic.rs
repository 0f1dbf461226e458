//! Seeded synthetic candles for benchmarks and tests.
//!
//! A geometric random walk of one-minute (or any interval) candles with a
//! deterministic generator (SplitMix64): the same seed gives the same series
//! on every machine. Prices are rounded to cents.

use rust_decimal::Decimal;

use super::candles::Candles;
use crate::engine::TimeMs;

/// SplitMix64: small, fast, well distributed, fully deterministic.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// `n` candles of `interval_ms` starting at time 0 and price `start`, with
/// per-candle log-return volatility `vol` (e.g. 0.0012 ≈ 1-minute BTC).
///
/// ```
/// use martingale_core::backtest::synthetic::random_walk;
/// let a = random_walk(1, 1000, 60_000, 30_000.0, 0.0012);
/// assert_eq!(a, random_walk(1, 1000, 60_000, 30_000.0, 0.0012));
/// assert_eq!(a.len(), 1000);
/// ```
pub fn random_walk(seed: u64, n: usize, interval_ms: TimeMs, start: f64, vol: f64) -> Candles {
    let mut rng = SplitMix(seed);
    let cents = |x: f64| (x * 100.0).round().max(1.0) as i64;
    let mut time = Vec::with_capacity(n);
    let (mut open, mut high, mut low, mut close) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let mut price = start.max(0.01);
    let mut t: TimeMs = 0;
    for _ in 0..n {
        let o = cents(price);
        let c_price = (price * (vol * rng.normal()).exp()).max(0.01);
        let c = cents(c_price);
        let wick_up = (vol * rng.normal().abs() * 0.6).exp();
        let wick_down = (vol * rng.normal().abs() * 0.6).exp();
        let h = cents(price.max(c_price) * wick_up).max(o.max(c));
        let l = cents(price.min(c_price) / wick_down).min(o.min(c)).max(1);
        time.push(t);
        open.push(Decimal::new(o, 2));
        high.push(Decimal::new(h, 2));
        low.push(Decimal::new(l, 2));
        close.push(Decimal::new(c, 2));
        t += interval_ms;
        price = c as f64 / 100.0;
    }
    // The generator only produces valid rows.
    Candles::new(time, open, high, low, close).unwrap_or_default()
}

/// Candles in the reference workload W5.
pub const W5_CANDLES: usize = 2_629_800;

/// The reference workload W5: 2,629,800 one-minute candles (5 years) of a
/// random walk from 30,000 with 0.12 % per-minute volatility (about 87 %
/// a year, like BTC), seed 42.
pub fn w5() -> Candles {
    random_walk(42, W5_CANDLES, 60_000, 30_000.0, 0.0012)
}
