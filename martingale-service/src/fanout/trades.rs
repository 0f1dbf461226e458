//! Every subscriber's trade per signal: the core's
//! [`Trade`] state machine stored as
//! JSON, with its state, quantities and prices (exact decimal text) in
//! columns for reading. `serve` writes a trade before it sends the orders
//! the trade's last transition asked for.

use martingale_core::fleet::fanout::{Trade, TradeState};
use martingale_core::Side;
use rust_decimal::Decimal;

use crate::db::{now_ms, Db};
use crate::error::{Result, ServiceError};

/// A stored trade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRow {
    /// The strategy.
    pub strategy: String,
    /// The subscriber's account.
    pub account: String,
    /// The subscriber's key label (its orders' account on the venue).
    pub key_label: String,
    /// The trade (its `bot` and `seq` name it).
    pub trade: Trade,
    /// Why the last step failed, if it did.
    pub last_error: Option<String>,
    /// Last written (ms).
    pub updated_at: i64,
}

impl TradeRow {
    /// Entry quantity ordered.
    pub fn quantity(&self) -> Decimal {
        self.trade.entry.order.quantity
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Long => "long",
        Side::Short => "short",
    }
}

/// Writes trades (new or changed) in one transaction.
pub async fn put(db: &Db, rows: &[TradeRow]) -> Result<()> {
    let mut tx = db.begin_write().await.map_err(ServiceError::query)?;
    let now = now_ms();
    for r in rows {
        let t = &r.trade;
        let machine = serde_json::to_string(t).map_err(|e| ServiceError::Query(e.to_string()))?;
        let text = |d: Option<Decimal>| d.map(|d| d.normalize().to_string());
        let reason = t.reason.map(|r| serde_json::to_value(r).ok().and_then(|v| v.as_str().map(str::to_string)));
        sqlx::query(
            "INSERT INTO trades (strategy_id, seq, account, bot_id, key_label, state, side, quantity, filled, \
             entry_price, exited, exit_price, pnl, reason, machine, last_error, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
             ON CONFLICT (strategy_id, seq, bot_id) DO UPDATE SET state = excluded.state, filled = excluded.filled, \
             entry_price = excluded.entry_price, exited = excluded.exited, exit_price = excluded.exit_price, \
             pnl = excluded.pnl, reason = excluded.reason, machine = excluded.machine, \
             last_error = excluded.last_error, updated_at = excluded.updated_at",
        )
        .bind(r.strategy.as_str())
        .bind(i64::from(t.seq))
        .bind(r.account.as_str())
        .bind(t.bot.as_str())
        .bind(r.key_label.as_str())
        .bind(t.state.as_str())
        .bind(side_name(t.side))
        .bind(t.entry.order.quantity.normalize().to_string())
        .bind(t.filled().normalize().to_string())
        .bind(text(t.entry_price()))
        .bind(t.exited().normalize().to_string())
        .bind(text(t.exit_price()))
        .bind(text(t.pnl()))
        .bind(reason.flatten())
        .bind(machine)
        .bind(r.last_error.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(ServiceError::query)?;
    }
    tx.commit().await.map_err(ServiceError::query)?;
    Ok(())
}

type Row = (String, String, String, String, Option<String>, i64);
const COLUMNS: &str = "strategy_id, account, key_label, machine, last_error, updated_at";

fn from_row((strategy, account, key_label, machine, last_error, updated_at): Row) -> Result<TradeRow> {
    let trade: Trade = serde_json::from_str(&machine)
        .map_err(|e| ServiceError::Query(format!("stored trade of {account} on {strategy}: {e}")))?;
    Ok(TradeRow { strategy, account, key_label, trade, last_error, updated_at })
}

/// Trades not yet ended (every account's: `serve`'s view).
pub async fn live(db: &Db) -> Result<Vec<TradeRow>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM trades WHERE state IN ('{}', '{}', '{}') ORDER BY strategy_id, seq, bot_id",
        TradeState::EntrySent.as_str(),
        TradeState::Open.as_str(),
        TradeState::Closing.as_str()
    )))
    .fetch_all(db.pool())
    .await
    .map_err(ServiceError::query)?;
    rows.into_iter().map(from_row).collect()
}

/// Whether signal `seq` of `strategy` has trades already (it was fanned out).
pub async fn fanned_out(db: &Db, strategy: &str, seq: u32) -> Result<bool> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT seq FROM trades WHERE strategy_id = $1 AND seq = $2 LIMIT 1")
        .bind(strategy)
        .bind(i64::from(seq))
        .fetch_optional(db.pool())
        .await
        .map_err(ServiceError::query)?;
    Ok(row.is_some())
}

/// Trades of `account` (every account's with `None`: the operator's view),
/// optionally of one strategy, by strategy, signal and bot.
pub async fn list(db: &Db, account: Option<&str>, strategy: Option<&str>) -> Result<Vec<TradeRow>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM trades WHERE ($1 = '' OR account = $2) AND ($3 = '' OR strategy_id = $4) \
         ORDER BY strategy_id, seq, bot_id"
    )))
    .bind(account.unwrap_or(""))
    .bind(account.unwrap_or(""))
    .bind(strategy.unwrap_or(""))
    .bind(strategy.unwrap_or(""))
    .fetch_all(db.pool())
    .await
    .map_err(ServiceError::query)?;
    rows.into_iter().map(from_row).collect()
}
