//! The sealed record of one key pair, shared by every credential store
//! (the files of [`CredentialStore`](super::CredentialStore) and the
//! database of the operator service).
//!
//! A record is `{"version":2,"counter":n,"nonce":"<base64>","ciphertext":"<base64>"}`:
//! AES-256-GCM under the master key with a fresh random 96-bit nonce from
//! the OS, the plaintext a small JSON object of the key, secret and
//! passphrase, and the associated data
//! `martingale-credentials/v2 \0 account \0 label \0 counter`. So a record
//! opens only under the account and label it was sealed for (copied to
//! another account or renamed, it is [`CredentialError::Tampered`], never
//! somebody else's keys), and its counter cannot be edited. Format 1 (no
//! counter) is still opened.

use std::fmt;
use std::io;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use martingale_core::fleet::AccountId;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{CredentialError, KeyLabel, MasterKey};
use crate::secret::{Credentials, Secret};

/// The known text of a key check (see [`Sealer::key_check`]).
const KEYCHECK: &[u8] = b"martingale credential store key check v1";

/// One sealed key pair, or a store's key check (see the module docs).
/// Its `Debug` shows the format and counter only.
///
/// ```
/// use martingale_core::fleet::AccountId;
/// use martingale_exchange::{Credentials, KeyLabel, MasterKey, SealedKeys, Sealer};
/// let sealer = Sealer::new(&MasterKey::generate());
/// let (alice, main) = (AccountId::new("alice").unwrap(), KeyLabel::new("main").unwrap());
/// let text = sealer.seal(&alice, &main, 1, &Credentials::new("AK", "SK")).unwrap().to_text();
/// assert!(!text.contains("SK"));
/// let record = SealedKeys::from_text(&text).unwrap();
/// assert_eq!(sealer.open(&alice, &main, &record).unwrap().secret_key.expose(), "SK");
/// // Bound to its account: another account's name does not open it.
/// let bob = AccountId::new("bob").unwrap();
/// assert!(sealer.open(&bob, &main, &record).is_err());
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct SealedKeys {
    pub(super) version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) counter: Option<u64>,
    pub(super) nonce: String,
    pub(super) ciphertext: String,
}

impl fmt::Debug for SealedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedKeys")
            .field("version", &self.version)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl SealedKeys {
    /// The record as JSON text (what a store writes).
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a record written by [`SealedKeys::to_text`].
    pub fn from_text(text: &str) -> Result<SealedKeys, String> {
        serde_json::from_str(text).map_err(|e| format!("not a sealed key record: {e}"))
    }

    /// The counter bound into the record (none for format 1).
    pub fn counter(&self) -> Option<u64> {
        self.counter
    }
}

#[derive(Serialize, Deserialize)]
struct Plain {
    api_key: String,
    secret_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    passphrase: Option<String>,
}

pub(super) fn aad(account: &AccountId, label: &KeyLabel, counter: Option<u64>) -> Vec<u8> {
    match counter {
        None => format!("martingale-credentials/v1\0{account}\0{label}").into_bytes(),
        Some(n) => format!("martingale-credentials/v2\0{account}\0{label}\0{n}").into_bytes(),
    }
}

/// Seals and opens [`SealedKeys`] with one master key. Shown as `Sealer(***)`.
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    /// A sealer for `key`.
    pub fn new(key: &MasterKey) -> Sealer {
        Sealer { cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.0.as_slice())) }
    }

    /// Seals `creds` for `account`'s `label` as version `counter`.
    pub fn seal(
        &self,
        account: &AccountId,
        label: &KeyLabel,
        counter: u64,
        creds: &Credentials,
    ) -> Result<SealedKeys, CredentialError> {
        let plain = Zeroizing::new(
            serde_json::to_vec(&Plain {
                api_key: creds.api_key.expose().to_string(),
                secret_key: creds.secret_key.expose().to_string(),
                passphrase: creds.passphrase.as_ref().map(|p| p.expose().to_string()),
            })
            .map_err(io::Error::other)?,
        );
        self.encrypt(&plain, &aad(account, label, Some(counter)), Some(counter))
    }

    /// Opens `account`'s `label` record: [`CredentialError::Tampered`] if it
    /// was sealed for another account or label, changed, or sealed with
    /// another key.
    pub fn open(
        &self,
        account: &AccountId,
        label: &KeyLabel,
        record: &SealedKeys,
    ) -> Result<Credentials, CredentialError> {
        let plain = self
            .decrypt(record, &aad(account, label, record.counter))
            .map_err(|()| CredentialError::Tampered { account: account.clone(), label: label.clone() })?;
        let p: Plain = serde_json::from_slice(&plain).map_err(|_| CredentialError::Malformed {
            account: account.clone(),
            label: label.clone(),
            reason: "bad plaintext".into(),
        })?;
        let p = (Zeroizing::new(p.api_key), Zeroizing::new(p.secret_key), p.passphrase.map(Zeroizing::new));
        Ok(Credentials {
            api_key: Secret::new(p.0.as_str()),
            secret_key: Secret::new(p.1.as_str()),
            passphrase: p.2.as_ref().map(|s| Secret::new(s.as_str())),
        })
    }

    /// True when `record` opens under `account` and `label` (tells a wrong
    /// master key apart from a tampered record when no key check exists).
    pub fn opens(&self, account: &AccountId, label: &KeyLabel, record: &SealedKeys) -> bool {
        self.decrypt(record, &aad(account, label, record.counter)).is_ok()
    }

    /// A key check: a known text sealed with this key, kept beside the
    /// records so a wrong master key is told apart from a tampered record.
    pub fn key_check(&self) -> Result<SealedKeys, CredentialError> {
        self.encrypt(KEYCHECK, b"keycheck", None)
    }

    /// True when `check` is a [`Sealer::key_check`] of this key.
    pub fn opens_key_check(&self, check: &SealedKeys) -> bool {
        self.decrypt(check, b"keycheck").is_ok_and(|p| p.as_slice() == KEYCHECK)
    }

    pub(super) fn encrypt(
        &self,
        plain: &[u8],
        aad: &[u8],
        counter: Option<u64>,
    ) -> Result<SealedKeys, CredentialError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, Payload { msg: plain, aad })
            .map_err(|_| CredentialError::Io(io::Error::other("encryption failed")))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let version = if counter.is_some() { 2 } else { 1 };
        Ok(SealedKeys { version, counter, nonce: b64.encode(nonce), ciphertext: b64.encode(ciphertext) })
    }

    pub(super) fn decrypt(&self, record: &SealedKeys, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, ()> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let nonce = b64.decode(&record.nonce).map_err(|_| ())?;
        let ciphertext = b64.decode(&record.ciphertext).map_err(|_| ())?;
        let known = matches!((record.version, record.counter), (1, None) | (2, Some(_)));
        if !known || nonce.len() != 12 {
            return Err(());
        }
        self.cipher
            .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ciphertext, aad })
            .map(Zeroizing::new)
            .map_err(|_| ())
    }
}
