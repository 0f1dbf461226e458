//! Prints the ladder plan of a bot file.
//!
//! ```text
//! cargo run --example plan -- [--config BOT.json] [--price 43250.17] [--json]
//! ```
//!
//! Without `--config` it plans the example bot of `examples/bots/example.json`
//! (embedded); without `--price` it uses the SPEC's worked-example entry price.

use std::process::ExitCode;

fn main() -> ExitCode {
    martingale_toolkit::cli::exit(martingale_toolkit::jobs::plan::run(std::env::args().skip(1).collect()))
}
