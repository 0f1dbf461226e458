//! Signal fan-out end to end: the real `martingale` binary and the fake
//! Binance server (in this test process, on 127.0.0.1). 100 users, each
//! with their own key and account on the fake venue, follow two
//! strategies with 10 bots each (5 per strategy, different capitals):
//! 1,000 subscriptions. One entry signal per strategy; `serve` is killed
//! with SIGKILL in the middle of the fan-out and started again. Then:
//! every active subscriber's entry is on its own user's account exactly
//! once, sized as the library's `SubscriberBook` sizes it; paused and
//! unsubscribed bots got nothing; the market fills the entries, reaches
//! one strategy's take profit (those trades close, nothing to cancel)
//! and the other's stop (the service cancels the take profit and closes
//! by market); the trades table says so with exact P&L.

#[path = "../martingale-exchange/tests/common/documented.rs"]
mod documented;
#[path = "../martingale-exchange/tests/common/fake_binance.rs"]
mod fake_binance;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use fake_binance::{Fake, Shared};
use martingale_core::fleet::fanout::{Allocation, EntryType, Signal, Sizing, Subscriber, SubscriberBook, TradeState};
use martingale_core::fleet::EngineKey;
use martingale_core::sizing::RiskSizing;
use martingale_core::venue::Venue;
use martingale_core::Side;
use martingale_exchange::{Credentials, MasterKey, VenueOptions};
use martingale_service::fanout::{self, trades};
use martingale_service::keys::Keyring;
use martingale_service::{users, Db};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const BIN: &str = env!("CARGO_BIN_EXE_martingale");
const USERS: usize = 100;
const BOTS_PER_STRATEGY: usize = 5;

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

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(out.status.success(), "martingale {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn fails(&self, args: &[&str], says: &str) {
        let out = self.cmd(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "martingale {args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "martingale {args:?}: {} should say {says:?}", text(&out));
    }

    fn serve(&self) -> Child {
        let url = format!("binance={}", self.url);
        self.cmd(&["serve", "--interval-ms", "50", "--venue-url", &url]).stdout(Stdio::null()).spawn().unwrap()
    }

    async fn db(&self) -> Db {
        Db::open_dir(&self.dir.path().join("martingale-data")).await.unwrap()
    }

    /// Waits until `done` holds of the trades (every user's).
    async fn wait_trades(&self, what: &str, serve: &mut Child, done: impl Fn(&[trades::TradeRow]) -> bool) {
        let t0 = Instant::now();
        loop {
            let db = self.db().await;
            let rows = trades::list(&db, None, None).await.unwrap();
            db.close().await;
            if done(&rows) {
                return;
            }
            if serve.try_wait().unwrap().is_some() {
                let mut err = String::new();
                if let Some(mut e) = serve.stderr.take() {
                    std::io::Read::read_to_string(&mut e, &mut err).unwrap();
                }
                panic!("serve ended early: {err}");
            }
            assert!(t0.elapsed() < Duration::from_secs(120), "{what}: not after 2 minutes");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn user(u: usize) -> String {
    format!("u{u:02}")
}
fn api_key(u: usize) -> String {
    format!("key-{u:02}-x81")
}
fn secret(u: usize) -> String {
    format!("secret-{u:02}-q7p")
}
/// Bot `k` of user `u`: bots 0..5 follow `up`, 5..10 `dn`.
fn bot(u: usize, k: usize) -> String {
    format!("u{u:02}b{k}")
}
fn capital(u: usize, k: usize) -> Decimal {
    Decimal::from(1000 + 37 * u + 450 * k)
}
fn sizing(u: usize, k: usize) -> Sizing {
    Sizing::Risk(RiskSizing { capital: capital(u, k), risk_per_trade: dec!(0.01), leverage: dec!(1) })
}

fn signal(stop: Decimal, tp: Decimal) -> Signal {
    Signal {
        seq: 1,
        time: 0,
        side: Side::Long,
        entry: dec!(30000),
        entry_type: EntryType::Limit,
        stop_loss: Some(stop),
        take_profit: Some(tp),
    }
}

/// Every account's orders: user -> orders.
fn accounts(fake: &Shared) -> HashMap<String, Vec<fake_binance::Order>> {
    let f = fake.lock().unwrap();
    (0..USERS).map(|u| (user(u), f.others[&api_key(u)].1.orders.clone())).collect()
}

fn count(fake: &Shared, role: &str, status: &str) -> usize {
    accounts(fake).values().flatten().filter(|o| o.client_id().contains(role) && o.status() == status).count()
}

async fn wait_venue(fake: &Shared, serve: &mut Child, what: &str, done: impl Fn(&Shared) -> bool) {
    let t0 = Instant::now();
    while !done(fake) {
        assert!(serve.try_wait().unwrap().is_none(), "serve ended early");
        assert!(t0.elapsed() < Duration::from_secs(120), "{what}: not after 2 minutes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_subscribers_follow_two_strategies_through_a_kill() {
    let started = Instant::now();
    let mut f = Fake { price: dec!(30000.5), ..Default::default() };
    for u in 0..USERS {
        let account = Fake { usdt: Decimal::from(1_000_000), ..Default::default() };
        f.others.insert(api_key(u), (secret(u), account));
    }
    let (fake, url) = fake_binance::serve(f).await;
    let master = MasterKey::generate().to_base64().expose().to_string();
    let s = Setup { dir: tempfile::tempdir().unwrap(), master: master.clone(), url: url.clone() };

    // The owner and the strategies through the program.
    s.ok(&["user", "add", "owner"]);
    s.ok(&["strategy", "add", "up", "--user", "owner", "--venue", "binance", "--symbol", "BTC/USDT"]);
    s.ok(&["strategy", "add", "dn", "--user", "owner", "--venue", "binance", "--symbol", "BTC/USDT"]);
    // 100 users with their own keys; user 0 subscribes through the program,
    // the others through the library (1,000 program runs would be slow).
    s.ok(&["user", "add", &user(0)]);
    let out = s.cmd(&["keys", "add", "k", "--user", &user(0), "--venue", "binance"]).stdin(Stdio::piped()).spawn();
    let mut child = out.unwrap();
    child.stdin.take().unwrap().write_all(format!("{}\n{}\n", api_key(0), secret(0)).as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    for k in 0..2 * BOTS_PER_STRATEGY {
        let strategy = if k < BOTS_PER_STRATEGY { "up" } else { "dn" };
        let cap = capital(0, k).to_string();
        s.ok(&[
            "subscribe",
            strategy,
            "--user",
            &user(0),
            "--key",
            "k",
            "--bot",
            &bot(0, k),
            "--risk",
            "0.01",
            "--capital",
            &cap,
        ]);
    }
    {
        let db = s.db().await;
        let ring = Keyring::open(&db, &MasterKey::parse(&master).unwrap()).await.unwrap();
        for u in 1..USERS {
            users::add(&db, &user(u)).await.unwrap();
            ring.put(&user(u), "k", Venue::Binance, &Credentials::new(api_key(u), secret(u))).await.unwrap();
            for k in 0..2 * BOTS_PER_STRATEGY {
                let strategy = if k < BOTS_PER_STRATEGY { "up" } else { "dn" };
                fanout::subscribe(&db, &user(u), strategy, &bot(u, k), "k", sizing(u, k)).await.unwrap();
            }
        }
        db.close().await;
    }
    // Paused: one bot of u01, every `up` bot of u02; unsubscribed: u03's
    // bot 7. Another user's subscription is "not found".
    s.ok(&["subscription", "pause", "up", "--user", "u01", "--bot", &bot(1, 0)]);
    s.ok(&["subscription", "pause", "up", "--user", "u02"]);
    s.ok(&["subscription", "rm", "dn", "--user", "u03", "--bot", &bot(3, 7)]);
    s.fails(&["subscription", "pause", "up", "--user", "u04", "--bot", &bot(5, 0)], "not found");
    s.fails(&["strategy", "signal", "up", "--user", "u04", "--side", "long", "--entry", "30000"], "not found");
    s.fails(
        &["strategy", "signal", "up", "--user", "owner", "--side", "long", "--entry", "30000", "--stop", "30100"],
        "stop",
    );
    let inactive = |u: usize, k: usize| (u == 1 && k == 0) || (u == 2 && k < BOTS_PER_STRATEGY) || (u == 3 && k == 7);

    // What each bot's entry must be: the library's sizing on the venue's rules.
    let options = VenueOptions { base_url: Some(url.clone()), ..VenueOptions::default() };
    let public = martingale_exchange::connect(Venue::Binance, None, None, &options).unwrap();
    let rules = public.market_rules("BTCUSDT").await.unwrap();
    let (up, dn) = (signal(dec!(29500), dec!(30300)), signal(dec!(29700), dec!(31000)));
    let mut expected: HashMap<String, Decimal> = HashMap::new();
    for (sig, ks) in [(&up, 0..BOTS_PER_STRATEGY), (&dn, BOTS_PER_STRATEGY..2 * BOTS_PER_STRATEGY)] {
        let mut book = SubscriberBook::new();
        for u in 0..USERS {
            for k in ks.clone() {
                let key = EngineKey::parse(&user(u), &bot(u, k)).unwrap();
                let sub = Subscriber { key, rules: rules.clone(), sizing: sizing(u, k), paused: inactive(u, k) };
                book.subscribe(sub).unwrap();
            }
        }
        for (sub, alloc) in book.subscribers().iter().zip(book.fan_out(sig).unwrap()) {
            if let Ok(Allocation::Single { entry, .. }) = alloc {
                expected.insert(entry.client_order_id.to_string(), entry.quantity);
                assert_eq!(entry.client_order_id.as_str(), format!("{}-1-b-0", sub.key.bot));
            }
        }
    }
    let active = USERS * 2 * BOTS_PER_STRATEGY - 7;
    assert_eq!(expected.len(), active);

    s.ok(&[
        "strategy",
        "signal",
        "up",
        "--user",
        "owner",
        "--side",
        "long",
        "--entry",
        "30000",
        "--stop",
        "29500",
        "--take-profit",
        "30300",
    ]);
    s.ok(&[
        "strategy",
        "signal",
        "dn",
        "--user",
        "owner",
        "--side",
        "long",
        "--entry",
        "30000",
        "--stop",
        "29700",
        "--take-profit",
        "31000",
    ]);
    let mut serve = s.serve();
    // Killed in the middle of the fan-out, then started again.
    wait_venue(&fake, &mut serve, "300 entries", |f| count(f, "-b-", "NEW") >= 300).await;
    serve.kill().unwrap();
    serve.wait().unwrap();
    let at_kill = count(&fake, "-b-", "NEW");
    serve = s.serve();
    wait_venue(&fake, &mut serve, "every entry", |f| count(f, "-b-", "NEW") == active).await;
    println!("fan-out of {active} entries (killed at {at_kill}) after {:?}", started.elapsed());

    // Every active bot's entry once, on its own user's account, sized by the library.
    for (name, orders) in accounts(&fake) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for o in &orders {
            *seen.entry(o.client_id()).or_default() += 1;
            assert!(o.client_id().starts_with(&format!("{name}b")), "{} on {name}'s account", o.client_id());
        }
        assert!(seen.values().all(|&n| n == 1), "{name}: an order placed twice: {seen:?}");
    }
    {
        let placed = accounts(&fake);
        let by_id: std::collections::HashSet<String> =
            placed.values().flatten().map(|o| o.client_id().to_string()).collect();
        assert_eq!(by_id.len(), active);
        let db = s.db().await;
        let rows = trades::list(&db, None, None).await.unwrap();
        db.close().await;
        assert_eq!(rows.len(), active, "paused and unsubscribed bots have no trade");
        for r in &rows {
            let id = r.trade.entry.order.client_order_id.to_string();
            assert_eq!(Some(&r.quantity()), expected.get(&id), "{id}: the library's size");
            assert!(by_id.contains(&id));
        }
    }

    // The market: entries fill (half, then the rest), take profits rest.
    fake_binance::move_price(&mut fake.lock().unwrap(), dec!(29990));
    fake_binance::move_price(&mut fake.lock().unwrap(), dec!(29980));
    wait_venue(&fake, &mut serve, "every take profit resting", |f| count(f, "-tp-", "NEW") == active).await;
    // `up`'s take profit is reached: those trades close, nothing to cancel.
    fake_binance::move_price(&mut fake.lock().unwrap(), dec!(30300));
    fake_binance::move_price(&mut fake.lock().unwrap(), dec!(30310));
    let ups = expected.keys().filter(|id| id[4..5].parse::<usize>().unwrap() < BOTS_PER_STRATEGY).count();
    s.wait_trades("up closed", &mut serve, |rows| {
        rows.iter().filter(|r| r.strategy == "up" && r.trade.state == TradeState::Closed).count() == ups
    })
    .await;
    // `dn`'s stop is reached: its take profits are canceled, closes by market.
    fake_binance::move_price(&mut fake.lock().unwrap(), dec!(29650));
    s.wait_trades("dn closed", &mut serve, |rows| rows.iter().all(|r| r.trade.state == TradeState::Closed)).await;
    serve.kill().unwrap();
    serve.wait().unwrap();

    let db = s.db().await;
    let rows = trades::list(&db, None, None).await.unwrap();
    let venue = accounts(&fake);
    assert_eq!(rows.len(), active);
    let status = |id: &str| -> (String, Decimal) {
        let o = venue.values().flatten().find(|o| o.client_id() == id).unwrap_or_else(|| panic!("{id} not placed"));
        (o.status().to_string(), o.filled())
    };
    for r in &rows {
        let t = &r.trade;
        let q = r.quantity();
        assert_eq!((t.filled(), t.exited()), (q, q), "{}", t.bot);
        let tp = format!("{}-1-tp-0", t.bot);
        let sl = format!("{}-1-sl-0", t.bot);
        if r.strategy == "up" {
            assert_eq!(status(&tp), ("FILLED".into(), q));
            assert!(venue.values().flatten().all(|o| o.client_id() != sl));
            // Bought at 30000, sold at 30300.
            assert_eq!(t.pnl(), Some(q * dec!(300)), "{}", t.bot);
        } else {
            assert_eq!(status(&tp), ("CANCELED".into(), Decimal::ZERO), "{}: the other side canceled", t.bot);
            assert_eq!(status(&sl), ("FILLED".into(), q));
            // Sold by market at 29650.
            assert_eq!(t.pnl(), Some(q * dec!(-350)), "{}", t.bot);
        }
        assert_eq!(r.last_error, None);
    }
    // Scoped by user in the program too.
    let mine = s.ok(&["trades", "--user", "u05", "--strategy", "dn"]);
    assert_eq!(mine.lines().count(), 1 + BOTS_PER_STRATEGY, "{mine}");
    assert!(mine.lines().skip(1).all(|l| l.contains("u05") && l.contains("closed")), "{mine}");
    db.close().await;

    // A second `up` signal entered by market, then the strategy's exit
    // signal: take profits canceled, every position closed by market.
    let mut serve = s.serve();
    s.ok(&[
        "strategy",
        "signal",
        "up",
        "--user",
        "owner",
        "--side",
        "long",
        "--entry",
        "29650",
        "--stop",
        "29000",
        "--take-profit",
        "31000",
        "--market",
    ]);
    s.wait_trades("second signal open", &mut serve, |rows| {
        let second: Vec<_> = rows.iter().filter(|r| r.trade.seq == 2).collect();
        second.len() == ups && second.iter().all(|r| r.trade.take_profit_order.is_some())
    })
    .await;
    wait_venue(&fake, &mut serve, "second take profits", |f| count(f, "-2-tp-", "NEW") == ups).await;
    s.ok(&["strategy", "exit", "up", "--user", "owner"]);
    s.wait_trades("exit", &mut serve, |rows| rows.iter().all(|r| r.trade.state == TradeState::Closed)).await;
    serve.kill().unwrap();
    serve.wait().unwrap();
    let db = s.db().await;
    let venue = accounts(&fake);
    for r in trades::list(&db, None, Some("up")).await.unwrap().iter().filter(|r| r.trade.seq == 2) {
        let (t, q) = (&r.trade, r.quantity());
        assert_eq!(t.reason, Some(martingale_core::fleet::fanout::ExitReason::Signal));
        let find = |id: String| venue.values().flatten().find(|o| o.client_id() == id).cloned().unwrap();
        assert_eq!(find(format!("{}-2-tp-0", t.bot)).status(), "CANCELED");
        let close = find(format!("{}-2-x-0", t.bot));
        assert_eq!((close.status(), close.filled()), ("FILLED", q));
        // Bought and sold by market at 29650.
        assert_eq!((t.exited(), t.pnl()), (q, Some(Decimal::ZERO)));
    }
    db.close().await;
    println!("whole test: {:?}", started.elapsed());
}
