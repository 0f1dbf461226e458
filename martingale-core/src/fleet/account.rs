//! Account ids and the (account, bot) key of an engine in a fleet.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::engine::BotId;

/// Longest account id.
pub const MAX_ACCOUNT_ID_LEN: usize = 64;

/// An invalid account id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("account id {id:?} must be 1 to 64 characters of [A-Za-z0-9_-]")]
pub struct InvalidAccountId {
    /// The rejected id.
    pub id: String,
}

/// Identifier of a user account (the owner of bots and API keys).
///
/// Restricted to `[A-Za-z0-9_-]` so it is safe as a file name and a log
/// field: an id can never name a path outside its own directory.
///
/// ```
/// use martingale_core::fleet::AccountId;
/// assert!(AccountId::new("alice_01").is_ok());
/// assert!(AccountId::new("../bob").is_err());
/// assert!(AccountId::new("").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl AccountId {
    /// Validates and wraps an account id.
    pub fn new(id: impl Into<String>) -> Result<AccountId, InvalidAccountId> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= MAX_ACCOUNT_ID_LEN
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(AccountId(id))
        } else {
            Err(InvalidAccountId { id })
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AccountId {
    type Error = InvalidAccountId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        AccountId::new(s)
    }
}

impl From<AccountId> for String {
    fn from(a: AccountId) -> String {
        a.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key of one engine: the account that owns it and its bot id.
///
/// ```
/// use martingale_core::fleet::EngineKey;
/// let key = EngineKey::parse("alice", "btc1").unwrap();
/// assert_eq!(key.to_string(), "alice/btc1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EngineKey {
    /// Owner.
    pub account: AccountId,
    /// Bot.
    pub bot: BotId,
}

/// An account id or a bot id that does not validate.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidKey {
    /// Bad account id.
    #[error(transparent)]
    Account(#[from] InvalidAccountId),
    /// Bad bot id.
    #[error(transparent)]
    Bot(#[from] crate::engine::InvalidBotId),
}

impl EngineKey {
    /// A key from its parts.
    pub fn new(account: AccountId, bot: BotId) -> EngineKey {
        EngineKey { account, bot }
    }

    /// Validates both parts.
    pub fn parse(account: &str, bot: &str) -> Result<EngineKey, InvalidKey> {
        Ok(EngineKey { account: AccountId::new(account)?, bot: BotId::new(bot)? })
    }
}

impl fmt::Display for EngineKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.account, self.bot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_paths_and_separators() {
        for bad in ["a/b", "a\\b", "..", "a b", "é", &"x".repeat(65)] {
            assert!(AccountId::new(bad).is_err(), "{bad}");
        }
        assert!(AccountId::new("x".repeat(64)).is_ok());
        let json = serde_json::to_string(&EngineKey::parse("u1", "b1").unwrap()).unwrap();
        assert_eq!(json, r#"{"account":"u1","bot":"b1"}"#);
        assert!(serde_json::from_str::<EngineKey>(r#"{"account":"../x","bot":"b1"}"#).is_err());
    }
}
