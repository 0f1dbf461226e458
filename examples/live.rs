//! Runs a bot live on Binance, Bybit, OKX or CoinDCX with the runner.
//!
//! ```text
//! BINANCE_API_KEY=... BINANCE_SECRET_KEY=... \
//!   cargo run --release --example live -- --config BOT.json [--venue binance] [--testnet] [--state DIR] [--poll-secs 5]
//! OKX_API_KEY=... OKX_SECRET_KEY=... OKX_PASSPHRASE=... cargo run --release --example live -- --config BOT.json --venue okx
//! cargo run --release --example live -- --config BOT.json --secrets keys.json   # {"api_key", "secret_key"[, "passphrase"]}
//! ```
//!
//! The venue is `--venue`, else the bot file's `"venue"`, else Binance; keys
//! come from `<VENUE>_API_KEY`, `<VENUE>_SECRET_KEY` (and
//! `<VENUE>_PASSPHRASE` for OKX) or a secrets file. The bot file's
//! `market.symbol` may be `BTC/USDT` (mapped to the venue's id) or the
//! venue's own id. State (engine
//! snapshot, audit log) goes to `--state` (default `./state`); after a
//! crash or a restart the runner reconciles with the exchange by client
//! order id and continues. Ctrl-C or SIGTERM stops it gracefully and
//! promptly, also in the middle of a step that waits on a rate limit
//! (resting orders are kept; `--cancel-on-exit` cancels them); every step
//! is cut off after `--step-timeout-secs` (default 30). A second `live` on
//! the same `--state` and bot id refuses to start. Keys never appear in
//! logs or errors. This environment has no network, so this example is
//! exercised through the fake-server tests of `martingale-exchange`.

use martingale_toolkit::outln;
use std::process::ExitCode;

use martingale_toolkit::cli::{arg, flag, run_async};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use martingale_core::config::BotFile;
use martingale_core::engine::{BotId, Command, Mode};
use martingale_core::venue::Venue;
use martingale_exchange::{
    connect, AuditLog, Credentials, JsonFileStore, Runner, RunnerConfig, Secret, StateStore, VenueOptions,
};

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn keys(venue: Venue) -> Result<Credentials, String> {
    if let Some(path) = arg("--secrets") {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| format!("{path}: not JSON"))?;
        let get = |k: &str| v.get(k).and_then(|s| s.as_str()).map(Secret::new);
        let need = |k: &str| get(k).ok_or(format!("{path}: missing {k}"));
        return Ok(Credentials {
            api_key: need("api_key")?,
            secret_key: need("secret_key")?,
            passphrase: get("passphrase"),
        });
    }
    let prefix = venue.to_string().to_uppercase();
    let env = |k: &str| std::env::var(format!("{prefix}_{k}")).map(Secret::new);
    let need = |k: &str| env(k).map_err(|_| format!("{prefix}_{k} is not set"));
    Ok(Credentials { api_key: need("API_KEY")?, secret_key: need("SECRET_KEY")?, passphrase: env("PASSPHRASE").ok() })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

async fn run() -> Result<(), String> {
    let path = arg("--config").ok_or("--config BOT.json is required")?;
    let bot = BotFile::from_str(&std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?)
        .map_err(|e| e.to_string())?;
    let venue: Venue = match arg("--venue") {
        Some(v) => v.parse().map_err(|e: martingale_core::venue::SymbolError| e.to_string())?,
        None => bot.venue.unwrap_or(Venue::Binance),
    };
    if venue == Venue::Paper {
        return Err("paper trading: use `cargo run --example paper`".into());
    }
    let written = bot.market.symbol.clone().ok_or("the bot file needs market.symbol")?;
    let symbol = venue.resolve(&written).map_err(|e| e.to_string())?;
    let opts = VenueOptions { testnet: flag("--testnet"), base_url: arg("--base-url") };
    let venue_api = connect(venue, Some(keys(venue)?), None, &opts).map_err(|e| e.to_string())?;
    // The exchange's rules, not the file's, decide what is valid.
    let rules = venue_api.market_rules(&symbol).await.map_err(|e| e.to_string())?;
    let bot = BotFile { market: rules, ..bot };
    let state = std::path::PathBuf::from(arg("--state").unwrap_or_else(|| "state".into()));
    let store: Arc<dyn StateStore> = Arc::new(JsonFileStore::new(&state).map_err(|e| e.to_string())?);
    let id = BotId::new(arg("--bot-id").unwrap_or_else(|| format!("{venue}-bot"))).map_err(|e| e.to_string())?;
    let audit = Arc::new(AuditLog::open(state.join(format!("{id}.jsonl"))).map_err(|e| e.to_string())?);
    let cfg =
        RunnerConfig { account: "me".into(), symbol: symbol.clone(), cancel_on_shutdown: flag("--cancel-on-exit") };
    let poll = Duration::from_secs(arg("--poll-secs").and_then(|s| s.parse().ok()).unwrap_or(5));
    // A step (and the rate-limit waits inside it) never runs longer than
    // this; an abandoned step is recovered by the next one.
    let step_limit = Duration::from_secs(arg("--step-timeout-secs").and_then(|s| s.parse().ok()).unwrap_or(30));
    let mut runner = Runner::builder(id, &bot, venue_api, store)
        .audit(audit)
        .config(cfg)
        .time(now())
        .step_timeout(step_limit)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    if runner.engine().mode() != Mode::Running {
        runner.command(now(), Command::Start).await.map_err(|e| e.to_string())?;
    }
    outln!("running on {venue} {symbol}; state in {}", state.display());
    let stop = shutdown_signal();
    tokio::pin!(stop);
    // Bots sharing a key poll at different points of the interval.
    tokio::select! {
        _ = &mut stop => return shut_down(runner).await,
        _ = tokio::time::sleep(martingale_exchange::stagger(runner.engine().bot_id(), poll)) => {}
    }
    loop {
        // The signal is watched during the step too (a step waiting on a
        // rate limit stops at once; dropping it is a crash at that point,
        // which the next start recovers by client order id).
        tokio::select! {
            _ = &mut stop => break,
            r = runner.step(now()) => {
                if let Err(e) = r {
                    eprintln!("step failed: {e} (retrying next poll)");
                }
                for d in runner.take_closed() {
                    outln!("deal #{} closed by {:?}: P&L {}", d.number, d.exit, d.pnl.round_dp(4));
                }
            }
        }
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(poll) => {}
        }
    }
    shut_down(runner).await
}

async fn shut_down(mut runner: Runner<dyn martingale_exchange::Exchange>) -> Result<(), String> {
    // A shutdown that cannot reach the venue gives up after a while; the
    // state is persisted either way before each action.
    match tokio::time::timeout(Duration::from_secs(30), runner.shutdown(now())).await {
        Ok(r) => r.map_err(|e| e.to_string())?,
        Err(_) => eprintln!("shutdown: the venue did not answer within 30 s; state kept, orders left as they are"),
    }
    outln!("stopped");
    Ok(())
}

fn main() -> ExitCode {
    run_async(run())
}
