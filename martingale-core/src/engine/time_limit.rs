//! The time limit of a deal (SPEC section 10, rules in 10.1).
//!
//! Once a deal has been open `secs` from its base order's fill, it closes
//! at market when closing the remaining quantity `R` by a taker order at
//! price `x` leaves the deal's P&L (proceeds of earlier exits and every fee
//! paid included) at least `min_profit_percent` of its cost (the quote of
//! its entries, fees excluded; for a short, the quote they received):
//!
//! - long: `x >= (cost * (1 + m/100) + quote fees - exit proceeds) / (R * (1 - taker))`,
//!   rounded up to the tick;
//! - short: `x <= (cost * (1 - m/100) - exit cost - quote fees) / (R * (1 + taker))`,
//!   rounded down.
//!
//! That trigger is a watch level: it fires like a stop (the simulators add
//! `slippage_bps`) when the path touches it; if the price is already past
//! it when the limit starts to apply, or after a fill past the limit, the
//! deal closes at once at that price. Without `min_profit_percent` it
//! closes at once. The ladder keeps working past the limit; the trigger is
//! recomputed after every fill. In simulations the clock counts whole
//! candles ([`Engine::set_clock_grain`]): candle `j` is past the limit when
//! `open_time(j) - open_time(base fill's candle) >= secs`.

use rust_decimal::Decimal;

use super::deal::Deal;
use super::fsm::MAX_AMOUNT;
use super::{Engine, TimeMs};
use crate::market::Rounding;
use crate::Side;

/// The candle interval a simulation counts time in (see the module docs):
/// a setting of the run, so two engines differing only in it are equal and
/// it is not persisted (every simulator sets it before each run).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ClockGrain(pub(super) Option<TimeMs>);

impl PartialEq for ClockGrain {
    fn eq(&self, _: &ClockGrain) -> bool {
        true
    }
}

impl Eq for ClockGrain {}

impl Engine {
    /// `t` on the simulation's candle grain (floored to its candle's open).
    pub(super) fn on_grain(&self, t: TimeMs) -> TimeMs {
        match self.clock_grain.0 {
            Some(g) => t.saturating_sub(t.rem_euclid(g)),
            None => t,
        }
    }

    /// When the open deal's time limit starts to apply, if it has one.
    pub fn time_limit_from(&self) -> Option<TimeMs> {
        let tl = self.strategy.time_limit?;
        let start = self.phase.deal()?.entered_at?;
        let ms = i64::try_from(tl.secs).unwrap_or(i64::MAX).saturating_mul(1000);
        Some(self.on_grain(start).saturating_add(ms))
    }

    /// True when the time limit applies to `deal` at `time`.
    pub(super) fn past_time_limit(&self, deal: &Deal, time: TimeMs) -> bool {
        let (Some(tl), Some(start)) = (self.strategy.time_limit, deal.entered_at) else { return false };
        let ms = i64::try_from(tl.secs).unwrap_or(i64::MAX).saturating_mul(1000);
        self.on_grain(time).saturating_sub(self.on_grain(start)) >= ms
    }

    /// The time-limit exit's trigger price at `time` (see the module docs),
    /// `None` before the limit applies or when no price can make it.
    pub(super) fn time_limit_trigger(&self, deal: &Deal, time: TimeMs) -> Option<Decimal> {
        if !self.past_time_limit(deal, time) {
            return None;
        }
        let side = self.strategy.side;
        let at_once = match side {
            Side::Long => Decimal::ZERO,
            Side::Short => MAX_AMOUNT,
        };
        let Some(m) = self.strategy.time_limit.and_then(|t| t.min_profit_percent) else { return Some(at_once) };
        let p = &deal.position;
        let r = p.open_qty();
        if r <= Decimal::ZERO {
            return None;
        }
        let cost = p.entry_value();
        let target = cost.checked_mul(m)?.checked_div(Decimal::ONE_HUNDRED)?;
        let taker = self.fees.taker;
        match side {
            Side::Long => {
                let num = target.checked_add(cost)?.checked_add(p.quote_fees())?.checked_sub(p.exit_value())?;
                let x = num.checked_div(r.checked_mul(Decimal::ONE - taker)?)?;
                if x <= Decimal::ZERO {
                    return Some(at_once);
                }
                Some(self.rules.round_price(x, Rounding::Up))
            }
            Side::Short => {
                let num = cost.checked_sub(p.exit_value())?.checked_sub(p.quote_fees())?.checked_sub(target)?;
                let x = num.checked_div(r.checked_mul(Decimal::ONE + taker)?)?;
                if x <= Decimal::ZERO {
                    return None;
                }
                Some(self.rules.round_price(x, Rounding::Down).min(at_once))
            }
        }
    }
}
