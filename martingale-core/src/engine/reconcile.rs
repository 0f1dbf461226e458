//! Reconciling a deal: from the deal's state alone, which orders must be
//! sent or canceled now (the base order, safety refills, the take profit
//! re-priced, the exit once resting exit-side orders are gone) and when
//! the deal closes.
//!
//! Part of the engine's transition code (see `fsm`): every handler checks
//! everything that can fail before it mutates, so a refused event changes
//! nothing.

use rust_decimal::Decimal;

use super::deal::{Deal, ExitOrder, LevelOrder, OrderState, PendingExit};
use super::{Engine, OrderKind, OrderRole, Output, Phase, PhaseKind, TimeMs};
use crate::config::SafetyAnchor;
use crate::ladder::take_profit_price;
use crate::market::Rounding;
use crate::pnl::ExitKind;

impl Engine {
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
            if let (Some(super::EntryTimer::Expired { signal }), true) =
                (deal.entry_timer, deal.take_profit.is_managed())
            {
                // A limit entry that timed out unfilled is not a deal: no
                // report, no cooldown; the next tick retries the start.
                self.entry_retry = Some(signal);
                return;
            }
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
        deal.take_profit.want(false);
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
        let tp_filled = deal.orders.iter().any(|o| o.request.role.is_take_profit() && o.filled > Decimal::ZERO);
        let sellable = || self.rules.round_qty(deal.position.open_qty().max(Decimal::ZERO));
        let unsellable = |qty: Decimal| {
            qty.is_zero()
                || (!deal.has_live_orders()
                    && deal.take_profit.price().is_none_or(|p| self.rules.validate_order(p, qty).is_err()))
        };
        if tp_filled && deal.live(OrderRole::is_take_profit) == 0 && unsellable(sellable()) {
            let Phase::Open(mut deal) = std::mem::replace(&mut self.phase, Phase::Idle) else {
                return;
            };
            let price = deal.position.average_exit_price().unwrap_or(Decimal::ZERO);
            let exit = PendingExit { kind: ExitKind::TakeProfit, reference_price: price, order: ExitOrder::Sent };
            deal.cancel_into(&mut out.actions, |_| true);
            self.phase = Phase::Closing { deal, exit };
            return;
        }
        if !deal.take_profit.is_managed() {
            return;
        }
        // Take-profit steps: the first step's fill stops the ladder; step
        // k's completion moves the stop to break-even (SPEC section 10).
        // (Without steps, no order to look through.)
        let steps_started = !strategy.take_profit.steps.is_empty() && deal.steps_started();
        let breakeven = strategy
            .stop_loss
            .and_then(|sl| sl.breakeven_after_step)
            .filter(|k| deal.breakeven.is_none() && deal.step_done(*k))
            .and_then(|_| self.breakeven_price(deal));
        // Safety orders: keep up to the active limit resting.
        let limit = if steps_started { 0 } else { strategy.active_safety_limit() };
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
        let tp_live = deal.live(OrderRole::is_take_profit) > 0;
        let place_tp = deal.take_profit.is_wanted() && !tp_live && !self.retry_on_tick;
        let steps = if place_tp && !strategy.take_profit.steps.is_empty() { self.plan_steps(deal) } else { None };
        let new_tp = if !place_tp {
            None
        } else if let Some(plan) = &steps {
            plan.prices.last().copied()
        } else if strategy.take_profit.steps.is_empty() {
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
        if steps_started {
            deal.cancel_into(&mut out.actions, |o| matches!(o.request.role, OrderRole::Safety(_)));
        }
        if breakeven.is_some() {
            deal.breakeven = breakeven;
        }
        if deal.take_profit.is_wanted() && tp_live {
            // A take profit to place again while others rest (a step
            // canceled by the venue): cancel them, then place all.
            deal.cancel_into(&mut out.actions, |o| o.request.role.is_take_profit());
        }
        deal.next_level = next;
        out.actions.reserve(wanted.len() + 1);
        for (n, level) in wanted {
            let kind = OrderKind::Limit { price: level.price };
            out.actions.push(deal.place(&bot, OrderRole::Safety(n), side.entry(), kind, level.quantity));
        }
        if let (Some(price), Some(plan)) = (new_tp, steps) {
            deal.take_profit.placed(price);
            deal.step_prices = plan.prices;
            for o in plan.orders {
                let kind = OrderKind::Limit { price: o.price };
                out.actions.push(deal.place(&bot, o.role, side.exit(), kind, o.quantity));
            }
        } else if let Some(price) = new_tp {
            deal.take_profit.placed(price);
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
        let Phase::Closing { deal, exit } = &self.phase else {
            return;
        };
        let exit = *exit;
        let sent = exit.order == ExitOrder::Sent;
        let slippage_free_ref = exit.reference_price;
        // Computed only past the early returns: a deal's end cancels every
        // resting order, and this runs once per cancel confirmation.
        let exit_side_live = || deal.orders.iter().any(|o| o.state.is_live() && !o.request.role.is_entry());
        let sellable = || self.rules.round_qty(deal.position.open_qty().max(Decimal::ZERO));
        let can_sell = |qty: Decimal| {
            let price = self.rules.round_price(slippage_free_ref, Rounding::Down);
            !qty.is_zero() && self.rules.validate_order(price.max(self.rules.tick_size), qty).is_ok()
        };
        if !sent && !self.retry_on_tick && !exit_side_live() {
            let sellable = sellable();
            let role = match exit.kind {
                ExitKind::StopLoss => OrderRole::StopLoss,
                ExitKind::Trailing => OrderRole::Trailing,
                ExitKind::TimeLimit => OrderRole::TimeLimit,
                _ => OrderRole::CloseNow,
            };
            let bot = self.bot.clone();
            let Phase::Closing { deal, exit } = &mut self.phase else {
                return;
            };
            exit.order = ExitOrder::Sent;
            if can_sell(sellable) {
                let kind = OrderKind::Market { reference_price: slippage_free_ref };
                out.actions.push(deal.place(&bot, role, side.exit(), kind, sellable));
                return;
            }
            // Nothing sellable is left (earlier exit fills took all but
            // dust): no report will come, so the deal ends now.
            return self.reconcile_closing(time, out);
        }
        if deal.has_live_orders() || !sent {
            return;
        }
        // Nothing can fill any more. Sell what late fills left, if sellable.
        let sellable = sellable();
        if can_sell(sellable) && !self.retry_on_tick {
            let reference_price = self.last_price.unwrap_or(slippage_free_ref);
            let bot = self.bot.clone();
            let Phase::Closing { deal, .. } = &mut self.phase else {
                return;
            };
            let kind = OrderKind::Market { reference_price };
            out.actions.push(deal.place(&bot, OrderRole::Residual, side.exit(), kind, sellable));
            return;
        }
        if self.retry_on_tick {
            return;
        }
        let Phase::Closing { deal, .. } = std::mem::replace(&mut self.phase, Phase::Idle) else {
            return;
        };
        let report = self.report(&deal, time, exit.kind);
        self.totals.record(&report);
        if report.pnl > Decimal::ZERO {
            let share = report.pnl.saturating_mul(self.strategy.reinvest_percent) / Decimal::ONE_HUNDRED;
            self.reinvest_pool = self.reinvest_pool.saturating_add(share);
        }
        self.last_closed_at = Some(time);
        // `stop_loss.action = close_and_stop`: every stop-loss exit (static
        // or trailing) stops the bot.
        let stops = self.strategy.stop_loss.is_some_and(|sl| sl.action == crate::config::StopAction::CloseAndStop);
        if stops && exit.kind == ExitKind::StopLoss {
            self.mode = super::Mode::Stopped;
        }
        out.closed.push(report);
    }
}
