//! `reconfigure` (settings changed while the bot runs) and `stop` with
//! `cancel_orders` on a stopped bot.
//!
//! The bot of `tests::bot`: base 100 quote, 3 safety orders of 200 quote
//! every 2 %, take profit 1 % on the average. Opened at 100: safety orders
//! at 98, 96, 94, take profit 1 at 101.

use proptest::prelude::*;
use rstest::rstest;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::tests::{bot, canceled, limit_price, placed, T};
use super::*;
use crate::config::BotFile;
use crate::pnl::ExitKind;

fn reconf(t: &mut T, file: &BotFile) -> Result<Output, EngineError> {
    t.cmd(Command::Reconfigure { bot: Box::new(file.clone()) })
}

/// `bot("")` with the strategy fields of `extra` (`, "field": value, ...`) replaced.
fn with(extra: &str) -> BotFile {
    let mut file = serde_json::to_value(bot("")).unwrap();
    let patch: serde_json::Value = serde_json::from_str(&format!("{{{}}}", extra.trim_start_matches(','))).unwrap();
    for (k, v) in patch.as_object().unwrap() {
        file["strategy"][k] = v.clone();
    }
    BotFile::from_json(&file.to_string()).unwrap()
}

fn with_market(file: &BotFile, market: &str) -> BotFile {
    let mut f = file.clone();
    f.market = serde_json::from_str(market).unwrap();
    f
}

#[rstest]
#[case::side(with(r#", "side": "short""#), "strategy.side")]
#[case::symbol(with_market(&bot(""), r#"{"symbol": "ETHUSDT", "tick_size": "0.01", "step_size": "0.001", "min_notional": "5"}"#), "market.symbol")]
#[case::tick_size(with_market(&bot(""), r#"{"tick_size": "0.1", "step_size": "0.001", "min_notional": "5"}"#), "market")]
#[case::fees({ let mut f = bot(""); f.fees.taker = dec!(0.001); f }, "fees")]
#[case::invalid({ let mut f = bot(""); f.strategy.take_profit.percent = dec!(-1); f }, "bot file")]
fn side_market_fees_and_invalid_files_are_refused(
    #[case] file: BotFile,
    #[case] field: &str,
    #[values(false, true)] in_deal: bool,
) {
    let mut t = T::new(&bot(""));
    if in_deal {
        t.open_at(dec!(100));
    }
    let before = t.e.clone();
    let err = reconf(&mut t, &file).unwrap_err();
    assert!(matches!(&err, EngineError::SettingRefused { field: f, .. } if *f == field), "{err}");
    assert_eq!(t.e, before, "refused: nothing changed");
    assert_eq!(t.e.plan_reconfigure(&file).unwrap_err(), err);
}

#[rstest]
#[case::percent(r#", "take_profit": {"percent": "2"}"#, dec!(102))]
#[case::lower(r#", "take_profit": {"percent": "0.5"}"#, dec!(100.5))]
#[case::base_order_base(r#", "take_profit": {"percent": "3", "base": "base_order"}"#, dec!(103))]
fn a_new_take_profit_is_placed_at_once(#[case] extra: &str, #[case] price: Decimal) {
    let mut t = T::new(&bot(""));
    t.open_at(dec!(100));
    let tp = t.order(OrderRole::TakeProfit);
    assert_eq!(limit_price(&tp.request), dec!(101));
    let file = with(extra);
    assert_eq!(t.e.plan_reconfigure(&file).unwrap().to_string(), "applied at once: take_profit");
    let out = reconf(&mut t, &file).unwrap();
    // The old take profit is canceled first, the new one placed once the cancel is confirmed.
    assert_eq!(canceled(&out), vec![tp.request.client_order_id.clone()]);
    assert!(placed(&out).is_empty());
    let out = t.cancel_ok(&tp.request.client_order_id);
    let new = placed(&out);
    assert_eq!(new.len(), 1);
    assert_eq!((limit_price(&new[0]), new[0].quantity), (price, dec!(1.000)));
    assert_eq!(t.e.strategy(), &file.strategy);
    assert_eq!(t.e.pending_strategy(), None);
    // The safety orders were not touched.
    assert_eq!(t.e.deal().unwrap().live(|r| matches!(r, OrderRole::Safety(_))), 3);
}

