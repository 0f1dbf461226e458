//! Sweeps a bot file's settings over a grid on candles (all cores) and
//! prints one row per parameter set, best realized P&L first.
//!
//! ```text
//! martingale sweep [--config BOT.json|BOT.toml] [--csv FILE]
//!                  --axis PATH=V1,V2,... [--axis ...] [--top N] [--json OUT.json]
//! ```
//!
//! `PATH` is a dotted path into the bot file's `strategy`
//! (`take_profit.percent`, `price_deviation`, `volume_scale`, ...); each
//! value is given as the bot file would have it (a decimal string). Without
//! `--config` it sweeps the example bot, without `--csv` the embedded
//! synthetic year of one-minute candles of `backtest`.

use std::str::FromStr;

use crate::outln;
use martingale_core::backtest::sweep::{sweep, Grid, SweepRow};
use martingale_core::backtest::{synthetic, BacktestOptions, Candles};
use martingale_core::config::BotFile;
use rust_decimal::Decimal;
use serde_json::{json, Value};

const EXAMPLE_BOT: &str = include_str!("../../examples/bots/example.json");
const USAGE: &str =
    "usage: sweep [--config BOT] [--csv FILE] --axis PATH=V1,V2,... [--axis ...] [--top N] [--json OUT]";

struct Args {
    config: Option<String>,
    csv: Option<String>,
    axes: Vec<(String, Vec<Value>)>,
    top: usize,
    json: Option<String>,
}

fn parse_args(argv: Vec<String>) -> Result<Args, String> {
    let mut a = Args { config: None, csv: None, axes: Vec::new(), top: 20, json: None };
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value ({USAGE})"));
        match arg.as_str() {
            "--config" => a.config = Some(value("--config")?),
            "--csv" => a.csv = Some(value("--csv")?),
            "--json" => a.json = Some(value("--json")?),
            "--top" => {
                let v = value("--top")?;
                a.top = v.parse().map_err(|e| format!("--top {v:?}: {e}"))?;
            }
            "--axis" => {
                let v = value("--axis")?;
                let (path, values) = v
                    .split_once('=')
                    .ok_or(format!("--axis {v:?}: write PATH=V1,V2,... (e.g. price_deviation=1,1.5,2)"))?;
                let values: Vec<Value> =
                    values.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| json!(s)).collect();
                if path.is_empty() || values.is_empty() {
                    return Err(format!("--axis {v:?}: a path and at least one value"));
                }
                a.axes.push((path.to_string(), values));
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?} ({USAGE})")),
        }
    }
    if a.axes.is_empty() {
        return Err(format!("no --axis given ({USAGE})"));
    }
    Ok(a)
}

/// Runs the job with its arguments (those after the program or subcommand name).
pub fn run(argv: Vec<String>) -> Result<(), String> {
    let args = parse_args(argv)?;
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"));
    let bot = BotFile::from_str(&match &args.config {
        Some(p) => read(p)?,
        None => EXAMPLE_BOT.to_string(),
    })
    .map_err(|e| format!("{}: {e}", args.config.as_deref().unwrap_or("examples/bots/example.json")))?;
    let candles = match &args.csv {
        Some(p) => Candles::from_csv(&read(p)?).map_err(|e| format!("{p}: {e}"))?,
        None => synthetic::random_walk(7, 525_600, 60_000, 30_000.0, 0.0012),
    };
    let grid = args.axes.iter().fold(Grid::new(), |g, (path, values)| g.axis(path.clone(), values.clone()));
    // A path that does not exist is named here, not as 1,000 failed rows.
    grid.bot(&bot, 0).map_err(|e| format!("--axis: {e}"))?;
    let t = std::time::Instant::now();
    let out = sweep(&bot, &candles, &grid, &BacktestOptions::default(), &|_, _| {}, None).map_err(|e| e.to_string())?;
    let elapsed = t.elapsed();
    let mut rows: Vec<&SweepRow> = out.rows.iter().collect();
    let pnl = |r: &SweepRow| r.outcome.as_ref().map_or(Decimal::MIN, |m| m.realized_pnl);
    rows.sort_by(|a, b| pnl(b).cmp(&pnl(a)).then(a.index.cmp(&b.index)));
    let failed = rows.iter().filter(|r| r.outcome.is_err()).count();
    outln!("{} sets over {} candles in {elapsed:.2?} ({failed} invalid)", grid.len(), candles.len());
    outln!(
        "{:>5}  {:<40} {:>7} {:>16} {:>12} {:>10}",
        "set",
        "parameters",
        "deals",
        "realized pnl",
        "max dd %",
        "funds"
    );
    for r in rows.iter().take(args.top) {
        let params = r.params.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>();
        match &r.outcome {
            Ok(m) => outln!(
                "{:>5}  {:<40} {:>7} {:>16} {:>12} {:>10}",
                r.index,
                params.join(" "),
                m.closed_deals,
                m.realized_pnl.round_dp(4),
                m.max_drawdown_pct.round_dp(2),
                m.funds_required.round_dp(2)
            ),
            Err(e) => outln!("{:>5}  {:<40} invalid: {e}", r.index, params.join(" ")),
        }
    }
    if let Some(path) = &args.json {
        let doc: Vec<Value> = out
            .rows
            .iter()
            .map(|r| match &r.outcome {
                Ok(m) => json!({ "set": r.index, "params": r.params, "metrics": m }),
                Err(e) => json!({ "set": r.index, "params": r.params, "error": e }),
            })
            .collect();
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{path}: {e}"))?;
        outln!("wrote {path}");
    }
    Ok(())
}
