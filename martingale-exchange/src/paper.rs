//! The paper exchange: an in-process venue that fills orders from a price
//! feed by the backtester's rules, and keeps balances and fees.
//!
//! Rules (the same as `martingale_core::backtest::SimExchange` and SPEC
//! section 6): candles are walked along their path (`adaptive`, `ohlc` or
//! `olhc`, starting at the previous close); a resting limit order fills at
//! its own price when the path crosses it (or touches it, with
//! `limit_fill = touch`); a market order fills at once at the last price,
//! exits (stop, trailing, close-now, residual) moved by `slippage_bps`
//! against the trader. Fees follow the fee schedule (maker for limits,
//! taker for market orders; base-asset fees are withheld from bought
//! quantities). Orders must pass the market rules and be covered by the
//! free balance; client order ids are unique for the life of the exchange.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use martingale_core::backtest::SimExchange;
use martingale_core::config::{FillModel, LimitFill};
use martingale_core::engine::{candle_path, Candle, ClientOrderId, OrderKind, OrderRequest, TimeMs};
use martingale_core::fees::{FeeCharge, FeeSchedule, Liquidity};
use martingale_core::{MarketRules, OrderSide};
use rust_decimal::Decimal;

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
    /// Resting limit orders, in placement order.
    resting: Vec<ClientOrderId>,
    fills: Vec<Fill>,
    candles: Vec<Candle>,
    trade_seq: u64,
}

/// An in-process exchange for one market (see the module docs).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use martingale_exchange::{Exchange, PaperExchange, OrderStatus};
/// use martingale_core::engine::{Candle, ClientOrderId, OrderKind, OrderRequest, OrderRole};
/// use martingale_core::{config::FillModel, fees::FeeSchedule, MarketRules, OrderSide};
/// use rust_decimal_macros::dec;
///
/// let rules = MarketRules::new(dec!(0.01), dec!(0.001), dec!(0.001), dec!(5));
/// let paper = PaperExchange::new("BTCUSDT", "BTC", "USDT", rules, FeeSchedule::ZERO, FillModel::default(), dec!(1000), dec!(0));
/// paper.feed(Candle { time: 0, open: dec!(100), high: dec!(100), low: dec!(100), close: dec!(100) });
/// let buy = OrderRequest { client_order_id: ClientOrderId::from_raw("b-1-s1-1"), role: OrderRole::Safety(1),
///     side: OrderSide::Buy, kind: OrderKind::Limit { price: dec!(98) }, quantity: dec!(1) };
/// assert_eq!(paper.place_order("BTCUSDT", &buy).await.unwrap().status, OrderStatus::New);
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
    fees: FeeSchedule,
    fill: FillModel,
    sim: SimExchange,
    state: Mutex<State>,
}

impl PaperExchange {
    /// A paper account on `symbol` (`base_asset`/`quote_asset`) with initial
    /// free balances.
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
        PaperExchange {
            symbol: symbol.to_string(),
            base_asset: base_asset.to_string(),
            quote_asset: quote_asset.to_string(),
            sim: SimExchange::new(rules.clone(), fees, fill),
            rules,
            fees,
            fill,
            state: Mutex::new(State {
                time: 0,
                price: None,
                base_free: base,
                base_locked: Decimal::ZERO,
                quote_free: quote,
                quote_locked: Decimal::ZERO,
                orders: HashMap::new(),
                resting: Vec::new(),
                fills: Vec::new(),
                candles: Vec::new(),
                trade_seq: 0,
            }),
        }
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
    /// close and fills every resting order the path reaches, in the order
    /// the price reaches them.
    pub fn feed(&self, candle: Candle) {
        let Ok(mut st) = self.state.lock() else { return };
        let path = candle_path(&candle, self.fill.path);
        let mut from = st.price.unwrap_or(candle.open);
        st.time = candle.time;
        for to in path {
            self.walk(&mut st, from, to);
            from = to;
        }
        st.price = Some(candle.close);
        st.candles.push(candle);
    }

    fn walk(&self, st: &mut State, a: Decimal, b: Decimal) {
        let down = b < a;
        let touch = self.fill.limit_fill == LimitFill::Touch;
        loop {
            // The nearest resting order the segment reaches.
            let mut best: Option<(usize, Decimal)> = None;
            for (i, id) in st.resting.iter().enumerate() {
                let Some((req, _)) = st.orders.get(id) else { continue };
                let OrderKind::Limit { price } = req.kind else { continue };
                let reached = match (req.side, down, touch) {
                    (OrderSide::Buy, true, true) => b <= price,
                    (OrderSide::Buy, true, false) => b < price,
                    (OrderSide::Sell, false, true) => b >= price,
                    (OrderSide::Sell, false, false) => b > price,
                    _ => false,
                };
                let nearer = best.is_none_or(|(_, p)| if down { price > p } else { price < p });
                if reached && nearer {
                    best = Some((i, price));
                }
            }
            let Some((i, price)) = best else { return };
            let id = st.resting.remove(i);
            self.execute(st, &id, price, Liquidity::Maker);
        }
    }

