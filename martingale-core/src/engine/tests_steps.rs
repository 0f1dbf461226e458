//! SPEC section 10 take-profit steps and the break-even stop, with
//! hand-computed prices, quantities and P&L, long and short.
//!
//! The bot: base order 100 quote at 100 (1.000), safety orders of 200
//! quote 2 % apart, maker 0.1 %, taker 0.2 % (quote), tick 0.01, step
//! 0.001, min notional 5. Steps: 1 % closes 40 %, 2 % closes 60 %.
//!
//! Long, after the base and safety 1 (98 x 2.040) filled: 3.040 held at
//! 299.92 / 3.04 = 98.657894736842105263157894737; step 1 at avg x 1.01 =
//! 99.6444... rounded up, 99.65, for floor(3.040 x 0.4) = 1.216; step 2 at
//! avg x 1.02 = 100.6310... -> 100.64 for the remaining 1.824. Once step 1
//! filled (exit value 121.1744, fees 0.2 + 0.19992 + 0.1211744), break-even
//! = (299.92 - 121.1744 + 0.5210944) / (1.824 x 0.998) = 98.4791... -> 98.47.
//! Both steps: exit price (121.1744 + 183.56736) / 3.04 = 100.244, P&L
//! 4.11709824. Stopped at break-even: P&L -0.01663296 (one tick below).
//!
//! Short mirror: safety 1 at 102 for 1.960, avg 101.324324...; steps at
//! 100.31 (1.184) and 99.29 (1.776); break-even 101.5054... -> 101.51.

use rstest::rstest;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::tests::{canceled, limit_price, placed, T};
use super::*;
use crate::config::BotFile;
use crate::pnl::ExitKind;

fn steps_bot(side: &str, steps: &str, extra: &str) -> BotFile {
    let json = format!(
        r#"{{"strategy": {{"side": "{side}", "base_order": {{"quote": "100"}}, "safety_order": {{"quote": "200"}},
            "max_safety_orders": 3, "price_deviation": "2", "take_profit": {{"steps": {steps}}} {extra} }},
            "market": {{"tick_size": "0.01", "step_size": "0.001", "min_notional": "5"}},
            "fees": {{"maker": "0.001", "taker": "0.002"}}}}"#
    );
    BotFile::from_json(&json).unwrap()
}

const TWO_STEPS: &str = r#"[{"percent": "1", "close": "40"}, {"percent": "2", "close": "60"}]"#;

fn step_orders(t: &T) -> Vec<(OrderRole, Decimal, Decimal)> {
    let d = t.e.deal().unwrap();
    d.orders
        .iter()
        .filter(|o| o.state.is_live() && o.state != OrderState::CancelRequested && o.request.role.is_take_profit())
        .map(|o| (o.request.role, limit_price(&o.request), o.request.quantity))
        .collect()
}

/// Confirms every cancel `out` asked for (and those they lead to); the
/// deals closed on the way.
fn settle(t: &mut T, out: Output) -> Vec<DealReport> {
    let mut closed = out.closed.clone();
    let mut pending = canceled(&out);
    while let Some(id) = pending.pop() {
        let out = t.cancel_ok(&id);
        pending.extend(canceled(&out));
        closed.extend(out.closed);
    }
    closed
}

fn step(first: u8, last: u8) -> OrderRole {
    OrderRole::TakeProfitStep { first, last }
}

/// Opens at 100, fills safety 1 at `s1`, confirms the steps' cancels.
fn open_and_average(t: &mut T, s1: Decimal) {
    let out = t.open_at(dec!(100));
    let safety = placed(&out).into_iter().find(|o| o.role == OrderRole::Safety(1)).unwrap();
    let out = t.fill(&safety.client_order_id, safety.quantity, s1);
    for id in canceled(&out) {
        let _ = t.cancel_ok(&id);
    }
}

