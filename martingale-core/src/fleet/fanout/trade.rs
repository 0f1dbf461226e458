//! The life of one subscriber's trade for one signal, as one state machine.
//!
//! ```text
//! EntrySent --entry fill--> Open --take profit filled--> Closed
//!     |                      |  \--stop reached / exit--> Closing --close filled--> Closed
//!     |--entry ended, nothing filled----------------------------------------------> Canceled
//!     \--exit signal--> Closing (cancel the entry) --entry ended, nothing filled--> Canceled
//! ```
//!
//! Rules:
//! - the entry is placed by the fan-out ([`Trade::new`] returns its order);
//! - once the entry is complete (filled in full, or ended after a partial
//!   fill) the take profit rests on the venue as a limit order for the
//!   filled quantity;
//! - the stop loss is watched by the caller's price ticks (no stop order
//!   is held by the exchange): when the price reaches it, the trade cancels
//!   what still rests (entry, take profit) and closes by market;
//! - an exit signal does the same at once;
//! - while closing, the market close is sent only once every canceled
//!   order is final, for exactly the filled quantity not yet sold (so a
//!   fill racing a cancel is never left open nor sold twice);
//! - a take profit filled in full closes the trade (nothing left to cancel).
//!
//! Fills arrive as the venue's cumulative quantity and quote of an order,
//! so a report seen twice, or an older one after a newer, changes nothing.
//! P&L is exact and before fees (fees are not modeled here).
//!
//! Client order ids: `{bot}-{seq}-b-0` (entry), `{bot}-{seq}-tp-0`,
//! `{bot}-{seq}-sl-0` (close at the stop), `{bot}-{seq}-x-0` (close on an
//! exit signal): the same after a restart, so a venue refuses a repeat.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::engine::{Action, BotId, ClientOrderId, OrderKind, OrderRequest, OrderRole};
use crate::Side;

/// Where a trade is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeState {
    /// The entry order is on the venue, nothing filled yet.
    EntrySent,
    /// Some of the entry filled (maybe all); the take profit rests once the
    /// entry is complete.
    Open,
    /// Leaving: resting orders canceled, then the rest closed by market.
    Closing,
    /// Every filled unit is sold (bought back for a short).
    Closed,
    /// The entry ended with nothing filled.
    Canceled,
    /// The fan-out gave this subscriber nothing (paused, below minimum).
    Skipped,
}

impl TradeState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TradeState::EntrySent => "entry_sent",
            TradeState::Open => "open",
            TradeState::Closing => "closing",
            TradeState::Closed => "closed",
            TradeState::Canceled => "canceled",
            TradeState::Skipped => "skipped",
        }
    }

    /// True once nothing more can happen.
    pub fn is_final(self) -> bool {
        matches!(self, TradeState::Closed | TradeState::Canceled | TradeState::Skipped)
    }
}

/// Why a trade is closing or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// The take profit filled.
    TakeProfit,
    /// The price reached the stop.
    StopLoss,
    /// The strategy's exit signal.
    Signal,
}

/// What happened to a trade's orders or market.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeEvent {
    /// The entry's fills so far (cumulative quantity and quote value).
    EntryFill {
        /// Filled so far.
        cumulative_qty: Decimal,
        /// Quote value filled so far.
        cumulative_quote: Decimal,
    },
    /// The entry was canceled, rejected or expired (its fills reported before).
    EntryEnded,
    /// The take profit's fills so far.
    TakeProfitFill {
        /// Filled so far.
        cumulative_qty: Decimal,
        /// Quote value filled so far.
        cumulative_quote: Decimal,
    },
    /// The take profit was canceled (its fills reported before).
    TakeProfitEnded,
    /// The market close's fills so far.
    CloseFill {
        /// Filled so far.
        cumulative_qty: Decimal,
        /// Quote value filled so far.
        cumulative_quote: Decimal,
    },
    /// The market's last price.
    Tick {
        /// Price.
        price: Decimal,
    },
    /// The strategy's exit signal (`price`: the reference of the market close).
    Exit {
        /// Price.
        price: Decimal,
    },
}

