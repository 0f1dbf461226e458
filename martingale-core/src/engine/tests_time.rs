//! SPEC section 10 time limit: trigger prices by hand, long and short, and
//! closing at once.

use rstest::rstest;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::tests::{bot, canceled, placed, T};
use super::*;
use crate::pnl::ExitKind;

const HOUR: TimeMs = 3_600_000;

/// Opens a deal at 100 (base: 1 BTC for 100 quote, taker fee 0.2) and
/// returns the time the base filled.
fn opened(t: &mut T) -> TimeMs {
    let _ = t.open_at(dec!(100));
    t.e.deal().unwrap().entered_at.unwrap()
}

fn tick_at(t: &mut T, time: TimeMs, price: Decimal) -> Output {
    t.t = time;
    t.ev(Event::Tick { time, price })
}

/// Long, m = 0.5: x >= (100 * 1.005 + 0.2 - 0) / (1 * 0.998) = 100.9018...
/// -> 100.91. Short, m = 0.5: x <= (100 - 0 - 0.2 - 0.5) / (1 * 1.002) =
/// 99.1017... -> 99.10. Long, m = -2 (a loss capped at 2 %): 98.2 / 0.998
/// = 98.3968 -> 98.40.
#[rstest]
#[case("long", "0.5", dec!(100.91), dec!(100.90))]
#[case("short", "0.5", dec!(99.10), dec!(99.11))]
#[case("long", "-2", dec!(98.40), dec!(98.39))]
fn the_trigger_is_the_first_price_making_the_minimum(
    #[case] side: &str,
    #[case] min_profit: &str,
    #[case] trigger: Decimal,
    #[case] short_of_it: Decimal,
) {
    let extra = format!(r#", "side": "{side}", "time_limit": {{"secs": 3600, "min_profit_percent": "{min_profit}"}}"#);
    let mut t = T::new(&bot(&extra));
    let start = opened(&mut t);
    // Not yet: an hour less a millisecond, at the trigger itself.
    assert!(tick_at(&mut t, start + HOUR - 1, trigger).actions.is_empty());
    assert_eq!(t.e.watch().time_limit, None);
    assert!(tick_at(&mut t, start + HOUR, short_of_it).actions.is_empty());
    assert_eq!(t.e.watch().time_limit, Some(trigger));
    let out = tick_at(&mut t, start + HOUR + 1, trigger);
    assert!(!canceled(&out).is_empty(), "the time limit fires: resting orders are canceled");
    let mut exit = Vec::new();
    for id in canceled(&out) {
        exit.extend(placed(&t.cancel_ok(&id)));
    }
    assert_eq!(exit.len(), 1, "{exit:?}");
    assert_eq!(exit[0].role, OrderRole::TimeLimit);
    assert_eq!(exit[0].kind, OrderKind::Market { reference_price: trigger });
    let out = t.fill(&exit[0].client_order_id, exit[0].quantity, trigger);
    assert_eq!(out.closed[0].exit, ExitKind::TimeLimit);
    assert_eq!(t.e.totals().time_limit, 1);
    // The deal's P&L at the trigger is at least the minimum (by at most a
    // tick's worth more).
    let cost = out.closed[0].cost;
    assert!(out.closed[0].pnl >= cost * min_profit.parse::<Decimal>().unwrap() / dec!(100), "{:?}", out.closed[0]);
}

/// Without `min_profit_percent` the deal closes at the first price past the
/// limit, whatever it is.
#[test]
fn without_a_minimum_it_closes_at_once() {
    let mut t = T::new(&bot(r#", "time_limit": {"secs": 60}"#));
    let start = opened(&mut t);
    assert!(tick_at(&mut t, start + 59_999, dec!(93)).actions.is_empty());
    let out = tick_at(&mut t, start + 60_000, dec!(93));
    assert!(!canceled(&out).is_empty());
    assert_eq!(t.e.phase().kind(), PhaseKind::Closing);
}

/// In a simulation the clock counts whole candles: with hourly candles and
/// a 90-minute limit, a deal whose base filled in the candle opening at
/// 10:00 is past it from the candle opening at 12:00 (events inside a
/// candle carry its last millisecond).
#[test]
fn in_candles_the_limit_counts_whole_candles() {
    let mut t = T::new(&bot(r#", "time_limit": {"secs": 5400}"#));
    t.e.set_clock_grain(Some(HOUR));
    let ten = 10 * HOUR;
    t.t = ten;
    let out = t.ev(Event::Tick { time: ten, price: dec!(100) });
    let base = placed(&out)[0].clone();
    t.ev(Event::Order {
        time: ten,
        update: OrderUpdate::Fill {
            client_order_id: base.client_order_id,
            cumulative_qty: base.quantity,
            price: dec!(100),
            fee: None,
        },
    });
    // 11:59:59.999 (inside the 11:00 candle): 1 h 59 min of exact time, but
    // the 11:00 candle opens only 1 h after 10:00.
    assert!(tick_at(&mut t, 12 * HOUR - 1, dec!(99)).actions.is_empty());
    assert_eq!(t.e.time_limit_from(), Some(ten + 5_400_000));
    let out = tick_at(&mut t, 13 * HOUR - 1, dec!(99));
    assert!(!canceled(&out).is_empty(), "the 12:00 candle is past the limit");
}

#[rstest]
#[case(r#"{"secs": 10000000001}"#, "time_limit.secs")]
#[case(r#"{"secs": 60, "min_profit_percent": "-100"}"#, "time_limit.min_profit_percent")]
#[case(r#"{"secs": 60, "min_profit": "1"}"#, "unknown field")]
fn impossible_time_limits_name_the_field(#[case] limit: &str, #[case] field: &str) {
    let json = format!(
        r#"{{"strategy": {{"base_order": {{"quote": "100"}}, "max_safety_orders": 0,
            "take_profit": {{"percent": "1"}}, "time_limit": {limit} }},
            "market": {{"tick_size": "0.01", "step_size": "0.001"}}}}"#
    );
    let e = crate::config::BotFile::from_json(&json).unwrap_err().to_string();
    assert!(e.contains(field), "{limit}: {e}");
}
