//! `martingale serve`: the daemon that runs every user's bots from the
//! database.
//!
//! Once per polling interval the service:
//! 1. renews its claim on the database ([`crate::Ownership`]; a second
//!    service on the same database refuses to start);
//! 2. reads the bots and converges on what the operator wants: starts the
//!    bots that should run (resuming each from its engine snapshot in the
//!    database, [`crate::DbStateStore`]), pauses, resumes and stops them,
//!    applies queued requests (close now, cancel orders), and lets go of
//!    removed bots and of stopped bots with nothing left to look after;
//! 3. moves prices one step and steps every running bot;
//! 4. applies queued strategy signals and drives subscribers' trades
//!    (signal fan-out, `fanout.rs`);
//! 5. records closed deals (`deals`) and each bot's status (`bot_status`,
//!    written when it changes).
//!
//! The CLI changes the database while the service runs; the service picks
//! the change up within one interval.
//!
//! Prices: paper bots replay a candle file (`--prices FILE`), one candle
//! per interval, each walked along its path exactly as the backtest walks
//! it (so a bot's deals are its backtest's); after a restart every bot
//! resumes after the last candle its snapshot has seen. Or they take a
//! live venue's prices (`--paper-prices-from VENUE`, keyless, the shared
//! read below): each interval the move from the previous price to the new
//! one is walked as one candle on the wall clock, so resting orders
//! between the two prices fill at their own price (what happened between
//! two reads is not seen; an indicator start condition sees one close per
//! interval). Either way a paper account lives in this process: after a
//! restart it is rebuilt from the bot's last checkpoint (written after
//! every interval). Without a price source, paper bots wait with a status
//! that says so. Bots on live venues
//! trade with their owner's key (from [`crate::keys`]) on the wall clock,
//! the bots of one market sharing one price request per interval
//! (`prices`); the runner reconciles their orders with the venue by client
//! order id at every start.
//!
//! Known limits: a deal closed in the very step a crash interrupts may be
//! missing from `deals` (the snapshot's totals count it).
//!
//! Signal fan-out: each poll also applies queued strategy signals and
//! drives the subscribers' trades (`fanout`).

mod bot;
mod fanout;
mod prices;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use martingale_core::backtest::Candles;
use martingale_core::engine::TimeMs;
use martingale_core::venue::Venue;
use rust_decimal::Decimal;

use martingale_exchange::{connect, key_budget, Credentials, Exchange, KeyedBudgets, VenueOptions};

use crate::bots::{self, Bot, DesiredState};
use crate::keys::Keyring;
use crate::records::{self, BotStatus};
use crate::{now_ms, Db, DbStateStore, Ownership, Result, HEARTBEAT};
use bot::ServiceBot;
use prices::{PriceBoard, Priced};

/// Settings of [`serve`].
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// How often bots step and the database is read.
    pub interval: Duration,
    /// Candles paper bots replay, one per interval.
    pub prices: Option<Arc<Candles>>,
    /// Paper bots take this venue's live prices instead of a price file
    /// (its public ticker, no key; one read per symbol per interval).
    pub paper_live: Option<Venue>,
    /// Quote balance of each paper bot's account.
    pub paper_quote: Decimal,
    /// Names this process in the database's ownership row (`host:pid`).
    pub holder: String,
    /// This process's id.
    pub pid: i64,
    /// Stop once the price file has been replayed (tests, batch runs).
    pub exit_at_end: bool,
    /// The users' API keys (opened with the master key), for bots on live
    /// venues; without it such bots wait with a status that says why.
    pub keys: Option<Arc<Keyring>>,
    /// Another base URL per venue (a testnet, a proxy, a test server).
    pub venue_urls: HashMap<Venue, String>,
}

