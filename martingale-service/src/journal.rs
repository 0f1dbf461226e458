//! Orders, fills and the audit trail of the bots the service runs.
//!
//! The runner hands [`DbStateStore`](crate::DbStateStore) the audit records
//! written since its last save together with the new engine snapshot
//! (`StateStore::save_with_audit`), and both go into the database in one
//! transaction, before the orders decided are sent: a crash leaves either
//! the state and its records, or neither. From the records:
//! - `orders`: every order a bot placed, keyed by its deterministic client
//!   order id, with its last known state and filled quantity;
//! - `fills`: each fill the engine applied. The runner learns fills as an
//!   order's cumulative quantity on the venue, so a fill is keyed by its
//!   order and the cumulative quantity it reached: a report delivered twice
//!   is stored once, a stale one (lower total) not at all;
//! - `audit`: the records themselves, one JSON line each.
//!
//! Money and quantities are exact decimal text.

use std::str::FromStr;

use martingale_core::engine::{Action, Event, OrderKind, OrderUpdate};
use martingale_exchange::{AuditEntry, AuditRecord};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{Any, Transaction};

use crate::db::{now_ms, Db};
use crate::error::{Result, ServiceError};

/// JSON text of a unit enum (`"buy"` → `buy`).
fn word<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

fn kind_of(entry: &AuditEntry) -> &'static str {
    match entry {
        AuditEntry::Event { .. } => "event",
        AuditEntry::Action { .. } => "action",
        AuditEntry::Created { .. } => "created",
        AuditEntry::Resumed { .. } => "resumed",
        AuditEntry::Note { .. } => "note",
        _ => "other",
    }
}

