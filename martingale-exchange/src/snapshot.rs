//! The runner's snapshot file: the engine in an envelope that names its bot
//! and carries an integrity check, and the check of a snapshot against the
//! bot file it is resumed with.
//!
//! Format 2 (written since the envelope exists):
//! `{"format":2,"bot":"<id>","events":N,"last_time":T,"engine":{...},"sha256":"<hex>"}`
//! where `sha256` is the SHA-256 of the canonical JSON of everything
//! before it (the same object without `sha256`, the engine as a JSON value
//! with sorted keys). On load the digest is recomputed from the parsed
//! values, so any change that alters the state (a flipped byte, an edited
//! number) is a [`SnapshotError::Checksum`]; unknown or misspelled keys are
//! refused; a snapshot of another bot is a [`SnapshotError::OtherBot`].
//!
//! Older files (`{"events":N,"engine":{...}}` and a bare engine) still
//! load, without an integrity check (they never had one); the next save
//! writes format 2. The envelope's `format` is this file's layout; the
//! engine inside carries its own (`martingale_core::engine::ENGINE_SNAPSHOT_FORMAT`),
//! so a bare engine is told from an envelope by the `engine` key.
//!
//! A restored engine must also match the bot file it is resumed with
//! ([`check_settings`]): its strategy, market rules, fees and the values
//! derived from them are compared with a fresh engine built from the file,
//! and every difference is listed. This is what keeps a hostile or stale
//! snapshot (say `max_safety_orders` 4294967295) from running: the file is
//! validated, the snapshot must equal it.

use martingale_core::config::BotFile;
use martingale_core::engine::{BotId, Engine, TimeMs};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The current snapshot format.
pub const SNAPSHOT_FORMAT: u32 = 2;

/// Why a snapshot was refused. The runner never runs a refused snapshot.
#[derive(Debug, Error)]
pub enum SnapshotError {
    /// The file is not a snapshot in any known format.
    #[error("the state file of bot {bot} is not a snapshot ({reason}); restore it from a backup")]
    Malformed {
        /// The bot whose file it is.
        bot: String,
        /// What is wrong.
        reason: String,
    },
    /// The integrity check failed: the file was modified or damaged.
    #[error(
        "the state file of bot {bot} fails its integrity check (SHA-256 {found} does not match the content, \
         {computed}): it was modified or damaged; restore it from a backup"
    )]
    Checksum {
        /// The bot.
        bot: String,
        /// Digest in the file.
        found: String,
        /// Digest of the content.
        computed: String,
    },
    /// A snapshot written in an unknown format version.
    #[error("the state file of bot {bot} has format {format}; this build reads formats up to {SNAPSHOT_FORMAT}")]
    Format {
        /// The bot.
        bot: String,
        /// The file's format.
        format: u32,
    },
    /// The snapshot belongs to another bot (a copied file).
    #[error("the state file of bot {expected} holds bot {found}'s state; it was copied from another bot: remove it")]
    OtherBot {
        /// The bot being started.
        expected: String,
        /// The bot the snapshot is of.
        found: String,
    },
    /// The engine inside is invalid.
    #[error("the state file of bot {bot} holds an invalid engine: {reason}")]
    InvalidEngine {
        /// The bot.
        bot: String,
        /// Why.
        reason: String,
    },
    /// The bot file and the saved state disagree.
    #[error(
        "the bot file of {bot} differs from its saved state in {}: restore the bot file the state was made \
         with, or stop the bot, wait until it has no open deal and remove its state file to start afresh",
        differences.join("; ")
    )]
    SettingsChanged {
        /// The bot.
        bot: String,
        /// `path: state X, file Y` for each difference.
        differences: Vec<String>,
    },
}

/// A restored runner snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persisted {
    /// Events handled since the engine was created.
    pub events: u64,
    /// Time of the last event the engine handled, if known (format 2).
    pub last_time: Option<TimeMs>,
    /// The engine.
    pub engine: Engine,
}

#[derive(Serialize)]
struct Body<'a> {
    format: u32,
    bot: &'a str,
    events: u64,
    last_time: Option<TimeMs>,
    engine: &'a Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    format: u32,
    bot: String,
    events: u64,
    last_time: Option<TimeMs>,
    engine: Value,
    sha256: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Legacy {
    events: u64,
    engine: Engine,
}

fn digest(body: &Body<'_>) -> Result<String, serde_json::Error> {
    Ok(hex::encode(Sha256::digest(serde_json::to_string(body)?.as_bytes())))
}

