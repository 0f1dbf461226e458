//! A fake Binance Spot server on 127.0.0.1 for the tests (see
//! `binance_fake.rs` for what it checks and injects).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use martingale_exchange::binance::{BinanceConfig, BinanceSpot, Signer};
use martingale_exchange::Secret;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

pub const KEY: &str = "test-api-key";
pub const SECRET: &str = "test-secret-key";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// Store the next order, then answer 500.
    ServerErrorAfterAccept,
    /// Answer the next request with 429 and Retry-After: 1.
    TooManyRequests,
    /// Store the next order, then answer only after the client's timeout.
    TimeoutAfterAccept,
    /// Answer the next order query with the state before the last change
    /// (an out-of-order, stale report), then the same state again.
    StaleQuery,
}

#[derive(Clone, Debug)]
pub struct Order {
    client_id: String,
    side: &'static str,
    kind: &'static str,
    pub price: Decimal,
    qty: Decimal,
    filled: Decimal,
    quote: Decimal,
    status: &'static str,
    /// The state before the last change (for stale reports).
    previous: Option<Box<Order>>,
}

impl Order {
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
    pub fn status(&self) -> &str {
        self.status
    }
    pub fn filled(&self) -> Decimal {
        self.filled
    }
    pub fn quote(&self) -> Decimal {
        self.quote
    }
}

#[derive(Default)]
pub struct Fake {
    pub orders: Vec<Order>,
    pub trades: Vec<Value>,
    pub usdt: Decimal,
    pub btc: Decimal,
    pub price: Decimal,
    pub skew_ms: i64,
    pub faults: Vec<Fault>,
    pub requests: usize,
    pub candles: Vec<(i64, Decimal)>,
    /// More accounts: API key -> (secret, the account's orders, trades and
    /// balances in a `Fake` whose market fields are unused).
    pub others: HashMap<String, (String, Fake)>,
    /// Requests in the current minute (the weight header).
    pub minute: (i64, usize),
}

pub type Shared = Arc<Mutex<Fake>>;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn error(status: StatusCode, code: i64, msg: &str) -> Response {
    (status, json!({"code": code, "msg": msg}).to_string()).into_response()
}

