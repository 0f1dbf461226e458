//! Strategy configuration (SPEC section 1) and the bot file (SPEC section 9).
//!
//! Every field has its canonical snake_case name; unknown fields are an error
//! so that a typo never silently becomes a default. Decimals may be written
//! as strings or numbers; [`BotFile::from_json`] and [`BotFile::from_toml`]
//! read both exactly as written (`100.12345678901234567891` stays that
//! decimal) and refuse a number a `Decimal` cannot hold exactly, with an
//! error naming the field path. (Plain `serde_json::from_str` on these types
//! still reads JSON numbers through `f64`: bot files go through `BotFile`.)
//! Percents are percents.
//!
//! A [`StrategyConfig`] is only a description. [`StrategyConfig::validate`]
//! checks everything that can be checked without a price; the
//! [ladder planner](crate::ladder) checks the rest (prices above zero, levels
//! above the exchange minimums) at the price a deal opens.

mod botfile;
mod de;
pub(crate) mod document;
mod example;
mod start;
mod take_profit;
mod validate;

pub use botfile::{BotFile, BotFileError, FillModel, LimitFill, PathModel};
pub use example::EXAMPLE_BOT_JSON;
pub use start::{StartCondition, Threshold, MAX_INDICATOR_PERIOD};
pub use take_profit::{TakeProfit, TpStep, MAX_TP_STEPS};

pub use validate::{
    ConfigError, MAX_PERCENT, MAX_PRICE_RATIO, MAX_SAFETY_ORDERS, MAX_SECS, MAX_VALUE, MIN_PRICE_RATIO,
};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::Side;

/// Size of an order, in quote or in base currency.
///
/// Serialized as `{"quote": "100"}` or `{"base": "0.002"}`.
///
/// ```
/// use martingale_core::config::OrderSize;
/// use rust_decimal_macros::dec;
/// let s: OrderSize = serde_json::from_str(r#"{"quote": "100"}"#).unwrap();
/// assert_eq!(s, OrderSize::Quote(dec!(100)));
/// assert_eq!(s.checked_scaled(dec!(1.5)), Some(OrderSize::Quote(dec!(150))));
/// assert!(serde_json::from_str::<OrderSize>(r#"{"usd": "100"}"#).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OrderSize {
    /// Amount of quote currency to spend (or receive, for a short).
    Quote(Decimal),
    /// Quantity of base currency.
    Base(Decimal),
}

impl OrderSize {
    /// The amount, whatever its currency.
    pub fn amount(&self) -> Decimal {
        match self {
            OrderSize::Quote(v) | OrderSize::Base(v) => *v,
        }
    }

    /// The same kind of size with the amount multiplied by `factor`, or
    /// `None` when the product overflows a `Decimal`.
    ///
    /// ```
    /// use martingale_core::config::OrderSize;
    /// use rust_decimal::Decimal;
    /// use rust_decimal_macros::dec;
    /// assert_eq!(OrderSize::Base(dec!(2)).checked_scaled(dec!(1.5)), Some(OrderSize::Base(dec!(3.0))));
    /// assert_eq!(OrderSize::Quote(Decimal::MAX).checked_scaled(dec!(2)), None);
    /// ```
    pub fn checked_scaled(&self, factor: Decimal) -> Option<OrderSize> {
        if factor == Decimal::ONE {
            return Some(*self);
        }
        Some(self.with_amount(self.amount().checked_mul(factor)?))
    }
}

/// What the safety-order prices are measured from (SPEC section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SafetyAnchor {
    /// From the base order's fill price (3Commas): `P_n = P0 * (1 - D_n/100)`.
    #[default]
    Base,
    /// From the previous level's placed price (compounding).
    Previous,
    /// From the position's exact average after the previous level filled;
    /// each level is placed only once the previous one has filled.
    Average,
}

