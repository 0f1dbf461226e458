//! The runner's crash test for any venue behind a fake server: the runner
//! is killed at `points` exchange calls of a scenario (before the call
//! reaches the venue, or after the venue executed it), restarted from its
//! store, and every run must end like the uninterrupted one: no client
//! order id placed twice, the same orders and fills on the venue, the same
//! P&L and open position.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use martingale_core::config::BotFile;
use martingale_core::engine::{BotId, ClientOrderId, Command};
use martingale_exchange::{Exchange, ExchangeError, Runner, RunnerConfig, RunnerError, StateStore};
use rust_decimal::Decimal;

use super::crashy::{Crashy, MemStore};

/// A fresh fake venue for one run.
pub struct Harness<E: Exchange> {
    /// The adapter, talking to the fake server.
    pub venue: Arc<E>,
    /// Moves the fake market's price (fills what it reaches).
    pub move_price: Box<dyn Fn(Decimal) + Send + Sync>,
    /// Orders and fills the fake venue holds.
    pub counts: Box<dyn Fn() -> (usize, usize) + Send + Sync>,
    /// The market id on this venue.
    pub symbol: String,
}

pub struct Outcome {
    pub totals: martingale_core::pnl::BotTotals,
    pub open: Option<(Decimal, Decimal)>,
    pub orders: usize,
    pub fills: usize,
    pub placed: HashMap<ClientOrderId, usize>,
    pub calls: i64,
}

/// The example bot on a price grid every fake venue accepts: OKX's
/// BTC-USDT ticks by 0.1 (the others by 0.01), and the adapters refuse a
/// price off the venue's grid before sending it.
pub fn every_venue_bot() -> BotFile {
    let mut b = BotFile::example().unwrap();
    b.market.tick_size = rust_decimal_macros::dec!(0.1);
    b
}

/// Closes oscillating ±3 % around 30,000: safety orders fill on the way
/// down, take profits (in two partial fills) on the way up.
pub fn closes(n: usize) -> Vec<Decimal> {
    (0..n).map(|k| Decimal::new((3_000_000.0 + 90_000.0 * (k as f64 / 6.0).sin()).round() as i64, 2)).collect()
}

pub async fn scenario<E: Exchange + 'static>(h: Harness<E>, closes: &[Decimal], kill_at: i64, after: bool) -> Outcome {
    let b = every_venue_bot();
    let store: Arc<dyn StateStore> = Arc::new(MemStore::default());
    let cfg = RunnerConfig { account: "bob".into(), symbol: h.symbol.clone(), cancel_on_shutdown: false };
    let id = BotId::new("crash-v").unwrap();
    let mut crashy = Arc::new(Crashy::new(h.venue.clone(), kill_at, after));
    let (mut placed, mut calls) = (HashMap::<ClientOrderId, usize>::new(), 0);
    // The venue's clock: a fresh start asks for the last day's fills, which
    // a venue answers only within its reach (Bybit 2 years, OKX 3 months).
    let t0 = super::book::now() / 60_000 * 60_000;
    // A fresh start asks the venue for the bot's orders: the kill may hit there.
    let mut runner = loop {
        match Runner::start(id.clone(), &b, crashy.clone(), store.clone(), None, cfg.clone(), t0).await {
            Ok(r) => break r,
            Err(RunnerError::Exchange(ExchangeError::Authentication(_))) => {
                calls += crashy.calls.load(Ordering::SeqCst);
                crashy = Arc::new(Crashy::new(h.venue.clone(), 0, false));
            }
            Err(e) => panic!("start: {e}"),
        }
    };
    runner.command(t0, Command::Start).await.unwrap();
    let (mut i, mut moved) = (0, 0);
    while i < closes.len() {
        if moved == i {
            (h.move_price)(closes[i]);
            moved += 1;
        }
        let t = t0 + (i as i64 + 1) * 60_000;
        match runner.step(t).await {
            Ok(()) => i += 1,
            Err(RunnerError::Exchange(ExchangeError::Authentication(_))) => {
                calls += crashy.calls.load(Ordering::SeqCst);
                for (k, v) in crashy.placed.lock().unwrap().iter() {
                    *placed.entry(k.clone()).or_default() += v;
                }
                drop(runner);
                crashy = Arc::new(Crashy::new(h.venue.clone(), 0, false));
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
    let (orders, fills) = (h.counts)();
    Outcome {
        totals: e.totals().clone(),
        open: e.deal().map(|d| (d.position.open_qty(), d.position.entry_value())),
        orders,
        fills,
        placed,
        calls,
    }
}

/// Runs the clean scenario, then `points` killed ones; `make(run)` builds a
/// fresh fake venue (run 0 is the clean one).
pub async fn crash_test<E, F, Fut>(name: &str, points: usize, steps: usize, make: F)
where
    E: Exchange + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Harness<E>>,
{
    let closes = closes(steps);
    let clean = scenario(make(0).await, &closes, 0, false).await;
    assert!(clean.totals.closed_deals >= 2, "{name}: the scenario must trade: {:?}", clean.totals);
    assert!(clean.placed.values().all(|n| *n == 1));
    for p in 0..points {
        let kill_at = 1 + (p as i64 * clean.calls) / points as i64;
        let after = p % 2 == 1;
        let run = scenario(make(p + 1).await, &closes, kill_at, after).await;
        let twice: Vec<_> = run.placed.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{name}: kill at {kill_at} (after: {after}): placed twice: {twice:?}");
        assert_eq!((run.orders, run.fills), (clean.orders, clean.fills), "{name}: kill at {kill_at} (after: {after})");
        assert_eq!(run.totals, clean.totals, "{name}: kill at {kill_at} (after: {after}): P&L differs");
        assert_eq!(run.open, clean.open, "{name}: kill at {kill_at} (after: {after}): open position differs");
    }
    println!(
        "{name} crash test: {points} kill points over {} requests, {} deals, all recovered exactly",
        clean.calls, clean.totals.closed_deals
    );
}
