//! The runner: drives one bot's engine against an exchange, persists the
//! engine after every change, writes the audit trail, and recovers after a
//! restart without ever placing an order twice.
//!
//! Order of work, and why it is crash-safe:
//! 1. every engine output is persisted before its actions are sent, so an
//!    order the engine decided is in the snapshot (state `sent`) before it
//!    can reach the exchange;
//! 2. a placement whose outcome is unknown (timeout, 5xx, crash) is never
//!    re-sent blindly: recovery and every poll query it by its client order
//!    id; only an order the exchange does not know is sent again, under the
//!    same deterministic id, which the exchange refuses if it exists;
//! 3. fills are derived from the exchange's cumulative quantity and quote
//!    per order, so a fill that happened while the runner was down is
//!    applied once, at its exact price, and a duplicate report changes
//!    nothing;
//! 4. a cancel the engine asked for but the venue still shows open is sent
//!    again (it never arrived, or died with the process).

use std::sync::Arc;

use martingale_core::config::BotFile;
use martingale_core::engine::{
    Action, BotId, ClientOrderId, Command, DealReport, Engine, EngineError, Event, OrderState, OrderUpdate, TimeMs,
};
use thiserror::Error;

use crate::audit::{AuditEntry, AuditLog, AuditRecord};
use crate::error::ExchangeError;
use crate::exchange::Exchange;
use crate::store::StateStore;

