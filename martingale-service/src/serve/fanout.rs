//! `serve`'s fan-out step, once per poll:
//! 1. takes each queued strategy signal once (marked taken before it is
//!    applied): an entry signal is sized for every active subscriber with
//!    the core's `SubscriberBook` on the market's rules, every
//!    subscriber's trade is written, then its entry is placed on its own
//!    account (its own key, one adapter per key kept across polls); an
//!    exit signal moves every open trade of the strategy to closing;
//! 2. drives every trade not yet ended: queries its live orders, feeds
//!    their cumulative fills and the market's last price to the trade's
//!    state machine, and sends what it asks (take profit, cancels, market
//!    close).
//!
//! A trade is written before the orders its transition asks for are sent;
//! the orders carry deterministic client order ids, so after a crash an
//! order is queried by its id first: a venue that does not know it never
//! got it and it is placed then; a duplicate refused by the venue is
//! "already placed" and queried.

use std::collections::HashMap;
use std::sync::Arc;

use martingale_core::engine::{Action, OrderRequest, OrderRole};
use martingale_core::fleet::fanout::{Allocation, Signal, Skip, Subscriber, SubscriberBook, Trade, TradeEvent};
use martingale_core::fleet::EngineKey;
use martingale_core::market::MarketRules;
use martingale_core::venue::Venue;
use martingale_exchange::{Exchange, ExchangeError, OrderInfo, OrderStatus};
use rust_decimal::Decimal;

use super::Service;
use crate::fanout::signals::{self, Queued};
use crate::fanout::trades::{self, TradeRow};
use crate::fanout::{self, Strategy};
use crate::Result;

/// Adapters and market rules kept across polls.
#[derive(Default)]
pub(super) struct Fanout {
    /// One adapter per (account, key label).
    adapters: HashMap<(String, String), Arc<dyn Exchange>>,
    rules: HashMap<(Venue, String), MarketRules>,
}

/// What became of one order request.
enum Sent {
    /// The venue's state of the order.
    Known(OrderInfo),
    /// Refused for good (the reason).
    Refused(String),
    /// Unknown for now: queried at the next poll.
    Unknown(String),
}

impl Service {
    /// The fan-out step (see the module docs).
    pub(super) async fn step_fanout(&mut self) {
        if let Err(e) = self.apply_signals().await {
            tracing::error!(error = %e, "signals: retrying at the next interval");
        }
        if let Err(e) = self.drive_trades().await {
            tracing::error!(error = %e, "trades: retrying at the next interval");
        }
    }

    async fn market_rules(&mut self, venue: Venue, symbol: &str) -> std::result::Result<MarketRules, String> {
        if let Some(r) = self.fanout.rules.get(&(venue, symbol.to_string())) {
            return Ok(r.clone());
        }
        let rules = self.public(venue)?.market_rules(symbol).await.map_err(|e| e.to_string())?;
        self.fanout.rules.insert((venue, symbol.to_string()), rules.clone());
        Ok(rules)
    }

    async fn adapter(&mut self, account: &str, label: &str) -> std::result::Result<Arc<dyn Exchange>, String> {
        let k = (account.to_string(), label.to_string());
        if let Some(ex) = self.fanout.adapters.get(&k) {
            return Ok(ex.clone());
        }
        let keys = self.cfg.keys.clone().ok_or("no master key: start `martingale serve` with MARTINGALE_MASTER_KEY")?;
        let (venue, creds) = keys.load(account, label).await.map_err(|e| e.to_string())?;
        let ex = self.keyed(venue, creds)?;
        self.fanout.adapters.insert(k, ex.clone());
        Ok(ex)
    }

    async fn apply_signals(&mut self) -> Result<()> {
        for p in signals::pending(&self.db).await? {
            signals::take(&self.db, p.id).await?;
            let outcome = match (&p.signal, fanout::strategy(&self.db, &p.strategy).await) {
                (None, _) => "unreadable signal".to_string(),
                (_, Err(e)) => e.to_string(),
                (Some(Queued::Entry(signal)), Ok(s)) => match self.fan_out(&s, signal).await {
                    Ok(o) => o,
                    Err(e) => format!("failed: {e}"),
                },
                (Some(Queued::Exit), Ok(s)) => match self.exit(&s).await {
                    Ok(o) => o,
                    Err(e) => format!("failed: {e}"),
                },
            };
            tracing::info!(strategy = %p.strategy, seq = p.seq, %outcome, "signal applied");
            signals::finish(&self.db, p.id, &outcome).await?;
        }
        Ok(())
    }

