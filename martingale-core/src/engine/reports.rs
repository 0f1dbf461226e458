//! Order reports from the exchange: checked at the API edge, then applied.
//!
//! Every amount is validated before anything changes (see the engine's
//! module docs for the rules), so a refused report leaves the engine as it
//! was. A fill that arrives for an exit order the engine had already
//! replaced (its cancel confirmed, or requested) can leave the resting
//! replacement offering more than the deal still holds: the engine then
//! cancels every resting exit-side order and places a take profit sized to
//! what is left once the cancels are confirmed.

use rust_decimal::Decimal;

use super::deal::{Deal, ExitOrder, OrderState, Reported, TrackedOrder};
use super::fsm::price_ok;
use super::{ClientOrderId, Engine, EngineError, OrderKind, OrderUpdate, Output, Phase, PhaseKind, TimeMs, MAX_AMOUNT};
use crate::fees::FeeCharge;
use crate::{OrderSide, Side};

/// Largest price improvement accepted on a limit fill: a limit buy may fill
/// at or below its limit down to `limit / 100`, a limit sell at or above
/// its limit up to `limit * 100` (and never above [`MAX_AMOUNT`]).
pub const MAX_PRICE_IMPROVEMENT: Decimal = Decimal::ONE_HUNDRED;

impl Engine {
    pub(super) fn on_order(&mut self, time: TimeMs, update: OrderUpdate) -> Result<Output, EngineError> {
        let trails = self.strategy.stop_loss.is_some_and(|sl| sl.trailing);
        // A closing deal's exit is decided: fills no longer move its take profit.
        let closing = self.phase.kind() == PhaseKind::Closing;
        let mut exit_refused = false;
        let found = self.phase.deal().and_then(|d| d.find(update.client_order_id()));
        let (Some(idx), Some(deal)) = (found, self.phase.deal_mut()) else {
            return self.unknown_order(update.client_order_id());
        };
        let order = &deal.orders[idx];
        let has_fills = order.filled > Decimal::ZERO;
        let reported_id = update.client_order_id().clone();
        let step = |state: OrderState, report: Reported| {
            state
                .after(report, has_fills)
                .map_err(|reason| EngineError::InvalidReport { id: reported_id.clone(), reason })
        };
        let mut out = Output::default();
        match update {
            OrderUpdate::Accepted { .. } => {
                if let Some(next) = step(order.state, Reported::Accepted)? {
                    deal.orders[idx].state = next;
                }
                return Ok(Output::default());
            }
            OrderUpdate::Fill { client_order_id: id, cumulative_qty, price, fee } => {
                let long = self.strategy.side == Side::Long;
                let Some(fill) = check_fill(order, &id, cumulative_qty, price, fee, long, &self.fees)? else {
                    return Ok(Output::default()); // duplicate or stale
                };
                let prior = order.state;
                let next = step(prior, Reported::Filled { complete: cumulative_qty == order.request.quantity })?;
                let role = order.request.role;
                // The position first (checked and atomic): on overflow
                // nothing has changed.
                let applied = if role.is_entry() {
                    deal.position.try_apply_entry(price, fill.quantity, fill.fee)
                } else {
                    deal.position.try_apply_exit(price, fill.quantity, fill.fee)
                };
                applied.map_err(|_| EngineError::Overflow(id.clone()))?;
                let order = &mut deal.orders[idx];
                order.filled = cumulative_qty;
                order.filled_value = fill.filled_value;
                if let Some(next) = next {
                    order.state = next;
                }
                deal.last_fill_at = Some(time);
                if role == super::OrderRole::Base && deal.entered_at.is_none() {
                    deal.entered_at = Some(time);
                }
                if role.is_entry() {
                    // A trailing stop loss trails from this fill on.
                    if trails {
                        deal.stop_peak = Some(price);
                    }
                    if let (super::OrderRole::Safety(_), OrderState::Filled) = (role, deal.orders[idx].state) {
                        deal.levels_filled = deal.levels_filled.saturating_add(1);
                    }
                    // The position changed: the take profit must follow it.
                    if !closing && deal.take_profit.is_managed() && deal.entry_price.is_some() {
                        deal.take_profit.want(false);
                        deal.cancel_into(&mut out.actions, |o| o.request.role.is_take_profit());
                    }
                } else if !matches!(prior, OrderState::Sent | OrderState::Open) {
                    // A late fill of an exit the engine had let go of.
                    resize_exits(deal, closing, &mut out);
                }
            }
            OrderUpdate::Canceled { .. } | OrderUpdate::Expired { .. } => {
                let Some(next) = step(order.state, Reported::Canceled)? else {
                    return Ok(Output::default());
                };
                let unexpected = order.state != OrderState::CancelRequested;
                let role = order.request.role;
                deal.orders[idx].state = next;
                if unexpected && role.is_take_profit() && !closing {
                    deal.take_profit.want(true);
                }
            }
            OrderUpdate::Rejected { .. } => {
                let Some(next) = step(order.state, Reported::Rejected)? else {
                    return Ok(Output::default());
                };
                let role = order.request.role;
                deal.orders[idx].state = next;
                use super::OrderRole as R;
                match role {
                    R::TakeProfit | R::TakeProfitStep { .. } if !closing => {
                        deal.take_profit.want(true);
                        self.retry_on_tick = true;
                    }
                    R::StopLoss | R::Trailing | R::CloseNow | R::Residual => {
                        exit_refused = true;
                        self.retry_on_tick = true;
                    }
                    _ => {}
                }
            }
        }
        if let (true, Phase::Closing { exit, .. }) = (exit_refused, &mut self.phase) {
            // The venue refused the market exit: send it again.
            exit.order = ExitOrder::Waiting;
        }
        out.extend(self.reconcile(time));
        Ok(out)
    }

