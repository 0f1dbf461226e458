//! Many users' bots at once: one task per bot, each with its own
//! credentials, adapter instance, state file and audit log; request weight
//! shared per API key; failed bots restarted with backoff; graceful
//! shutdown.
//!
//! Isolation: a bot's task owns its runner; nothing of one bot is reachable
//! from another's task. A bot's keys are decrypted from the
//! [`CredentialStore`] when its task starts it, under the bot's own account
//! only. State lives in `<state_dir>/<account>/<bot>.json` and the audit log
//! in `<audit_dir>/<account>/<bot>.jsonl`.
//!
//! Scheduling: [`Schedule::Every`] polls each bot on its own timer, offset
//! by [`stagger`] so bots sharing a key spread their requests;
//! [`Schedule::Driven`] steps every bot when the caller says so
//! ([`Supervisor::step`] waits until all have finished), for replays, paper
//! fleets and tests where every bot must see the same prices.
//!
//! Failure: a step that fails (an exchange error the runner cannot absorb,
//! a store error, bad credentials) drops the runner, logs the error
//! (tracing, the bot's audit log, [`Supervisor::status`]) and starts the
//! bot again from its persisted state after a backoff (doubling from
//! `backoff_initial` to `backoff_max`); the failed step is then retried, so
//! a driven bot never skips a price. After `max_failures` failures in a row
//! the bot is marked [`BotState::Failed`] and its task ends.
//!
//! Panics: a panic inside a bot's start or step (an adapter bug, an engine
//! bug) is caught at the step, counted as a failure like an error (noted in
//! the audit log, restarted with backoff from the persisted state, given up
//! after `max_failures`), so a bot never silently disappears with its
//! status stuck. A panic that escapes the step loop anyway (a bug in the
//! supervisor itself) marks the bot `Failed` when it is noticed.
//!
//! Waits: every step (and every start) is cut off after `step_timeout`;
//! the abandoned step counts as a failure and the bot restarts from its
//! persisted state (an abandoned step is a crash at that point, which the
//! runner recovers by client order id). A driven [`Supervisor::step`] thus
//! returns within about `step_timeout` plus the backoffs, and a shutdown
//! waits at most one step. A bot whose saved state is refused (damaged,
//! another bot's, or not its bot file's, see [`crate::Persisted`]) fails
//! alone; the others keep trading.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use martingale_core::config::BotFile;
use martingale_core::engine::{Command, Engine, Mode, TimeMs};
use martingale_core::fleet::EngineKey;
use rust_decimal::Decimal;
use serde::Serialize;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::audit::{AuditEntry, AuditLog, AuditRecord};
use crate::credentials::{CredentialStore, KeyLabel};
use crate::error::ExchangeError;
use crate::exchange::Exchange;
use crate::ratelimit::KeyedBudgets;
use crate::runner::{stagger, Runner, RunnerConfig};
use crate::secret::Credentials;
use crate::store::{JsonFileStore, StateStore};
use crate::unwind::{catch_panic, Panicked};

/// One bot to run.
#[derive(Debug, Clone)]
pub struct BotSpec {
    /// Owner and bot id.
    pub key: EngineKey,
    /// The bot.
    pub bot: BotFile,
    /// Market symbol on the venue.
    pub symbol: String,
    /// The owner's key pair to trade with (`None` for venues without keys, e.g. paper).
    pub credentials: Option<KeyLabel>,
    /// Cancel resting orders on shutdown.
    pub cancel_on_shutdown: bool,
}

/// What a [`Connector`] gets to build one bot's adapter.
#[derive(Debug)]
pub struct Connect<'a> {
    /// The bot.
    pub spec: &'a BotSpec,
    /// Its owner's decrypted keys, if it names some.
    pub credentials: Option<Credentials>,
    /// Request-weight budgets per API key: adapters on one key must share one.
    pub budgets: &'a KeyedBudgets,
}

/// Builds a bot's own adapter instance.
pub type Connector = Arc<dyn Fn(Connect<'_>) -> Result<Arc<dyn Exchange>, ExchangeError> + Send + Sync>;

/// When bots step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Every bot polls on its own timer, staggered over the interval.
    Every(Duration),
    /// Bots step only when [`Supervisor::step`] is called.
    Driven,
}

