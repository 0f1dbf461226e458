//! Backtests a bot file on candles and prints a report.
//!
//! ```text
//! cargo run --release --example backtest -- [--csv FILE] [--config BOT.json|BOT.toml]
//!                                          [--json OUT.json] [--svg OUT.svg] [--reference]
//!                                          [--stop-when-unfunded]
//! ```
//!
//! With no arguments it runs the example bot (`examples/bots/example.json`,
//! embedded) on an embedded default series: one year of one-minute candles
//! from the seeded synthetic generator (`synthetic::random_walk(7, 525_600,
//! 60_000, 30_000.0, 0.0012)`), so it needs no file and no network.
//! `--csv` takes the CSV formats of the SPEC (header
//! `time,open,high,low,close[,volume]`, or Binance kline exports).

use std::process::ExitCode;

fn main() -> ExitCode {
    martingale_toolkit::cli::exit(martingale_toolkit::jobs::backtest::run(std::env::args().skip(1).collect()))
}
