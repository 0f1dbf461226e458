//! The backtest loop: reference and fast modes over one driver.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::candles::{Candles, BLOCK};
use super::driver::Driver;
use super::equity::{to_f64, EquityPath, EquityState};
use super::metrics::Metrics;
use super::sim::FillRecord;
use crate::config::{BotFile, ConfigError};
use crate::engine::{BotId, Command, Engine, EngineError, Event, ExitKind, Phase, PhaseKind, TimeMs};
use crate::ladder;
use crate::{OrderSide, Side};

/// How to walk the candles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Skip candles that cannot trigger anything (identical results).
    #[default]
    Fast,
    /// Hand every candle to the event-driven driver.
    Reference,
}

/// Options of a backtest.
#[derive(Debug, Clone, Default)]
pub struct BacktestOptions {
    /// Equity at the start (default: the funds the ladder requires).
    pub initial_capital: Option<Decimal>,
    /// Entry signals, one per candle (`start_condition = signal`): a signal on
    /// candle i lets a deal open at the open of candle i + 1.
    pub signals: Option<Vec<bool>>,
    /// The candles' interval (default: the smallest step in the series).
    pub interval_ms: Option<TimeMs>,
    /// Keep every fill in the result.
    pub record_fills: bool,
    /// Keep the equity at every close in the result.
    pub record_equity: bool,
    /// Fast or reference walk.
    pub mode: Mode,
}

/// Why a backtest could not run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BacktestError {
    /// The bot file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The series is empty.
    #[error("no candles")]
    NoCandles,
    /// The interval cannot be inferred (one candle) or is not positive.
    #[error("the candle interval is unknown or not positive: pass interval_ms")]
    Interval,
    /// The signal series does not match the candles.
    #[error("{signals} signals for {candles} candles")]
    Signals {
        /// Signals given.
        signals: usize,
        /// Candles.
        candles: usize,
    },
    /// The engine refused an event (e.g. the ladder is impossible at a price).
    #[error("candle {index} (time {time}): {source}")]
    Engine {
        /// Candle index.
        index: usize,
        /// Candle time.
        time: TimeMs,
        /// The engine's error.
        source: EngineError,
    },
}

/// A closed deal of a backtest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealRecord {
    /// Deal number.
    pub number: u32,
    /// Candle the deal opened in.
    pub start_index: usize,
    /// Candle the deal closed in.
    pub end_index: usize,
    /// Open time of the start candle.
    pub start_time: TimeMs,
    /// Time of the closing fill.
    pub end_time: TimeMs,
    /// How it closed.
    pub exit: ExitKind,
    /// Base order fill price.
    pub entry_price: Option<Decimal>,
    /// Average entry price.
    pub average_price: Option<Decimal>,
    /// Average exit price.
    pub exit_price: Option<Decimal>,
    /// Total entry quantity.
    pub quantity: Decimal,
    /// Quote committed.
    pub cost: Decimal,
    /// Safety orders filled.
    pub safety_orders_used: u32,
    /// Realized P&L after quote fees.
    pub pnl: Decimal,
    /// Fees in quote.
    pub fees: Decimal,
    /// Fees in base.
    pub fees_base: Decimal,
    /// Quantity left below the step.
    pub dust: Decimal,
}

/// The deal still open at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenDeal {
    /// Deal number.
    pub number: u32,
    /// Candle it opened in.
    pub start_index: usize,
    /// Open quantity.
    pub quantity: Decimal,
    /// Average entry price.
    pub average_price: Option<Decimal>,
    /// Quote committed.
    pub cost: Decimal,
    /// Safety orders filled.
    pub safety_orders_used: u32,
    /// P&L marked at the last close.
    pub unrealized_pnl: Decimal,
}

/// Everything a backtest produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestResult {
    /// SPEC section 7 metrics.
    pub metrics: Metrics,
    /// Closed deals.
    pub deals: Vec<DealRecord>,
    /// Fills (with `record_fills`).
    pub fills: Vec<FillRecord>,
    /// Equity at each close (with `record_equity`).
    pub equity: Vec<Decimal>,
    /// The deal open at the end.
    pub open_deal: Option<OpenDeal>,
}

