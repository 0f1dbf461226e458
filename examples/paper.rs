//! Replays candles as a live price feed through the runner and the paper
//! exchange, and prints each deal as it closes. Each candle's path is walked
//! with the backtest's walk (`PaperExchange::replay_candle`), so the deals
//! are those of `--example backtest` on the same candles.
//!
//! ```text
//! cargo run --release --example paper -- [--config BOT.json] [--csv FILE] [--state DIR] [--quote 100000] [--candles N]
//! ```
//!
//! Without `--csv` it replays 30 days of synthetic one-minute candles.
//! State (engine snapshot and audit log) goes to `--state` (default: a
//! temporary directory); run it twice with the same `--state` and it
//! resumes from where it stopped: the candles the saved state has already
//! seen are skipped, and the in-process paper venue, which does not outlive
//! the process, is rebuilt from the saved deal (its open position as base
//! balance, its resting orders placed again). `--candles N` replays only
//! the first N candles. A second run on the same `--state` while the first
//! still runs refuses to start (the bot's state is locked).

use martingale_toolkit::outln;
use std::process::ExitCode;

use martingale_toolkit::cli::{arg, run_async};
use std::str::FromStr;
use std::sync::Arc;

use martingale_core::backtest::{synthetic, Candles};
use martingale_core::config::BotFile;
use martingale_core::engine::{BotId, Command, OrderState};
use martingale_exchange::{
    AuditLog, Exchange, JsonFileStore, PaperExchange, Persisted, Runner, RunnerConfig, StateStore,
};
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
    let limit = match arg("--candles") {
        Some(n) => n.parse::<usize>().map_err(|e| format!("--candles: {e}"))?,
        None => candles.len(),
    };
    let count = candles.len().min(limit);
    let symbol = bot.market.symbol.clone().unwrap_or_else(|| "BTCUSDT".into());
    let store = JsonFileStore::new(&state_dir).map_err(|e| e.to_string())?;
    let id = BotId::new("paper-bot").map_err(|e| e.to_string())?;
    // Hold the bot before reading its state: a second run stops here.
    let lease = store.acquire(&id).await.map_err(|e| e.to_string())?;
    let saved = match store.load(&id).await.map_err(|e| e.to_string())? {
        Some(text) => Some(Persisted::load(&id, &text).map_err(|e| e.to_string())?),
        None => None,
    };
    drop(lease);
    let interval = candles.interval_ms().unwrap_or(60_000);
    // Resume after the last candle the saved state has seen.
    let resume_at = saved.as_ref().and_then(|p| p.last_time).map_or(0, |last| {
        (0..count).find(|&i| candles.get(i).is_some_and(|c| c.time + interval - 1 > last)).unwrap_or(count)
    });
    let open_qty = saved.as_ref().and_then(|p| p.engine.deal()).map_or(Decimal::ZERO, |d| d.position.open_qty());
    let paper = Arc::new(
        PaperExchange::builder(&symbol, bot.market.clone())
            .fees(bot.fees)
            .fill(bot.fill)
            .quote_balance(quote)
            .base_balance(open_qty)
            .build(),
    );
    let audit = Arc::new(AuditLog::open(state_dir.join("paper-bot.jsonl")).map_err(|e| e.to_string())?);
    let cfg = RunnerConfig { account: "paper".into(), symbol: symbol.clone(), cancel_on_shutdown: true };
    let Some(first) = candles.get(resume_at.min(count.saturating_sub(1))) else {
        return Err("no candles".into());
    };
    if let Some(previous) = resume_at.checked_sub(1).and_then(|i| candles.get(i)) {
        // The market stands at the close the saved state last saw (the book
        // is still empty, so nothing fills).
        paper.feed(previous);
    }
    if let Some(deal) = saved.as_ref().and_then(|p| p.engine.deal()) {
        // The paper venue died with the last process: rest the saved
        // deal's orders on it again (a partly filled one cannot be).
        for o in deal.orders.iter().filter(|o| o.state.is_live() && o.state != OrderState::Sent) {
            if !o.filled.is_zero() {
                return Err(format!(
                    "order {} was partly filled when the last run stopped; the paper venue cannot rebuild it: \
                     remove {} to start afresh",
                    o.request.client_order_id,
                    state_dir.display()
                ));
            }
            paper.place_order(&symbol, &o.request).await.map_err(|e| e.to_string())?;
        }
    }
    let mut runner = Runner::builder(id, &bot, paper.clone(), Arc::new(store) as Arc<dyn StateStore>)
        .audit(audit.clone())
        .config(cfg)
        .time(first.time)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    if runner.engine().mode() != martingale_core::engine::Mode::Running {
        runner.command(first.time, Command::Start).await.map_err(|e| e.to_string())?;
    }
    if resume_at > 0 {
        outln!("resumed after candle {resume_at} of {count}");
    }
    outln!(
        "replaying {} candles on the paper exchange ({symbol}); state in {}",
        count - resume_at,
        state_dir.display()
    );
    for i in resume_at..count {
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
    let last = candles.get(count.saturating_sub(1)).map_or(0, |c| c.time + interval);
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
