//! `bots::set`: a bot's settings changed, also while it runs.
//!
//! The bot row holds the bot file and is the authority: a running bot's
//! engine follows it. The rules (what applies at once, what from the next
//! deal, what is refused) are the engine's (`Command::Reconfigure`); the
//! service adds that the venue, the market symbol and the simulated fill
//! model (the paper account's) cannot change either.
//!
//! - A stopped bot: the new file is checked against the bot's saved engine
//!   (or a fresh one) and the row is written at once; the runner takes the
//!   settings when it next starts ([`martingale_exchange::RunnerBuilder::adopt_settings`]).
//! - A running or paused bot: a [`Request::Set`] is queued; `serve` checks
//!   it against the live engine, then writes the row, then sends the
//!   engine the command (persisted with its snapshot).
//!
//! Crash windows: row first, engine second. A crash between the two leaves
//! the row new and the snapshot old; the runner's next start brings the
//! snapshot to the row (the change was checked against the same state, so
//! it applies), and a running service that finds a runner whose settings
//! differ from its row (a row written while a stopped bot's runner still
//! looked after its orders) reconfigures it the same way. A refused change
//! never reaches the row.

use martingale_core::config::BotFile;
use martingale_core::engine::Engine;
use martingale_exchange::{Persisted, StateStore};

use crate::bots::{self, Bot, DesiredState, Request};
use crate::db::{now_ms, Db};
use crate::error::{Result, ServiceError};
use crate::DbStateStore;

/// What [`set`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetOutcome {
    /// The bot is stopped: the row was written; the words say what applies
    /// when (e.g. "applied at once: take_profit").
    Saved(String),
    /// The bot runs: the change was queued for the service.
    Queued,
}

/// Reads a new bot file for `bot`: valid, on the same venue, market
/// symbol and fill model, or refused with a message.
pub fn check_file(bot: &Bot, text: &str) -> Result<BotFile> {
    let file: BotFile = text.parse().map_err(|e| ServiceError::Invalid(format!("bot file: {e}")))?;
    let venue = file.venue.unwrap_or(martingale_core::venue::Venue::Paper);
    if venue != bot.venue {
        return Err(ServiceError::Invalid(format!(
            "refused: the venue cannot change ({:?} to {venue:?}): add another bot",
            bot.venue
        )));
    }
    let symbol = file.market.symbol.as_deref().ok_or_else(|| {
        ServiceError::Invalid("bot file: market.symbol is required for a bot the service runs".into())
    })?;
    let symbol = venue.resolve(symbol).map_err(|e| ServiceError::Invalid(format!("bot file: market.symbol: {e}")))?;
    if symbol != bot.symbol {
        return Err(ServiceError::Invalid(format!(
            "refused: the market cannot change ({} to {symbol}): add another bot",
            bot.symbol
        )));
    }
    if file.fill != bot.file.fill {
        return Err(ServiceError::Invalid(
            "refused: the fill model cannot change while the bot exists (its paper account uses it)".into(),
        ));
    }
    Ok(file)
}

/// Changes one of `account`'s bots' settings from the text of a bot file
/// (see the module docs): checked like [`bots::add`], then saved at once
/// for a stopped bot, queued for a running or paused one.
pub async fn set(db: &Db, account: &str, bot_id: &str, text: &str) -> Result<SetOutcome> {
    let bot = bots::get(db, account, bot_id).await?;
    let file = check_file(&bot, text)?;
    if bot.desired != DesiredState::Stopped {
        bots::request(db, account, bot_id, Request::Set { file: file.to_json() }).await?;
        return Ok(SetOutcome::Queued);
    }
    let saved = DbStateStore::new(db.clone())
        .load(&bot.id)
        .await
        .map_err(|e| ServiceError::Query(format!("bot {bot_id}: snapshot: {e}")))?;
    let engine = match saved {
        Some(text) => Persisted::load(&bot.id, &text).map_err(|e| ServiceError::Invalid(e.to_string()))?.engine,
        None => Engine::new(bot.id.clone(), &bot.file)
            .map_err(|e| ServiceError::Invalid(format!("stored bot file of {bot_id}: {e}")))?,
    };
    let plan = engine.plan_reconfigure(&file).map_err(|e| ServiceError::Invalid(format!("refused: {e}")))?;
    write_file(db, account, bot_id, &file).await?;
    Ok(SetOutcome::Saved(plan.to_string()))
}

/// Writes one of `account`'s bots' file.
pub(crate) async fn write_file(db: &Db, account: &str, bot_id: &str, file: &BotFile) -> Result<()> {
    let done = sqlx::query("UPDATE bots SET bot_file = $1, updated_at = $2 WHERE account = $3 AND bot_id = $4")
        .bind(file.to_json())
        .bind(now_ms())
        .bind(account)
        .bind(bot_id)
        .execute(db.pool())
        .await
        .map_err(ServiceError::query)?;
    if done.rows_affected() == 0 {
        return Err(ServiceError::NotFound { kind: "bot", name: bot_id.to_string() });
    }
    Ok(())
}
