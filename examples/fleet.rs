//! Runs many users' bots at once on paper and prints per-user results.
//!
//! ```text
//! cargo run --release --example fleet -- [--users 100] [--bots-per-user 10] [--candles 600]
//!                                        [--csv FILE] [--out DIR]
//! ```
//!
//! Every user gets a paper account (100,000 USDT) and `--bots-per-user`
//! bots: the example ladder with ten different deviations and take
//! profits, sized per user. One [`Supervisor`] runs them all, one task per bot, each with
//! its own adapter handle, state file and audit log; the price series (the
//! embedded seeded synthetic walk of one-minute candles, or `--csv`) is
//! replayed candle by candle, every bot stepping on every candle. At the
//! end the audit logs are replayed to print per-user and per-bot P&L, the
//! same report as `cargo run --example audit_summary -- DIR/audit`. Without
//! `--out` the files go to a temporary directory (on `/dev/shm` when there
//! is one) removed at the end.

use martingale_toolkit::outln;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use martingale_core::backtest::{synthetic, Candles};
use martingale_core::config::BotFile;
use martingale_core::engine::Candle;
use martingale_core::fleet::{AccountId, EngineKey};
use martingale_exchange::{
    AuditSummary, BotSpec, BotState, Connector, Exchange, PaperExchange, Supervisor, SupervisorConfig,
};
use martingale_toolkit::cli::{arg, run_async};
use rust_decimal::Decimal;

const EXAMPLE_BOT: &str = include_str!("bots/example.json");

/// Bot `k` of user `u`: the example ladder with its own deviation and take
/// profit, sized by the user (base order 50 to 200 USDT).
fn bot(u: usize, k: usize) -> Result<BotFile, String> {
    let mut b: BotFile = EXAMPLE_BOT.parse().map_err(|e| format!("{e}"))?;
    b.strategy.price_deviation = Some(Decimal::new(60 + 15 * (k % 10) as i64, 2));
    b.strategy.take_profit.percent = Decimal::new(50 + 10 * ((k + u) % 4) as i64, 2);
    let scale = Decimal::new(50 + 25 * (u % 7) as i64, 2);
    let too_large = || format!("bot {u}/{k}: sizes overflow when scaled by {scale}");
    b.strategy.base_order = b.strategy.base_order.checked_scaled(scale).ok_or_else(too_large)?;
    b.strategy.safety_order = match b.strategy.safety_order {
        Some(s) => Some(s.checked_scaled(scale).ok_or_else(too_large)?),
        None => None,
    };
    b.validate().map_err(|e| e.to_string())?;
    Ok(b)
}

fn number(name: &str, default: usize) -> Result<usize, String> {
    arg(name).map_or(Ok(default), |v| v.parse().map_err(|_| format!("{name} {v:?} is not a number")))
}

async fn run() -> Result<(), String> {
    let users = number("--users", 100)?;
    let per_user = number("--bots-per-user", 10)?;
    let n_candles = number("--candles", 600)?;
    let candles: Candles = match arg("--csv") {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
            Candles::from_csv(&text).map_err(|e| format!("{path}: {e}"))?
        }
        None => synthetic::random_walk(11, n_candles, 60_000, 30_000.0, 0.003),
    };
    let keep = arg("--out").is_some();
    let out = match arg("--out") {
        Some(d) => std::path::PathBuf::from(d),
        // A RAM disk when there is one: a thousand bots write their state
        // and audit lines on every candle.
        None => {
            let shm = std::path::Path::new("/dev/shm");
            let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
            base.join(format!("martingale-fleet-{}", std::process::id()))
        }
    };
    let template = bot(0, 0)?;

    // One paper account per user; all of a user's bots trade in it.
    let mut accounts: HashMap<AccountId, Arc<PaperExchange>> = HashMap::new();
    for u in 0..users {
        let account = AccountId::new(format!("user{u:04}")).map_err(|e| e.to_string())?;
        let paper = PaperExchange::builder("BTCUSDT", template.market.clone())
            .assets("BTC", "USDT")
            .fees(template.fees)
            .fill(template.fill)
            .quote_balance(Decimal::from(100_000))
            .build();
        accounts.insert(account, Arc::new(paper));
    }
    let venues = accounts.clone();
    let connect: Connector = Arc::new(move |c| {
        venues
            .get(&c.spec.key.account)
            .map(|p| p.clone() as Arc<dyn Exchange>)
            .ok_or_else(|| martingale_exchange::ExchangeError::UnknownMarket(c.spec.key.to_string()))
    });
    let cfg = SupervisorConfig {
        audit_dir: Some(out.join("audit")),
        sync_state: false,
        ..SupervisorConfig::new(out.join("state"))
    };
    let mut sup = Supervisor::new(cfg, connect, None);
    for (u, account) in accounts.keys().enumerate() {
        for k in 0..per_user {
            let key = EngineKey::new(
                account.clone(),
                martingale_core::engine::BotId::new(format!("dca{k}")).map_err(|e| e.to_string())?,
            );
            let spec = BotSpec {
                key,
                bot: bot(u, k)?,
                symbol: "BTCUSDT".into(),
                credentials: None,
                cancel_on_shutdown: false,
            };
            sup.spawn(spec).map_err(|e| e.to_string())?;
        }
    }
    let bots = sup.len();
    outln!(
        "fleet: {users} users x {per_user} bots = {bots} bots, {} candles, output in {}",
        candles.len(),
        out.display()
    );
    let started = Instant::now();
    let mut last: Option<Candle> = None;
    for i in 0..candles.len() {
        let candle = candles.get(i).ok_or("candle out of range")?;
        for paper in accounts.values() {
            paper.feed(candle);
        }
        let done = sup.step(candle.time + 59_999).await;
        if done != bots {
            return Err(format!("candle {i}: only {done} of {bots} bots stepped"));
        }
        last = Some(candle);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let failed = sup.status().iter().filter(|s| s.state != BotState::Running).count();
    let end = last.map_or(0, |c| c.time + 60_000);
    sup.shutdown(end).await;
    outln!(
        "{} bot steps in {elapsed:.1} s ({:.0} bot steps/s), {failed} bots not running at the end\n",
        bots * candles.len(),
        (bots * candles.len()) as f64 / elapsed
    );
    let summary = AuditSummary::from_dir(out.join("audit")).map_err(|e| e.to_string())?;
    let total: Decimal = summary.accounts.iter().map(|a| a.realized_pnl).sum();
    // Per-user results (the per-bot table: `--example audit_summary`).
    let text = summary.to_string();
    let per_user = text.split("\n\n").next().unwrap_or_default();
    outln!("{per_user}");
    outln!("total realized P&L over {} users: {}", summary.accounts.len(), total.round_dp(2));
    if keep {
        outln!("state and audit logs kept in {}", out.display());
    } else {
        std::fs::remove_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    run_async(run())
}
