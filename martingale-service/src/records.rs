//! What the running service records for operators and users: closed deals
//! (`deals`) and each bot's live status (`bot_status`). Money is exact
//! decimal text; every query is scoped by the owning account when one is
//! given (another user's bot shows nothing).

use std::str::FromStr;

use martingale_core::engine::{DealReport, Engine, PhaseKind};
use rust_decimal::Decimal;

use crate::db::{now_ms, Db};
use crate::error::{Result, ServiceError};

/// A closed deal as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDeal {
    /// Owning account.
    pub account: String,
    /// The bot.
    pub bot_id: String,
    /// The engine's report, exactly.
    pub report: DealReport,
}

/// Stores a closed deal; `false` when it was stored already (a deal is
/// identified by bot, start time and number).
pub async fn record_deal(db: &Db, account: &str, bot_id: &str, d: &DealReport) -> Result<bool> {
    let report = serde_json::to_string(d).map_err(|e| ServiceError::Query(format!("deal report: {e}")))?;
    let exit = serde_json::to_value(d.exit).map_err(|e| ServiceError::Query(format!("deal report: {e}")))?;
    let done = sqlx::query(
        "INSERT INTO deals (bot_id, account, number, started_at, closed_at, exit_kind, pnl, report) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (bot_id, started_at, number) DO NOTHING",
    )
    .bind(bot_id)
    .bind(account)
    .bind(i64::from(d.number))
    .bind(d.started_at)
    .bind(d.closed_at)
    .bind(exit.as_str().unwrap_or("unknown"))
    .bind(d.pnl.to_string())
    .bind(report)
    .execute(db.pool())
    .await
    .map_err(ServiceError::query)?;
    Ok(done.rows_affected() == 1)
}

/// Closed deals, oldest first: of one account (every account's with
/// `None`), optionally of one bot, closed at or after `since` (ms).
pub async fn deals(db: &Db, account: Option<&str>, bot: Option<&str>, since: Option<i64>) -> Result<Vec<StoredDeal>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT account, bot_id, report FROM deals WHERE ($1 = '' OR account = $1) AND ($2 = '' OR bot_id = $2) \
         AND closed_at >= $3 ORDER BY closed_at, bot_id, number",
    )
    .bind(account.unwrap_or(""))
    .bind(bot.unwrap_or(""))
    .bind(since.unwrap_or(i64::MIN))
    .fetch_all(db.pool())
    .await
    .map_err(ServiceError::query)?;
    rows.into_iter()
        .map(|(account, bot_id, report)| {
            let report = serde_json::from_str(&report)
                .map_err(|e| ServiceError::Query(format!("stored deal of {bot_id}: {e}")))?;
            Ok(StoredDeal { account, bot_id, report })
        })
        .collect()
}

/// A bot's status, as `serve` last wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotStatus {
    /// Owning account.
    pub account: String,
    /// The bot.
    pub bot_id: String,
    /// The service runs it now.
    pub running: bool,
    /// The engine's mode (`running`, `paused`, `stopped`, ...).
    pub mode: String,
    /// The deal phase (`idle`, `opening`, `open`, `closing`).
    pub phase: String,
    /// Open deal number.
    pub deal: Option<u32>,
    /// Open position (base quantity).
    pub position: Option<Decimal>,
    /// Its average entry price.
    pub average_price: Option<Decimal>,
    /// Last price seen.
    pub last_price: Option<Decimal>,
    /// Unrealized P&L of the open position at the last price (quote).
    pub unrealized_pnl: Option<Decimal>,
    /// Deals closed.
    pub closed_deals: u64,
    /// Realized P&L of the closed deals (quote).
    pub realized_pnl: Decimal,
    /// The last error the bot met, if any.
    pub last_error: Option<String>,
    /// Times the service restarted it after an error.
    pub restarts: u32,
    /// Written at (ms).
    pub updated_at: i64,
}

