//! Replaying audit logs: a bot's state rebuilt from its log alone, and the
//! per-user / per-bot P&L summary of a directory of logs.
//!
//! [`replay`] feeds every logged event, in order, to a fresh engine built
//! from the log's `created` line, and checks that the engine asks for the
//! very actions the log recorded after each event. A `resumed` line (a
//! restart) says how many events the restored state had handled; events
//! logged beyond that count were lost with the process before their state
//! was persisted, so the replay drops them too. The result is the state the
//! runner persisted, exactly (tested in `tests/replay.rs`).
//!
//! Segmented logs: a log may start with a `checkpoint` line instead of
//! `created` (older segments were dropped by retention); the replay then
//! starts from the checkpoint's engine and event count. A checkpoint in
//! the middle (the start of the next segment) must equal the replayed
//! state, else the log is reported as diverged.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use martingale_core::engine::{Action, BotId, Engine, Event};
use rust_decimal::Decimal;
use serde::Serialize;
use thiserror::Error;

use crate::audit::{AuditEntry, AuditLog, AuditRecord};

/// Why a log cannot be replayed.
#[derive(Debug, Error)]
pub enum ReplayError {
    /// The log could not be read.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        error: io::Error,
    },
    /// The log does not start with the bot's `created` line.
    #[error("line {line}: expected the `created` line first")]
    NoCreated {
        /// 1-based line.
        line: usize,
    },
    /// The bot file of the `created` line is invalid.
    #[error("line {line}: {reason}")]
    BadBotFile {
        /// 1-based line.
        line: usize,
        /// Why.
        reason: String,
    },
    /// A line of another bot or account.
    #[error("line {line}: belongs to {account}/{bot}, not to this log's bot")]
    ForeignLine {
        /// 1-based line.
        line: usize,
        /// Its account.
        account: String,
        /// Its bot.
        bot: BotId,
    },
    /// A restart resumed from more events than the log holds.
    #[error("line {line}: resumed after {resumed} events but the log has only {logged}")]
    MissingEvents {
        /// 1-based line.
        line: usize,
        /// Events the restored state had handled.
        resumed: u64,
        /// Events the log holds.
        logged: u64,
    },
    /// A restart resumed from a state older than the log's first checkpoint.
    #[error("line {line}: resumed after {resumed} events, before the log's checkpoint at {base}")]
    BeforeCheckpoint {
        /// 1-based line.
        line: usize,
        /// Events the restored state had handled.
        resumed: u64,
        /// Events of the checkpoint.
        base: u64,
    },
    /// A checkpoint that is not the state replayed up to it.
    #[error("line {line}: the checkpoint ({events} events) differs from the replayed state ({replayed} events)")]
    CheckpointMismatch {
        /// 1-based line.
        line: usize,
        /// Events of the checkpoint.
        events: u64,
        /// Events replayed.
        replayed: u64,
    },
    /// The engine asked for other actions than the log recorded.
    #[error("line {line}: the log records {logged:?} but the engine asks for {replayed:?}")]
    Diverged {
        /// 1-based line of the event.
        line: usize,
        /// Logged actions.
        logged: Vec<Action>,
        /// Replayed actions.
        replayed: Vec<Action>,
    },
}

/// A replayed bot.
#[derive(Debug, Clone)]
pub struct Replay {
    /// Account.
    pub account: String,
    /// Bot.
    pub bot: BotId,
    /// The engine after every event of the log.
    pub engine: Engine,
    /// Events applied.
    pub events: u64,
    /// Actions checked against the log.
    pub actions: u64,
    /// Logged events dropped because the process died before persisting them.
    pub dropped: u64,
}

struct Group {
    line: usize,
    event: Event,
    logged: Vec<Action>,
}

