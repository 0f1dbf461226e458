//! Backtest metrics (SPEC section 7) and the equity tracker both backtest
//! paths share.
//!
//! Equity at a candle close is `a + q * close`, where `a` (quote) and `q`
//! (base, signed: negative for a short) only change when a fill happens.
//! Money results (drawdown, unrealized loss) are exact: `f64` is used only
//! to filter the candles that could set a new extreme (with a safety margin);
//! those are then computed in `Decimal`. Sharpe and Sortino are `f64`
//! statistics of per-candle returns of `a_f + q_f * close_f` (the `f64`
//! images of the exact values), accumulated in candle order, so every path
//! that feeds the tracker the same states gets bit-identical figures.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::candles::{Candles, BLOCK};

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
    d.mantissa() as f64 / POW10[(d.scale() as usize).min(28)]
}

impl EquityState {
    pub fn new(a: Decimal, q: Decimal, ua: Decimal, uq: Decimal, in_deal: bool) -> Self {
        let f = to_f64;
        EquityState { a, q, ua, uq, a_f: f(a), q_f: f(q), ua_f: f(ua), uq_f: f(uq), in_deal }
    }
}

/// Relative margin of the `f64` filters: far above `f64` rounding of these
/// sums (~1e-16) and far below any money difference that matters.
const TOL: f64 = 1e-9;

// Branch-free max / min (`f64::max` handles NaN with branches; no NaN
// reaches these loops: prices are validated, states are finite).
#[inline(always)]
fn fmax(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}

#[inline(always)]
fn fmin(a: f64, b: f64) -> f64 {
    if a < b {
        a
    } else {
        b
    }
}

/// The return sums of a block whose drawdown is known quiet: the same
/// additions, lane by lane, as `EquityTracker::four` on each of its chunks.
/// `positive` says every equity in the block (and `prev`) is above zero, so
/// the `prev > 0` guard of each return can be dropped: the results are the
/// same, the loop runs twice as fast.
#[inline]
#[allow(clippy::too_many_arguments)]
fn returns_block(
    closes: &[f64],
    a: f64,
    q: f64,
    mut prev: f64,
    positive: bool,
    s1: &mut [f64; 4],
    s2: &mut [f64; 4],
    sd: &mut [f64; 4],
) -> f64 {
    let (mut x1, mut x2, mut xd) = (*s1, *s2, *sd);
    if positive {
        for cl in closes.chunks_exact(4) {
            let e = [a + q * cl[0], a + q * cl[1], a + q * cl[2], a + q * cl[3]];
            let r = [e[0] / prev - 1.0, e[1] / e[0] - 1.0, e[2] / e[1] - 1.0, e[3] / e[2] - 1.0];
            for l in 0..4 {
                x1[l] += r[l];
                x2[l] += r[l] * r[l];
                let d = fmin(r[l], 0.0);
                xd[l] += d * d;
            }
            prev = e[3];
        }
    } else {
        for cl in closes.chunks_exact(4) {
            let e = [a + q * cl[0], a + q * cl[1], a + q * cl[2], a + q * cl[3]];
            let p = [prev, e[0], e[1], e[2]];
            for l in 0..4 {
                let r = if p[l] > 0.0 { e[l] / p[l] - 1.0 } else { 0.0 };
                x1[l] += r;
                x2[l] += r * r;
                let d = fmin(r, 0.0);
                xd[l] += d * d;
            }
            prev = e[3];
        }
    }
    (*s1, *s2, *sd) = (x1, x2, xd);
    prev
}

