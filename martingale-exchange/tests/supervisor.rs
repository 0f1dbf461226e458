//! The supervisor: bots isolated from each other's failures, restarted
//! with backoff and visible while they fail; each bot gets only its own
//! account's keys; one request budget per API key; graceful shutdown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use martingale_core::config::BotFile;
use martingale_core::engine::Candle;
use martingale_core::fleet::{AccountId, EngineKey};
use martingale_exchange::{
    AuditLog, BotSpec, BotState, Connector, CredentialStore, Credentials, Exchange, ExchangeError, KeyLabel, MasterKey,
    PaperExchange, Schedule, Supervisor, SupervisorConfig, WeightBudget,
};
use rust_decimal_macros::dec;

fn bot() -> BotFile {
    martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap()
}

fn paper() -> Arc<PaperExchange> {
    let b = bot();
    let p = PaperExchange::for_bot(&b, dec!(1000000));
    p.feed(Candle { time: 0, open: dec!(43250), high: dec!(43250), low: dec!(43250), close: dec!(43250) });
    Arc::new(p)
}

fn spec(account: &str, id: &str, label: Option<&str>) -> BotSpec {
    BotSpec {
        key: EngineKey::parse(account, id).unwrap(),
        bot: bot(),
        symbol: "BTCUSDT".into(),
        credentials: label.map(|l| KeyLabel::new(l).unwrap()),
        cancel_on_shutdown: true,
    }
}