/// Replays one bot's audit records (see the module docs).
pub fn replay(records: &[AuditRecord]) -> Result<Replay, ReplayError> {
    let Some(first) = records.first() else { return Err(ReplayError::NoCreated { line: 1 }) };
    let (mut base_engine, mut base) = match &first.entry {
        AuditEntry::Created { bot_file, start_time } => (
            match start_time {
                Some(t) => Engine::starting_at(first.bot.clone(), bot_file, *t),
                None => Engine::new(first.bot.clone(), bot_file),
            }
            .map_err(|e| ReplayError::BadBotFile { line: 1, reason: e.to_string() })?,
            0u64,
        ),
        AuditEntry::Checkpoint { events, engine } => ((**engine).clone(), *events),
        _ => return Err(ReplayError::NoCreated { line: 1 }),
    };
    let (account, bot) = (first.account.clone(), first.bot.clone());
    let mut engine = base_engine.clone();
    // Events the engine accepted since `base`, kept for a rebuild after a torn restart.
    let mut applied: Vec<Event> = Vec::new();
    let mut actions = 0u64;
    let mut dropped = 0u64;
    let mut group: Option<Group> = None;
    // A group's check runs when the next event / restart / the end shows
    // where its actions stop.
    let mut check = |engine: &mut Engine, applied: &mut Vec<Event>, g: Group, torn: bool| {
        let out = match engine.handle(g.event.clone()) {
            Ok(out) => out,
            // Refused by the engine: the runner refused it too, unchanged.
            Err(_) => return Ok(()),
        };
        applied.push(g.event);
        let same = out.actions == g.logged;
        // A crash may cut the action lines short; then a restart follows.
        let cut = torn && out.actions.starts_with(&g.logged);
        if !(same || cut) {
            return Err(ReplayError::Diverged { line: g.line, logged: g.logged, replayed: out.actions });
        }
        actions += g.logged.len() as u64;
        Ok(())
    };
    for (i, rec) in records.iter().enumerate().skip(1) {
        let line = i + 1;
        if rec.account != account || rec.bot != bot {
            return Err(ReplayError::ForeignLine { line, account: rec.account.clone(), bot: rec.bot.clone() });
        }
        match &rec.entry {
            AuditEntry::Event { event } => {
                if let Some(g) = group.take() {
                    check(&mut engine, &mut applied, g, false)?;
                }
                group = Some(Group { line, event: event.clone(), logged: Vec::new() });
            }
            AuditEntry::Action { action } => {
                if let Some(g) = group.as_mut() {
                    g.logged.push(action.clone());
                }
            }
            AuditEntry::Resumed { events } => {
                if let Some(g) = group.take() {
                    check(&mut engine, &mut applied, g, true)?;
                }
                let logged = base + applied.len() as u64;
                if *events > logged {
                    return Err(ReplayError::MissingEvents { line, resumed: *events, logged });
                }
                if *events < base {
                    return Err(ReplayError::BeforeCheckpoint { line, resumed: *events, base });
                }
                if *events < logged {
                    // The last events died with the process: rebuild without them.
                    dropped += logged - *events;
                    applied.truncate(usize::try_from(*events - base).unwrap_or(usize::MAX));
                    engine = base_engine.clone();
                    for e in &applied {
                        // These were accepted once; the engine is deterministic.
                        let _ = engine.handle(e.clone());
                    }
                }
            }
            AuditEntry::Checkpoint { events, engine: saved } => {
                if let Some(g) = group.take() {
                    check(&mut engine, &mut applied, g, false)?;
                }
                let replayed = base + applied.len() as u64;
                if *events != replayed || **saved != engine {
                    return Err(ReplayError::CheckpointMismatch { line, events: *events, replayed });
                }
                base = *events;
                base_engine = engine.clone();
                applied.clear();
            }
            AuditEntry::Created { .. } => return Err(ReplayError::NoCreated { line }),
            AuditEntry::Note { .. } => {}
        }
    }
    if let Some(g) = group.take() {
        check(&mut engine, &mut applied, g, true)?;
    }
    Ok(Replay { account, bot, engine, events: base + applied.len() as u64, actions, dropped })
}

/// Replays one log: its retained segments, then the live file.
pub fn replay_file(path: impl AsRef<Path>) -> Result<Replay, ReplayError> {
    let path = path.as_ref();
    let records = AuditLog::read_all(path).map_err(|error| ReplayError::Io { path: path.to_path_buf(), error })?;
    replay(&records)
}

/// One bot's results from its log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BotSummary {
    /// Account.
    pub account: String,
    /// Bot.
    pub bot: BotId,
    /// Deals closed.
    pub closed_deals: u64,
    /// Deals with a positive P&L.
    pub wins: u64,
    /// Realized P&L, quote (after fees).
    pub realized_pnl: Decimal,
    /// Fees paid in quote.
    pub fees_quote: Decimal,
    /// Base quantity held by the open deal.
    pub open_quantity: Decimal,
    /// The open deal marked at the last price the bot saw.
    pub unrealized_pnl: Decimal,
}

