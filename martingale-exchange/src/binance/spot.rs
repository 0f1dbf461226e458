//! The Binance Spot REST adapter (`/api/v3`).
//!
//! - Signed requests carry `timestamp` (local clock + measured server
//!   offset) and `recvWindow`; a -1021 answer resyncs the offset from
//!   `GET /api/v3/time` and the request is sent once more (for an order:
//!   -1021 means it was refused, so the retry cannot double it).
//! - Request weight: `X-MBX-USED-WEIGHT-1M` is read from every answer; a
//!   request that would pass the limit waits for the next minute.
//! - 429 / 418 become [`ExchangeError::RateLimited`] with `Retry-After`;
//!   idempotent requests (queries) are retried with backoff on network
//!   errors, 5xx and rate limits; order submissions never are: a 5xx or a
//!   timeout after sending is [`ExchangeError::OutcomeUnknown`], resolved by
//!   the runner through a query by client order id.
//! - Numbers arrive as JSON strings and are parsed exactly into `Decimal`.
//! - Error codes are classified from the Binance Spot error-code page
//!   (<https://developers.binance.com/docs/binance-spot-api-docs/errors>) in
//!   [`map_error`]: only codes documented as refusals become
//!   [`ExchangeError::Rejected`] (or a more specific definite refusal);
//!   -1000, -1001, -1006 ("execution status unknown"), -1007 ("send status
//!   unknown; execution status unknown", HTTP 408 or 400), -1008 and any
//!   undocumented code stay [`ExchangeError::Venue`]: outcome unknown.
//! - Every report is checked against the request (`crate::check`) before it
//!   is returned; redirects are never followed (`crate::rest`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use martingale_core::engine::{Candle, ClientOrderId, OrderKind, OrderRequest, TimeMs};
use martingale_core::{MarketRules, OrderSide};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::Value;

mod fills;

use super::sign::Signer;
use crate::check::{self, Asked};
use crate::error::ExchangeError;
use crate::exchange::Exchange;
use crate::grid::{self, RulesCache};
use crate::json::{dec, int, parse_dec, text};
use crate::ratelimit::WeightBudget;
use crate::rest::{self, with_id, HttpClient, Reply};
use crate::secret::Secret;
use crate::types::{Balance, Fill, OrderInfo, OrderStatus};

/// Production REST endpoint.
pub const MAINNET: &str = "https://api.binance.com";
/// Spot testnet REST endpoint.
pub const TESTNET: &str = "https://testnet.binance.vision";

/// Settings of the adapter.
#[derive(Debug, Clone)]
pub struct BinanceConfig {
    /// Base URL ([`MAINNET`], [`TESTNET`] or a test server).
    pub base_url: String,
    /// `recvWindow` in ms (max 60,000).
    pub recv_window: u64,
    /// Request weight allowed per minute.
    pub weight_limit: u32,
    /// HTTP timeout.
    pub timeout: Duration,
    /// Attempts for idempotent requests.
    pub max_attempts: u32,
}

impl Default for BinanceConfig {
    fn default() -> Self {
        BinanceConfig {
            base_url: MAINNET.into(),
            recv_window: 5000,
            weight_limit: 6000,
            timeout: Duration::from_secs(10),
            max_attempts: 4,
        }
    }
}

/// Binance Spot behind the [`Exchange`] trait.
#[derive(Debug)]
pub struct BinanceSpot {
    http: HttpClient,
    cfg: BinanceConfig,
    api_key: Secret,
    signer: Signer,
    offset_ms: AtomicI64,
    /// Request weight of the key, shared with every adapter on the same key
    /// when built through [`BinanceSpot::with_budget`].
    weight: Arc<WeightBudget>,
    /// Each market's rules, for the grid check before an order is sent.
    rules: RulesCache,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// What one Binance answer means: the payload, or a typed refusal. `Err`
/// is an answer that cannot be read (its message kept where there is one).
/// A 200 whose body is an error (`{"code": -1007, "msg": ...}`) is that
/// error, with the venue's message (issue 21).
pub(crate) fn interpret(status: StatusCode, headers: &HeaderMap, body: &str) -> Result<Reply, ExchangeError> {
    if status == StatusCode::TOO_MANY_REQUESTS || status.as_u16() == 418 {
        return Ok(Reply::Err(ExchangeError::RateLimited {
            retry_after: rest::retry_after(headers).unwrap_or(Duration::from_secs(60)),
        }));
    }
    if status.is_server_error() {
        // Documented: a 5xx leaves the execution status UNKNOWN.
        return Ok(Reply::Err(ExchangeError::Network(format!("HTTP {status}"))));
    }
    let v: Value = serde_json::from_str(body)
        .map_err(|_| ExchangeError::Malformed(format!("HTTP {status}: not JSON: {}", rest::excerpt(body))))?;
    let code = v.get("code").and_then(Value::as_i64);
    let msg = || v.get("msg").and_then(Value::as_str).unwrap_or("").to_string();
    match code {
        Some(code) if code != 0 => Ok(Reply::Err(map_error(code, msg()))),
        _ if status.is_success() => Ok(Reply::Ok(v)),
        _ => Err(ExchangeError::Malformed(format!("HTTP {status} without an error code: {}", rest::excerpt(body)))),
    }
}

impl BinanceSpot {
    /// An adapter with HMAC keys.
    pub fn new(cfg: BinanceConfig, api_key: Secret, secret_key: Secret) -> Result<BinanceSpot, ExchangeError> {
        BinanceSpot::with_signer(cfg, api_key, Signer::Hmac(secret_key))
    }

