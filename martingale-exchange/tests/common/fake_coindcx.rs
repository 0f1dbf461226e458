//! A fake CoinDCX server on 127.0.0.1: checks the API key, the hex
//! HMAC-SHA256 of the exact body bytes and the body's `timestamp` (10 s
//! window), keeps orders, trades and balances, fills resting limits on a
//! scripted price path (half first), serves `markets_details`, the ticker
//! and candles (newest first, numbers as JSON numbers), and injects faults.
//!
//! Every answer is a copy of the reply CoinDCX documents for the endpoint
//! (`tests/fixtures/documented/coindcx/`, from <https://docs.coindcx.com/>)
//! with only the fields this fake's state decides replaced, except two the
//! documents show no example for: the cancel's answer and error bodies
//! (kept in the shape CoinDCX's other status answers use). `trade_history`
//! pages as documented (`from_timestamp` / `to_timestamp`, `from_id`, 1 to
//! 5,000 rows, 500 by default, ascending by default); its rows carry the
//! venue's `order_id`, not our client order id, and a fractional
//! millisecond `timestamp` as live replies do.
#![allow(dead_code)]

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use martingale_exchange::coindcx::{sign, CoinDcxConfig, CoinDcxSpot};
use martingale_exchange::Secret;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use super::book::{Book, Order, OrderState, Trade};
use super::documented::{self, with};

pub const KEY: &str = "coindcx-test-key";
pub const SECRET: &str = "coindcx-test-secret";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// Store the next order, then answer 500.
    ServerErrorAfterAccept,
    /// Store the next order, then answer after the client's timeout.
    TimeoutAfterAccept,
    /// Answer the next request with 429 and Retry-After: 1.
    TooManyRequests,
    /// Answer the next order status with the state before the last change.
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

fn num(d: Decimal) -> Value {
    json!(d.to_f64().unwrap_or(0.0))
}

fn err(status: StatusCode, msg: &str) -> Response {
    (status, json!({"code": status.as_u16(), "message": msg, "status": "error"}).to_string()).into_response()
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, v.to_string()).into_response()
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// An order row (`orders/status`, `orders/create`, `active_orders`).
fn order_json(o: &Order) -> Value {
    let status = match o.state {
        OrderState::New => "open",
        OrderState::Partial => "partially_filled",
        OrderState::Filled => "filled",
        OrderState::Canceled if o.filled.is_zero() => "cancelled",
        OrderState::Canceled => "partially_cancelled",
    };
    with(
        documented::example("coindcx", "order_status"),
        &[
            ("id", json!(format!("uuid-{}", o.number))),
            ("client_order_id", json!(o.id)),
            ("market", json!("BTCUSDT")),
            ("order_type", json!(if o.limit { "limit_order" } else { "market_order" })),
            ("side", json!(if o.buy { "buy" } else { "sell" })),
            ("status", json!(status)),
            ("fee_amount", json!(0)),
            ("fee", json!(0.1)),
            ("total_quantity", num(o.qty)),
            ("remaining_quantity", num(o.qty - o.filled)),
            ("avg_price", num(o.average())),
            ("price_per_unit", num(o.price)),
            ("created_at", json!(iso(o.time))),
            ("updated_at", json!(iso(now()))),
        ],
    )
}

fn trade_json(t: &Trade, order_number: usize) -> Value {
    // Live replies carry fractional milliseconds (issue 18.3).
    let ts: f64 = t.time as f64 + 0.3608;
    with(
        documented::row("coindcx", "trade_history"),
        &[
            ("id", json!(t.n)),
            ("order_id", json!(format!("uuid-{order_number}"))),
            ("side", json!(if t.buy { "buy" } else { "sell" })),
            ("fee_amount", json!("0")),
            ("ecode", json!("I")),
            ("quantity", num(t.qty)),
            ("price", num(t.price)),
            ("symbol", json!("BTCUSDT")),
            ("timestamp", json!(ts)),
        ],
    )
}

