//! Exact maximum drawdown and maximum unrealized loss over an equity path.
//!
//! Equity `a + q * close` and the open deal's P&L `ua + uq * worst` are
//! exact `Decimal` values; computing them at every candle would dominate a
//! backtest. Their `f64` images (within ~1e-16 relative) filter the candles
//! instead: a block of 64 candles whose extreme closes cannot set a new peak
//! or a drawdown near the maximum is passed over whole; a block whose
//! largest fall (and distance below the peak) stays clear of the maximum
//! drawdown only looks at its highest close; inside other blocks
//! chunks of four are tested the same way; only the single candles that pass
//! every filter (with a margin `TOL` far above `f64` rounding) are computed
//! in `Decimal`. The filters only ever let more candles through, never
//! fewer, so the figures are exactly those of a per-candle `Decimal` loop.

use std::ops::Range;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::candles::{Candles, CloseBlock, BLOCK};
use super::equity::{fmax, fmin, EquityState};

/// Relative margin of the `f64` filters: far above `f64` rounding of these
/// sums (~1e-16) and far below any money difference that matters.
const TOL: f64 = 1e-9;

/// Running peak, drawdown and unrealized-loss minimum.
#[derive(Debug, Clone)]
pub(crate) struct Drawdown {
    /// The segment being visited, counted from 1.
    epoch: u64,
    state: EquityState,
    // Peak: its f64 value, candle and the epoch and exact state (a, q) of
    // its segment; the exact value is computed when first needed.
    has_peak: bool,
    peak_f: f64,
    peak_index: usize,
    peak_epoch: u64,
    peak_state: (Decimal, Decimal),
    peak_exact: Option<Decimal>,
    max_dd: Decimal,
    max_dd_f: f64,
    max_dd_pct: Decimal,
    max_dd_pct_f: f64,
    min_unreal: Decimal,
    min_unreal_f: f64,
}

/// The lowest and highest close of candles `start..end` inside block `b`:
/// the block's own when the range is the whole block, else computed (in
/// four independent lanes: min and max are exact in any order).
#[inline(always)]
fn range_extremes(c: &Candles, b: &CloseBlock, start: usize, end: usize) -> (f64, f64) {
    if start.is_multiple_of(BLOCK) && (end - start == BLOCK || end == c.close_f.len()) {
        return (b.min, b.max);
    }
    let closes = c.close_f.get(start..end).unwrap_or_default();
    let (mut lo, mut hi) = ([f64::INFINITY; 4], [f64::NEG_INFINITY; 4]);
    let mut quads = closes.chunks_exact(4);
    for q in &mut quads {
        for l in 0..4 {
            lo[l] = fmin(lo[l], q[l]);
            hi[l] = fmax(hi[l], q[l]);
        }
    }
    for &x in quads.remainder() {
        lo[0] = fmin(lo[0], x);
        hi[0] = fmax(hi[0], x);
    }
    (fmin(fmin(lo[0], lo[1]), fmin(lo[2], lo[3])), fmax(fmax(hi[0], hi[1]), fmax(hi[2], hi[3])))
}

impl Drawdown {
    pub fn new() -> Self {
        let zero = Decimal::ZERO;
        Drawdown {
            epoch: 0,
            state: EquityState::new(zero, zero, zero, zero, false),
            has_peak: false,
            peak_f: 0.0,
            peak_index: 0,
            peak_epoch: 0,
            peak_state: (zero, zero),
            peak_exact: None,
            max_dd: zero,
            max_dd_f: 0.0,
            max_dd_pct: zero,
            max_dd_pct_f: 0.0,
            min_unreal: zero,
            min_unreal_f: 0.0,
        }
    }

    /// Maximum drawdown (quote), its percent of the peak, and the lowest
    /// unrealized P&L seen (zero or negative).
    pub fn finish(&self) -> (Decimal, Decimal, Decimal) {
        (self.max_dd, self.max_dd_pct, self.min_unreal)
    }