/// An event the trade cannot take in its state (the trade is unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TradeError {
    /// No such transition.
    #[error("trade {seq}: {event:?} is not possible in state {state:?}")]
    InvalidTransition {
        /// Signal number.
        seq: u32,
        /// State.
        state: TradeState,
        /// Event.
        event: TradeEvent,
    },
    /// A report above the order's quantity, or with a negative value.
    #[error("trade {seq}: order {id} reports {cumulative_qty} filled of {quantity}")]
    BadFill {
        /// Signal number.
        seq: u32,
        /// The order.
        id: ClientOrderId,
        /// Reported.
        cumulative_qty: Decimal,
        /// Ordered.
        quantity: Decimal,
    },
}

/// One order of a trade and what the venue reported of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leg {
    /// The order.
    pub order: OrderRequest,
    /// Filled so far.
    pub filled: Decimal,
    /// Quote value filled so far.
    pub quote: Decimal,
    /// Filled in full, canceled, rejected or expired.
    pub done: bool,
}

impl Leg {
    fn new(order: OrderRequest) -> Leg {
        Leg { order, filled: Decimal::ZERO, quote: Decimal::ZERO, done: false }
    }

    /// The client order id.
    pub fn id(&self) -> &ClientOrderId {
        &self.order.client_order_id
    }

    /// Still able to fill.
    pub fn live(&self) -> bool {
        !self.done
    }

    /// Takes a cumulative report; a stale one (not above what is known) is ignored.
    fn fill(&mut self, seq: u32, cumulative_qty: Decimal, cumulative_quote: Decimal) -> Result<(), TradeError> {
        if cumulative_qty > self.order.quantity || cumulative_qty < Decimal::ZERO || cumulative_quote < Decimal::ZERO {
            return Err(TradeError::BadFill {
                seq,
                id: self.id().clone(),
                cumulative_qty,
                quantity: self.order.quantity,
            });
        }
        if cumulative_qty > self.filled {
            (self.filled, self.quote) = (cumulative_qty, cumulative_quote);
        }
        if self.filled == self.order.quantity {
            self.done = true;
        }
        Ok(())
    }
}

/// One subscriber's trade for one signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    /// The subscriber's bot id (in every client order id).
    pub bot: BotId,
    /// The signal's number.
    pub seq: u32,
    /// Long or short.
    pub side: Side,
    /// Where it is.
    pub state: TradeState,
    /// Stop price, watched on each tick.
    pub stop_loss: Option<Decimal>,
    /// Take-profit price (a resting limit once the entry is complete).
    pub take_profit: Option<Decimal>,
    /// The entry order.
    pub entry: Leg,
    /// The take profit, once placed.
    pub take_profit_order: Option<Leg>,
    /// The market close, once placed.
    pub close: Option<Leg>,
    /// Why it is closing / closed.
    pub reason: Option<ExitReason>,
    /// Last price seen (the reference of a market close).
    pub last_price: Option<Decimal>,
}

impl Trade {
    /// A trade whose entry is `entry` (from the fan-out's allocation); the
    /// caller places it (`Action::Place(entry)`).
    pub fn new(
        bot: BotId,
        seq: u32,
        side: Side,
        entry: OrderRequest,
        stop_loss: Option<Decimal>,
        take_profit: Option<Decimal>,
    ) -> Trade {
        Trade {
            bot,
            seq,
            side,
            state: TradeState::EntrySent,
            stop_loss,
            take_profit,
            entry: Leg::new(entry),
            take_profit_order: None,
            close: None,
            reason: None,
            last_price: None,
        }
    }

    /// Every order that may still fill (the caller queries them).
    pub fn live_legs(&self) -> Vec<&Leg> {
        [Some(&self.entry), self.take_profit_order.as_ref(), self.close.as_ref()]
            .into_iter()
            .flatten()
            .filter(|l| l.live())
            .collect()
    }

    /// Quantity bought (sold for a short) by the entry.
    pub fn filled(&self) -> Decimal {
        self.entry.filled
    }

    /// Quantity closed so far (take profit and market close).
    pub fn exited(&self) -> Decimal {
        self.take_profit_order.as_ref().map_or(Decimal::ZERO, |l| l.filled)
            + self.close.as_ref().map_or(Decimal::ZERO, |l| l.filled)
    }