/// One explicit safety level, replacing the `d, s, v, N` progression.
///
/// `deviation` is the percent distance from the level's anchor: from P0 for
/// the `base` anchor (so deviations must increase), from the previous level
/// for `previous`, from the average for `average`.
///
/// ```
/// use martingale_core::config::{BotFile, SafetyAnchor};
/// use martingale_core::ladder::plan;
/// use rust_decimal_macros::dec;
/// let mut bot: BotFile = martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap();
/// bot.strategy.max_safety_orders = None;
/// bot.strategy.custom_levels = Some(serde_json::from_str(
///     r#"[{"deviation": "2", "size": {"quote": "150"}}, {"deviation": "5", "size": {"quote": "300"}}]"#).unwrap());
/// let ladder = plan(&bot.strategy, &bot.market, dec!(100)).unwrap();
/// assert_eq!((ladder.levels[1].price, ladder.levels[2].price), (dec!(98), dec!(95)));
/// assert_eq!(bot.strategy.safety_anchor, SafetyAnchor::Base);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomLevel {
    /// Percent distance from the anchor.
    pub deviation: Decimal,
    /// Size of the order at this level.
    pub size: OrderSize,
}

/// What a take profit or stop loss percent is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceBase {
    /// The position's average entry price.
    #[default]
    Average,
    /// Take profit: gross profit as a share of the base order's quote size.
    /// Stop loss: distance from the base order's fill price P0.
    BaseOrder,
}

/// Stop-loss level.
///
/// With `trailing`, the stop in force is the tighter of the static stop and
/// `peak * (1 - percent/100)` (long; the mirror for a short), where `peak`
/// is the best price reached since the deal's last entry fill (reset to
/// that fill's price at each entry fill): it only moves in the trader's
/// favour between entry fills. `action = close_and_stop` stops the bot
/// after a stop-loss exit; `breakeven_after_step` moves the stop to
/// break-even once a take-profit step has filled (SPEC section 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopLoss {
    /// Percent.
    pub percent: Decimal,
    /// What the percent is measured against.
    #[serde(default)]
    pub base: PriceBase,
    /// Trail the best price since the last entry fill.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trailing: bool,
    /// What the bot does after a stop-loss exit.
    #[serde(default, skip_serializing_if = "StopAction::is_close")]
    pub action: StopAction,
    /// Once take-profit step k (1-based) has filled, the stop also moves to
    /// the deal's break-even price, computed once at that fill (SPEC 10.1):
    /// the price at which selling the remainder by a taker order leaves the
    /// deal's P&L at zero, counting the filled steps' proceeds and every
    /// fee. The stop in force stays the tightest one, so this never
    /// loosens it. Needs `take_profit.steps`, with `1 <= k <` their number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakeven_after_step: Option<u8>,
}

impl StopLoss {
    /// A static stop at `percent` from `base`, closing and carrying on.
    pub fn new(percent: Decimal, base: PriceBase) -> StopLoss {
        StopLoss { percent, base, trailing: false, action: StopAction::Close, breakeven_after_step: None }
    }
}

/// What the bot does after a stop-loss exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopAction {
    /// Close the deal; the bot carries on (the next deal starts as usual).
    #[default]
    Close,
    /// Close the deal and stop the bot (mode `stopped`; `start` resumes it).
    CloseAndStop,
}

impl StopAction {
    fn is_close(&self) -> bool {
        *self == StopAction::Close
    }
}

fn one() -> Decimal {
    Decimal::ONE
}

