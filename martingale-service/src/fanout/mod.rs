//! Signal fan-out in the database: a user's strategies, other users'
//! subscriptions to them, the strategies' queued signals
//! ([`signals`]) and every subscriber's trade per signal ([`trades`]).
//!
//! A strategy belongs to its owner (only the owner sends its signals);
//! any user may subscribe to it with one of their own API keys (of the
//! strategy's venue), a bot id that names their orders (`{bot}-{seq}-b-0`)
//! and a sizing (risk a share of a capital per trade); a user may follow
//! one strategy with several bots (different capitals or keys). Every call a user
//! makes is scoped by their account: another user's subscription or
//! strategy is "not found".
//!
//! `serve` applies the signals (see `serve`'s fan-out step): each entry
//! signal sizes every active subscriber with the core's
//! [`SubscriberBook`](martingale_core::fleet::fanout::SubscriberBook) and
//! places its entry on its own account; each trade then follows the
//! core's [`Trade`](martingale_core::fleet::fanout::Trade) state machine.
//! An unsubscribed or paused subscriber gets no new trades; its open
//! trades are still looked after until they end.

pub mod signals;
pub mod trades;

use martingale_core::engine::BotId;
use martingale_core::fleet::fanout::Sizing;
use martingale_core::venue::Venue;

use crate::bots::venue_name;
use crate::db::{now_ms, Db};
use crate::error::{Result, ServiceError};
use crate::{keys, users};

/// A strategy whose signals subscribers follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strategy {
    /// Its id.
    pub id: String,
    /// The account that owns it and sends its signals.
    pub owner: String,
    /// Where its subscribers trade.
    pub venue: Venue,
    /// The venue's market id (e.g. `BTCUSDT`).
    pub symbol: String,
}

/// One user's subscription to a strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The strategy.
    pub strategy: String,
    /// The subscriber's account.
    pub account: String,
    /// The bot id its orders carry.
    pub bot: BotId,
    /// The subscriber's API key label.
    pub key_label: String,
    /// How it sizes its trades.
    pub sizing: Sizing,
    /// No new trades while paused.
    pub paused: bool,
}

fn invalid(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Invalid(e.to_string())
}

fn check_id(id: &str) -> Result<()> {
    // Strategy ids follow the bot id rules (short, plain characters).
    BotId::new(id).map(|_| ()).map_err(|e| invalid(format!("strategy id: {e}")))
}

/// Adds a strategy owned by `owner` on `venue`'s market `symbol`
/// (`BTC/USDT` or the venue's id).
pub async fn add_strategy(db: &Db, owner: &str, id: &str, venue: Venue, symbol: &str) -> Result<Strategy> {
    users::get(db, owner).await?;
    check_id(id)?;
    if venue == Venue::Paper {
        return Err(invalid("a strategy's subscribers trade on a live venue (binance, bybit, okx, coindcx)"));
    }
    let symbol = venue.resolve(symbol).map_err(|e| invalid(format!("symbol: {e}")))?;
    if strategy(db, id).await.is_ok() {
        return Err(ServiceError::Exists { kind: "strategy", name: id.into() });
    }
    sqlx::query("INSERT INTO strategies (strategy_id, account, venue, symbol, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(owner)
        .bind(venue_name(venue))
        .bind(symbol.as_str())
        .bind(now_ms())
        .execute(db.pool())
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                ServiceError::Exists { kind: "strategy", name: id.into() }
            }
            e => ServiceError::query(e),
        })?;
    Ok(Strategy { id: id.into(), owner: owner.into(), venue, symbol })
}

/// A strategy by id (any owner: what a subscriber and `serve` see).
pub async fn strategy(db: &Db, id: &str) -> Result<Strategy> {
    let row: Option<(String, String, String, String)> =
        sqlx::query_as("SELECT strategy_id, account, venue, symbol FROM strategies WHERE strategy_id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await
            .map_err(ServiceError::query)?;
    let Some((id, owner, venue, symbol)) = row else {
        return Err(ServiceError::NotFound { kind: "strategy", name: id.into() });
    };
    let venue = venue.parse().map_err(|e| ServiceError::Query(format!("stored strategy {id}: venue: {e}")))?;
    Ok(Strategy { id, owner, venue, symbol })
}

/// One of `owner`'s strategies (another user's is "not found").
pub async fn owned(db: &Db, owner: &str, id: &str) -> Result<Strategy> {
    match strategy(db, id).await {
        Ok(s) if s.owner == owner => Ok(s),
        _ => Err(ServiceError::NotFound { kind: "strategy", name: id.into() }),
    }
}

/// Subscribes `account` to strategy `strategy_id`, trading with its own
/// key `key_label` under bot id `bot`.
pub async fn subscribe(
    db: &Db,
    account: &str,
    strategy_id: &str,
    bot: &str,
    key_label: &str,
    sizing: Sizing,
) -> Result<Subscription> {
    users::get(db, account).await?;
    let s = strategy(db, strategy_id).await?;
    let bot = BotId::new(bot).map_err(|e| invalid(format!("bot id: {e}")))?;
    match &sizing {
        Sizing::Risk(r) => r.validate().map_err(|e| invalid(format!("sizing: {e}")))?,
        Sizing::Ladder { .. } => return Err(invalid("sizing: only risk sizing is supported by the service yet")),
    }
    let key_venue = keys::venue(db, account, key_label).await?;
    if key_venue != s.venue {
        return Err(invalid(format!("key {key_label} is for {key_venue:?}, the strategy trades on {:?}", s.venue)));
    }
    // Bot ids are global: they name the orders on the venue.
    let taken: Option<(String,)> = sqlx::query_as(
        "SELECT bot_id FROM bots WHERE bot_id = $1 UNION SELECT bot_id FROM subscriptions WHERE bot_id = $2",
    )
    .bind(bot.as_str())
    .bind(bot.as_str())
    .fetch_optional(db.pool())
    .await
    .map_err(ServiceError::query)?;
    if taken.is_some() {
        return Err(ServiceError::Exists { kind: "bot", name: bot.to_string() });
    }
    let json = serde_json::to_string(&sizing).map_err(|e| ServiceError::Query(e.to_string()))?;
    sqlx::query(
        "INSERT INTO subscriptions (strategy_id, account, bot_id, key_label, sizing, paused, created_at) \
         VALUES ($1, $2, $3, $4, $5, 0, $6)",
    )
    .bind(strategy_id)
    .bind(account)
    .bind(bot.as_str())
    .bind(key_label)
    .bind(json)
    .bind(now_ms())
    .execute(db.pool())
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            ServiceError::Exists { kind: "bot", name: bot.to_string() }
        }
        e => ServiceError::query(e),
    })?;
    get(db, account, bot.as_str()).await
}

