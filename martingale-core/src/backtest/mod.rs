//! Backtests on candles (SPEC sections 6 and 7).
//!
//! [`backtest`] runs a bot file over a [`Candles`] series with the very
//! engine that trades live, through the simulated exchange and the
//! [`Driver`] that walks each candle's price path. Two modes give identical
//! deals, fills and metrics (a test proves it on real data):
//!
//! - [`Mode::Reference`] hands every candle to the driver;
//! - [`Mode::Fast`] (default) skips the candles whose range cannot reach any
//!   price the engine or the simulated book is waiting for (resting limit
//!   orders, stop loss, trailing levels), using `f64` copies of the prices
//!   with a safety margin as a filter, and per-block (64 candles) minimum
//!   lows and maximum highs to skip whole blocks. Skipped candles cost
//!   nothing more: the walk records the equity path as segments (one per
//!   change of position or cash), and the statistics are computed from it
//!   after the walk, in one streaming pass (`equity`, `returns`,
//!   `drawdown`).
//!
//! Known limitations: unrealized loss is marked with the position held at
//! the candle's close; a stop-loss timeout is measured in candle times (all
//! events inside a candle share its last millisecond).

mod candles;
mod drawdown;
mod driver;
mod equity;
mod metrics;
mod prefetch;
mod returns;
mod runner;
mod sim;
pub mod sweep;
pub mod synthetic;
mod walk;

pub use candles::{parse_time, CandleError, Candles, Gap, MAX_PRICE};
pub use driver::{Driver, Recorded};
pub use equity::{equity_curve, equity_curve_f64, EquitySegment};
pub use metrics::{max_drawdown, Metrics};
pub use runner::{backtest, BacktestError, BacktestOptions, BacktestResult, DealRecord, Mode, OpenDeal, Unfunded};
pub use sim::{FillRecord, Resting, SimExchange};
pub use walk::{CandleWalk, WalkStep};
