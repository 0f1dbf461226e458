//! Backtests a bot file on candles and prints a report.
//!
//! ```text
//! martingale backtest [same options]          (the program's subcommand)
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

use crate::outln;
use std::str::FromStr;

use martingale_core::backtest::{backtest, synthetic, BacktestOptions, BacktestResult, Candles, Mode};
use martingale_core::config::BotFile;
use martingale_core::engine::ExitKind;
use rust_decimal::prelude::ToPrimitive;
use serde_json::json;

const EXAMPLE_BOT: &str = include_str!("../../examples/bots/example.json");

#[derive(Default)]
struct Args {
    csv: Option<String>,
    config: Option<String>,
    json: Option<String>,
    svg: Option<String>,
    reference: bool,
    stop_when_unfunded: bool,
}

fn parse_args(argv: Vec<String>) -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--csv" => a.csv = Some(value("--csv")?),
            "--config" => a.config = Some(value("--config")?),
            "--json" => a.json = Some(value("--json")?),
            "--svg" => a.svg = Some(value("--svg")?),
            "--reference" => a.reference = true,
            "--stop-when-unfunded" => a.stop_when_unfunded = true,
            "-h" | "--help" => {
                return Err("usage: backtest [--csv FILE] [--config BOT] [--json OUT] [--svg OUT] [--reference] [--stop-when-unfunded]".into())
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

/// What a run computed, for a caller that keeps it (the program's
/// `backtest --user U` stores it in the service database).
#[derive(Debug, Clone)]
pub struct Run {
    /// The bot file backtested.
    pub bot: BotFile,
    /// Where the candles came from.
    pub source: String,
    /// The metrics (exact decimals).
    pub metrics: martingale_core::backtest::Metrics,
}

/// Runs the job with its arguments (those after the program or subcommand name).
pub fn run(argv: Vec<String>) -> Result<(), String> {
    run_kept(argv).map(|_| ())
}

/// [`run`], returning what it computed.
pub fn run_kept(argv: Vec<String>) -> Result<Run, String> {
    let args = parse_args(argv)?;
    let bot = BotFile::from_str(&match &args.config {
        Some(p) => read(p)?,
        None => EXAMPLE_BOT.to_string(),
    })
    .map_err(|e| format!("{}: {e}", args.config.as_deref().unwrap_or("examples/bots/example.json")))?;
    let (candles, source) = match &args.csv {
        Some(p) => {
            let c = Candles::from_csv(&read(p)?).map_err(|e| format!("{p}: {e}"))?;
            (c, p.clone())
        }
        None => (
            synthetic::random_walk(7, 525_600, 60_000, 30_000.0, 0.0012),
            "embedded synthetic year of 1-minute candles (seed 7)".into(),
        ),
    };
    if let Some(interval) = candles.interval_ms() {
        let gaps = candles.gaps(interval);
        if !gaps.is_empty() {
            let missing: i64 = gaps.iter().map(|g| g.missing).sum();
            eprintln!("note: {} gaps, {missing} candles missing", gaps.len());
        }
    }
    let opts = BacktestOptions {
        mode: if args.reference { Mode::Reference } else { Mode::Fast },
        record_equity: args.svg.is_some(),
        stop_when_unfunded: args.stop_when_unfunded,
        ..Default::default()
    };
    let t = std::time::Instant::now();
    let result = backtest(&bot, &candles, &opts).map_err(|e| e.to_string())?;
    let elapsed = t.elapsed();
    report(&result, &candles, &source, elapsed);
    if let Some(path) = &args.json {
        let doc = json!({ "metrics": result.metrics, "deals": result.deals, "open_deal": result.open_deal });
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{path}: {e}"))?;
        outln!("wrote {path}");
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, svg(&result.equity)).map_err(|e| format!("{path}: {e}"))?;
        outln!("wrote {path}");
    }
    Ok(Run { bot, source, metrics: result.metrics })
}

