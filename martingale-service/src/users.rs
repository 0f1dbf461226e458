//! Users (accounts): every bot, key and record belongs to exactly one.

use martingale_core::fleet::AccountId;

use crate::db::{now_ms, Db};
use crate::error::{Result, ServiceError};

/// One user of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The account id (also the user's name).
    pub name: AccountId,
    /// When the user was added (ms since the Unix epoch).
    pub created_at: i64,
}

/// Adds a user.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use martingale_service::{users, Db, ServiceError};
/// let dir = tempfile::tempdir().unwrap();
/// let db = Db::open_dir(dir.path()).await.unwrap();
/// users::add(&db, "alice").await.unwrap();
/// assert!(matches!(users::add(&db, "alice").await, Err(ServiceError::Exists { .. })));
/// assert_eq!(users::list(&db).await.unwrap()[0].name.as_str(), "alice");
/// # });
/// ```
pub async fn add(db: &Db, name: &str) -> Result<User> {
    let name = AccountId::new(name).map_err(|e| ServiceError::Invalid(e.to_string()))?;
    let now = now_ms();
    if get(db, name.as_str()).await.is_ok() {
        return Err(ServiceError::Exists { kind: "user", name: name.as_str().to_string() });
    }
    sqlx::query("INSERT INTO users (name, created_at) VALUES ($1, $2)")
        .bind(name.as_str())
        .bind(now)
        .execute(db.pool())
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                ServiceError::Exists { kind: "user", name: name.as_str().to_string() }
            }
            e => ServiceError::query(e),
        })?;
    Ok(User { name, created_at: now })
}

/// Every user, by name.
pub async fn list(db: &Db) -> Result<Vec<User>> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT name, created_at FROM users ORDER BY name")
        .fetch_all(db.pool())
        .await
        .map_err(ServiceError::query)?;
    rows.into_iter().map(|(name, created_at): (String, i64)| Ok(User { name: account(&name)?, created_at })).collect()
}

/// One user; [`ServiceError::NotFound`] if there is none of that name.
pub async fn get(db: &Db, name: &str) -> Result<User> {
    let row: Option<(String, i64)> =
        sqlx::query_as::<_, (String, i64)>("SELECT name, created_at FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(db.pool())
            .await
            .map_err(ServiceError::query)?;
    match row {
        Some((name, created_at)) => Ok(User { name: account(name.as_str())?, created_at }),
        None => Err(ServiceError::NotFound { kind: "user", name: name.to_string() }),
    }
}

fn account(name: &str) -> Result<AccountId> {
    AccountId::new(name).map_err(|e| ServiceError::Query(format!("stored user name is invalid: {e}")))
}
