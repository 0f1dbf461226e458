//! Exchange market rules: the price and quantity grid, and order limits.
//!
//! Invariants:
//! - every price the engine sends is a multiple of `tick_size` and every
//!   quantity a multiple of `step_size` (when they are non-zero);
//! - rounding follows SPEC section 2: buy prices down, sell prices up, stop
//!   prices toward the side that triggers later, quantities always down
//!   (exchanges truncate quantities, they never round them up);
//! - a zero `min_qty`, `min_notional`, `tick_size` or `step_size` disables
//!   that rule, as on Binance; `max_qty` is optional.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::OrderSide;

/// Direction to round a value onto a grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Toward negative infinity.
    Down,
    /// Toward positive infinity.
    Up,
}

impl Rounding {
    /// Rounding of a limit price: buys round down, sells round up, so that the
    /// grid never makes the trader pay more or receive less than planned.
    pub const fn for_limit(side: OrderSide) -> Rounding {
        match side {
            OrderSide::Buy => Rounding::Down,
            OrderSide::Sell => Rounding::Up,
        }
    }

    /// Rounding of a stop price: toward the side that triggers later. A long
    /// position's stop (a sell) rounds down, a short position's stop (a buy)
    /// rounds up.
    pub const fn for_stop(exit_side: OrderSide) -> Rounding {
        match exit_side {
            OrderSide::Sell => Rounding::Down,
            OrderSide::Buy => Rounding::Up,
        }
    }
}

/// Round `value` to a multiple of `grid` in direction `dir`; a zero grid
/// leaves the value unchanged.
///
/// ```
/// use martingale_core::market::{round_to, Rounding};
/// use rust_decimal_macros::dec;
/// assert_eq!(round_to(dec!(42601.41745), dec!(0.01), Rounding::Down), dec!(42601.41));
/// assert_eq!(round_to(dec!(42601.41745), dec!(0.01), Rounding::Up), dec!(42601.42));
/// assert_eq!(round_to(dec!(0.0007856509959147719), dec!(0.00001), Rounding::Down), dec!(0.00078));
/// ```
pub fn round_to(value: Decimal, grid: Decimal, dir: Rounding) -> Decimal {
    if grid <= Decimal::ZERO {
        return value;
    }
    if let Some(dp) = power_of_ten_places(grid) {
        // 0.01, 0.00001, ...: round to decimal places, no division needed.
        return round_dp(value, dp, dir);
    }
    let Some(units) = value.checked_div(grid) else {
        return value;
    };
    let units = match dir {
        Rounding::Down => units.floor(),
        Rounding::Up => units.ceil(),
    };
    // `units * grid` keeps the grid's scale: 4260141 * 0.01 = 42601.41.
    units.checked_mul(grid).map_or(value, |v| v.normalize())
}