impl Persisted {
    /// The format-2 text of a snapshot.
    pub fn to_text(engine: &Engine, events: u64, last_time: Option<TimeMs>) -> Result<String, serde_json::Error> {
        let value = serde_json::to_value(engine)?;
        let body = Body { format: SNAPSHOT_FORMAT, bot: engine.bot_id().as_str(), events, last_time, engine: &value };
        let sha = digest(&body)?;
        let mut text = serde_json::to_string(&body)?;
        text.pop(); // the closing brace
        text.push_str(&format!(",\"sha256\":\"{sha}\"}}"));
        Ok(text)
    }

    /// Parses `bot`'s snapshot, checking its integrity and owner (see the
    /// module docs). Older formats load without a check.
    pub fn load(bot: &BotId, text: &str) -> Result<Persisted, SnapshotError> {
        let name = bot.to_string();
        let malformed = |reason: String| SnapshotError::Malformed { bot: name.clone(), reason };
        let invalid = |reason: String| SnapshotError::InvalidEngine { bot: name.clone(), reason };
        let value: Value = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
        // An envelope wraps the engine under "engine"; a bare engine (the
        // oldest files) has its own "format" (the engine's layout) but no
        // "engine" key.
        let wraps = value.get("engine").is_some();
        let is_envelope = wraps && (value.get("format").is_some() || value.get("sha256").is_some());
        let persisted = if is_envelope {
            let env: Envelope = serde_json::from_value(value).map_err(|e| malformed(e.to_string()))?;
            if env.format != SNAPSHOT_FORMAT {
                return Err(SnapshotError::Format { bot: name.clone(), format: env.format });
            }
            let body = Body {
                format: env.format,
                bot: &env.bot,
                events: env.events,
                last_time: env.last_time,
                engine: &env.engine,
            };
            let computed = digest(&body).map_err(|e| malformed(e.to_string()))?;
            if computed != env.sha256 {
                return Err(SnapshotError::Checksum { bot: name.clone(), found: env.sha256, computed });
            }
            if env.bot != bot.as_str() {
                return Err(SnapshotError::OtherBot { expected: name, found: env.bot });
            }
            let engine = Engine::from_json(&env.engine.to_string()).map_err(|e| invalid(e.to_string()))?;
            Persisted { events: env.events, last_time: env.last_time, engine }
        } else if wraps {
            let legacy: Legacy = serde_json::from_value(value).map_err(|e| malformed(e.to_string()))?;
            Persisted { events: legacy.events, last_time: None, engine: legacy.engine }
        } else {
            let engine = Engine::from_json(text).map_err(|e| malformed(e.to_string()))?;
            Persisted { events: 0, last_time: None, engine }
        };
        if persisted.engine.bot_id() != bot {
            return Err(SnapshotError::OtherBot {
                expected: bot.to_string(),
                found: persisted.engine.bot_id().to_string(),
            });
        }
        Ok(persisted)
    }

    /// Parses a snapshot of any format without knowing its bot: the
    /// integrity check still applies; the owner is the one it names.
    pub fn parse(text: &str) -> Result<Persisted, SnapshotError> {
        let malformed = |reason: String| SnapshotError::Malformed { bot: "?".into(), reason };
        let value: Value = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
        let named = value
            .get("bot")
            .and_then(Value::as_str)
            .or_else(|| value.get("engine").and_then(|e| e.get("bot")).and_then(Value::as_str))
            .ok_or_else(|| malformed("it names no bot".into()))?;
        let bot = BotId::new(named).map_err(|e| malformed(e.to_string()))?;
        Persisted::load(&bot, text)
    }
}

/// Compares a restored engine with the bot file it is resumed with (see
/// the module docs): `Ok` when the settings are the file's.
pub fn check_settings(engine: &Engine, bot: &BotFile) -> Result<(), SnapshotError> {
    let id = engine.bot_id().clone();
    let fresh = Engine::new(id.clone(), bot)
        .map_err(|e| SnapshotError::InvalidEngine { bot: id.to_string(), reason: format!("bot file: {e}") })?;
    // A reconfiguration may leave the new strategy pending until the deal
    // in progress ends: the file must hold that one (the target).
    let settled = match engine.pending_strategy() {
        Some(next) => {
            let target =
                BotFile { strategy: next.clone(), market: engine.rules().clone(), fees: *engine.fees(), ..bot.clone() };
            Engine::new(id.clone(), &target).map_err(|e| SnapshotError::InvalidEngine {
                bot: id.to_string(),
                reason: format!("pending settings: {e}"),
            })?
        }
        None => engine.clone(),
    };
    let to_value = |e: &Engine| serde_json::to_value(e).unwrap_or(Value::Null);
    let (state, file) = (to_value(&settled), to_value(&fresh));
    let mut differences = Vec::new();
    for key in ["strategy", "deviations", "levels_spec", "rules", "fees"] {
        diff(key, state.get(key).unwrap_or(&Value::Null), file.get(key).unwrap_or(&Value::Null), &mut differences);
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(SnapshotError::SettingsChanged { bot: id.to_string(), differences })
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}...", &s[..s.char_indices().nth(57).map_or(s.len(), |(i, _)| i)])
    } else {
        s
    }
}

