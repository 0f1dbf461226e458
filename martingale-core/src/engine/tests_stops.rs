//! SPEC section 10 stop-loss extras: the trailing stop loss (long and
//! short, hand-computed prices) and `action = close_and_stop`.

use rstest::rstest;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::tests::{bot, canceled, placed, T};
use super::*;
use crate::pnl::ExitKind;

/// Ladder of the test bot: safety orders 2 %, 4 %, 6 % away; stop 8 % on
/// the average, trailing. Long: static stop 92; after a high of 104 the
/// trailing stop is 104 * 0.92 = 95.68. Short: static 108; after a low of
/// 96 it is 96 * 1.08 = 103.68.
#[rstest]
#[case("long", dec!(104), dec!(95.68), dec!(95.69))]
#[case("short", dec!(96), dec!(103.68), dec!(103.67))]
fn the_trailing_stop_follows_the_best_price(
    #[case] side: &str,
    #[case] best: Decimal,
    #[case] stop: Decimal,
    #[case] short_of_it: Decimal,
) {
    let extra =
        format!(r#", "side": "{side}", "stop_loss": {{"percent": "8", "trailing": true, "action": "close_and_stop"}}"#);
    let mut t = T::new(&bot(&extra));
    let _ = t.open_at(dec!(100));
    let static_stop = if side == "long" { dec!(92) } else { dec!(108) };
    assert_eq!(t.e.watch().stop_loss, Some(static_stop), "at the entry the static stop is the tighter");
    assert!(t.tick(best).actions.is_empty());
    assert_eq!(t.e.watch().stop_loss, Some(stop));
    // It never moves back: a worse price leaves it where it is.
    assert!(t.tick(dec!(100)).actions.is_empty());
    assert_eq!(t.e.watch().stop_loss, Some(stop));
    assert!(t.tick(short_of_it).actions.is_empty(), "not reached yet");
    let out = t.tick(stop);
    assert!(!canceled(&out).is_empty(), "the stop fires: resting orders are canceled");
    let out = exit_fills(&mut t, &out, stop);
    assert_eq!(out.closed[0].exit, ExitKind::StopLoss);
    // close_and_stop: the bot stops; no deal opens until `start`.
    assert_eq!(t.e.mode(), Mode::Stopped);
    assert!(t.tick(dec!(100)).actions.is_empty());
    let _ = t.cmd(Command::Start).unwrap();
    assert!(!placed(&t.tick(dec!(100))).is_empty(), "started again, the next deal opens");
}

/// Confirms the cancels `out` asked for; the stop's market exit then goes
/// out (checked: at `price`) and fills there. Returns the fill's output.
fn exit_fills(t: &mut T, out: &Output, price: Decimal) -> Output {
    let mut exit = Vec::new();
    for id in canceled(out) {
        exit.extend(placed(&t.cancel_ok(&id)));
    }
    assert_eq!(exit.len(), 1, "{exit:?}");
    assert_eq!(exit[0].role, OrderRole::StopLoss);
    assert_eq!(exit[0].kind, OrderKind::Market { reference_price: price });
    t.fill(&exit[0].client_order_id, exit[0].quantity, price)
}

/// An entry fill resets the peak to the fill's price (SPEC 10.1): after a
/// safety order fills at 98 the trailing stop is measured from 98, and the
/// static stop on the new average is the tighter one.
#[test]
fn an_entry_fill_resets_the_peak() {
    let mut t = T::new(&bot(r#", "stop_loss": {"percent": "8", "trailing": true}"#));
    let _ = t.open_at(dec!(100));
    let _ = t.tick(dec!(103));
    assert_eq!(t.e.watch().stop_loss, Some(dec!(94.76)), "103 * 0.92");
    let so = t.order(OrderRole::Safety(1)).request;
    let _ = t.fill(&so.client_order_id, so.quantity, dec!(98));
    assert_eq!(t.e.deal().unwrap().stop_peak, Some(dec!(98)));
    // Average (100 * 1 + 98 * 2.040) / 3.040 = 98.6578...; its 8 % stop is
    // 90.7652... -> 90.76, above the trailing 98 * 0.92 = 90.16.
    assert_eq!(t.e.watch().stop_loss, Some(dec!(90.76)));
}

/// Without `trailing` the stop stays static and `close` (the default) lets
/// the bot carry on; neither field is written back when at its default.
#[test]
fn a_static_stop_closes_and_carries_on() {
    let file = bot(r#", "stop_loss": {"percent": "8"}"#);
    let written = serde_json::to_string(&file.strategy.stop_loss).unwrap();
    assert!(!written.contains("trailing") && !written.contains("action"), "{written}");
    let mut t = T::new(&file);
    let _ = t.open_at(dec!(100));
    let _ = t.tick(dec!(110));
    assert_eq!(t.e.watch().stop_loss, Some(dec!(92)));
    assert_eq!(t.e.deal().unwrap().stop_peak, None);
    let out = t.tick(dec!(92));
    let out = exit_fills(&mut t, &out, dec!(92));
    assert_eq!(out.closed[0].exit, ExitKind::StopLoss);
    assert_eq!(t.e.mode(), Mode::Running);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        /// Between entry fills a trailing stop only moves in the trader's
        /// favour (up for a long, down for a short), whatever the path, and
        /// it is never looser than the static stop.
        #[test]
        fn the_trailing_stop_never_moves_against_the_trader(
            short in any::<bool>(),
            steps in proptest::collection::vec(-300i64..300, 1..60),
        ) {
            let side = if short { "short" } else { "long" };
            let extra = format!(r#", "side": "{side}", "stop_loss": {{"percent": "8", "trailing": true}}"#);
            let mut t = T::new(&bot(&extra));
            let _ = t.open_at(dec!(100));
            let static_stop = t.e.watch().stop_loss.unwrap();
            let mut last = static_stop;
            let mut price = dec!(100);
            for s in steps {
                // Stay between the ladder's first safety level and the take
                // profit on either side, so no entry or exit fills (ticks
                // alone never fill an order here).
                price = (price + Decimal::new(s, 2)).clamp(dec!(98.5), dec!(101.5));
                let out = t.tick(price);
                let Some(stop) = t.e.watch().stop_loss else { break };
                if short {
                    prop_assert!(stop <= last && stop <= static_stop, "{stop} after {last}");
                } else {
                    prop_assert!(stop >= last && stop >= static_stop, "{stop} after {last}");
                }
                prop_assert!(out.actions.is_empty(), "the stop (8 %) is far from these prices");
                last = stop;
            }
        }
    }
}