    /// An adapter with any signer (HMAC or Ed25519).
    pub fn with_signer(cfg: BinanceConfig, api_key: Secret, signer: Signer) -> Result<BinanceSpot, ExchangeError> {
        let http = HttpClient::new(cfg.timeout)?;
        let weight = Arc::new(WeightBudget::new(cfg.weight_limit));
        Ok(BinanceSpot {
            http,
            cfg,
            api_key,
            signer,
            offset_ms: AtomicI64::new(0),
            weight,
            rules: RulesCache::default(),
        })
    }

    /// Measures the offset between the server clock and ours.
    pub async fn sync_time(&self) -> Result<i64, ExchangeError> {
        let before = now_ms();
        // A single attempt: this is what the retry loop calls on -1021.
        let v = match self.send(Method::GET, "/api/v3/time", String::new(), false, 1).await? {
            Reply::Ok(v) => v,
            Reply::Err(e) => return Err(e),
        };
        let after = now_ms();
        let offset = int(&v, "serverTime")? - (before + after) / 2;
        self.offset_ms.store(offset, Ordering::Relaxed);
        Ok(offset)
    }

    /// Shares a request-weight budget (e.g. one per API key from
    /// [`KeyedBudgets`](crate::KeyedBudgets)) instead of this adapter's own.
    pub fn with_budget(mut self, budget: Arc<WeightBudget>) -> BinanceSpot {
        self.weight = budget;
        self
    }

    /// Uses a shared HTTP client (one connection pool for many adapters,
    /// e.g. every bot of a fleet); keys, time offset and budget stay this
    /// adapter's own. The client's timeout replaces `cfg.timeout`.
    pub fn with_http_client(mut self, http: HttpClient) -> BinanceSpot {
        self.http = http;
        self
    }

