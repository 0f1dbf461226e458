//! Binance request signing (`EXCHANGES.md`): the payload is the query
//! string followed, with no separator, by the form body; non-ASCII is
//! percent-encoded before signing. HMAC-SHA256 keys give a lowercase hex
//! signature; Ed25519 keys give a base64 signature (percent-encoded when
//! placed in the query).

use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::Signer as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::ExchangeError;
use crate::secret::Secret;

/// How requests are signed.
pub enum Signer {
    /// HMAC-SHA256 with the secret key.
    Hmac(Secret),
    /// Ed25519 with a private key (PKCS#8 PEM).
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signer::Hmac(_) => "Signer::Hmac(***)",
            Signer::Ed25519(_) => "Signer::Ed25519(***)",
        })
    }
}

impl Signer {
    /// An Ed25519 signer from a PKCS#8 PEM private key.
    pub fn ed25519_from_pem(pem: &Secret) -> Result<Signer, ExchangeError> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem.expose())
            .map_err(|_| ExchangeError::Authentication("the Ed25519 private key is not a PKCS#8 PEM key".into()))?;
        Ok(Signer::Ed25519(Box::new(key)))
    }

    /// The signature of `query` + `body` (either may be empty), ready to be
    /// the `signature=` parameter (base64 signatures are percent-encoded).
    pub fn sign(&self, query: &str, body: &str) -> String {
        let payload = format!("{}{}", percent_encode_non_ascii(query), percent_encode_non_ascii(body));
        match self {
            Signer::Hmac(secret) => {
                // HMAC accepts keys of any length: `new_from_slice` cannot fail.
                let mut mac = match Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) {
                    Ok(m) => m,
                    Err(_) => return String::new(),
                };
                mac.update(payload.as_bytes());
                hex::encode(mac.finalize().into_bytes())
            }
            Signer::Ed25519(key) => {
                let sig = key.sign(payload.as_bytes());
                let b64 = base64::engine::general_purpose::STANDARD.encode(sig.to_bytes());
                b64.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
            }
        }
    }
}

/// Percent-encodes every non-ASCII byte (UTF-8), leaving ASCII as it is.
pub fn percent_encode_non_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Official example keys and signatures (EXCHANGES.md, Binance docs).
    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    #[test]
    fn hmac_official_vectors() {
        let s = Signer::Hmac(Secret::new(SECRET));
        assert_eq!(
            s.sign(
                "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
                ""
            ),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
        assert_eq!(
            s.sign(
                "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
                "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
            ),
            "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
        );
    }

    #[test]
    fn non_ascii_is_percent_encoded_before_signing() {
        let s = Signer::Hmac(Secret::new(SECRET));
        let raw = "symbol=１２３４５６&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert_eq!(s.sign(raw, ""), "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3");
        assert!(percent_encode_non_ascii(raw).starts_with("symbol=%EF%BC%91%EF%BC%92"));
    }

    #[test]
    fn ed25519_signs_and_verifies_and_hides_the_key() {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        use ed25519_dalek::Verifier;
        // RFC 8032 test 1 secret key.
        let seed: [u8; 32] = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap()
            .try_into()
            .unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let pem = key.to_pkcs8_pem(Default::default()).unwrap();
        let signer = Signer::ed25519_from_pem(&Secret::new(pem.as_str())).unwrap();
        // RFC 8032 test 1: the empty message.
        let sig = signer.sign("", "");
        let decoded = sig.replace("%2B", "+").replace("%2F", "/").replace("%3D", "=");
        let bytes = base64::engine::general_purpose::STANDARD.decode(decoded).unwrap();
        assert_eq!(
            hex::encode(&bytes),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        let sig = ed25519_dalek::Signature::from_slice(&bytes).unwrap();
        assert!(key.verifying_key().verify(b"", &sig).is_ok());
        assert_eq!(format!("{signer:?}"), "Signer::Ed25519(***)");
        assert!(Signer::ed25519_from_pem(&Secret::new("not a key")).is_err());
    }
}
