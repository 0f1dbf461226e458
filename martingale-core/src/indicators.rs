//! Indicators for start conditions (SPEC section 10): RSI with Wilder
//! smoothing and the simple moving average, in `Decimal`, over the closes of
//! the bot's own candles.
//!
//! Rules:
//! - RSI(n): the first average gain and loss are the plain means of the
//!   first `n` close-to-close changes, so the first value exists at candle
//!   `n` (0-based); then `avg = (avg * (n - 1) + x) / n`;
//!   `RSI = 100 * G / (G + L)`, with no value while both averages are zero.
//! - SMA(n): the mean of the last `n` closes, first at candle `n - 1`.
//! - A [`StartGate`] says, at each close, whether the start condition holds
//!   there; a condition true at the close of candle `i` lets a deal open at
//!   candle `i + 1` (no look-ahead: nothing after the close is used). No
//!   deal starts while the indicator has no value.
//!
//! Decisions compare without dividing where they can: `RSI < b` is decided
//! as `100 * G < b * (G + L)`, and `close <= SMA * (1 - p/100)` as
//! `100 * n * close <= (100 - p) * sum` over the exact sum of the closes, so
//! the SMA test is exact. Known limit: Wilder's averages divide by `n` at
//! every step and keep `Decimal`'s 28 significant digits, so an RSI within
//! about `10^-24` of a threshold may be decided as if it were on the other
//! side (exact rationals would grow by a digit a candle).
//!
//! ```
//! use martingale_core::config::{StartCondition, Threshold};
//! use martingale_core::indicators::start_signals;
//! use martingale_core::dec;
//!
//! // RSI(2) below 40: two falls give RSI 0 at the third close.
//! let rsi = StartCondition::Rsi { period: 2, threshold: Threshold::Below(dec!(40)) };
//! let closes = [dec!(10), dec!(9), dec!(8), dec!(9), dec!(10)];
//! assert_eq!(start_signals(&rsi, &closes), vec![false, false, true, false, false]);
//!
//! // Close at least 5 % below its SMA(3).
//! let sma = StartCondition::PriceVsSma { period: 3, below_percent: dec!(5) };
//! let closes = [dec!(100), dec!(100), dec!(100), dec!(88)];
//! assert_eq!(start_signals(&sma, &closes), vec![false, false, false, true]);
//! ```

use std::collections::VecDeque;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::{StartCondition, Threshold};

const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

/// RSI with Wilder smoothing, fed one close at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rsi {
    period: u32,
    previous: Option<Decimal>,
    /// Changes seen so far (up to `period`, then it stops counting).
    changes: u32,
    /// Sums of gains and losses during warm-up, then the averages.
    gain: Decimal,
    loss: Decimal,
}

impl Rsi {
    /// An RSI over `period` changes (`period >= 1`; 0 is treated as 1).
    pub fn new(period: u32) -> Rsi {
        Rsi { period: period.max(1), previous: None, changes: 0, gain: Decimal::ZERO, loss: Decimal::ZERO }
    }

    /// Adds a close; returns the averages `(G, L)` once they exist.
    pub fn push(&mut self, close: Decimal) -> Option<(Decimal, Decimal)> {
        let previous = self.previous.replace(close)?;
        // Saturating throughout: absurd closes (near Decimal's range) must
        // not panic; such a series gives no meaningful signal anyway.
        let change = close.saturating_sub(previous);
        let (up, down) = if change > Decimal::ZERO { (change, Decimal::ZERO) } else { (Decimal::ZERO, -change) };
        let n = Decimal::from(self.period);
        if self.changes < self.period {
            self.gain = self.gain.saturating_add(up);
            self.loss = self.loss.saturating_add(down);
            self.changes += 1;
            if self.changes == self.period {
                self.gain /= n;
                self.loss /= n;
            }
        } else {
            let keep = n - Decimal::ONE;
            self.gain = self.gain.saturating_mul(keep).saturating_add(up) / n;
            self.loss = self.loss.saturating_mul(keep).saturating_add(down) / n;
        }
        self.averages()
    }

