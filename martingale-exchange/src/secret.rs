//! Secrets (API keys) that never leak.
//!
//! A [`Secret`] is zeroized when dropped and prints as `Secret(***)` in
//! `Debug` and `***` in `Display`, so it cannot reach a log line, an error
//! message or a panic through formatting. The only way to read it is
//! [`Secret::expose`], which the signing code calls.

use std::fmt;

use zeroize::Zeroizing;

/// A secret string (API key, secret key, passphrase).
///
/// ```
/// use martingale_exchange::Secret;
/// let s = Secret::new("canary-123");
/// assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
/// assert_eq!(s.expose(), "canary-123");
/// ```
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret itself, for signing. Never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// An API key pair.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// Public key id (sent in headers, still treated as a secret).
    pub api_key: Secret,
    /// Signing key.
    pub secret_key: Secret,
    /// Passphrase chosen when the key was created (OKX), if the venue has one.
    pub passphrase: Option<Secret>,
}

impl Credentials {
    /// A key pair without passphrase.
    pub fn new(api_key: impl Into<String>, secret_key: impl Into<String>) -> Credentials {
        Credentials { api_key: Secret::new(api_key), secret_key: Secret::new(secret_key), passphrase: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_never_appears_in_formatting() {
        let creds = Credentials {
            api_key: Secret::new("CANARY-KEY-1"),
            secret_key: Secret::new("CANARY-SECRET-2"),
            passphrase: Some(Secret::new("CANARY-PASS-3")),
        };
        let shown = format!("{creds:?} {} {:#?}", creds.api_key, creds);
        assert!(!shown.contains("CANARY"), "{shown}");
        let err = std::io::Error::other(format!("failed with {:?}", creds.secret_key));
        assert!(!err.to_string().contains("CANARY"));
        let panic = std::panic::catch_unwind(|| panic!("boom {:?}", Secret::new("CANARY-3")));
        let msg = panic.err().and_then(|p| p.downcast_ref::<String>().cloned()).unwrap_or_default();
        assert!(msg.contains("Secret(***)") && !msg.contains("CANARY"));
    }
}
