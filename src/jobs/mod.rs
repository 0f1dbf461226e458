//! The jobs of the `martingale plan|backtest|sweep` subcommands (the
//! `plan` and `backtest` examples run the same code). Each takes its
//! arguments as a list (those after the job's name) and prints to stdout;
//! an error is a message for the user.

pub mod backtest;
pub mod plan;
pub mod sweep;
