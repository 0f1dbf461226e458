//! Trading fees of an account on a market.
//!
//! A fill pays `price * quantity * rate`: the maker rate for resting limit
//! orders (safety orders, take profit), the taker rate for market orders (base
//! order, stops, trailing exits, manual orders). With [`FeeAsset::Base`] a
//! buy's fee is withheld from the bought quantity, as Binance does without the
//! BNB discount; sells always pay in quote (the asset received).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::OrderSide;

/// Which asset fees are paid in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeeAsset {
    /// Fees are paid in the quote currency.
    #[default]
    Quote,
    /// A buy's fee is taken from the bought base quantity.
    Base,
}

/// Whether a fill added or removed liquidity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Liquidity {
    /// Resting limit order.
    Maker,
    /// Market or stop order.
    Taker,
}

/// A fee charged on one fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "asset", content = "amount", rename_all = "snake_case")]
pub enum FeeCharge {
    /// Amount of quote currency.
    Quote(Decimal),
    /// Amount of base currency (withheld from a buy).
    Base(Decimal),
}

/// Invalid fee rate.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("fee rate `{field}` = {value} must be in [0, 1)")]
pub struct InvalidFees {
    /// `maker` or `taker`.
    pub field: &'static str,
    /// The value.
    pub value: Decimal,
}

/// Maker / taker rates (fractions: `0.001` is 0.1 %) and the fee asset.
///
/// ```
/// use martingale_core::fees::{FeeAsset, FeeCharge, FeeSchedule, Liquidity};
/// use martingale_core::OrderSide;
/// use rust_decimal_macros::dec;
///
/// let fees = FeeSchedule { maker: dec!(0.001), taker: dec!(0.001), asset: FeeAsset::Base };
/// // A buy pays in base: 0.1 % of the quantity.
/// assert_eq!(fees.charge(OrderSide::Buy, Liquidity::Maker, dec!(20000), dec!(0.5)), FeeCharge::Base(dec!(0.0005)));
/// // A sell always pays in quote.
/// assert_eq!(fees.charge(OrderSide::Sell, Liquidity::Taker, dec!(20000), dec!(0.5)), FeeCharge::Quote(dec!(10)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeSchedule {
    /// Rate for resting limit orders.
    pub maker: Decimal,
    /// Rate for market and stop orders.
    pub taker: Decimal,
    /// Asset the fee is paid in.
    #[serde(default)]
    pub asset: FeeAsset,
}

impl FeeSchedule {
    /// No fees.
    pub const ZERO: FeeSchedule = FeeSchedule { maker: Decimal::ZERO, taker: Decimal::ZERO, asset: FeeAsset::Quote };

    /// Checks both rates are in `[0, 1)`.
    pub fn validate(&self) -> Result<(), InvalidFees> {
        for (field, value) in [("maker", self.maker), ("taker", self.taker)] {
            if value < Decimal::ZERO || value >= Decimal::ONE {
                return Err(InvalidFees { field, value });
            }
        }
        Ok(())
    }

    /// The rate for a fill of this liquidity.
    pub fn rate(&self, liquidity: Liquidity) -> Decimal {
        match liquidity {
            Liquidity::Maker => self.maker,
            Liquidity::Taker => self.taker,
        }
    }

    /// The fee of one fill, in the asset it is paid in. Saturating: for
    /// absurd amounts (beyond `Decimal`'s range) the fee saturates instead
    /// of panicking; the engine refuses such fills before charging them.
    pub fn charge(&self, side: OrderSide, liquidity: Liquidity, price: Decimal, qty: Decimal) -> FeeCharge {
        let rate = self.rate(liquidity);
        match (self.asset, side) {
            (FeeAsset::Base, OrderSide::Buy) => FeeCharge::Base(qty.saturating_mul(rate)),
            _ => FeeCharge::Quote(price.saturating_mul(qty).saturating_mul(rate)),
        }
    }
}
