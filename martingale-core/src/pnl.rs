//! P&L: what one closed deal booked ([`DealReport`], the one closed-deal
//! type of the engine, the backtest, paper and live runners), what every
//! closed deal of a bot adds up to ([`BotTotals`]), and the open deal
//! marked at a price. This module depends on nothing of the engine's.
//!
//! Identity (tested as a property): for a bot that started with `initial`
//! quote, `cash + open position value + dust value == initial + realized +
//! unrealized + dust value`, where `unrealized` is the open deal's P&L
//! marked at the same price.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::TimeMs;

/// How a deal ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitKind {
    /// Take-profit limit order filled.
    TakeProfit,
    /// Stop loss fired.
    StopLoss,
    /// Trailing take profit exited.
    Trailing,
    /// Closed by command.
    Manual,
    /// The base order never filled (rejected or canceled empty).
    Aborted,
    /// Closed by the time limit (`time_limit`).
    TimeLimit,
}

/// The record of a closed deal.
///
/// ```
/// use martingale_core::pnl::ExitKind;
/// assert_eq!(serde_json::to_string(&ExitKind::TakeProfit).unwrap(), r#""take_profit""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealReport {
    /// Deal number.
    pub number: u32,
    /// Time the base order was sent.
    pub started_at: TimeMs,
    /// Time the deal closed.
    pub closed_at: TimeMs,
    /// How it closed.
    pub exit: ExitKind,
    /// Base order fill price.
    pub entry_price: Option<Decimal>,
    /// Average entry price.
    pub average_price: Option<Decimal>,
    /// Average exit price.
    pub exit_price: Option<Decimal>,
    /// Total entry quantity.
    pub quantity: Decimal,
    /// Entry value: the quote committed (long) or received (short).
    pub cost: Decimal,
    /// Safety orders completely filled.
    pub safety_orders_filled: u32,
    /// Realized P&L in quote, after quote fees.
    pub pnl: Decimal,
    /// Fees paid in quote.
    pub fees_quote: Decimal,
    /// Fees withheld in base.
    pub fees_base: Decimal,
    /// Quantity left below the step size (still held).
    pub dust: Decimal,
}

/// Totals over a bot's closed deals.
///
/// ```
/// use martingale_core::pnl::BotTotals;
/// let t = BotTotals::default();
/// assert_eq!(t.closed_deals, 0);
/// assert_eq!(t.win_rate(), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotTotals {
    /// Deals closed (aborted deals excluded).
    pub closed_deals: u64,
    /// Closed by take profit.
    pub take_profit: u64,
    /// Closed by stop loss.
    pub stop_loss: u64,
    /// Closed by trailing take profit.
    pub trailing: u64,
    /// Closed by command.
    pub manual: u64,
    /// Closed by the time limit.
    #[serde(default)]
    pub time_limit: u64,
    /// Deals whose base order never filled.
    pub aborted: u64,
    /// Deals with positive P&L.
    pub wins: u64,
    /// Realized P&L, quote.
    pub realized_pnl: Decimal,
    /// Sum of winning deals' P&L.
    pub gross_profit: Decimal,
    /// Sum of losing deals' P&L (negative or zero).
    pub gross_loss: Decimal,
    /// Fees paid in quote.
    pub fees_quote: Decimal,
    /// Fees withheld in base.
    pub fees_base: Decimal,
    /// Dust left over by closed deals, base.
    pub dust: Decimal,
}

impl BotTotals {
    /// Adds a closed deal.
    pub fn record(&mut self, deal: &DealReport) {
        match deal.exit {
            ExitKind::Aborted => {
                self.aborted = self.aborted.saturating_add(1);
                return;
            }
            ExitKind::TakeProfit => self.take_profit = self.take_profit.saturating_add(1),
            ExitKind::StopLoss => self.stop_loss = self.stop_loss.saturating_add(1),
            ExitKind::Trailing => self.trailing = self.trailing.saturating_add(1),
            ExitKind::Manual => self.manual = self.manual.saturating_add(1),
            ExitKind::TimeLimit => self.time_limit = self.time_limit.saturating_add(1),
        }
        // Saturating: a deal's amounts are bounded by the engine, but a
        // report may come from anywhere.
        self.closed_deals = self.closed_deals.saturating_add(1);
        self.realized_pnl = self.realized_pnl.saturating_add(deal.pnl);
        if deal.pnl > Decimal::ZERO {
            self.wins = self.wins.saturating_add(1);
            self.gross_profit = self.gross_profit.saturating_add(deal.pnl);
        } else {
            self.gross_loss = self.gross_loss.saturating_add(deal.pnl);
        }
        self.fees_quote = self.fees_quote.saturating_add(deal.fees_quote);
        self.fees_base = self.fees_base.saturating_add(deal.fees_base);
        self.dust = self.dust.saturating_add(deal.dust);
    }

    /// Share of closed deals with positive P&L, in `[0, 1]`.
    pub fn win_rate(&self) -> Option<Decimal> {
        (self.closed_deals > 0).then(|| Decimal::from(self.wins) / Decimal::from(self.closed_deals))
    }

    /// Gross profit over gross loss; `None` without losses.
    pub fn profit_factor(&self) -> Option<Decimal> {
        if self.gross_loss < Decimal::ZERO {
            self.gross_profit.checked_div(-self.gross_loss)
        } else {
            None
        }
    }
}