    fn venue_now(&self) -> i64 {
        now_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    fn record_weight(&self, headers: &reqwest::header::HeaderMap) {
        let used =
            headers.get("x-mbx-used-weight-1m").and_then(|h| h.to_str().ok()).and_then(|s| s.parse::<u32>().ok());
        if let Some(used) = used {
            self.weight.observe(self.venue_now(), used);
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: String,
        signed: bool,
        weight: u32,
    ) -> Result<Reply, ExchangeError> {
        if let Err(e) = self.weight.acquire(weight, || self.venue_now()).await {
            return Ok(Reply::Err(e));
        }
        let url = format!("{}{}{}{}", self.cfg.base_url, path, if query.is_empty() { "" } else { "?" }, query);
        let mut req = self.http.inner().request(method, url);
        if signed {
            req = req.header("X-MBX-APIKEY", self.api_key.expose());
        }
        let raw = match rest::execute(req).await {
            Ok(raw) => raw,
            Err(e) => return Ok(Reply::Err(e)),
        };
        self.record_weight(&raw.headers);
        interpret(raw.status, &raw.headers, &raw.body)
    }

    fn signed_query(&self, params: &[(&str, String)]) -> String {
        let mut q: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        q.push(format!("recvWindow={}", self.cfg.recv_window));
        q.push(format!("timestamp={}", now_ms() + self.offset_ms.load(Ordering::Relaxed)));
        let q = q.join("&");
        let sig = self.signer.sign(&q, "");
        format!("{q}&signature={sig}")
    }

    /// A query (idempotent): retried with backoff on network errors, 5xx and
    /// rate limits.
    async fn public(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
        weight: u32,
    ) -> Result<Value, ExchangeError> {
        self.retrying(|| async {
            let q: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            self.send(method.clone(), path, q.join("&"), false, weight).await
        })
        .await
    }

    async fn signed_get(&self, path: &str, params: &[(&str, String)], weight: u32) -> Result<Value, ExchangeError> {
        self.retrying(|| async { self.send(Method::GET, path, self.signed_query(params), true, weight).await }).await
    }

    async fn retrying<F, Fut>(&self, attempt: F) -> Result<Value, ExchangeError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Reply, ExchangeError>>,
    {
        rest::retrying(self.cfg.max_attempts, attempt, || async { self.sync_time().await.map(|_| ()) }).await
    }

    /// An order report; `id_field` names our id (`clientOrderId`, or
    /// `origClientOrderId` in a cancel's answer). Also returns the market
    /// the report names.
    pub(crate) fn order_info<'v>(v: &'v Value, id_field: &str) -> Result<(OrderInfo, Option<&'v str>), ExchangeError> {
        let status = match text(v, "status")? {
            "NEW" | "PENDING_NEW" => OrderStatus::New,
            "PARTIALLY_FILLED" => OrderStatus::PartiallyFilled,
            "FILLED" => OrderStatus::Filled,
            "CANCELED" | "PENDING_CANCEL" => OrderStatus::Canceled,
            "REJECTED" => OrderStatus::Rejected,
            "EXPIRED" | "EXPIRED_IN_MATCH" => OrderStatus::Expired,
            other => return Err(ExchangeError::Malformed(format!("order status {other:?}"))),
        };
        let side = match text(v, "side")? {
            "BUY" => OrderSide::Buy,
            "SELL" => OrderSide::Sell,
            other => return Err(ExchangeError::Malformed(format!("side {other:?}"))),
        };
        let price = dec(v, "price")?;
        let info = OrderInfo {
            client_order_id: ClientOrderId::from_raw(text(v, id_field)?),
            status,
            side,
            price: (price > Decimal::ZERO).then_some(price),
            quantity: dec(v, "origQty")?,
            filled: dec(v, "executedQty")?,
            filled_quote: dec(v, "cummulativeQuoteQty")?,
            updated_at: v.get("updateTime").or_else(|| v.get("transactTime")).and_then(Value::as_i64).unwrap_or(0),
        };
        Ok((info, v.get("symbol").and_then(Value::as_str)))
    }
}

/// Binance Spot error codes to typed errors, from the error-code page
/// <https://developers.binance.com/docs/binance-spot-api-docs/errors>.
///
/// | code | documented meaning | here |
/// |---|---|---|
/// | -1000 UNKNOWN, -1001 DISCONNECTED ("Internal error; unable to process your request") | server side | `Venue`: outcome unknown |
/// | -1006 UNEXPECTED_RESP ("Execution status unknown") | ambiguous | `Venue`: outcome unknown |
/// | -1007 TIMEOUT ("Send status unknown; execution status unknown") | ambiguous | `Venue`: outcome unknown |
/// | -1008 SERVER_BUSY, any undocumented code | server side | `Venue`: outcome unknown |
/// | -1003 TOO_MANY_REQUESTS, -1015 TOO_MANY_ORDERS | rate limit | `RateLimited` |
/// | -1021 INVALID_TIMESTAMP | refused | `TimestampOutOfWindow` |
/// | -1002, -1022, -2014, -2015 | key / signature / permission | `Authentication` |
/// | -1013 filter failure, -1111 BAD_PRECISION | refused | `RuleViolation` |
/// | -1121 BAD_SYMBOL | refused | `UnknownMarket` |
/// | other -11xx ("Request issues": parameters, TIF, side, type) | refused | `Rejected` |
/// | -2010 NEW_ORDER_REJECTED | refused | `InsufficientBalance`, `DuplicateOrder` or `Rejected` by message |
/// | -2019 margin is insufficient | refused | `InsufficientBalance` |
/// | -2011 CANCEL_REJECTED, -2013 NO_SUCH_ORDER | | `UnknownOrder` |
pub(crate) fn map_error(code: i64, msg: String) -> ExchangeError {
    match code {
        -1003 => ExchangeError::RateLimited { retry_after: Duration::from_secs(60) },
        -1015 => ExchangeError::RateLimited { retry_after: Duration::from_secs(10) },
        -1021 => ExchangeError::TimestampOutOfWindow,
        -1002 | -1022 | -2014 | -2015 => ExchangeError::Authentication(msg),
        -1013 => {
            let rule = msg.trim_start_matches("Filter failure: ").to_string();
            ExchangeError::RuleViolation { rule, message: msg }
        }
        -1111 => ExchangeError::RuleViolation { rule: "precision".into(), message: msg },
        -1121 => ExchangeError::UnknownMarket(msg),
        -1199..=-1100 => ExchangeError::Rejected { code, message: msg },
        -2010 if msg.to_ascii_lowercase().contains("insufficient balance") => ExchangeError::InsufficientBalance(msg),
        -2010 if msg.contains("Duplicate order") => ExchangeError::DuplicateOrder(ClientOrderId::from_raw("")),
        -2010 => ExchangeError::Rejected { code, message: msg },
        -2019 => ExchangeError::InsufficientBalance(msg),
        -2011 | -2013 => ExchangeError::UnknownOrder(ClientOrderId::from_raw("")),
        _ => ExchangeError::Venue { code, message: msg },
    }
}

#[async_trait]
impl Exchange for BinanceSpot {
    fn name(&self) -> &str {
        "binance"
    }

