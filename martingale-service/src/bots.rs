//! Bots: a user's bot files, where they trade, and what the operator wants
//! them to do (`desired_state`). Every call is scoped by the owning
//! account: another user's bot is "not found", never "forbidden".

use std::fmt;
use std::str::FromStr;

use martingale_core::config::BotFile;
use martingale_core::engine::BotId;
use martingale_core::venue::Venue;
use rust_decimal::Decimal;

use crate::db::{now_ms, Db};
use crate::error::{Result, ServiceError};
use crate::users;

pub use crate::settings::{check_file, set, SetOutcome};

/// What the operator wants a bot to do; the running service converges on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DesiredState {
    /// Trade.
    Running,
    /// Keep the open deal's orders, start nothing new.
    Paused,
    /// Not running.
    Stopped,
}

impl DesiredState {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            DesiredState::Running => "running",
            DesiredState::Paused => "paused",
            DesiredState::Stopped => "stopped",
        }
    }
}

impl fmt::Display for DesiredState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DesiredState {
    type Err = ServiceError;
    fn from_str(s: &str) -> Result<DesiredState> {
        match s {
            "running" => Ok(DesiredState::Running),
            "paused" => Ok(DesiredState::Paused),
            "stopped" => Ok(DesiredState::Stopped),
            other => Err(ServiceError::Invalid(format!("unknown bot state {other:?} (running, paused, stopped)"))),
        }
    }
}

/// A stored bot.
#[derive(Debug, Clone)]
pub struct Bot {
    /// Owning account.
    pub account: String,
    /// The bot id (unique in the database, part of every client order id).
    pub id: BotId,
    /// Where it trades.
    pub venue: Venue,
    /// The venue's market id (e.g. `BTCUSDT`).
    pub symbol: String,
    /// The owner's API key label it trades with (none for paper).
    pub key_label: Option<String>,
    /// The bot file.
    pub file: BotFile,
    /// What the operator wants.
    pub desired: DesiredState,
    /// Added at (ms).
    pub created_at: i64,
    /// Last changed at (ms).
    pub updated_at: i64,
}

/// Adds a bot for `account` from the text of a bot file (JSON or TOML),
/// validated like every other loader; the bot starts `stopped`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use martingale_service::{bots, users, Db};
/// let dir = tempfile::tempdir().unwrap();
/// let db = Db::open_dir(dir.path()).await.unwrap();
/// users::add(&db, "alice").await.unwrap();
/// let file = martingale_core::config::EXAMPLE_BOT_JSON;
/// let bot = bots::add(&db, "alice", "btc-dca", file, None).await.unwrap();
/// assert_eq!((bot.symbol.as_str(), bot.desired), ("BTCUSDT", bots::DesiredState::Stopped));
/// // Another user cannot see it.
/// users::add(&db, "bob").await.unwrap();
/// assert!(bots::get(&db, "bob", "btc-dca").await.is_err());
/// # });
/// ```
pub async fn add(db: &Db, account: &str, bot_id: &str, file_text: &str, key_label: Option<&str>) -> Result<Bot> {
    users::get(db, account).await?;
    let id = BotId::new(bot_id).map_err(|e| ServiceError::Invalid(e.to_string()))?;
    let file: BotFile = file_text.parse().map_err(|e| ServiceError::Invalid(format!("bot file: {e}")))?;
    let venue = file.venue.unwrap_or(Venue::Paper);
    let symbol = file.market.symbol.as_deref().ok_or_else(|| {
        ServiceError::Invalid(
            "bot file: market.symbol is required for a bot the service runs (e.g. \"BTC/USDT\")".into(),
        )
    })?;
    let symbol = venue.resolve(symbol).map_err(|e| ServiceError::Invalid(format!("bot file: market.symbol: {e}")))?;
    match (venue, key_label) {
        (Venue::Paper, Some(_)) => {
            return Err(ServiceError::Invalid("a paper bot trades with no API key: leave out --key".into()))
        }
        (Venue::Paper, None) => {}
        (_, None) => {
            return Err(ServiceError::Invalid(format!(
                "a bot on {venue:?} needs an API key: add one with `martingale keys add` and name it with --key"
            )))
        }
        (_, Some(label)) => {
            // Only the owner's own keys: another user's label is "not found".
            let key_venue = crate::keys::venue(db, account, label).await?;
            if key_venue != venue {
                return Err(ServiceError::Invalid(format!(
                    "key {label} is for {key_venue:?} but the bot file trades on {venue:?}"
                )));
            }
        }
    }
    let now = now_ms();
    // Bot ids name client order ids, so a subscription's bot id (signal
    // fan-out) is taken too.
    let exists: Option<(String,)> = sqlx::query_as(
        "SELECT account FROM bots WHERE bot_id = $1 UNION SELECT account FROM subscriptions WHERE bot_id = $2",
    )
    .bind(id.as_str())
    .bind(id.as_str())
    .fetch_optional(db.pool())
    .await
    .map_err(ServiceError::query)?;
    if exists.is_some() {
        // Bot ids are global (they are part of every client order id); the
        // message does not say whose it is.
        return Err(ServiceError::Exists { kind: "bot", name: id.to_string() });
    }
    sqlx::query(
        "INSERT INTO bots (account, bot_id, venue, symbol, key_label, bot_file, desired_state, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(account)
    .bind(id.as_str())
    .bind(venue_name(venue))
    .bind(symbol.as_str())
    .bind(key_label)
    .bind(file.to_json())
    .bind(DesiredState::Stopped.as_str())
    .bind(now)
    .bind(now)
    .execute(db.pool())
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => ServiceError::Exists { kind: "bot", name: id.to_string() },
        e => ServiceError::query(e),
    })?;
    get(db, account, id.as_str()).await
}

