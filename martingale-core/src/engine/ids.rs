//! Bot ids and deterministic client order ids.
//!
//! A client order id is `{bot}-{deal}-{role}-{seq}` (or, for an engine
//! started with a generation, `{bot}-{generation}-{deal}-{role}-{seq}`: see
//! the `generation` module and `Engine::starting_at`): the bot id, the deal
//! number and a per-deal order sequence number (both base 36), and a short
//! role code (`b` base order, `s{n}` safety order n, `tp` take profit,
//! `tp{first}{last}` a take-profit order carrying steps first..=last, `sl`
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
    /// Time-limit market exit.
    TimeLimit,
    /// A take-profit step's limit order, carrying steps `first..=last`
    /// (1-based; more than one when small steps were merged, SPEC 10.1).
    TakeProfitStep {
        /// First step carried.
        first: u8,
        /// Last step carried (its price is the order's).
        last: u8,
    },
}

impl OrderRole {
    /// True for orders that build the position.
    pub fn is_entry(self) -> bool {
        matches!(self, OrderRole::Base | OrderRole::Safety(_) | OrderRole::AddFunds)
    }

    /// True for the take profit and the take-profit steps: the resting
    /// limit orders that take the deal's profit.
    pub fn is_take_profit(self) -> bool {
        matches!(self, OrderRole::TakeProfit | OrderRole::TakeProfitStep { .. })
    }

    fn push_code(self, s: &mut IdBuf) {
        s.push(match self {
            OrderRole::Base => b"b",
            OrderRole::Safety(_) => b"s",
            OrderRole::TakeProfit => b"tp",
            OrderRole::StopLoss => b"sl",
            OrderRole::Trailing => b"tr",
            OrderRole::CloseNow => b"x",
            OrderRole::AddFunds => b"a",
            OrderRole::Residual => b"r",
            OrderRole::TimeLimit => b"tl",
            OrderRole::TakeProfitStep { .. } => b"tp",
        });
        match self {
            OrderRole::Safety(n) => push_decimal(s, n),
            OrderRole::TakeProfitStep { first, last } => {
                push_decimal(s, u32::from(first));
                push_decimal(s, u32::from(last));
            }
            _ => {}
        }
    }
}

/// A client order id (see the module docs for its layout).
///
/// Held inline: an id of up to 39 bytes (every id the engine builds) is
/// copied, not allocated or reference-counted, so cloning it into the
/// book, the reports and the records costs a 40-byte copy. Longer ids
/// (only ever received from outside) share one allocation.
#[derive(Clone, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct ClientOrderId(Repr);

/// Longest id stored inline.
const INLINE: usize = 39;

/// An id's bytes in place: 40 bytes, 8-aligned, so a copy is five word moves.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct InlineId {
    /// The first `len` bytes: whole UTF-8 text.
    bytes: [u8; INLINE],
    len: u8,
}

#[derive(Clone)]
enum Repr {
    Inline(InlineId),
    Shared(Arc<str>),
}

impl PartialEq for ClientOrderId {
    fn eq(&self, other: &Self) -> bool {
        // Different ids of one deal share their prefix and differ in the
        // sequence number at the end, so the comparison starts there.
        let (a, b) = (self.as_bytes(), other.as_bytes());
        a.len() == b.len() && a.iter().rev().eq(b.iter().rev())
    }
}

impl Eq for ClientOrderId {}

impl std::hash::Hash for ClientOrderId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state); // the text, as `PartialEq` compares it
    }
}

impl PartialOrd for ClientOrderId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ClientOrderId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes()) // the order of the texts
    }
}

