//! The paper exchange: an in-process venue that fills orders by the
//! backtester's rules, with the backtester's code, and keeps balances and
//! fees.
//!
//! One implementation, not two: the book is core's
//! [`SimExchange`](martingale_core::backtest::SimExchange) (market orders
//! fill at the current price, exits moved by `slippage_bps` against the
//! trader; limit orders rest and fill at their own price; fees from the fee
//! schedule), and candles are walked by core's
//! [`CandleWalk`](martingale_core::backtest::CandleWalk), the walk the
//! backtest's driver executes (SPEC section 6: the path from the previous
//! close through the candle's four points, nearest event first, limits
//! crossed or touched, a stop beating a limit at one price). On top of the
//! book the paper exchange keeps free and locked balances, base-asset fees
//! withheld from bought quantities, order states and a fill ledger; orders
//! must pass the market rules and be covered by the free balance; client
//! order ids are unique for the life of the exchange.
//!
//! Two ways to advance the market:
//! - [`PaperExchange::replay_candle`] replays a candle through a
//!   [`Runner`](crate::Runner): the walk stops at every point where the
//!   backtest would act (a resting order reached, a stop or trailing level
//!   touched, each path point) and the runner polls there, so stops fire at
//!   their price on the path and a paper replay gives the backtest's deals,
//!   deal for deal (`tests/paper_identity.rs` checks it on real data);
//! - [`PaperExchange::feed`] advances by a whole candle, filling the resting
//!   orders its path reaches; a runner that polls once per fed candle sees
//!   only the close, so its stops fire at the close (use `replay_candle`).
//!
//! A limit order placed through the market rests like any other and fills
//! at the next point of the walk, as in the backtest (never at placement).
//! Known limits: one market; orders fill completely (no partial fills); the
//! candle history it serves is the last 10,000 candles fed or replayed.

mod builder;
mod replay;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use martingale_core::backtest::{CandleWalk, SimExchange, WalkStep};
use martingale_core::config::FillModel;
use martingale_core::engine::{Action, Candle, ClientOrderId, OrderKind, OrderRequest, OrderUpdate, TimeMs};
use martingale_core::fees::{FeeCharge, FeeSchedule};
use martingale_core::{MarketRules, OrderSide};
use rust_decimal::Decimal;

pub use builder::PaperBuilder;

use crate::error::ExchangeError;
use crate::exchange::Exchange;
use crate::types::{Balance, Fill, OrderInfo, OrderStatus};

#[derive(Debug)]
struct State {
    time: TimeMs,
    price: Option<Decimal>,
    base_free: Decimal,
    base_locked: Decimal,
    quote_free: Decimal,
    quote_locked: Decimal,
    orders: HashMap<ClientOrderId, (OrderRequest, OrderInfo)>,
    /// The book: resting limit orders, in placement order (core's).
    book: SimExchange,
    fills: Vec<Fill>,
    /// The last [`KEPT_CANDLES`] candles fed or replayed (`candles`).
    candles: std::collections::VecDeque<Candle>,
    trade_seq: u64,
}

/// How many of the latest candles a paper exchange answers `candles`
/// with: a service bot on live prices is fed one per polling interval for
/// as long as it runs, so the history is bounded.
const KEPT_CANDLES: usize = 10_000;

impl State {
    /// Keeps `candle` in the bounded history.
    fn keep(&mut self, candle: Candle) {
        if self.candles.len() >= KEPT_CANDLES {
            self.candles.pop_front();
        }
        self.candles.push_back(candle);
    }
}

