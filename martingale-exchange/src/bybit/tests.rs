//! Bybit: the error table (definite refusal or unknown outcome), error
//! bodies on HTTP 200, capped waits, and fuzzed replies through the
//! parsers and the shared check.

use martingale_core::engine::ClientOrderId;
use proptest::prelude::*;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use rstest::rstest;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use super::spot::{interpret, map_error, BybitSpot};
use crate::check::{self, Asked};
use crate::error::ExchangeError;
use crate::fuzz;
use crate::rest::Reply;

/// Codes and messages from the Bybit v5 error-code page.
#[rstest]
#[case::server_timeout(10000, "Server Timeout", "Venue", false)]
#[case::server_error(10016, "Server error", "Venue", false)]
#[case::internal(170001, "Internal error.", "Venue", false)]
#[case::backend_timeout(170007, "Timeout waiting for response from backend server.", "Venue", false)]
#[case::undocumented(12345, "new", "Venue", false)]
#[case::params(10001, "Request parameter error.", "Rejected", true)]
#[case::params_symbol(10001, "params error: symbol invalid", "UnknownMarket", false)]
#[case::window(10002, "The request time exceeds the time window range.", "TimestampOutOfWindow", false)]
#[case::key(10003, "API key is invalid.", "Authentication", false)]
#[case::sign(10004, "Error sign, please check your signature generation algorithm.", "Authentication", false)]
#[case::too_many(10006, "Too many visits!", "RateLimited", false)]
#[case::too_many_orders(170005, "Too many new orders; current limit is %s orders per %s.", "RateLimited", false)]
#[case::no_order(170213, "Order does not exist.", "UnknownOrder", false)]
#[case::balance(170131, "Insufficient balance.", "InsufficientBalance", true)]
#[case::duplicate(170141, "Duplicate clientOrderId", "DuplicateOrder", false)]
#[case::symbol(170121, "Invalid symbol.", "UnknownMarket", false)]
#[case::min_qty(170136, "Order quantity lower than the minimum.", "RuleViolation", true)]
#[case::min_value(170140, "Order value exceeded lower limit.", "RuleViolation", true)]
#[case::price_high(170132, "Order price too high.", "RuleViolation", true)]
#[case::other_spot(170130, "Data sent for parameter '%s' is not valid.", "Rejected", true)]
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
fn http_200_errors_keep_their_message_and_long_resets_are_not_clamped() {
    let h = HeaderMap::new();
    let e = err(interpret(StatusCode::OK, &h, r#"{"retCode":10016,"retMsg":"Server error","result":{}}"#, 0));
    assert_eq!(e, ExchangeError::Venue { code: 10016, message: "Server error".into() });
    let e = err(interpret(StatusCode::OK, &h, r#"{"retMsg":"who knows","result":{}}"#, 0));
    assert!(matches!(e, ExchangeError::Malformed(m) if m.contains("who knows")));
    // A reset a day away is reported as it is; the retry loop refuses to
    // sleep it (MAX_WAIT).
    let mut h = HeaderMap::new();
    h.insert("x-bapi-limit-reset-timestamp", "86400000".parse().unwrap());
    let e = err(interpret(StatusCode::OK, &h, r#"{"retCode":10006,"retMsg":"Too many visits!"}"#, 0));
    assert_eq!(e, ExchangeError::RateLimited { retry_after: std::time::Duration::from_secs(86_400) });
}

/// An order of the documented `GET /v5/order/realtime` list.
fn order_reply() -> Value {
    json!({"orderId": "1321003749386327552", "orderLinkId": "b-1-s1-1", "symbol": "BTCUSDT", "price": "100",
           "qty": "2", "side": "Buy", "orderStatus": "PartiallyFilled", "cumExecQty": "1", "cumExecValue": "100",
           "avgPrice": "100", "orderType": "Limit", "timeInForce": "GTC", "createdTime": "1684738540559",
           "updatedTime": "1684738540561"})
}

#[test]
fn the_documented_order_passes_and_a_foreign_one_is_refused() {
    let id = ClientOrderId::from_raw("b-1-s1-1");
    let v = order_reply();
    let (info, market) = BybitSpot::order_info(&v).unwrap();
    assert_eq!(check::order(&Asked::id("BTCUSDT", &id), market, info).unwrap().filled_quote, dec!(100));
    let mut v = order_reply();
    v["orderLinkId"] = "someone-else".into();
    let (info, market) = BybitSpot::order_info(&v).unwrap();
    assert!(matches!(check::order(&Asked::id("BTCUSDT", &id), market, info), Err(ExchangeError::Malformed(_))));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_body_is_a_reply_or_a_typed_error(status in fuzz::status(), body in fuzz::json(), now in any::<i64>()) {
        let mut h = HeaderMap::new();
        h.insert("x-bapi-limit-reset-timestamp", i64::MAX.to_string().parse().unwrap());
        let _ = interpret(status, &h, &body.to_string(), now);
        let _ = interpret(status, &HeaderMap::new(), &json!({"retCode": body, "retMsg": "x"}).to_string(), now);
    }

    #[test]
    fn perturbed_order_reports_never_panic_and_what_passes_is_sane(v in fuzz::perturbed(order_reply())) {
        let id = ClientOrderId::from_raw("b-1-s1-1");
        if let Ok((info, market)) = BybitSpot::order_info(&v) {
            if let Ok(info) = check::order(&Asked::id("BTCUSDT", &id), market, info) {
                prop_assert!(info.filled >= rust_decimal::Decimal::ZERO && info.filled <= info.quantity);
                prop_assert!(info.updates(rust_decimal::Decimal::ZERO, rust_decimal::Decimal::ZERO).is_ok());
            }
        }
    }
}
