//! # martingale-exchange
//!
//! Exchange adapters and the live runner for `martingale-core` engines.
//!
//! Status: not built yet. This crate is an empty placeholder in the workspace
//! so that the layout is fixed; it exposes no API. The adapters (paper,
//! Binance Spot) and the runner are tracked in the project's issues.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
