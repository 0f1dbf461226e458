//! What an adapter sends is on the market's grid (issue 18 item 5).
//!
//! The adapters are public API: a caller may hand them any
//! [`OrderRequest`], not only the engine's (which rounds first). Before an
//! order leaves, every adapter checks it against the venue's own
//! [`MarketRules`] for the market (fetched once per market and kept for the
//! adapter's life) and refuses what the venue would refuse, with
//! [`ExchangeError::RuleViolation`] naming the rule: nothing is sent, so
//! the refusal is definite ([`ExchangeError::is_definite_rejection`]).
//! Nothing is rounded silently: a quantity or price off the grid is the
//! caller's to round ([`MarketRules::round_qty`], [`MarketRules::round_price`]).
//!
//! The rules checked: a limit order's price is positive and a multiple of
//! `tick_size`, and `price * quantity >= min_notional`; every order's
//! quantity is positive, a multiple of `step_size`, at least `min_qty` and
//! at most `max_qty` when the venue has one; a market order's quantity is
//! also at most `market_max_qty` (Binance's `MARKET_LOT_SIZE`). A market
//! order's notional is left to the venue (it is measured at the fill price).
//!
//! Known limit: the rules are read once per adapter; a venue that changes a
//! market's filters while a bot runs refuses what no longer fits, and that
//! refusal arrives as the venue's own error.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use martingale_core::engine::{OrderKind, OrderRequest};
use martingale_core::market::RuleViolation;
use martingale_core::MarketRules;
use rust_decimal::Decimal;

use crate::error::ExchangeError;

/// Each market's rules, fetched once.
#[derive(Debug, Default)]
pub(crate) struct RulesCache(Mutex<HashMap<String, MarketRules>>);

impl RulesCache {
    /// The rules of `symbol`, from the cache or `fetch`.
    pub(crate) async fn get<F>(&self, symbol: &str, fetch: F) -> Result<MarketRules, ExchangeError>
    where
        F: Future<Output = Result<MarketRules, ExchangeError>>,
    {
        if let Some(r) = self.0.lock().ok().and_then(|m| m.get(symbol).cloned()) {
            return Ok(r);
        }
        let rules = fetch.await?;
        if let Ok(mut m) = self.0.lock() {
            m.insert(symbol.to_string(), rules.clone());
        }
        Ok(rules)
    }
}

