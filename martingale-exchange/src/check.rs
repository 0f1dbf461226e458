//! The one place where every adapter checks a venue's reply against what it
//! asked, before the reply leaves the adapter.
//!
//! Invariants of everything an adapter returns (a report that breaks one
//! is refused with [`ExchangeError::Malformed`] naming the mismatch):
//! - an order report is about the order asked for: the same client order
//!   id and, when the reply names it, the same market;
//! - the answer to a placement repeats the order: side, quantity and limit
//!   price (a market order has none);
//! - amounts are sane: ordered quantity > 0, executed quantity within
//!   `0..=ordered`, executed quote value >= 0 (and 0 when nothing
//!   executed), a limit price > 0, and the average fill price
//!   `quote / executed` is representable (no overflow, see issue 13);
//! - a trade has a price and a quantity > 0, a balance is never negative,
//!   a last price is > 0.
//!
//! Known limit: the market is only checked where the venue's reply names
//! it (Bybit's placement answer and OKX's `ordId` replies do not).

use martingale_core::engine::{ClientOrderId, OrderKind, OrderRequest};
use rust_decimal::Decimal;

use crate::error::ExchangeError;
use crate::types::{Balance, Fill, OrderInfo};

/// What an order report must be about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked<'a> {
    /// The market of the request.
    pub(crate) symbol: &'a str,
    /// The order's client order id.
    pub(crate) id: &'a ClientOrderId,
    /// The order as sent, when the report answers its placement.
    pub(crate) order: Option<&'a OrderRequest>,
}

impl<'a> Asked<'a> {
    /// A query or a cancel of `id`.
    pub(crate) fn id(symbol: &'a str, id: &'a ClientOrderId) -> Asked<'a> {
        Asked { symbol, id, order: None }
    }

    /// The placement of `order`.
    pub(crate) fn placed(symbol: &'a str, order: &'a OrderRequest) -> Asked<'a> {
        Asked { symbol, id: &order.client_order_id, order: Some(order) }
    }
}

fn mismatch(what: &str, got: impl std::fmt::Display, asked: impl std::fmt::Display) -> ExchangeError {
    ExchangeError::Malformed(format!(
        "the venue's reply does not match the request: {what} is {got}, asked {asked}; the report was refused"
    ))
}

fn insane(what: String) -> ExchangeError {
    ExchangeError::Malformed(format!("the venue reported {what}; the report was refused"))
}

/// The market a reply names (if it names one) is the one asked for.
pub(crate) fn symbol(asked: &str, reported: Option<&str>) -> Result<(), ExchangeError> {
    match reported {
        Some(s) if !s.eq_ignore_ascii_case(asked) => Err(mismatch("the market", s, asked)),
        _ => Ok(()),
    }
}

/// A report about the order `asked` names: same id, same market, the
/// placed order's terms, sane amounts.
pub(crate) fn order(
    asked: &Asked<'_>,
    reported_symbol: Option<&str>,
    info: OrderInfo,
) -> Result<OrderInfo, ExchangeError> {
    if info.client_order_id != *asked.id {
        return Err(mismatch("the client order id", &info.client_order_id, asked.id));
    }
    symbol(asked.symbol, reported_symbol)?;
    if let Some(o) = asked.order {
        if info.side != o.side {
            return Err(mismatch("the side", info.side, o.side));
        }
        if info.quantity != o.quantity {
            return Err(mismatch("the ordered quantity", info.quantity, o.quantity));
        }
        let price = match o.kind {
            OrderKind::Limit { price } => Some(price),
            OrderKind::Market { .. } => None,
        };
        if info.price != price {
            let show = |p: Option<Decimal>| p.map_or("none (market)".to_string(), |p| p.to_string());
            return Err(mismatch("the limit price", show(info.price), show(price)));
        }
    }
    amounts(&info)?;
    Ok(info)
}

/// An order of a listing (open orders): the market asked for and sane
/// amounts.
pub(crate) fn listed(
    asked_symbol: &str,
    reported_symbol: Option<&str>,
    info: OrderInfo,
) -> Result<OrderInfo, ExchangeError> {
    symbol(asked_symbol, reported_symbol)?;
    amounts(&info)?;
    Ok(info)
}

/// The amounts of an order report are consistent with each other.
pub(crate) fn amounts(info: &OrderInfo) -> Result<(), ExchangeError> {
    let id = &info.client_order_id;
    if info.quantity <= Decimal::ZERO {
        return Err(insane(format!("an ordered quantity of {} for order {id}", info.quantity)));
    }
    if info.filled < Decimal::ZERO || info.filled > info.quantity {
        return Err(insane(format!(
            "an executed quantity of {} for order {id} of {} (outside 0..={})",
            info.filled, info.quantity, info.quantity
        )));
    }
    if info.filled_quote < Decimal::ZERO {
        return Err(insane(format!("a negative executed value {} for order {id}", info.filled_quote)));
    }
    if info.filled.is_zero() && !info.filled_quote.is_zero() {
        return Err(insane(format!("an executed value of {} for order {id} with nothing executed", info.filled_quote)));
    }
    if let Some(p) = info.price {
        if p <= Decimal::ZERO {
            return Err(insane(format!("a limit price of {p} for order {id}")));
        }
    }
    if !info.filled.is_zero() && info.filled_quote.checked_div(info.filled).is_none() {
        return Err(insane(format!(
            "an executed value of {} for {} of order {id}: the average price overflows",
            info.filled_quote, info.filled
        )));
    }
    Ok(())
}

