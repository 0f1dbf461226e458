//! Umbrella package of the martingale workspace: it re-exports the library
//! crates and hosts the runnable `examples/` and the criterion `benches/`.
//! Depend on `martingale-core` (and later `martingale-exchange`) directly.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use martingale_core as core;
