//! A strategy's signal queue: its owner queues entry and exit signals,
//! `serve` takes each once (marked taken before it is applied, so a crash
//! never applies one twice) and writes what came of it.

use martingale_core::fleet::fanout::{EntryType, Signal};
use martingale_core::Side;
use rust_decimal::Decimal;

use crate::db::{now_ms, Db};
use crate::error::{Result, ServiceError};

/// What a queued signal asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queued {
    /// Open a trade for every active subscriber.
    Entry(Signal),
    /// Close every open trade of the strategy.
    Exit,
}

/// A queued signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Row id.
    pub id: i64,
    /// The strategy.
    pub strategy: String,
    /// Its number in the strategy (entries only count).
    pub seq: u32,
    /// What (`None`: unreadable, answered as such).
    pub signal: Option<Queued>,
}

/// The owner's new entry signal (checked now).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryInput {
    /// Long or short.
    pub side: Side,
    /// Entry price (the reference price of a market entry).
    pub entry: Decimal,
    /// Stop-loss price.
    pub stop_loss: Option<Decimal>,
    /// Take-profit price.
    pub take_profit: Option<Decimal>,
    /// Enter by market.
    pub market: bool,
}

/// Queues an entry signal of `owner`'s strategy; returns its number.
pub async fn entry(db: &Db, owner: &str, strategy: &str, input: EntryInput) -> Result<u32> {
    super::owned(db, owner, strategy).await?;
    let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM strategy_signals WHERE strategy_id = $1")
        .bind(strategy)
        .fetch_one(db.pool())
        .await
        .map_err(ServiceError::query)?;
    let seq = u32::try_from(max.unwrap_or(0) + 1).map_err(|_| ServiceError::Invalid("too many signals".into()))?;
    let signal = Signal {
        seq,
        time: now_ms(),
        side: input.side,
        entry: input.entry,
        entry_type: if input.market { EntryType::Market } else { EntryType::Limit },
        stop_loss: input.stop_loss,
        take_profit: input.take_profit,
    };
    signal.validate().map_err(|e| ServiceError::Invalid(e.to_string()))?;
    let json = serde_json::to_string(&signal).map_err(|e| ServiceError::Query(e.to_string()))?;
    insert(db, strategy, seq, "entry", &json).await?;
    Ok(seq)
}

/// Queues an exit signal of `owner`'s strategy: every open trade closes.
pub async fn exit(db: &Db, owner: &str, strategy: &str) -> Result<()> {
    super::owned(db, owner, strategy).await?;
    insert(db, strategy, 0, "exit", "{}").await
}

async fn insert(db: &Db, strategy: &str, seq: u32, kind: &str, json: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO strategy_signals (strategy_id, seq, kind, signal, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(strategy)
    .bind(i64::from(seq))
    .bind(kind)
    .bind(json)
    .bind(now_ms())
    .execute(db.pool())
    .await
    .map_err(ServiceError::query)?;
    Ok(())
}

/// Signals not taken yet, oldest first.
pub async fn pending(db: &Db) -> Result<Vec<Pending>> {
    let rows: Vec<(i64, String, i64, String, String)> = sqlx::query_as(
        "SELECT id, strategy_id, seq, kind, signal FROM strategy_signals WHERE taken_at IS NULL ORDER BY id",
    )
    .fetch_all(db.pool())
    .await
    .map_err(ServiceError::query)?;
    Ok(rows
        .into_iter()
        .map(|(id, strategy, seq, kind, json)| {
            let signal = match kind.as_str() {
                "entry" => serde_json::from_str(&json).ok().map(Queued::Entry),
                "exit" => Some(Queued::Exit),
                _ => None,
            };
            Pending { id, strategy, seq: u32::try_from(seq).unwrap_or(0), signal }
        })
        .collect())
}

/// Marks a signal taken (before it is applied).
pub async fn take(db: &Db, id: i64) -> Result<()> {
    sqlx::query("UPDATE strategy_signals SET taken_at = $1, outcome = 'applying' WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(db.pool())
        .await
        .map_err(ServiceError::query)?;
    Ok(())
}

/// Writes what came of a taken signal.
pub async fn finish(db: &Db, id: i64, outcome: &str) -> Result<()> {
    sqlx::query("UPDATE strategy_signals SET outcome = $1 WHERE id = $2")
        .bind(outcome)
        .bind(id)
        .execute(db.pool())
        .await
        .map_err(ServiceError::query)?;
    Ok(())
}

/// `owner`'s strategy's signals, newest first: (seq, kind, outcome).
pub async fn history(db: &Db, owner: &str, strategy: &str) -> Result<Vec<(i64, String, Option<String>)>> {
    super::owned(db, owner, strategy).await?;
    sqlx::query_as("SELECT seq, kind, outcome FROM strategy_signals WHERE strategy_id = $1 ORDER BY id DESC")
        .bind(strategy)
        .fetch_all(db.pool())
        .await
        .map_err(ServiceError::query)
}
