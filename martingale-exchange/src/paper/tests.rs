//! Unit tests of the paper exchange's ledger and refusals.

use super::*;
use martingale_core::engine::OrderRole;
use martingale_core::fees::FeeAsset;
use rust_decimal_macros::dec;

fn paper(fees: FeeSchedule) -> PaperExchange {
    let rules = MarketRules::new(dec!(0.01), dec!(0.001), dec!(0.001), dec!(5));
    let p = PaperExchange::builder("BTCUSDT", rules).fees(fees).quote_balance(dec!(1000)).build();
    p.feed(Candle { time: 0, open: dec!(100), high: dec!(100), low: dec!(100), close: dec!(100) });
    p
}

fn order(id: &str, side: OrderSide, kind: OrderKind, qty: Decimal) -> OrderRequest {
    OrderRequest { client_order_id: ClientOrderId::from_raw(id), role: OrderRole::Safety(1), side, kind, quantity: qty }
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}

#[test]
fn market_buy_charges_taker_fee_in_base_and_moves_balances() {
    run(async {
        let p = paper(FeeSchedule { maker: dec!(0.001), taker: dec!(0.002), asset: FeeAsset::Base });
        let o = order("m1", OrderSide::Buy, OrderKind::Market { reference_price: dec!(100) }, dec!(2));
        let info = p.place_order("BTCUSDT", &o).await.unwrap();
        assert_eq!((info.status, info.filled, info.filled_quote), (OrderStatus::Filled, dec!(2), dec!(200)));
        let b = p.balances().await.unwrap();
        assert_eq!((b[0].free, b[1].free), (dec!(1.996), dec!(800)));
        let fills = p.fills_since("BTCUSDT", 0).await.unwrap();
        assert_eq!((fills[0].fee, fills[0].fee_asset.as_str()), (dec!(0.004), "BTC"));
    })
}

#[test]
fn limits_fill_in_path_order_and_locks_are_released() {
    run(async {
        let p = paper(FeeSchedule::ZERO);
        for (id, price) in [("a", dec!(99)), ("b", dec!(97))] {
            p.place_order("BTCUSDT", &order(id, OrderSide::Buy, OrderKind::Limit { price }, dec!(1))).await.unwrap();
        }
        assert_eq!(p.balances().await.unwrap()[1].locked, dec!(196));
        assert_eq!(p.open_orders("BTCUSDT").await.unwrap().len(), 2);
        // Touching 99 is not crossing it; 98 crosses 99 only.
        p.feed(Candle { time: 1, open: dec!(100), high: dec!(100), low: dec!(98), close: dec!(99) });
        let a = p.query_order("BTCUSDT", &ClientOrderId::from_raw("a")).await.unwrap();
        assert_eq!(a.status, OrderStatus::Filled);
        let c = p.cancel_order("BTCUSDT", &ClientOrderId::from_raw("b")).await.unwrap();
        assert_eq!(c.status, OrderStatus::Canceled);
        let b = p.balances().await.unwrap();
        assert_eq!((b[0].free, b[1].free, b[1].locked), (dec!(1), dec!(901), dec!(0)));
    })
}

#[test]
fn typed_refusals() {
    run(async {
        let p = paper(FeeSchedule::ZERO);
        let big = order("x", OrderSide::Buy, OrderKind::Limit { price: dec!(99) }, dec!(20));
        assert!(matches!(p.place_order("BTCUSDT", &big).await, Err(ExchangeError::InsufficientBalance(_))));
        let tiny = order("y", OrderSide::Buy, OrderKind::Limit { price: dec!(99) }, dec!(0.01));
        assert!(
            matches!(p.place_order("BTCUSDT", &tiny).await, Err(ExchangeError::RuleViolation { ref rule, .. }) if rule == "MIN_NOTIONAL")
        );
        let ok = order("z", OrderSide::Buy, OrderKind::Limit { price: dec!(99) }, dec!(1));
        p.place_order("BTCUSDT", &ok).await.unwrap();
        assert_eq!(
            p.place_order("BTCUSDT", &ok).await,
            Err(ExchangeError::DuplicateOrder(ClientOrderId::from_raw("z")))
        );
        let sell = order("s", OrderSide::Sell, OrderKind::Market { reference_price: dec!(100) }, dec!(1));
        assert!(matches!(p.place_order("BTCUSDT", &sell).await, Err(ExchangeError::InsufficientBalance(_))));
        assert!(matches!(
            p.cancel_order("BTCUSDT", &ClientOrderId::from_raw("nope")).await,
            Err(ExchangeError::UnknownOrder(_))
        ));
        assert!(matches!(p.last_price("ETHUSDT").await, Err(ExchangeError::UnknownMarket(_))));
    })
}

#[test]
fn for_bot_funds_the_quote_asset_and_names_the_assets() {
    run(async {
        let bot = martingale_core::config::BotFile::example().unwrap();
        let p = PaperExchange::for_bot(&bot, dec!(1000));
        let b = p.balances().await.unwrap();
        assert_eq!((b[0].asset.as_str(), b[0].free), ("BTC", dec!(0)));
        assert_eq!((b[1].asset.as_str(), b[1].free), ("USDT", dec!(1000)));
        assert_eq!(p.market_rules("BTCUSDT").await.unwrap(), bot.market);
    })
}

#[test]
fn a_market_order_fills_at_an_off_grid_price() {
    run(async {
        let p = paper(FeeSchedule::ZERO);
        // Float noise in the data: the price is off the 0.01 grid.
        p.feed(Candle { time: 1, open: dec!(100), high: dec!(100.2), low: dec!(99.9), close: dec!(100.00000000001) });
        let o = order("m", OrderSide::Buy, OrderKind::Market { reference_price: dec!(100) }, dec!(1));
        let info = p.place_order("BTCUSDT", &o).await.unwrap();
        assert_eq!((info.status, info.filled_quote), (OrderStatus::Filled, dec!(100.00000000001)));
    })
}

#[test]
fn a_limit_through_the_market_rests_until_the_walk_reaches_it() {
    run(async {
        let p = paper(FeeSchedule::ZERO);
        // A buy above the market: the backtest's book fills it at the next
        // point of the walk that goes down, at its own price.
        let o = order("t", OrderSide::Buy, OrderKind::Limit { price: dec!(101) }, dec!(1));
        assert_eq!(p.place_order("BTCUSDT", &o).await.unwrap().status, OrderStatus::New);
        p.feed(Candle { time: 1, open: dec!(100), high: dec!(100.5), low: dec!(99.5), close: dec!(100) });
        let info = p.query_order("BTCUSDT", &o.client_order_id).await.unwrap();
        assert_eq!((info.status, info.filled_quote), (OrderStatus::Filled, dec!(101)));
    })
}
