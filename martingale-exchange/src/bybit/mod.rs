//! Bybit v5 (spot) behind the [`Exchange`](crate::Exchange) trait.
//!
//! - Signing: HMAC-SHA256 (lowercase hex) of `timestamp + apiKey +
//!   recvWindow + (queryString | jsonBody)` in `X-BAPI-SIGN`, with
//!   `X-BAPI-API-KEY`, `X-BAPI-TIMESTAMP`, `X-BAPI-RECV-WINDOW`
//!   ([`sign`], tested against the check value of `EXCHANGES.md`).
//! - Replies are `{"retCode", "retMsg", "result", "time"}`; codes map to the
//!   same typed errors as Binance: 10006 rate limit (waits until
//!   `X-Bapi-Limit-Reset-Timestamp`), 10002 time window (resync from
//!   `/v5/market/time`, once), 10003 / 10004 / 10005 authentication,
//!   110001 / 170213 unknown order, 110007 / 170131 insufficient balance,
//!   110072 / 170141 duplicate `orderLinkId`, 170136 / 170140 below the
//!   minimum (rule violation).
//! - Client order ids are `orderLinkId`s. Order submissions are never
//!   retried blindly: a 5xx or a timeout after sending is
//!   [`ExchangeError::OutcomeUnknown`](crate::ExchangeError::OutcomeUnknown).
//!   Queries and cancels retry with backoff.
//! - Candles come newest first and are returned oldest first, across pages.
//! - Request weight: one unit per request against a per-key
//!   [`WeightBudget`](crate::WeightBudget) (Bybit counts requests per
//!   second and endpoint; the default budget is 3,000 a minute).

mod spot;

pub use spot::{sign, BybitConfig, BybitSpot, MAINNET, TESTNET};

#[cfg(test)]
mod tests;