impl BotStatus {
    /// The status of a bot from its engine.
    pub fn of(account: &str, engine: &Engine, running: bool, last_error: Option<String>, restarts: u32) -> BotStatus {
        let deal = engine.deal();
        let position = deal.map(|d| d.position.open_qty());
        let last = engine.last_price();
        let word = |v: serde_json::Value| v.as_str().unwrap_or("unknown").to_string();
        BotStatus {
            account: account.to_string(),
            bot_id: engine.bot_id().to_string(),
            running,
            mode: word(serde_json::to_value(engine.mode()).unwrap_or_default()),
            phase: word(serde_json::to_value(engine.phase().kind()).unwrap_or_default()),
            deal: deal.map(|d| d.number),
            position,
            average_price: deal.and_then(|d| d.position.average_price()),
            last_price: last,
            unrealized_pnl: deal
                .filter(|_| engine.phase().kind() != PhaseKind::Idle)
                .zip(last)
                .map(|(d, p)| d.position.unrealized_pnl(p)),
            closed_deals: engine.totals().closed_deals,
            realized_pnl: engine.totals().realized_pnl,
            last_error,
            restarts,
            updated_at: 0,
        }
    }
}

type StatusRow = (
    String,
    String,
    i64,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    String,
    Option<String>,
    i64,
    i64,
);

const STATUS_COLUMNS: &str = "account, bot_id, running, mode, phase, deal, position, average_price, last_price, \
     unrealized_pnl, closed_deals, realized_pnl, last_error, restarts, updated_at";

/// Writes a bot's status (replacing the last one).
pub async fn put_status(db: &Db, s: &BotStatus) -> Result<()> {
    let text = |d: Option<Decimal>| d.map(|d| d.to_string());
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO bot_status ({STATUS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
         $14, $15) ON CONFLICT (bot_id) DO UPDATE SET account = excluded.account, running = excluded.running, \
         mode = excluded.mode, phase = excluded.phase, deal = excluded.deal, position = excluded.position, \
         average_price = excluded.average_price, last_price = excluded.last_price, \
         unrealized_pnl = excluded.unrealized_pnl, closed_deals = excluded.closed_deals, \
         realized_pnl = excluded.realized_pnl, last_error = excluded.last_error, restarts = excluded.restarts, \
         updated_at = excluded.updated_at"
    )))
    .bind(&s.account)
    .bind(&s.bot_id)
    .bind(i64::from(s.running))
    .bind(&s.mode)
    .bind(&s.phase)
    .bind(s.deal.map(i64::from))
    .bind(text(s.position))
    .bind(text(s.average_price))
    .bind(text(s.last_price))
    .bind(text(s.unrealized_pnl))
    .bind(i64::try_from(s.closed_deals).unwrap_or(i64::MAX))
    .bind(s.realized_pnl.to_string())
    .bind(&s.last_error)
    .bind(i64::from(s.restarts))
    .bind(now_ms())
    .execute(db.pool())
    .await
    .map_err(ServiceError::query)?;
    Ok(())
}

/// Bots' statuses by bot id: of one account, or every account's.
pub async fn statuses(db: &Db, account: Option<&str>) -> Result<Vec<BotStatus>> {
    let rows: Vec<StatusRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {STATUS_COLUMNS} FROM bot_status WHERE ($1 = '' OR account = $1) ORDER BY bot_id"
    )))
    .bind(account.unwrap_or(""))
    .fetch_all(db.pool())
    .await
    .map_err(ServiceError::query)?;
    rows.into_iter().map(status_from_row).collect()
}

fn status_from_row(r: StatusRow) -> Result<BotStatus> {
    let (
        account,
        bot_id,
        running,
        mode,
        phase,
        deal,
        position,
        average,
        last,
        unrealized,
        closed,
        realized,
        err,
        restarts,
        at,
    ) = r;
    let bad = |what: &str| ServiceError::Query(format!("stored status of {bot_id}: {what} is not a decimal"));
    let dec = |what: &str, v: Option<String>| v.map(|t| Decimal::from_str(&t).map_err(|_| bad(what))).transpose();
    Ok(BotStatus {
        running: running != 0,
        mode,
        phase,
        deal: deal.and_then(|d| u32::try_from(d).ok()),
        position: dec("position", position)?,
        average_price: dec("average_price", average)?,
        last_price: dec("last_price", last)?,
        unrealized_pnl: dec("unrealized_pnl", unrealized)?,
        closed_deals: u64::try_from(closed).unwrap_or(0),
        realized_pnl: Decimal::from_str(&realized).map_err(|_| bad("realized_pnl"))?,
        last_error: err,
        restarts: u32::try_from(restarts).unwrap_or(u32::MAX),
        updated_at: at,
        account,
        bot_id,
    })
}