#[test]
fn a_trailing_take_profit_added_mid_deal_cancels_the_limit_order_and_watches_instead() {
    let mut t = T::new(&bot(""));
    t.open_at(dec!(100));
    let tp = t.order(OrderRole::TakeProfit);
    let out = reconf(&mut t, &with(r#", "trailing_take_profit": "0.5""#)).unwrap();
    assert_eq!(canceled(&out), vec![tp.request.client_order_id.clone()]);
    let out = t.cancel_ok(&tp.request.client_order_id);
    assert!(placed(&out).is_empty(), "a trailing take profit rests no order");
    assert_eq!(t.e.watch().trailing_arm, Some(dec!(101)));
}

#[test]
fn a_new_stop_loss_fires_at_the_next_tick() {
    let mut t = T::new(&bot(""));
    t.open_at(dec!(100));
    assert_eq!(t.e.watch().stop_loss, None);
    let out = reconf(&mut t, &with(r#", "stop_loss": {"percent": "5"}"#)).unwrap();
    assert!(out.actions.is_empty(), "a stop loss places nothing");
    assert_eq!(t.e.watch().stop_loss, Some(dec!(95)));
    let out = t.tick(dec!(95));
    assert_eq!(canceled(&out).len(), 4, "the exit cancels the safety orders and the take profit first");
    let Phase::Closing { exit, .. } = t.e.phase() else { panic!("{:?}", t.e.phase().kind()) };
    assert_eq!(exit.kind, ExitKind::StopLoss);
}

#[rstest]
#[case::safety_count(r#", "max_safety_orders": 2"#, vec!["max_safety_orders"], 2, dec!(2.040))]
#[case::safety_size(r#", "safety_order": {"quote": "100"}"#, vec!["safety_order"], 3, dec!(1.020))]
#[case::deviation(r#", "price_deviation": "3""#, vec!["price_deviation"], 3, dec!(2.061))]
fn a_ladder_change_waits_for_the_next_deal(
    #[case] ladder: &str,
    #[case] fields: Vec<&'static str>,
    #[case] levels: usize,
    #[case] first_qty: Decimal,
) {
    let old = bot("");
    // A ladder field plus an at-once one.
    let file = with(&format!(r#"{ladder}, "cooldown_secs": 60"#));
    let mut t = T::new(&old);
    t.open_at(dec!(100));
    let deal_before = t.e.deal().unwrap().clone();
    let r = t.e.plan_reconfigure(&file).unwrap();
    assert_eq!((r.at_once.clone(), r.next_deal.clone()), (vec!["cooldown_secs"], fields));
    let out = reconf(&mut t, &file).unwrap();
    assert!(out.actions.is_empty(), "the open deal keeps its ladder and take profit");
    assert_eq!(t.e.deal().unwrap(), &deal_before);
    assert_eq!(t.e.strategy().cooldown_secs, 60);
    assert_eq!(t.e.strategy().max_safety_orders, Some(3));
    assert_eq!(t.e.pending_strategy(), Some(&file.strategy));
    assert_eq!(t.e.target_strategy(), &file.strategy);
    // Snapshots keep the pending strategy.
    assert_eq!(Engine::from_json(&t.e.to_json()).unwrap(), t.e);

    // The take profit fills: the deal ends, the new ladder is installed.
    let tp = t.order(OrderRole::TakeProfit);
    let out = t.fill(&tp.request.client_order_id, tp.request.quantity, dec!(101));
    assert_eq!(t.e.pending_strategy(), Some(&file.strategy), "not before the safety orders' cancels are confirmed");
    let mut closed = out.closed.len();
    for id in canceled(&out) {
        closed += t.cancel_ok(&id).closed.len();
    }
    assert_eq!(closed, 1);
    assert_eq!(t.e.pending_strategy(), None);
    assert_eq!(t.e.strategy(), &file.strategy);
    // After the (new) cooldown, the next deal uses the new ladder.
    t.t += 60_000;
    let out = t.open_at(dec!(100));
    let safety: Vec<_> = placed(&out).into_iter().filter(|o| matches!(o.role, OrderRole::Safety(_))).collect();
    assert_eq!(safety.len(), levels);
    assert_eq!(safety[0].quantity, first_qty);
}

#[test]
fn with_no_deal_open_everything_applies_at_once() {
    let mut t = T::new(&bot(""));
    let file = with(r#", "max_safety_orders": 1, "base_order": {"quote": "50"}"#);
    let r = t.e.plan_reconfigure(&file).unwrap();
    assert_eq!(r.to_string(), "applied at once: base_order, max_safety_orders");
    reconf(&mut t, &file).unwrap();
    assert_eq!(t.e.pending_strategy(), None);
    let out = t.tick(dec!(100));
    assert_eq!(placed(&out)[0].quantity, dec!(0.500));
}

#[test]
fn take_profit_steps_change_from_the_next_deal_and_a_breakeven_they_lack_is_refused() {
    let mut t = T::new(&bot(""));
    t.open_at(dec!(100));
    let steps = r#", "take_profit": {"steps": [{"percent": "1", "close": "40"}, {"percent": "2", "close": "60"}]}"#;
    let r = t.e.plan_reconfigure(&with(steps)).unwrap();
    assert_eq!(r.next_deal, vec!["take_profit"]);
    let breakeven = format!(r#"{steps}, "stop_loss": {{"percent": "20", "breakeven_after_step": 1}}"#);
    let before = t.e.clone();
    let err = reconf(&mut t, &with(&breakeven)).unwrap_err();
    assert!(matches!(err, EngineError::SettingRefused { field: "strategy", .. }), "{err}");
    assert!(err.to_string().contains("change it while no deal is open"), "{err}");
    assert_eq!(t.e, before);
}

#[test]
fn max_deals_applies_to_the_next_start() {
    let mut t = T::new(&bot(""));
    t.open_at(dec!(100));
    reconf(&mut t, &with(r#", "max_deals": 1"#)).unwrap();
    let tp = t.order(OrderRole::TakeProfit);
    let out = t.fill(&tp.request.client_order_id, tp.request.quantity, dec!(101));
    for id in canceled(&out) {
        t.cancel_ok(&id);
    }
    assert_eq!((t.e.phase().kind(), t.e.totals().closed_deals), (PhaseKind::Idle, 1));
    let out = t.tick(dec!(100));
    assert!(out.actions.is_empty());
    assert_eq!(t.e.earliest_start(), None);
}

#[test]
fn setting_the_same_file_changes_nothing() {
    let mut t = T::new(&bot(""));
    t.open_at(dec!(100));
    let before = t.e.clone();
    let out = reconf(&mut t, &bot("")).unwrap();
    assert!(out.actions.is_empty());
    assert_eq!(t.e.plan_reconfigure(&bot("")).unwrap(), Reconfiguration::default());
    assert_eq!(t.e.strategy(), before.strategy());
}

#[test]
fn stop_with_cancel_on_a_stopped_bot_cancels_its_resting_orders() {
    let mut t = T::new(&bot(""));
    t.open_at(dec!(100));
    t.cmd(Command::Stop { cancel_orders: false }).unwrap();
    let before = t.e.clone();
    let err = t.cmd(Command::Stop { cancel_orders: false }).unwrap_err();
    assert!(matches!(err, EngineError::InvalidTransition { command: "stop", .. }));
    assert_eq!(t.e, before);
    let out = t.cmd(Command::Stop { cancel_orders: true }).unwrap();
    assert_eq!(canceled(&out).len(), 4, "three safety orders and the take profit");
    assert_eq!(t.e.mode(), Mode::Stopped);
    assert!(!t.e.deal().unwrap().take_profit.is_managed());
    // Again: nothing left to cancel.
    assert!(t.cmd(Command::Stop { cancel_orders: true }).unwrap().actions.is_empty());
    // `stop` on a bot never started is still refused.
    let mut e = Engine::new(BotId::new("b").unwrap(), &bot("")).unwrap();
    let err = e.handle(Event::Command { time: 0, command: Command::Stop { cancel_orders: true } }).unwrap_err();
    assert!(matches!(err, EngineError::InvalidTransition { command: "stop", .. }));
}

#[test]
fn the_command_serializes_with_its_bot_file() {
    let c = Command::Reconfigure { bot: Box::new(with(r#", "cooldown_secs": 5"#)) };
    let text = serde_json::to_string(&c).unwrap();
    assert!(text.starts_with(r#"{"command":"reconfigure","bot":{"#), "{text}");
    assert_eq!(serde_json::from_str::<Command>(&text).unwrap(), c);
}

#[test]
fn a_snapshot_with_an_invalid_pending_strategy_is_refused() {
    let mut t = T::new(&bot(""));
    t.open_at(dec!(100));
    reconf(&mut t, &with(r#", "max_safety_orders": 2"#)).unwrap();
    let text = t.e.to_json();
    assert!(text.contains(r#""next":{"#), "{text}");
    let bad = text.replace(r#""max_safety_orders":2"#, r#""max_safety_orders":4294967295"#);
    assert!(Engine::from_json(&bad).unwrap_err().to_string().contains("max_safety_orders"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Whatever the change and whenever it comes, the bot file's strategy
    /// is the target, the deal in progress keeps its ladder, and the
    /// snapshot restores to the same engine.
    #[test]
    fn the_target_is_the_file_and_the_deal_keeps_its_ladder(
        tp in 1u32..50, count in 0u32..6, dev in 1u32..5, cooldown in 0u64..100, open in any::<bool>(),
    ) {
        let mut t = T::new(&bot(""));
        if open {
            t.open_at(dec!(100));
        }
        let levels = t.e.deal().map(|d| d.levels.clone());
        let extra = format!(
            r#", "take_profit": {{"percent": "{}"}}, "max_safety_orders": {count}, "price_deviation": "{dev}", "cooldown_secs": {cooldown}"#,
            Decimal::new(i64::from(tp), 1)
        );
        let file = with(&extra);
        reconf(&mut t, &file).unwrap();
        prop_assert_eq!(t.e.target_strategy(), &file.strategy);
        prop_assert_eq!(t.e.strategy().take_profit.percent, file.strategy.take_profit.percent);
        prop_assert_eq!(t.e.deal().map(|d| d.levels.clone()), levels);
        prop_assert_eq!(Engine::from_json(&t.e.to_json()).unwrap(), t.e.clone());
    }
}