/// `10^k` for k in 0..=28 (a Decimal's scale never exceeds 28).
const POW10: [i128; 29] = {
    let mut t = [1i128; 29];
    let mut i = 1;
    while i < 29 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// `value` rounded to `dp` decimal places toward -inf (`Down`) or +inf
/// (`Up`), normalized. One integer division on the 96-bit mantissa instead
/// of `round_dp_with_strategy`'s digit-by-digit loop; equal to
/// `round_dp_with_strategy(dp, ToNegativeInfinity / ToPositiveInfinity)
/// .normalize()` (a property test checks it).
fn round_dp(value: Decimal, dp: u32, dir: Rounding) -> Decimal {
    let scale = value.scale();
    if scale <= dp {
        return value.normalize();
    }
    let m = value.mantissa();
    let div = POW10[(scale - dp) as usize];
    let (q, r) = match (i64::try_from(m), i64::try_from(div)) {
        // Prices and sizes fit in 64 bits: one hardware division instead of
        // two 128-bit library calls (same truncating semantics).
        (Ok(m), Ok(div)) => (i128::from(m / div), i128::from(m % div)),
        _ => (m / div, m % div),
    };
    let q = match dir {
        Rounding::Down if r < 0 => q - 1,
        Rounding::Up if r > 0 => q + 1,
        _ => q,
    };
    // |q| <= |m| / 10 + 1 < 2^96: always a valid mantissa.
    Decimal::try_from_i128_with_scale(q, dp).map_or(value, |d| d.normalize())
}

/// `num / den` truncated onto a power-of-ten `step`, computed exactly with
/// one integer division (no 28-digit intermediate quotient), for positive
/// `num` and `den`. `None` when the step is not a power of ten or the
/// integers would overflow; callers then divide in `Decimal`.
///
/// It can differ from `round_qty(num / den)` only when the exact quotient
/// lies within `10^-28` (relative) below a step boundary, where the Decimal
/// quotient rounds up across it; this one is the exact floor.
pub(crate) fn div_floor_to_step(num: Decimal, den: Decimal, step: Decimal) -> Option<Decimal> {
    if !(is_positive(num) && is_positive(den) && is_positive(step)) {
        return None;
    }
    let k = power_of_ten_places(step)?;
    let (a, b) = (num.mantissa(), den.mantissa());
    // num / den in units of 10^-k = a * 10^(k + sb - sa) / b.
    let e = i64::from(k) + i64::from(den.scale()) - i64::from(num.scale());
    let pow = |x: i64| usize::try_from(x).ok().and_then(|i| POW10.get(i)).copied();
    let (n, d) = if e >= 0 { (a.checked_mul(pow(e)?)?, b) } else { (a, b.checked_mul(pow(-e)?)?) };
    let units = match (u64::try_from(n), u64::try_from(d)) {
        (Ok(n), Ok(d)) if d > 0 => i128::from(n / d), // one hardware division
        _ => n / d,
    };
    normalized(units, k)
}

/// `units * 10^-scale` without trailing zeros (what `normalize` gives),
/// stripping zeros in u64 when the value fits (the usual case).
fn normalized(units: i128, scale: u32) -> Option<Decimal> {
    if units == 0 {
        return Some(Decimal::ZERO);
    }
    let (mut u, mut k) = (units, scale);
    if let Ok(mut small) = u64::try_from(u) {
        while k > 0 && small % 10 == 0 {
            small /= 10;
            k -= 1;
        }
        u = i128::from(small);
    } else {
        while k > 0 && u % 10 == 0 {
            u /= 10;
            k -= 1;
        }
    }
    Decimal::try_from_i128_with_scale(u, k).ok()
}

/// `a.cmp(&b)`, inlined: values of one scale (the usual case: prices on one
/// tick grid) are ordered by their signed mantissas, others by `Decimal`'s
/// own comparison. Hot loops compare prices many times per candle.
#[inline(always)]
pub(crate) fn cmp(a: Decimal, b: Decimal) -> std::cmp::Ordering {
    if a.scale() == b.scale() {
        a.mantissa().cmp(&b.mantissa())
    } else {
        a.cmp(&b)
    }
}

/// `d > 0` without a full Decimal comparison.
#[inline]
pub(crate) fn is_positive(d: Decimal) -> bool {
    d.is_sign_positive() && !d.is_zero()
}

/// True when `value` has no digits beyond `dp` decimal places.
fn within_dp(value: Decimal, dp: u32) -> bool {
    let scale = value.scale();
    if scale <= dp {
        return true;
    }
    let (m, p) = (value.mantissa(), POW10[(scale - dp) as usize]);
    match (i64::try_from(m), i64::try_from(p)) {
        (Ok(m), Ok(p)) => m % p == 0,
        _ => m % p == 0,
    }
}

/// `Some(k)` when `grid` is `10^-k` (k >= 0), the usual exchange grids.
fn power_of_ten_places(grid: Decimal) -> Option<u32> {
    let m = grid.mantissa();
    let scale = grid.scale();
    // 0.01 is 1e-2 (mantissa 1) but may be written 0.010 (mantissa 10).
    let mut m = m;
    let mut dp = scale;
    while m > 1 && m % 10 == 0 && dp > 0 {
        m /= 10;
        dp -= 1;
    }
    (m == 1).then_some(dp)
}

fn on_grid(value: Decimal, grid: Decimal) -> bool {
    if grid <= Decimal::ZERO {
        return true;
    }
    match power_of_ten_places(grid) {
        Some(dp) => within_dp(value, dp),
        None => value.checked_rem(grid) == Some(Decimal::ZERO),
    }
}

/// Why an order does not satisfy a market's rules.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RuleViolation {
    /// Price is zero or negative.
    #[error("price {price} is not positive")]
    NonPositivePrice {
        /// The offending price.
        price: Decimal,
    },
    /// Quantity is zero or negative.
    #[error("quantity {quantity} is not positive")]
    NonPositiveQuantity {
        /// The offending quantity.
        quantity: Decimal,
    },
    /// Price is not a multiple of the tick size.
    #[error("price {price} is not a multiple of tick_size {tick_size}")]
    PriceOffTick {
        /// The offending price.
        price: Decimal,
        /// The market's tick size.
        tick_size: Decimal,
    },
    /// Quantity is not a multiple of the step size.
    #[error("quantity {quantity} is not a multiple of step_size {step_size}")]
    QuantityOffStep {
        /// The offending quantity.
        quantity: Decimal,
        /// The market's step size.
        step_size: Decimal,
    },
    /// Quantity below `min_qty`.
    #[error("quantity {quantity} is below min_qty {min_qty}")]
    BelowMinQty {
        /// The offending quantity.
        quantity: Decimal,
        /// The market's minimum quantity.
        min_qty: Decimal,
    },
    /// Quantity above `max_qty`.
    #[error("quantity {quantity} is above max_qty {max_qty}")]
    AboveMaxQty {
        /// The offending quantity.
        quantity: Decimal,
        /// The market's maximum quantity.
        max_qty: Decimal,
    },
    /// Price times quantity below `min_notional`.
    #[error("notional {notional} is below min_notional {min_notional}")]
    BelowMinNotional {
        /// price * quantity of the order.
        notional: Decimal,
        /// The market's minimum notional.
        min_notional: Decimal,
    },
}

