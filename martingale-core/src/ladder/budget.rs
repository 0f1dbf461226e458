//! Budget solver: the base and safety order sizes that use a given amount of
//! funds.
//!
//! With quote sizes, a ladder needs `F = B + S_1 * G` where
//! `G = 1 + v + ... + v^(N-1)`. Given `F`, N, v and the ratio `r = S_1 / B`,
//! `B = F / (1 + r * G)` and `S_1 = r * B`. Both are truncated to the quote
//! grid (the tick size), so the funds required never exceed `F`; the
//! resulting ladder is then planned at the entry price, so a budget too small
//! for the exchange minimums fails with the level and rule.

use rust_decimal::Decimal;

use super::{plan, LadderError, LadderPlan};
use crate::config::{pow, OrderSize, StrategyConfig};
use crate::market::{round_to, MarketRules, Rounding};

/// Sizes found by [`solve_budget`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// The template with `base_order` and `safety_order` set (quote sizes).
    pub strategy: StrategyConfig,
    /// Base order quote size.
    pub base_order: Decimal,
    /// First safety order quote size.
    pub safety_order: Decimal,
    /// The ladder these sizes give at the entry price.
    pub plan: LadderPlan,
}

/// Sizes a ladder to `funds`, keeping the template's N, v, deviations and
/// take profit; `safety_ratio` is `S_1 / B` (e.g. 2 for a safety order twice
/// the base order).
///
/// ```
/// use martingale_core::config::BotFile;
/// use martingale_core::ladder::solve_budget;
/// use rust_decimal_macros::dec;
///
/// let bot: BotFile = martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap();
/// // The example ladder (B = 100, S1 = 200) needs 2737.5; give it 5475.
/// let b = solve_budget(&bot.strategy, &bot.market, dec!(43250.17), dec!(5475), dec!(2)).unwrap();
/// assert_eq!((b.base_order, b.safety_order), (dec!(200), dec!(400)));
/// assert_eq!(b.plan.funds_required, dec!(5475));
/// ```
pub fn solve_budget(
    template: &StrategyConfig,
    rules: &MarketRules,
    p0: Decimal,
    funds: Decimal,
    safety_ratio: Decimal,
) -> Result<Budget, LadderError> {
    let strategy = budget_strategy(template, rules, funds, safety_ratio)?;
    let (base, safety) = match (strategy.base_order, strategy.safety_order) {
        (OrderSize::Quote(b), Some(OrderSize::Quote(s))) => (b, s),
        (OrderSize::Quote(b), _) => (b, Decimal::ZERO),
        _ => return Err(LadderError::Budget { funds, reason: "sizes are not quote sizes".into() }),
    };
    let plan = plan(&strategy, rules, p0)?;
    debug_assert!(plan.funds_required <= funds);
    Ok(Budget { strategy, base_order: base, safety_order: safety, plan })
}

/// The template with quote sizes that use at most `funds` (the sizes of
/// [`solve_budget`] without planning a ladder: quote sizes do not depend on
/// the entry price, so a subscriber's ladder is scaled once and planned at
/// each signal's price).
pub fn budget_strategy(
    template: &StrategyConfig,
    rules: &MarketRules,
    funds: Decimal,
    safety_ratio: Decimal,
) -> Result<StrategyConfig, LadderError> {
    let fail = |reason: &str| LadderError::Budget { funds, reason: reason.into() };
    if funds <= Decimal::ZERO {
        return Err(fail("funds must be positive"));
    }
    if template.is_custom() {
        return Err(fail("custom_levels fix their own sizes"));
    }
    let n = template.safety_count();
    if n > 0 && safety_ratio <= Decimal::ZERO {
        return Err(fail("safety_ratio must be positive"));
    }
    let mut geometric = Decimal::ZERO;
    for k in 0..n {
        let term = pow(template.volume_scale, k).ok_or_else(|| fail("volume_scale overflows"))?;
        geometric = geometric.checked_add(term).ok_or_else(|| fail("volume_scale overflows"))?;
    }
    let ratio = if n == 0 { Decimal::ZERO } else { safety_ratio };
    let denominator =
        ratio.checked_mul(geometric).and_then(|x| x.checked_add(Decimal::ONE)).ok_or_else(|| fail("overflow"))?;
    let grid = rules.tick_size;
    let base = round_to(funds.checked_div(denominator).ok_or_else(|| fail("overflow"))?, grid, Rounding::Down);
    let safety = round_to(base.checked_mul(ratio).ok_or_else(|| fail("overflow"))?, grid, Rounding::Down);
    if base <= Decimal::ZERO {
        return Err(fail("the base order rounds to zero"));
    }
    let mut strategy = template.clone();
    strategy.base_order = OrderSize::Quote(base);
    strategy.safety_order = (n > 0).then_some(OrderSize::Quote(safety));
    Ok(strategy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BotFile;
    use rust_decimal_macros::dec;

    fn bot() -> BotFile {
        crate::config::EXAMPLE_BOT_JSON.parse().unwrap()
    }

    #[test]
    fn never_exceeds_funds_and_rounds_to_grid() {
        let b = bot();
        let out = solve_budget(&b.strategy, &b.market, dec!(43250.17), dec!(1000), dec!(2)).unwrap();
        // G = 1 + 1.5 + 2.25 + 3.375 + 5.0625 = 13.1875; B = 1000 / 27.375 = 36.529...
        assert_eq!(out.base_order, dec!(36.52));
        assert_eq!(out.safety_order, dec!(73.04));
        assert!(out.plan.funds_required <= dec!(1000));
        assert_eq!(out.plan.funds_required, dec!(36.52) + dec!(73.04) * dec!(13.1875));
    }

    #[test]
    fn too_small_names_the_rule() {
        let b = bot();
        let err = solve_budget(&b.strategy, &b.market, dec!(43250.17), dec!(50), dec!(2)).unwrap_err();
        assert!(matches!(err, LadderError::Rule { level: 0, .. }), "{err}");
        assert!(solve_budget(&b.strategy, &b.market, dec!(1), dec!(-1), dec!(2)).is_err());
    }
}
