use super::*;
use rstest::rstest;
use rust_decimal_macros::dec;

use crate::OrderSide;

fn entry(side: Side, qty: Decimal) -> OrderRequest {
    let bot = BotId::new("s1").unwrap();
    OrderRequest {
        client_order_id: ClientOrderId::new(&bot, 7, OrderRole::Base, 0),
        role: OrderRole::Base,
        side: side.entry(),
        kind: OrderKind::Limit { price: dec!(100) },
        quantity: qty,
    }
}

fn trade(side: Side) -> Trade {
    let (stop, tp) = match side {
        Side::Long => (dec!(95), dec!(110)),
        Side::Short => (dec!(105), dec!(90)),
    };
    Trade::new(BotId::new("s1").unwrap(), 7, side, entry(side, dec!(2)), Some(stop), Some(tp))
}

fn fill(q: Decimal, quote: Decimal) -> TradeEvent {
    TradeEvent::EntryFill { cumulative_qty: q, cumulative_quote: quote }
}
fn tp(q: Decimal, quote: Decimal) -> TradeEvent {
    TradeEvent::TakeProfitFill { cumulative_qty: q, cumulative_quote: quote }
}
fn close(q: Decimal, quote: Decimal) -> TradeEvent {
    TradeEvent::CloseFill { cumulative_qty: q, cumulative_quote: quote }
}
fn tick(p: Decimal) -> TradeEvent {
    TradeEvent::Tick { price: p }
}

/// Action summary: `+id side qty @price` for places, `-id` for cancels.
fn show(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::Place(o) => {
                let price = match o.kind {
                    OrderKind::Limit { price } => format!("@{price}"),
                    OrderKind::Market { reference_price } => format!("mkt~{reference_price}"),
                };
                let side = if o.side == OrderSide::Buy { "buy" } else { "sell" };
                format!("+{} {side} {} {price}", o.client_order_id, o.quantity)
            }
            Action::Cancel { client_order_id } => format!("-{client_order_id}"),
        })
        .collect()
}

/// Each case: events in order, then the state, the actions of the last
/// event, and the P&L.
#[rstest]
#[case::take_profit_long(Side::Long,
    vec![fill(dec!(1), dec!(100)), fill(dec!(2), dec!(200)), tp(dec!(1), dec!(110)), tp(dec!(2), dec!(220))],
    TradeState::Closed, vec![], Some(dec!(20)), Some(ExitReason::TakeProfit))]
#[case::tp_rests_when_entry_complete(Side::Long,
    vec![fill(dec!(1), dec!(100)), fill(dec!(2), dec!(199.5))],
    TradeState::Open, vec!["+s1-7-tp-0 sell 2 @110"], None, None)]
#[case::partial_then_entry_canceled_rests_tp_for_filled(Side::Long,
    vec![fill(dec!(0.5), dec!(50)), TradeEvent::EntryEnded],
    TradeState::Open, vec!["+s1-7-tp-0 sell 0.5 @110"], None, None)]
#[case::stop_long_cancels_tp_then_closes(Side::Long,
    vec![fill(dec!(2), dec!(200)), tick(dec!(96)), tick(dec!(94.5))],
    TradeState::Closing, vec!["-s1-7-tp-0"], None, Some(ExitReason::StopLoss))]
#[case::stop_close_after_tp_canceled(Side::Long,
    vec![fill(dec!(2), dec!(200)), tick(dec!(95)), TradeEvent::TakeProfitEnded],
    TradeState::Closing, vec!["+s1-7-sl-0 sell 2 mkt~95"], None, Some(ExitReason::StopLoss))]
#[case::stop_closed(Side::Long,
    vec![fill(dec!(2), dec!(200)), tick(dec!(95)), TradeEvent::TakeProfitEnded, close(dec!(2), dec!(189.9))],
    TradeState::Closed, vec![], Some(dec!(-10.1)), Some(ExitReason::StopLoss))]
#[case::stop_races_partial_tp(Side::Long,
    vec![fill(dec!(2), dec!(200)), tick(dec!(95)), tp(dec!(0.5), dec!(55)), TradeEvent::TakeProfitEnded],
    TradeState::Closing, vec!["+s1-7-sl-0 sell 1.5 mkt~95"], None, Some(ExitReason::StopLoss))]
#[case::stop_finds_tp_filled(Side::Long,
    vec![fill(dec!(2), dec!(200)), tick(dec!(95)), tp(dec!(2), dec!(220))],
    TradeState::Closed, vec![], Some(dec!(20)), Some(ExitReason::TakeProfit))]
