//! # martingale-service
//!
//! What an operator runs: users, their bots and their state in one
//! database (an embedded SQLite file by default, Postgres when one file is
//! not enough), driven by the `martingale` program of the root package.
//!
//! This crate holds the service and the parts that touch the database:
//! - [`Db`]: open or create the database, migrate its schema (SQLite and
//!   Postgres share one set of queries through sqlx's `Any` driver; values
//!   are exact decimal text and integer milliseconds, never floats);
//! - [`Ownership`]: one `martingale serve` per database; a second one
//!   refuses to start and names the holder;
//! - [`users`] and [`bots`]: accounts, their bot files, desired states and
//!   queued requests, every bot query scoped by the owning account
//!   (another user's bot is "not found");
//! - [`keys`]: users' API keys, sealed with the operator's master key
//!   (AES-256-GCM, the record format of `martingale-exchange`'s file
//!   store), write-only through every interface;
//! - [`DbStateStore`]: the runner's engine snapshots in the database (the
//!   async `StateStore` of `martingale-exchange`, as the file store is),
//!   with the replay checkpoints of paper bots;
//! - [`serve`]: the daemon that runs the bots (see its docs for the loop);
//! - [`fanout`]: strategies, subscriptions, signals and each subscriber's
//!   trade (signal fan-out, run by `serve`);
//! - [`records`]: closed deals and each bot's status, for the CLI;
//! - [`journal`]: the orders, fills and audit lines the runner writes
//!   with each snapshot, in the same transaction;
//! - [`runs`]: the backtests users kept.
//!
//! Known limits (the service is being built in steps): each bot's write is
//! its own transaction (many bots' writes of one poll are not grouped).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod bots;
mod db;
mod error;
pub mod fanout;
pub mod journal;
pub mod keys;
mod owner;
pub mod records;
pub mod runs;
pub mod serve;
mod settings;
mod snapshots;
pub mod users;

pub use db::{now_ms, Backend, Db, DEFAULT_DATA_DIR};
pub use error::{Result, ServiceError};
pub use owner::{Ownership, HEARTBEAT, STALE_AFTER, UNKNOWN_HOST};
pub use snapshots::{snapshot_header, DbStateStore};
