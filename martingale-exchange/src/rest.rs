//! What every REST adapter shares: the one HTTP client builder (no
//! redirects), one HTTP exchange read into status, headers and body, the
//! retry policy of idempotent requests, the cap on every wait, and naming
//! the order in an error.
//!
//! Invariants:
//! - no adapter follows a redirect: every client comes from
//!   [`HttpClient::new`] (`redirect::Policy::none()`), and a 3xx answer is
//!   [`ExchangeError::Redirect`], so a signed request and its key headers
//!   never reach a host other than the configured base URL;
//! - no adapter sleeps longer than [`MAX_WAIT`] in one go: a venue that
//!   demands a longer wait (`Retry-After`, a reset timestamp) gets its
//!   [`ExchangeError::RateLimited`] returned to the caller instead.

use std::future::Future;
use std::time::Duration;

use martingale_core::engine::ClientOrderId;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;

use crate::error::ExchangeError;

/// The longest an adapter (or a request budget) waits before a request:
/// 60 s, one rate-limit window of every supported venue. A longer demand
/// (e.g. `Retry-After: 99999999999`) is returned as
/// [`ExchangeError::RateLimited`] instead of being slept.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// The HTTP client of the venue adapters: a timeout and **no redirects**
/// (`reqwest::redirect::Policy::none()`). It is the only way to build
/// one, so every adapter, and every client shared by a fleet through
/// `with_http_client`, refuses to forward a signed request elsewhere.
///
/// ```
/// use martingale_exchange::HttpClient;
/// let http = HttpClient::new(std::time::Duration::from_secs(5)).unwrap();
/// let _pool = http.clone(); // cheap: one connection pool
/// ```
#[derive(Debug, Clone)]
pub struct HttpClient(reqwest::Client);

impl HttpClient {
    /// A client with this request timeout that never follows a redirect.
    pub fn new(timeout: Duration) -> Result<HttpClient, ExchangeError> {
        reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map(HttpClient)
            .map_err(|e| ExchangeError::Network(format!("http client: {e}")))
    }

    /// The underlying client.
    pub(crate) fn inner(&self) -> &reqwest::Client {
        &self.0
    }
}

