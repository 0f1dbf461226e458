//! Equity along a backtest: the path the walk records, and the statistics
//! of SPEC section 7 computed from it in one pass at the end.
//!
//! Equity at a candle close is `a + q * close`, where `a` (quote) and `q`
//! (base, signed: negative for a short) only change when a fill happens.
//! The walk records each change as a [segment](EquityPath::set) (first
//! candle, state) and nothing per candle, so skipping candles costs nothing
//! here. [`EquityPath::stats`] then
//!
//! - streams the `f64` closes once for Sharpe and Sortino (see
//!   [`super::returns`]: per-candle returns of `a_f + q_f * close_f`, the
//!   `f64` images of the exact values, added in an order fixed by the candle
//!   index alone, so the figures are bit-identical for every walk that
//!   records the same path);
//! - finds the drawdown and the unrealized loss exactly (see
//!   [`super::drawdown`]), visiting only blocks whose extremes could matter.
//!
//! Both backtest modes record the same segments (a state is set at each
//! candle the engine sees; skipped candles cannot change it), so their
//! metrics are identical.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::candles::Candles;
use super::drawdown::Drawdown;
use super::returns;

/// Equity as a function of price while no fill happens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EquityState {
    /// Equity at price zero.
    pub a: Decimal,
    /// Signed base held (long > 0, short < 0), dust included.
    pub q: Decimal,
    /// Open deal's P&L at price zero.
    pub ua: Decimal,
    /// Open deal's signed quantity.
    pub uq: Decimal,
    pub a_f: f64,
    pub q_f: f64,
    pub ua_f: f64,
    pub uq_f: f64,
    /// A deal is open.
    pub in_deal: bool,
}

/// A fast `f64` image of a decimal: mantissa over a power of ten. Within a
/// few ulps of the exact value, which the filters' margins absorb; used for
/// every `f64` the backtest paths share, so they stay bit-identical.
#[inline]
pub(crate) fn to_f64(d: Decimal) -> f64 {
    const POW10: [f64; 29] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28,
    ];
    let m = d.mantissa();
    // Mantissas of prices and sizes fit in 64 bits: i64 -> f64 is one
    // instruction, i128 -> f64 a library call; both round the same way.
    let m = match i64::try_from(m) {
        Ok(small) => small as f64,
        Err(_) => m as f64,
    };
    m / POW10[(d.scale() as usize).min(28)]
}

impl EquityState {
    pub fn new(a: Decimal, q: Decimal, ua: Decimal, uq: Decimal, in_deal: bool) -> Self {
        let f = to_f64;
        EquityState { a, q, ua, uq, a_f: f(a), q_f: f(q), ua_f: f(ua), uq_f: f(uq), in_deal }
    }
}

/// One piece of a backtest's equity path: from candle `start` on (until
/// the next piece starts), equity at a candle's close is
/// `cash + base * close`. `cash` is quote (initial capital plus realized
/// P&L plus the open deal's cash flows), `base` the signed quantity held
/// (negative for a short, dust included). The pieces of a result start at
/// candle 0 and are sorted by `start`; they change only where a fill
/// happened, so a multi-million-candle backtest has a few thousand.
///
/// ```
/// use martingale_core::backtest::EquitySegment;
/// use rust_decimal_macros::dec;
/// let s = EquitySegment { start: 0, cash: dec!(10), base: dec!(0.5) };
/// assert_eq!(s.equity_at(dec!(100)), dec!(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquitySegment {
    /// First candle the piece covers.
    pub start: usize,
    /// Equity at price zero (quote).
    pub cash: Decimal,
    /// Signed base quantity held.
    pub base: Decimal,
}

impl EquitySegment {
    /// Equity at a close of `price`.
    pub fn equity_at(&self, price: Decimal) -> Decimal {
        self.cash + self.base * price
    }
}

/// Equity at every close of `candles` along `path` (sorted pieces, the
/// first starting at 0), exact. Candles before the first piece (none in a
/// backtest's path) count as zero.
pub fn equity_curve(path: &[EquitySegment], candles: &Candles) -> Vec<Decimal> {
    let closes = candles.closes();
    let mut out = Vec::with_capacity(closes.len());
    for_each_piece(path, closes.len(), |k, range| match path.get(k) {
        Some(s) => out.extend(closes.get(range).unwrap_or_default().iter().map(|&c| s.equity_at(c))),
        None => out.extend(std::iter::repeat_n(Decimal::ZERO, range.len())),
    });
    out
}

/// [`equity_curve`] as `f64` images (`cash_f + base_f * close_f`, within a
/// few ulps of the exact value): for plots and numeric tools, a few
/// milliseconds for millions of candles.
pub fn equity_curve_f64(path: &[EquitySegment], candles: &Candles) -> Vec<f64> {
    let closes = &candles.close_f;
    let mut out = Vec::with_capacity(closes.len());
    for_each_piece(path, closes.len(), |k, range| match path.get(k) {
        Some(s) => {
            let (a, q) = (to_f64(s.cash), to_f64(s.base));
            out.extend(closes.get(range).unwrap_or_default().iter().map(|&c| a + q * c));
        }
        None => out.extend(std::iter::repeat_n(0.0, range.len())),
    });
    out
}

