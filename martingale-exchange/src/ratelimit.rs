//! Request-weight budgets shared per API key.
//!
//! Venues limit requests per key (or per IP) per time window, not per bot.
//! A [`WeightBudget`] counts the weight used in the current minute; every
//! adapter instance built for the same key gets the same budget from
//! [`KeyedBudgets`], so ten bots on one key together stay under the
//! limit. The budget also takes the venue's own count when it reports one
//! (Binance's `X-MBX-USED-WEIGHT-1M`), which covers requests made by
//! other processes on the same key.
//!
//! Keys are identified by their SHA-256 digest: the registry never holds
//! the key itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::ExchangeError;
use crate::rest::MAX_WAIT;

use crate::secret::Secret;

#[derive(Debug, Default)]
struct Window {
    minute: i64,
    used: u32,
}

/// Weight allowed per minute, shared by every adapter using one key.
///
/// ```
/// use martingale_exchange::WeightBudget;
/// let b = WeightBudget::new(10);
/// let minute = 60_000 * 5;
/// assert_eq!(b.try_take(minute + 1, 6), Ok(()));
/// // 6 + 6 > 10: wait for the next minute (59,999 ms from here).
/// assert_eq!(b.try_take(minute + 1, 6), Err(59_999));
/// assert_eq!(b.try_take(minute + 60_000, 6), Ok(()));
/// ```
#[derive(Debug)]
pub struct WeightBudget {
    limit: u32,
    window: Mutex<Window>,
}

impl WeightBudget {
    /// A budget of `limit` weight per minute.
    pub fn new(limit: u32) -> WeightBudget {
        WeightBudget { limit, window: Mutex::default() }
    }

    /// The limit per minute.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Takes `weight` at time `now_ms` (venue clock), or says how many ms
    /// to wait for the next window.
    pub fn try_take(&self, now_ms: i64, weight: u32) -> Result<(), u64> {
        let minute = now_ms.div_euclid(60_000);
        let Ok(mut w) = self.window.lock() else { return Ok(()) };
        if w.minute != minute {
            *w = Window { minute, used: 0 };
        }
        if w.used.saturating_add(weight) <= self.limit || w.used == 0 {
            // A request heavier than the whole limit still goes alone.
            w.used = w.used.saturating_add(weight);
            return Ok(());
        }
        Err(u64::try_from(60_000 - now_ms.rem_euclid(60_000)).unwrap_or(60_000))
    }

    /// Takes `weight`, sleeping at most once, until the next window (never
    /// longer than [`MAX_WAIT`](crate::MAX_WAIT)); `now` reads the venue's
    /// clock in ms. A window still full after that wait (other bots on the
    /// key took it, or the venue's count says so) is
    /// [`ExchangeError::RateLimited`] for the caller to handle, not another
    /// sleep.
    pub(crate) async fn acquire(&self, weight: u32, now: impl Fn() -> i64) -> Result<(), ExchangeError> {
        let mut slept = false;
        loop {
            let wait = match self.try_take(now(), weight) {
                Ok(()) => return Ok(()),
                Err(ms) => Duration::from_millis(ms),
            };
            if slept || wait > MAX_WAIT {
                return Err(ExchangeError::RateLimited { retry_after: wait });
            }
            tracing::debug!(wait_ms = wait.as_millis() as u64, "request budget of this key exhausted; waiting");
            tokio::time::sleep(wait + Duration::from_millis(5)).await;
            slept = true;
        }
    }

    /// Records the venue's own count of the weight used this minute.
    pub fn observe(&self, now_ms: i64, used: u32) {
        let minute = now_ms.div_euclid(60_000);
        if let Ok(mut w) = self.window.lock() {
            if w.minute == minute {
                w.used = w.used.max(used);
            } else if minute > w.minute {
                *w = Window { minute, used };
            }
        }
    }

    /// Weight used in the current window.
    pub fn used(&self) -> u32 {
        self.window.lock().map(|w| w.used).unwrap_or(0)
    }
}

/// One [`WeightBudget`] per API key.
///
/// ```
/// use martingale_exchange::{KeyedBudgets, Secret};
/// use std::sync::Arc;
/// let budgets = KeyedBudgets::new(1200);
/// let a = budgets.for_key(&Secret::new("key-of-alice"));
/// let b = budgets.for_key(&Secret::new("key-of-alice"));
/// let c = budgets.for_key(&Secret::new("key-of-bob"));
/// assert!(Arc::ptr_eq(&a, &b) && !Arc::ptr_eq(&a, &c));
/// ```
pub struct KeyedBudgets {
    limit: u32,
    budgets: Mutex<HashMap<[u8; 32], Arc<WeightBudget>>>,
}

impl std::fmt::Debug for KeyedBudgets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedBudgets").field("limit", &self.limit).field("keys", &self.len()).finish()
    }
}

impl KeyedBudgets {
    /// Budgets of `limit` weight per minute per key.
    pub fn new(limit: u32) -> KeyedBudgets {
        KeyedBudgets { limit, budgets: Mutex::default() }
    }

    /// The budget of one key (created on first use).
    pub fn for_key(&self, api_key: &Secret) -> Arc<WeightBudget> {
        let digest: [u8; 32] = Sha256::digest(api_key.expose().as_bytes()).into();
        match self.budgets.lock() {
            Ok(mut map) => map.entry(digest).or_insert_with(|| Arc::new(WeightBudget::new(self.limit))).clone(),
            // A poisoned registry still limits: this caller gets its own budget.
            Err(_) => Arc::new(WeightBudget::new(self.limit)),
        }
    }

    /// Number of keys seen.
    pub fn len(&self) -> usize {
        self.budgets.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True when no key was seen.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_on_one_key_share_the_minute() {
        let budgets = KeyedBudgets::new(100);
        let bots: Vec<_> = (0..10).map(|_| budgets.for_key(&Secret::new("k1"))).collect();
        let other = budgets.for_key(&Secret::new("k2"));
        let t = 120_000;
        // Ten bots take 10 each: the key's minute is full.
        for b in &bots {
            assert_eq!(b.try_take(t, 10), Ok(()));
        }
        assert!(bots[3].try_take(t + 5, 1).is_err());
        // Another key is not affected.
        assert_eq!(other.try_take(t, 100), Ok(()));
        // The venue's count raises ours; a new minute resets it.
        let fresh = budgets.for_key(&Secret::new("k3"));
        fresh.observe(t, 95);
        assert!(fresh.try_take(t + 1, 10).is_err());
        assert_eq!(fresh.try_take(t + 60_000, 10), Ok(()));
        assert_eq!(budgets.len(), 3);
    }

    #[tokio::test]
    async fn a_full_window_is_waited_once_then_refused_never_slept_forever() {
        let b = WeightBudget::new(10);
        // 20 ms before the end of a minute, on a clock that does not move:
        // the window stays full after the one wait.
        let t = 60_000 * 7 - 20;
        assert_eq!(b.try_take(t, 10), Ok(()));
        let started = std::time::Instant::now();
        let r = b.acquire(1, || t).await;
        assert_eq!(r, Err(ExchangeError::RateLimited { retry_after: Duration::from_millis(20) }));
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        // The clock moving on: the next window has room after one wait.
        let clock = std::sync::atomic::AtomicI64::new(t);
        let r = b.acquire(1, || clock.fetch_add(30, std::sync::atomic::Ordering::SeqCst)).await;
        assert_eq!(r, Ok(()));
    }
}