impl ServeConfig {
    /// Paper bots only, replaying `prices` (the other fields: no keys, the
    /// venues' own addresses, this process).
    pub fn paper(interval: Duration, prices: Option<Arc<Candles>>, paper_quote: Decimal) -> ServeConfig {
        ServeConfig {
            interval,
            prices,
            paper_live: None,
            paper_quote,
            holder: format!("{}:{}", crate::UNKNOWN_HOST, std::process::id()),
            pid: i64::from(std::process::id()),
            exit_at_end: false,
            keys: None,
            venue_urls: HashMap::new(),
        }
    }

    fn venue_options(&self, venue: Venue) -> VenueOptions {
        VenueOptions { base_url: self.venue_urls.get(&venue).cloned(), ..VenueOptions::default() }
    }
}

/// What a [`serve`] run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServeSummary {
    /// Polling intervals run.
    pub polls: u64,
    /// Candles replayed.
    pub candles: u64,
    /// Deals recorded.
    pub deals: u64,
    /// Steps on live prices: of bots on live venues and of paper bots on
    /// a venue's live prices.
    pub live_steps: u64,
    /// Shared price requests to live venues (one per market per interval).
    pub price_requests: u64,
}

/// Per-bot bookkeeping kept across restarts of its runner.
#[derive(Default)]
struct Health {
    last_error: Option<String>,
    restarts: u32,
    status: Option<BotStatus>,
    written: Option<Instant>,
    /// Failures in a row (a successful candle resets them).
    failures: u32,
    /// No start before this.
    retry_at: Option<Instant>,
    /// The bot row's `updated_at` when last looked at.
    seen_update: Option<i64>,
    /// A stopped live bot's snapshot was looked at for resting orders.
    peeked: bool,
}

/// Failures in a row before a bot is given up.
const MAX_FAILURES: u32 = 10;

/// How often a bot's status is written when only its prices moved.
const STATUS_PRICE_EVERY: Duration = Duration::from_secs(2);

/// Equal but for the last price and the unrealized P&L.
fn same_but_prices(a: &BotStatus, b: &BotStatus) -> bool {
    let strip = |s: &BotStatus| BotStatus { last_price: None, unrealized_pnl: None, ..s.clone() };
    strip(a) == strip(b)
}

struct Service {
    db: Db,
    cfg: ServeConfig,
    store: Arc<DbStateStore>,
    bots: BTreeMap<String, ServiceBot>,
    board: Arc<PriceBoard>,
    /// Keyless adapters reading the shared prices, per venue.
    public: HashMap<Venue, Arc<dyn Exchange>>,
    /// Every close of the price file (last millisecond, close), made once:
    /// a resumed bot takes those up to the last candle its own checkpoint
    /// walked, which may be past the cursor (the cursor is the earliest
    /// bot's: a kill in the middle of a poll's checkpoints leaves bots a
    /// candle apart); a new bot those before the cursor
    /// (`ServiceBot::start`).
    closes: Arc<[(TimeMs, Decimal)]>,
    /// One request budget per API key, per venue: shared by every bot and
    /// fan-out trade on that key ([`Service::keyed`]).
    budgets: HashMap<Venue, KeyedBudgets>,
    health: HashMap<String, Health>,
    cursor: usize,
    summary: ServeSummary,
    ended: bool,
    /// Signal fan-out's adapters and market rules.
    fanout: fanout::Fanout,
}

