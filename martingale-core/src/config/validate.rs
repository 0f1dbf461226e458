//! Validation of a [`StrategyConfig`] without a price.
//!
//! Besides the rules of SPEC section 1, validation bounds every input so
//! that nothing downstream (ladder, engine, backtest) meets a value whose
//! arithmetic overflows a `Decimal` (96-bit mantissa, about 7.9 * 10^28):
//!
//! | what | accepted |
//! | --- | --- |
//! | sizes: `base_order`, `safety_order`, custom sizes, and every safety level's size after `volume_scale` | above 0, at most [`MAX_VALUE`] (10^13) |
//! | percents: `take_profit` (and each step's), `stop_loss`, `price_deviation`, custom deviations | above 0, at most [`MAX_PERCENT`] (10^6) |
//! | each level's nominal price relative to the entry price P0 | [`MIN_PRICE_RATIO`]..=[`MAX_PRICE_RATIO`] (10^-8..=10^8) |
//! | `step_scale`, `volume_scale` | 0.1..=10 |
//! | safety orders (N or custom levels) | 0..=[`MAX_SAFETY_ORDERS`] (200) |
//! | `cooldown_secs`, `stop_loss_timeout_secs`, `time_limit.secs` | at most [`MAX_SECS`] (10^10 s) |
//! | `entry_timeout_secs` (limit base order only) | 1..=[`MAX_SECS`] |
//! | `entry_offset_percent` (limit base order only) | 0..=99.99 |
//! | market `tick_size`, `step_size`, `min_qty`, `max_qty`, `min_notional` | 0..=[`MAX_VALUE`] |
//!
//! Every computation here is checked: an input that would overflow is a
//! [`ConfigError`] naming the field, never a panic (a property test feeds
//! random and extreme values).

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use thiserror::Error;

use super::{OrderSize, PriceBase, SafetyAnchor, StrategyConfig};
use crate::fees::{FeeAsset, InvalidFees};
use crate::market::InvalidRules;
use crate::Side;

/// Largest N allowed by SPEC section 1.
pub const MAX_SAFETY_ORDERS: u32 = 200;

/// Largest size (quote or base) of any order, and largest market rule value
/// accepted: 10^13.
pub const MAX_VALUE: Decimal = Decimal::from_parts(1_316_134_912, 2_328, 0, false, 0);

/// Largest percent accepted for take profit, stop loss and deviations: 10^6.
pub const MAX_PERCENT: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// Lowest nominal price of a safety level relative to the entry price: 10^-8.
pub const MIN_PRICE_RATIO: Decimal = Decimal::from_parts(1, 0, 0, false, 8);

/// Highest nominal price of a safety level relative to the entry price: 10^8.
pub const MAX_PRICE_RATIO: Decimal = Decimal::from_parts(100_000_000, 0, 0, false, 0);

/// Longest cooldown or stop-loss timeout accepted, in seconds (10^10, about
/// 317 years: the engine works in milliseconds).
pub const MAX_SECS: u64 = 10_000_000_000;

