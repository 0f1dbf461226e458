//! Issue 14 item 16: a venue that asks for a pause longer than any adapter
//! sleeps (here an hour) does not block the runner, and the stop loss is
//! watched while the runner waits. The venue refuses order calls (place,
//! cancel, query) with `RateLimited { retry_after: 1 h }` but still quotes
//! prices; the price falls through the stop loss during the pause. The
//! runner must (1) make no order call during the pause after the refusal,
//! (2) still decide the stop-loss exit on the falling price, with no step
//! slower than a moment, and (3) once the pause ends, cancel, sell and
//! close the deal as a stop loss (the safety order that filled during the
//! pause included), every order placed once.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::crashy::MemStore;
use martingale_core::config::{BotFile, PriceBase, StopLoss};
use martingale_core::engine::{BotId, Candle, ClientOrderId, Command, ExitKind, OrderRequest, Phase, TimeMs};
use martingale_core::MarketRules;
use martingale_exchange::{
    Balance, Exchange, ExchangeError, Fill, OrderInfo, PaperExchange, Runner, RunnerConfig, StateStore,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const HOUR: Duration = Duration::from_secs(3600);

/// Paper trading whose order calls are refused while `limited` is set.
struct Limited {
    inner: Arc<PaperExchange>,
    limited: AtomicBool,
    /// Order calls that reached this venue while limited.
    refused: AtomicUsize,
    placed: Mutex<HashMap<ClientOrderId, usize>>,
}

impl Limited {
    fn gate(&self) -> Result<(), ExchangeError> {
        if self.limited.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(ExchangeError::RateLimited { retry_after: HOUR });
        }
        Ok(())
    }
}

#[async_trait]
impl Exchange for Limited {
    fn name(&self) -> &str {
        "limited"
    }
    async fn market_rules(&self, s: &str) -> Result<MarketRules, ExchangeError> {
        self.inner.market_rules(s).await
    }
    async fn candles(&self, s: &str, i: i64, a: TimeMs, b: TimeMs) -> Result<Vec<Candle>, ExchangeError> {
        self.inner.candles(s, i, a, b).await
    }
    async fn last_price(&self, s: &str) -> Result<Decimal, ExchangeError> {
        self.inner.last_price(s).await
    }
    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        self.inner.balances().await
    }
    async fn place_order(&self, s: &str, o: &OrderRequest) -> Result<OrderInfo, ExchangeError> {
        self.gate()?;
        *self.placed.lock().unwrap().entry(o.client_order_id.clone()).or_default() += 1;
        self.inner.place_order(s, o).await
    }
    async fn cancel_order(&self, s: &str, id: &ClientOrderId) -> Result<OrderInfo, ExchangeError> {
        self.gate()?;
        self.inner.cancel_order(s, id).await
    }
    async fn query_order(&self, s: &str, id: &ClientOrderId) -> Result<OrderInfo, ExchangeError> {
        self.gate()?;
        self.inner.query_order(s, id).await
    }
    async fn open_orders(&self, s: &str) -> Result<Vec<OrderInfo>, ExchangeError> {
        self.gate()?;
        self.inner.open_orders(s).await
    }
    async fn fills_since(&self, s: &str, t: TimeMs) -> Result<Vec<Fill>, ExchangeError> {
        self.gate()?;
        self.inner.fills_since(s, t).await
    }
}

fn candle(time: TimeMs, price: Decimal) -> Candle {
    Candle { time, open: price, high: price, low: price, close: price }
}

#[tokio::test]
async fn the_stop_loss_is_watched_while_the_venue_asks_for_an_hour_of_quiet() {
    // One safety order 1.5 % down, a stop 4 % below the base price.
    let mut bot = BotFile::example().unwrap();
    bot.strategy.max_safety_orders = Some(1);
    bot.strategy.stop_loss = Some(StopLoss::new(dec!(4), PriceBase::default()));
    bot.validate().unwrap();
    let paper = Arc::new(PaperExchange::for_bot(&bot, dec!(10000)));
    let venue = Arc::new(Limited {
        inner: paper.clone(),
        limited: AtomicBool::new(false),
        refused: AtomicUsize::new(0),
        placed: Mutex::default(),
    });
    let store: Arc<dyn StateStore> = Arc::new(MemStore::default());
    let cfg = RunnerConfig { account: "bob".into(), symbol: "BTCUSDT".into(), cancel_on_shutdown: false };
    let id = BotId::new("pause").unwrap();
    paper.feed(candle(0, dec!(40000)));
    let mut runner = Runner::builder(id, &bot, venue.clone(), store).config(cfg).time(0).start().await.unwrap();
    runner.command(0, Command::Start).await.unwrap();
    runner.step(60_000).await.unwrap();
    let deal = runner.engine().deal().expect("a deal is open");
    assert!(deal.position.open_qty() > Decimal::ZERO, "the base order filled");

    // The venue asks for an hour of quiet at the first order call.
    venue.limited.store(true, Ordering::SeqCst);
    let t0 = 120_000;
    paper.feed(candle(t0, dec!(40000)));
    runner.step(t0).await.unwrap();
    assert_eq!(venue.refused.load(Ordering::SeqCst), 1, "one refused call, then the runner holds its calls");
    assert_eq!(runner.paused_until(), Some(t0 + 3_600_000));

    // The price falls through the stop (and the safety order) during the pause.
    for (k, price) in [dec!(39500), dec!(38800), dec!(38000), dec!(37900)].into_iter().enumerate() {
        let t = t0 + 60_000 * (k as i64 + 1);
        paper.feed(candle(t, price));
        let started = Instant::now();
        runner.step(t).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5), "a step waited {:?}", started.elapsed());
    }
    assert_eq!(venue.refused.load(Ordering::SeqCst), 1, "no order call during the pause");
    let Phase::Closing { exit, .. } = runner.engine().phase() else {
        panic!("the stop loss was decided during the pause");
    };
    assert_eq!(exit.kind, ExitKind::StopLoss);
    assert!(runner.take_closed().is_empty(), "nothing could be sold yet");

    // The pause ends: the held cancels and the market exit go out.
    venue.limited.store(false, Ordering::SeqCst);
    let mut closed = Vec::new();
    for k in 0..5 {
        let t = t0 + 3_600_000 + 60_000 * k;
        paper.feed(candle(t, dec!(37900)));
        runner.step(t).await.unwrap();
        closed.extend(runner.take_closed());
    }
    assert_eq!(runner.paused_until(), None);
    assert_eq!(closed.len(), 1, "the deal closed: {closed:?}");
    assert_eq!(closed[0].exit, ExitKind::StopLoss);
    let twice: Vec<_> = venue.placed.lock().unwrap().iter().filter(|(_, n)| **n > 1).map(|(k, _)| k.clone()).collect();
    assert!(twice.is_empty(), "placed twice: {twice:?}");
    let btc = paper
        .balances()
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.asset == "BTC")
        .map_or(Decimal::ZERO, |b| b.free + b.locked);
    // The safety order that filled during the pause was sold with the rest;
    // what the venue holds now is the next deal's base order, no more.
    assert_eq!(closed[0].safety_orders_filled, 1);
    assert_eq!(closed[0].quantity, dec!(0.00757));
    let next = runner.engine().deal().map_or(Decimal::ZERO, |d| d.position.open_qty());
    assert_eq!(btc, next, "the stopped deal's position was sold");
}
