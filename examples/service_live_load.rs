//! Load figures of `martingale serve` against a live venue: many users'
//! bots, each user with its own key and account, on the fake Binance server
//! of the exchange crate's tests (its replies copied from Binance's
//! documented examples) running in this process on 127.0.0.1.
//!
//! ```text
//! cargo run --release --example service_live_load -- [--users 100] [--bots-per-user 10] [--seconds 30] [--db URL]
//! ```
//!
//! The fake market swings ±3 % around 30,000 every ~4 s (a very busy
//! market: the bots trade all the time); the service polls as fast as it
//! can. Prints polls, bot steps per second, price requests and venue
//! requests per poll (the bots of one market share one price request),
//! resident memory per bot, the database's size and its growth per bot and
//! day at this market's pace.

#[path = "../martingale-exchange/tests/common/documented.rs"]
mod documented;
#[path = "../martingale-exchange/tests/common/fake_binance.rs"]
mod fake_binance;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use martingale_core::venue::Venue;
use martingale_exchange::{Credentials, MasterKey};
use martingale_service::bots::{self, DesiredState};
use martingale_service::keys::Keyring;
use martingale_service::serve::{serve, ServeConfig};
use martingale_service::{users, Db};
use martingale_toolkit::cli::{arg, dir_bytes, resident_bytes, run_async};
use martingale_toolkit::outln;
use rust_decimal::Decimal;

fn number(name: &str, default: usize) -> Result<usize, String> {
    arg(name).map_or(Ok(default), |v| v.parse().map_err(|e| format!("{name} {v:?}: {e}")))
}

async fn run() -> Result<(), String> {
    let (n_users, per_user, seconds) =
        (number("--users", 100)?, number("--bots-per-user", 10)?, number("--seconds", 30)?);
    let e = |e: martingale_service::ServiceError| e.to_string();
    // One account per user on the fake venue.
    let mut fake = fake_binance::funded();
    fake.price = Decimal::from(30_000);
    fake.usdt = Decimal::from(100_000_000);
    let key = |u: usize| if u == 0 { fake_binance::KEY.to_string() } else { format!("load-key-{u}") };
    let secret = |u: usize| if u == 0 { fake_binance::SECRET.to_string() } else { format!("load-secret-{u}") };
    for u in 1..n_users {
        let account = fake_binance::Fake { usdt: Decimal::from(100_000_000), ..Default::default() };
        fake.others.insert(key(u), (secret(u), account));
    }
    let (fake, url) = fake_binance::serve(fake).await;

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let db = match arg("--db") {
        Some(url) => Db::connect(&url).await,
        None => Db::open_dir(dir.path()).await,
    }
    .map_err(|e| e.to_string())?;
    let ring = Arc::new(Keyring::open(&db, &MasterKey::generate()).await.map_err(e)?);
    let base = martingale_core::config::EXAMPLE_BOT_JSON.replacen('{', "{\"venue\": \"binance\",", 1);
    let t0 = Instant::now();
    for u in 0..n_users {
        let user = format!("user{u:03}");
        users::add(&db, &user).await.map_err(e)?;
        ring.put(&user, "main", Venue::Binance, &Credentials::new(key(u), secret(u))).await.map_err(e)?;
        for b in 0..per_user {
            // Take profits from 1.0 % to 1.9 %: the bots do not trade in lockstep.
            let file = base.replace("\"percent\": \"1.5\"", &format!("\"percent\": \"1.{b}\""));
            let id = format!("u{u:03}b{b}");
            bots::add(&db, &user, &id, &file, Some("main")).await.map_err(e)?;
            bots::set_desired(&db, &user, &id, DesiredState::Running).await.map_err(e)?;
        }
    }
    let bots = n_users * per_user;
    outln!("{bots} bots of {n_users} users (one key and account each) added in {:.1} s", t0.elapsed().as_secs_f64());

    let stop = Arc::new(AtomicBool::new(false));
    let market = {
        let (fake, stop) = (fake.clone(), stop.clone());
        tokio::spawn(async move {
            let mut k = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let close = 3_000_000.0 + 90_000.0 * (f64::from(k) / 6.0).sin();
                if let Ok(mut f) = fake.lock() {
                    fake_binance::move_price(&mut f, Decimal::new(close.round() as i64, 2));
                }
                k += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let requests_before = fake.lock().map_err(|_| "fake venue lock")?.requests;
    let before_rss = resident_bytes();
    let cfg = ServeConfig {
        holder: format!("live-load:{}", std::process::id()),
        keys: Some(ring),
        venue_urls: HashMap::from([(Venue::Binance, url)]),
        ..ServeConfig::paper(Duration::from_millis(1), None, Decimal::from(100_000))
    };
    let t1 = Instant::now();
    let summary = serve(db.clone(), cfg, tokio::time::sleep(Duration::from_secs(seconds as u64))).await.map_err(e)?;
    let secs = t1.elapsed().as_secs_f64();
    let after_rss = resident_bytes();
    stop.store(true, Ordering::SeqCst);
    let _ = market.await;
    let (requests, price_requests) = {
        let f = fake.lock().map_err(|_| "fake venue lock")?;
        (f.requests - requests_before, f.price_requests)
    };
    let polls = summary.polls.max(1) as f64;
    outln!(
        "wall time             {secs:.1} s, {} polls ({:.0} ms per poll of {bots} bots)",
        summary.polls,
        secs * 1000.0 / polls
    );
    outln!("bot steps per s       {:.0} ({} steps)", summary.live_steps as f64 / secs, summary.live_steps);
    outln!(
        "price requests        {:.2} per poll ({} in all; one market, so 1 per poll is the target, not {bots})",
        summary.price_requests as f64 / polls,
        summary.price_requests
    );
    outln!("venue requests        {:.0} per poll (orders, fills, queries, prices; {requests} in all, {price_requests} ticker reads)", requests as f64 / polls);
    outln!("deals recorded        {}", summary.deals);
    outln!(
        "memory per bot        {:.1} KiB (resident growth while serving, the fake venue's books included)",
        (after_rss.saturating_sub(before_rss)) as f64 / 1024.0 / bots as f64
    );
    let (rows, bytes) = martingale_service::journal::accumulated(&db).await.map_err(e)?;
    if arg("--db").is_none() {
        outln!(
            "database              {:.1} MiB with its WAL ({:.1} KiB per bot)",
            dir_bytes(dir.path()) as f64 / 1_048_576.0,
            dir_bytes(dir.path()) as f64 / 1024.0 / bots as f64
        );
    }
    outln!(
        "growth per bot, day   {:.1} MiB at this market's pace ({rows} accumulating rows in {secs:.0} s; quiet polls write nothing)",
        bytes as f64 / bots as f64 / secs * 86_400.0 / 1_048_576.0
    );
    db.close().await;
    Ok(())
}

fn main() -> ExitCode {
    run_async(run())
}