/// An invalid configuration: names the field and the bad value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// A field required by another field's value is absent.
    #[error("`{field}` is required: {reason}")]
    Missing {
        /// Field name.
        field: &'static str,
        /// Why it is required.
        reason: &'static str,
    },
    /// A size or percent that must be positive is not.
    #[error("`{field}` must be positive, got {value}")]
    NotPositive {
        /// Field name (with index for lists, e.g. `custom_levels[2].deviation`).
        field: String,
        /// The value.
        value: Decimal,
    },
    /// A value outside its allowed range.
    #[error("`{field}` = {value} is outside {min}..={max}")]
    OutOfRange {
        /// Field name.
        field: String,
        /// The value.
        value: Decimal,
        /// Lowest allowed.
        min: Decimal,
        /// Highest allowed.
        max: Decimal,
    },
    /// Two fields disagree.
    #[error("`{field}` = {value} conflicts with `{other}`: {reason}")]
    Conflict {
        /// Field name.
        field: &'static str,
        /// Its value, rendered.
        value: String,
        /// The other field.
        other: &'static str,
        /// Why they cannot be combined.
        reason: &'static str,
    },
    /// A long ladder reaching 100 % below P0 would price an order at or below zero.
    #[error("safety order {level} lies {deviation} % from the entry: its price would be at or below zero")]
    LevelPriceNotPositive {
        /// 1-based level.
        level: u32,
        /// Cumulative deviation from P0, percent.
        deviation: Decimal,
    },
    /// With the `base` anchor, custom deviations must grow from level to level.
    #[error("custom_levels[{index}].deviation = {value} must be greater than the previous level's {previous}")]
    DeviationNotIncreasing {
        /// 0-based index into `custom_levels`.
        index: usize,
        /// Its deviation.
        value: Decimal,
        /// The previous level's deviation.
        previous: Decimal,
    },
    /// A stop loss on the base order that fires before the last safety order can fill.
    #[error("stop_loss.percent = {stop_percent} lies inside the ladder (the last safety order is {ladder_deviation} % away): the stop would fire first")]
    StopLossInsideLadder {
        /// The stop's percent.
        stop_percent: Decimal,
        /// Maximum deviation covered by the ladder, percent.
        ladder_deviation: Decimal,
    },
    /// Computing the ladder overflowed (e.g. a huge scale to a high power).
    #[error("`{field}` makes the ladder overflow at level {level}")]
    Overflow {
        /// The field that grew too large.
        field: &'static str,
        /// 1-based level.
        level: u32,
    },
    /// A safety level's nominal price, relative to the entry price, lies
    /// outside the accepted range.
    #[error("safety order {level} would be priced at {ratio} times the entry price, outside the accepted {min}..={max}: reduce the deviations")]
    LevelPriceOutOfRange {
        /// 1-based level.
        level: u32,
        /// Its nominal price with the entry price at 1.
        ratio: Decimal,
        /// Lowest ratio accepted.
        min: Decimal,
        /// Highest ratio accepted.
        max: Decimal,
    },
    /// A safety level's size (after `volume_scale`) exceeds the largest size accepted.
    #[error("safety order {level} would have size {size}, above the largest accepted ({max}): lower safety_order, volume_scale or max_safety_orders")]
    LevelSizeTooLarge {
        /// 1-based level.
        level: u32,
        /// Its size.
        size: Decimal,
        /// Largest size accepted.
        max: Decimal,
    },
    /// More take-profit steps than allowed.
    #[error("take_profit.steps has {count} steps, at most {max} are allowed")]
    TooManySteps {
        /// Steps given.
        count: usize,
        /// Most allowed.
        max: usize,
    },
    /// Take-profit step percents must increase from step to step.
    #[error("take_profit.steps[{index}].percent = {value} must be greater than the previous step's {previous}")]
    StepsNotIncreasing {
        /// 0-based index into `take_profit.steps`.
        index: usize,
        /// Its percent.
        value: Decimal,
        /// The previous step's percent.
        previous: Decimal,
    },
    /// Take-profit step shares must close the whole position.
    #[error("take_profit.steps close shares sum to {sum}, they must sum to exactly 100")]
    StepSharesSum {
        /// Their sum.
        sum: Decimal,
    },
    /// Invalid market rules.
    #[error("market: {0}")]
    Market(#[from] InvalidRules),
    /// Invalid fee rates.
    #[error("fees: {0}")]
    Fees(#[from] InvalidFees),
}

fn positive(field: impl Into<String>, value: Decimal) -> Result<(), ConfigError> {
    let field = field.into();
    if value <= Decimal::ZERO {
        return Err(ConfigError::NotPositive { field, value });
    }
    in_range(&field, value, Decimal::ZERO, MAX_VALUE)
}

/// Above zero and at most [`MAX_PERCENT`].
fn percent(field: impl Into<String>, value: Decimal) -> Result<(), ConfigError> {
    let field = field.into();
    if value <= Decimal::ZERO {
        return Err(ConfigError::NotPositive { field, value });
    }
    in_range(&field, value, Decimal::ZERO, MAX_PERCENT)
}

fn secs(field: &str, value: u64) -> Result<(), ConfigError> {
    in_range(field, Decimal::from(value), Decimal::ZERO, Decimal::from(MAX_SECS))
}

fn in_range(field: &str, value: Decimal, min: Decimal, max: Decimal) -> Result<(), ConfigError> {
    if value >= min && value <= max {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange { field: field.into(), value, min, max })
    }
}