    async fn market_rules(&self, symbol: &str) -> Result<MarketRules, ExchangeError> {
        let v = self.public(Method::GET, "/api/v3/exchangeInfo", &[("symbol", symbol.to_string())], 20).await?;
        let s = v
            .get("symbols")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|s| s.get("symbol").and_then(Value::as_str) == Some(symbol)))
            .ok_or_else(|| ExchangeError::UnknownMarket(symbol.to_string()))?;
        let mut rules = MarketRules::new(Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        rules.symbol = Some(symbol.to_string());
        for f in s.get("filters").and_then(Value::as_array).into_iter().flatten() {
            match f.get("filterType").and_then(Value::as_str) {
                Some("PRICE_FILTER") => rules.tick_size = dec(f, "tickSize")?,
                Some("LOT_SIZE") => {
                    rules.step_size = dec(f, "stepSize")?;
                    rules.min_qty = dec(f, "minQty")?;
                    let max = dec(f, "maxQty")?;
                    rules.max_qty = (max > Decimal::ZERO).then_some(max);
                }
                Some("NOTIONAL") | Some("MIN_NOTIONAL") => rules.min_notional = dec(f, "minNotional")?,
                // Market orders' own cap (issue 18.6); its minQty and
                // stepSize are 0 (off) on Binance's spot markets, and
                // LOT_SIZE's still apply.
                Some("MARKET_LOT_SIZE") => {
                    let max = dec(f, "maxQty")?;
                    rules.market_max_qty = (max > Decimal::ZERO).then_some(max);
                }
                _ => {}
            }
        }
        Ok(rules)
    }

    async fn candles(
        &self,
        symbol: &str,
        interval_ms: i64,
        start: TimeMs,
        end: TimeMs,
    ) -> Result<Vec<Candle>, ExchangeError> {
        let interval = match interval_ms {
            60_000 => "1m",
            180_000 => "3m",
            300_000 => "5m",
            900_000 => "15m",
            1_800_000 => "30m",
            3_600_000 => "1h",
            14_400_000 => "4h",
            86_400_000 => "1d",
            other => return Err(ExchangeError::Malformed(format!("no Binance interval of {other} ms"))),
        };
        let mut out: Vec<Candle> = Vec::new();
        let mut from = start;
        while from < end {
            let params = [
                ("symbol", symbol.to_string()),
                ("interval", interval.to_string()),
                ("startTime", from.to_string()),
                ("endTime", (end - 1).to_string()),
                ("limit", "1000".to_string()),
            ];
            let v = self.public(Method::GET, "/api/v3/klines", &params, 2).await?;
            let rows = v.as_array().ok_or_else(|| ExchangeError::Malformed("klines: not an array".into()))?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let r = row.as_array().ok_or_else(|| ExchangeError::Malformed("kline row".into()))?;
                let num = |i: usize| -> Result<Decimal, ExchangeError> {
                    r.get(i)
                        .and_then(Value::as_str)
                        .and_then(parse_dec)
                        .ok_or_else(|| ExchangeError::Malformed(format!("kline field {i}")))
                };
                let time =
                    r.first().and_then(Value::as_i64).ok_or_else(|| ExchangeError::Malformed("kline time".into()))?;
                if time >= end || out.last().is_some_and(|c| c.time >= time) {
                    continue;
                }
                out.push(Candle { time, open: num(1)?, high: num(2)?, low: num(3)?, close: num(4)? });
            }
            let last = out.last().map_or(end, |c| c.time);
            if last + interval_ms <= from {
                break;
            }
            from = last + interval_ms;
        }
        Ok(out)
    }

