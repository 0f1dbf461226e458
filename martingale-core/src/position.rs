//! Position accounting of one deal.
//!
//! Entries build the position (buys for a long, sells for a short), exits
//! reduce it. All amounts are exact decimals:
//! - `average_price = entry_value / entry_qty` over every entry fill of the
//!   deal (gross quantities, before any base-asset fee);
//! - `open_qty` is what the account really holds (or owes, for a short):
//!   entries, minus base-asset fees withheld, minus exits;
//! - realized P&L `= exit_value - entry_value - quote_fees` for a long, the
//!   mirror for a short: base-asset fees are already inside the smaller
//!   `open_qty`, so they are not subtracted twice;
//! - whatever cannot be sold because it is below the step size is dust,
//!   reported by [`Position::dust`], never silently dropped.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::fees::FeeCharge;
use crate::Side;

/// Largest running total a position keeps (10^28): three such totals still
/// add up inside `Decimal`'s range (~7.9 * 10^28), so the P&L formulas
/// cannot overflow.
pub const MAX_TOTAL: Decimal = Decimal::from_parts(268_435_456, 1_042_612_833, 542_101_086, false, 0);

/// A fill would take a position's running totals above [`MAX_TOTAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the fill takes the position's running totals above 10^28")]
pub struct PositionOverflow;

/// Running totals of one deal's fills.
///
/// ```
/// use martingale_core::position::Position;
/// use martingale_core::fees::FeeCharge;
/// use martingale_core::Side;
/// use rust_decimal_macros::dec;
///
/// let mut p = Position::new(Side::Long);
/// p.apply_entry(dec!(100), dec!(1), FeeCharge::Quote(dec!(0.1)));
/// p.apply_entry(dec!(90), dec!(1), FeeCharge::Quote(dec!(0.09)));
/// assert_eq!(p.average_price(), Some(dec!(95)));
/// assert_eq!(p.unrealized_pnl(dec!(100)), dec!(9.81));
/// p.apply_exit(dec!(100), dec!(2), FeeCharge::Quote(dec!(0.2)));
/// assert_eq!(p.open_qty(), dec!(0));
/// assert_eq!(p.realized_pnl(), dec!(9.61));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    side: Side,
    entry_qty: Decimal,
    entry_value: Decimal,
    exit_qty: Decimal,
    exit_value: Decimal,
    quote_fees: Decimal,
    base_fees: Decimal,
    entry_fills: u32,
    min_entry_price: Option<Decimal>,
    max_entry_price: Option<Decimal>,
}

impl Position {
    /// An empty position.
    pub fn new(side: Side) -> Self {
        Position {
            side,
            entry_qty: Decimal::ZERO,
            entry_value: Decimal::ZERO,
            exit_qty: Decimal::ZERO,
            exit_value: Decimal::ZERO,
            quote_fees: Decimal::ZERO,
            base_fees: Decimal::ZERO,
            entry_fills: 0,
            min_entry_price: None,
            max_entry_price: None,
        }
    }

    /// Record an entry fill of `qty` at `price` paying `fee`.
    ///
    /// Overflow is impossible for the amounts the engine accepts (see
    /// [`crate::engine::MAX_AMOUNT`]); for anything else use
    /// [`Position::try_apply_entry`]. On overflow the totals saturate.
    pub fn apply_entry(&mut self, price: Decimal, qty: Decimal, fee: FeeCharge) {
        if self.try_apply_entry(price, qty, fee).is_err() {
            self.entry_qty = self.entry_qty.saturating_add(qty);
            self.entry_value = self.entry_value.saturating_add(price.saturating_mul(qty));
            self.entry_fills = self.entry_fills.saturating_add(1);
        }
    }

    /// Record an exit fill of `qty` at `price` paying `fee` (saturating on
    /// overflow, like [`Position::apply_entry`]).
    pub fn apply_exit(&mut self, price: Decimal, qty: Decimal, fee: FeeCharge) {
        if self.try_apply_exit(price, qty, fee).is_err() {
            self.exit_qty = self.exit_qty.saturating_add(qty);
            self.exit_value = self.exit_value.saturating_add(price.saturating_mul(qty));
        }
    }

