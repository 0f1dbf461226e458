//! Regression tests of issue 14 (items 5, 8, 12, 17, 18, 19) and issue 15
//! item 1: late exit fills, stop while the base order is in flight, limit
//! fill bounds, amounts at the API edge, stale reports, snapshots, and
//! ladders that overflow.

use rstest::rstest;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::tests::{bot, canceled, limit_price, placed, T};
use super::*;
use crate::config::OrderSize;
use crate::fees::FeeCharge;

fn fill_with_fee(
    t: &mut T,
    id: &ClientOrderId,
    cum: Decimal,
    price: Decimal,
    fee: FeeCharge,
) -> Result<Output, EngineError> {
    t.upd(OrderUpdate::Fill { client_order_id: id.clone(), cumulative_qty: cum, price, fee: Some(fee) })
}

/// Asserts `event` is refused and changes nothing.
fn refused(t: &mut T, event: Event) -> EngineError {
    let before = t.e.clone();
    let err = t.e.handle(event).unwrap_err();
    assert_eq!(t.e, before, "refused event changed the engine: {err}");
    err
}

// ----- item 5: a late fill of an exit the engine had replaced ------------

#[rstest]
#[case::partial(dec!(0.5), dec!(2.540))]
#[case::complete(dec!(1), dec!(2.040))]
fn late_take_profit_fill_after_confirmed_cancel_resizes_the_replacement(#[case] late: Decimal, #[case] left: Decimal) {
    let mut t = T::new(&bot(""));
    let out = t.open_at(dec!(100));
    let orders = placed(&out);
    let (so1, tp1) = (orders[0].clone(), orders[3].clone());
    assert_eq!((tp1.role, tp1.quantity), (OrderRole::TakeProfit, dec!(1)));
    // A safety order fills: the take profit is canceled, and replaced for
    // the whole position once the cancel is confirmed.
    let _ = t.fill(&so1.client_order_id, so1.quantity, dec!(98));
    let out = t.cancel_ok(&tp1.client_order_id);
    let tp2 = placed(&out)[0].clone();
    assert_eq!(tp2.quantity, dec!(3.040));
    // Then the old take profit's fill arrives: it filled before its cancel.
    let out = t.fill(&tp1.client_order_id, late, dec!(101));
    assert_eq!(t.e.deal().unwrap().position.open_qty(), left);
    assert_eq!(canceled(&out), vec![tp2.client_order_id.clone()], "the oversized replacement must be canceled");
    assert!(placed(&out).is_empty(), "nothing new before the cancel is confirmed");
    // Once canceled, a take profit for exactly what is left.
    let out = t.cancel_ok(&tp2.client_order_id);
    let tp3 = placed(&out);
    assert_eq!(tp3.len(), 1);
    assert_eq!((tp3[0].role, tp3[0].quantity), (OrderRole::TakeProfit, left));
    // It fills: the deal closes flat, not short.
    let _ = t.fill(&tp3[0].client_order_id, left, limit_price(&tp3[0]));
    let d = t.e.deal().unwrap().clone();
    assert_eq!(d.position.open_qty(), Decimal::ZERO);
    let mut closed = Vec::new();
    for o in d.orders.iter().filter(|o| o.state == OrderState::CancelRequested) {
        closed.extend(t.cancel_ok(&o.request.client_order_id).closed);
    }
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].dust, Decimal::ZERO);
    assert_eq!(t.e.phase().kind(), PhaseKind::Idle);
}

#[test]
fn late_fill_of_a_cancel_requested_take_profit_with_no_replacement_changes_nothing_else() {
    let mut t = T::new(&bot(""));
    let out = t.open_at(dec!(100));
    let (so1, tp1) = (placed(&out)[0].clone(), placed(&out)[3].clone());
    let _ = t.fill(&so1.client_order_id, so1.quantity, dec!(98));
    // The old take profit fills partly while its cancel is on the way.
    let out = t.fill(&tp1.client_order_id, dec!(0.4), dec!(101));
    assert!(out.actions.is_empty());
    let out = t.cancel_ok(&tp1.client_order_id);
    assert_eq!(placed(&out)[0].quantity, dec!(2.640));
}

// ----- item 18: stop while the base order is in flight -----------------

