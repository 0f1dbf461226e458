//! Take-profit steps and the break-even stop (SPEC section 10 and 10.1).
//!
//! With `take_profit.steps`, a deal's take profit is several resting limit
//! orders. Their life, in the deal's own data (no flags):
//! - the steps' prices are [`Deal::step_prices`], planned from
//!   `take_profit.base` with each step's percent at every entry fill until
//!   the first step order fills ([`Deal::steps_started`]); from then on
//!   they are kept;
//! - step k sells `close_k / 100` of the position's entry quantity,
//!   rounded down to the step size; the last pending step sells whatever
//!   remains; a step whose order would break the market's minimums at its
//!   price is merged into the next one (one order for the combined share,
//!   at the later step's price, role
//!   [`OrderRole::TakeProfitStep`]` { first, last }`); what the last step
//!   cannot sell is dust;
//! - a step is done once an order carrying it filled completely
//!   ([`Deal::step_done`]); done steps are never placed again;
//! - with `trailing_take_profit` the last step is not placed: its price
//!   arms the trailing exit ([`TakeProfitState::price`](super::TakeProfitState::price) is the last step's
//!   price either way);
//! - `stop_loss.breakeven_after_step = k`: when step k is done the stop
//!   also moves to the break-even price, computed once
//!   ([`Deal::breakeven`]).
//!
//! Invariant: the step orders placed at one time never offer more than the
//! deal holds (each quantity is capped by what remains).

use rust_decimal::Decimal;

use super::deal::{Deal, OrderState};
use super::{Engine, OrderRole};
use crate::ladder::take_profit_price_at;
use crate::market::Rounding;
use crate::Side;

/// A take-profit step order to place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StepOrder {
    /// `TakeProfitStep { first, last }`.
    pub role: OrderRole,
    /// Limit price (the last carried step's).
    pub price: Decimal,
    /// Quantity on the step grid.
    pub quantity: Decimal,
}

/// The steps' prices and the orders to place for the pending ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StepPlan {
    /// One price per configured step.
    pub prices: Vec<Decimal>,
    /// Orders for the steps not done yet (merged where too small).
    pub orders: Vec<StepOrder>,
}

impl Deal {
    /// True once any take-profit step order has filled something: the
    /// ladder has stopped and the steps' prices are kept.
    pub fn steps_started(&self) -> bool {
        self.orders
            .iter()
            .any(|o| matches!(o.request.role, OrderRole::TakeProfitStep { .. }) && o.filled > Decimal::ZERO)
    }

    /// True when step `j` (1-based) was carried by an order that filled
    /// completely.
    pub fn step_done(&self, j: u8) -> bool {
        self.orders.iter().any(|o| {
            matches!(o.request.role, OrderRole::TakeProfitStep { first, last } if first <= j && j <= last)
                && o.state == OrderState::Filled
        })
    }
}

impl Engine {
    /// The step orders to place now for `deal` (see the module docs);
    /// `None` when a price cannot be computed (nothing is held yet, or an
    /// overflow).
    pub(super) fn plan_steps(&self, deal: &Deal) -> Option<StepPlan> {
        let s = &self.strategy;
        let steps = &s.take_profit.steps;
        let p = &deal.position;
        let prices = if deal.steps_started() && deal.step_prices.len() == steps.len() {
            deal.step_prices.clone()
        } else {
            let avg = p.average_price()?;
            let (net_cost, open) = (p.net_cost(), p.open_qty());
            steps
                .iter()
                .map(|st| take_profit_price_at(s, &self.rules, st.percent, avg, net_cost, open, deal.base_quote))
                .collect::<Option<Vec<_>>>()?
        };
        let entry = p.entry_qty();
        let mut remaining = self.rules.round_qty(p.open_qty().max(Decimal::ZERO));
        let trailing = s.trailing_take_profit.is_some();
        let count = u8::try_from(steps.len()).ok()?;
        let pending: Vec<u8> = (1..=count).filter(|j| !deal.step_done(*j)).collect();
        let mut orders = Vec::with_capacity(pending.len());
        let (mut first, mut share) = (None, Decimal::ZERO);
        for (i, &j) in pending.iter().enumerate() {
            let idx = usize::from(j - 1);
            let last = i + 1 == pending.len();
            share += steps.get(idx)?.close;
            let carried_from = *first.get_or_insert(j);
            let price = *prices.get(idx)?;
            let quantity = if last {
                remaining
            } else {
                let q = entry.checked_mul(share)?.checked_div(Decimal::ONE_HUNDRED)?;
                self.rules.round_qty(q).min(remaining)
            };
            let placeable = self.rules.validate_order(price, quantity).is_ok();
            if !last && !placeable {
                continue; // merged into the next step
            }
            (first, share) = (None, Decimal::ZERO);
            if last && (trailing || !placeable) {
                break; // armed for the trailing exit, or dust
            }
            orders.push(StepOrder {
                role: OrderRole::TakeProfitStep { first: carried_from, last: j },
                price,
                quantity,
            });
            remaining -= quantity;
        }
        Some(StepPlan { prices, orders })
    }

    /// The break-even price of `deal` (SPEC 10.1): where selling the open
    /// quantity R by a taker order leaves the deal's P&L at zero, counting
    /// the proceeds of its exits and every fee paid. Long: `(entry cost -
    /// exit proceeds + fees) / (R * (1 - taker))`, rounded down; short:
    /// `(entry proceeds - exit cost - fees) / (R * (1 + taker))`, rounded
    /// up. `None` when nothing is open or no positive price breaks even.
    pub(super) fn breakeven_price(&self, deal: &Deal) -> Option<Decimal> {
        let p = &deal.position;
        let r = p.open_qty();
        if r <= Decimal::ZERO {
            return None;
        }
        let side = self.strategy.side;
        let taker = self.fees.taker;
        let net = p.entry_value().checked_sub(p.exit_value())?;
        let x = match side {
            Side::Long => net.checked_add(p.quote_fees())?.checked_div(r.checked_mul(Decimal::ONE - taker)?)?,
            Side::Short => net.checked_sub(p.quote_fees())?.checked_div(r.checked_mul(Decimal::ONE + taker)?)?,
        };
        let price = self.rules.round_price(x, Rounding::for_stop(side.exit()));
        (price > Decimal::ZERO).then_some(price)
    }
}
