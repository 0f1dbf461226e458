//! One checked arithmetic path for a deal's ladder, shared by the planner
//! ([`super::plan`], [`super::solve_budget`]) and the deal engine.
//!
//! A [`LevelSpec`] is a safety level's distance from its anchor and its
//! size, computed once from a validated strategy; [`LevelSpec::order`] turns
//! it into a price, a quantity and a nominal quote size at an anchor price
//! and a size scale. Every multiplication and sum here is checked: absurd
//! sizes or scales give [`LadderError::Overflow`] naming the level, never a
//! panic, whoever calls (`plan`, `backtest`, `paper`, a live runner).
//!
//! Invariant: for valid inputs the results are exactly those of the former
//! separate planner and engine paths (same operations in the same order).

use rust_decimal::Decimal;

use super::{order_quantity, safety_price_at, LadderError};
use crate::config::{ConfigError, OrderSize, SafetyAnchor, StrategyConfig};
use crate::market::MarketRules;
use crate::Side;

const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

/// A safety level's distance from its anchor (percent) and size: `D_n` from
/// P0 for the `base` anchor (or the custom deviation), the gap `g_n` for
/// `previous` and `average`.
///
/// Stored as `[distance, size]`; the fraction `distance / 100` is derived on
/// creation and on deserialization, so pricing a level never divides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(from = "(Decimal, OrderSize)", into = "(Decimal, OrderSize)")]
pub struct LevelSpec {
    /// Distance from the anchor, percent.
    pub distance: Decimal,
    /// `distance / 100`.
    pub fraction: Decimal,
    /// Unscaled size.
    pub size: OrderSize,
}

impl From<(Decimal, OrderSize)> for LevelSpec {
    fn from((distance, size): (Decimal, OrderSize)) -> Self {
        LevelSpec { distance, fraction: distance / HUNDRED, size }
    }
}

impl From<LevelSpec> for (Decimal, OrderSize) {
    fn from(l: LevelSpec) -> Self {
        (l.distance, l.size)
    }
}

/// A level priced and sized at an anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelQuote {
    /// Limit price on the tick grid.
    pub price: Decimal,
    /// Quantity on the step grid, checked against the market rules.
    pub quantity: Decimal,
    /// Nominal quote size: the quote size itself, or `price * quantity`.
    pub quote: Decimal,
}

impl LevelSpec {
    /// Prices and sizes level `level` `self.distance` percent from `anchor`
    /// with its size times `scale`; every step checked.
    pub fn order(
        &self,
        side: Side,
        rules: &MarketRules,
        anchor: Decimal,
        scale: Decimal,
        level: u32,
    ) -> Result<LevelQuote, LadderError> {
        let price = safety_price_at(side, rules, anchor, self.fraction, level)?;
        let size = scaled(self.size, scale).ok_or(LadderError::Overflow { level })?;
        let quantity = order_quantity(size, price, rules, level)?;
        let quote = nominal_quote(size, price, quantity).ok_or(LadderError::Overflow { level })?;
        Ok(LevelQuote { price, quantity, quote })
    }
}

/// Every safety level's [`LevelSpec`] for a validated strategy, with its
/// [nominal deviations](StrategyConfig::nominal_deviations).
pub fn level_specs(strategy: &StrategyConfig, deviations: &[Decimal]) -> Result<Vec<LevelSpec>, ConfigError> {
    let n = strategy.safety_count();
    // `n` is bounded by validation (and by `deviations`, which has n entries).
    let mut out = Vec::with_capacity(deviations.len());
    for level in 1..=n {
        let (dev, size) = strategy.safety_level(level).ok_or(ConfigError::Overflow { field: "step_scale", level })?;
        let distance = match (strategy.safety_anchor, strategy.is_custom()) {
            (SafetyAnchor::Base, false) => deviations
                .get(usize::try_from(level - 1).unwrap_or(usize::MAX))
                .copied()
                .ok_or(ConfigError::Overflow { field: "step_scale", level })?,
            _ => dev,
        };
        out.push(LevelSpec::from((distance, size)));
    }
    Ok(out)
}

