//! When a deal may start: `start_condition` (SPEC sections 1 and 10).
//!
//! Written as `"asap"` (the default), `"signal"`, or an indicator object:
//! `{"indicator": "rsi", "period": 14, "below": "30"}` (or `"above"`), or
//! `{"indicator": "price_vs_sma", "period": 50, "below_percent": "2"}`.
//! Every impossible combination is refused while reading, naming the field
//! and the value. The indicators themselves are
//! [`crate::indicators`].

use std::fmt;

use rust_decimal::Decimal;
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest indicator period accepted.
pub const MAX_INDICATOR_PERIOD: u32 = 10_000;

/// An RSI threshold: strictly below or strictly above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// Holds when RSI < the value.
    Below(Decimal),
    /// Holds when RSI > the value.
    Above(Decimal),
}

/// When a new deal may start (once running, cooled down and under `max_deals`).
///
/// ```
/// use martingale_core::config::{StartCondition, Threshold};
/// use martingale_core::dec;
///
/// let c: StartCondition = serde_json::from_str(r#"{"indicator": "rsi", "period": 14, "below": "30"}"#).unwrap();
/// assert_eq!(c, StartCondition::Rsi { period: 14, threshold: Threshold::Below(dec!(30)) });
/// assert_eq!(serde_json::from_str::<StartCondition>(r#""asap""#).unwrap(), StartCondition::Asap);
/// let e = serde_json::from_str::<StartCondition>(r#"{"indicator": "rsi", "period": 0, "below": "30"}"#);
/// assert!(e.unwrap_err().to_string().contains("start_condition.period = 0"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartCondition {
    /// As soon as possible.
    #[default]
    Asap,
    /// Only after an external entry signal (the next price after the signal).
    Signal,
    /// When the RSI (Wilder, `period` changes) of the bot's candle closes is
    /// below or above a threshold at a close: the deal opens at the next
    /// candle.
    Rsi {
        /// Number of close-to-close changes (1..=10,000).
        period: u32,
        /// The test.
        threshold: Threshold,
    },
    /// When a close is at least `below_percent` percent below the simple
    /// moving average of the last `period` closes (inclusive): the deal
    /// opens at the next candle.
    PriceVsSma {
        /// Number of closes averaged (1..=10,000).
        period: u32,
        /// Percent below the SMA, in `[0, 100)`.
        below_percent: Decimal,
    },
}

impl StartCondition {
    /// True when deals start on signals: external ones (`signal`) or those
    /// the indicator raises at a candle close.
    pub fn needs_signal(&self) -> bool {
        !matches!(self, StartCondition::Asap)
    }

    /// True for the indicator conditions (computed from candle closes).
    pub fn is_indicator(&self) -> bool {
        matches!(self, StartCondition::Rsi { .. } | StartCondition::PriceVsSma { .. })
    }
}

impl Serialize for StartCondition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StartCondition::Asap => s.serialize_str("asap"),
            StartCondition::Signal => s.serialize_str("signal"),
            StartCondition::Rsi { period, threshold } => {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("indicator", "rsi")?;
                m.serialize_entry("period", period)?;
                match threshold {
                    Threshold::Below(b) => m.serialize_entry("below", b)?,
                    Threshold::Above(a) => m.serialize_entry("above", a)?,
                }
                m.end()
            }
            StartCondition::PriceVsSma { period, below_percent } => {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("indicator", "price_vs_sma")?;
                m.serialize_entry("period", period)?;
                m.serialize_entry("below_percent", below_percent)?;
                m.end()
            }
        }
    }
}

struct StartVisitor;

const FIELDS: &[&str] = &["indicator", "period", "below", "above", "below_percent"];

fn invalid<E: de::Error>(field: &str, value: impl fmt::Display, why: &str) -> E {
    E::custom(format!("start_condition.{field} = {value}: {why}"))
}

