//! The supervisor under faults: a bot whose venue panics is restarted with
//! backoff and given up after `max_failures` (never lost with its status
//! stuck at `starting`); a bot with a hostile state file fails alone while
//! the others keep trading; a venue that never answers does not block a
//! driven step beyond the step timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use martingale_core::config::BotFile;
use martingale_core::engine::{BotId, Candle, ClientOrderId, OrderRequest, TimeMs};
use martingale_core::fleet::EngineKey;
use martingale_core::MarketRules;
use martingale_exchange::{
    AuditLog, Balance, BotSpec, BotState, BotStatus, Connector, Exchange, ExchangeError, Fill, OrderInfo,
    PaperExchange, Supervisor, SupervisorConfig,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn bot() -> BotFile {
    martingale_core::config::BotFile::example().unwrap()
}

fn paper() -> Arc<PaperExchange> {
    let b = bot();
    let p = PaperExchange::for_bot(&b, dec!(1000000));
    p.feed(Candle { time: 0, open: dec!(43250), high: dec!(43250), low: dec!(43250), close: dec!(43250) });
    Arc::new(p)
}

fn spec(account: &str, id: &str) -> BotSpec {
    BotSpec {
        key: EngineKey::parse(account, id).unwrap(),
        bot: bot(),
        symbol: "BTCUSDT".into(),
        credentials: None,
        cancel_on_shutdown: false,
    }
}

fn fast(dir: &std::path::Path) -> SupervisorConfig {
    SupervisorConfig {
        audit_dir: Some(dir.join("audit")),
        backoff_initial: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        max_failures: 3,
        step_timeout: Duration::from_millis(300),
        ..SupervisorConfig::new(dir.join("state"))
    }
}

#[derive(Clone, Copy)]
enum Fault {
    /// `last_price` panics for the first `n` calls.
    Panic(u32),
    /// `last_price` never answers.
    Hang,
}

/// The paper venue with a fault in `last_price`.
struct Faulty {
    inner: Arc<PaperExchange>,
    fault: Fault,
    calls: AtomicU32,
}

#[async_trait]
impl Exchange for Faulty {
    fn name(&self) -> &str {
        "faulty"
    }
    async fn market_rules(&self, s: &str) -> Result<MarketRules, ExchangeError> {
        self.inner.market_rules(s).await
    }
    async fn candles(&self, s: &str, i: i64, a: TimeMs, b: TimeMs) -> Result<Vec<Candle>, ExchangeError> {
        self.inner.candles(s, i, a, b).await
    }
    async fn last_price(&self, s: &str) -> Result<Decimal, ExchangeError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        match self.fault {
            Fault::Panic(k) if n < k => panic!("adapter bug in last_price (call {n})"),
            Fault::Hang => std::future::pending().await,
            _ => self.inner.last_price(s).await,
        }
    }
    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        self.inner.balances().await
    }
    async fn place_order(&self, s: &str, o: &OrderRequest) -> Result<OrderInfo, ExchangeError> {
        self.inner.place_order(s, o).await
    }
    async fn cancel_order(&self, s: &str, id: &ClientOrderId) -> Result<OrderInfo, ExchangeError> {
        self.inner.cancel_order(s, id).await
    }
    async fn query_order(&self, s: &str, id: &ClientOrderId) -> Result<OrderInfo, ExchangeError> {
        self.inner.query_order(s, id).await
    }
    async fn open_orders(&self, s: &str) -> Result<Vec<OrderInfo>, ExchangeError> {
        self.inner.open_orders(s).await
    }
    async fn fills_since(&self, s: &str, t: TimeMs) -> Result<Vec<Fill>, ExchangeError> {
        self.inner.fills_since(s, t).await
    }
}

/// Bots named in `faults` get their fault (one adapter per start).
fn connector(venue: Arc<PaperExchange>, faults: HashMap<&'static str, Fault>) -> Connector {
    let calls: Arc<std::sync::Mutex<HashMap<String, u32>>> = Arc::default();
    Arc::new(move |c| {
        let name = c.spec.key.bot.as_str();
        match faults.get(name) {
            Some(&Fault::Panic(n)) => {
                // Panics left over across restarts: `n` in total.
                let mut calls = calls.lock().unwrap();
                let used = calls.entry(name.to_string()).or_default();
                let left = n.saturating_sub(*used);
                *used += left.min(1);
                let fault = Fault::Panic(left.min(1));
                Ok(Arc::new(Faulty { inner: venue.clone(), fault, calls: AtomicU32::new(0) }) as Arc<dyn Exchange>)
            }
            Some(&fault) => Ok(Arc::new(Faulty { inner: venue.clone(), fault, calls: AtomicU32::new(0) })),
            None => Ok(venue.clone() as Arc<dyn Exchange>),
        }
    })
}