/// Runs `bot` over `candles`.
///
/// ```
/// use martingale_core::backtest::{backtest, synthetic, BacktestOptions, Mode};
/// use martingale_core::config::BotFile;
///
/// let bot: BotFile = martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap();
/// let candles = synthetic::random_walk(7, 5_000, 60_000, 30_000.0, 0.002);
/// let fast = backtest(&bot, &candles, &BacktestOptions::default()).unwrap();
/// let reference = backtest(&bot, &candles, &BacktestOptions { mode: Mode::Reference, ..Default::default() }).unwrap();
/// assert_eq!(fast, reference);
/// assert!(fast.metrics.closed_deals > 0);
/// ```
pub fn backtest(bot: &BotFile, candles: &Candles, opts: &BacktestOptions) -> Result<BacktestResult, BacktestError> {
    bot.validate()?;
    if candles.is_empty() {
        return Err(BacktestError::NoCandles);
    }
    let interval =
        opts.interval_ms.or_else(|| candles.interval_ms()).filter(|i| *i > 0).ok_or(BacktestError::Interval)?;
    if let Some(s) = &opts.signals {
        if s.len() != candles.len() {
            return Err(BacktestError::Signals { signals: s.len(), candles: candles.len() });
        }
    }
    let mut engine = Engine::new(BotId::internal("bt"), bot)?;
    let first_open = candles.get(0).map_or(Decimal::ONE, |c| c.open);
    let mut run = Run::new(bot, candles, opts, interval, first_open);
    let err = |index: usize, source: EngineError| BacktestError::Engine {
        index,
        time: candles.times().get(index).copied().unwrap_or_default(),
        source,
    };
    engine.handle(Event::Command { time: TimeMs::MIN, command: Command::Start }).map_err(|e| err(0, e))?;
    // Acknowledgments change no decision (a test proves the deals and fills
    // equal with and without them); both modes skip them.
    let mut driver = Driver::new(&mut engine, bot.fill, interval).record_fills(opts.record_fills).acknowledge(false);
    run.walk(&mut driver).map_err(|(i, e)| err(i, e))?;
    let fills = std::mem::take(&mut driver.recorded.fills);
    let fill_count = driver.fill_count();
    Ok(run.finish(&engine, fills, fill_count, candles))
}

struct Run<'a> {
    bot: &'a BotFile,
    candles: &'a Candles,
    opts: &'a BacktestOptions,
    interval: TimeMs,
    initial: Decimal,
    funds_required: Option<Decimal>,
    first_open: Decimal,
    path: EquityPath,
    state: EquityState,
    deals: Vec<DealRecord>,
    deal_start: Vec<(u32, usize)>,
    equity: Vec<Decimal>,
    max_cost: Decimal,
    max_safety: u32,
}

/// Candles `i` may be skipped while `down < low`, `high < up` and
/// `time < until`.
#[derive(Clone, Copy)]
struct Bounds {
    down: f64,
    up: f64,
    until: TimeMs,
}

impl<'a> Run<'a> {
    fn new(
        bot: &'a BotFile,
        candles: &'a Candles,
        opts: &'a BacktestOptions,
        interval: TimeMs,
        first_open: Decimal,
    ) -> Self {
        let funds = ladder::plan(&bot.strategy, &bot.market, first_open).ok().map(|p| p.funds_required);
        let initial = opts.initial_capital.or(funds).unwrap_or(Decimal::ZERO);
        // Room for a fill every ~500 candles and a deal every ~2,000 (W5:
        // 2,669 segments, 872 deals): growing these vectors while walking
        // costs fresh pages and copies; reserved, untouched room costs nothing.
        let n = candles.len();
        let (segments, deals) = ((n / 512).clamp(16, 1 << 16), (n / 2048).clamp(16, 1 << 14));
        Run {
            bot,
            candles,
            opts,
            interval,
            initial,
            funds_required: None,
            first_open,
            path: EquityPath::new(initial, segments),
            state: EquityState::new(initial, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, false),
            deals: Vec::with_capacity(deals),
            deal_start: Vec::with_capacity(deals),
            equity: Vec::new(),
            max_cost: Decimal::ZERO,
            max_safety: 0,
        }
    }

