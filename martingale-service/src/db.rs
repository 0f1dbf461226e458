//! The service database: an embedded SQLite file by default, Postgres for
//! operators who outgrow one file; one schema, migrated at open.
//!
//! Both backends go through sqlx's `Any` driver, so every query is written
//! once, with `$1, $2, ...` parameters in increasing order (both drivers
//! read them). Values are `TEXT` (names, JSON, exact decimal text) and
//! `BIGINT` (times in ms, counters): never a float.

use std::path::{Path, PathBuf};

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

use crate::error::{Result, ServiceError};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (bundled: nothing to install).
    Sqlite,
    /// A Postgres server.
    Postgres,
}

/// An open, migrated service database.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use martingale_service::{Backend, Db};
/// let dir = tempfile::tempdir().unwrap();
/// let db = Db::open_dir(dir.path()).await.unwrap();
/// assert_eq!(db.backend(), Backend::Sqlite);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    url: String,
}

/// The default data folder of `martingale serve` (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "martingale-data";

impl Db {
    /// Opens (creating it if needed) the SQLite database `martingale.db` in `dir`.
    pub async fn open_dir(dir: &Path) -> Result<Db> {
        std::fs::create_dir_all(dir).map_err(|e| ServiceError::Database {
            url: dir.display().to_string(),
            message: format!("cannot create the data folder: {e}"),
        })?;
        let file: PathBuf = dir.join("martingale.db");
        Db::connect(&format!("sqlite://{}?mode=rwc", file.display())).await
    }

    /// Opens a database by URL: `sqlite://PATH[?mode=rwc]` or `postgres://...`,
    /// and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let shown = redact(url);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(ServiceError::Database {
                url: shown,
                message: "unsupported URL: use sqlite://PATH or postgres://USER@HOST:PORT/DB".into(),
            });
        };
        let err = |message: String| ServiceError::Database { url: shown.clone(), message };
        let max = if backend == Backend::Sqlite { 1 } else { 8 };
        let sqlite = backend == Backend::Sqlite;
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            // SQLite checks foreign keys (the cascades of a removed bot) only
            // when each connection asks; the pool may open new ones.
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|e| err(e.to_string()))?;
        if sqlite {
            // A file that is not a database, or one locked by another writer,
            // is refused here, before anything is written.
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await.map_err(|e| err(e.to_string()))?;
        }
        let migrator = match backend {
            Backend::Sqlite => &SQLITE,
            Backend::Postgres => &POSTGRES,
        };
        migrator.run(&pool).await.map_err(|e| err(format!("migrating the schema: {e}")))?;
        Ok(Db { pool, backend, url: shown })
    }

    /// Begins a write transaction. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`, waiting up to the busy timeout for another
    /// writer): a deferred transaction that reads first and then writes is
    /// refused at once ("database is locked") when another process (a CLI
    /// command, a second reader) wrote in between.
    pub async fn begin_write(&self) -> std::result::Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL, without its password.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The connection pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A URL with any password replaced by `***`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Milliseconds since the Unix epoch (the service's clock; the core has none).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgres://mg:hunter2@127.0.0.1:5432/mg"), "postgres://mg:***@127.0.0.1:5432/mg");
        assert_eq!(redact("postgres://mg@127.0.0.1/mg"), "postgres://mg@127.0.0.1/mg");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
