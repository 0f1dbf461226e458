//! The bot file: one document that drives a backtest, a paper run and a
//! live run (SPEC section 9).

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::de;
use super::document::{parse_json, parse_toml, Node, Syntax};
use super::{validate::check_fee_side, ConfigError, StrategyConfig, MAX_VALUE};
use crate::fees::FeeSchedule;
use crate::market::MarketRules;

/// Shape of the price path inside a candle (SPEC section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathModel {
    /// Open, the extreme nearer the open, the other extreme, close; ties go
    /// to the low first.
    #[default]
    Adaptive,
    /// Open, high, low, close.
    Ohlc,
    /// Open, low, high, close.
    Olhc,
}

/// When a resting limit order fills in a backtest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitFill {
    /// The path must cross the price strictly.
    #[default]
    Cross,
    /// Touching the price is enough.
    Touch,
}

/// How simulated fills happen.
///
/// ```
/// use martingale_core::config::{FillModel, LimitFill, PathModel};
/// let f: FillModel = serde_json::from_str(r#"{"path": "ohlc", "limit_fill": "touch"}"#).unwrap();
/// assert_eq!((f.path, f.limit_fill), (PathModel::Ohlc, LimitFill::Touch));
/// assert_eq!(FillModel::default().path, PathModel::Adaptive);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FillModel {
    /// Intra-candle path.
    #[serde(default)]
    pub path: PathModel,
    /// Limit fill rule.
    #[serde(default)]
    pub limit_fill: LimitFill,
    /// Slippage of stop and market exits, basis points against the trader.
    #[serde(default)]
    pub slippage_bps: Decimal,
}

/// A whole bot: strategy, market rules, fees and the simulated fill model.
///
/// ```
/// use martingale_core::config::BotFile;
/// let json = r#"{
///   "strategy": { "side": "long", "base_order": {"quote": "100"}, "safety_order": {"quote": "200"},
///                 "max_safety_orders": 5, "price_deviation": "1.5", "step_scale": "1.2",
///                 "volume_scale": "1.5", "take_profit": {"percent": "1.5", "base": "average"} },
///   "market":   { "symbol": "BTCUSDT", "tick_size": "0.01", "step_size": "0.00001",
///                 "min_qty": "0.00001", "min_notional": "5" },
///   "fees":     { "maker": "0.001", "taker": "0.001", "asset": "quote" },
///   "fill":     { "path": "adaptive", "limit_fill": "cross", "slippage_bps": "0" }
/// }"#;
/// let bot = BotFile::from_json(json).unwrap();
/// assert_eq!(bot.strategy.max_safety_orders, Some(5));
/// assert_eq!(BotFile::from_json(&bot.to_json()).unwrap(), bot);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotFile {
    /// The strategy.
    pub strategy: StrategyConfig,
    /// Exchange rules of the market traded.
    pub market: MarketRules,
    /// Account fees.
    #[serde(default)]
    pub fees: FeeSchedule,
    /// Simulated fill model (backtest and paper).
    #[serde(default)]
    pub fill: FillModel,
    /// Where the bot trades live (`binance`, `coindcx`, `bybit`, `okx`,
    /// `paper`); backtests ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<crate::venue::Venue>,
}