/// A Martingale / DCA strategy: SPEC section 1, field for field.
///
/// ```
/// use martingale_core::config::{OrderSize, StrategyConfig};
/// use rust_decimal_macros::dec;
///
/// let cfg: StrategyConfig = serde_json::from_str(r#"{
///     "base_order": {"quote": "100"}, "safety_order": {"quote": 200},
///     "max_safety_orders": 5, "price_deviation": "1.5", "step_scale": "1.2",
///     "volume_scale": 1.5, "take_profit": {"percent": "1.5"}
/// }"#).unwrap();
/// assert_eq!(cfg.safety_order, Some(OrderSize::Quote(dec!(200))));
/// assert_eq!(cfg.volume_scale, dec!(1.5));
/// cfg.validate().unwrap();
///
/// let typo = r#"{"base_order": {"quote": "100"}, "max_safety_orders": 0,
///                "take_profit": {"percent": "1"}, "stop_los": {"percent": "5"}}"#;
/// assert!(serde_json::from_str::<StrategyConfig>(typo).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyConfig {
    /// Long or short.
    #[serde(default)]
    pub side: Side,
    /// First order of a deal.
    pub base_order: OrderSize,
    /// Size of the first safety order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety_order: Option<OrderSize>,
    /// N, number of safety orders (0..=200); implied by `custom_levels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_safety_orders: Option<u32>,
    /// d, percent distance of the first safety order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_deviation: Option<Decimal>,
    /// s, each next gap is the previous gap times s.
    #[serde(default = "one")]
    pub step_scale: Decimal,
    /// v, each next safety order is the previous times v.
    #[serde(default = "one")]
    pub volume_scale: Decimal,
    /// What safety prices are measured from.
    #[serde(default)]
    pub safety_anchor: SafetyAnchor,
    /// Explicit levels replacing d, s, v and N.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_levels: Option<Vec<CustomLevel>>,
    /// How many safety orders rest on the exchange at once (default N).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_active_safety_orders: Option<u32>,
    /// Take-profit target (with trailing: the price that arms it).
    pub take_profit: TakeProfit,
    /// Trailing deviation from the peak, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailing_take_profit: Option<Decimal>,
    /// Stop loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_loss: Option<StopLoss>,
    /// The stop must stay breached this long before it fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_loss_timeout_secs: Option<u64>,
    /// Wait after a deal closes before the next one starts.
    #[serde(default)]
    pub cooldown_secs: u64,
    /// Stop after this many closed deals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_deals: Option<u64>,
    /// Percent of each profitable deal's P&L added to the next deals' sizes.
    #[serde(default)]
    pub reinvest_percent: Decimal,
    /// When deals start (default: as soon as possible).
    #[serde(default)]
    pub start_condition: StartCondition,
    /// Close a deal open this long, once it makes at least a minimum profit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit: Option<TimeLimit>,
    /// How the base order is sent: at market (default) or as a resting limit.
    #[serde(default, skip_serializing_if = "BaseOrderType::is_market")]
    pub base_order_type: BaseOrderType,
    /// Limit base order only: percent below the reference price (above, for
    /// a short) the base order rests at (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_offset_percent: Option<Decimal>,
    /// Limit base order only: an unfilled base order is canceled after this
    /// long and the deal start is retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_timeout_secs: Option<u64>,
}

/// How a deal's base order is sent (SPEC section 10).
///
/// A `limit` base order rests at `ref * (1 - entry_offset_percent / 100)`
/// (a short: `1 +`), rounded down for a long and up for a short, `ref` being
/// the price that started the deal (a backtest's candle open). A quote-sized
/// base order buys `base_order / limit price`, rounded down to the step; its
/// fill pays the maker fee and its fill price is P0. With
/// `entry_timeout_secs` an unfilled base order is canceled after that long
/// (in backtests: at the first candle opening at least that long after the
/// placement) and the next tick retries the start (in simulations, at the
/// same open), under the usual start rules; a timed-out entry is not a deal and starts no
/// cooldown. Partly filled when it times out, the deal goes on with what
/// filled.
///
/// ```
/// use martingale_core::config::{BaseOrderType, StrategyConfig};
/// let cfg: StrategyConfig = serde_json::from_str(r#"{
///     "base_order": {"quote": "100"}, "max_safety_orders": 0, "take_profit": {"percent": "1"},
///     "base_order_type": "limit", "entry_offset_percent": "0.5", "entry_timeout_secs": 3600
/// }"#).unwrap();
/// assert_eq!(cfg.base_order_type, BaseOrderType::Limit);
/// cfg.validate().unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseOrderType {
    /// A market order at the tick that starts the deal.
    #[default]
    Market,
    /// A resting limit order (see the type's docs).
    Limit,
}

