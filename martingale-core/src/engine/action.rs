//! What the engine asks the outside world to do.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::ids::{ClientOrderId, OrderRole};
use crate::OrderSide;

/// Market or limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OrderKind {
    /// Fill now at the market. `reference_price` is the price the engine saw
    /// when it decided (a simulator fills there, plus slippage).
    Market {
        /// Price at decision time.
        reference_price: Decimal,
    },
    /// Rest at `price` (good till canceled).
    Limit {
        /// Limit price on the tick grid.
        price: Decimal,
    },
}

/// A new order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// Deterministic client order id.
    pub client_order_id: ClientOrderId,
    /// What the order is for.
    pub role: OrderRole,
    /// Buy or sell.
    pub side: OrderSide,
    /// Market or limit.
    pub kind: OrderKind,
    /// Quantity in base currency, on the step grid.
    pub quantity: Decimal,
}

/// An instruction for the exchange side.
///
/// ```
/// use martingale_core::engine::{Action, ClientOrderId};
/// let a = Action::Cancel { client_order_id: ClientOrderId::from_raw("bot-1-tp-6") };
/// assert_eq!(serde_json::to_string(&a).unwrap(),
///            r#"{"action":"cancel","client_order_id":"bot-1-tp-6"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Place an order.
    Place(OrderRequest),
    /// Cancel an order.
    Cancel {
        /// The order.
        client_order_id: ClientOrderId,
    },
}
