//! The `martingale` program on a live venue: the fake Binance server (its
//! replies copied from Binance's documented examples, in
//! `martingale-exchange/tests/common`) runs in this test process on
//! 127.0.0.1, and the real binary trades on it. Two users add their own
//! keys (sealed in the database), add bots on their own accounts, and
//! `serve` trades them while the test moves the market; one bot is closed
//! by request and the other's take profit changed while it trades, the service is killed with SIGKILL twice mid-run and
//! started again. Afterwards: no client order id reached the venue twice,
//! each user's orders are on that user's account only, every bot kept
//! trading, both bots shared one price request per polling interval, and
//! no key is in the database or any output in clear.

// The fake Binance server of the exchange crate's tests.
#[path = "../martingale-exchange/tests/common/documented.rs"]
mod documented;
#[path = "../martingale-exchange/tests/common/fake_binance.rs"]
mod fake_binance;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_binance::{Fake, Shared, KEY, SECRET};
use martingale_exchange::MasterKey;
use martingale_service::{records, Db};
use rust_decimal::Decimal;

const BIN: &str = env!("CARGO_BIN_EXE_martingale");
const BOB_KEY: &str = "bob-api-key-7f3a";
const BOB_SECRET: &str = "bob-secret-key-93kd";

struct Setup {
    dir: tempfile::TempDir,
    master: String,
    url: String,
}

