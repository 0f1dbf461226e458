//! What every REST adapter shares: the reply of one HTTP exchange, the retry
//! policy of idempotent requests, and naming the order in an error.

use std::future::Future;
use std::time::Duration;

use martingale_core::engine::ClientOrderId;
use serde_json::Value;

use crate::error::ExchangeError;

/// What one HTTP exchange gave: the venue's payload, or a typed refusal.
/// (An `Err` of the surrounding `Result` is a reply that cannot be read.)
pub(crate) enum Reply {
    Ok(Value),
    Err(ExchangeError),
}

/// Sends an idempotent request (a query, a cancel) up to `max_attempts`
/// times: network errors and 5xx after a doubling backoff from 100 ms, rate
/// limits after their wait, and a timestamp refusal once after `resync`
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
                tokio::time::sleep(retry_after).await;
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
        let id = ClientOrderId::from_raw("b-1-b-0");
        assert_eq!(
            with_id(ExchangeError::UnknownOrder(ClientOrderId::from_raw("")), &id),
            ExchangeError::UnknownOrder(id)
        );
    }
}
