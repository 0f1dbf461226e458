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
//!
//! Ownership and trust: a runner holds its bot's [`Lease`] from the store
//! for its whole life, so a second runner of the same bot refuses to start;
//! a snapshot is loaded only if its integrity check passes, it is this
//! bot's, and its settings are the bot file's ([`crate::snapshot`]).
//!
//! Audit volume: a tick that changes nothing but the engine's last price
//! and time (no action, no closed deal, no other state change) is neither
//! logged nor persisted at once; it is held, and written just before the
//! next event that is logged (or at shutdown), so a replay of the log
//! still reproduces the persisted state exactly. A crash loses only such
//! quiet ticks, which change nothing the next tick does not overwrite.
//!
//! Waits: [`Runner::step`] is cut off after the step timeout of the
//! builder; an abandoned step is exactly a crash at that point (every
//! engine output was persisted before its actions were sent), so the next
//! step or a restart recovers it by client order id. No adapter sleeps
//! longer than [`MAX_WAIT`](crate::MAX_WAIT); a venue that asks for a
//! longer pause (a `Retry-After` or rate-limit reset beyond it) gets one
//! from the runner instead of a sleep: until the pause ends the runner
//! sends no order call (placements, cancels and queries are held; a
//! placement decided meanwhile stays `sent` and is placed, under its id,
//! by the first step after the pause), but every step still reads the
//! price and hands it to the engine, so the stop loss, the take profit and
//! the trailing rules keep watching the market while the runner waits.

mod persist;
mod settings;
mod signals;
mod stagger;

pub use stagger::stagger;

use std::sync::Arc;
use std::time::Duration;

use martingale_core::config::BotFile;
use martingale_core::engine::{
    Action, BotId, ClientOrderId, Command, DealReport, Engine, EngineError, Event, OrderState, OrderUpdate, TimeMs,
};
use thiserror::Error;

use crate::audit::{AuditEntry, AuditLog, AuditRecord};
use crate::error::ExchangeError;
use crate::exchange::Exchange;
use crate::snapshot::{check_settings, Persisted, SnapshotError};
use crate::store::{Lease, LeaseError, StateStore};

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
    /// The saved state was refused (damaged, another bot's, or not the bot file's).
    #[error("{0}")]
    Snapshot(#[from] SnapshotError),
    /// Another runner holds the bot.
    #[error("{0}")]
    Lease(#[from] LeaseError),
    /// A fresh start found orders or fills of this bot on the venue.
    #[error("{0}")]
    Orphans(String),
    /// A step did not finish within the step timeout (abandoned like a crash).
    #[error("step at {time} abandoned after {limit:?} (the venue or the rate limit is too slow); it is recovered on the next step")]
    Timeout {
        /// Time of the step.
        time: TimeMs,
        /// The limit.
        limit: Duration,
    },
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
    /// Time of the last event the engine accepted.
    last_time: Option<TimeMs>,
    /// A quiet tick handled but not yet logged nor persisted.
    quiet: Option<Event>,
    step_timeout: Option<Duration>,
    /// Exclusive ownership of the bot, held for the runner's life.
    lease: Lease,
    /// Order calls are held until this time: the venue asked to back off.
    paused_until: Option<TimeMs>,
    /// The indicator start condition's state, if the bot has one (see
    /// `signals`).
    gate: Option<martingale_core::indicators::StartGate>,
    /// Audit records not yet saved, when the store keeps the audit trail
    /// ([`StateStore::keeps_audit`]): they are written with the next state.
    journal: Option<std::sync::Mutex<Vec<AuditRecord>>>,
}

/// How to start a [`Runner`]: the bot, the venue and the store, plus
/// optional audit log, settings and start time.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use martingale_core::config::BotFile;
/// use martingale_core::engine::{BotId, Candle, Command};
/// use martingale_exchange::{AuditLog, JsonFileStore, PaperExchange, Runner, RunnerConfig, StateStore};
/// use rust_decimal_macros::dec;
///
/// let bot = BotFile::example().unwrap();
/// let paper = Arc::new(PaperExchange::for_bot(&bot, dec!(100000)));
/// paper.feed(Candle { time: 0, open: dec!(43250), high: dec!(43250), low: dec!(43250), close: dec!(43250) });
/// let dir = tempfile::tempdir().unwrap();
/// let store: Arc<dyn StateStore> = Arc::new(JsonFileStore::new(dir.path()).unwrap());
/// let audit = Arc::new(AuditLog::open(dir.path().join("b1.jsonl")).unwrap());
/// let mut runner = Runner::builder(BotId::new("b1").unwrap(), &bot, paper.clone(), store.clone())
///     .audit(audit)
///     .config(RunnerConfig { account: "alice".into(), symbol: "BTCUSDT".into(), cancel_on_shutdown: true })
///     .time(1_000)
///     .step_timeout(std::time::Duration::from_secs(30))
///     .start()
///     .await
///     .unwrap();
/// runner.command(1_000, Command::Start).await.unwrap();
/// runner.step(60_000).await.unwrap();
/// assert!(runner.engine().deal().is_some());
/// // A second runner of the same bot on the same state folder is refused.
/// let second = Runner::builder(BotId::new("b1").unwrap(), &bot, paper.clone(), store.clone()).start().await;
/// assert!(second.err().unwrap().to_string().contains("already running"));
/// runner.shutdown(120_000).await.unwrap();
/// # });
/// ```
pub struct RunnerBuilder<'a, E: Exchange + ?Sized> {
    bot_id: BotId,
    bot: &'a BotFile,
    exchange: Arc<E>,
    store: Arc<dyn StateStore>,
    audit: Option<Arc<AuditLog>>,
    cfg: RunnerConfig,
    time: TimeMs,
    step_timeout: Option<Duration>,
    check_venue: bool,
    adopt_settings: bool,
}

