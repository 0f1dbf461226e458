//! The OKX v5 spot REST adapter (see the module docs of `okx`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use martingale_core::engine::{Candle, ClientOrderId, OrderKind, OrderRequest, TimeMs};
use martingale_core::{MarketRules, OrderSide};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

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

/// Production REST endpoint (demo trading uses it too, with `testnet`).
pub const MAINNET: &str = "https://www.okx.com";

/// Settings of the adapter.
#[derive(Debug, Clone)]
pub struct OkxConfig {
    /// Base URL ([`MAINNET`] or a test server).
    pub base_url: String,
    /// Demo trading (`x-simulated-trading: 1`).
    pub testnet: bool,
    /// Requests per minute for this key (own budget).
    pub requests_per_minute: u32,
    /// HTTP timeout.
    pub timeout: Duration,
    /// Attempts for idempotent requests.
    pub max_attempts: u32,
}

impl Default for OkxConfig {
    fn default() -> Self {
        OkxConfig {
            base_url: MAINNET.into(),
            testnet: false,
            // OKX allows 60 order requests per 2 s per instrument and 20 per
            // 2 s on most queries; 1,200 a minute stays inside those.
            requests_per_minute: 1200,
            timeout: Duration::from_secs(10),
            max_attempts: 4,
        }
    }
}

