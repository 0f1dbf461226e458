//! Spreading bots' polls over the interval.

use martingale_core::engine::BotId;

/// Where in each polling `interval` a bot polls: a deterministic offset
/// from its id (FNV-1a), so many bots sharing an API key spread their
/// requests over the interval instead of all polling at once.
///
/// ```
/// use martingale_exchange::stagger;
/// use martingale_core::engine::BotId;
/// use std::time::Duration;
/// let i = Duration::from_secs(5);
/// let a = stagger(&BotId::new("a").unwrap(), i);
/// assert!(a < i);
/// assert_eq!(a, stagger(&BotId::new("a").unwrap(), i));
/// ```
pub fn stagger(bot: &BotId, interval: std::time::Duration) -> std::time::Duration {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bot.as_str().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let ms = interval.as_millis().max(1) as u64;
    std::time::Duration::from_millis(h % ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use martingale_core::engine::BotId;
    use std::time::Duration;

    #[test]
    fn stagger_spreads_bots_over_the_interval() {
        let interval = Duration::from_secs(10);
        let offsets: Vec<u128> =
            (0..1000).map(|i| stagger(&BotId::new(format!("bot-{i}")).unwrap(), interval).as_millis()).collect();
        assert!(offsets.iter().all(|o| *o < 10_000));
        // Every second of the interval gets some bots.
        for s in 0..10 {
            let n = offsets.iter().filter(|o| **o / 1000 == s).count();
            assert!((50..=150).contains(&n), "second {s}: {n} bots");
        }
    }
}