/// Runs the service until `shutdown` completes (SIGINT / SIGTERM in the
/// program), then stops every runner gracefully (state persisted, resting
/// orders left on the venue) and releases the database.
pub async fn serve(db: Db, cfg: ServeConfig, shutdown: impl Future<Output = ()>) -> Result<ServeSummary> {
    let owner = Ownership::acquire(&db, &cfg.holder, cfg.pid).await?;
    let interval = cfg.interval.max(Duration::from_millis(1));
    let mut svc = match Service::new(db, cfg).await {
        Ok(svc) => svc,
        Err(e) => {
            let _ = owner.release().await;
            return Err(e);
        }
    };
    tracing::info!(bots = svc.bots.len(), cursor = svc.cursor, "service started");
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut renewed = Instant::now();
    tokio::pin!(shutdown);
    let outcome = loop {
        tokio::select! {
            // The stop signal first: when polls take longer than the
            // interval the next tick is always ready too, and an unbiased
            // choice would run another whole poll half of the time.
            biased;
            () = &mut shutdown => break Ok(()),
            _ = ticker.tick() => {}
        }
        if renewed.elapsed() >= HEARTBEAT {
            if let Err(e) = owner.renew().await {
                // Another process owns the database now: write nothing more.
                tracing::error!(error = %e, "lost the database; stopping without writing");
                let ids: Vec<String> = svc.bots.keys().cloned().collect();
                for id in ids {
                    svc.drop_runner(&id, "database lost");
                }
                break Err(e);
            }
            renewed = Instant::now();
        }
        if let Err(e) = svc.poll().await {
            tracing::error!(error = %e, "poll failed; retrying at the next interval");
        }
        if svc.ended && svc.cfg.exit_at_end {
            break Ok(());
        }
    };
    svc.stop_all().await;
    tracing::info!(polls = svc.summary.polls, candles = svc.summary.candles, "service stopped");
    owner.release().await?;
    outcome.map(|()| svc.summary.clone())
}

impl Service {
    async fn new(db: Db, cfg: ServeConfig) -> Result<Service> {
        let store = Arc::new(DbStateStore::new(db.clone()));
        let mut svc = Service {
            db,
            cfg,
            store,
            bots: BTreeMap::new(),
            board: Arc::default(),
            public: HashMap::new(),
            budgets: HashMap::new(),
            closes: Arc::from(Vec::new()),
            health: HashMap::new(),
            cursor: 0,
            summary: ServeSummary::default(),
            ended: false,
            fanout: fanout::Fanout::default(),
        };
        if let Some(candles) = &svc.cfg.prices {
            let interval = svc.interval_ms();
            svc.closes = (0..candles.len())
                .filter_map(|i| candles.get(i))
                .map(|c| (c.time.saturating_add(interval.saturating_sub(1)), c.close))
                .collect();
        }
        svc.cursor = svc.resume_cursor().await?;
        Ok(svc)
    }

    fn interval_ms(&self) -> TimeMs {
        self.cfg.prices.as_deref().and_then(Candles::interval_ms).unwrap_or(60_000)
    }

    /// The replay resumes at the first candle some bot to run has not seen.
    async fn resume_cursor(&self) -> Result<usize> {
        let Some(candles) = &self.cfg.prices else {
            return Ok(0);
        };
        let interval = self.interval_ms();
        let mut earliest: Option<TimeMs> = None;
        for b in bots::list(&self.db, None).await? {
            if b.desired == DesiredState::Stopped || b.venue != Venue::Paper {
                continue;
            }
            // The state the bot resumes from: its checkpoint (the paper
            // venue died with the last process; see `ServiceBot::start`).
            let query = |e: std::io::Error| crate::ServiceError::Query(e.to_string());
            self.store.restore_checkpoint(&b.id).await.map_err(query)?;
            let last = self.store.replayed_until(&b.id).await.map_err(query)?;
            // A bot that has seen nothing (new, or never able to start)
            // joins where the others are.
            let Some(last) = last else {
                continue;
            };
            earliest = Some(earliest.map_or(last, |e| e.min(last)));
        }
        let Some(last) = earliest else {
            return Ok(0);
        };
        Ok((0..candles.len())
            .find(|&i| candles.get(i).is_some_and(|c| c.time.saturating_add(interval - 1) > last))
            .unwrap_or(candles.len()))
    }

