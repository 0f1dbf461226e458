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

#[derive(Clone, Debug)]
pub struct Order {
    pub link_id: String,
    pub side: &'static str,
    pub kind: &'static str,
    pub price: Decimal,
    pub qty: Decimal,
    pub filled: Decimal,
    pub value: Decimal,
    pub status: &'static str,
    previous: Option<Box<Order>>,
}

#[derive(Default)]
pub struct Fake {
    pub orders: Vec<Order>,
    pub execs: Vec<Value>,
    pub usdt: Decimal,
    pub btc: Decimal,
    pub price: Decimal,
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
    json!({"symbol": "BTCUSDT", "orderLinkId": o.link_id, "orderId": format!("id-{}", o.link_id), "side": o.side,
           "orderType": o.kind, "price": if o.kind == "Limit" { o.price.to_string() } else { "0".to_string() },
           "qty": o.qty.to_string(), "cumExecQty": o.filled.to_string(), "cumExecValue": o.value.to_string(),
           "orderStatus": o.status, "updatedTime": now().to_string()})
}

fn fill(fake: &mut Fake, i: usize, price: Decimal, qty: Decimal) {
    let before = fake.orders[i].clone();
    let o = &mut fake.orders[i];
    o.previous = Some(Box::new(Order { previous: None, ..before }));
    o.filled += qty;
    o.value += price * qty;
    o.status = if o.filled == o.qty { "Filled" } else { "PartiallyFilled" };
    let (buy, id) = (o.side == "Buy", o.link_id.clone());
    if buy {
        fake.btc += qty;
        fake.usdt -= price * qty;
    } else {
        fake.btc -= qty;
        fake.usdt += price * qty;
    }
    let n = fake.execs.len();
    fake.execs.push(json!({"symbol": "BTCUSDT", "orderLinkId": id, "execId": format!("e{}", n + 1),
        "execTime": now().to_string(), "side": if buy { "Buy" } else { "Sell" }, "execPrice": price.to_string(),
        "execQty": qty.to_string(), "execFee": "0", "feeCurrency": "USDT"}));
}

/// Moves the scripted price; resting limits it reaches fill (half first).
pub fn move_price(fake: &mut Fake, price: Decimal) {
    fake.price = price;
    for i in 0..fake.orders.len() {
        let o = fake.orders[i].clone();
        let reached = (o.side == "Buy" && price <= o.price) || (o.side == "Sell" && price >= o.price);
        if o.kind == "Limit" && reached && matches!(o.status, "New" | "PartiallyFilled") {
            let open = o.qty - o.filled;
            let part = if o.status == "New" { (open / dec!(2)).round_dp(5) } else { open };
            fill(fake, i, o.price, part);
        }
    }
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
    let find = |fake: &Fake, id: &str| fake.orders.iter().position(|o| o.link_id == id);
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
            ok(json!({"category": "spot", "list": [{"symbol": "BTCUSDT", "lastPrice": fake.price.to_string()}]}))
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
            {"coin": "BTC", "walletBalance": fake.btc.to_string(), "locked": "0"},
            {"coin": "USDT", "walletBalance": fake.usdt.to_string(), "locked": "0"}]}]})),
        ("POST", "/v5/order/create") => {
            let id = b["orderLinkId"].as_str().unwrap_or_default().to_string();
            if find(&fake, &id).is_some() {
                return (reply(170141, "Duplicate clientOrderId.", json!({})), None);
            }
            let qty: Decimal = b["qty"].as_str().and_then(|v| v.parse().ok()).unwrap_or_default();
            let limit = b["orderType"] == "Limit";
            let price: Decimal = if limit {
                b["price"].as_str().and_then(|v| v.parse().ok()).unwrap_or_default()
            } else {
                Decimal::ZERO
            };
            let px = if limit { price } else { fake.price };
            if qty * px < dec!(5) {
                return (reply(170140, "Order value exceeded lower limit.", json!({})), None);
            }
            let side = if b["side"] == "Buy" { "Buy" } else { "Sell" };
            if (side == "Buy" && px * qty > fake.usdt) || (side == "Sell" && qty > fake.btc) {
                return (reply(170131, "Insufficient balance.", json!({})), None);
            }
            fake.orders.push(Order {
                link_id: id.clone(),
                side,
                kind: if limit { "Limit" } else { "Market" },
                price,
                qty,
                filled: Decimal::ZERO,
                value: Decimal::ZERO,
                status: "New",
                previous: None,
            });
            let i = fake.orders.len() - 1;
            if !limit {
                let px = fake.price;
                fill(&mut fake, i, px, qty);
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
            match find(&fake, &id) {
                Some(i) if matches!(fake.orders[i].status, "New" | "PartiallyFilled") => {
                    let before = fake.orders[i].clone();
                    fake.orders[i].previous = Some(Box::new(Order { previous: None, ..before }));
                    fake.orders[i].status =
                        if fake.orders[i].filled.is_zero() { "Cancelled" } else { "PartiallyFilledCanceled" };
                    ok(json!({"orderId": format!("id-{id}"), "orderLinkId": id}))
                }
                _ => reply(170213, "Order does not exist.", json!({})),
            }
        }
        ("GET", "/v5/order/realtime") | ("GET", "/v5/order/history") => match p.get("orderLinkId") {
            Some(id) => {
                let list: Vec<Value> = match find(&fake, id) {
                    Some(i) if fake.faults.first() == Some(&Fault::StaleQuery) && fake.orders[i].previous.is_some() => {
                        fake.faults.remove(0);
                        vec![order_json(fake.orders[i].previous.as_ref().unwrap())]
                    }
                    Some(i) => vec![order_json(&fake.orders[i])],
                    None => vec![],
                };
                ok(json!({"category": "spot", "list": list}))
            }
            None => {
                let list: Vec<Value> = fake
                    .orders
                    .iter()
                    .filter(|o| matches!(o.status, "New" | "PartiallyFilled"))
                    .map(order_json)
                    .collect();
                ok(json!({"category": "spot", "list": list}))
            }
        },
        ("GET", "/v5/execution/list") => ok(json!({"category": "spot", "list": fake.execs.clone()})),
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
    Fake { usdt: dec!(10000), btc: dec!(0), price: dec!(43250.17), ..Default::default() }
}