type Row = (String, String, String, String, String, i64);
const COLUMNS: &str = "strategy_id, account, bot_id, key_label, sizing, paused";

fn from_row((strategy, account, bot, key_label, sizing, paused): Row) -> Result<Subscription> {
    let bad = |what: &str, e: String| ServiceError::Query(format!("stored subscription {bot}: {what}: {e}"));
    Ok(Subscription {
        bot: BotId::new(bot.as_str()).map_err(|e| bad("bot id", e.to_string()))?,
        sizing: serde_json::from_str(&sizing).map_err(|e| bad("sizing", e.to_string()))?,
        paused: paused != 0,
        strategy,
        account,
        key_label,
    })
}

/// `account`'s subscription with bot id `bot`.
pub async fn get(db: &Db, account: &str, bot: &str) -> Result<Subscription> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE account = $1 AND bot_id = $2"
    )))
    .bind(account)
    .bind(bot)
    .fetch_optional(db.pool())
    .await
    .map_err(ServiceError::query)?;
    row.map(from_row).unwrap_or_else(|| Err(ServiceError::NotFound { kind: "subscription", name: bot.into() }))
}

/// A strategy's subscriptions (paused ones too), by bot id: `serve`'s view.
pub async fn of_strategy(db: &Db, strategy_id: &str) -> Result<Vec<Subscription>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE strategy_id = $1 ORDER BY bot_id"
    )))
    .bind(strategy_id)
    .fetch_all(db.pool())
    .await
    .map_err(ServiceError::query)?;
    rows.into_iter().map(from_row).collect()
}

/// `account`'s subscriptions, by strategy.
pub async fn of_account(db: &Db, account: &str) -> Result<Vec<Subscription>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE account = $1 ORDER BY strategy_id"
    )))
    .bind(account)
    .fetch_all(db.pool())
    .await
    .map_err(ServiceError::query)?;
    rows.into_iter().map(from_row).collect()
}

/// `account`'s subscriptions to `strategy_id` (only bot `bot`'s with one);
/// "not found" when there is none.
async fn selected(db: &Db, account: &str, strategy_id: &str, bot: Option<&str>) -> Result<Vec<Subscription>> {
    let found: Vec<Subscription> = of_account(db, account)
        .await?
        .into_iter()
        .filter(|s| s.strategy == strategy_id && bot.is_none_or(|b| s.bot.as_str() == b))
        .collect();
    if found.is_empty() {
        let name = match bot {
            Some(b) => format!("{strategy_id}/{b}"),
            None => strategy_id.to_string(),
        };
        return Err(ServiceError::NotFound { kind: "subscription", name });
    }
    Ok(found)
}

/// Pauses or resumes `account`'s subscriptions to `strategy_id` (only bot
/// `bot`'s with one): no new trades while paused; returns them.
pub async fn set_paused(
    db: &Db,
    account: &str,
    strategy_id: &str,
    bot: Option<&str>,
    paused: bool,
) -> Result<Vec<Subscription>> {
    let found = selected(db, account, strategy_id, bot).await?;
    for s in &found {
        sqlx::query("UPDATE subscriptions SET paused = $1 WHERE account = $2 AND bot_id = $3")
            .bind(i64::from(paused))
            .bind(account)
            .bind(s.bot.as_str())
            .execute(db.pool())
            .await
            .map_err(ServiceError::query)?;
    }
    Ok(found.into_iter().map(|s| Subscription { paused, ..s }).collect())
}

/// Ends `account`'s subscriptions to `strategy_id` (only bot `bot`'s with
/// one): no new trades; open trades are still looked after by `serve`
/// until they end. Returns how many ended.
pub async fn unsubscribe(db: &Db, account: &str, strategy_id: &str, bot: Option<&str>) -> Result<usize> {
    let found = selected(db, account, strategy_id, bot).await?;
    for s in &found {
        sqlx::query("DELETE FROM subscriptions WHERE account = $1 AND bot_id = $2")
            .bind(account)
            .bind(s.bot.as_str())
            .execute(db.pool())
            .await
            .map_err(ServiceError::query)?;
    }
    Ok(found.len())
}
