//! The OKX v5 spot adapter against a fake OKX server on 127.0.0.1 that
//! checks key, passphrase, signature and timestamp, insists on OKX's
//! `clOrdId` form, keeps orders, fills and balances, fills on a scripted
//! price path (partial fills first), returns candles newest first, and
//! injects OKX's faults (5xx and timeouts after accepting an order, 429 /
//! 50011, clock skew).

mod common;

use std::time::Duration;

use common::fake_okx::{client, funded, move_price, serve, Fault, SECRET};
use martingale_core::engine::{ClientOrderId, OrderKind, OrderRequest, OrderRole};
use martingale_core::OrderSide;
use martingale_exchange::okx::venue_order_id;
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
    let rules = b.market_rules("BTC-USDT").await.unwrap();
    assert_eq!((rules.tick_size, rules.step_size, rules.min_qty), (dec!(0.1), dec!(0.00000001), dec!(0.00001)));
    assert!(matches!(b.market_rules("NOPE-USDT").await, Err(ExchangeError::UnknownMarket(_))));
    assert_eq!(b.last_price("BTC-USDT").await.unwrap(), dec!(43250.1));

    // Our ids have `-` and up to 36 characters: sent in OKX's form, reported back as ours.
    let o = limit("bot-1-s1-1", OrderSide::Buy, dec!(42601.4), dec!(0.00469));
    let info = b.place_order("BTC-USDT", &o).await.unwrap();
    assert_eq!((info.status, &info.client_order_id), (OrderStatus::New, &o.client_order_id));
    assert_eq!(fake.lock().unwrap().book.orders[0].id, venue_order_id(&o.client_order_id));
    let open = b.open_orders("BTC-USDT").await.unwrap();
    assert_eq!(open[0].client_order_id, o.client_order_id);
    move_price(&mut fake.lock().unwrap(), dec!(42600));
    let info = b.query_order("BTC-USDT", &o.client_order_id).await.unwrap();
    assert_eq!((info.status, info.filled), (OrderStatus::PartiallyFilled, dec!(0.00234)));
    move_price(&mut fake.lock().unwrap(), dec!(42590));
    let info = b.query_order("BTC-USDT", &o.client_order_id).await.unwrap();
    assert_eq!(
        (info.status, info.filled, info.filled_quote),
        (OrderStatus::Filled, dec!(0.00469), dec!(42601.4) * dec!(0.00469))
    );
    let fills = b.fills_since("BTC-USDT", common::book::now() - 3_600_000).await.unwrap();
    assert_eq!((fills.len(), fills[0].price, &fills[0].client_order_id), (2, dec!(42601.4), &o.client_order_id));
    let bal = b.balances().await.unwrap();
    assert_eq!(bal.iter().find(|x| x.asset == "BTC").unwrap().free, dec!(0.00469));
}

#[tokio::test]
async fn venue_errors_are_typed() {
    let (_fake, url) = serve(funded()).await;
    let b = client(&url, SECRET);
    let o = limit("bot-1-s1-2", OrderSide::Buy, dec!(40000), dec!(0.001));
    b.place_order("BTC-USDT", &o).await.unwrap();
    assert_eq!(b.place_order("BTC-USDT", &o).await, Err(ExchangeError::DuplicateOrder(o.client_order_id.clone())));
    let big = limit("bot-1-s2-3", OrderSide::Buy, dec!(40000), dec!(1));
    assert!(matches!(b.place_order("BTC-USDT", &big).await, Err(ExchangeError::InsufficientBalance(_))));
    let tiny = limit("bot-1-s3-4", OrderSide::Buy, dec!(40000), dec!(0.000001));
    assert!(matches!(b.place_order("BTC-USDT", &tiny).await, Err(ExchangeError::RuleViolation { .. })));
    let unknown = ClientOrderId::from_raw("nope");
    assert_eq!(b.query_order("BTC-USDT", &unknown).await, Err(ExchangeError::UnknownOrder(unknown.clone())));
    assert_eq!(b.cancel_order("BTC-USDT", &unknown).await, Err(ExchangeError::UnknownOrder(unknown.clone())));
    assert_eq!(b.cancel_order("BTC-USDT", &o.client_order_id).await.unwrap().status, OrderStatus::Canceled);
    let wrong = client(&url, "wrong-secret");
    assert!(matches!(wrong.balances().await, Err(ExchangeError::Authentication(_))));
}