impl fmt::Debug for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ClientOrderId").field(&self.as_str()).finish()
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
        ClientOrderId::with_generation(bot, None, deal, role, seq)
    }

    /// Builds an id carrying a start generation,
    /// `{bot}-{generation}-{deal}-{role}-{seq}` (the short form without one);
    /// see [`IdGeneration`](super::IdGeneration).
    ///
    /// ```
    /// use martingale_core::engine::{BotId, ClientOrderId, IdGeneration, OrderRole};
    /// let bot = BotId::new("btc1").unwrap();
    /// let g = IdGeneration::starting_at(1_765_000_000_000);
    /// assert_eq!(ClientOrderId::with_generation(&bot, Some(g), 1, OrderRole::Base, 0).as_str(), "btc1-t6u2ps-1-b-0");
    /// ```
    pub fn with_generation(
        bot: &BotId,
        generation: Option<super::IdGeneration>,
        deal: u32,
        role: OrderRole,
        seq: u32,
    ) -> ClientOrderId {
        let mut s = IdBuf::default();
        s.push(bot.0.as_bytes());
        s.push(b"-");
        if let Some(g) = generation {
            push_base36_u64(&mut s, g.stamp);
            s.push(b"-");
        }
        push_base36(&mut s, deal);
        s.push(b"-");
        role.push_code(&mut s);
        s.push(b"-");
        push_base36(&mut s, seq);
        s.finish()
    }

    /// Wraps an id received from an exchange (no validation: used for lookups).
    pub fn from_raw(id: impl Into<String>) -> ClientOrderId {
        ClientOrderId::from_text(&id.into())
    }

    fn from_text(s: &str) -> ClientOrderId {
        let mut b = IdBuf::default();
        b.push(s.as_bytes());
        if b.len == s.len() {
            b.finish()
        } else {
            ClientOrderId(Repr::Shared(Arc::from(s)))
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(id) => id.bytes.get(..usize::from(id.len)).unwrap_or_default(),
            Repr::Shared(s) => s.as_bytes(),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Whole text copied from a `str`: always valid.
            Repr::Inline(_) => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Repr::Shared(s) => s,
        }
    }
}

impl From<String> for ClientOrderId {
    fn from(s: String) -> ClientOrderId {
        ClientOrderId::from_text(&s)
    }
}

impl From<ClientOrderId> for String {
    fn from(id: ClientOrderId) -> String {
        id.as_str().to_string()
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A client order id being built (a bot id of at most 15 bytes and four
/// short fields; the buffer is larger than any id the engine builds).
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
    /// Appends bytes of UTF-8 text (dropped whole if they do not fit).
    fn push(&mut self, b: &[u8]) {
        // Byte by byte: the pieces are a few bytes long, where a `memcpy`
        // call (what `copy_from_slice` of a run-time length becomes) costs
        // more than the copy.
        if self.len + b.len() <= self.bytes.len() {
            for &x in b {
                if let Some(slot) = self.bytes.get_mut(self.len) {
                    *slot = x;
                    self.len += 1;
                }
            }
        }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(self.bytes.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }

    /// The id: in place when it fits, else shared.
    fn finish(&self) -> ClientOrderId {
        match (self.bytes.first_chunk::<INLINE>(), u8::try_from(self.len)) {
            (Some(bytes), Ok(len)) if self.len <= INLINE => {
                ClientOrderId(Repr::Inline(InlineId { bytes: *bytes, len }))
            }
            _ => ClientOrderId(Repr::Shared(Arc::from(self.as_str()))),
        }
    }
}

fn push_digits(s: &mut IdBuf, n: u32, radix: u32) {
    push_digits_u64(s, u64::from(n), radix);
}

fn push_base36_u64(s: &mut IdBuf, n: u64) {
    push_digits_u64(s, n, 36);
}

fn push_digits_u64(s: &mut IdBuf, mut n: u64, radix: u32) {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let radix = u64::from(radix);
    let mut buf = [0u8; 64];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = DIGITS[(n % radix) as usize];
        n /= radix;
        if n == 0 {
            break;
        }
    }
    s.push(&buf[i..]);
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
    fn inline_and_shared_ids_compare_hash_and_order_as_text() {
        use std::collections::hash_map::DefaultHasher;
        use std::hash::{Hash, Hasher};
        let hash = |id: &ClientOrderId| {
            let mut h = DefaultHasher::new();
            id.hash(&mut h);
            h.finish()
        };
        let long = "x".repeat(INLINE + 5);
        for text in ["", "a", "btc1-1-s3-14", &"y".repeat(INLINE), &long] {
            let id = ClientOrderId::from_raw(text);
            assert_eq!(id.as_str(), text);
            assert_eq!(String::from(id.clone()), text);
            assert_eq!(id, ClientOrderId::from(text.to_string()));
            assert_eq!(hash(&id), hash(&ClientOrderId::from_raw(text)));
            assert_eq!(format!("{id:?}"), format!("ClientOrderId({text:?})"));
        }
        assert_ne!(ClientOrderId::from_raw("b-1-s1-1"), ClientOrderId::from_raw("b-1-s1-2"));
        assert_ne!(ClientOrderId::from_raw(&long), ClientOrderId::from_raw(&long[1..]));
        assert!(ClientOrderId::from_raw("a-1") < ClientOrderId::from_raw("a-2"));
        assert!(ClientOrderId::from_raw("z") > ClientOrderId::from_raw(&long));
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
