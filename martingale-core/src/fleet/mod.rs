//! Many engines at once: a [`Fleet`] keyed by (account, bot), market events
//! routed by symbol, and signal [fan-out](fanout) to subscribers.
//!
//! Invariants:
//! - every engine is owned by exactly one [`EngineKey`]; two accounts may
//!   use the same bot id (their orders go to different venue accounts);
//! - a market event for a symbol reaches every engine trading that symbol,
//!   in insertion order, and nothing else;
//! - every action and closed deal comes back tagged with its key;
//! - one engine's error (a refused event, a bad price) is reported with its
//!   key and changes nothing, neither in that engine ([`Engine::handle`]
//!   leaves an engine untouched on error) nor in any other.
//!
//! The fleet is pure like the rest of the core: no clock, no I/O, no
//! threads. The exchange crate's supervisor runs one task per bot instead;
//! the fleet suits a single event loop (a backtest of many users, a
//! signal service, a replay).

mod account;
pub mod fanout;
mod funds;

use std::collections::HashMap;

use rust_decimal::Decimal;
use thiserror::Error;

use crate::config::{BotFile, ConfigError};
use crate::engine::{Action, Candle, Command, DealReport, Engine, EngineError, Event, TimeMs};

pub use account::{AccountId, EngineKey, InvalidAccountId, InvalidKey, MAX_ACCOUNT_ID_LEN};
pub use funds::FundsWait;

/// An item produced by one engine of a fleet, with the engine's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged<T> {
    /// The engine that produced it.
    pub key: EngineKey,
    /// What it produced.
    pub item: T,
}

/// What one routed event produced across the fleet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetOutput {
    /// Orders to place or cancel, per engine, in routing order.
    pub actions: Vec<Tagged<Action>>,
    /// Deals that closed.
    pub closed: Vec<Tagged<DealReport>>,
    /// Engines that refused the event (their state is unchanged).
    pub errors: Vec<Tagged<EngineError>>,
}

impl FleetOutput {
    /// True when nothing happened.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty() && self.closed.is_empty() && self.errors.is_empty()
    }
}

/// Why the fleet refused a request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FleetError {
    /// An engine with this key exists already.
    #[error("engine {0} exists already")]
    Duplicate(EngineKey),
    /// No engine has this key.
    #[error("no engine {0}")]
    Unknown(EngineKey),
    /// The bot file names no market symbol, so ticks cannot be routed.
    #[error("bot {0}: market.symbol is required in a fleet")]
    NoSymbol(EngineKey),
    /// The bot file is invalid.
    #[error("bot {key}: {error}")]
    Config {
        /// The engine.
        key: EngineKey,
        /// What is wrong.
        error: Box<ConfigError>,
    },
    /// The engine's bot id is not the key's.
    #[error("engine of bot {engine_bot} cannot be filed under {key}")]
    BotMismatch {
        /// The key given.
        key: EngineKey,
        /// The engine's own bot id.
        engine_bot: crate::engine::BotId,
    },
    /// The engine refused the event (its state is unchanged).
    #[error("bot {key}: {error}")]
    Engine {
        /// The engine.
        key: EngineKey,
        /// Why.
        error: Box<EngineError>,
    },
}

#[derive(Debug, Clone)]
struct Slot {
    key: EngineKey,
    symbol: String,
    engine: Engine,
}

/// Many engines keyed by (account, bot), routed by symbol.
///
/// ```
/// use martingale_core::config::BotFile;
/// use martingale_core::engine::{Action, Command};
/// use martingale_core::fleet::{AccountId, EngineKey, Fleet};
/// use rust_decimal_macros::dec;
///
/// let bot: BotFile = martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap();
/// let mut fleet = Fleet::new();
/// for user in ["alice", "bob"] {
///     let key = EngineKey::parse(user, "btc1").unwrap();
///     fleet.insert(key.clone(), &bot).unwrap();
///     fleet.command(&key, 0, Command::Start).unwrap();
/// }
/// // One tick on BTCUSDT reaches both engines; each answers with its own base order.
/// let out = fleet.tick("BTCUSDT", 1, dec!(43250.17));
/// assert_eq!(out.actions.len(), 2);
/// assert_eq!(out.actions[1].key.account, AccountId::new("bob").unwrap());
/// assert!(matches!(&out.actions[0].item, Action::Place(o) if o.quantity == dec!(0.00231)));
/// // Other symbols reach nobody.
/// assert!(fleet.tick("ETHUSDT", 2, dec!(2000)).is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Fleet {
    slots: Vec<Slot>,
    index: HashMap<EngineKey, usize>,
    by_symbol: HashMap<String, Vec<usize>>,
    /// Balances shared by each account's bots (see `funds`).
    funds: HashMap<AccountId, Decimal>,
    /// Bots waiting for funds, and why.
    waits: HashMap<EngineKey, FundsWait>,
}

impl Fleet {
    /// An empty fleet.
    pub fn new() -> Fleet {
        Fleet::default()
    }

    /// Number of engines.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when the fleet has no engine.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Adds a new engine for a bot file (whose `market.symbol` routes it).
    pub fn insert(&mut self, key: EngineKey, file: &BotFile) -> Result<(), FleetError> {
        let engine = Engine::new(key.bot.clone(), file)
            .map_err(|error| FleetError::Config { key: key.clone(), error: Box::new(error) })?;
        self.insert_engine(key, engine)
    }