/// The request signature: Base64 HMAC-SHA256 of `timestamp + method + path + body`.
///
/// ```
/// use martingale_exchange::okx::sign;
/// use martingale_exchange::Secret;
/// // The independent check value of EXCHANGES.md.
/// let s = sign(&Secret::new("22582BD0CFF14C41EDBF1AB98506286D"), "2020-12-08T09:08:57.715Z", "GET",
///              "/api/v5/account/balance?ccy=BTC", "");
/// assert_eq!(s, "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY=");
/// ```
pub fn sign(secret: &Secret, timestamp: &str, method: &str, path: &str, body: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else { return String::new() };
    mac.update(format!("{timestamp}{method}{path}{body}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The `clOrdId` an order of ours has on OKX: `m` + 31 hex digits of the
/// SHA-256 of our id (OKX allows 1 to 32 letters and digits).
///
/// ```
/// use martingale_core::engine::ClientOrderId;
/// use martingale_exchange::okx::venue_order_id;
/// let v = venue_order_id(&ClientOrderId::from_raw("btc1-1-s3-14"));
/// assert_eq!(v.len(), 32);
/// assert!(v.starts_with('m') && v.bytes().all(|b| b.is_ascii_alphanumeric()));
/// assert_eq!(v, venue_order_id(&ClientOrderId::from_raw("btc1-1-s3-14")));
/// ```
pub fn venue_order_id(id: &ClientOrderId) -> String {
    let digest = hex::encode(Sha256::digest(id.as_str().as_bytes()));
    format!("m{}", &digest[..31])
}

/// ISO-8601 with milliseconds, UTC (`2020-12-08T09:08:57.715Z`).
fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// OKX v5 spot behind the [`Exchange`] trait.
#[derive(Debug)]
pub struct OkxSpot {
    http: HttpClient,
    cfg: OkxConfig,
    api_key: Secret,
    secret: Secret,
    passphrase: Secret,
    offset_ms: AtomicI64,
    budget: Arc<WeightBudget>,
    /// Venue ids of the orders this adapter named, back to ours.
    ids: Mutex<HashMap<String, ClientOrderId>>,
    /// Each market's rules, for the grid check before an order is sent.
    rules: RulesCache,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl OkxSpot {
    /// An adapter with an API key, its secret and its passphrase.
    pub fn new(cfg: OkxConfig, api_key: Secret, secret: Secret, passphrase: Secret) -> Result<OkxSpot, ExchangeError> {
        let http = HttpClient::new(cfg.timeout)?;
        let budget = Arc::new(WeightBudget::new(cfg.requests_per_minute));
        Ok(OkxSpot {
            http,
            cfg,
            api_key,
            secret,
            passphrase,
            offset_ms: AtomicI64::new(0),
            budget,
            ids: Mutex::default(),
            rules: RulesCache::default(),
        })
    }

    /// Shares a request budget (one per API key).
    pub fn with_budget(mut self, budget: Arc<WeightBudget>) -> OkxSpot {
        self.budget = budget;
        self
    }

    fn venue_now(&self) -> i64 {
        now_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    fn venue_id(&self, id: &ClientOrderId) -> String {
        let v = venue_order_id(id);
        if let Ok(mut m) = self.ids.lock() {
            m.entry(v.clone()).or_insert_with(|| id.clone());
        }
        v
    }

    fn our_id(&self, venue: &str) -> ClientOrderId {
        self.ids.lock().ok().and_then(|m| m.get(venue).cloned()).unwrap_or_else(|| ClientOrderId::from_raw(venue))
    }

    /// Measures the offset between the server clock and ours.
    pub async fn sync_time(&self) -> Result<i64, ExchangeError> {
        let before = now_ms();
        let v = match self.send(Method::GET, "/api/v5/public/time", None, false).await? {
            Reply::Ok(v) => v,
            Reply::Err(e) => return Err(e),
        };
        let after = now_ms();
        let ts =
            OkxSpot::first(&v).ok_or_else(|| ExchangeError::Malformed("time".into())).and_then(|d| int(d, "ts"))?;
        let offset = ts - (before + after) / 2;
        self.offset_ms.store(offset, Ordering::Relaxed);
        Ok(offset)
    }

    /// `path` includes the query string.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        signed: bool,
    ) -> Result<Reply, ExchangeError> {
        if let Err(e) = self.budget.acquire(1, || self.venue_now()).await {
            return Ok(Reply::Err(e));
        }
        let mut req = self.http.inner().request(method.clone(), format!("{}{}", self.cfg.base_url, path));
        if signed {
            let ts = iso(self.venue_now());
            let sig = sign(&self.secret, &ts, method.as_str(), path, body.as_deref().unwrap_or(""));
            req = req
                .header("OK-ACCESS-KEY", self.api_key.expose())
                .header("OK-ACCESS-SIGN", sig)
                .header("OK-ACCESS-TIMESTAMP", ts)
                .header("OK-ACCESS-PASSPHRASE", self.passphrase.expose());
        }
        if self.cfg.testnet {
            req = req.header("x-simulated-trading", "1");
        }
        if let Some(b) = body {
            req = req.header("Content-Type", "application/json").body(b);
        }
        match rest::execute(req).await {
            Ok(raw) => interpret(raw.status, &raw.body),
            Err(e) => Ok(Reply::Err(e)),
        }
    }

    async fn get(&self, path: &str, params: &[(&str, String)], signed: bool) -> Result<Value, ExchangeError> {
        let q: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let full = if q.is_empty() { path.to_string() } else { format!("{path}?{}", q.join("&")) };
        self.retrying(|| self.send(Method::GET, &full, None, signed)).await
    }

    async fn retrying<F, Fut>(&self, attempt: F) -> Result<Value, ExchangeError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Reply, ExchangeError>>,
    {
        rest::retrying(self.cfg.max_attempts, attempt, || async { self.sync_time().await.map(|_| ()) }).await
    }

    fn first(v: &Value) -> Option<&Value> {
        v.as_array().and_then(|a| a.first())
    }

    /// An order report (named `id`, or after its `clOrdId`) and the market
    /// it names.
    pub(crate) fn order_info<'v>(
        &self,
        v: &'v Value,
        id: Option<&ClientOrderId>,
    ) -> Result<(OrderInfo, Option<&'v str>), ExchangeError> {
        let status = match text(v, "state")? {
            "live" => OrderStatus::New,
            "partially_filled" => OrderStatus::PartiallyFilled,
            "filled" => OrderStatus::Filled,
            "canceled" | "mmp_canceled" => OrderStatus::Canceled,
            other => return Err(ExchangeError::Malformed(format!("order state {other:?}"))),
        };
        let filled = dec_or_zero(v, "accFillSz")?;
        let avg = dec_or_zero(v, "avgPx")?;
        let price = dec_or_zero(v, "px")?;
        let venue_id = v.get("clOrdId").and_then(Value::as_str).unwrap_or("");
        if let Some(id) = id {
            if venue_id != venue_order_id(id) {
                return Err(ExchangeError::Malformed(format!(
                    "the venue's reply does not match the request: the clOrdId is {venue_id:?}, asked {} (order {id})",
                    venue_order_id(id)
                )));
            }
        }
        let filled_quote = filled
            .checked_mul(avg)
            .ok_or_else(|| ExchangeError::Malformed(format!("accFillSz {filled} * avgPx {avg} overflows")))?;
        let info = OrderInfo {
            client_order_id: id.cloned().unwrap_or_else(|| self.our_id(venue_id)),
            status,
            side: side(text(v, "side")?)?,
            price: (price > Decimal::ZERO).then_some(price),
            quantity: dec(v, "sz")?,
            filled,
            filled_quote,
            updated_at: int(v, "uTime").unwrap_or(0),
        };
        Ok((info, v.get("instId").and_then(Value::as_str)))
    }
}

fn side(s: &str) -> Result<OrderSide, ExchangeError> {
    match s {
        "buy" => Ok(OrderSide::Buy),
        "sell" => Ok(OrderSide::Sell),
        other => Err(ExchangeError::Malformed(format!("side {other:?}"))),
    }
}

/// What one OKX answer means. Errors come as `{"code": "5xxxx", "msg"}`
/// (often with HTTP 200), or, for an order call, as a per-order `sCode` /
/// `sMsg` in `data`; the venue's message is kept in the error (issue 21).
pub(crate) fn interpret(status: StatusCode, body: &str) -> Result<Reply, ExchangeError> {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Ok(Reply::Err(ExchangeError::RateLimited { retry_after: Duration::from_secs(1) }));
    }
    if status.is_server_error() {
        // 50001 "Service temporarily unavailable" is an HTTP 503: unknown.
        return Ok(Reply::Err(ExchangeError::Network(format!("HTTP {status}"))));
    }
    let v: Value = serde_json::from_str(body)
        .map_err(|_| ExchangeError::Malformed(format!("HTTP {status}: not JSON: {}", rest::excerpt(body))))?;
    let code = v
        .get("code")
        .and_then(|c| c.as_str().map(str::to_string).or_else(|| c.as_i64().map(|n| n.to_string())))
        .ok_or_else(|| ExchangeError::Malformed(format!("HTTP {status} without a code: {}", rest::excerpt(body))))?;
    let data = v.get("data").cloned().unwrap_or(Value::Array(Vec::new()));
    // Order calls report per order: a `sCode` other than 0 is the error.
    let first = data.as_array().and_then(|a| a.first());
    let (code, msg) = match first.and_then(|d| d.get("sCode")).and_then(Value::as_str) {
        Some(s) if s != "0" => (s.to_string(), first.and_then(|d| d.get("sMsg")).and_then(Value::as_str).unwrap_or("")),
        _ => (code, v.get("msg").and_then(Value::as_str).unwrap_or("")),
    };
    if code == "0" {
        if !status.is_success() {
            return Err(ExchangeError::Malformed(format!("HTTP {status} with code 0: {}", rest::excerpt(body))));
        }
        return Ok(Reply::Ok(data));
    }
    match code.parse::<i64>() {
        Ok(n) => Ok(Reply::Err(map_error(n, msg.to_string()))),
        Err(_) => Err(ExchangeError::Malformed(format!("code {code:?} ({msg})"))),
    }
}

/// OKX v5 codes to typed errors, from the v5 error-code list
/// <https://www.okx.com/docs-v5/en/#error-code> (REST API, "Error Code").
///
/// | code | documented meaning | here |
/// |---|---|---|
/// | 50001 service temporarily unavailable, 50004 "endpoint request timeout (does not mean that the request was successful or failed, please check the request result)", 50013 system busy (HTTP 200), 50026 system error, 51149 order timed out, any undocumented code | ambiguous | `Venue`: outcome unknown |
/// | 50011, 50061 | too many requests | `RateLimited` |
/// | 50102 | timestamp request expired | `TimestampOutOfWindow` |
/// | 50100, 50103..=50105, 50111..=50114 | key, passphrase, sign | `Authentication` |
/// | 50000, 50002, 50005..=50010, 50012, 50014..=50016, 50024, 50025 | body / parameter / account refusals | `Rejected` |
/// | 51603, 51400..=51402 | order does not exist / already final | `UnknownOrder` |
/// | 51008 | insufficient balance | `InsufficientBalance` |
/// | 51016 | duplicated `clOrdId` | `DuplicateOrder` |
/// | 51001 | instrument does not exist | `UnknownMarket` |
/// | 51006, 51020, 51121 | price limit, minimum amount, lot size | `RuleViolation` |
/// | other 51xxx | order refused (per-order `sCode`) | `Rejected` |
pub(crate) fn map_error(code: i64, msg: String) -> ExchangeError {
    match code {
        50001 | 50004 | 50013 | 50026 | 51149 => ExchangeError::Venue { code, message: msg },
        50011 | 50061 => ExchangeError::RateLimited { retry_after: Duration::from_secs(1) },
        50102 => ExchangeError::TimestampOutOfWindow,
        50100 | 50103..=50105 | 50111..=50114 => ExchangeError::Authentication(msg),
        50000 | 50002 | 50005..=50010 | 50012 | 50014..=50016 | 50024 | 50025 => {
            ExchangeError::Rejected { code, message: msg }
        }
        51603 | 51400..=51402 => ExchangeError::UnknownOrder(ClientOrderId::from_raw("")),
        51008 => ExchangeError::InsufficientBalance(msg),
        51016 => ExchangeError::DuplicateOrder(ClientOrderId::from_raw("")),
        51001 => ExchangeError::UnknownMarket(msg),
        51006 | 51020 | 51121 => ExchangeError::RuleViolation { rule: format!("code {code}"), message: msg },
        51000..=51999 => ExchangeError::Rejected { code, message: msg },
        _ => ExchangeError::Venue { code, message: msg },
    }
}

fn bar(ms: i64) -> Result<&'static str, ExchangeError> {
    Ok(match ms {
        60_000 => "1m",
        180_000 => "3m",
        300_000 => "5m",
        900_000 => "15m",
        1_800_000 => "30m",
        3_600_000 => "1H",
        7_200_000 => "2H",
        14_400_000 => "4H",
        86_400_000 => "1Dutc",
        other => return Err(ExchangeError::Malformed(format!("no OKX bar of {other} ms"))),
    })
}

#[async_trait]
impl Exchange for OkxSpot {
    fn name(&self) -> &str {
        "okx"
    }

    async fn market_rules(&self, symbol: &str) -> Result<MarketRules, ExchangeError> {
        let v = self
            .get("/api/v5/public/instruments", &[("instType", "SPOT".into()), ("instId", symbol.to_string())], false)
            .await?;
        let i = v
            .as_array()
            .and_then(|a| a.iter().find(|i| i.get("instId").and_then(Value::as_str) == Some(symbol)))
            .ok_or_else(|| ExchangeError::UnknownMarket(symbol.to_string()))?;
        // OKX spot has no minimum notional, only a minimum size.
        let mut rules = MarketRules::new(dec(i, "tickSz")?, dec(i, "lotSz")?, dec(i, "minSz")?, Decimal::ZERO);
        let max = dec_or_zero(i, "maxLmtSz")?;
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
        let b = bar(interval_ms)?;
        let mut out: Vec<Candle> = Vec::new();
        // Newest first: `after` = older than this time. `market/candles`
        // serves only the latest 1,440 bars; when it runs dry before
        // `start`, `market/history-candles` serves the older ones.
        let mut after = end;
        let mut path = "/api/v5/market/candles";
        loop {
            let limit = if path.ends_with("history-candles") { "100" } else { "300" };
            let params = [
                ("instId", symbol.to_string()),
                ("bar", b.to_string()),
                ("after", after.to_string()),
                ("limit", limit.to_string()),
            ];
            let v = self.get(path, &params, false).await?;
            let rows = v.as_array().ok_or_else(|| ExchangeError::Malformed("candles".into()))?;
            let mut oldest = None;
            for row in rows {
                let r = row.as_array().ok_or_else(|| ExchangeError::Malformed("candle row".into()))?;
                let field = |i: usize| -> Result<&str, ExchangeError> {
                    r.get(i)
                        .and_then(Value::as_str)
                        .ok_or_else(|| ExchangeError::Malformed(format!("candle field {i}")))
                };
                let num = |i: usize| {
                    field(i)
                        .and_then(|s| parse_dec(s).ok_or_else(|| ExchangeError::Malformed(format!("candle field {i}"))))
                };
                let time: i64 = field(0)?.parse().map_err(|_| ExchangeError::Malformed("candle time".into()))?;
                oldest = Some(oldest.map_or(time, |o: i64| o.min(time)));
                if time >= start && time < end {
                    out.push(Candle { time, open: num(1)?, high: num(2)?, low: num(3)?, close: num(4)? });
                }
            }
            match oldest {
                Some(o) if o > start && o < after => after = o,
                None if path == "/api/v5/market/candles" && after > start => path = "/api/v5/market/history-candles",
                _ => break,
            }
        }
        out.sort_by_key(|c| c.time);
        out.dedup_by_key(|c| c.time);
        // A closed range the venue should have answered (issue 18.2).
        if out.is_empty() && start < end && end.saturating_add(interval_ms) <= self.venue_now() {
            return Err(ExchangeError::Malformed(format!(
                "OKX returned no {b} candles of {symbol} in [{start}, {end}) from candles nor history-candles; \
                 check the market and the range (before its listing?)"
            )));
        }
        Ok(out)
    }

    async fn last_price(&self, symbol: &str) -> Result<Decimal, ExchangeError> {
        let v = self.get("/api/v5/market/ticker", &[("instId", symbol.to_string())], false).await?;
        let t = OkxSpot::first(&v).ok_or_else(|| ExchangeError::UnknownMarket(symbol.to_string()))?;
        check::symbol(symbol, t.get("instId").and_then(Value::as_str))?;
        check::last_price(symbol, dec(t, "last")?)
    }

    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        let v = self.get("/api/v5/account/balance", &[], true).await?;
        let details = OkxSpot::first(&v)
            .and_then(|a| a.get("details"))
            .and_then(Value::as_array)
            .ok_or_else(|| ExchangeError::Malformed("balance details".into()))?;
        details
            .iter()
            .map(|d| {
                check::balance(Balance {
                    asset: text(d, "ccy")?.to_string(),
                    free: dec_or_zero(d, "availBal")?,
                    locked: dec_or_zero(d, "frozenBal")?,
                })
            })
            .collect()
    }

    async fn place_order(&self, symbol: &str, order: &OrderRequest) -> Result<OrderInfo, ExchangeError> {
        // Nothing off the market's grid leaves (issue 18 item 5).
        grid::check(&self.rules.get(symbol, self.market_rules(symbol)).await?, order)?;
        let id = &order.client_order_id;
        let mut body = json!({
            "instId": symbol, "tdMode": "cash", "clOrdId": self.venue_id(id),
            "side": match order.side { OrderSide::Buy => "buy", OrderSide::Sell => "sell" },
            "sz": order.quantity.normalize().to_string(),
        });
        let price = match order.kind {
            OrderKind::Limit { price } => {
                body["ordType"] = "limit".into();
                body["px"] = price.normalize().to_string().into();
                Some(price)
            }
            OrderKind::Market { .. } => {
                body["ordType"] = "market".into();
                body["tgtCcy"] = "base_ccy".into();
                None
            }
        };
        let body = body.to_string();
        for _ in 0..2 {
            match self.send(Method::POST, "/api/v5/trade/order", Some(body.clone()), true).await? {
                Reply::Ok(v) => {
                    // The answer holds the ids: the order is accepted, if
                    // it is ours.
                    let cl = OkxSpot::first(&v).and_then(|d| d.get("clOrdId")).and_then(Value::as_str).unwrap_or("");
                    if cl != venue_order_id(id) {
                        return Err(ExchangeError::Malformed(format!(
                            "the venue's reply does not match the request: the clOrdId is {cl:?}, asked {} (order {id})",
                            venue_order_id(id)
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
        let body = json!({"instId": symbol, "clOrdId": self.venue_id(id)}).to_string();
        self.retrying(|| self.send(Method::POST, "/api/v5/trade/cancel-order", Some(body.clone()), true))
            .await
            .map_err(|e| with_id(e, id))?;
        self.query_order(symbol, id).await
    }

    async fn query_order(&self, symbol: &str, id: &ClientOrderId) -> Result<OrderInfo, ExchangeError> {
        let params = [("instId", symbol.to_string()), ("clOrdId", self.venue_id(id))];
        let v = self.get("/api/v5/trade/order", &params, true).await.map_err(|e| with_id(e, id))?;
        let o = OkxSpot::first(&v).ok_or_else(|| ExchangeError::UnknownOrder(id.clone()))?;
        let (info, market) = self.order_info(o, Some(id))?;
        check::order(&Asked::id(symbol, id), market, info)
    }

    async fn open_orders(&self, symbol: &str) -> Result<Vec<OrderInfo>, ExchangeError> {
        let v = self
            .get("/api/v5/trade/orders-pending", &[("instType", "SPOT".into()), ("instId", symbol.to_string())], true)
            .await?;
        v.as_array()
            .ok_or_else(|| ExchangeError::Malformed("orders-pending".into()))?
            .iter()
            .map(|o| self.order_info(o, None).and_then(|(info, market)| check::listed(symbol, market, info)))
            .collect()
    }

    async fn fills_since(&self, symbol: &str, since: TimeMs) -> Result<Vec<Fill>, ExchangeError> {
        // Every page, from fills or fills-history (issue 18.4).
        self.fills(symbol, since).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_codes_and_secrets() {
        assert_eq!(iso(1_607_418_537_715), "2020-12-08T09:08:57.715Z");
        assert_eq!(map_error(50102, String::new()), ExchangeError::TimestampOutOfWindow);
        assert!(matches!(map_error(50113, "x".into()), ExchangeError::Authentication(_)));
        assert!(matches!(map_error(51603, String::new()), ExchangeError::UnknownOrder(_)));
        assert!(matches!(map_error(51008, String::new()), ExchangeError::InsufficientBalance(_)));
        assert!(matches!(map_error(51016, String::new()), ExchangeError::DuplicateOrder(_)));
        assert!(matches!(map_error(50011, String::new()), ExchangeError::RateLimited { .. }));
        let s = OkxSpot::new(
            OkxConfig::default(),
            Secret::new("CANARY-1"),
            Secret::new("CANARY-2"),
            Secret::new("CANARY-3"),
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("CANARY"));
    }
}
