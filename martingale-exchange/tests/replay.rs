//! Audit-trail replay: a bot's log, replayed through a fresh engine,
//! reproduces the state the runner persisted, exactly, also when the runner
//! was killed at an exchange call or died between writing an event to the
//! log and persisting its state; a modified log is detected; the summary
//! adds up per bot and per user.

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use common::crashy::{funded_paper, Crashy, MemStore};
use martingale_core::backtest::synthetic::random_walk;
use martingale_core::config::BotFile;
use martingale_core::engine::{BotId, Candle, Command, Engine};
use martingale_exchange::{
    replay_file, AuditLog, AuditSummary, ExchangeError, PaperExchange, Persisted, ReplayError, Runner, RunnerConfig,
    RunnerError, StateStore,
};
use rust_decimal::Decimal;

fn bot() -> BotFile {
    martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap()
}

/// A store whose save number `fail_at` fails (the process dies after the
/// event reached the audit log, before its state was persisted).
struct FlakyStore {
    inner: MemStore,
    saves: AtomicI64,
    fail_at: i64,
}

#[async_trait::async_trait]
impl StateStore for FlakyStore {
    async fn load(&self, bot: &BotId) -> std::io::Result<Option<String>> {
        self.inner.load(bot).await
    }
    async fn save(&self, bot: &BotId, state: &str) -> std::io::Result<()> {
        if self.saves.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_at {
            return Err(std::io::Error::other("disk gone"));
        }
        self.inner.save(bot, state).await
    }
}

/// Runs one bot over `candles` with its audit log in `dir`; it dies at
/// exchange call `kill_at` and/or at save `fail_save` and is restarted.
/// Returns the final engine and the persisted snapshot.
async fn run(
    dir: &std::path::Path,
    account: &str,
    id: &str,
    candles: &[Candle],
    kill_at: i64,
    fail_save: i64,
) -> Engine {
    let b = bot();
    let paper = funded_paper(&b);
    let store = Arc::new(FlakyStore { inner: MemStore::default(), saves: AtomicI64::new(0), fail_at: fail_save });
    let audit = Arc::new(AuditLog::open(dir.join(account).join(format!("{id}.jsonl"))).unwrap());
    let cfg = RunnerConfig { account: account.into(), symbol: "BTCUSDT".into(), cancel_on_shutdown: false };
    let id = BotId::new(id).unwrap();
    let start = |crashy: Arc<Crashy<PaperExchange>>, t| {
        let (id, b, store, audit, cfg) = (id.clone(), b.clone(), store.clone(), audit.clone(), cfg.clone());
        async move { Runner::start(id, &b, crashy, store as Arc<dyn StateStore>, Some(audit), cfg, t).await }
    };
    let mut runner = loop {
        // The first start may itself hit the failing save.
        match start(Arc::new(Crashy::new(paper.clone(), kill_at, false)), 0).await {
            Ok(r) => break r,
            Err(RunnerError::Store(_)) => continue,
            Err(e) => panic!("{e}"),
        }
    };
    let started = Mutex::new(false);
    let (mut i, mut fed) = (0, 0);
    while i < candles.len() {
        if fed == i {
            paper.feed(candles[i]);
            fed += 1;
        }
        let t = candles[i].time + 59_999;
        let result = if *started.lock().unwrap() {
            runner.step(t).await
        } else {
            let r = runner.command(t, Command::Start).await;
            *started.lock().unwrap() = r.is_ok();
            r
        };
        match result {
            Ok(()) => i += usize::from(*started.lock().unwrap()),
            Err(RunnerError::Exchange(ExchangeError::Authentication(_)) | RunnerError::Store(_)) => {
                drop(runner);
                runner = loop {
                    match start(Arc::new(Crashy::new(paper.clone(), 0, false)), t).await {
                        Ok(r) => break r,
                        Err(RunnerError::Store(_)) => continue,
                        Err(e) => panic!("{e}"),
                    }
                };
                // A start command lost with the process is given again.
                let mode = runner.engine().mode();
                *started.lock().unwrap() = mode != martingale_core::engine::Mode::Created;
            }
            Err(e) => panic!("unexpected error at candle {i}: {e}"),
        }
    }
    let saves = store.saves.load(Ordering::SeqCst);
    assert!(fail_save <= saves, "the failing save {fail_save} never came: {saves} saves");
    // Were the process killed now, the log would still replay to exactly
    // the persisted state (quiet ticks since the last logged event are in
    // neither).
    let persisted = Persisted::parse(&store.load(&id).await.unwrap().unwrap()).unwrap();
    let log = dir.join(account).join(format!("{id}.jsonl"));
    let replayed = replay_file(&log).unwrap();
    assert_eq!(replayed.engine, persisted.engine, "replay before shutdown differs from the persisted state");
    assert_eq!(replayed.events, persisted.events);
    // A graceful stop writes the held quiet tick: persisted == in memory.
    let end = candles.last().map_or(0, |c| c.time + 60_000);
    runner.shutdown(end).await.unwrap();
    let persisted = Persisted::parse(&store.load(&id).await.unwrap().unwrap()).unwrap();
    assert_eq!(&persisted.engine, runner.engine());
    assert_eq!(persisted.events, runner.events());
    runner.engine().clone()
}