/// Writes `records` (saved with a snapshot of `events` events) inside `tx`.
pub(crate) async fn write(
    tx: &mut Transaction<'static, Any>,
    bot: &str,
    events: i64,
    records: &[AuditRecord],
) -> std::result::Result<(), sqlx::Error> {
    let now = now_ms();
    for r in records {
        let line = serde_json::to_string(r).unwrap_or_default();
        sqlx::query("INSERT INTO audit (bot_id, account, time, events, kind, line) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(bot)
            .bind(&r.account)
            .bind(r.time)
            .bind(events)
            .bind(kind_of(&r.entry))
            .bind(line)
            .execute(&mut **tx)
            .await?;
        match &r.entry {
            AuditEntry::Action { action: Action::Place(o) } => {
                let price = match o.kind {
                    OrderKind::Limit { price } => Some(price.to_string()),
                    OrderKind::Market { .. } => None,
                };
                let kind = match o.kind {
                    OrderKind::Limit { .. } => "limit",
                    OrderKind::Market { .. } => "market",
                };
                sqlx::query(
                    "INSERT INTO orders (bot_id, client_order_id, account, role, side, kind, price, quantity, state, \
                     filled, events, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'sent', '0', $9, $10, $10) \
                     ON CONFLICT (bot_id, client_order_id) DO NOTHING",
                )
                .bind(bot)
                .bind(o.client_order_id.as_str())
                .bind(&r.account)
                .bind(word(&o.role))
                .bind(word(&o.side))
                .bind(kind)
                .bind(price)
                .bind(o.quantity.to_string())
                .bind(events)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            }
            AuditEntry::Action { action: Action::Cancel { client_order_id } } => {
                set_state(tx, bot, client_order_id.as_str(), "cancel_sent", &["sent", "open", "partly_filled"]).await?;
            }
            AuditEntry::Event { event: Event::Order { time, update } } => {
                let id = update.client_order_id().as_str();
                match update {
                    OrderUpdate::Accepted { .. } => set_state(tx, bot, id, "open", &["sent"]).await?,
                    OrderUpdate::Fill { cumulative_qty, price, .. } => {
                        fill(tx, bot, &r.account, id, *cumulative_qty, *price, *time, events).await?;
                    }
                    OrderUpdate::Canceled { .. } => set_state(tx, bot, id, "canceled", LIVE).await?,
                    OrderUpdate::Rejected { .. } => set_state(tx, bot, id, "rejected", LIVE).await?,
                    OrderUpdate::Expired { .. } => set_state(tx, bot, id, "expired", LIVE).await?,
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// States an order can leave.
const LIVE: &[&str] = &["sent", "open", "partly_filled", "cancel_sent"];

async fn set_state(
    tx: &mut Transaction<'static, Any>,
    bot: &str,
    id: &str,
    state: &str,
    from: &[&str],
) -> std::result::Result<(), sqlx::Error> {
    let current: Option<(String,)> =
        sqlx::query_as("SELECT state FROM orders WHERE bot_id = $1 AND client_order_id = $2")
            .bind(bot)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    if current.is_some_and(|(s,)| from.contains(&s.as_str())) {
        sqlx::query("UPDATE orders SET state = $1, updated_at = $2 WHERE bot_id = $3 AND client_order_id = $4")
            .bind(state)
            .bind(now_ms())
            .bind(bot)
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn fill(
    tx: &mut Transaction<'static, Any>,
    bot: &str,
    account: &str,
    id: &str,
    cumulative: Decimal,
    price: Decimal,
    time: i64,
    events: i64,
) -> std::result::Result<(), sqlx::Error> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT quantity, filled FROM orders WHERE bot_id = $1 AND client_order_id = $2")
            .bind(bot)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    let parse = |s: &str| Decimal::from_str(s).unwrap_or_default();
    let (quantity, before) = row.as_ref().map_or((None, Decimal::ZERO), |(q, f)| (Some(parse(q)), parse(f)));
    if cumulative <= before {
        return Ok(()); // a duplicate or stale report
    }
    sqlx::query(
        "INSERT INTO fills (bot_id, client_order_id, cumulative_qty, quantity, price, account, time, events) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (bot_id, client_order_id, cumulative_qty) DO NOTHING",
    )
    .bind(bot)
    .bind(id)
    .bind(cumulative.normalize().to_string())
    .bind((cumulative - before).normalize().to_string())
    .bind(price.to_string())
    .bind(account)
    .bind(time)
    .bind(events)
    .execute(&mut **tx)
    .await?;
    let state = if quantity.is_some_and(|q| cumulative >= q) { "filled" } else { "partly_filled" };
    sqlx::query(
        "UPDATE orders SET filled = $1, state = $2, updated_at = $3 WHERE bot_id = $4 AND client_order_id = $5",
    )
    .bind(cumulative.normalize().to_string())
    .bind(state)
    .bind(now_ms())
    .bind(bot)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Drops what was written after a paper bot's replay checkpoint (`events`
/// events): it is replayed again (see `DbStateStore::restore_checkpoint`).
pub(crate) async fn forget_after(
    tx: &mut Transaction<'static, Any>,
    bot: &str,
    events: i64,
) -> std::result::Result<(), sqlx::Error> {
    for sql in [
        "DELETE FROM audit WHERE bot_id = $1 AND events > $2",
        "DELETE FROM fills WHERE bot_id = $1 AND events > $2",
        "DELETE FROM orders WHERE bot_id = $1 AND events > $2",
    ] {
        sqlx::query(sql).bind(bot).bind(events).execute(&mut **tx).await?;
    }
    Ok(())
}

/// A stored order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOrder {
    /// Owning account.
    pub account: String,
    /// The bot.
    pub bot_id: String,
    /// The deterministic client order id.
    pub client_order_id: String,
    /// `base`, `safety`, `take_profit`, ...
    pub role: String,
    /// `buy` or `sell`.
    pub side: String,
    /// `limit` or `market`.
    pub kind: String,
    /// The limit price (none for a market order).
    pub price: Option<Decimal>,
    /// The quantity ordered.
    pub quantity: Decimal,
    /// Last known state.
    pub state: String,
    /// Quantity filled so far.
    pub filled: Decimal,
    /// Decided at (ms).
    pub created_at: i64,
}

/// A stored fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFill {
    /// The bot.
    pub bot_id: String,
    /// Its order.
    pub client_order_id: String,
    /// Quantity of this fill.
    pub quantity: Decimal,
    /// Its price.
    pub price: Decimal,
    /// The order's filled quantity after it.
    pub cumulative_qty: Decimal,
    /// When the engine applied it (ms).
    pub time: i64,
}

fn dec(s: &str) -> Result<Decimal> {
    Decimal::from_str(s).map_err(|e| ServiceError::Query(format!("stored amount {s:?}: {e}")))
}

type OrderRow = (String, String, String, String, String, String, Option<String>, String, String, String, i64);

/// Orders, oldest first; scoped by `account` when given.
pub async fn orders(db: &Db, account: Option<&str>, bot: Option<&str>, since: Option<i64>) -> Result<Vec<StoredOrder>> {
    let rows: Vec<OrderRow> = sqlx::query_as(
        "SELECT account, bot_id, client_order_id, role, side, kind, price, quantity, state, filled, created_at \
         FROM orders WHERE ($1 = '' OR account = $1) AND ($2 = '' OR bot_id = $2) AND created_at >= $3 \
         ORDER BY created_at, bot_id, client_order_id",
    )
    .bind(account.unwrap_or(""))
    .bind(bot.unwrap_or(""))
    .bind(since.unwrap_or(i64::MIN))
    .fetch_all(db.pool())
    .await
    .map_err(ServiceError::query)?;
    rows.into_iter()
        .map(|(account, bot_id, client_order_id, role, side, kind, price, quantity, state, filled, created_at)| {
            Ok(StoredOrder {
                account,
                bot_id,
                client_order_id,
                role,
                side,
                kind,
                price: price.as_deref().map(dec).transpose()?,
                quantity: dec(&quantity)?,
                state,
                filled: dec(&filled)?,
                created_at,
            })
        })
        .collect()
}

/// Fills, oldest first; scoped by `account` when given.
pub async fn fills(db: &Db, account: Option<&str>, bot: Option<&str>, since: Option<i64>) -> Result<Vec<StoredFill>> {
    let rows: Vec<(String, String, String, String, String, i64)> = sqlx::query_as(
        "SELECT bot_id, client_order_id, quantity, price, cumulative_qty, time FROM fills \
         WHERE ($1 = '' OR account = $1) AND ($2 = '' OR bot_id = $2) AND time >= $3 \
         ORDER BY time, bot_id, client_order_id, events",
    )
    .bind(account.unwrap_or(""))
    .bind(bot.unwrap_or(""))
    .bind(since.unwrap_or(i64::MIN))
    .fetch_all(db.pool())
    .await
    .map_err(ServiceError::query)?;
    rows.into_iter()
        .map(|(bot_id, client_order_id, quantity, price, cumulative, time)| {
            Ok(StoredFill {
                bot_id,
                client_order_id,
                quantity: dec(&quantity)?,
                price: dec(&price)?,
                cumulative_qty: dec(&cumulative)?,
                time,
            })
        })
        .collect()
}

/// The last `limit` audit lines of `account`'s bot, oldest first.
pub async fn audit(db: &Db, account: &str, bot: &str, limit: i64) -> Result<Vec<String>> {
    let mut rows: Vec<(String,)> =
        sqlx::query_as("SELECT line FROM audit WHERE account = $1 AND bot_id = $2 ORDER BY id DESC LIMIT $3")
            .bind(account)
            .bind(bot)
            .bind(limit)
            .fetch_all(db.pool())
            .await
            .map_err(ServiceError::query)?;
    rows.reverse();
    Ok(rows.into_iter().map(|(l,)| l).collect())
}

/// Rows and approximate bytes (text columns plus ~60 bytes of keys and
/// numbers per row) of the tables that grow as bots trade: audit lines,
/// orders, fills and deals. For capacity planning.
pub async fn accumulated(db: &Db) -> Result<(i64, i64)> {
    let mut rows_total = 0;
    let mut bytes_total = 0;
    for sql in [
        "SELECT COUNT(*), CAST(COALESCE(SUM(LENGTH(line) + LENGTH(bot_id) + LENGTH(account)), 0) AS BIGINT) FROM audit",
        "SELECT COUNT(*), CAST(COALESCE(SUM(LENGTH(client_order_id) + LENGTH(bot_id) + LENGTH(account) \
         + LENGTH(quantity) + LENGTH(filled) + LENGTH(role) + 16), 0) AS BIGINT) FROM orders",
        "SELECT COUNT(*), CAST(COALESCE(SUM(LENGTH(client_order_id) + LENGTH(bot_id) + LENGTH(account) \
         + LENGTH(quantity) + LENGTH(price) + LENGTH(cumulative_qty)), 0) AS BIGINT) FROM fills",
        "SELECT COUNT(*), CAST(COALESCE(SUM(LENGTH(report) + LENGTH(bot_id) + LENGTH(account)), 0) AS BIGINT) FROM deals",
    ] {
        let (rows, bytes): (i64, i64) =
            sqlx::query_as(sql).fetch_one(db.pool()).await.map_err(ServiceError::query)?;
        rows_total += rows;
        bytes_total += bytes + rows * 60;
    }
    Ok((rows_total, bytes_total))
}
