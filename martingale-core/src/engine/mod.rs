//! The deal engine: one explicit state machine per bot (SPEC section 5).
//!
//! The engine is a pure function of its state and an [`Event`]: it returns
//! [`Action`]s (orders to place or cancel, with deterministic client order
//! ids) and reports of closed deals. It reads no clock and does no I/O, so
//! the same snapshot and the same events give the same state and the same
//! actions, bit for bit, whether driven by a backtest, a paper exchange or a
//! live runner.
//!
//! State: a bot [`Mode`] (`Created`, `Running`, `Paused`, `Stopped`) and a
//! deal [`Phase`] (`Idle`, `Opening`, `Open`, `Closing`), each phase carrying
//! its [`Deal`]; `Closing` also carries the decided [`PendingExit`] (its
//! market order [`ExitOrder::Waiting`] or `Sent`), so a deal has an exit
//! exactly when it is closing. A deal's take profit is one
//! [`TakeProfitState`] (not yet, wanted, placed with or without an armed
//! trailing exit, or unmanaged after `stop` with `cancel_orders`), so no
//! combination of flags can contradict another. Transitions are split by concern: `fsm.rs` dispatches
//! events and holds the command table (`match (command, mode, phase)`),
//! `entries.rs` opens deals, `exits.rs` watches prices and decides exits,
//! `reports.rs` applies order reports and `reconcile.rs` decides the orders
//! a deal needs next. A command that is not allowed returns
//! [`EngineError::InvalidTransition`] and changes nothing, and so does
//! every other refused event.
//!
//! Guarantees, each tested:
//! - an entry fill re-prices the take profit: the old one is canceled and the
//!   new one placed once the cancel is confirmed, so the position is never
//!   offered twice; a market exit likewise waits for the take profit's cancel;
//! - duplicate or stale fill reports (same or lower cumulative quantity)
//!   change nothing; a rejected safety order is skipped and the position is
//!   untouched; a rejected exit is retried on the next tick;
//! - a deal ends only when no order of it can still fill; a quantity that
//!   filled late is sold by a residual exit, what is below the step is dust
//!   (so is a take profit's remainder below the market's minimums once no
//!   order can fill any more).
//!
//! Rules where reports can be late, absurd or hostile (issue 14):
//! - **Late exit fills.** A fill of an exit order the engine had already
//!   let go of (cancel requested or confirmed) is applied; if the exit-side
//!   orders still resting then offer more than the deal holds, all of them
//!   are canceled and a take profit sized to what is left is placed once the
//!   cancels are confirmed. The engine never offers more than its books
//!   hold. A fill of an order whose cancel was still in flight can only be
//!   refused by the venue, not by the engine.
//! - **Stop while the base order is in flight.** `stop { cancel_orders:
//!   true }` cancels the base order too; if it fills anyway, the fill is
//!   recorded and the position is left unmanaged exactly as a stop of an
//!   open deal leaves it (no ladder, no take profit, no stop loss) until
//!   `start` or `close_now`. `stop { cancel_orders: false }` stops new deals
//!   only: the deal in progress, including its ladder, runs to its end.
//! - **Limit fill prices.** A limit buy fills at or below its limit, a limit
//!   sell at or above it (price improvement allowed), but not beyond
//!   [`MAX_PRICE_IMPROVEMENT`] times better; a worse or absurd price is
//!   refused ([`EngineError::FillPriceOutOfBounds`]). A market order has no
//!   limit: any price in `(0, MAX_AMOUNT]` (slippage is the venue's).
//! - **Amounts at the API edge.** Prices are in `(0, MAX_AMOUNT]`; candles
//!   must have all four prices so and `low <= open, close <= high`;
//!   cumulative fill quantities are not negative and not above the order's;
//!   a reported fee is not negative, in quote at most the fill's value, in
//!   base only on a long's buys and at most the quantity filled; `add_funds`
//!   sizes are in `(0, MAX_AMOUNT]` and worth at most `MAX_AMOUNT` quote.
//!   Running totals are checked ([`crate::position::MAX_TOTAL`]). Each
//!   refusal is an [`EngineError`] naming the field and the value, and
//!   changes nothing.
//! - **Stale reports.** A report for one of the engine's own orders of a
//!   deal that has ended (read with [`ClientOrderId::parse_for`]: an earlier
//!   deal of this generation, or any deal of an earlier generation of this
//!   bot) is ignored and listed in [`Output::stale`]; an id the engine never
//!   issued (another bot's, a later deal's, one the open deal does not
//!   have) is still [`EngineError::UnknownOrder`].
//! - **Snapshots** are input: [`Engine::from_json`] (and any deserialization
//!   of an `Engine`) validates the strategy, rules and fees with the bot
//!   file's code, recomputes what derives from them and bounds every amount.
//! - **Ladder arithmetic** is the planner's, checked
//!   ([`crate::ladder::LevelSpec`]): a ladder that overflows is a
//!   [`EngineError::Ladder`] error and the deal does not start.
//!
//! Known limitations: without a resting stop order on the exchange, stops
//! and trailing exits fire on the ticks the engine is given. A cancel report
//! carries no final filled quantity, so a fill that arrives after the deal
//! has ended is only reported as stale, not applied.
//!
//! ```
//! use martingale_core::engine::{Action, BotId, Command, Engine, Event, OrderKind, OrderUpdate};
//! use martingale_core::config::BotFile;
//! use rust_decimal_macros::dec;
//!
//! let bot: BotFile = martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap();
//! let mut engine = Engine::new(BotId::new("demo").unwrap(), &bot).unwrap();
//! engine.handle(Event::Command { time: 0, command: Command::Start }).unwrap();
//!
//! // The first price opens a deal with a market base order.
//! let out = engine.handle(Event::Tick { time: 1, price: dec!(43250.17) }).unwrap();
//! let Action::Place(base) = &out.actions[0] else { panic!() };
//! assert_eq!(base.client_order_id.as_str(), "demo-1-b-0");
//! assert_eq!(base.quantity, dec!(0.00231));
//!
//! // Its fill places the safety orders and the take profit.
//! let fill = OrderUpdate::Fill { client_order_id: base.client_order_id.clone(),
//!     cumulative_qty: dec!(0.00231), price: dec!(43250.17), fee: None };
//! let out = engine.handle(Event::Order { time: 2, update: fill }).unwrap();
//! let prices: Vec<_> = out.actions.iter().filter_map(|a| match a {
//!     Action::Place(o) => match o.kind { OrderKind::Limit { price } => Some(price), _ => None },
//!     _ => None }).collect();
//! assert_eq!(prices, vec![dec!(42601.41), dec!(41822.91), dec!(40888.71),
//!                         dec!(39767.66), dec!(38422.41), dec!(43898.93)]);
//! ```

