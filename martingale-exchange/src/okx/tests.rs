//! OKX: the error table (definite refusal or unknown outcome), error
//! bodies on HTTP 200 and per-order `sCode`s, and fuzzed replies through
//! the parsers and the shared check.

use martingale_core::engine::ClientOrderId;
use proptest::prelude::*;
use reqwest::StatusCode;
use rstest::rstest;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use super::spot::{interpret, map_error, venue_order_id, OkxConfig, OkxSpot};
use crate::check::{self, Asked};
use crate::error::ExchangeError;
use crate::fuzz;
use crate::rest::Reply;
use crate::secret::Secret;

/// Codes and messages from the OKX v5 error-code list.
#[rstest]
#[case::unavailable(50001, "Service temporarily unavailable. Try again later", "Venue", false)]
#[case::timeout(50004, "API endpoint request timeout (does not mean that the request was successful or failed, please check the request result).", "Venue", false)]
#[case::busy(50013, "Systems are busy. Please try again later.", "Venue", false)]
#[case::system(50026, "System error. Try again later", "Venue", false)]
#[case::order_timeout(51149, "Order timed out. Please try again.", "Venue", false)]
#[case::undocumented(59999, "new", "Venue", false)]
#[case::empty_body(50000, "Body for POST request cannot be empty.", "Rejected", true)]
#[case::param_empty(50014, "Parameter {0} cannot be empty.", "Rejected", true)]
#[case::rate(50011, "Rate limit reached.", "RateLimited", false)]
#[case::expired(50102, "Timestamp request expired.", "TimestampOutOfWindow", false)]
#[case::sign(50113, "Invalid signature.", "Authentication", false)]
#[case::param(51000, "Parameter {0} error", "Rejected", true)]
#[case::instrument(51001, "Instrument ID does not exist.", "UnknownMarket", false)]
#[case::balance(51008, "Order failed. Insufficient USDT balance in account.", "InsufficientBalance", true)]
#[case::duplicate(51016, "Duplicated clOrdId", "DuplicateOrder", false)]
#[case::min_amount(51020, "Your order should meet or exceed the minimum order amount.", "RuleViolation", true)]
#[case::lot(51121, "Order quantity must be a multiple of the lot size.", "RuleViolation", true)]
#[case::other_order(51137, "Your opening price has triggered the limit price.", "Rejected", true)]
#[case::no_order(51603, "Order does not exist.", "UnknownOrder", false)]
#[case::cancel_failed(
    51400,
    "Order cancellation failed as the order has been filled, canceled or does not exist.",
    "UnknownOrder",
    false
)]
fn error_table(#[case] code: i64, #[case] msg: &str, #[case] kind: &str, #[case] definite: bool) {
    let e = map_error(code, msg.into());
    assert_eq!((e.kind(), e.is_definite_rejection()), (kind, definite), "{code}: {e}");
}

fn err(r: Result<Reply, ExchangeError>) -> ExchangeError {
    match r {
        Ok(Reply::Err(e)) | Err(e) => e,
        Ok(Reply::Ok(v)) => panic!("accepted {v}"),
    }
}

#[test]
fn http_200_errors_and_scodes_keep_their_message() {
    let e = err(interpret(
        StatusCode::OK,
        r#"{"code":"50013","msg":"Systems are busy. Please try again later.","data":[]}"#,
    ));
    assert!(matches!(&e, ExchangeError::Venue { code: 50013, message } if message.contains("busy")));
    let body = r#"{"code":"1","msg":"All operations failed","data":[{"clOrdId":"x","ordId":"","sCode":"51008","sMsg":"Order failed. Insufficient USDT balance in account."}]}"#;
    assert!(
        matches!(err(interpret(StatusCode::OK, body)), ExchangeError::InsufficientBalance(m) if m.contains("USDT"))
    );
    // 50004 is an HTTP 400: still unknown.
    let body = r#"{"code":"50004","msg":"API endpoint request timeout","data":[]}"#;
    assert!(!err(interpret(StatusCode::BAD_REQUEST, body)).is_definite_rejection());
    assert!(
        matches!(err(interpret(StatusCode::OK, r#"{"msg":"no code here"}"#)), ExchangeError::Malformed(m) if m.contains("no code here"))
    );
}

fn adapter() -> OkxSpot {
    OkxSpot::new(OkxConfig::default(), Secret::new("k"), Secret::new("s"), Secret::new("p")).unwrap()
}

/// An order of the documented `GET /api/v5/trade/order` reply.
fn order_reply() -> Value {
    let id = venue_order_id(&ClientOrderId::from_raw("b-1-s1-1"));
    json!({"instType": "SPOT", "instId": "BTC-USDT", "ordId": "680800019749904384", "clOrdId": id, "px": "100",
           "sz": "2", "ordType": "limit", "side": "buy", "accFillSz": "1", "avgPx": "100", "state": "partially_filled",
           "fee": "-0.001", "feeCcy": "BTC", "uTime": "1708587373362", "cTime": "1708587373361"})
}

#[test]
fn the_documented_order_passes_and_a_foreign_one_is_refused() {
    let a = adapter();
    let id = ClientOrderId::from_raw("b-1-s1-1");
    let good = order_reply();
    let (info, market) = a.order_info(&good, Some(&id)).unwrap();
    assert_eq!(check::order(&Asked::id("BTC-USDT", &id), market, info).unwrap().filled_quote, dec!(100));
    let mut v = order_reply();
    v["clOrdId"] = "mother".into();
    assert!(matches!(a.order_info(&v, Some(&id)), Err(ExchangeError::Malformed(_))));
    let (info, market) = a.order_info(&good, Some(&id)).unwrap();
    assert!(matches!(check::order(&Asked::id("ETH-USDT", &id), market, info), Err(ExchangeError::Malformed(_))));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_body_is_a_reply_or_a_typed_error(status in fuzz::status(), body in fuzz::json(), code in fuzz::field()) {
        let _ = interpret(status, &body.to_string());
        let _ = interpret(status, &json!({"code": code, "msg": "x", "data": [body]}).to_string());
    }

    #[test]
    fn perturbed_order_reports_never_panic_and_what_passes_is_sane(v in fuzz::perturbed(order_reply())) {
        let a = adapter();
        let id = ClientOrderId::from_raw("b-1-s1-1");
        if let Ok((info, market)) = a.order_info(&v, Some(&id)) {
            if let Ok(info) = check::order(&Asked::id("BTC-USDT", &id), market, info) {
                prop_assert!(info.filled >= rust_decimal::Decimal::ZERO && info.filled <= info.quantity);
                prop_assert!(info.updates(rust_decimal::Decimal::ZERO, rust_decimal::Decimal::ZERO).is_ok());
            }
        }
    }
}
