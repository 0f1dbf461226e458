//! Starting a deal: when a tick may open one (mode, cooldown, `max_deals`,
//! signal), and the base order and safety ladder it places.
//!
//! Part of the engine's transition code (see `fsm`): every handler checks
//! everything that can fail before it mutates, so a refused event changes
//! nothing.

use rust_decimal::Decimal;

use super::deal::{Deal, LevelOrder};
use super::{Engine, EngineError, Mode, OrderRole, Output, Phase, PhaseKind, TimeMs};
use crate::config::SafetyAnchor;
use crate::ladder;

/// Size of a deal's base order.
struct BaseOrder {
    quantity: Decimal,
    quote: Decimal,
}

impl Engine {
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

    pub(super) fn can_start(&self, time: TimeMs) -> bool {
        // A retried limit entry carries the signal of the tick it timed out at.
        let signal = self.signal_pending || self.entry_retry == Some(true);
        let cooled = self.last_closed_at.is_none_or(|closed| {
            let cooldown = i64::try_from(self.strategy.cooldown_secs).unwrap_or(i64::MAX).saturating_mul(1000);
            time > closed.saturating_add(cooldown)
        });
        let under_max = self.strategy.max_deals.is_none_or(|max| self.totals.closed_deals < max);
        let signal = !self.strategy.start_condition.needs_signal() || signal;
        self.mode == Mode::Running && cooled && under_max && signal
    }

    pub(super) fn start_deal(&mut self, time: TimeMs, price: Decimal) -> Result<Output, EngineError> {
        // A limit base order sizes the ladder at its own price.
        let (price, kind) = self.base_order_at(price)?;
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
        deal.entry_timer = self.entry_timer_from(time);
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
            let b = &plan.levels[0];
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
}