    fn walk(&mut self, driver: &mut Driver<'_>) -> Result<(), (usize, EngineError)> {
        let c = self.candles;
        let n = c.len();
        let fast = self.opts.mode == Mode::Fast && !self.opts.record_equity;
        let mut i = 0;
        while i < n {
            if fast {
                if let Some(b) = self.bounds(driver) {
                    // The path into candle i starts at the previous close.
                    let prev_ok = previous_close(c, i).is_none_or(|p| {
                        let p = to_f64(p);
                        p > b.down && p < b.up
                    });
                    if prev_ok {
                        let end = self.scan(i, b);
                        if end >= n {
                            break; // nothing changes up to the end
                        }
                        // Nothing changes in candles i..end (the equity
                        // path's current segment covers them) and candle
                        // `end` cannot be skipped: it is processed now.
                        i = end;
                    }
                }
            }
            self.process(driver, i).map_err(|e| (i, e))?;
            i += 1;
        }
        Ok(())
    }

    /// Where skipping is allowed and within which price and time limits.
    fn bounds(&self, driver: &Driver<'_>) -> Option<Bounds> {
        let e = driver.engine();
        if e.retry_pending() || e.signal_pending() {
            return None; // the next tick changes something
        }
        // Widen each bound by a relative margin far above f64 rounding, so an
        // f64 comparison can only skip what exact comparison would skip.
        let margin = |x: f64| if x.is_finite() { x.abs() * 1e-12 + 1e-12 } else { 0.0 };
        match e.phase() {
            Phase::Idle => {
                let until = e.earliest_start().unwrap_or(TimeMs::MAX);
                Some(Bounds { down: f64::NEG_INFINITY, up: f64::INFINITY, until })
            }
            Phase::Open(deal) if deal.managed && deal.exit.is_none() && deal.breach_since.is_none() => {
                let (mut down, mut up) = (f64::NEG_INFINITY, f64::INFINITY);
                let mut lower = |p: Decimal| down = down.max(to_f64(p));
                for r in driver.resting() {
                    if r.side == OrderSide::Buy {
                        lower(r.price);
                    }
                }
                let w = e.watch();
                let long = e.strategy().side == Side::Long;
                let peak = deal.trailing.map(|t| t.peak);
                let (downs, ups) = if long {
                    ([w.stop_loss, w.trailing_exit, None], [w.trailing_arm, peak])
                } else {
                    ([w.trailing_arm, peak, None], [w.stop_loss, w.trailing_exit])
                };
                for p in downs.into_iter().flatten() {
                    lower(p);
                }
                let mut upper = |p: Decimal| up = up.min(to_f64(p));
                for r in driver.resting() {
                    if r.side == OrderSide::Sell {
                        upper(r.price);
                    }
                }
                for p in ups.into_iter().flatten() {
                    upper(p);
                }
                Some(Bounds { down: down + margin(down), up: up - margin(up), until: TimeMs::MAX })
            }
            _ => None,
        }
    }

    /// First candle from `from` that cannot be skipped.
    #[inline(never)]
    fn scan(&self, from: usize, b: Bounds) -> usize {
        let c = self.candles;
        // Times increase strictly: `until` becomes an index bound, so the
        // loops below never touch the time column.
        let n = if b.until == TimeMs::MAX {
            c.len()
        } else {
            from + first_at_or_after(c.times().get(from..).unwrap_or_default(), b.until)
        };
        let signals = self.opts.signals.as_deref();
        let ok = |j: usize| c.low_f[j] > b.down && c.high_f[j] < b.up && signals.is_none_or(|s| !s[j]);
        let mut j = from;
        while j < n && !j.is_multiple_of(BLOCK) {
            if !ok(j) {
                return j;
            }
            j += 1;
        }
        if signals.is_none() {
            while j + BLOCK <= n {
                let k = j / BLOCK;
                let (low, high) = (c.blk_low[k] > b.down, c.blk_high[k] < b.up);
                if !(low && high) {
                    // The block's extreme beyond a bound is the likeliest
                    // next event: start loading it while the candles before
                    // it are tested.
                    let at = c.blk_at.get(k).map_or(0, |a| usize::from(if low { a[1] } else { a[0] }));
                    c.prefetch(j + at);
                    break;
                }
                j += BLOCK;
            }
        }
        while j < n && ok(j) {
            j += 1;
        }
        j
    }