    /// A report for an order the open deal does not have: harmless when the
    /// engine issued the id for a deal that has ended (a late or duplicate
    /// report, listed in [`Output::stale`]), an error otherwise.
    fn unknown_order(&self, id: &ClientOrderId) -> Result<Output, EngineError> {
        if self.issued_earlier(id) {
            return Ok(Output { stale: vec![id.clone()], ..Output::default() });
        }
        Err(EngineError::UnknownOrder(id.clone()))
    }
}

impl Engine {
    /// True when `id` reads as one of this bot's ids ([`ClientOrderId::parse_for`])
    /// for a deal that has ended: a deal of the current generation numbered
    /// below the open deal (or up to the last deal when none is open), or
    /// any deal of an earlier generation of this bot. The open deal keeps
    /// every order it sent, so an id of the open deal that it does not have,
    /// like an id of a later deal or generation, was never issued.
    fn issued_earlier(&self, id: &ClientOrderId) -> bool {
        let Some(parts) = id.parse_for(&self.bot) else {
            return false;
        };
        let ended = match self.phase.deal() {
            Some(open) => open.number.saturating_sub(1),
            None => self.deals_started,
        };
        let number = match (parts.generation, self.generation) {
            (None, None) => Some(parts.deal),
            (Some(stamp), Some(g)) if stamp < g.stamp => return true,
            (Some(stamp), Some(g)) if stamp == g.stamp => {
                parts.deal.checked_add(g.first_deal).and_then(|n| n.checked_sub(1))
            }
            _ => None,
        };
        parts.deal >= 1 && number.is_some_and(|n| n <= ended)
    }
}

/// What a valid, new fill adds.
struct NewFill {
    quantity: Decimal,
    fee: FeeCharge,
    filled_value: Decimal,
}

