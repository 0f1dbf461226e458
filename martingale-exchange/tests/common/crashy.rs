//! Crash injection for the runner tests: an exchange wrapper that kills the
//! process at its n-th call, and an in-memory state store.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use martingale_core::engine::{BotId, Candle, ClientOrderId, OrderRequest, TimeMs};
use martingale_core::MarketRules;
use martingale_exchange::{Balance, Exchange, ExchangeError, Fill, OrderInfo, StateStore};
use rust_decimal::Decimal;

/// The error that stands for "the process died here".
pub fn killed() -> ExchangeError {
    ExchangeError::Authentication("process killed (test)".into())
}

/// Kills the runner at call `kill_at` (0: never). With `after`, the call
/// reaches the venue first and only its answer is lost.
pub struct Crashy<E: Exchange> {
    pub inner: Arc<E>,
    countdown: AtomicI64,
    after: bool,
    pub placed: Mutex<HashMap<ClientOrderId, usize>>,
    pub calls: AtomicI64,
}

impl<E: Exchange> Crashy<E> {
    pub fn new(inner: Arc<E>, kill_at: i64, after: bool) -> Crashy<E> {
        Crashy { inner, countdown: AtomicI64::new(kill_at), after, placed: Mutex::default(), calls: AtomicI64::new(0) }
    }

    fn dies(&self) -> bool {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.countdown.fetch_sub(1, Ordering::SeqCst) == 1
    }

    async fn guard<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, ExchangeError>>,
    ) -> Result<T, ExchangeError> {
        if self.dies() {
            if self.after {
                let _ = f.await;
            }
            return Err(killed());
        }
        f.await
    }
}

#[async_trait]
impl<E: Exchange> Exchange for Crashy<E> {
    fn name(&self) -> &str {
        "crashy"
    }
    async fn market_rules(&self, s: &str) -> Result<MarketRules, ExchangeError> {
        self.guard(self.inner.market_rules(s)).await
    }
    async fn candles(&self, s: &str, i: i64, a: TimeMs, b: TimeMs) -> Result<Vec<Candle>, ExchangeError> {
        self.guard(self.inner.candles(s, i, a, b)).await
    }
    async fn last_price(&self, s: &str) -> Result<Decimal, ExchangeError> {
        self.guard(self.inner.last_price(s)).await
    }
    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        self.guard(self.inner.balances()).await
    }
    async fn place_order(&self, s: &str, o: &OrderRequest) -> Result<OrderInfo, ExchangeError> {
        self.guard(async {
            let r = self.inner.place_order(s, o).await;
            if r.is_ok() || matches!(r, Err(ExchangeError::OutcomeUnknown(_))) {
                *self.placed.lock().unwrap().entry(o.client_order_id.clone()).or_default() += 1;
            }
            r
        })
        .await
    }
    async fn cancel_order(&self, s: &str, id: &ClientOrderId) -> Result<OrderInfo, ExchangeError> {
        self.guard(self.inner.cancel_order(s, id)).await
    }
    async fn query_order(&self, s: &str, id: &ClientOrderId) -> Result<OrderInfo, ExchangeError> {
        self.guard(self.inner.query_order(s, id)).await
    }
    async fn open_orders(&self, s: &str) -> Result<Vec<OrderInfo>, ExchangeError> {
        self.guard(self.inner.open_orders(s)).await
    }
    async fn fills_since(&self, s: &str, t: TimeMs) -> Result<Vec<Fill>, ExchangeError> {
        self.guard(self.inner.fills_since(s, t)).await
    }
}

/// A state store in memory (the file store has its own tests).
#[derive(Default)]
pub struct MemStore(Mutex<HashMap<String, String>>);

#[async_trait::async_trait]
impl StateStore for MemStore {
    async fn load(&self, bot: &BotId) -> std::io::Result<Option<String>> {
        Ok(self.0.lock().unwrap().get(bot.as_str()).cloned())
    }
    async fn save(&self, bot: &BotId, state: &str) -> std::io::Result<()> {
        self.0.lock().unwrap().insert(bot.as_str().to_string(), state.to_string());
        Ok(())
    }
}

/// A BTCUSDT paper account for bot file `b` holding 1,000,000 USDT.
pub fn funded_paper(b: &martingale_core::config::BotFile) -> Arc<martingale_exchange::PaperExchange> {
    Arc::new(
        martingale_exchange::PaperExchange::builder("BTCUSDT", b.market.clone())
            .assets("BTC", "USDT")
            .fees(b.fees)
            .fill(b.fill)
            .quote_balance(Decimal::from(1_000_000))
            .build(),
    )
}
