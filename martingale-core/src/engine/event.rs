//! What the engine reacts to.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::ids::ClientOrderId;
use crate::config::{BotFile, OrderSize};
use crate::fees::FeeCharge;

pub use crate::TimeMs;

/// A candle: open time and OHLC prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candle {
    /// Open time.
    pub time: TimeMs,
    /// Open price.
    pub open: Decimal,
    /// High price.
    pub high: Decimal,
    /// Low price.
    pub low: Decimal,
    /// Close price.
    pub close: Decimal,
}

/// A report about one of the engine's orders, from the exchange.
///
/// ```
/// use martingale_core::engine::{ClientOrderId, OrderUpdate};
/// use rust_decimal_macros::dec;
/// let u: OrderUpdate = serde_json::from_str(
///     r#"{"status": "fill", "client_order_id": "bot-1-s1-1", "cumulative_qty": "0.5", "price": "98"}"#).unwrap();
/// assert_eq!(u, OrderUpdate::Fill { client_order_id: ClientOrderId::from_raw("bot-1-s1-1"),
///     cumulative_qty: dec!(0.5), price: dec!(98), fee: None });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum OrderUpdate {
    /// The exchange accepted the order.
    Accepted {
        /// The order.
        client_order_id: ClientOrderId,
    },
    /// A (partial or complete) fill. `cumulative_qty` is the total filled so
    /// far; a report with the same or a lower total than already recorded is
    /// a duplicate or stale and changes nothing.
    Fill {
        /// The order.
        client_order_id: ClientOrderId,
        /// Total quantity filled so far.
        cumulative_qty: Decimal,
        /// Price of the newly filled part.
        price: Decimal,
        /// Fee charged for the newly filled part; `None` computes it from the
        /// fee schedule.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fee: Option<FeeCharge>,
    },
    /// The order was canceled (by request or by the exchange).
    Canceled {
        /// The order.
        client_order_id: ClientOrderId,
    },
    /// The exchange refused the order.
    Rejected {
        /// The order.
        client_order_id: ClientOrderId,
        /// The exchange's reason.
        reason: String,
    },
    /// The order expired.
    Expired {
        /// The order.
        client_order_id: ClientOrderId,
    },
}

impl OrderUpdate {
    /// The order the update is about.
    pub fn client_order_id(&self) -> &ClientOrderId {
        match self {
            OrderUpdate::Accepted { client_order_id }
            | OrderUpdate::Fill { client_order_id, .. }
            | OrderUpdate::Canceled { client_order_id }
            | OrderUpdate::Rejected { client_order_id, .. }
            | OrderUpdate::Expired { client_order_id } => client_order_id,
        }
    }
}

/// An operator's command.
///
/// ```
/// use martingale_core::engine::Command;
/// let c: Command = serde_json::from_str(r#"{"command": "stop", "cancel_orders": true}"#).unwrap();
/// assert_eq!(c, Command::Stop { cancel_orders: true });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Start (or restart after a stop) opening deals.
    Start,
    /// No new deals; the open deal keeps running.
    Pause,
    /// Undo a pause.
    Resume,
    /// No new deals; optionally cancel the open deal's resting orders (the
    /// position stays, unmanaged, until `close_now` or `start`). On a bot
    /// already stopped with its orders kept, `stop { cancel_orders: true }`
    /// cancels them (one command; `cancel_orders: false` is refused).
    Stop {
        /// Cancel resting orders.
        cancel_orders: bool,
    },
    /// Exit the open deal by market now.
    CloseNow,
    /// A manual safety order by market.
    AddFunds {
        /// Its size.
        size: OrderSize,
    },
    /// New settings from a whole bot file: what may change mid-deal applies
    /// at once, the ladder from the next deal, a change of side, market or
    /// fees is refused (see the rules in the engine's `reconfigure` docs and
    /// [`super::Engine::plan_reconfigure`]).
    Reconfigure {
        /// The new bot file.
        bot: Box<BotFile>,
    },
}

/// Every input of the engine.
///
/// ```
/// use martingale_core::engine::Event;
/// use rust_decimal_macros::dec;
/// let e: Event = serde_json::from_str(r#"{"type": "tick", "time": 1000, "price": "43250.17"}"#).unwrap();
/// assert_eq!(e, Event::Tick { time: 1000, price: dec!(43250.17) });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A market price at a time.
    Tick {
        /// Time of the price.
        time: TimeMs,
        /// Last traded (or mark) price.
        price: Decimal,
    },
    /// A completed candle, used as a coarse price feed: its open, extremes
    /// (adaptive order) and close are handled as ticks at its open time.
    Candle(Candle),
    /// An order report from the exchange.
    Order {
        /// Time of the report.
        time: TimeMs,
        /// The report.
        update: OrderUpdate,
    },
    /// An operator command.
    Command {
        /// Time of the command.
        time: TimeMs,
        /// The command.
        command: Command,
    },
    /// An external entry signal (with `start_condition = signal`): the next
    /// tick may open a deal.
    Signal {
        /// Time of the signal.
        time: TimeMs,
    },
}