    /// Average entry price.
    pub fn entry_price(&self) -> Option<Decimal> {
        average(self.entry.filled, self.entry.quote)
    }

    /// Average exit price of what was closed.
    pub fn exit_price(&self) -> Option<Decimal> {
        let quote = self.take_profit_order.as_ref().map_or(Decimal::ZERO, |l| l.quote)
            + self.close.as_ref().map_or(Decimal::ZERO, |l| l.quote);
        average(self.exited(), quote)
    }

    /// Realized P&L in quote, before fees (only once closed; exact).
    pub fn pnl(&self) -> Option<Decimal> {
        if self.state != TradeState::Closed {
            return None;
        }
        let out = self.take_profit_order.as_ref().map_or(Decimal::ZERO, |l| l.quote)
            + self.close.as_ref().map_or(Decimal::ZERO, |l| l.quote);
        Some(match self.side {
            Side::Long => out - self.entry.quote,
            Side::Short => self.entry.quote - out,
        })
    }

    /// Applies one event: the new state and the orders to place or cancel.
    /// On error the trade is unchanged.
    pub fn apply(&mut self, event: TradeEvent) -> Result<Vec<Action>, TradeError> {
        let mut next = self.clone();
        let actions = next.transition(event)?;
        *self = next;
        Ok(actions)
    }

    fn transition(&mut self, event: TradeEvent) -> Result<Vec<Action>, TradeError> {
        use TradeEvent as E;
        use TradeState as S;
        let seq = self.seq;
        match (self.state, event) {
            (S::EntrySent | S::Open, E::EntryFill { cumulative_qty, cumulative_quote }) => {
                self.entry.fill(seq, cumulative_qty, cumulative_quote)?;
                if self.entry.filled > Decimal::ZERO {
                    self.state = S::Open;
                }
                Ok(self.rest_take_profit())
            }
            (S::EntrySent, E::EntryEnded) => {
                self.entry.done = true;
                self.state = S::Canceled;
                Ok(Vec::new())
            }
            (S::Open, E::EntryEnded) => {
                self.entry.done = true;
                Ok(self.rest_take_profit())
            }
            (S::EntrySent, E::Tick { price }) => {
                self.last_price = Some(price);
                Ok(Vec::new())
            }
            (S::Open, E::Tick { price }) => {
                self.last_price = Some(price);
                let reached = self.stop_loss.is_some_and(|stop| match self.side {
                    Side::Long => price <= stop,
                    Side::Short => price >= stop,
                });
                if !reached {
                    return Ok(Vec::new());
                }
                Ok(self.start_closing(ExitReason::StopLoss))
            }
            (S::EntrySent | S::Open, E::Exit { price }) => {
                self.last_price = Some(price);
                Ok(self.start_closing(ExitReason::Signal))
            }
            (S::Open, E::TakeProfitFill { cumulative_qty, cumulative_quote }) if self.take_profit_order.is_some() => {
                self.tp_fill(cumulative_qty, cumulative_quote)?;
                if self.exited() == self.filled() && self.entry.done {
                    (self.state, self.reason) = (S::Closed, Some(ExitReason::TakeProfit));
                }
                Ok(Vec::new())
            }
            (S::Open, E::TakeProfitEnded) if self.take_profit_order.is_some() => {
                // Canceled by hand on the venue: the position stays, watched
                // by the stop and the exit signal.
                if let Some(tp) = self.take_profit_order.as_mut() {
                    tp.done = true;
                }
                Ok(Vec::new())
            }
            (S::Closing, E::EntryFill { cumulative_qty, cumulative_quote }) => {
                self.entry.fill(seq, cumulative_qty, cumulative_quote)?;
                Ok(self.settle())
            }
            (S::Closing, E::EntryEnded) => {
                self.entry.done = true;
                Ok(self.settle())
            }
            (S::Closing, E::TakeProfitFill { cumulative_qty, cumulative_quote })
                if self.take_profit_order.is_some() =>
            {
                self.tp_fill(cumulative_qty, cumulative_quote)?;
                Ok(self.settle())
            }
            (S::Closing, E::TakeProfitEnded) if self.take_profit_order.is_some() => {
                if let Some(tp) = self.take_profit_order.as_mut() {
                    tp.done = true;
                }
                Ok(self.settle())
            }
            (S::Closing, E::CloseFill { cumulative_qty, cumulative_quote }) if self.close.is_some() => {
                if let Some(close) = self.close.as_mut() {
                    close.fill(seq, cumulative_qty, cumulative_quote)?;
                }
                Ok(self.settle())
            }
            (S::Closing, E::Tick { price } | E::Exit { price }) => {
                self.last_price = Some(price);
                Ok(Vec::new())
            }
            (state, event) => Err(TradeError::InvalidTransition { seq, state, event }),
        }
    }