/// Checks a fill report against its order; `None` for a duplicate or stale
/// report (same or lower cumulative quantity).
fn check_fill(
    order: &TrackedOrder,
    id: &ClientOrderId,
    cumulative_qty: Decimal,
    price: Decimal,
    fee: Option<FeeCharge>,
    long: bool,
    fees: &crate::fees::FeeSchedule,
) -> Result<Option<NewFill>, EngineError> {
    let invalid = |reason: String| EngineError::InvalidFill { id: id.clone(), reason };
    if !price_ok(price) {
        return Err(invalid(format!("price {price} is not in (0, {MAX_AMOUNT}]")));
    }
    if order.state == OrderState::Rejected {
        return Err(invalid("the order was rejected".into()));
    }
    if cumulative_qty < Decimal::ZERO {
        let reason = "must not be negative";
        return Err(EngineError::InvalidAmount { field: "fill.cumulative_qty", value: cumulative_qty, reason });
    }
    check_fill_price(order, id, price)?;
    if cumulative_qty <= order.filled {
        return Ok(None);
    }
    if cumulative_qty > order.request.quantity {
        return Err(invalid(format!(
            "cumulative quantity {cumulative_qty} exceeds the order quantity {}",
            order.request.quantity
        )));
    }
    let quantity = cumulative_qty - order.filled;
    let overflow = || EngineError::Overflow(id.clone());
    let value = price.checked_mul(quantity).ok_or_else(overflow)?;
    let filled_value = order.filled_value.checked_add(value).ok_or_else(overflow)?;
    let side = order.request.side;
    let fee = match fee {
        None => fees.charge(side, order.liquidity(), price, quantity),
        Some(fee) => check_fee(fee, side, long, value, quantity)?,
    };
    Ok(Some(NewFill { quantity, fee, filled_value }))
}

/// A limit buy fills at or below its limit, a sell at or above; the price
/// improvement is bounded by [`MAX_PRICE_IMPROVEMENT`]. A market order has
/// no limit: any price in `(0, MAX_AMOUNT]` (slippage is the venue's).
fn check_fill_price(order: &TrackedOrder, id: &ClientOrderId, price: Decimal) -> Result<(), EngineError> {
    let OrderKind::Limit { price: limit } = order.request.kind else {
        return Ok(());
    };
    let ok = match order.request.side {
        OrderSide::Buy => price <= limit && price.saturating_mul(MAX_PRICE_IMPROVEMENT) >= limit,
        OrderSide::Sell => price >= limit && price <= limit.saturating_mul(MAX_PRICE_IMPROVEMENT),
    };
    if ok {
        return Ok(());
    }
    let (min, max) = match order.request.side {
        OrderSide::Buy => (limit / MAX_PRICE_IMPROVEMENT, limit),
        OrderSide::Sell => (limit, limit.saturating_mul(MAX_PRICE_IMPROVEMENT).min(MAX_AMOUNT)),
    };
    Err(EngineError::FillPriceOutOfBounds { id: id.clone(), price, min, max })
}

/// A reported fee: not negative; in quote at most the fill's value; in base
/// only on a long's buys and at most the quantity filled.
fn check_fee(
    fee: FeeCharge,
    side: OrderSide,
    long: bool,
    value: Decimal,
    qty: Decimal,
) -> Result<FeeCharge, EngineError> {
    let refuse =
        |value: Decimal, reason: &'static str| Err(EngineError::InvalidAmount { field: "fill.fee", value, reason });
    match fee {
        FeeCharge::Quote(f) | FeeCharge::Base(f) if f < Decimal::ZERO => refuse(f, "must not be negative"),
        FeeCharge::Quote(f) if f > value => {
            refuse(f, "a quote fee must not exceed the fill's value (price * quantity)")
        }
        FeeCharge::Base(f) if side != OrderSide::Buy || !long => {
            refuse(f, "a base-asset fee is only possible on a long's buys; report it in quote")
        }
        FeeCharge::Base(f) if f > qty => refuse(f, "a base-asset fee must not exceed the quantity filled"),
        fee => Ok(fee),
    }
}

/// After a late exit fill: if the exit-side orders still resting offer more
/// than the deal holds, cancel them all; a take profit sized to what is left
/// follows once the cancels are confirmed.
fn resize_exits(deal: &mut Deal, closing: bool, out: &mut Output) {
    let held = deal.position.open_qty().max(Decimal::ZERO);
    let offered = deal
        .orders
        .iter()
        .filter(|o| matches!(o.state, OrderState::Sent | OrderState::Open) && !o.request.role.is_entry())
        .fold(Decimal::ZERO, |acc, o| acc.saturating_add(o.request.quantity - o.filled));
    if offered > held {
        deal.cancel_into(&mut out.actions, |o| !o.request.role.is_entry());
        if !closing {
            deal.take_profit.want(true);
        }
    }
}