/// Accumulates equity statistics candle by candle.
///
/// The state (`a`, `q`) changes only through [`EquityTracker::set_state`];
/// candles are fed in runs that share it. The hot loop is `f64` only; the
/// exact `Decimal` work happens for the rare candles near a new extreme.
#[derive(Debug, Clone)]
pub(crate) struct EquityTracker {
    state: EquityState,
    epoch: u64,
    prev_f: f64,
    n: u64,
    // Sums of returns, squared returns and squared downside returns, in four
    // lanes keyed by candle index mod 4: the order of additions is then the
    // same however candles are grouped into runs, and the loop vectorizes.
    sum_r: [f64; 4],
    sum_r2: [f64; 4],
    sum_down2: [f64; 4],
    // Peak: its f64 value, candle and the epoch of its state; the exact
    // state is saved when the epoch moves on while it is the peak's.
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
    pub in_deal_candles: u64,
}

impl EquityTracker {
    pub fn new(initial: Decimal) -> Self {
        let state = EquityState::new(initial, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, false);
        EquityTracker {
            state,
            epoch: 0,
            prev_f: state.a_f,
            n: 0,
            sum_r: [0.0; 4],
            sum_r2: [0.0; 4],
            sum_down2: [0.0; 4],
            has_peak: false,
            peak_f: 0.0,
            peak_index: 0,
            peak_epoch: 0,
            peak_state: (initial, Decimal::ZERO),
            peak_exact: None,
            max_dd: Decimal::ZERO,
            max_dd_f: 0.0,
            max_dd_pct: Decimal::ZERO,
            max_dd_pct_f: 0.0,
            min_unreal: Decimal::ZERO,
            min_unreal_f: 0.0,
            in_deal_candles: 0,
        }
    }

    /// The equity state from now on.
    pub fn set_state(&mut self, s: EquityState) {
        if s == self.state {
            return;
        }
        if self.has_peak && self.peak_epoch == self.epoch {
            self.peak_state = (self.state.a, self.state.q);
        }
        self.state = s;
        self.epoch += 1;
    }

    /// Candle `i` closed; `deal_seen` is true when a deal was open at some
    /// point of the candle.
    pub fn push(&mut self, c: &Candles, i: usize, deal_seen: bool) {
        let worst = if self.state.uq_f >= 0.0 { c.low_f[i] } else { c.high_f[i] };
        // A run of one candle: always the scalar path.
        self.push_run(c, i..i + 1, worst);
        if deal_seen && !self.state.in_deal {
            self.in_deal_candles += 1;
        }
    }

    /// Candles `range` closed with the current state; `worst_f` is their
    /// lowest low (long) or highest high (short).
    pub fn push_run(&mut self, c: &Candles, range: std::ops::Range<usize>, worst_f: f64) {
        let (start, end) = (range.start, range.end);
        let mut i = start;
        // Scalar until the candle index is a multiple of 4, then chunks of 4.
        while i < end && i % 4 != 0 {
            self.one(c, i);
            i += 1;
        }
        if i + 4 <= end {
            // Sums and the previous equity stay in registers across chunks.
            let (mut s1, mut s2, mut sd, mut prev) = (self.sum_r, self.sum_r2, self.sum_down2, self.prev_f);
            while i + 4 <= end {
                if i.is_multiple_of(BLOCK) && i + BLOCK <= end && self.block_quiet(c, i / BLOCK) {
                    // Nothing in this block can touch the drawdown: returns only.
                    let (a, q) = (self.state.a_f, self.state.q_f);
                    let (cmin, cmax) = c.blk_close[i / BLOCK];
                    let positive = prev > 0.0 && a + q * cmin > 0.0 && a + q * cmax > 0.0;
                    let closes = &c.close_f[i..i + BLOCK];
                    prev = returns_block(closes, a, q, prev, positive, &mut s1, &mut s2, &mut sd);
                    i += BLOCK;
                    continue;
                }
                prev = self.four(c, i, prev, &mut s1, &mut s2, &mut sd);
                i += 4;
            }
            (self.sum_r, self.sum_r2, self.sum_down2, self.prev_f) = (s1, s2, sd, prev);
        }
        while i < end {
            self.one(c, i);
            i += 1;
        }
        self.n += (end - start) as u64;
        if self.state.in_deal {
            self.in_deal_candles += (end - start) as u64;
            let s = self.state;
            let u = s.ua_f + s.uq_f * worst_f;
            if u < self.min_unreal_f + TOL * (s.ua_f.abs() + (s.uq_f * worst_f).abs() + 1.0) {
                self.unrealized_run(c, start, end);
            }
        }
    }

