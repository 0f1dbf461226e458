//! `fills_since` on Bybit: every page of every window.
//!
//! What the venue can answer (GET /v5/execution/list,
//! <https://bybit-exchange.github.io/docs/v5/order/execution>): trades of
//! the last two years ("Get Trade History (2 years)"), a
//! `startTime`/`endTime` window of at most 7 days, at most 100 rows a page
//! (50 by default), newest first, further pages by the `nextPageCursor`
//! token. The rows carry our `orderLinkId`.
//!
//! So the range is walked a week at a time and each week is paged by
//! cursor until the token comes back empty; the fills are returned oldest
//! first. A `since` older than two years is [`ExchangeError::OutOfReach`]
//! (nothing is read), never a partial answer.

use martingale_core::engine::{ClientOrderId, TimeMs};
use serde_json::Value;

use super::{side, BybitSpot};
use crate::check;
use crate::error::ExchangeError;
use crate::json::{dec, dec_or_zero, int, text};
use crate::types::Fill;

const DAY_MS: i64 = 86_400_000;
/// The longest window one request may ask for.
const WINDOW_MS: i64 = 7 * DAY_MS;
/// How far back the venue answers.
pub(crate) const REACH_DAYS: i64 = 730;
/// Rows per page (the documented maximum).
const PAGE: usize = 100;

impl BybitSpot {
    pub(super) async fn fills(&self, symbol: &str, since: TimeMs) -> Result<Vec<Fill>, ExchangeError> {
        let now = self.venue_now();
        if since < now - REACH_DAYS * DAY_MS {
            return Err(ExchangeError::OutOfReach(format!(
                "Bybit answers trades of the last {REACH_DAYS} days only; asked from {since} ms, ask from {} or later",
                now - REACH_DAYS * DAY_MS + 60_000
            )));
        }
        let mut rows: Vec<Value> = Vec::new();
        let mut start = since;
        while start <= now {
            let end = (start + WINDOW_MS - 1).min(now);
            let mut cursor = String::new();
            loop {
                let mut params = vec![
                    ("category", "spot".to_string()),
                    ("symbol", symbol.to_string()),
                    ("startTime", start.to_string()),
                    ("endTime", end.to_string()),
                    ("limit", PAGE.to_string()),
                ];
                if !cursor.is_empty() {
                    params.push(("cursor", cursor.clone()));
                }
                let v = self.get("/v5/execution/list", &params, true).await?;
                let list = v
                    .get("list")
                    .and_then(Value::as_array)
                    .ok_or_else(|| ExchangeError::Malformed("executions without `list`".into()))?;
                rows.extend(list.iter().cloned());
                let next = v.get("nextPageCursor").and_then(Value::as_str).unwrap_or_default();
                if list.is_empty() || next.is_empty() || next == cursor {
                    break;
                }
                cursor = next.to_string();
            }
            start = end + 1;
        }
        let mut fills = rows
            .iter()
            .map(|t| {
                let fill = Fill {
                    client_order_id: ClientOrderId::from_raw(
                        t.get("orderLinkId").and_then(Value::as_str).unwrap_or_default(),
                    ),
                    trade_id: text(t, "execId")?.to_string(),
                    time: int(t, "execTime")?,
                    side: side(text(t, "side")?)?,
                    price: dec(t, "execPrice")?,
                    quantity: dec(t, "execQty")?,
                    fee: dec_or_zero(t, "execFee")?,
                    fee_asset: t.get("feeCurrency").and_then(Value::as_str).unwrap_or_default().to_string(),
                };
                check::fill(symbol, t.get("symbol").and_then(Value::as_str), fill)
            })
            .collect::<Result<Vec<Fill>, ExchangeError>>()?;
        fills.sort_by_key(|f| f.time);
        fills.dedup_by(|a, b| a.trade_id == b.trade_id);
        Ok(fills)
    }
}
