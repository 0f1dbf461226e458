//! OKX v5 (spot, cash trading) behind the [`Exchange`](crate::Exchange) trait.
//!
//! - Signing: `Base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath
//!   (+?query) + body))` with an ISO-8601 millisecond timestamp, in
//!   `OK-ACCESS-SIGN`, with `OK-ACCESS-KEY`, `OK-ACCESS-TIMESTAMP` and
//!   `OK-ACCESS-PASSPHRASE` ([`sign`], tested against `EXCHANGES.md`).
//!   Demo trading (`testnet`) adds `x-simulated-trading: 1`.
//! - Replies are `{"code": "0", "msg", "data": [...]}`; an order call that
//!   fails has a per-order `sCode`. Codes map to the typed errors: 50011 /
//!   HTTP 429 rate limit, 50102 timestamp (resync from `/public/time`,
//!   once), 50111 / 50113 / 50105 authentication, 51603 unknown order,
//!   51008 insufficient balance, 51016 duplicate client id, 51020 / 51121 /
//!   51000 rule violations.
//! - Client order ids: OKX's `clOrdId` is 1 to 32 letters and digits, so
//!   our ids (with `-`, up to 36) are sent as `m` + 31 hex digits of their
//!   SHA-256 ([`venue_order_id`]): deterministic, so a retry or a restart
//!   sends the same id. Replies about an order asked for by id carry the
//!   caller's id back; listings (open orders, fills) show ids this adapter
//!   placed in its own form and other ids as they are.
//! - Candles come newest first (max 300 a page) and are returned oldest
//!   first. Filled quote is `accFillSz * avgPx`.

mod spot;

pub use spot::{sign, venue_order_id, OkxConfig, OkxSpot, MAINNET};

#[cfg(test)]
mod tests;
