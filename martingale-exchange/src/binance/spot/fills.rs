//! `fills_since` on Binance: every page, each trade under our client id.
//!
//! What the venue can answer (GET /api/v3/myTrades,
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints#account-trade-list-user_data>):
//! at most 1,000 rows a page (500 by default), a `startTime`/`endTime`
//! window of at most 24 hours, or paging forward by trade id (`fromId`),
//! which cannot be combined with a time. The rows name the order by the
//! venue's `orderId` only, never by client order id.
//!
//! So a range of up to [`WINDOW_WALK_DAYS`] days is walked a day at a time;
//! a day that fills a whole page, or a longer range, continues by trade id
//! (from the window's last trade, or from the account's first trade),
//! until a page comes back short. Each distinct `orderId` is then mapped
//! to its client order id with `GET /api/v3/allOrders` paged forward by
//! `orderId` (1,000 a page). A trade whose order is not found there is an
//! error, never a fill without an owner.

use std::collections::HashMap;

use martingale_core::engine::{ClientOrderId, TimeMs};
use martingale_core::OrderSide;
use serde_json::Value;

use super::BinanceSpot;
use crate::check;
use crate::error::ExchangeError;
use crate::json::{dec, int, text};
use crate::types::Fill;

/// Rows per page of `myTrades` and `allOrders` (the documented maximum).
pub(super) const PAGE: usize = 1000;
/// The longest window `myTrades` accepts.
const DAY_MS: i64 = 86_400_000;
/// Ranges up to this many days are walked by day; longer ones page by id.
const WINDOW_WALK_DAYS: i64 = 30;

impl BinanceSpot {
    async fn trades_page(&self, symbol: &str, extra: &[(&str, String)]) -> Result<Vec<Value>, ExchangeError> {
        let mut params = vec![("symbol", symbol.to_string())];
        params.extend(extra.iter().cloned());
        params.push(("limit", PAGE.to_string()));
        let v = self.signed_get("/api/v3/myTrades", &params, 20).await?;
        v.as_array().cloned().ok_or_else(|| ExchangeError::Malformed("myTrades is not a list".into()))
    }

    /// Every trade row at or after `since`, oldest first.
    async fn trade_rows(&self, symbol: &str, since: TimeMs) -> Result<Vec<Value>, ExchangeError> {
        let now = self.venue_now();
        let since = since.max(0);
        let mut rows = Vec::new();
        let mut from_id = None;
        if now - since <= WINDOW_WALK_DAYS * DAY_MS {
            let mut start = since;
            while start <= now {
                let end = (start + DAY_MS - 1).min(now);
                let page =
                    self.trades_page(symbol, &[("startTime", start.to_string()), ("endTime", end.to_string())]).await?;
                let full = page.len() >= PAGE;
                let last = page.last().map(|t| int(t, "id")).transpose()?;
                rows.extend(page);
                if full {
                    from_id = last.map(|id| id + 1);
                    break;
                }
                start = end + 1;
            }
        } else {
            from_id = Some(0);
        }
        while let Some(from) = from_id {
            let page = self.trades_page(symbol, &[("fromId", from.to_string())]).await?;
            from_id = match page.last() {
                Some(t) if page.len() >= PAGE => Some(int(t, "id")? + 1),
                _ => None,
            };
            rows.extend(page);
        }
        let mut kept = Vec::with_capacity(rows.len());
        for t in rows {
            if int(&t, "time")? >= since {
                kept.push(t);
            }
        }
        Ok(kept)
    }

    /// Client order ids of `order_ids`, from `allOrders` paged by order id.
    async fn client_ids(&self, symbol: &str, mut order_ids: Vec<i64>) -> Result<HashMap<i64, String>, ExchangeError> {
        order_ids.sort_unstable();
        order_ids.dedup();
        let mut found = HashMap::new();
        let (Some(&first), Some(&last)) = (order_ids.first(), order_ids.last()) else {
            return Ok(found);
        };
        let mut from = first;
        loop {
            let params = [("symbol", symbol.to_string()), ("orderId", from.to_string()), ("limit", PAGE.to_string())];
            let v = self.signed_get("/api/v3/allOrders", &params, 20).await?;
            let page = v.as_array().ok_or_else(|| ExchangeError::Malformed("allOrders is not a list".into()))?;
            let mut top = from;
            for o in page {
                let id = int(o, "orderId")?;
                top = top.max(id);
                if order_ids.binary_search(&id).is_ok() {
                    found.insert(id, text(o, "clientOrderId")?.to_string());
                }
            }
            if page.len() < PAGE || top >= last {
                break;
            }
            from = top + 1;
        }
        Ok(found)
    }

    pub(super) async fn fills(&self, symbol: &str, since: TimeMs) -> Result<Vec<Fill>, ExchangeError> {
        let rows = self.trade_rows(symbol, since).await?;
        let order_ids = rows.iter().map(|t| int(t, "orderId")).collect::<Result<Vec<_>, _>>()?;
        let owners = self.client_ids(symbol, order_ids).await?;
        rows.iter()
            .map(|t| {
                let order_id = int(t, "orderId")?;
                let owner = owners.get(&order_id).ok_or_else(|| {
                    ExchangeError::Malformed(format!(
                        "trade {} belongs to order {order_id}, which allOrders does not list",
                        t.get("id").map(Value::to_string).unwrap_or_default()
                    ))
                })?;
                let fill = Fill {
                    client_order_id: ClientOrderId::from_raw(owner),
                    trade_id: int(t, "id")?.to_string(),
                    time: int(t, "time")?,
                    side: match t.get("isBuyer").and_then(Value::as_bool) {
                        Some(true) => OrderSide::Buy,
                        Some(false) => OrderSide::Sell,
                        None => return Err(ExchangeError::Malformed("trade without `isBuyer`".into())),
                    },
                    price: dec(t, "price")?,
                    quantity: dec(t, "qty")?,
                    fee: dec(t, "commission")?,
                    fee_asset: text(t, "commissionAsset")?.to_string(),
                };
                check::fill(symbol, t.get("symbol").and_then(Value::as_str), fill)
            })
            .collect()
    }
}
