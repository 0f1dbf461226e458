//! Prints the ladder plan of a bot file.
//!
//! ```text
//! cargo run --example plan -- [--config BOT.json] [--price 43250.17] [--json]
//! ```
//!
//! Without `--config` it plans the example bot of `examples/bots/example.json`
//! (embedded); without `--price` it uses the SPEC's worked-example entry price.

use martingale_toolkit::outln;
use std::process::ExitCode;
use std::str::FromStr;

use martingale_core::config::BotFile;
use martingale_core::ladder::{plan, LadderPlan};
use rust_decimal::Decimal;
use serde_json::json;

const EXAMPLE_BOT: &str = include_str!("bots/example.json");

struct Args {
    config: Option<String>,
    price: Decimal,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { config: None, price: Decimal::from_str("43250.17").map_err(|e| e.to_string())?, json: false };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" => args.config = Some(it.next().ok_or("--config needs a file")?),
            "--price" => {
                let p = it.next().ok_or("--price needs a value")?;
                args.price = Decimal::from_str(&p).map_err(|e| format!("--price {p}: {e}"))?;
            }
            "--json" => args.json = true,
            "-h" | "--help" => return Err("usage: plan [--config BOT.json|BOT.toml] [--price P] [--json]".into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn print_table(p: &LadderPlan) {
    outln!(
        "{:>5} {:>14} {:>9} {:>14} {:>12} {:>14} {:>16} {:>14}",
        "level",
        "price",
        "dev %",
        "quantity",
        "quote",
        "cum. cost",
        "average",
        "take profit"
    );
    for l in &p.levels {
        outln!(
            "{:>5} {:>14} {:>9} {:>14} {:>12} {:>14} {:>16} {:>14}",
            l.level,
            l.price,
            l.deviation,
            l.quantity,
            l.quote,
            l.cumulative_cost.round_dp(8),
            l.average_price.round_dp(8),
            l.take_profit_price
        );
    }
    outln!("funds required: {}", p.funds_required);
    outln!("max deviation covered: {} %", p.max_deviation);
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let text = match &args.config {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?,
        None => EXAMPLE_BOT.to_string(),
    };
    // The error names the file, then the field (`strategy.take_profit`: ...).
    let bot = BotFile::from_str(&text)
        .map_err(|e| format!("{}: {e}", args.config.as_deref().unwrap_or("examples/bots/example.json")))?;
    let p = plan(&bot.strategy, &bot.market, args.price).map_err(|e| e.to_string())?;
    if args.json {
        let levels: Vec<_> = p
            .levels
            .iter()
            .map(|l| {
                json!({
                    "level": l.level, "price": l.price, "quantity": l.quantity, "quote": l.quote,
                    "deviation": l.deviation, "cost": l.cost,
                    "cumulative_quantity": l.cumulative_quantity, "cumulative_cost": l.cumulative_cost,
                    "average_price": l.average_price, "take_profit_price": l.take_profit_price,
                })
            })
            .collect();
        let doc = json!({ "levels": levels, "funds_required": p.funds_required, "max_deviation": p.max_deviation });
        outln!("{}", serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?);
    } else {
        print_table(&p);
    }
    Ok(())
}

fn main() -> ExitCode {
    martingale_toolkit::cli::exit(run())
}
