//! Per-user API keys, encrypted at rest with AES-256-GCM.
//!
//! Layout: `<dir>/<account>/<label>.json`, one record per key pair:
//! `{"version":1,"nonce":"<base64>","ciphertext":"<base64>"}`. Each record
//! has its own random 96-bit nonce (from the OS) and is bound to its
//! account and label as associated data, so a record copied into another
//! account's directory, or renamed, does not decrypt: it is reported as
//! tampered, never returned as somebody else's keys. `<dir>/keycheck.json`
//! holds a known text encrypted with the master key, so a wrong master key
//! is told apart from a tampered record.
//!
//! Rollback: every `put` (and `remove`) of a label raises that label's
//! version counter, kept encrypted inside the key check; a record (format
//! 2: `{"version":2,"counter":n,...}`) binds its counter in its associated
//! data, so it cannot be edited, and a record whose counter is below the
//! key check's (an old record restored after a key rotation) is refused as
//! [`CredentialError::RolledBack`]. A record written before the counters
//! existed (format 1) still loads until its label is written again.
//!
//! A missing key check is never recreated blindly: if the store holds
//! records, the master key must decrypt at least one of them (else
//! [`CredentialError::WrongKey`]), and the counters are rebuilt from the
//! records that decrypt. Limits: restoring an old key check together with
//! old records, or deleting the key check after rolling records back, is
//! not detected (the counters live in the same folder as the records).
//! Account folders that are symbolic links are refused (never written or
//! read through); folders are created 0700, files 0600.
//!
//! The master key comes from the environment ([`MASTER_KEY_ENV`], base64
//! or hex of 32 bytes) or from a key file; it is zeroized on drop and
//! shown as `***`. Account ids and labels are `[A-Za-z0-9_-]`, so neither
//! can name a path outside its directory. Keys are decrypted only when a
//! bot starts ([`CredentialStore::load`]) and live in [`Secret`]s.
//!
//! Limitations: the store protects keys at rest; a process holding the
//! master key can read every account's records, so the API surface that
//! reaches users must go through [`AccountKeys`] (one account's view).

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use aes_gcm::aead::{KeyInit, OsRng};
use aes_gcm::Aes256Gcm;
use base64::Engine as _;
use martingale_core::fleet::AccountId;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::secret::{Credentials, Secret};

mod sealed;
use sealed::aad;
pub use sealed::{SealedKeys, Sealer};

/// Environment variable read by [`MasterKey::from_env`].
pub const MASTER_KEY_ENV: &str = "MARTINGALE_MASTER_KEY";

const KEYCHECK_V2: &str = "martingale credential store key check v2";

/// Why a credential operation failed. Never contains key material.
#[derive(Debug, Error)]
pub enum CredentialError {
    /// No master key where one was expected.
    #[error("no master key: {0}")]
    MissingKey(String),
    /// The master key is not 32 bytes of base64 or hex.
    #[error("master key must be 32 bytes, base64 or hex encoded ({0})")]
    BadKey(String),
    /// The master key does not open this store.
    #[error("the master key does not open the credential store at {0}")]
    WrongKey(PathBuf),
    /// A record failed authentication: modified, moved or renamed.
    #[error("credentials {account}/{label} are tampered with (or were moved from another account)")]
    Tampered {
        /// Account.
        account: AccountId,
        /// Label.
        label: KeyLabel,
    },
    /// No such record.
    #[error("no credentials {account}/{label}")]
    NotFound {
        /// Account.
        account: AccountId,
        /// Label.
        label: KeyLabel,
    },
    /// A record that is not a record.
    #[error("credentials {account}/{label} are malformed: {reason}")]
    Malformed {
        /// Account.
        account: AccountId,
        /// Label.
        label: KeyLabel,
        /// What is wrong.
        reason: String,
    },
    /// An older record of a label than the store last wrote (restored
    /// from a backup or left from before a key rotation).
    #[error(
        "credentials {account}/{label} are version {found} but the store wrote version {expected}: an old record \
         was restored; put the current keys again"
    )]
    RolledBack {
        /// Account.
        account: AccountId,
        /// Label.
        label: KeyLabel,
        /// Version of the record found.
        found: u64,
        /// Version the store last wrote.
        expected: u64,
    },
    /// An invalid label.
    #[error("key label {0:?} must be 1 to 64 characters of [A-Za-z0-9_-]")]
    BadLabel(String),
    /// File system error.
    #[error("credential store: {0}")]
    Io(#[from] io::Error),
}