/// An in-process exchange for one market (see the module docs).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use martingale_exchange::{Exchange, PaperExchange, OrderStatus};
/// use martingale_core::engine::{Candle, ClientOrderId, OrderKind, OrderRequest, OrderRole};
/// use martingale_core::{fees::FeeSchedule, MarketRules, OrderSide};
/// use rust_decimal_macros::dec;
///
/// let rules = MarketRules::new(dec!(0.01), dec!(0.001), dec!(0.001), dec!(5));
/// let paper = PaperExchange::builder("BTCUSDT", rules).fees(FeeSchedule::ZERO).quote_balance(dec!(1000)).build();
/// paper.feed(Candle { time: 0, open: dec!(100), high: dec!(100), low: dec!(100), close: dec!(100) });
/// let buy = OrderRequest { client_order_id: ClientOrderId::from_raw("b-1-s1-1"), role: OrderRole::Safety(1),
///     side: OrderSide::Buy, kind: OrderKind::Limit { price: dec!(98) }, quantity: dec!(1) };
/// assert_eq!(paper.place_order("BTCUSDT", &buy).await.unwrap().status, OrderStatus::New);
/// assert_eq!(paper.balances().await.unwrap()[1].locked, dec!(98)); // USDT locked for the buy
/// paper.feed(Candle { time: 60_000, open: dec!(100), high: dec!(101), low: dec!(97), close: dec!(99) });
/// let info = paper.query_order("BTCUSDT", &buy.client_order_id).await.unwrap();
/// assert_eq!((info.status, info.filled), (OrderStatus::Filled, dec!(1)));
/// # });
/// ```
#[derive(Debug)]
pub struct PaperExchange {
    symbol: String,
    base_asset: String,
    quote_asset: String,
    rules: MarketRules,
    fill: FillModel,
    state: Mutex<State>,
}

impl PaperExchange {
    /// A paper account on `symbol` (`base_asset`/`quote_asset`) with initial
    /// free balances `quote` and `base`.
    #[deprecated(
        since = "0.1.0",
        note = "eight positional arguments, two balances easy to swap: use `PaperExchange::builder` or `PaperExchange::for_bot`"
    )]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        symbol: &str,
        base_asset: &str,
        quote_asset: &str,
        rules: MarketRules,
        fees: FeeSchedule,
        fill: FillModel,
        quote: Decimal,
        base: Decimal,
    ) -> PaperExchange {
        PaperExchange::builder(symbol, rules)
            .assets(base_asset, quote_asset)
            .fees(fees)
            .fill(fill)
            .quote_balance(quote)
            .base_balance(base)
            .build()
    }

    /// The market symbol this exchange answers to.
    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, ExchangeError> {
        self.state.lock().map_err(|_| ExchangeError::Malformed("paper exchange state poisoned".into()))
    }

    fn check_symbol(&self, symbol: &str) -> Result<(), ExchangeError> {
        if symbol == self.symbol {
            Ok(())
        } else {
            Err(ExchangeError::UnknownMarket(symbol.to_string()))
        }
    }

    /// Advances the market by one candle: walks its path from the previous
    /// close (core's [`CandleWalk`], without a bot) and fills every resting
    /// order the path reaches, in the order the price reaches them.
    pub fn feed(&self, candle: Candle) {
        let Ok(mut st) = self.state.lock() else { return };
        let mut walk = CandleWalk::new(&candle, st.price, self.fill.path, self.fill.limit_fill, 1);
        st.time = candle.time;
        loop {
            match walk.next(None, st.book.resting()) {
                WalkStep::Tick { .. } => {}
                WalkStep::Fill { index, .. } => self.fill_resting(&mut st, index),
                WalkStep::Done => break,
            }
        }
        st.price = Some(candle.close);
        st.keep(candle);
    }

    /// Fills resting order `index` of the book (core's fill: its price, the
    /// maker fee) and settles it.
    fn fill_resting(&self, st: &mut State, index: usize) {
        if let Some(OrderUpdate::Fill { client_order_id, cumulative_qty, price, fee: Some(fee) }) =
            st.book.fill_resting(index)
        {
            self.settle(st, &client_order_id, price, cumulative_qty, fee);
        }
    }

    /// Moves balances for a complete fill of order `id` (`qty` at `price`,
    /// `fee` charged) and records it.
    fn settle(&self, st: &mut State, id: &ClientOrderId, price: Decimal, qty: Decimal, fee: FeeCharge) {
        let Some((req, _)) = st.orders.get(id) else { return };
        let (side, kind) = (req.side, req.kind);
        let value = price * qty;
        match (side, kind) {
            // A limit buy locked quantity * its limit price, its fill price.
            (OrderSide::Buy, OrderKind::Limit { .. }) => st.quote_locked -= value,
            (OrderSide::Buy, OrderKind::Market { .. }) => st.quote_free -= value,
            (OrderSide::Sell, OrderKind::Limit { .. }) => st.base_locked -= qty,
            (OrderSide::Sell, OrderKind::Market { .. }) => st.base_free -= qty,
        }
        match side {
            OrderSide::Buy => st.base_free += qty,
            OrderSide::Sell => st.quote_free += value,
        }
        let (fee_amount, fee_asset) = match fee {
            FeeCharge::Quote(f) => {
                st.quote_free -= f;
                (f, self.quote_asset.clone())
            }
            FeeCharge::Base(f) => {
                st.base_free -= f;
                (f, self.base_asset.clone())
            }
        };
        st.trade_seq += 1;
        let fill = Fill {
            client_order_id: id.clone(),
            trade_id: st.trade_seq.to_string(),
            time: st.time,
            side,
            price,
            quantity: qty,
            fee: fee_amount,
            fee_asset,
        };
        st.fills.push(fill);
        let time = st.time;
        if let Some((_, info)) = st.orders.get_mut(id) {
            info.filled += qty;
            info.filled_quote += value;
            info.status = OrderStatus::Filled;
            info.updated_at = time;
        }
    }
}

