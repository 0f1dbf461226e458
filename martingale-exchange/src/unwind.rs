//! Catching a panic inside a future, so one bot's panicking adapter or
//! engine bug fails that bot's step instead of killing its task silently.
//!
//! The future is polled inside [`std::panic::catch_unwind`]; a panic ends
//! it with [`Panicked`] carrying the panic message. The future is dropped
//! after a panic and never polled again, so whatever it borrowed may be in
//! a half-updated state: the caller must throw that state away (the
//! supervisor drops the runner and restarts from the persisted snapshot,
//! which every engine output reaches before its actions are sent).

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A panic caught in a future: its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Panicked(pub String);

/// Runs `fut`, turning a panic into `Err(Panicked)`.
pub(crate) async fn catch_panic<T>(fut: impl Future<Output = T> + Send) -> Result<T, Panicked> {
    CatchUnwind { inner: Box::pin(fut) }.await
}

struct CatchUnwind<'a, T> {
    inner: Pin<Box<dyn Future<Output = T> + Send + 'a>>,
}

impl<T> Future for CatchUnwind<'_, T> {
    type Output = Result<T, Panicked>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.inner;
        match catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".into());
                Poll::Ready(Err(Panicked(msg)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_error_and_values_pass() {
        assert_eq!(catch_panic(async { 7 }).await, Ok(7));
        let r = catch_panic(async {
            tokio::task::yield_now().await;
            if std::hint::black_box(true) {
                panic!("venue adapter bug");
            }
            1
        })
        .await;
        assert_eq!(r, Err(Panicked("venue adapter bug".into())));
    }
}
