//! A fake Bybit v5 spot server on 127.0.0.1: checks the API key, the
//! signature (`timestamp + key + recvWindow + query|body`) and the
//! timestamp window, keeps orders, executions and balances, fills resting
//! limits on a scripted price path (half first, then the rest), returns
//! klines newest first, and injects Bybit's faults.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use martingale_exchange::bybit::{sign, BybitConfig, BybitSpot};
use martingale_exchange::Secret;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use super::book::{Book, Order, OrderState, Trade};

pub const KEY: &str = "bybit-test-key";
pub const SECRET: &str = "bybit-test-secret";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// Store the next order, then answer 502.
    ServerErrorAfterAccept,
    /// Store the next order, then answer after the client's timeout.
    TimeoutAfterAccept,
    /// Answer the next request with retCode 10006 and a reset time 0.6 s ahead.
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

fn reply(code: i64, msg: &str, result: Value) -> Response {
    (StatusCode::OK, json!({"retCode": code, "retMsg": msg, "result": result, "time": now()}).to_string())
        .into_response()
}

fn ok(result: Value) -> Response {
    reply(0, "OK", result)
}

fn params(q: &str) -> HashMap<String, String> {
    q.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn order_json(o: &Order) -> Value {
    let status = match o.state {
        OrderState::New => "New",
        OrderState::Partial => "PartiallyFilled",
        OrderState::Filled => "Filled",
        OrderState::Canceled if o.filled.is_zero() => "Cancelled",
        OrderState::Canceled => "PartiallyFilledCanceled",
    };
    json!({"symbol": "BTCUSDT", "orderLinkId": o.id, "orderId": format!("id-{}", o.id),
           "side": if o.buy { "Buy" } else { "Sell" }, "orderType": if o.limit { "Limit" } else { "Market" },
           "price": o.price.to_string(), "qty": o.qty.to_string(), "cumExecQty": o.filled.to_string(),
           "cumExecValue": o.value.to_string(), "orderStatus": status, "updatedTime": now().to_string()})
}

fn trade_json(t: &Trade) -> Value {
    json!({"symbol": "BTCUSDT", "orderLinkId": t.order, "execId": format!("e{}", t.n), "execTime": now().to_string(),
           "side": if t.buy { "Buy" } else { "Sell" }, "execPrice": t.price.to_string(), "execQty": t.qty.to_string(),
           "execFee": "0", "feeCurrency": "USDT"})
}

/// Moves the scripted price (see [`Book::move_price`]).
pub fn move_price(fake: &mut Fake, price: Decimal) {
    fake.book.move_price(price);
}

/// Key, signature and timestamp window of a private request.
#[allow(clippy::result_large_err)] // test server: the Err is the HTTP answer itself
fn verify(fake: &Fake, headers: &HeaderMap, payload: &str) -> Result<(), Response> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    if h("X-BAPI-API-KEY") != KEY {
        return Err(reply(10003, "API key is invalid.", json!({})));
    }
    let ts: i64 = h("X-BAPI-TIMESTAMP").parse().unwrap_or(0);
    let window: u64 = h("X-BAPI-RECV-WINDOW").parse().unwrap_or(5000);
    if sign(&Secret::new(SECRET), ts, KEY, window, payload) != h("X-BAPI-SIGN") {
        return Err(reply(10004, "error sign!", json!({})));
    }
    let server = now() + fake.skew_ms;
    if ts >= server + 1000 || server - ts > window as i64 {
        return Err(reply(
            10002,
            "invalid request, please check your server timestamp or recv_window param",
            json!({}),
        ));
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
        let mut h = HeaderMap::new();
        h.insert("X-Bapi-Limit-Reset-Timestamp", (now() + 600).to_string().parse().unwrap());
        let body = json!({"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "time": now()}).to_string();
        return ((StatusCode::OK, h, body).into_response(), None);
    }
    let query = uri.query().unwrap_or_default().to_string();
    let p = params(&query);
    let path = uri.path();
    let public = path.starts_with("/v5/market/");
    if !public {
        let payload = if method == Method::POST { String::from_utf8_lossy(body).to_string() } else { query.clone() };
        if let Err(r) = verify(&fake, headers, &payload) {
            return (r, None);
        }
    }
    let b: Value =
        if method == Method::POST { serde_json::from_slice(body).unwrap_or(Value::Null) } else { Value::Null };
    let resp = match (method.as_str(), path) {
        ("GET", "/v5/market/time") => {
            let t = now() + fake.skew_ms;
            ok(json!({"timeSecond": (t / 1000).to_string(), "timeNano": (t as i128 * 1_000_000).to_string()}))
        }
        ("GET", "/v5/market/instruments-info") => ok(json!({"category": "spot", "list": [{"symbol": "BTCUSDT",
            "baseCoin": "BTC", "quoteCoin": "USDT", "status": "Trading",
            "lotSizeFilter": {"basePrecision": "0.00001", "quotePrecision": "0.00000001", "minOrderQty": "0.00001",
                              "maxOrderQty": "71.73956243", "minOrderAmt": "5", "maxOrderAmt": "2000000"},
            "priceFilter": {"tickSize": "0.01"}}]})),
        ("GET", "/v5/market/tickers") => {
            ok(json!({"category": "spot", "list": [{"symbol": "BTCUSDT", "lastPrice": fake.book.price.to_string()}]}))
        }
        ("GET", "/v5/market/kline") => {
            let start: i64 = p.get("start").and_then(|v| v.parse().ok()).unwrap_or(0);
            let end: i64 = p.get("end").and_then(|v| v.parse().ok()).unwrap_or(i64::MAX);
            let limit: usize = p.get("limit").and_then(|v| v.parse().ok()).unwrap_or(200).min(1000);
            let rows: Vec<Value> = fake
                .candles
                .iter()
                .rev()
                .filter(|(t, _)| *t >= start && *t <= end)
                .take(limit)
                .map(|(t, px)| {
                    json!([
                        t.to_string(),
                        px.to_string(),
                        (px + dec!(1)).to_string(),
                        (px - dec!(1)).to_string(),
                        px.to_string(),
                        "1.0",
                        "100"
                    ])
                })
                .collect();
            ok(json!({"category": "spot", "symbol": "BTCUSDT", "list": rows}))
        }
        ("GET", "/v5/account/wallet-balance") => ok(json!({"list": [{"accountType": "UNIFIED", "coin": [
            {"coin": "BTC", "walletBalance": fake.book.btc.to_string(), "locked": "0"},
            {"coin": "USDT", "walletBalance": fake.book.usdt.to_string(), "locked": "0"}]}]})),
        ("POST", "/v5/order/create") => {
            let id = b["orderLinkId"].as_str().unwrap_or_default().to_string();
            if fake.book.find(&id).is_some() {
                return (reply(170141, "Duplicate clientOrderId.", json!({})), None);
            }
            let qty: Decimal = b["qty"].as_str().and_then(|v| v.parse().ok()).unwrap_or_default();
            let limit: Option<Decimal> =
                if b["orderType"] == "Limit" { b["price"].as_str().and_then(|v| v.parse().ok()) } else { None };
            if qty * limit.unwrap_or(fake.book.price) < dec!(5) {
                return (reply(170140, "Order value exceeded lower limit.", json!({})), None);
            }
            if fake.book.place(&id, b["side"] == "Buy", limit, qty).is_none() {
                return (reply(170131, "Insufficient balance.", json!({})), None);
            }
            match fake.faults.first().copied() {
                Some(Fault::ServerErrorAfterAccept) => {
                    fake.faults.remove(0);
                    return ((StatusCode::BAD_GATEWAY, "bad gateway").into_response(), None);
                }
                Some(Fault::TimeoutAfterAccept) => {
                    fake.faults.remove(0);
                    return (
                        ok(json!({"orderId": format!("id-{id}"), "orderLinkId": id})),
                        Some(Duration::from_millis(500)),
                    );
                }
                _ => {}
            }
            ok(json!({"orderId": format!("id-{id}"), "orderLinkId": id}))
        }
        ("POST", "/v5/order/cancel") => {
            let id = b["orderLinkId"].as_str().unwrap_or_default().to_string();
            match fake.book.find(&id) {
                Some(i) if fake.book.cancel(i) => ok(json!({"orderId": format!("id-{id}"), "orderLinkId": id})),
                _ => reply(170213, "Order does not exist.", json!({})),
            }
        }
        ("GET", "/v5/order/realtime") | ("GET", "/v5/order/history") => match p.get("orderLinkId") {
            Some(id) => {
                let list: Vec<Value> = match fake.book.find(id) {
                    Some(i)
                        if fake.faults.first() == Some(&Fault::StaleQuery)
                            && fake.book.orders[i].previous.is_some() =>
                    {
                        fake.faults.remove(0);
                        vec![order_json(fake.book.orders[i].previous.as_ref().unwrap())]
                    }
                    Some(i) => vec![order_json(&fake.book.orders[i])],
                    None => vec![],
                };
                ok(json!({"category": "spot", "list": list}))
            }
            None => {
                let list: Vec<Value> = fake.book.orders.iter().filter(|o| o.is_open()).map(order_json).collect();
                ok(json!({"category": "spot", "list": list}))
            }
        },
        ("GET", "/v5/execution/list") => {
            ok(json!({"category": "spot", "list": fake.book.trades.iter().map(trade_json).collect::<Vec<_>>()}))
        }
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

pub fn client(url: &str, secret: &str) -> BybitSpot {
    // The crash test sends ~1,000 requests a run, far faster than a live bot.
    let cfg = BybitConfig {
        base_url: url.into(),
        timeout: Duration::from_millis(400),
        requests_per_minute: 1_000_000,
        ..Default::default()
    };
    BybitSpot::new(cfg, Secret::new(KEY), Secret::new(secret)).unwrap()
}

pub fn funded() -> Fake {
    Fake { book: Book::funded(dec!(10000), dec!(43250.17)), ..Default::default() }
}
