//! The backtest loop: reference and fast modes over one driver.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::candles::{Candles, BLOCK};
use super::driver::Driver;
use super::equity::{equity_curve, to_f64, EquityPath, EquitySegment, EquityState};
use super::metrics::Metrics;
use super::returns;
use super::sim::FillRecord;
use crate::config::{BotFile, ConfigError, OrderSize};
use crate::engine::{BotId, Command, DealReport, Engine, EngineError, Event, Phase, PhaseKind, TimeMs};
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
    /// Keep the equity at every close in the result (built after the walk
    /// from [`BacktestResult::equity_path`]; both walks record the same).
    pub record_equity: bool,
    /// Fast or reference walk.
    pub mode: Mode,
    /// Returns a year for annualising Sharpe and Sortino (e.g. 252 for
    /// daily stock candles). Default: the series' own calendar: the 24/7
    /// figure `365.25 days / interval` when the series has at least 90 % of
    /// the candles a market open around the clock would have, else the
    /// observed number of candles a year (see [`Metrics::periods_per_year`]).
    pub periods_per_year: Option<f64>,
    /// Stop opening deals once equity can no longer fund one (see
    /// [`BacktestResult::unfunded`]): the deal open then runs to its exit,
    /// no new one starts.
    pub stop_when_unfunded: bool,
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
    /// The initial capital is zero or negative.
    #[error("initial_capital = {0}: must be positive (or leave it unset for the funds the ladder requires)")]
    InitialCapital(Decimal),
    /// The periods a year are not a positive finite number.
    #[error("periods_per_year = {0}: must be a positive number (e.g. 252 for daily stock candles)")]
    PeriodsPerYear(String),
    /// The signal series does not match the candles.
    #[error("{signals} signals for {candles} candles")]
    Signals {
        /// Signals given.
        signals: usize,
        /// Candles.
        candles: usize,
    },
    /// Entry signals were given for a bot whose start condition is an
    /// indicator (the backtest computes those signals from the closes).
    #[error(
        "signals were given, but start_condition = {0} computes its own from the candles' closes: \
         drop the signals or set start_condition to \"signal\""
    )]
    SignalsWithIndicator(String),
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

/// A closed deal of a backtest: the engine's [`DealReport`] (the same
/// type, the same field names, as a live or paper runner reports it) plus
/// the candles it spanned. Serialized flat: the report's fields, then
/// `start_index` and `end_index`.
///
/// ```
/// use martingale_core::backtest::{backtest, BacktestOptions, Candles};
/// use martingale_core::config::BotFile;
///
/// let bot = BotFile::example().unwrap();
/// let csv = "time,open,high,low,close\n0,100,100,100,100\n60000,100,103,100,102\n";
/// let r = backtest(&bot, &Candles::from_csv(csv).unwrap(), &BacktestOptions::default()).unwrap();
/// let d = &r.deals[0];
/// assert_eq!((d.start_index, d.end_index, d.deal.number), (0, 1, 1));
/// assert_eq!(d.deal.safety_orders_filled, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealRecord {
    /// The closed deal, as the engine reported it.
    #[serde(flatten)]
    pub deal: DealReport,
    /// Candle the deal opened in.
    pub start_index: usize,
    /// Candle the deal closed in.
    pub end_index: usize,
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
    /// Safety orders completely filled.
    pub safety_orders_filled: u32,
    /// P&L marked at the last close.
    pub unrealized_pnl: Decimal,
}

/// The first time equity could no longer fund a deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unfunded {
    /// Candle at whose close it was found (0 with an initial capital below
    /// the first deal's needs).
    pub index: usize,
    /// That candle's open time.
    pub time: TimeMs,
    /// Equity then (quote).
    pub equity: Decimal,
    /// Funds the next deal needs at that candle's close (the ladder's
    /// funds required, reinvested profit included).
    pub funds_required: Decimal,
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
    /// The equity path, always kept: a few thousand pieces for millions of
    /// candles, from which [`BacktestResult::equity_curve`] builds the
    /// curve at every close on demand.
    #[serde(default)]
    pub equity_path: Vec<EquitySegment>,
    /// The first time equity could not fund the next deal: checked at the
    /// start and at the close of every losing deal (of every deal when
    /// order sizes are in base, whose funds grow with the price), against
    /// the funds the ladder needs at that close. `None` when it always
    /// could. Known limit: a winning deal that leaves equity short of a
    /// quote-sized ladder only by the ladder's rounding is not reported.
    #[serde(default)]
    pub unfunded: Option<Unfunded>,
    /// The deal open at the end.
    pub open_deal: Option<OpenDeal>,
}