/// The name of one key pair of an account (`main`, `binance-sub1`, ...).
///
/// ```
/// use martingale_exchange::KeyLabel;
/// assert!(KeyLabel::new("binance_main").is_ok());
/// assert!(KeyLabel::new("../bob/main").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyLabel(String);

impl KeyLabel {
    /// Validates a label.
    pub fn new(label: impl Into<String>) -> Result<KeyLabel, CredentialError> {
        let label = label.into();
        let ok = !label.is_empty()
            && label.len() <= 64
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(KeyLabel(label))
        } else {
            Err(CredentialError::BadLabel(label))
        }
    }

    /// The label as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyLabel {
    type Error = CredentialError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        KeyLabel::new(s)
    }
}

impl From<KeyLabel> for String {
    fn from(l: KeyLabel) -> String {
        l.0
    }
}

impl fmt::Display for KeyLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The 256-bit key that encrypts a store (zeroized on drop, never shown).
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    /// A key from raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(Zeroizing::new(bytes))
    }

    /// A fresh random key (from the OS).
    pub fn generate() -> MasterKey {
        let key = Aes256Gcm::generate_key(&mut OsRng);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&key);
        MasterKey::from_bytes(bytes)
    }

    /// Parses base64 (standard, padded) or hex (64 digits); whitespace around
    /// it is ignored.
    pub fn parse(text: &str) -> Result<MasterKey, CredentialError> {
        let text = text.trim();
        let bytes = Zeroizing::new(if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| CredentialError::BadKey("bad hex".into()))?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| CredentialError::BadKey("neither hex nor base64".into()))?
        });
        let arr: [u8; 32] =
            bytes.as_slice().try_into().map_err(|_| CredentialError::BadKey(format!("{} bytes", bytes.len())))?;
        Ok(MasterKey::from_bytes(arr))
    }

    /// The key in [`MASTER_KEY_ENV`].
    pub fn from_env() -> Result<MasterKey, CredentialError> {
        let value = Zeroizing::new(
            std::env::var(MASTER_KEY_ENV)
                .map_err(|_| CredentialError::MissingKey(format!("{MASTER_KEY_ENV} is not set")))?,
        );
        MasterKey::parse(&value)
    }

    /// The key in a file (base64 or hex).
    pub fn from_file(path: impl AsRef<Path>) -> Result<MasterKey, CredentialError> {
        let text = Zeroizing::new(fs::read_to_string(path.as_ref()).map_err(|e| {
            CredentialError::MissingKey(format!("cannot read key file {}: {e}", path.as_ref().display()))
        })?);
        MasterKey::parse(&text)
    }

    /// The key as base64, to write a key file once.
    pub fn to_base64(&self) -> Secret {
        Secret::new(base64::engine::general_purpose::STANDARD.encode(self.0.as_slice()))
    }
}

/// The key check's plaintext (format 2): the label versions.
#[derive(Serialize, Deserialize, Default)]
struct Check {
    check: String,
    versions: BTreeMap<String, u64>,
}

/// Encrypted API keys of many accounts in a directory (see the module docs).
///
/// ```
/// use martingale_exchange::{AccountKeys, CredentialStore, Credentials, KeyLabel, MasterKey, Secret};
/// use martingale_core::fleet::AccountId;
/// let dir = tempfile::tempdir().unwrap();
/// let store = CredentialStore::open(dir.path(), MasterKey::generate()).unwrap();
/// let alice = AccountId::new("alice").unwrap();
/// let main = KeyLabel::new("main").unwrap();
/// store.put(&alice, &main, &Credentials::new("AK", "SK")).unwrap();
/// // What a user-facing layer holds: one account's view.
/// let keys: AccountKeys = store.account(alice);
/// assert_eq!(keys.load(&main).unwrap().secret_key.expose(), "SK");
/// assert!(!std::fs::read_to_string(dir.path().join("alice/main.json")).unwrap().contains("SK"));
/// ```
pub struct CredentialStore {
    dir: PathBuf,
    sealer: Sealer,
    /// Label versions (`account/label`), mirrored in the key check.
    versions: Mutex<BTreeMap<String, u64>>,
}

