//! Bot ids and deterministic client order ids.
//!
//! A client order id is `{bot}-{deal}-{role}-{seq}`: the bot id, the deal
//! number and a per-deal order sequence number (both base 36), and a short
//! role code (`b` base order, `s{n}` safety order n, `tp` take profit, `sl`
//! stop loss, `tr` trailing exit, `x` close now, `a` added funds, `r`
//! residual exit). It is built only from the engine's state, so replaying
//! the same events from the same snapshot gives the same ids, and it is at
//! most 36 characters of `[A-Za-z0-9_-]`, as Binance, Bybit and OKX accept.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Longest bot id: keeps every client order id within 36 characters.
pub const MAX_BOT_ID_LEN: usize = 15;

/// An invalid bot id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("bot id {id:?} must be 1 to 15 characters of [A-Za-z0-9_-]")]
pub struct InvalidBotId {
    /// The rejected id.
    pub id: String,
}

/// Identifier of a bot, part of every client order id it sends.
///
/// ```
/// use martingale_core::engine::BotId;
/// assert!(BotId::new("dca-btc_1").is_ok());
/// assert!(BotId::new("has space").is_err());
/// assert!(BotId::new("a-very-long-bot-id").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BotId(Arc<str>);

impl BotId {
    /// Validates and wraps a bot id.
    pub fn new(id: impl Into<String>) -> Result<BotId, InvalidBotId> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= MAX_BOT_ID_LEN
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(BotId(id.into()))
        } else {
            Err(InvalidBotId { id })
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A bot id known valid at compile time (internal use).
    pub(crate) fn internal(id: &'static str) -> BotId {
        debug_assert!(BotId::new(id).is_ok());
        BotId(id.into())
    }
}

impl TryFrom<String> for BotId {
    type Error = InvalidBotId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        BotId::new(s)
    }
}

impl From<BotId> for String {
    fn from(b: BotId) -> String {
        b.0.to_string()
    }
}

impl fmt::Display for BotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an order is for within a deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderRole {
    /// The deal's first order (market).
    Base,
    /// Safety order n (limit).
    Safety(u32),
    /// Take-profit limit order.
    TakeProfit,
    /// Stop-loss market exit.
    StopLoss,
    /// Trailing take-profit market exit.
    Trailing,
    /// Manual "close now" market exit.
    CloseNow,
    /// Manual "add funds" market entry.
    AddFunds,
    /// Market exit of a quantity left after the exit (late fills).
    Residual,
}

impl OrderRole {
    /// True for orders that build the position.
    pub fn is_entry(self) -> bool {
        matches!(self, OrderRole::Base | OrderRole::Safety(_) | OrderRole::AddFunds)
    }

    fn push_code(self, s: &mut IdBuf) {
        s.push_str(match self {
            OrderRole::Base => "b",
            OrderRole::Safety(_) => "s",
            OrderRole::TakeProfit => "tp",
            OrderRole::StopLoss => "sl",
            OrderRole::Trailing => "tr",
            OrderRole::CloseNow => "x",
            OrderRole::AddFunds => "a",
            OrderRole::Residual => "r",
        });
        if let OrderRole::Safety(n) = self {
            push_decimal(s, n);
        }
    }
}

/// A client order id (see the module docs for its layout).
///
/// Shared, not copied: clones (the book, the reports, the records all hold
/// one) share one allocation, and comparing two clones is a pointer check.
#[derive(Debug, Clone, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct ClientOrderId(Arc<str>);

impl PartialEq for ClientOrderId {
    fn eq(&self, other: &Self) -> bool {
        // Clones share their allocation. Different ids of one deal share
        // their prefix and differ in the sequence number at the end, so the
        // comparison starts there.
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.len() == other.0.len() && self.0.bytes().rev().eq(other.0.bytes().rev()))
    }
}

impl std::hash::Hash for ClientOrderId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state); // the text, as `PartialEq` compares it
    }
}

impl ClientOrderId {
    /// Builds the id of order `seq` of deal `deal` of `bot`.
    ///
    /// ```
    /// use martingale_core::engine::{BotId, ClientOrderId, OrderRole};
    /// let bot = BotId::new("btc1").unwrap();
    /// assert_eq!(ClientOrderId::new(&bot, 1, OrderRole::Safety(3), 40).as_str(), "btc1-1-s3-14");
    /// let longest = ClientOrderId::new(&BotId::new("abcdefghijklmno").unwrap(), u32::MAX, OrderRole::Safety(200), u32::MAX);
    /// assert!(longest.as_str().len() <= 36);
    /// ```
    pub fn new(bot: &BotId, deal: u32, role: OrderRole, seq: u32) -> ClientOrderId {
        // Built on the stack: the id's one allocation is the shared one.
        let mut s = IdBuf::default();
        s.push_str(&bot.0);
        s.push_str("-");
        push_base36(&mut s, deal);
        s.push_str("-");
        role.push_code(&mut s);
        s.push_str("-");
        push_base36(&mut s, seq);
        ClientOrderId(Arc::from(s.as_str()))
    }

    /// Wraps an id received from an exchange (no validation: used for lookups).
    pub fn from_raw(id: impl Into<String>) -> ClientOrderId {
        ClientOrderId(id.into().into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for ClientOrderId {
    fn from(s: String) -> ClientOrderId {
        ClientOrderId(s.into())
    }
}

impl From<ClientOrderId> for String {
    fn from(id: ClientOrderId) -> String {
        id.0.to_string()
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client order id being built: a bot id (at most 15 bytes) and four
/// short fields fit in 48 bytes.
struct IdBuf {
    bytes: [u8; 48],
    len: usize,
}

impl Default for IdBuf {
    fn default() -> Self {
        IdBuf { bytes: [0; 48], len: 0 }
    }
}

impl IdBuf {
    /// Appends ASCII text (cut at the capacity, which ids never reach).
    fn push_str(&mut self, s: &str) {
        for (slot, b) in self.bytes.iter_mut().skip(self.len).zip(s.bytes()) {
            *slot = b;
            self.len += 1;
        }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(self.bytes.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

fn push_digits(s: &mut IdBuf, mut n: u32, radix: u32) {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut buf = [0u8; 32];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = DIGITS[(n % radix) as usize];
        n /= radix;
        if n == 0 {
            break;
        }
    }
    s.push_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
}

fn push_base36(s: &mut IdBuf, n: u32) {
    push_digits(s, n, 36);
}

fn push_decimal(s: &mut IdBuf, n: u32) {
    push_digits(s, n, 10);
}

#[cfg(test)]
fn base36(n: u32) -> String {
    let mut s = IdBuf::default();
    push_base36(&mut s, n);
    s.as_str().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base36_digits() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
        assert_eq!(base36(u32::MAX), "1z141z3");
    }

    #[test]
    fn ids_use_allowed_characters() {
        let bot = BotId::new("A_b-9").unwrap();
        for role in [OrderRole::Base, OrderRole::TakeProfit, OrderRole::Residual, OrderRole::Safety(12)] {
            let id = ClientOrderId::new(&bot, 7, role, 99);
            assert!(id.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        }
    }
}