/// Settings of a supervisor.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    /// Engine snapshots, one directory per account.
    pub state_dir: PathBuf,
    /// Audit logs, one directory per account (none: no audit trail).
    pub audit_dir: Option<PathBuf>,
    /// When bots step.
    pub schedule: Schedule,
    /// First restart delay.
    pub backoff_initial: Duration,
    /// Longest restart delay.
    pub backoff_max: Duration,
    /// Failures in a row (errors, panics, timeouts) before a bot is given up.
    pub max_failures: u32,
    /// Request weight per minute per API key.
    pub weight_per_key: u32,
    /// Bots stepping at the same time (bounds open connections); `None`: all.
    pub max_concurrent_steps: Option<usize>,
    /// `fsync` every state change (live trading); off for paper fleets and
    /// simulations ([`JsonFileStore::without_sync`]).
    pub sync_state: bool,
    /// Longest a bot's start or step may take before it is abandoned.
    pub step_timeout: Duration,
    /// Audit segments of about this many bytes (`None`: one file per bot).
    pub audit_segment_bytes: Option<u64>,
    /// Old audit segments kept per bot (with `audit_segment_bytes`).
    pub audit_keep_segments: usize,
}

impl SupervisorConfig {
    /// Defaults: driven schedule, backoff 1 s doubling to 60 s, 10
    /// failures in a row, 6,000 weight per key and minute.
    pub fn new(state_dir: impl Into<PathBuf>) -> SupervisorConfig {
        SupervisorConfig {
            state_dir: state_dir.into(),
            audit_dir: None,
            schedule: Schedule::Driven,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            max_failures: 10,
            weight_per_key: 6000,
            max_concurrent_steps: None,
            sync_state: true,
            step_timeout: Duration::from_secs(60),
            audit_segment_bytes: None,
            audit_keep_segments: 8,
        }
    }

    /// The restart delay after `failures` failures in a row.
    pub fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.saturating_sub(1).min(20)).unwrap_or(u32::MAX);
        self.backoff_initial.saturating_mul(factor).min(self.backoff_max)
    }
}

/// Where a bot is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BotState {
    /// Spawned, not started yet.
    Starting,
    /// Stepping normally.
    Running,
    /// Failed; waiting for its backoff before starting again.
    Restarting,
    /// Shut down gracefully.
    Stopped,
    /// Given up after too many failures in a row.
    Failed,
}

/// What the supervisor knows of one bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BotStatus {
    /// The bot.
    pub key: EngineKey,
    /// Its state.
    pub state: BotState,
    /// Steps completed.
    pub steps: u64,
    /// Restarts after failures.
    pub restarts: u32,
    /// The last failure (never containing secrets).
    pub last_error: Option<String>,
    /// Deals closed.
    pub closed_deals: u64,
    /// Realized P&L.
    pub realized_pnl: Decimal,
}

/// Why a bot cannot be added.
#[derive(Debug, Error)]
pub enum SupervisorError {
    /// A bot with this key runs already.
    #[error("bot {0} runs already")]
    Duplicate(EngineKey),
    /// The bot file is invalid.
    #[error("bot {key}: {reason}")]
    Invalid {
        /// The bot.
        key: EngineKey,
        /// Why.
        reason: String,
    },
    /// The bot names keys but the supervisor has no credential store.
    #[error("bot {0} names credentials but the supervisor has no credential store")]
    NoCredentialStore(EngineKey),
}

enum Msg {
    Step { time: TimeMs, done: oneshot::Sender<()> },
    Shutdown { time: TimeMs },
}

struct Handle {
    tx: mpsc::Sender<Msg>,
    task: JoinHandle<Option<Engine>>,
}

struct Shared {
    cfg: SupervisorConfig,
    connect: Connector,
    credentials: Option<Arc<CredentialStore>>,
    budgets: KeyedBudgets,
    status: Mutex<BTreeMap<EngineKey, BotStatus>>,
    steps: Option<tokio::sync::Semaphore>,
}