#[async_trait]
impl Exchange for PaperExchange {
    fn name(&self) -> &str {
        "paper"
    }

    async fn market_rules(&self, symbol: &str) -> Result<MarketRules, ExchangeError> {
        self.check_symbol(symbol)?;
        Ok(self.rules.clone())
    }

    async fn candles(
        &self,
        symbol: &str,
        interval_ms: i64,
        start: TimeMs,
        end: TimeMs,
    ) -> Result<Vec<Candle>, ExchangeError> {
        self.check_symbol(symbol)?;
        let _ = interval_ms;
        Ok(self.lock()?.candles.iter().filter(|c| c.time >= start && c.time < end).copied().collect())
    }

    async fn last_price(&self, symbol: &str) -> Result<Decimal, ExchangeError> {
        self.check_symbol(symbol)?;
        self.lock()?.price.ok_or_else(|| ExchangeError::Malformed("no price fed yet".into()))
    }

    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        let st = self.lock()?;
        Ok(vec![
            Balance { asset: self.base_asset.clone(), free: st.base_free, locked: st.base_locked },
            Balance { asset: self.quote_asset.clone(), free: st.quote_free, locked: st.quote_locked },
        ])
    }

    async fn place_order(&self, symbol: &str, order: &OrderRequest) -> Result<OrderInfo, ExchangeError> {
        self.check_symbol(symbol)?;
        let mut guard = self.lock()?;
        let st = &mut *guard;
        let id = order.client_order_id.clone();
        if st.orders.contains_key(&id) {
            return Err(ExchangeError::DuplicateOrder(id));
        }
        let last = st.price.ok_or_else(|| ExchangeError::Malformed("no price fed yet".into()))?;
        // A market order fills at the current price (the book applies the
        // exit slippage); a limit order at its own.
        let (request, price) = match order.kind {
            OrderKind::Limit { price } => (order.clone(), price),
            OrderKind::Market { .. } => {
                let request = OrderRequest { kind: OrderKind::Market { reference_price: last }, ..order.clone() };
                (request, st.book.market_price(order.role, order.side, last))
            }
        };
        // Only placed prices must be on the grid; a market order's price is
        // the market's (SPEC section 10), checked at its grid neighbour.
        self.rules
            .validate_order(self.rules.round_limit_price(price, order.side), order.quantity)
            .map_err(|v| ExchangeError::RuleViolation { rule: rule_name(&v).into(), message: v.to_string() })?;
        let cost = price * order.quantity;
        match order.side {
            OrderSide::Buy if st.quote_free < cost => {
                return Err(ExchangeError::InsufficientBalance(format!(
                    "need {cost} {}, free {}",
                    self.quote_asset, st.quote_free
                )))
            }
            OrderSide::Sell if st.base_free < order.quantity => {
                return Err(ExchangeError::InsufficientBalance(format!(
                    "need {} {}, free {}",
                    order.quantity, self.base_asset, st.base_free
                )))
            }
            _ => {}
        }
        let limit = matches!(order.kind, OrderKind::Limit { .. });
        let info = OrderInfo {
            client_order_id: id.clone(),
            status: OrderStatus::New,
            side: order.side,
            price: limit.then_some(price),
            quantity: order.quantity,
            filled: Decimal::ZERO,
            filled_quote: Decimal::ZERO,
            updated_at: st.time,
        };
        st.orders.insert(id.clone(), (order.clone(), info));
        if limit {
            match order.side {
                OrderSide::Buy => {
                    st.quote_free -= cost;
                    st.quote_locked += cost;
                }
                OrderSide::Sell => {
                    st.base_free -= order.quantity;
                    st.base_locked += order.quantity;
                }
            }
        }
        let mut updates = Vec::new();
        st.book.execute(&[Action::Place(request)], &mut updates);
        for update in updates {
            if let OrderUpdate::Fill { client_order_id, cumulative_qty, price, fee: Some(fee) } = update {
                self.settle(st, &client_order_id, price, cumulative_qty, fee);
            }
        }
        st.orders.get(&id).map(|(_, i)| i.clone()).ok_or(ExchangeError::UnknownOrder(id))
    }

    async fn cancel_order(&self, symbol: &str, id: &ClientOrderId) -> Result<OrderInfo, ExchangeError> {
        self.check_symbol(symbol)?;
        let mut guard = self.lock()?;
        let st = &mut *guard;
        let mut updates = Vec::new();
        st.book.execute(&[Action::Cancel { client_order_id: id.clone() }], &mut updates);
        if !updates.iter().any(|u| matches!(u, OrderUpdate::Canceled { .. })) {
            return Err(ExchangeError::UnknownOrder(id.clone()));
        }
        let time = st.time;
        let entry = st.orders.get_mut(id).ok_or_else(|| ExchangeError::UnknownOrder(id.clone()))?;
        let (req, info) = entry;
        let open = req.quantity - info.filled;
        info.status = OrderStatus::Canceled;
        info.updated_at = time;
        let (side, kind, info) = (req.side, req.kind, info.clone());
        if let OrderKind::Limit { price } = kind {
            match side {
                OrderSide::Buy => {
                    st.quote_locked -= price * open;
                    st.quote_free += price * open;
                }
                OrderSide::Sell => {
                    st.base_locked -= open;
                    st.base_free += open;
                }
            }
        }
        Ok(info)
    }

    async fn query_order(&self, symbol: &str, id: &ClientOrderId) -> Result<OrderInfo, ExchangeError> {
        self.check_symbol(symbol)?;
        self.lock()?.orders.get(id).map(|(_, i)| i.clone()).ok_or_else(|| ExchangeError::UnknownOrder(id.clone()))
    }

    async fn open_orders(&self, symbol: &str) -> Result<Vec<OrderInfo>, ExchangeError> {
        self.check_symbol(symbol)?;
        let st = self.lock()?;
        Ok(st.book.resting().iter().filter_map(|r| st.orders.get(&r.id).map(|(_, i)| i.clone())).collect())
    }

    async fn fills_since(&self, symbol: &str, since: TimeMs) -> Result<Vec<Fill>, ExchangeError> {
        self.check_symbol(symbol)?;
        Ok(self.lock()?.fills.iter().filter(|f| f.time >= since).cloned().collect())
    }
}

fn rule_name(v: &martingale_core::market::RuleViolation) -> &'static str {
    use martingale_core::market::RuleViolation as R;
    match v {
        R::NonPositivePrice { .. } | R::PriceOffTick { .. } => "PRICE_FILTER",
        R::NonPositiveQuantity { .. } | R::QuantityOffStep { .. } | R::BelowMinQty { .. } | R::AboveMaxQty { .. } => {
            "LOT_SIZE"
        }
        R::BelowMinNotional { .. } => "MIN_NOTIONAL",
    }
}
