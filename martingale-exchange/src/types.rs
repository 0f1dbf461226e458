//! What the exchange trait exchanges: orders as the venue sees them, fills
//! and balances.

use martingale_core::engine::{ClientOrderId, OrderUpdate, TimeMs};
use martingale_core::OrderSide;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::ExchangeError;

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
    /// Average fill price so far (none before a fill, or when the
    /// division overflows: adapters refuse such a report).
    pub fn average_price(&self) -> Option<Decimal> {
        if self.filled > Decimal::ZERO {
            self.filled_quote.checked_div(self.filled)
        } else {
            None
        }
    }

    /// The engine reports this state implies, given what the engine was
    /// already told about this order (`known_filled` quantity worth
    /// `known_quote`): one fill for the new part, priced exactly at
    /// `(filled_quote - known_quote) / (filled - known_filled)`, then the
    /// final status if any. Feeding the same state twice yields no new fill.
    /// A new part whose price cannot be computed (the division overflows,
    /// e.g. 7.9e28 quote for 1e-28 filled) is [`ExchangeError::Malformed`],
    /// never a panic.
    ///
    /// ```
    /// use martingale_exchange::{OrderInfo, OrderStatus};
    /// use martingale_core::engine::{ClientOrderId, OrderUpdate};
    /// use martingale_core::OrderSide;
    /// use rust_decimal_macros::dec;
    /// let info = OrderInfo { client_order_id: ClientOrderId::from_raw("b-1-s1-1"), status: OrderStatus::PartiallyFilled,
    ///     side: OrderSide::Buy, price: Some(dec!(100)), quantity: dec!(3), filled: dec!(2), filled_quote: dec!(199), updated_at: 0 };
    /// // The engine knew 1 filled at 100: the new unit cost 99.
    /// let u = info.updates(dec!(1), dec!(100)).unwrap();
    /// assert_eq!(u, vec![OrderUpdate::Fill { client_order_id: info.client_order_id.clone(),
    ///     cumulative_qty: dec!(2), price: dec!(99), fee: None }]);
    /// assert!(info.updates(dec!(2), dec!(199)).unwrap().is_empty());
    /// ```
    pub fn updates(&self, known_filled: Decimal, known_quote: Decimal) -> Result<Vec<OrderUpdate>, ExchangeError> {
        let id = self.client_order_id.clone();
        let mut out = Vec::new();
        if self.filled > known_filled {
            let price = self
                .filled_quote
                .checked_sub(known_quote)
                .zip(self.filled.checked_sub(known_filled))
                .and_then(|(quote, qty)| quote.checked_div(qty))
                .ok_or_else(|| {
                    ExchangeError::Malformed(format!(
                        "order {id}: no representable fill price for {} executed worth {} (known {} worth {})",
                        self.filled, self.filled_quote, known_filled, known_quote
                    ))
                })?;
            out.push(OrderUpdate::Fill { client_order_id: id.clone(), cumulative_qty: self.filled, price, fee: None });
        }
        match self.status {
            OrderStatus::Canceled => out.push(OrderUpdate::Canceled { client_order_id: id }),
            OrderStatus::Expired => out.push(OrderUpdate::Expired { client_order_id: id }),
            OrderStatus::Rejected => out.push(OrderUpdate::Rejected { client_order_id: id, reason: "rejected".into() }),
            OrderStatus::New | OrderStatus::PartiallyFilled | OrderStatus::Filled => {}
        }
        Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn an_overflowing_fill_price_is_a_typed_error_not_a_panic() {
        // Issue 13: executedQty 1e-28 worth 7.9e28 panicked in the division.
        let info = OrderInfo {
            client_order_id: ClientOrderId::from_raw("b-1-s1-1"),
            status: OrderStatus::Filled,
            side: OrderSide::Buy,
            price: None,
            quantity: dec!(1),
            filled: Decimal::new(1, 28),
            filled_quote: Decimal::MAX,
            updated_at: 0,
        };
        assert!(matches!(info.updates(Decimal::ZERO, Decimal::ZERO), Err(ExchangeError::Malformed(_))));
        assert_eq!(info.average_price(), None);
        // The part since the last known state, too.
        let info = OrderInfo { filled: dec!(1), ..info };
        let known = dec!(1) - Decimal::new(1, 28);
        assert!(matches!(info.updates(known, Decimal::ZERO), Err(ExchangeError::Malformed(_))));
    }
}