type Row = (String, String, String, String, Option<String>, String, String, i64, i64);
const COLUMNS: &str = "account, bot_id, venue, symbol, key_label, bot_file, desired_state, created_at, updated_at";

/// One of `account`'s bots.
pub async fn get(db: &Db, account: &str, bot_id: &str) -> Result<Bot> {
    let row: Option<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM bots WHERE account = $1 AND bot_id = $2")))
            .bind(account)
            .bind(bot_id)
            .fetch_optional(db.pool())
            .await
            .map_err(ServiceError::query)?;
    row.map(from_row).unwrap_or_else(|| Err(ServiceError::NotFound { kind: "bot", name: bot_id.to_string() }))
}

/// `account`'s bots (every user's with `None`: the operator's view), by id.
pub async fn list(db: &Db, account: Option<&str>) -> Result<Vec<Bot>> {
    let rows: Vec<Row> = match account {
        Some(a) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM bots WHERE account = $1 ORDER BY bot_id"
            )))
            .bind(a)
            .fetch_all(db.pool())
            .await
        }
        None => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM bots ORDER BY bot_id")))
                .fetch_all(db.pool())
                .await
        }
    }
    .map_err(ServiceError::query)?;
    rows.into_iter().map(from_row).collect()
}

/// Sets what the operator wants of one of `account`'s bots.
pub async fn set_desired(db: &Db, account: &str, bot_id: &str, desired: DesiredState) -> Result<Bot> {
    let done = sqlx::query("UPDATE bots SET desired_state = $1, updated_at = $2 WHERE account = $3 AND bot_id = $4")
        .bind(desired.as_str())
        .bind(now_ms())
        .bind(account)
        .bind(bot_id)
        .execute(db.pool())
        .await
        .map_err(ServiceError::query)?;
    if done.rows_affected() == 0 {
        return Err(ServiceError::NotFound { kind: "bot", name: bot_id.to_string() });
    }
    get(db, account, bot_id).await
}

/// Removes one of `account`'s bots. A bot that is not stopped is refused
/// unless `force`.
pub async fn remove(db: &Db, account: &str, bot_id: &str, force: bool) -> Result<()> {
    let bot = get(db, account, bot_id).await?;
    if bot.desired != DesiredState::Stopped && !force {
        return Err(ServiceError::Invalid(format!(
            "bot {bot_id} is {}: stop it first (`martingale bot stop`), or remove it with --force",
            bot.desired
        )));
    }
    if !force {
        if let Some(why) = open_position(db, &bot).await? {
            return Err(ServiceError::Invalid(format!(
                "bot {bot_id} {why}: close it first (`martingale bot start`, then `bot close`), or remove it with \
                 --force (what is on the venue stays there, unmanaged)"
            )));
        }
    }
    sqlx::query("DELETE FROM bots WHERE account = $1 AND bot_id = $2")
        .bind(account)
        .bind(bot_id)
        .execute(db.pool())
        .await
        .map_err(ServiceError::query)?;
    Ok(())
}

/// What the bot's last snapshot still holds (an open position, resting
/// orders), if anything.
async fn open_position(db: &Db, bot: &Bot) -> Result<Option<String>> {
    let text: Option<(String,)> = sqlx::query_as("SELECT state FROM engine_snapshots WHERE bot_id = $1")
        .bind(bot.id.as_str())
        .fetch_optional(db.pool())
        .await
        .map_err(ServiceError::query)?;
    let Some((text,)) = text else { return Ok(None) };
    let saved = martingale_exchange::Persisted::load(&bot.id, &text).map_err(|e| {
        ServiceError::Invalid(format!("bot {}: its snapshot cannot be read ({e}); use --force", bot.id))
    })?;
    let Some(deal) = saved.engine.deal() else { return Ok(None) };
    let qty = deal.position.open_qty();
    Ok(if !qty.is_zero() {
        Some(format!("still holds an open position of {qty} (deal {})", deal.number))
    } else if deal.has_live_orders() {
        Some(format!("still has resting orders (deal {})", deal.number))
    } else {
        None
    })
}

pub(crate) fn venue_name(v: Venue) -> &'static str {
    match v {
        Venue::Binance => "binance",
        Venue::Coindcx => "coindcx",
        Venue::Bybit => "bybit",
        Venue::Okx => "okx",
        Venue::Paper => "paper",
    }
}