#[test]
fn stop_with_cancel_while_the_base_order_is_in_flight_places_nothing_on_its_fill() {
    let mut t = T::new(&bot(""));
    let base = placed(&t.tick(dec!(100)))[0].clone();
    let out = t.cmd(Command::Stop { cancel_orders: true }).unwrap();
    assert_eq!(canceled(&out), vec![base.client_order_id.clone()]);
    // The base order filled before the cancel reached the exchange.
    let out = t.fill(&base.client_order_id, base.quantity, dec!(100));
    assert!(out.actions.is_empty(), "stopped: no ladder, no take profit: {:?}", out.actions);
    let deal = t.e.deal().unwrap();
    assert_eq!((t.e.phase().kind(), deal.take_profit.is_managed()), (PhaseKind::Open, false));
    assert_eq!(deal.position.entry_qty(), base.quantity);
    assert!(t.tick(dec!(50)).actions.is_empty(), "unmanaged: nothing fires");
    // `start` resumes it: the whole ladder and the take profit.
    let roles: Vec<_> = placed(&t.cmd(Command::Start).unwrap()).iter().map(|o| o.role).collect();
    assert_eq!(roles, vec![OrderRole::Safety(1), OrderRole::Safety(2), OrderRole::Safety(3), OrderRole::TakeProfit]);
}

#[test]
fn stop_with_cancel_while_the_base_order_is_in_flight_aborts_when_nothing_filled() {
    let mut t = T::new(&bot(""));
    let base = placed(&t.tick(dec!(100)))[0].clone();
    let _ = t.cmd(Command::Stop { cancel_orders: true }).unwrap();
    let out = t.cancel_ok(&base.client_order_id);
    assert_eq!(out.closed.len(), 1);
    assert_eq!(out.closed[0].exit, ExitKind::Aborted);
    assert_eq!(t.e.phase().kind(), PhaseKind::Idle);
    assert!(t.tick(dec!(100)).actions.is_empty(), "stopped: no new deal");
}

#[test]
fn stop_without_cancel_while_the_base_order_is_in_flight_keeps_managing_the_deal() {
    let mut t = T::new(&bot(""));
    let base = placed(&t.tick(dec!(100)))[0].clone();
    assert!(t.cmd(Command::Stop { cancel_orders: false }).unwrap().actions.is_empty());
    let out = t.fill(&base.client_order_id, base.quantity, dec!(100));
    assert_eq!(placed(&out).len(), 4, "the deal runs to its end, only no new deal starts");
}

// ----- item 19: limit fills within their limit --------------------------

#[rstest]
#[case::buy_above_limit(0, dec!(98.01), false)]
#[case::buy_absurdly_high(0, dec!(10000000000000), false)]
#[case::buy_absurdly_low(0, dec!(0.01), false)]
#[case::buy_at_limit(0, dec!(98), true)]
#[case::buy_improved(0, dec!(97.5), true)]
#[case::buy_improved_100x(0, dec!(0.98), true)]
#[case::buy_improved_beyond_100x(0, dec!(0.97), false)]
#[case::sell_below_limit(3, dec!(100.99), false)]
#[case::sell_at_limit(3, dec!(101), true)]
#[case::sell_improved(3, dec!(102), true)]
#[case::sell_improved_beyond_100x(3, dec!(10100.01), false)]
fn limit_fills_only_at_or_better_than_the_limit(#[case] order: usize, #[case] price: Decimal, #[case] ok: bool) {
    let mut t = T::new(&bot(""));
    let o = placed(&t.open_at(dec!(100)))[order].clone();
    let event = Event::Order {
        time: t.t + 1,
        update: OrderUpdate::Fill {
            client_order_id: o.client_order_id.clone(),
            cumulative_qty: o.quantity,
            price,
            fee: None,
        },
    };
    if ok {
        t.e.handle(event).unwrap();
    } else {
        let err = refused(&mut t, event);
        assert!(matches!(err, EngineError::FillPriceOutOfBounds { .. } | EngineError::InvalidFill { .. }), "{err}");
    }
}

#[test]
fn market_fills_accept_any_bounded_price() {
    // Slippage is the venue's: a market order has no limit to respect.
    let mut t = T::new(&bot(""));
    let base = placed(&t.tick(dec!(100)))[0].clone();
    let out = t.fill(&base.client_order_id, base.quantity, dec!(150));
    assert_eq!(placed(&out).len(), 4);
}

// ----- item 17: amounts at the API edge ----------------------------------