    async fn last_price(&self, symbol: &str) -> Result<Decimal, ExchangeError> {
        let v = self.public(Method::GET, "/api/v3/ticker/price", &[("symbol", symbol.to_string())], 2).await?;
        check::symbol(symbol, v.get("symbol").and_then(Value::as_str))?;
        check::last_price(symbol, dec(&v, "price")?)
    }

    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        let v = self.signed_get("/api/v3/account", &[], 20).await?;
        let list =
            v.get("balances").and_then(Value::as_array).ok_or_else(|| ExchangeError::Malformed("balances".into()))?;
        list.iter()
            .map(|b| {
                check::balance(Balance {
                    asset: text(b, "asset")?.to_string(),
                    free: dec(b, "free")?,
                    locked: dec(b, "locked")?,
                })
            })
            .collect()
    }

    async fn place_order(&self, symbol: &str, order: &OrderRequest) -> Result<OrderInfo, ExchangeError> {
        // Nothing off the market's grid leaves (issue 18 item 5).
        grid::check(&self.rules.get(symbol, self.market_rules(symbol)).await?, order)?;
        let id = &order.client_order_id;
        let mut params = vec![
            ("symbol", symbol.to_string()),
            ("side", order.side.to_string()),
            ("quantity", order.quantity.normalize().to_string()),
            ("newClientOrderId", id.as_str().to_string()),
            ("newOrderRespType", "FULL".to_string()),
        ];
        match order.kind {
            OrderKind::Limit { price } => {
                params.push(("type", "LIMIT".into()));
                params.push(("timeInForce", "GTC".into()));
                params.push(("price", price.normalize().to_string()));
            }
            OrderKind::Market { .. } => params.push(("type", "MARKET".into())),
        }
        // Never retried blindly: one attempt, plus one after a clock resync
        // (-1021 means the order was refused).
        for _ in 0..2 {
            match self.send(Method::POST, "/api/v3/order", self.signed_query(&params), true, 1).await? {
                Reply::Ok(v) => {
                    let (info, market) = BinanceSpot::order_info(&v, "clientOrderId")?;
                    return check::order(&Asked::placed(symbol, order), market, info);
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
        let params = [("symbol", symbol.to_string()), ("origClientOrderId", id.as_str().to_string())];
        // Cancelling twice is harmless: the second is "unknown order".
        let v = self
            .retrying(|| async {
                self.send(Method::DELETE, "/api/v3/order", self.signed_query(&params), true, 1).await
            })
            .await
            .map_err(|e| with_id(e, id))?;
        // The documented answer of DELETE /api/v3/order names the order in
        // `origClientOrderId`; its `clientOrderId` is the cancel request's
        // own new id (issue 18.1).
        let (info, market) = BinanceSpot::order_info(&v, "origClientOrderId")?;
        check::order(&Asked::id(symbol, id), market, info)
    }

    async fn query_order(&self, symbol: &str, id: &ClientOrderId) -> Result<OrderInfo, ExchangeError> {
        let params = [("symbol", symbol.to_string()), ("origClientOrderId", id.as_str().to_string())];
        let v = self.signed_get("/api/v3/order", &params, 4).await.map_err(|e| with_id(e, id))?;
        let (info, market) = BinanceSpot::order_info(&v, "clientOrderId")?;
        check::order(&Asked::id(symbol, id), market, info)
    }

    async fn open_orders(&self, symbol: &str) -> Result<Vec<OrderInfo>, ExchangeError> {
        let v = self.signed_get("/api/v3/openOrders", &[("symbol", symbol.to_string())], 6).await?;
        v.as_array()
            .ok_or_else(|| ExchangeError::Malformed("openOrders".into()))?
            .iter()
            .map(|o| {
                let (info, market) = BinanceSpot::order_info(o, "clientOrderId")?;
                check::listed(symbol, market, info)
            })
            .collect()
    }

    async fn fills_since(&self, symbol: &str, since: TimeMs) -> Result<Vec<Fill>, ExchangeError> {
        // Every page, trades mapped to client ids by order id (issue 18.4).
        self.fills(symbol, since).await
    }
}
