//! The CoinDCX adapter against a fake CoinDCX server on 127.0.0.1 that
//! checks key, body signature and timestamp, keeps orders, trades and
//! balances, fills on a scripted price path (partial fills first), sends
//! numbers as JSON numbers and as strings, returns candles newest first,
//! and injects faults (5xx and timeouts after accepting an order, 429 with
//! Retry-After, a stale clock).

mod common;

use std::time::{Duration, Instant};

use common::fake_coindcx::{client, funded, move_price, serve, Fault, SECRET};
use martingale_core::engine::{ClientOrderId, OrderKind, OrderRequest, OrderRole};
use martingale_core::OrderSide;
use martingale_exchange::{Exchange, ExchangeError, OrderStatus};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn limit(id: &str, side: OrderSide, price: Decimal, qty: Decimal) -> OrderRequest {
    OrderRequest {
        client_order_id: ClientOrderId::from_raw(id),
        role: OrderRole::Safety(1),
        side,
        kind: OrderKind::Limit { price },
        quantity: qty,
    }
}

#[tokio::test]
async fn rules_prices_orders_partial_fills_and_balances() {
    let (fake, url) = serve(funded()).await;
    let b = client(&url, SECRET);
    let rules = b.market_rules("BTCUSDT").await.unwrap();
    assert_eq!(
        (rules.tick_size, rules.step_size, rules.min_qty, rules.min_notional, rules.max_qty),
        (dec!(0.01), dec!(0.00001), dec!(0.00001), dec!(5), Some(dec!(9000)))
    );
    assert!(matches!(b.market_rules("NOPE").await, Err(ExchangeError::UnknownMarket(_))));
    assert_eq!(b.last_price("BTCUSDT").await.unwrap(), dec!(43250.17));

    let o = limit("bot-1-s1-1", OrderSide::Buy, dec!(42601.41), dec!(0.00469));
    let info = b.place_order("BTCUSDT", &o).await.unwrap();
    assert_eq!((info.status, info.filled, info.price), (OrderStatus::New, dec!(0), Some(dec!(42601.41))));
    assert_eq!(b.open_orders("BTCUSDT").await.unwrap().len(), 1);
    move_price(&mut fake.lock().unwrap(), dec!(42600));
    let info = b.query_order("BTCUSDT", &o.client_order_id).await.unwrap();
    assert_eq!((info.status, info.filled), (OrderStatus::PartiallyFilled, dec!(0.00234)));
    move_price(&mut fake.lock().unwrap(), dec!(42590));
    let info = b.query_order("BTCUSDT", &o.client_order_id).await.unwrap();
    assert_eq!(
        (info.status, info.filled, info.filled_quote),
        (OrderStatus::Filled, dec!(0.00469), dec!(42601.41) * dec!(0.00469))
    );
    let fills = b.fills_since("BTCUSDT", 0).await.unwrap();
    assert_eq!((fills.len(), fills[0].price, fills[0].quantity), (2, dec!(42601.41), dec!(0.00234)));
    let bal = b.balances().await.unwrap();
    assert_eq!(bal.iter().find(|x| x.asset == "BTC").unwrap().free, dec!(0.00469));
}

#[tokio::test]
async fn venue_errors_are_typed() {
    let (_fake, url) = serve(funded()).await;
    let b = client(&url, SECRET);
    let o = limit("bot-1-s1-2", OrderSide::Buy, dec!(40000), dec!(0.001));
    b.place_order("BTCUSDT", &o).await.unwrap();
    assert_eq!(b.place_order("BTCUSDT", &o).await, Err(ExchangeError::DuplicateOrder(o.client_order_id.clone())));
    let big = limit("bot-1-s2-3", OrderSide::Buy, dec!(40000), dec!(1));
    assert!(matches!(b.place_order("BTCUSDT", &big).await, Err(ExchangeError::InsufficientBalance(_))));
    let tiny = limit("bot-1-s3-4", OrderSide::Buy, dec!(40000), dec!(0.00001));
    assert!(matches!(b.place_order("BTCUSDT", &tiny).await, Err(ExchangeError::RuleViolation { .. })));
    let unknown = ClientOrderId::from_raw("nope");
    assert_eq!(b.query_order("BTCUSDT", &unknown).await, Err(ExchangeError::UnknownOrder(unknown.clone())));
    assert_eq!(b.cancel_order("BTCUSDT", &unknown).await, Err(ExchangeError::UnknownOrder(unknown.clone())));
    assert_eq!(b.cancel_order("BTCUSDT", &o.client_order_id).await.unwrap().status, OrderStatus::Canceled);
    let wrong = client(&url, "wrong-secret");
    assert!(matches!(wrong.balances().await, Err(ExchangeError::Authentication(_))));
}

#[tokio::test]
async fn faults_5xx_timeout_rate_limit_and_stale_clock() {
    let mut f = funded();
    f.faults = vec![Fault::ServerErrorAfterAccept, Fault::TimeoutAfterAccept, Fault::TooManyRequests];
    let (fake, url) = serve(f).await;
    let b = client(&url, SECRET);
    let o = limit("bot-1-s1-5", OrderSide::Buy, dec!(40000), dec!(0.001));
    assert_eq!(b.place_order("BTCUSDT", &o).await, Err(ExchangeError::OutcomeUnknown(o.client_order_id.clone())));
    assert_eq!(b.query_order("BTCUSDT", &o.client_order_id).await.unwrap().status, OrderStatus::New);
    let o2 = limit("bot-1-s2-6", OrderSide::Buy, dec!(39000), dec!(0.001));
    assert_eq!(b.place_order("BTCUSDT", &o2).await, Err(ExchangeError::OutcomeUnknown(o2.client_order_id.clone())));
    let t = Instant::now();
    assert_eq!(b.last_price("BTCUSDT").await.unwrap(), dec!(43250.17));
    assert!(t.elapsed() >= Duration::from_millis(900));
    // A server clock 20 s away: the timestamp is refused, typed, after one fresh try.
    fake.lock().unwrap().skew_ms = 20_000;
    assert_eq!(b.open_orders("BTCUSDT").await, Err(ExchangeError::TimestampOutOfWindow));
}

#[tokio::test]
async fn candles_arrive_newest_first_and_are_paged_oldest_first() {
    let mut f = funded();
    f.candles = (0..2_500).map(|i| (i * 60_000, Decimal::from(30_000 + i))).collect();
    let (_fake, url) = serve(f).await;
    let b = client(&url, SECRET);
    let c = b.candles("BTCUSDT", 60_000, 60_000 * 100, 60_000 * 2_300).await.unwrap();
    assert_eq!(c.len(), 2_200);
    assert!(c.windows(2).all(|w| w[1].time == w[0].time + 60_000));
    assert_eq!((c[0].time, c[0].open, c[0].high), (60_000 * 100, dec!(30100), dec!(30101)));
}