    /// [`Position::apply_entry`] with checked arithmetic: on overflow the
    /// position is unchanged.
    ///
    /// ```
    /// use martingale_core::position::Position;
    /// use martingale_core::fees::FeeCharge;
    /// use martingale_core::Side;
    /// use rust_decimal::Decimal;
    /// let mut p = Position::new(Side::Long);
    /// let before = p.clone();
    /// assert!(p.try_apply_entry(Decimal::MAX, Decimal::TWO, FeeCharge::Quote(Decimal::ZERO)).is_err());
    /// assert_eq!(p, before);
    /// ```
    pub fn try_apply_entry(&mut self, price: Decimal, qty: Decimal, fee: FeeCharge) -> Result<(), PositionOverflow> {
        let entry_qty = bounded(self.entry_qty.checked_add(qty))?;
        let entry_value = bounded(price.checked_mul(qty).and_then(|v| self.entry_value.checked_add(v)))?;
        let (quote_fees, base_fees) = self.fees_after(fee)?;
        self.entry_qty = entry_qty;
        self.entry_value = entry_value;
        self.quote_fees = quote_fees;
        self.base_fees = base_fees;
        self.entry_fills = self.entry_fills.saturating_add(1);
        self.min_entry_price = Some(self.min_entry_price.map_or(price, |m| m.min(price)));
        self.max_entry_price = Some(self.max_entry_price.map_or(price, |m| m.max(price)));
        Ok(())
    }

    /// [`Position::apply_exit`] with checked arithmetic: on overflow the
    /// position is unchanged.
    pub fn try_apply_exit(&mut self, price: Decimal, qty: Decimal, fee: FeeCharge) -> Result<(), PositionOverflow> {
        let exit_qty = bounded(self.exit_qty.checked_add(qty))?;
        let exit_value = bounded(price.checked_mul(qty).and_then(|v| self.exit_value.checked_add(v)))?;
        let (quote_fees, base_fees) = self.fees_after(fee)?;
        self.exit_qty = exit_qty;
        self.exit_value = exit_value;
        self.quote_fees = quote_fees;
        self.base_fees = base_fees;
        Ok(())
    }

    fn fees_after(&self, fee: FeeCharge) -> Result<(Decimal, Decimal), PositionOverflow> {
        Ok(match fee {
            FeeCharge::Quote(f) => (bounded(self.quote_fees.checked_add(f))?, self.base_fees),
            FeeCharge::Base(f) => (self.quote_fees, bounded(self.base_fees.checked_add(f))?),
        })
    }

    /// Checks a restored position: every total in `[0, MAX_TOTAL]`, entry
    /// prices positive; returns the first field out of bounds.
    pub fn check_bounds(&self) -> Result<(), (&'static str, Decimal)> {
        let totals = [
            ("position.entry_qty", self.entry_qty),
            ("position.entry_value", self.entry_value),
            ("position.exit_qty", self.exit_qty),
            ("position.exit_value", self.exit_value),
            ("position.quote_fees", self.quote_fees),
            ("position.base_fees", self.base_fees),
        ];
        for (field, v) in totals {
            if v < Decimal::ZERO || v > MAX_TOTAL {
                return Err((field, v));
            }
        }
        for (field, p) in
            [("position.min_entry_price", self.min_entry_price), ("position.max_entry_price", self.max_entry_price)]
        {
            if let Some(p) = p.filter(|p| *p <= Decimal::ZERO || *p > MAX_TOTAL) {
                return Err((field, p));
            }
        }
        Ok(())
    }

    /// Deal side.
    pub fn side(&self) -> Side {
        self.side
    }

    /// Quantity held (long) or owed (short) now.
    pub fn open_qty(&self) -> Decimal {
        self.entry_qty - self.base_fees - self.exit_qty
    }

    /// Sum of entry quantities (gross).
    pub fn entry_qty(&self) -> Decimal {
        self.entry_qty
    }

    /// Sum of entry `price * qty`: the quote committed (long) or received (short).
    pub fn entry_value(&self) -> Decimal {
        self.entry_value
    }

    /// Sum of exit quantities.
    pub fn exit_qty(&self) -> Decimal {
        self.exit_qty
    }

    /// Sum of exit `price * qty`.
    pub fn exit_value(&self) -> Decimal {
        self.exit_value
    }

    /// Fees paid in quote.
    pub fn quote_fees(&self) -> Decimal {
        self.quote_fees
    }