/// Why the runner stopped a step.
#[derive(Debug, Error)]
pub enum RunnerError {
    /// The exchange failed in a way the step cannot absorb.
    #[error("exchange: {0}")]
    Exchange(#[from] ExchangeError),
    /// The engine refused an event (a bug or a malformed report).
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    /// The state could not be persisted or loaded.
    #[error("state store: {0}")]
    Store(#[from] std::io::Error),
    /// The bot file or snapshot is invalid.
    #[error("invalid state: {0}")]
    Invalid(String),
}

/// Settings of one runner.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Account (user) the bot belongs to, for the audit trail.
    pub account: String,
    /// Market symbol on the venue.
    pub symbol: String,
    /// Cancel resting orders on shutdown.
    pub cancel_on_shutdown: bool,
}

/// One bot driven against one exchange.
pub struct Runner<E: Exchange + ?Sized> {
    engine: Engine,
    /// Events the engine has handled since it was created (persisted with
    /// it, so a replay of the audit log knows where a restart resumed).
    events: u64,
    exchange: Arc<E>,
    store: Arc<dyn StateStore>,
    audit: Option<Arc<AuditLog>>,
    cfg: RunnerConfig,
    closed: Vec<DealReport>,
}

impl<E: Exchange + ?Sized> Runner<E> {
    /// Starts a bot, or recovers it: loads the last snapshot if there is
    /// one (else a new engine for `bot`), then reconciles every order the
    /// engine believes live with the exchange.
    pub async fn start(
        bot_id: BotId,
        bot: &BotFile,
        exchange: Arc<E>,
        store: Arc<dyn StateStore>,
        audit: Option<Arc<AuditLog>>,
        cfg: RunnerConfig,
        time: TimeMs,
    ) -> Result<Runner<E>, RunnerError> {
        let (engine, events, created) = match store.load(&bot_id)? {
            Some(text) => {
                let p = Persisted::parse(&text).map_err(|e| RunnerError::Invalid(format!("snapshot: {e}")))?;
                (p.engine, p.events, false)
            }
            None => (Engine::new(bot_id.clone(), bot).map_err(|e| RunnerError::Invalid(e.to_string()))?, 0, true),
        };
        let mut runner = Runner { engine, events, exchange, store, audit, cfg, closed: Vec::new() };
        if created {
            runner.audit_entry(time, AuditEntry::Created { bot_file: Box::new(bot.clone()) })?;
        } else {
            runner.audit_entry(time, AuditEntry::Resumed { events })?;
        }
        runner.note(time, "start: reconciling with the exchange")?;
        runner.reconcile(time).await?;
        runner.persist()?;
        Ok(runner)
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Deals closed since the last call.
    pub fn take_closed(&mut self) -> Vec<DealReport> {
        std::mem::take(&mut self.closed)
    }

    /// Sends a command (start, pause, ...).
    pub async fn command(&mut self, time: TimeMs, command: Command) -> Result<(), RunnerError> {
        self.feed(Event::Command { time, command }).await
    }

    /// One polling step: the last price, then every live order's state.
    pub async fn step(&mut self, time: TimeMs) -> Result<(), RunnerError> {
        let price = self.exchange.last_price(&self.cfg.symbol).await?;
        self.feed(Event::Tick { time, price }).await?;
        self.reconcile(time).await
    }

    /// Graceful shutdown: optionally cancels resting orders, then persists.
    pub async fn shutdown(&mut self, time: TimeMs) -> Result<(), RunnerError> {
        if self.cfg.cancel_on_shutdown {
            self.feed(Event::Command { time, command: Command::Stop { cancel_orders: true } }).await?;
        }
        self.note(time, "shutdown")?;
        self.persist()
    }

    /// Hands an event to the engine, persists, then executes the actions
    /// (and whatever their answers cause), depth first.
    async fn feed(&mut self, event: Event) -> Result<(), RunnerError> {
        let mut queue = vec![event];
        while let Some(event) = queue.pop() {
            let time = event_time(&event);
            self.audit_entry(time, AuditEntry::Event { event: event.clone() })?;
            let out = match self.engine.handle(event) {
                Ok(out) => out,
                Err(e) => {
                    tracing::warn!(bot = %self.engine.bot_id(), error = %e, "engine refused an event");
                    return Err(e.into());
                }
            };
            self.events += 1;
            for deal in &out.closed {
                tracing::info!(bot = %self.engine.bot_id(), deal = deal.number, exit = ?deal.exit, pnl = %deal.pnl, "deal closed");
            }
            self.closed.extend(out.closed);
            // Persist before sending: the orders are recorded first.
            self.persist()?;
            let mut answers = Vec::new();
            for action in out.actions {
                self.audit_entry(time, AuditEntry::Action { action: action.clone() })?;
                answers.extend(self.send(time, action).await?);
            }
            // Keep the exchange's answers in order.
            queue.extend(answers.into_iter().rev().map(|update| Event::Order { time, update }));
        }
        Ok(())
    }

    /// Executes one action; returns the order reports it produced.
    async fn send(&mut self, time: TimeMs, action: Action) -> Result<Vec<OrderUpdate>, RunnerError> {
        let symbol = self.cfg.symbol.clone();
        match action {
            Action::Place(order) => {
                let id = order.client_order_id.clone();
                tracing::debug!(bot = %self.engine.bot_id(), order = %id, side = %order.side, qty = %order.quantity, "placing");
                let placed = self.exchange.place_order(&symbol, &order).await;
                match placed.and_then(|info| info.updates(rust_decimal::Decimal::ZERO, rust_decimal::Decimal::ZERO)) {
                    Ok(updates) => {
                        let mut out = vec![OrderUpdate::Accepted { client_order_id: id }];
                        out.extend(updates);
                        Ok(out)
                    }
                    Err(ExchangeError::DuplicateOrder(_)) => self.query(time, &id).await,
                    // Only an answer the venue documents as "not executed"
                    // is a rejection (issue 14 item 1).
                    Err(e) if e.is_definite_rejection() => {
                        Ok(vec![OrderUpdate::Rejected { client_order_id: id, reason: e.to_string() }])
                    }
                    // The key, the base URL or the market is wrong: stop the
                    // step; the order stays `sent` and is queried later.
                    Err(
                        e @ (ExchangeError::Authentication(_)
                        | ExchangeError::Redirect { .. }
                        | ExchangeError::UnknownMarket(_)),
                    ) => Err(e.into()),
                    // Everything else (an unknown venue code, a timeout, a
                    // 5xx, an unreadable or mismatching reply, a rate limit):
                    // the outcome is unknown, so the order stays `sent` and
                    // the next poll queries it by its client order id.
                    Err(e) => {
                        self.note(time, &format!("order {id}: {e}; outcome unknown, will query it by id"))?;
                        Ok(Vec::new())
                    }
                }
            }
            Action::Cancel { client_order_id } => match self.exchange.cancel_order(&symbol, &client_order_id).await {
                Ok(info) => Ok(self.updates_for(&client_order_id, &info)?),
                // Already filled or gone: its true state tells.
                Err(ExchangeError::UnknownOrder(_)) => self.query(time, &client_order_id).await,
                Err(e) if e.is_retryable() => Ok(Vec::new()),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// The reports an order's venue state implies, given what the engine knows.
    fn updates_for(
        &self,
        id: &ClientOrderId,
        info: &crate::types::OrderInfo,
    ) -> Result<Vec<OrderUpdate>, ExchangeError> {
        let known = self.engine.deal().and_then(|d| d.orders.iter().find(|o| &o.request.client_order_id == id));
        let (filled, value) =
            known.map_or((rust_decimal::Decimal::ZERO, rust_decimal::Decimal::ZERO), |o| (o.filled, o.filled_value));
        let mut out = Vec::new();
        if known.is_some_and(|o| o.state == OrderState::Sent) {
            out.push(OrderUpdate::Accepted { client_order_id: id.clone() });
        }
        out.extend(info.updates(filled, value)?);
        Ok(out)
    }

    /// Queries one order; an order the exchange does not know was never
    /// placed: it is sent now, under the same id.
    async fn query(&mut self, time: TimeMs, id: &ClientOrderId) -> Result<Vec<OrderUpdate>, RunnerError> {
        match self.exchange.query_order(&self.cfg.symbol, id).await {
            Ok(info) => {
                let state = self.engine.deal().and_then(|d| d.orders.iter().find(|o| &o.request.client_order_id == id));
                if state.is_some_and(|o| o.state == OrderState::CancelRequested) && !info.status.is_final() {
                    // The cancel never reached the venue (or its answer was
                    // lost before it was applied): send it again.
                    self.note(time, &format!("order {id}: cancel not applied, sending it again"))?;
                    return Box::pin(self.send(time, Action::Cancel { client_order_id: id.clone() })).await;
                }
                Ok(self.updates_for(id, &info)?)
            }
            Err(ExchangeError::UnknownOrder(_)) => {
                let order = self.engine.deal().and_then(|d| d.orders.iter().find(|o| &o.request.client_order_id == id));
                match order.map(|o| (o.state, o.request.clone())) {
                    Some((OrderState::Sent, request)) => {
                        self.note(time, &format!("order {id} never reached the exchange: sending it"))?;
                        Box::pin(self.send(time, Action::Place(request))).await
                    }
                    // A cancel was requested for an order that never existed.
                    Some((OrderState::CancelRequested, _)) => {
                        Ok(vec![OrderUpdate::Canceled { client_order_id: id.clone() }])
                    }
                    _ => Ok(Vec::new()),
                }
            }
            Err(e) if e.is_retryable() => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Brings every order the engine believes live up to date.
    async fn reconcile(&mut self, time: TimeMs) -> Result<(), RunnerError> {
        let live: Vec<ClientOrderId> = self
            .engine
            .deal()
            .map(|d| d.orders.iter().filter(|o| o.state.is_live()).map(|o| o.request.client_order_id.clone()).collect())
            .unwrap_or_default();
        for id in live {
            let updates = self.query(time, &id).await?;
            for update in updates {
                self.feed(Event::Order { time, update }).await?;
            }
        }
        Ok(())
    }

    /// Events the engine has handled since it was created.
    pub fn events(&self) -> u64 {
        self.events
    }

    fn persist(&self) -> Result<(), RunnerError> {
        let state = PersistedRef { events: self.events, engine: &self.engine };
        let text = serde_json::to_string(&state).map_err(|e| RunnerError::Invalid(e.to_string()))?;
        Ok(self.store.save(self.engine.bot_id(), &text)?)
    }

    fn audit_entry(&self, time: TimeMs, entry: AuditEntry) -> Result<(), RunnerError> {
        if let Some(log) = &self.audit {
            let record = AuditRecord::new(time, self.cfg.account.clone(), self.engine.bot_id().clone(), entry);
            log.append(&record)?;
        }
        Ok(())
    }

    fn note(&self, time: TimeMs, text: &str) -> Result<(), RunnerError> {
        tracing::info!(bot = %self.engine.bot_id(), account = %self.cfg.account, time, "{text}");
        self.audit_entry(time, AuditEntry::Note { text: text.to_string() })
    }
}

/// What the runner persists: the engine and how many events it handled.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Persisted {
    /// Events handled since the engine was created.
    pub events: u64,
    /// The engine.
    pub engine: Engine,
}

#[derive(serde::Serialize)]
struct PersistedRef<'a> {
    events: u64,
    engine: &'a Engine,
}

impl Persisted {
    /// Parses a runner snapshot (a bare engine snapshot, the older format,
    /// reads with an event count of 0).
    pub fn parse(text: &str) -> Result<Persisted, serde_json::Error> {
        serde_json::from_str(text).or_else(|e| match Engine::from_json(text) {
            Ok(engine) => Ok(Persisted { events: 0, engine }),
            Err(_) => Err(e),
        })
    }
}

/// Where in each polling `interval` a bot polls: a deterministic offset
/// from its id (FNV-1a), so many bots sharing an API key spread their
/// requests over the interval instead of all polling at once.
///
/// ```
/// use martingale_exchange::stagger;
/// use martingale_core::engine::BotId;
/// use std::time::Duration;
/// let i = Duration::from_secs(5);
/// let a = stagger(&BotId::new("a").unwrap(), i);
/// assert!(a < i);
/// assert_eq!(a, stagger(&BotId::new("a").unwrap(), i));
/// ```
pub fn stagger(bot: &BotId, interval: std::time::Duration) -> std::time::Duration {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bot.as_str().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let ms = interval.as_millis().max(1) as u64;
    std::time::Duration::from_millis(h % ms)
}

fn event_time(event: &Event) -> TimeMs {
    match event {
        Event::Tick { time, .. } | Event::Order { time, .. } | Event::Command { time, .. } | Event::Signal { time } => {
            *time
        }
        Event::Candle(c) => c.time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stagger_spreads_bots_over_the_interval() {
        let interval = Duration::from_secs(10);
        let offsets: Vec<u128> =
            (0..1000).map(|i| stagger(&BotId::new(format!("bot-{i}")).unwrap(), interval).as_millis()).collect();
        assert!(offsets.iter().all(|o| *o < 10_000));
        // Every second of the interval gets some bots.
        for s in 0..10 {
            let n = offsets.iter().filter(|o| **o / 1000 == s).count();
            assert!((50..=150).contains(&n), "second {s}: {n} bots");
        }
    }
}
