//! The runner's crash test against the fake Binance server over HTTP: the
//! runner (driving `BinanceSpot`) is killed at 200 points of a scenario,
//! before a request reaches the server or after the server executed it, and
//! restarted from its store; the fake server also answers one order with a
//! 5xx and one after the client's timeout, both after accepting it, and
//! answers order queries with stale (out-of-order) and repeated states. Every run must end like the uninterrupted one:
//! no client order id placed twice, the same orders and fills, the same
//! P&L and open position.

mod common;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::crashy::{Crashy, MemStore};
use common::fake_binance::{client, funded, move_price, serve, Fault, SECRET};
use martingale_core::config::BotFile;
use martingale_core::engine::{BotId, ClientOrderId, Command};
use martingale_exchange::{ExchangeError, Runner, RunnerConfig, RunnerError, StateStore};
use rust_decimal::Decimal;

struct Outcome {
    totals: martingale_core::pnl::BotTotals,
    open: Option<(Decimal, Decimal)>,
    orders: usize,
    trades: usize,
    placed: HashMap<ClientOrderId, usize>,
    calls: i64,
}

async fn scenario(closes: &[Decimal], kill_at: i64, after: bool, timeout_fault: bool) -> Outcome {
    let b: BotFile = martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap();
    let mut f = funded();
    f.usdt = Decimal::from(1_000_000);
    f.price = closes[0];
    // A 5xx and a timeout after accepting orders, and stale (out-of-order,
    // then duplicate) order reports, on top of the kills.
    f.faults = vec![Fault::ServerErrorAfterAccept, Fault::StaleQuery];
    if timeout_fault {
        f.faults.extend([Fault::TimeoutAfterAccept, Fault::StaleQuery]);
    }
    let (fake, url) = serve(f).await;
    let venue = Arc::new(client(&url, SECRET));
    let store: Arc<dyn StateStore> = Arc::new(MemStore::default());
    let cfg = RunnerConfig { account: "bob".into(), symbol: "BTCUSDT".into(), cancel_on_shutdown: false };
    let id = BotId::new("crash-bn").unwrap();
    let mut crashy = Arc::new(Crashy::new(venue.clone(), kill_at, after));
    let (mut placed, mut calls) = (HashMap::<ClientOrderId, usize>::new(), 0);
    // A fresh start asks the venue for the bot's orders: the kill may hit there.
    let mut runner = loop {
        match Runner::start(id.clone(), &b, crashy.clone(), store.clone(), None, cfg.clone(), 0).await {
            Ok(r) => break r,
            Err(RunnerError::Exchange(ExchangeError::Authentication(_))) => {
                calls += crashy.calls.load(Ordering::SeqCst);
                crashy = Arc::new(Crashy::new(venue.clone(), 0, false));
            }
            Err(e) => panic!("start: {e}"),
        }
    };
    runner.command(0, Command::Start).await.unwrap();
    let (mut i, mut moved) = (0, 0);
    while i < closes.len() {
        if moved == i {
            move_price(&mut fake.lock().unwrap(), closes[i]);
            moved += 1;
        }
        let t = (i as i64 + 1) * 60_000;
        match runner.step(t).await {
            Ok(()) => i += 1,
            Err(RunnerError::Exchange(ExchangeError::Authentication(_))) => {
                calls += crashy.calls.load(Ordering::SeqCst);
                for (k, v) in crashy.placed.lock().unwrap().iter() {
                    *placed.entry(k.clone()).or_default() += v;
                }
                drop(runner);
                crashy = Arc::new(Crashy::new(venue.clone(), 0, false));
                runner =
                    Runner::start(id.clone(), &b, crashy.clone(), store.clone(), None, cfg.clone(), t).await.unwrap();
            }
            Err(e) => panic!("unexpected error at step {i}: {e}"),
        }
    }
    calls += crashy.calls.load(Ordering::SeqCst);
    for (k, v) in crashy.placed.lock().unwrap().iter() {
        *placed.entry(k.clone()).or_default() += v;
    }
    let e = runner.engine();
    let fake = fake.lock().unwrap();
    Outcome {
        totals: e.totals().clone(),
        open: e.deal().map(|d| (d.position.open_qty(), d.position.entry_value())),
        orders: fake.orders.len(),
        trades: fake.trades.len(),
        placed,
        calls,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_any_request_the_runner_recovers_exactly_on_binance() {
    // An oscillation of +-3 % around 30,000: safety orders fill on the way
    // down, take profits (in two partial fills) on the way up.
    let closes: Vec<Decimal> =
        (0..160).map(|k| Decimal::new((3_000_000.0 + 90_000.0 * (k as f64 / 6.0).sin()).round() as i64, 2)).collect();
    let clean = scenario(&closes, 0, false, true).await;
    assert!(
        clean.totals.closed_deals >= 2,
        "the scenario must trade: {:?}, {} orders, {} trades",
        clean.totals,
        clean.orders,
        clean.trades
    );
    assert!(clean.placed.values().all(|n| *n == 1));
    let points = 200;
    for p in 0..points {
        let kill_at = 1 + (p as i64 * clean.calls) / points as i64;
        let after = p % 2 == 1;
        // The outcome must not depend on the faults either: the timeout
        // fault (which waits out the client's timeout) runs in one of eight.
        let run = scenario(&closes, kill_at, after, p % 8 == 0).await;
        let twice: Vec<_> = run.placed.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "kill at {kill_at} (after: {after}): placed twice: {twice:?}");
        assert_eq!((run.orders, run.trades), (clean.orders, clean.trades), "kill at {kill_at} (after: {after})");
        assert_eq!(run.totals, clean.totals, "kill at {kill_at} (after: {after}): P&L differs");
        assert_eq!(run.open, clean.open, "kill at {kill_at} (after: {after}): open position differs");
    }
    println!(
        "binance crash test: {points} kill points over {} requests, {} deals, all recovered exactly",
        clean.calls, clean.totals.closed_deals
    );
}
