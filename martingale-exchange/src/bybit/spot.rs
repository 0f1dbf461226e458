//! The Bybit v5 spot REST adapter (see the module docs of `bybit`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use martingale_core::engine::{Candle, ClientOrderId, OrderKind, OrderRequest, TimeMs};
use martingale_core::{MarketRules, OrderSide};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sha2::Sha256;

mod fills;

use crate::check::{self, Asked};
use crate::error::ExchangeError;
use crate::exchange::Exchange;
use crate::grid::{self, RulesCache};
use crate::json::{dec, dec_or_zero, int, parse_dec, text};
use crate::ratelimit::WeightBudget;
use crate::rest::{self, with_id, HttpClient, Reply};
use crate::secret::Secret;
use crate::types::{Balance, Fill, OrderInfo, OrderStatus};

/// Production REST endpoint.
pub const MAINNET: &str = "https://api.bybit.com";
/// Testnet REST endpoint.
pub const TESTNET: &str = "https://api-testnet.bybit.com";

/// Settings of the adapter.
#[derive(Debug, Clone)]
pub struct BybitConfig {
    /// Base URL ([`MAINNET`], [`TESTNET`] or a test server).
    pub base_url: String,
    /// `X-BAPI-RECV-WINDOW` in ms.
    pub recv_window: u64,
    /// Requests per minute allowed for this key (own budget).
    pub requests_per_minute: u32,
    /// HTTP timeout.
    pub timeout: Duration,
    /// Attempts for idempotent requests.
    pub max_attempts: u32,
}

impl Default for BybitConfig {
    fn default() -> Self {
        BybitConfig {
            base_url: MAINNET.into(),
            recv_window: 5000,
            // Bybit allows 600 requests per 5 s per IP and 10 to 20 per
            // second per private endpoint and UID; 3,000 a minute keeps one
            // key well inside both.
            requests_per_minute: 3000,
            timeout: Duration::from_secs(10),
            max_attempts: 4,
        }
    }
}