    /// Fills order `id` completely at `price`, moving balances and fees.
    fn execute(&self, st: &mut State, id: &ClientOrderId, price: Decimal, liquidity: Liquidity) {
        let Some((req, info)) = st.orders.get(id).cloned() else { return };
        let qty = req.quantity - info.filled;
        let value = price * qty;
        let fee = self.fees.charge(req.side, liquidity, price, qty);
        let limit = matches!(req.kind, OrderKind::Limit { .. });
        match req.side {
            OrderSide::Buy => {
                // A limit buy locked quantity * its limit price.
                let locked = if limit { value } else { Decimal::ZERO };
                st.quote_locked -= locked;
                st.quote_free -= value - locked;
                st.base_free += qty;
            }
            OrderSide::Sell => {
                if limit {
                    st.base_locked -= qty;
                } else {
                    st.base_free -= qty;
                }
                st.quote_free += value;
            }
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
            side: req.side,
            price,
            quantity: qty,
            fee: fee_amount,
            fee_asset,
        };
        st.fills.push(fill);
        if let Some((_, info)) = st.orders.get_mut(id) {
            info.filled += qty;
            info.filled_quote += value;
            info.status = OrderStatus::Filled;
            info.updated_at = st.time;
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
        let mut st = self.lock()?;
        let id = order.client_order_id.clone();
        if st.orders.contains_key(&id) {
            return Err(ExchangeError::DuplicateOrder(id));
        }
        let last = st.price.ok_or_else(|| ExchangeError::Malformed("no price fed yet".into()))?;
        let (price, market_price) = match order.kind {
            OrderKind::Limit { price } => (price, None),
            OrderKind::Market { .. } => {
                let p = self.sim.market_price(order.role, order.side, last);
                (p, Some(p))
            }
        };
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
        let info = OrderInfo {
            client_order_id: id.clone(),
            status: OrderStatus::New,
            side: order.side,
            price: market_price.is_none().then_some(price),
            quantity: order.quantity,
            filled: Decimal::ZERO,
            filled_quote: Decimal::ZERO,
            updated_at: st.time,
        };
        st.orders.insert(id.clone(), (order.clone(), info));
        match (market_price, order.side) {
            (Some(p), _) => self.execute(&mut st, &id, p, Liquidity::Taker),
            (None, side) => {
                // A limit at or through the market fills at once, at its price.
                let marketable = match side {
                    OrderSide::Buy => price > last,
                    OrderSide::Sell => price < last,
                };
                match side {
                    OrderSide::Buy => {
                        st.quote_free -= cost;
                        st.quote_locked += cost;
                    }
                    OrderSide::Sell => {
                        st.base_free -= order.quantity;
                        st.base_locked += order.quantity;
                    }
                }
                if marketable {
                    self.execute(&mut st, &id, price, Liquidity::Maker);
                } else {
                    st.resting.push(id.clone());
                }
            }
        }
        st.orders.get(&id).map(|(_, i)| i.clone()).ok_or(ExchangeError::UnknownOrder(id))
    }

    async fn cancel_order(&self, symbol: &str, id: &ClientOrderId) -> Result<OrderInfo, ExchangeError> {
        self.check_symbol(symbol)?;
        let mut st = self.lock()?;
        let Some(pos) = st.resting.iter().position(|r| r == id) else {
            return Err(ExchangeError::UnknownOrder(id.clone()));
        };
        st.resting.remove(pos);
        let (req, info) = st.orders.get(id).cloned().ok_or_else(|| ExchangeError::UnknownOrder(id.clone()))?;
        let open = req.quantity - info.filled;
        if let OrderKind::Limit { price } = req.kind {
            match req.side {
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
        let time = st.time;
        let entry = st.orders.get_mut(id).ok_or_else(|| ExchangeError::UnknownOrder(id.clone()))?;
        entry.1.status = OrderStatus::Canceled;
        entry.1.updated_at = time;
        Ok(entry.1.clone())
    }

    async fn query_order(&self, symbol: &str, id: &ClientOrderId) -> Result<OrderInfo, ExchangeError> {
        self.check_symbol(symbol)?;
        self.lock()?.orders.get(id).map(|(_, i)| i.clone()).ok_or_else(|| ExchangeError::UnknownOrder(id.clone()))
    }

    async fn open_orders(&self, symbol: &str) -> Result<Vec<OrderInfo>, ExchangeError> {
        self.check_symbol(symbol)?;
        let st = self.lock()?;
        Ok(st.resting.iter().filter_map(|id| st.orders.get(id).map(|(_, i)| i.clone())).collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use martingale_core::engine::OrderRole;
    use martingale_core::fees::FeeAsset;
    use rust_decimal_macros::dec;

    fn paper(fees: FeeSchedule) -> PaperExchange {
        let rules = MarketRules::new(dec!(0.01), dec!(0.001), dec!(0.001), dec!(5));
        let p = PaperExchange::new("BTCUSDT", "BTC", "USDT", rules, fees, FillModel::default(), dec!(1000), dec!(0));
        p.feed(Candle { time: 0, open: dec!(100), high: dec!(100), low: dec!(100), close: dec!(100) });
        p
    }

    fn order(id: &str, side: OrderSide, kind: OrderKind, qty: Decimal) -> OrderRequest {
        OrderRequest {
            client_order_id: ClientOrderId::from_raw(id),
            role: OrderRole::Safety(1),
            side,
            kind,
            quantity: qty,
        }
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn market_buy_charges_taker_fee_in_base_and_moves_balances() {
        run(async {
            let p = paper(FeeSchedule { maker: dec!(0.001), taker: dec!(0.002), asset: FeeAsset::Base });
            let o = order("m1", OrderSide::Buy, OrderKind::Market { reference_price: dec!(100) }, dec!(2));
            let info = p.place_order("BTCUSDT", &o).await.unwrap();
            assert_eq!((info.status, info.filled, info.filled_quote), (OrderStatus::Filled, dec!(2), dec!(200)));
            let b = p.balances().await.unwrap();
            assert_eq!((b[0].free, b[1].free), (dec!(1.996), dec!(800)));
            let fills = p.fills_since("BTCUSDT", 0).await.unwrap();
            assert_eq!((fills[0].fee, fills[0].fee_asset.as_str()), (dec!(0.004), "BTC"));
        })
    }

    #[test]
    fn limits_fill_in_path_order_and_locks_are_released() {
        run(async {
            let p = paper(FeeSchedule::ZERO);
            for (id, price) in [("a", dec!(99)), ("b", dec!(97))] {
                p.place_order("BTCUSDT", &order(id, OrderSide::Buy, OrderKind::Limit { price }, dec!(1)))
                    .await
                    .unwrap();
            }
            assert_eq!(p.balances().await.unwrap()[1].locked, dec!(196));
            assert_eq!(p.open_orders("BTCUSDT").await.unwrap().len(), 2);
            // Touching 99 is not crossing it; 98 crosses 99 only.
            p.feed(Candle { time: 1, open: dec!(100), high: dec!(100), low: dec!(98), close: dec!(99) });
            let a = p.query_order("BTCUSDT", &ClientOrderId::from_raw("a")).await.unwrap();
            assert_eq!(a.status, OrderStatus::Filled);
            let c = p.cancel_order("BTCUSDT", &ClientOrderId::from_raw("b")).await.unwrap();
            assert_eq!(c.status, OrderStatus::Canceled);
            let b = p.balances().await.unwrap();
            assert_eq!((b[0].free, b[1].free, b[1].locked), (dec!(1), dec!(901), dec!(0)));
        })
    }

    #[test]
    fn typed_refusals() {
        run(async {
            let p = paper(FeeSchedule::ZERO);
            let big = order("x", OrderSide::Buy, OrderKind::Limit { price: dec!(99) }, dec!(20));
            assert!(matches!(p.place_order("BTCUSDT", &big).await, Err(ExchangeError::InsufficientBalance(_))));
            let tiny = order("y", OrderSide::Buy, OrderKind::Limit { price: dec!(99) }, dec!(0.01));
            assert!(
                matches!(p.place_order("BTCUSDT", &tiny).await, Err(ExchangeError::RuleViolation { ref rule, .. }) if rule == "MIN_NOTIONAL")
            );
            let ok = order("z", OrderSide::Buy, OrderKind::Limit { price: dec!(99) }, dec!(1));
            p.place_order("BTCUSDT", &ok).await.unwrap();
            assert_eq!(
                p.place_order("BTCUSDT", &ok).await,
                Err(ExchangeError::DuplicateOrder(ClientOrderId::from_raw("z")))
            );
            let sell = order("s", OrderSide::Sell, OrderKind::Market { reference_price: dec!(100) }, dec!(1));
            assert!(matches!(p.place_order("BTCUSDT", &sell).await, Err(ExchangeError::InsufficientBalance(_))));
            assert!(matches!(
                p.cancel_order("BTCUSDT", &ClientOrderId::from_raw("nope")).await,
                Err(ExchangeError::UnknownOrder(_))
            ));
            assert!(matches!(p.last_price("ETHUSDT").await, Err(ExchangeError::UnknownMarket(_))));
        })
    }
}
