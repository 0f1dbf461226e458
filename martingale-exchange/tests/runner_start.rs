//! How a runner starts: refused when its state is another bot's or does
//! not match its bot file, or when a fresh start finds the bot's orders on
//! the venue; `start` on a running bot is a no-op; fresh starts never
//! reuse client order ids.

mod common;

use std::sync::Arc;

use common::crashy::funded_paper;
use martingale_core::config::BotFile;
use martingale_core::engine::{BotId, Candle, Command, Mode};
use martingale_exchange::{
    Exchange, JsonFileStore, PaperExchange, Runner, RunnerConfig, RunnerError, SnapshotError, StateStore,
};
use rust_decimal_macros::dec;

fn bot() -> BotFile {
    martingale_core::config::BotFile::example().unwrap()
}

fn venue() -> Arc<PaperExchange> {
    let p = funded_paper(&bot());
    p.feed(Candle { time: 0, open: dec!(43250), high: dec!(43250), low: dec!(43250), close: dec!(43250) });
    p
}

fn cfg() -> RunnerConfig {
    RunnerConfig { account: "alice".into(), symbol: "BTCUSDT".into(), cancel_on_shutdown: false }
}

async fn start(
    id: &str,
    b: &BotFile,
    venue: &Arc<PaperExchange>,
    store: &Arc<dyn StateStore>,
    time: i64,
) -> Result<Runner<PaperExchange>, RunnerError> {
    Runner::builder(BotId::new(id).unwrap(), b, venue.clone(), store.clone()).config(cfg()).time(time).start().await
}

/// A bot that has traded: its base order filled and its ladder resting.
async fn traded(id: &str, venue: &Arc<PaperExchange>, store: &Arc<dyn StateStore>) -> Runner<PaperExchange> {
    let mut r = start(id, &bot(), venue, store, 1_000).await.unwrap();
    r.command(1_000, Command::Start).await.unwrap();
    r.step(60_000).await.unwrap();
    assert!(r.engine().deal().is_some());
    r
}

#[tokio::test]
async fn a_fresh_start_with_the_bots_orders_on_the_venue_is_refused() {
    let (dir, venue) = (tempfile::tempdir().unwrap(), venue());
    let store: Arc<dyn StateStore> = Arc::new(JsonFileStore::new(dir.path()).unwrap());
    drop(traded("dca", &venue, &store).await);
    // The state file is lost; the orders still rest on the venue.
    std::fs::remove_file(dir.path().join("dca.json")).unwrap();
    let err = start("dca", &bot(), &venue, &store, 120_000).await.err().unwrap();
    let msg = err.to_string();
    assert!(matches!(err, RunnerError::Orphans(_)), "{msg}");
    assert!(msg.contains("bot dca has no saved state") && msg.contains("open order(s)"), "{msg}");
    assert!(msg.contains("fill(s) in the last 24 h") && msg.contains("restore the bot's state file"), "{msg}");
    // Another bot on the same venue is not concerned.
    assert!(start("dca2", &bot(), &venue, &store, 120_000).await.is_ok());
    // Once the orders are canceled and the fills are old, it starts afresh,
    // with ids of a new generation.
    for o in venue.open_orders("BTCUSDT").await.unwrap() {
        venue.cancel_order("BTCUSDT", &o.client_order_id).await.unwrap();
    }
    let old: Vec<String> =
        venue.fills_since("BTCUSDT", 0).await.unwrap().iter().map(|f| f.client_order_id.to_string()).collect();
    let later = 1_000 + 2 * 86_400_000;
    let mut r = start("dca", &bot(), &venue, &store, later).await.unwrap();
    r.command(later, Command::Start).await.unwrap();
    r.step(later + 60_000).await.unwrap();
    let ids: Vec<String> =
        r.engine().deal().unwrap().orders.iter().map(|o| o.request.client_order_id.to_string()).collect();
    assert!(ids.iter().all(|id| !old.contains(id)), "{ids:?} reuse {old:?}");
}

#[tokio::test]
async fn a_snapshot_of_another_bot_or_of_other_settings_is_refused() {
    let (dir, venue) = (tempfile::tempdir().unwrap(), venue());
    let store: Arc<dyn StateStore> = Arc::new(JsonFileStore::new(dir.path()).unwrap());
    drop(traded("alice1", &venue, &store).await);
    // Copied over another bot's state.
    std::fs::copy(dir.path().join("alice1.json"), dir.path().join("bob1.json")).unwrap();
    let err = start("bob1", &bot(), &venue, &store, 120_000).await.err().unwrap();
    assert!(matches!(err, RunnerError::Snapshot(SnapshotError::OtherBot { .. })), "{err}");
    assert!(err.to_string().contains("holds bot alice1's state"), "{err}");
    // The bot file changed under a saved state.
    let mut changed = bot();
    changed.strategy.max_safety_orders = Some(3);
    changed.fees.maker = dec!(0.0005);
    let err = start("alice1", &changed, &venue, &store, 120_000).await.err().unwrap();
    let msg = err.to_string();
    assert!(matches!(err, RunnerError::Snapshot(SnapshotError::SettingsChanged { .. })), "{msg}");
    assert!(msg.contains("strategy.max_safety_orders: state 5, file 3"), "{msg}");
    assert!(msg.contains("fees.maker: state \"0.001\", file \"0.0005\""), "{msg}");
    // A damaged state file.
    let path = dir.path().join("alice1.json");
    let text = std::fs::read_to_string(&path).unwrap().replacen("\"entry_qty\":\"", "\"entry_qty\":\"1", 1);
    std::fs::write(&path, text).unwrap();
    let err = start("alice1", &bot(), &venue, &store, 120_000).await.err().unwrap();
    assert!(matches!(err, RunnerError::Snapshot(SnapshotError::Checksum { .. })), "{err}");
}

#[tokio::test]
async fn start_on_a_running_bot_is_a_no_op_and_a_second_runner_is_refused() {
    let (dir, venue) = (tempfile::tempdir().unwrap(), venue());
    let store: Arc<dyn StateStore> = Arc::new(JsonFileStore::new(dir.path()).unwrap());
    let mut r = traded("b1", &venue, &store).await;
    let events = r.events();
    r.command(61_000, Command::Start).await.unwrap();
    assert_eq!((r.engine().mode(), r.events()), (Mode::Running, events));
    let err = start("b1", &bot(), &venue, &store, 62_000).await.err().unwrap();
    assert!(matches!(err, RunnerError::Lease(_)), "{err}");
    assert!(err.to_string().contains("b1.lock"), "{err}");
    drop(r);
    // Released with the runner.
    let r = start("b1", &bot(), &venue, &store, 62_000).await.unwrap();
    assert_eq!(r.engine().mode(), Mode::Running);
}
