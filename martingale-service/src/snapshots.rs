//! Engine snapshots in the service database: the runner's [`StateStore`]
//! for bots the service runs.
//!
//! One row per bot in `engine_snapshots`, replaced on every state change
//! (an upsert, atomic in both backends). The text is the runner's own
//! checksummed snapshot ([`martingale_exchange::Persisted`]); its format
//! version and event count are copied into columns for operators' queries.
//!
//! Ownership: the service process owns the whole database
//! ([`crate::Ownership`]); inside the process, [`DbStateStore::acquire`]
//! gives one lease per bot, so two runners of one bot are refused as with
//! the file store. When several processes share one Postgres (a later
//! step), the lease becomes a row lease here and nowhere else.
//!
//! Every save writes the snapshot together with the audit records the
//! runner wrote since its last save, and the orders and fills they name,
//! in one transaction ([`crate::journal`]).

use std::collections::HashSet;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use martingale_core::engine::BotId;
use martingale_exchange::{AuditRecord, Lease, LeaseError, StateStore};
use serde::Deserialize;

use crate::db::{now_ms, Db};

/// The [`StateStore`] of the service: engine snapshots in the database.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use martingale_core::engine::BotId;
/// use martingale_exchange::StateStore;
/// use martingale_service::{bots, users, Db, DbStateStore};
/// let dir = tempfile::tempdir().unwrap();
/// let db = Db::open_dir(dir.path()).await.unwrap();
/// users::add(&db, "alice").await.unwrap();
/// bots::add(&db, "alice", "a-btc", martingale_core::config::EXAMPLE_BOT_JSON, None).await.unwrap();
/// let store = DbStateStore::new(db);
/// let bot = BotId::new("a-btc").unwrap();
/// let lease = store.acquire(&bot).await.unwrap();
/// assert!(store.acquire(&bot).await.is_err(), "one runner per bot");
/// assert_eq!(store.load(&bot).await.unwrap(), None);
/// store.save(&bot, r#"{"format": 2, "events": 7}"#).await.unwrap();
/// assert_eq!(store.load(&bot).await.unwrap().as_deref(), Some(r#"{"format": 2, "events": 7}"#));
/// drop(lease);
/// assert!(store.acquire(&bot).await.is_ok());
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct DbStateStore {
    db: Db,
    held: Arc<Mutex<HashSet<BotId>>>,
}

/// The two header fields copied into columns.
#[derive(Deserialize)]
struct Header {
    format: u32,
    events: u64,
}

/// Releases a bot's lease when dropped.
struct Held {
    bot: BotId,
    set: Arc<Mutex<HashSet<BotId>>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.set.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.bot);
    }
}

impl DbStateStore {
    /// A store on `db`.
    pub fn new(db: Db) -> DbStateStore {
        DbStateStore { db, held: Arc::default() }
    }

    fn error(&self, bot: &BotId, what: &str, e: impl std::fmt::Display) -> io::Error {
        io::Error::other(format!("bot {bot}: {what} the engine snapshot in {}: {e}", self.db.url()))
    }
}

#[async_trait]
impl StateStore for DbStateStore {
    async fn load(&self, bot: &BotId) -> io::Result<Option<String>> {
        sqlx::query_scalar::<_, String>("SELECT state FROM engine_snapshots WHERE bot_id = $1")
            .bind(bot.as_str())
            .fetch_optional(self.db.pool())
            .await
            .map_err(|e| self.error(bot, "reading", e))
    }

    async fn save(&self, bot: &BotId, state: &str) -> io::Result<()> {
        self.save_with_audit(bot, state, &[]).await
    }

    fn keeps_audit(&self) -> bool {
        true
    }

