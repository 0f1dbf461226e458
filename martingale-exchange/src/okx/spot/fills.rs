//! `fills_since` on OKX: every page, from the endpoint that reaches back.
//!
//! What the venue can answer: `GET /api/v5/trade/fills` holds the last
//! 3 days ("Retrieve recently-filled transaction details in the last 3
//! day", <https://www.okx.com/docs-v5/en/#order-book-trading-trade-get-transaction-details-last-3-days>),
//! `GET /api/v5/trade/fills-history` the last 3 months (`instType`
//! required, <https://www.okx.com/docs-v5/en/#order-book-trading-trade-get-transaction-details-last-3-months>).
//! Both take `begin` / `end` in milliseconds, at most 100 rows a page,
//! and page to older rows with `after` = the oldest row's `billId`. Rows
//! carry our `clOrdId`.
//!
//! A `since` within 3 days reads `fills`; up to 90 days, `fills-history`;
//! older is [`ExchangeError::OutOfReach`] (nothing read, never a partial
//! answer). Pages are read until one comes back short; the fills are
//! returned oldest first.

use martingale_core::engine::TimeMs;
use serde_json::Value;

use super::{side, OkxSpot};
use crate::check;
use crate::error::ExchangeError;
use crate::json::{dec, dec_or_zero, int, text};
use crate::types::Fill;

const DAY_MS: i64 = 86_400_000;
/// What `/trade/fills` holds (a minute short of 3 days, for clock skew).
const RECENT_MS: i64 = 3 * DAY_MS - 60_000;
/// How far back `/trade/fills-history` answers.
pub(crate) const REACH_DAYS: i64 = 90;
/// Rows per page (the documented maximum).
const PAGE: usize = 100;

impl OkxSpot {
    pub(super) async fn fills(&self, symbol: &str, since: TimeMs) -> Result<Vec<Fill>, ExchangeError> {
        let now = self.venue_now();
        let path = if since >= now - RECENT_MS {
            "/api/v5/trade/fills"
        } else if since >= now - REACH_DAYS * DAY_MS {
            "/api/v5/trade/fills-history"
        } else {
            return Err(ExchangeError::OutOfReach(format!(
                "OKX answers fills of the last {REACH_DAYS} days only; asked from {since} ms, ask from {} or later",
                now - REACH_DAYS * DAY_MS + 60_000
            )));
        };
        let mut rows: Vec<Value> = Vec::new();
        let mut after: Option<i64> = None;
        loop {
            let mut params = vec![
                ("instType", "SPOT".to_string()),
                ("instId", symbol.to_string()),
                ("begin", since.to_string()),
                ("limit", PAGE.to_string()),
            ];
            if let Some(bill) = after {
                params.push(("after", bill.to_string()));
            }
            let v = self.get(path, &params, true).await?;
            let page = v.as_array().ok_or_else(|| ExchangeError::Malformed("fills is not a list".into()))?;
            let oldest = page.iter().map(|t| int(t, "billId")).collect::<Result<Vec<i64>, _>>()?.into_iter().min();
            rows.extend(page.iter().cloned());
            match oldest {
                Some(bill) if page.len() >= PAGE && after.is_none_or(|a| bill < a) => after = Some(bill),
                _ => break,
            }
        }
        let mut fills = rows
            .iter()
            .map(|t| {
                let fill = Fill {
                    client_order_id: self.our_id(t.get("clOrdId").and_then(Value::as_str).unwrap_or("")),
                    trade_id: text(t, "tradeId")?.to_string(),
                    time: int(t, "ts")?,
                    side: side(text(t, "side")?)?,
                    price: dec(t, "fillPx")?,
                    quantity: dec(t, "fillSz")?,
                    // OKX reports the fee as a negative amount (a charge).
                    fee: -dec_or_zero(t, "fee")?,
                    fee_asset: t.get("feeCcy").and_then(Value::as_str).unwrap_or_default().to_string(),
                };
                check::fill(symbol, t.get("instId").and_then(Value::as_str), fill)
            })
            .collect::<Result<Vec<Fill>, ExchangeError>>()?;
        fills.sort_by_key(|f| f.time);
        Ok(fills)
    }
}