    /// Adds an existing engine (e.g. restored from a snapshot); its bot id
    /// must be the key's.
    pub fn insert_engine(&mut self, key: EngineKey, engine: Engine) -> Result<(), FleetError> {
        if self.index.contains_key(&key) {
            return Err(FleetError::Duplicate(key));
        }
        if engine.bot_id() != &key.bot {
            return Err(FleetError::BotMismatch { engine_bot: engine.bot_id().clone(), key });
        }
        let Some(symbol) = engine.rules().symbol.clone() else { return Err(FleetError::NoSymbol(key)) };
        let i = self.slots.len();
        self.by_symbol.entry(symbol.clone()).or_default().push(i);
        self.index.insert(key.clone(), i);
        self.slots.push(Slot { key, symbol, engine });
        Ok(())
    }

    /// Removes an engine and returns it.
    pub fn remove(&mut self, key: &EngineKey) -> Option<Engine> {
        let i = self.index.remove(key)?;
        self.waits.remove(key);
        let slot = self.slots.swap_remove(i);
        if let Some(list) = self.by_symbol.get_mut(&slot.symbol) {
            list.retain(|&j| j != i);
            if list.is_empty() {
                self.by_symbol.remove(&slot.symbol);
            }
        }
        // The last slot moved into `i`: point its index and symbol list there.
        let moved_from = self.slots.len();
        if let Some(moved) = self.slots.get(i) {
            self.index.insert(moved.key.clone(), i);
            if let Some(list) = self.by_symbol.get_mut(&moved.symbol) {
                for j in list.iter_mut().filter(|j| **j == moved_from) {
                    *j = i;
                }
                // Keep routing order = insertion order.
                list.sort_unstable();
            }
        }
        Some(slot.engine)
    }

    /// The engine of a key.
    pub fn get(&self, key: &EngineKey) -> Option<&Engine> {
        self.index.get(key).and_then(|&i| self.slots.get(i)).map(|s| &s.engine)
    }

    /// Every engine with its key, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (&EngineKey, &Engine)> {
        self.slots.iter().map(|s| (&s.key, &s.engine))
    }

    /// Engines trading `symbol`.
    pub fn count_on(&self, symbol: &str) -> usize {
        self.by_symbol.get(symbol).map_or(0, Vec::len)
    }

    /// Routes a last-price tick to every engine on `symbol` (an engine
    /// whose new deal its account cannot fund does not get it: see
    /// [`Fleet::set_funds`]).
    pub fn tick(&mut self, symbol: &str, time: TimeMs, price: Decimal) -> FleetOutput {
        self.route(symbol, time, |_| Event::Tick { time, price })
    }

    /// Routes a candle to every engine on `symbol` (gated like a tick).
    pub fn candle(&mut self, symbol: &str, candle: Candle) -> FleetOutput {
        self.route(symbol, candle.time, |_| Event::Candle(candle))
    }

    /// Hands one event (an order update, a command, a signal) to one engine.
    pub fn handle(&mut self, key: &EngineKey, event: Event) -> Result<Tagged<crate::engine::Output>, FleetError> {
        let slot = self.index.get(key).and_then(|&i| self.slots.get_mut(i)).ok_or(FleetError::Unknown(key.clone()))?;
        let item = slot
            .engine
            .handle(event)
            .map_err(|error| FleetError::Engine { key: key.clone(), error: Box::new(error) })?;
        Ok(Tagged { key: key.clone(), item })
    }

    /// Sends a command to one engine.
    pub fn command(
        &mut self,
        key: &EngineKey,
        time: TimeMs,
        command: Command,
    ) -> Result<Tagged<crate::engine::Output>, FleetError> {
        self.handle(key, Event::Command { time, command })
    }

    /// Sends a command to every engine of one account (e.g. pause all of a
    /// user's bots); engines that refuse it are reported, the others act.
    pub fn command_account(&mut self, account: &AccountId, time: TimeMs, command: Command) -> FleetOutput {
        let mut out = FleetOutput::default();
        for slot in self.slots.iter_mut().filter(|s| &s.key.account == account) {
            collect(&mut out, &slot.key, slot.engine.handle(Event::Command { time, command: command.clone() }));
        }
        out
    }

    fn route(&mut self, symbol: &str, time: TimeMs, event: impl Fn(&Engine) -> Event) -> FleetOutput {
        let mut out = FleetOutput::default();
        let mut free = match self.by_symbol.get(symbol) {
            None => return out,
            Some(_) if self.funds.is_empty() => HashMap::new(),
            Some(list) => {
                let accounts = list.iter().filter_map(|&i| self.slots.get(i)).map(|s| s.key.account.clone());
                self.free_balances(accounts)
            }
        };
        let Some(list) = self.by_symbol.get(symbol) else { return out };
        for &i in list {
            if let Some(slot) = self.slots.get_mut(i) {
                let ev = event(&slot.engine);
                let account_free = free.get_mut(&slot.key.account);
                match funds::gated(&mut slot.engine, &slot.key, ev, time, account_free, &mut self.waits) {
                    Ok(Some(o)) => collect(&mut out, &slot.key, Ok(o)),
                    Ok(None) => {}
                    Err(e) => collect(&mut out, &slot.key, Err(e)),
                }
            }
        }
        out
    }
}

fn collect(out: &mut FleetOutput, key: &EngineKey, result: Result<crate::engine::Output, EngineError>) {
    match result {
        Ok(o) => {
            out.actions.extend(o.actions.into_iter().map(|item| Tagged { key: key.clone(), item }));
            out.closed.extend(o.closed.into_iter().map(|item| Tagged { key: key.clone(), item }));
        }
        Err(item) => out.errors.push(Tagged { key: key.clone(), item }),
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_funds;