/// Error in the market rules themselves.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("market rule `{field}` = {value} must not be negative")]
pub struct InvalidRules {
    /// The field name (`tick_size`, `step_size`, ...).
    pub field: &'static str,
    /// Its value.
    pub value: Decimal,
}

/// The trading rules of one market (symbol) on one exchange.
///
/// ```
/// use martingale_core::MarketRules;
/// use martingale_core::market::RuleViolation;
/// use rust_decimal_macros::dec;
///
/// let btc = MarketRules::new(dec!(0.01), dec!(0.00001), dec!(0.00001), dec!(5));
/// assert_eq!(btc.round_qty(dec!(0.0046946)), dec!(0.00469));
/// assert!(btc.validate_order(dec!(42601.41), dec!(0.00469)).is_ok());
/// assert_eq!(
///     btc.validate_order(dec!(42601.41), dec!(0.0001)),
///     Err(RuleViolation::BelowMinNotional { notional: dec!(4.260141), min_notional: dec!(5) }),
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketRules {
    /// Market symbol as the venue spells it (informational in the core).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// Price grid.
    pub tick_size: Decimal,
    /// Quantity grid.
    pub step_size: Decimal,
    /// Smallest order quantity.
    #[serde(default)]
    pub min_qty: Decimal,
    /// Largest order quantity, if limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_qty: Option<Decimal>,
    /// Smallest `price * quantity` of an order.
    #[serde(default)]
    pub min_notional: Decimal,
    /// Largest quantity of a *market* order, when the venue limits market
    /// orders more tightly than limit orders (Binance's `MARKET_LOT_SIZE`:
    /// 128.5 BTC on BTCUSDT against `LOT_SIZE`'s 9,000). The core does not
    /// split orders: a market order above it is refused by the exchange
    /// adapters before it is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market_max_qty: Option<Decimal>,
}

impl MarketRules {
    /// Rules with the given grid and minimums, no symbol and no `max_qty`
    /// (nor `market_max_qty`).
    pub fn new(tick_size: Decimal, step_size: Decimal, min_qty: Decimal, min_notional: Decimal) -> Self {
        MarketRules { symbol: None, tick_size, step_size, min_qty, max_qty: None, min_notional, market_max_qty: None }
    }

    /// Checks that no rule is negative (zero disables a rule).
    pub fn validate(&self) -> Result<(), InvalidRules> {
        let fields = [
            ("tick_size", self.tick_size),
            ("step_size", self.step_size),
            ("min_qty", self.min_qty),
            ("min_notional", self.min_notional),
            ("max_qty", self.max_qty.unwrap_or(Decimal::ZERO)),
        ];
        for (field, value) in fields {
            if value < Decimal::ZERO {
                return Err(InvalidRules { field, value });
            }
        }
        Ok(())
    }

    /// Round a price onto the tick grid.
    pub fn round_price(&self, price: Decimal, dir: Rounding) -> Decimal {
        round_to(price, self.tick_size, dir)
    }

    /// Round a limit price for an order of `side` (buy down, sell up).
    pub fn round_limit_price(&self, price: Decimal, side: OrderSide) -> Decimal {
        self.round_price(price, Rounding::for_limit(side))
    }

