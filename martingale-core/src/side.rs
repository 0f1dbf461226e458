//! Deal direction and order side.
//!
//! A deal's [`Side`] (long / short) and an order's [`OrderSide`] (buy / sell)
//! are different concepts and never encoded by a sign: a long deal enters with
//! buys and exits with sells, a short deal the mirror.

use serde::{Deserialize, Serialize};

/// Direction of a deal.
///
/// ```
/// use martingale_core::{OrderSide, Side};
/// assert_eq!(Side::Long.entry(), OrderSide::Buy);
/// assert_eq!(Side::Short.exit(), OrderSide::Buy);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Buy low, sell higher.
    #[default]
    Long,
    /// Sell high, buy back lower.
    Short,
}

impl Side {
    /// The order side that builds the position (base and safety orders).
    pub const fn entry(self) -> OrderSide {
        match self {
            Side::Long => OrderSide::Buy,
            Side::Short => OrderSide::Sell,
        }
    }

    /// The order side that closes the position (take profit, stops).
    pub const fn exit(self) -> OrderSide {
        match self {
            Side::Long => OrderSide::Sell,
            Side::Short => OrderSide::Buy,
        }
    }
}

/// Side of a single order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderSide {
    /// Buy base currency with quote currency.
    Buy,
    /// Sell base currency for quote currency.
    Sell,
}

impl std::fmt::Display for OrderSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OrderSide::Buy => "BUY",
            OrderSide::Sell => "SELL",
        })
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Long => "long",
            Side::Short => "short",
        })
    }
}
