//! Load test: 1,000 bots of 100 users, each user with their own API keys
//! (encrypted in a credential store), run by one supervisor against one
//! fake Binance server over HTTP, with faults injected (5xx and timeouts
//! after the server accepted an order, 429 with Retry-After). Every bot
//! must end exactly as the same bot run alone against a fault-free server:
//! same P&L, same open position, the same orders with the same fills on the
//! venue, and no client order id placed twice. Every bot's audit log (a
//! sample is replayed) reproduces its state.
//!
//! Stale order reports are left to `crash_binance.rs`: a stale answer
//! delays what a bot learns by one poll, which may rightly change what it
//! does next, so "equal to the bot alone" is not the property to assert
//! under that fault.
//!
//! Prints throughput (bot steps and HTTP requests per second) and memory
//! per bot (resident set growth / bots).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fake_binance::{move_price, serve, Fake, Fault};
use martingale_core::config::BotFile;
use martingale_core::engine::Engine;
use martingale_core::fleet::{AccountId, EngineKey};
use martingale_exchange::binance::{BinanceConfig, BinanceSpot};
use martingale_exchange::{
    BotSpec, BotState, Connector, CredentialStore, Credentials, Exchange, KeyLabel, MasterKey, Supervisor,
    SupervisorConfig,
};
use rust_decimal::Decimal;

const USERS: usize = 100;
const BOTS_PER_USER: usize = 10;
const STEPS: usize = 30;

/// Bot `k` of every user: ten ladder shapes.
fn bot(k: usize) -> BotFile {
    let mut b: BotFile = martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap();
    b.strategy.price_deviation = Some(Decimal::new(60 + 15 * k as i64, 2));
    b.strategy.take_profit.percent = Decimal::new(50 + 10 * (k as i64 % 4), 2);
    b
}

fn closes() -> Vec<Decimal> {
    (0..STEPS).map(|k| Decimal::new((3_000_000.0 + 75_000.0 * (k as f64 / 2.5).sin()).round() as i64, 2)).collect()
}