    /// The replay's clock between polls: the millisecond before the next
    /// candle (commands and starts happen there, so the next candle is
    /// walked whole); after the last candle, its last millisecond.
    fn clock(&self) -> TimeMs {
        let interval = self.interval_ms();
        let candle = |i: usize| self.cfg.prices.as_ref().and_then(|c| c.get(i));
        match (candle(self.cursor), self.cursor.checked_sub(1).and_then(candle)) {
            (Some(next), _) => next.time.saturating_sub(1),
            (None, Some(last)) => last.time.saturating_add(interval.saturating_sub(1)),
            (None, None) => 0,
        }
    }

    async fn poll(&mut self) -> Result<()> {
        self.summary.polls += 1;
        let rows = bots::list(&self.db, None).await?;
        // Bots first, so a request queued while the service was down finds
        // its bot running.
        self.converge(&rows).await;
        self.apply_requests(&rows).await?;
        self.advance().await?;
        self.step_live().await;
        self.step_fanout().await;
        self.checkpoint().await;
        self.write_statuses(&rows).await?;
        Ok(())
    }

    /// Every running bot's state is its replay checkpoint now.
    async fn checkpoint(&mut self) {
        let mut failed = Vec::new();
        for (id, bot) in self.bots.iter_mut() {
            if let Err(e) = bot.checkpoint(&self.store).await {
                failed.push((id.clone(), e));
            }
        }
        for (id, e) in failed {
            self.failed(&id, format!("checkpoint: {e}")).await;
        }
    }

    /// Applies queued requests, each at most once: it is marked taken
    /// before it is applied (a failure after that leaves it "applying",
    /// never applied twice), and the bot's checkpoint is written right after
    /// it, so a crash cannot undo what the request did. A request for a bot
    /// that should run but is not running yet (backoff) waits.
    async fn apply_requests(&mut self, rows: &[Bot]) -> Result<()> {
        for q in bots::pending(&self.db).await? {
            let row = rows.iter().find(|b| b.id.as_str() == q.bot_id);
            let waiting = row.is_some_and(|b| b.desired != DesiredState::Stopped) && !self.bots.contains_key(&q.bot_id);
            if waiting && q.request.is_some() {
                continue;
            }
            bots::finish(&self.db, q.id, "applying").await?;
            let time = self.clock();
            let outcome = match (q.request, self.bots.get_mut(&q.bot_id), row) {
                (None, _, _) => format!("unknown request {:?}", q.text),
                (Some(_), _, None) => "no such bot".into(),
                (Some(_), None, _) => "the bot is not running".into(),
                (Some(r), Some(bot), Some(row)) => {
                    let at = bot.time(time);
                    match bot.apply(r, at, &self.db, row).await {
                        Ok(outcome) => outcome,
                        Err(e) => {
                            self.failed(&q.bot_id, e.clone()).await;
                            format!("failed: {e}")
                        }
                    }
                }
            };
            if let Some(bot) = self.bots.get_mut(&q.bot_id) {
                let closed = bot.runner.take_closed();
                let (account, id) = (bot.account.clone(), q.bot_id.clone());
                if let Err(e) = bot.checkpoint(&self.store).await {
                    self.failed(&id, format!("checkpoint: {e}")).await;
                }
                self.record(&account, &id, closed).await;
            }
            tracing::info!(bot = %q.bot_id, request = %q.text, %outcome, "request applied");
            bots::finish(&self.db, q.id, &outcome).await?;
        }
        Ok(())
    }

    /// Stores closed deals; one that cannot be stored is logged whole (the
    /// engine's totals still count it) and the others are stored.
    async fn record(&mut self, account: &str, id: &str, closed: Vec<martingale_core::engine::DealReport>) {
        for d in closed {
            tracing::info!(bot = %id, %account, deal = d.number, exit = ?d.exit, pnl = %d.pnl, "deal closed");
            match records::record_deal(&self.db, account, id, &d).await {
                Ok(true) => self.summary.deals += 1,
                Ok(false) => {}
                Err(e) => {
                    let report = serde_json::to_string(&d).unwrap_or_default();
                    tracing::error!(bot = %id, error = %e, %report, "deal not stored");
                }
            }
        }
    }

