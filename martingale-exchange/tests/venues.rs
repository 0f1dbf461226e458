//! One bot file, every venue: the example bot with `"venue"` set and
//! `market.symbol` written as `BTC/USDT` runs through [`connect`] against
//! the fake Binance, Bybit, OKX and CoinDCX servers on the same price path,
//! and ends with the same deals and P&L on each.

mod common;

use std::sync::Arc;

use common::book::Book;
use common::crashy::MemStore;
use common::venue_crash::closes;
use common::{fake_binance, fake_bybit, fake_coindcx, fake_okx};
use martingale_core::config::BotFile;
use martingale_core::engine::{BotId, Command};
use martingale_core::venue::Venue;
use martingale_exchange::{connect, Credentials, Runner, RunnerConfig, Secret, StateStore, VenueOptions, WeightBudget};
use rust_decimal::Decimal;

fn bot(venue: Venue) -> BotFile {
    // On a grid every venue accepts (OKX ticks by 0.1).
    let mut b: BotFile = common::venue_crash::every_venue_bot();
    b.venue = Some(venue);
    b.market.symbol = Some("BTC/USDT".into());
    b
}

/// Starts the venue's fake server; returns its URL, keys and a price mover.
async fn fake(venue: Venue, start: Decimal) -> (String, Credentials, Box<dyn Fn(Decimal) + Send + Sync>) {
    let million = Decimal::from(1_000_000);
    match venue {
        Venue::Binance => {
            let (f, url) =
                fake_binance::serve(fake_binance::Fake { usdt: million, price: start, ..Default::default() }).await;
            (
                url,
                Credentials::new(fake_binance::KEY, fake_binance::SECRET),
                Box::new(move |p| fake_binance::move_price(&mut f.lock().unwrap(), p)),
            )
        }
        Venue::Bybit => {
            let (f, url) =
                fake_bybit::serve(fake_bybit::Fake { book: Book::funded(million, start), ..Default::default() }).await;
            (
                url,
                Credentials::new(fake_bybit::KEY, fake_bybit::SECRET),
                Box::new(move |p| fake_bybit::move_price(&mut f.lock().unwrap(), p)),
            )
        }
        Venue::Okx => {
            let (f, url) =
                fake_okx::serve(fake_okx::Fake { book: Book::funded(million, start), ..Default::default() }).await;
            let mut creds = Credentials::new(fake_okx::KEY, fake_okx::SECRET);
            creds.passphrase = Some(Secret::new(fake_okx::PASSPHRASE));
            (url, creds, Box::new(move |p| fake_okx::move_price(&mut f.lock().unwrap(), p)))
        }
        Venue::Coindcx => {
            let (f, url) =
                fake_coindcx::serve(fake_coindcx::Fake { book: Book::funded(million, start), ..Default::default() })
                    .await;
            (
                url,
                Credentials::new(fake_coindcx::KEY, fake_coindcx::SECRET),
                Box::new(move |p| fake_coindcx::move_price(&mut f.lock().unwrap(), p)),
            )
        }
        Venue::Paper => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_bot_file_trades_alike_on_every_venue() {
    let path = closes(120);
    let mut results = Vec::new();
    for venue in [Venue::Binance, Venue::Bybit, Venue::Okx, Venue::Coindcx] {
        let b = bot(venue);
        let (url, creds, move_price) = fake(venue, path[0]).await;
        // A test runs far faster than a live bot: a budget of its own.
        let budget = Some(Arc::new(WeightBudget::new(1_000_000)));
        let api = connect(venue, Some(creds), budget, &VenueOptions { testnet: false, base_url: Some(url) }).unwrap();
        assert_eq!(api.name(), venue.to_string());
        let symbol = venue.resolve(b.market.symbol.as_deref().unwrap()).unwrap();
        let store: Arc<dyn StateStore> = Arc::new(MemStore::default());
        let cfg = RunnerConfig { account: "u".into(), symbol, cancel_on_shutdown: false };
        // The venue's clock (fills are answered within the venue's reach only).
        let t0 = common::book::now() / 60_000 * 60_000;
        let mut r = Runner::start(BotId::new("same").unwrap(), &b, api, store, None, cfg, t0).await.unwrap();
        r.command(t0, Command::Start).await.unwrap();
        for (i, p) in path.iter().enumerate() {
            move_price(*p);
            r.step(t0 + (i as i64 + 1) * 60_000).await.unwrap_or_else(|e| panic!("{venue} step {i}: {e}"));
        }
        results.push((venue, r.engine().totals().clone(), r.engine().deal().map(|d| d.position.open_qty())));
    }
    assert!(results[0].1.closed_deals >= 2, "{:?}", results[0].1);
    for (venue, totals, open) in &results[1..] {
        assert_eq!((totals, open), (&results[0].1, &results[0].2), "{venue} differs from binance");
    }
}

/// Issue 18 item 5: no adapter sends an order off the venue's grid. The
/// issue's quantity (float noise) and a price off the tick are refused
/// with `RuleViolation` naming the rule, as a definite rejection, and the
/// venue never hears of the order.
#[tokio::test]
async fn orders_off_the_venues_grid_are_refused_before_sending() {
    use martingale_core::engine::{ClientOrderId, OrderKind, OrderRequest, OrderRole};
    use martingale_core::OrderSide;
    use martingale_exchange::ExchangeError;
    use rust_decimal_macros::dec;
    for venue in [Venue::Binance, Venue::Bybit, Venue::Okx, Venue::Coindcx] {
        let (url, creds, _) = fake(venue, dec!(43250)).await;
        let api = connect(venue, Some(creds), None, &VenueOptions { testnet: false, base_url: Some(url) }).unwrap();
        let symbol = venue.resolve("BTC/USDT").unwrap();
        let cases = [
            ("step_size", OrderKind::Limit { price: dec!(40000) }, dec!(0.0007856509959147719)),
            ("step_size", OrderKind::Market { reference_price: dec!(43250) }, dec!(0.0007856509959147719)),
            ("tick_size", OrderKind::Limit { price: dec!(40000.005) }, dec!(0.001)),
        ];
        for (n, (rule, kind, quantity)) in cases.into_iter().enumerate() {
            let id = ClientOrderId::from_raw(format!("grid-1-s1-{n}"));
            let order = OrderRequest {
                client_order_id: id.clone(),
                role: OrderRole::Safety(1),
                side: OrderSide::Buy,
                kind,
                quantity,
            };
            match api.place_order(&symbol, &order).await {
                Err(e @ ExchangeError::RuleViolation { .. }) => {
                    assert!(e.is_definite_rejection());
                    assert!(matches!(&e, ExchangeError::RuleViolation { rule: r, .. } if r == rule), "{venue}: {e}");
                }
                other => panic!("{venue} {rule}: {other:?}"),
            }
            assert!(
                matches!(api.query_order(&symbol, &id).await, Err(ExchangeError::UnknownOrder(_))),
                "{venue}: the venue heard of {id}"
            );
        }
        assert!(api.open_orders(&symbol).await.unwrap().is_empty(), "{venue}");
    }
}
