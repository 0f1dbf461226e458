//! What the exchange trait exchanges: orders as the venue sees them, fills
//! and balances.

use martingale_core::engine::{ClientOrderId, OrderUpdate, TimeMs};
use martingale_core::OrderSide;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Life of an order on the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Accepted, nothing filled.
    New,
    /// Partly filled, still working.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Canceled (possibly after partial fills).
    Canceled,
    /// Refused.
    Rejected,
    /// Expired.
    Expired,
}

impl OrderStatus {
    /// True once the order can no longer fill.
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Filled | OrderStatus::Canceled | OrderStatus::Rejected | OrderStatus::Expired)
    }
}

/// An order as the venue reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderInfo {
    /// Our client order id.
    pub client_order_id: ClientOrderId,
    /// Status.
    pub status: OrderStatus,
    /// Side.
    pub side: OrderSide,
    /// Limit price (none for market orders).
    pub price: Option<Decimal>,
    /// Ordered quantity.
    pub quantity: Decimal,
    /// Filled so far.
    pub filled: Decimal,
    /// Quote value filled so far (sum of price * quantity of its trades).
    pub filled_quote: Decimal,
    /// Last update time.
    pub updated_at: TimeMs,
}

impl OrderInfo {
    /// Average fill price so far.
    pub fn average_price(&self) -> Option<Decimal> {
        (self.filled > Decimal::ZERO).then(|| self.filled_quote / self.filled)
    }

    /// The engine reports this state implies, given what the engine was
    /// already told about this order (`known_filled` quantity worth
    /// `known_quote`): one fill for the new part, priced exactly at
    /// `(filled_quote - known_quote) / (filled - known_filled)`, then the
    /// final status if any. Feeding the same state twice yields no new fill.
    ///
    /// ```
    /// use martingale_exchange::{OrderInfo, OrderStatus};
    /// use martingale_core::engine::{ClientOrderId, OrderUpdate};
    /// use martingale_core::OrderSide;
    /// use rust_decimal_macros::dec;
    /// let info = OrderInfo { client_order_id: ClientOrderId::from_raw("b-1-s1-1"), status: OrderStatus::PartiallyFilled,
    ///     side: OrderSide::Buy, price: Some(dec!(100)), quantity: dec!(3), filled: dec!(2), filled_quote: dec!(199), updated_at: 0 };
    /// // The engine knew 1 filled at 100: the new unit cost 99.
    /// let u = info.updates(dec!(1), dec!(100));
    /// assert_eq!(u, vec![OrderUpdate::Fill { client_order_id: info.client_order_id.clone(),
    ///     cumulative_qty: dec!(2), price: dec!(99), fee: None }]);
    /// assert!(info.updates(dec!(2), dec!(199)).is_empty());
    /// ```
    pub fn updates(&self, known_filled: Decimal, known_quote: Decimal) -> Vec<OrderUpdate> {
        let id = self.client_order_id.clone();
        let mut out = Vec::new();
        if self.filled > known_filled {
            let price = (self.filled_quote - known_quote) / (self.filled - known_filled);
            out.push(OrderUpdate::Fill { client_order_id: id.clone(), cumulative_qty: self.filled, price, fee: None });
        }
        match self.status {
            OrderStatus::Canceled => out.push(OrderUpdate::Canceled { client_order_id: id }),
            OrderStatus::Expired => out.push(OrderUpdate::Expired { client_order_id: id }),
            OrderStatus::Rejected => out.push(OrderUpdate::Rejected { client_order_id: id, reason: "rejected".into() }),
            OrderStatus::New | OrderStatus::PartiallyFilled | OrderStatus::Filled => {}
        }
        out
    }
}

/// One trade of one of our orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// Our client order id.
    pub client_order_id: ClientOrderId,
    /// The venue's trade id.
    pub trade_id: String,
    /// Trade time.
    pub time: TimeMs,
    /// Side.
    pub side: OrderSide,
    /// Price.
    pub price: Decimal,
    /// Quantity.
    pub quantity: Decimal,
    /// Commission amount.
    pub fee: Decimal,
    /// Commission asset (e.g. `USDT`, `BTC`, `BNB`).
    pub fee_asset: String,
}

/// Balance of one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Asset code.
    pub asset: String,
    /// Available.
    pub free: Decimal,
    /// Held by open orders.
    pub locked: Decimal,
}