    /// The averages `(G, L)`, once `period` changes have been seen.
    pub fn averages(&self) -> Option<(Decimal, Decimal)> {
        (self.changes >= self.period).then_some((self.gain, self.loss))
    }

    /// The RSI, `100 * G / (G + L)`; `None` before the first value and
    /// while both averages are zero.
    pub fn value(&self) -> Option<Decimal> {
        let (g, l) = self.averages()?;
        let total = g.saturating_add(l);
        (total > Decimal::ZERO).then(|| HUNDRED.saturating_mul(g) / total)
    }
}

/// The simple moving average of the last `period` closes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sma {
    period: u32,
    window: VecDeque<Decimal>,
    sum: Decimal,
}

impl Sma {
    /// An SMA over `period` closes (`period >= 1`; 0 is treated as 1).
    pub fn new(period: u32) -> Sma {
        Sma { period: period.max(1), window: VecDeque::new(), sum: Decimal::ZERO }
    }

    /// Adds a close; returns the exact sum of the last `period` closes once
    /// there are that many.
    pub fn push(&mut self, close: Decimal) -> Option<Decimal> {
        self.window.push_back(close);
        self.sum = self.sum.saturating_add(close);
        if self.window.len() > self.period as usize {
            if let Some(old) = self.window.pop_front() {
                self.sum = self.sum.saturating_sub(old);
            }
        }
        self.sum()
    }

    /// The exact sum of the last `period` closes, once there are that many.
    pub fn sum(&self) -> Option<Decimal> {
        (self.window.len() == self.period as usize).then_some(self.sum)
    }

    /// The mean (rounded to `Decimal`'s 28 digits).
    pub fn value(&self) -> Option<Decimal> {
        self.sum().map(|s| s / Decimal::from(self.period))
    }
}

/// The state behind an indicator start condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum GateState {
    Always,
    Rsi(Rsi),
    Sma(Sma),
}

/// Decides, close by close, whether a start condition holds (see the
/// module docs). For `asap` and `signal` it always holds (they are not
/// indicator conditions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartGate {
    condition: StartCondition,
    state: GateState,
}

impl StartGate {
    /// A gate with no closes seen.
    pub fn new(condition: StartCondition) -> StartGate {
        let state = match condition {
            StartCondition::Rsi { period, .. } => GateState::Rsi(Rsi::new(period)),
            StartCondition::PriceVsSma { period, .. } => GateState::Sma(Sma::new(period)),
            StartCondition::Asap | StartCondition::Signal => GateState::Always,
        };
        StartGate { condition, state }
    }

    /// Adds the close of the next candle; true when the condition holds at
    /// this close (a deal may then open at the next candle).
    pub fn push(&mut self, close: Decimal) -> bool {
        match (&mut self.state, self.condition) {
            (GateState::Rsi(rsi), StartCondition::Rsi { threshold, .. }) => {
                let Some((g, l)) = rsi.push(close) else { return false };
                let total = g.saturating_add(l);
                if total <= Decimal::ZERO {
                    return false;
                }
                // RSI = 100 G / (G + L), compared without dividing (an
                // overflowing product decides nothing: false).
                let (Some(scaled), Some(bound)) = (
                    HUNDRED.checked_mul(g),
                    match threshold {
                        Threshold::Below(x) | Threshold::Above(x) => x.checked_mul(total),
                    },
                ) else {
                    return false;
                };
                match threshold {
                    Threshold::Below(_) => scaled < bound,
                    Threshold::Above(_) => scaled > bound,
                }
            }
            (GateState::Sma(sma), StartCondition::PriceVsSma { period, below_percent }) => {
                let Some(sum) = sma.push(close) else { return false };
                // close <= sum / n * (1 - p/100)  <=>  100 n close <= (100 - p) sum
                let left = HUNDRED.checked_mul(Decimal::from(period.max(1))).and_then(|k| k.checked_mul(close));
                let right = (HUNDRED - below_percent).checked_mul(sum);
                matches!((left, right), (Some(l), Some(r)) if l <= r)
            }
            _ => true,
        }
    }
}