fn diff(path: &str, state: &Value, file: &Value, out: &mut Vec<String>) {
    if state == file || out.len() >= 12 {
        return;
    }
    match (state, file) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                diff(&format!("{path}.{k}"), a.get(k).unwrap_or(&Value::Null), b.get(k).unwrap_or(&Value::Null), out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ => out.push(format!("{path}: state {}, file {}", short(state), short(file))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use martingale_core::engine::{Command, Event};
    use rust_decimal_macros::dec;

    fn bot() -> BotFile {
        martingale_core::config::BotFile::example().unwrap()
    }

    fn engine(id: &str) -> Engine {
        let mut e = Engine::new(BotId::new(id).unwrap(), &bot()).unwrap();
        e.handle(Event::Command { time: 0, command: Command::Start }).unwrap();
        e.handle(Event::Tick { time: 1, price: dec!(43250.17) }).unwrap();
        e
    }

    #[test]
    fn round_trip_and_legacy_formats() {
        let e = engine("b1");
        let id = e.bot_id().clone();
        let text = Persisted::to_text(&e, 7, Some(1)).unwrap();
        assert_eq!(
            Persisted::load(&id, &text).unwrap(),
            Persisted { events: 7, last_time: Some(1), engine: e.clone() }
        );
        let legacy = format!("{{\"events\":3,\"engine\":{}}}", e.to_json());
        assert_eq!(Persisted::load(&id, &legacy).unwrap().events, 3);
        assert_eq!(Persisted::load(&id, &e.to_json()).unwrap().engine, e);
        assert_eq!(Persisted::parse(&text).unwrap().engine, e);
    }

    #[test]
    fn another_bots_snapshot_is_refused() {
        let e = engine("alice1");
        let text = Persisted::to_text(&e, 2, Some(1)).unwrap();
        let err = Persisted::load(&BotId::new("bob1").unwrap(), &text).unwrap_err();
        assert!(matches!(err, SnapshotError::OtherBot { .. }), "{err}");
        assert!(err.to_string().contains("alice1"), "{err}");
        let legacy = format!("{{\"events\":3,\"engine\":{}}}", e.to_json());
        assert!(matches!(Persisted::load(&BotId::new("bob1").unwrap(), &legacy), Err(SnapshotError::OtherBot { .. })));
    }

    #[test]
    fn every_flipped_byte_is_refused_or_loads_the_same_state() {
        let e = engine("b1");
        let id = e.bot_id().clone();
        let text = Persisted::to_text(&e, 5, Some(1)).unwrap();
        let original = Persisted::load(&id, &text).unwrap();
        let (mut tried, mut refused) = (0, 0);
        for i in 0..text.len() {
            for mask in [0x01u8, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40] {
                let mut bytes = text.as_bytes().to_vec();
                bytes[i] ^= mask;
                // Flips into non-UTF-8 cannot even be read as text.
                let Ok(flipped) = String::from_utf8(bytes) else { continue };
                tried += 1;
                match Persisted::load(&id, &flipped) {
                    Ok(p) => assert_eq!(p, original, "byte {i} ^ {mask:#x} loaded a different state"),
                    Err(_) => refused += 1,
                }
            }
        }
        // Every flip of this snapshot is refused (none lands on bytes
        // without meaning, such as insignificant whitespace).
        assert_eq!(refused, tried, "{refused} of {tried} flips refused");
    }

    #[test]
    fn settings_that_differ_from_the_bot_file_are_listed() {
        let e = engine("b1");
        assert!(check_settings(&e, &bot()).is_ok());
        let mut other = bot();
        other.strategy.max_safety_orders = Some(4_294_967_295);
        let err = check_settings(&e, &other).unwrap_err().to_string();
        assert!(err.contains("invalid") || err.contains("max_safety_orders"), "{err}");
        let mut changed = bot();
        changed.fees.taker = dec!(0.002);
        let err = check_settings(&e, &changed).unwrap_err().to_string();
        assert!(err.contains("fees.taker: state"), "{err}");
    }
}
