//! Exchange errors that say what the caller can do.

use std::time::Duration;

use martingale_core::engine::ClientOrderId;
use thiserror::Error;

/// Why an exchange call failed.
///
/// ```
/// use martingale_exchange::ExchangeError;
/// use std::time::Duration;
/// let e = ExchangeError::RateLimited { retry_after: Duration::from_secs(3) };
/// assert!(e.is_retryable());
/// assert_eq!(e.to_string(), "rate limited: retry after 3s");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExchangeError {
    /// Too many requests: wait before the next one (HTTP 429 / 418, -1003).
    #[error("rate limited: retry after {}s", retry_after.as_secs())]
    RateLimited {
        /// How long to wait.
        retry_after: Duration,
    },
    /// Not enough balance for the order.
    #[error("insufficient balance: {0}")]
    InsufficientBalance(String),
    /// The order breaks a market rule (filter failure).
    #[error("rule violation ({rule}): {message}")]
    RuleViolation {
        /// The rule (e.g. `LOT_SIZE`, `MIN_NOTIONAL`, `PRICE_FILTER`).
        rule: String,
        /// The venue's message.
        message: String,
    },
    /// The order does not exist (never placed, or already gone).
    #[error("unknown order {0}")]
    UnknownOrder(ClientOrderId),
    /// A client order id already in use.
    #[error("duplicate client order id {0}")]
    DuplicateOrder(ClientOrderId),
    /// The request's timestamp is outside the venue's receive window
    /// (resync the clock offset and retry).
    #[error("timestamp outside the receive window")]
    TimestampOutOfWindow,
    /// Bad key, signature or permission.
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// The request did not reach the venue or got no answer before it was
    /// sent; safe to retry.
    #[error("network error: {0}")]
    Network(String),
    /// An order was sent and the outcome is unknown (timeout or 5xx after
    /// sending): query it by client order id before doing anything else.
    #[error("outcome of order {0} unknown: query it before retrying")]
    OutcomeUnknown(ClientOrderId),
    /// The market does not exist on this venue.
    #[error("unknown market {0}")]
    UnknownMarket(String),
    /// The venue answered something this adapter cannot read.
    #[error("malformed reply: {0}")]
    Malformed(String),
    /// Any other refusal by the venue, with its code.
    #[error("venue error {code}: {message}")]
    Venue {
        /// The venue's code.
        code: i64,
        /// The venue's message.
        message: String,
    },
}

impl ExchangeError {
    /// True when the same request may simply be sent again (after the wait
    /// for a rate limit). Order submissions with an unknown outcome are not
    /// retryable: they must be resolved by query first.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ExchangeError::RateLimited { .. } | ExchangeError::Network(_) | ExchangeError::TimestampOutOfWindow
        )
    }
}