fn from_row(r: Row) -> Result<Bot> {
    let (account, bot_id, venue, symbol, key_label, file, desired, created_at, updated_at) = r;
    let bad = |what: &str, e: String| ServiceError::Query(format!("stored bot {bot_id}: {what}: {e}"));
    let venue: Venue =
        serde_json::from_value(serde_json::Value::String(venue)).map_err(|e| bad("venue", e.to_string()))?;
    Ok(Bot {
        id: BotId::new(bot_id.as_str()).map_err(|e| bad("id", e.to_string()))?,
        file: BotFile::from_json(&file).map_err(|e| bad("bot file", e.to_string()))?,
        desired: desired.parse().map_err(|e: ServiceError| bad("state", e.to_string()))?,
        account,
        venue,
        symbol,
        key_label,
        created_at,
        updated_at,
    })
}

/// A one-off request to a running bot, queued in `bot_commands` and
/// applied by `serve` at its next polling interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Close the open deal now (market exit).
    Close,
    /// With the bot stopped: cancel its resting orders too (the deal in
    /// progress is left unmanaged until `start` or `close`).
    CancelOrders,
    /// An entry signal: a bot with `start_condition = signal` may open a
    /// deal at its next step (ignored while a deal is open).
    Signal,
    /// A manual safety order by market, worth this much quote, into the
    /// open deal (its take profit follows the new average).
    AddFunds {
        /// Quote amount, positive.
        quote: Decimal,
    },
    /// New settings ([`set`]): what may change mid-deal applies at once,
    /// the ladder from the next deal, the rest is refused; the bot row is
    /// written once the change is accepted.
    Set {
        /// The new bot file, as JSON (checked when queued).
        file: String,
    },
}

impl Request {
    /// The stored text: `close`, `cancel_orders`, `signal`, `add_funds:<quote>`,
    /// `set:<bot file JSON>`.
    pub fn to_text(&self) -> String {
        match self {
            Request::Close => "close".into(),
            Request::CancelOrders => "cancel_orders".into(),
            Request::Signal => "signal".into(),
            Request::AddFunds { quote } => format!("add_funds:{quote}"),
            Request::Set { file } => format!("set:{file}"),
        }
    }

    /// Reads a stored text; `None` for one this version does not know.
    pub fn parse(text: &str) -> Option<Request> {
        match text.split_once(':') {
            None if text == "close" => Some(Request::Close),
            None if text == "cancel_orders" => Some(Request::CancelOrders),
            None if text == "signal" => Some(Request::Signal),
            Some(("add_funds", q)) => Decimal::from_str(q).ok().map(|quote| Request::AddFunds { quote }),
            Some(("set", file)) => Some(Request::Set { file: file.to_string() }),
            _ => None,
        }
    }
}

/// A queued request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// Its row id.
    pub id: i64,
    /// The bot.
    pub bot_id: String,
    /// What (`None`: a request this version does not know, answered as such).
    pub request: Option<Request>,
    /// The stored text.
    pub text: String,
}

/// Queues `request` for one of `account`'s bots.
pub async fn request(db: &Db, account: &str, bot_id: &str, request: Request) -> Result<()> {
    get(db, account, bot_id).await?;
    if let Request::AddFunds { quote } = request {
        if quote <= Decimal::ZERO || quote > martingale_core::engine::MAX_AMOUNT {
            return Err(ServiceError::Invalid(format!("add-funds {quote}: a positive quote amount up to 10^13")));
        }
    }
    sqlx::query("INSERT INTO bot_commands (bot_id, command, created_at) VALUES ($1, $2, $3)")
        .bind(bot_id)
        .bind(request.to_text())
        .bind(now_ms())
        .execute(db.pool())
        .await
        .map_err(ServiceError::query)?;
    Ok(())
}

/// Requests not yet applied, oldest first.
pub async fn pending(db: &Db) -> Result<Vec<Queued>> {
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, bot_id, command FROM bot_commands WHERE done_at IS NULL ORDER BY id")
            .fetch_all(db.pool())
            .await
            .map_err(ServiceError::query)?;
    Ok(rows
        .into_iter()
        .map(|(id, bot_id, text)| {
            let request = Request::parse(&text);
            Queued { id, bot_id, request, text }
        })
        .collect())
}

/// Marks a request applied, with what came of it.
pub async fn finish(db: &Db, id: i64, outcome: &str) -> Result<()> {
    sqlx::query("UPDATE bot_commands SET done_at = $1, outcome = $2 WHERE id = $3")
        .bind(now_ms())
        .bind(outcome)
        .bind(id)
        .execute(db.pool())
        .await
        .map_err(ServiceError::query)?;
    Ok(())
}

/// One of `account`'s bot's requests, newest first (at most `limit`): the
/// stored text and, once applied, what came of it.
pub async fn history(db: &Db, account: &str, bot_id: &str, limit: i64) -> Result<Vec<(String, Option<String>)>> {
    get(db, account, bot_id).await?;
    sqlx::query_as("SELECT command, outcome FROM bot_commands WHERE bot_id = $1 ORDER BY id DESC LIMIT $2")
        .bind(bot_id)
        .bind(limit)
        .fetch_all(db.pool())
        .await
        .map_err(ServiceError::query)
}