    /// Truncate a quantity onto the step grid.
    pub fn round_qty(&self, qty: Decimal) -> Decimal {
        round_to(qty, self.step_size, Rounding::Down)
    }

    /// Check an order of `quantity` at `price` against every rule.
    pub fn validate_order(&self, price: Decimal, quantity: Decimal) -> Result<(), RuleViolation> {
        if !is_positive(price) {
            return Err(RuleViolation::NonPositivePrice { price });
        }
        if !is_positive(quantity) {
            return Err(RuleViolation::NonPositiveQuantity { quantity });
        }
        if !on_grid(price, self.tick_size) {
            return Err(RuleViolation::PriceOffTick { price, tick_size: self.tick_size });
        }
        if !on_grid(quantity, self.step_size) {
            return Err(RuleViolation::QuantityOffStep { quantity, step_size: self.step_size });
        }
        if cmp(quantity, self.min_qty).is_lt() {
            return Err(RuleViolation::BelowMinQty { quantity, min_qty: self.min_qty });
        }
        if let Some(max_qty) = self.max_qty.filter(|m| *m > Decimal::ZERO) {
            if quantity > max_qty {
                return Err(RuleViolation::AboveMaxQty { quantity, max_qty });
            }
        }
        let notional = price.checked_mul(quantity).unwrap_or(Decimal::MAX);
        if cmp(notional, self.min_notional).is_lt() {
            return Err(RuleViolation::BelowMinNotional { notional, min_notional: self.min_notional });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    /// Mantissas of every size (the 128-bit path) and of 64 bits (the
    /// hardware-division path), half and half.
    fn mantissas() -> impl proptest::strategy::Strategy<Value = i128> {
        use proptest::strategy::Strategy;
        proptest::prop_oneof![
            proptest::num::i128::ANY.prop_map(|m| m % (1i128 << 96)),
            proptest::num::i64::ANY.prop_map(i128::from),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(8000))]
        /// The integer fast paths equal rust_decimal's own rounding.
        #[test]
        fn fast_rounding_equals_round_dp(m in mantissas(), scale in 0u32..=28, dp in 0u32..=12) {
            let v = Decimal::from_i128_with_scale(m, scale);
            for (dir, strategy) in [(Rounding::Down, rust_decimal::RoundingStrategy::ToNegativeInfinity),
                                    (Rounding::Up, rust_decimal::RoundingStrategy::ToPositiveInfinity)] {
                let want = v.round_dp_with_strategy(dp, strategy).normalize();
                let got = round_dp(v, dp, dir);
                proptest::prop_assert_eq!(got, want);
                proptest::prop_assert_eq!(got.scale(), want.scale());
            }
            let truncated = v.round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::ToZero);
            proptest::prop_assert_eq!(within_dp(v, dp), truncated == v);
        }

        /// The inlined comparison orders like `Decimal`'s own, on one scale
        /// and across scales, with either sign and zero.
        #[test]
        fn inlined_comparison_equals_ord(a in mantissas(), b in mantissas(), sa in 0u32..=28, same in proptest::bool::ANY, sb in 0u32..=28) {
            let x = Decimal::from_i128_with_scale(a, sa);
            let y = Decimal::from_i128_with_scale(b, if same { sa } else { sb });
            proptest::prop_assert_eq!(cmp(x, y), x.cmp(&y));
            proptest::prop_assert_eq!(cmp(x, x), std::cmp::Ordering::Equal);
            proptest::prop_assert_eq!(cmp(x, -x), x.cmp(&-x));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// On realistic magnitudes the exact integer floor equals dividing
        /// in Decimal and truncating.
        #[test]
        fn integer_floor_division_equals_decimal_division(
            a in 1i64..1_000_000_000_000_000, sa in 0u32..=12,
            b in 1i64..1_000_000_000_000, sb in 0u32..=10, k in 0u32..=8,
        ) {
            let (num, den) = (Decimal::new(a, sa), Decimal::new(b, sb));
            let step = Decimal::new(1, k);
            let got = div_floor_to_step(num, den, step).unwrap();
            let want = round_to(num / den, step, Rounding::Down);
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert_eq!(got.scale(), want.scale());
        }
    }

    #[test]
    fn integer_floor_division_is_exact_where_decimal_rounds_up() {
        // 1 / (1 - 10^-27) = 1.000...0001 (just above 1); (10^27 - 1) / 10^27 is
        // 0.999999999999999999999999999: both fine. But 2/3 at 28 digits is
        // 0.6666666666666666666666666667 and floor at 10^-28 steps differs.
        let third = div_floor_to_step(dec!(2), dec!(3), Decimal::new(1, 28)).unwrap();
        assert_eq!(third, Decimal::from_i128_with_scale(6_666_666_666_666_666_666_666_666_666, 28));
        assert_ne!(third, round_to(dec!(2) / dec!(3), Decimal::new(1, 28), Rounding::Down));
        assert_eq!(div_floor_to_step(dec!(1), dec!(3), dec!(0.5)), None);
        assert_eq!(div_floor_to_step(dec!(0), dec!(3), dec!(1)), None);
    }

    fn btc() -> MarketRules {
        MarketRules::new(dec!(0.01), dec!(0.00001), dec!(0.00001), dec!(5))
    }

    #[rstest]
    #[case(dec!(100.005), dec!(0.01), Rounding::Down, dec!(100))]
    #[case(dec!(100.005), dec!(0.01), Rounding::Up, dec!(100.01))]
    #[case(dec!(100.01), dec!(0.01), Rounding::Up, dec!(100.01))]
    #[case(dec!(-1.005), dec!(0.01), Rounding::Down, dec!(-1.01))]
    #[case(dec!(7.3), dec!(0.5), Rounding::Down, dec!(7))]
    #[case(dec!(7.3), dec!(0.5), Rounding::Up, dec!(7.5))]
    #[case(dec!(7.3), dec!(0), Rounding::Up, dec!(7.3))]
    #[case(dec!(7.35), dec!(1), Rounding::Up, dec!(8))]
    #[case(dec!(7.35), dec!(0.10), Rounding::Down, dec!(7.3))]
    #[case(dec!(-7.35), dec!(0.1), Rounding::Up, dec!(-7.3))]
    #[case(dec!(12345.678), dec!(0.25), Rounding::Down, dec!(12345.5))]
    fn rounds_onto_grid(#[case] v: Decimal, #[case] g: Decimal, #[case] d: Rounding, #[case] want: Decimal) {
        assert_eq!(round_to(v, g, d), want);
    }

    #[rstest]
    #[case(OrderSide::Buy, dec!(100.019), dec!(100.01))]
    #[case(OrderSide::Sell, dec!(100.011), dec!(100.02))]
    fn limit_price_direction(#[case] side: OrderSide, #[case] p: Decimal, #[case] want: Decimal) {
        assert_eq!(btc().round_limit_price(p, side), want);
    }

    #[test]
    fn stop_rounding_triggers_later() {
        assert_eq!(Rounding::for_stop(OrderSide::Sell), Rounding::Down);
        assert_eq!(Rounding::for_stop(OrderSide::Buy), Rounding::Up);
    }

    #[rstest]
    #[case(dec!(0), dec!(1), RuleViolation::NonPositivePrice { price: dec!(0) })]
    #[case(dec!(10), dec!(0), RuleViolation::NonPositiveQuantity { quantity: dec!(0) })]
    #[case(dec!(10.001), dec!(1), RuleViolation::PriceOffTick { price: dec!(10.001), tick_size: dec!(0.01) })]
    #[case(dec!(10), dec!(1.000001), RuleViolation::QuantityOffStep { quantity: dec!(1.000001), step_size: dec!(0.00001) })]
    #[case(dec!(10), dec!(0.1), RuleViolation::BelowMinNotional { notional: dec!(1.0), min_notional: dec!(5) })]
    fn violations_name_rule_and_values(#[case] p: Decimal, #[case] q: Decimal, #[case] want: RuleViolation) {
        assert_eq!(btc().validate_order(p, q), Err(want));
    }

    #[test]
    fn min_and_max_qty() {
        let mut r = btc();
        r.min_qty = dec!(0.001);
        r.max_qty = Some(dec!(9));
        assert_eq!(
            r.validate_order(dec!(10000), dec!(0.0005)),
            Err(RuleViolation::BelowMinQty { quantity: dec!(0.0005), min_qty: dec!(0.001) })
        );
        assert_eq!(
            r.validate_order(dec!(10), dec!(10)),
            Err(RuleViolation::AboveMaxQty { quantity: dec!(10), max_qty: dec!(9) })
        );
    }

    #[test]
    fn negative_rules_rejected() {
        let mut r = btc();
        r.step_size = dec!(-1);
        assert_eq!(r.validate(), Err(InvalidRules { field: "step_size", value: dec!(-1) }));
    }
}
