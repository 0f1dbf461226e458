//! Binance: the error table (definite refusal or unknown outcome), error
//! bodies, and fuzzed replies through the parsers and the shared check.

use martingale_core::engine::{ClientOrderId, OrderKind, OrderRequest, OrderRole};
use martingale_core::OrderSide;
use proptest::prelude::*;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use rstest::rstest;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use super::spot::{interpret, map_error, BinanceSpot};
use crate::check::{self, Asked};
use crate::error::ExchangeError;
use crate::fuzz;
use crate::rest::Reply;

/// Codes and messages from the Binance Spot error-code page.
#[rstest]
#[case::unknown(-1000, "An unknown error occurred while processing the request.", "Venue", false)]
#[case::disconnected(-1001, "Internal error; unable to process your request. Please try again.", "Venue", false)]
#[case::unexpected_resp(-1006, "An unexpected response was received from the message bus. Execution status unknown.", "Venue", false)]
#[case::timeout(-1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown.", "Venue", false)]
#[case::busy(-1008, "Spot server is currently overloaded with other requests. Please try again in a few minutes.", "Venue", false)]
#[case::undocumented(-1999, "something new", "Venue", false)]
#[case::too_many_requests(-1003, "Too much request weight used", "RateLimited", false)]
#[case::too_many_orders(-1015, "Too many new orders.", "RateLimited", false)]
#[case::timestamp(-1021, "Timestamp for this request is outside of the recvWindow.", "TimestampOutOfWindow", false)]
#[case::signature(-1022, "Signature for this request is not valid.", "Authentication", false)]
#[case::key(-2015, "Invalid API-key, IP, or permissions for action.", "Authentication", false)]
#[case::filter(-1013, "Filter failure: LOT_SIZE", "RuleViolation", true)]
#[case::precision(-1111, "Precision is over the maximum defined for this asset.", "RuleViolation", true)]
#[case::bad_symbol(-1121, "Invalid symbol.", "UnknownMarket", false)]
#[case::mandatory_param(-1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed.", "Rejected", true)]
#[case::invalid_side(-1117, "Invalid side.", "Rejected", true)]
#[case::balance(-2010, "Account has insufficient balance for requested action.", "InsufficientBalance", true)]
#[case::would_take(-2010, "Order would immediately match and take.", "Rejected", true)]
#[case::duplicate(-2010, "Duplicate order sent.", "DuplicateOrder", false)]
#[case::margin(-2019, "Margin is insufficient.", "InsufficientBalance", true)]
#[case::cancel_rejected(-2011, "Unknown order sent.", "UnknownOrder", false)]
#[case::no_such_order(-2013, "Order does not exist.", "UnknownOrder", false)]
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
fn error_bodies_keep_the_venues_message_and_ambiguous_statuses_stay_unknown() {
    let h = HeaderMap::new();
    // -1007 arrives with HTTP 408 or 400: unknown outcome, message kept.
    let body = r#"{"code":-1007,"msg":"Timeout waiting for response from backend server. Send status unknown; execution status unknown."}"#;
    for status in [StatusCode::REQUEST_TIMEOUT, StatusCode::BAD_REQUEST, StatusCode::OK] {
        let e = err(interpret(status, &h, body));
        assert!(
            matches!(&e, ExchangeError::Venue { code: -1007, message } if message.contains("execution status unknown"))
        );
        assert!(!e.is_definite_rejection());
    }
    // Issue 21: an error body on HTTP 200 is that error, not a reply.
    let e = err(interpret(StatusCode::OK, &h, r#"{"code":-2010,"msg":"Order would immediately match and take."}"#));
    assert_eq!(e, ExchangeError::Rejected { code: -2010, message: "Order would immediately match and take.".into() });
    // A 5xx is a network-level unknown; an unreadable body keeps its text.
    assert_eq!(err(interpret(StatusCode::BAD_GATEWAY, &h, "<html>")).kind(), "Network");
    assert!(
        matches!(err(interpret(StatusCode::OK, &h, "<html>oops")), ExchangeError::Malformed(m) if m.contains("<html>oops"))
    );
    let mut h = HeaderMap::new();
    h.insert("retry-after", "99999999999".parse().unwrap());
    assert_eq!(
        err(interpret(StatusCode::TOO_MANY_REQUESTS, &h, "")),
        ExchangeError::RateLimited { retry_after: std::time::Duration::from_secs(99_999_999_999) }
    );
}

/// The documented `POST /api/v3/order` (FULL) reply of our order.
fn placed_reply() -> Value {
    json!({"symbol": "BTCUSDT", "orderId": 28, "orderListId": -1, "clientOrderId": "b-1-s1-1",
           "transactTime": 1507725176595i64, "price": "100.00000000", "origQty": "2.00000000",
           "executedQty": "1.00000000", "cummulativeQuoteQty": "100.00000000", "status": "PARTIALLY_FILLED",
           "timeInForce": "GTC", "type": "LIMIT", "side": "BUY", "workingTime": 1507725176595i64})
}

fn request() -> OrderRequest {
    OrderRequest {
        client_order_id: ClientOrderId::from_raw("b-1-s1-1"),
        role: OrderRole::Safety(1),
        side: OrderSide::Buy,
        kind: OrderKind::Limit { price: dec!(100) },
        quantity: dec!(2),
    }
}

#[test]
fn the_documented_reply_passes_and_issue_13_is_refused() {
    let o = request();
    let v = placed_reply();
    let (info, market) = BinanceSpot::order_info(&v, "clientOrderId").unwrap();
    assert_eq!(check::order(&Asked::placed("BTCUSDT", &o), market, info).unwrap().filled, dec!(1));
    let mut v = placed_reply();
    v["executedQty"] = "0.0000000000000000000000000001".into();
    v["cummulativeQuoteQty"] = "79000000000000000000000000000".into();
    let (info, market) = BinanceSpot::order_info(&v, "clientOrderId").unwrap();
    assert!(matches!(check::order(&Asked::placed("BTCUSDT", &o), market, info), Err(ExchangeError::Malformed(_))));
    let mut v = placed_reply();
    v["symbol"] = "ETHUSDT".into();
    let (info, market) = BinanceSpot::order_info(&v, "clientOrderId").unwrap();
    assert!(matches!(check::order(&Asked::placed("BTCUSDT", &o), market, info), Err(ExchangeError::Malformed(_))));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_body_is_a_reply_or_a_typed_error(status in fuzz::status(), body in fuzz::json()) {
        let _ = interpret(status, &HeaderMap::new(), &body.to_string());
    }

    #[test]
    fn perturbed_order_reports_never_panic_and_what_passes_is_sane(v in fuzz::perturbed(placed_reply())) {
        let o = request();
        if let Ok((info, market)) = BinanceSpot::order_info(&v, "clientOrderId") {
            if let Ok(info) = check::order(&Asked::placed("BTCUSDT", &o), market, info) {
                prop_assert!(info.filled >= rust_decimal::Decimal::ZERO && info.filled <= info.quantity);
                prop_assert!(info.updates(rust_decimal::Decimal::ZERO, rust_decimal::Decimal::ZERO).is_ok());
            }
        }
        let _ = interpret(StatusCode::OK, &HeaderMap::new(), &v.to_string());
    }
}
