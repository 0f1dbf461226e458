//! # martingale-core
//!
//! The pure, deterministic heart of the martingale toolkit: ladder planning,
//! position sizing, fees and P&L, and the deal life cycle as an explicit
//! state machine. No clock, no randomness, no I/O: time and prices arrive as
//! [events](engine::Event), decisions leave as [actions](engine::Action).
//! The same inputs give the same outputs, bit for bit.
//!
//! Money, prices and quantities are [`rust_decimal::Decimal`]. The semantics
//! follow the project's SPEC (ladder math, rounding, take profit and stop
//! loss, fees, life cycle); each module's documentation states its
//! invariants and known limitations.
//!
//! ```
//! use martingale_core::config::BotFile;
//! use martingale_core::ladder::plan;
//! use martingale_core::dec; // Decimal literals; `martingale_core::rust_decimal` is the crate
//!
//! let bot = BotFile::example().unwrap();
//! let ladder = plan(&bot.strategy, &bot.market, dec!(43250.17)).unwrap();
//! assert_eq!(ladder.levels.len(), 6);
//! assert_eq!(ladder.levels[3].price, dec!(40888.71));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Library code returns typed errors; only tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod config;
pub mod fees;
pub mod indicators;
pub mod ladder;
pub mod market;
pub mod side;

pub use config::{BotFile, StrategyConfig};
pub use market::MarketRules;
pub use side::{OrderSide, Side};
pub mod engine;
pub mod pnl;
pub mod position;
pub mod sizing;

pub use engine::{Action, Engine, Event};

/// Milliseconds since the Unix epoch (UTC). The core never reads a clock:
/// time only arrives with events and candles.
pub type TimeMs = i64;
pub mod backtest;
pub mod fleet;
pub mod venue;

/// The decimal type of every amount, re-exported: `martingale_core::rust_decimal::Decimal`.
pub use rust_decimal;
pub use rust_decimal::Decimal;
// Last, so the `dec!` macro is in no other module's textual scope.
#[doc(hidden)]
pub mod decimal_macro;