/// `size * scale`, checked (`scale == 1` returns `size` unchanged, to the
/// digit and the scale): [`OrderSize::checked_scaled`].
pub fn scaled(size: OrderSize, scale: Decimal) -> Option<OrderSize> {
    size.checked_scaled(scale)
}

/// The nominal quote size of an order: a quote size itself, or
/// `price * quantity` for a base size; `None` on overflow.
pub fn nominal_quote(size: OrderSize, price: Decimal, quantity: Decimal) -> Option<Decimal> {
    match size {
        OrderSize::Quote(v) => Some(v),
        OrderSize::Base(_) => price.checked_mul(quantity),
    }
}

/// The base order of a deal at `price` with sizes times `scale`: its
/// quantity and nominal quote size.
pub fn base_order(
    strategy: &StrategyConfig,
    rules: &MarketRules,
    price: Decimal,
    scale: Decimal,
) -> Result<LevelQuote, LadderError> {
    if price <= Decimal::ZERO {
        return Err(LadderError::EntryPriceNotPositive { price });
    }
    let size = scaled(strategy.base_order, scale).ok_or(LadderError::Overflow { level: 0 })?;
    let quantity = order_quantity(size, price, rules, 0)?;
    let quote = nominal_quote(size, price, quantity).ok_or(LadderError::Overflow { level: 0 })?;
    Ok(LevelQuote { price, quantity, quote })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BotFile;
    use crate::ladder::plan;
    use rust_decimal_macros::dec;

    #[test]
    fn scaled_is_checked_and_exact_at_one() {
        assert_eq!(scaled(OrderSize::Quote(dec!(1.50)), Decimal::ONE), Some(OrderSize::Quote(dec!(1.50))));
        assert_eq!(scaled(OrderSize::Base(dec!(2)), dec!(1.5)), Some(OrderSize::Base(dec!(3.0))));
        assert_eq!(scaled(OrderSize::Quote(Decimal::MAX), dec!(2)), None);
    }

    #[test]
    fn overflowing_quote_ladder_is_a_typed_error() {
        // Issue 14 item 12: S1 = 1e13, v = 2, N = 53 -> funds overflow.
        // Parsed without the bot-file validation (which refuses these sizes
        // up front), so the planner's own checked arithmetic is what is tested.
        let b: BotFile = serde_json::from_str(
            r#"{"strategy": {"base_order": {"quote": "100"}, "take_profit": {"percent": "1"},
                "safety_order": {"quote": "10000000000000"}, "volume_scale": "2",
                "max_safety_orders": 53, "price_deviation": "0.1", "step_scale": "1"},
                "market": {"tick_size": "0.01", "step_size": "0.00001", "min_notional": "5"}}"#,
        )
        .unwrap();
        let err = plan(&b.strategy, &b.market, dec!(43250.17));
        // Overflow here, or refused by validation if it bounds sizes: never a panic.
        assert!(matches!(err, Err(LadderError::Overflow { .. } | LadderError::Config(_))), "{err:?}");
    }

    #[test]
    fn level_quote_matches_the_planner() {
        let b: BotFile = include_str!("../../bots/example.json").parse().unwrap();
        let devs = b.strategy.nominal_deviations().unwrap();
        let specs = level_specs(&b.strategy, &devs).unwrap();
        let p0 = dec!(43250.17);
        let planned = plan(&b.strategy, &b.market, p0).unwrap();
        for (k, spec) in specs.iter().enumerate() {
            let n = u32::try_from(k + 1).unwrap();
            let q = spec.order(b.strategy.side, &b.market, p0, Decimal::ONE, n).unwrap();
            assert_eq!((q.price, q.quantity), (planned.levels[k + 1].price, planned.levels[k + 1].quantity));
        }
    }
}