    /// Starts, commands and lets go of runners as the rows say.
    async fn converge(&mut self, rows: &[Bot]) {
        let known: Vec<(String, String, i64)> =
            self.bots.iter().map(|(id, b)| (id.clone(), b.account.clone(), b.created_at)).collect();
        for (id, account, created_at) in known {
            // Gone, or removed and added again (maybe by another user): the
            // runner ends without writing anything more under this id.
            let same = |b: &&Bot| b.id.as_str() == id && b.account == account && b.created_at == created_at;
            if !rows.iter().any(|b| same(&b)) {
                self.drop_runner(&id, "removed");
            }
        }
        for b in rows {
            let id = b.id.as_str().to_string();
            let wanted = b.desired != DesiredState::Stopped || self.has_resting_orders(b).await;
            if !self.bots.contains_key(&id) && wanted {
                let h = self.health.entry(id.clone()).or_default();
                if h.seen_update != Some(b.updated_at) {
                    // The operator touched the bot: try again at once.
                    (h.seen_update, h.failures, h.retry_at) = (Some(b.updated_at), 0, None);
                }
                if h.failures >= MAX_FAILURES || h.retry_at.is_some_and(|t| Instant::now() < t) {
                    continue;
                }
                let retry = h.failures > 0;
                if let Err(e) = self.start(b).await {
                    self.note_failure(&id, e);
                    continue;
                }
                if retry {
                    self.health.entry(id.clone()).or_default().restarts += 1;
                }
            }
            let time = self.clock();
            let Some(bot) = self.bots.get_mut(&id) else { continue };
            let at = bot.time(time);
            if let Err(e) = bot.follow_row(b, at).await {
                self.failed(&id, format!("settings: {e}")).await;
                continue;
            }
            if let Err(e) = bot.converge(b.desired, at).await {
                self.failed(&id, e).await;
                continue;
            }
            if b.desired == DesiredState::Stopped && bot.finished() {
                self.let_go(&id, "stopped").await;
            }
        }
    }

    /// A stopped bot on a live venue whose snapshot holds orders that can
    /// still fill (stopped with its orders kept, then the service
    /// restarted): it is run until they are done, so their fills are
    /// booked. Looked at once per process while it has none.
    async fn has_resting_orders(&mut self, b: &Bot) -> bool {
        let h = self.health.entry(b.id.to_string()).or_default();
        if b.venue == Venue::Paper || h.peeked {
            return false;
        }
        let text = martingale_exchange::StateStore::load(&*self.store, &b.id).await;
        let resting = match text {
            Ok(Some(text)) => martingale_exchange::Persisted::load(&b.id, &text)
                .ok()
                .and_then(|p| p.engine.deal().map(|d| d.has_live_orders()))
                .unwrap_or(false),
            _ => false,
        };
        if !resting {
            self.health.entry(b.id.to_string()).or_default().peeked = true;
        }
        resting
    }

    /// Starts a bot on a live venue with its owner's key.
    async fn start_live(&mut self, b: &Bot) -> std::result::Result<ServiceBot, String> {
        let keys = self.cfg.keys.clone().ok_or_else(|| {
            "no master key: start `martingale serve` with MARTINGALE_MASTER_KEY or --master-key-file to run bots              on live venues"
                .to_string()
        })?;
        let label = b.key_label.as_deref().ok_or("the bot has no API key (`martingale bot add --key`)")?;
        let (venue, creds) = keys.load(&b.account, label).await.map_err(|e| e.to_string())?;
        if venue != b.venue {
            return Err(format!("key {label} is for {venue:?}, the bot trades on {:?}", b.venue));
        }
        let inner = self.keyed(venue, creds)?;
        let exchange: Arc<dyn Exchange> = Arc::new(Priced { inner, venue, board: self.board.clone() });
        ServiceBot::start_live(b, self.store.clone(), exchange).await
    }

