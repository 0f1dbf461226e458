//! One way to build any venue's adapter: [`connect`] for a bot file's
//! `venue`, and [`venue_connector`] for the [`Supervisor`](crate::Supervisor)
//! so each bot file chooses its own venue.

use std::sync::Arc;

use martingale_core::venue::Venue;

use crate::binance::{self, BinanceConfig, BinanceSpot};
use crate::bybit::{self, BybitConfig, BybitSpot};
use crate::coindcx::{CoinDcxConfig, CoinDcxSpot};
use crate::error::ExchangeError;
use crate::exchange::Exchange;
use crate::okx::{OkxConfig, OkxSpot};
use crate::ratelimit::WeightBudget;
use crate::secret::{Credentials, Secret};
use crate::supervisor::Connector;

/// Where to connect.
#[derive(Debug, Clone, Default)]
pub struct VenueOptions {
    /// The venue's test network (Binance and Bybit testnets, OKX demo trading).
    pub testnet: bool,
    /// Another base URL (a proxy or a test server); for CoinDCX it serves
    /// the public candles too.
    pub base_url: Option<String>,
}

/// The weight (Binance) or requests (the others) per minute one API key of
/// `venue` may use: the default budget of that venue's adapter, so a
/// [`KeyedBudgets`](crate::KeyedBudgets) of this limit shared by every
/// adapter of one key keeps them together where one adapter alone stays
/// (Binance 6,000 weight, Bybit 3,000, OKX 1,200, CoinDCX 600 requests);
/// 0 for the paper venue, which has no limit to keep.
///
/// ```
/// use martingale_core::venue::Venue;
/// use martingale_exchange::key_budget;
/// assert_eq!(key_budget(Venue::Binance), 6000);
/// assert_eq!(key_budget(Venue::Okx), 1200);
/// ```
pub fn key_budget(venue: Venue) -> u32 {
    match venue {
        Venue::Binance => BinanceConfig::default().weight_limit,
        Venue::Bybit => BybitConfig::default().requests_per_minute,
        Venue::Okx => OkxConfig::default().requests_per_minute,
        Venue::Coindcx => CoinDcxConfig::default().requests_per_minute,
        Venue::Paper => 0,
    }
}

/// An adapter for `venue`. Keys are optional for public market data
/// (candles, prices, rules); OKX needs the passphrase for private calls.
/// Paper trading has no remote venue: build a [`PaperExchange`](crate::PaperExchange).
///
/// ```
/// use martingale_core::venue::Venue;
/// use martingale_exchange::{connect, Credentials, VenueOptions};
/// let okx = connect(Venue::Okx, Some(Credentials::new("k", "s")), None, &VenueOptions::default()).unwrap();
/// assert_eq!(okx.name(), "okx");
/// assert!(connect(Venue::Paper, None, None, &VenueOptions::default()).is_err());
/// ```
pub fn connect(
    venue: Venue,
    credentials: Option<Credentials>,
    budget: Option<Arc<WeightBudget>>,
    opts: &VenueOptions,
) -> Result<Arc<dyn Exchange>, ExchangeError> {
    let creds = credentials.unwrap_or_else(|| Credentials::new("", ""));
    let url = |main: &str, test: &str| {
        opts.base_url.clone().unwrap_or_else(|| (if opts.testnet { test } else { main }).into())
    };
    Ok(match venue {
        Venue::Binance => {
            let cfg = BinanceConfig { base_url: url(binance::MAINNET, binance::TESTNET), ..Default::default() };
            let a = BinanceSpot::new(cfg, creds.api_key, creds.secret_key)?;
            Arc::new(match budget {
                Some(b) => a.with_budget(b),
                None => a,
            })
        }
        Venue::Bybit => {
            let cfg = BybitConfig { base_url: url(bybit::MAINNET, bybit::TESTNET), ..Default::default() };
            let a = BybitSpot::new(cfg, creds.api_key, creds.secret_key)?;
            Arc::new(match budget {
                Some(b) => a.with_budget(b),
                None => a,
            })
        }
        Venue::Okx => {
            let cfg = OkxConfig {
                base_url: url(crate::okx::MAINNET, crate::okx::MAINNET),
                testnet: opts.testnet,
                ..Default::default()
            };
            let pass = creds.passphrase.unwrap_or_else(|| Secret::new(""));
            let a = OkxSpot::new(cfg, creds.api_key, creds.secret_key, pass)?;
            Arc::new(match budget {
                Some(b) => a.with_budget(b),
                None => a,
            })
        }
        Venue::Coindcx => {
            let mut cfg = CoinDcxConfig::default();
            if let Some(u) = &opts.base_url {
                cfg.base_url = u.clone();
                cfg.public_url = u.clone();
            }
            let a = CoinDcxSpot::new(cfg, creds.api_key, creds.secret_key)?;
            Arc::new(match budget {
                Some(b) => a.with_budget(b),
                None => a,
            })
        }
        Venue::Paper => {
            return Err(ExchangeError::UnknownMarket("paper trading runs in-process: use PaperExchange".into()))
        }
    })
}

/// A [`Connector`] that builds each bot's adapter for the venue its bot
/// file names (`"venue"`, Binance when absent), with its owner's keys and
/// the budget shared by every bot on the same key.
pub fn venue_connector(opts: VenueOptions) -> Connector {
    Arc::new(move |c| {
        let venue = c.spec.bot.venue.unwrap_or(Venue::Binance);
        let budget = c.credentials.as_ref().map(|k| c.budgets.for_key(&k.api_key));
        connect(venue, c.credentials, budget, &opts)
    })
}