    /// Candles `range` of one segment, whose state is `s`.
    ///
    /// Block by block: the extremes of a whole block bound the closes of any
    /// part of it, so the block filters apply to the ends of a segment too
    /// (where a segment starts or ends inside a block).
    pub fn run(&mut self, c: &Candles, s: &EquityState, range: Range<usize>) {
        self.epoch += 1;
        self.state = *s;
        let (mut i, end) = (range.start, range.end);
        while i < end {
            let k = i / BLOCK;
            let stop = ((k + 1) * BLOCK).min(end);
            if let Some(b) = c.blk_close.get(k) {
                if self.quiet(b.min, b.max) {
                    i = stop;
                    continue;
                }
                if self.below_peak(b.min, b.max) {
                    self.deepest(c, i, stop, range_extremes(c, b, i, stop));
                    i = stop;
                    continue;
                }
                if self.climbs(b) {
                    self.climb(c, i, stop, range_extremes(c, b, i, stop));
                    i = stop;
                    continue;
                }
            }
            while i < stop && i % 4 != 0 {
                self.check(c, i, self.equity(c, i));
                i += 1;
            }
            while i + 4 <= stop {
                self.four(c, i);
                i += 4;
            }
            while i < stop {
                self.check(c, i, self.equity(c, i));
                i += 1;
            }
        }
    }

    #[inline(always)]
    fn equity(&self, c: &Candles, i: usize) -> f64 {
        self.state.a_f + self.state.q_f * c.close_f[i]
    }

    /// True when no candle whose closes lie in `[cmin, cmax]` can set a new
    /// peak or a drawdown the per-candle check would look at.
    #[inline(always)]
    fn quiet(&self, cmin: f64, cmax: f64) -> bool {
        let (a, q) = (self.state.a_f, self.state.q_f);
        let (e1, e2) = (a + q * cmin, a + q * cmax);
        let (hi, lo) = (fmax(e1, e2), fmin(e1, e2));
        // `check` uses a tolerance growing with the close: compare with the
        // smallest tolerance where a larger one would let a candle through,
        // and with the largest where a smaller one would.
        let tol_min = TOL * (a.abs() + 1.0) + TOL * q.abs() * cmin;
        let tol_max = TOL * (a.abs() + 1.0) + TOL * q.abs() * cmax;
        let flat_at_peak = q == 0.0 && self.state.q.is_zero() && self.peak_epoch == self.epoch;
        self.has_peak
            && hi <= self.peak_f + tol_min
            && (self.peak_f - hi > tol_max || flat_at_peak)
            && self.peak_f - lo <= self.max_dd_f - tol_max
            && self.peak_f - lo <= (self.max_dd_pct_f - TOL) * self.peak_f
    }

    /// True when every candle whose close lies in `[cmin, cmax]` is below
    /// the peak by more than the filter's margin: the peak cannot move, so
    /// the deepest equity is the largest drawdown (in quote and percent).
    #[inline(always)]
    fn below_peak(&self, cmin: f64, cmax: f64) -> bool {
        let (a, q) = (self.state.a_f, self.state.q_f);
        let hi = fmax(a + q * cmin, a + q * cmax);
        let tol_max = TOL * (a.abs() + 1.0) + TOL * q.abs() * fmax(cmin.abs(), cmax.abs());
        self.has_peak && self.peak_f - hi > tol_max
    }

    /// True when no candle whose close lies in the block can come near the
    /// largest drawdown (in quote or percent), neither below the peak so far
    /// (at most `peak - lowest equity`) nor below a new peak set inside the
    /// block (at most the block's largest fall of equity): then only the
    /// peak can move.
    #[inline(always)]
    fn climbs(&self, b: &CloseBlock) -> bool {
        let (a, q) = (self.state.a_f, self.state.q_f);
        if !self.has_peak || q == 0.0 || self.peak_f <= 0.0 {
            return false;
        }
        let lo = fmin(a + q * b.min, a + q * b.max);
        let fall = if q > 0.0 { q * b.fall } else { -q * b.rise };
        let bound = fmax(self.peak_f - lo, fall);
        let tol_max = TOL * (a.abs() + 1.0) + TOL * q.abs() * fmax(b.min.abs(), b.max.abs());
        bound <= self.max_dd_f - 2.0 * tol_max && bound <= (self.max_dd_pct_f - 2.0 * TOL) * self.peak_f - tol_max
    }

