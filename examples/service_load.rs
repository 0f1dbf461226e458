//! Load figures of `martingale serve`: many users' paper bots on one
//! service and one database, replaying candles as fast as the service can.
//!
//! ```text
//! cargo run --release --example service_load -- [--users 100] [--bots-per-user 10] [--candles 48] [--db URL]
//! ```
//!
//! Without `--db` it uses a new SQLite file in a temporary folder. Prints
//! the wall time, bot-candles and engine events per second, the resident
//! memory per bot, the database's size per bot, and its growth per bot and
//! day at one poll per second (snapshots and statuses are replaced in
//! place; audit lines, orders, fills and deals are the rows that
//! accumulate).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use martingale_core::backtest::synthetic;
use martingale_service::bots::{self, DesiredState};
use martingale_service::serve::{serve, ServeConfig};
use martingale_service::{users, Db};
use martingale_toolkit::cli::{arg, dir_bytes, resident_bytes, run_async};
use martingale_toolkit::outln;
use rust_decimal::Decimal;

fn number(name: &str, default: usize) -> Result<usize, String> {
    arg(name).map_or(Ok(default), |v| v.parse().map_err(|e| format!("{name} {v:?}: {e}")))
}

async fn run() -> Result<(), String> {
    let (n_users, per_user, candles) =
        (number("--users", 100)?, number("--bots-per-user", 10)?, number("--candles", 48)?);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let db = match arg("--db") {
        Some(url) => Db::connect(&url).await,
        None => Db::open_dir(dir.path()).await,
    }
    .map_err(|e| e.to_string())?;
    let e = |e: martingale_service::ServiceError| e.to_string();
    let base = martingale_core::config::EXAMPLE_BOT_JSON;
    let t0 = Instant::now();
    for u in 0..n_users {
        let user = format!("user{u:03}");
        users::add(&db, &user).await.map_err(e)?;
        for b in 0..per_user {
            // Take profits from 1.0 % to 1.9 %: the bots do not trade in lockstep.
            let file = base.replace("\"percent\": \"1.5\"", &format!("\"percent\": \"1.{b}\""));
            let id = format!("u{u:03}b{b}");
            bots::add(&db, &user, &id, &file, None).await.map_err(e)?;
            bots::set_desired(&db, &user, &id, DesiredState::Running).await.map_err(e)?;
        }
    }
    let bots = n_users * per_user;
    outln!("{bots} bots of {n_users} users added in {:.1} s", t0.elapsed().as_secs_f64());
    let prices = synthetic::random_walk(11, candles, 60_000, 30_000.0, 0.004);
    let before_rss = resident_bytes();
    let cfg = ServeConfig {
        holder: format!("load:{}", std::process::id()),
        exit_at_end: true,
        ..ServeConfig::paper(Duration::from_millis(1), Some(std::sync::Arc::new(prices)), Decimal::from(100_000))
    };
    let t1 = Instant::now();
    let summary = serve(db.clone(), cfg, std::future::pending()).await.map_err(e)?;
    let secs = t1.elapsed().as_secs_f64();
    let after_rss = resident_bytes();
    let steps: i64 = sqlx_sum_events(&db).await?;
    let size = dir_bytes(dir.path());
    let bot_candles = (bots * candles) as f64;
    outln!("candles replayed      {} (+1 poll to see the end)", summary.candles);
    outln!(
        "wall time             {secs:.1} s ({:.1} ms per poll of {bots} bots)",
        secs * 1000.0 / summary.polls as f64
    );
    outln!("bot-candles per s     {:.0}", bot_candles / secs);
    outln!("engine events per s   {:.0} ({steps} events in the snapshots)", steps as f64 / secs);
    outln!("deals recorded        {}", summary.deals);
    outln!(
        "memory per bot        {:.1} KiB (resident growth while serving)",
        (after_rss.saturating_sub(before_rss)) as f64 / 1024.0 / bots as f64
    );
    let (rows, bytes) = martingale_service::journal::accumulated(&db).await.map_err(e)?;
    if arg("--db").is_none() {
        outln!(
            "database              {:.1} MiB with its WAL for {bots} bots ({:.1} KiB per bot after {} polls)",
            size as f64 / 1_048_576.0,
            size as f64 / 1024.0 / bots as f64,
            summary.polls
        );
    }
    // Snapshots, statuses and bot files are replaced in place; the audit
    // lines, orders, fills and deals accumulate.
    let per_bot_poll = bytes as f64 / bot_candles;
    outln!(
        "growth per bot, day   {:.1} MiB at one poll per second and this replay's trading ({rows} accumulating rows, {:.0} bytes per bot and poll x 86,400)",
        per_bot_poll * 86_400.0 / 1_048_576.0,
        per_bot_poll
    );
    db.close().await;
    Ok(())
}

/// Events handled by every engine (the runners' step count), from the snapshot rows.
async fn sqlx_sum_events(db: &Db) -> Result<i64, String> {
    let mut total = 0;
    for b in bots::list(db, None).await.map_err(|e| e.to_string())? {
        if let Some((_, events)) =
            martingale_service::snapshot_header(db, b.id.as_str()).await.map_err(|e| e.to_string())?
        {
            total += events;
        }
    }
    Ok(total)
}

fn main() -> ExitCode {
    run_async(run())
}