mod action;
mod deal;
mod entries;
mod error;
mod event;
mod exits;
mod fsm;
mod funds;
mod generation;
mod ids;
mod limit_entry;
mod phase_serde;
mod reconcile;
mod reconfigure;
mod reports;
mod snapshot;
mod steps;
mod take_profit;
mod time_limit;

pub use action::{Action, OrderKind, OrderRequest};
pub use deal::{Deal, ExitOrder, LevelOrder, OrderState, PendingExit, TrackedOrder, Trailing};
// The closed-deal record lives with P&L; re-exported where it always was.
pub use crate::pnl::{DealReport, ExitKind};
pub use error::EngineError;
pub use event::{Candle, Command, Event, OrderUpdate, TimeMs};
pub use fsm::{candle_path, MAX_AMOUNT};
pub use generation::{IdGeneration, OrderIdParts, MAX_CLIENT_ORDER_ID_LEN};
pub use ids::{BotId, ClientOrderId, InvalidBotId, OrderRole, MAX_BOT_ID_LEN};
pub use limit_entry::EntryTimer;
pub use reconfigure::Reconfiguration;
pub use reports::MAX_PRICE_IMPROVEMENT;
pub use snapshot::{SnapshotError, ENGINE_SNAPSHOT_FORMAT};
pub use take_profit::TakeProfitState;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::{BotFile, ConfigError, StrategyConfig};
use crate::fees::FeeSchedule;
use crate::ladder;
use crate::market::MarketRules;
use crate::pnl::BotTotals;

/// Whether the bot opens new deals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Built, never started.
    Created,
    /// Opens deals when the start condition holds.
    Running,
    /// No new deals; the open deal keeps running.
    Paused,
    /// No new deals; the open deal's orders may have been canceled.
    Stopped,
}

