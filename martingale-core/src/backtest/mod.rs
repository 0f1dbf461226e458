//! Backtests on candles (SPEC sections 6 and 7).

mod driver;
mod sim;

pub use driver::{Driver, Recorded};
pub use sim::{FillRecord, Resting, SimExchange};
