//! The transition tables of the engine: events in, by concern.
//!
//! `handle` (here) dispatches an event; commands go through one
//! `match (command, mode, phase)` table whose fall-through arm refuses the
//! command; ticks and candles are checked here. Starting a deal and sizing
//! its ladder is `entries`; watching the price for take profit, stop loss
//! and trailing exits and writing the closed deal's report is `exits`;
//! order reports update the deal's orders and position (`reports`), then
//! `reconcile` decides, from the deal's state alone, which orders should
//! now be sent: that single place holds the rules for refilling safety
//! orders, re-pricing the take profit, sending exits and closing.
//!
//! Every handler checks everything that can fail before it mutates, so a
//! refused event changes nothing.

use rust_decimal::Decimal;

use super::{
    Candle, Command, Engine, EngineError, Event, Mode, OrderKind, OrderRole, Output, Phase, PhaseKind, TakeProfitState,
    TimeMs,
};
use crate::config::{OrderSize, PathModel};
use crate::pnl::ExitKind;

/// Largest price or quantity the engine accepts from outside (10^13): keeps
/// every product and running sum far from `Decimal`'s ~7.9 * 10^28 limit, so
/// no arithmetic can overflow whatever an exchange reports.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(1_316_134_912, 2_328, 0, false, 0);

pub(super) fn price_ok(price: Decimal) -> bool {
    price > Decimal::ZERO && price <= MAX_AMOUNT
}

fn event_time(event: &Event) -> TimeMs {
    match event {
        Event::Tick { time, .. } | Event::Order { time, .. } | Event::Command { time, .. } | Event::Signal { time } => {
            *time
        }
        Event::Candle(c) => c.time,
    }
}

impl Engine {
    /// Handles one event. On error nothing has changed.
    pub fn handle(&mut self, event: Event) -> Result<Output, EngineError> {
        let time = event_time(&event);
        if let Some(last) = self.last_time {
            if time < last {
                return Err(EngineError::TimeWentBackwards { time, last });
            }
        }
        let out = match event {
            Event::Tick { time, price } => self.on_tick(time, price)?,
            Event::Candle(candle) => self.on_candle(candle)?,
            Event::Order { time, update } => self.on_order(time, update)?,
            Event::Command { time, command } => self.on_command(time, command)?,
            Event::Signal { .. } => {
                // A signal opens a deal at the next tick; it is not queued
                // behind a deal that is still open. Indicator conditions
                // start on the signals their gate raises at candle closes
                // (`crate::indicators::StartGate`, fed by the backtest and
                // the runners).
                // A limit entry that may time out keeps it for its retry.
                let waiting = self.phase.kind() == PhaseKind::Idle || self.entry_deadline().is_some();
                self.signal_pending = self.strategy.start_condition.needs_signal() && waiting;
                Output::default()
            }
        };
        self.last_time = Some(time);
        self.install_pending();
        Ok(out)
    }

    // ----- commands -------------------------------------------------------