    fn tp_fill(&mut self, qty: Decimal, quote: Decimal) -> Result<(), TradeError> {
        match self.take_profit_order.as_mut() {
            Some(tp) => tp.fill(self.seq, qty, quote),
            None => Ok(()),
        }
    }

    /// Once the entry is complete with something filled, the take profit
    /// rests for the filled quantity (once).
    fn rest_take_profit(&mut self) -> Vec<Action> {
        let (Some(price), true, None) = (self.take_profit, self.entry.done, &self.take_profit_order) else {
            return Vec::new();
        };
        if self.entry.filled.is_zero() {
            return Vec::new();
        }
        let order = self.order(OrderRole::TakeProfit, OrderKind::Limit { price }, self.entry.filled);
        self.take_profit_order = Some(Leg::new(order.clone()));
        vec![Action::Place(order)]
    }

    /// Cancels what rests, then [`settle`](Self::settle)s.
    fn start_closing(&mut self, reason: ExitReason) -> Vec<Action> {
        (self.state, self.reason) = (TradeState::Closing, Some(reason));
        let mut out: Vec<Action> = [Some(&self.entry), self.take_profit_order.as_ref()]
            .into_iter()
            .flatten()
            .filter(|l| l.live())
            .map(|l| Action::Cancel { client_order_id: l.id().clone() })
            .collect();
        out.extend(self.settle());
        out
    }

    /// While closing: once the entry and take profit are final, closes what
    /// is left by market (once), and ends the trade when nothing is left.
    fn settle(&mut self) -> Vec<Action> {
        let resting = self.entry.live() || self.take_profit_order.as_ref().is_some_and(Leg::live);
        if resting {
            return Vec::new();
        }
        let left = self.filled() - self.exited();
        if let Some(close) = &self.close {
            if close.done || left.is_zero() {
                self.finish();
            }
            return Vec::new();
        }
        if left.is_zero() {
            self.finish();
            return Vec::new();
        }
        let role = match self.reason {
            Some(ExitReason::StopLoss) => OrderRole::StopLoss,
            _ => OrderRole::CloseNow,
        };
        let entry_price = match self.entry.order.kind {
            OrderKind::Limit { price } | OrderKind::Market { reference_price: price } => price,
        };
        let reference_price = self.last_price.or(self.stop_loss).unwrap_or(entry_price);
        let order = self.order(role, OrderKind::Market { reference_price }, left);
        self.close = Some(Leg::new(order.clone()));
        vec![Action::Place(order)]
    }

    fn finish(&mut self) {
        if self.filled().is_zero() {
            self.state = TradeState::Canceled;
            return;
        }
        self.state = TradeState::Closed;
        let by_tp = self.take_profit_order.as_ref().is_some_and(|tp| tp.filled == self.filled());
        if by_tp {
            self.reason = Some(ExitReason::TakeProfit);
        }
    }

    fn order(&self, role: OrderRole, kind: OrderKind, quantity: Decimal) -> OrderRequest {
        OrderRequest {
            client_order_id: ClientOrderId::new(&self.bot, self.seq, role, 0),
            role,
            side: self.side.exit(),
            kind,
            quantity,
        }
    }
}

fn average(qty: Decimal, quote: Decimal) -> Option<Decimal> {
    if qty > Decimal::ZERO {
        quote.checked_div(qty)
    } else {
        None
    }
}

#[cfg(test)]
#[path = "trade_tests.rs"]
mod tests;
