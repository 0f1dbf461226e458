//! Engine snapshots in the database, on SQLite and on Postgres: a runner
//! persisting to [`DbStateStore`] stopped half way and started again from
//! the database ends exactly like an uninterrupted run; one runner per bot;
//! a snapshot that is not the runner's is refused and nothing is written;
//! removing a bot removes its snapshot.

mod common;

use std::sync::Arc;

use martingale_core::backtest::synthetic::random_walk;
use martingale_core::backtest::Candles;
use martingale_core::config::BotFile;
use martingale_core::engine::{BotId, Command, Engine};
use martingale_exchange::{PaperExchange, Persisted, Runner, RunnerConfig, StateStore};
use martingale_service::{bots, journal, snapshot_header, users, Db, DbStateStore};
use rust_decimal::Decimal;

const BOT: &str = martingale_core::config::EXAMPLE_BOT_JSON;

fn paper(b: &BotFile) -> Arc<PaperExchange> {
    Arc::new(
        PaperExchange::builder("BTCUSDT", b.market.clone())
            .assets("BTC", "USDT")
            .fees(b.fees)
            .fill(b.fill)
            .quote_balance(Decimal::from(1_000_000))
            .build(),
    )
}

/// Steps candles `range` of `series` on `venue`, the runner persisting to
/// `store`; returns the engine after a graceful shutdown.
async fn run(
    store: Arc<dyn StateStore>,
    venue: &Arc<PaperExchange>,
    series: &Candles,
    range: std::ops::Range<usize>,
) -> Engine {
    let b: BotFile = BOT.parse().unwrap();
    let cfg = RunnerConfig { account: "alice".into(), symbol: "BTCUSDT".into(), cancel_on_shutdown: false };
    let id = BotId::new("a-btc").unwrap();
    let start = series.get(range.start).unwrap().time;
    let mut r = Runner::builder(id, &b, venue.clone(), store).config(cfg).time(start).start().await.unwrap();
    if r.engine().mode() != martingale_core::engine::Mode::Running {
        r.command(start, Command::Start).await.unwrap();
    }
    for i in range.clone() {
        let c = series.get(i).unwrap();
        if i > 0 {
            venue.feed(c);
        }
        r.step(c.time + 59_999).await.unwrap();
    }
    let end = series.get(range.end - 1).unwrap().time + 60_000;
    r.shutdown(end).await.unwrap();
    r.engine().clone()
}

async fn with_bot(db: &Db) -> Arc<DbStateStore> {
    users::add(db, "alice").await.unwrap();
    bots::add(db, "alice", "a-btc", BOT, None).await.unwrap();
    Arc::new(DbStateStore::new(db.clone()))
}

#[tokio::test]
async fn a_runner_resumes_from_the_database_exactly() {
    let (_dir, dbs) = common::backends().await;
    let series = random_walk(9, 900, 60_000, 30_000.0, 0.004);
    // The uninterrupted run, in a database of its own.
    let (_d, reference_dbs) = common::backends().await;
    let reference_store = with_bot(&reference_dbs[0]).await;
    let venue = paper(&BOT.parse().unwrap());
    venue.feed(series.get(0).unwrap());
    let whole = run(reference_store, &venue, &series, 0..900).await;
    assert!(whole.totals().closed_deals >= 3, "{:?}", whole.totals());
    for db in &dbs {
        let store = with_bot(db).await;
        let venue = paper(&BOT.parse().unwrap());
        venue.feed(series.get(0).unwrap());
        let first = run(store.clone(), &venue, &series, 0..450).await;
        let (format, events) = snapshot_header(db, "a-btc").await.unwrap().unwrap();
        assert_eq!(format, 2);
        assert!(events > 0);
        let text = store.load(&BotId::new("a-btc").unwrap()).await.unwrap().unwrap();
        assert_eq!(Persisted::parse(&text).unwrap().engine, first, "the database holds the last state");
        // A new runner (a restart) reads it back and carries on.
        let second = run(store.clone(), &venue, &series, 450..900).await;
        assert_eq!(second.totals(), whole.totals(), "{:?}", db.backend());
        assert_eq!(second.deal(), whole.deal());
        let (_, events_after) = snapshot_header(db, "a-btc").await.unwrap().unwrap();
        assert!(events_after > events);
        // The orders, fills and audit lines went in with the snapshots.
        let orders = journal::orders(db, Some("alice"), Some("a-btc"), None).await.unwrap();
        let fills = journal::fills(db, Some("alice"), Some("a-btc"), None).await.unwrap();
        assert!(orders.len() > 6 && fills.len() > 6, "{} orders, {} fills", orders.len(), fills.len());
        assert!(fills.iter().all(|f| orders.iter().any(|o| o.client_order_id == f.client_order_id)));
        assert!(journal::audit(db, "alice", "a-btc", 10).await.unwrap().len() == 10);
        // A bot whose snapshot holds a position is not removed unless forced.
        let open = second.deal().map_or(Decimal::ZERO, |d| d.position.open_qty());
        assert!(!open.is_zero(), "the run ends inside a deal");
        let err = bots::remove(db, "alice", "a-btc", false).await.unwrap_err().to_string();
        assert!(err.contains("open position"), "{err}");
        bots::remove(db, "alice", "a-btc", true).await.unwrap();
        assert!(journal::orders(db, Some("alice"), Some("a-btc"), None).await.unwrap().is_empty(), "removed with it");
    }
}

#[tokio::test]
async fn one_runner_per_bot_and_foreign_text_is_refused() {
    let (_dir, dbs) = common::backends().await;
    for db in &dbs {
        let store = with_bot(db).await;
        let bot = BotId::new("a-btc").unwrap();
        let lease = store.acquire(&bot).await.unwrap();
        let err = store.acquire(&bot).await.unwrap_err().to_string();
        assert!(err.contains("a-btc") && err.contains("already running"), "{err}");
        // Another store on the same database in this process shares nothing
        // with the first, but the service makes one store per process.
        drop(lease);
        let _again = store.acquire(&bot).await.unwrap();
        store.save(&bot, r#"{"format": 2, "events": 3, "engine": {}}"#).await.unwrap();
        let err = store.save(&bot, "not a snapshot").await.unwrap_err().to_string();
        assert!(err.contains("a-btc") && err.contains("not writing"), "{err}");
        assert_eq!(snapshot_header(db, "a-btc").await.unwrap(), Some((2, 3)), "the last good state stays");
        // A bot that is not in the database has no snapshot row to hold.
        let ghost = BotId::new("ghost").unwrap();
        assert!(store.save(&ghost, r#"{"format": 2, "events": 1}"#).await.is_err());
        // Removing the bot removes its snapshot.
        bots::remove(db, "alice", "a-btc", true).await.unwrap();
        assert_eq!(snapshot_header(db, "a-btc").await.unwrap(), None);
        assert_eq!(store.load(&bot).await.unwrap(), None);
    }
}