#[rstest]
#[case("long", dec!(98), [dec!(99.65), dec!(100.64)], [dec!(1.216), dec!(1.824)], dec!(98.47), dec!(100.244), dec!(4.11709824))]
#[case("short", dec!(102), [dec!(100.31), dec!(99.29)], [dec!(1.184), dec!(1.776)], dec!(101.51), dec!(99.698), dec!(4.11889392))]
fn steps_follow_the_position_then_stop_the_ladder(
    #[case] side: &str,
    #[case] s1: Decimal,
    #[case] prices: [Decimal; 2],
    #[case] qty: [Decimal; 2],
    #[case] breakeven: Decimal,
    #[case] exit_price: Decimal,
    #[case] pnl: Decimal,
) {
    let extra = r#", "stop_loss": {"percent": "20", "breakeven_after_step": 1}"#;
    let mut t = T::new(&steps_bot(side, TWO_STEPS, extra));
    let out = t.open_at(dec!(100));
    let first: Vec<_> = placed(&out).iter().filter(|o| o.role.is_take_profit()).map(limit_price).collect();
    let at_base = if side == "long" { [dec!(101), dec!(102)] } else { [dec!(99), dec!(98)] };
    assert_eq!(first, at_base, "at the base fill: priced from P0");
    let safety = placed(&out).into_iter().find(|o| o.role == OrderRole::Safety(1)).unwrap();
    let out = t.fill(&safety.client_order_id, safety.quantity, s1);
    assert_eq!(canceled(&out).len(), 2, "an entry fill re-prices both steps");
    for id in canceled(&out) {
        let _ = t.cancel_ok(&id);
    }
    assert_eq!(step_orders(&t), vec![(step(1, 1), prices[0], qty[0]), (step(2, 2), prices[1], qty[1])]);
    assert_eq!(t.e.deal().unwrap().step_prices, prices.to_vec());

    // Step 1 fills: the resting safety orders are canceled, none is placed
    // again, the stop moves to break-even.
    let id = t.order(step(1, 1)).request.client_order_id;
    let out = t.fill(&id, qty[0], prices[0]);
    let safeties: Vec<_> =
        t.e.deal()
            .unwrap()
            .orders
            .iter()
            .filter(|o| matches!(o.request.role, OrderRole::Safety(_)) && o.state == OrderState::CancelRequested)
            .map(|o| o.request.client_order_id.clone())
            .collect();
    assert_eq!(canceled(&out), safeties);
    assert!(!safeties.is_empty());
    assert!(placed(&out).is_empty());
    assert_eq!(t.e.deal().unwrap().breakeven, Some(breakeven));
    assert_eq!(t.e.watch().stop_loss, Some(breakeven), "tighter than the static 20 % stop");
    for id in safeties {
        assert!(placed(&t.cancel_ok(&id)).is_empty(), "no safety order after the first step");
    }
    assert_eq!(step_orders(&t), vec![(step(2, 2), prices[1], qty[1])], "step 2 keeps its price");

    // Step 2 fills: one deal, exit price the weighted average of both.
    let id = t.order(step(2, 2)).request.client_order_id;
    let out = t.fill(&id, qty[1], prices[1]);
    let report = &out.closed[0];
    assert_eq!((report.exit, report.exit_price, report.pnl), (ExitKind::TakeProfit, Some(exit_price), pnl));
    assert_eq!(report.dust, dec!(0));
}