/// Runs many bots, one task each (see the module docs).
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use martingale_core::config::BotFile;
/// use martingale_core::engine::Candle;
/// use martingale_core::fleet::EngineKey;
/// use martingale_exchange::{BotSpec, BotState, Connector, Exchange, PaperExchange, Supervisor, SupervisorConfig};
/// use rust_decimal_macros::dec;
///
/// let bot: BotFile = martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap();
/// let paper = Arc::new(PaperExchange::for_bot(&bot, dec!(100000)));
/// let venue = paper.clone();
/// let connect: Connector = Arc::new(move |_| Ok(venue.clone() as Arc<dyn Exchange>));
/// let dir = tempfile::tempdir().unwrap();
/// // A paper example: no fsync of each step's state (see `sync_state`).
/// let cfg = SupervisorConfig { sync_state: false, ..SupervisorConfig::new(dir.path()) };
/// let mut sup = Supervisor::new(cfg, connect, None);
/// for user in ["alice", "bob"] {
///     let key = EngineKey::parse(user, "btc1").unwrap();
///     sup.spawn(BotSpec { key, bot: bot.clone(), symbol: "BTCUSDT".into(), credentials: None,
///                         cancel_on_shutdown: false }).unwrap();
/// }
/// paper.feed(Candle { time: 0, open: dec!(43250), high: dec!(43250), low: dec!(43250), close: dec!(43250) });
/// assert_eq!(sup.step(60_000).await, 2);
/// assert!(sup.status().iter().all(|s| s.state == BotState::Running && s.steps == 1));
/// let engines = sup.shutdown(120_000).await;
/// assert_eq!(engines.len(), 2);
/// # });
/// ```
pub struct Supervisor {
    shared: Arc<Shared>,
    bots: BTreeMap<EngineKey, Handle>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor").field("bots", &self.bots.len()).finish_non_exhaustive()
    }
}

