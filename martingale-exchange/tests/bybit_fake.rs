//! The Bybit v5 spot adapter against a fake Bybit server on 127.0.0.1 that
//! checks key, signature and timestamp window, keeps orders, executions and
//! balances, fills on a scripted price path (partial fills first), returns
//! klines newest first, and injects Bybit's faults (5xx and timeouts after
//! accepting an order, retCode 10006 with a reset time, clock skew).

mod common;

use std::time::{Duration, Instant};

use common::fake_bybit::{client, funded, move_price, serve, Fake, Fault, SECRET};
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
async fn rules_prices_orders_partial_fills_executions_and_balances() {
    let (fake, url) = serve(funded()).await;
    let b = client(&url, SECRET);
    let rules = b.market_rules("BTCUSDT").await.unwrap();
    assert_eq!(
        (rules.tick_size, rules.step_size, rules.min_qty, rules.min_notional, rules.max_qty),
        (dec!(0.01), dec!(0.00001), dec!(0.00001), dec!(5), Some(dec!(71.73956243)))
    );
    assert!(matches!(b.market_rules("NOPE").await, Err(ExchangeError::UnknownMarket(_))));
    assert_eq!(b.last_price("BTCUSDT").await.unwrap(), dec!(43250.17));

    let o = limit("bot-1-s1-1", OrderSide::Buy, dec!(42601.41), dec!(0.00469));
    let info = b.place_order("BTCUSDT", &o).await.unwrap();
    assert_eq!((info.status, info.filled), (OrderStatus::New, dec!(0)));
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
    let fills = b.fills_since("BTCUSDT", common::book::now() - 3_600_000).await.unwrap();
    assert_eq!((fills.len(), fills[0].price, fills[0].side), (2, dec!(42601.41), OrderSide::Buy));
    assert!(fills.iter().all(|f| f.client_order_id == o.client_order_id), "{fills:?}");
    let bal = b.balances().await.unwrap();
    assert_eq!(bal.iter().find(|x| x.asset == "BTC").unwrap().free, dec!(0.00469));
    // A market sell fills at the last price.
    let m = OrderRequest {
        kind: OrderKind::Market { reference_price: dec!(42590) },
        side: OrderSide::Sell,
        ..limit("bot-1-x-2", OrderSide::Sell, dec!(1), dec!(0.00469))
    };
    b.place_order("BTCUSDT", &m).await.unwrap();
    let info = b.query_order("BTCUSDT", &m.client_order_id).await.unwrap();
    assert_eq!((info.status, info.filled_quote), (OrderStatus::Filled, dec!(42590) * dec!(0.00469)));
}

/// Issue 18.6: `marketUnit` (and fills by `orderLinkId`) are unified-account
/// features; a classic account is refused before anything is sent.
#[tokio::test]
async fn a_classic_account_is_refused_before_any_order_is_sent() {
    let (fake, url) = serve(Fake { classic: true, ..funded() }).await;
    let b = client(&url, SECRET);
    let o = limit("bot-1-s1-9", OrderSide::Buy, dec!(40000), dec!(0.001));
    match b.place_order("BTCUSDT", &o).await {
        Err(e @ ExchangeError::RuleViolation { .. }) => {
            assert!(e.to_string().contains("classic account"), "{e}");
            assert!(e.is_definite_rejection());
        }
        other => panic!("{other:?}"),
    }
    assert!(fake.lock().unwrap().book.orders.is_empty(), "an order reached the venue");
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
async fn faults_5xx_timeout_rate_limit_and_clock_skew() {
    let mut f = funded();
    f.faults = vec![Fault::ServerErrorAfterAccept, Fault::TimeoutAfterAccept, Fault::RateLimit];
    let (fake, url) = serve(f).await;
    let b = client(&url, SECRET);
    // A 5xx after the venue stored the order: outcome unknown, found by query.
    let o = limit("bot-1-s1-5", OrderSide::Buy, dec!(40000), dec!(0.001));
    assert_eq!(b.place_order("BTCUSDT", &o).await, Err(ExchangeError::OutcomeUnknown(o.client_order_id.clone())));
    assert_eq!(b.query_order("BTCUSDT", &o.client_order_id).await.unwrap().status, OrderStatus::New);
    // A timeout after accepting: the same.
    let o2 = limit("bot-1-s2-6", OrderSide::Buy, dec!(39000), dec!(0.001));
    assert_eq!(b.place_order("BTCUSDT", &o2).await, Err(ExchangeError::OutcomeUnknown(o2.client_order_id.clone())));
    // 10006: the query waits for the reset time, then succeeds.
    let t = Instant::now();
    assert_eq!(b.last_price("BTCUSDT").await.unwrap(), dec!(43250.17));
    assert!(t.elapsed() >= Duration::from_millis(500), "waited {:?}", t.elapsed());
    // The server clock runs 8 s ahead: 10002, resync, success.
    fake.lock().unwrap().skew_ms = 8_000;
    assert_eq!(b.open_orders("BTCUSDT").await.unwrap().len(), 2);
    let offset = b.sync_time().await.unwrap();
    assert!((7_000..9_500).contains(&offset), "{offset}");
}

#[tokio::test]
async fn klines_arrive_newest_first_and_are_paged_oldest_first() {
    let mut f = funded();
    f.candles = (0..2_500).map(|i| (i * 60_000, Decimal::from(30_000 + i))).collect();
    let (_fake, url) = serve(f).await;
    let b = client(&url, SECRET);
    let c = b.candles("BTCUSDT", 60_000, 60_000 * 100, 60_000 * 2_300).await.unwrap();
    assert_eq!(c.len(), 2_200);
    assert!(c.windows(2).all(|w| w[1].time == w[0].time + 60_000));
    assert_eq!((c[0].time, c[0].open), (60_000 * 100, dec!(30100)));
}
