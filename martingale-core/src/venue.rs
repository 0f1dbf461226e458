//! Venues and the one symbol language users write: `BTC/USDT`.
//!
//! A [`Symbol`] is a base and a quote asset. Each [`Venue`] spells a market
//! its own way; [`Venue::market_id`] maps a symbol to it and
//! [`Venue::parse_market`] back:
//!
//! | venue | `BTC/USDT` is |
//! |---|---|
//! | Binance, Bybit, paper | `BTCUSDT` |
//! | OKX | `BTC-USDT` |
//! | CoinDCX | `BTCUSDT` (orders), `B-BTC_USDT` (candles: [`Venue::pair_id`]) |
//!
//! Concatenated ids (`BTCUSDT`) are split at the longest known quote asset
//! suffix ([`QUOTE_ASSETS`]); an id that matches none, or that the venue's
//! instrument list does not contain, is a typed error, never a guess.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Quote assets recognised when splitting a concatenated market id.
pub const QUOTE_ASSETS: &[&str] =
    &["USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI", "BTC", "ETH", "BNB", "EUR", "TRY", "INR", "BRL", "JPY", "GBP"];

/// Where a bot trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Venue {
    /// Binance Spot.
    Binance,
    /// CoinDCX.
    Coindcx,
    /// Bybit v5 (spot).
    Bybit,
    /// OKX v5 (spot).
    Okx,
    /// The in-process paper exchange.
    Paper,
}

/// A symbol or market id that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SymbolError {
    /// Not `BASE/QUOTE` with both parts `[A-Z0-9]{1,20}`.
    #[error("symbol {0:?} is not BASE/QUOTE (e.g. BTC/USDT)")]
    Malformed(String),
    /// A venue market id this venue does not spell that way, or whose quote
    /// asset is unknown.
    #[error("{venue} has no market {id:?}")]
    UnknownMarket {
        /// The venue.
        venue: Venue,
        /// The id given.
        id: String,
    },
    /// An unknown venue name.
    #[error("unknown venue {0:?} (binance, coindcx, bybit, okx, paper)")]
    UnknownVenue(String),
}

/// A market in the user's language: base and quote asset.
///
/// ```
/// use martingale_core::venue::{Symbol, Venue};
/// let s: Symbol = "btc/usdt".parse().unwrap();
/// assert_eq!(s.to_string(), "BTC/USDT");
/// assert_eq!(Venue::Okx.market_id(&s), "BTC-USDT");
/// assert_eq!(Venue::Coindcx.pair_id(&s), "B-BTC_USDT");
/// assert_eq!(Venue::Binance.parse_market("ETHBTC").unwrap(), "ETH/BTC".parse().unwrap());
/// assert!(Venue::Bybit.parse_market("BTCXYZ").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Symbol {
    base: String,
    quote: String,
}

fn asset_ok(a: &str) -> bool {
    !a.is_empty() && a.len() <= 20 && a.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

impl Symbol {
    /// A symbol from its assets (upper-cased).
    pub fn new(base: &str, quote: &str) -> Result<Symbol, SymbolError> {
        let (b, q) = (base.to_ascii_uppercase(), quote.to_ascii_uppercase());
        if asset_ok(&b) && asset_ok(&q) {
            Ok(Symbol { base: b, quote: q })
        } else {
            Err(SymbolError::Malformed(format!("{base}/{quote}")))
        }
    }

    /// The base asset.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The quote asset.
    pub fn quote(&self) -> &str {
        &self.quote
    }
}

impl FromStr for Symbol {
    type Err = SymbolError;
    fn from_str(s: &str) -> Result<Symbol, SymbolError> {
        let (b, q) = s.split_once('/').ok_or_else(|| SymbolError::Malformed(s.to_string()))?;
        Symbol::new(b.trim(), q.trim()).map_err(|_| SymbolError::Malformed(s.to_string()))
    }
}

impl TryFrom<String> for Symbol {
    type Error = SymbolError;
    fn try_from(s: String) -> Result<Symbol, SymbolError> {
        s.parse()
    }
}

impl From<Symbol> for String {
    fn from(s: Symbol) -> String {
        s.to_string()
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.quote)
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Venue::Binance => "binance",
            Venue::Coindcx => "coindcx",
            Venue::Bybit => "bybit",
            Venue::Okx => "okx",
            Venue::Paper => "paper",
        })
    }
}

