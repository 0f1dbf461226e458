//! A fake Bybit v5 spot server on 127.0.0.1: checks the API key, the
//! signature (`timestamp + key + recvWindow + query|body`) and the
//! timestamp window, keeps orders, executions and balances, fills resting
//! limits on a scripted price path (half first, then the rest), returns
//! klines newest first, and injects Bybit's faults.
//!
//! Every answer is a copy of the reply Bybit documents for the endpoint
//! (`tests/fixtures/documented/bybit/`, from
//! <https://bybit-exchange.github.io/docs/v5/intro>) with only the fields
//! this fake's state decides replaced. `/v5/execution/list` pages as
//! documented: at most 100 rows (50 by default), newest first, a
//! `startTime`/`endTime` window of at most 7 days, `nextPageCursor`.
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
use super::documented::{self, with};

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
    /// A classic (non-unified) account: `unifiedMarginStatus` 1.
    pub classic: bool,
}

pub type Shared = Arc<Mutex<Fake>>;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The documented envelope of every answer.
fn reply(code: i64, msg: &str, result: Value) -> Response {
    let body = with(
        documented::example("bybit", "order_create"),
        &[("retCode", json!(code)), ("retMsg", json!(msg)), ("result", result), ("time", json!(now()))],
    );
    (StatusCode::OK, body.to_string()).into_response()
}

fn ok(result: Value) -> Response {
    reply(0, "OK", result)
}

/// The `result` of a documented example, with fields replaced.
fn result(name: &str, fields: &[(&str, Value)]) -> Value {
    with(documented::example("bybit", name)["result"].clone(), fields)
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
    let row = documented::first(&documented::example("bybit", "order_realtime")["result"]["list"]);
    let leaves = if o.is_open() { o.qty - o.filled } else { Decimal::ZERO };
    with(
        row,
        &[
            ("orderId", json!(format!("id-{}", o.id))),
            ("orderLinkId", json!(o.id)),
            ("symbol", json!("BTCUSDT")),
            ("price", json!(o.price.to_string())),
            ("qty", json!(o.qty.to_string())),
            ("side", json!(if o.buy { "Buy" } else { "Sell" })),
            ("isLeverage", json!("0")),
            ("positionIdx", json!(0)),
            ("orderStatus", json!(status)),
            ("avgPrice", json!(o.average().to_string())),
            ("leavesQty", json!(leaves.to_string())),
            ("leavesValue", json!((leaves * o.price).to_string())),
            ("cumExecQty", json!(o.filled.to_string())),
            ("cumExecValue", json!(o.value.to_string())),
            ("cumExecFee", json!("0")),
            ("timeInForce", json!(if o.limit { "GTC" } else { "IOC" })),
            ("orderType", json!(if o.limit { "Limit" } else { "Market" })),
            ("takeProfit", json!("0.00")),
            ("stopLoss", json!("0.00")),
            ("createdTime", json!(o.time.to_string())),
            ("updatedTime", json!(now().to_string())),
            // Fees by coin; the fake charges none.
            ("cumFeeDetail", json!({"MNT": "0"})),
        ],
    )
}

fn trade_json(t: &Trade) -> Value {
    let row = documented::first(&documented::example("bybit", "execution_list")["result"]["list"]);
    with(
        row,
        &[
            ("symbol", json!("BTCUSDT")),
            ("orderType", json!("Limit")),
            ("orderLinkId", json!(t.order)),
            ("side", json!(if t.buy { "Buy" } else { "Sell" })),
            ("orderId", json!(format!("id-{}", t.order))),
            ("execTime", json!(t.time.to_string())),
            ("feeCurrency", json!("USDT")),
            ("isMaker", json!(true)),
            ("execFee", json!("0")),
            ("feeRate", json!("0")),
            ("execId", json!(format!("e{}", t.n))),
            ("markPrice", json!("")),
            ("execPrice", json!(t.price.to_string())),
            ("orderQty", json!(t.qty.to_string())),
            ("orderPrice", json!(t.price.to_string())),
            ("execValue", json!((t.price * t.qty).to_string())),
            ("execQty", json!(t.qty.to_string())),
            ("seq", json!(t.n)),
        ],
    )
}