/// One HTTP exchange as the adapters read it.
pub(crate) struct Raw {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

/// Sends `req` and reads the whole answer. `Err` is the typed failure an
/// adapter reports as is: [`ExchangeError::Network`] (no answer, a
/// timeout, a body cut off) or [`ExchangeError::Redirect`] (any 3xx,
/// never followed).
pub(crate) async fn execute(req: reqwest::RequestBuilder) -> Result<Raw, ExchangeError> {
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Err(ExchangeError::Network("timeout".into())),
        Err(e) => return Err(ExchangeError::Network(e.without_url().to_string())),
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    if status.is_redirection() {
        let location = headers.get("location").and_then(|h| h.to_str().ok()).unwrap_or_default().to_string();
        return Err(ExchangeError::Redirect { status: status.as_u16(), location });
    }
    let body = resp.text().await.map_err(|e| ExchangeError::Network(e.without_url().to_string()))?;
    Ok(Raw { status, headers, body })
}

/// A `Retry-After` header in seconds (saturating; a date or garbage reads
/// as absent).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|h| h.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// The start of a reply body for an error message (at most 200
/// characters): what the venue said is kept, not dropped.
pub(crate) fn excerpt(body: &str) -> String {
    let mut out: String = body.chars().take(200).collect();
    if out.len() < body.len() {
        out.push('…');
    }
    out
}

/// Sleeps `wait` if it is within [`MAX_WAIT`]; a longer demand is
/// returned as [`ExchangeError::RateLimited`] (nothing is slept).
pub(crate) async fn capped_sleep(wait: Duration) -> Result<(), ExchangeError> {
    if wait > MAX_WAIT {
        return Err(ExchangeError::RateLimited { retry_after: wait });
    }
    tokio::time::sleep(wait).await;
    Ok(())
}

/// What one HTTP exchange gave: the venue's payload, or a typed refusal.
/// (An `Err` of the surrounding `Result` is a reply that cannot be read.)
pub(crate) enum Reply {
    Ok(Value),
    Err(ExchangeError),
}

/// Sends an idempotent request (a query, a cancel) up to `max_attempts`
/// times: network errors and 5xx after a doubling backoff from 100 ms, rate
/// limits after their wait (a wait over [`MAX_WAIT`] is returned, not
/// slept), and a timestamp refusal once after `resync`
/// (which measures the venue's clock, or does nothing where every attempt
/// signs a fresh timestamp). Order submissions never come here.
pub(crate) async fn retrying<F, Fut, R, RFut>(max_attempts: u32, attempt: F, resync: R) -> Result<Value, ExchangeError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Reply, ExchangeError>>,
    R: Fn() -> RFut,
    RFut: Future<Output = Result<(), ExchangeError>>,
{
    let mut delay = Duration::from_millis(100);
    let mut resynced = false;
    for n in 1..=max_attempts {
        match attempt().await? {
            Reply::Ok(v) => return Ok(v),
            Reply::Err(ExchangeError::TimestampOutOfWindow) if !resynced => {
                resynced = true;
                resync().await?;
            }
            Reply::Err(ExchangeError::RateLimited { retry_after }) if n < max_attempts => {
                capped_sleep(retry_after).await?;
            }
            Reply::Err(ExchangeError::Network(_)) if n < max_attempts => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Reply::Err(e) => return Err(e),
        }
    }
    Err(ExchangeError::Network("gave up after retries".into()))
}

/// An order error names the order it is about (venues' error bodies do not).
pub(crate) fn with_id(e: ExchangeError, id: &ClientOrderId) -> ExchangeError {
    match e {
        ExchangeError::UnknownOrder(_) => ExchangeError::UnknownOrder(id.clone()),
        ExchangeError::DuplicateOrder(_) => ExchangeError::DuplicateOrder(id.clone()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn retries_network_and_rate_limits_resyncs_once_then_gives_up() {
        let calls = AtomicU32::new(0);
        let resyncs = AtomicU32::new(0);
        let script = |n: u32| match n {
            0 => Reply::Err(ExchangeError::Network("reset".into())),
            1 => Reply::Err(ExchangeError::RateLimited { retry_after: Duration::from_millis(10) }),
            2 => Reply::Err(ExchangeError::TimestampOutOfWindow),
            _ => Reply::Ok(Value::from(7)),
        };
        let v = retrying(
            5,
            || async { Ok(script(calls.fetch_add(1, Ordering::SeqCst))) },
            || async {
                resyncs.fetch_add(1, Ordering::SeqCst);
                Ok(())
            },
        )
        .await;
        assert_eq!((v.unwrap(), calls.load(Ordering::SeqCst), resyncs.load(Ordering::SeqCst)), (Value::from(7), 4, 1));
        // A refusal is not retried; attempts run out on endless network errors.
        let refused =
            retrying(5, || async { Ok(Reply::Err(ExchangeError::Authentication("k".into()))) }, || async { Ok(()) });
        assert!(matches!(refused.await, Err(ExchangeError::Authentication(_))));
        let down = retrying(3, || async { Ok(Reply::Err(ExchangeError::Network("x".into()))) }, || async { Ok(()) });
        assert!(matches!(down.await, Err(ExchangeError::Network(_))));
        // Issue 16: `Retry-After: 99999999999` is returned, not slept.
        let forever = Duration::from_secs(99_999_999_999);
        let started = std::time::Instant::now();
        let r = retrying(
            5,
            || async { Ok(Reply::Err(ExchangeError::RateLimited { retry_after: forever })) },
            || async { Ok(()) },
        );
        assert_eq!(r.await, Err(ExchangeError::RateLimited { retry_after: forever }));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(MAX_WAIT <= Duration::from_secs(60));
        let id = ClientOrderId::from_raw("b-1-b-0");
        assert_eq!(
            with_id(ExchangeError::UnknownOrder(ClientOrderId::from_raw("")), &id),
            ExchangeError::UnknownOrder(id)
        );
    }
}
