//! Position sizing for signal-driven entries.
//!
//! With a stop: `qty = capital * risk_per_trade * leverage / |entry - stop|`:
//! the quantity whose loss at the stop is `risk_per_trade` of the capital
//! (scaled by leverage). Without a stop:
//! `qty = capital * risk_per_trade * leverage / entry`, i.e. a fixed share of
//! the capital. The result is truncated to the step grid and checked against
//! the market's rules. `risk_per_trade` is a fraction (`0.01` = 1 %).

use rust_decimal::Decimal;
use thiserror::Error;

use crate::market::{MarketRules, RuleViolation};

/// Why a size cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SizingError {
    /// Capital is zero or negative.
    #[error("capital {capital} is not positive")]
    NoCapital {
        /// The capital given.
        capital: Decimal,
    },
    /// Risk share outside `(0, 1]`.
    #[error("risk_per_trade {value} is outside (0, 1]")]
    BadRisk {
        /// The value given.
        value: Decimal,
    },
    /// Leverage below 1.
    #[error("leverage {value} is below 1")]
    BadLeverage {
        /// The value given.
        value: Decimal,
    },
    /// Entry price zero or negative.
    #[error("entry price {entry} is not positive")]
    BadEntry {
        /// The value given.
        entry: Decimal,
    },
    /// Entry and stop are the same price.
    #[error("stop {stop} equals entry {entry}: zero risk distance")]
    ZeroDistance {
        /// Entry price.
        entry: Decimal,
        /// Stop price.
        stop: Decimal,
    },
    /// The rounded size breaks a market rule (e.g. below the minimum).
    #[error("size {quantity} at {price}: {violation}")]
    Rule {
        /// Rounded quantity.
        quantity: Decimal,
        /// Entry price.
        price: Decimal,
        /// The rule broken.
        violation: RuleViolation,
    },
}

/// Inputs of a risk-based size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RiskSizing {
    /// Account capital in quote.
    pub capital: Decimal,
    /// Fraction of capital risked per trade.
    pub risk_per_trade: Decimal,
    /// Leverage (1 for spot).
    pub leverage: Decimal,
}

impl RiskSizing {
    /// Quantity to enter at `entry` with an optional `stop`, truncated to the
    /// step and validated against `rules`.
    ///
    /// ```
    /// use martingale_core::sizing::{RiskSizing, SizingError};
    /// use martingale_core::MarketRules;
    /// use rust_decimal_macros::dec;
    ///
    /// let rules = MarketRules::new(dec!(0.01), dec!(0.001), dec!(0.001), dec!(5));
    /// let s = RiskSizing { capital: dec!(10000), risk_per_trade: dec!(0.01), leverage: dec!(1) };
    /// // Risk 100 quote over a 250 distance: 0.4 units.
    /// assert_eq!(s.quantity(dec!(25000), Some(dec!(24750)), &rules), Ok(dec!(0.4)));
    /// // No stop: 1 % of capital at 25000 is 0.004 units.
    /// assert_eq!(s.quantity(dec!(25000), None, &rules), Ok(dec!(0.004)));
    /// assert!(matches!(s.quantity(dec!(25000), Some(dec!(25000)), &rules),
    ///     Err(SizingError::ZeroDistance { .. })));
    /// ```
    pub fn quantity(&self, entry: Decimal, stop: Option<Decimal>, rules: &MarketRules) -> Result<Decimal, SizingError> {
        self.validate()?;
        sized_quantity(self.exposure(), &SizeBasis::new(entry, stop, rules)?, rules)
    }

    /// Checks capital, risk share and leverage.
    pub fn validate(&self) -> Result<(), SizingError> {
        if self.capital <= Decimal::ZERO {
            return Err(SizingError::NoCapital { capital: self.capital });
        }
        if self.risk_per_trade <= Decimal::ZERO || self.risk_per_trade > Decimal::ONE {
            return Err(SizingError::BadRisk { value: self.risk_per_trade });
        }
        if self.leverage < Decimal::ONE {
            return Err(SizingError::BadLeverage { value: self.leverage });
        }
        Ok(())
    }

