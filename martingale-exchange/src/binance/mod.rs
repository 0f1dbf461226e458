//! Binance Spot: request signing (HMAC-SHA256 checked against the official
//! vectors, Ed25519) and the REST adapter [`BinanceSpot`].

mod sign;
mod spot;

pub use sign::{percent_encode_non_ascii, Signer};
pub use spot::{BinanceConfig, BinanceSpot, MAINNET, TESTNET};
#[cfg(test)]
mod tests;
