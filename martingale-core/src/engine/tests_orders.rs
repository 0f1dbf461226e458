//! The order life-cycle table (`OrderState::after`, issue 16's reshape):
//! every (state, report) pair, and the engine refusing an impossible
//! report without changing anything.

use rstest::rstest;
use rust_decimal_macros::dec;

use super::deal::Reported;
use super::tests::{bot, placed, T};
use super::*;

const DONE: Reported = Reported::Filled { complete: true };
const PART: Reported = Reported::Filled { complete: false };

#[rstest]
#[case(OrderState::Sent, Reported::Accepted, false, Ok(Some(OrderState::Open)))]
#[case(OrderState::Open, Reported::Accepted, false, Ok(None))]
#[case(OrderState::CancelRequested, Reported::Accepted, false, Ok(None))]
#[case(OrderState::Filled, Reported::Accepted, true, Ok(None))]
#[case(OrderState::Canceled, Reported::Accepted, false, Ok(None))]
#[case(OrderState::Rejected, Reported::Accepted, false, Err("accepted after it was rejected"))]
#[case(OrderState::Sent, PART, false, Ok(None))]
#[case(OrderState::Sent, DONE, false, Ok(Some(OrderState::Filled)))]
#[case(OrderState::Open, DONE, true, Ok(Some(OrderState::Filled)))]
#[case(OrderState::CancelRequested, DONE, true, Ok(Some(OrderState::Filled)))]
#[case(OrderState::Canceled, DONE, true, Ok(Some(OrderState::Filled)))] // raced its cancel
#[case(OrderState::Canceled, PART, true, Ok(None))]
#[case(OrderState::Rejected, PART, false, Err("a fill of a rejected order"))]
#[case(OrderState::Sent, Reported::Canceled, false, Ok(Some(OrderState::Canceled)))]
#[case(OrderState::Open, Reported::Canceled, true, Ok(Some(OrderState::Canceled)))]
#[case(OrderState::CancelRequested, Reported::Canceled, false, Ok(Some(OrderState::Canceled)))]
#[case(OrderState::Filled, Reported::Canceled, true, Ok(None))]
#[case(OrderState::Canceled, Reported::Canceled, false, Ok(None))]
#[case(OrderState::Rejected, Reported::Canceled, false, Ok(None))]
#[case(OrderState::Sent, Reported::Rejected, false, Ok(Some(OrderState::Rejected)))]
#[case(OrderState::CancelRequested, Reported::Rejected, false, Ok(Some(OrderState::Rejected)))]
#[case(OrderState::Rejected, Reported::Rejected, false, Ok(None))]
#[case(OrderState::Canceled, Reported::Rejected, false, Ok(None))]
#[case(OrderState::Filled, Reported::Rejected, true, Ok(None))]
#[case(OrderState::Open, Reported::Rejected, false, Err("a rejection of an order the venue acknowledged or filled"))]
#[case(OrderState::Sent, Reported::Rejected, true, Err("a rejection of an order the venue acknowledged or filled"))]
#[case(
    OrderState::CancelRequested,
    Reported::Rejected,
    true,
    Err("a rejection of an order the venue acknowledged or filled")
)]
fn the_order_life_cycle_table(
    #[case] state: OrderState,
    #[case] report: Reported,
    #[case] has_fills: bool,
    #[case] expected: Result<Option<OrderState>, &'static str>,
) {
    assert_eq!(state.after(report, has_fills), expected);
}

#[test]
fn a_rejection_of_an_acknowledged_order_is_refused_and_changes_nothing() {
    let mut t = T::new(&bot(""));
    let base = placed(&t.tick(dec!(100)))[0].clone();
    let id = base.client_order_id.clone();
    t.upd(OrderUpdate::Accepted { client_order_id: id.clone() }).unwrap();
    let before = t.e.clone();
    let err = t.upd(OrderUpdate::Rejected { client_order_id: id.clone(), reason: "late".into() }).unwrap_err();
    assert!(matches!(&err, EngineError::InvalidReport { id: i, .. } if *i == id), "{err:?}");
    assert!(err.to_string().contains("status mapping"), "{err}");
    assert_eq!(t.e, before);
    // The order still fills and the deal goes on.
    let out = t.fill(&id, base.quantity, dec!(100));
    assert!(!placed(&out).is_empty());
}

#[test]
fn a_rejection_before_acknowledgement_still_aborts_the_deal() {
    let mut t = T::new(&bot(""));
    let base = placed(&t.tick(dec!(100)))[0].clone();
    let out = t.upd(OrderUpdate::Rejected { client_order_id: base.client_order_id, reason: "no".into() }).unwrap();
    assert_eq!(out.closed.len(), 1);
    assert_eq!(out.closed[0].exit, ExitKind::Aborted);
}