#[rstest]
#[case("long", dec!(98), dec!(98.47), dec!(98.942), dec!(-0.01663296))]
#[case("short", dec!(102), dec!(101.51), dec!(101.03), dec!(-0.00805056))]
fn the_breakeven_stop_closes_the_rest(
    #[case] side: &str,
    #[case] s1: Decimal,
    #[case] breakeven: Decimal,
    #[case] exit_price: Decimal,
    #[case] pnl: Decimal,
) {
    let extra = r#", "stop_loss": {"percent": "20", "breakeven_after_step": 1, "action": "close_and_stop"}"#;
    let mut t = T::new(&steps_bot(side, TWO_STEPS, extra));
    open_and_average(&mut t, s1);
    let step1 = t.order(step(1, 1)).request;
    let out = t.fill(&step1.client_order_id, step1.quantity, limit_price(&step1));
    for id in canceled(&out) {
        let _ = t.cancel_ok(&id);
    }
    let out = t.tick(breakeven);
    let mut exit = Vec::new();
    for id in canceled(&out) {
        exit.extend(placed(&t.cancel_ok(&id)));
    }
    assert_eq!(exit.len(), 1, "{exit:?}");
    assert_eq!(
        (exit[0].role, exit[0].quantity),
        (OrderRole::StopLoss, if side == "long" { dec!(1.824) } else { dec!(1.776) })
    );
    let out = t.fill(&exit[0].client_order_id, exit[0].quantity, breakeven);
    let report = &out.closed[0];
    assert_eq!((report.exit, report.exit_price, report.pnl), (ExitKind::StopLoss, Some(exit_price), pnl));
    assert_eq!(t.e.mode(), Mode::Stopped, "a break-even stop is a stop loss for close_and_stop");
}

/// Step 1's 2 % of 1.000 at 101 is 2.02 quote, below the 5 minimum: it is
/// merged into step 2, one order for everything at step 2's price, and its
/// fill completes both steps.
#[test]
fn a_step_below_the_minimums_merges_into_the_next() {
    let steps = r#"[{"percent": "1", "close": "2"}, {"percent": "2", "close": "8"}, {"percent": "3", "close": "90"}]"#;
    let mut t = T::new(&steps_bot("long", steps, ""));
    let _ = t.open_at(dec!(100));
    // 2 % + 8 % = 10 % of 1.000 at 102: 0.100 x 102 = 10.2 quote, placeable.
    assert_eq!(step_orders(&t), vec![(step(1, 2), dec!(102), dec!(0.1)), (step(3, 3), dec!(103), dec!(0.9))]);
    let id = t.order(step(1, 2)).request.client_order_id;
    let out = t.fill(&id, dec!(0.1), dec!(102));
    assert_eq!(canceled(&out).len(), 3, "the first step's fill cancels the ladder");
    assert!(settle(&mut t, out).is_empty());
    let d = t.e.deal().unwrap();
    assert!(d.step_done(1) && d.step_done(2) && !d.step_done(3));
    let id = t.order(step(3, 3)).request.client_order_id;
    let out = t.fill(&id, dec!(0.9), dec!(103));
    let closed = settle(&mut t, out);
    assert_eq!(closed[0].exit, ExitKind::TakeProfit);
    assert_eq!(closed[0].exit_price, Some(dec!(102.9)), "(10.2 + 92.7) / 1");
}

