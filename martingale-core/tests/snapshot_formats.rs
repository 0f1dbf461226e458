//! Engine snapshots written by earlier releases still restore (issue 16:
//! "snapshots carry a format version"). `fixtures/engine-snapshot-format-1.json`
//! was written by the engine of format 1 (before the `"format"` field):
//! bot `fixture-bot`, example strategy, deal 1 closed by its take profit,
//! deal 2 open at 39000 with its base and first safety order filled, four
//! safety orders and the take profit resting, last price 38500.

use martingale_core::config::BotFile;
use martingale_core::engine::{
    Engine, Event, OrderState, OrderUpdate, PhaseKind, SnapshotError, ENGINE_SNAPSHOT_FORMAT,
};
use rust_decimal_macros::dec;

const FORMAT_1: &str = include_str!("fixtures/engine-snapshot-format-1.json");

#[test]
fn a_format_1_snapshot_restores_with_its_deal_orders_and_totals() {
    assert!(!FORMAT_1.contains("\"format\""), "the fixture predates the field");
    let e = Engine::from_json(FORMAT_1).unwrap();
    assert_eq!(e.bot_id().as_str(), "fixture-bot");
    assert_eq!(e.phase().kind(), PhaseKind::Open);
    assert_eq!((e.totals().closed_deals, e.totals().take_profit), (1, 1));
    let d = e.deal().unwrap();
    assert_eq!((d.number, d.entry_price, d.levels_filled), (2, Some(dec!(39000)), 1));
    assert_eq!(d.position.open_qty(), dec!(0.00776));
    assert_eq!(d.position.entry_value(), dec!(299.59800));
    let resting = d.orders.iter().filter(|o| o.state == OrderState::Open).count();
    assert_eq!(resting, 5, "four safety orders and the take profit rest");
    // The bot file it was written with still matches its settings.
    let bot = BotFile::example().unwrap();
    assert_eq!(e.strategy(), &bot.strategy);
}

#[test]
fn a_restored_format_1_engine_trades_on_and_writes_the_current_format() {
    let mut e = Engine::from_json(FORMAT_1).unwrap();
    let tp = e.deal().unwrap().orders.iter().rev().find(|o| o.state == OrderState::Open).unwrap().request.clone();
    let (qty, price) = match tp.kind {
        martingale_core::engine::OrderKind::Limit { price } => (tp.quantity, price),
        other => panic!("take profit is a limit: {other:?}"),
    };
    assert_eq!((qty, price), (dec!(0.00776), dec!(39187.11)));
    let update =
        OrderUpdate::Fill { client_order_id: tp.client_order_id.clone(), cumulative_qty: qty, price, fee: None };
    let out = e.handle(Event::Order { time: 1_700_000_400_000, update }).unwrap();
    // The take profit's fill cancels the resting safety orders; the deal
    // closes once they are confirmed.
    assert_eq!(out.actions.len(), 4, "{:?}", out.actions);
    let json = e.to_json();
    assert!(json.starts_with(&format!("{{\"format\":{ENGINE_SNAPSHOT_FORMAT},")), "{}", &json[..40]);
    assert_eq!(Engine::from_json(&json).unwrap(), e);
}

#[test]
fn a_format_from_a_newer_release_is_refused_not_misread() {
    let newer = FORMAT_1.replacen('{', &format!("{{\"format\": {},", ENGINE_SNAPSHOT_FORMAT + 1), 1);
    let err = Engine::from_json(&newer).unwrap_err().to_string();
    assert!(err.contains("format 3 is not supported") && err.contains("upgrade"), "{err}");
    let zero = FORMAT_1.replacen('{', "{\"format\": 0,", 1);
    assert!(Engine::from_json(&zero).is_err());
    let e = SnapshotError::Format { found: 9, supported: 2 };
    assert!(e.to_string().contains("reads formats 1 to 2"));
}

/// A closing deal's exit lives in `Phase::Closing` and is written inside
/// its deal object, as format 1 and 2 engines wrote it; a snapshot whose
/// phase and exit disagree is refused.
#[test]
fn a_closing_deal_keeps_its_exit_in_the_snapshot_layout() {
    use martingale_core::engine::{ExitKind, ExitOrder, Phase};
    let mut e = Engine::from_json(FORMAT_1).unwrap();
    let tp = e.deal().unwrap().orders.iter().rev().find(|o| o.state == OrderState::Open).unwrap().request.clone();
    let update = OrderUpdate::Fill {
        client_order_id: tp.client_order_id.clone(),
        cumulative_qty: tp.quantity,
        price: dec!(39187.11),
        fee: None,
    };
    e.handle(Event::Order { time: 1_700_000_400_000, update }).unwrap();
    let Phase::Closing { exit, .. } = e.phase() else { panic!("closing: {:?}", e.phase().kind()) };
    assert_eq!((exit.kind, exit.order), (ExitKind::TakeProfit, ExitOrder::Sent));
    let json = e.to_json();
    let exit_json = r#""exit":{"kind":"take_profit","reference_price":"39187.11","sent":true}"#;
    assert!(json.contains(exit_json), "{json}");
    assert_eq!(Engine::from_json(&json).unwrap(), e);
    // Closing without an exit, open with one: refused, naming the problem.
    let no_exit = json.replace(&format!(",{exit_json}"), "").replace(&format!("{exit_json},"), "");
    assert_ne!(no_exit, json);
    let err = Engine::from_json(&no_exit).unwrap_err().to_string();
    assert!(err.contains("a closing deal has no exit"), "{err}");
    let open_with_exit = json.replace(r#""phase":"closing""#, r#""phase":"open""#);
    let err = Engine::from_json(&open_with_exit).unwrap_err().to_string();
    assert!(err.contains("an opening or open deal has an exit"), "{err}");
}