#[tokio::test]
async fn faults_5xx_timeout_rate_limit_and_clock_skew() {
    let mut f = funded();
    f.faults = vec![Fault::ServerErrorAfterAccept, Fault::TimeoutAfterAccept, Fault::RateLimit];
    let (fake, url) = serve(f).await;
    let b = client(&url, SECRET);
    let o = limit("bot-1-s1-5", OrderSide::Buy, dec!(40000), dec!(0.001));
    assert_eq!(b.place_order("BTC-USDT", &o).await, Err(ExchangeError::OutcomeUnknown(o.client_order_id.clone())));
    assert_eq!(b.query_order("BTC-USDT", &o.client_order_id).await.unwrap().status, OrderStatus::New);
    let o2 = limit("bot-1-s2-6", OrderSide::Buy, dec!(39000), dec!(0.001));
    assert_eq!(b.place_order("BTC-USDT", &o2).await, Err(ExchangeError::OutcomeUnknown(o2.client_order_id.clone())));
    // 429: the query waits and succeeds.
    let t = std::time::Instant::now();
    assert_eq!(b.last_price("BTC-USDT").await.unwrap(), dec!(43250.1));
    assert!(t.elapsed() >= Duration::from_millis(900));
    // Server clock 40 s ahead (outside OKX's 30 s): 50102, resync, success.
    fake.lock().unwrap().skew_ms = 40_000;
    assert_eq!(b.open_orders("BTC-USDT").await.unwrap().len(), 2);
}

#[tokio::test]
async fn candles_arrive_newest_first_and_are_paged_oldest_first() {
    let mut f = funded();
    f.candles = (0..1_000).map(|i| (i * 60_000, Decimal::from(30_000 + i))).collect();
    let (_fake, url) = serve(f).await;
    let b = client(&url, SECRET);
    let c = b.candles("BTC-USDT", 60_000, 60_000 * 10, 60_000 * 910).await.unwrap();
    assert_eq!(c.len(), 900);
    assert!(c.windows(2).all(|w| w[1].time == w[0].time + 60_000));
    assert_eq!((c[0].time, c[0].open), (600_000, dec!(30010)));
}

#[tokio::test]
async fn candles_older_than_the_latest_1440_come_from_history_candles_and_an_empty_past_range_is_an_error() {
    // Issue 18.2: `market/candles` only serves the latest 1,440 bars.
    let mut f = funded();
    f.candles = (0..3_000).map(|i| (i * 60_000, Decimal::from(30_000 + i))).collect();
    let (_fake, url) = serve(f).await;
    let b = client(&url, SECRET);
    let c = b.candles("BTC-USDT", 60_000, 0, 60_000 * 3_000).await.unwrap();
    assert_eq!(c.len(), 3_000);
    assert!(c.windows(2).all(|w| w[1].time == w[0].time + 60_000));
    let old = b.candles("BTC-USDT", 60_000, 60_000 * 100, 60_000 * 200).await.unwrap();
    assert_eq!((old.len(), old[0].open), (100, dec!(30100)));
    // A past range the venue has nothing for is an error, not Ok([]).
    let none = b.candles("BTC-USDT", 60_000, 60_000 * 5_000, 60_000 * 5_100).await;
    assert!(matches!(none, Err(ExchangeError::Malformed(ref m)) if m.contains("no 1m candles")), "{none:?}");
}
