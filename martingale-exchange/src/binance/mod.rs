//! Binance Spot. Built so far: request signing (HMAC-SHA256 checked
//! against the official vectors, Ed25519). The REST adapter is not built
//! yet.

mod sign;

pub use sign::{percent_encode_non_ascii, Signer};
