//! SPEC section 10 limit base order: prices, sizes and fees by hand, long
//! and short; the timeout, the retry and a partial fill; validation.

use rstest::rstest;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::tests::{bot, canceled, placed, T};
use super::*;
use crate::pnl::ExitKind;
use crate::OrderSide;

const HOUR: TimeMs = 3_600_000;

fn limit_bot(extra: &str) -> crate::config::BotFile {
    bot(&format!(r#", "base_order_type": "limit" {extra}"#))
}

/// Long, offset 0.5 % at 100.37: 100.37 * 0.995 = 99.86815 -> 99.86 (down);
/// 100 / 99.86 = 1.0014... -> 1.001. Short: 100.37 * 1.005 = 100.87185 ->
/// 100.88 (up); 100 / 100.88 = 0.99127... -> 0.991.
#[rstest]
#[case("long", OrderSide::Buy, dec!(99.86), dec!(1.001))]
#[case("short", OrderSide::Sell, dec!(100.88), dec!(0.991))]
fn the_base_order_rests_at_the_offset(
    #[case] side: &str,
    #[case] order_side: OrderSide,
    #[case] price: Decimal,
    #[case] quantity: Decimal,
) {
    let mut t = T::new(&limit_bot(&format!(r#", "side": "{side}", "entry_offset_percent": "0.5""#)));
    let out = t.tick(dec!(100.37));
    let base = placed(&out);
    assert_eq!(base.len(), 1);
    assert_eq!((base[0].role, base[0].side), (OrderRole::Base, order_side));
    assert_eq!(base[0].kind, OrderKind::Limit { price });
    assert_eq!(base[0].quantity, quantity);
    // Nothing happens while it rests, whatever the price.
    assert!(t.tick(dec!(90)).actions.is_empty());
    assert_eq!(t.e.phase().kind(), PhaseKind::Opening);
    assert_eq!(t.e.entry_deadline(), None, "no timeout configured");
}

/// The long above fills at 99.86: P0 = 99.86, maker fee 0.001 * 99.95986 =
/// 0.09995986; safety 1 at 99.86 * 0.98 = 97.8628 -> 97.86 for 200 / 97.86
/// -> 2.043; take profit 99.86 * 1.01 = 100.8586 -> 100.86. Sold there:
/// 1.001 * 100.86 = 100.96086, maker fee 0.10096086; P&L = 100.96086 -
/// 99.95986 - 0.09995986 - 0.10096086 = 0.80007928.
#[test]
fn a_filled_limit_base_is_p0_and_pays_the_maker_fee() {
    let mut t = T::new(&limit_bot(r#", "entry_offset_percent": "0.5""#));
    let base = placed(&t.tick(dec!(100.37)))[0].clone();
    let out = t.fill(&base.client_order_id, base.quantity, dec!(99.86));
    let d = t.e.deal().unwrap();
    assert_eq!(d.entry_price, Some(dec!(99.86)));
    assert_eq!(d.position.quote_fees(), dec!(0.09995986));
    let orders = placed(&out);
    let safety = orders.iter().find(|o| o.role == OrderRole::Safety(1)).unwrap();
    assert_eq!((safety.kind, safety.quantity), (OrderKind::Limit { price: dec!(97.86) }, dec!(2.043)));
    let tp = orders.iter().find(|o| o.role == OrderRole::TakeProfit).unwrap();
    assert_eq!((tp.kind, tp.quantity), (OrderKind::Limit { price: dec!(100.86) }, dec!(1.001)));
    let mut out = t.fill(&tp.client_order_id, tp.quantity, dec!(100.86));
    for id in canceled(&out.clone()) {
        out.extend(t.cancel_ok(&id)); // the resting safety order
    }
    assert_eq!(out.closed[0].exit, ExitKind::TakeProfit);
    assert_eq!(out.closed[0].pnl, dec!(0.80007928));
}

/// Timeout 60 s: the first tick at or after placement + 60 s cancels the
/// base order; once canceled unfilled it is not a deal (no report, no
/// cooldown) and the next tick retries the start at its price, under a new
/// deal number (new client order ids).
#[test]
fn an_unfilled_entry_times_out_and_the_start_is_retried() {
    let mut t = T::new(&limit_bot(r#", "entry_timeout_secs": 60, "cooldown_secs": 3600"#));
    t.t = 0;
    let first = placed(&t.ev(Event::Tick { time: 1_000, price: dec!(100) }))[0].clone();
    assert_eq!(first.kind, OrderKind::Limit { price: dec!(100) });
    assert_eq!(t.e.entry_deadline(), Some(61_000));
    assert!(t.ev(Event::Tick { time: 60_999, price: dec!(101) }).actions.is_empty());
    let out = t.ev(Event::Tick { time: 61_000, price: dec!(102) });
    assert_eq!(canceled(&out), vec![first.client_order_id.clone()]);
    assert_eq!(t.e.entry_deadline(), None, "timed out");
    let out =
        t.e.handle(Event::Order {
            time: 61_000,
            update: OrderUpdate::Canceled { client_order_id: first.client_order_id.clone() },
        })
        .unwrap();
    assert!(out.closed.is_empty(), "a timed-out entry is not a deal");
    assert!(out.actions.is_empty() && t.e.start_pending(), "the next tick retries");
    assert!(t.e.would_start(61_000), "a tick would start it (a fleet gates it like any start)");
    let out = t.ev(Event::Tick { time: 61_000, price: dec!(102) });
    assert!(!t.e.start_pending());
    let retry = placed(&out);
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].kind, OrderKind::Limit { price: dec!(102) });
    assert_eq!(retry[0].quantity, dec!(0.98));
    assert_ne!(retry[0].client_order_id, first.client_order_id);
    assert_eq!(t.e.deal().unwrap().number, 2);
    assert_eq!(t.e.totals().closed_deals, 0);
    assert_eq!(t.e.entry_deadline(), Some(121_000));
    // A late report of the first entry is stale, not an error.
    let late = t
        .e
        .handle(Event::Order { time: 61_001, update: OrderUpdate::Canceled { client_order_id: first.client_order_id } })
        .unwrap();
    assert_eq!(late.stale.len(), 1);
}

/// Partly filled when it times out, the deal goes on with what filled.
#[test]
fn a_partly_filled_entry_that_times_out_opens_with_what_filled() {
    let mut t = T::new(&limit_bot(r#", "entry_timeout_secs": 60"#));
    let base = placed(&t.ev(Event::Tick { time: 0, price: dec!(100) }))[0].clone();
    t.e.handle(Event::Order {
        time: 10_000,
        update: OrderUpdate::Fill {
            client_order_id: base.client_order_id.clone(),
            cumulative_qty: dec!(0.4),
            price: dec!(100),
            fee: None,
        },
    })
    .unwrap();
    let out = t.ev(Event::Tick { time: 60_000, price: dec!(100.5) });
    assert_eq!(canceled(&out), vec![base.client_order_id.clone()]);
    let out = t
        .e
        .handle(Event::Order { time: 60_000, update: OrderUpdate::Canceled { client_order_id: base.client_order_id } })
        .unwrap();
    assert_eq!(t.e.phase().kind(), PhaseKind::Open);
    let tp = placed(&out).into_iter().find(|o| o.role == OrderRole::TakeProfit).unwrap();
    assert_eq!((tp.kind, tp.quantity), (OrderKind::Limit { price: dec!(101) }, dec!(0.4)));
}

/// `start_condition = signal`: the retry needs a signal pending at the tick
/// where the entry timed out (it held at that tick, as for any start).
#[rstest]
#[case(true)]
#[case(false)]
fn the_retry_follows_the_start_rules(#[case] signal_before_timeout: bool) {
    let mut t = T::new(&limit_bot(r#", "entry_timeout_secs": 60, "start_condition": "signal""#));
    t.ev(Event::Signal { time: 0 });
    let base = placed(&t.ev(Event::Tick { time: 1, price: dec!(100) }))[0].clone();
    if signal_before_timeout {
        t.ev(Event::Signal { time: 59_000 });
    }
    t.ev(Event::Tick { time: 60_001, price: dec!(99) });
    t.e.handle(Event::Order { time: 60_001, update: OrderUpdate::Canceled { client_order_id: base.client_order_id } })
        .unwrap();
    let out = t.ev(Event::Tick { time: 60_001, price: dec!(99) });
    assert_eq!(placed(&out).len(), usize::from(signal_before_timeout));
    let kind = if signal_before_timeout { PhaseKind::Opening } else { PhaseKind::Idle };
    assert_eq!(t.e.phase().kind(), kind);
}

/// In a simulation the timeout counts whole candles: placed in the 10:00
/// candle with a 90-minute timeout, the entry is canceled at the open of
/// the 12:00 candle, not inside the 11:00 one.
#[test]
fn in_candles_the_timeout_counts_whole_candles() {
    let mut t = T::new(&limit_bot(r#", "entry_timeout_secs": 5400"#));
    t.e.set_clock_grain(Some(HOUR));
    let ten = 10 * HOUR;
    placed(&t.ev(Event::Tick { time: ten, price: dec!(100) }));
    assert_eq!(t.e.entry_deadline(), Some(ten + 5_400_000));
    assert!(t.ev(Event::Tick { time: 12 * HOUR - 1, price: dec!(101) }).actions.is_empty());
    assert_eq!(canceled(&t.ev(Event::Tick { time: 12 * HOUR, price: dec!(101) })).len(), 1);
}

/// A deal stopped with `cancel_orders` while its limit base waits is
/// aborted as before, not retried.
#[test]
fn a_stopped_entry_is_not_retried() {
    let mut t = T::new(&limit_bot(r#", "entry_timeout_secs": 60"#));
    let base = placed(&t.tick(dec!(100)))[0].clone();
    let out = t.cmd(Command::Stop { cancel_orders: true }).unwrap();
    assert_eq!(canceled(&out), vec![base.client_order_id.clone()]);
    let out = t.cancel_ok(&base.client_order_id);
    assert!(placed(&out).is_empty());
    assert_eq!(out.closed[0].exit, ExitKind::Aborted);
}

#[rstest]
#[case(r#", "entry_offset_percent": "1""#, "entry_offset_percent")]
#[case(r#", "entry_timeout_secs": 60"#, "entry_timeout_secs")]
#[case(r#", "base_order_type": "limit", "entry_offset_percent": "100""#, "entry_offset_percent")]
#[case(r#", "base_order_type": "limit", "entry_offset_percent": "-1""#, "entry_offset_percent")]
#[case(r#", "base_order_type": "limit", "entry_timeout_secs": 0"#, "entry_timeout_secs")]
#[case(r#", "base_order_type": "limit", "entry_timeout_secs": 10000000001"#, "entry_timeout_secs")]
#[case(r#", "base_order_type": "stop""#, "base_order_type")]
fn impossible_limit_entries_name_the_field(#[case] extra: &str, #[case] field: &str) {
    let json = format!(
        r#"{{"strategy": {{"base_order": {{"quote": "100"}}, "max_safety_orders": 0,
            "take_profit": {{"percent": "1"}} {extra} }},
            "market": {{"tick_size": "0.01", "step_size": "0.001"}}}}"#
    );
    let e = crate::config::BotFile::from_json(&json).unwrap_err().to_string();
    assert!(e.contains(field), "{extra}: {e}");
}