/// The deal's phase, carrying the deal (and, once closing, its exit).
///
/// Serialized as `{"phase": "open", "deal": {...}}`; a closing deal's exit
/// is written into its deal object as `"exit"` (see `phase_serde`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "phase_serde::PhaseOut", try_from = "phase_serde::PhaseIn")]
pub enum Phase {
    /// No deal.
    Idle,
    /// Base order sent.
    Opening(Deal),
    /// Ladder active.
    Open(Deal),
    /// Exit decided: resting orders are canceled, then the exit is sent.
    Closing {
        /// The deal.
        deal: Deal,
        /// Why and how it closes.
        exit: PendingExit,
    },
}

/// The phase without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseKind {
    /// No deal.
    Idle,
    /// Base order sent.
    Opening,
    /// Ladder active.
    Open,
    /// Exit decided or sent.
    Closing,
}

impl Phase {
    /// The phase without its data.
    pub fn kind(&self) -> PhaseKind {
        match self {
            Phase::Idle => PhaseKind::Idle,
            Phase::Opening(_) => PhaseKind::Opening,
            Phase::Open(_) => PhaseKind::Open,
            Phase::Closing { .. } => PhaseKind::Closing,
        }
    }

    /// The deal, if any.
    pub fn deal(&self) -> Option<&Deal> {
        match self {
            Phase::Idle => None,
            Phase::Opening(d) | Phase::Open(d) | Phase::Closing { deal: d, .. } => Some(d),
        }
    }

    fn deal_mut(&mut self) -> Option<&mut Deal> {
        match self {
            Phase::Idle => None,
            Phase::Opening(d) | Phase::Open(d) | Phase::Closing { deal: d, .. } => Some(d),
        }
    }
}

/// What one event produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// Orders to place or cancel, in order.
    pub actions: Vec<Action>,
    /// Deals that closed.
    pub closed: Vec<DealReport>,
    /// Reports ignored because they are about one of the engine's own
    /// orders of a deal that has already ended (late or duplicate reports):
    /// harmless, listed so a runner can log them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale: Vec<ClientOrderId>,
}

impl Output {
    /// Appends another output.
    pub fn extend(&mut self, other: Output) {
        // Usually one side is empty: keep the other's buffer as it is.
        if self.actions.is_empty() {
            self.actions = other.actions;
        } else {
            self.actions.extend(other.actions);
        }
        if self.closed.is_empty() {
            self.closed = other.closed;
        } else {
            self.closed.extend(other.closed);
        }
        self.stale.extend(other.stale);
    }
}

/// Price levels the engine watches on ticks (for a simulator that must feed
/// it the exact prices where something can happen).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watch {
    /// Stop-loss price.
    pub stop_loss: Option<Decimal>,
    /// Price that arms the trailing take profit (not armed yet).
    pub trailing_arm: Option<Decimal>,
    /// Price that exits an armed trailing take profit, given its peak so far.
    pub trailing_exit: Option<Decimal>,
    /// Once the time limit applies: the price from which closing makes the
    /// minimum profit (reached upward for a long, downward for a short; a
    /// long's 0 or a short's maximum: close at once).
    pub time_limit: Option<Decimal>,
}

