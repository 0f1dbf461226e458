//! Ladder planning (SPEC section 2): the price, size and running totals of
//! every level of a deal.
//!
//! Invariants of a [`LadderPlan`]:
//! - level 0 is the base order at P0, levels 1..=N the safety orders;
//! - every price is on the tick grid, rounded in the entry side's favour
//!   (long: buy prices down; short: sell prices up) and strictly positive;
//! - every quantity is truncated to the step grid and every level passes the
//!   market's minimums at its planned price, or planning fails with the level
//!   and the rule that failed;
//! - `funds_required` is the sum of the nominal quote sizes (quote-sized
//!   orders are not rounded), so the cost actually committed never exceeds it.
//!
//! Known limitations: the plan ignores fees; for the `average` anchor it
//! assumes every level fills exactly at its price (the engine recomputes each
//! level from the real average when the previous one fills).

mod budget;
mod levels;

pub use budget::{budget_strategy, solve_budget, Budget};
pub use levels::{base_order, level_specs, nominal_quote, scaled, LevelQuote, LevelSpec};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::{ConfigError, OrderSize, PriceBase, SafetyAnchor, StrategyConfig};
use crate::market::{MarketRules, Rounding, RuleViolation};
use crate::Side;

const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

/// Why a ladder cannot be planned at a price.
///
/// ```
/// use martingale_core::config::BotFile;
/// use martingale_core::ladder::{plan, LadderError};
/// use rust_decimal_macros::dec;
/// let bot: BotFile = martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap();
/// // At 1e9 a quote of 100 buys less than one step: level 0 is impossible.
/// assert!(matches!(plan(&bot.strategy, &bot.market, dec!(1000000000)), Err(LadderError::Rule { level: 0, .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LadderError {
    /// The configuration itself is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The entry price is zero or negative.
    #[error("entry price {price} is not positive")]
    EntryPriceNotPositive {
        /// The price given.
        price: Decimal,
    },
    /// A level's price rounds to zero or below.
    #[error("level {level}: price {price} is not positive")]
    PriceNotPositive {
        /// Level (0 = base order).
        level: u32,
        /// Its price after rounding.
        price: Decimal,
    },
    /// A level breaks a market rule at its planned price.
    #[error("level {level} at price {price}: {violation}")]
    Rule {
        /// Level (0 = base order).
        level: u32,
        /// The planned price.
        price: Decimal,
        /// The rule broken.
        violation: RuleViolation,
    },
    /// Arithmetic overflow (absurd sizes or prices).
    #[error("level {level}: arithmetic overflow")]
    Overflow {
        /// Level.
        level: u32,
    },
    /// No sizes fit in the funds given to the budget solver.
    #[error("funds {funds} are too small: {reason}")]
    Budget {
        /// Funds given.
        funds: Decimal,
        /// Why.
        reason: String,
    },
}

/// One level of a planned deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedLevel {
    /// 0 = base order, n = safety order n.
    pub level: u32,
    /// Limit price (the base order's is P0).
    pub price: Decimal,
    /// Nominal distance from P0 in percent, before rounding.
    pub deviation: Decimal,
    /// Quantity in base currency, truncated to the step.
    pub quantity: Decimal,
    /// Nominal quote size (`S_n`); for base-sized orders, `price * quantity`.
    pub quote: Decimal,
    /// `price * quantity`: the quote actually committed.
    pub cost: Decimal,
    /// Sum of quantities up to this level.
    pub cumulative_quantity: Decimal,
    /// Sum of costs up to this level.
    pub cumulative_cost: Decimal,
    /// Average entry price if the deal stops filling here.
    pub average_price: Decimal,
    /// Take-profit price if the deal stops filling here (with
    /// `take_profit.steps`, the last step's).
    pub take_profit_price: Decimal,
    /// With `take_profit.steps`: each step's price if the deal stops
    /// filling here (SPEC section 10); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub take_profit_steps: Vec<Decimal>,
    /// The static stop-loss price if the deal stops filling here (`None`
    /// without a stop loss).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_loss_price: Option<Decimal>,
}

