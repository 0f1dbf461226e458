//! Users' API keys in the database, sealed with the operator's master key.
//!
//! Each row (`api_keys`: account, label, venue, version) holds one key pair
//! as a [`SealedKeys`] record, the same AES-256-GCM format the file store
//! of `martingale-exchange` writes: a fresh random nonce per record, and
//! the account, label and version bound as associated data, so a row
//! copied to another account or label, or edited, does not open (it is
//! reported as tampered, never returned as somebody else's keys). The
//! `key_check` row holds a known text sealed with the master key, so a
//! wrong master key is told apart from a tampered row.
//!
//! Write-only: [`list`] shows labels, venues and versions, never a key;
//! keys are opened only by [`Keyring::load`], for the service's own use
//! (placing a bot's orders, `keys test`), and live in `Secret`s.
//!
//! Known limit: a row restored from an old backup of the same account and
//! label opens (the version is bound into the record but not checked
//! against a counter kept elsewhere, as the file store does); whoever can
//! write the database can also delete keys.

use martingale_core::fleet::AccountId;
use martingale_core::venue::Venue;
use martingale_exchange::{CredentialError, Credentials, KeyLabel, MasterKey, SealedKeys, Sealer};

use crate::bots::venue_name;
use crate::db::{now_ms, Db};
use crate::error::{Result, ServiceError};
use crate::users;

/// What is shown of a stored key: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Owning account.
    pub account: String,
    /// The key's label (what a bot's `--key` names).
    pub label: String,
    /// The venue it trades on.
    pub venue: Venue,
    /// Raised by every `put` of the label.
    pub version: i64,
    /// Last written (ms).
    pub updated_at: i64,
}

/// The master key's view of the database's keys. Shown as `Keyring(***)`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use martingale_core::venue::Venue;
/// use martingale_exchange::{Credentials, MasterKey};
/// use martingale_service::keys::{self, Keyring};
/// use martingale_service::{users, Db};
/// let dir = tempfile::tempdir().unwrap();
/// let db = Db::open_dir(dir.path()).await.unwrap();
/// users::add(&db, "alice").await.unwrap();
/// let master = MasterKey::generate();
/// let ring = Keyring::open(&db, &master).await.unwrap();
/// ring.put("alice", "main", Venue::Binance, &Credentials::new("AK", "SK")).await.unwrap();
/// let (venue, creds) = ring.load("alice", "main").await.unwrap();
/// assert_eq!((venue, creds.secret_key.expose()), (Venue::Binance, "SK"));
/// // Another user has no key of that name; another master key opens nothing.
/// users::add(&db, "bob").await.unwrap();
/// assert!(ring.load("bob", "main").await.is_err());
/// assert!(Keyring::open(&db, &MasterKey::generate()).await.is_err());
/// assert_eq!(keys::list(&db, "alice").await.unwrap()[0].label, "main");
/// # });
/// ```
pub struct Keyring {
    db: Db,
    sealer: Sealer,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(***)")
    }
}

fn names(account: &str, label: &str) -> Result<(AccountId, KeyLabel)> {
    let a = AccountId::new(account).map_err(|e| ServiceError::Invalid(e.to_string()))?;
    let l = KeyLabel::new(label).map_err(|e| ServiceError::Invalid(e.to_string()))?;
    Ok((a, l))
}

fn credential_error(e: CredentialError) -> ServiceError {
    ServiceError::Keys(e.to_string())
}