/// One bot's deal engine (see the module docs).
///
/// ```
/// use martingale_core::engine::{BotId, Command, Engine, Event, Mode, PhaseKind};
/// use martingale_core::config::BotFile;
/// use rust_decimal_macros::dec;
/// let bot: BotFile = martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap();
/// let mut e = Engine::new(BotId::new("b").unwrap(), &bot).unwrap();
/// e.handle(Event::Command { time: 0, command: Command::Start }).unwrap();
/// e.handle(Event::Tick { time: 1, price: dec!(43250.17) }).unwrap();
/// assert_eq!((e.mode(), e.phase().kind()), (Mode::Running, PhaseKind::Opening));
/// // Snapshot and restore: the same state, the same future.
/// assert_eq!(Engine::from_json(&e.to_json()).unwrap(), e);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "snapshot::EngineState")]
pub struct Engine {
    /// The snapshot layout this engine writes (always the current one;
    /// restoring an older snapshot upgrades it).
    format: snapshot::Format,
    bot: BotId,
    strategy: StrategyConfig,
    /// The strategy's nominal deviations, computed once at validation.
    deviations: Vec<Decimal>,
    /// Each safety level's distance from its anchor and size, computed once.
    levels_spec: Vec<ladder::LevelSpec>,
    rules: MarketRules,
    fees: FeeSchedule,
    mode: Mode,
    phase: Phase,
    deals_started: u32,
    totals: BotTotals,
    last_closed_at: Option<TimeMs>,
    reinvest_pool: Decimal,
    signal_pending: bool,
    retry_on_tick: bool,
    /// A limit entry timed out unfilled: the next tick retries the start
    /// (`Some(signal)`: whether a start signal held when it timed out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entry_retry: Option<bool>,
    last_price: Option<Decimal>,
    last_time: Option<TimeMs>,
    /// Time of the last tick (`last_price` is its price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_tick_time: Option<TimeMs>,
    /// The start generation written into client order ids (`None`: the
    /// short form of engines made by [`Engine::new`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    generation: Option<IdGeneration>,
    /// A reconfiguration's new strategy, waiting for the deal in progress
    /// to end (see `reconfigure`); the strategy in force kept that deal's
    /// ladder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<Box<StrategyConfig>>,
    /// Candle interval of a simulated run: the time limit counts whole
    /// candles (times floored to it). `None` live: exact times. A setting
    /// of the run, not state: neither persisted nor compared.
    #[serde(skip)]
    clock_grain: time_limit::ClockGrain,
}

impl Engine {
    /// A new engine for a validated bot file, in mode `Created`.
    pub fn new(bot: BotId, file: &BotFile) -> Result<Engine, ConfigError> {
        file.validate()?;
        let deviations = file.strategy.nominal_deviations()?;
        Ok(Engine {
            format: snapshot::Format::default(),
            bot,
            levels_spec: ladder::level_specs(&file.strategy, &deviations)?,
            deviations,
            strategy: file.strategy.clone(),
            rules: file.market.clone(),
            fees: file.fees,
            mode: Mode::Created,
            phase: Phase::Idle,
            deals_started: 0,
            totals: BotTotals::default(),
            last_closed_at: None,
            reinvest_pool: Decimal::ZERO,
            signal_pending: false,
            retry_on_tick: false,
            entry_retry: None,
            clock_grain: time_limit::ClockGrain::default(),
            last_price: None,
            last_time: None,
            last_tick_time: None,
            generation: None,
            next: None,
        })
    }

    /// A new engine for a live or paper run that starts fresh at `time`:
    /// its client order ids carry the start generation, so they never
    /// repeat those of an earlier fresh start of the same bot (see
    /// [`IdGeneration`]).
    ///
    /// ```
    /// use martingale_core::engine::{Action, BotId, Command, Engine, Event};
    /// use martingale_core::config::BotFile;
    /// use rust_decimal_macros::dec;
    /// let bot: BotFile = include_str!("../../bots/example.json").parse().unwrap();
    /// let mut e = Engine::starting_at(BotId::new("dca").unwrap(), &bot, 1_765_000_000_000).unwrap();
    /// e.handle(Event::Command { time: 1_765_000_000_000, command: Command::Start }).unwrap();
    /// let out = e.handle(Event::Tick { time: 1_765_000_001_000, price: dec!(43250.17) }).unwrap();
    /// let Action::Place(base) = &out.actions[0] else { panic!() };
    /// assert_eq!(base.client_order_id.as_str(), "dca-t6u2ps-1-b-0");
    /// ```
    pub fn starting_at(bot: BotId, file: &BotFile, time: TimeMs) -> Result<Engine, ConfigError> {
        let mut engine = Engine::new(bot, file)?;
        engine.generation = Some(IdGeneration::starting_at(time));
        Ok(engine)
    }

    /// The start generation of this engine's client order ids, if any.
    pub fn generation(&self) -> Option<IdGeneration> {
        self.generation
    }

    /// The bot id.
    pub fn bot_id(&self) -> &BotId {
        &self.bot
    }

    /// The strategy.
    pub fn strategy(&self) -> &StrategyConfig {
        &self.strategy
    }

    /// The market rules.
    pub fn rules(&self) -> &MarketRules {
        &self.rules
    }