fn now_ms() -> TimeMs {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Supervisor {
    /// A supervisor with no bots.
    pub fn new(cfg: SupervisorConfig, connect: Connector, credentials: Option<Arc<CredentialStore>>) -> Supervisor {
        let budgets = KeyedBudgets::new(cfg.weight_per_key);
        let steps = cfg.max_concurrent_steps.map(|n| tokio::sync::Semaphore::new(n.max(1)));
        let shared = Arc::new(Shared { cfg, connect, credentials, budgets, status: Mutex::default(), steps });
        Supervisor { shared, bots: BTreeMap::new() }
    }

    /// Number of bots.
    pub fn len(&self) -> usize {
        self.bots.len()
    }

    /// True without bots.
    pub fn is_empty(&self) -> bool {
        self.bots.is_empty()
    }

    /// Starts a bot's task (inside a tokio runtime).
    pub fn spawn(&mut self, spec: BotSpec) -> Result<(), SupervisorError> {
        let key = spec.key.clone();
        if self.bots.contains_key(&key) {
            return Err(SupervisorError::Duplicate(key));
        }
        spec.bot.validate().map_err(|e| SupervisorError::Invalid { key: key.clone(), reason: e.to_string() })?;
        if spec.credentials.is_some() && self.shared.credentials.is_none() {
            return Err(SupervisorError::NoCredentialStore(key));
        }
        set_status(&self.shared, &key, |s| s.state = BotState::Starting);
        let (tx, rx) = mpsc::channel(4);
        let task = tokio::spawn(bot_task(self.shared.clone(), spec, rx));
        self.bots.insert(key, Handle { tx, task });
        Ok(())
    }

    /// Steps every bot at `time` and waits until all have finished (also
    /// through restarts); returns how many did. For [`Schedule::Driven`].
    pub async fn step(&self, time: TimeMs) -> usize {
        let mut waiting = Vec::with_capacity(self.bots.len());
        for h in self.bots.values() {
            let (done, rx) = oneshot::channel();
            if h.tx.send(Msg::Step { time, done }).await.is_ok() {
                waiting.push(rx);
            }
        }
        let mut n = 0;
        for rx in waiting {
            n += usize::from(rx.await.is_ok());
        }
        n
    }

    /// Every bot's status, sorted by account and bot.
    pub fn status(&self) -> Vec<BotStatus> {
        self.shared.status.lock().map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    /// Stops every bot gracefully (cancelling orders where the spec says
    /// so, persisting state) and returns each bot's final engine (`None`
    /// for a bot that never started, failed for good, or was waiting to
    /// restart).
    pub async fn shutdown(self, time: TimeMs) -> Vec<(EngineKey, Option<Engine>)> {
        for h in self.bots.values() {
            let _ = h.tx.send(Msg::Shutdown { time }).await;
        }
        let mut out = Vec::with_capacity(self.bots.len());
        for (key, h) in self.bots {
            let engine = match h.task.await {
                Ok(engine) => engine,
                Err(e) => {
                    set_status(&self.shared, &key, |s| {
                        s.state = BotState::Failed;
                        s.last_error = Some(format!("task ended abnormally: {e}"));
                    });
                    None
                }
            };
            out.push((key, engine));
        }
        out
    }
}

fn set_status(shared: &Shared, key: &EngineKey, f: impl FnOnce(&mut BotStatus)) {
    if let Ok(mut map) = shared.status.lock() {
        let s = map.entry(key.clone()).or_insert_with(|| BotStatus {
            key: key.clone(),
            state: BotState::Starting,
            steps: 0,
            restarts: 0,
            last_error: None,
            closed_deals: 0,
            realized_pnl: Decimal::ZERO,
        });
        f(s);
    }
}

type DynRunner = Runner<dyn Exchange>;

async fn start_runner(
    shared: &Shared,
    spec: &BotSpec,
    audit: &Option<Arc<AuditLog>>,
    time: TimeMs,
) -> Result<DynRunner, String> {
    let credentials = match (&spec.credentials, &shared.credentials) {
        // Only the bot's own account's keys can be named here.
        (Some(label), Some(store)) => Some(store.load(&spec.key.account, label).map_err(|e| e.to_string())?),
        (Some(_), None) => return Err("no credential store".into()),
        (None, _) => None,
    };
    let exchange =
        (shared.connect)(Connect { spec, credentials, budgets: &shared.budgets }).map_err(|e| e.to_string())?;
    let dir = shared.cfg.state_dir.join(spec.key.account.as_str());
    let store = if shared.cfg.sync_state { JsonFileStore::new(dir) } else { JsonFileStore::without_sync(dir) };
    let store: Arc<dyn StateStore> = Arc::new(store.map_err(|e| e.to_string())?);
    let cfg = RunnerConfig {
        account: spec.key.account.to_string(),
        symbol: spec.symbol.clone(),
        cancel_on_shutdown: spec.cancel_on_shutdown,
    };
    let mut runner = Runner::builder(spec.key.bot.clone(), &spec.bot, exchange, store)
        .audit_opt(audit.clone())
        .config(cfg)
        .time(time)
        .step_timeout(shared.cfg.step_timeout)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    if runner.engine().mode() == Mode::Created {
        runner.command(time, Command::Start).await.map_err(|e| e.to_string())?;
    }
    Ok(runner)
}

async fn bot_task(shared: Arc<Shared>, spec: BotSpec, mut rx: mpsc::Receiver<Msg>) -> Option<Engine> {
    let key = spec.key.clone();
    let audit = match &shared.cfg.audit_dir {
        Some(dir) => match AuditLog::open(dir.join(key.account.as_str()).join(format!("{}.jsonl", key.bot))) {
            Ok(log) => Some(Arc::new(match shared.cfg.audit_segment_bytes {
                Some(bytes) => log.with_rotation(bytes, shared.cfg.audit_keep_segments),
                None => log,
            })),
            Err(e) => {
                tracing::error!(bot = %key, error = %e, "cannot open the audit log; the bot is not started");
                set_status(&shared, &key, |s| {
                    s.state = BotState::Failed;
                    s.last_error = Some(format!("audit log: {e}"));
                });
                return None;
            }
        },
        None => None,
    };
    let mut timer = match shared.cfg.schedule {
        Schedule::Every(every) => {
            let first = tokio::time::Instant::now() + stagger(&key.bot, every);
            let mut t = tokio::time::interval_at(first, every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            Some(t)
        }
        Schedule::Driven => None,
    };
    let mut runner: Option<DynRunner> = None;
    let mut failures = 0u32;
    loop {
        let next = async {
            match timer.as_mut() {
                Some(t) => {
                    t.tick().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let (time, done) = tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Step { time, done }) => (time, Some(done)),
                Some(Msg::Shutdown { time }) => return shut_down(&shared, &key, runner, time).await,
                None => return shut_down(&shared, &key, runner, now_ms()).await,
            },
            () = next => (now_ms(), None),
        };
        // The step, restarted with backoff until it succeeds.
        loop {
            // Bounded concurrency: a permit per attempt, not held in backoff.
            let permit = match &shared.steps {
                Some(s) => s.acquire().await.ok(),
                None => None,
            };
            let limit = shared.cfg.step_timeout;
            let result = match runner.as_mut() {
                Some(r) => match catch_panic(r.step(time)).await {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(Panicked(msg)) => Err(format!("step panicked: {msg}")),
                },
                None => {
                    let started = tokio::time::timeout(limit, catch_panic(start_runner(&shared, &spec, &audit, time)));
                    match started.await {
                        Ok(Ok(Ok(r))) => {
                            runner = Some(r);
                            continue;
                        }
                        Ok(Ok(Err(e))) => Err(e),
                        Ok(Err(Panicked(msg))) => Err(format!("start panicked: {msg}")),
                        Err(_) => Err(format!("start abandoned after {limit:?}")),
                    }
                }
            };
            drop(permit);
            match result {
                Ok(()) => {
                    failures = 0;
                    let totals = runner.as_ref().map(|r| r.engine().totals().clone()).unwrap_or_default();
                    set_status(&shared, &key, |s| {
                        s.state = BotState::Running;
                        s.steps += 1;
                        s.closed_deals = totals.closed_deals;
                        s.realized_pnl = totals.realized_pnl;
                    });
                    break;
                }
                Err(error) => {
                    failures += 1;
                    runner = None;
                    tracing::error!(bot = %key, failures, error = %error, "bot failed; restarting from its saved state");
                    if let Some(log) = &audit {
                        let note = AuditEntry::Note { text: format!("failure {failures}: {error}") };
                        let _ = log.append(&AuditRecord::new(time, key.account.to_string(), key.bot.clone(), note));
                    }
                    let give_up = failures >= shared.cfg.max_failures;
                    set_status(&shared, &key, |s| {
                        s.state = if give_up { BotState::Failed } else { BotState::Restarting };
                        s.restarts += u32::from(!give_up);
                        s.last_error = Some(error);
                    });
                    if give_up {
                        return None;
                    }
                    // Wait out the backoff, unless a shutdown comes first.
                    tokio::select! {
                        () = tokio::time::sleep(shared.cfg.backoff(failures)) => {}
                        msg = rx.recv() => match msg {
                            Some(Msg::Shutdown { .. }) | None => {
                                set_status(&shared, &key, |s| s.state = BotState::Stopped);
                                return None;
                            }
                            // Only one step runs at a time; a second one is not answered.
                            Some(Msg::Step { .. }) => {}
                        },
                    }
                }
            }
        }
        if let Some(done) = done {
            let _ = done.send(());
        }
    }
}

async fn shut_down(shared: &Shared, key: &EngineKey, runner: Option<DynRunner>, time: TimeMs) -> Option<Engine> {
    let mut runner = runner?;
    // Timed bots live on the wall clock; a driven fleet on the caller's.
    let time = match shared.cfg.schedule {
        Schedule::Every(_) => now_ms().max(time),
        Schedule::Driven => time,
    };
    let limit = shared.cfg.step_timeout;
    match tokio::time::timeout(limit, catch_panic(runner.shutdown(time))).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!(bot = %key, error = %e, "shutdown incomplete"),
        Ok(Err(Panicked(msg))) => tracing::error!(bot = %key, panic = %msg, "shutdown panicked"),
        Err(_) => tracing::warn!(bot = %key, "shutdown abandoned after {limit:?}"),
    }
    set_status(shared, key, |s| s.state = BotState::Stopped);
    Some(runner.engine().clone())
}