    /// `capital * risk_per_trade * leverage` (`None` on overflow).
    pub(crate) fn exposure(&self) -> Option<Decimal> {
        self.capital.checked_mul(self.risk_per_trade).and_then(|x| x.checked_mul(self.leverage))
    }
}

/// What a size needs from a signal's prices, shared by every subscriber on
/// one market (the fan-out computes it once per market).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SizeBasis {
    entry: Decimal,
    /// `|entry - stop|`, or the entry without a stop.
    divisor: Decimal,
    /// The entry on the tick grid, for the rule check.
    check_price: Decimal,
}

impl SizeBasis {
    pub(crate) fn new(entry: Decimal, stop: Option<Decimal>, rules: &MarketRules) -> Result<SizeBasis, SizingError> {
        if !crate::market::is_positive(entry) {
            return Err(SizingError::BadEntry { entry });
        }
        let divisor = match stop {
            Some(stop) => {
                let distance = (entry - stop).abs();
                if distance.is_zero() {
                    return Err(SizingError::ZeroDistance { entry, stop });
                }
                distance
            }
            None => entry,
        };
        Ok(SizeBasis { entry, divisor, check_price: rules.round_price(entry, crate::market::Rounding::Down) })
    }
}

/// The size for a validated sizing's exposure: one division, truncated to
/// the step, checked against the rules. [`RiskSizing::quantity`] and the
/// fan-out (which precomputes the exposure per subscriber and the basis per
/// market) both end here, so they agree exactly.
pub(crate) fn sized_quantity(
    exposure: Option<Decimal>,
    basis: &SizeBasis,
    rules: &MarketRules,
) -> Result<Decimal, SizingError> {
    // The exact integer floor when the step is a power of ten (one integer
    // division); else divide in Decimal and truncate.
    let quantity =
        exposure.and_then(|a| crate::market::div_floor_to_step(a, basis.divisor, rules.step_size)).unwrap_or_else(
            || rules.round_qty(exposure.and_then(|a| a.checked_div(basis.divisor)).unwrap_or(Decimal::ZERO)),
        );
    rules.validate_order(basis.check_price, quantity).map_err(|violation| SizingError::Rule {
        quantity,
        price: basis.entry,
        violation,
    })?;
    Ok(quantity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    fn rules() -> MarketRules {
        MarketRules::new(dec!(0.01), dec!(0.001), dec!(0.001), dec!(5))
    }

    #[rstest]
    #[case(dec!(1000), dec!(0.02), dec!(3), dec!(100), Some(dec!(95)), dec!(12))]
    #[case(dec!(1000), dec!(0.02), dec!(1), dec!(100), Some(dec!(105)), dec!(4))]
    #[case(dec!(1000), dec!(0.5), dec!(2), dec!(300), None, dec!(3.333))]
    fn sizes(
        #[case] capital: Decimal,
        #[case] risk: Decimal,
        #[case] lev: Decimal,
        #[case] entry: Decimal,
        #[case] stop: Option<Decimal>,
        #[case] want: Decimal,
    ) {
        let s = RiskSizing { capital, risk_per_trade: risk, leverage: lev };
        assert_eq!(s.quantity(entry, stop, &rules()), Ok(want));
    }

    #[test]
    fn typed_errors() {
        let s = RiskSizing { capital: dec!(0), risk_per_trade: dec!(0.01), leverage: dec!(1) };
        assert_eq!(s.quantity(dec!(1), None, &rules()), Err(SizingError::NoCapital { capital: dec!(0) }));
        let s = RiskSizing { capital: dec!(10), risk_per_trade: dec!(0.01), leverage: dec!(1) };
        assert!(matches!(s.quantity(dec!(100), None, &rules()), Err(SizingError::Rule { .. })));
    }
}
