//! `fills_since` on CoinDCX: every page, each trade under our client id.
//!
//! What the venue can answer (POST /exchange/v1/orders/trade_history,
//! <https://docs.coindcx.com/#account-trade-history>): trades after
//! `from_timestamp`, ascending by default, at most 5,000 a request, further
//! pages by `from_id` ("Trade ID after which you want the data"). The rows
//! name the order by the venue's `order_id` only; its client order id is
//! read once per order from `POST /exchange/v1/orders/status` by `id`,
//! whose reply carries `client_order_id`
//! (<https://docs.coindcx.com/#order-status>). The documents state no
//! limit on how far back the history goes.

use std::collections::HashMap;

use martingale_core::engine::{ClientOrderId, TimeMs};
use serde_json::{json, Value};

use super::{side, CoinDcxSpot};
use crate::check;
use crate::error::ExchangeError;
use crate::json::{dec, dec_or_zero, millis, text};
use crate::types::Fill;

/// Rows per page (the documented maximum).
const PAGE: usize = 5000;

/// A JSON id (number or string) as text.
fn id_text(v: &Value, field: &str) -> Result<String, ExchangeError> {
    match v.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(ExchangeError::Malformed(format!("missing id `{field}`"))),
    }
}

impl CoinDcxSpot {
    pub(super) async fn fills(&self, symbol: &str, since: TimeMs) -> Result<Vec<Fill>, ExchangeError> {
        let mut rows: Vec<Value> = Vec::new();
        let mut from_id: Option<String> = None;
        loop {
            let mut body = json!({"symbol": symbol, "from_timestamp": since, "limit": PAGE, "sort": "asc"});
            if let Some(id) = &from_id {
                body["from_id"] = id.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(id.clone()));
            }
            let v = self.private("/exchange/v1/orders/trade_history", body).await?;
            let page = v.as_array().ok_or_else(|| ExchangeError::Malformed("trade_history is not a list".into()))?;
            let last = page.last().map(|t| id_text(t, "id")).transpose()?;
            let full = page.len() >= PAGE;
            rows.extend(page.iter().cloned());
            match last {
                Some(id) if full && from_id.as_ref() != Some(&id) => from_id = Some(id),
                _ => break,
            }
        }
        let mut owners: HashMap<String, String> = HashMap::new();
        let mut fills = Vec::with_capacity(rows.len());
        for t in &rows {
            let order_id = id_text(t, "order_id")?;
            if !owners.contains_key(&order_id) {
                let o = self.private("/exchange/v1/orders/status", json!({"id": order_id})).await?;
                let owner = text(&o, "client_order_id").map_err(|_| {
                    ExchangeError::Malformed(format!("order {order_id} of a trade has no client_order_id"))
                })?;
                owners.insert(order_id.clone(), owner.to_string());
            }
            let fill = Fill {
                client_order_id: ClientOrderId::from_raw(&owners[&order_id]),
                trade_id: id_text(t, "id")?,
                // Fractional milliseconds are truncated (issue 18.3).
                time: millis(t, "timestamp")?,
                side: side(text(t, "side")?)?,
                price: dec(t, "price")?,
                quantity: dec(t, "quantity")?,
                fee: dec_or_zero(t, "fee_amount")?,
                fee_asset: t.get("fee_currency").and_then(Value::as_str).unwrap_or_default().to_string(),
            };
            if fill.time >= since {
                fills.push(check::fill(
                    symbol,
                    t.get("symbol").or_else(|| t.get("market")).and_then(Value::as_str),
                    fill,
                )?);
            }
        }
        Ok(fills)
    }
}
