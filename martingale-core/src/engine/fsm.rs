//! The transition tables of the engine.
//!
//! `handle` dispatches an event; commands go through one
//! `match (command, mode, phase)` table whose fall-through arm refuses the
//! command. Order reports update the deal's orders and position, then
//! [`Engine::reconcile`] decides, from the deal's state alone, which orders
//! should now be sent: that single place holds the rules for refilling
//! safety orders, re-pricing the take profit, sending exits and closing.
//!
//! Every handler checks everything that can fail before it mutates, so a
//! refused event changes nothing.

use rust_decimal::Decimal;

use super::deal::{Deal, LevelOrder, OrderState, PendingExit, Trailing};
use super::{
    Candle, Command, DealReport, Engine, EngineError, Event, Mode, OrderKind, OrderRole, Output, Phase, PhaseKind,
    TimeMs, Watch,
};
use crate::config::{OrderSize, PathModel, SafetyAnchor, StartCondition};
use crate::ladder::{self, stop_loss_price, take_profit_price};
use crate::market::Rounding;
use crate::pnl::ExitKind;
use crate::Side;

const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

/// Size of a deal's base order.
struct BaseOrder {
    quantity: Decimal,
    quote: Decimal,
}

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
                // behind a deal that is still open.
                self.signal_pending =
                    self.strategy.start_condition == StartCondition::Signal && self.phase.kind() == PhaseKind::Idle;
                Output::default()
            }
        };
        self.last_time = Some(time);
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
                    if !deal.managed {
                        // Resume the ladder from the first level the stop
                        // canceled before it filled anything.
                        deal.managed = true;
                        deal.take_profit_wanted = true;
                        if let Some(n) = (1..deal.next_level).find(|n| !deal.level_done(*n)) {
                            deal.next_level = n;
                        }
                    }
                }
                out = self.reconcile(time);
            }
            (Command::Pause, Running, _) => self.mode = Paused,
            (Command::Resume, Paused, _) => self.mode = Running,
            (Command::Stop { cancel_orders }, Running | Paused, _) => {
                self.mode = Stopped;
                // Also while the base order is in flight: stopped means no
                // new orders, so its fill will place no ladder.
                if let (true, Phase::Open(deal) | Phase::Opening(deal)) = (*cancel_orders, &mut self.phase) {
                    deal.managed = false;
                    deal.take_profit_wanted = false;
                    deal.trailing = None;
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
        let mut out = match self.phase.kind() {
            PhaseKind::Idle if self.can_start(time) => self.start_deal(time, price)?,
            PhaseKind::Open => self.check_exits(time, price),
            PhaseKind::Idle | PhaseKind::Opening | PhaseKind::Closing => Output::default(),
        };
        self.last_price = Some(price);
        self.signal_pending = false;
        if std::mem::take(&mut self.retry_on_tick) {
            out.extend(self.reconcile(time));
        }
        Ok(out)
    }

    /// The earliest time a tick could open a deal, if no other event comes
    /// first: `None` when no tick can (paused, stopped, `max_deals` reached,
    /// waiting for a signal, or a deal already open).
    pub fn earliest_start(&self) -> Option<TimeMs> {
        if self.phase.kind() != PhaseKind::Idle || !self.can_start(TimeMs::MAX) {
            return None;
        }
        Some(self.last_closed_at.map_or(TimeMs::MIN, |closed| {
            let cooldown = i64::try_from(self.strategy.cooldown_secs).unwrap_or(i64::MAX).saturating_mul(1000);
            closed.saturating_add(cooldown).saturating_add(1)
        }))
    }

    /// True when an entry signal waits for the next tick.
    pub fn signal_pending(&self) -> bool {
        self.signal_pending
    }

    /// True while a refused order waits for the next tick to be retried.
    pub fn retry_pending(&self) -> bool {
        self.retry_on_tick
    }

    fn can_start(&self, time: TimeMs) -> bool {
        let cooled = self.last_closed_at.is_none_or(|closed| {
            let cooldown = i64::try_from(self.strategy.cooldown_secs).unwrap_or(i64::MAX).saturating_mul(1000);
            time > closed.saturating_add(cooldown)
        });
        let under_max = self.strategy.max_deals.is_none_or(|max| self.totals.closed_deals < max);
        let signal = match self.strategy.start_condition {
            StartCondition::Asap => true,
            StartCondition::Signal => self.signal_pending,
        };
        self.mode == Mode::Running && cooled && under_max && signal
    }

    fn start_deal(&mut self, time: TimeMs, price: Decimal) -> Result<Output, EngineError> {
        let (mut base, mut levels, funds) = self.ladder_at(price, Decimal::ONE)?;
        let mut scale = Decimal::ONE;
        if self.reinvest_pool > Decimal::ZERO && funds > Decimal::ZERO {
            // Reinvested profit scales every size; plan again at that scale.
            scale = funds
                .checked_add(self.reinvest_pool)
                .and_then(|f| f.checked_div(funds))
                .ok_or(ladder::LadderError::Overflow { level: 0 })?;
            (base, levels, _) = self.ladder_at(price, scale)?;
        }
        let number = self.deals_started.wrapping_add(1);
        let mut deal = Deal::new(number, time, self.strategy.side, scale, base.quote);
        self.generation = self
            .generation
            .map(|g| g.for_deal(&self.bot, number, u32::try_from(self.levels_spec.len()).unwrap_or(u32::MAX), time));
        deal.generation = self.generation;
        deal.levels = levels;
        deal.planned_at = Some(price);
        let kind = OrderKind::Market { reference_price: price };
        let action = deal.place(&self.bot, OrderRole::Base, self.strategy.side.entry(), kind, base.quantity);
        self.deals_started = number;
        self.phase = Phase::Opening(deal);
        Ok(Output { actions: vec![action], ..Output::default() })
    }

    /// The base order, the safety levels and the funds a deal needs at
    /// `price` with sizes times `scale`. Any impossible level is an error:
    /// a deal whose ladder cannot be placed must not start. For the
    /// `average` anchor the levels come later, one at a time.
    fn ladder_at(&self, price: Decimal, scale: Decimal) -> Result<(BaseOrder, Vec<LevelOrder>, Decimal), EngineError> {
        if self.strategy.safety_anchor == SafetyAnchor::Average {
            let plan = ladder::plan_with(&self.strategy, &self.rules, price, scale, &self.deviations)?;
            let b = plan.levels[0];
            return Ok((BaseOrder { quantity: b.quantity, quote: b.quote }, Vec::new(), plan.funds_required));
        }
        let b = ladder::base_order(&self.strategy, &self.rules, price, scale)?;
        let base = BaseOrder { quantity: b.quantity, quote: b.quote };
        let mut funds = base.quote;
        let mut levels = Vec::with_capacity(self.levels_spec.len());
        let mut previous = price;
        for (k, spec) in self.levels_spec.iter().enumerate() {
            let n = u32::try_from(k + 1).unwrap_or(u32::MAX);
            let anchor = if self.strategy.safety_anchor == SafetyAnchor::Base { price } else { previous };
            let q = spec.order(self.strategy.side, &self.rules, anchor, scale, n)?;
            funds = funds.checked_add(q.quote).ok_or(ladder::LadderError::Overflow { level: n })?;
            levels.push(LevelOrder { price: q.price, quantity: q.quantity });
            previous = q.price;
        }
        Ok((base, levels, funds))
    }

    pub(super) fn watch_deal(&self, deal: &Deal) -> Watch {
        let side = self.strategy.side;
        let stop_loss = self.strategy.stop_loss.and_then(|_| {
            let avg = deal.position.average_price().unwrap_or(Decimal::ZERO);
            stop_loss_price(&self.strategy, &self.rules, avg, deal.entry_price.unwrap_or(avg))
        });
        let mut w = Watch { stop_loss, ..Watch::default() };
        if let Some(t) = self.strategy.trailing_take_profit {
            match deal.trailing {
                None => w.trailing_arm = deal.take_profit_price,
                Some(tr) => w.trailing_exit = Some(trailing_exit_price(side, &self.rules, tr.peak, t)),
            }
        }
        w
    }

    fn check_exits(&mut self, time: TimeMs, price: Decimal) -> Output {
        let side = self.strategy.side;
        let timeout_ms =
            self.strategy.stop_loss_timeout_secs.map(|s| i64::try_from(s).unwrap_or(i64::MAX).saturating_mul(1000));
        let trailing_pct = self.strategy.trailing_take_profit;
        let Phase::Open(deal) = &self.phase else {
            return Output::default();
        };
        if !deal.managed || deal.exit.is_some() {
            return Output::default();
        }
        let watch = self.watch_deal(deal);
        let beyond = |level: Decimal| match side {
            Side::Long => price <= level,
            Side::Short => price >= level,
        };
        let reached = |level: Decimal| match side {
            Side::Long => price >= level,
            Side::Short => price <= level,
        };
        let mut fire = None;
        let mut breach_since = None;
        if let Some(sl) = watch.stop_loss.filter(|sl| beyond(*sl)) {
            let since = deal.breach_since.unwrap_or(time);
            breach_since = Some(since);
            if timeout_ms.is_none_or(|t| time.saturating_sub(since) >= t) {
                let _ = sl;
                fire = Some(ExitKind::StopLoss);
            }
        }
        let mut trailing = deal.trailing;
        if let (None, Some(pct)) = (fire, trailing_pct) {
            if trailing.is_none() && deal.take_profit_price.is_some_and(reached) {
                trailing = Some(Trailing { peak: price });
            }
            if let Some(tr) = trailing.as_mut() {
                tr.peak = match side {
                    Side::Long => tr.peak.max(price),
                    Side::Short => tr.peak.min(price),
                };
                if beyond(trailing_exit_price(side, &self.rules, tr.peak, pct)) {
                    fire = Some(ExitKind::Trailing);
                }
            }
        }
        if let Phase::Open(deal) = &mut self.phase {
            deal.breach_since = breach_since;
            deal.trailing = trailing;
        }
        match fire {
            Some(kind) => self.begin_exit(time, kind, price),
            None => Output::default(),
        }
    }

    /// Decides an exit: cancels every resting order; the market exit itself
    /// is sent by `reconcile` once no exit-side order can fill any more.
    fn begin_exit(&mut self, time: TimeMs, kind: ExitKind, reference_price: Decimal) -> Output {
        let Phase::Open(mut deal) = std::mem::replace(&mut self.phase, Phase::Idle) else {
            return Output::default();
        };
        deal.exit = Some(PendingExit { kind, reference_price, sent: false });
        deal.trailing = None;
        deal.take_profit_wanted = false;
        let mut out = Output::default();
        deal.cancel_into(&mut out.actions, |_| true);
        self.phase = Phase::Closing(deal);
        out.extend(self.reconcile(time));
        out
    }

    // ----- reconciliation -------------------------------------------------

    /// From the deal's state, sends what should now be sent and moves the
    /// phase forward. Called after every order report and command.
    pub(super) fn reconcile(&mut self, time: TimeMs) -> Output {
        let mut out = Output::default();
        // Bounded: each pass either changes the phase or returns.
        for _ in 0..4 {
            let before = self.phase.kind();
            match before {
                PhaseKind::Idle => {}
                PhaseKind::Opening => self.reconcile_opening(time, &mut out),
                PhaseKind::Open => self.reconcile_open(&mut out),
                PhaseKind::Closing => self.reconcile_closing(time, &mut out),
            }
            if self.phase.kind() == before {
                break;
            }
        }
        out
    }

    fn reconcile_opening(&mut self, time: TimeMs, out: &mut Output) {
        let Phase::Opening(deal) = &self.phase else {
            return;
        };
        let Some(base) = deal.orders.iter().find(|o| o.request.role == OrderRole::Base) else {
            return;
        };
        if base.state.is_live() && base.state != OrderState::Filled {
            return;
        }
        let Phase::Opening(mut deal) = std::mem::replace(&mut self.phase, Phase::Idle) else {
            return;
        };
        if deal.position.entry_qty().is_zero() {
            // Never filled: the deal did not happen. The cooldown applies so a
            // refusing exchange is not hammered on every tick.
            self.last_closed_at = Some(time);
            let report = self.report(&deal, time, ExitKind::Aborted);
            self.totals.record(&report);
            out.closed.push(report);
            return;
        }
        let p0 = deal.position.average_price().unwrap_or(Decimal::ZERO);
        deal.entry_price = Some(p0);
        // Levels planned at the price the base order was sent at stay valid
        // if it filled there; otherwise plan them again from the real P0.
        if deal.planned_at != Some(p0) || self.strategy.safety_anchor == SafetyAnchor::Average {
            deal.levels = self.plan_levels(p0, deal.scale);
        }
        // A deal stopped with `cancel_orders` while its base order was in
        // flight records the fill but places nothing (see the module docs).
        deal.take_profit_wanted = deal.managed;
        self.phase = Phase::Open(deal);
    }

    /// The safety levels for the `base` and `previous` anchors; the ladder
    /// stops at the first level that is impossible at this entry price.
    fn plan_levels(&self, p0: Decimal, scale: Decimal) -> Vec<LevelOrder> {
        if self.strategy.safety_anchor == SafetyAnchor::Average {
            return Vec::new();
        }
        let mut levels = Vec::with_capacity(self.levels_spec.len());
        let mut previous = p0;
        for (k, spec) in self.levels_spec.iter().enumerate() {
            let n = u32::try_from(k + 1).unwrap_or(u32::MAX);
            let anchor = if self.strategy.safety_anchor == SafetyAnchor::Base { p0 } else { previous };
            let Ok(q) = spec.order(self.strategy.side, &self.rules, anchor, scale, n) else {
                break;
            };
            levels.push(LevelOrder { price: q.price, quantity: q.quantity });
            previous = q.price;
        }
        levels
    }

    /// The next safety level of an `average`-anchored ladder, from the
    /// position's exact average.
    fn average_level(&self, deal: &Deal, n: u32) -> Option<LevelOrder> {
        let spec = *self.levels_spec.get(usize::try_from(n.checked_sub(1)?).ok()?)?;
        let avg = deal.position.average_price()?;
        let q = spec.order(self.strategy.side, &self.rules, avg, deal.scale, n).ok()?;
        Some(LevelOrder { price: q.price, quantity: q.quantity })
    }

    fn reconcile_open(&mut self, out: &mut Output) {
        let strategy = &self.strategy;
        let Phase::Open(deal) = &self.phase else {
            return;
        };
        // A take profit that filled completely ends the deal; so does one
        // that left a remainder no order can sell (below the market's
        // minimums) once no order of the deal can fill any more.
        let tp_filled = deal.orders.iter().any(|o| o.request.role == OrderRole::TakeProfit && o.filled > Decimal::ZERO);
        let sellable = || self.rules.round_qty(deal.position.open_qty().max(Decimal::ZERO));
        let unsellable = |qty: Decimal| {
            qty.is_zero()
                || (!deal.has_live_orders()
                    && deal.take_profit_price.is_none_or(|p| self.rules.validate_order(p, qty).is_err()))
        };
        if tp_filled && deal.live(|r| r == OrderRole::TakeProfit) == 0 && unsellable(sellable()) {
            let Phase::Open(mut deal) = std::mem::replace(&mut self.phase, Phase::Idle) else {
                return;
            };
            let price = deal.position.average_exit_price().unwrap_or(Decimal::ZERO);
            deal.exit = Some(PendingExit { kind: ExitKind::TakeProfit, reference_price: price, sent: true });
            deal.cancel_into(&mut out.actions, |_| true);
            self.phase = Phase::Closing(deal);
            return;
        }
        if !deal.managed {
            return;
        }
        // Safety orders: keep up to the active limit resting.
        let limit = strategy.active_safety_limit();
        let mut next = deal.next_level;
        let live = u32::try_from(deal.live(|r| matches!(r, OrderRole::Safety(_)))).unwrap_or(u32::MAX);
        let room = limit.saturating_sub(live).min(strategy.safety_count().saturating_add(1).saturating_sub(next));
        let mut wanted = Vec::with_capacity(usize::try_from(room).unwrap_or(0));
        let mut placed = live;
        while placed < limit && next <= strategy.safety_count() {
            let level = if strategy.safety_anchor == SafetyAnchor::Average {
                // Only once every earlier level is done.
                if live > 0 {
                    break;
                }
                self.average_level(deal, next)
            } else {
                deal.levels.get(usize::try_from(next - 1).unwrap_or(usize::MAX)).copied()
            };
            let Some(level) = level else {
                next = strategy.safety_count() + 1; // ladder truncated
                break;
            };
            if !deal.level_done(next) {
                wanted.push((next, level));
                placed += 1;
            }
            next += 1;
        }
        // Take profit: once no take profit is live.
        let tp_live = deal.live(|r| r == OrderRole::TakeProfit) > 0;
        let new_tp = if deal.take_profit_wanted && !tp_live && !self.retry_on_tick {
            let avg = deal.position.average_price().unwrap_or(Decimal::ZERO);
            let open = deal.position.open_qty();
            take_profit_price(strategy, &self.rules, avg, deal.position.net_cost(), open, deal.base_quote)
        } else {
            None
        };
        let (bot, side, trailing) = (self.bot.clone(), strategy.side, strategy.trailing_take_profit.is_some());
        let sellable = if new_tp.is_some() { sellable() } else { Decimal::ZERO };
        let valid_tp = new_tp.filter(|p| self.rules.validate_order(*p, sellable).is_ok());
        let Phase::Open(deal) = &mut self.phase else {
            return;
        };
        deal.next_level = next;
        out.actions.reserve(wanted.len() + 1);
        for (n, level) in wanted {
            let kind = OrderKind::Limit { price: level.price };
            out.actions.push(deal.place(&bot, OrderRole::Safety(n), side.entry(), kind, level.quantity));
        }
        if let Some(price) = new_tp {
            deal.take_profit_price = Some(price);
            deal.take_profit_wanted = false;
            if !trailing {
                if let Some(price) = valid_tp {
                    let kind = OrderKind::Limit { price };
                    out.actions.push(deal.place(&bot, OrderRole::TakeProfit, side.exit(), kind, sellable));
                }
            }
        }
    }

    fn reconcile_closing(&mut self, time: TimeMs, out: &mut Output) {
        let side = self.strategy.side;
        let Phase::Closing(deal) = &self.phase else {
            return;
        };
        let Some(exit) = deal.exit else { return };
        let slippage_free_ref = exit.reference_price;
        // Computed only past the early returns: a deal's end cancels every
        // resting order, and this runs once per cancel confirmation.
        let exit_side_live = || deal.orders.iter().any(|o| o.state.is_live() && !o.request.role.is_entry());
        let sellable = || self.rules.round_qty(deal.position.open_qty().max(Decimal::ZERO));
        let can_sell = |qty: Decimal| {
            let price = self.rules.round_price(slippage_free_ref, Rounding::Down);
            !qty.is_zero() && self.rules.validate_order(price.max(self.rules.tick_size), qty).is_ok()
        };
        if !exit.sent && !self.retry_on_tick && !exit_side_live() {
            let sellable = sellable();
            let role = match exit.kind {
                ExitKind::StopLoss => OrderRole::StopLoss,
                ExitKind::Trailing => OrderRole::Trailing,
                _ => OrderRole::CloseNow,
            };
            let bot = self.bot.clone();
            let Phase::Closing(deal) = &mut self.phase else {
                return;
            };
            if let Some(e) = deal.exit.as_mut() {
                e.sent = true;
            }
            if can_sell(sellable) {
                let kind = OrderKind::Market { reference_price: slippage_free_ref };
                out.actions.push(deal.place(&bot, role, side.exit(), kind, sellable));
            }
            return;
        }
        if deal.has_live_orders() || !exit.sent {
            return;
        }
        // Nothing can fill any more. Sell what late fills left, if sellable.
        let sellable = sellable();
        if can_sell(sellable) && !self.retry_on_tick {
            let reference_price = self.last_price.unwrap_or(slippage_free_ref);
            let bot = self.bot.clone();
            let Phase::Closing(deal) = &mut self.phase else {
                return;
            };
            let kind = OrderKind::Market { reference_price };
            out.actions.push(deal.place(&bot, OrderRole::Residual, side.exit(), kind, sellable));
            return;
        }
        if self.retry_on_tick {
            return;
        }
        let Phase::Closing(deal) = std::mem::replace(&mut self.phase, Phase::Idle) else {
            return;
        };
        let report = self.report(&deal, time, exit.kind);
        self.totals.record(&report);
        if report.pnl > Decimal::ZERO {
            let share = report.pnl.saturating_mul(self.strategy.reinvest_percent) / HUNDRED;
            self.reinvest_pool = self.reinvest_pool.saturating_add(share);
        }
        self.last_closed_at = Some(time);
        out.closed.push(report);
    }

    fn report(&self, deal: &Deal, time: TimeMs, exit: ExitKind) -> DealReport {
        let p = &deal.position;
        DealReport {
            number: deal.number,
            started_at: deal.started_at,
            closed_at: time,
            exit,
            entry_price: deal.entry_price,
            average_price: p.average_price(),
            exit_price: p.average_exit_price(),
            quantity: p.entry_qty(),
            cost: p.entry_value(),
            safety_orders_filled: deal.levels_filled,
            pnl: p.realized_pnl(),
            fees_quote: p.quote_fees(),
            fees_base: p.base_fees(),
            dust: p.open_qty(),
        }
    }
}

/// Trailing exit level: `peak * (1 - t/100)` for a long (rounded down), the
/// mirror for a short (rounded up).
fn trailing_exit_price(side: Side, rules: &crate::MarketRules, peak: Decimal, pct: Decimal) -> Decimal {
    let raw = match side {
        Side::Long => peak * (Decimal::ONE - pct / HUNDRED),
        Side::Short => peak * (Decimal::ONE + pct / HUNDRED),
    };
    rules.round_price(raw, Rounding::for_stop(side.exit()))
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