impl Setup {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.env("RUST_LOG", "warn").env_remove("MARTINGALE_DB").env("MARTINGALE_MASTER_KEY", &self.master);
        c.current_dir(self.dir.path()).args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }

    fn run(&self, args: &[&str], input: Option<&str>) -> Output {
        let mut c = self.cmd(args);
        if input.is_some() {
            c.stdin(Stdio::piped());
        }
        let mut child = c.spawn().unwrap();
        if let Some(text) = input {
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str], input: Option<&str>) -> String {
        let out = self.run(args, input);
        assert!(out.status.success(), "martingale {args:?}: {}", text(&out));
        let all = text(&out);
        for secret in [SECRET, BOB_SECRET] {
            assert!(!all.contains(secret), "a secret in the output of {args:?}");
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn fails(&self, args: &[&str], input: Option<&str>, says: &str) {
        let out = self.run(args, input);
        assert_eq!(out.status.code(), Some(1), "martingale {args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "martingale {args:?}: {err:?} should say {says:?}");
    }

    fn serve(&self) -> Child {
        let url = format!("binance={}", self.url);
        self.cmd(&["serve", "--interval-ms", "40", "--venue-url", &url]).spawn().unwrap()
    }

    fn bot(&self, user: &str, id: &str, key: &str) {
        let file = martingale_core::config::EXAMPLE_BOT_JSON.replacen('{', "{\"venue\": \"binance\",", 1);
        let path = self.dir.path().join(format!("{id}.json"));
        std::fs::write(&path, file).unwrap();
        self.ok(&["bot", "add", path.to_str().unwrap(), "--user", user, "--id", id, "--key", key], None);
        self.ok(&["bot", "start", id, "--user", user], None);
    }

    async fn deals(&self, bot: &str) -> usize {
        let db = Db::open_dir(&self.dir.path().join("martingale-data")).await.unwrap();
        let n = records::deals(&db, None, Some(bot), None).await.unwrap().len();
        db.close().await;
        n
    }

    /// Waits until every bot has at least `n` deals recorded.
    async fn wait_deals(&self, bots: &[&str], n: usize, serve: &mut Child) {
        let t0 = Instant::now();
        for bot in bots {
            while self.deals(bot).await < n {
                assert!(serve.try_wait().unwrap().is_none(), "serve ended early");
                if t0.elapsed() > Duration::from_secs(120) {
                    let status = self.run(&["status"], None);
                    panic!("no {n} deals of {bot} after 2 minutes: {}", text(&status));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn kill(child: &mut Child, sig: &str) {
    let ok = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
}

/// Moves the fake market around 30,000 (±3 %) every 60 ms until stopped:
/// safety orders fill on the way down, take profits on the way up.
fn drive(fake: Shared, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut k = 0u32;
        while !stop.load(Ordering::SeqCst) {
            let close = 3_000_000.0 + 90_000.0 * (f64::from(k) / 6.0).sin();
            fake_binance::move_price(&mut fake.lock().unwrap(), Decimal::new(close.round() as i64, 2));
            k += 1;
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
    })
}

/// `serve`'s last line, with its live steps and price requests.
fn serve_summary(out: &Output) -> (String, u64, u64) {
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    let number = |word: &str| -> u64 {
        let at = summary.find(word).unwrap_or_else(|| panic!("{word:?} in {summary:?}"));
        summary[..at].split_whitespace().last().unwrap().parse().unwrap()
    };
    let (steps, requests) = (number("live steps"), number("price requests"));
    (summary, steps, requests)
}

/// Client order ids placed more than once on one account.
fn placed_twice(orders: &[fake_binance::Order]) -> Vec<String> {
    let mut n: HashMap<&str, usize> = HashMap::new();
    for o in orders {
        *n.entry(o.client_id()).or_default() += 1;
    }
    n.into_iter().filter(|(_, c)| *c > 1).map(|(id, _)| id.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_trade_on_a_live_venue_through_kills_without_placing_an_order_twice() {
    let mut f = fake_binance::funded();
    f.usdt = Decimal::from(1_000_000);
    f.price = Decimal::from(30_000);
    let bob_account = Fake { usdt: Decimal::from(1_000_000), ..Default::default() };
    f.others.insert(BOB_KEY.into(), (BOB_SECRET.into(), bob_account));
    let (fake, url) = fake_binance::serve(f).await;
    let master = MasterKey::generate().to_base64().expose().to_string();
    let s = Setup { dir: tempfile::tempdir().unwrap(), master, url };

    s.ok(&["user", "add", "alice"], None);
    s.ok(&["user", "add", "bob"], None);
    // Keys come from stdin, never from the command line.
    s.ok(&["keys", "add", "main", "--user", "alice", "--venue", "binance"], Some(&format!("{KEY}\n{SECRET}\n")));
    s.ok(&["keys", "add", "bk", "--user", "bob", "--venue", "binance"], Some(&format!("{BOB_KEY}\n{BOB_SECRET}\n")));
    let url = format!("binance={}", s.url);
    let works = s.ok(&["keys", "test", "main", "--user", "alice", "--venue-url", &url], None);
    assert!(works.contains("works on binance") && works.contains("USDT 1000000"), "{works}");
    let listed = s.ok(&["keys", "list", "--user", "alice"], None);
    assert!(listed.contains("main") && listed.contains("binance") && !listed.contains(KEY), "{listed}");
    // Bad input: a clear error, nothing written.
    s.fails(&["keys", "add", "x", "--user", "alice", "--venue", "binance"], Some("only-one-line\n"), "one per line");
    s.fails(
        &["keys", "add", "x", "--user", "nobody", "--venue", "binance"],
        Some("a\nb\n"),
        "user \"nobody\" not found",
    );
    s.fails(&["keys", "add", "x", "--user", "alice", "--venue", "nasdaq"], Some("a\nb\n"), "--venue");
    s.fails(&["keys", "test", "bk", "--user", "alice", "--venue-url", &url], None, "key \"bk\" not found");
    let wrong = MasterKey::generate().to_base64().expose().to_string();
    let out =
        s.cmd(&["keys", "test", "main", "--user", "alice"]).env("MARTINGALE_MASTER_KEY", &wrong).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("master key does not open"), "{}", text(&out));
    let file = s.dir.path().join("b.json");
    std::fs::write(&file, martingale_core::config::EXAMPLE_BOT_JSON.replacen('{', "{\"venue\": \"binance\",", 1))
        .unwrap();
    let f = file.to_str().unwrap();
    // Another user's key is "not found", as if it did not exist.
    s.fails(&["bot", "add", f, "--user", "bob", "--id", "x1", "--key", "main"], None, "key \"main\" not found");
    s.fails(&["bot", "add", f, "--user", "bob", "--id", "x1"], None, "needs an API key");
    let keyless = s.ok(&["keys", "list", "--user", "alice"], None);
    assert_eq!(keyless.lines().count(), 2, "{keyless}");

    s.bot("alice", "a1", "main");
    s.bot("bob", "b1", "bk");
    let stop = Arc::new(AtomicBool::new(false));
    let driver = drive(fake.clone(), stop.clone());
    let mut serve = s.serve();
    s.wait_deals(&["a1", "b1"], 1, &mut serve).await;
    // Killed mid-run (a deal open, orders resting), twice, then started again.
    for round in 2..=3 {
        kill(&mut serve, "-KILL");
        serve.wait().unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        serve = s.serve();
        s.wait_deals(&["a1", "b1"], round, &mut serve).await;
    }
    // A close request on one bot while the other keeps trading.
    // The request may land between two deals ("no open deal to close"):
    // then it is asked again until it closes one.
    let t0 = Instant::now();
    'close: loop {
        s.ok(&["bot", "close", "b1", "--user", "bob"], None);
        loop {
            let show = s.ok(&["bot", "show", "b1", "--user", "bob"], None);
            let request = show.lines().find(|l| l.contains("request close: ")).unwrap_or("").to_string();
            assert!(t0.elapsed() < Duration::from_secs(30), "{show}");
            if request.ends_with("closing the open deal") {
                break 'close;
            }
            if request.ends_with("no open deal to close") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A settings change of the other bot while it trades: its take profit
    // applies at once (the resting take-profit order is re-priced).
    let changed = martingale_core::config::EXAMPLE_BOT_JSON
        .replacen('{', "{\"venue\": \"binance\",", 1)
        .replace("\"percent\": \"1.5\"", "\"percent\": \"2.5\"");
    let path = s.dir.path().join("a1-changed.json");
    std::fs::write(&path, changed).unwrap();
    s.ok(&["bot", "set", path.to_str().unwrap(), "a1", "--user", "alice"], None);
    let t0 = Instant::now();
    loop {
        let show = s.ok(&["bot", "show", "a1", "--user", "alice"], None);
        if show.contains("applied at once: take_profit") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{show}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let a_before = s.deals("a1").await;
    s.wait_deals(&["a1"], a_before + 1, &mut serve).await;
    // The market stops; the service sees the last fills, then stops.
    stop.store(true, Ordering::SeqCst);
    driver.await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    kill(&mut serve, "-TERM");
    let out = serve.wait_with_output().unwrap();
    assert!(out.status.success(), "serve: {}", text(&out));

    // No client order id reached the venue twice; each user's orders are
    // on that user's own account.
    let (alice_orders, bob_orders, venue_price_requests) = {
        let f = fake.lock().unwrap();
        (f.orders.clone(), f.others[BOB_KEY].1.orders.clone(), f.price_requests)
    };
    let bob_orders = &bob_orders;
    assert!(placed_twice(&alice_orders).is_empty(), "alice: {:?}", placed_twice(&alice_orders));
    assert!(placed_twice(bob_orders).is_empty(), "bob: {:?}", placed_twice(bob_orders));
    assert!(alice_orders.iter().all(|o| o.client_id().contains("a1")), "alice's account holds only a1's orders");
    assert!(bob_orders.iter().all(|o| o.client_id().contains("b1")), "bob's account holds only b1's orders");
    assert!(alice_orders.len() >= 6 && bob_orders.len() >= 6, "{} / {}", alice_orders.len(), bob_orders.len());
    // One price request per interval for the two bots on BTCUSDT, not one per bot.
    let (summary, steps, price_requests) = serve_summary(&out);
    assert!(steps > 20 && price_requests * 2 <= steps + 2, "{summary}");
    assert!(venue_price_requests >= price_requests as usize);
    // The database's orders and fills are the venue's: every order placed
    // is recorded under its client order id, filled as far as the venue
    // filled it; each fill stored once.
    let db = Db::open_dir(&s.dir.path().join("martingale-data")).await.unwrap();
    for (user, bot, venue_orders) in [("alice", "a1", &alice_orders), ("bob", "b1", bob_orders)] {
        let stored = martingale_service::journal::orders(&db, Some(user), Some(bot), None).await.unwrap();
        let by_id: HashMap<&str, &martingale_service::journal::StoredOrder> =
            stored.iter().map(|o| (o.client_order_id.as_str(), o)).collect();
        for o in venue_orders.iter() {
            let row = by_id.get(o.client_id()).unwrap_or_else(|| panic!("{} not in the database", o.client_id()));
            assert_eq!(row.filled, o.filled(), "{}: filled on the venue vs recorded", o.client_id());
        }
        assert_eq!(stored.len(), venue_orders.len(), "{bot}: every recorded order reached the venue");
        let fills = martingale_service::journal::fills(&db, Some(user), Some(bot), None).await.unwrap();
        let filled: Decimal = fills.iter().map(|f| f.quantity).sum();
        let venue_filled: Decimal = venue_orders.iter().map(fake_binance::Order::filled).sum();
        assert_eq!(filled, venue_filled, "{bot}: the fills stored add up to the venue's");
        let audit = martingale_service::journal::audit(&db, user, bot, 100_000).await.unwrap();
        assert!(audit.iter().any(|l| l.contains("\"place\"")), "{bot}: audit lines of placements");
    }
    // Scoped by user: alice sees none of bob's.
    assert!(martingale_service::journal::orders(&db, Some("alice"), Some("b1"), None).await.unwrap().is_empty());
    db.close().await;
    let status = s.ok(&["status"], None);
    // No bot is left with an error (the last column).
    assert!(status.lines().skip(1).all(|l| l.ends_with(" -")), "{status}");
    let closed = s.ok(&["deals", "--bot", "b1", "--user", "bob"], None);
    assert!(closed.contains("close_now") || closed.contains("manual"), "the close request closed a deal: {closed}");
    // The database holds the keys sealed, never in clear.
    for file in std::fs::read_dir(s.dir.path().join("martingale-data")).unwrap() {
        let path = file.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for secret in [SECRET, BOB_SECRET, BOB_KEY] {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{secret} in clear in {}", path.display());
        }
    }
}

/// Paper bots on a live venue's prices (`serve --paper-prices-from`): the
/// fake Binance serves the ticker, the bots' orders stay on their paper
/// accounts (none reaches the venue), both bots share one price read per
/// interval, and a SIGKILL mid-run loses nothing (the paper accounts are
/// rebuilt from the last checkpoints).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paper_bots_trade_on_live_prices_and_place_nothing_on_the_venue() {
    let mut f = fake_binance::funded();
    f.price = Decimal::from(30_000);
    let (fake, url) = fake_binance::serve(f).await;
    let master = MasterKey::generate().to_base64().expose().to_string();
    let s = Setup { dir: tempfile::tempdir().unwrap(), master, url };
    s.ok(&["user", "add", "carol"], None);
    let path = s.dir.path().join("paper.json");
    std::fs::write(&path, martingale_core::config::EXAMPLE_BOT_JSON).unwrap();
    for id in ["p1", "p2"] {
        s.ok(&["bot", "add", path.to_str().unwrap(), "--user", "carol", "--id", id], None);
        s.ok(&["bot", "start", id, "--user", "carol"], None);
    }
    let venue = format!("binance={}", s.url);
    let args = ["serve", "--interval-ms", "40", "--venue-url", &venue, "--paper-prices-from", "binance"];
    // Bad input: a price file and live prices at once; a venue that has none.
    let out = s.run(&["serve", "--prices", "x.csv", "--paper-prices-from", "binance"], None);
    assert!(!out.status.success() && text(&out).contains("cannot be used with"), "{}", text(&out));
    let out = s.run(&["serve", "--paper-prices-from", "paper"], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--paper-prices-from \"paper\": a live venue"), "{}", text(&out));

    let stop = Arc::new(AtomicBool::new(false));
    let driver = drive(fake.clone(), stop.clone());
    let mut serve = s.cmd(&args).spawn().unwrap();
    s.wait_deals(&["p1", "p2"], 2, &mut serve).await;
    kill(&mut serve, "-KILL");
    serve.wait().unwrap();
    let mut serve = s.cmd(&args).spawn().unwrap();
    s.wait_deals(&["p1", "p2"], 4, &mut serve).await;
    stop.store(true, Ordering::SeqCst);
    driver.await.unwrap();
    kill(&mut serve, "-TERM");
    let out = serve.wait_with_output().unwrap();
    assert!(out.status.success(), "serve: {}", text(&out));

    let (summary, steps, price_requests) = serve_summary(&out);
    assert!(steps > 20 && price_requests * 2 <= steps + 4, "{summary}");
    {
        let f = fake.lock().unwrap();
        assert!(f.orders.is_empty(), "paper bots placed {} orders on the venue", f.orders.len());
        assert!(f.price_requests >= price_requests as usize);
    }
    // The deals are on the driven market (29,100..30,900), each take
    // profit with a profit; numbered without a gap through the kill.
    let db = Db::open_dir(&s.dir.path().join("martingale-data")).await.unwrap();
    for bot in ["p1", "p2"] {
        let deals = records::deals(&db, Some("carol"), Some(bot), None).await.unwrap();
        assert!(deals.len() >= 4, "{bot}: {} deals", deals.len());
        for (i, d) in deals.iter().enumerate() {
            let r = &d.report;
            assert_eq!(r.number as usize, i + 1, "{bot}: deal numbers");
            let exit = r.exit_price.expect("an exit price");
            assert!(exit > Decimal::from(29_000) && exit < Decimal::from(31_000), "{bot}: exit at {exit}");
            assert!(r.pnl > Decimal::ZERO, "{bot}: deal {} closed by {:?} at a loss", r.number, r.exit);
        }
        let fills = martingale_service::journal::fills(&db, Some("carol"), Some(bot), None).await.unwrap();
        assert!(!fills.is_empty(), "{bot}: fills journaled");
    }
    db.close().await;
    // Neither bot is left with an error (the last column).
    let status = s.ok(&["status"], None);
    assert!(status.lines().skip(1).all(|l| l.ends_with(" -")), "{status}");
}
