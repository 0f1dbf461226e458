//! The example bot file, embedded in the crate (so the crate's doc tests and
//! tests need nothing outside it, also when packaged). The repository's
//! `examples/bots/example.json` is the same text (a test of the root package
//! checks it).

use super::{BotFile, BotFileError};

/// The example bot file's JSON text (`martingale-core/bots/example.json`): a
/// long BTCUSDT ladder, base order 100 USDT, five safety orders of 200 USDT
/// scaled 1.5x at 1.5 % deviations scaled 1.2x, take profit 1.5 % on the
/// average, 0.1 % fees, tick 0.01, step 0.00001.
pub const EXAMPLE_BOT_JSON: &str = include_str!("../../bots/example.json");

impl BotFile {
    /// The example bot file ([`EXAMPLE_BOT_JSON`]), parsed. It always
    /// parses (tested); the `Result` only keeps library code free of panics.
    ///
    /// ```
    /// use martingale_core::config::BotFile;
    /// let bot = BotFile::example().unwrap();
    /// assert_eq!(bot.strategy.max_safety_orders, Some(5));
    /// assert_eq!(bot.market.symbol.as_deref(), Some("BTCUSDT"));
    /// ```
    pub fn example() -> Result<BotFile, BotFileError> {
        EXAMPLE_BOT_JSON.parse()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_example_parses() {
        let bot: super::BotFile = super::EXAMPLE_BOT_JSON.parse().unwrap();
        assert_eq!(bot, super::BotFile::example().unwrap());
    }
}
