//! A fake OKX v5 server on 127.0.0.1: checks key, passphrase, signature
//! (`timestamp + METHOD + path?query + body`, Base64) and the 30 s
//! timestamp window, insists on `clOrdId`s of 1 to 32 letters and digits,
//! keeps orders, fills and balances, fills resting limits on a scripted
//! price path (half first), returns candles newest first (`after` paging),
//! and injects OKX's faults.
//!
//! Every answer is a copy of the reply OKX documents for the endpoint
//! (`tests/fixtures/documented/okx/`, from
//! <https://www.okx.com/docs-v5/en/>) with only the fields this fake's
//! state decides replaced. `trade/fills` (last 3 days) and
//! `trade/fills-history` (last 3 months) page as documented: newest
//! first, at most 100 rows, `begin`/`end` on `ts`, `after` = a `billId`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use martingale_exchange::okx::{sign, OkxConfig, OkxSpot};
use martingale_exchange::Secret;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use super::book::{Book, Order, OrderState, Trade};
use super::documented::{self, with};

pub const KEY: &str = "okx-test-key";
pub const SECRET: &str = "okx-test-secret";
pub const PASSPHRASE: &str = "okx-test-passphrase";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// Store the next order, then answer 503.
    ServerErrorAfterAccept,
    /// Store the next order, then answer after the client's timeout.
    TimeoutAfterAccept,
    /// Answer the next request with HTTP 429 / 50011.
    RateLimit,
    /// Answer the next order query with the state before the last change.
    StaleQuery,
}

#[derive(Default)]
pub struct Fake {
    pub book: Book,
    pub skew_ms: i64,
    pub faults: Vec<Fault>,
    pub requests: usize,
    pub candles: Vec<(i64, Decimal)>,
}