    #[inline(never)]
    fn process(&mut self, driver: &mut Driver<'_>, i: usize) -> Result<(), EngineError> {
        // Both reads go out together (after a skipped run neither is cached).
        let (Some(candle), prev_close) = (self.candles.get(i), previous_close(self.candles, i)) else {
            return Ok(());
        };
        let before = driver.engine().phase().kind() != PhaseKind::Idle;
        let closed_before = driver.recorded.deals.len();
        driver.candle(i, &candle, prev_close)?;
        let e = driver.engine();
        // Deals that opened in this candle.
        let started = e.deals_started();
        if self.deal_start.last().is_none_or(|(n, _)| *n < started) && started > 0 {
            self.deal_start.push((started, i));
            if self.funds_required.is_none() {
                if let Some(p0) = e.deal().and_then(|d| d.entry_price) {
                    self.funds_required =
                        ladder::plan(&self.bot.strategy, &self.bot.market, p0).ok().map(|p| p.funds_required);
                }
            }
        }
        let newly_closed = driver.recorded.deals.len() > closed_before;
        for r in &driver.recorded.deals[closed_before..] {
            let start_index = self.deal_start.iter().rev().find(|(n, _)| *n == r.number).map_or(i, |(_, s)| *s);
            self.max_cost = self.max_cost.max(r.cost);
            self.max_safety = self.max_safety.max(r.safety_orders_filled);
            self.deals.push(DealRecord {
                number: r.number,
                start_index,
                end_index: i,
                start_time: r.started_at,
                end_time: r.closed_at,
                exit: r.exit,
                entry_price: r.entry_price,
                average_price: r.average_price,
                exit_price: r.exit_price,
                quantity: r.quantity,
                cost: r.cost,
                safety_orders_used: r.safety_orders_filled,
                pnl: r.pnl,
                fees: r.fees_quote,
                fees_base: r.fees_base,
                dust: r.dust,
            });
        }
        self.state = equity_state(e, self.initial);
        driver.recorded.deals.clear();
        let deal_seen = before || newly_closed || self.state.in_deal;
        self.path.set(i, self.state);
        if deal_seen && !self.state.in_deal {
            self.path.deal_seen();
        }
        if self.opts.record_equity {
            self.equity.push(self.state.a + self.state.q * candle.close);
        }
        if self.opts.signals.as_deref().is_some_and(|s| s[i]) {
            let time = candle.time.saturating_add(self.interval - 1);
            driver.send(Event::Signal { time }, time)?;
        }
        Ok(())
    }

