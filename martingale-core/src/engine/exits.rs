//! Leaving a deal: the prices a tick is watched against (take profit,
//! stop loss and its timeout, trailing), deciding an exit, and the closed
//! deal's report.
//!
//! Part of the engine's transition code (see `fsm`): every handler checks
//! everything that can fail before it mutates, so a refused event changes
//! nothing.

use rust_decimal::Decimal;

use super::deal::{Deal, ExitOrder, PendingExit, Trailing};
use super::{DealReport, Engine, Output, Phase, TimeMs, Watch};
use crate::ladder::stop_loss_price;
use crate::market::Rounding;
use crate::pnl::ExitKind;
use crate::Side;

impl Engine {
    pub(super) fn watch_deal(&self, deal: &Deal) -> Watch {
        let side = self.strategy.side;
        let stop_loss = self.strategy.stop_loss.and_then(|sl| {
            let avg = deal.position.average_price().unwrap_or(Decimal::ZERO);
            let fixed = stop_loss_price(&self.strategy, &self.rules, avg, deal.entry_price.unwrap_or(avg));
            // The stop in force is the tightest one (SPEC 10.1).
            let trailing = deal
                .stop_peak
                .filter(|_| sl.trailing)
                .map(|peak| trailing_exit_price(side, &self.rules, peak, sl.percent));
            [fixed, trailing, deal.breakeven].into_iter().flatten().reduce(|a, b| match side {
                Side::Long => a.max(b),
                Side::Short => a.min(b),
            })
        });
        let mut w = Watch { stop_loss, ..Watch::default() };
        if let Some(t) = self.strategy.trailing_take_profit {
            match deal.take_profit.trailing() {
                None => w.trailing_arm = deal.take_profit.price(),
                Some(tr) => w.trailing_exit = Some(trailing_exit_price(side, &self.rules, tr.peak, t)),
            }
        }
        w
    }

    pub(super) fn check_exits(&mut self, time: TimeMs, price: Decimal) -> Output {
        let side = self.strategy.side;
        let timeout_ms =
            self.strategy.stop_loss_timeout_secs.map(|s| i64::try_from(s).unwrap_or(i64::MAX).saturating_mul(1000));
        let trailing_pct = self.strategy.trailing_take_profit;
        let Phase::Open(deal) = &self.phase else {
            return Output::default();
        };
        if !deal.take_profit.is_managed() {
            return Output::default();
        }
        // A trailing stop loss: every point of the path counts for the peak.
        if self.strategy.stop_loss.is_some_and(|sl| sl.trailing) {
            let stop_peak = match deal.stop_peak {
                None => price,
                Some(peak) => match side {
                    Side::Long => peak.max(price),
                    Side::Short => peak.min(price),
                },
            };
            if let Phase::Open(deal) = &mut self.phase {
                deal.stop_peak = Some(stop_peak);
            }
        }
        let Phase::Open(deal) = &self.phase else {
            return Output::default();
        };
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
        // Stops first, then the time limit (SPEC 10.1).
        if fire.is_none()
            && self.strategy.time_limit.is_some()
            && self.time_limit_trigger(deal, time).is_some_and(reached)
        {
            fire = Some(ExitKind::TimeLimit);
        }
        let mut trailing = deal.take_profit.trailing();
        if let (None, Some(pct)) = (fire, trailing_pct) {
            if trailing.is_none() && deal.take_profit.price().is_some_and(reached) {
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
            deal.take_profit.set_trailing(trailing);
        }
        match fire {
            Some(kind) => self.begin_exit(time, kind, price),
            None => Output::default(),
        }
    }

    /// Decides an exit: cancels every resting order; the market exit itself
    /// is sent by `reconcile` once no exit-side order can fill any more.
    pub(super) fn begin_exit(&mut self, time: TimeMs, kind: ExitKind, reference_price: Decimal) -> Output {
        let Phase::Open(mut deal) = std::mem::replace(&mut self.phase, Phase::Idle) else {
            return Output::default();
        };
        deal.take_profit = deal.take_profit.settled();
        let mut out = Output::default();
        deal.cancel_into(&mut out.actions, |_| true);
        let exit = PendingExit { kind, reference_price, order: ExitOrder::Waiting };
        self.phase = Phase::Closing { deal, exit };
        out.extend(self.reconcile(time));
        out
    }

    // ----- reconciliation -------------------------------------------------

    pub(super) fn report(&self, deal: &Deal, time: TimeMs, exit: ExitKind) -> DealReport {
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

/// Trailing level: `peak * (1 - t/100)` for a long (rounded down), the
/// mirror for a short (rounded up); the trailing take profit's exit and the
/// trailing stop loss (both round like a stop).
fn trailing_exit_price(side: Side, rules: &crate::MarketRules, peak: Decimal, pct: Decimal) -> Decimal {
    let raw = match side {
        Side::Long => peak * (Decimal::ONE - pct / Decimal::ONE_HUNDRED),
        Side::Short => peak * (Decimal::ONE + pct / Decimal::ONE_HUNDRED),
    };
    rules.round_price(raw, Rounding::for_stop(side.exit()))
}
