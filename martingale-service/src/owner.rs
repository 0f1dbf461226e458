//! Who runs the bots of a database: one `martingale serve` at a time.
//!
//! The owning process holds the single row of `service_owner` and renews
//! its heartbeat every [`HEARTBEAT`]; a second process finds a fresh
//! heartbeat and refuses to start, naming the holder. A holder that died
//! without releasing is taken over once its heartbeat is older than
//! [`STALE_AFTER`], or at once when it ran on this host and its process
//! is gone (after a crash or `kill -9`). This is the one place that decides ownership: per-bot
//! leases (several processes on one Postgres) replace it later.

use std::time::Duration;

use crate::db::{now_ms, Db};
use crate::error::{Result, ServiceError};

/// The host part of a holder whose host name is unknown: its claim is
/// never taken over early (two machines could both be "unknown").
pub const UNKNOWN_HOST: &str = "unknown-host";

/// How often the owner renews its claim.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A claim not renewed for this long is considered dead.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// A held claim on a database (release it with [`Ownership::release`]).
#[derive(Debug)]
pub struct Ownership {
    db: Db,
    holder: String,
}

/// True when the holder ran on this host (`host:pid` names) and its
/// process is gone (or a zombie): its claim is taken over at once instead of after
/// [`STALE_AFTER`] (Linux, where `/proc` shows live processes; elsewhere
/// the wait applies). A reused pid only makes the wait apply.
fn died_here(holder: &str, pid: i64, me: &str) -> bool {
    let host = |h: &str| h.rsplit_once(':').map(|(host, _)| host.to_string());
    cfg!(target_os = "linux") && host(holder).is_some_and(|h| h != UNKNOWN_HOST && Some(h) == host(me)) && !alive(pid)
}

/// True while `/proc` shows `pid` as a process that is not a zombie (a
/// killed process whose parent has not collected it yet is dead).
fn alive(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => {
            stat.rsplit_once(')').is_some_and(|(_, rest)| !matches!(rest.trim_start().chars().next(), Some('Z' | 'X')))
        }
        Err(_) => false,
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Ownership {
    /// Claims `db` for this process (`holder` names it in refusals, e.g.
    /// `host:pid`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use martingale_service::{Db, Ownership, ServiceError};
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open_dir(dir.path()).await.unwrap();
    /// let first = Ownership::acquire(&db, "host-a", 1).await.unwrap();
    /// let second = Ownership::acquire(&db, "host-b", 2).await;
    /// assert!(matches!(second, Err(ServiceError::Owned { pid: 1, .. })));
    /// first.release().await.unwrap();
    /// assert!(Ownership::acquire(&db, "host-b", 2).await.is_ok());
    /// # });
    /// ```
    pub async fn acquire(db: &Db, holder: &str, pid: i64) -> Result<Ownership> {
        Ownership::acquire_at(db, holder, pid, now_ms()).await
    }

    /// [`Ownership::acquire`] at a given time (tests).
    pub async fn acquire_at(db: &Db, holder: &str, pid: i64, now: i64) -> Result<Ownership> {
        let mut tx = db.begin_write().await.map_err(ServiceError::query)?;
        let row: Option<(String, i64, i64)> =
            sqlx::query_as("SELECT holder, pid, heartbeat FROM service_owner WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(ServiceError::query)?;
        match row {
            None => {
                sqlx::query(
                    "INSERT INTO service_owner (id, holder, pid, acquired_at, heartbeat) VALUES (1, $1, $2, $3, $4)",
                )
                .bind(holder)
                .bind(pid)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| match e {
                    // Another process inserted first (both saw no row).
                    sqlx::Error::Database(d) if d.is_unique_violation() => {
                        ServiceError::Owned { holder: "another process".into(), pid: 0, age_secs: 0, wait_secs: 30 }
                    }
                    e => ServiceError::query(e),
                })?;
            }
            Some((h, p, beat))
                if now - beat < ms(STALE_AFTER) && !(h == holder && p == pid) && !died_here(&h, p, holder) =>
            {
                return Err(ServiceError::Owned {
                    holder: h,
                    pid: p,
                    age_secs: (now - beat) / 1000,
                    wait_secs: (ms(STALE_AFTER) - (now - beat)).max(0) / 1000 + 1,
                });
            }
            Some((h, p, beat)) => {
                tracing::warn!(previous = %h, pid = p, heartbeat_age_ms = now - beat, "taking over a database whose owner stopped renewing its claim");
                sqlx::query("UPDATE service_owner SET holder = $1, pid = $2, acquired_at = $3, heartbeat = $4 WHERE id = 1 AND heartbeat = $5")
                    .bind(holder)
                    .bind(pid)
                    .bind(now)
                    .bind(now)
                    .bind(beat)
                    .execute(&mut *tx)
                    .await
                    .map_err(ServiceError::query)?;
            }
        }
        tx.commit().await.map_err(ServiceError::query)?;
        // Read back: whoever holds the row now is the owner.
        let (h, p): (String, i64) = sqlx::query_as("SELECT holder, pid FROM service_owner WHERE id = 1")
            .fetch_one(db.pool())
            .await
            .map_err(ServiceError::query)?;
        if h != holder || p != pid {
            return Err(ServiceError::Owned { holder: h, pid: p, age_secs: 0, wait_secs: 30 });
        }
        Ok(Ownership { db: db.clone(), holder: holder.to_string() })
    }

    /// Renews the claim; an error means this process no longer owns the
    /// database and must stop trading.
    pub async fn renew(&self) -> Result<()> {
        self.renew_at(now_ms()).await
    }

    /// [`Ownership::renew`] at a given time (tests).
    pub async fn renew_at(&self, now: i64) -> Result<()> {
        let done = sqlx::query("UPDATE service_owner SET heartbeat = $1 WHERE id = 1 AND holder = $2")
            .bind(now)
            .bind(self.holder.as_str())
            .execute(self.db.pool())
            .await
            .map_err(ServiceError::query)?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(ServiceError::Owned { holder: "another process".into(), pid: 0, age_secs: 0, wait_secs: 0 })
        }
    }

    /// Gives the database up.
    pub async fn release(self) -> Result<()> {
        sqlx::query("DELETE FROM service_owner WHERE id = 1 AND holder = $1")
            .bind(self.holder.as_str())
            .execute(self.db.pool())
            .await
            .map_err(ServiceError::query)?;
        Ok(())
    }
}