/// `trade_history` under the documented parameters.
fn trade_history(fake: &Fake, b: &Value) -> Response {
    let limit = match b.get("limit").map(|l| l.as_u64()) {
        None => 500,
        Some(Some(n)) if (1..=5000).contains(&n) => n as usize,
        Some(_) => return err(StatusCode::BAD_REQUEST, "Invalid limit"),
    };
    let from = b["from_timestamp"].as_i64().unwrap_or(i64::MIN);
    let to = b["to_timestamp"].as_i64().unwrap_or(i64::MAX);
    let from_id = b["from_id"].as_u64().map_or(0, |n| n as usize);
    let mut rows: Vec<&Trade> =
        fake.book.trades.iter().filter(|t| t.time >= from && t.time <= to && t.n > from_id).collect();
    if b["sort"] == "desc" {
        rows.reverse();
    }
    let page: Vec<Value> = rows
        .iter()
        .take(limit)
        .map(|t| trade_json(t, fake.book.find(&t.order).map_or(0, |i| fake.book.orders[i].number)))
        .collect();
    ok(Value::Array(page))
}

/// Moves the scripted price (see [`Book::move_price`]).
pub fn move_price(fake: &mut Fake, price: Decimal) {
    fake.book.move_price(price);
}

#[allow(clippy::result_large_err)] // test server: the Err is the HTTP answer itself
fn verify(fake: &Fake, headers: &HeaderMap, body: &str) -> Result<Value, Response> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    if h("X-AUTH-APIKEY") != KEY || sign(&Secret::new(SECRET), body) != h("X-AUTH-SIGNATURE") {
        return Err(err(StatusCode::UNAUTHORIZED, "Invalid credentials"));
    }
    let b: Value = serde_json::from_str(body).map_err(|_| err(StatusCode::BAD_REQUEST, "Invalid request"))?;
    let ts = b["timestamp"].as_i64().unwrap_or(0);
    if (now() + fake.skew_ms - ts).abs() > 10_000 {
        return Err(err(StatusCode::BAD_REQUEST, "Timestamp is not within the allowed window"));
    }
    Ok(b)
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
    if fake.faults.first() == Some(&Fault::TooManyRequests) {
        fake.faults.remove(0);
        let mut h = HeaderMap::new();
        h.insert("Retry-After", "1".parse().unwrap());
        let body = json!({"code": 429, "message": "Too many requests", "status": "error"}).to_string();
        return ((StatusCode::TOO_MANY_REQUESTS, h, body).into_response(), None);
    }
    let path = uri.path();
    let q: HashMap<String, String> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let b = if method == Method::POST {
        match verify(&fake, headers, &String::from_utf8_lossy(body)) {
            Ok(b) => b,
            Err(r) => return (r, None),
        }
    } else {
        Value::Null
    };
    let resp = match (method.as_str(), path) {
        ("GET", "/exchange/v1/markets_details") => ok(json!([with(
            documented::row("coindcx", "markets_details"),
            &[
                ("coindcx_name", json!("BTCUSDT")),
                ("pair", json!("B-BTC_USDT")),
                ("symbol", json!("BTCUSDT")),
                ("base_currency_short_name", json!("USDT")),
                ("target_currency_short_name", json!("BTC")),
                ("base_currency_name", json!("Tether")),
                ("target_currency_name", json!("Bitcoin")),
                ("min_quantity", json!(0.00001)),
                ("max_quantity", json!(9000)),
                ("min_price", json!(0.01)),
                ("max_price", json!(1000000)),
                ("min_notional", json!(5)),
                ("base_currency_precision", json!(2)),
                ("target_currency_precision", json!(5)),
                ("step", json!(0.00001)),
                ("ecode", json!("I")),
                ("status", json!("active")),
            ],
        )])),
        ("GET", "/exchange/ticker") => {
            let px = fake.book.price.to_string();
            let row = documented::row("coindcx", "ticker");
            ok(json!([with(
                row,
                &[("market", json!("BTCUSDT")), ("last_price", json!(px)), ("timestamp", json!(now() / 1000))]
            )]))
        }
        ("GET", "/market_data/candles") => {
            let start: i64 = q.get("startTime").and_then(|v| v.parse().ok()).unwrap_or(0);
            let end: i64 = q.get("endTime").and_then(|v| v.parse().ok()).unwrap_or(i64::MAX);
            let limit: usize = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(500).min(1000);
            let rows: Vec<Value> = fake
                .candles
                .iter()
                .rev()
                .filter(|(t, _)| *t >= start && *t <= end)
                .take(limit)
                .map(|(t, px)| {
                    with(
                        documented::row("coindcx", "candles"),
                        &[
                            ("open", num(*px)),
                            ("high", num(px + dec!(1))),
                            ("low", num(px - dec!(1))),
                            ("volume", json!(1.5)),
                            ("close", num(*px)),
                            ("time", json!(t)),
                        ],
                    )
                })
                .collect();
            ok(Value::Array(rows))
        }
        ("POST", "/exchange/v1/users/balances") => {
            let row = documented::row("coindcx", "balances");
            let rows: Vec<Value> = [("BTC", fake.book.btc), ("USDT", fake.book.usdt)]
                .iter()
                .map(|(c, bal)| {
                    with(row.clone(), &[("currency", json!(c)), ("balance", num(*bal)), ("locked_balance", json!(0.0))])
                })
                .collect();
            ok(Value::Array(rows))
        }
        ("POST", "/exchange/v1/orders/create") => {
            let id = b["client_order_id"].as_str().unwrap_or_default().to_string();
            if fake.book.find(&id).is_some() {
                return (err(StatusCode::UNPROCESSABLE_ENTITY, "client_order_id already exists"), None);
            }
            let qty = b["total_quantity"].as_str().and_then(|v| Decimal::from_str(v).ok()).unwrap_or_default();
            let limit = if b["order_type"] == "limit_order" {
                b["price_per_unit"].as_str().and_then(|v| Decimal::from_str(v).ok())
            } else {
                None
            };
            if qty * limit.unwrap_or(fake.book.price) < dec!(5) {
                return (err(StatusCode::UNPROCESSABLE_ENTITY, "Total should be more than min notional 5 USDT"), None);
            }
            let Some(i) = fake.book.place(&id, b["side"] == "buy", limit, qty) else {
                return (err(StatusCode::UNPROCESSABLE_ENTITY, "Insufficient funds"), None);
            };
            let answer = with(
                documented::example("coindcx", "order_create"),
                &[("orders", json!([order_json(&fake.book.orders[i])]))],
            );
            match fake.faults.first().copied() {
                Some(Fault::ServerErrorAfterAccept) => {
                    fake.faults.remove(0);
                    return ((StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(), None);
                }
                Some(Fault::TimeoutAfterAccept) => {
                    fake.faults.remove(0);
                    return (ok(answer), Some(Duration::from_millis(500)));
                }
                _ => {}
            }
            ok(answer)
        }
        ("POST", "/exchange/v1/orders/cancel") => {
            let id = b["client_order_id"].as_str().unwrap_or_default().to_string();
            match fake.book.find(&id) {
                Some(i) if fake.book.cancel(i) => ok(json!({"message": "success", "status": 200, "code": 200})),
                _ => err(StatusCode::NOT_FOUND, "Order not found"),
            }
        }
        ("POST", "/exchange/v1/orders/status") => {
            // By `client_order_id` or by the venue's `id` (documented: one
            // of the two).
            let found = match (b["client_order_id"].as_str(), b["id"].as_str()) {
                (Some(cl), _) => fake.book.find(cl),
                (None, Some(id)) => fake.book.orders.iter().position(|o| format!("uuid-{}", o.number) == id),
                (None, None) => None,
            };
            match found {
                Some(i)
                    if fake.faults.first() == Some(&Fault::StaleQuery) && fake.book.orders[i].previous.is_some() =>
                {
                    fake.faults.remove(0);
                    ok(order_json(fake.book.orders[i].previous.as_ref().unwrap()))
                }
                Some(i) => ok(order_json(&fake.book.orders[i])),
                None => err(StatusCode::NOT_FOUND, "Order not found"),
            }
        }
        ("POST", "/exchange/v1/orders/active_orders") => {
            let open: Vec<Value> = fake.book.orders.iter().filter(|o| o.is_open()).map(order_json).collect();
            ok(Value::Array(open))
        }
        ("POST", "/exchange/v1/orders/trade_history") => trade_history(&fake, &b),
        _ => err(StatusCode::NOT_FOUND, "no such endpoint"),
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

pub fn client(url: &str, secret: &str) -> CoinDcxSpot {
    let cfg = CoinDcxConfig {
        base_url: url.into(),
        public_url: url.into(),
        timeout: Duration::from_millis(400),
        requests_per_minute: 1_000_000,
        ..Default::default()
    };
    CoinDcxSpot::new(cfg, Secret::new(KEY), Secret::new(secret)).unwrap()
}

pub fn funded() -> Fake {
    Fake { book: Book::funded(dec!(10000), dec!(43250.17)), ..Default::default() }
}