impl BacktestResult {
    /// Equity at every close of `candles` (the series backtested), exact:
    /// equal to [`BacktestResult::equity`] with `record_equity`.
    pub fn equity_curve(&self, candles: &Candles) -> Vec<Decimal> {
        equity_curve(&self.equity_path, candles)
    }

    /// Equity at every close as `f64` (within a few ulps of the exact
    /// values): for plots, a few milliseconds for millions of candles.
    pub fn equity_curve_f64(&self, candles: &Candles) -> Vec<f64> {
        super::equity::equity_curve_f64(&self.equity_path, candles)
    }
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
    if let Some(c) = opts.initial_capital.filter(|c| *c <= Decimal::ZERO) {
        return Err(BacktestError::InitialCapital(c));
    }
    if let Some(p) = opts.periods_per_year.filter(|p| !(p.is_finite() && *p > 0.0)) {
        return Err(BacktestError::PeriodsPerYear(p.to_string()));
    }
    if let Some(s) = &opts.signals {
        if s.len() != candles.len() {
            return Err(BacktestError::Signals { signals: s.len(), candles: candles.len() });
        }
    }
    // An indicator start condition is a signal at every close where it
    // holds (SPEC section 10: true at the close of candle i, the deal opens
    // at candle i + 1), computed once from the closes.
    let with_indicator;
    let condition = bot.strategy.start_condition;
    let opts = if condition.is_indicator() {
        if opts.signals.is_some() {
            let text = serde_json::to_string(&condition).unwrap_or_default();
            return Err(BacktestError::SignalsWithIndicator(text));
        }
        let signals = crate::indicators::start_signals(&condition, candles.closes());
        with_indicator = BacktestOptions { signals: Some(signals), ..opts.clone() };
        &with_indicator
    } else {
        opts
    };
    let mut engine = Engine::new(BotId::internal("bt"), bot)?;
    let first_open = candles.get(0).map_or(Decimal::ONE, |c| c.open);
    let mut run = Run::new(bot, candles, opts, interval, first_open);
    let err = |index: usize, source: EngineError| BacktestError::Engine {
        index,
        time: candles.times().get(index).copied().unwrap_or_default(),
        source,
    };
    engine.handle(Event::Command { time: TimeMs::MIN, command: Command::Start }).map_err(|e| err(0, e))?;
    if run.initial < engine.funds_required(first_open).unwrap_or_default() {
        run.unfunded(&engine, 0, first_open);
        if opts.stop_when_unfunded {
            let stop = Command::Stop { cancel_orders: false };
            engine.handle(Event::Command { time: TimeMs::MIN, command: stop }).map_err(|e| err(0, e))?;
        }
    }
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
    unfunded: Option<Unfunded>,
    /// Order sizes in base: a deal's funds grow with the price, so every
    /// close is checked for [`Unfunded`], not only losing deals.
    check_every_close: bool,
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
            unfunded: None,
            check_every_close: matches!(bot.strategy.base_order, OrderSize::Base(_))
                || matches!(bot.strategy.safety_order, Some(OrderSize::Base(_)))
                || bot
                    .strategy
                    .custom_levels
                    .as_ref()
                    .is_some_and(|l| l.iter().any(|c| matches!(c.size, OrderSize::Base(_)))),
            max_cost: Decimal::ZERO,
            max_safety: 0,
        }
    }

    fn walk(&mut self, driver: &mut Driver<'_>) -> Result<(), (usize, EngineError)> {
        let c = self.candles;
        let n = c.len();
        // The equity curve is built from the path after the walk: recording
        // it does not slow the walk.
        let fast = self.opts.mode == Mode::Fast;
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
        if e.retry_pending() || e.signal_pending() || e.start_pending() {
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
            Phase::Open(deal) if deal.take_profit.is_managed() && deal.breach_since.is_none() => {
                let (mut down, mut up) = (f64::NEG_INFINITY, f64::INFINITY);
                let mut lower = |p: Decimal| down = down.max(to_f64(p));
                for r in driver.resting() {
                    if r.side == OrderSide::Buy {
                        lower(r.price);
                    }
                }
                let w = e.watch();
                let long = e.strategy().side == Side::Long;
                let peak = deal.take_profit.trailing().map(|t| t.peak);
                // A trailing stop loss moves with every new best price.
                let stop_peak = deal.stop_peak.filter(|_| e.strategy().stop_loss.is_some_and(|sl| sl.trailing));
                let (downs, ups) = if long {
                    ([w.stop_loss, w.trailing_exit, None, None], [w.trailing_arm, peak, stop_peak, w.time_limit])
                } else {
                    ([w.trailing_arm, peak, stop_peak, w.time_limit], [w.stop_loss, w.trailing_exit, None, None])
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
                // The candle where the time limit starts to apply is walked.
                let until = e.time_limit_from().filter(|_| w.time_limit.is_none()).unwrap_or(TimeMs::MAX);
                Some(Bounds { down: down + margin(down), up: up - margin(up), until })
            }
            // A limit base order waiting to fill: only its own price, or
            // its timeout, can change anything.
            Phase::Opening(deal) if deal.take_profit.is_managed() => {
                let (mut down, mut up) = (f64::NEG_INFINITY, f64::INFINITY);
                for r in driver.resting() {
                    match r.side {
                        OrderSide::Buy => down = down.max(to_f64(r.price)),
                        OrderSide::Sell => up = up.min(to_f64(r.price)),
                    }
                }
                let until = e.entry_deadline().unwrap_or(TimeMs::MAX);
                Some(Bounds { down: down + margin(down), up: up - margin(up), until })
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
            self.deals.push(DealRecord { deal: r.clone(), start_index, end_index: i });
        }
        self.state = equity_state(e, self.initial);
        let lost = driver.recorded.deals.get(closed_before..).unwrap_or_default().iter().any(|r| r.pnl < Decimal::ZERO);
        driver.recorded.deals.clear();
        let deal_seen = before || newly_closed || self.state.in_deal;
        self.path.set(i, self.state);
        if deal_seen && !self.state.in_deal {
            self.path.deal_seen();
        }
        // Equity only falls through a losing deal; with base-sized orders the
        // funds a deal needs also grow with the price. Planning a ladder costs
        // microseconds, so only those closes are checked.
        let check = lost || self.check_every_close;
        if newly_closed && check && self.unfunded.is_none() {
            // Could this equity fund the next deal, at this close?
            let needed = driver.engine().funds_required(candle.close).unwrap_or_default();
            let equity = self.state.a + self.state.q * candle.close;
            if equity < needed {
                self.unfunded = Some(Unfunded { index: i, time: candle.time, equity, funds_required: needed });
                if self.opts.stop_when_unfunded {
                    let time = candle.time.saturating_add(self.interval - 1);
                    driver.send(Event::Command { time, command: Command::Stop { cancel_orders: false } }, time)?;
                }
            }
        }
        if self.opts.signals.as_deref().is_some_and(|s| s[i]) {
            let time = candle.time.saturating_add(self.interval - 1);
            driver.send(Event::Signal { time }, time)?;
        }
        Ok(())
    }

    /// Notes that equity (flat, at the start) cannot fund a deal at `price`.
    fn unfunded(&mut self, engine: &Engine, index: usize, price: Decimal) {
        let funds_required = engine.funds_required(price).unwrap_or_default();
        let time = self.candles.times().get(index).copied().unwrap_or_default();
        self.unfunded = Some(Unfunded { index, time, equity: self.initial, funds_required });
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
                safety_orders_filled: d.levels_filled,
                unrealized_pnl: d.position.unrealized_pnl(last_close),
            }
        });
        let periods_per_year = self
            .opts
            .periods_per_year
            .unwrap_or_else(|| returns::calendar_periods_per_year(candles.times(), self.interval));
        let stats = self.path.stats(candles, periods_per_year);
        let equity_path = self.path.pieces();
        let equity = if self.opts.record_equity { equity_curve(&equity_path, candles) } else { Vec::new() };
        let totals = engine.totals();
        let funds = self
            .funds_required
            .or_else(|| {
                ladder::plan(&self.bot.strategy, &self.bot.market, self.first_open).ok().map(|p| p.funds_required)
            })
            .unwrap_or_default();
        let durations: Vec<i64> =
            self.deals.iter().map(|d| (d.deal.closed_at - d.deal.started_at + 1) / 1000).collect();
        let hundred = Decimal::ONE_HUNDRED;
        let metrics = Metrics {
            candles: candles.len(),
            fills: fill_count,
            closed_deals: totals.closed_deals,
            take_profit_exits: totals.take_profit,
            stop_loss_exits: totals.stop_loss,
            trailing_exits: totals.trailing,
            manual_exits: totals.manual,
            time_limit_exits: totals.time_limit,
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
            periods_per_year,
        };
        BacktestResult { metrics, deals: self.deals, fills, equity, equity_path, unfunded: self.unfunded, open_deal }
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::backtest::synthetic;
    use crate::engine::Candle;
    use rust_decimal_macros::dec;

    const DAY: TimeMs = 86_400_000;

    fn bot(strategy: &str) -> BotFile {
        BotFile::from_json(&format!(
            r#"{{"strategy": {{"base_order": {{"quote": "100"}}, {strategy}}},
                "market": {{"tick_size": "0.01", "step_size": "0.0001"}}, "fees": {{"maker": "0", "taker": "0"}}}}"#
        ))
        .unwrap()
    }

    fn candles(rows: &[(Decimal, Decimal, Decimal, Decimal)]) -> Candles {
        let rows: Vec<Candle> = rows
            .iter()
            .enumerate()
            .map(|(i, &(open, high, low, close))| Candle { time: i as i64 * 3_600_000, open, high, low, close })
            .collect();
        Candles::from_candles(&rows).unwrap()
    }

    /// Deal 1 buys 1 at 100; candle 1 falls through its 5 % stop: equity
    /// about 95 cannot fund another 100 deal. Without the option the bot
    /// trades on; with it, no deal opens after that candle.
    #[test]
    fn unfunded_is_reported_and_the_option_stops_new_deals() {
        let bot = bot(r#""max_safety_orders": 0, "take_profit": {"percent": "10"}, "stop_loss": {"percent": "5"}"#);
        let flat = (dec!(92), dec!(93), dec!(91), dec!(92));
        let c = candles(&[
            (dec!(100), dec!(100), dec!(100), dec!(100)),
            (dec!(100), dec!(100), dec!(90), dec!(92)),
            flat,
            flat,
            flat,
        ]);
        let on = backtest(&bot, &c, &BacktestOptions::default()).unwrap();
        let u = on.unfunded.clone().expect("reported");
        assert_eq!((u.index, u.time), (1, 3_600_000));
        assert!(u.equity < u.funds_required && u.equity < dec!(100), "{u:?}");
        assert_eq!(on.metrics.closed_deals, 1);
        assert!(on.open_deal.is_some(), "the bot traded on");
        for mode in [Mode::Fast, Mode::Reference] {
            let opts = BacktestOptions { stop_when_unfunded: true, mode, ..Default::default() };
            let stopped = backtest(&bot, &c, &opts).unwrap();
            assert_eq!(stopped.unfunded, on.unfunded);
            assert_eq!((stopped.metrics.closed_deals, stopped.open_deal.is_none()), (1, true));
            assert_eq!(stopped.metrics.final_equity, u.equity);
        }
        // Enough capital: never unfunded.
        let rich = BacktestOptions { initial_capital: Some(dec!(1000)), ..Default::default() };
        assert_eq!(backtest(&bot, &c, &rich).unwrap().unfunded, None);
        // Too little from the start: found at candle 0; stopping opens nothing.
        let poor = BacktestOptions { initial_capital: Some(dec!(50)), stop_when_unfunded: true, ..Default::default() };
        let r = backtest(&bot, &c, &poor).unwrap();
        assert_eq!(r.unfunded.map(|u| (u.index, u.equity)), Some((0, dec!(50))));
        assert_eq!((r.metrics.fills, r.metrics.final_equity), (0, dec!(50)));
    }

    #[test]
    fn non_positive_capital_and_periods_are_refused() {
        let bot = bot(r#""max_safety_orders": 0, "take_profit": {"percent": "10"}"#);
        let c = synthetic::random_walk(1, 100, 60_000, 100.0, 0.01);
        for capital in [dec!(0), dec!(-5)] {
            let opts = BacktestOptions { initial_capital: Some(capital), ..Default::default() };
            assert_eq!(backtest(&bot, &c, &opts), Err(BacktestError::InitialCapital(capital)));
        }
        for p in [0.0, -1.0, f64::NAN] {
            let opts = BacktestOptions { periods_per_year: Some(p), ..Default::default() };
            assert!(matches!(backtest(&bot, &c, &opts), Err(BacktestError::PeriodsPerYear(_))));
        }
    }

    /// Daily candles on weekdays only are annualised by their calendar
    /// (~261 a year, not 365.25); the option overrides it; a 24/7 series
    /// keeps the figures of `365.25 days / interval` to the bit.
    #[test]
    fn sharpe_is_annualised_by_the_series_calendar_or_the_option() {
        let bot = bot(
            r#""max_safety_orders": 3, "safety_order": {"quote": "100"}, "price_deviation": "2", "take_profit": {"percent": "2"}"#,
        );
        let every_day = synthetic::random_walk(11, 1_500, DAY, 100.0, 0.02);
        let rows: Vec<Candle> =
            (0..every_day.len()).filter_map(|i| every_day.get(i)).filter(|c| (c.time / DAY) % 7 < 5).collect();
        let weekdays = Candles::from_candles(&rows).unwrap();
        let r = backtest(&bot, &weekdays, &BacktestOptions::default()).unwrap();
        let m = &r.metrics;
        assert!((m.periods_per_year - 260.9).abs() < 0.5, "{}", m.periods_per_year);
        let as_24_7 = BacktestOptions { periods_per_year: Some(365.25), ..Default::default() };
        let r247 = backtest(&bot, &weekdays, &as_24_7).unwrap();
        let (s, s247) = (m.sharpe.unwrap(), r247.metrics.sharpe.unwrap());
        assert!((s / s247 - (m.periods_per_year / 365.25).sqrt()).abs() < 1e-12, "{s} {s247}");
        let stock = BacktestOptions { periods_per_year: Some(252.0), ..Default::default() };
        let r252 = backtest(&bot, &weekdays, &stock).unwrap();
        assert_eq!(r252.metrics.periods_per_year, 252.0);
        assert!(
            (r252.metrics.sortino.unwrap() / r247.metrics.sortino.unwrap() - (252.0f64 / 365.25).sqrt()).abs() < 1e-12
        );
        // Every day: the 24/7 figure, identical to passing it.
        let r = backtest(&bot, &every_day, &BacktestOptions::default()).unwrap();
        let same = backtest(&bot, &every_day, &as_24_7).unwrap();
        assert_eq!(r.metrics.periods_per_year, 365.25);
        assert_eq!(r.metrics, same.metrics);
    }

    /// The curve built from the path equals the per-close equity the
    /// reference walk records, and the float curve is within rounding.
    #[test]
    fn equity_curve_from_the_path_equals_the_recorded_one() {
        let bot: BotFile = include_str!("../../bots/example.json").parse().unwrap();
        let c = synthetic::random_walk(3, 30_000, 60_000, 30_000.0, 0.002);
        let reference = BacktestOptions { mode: Mode::Reference, record_equity: true, ..Default::default() };
        let recorded = backtest(&bot, &c, &reference).unwrap();
        let fast = backtest(&bot, &c, &BacktestOptions::default()).unwrap();
        assert!(fast.equity.is_empty() && fast.equity_path.len() > 10);
        assert_eq!(fast.equity_path, recorded.equity_path);
        let curve = fast.equity_curve(&c);
        assert_eq!(curve.len(), c.len());
        assert_eq!(curve, recorded.equity);
        assert_eq!(curve.last().copied(), Some(fast.metrics.final_equity));
        for (x, d) in fast.equity_curve_f64(&c).iter().zip(&curve) {
            let d = to_f64(*d);
            assert!((x - d).abs() <= d.abs() * 1e-12, "{x} {d}");
        }
    }

    #[test]
    fn galloping_search_equals_partition_point() {
        use super::first_at_or_after;
        for n in 0..70usize {
            let times: Vec<i64> = (0..n as i64).map(|k| k * 3 + 1).collect();
            for t in -2..(n as i64 * 3 + 4) {
                assert_eq!(first_at_or_after(&times, t), times.partition_point(|x| *x < t), "n {n} t {t}");
            }
        }
    }
}
