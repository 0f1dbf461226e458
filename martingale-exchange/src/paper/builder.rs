//! Building a [`PaperExchange`]: named settings instead of eight positional
//! arguments (two balances of which were easy to swap).

use std::collections::HashMap;
use std::sync::Mutex;

use martingale_core::backtest::SimExchange;
use martingale_core::config::{BotFile, FillModel};
use martingale_core::fees::FeeSchedule;
use martingale_core::venue::{Symbol, Venue};
use martingale_core::MarketRules;
use rust_decimal::Decimal;

use super::{PaperExchange, State};

/// Settings of a [`PaperExchange`]; start with [`PaperExchange::builder`].
///
/// Defaults: assets read from the symbol (`BTCUSDT` or `BTC/USDT`: `BTC`
/// and `USDT`; `BASE` and `QUOTE` when the symbol does not split), no fees,
/// the default fill model, zero balances.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build`"]
pub struct PaperBuilder {
    symbol: String,
    base_asset: String,
    quote_asset: String,
    rules: MarketRules,
    fees: FeeSchedule,
    fill: FillModel,
    quote_balance: Decimal,
    base_balance: Decimal,
}

impl PaperExchange {
    /// A builder for a paper account on `symbol` with the market's `rules`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use martingale_exchange::{Exchange, PaperExchange};
    /// use martingale_core::MarketRules;
    /// use rust_decimal_macros::dec;
    /// let rules = MarketRules::new(dec!(0.01), dec!(0.00001), dec!(0.00001), dec!(5));
    /// let paper = PaperExchange::builder("BTCUSDT", rules).quote_balance(dec!(1000)).base_balance(dec!(0.5)).build();
    /// let b = paper.balances().await.unwrap();
    /// assert_eq!((b[0].asset.as_str(), b[0].free), ("BTC", dec!(0.5)));
    /// assert_eq!((b[1].asset.as_str(), b[1].free), ("USDT", dec!(1000)));
    /// # });
    /// ```
    pub fn builder(symbol: &str, rules: MarketRules) -> PaperBuilder {
        let parsed = if symbol.contains('/') { symbol.parse::<Symbol>() } else { Venue::Binance.parse_market(symbol) };
        let (base_asset, quote_asset) =
            parsed.map_or_else(|_| ("BASE".to_string(), "QUOTE".to_string()), |s| (s.base().into(), s.quote().into()));
        PaperBuilder {
            symbol: symbol.to_string(),
            base_asset,
            quote_asset,
            rules,
            fees: FeeSchedule::ZERO,
            fill: FillModel::default(),
            quote_balance: Decimal::ZERO,
            base_balance: Decimal::ZERO,
        }
    }

    /// A paper account for `bot`: its market (symbol, rules), fees and fill
    /// model, with `quote_balance` of free quote and no base. The symbol is
    /// the bot's `market.symbol` (`BTCUSDT` without one); the runner must
    /// use [`PaperExchange::symbol`].
    ///
    /// ```
    /// use martingale_core::config::BotFile;
    /// use martingale_exchange::PaperExchange;
    /// use rust_decimal_macros::dec;
    /// let paper = PaperExchange::for_bot(&BotFile::example().unwrap(), dec!(10000));
    /// assert_eq!(paper.symbol(), "BTCUSDT");
    /// ```
    pub fn for_bot(bot: &BotFile, quote_balance: Decimal) -> PaperExchange {
        let symbol = bot.market.symbol.as_deref().unwrap_or("BTCUSDT");
        PaperExchange::builder(symbol, bot.market.clone())
            .fees(bot.fees)
            .fill(bot.fill)
            .quote_balance(quote_balance)
            .build()
    }
}

impl PaperBuilder {
    /// The base and quote asset names (balances and fees are reported in them).
    pub fn assets(mut self, base: &str, quote: &str) -> Self {
        self.base_asset = base.to_string();
        self.quote_asset = quote.to_string();
        self
    }

    /// The fee schedule (none by default).
    pub fn fees(mut self, fees: FeeSchedule) -> Self {
        self.fees = fees;
        self
    }

    /// The fill model (path, cross / touch, exit slippage).
    pub fn fill(mut self, fill: FillModel) -> Self {
        self.fill = fill;
        self
    }

    /// The initial free quote balance.
    pub fn quote_balance(mut self, amount: Decimal) -> Self {
        self.quote_balance = amount;
        self
    }

    /// The initial free base balance (a short sells from it).
    pub fn base_balance(mut self, amount: Decimal) -> Self {
        self.base_balance = amount;
        self
    }

    /// The exchange.
    pub fn build(self) -> PaperExchange {
        PaperExchange {
            state: Mutex::new(State {
                time: 0,
                price: None,
                base_free: self.base_balance,
                base_locked: Decimal::ZERO,
                quote_free: self.quote_balance,
                quote_locked: Decimal::ZERO,
                orders: HashMap::new(),
                book: SimExchange::new(self.rules.clone(), self.fees, self.fill),
                fills: Vec::new(),
                candles: std::collections::VecDeque::new(),
                trade_seq: 0,
            }),
            symbol: self.symbol,
            base_asset: self.base_asset,
            quote_asset: self.quote_asset,
            rules: self.rules,
            fill: self.fill,
        }
    }
}
