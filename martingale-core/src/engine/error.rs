//! Engine errors: every refused event leaves the engine unchanged.

use rust_decimal::Decimal;
use thiserror::Error;

use super::ids::ClientOrderId;
use super::{event::TimeMs, Mode, PhaseKind};
use crate::ladder::LadderError;
use crate::market::RuleViolation;

/// Why the engine refused an event.
///
/// ```
/// use martingale_core::engine::{BotId, Command, Engine, EngineError, Event};
/// use martingale_core::config::BotFile;
/// let bot: BotFile = martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap();
/// let mut e = Engine::new(BotId::new("b").unwrap(), &bot).unwrap();
/// let before = e.clone();
/// let err = e.handle(Event::Command { time: 0, command: Command::Pause }).unwrap_err();
/// assert!(matches!(err, EngineError::InvalidTransition { command: "pause", .. }));
/// assert_eq!(e, before); // refused: nothing changed
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EngineError {
    /// The command is not allowed in the current state.
    #[error("command `{command}` not allowed while the bot is {mode:?} and the deal {phase:?}")]
    InvalidTransition {
        /// The command.
        command: &'static str,
        /// Bot mode.
        mode: Mode,
        /// Deal phase.
        phase: PhaseKind,
    },
    /// An event older than the last one seen.
    #[error("event time {time} is before the last event time {last}")]
    TimeWentBackwards {
        /// The event's time.
        time: TimeMs,
        /// The latest time seen.
        last: TimeMs,
    },
    /// A price that is zero, negative or absurdly large (above [`super::MAX_AMOUNT`]).
    #[error("price {price} is not in (0, 10^13]")]
    BadPrice {
        /// The price.
        price: Decimal,
    },
    /// An update for an order the engine does not track.
    #[error("unknown order {0}")]
    UnknownOrder(ClientOrderId),
    /// A fill report that cannot be true (over the order quantity, on a
    /// rejected order, or a non-positive price).
    #[error("invalid fill for {id}: {reason}")]
    InvalidFill {
        /// The order.
        id: ClientOrderId,
        /// What is wrong.
        reason: String,
    },
    /// A report that cannot happen to the order in its state (a rejection
    /// of an order the venue accepted or filled, an acceptance after a
    /// rejection): see the order life-cycle table, `OrderState::after`.
    #[error("impossible report for {id}: {reason}; check the venue adapter's status mapping")]
    InvalidReport {
        /// The order.
        id: ClientOrderId,
        /// What is impossible.
        reason: &'static str,
    },
    /// The deal cannot start: its ladder is impossible at this price.
    #[error("cannot open a deal: {0}")]
    Ladder(#[from] LadderError),
    /// A manual order breaks the market's rules.
    #[error("manual order: {0}")]
    Rule(#[from] RuleViolation),
    /// A manual order needs a price, and no price has been seen yet.
    #[error("no market price seen yet")]
    NoPrice,
    /// An amount from outside (a fee, a size, a quantity, a candle price) is
    /// negative, absurdly large or inconsistent with the rest of the event.
    #[error("`{field}` = {value} is refused: {reason}")]
    InvalidAmount {
        /// The field, e.g. `fill.fee`, `add_funds.size`, `candle.low`.
        field: &'static str,
        /// The value given.
        value: Decimal,
        /// What the value must be.
        reason: &'static str,
    },
    /// A fill reported at a price its order could not fill at: a limit buy
    /// above its limit, a limit sell below it, or a price improvement of
    /// more than [`super::MAX_PRICE_IMPROVEMENT`] times (see the module docs).
    #[error("fill of {id} at {price} is outside the prices its order can fill at ({min}..={max})")]
    FillPriceOutOfBounds {
        /// The order.
        id: ClientOrderId,
        /// The reported price.
        price: Decimal,
        /// Lowest acceptable price.
        min: Decimal,
        /// Highest acceptable price.
        max: Decimal,
    },
    /// A reconfiguration refused: the setting cannot change (side, market,
    /// fees), the new bot file is invalid, or the change cannot apply
    /// while a deal is in progress.
    #[error("setting `{field}` refused: {reason}")]
    SettingRefused {
        /// The field (e.g. `strategy.side`, `market.symbol`, `fees`, `bot file`).
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The fill would overflow the deal's running totals.
    #[error("fill of {0} overflows the position's totals")]
    Overflow(ClientOrderId),
}