/// A planned ladder with its totals.
///
/// ```
/// use martingale_core::config::BotFile;
/// use martingale_core::ladder::plan;
/// use rust_decimal_macros::dec;
///
/// let bot: BotFile = martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap();
/// let ladder = plan(&bot.strategy, &bot.market, dec!(43250.17)).unwrap();
/// assert_eq!(ladder.levels[1].price, dec!(42601.41));
/// assert_eq!(ladder.levels[5].quantity, dec!(0.02635));
/// assert_eq!(ladder.funds_required, dec!(2737.5));
/// assert_eq!(ladder.max_deviation, dec!(11.1624));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LadderPlan {
    /// Deal side.
    pub side: Side,
    /// Entry (base order fill) price.
    pub entry_price: Decimal,
    /// Level 0..=N.
    pub levels: Vec<PlannedLevel>,
    /// Total quote a deal needs: base order plus every safety order.
    pub funds_required: Decimal,
    /// Nominal deviation of the last level from P0, percent.
    pub max_deviation: Decimal,
}

/// Plan the ladder of `strategy` for a deal whose base order filled at `p0`.
pub fn plan(strategy: &StrategyConfig, rules: &MarketRules, p0: Decimal) -> Result<LadderPlan, LadderError> {
    plan_scaled(strategy, rules, p0, Decimal::ONE)
}

/// Like [`plan`] with every order size multiplied by `scale` (reinvested
/// profit grows the sizes while keeping the ladder's proportions).
pub fn plan_scaled(
    strategy: &StrategyConfig,
    rules: &MarketRules,
    p0: Decimal,
    scale: Decimal,
) -> Result<LadderPlan, LadderError> {
    strategy.validate()?;
    let deviations = strategy.nominal_deviations()?;
    plan_with(strategy, rules, p0, scale, &deviations)
}

/// [`plan_scaled`] for a strategy already validated, with its
/// [nominal deviations](StrategyConfig::nominal_deviations) precomputed
/// (the engine plans every deal this way).
pub(crate) fn plan_with(
    strategy: &StrategyConfig,
    rules: &MarketRules,
    p0: Decimal,
    scale: Decimal,
    deviations: &[Decimal],
) -> Result<LadderPlan, LadderError> {
    if p0 <= Decimal::ZERO {
        return Err(LadderError::EntryPriceNotPositive { price: p0 });
    }
    let side = strategy.side;
    let specs = level_specs(strategy, deviations)?;
    let mut levels = Vec::with_capacity(specs.len() + 1);
    let mut totals = Totals::default();

    let base = base_order(strategy, rules, p0, scale)?;
    levels.push(totals.add(strategy, rules, 0, p0, Decimal::ZERO, base.quantity, base.quote)?);

    let mut previous_price = p0;
    for (k, spec) in specs.iter().enumerate() {
        let level = u32::try_from(k + 1).map_err(|_| LadderError::Overflow { level: u32::MAX })?;
        let anchor = match strategy.safety_anchor {
            SafetyAnchor::Base => p0,
            SafetyAnchor::Previous => previous_price,
            SafetyAnchor::Average => totals.exact_average().ok_or(LadderError::Overflow { level })?,
        };
        let q = spec.order(side, rules, anchor, scale, level)?;
        let nominal = deviations.get(k).copied().unwrap_or(spec.distance);
        levels.push(totals.add(strategy, rules, level, q.price, nominal, q.quantity, q.quote)?);
        previous_price = q.price;
    }
    Ok(LadderPlan {
        side,
        entry_price: p0,
        funds_required: totals.funds.normalize(),
        max_deviation: deviations.last().copied().unwrap_or(Decimal::ZERO),
        levels,
    })
}

/// Price of a safety order `distance` percent from `anchor`, rounded in the
/// entry side's favour.
pub fn safety_price(
    side: Side,
    rules: &MarketRules,
    anchor: Decimal,
    distance: Decimal,
    level: u32,
) -> Result<Decimal, LadderError> {
    safety_price_at(side, rules, anchor, distance / HUNDRED, level)
}

/// [`safety_price`] with the distance as a fraction (`distance / 100`,
/// computed once by callers that price the same level many times).
pub(crate) fn safety_price_at(
    side: Side,
    rules: &MarketRules,
    anchor: Decimal,
    fraction: Decimal,
    level: u32,
) -> Result<Decimal, LadderError> {
    let factor = match side {
        Side::Long => Decimal::ONE - fraction,
        Side::Short => Decimal::ONE + fraction,
    };
    let raw = anchor.checked_mul(factor).ok_or(LadderError::Overflow { level })?;
    let price = rules.round_limit_price(raw, side.entry());
    if price <= Decimal::ZERO {
        return Err(LadderError::PriceNotPositive { level, price });
    }
    Ok(price)
}