/// Calls `f(piece, candles)` for the candles `0..n` in order: `piece` is the
/// index into `path` of the piece covering them (`path.len()` for candles
/// before the first piece).
fn for_each_piece(path: &[EquitySegment], n: usize, mut f: impl FnMut(usize, std::ops::Range<usize>)) {
    let first = path.first().map_or(n, |s| s.start.min(n));
    if first > 0 {
        f(path.len(), 0..first);
    }
    for (k, s) in path.iter().enumerate() {
        let end = path.get(k + 1).map_or(n, |t| t.start).min(n);
        if s.start < end {
            f(k, s.start..end);
        }
    }
}

/// From candle `start` on (until the next segment), equity follows `state`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment {
    pub start: usize,
    pub state: EquityState,
}

/// The equity path of a backtest: one segment per change of state.
#[derive(Debug, Clone)]
pub(crate) struct EquityPath {
    segments: Vec<Segment>,
    /// Equity before the first candle (the first return is measured
    /// against it, whatever state candle 0 ends with).
    initial_f: f64,
    /// Candles in which a deal was open at some point but not at the close.
    flat_deal_candles: u64,
}

/// What the statistics found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EquityStats {
    pub max_drawdown: Decimal,
    pub max_drawdown_pct: Decimal,
    pub max_unrealized_loss: Decimal,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    /// Candles with a deal open at some point.
    pub in_deal_candles: u64,
}

impl EquityPath {
    /// A path starting flat at `initial`.
    /// A path starting flat at `initial`, with room for `capacity` segments.
    pub fn new(initial: Decimal, capacity: usize) -> Self {
        let state = EquityState::new(initial, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, false);
        let mut segments = Vec::with_capacity(capacity.max(1));
        segments.push(Segment { start: 0, state });
        EquityPath { segments, initial_f: state.a_f, flat_deal_candles: 0 }
    }

    /// From candle `from` on, equity follows `state`. Calls come in candle
    /// order; a later call for the same candle replaces the earlier one.
    pub fn set(&mut self, from: usize, state: EquityState) {
        let len = self.segments.len();
        let Some(last) = self.segments.last_mut() else {
            self.segments.push(Segment { start: from, state });
            return;
        };
        if last.state == state {
            return;
        }
        if last.start == from {
            if len == 1 {
                last.state = state;
                return;
            }
            self.segments.pop();
            // The replaced state may have split two equal ones.
            if self.segments.last().is_some_and(|s| s.state == state) {
                return;
            }
        }
        self.segments.push(Segment { start: from, state });
    }

    /// A deal was open during the current candle though none is at its
    /// close (it opened and closed inside the candle).
    pub fn deal_seen(&mut self) {
        self.flat_deal_candles += 1;
    }

    /// The path as public pieces.
    pub fn pieces(&self) -> Vec<EquitySegment> {
        self.segments.iter().map(|s| EquitySegment { start: s.start, cash: s.state.a, base: s.state.q }).collect()
    }

    /// Statistics of the path over `candles`, Sharpe and Sortino annualised
    /// with `periods_per_year` returns a year.
    pub fn stats(&self, candles: &Candles, periods_per_year: f64) -> EquityStats {
        let n = candles.len();
        let mut dd = Drawdown::new();
        let mut in_deal = self.flat_deal_candles;
        for (k, seg) in self.segments.iter().enumerate() {
            let end = self.segments.get(k + 1).map_or(n, |s| s.start).min(n);
            if seg.start >= end {
                continue;
            }
            let range = seg.start..end;
            dd.run(candles, &seg.state, range.clone());
            if seg.state.in_deal {
                in_deal += (end - seg.start) as u64;
                dd.unrealized_run(candles, &seg.state, range);
            }
        }
        let (sharpe, sortino) =
            returns::ratios(returns::sums(&self.segments, &candles.close_f, self.initial_f), periods_per_year);
        let (max_drawdown, max_drawdown_pct, min_unrealized) = dd.finish();
        EquityStats {
            max_drawdown,
            max_drawdown_pct: max_drawdown_pct.round_dp(6),
            max_unrealized_loss: -min_unrealized,
            sharpe,
            sortino,
            in_deal_candles: in_deal,
        }
    }
}

/// `min` without NaN handling (no NaN reaches these loops: prices are
/// validated, states are finite; a guarded-out lane may hold one and is
/// discarded), so it compiles to one instruction.
#[inline(always)]
pub(crate) fn fmin(a: f64, b: f64) -> f64 {
    if a < b {
        a
    } else {
        b
    }
}

/// `max` without NaN handling, see [`fmin`].
#[inline(always)]
pub(crate) fn fmax(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn state(a: Decimal, q: Decimal) -> EquityState {
        EquityState::new(a, q, Decimal::ZERO, q, !q.is_zero())
    }

    #[test]
    fn set_merges_equal_states_and_replaces_within_a_candle() {
        let mut p = EquityPath::new(dec!(100), 4);
        p.set(0, state(dec!(100), dec!(0)));
        assert_eq!(p.segments.len(), 1);
        p.set(3, state(dec!(50), dec!(1)));
        p.set(3, state(dec!(100), dec!(0))); // undone in the same candle
        assert_eq!(p.segments.len(), 1);
        p.set(5, state(dec!(40), dec!(2)));
        p.set(5, state(dec!(30), dec!(3)));
        assert_eq!(p.segments.len(), 2);
        assert_eq!(p.segments[1].start, 5);
        assert_eq!(p.segments[1].state.a, dec!(30));
    }
}
