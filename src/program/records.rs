//! `martingale deals`, `orders`, `fills`, `audit`, `pnl` and `status`: what the service recorded,
//! scoped by user and bot.

use clap::Args;
use martingale_service::journal;
use martingale_service::records::{self, StoredDeal};
use martingale_service::{users, Db};
use rust_decimal::Decimal;

use super::line;

/// Which records.
#[derive(Args)]
pub struct Filter {
    /// Only this user's (every user's without it: the operator's view).
    #[arg(long)]
    user: Option<String>,
    /// Only this bot's.
    #[arg(long)]
    bot: Option<String>,
    /// Only deals closed at or after this time (ms since the Unix epoch).
    #[arg(long)]
    since: Option<i64>,
}

async fn selected(db: &Db, f: &Filter) -> Result<Vec<StoredDeal>, String> {
    if let Some(u) = &f.user {
        users::get(db, u).await.map_err(|e| e.to_string())?;
    }
    records::deals(db, f.user.as_deref(), f.bot.as_deref(), f.since).await.map_err(|e| e.to_string())
}

/// Lists closed deals.
pub async fn deals(db: &Db, f: &Filter, out: &mut Vec<u8>) -> Result<(), String> {
    line(
        out,
        format!(
            "{:<16} {:>5} {:<14} {:>14} {:>14} {:>3} {:>16}",
            "bot", "deal", "exit", "started", "closed", "so", "pnl"
        ),
    );
    for d in selected(db, f).await? {
        let r = &d.report;
        let exit = serde_json::to_value(r.exit).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        line(
            out,
            format!(
                "{:<16} {:>5} {:<14} {:>14} {:>14} {:>3} {:>16}",
                d.bot_id, r.number, exit, r.started_at, r.closed_at, r.safety_orders_filled, r.pnl
            ),
        );
    }
    Ok(())
}

/// Realized P&L per bot from the recorded deals.
pub async fn pnl(db: &Db, f: &Filter, out: &mut Vec<u8>) -> Result<(), String> {
    let mut per_bot: std::collections::BTreeMap<String, (String, u64, u64, Decimal)> = Default::default();
    for d in selected(db, f).await? {
        let e = per_bot.entry(d.bot_id.clone()).or_insert((d.account.clone(), 0, 0, Decimal::ZERO));
        e.1 += 1;
        e.2 += u64::from(d.report.pnl > Decimal::ZERO);
        e.3 += d.report.pnl;
    }
    line(out, format!("{:<16} {:<16} {:>6} {:>6} {:>18}", "bot", "user", "deals", "wins", "realized pnl"));
    let mut total = Decimal::ZERO;
    for (bot, (account, n, wins, sum)) in &per_bot {
        total += *sum;
        line(out, format!("{bot:<16} {account:<16} {n:>6} {wins:>6} {sum:>18}"));
    }
    line(
        out,
        format!("{:<16} {:<16} {:>6} {:>6} {:>18}", "total", "", per_bot.values().map(|v| v.1).sum::<u64>(), "", total),
    );
    Ok(())
}

/// Each bot's status as the service last wrote it.
pub async fn status(db: &Db, user: Option<&str>, out: &mut Vec<u8>) -> Result<(), String> {
    if let Some(u) = user {
        users::get(db, u).await.map_err(|e| e.to_string())?;
    }
    let opt = |d: Option<Decimal>| d.map_or_else(|| "-".to_string(), |d| d.to_string());
    line(
        out,
        format!(
            "{:<16} {:<12} {:<8} {:<8} {:>5} {:>12} {:>14} {:>14} {:>6} {:>14} {:>3}  last error",
            "bot", "user", "mode", "phase", "deal", "position", "last price", "unrealized", "deals", "realized", "rs"
        ),
    );
    for s in records::statuses(db, user).await.map_err(|e| e.to_string())? {
        let mode = if s.running { s.mode.clone() } else { format!("{} (not running)", s.mode) };
        line(
            out,
            format!(
                "{:<16} {:<12} {:<8} {:<8} {:>5} {:>12} {:>14} {:>14} {:>6} {:>14} {:>3}  {}",
                s.bot_id,
                s.account,
                mode,
                s.phase,
                s.deal.map_or_else(|| "-".into(), |d| d.to_string()),
                opt(s.position),
                opt(s.last_price),
                opt(s.unrealized_pnl),
                s.closed_deals,
                s.realized_pnl,
                s.restarts,
                s.last_error.as_deref().unwrap_or("-")
            ),
        );
    }
    Ok(())
}

/// Orders the bots decided, with their last known state.
pub async fn orders(db: &Db, f: &Filter, out: &mut Vec<u8>) -> Result<(), String> {
    check_user(db, f).await?;
    let rows = journal::orders(db, f.user.as_deref(), f.bot.as_deref(), f.since).await.map_err(|e| e.to_string())?;
    line(
        out,
        format!(
            "{:<16} {:<34} {:<12} {:<4} {:<6} {:>14} {:>14} {:>14} {:<13} {:>14}",
            "bot", "client order id", "role", "side", "kind", "price", "quantity", "filled", "state", "created"
        ),
    );
    for o in rows {
        let price = o.price.map_or_else(|| "-".to_string(), |p| p.to_string());
        line(
            out,
            format!(
                "{:<16} {:<34} {:<12} {:<4} {:<6} {:>14} {:>14} {:>14} {:<13} {:>14}",
                o.bot_id, o.client_order_id, o.role, o.side, o.kind, price, o.quantity, o.filled, o.state, o.created_at
            ),
        );
    }
    Ok(())
}

/// Fills the bots' engines applied.
pub async fn fills(db: &Db, f: &Filter, out: &mut Vec<u8>) -> Result<(), String> {
    check_user(db, f).await?;
    let rows = journal::fills(db, f.user.as_deref(), f.bot.as_deref(), f.since).await.map_err(|e| e.to_string())?;
    line(
        out,
        format!(
            "{:<16} {:<34} {:>14} {:>14} {:>14} {:>14}",
            "bot", "client order id", "quantity", "price", "filled", "time"
        ),
    );
    for x in rows {
        line(
            out,
            format!(
                "{:<16} {:<34} {:>14} {:>14} {:>14} {:>14}",
                x.bot_id, x.client_order_id, x.quantity, x.price, x.cumulative_qty, x.time
            ),
        );
    }
    Ok(())
}

/// A bot's last audit lines (JSON, oldest first).
pub async fn audit(db: &Db, user: &str, bot: &str, limit: i64, out: &mut Vec<u8>) -> Result<(), String> {
    martingale_service::bots::get(db, user, bot).await.map_err(|e| e.to_string())?;
    for l in journal::audit(db, user, bot, limit.max(1)).await.map_err(|e| e.to_string())? {
        line(out, l);
    }
    Ok(())
}

async fn check_user(db: &Db, f: &Filter) -> Result<(), String> {
    if let Some(u) = &f.user {
        users::get(db, u).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}