/// One account's results: the sum of its bots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountSummary {
    /// Account.
    pub account: String,
    /// Bots.
    pub bots: usize,
    /// Deals closed.
    pub closed_deals: u64,
    /// Realized P&L, quote.
    pub realized_pnl: Decimal,
    /// Fees paid in quote.
    pub fees_quote: Decimal,
    /// Unrealized P&L of open deals.
    pub unrealized_pnl: Decimal,
}

/// Per-bot and per-account results of a directory of audit logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditSummary {
    /// Every bot, sorted by account then bot.
    pub bots: Vec<BotSummary>,
    /// Every account, sorted.
    pub accounts: Vec<AccountSummary>,
}

impl BotSummary {
    /// The summary of a replayed bot.
    pub fn of(r: &Replay) -> BotSummary {
        let t = r.engine.totals();
        let price = r.engine.last_price().unwrap_or(Decimal::ZERO);
        BotSummary {
            account: r.account.clone(),
            bot: r.bot.clone(),
            closed_deals: t.closed_deals,
            wins: t.wins,
            realized_pnl: t.realized_pnl,
            fees_quote: t.fees_quote,
            open_quantity: r.engine.deal().map_or(Decimal::ZERO, |d| d.position.open_qty()),
            unrealized_pnl: r.engine.unrealized_pnl(price),
        }
    }
}

impl AuditSummary {
    /// Summarizes bots (any order).
    pub fn from_bots(mut bots: Vec<BotSummary>) -> AuditSummary {
        bots.sort_by(|a, b| (&a.account, &a.bot).cmp(&(&b.account, &b.bot)));
        let mut accounts: Vec<AccountSummary> = Vec::new();
        for b in &bots {
            if accounts.last().is_none_or(|a| a.account != b.account) {
                accounts.push(AccountSummary {
                    account: b.account.clone(),
                    bots: 0,
                    closed_deals: 0,
                    realized_pnl: Decimal::ZERO,
                    fees_quote: Decimal::ZERO,
                    unrealized_pnl: Decimal::ZERO,
                });
            }
            if let Some(a) = accounts.last_mut() {
                a.bots += 1;
                a.closed_deals += b.closed_deals;
                a.realized_pnl += b.realized_pnl;
                a.fees_quote += b.fees_quote;
                a.unrealized_pnl += b.unrealized_pnl;
            }
        }
        AuditSummary { bots, accounts }
    }

    /// Replays every `*.jsonl` log under `dir` (recursively).
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<AuditSummary, ReplayError> {
        let mut files = Vec::new();
        collect_logs(dir.as_ref(), &mut files)
            .map_err(|error| ReplayError::Io { path: dir.as_ref().to_path_buf(), error })?;
        files.sort();
        let mut bots = Vec::with_capacity(files.len());
        for f in files {
            bots.push(BotSummary::of(&replay_file(&f)?));
        }
        Ok(AuditSummary::from_bots(bots))
    }
}

fn collect_logs(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_logs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            out.push(path);
        }
    }
    Ok(())
}

impl fmt::Display for AuditSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<20} {:>5} {:>7} {:>16} {:>12} {:>14}",
            "account", "bots", "deals", "realized", "fees", "unrealized"
        )?;
        for a in &self.accounts {
            writeln!(
                f,
                "{:<20} {:>5} {:>7} {:>16} {:>12} {:>14}",
                a.account,
                a.bots,
                a.closed_deals,
                a.realized_pnl.round_dp(2),
                a.fees_quote.round_dp(2),
                a.unrealized_pnl.round_dp(2)
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:<20} {:<16} {:>7} {:>5} {:>16} {:>12} {:>14}",
            "account", "bot", "deals", "wins", "realized", "open qty", "unrealized"
        )?;
        for b in &self.bots {
            writeln!(
                f,
                "{:<20} {:<16} {:>7} {:>5} {:>16} {:>12} {:>14}",
                b.account,
                b.bot.as_str(),
                b.closed_deals,
                b.wins,
                b.realized_pnl.round_dp(2),
                b.open_quantity,
                b.unrealized_pnl.round_dp(2)
            )?;
        }
        Ok(())
    }
}