/// The request signature: lowercase hex HMAC-SHA256 of
/// `timestamp + api_key + recv_window + payload` (payload: the query string
/// of a GET, the JSON body of a POST).
///
/// ```
/// use martingale_exchange::bybit::sign;
/// use martingale_exchange::Secret;
/// // The independent check value of EXCHANGES.md.
/// let s = sign(&Secret::new("test-secret"), 1658384314791, "XXXXXXXXXX", 5000,
///              "category=option&symbol=BTC-29JUL22-25000-C");
/// assert_eq!(s, "236d8f7132d3e4c8bad803010e296f3d07211356e54c01455b26c8229a682297");
/// ```
pub fn sign(secret: &Secret, timestamp: i64, api_key: &str, recv_window: u64, payload: &str) -> String {
    // HMAC accepts keys of any length; this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else { return String::new() };
    mac.update(format!("{timestamp}{api_key}{recv_window}{payload}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Bybit v5 spot behind the [`Exchange`] trait.
#[derive(Debug)]
pub struct BybitSpot {
    http: HttpClient,
    cfg: BybitConfig,
    api_key: Secret,
    secret: Secret,
    offset_ms: AtomicI64,
    budget: Arc<WeightBudget>,
    /// Each market's rules, for the grid check before an order is sent.
    rules: RulesCache,
    /// Set once the key's account is known to be a unified trading account.
    unified: std::sync::OnceLock<()>,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl BybitSpot {
    /// An adapter with an API key pair.
    pub fn new(cfg: BybitConfig, api_key: Secret, secret: Secret) -> Result<BybitSpot, ExchangeError> {
        let http = HttpClient::new(cfg.timeout)?;
        let budget = Arc::new(WeightBudget::new(cfg.requests_per_minute));
        Ok(BybitSpot {
            http,
            cfg,
            api_key,
            secret,
            offset_ms: AtomicI64::new(0),
            budget,
            rules: RulesCache::default(),
            unified: std::sync::OnceLock::new(),
        })
    }

    /// Shares a request budget (one per API key).
    pub fn with_budget(mut self, budget: Arc<WeightBudget>) -> BybitSpot {
        self.budget = budget;
        self
    }

    /// Uses a shared HTTP client (connection pool).
    pub fn with_http_client(mut self, http: HttpClient) -> BybitSpot {
        self.http = http;
        self
    }

    fn venue_now(&self) -> i64 {
        now_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Measures the offset between the server clock and ours.
    pub async fn sync_time(&self) -> Result<i64, ExchangeError> {
        let before = now_ms();
        let v = match self.send(Method::GET, "/v5/market/time", String::new(), None, false).await? {
            Reply::Ok(v) => v,
            Reply::Err(e) => return Err(e),
        };
        let after = now_ms();
        let server = int(&v, "timeSecond").map(|s| s * 1000).or_else(|_| int(&v, "time"))?;
        let offset = server - (before + after) / 2;
        self.offset_ms.store(offset, Ordering::Relaxed);
        Ok(offset)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: String,
        body: Option<String>,
        signed: bool,
    ) -> Result<Reply, ExchangeError> {
        if let Err(e) = self.budget.acquire(1, || self.venue_now()).await {
            return Ok(Reply::Err(e));
        }
        let url = format!("{}{}{}{}", self.cfg.base_url, path, if query.is_empty() { "" } else { "?" }, query);
        let mut req = self.http.inner().request(method, url);
        if signed {
            let ts = self.venue_now();
            let payload = body.as_deref().unwrap_or(&query);
            let sig = sign(&self.secret, ts, self.api_key.expose(), self.cfg.recv_window, payload);
            req = req
                .header("X-BAPI-API-KEY", self.api_key.expose())
                .header("X-BAPI-TIMESTAMP", ts.to_string())
                .header("X-BAPI-RECV-WINDOW", self.cfg.recv_window.to_string())
                .header("X-BAPI-SIGN", sig);
        }
        if let Some(b) = body {
            req = req.header("Content-Type", "application/json").body(b);
        }
        match rest::execute(req).await {
            Ok(raw) => interpret(raw.status, &raw.headers, &raw.body, self.venue_now()),
            Err(e) => Ok(Reply::Err(e)),
        }
    }

    fn query(params: &[(&str, String)]) -> String {
        params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
    }

    /// A GET, retried with backoff on network errors, rate limits and one
    /// clock resync.
    async fn get(&self, path: &str, params: &[(&str, String)], signed: bool) -> Result<Value, ExchangeError> {
        self.retrying(|| self.send(Method::GET, path, BybitSpot::query(params), None, signed)).await
    }

    async fn retrying<F, Fut>(&self, attempt: F) -> Result<Value, ExchangeError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Reply, ExchangeError>>,
    {
        rest::retrying(self.cfg.max_attempts, attempt, || async { self.sync_time().await.map(|_| ()) }).await
    }

    /// Refuses a classic (non-unified) account before its first order
    /// (issue 18.6): the adapter sends `marketUnit` and reads fills by
    /// `orderLinkId`, which Bybit documents for unified trading accounts
    /// only. Read once from `GET /v5/account/info`'s `unifiedMarginStatus`
    /// (1 = classic; 3 to 6 = unified, <https://bybit-exchange.github.io/docs/v5/enum#unifiedmarginstatus>).
    async fn require_unified(&self) -> Result<(), ExchangeError> {
        if self.unified.get().is_some() {
            return Ok(());
        }
        let v = self.get("/v5/account/info", &[], true).await?;
        match int(&v, "unifiedMarginStatus")? {
            1 => Err(ExchangeError::RuleViolation {
                rule: "account_mode".into(),
                message: "this Bybit key belongs to a classic account; the adapter needs a unified trading \
                          account (market orders' unit and fills by client order id are unified-only): \
                          upgrade the account to UTA in Bybit's settings. Nothing was sent"
                    .into(),
            }),
            _ => {
                let _ = self.unified.set(());
                Ok(())
            }
        }
    }

    /// An order report and the market it names.
    pub(crate) fn order_info(v: &Value) -> Result<(OrderInfo, Option<&str>), ExchangeError> {
        let status = match text(v, "orderStatus")? {
            "New" | "Created" | "Untriggered" | "Triggered" => OrderStatus::New,
            "PartiallyFilled" => OrderStatus::PartiallyFilled,
            "Filled" => OrderStatus::Filled,
            "Cancelled" | "PartiallyFilledCanceled" | "Deactivated" => OrderStatus::Canceled,
            "Rejected" => OrderStatus::Rejected,
            other => return Err(ExchangeError::Malformed(format!("order status {other:?}"))),
        };
        let price = dec_or_zero(v, "price")?;
        let info = OrderInfo {
            client_order_id: ClientOrderId::from_raw(text(v, "orderLinkId")?),
            status,
            side: side(text(v, "side")?)?,
            price: (price > Decimal::ZERO).then_some(price),
            quantity: dec(v, "qty")?,
            filled: dec_or_zero(v, "cumExecQty")?,
            filled_quote: dec_or_zero(v, "cumExecValue")?,
            updated_at: int(v, "updatedTime").unwrap_or(0),
        };
        Ok((info, v.get("symbol").and_then(Value::as_str)))
    }

    fn first(v: &Value) -> Option<&Value> {
        v.get("list").and_then(Value::as_array).and_then(|l| l.first())
    }
}

fn side(s: &str) -> Result<OrderSide, ExchangeError> {
    match s {
        "Buy" => Ok(OrderSide::Buy),
        "Sell" => Ok(OrderSide::Sell),
        other => Err(ExchangeError::Malformed(format!("side {other:?}"))),
    }
}

/// What one Bybit answer means. Bybit answers errors with HTTP 200 and a
/// `retCode`; the `retMsg` is kept in the error (issue 21). A rate limit
/// waits until `X-Bapi-Limit-Reset-Timestamp` (venue clock `now`), however
/// far: the retry loop refuses waits over [`MAX_WAIT`](crate::MAX_WAIT).
pub(crate) fn interpret(status: StatusCode, headers: &HeaderMap, body: &str, now: i64) -> Result<Reply, ExchangeError> {
    let reset = headers
        .get("x-bapi-limit-reset-timestamp")
        .and_then(|h| h.to_str().ok())
        .and_then(|s| s.trim().parse::<i64>().ok());
    let wait = Duration::from_millis(reset.map_or(1000, |r| u64::try_from(r.saturating_sub(now)).unwrap_or(0)));
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::FORBIDDEN {
        return Ok(Reply::Err(ExchangeError::RateLimited { retry_after: wait }));
    }
    if status.is_server_error() {
        return Ok(Reply::Err(ExchangeError::Network(format!("HTTP {status}"))));
    }
    let v: Value = serde_json::from_str(body)
        .map_err(|_| ExchangeError::Malformed(format!("HTTP {status}: not JSON: {}", rest::excerpt(body))))?;
    let code = v
        .get("retCode")
        .and_then(Value::as_i64)
        .ok_or_else(|| ExchangeError::Malformed(format!("HTTP {status} without retCode: {}", rest::excerpt(body))))?;
    if code == 0 {
        let mut result = v.get("result").cloned().unwrap_or(Value::Null);
        if let (Some(obj), Some(t)) = (result.as_object_mut(), v.get("time")) {
            obj.entry("time").or_insert(t.clone());
        }
        return Ok(Reply::Ok(result));
    }
    let msg = v.get("retMsg").and_then(Value::as_str).unwrap_or("").to_string();
    Ok(Reply::Err(match code {
        10006 | 10018 => ExchangeError::RateLimited { retry_after: wait },
        other => map_error(other, msg),
    }))
}

/// Bybit v5 return codes to typed errors, from the v5 error-code page
/// <https://bybit-exchange.github.io/docs/v5/error>.
///
/// | code | documented meaning | here |
/// |---|---|---|
/// | 10000 server timeout, 10016 server error | ambiguous (HTTP 200) | `Venue`: outcome unknown |
/// | 170001 internal error, 170007 backend timeout, any undocumented code | ambiguous | `Venue`: outcome unknown |
/// | 10002 | request time outside recv_window | `TimestampOutOfWindow` |
/// | 10003, 10004, 10005, 10007, 10009, 10010 | key, sign, permission, IP | `Authentication` |
/// | 10006, 10018, 170005 | too many requests / orders | `RateLimited` |
/// | 10001 params error, 10017 route, 10024 compliance, 10027 trading banned | refused | `Rejected` (`UnknownMarket` if about the symbol) |
/// | 110001, 170213 | order does not exist | `UnknownOrder` |
/// | 110007, 170131, 170033 | insufficient balance | `InsufficientBalance` |
/// | 110072, 170141 | duplicate `orderLinkId` | `DuplicateOrder` |
/// | 170121 | invalid symbol | `UnknownMarket` |
/// | 170124, 170132..=170137, 170140, 170148 | amount, price, precision or minimum refused | `RuleViolation` |
/// | other 170xxx | spot order refused | `Rejected` |
pub(crate) fn map_error(code: i64, msg: String) -> ExchangeError {
    match code {
        10002 => ExchangeError::TimestampOutOfWindow,
        10003 | 10004 | 10005 | 10007 | 10009 | 10010 => ExchangeError::Authentication(msg),
        10006 | 10018 | 170005 => ExchangeError::RateLimited { retry_after: Duration::from_secs(1) },
        110001 | 170213 => ExchangeError::UnknownOrder(ClientOrderId::from_raw("")),
        110007 | 170131 | 170033 => ExchangeError::InsufficientBalance(msg),
        110072 | 170141 => ExchangeError::DuplicateOrder(ClientOrderId::from_raw("")),
        170121 => ExchangeError::UnknownMarket(msg),
        10001 if msg.to_ascii_lowercase().contains("symbol") => ExchangeError::UnknownMarket(msg),
        170124 | 170132..=170137 | 170140 | 170148 => {
            ExchangeError::RuleViolation { rule: format!("code {code}"), message: msg }
        }
        10000 | 10016 | 170001 | 170007 => ExchangeError::Venue { code, message: msg },
        10001 | 10017 | 10024 | 10027 | 170000..=170999 => ExchangeError::Rejected { code, message: msg },
        _ => ExchangeError::Venue { code, message: msg },
    }
}

fn interval(ms: i64) -> Result<&'static str, ExchangeError> {
    Ok(match ms {
        60_000 => "1",
        180_000 => "3",
        300_000 => "5",
        900_000 => "15",
        1_800_000 => "30",
        3_600_000 => "60",
        7_200_000 => "120",
        14_400_000 => "240",
        21_600_000 => "360",
        43_200_000 => "720",
        86_400_000 => "D",
        other => return Err(ExchangeError::Malformed(format!("no Bybit interval of {other} ms"))),
    })
}

#[async_trait]
impl Exchange for BybitSpot {
    fn name(&self) -> &str {
        "bybit"
    }

    async fn market_rules(&self, symbol: &str) -> Result<MarketRules, ExchangeError> {
        let params = [("category", "spot".to_string()), ("symbol", symbol.to_string())];
        let v = self.get("/v5/market/instruments-info", &params, false).await?;
        let s = v
            .get("list")
            .and_then(Value::as_array)
            .and_then(|l| l.iter().find(|s| s.get("symbol").and_then(Value::as_str) == Some(symbol)))
            .ok_or_else(|| ExchangeError::UnknownMarket(symbol.to_string()))?;
        let missing = |f: &str| ExchangeError::Malformed(format!("instrument without {f}"));
        let price = s.get("priceFilter").ok_or_else(|| missing("priceFilter"))?;
        let lot = s.get("lotSizeFilter").ok_or_else(|| missing("lotSizeFilter"))?;
        let mut rules = MarketRules::new(
            dec(price, "tickSize")?,
            dec(lot, "basePrecision")?,
            dec(lot, "minOrderQty")?,
            dec_or_zero(lot, "minOrderAmt")?,
        );
        let max = dec_or_zero(lot, "maxOrderQty")?;
        rules.max_qty = (max > Decimal::ZERO).then_some(max);
        rules.symbol = Some(symbol.to_string());
        Ok(rules)
    }

    async fn candles(
        &self,
        symbol: &str,
        interval_ms: i64,
        start: TimeMs,
        end: TimeMs,
    ) -> Result<Vec<Candle>, ExchangeError> {
        let iv = interval(interval_ms)?;
        let mut out: Vec<Candle> = Vec::new();
        // Newest first: walk back from `end` page by page.
        let mut upper = end - 1;
        while upper >= start {
            let params = [
                ("category", "spot".to_string()),
                ("symbol", symbol.to_string()),
                ("interval", iv.to_string()),
                ("start", start.to_string()),
                ("end", upper.to_string()),
                ("limit", "1000".to_string()),
            ];
            let v = self.get("/v5/market/kline", &params, false).await?;
            let rows =
                v.get("list").and_then(Value::as_array).ok_or_else(|| ExchangeError::Malformed("kline list".into()))?;
            let mut oldest = None;
            for row in rows {
                let r = row.as_array().ok_or_else(|| ExchangeError::Malformed("kline row".into()))?;
                let field = |i: usize| -> Result<&str, ExchangeError> {
                    r.get(i).and_then(Value::as_str).ok_or_else(|| ExchangeError::Malformed(format!("kline field {i}")))
                };
                let num = |i: usize| {
                    field(i)
                        .and_then(|s| parse_dec(s).ok_or_else(|| ExchangeError::Malformed(format!("kline field {i}"))))
                };
                let time: i64 = field(0)?.parse().map_err(|_| ExchangeError::Malformed("kline time".into()))?;
                oldest = Some(oldest.map_or(time, |o: i64| o.min(time)));
                if time < start || time >= end {
                    continue;
                }
                out.push(Candle { time, open: num(1)?, high: num(2)?, low: num(3)?, close: num(4)? });
            }
            match oldest {
                Some(o) if o > start && o - 1 < upper => upper = o - 1,
                _ => break,
            }
        }
        out.sort_by_key(|c| c.time);
        out.dedup_by_key(|c| c.time);
        Ok(out)
    }

    async fn last_price(&self, symbol: &str) -> Result<Decimal, ExchangeError> {
        let params = [("category", "spot".to_string()), ("symbol", symbol.to_string())];
        let v = self.get("/v5/market/tickers", &params, false).await?;
        let t = BybitSpot::first(&v).ok_or_else(|| ExchangeError::UnknownMarket(symbol.to_string()))?;
        check::symbol(symbol, t.get("symbol").and_then(Value::as_str))?;
        check::last_price(symbol, dec(t, "lastPrice")?)
    }

    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        let v = self.get("/v5/account/wallet-balance", &[("accountType", "UNIFIED".to_string())], true).await?;
        let coins = BybitSpot::first(&v)
            .and_then(|a| a.get("coin"))
            .and_then(Value::as_array)
            .ok_or_else(|| ExchangeError::Malformed("wallet-balance".into()))?;
        coins
            .iter()
            .map(|c| {
                let total = dec(c, "walletBalance")?;
                let locked = dec_or_zero(c, "locked")?;
                let free = total
                    .checked_sub(locked)
                    .ok_or_else(|| ExchangeError::Malformed(format!("wallet balance {total} minus locked {locked}")))?;
                check::balance(Balance { asset: text(c, "coin")?.to_string(), free, locked })
            })
            .collect()
    }

    async fn place_order(&self, symbol: &str, order: &OrderRequest) -> Result<OrderInfo, ExchangeError> {
        // Nothing off the market's grid leaves (issue 18 item 5).
        grid::check(&self.rules.get(symbol, self.market_rules(symbol)).await?, order)?;
        self.require_unified().await?;
        let id = &order.client_order_id;
        let side = match order.side {
            OrderSide::Buy => "Buy",
            OrderSide::Sell => "Sell",
        };
        let mut body = json!({
            "category": "spot", "symbol": symbol, "side": side, "qty": order.quantity.normalize().to_string(),
            "orderLinkId": id.as_str(),
        });
        let price = match order.kind {
            OrderKind::Limit { price } => {
                body["orderType"] = "Limit".into();
                body["timeInForce"] = "GTC".into();
                body["price"] = price.normalize().to_string().into();
                Some(price)
            }
            OrderKind::Market { .. } => {
                body["orderType"] = "Market".into();
                body["marketUnit"] = "baseCoin".into();
                None
            }
        };
        let body = body.to_string();
        // One attempt, plus one after a clock resync (10002: refused).
        for _ in 0..2 {
            match self.send(Method::POST, "/v5/order/create", String::new(), Some(body.clone()), true).await? {
                Reply::Ok(v) => {
                    // The answer holds only the ids: the order is accepted,
                    // if it is ours.
                    let link = v.get("orderLinkId").and_then(Value::as_str).unwrap_or("");
                    if link != id.as_str() {
                        return Err(ExchangeError::Malformed(format!(
                            "the venue's reply does not match the request: the client order id is {link:?}, asked {id}"
                        )));
                    }
                    return Ok(OrderInfo {
                        client_order_id: id.clone(),
                        status: OrderStatus::New,
                        side: order.side,
                        price,
                        quantity: order.quantity,
                        filled: Decimal::ZERO,
                        filled_quote: Decimal::ZERO,
                        updated_at: self.venue_now(),
                    });
                }
                Reply::Err(ExchangeError::TimestampOutOfWindow) => {
                    self.sync_time().await?;
                }
                Reply::Err(ExchangeError::Network(_)) => return Err(ExchangeError::OutcomeUnknown(id.clone())),
                Reply::Err(e) => return Err(with_id(e, id)),
            }
        }
        Err(ExchangeError::TimestampOutOfWindow)
    }

    async fn cancel_order(&self, symbol: &str, id: &ClientOrderId) -> Result<OrderInfo, ExchangeError> {
        let body = json!({"category": "spot", "symbol": symbol, "orderLinkId": id.as_str()}).to_string();
        // Cancelling twice is harmless: the second is "order does not exist".
        self.retrying(|| self.send(Method::POST, "/v5/order/cancel", String::new(), Some(body.clone()), true))
            .await
            .map_err(|e| with_id(e, id))?;
        self.query_order(symbol, id).await
    }

    async fn query_order(&self, symbol: &str, id: &ClientOrderId) -> Result<OrderInfo, ExchangeError> {
        let params = [
            ("category", "spot".to_string()),
            ("symbol", symbol.to_string()),
            ("orderLinkId", id.as_str().to_string()),
        ];
        for path in ["/v5/order/realtime", "/v5/order/history"] {
            let v = self.get(path, &params, true).await.map_err(|e| with_id(e, id))?;
            if let Some(o) = BybitSpot::first(&v) {
                let (info, market) = BybitSpot::order_info(o)?;
                return check::order(&Asked::id(symbol, id), market, info);
            }
        }
        Err(ExchangeError::UnknownOrder(id.clone()))
    }

    async fn open_orders(&self, symbol: &str) -> Result<Vec<OrderInfo>, ExchangeError> {
        let params = [("category", "spot".to_string()), ("symbol", symbol.to_string()), ("openOnly", "0".to_string())];
        let v = self.get("/v5/order/realtime", &params, true).await?;
        let list =
            v.get("list").and_then(Value::as_array).ok_or_else(|| ExchangeError::Malformed("order list".into()))?;
        let all: Result<Vec<OrderInfo>, _> = list
            .iter()
            .map(|o| BybitSpot::order_info(o).and_then(|(info, market)| check::listed(symbol, market, info)))
            .collect();
        Ok(all?.into_iter().filter(|o| !o.status.is_final()).collect())
    }

    async fn fills_since(&self, symbol: &str, since: TimeMs) -> Result<Vec<Fill>, ExchangeError> {
        // Every page of every week (issue 18.4).
        self.fills(symbol, since).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_typed_errors() {
        assert_eq!(map_error(10002, String::new()), ExchangeError::TimestampOutOfWindow);
        assert!(matches!(map_error(10004, "bad sign".into()), ExchangeError::Authentication(_)));
        assert!(matches!(map_error(170213, String::new()), ExchangeError::UnknownOrder(_)));
        assert!(matches!(map_error(170131, String::new()), ExchangeError::InsufficientBalance(_)));
        assert!(matches!(map_error(170141, String::new()), ExchangeError::DuplicateOrder(_)));
        assert!(matches!(map_error(170140, String::new()), ExchangeError::RuleViolation { .. }));
        assert!(matches!(map_error(99999, "x".into()), ExchangeError::Venue { code: 99999, .. }));
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let s = BybitSpot::new(BybitConfig::default(), Secret::new("CANARY-AK"), Secret::new("CANARY-SK")).unwrap();
        assert!(!format!("{s:?}").contains("CANARY"));
    }
}