impl BaseOrderType {
    /// True for the default, a market base order.
    pub fn is_market(&self) -> bool {
        *self == BaseOrderType::Market
    }
}

/// The time limit of a deal (SPEC section 10): once a deal has been open
/// `secs` (from its base order's fill; in backtests from the open time of
/// the candle it filled in), it closes at market when closing would make
/// at least `min_profit_percent` of its cost (fees of the exit included;
/// negative caps a loss; absent: at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeLimit {
    /// Seconds from the base order's fill.
    pub secs: u64,
    /// Minimum profit, percent of the deal's cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_profit_percent: Option<Decimal>,
}

impl StrategyConfig {
    /// A long strategy with a base order, no safety orders and a take profit
    /// on the average: the starting point for building configs in code.
    pub fn new(base_order: OrderSize, take_profit_percent: Decimal) -> Self {
        StrategyConfig {
            side: Side::Long,
            base_order,
            safety_order: None,
            max_safety_orders: Some(0),
            price_deviation: None,
            step_scale: Decimal::ONE,
            volume_scale: Decimal::ONE,
            safety_anchor: SafetyAnchor::Base,
            custom_levels: None,
            max_active_safety_orders: None,
            take_profit: TakeProfit::new(take_profit_percent, PriceBase::Average),
            trailing_take_profit: None,
            stop_loss: None,
            stop_loss_timeout_secs: None,
            cooldown_secs: 0,
            max_deals: None,
            reinvest_percent: Decimal::ZERO,
            start_condition: StartCondition::Asap,
            time_limit: None,
            base_order_type: BaseOrderType::Market,
            entry_offset_percent: None,
            entry_timeout_secs: None,
        }
    }

    /// True when `custom_levels` replaces the `d, s, v, N` progression.
    pub fn is_custom(&self) -> bool {
        self.custom_levels.is_some()
    }

    /// Number of safety levels N.
    pub fn safety_count(&self) -> u32 {
        match &self.custom_levels {
            Some(levels) => u32::try_from(levels.len()).unwrap_or(u32::MAX),
            None => self.max_safety_orders.unwrap_or(0),
        }
    }

    /// How many safety orders may rest at once (1 for the `average` anchor,
    /// whose next price is only known after the previous level fills).
    pub fn active_safety_limit(&self) -> u32 {
        let n = self.safety_count();
        match self.safety_anchor {
            SafetyAnchor::Average => n.min(1),
            _ => self.max_active_safety_orders.unwrap_or(n).min(n),
        }
    }

    /// Raw deviation (percent) and size of safety level `n` (1-based): the
    /// custom level as written, or the gap `g_n = d * s^(n-1)` and size
    /// `S_1 * v^(n-1)` of the progression. The [ladder](crate::ladder) turns
    /// it into a price according to the anchor. `None` when `n` is out of
    /// range or the progression overflows.
    pub fn safety_level(&self, n: u32) -> Option<(Decimal, OrderSize)> {
        if n == 0 || n > self.safety_count() {
            return None;
        }
        if let Some(levels) = &self.custom_levels {
            let l = levels.get(usize::try_from(n - 1).ok()?)?;
            return Some((l.deviation, l.size));
        }
        let d = self.price_deviation?;
        let size = self.safety_order?;
        let gap = d.checked_mul(pow(self.step_scale, n - 1)?)?;
        let amount = size.amount().checked_mul(pow(self.volume_scale, n - 1)?)?;
        Some((gap, size.with_amount(amount)))
    }
}

impl OrderSize {
    fn with_amount(self, amount: Decimal) -> OrderSize {
        match self {
            OrderSize::Quote(_) => OrderSize::Quote(amount),
            OrderSize::Base(_) => OrderSize::Base(amount),
        }
    }
}

/// `x^n` by repeated multiplication (exact for the scales and N allowed);
/// `None` on overflow.
pub(crate) fn pow(x: Decimal, n: u32) -> Option<Decimal> {
    let mut acc = Decimal::ONE;
    for _ in 0..n {
        acc = acc.checked_mul(x)?;
    }
    Some(acc)
}