    fn finish(
        mut self,
        engine: &Engine,
        fills: Vec<FillRecord>,
        fill_count: usize,
        candles: &Candles,
    ) -> BacktestResult {
        let last_close = candles.closes().last().copied().unwrap_or_default();
        let open_deal = engine.deal().map(|d| {
            self.max_cost = self.max_cost.max(d.position.entry_value());
            self.max_safety = self.max_safety.max(d.levels_filled);
            OpenDeal {
                number: d.number,
                start_index: self.deal_start.iter().rev().find(|(n, _)| *n == d.number).map_or(0, |(_, s)| *s),
                quantity: d.position.open_qty(),
                average_price: d.position.average_price(),
                cost: d.position.entry_value(),
                safety_orders_used: d.levels_filled,
                unrealized_pnl: d.position.unrealized_pnl(last_close),
            }
        });
        let stats = self.path.stats(candles, self.interval);
        let totals = engine.totals();
        let funds = self
            .funds_required
            .or_else(|| {
                ladder::plan(&self.bot.strategy, &self.bot.market, self.first_open).ok().map(|p| p.funds_required)
            })
            .unwrap_or_default();
        let durations: Vec<i64> = self.deals.iter().map(|d| (d.end_time - d.start_time + 1) / 1000).collect();
        let hundred = Decimal::ONE_HUNDRED;
        let metrics = Metrics {
            candles: candles.len(),
            fills: fill_count,
            closed_deals: totals.closed_deals,
            take_profit_exits: totals.take_profit,
            stop_loss_exits: totals.stop_loss,
            trailing_exits: totals.trailing,
            manual_exits: totals.manual,
            realized_pnl: totals.realized_pnl,
            fees: totals.fees_quote,
            fees_base: totals.fees_base,
            win_rate_pct: totals.win_rate().map(|w| (w * hundred).round_dp(4)),
            profit_factor: totals.profit_factor().map(|p| p.round_dp(6)),
            avg_deal_duration_secs: (!durations.is_empty())
                .then(|| (Decimal::from(durations.iter().sum::<i64>()) / Decimal::from(durations.len())).round_dp(3)),
            max_deal_duration_secs: durations.iter().max().copied(),
            max_safety_orders_used: self.max_safety,
            max_deal_cost: self.max_cost,
            funds_required: funds,
            return_on_funds_pct: (funds > Decimal::ZERO).then(|| (totals.realized_pnl * hundred / funds).round_dp(6)),
            initial_capital: self.initial,
            final_equity: self.state.a + self.state.q * last_close,
            max_drawdown: stats.max_drawdown,
            max_drawdown_pct: stats.max_drawdown_pct,
            max_unrealized_loss: stats.max_unrealized_loss.max(Decimal::ZERO),
            time_in_deal_pct: (Decimal::from(stats.in_deal_candles) * hundred / Decimal::from(candles.len()))
                .round_dp(4),
            sharpe: stats.sharpe,
            sortino: stats.sortino,
        };
        BacktestResult { metrics, deals: self.deals, fills, equity: self.equity, open_deal }
    }
}

/// The close before candle `i` (none for the first).
#[inline(always)]
fn previous_close(c: &Candles, i: usize) -> Option<Decimal> {
    i.checked_sub(1).and_then(|j| c.closes().get(j).copied())
}

/// The first index of `times` (increasing) at or after `t`, searched from
/// the front by doubling steps: a cooldown usually ends within a few candles,
/// so this reads one or two cache lines where a binary search over millions
/// of candles would miss the cache at every step.
fn first_at_or_after(times: &[TimeMs], t: TimeMs) -> usize {
    let mut lo = 0;
    let mut step = 1;
    while let Some(&x) = times.get(lo + step - 1) {
        if x >= t {
            break;
        }
        lo += step;
        step *= 2;
    }
    // Every time before `lo` is < t; the answer is within the next `step`.
    let hi = (lo + step).min(times.len());
    lo + times.get(lo..hi).unwrap_or_default().partition_point(|x| *x < t)
}

/// The equity state of the engine: `a + q * price`.
fn equity_state(e: &Engine, initial: Decimal) -> EquityState {
    let t = e.totals();
    let (deal_pnl, signed) = match e.deal() {
        Some(d) => {
            let open = d.position.open_qty();
            (d.position.realized_pnl(), if d.position.side() == Side::Long { open } else { -open })
        }
        None => (Decimal::ZERO, Decimal::ZERO),
    };
    EquityState::new(initial + t.realized_pnl + deal_pnl, signed + t.dust, deal_pnl, signed, e.deal().is_some())
}

#[cfg(test)]
mod tests {
    use super::first_at_or_after;

    #[test]
    fn galloping_search_equals_partition_point() {
        for n in 0..70usize {
            let times: Vec<i64> = (0..n as i64).map(|k| k * 3 + 1).collect();
            for t in -2..(n as i64 * 3 + 4) {
                assert_eq!(first_at_or_after(&times, t), times.partition_point(|x| *x < t), "n {n} t {t}");
            }
        }
    }
}