    /// One entry signal: every active subscriber's trade written, then
    /// every entry placed.
    async fn fan_out(&mut self, s: &Strategy, signal: &Signal) -> std::result::Result<String, String> {
        if trades::fanned_out(&self.db, &s.id, signal.seq).await.map_err(|e| e.to_string())? {
            return Ok("already fanned out".into());
        }
        let rules = self.market_rules(s.venue, &s.symbol).await?;
        let subs = fanout::of_strategy(&self.db, &s.id).await.map_err(|e| e.to_string())?;
        let mut book = SubscriberBook::new();
        let mut labels = Vec::new();
        let mut refused = 0usize;
        for sub in subs {
            let Ok(key) = EngineKey::parse(&sub.account, sub.bot.as_str()) else { continue };
            let s = Subscriber { key, rules: rules.clone(), sizing: sub.sizing, paused: sub.paused };
            match book.subscribe(s) {
                Ok(_) => labels.push(sub.key_label),
                Err(e) => {
                    refused += 1;
                    tracing::warn!(error = %e, "subscriber refused");
                }
            }
        }
        let out = book.fan_out(signal).map_err(|e| e.to_string())?;
        let mut rows = Vec::new();
        let (mut paused, mut skipped) = (0usize, 0usize);
        for ((sub, label), alloc) in book.subscribers().iter().zip(labels).zip(out) {
            let (entry, stop, tp, skip) = match alloc {
                Err(Skip::Paused) => {
                    paused += 1;
                    continue;
                }
                Ok(Allocation::Single { entry, stop_loss, take_profit }) => (entry, stop_loss, take_profit, None),
                Ok(Allocation::Ladder { entry, stop_loss }) => (entry, stop_loss, None, None),
                Err(skip) => {
                    skipped += 1;
                    (skipped_order(sub, signal), None, None, Some(skip.to_string()))
                }
            };
            let mut trade = Trade::new(sub.key.bot.clone(), signal.seq, signal.side, entry, stop, tp);
            if skip.is_some() {
                trade.state = martingale_core::fleet::fanout::TradeState::Skipped;
            }
            let account = sub.key.account.as_str().to_string();
            rows.push(TradeRow {
                strategy: s.id.clone(),
                account,
                key_label: label,
                trade,
                last_error: skip,
                updated_at: 0,
            });
        }
        // Written before any order is sent: a crash from here on finds
        // every entry and queries it (placing what the venue never got).
        trades::put(&self.db, &rows).await.map_err(|e| e.to_string())?;
        let mut placed = 0usize;
        for mut row in rows {
            if row.trade.state.is_final() {
                continue;
            }
            let entry = row.trade.entry.order.clone();
            self.run(&s.symbol, &mut row, vec![Action::Place(entry)], true).await;
            placed += 1;
        }
        Ok(format!("entries {placed}, paused {paused}, skipped {skipped}, refused {refused}"))
    }

    async fn exit(&mut self, s: &Strategy) -> std::result::Result<String, String> {
        let price = self.public(s.venue)?.last_price(&s.symbol).await.map_err(|e| e.to_string())?;
        let live = trades::live(&self.db).await.map_err(|e| e.to_string())?;
        let mut n = 0usize;
        for mut row in live.into_iter().filter(|r| r.strategy == s.id) {
            let actions = self.feed(&mut row, TradeEvent::Exit { price });
            n += 1;
            self.run(&s.symbol, &mut row, actions, false).await;
        }
        Ok(format!("closing {n}"))
    }