impl<'de> Visitor<'de> for StartVisitor {
    type Value = StartCondition;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            r#""asap", "signal" or an indicator object such as {"indicator": "rsi", "period": 14, "below": "30"}"#,
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<StartCondition, E> {
        match v {
            "asap" => Ok(StartCondition::Asap),
            "signal" => Ok(StartCondition::Signal),
            other => Err(E::custom(format!(
                "start_condition = {other:?}: expected \"asap\", \"signal\" or an indicator object \
                 ({{\"indicator\": \"rsi\" | \"price_vs_sma\", ...}})"
            ))),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StartCondition, A::Error> {
        let (mut indicator, mut period) = (None::<String>, None::<u32>);
        let (mut below, mut above, mut below_percent) = (None::<Decimal>, None::<Decimal>, None::<Decimal>);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "indicator" => indicator = Some(map.next_value()?),
                "period" => period = Some(map.next_value()?),
                "below" => below = Some(map.next_value()?),
                "above" => above = Some(map.next_value()?),
                "below_percent" => below_percent = Some(map.next_value()?),
                other => return Err(de::Error::unknown_field(other, FIELDS)),
            }
        }
        let indicator = indicator
            .ok_or_else(|| de::Error::custom("start_condition.indicator is required: \"rsi\" or \"price_vs_sma\""))?;
        let period = period.ok_or_else(|| de::Error::custom("start_condition.period is required (1..=10000)"))?;
        if period == 0 || period > MAX_INDICATOR_PERIOD {
            return Err(invalid("period", period, "must be in 1..=10000"));
        }
        match indicator.as_str() {
            "rsi" => {
                if let Some(p) = below_percent {
                    return Err(invalid("below_percent", p, "is for price_vs_sma; rsi takes below or above"));
                }
                let threshold = match (below, above) {
                    (Some(b), None) => Threshold::Below(b),
                    (None, Some(a)) => Threshold::Above(a),
                    (Some(b), Some(_)) => {
                        return Err(invalid("below", b, "conflicts with start_condition.above: give one of them"))
                    }
                    (None, None) => {
                        return Err(de::Error::custom("start_condition: rsi needs \"below\" or \"above\" (0..100)"))
                    }
                };
                let (Threshold::Below(x) | Threshold::Above(x)) = threshold;
                let field = if below.is_some() { "below" } else { "above" };
                if x <= Decimal::ZERO || x >= Decimal::ONE_HUNDRED {
                    return Err(invalid(field, x, "must be strictly between 0 and 100 (an RSI is in 0..=100)"));
                }
                Ok(StartCondition::Rsi { period, threshold })
            }
            "price_vs_sma" => {
                if let Some(b) = below.or(above) {
                    let field = if below.is_some() { "below" } else { "above" };
                    return Err(invalid(field, b, "is for rsi; price_vs_sma takes below_percent"));
                }
                let p = below_percent
                    .ok_or_else(|| de::Error::custom("start_condition: price_vs_sma needs \"below_percent\""))?;
                if p < Decimal::ZERO || p >= Decimal::ONE_HUNDRED {
                    return Err(invalid("below_percent", p, "must be in [0, 100)"));
                }
                Ok(StartCondition::PriceVsSma { period, below_percent: p })
            }
            other => Err(invalid("indicator", format!("{other:?}"), "expected \"rsi\" or \"price_vs_sma\"")),
        }
    }
}

impl<'de> Deserialize<'de> for StartCondition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<StartCondition, D::Error> {
        d.deserialize_any(StartVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    #[rstest]
    #[case(r#""signal""#, StartCondition::Signal)]
    #[case(r#"{"indicator": "rsi", "period": 14, "above": 70}"#, StartCondition::Rsi { period: 14, threshold: Threshold::Above(dec!(70)) })]
    #[case(r#"{"indicator": "price_vs_sma", "period": 50, "below_percent": "2"}"#, StartCondition::PriceVsSma { period: 50, below_percent: dec!(2) })]
    #[case(r#"{"indicator": "price_vs_sma", "period": 1, "below_percent": 0}"#, StartCondition::PriceVsSma { period: 1, below_percent: dec!(0) })]
    fn reads_and_writes_back(#[case] text: &str, #[case] want: StartCondition) {
        let got: StartCondition = serde_json::from_str(text).unwrap();
        assert_eq!(got, want);
        let again: StartCondition = serde_json::from_str(&serde_json::to_string(&got).unwrap()).unwrap();
        assert_eq!(again, want);
    }

    #[rstest]
    #[case(r#""sometimes""#, "start_condition = \"sometimes\"")]
    #[case(r#"{"indicator": "rsi", "period": 0, "below": "30"}"#, "start_condition.period = 0")]
    #[case(r#"{"indicator": "rsi", "period": 10001, "below": "30"}"#, "start_condition.period = 10001")]
    #[case(r#"{"indicator": "rsi", "period": 14}"#, "needs \"below\" or \"above\"")]
    #[case(r#"{"indicator": "rsi", "period": 14, "below": 30, "above": 70}"#, "start_condition.below = 30: conflicts")]
    #[case(r#"{"indicator": "rsi", "period": 14, "below": 100}"#, "start_condition.below = 100")]
    #[case(r#"{"indicator": "rsi", "period": 14, "above": 0}"#, "start_condition.above = 0")]
    #[case(r#"{"indicator": "rsi", "period": 14, "below_percent": 2}"#, "start_condition.below_percent = 2")]
    #[case(r#"{"indicator": "price_vs_sma", "period": 5, "below": 2}"#, "start_condition.below = 2")]
    #[case(r#"{"indicator": "price_vs_sma", "period": 5, "below_percent": -1}"#, "start_condition.below_percent = -1")]
    #[case(
        r#"{"indicator": "price_vs_sma", "period": 5, "below_percent": 100}"#,
        "start_condition.below_percent = 100"
    )]
    #[case(r#"{"indicator": "price_vs_sma", "period": 5}"#, "needs \"below_percent\"")]
    #[case(r#"{"indicator": "macd", "period": 5}"#, "start_condition.indicator = \"macd\"")]
    #[case(r#"{"period": 5, "below": 30}"#, "start_condition.indicator is required")]
    #[case(r#"{"indicator": "rsi", "period": 5, "belw": 30}"#, "unknown field `belw`")]
    fn impossible_conditions_name_the_field_and_value(#[case] text: &str, #[case] message: &str) {
        let e = serde_json::from_str::<StartCondition>(text).unwrap_err().to_string();
        assert!(e.contains(message), "{text}: {e}");
    }
}