    async fn start(&mut self, b: &Bot) -> std::result::Result<(), String> {
        if b.venue != Venue::Paper {
            let bot = self.start_live(b).await?;
            tracing::info!(bot = %b.id, account = %b.account, venue = ?b.venue, "bot started");
            self.bots.insert(b.id.as_str().to_string(), bot);
            return Ok(());
        }
        if let Some(venue) = self.cfg.paper_live {
            let (price, time) = (self.live_price(venue, &b.symbol).await?, now_ms());
            // The market stands at the live price (a point, not a move).
            let at = martingale_core::engine::Candle { time, open: price, high: price, low: price, close: price };
            let start = bot::PaperStart {
                quote: self.cfg.paper_quote,
                prices: bot::PaperPrices::Live(venue),
                previous: Some(at),
                price: Some(price),
                history: &[],
                time,
            };
            let bot = ServiceBot::start(b, self.store.clone(), start).await?;
            tracing::info!(bot = %b.id, account = %b.account, prices = ?venue, "paper bot started on live prices");
            self.bots.insert(b.id.as_str().to_string(), bot);
            return Ok(());
        }
        let Some(candles) = self.cfg.prices.clone() else {
            return Err("no price source: start `martingale serve` with --prices FILE (a candle CSV) or \
                        --paper-prices-from VENUE (live prices)"
                .into());
        };
        let previous = self.cursor.checked_sub(1).and_then(|i| candles.get(i));
        let price = candles.get(self.cursor).or(previous).map(|c| c.open);
        let history = self.closes.clone();
        let start = bot::PaperStart {
            quote: self.cfg.paper_quote,
            prices: bot::PaperPrices::File,
            previous,
            price,
            history: &history,
            time: self.clock(),
        };
        let bot = ServiceBot::start(b, self.store.clone(), start).await?;
        tracing::info!(bot = %b.id, account = %b.account, "bot started");
        self.bots.insert(b.id.as_str().to_string(), bot);
        Ok(())
    }

    /// The keyless adapter of `venue` (made once).
    fn public(&mut self, venue: Venue) -> std::result::Result<Arc<dyn Exchange>, String> {
        if let Some(ex) = self.public.get(&venue) {
            return Ok(ex.clone());
        }
        let ex = connect(venue, None, None, &self.cfg.venue_options(venue)).map_err(|e| e.to_string())?;
        self.public.insert(venue, ex.clone());
        Ok(ex)
    }

    /// An adapter with a user's key; every adapter of one key draws on one
    /// request budget (the venue limits per key, not per bot: ten bots on
    /// one key together stay where one would), which also follows the
    /// venue's own count of the key's use when it reports one.
    fn keyed(&mut self, venue: Venue, creds: Credentials) -> std::result::Result<Arc<dyn Exchange>, String> {
        let budget =
            self.budgets.entry(venue).or_insert_with(|| KeyedBudgets::new(key_budget(venue))).for_key(&creds.api_key);
        connect(venue, Some(creds), Some(budget), &self.cfg.venue_options(venue)).map_err(|e| e.to_string())
    }

    /// A market's last price: this interval's shared read, or one read now.
    async fn live_price(&mut self, venue: Venue, symbol: &str) -> std::result::Result<Decimal, String> {
        if let Some(p) = self.board.get(venue, symbol) {
            return Ok(p);
        }
        self.summary.price_requests += 1;
        let ex = self.public(venue)?;
        let price = ex.last_price(symbol).await.map_err(|e| format!("{venue:?} price of {symbol}: {e}"))?;
        self.board.put(venue, symbol, price);
        Ok(price)
    }

    /// A runner failed: drop it; the next poll starts it again from its
    /// snapshot.
    async fn failed(&mut self, id: &str, error: String) {
        self.bots.remove(id);
        self.note_failure(id, error);
    }