/// Why a bot file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum BotFileError {
    /// Nothing but whitespace (or a byte-order mark).
    #[error("bot file is empty: expected a JSON object or a TOML document with a [strategy] and a [market] table")]
    Empty,
    /// The document is valid JSON but not an object (`[]`, `null`, `5`, ...).
    #[error("bot file must be a JSON object or a TOML table, found {found}")]
    NotATable {
        /// What the document is instead ("an array", "null", ...).
        found: String,
    },
    /// The text is not valid JSON / TOML.
    #[error("{format} syntax error at line {line}, column {column}: {message}")]
    Syntax {
        /// `JSON` or `TOML`.
        format: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// What is wrong there.
        message: String,
    },
    /// A field has the wrong type or form, is unknown, missing, or holds a
    /// number that cannot be read exactly.
    #[error("{}", field_message(.path, .message))]
    Field {
        /// Dotted path of the field (`strategy.take_profit.percent`,
        /// `strategy.custom_levels[1].size`); empty for the whole document.
        path: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// The bot file cannot be written as TOML.
    #[error("cannot write bot file: {0}")]
    Parse(String),
    /// The document parsed but its values are invalid.
    #[error("invalid bot file: {0}")]
    Invalid(#[from] ConfigError),
}

fn field_message(path: &str, message: &str) -> String {
    if path.is_empty() {
        format!("bot file: {message}")
    } else {
        format!("bot file field `{path}`: {message}")
    }
}

impl From<de::Error> for BotFileError {
    fn from(e: de::Error) -> Self {
        BotFileError::Field { path: e.path.unwrap_or_default(), message: e.message }
    }
}

/// The text without a UTF-8 byte-order mark.
fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

impl BotFile {
    /// Parse and validate a JSON bot file.
    ///
    /// Numbers are read exactly as written (`100.12345678901234567891` is
    /// that decimal, not the nearest `f64`); one that a `Decimal` cannot
    /// hold exactly is refused. Errors name the field path.
    ///
    /// ```
    /// use martingale_core::config::{BotFile, BotFileError};
    /// let text = include_str!("../../bots/example.json")
    ///     .replace(r#""take_profit": {"percent": "1.5", "base": "average"}"#, r#""take_profit": 5"#);
    /// let e = BotFile::from_json(&text).unwrap_err();
    /// assert!(matches!(&e, BotFileError::Field { path, .. } if path == "strategy.take_profit"));
    /// assert!(e.to_string().contains(r#"expected a table such as {"percent": "1.5""#), "{e}");
    /// ```
    pub fn from_json(text: &str) -> Result<BotFile, BotFileError> {
        let text = strip_bom(text);
        if text.trim().is_empty() {
            return Err(BotFileError::Empty);
        }
        let node = parse_json(text).map_err(|s| syntax("JSON", s))?;
        BotFile::from_node(&node)
    }

    /// Parse and validate a TOML bot file (numbers exact, as for JSON).
    pub fn from_toml(text: &str) -> Result<BotFile, BotFileError> {
        let text = strip_bom(text);
        if text.trim().is_empty() {
            return Err(BotFileError::Empty);
        }
        let node = parse_toml(text).map_err(|s| syntax("TOML", s))?;
        BotFile::from_node(&node)
    }

    fn from_node(node: &Node) -> Result<BotFile, BotFileError> {
        if !matches!(node, Node::Map(_)) {
            return Err(BotFileError::NotATable { found: node.describe() });
        }
        let bot = BotFile::deserialize(de::NodeDe { node, path: String::new() })?;
        bot.validate()?;
        Ok(bot)
    }

    /// The bot file as pretty JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain data structs to a String cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The bot file as TOML.
    pub fn to_toml(&self) -> Result<String, BotFileError> {
        toml::to_string(self).map_err(|e| BotFileError::Parse(e.to_string()))
    }

    /// Validates strategy, market rules, fees and fill model together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.strategy.validate()?;
        self.market.validate()?;
        let m = &self.market;
        for (field, value) in [
            ("market.tick_size", m.tick_size),
            ("market.step_size", m.step_size),
            ("market.min_qty", m.min_qty),
            ("market.min_notional", m.min_notional),
            ("market.max_qty", m.max_qty.unwrap_or(Decimal::ZERO)),
        ] {
            if value > MAX_VALUE {
                return Err(ConfigError::OutOfRange { field: field.into(), value, min: Decimal::ZERO, max: MAX_VALUE });
            }
        }
        self.fees.validate()?;
        check_fee_side(self.strategy.side, self.fees.asset)?;
        if self.fill.slippage_bps < Decimal::ZERO || self.fill.slippage_bps > Decimal::from(10_000) {
            return Err(ConfigError::OutOfRange {
                field: "fill.slippage_bps".into(),
                value: self.fill.slippage_bps,
                min: Decimal::ZERO,
                max: Decimal::from(10_000),
            });
        }
        Ok(())
    }
}

fn syntax(format: &'static str, s: Syntax) -> BotFileError {
    BotFileError::Syntax { format, line: s.line, column: s.column, message: s.message }
}

impl FromStr for BotFile {
    type Err = BotFileError;

    /// JSON if the text (after a byte-order mark and whitespace) starts
    /// with `{`; any other valid JSON document (`[]`, `null`, ...) is
    /// refused as not a table; TOML otherwise.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let body = strip_bom(text).trim_start();
        if body.starts_with('{') {
            return BotFile::from_json(text);
        }
        if let Ok(node) = parse_json(body) {
            return Err(BotFileError::NotATable { found: node.describe() });
        }
        BotFile::from_toml(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn venue_field_is_optional_and_checked() {
        let base: serde_json::Value = serde_json::from_str(crate::config::EXAMPLE_BOT_JSON).unwrap();
        let mut v = base.clone();
        v["venue"] = "okx".into();
        let bot = BotFile::from_json(&v.to_string()).unwrap();
        assert_eq!(bot.venue, Some(crate::venue::Venue::Okx));
        assert!(bot.to_json().contains("\"venue\": \"okx\""));
        v["venue"] = "kraken".into();
        assert!(BotFile::from_json(&v.to_string()).is_err());
        assert_eq!(BotFile::from_json(&base.to_string()).unwrap().venue, None);
    }

    const TOML: &str = r#"
[strategy]
side = "short"
base_order = { quote = "100" }
safety_order = { quote = 200 }
max_safety_orders = 3
price_deviation = 2
take_profit = { percent = "1", base = "base_order" }
stop_loss = { percent = "20", base = "base_order" }

[market]
tick_size = "0.01"
step_size = "0.001"
"#;

    #[test]
    fn toml_round_trip() {
        let bot = BotFile::from_toml(TOML).unwrap();
        assert_eq!(bot.strategy.price_deviation, Some(dec!(2)));
        let again = BotFile::from_toml(&bot.to_toml().unwrap()).unwrap();
        assert_eq!(again, bot);
        assert_eq!(TOML.parse::<BotFile>().unwrap(), bot);
    }

    #[test]
    fn json_numbers_are_exact() {
        let v: FillModel = serde_json::from_str(r#"{"slippage_bps": 0.1}"#).unwrap();
        assert_eq!(v.slippage_bps, dec!(0.1));
    }

    #[test]
    fn unknown_field_is_an_error() {
        let bad = TOML.replace("tick_size", "tick");
        assert!(matches!(BotFile::from_toml(&bad), Err(BotFileError::Field { path, .. }) if path == "market.tick"));
    }

    #[test]
    fn short_with_base_fees_is_invalid() {
        let text = format!("{TOML}\n[fees]\nmaker = \"0.001\"\ntaker = \"0.001\"\nasset = \"base\"\n");
        assert!(matches!(BotFile::from_toml(&text), Err(BotFileError::Invalid(ConfigError::Conflict { .. }))));
    }
}
