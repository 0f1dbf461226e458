//! What a bot's open deal still needs from the account (SPEC section 10,
//! shared funds): the quote of every entry not yet filled.
//!
//! Counted: the unfilled part of every live entry order (a limit at its
//! price, a market order at its reference price) and every planned safety
//! level not yet placed, while the deal may still place it (managed, no
//! exit decided). Filled entries are not counted: their quote has left the
//! balance already. Known limit: with the `average` anchor the levels are
//! planned one at a time, so only the level in play is known; the next
//! ones are counted from the ladder planned at the deal's entry price.

use rust_decimal::Decimal;

use super::{Engine, OrderKind, OrderRole, Phase, TimeMs};
use crate::config::SafetyAnchor;
use crate::ladder;

impl Engine {
    /// Quote the open deal still needs for its unfilled entries (zero
    /// without a deal); see the module docs.
    ///
    /// ```
    /// use martingale_core::config::BotFile;
    /// use martingale_core::engine::{BotId, Command, Engine, Event};
    /// use martingale_core::dec;
    ///
    /// let bot = BotFile::example().unwrap();
    /// let mut e = Engine::new(BotId::new("b").unwrap(), &bot).unwrap();
    /// assert_eq!(e.funds_outstanding(), dec!(0));
    /// e.handle(Event::Command { time: 0, command: Command::Start }).unwrap();
    /// e.handle(Event::Tick { time: 1, price: dec!(43250.17) }).unwrap();
    /// // The whole ladder is still to be bought: what `plan` says it needs.
    /// let plan = martingale_core::ladder::plan(&bot.strategy, &bot.market, dec!(43250.17)).unwrap();
    /// assert_eq!(e.funds_outstanding(), plan.levels.iter().map(|l| l.price * l.quantity).sum());
    /// ```
    pub fn funds_outstanding(&self) -> Decimal {
        let Some(deal) = self.phase.deal() else { return Decimal::ZERO };
        let mut need = Decimal::ZERO;
        for o in deal.orders.iter().filter(|o| o.request.role.is_entry() && o.state.is_live()) {
            let price = match o.request.kind {
                OrderKind::Limit { price } => price,
                OrderKind::Market { reference_price } => reference_price,
            };
            let open = (o.request.quantity - o.filled).max(Decimal::ZERO);
            need = need.saturating_add(price.saturating_mul(open));
        }
        let more_to_place = matches!(self.phase, Phase::Opening(_) | Phase::Open(_)) && deal.take_profit.is_managed();
        if !more_to_place {
            return need;
        }
        let placed = |n: u32| deal.orders.iter().any(|o| o.request.role == OrderRole::Safety(n));
        let levels: Vec<(Decimal, Decimal)> = if self.strategy.safety_anchor == SafetyAnchor::Average {
            // Planned one at a time: count the rest from the entry's plan.
            let at = deal.entry_price.or(deal.planned_at).unwrap_or(Decimal::ZERO);
            ladder::plan_with(&self.strategy, &self.rules, at, deal.scale, &self.deviations)
                .map(|p| p.levels.iter().skip(1).map(|l| (l.price, l.quantity)).collect())
                .unwrap_or_default()
        } else {
            deal.levels.iter().map(|l| (l.price, l.quantity)).collect()
        };
        for (k, (price, quantity)) in levels.into_iter().enumerate() {
            let n = u32::try_from(k + 1).unwrap_or(u32::MAX);
            if n >= deal.next_level && !placed(n) {
                need = need.saturating_add(price.saturating_mul(quantity));
            }
        }
        need
    }

    /// True when a tick at `time` would open a deal (idle, running, cooled
    /// down, under `max_deals`, the start condition met).
    pub fn would_start(&self, time: TimeMs) -> bool {
        matches!(self.phase, Phase::Idle) && self.can_start(time)
    }
}
