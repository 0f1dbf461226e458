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
//! - `note`: startup, recovery and error notes (never secrets);
//! - `checkpoint`: the first line of every segment after the first: the
//!   persisted engine and its event count, where a replay of the retained
//!   segments starts (and which a replay of earlier segments must reach).
//!
//! Durability: a crash in the middle of a write leaves a torn last line;
//! [`AuditLog::open`] cuts it off (back to the last complete line) and
//! writes a `note` saying how many bytes it removed, so appending never
//! glues a new record to a torn one. Files are 0600, folders 0700 (Unix),
//! and a log folder that is a symbolic link is refused.
//!
//! Segments: with [`AuditLog::with_rotation`] the log is cut into segments
//! of about `segment_bytes`: the live file is `<name>.jsonl`, older
//! segments `<name>.jsonl.000001`, `.000002`, ... (oldest first); only the
//! newest `keep` old segments are retained. [`crate::replay_file`] reads
//! the retained segments then the live file. Ticks that change nothing are
//! not logged one by one (see [`crate::Runner`]).

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use martingale_core::config::BotFile;
use martingale_core::engine::{Action, BotId, ClientOrderId, Engine, Event, TimeMs};
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
        /// The start time whose generation the client order ids carry
        /// (absent in logs of engines without a generation).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_time: Option<TimeMs>,
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
    /// The persisted state where a segment starts.
    Checkpoint {
        /// Events handled by the state.
        events: u64,
        /// The engine.
        engine: Box<Engine>,
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

/// An append-only JSON-lines file, optionally cut into segments.
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
    inner: Mutex<Inner>,
    rotation: Option<(u64, usize)>,
}

#[derive(Debug)]
struct Inner {
    file: File,
    bytes: u64,
}

/// Cuts a torn last line off `path`; returns the bytes removed.
fn repair(path: &Path) -> io::Result<u64> {
    let mut f = match fs::OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    // Find the last newline, reading backwards in blocks.
    let mut end = len;
    let mut buf = vec![0u8; 8192];
    let keep = loop {
        if end == 0 {
            break 0;
        }
        let start = end.saturating_sub(buf.len() as u64);
        let n = usize::try_from(end - start).unwrap_or(buf.len());
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|b| *b == b'\n') {
            break start + i as u64 + 1;
        }
        end = start;
    };
    if keep == len {
        return Ok(0);
    }
    f.set_len(keep)?;
    f.sync_all()?;
    Ok(len - keep)
}

