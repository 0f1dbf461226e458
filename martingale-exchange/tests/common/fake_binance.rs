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

use super::documented::{self, with};

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
    /// The venue's order id (1-based, in placement order across accounts).
    pub order_id: i64,
    /// Placement time (ms).
    pub time: i64,
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
    /// `GET /api/v3/ticker/price` requests.
    pub price_requests: usize,
    pub candles: Vec<(i64, Decimal)>,
    /// More accounts: API key -> (secret, the account's orders, trades and
    /// balances in a `Fake` whose market fields are unused).
    pub others: HashMap<String, (String, Fake)>,
    /// Requests in the current minute (the weight header).
    pub minute: (i64, usize),
    /// The last order id given (ids are unique across accounts).
    pub last_order_id: i64,
}

pub type Shared = Arc<Mutex<Fake>>;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn error(status: StatusCode, code: i64, msg: &str) -> Response {
    (status, json!({"code": code, "msg": msg}).to_string()).into_response()
}

fn params(q: &str) -> HashMap<String, String> {
    q.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), decode(v))).collect()
}

/// Percent-decoding of a form value (`+` is a space).
fn decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match u8::from_str_radix(&v[i + 1..i + 3], 16) {
                Ok(x) => {
                    out.push(x);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
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

/// `GET /api/v3/order` (and the rows of `openOrders` / `allOrders`).
fn order_json(o: &Order) -> Value {
    let t = documented::example("binance", "order_query");
    with(
        t,
        &[
            ("symbol", json!("BTCUSDT")),
            ("orderId", json!(o.order_id)),
            ("orderListId", json!(-1)),
            ("clientOrderId", json!(o.client_id)),
            ("price", json!(format!("{:.8}", o.price))),
            ("origQty", json!(format!("{:.8}", o.qty))),
            ("executedQty", json!(format!("{:.8}", o.filled))),
            ("cummulativeQuoteQty", json!(format!("{:.8}", o.quote))),
            ("status", json!(o.status)),
            ("timeInForce", json!("GTC")),
            ("type", json!(o.kind)),
            ("side", json!(o.side)),
            ("stopPrice", json!("0.00000000")),
            ("icebergQty", json!("0.00000000")),
            ("time", json!(o.time)),
            ("updateTime", json!(now())),
            ("isWorking", json!(true)),
            ("workingTime", json!(o.time)),
            ("origQuoteOrderQty", json!("0.00000000")),
            ("selfTradePreventionMode", json!("EXPIRE_MAKER")),
        ],
    )
}

/// `POST /api/v3/order` with `newOrderRespType=FULL`: the order and the
/// trades it made at once.
fn new_order_json(o: &Order, trades: &[Value]) -> Value {
    let fill_row = documented::first(&documented::example("binance", "order_new")["fills"]);
    let fills: Vec<Value> = trades
        .iter()
        .filter(|t| t["orderId"] == json!(o.order_id))
        .map(|t| {
            with(
                fill_row.clone(),
                &[
                    ("price", t["price"].clone()),
                    ("qty", t["qty"].clone()),
                    ("commission", t["commission"].clone()),
                    ("commissionAsset", t["commissionAsset"].clone()),
                    ("tradeId", t["id"].clone()),
                ],
            )
        })
        .collect();
    with(
        documented::example("binance", "order_new"),
        &[
            ("symbol", json!("BTCUSDT")),
            ("orderId", json!(o.order_id)),
            ("orderListId", json!(-1)),
            ("clientOrderId", json!(o.client_id)),
            ("transactTime", json!(o.time)),
            ("price", json!(format!("{:.8}", o.price))),
            ("origQty", json!(format!("{:.8}", o.qty))),
            ("executedQty", json!(format!("{:.8}", o.filled))),
            ("origQuoteOrderQty", json!("0.00000000")),
            ("cummulativeQuoteQty", json!(format!("{:.8}", o.quote))),
            ("status", json!(o.status)),
            ("timeInForce", json!("GTC")),
            ("type", json!(o.kind)),
            ("side", json!(o.side)),
            ("workingTime", json!(o.time)),
            ("selfTradePreventionMode", json!("EXPIRE_MAKER")),
            ("fills", Value::Array(fills)),
        ],
    )
}

/// The answer of `DELETE /api/v3/order`, the documented example
/// (<https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints#cancel-order-trade>):
/// the canceled order's id is `origClientOrderId`; `clientOrderId` is the
/// cancel request's own new id (generated by the venue when none is sent).
fn cancel_json(o: &Order, n: usize) -> Value {
    with(
        documented::example("binance", "order_cancel"),
        &[
            ("symbol", json!("BTCUSDT")),
            ("origClientOrderId", json!(o.client_id)),
            ("orderId", json!(o.order_id)),
            ("orderListId", json!(-1)),
            ("clientOrderId", json!(format!("cancel{n}x7bKz"))),
            ("transactTime", json!(now())),
            ("price", json!(format!("{:.8}", o.price))),
            ("origQty", json!(format!("{:.8}", o.qty))),
            ("executedQty", json!(format!("{:.8}", o.filled))),
            ("origQuoteOrderQty", json!("0.00000000")),
            ("cummulativeQuoteQty", json!(format!("{:.8}", o.quote))),
            ("status", json!(o.status)),
            ("timeInForce", json!("GTC")),
            ("type", json!(o.kind)),
            ("side", json!(o.side)),
            ("selfTradePreventionMode", json!("EXPIRE_MAKER")),
        ],
    )
}

/// A `myTrades` row.
pub fn trade_json(id: usize, o: &Order, time: i64, price: Decimal, qty: Decimal) -> Value {
    with(
        documented::row("binance", "my_trades"),
        &[
            ("symbol", json!("BTCUSDT")),
            ("id", json!(id)),
            ("orderId", json!(o.order_id)),
            ("orderListId", json!(-1)),
            ("price", json!(format!("{:.8}", price))),
            ("qty", json!(format!("{:.8}", qty))),
            ("quoteQty", json!(format!("{:.8}", price * qty))),
            ("commission", json!("0.00000000")),
            ("commissionAsset", json!("USDT")),
            ("time", json!(time)),
            ("isBuyer", json!(o.side == "BUY")),
            ("isMaker", json!(o.kind == "LIMIT")),
            ("isBestMatch", json!(true)),
        ],
    )
}

fn fill(fake: &mut Fake, i: usize, price: Decimal, qty: Decimal) {
    let before = fake.orders[i].clone();
    let o = &mut fake.orders[i];
    o.previous = Some(Box::new(Order { previous: None, ..before }));
    o.filled += qty;
    o.quote += price * qty;
    o.status = if o.filled == o.qty { "FILLED" } else { "PARTIALLY_FILLED" };
    let buy = o.side == "BUY";
    let order = o.clone();
    if buy {
        fake.btc += qty;
        fake.usdt -= price * qty;
    } else {
        fake.btc -= qty;
        fake.usdt += price * qty;
    }
    let n = fake.trades.len();
    fake.trades.push(trade_json(n + 1, &order, now(), price, qty));
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
    body: axum::body::Bytes,
) -> Response {
    // Binance signs `query + body`: a client may send the parameters in
    // either (ccxt sends an order's in a form body).
    let (q, body) = (q.unwrap_or_default(), String::from_utf8_lossy(&body).to_string());
    let q = Some(if q.is_empty() || body.is_empty() { q + &body } else { format!("{q}&{body}") });
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
            market.last_order_id += 1;
            fake.orders.push(Order {
                order_id: market.last_order_id,
                time: now(),
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
            let answer = new_order_json(&fake.orders[i], &fake.trades).to_string();
            if market.faults.first() == Some(&Fault::TimeoutAfterAccept) {
                market.faults.remove(0);
                return Err(((StatusCode::OK, answer).into_response(), Duration::from_millis(500)));
            }
            Ok((StatusCode::OK, answer).into_response())
        }
        "GET" | "DELETE" => {
            let id = p.get("origClientOrderId").cloned().unwrap_or_default();
            let by_number = p.get("orderId").and_then(|n| n.parse::<i64>().ok());
            let found = match by_number {
                Some(n) => fake.orders.iter().position(|o| o.order_id == n),
                None => find(fake, &id),
            };
            let Some(i) = found else {
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
        "/api/v3/time" => with(documented::example("binance", "time"), &[("serverTime", json!(now() + fake.skew_ms))]),
        "/api/v3/ticker/price" => {
            fake.price_requests += 1;
            with(
                documented::example("binance", "ticker_price"),
                &[("symbol", json!("BTCUSDT")), ("price", json!(format!("{:.8}", fake.price)))],
            )
        }
        "/api/v3/exchangeInfo" => exchange_info(),
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
                    // The documented row: open time, open, high, low, close,
                    // volume, close time, quote volume, trades, taker buy
                    // base, taker buy quote, "unused".
                    json!([
                        t,
                        format!("{px:.8}"),
                        format!("{:.8}", px + dec!(1)),
                        format!("{:.8}", px - dec!(1)),
                        format!("{px:.8}"),
                        "1.00000000",
                        t + 59_999,
                        format!("{px:.8}"),
                        1,
                        "0.50000000",
                        format!("{:.8}", px / dec!(2)),
                        "0"
                    ])
                })
                .collect();
            Value::Array(rows)
        }
        _ => return error(StatusCode::NOT_FOUND, -1, "no such endpoint"),
    };
    (StatusCode::OK, h, body.to_string()).into_response()
}

/// `GET /api/v3/exchangeInfo`: the documented reply with one symbol,
/// BTCUSDT, carrying the documented filter objects with its values
/// (`MARKET_LOT_SIZE` caps market orders at 128.5 BTC, as on Binance).
fn exchange_info() -> Value {
    let t = documented::example("binance", "exchange_info");
    let filters = documented::example("binance", "filters");
    let filter = |kind: &str, values: &[(&str, Value)]| {
        let f = filters.as_array().unwrap().iter().find(|f| f["filterType"] == kind).cloned().unwrap();
        with(f, values)
    };
    let symbol = with(
        documented::first(&t["symbols"]),
        &[
            ("symbol", json!("BTCUSDT")),
            ("baseAsset", json!("BTC")),
            ("quoteAsset", json!("USDT")),
            (
                "filters",
                json!([
                    filter(
                        "PRICE_FILTER",
                        &[
                            ("minPrice", json!("0.01000000")),
                            ("maxPrice", json!("1000000.00000000")),
                            ("tickSize", json!("0.01000000"))
                        ]
                    ),
                    filter(
                        "LOT_SIZE",
                        &[
                            ("minQty", json!("0.00001000")),
                            ("maxQty", json!("9000.00000000")),
                            ("stepSize", json!("0.00001000"))
                        ]
                    ),
                    filter(
                        "NOTIONAL",
                        &[("minNotional", json!("5.00000000")), ("maxNotional", json!("9000000.00000000"))]
                    ),
                    filter(
                        "MARKET_LOT_SIZE",
                        &[
                            ("minQty", json!("0.00000000")),
                            ("maxQty", json!("128.50000000")),
                            ("stepSize", json!("0.00000000"))
                        ]
                    ),
                ]),
            ),
        ],
    );
    with(t, &[("serverTime", json!(now())), ("symbols", json!([symbol]))])
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
    let (p, key) = match verify(&fake, &headers, &q) {
        Ok(found) => found,
        Err(r) => return r,
    };
    with_account(&mut fake, &key, |_, fake| account_get(fake, uri.path(), &p))
}

/// The documented row limit of a list endpoint (default 500, at most 1,000).
#[allow(clippy::result_large_err)] // test server: the Err is the HTTP answer itself
fn limit(p: &HashMap<String, String>) -> Result<usize, Response> {
    match p.get("limit").map(|l| l.parse::<usize>()) {
        None => Ok(500),
        Some(Ok(n)) if (1..=1000).contains(&n) => Ok(n),
        Some(_) => Err(error(StatusCode::BAD_REQUEST, -1100, "Illegal characters found in parameter 'limit'.")),
    }
}

/// The documented time window rules of `myTrades` / `allOrders`.
#[allow(clippy::result_large_err)] // test server: the Err is the HTTP answer itself
fn window(p: &HashMap<String, String>) -> Result<(i64, i64), Response> {
    let start = p.get("startTime").and_then(|v| v.parse().ok());
    let end = p.get("endTime").and_then(|v| v.parse().ok());
    match (start, end) {
        (Some(s), Some(e)) if e - s > 86_400_000 => {
            Err(error(StatusCode::BAD_REQUEST, -1127, "More than 24 hours between startTime and endTime."))
        }
        (Some(s), Some(e)) => Ok((s, e)),
        (Some(s), None) => Ok((s, s + 86_400_000)),
        (None, Some(e)) => Ok((e - 86_400_000, e)),
        (None, None) => Ok((i64::MIN, i64::MAX)),
    }
}

fn account_get(fake: &mut Fake, path: &str, p: &HashMap<String, String>) -> Response {
    let answer = match path {
        "/api/v3/account" => {
            let t = documented::example("binance", "account");
            let row = documented::first(&t["balances"]);
            let balances = [("BTC", fake.btc), ("USDT", fake.usdt)]
                .iter()
                .map(|(a, free)| {
                    with(
                        row.clone(),
                        &[("asset", json!(a)), ("free", json!(format!("{free:.8}"))), ("locked", json!("0.00000000"))],
                    )
                })
                .collect();
            Ok(with(t, &[("balances", Value::Array(balances)), ("updateTime", json!(now()))]))
        }
        "/api/v3/openOrders" => Ok(Value::Array(
            fake.orders.iter().filter(|o| matches!(o.status, "NEW" | "PARTIALLY_FILLED")).map(order_json).collect(),
        )),
        "/api/v3/myTrades" => my_trades(fake, p),
        "/api/v3/allOrders" => all_orders(fake, p),
        _ => return error(StatusCode::NOT_FOUND, -1, "no such endpoint"),
    };
    match answer {
        Ok(body) => (StatusCode::OK, body.to_string()).into_response(),
        Err(r) => r,
    }
}

/// `GET /api/v3/myTrades`: the documented parameter combinations, window
/// and limit; oldest first by trade id (the most recent `limit` rows when
/// nothing selects a start).
#[allow(clippy::result_large_err)] // test server: the Err is the HTTP answer itself
fn my_trades(fake: &Fake, p: &HashMap<String, String>) -> Result<Value, Response> {
    let limit = limit(p)?;
    let from_id: Option<i64> = p.get("fromId").and_then(|v| v.parse().ok());
    let timed = p.contains_key("startTime") || p.contains_key("endTime");
    if from_id.is_some() && timed {
        return Err(error(StatusCode::BAD_REQUEST, -1128, "Combination of optional parameters invalid."));
    }
    let (start, end) = window(p)?;
    let order: Option<i64> = p.get("orderId").and_then(|v| v.parse().ok());
    let rows: Vec<&Value> = fake
        .trades
        .iter()
        .filter(|t| from_id.is_none_or(|f| t["id"].as_i64().unwrap_or(0) >= f))
        .filter(|t| (start..=end).contains(&t["time"].as_i64().unwrap_or(0)))
        .filter(|t| order.is_none_or(|o| t["orderId"].as_i64() == Some(o)))
        .collect();
    let rows: Vec<Value> = if from_id.is_some() || timed {
        rows.into_iter().take(limit).cloned().collect()
    } else {
        rows[rows.len().saturating_sub(limit)..].iter().map(|t| (*t).clone()).collect()
    };
    Ok(Value::Array(rows))
}

/// `GET /api/v3/allOrders`: orders with `orderId >=` the one given, or in
/// the window, oldest first.
#[allow(clippy::result_large_err)] // test server: the Err is the HTTP answer itself
fn all_orders(fake: &Fake, p: &HashMap<String, String>) -> Result<Value, Response> {
    let limit = limit(p)?;
    let (start, end) = window(p)?;
    let from: i64 = p.get("orderId").and_then(|v| v.parse().ok()).unwrap_or(i64::MIN);
    let rows: Vec<&Order> =
        fake.orders.iter().filter(|o| o.order_id >= from && (start..=end).contains(&o.time)).collect();
    let rows = if p.contains_key("orderId") || p.contains_key("startTime") || p.contains_key("endTime") {
        rows.into_iter().take(limit).map(order_json).collect()
    } else {
        rows[rows.len().saturating_sub(limit)..].iter().map(|o| order_json(o)).collect()
    };
    Ok(Value::Array(rows))
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
        .route("/api/v3/allOrders", get(signed_get))
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

/// Fills `n` past orders of the main account, one every `step_ms` from
/// `start`, each filled by two trades (client ids `hist-<k>`): a history
/// longer than one page, for the paging tests.
pub fn seed_history(fake: &mut Fake, n: usize, start: i64, step_ms: i64) {
    for k in 0..n {
        let time = start + k as i64 * step_ms;
        fake.last_order_id += 1;
        let order = Order {
            order_id: fake.last_order_id,
            time,
            client_id: format!("hist-{k}"),
            side: if k % 2 == 0 { "BUY" } else { "SELL" },
            kind: "LIMIT",
            price: dec!(40000),
            qty: dec!(0.002),
            filled: dec!(0.002),
            quote: dec!(80),
            status: "FILLED",
            previous: None,
        };
        for _ in 0..2 {
            let id = fake.trades.len() + 1;
            fake.trades.push(trade_json(id, &order, time, dec!(40000), dec!(0.001)));
        }
        fake.orders.push(order);
    }
}