/// Refuses `order` if `rules` do not allow it (see the module docs).
pub(crate) fn check(rules: &MarketRules, order: &OrderRequest) -> Result<(), ExchangeError> {
    let refuse = |v: RuleViolation| {
        let rule = match v {
            RuleViolation::NonPositivePrice { .. } | RuleViolation::PriceOffTick { .. } => "tick_size",
            RuleViolation::NonPositiveQuantity { .. } | RuleViolation::QuantityOffStep { .. } => "step_size",
            RuleViolation::BelowMinQty { .. } => "min_qty",
            RuleViolation::AboveMaxQty { .. } => "max_qty",
            RuleViolation::BelowMinNotional { .. } => "min_notional",
        };
        ExchangeError::RuleViolation {
            rule: rule.to_string(),
            message: format!("order {}: {v}; not sent (round with MarketRules first)", order.client_order_id),
        }
    };
    let q = order.quantity;
    match order.kind {
        OrderKind::Limit { price } => rules.validate_order(price, q).map_err(refuse),
        OrderKind::Market { .. } => {
            if q <= Decimal::ZERO {
                return Err(refuse(RuleViolation::NonPositiveQuantity { quantity: q }));
            }
            if rules.step_size > Decimal::ZERO && rules.round_qty(q) != q {
                return Err(refuse(RuleViolation::QuantityOffStep { quantity: q, step_size: rules.step_size }));
            }
            if q < rules.min_qty {
                return Err(refuse(RuleViolation::BelowMinQty { quantity: q, min_qty: rules.min_qty }));
            }
            if let Some(max_qty) = rules.max_qty.filter(|m| *m > Decimal::ZERO && q > *m) {
                return Err(refuse(RuleViolation::AboveMaxQty { quantity: q, max_qty }));
            }
            match rules.market_max_qty.filter(|m| *m > Decimal::ZERO) {
                Some(max_qty) if q > max_qty => Err(ExchangeError::RuleViolation {
                    rule: "market_max_qty".to_string(),
                    message: format!(
                        "order {}: a market order of {q} is above the market's largest market order, {max_qty}; \
                         not sent (split it, or use a limit order)",
                        order.client_order_id
                    ),
                }),
                _ => Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use martingale_core::engine::{ClientOrderId, OrderRole};
    use martingale_core::OrderSide;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    fn rules() -> MarketRules {
        let mut r = MarketRules::new(dec!(0.01), dec!(0.00001), dec!(0.00001), dec!(5));
        r.max_qty = Some(dec!(9000));
        r.market_max_qty = Some(dec!(128.5));
        r
    }

    fn order(kind: OrderKind, quantity: Decimal) -> OrderRequest {
        OrderRequest {
            client_order_id: ClientOrderId::from_raw("b-1-s1-1"),
            role: OrderRole::Safety(1),
            side: OrderSide::Buy,
            kind,
            quantity,
        }
    }

    const LIMIT: OrderKind = OrderKind::Limit { price: dec!(40000) };
    const MARKET: OrderKind = OrderKind::Market { reference_price: dec!(40000.005) };

    #[rstest]
    #[case(LIMIT, dec!(0.001), None)]
    #[case(MARKET, dec!(0.001), None)] // a market order's reference price is not checked
    #[case(LIMIT, dec!(0.0007856509959147719), Some("step_size"))] // the quantity
    #[case(MARKET, dec!(0.0007856509959147719), Some("step_size"))]
    #[case(OrderKind::Limit { price: dec!(40000.005) }, dec!(0.001), Some("tick_size"))]
    #[case(OrderKind::Limit { price: dec!(0) }, dec!(0.001), Some("tick_size"))]
    #[case(LIMIT, dec!(0), Some("step_size"))]
    #[case(MARKET, dec!(-0.001), Some("step_size"))]
    #[case(LIMIT, dec!(0.00001), Some("min_notional"))] // 0.40 quote
    #[case(LIMIT, dec!(9000.00001), Some("max_qty"))]
    #[case(MARKET, dec!(9000.00001), Some("max_qty"))]
    #[case(MARKET, dec!(128.5), None)] // Binance BTCUSDT's MARKET_LOT_SIZE maximum
    #[case(MARKET, dec!(128.50001), Some("market_max_qty"))]
    #[case(LIMIT, dec!(128.50001), None)] // a limit order is held to LOT_SIZE only
    fn orders_off_the_grid_are_refused_before_sending(
        #[case] kind: OrderKind,
        #[case] quantity: Decimal,
        #[case] refused: Option<&str>,
    ) {
        match (check(&rules(), &order(kind, quantity)), refused) {
            (Ok(()), None) => {}
            (Err(ExchangeError::RuleViolation { rule, message }), Some(want)) => {
                assert_eq!(rule, want, "{message}");
                assert!(message.contains("not sent"), "{message}");
            }
            (got, want) => panic!("{kind:?} {quantity}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn a_refusal_is_definite() {
        let e = check(&rules(), &order(LIMIT, dec!(0.0007856509959147719))).unwrap_err();
        assert!(e.is_definite_rejection());
    }

    #[tokio::test]
    async fn rules_are_fetched_once_per_market() {
        let cache = RulesCache::default();
        let fetches = std::sync::atomic::AtomicUsize::new(0);
        for _ in 0..3 {
            let r = cache
                .get("BTCUSDT", async {
                    fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok(rules())
                })
                .await
                .unwrap();
            assert_eq!(r, rules());
        }
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