impl<'a, E: Exchange + ?Sized> RunnerBuilder<'a, E> {
    /// Writes the audit trail to `log`.
    pub fn audit(mut self, log: Arc<AuditLog>) -> Self {
        self.audit = Some(log);
        self
    }

    /// Optional audit log.
    pub fn audit_opt(mut self, log: Option<Arc<AuditLog>>) -> Self {
        self.audit = log;
        self
    }

    /// Account, symbol and shutdown behaviour (default: account `default`,
    /// the bot file's symbol, resting orders kept).
    pub fn config(mut self, cfg: RunnerConfig) -> Self {
        self.cfg = cfg;
        self
    }

    /// Time of the start (default 0); never before the snapshot's last event.
    pub fn time(mut self, time: TimeMs) -> Self {
        self.time = time;
        self
    }

    /// Cuts every [`Runner::step`] off after `limit` (default: no limit).
    pub fn step_timeout(mut self, limit: Duration) -> Self {
        self.step_timeout = Some(limit);
        self
    }

    /// Whether a start without a snapshot first looks on the venue for
    /// this bot's orders and fills (default: yes).
    pub fn check_venue(mut self, check: bool) -> Self {
        self.check_venue = check;
        self
    }

    /// Whether a snapshot whose settings differ from the bot file is
    /// brought to the file's settings by a reconfiguration (persisted and
    /// audited, refused changes still refused) instead of refused
    /// (default: refused). For a caller whose bot file is the authority
    /// and only ever changed through [`Engine::plan_reconfigure`]'s checks
    /// (the service's bot rows).
    pub fn adopt_settings(mut self, adopt: bool) -> Self {
        self.adopt_settings = adopt;
        self
    }

    /// Starts (or recovers) the bot: see [`Runner::start`].
    pub async fn start(self) -> Result<Runner<E>, RunnerError> {
        Runner::start_with(self).await
    }
}

