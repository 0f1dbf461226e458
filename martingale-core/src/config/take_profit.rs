//! The take-profit target: one percent, or up to [`MAX_TP_STEPS`] steps
//! (SPEC sections 3 and 10).
//!
//! In a bot file `take_profit` holds either `percent` or `steps`, never
//! both:
//!
//! ```
//! use martingale_core::config::TakeProfit;
//! use rust_decimal_macros::dec;
//!
//! let one: TakeProfit = serde_json::from_str(r#"{"percent": "1.5"}"#).unwrap();
//! assert!(one.steps.is_empty());
//! let steps: TakeProfit = serde_json::from_str(
//!     r#"{"steps": [{"percent": "1", "close": "40"}, {"percent": "2", "close": "60"}]}"#,
//! ).unwrap();
//! // `percent` is the final target: the last step's percent.
//! assert_eq!(steps.percent, dec!(2));
//! assert!(serde_json::from_str::<TakeProfit>(r#"{"percent": "1", "steps": []}"#).is_err());
//! ```
//!
//! Invariant (checked by [`StrategyConfig::validate`](super::StrategyConfig::validate)):
//! with steps, their percents increase strictly, every `close` share is
//! above 0 and they sum to exactly 100, and `percent` equals the last
//! step's percent (deserialization sets it so).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::validate::ConfigError;
use super::PriceBase;

/// Most take-profit steps a strategy may have.
pub const MAX_TP_STEPS: usize = 8;

/// One take-profit step: a resting limit order `percent` from the
/// take-profit base that sells `close` percent of the position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TpStep {
    /// Distance from the take-profit base, percent (like `take_profit.percent`).
    pub percent: Decimal,
    /// Share of the position this step sells, percent.
    pub close: Decimal,
}

/// Take-profit target.
///
/// Without steps a deal has one take profit at `percent`. With steps
/// (SPEC section 10) each step is its own resting order priced from `base`
/// with its own percent; step k sells `close_k / 100` of the position's
/// entry quantity, rounded down to the step size, and the last one sells
/// whatever remains. Until a step fills, every entry fill re-prices and
/// re-sizes all steps; once one fills, the ladder stops (resting safety
/// orders are canceled, no more are placed) and the remaining steps keep
/// their prices. A step too small for the market's minimums is merged into
/// the next one. With `trailing_take_profit`, the last step is not placed:
/// reaching its price arms the trailing exit, which sells the remainder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawTakeProfit", into = "RawTakeProfit")]
pub struct TakeProfit {
    /// The final target, percent: the single target, or the last step's.
    pub percent: Decimal,
    /// What the percent is measured against.
    pub base: PriceBase,
    /// The steps, empty for a single target.
    pub steps: Vec<TpStep>,
}

impl TakeProfit {
    /// A single target `percent` from `base`.
    pub fn new(percent: Decimal, base: PriceBase) -> TakeProfit {
        TakeProfit { percent, base, steps: Vec::new() }
    }

    /// Steps priced from `base`; `percent` becomes the last step's.
    /// `None` for an empty list.
    pub fn with_steps(steps: Vec<TpStep>, base: PriceBase) -> Option<TakeProfit> {
        let percent = steps.last()?.percent;
        Some(TakeProfit { percent, base, steps })
    }

    /// The steps' percents and shares, or the single target as one step
    /// closing 100 %.
    pub fn targets(&self) -> Vec<TpStep> {
        if self.steps.is_empty() {
            vec![TpStep { percent: self.percent, close: Decimal::ONE_HUNDRED }]
        } else {
            self.steps.clone()
        }
    }