/// A trade of ours on the market asked for.
pub(crate) fn fill(asked_symbol: &str, reported_symbol: Option<&str>, f: Fill) -> Result<Fill, ExchangeError> {
    symbol(asked_symbol, reported_symbol)?;
    if f.price <= Decimal::ZERO || f.quantity <= Decimal::ZERO {
        return Err(insane(format!("trade {} at {} for {}", f.trade_id, f.price, f.quantity)));
    }
    Ok(f)
}

/// A balance is never negative.
pub(crate) fn balance(b: Balance) -> Result<Balance, ExchangeError> {
    if b.free < Decimal::ZERO || b.locked < Decimal::ZERO {
        return Err(insane(format!("a negative balance of {}: free {}, locked {}", b.asset, b.free, b.locked)));
    }
    Ok(b)
}

/// A last traded price is positive.
pub(crate) fn last_price(symbol: &str, p: Decimal) -> Result<Decimal, ExchangeError> {
    if p <= Decimal::ZERO {
        return Err(insane(format!("a last price of {p} for {symbol}")));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::OrderStatus;
    use martingale_core::engine::OrderRole;
    use martingale_core::OrderSide;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    fn request() -> OrderRequest {
        OrderRequest {
            client_order_id: ClientOrderId::from_raw("b-1-s1-1"),
            role: OrderRole::Safety(1),
            side: OrderSide::Buy,
            kind: OrderKind::Limit { price: dec!(100) },
            quantity: dec!(2),
        }
    }

    fn info() -> OrderInfo {
        OrderInfo {
            client_order_id: ClientOrderId::from_raw("b-1-s1-1"),
            status: OrderStatus::PartiallyFilled,
            side: OrderSide::Buy,
            price: Some(dec!(100)),
            quantity: dec!(2.000),
            filled: dec!(1),
            filled_quote: dec!(100),
            updated_at: 0,
        }
    }

    #[rstest]
    #[case::other_id(|i: &mut OrderInfo| i.client_order_id = ClientOrderId::from_raw("b-1-s1-2"), "client order id")]
    #[case::other_side(|i: &mut OrderInfo| i.side = OrderSide::Sell, "side")]
    #[case::other_qty(|i: &mut OrderInfo| i.quantity = dec!(3), "ordered quantity")]
    #[case::other_price(|i: &mut OrderInfo| i.price = Some(dec!(101)), "limit price")]
    #[case::no_price(|i: &mut OrderInfo| i.price = None, "limit price")]
    #[case::overfilled(|i: &mut OrderInfo| i.filled = dec!(2.1), "outside 0..=")]
    #[case::negative_fill(|i: &mut OrderInfo| i.filled = dec!(-1), "outside 0..=")]
    #[case::negative_quote(|i: &mut OrderInfo| i.filled_quote = dec!(-1), "negative executed value")]
    #[case::quote_without_fill(|i: &mut OrderInfo| { i.filled = dec!(0); i.filled_quote = dec!(5) }, "nothing executed")]
    fn a_mismatching_placement_report_is_refused_by_name(#[case] break_it: fn(&mut OrderInfo), #[case] named: &str) {
        let o = request();
        assert_eq!(order(&Asked::placed("BTCUSDT", &o), Some("BTCUSDT"), info()), Ok(info()));
        let mut bad = info();
        break_it(&mut bad);
        match order(&Asked::placed("BTCUSDT", &o), Some("BTCUSDT"), bad) {
            Err(ExchangeError::Malformed(m)) => assert!(m.contains(named), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_market_ids_and_overflowing_averages_are_checked() {
        let o = request();
        let id = o.client_order_id.clone();
        assert!(matches!(
            order(&Asked::id("BTCUSDT", &id), Some("ETHUSDT"), info()),
            Err(ExchangeError::Malformed(m)) if m.contains("market is ETHUSDT, asked BTCUSDT")
        ));
        // Issue 13: 7.9e28 quote for 1e-28 executed has no representable
        // average price.
        let mut huge = info();
        huge.quantity = dec!(1);
        huge.filled = Decimal::new(1, 28);
        huge.filled_quote = Decimal::MAX;
        assert!(matches!(
            order(&Asked::id("BTCUSDT", &id), None, huge),
            Err(ExchangeError::Malformed(m)) if m.contains("overflows")
        ));
        assert!(last_price("BTCUSDT", dec!(-5)).is_err() && last_price("BTCUSDT", dec!(0)).is_err());
        assert_eq!(last_price("BTCUSDT", dec!(5)), Ok(dec!(5)));
        let b = Balance { asset: "BTC".into(), free: dec!(-1), locked: dec!(0) };
        assert!(balance(b).is_err());
    }
}
