//! `fills_since` reads every page on every venue (issue 18.4): each fake
//! venue holds a history longer than one page and answers its list
//! endpoint under the venue's documented paging rules (page size, time
//! window, cursor); the adapter must return every trade in the range, once,
//! oldest first, each under the client order id of its order, even where
//! the venue's rows name only the venue's own order id.

mod common;

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use common::fake_binance;
use martingale_exchange::{Exchange, ExchangeError, Fill};
#[allow(unused_imports)]
use ExchangeError as _;

const DAY: i64 = 86_400_000;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Every fill in the range, once, oldest first, with its order's id.
fn assert_complete(fills: &[Fill], want: usize, first_k: usize) {
    assert_eq!(fills.len(), want, "fills read");
    let ids: HashSet<&str> = fills.iter().map(|f| f.trade_id.as_str()).collect();
    assert_eq!(ids.len(), want, "a trade read twice");
    assert!(fills.windows(2).all(|w| w[0].time <= w[1].time), "not oldest first");
    // Two trades per order, orders numbered from `first_k`.
    for (i, f) in fills.iter().enumerate() {
        assert_eq!(f.client_order_id.as_str(), format!("hist-{}", first_k + i / 2), "fill {i}");
    }
}

#[tokio::test]
async fn binance_pages_by_day_and_by_trade_id_and_maps_order_ids() {
    let start = now() - 3 * DAY;
    // 3,000 orders (6,000 trades), one a minute and a half: about 1,900
    // trades a day, more than a page of 1,000.
    let mut fake = fake_binance::funded();
    fake_binance::seed_history(&mut fake, 3000, start, 86_400);
    let (_fake, url) = fake_binance::serve(fake).await;
    let b = fake_binance::client(&url, fake_binance::SECRET);
    // The last two days, walked by day windows then by trade id.
    let since = now() - 2 * DAY;
    let first_k = ((since - start) as f64 / 86_400.0).ceil() as usize;
    let fills = b.fills_since("BTCUSDT", since).await.unwrap();
    assert_complete(&fills, (3000 - first_k) * 2, first_k);
    // All of it from the beginning of time: paged by trade id.
    let fills = b.fills_since("BTCUSDT", 0).await.unwrap();
    assert_complete(&fills, 6000, 0);
    // Nothing in the range: nothing, not an error.
    assert!(b.fills_since("BTCUSDT", now() + DAY).await.unwrap().is_empty());
}

#[tokio::test]
async fn bybit_pages_every_week_by_cursor() {
    use common::fake_bybit;
    let start = now() - 20 * DAY;
    // 3,000 orders over 20 days: about 900 trades a week, 9 pages each.
    let mut fake = fake_bybit::funded();
    fake.book.seed_history(3000, start, 576_000);
    let (_fake, url) = fake_bybit::serve(fake).await;
    let b = fake_bybit::client(&url, fake_bybit::SECRET);
    let since = now() - 15 * DAY;
    let first_k = ((since - start) as f64 / 576_000.0).ceil() as usize;
    let fills = b.fills_since("BTCUSDT", since).await.unwrap();
    assert_complete(&fills, (3000 - first_k) * 2, first_k);
    // Older than the venue keeps (2 years): refused, nothing read.
    let err = b.fills_since("BTCUSDT", now() - 800 * DAY).await.unwrap_err();
    assert!(matches!(err, ExchangeError::OutOfReach(_)), "{err}");
}

#[tokio::test]
async fn okx_pages_by_bill_id_from_fills_or_fills_history() {
    use common::fake_okx;
    let start = now() - 20 * DAY;
    let mut fake = fake_okx::funded();
    fake.book.seed_history(3000, start, 576_000);
    let (_fake, url) = fake_okx::serve(fake).await;
    let b = fake_okx::client(&url, fake_okx::SECRET);
    // Within 3 days: `trade/fills`, about 900 trades, 9 pages.
    for days in [2, 15] {
        // 15 days: `trade/fills-history` (the other holds 3 days only).
        let since = now() - days * DAY;
        let first_k = ((since - start) as f64 / 576_000.0).ceil() as usize;
        let fills = b.fills_since("BTC-USDT", since).await.unwrap();
        assert_complete(&fills, (3000 - first_k) * 2, first_k);
    }
    // Older than 3 months: refused, nothing read.
    let err = b.fills_since("BTC-USDT", now() - 100 * DAY).await.unwrap_err();
    assert!(matches!(err, ExchangeError::OutOfReach(_)), "{err}");
}

#[tokio::test]
async fn coindcx_pages_by_trade_id_and_maps_order_ids() {
    use common::fake_coindcx;
    let start = now() - 3 * DAY;
    // 6,000 trades of 3,000 orders: two pages of 5,000.
    let mut fake = fake_coindcx::funded();
    fake.book.seed_history(3000, start, 86_400);
    let (_fake, url) = fake_coindcx::serve(fake).await;
    let b = fake_coindcx::client(&url, fake_coindcx::SECRET);
    let fills = b.fills_since("BTCUSDT", start).await.unwrap();
    assert_complete(&fills, 6000, 0);
    let since = now() - DAY;
    let first_k = ((since - start) as f64 / 86_400.0).ceil() as usize;
    let fills = b.fills_since("BTCUSDT", since).await.unwrap();
    assert_complete(&fills, (3000 - first_k) * 2, first_k);
}
