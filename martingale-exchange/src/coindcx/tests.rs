//! CoinDCX: the status/message table (definite refusal or unknown
//! outcome), error bodies on HTTP 200, fractional timestamps, and fuzzed
//! replies through the parsers and the shared check.

use martingale_core::engine::ClientOrderId;
use proptest::prelude::*;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use rstest::rstest;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use super::spot::{interpret, map_error, CoinDcxSpot};
use crate::check::{self, Asked};
use crate::error::ExchangeError;
use crate::fuzz;
use crate::rest::Reply;

/// Statuses of the CoinDCX "Errors" section, with messages it answers.
#[rstest]
#[case::unauthorized(401, "Invalid credentials", "Authentication", false)]
#[case::not_found(404, "Order not found", "UnknownOrder", false)]
#[case::balance(422, "Insufficient funds", "InsufficientBalance", true)]
#[case::duplicate(422, "client_order_id already exists", "DuplicateOrder", false)]
#[case::timestamp(400, "Timestamp is too old", "TimestampOutOfWindow", false)]
#[case::minimum(422, "Quantity too low, min 0.0001", "RuleViolation", true)]
#[case::market(400, "Invalid market", "UnknownMarket", false)]
#[case::invalid(400, "Invalid request", "Rejected", true)]
#[case::other_status(409, "Conflict", "Venue", false)]
#[case::timeout(408, "Request Timeout", "Venue", false)]
fn error_table(#[case] status: u16, #[case] msg: &str, #[case] kind: &str, #[case] definite: bool) {
    let e = map_error(status, msg.into());
    assert_eq!((e.kind(), e.is_definite_rejection()), (kind, definite), "{status}: {e}");
}

fn err(r: Result<Reply, ExchangeError>) -> ExchangeError {
    match r {
        Ok(Reply::Err(e)) | Err(e) => e,
        Ok(Reply::Ok(v)) => panic!("accepted {v}"),
    }
}

#[test]
fn http_200_error_bodies_keep_their_message() {
    let h = HeaderMap::new();
    let e = err(interpret(StatusCode::OK, &h, r#"{"code":422,"message":"Insufficient funds","status":"error"}"#));
    assert_eq!(e, ExchangeError::InsufficientBalance("Insufficient funds".into()));
    let e = err(interpret(StatusCode::OK, &h, r#"{"code":400,"message":"Invalid request","status":"error"}"#));
    assert_eq!(e, ExchangeError::Rejected { code: 400, message: "Invalid request".into() });
    // The documented cancel answer is a success.
    assert!(matches!(
        interpret(StatusCode::OK, &h, r#"{"message":"success","status":200,"code":200}"#),
        Ok(Reply::Ok(_))
    ));
    assert_eq!(err(interpret(StatusCode::SERVICE_UNAVAILABLE, &h, "")).kind(), "Network");
}

/// An order of the documented `orders/status` reply.
fn order_reply() -> Value {
    json!({"id": "ead19992-43fd-11e8-b027-bb815bcb14ed", "client_order_id": "b-1-s1-1", "market": "BTCUSDT",
           "order_type": "limit_order", "side": "buy", "status": "partially_filled", "fee_amount": 0.0,
           "fee": 0.1, "total_quantity": 2, "remaining_quantity": 1.0, "avg_price": 100.0,
           "price_per_unit": 100.0, "created_at": "2018-04-19T18:17:28.022Z",
           "updated_at": 1718386312255.3608f64})
}

#[test]
fn the_documented_order_passes_and_a_foreign_one_is_refused() {
    let id = ClientOrderId::from_raw("b-1-s1-1");
    let v = order_reply();
    let (info, market) = CoinDcxSpot::order_info(&v, Some(&id)).unwrap();
    let info = check::order(&Asked::id("BTCUSDT", &id), market, info).unwrap();
    assert_eq!((info.filled, info.filled_quote, info.updated_at), (dec!(1), dec!(100), 1718386312255));
    let mut v = order_reply();
    v["client_order_id"] = "someone-else".into();
    let (info, market) = CoinDcxSpot::order_info(&v, Some(&id)).unwrap();
    assert!(matches!(check::order(&Asked::id("BTCUSDT", &id), market, info), Err(ExchangeError::Malformed(_))));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_body_is_a_reply_or_a_typed_error(status in fuzz::status(), body in fuzz::json(), code in fuzz::field()) {
        let _ = interpret(status, &HeaderMap::new(), &body.to_string());
        let _ = interpret(status, &HeaderMap::new(), &json!({"code": code, "message": body, "status": "error"}).to_string());
    }

    #[test]
    fn perturbed_order_reports_never_panic_and_what_passes_is_sane(v in fuzz::perturbed(order_reply())) {
        let id = ClientOrderId::from_raw("b-1-s1-1");
        if let Ok((info, market)) = CoinDcxSpot::order_info(&v, Some(&id)) {
            if let Ok(info) = check::order(&Asked::id("BTCUSDT", &id), market, info) {
                prop_assert!(info.filled >= rust_decimal::Decimal::ZERO && info.filled <= info.quantity);
                prop_assert!(info.updates(rust_decimal::Decimal::ZERO, rust_decimal::Decimal::ZERO).is_ok());
            }
        }
    }
}