impl Keyring {
    /// Opens the keys with `master`. The first time, the key check is
    /// written; after that a different master key is refused (also when
    /// the check row was deleted: then the key must open a stored row).
    pub async fn open(db: &Db, master: &MasterKey) -> Result<Keyring> {
        let ring = Keyring { db: db.clone(), sealer: Sealer::new(master) };
        let check: Option<(String,)> = sqlx::query_as("SELECT sealed FROM key_check WHERE id = 1")
            .fetch_optional(db.pool())
            .await
            .map_err(ServiceError::query)?;
        let wrong = || {
            ServiceError::Keys(
                "the master key does not open the keys in this database (set MARTINGALE_MASTER_KEY or \
                 --master-key-file to the key they were added with)"
                    .into(),
            )
        };
        match check {
            Some((text,)) => {
                let ok = SealedKeys::from_text(&text).is_ok_and(|r| ring.sealer.opens_key_check(&r));
                if !ok {
                    return Err(wrong());
                }
            }
            None => {
                let rows: Vec<(String, String, String)> = sqlx::query_as("SELECT account, label, sealed FROM api_keys")
                    .fetch_all(db.pool())
                    .await
                    .map_err(ServiceError::query)?;
                let opens = |(a, l, s): &(String, String, String)| {
                    let (Ok((a, l)), Ok(r)) = (names(a, l), SealedKeys::from_text(s)) else { return false };
                    ring.sealer.opens(&a, &l, &r)
                };
                if !rows.is_empty() && !rows.iter().any(opens) {
                    return Err(wrong());
                }
                let text = ring.sealer.key_check().map_err(credential_error)?.to_text();
                // Two first starts at once: the other's check stands, and
                // is checked again.
                sqlx::query("INSERT INTO key_check (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
                    .bind(text)
                    .execute(db.pool())
                    .await
                    .map_err(ServiceError::query)?;
                return Box::pin(Keyring::open(db, master)).await;
            }
        }
        Ok(ring)
    }

    /// Stores (or replaces) `account`'s key pair `label` for `venue`, as
    /// the label's next version.
    pub async fn put(&self, account: &str, label: &str, venue: Venue, creds: &Credentials) -> Result<KeyInfo> {
        let (a, l) = names(account, label)?;
        users::get(&self.db, account).await?;
        if venue == Venue::Paper {
            return Err(ServiceError::Invalid("paper bots need no API key".into()));
        }
        let old: Option<(i64, i64)> =
            sqlx::query_as("SELECT version, created_at FROM api_keys WHERE account = $1 AND label = $2")
                .bind(account)
                .bind(label)
                .fetch_optional(self.db.pool())
                .await
                .map_err(ServiceError::query)?;
        let now = now_ms();
        let version = old.map_or(1, |(v, _)| v.saturating_add(1));
        let counter = u64::try_from(version).map_err(|_| ServiceError::Query("key version out of range".into()))?;
        let sealed = self.sealer.seal(&a, &l, counter, creds).map_err(credential_error)?.to_text();
        sqlx::query(
            "INSERT INTO api_keys (account, label, venue, version, sealed, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (account, label) DO UPDATE SET venue = $3, version = $4, sealed = $5, updated_at = $6",
        )
        .bind(account)
        .bind(label)
        .bind(venue_name(venue))
        .bind(version)
        .bind(sealed)
        .bind(now)
        .execute(self.db.pool())
        .await
        .map_err(ServiceError::query)?;
        Ok(KeyInfo { account: account.into(), label: label.into(), venue, version, updated_at: now })
    }

    /// Opens `account`'s key pair `label`: its venue and the keys.
    pub async fn load(&self, account: &str, label: &str) -> Result<(Venue, Credentials)> {
        let (a, l) = names(account, label)?;
        let row: Option<(String, i64, String)> =
            sqlx::query_as("SELECT venue, version, sealed FROM api_keys WHERE account = $1 AND label = $2")
                .bind(account)
                .bind(label)
                .fetch_optional(self.db.pool())
                .await
                .map_err(ServiceError::query)?;
        let Some((venue, version, sealed)) = row else {
            return Err(ServiceError::NotFound { kind: "key", name: label.to_string() });
        };
        let venue = venue_of(&venue)?;
        let record = SealedKeys::from_text(&sealed).map_err(|e| ServiceError::Keys(format!("key {label}: {e}")))?;
        if record.counter().and_then(|c| i64::try_from(c).ok()) != Some(version) {
            return Err(credential_error(CredentialError::Tampered { account: a, label: l }));
        }
        Ok((venue, self.sealer.open(&a, &l, &record).map_err(credential_error)?))
    }
}

fn venue_of(text: &str) -> Result<Venue> {
    text.parse().map_err(|e| ServiceError::Query(format!("stored key venue {text:?}: {e}")))
}

/// `account`'s keys (labels, venues, versions; never a key), by label.
pub async fn list(db: &Db, account: &str) -> Result<Vec<KeyInfo>> {
    users::get(db, account).await?;
    let rows: Vec<(String, String, i64, i64)> =
        sqlx::query_as("SELECT label, venue, version, updated_at FROM api_keys WHERE account = $1 ORDER BY label")
            .bind(account)
            .fetch_all(db.pool())
            .await
            .map_err(ServiceError::query)?;
    rows.into_iter()
        .map(|(label, venue, version, updated_at)| {
            Ok(KeyInfo { account: account.into(), label, venue: venue_of(&venue)?, version, updated_at })
        })
        .collect()
}

/// The venue of `account`'s key `label`; "not found" when the account has
/// no key of that name (whoever else has one).
pub async fn venue(db: &Db, account: &str, label: &str) -> Result<Venue> {
    let row: Option<(String,)> = sqlx::query_as("SELECT venue FROM api_keys WHERE account = $1 AND label = $2")
        .bind(account)
        .bind(label)
        .fetch_optional(db.pool())
        .await
        .map_err(ServiceError::query)?;
    match row {
        Some((v,)) => venue_of(&v),
        None => Err(ServiceError::NotFound { kind: "key", name: label.to_string() }),
    }
}

/// Deletes `account`'s key `label`. A key a bot trades with is kept unless
/// `force` (the bot then fails to start until it gets another key).
pub async fn remove(db: &Db, account: &str, label: &str, force: bool) -> Result<()> {
    venue(db, account, label).await?;
    let users: Vec<(String,)> = sqlx::query_as("SELECT bot_id FROM bots WHERE account = $1 AND key_label = $2")
        .bind(account)
        .bind(label)
        .fetch_all(db.pool())
        .await
        .map_err(ServiceError::query)?;
    if !users.is_empty() && !force {
        let ids: Vec<String> = users.into_iter().map(|(b,)| b).collect();
        return Err(ServiceError::Invalid(format!(
            "key {label} is used by bot(s) {}: remove them first, or --force",
            ids.join(", ")
        )));
    }
    sqlx::query("DELETE FROM api_keys WHERE account = $1 AND label = $2")
        .bind(account)
        .bind(label)
        .execute(db.pool())
        .await
        .map_err(ServiceError::query)?;
    Ok(())
}