    /// Candles `start..end` of a block that [`Self::climbs`]: the peak can
    /// only move to the highest equity, at the highest close (the lowest for
    /// a short); only the candles within `f64` rounding of that close can
    /// hold it exactly, and they are checked in order.
    fn climb(&mut self, c: &Candles, start: usize, end: usize, (cmin, cmax): (f64, f64)) {
        let Some(closes) = c.close_f.get(start..end) else { return };
        let (a, q) = (self.state.a_f, self.state.q_f);
        let best = if q > 0.0 { cmax } else { cmin };
        let margin = 1e-12 * (best.abs() + 1.0);
        for (k, &x) in closes.iter().enumerate() {
            if (x - best).abs() <= margin {
                self.check(c, start + k, a + q * x);
            }
        }
    }

    /// Candles `start..end`, all below the peak: only those within twice
    /// the margin of the lowest equity can hold the exact lowest, so only
    /// they are checked (in order; the others cannot change anything).
    ///
    /// `(cmin, cmax)` are the extremes of these closes: `a + q * x` rounds
    /// monotonically in `x`, so its lowest value is at one of them, exactly
    /// as if computed at every candle.
    fn deepest(&mut self, c: &Candles, start: usize, end: usize, (cmin, cmax): (f64, f64)) {
        let Some(closes) = c.close_f.get(start..end) else { return };
        let (a, q) = (self.state.a_f, self.state.q_f);
        let low = fmin(a + q * cmin, a + q * cmax);
        let cmax = fmax(cmin.abs(), cmax.abs());
        let limit = low + 2.0 * (TOL * (a.abs() + 1.0) + TOL * q.abs() * cmax);
        for (k, &x) in closes.iter().enumerate() {
            let e = a + q * x;
            if e <= limit {
                self.check(c, start + k, e);
            }
        }
    }

    /// Four candles from `i`: one test for all, single checks if it fails.
    #[inline(always)]
    fn four(&mut self, c: &Candles, i: usize) {
        let Some(cl) = c.close_f.get(i..i + 4) else { return };
        let cmax = fmax(fmax(cl[0], cl[1]), fmax(cl[2], cl[3]));
        let cmin = fmin(fmin(cl[0], cl[1]), fmin(cl[2], cl[3]));
        if !self.quiet(cmin, cmax) {
            for k in i..i + 4 {
                self.check(c, k, self.equity(c, k));
            }
        }
    }

    /// Candle `i` with equity image `e`.
    #[inline]
    fn check(&mut self, c: &Candles, i: usize, e: f64) {
        let close = c.close_f[i];
        let tol = TOL * (self.state.a_f.abs() + 1.0) + TOL * self.state.q_f.abs() * close;
        if !self.has_peak || e > self.peak_f + tol {
            self.set_peak(i, e, None);
            return;
        }
        let dd = self.peak_f - e;
        let candidate = dd > self.max_dd_f - tol || dd > (self.max_dd_pct_f - TOL) * self.peak_f;
        if dd <= tol && self.peak_epoch == self.epoch {
            // Same exact state as the peak: equity is ordered like the close
            // (reversed for a short), so compare the closes exactly.
            let q = self.state.q;
            if q.is_zero() {
                return; // flat: equal to the peak
            }
            let (now, then) = (c.closes()[i], c.closes()[self.peak_index]);
            if (q > Decimal::ZERO && now > then) || (q < Decimal::ZERO && now < then) {
                self.set_peak(i, e, None);
                return;
            }
            if now == then || !candidate {
                return;
            }
        } else if dd > tol && !candidate {
            return;
        }
        self.exact(c, i, e);
    }