#[case::stop_during_partial_entry_cancels_entry(Side::Long,
    vec![fill(dec!(1), dec!(100)), tick(dec!(94))],
    TradeState::Closing, vec!["-s1-7-b-0"], None, Some(ExitReason::StopLoss))]
#[case::entry_fill_racing_cancel_is_closed_too(Side::Long,
    vec![fill(dec!(1), dec!(100)), tick(dec!(94)), fill(dec!(1.5), dec!(150)), TradeEvent::EntryEnded],
    TradeState::Closing, vec!["+s1-7-sl-0 sell 1.5 mkt~94"], None, Some(ExitReason::StopLoss))]
#[case::exit_before_fill_cancels(Side::Long,
    vec![TradeEvent::Exit { price: dec!(101) }, TradeEvent::EntryEnded],
    TradeState::Canceled, vec![], None, Some(ExitReason::Signal))]
#[case::exit_open_short(Side::Short,
    vec![fill(dec!(2), dec!(200)), TradeEvent::Exit { price: dec!(98) }],
    TradeState::Closing, vec!["-s1-7-tp-0"], None, Some(ExitReason::Signal))]
#[case::exit_short_closes_by_market(Side::Short,
    vec![fill(dec!(2), dec!(200)), TradeEvent::Exit { price: dec!(98) }, TradeEvent::TakeProfitEnded, close(dec!(2), dec!(196.2))],
    TradeState::Closed, vec![], Some(dec!(3.8)), Some(ExitReason::Signal))]
#[case::short_take_profit(Side::Short,
    vec![fill(dec!(2), dec!(200)), tp(dec!(2), dec!(180))],
    TradeState::Closed, vec![], Some(dec!(20)), Some(ExitReason::TakeProfit))]
#[case::short_stop(Side::Short,
    vec![fill(dec!(2), dec!(200)), tick(dec!(105.01))],
    TradeState::Closing, vec!["-s1-7-tp-0"], None, Some(ExitReason::StopLoss))]
#[case::stale_report_ignored(Side::Long,
    vec![fill(dec!(1), dec!(100)), fill(dec!(0.5), dec!(50)), fill(dec!(1), dec!(100))],
    TradeState::Open, vec![], None, None)]
#[case::entry_rejected(Side::Long, vec![TradeEvent::EntryEnded], TradeState::Canceled, vec![], None, None)]
fn life_of_a_trade(
    #[case] side: Side,
    #[case] events: Vec<TradeEvent>,
    #[case] state: TradeState,
    #[case] last: Vec<&str>,
    #[case] pnl: Option<Decimal>,
    #[case] reason: Option<ExitReason>,
) {
    let mut t = trade(side);
    let mut actions = Vec::new();
    for e in events {
        actions = t.apply(e).unwrap();
    }
    assert_eq!(
        (t.state, show(&actions), t.pnl(), t.reason),
        (state, last.iter().map(|s| s.to_string()).collect(), pnl, reason)
    );
    // The machine survives its JSON (it is stored between polls).
    let back: Trade = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
    assert_eq!(back, t);
}

#[rstest]
#[case::tp_fill_before_entry(vec![], tp(dec!(1), dec!(110)))]
#[case::close_fill_while_open(vec![fill(dec!(2), dec!(200))], close(dec!(1), dec!(100)))]
#[case::fill_after_closed(vec![fill(dec!(2), dec!(200)), tp(dec!(2), dec!(220))], fill(dec!(2), dec!(200)))]
#[case::tick_after_canceled(vec![TradeEvent::EntryEnded], tick(dec!(1)))]
#[case::overfill(vec![], fill(dec!(3), dec!(300)))]
fn invalid_events_are_refused_and_change_nothing(#[case] before: Vec<TradeEvent>, #[case] event: TradeEvent) {
    let mut t = trade(Side::Long);
    for e in before {
        t.apply(e).unwrap();
    }
    let saved = t.clone();
    assert!(t.apply(event).is_err());
    assert_eq!(t, saved);
}

#[test]
fn a_report_seen_twice_places_nothing_twice() {
    let mut t = trade(Side::Long);
    assert_eq!(show(&t.apply(fill(dec!(2), dec!(200))).unwrap()), vec!["+s1-7-tp-0 sell 2 @110"]);
    assert!(t.apply(fill(dec!(2), dec!(200))).unwrap().is_empty());
    assert_eq!(t.live_legs().len(), 1);
    assert_eq!((t.entry_price(), t.filled()), (Some(dec!(100)), dec!(2)));
}
