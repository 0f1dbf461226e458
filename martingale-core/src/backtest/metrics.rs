//! The metrics of SPEC section 7, as a backtest reports them. The equity
//! figures (drawdown, unrealized loss, Sharpe, Sortino, time in deal) come
//! from [`super::equity`].

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The metrics of SPEC section 7.
///
/// ```
/// use martingale_core::backtest::{backtest, synthetic, BacktestOptions};
/// use martingale_core::config::BotFile;
/// let bot: BotFile = martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap();
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
    /// Closed by the time limit.
    #[serde(default)]
    pub time_limit_exits: u64,
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
    /// Returns a year that Sharpe and Sortino were annualised with: the
    /// option if given, else the series' calendar (`365.25 days / interval`
    /// for a series with at least 90 % of the 24/7 candle count, else the
    /// observed candles a year, e.g. ~252 for daily stock candles).
    #[serde(default)]
    pub periods_per_year: f64,
}

/// The largest drawdown of an equity curve and the largest drawdown in
/// percent of the peak it falls from (each the largest over the curve, as in
/// [`Metrics::max_drawdown`] and [`Metrics::max_drawdown_pct`], the percent
/// unrounded), by the plain definition: one value at a time against the
/// running peak.
///
/// The backtest finds the same figures without visiting every candle; this
/// is the definition its tests hold it to, and it works on any curve (e.g.
/// the one kept with `record_equity`).
///
/// ```
/// use martingale_core::backtest::max_drawdown;
/// use rust_decimal_macros::dec;
/// // 100 -> 90 is 10 (10 %), 120 -> 96 is 24 (20 %).
/// let curve = [dec!(100), dec!(90), dec!(120), dec!(96), dec!(130)];
/// assert_eq!(max_drawdown(&curve), (dec!(24), dec!(20)));
/// assert_eq!(max_drawdown(&[]), (dec!(0), dec!(0)));
/// ```
pub fn max_drawdown(equity: &[Decimal]) -> (Decimal, Decimal) {
    let (mut peak, mut dd, mut pct) = (None::<Decimal>, Decimal::ZERO, Decimal::ZERO);
    for &e in equity {
        let p = *peak.get_or_insert(e);
        if e > p {
            peak = Some(e);
            continue;
        }
        dd = dd.max(p - e);
        if p > Decimal::ZERO {
            pct = pct.max((p - e) * Decimal::ONE_HUNDRED / p);
        }
    }
    (dd, pct)
}
