//! The limit base order (SPEC section 10, rules in 10.1): its price, its
//! timeout and the retry of a start whose entry timed out.
//!
//! With `base_order_type = "limit"` a deal starts with a resting limit
//! order at `ref * (1 - entry_offset_percent / 100)` for a long (rounded
//! down to the tick), `ref * (1 + entry_offset_percent / 100)` for a short
//! (rounded up), `ref` being the price of the tick that starts the deal.
//! The ladder is sized at that limit price (a quote-sized base order buys
//! `base_order / limit`, rounded down to the step) and planned again from
//! the real fill price P0 if the order fills elsewhere.
//!
//! With `entry_timeout_secs = T`, the first tick at or after the placement
//! plus `T` (in simulations, counted in whole candles: the first candle
//! opening at least `T` after the candle of the placement) cancels the base
//! order. Once the venue confirms the cancel:
//! - nothing filled: the entry was not a deal (no report, no cooldown); the
//!   next tick retries the start at its price, under the usual start rules
//!   (running, cooled down, under `max_deals`, and a start condition that
//!   held at the tick where the entry timed out). Simulators send that tick
//!   at the same candle open ([`Engine::start_pending`]). Being a tick, the
//!   retry goes through whatever gates ticks, such as the fleet's shared
//!   funds;
//! - partly filled: the deal goes on with what filled.
//!
//! Invariant: an [`EntryTimer`] exists only on a deal whose base order is a
//! limit order with a timeout; it is `Expired` from the tick that canceled
//! the base order on. A deal number is used once, so a retried start's
//! orders never reuse a client order id (deal numbers in reports may skip
//! the numbers of timed-out entries).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Engine, EngineError, OrderKind, OrderRole, Output, Phase, TimeMs};
use crate::config::BaseOrderType;
use crate::Side;

/// The timeout of a deal's limit base order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryTimer {
    /// The base order is canceled at the first tick at or after this time
    /// (on the simulation's candle grain).
    Until(TimeMs),
    /// The base order's cancel was requested; `signal` says whether a start
    /// signal was pending at that tick (for the retry).
    Expired {
        /// A start signal was pending when the entry timed out.
        signal: bool,
    },
}

impl Engine {
    /// While a limit base order with a timeout waits to fill: the time from
    /// which a tick cancels it (see the module docs). Simulators use it to
    /// tick at the open of the candle where it times out.
    pub fn entry_deadline(&self) -> Option<TimeMs> {
        match &self.phase {
            Phase::Opening(deal) if deal.take_profit.is_managed() => match deal.entry_timer {
                Some(EntryTimer::Until(t)) => Some(t),
                _ => None,
            },
            _ => None,
        }
    }

    /// The price the ladder is sized at and the base order's kind, for a
    /// deal started by a tick at `price`.
    pub(super) fn base_order_at(&self, price: Decimal) -> Result<(Decimal, OrderKind), EngineError> {
        if self.strategy.base_order_type == BaseOrderType::Market {
            return Ok((price, OrderKind::Market { reference_price: price }));
        }
        let off = self.strategy.entry_offset_percent.unwrap_or_default() / Decimal::ONE_HUNDRED;
        let factor = match self.strategy.side {
            Side::Long => Decimal::ONE - off,
            Side::Short => Decimal::ONE + off,
        };
        let raw = price.checked_mul(factor).ok_or(EngineError::BadPrice { price })?;
        let limit = self.rules.round_limit_price(raw, self.strategy.side.entry());
        if !super::fsm::price_ok(limit) {
            return Err(EngineError::BadPrice { price: limit });
        }
        Ok((limit, OrderKind::Limit { price: limit }))
    }

    /// The timer of a limit base order placed at `time`.
    pub(super) fn entry_timer_from(&self, time: TimeMs) -> Option<EntryTimer> {
        let secs =
            self.strategy.entry_timeout_secs.filter(|_| self.strategy.base_order_type == BaseOrderType::Limit)?;
        let ms = i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000);
        Some(EntryTimer::Until(self.on_grain(time).saturating_add(ms)))
    }

    /// A tick while the base order is out: cancels a limit base order whose
    /// time is up.
    pub(super) fn check_entry_timeout(&mut self, time: TimeMs) -> Output {
        let now = self.on_grain(time);
        let signal = self.signal_pending;
        let mut out = Output::default();
        let Phase::Opening(deal) = &mut self.phase else {
            return out;
        };
        let due = matches!(deal.entry_timer, Some(EntryTimer::Until(t)) if now >= t);
        if !due || !deal.take_profit.is_managed() {
            return out;
        }
        deal.cancel_into(&mut out.actions, |o| o.request.role == OrderRole::Base);
        if !out.actions.is_empty() {
            deal.entry_timer = Some(EntryTimer::Expired { signal });
        }
        out
    }

    /// True when a limit entry timed out unfilled and the next tick retries
    /// the start (simulators tick again at the same open).
    pub fn start_pending(&self) -> bool {
        self.entry_retry.is_some()
    }
}
