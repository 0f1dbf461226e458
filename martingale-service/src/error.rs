//! Service errors: each names the thing that is wrong and what to do.

use thiserror::Error;

/// Why a service operation failed.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// The database could not be opened, read or written.
    #[error("database {url}: {message}")]
    Database {
        /// The database URL without its password.
        url: String,
        /// What the driver said.
        message: String,
    },
    /// A query failed.
    #[error("database: {0}")]
    Query(String),
    /// Another `martingale serve` owns this database.
    #[error(
        "the database is owned by another service process ({holder}, pid {pid}, heartbeat {age_secs} s ago); stop it first, or wait {wait_secs} s after it died"
    )]
    Owned {
        /// Host and process that holds it.
        holder: String,
        /// Its process id.
        pid: i64,
        /// Seconds since its last heartbeat.
        age_secs: i64,
        /// Seconds until its claim lapses if it has died.
        wait_secs: i64,
    },
    /// A user, bot or key that does not exist (or belongs to another account).
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// What was looked for (`user`, `bot`, ...).
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A user, bot or key of that name exists already.
    #[error("{kind} {name:?} exists already")]
    Exists {
        /// What (`user`, `bot`, ...).
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// API keys that cannot be opened or stored (never contains a key).
    #[error("keys: {0}")]
    Keys(String),
    /// Input that cannot be accepted (a bot file, a name, a setting).
    #[error("{0}")]
    Invalid(String),
}

impl ServiceError {
    pub(crate) fn query(e: sqlx::Error) -> ServiceError {
        ServiceError::Query(e.to_string())
    }
}

/// Short for `Result<T, ServiceError>`.
pub type Result<T> = std::result::Result<T, ServiceError>;