impl FromStr for Venue {
    type Err = SymbolError;
    fn from_str(s: &str) -> Result<Venue, SymbolError> {
        match s.to_ascii_lowercase().as_str() {
            "binance" => Ok(Venue::Binance),
            "coindcx" => Ok(Venue::Coindcx),
            "bybit" => Ok(Venue::Bybit),
            "okx" => Ok(Venue::Okx),
            "paper" => Ok(Venue::Paper),
            _ => Err(SymbolError::UnknownVenue(s.to_string())),
        }
    }
}

impl Venue {
    /// The id of a market in this venue's order and market-data APIs.
    pub fn market_id(self, s: &Symbol) -> String {
        match self {
            Venue::Okx => format!("{}-{}", s.base, s.quote),
            Venue::Binance | Venue::Bybit | Venue::Coindcx | Venue::Paper => format!("{}{}", s.base, s.quote),
        }
    }

    /// The pair id of the venue's candle API (differs on CoinDCX only).
    pub fn pair_id(self, s: &Symbol) -> String {
        match self {
            Venue::Coindcx => format!("B-{}_{}", s.base, s.quote),
            other => other.market_id(s),
        }
    }

    /// The symbol of a venue market id (either form on CoinDCX).
    pub fn parse_market(self, id: &str) -> Result<Symbol, SymbolError> {
        let unknown = || SymbolError::UnknownMarket { venue: self, id: id.to_string() };
        let (base, quote) = match self {
            Venue::Okx => id.split_once('-').ok_or_else(unknown)?,
            Venue::Coindcx if id.contains('_') => {
                let rest = id.split_once('-').map_or(id, |(_, r)| r);
                rest.split_once('_').ok_or_else(unknown)?
            }
            _ => {
                let quote = QUOTE_ASSETS
                    .iter()
                    .filter(|q| id.len() > q.len() && id.ends_with(*q))
                    .max_by_key(|q| q.len())
                    .ok_or_else(unknown)?;
                (&id[..id.len() - quote.len()], *quote)
            }
        };
        if base.bytes().any(|b| b.is_ascii_lowercase()) || quote.bytes().any(|b| b.is_ascii_lowercase()) {
            return Err(unknown());
        }
        Symbol::new(base, quote).map_err(|_| unknown())
    }

    /// A market id of a bot file's `market.symbol`: `BASE/QUOTE` is mapped
    /// to this venue's form, anything else is taken as the venue's own id.
    pub fn resolve(self, symbol: &str) -> Result<String, SymbolError> {
        if symbol.contains('/') {
            Ok(self.market_id(&symbol.parse()?))
        } else {
            self.parse_market(symbol).map(|s| self.market_id(&s))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(Venue::Binance, "BTC/USDT", "BTCUSDT")]
    #[case(Venue::Bybit, "ETH/USDC", "ETHUSDC")]
    #[case(Venue::Okx, "BTC/USDT", "BTC-USDT")]
    #[case(Venue::Coindcx, "BTC/INR", "BTCINR")]
    #[case(Venue::Paper, "SOL/FDUSD", "SOLFDUSD")]
    fn maps_both_ways(#[case] venue: Venue, #[case] symbol: &str, #[case] id: &str) {
        let s: Symbol = symbol.parse().unwrap();
        assert_eq!(venue.market_id(&s), id);
        assert_eq!(venue.parse_market(id).unwrap(), s);
        assert_eq!(venue.resolve(symbol).unwrap(), id);
        assert_eq!(venue.resolve(id).unwrap(), id);
    }

    #[test]
    fn coindcx_pairs_and_errors() {
        let s: Symbol = "BTC/USDT".parse().unwrap();
        assert_eq!(Venue::Coindcx.parse_market("B-BTC_USDT").unwrap(), s);
        // FDUSD, not USD + T: the longest known suffix wins.
        assert_eq!(Venue::Binance.parse_market("BTCFDUSD").unwrap().quote(), "FDUSD");
        for (venue, bad) in [(Venue::Okx, "BTCUSDT"), (Venue::Binance, "USDT"), (Venue::Binance, "btcusdt")] {
            assert!(matches!(venue.parse_market(bad), Err(SymbolError::UnknownMarket { .. })), "{venue} {bad}");
        }
        for bad in ["BTCUSDT", "BTC/", "/USDT", "BTC/US DT", "BTC-USDT"] {
            assert!(bad.parse::<Symbol>().is_err(), "{bad}");
        }
        assert_eq!("OKX".parse::<Venue>().unwrap(), Venue::Okx);
        assert!("kraken".parse::<Venue>().is_err());
        assert_eq!(serde_json::to_string(&Venue::Coindcx).unwrap(), "\"coindcx\"");
    }
}