pub type Shared = Arc<Mutex<Fake>>;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A documented reply (`name`'s envelope) holding `data`.
fn reply_as(name: &str, data: Value) -> Response {
    let body = with(documented::example("okx", name), &[("data", data)]);
    (StatusCode::OK, body.to_string()).into_response()
}

fn ok(data: Value) -> Response {
    reply_as("time", data)
}

fn fail(code: &str, msg: &str) -> Response {
    let body =
        with(documented::example("okx", "time"), &[("code", json!(code)), ("msg", json!(msg)), ("data", json!([]))]);
    (StatusCode::OK, body.to_string()).into_response()
}

/// The documented row of `name`'s `data`, with fields replaced.
fn row(name: &str, fields: &[(&str, Value)]) -> Value {
    with(documented::first(&documented::example("okx", name)["data"]), fields)
}

/// An order call's answer: the per-order `sCode` in the documented row.
fn order_answer(name: &str, cl_id: &str, ord_id: &str, code: &str, msg: &str) -> Value {
    let t = now().to_string();
    let mut fields = vec![
        ("clOrdId", json!(cl_id)),
        ("ordId", json!(ord_id)),
        ("ts", json!(t)),
        ("sCode", json!(code)),
        ("sMsg", json!(msg)),
    ];
    if name == "order_place" {
        fields.push(("tag", json!("")));
    }
    let data = json!([row(name, &fields)]);
    let (top, top_msg) = if code == "0" { ("0", "") } else { ("1", "All operations failed") };
    with(
        documented::example("okx", name),
        &[("code", json!(top)), ("msg", json!(top_msg)), ("data", data), ("inTime", json!(t)), ("outTime", json!(t))],
    )
}

/// An order call that failed: per-order `sCode`.
fn order_fail(name: &str, cl_id: &str, code: &str, msg: &str) -> Response {
    (StatusCode::OK, order_answer(name, cl_id, "", code, msg).to_string()).into_response()
}

fn params(q: &str) -> HashMap<String, String> {
    q.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn order_json(o: &Order) -> Value {
    let state = match o.state {
        OrderState::New => "live",
        OrderState::Partial => "partially_filled",
        OrderState::Filled => "filled",
        OrderState::Canceled => "canceled",
    };
    let avg = if o.filled.is_zero() { String::new() } else { o.average().normalize().to_string() };
    row(
        "order_query",
        &[
            ("accFillSz", json!(o.filled.to_string())),
            ("avgPx", json!(avg)),
            ("cTime", json!(o.time.to_string())),
            ("clOrdId", json!(o.id)),
            ("fee", json!("0")),
            ("feeCcy", json!(if o.buy { "BTC" } else { "USDT" })),
            ("fillPx", json!(avg)),
            ("fillSz", json!(o.filled.to_string())),
            ("fillTime", json!(now().to_string())),
            ("instId", json!("BTC-USDT")),
            ("instType", json!("SPOT")),
            ("ordId", json!(o.number.to_string())),
            ("ordType", json!(if o.limit { "limit" } else { "market" })),
            ("px", json!(if o.limit { o.price.to_string() } else { String::new() })),
            ("side", json!(if o.buy { "buy" } else { "sell" })),
            ("state", json!(state)),
            ("sz", json!(o.qty.to_string())),
            ("tdMode", json!("cash")),
            ("tgtCcy", json!(if o.limit { "" } else { "base_ccy" })),
            ("tradeId", json!("")),
            ("uTime", json!(now().to_string())),
        ],
    )
}

fn trade_json(name: &str, t: &Trade, ord_id: usize) -> Value {
    row(
        name,
        &[
            ("side", json!(if t.buy { "buy" } else { "sell" })),
            ("fillSz", json!(t.qty.to_string())),
            ("fillPx", json!(t.price.to_string())),
            ("fee", json!("0")),
            ("ordId", json!(ord_id.to_string())),
            ("feeRate", json!("0")),
            ("instType", json!("SPOT")),
            ("instId", json!("BTC-USDT")),
            ("clOrdId", json!(t.order)),
            ("billId", json!((1_000_000 + t.n).to_string())),
            ("fillTime", json!(t.time.to_string())),
            ("tradeId", json!(t.n.to_string())),
            ("feeCcy", json!("USDT")),
            ("ts", json!(t.time.to_string())),
        ],
    )
}

/// `trade/fills` (last 3 days) and `trade/fills-history` (last 3 months,
/// `instType` required): newest first, `begin`/`end` on `ts`, rows older
/// than the `after` bill id, 1 to 100 rows (100 by default).
fn fills(fake: &Fake, history: bool, p: &HashMap<String, String>) -> Response {
    const DAY: i64 = 86_400_000;
    if history && p.get("instType").is_none() {
        return fail("51000", "Parameter instType error");
    }
    let limit: usize = match p.get("limit").map(|l| l.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return fail("51000", "Parameter limit error"),
    };
    let kept = now() - if history { 90 * DAY } else { 3 * DAY };
    let begin: i64 = p.get("begin").and_then(|v| v.parse().ok()).unwrap_or(i64::MIN).max(kept);
    let end: i64 = p.get("end").and_then(|v| v.parse().ok()).unwrap_or(i64::MAX);
    let after: usize = p.get("after").and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
    let mut rows: Vec<&Trade> =
        fake.book.trades.iter().filter(|t| t.time >= begin && t.time <= end && 1_000_000 + t.n < after).collect();
    rows.sort_by_key(|t| std::cmp::Reverse(t.n));
    let name = if history { "fills_history" } else { "fills" };
    let data: Vec<Value> = rows
        .iter()
        .take(limit)
        .map(|t| trade_json(name, t, fake.book.find(&t.order).map_or(0, |i| fake.book.orders[i].number)))
        .collect();
    reply_as(name, json!(data))
}

/// Moves the scripted price (see [`Book::move_price`]).
pub fn move_price(fake: &mut Fake, price: Decimal) {
    fake.book.move_price(price);
}

#[allow(clippy::result_large_err)] // test server: the Err is the HTTP answer itself
fn verify(fake: &Fake, headers: &HeaderMap, method: &Method, path: &str, body: &str) -> Result<(), Response> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    if h("OK-ACCESS-KEY") != KEY {
        return Err(fail("50111", "Invalid OK-ACCESS-KEY"));
    }
    if h("OK-ACCESS-PASSPHRASE") != PASSPHRASE {
        return Err(fail("50105", "Invalid OK-ACCESS-PASSPHRASE"));
    }
    let ts = h("OK-ACCESS-TIMESTAMP");
    if sign(&Secret::new(SECRET), &ts, method.as_str(), path, body) != h("OK-ACCESS-SIGN") {
        return Err(fail("50113", "Invalid Sign"));
    }
    let t = chrono::DateTime::parse_from_rfc3339(&ts).map(|t| t.timestamp_millis()).unwrap_or(0);
    if (now() + fake.skew_ms - t).abs() > 30_000 {
        return Err(fail("50102", "Timestamp request expired"));
    }
    Ok(())
}

async fn handle(State(s): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let (resp, delay) = handle_sync(&s, &method, &uri, &headers, &body);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    resp
}

fn handle_sync(
    s: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> (Response, Option<Duration>) {
    let mut fake = s.lock().unwrap();
    fake.requests += 1;
    if fake.faults.first() == Some(&Fault::RateLimit) {
        fake.faults.remove(0);
        let body = json!({"code": "50011", "msg": "Too Many Requests", "data": []}).to_string();
        return ((StatusCode::TOO_MANY_REQUESTS, body).into_response(), None);
    }
    let path = uri.path();
    let full = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
    let p = params(uri.query().unwrap_or_default());
    let text = String::from_utf8_lossy(body).to_string();
    if !path.starts_with("/api/v5/public/") && !path.starts_with("/api/v5/market/") {
        if let Err(r) = verify(&fake, headers, method, &full, &text) {
            return (r, None);
        }
    }
    let b: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let resp = match (method.as_str(), path) {
        ("GET", "/api/v5/public/time") => {
            ok(json!([row("time", &[("ts", json!((now() + fake.skew_ms).to_string()))])]))
        }
        ("GET", "/api/v5/public/instruments") => {
            // One instrument: asked by its id, or listed for `instType=SPOT`.
            if p.get("instId").is_some_and(|i| i != "BTC-USDT") || p.get("instType").is_some_and(|t| t != "SPOT") {
                return (fail("51001", "Instrument ID does not exist"), None);
            }
            let inst = row(
                "instruments",
                &[
                    ("instType", json!("SPOT")),
                    ("instId", json!("BTC-USDT")),
                    ("baseCcy", json!("BTC")),
                    ("quoteCcy", json!("USDT")),
                    ("tickSz", json!("0.1")),
                    ("lotSz", json!("0.00000001")),
                    ("minSz", json!("0.00001")),
                    ("maxLmtSz", json!("9999999999")),
                ],
            );
            reply_as("instruments", json!([inst]))
        }
        ("GET", "/api/v5/market/ticker") => {
            let t = row(
                "ticker",
                &[
                    ("instType", json!("SPOT")),
                    ("instId", json!("BTC-USDT")),
                    ("last", json!(fake.book.price.to_string())),
                    ("ts", json!(now().to_string())),
                ],
            );
            reply_as("ticker", json!([t]))
        }
        // As documented: `candles` serves only the latest 1,440 bars,
        // `history-candles` the older ones too (100 a page).
        ("GET", path @ ("/api/v5/market/candles" | "/api/v5/market/history-candles")) => {
            let history = path.ends_with("history-candles");
            let after: i64 = p.get("after").and_then(|v| v.parse().ok()).unwrap_or(i64::MAX);
            let max = if history { 100 } else { 300 };
            let limit: usize = p.get("limit").and_then(|v| v.parse().ok()).unwrap_or(100).min(max);
            let recent_from = fake.candles.len().checked_sub(1440).map_or(i64::MIN, |i| fake.candles[i].0);
            let rows: Vec<Value> = fake
                .candles
                .iter()
                .rev()
                .filter(|(t, _)| *t < after && (history || *t >= recent_from))
                .take(limit)
                .map(|(t, px)| {
                    json!([
                        t.to_string(),
                        px.to_string(),
                        (px + dec!(1)).to_string(),
                        (px - dec!(1)).to_string(),
                        px.to_string(),
                        "1",
                        "100",
                        "100",
                        "1"
                    ])
                })
                .collect();
            reply_as(if history { "history_candles" } else { "candles" }, Value::Array(rows))
        }
        ("GET", "/api/v5/account/balance") => {
            let acct = documented::first(&documented::example("okx", "balance")["data"]);
            let detail = documented::first(&acct["details"]);
            let details: Vec<Value> = [("BTC", fake.book.btc), ("USDT", fake.book.usdt)]
                .iter()
                .map(|(c, bal)| {
                    with(
                        detail.clone(),
                        &[
                            ("ccy", json!(c)),
                            ("availBal", json!(bal.to_string())),
                            ("availEq", json!(bal.to_string())),
                            ("cashBal", json!(bal.to_string())),
                            ("eq", json!(bal.to_string())),
                            ("disEq", json!(bal.to_string())),
                            ("frozenBal", json!("0")),
                            ("ordFrozen", json!("0")),
                            ("upl", json!("0")),
                        ],
                    )
                })
                .collect();
            reply_as("balance", json!([with(acct, &[("details", json!(details))])]))
        }
        ("POST", "/api/v5/trade/order") => {
            let id = b["clOrdId"].as_str().unwrap_or_default().to_string();
            if id.is_empty() || id.len() > 32 || !id.bytes().all(|c| c.is_ascii_alphanumeric()) {
                return (order_fail("order_place", &id, "51000", "Parameter clOrdId error"), None);
            }
            if fake.book.find(&id).is_some() {
                return (order_fail("order_place", &id, "51016", "Duplicated clOrdId"), None);
            }
            let qty: Decimal = b["sz"].as_str().and_then(|v| v.parse().ok()).unwrap_or_default();
            let limit: Option<Decimal> =
                if b["ordType"] == "limit" { b["px"].as_str().and_then(|v| v.parse().ok()) } else { None };
            if qty < dec!(0.00001) {
                return (
                    order_fail(
                        "order_place",
                        &id,
                        "51020",
                        "Your order should meet or exceed the minimum order amount.",
                    ),
                    None,
                );
            }
            if fake.book.place(&id, b["side"] == "buy", limit, qty).is_none() {
                return (order_fail("order_place", &id, "51008", "Order failed. Insufficient balance"), None);
            }
            let number = fake.book.orders.len().to_string();
            let answer = order_answer("order_place", &id, &number, "0", "Order placed");
            match fake.faults.first().copied() {
                Some(Fault::ServerErrorAfterAccept) => {
                    fake.faults.remove(0);
                    return ((StatusCode::SERVICE_UNAVAILABLE, "service unavailable").into_response(), None);
                }
                Some(Fault::TimeoutAfterAccept) => {
                    fake.faults.remove(0);
                    return ((StatusCode::OK, answer.to_string()).into_response(), Some(Duration::from_millis(500)));
                }
                _ => {}
            }
            (StatusCode::OK, answer.to_string()).into_response()
        }
        ("POST", "/api/v5/trade/cancel-order") => {
            let id = b["clOrdId"].as_str().unwrap_or_default().to_string();
            match fake.book.find(&id) {
                Some(i) if fake.book.cancel(i) => {
                    let number = fake.book.orders[i].number.to_string();
                    (StatusCode::OK, order_answer("order_cancel", &id, &number, "0", "").to_string()).into_response()
                }
                _ => order_fail("order_cancel", &id, "51603", "Order does not exist"),
            }
        }
        ("GET", "/api/v5/trade/order") => {
            let id = p.get("clOrdId").cloned().unwrap_or_default();
            match fake.book.find(&id) {
                Some(i)
                    if fake.faults.first() == Some(&Fault::StaleQuery) && fake.book.orders[i].previous.is_some() =>
                {
                    fake.faults.remove(0);
                    reply_as("order_query", json!([order_json(fake.book.orders[i].previous.as_ref().unwrap())]))
                }
                Some(i) => reply_as("order_query", json!([order_json(&fake.book.orders[i])])),
                None => fail("51603", "Order does not exist"),
            }
        }
        ("GET", "/api/v5/trade/orders-pending") => {
            let open: Vec<Value> = fake.book.orders.iter().filter(|o| o.is_open()).map(order_json).collect();
            reply_as("orders_pending", Value::Array(open))
        }
        ("GET", "/api/v5/trade/fills") => fills(&fake, false, &p),
        ("GET", "/api/v5/trade/fills-history") => fills(&fake, true, &p),
        _ => (StatusCode::NOT_FOUND, "no such endpoint").into_response(),
    };
    (resp, None)
}

pub async fn serve(fake: Fake) -> (Shared, String) {
    let shared: Shared = Arc::new(Mutex::new(fake));
    let app = Router::new().fallback(handle).with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (shared, format!("http://{addr}"))
}

pub fn client(url: &str, secret: &str) -> OkxSpot {
    let cfg = OkxConfig {
        base_url: url.into(),
        timeout: Duration::from_millis(400),
        requests_per_minute: 1_000_000,
        ..Default::default()
    };
    OkxSpot::new(cfg, Secret::new(KEY), Secret::new(secret), Secret::new(PASSPHRASE)).unwrap()
}

pub fn funded() -> Fake {
    Fake { book: Book::funded(dec!(10000), dec!(43250.1)), ..Default::default() }
}