impl fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialStore").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn slot(account: &AccountId, label: &KeyLabel) -> String {
    format!("{account}/{label}")
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    crate::store::write_atomic(path, bytes, true)
}

impl CredentialStore {
    /// Opens (or creates) a store. A store created with another key is
    /// refused with [`CredentialError::WrongKey`], also when its key check
    /// was deleted (see the module docs).
    pub fn open(dir: impl AsRef<Path>, key: MasterKey) -> Result<CredentialStore, CredentialError> {
        let dir = dir.as_ref().to_path_buf();
        crate::store::private_dir(&dir)?;
        let store = CredentialStore { dir, sealer: Sealer::new(&key), versions: Mutex::default() };
        let check = store.dir.join("keycheck.json");
        match fs::read_to_string(&check) {
            Ok(text) => {
                let record = serde_json::from_str::<SealedKeys>(&text).ok();
                let plain = record.as_ref().and_then(|r| store.sealer.decrypt(r, b"keycheck").ok());
                let versions = match plain {
                    // Format 1: the known text alone, no label versions.
                    Some(_) if record.as_ref().is_some_and(|r| store.sealer.opens_key_check(r)) => BTreeMap::new(),
                    Some(p) => match serde_json::from_slice::<Check>(&p) {
                        Ok(c) if c.check == KEYCHECK_V2 => c.versions,
                        _ => return Err(CredentialError::WrongKey(store.dir.clone())),
                    },
                    None => return Err(CredentialError::WrongKey(store.dir.clone())),
                };
                *store.versions.lock().map_err(|_| io::Error::other("poisoned"))? = versions;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let versions = store.versions_from_records()?;
                store.write_check(&versions)?;
                *store.versions.lock().map_err(|_| io::Error::other("poisoned"))? = versions;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(store)
    }

    /// Without a key check: the versions of the records the key decrypts;
    /// [`CredentialError::WrongKey`] if there are records and none does.
    fn versions_from_records(&self) -> Result<BTreeMap<String, u64>, CredentialError> {
        let mut versions = BTreeMap::new();
        let (mut found, mut opened) = (0usize, 0usize);
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Some(account) = entry.file_name().to_str().and_then(|a| AccountId::new(a).ok()) else { continue };
            if !entry.file_type()?.is_dir() {
                continue;
            }
            for label in self.labels(&account)? {
                found += 1;
                let Ok(text) = fs::read_to_string(self.path(&account, &label)) else { continue };
                let Ok(record) = serde_json::from_str::<SealedKeys>(&text) else { continue };
                if self.sealer.decrypt(&record, &aad(&account, &label, record.counter)).is_ok() {
                    opened += 1;
                    if let Some(n) = record.counter {
                        versions.insert(slot(&account, &label), n);
                    }
                }
            }
        }
        if found > 0 && opened == 0 {
            return Err(CredentialError::WrongKey(self.dir.clone()));
        }
        Ok(versions)
    }

    fn write_check(&self, versions: &BTreeMap<String, u64>) -> Result<(), CredentialError> {
        let plain = serde_json::to_vec(&Check { check: KEYCHECK_V2.into(), versions: versions.clone() })
            .map_err(io::Error::other)?;
        let record = self.sealer.encrypt(&plain, b"keycheck", None)?;
        write_atomic(&self.dir.join("keycheck.json"), &serde_json::to_vec(&record).map_err(io::Error::other)?)?;
        Ok(())
    }

    /// Raises a label's version and saves the key check; returns the new version.
    fn bump(&self, account: &AccountId, label: &KeyLabel) -> Result<u64, CredentialError> {
        let mut versions = self.versions.lock().map_err(|_| io::Error::other("credential store lock poisoned"))?;
        let mut next = versions.clone();
        let n = next.get(&slot(account, label)).copied().unwrap_or(0).saturating_add(1);
        next.insert(slot(account, label), n);
        self.write_check(&next)?;
        *versions = next;
        Ok(n)
    }

    /// The account's folder, refused if it is a symbolic link.
    fn account_dir(&self, account: &AccountId, create: bool) -> Result<PathBuf, CredentialError> {
        let dir = self.dir.join(account.as_str());
        if create {
            crate::store::private_dir(&dir)?;
        } else if fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(CredentialError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is a symbolic link; refusing to read keys through it", dir.display()),
            )));
        }
        Ok(dir)
    }

    fn path(&self, account: &AccountId, label: &KeyLabel) -> PathBuf {
        // Both are [A-Za-z0-9_-]: no separators, no `..`.
        self.dir.join(account.as_str()).join(format!("{}.json", label.as_str()))
    }

    /// Stores (or replaces) a key pair, encrypted under a fresh nonce, as
    /// the label's next version.
    pub fn put(&self, account: &AccountId, label: &KeyLabel, creds: &Credentials) -> Result<(), CredentialError> {
        self.account_dir(account, true)?;
        // The key check first: a crash before the record leaves an older
        // record, refused as rolled back, never an unchecked one.
        let n = self.bump(account, label)?;
        let record = self.sealer.seal(account, label, n, creds)?;
        write_atomic(&self.path(account, label), &serde_json::to_vec(&record).map_err(io::Error::other)?)?;
        Ok(())
    }

    /// Decrypts one key pair of one account.
    pub fn load(&self, account: &AccountId, label: &KeyLabel) -> Result<Credentials, CredentialError> {
        self.account_dir(account, false)?;
        let text = match fs::read_to_string(self.path(account, label)) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(CredentialError::NotFound { account: account.clone(), label: label.clone() })
            }
            Err(e) => return Err(e.into()),
        };
        let malformed =
            |reason: String| CredentialError::Malformed { account: account.clone(), label: label.clone(), reason };
        let record: SealedKeys = serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
        let creds = self.sealer.open(account, label, &record)?;
        let expected = self
            .versions
            .lock()
            .map_err(|_| io::Error::other("credential store lock poisoned"))?
            .get(&slot(account, label))
            .copied()
            .unwrap_or(0);
        let found = record.counter.unwrap_or(0);
        if found < expected {
            return Err(CredentialError::RolledBack {
                account: account.clone(),
                label: label.clone(),
                found,
                expected,
            });
        }
        Ok(creds)
    }

    /// Deletes a key pair (no error if absent); its version is raised, so
    /// the deleted record restored from a backup is refused.
    pub fn remove(&self, account: &AccountId, label: &KeyLabel) -> Result<(), CredentialError> {
        match fs::remove_file(self.path(account, label)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            Err(_) => Ok(()),
            Ok(()) => self.bump(account, label).map(|_| ()),
        }
    }

    /// Labels of one account's key pairs, sorted.
    pub fn labels(&self, account: &AccountId) -> Result<Vec<KeyLabel>, CredentialError> {
        let dir = self.dir.join(account.as_str());
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for entry in entries {
            let name = entry?.file_name();
            if let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) {
                if let Ok(label) = KeyLabel::new(stem) {
                    out.push(label);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// One account's view of the store: it can only reach that account's keys.
    pub fn account(&self, account: AccountId) -> AccountKeys<'_> {
        AccountKeys { store: self, account }
    }
}

/// One account's keys: what the layer serving a user holds. It has no way
/// to name another account.
#[derive(Debug)]
pub struct AccountKeys<'a> {
    store: &'a CredentialStore,
    account: AccountId,
}

impl AccountKeys<'_> {
    /// The account.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// Stores a key pair of this account.
    pub fn put(&self, label: &KeyLabel, creds: &Credentials) -> Result<(), CredentialError> {
        self.store.put(&self.account, label, creds)
    }

    /// Loads a key pair of this account.
    pub fn load(&self, label: &KeyLabel) -> Result<Credentials, CredentialError> {
        self.store.load(&self.account, label)
    }

    /// This account's labels.
    pub fn labels(&self) -> Result<Vec<KeyLabel>, CredentialError> {
        self.store.labels(&self.account)
    }
}

#[cfg(test)]
mod tests;
