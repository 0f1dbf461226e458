//! # martingale-exchange
//!
//! The exchange side of the toolkit: one [`Exchange`] trait that every
//! venue adapter implements, typed [`ExchangeError`]s that say what a
//! caller can do, API keys held as [`Secret`]s that never reach a log,
//! engine snapshots persisted atomically through a [`StateStore`], and an
//! append-only JSON-lines [`AuditLog`].
//!
//! - venues: [`PaperExchange`] (in-process, the backtester's fill rules),
//!   [`binance::BinanceSpot`], [`bybit::BybitSpot`], [`okx::OkxSpot`] and
//!   [`coindcx::CoinDcxSpot`], built for a bot file's venue by [`connect`];
//! - [`Runner`]: one bot against one venue, persisting before it sends and
//!   recovering by client order id after a restart;
//! - [`Supervisor`]: many users' bots, one task each, with per-account
//!   [`CredentialStore`] keys (AES-256-GCM), request budgets shared per API
//!   key ([`KeyedBudgets`]) and restarts with backoff;
//! - the audit trail: [`AuditLog`] per bot, [`replay`] to rebuild a bot from
//!   its log, [`AuditSummary`] for per-user and per-bot P&L.
//!
//! A bot on the paper exchange, candle by candle (each candle walked like
//! the backtest walks it, so the deals are the backtest's):
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use martingale_core::backtest::synthetic;
//! use martingale_core::config::BotFile;
//! use martingale_core::dec;
//! use martingale_core::engine::{BotId, Command};
//! use martingale_exchange::{Exchange, JsonFileStore, PaperExchange, Runner, RunnerConfig, StateStore};
//!
//! let bot = BotFile::example().unwrap();
//! let paper = Arc::new(PaperExchange::for_bot(&bot, dec!(100000)));
//! let dir = tempfile::tempdir().unwrap();
//! let store: Arc<dyn StateStore> = Arc::new(JsonFileStore::new(dir.path()).unwrap());
//! let cfg = RunnerConfig { account: "me".into(), symbol: paper.symbol().into(), cancel_on_shutdown: true };
//! let mut runner = Runner::start(BotId::new("btc").unwrap(), &bot, paper.clone(), store, None, cfg, 0).await.unwrap();
//! runner.command(0, Command::Start).await.unwrap();
//! let candles = synthetic::random_walk(1, 500, 60_000, 30_000.0, 0.003);
//! for i in 0..candles.len() {
//!     paper.replay_candle(&mut runner, candles.get(i).unwrap(), 60_000).await.unwrap();
//! }
//! let closed = runner.take_closed();
//! assert!(!closed.is_empty());
//! let usdt = &paper.balances().await.unwrap()[1];
//! assert_eq!(usdt.asset, "USDT");
//! # });
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod audit;
pub mod binance;
pub mod bybit;
mod check;
pub mod coindcx;
mod credentials;
mod download;
mod error;
mod exchange;
#[cfg(test)]
mod fuzz;
mod grid;
mod json;
pub mod okx;
mod paper;
mod ratelimit;
mod replay;
mod rest;
mod runner;
mod secret;
mod snapshot;
mod store;
mod supervisor;
mod types;
mod unwind;
mod venues;

pub use audit::{AuditEntry, AuditLog, AuditRecord};
pub use credentials::{
    AccountKeys, CredentialError, CredentialStore, KeyLabel, MasterKey, SealedKeys, Sealer, MASTER_KEY_ENV,
};
pub use download::{download_csv, DownloadError};
pub use error::ExchangeError;
pub use exchange::Exchange;
pub use paper::{PaperBuilder, PaperExchange};
pub use ratelimit::{KeyedBudgets, WeightBudget};
pub use replay::{replay, replay_file, AccountSummary, AuditSummary, BotSummary, Replay, ReplayError};
pub use rest::{HttpClient, MAX_WAIT};
pub use runner::{stagger, Runner, RunnerBuilder, RunnerConfig, RunnerError};
pub use secret::{Credentials, Secret};
pub use snapshot::{check_settings, Persisted, SnapshotError, SNAPSHOT_FORMAT};
pub use store::{JsonFileStore, Lease, LeaseError, StateStore};
pub use supervisor::{
    BotSpec, BotState, BotStatus, Connect, Connector, Schedule, Supervisor, SupervisorConfig, SupervisorError,
};
pub use types::{Balance, Fill, OrderInfo, OrderStatus};
pub use venues::{connect, key_budget, venue_connector, VenueOptions};