#[test]
fn hostile_fees_are_refused_and_change_nothing() {
    let mut t = T::new(&bot(""));
    let so = placed(&t.open_at(dec!(100)))[0].clone();
    let id = so.client_order_id.clone();
    let ev = |t: &T, fee| Event::Order {
        time: t.t + 1,
        update: OrderUpdate::Fill {
            client_order_id: id.clone(),
            cumulative_qty: dec!(1),
            price: dec!(98),
            fee: Some(fee),
        },
    };
    for fee in [
        FeeCharge::Quote(Decimal::MAX),
        FeeCharge::Quote(dec!(-0.01)),
        FeeCharge::Quote(dec!(98.01)), // above the fill's value
        FeeCharge::Base(dec!(1.001)),  // above the quantity filled
        FeeCharge::Base(dec!(-1)),
    ] {
        // Twice: the first refusal must not leave anything behind.
        for _ in 0..2 {
            let event = ev(&t, fee);
            let err = refused(&mut t, event);
            assert!(matches!(err, EngineError::InvalidAmount { field: "fill.fee", .. }), "{err}");
        }
    }
    // A sell's fee is in quote: a base fee on the take profit is refused.
    let tp = t.order(OrderRole::TakeProfit).request;
    let err = fill_with_fee(&mut t, &tp.client_order_id, dec!(0.5), dec!(101), FeeCharge::Base(dec!(0.001)));
    assert!(matches!(err, Err(EngineError::InvalidAmount { field: "fill.fee", .. })));
    // Plausible fees pass.
    fill_with_fee(&mut t, &id, dec!(1), dec!(98), FeeCharge::Base(dec!(0.001))).unwrap();
    fill_with_fee(&mut t, &id, dec!(2), dec!(98), FeeCharge::Quote(dec!(0.098))).unwrap();
}

#[test]
fn negative_cumulative_quantity_is_refused() {
    let mut t = T::new(&bot(""));
    let so = placed(&t.open_at(dec!(100)))[0].clone();
    let event = Event::Order {
        time: t.t + 1,
        update: OrderUpdate::Fill {
            client_order_id: so.client_order_id,
            cumulative_qty: dec!(-1),
            price: dec!(98),
            fee: None,
        },
    };
    assert!(matches!(refused(&mut t, event), EngineError::InvalidAmount { field: "fill.cumulative_qty", .. }));
}

#[rstest]
#[case::base_half_max(OrderSize::Base(Decimal::MAX / dec!(2)))]
#[case::quote_max(OrderSize::Quote(Decimal::MAX))]
#[case::negative(OrderSize::Quote(dec!(-50)))]
#[case::worth_more_than_1e13(OrderSize::Base(dec!(1000000000000)))]
fn absurd_add_funds_are_refused(#[case] size: OrderSize) {
    let mut t = T::new(&bot(""));
    let _ = t.open_at(dec!(100));
    let event = Event::Command { time: t.t + 1, command: Command::AddFunds { size } };
    let err = refused(&mut t, event);
    assert!(matches!(err, EngineError::InvalidAmount { field: "add_funds.size", .. }), "{err}");
}

#[rstest]
#[case::low_min(dec!(100), dec!(110), Decimal::MIN, dec!(105), "candle.low")]
#[case::high_max(dec!(100), Decimal::MAX, dec!(90), dec!(105), "candle.high")]
#[case::negative_open(dec!(-1), dec!(110), dec!(90), dec!(105), "candle.open")]
#[case::low_above_close(dec!(100), dec!(110), dec!(101), dec!(100.5), "candle.low")]
#[case::high_below_open(dec!(100), dec!(99), dec!(90), dec!(95), "candle.high")]
fn absurd_candles_are_refused(
    #[case] open: Decimal,
    #[case] high: Decimal,
    #[case] low: Decimal,
    #[case] close: Decimal,
    #[case] field: &str,
) {
    let mut t = T::new(&bot(""));
    let _ = t.open_at(dec!(100));
    let event = Event::Candle(Candle { time: t.t + 1, open, high, low, close });
    let err = refused(&mut t, event);
    assert!(matches!(err, EngineError::InvalidAmount { field: f, .. } if f == field), "{err}");
    // The public path function does not panic either.
    let _ = candle_path(&Candle { time: 0, open, high, low, close }, crate::config::PathModel::Adaptive);
}

// ----- issue 15 item 1: stale reports --------------------------------------

