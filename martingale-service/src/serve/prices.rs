//! One price request per venue and symbol per polling interval, shared by
//! every bot on that market.
//!
//! The service reads each market's last price once per interval through a
//! keyless adapter ([`PriceBoard::refresh`]) and hands every bot an
//! exchange whose `last_price` answers from the board ([`Priced`]);
//! everything else (orders, fills, balances) goes to the bot's own adapter
//! with its owner's keys. A market whose shared read failed this interval
//! is read by each bot itself (the error then surfaces per bot).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use martingale_core::engine::{Candle, ClientOrderId, OrderRequest, TimeMs};
use martingale_core::venue::Venue;
use martingale_core::MarketRules;
use martingale_exchange::{Balance, Exchange, ExchangeError, Fill, OrderInfo};
use rust_decimal::Decimal;

/// The last price of each market read this interval.
#[derive(Debug, Default)]
pub(crate) struct PriceBoard {
    prices: Mutex<HashMap<(Venue, String), Decimal>>,
}

impl PriceBoard {
    /// Reads each market once (`public` gives the keyless adapter of a
    /// venue); returns the number of requests made.
    pub async fn refresh(
        &self,
        markets: impl IntoIterator<Item = (Venue, String)>,
        public: impl Fn(Venue) -> Option<Arc<dyn Exchange>>,
    ) -> usize {
        let mut fresh = HashMap::new();
        let mut requests = 0;
        for (venue, symbol) in markets {
            if fresh.contains_key(&(venue, symbol.clone())) {
                continue;
            }
            let Some(ex) = public(venue) else { continue };
            requests += 1;
            match ex.last_price(&symbol).await {
                Ok(p) => {
                    fresh.insert((venue, symbol), p);
                }
                Err(e) => tracing::warn!(venue = ?venue, %symbol, error = %e, "shared price read failed"),
            }
        }
        if let Ok(mut prices) = self.prices.lock() {
            *prices = fresh;
        }
        requests
    }

    /// The market's price read this interval, if it was.
    pub fn get(&self, venue: Venue, symbol: &str) -> Option<Decimal> {
        self.prices.lock().ok()?.get(&(venue, symbol.to_string())).copied()
    }

    /// Keeps a price read outside [`PriceBoard::refresh`] (a bot starting
    /// between two refreshes) for the others of this interval.
    pub fn put(&self, venue: Venue, symbol: &str, price: Decimal) {
        if let Ok(mut prices) = self.prices.lock() {
            prices.insert((venue, symbol.to_string()), price);
        }
    }
}

/// A bot's exchange whose `last_price` comes from the shared board.
pub(crate) struct Priced {
    pub inner: Arc<dyn Exchange>,
    pub venue: Venue,
    pub board: Arc<PriceBoard>,
}

#[async_trait]
impl Exchange for Priced {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn market_rules(&self, symbol: &str) -> Result<MarketRules, ExchangeError> {
        self.inner.market_rules(symbol).await
    }
    async fn candles(
        &self,
        symbol: &str,
        interval_ms: i64,
        start: TimeMs,
        end: TimeMs,
    ) -> Result<Vec<Candle>, ExchangeError> {
        self.inner.candles(symbol, interval_ms, start, end).await
    }
    async fn last_price(&self, symbol: &str) -> Result<Decimal, ExchangeError> {
        match self.board.get(self.venue, symbol) {
            Some(p) => Ok(p),
            None => self.inner.last_price(symbol).await,
        }
    }
    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        self.inner.balances().await
    }
    async fn place_order(&self, symbol: &str, order: &OrderRequest) -> Result<OrderInfo, ExchangeError> {
        self.inner.place_order(symbol, order).await
    }
    async fn cancel_order(&self, symbol: &str, id: &ClientOrderId) -> Result<OrderInfo, ExchangeError> {
        self.inner.cancel_order(symbol, id).await
    }
    async fn query_order(&self, symbol: &str, id: &ClientOrderId) -> Result<OrderInfo, ExchangeError> {
        self.inner.query_order(symbol, id).await
    }
    async fn open_orders(&self, symbol: &str) -> Result<Vec<OrderInfo>, ExchangeError> {
        self.inner.open_orders(symbol).await
    }
    async fn fills_since(&self, symbol: &str, since: TimeMs) -> Result<Vec<Fill>, ExchangeError> {
        self.inner.fills_since(symbol, since).await
    }
}
