//! The audit trail: every event, action and fill of a bot, one JSON object
//! per line, appended and flushed as it happens.
//!
//! Each line has `time`, `account`, `bot`, `kind` and, when the line is
//! about an order, its `client_order_id`:
//! - `created`: the bot file a new engine was built from (first line);
//! - `event`: an event handed to the engine (tick, order report with its
//!   fills, command, signal), written before the engine handles it;
//! - `action`: an order placement or cancel the engine asked for;
//! - `resumed`: a restart; `events` is how many events the restored state
//!   had handled. Events logged after that count and before the restart
//!   were lost with the process (never persisted, never acted on) and are
//!   dropped by [`replay`](crate::replay);
//! - `note`: startup, recovery and error notes (never secrets).

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use martingale_core::config::BotFile;
use martingale_core::engine::{Action, BotId, ClientOrderId, Event, TimeMs};
use serde::{Deserialize, Serialize};

/// What an audit line records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditEntry {
    /// An event handed to the engine.
    Event {
        /// The event.
        event: Event,
    },
    /// An action the engine asked for.
    Action {
        /// The action.
        action: Action,
    },
    /// A new engine was created from this bot file.
    Created {
        /// The bot file.
        bot_file: Box<BotFile>,
    },
    /// The runner restarted from a snapshot that had handled `events` events.
    Resumed {
        /// Events handled by the restored state.
        events: u64,
    },
    /// A note (startup, recovery, errors), never containing secrets.
    Note {
        /// The text.
        text: String,
    },
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Time of the record.
    pub time: TimeMs,
    /// Account.
    pub account: String,
    /// Bot.
    pub bot: BotId,
    /// The order the line is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_order_id: Option<ClientOrderId>,
    /// What happened.
    #[serde(flatten)]
    pub entry: AuditEntry,
}

impl AuditRecord {
    /// A record, with the client order id taken from the entry.
    pub fn new(time: TimeMs, account: impl Into<String>, bot: BotId, entry: AuditEntry) -> AuditRecord {
        let client_order_id = match &entry {
            AuditEntry::Action { action: Action::Place(o) } => Some(o.client_order_id.clone()),
            AuditEntry::Action { action: Action::Cancel { client_order_id } } => Some(client_order_id.clone()),
            AuditEntry::Event { event: Event::Order { update, .. } } => Some(update.client_order_id().clone()),
            _ => None,
        };
        AuditRecord { time, account: account.into(), bot, client_order_id, entry }
    }
}

/// An append-only JSON-lines file.
///
/// ```
/// use martingale_exchange::{AuditEntry, AuditLog, AuditRecord};
/// use martingale_core::engine::BotId;
/// let dir = tempfile::tempdir().unwrap();
/// let log = AuditLog::open(dir.path().join("b1.jsonl")).unwrap();
/// let rec = AuditRecord::new(1, "alice", BotId::new("b1").unwrap(), AuditEntry::Note { text: "started".into() });
/// log.append(&rec).unwrap();
/// assert_eq!(AuditLog::read(log.path()).unwrap(), vec![rec]);
/// ```
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    /// Opens (or creates) the log for appending.
    pub fn open(path: impl AsRef<Path>) -> io::Result<AuditLog> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(AuditLog { path, file: Mutex::new(file) })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as a line and flushes it.
    pub fn append(&self, record: &AuditRecord) -> io::Result<()> {
        let mut line = serde_json::to_string(record).map_err(io::Error::other)?;
        line.push('\n');
        let mut f = self.file.lock().map_err(|_| io::Error::other("audit log lock poisoned"))?;
        f.write_all(line.as_bytes())?;
        f.flush()
    }

    /// Reads every record of a log; a torn last line (a crash mid-write) is
    /// ignored, any other malformed line is an error naming it.
    pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<AuditRecord>> {
        let lines: Vec<String> = BufReader::new(File::open(path)?).lines().collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            match serde_json::from_str(line) {
                Ok(r) => out.push(r),
                Err(_) if i + 1 == lines.len() => break,
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("line {}: {e}", i + 1))),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn events_and_actions_round_trip_and_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/b.jsonl");
        let log = AuditLog::open(&path).unwrap();
        let bot = BotId::new("b").unwrap();
        let recs = vec![
            AuditRecord::new(
                1,
                "u",
                bot.clone(),
                AuditEntry::Event { event: Event::Tick { time: 1, price: dec!(100.5) } },
            ),
            AuditRecord::new(
                2,
                "u",
                bot,
                AuditEntry::Action { action: Action::Cancel { client_order_id: ClientOrderId::from_raw("b-1-tp-3") } },
            ),
        ];
        for r in &recs {
            log.append(r).unwrap();
        }
        drop(log);
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"time\":3,\"acc").unwrap();
        assert_eq!(AuditLog::read(&path).unwrap(), recs);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().next().unwrap().contains("\"kind\":\"event\""));
        assert!(text.lines().nth(1).unwrap().contains("\"client_order_id\":\"b-1-tp-3\""));
    }
}