    /// Every trade not yet ended: its orders' states, then the price.
    async fn drive_trades(&mut self) -> Result<()> {
        let live = trades::live(&self.db).await?;
        let mut markets: HashMap<String, Option<(String, Decimal)>> = HashMap::new();
        for mut row in live {
            if !markets.contains_key(&row.strategy) {
                let m = match fanout::strategy(&self.db, &row.strategy).await {
                    Ok(s) => match self.public(s.venue) {
                        Ok(ex) => ex.last_price(&s.symbol).await.ok().map(|p| (s.symbol.clone(), p)),
                        Err(_) => None,
                    },
                    Err(_) => None,
                };
                markets.insert(row.strategy.clone(), m);
            }
            let Some(Some((symbol, price))) = markets.get(&row.strategy).cloned() else { continue };
            let before = row.trade.clone();
            let mut actions = Vec::new();
            let closing = row.trade.state == martingale_core::fleet::fanout::TradeState::Closing;
            let legs: Vec<OrderRequest> = row.trade.live_legs().into_iter().map(|l| l.order.clone()).collect();
            for order in legs {
                match self.query(&row, &symbol, &order).await {
                    Sent::Known(info) => {
                        let still_open = !info.status.is_final();
                        for e in events(&order, &info) {
                            actions.extend(self.feed(&mut row, e));
                        }
                        // A cancel that never reached the venue: sent again.
                        let resting = order.role == OrderRole::Base || order.role == OrderRole::TakeProfit;
                        if closing && still_open && resting {
                            actions.push(Action::Cancel { client_order_id: order.client_order_id.clone() });
                        }
                    }
                    // Never placed: a resting order being canceled ended
                    // there; anything else is placed now, under its id.
                    Sent::Refused(_)
                        if closing && order.role != OrderRole::StopLoss && order.role != OrderRole::CloseNow =>
                    {
                        let e = if order.role == OrderRole::Base {
                            TradeEvent::EntryEnded
                        } else {
                            TradeEvent::TakeProfitEnded
                        };
                        actions.extend(self.feed(&mut row, e));
                    }
                    Sent::Refused(_) => actions.push(Action::Place(order)),
                    Sent::Unknown(e) => row.last_error = Some(e),
                }
            }
            if !row.trade.state.is_final() {
                actions.extend(self.feed(&mut row, TradeEvent::Tick { price }));
            }
            if row.trade != before || !actions.is_empty() {
                self.run(&symbol, &mut row, actions, false).await;
            }
        }
        Ok(())
    }

    /// Applies one event; a refused one is the trade's last error.
    fn feed(&self, row: &mut TradeRow, event: TradeEvent) -> Vec<Action> {
        match row.trade.apply(event) {
            Ok(actions) => actions,
            Err(e) => {
                row.last_error = Some(e.to_string());
                Vec::new()
            }
        }
    }

    /// Writes the trade, sends `actions`, feeds back what the venue said,
    /// and repeats while the trade asks for more.
    /// (`written`: the trade is stored as it is.)
    async fn run(&mut self, symbol: &str, row: &mut TradeRow, mut actions: Vec<Action>, mut written: bool) {
        for _ in 0..4 {
            let put = if written { Ok(()) } else { trades::put(&self.db, std::slice::from_ref(row)).await };
            written = false;
            if let Err(e) = put {
                tracing::error!(error = %e, bot = %row.trade.bot, "trade not written; its orders wait");
                return;
            }
            if actions.is_empty() {
                return;
            }
            let mut next = Vec::new();
            for action in std::mem::take(&mut actions) {
                let (order, sent) = match &action {
                    Action::Place(order) => (order.clone(), self.place(row, symbol, order).await),
                    Action::Cancel { client_order_id } => {
                        let Some(order) = leg_order(&row.trade, client_order_id).cloned() else { continue };
                        let sent = self.cancel(row, symbol, &order).await;
                        (order, sent)
                    }
                };
                match sent {
                    Sent::Known(info) => {
                        for e in events(&order, &info) {
                            next.extend(self.feed(row, e));
                        }
                    }
                    Sent::Refused(why) => {
                        row.last_error = Some(format!("order {}: {why}", order.client_order_id));
                        let e = match order.role {
                            OrderRole::Base => Some(TradeEvent::EntryEnded),
                            OrderRole::TakeProfit => Some(TradeEvent::TakeProfitEnded),
                            _ => None,
                        };
                        if let (Action::Place(_), Some(e)) = (&action, e) {
                            next.extend(self.feed(row, e));
                        }
                    }
                    Sent::Unknown(why) => row.last_error = Some(format!("order {}: {why}", order.client_order_id)),
                }
            }
            actions = next;
        }
        // Still asking after four rounds: written as it is; the next poll
        // queries its orders (placing any the venue never got) and cancels
        // again what still rests.
        if let Err(e) = trades::put(&self.db, std::slice::from_ref(row)).await {
            tracing::error!(error = %e, bot = %row.trade.bot, "trade not written");
        }
    }