    /// The step rules of SPEC 10.1; `check_percent` applies the single
    /// target's bounds to each step's percent.
    pub(super) fn validate_steps(
        &self,
        check_percent: impl Fn(String, Decimal) -> Result<(), ConfigError>,
    ) -> Result<(), ConfigError> {
        if self.steps.is_empty() {
            return Ok(());
        }
        if self.steps.len() > MAX_TP_STEPS {
            return Err(ConfigError::TooManySteps { count: self.steps.len(), max: MAX_TP_STEPS });
        }
        let mut sum = Decimal::ZERO;
        for (i, s) in self.steps.iter().enumerate() {
            check_percent(format!("take_profit.steps[{i}].percent"), s.percent)?;
            if s.close <= Decimal::ZERO || s.close > Decimal::ONE_HUNDRED {
                return Err(ConfigError::OutOfRange {
                    field: format!("take_profit.steps[{i}].close"),
                    value: s.close,
                    min: Decimal::ZERO,
                    max: Decimal::ONE_HUNDRED,
                });
            }
            if let Some(previous) = i.checked_sub(1).and_then(|p| self.steps.get(p)) {
                if s.percent <= previous.percent {
                    return Err(ConfigError::StepsNotIncreasing {
                        index: i,
                        value: s.percent,
                        previous: previous.percent,
                    });
                }
            }
            sum += s.close;
        }
        if sum != Decimal::ONE_HUNDRED {
            return Err(ConfigError::StepSharesSum { sum });
        }
        if self.steps.last().map(|s| s.percent) != Some(self.percent) {
            return Err(ConfigError::Conflict {
                field: "take_profit.percent",
                value: self.percent.to_string(),
                other: "take_profit.steps",
                reason: "with steps, percent is the last step's percent",
            });
        }
        Ok(())
    }
}

/// The bot-file form: `percent` or `steps`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTakeProfit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    percent: Option<Decimal>,
    #[serde(default)]
    base: PriceBase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    steps: Option<Vec<TpStep>>,
}

impl TryFrom<RawTakeProfit> for TakeProfit {
    type Error = &'static str;
    fn try_from(raw: RawTakeProfit) -> Result<Self, Self::Error> {
        match (raw.percent, raw.steps) {
            (Some(percent), None) => Ok(TakeProfit::new(percent, raw.base)),
            (None, Some(steps)) => TakeProfit::with_steps(steps, raw.base)
                .ok_or("`steps` is empty: give 1 to 8 steps such as {\"percent\": \"1\", \"close\": \"40\"}"),
            (Some(_), Some(_)) => Err("give either `percent` or `steps`, not both"),
            (None, None) => Err("missing field `percent` (or `steps`)"),
        }
    }
}

impl From<TakeProfit> for RawTakeProfit {
    fn from(t: TakeProfit) -> Self {
        if t.steps.is_empty() {
            RawTakeProfit { percent: Some(t.percent), base: t.base, steps: None }
        } else {
            RawTakeProfit { percent: None, base: t.base, steps: Some(t.steps) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn steps(list: &[(Decimal, Decimal)]) -> TakeProfit {
        let steps = list.iter().map(|&(percent, close)| TpStep { percent, close }).collect();
        TakeProfit::with_steps(steps, PriceBase::Average).unwrap()
    }

    fn ok(_: String, _: Decimal) -> Result<(), ConfigError> {
        Ok(())
    }

    #[test]
    fn round_trips_in_both_forms() {
        for t in [TakeProfit::new(dec!(1.5), PriceBase::BaseOrder), steps(&[(dec!(1), dec!(40)), (dec!(2), dec!(60))])]
        {
            let text = serde_json::to_string(&t).unwrap();
            assert_eq!(serde_json::from_str::<TakeProfit>(&text).unwrap(), t, "{text}");
        }
        let text = serde_json::to_string(&steps(&[(dec!(1), dec!(100))])).unwrap();
        assert!(!text.contains("\"percent\":\"1\",\"base\""), "steps never carry a separate percent: {text}");
    }

    #[test]
    fn step_rules_name_the_field() {
        let cases = [
            (steps(&[(dec!(1), dec!(40)), (dec!(2), dec!(50))]), ConfigError::StepSharesSum { sum: dec!(90) }),
            (
                steps(&[(dec!(2), dec!(40)), (dec!(2), dec!(60))]),
                ConfigError::StepsNotIncreasing { index: 1, value: dec!(2), previous: dec!(2) },
            ),
            (
                steps(&[(dec!(1), dec!(0)), (dec!(2), dec!(100))]),
                ConfigError::OutOfRange {
                    field: "take_profit.steps[0].close".into(),
                    value: dec!(0),
                    min: dec!(0),
                    max: dec!(100),
                },
            ),
            (steps(&[(dec!(1), dec!(10)); 9]), ConfigError::TooManySteps { count: 9, max: 8 }),
        ];
        for (t, want) in cases {
            assert_eq!(t.validate_steps(ok), Err(want));
        }
        assert_eq!(
            steps(&[(dec!(1), dec!(33.3)), (dec!(2), dec!(33.3)), (dec!(3), dec!(33.4))]).validate_steps(ok),
            Ok(())
        );
    }
}