/// Quantity of an order of `size` at `price`, truncated to the step and
/// checked against the market's rules.
pub fn order_quantity(
    size: OrderSize,
    price: Decimal,
    rules: &MarketRules,
    level: u32,
) -> Result<Decimal, LadderError> {
    let q = match size {
        // The exact floor on a power-of-ten step (one integer division),
        // else a Decimal division truncated to the step.
        OrderSize::Quote(q) => match crate::market::div_floor_to_step(q, price, rules.step_size) {
            Some(units) => units,
            None => rules.round_qty(q.checked_div(price).ok_or(LadderError::Overflow { level })?),
        },
        OrderSize::Base(b) => rules.round_qty(b),
    };
    // The base order's price is the market's, which candle data may put off
    // the tick grid (float noise, SPEC section 10): only prices the bot
    // places are on the grid, so such a price is checked at its grid floor.
    match rules.validate_order(price, q) {
        Err(RuleViolation::PriceOffTick { .. }) => rules.validate_order(rules.round_price(price, Rounding::Down), q),
        checked => checked,
    }
    .map_err(|violation| LadderError::Rule { level, price, violation })?;
    Ok(q)
}

/// Take-profit price of a position (SPEC section 3), rounded in the exit
/// side's favour. `base_quote` is the base order's quote size; for a long,
/// `net_cost` is the quote spent minus the quote already received
/// (`entry - exit` value), `qty` the quantity still held.
pub fn take_profit_price(
    strategy: &StrategyConfig,
    rules: &MarketRules,
    average: Decimal,
    net_cost: Decimal,
    qty: Decimal,
    base_quote: Decimal,
) -> Option<Decimal> {
    take_profit_price_at(strategy, rules, strategy.take_profit.percent, average, net_cost, qty, base_quote)
}

/// [`take_profit_price`] for a take-profit step's own `percent` (SPEC
/// section 10): priced from `take_profit.base` like the single target.
pub fn take_profit_price_at(
    strategy: &StrategyConfig,
    rules: &MarketRules,
    percent: Decimal,
    average: Decimal,
    net_cost: Decimal,
    qty: Decimal,
    base_quote: Decimal,
) -> Option<Decimal> {
    let tp = percent / HUNDRED;
    let side = strategy.side;
    let raw = match (strategy.take_profit.base, side) {
        (PriceBase::Average, Side::Long) => average.checked_mul(Decimal::ONE + tp)?,
        (PriceBase::Average, Side::Short) => average.checked_mul(Decimal::ONE - tp)?,
        (PriceBase::BaseOrder, Side::Long) => net_cost.checked_add(tp.checked_mul(base_quote)?)?.checked_div(qty)?,
        (PriceBase::BaseOrder, Side::Short) => net_cost.checked_sub(tp.checked_mul(base_quote)?)?.checked_div(qty)?,
    };
    let price = rules.round_limit_price(raw, side.exit());
    // A short's target can fall below one tick; never price at or below zero.
    Some(if price <= Decimal::ZERO { rules.tick_size.max(Decimal::new(1, 28)) } else { price })
}

/// Stop-loss price (SPEC section 3), rounded toward the side that triggers
/// later; `None` without a stop loss.
pub fn stop_loss_price(
    strategy: &StrategyConfig,
    rules: &MarketRules,
    average: Decimal,
    p0: Decimal,
) -> Option<Decimal> {
    let sl = strategy.stop_loss?;
    let anchor = match sl.base {
        PriceBase::Average => average,
        PriceBase::BaseOrder => p0,
    };
    let pct = sl.percent / HUNDRED;
    let raw = match strategy.side {
        Side::Long => anchor.checked_mul(Decimal::ONE - pct)?,
        Side::Short => anchor.checked_mul(Decimal::ONE + pct)?,
    };
    Some(rules.round_price(raw, Rounding::for_stop(strategy.side.exit())))
}

#[derive(Default)]
struct Totals {
    base_quote: Decimal,
    p0: Decimal,
    qty: Decimal,
    cost: Decimal,
    funds: Decimal,
}

