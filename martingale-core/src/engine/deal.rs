//! The data of one deal: its orders, its ladder and its position.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::action::{Action, OrderKind, OrderRequest};
use super::event::TimeMs;
use super::ids::{BotId, ClientOrderId, OrderRole};
use crate::fees::Liquidity;
use crate::pnl::ExitKind;
use crate::position::Position;
use crate::OrderSide;

/// Life of one order as the engine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Sent, not yet acknowledged.
    Sent,
    /// Acknowledged and working.
    Open,
    /// A cancel was sent.
    CancelRequested,
    /// Completely filled.
    Filled,
    /// Canceled or expired (possibly after partial fills).
    Canceled,
    /// Refused by the exchange.
    Rejected,
}

impl OrderState {
    /// True while the order may still fill.
    pub fn is_live(self) -> bool {
        matches!(self, OrderState::Sent | OrderState::Open | OrderState::CancelRequested)
    }

    /// The order life cycle as one table: the state after `report`,
    /// `Ok(None)` when the report changes nothing (a duplicate, or news the
    /// engine already has), `Err` when it cannot happen to an order in
    /// this state. `has_fills`: the order has filled something.
    ///
    /// Fills are applied in every state but `Rejected` (a fill may race a
    /// cancel: it still happened); a rejection is possible only before the
    /// venue acknowledged the order (`Sent`, or `CancelRequested` from
    /// `Sent`) and without fills.
    pub(super) fn after(self, report: Reported, has_fills: bool) -> Result<Option<OrderState>, &'static str> {
        use OrderState as S;
        use Reported as R;
        match (self, report) {
            (S::Sent, R::Accepted) => Ok(Some(S::Open)),
            (S::Open | S::CancelRequested | S::Filled | S::Canceled, R::Accepted) => Ok(None),
            (S::Rejected, R::Accepted) => Err("accepted after it was rejected"),
            (S::Rejected, R::Filled { .. }) => Err("a fill of a rejected order"),
            (_, R::Filled { complete: true }) => Ok(Some(S::Filled)),
            (_, R::Filled { complete: false }) => Ok(None),
            (S::Sent | S::Open | S::CancelRequested, R::Canceled) => Ok(Some(S::Canceled)),
            (S::Filled | S::Canceled | S::Rejected, R::Canceled) => Ok(None),
            (S::Sent | S::CancelRequested, R::Rejected) if !has_fills => Ok(Some(S::Rejected)),
            (S::Filled | S::Canceled | S::Rejected, R::Rejected) => Ok(None),
            (S::Sent | S::Open | S::CancelRequested, R::Rejected) => {
                Err("a rejection of an order the venue acknowledged or filled")
            }
        }
    }
}

/// What an exchange report says happened to an order, for the life-cycle
/// table [`OrderState::after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reported {
    /// The venue acknowledged it.
    Accepted,
    /// A new fill; `complete` when the order is now wholly filled.
    Filled {
        /// Wholly filled now.
        complete: bool,
    },
    /// Canceled or expired.
    Canceled,
    /// Refused.
    Rejected,
}

/// An order of the deal, with what has filled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedOrder {
    /// The request as sent.
    pub request: OrderRequest,
    /// Quantity filled so far.
    pub filled: Decimal,
    /// Quote value filled so far (sum of price * quantity of its fills).
    #[serde(default)]
    pub filled_value: Decimal,
    /// State.
    pub state: OrderState,
}

impl TrackedOrder {
    /// Maker for limit orders, taker for market orders.
    pub fn liquidity(&self) -> Liquidity {
        match self.request.kind {
            OrderKind::Limit { .. } => Liquidity::Maker,
            OrderKind::Market { .. } => Liquidity::Taker,
        }
    }
}

/// An exit decided but not necessarily sent yet: the engine waits for
/// resting exit-side orders (the take profit) to be canceled before it sends
/// a market exit, so the position can never be sold twice.
///
/// It lives in [`super::Phase::Closing`] only: a deal has an exit exactly
/// when it is closing. Serialized as `{"kind", "reference_price", "sent"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ExitRepr", into = "ExitRepr")]
pub struct PendingExit {
    /// Why.
    pub kind: ExitKind,
    /// Price when decided.
    pub reference_price: Decimal,
    /// Whether the market exit order is out.
    pub order: ExitOrder,
}

/// The market exit order of a closing deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitOrder {
    /// Not sent yet: resting exit-side orders are being canceled first (or
    /// the venue refused the last one and the next tick sends it again).
    Waiting,
    /// Sent (or nothing was left to sell).
    Sent,
}

/// The serialized form of a [`PendingExit`] (the snapshot layout).
#[derive(Serialize, Deserialize)]
struct ExitRepr {
    kind: ExitKind,
    reference_price: Decimal,
    sent: bool,
}

impl From<ExitRepr> for PendingExit {
    fn from(r: ExitRepr) -> Self {
        let order = if r.sent { ExitOrder::Sent } else { ExitOrder::Waiting };
        PendingExit { kind: r.kind, reference_price: r.reference_price, order }
    }
}

impl From<PendingExit> for ExitRepr {
    fn from(e: PendingExit) -> Self {
        ExitRepr { kind: e.kind, reference_price: e.reference_price, sent: e.order == ExitOrder::Sent }
    }
}

/// Trailing take-profit state once armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailing {
    /// Best price since arming (highest for a long, lowest for a short).
    pub peak: Decimal,
}

