//! CoinDCX (spot) behind the [`Exchange`](crate::Exchange) trait.
//!
//! - Signing: every private call is a POST whose JSON body carries
//!   `timestamp` (ms); `X-AUTH-SIGNATURE` is the hex HMAC-SHA256 of the
//!   exact body bytes sent, `X-AUTH-APIKEY` the key ([`sign`]).
//! - Markets have two ids: `BTCUSDT` for orders and tickers, `B-BTC_USDT`
//!   for candles (taken from `markets_details`, or
//!   [`Venue::pair_id`](martingale_core::venue::Venue::pair_id)).
//! - Errors are `{"code", "message", "status"}` with the HTTP status:
//!   401 authentication, 404 unknown order, 429 rate limit (waits
//!   `Retry-After` or 1 s), 400 / 422 read by message: insufficient
//!   balance, duplicate client order id, timestamp, minimums (rule
//!   violation). A 5xx or a timeout after sending an order is
//!   [`ExchangeError::OutcomeUnknown`](crate::ExchangeError::OutcomeUnknown).
//! - Numbers arrive as JSON numbers in several replies; they are read from
//!   their shortest round-trip text, exact for up to 15 significant digits.
//! - Limits: 25 open orders per market; CoinDCX has no server-time
//!   endpoint, so a timestamp refusal is retried once with a fresh
//!   timestamp rather than a measured offset.

mod spot;

pub use spot::{sign, CoinDcxConfig, CoinDcxSpot, MAINNET, PUBLIC};

#[cfg(test)]
mod tests;