    /// The fee schedule.
    pub fn fees(&self) -> &FeeSchedule {
        &self.fees
    }

    /// Bot mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Deal phase with its data.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The open deal, if any.
    pub fn deal(&self) -> Option<&Deal> {
        self.phase.deal()
    }

    /// Totals over closed deals.
    pub fn totals(&self) -> &BotTotals {
        &self.totals
    }

    /// Deals started so far (including the open one).
    pub fn deals_started(&self) -> u32 {
        self.deals_started
    }

    /// Last price seen.
    pub fn last_price(&self) -> Option<Decimal> {
        self.last_price
    }

    /// Time of the last tick (the one that brought [`Engine::last_price`]).
    pub fn last_tick_time(&self) -> Option<TimeMs> {
        self.last_tick_time
    }

    /// Profit set aside for reinvestment (quote).
    pub fn reinvest_pool(&self) -> Decimal {
        self.reinvest_pool
    }

    /// The open deal's P&L marked at `price` (zero without a deal).
    pub fn unrealized_pnl(&self, price: Decimal) -> Decimal {
        self.deal().map_or(Decimal::ZERO, |d| d.position.unrealized_pnl(price))
    }

    /// Funds one deal needs at `price` (SPEC section 2), including reinvested profit.
    pub fn funds_required(&self, price: Decimal) -> Result<Decimal, ladder::LadderError> {
        let unit = ladder::plan(&self.strategy, &self.rules, price)?;
        unit.funds_required.checked_add(self.reinvest_pool).ok_or(ladder::LadderError::Overflow { level: 0 })
    }

    /// The whole state, for persistence. Equal to `self.clone()`; restoring
    /// it and replaying the same events gives the same state and actions.
    pub fn snapshot(&self) -> Engine {
        self.clone()
    }

    /// Serializes the state to JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Restores a state serialized with [`Engine::to_json`].
    ///
    /// A snapshot is input like a bot file: its strategy, market rules and
    /// fees go through the same validation ([`BotFile::validate`]), the
    /// values derived from them are recomputed, and every amount of the
    /// state is bounded (see [`SnapshotError`]); anything else is refused
    /// with the field and the value. The same checks run whenever an
    /// `Engine` is deserialized (e.g. inside a runner's snapshot).
    ///
    /// ```
    /// use martingale_core::engine::Engine;
    /// let text = include_str!("../../bots/example.json");
    /// let bot: martingale_core::BotFile = text.parse().unwrap();
    /// let e = Engine::new(martingale_core::engine::BotId::new("b").unwrap(), &bot).unwrap();
    /// let huge = e.to_json().replace(r#""max_safety_orders":5"#, r#""max_safety_orders":4294967295"#);
    /// let err = Engine::from_json(&huge).unwrap_err().to_string();
    /// assert!(err.contains("max_safety_orders"), "{err}");
    /// ```
    pub fn from_json(text: &str) -> Result<Engine, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Prices where a tick can change something, for simulators.
    pub fn watch(&self) -> Watch {
        self.watch_at(self.last_time.unwrap_or(TimeMs::MIN))
    }

    /// Prices where a tick at `time` can change something (the time limit
    /// may apply from `time` on).
    pub fn watch_at(&self, time: TimeMs) -> Watch {
        match &self.phase {
            Phase::Open(d) if d.take_profit.is_managed() => {
                let mut w = self.watch_deal(d);
                if self.strategy.time_limit.is_some() {
                    w.time_limit = self.time_limit_trigger(d, time);
                }
                w
            }
            _ => Watch::default(),
        }
    }

    /// Counts time in whole candles of `interval_ms` for the time limit
    /// (set by simulators: the backtest's driver, the paper replay).
    pub fn set_clock_grain(&mut self, interval_ms: Option<TimeMs>) {
        self.clock_grain = time_limit::ClockGrain(interval_ms.filter(|i| *i > 0));
    }
}
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_edge;
#[cfg(test)]
mod tests_entry;
#[cfg(test)]
mod tests_fuzz;
#[cfg(test)]
mod tests_orders;
#[cfg(test)]
mod tests_reconfigure;
#[cfg(test)]
mod tests_steps;
#[cfg(test)]
mod tests_stops;
#[cfg(test)]
mod tests_time;