    /// The snapshot, its orders, fills and audit lines in one transaction
    /// (see [`crate::journal`]).
    async fn save_with_audit(&self, bot: &BotId, state: &str, audit: &[AuditRecord]) -> io::Result<()> {
        let header: Header = serde_json::from_str(state).map_err(|e| self.error(bot, "not writing", e))?;
        let events = i64::try_from(header.events).map_err(|e| self.error(bot, "not writing", e))?;
        let mut tx = self.db.begin_write().await.map_err(|e| self.error(bot, "writing", e))?;
        sqlx::query(
            "INSERT INTO engine_snapshots (bot_id, format, events, state, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (bot_id) DO UPDATE SET format = excluded.format, events = excluded.events, \
             state = excluded.state, updated_at = excluded.updated_at",
        )
        .bind(bot.as_str())
        .bind(i64::from(header.format))
        .bind(events)
        .bind(state)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(bot, "writing", e))?;
        crate::journal::write(&mut tx, bot.as_str(), events, audit).await.map_err(|e| self.error(bot, "writing", e))?;
        tx.commit().await.map_err(|e| self.error(bot, "writing", e))?;
        Ok(())
    }

    async fn acquire(&self, bot: &BotId) -> Result<Lease, LeaseError> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if !held.insert(bot.clone()) {
            let lock = format!("{} (engine_snapshots, this process)", self.db.url()).into();
            return Err(LeaseError::Held { bot: bot.clone(), lock });
        }
        let guard = Held { bot: bot.clone(), set: self.held.clone() };
        Ok(Lease::new(bot.clone(), format!("database {}", self.db.url()), Box::new(guard)))
    }
}

impl DbStateStore {
    /// Keeps `state` as the bot's replay checkpoint (see
    /// [`DbStateStore::restore_checkpoint`]).
    /// `replayed_until`: the last millisecond of the last candle replayed.
    pub async fn save_checkpoint(&self, bot: &BotId, state: &str, replayed_until: Option<i64>) -> io::Result<()> {
        sqlx::query("UPDATE engine_snapshots SET checkpoint = $1, replayed_until = $2 WHERE bot_id = $3")
            .bind(state)
            .bind(replayed_until)
            .bind(bot.as_str())
            .execute(self.db.pool())
            .await
            .map_err(|e| self.error(bot, "checkpointing", e))?;
        Ok(())
    }

    /// Makes the bot's checkpoint its state again (the events after it
    /// happened on a paper venue that died with the process); `false` when
    /// there is no checkpoint. One statement: atomic.
    /// The orders, fills and audit lines written after the checkpoint go
    /// with it (they are replayed again), in the same transaction.
    pub async fn restore_checkpoint(&self, bot: &BotId) -> io::Result<bool> {
        let err = |e: sqlx::Error| self.error(bot, "restoring", e);
        let mut tx = self.db.begin_write().await.map_err(err)?;
        let checkpoint: Option<(Option<String>,)> =
            sqlx::query_as("SELECT checkpoint FROM engine_snapshots WHERE bot_id = $1 AND state <> checkpoint")
                .bind(bot.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(err)?;
        let Some((Some(text),)) = checkpoint else {
            return Ok(false);
        };
        let header: Header = serde_json::from_str(&text).map_err(|e| self.error(bot, "restoring", e))?;
        let events = i64::try_from(header.events).map_err(|e| self.error(bot, "restoring", e))?;
        let done = sqlx::query("UPDATE engine_snapshots SET state = checkpoint WHERE bot_id = $1")
            .bind(bot.as_str())
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        crate::journal::forget_after(&mut tx, bot.as_str(), events).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(done.rows_affected() == 1)
    }
}

impl DbStateStore {
    /// The last millisecond of the last candle the bot's checkpoint has
    /// replayed, if any.
    pub async fn replayed_until(&self, bot: &BotId) -> io::Result<Option<i64>> {
        let row: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT replayed_until FROM engine_snapshots WHERE bot_id = $1 AND checkpoint IS NOT NULL")
                .bind(bot.as_str())
                .fetch_optional(self.db.pool())
                .await
                .map_err(|e| self.error(bot, "reading", e))?;
        Ok(row.and_then(|(t,)| t))
    }
}

/// The stored snapshot's format version and event count, if the bot has one.
pub async fn snapshot_header(db: &Db, bot: &str) -> crate::Result<Option<(i64, i64)>> {
    sqlx::query_as::<_, (i64, i64)>("SELECT format, events FROM engine_snapshots WHERE bot_id = $1")
        .bind(bot)
        .fetch_optional(db.pool())
        .await
        .map_err(crate::ServiceError::query)
}
