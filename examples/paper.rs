//! Replays candles as a live price feed through the runner and the paper
//! exchange, and prints each deal as it closes. Each candle's path is walked
//! with the backtest's walk (`PaperExchange::replay_candle`), so the deals
//! are those of `--example backtest` on the same candles.
//!
//! ```text
//! cargo run --release --example paper -- [--config BOT.json] [--csv FILE] [--state DIR] [--quote 100000]
//! ```
//!
//! Without `--csv` it replays 30 days of synthetic one-minute candles.
//! State (engine snapshot and audit log) goes to `--state` (default: a
//! temporary directory); run it twice with the same `--state` and it
//! resumes from where it stopped.

use martingale_toolkit::outln;
use std::process::ExitCode;

use martingale_toolkit::cli::{arg, run_async};
use std::str::FromStr;
use std::sync::Arc;

use martingale_core::backtest::{synthetic, Candles};
use martingale_core::config::BotFile;
use martingale_core::engine::{BotId, Command};
use martingale_exchange::{AuditLog, Exchange, JsonFileStore, PaperExchange, Runner, RunnerConfig, StateStore};
use rust_decimal::Decimal;

const EXAMPLE_BOT: &str = include_str!("bots/example.json");

async fn run() -> Result<(), String> {
    let bot = BotFile::from_str(&match arg("--config") {
        Some(p) => std::fs::read_to_string(&p).map_err(|e| format!("{p}: {e}"))?,
        None => EXAMPLE_BOT.to_string(),
    })
    .map_err(|e| e.to_string())?;
    let candles = match arg("--csv") {
        Some(p) => Candles::from_csv(&std::fs::read_to_string(&p).map_err(|e| format!("{p}: {e}"))?)
            .map_err(|e| e.to_string())?,
        None => synthetic::random_walk(5, 43_200, 60_000, 30_000.0, 0.0012),
    };
    let state_dir =
        arg("--state").map(std::path::PathBuf::from).unwrap_or_else(|| std::env::temp_dir().join("martingale-paper"));
    let quote = Decimal::from_str(&arg("--quote").unwrap_or_else(|| "100000".into())).map_err(|e| e.to_string())?;
    let symbol = bot.market.symbol.clone().unwrap_or_else(|| "BTCUSDT".into());
    let paper = Arc::new(
        PaperExchange::builder(&symbol, bot.market.clone()).fees(bot.fees).fill(bot.fill).quote_balance(quote).build(),
    );
    let store: Arc<dyn StateStore> = Arc::new(JsonFileStore::new(&state_dir).map_err(|e| e.to_string())?);
    let audit = Arc::new(AuditLog::open(state_dir.join("paper-bot.jsonl")).map_err(|e| e.to_string())?);
    let cfg = RunnerConfig { account: "paper".into(), symbol: symbol.clone(), cancel_on_shutdown: true };
    let id = BotId::new("paper-bot").map_err(|e| e.to_string())?;
    let interval = candles.interval_ms().unwrap_or(60_000);
    let first = candles.get(0).ok_or("no candles")?;
    let mut runner = Runner::start(id, &bot, paper.clone(), store, Some(audit.clone()), cfg, first.time)
        .await
        .map_err(|e| e.to_string())?;
    if runner.engine().mode() != martingale_core::engine::Mode::Running {
        runner.command(first.time, Command::Start).await.map_err(|e| e.to_string())?;
    }
    outln!("replaying {} candles on the paper exchange ({symbol}); state in {}", candles.len(), state_dir.display());
    for i in 0..candles.len() {
        let Some(c) = candles.get(i) else { break };
        // One candle, walked like the backtest walks it: the runner polls at
        // every point of the path where something happens.
        paper.replay_candle(&mut runner, c, interval).await.map_err(|e| e.to_string())?;
        for d in runner.take_closed() {
            outln!(
                "deal #{:<4} {:?}: {} safety orders, avg {}, exit {}, P&L {}",
                d.number,
                d.exit,
                d.safety_orders_filled,
                d.average_price.map(|p| p.round_dp(2).to_string()).unwrap_or_default(),
                d.exit_price.map(|p| p.round_dp(2).to_string()).unwrap_or_default(),
                d.pnl.round_dp(4)
            );
        }
    }
    let last = candles.get(candles.len() - 1).map_or(0, |c| c.time + interval);
    runner.shutdown(last).await.map_err(|e| e.to_string())?;
    let t = runner.engine().totals();
    outln!(
        "closed deals {}, realized P&L {}, fees {}",
        t.closed_deals,
        t.realized_pnl.round_dp(4),
        t.fees_quote.round_dp(4)
    );
    for b in paper.balances().await.map_err(|e| e.to_string())? {
        outln!("balance {}: free {} locked {}", b.asset, b.free, b.locked);
    }
    outln!("audit log: {}", audit.path().display());
    Ok(())
}

fn main() -> ExitCode {
    run_async(run())
}
