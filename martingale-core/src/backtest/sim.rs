//! A simulated exchange: executes the engine's actions and fills resting
//! limit orders when the driver says the price path reached them.
//!
//! Rules (SPEC section 6): market orders fill at once at their reference
//! price (exits with `slippage_bps` against the trader, rounded to the tick
//! in the trader's disfavour); limit orders rest until filled at their own
//! price; cancels of resting orders succeed at once. Fees are charged from
//! the fee schedule (maker for limits, taker for market orders).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::FillModel;
use crate::engine::{Action, ClientOrderId, OrderKind, OrderRole, OrderUpdate, TimeMs, TrackedOrder};
use crate::fees::{FeeCharge, FeeSchedule, Liquidity};
use crate::market::{MarketRules, Rounding};
use crate::OrderSide;

/// A limit order resting on the simulated book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resting {
    /// Client order id.
    pub id: ClientOrderId,
    /// Role in the deal.
    pub role: OrderRole,
    /// Buy or sell.
    pub side: OrderSide,
    /// Limit price.
    pub price: Decimal,
    /// Quantity.
    pub quantity: Decimal,
}

/// One simulated fill, as recorded in backtest results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillRecord {
    /// Candle index.
    pub candle: usize,
    /// Event time.
    pub time: TimeMs,
    /// Deal number.
    pub deal: u32,
    /// Client order id.
    pub client_order_id: ClientOrderId,
    /// Role.
    pub role: OrderRole,
    /// Side.
    pub side: OrderSide,
    /// Fill price.
    pub price: Decimal,
    /// Quantity.
    pub quantity: Decimal,
    /// Fee charged.
    pub fee: FeeCharge,
}

/// The simulated exchange of one bot.
///
/// ```
/// use martingale_core::backtest::SimExchange;
/// use martingale_core::config::FillModel;
/// use martingale_core::engine::{Action, ClientOrderId, OrderKind, OrderRequest, OrderRole, OrderUpdate};
/// use martingale_core::fees::FeeSchedule;
/// use martingale_core::{MarketRules, OrderSide};
/// use rust_decimal_macros::dec;
/// let mut sim = SimExchange::new(MarketRules::new(dec!(0.01), dec!(0.001), dec!(0), dec!(0)), FeeSchedule::ZERO, FillModel::default());
/// let order = OrderRequest { client_order_id: ClientOrderId::from_raw("b-1-s1-1"), role: OrderRole::Safety(1),
///     side: OrderSide::Buy, kind: OrderKind::Limit { price: dec!(98) }, quantity: dec!(1) };
/// let mut updates = Vec::new();
/// sim.execute(&[Action::Place(order)], &mut updates);
/// assert!(matches!(updates[0], OrderUpdate::Accepted { .. }));
/// assert!(matches!(sim.fill_resting(0), Some(OrderUpdate::Fill { price, .. }) if price == dec!(98)));
/// ```
#[derive(Debug, Clone)]
pub struct SimExchange {
    rules: MarketRules,
    fees: FeeSchedule,
    fill: FillModel,
    resting: Vec<Resting>,
    acknowledge: bool,
}

impl SimExchange {
    /// An empty book.
    pub fn new(rules: MarketRules, fees: FeeSchedule, fill: FillModel) -> Self {
        SimExchange { rules, fees, fill, resting: Vec::new(), acknowledge: true }
    }

    /// Whether a limit order that comes to rest is reported `Accepted` (on
    /// by default, as an exchange does). The engine treats a sent order as
    /// live, so the acknowledgment changes no decision; a backtest turns it
    /// off and saves a third of its order reports.
    pub fn acknowledge(mut self, on: bool) -> Self {
        self.acknowledge = on;
        self
    }

    /// Rests every live limit order of `orders` (the engine's view of its
    /// book), for a simulation that resumes from a snapshot.
    pub fn restore(&mut self, orders: &[TrackedOrder]) {
        for o in orders.iter().filter(|o| o.state.is_live()) {
            if let OrderKind::Limit { price } = o.request.kind {
                self.resting.push(Resting {
                    id: o.request.client_order_id.clone(),
                    role: o.request.role,
                    side: o.request.side,
                    price,
                    quantity: o.request.quantity - o.filled,
                });
            }
        }
    }

    /// Orders resting now, in placement order.
    pub fn resting(&self) -> &[Resting] {
        &self.resting
    }

    /// Price a market order fills at: its reference price, exits moved
    /// against the trader by the slippage.
    pub fn market_price(&self, role: OrderRole, side: OrderSide, reference: Decimal) -> Decimal {
        let exit = matches!(
            role,
            OrderRole::StopLoss
                | OrderRole::Trailing
                | OrderRole::CloseNow
                | OrderRole::Residual
                | OrderRole::TimeLimit
        );
        if !exit || self.fill.slippage_bps.is_zero() {
            return reference;
        }
        let bps = self.fill.slippage_bps / Decimal::from(10_000);
        match side {
            OrderSide::Buy => self.rules.round_price(reference * (Decimal::ONE + bps), Rounding::Up),
            OrderSide::Sell => self.rules.round_price(reference * (Decimal::ONE - bps), Rounding::Down),
        }
    }

    /// Executes actions; returns the exchange's reports in order, each with
    /// the fill's fee.
    pub fn execute(&mut self, actions: &[Action], out: &mut Vec<OrderUpdate>) {
        for action in actions {
            match action {
                Action::Place(o) => match o.kind {
                    OrderKind::Market { reference_price } => {
                        let price = self.market_price(o.role, o.side, reference_price);
                        let fee = self.fees.charge(o.side, Liquidity::Taker, price, o.quantity);
                        out.push(OrderUpdate::Fill {
                            client_order_id: o.client_order_id.clone(),
                            cumulative_qty: o.quantity,
                            price,
                            fee: Some(fee),
                        });
                    }
                    OrderKind::Limit { price } => {
                        self.resting.push(Resting {
                            id: o.client_order_id.clone(),
                            role: o.role,
                            side: o.side,
                            price,
                            quantity: o.quantity,
                        });
                        if self.acknowledge {
                            out.push(OrderUpdate::Accepted { client_order_id: o.client_order_id.clone() });
                        }
                    }
                },
                Action::Cancel { client_order_id } => {
                    if let Some(i) = self.resting.iter().position(|r| &r.id == client_order_id) {
                        self.resting.remove(i);
                        out.push(OrderUpdate::Canceled { client_order_id: client_order_id.clone() });
                    }
                }
            }
        }
    }

    /// Fills resting order `index` completely at its price.
    pub fn fill_resting(&mut self, index: usize) -> Option<OrderUpdate> {
        if index >= self.resting.len() {
            return None;
        }
        let r = self.resting.remove(index);
        let fee = self.fees.charge(r.side, Liquidity::Maker, r.price, r.quantity);
        Some(OrderUpdate::Fill { client_order_id: r.id, cumulative_qty: r.quantity, price: r.price, fee: Some(fee) })
    }
}