fn fast(dir: &std::path::Path) -> SupervisorConfig {
    SupervisorConfig {
        audit_dir: Some(dir.join("audit")),
        backoff_initial: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        max_failures: 4,
        ..SupervisorConfig::new(dir.join("state"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_bot_is_restarted_with_backoff_and_nobody_else_notices() {
    let dir = tempfile::tempdir().unwrap();
    // One venue account per user (both users run a bot called `ok`).
    let (venue, venue2) = (paper(), paper());
    let attempts: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let (v, v2, a) = (venue.clone(), venue2.clone(), attempts.clone());
    // `flaky` fails to connect twice, `broken` always.
    let connect: Connector = Arc::new(move |c| {
        let mut a = a.lock().unwrap();
        let n = a.entry(c.spec.key.to_string()).or_default();
        *n += 1;
        match c.spec.key.bot.as_str() {
            "flaky" if *n <= 2 => Err(ExchangeError::Network(format!("connect attempt {n} refused"))),
            "broken" => Err(ExchangeError::Network("venue down".into())),
            _ if c.spec.key.account.as_str() == "u2" => Ok(v2.clone() as Arc<dyn Exchange>),
            _ => Ok(v.clone() as Arc<dyn Exchange>),
        }
    });
    let mut sup = Supervisor::new(fast(dir.path()), connect, None);
    for (u, b) in [("u1", "ok"), ("u1", "flaky"), ("u2", "ok"), ("u2", "broken")] {
        sup.spawn(spec(u, b, None)).unwrap();
    }
    assert!(sup.spawn(spec("u1", "ok", None)).is_err(), "duplicate key");
    for t in 1..=3 {
        sup.step(t * 60_000).await;
    }
    let status: HashMap<String, _> = sup.status().into_iter().map(|s| (s.key.to_string(), s)).collect();
    assert_eq!((status["u1/ok"].state, status["u1/ok"].restarts, status["u1/ok"].steps), (BotState::Running, 0, 3));
    assert_eq!((status["u2/ok"].state, status["u2/ok"].steps), (BotState::Running, 3));
    let flaky = &status["u1/flaky"];
    assert_eq!((flaky.state, flaky.restarts, flaky.steps), (BotState::Running, 2, 3));
    assert!(flaky.last_error.as_deref().unwrap().contains("attempt 2"));
    let broken = &status["u2/broken"];
    assert_eq!((broken.state, broken.steps), (BotState::Failed, 0));
    // The failures are in the bot's own audit log.
    let log = AuditLog::read(dir.path().join("audit/u1/flaky.jsonl")).unwrap();
    assert_eq!(log.iter().filter(|r| format!("{:?}", r.entry).contains("failure")).count(), 2);
    // Each running bot placed its own base order, under its own id.
    let open = venue.open_orders("BTCUSDT").await.unwrap();
    assert!(open.iter().any(|o| o.client_order_id.as_str().starts_with("flaky-")));
    let engines = sup.shutdown(240_000).await;
    assert_eq!(engines.iter().filter(|(_, e)| e.is_some()).count(), 3);
    // cancel_on_shutdown: nothing left resting.
    assert!(venue.open_orders("BTCUSDT").await.unwrap().is_empty());
    assert!(venue2.open_orders("BTCUSDT").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bot_gets_only_its_own_accounts_keys_and_one_budget_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(CredentialStore::open(dir.path().join("keys"), MasterKey::generate()).unwrap());
    let main = KeyLabel::new("main").unwrap();
    for u in ["alice", "bob"] {
        let creds = Credentials::new(format!("AK-{u}"), format!("SK-{u}"));
        store.put(&AccountId::new(u).unwrap(), &main, &creds).unwrap();
    }
    store
        .put(
            &AccountId::new("bob").unwrap(),
            &KeyLabel::new("bobonly").unwrap(),
            &Credentials::new("AK-bob2", "SK-bob2"),
        )
        .unwrap();
    let venue = paper();
    type Seen = Vec<(String, String, Arc<WeightBudget>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let (v, s) = (venue.clone(), seen.clone());
    let connect: Connector = Arc::new(move |c| {
        let creds = c.credentials.as_ref().ok_or(ExchangeError::Authentication("no keys".into()))?;
        let budget = c.budgets.for_key(&creds.api_key);
        s.lock().unwrap().push((c.spec.key.to_string(), creds.secret_key.expose().to_string(), budget));
        Ok(v.clone() as Arc<dyn Exchange>)
    });
    let mut sup = Supervisor::new(fast(dir.path()), connect, Some(store));
    sup.spawn(spec("alice", "a1", Some("main"))).unwrap();
    sup.spawn(spec("alice", "a2", Some("main"))).unwrap();
    sup.spawn(spec("bob", "b1", Some("main"))).unwrap();
    // Alice names a label only Bob has: she must not get Bob's keys.
    sup.spawn(spec("alice", "thief", Some("bobonly"))).unwrap();
    sup.step(60_000).await;
    let seen: Seen = seen.lock().unwrap().clone();
    let got: HashMap<&str, &str> = seen.iter().map(|(k, s, _)| (k.as_str(), s.as_str())).collect();
    assert_eq!(got["alice/a1"], "SK-alice");
    assert_eq!(got["alice/a2"], "SK-alice");
    assert_eq!(got["bob/b1"], "SK-bob");
    assert!(!got.contains_key("alice/thief"));
    assert!(seen.iter().all(|(_, s, _)| s != "SK-bob2"));
    let thief = sup.status().into_iter().find(|s| s.key.bot.as_str() == "thief").unwrap();
    assert!(thief.last_error.as_deref().unwrap().contains("no credentials alice/bobonly"), "{thief:?}");
    // Alice's two bots share one budget; Bob's is another.
    let budget = |k: &str| seen.iter().find(|(key, _, _)| key == k).unwrap().2.clone();
    assert!(Arc::ptr_eq(&budget("alice/a1"), &budget("alice/a2")));
    assert!(!Arc::ptr_eq(&budget("alice/a1"), &budget("bob/b1")));
    // No status, log or error shows a secret.
    let text = format!("{:?}{sup:?}", sup.status());
    assert!(!text.contains("SK-"), "{text}");
    sup.shutdown(120_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_bots_poll_on_their_own_and_stop_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let venue = paper();
    let calls = Arc::new(AtomicU32::new(0));
    let (v, c2) = (venue.clone(), calls.clone());
    let connect: Connector = Arc::new(move |_| {
        c2.fetch_add(1, Ordering::SeqCst);
        Ok(v.clone() as Arc<dyn Exchange>)
    });
    let cfg = SupervisorConfig { schedule: Schedule::Every(Duration::from_millis(20)), ..fast(dir.path()) };
    let mut sup = Supervisor::new(cfg, connect, None);
    for i in 0..5 {
        sup.spawn(spec("u", &format!("t{i}"), None)).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = sup.status();
    assert!(status.iter().all(|s| s.state == BotState::Running && s.steps >= 3), "{status:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 5, "one adapter per bot, built once");
    let engines = sup.shutdown(0).await;
    assert!(engines.iter().all(|(_, e)| e.is_some()));
}