impl Totals {
    fn exact_average(&self) -> Option<Decimal> {
        if self.qty.is_zero() {
            Some(Decimal::ZERO)
        } else {
            self.cost.checked_div(self.qty)
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        strategy: &StrategyConfig,
        rules: &MarketRules,
        level: u32,
        price: Decimal,
        deviation: Decimal,
        quantity: Decimal,
        quote: Decimal,
    ) -> Result<PlannedLevel, LadderError> {
        let overflow = LadderError::Overflow { level };
        let cost = price.checked_mul(quantity).ok_or(overflow.clone())?;
        self.qty = self.qty.checked_add(quantity).ok_or(overflow.clone())?;
        self.cost = self.cost.checked_add(cost).ok_or(overflow.clone())?;
        self.funds = self.funds.checked_add(quote).ok_or(overflow.clone())?;
        let average = self.exact_average().ok_or(overflow.clone())?;
        if level == 0 {
            self.base_quote = quote;
            self.p0 = price;
        }
        let tp = take_profit_price(strategy, rules, average, self.cost, self.qty, self.base_quote)
            .ok_or(overflow.clone())?;
        let steps = strategy
            .take_profit
            .steps
            .iter()
            .map(|st| take_profit_price_at(strategy, rules, st.percent, average, self.cost, self.qty, self.base_quote))
            .collect::<Option<Vec<_>>>()
            .ok_or(overflow)?;
        let stop_loss_price = stop_loss_price(strategy, rules, average, self.p0);
        Ok(PlannedLevel {
            level,
            price,
            deviation: deviation.normalize(),
            quantity,
            quote: quote.normalize(),
            cost,
            cumulative_quantity: self.qty,
            cumulative_cost: self.cost,
            average_price: average,
            take_profit_price: tp,
            take_profit_steps: steps,
            stop_loss_price,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{StopLoss, TakeProfit};
    use rstest::rstest;
    use rust_decimal_macros::dec;

    fn rules(step: Decimal) -> MarketRules {
        MarketRules::new(dec!(0.01), step, Decimal::ZERO, dec!(5))
    }

    fn strategy(side: Side, anchor: SafetyAnchor, n: u32, d: Decimal) -> StrategyConfig {
        let mut c = StrategyConfig::new(OrderSize::Quote(dec!(100)), dec!(1));
        c.side = side;
        c.safety_anchor = anchor;
        c.safety_order = Some(OrderSize::Quote(dec!(100)));
        c.max_safety_orders = Some(n);
        c.price_deviation = Some(d);
        c
    }

    fn prices(p: &LadderPlan) -> Vec<Decimal> {
        p.levels.iter().map(|l| l.price).collect()
    }

    #[rstest]
    // Long, base anchor: buy prices round down.
    #[case(Side::Long, SafetyAnchor::Base, dec!(33.33), vec![dec!(33.33), dec!(32.99), dec!(32.66)])]
    // Short, base anchor: sell prices round up.
    #[case(Side::Short, SafetyAnchor::Base, dec!(33.33), vec![dec!(33.33), dec!(33.67), dec!(34.00)])]
    // Previous anchor compounds from the rounded previous price.
    #[case(Side::Long, SafetyAnchor::Previous, dec!(33.33), vec![dec!(33.33), dec!(32.99), dec!(32.66)])]
    #[case(Side::Long, SafetyAnchor::Previous, dec!(100), vec![dec!(100), dec!(99), dec!(98.01)])]
    #[case(Side::Short, SafetyAnchor::Previous, dec!(100), vec![dec!(100), dec!(101), dec!(102.01)])]
    fn level_prices(#[case] side: Side, #[case] anchor: SafetyAnchor, #[case] p0: Decimal, #[case] want: Vec<Decimal>) {
        let plan = plan(&strategy(side, anchor, 2, dec!(1)), &rules(dec!(0.0001)), p0).unwrap();
        assert_eq!(prices(&plan), want);
    }

    #[test]
    fn average_anchor_uses_exact_average() {
        let plan =
            plan(&strategy(Side::Long, SafetyAnchor::Average, 2, dec!(10)), &rules(dec!(0.0001)), dec!(100)).unwrap();
        // avg after level 1 = (100 + 90 * 1.1111) / 2.1111 = 94.7368...; * 0.9 = 85.263... -> 85.26
        assert_eq!(prices(&plan), vec![dec!(100), dec!(90), dec!(85.26)]);
        assert_eq!(plan.levels[2].quantity, dec!(1.1728));
    }

    #[rstest]
    #[case(Side::Long, PriceBase::Average, dec!(101))]
    #[case(Side::Short, PriceBase::Average, dec!(99))]
    // base_order: (cost + 1 % of 100) / qty = (100 + 1) / 1
    #[case(Side::Long, PriceBase::BaseOrder, dec!(101))]
    #[case(Side::Short, PriceBase::BaseOrder, dec!(99))]
    fn take_profit_bases(#[case] side: Side, #[case] base: PriceBase, #[case] want: Decimal) {
        let mut s = strategy(side, SafetyAnchor::Base, 0, dec!(1));
        s.take_profit = TakeProfit::new(dec!(1), base);
        let plan = plan(&s, &rules(dec!(0.0001)), dec!(100)).unwrap();
        assert_eq!(plan.levels[0].take_profit_price, want);
    }

    #[test]
    fn take_profit_on_base_order_after_safety_fills() {
        let mut s = strategy(Side::Long, SafetyAnchor::Base, 1, dec!(10));
        s.take_profit = TakeProfit::new(dec!(10), PriceBase::BaseOrder);
        let plan = plan(&s, &rules(dec!(0.0001)), dec!(100)).unwrap();
        // cost 100 + 90 * 1.1111 = 199.999; target +10 -> 209.999 / 2.1111 = 99.4737.. -> up 99.48
        assert_eq!(plan.levels[1].take_profit_price, dec!(99.48));
        // Rounding up: the average-based price rounds up too.
        s.take_profit.base = PriceBase::Average;
        let plan = plan_scaled(&s, &rules(dec!(0.0001)), dec!(100), Decimal::ONE).unwrap();
        // avg 94.73686.. * 1.1 = 104.2105.. -> 104.22
        assert_eq!(plan.levels[1].take_profit_price, dec!(104.22));
    }

    #[rstest]
    #[case(Side::Long, PriceBase::Average, dec!(94.73686703614229548576571456), dec!(100), dec!(85.26))]
    #[case(Side::Long, PriceBase::BaseOrder, dec!(94.7), dec!(100.005), dec!(90.00))]
    #[case(Side::Short, PriceBase::Average, dec!(100.001), dec!(100), dec!(110.01))]
    #[case(Side::Short, PriceBase::BaseOrder, dec!(1), dec!(100.001), dec!(110.01))]
    fn stop_loss_rounds_toward_later_trigger(
        #[case] side: Side,
        #[case] base: PriceBase,
        #[case] avg: Decimal,
        #[case] p0: Decimal,
        #[case] want: Decimal,
    ) {
        let mut s = strategy(side, SafetyAnchor::Base, 0, dec!(1));
        s.stop_loss = Some(StopLoss::new(dec!(10), base));
        assert_eq!(stop_loss_price(&s, &rules(dec!(0.0001)), avg, p0), Some(want));
    }

    #[test]
    fn min_notional_rejection_names_level_and_rule() {
        let mut s = strategy(Side::Long, SafetyAnchor::Base, 2, dec!(1));
        s.safety_order = Some(OrderSize::Quote(dec!(4)));
        let err = plan(&s, &rules(dec!(0.0001)), dec!(100)).unwrap_err();
        assert_eq!(
            err,
            LadderError::Rule {
                level: 1,
                price: dec!(99),
                violation: RuleViolation::BelowMinNotional { notional: dec!(3.9996), min_notional: dec!(5) },
            }
        );
    }

    #[test]
    fn quantity_rounding_below_step_is_rejected() {
        let s = strategy(Side::Long, SafetyAnchor::Base, 0, dec!(1));
        let err = plan(&s, &MarketRules::new(dec!(0.01), dec!(1), dec!(1), Decimal::ZERO), dec!(1000)).unwrap_err();
        assert!(matches!(
            err,
            LadderError::Rule { level: 0, violation: RuleViolation::NonPositiveQuantity { .. }, .. }
        ));
    }

    #[test]
    fn base_sized_orders_and_funds() {
        let mut s = strategy(Side::Long, SafetyAnchor::Base, 1, dec!(10));
        s.base_order = OrderSize::Base(dec!(1));
        s.safety_order = Some(OrderSize::Base(dec!(2)));
        let plan = plan(&s, &rules(dec!(0.0001)), dec!(100)).unwrap();
        assert_eq!(plan.levels[1].quantity, dec!(2));
        assert_eq!(plan.funds_required, dec!(100) + dec!(180));
    }

    #[test]
    fn entry_price_must_be_positive() {
        let s = strategy(Side::Long, SafetyAnchor::Base, 0, dec!(1));
        assert_eq!(plan(&s, &rules(dec!(1)), dec!(0)), Err(LadderError::EntryPriceNotPositive { price: dec!(0) }));
    }
}