    async fn place(&mut self, row: &TradeRow, symbol: &str, order: &OrderRequest) -> Sent {
        let ex = match self.adapter(&row.account, &row.key_label).await {
            Ok(ex) => ex,
            Err(e) => return Sent::Unknown(e),
        };
        match ex.place_order(symbol, order).await {
            Ok(info) => Sent::Known(info),
            // Placed before (a retry after a crash): its state tells.
            Err(ExchangeError::DuplicateOrder(_)) => known(ex.query_order(symbol, &order.client_order_id).await),
            Err(e) if e.is_definite_rejection() => Sent::Refused(e.to_string()),
            Err(e) => Sent::Unknown(e.to_string()),
        }
    }

    async fn cancel(&mut self, row: &TradeRow, symbol: &str, order: &OrderRequest) -> Sent {
        let ex = match self.adapter(&row.account, &row.key_label).await {
            Ok(ex) => ex,
            Err(e) => return Sent::Unknown(e),
        };
        match ex.cancel_order(symbol, &order.client_order_id).await {
            Ok(info) => Sent::Known(info),
            // Filled or gone already: its true state tells.
            Err(ExchangeError::UnknownOrder(_)) => known(ex.query_order(symbol, &order.client_order_id).await),
            Err(e) => Sent::Unknown(e.to_string()),
        }
    }

    /// An order's state; [`Sent::Refused`] when the venue does not know it.
    async fn query(&mut self, row: &TradeRow, symbol: &str, order: &OrderRequest) -> Sent {
        let ex = match self.adapter(&row.account, &row.key_label).await {
            Ok(ex) => ex,
            Err(e) => return Sent::Unknown(e),
        };
        known(ex.query_order(symbol, &order.client_order_id).await)
    }
}

fn known(r: std::result::Result<OrderInfo, ExchangeError>) -> Sent {
    match r {
        Ok(info) => Sent::Known(info),
        Err(e @ ExchangeError::UnknownOrder(_)) => Sent::Refused(e.to_string()),
        Err(e) => Sent::Unknown(e.to_string()),
    }
}

/// The trade events an order's venue state means.
fn events(order: &OrderRequest, info: &OrderInfo) -> Vec<TradeEvent> {
    let (qty, quote) = (info.filled, info.filled_quote);
    let ended = matches!(info.status, OrderStatus::Canceled | OrderStatus::Rejected | OrderStatus::Expired);
    let mut out = Vec::new();
    match order.role {
        OrderRole::Base => {
            out.push(TradeEvent::EntryFill { cumulative_qty: qty, cumulative_quote: quote });
            if ended {
                out.push(TradeEvent::EntryEnded);
            }
        }
        OrderRole::TakeProfit => {
            out.push(TradeEvent::TakeProfitFill { cumulative_qty: qty, cumulative_quote: quote });
            if ended {
                out.push(TradeEvent::TakeProfitEnded);
            }
        }
        _ => out.push(TradeEvent::CloseFill { cumulative_qty: qty, cumulative_quote: quote }),
    }
    out
}

fn leg_order<'a>(t: &'a Trade, id: &martingale_core::engine::ClientOrderId) -> Option<&'a OrderRequest> {
    [Some(&t.entry), t.take_profit_order.as_ref(), t.close.as_ref()]
        .into_iter()
        .flatten()
        .map(|l| &l.order)
        .find(|o| &o.client_order_id == id)
}

/// The entry a skipped subscriber would have had (zero quantity, never sent).
fn skipped_order(sub: &Subscriber, signal: &Signal) -> OrderRequest {
    use martingale_core::engine::{ClientOrderId, OrderKind};
    OrderRequest {
        client_order_id: ClientOrderId::new(&sub.key.bot, signal.seq, OrderRole::Base, 0),
        role: OrderRole::Base,
        side: signal.side.entry(),
        kind: OrderKind::Limit { price: signal.entry },
        quantity: Decimal::ZERO,
    }
}