fn candles() -> Vec<Candle> {
    let series = random_walk(9, 300, 60_000, 30_000.0, 0.004);
    (0..series.len()).map(|i| series.get(i).unwrap()).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn replaying_the_log_reproduces_the_state_exactly() {
    let candles = candles();
    let dir = tempfile::tempdir().unwrap();
    let clean = run(dir.path(), "alice", "clean", &candles, 0, 0).await;
    assert!(clean.totals().closed_deals >= 2, "{:?}", clean.totals());
    let r = replay_file(dir.path().join("alice/clean.jsonl")).unwrap();
    assert_eq!(r.engine, clean);
    assert_eq!(r.dropped, 0);
    assert!(r.events > 100 && r.actions > 10, "{} events, {} actions", r.events, r.actions);

    // Killed at exchange calls, or dying between the log and the store.
    for (n, (kill, fail)) in
        [(40, 0), (157, 0), (333, 0), (0, 9), (0, 60), (0, 118), (95, 100), (500, 30)].into_iter().enumerate()
    {
        let id = format!("k{n}");
        let engine = run(dir.path(), "bob", &id, &candles, kill, fail).await;
        assert_eq!(engine.totals(), clean.totals(), "kill {kill} / fail {fail}: the bot must end like the clean run");
        let r = replay_file(dir.path().join(format!("bob/{id}.jsonl"))).unwrap();
        assert_eq!(r.engine, engine, "kill {kill} / fail {fail}: replay differs from the persisted state");
        if fail > 0 {
            // The event logged but never persisted is dropped, with the
            // quiet tick written just before it, if there was one.
            assert!((1..=2).contains(&r.dropped), "fail {fail}: {} events dropped", r.dropped);
            let text = std::fs::read_to_string(dir.path().join(format!("bob/{id}.jsonl"))).unwrap();
            assert!(text.contains("\"kind\":\"resumed\""));
        }
    }

    // The summary replays every log: per bot, and per user as the sum.
    let summary = AuditSummary::from_dir(dir.path()).unwrap();
    assert_eq!(summary.bots.len(), 9);
    assert_eq!(summary.accounts.len(), 2);
    let bob = &summary.accounts[1];
    assert_eq!((bob.account.as_str(), bob.bots), ("bob", 8));
    assert_eq!(bob.realized_pnl, clean.totals().realized_pnl * Decimal::from(8));
    let text = summary.to_string();
    assert!(text.contains("alice") && text.contains("k7"), "{text}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_modified_log_is_detected() {
    let candles = candles();
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), "carol", "b1", &candles, 0, 0).await;
    let path = dir.path().join("carol/b1.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    // Somebody edits a logged order's quantity.
    let line = text.lines().find(|l| l.contains("\"kind\":\"action\"") && l.contains("\"quantity\"")).unwrap();
    let edited = line.replacen("\"quantity\":\"", "\"quantity\":\"9", 1);
    std::fs::write(&path, text.replacen(line, &edited, 1)).unwrap();
    assert!(matches!(replay_file(&path), Err(ReplayError::Diverged { .. })));
    // A line of another bot slipped in.
    let foreign = text.lines().nth(3).unwrap().replace("\"bot\":\"b1\"", "\"bot\":\"b2\"");
    std::fs::write(&path, format!("{text}{foreign}\n")).unwrap();
    assert!(matches!(replay_file(&path), Err(ReplayError::ForeignLine { .. })));
    // A log that does not start with the bot file.
    std::fs::write(&path, text.lines().skip(1).collect::<Vec<_>>().join("\n")).unwrap();
    assert!(matches!(replay_file(&path), Err(ReplayError::NoCreated { .. })));
}