/// A user's account on the venue: enough quote for all ten ladders.
fn account() -> Fake {
    Fake { usdt: Decimal::from(10_000_000), ..Default::default() }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// One account's orders on the venue: client order id -> (times created,
/// status, filled quantity, filled quote).
type VenueOrders = HashMap<String, (usize, String, Decimal, Decimal)>;

struct Run {
    engines: HashMap<EngineKey, Engine>,
    /// Per account: client order id -> (times created, status, filled, quote).
    venue: HashMap<String, VenueOrders>,
    requests: usize,
    elapsed: Duration,
    rss_growth_kib: u64,
    restarts: u32,
    faults_left: usize,
}

/// Runs `users` x `bots` bots in one supervisor against one fake server.
async fn run(users: &[String], bots: &[usize], faults: Vec<Fault>) -> Run {
    // State files are fsynced on every change; on a RAM disk when there is
    // one, so the test measures the fleet rather than the disk.
    let dir = match std::path::Path::new("/dev/shm").is_dir() {
        true => tempfile::tempdir_in("/dev/shm").unwrap(),
        false => tempfile::tempdir().unwrap(),
    };
    let keys = Arc::new(CredentialStore::open(dir.path().join("keys"), MasterKey::generate()).unwrap());
    let label = KeyLabel::new("binance").unwrap();
    let mut fake = Fake { price: closes()[0], faults, ..Default::default() };
    for u in users {
        let (ak, sk) = (format!("AK-{u}"), format!("SK-{u}"));
        fake.others.insert(ak.clone(), (sk.clone(), account()));
        let creds = Credentials::new(ak, sk);
        keys.put(&AccountId::new(u.as_str()).unwrap(), &label, &creds).unwrap();
    }
    let (fake, url) = serve(fake).await;
    // One HTTP connection pool for the fleet; keys, clock offset and the
    // request budget (shared per key by the supervisor) per adapter.
    let http = martingale_exchange::HttpClient::new(Duration::from_millis(400)).unwrap();
    let connect: Connector = Arc::new(move |c| {
        let creds = c.credentials.ok_or(martingale_exchange::ExchangeError::Authentication("no keys".into()))?;
        let cfg = BinanceConfig { base_url: url.clone(), timeout: Duration::from_millis(400), ..Default::default() };
        let budget = c.budgets.for_key(&creds.api_key);
        let spot =
            BinanceSpot::new(cfg, creds.api_key, creds.secret_key)?.with_http_client(http.clone()).with_budget(budget);
        Ok(Arc::new(spot) as Arc<dyn Exchange>)
    });
    let cfg = SupervisorConfig {
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        max_concurrent_steps: Some(64),
        weight_per_key: 1_000_000,
        audit_dir: Some(dir.path().join("audit")),
        ..SupervisorConfig::new(dir.path().join("state"))
    };
    let rss_before = rss_kib();
    let mut sup = Supervisor::new(cfg, connect, Some(keys));
    for u in users {
        for &k in bots {
            let key = EngineKey::parse(u, &format!("b{k}")).unwrap();
            let spec = BotSpec {
                key,
                bot: bot(k),
                symbol: "BTCUSDT".into(),
                credentials: Some(label.clone()),
                cancel_on_shutdown: false,
            };
            sup.spawn(spec).unwrap();
        }
    }
    let started = Instant::now();
    let n = users.len() * bots.len();
    let mut rss_peak = 0;
    for (i, px) in closes().into_iter().enumerate() {
        move_price(&mut fake.lock().unwrap(), px);
        assert_eq!(sup.step((i as i64 + 1) * 60_000).await, n, "every bot completes every step");
        rss_peak = rss_peak.max(rss_kib());
    }
    let elapsed = started.elapsed();
    let restarts = sup.status().iter().map(|s| s.restarts).sum();
    assert!(sup.status().iter().all(|s| s.state == BotState::Running));
    let engines: HashMap<EngineKey, Engine> =
        sup.shutdown(STEPS as i64 * 60_000 + 1).await.into_iter().map(|(k, e)| (k, e.unwrap())).collect();
    // Every bot's audit log replays to its final state (a sample of 20 here;
    // tests/replay.rs covers replay in depth).
    for (i, (key, engine)) in engines.iter().enumerate().filter(|(i, _)| i % (n / 20).max(1) == 0) {
        let path = dir.path().join("audit").join(key.account.as_str()).join(format!("{}.jsonl", key.bot));
        let r = martingale_exchange::replay_file(&path).unwrap_or_else(|e| panic!("bot {i} {key}: {e}"));
        assert_eq!(&r.engine, engine, "{key}: the audit log does not replay to the bot's state");
    }
    let fake = fake.lock().unwrap();
    let mut venue = HashMap::new();
    for (ak, (_, acct)) in &fake.others {
        let mut orders = VenueOrders::new();
        for o in &acct.orders {
            let e = orders.entry(o.client_id().to_string()).or_insert((0, String::new(), Decimal::ZERO, Decimal::ZERO));
            *e = (e.0 + 1, o.status().to_string(), o.filled(), o.quote());
        }
        venue.insert(ak.trim_start_matches("AK-").to_string(), orders);
    }
    Run {
        engines,
        venue,
        requests: fake.requests,
        elapsed,
        rss_growth_kib: rss_peak.saturating_sub(rss_before),
        restarts,
        faults_left: fake.faults.len(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_bots_of_a_hundred_users_each_end_as_if_alone() {
    let users: Vec<String> = (0..USERS).map(|u| format!("user{u:03}")).collect();
    let bots: Vec<usize> = (0..BOTS_PER_USER).collect();
    let faults = vec![
        Fault::ServerErrorAfterAccept,
        Fault::TooManyRequests,
        Fault::ServerErrorAfterAccept,
        Fault::TimeoutAfterAccept,
        Fault::TooManyRequests,
        Fault::ServerErrorAfterAccept,
        Fault::TimeoutAfterAccept,
        Fault::TooManyRequests,
    ];
    let injected = faults.len();
    let fleet = run(&users, &bots, faults).await;
    assert_eq!(fleet.faults_left, 0, "all {injected} faults were hit");
    let n = USERS * BOTS_PER_USER;
    assert_eq!(fleet.engines.len(), n);

    // Each bot shape alone, on a fault-free server.
    let mut alone = HashMap::new();
    for &k in &bots {
        let solo = run(&["solo".to_string()], &[k], Vec::new()).await;
        let key = EngineKey::parse("solo", &format!("b{k}")).unwrap();
        alone.insert(k, (solo.engines[&key].clone(), solo.venue["solo"].clone()));
    }
    let mut deals = 0;
    for u in &users {
        let venue = &fleet.venue[u];
        assert!(venue.values().all(|(created, ..)| *created == 1), "{u}: a client order id was placed twice");
        for &k in &bots {
            let key = EngineKey::parse(u, &format!("b{k}")).unwrap();
            let (solo_engine, solo_venue) = &alone[&k];
            let e = &fleet.engines[&key];
            assert_eq!(e.totals(), solo_engine.totals(), "{key}: P&L differs from the bot run alone");
            assert_eq!(e.deal(), solo_engine.deal(), "{key}: open deal differs");
            let prefix = format!("b{k}-");
            let mine: HashMap<_, _> = venue.iter().filter(|(id, _)| id.starts_with(&prefix)).collect();
            let theirs: HashMap<_, _> = solo_venue.iter().filter(|(id, _)| id.starts_with(&prefix)).collect();
            assert_eq!(mine, theirs, "{key}: venue orders or fills differ (a fill lost?)");
            deals += e.totals().closed_deals;
        }
    }
    assert!(deals > n as u64, "the scenario must trade: {deals} deals");
    let secs = fleet.elapsed.as_secs_f64();
    println!(
        "fleet load test: {n} bots of {USERS} users, {STEPS} steps in {secs:.1} s: {:.0} bot steps/s, {:.0} requests/s \
         ({} requests), {deals} deals closed, {} restarts; memory {:.1} KiB per bot (RSS growth {} KiB)",
        (n * STEPS) as f64 / secs,
        fleet.requests as f64 / secs,
        fleet.requests,
        fleet.restarts,
        fleet.rss_growth_kib as f64 / n as f64,
        fleet.rss_growth_kib,
    );
}