    fn on_command(&mut self, time: TimeMs, command: Command) -> Result<Output, EngineError> {
        use Mode::*;
        use PhaseKind as P;
        let phase = self.phase.kind();
        let refuse = |name: &'static str, mode: Mode| EngineError::InvalidTransition { command: name, mode, phase };
        let mut out = Output::default();
        match (&command, self.mode, phase) {
            (Command::Start, Created | Stopped, _) => {
                self.mode = Running;
                if let Some(deal) = self.phase.deal_mut() {
                    if !deal.take_profit.is_managed() {
                        // Resume the ladder from the first level the stop
                        // canceled before it filled anything.
                        deal.take_profit = TakeProfitState::Wanted { price: deal.take_profit.price(), trailing: None };
                        if let Some(n) = (1..deal.next_level).find(|n| !deal.level_done(*n)) {
                            deal.next_level = n;
                        }
                    }
                }
                out = self.reconcile(time);
            }
            (Command::Pause, Running, _) => self.mode = Paused,
            (Command::Resume, Paused, _) => self.mode = Running,
            (Command::Stop { cancel_orders }, Running | Paused, _)
            | (Command::Stop { cancel_orders: cancel_orders @ true }, Stopped, _) => {
                self.mode = Stopped;
                // Also while the base order is in flight: stopped means no
                // new orders, so its fill will place no ladder.
                if let (true, Phase::Open(deal) | Phase::Opening(deal)) = (*cancel_orders, &mut self.phase) {
                    deal.take_profit = TakeProfitState::Unmanaged { price: deal.take_profit.price() };
                    deal.cancel_into(&mut out.actions, |_| true);
                }
            }
            (Command::CloseNow, _, P::Open) => {
                let price = self.last_price.ok_or(EngineError::NoPrice)?;
                out = self.begin_exit(time, ExitKind::Manual, price);
            }
            (Command::AddFunds { size }, _, P::Open) => {
                let price = self.last_price.ok_or(EngineError::NoPrice)?;
                let amount = size.amount();
                if amount <= Decimal::ZERO || amount > MAX_AMOUNT {
                    let reason = "must be positive and at most 10^13";
                    return Err(EngineError::InvalidAmount { field: "add_funds.size", value: amount, reason });
                }
                let quantity = self.rules.round_qty(match size {
                    OrderSize::Quote(q) => q.checked_div(price).unwrap_or(Decimal::ZERO),
                    OrderSize::Base(b) => *b,
                });
                let on_grid = self.rules.round_limit_price(price, self.strategy.side.entry());
                self.rules.validate_order(on_grid, quantity)?;
                if on_grid.checked_mul(quantity).is_none_or(|notional| notional > MAX_AMOUNT) {
                    let reason = "the order's value at the last price must be at most 10^13 quote";
                    return Err(EngineError::InvalidAmount { field: "add_funds.size", value: amount, reason });
                }
                let (bot, side) = (self.bot.clone(), self.strategy.side.entry());
                if let Some(deal) = self.phase.deal_mut() {
                    let kind = OrderKind::Market { reference_price: price };
                    out.actions.push(deal.place(&bot, OrderRole::AddFunds, side, kind, quantity));
                }
            }
            (Command::Reconfigure { bot }, _, _) => out = self.reconfigure(time, bot)?,
            (Command::Start, mode, _) => return Err(refuse("start", mode)),
            (Command::Pause, mode, _) => return Err(refuse("pause", mode)),
            (Command::Resume, mode, _) => return Err(refuse("resume", mode)),
            (Command::Stop { .. }, mode, _) => return Err(refuse("stop", mode)),
            (Command::CloseNow, mode, _) => return Err(refuse("close_now", mode)),
            (Command::AddFunds { .. }, mode, _) => return Err(refuse("add_funds", mode)),
        }
        Ok(out)
    }

    // ----- prices ---------------------------------------------------------

    fn on_candle(&mut self, c: Candle) -> Result<Output, EngineError> {
        check_candle(&c)?;
        // All four points or none: undo on error.
        let backup = self.clone();
        let mut out = Output::default();
        for price in candle_path(&c, PathModel::Adaptive) {
            match self.on_tick(c.time, price) {
                Ok(o) => out.extend(o),
                Err(e) => {
                    *self = backup;
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    fn on_tick(&mut self, time: TimeMs, price: Decimal) -> Result<Output, EngineError> {
        if !price_ok(price) {
            return Err(EngineError::BadPrice { price });
        }
        // A strategy waiting for the last deal to end applies to the next.
        self.install_pending();
        let mut out = match self.phase.kind() {
            PhaseKind::Idle if self.can_start(time) => self.start_deal(time, price)?,
            PhaseKind::Open => self.check_exits(time, price),
            PhaseKind::Opening => self.check_entry_timeout(time),
            PhaseKind::Idle | PhaseKind::Closing => Output::default(),
        };
        self.last_price = Some(price);
        self.last_tick_time = Some(time);
        self.signal_pending = false;
        self.entry_retry = None;
        if std::mem::take(&mut self.retry_on_tick) {
            out.extend(self.reconcile(time));
        }
        Ok(out)
    }
}

/// A candle's prices must each be in (0, 10^13], with `low <= open, close <= high`.
fn check_candle(c: &Candle) -> Result<(), EngineError> {
    let bound = "must be in (0, 10^13]";
    for (field, value) in
        [("candle.open", c.open), ("candle.high", c.high), ("candle.low", c.low), ("candle.close", c.close)]
    {
        if !price_ok(value) {
            return Err(EngineError::InvalidAmount { field, value, reason: bound });
        }
    }
    if c.low > c.open.min(c.close) {
        let reason = "must be at most the open and the close";
        return Err(EngineError::InvalidAmount { field: "candle.low", value: c.low, reason });
    }
    if c.high < c.open.max(c.close) {
        let reason = "must be at least the open and the close";
        return Err(EngineError::InvalidAmount { field: "candle.high", value: c.high, reason });
    }
    Ok(())
}

/// The four path points of a candle (SPEC section 6).
pub fn candle_path(c: &Candle, model: PathModel) -> [Decimal; 4] {
    let low_first = match model {
        PathModel::Ohlc => false,
        PathModel::Olhc => true,
        // Saturating: a public function must not panic on absurd candles.
        PathModel::Adaptive => c.open.saturating_sub(c.low) <= c.high.saturating_sub(c.open),
    };
    if low_first {
        [c.open, c.low, c.high, c.close]
    } else {
        [c.open, c.high, c.low, c.close]
    }
}