impl<E: Exchange + ?Sized> Runner<E> {
    /// A builder for a runner of `bot_id` trading `bot` on `exchange`,
    /// persisting to `store`.
    pub fn builder<'a>(
        bot_id: BotId,
        bot: &'a BotFile,
        exchange: Arc<E>,
        store: Arc<dyn StateStore>,
    ) -> RunnerBuilder<'a, E> {
        let symbol = bot.market.symbol.clone().unwrap_or_default();
        RunnerBuilder {
            bot_id,
            bot,
            exchange,
            store,
            audit: None,
            cfg: RunnerConfig { account: "default".into(), symbol, cancel_on_shutdown: false },
            time: 0,
            step_timeout: None,
            check_venue: true,
            adopt_settings: false,
        }
    }

    /// Starts a bot, or recovers it: takes the bot's lease from the store,
    /// loads the last snapshot if there is one (checked: its integrity, its
    /// owner, its settings against `bot`), else builds a new engine for
    /// `bot` after checking that the venue holds no orders or fills of this
    /// bot; then reconciles every order the engine believes live with the
    /// exchange. The same as [`Runner::builder`] with every option set.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        bot_id: BotId,
        bot: &BotFile,
        exchange: Arc<E>,
        store: Arc<dyn StateStore>,
        audit: Option<Arc<AuditLog>>,
        cfg: RunnerConfig,
        time: TimeMs,
    ) -> Result<Runner<E>, RunnerError> {
        Runner::builder(bot_id, bot, exchange, store).audit_opt(audit).config(cfg).time(time).start().await
    }

    async fn start_with(b: RunnerBuilder<'_, E>) -> Result<Runner<E>, RunnerError> {
        let lease = b.store.acquire(&b.bot_id).await?;
        b.bot.validate().map_err(|e| RunnerError::Invalid(format!("bot file of {}: {e}", b.bot_id)))?;
        let mut adopt = false;
        let (engine, events, last_time, created) = match b.store.load(&b.bot_id).await? {
            Some(text) => {
                let p = Persisted::load(&b.bot_id, &text)?;
                match check_settings(&p.engine, b.bot) {
                    Ok(()) => {}
                    Err(SnapshotError::SettingsChanged { .. }) if b.adopt_settings => adopt = true,
                    Err(e) => return Err(e.into()),
                }
                (p.engine, p.events, p.last_time, false)
            }
            None => {
                // A fresh start's ids carry its start time (generation), so
                // they never repeat those of an earlier, lost state.
                let engine = Engine::starting_at(b.bot_id.clone(), b.bot, b.time)
                    .map_err(|e| RunnerError::Invalid(e.to_string()))?;
                (engine, 0, None, true)
            }
        };
        let time = last_time.map_or(b.time, |t| t.max(b.time));
        let mut runner = Runner {
            engine,
            events,
            exchange: b.exchange,
            store: b.store,
            audit: b.audit,
            cfg: b.cfg,
            closed: Vec::new(),
            last_time,
            quiet: None,
            step_timeout: b.step_timeout,
            lease,
            paused_until: None,
            gate: Self::gate_for(b.bot),
            journal: None,
        };
        if runner.store.keeps_audit() {
            runner.journal = Some(std::sync::Mutex::default());
        }
        if created {
            if b.check_venue {
                runner.refuse_orphans(b.time).await?;
            }
            let entry = AuditEntry::Created { bot_file: Box::new(b.bot.clone()), start_time: Some(b.time) };
            runner.audit_entry(time, entry)?;
        } else {
            runner.audit_entry(time, AuditEntry::Resumed { events })?;
        }
        tracing::debug!(bot = %runner.engine.bot_id(), lease = runner.lease.describe(), "lease taken");
        runner.note(time, "start: reconciling with the exchange")?;
        runner.reconcile(time).await?;
        if adopt {
            let done = runner.reconfigure(time, b.bot).await?;
            runner.note(time, &format!("start: the snapshot's settings brought to the bot file's: {done}"))?;
        }
        runner.persist().await?;
        Ok(runner)
    }

    /// A fresh start (no snapshot) refuses to run while the venue shows
    /// open orders or recent fills (last 24 hours) of this bot, of any
    /// start generation: they belong to a state that was lost.
    async fn refuse_orphans(&mut self, time: TimeMs) -> Result<(), RunnerError> {
        let bot = self.engine.bot_id().clone();
        let symbol = self.cfg.symbol.clone();
        let open = self.exchange.open_orders(&symbol).await?;
        let orders: Vec<String> = open
            .iter()
            .filter(|o| bot.owns(&o.client_order_id))
            .map(|o| format!("{} ({:?}, filled {})", o.client_order_id, o.status, o.filled))
            .collect();
        let fills = self.exchange.fills_since(&symbol, time.saturating_sub(86_400_000)).await?;
        let fills: Vec<String> = fills
            .iter()
            .filter(|f| bot.owns(&f.client_order_id))
            .map(|f| format!("{} {} {} at {} (order {})", f.side, f.quantity, symbol, f.price, f.client_order_id))
            .collect();
        if orders.is_empty() && fills.is_empty() {
            return Ok(());
        }
        let mut found = Vec::new();
        if !orders.is_empty() {
            found.push(format!("{} open order(s): {}", orders.len(), orders.join(", ")));
        }
        if !fills.is_empty() {
            found.push(format!("{} fill(s) in the last 24 h: {}", fills.len(), fills.join(", ")));
        }
        Err(RunnerError::Orphans(format!(
            "bot {bot} has no saved state but the venue holds {} of it on {symbol}; restore the bot's state file \
             to adopt them, or cancel the orders on the venue and settle what the fills bought or sold, then \
             start it afresh (or start it under another bot id)",
            found.join(" and ")
        )))
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Deals closed since the last call.
    pub fn take_closed(&mut self) -> Vec<DealReport> {
        std::mem::take(&mut self.closed)
    }

    /// Time of the last event the engine accepted (`None` before any).
    pub fn last_time(&self) -> Option<TimeMs> {
        self.last_time
    }

    /// The lease the runner holds on its bot.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// A time no earlier than the last event's: the engine refuses time
    /// going backwards, and a wall clock may step back a little.
    fn clock(&self, time: TimeMs) -> TimeMs {
        self.last_time.map_or(time, |t| t.max(time))
    }

    /// Sends a command (start, pause, ...). `Start` on a running bot is a
    /// no-op.
    pub async fn command(&mut self, time: TimeMs, command: Command) -> Result<(), RunnerError> {
        if command == Command::Start && self.engine.mode() == martingale_core::engine::Mode::Running {
            return Ok(());
        }
        let time = self.clock(time);
        self.feed(Event::Command { time, command }).await
    }

    /// One polling step: every live order's state, then the last price,
    /// then any order whose placement answer was lost; cut off after the
    /// step timeout ([`RunnerError::Timeout`]).
    ///
    /// Orders first, so the tick meets the position as it is (a stop moved
    /// to break-even by a take-profit step's fill is checked against this
    /// price), and a restart after a crash anywhere in a step, which
    /// reconciles before its first step, repeats what the step would have
    /// done. A step repeated at the time and price of the engine's last
    /// tick (the restart's first step) does not tick again.
    pub async fn step(&mut self, time: TimeMs) -> Result<(), RunnerError> {
        let time = self.clock(time);
        match self.step_timeout {
            Some(limit) => match tokio::time::timeout(limit, self.step_inner(time)).await {
                Ok(r) => r,
                Err(_) => {
                    let _ = self.note(time, &format!("step abandoned after {limit:?}"));
                    Err(RunnerError::Timeout { time, limit })
                }
            },
            None => self.step_inner(time).await,
        }
    }

    async fn step_inner(&mut self, time: TimeMs) -> Result<(), RunnerError> {
        self.reconcile(time).await?;
        let price = match self.exchange.last_price(&self.cfg.symbol).await {
            Ok(price) => price,
            // Even the price is refused: nothing more is asked this step.
            Err(ExchangeError::RateLimited { retry_after }) => return self.back_off(time, retry_after),
            Err(e) => return Err(e.into()),
        };
        // A step repeated at the time of the last tick, at its price (the
        // first step of a restart after a crash past the tick), does not
        // tick again.
        // (Unless a timed-out limit entry waits for that tick to start again.)
        let repeated = self.engine.last_price() == Some(price) && self.engine.last_tick_time() == Some(time);
        if repeated && !self.engine.start_pending() {
            return Ok(());
        }
        // During a pause the tick still reaches the engine (the stop loss
        // is watched); the orders it decides are held (see `send`).
        self.feed(Event::Tick { time, price }).await?;
        // A placement whose answer was lost (a timeout, a 5xx after the
        // venue took it) is settled in this step, not the next.
        self.reconcile_where(time, |o| o.state == OrderState::Sent).await
    }

    /// Until when order calls are held because the venue asked the runner
    /// to back off (see the module docs), if they are.
    pub fn paused_until(&self) -> Option<TimeMs> {
        self.paused_until.filter(|until| self.last_time.is_none_or(|t| t < *until))
    }

    /// True while order calls are held.
    fn held(&self, time: TimeMs) -> bool {
        self.paused_until.is_some_and(|until| time < until)
    }

    /// The venue asked for `retry_after` of quiet: order calls are held
    /// until then (a later demand extends the pause, never shortens it).
    fn back_off(&mut self, time: TimeMs, retry_after: Duration) -> Result<(), RunnerError> {
        let until = time.saturating_add(i64::try_from(retry_after.as_millis()).unwrap_or(i64::MAX));
        if self.paused_until.is_none_or(|t| t < until) {
            self.paused_until = Some(until);
            let text = format!("rate limited: order calls held until {until} ({retry_after:?}); prices still watched");
            tracing::warn!(bot = %self.engine.bot_id(), until, "{text}");
            self.note(time, &text)?;
        }
        Ok(())
    }

    /// Graceful shutdown: optionally cancels resting orders, then writes
    /// the held quiet tick and persists.
    pub async fn shutdown(&mut self, time: TimeMs) -> Result<(), RunnerError> {
        let time = self.clock(time);
        if self.cfg.cancel_on_shutdown {
            self.feed(Event::Command { time, command: Command::Stop { cancel_orders: true } }).await?;
        }
        self.flush_quiet()?;
        self.note(time, "shutdown")?;
        self.persist().await
    }

    /// Logs the held quiet tick, if any (see the module docs).
    fn flush_quiet(&mut self) -> Result<(), RunnerError> {
        if let Some(event) = self.quiet.take() {
            self.audit_entry(event_time(&event), AuditEntry::Event { event })?;
            self.events += 1;
        }
        Ok(())
    }

    /// True when the engine tracks order `id` (in its open or closing deal).
    fn tracks(&self, id: &ClientOrderId) -> bool {
        self.engine.deal().is_some_and(|d| d.orders.iter().any(|o| &o.request.client_order_id == id))
    }

    /// Hands an event to the engine, persists, then executes the actions
    /// (and whatever their answers cause), depth first. Reports of orders
    /// the engine no longer tracks (a deal that ended) are not handed over.
    async fn feed(&mut self, event: Event) -> Result<(), RunnerError> {
        let mut queue = vec![event];
        while let Some(event) = queue.pop() {
            let time = event_time(&event);
            if let Event::Order { update, .. } = &event {
                if !self.tracks(update.client_order_id()) {
                    let id = update.client_order_id().clone();
                    self.note(time, &format!("order {id}: report ignored, the engine no longer tracks it"))?;
                    continue;
                }
            }
            let before = matches!(event, Event::Tick { .. }).then(|| self.engine.clone());
            let out = match self.engine.handle(event.clone()) {
                Ok(out) => out,
                Err(e) => {
                    tracing::warn!(bot = %self.engine.bot_id(), error = %e, "engine refused an event");
                    self.flush_quiet()?;
                    self.audit_entry(time, AuditEntry::Event { event })?;
                    return Err(e.into());
                }
            };
            self.last_time = Some(self.last_time.map_or(time, |t| t.max(time)));
            if let Some(before) = before {
                if out.actions.is_empty() && out.closed.is_empty() && only_clock_moved(&before, &self.engine) {
                    self.quiet = Some(event);
                    continue;
                }
            }
            self.flush_quiet()?;
            self.audit_entry(time, AuditEntry::Event { event })?;
            self.events += 1;
            for deal in &out.closed {
                tracing::info!(bot = %self.engine.bot_id(), deal = deal.number, exit = ?deal.exit, pnl = %deal.pnl, "deal closed");
            }
            self.closed.extend(out.closed);
            // A store that keeps the audit trail gets the action lines in
            // the same write as the state that decided them.
            let journaled = self.journal.is_some();
            if journaled {
                for action in &out.actions {
                    self.audit_entry(time, AuditEntry::Action { action: action.clone() })?;
                }
            }
            // Persist before sending: the orders are recorded first.
            self.persist().await?;
            let mut answers = Vec::new();
            for action in out.actions {
                if !journaled {
                    self.audit_entry(time, AuditEntry::Action { action: action.clone() })?;
                }
                answers.extend(self.send(time, action).await?);
            }
            // After the event's action lines (a segment never splits an
            // event from its actions); sending does not change the engine,
            // which is still the persisted state.
            self.rotate_audit(time)?;
            // Keep the exchange's answers in order.
            queue.extend(answers.into_iter().rev().map(|update| Event::Order { time, update }));
        }
        Ok(())
    }

    /// Starts a new audit segment when the log asks for one, with the
    /// persisted state as its checkpoint (the engine equals it here).
    fn rotate_audit(&self, time: TimeMs) -> Result<(), RunnerError> {
        if let Some(log) = &self.audit {
            if log.wants_rotation() {
                let entry = AuditEntry::Checkpoint { events: self.events, engine: Box::new(self.engine.clone()) };
                let record = AuditRecord::new(time, self.cfg.account.clone(), self.engine.bot_id().clone(), entry);
                log.rotate(&record)?;
            }
        }
        Ok(())
    }

    /// Executes one action; returns the order reports it produced.
    async fn send(&mut self, time: TimeMs, action: Action) -> Result<Vec<OrderUpdate>, RunnerError> {
        let symbol = self.cfg.symbol.clone();
        match action {
            Action::Place(order) => {
                let id = order.client_order_id.clone();
                if self.held(time) {
                    // Stays `sent`: the first step after the pause queries
                    // it, finds it unknown and places it under this id.
                    self.note(time, &format!("order {id}: held until the venue's rate limit ends"))?;
                    return Ok(Vec::new());
                }
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
                    // Whether it was placed is unknown; it is queried (and
                    // placed if unknown) after the pause.
                    Err(ExchangeError::RateLimited { retry_after }) => {
                        self.back_off(time, retry_after)?;
                        Ok(Vec::new())
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
            // Held, the order stays `cancel requested`: the first step after
            // the pause finds it open and sends the cancel again.
            Action::Cancel { .. } if self.held(time) => Ok(Vec::new()),
            Action::Cancel { client_order_id } => match self.exchange.cancel_order(&symbol, &client_order_id).await {
                Ok(info) => Ok(self.updates_for(&client_order_id, &info)?),
                // Already filled or gone: its true state tells.
                Err(ExchangeError::UnknownOrder(_)) => self.query(time, &client_order_id).await,
                Err(ExchangeError::RateLimited { retry_after }) => {
                    self.back_off(time, retry_after)?;
                    Ok(Vec::new())
                }
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
        if self.held(time) {
            return Ok(Vec::new());
        }
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
            Err(ExchangeError::RateLimited { retry_after }) => {
                self.back_off(time, retry_after)?;
                Ok(Vec::new())
            }
            Err(e) if e.is_retryable() => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Brings every order the engine believes live up to date.
    async fn reconcile(&mut self, time: TimeMs) -> Result<(), RunnerError> {
        self.reconcile_where(time, |o| o.state.is_live()).await
    }

    /// Brings the orders of the deal matching `pick` up to date.
    async fn reconcile_where(
        &mut self,
        time: TimeMs,
        pick: impl Fn(&martingale_core::engine::TrackedOrder) -> bool,
    ) -> Result<(), RunnerError> {
        let live: Vec<ClientOrderId> = self
            .engine
            .deal()
            .map(|d| d.orders.iter().filter(|o| pick(o)).map(|o| o.request.client_order_id.clone()).collect())
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
}

/// True when `after` differs from `before` only in the last price and
/// time (what every tick sets).
fn only_clock_moved(before: &Engine, after: &Engine) -> bool {
    let strip = |e: &Engine| {
        let mut v = serde_json::to_value(e).ok()?;
        let o = v.as_object_mut()?;
        o.remove("last_price");
        o.remove("last_time");
        o.remove("last_tick_time");
        Some(v)
    };
    match (strip(before), strip(after)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn event_time(event: &Event) -> TimeMs {
    match event {
        Event::Tick { time, .. } | Event::Order { time, .. } | Event::Command { time, .. } | Event::Signal { time } => {
            *time
        }
        Event::Candle(c) => c.time,
    }
}
