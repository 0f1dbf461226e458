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

use super::deal::{Deal, ExitKind, LevelOrder, OrderState, PendingExit, Trailing};
use super::{
    Candle, Command, DealReport, Engine, EngineError, Event, Mode, OrderKind, OrderRole, OrderUpdate, Output, Phase,
    PhaseKind, TimeMs, Watch,
};
use crate::config::{OrderSize, PathModel, SafetyAnchor, StartCondition};
use crate::ladder::{self, order_quantity, safety_price_at, stop_loss_price, take_profit_price};
use crate::market::Rounding;
use crate::Side;

const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

/// Each safety level's distance from its anchor (percent) and size: `D_n`
/// from P0 for the `base` anchor (or the custom deviation), the gap `g_n`
/// for `previous` and `average`.
/// A safety level's distance from its anchor (percent) and size. Stored as
/// `[distance, size]`; the fraction `distance / 100` is derived on creation
/// and on deserialization, so pricing a level never divides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(from = "(Decimal, OrderSize)", into = "(Decimal, OrderSize)")]
pub(super) struct LevelSpec {
    pub distance: Decimal,
    pub fraction: Decimal,
    pub size: OrderSize,
}

impl From<(Decimal, OrderSize)> for LevelSpec {
    fn from((distance, size): (Decimal, OrderSize)) -> Self {
        LevelSpec { distance, fraction: distance / HUNDRED, size }
    }
}

impl From<LevelSpec> for (Decimal, OrderSize) {
    fn from(l: LevelSpec) -> Self {
        (l.distance, l.size)
    }
}

pub(super) fn level_specs(
    strategy: &crate::config::StrategyConfig,
) -> Result<Vec<LevelSpec>, crate::config::ConfigError> {
    let deviations = strategy.nominal_deviations()?;
    (1..=strategy.safety_count())
        .map(|n| {
            let (dev, size) = strategy
                .safety_level(n)
                .ok_or(crate::config::ConfigError::Overflow { field: "step_scale", level: n })?;
            let distance = match (strategy.safety_anchor, strategy.is_custom()) {
                (SafetyAnchor::Base, false) => {
                    deviations.get(usize::try_from(n - 1).unwrap_or(0)).copied().unwrap_or(dev)
                }
                _ => dev,
            };
            Ok(LevelSpec::from((distance, size)))
        })
        .collect()
}

/// Size of a deal's base order.
struct BaseOrder {
    quantity: Decimal,
    quote: Decimal,
}

/// Largest price or quantity the engine accepts from outside (10^13): keeps
/// every product and running sum far from `Decimal`'s ~7.9 * 10^28 limit, so
/// no arithmetic can overflow whatever an exchange reports.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(1_316_134_912, 2_328, 0, false, 0);