    fn set_peak(&mut self, i: usize, e: f64, exact: Option<Decimal>) {
        self.has_peak = true;
        self.peak_f = e;
        self.peak_index = i;
        if self.peak_epoch != self.epoch {
            self.peak_epoch = self.epoch;
            self.peak_state = (self.state.a, self.state.q);
        }
        self.peak_exact = exact;
    }

    fn exact(&mut self, c: &Candles, i: usize, e: f64) {
        let exact = self.state.a + self.state.q * c.closes()[i];
        let peak = self.exact_peak(c);
        if exact > peak {
            self.set_peak(i, e, Some(exact));
            return;
        }
        let dd = peak - exact;
        if dd > self.max_dd {
            self.max_dd = dd;
            self.max_dd_f = dd.to_f64().unwrap_or(f64::MAX);
        }
        if peak > Decimal::ZERO {
            let pct = dd * Decimal::ONE_HUNDRED / peak;
            if pct > self.max_dd_pct {
                self.max_dd_pct = pct;
                self.max_dd_pct_f = (pct / Decimal::ONE_HUNDRED).to_f64().unwrap_or(f64::MAX);
            }
        }
    }

    fn exact_peak(&mut self, c: &Candles) -> Decimal {
        if let Some(v) = self.peak_exact {
            return v;
        }
        let (a, q) = self.peak_state;
        let v = a + q * c.closes()[self.peak_index];
        self.peak_exact = Some(v);
        v
    }

    /// Candles `range` of a segment with a deal open: the open deal's P&L
    /// at each candle's worst price (low for a long, high for a short).
    /// `u = ua + uq * w` is below the current minimum `m` exactly when `w`
    /// is beyond `(m - ua) / uq`; that price, widened by a margin far above
    /// `f64` rounding, picks the blocks and candles that get the exact check.
    pub fn unrealized_run(&mut self, c: &Candles, s: &EquityState, range: Range<usize>) {
        let (ua, uq) = (s.ua_f, s.uq_f);
        if uq == 0.0 {
            for i in range {
                self.unrealized(c, s, i);
            }
            return;
        }
        let limit = |m: f64| {
            let w = (m - ua) / uq;
            let margin = 1e-7 * (w.abs() + 1.0);
            if uq > 0.0 {
                w + margin
            } else {
                w - margin
            }
        };
        let mut w = limit(self.min_unreal_f);
        let (mut i, end) = (range.start, range.end);
        let (exts, worst) = if uq > 0.0 { (&c.blk_low, &c.low_f) } else { (&c.blk_high, &c.high_f) };
        while i < end {
            // Jump to the next block (or part of one in this segment) whose
            // extreme reaches the limit: one tight search, since most blocks
            // are far from it.
            let from = i / BLOCK;
            let blocks = exts.get(from..end.div_ceil(BLOCK)).unwrap_or_default();
            let next = if uq > 0.0 { blocks.iter().position(|x| *x < w) } else { blocks.iter().position(|x| *x > w) };
            let Some((d, &ext)) = next.and_then(|d| blocks.get(d).map(|x| (d, x))) else { break };
            if d > 0 {
                i = (from + d) * BLOCK;
            }
            let k = i / BLOCK;
            let stop = ((k + 1) * BLOCK).min(end);
            if i == k * BLOCK && stop == i + BLOCK {
                // `u` is monotone in the worst price: only the candles at the
                // block's extreme (within f64 rounding of the exact prices)
                // can hold the block's lowest exact `u`.
                let margin = 1e-12 * (ext.abs() + 1.0);
                for (j, x) in worst.iter().enumerate().skip(i).take(BLOCK) {
                    if (x - ext).abs() <= margin {
                        self.unrealized(c, s, j);
                    }
                }
                w = limit(self.min_unreal_f);
                i = stop;
                continue;
            }
            while i < stop {
                let hit = if uq > 0.0 { c.low_f[i] < w } else { c.high_f[i] > w };
                if hit {
                    self.unrealized(c, s, i);
                    w = limit(self.min_unreal_f);
                }
                i += 1;
            }
        }
    }

