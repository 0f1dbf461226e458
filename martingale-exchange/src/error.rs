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
    /// The venue cannot answer the range asked for (e.g. OKX keeps fills
    /// for three months): nothing was read, ask for a shorter range.
    #[error("beyond the venue's reach: {0}")]
    OutOfReach(String),
    /// The venue refused the request with a code its documentation says
    /// means the request was *not executed* (for an order: it was not
    /// placed). Only this variant, [`ExchangeError::InsufficientBalance`] and
    /// [`ExchangeError::RuleViolation`] may turn an order into a rejection;
    /// see [`ExchangeError::is_definite_rejection`].
    #[error("rejected by the venue ({code}): {message}")]
    Rejected {
        /// The venue's code.
        code: i64,
        /// The venue's message.
        message: String,
    },
    /// The venue answered with a redirect. Adapters never follow one: the
    /// signed request and the key headers would go to another host.
    #[error("the venue redirected the request (HTTP {status}) to {location:?}; not followed, check the base URL")]
    Redirect {
        /// The HTTP status (301, 302, 303, 307, 308).
        status: u16,
        /// The `Location` header, if any.
        location: String,
    },
    /// Any other error from the venue, with its code. On an order
    /// submission this does *not* mean the order was refused: the runner
    /// treats it like [`ExchangeError::OutcomeUnknown`] and queries the
    /// order by its client order id.
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

    /// True only for answers that *definitely* mean the request was not
    /// executed, so an order submission answered this way was not placed
    /// and may be reported to the engine as rejected. Everything else on a
    /// submission (an unknown code, a timeout, a 5xx) leaves the order's
    /// outcome unknown: query it by client order id.
    ///
    /// ```
    /// use martingale_exchange::ExchangeError;
    /// assert!(ExchangeError::Rejected { code: -2010, message: "x".into() }.is_definite_rejection());
    /// assert!(!ExchangeError::Venue { code: -1007, message: "x".into() }.is_definite_rejection());
    /// ```
    pub fn is_definite_rejection(&self) -> bool {
        matches!(
            self,
            ExchangeError::InsufficientBalance(_)
                | ExchangeError::RuleViolation { .. }
                | ExchangeError::Rejected { .. }
        )
    }
}

#[cfg(test)]
impl ExchangeError {
    /// The variant's name, for table tests.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ExchangeError::RateLimited { .. } => "RateLimited",
            ExchangeError::InsufficientBalance(_) => "InsufficientBalance",
            ExchangeError::RuleViolation { .. } => "RuleViolation",
            ExchangeError::UnknownOrder(_) => "UnknownOrder",
            ExchangeError::DuplicateOrder(_) => "DuplicateOrder",
            ExchangeError::TimestampOutOfWindow => "TimestampOutOfWindow",
            ExchangeError::Authentication(_) => "Authentication",
            ExchangeError::Network(_) => "Network",
            ExchangeError::OutcomeUnknown(_) => "OutcomeUnknown",
            ExchangeError::UnknownMarket(_) => "UnknownMarket",
            ExchangeError::Malformed(_) => "Malformed",
            ExchangeError::Rejected { .. } => "Rejected",
            ExchangeError::Redirect { .. } => "Redirect",
            ExchangeError::OutOfReach(_) => "OutOfReach",
            ExchangeError::Venue { .. } => "Venue",
        }
    }
}