    /// Fees withheld in base.
    pub fn base_fees(&self) -> Decimal {
        self.base_fees
    }

    /// Number of entry fills (partial fills count one each).
    pub fn entry_fills(&self) -> u32 {
        self.entry_fills
    }

    /// Lowest and highest entry fill price.
    pub fn entry_price_range(&self) -> Option<(Decimal, Decimal)> {
        Some((self.min_entry_price?, self.max_entry_price?))
    }

    /// Exact average entry price; `None` before the first entry.
    pub fn average_price(&self) -> Option<Decimal> {
        if self.entry_qty.is_zero() {
            None
        } else {
            self.entry_value.checked_div(self.entry_qty)
        }
    }

    /// Average exit price; `None` before the first exit.
    pub fn average_exit_price(&self) -> Option<Decimal> {
        if self.exit_qty.is_zero() {
            None
        } else {
            self.exit_value.checked_div(self.exit_qty)
        }
    }

    /// Quote still invested in the position: entry value minus exit value for
    /// a long (the mirror for a short).
    pub fn net_cost(&self) -> Decimal {
        match self.side {
            Side::Long => self.entry_value - self.exit_value,
            Side::Short => self.entry_value - self.exit_value,
        }
    }

    /// P&L booked so far: what closing nothing more would give.
    pub fn realized_pnl(&self) -> Decimal {
        match self.side {
            Side::Long => self.exit_value - self.entry_value - self.quote_fees,
            Side::Short => self.entry_value - self.exit_value - self.quote_fees,
        }
    }

    /// Deal P&L if the open quantity were closed at `mark` (no exit fee).
    pub fn unrealized_pnl(&self, mark: Decimal) -> Decimal {
        // Saturating: `mark` comes from outside and may be absurd.
        let open_value = self.open_qty().saturating_mul(mark);
        match self.side {
            Side::Long => self.realized_pnl().saturating_add(open_value),
            Side::Short => self.realized_pnl().saturating_sub(open_value),
        }
    }

    /// Price at which closing the open quantity gives zero P&L including the
    /// fees already paid (not the exit fee); `None` when nothing is open.
    pub fn break_even_price(&self) -> Option<Decimal> {
        let open = self.open_qty();
        if open <= Decimal::ZERO {
            return None;
        }
        (-self.realized_pnl()).checked_div(open).map(|p| match self.side {
            Side::Long => p,
            Side::Short => -p,
        })
    }

    /// The part of the open quantity below `step`: what an exit truncated to
    /// the step grid cannot sell.
    pub fn dust(&self, step: Decimal) -> Decimal {
        let open = self.open_qty();
        open - crate::market::round_to(open, step, crate::market::Rounding::Down)
    }
}

/// A running total, refused above [`MAX_TOTAL`] or on overflow.
fn bounded(total: Option<Decimal>) -> Result<Decimal, PositionOverflow> {
    total.filter(|t| *t <= MAX_TOTAL).ok_or(PositionOverflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn short_mirror() {
        let mut p = Position::new(Side::Short);
        p.apply_entry(dec!(100), dec!(1), FeeCharge::Quote(dec!(0)));
        p.apply_entry(dec!(110), dec!(1), FeeCharge::Quote(dec!(0)));
        assert_eq!(p.average_price(), Some(dec!(105)));
        assert_eq!(p.unrealized_pnl(dec!(100)), dec!(10));
        assert_eq!(p.break_even_price(), Some(dec!(105)));
        p.apply_exit(dec!(100), dec!(2), FeeCharge::Quote(dec!(1)));
        assert_eq!(p.realized_pnl(), dec!(9));
    }

    #[test]
    fn base_fees_shrink_holding_and_leave_dust() {
        let mut p = Position::new(Side::Long);
        p.apply_entry(dec!(100), dec!(1), FeeCharge::Base(dec!(0.001)));
        assert_eq!(p.open_qty(), dec!(0.999));
        assert_eq!(p.break_even_price().map(|b| b.round_dp(6)), Some(dec!(100.100100)));
        assert_eq!(p.dust(dec!(0.01)), dec!(0.009));
        p.apply_exit(dec!(110), dec!(0.99), FeeCharge::Quote(dec!(0)));
        assert_eq!(p.open_qty(), dec!(0.009));
        assert_eq!(p.realized_pnl(), dec!(8.9));
    }
}
