//! Prints the ladder plan of a bot file.
//!
//! ```text
//! martingale plan [same options]          (the program's subcommand)
//! cargo run --example plan -- [--config BOT.json] [--price 43250.17] [--json]
//! ```
//!
//! Without `--config` it plans the example bot of `examples/bots/example.json`
//! (embedded); without `--price` it uses the SPEC's worked-example entry price.

use crate::outln;
use std::str::FromStr;

use martingale_core::config::BotFile;
use martingale_core::ladder::{plan, LadderPlan};
use rust_decimal::Decimal;
use serde_json::json;

const EXAMPLE_BOT: &str = include_str!("../../examples/bots/example.json");

struct Args {
    config: Option<String>,
    price: Decimal,
    json: bool,
}

fn parse_args(argv: Vec<String>) -> Result<Args, String> {
    let mut args = Args { config: None, price: Decimal::from_str("43250.17").map_err(|e| e.to_string())?, json: false };
    let mut it = argv.into_iter();
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
    // With take-profit steps the column lists every step's price (the last
    // is the final target); a stop loss adds its column.
    let steps = p.levels.first().is_some_and(|l| !l.take_profit_steps.is_empty());
    let stop = p.levels.first().is_some_and(|l| l.stop_loss_price.is_some());
    let tp_title = if steps { "take-profit steps" } else { "take profit" };
    outln!(
        "{:>5} {:>14} {:>9} {:>14} {:>12} {:>14} {:>16} {:>14}{}",
        "level",
        "price",
        "dev %",
        "quantity",
        "quote",
        "cum. cost",
        "average",
        tp_title,
        if stop { format!(" {:>14}", "stop loss") } else { String::new() }
    );
    for l in &p.levels {
        let tp = if steps {
            l.take_profit_steps.iter().map(ToString::to_string).collect::<Vec<_>>().join(" / ")
        } else {
            l.take_profit_price.to_string()
        };
        let sl = l.stop_loss_price.map(|s| format!(" {s:>14}")).unwrap_or_default();
        outln!(
            "{:>5} {:>14} {:>9} {:>14} {:>12} {:>14} {:>16} {:>14}{}",
            l.level,
            l.price,
            l.deviation,
            l.quantity,
            l.quote,
            l.cumulative_cost.round_dp(8),
            l.average_price.round_dp(8),
            tp,
            sl
        );
    }
    outln!("funds required: {}", p.funds_required);
    outln!("max deviation covered: {} %", p.max_deviation);
}

/// Runs the job with its arguments (those after the program or subcommand name).
pub fn run(argv: Vec<String>) -> Result<(), String> {
    let args = parse_args(argv)?;
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