/// A planned safety level: its price and quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelOrder {
    /// Limit price.
    pub price: Decimal,
    /// Quantity.
    pub quantity: Decimal,
}

/// One deal in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deal {
    /// Deal number, from 1.
    pub number: u32,
    /// Time the base order was sent.
    pub started_at: TimeMs,
    /// Size multiplier from reinvested profit.
    pub scale: Decimal,
    /// Base order quote size (for a `base_order` take profit).
    pub base_quote: Decimal,
    /// Base order average fill price, once filled.
    pub entry_price: Option<Decimal>,
    /// Planned safety levels (`base` / `previous` anchors); for the
    /// `average` anchor, levels are computed one at a time.
    pub levels: Vec<LevelOrder>,
    /// Price the levels were planned at (the base order's reference price).
    #[serde(default)]
    pub planned_at: Option<Decimal>,
    /// Next safety level to place (1-based).
    pub next_level: u32,
    /// Safety orders completely filled.
    pub levels_filled: u32,
    /// Fills so far.
    pub position: Position,
    /// Every order of the deal.
    pub orders: Vec<TrackedOrder>,
    /// Order sequence number for client order ids.
    pub seq: u32,
    /// The take profit: planned price, pending re-placement, trailing
    /// exit, or unmanaged after `stop` with `cancel_orders` (serialized as
    /// the fields `take_profit_price`, `take_profit_wanted`, `trailing` and
    /// `managed`).
    #[serde(flatten)]
    pub take_profit: super::TakeProfitState,
    /// When the stop was first seen breached (for the stop timeout).
    pub breach_since: Option<TimeMs>,
    /// Best price since the last entry fill, for a trailing stop loss
    /// (highest for a long, lowest for a short); reset to each entry
    /// fill's price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_peak: Option<Decimal>,
    /// When the base order (first) filled: the time limit counts from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entered_at: Option<TimeMs>,
    /// Take-profit step prices as last planned, one per step of
    /// `take_profit.steps` (empty without steps): planned again at every
    /// entry fill until a step fills, then kept (SPEC section 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_prices: Vec<Decimal>,
    /// The break-even stop, computed once when step
    /// `stop_loss.breakeven_after_step` filled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakeven: Option<Decimal>,
    /// A limit base order's timeout (see [`super::EntryTimer`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_timer: Option<super::EntryTimer>,
    /// Time of the last fill.
    pub last_fill_at: Option<TimeMs>,
    /// The start generation in this deal's client order ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<super::IdGeneration>,
}

impl Deal {
    pub(super) fn new(number: u32, started_at: TimeMs, side: crate::Side, scale: Decimal, base_quote: Decimal) -> Deal {
        Deal {
            number,
            started_at,
            scale,
            base_quote,
            entry_price: None,
            levels: Vec::new(),
            planned_at: None,
            next_level: 1,
            levels_filled: 0,
            position: Position::new(side),
            orders: Vec::with_capacity(16),
            seq: 0,
            take_profit: super::TakeProfitState::NotYet,
            breach_since: None,
            stop_peak: None,
            entered_at: None,
            step_prices: Vec::new(),
            breakeven: None,
            entry_timer: None,
            last_fill_at: None,
            generation: None,
        }
    }

    /// Registers a new order and returns the action that sends it.
    pub(super) fn place(
        &mut self,
        bot: &BotId,
        role: OrderRole,
        side: OrderSide,
        kind: OrderKind,
        quantity: Decimal,
    ) -> Action {
        let deal = self.generation.map_or(self.number, |g| g.deal_segment(self.number));
        let client_order_id = ClientOrderId::with_generation(bot, self.generation, deal, role, self.seq);
        self.seq = self.seq.wrapping_add(1);
        let request = OrderRequest { client_order_id, role, side, kind, quantity };
        self.orders.push(TrackedOrder {
            request: request.clone(),
            filled: Decimal::ZERO,
            filled_value: Decimal::ZERO,
            state: OrderState::Sent,
        });
        Action::Place(request)
    }

    /// Requests cancellation of every live order matching `pred`, appending
    /// the cancels to `out`.
    pub(super) fn cancel_into(&mut self, out: &mut Vec<Action>, pred: impl Fn(&TrackedOrder) -> bool) {
        for o in self.orders.iter_mut() {
            if matches!(o.state, OrderState::Sent | OrderState::Open) && pred(o) {
                o.state = OrderState::CancelRequested;
                out.push(Action::Cancel { client_order_id: o.request.client_order_id.clone() });
            }
        }
    }

    /// Index of an order by client order id.
    pub(super) fn find(&self, id: &ClientOrderId) -> Option<usize> {
        self.orders.iter().position(|o| &o.request.client_order_id == id)
    }

    /// Live orders with a role.
    pub(super) fn live(&self, pred: impl Fn(OrderRole) -> bool) -> usize {
        self.orders.iter().filter(|o| o.state.is_live() && pred(o.request.role)).count()
    }

    /// True when safety level `n` needs no (new) order: one is live, has
    /// filled something, or was rejected (a rejected level is skipped).
    pub fn level_done(&self, n: u32) -> bool {
        self.orders.iter().any(|o| {
            o.request.role == OrderRole::Safety(n)
                && (o.state.is_live() || o.filled > Decimal::ZERO || o.state == OrderState::Rejected)
        })
    }

    /// True when any order of the deal may still fill.
    pub fn has_live_orders(&self) -> bool {
        self.orders.iter().any(|o| o.state.is_live())
    }
}