    fn unrealized(&mut self, c: &Candles, s: &EquityState, i: usize) {
        let worst_is_low = s.uq_f >= 0.0;
        let worst_f = if worst_is_low { c.low_f[i] } else { c.high_f[i] };
        let u = s.ua_f + s.uq_f * worst_f;
        let tol = TOL * (s.ua_f.abs() + (s.uq_f * worst_f).abs() + 1.0);
        if u < self.min_unreal_f + tol {
            let w = c.get(i).map_or(Decimal::ZERO, |k| if worst_is_low { k.low } else { k.high });
            let exact = s.ua + s.uq * w;
            if exact < self.min_unreal {
                self.min_unreal = exact;
                self.min_unreal_f = exact.to_f64().unwrap_or(f64::MIN);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::equity::EquityState;
    use proptest::prelude::*;

    /// Closes: a drift with noise, and sharp V's (a crash and its recovery
    /// inside a few candles), so peaks, troughs and the largest drawdown
    /// fall inside single blocks as well as across them. In cents, or with
    /// 10 more digits (17 or so significant: different prices can share an
    /// `f64` image, so the filters must leave the exact choice to Decimal).
    fn closes() -> impl Strategy<Value = Vec<Decimal>> {
        let steps = prop::collection::vec((-30i64..40, 0u8..40, 1i64..4_000, 0i64..3), 64..1_500);
        (steps, 1_000_000i64..5_000_000, any::<bool>()).prop_map(|(steps, start, fine)| {
            let mut x = start;
            let mut out = Vec::with_capacity(steps.len());
            for (step, kind, size, digits) in steps {
                x += step * 50;
                // One candle in 40 crashes, the next one in 40 recovers.
                match kind {
                    0 => x -= size * 100,
                    1 => x += size * 100,
                    _ => {}
                }
                x = x.max(100);
                out.push(if fine { Decimal::new(x * 10_000_000_000 + digits, 12) } else { Decimal::new(x, 2) });
            }
            out
        })
    }

    /// Segments: (start, a, q) with q of either sign (and zero).
    fn segments(n: usize) -> impl Strategy<Value = Vec<(usize, i64, i64)>> {
        prop::collection::vec((0..n, -50_000i64..200_000, -30i64..30), 0..6).prop_map(move |mut s| {
            s.push((0, 100_000, 2));
            s.sort_by_key(|x| x.0);
            s.dedup_by_key(|x| x.0);
            s
        })
    }

    fn state(a: i64, q: i64) -> EquityState {
        // a in whole quote, q in tenths of a unit.
        let (a, q) = (Decimal::from(a), Decimal::new(q, 1));
        EquityState::new(a, q, Decimal::ZERO, q, q != Decimal::ZERO)
    }

    /// The exact equity at every close.
    fn curve(c: &Candles, segs: &[(usize, i64, i64)]) -> Vec<Decimal> {
        let mut k = 0;
        (0..c.len())
            .map(|i| {
                while segs.get(k + 1).is_some_and(|s| s.0 <= i) {
                    k += 1;
                }
                let s = state(segs[k].1, segs[k].2);
                s.a + s.q * c.closes()[i]
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        /// Whatever the block filters pass over (quiet blocks, blocks below
        /// the peak, climbing blocks), the result is the per-candle one.
        #[test]
        fn filters_equal_the_per_candle_loop((prices, segs) in closes().prop_flat_map(|c| {
            let n = c.len();
            (Just(c), segments(n))
        })) {
            let n = prices.len();
            let time = (0..n as i64).map(|i| i * 60_000).collect();
            let c = Candles::new(time, prices.clone(), prices.clone(), prices.clone(), prices).unwrap();
            let mut dd = Drawdown::new();
            for (k, &(start, a, q)) in segs.iter().enumerate() {
                let end = segs.get(k + 1).map_or(n, |s| s.0);
                dd.run(&c, &state(a, q), start..end);
            }
            let (max_dd, max_pct, _) = dd.finish();
            prop_assert_eq!((max_dd, max_pct), crate::backtest::max_drawdown(&curve(&c, &segs)));
        }
    }
}