    /// Counts a failure in a row: the next start waits 1 s, doubling to
    /// 60 s; after [`MAX_FAILURES`] the bot is given up until the operator
    /// touches it (`martingale bot start`).
    fn note_failure(&mut self, id: &str, error: String) {
        let h = self.health.entry(id.to_string()).or_default();
        h.failures += 1;
        let wait = Duration::from_secs(1 << (h.failures - 1).min(6)).min(Duration::from_secs(60));
        h.retry_at = Some(Instant::now() + wait);
        if h.failures >= MAX_FAILURES {
            tracing::error!(bot = %id, error = %error, failures = h.failures, "bot given up");
            h.last_error = Some(format!(
                "given up after {} failures in a row (`martingale bot start` tries again): {error}",
                h.failures
            ));
        } else {
            if h.last_error.as_ref() != Some(&error) {
                tracing::warn!(bot = %id, error = %error, retry_in_s = wait.as_secs(), "bot failed; starting it again from its snapshot");
            }
            h.last_error = Some(error);
        }
    }

    /// Forgets a runner without a word to the database (its bot row is
    /// gone, or this process lost the database).
    fn drop_runner(&mut self, id: &str, why: &str) {
        if self.bots.remove(id).is_some() {
            self.health.remove(id);
            tracing::info!(bot = %id, "{why}: runner dropped");
        }
    }

    async fn let_go(&mut self, id: &str, why: &str) {
        if let Some(mut bot) = self.bots.remove(id) {
            let time = bot.time(self.clock());
            if let Err(e) = bot.runner.shutdown(time).await {
                tracing::warn!(bot = %id, error = %e, "shutdown failed");
            }
            if let Err(e) = bot.checkpoint(&self.store).await {
                tracing::warn!(bot = %id, error = %e, "final checkpoint not written");
            }
            let h = self.health.entry(id.to_string()).or_default();
            let status = BotStatus::of(&bot.account, bot.runner.engine(), false, h.last_error.clone(), h.restarts);
            if let Err(e) = records::put_status(&self.db, &status).await {
                tracing::warn!(bot = %id, error = %e, "status not written");
            }
            h.status = Some(status);
            tracing::info!(bot = %id, "{why}: runner ended");
        }
    }

    /// One candle for every running bot.
    async fn advance(&mut self) -> Result<()> {
        let Some(candles) = self.cfg.prices.clone() else {
            return Ok(());
        };
        if self.cursor >= candles.len() {
            if !self.ended {
                tracing::info!(candles = candles.len(), "the price file is replayed to its end");
            }
            self.ended = true;
            return Ok(());
        }
        let interval = self.interval_ms();
        let ids: Vec<String> = self.bots.keys().cloned().collect();
        for id in ids {
            let Some(bot) = self.bots.get_mut(&id) else { continue };
            match bot.replay(&candles, self.cursor, interval).await {
                Ok(_) => {
                    let (account, closed) = (bot.account.clone(), bot.runner.take_closed());
                    if let Some(h) = self.health.get_mut(&id) {
                        // Recovered: the error is history (`restarts` counts it).
                        if h.failures > 0 {
                            (h.failures, h.last_error) = (0, None);
                        }
                    }
                    self.record(&account, &id, closed).await;
                }
                Err(e) => self.failed(&id, e).await,
            }
        }
        self.cursor += 1;
        self.summary.candles += 1;
        Ok(())
    }

