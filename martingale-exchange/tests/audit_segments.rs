//! A runner's audit log cut into segments: the replay of the retained
//! segments (from the oldest kept checkpoint) reproduces the persisted
//! state exactly, and so does the replay of all segments from `created`;
//! quiet ticks are not logged one by one.

mod common;

use std::sync::Arc;

use common::crashy::{funded_paper, MemStore};
use martingale_core::backtest::synthetic::random_walk;
use martingale_core::config::BotFile;
use martingale_core::engine::{BotId, Command};
use martingale_exchange::{replay_file, AuditEntry, AuditLog, Persisted, Runner, RunnerConfig, StateStore};

fn bot() -> BotFile {
    martingale_core::config::BotFile::example().unwrap()
}

/// Runs 600 one-minute candles; returns the persisted state after shutdown.
async fn run(log: Arc<AuditLog>) -> Persisted {
    let b = bot();
    let paper = funded_paper(&b);
    let store: Arc<dyn StateStore> = Arc::new(MemStore::default());
    let cfg = RunnerConfig { account: "alice".into(), symbol: "BTCUSDT".into(), cancel_on_shutdown: false };
    let id = BotId::new("seg").unwrap();
    let series = random_walk(9, 600, 60_000, 30_000.0, 0.004);
    paper.feed(series.get(0).unwrap());
    let mut r =
        Runner::builder(id.clone(), &b, paper.clone(), store.clone()).audit(log).config(cfg).start().await.unwrap();
    r.command(0, Command::Start).await.unwrap();
    for i in 0..series.len() {
        let c = series.get(i).unwrap();
        if i > 0 {
            paper.feed(c);
        }
        r.step(c.time + 59_999).await.unwrap();
    }
    r.shutdown(600 * 60_000).await.unwrap();
    let p = Persisted::load(&id, &store.load(&id).await.unwrap().unwrap()).unwrap();
    assert!(p.engine.totals().closed_deals >= 3, "{:?}", p.engine.totals());
    p
}

#[tokio::test(flavor = "current_thread")]
async fn segmented_logs_replay_to_the_persisted_state() {
    let dir = tempfile::tempdir().unwrap();
    // Everything kept: the replay starts at `created` and passes every checkpoint.
    let all = dir.path().join("all/seg.jsonl");
    let state = run(Arc::new(AuditLog::open(&all).unwrap().with_rotation(8_000, usize::MAX))).await;
    let segments = AuditLog::segments(&all).unwrap();
    assert!(segments.len() >= 4, "{segments:?}");
    let r = replay_file(&all).unwrap();
    assert_eq!((r.engine, r.events), (state.engine.clone(), state.events));

    // Only the two newest old segments kept: the replay starts at a checkpoint.
    let kept = dir.path().join("kept/seg.jsonl");
    let state2 = run(Arc::new(AuditLog::open(&kept).unwrap().with_rotation(8_000, 2))).await;
    assert_eq!(state2.engine, state.engine, "the same run");
    let segments = AuditLog::segments(&kept).unwrap();
    assert_eq!(segments.len(), 2);
    let first = AuditLog::read(&segments[0]).unwrap();
    assert!(matches!(first[0].entry, AuditEntry::Checkpoint { .. }));
    let r = replay_file(&kept).unwrap();
    assert_eq!((r.engine, r.events), (state.engine.clone(), state.events));

    // A checkpoint that is not the replayed state is detected.
    let text = std::fs::read_to_string(&segments[1]).unwrap();
    let edited = text.replacen("\"realized_pnl\":\"", "\"realized_pnl\":\"1", 1);
    assert_ne!(text, edited);
    std::fs::write(&segments[1], edited).unwrap();
    assert!(replay_file(&kept).is_err());

    // Quiet ticks are not logged one by one: far fewer event lines than
    // the 600 ticks and their order reports.
    let records = AuditLog::read_all(&all).unwrap();
    let ticks = records
        .iter()
        .filter(|r| matches!(&r.entry, AuditEntry::Event { event } if matches!(event, martingale_core::engine::Event::Tick { .. })))
        .count();
    println!("{ticks} of 600 ticks logged, {} lines in all", records.len());
    assert!(ticks < 300, "{ticks} ticks logged");
}
