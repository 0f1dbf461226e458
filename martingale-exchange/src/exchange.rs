//! The one trait every venue adapter implements.

use async_trait::async_trait;
use martingale_core::engine::{Candle, ClientOrderId, OrderRequest, TimeMs};
use martingale_core::MarketRules;
use rust_decimal::Decimal;

use crate::error::ExchangeError;
use crate::types::{Balance, Fill, OrderInfo};

/// A venue: market data, account state and orders for one account.
///
/// Adapters must never place an order without its client order id, and must
/// report an order whose outcome they cannot know (timeout, 5xx after
/// sending) as [`ExchangeError::OutcomeUnknown`], never retry it blindly.
///
/// Any venue is used the same way; here the in-process paper exchange:
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use martingale_core::config::BotFile;
/// use martingale_core::dec;
/// use martingale_core::engine::{Candle, ClientOrderId, OrderKind, OrderRequest, OrderRole};
/// use martingale_core::OrderSide;
/// use martingale_exchange::{Exchange, ExchangeError, OrderStatus, PaperExchange};
///
/// async fn buy_the_dip(venue: &dyn Exchange, symbol: &str) -> Result<OrderStatus, ExchangeError> {
///     let rules = venue.market_rules(symbol).await?;
///     let last = venue.last_price(symbol).await?;
///     let price = rules.round_limit_price(last * dec!(0.98), OrderSide::Buy);
///     let order = OrderRequest { client_order_id: ClientOrderId::from_raw("dip-1"), role: OrderRole::Safety(1),
///         side: OrderSide::Buy, kind: OrderKind::Limit { price }, quantity: dec!(0.01) };
///     venue.place_order(symbol, &order).await?;
///     Ok(venue.query_order(symbol, &order.client_order_id).await?.status)
/// }
///
/// let paper = PaperExchange::for_bot(&BotFile::example().unwrap(), dec!(1000));
/// paper.feed(Candle { time: 0, open: dec!(30000), high: dec!(30000), low: dec!(30000), close: dec!(30000) });
/// assert_eq!(buy_the_dip(&paper, "BTCUSDT").await.unwrap(), OrderStatus::New);
/// // Unknown markets are typed errors, not panics.
/// assert!(matches!(buy_the_dip(&paper, "ETHUSDT").await, Err(ExchangeError::UnknownMarket(_))));
/// # });
/// ```
#[async_trait]
pub trait Exchange: Send + Sync {
    /// The venue's name (`paper`, `binance`, ...).
    fn name(&self) -> &str;

    /// Tick, step and minimums of a market.
    async fn market_rules(&self, symbol: &str) -> Result<MarketRules, ExchangeError>;

    /// Candles of `interval_ms` whose open time is in `[start, end)`, oldest
    /// first, across as many pages as the venue needs.
    async fn candles(
        &self,
        symbol: &str,
        interval_ms: i64,
        start: TimeMs,
        end: TimeMs,
    ) -> Result<Vec<Candle>, ExchangeError>;

    /// Last traded price.
    async fn last_price(&self, symbol: &str) -> Result<Decimal, ExchangeError>;

    /// Balances of the account.
    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError>;

    /// Places an order (market or limit) with its client order id.
    async fn place_order(&self, symbol: &str, order: &OrderRequest) -> Result<OrderInfo, ExchangeError>;

    /// Cancels an order by client order id.
    async fn cancel_order(&self, symbol: &str, id: &ClientOrderId) -> Result<OrderInfo, ExchangeError>;

    /// An order by client order id.
    async fn query_order(&self, symbol: &str, id: &ClientOrderId) -> Result<OrderInfo, ExchangeError>;

    /// Orders still working.
    async fn open_orders(&self, symbol: &str) -> Result<Vec<OrderInfo>, ExchangeError>;

    /// Our trades at or after `since`, all of them, oldest first, each
    /// under the client order id of its order.
    ///
    /// The adapters read every page the venue's list endpoint has for the
    /// range, under its documented limits, and map a row that names only
    /// the venue's order id back to our client order id. How far back each
    /// venue answers: Binance and CoinDCX, the whole history (Binance pages
    /// a day at a time, or by trade id for ranges over 30 days); Bybit, 2
    /// years; OKX, 3 months (`trade/fills` for the last 3 days,
    /// `trade/fills-history` before). A `since` older than the venue keeps
    /// is [`ExchangeError::OutOfReach`]: nothing is returned rather than a
    /// part of the range.
    async fn fills_since(&self, symbol: &str, since: TimeMs) -> Result<Vec<Fill>, ExchangeError>;
}