/// `GET /v5/execution/list` under the documented rules: newest first, a
/// window of at most 7 days (7 days from `startTime`, or the last 7 days,
/// when one bound is missing), 1 to 100 rows a page (50 by default), the
/// next page by `cursor`.
fn executions(fake: &Fake, p: &HashMap<String, String>) -> Response {
    const WEEK: i64 = 7 * 86_400_000;
    let limit: usize = match p.get("limit").map(|l| l.parse::<usize>()) {
        None => 50,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return reply(10001, "params error: limit", json!({})),
    };
    let start: Option<i64> = p.get("startTime").and_then(|v| v.parse().ok());
    let end: Option<i64> = p.get("endTime").and_then(|v| v.parse().ok());
    let (start, end) = match (start, end) {
        (Some(s), Some(e)) if e - s > WEEK => {
            return reply(10001, "params error: endTime - startTime must be <= 7 days", json!({}))
        }
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s + WEEK),
        (None, Some(e)) => (e - WEEK, e),
        (None, None) => (now() - WEEK, now()),
    };
    let mut rows: Vec<&Trade> = fake.book.trades.iter().filter(|t| (start..=end).contains(&t.time)).collect();
    rows.sort_by(|a, b| b.time.cmp(&a.time).then(b.n.cmp(&a.n)));
    let offset: usize =
        p.get("cursor").and_then(|c| c.strip_prefix("page%3A")).and_then(|c| c.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = rows.iter().skip(offset).take(limit).map(|t| trade_json(t)).collect();
    let next = if offset + limit < rows.len() { format!("page%3A{}", offset + limit) } else { String::new() };
    ok(result("execution_list", &[("nextPageCursor", json!(next)), ("category", json!("spot")), ("list", json!(page))]))
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
            ok(result(
                "time",
                &[
                    ("timeSecond", json!((t / 1000).to_string())),
                    ("timeNano", json!((t as i128 * 1_000_000).to_string())),
                ],
            ))
        }
        ("GET", "/v5/market/instruments-info") => {
            let r = result("instruments_spot", &[]);
            let row = documented::first(&r["list"]);
            let lot = with(
                row["lotSizeFilter"].clone(),
                &[
                    ("basePrecision", json!("0.00001")),
                    ("quotePrecision", json!("0.00000001")),
                    ("minOrderQty", json!("0.00001")),
                    ("maxOrderQty", json!("71.73956243")),
                    ("minOrderAmt", json!("5")),
                    ("maxOrderAmt", json!("2000000")),
                ],
            );
            let row = with(
                row,
                &[
                    ("symbol", json!("BTCUSDT")),
                    ("baseCoin", json!("BTC")),
                    ("quoteCoin", json!("USDT")),
                    ("status", json!("Trading")),
                    ("lotSizeFilter", lot),
                    ("priceFilter", json!({"tickSize": "0.01"})),
                ],
            );
            ok(with(r, &[("category", json!("spot")), ("list", json!([row]))]))
        }
        ("GET", "/v5/market/tickers") => {
            let r = result("tickers_spot", &[]);
            let px = fake.book.price.to_string();
            let row = with(documented::first(&r["list"]), &[("symbol", json!("BTCUSDT")), ("lastPrice", json!(px))]);
            ok(with(r, &[("category", json!("spot")), ("list", json!([row]))]))
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
                    // startTime, open, high, low, close, volume, turnover.
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
            ok(result("kline", &[("category", json!("spot")), ("symbol", json!("BTCUSDT")), ("list", json!(rows))]))
        }
        ("GET", "/v5/account/wallet-balance") => {
            let r = result("wallet_balance", &[]);
            let acct = documented::first(&r["list"]);
            let coin = documented::first(&acct["coin"]);
            let coins: Vec<Value> = [("BTC", fake.book.btc), ("USDT", fake.book.usdt)]
                .iter()
                .map(|(c, bal)| {
                    with(
                        coin.clone(),
                        &[
                            ("coin", json!(c)),
                            ("walletBalance", json!(bal.to_string())),
                            ("equity", json!(bal.to_string())),
                            ("availableToWithdraw", json!(bal.to_string())),
                            ("locked", json!("0")),
                            ("totalOrderIM", json!("0")),
                            ("totalPositionIM", json!("0")),
                            ("totalPositionMM", json!("0")),
                            ("unrealisedPnl", json!("0")),
                            ("borrowAmount", json!("0")),
                            ("accruedInterest", json!("0")),
                            ("spotBorrow", json!("0")),
                        ],
                    )
                })
                .collect();
            let acct = with(acct, &[("accountType", json!("UNIFIED")), ("coin", json!(coins))]);
            ok(with(r, &[("list", json!([acct]))]))
        }
        ("GET", "/v5/user/query-api") => ok(result(
            "query_api",
            &[
                ("apiKey", json!(KEY)),
                ("readOnly", json!(0)),
                ("unified", json!(0)),
                ("uta", json!(i32::from(!fake.classic))),
            ],
        )),
        ("GET", "/v5/account/info") => {
            // The documented example's own envelope (it has no `time`).
            let r = result("account_info", &[("unifiedMarginStatus", json!(if fake.classic { 1 } else { 5 }))]);
            let body = with(documented::example("bybit", "account_info"), &[("result", r)]);
            (StatusCode::OK, body.to_string()).into_response()
        }
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
                    let ids = &[("orderId", json!(format!("id-{id}"))), ("orderLinkId", json!(id))];
                    return (ok(result("order_create", ids)), Some(Duration::from_millis(500)));
                }
                _ => {}
            }
            ok(result("order_create", &[("orderId", json!(format!("id-{id}"))), ("orderLinkId", json!(id))]))
        }
        ("POST", "/v5/order/cancel") => {
            let id = b["orderLinkId"].as_str().unwrap_or_default().to_string();
            match fake.book.find(&id) {
                Some(i) if fake.book.cancel(i) => {
                    ok(result("order_cancel", &[("orderId", json!(format!("id-{id}"))), ("orderLinkId", json!(id))]))
                }
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
                let fields = &[("nextPageCursor", json!("")), ("category", json!("spot")), ("list", json!(list))];
                ok(result("order_realtime", fields))
            }
            None => {
                let list: Vec<Value> = fake.book.orders.iter().filter(|o| o.is_open()).map(order_json).collect();
                let fields = &[("nextPageCursor", json!("")), ("category", json!("spot")), ("list", json!(list))];
                ok(result("order_realtime", fields))
            }
        },
        ("GET", "/v5/execution/list") => executions(&fake, &p),
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