    /// One step of every bot on a live venue, after one shared price read
    /// per market.
    async fn step_live(&mut self) {
        let markets: Vec<(Venue, String)> = self.bots.values().filter_map(ServiceBot::live_market).collect();
        if markets.is_empty() {
            return;
        }
        for (venue, _) in &markets {
            if let Err(e) = self.public(*venue) {
                tracing::warn!(venue = ?venue, error = %e, "no public adapter");
            }
        }
        let public = &self.public;
        let requests = self.board.refresh(markets, |v| public.get(&v).cloned()).await;
        self.summary.price_requests += requests as u64;
        let ids: Vec<String> =
            self.bots.iter().filter(|(_, b)| b.live_market().is_some()).map(|(id, _)| id.clone()).collect();
        for id in ids {
            let Some(bot) = self.bots.get_mut(&id) else { continue };
            let price = bot.live_market().and_then(|(venue, symbol)| self.board.get(venue, &symbol));
            match bot.step_live(price, now_ms()).await {
                Ok(()) => {
                    self.summary.live_steps += 1;
                    let (account, closed) = (bot.account.clone(), bot.runner.take_closed());
                    if let Some(h) = self.health.get_mut(&id) {
                        // Recovered: the error is history (`restarts` counts it).
                        if h.failures > 0 {
                            (h.failures, h.last_error) = (0, None);
                        }
                    }
                    self.record(&account, &id, closed).await;
                }
                Err(e) => self.failed(&id, e).await,
            }
        }
    }

    async fn write_statuses(&mut self, rows: &[Bot]) -> Result<()> {
        for b in rows {
            let id = b.id.as_str();
            let h = self.health.entry(id.to_string()).or_default();
            let status = match self.bots.get(id) {
                Some(bot) => BotStatus::of(&b.account, bot.runner.engine(), true, h.last_error.clone(), h.restarts),
                None if h.last_error.is_some() => {
                    let mut s = h.status.clone().unwrap_or_else(|| stopped_status(b));
                    (s.running, s.last_error, s.restarts) = (false, h.last_error.clone(), h.restarts);
                    s
                }
                None => continue,
            };
            // Written when it changes, prices aside: those at most every
            // STATUS_PRICE_EVERY (one write per bot per candle would cost
            // more than the trading).
            let changed = h.status.as_ref().is_none_or(|old| !same_but_prices(old, &status));
            let stale = h.written.is_none_or(|t| t.elapsed() >= STATUS_PRICE_EVERY);
            if changed || (stale && h.status.as_ref() != Some(&status)) {
                records::put_status(&self.db, &status).await?;
                h.status = Some(status);
                h.written = Some(Instant::now());
            }
        }
        Ok(())
    }

    async fn stop_all(&mut self) {
        let ids: Vec<String> = self.bots.keys().cloned().collect();
        for id in ids {
            self.let_go(&id, "service stopping").await;
        }
    }
}

/// The status of a bot that has never run.
fn stopped_status(b: &Bot) -> BotStatus {
    BotStatus {
        account: b.account.clone(),
        bot_id: b.id.to_string(),
        running: false,
        mode: "stopped".into(),
        phase: "idle".into(),
        deal: None,
        position: None,
        average_price: None,
        last_price: None,
        unrealized_pnl: None,
        closed_deals: 0,
        realized_pnl: Decimal::ZERO,
        last_error: None,
        restarts: 0,
        updated_at: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use martingale_exchange::Secret;

    /// Adapters of one key share one budget; another key or another venue
    /// has its own.
    #[tokio::test]
    async fn adapters_of_one_key_share_one_request_budget() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_dir(dir.path()).await.unwrap();
        let mut svc = Service::new(db, ServeConfig::paper(Duration::from_secs(1), None, Decimal::ONE)).await.unwrap();
        let key = |k: &str| Credentials::new(k, "secret");
        for k in ["alice-key", "alice-key", "bob-key"] {
            svc.keyed(Venue::Binance, key(k)).unwrap();
        }
        svc.keyed(Venue::Bybit, key("alice-key")).unwrap();
        assert_eq!(svc.budgets[&Venue::Binance].len(), 2);
        assert_eq!(svc.budgets[&Venue::Bybit].len(), 1);
        let a = svc.budgets[&Venue::Binance].for_key(&Secret::new("alice-key"));
        assert_eq!(a.limit(), 6000);
        assert_eq!(svc.budgets[&Venue::Bybit].for_key(&Secret::new("alice-key")).limit(), 3000);
        svc.db.close().await;
    }
}