impl StrategyConfig {
    /// Checks every rule of SPEC section 1 that does not need a price.
    ///
    /// ```
    /// use martingale_core::config::{ConfigError, OrderSize, StrategyConfig};
    /// use rust_decimal_macros::dec;
    ///
    /// let mut cfg = StrategyConfig::new(OrderSize::Quote(dec!(100)), dec!(1.5));
    /// cfg.max_safety_orders = Some(3);
    /// assert_eq!(cfg.validate(), Err(ConfigError::Missing {
    ///     field: "safety_order", reason: "max_safety_orders > 0" }));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("base_order", self.base_order.amount())?;
        let take_profit_percent = |field: String, value: Decimal| {
            percent(field.clone(), value)?;
            if self.side == Side::Short {
                // A short's take profit must stay above zero.
                in_range(&field, value, Decimal::ZERO, dec!(99.99))?;
            }
            Ok(())
        };
        take_profit_percent("take_profit.percent".into(), self.take_profit.percent)?;
        self.take_profit.validate_steps(take_profit_percent)?;
        if let Some(t) = self.trailing_take_profit {
            positive("trailing_take_profit", t)?;
            in_range("trailing_take_profit", t, Decimal::ZERO, dec!(99.99))?;
        }
        in_range("reinvest_percent", self.reinvest_percent, Decimal::ZERO, dec!(100))?;
        if let Some(active) = self.max_active_safety_orders {
            if active == 0 && self.safety_count() > 0 {
                return Err(ConfigError::NotPositive {
                    field: "max_active_safety_orders".into(),
                    value: Decimal::ZERO,
                });
            }
        }
        secs("cooldown_secs", self.cooldown_secs)?;
        if let Some(t) = self.stop_loss_timeout_secs {
            secs("stop_loss_timeout_secs", t)?;
        }
        if let Some(t) = self.time_limit {
            secs("time_limit.secs", t.secs)?;
            if let Some(m) = t.min_profit_percent {
                in_range("time_limit.min_profit_percent", m, dec!(-99.99), MAX_PERCENT)?;
            }
        }
        self.validate_entry()?;
        if self.max_deals == Some(0) {
            return Err(ConfigError::NotPositive { field: "max_deals".into(), value: Decimal::ZERO });
        }
        self.validate_levels()?;
        self.validate_stop()
    }

    /// `entry_offset_percent` and `entry_timeout_secs` need a limit base
    /// order; the offset is in `0..=99.99` (a long's limit price stays
    /// above zero; a short's is bounded the same way).
    fn validate_entry(&self) -> Result<(), ConfigError> {
        let limit = self.base_order_type == super::BaseOrderType::Limit;
        let needs_limit = |field: &'static str, value: String| ConfigError::Conflict {
            field,
            value,
            other: "base_order_type",
            reason: "only a limit base order has an offset or a timeout: set base_order_type = \"limit\"",
        };
        if let Some(off) = self.entry_offset_percent {
            if !limit {
                return Err(needs_limit("entry_offset_percent", off.to_string()));
            }
            in_range("entry_offset_percent", off, Decimal::ZERO, dec!(99.99))?;
        }
        if let Some(t) = self.entry_timeout_secs {
            if !limit {
                return Err(needs_limit("entry_timeout_secs", t.to_string()));
            }
            secs("entry_timeout_secs", t)?;
            if t == 0 {
                return Err(ConfigError::NotPositive { field: "entry_timeout_secs".into(), value: Decimal::ZERO });
            }
        }
        Ok(())
    }

    fn validate_levels(&self) -> Result<(), ConfigError> {
        if let Some(levels) = &self.custom_levels {
            if let Some(n) = self.max_safety_orders {
                if usize::try_from(n).ok() != Some(levels.len()) {
                    return Err(ConfigError::Conflict {
                        field: "max_safety_orders",
                        value: n.to_string(),
                        other: "custom_levels",
                        reason: "custom levels set N; leave max_safety_orders out or make it equal",
                    });
                }
            }
            let count = Decimal::from(levels.len());
            in_range("custom_levels (count)", count, Decimal::ZERO, Decimal::from(MAX_SAFETY_ORDERS))?;
            let mut previous = Decimal::ZERO;
            for (i, level) in levels.iter().enumerate() {
                percent(format!("custom_levels[{i}].deviation"), level.deviation)?;
                positive(format!("custom_levels[{i}].size"), level.size.amount())?;
                if self.safety_anchor == SafetyAnchor::Base && i > 0 && level.deviation <= previous {
                    return Err(ConfigError::DeviationNotIncreasing { index: i, value: level.deviation, previous });
                }
                previous = level.deviation;
            }
        } else {
            let n = self
                .max_safety_orders
                .ok_or(ConfigError::Missing { field: "max_safety_orders", reason: "there are no custom_levels" })?;
            in_range("max_safety_orders", Decimal::from(n), Decimal::ZERO, Decimal::from(MAX_SAFETY_ORDERS))?;
            if n > 0 {
                let size = self
                    .safety_order
                    .ok_or(ConfigError::Missing { field: "safety_order", reason: "max_safety_orders > 0" })?;
                positive("safety_order", size.amount())?;
                let d = self
                    .price_deviation
                    .ok_or(ConfigError::Missing { field: "price_deviation", reason: "max_safety_orders > 0" })?;
                percent("price_deviation", d)?;
                in_range("step_scale", self.step_scale, dec!(0.1), dec!(10))?;
                in_range("volume_scale", self.volume_scale, dec!(0.1), dec!(10))?;
            }
        }
        // Price must stay above zero for long ladders; also catches overflow.
        let ladder = self.nominal_ladder(true)?;
        if self.side == Side::Long {
            for (level, deviation) in (1u32..).zip(&ladder) {
                if *deviation >= dec!(100) {
                    return Err(ConfigError::LevelPriceNotPositive { level, deviation: *deviation });
                }
            }
        }
        Ok(())
    }

    fn validate_stop(&self) -> Result<(), ConfigError> {
        let Some(sl) = self.stop_loss else {
            if self.stop_loss_timeout_secs.is_some() {
                return Err(ConfigError::Missing { field: "stop_loss", reason: "stop_loss_timeout_secs is set" });
            }
            return Ok(());
        };
        percent("stop_loss.percent", sl.percent)?;
        if let Some(k) = sl.breakeven_after_step {
            if k == 0 || usize::from(k) >= self.take_profit.steps.len() {
                return Err(ConfigError::Conflict {
                    field: "stop_loss.breakeven_after_step",
                    value: k.to_string(),
                    other: "take_profit.steps",
                    reason: "it must be at least 1 and below the number of take-profit steps",
                });
            }
        }
        if self.side == Side::Long {
            in_range("stop_loss.percent", sl.percent, Decimal::ZERO, dec!(99.99))?;
        }
        if sl.base == PriceBase::BaseOrder {
            let ladder = self.nominal_deviations()?.last().copied().unwrap_or(Decimal::ZERO);
            if sl.percent <= ladder {
                return Err(ConfigError::StopLossInsideLadder { stop_percent: sl.percent, ladder_deviation: ladder });
            }
        }
        Ok(())
    }

    /// Cumulative deviation of every safety level from P0, in percent,
    /// before rounding to the tick grid. For the `average` anchor it assumes
    /// every level fills at its planned price.
    ///
    /// Every step is checked: an input whose ladder overflows a `Decimal`
    /// gives [`ConfigError::Overflow`] naming the field that grew, never a
    /// panic. It does not apply the bounds of [`StrategyConfig::validate`].
    pub fn nominal_deviations(&self) -> Result<Vec<Decimal>, ConfigError> {
        self.nominal_ladder(false)
    }

    /// The nominal ladder relative to P0 = 1 (each level's cumulative
    /// deviation), every operation checked (see [`StrategyConfig::nominal_deviations`]).
    /// With `bounded`, each level is held to the bounds of the module
    /// documentation as soon as it is computed (so an absurd level is named
    /// as such rather than as the overflow it leads to).
    fn nominal_ladder(&self, bounded: bool) -> Result<Vec<Decimal>, ConfigError> {
        let n = self.safety_count();
        let mut out = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(MAX_SAFETY_ORDERS as usize));
        let sign = match self.side {
            Side::Long => Decimal::NEGATIVE_ONE,
            Side::Short => Decimal::ONE,
        };
        let hundred = dec!(100);
        // Relative prices with P0 = 1; the average tracks quote / base sizes.
        let (mut price, mut cum_dev) = (Decimal::ONE, Decimal::ZERO);
        let (mut qty, mut cost) = (Decimal::ONE, Decimal::ONE);
        let base_quote = self.base_order.amount();
        // Which field makes a level overflow: the deviations for prices,
        // the sizes for the average's weights.
        let (dev_field, size_field) = match (self.is_custom(), self.safety_anchor) {
            (true, _) => ("custom_levels", "custom_levels"),
            (false, SafetyAnchor::Base) => ("step_scale", "volume_scale"),
            (false, _) => ("price_deviation", "volume_scale"),
        };
        for level in 1..=n {
            let over = |field| ConfigError::Overflow { field, level };
            let (dev, size) = self.safety_level(level).ok_or_else(|| over(self.overflowing_scale(level)))?;
            if bounded && size.amount() > MAX_VALUE {
                return Err(ConfigError::LevelSizeTooLarge { level, size: size.amount(), max: MAX_VALUE });
            }
            let anchor_price = match self.safety_anchor {
                SafetyAnchor::Base => Decimal::ONE,
                SafetyAnchor::Previous => price,
                SafetyAnchor::Average => cost.checked_div(qty).ok_or(over(size_field))?,
            };
            let dist = match (self.safety_anchor, self.is_custom()) {
                (SafetyAnchor::Base, false) => {
                    cum_dev = cum_dev.checked_add(dev).ok_or(over(dev_field))?;
                    cum_dev
                }
                _ => dev,
            };
            let factor = sign
                .checked_mul(dist)
                .and_then(|x| x.checked_div(hundred))
                .and_then(|x| Decimal::ONE.checked_add(x))
                .ok_or(over(dev_field))?;
            price = anchor_price.checked_mul(factor).ok_or(over(dev_field))?;
            if price <= Decimal::ZERO {
                let deviation = Decimal::ONE.checked_sub(price).and_then(|x| x.checked_mul(hundred));
                return Err(match deviation {
                    Some(deviation) => ConfigError::LevelPriceNotPositive { level, deviation },
                    None => over(dev_field),
                });
            }
            if bounded && (price < MIN_PRICE_RATIO || price > MAX_PRICE_RATIO) {
                return Err(ConfigError::LevelPriceOutOfRange {
                    level,
                    ratio: price,
                    min: MIN_PRICE_RATIO,
                    max: MAX_PRICE_RATIO,
                });
            }
            // Weights relative to the base order, in the base order's unit.
            let w = size.amount().checked_div(base_quote).ok_or(over(size_field))?;
            let q = match size {
                OrderSize::Quote(_) => w.checked_div(price).ok_or(over(size_field))?,
                OrderSize::Base(_) => w,
            };
            qty = qty.checked_add(q).ok_or(over(size_field))?;
            cost = q.checked_mul(price).and_then(|c| cost.checked_add(c)).ok_or(over(size_field))?;
            let deviation = price
                .checked_sub(Decimal::ONE)
                .and_then(|x| x.abs().checked_mul(hundred))
                .ok_or(over(dev_field))?
                .normalize();
            out.push(deviation);
        }
        Ok(out)
    }

    /// Which scale makes progression level `level` overflow: the gap
    /// `d * s^(n-1)` or the size `S_1 * v^(n-1)`.
    fn overflowing_scale(&self, level: u32) -> &'static str {
        let gap = self.price_deviation.zip(super::pow(self.step_scale, level.saturating_sub(1)));
        if gap.and_then(|(d, p)| d.checked_mul(p)).is_none() {
            "step_scale"
        } else {
            "volume_scale"
        }
    }
}

