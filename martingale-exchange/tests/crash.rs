//! Crash test: the runner is killed at an exchange call (before the call
//! reaches the venue, or after the venue executed it but before the answer
//! arrived), dropped, and restarted from its persisted state, at 240
//! different points of one scenario. Every run must end exactly like the
//! uninterrupted run, with no client order id placed twice and no fill lost.
//! A second scenario with take-profit steps, a trailing break-even stop and
//! a trailing last step (SPEC section 10) is killed at every call.

mod common;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::crashy::{funded_paper, Crashy, MemStore};
use martingale_core::backtest::synthetic::random_walk;
use martingale_core::config::BotFile;
use martingale_core::engine::{BotId, Candle, ClientOrderId, Command};
use martingale_exchange::{Exchange, ExchangeError, Runner, RunnerConfig, RunnerError, StateStore};
use rust_decimal::Decimal;

fn bot() -> BotFile {
    martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap()
}

/// The example bot with three take-profit steps (the last one trailing)
/// and a trailing stop that moves to break-even after the first step.
fn steps_bot() -> BotFile {
    let mut b = bot();
    b.strategy.take_profit = serde_json::from_str(
        r#"{"steps": [{"percent": "0.6", "close": "30"}, {"percent": "1.2", "close": "30"}, {"percent": "2", "close": "40"}]}"#,
    )
    .unwrap();
    b.strategy.trailing_take_profit = Some(Decimal::new(3, 1));
    b.strategy.stop_loss =
        Some(serde_json::from_str(r#"{"percent": "9", "trailing": true, "breakeven_after_step": 1}"#).unwrap());
    b.strategy.validate().unwrap();
    b
}

struct Outcome {
    totals: martingale_core::pnl::BotTotals,
    open: Option<(Decimal, Decimal)>,
    fills: usize,
    step_fills: usize,
    placed: HashMap<ClientOrderId, usize>,
    calls: i64,
}

/// Runs the scenario; the runner dies at exchange call `kill_at` (0: never)
/// and is restarted from the store.
async fn scenario(b: &BotFile, candles: &[Candle], kill_at: i64, after: bool) -> Outcome {
    scenario_traced(b, candles, kill_at, after, &mut Vec::new()).await
}

async fn scenario_traced(
    b: &BotFile,
    candles: &[Candle],
    kill_at: i64,
    after: bool,
    trace: &mut Vec<String>,
) -> Outcome {
    let b = b.clone();
    let paper = funded_paper(&b);
    let store: Arc<dyn StateStore> = Arc::new(MemStore::default());
    let cfg = RunnerConfig { account: "alice".into(), symbol: "BTCUSDT".into(), cancel_on_shutdown: false };
    let id = BotId::new("crash").unwrap();
    let crashy = Arc::new(Crashy::new(paper.clone(), kill_at, after));
    let mut placed: HashMap<ClientOrderId, usize> = HashMap::new();
    let mut calls = 0;
    let mut crashy = crashy;
    // A fresh start asks the venue for the bot's orders: the kill may hit there.
    let mut runner = loop {
        match Runner::start(id.clone(), &b, crashy.clone(), store.clone(), None, cfg.clone(), 0).await {
            Ok(r) => break r,
            Err(RunnerError::Exchange(ExchangeError::Authentication(_))) => {
                calls += crashy.calls.load(Ordering::SeqCst);
                crashy = Arc::new(Crashy::new(paper.clone(), 0, false));
            }
            Err(e) => panic!("start: {e}"),
        }
    };
    runner.command(0, Command::Start).await.unwrap();
    let mut i = 0;
    let mut fed = 0;
    while i < candles.len() {
        if fed == i {
            paper.feed(candles[i]);
            fed += 1;
        }
        let t = candles[i].time + 59_999;
        match runner.step(t).await {
            Ok(()) => {
                trace.push(format!("{i} {}", serde_json::to_string(runner.engine()).unwrap()));
                i += 1
            }
            Err(RunnerError::Exchange(ExchangeError::Authentication(_))) => {
                // The process died here: drop everything but the venue and
                // the store, and start again.
                calls += crashy.calls.load(Ordering::SeqCst);
                for (k, v) in crashy.placed.lock().unwrap().iter() {
                    *placed.entry(k.clone()).or_default() += v;
                }
                drop(runner);
                crashy = Arc::new(Crashy::new(paper.clone(), 0, false));
                runner =
                    Runner::start(id.clone(), &b, crashy.clone(), store.clone(), None, cfg.clone(), t).await.unwrap();
            }
            Err(e) => panic!("unexpected error at candle {i}: {e}"),
        }
    }
    calls += crashy.calls.load(Ordering::SeqCst);
    for (k, v) in crashy.placed.lock().unwrap().iter() {
        *placed.entry(k.clone()).or_default() += v;
    }
    let e = runner.engine();
    Outcome {
        totals: e.totals().clone(),
        open: e.deal().map(|d| (d.position.open_qty(), d.position.entry_value())),
        fills: paper.fills_since("BTCUSDT", 0).await.unwrap().len(),
        step_fills: paper
            .fills_since("BTCUSDT", 0)
            .await
            .unwrap()
            .iter()
            .filter(|f| f.client_order_id.as_str().contains("-tp"))
            .count(),
        placed,
        calls,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn killed_at_any_exchange_call_the_runner_recovers_exactly() {
    let series = random_walk(9, 480, 60_000, 30_000.0, 0.004);
    let candles: Vec<Candle> = (0..series.len()).map(|i| series.get(i).unwrap()).collect();
    let clean = scenario(&bot(), &candles, 0, false).await;
    assert!(clean.totals.closed_deals >= 3, "the scenario must trade: {:?}", clean.totals);
    assert!(clean.placed.values().all(|n| *n == 1));
    let total_calls = clean.calls;
    let points = 240;
    let mut recovered = 0;
    for p in 0..points {
        let kill_at = 1 + (p as i64 * total_calls) / points as i64;
        let after = p % 2 == 1;
        let run = scenario(&bot(), &candles, kill_at, after).await;
        assert!(
            run.placed.values().all(|n| *n == 1),
            "kill at call {kill_at} (after: {after}): a client order id was placed twice"
        );
        assert_eq!(run.placed.len(), clean.placed.len(), "kill at {kill_at}: orders differ");
        assert_eq!(run.fills, clean.fills, "kill at {kill_at}: fills differ");
        assert_eq!(run.totals, clean.totals, "kill at {kill_at} (after: {after}): P&L differs");
        assert_eq!(run.open, clean.open, "kill at {kill_at}: open position differs");
        recovered += 1;
    }
    println!("crash test: {recovered} kill points over {total_calls} exchange calls, all recovered exactly");
    assert_eq!(recovered, points);
}

#[tokio::test(flavor = "current_thread")]
async fn take_profit_steps_and_a_trailing_stop_recover_at_every_call() {
    let series = random_walk(11, 200, 60_000, 30_000.0, 0.004);
    let candles: Vec<Candle> = (0..series.len()).map(|i| series.get(i).unwrap()).collect();
    let b = steps_bot();
    let clean = scenario(&b, &candles, 0, false).await;
    assert!(clean.totals.closed_deals >= 3, "the scenario must trade: {:?}", clean.totals);
    assert!(clean.step_fills >= 3, "take-profit steps must fill: {}", clean.step_fills);
    assert!(clean.placed.values().all(|n| *n == 1));
    for kill_at in 1..=clean.calls {
        for after in [false, true] {
            let run = scenario(&b, &candles, kill_at, after).await;
            let at = format!("kill at call {kill_at} of {} (after: {after})", clean.calls);
            assert!(run.placed.values().all(|n| *n == 1), "{at}: a client order id was placed twice");
            assert_eq!(run.placed.len(), clean.placed.len(), "{at}: orders differ");
            assert_eq!((run.fills, run.step_fills), (clean.fills, clean.step_fills), "{at}: fills differ");
            assert_eq!(run.totals, clean.totals, "{at}: P&L differs");
            assert_eq!(run.open, clean.open, "{at}: open position differs");
        }
    }
    println!(
        "crash test with steps: killed at each of {} calls, before and after, all recovered exactly ({:?})",
        clean.calls, clean.totals
    );
}