fn params(q: &str) -> HashMap<String, String> {
    q.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Signature, key and timestamp checks of a signed endpoint.
#[allow(clippy::result_large_err)] // test server: the Err is the HTTP answer itself
fn verify(fake: &Fake, headers: &HeaderMap, q: &str) -> Result<(HashMap<String, String>, String), Response> {
    let key = headers.get("X-MBX-APIKEY").and_then(|h| h.to_str().ok()).unwrap_or_default().to_string();
    let secret = if key == KEY { Some(SECRET.to_string()) } else { fake.others.get(&key).map(|(s, _)| s.clone()) };
    let Some(secret) = secret else {
        return Err(error(StatusCode::UNAUTHORIZED, -2015, "Invalid API-key, IP, or permissions for action."));
    };
    let (payload, sig) =
        q.rsplit_once("&signature=").ok_or_else(|| error(StatusCode::BAD_REQUEST, -1102, "signature missing"))?;
    if Signer::Hmac(Secret::new(secret)).sign(payload, "") != sig {
        return Err(error(StatusCode::BAD_REQUEST, -1022, "Signature for this request is not valid."));
    }
    let p = params(payload);
    let ts: i64 = p.get("timestamp").and_then(|t| t.parse().ok()).unwrap_or(0);
    let window: i64 = p.get("recvWindow").and_then(|t| t.parse().ok()).unwrap_or(5000);
    let server = now() + fake.skew_ms;
    if ts >= server + 1000 || server - ts > window {
        return Err(error(StatusCode::BAD_REQUEST, -1021, "Timestamp for this request is outside of the recvWindow."));
    }
    Ok((p, key))
}

/// Runs `f` on the account of `key` (the main one or one of `others`),
/// with the market fields (price, faults) of the main `Fake` at hand.
fn with_account<T>(fake: &mut Fake, key: &str, f: impl FnOnce(&mut Fake, &mut Fake) -> T) -> T {
    if key == KEY {
        // The main account is the market itself: operate on a stand-in
        // holding its account fields, then put them back.
        let mut acct = Fake {
            orders: std::mem::take(&mut fake.orders),
            trades: std::mem::take(&mut fake.trades),
            usdt: fake.usdt,
            btc: fake.btc,
            ..Default::default()
        };
        let out = f(fake, &mut acct);
        fake.orders = acct.orders;
        fake.trades = acct.trades;
        fake.usdt = acct.usdt;
        fake.btc = acct.btc;
        out
    } else {
        let (secret, mut acct) = fake.others.remove(key).unwrap_or_default();
        let out = f(fake, &mut acct);
        fake.others.insert(key.to_string(), (secret, acct));
        out
    }
}

fn order_json(o: &Order) -> Value {
    json!({"symbol": "BTCUSDT", "clientOrderId": o.client_id, "price": o.price.to_string(), "origQty": o.qty.to_string(),
           "executedQty": o.filled.to_string(), "cummulativeQuoteQty": o.quote.to_string(), "status": o.status,
           "type": o.kind, "side": o.side, "updateTime": now()})
}

/// The answer of `DELETE /api/v3/order`, shaped like the documented example
/// (<https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints#cancel-order-trade>):
/// the canceled order's id is `origClientOrderId`; `clientOrderId` is the
/// cancel request's own new id (generated by the venue when none is sent).
fn cancel_json(o: &Order, n: usize) -> Value {
    json!({"symbol": "BTCUSDT", "origClientOrderId": o.client_id, "orderId": n + 1, "orderListId": -1,
           "clientOrderId": format!("cancel{n}x7bKz"), "transactTime": now(), "price": o.price.to_string(),
           "origQty": o.qty.to_string(), "executedQty": o.filled.to_string(),
           "cummulativeQuoteQty": o.quote.to_string(), "status": o.status, "timeInForce": "GTC", "type": o.kind,
           "side": o.side, "selfTradePreventionMode": "NONE"})
}

fn fill(fake: &mut Fake, i: usize, price: Decimal, qty: Decimal) {
    let before = fake.orders[i].clone();
    let o = &mut fake.orders[i];
    o.previous = Some(Box::new(Order { previous: None, ..before }));
    o.filled += qty;
    o.quote += price * qty;
    o.status = if o.filled == o.qty { "FILLED" } else { "PARTIALLY_FILLED" };
    let buy = o.side == "BUY";
    let id = o.client_id.clone();
    if buy {
        fake.btc += qty;
        fake.usdt -= price * qty;
    } else {
        fake.btc -= qty;
        fake.usdt += price * qty;
    }
    let n = fake.trades.len();
    fake.trades
        .push(json!({"id": n + 1, "clientOrderId": id, "time": now(), "isBuyer": buy, "price": price.to_string(),
        "qty": qty.to_string(), "commission": "0", "commissionAsset": "USDT"}));
}

/// Moves the scripted price; resting limits it reaches fill (half first,
/// so partial fills are exercised, then the rest on the next move).
pub fn move_price(fake: &mut Fake, price: Decimal) {
    fake.price = price;
    fill_reached(fake, price);
    for (_, acct) in fake.others.values_mut() {
        fill_reached(acct, price);
    }
}

fn fill_reached(fake: &mut Fake, price: Decimal) {
    for i in 0..fake.orders.len() {
        let o = fake.orders[i].clone();
        let reached = (o.side == "BUY" && price <= o.price) || (o.side == "SELL" && price >= o.price);
        if o.kind == "LIMIT" && reached && (o.status == "NEW" || o.status == "PARTIALLY_FILLED") {
            let open = o.qty - o.filled;
            let part = if o.status == "NEW" { (open / dec!(2)).round_dp(5) } else { open };
            fill(fake, i, o.price, part);
        }
    }
}

async fn order(
    State(s): State<Shared>,
    method: axum::http::Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    // All the work happens under the lock, in a plain function; only the
    // optional delay (the timeout fault) is awaited, with the lock released.
    let (answer, delay) = order_sync(&s, &method, &headers, q);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    answer
}

fn order_sync(
    s: &Shared,
    method: &axum::http::Method,
    headers: &HeaderMap,
    q: Option<String>,
) -> (Response, Option<Duration>) {
    let r = order_locked(s, method, headers, q);
    match r {
        Ok(resp) => (resp, None),
        Err((resp, d)) => (resp, Some(d)),
    }
}

#[allow(clippy::result_large_err)]
fn order_locked(
    s: &Shared,
    method: &axum::http::Method,
    headers: &HeaderMap,
    q: Option<String>,
) -> Result<Response, (Response, Duration)> {
    let mut fake = s.lock().unwrap();
    fake.requests += 1;
    let q = q.unwrap_or_default();
    let (p, key) = match verify(&fake, headers, &q) {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    with_account(&mut fake, &key, |market, acct| order_in(market, acct, method, &p))
}

#[allow(clippy::result_large_err)]
fn order_in(
    market: &mut Fake,
    fake: &mut Fake,
    method: &axum::http::Method,
    p: &HashMap<String, String>,
) -> Result<Response, (Response, Duration)> {
    let find = |fake: &Fake, id: &str| fake.orders.iter().position(|o| o.client_id == id);
    match method.as_str() {
        "POST" => {
            let id = p.get("newClientOrderId").cloned().unwrap_or_default();
            if let Some(i) = find(fake, &id) {
                if matches!(fake.orders[i].status, "NEW" | "PARTIALLY_FILLED") {
                    return Ok(error(StatusCode::BAD_REQUEST, -2010, "Duplicate order sent."));
                }
            }
            let qty: Decimal = p.get("quantity").and_then(|v| v.parse().ok()).unwrap_or_default();
            if qty * market.price < dec!(5) {
                return Ok(error(StatusCode::BAD_REQUEST, -1013, "Filter failure: NOTIONAL"));
            }
            let side = if p.get("side").map(String::as_str) == Some("BUY") { "BUY" } else { "SELL" };
            let limit = p.get("type").map(String::as_str) == Some("LIMIT");
            let price: Decimal =
                if limit { p.get("price").and_then(|v| v.parse().ok()).unwrap_or_default() } else { Decimal::ZERO };
            let cost = if limit { price * qty } else { market.price * qty };
            if (side == "BUY" && cost > fake.usdt) || (side == "SELL" && qty > fake.btc) {
                return Ok(error(
                    StatusCode::BAD_REQUEST,
                    -2010,
                    "Account has insufficient balance for requested action.",
                ));
            }
            fake.orders.push(Order {
                client_id: id,
                side,
                kind: if limit { "LIMIT" } else { "MARKET" },
                price,
                qty,
                filled: Decimal::ZERO,
                quote: Decimal::ZERO,
                status: "NEW",
                previous: None,
            });
            let i = fake.orders.len() - 1;
            if !limit {
                let px = market.price;
                fill(fake, i, px, qty);
            }
            if market.faults.first() == Some(&Fault::ServerErrorAfterAccept) {
                market.faults.remove(0);
                return Ok((StatusCode::INTERNAL_SERVER_ERROR, "upstream timeout").into_response());
            }
            if market.faults.first() == Some(&Fault::TimeoutAfterAccept) {
                market.faults.remove(0);
                let answer = order_json(&fake.orders[i]).to_string();
                return Err(((StatusCode::OK, answer).into_response(), Duration::from_millis(500)));
            }
            Ok((StatusCode::OK, order_json(&fake.orders[i]).to_string()).into_response())
        }
        "GET" | "DELETE" => {
            let id = p.get("origClientOrderId").cloned().unwrap_or_default();
            let Some(i) = find(fake, &id) else {
                return Ok(if method == "GET" {
                    error(StatusCode::BAD_REQUEST, -2013, "Order does not exist.")
                } else {
                    error(StatusCode::BAD_REQUEST, -2011, "Unknown order sent.")
                });
            };
            if method == "GET" && market.faults.first() == Some(&Fault::StaleQuery) && fake.orders[i].previous.is_some()
            {
                market.faults.remove(0);
                let stale = fake.orders[i].previous.clone().map(|p| order_json(&p)).unwrap_or_default();
                return Ok((StatusCode::OK, stale.to_string()).into_response());
            }
            if method == "DELETE" {
                if !matches!(fake.orders[i].status, "NEW" | "PARTIALLY_FILLED") {
                    return Ok(error(StatusCode::BAD_REQUEST, -2011, "Unknown order sent."));
                }
                fake.orders[i].status = "CANCELED";
                return Ok((StatusCode::OK, cancel_json(&fake.orders[i], i).to_string()).into_response());
            }
            Ok((StatusCode::OK, order_json(&fake.orders[i]).to_string()).into_response())
        }
        _ => Ok(error(StatusCode::METHOD_NOT_ALLOWED, -1, "method")),
    }
}

async fn public(State(s): State<Shared>, uri: axum::http::Uri, RawQuery(q): RawQuery) -> Response {
    let mut fake = s.lock().unwrap();
    fake.requests += 1;
    if fake.faults.first() == Some(&Fault::TooManyRequests) {
        fake.faults.remove(0);
        let mut h = HeaderMap::new();
        h.insert("Retry-After", "1".parse().unwrap());
        return (StatusCode::TOO_MANY_REQUESTS, h, json!({"code": -1003, "msg": "Too many requests"}).to_string())
            .into_response();
    }
    let p = params(&q.unwrap_or_default());
    let mut h = HeaderMap::new();
    let minute = now() / 60_000;
    if fake.minute.0 != minute {
        fake.minute = (minute, 0);
    }
    fake.minute.1 += 1;
    h.insert("X-MBX-USED-WEIGHT-1M", fake.minute.1.to_string().parse().unwrap());
    let body = match uri.path() {
        "/api/v3/time" => json!({"serverTime": now() + fake.skew_ms}),
        "/api/v3/ticker/price" => json!({"symbol": "BTCUSDT", "price": fake.price.to_string()}),
        "/api/v3/exchangeInfo" => json!({"symbols": [{"symbol": "BTCUSDT", "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000.00", "tickSize": "0.01"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
            {"filterType": "NOTIONAL", "minNotional": "5.00000000", "maxNotional": "9000000.00000000"}]}]}),
        "/api/v3/klines" => {
            let start: i64 = p.get("startTime").and_then(|v| v.parse().ok()).unwrap_or(0);
            let end: i64 = p.get("endTime").and_then(|v| v.parse().ok()).unwrap_or(i64::MAX);
            let limit: usize = p.get("limit").and_then(|v| v.parse().ok()).unwrap_or(500).min(1000);
            let rows: Vec<Value> = fake
                .candles
                .iter()
                .filter(|(t, _)| *t >= start && *t <= end)
                .take(limit)
                .map(|(t, px)| {
                    json!([
                        t,
                        px.to_string(),
                        (px + dec!(1)).to_string(),
                        (px - dec!(1)).to_string(),
                        px.to_string(),
                        "1.0",
                        t + 59_999
                    ])
                })
                .collect();
            Value::Array(rows)
        }
        _ => return error(StatusCode::NOT_FOUND, -1, "no such endpoint"),
    };
    (StatusCode::OK, h, body.to_string()).into_response()
}

async fn signed_get(
    State(s): State<Shared>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let mut fake = s.lock().unwrap();
    fake.requests += 1;
    let q = q.unwrap_or_default();
    let key = match verify(&fake, &headers, &q) {
        Ok((_, key)) => key,
        Err(r) => return r,
    };
    with_account(&mut fake, &key, |_, fake| account_get(fake, uri.path()))
}

fn account_get(fake: &mut Fake, path: &str) -> Response {
    let body = match path {
        "/api/v3/account" => json!({"balances": [
            {"asset": "BTC", "free": fake.btc.to_string(), "locked": "0"},
            {"asset": "USDT", "free": fake.usdt.to_string(), "locked": "0"}]}),
        "/api/v3/openOrders" => Value::Array(
            fake.orders.iter().filter(|o| matches!(o.status, "NEW" | "PARTIALLY_FILLED")).map(order_json).collect(),
        ),
        "/api/v3/myTrades" => Value::Array(fake.trades.clone()),
        _ => return error(StatusCode::NOT_FOUND, -1, "no such endpoint"),
    };
    (StatusCode::OK, body.to_string()).into_response()
}

pub async fn serve(fake: Fake) -> (Shared, String) {
    let shared: Shared = Arc::new(Mutex::new(fake));
    let app = Router::new()
        .route("/api/v3/order", get(order).post(order).delete(order))
        .route("/api/v3/time", get(public))
        .route("/api/v3/ticker/price", get(public))
        .route("/api/v3/exchangeInfo", get(public))
        .route("/api/v3/klines", get(public))
        .route("/api/v3/account", get(signed_get))
        .route("/api/v3/openOrders", get(signed_get))
        .route("/api/v3/myTrades", get(signed_get))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (shared, format!("http://{addr}"))
}

pub fn client(url: &str, secret: &str) -> BinanceSpot {
    // Short timeout: the timeout fault answers after 500 ms.
    let cfg = BinanceConfig { base_url: url.into(), timeout: Duration::from_millis(400), ..Default::default() };
    BinanceSpot::new(cfg, Secret::new(KEY), Secret::new(secret)).unwrap()
}

pub fn funded() -> Fake {
    Fake { usdt: dec!(10000), btc: dec!(0), price: dec!(43250.17), ..Default::default() }
}
