//! # martingale-exchange
//!
//! The exchange side of the toolkit: one [`Exchange`] trait that every
//! venue adapter implements, typed [`ExchangeError`]s that say what a
//! caller can do, API keys held as [`Secret`]s that never reach a log,
//! engine snapshots persisted atomically through a [`StateStore`], and an
//! append-only JSON-lines [`AuditLog`].
//!
//! [`PaperExchange`] is an in-process venue that fills from a price feed by
//! the backtester's rules.
//!
//! Status: the Binance Spot adapter and the live runner that drives an
//! engine against an adapter are not built yet (tracked in the project's
//! issues).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod audit;
pub mod binance;
mod credentials;
mod download;
mod error;
mod exchange;
mod paper;
mod ratelimit;
mod replay;
mod runner;
mod secret;
mod store;
mod supervisor;
mod types;

pub use audit::{AuditEntry, AuditLog, AuditRecord};
pub use credentials::{AccountKeys, CredentialError, CredentialStore, KeyLabel, MasterKey, MASTER_KEY_ENV};
pub use download::{download_csv, DownloadError};
pub use error::ExchangeError;
pub use exchange::Exchange;
pub use paper::PaperExchange;
pub use ratelimit::{KeyedBudgets, WeightBudget};
pub use replay::{replay, replay_file, AccountSummary, AuditSummary, BotSummary, Replay, ReplayError};
pub use runner::{stagger, Persisted, Runner, RunnerConfig, RunnerError};
pub use secret::{Credentials, Secret};
pub use store::{JsonFileStore, StateStore};
pub use supervisor::{
    BotSpec, BotState, BotStatus, Connect, Connector, Schedule, Supervisor, SupervisorConfig, SupervisorError,
};
pub use types::{Balance, Fill, OrderInfo, OrderStatus};