fn price_ok(price: Decimal) -> bool {
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
                if let (true, Phase::Open(deal)) = (*cancel_orders, &mut self.phase) {
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
                let quantity = self.rules.round_qty(match size {
                    OrderSize::Quote(q) => q.checked_div(price).unwrap_or(Decimal::ZERO),
                    OrderSize::Base(b) => *b,
                });
                let on_grid = self.rules.round_limit_price(price, self.strategy.side.entry());
                self.rules.validate_order(on_grid, quantity)?;
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
            scale = (funds + self.reinvest_pool) / funds;
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
        Ok(Output { actions: vec![action], closed: vec![] })
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
        if price <= Decimal::ZERO {
            return Err(ladder::LadderError::EntryPriceNotPositive { price }.into());
        }
        let size = self.strategy.base_order.scaled(scale);
        let quantity = order_quantity(size, price, &self.rules, 0)?;
        let nominal = |size: OrderSize, price: Decimal, q: Decimal| match size {
            OrderSize::Quote(v) => v,
            OrderSize::Base(_) => price * q,
        };
        let base = BaseOrder { quantity, quote: nominal(size, price, quantity) };
        let mut funds = base.quote;
        let mut levels = Vec::with_capacity(self.levels_spec.len());
        let mut previous = price;
        for (k, spec) in self.levels_spec.iter().enumerate() {
            let n = u32::try_from(k + 1).unwrap_or(u32::MAX);
            let size = spec.size.scaled(scale);
            let anchor = if self.strategy.safety_anchor == SafetyAnchor::Base { price } else { previous };
            let level_price = safety_price_at(self.strategy.side, &self.rules, anchor, spec.fraction, n)?;
            let q = order_quantity(size, level_price, &self.rules, n)?;
            funds += nominal(size, level_price, q);
            levels.push(LevelOrder { price: level_price, quantity: q });
            previous = level_price;
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
        let timeout_ms = self.strategy.stop_loss_timeout_secs.map(|s| i64::try_from(s).unwrap_or(i64::MAX) * 1000);
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

    // ----- order reports --------------------------------------------------

    fn on_order(&mut self, time: TimeMs, update: OrderUpdate) -> Result<Output, EngineError> {
        let fees = self.fees;
        let id = update.client_order_id().clone();
        let deal = self.phase.deal_mut().ok_or_else(|| EngineError::UnknownOrder(id.clone()))?;
        let idx = deal.find(&id).ok_or_else(|| EngineError::UnknownOrder(id.clone()))?;
        let order = &deal.orders[idx];
        let mut out = Output::default();
        match update {
            OrderUpdate::Accepted { .. } => {
                if order.state == OrderState::Sent {
                    deal.orders[idx].state = OrderState::Open;
                }
                return Ok(Output::default());
            }
            OrderUpdate::Fill { cumulative_qty, price, fee, .. } => {
                let invalid = |reason: String| Err(EngineError::InvalidFill { id: id.clone(), reason });
                if !price_ok(price) {
                    return invalid(format!("price {price} is not in (0, {MAX_AMOUNT}]"));
                }
                if order.state == OrderState::Rejected {
                    return invalid("the order was rejected".into());
                }
                if cumulative_qty <= order.filled {
                    return Ok(Output::default()); // duplicate or stale
                }
                if cumulative_qty > order.request.quantity {
                    return invalid(format!(
                        "cumulative quantity {cumulative_qty} exceeds the order quantity {}",
                        order.request.quantity
                    ));
                }
                let (role, side, liquidity) = (order.request.role, order.request.side, order.liquidity());
                let dq = cumulative_qty - order.filled;
                let fee = fee.unwrap_or_else(|| fees.charge(side, liquidity, price, dq));
                let order = &mut deal.orders[idx];
                order.filled = cumulative_qty;
                order.filled_value += price * dq;
                if cumulative_qty == order.request.quantity {
                    order.state = OrderState::Filled;
                }
                deal.last_fill_at = Some(time);
                if role.is_entry() {
                    deal.position.apply_entry(price, dq, fee);
                    if let (OrderRole::Safety(_), OrderState::Filled) = (role, deal.orders[idx].state) {
                        deal.levels_filled += 1;
                    }
                    // The position changed: the take profit must follow it.
                    if deal.exit.is_none() && deal.managed && deal.entry_price.is_some() {
                        deal.take_profit_wanted = true;
                        deal.trailing = None;
                        deal.cancel_into(&mut out.actions, |o| o.request.role == OrderRole::TakeProfit);
                    }
                } else {
                    deal.position.apply_exit(price, dq, fee);
                }
            }
            OrderUpdate::Canceled { .. } | OrderUpdate::Expired { .. } => {
                if !order.state.is_live() {
                    return Ok(Output::default());
                }
                let unexpected = order.state != OrderState::CancelRequested;
                let role = order.request.role;
                deal.orders[idx].state = OrderState::Canceled;
                if unexpected && role == OrderRole::TakeProfit && deal.exit.is_none() {
                    deal.take_profit_wanted = true;
                }
            }
            OrderUpdate::Rejected { .. } => {
                if !order.state.is_live() {
                    return Ok(Output::default());
                }
                let role = order.request.role;
                deal.orders[idx].state = OrderState::Rejected;
                match role {
                    OrderRole::TakeProfit if deal.exit.is_none() => {
                        deal.take_profit_wanted = true;
                        self.retry_on_tick = true;
                    }
                    OrderRole::StopLoss | OrderRole::Trailing | OrderRole::CloseNow | OrderRole::Residual => {
                        if let Some(exit) = deal.exit.as_mut() {
                            exit.sent = false;
                        }
                        self.retry_on_tick = true;
                    }
                    _ => {}
                }
            }
        }
        out.extend(self.reconcile(time));
        Ok(out)
    }

    // ----- reconciliation -------------------------------------------------

    /// From the deal's state, sends what should now be sent and moves the
    /// phase forward. Called after every order report and command.
    fn reconcile(&mut self, time: TimeMs) -> Output {
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
        deal.take_profit_wanted = true;
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
            let Ok(price) = safety_price_at(self.strategy.side, &self.rules, anchor, spec.fraction, n) else {
                break;
            };
            let Ok(quantity) = order_quantity(spec.size.scaled(scale), price, &self.rules, n) else {
                break;
            };
            levels.push(LevelOrder { price, quantity });
            previous = price;
        }
        levels
    }

    /// The next safety level of an `average`-anchored ladder, from the
    /// position's exact average.
    fn average_level(&self, deal: &Deal, n: u32) -> Option<LevelOrder> {
        let spec = *self.levels_spec.get(usize::try_from(n.checked_sub(1)?).ok()?)?;
        let avg = deal.position.average_price()?;
        let price = safety_price_at(self.strategy.side, &self.rules, avg, spec.fraction, n).ok()?;
        let quantity = order_quantity(spec.size.scaled(deal.scale), price, &self.rules, n).ok()?;
        Some(LevelOrder { price, quantity })
    }

    fn reconcile_open(&mut self, out: &mut Output) {
        let strategy = &self.strategy;
        let Phase::Open(deal) = &self.phase else {
            return;
        };
        // A take profit that filled completely ends the deal.
        let tp_filled = deal.orders.iter().any(|o| o.request.role == OrderRole::TakeProfit && o.filled > Decimal::ZERO);
        let sellable = || self.rules.round_qty(deal.position.open_qty());
        if tp_filled && deal.live(|r| r == OrderRole::TakeProfit) == 0 && sellable().is_zero() {
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
        let sellable = || self.rules.round_qty(deal.position.open_qty());
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
            self.reinvest_pool += report.pnl * self.strategy.reinvest_percent / HUNDRED;
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

/// The four path points of a candle (SPEC section 6).
pub fn candle_path(c: &Candle, model: PathModel) -> [Decimal; 4] {
    let low_first = match model {
        PathModel::Ohlc => false,
        PathModel::Olhc => true,
        PathModel::Adaptive => (c.open - c.low) <= (c.high - c.open),
    };
    if low_first {
        [c.open, c.low, c.high, c.close]
    } else {
        [c.open, c.high, c.low, c.close]
    }
}