/// Rejects combinations the engine does not support, with the reason.
///
/// A short deal with fees withheld in base would leave the short uncovered
/// after the buy-back (the fee is taken from the quantity bought back).
pub(crate) fn check_fee_side(side: Side, asset: FeeAsset) -> Result<(), ConfigError> {
    if side == Side::Short && asset == FeeAsset::Base {
        return Err(ConfigError::Conflict {
            field: "fees.asset",
            value: "base".into(),
            other: "strategy.side",
            reason: "a short's buy-back would be reduced by a base-asset fee and leave the short open; use quote fees",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CustomLevel, StopLoss};
    use rust_decimal_macros::dec;

    fn example() -> StrategyConfig {
        let mut c = StrategyConfig::new(OrderSize::Quote(dec!(100)), dec!(1.5));
        c.safety_order = Some(OrderSize::Quote(dec!(200)));
        c.max_safety_orders = Some(5);
        c.price_deviation = Some(dec!(1.5));
        c.step_scale = dec!(1.2);
        c.volume_scale = dec!(1.5);
        c
    }

    #[test]
    fn worked_example_deviations() {
        let devs = example().nominal_deviations().unwrap();
        assert_eq!(devs, vec![dec!(1.5), dec!(3.3), dec!(5.46), dec!(8.052), dec!(11.1624)]);
    }

    #[test]
    fn previous_anchor_compounds() {
        let mut c = example();
        c.safety_anchor = SafetyAnchor::Previous;
        c.max_safety_orders = Some(2);
        // 1 - 0.985 * 0.982 = 3.273 %
        assert_eq!(c.nominal_deviations().unwrap(), vec![dec!(1.5), dec!(3.273)]);
    }

    #[test]
    fn errors_name_field_and_value() {
        let mut c = example();
        c.step_scale = dec!(11);
        assert_eq!(
            c.validate(),
            Err(ConfigError::OutOfRange { field: "step_scale".into(), value: dec!(11), min: dec!(0.1), max: dec!(10) })
        );
        let mut c = example();
        c.base_order = OrderSize::Quote(dec!(-5));
        assert_eq!(c.validate(), Err(ConfigError::NotPositive { field: "base_order".into(), value: dec!(-5) }));
        let mut c = example();
        c.max_safety_orders = Some(201);
        assert!(matches!(c.validate(), Err(ConfigError::OutOfRange { .. })));
        let mut c = example();
        c.price_deviation = None;
        assert_eq!(
            c.validate(),
            Err(ConfigError::Missing { field: "price_deviation", reason: "max_safety_orders > 0" })
        );
    }

    #[test]
    fn ladder_through_zero_rejected() {
        let mut c = example();
        c.price_deviation = Some(dec!(30));
        c.step_scale = Dec::ONE;
        c.max_safety_orders = Some(4);
        assert_eq!(c.validate(), Err(ConfigError::LevelPriceNotPositive { level: 4, deviation: dec!(120) }));
        c.side = Side::Short;
        assert_eq!(c.validate(), Ok(()));
    }
    use rust_decimal::Decimal as Dec;

    #[test]
    fn base_order_stop_inside_ladder_rejected() {
        let mut c = example();
        c.stop_loss = Some(StopLoss::new(dec!(10), PriceBase::BaseOrder));
        assert_eq!(
            c.validate(),
            Err(ConfigError::StopLossInsideLadder { stop_percent: dec!(10), ladder_deviation: dec!(11.1624) })
        );
        c.stop_loss = Some(StopLoss::new(dec!(12), PriceBase::BaseOrder));
        assert_eq!(c.validate(), Ok(()));
        // An average-based stop moves with the average: not checked statically.
        c.stop_loss = Some(StopLoss::new(dec!(3), PriceBase::Average));
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn custom_levels_rules() {
        let mut c = example();
        c.max_safety_orders = None;
        c.custom_levels = Some(vec![
            CustomLevel { deviation: dec!(2), size: OrderSize::Quote(dec!(150)) },
            CustomLevel { deviation: dec!(2), size: OrderSize::Quote(dec!(150)) },
        ]);
        assert_eq!(
            c.validate(),
            Err(ConfigError::DeviationNotIncreasing { index: 1, value: dec!(2), previous: dec!(2) })
        );
        c.safety_anchor = SafetyAnchor::Previous;
        assert_eq!(c.validate(), Ok(()));
        c.max_safety_orders = Some(3);
        assert!(matches!(c.validate(), Err(ConfigError::Conflict { field: "max_safety_orders", .. })));
    }

    #[test]
    fn short_with_base_fees_rejected() {
        assert!(check_fee_side(Side::Short, FeeAsset::Base).is_err());
        assert!(check_fee_side(Side::Long, FeeAsset::Base).is_ok());
    }
}