/// Whether `condition` holds at each close of `closes` (one flag a candle):
/// the entry signals of a backtest (a flag at candle `i` lets a deal open
/// at candle `i + 1`).
pub fn start_signals(condition: &StartCondition, closes: &[Decimal]) -> Vec<bool> {
    let mut gate = StartGate::new(*condition);
    closes.iter().map(|c| gate.push(*c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    /// Wilder's RSI by hand: closes 44, 44.5, 43.5, 44.5, 45 with n = 2.
    /// Changes +0.5, -1, +1, +0.5. First averages (candle 2): G = 0.25,
    /// L = 0.5 (RSI 33.33...). Candle 3: G = (0.25 + 1) / 2 = 0.625,
    /// L = 0.25 (RSI 71.428...). Candle 4: G = 0.5625, L = 0.125.
    #[test]
    fn rsi_matches_the_hand_computation() {
        let mut rsi = Rsi::new(2);
        let closes = [dec!(44), dec!(44.5), dec!(43.5), dec!(44.5), dec!(45)];
        let got: Vec<Option<(Decimal, Decimal)>> = closes.iter().map(|c| rsi.push(*c)).collect();
        assert_eq!(
            got,
            vec![
                None,
                None,
                Some((dec!(0.25), dec!(0.5))),
                Some((dec!(0.625), dec!(0.25))),
                Some((dec!(0.5625), dec!(0.125)))
            ]
        );
        // 100 * 0.5625 / 0.6875 = 81.8181...
        assert_eq!(rsi.value().unwrap().round_dp(4), dec!(81.8182));
    }

    #[test]
    fn rsi_has_no_value_while_flat() {
        let mut rsi = Rsi::new(3);
        for _ in 0..10 {
            rsi.push(dec!(5));
        }
        assert_eq!(rsi.averages(), Some((dec!(0), dec!(0))));
        assert_eq!(rsi.value(), None);
        let flat = StartCondition::Rsi { period: 3, threshold: Threshold::Above(dec!(0)) };
        assert!(start_signals(&flat, &[dec!(5); 10]).iter().all(|s| !s));
    }

    #[rstest]
    // RSI(2) after +0.5, -1 is 33.33: below 40 and not below 33.
    #[case(Threshold::Below(dec!(40)), vec![false, false, true, false, false])]
    #[case(Threshold::Below(dec!(33)), vec![false, false, false, false, false])]
    // Then 71.43 and 81.82: above 70 at candles 3 and 4, strict.
    #[case(Threshold::Above(dec!(70)), vec![false, false, false, true, true])]
    #[case(Threshold::Above(dec!(81.82)), vec![false, false, false, false, false])]
    fn rsi_thresholds_are_strict(#[case] threshold: Threshold, #[case] want: Vec<bool>) {
        let cond = StartCondition::Rsi { period: 2, threshold };
        let closes = [dec!(44), dec!(44.5), dec!(43.5), dec!(44.5), dec!(45)];
        assert_eq!(start_signals(&cond, &closes), want);
    }

    #[rstest]
    // SMA(3) of 100, 100, 100 is 100: 95 is exactly 5 % below (inclusive).
    #[case(dec!(5), dec!(95), true)]
    #[case(dec!(5), dec!(95.01), false)]
    #[case(dec!(0), dec!(100), true)]
    fn sma_below_percent_is_inclusive(#[case] p: Decimal, #[case] last: Decimal, #[case] want: bool) {
        // The SMA includes the last close: closes 100, 100, 100, last.
        // SMA(4) = (300 + last) / 4; 95 vs (395/4) * 0.95 = 93.8125: no.
        // So use period 3 over 102.5, 102.5, last.
        let cond = StartCondition::PriceVsSma { period: 3, below_percent: p };
        let a = (dec!(300) - last) / dec!(2);
        let sma = (a + a + last) / dec!(3);
        assert_eq!(sma, dec!(100));
        let got = start_signals(&cond, &[a, a, last]);
        assert_eq!(got, vec![false, false, want], "closes {a}, {a}, {last}");
    }

    /// Closes near `Decimal`'s range never panic; they simply give no
    /// signal where a product would overflow.
    #[test]
    fn absurd_closes_do_not_panic() {
        let huge = Decimal::MAX / dec!(3);
        let closes = [huge, dec!(1), huge, dec!(1), huge, dec!(1)];
        for cond in [
            StartCondition::Rsi { period: 2, threshold: Threshold::Below(dec!(30)) },
            StartCondition::Rsi { period: 2, threshold: Threshold::Above(dec!(70)) },
            StartCondition::PriceVsSma { period: 2, below_percent: dec!(1) },
        ] {
            assert_eq!(start_signals(&cond, &closes).len(), closes.len());
        }
    }

    #[test]
    fn sma_first_value_at_candle_n_minus_1() {
        let mut sma = Sma::new(3);
        assert_eq!(sma.push(dec!(1)), None);
        assert_eq!(sma.push(dec!(2)), None);
        assert_eq!(sma.push(dec!(3)), Some(dec!(6)));
        assert_eq!(sma.push(dec!(10)), Some(dec!(15)));
        assert_eq!(sma.value(), Some(dec!(5)));
    }

    fn plain_rsi(n: usize, closes: &[Decimal]) -> Vec<Option<(Decimal, Decimal)>> {
        let nd = Decimal::from(n as u64);
        let mut out = vec![None; closes.len()];
        if closes.len() <= n {
            return out;
        }
        let ch: Vec<Decimal> = closes.windows(2).map(|w| w[1] - w[0]).collect();
        let up = |x: Decimal| x.max(Decimal::ZERO);
        let down = |x: Decimal| (-x).max(Decimal::ZERO);
        let mut g = ch[..n].iter().map(|x| up(*x)).sum::<Decimal>() / nd;
        let mut l = ch[..n].iter().map(|x| down(*x)).sum::<Decimal>() / nd;
        out[n] = Some((g, l));
        for j in n + 1..closes.len() {
            g = (g * (nd - Decimal::ONE) + up(ch[j - 1])) / nd;
            l = (l * (nd - Decimal::ONE) + down(ch[j - 1])) / nd;
            out[j] = Some((g, l));
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        /// The incremental RSI equals the textbook formula over the whole
        /// series, and its decision equals the one through the division.
        #[test]
        fn incremental_rsi_equals_the_plain_formula(
            n in 1usize..20,
            cents in proptest::collection::vec(1i64..2_000_000, 1..80),
            below in 1u32..100,
        ) {
            let closes: Vec<Decimal> = cents.iter().map(|c| Decimal::new(*c, 2)).collect();
            let mut rsi = Rsi::new(n as u32);
            let inc: Vec<_> = closes.iter().map(|c| rsi.push(*c)).collect();
            prop_assert_eq!(&inc, &plain_rsi(n, &closes));
            let cond = StartCondition::Rsi { period: n as u32, threshold: Threshold::Below(Decimal::from(below)) };
            let signals = start_signals(&cond, &closes);
            for (i, s) in signals.iter().enumerate() {
                let want = inc[i].is_some_and(|(g, l)| g + l > Decimal::ZERO
                    && HUNDRED * g / (g + l) < Decimal::from(below));
                prop_assert_eq!(*s, want, "candle {}", i);
            }
        }

        /// The SMA decision is exact: it equals the rational comparison.
        #[test]
        fn sma_decisions_are_exact(
            n in 1usize..30,
            cents in proptest::collection::vec(1i64..2_000_000, 1..80),
            p in 0u32..50,
        ) {
            let closes: Vec<Decimal> = cents.iter().map(|c| Decimal::new(*c, 2)).collect();
            let cond = StartCondition::PriceVsSma { period: n as u32, below_percent: Decimal::from(p) };
            let signals = start_signals(&cond, &closes);
            for (i, s) in signals.iter().enumerate() {
                // In integers (cents): 100 n c_i <= (100 - p) * sum.
                let want = i + 1 >= n && {
                    let sum: i64 = cents[i + 1 - n..=i].iter().sum();
                    100 * (n as i128) * i128::from(cents[i]) <= i128::from(100 - i64::from(p)) * i128::from(sum)
                };
                prop_assert_eq!(*s, want, "candle {}", i);
            }
        }
    }
}