    /// Checks the candles of a run whose worst price could set a new
    /// maximum unrealized loss. `u = ua + uq * w` is below the current
    /// minimum `m` exactly when `w` is beyond `(m - ua) / uq`; that price,
    /// widened by a margin far above f64 rounding, picks the candles that
    /// get the exact check.
    fn unrealized_run(&mut self, c: &Candles, start: usize, end: usize) {
        let (ua, uq) = (self.state.ua_f, self.state.uq_f);
        if uq == 0.0 {
            for i in start..end {
                self.unrealized(c, i);
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
        let mut i = start;
        while i < end {
            // Whole blocks whose extreme cannot reach the limit are skipped.
            if i.is_multiple_of(BLOCK) && i + BLOCK <= end {
                let k = i / BLOCK;
                let reach = if uq > 0.0 { c.blk_low[k] < w } else { c.blk_high[k] > w };
                if !reach {
                    i += BLOCK;
                    continue;
                }
            }
            let hit = if uq > 0.0 { c.low_f[i] < w } else { c.high_f[i] > w };
            if hit {
                self.unrealized(c, i);
                w = limit(self.min_unreal_f);
            }
            i += 1;
        }
    }

    #[inline]
    fn one(&mut self, c: &Candles, i: usize) {
        let close = c.close_f[i];
        let e = self.state.a_f + self.state.q_f * close;
        let r = if self.prev_f > 0.0 { e / self.prev_f - 1.0 } else { 0.0 };
        self.prev_f = e;
        let l = i % 4;
        self.sum_r[l] += r;
        self.sum_r2[l] += r * r;
        let d = fmin(r, 0.0);
        self.sum_down2[l] += d * d;
        self.peak_check(c, i, e, close);
    }

    /// Four candles from `i` (a multiple of 4): the same additions as four
    /// calls of `one`, lane by lane.
    #[inline(always)]
    fn four(
        &mut self,
        c: &Candles,
        i: usize,
        prev_e: f64,
        s1: &mut [f64; 4],
        s2: &mut [f64; 4],
        sd: &mut [f64; 4],
    ) -> f64 {
        let (a, q) = (self.state.a_f, self.state.q_f);
        let cl: [f64; 4] = c.close_f[i..i + 4].try_into().unwrap_or([0.0; 4]);
        let e = [a + q * cl[0], a + q * cl[1], a + q * cl[2], a + q * cl[3]];
        let prev = [prev_e, e[0], e[1], e[2]];
        for l in 0..4 {
            let r = if prev[l] > 0.0 { e[l] / prev[l] - 1.0 } else { 0.0 };
            s1[l] += r;
            s2[l] += r * r;
            let d = fmin(r, 0.0);
            sd[l] += d * d;
        }
        // Drawdown: only look at single candles if one could matter.
        let (hi, lo) = (fmax(fmax(e[0], e[1]), fmax(e[2], e[3])), fmin(fmin(e[0], e[1]), fmin(e[2], e[3])));
        // `peak_check` uses a tolerance growing with the close: the chunk is
        // quiet only if every candle is, so compare with the smallest
        // tolerance where a larger one would let a candle through, and with
        // the largest where a smaller one would.
        let cmax = fmax(fmax(cl[0], cl[1]), fmax(cl[2], cl[3]));
        let cmin = fmin(fmin(cl[0], cl[1]), fmin(cl[2], cl[3]));
        let tol_min = TOL * (a.abs() + 1.0) + TOL * q.abs() * cmin;
        let tol_max = TOL * (a.abs() + 1.0) + TOL * q.abs() * cmax;
        let flat_at_peak = q == 0.0 && self.state.q.is_zero() && self.peak_epoch == self.epoch;
        let quiet = self.has_peak
            && hi <= self.peak_f + tol_min
            && (self.peak_f - hi > tol_max || flat_at_peak)
            && self.peak_f - lo <= self.max_dd_f - tol_max
            && self.peak_f - lo <= (self.max_dd_pct_f - TOL) * self.peak_f;
        if !quiet {
            for (k, &ek) in e.iter().enumerate() {
                self.peak_check(c, i + k, ek, cl[k]);
            }
        }
        e[3]
    }

    /// True when no candle of block `k` can set a new peak or a drawdown
    /// the scalar path would look at (the same test as `four`, on the
    /// block's extreme closes).
    #[inline]
    fn block_quiet(&self, c: &Candles, k: usize) -> bool {
        let (a, q) = (self.state.a_f, self.state.q_f);
        let (cmin, cmax) = c.blk_close[k];
        let (e1, e2) = (a + q * cmin, a + q * cmax);
        let (hi, lo) = (fmax(e1, e2), fmin(e1, e2));
        let tol_min = TOL * (a.abs() + 1.0) + TOL * q.abs() * cmin;
        let tol_max = TOL * (a.abs() + 1.0) + TOL * q.abs() * cmax;
        let flat_at_peak = q == 0.0 && self.state.q.is_zero() && self.peak_epoch == self.epoch;
        self.has_peak
            && hi <= self.peak_f + tol_min
            && (self.peak_f - hi > tol_max || flat_at_peak)
            && self.peak_f - lo <= self.max_dd_f - tol_max
            && self.peak_f - lo <= (self.max_dd_pct_f - TOL) * self.peak_f
    }

    #[inline]
    fn peak_check(&mut self, c: &Candles, i: usize, e: f64, close: f64) {
        let tol = TOL * (self.state.a_f.abs() + 1.0) + TOL * self.state.q_f.abs() * close;
        if !self.has_peak || e > self.peak_f + tol {
            self.has_peak = true;
            self.peak_f = e;
            self.peak_index = i;
            self.peak_epoch = self.epoch;
            self.peak_exact = None;
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
                self.peak_f = e;
                self.peak_index = i;
                self.peak_exact = None;
                return;
            }
            if now == then || !candidate {
                return;
            }
        } else if dd > tol && !candidate {
            return;
        }
        self.exact_drawdown(c, i, e);
    }

    fn exact_drawdown(&mut self, c: &Candles, i: usize, e: f64) {
        let exact = self.state.a + self.state.q * c.closes()[i];
        let peak_value = self.exact_peak(c);
        if exact > peak_value {
            self.peak_f = e;
            self.peak_index = i;
            self.peak_epoch = self.epoch;
            self.peak_exact = Some(exact);
            return;
        }
        let dd = peak_value - exact;
        if dd > self.max_dd {
            self.max_dd = dd;
            self.max_dd_f = dd.to_f64().unwrap_or(f64::MAX);
        }
        if peak_value > Decimal::ZERO {
            let pct = dd * Decimal::ONE_HUNDRED / peak_value;
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
        let (a, q) = if self.peak_epoch == self.epoch { (self.state.a, self.state.q) } else { self.peak_state };
        let v = a + q * c.closes()[self.peak_index];
        self.peak_exact = Some(v);
        v
    }

    fn unrealized(&mut self, c: &Candles, i: usize) {
        let s = self.state;
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

    /// Finishes the statistics.
    pub fn finish(&self, interval_ms: i64) -> EquityStats {
        let n = self.n as f64;
        let sum = |x: &[f64; 4]| ((x[0] + x[1]) + x[2]) + x[3];
        let (sum_r, sum_r2, sum_down2) = (sum(&self.sum_r), sum(&self.sum_r2), sum(&self.sum_down2));
        let ppy = if interval_ms > 0 { 365.25 * 86_400_000.0 / interval_ms as f64 } else { 0.0 };
        let mean = if self.n > 0 { sum_r / n } else { 0.0 };
        let var = if self.n > 1 { (sum_r2 - n * mean * mean) / (n - 1.0) } else { 0.0 };
        let sd = var.max(0.0).sqrt();
        let down = if self.n > 0 { (sum_down2 / n).sqrt() } else { 0.0 };
        let ratio = |x: f64| (x > 0.0 && self.n > 1).then(|| mean / x * ppy.sqrt());
        EquityStats {
            max_drawdown: self.max_dd,
            max_drawdown_pct: self.max_dd_pct.round_dp(6),
            max_unrealized_loss: -self.min_unreal,
            sharpe: ratio(sd),
            sortino: ratio(down),
        }
    }
}

/// What the tracker found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EquityStats {
    pub max_drawdown: Decimal,
    pub max_drawdown_pct: Decimal,
    pub max_unrealized_loss: Decimal,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
}

/// The metrics of SPEC section 7.
///
/// ```
/// use martingale_core::backtest::{backtest, synthetic, BacktestOptions};
/// use martingale_core::config::BotFile;
/// let bot: BotFile = include_str!("../../../examples/bots/example.json").parse().unwrap();
/// let m = backtest(&bot, &synthetic::random_walk(2, 10_000, 60_000, 30_000.0, 0.0015), &BacktestOptions::default())
///     .unwrap().metrics;
/// assert_eq!(m.candles, 10_000);
/// assert!(m.max_drawdown >= rust_decimal::Decimal::ZERO);
/// assert_eq!(serde_json::to_value(&m).unwrap()["closed_deals"], serde_json::json!(m.closed_deals));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Candles in the series.
    pub candles: usize,
    /// Fills.
    pub fills: usize,
    /// Closed deals.
    pub closed_deals: u64,
    /// Closed by take profit.
    pub take_profit_exits: u64,
    /// Closed by stop loss.
    pub stop_loss_exits: u64,
    /// Closed by trailing take profit.
    pub trailing_exits: u64,
    /// Closed by command.
    pub manual_exits: u64,
    /// Realized P&L, quote.
    pub realized_pnl: Decimal,
    /// Fees paid in quote.
    pub fees: Decimal,
    /// Fees withheld in base.
    pub fees_base: Decimal,
    /// Share of closed deals with positive P&L, percent.
    pub win_rate_pct: Option<Decimal>,
    /// Gross profit / gross loss.
    pub profit_factor: Option<Decimal>,
    /// Average closed-deal duration, seconds.
    pub avg_deal_duration_secs: Option<Decimal>,
    /// Longest closed-deal duration, seconds.
    pub max_deal_duration_secs: Option<i64>,
    /// Most safety orders filled in one deal (closed or open).
    pub max_safety_orders_used: u32,
    /// Largest quote committed by one deal.
    pub max_deal_cost: Decimal,
    /// Funds the ladder needs (at the first deal's entry price).
    pub funds_required: Decimal,
    /// Realized P&L / funds required, percent.
    pub return_on_funds_pct: Option<Decimal>,
    /// Initial capital (defaults to funds required).
    pub initial_capital: Decimal,
    /// Equity at the last close.
    pub final_equity: Decimal,
    /// Largest fall of equity from a previous peak, quote.
    pub max_drawdown: Decimal,
    /// Largest fall of equity from a previous peak, percent of the peak.
    pub max_drawdown_pct: Decimal,
    /// Worst open-deal P&L at a candle's worst price, as a positive loss.
    pub max_unrealized_loss: Decimal,
    /// Candles with a deal open, percent.
    pub time_in_deal_pct: Decimal,
    /// Annualised Sharpe ratio of per-candle equity returns.
    pub sharpe: Option<f64>,
    /// Annualised Sortino ratio of per-candle equity returns.
    pub sortino: Option<f64>,
}