impl AuditLog {
    /// Opens (or creates, 0600) the log for appending; a torn last line is
    /// cut off and noted (see the module docs).
    pub fn open(path: impl AsRef<Path>) -> io::Result<AuditLog> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::store::private_dir(dir)?;
        }
        let removed = repair(&path)?;
        let file = crate::store::private_file(&path, true)?;
        let bytes = file.metadata()?.len();
        let log = AuditLog { path, inner: Mutex::new(Inner { file, bytes }), rotation: None };
        if removed > 0 {
            // The note names the bot of the last complete line, if any.
            let last = AuditLog::read(&log.path).ok().and_then(|r| r.last().cloned());
            if let Some(last) = last {
                let text = format!("audit log repaired: a torn last line of {removed} bytes was cut off");
                log.append(&AuditRecord::new(last.time, last.account, last.bot, AuditEntry::Note { text }))?;
            }
            tracing::warn!(path = %log.path.display(), removed, "audit log: torn last line cut off");
        }
        Ok(log)
    }

    /// Cuts the log into segments of about `segment_bytes` and keeps the
    /// newest `keep` old segments (see the module docs).
    pub fn with_rotation(mut self, segment_bytes: u64, keep: usize) -> AuditLog {
        self.rotation = Some((segment_bytes.max(1), keep));
        self
    }

    /// The live file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as a line and flushes it.
    pub fn append(&self, record: &AuditRecord) -> io::Result<()> {
        let mut line = serde_json::to_string(record).map_err(io::Error::other)?;
        line.push('\n');
        let mut inner = self.inner.lock().map_err(|_| io::Error::other("audit log lock poisoned"))?;
        inner.file.write_all(line.as_bytes())?;
        inner.file.flush()?;
        inner.bytes += line.len() as u64;
        Ok(())
    }

    /// True when the live segment has reached its size.
    pub fn wants_rotation(&self) -> bool {
        match (self.rotation, self.inner.lock()) {
            (Some((limit, _)), Ok(inner)) => inner.bytes >= limit,
            _ => false,
        }
    }

    /// Retained old segments of the log at `path`, oldest first.
    pub fn segments(path: impl AsRef<Path>) -> io::Result<Vec<PathBuf>> {
        let path = path.as_ref();
        let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
            return Ok(Vec::new());
        };
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        let prefix = format!("{name}.");
        let mut out: Vec<(u64, PathBuf)> = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let file = entry.file_name();
            let Some(n) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else { continue };
            if n.len() == 6 && n.bytes().all(|b| b.is_ascii_digit()) {
                if let Ok(n) = n.parse::<u64>() {
                    out.push((n, entry.path()));
                }
            }
        }
        out.sort();
        Ok(out.into_iter().map(|(_, p)| p).collect())
    }

    /// Closes the live segment (renamed to the next number) and starts a
    /// new one whose first line is `checkpoint`; drops old segments beyond
    /// the retention.
    pub fn rotate(&self, checkpoint: &AuditRecord) -> io::Result<()> {
        let keep = self.rotation.map_or(usize::MAX, |(_, k)| k);
        {
            let mut inner = self.inner.lock().map_err(|_| io::Error::other("audit log lock poisoned"))?;
            let old = AuditLog::segments(&self.path)?;
            let next = old
                .last()
                .and_then(|p| p.extension().and_then(|e| e.to_str()).and_then(|e| e.parse::<u64>().ok()))
                .unwrap_or(0)
                + 1;
            let name = self.path.file_name().and_then(|n| n.to_str()).unwrap_or("audit.jsonl");
            let closed = self.path.with_file_name(format!("{name}.{next:06}"));
            inner.file.sync_all()?;
            fs::rename(&self.path, &closed)?;
            inner.file = crate::store::private_file(&self.path, true)?;
            inner.bytes = 0;
        }
        self.append(checkpoint)?;
        let all = AuditLog::segments(&self.path)?;
        for p in all.iter().take(all.len().saturating_sub(keep)) {
            fs::remove_file(p)?;
        }
        Ok(())
    }

    /// Reads every record of one file; a torn last line (a crash mid-write)
    /// is ignored, any other malformed line is an error naming it.
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

    /// Reads the retained segments then the live file, as one sequence.
    pub fn read_all(path: impl AsRef<Path>) -> io::Result<Vec<AuditRecord>> {
        let mut out = Vec::new();
        for seg in AuditLog::segments(path.as_ref())? {
            out.extend(AuditLog::read(seg)?);
        }
        out.extend(AuditLog::read(path)?);
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

    #[test]
    fn a_torn_tail_is_cut_off_on_open_and_noted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.jsonl");
        let bot = BotId::new("b").unwrap();
        let rec = |t| AuditRecord::new(t, "u", bot.clone(), AuditEntry::Note { text: format!("n{t}") });
        let log = AuditLog::open(&path).unwrap();
        log.append(&rec(1)).unwrap();
        log.append(&rec(2)).unwrap();
        drop(log);
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"time\":3,\"acc").unwrap();
        // The next run appends: without the repair, line 3 would be torn + record 3.
        let log = AuditLog::open(&path).unwrap();
        log.append(&rec(3)).unwrap();
        drop(log);
        let read = AuditLog::read(&path).unwrap();
        assert_eq!(read.len(), 4, "{read:?}");
        assert_eq!((&read[0], &read[1], &read[3]), (&rec(1), &rec(2), &rec(3)));
        assert!(matches!(&read[2].entry, AuditEntry::Note { text } if text.contains("torn last line of 14 bytes")));
        // A log that is only a torn line is emptied.
        std::fs::write(&path, b"{\"ti").unwrap();
        drop(AuditLog::open(&path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"");
    }

    #[test]
    fn rotation_keeps_the_newest_segments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.jsonl");
        let bot = BotId::new("b").unwrap();
        let log = AuditLog::open(&path).unwrap().with_rotation(200, 2);
        let mut rotations = 0;
        for t in 0..40 {
            log.append(&AuditRecord::new(t, "u", bot.clone(), AuditEntry::Note { text: "x".repeat(40) })).unwrap();
            if log.wants_rotation() {
                log.rotate(&AuditRecord::new(t, "u", bot.clone(), AuditEntry::Note { text: "cut".into() })).unwrap();
                rotations += 1;
            }
        }
        assert!(rotations > 10);
        let segs = AuditLog::segments(&path).unwrap();
        assert_eq!(segs.len(), 2, "{segs:?}");
        assert!(segs[0].to_str().unwrap().ends_with(&format!(".jsonl.{:06}", rotations - 1)), "{segs:?}");
        assert!(segs[1].to_str().unwrap().ends_with(&format!(".jsonl.{rotations:06}")), "{segs:?}");
        let all = AuditLog::read_all(&path).unwrap();
        assert!(all.windows(2).all(|w| w[0].time <= w[1].time));
        assert_eq!(all.last().unwrap().time, 39);
    }
}