#[test]
fn late_reports_of_an_ended_deal_are_stale_not_errors() {
    let mut t = T::new(&bot(""));
    let out = t.open_at(dec!(100));
    let orders = placed(&out);
    let (so1, tp) = (orders[0].clone(), orders[3].clone());
    let out = t.fill(&tp.client_order_id, tp.quantity, dec!(101));
    for id in canceled(&out) {
        let _ = t.cancel_ok(&id);
    }
    assert_eq!((t.e.phase().kind(), t.e.totals().closed_deals), (PhaseKind::Idle, 1));
    // Deal 2 opens; reports of deal 1 still arrive.
    let _ = t.open_at(dec!(100));
    let before = t.e.deal().cloned();
    for update in [
        OrderUpdate::Canceled { client_order_id: so1.client_order_id.clone() },
        OrderUpdate::Fill {
            client_order_id: tp.client_order_id.clone(),
            cumulative_qty: tp.quantity,
            price: dec!(101),
            fee: None,
        },
    ] {
        let out = t.upd(update).unwrap();
        assert!(out.actions.is_empty() && out.closed.is_empty());
        assert_eq!(out.stale.len(), 1);
        assert_eq!(t.e.deal().cloned(), before);
    }
    // Ids this engine never issued are still errors: a future deal, another bot, garbage.
    for id in ["bot-3-s1-1", "bot-z-tp-1", "other-1-s1-1", "bot-1-s1", "nope"] {
        let err = t.upd(OrderUpdate::Canceled { client_order_id: ClientOrderId::from_raw(id) });
        assert!(matches!(err, Err(EngineError::UnknownOrder(_))), "{id}: {err:?}");
    }
    // An id of the open deal that it never sent is unknown too.
    let err = t.upd(OrderUpdate::Canceled { client_order_id: ClientOrderId::from_raw("bot-2-s1-77") });
    assert!(matches!(err, Err(EngineError::UnknownOrder(_))));
}

#[test]
fn stale_reports_with_start_generations() {
    // 1_765_000_000_000 ms -> generation stamp "t6u2ps".
    let e = Engine::starting_at(BotId::new("bot").unwrap(), &bot(""), 1_765_000_000_000).unwrap();
    let mut t = T { e, t: 1_765_000_000_000 };
    t.cmd(Command::Start).unwrap();
    let out = t.open_at(dec!(100));
    let tp = placed(&out)[3].clone();
    assert_eq!(tp.client_order_id.as_str(), "bot-t6u2ps-1-tp-4");
    let out = t.fill(&tp.client_order_id, tp.quantity, dec!(101));
    for id in canceled(&out) {
        let _ = t.cancel_ok(&id);
    }
    let _ = t.open_at(dec!(100));
    let stale = |t: &mut T, id: &str| t.upd(OrderUpdate::Canceled { client_order_id: ClientOrderId::from_raw(id) });
    // Deal 1 of this generation, and any deal of an earlier generation of this bot.
    assert_eq!(stale(&mut t, "bot-t6u2ps-1-s2-2").unwrap().stale.len(), 1);
    assert_eq!(stale(&mut t, "bot-t6u2pr-9-tp-4").unwrap().stale.len(), 1);
    // A later generation, a later deal, the short form, another bot: never issued.
    for id in ["bot-t6u2pt-1-tp-4", "bot-t6u2ps-3-b-0", "bot-1-b-0", "bo-t6u2ps-1-b-0", "bot-t6u2ps-2-s1-99"] {
        assert!(matches!(stale(&mut t, id), Err(EngineError::UnknownOrder(_))), "{id}");
    }
}

// ----- item 8: snapshots are input --------------------------------------

#[rstest]
#[case::huge_n(r#""max_safety_orders":3"#, r#""max_safety_orders":4294967295"#, "max_safety_orders")]
#[case::fee_rate(r#""maker":"0.001""#, r#""maker":"2""#, "maker")]
#[case::tick(r#""tick_size":"0.01""#, r#""tick_size":"-1""#, "tick")]
#[case::negative_position(r#""entry_qty":"1""#, r#""entry_qty":"-1""#, "position.entry_qty")]
#[case::huge_position(r#""entry_qty":"1""#, r#""entry_qty":"79228162514264337593543950335""#, "position.entry_qty")]
#[case::negative_pool(r#""reinvest_pool":"0""#, r#""reinvest_pool":"-1""#, "reinvest_pool")]
#[case::price(r#""last_price":"100""#, r#""last_price":"-5""#, "last_price")]
#[case::scale(r#""scale":"1""#, r#""scale":"0""#, "deal.scale")]
fn hostile_snapshots_are_refused(#[case] from: &str, #[case] to: &str, #[case] named: &str) {
    let mut t = T::new(&bot(""));
    let _ = t.open_at(dec!(100));
    let json = t.e.to_json();
    assert!(json.contains(from), "fixture: {from} not in {json}");
    let err = Engine::from_json(&json.replacen(from, to, 1)).unwrap_err().to_string();
    assert!(err.contains(named), "{err}");
    // The untouched snapshot restores exactly.
    assert_eq!(Engine::from_json(&json).unwrap(), t.e);
}