fn report(r: &BacktestResult, candles: &Candles, source: &str, elapsed: std::time::Duration) {
    let m = &r.metrics;
    outln!("candles: {} from {source}, backtested in {elapsed:.2?}", candles.len());
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let rows = [
        ("closed deals", m.closed_deals.to_string()),
        (
            "exits (tp / sl / trailing / manual)",
            format!("{} / {} / {} / {}", m.take_profit_exits, m.stop_loss_exits, m.trailing_exits, m.manual_exits),
        ),
        ("realized P&L", m.realized_pnl.round_dp(4).to_string()),
        ("fees (quote / base)", format!("{} / {}", m.fees.round_dp(4), m.fees_base)),
        ("win rate %", opt(m.win_rate_pct.map(|v| v.round_dp(2).to_string()))),
        ("profit factor", opt(m.profit_factor.map(|v| v.round_dp(3).to_string()))),
        (
            "avg / max deal duration (h)",
            format!(
                "{} / {}",
                opt(m.avg_deal_duration_secs.map(|s| (s / rust_decimal::Decimal::from(3600)).round_dp(1).to_string())),
                opt(m.max_deal_duration_secs.map(|s| format!("{:.1}", s as f64 / 3600.0)))
            ),
        ),
        ("max safety orders used", m.max_safety_orders_used.to_string()),
        ("max deal cost", m.max_deal_cost.round_dp(4).to_string()),
        ("funds required", m.funds_required.to_string()),
        ("return on funds %", opt(m.return_on_funds_pct.map(|v| v.round_dp(3).to_string()))),
        ("initial capital / final equity", format!("{} / {}", m.initial_capital, m.final_equity.round_dp(4))),
        ("max drawdown (abs / %)", format!("{} / {}", m.max_drawdown.round_dp(4), m.max_drawdown_pct.round_dp(3))),
        ("max unrealized loss", m.max_unrealized_loss.round_dp(4).to_string()),
        ("time in a deal %", m.time_in_deal_pct.round_dp(2).to_string()),
        (
            "sharpe / sortino",
            format!("{} / {}", opt(m.sharpe.map(|v| format!("{v:.3}"))), opt(m.sortino.map(|v| format!("{v:.3}")))),
        ),
        ("fills", m.fills.to_string()),
        (
            "capital ran out",
            match &r.unfunded {
                None => "never".to_string(),
                Some(u) => format!(
                    "candle {}: equity {} < {} needed",
                    u.index,
                    u.equity.round_dp(2),
                    u.funds_required.round_dp(2)
                ),
            },
        ),
    ];
    outln!("\n{:-^60}", " metrics ");
    for (k, v) in rows {
        outln!("{k:<36}{v:>24}");
    }
    outln!("\n{:-^60}", " deals ");
    let show = |d: &martingale_core::backtest::DealRecord| {
        outln!(
            "#{:<5} candles {:>7}..{:<7} {:<11} SOs {:<2} avg {:>12} exit {:>12} P&L {:>10}",
            d.deal.number,
            d.start_index,
            d.end_index,
            format!("{:?}", d.deal.exit),
            d.deal.safety_orders_filled,
            d.deal.average_price.map(|p| p.round_dp(2).to_string()).unwrap_or_default(),
            d.deal.exit_price.map(|p| p.round_dp(2).to_string()).unwrap_or_default(),
            d.deal.pnl.round_dp(4)
        )
    };
    let n = r.deals.len();
    for d in r.deals.iter().take(5) {
        show(d);
    }
    if n > 10 {
        outln!("... {} more ...", n - 10);
    }
    for d in r.deals.iter().skip(n.saturating_sub(5).max(5)) {
        show(d);
    }
    let worst = r.deals.iter().filter(|d| d.deal.exit == ExitKind::StopLoss).count();
    if worst > 0 {
        outln!("{worst} deals closed by stop loss");
    }
    match &r.open_deal {
        Some(o) => outln!(
            "open at the end: deal #{} qty {} avg {} unrealized P&L {}",
            o.number,
            o.quantity,
            o.average_price.map(|p| p.round_dp(2).to_string()).unwrap_or_default(),
            o.unrealized_pnl.round_dp(4)
        ),
        None => outln!("no deal open at the end"),
    }
    outln!("\n{:-^60}", " equity (realized P&L per deal, cumulative) ");
    let curve: Vec<f64> = r
        .deals
        .iter()
        .scan(0.0, |acc, d| {
            *acc += d.deal.pnl.to_f64().unwrap_or(0.0);
            Some(*acc)
        })
        .collect();
    terminal_chart(&curve, 60, 10);
}

/// A small ASCII chart of `values` (resampled to `width` columns).
fn terminal_chart(values: &[f64], width: usize, height: usize) {
    if values.len() < 2 {
        outln!("(not enough deals to draw)");
        return;
    }
    let cols: Vec<f64> = (0..width).map(|c| values[c * (values.len() - 1) / (width - 1)]).collect();
    let (lo, hi) = cols.iter().fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
    let span = (hi - lo).max(1e-9);
    for row in (0..height).rev() {
        let level = lo + span * row as f64 / (height - 1) as f64;
        let line: String = cols
            .iter()
            .map(|v| if ((v - lo) / span * (height - 1) as f64).round() as usize == row { '*' } else { ' ' })
            .collect();
        outln!("{level:>12.2} |{line}");
    }
}

/// An SVG line chart of the equity at each close.
fn svg(equity: &[rust_decimal::Decimal]) -> String {
    let (w, h) = (900.0, 300.0);
    let v: Vec<f64> = equity.iter().map(|d| d.to_f64().unwrap_or(0.0)).collect();
    if v.len() < 2 {
        return format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\"/>");
    }
    let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(l, m), x| (l.min(*x), m.max(*x)));
    let span = (hi - lo).max(1e-9);
    let step = (v.len() / 2000).max(1);
    let points: Vec<String> = v
        .iter()
        .enumerate()
        .step_by(step)
        .map(|(i, x)| {
            format!("{:.1},{:.1}", i as f64 / (v.len() - 1) as f64 * w, h - (x - lo) / span * (h - 20.0) - 10.0)
        })
        .collect();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"8\" y=\"16\" font-family=\"monospace\" font-size=\"12\">equity {lo:.2} .. {hi:.2}</text>\
         <polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1\" points=\"{}\"/></svg>",
        points.join(" ")
    )
}