/// With a trailing take profit the last step is not placed: its price arms
/// the trailing exit, which sells the whole remainder by market.
#[test]
fn trailing_applies_to_the_last_step_only() {
    let mut t = T::new(&steps_bot("long", TWO_STEPS, r#", "trailing_take_profit": "0.5""#));
    let _ = t.open_at(dec!(100));
    assert_eq!(step_orders(&t), vec![(step(1, 1), dec!(101), dec!(0.4))]);
    assert_eq!(t.e.watch().trailing_arm, Some(dec!(102)));
    let id = t.order(step(1, 1)).request.client_order_id;
    let out = t.fill(&id, dec!(0.4), dec!(101));
    assert!(settle(&mut t, out).is_empty());
    assert!(t.e.deal().is_some(), "the remainder waits for the trailing exit");
    assert!(t.tick(dec!(103)).actions.is_empty(), "armed at 102, peak 103");
    // 103 x 0.995 = 102.485, rounded like a stop: 102.48.
    let out = t.tick(dec!(102.48));
    let mut exit = placed(&out);
    for id in canceled(&out) {
        exit.extend(placed(&t.cancel_ok(&id)));
    }
    assert_eq!(exit.len(), 1, "{exit:?}");
    assert_eq!((exit[0].role, exit[0].quantity), (OrderRole::Trailing, dec!(0.6)));
    let out = t.fill(&exit[0].client_order_id, dec!(0.6), dec!(102.48));
    let closed = settle(&mut t, out);
    assert_eq!(closed[0].exit, ExitKind::Trailing, "the kind of the last exit fill");
}

/// A step canceled by the venue while the trailing last step is armed:
/// the steps are placed again and the trailing exit stays armed at its
/// peak (the target did not move); an entry fill would disarm it.
#[test]
fn a_lost_step_is_placed_again_and_the_trailing_exit_stays_armed() {
    let mut t = T::new(&steps_bot("long", TWO_STEPS, r#", "trailing_take_profit": "0.5""#));
    let _ = t.open_at(dec!(100));
    assert!(t.tick(dec!(103)).actions.is_empty(), "armed at 102, peak 103");
    assert_eq!(t.e.watch().trailing_exit, Some(dec!(102.48)));
    let id = t.order(step(1, 1)).request.client_order_id;
    let out = t.upd(OrderUpdate::Canceled { client_order_id: id.clone() }).unwrap();
    let again = placed(&out);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!((again[0].role, limit_price(&again[0]), again[0].quantity), (step(1, 1), dec!(101), dec!(0.4)));
    assert_ne!(again[0].client_order_id, id, "a new order, a new id");
    let tp = t.e.deal().unwrap().take_profit;
    assert_eq!(tp, TakeProfitState::Placed { price: dec!(102), trailing: Some(Trailing { peak: dec!(103) }) });
    assert_eq!(t.e.watch().trailing_exit, Some(dec!(102.48)), "still armed");
    // The exit fires at the same level as before the loss: every resting
    // order is canceled, then the trailing exit sells the whole position.
    let out = t.tick(dec!(102.48));
    assert!(canceled(&out).contains(&again[0].client_order_id), "{out:?}");
    let mut exit = Vec::new();
    for id in canceled(&out) {
        exit.extend(placed(&t.cancel_ok(&id)));
    }
    assert_eq!(exit.iter().map(|o| (o.role, o.quantity)).collect::<Vec<_>>(), vec![(OrderRole::Trailing, dec!(1))]);
}

#[test]
fn step_settings_are_validated() {
    let bad = [
        (r#"[{"percent": "1", "close": "40"}, {"percent": "2", "close": "50"}]"#, "", "sum to 90"),
        (r#"[{"percent": "2", "close": "40"}, {"percent": "1", "close": "60"}]"#, "", "steps[1].percent"),
        (TWO_STEPS, r#", "stop_loss": {"percent": "20", "breakeven_after_step": 2}"#, "breakeven_after_step"),
        (TWO_STEPS, r#", "stop_loss": {"percent": "20", "breakeven_after_step": 0}"#, "breakeven_after_step"),
    ];
    for (steps, extra, needle) in bad {
        let json = format!(
            r#"{{"strategy": {{"base_order": {{"quote": "100"}}, "max_safety_orders": 0, "take_profit": {{"steps": {steps}}} {extra}}},
                "market": {{"tick_size": "0.01", "step_size": "0.001"}}}}"#
        );
        let e = BotFile::from_json(&json).unwrap_err().to_string();
        assert!(e.contains(needle), "{needle}: {e}");
    }
    let market = r#""market": {"tick_size": "0.01", "step_size": "0.001"}"#;
    let both = format!(
        r#"{{"strategy": {{"base_order": {{"quote": "100"}}, "max_safety_orders": 0, "take_profit": {{"percent": "1", "steps": []}}}}, {market}}}"#
    );
    assert!(BotFile::from_json(&both).unwrap_err().to_string().contains("not both"));
    let breakeven_alone = format!(
        r#"{{"strategy": {{"base_order": {{"quote": "100"}}, "max_safety_orders": 0, "take_profit": {{"percent": "1"}},
        "stop_loss": {{"percent": "5", "breakeven_after_step": 1}}}}, {market}}}"#
    );
    let e = BotFile::from_json(&breakeven_alone).unwrap_err().to_string();
    assert!(e.contains("breakeven_after_step"), "{e}");
}