#[test]
fn a_zero_level_quantity_in_a_snapshot_is_refused() {
    let mut t = T::new(&bot(""));
    let _ = t.open_at(dec!(100));
    let mut v: serde_json::Value = serde_json::from_str(&t.e.to_json()).unwrap();
    v["phase"]["deal"]["levels"][0]["quantity"] = serde_json::json!("0");
    let err = Engine::from_json(&v.to_string()).unwrap_err().to_string();
    assert!(err.contains("deal.levels.quantity"), "{err}");
}

#[test]
fn derived_snapshot_fields_are_recomputed_not_trusted() {
    let mut t = T::new(&bot(""));
    let _ = t.open_at(dec!(100));
    let mut v: serde_json::Value = serde_json::from_str(&t.e.to_json()).unwrap();
    v["levels_spec"] = serde_json::json!([["99.999", {"quote": "1"}]]);
    v["deviations"] = serde_json::json!(["1"]);
    assert_eq!(Engine::from_json(&v.to_string()).unwrap(), t.e);
}

// ----- item 12: ladders whose arithmetic overflows ---------------------

fn overflow_bots() -> Vec<(&'static str, String)> {
    let market = r#""market": {"tick_size": "0.01", "step_size": "0.00001", "min_notional": "5"}"#;
    vec![
        (
            "custom level 99.9999999999999999999 % from the previous",
            format!(
                r#"{{"strategy": {{"base_order": {{"quote": "100"}}, "take_profit": {{"percent": "1"}},
                "safety_anchor": "previous", "custom_levels": [{{"deviation": "1", "size": {{"quote": "100"}}}},
                {{"deviation": "99.9999999999999999999", "size": {{"quote": "100"}}}}]}}, {market}}}"#
            ),
        ),
        (
            "base-sized safety order 1e13, v = 10, N = 13",
            format!(
                r#"{{"strategy": {{"base_order": {{"quote": "100"}}, "take_profit": {{"percent": "1"}},
                "safety_order": {{"base": "10000000000000"}}, "volume_scale": "10", "max_safety_orders": 13,
                "price_deviation": "1"}}, {market}}}"#
            ),
        ),
        (
            "quote safety order 1e13, v = 2, N = 53",
            format!(
                r#"{{"strategy": {{"base_order": {{"quote": "100"}}, "take_profit": {{"percent": "1"}},
                "safety_order": {{"quote": "10000000000000"}}, "volume_scale": "2", "max_safety_orders": 53,
                "price_deviation": "0.1"}}, {market}}}"#
            ),
        ),
    ]
}

#[test]
fn overflowing_ladders_are_typed_errors_in_plan_engine_and_backtest() {
    use crate::backtest::{backtest, synthetic, BacktestOptions, Mode as BtMode};
    let candles = synthetic::random_walk(3, 300, 60_000, 43_250.0, 0.002);
    for (name, json) in overflow_bots() {
        // Validation may refuse a file (the config's bounds): a typed error,
        // fine. What it accepts must be refused below, never panic.
        let file: BotFile = serde_json::from_str(&json).unwrap_or_else(|err| panic!("{name}: fixture: {err}"));
        if file.validate().is_err() {
            continue;
        }
        let planned = crate::ladder::plan(&file.strategy, &file.market, dec!(43250.17));
        assert!(planned.is_err(), "{name}: plan accepted {planned:?}");
        let mut e = Engine::new(BotId::new("ovf").unwrap(), &file).unwrap();
        e.handle(Event::Command { time: 0, command: Command::Start }).unwrap();
        for (i, p) in [dec!(43250.17), dec!(0.01), dec!(10000000000000)].into_iter().enumerate() {
            let time = 1 + i64::try_from(i).unwrap();
            let before = e.clone();
            let err = e.handle(Event::Tick { time, price: p }).unwrap_err();
            assert!(matches!(err, EngineError::Ladder(_)), "{name}: {err}");
            assert_eq!(e, before);
        }
        for mode in [BtMode::Fast, BtMode::Reference] {
            let _ = backtest(&file, &candles, &BacktestOptions { mode, ..Default::default() });
        }
    }
}