fn by_bot(sup: &Supervisor) -> HashMap<String, BotStatus> {
    sup.status().into_iter().map(|s| (s.key.bot.to_string(), s)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_venue_fails_its_bot_with_backoff_and_nobody_else_notices() {
    let dir = tempfile::tempdir().unwrap();
    let venue = paper();
    let faults = HashMap::from([("boom", Fault::Panic(u32::MAX)), ("once", Fault::Panic(1))]);
    let mut sup = Supervisor::new(fast(dir.path()), connector(venue.clone(), faults), None);
    for b in ["ok", "boom", "once"] {
        sup.spawn(spec("u", b)).unwrap();
    }
    for t in 1..=4 {
        sup.step(t * 60_000).await;
    }
    let s = by_bot(&sup);
    assert_eq!((s["ok"].state, s["ok"].steps, s["ok"].restarts), (BotState::Running, 4, 0));
    // Panicked once, restarted from its state, then stepped every time.
    assert_eq!((s["once"].state, s["once"].steps, s["once"].restarts), (BotState::Running, 4, 1), "{:?}", s["once"]);
    // Panics every step: given up after max_failures, not stuck at Starting.
    let boom = &s["boom"];
    assert_eq!((boom.state, boom.restarts), (BotState::Failed, 2), "{boom:?}");
    assert!(boom.last_error.as_deref().unwrap().contains("step panicked: adapter bug"), "{boom:?}");
    let log = AuditLog::read(dir.path().join("audit/u/boom.jsonl")).unwrap();
    let noted = log.iter().filter(|r| format!("{:?}", r.entry).contains("panicked")).count();
    assert_eq!(noted, 3, "every panic is in the bot's audit log");
    let engines = sup.shutdown(300_000).await;
    assert_eq!(engines.iter().filter(|(_, e)| e.is_some()).count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_state_file_fails_its_bot_alone() {
    let dir = tempfile::tempdir().unwrap();
    let venue = paper();
    // A state that asks for 4294967295 safety orders (once a 154 GB allocation).
    let engine = martingale_core::engine::Engine::new(BotId::new("evil").unwrap(), &bot()).unwrap();
    let text = engine.to_json().replace("\"max_safety_orders\":5", "\"max_safety_orders\":4294967295");
    assert!(text.contains("4294967295"));
    std::fs::create_dir_all(dir.path().join("state/u")).unwrap();
    std::fs::write(dir.path().join("state/u/evil.json"), format!("{{\"events\":0,\"engine\":{text}}}")).unwrap();
    let mut sup = Supervisor::new(fast(dir.path()), connector(venue.clone(), HashMap::new()), None);
    for b in ["a", "evil", "c"] {
        sup.spawn(spec("u", b)).unwrap();
    }
    for t in 1..=3 {
        sup.step(t * 60_000).await;
    }
    let s = by_bot(&sup);
    for b in ["a", "c"] {
        assert_eq!((s[b].state, s[b].steps), (BotState::Running, 3), "{:?}", s[b]);
    }
    let evil = &s["evil"];
    assert_eq!((evil.state, evil.steps), (BotState::Failed, 0), "{evil:?}");
    let err = evil.last_error.as_deref().unwrap();
    assert!(err.contains("evil") && err.contains("max_safety_orders"), "{err}");
    // The other bots trade: their base orders are on the venue.
    let open = venue.open_orders("BTCUSDT").await.unwrap();
    assert!(open.iter().any(|o| o.client_order_id.as_str().starts_with("a-")));
    assert!(!open.iter().any(|o| o.client_order_id.as_str().starts_with("evil-")));
    sup.shutdown(240_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_venue_that_never_answers_does_not_block_a_driven_step() {
    let dir = tempfile::tempdir().unwrap();
    let venue = paper();
    let faults = HashMap::from([("slow", Fault::Hang)]);
    let mut sup = Supervisor::new(fast(dir.path()), connector(venue, faults), None);
    for b in ["ok", "slow"] {
        sup.spawn(spec("u", b)).unwrap();
    }
    let t0 = Instant::now();
    sup.step(60_000).await;
    sup.step(120_000).await;
    // Two steps, each: 300 ms timeout, then 5 or 10 ms backoff, then a
    // retried step that times out again ... until max_failures (3).
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(3), "driven steps took {took:?}");
    let s = by_bot(&sup);
    assert_eq!((s["ok"].state, s["ok"].steps), (BotState::Running, 2));
    assert_eq!(s["slow"].state, BotState::Failed, "{:?}", s["slow"]);
    assert!(s["slow"].last_error.as_deref().unwrap().contains("abandoned after 300ms"), "{:?}", s["slow"]);
    let t1 = Instant::now();
    sup.shutdown(180_000).await;
    assert!(t1.elapsed() < Duration::from_secs(1));
}
