//! `martingale strategy`, `subscribe`, `subscription` and `trades`: signal
//! fan-out from the command line (the running service applies it).

use clap::{Args, Subcommand};
use martingale_core::fleet::fanout::Sizing;
use martingale_core::sizing::RiskSizing;
use martingale_core::venue::Venue;
use martingale_core::Side;
use martingale_service::fanout::signals::{self, EntryInput};
use martingale_service::fanout::{self, trades};
use martingale_service::{users, Db};
use rust_decimal::Decimal;

use super::line;

/// Strategies.
#[derive(Subcommand)]
pub enum StrategyCmd {
    /// Adds a strategy whose signals subscribers follow.
    Add {
        /// The strategy id.
        id: String,
        /// The owner (the only user who sends its signals).
        #[arg(long)]
        user: String,
        /// Where subscribers trade.
        #[arg(long)]
        venue: String,
        /// The market, e.g. BTC/USDT.
        #[arg(long)]
        symbol: String,
    },
    /// Queues an entry signal: every active subscriber's entry, sized for it.
    Signal {
        /// The strategy id.
        id: String,
        /// The owner.
        #[arg(long)]
        user: String,
        /// long or short.
        #[arg(long)]
        side: String,
        /// Entry price (the reference price with --market).
        #[arg(long)]
        entry: String,
        /// Stop-loss price (watched by the service; closes by market).
        #[arg(long)]
        stop: Option<String>,
        /// Take-profit price (a resting limit order once the entry fills).
        #[arg(long)]
        take_profit: Option<String>,
        /// Enter by market instead of a limit order at the entry.
        #[arg(long)]
        market: bool,
    },
    /// Queues an exit signal: every open trade of the strategy closes by market.
    Exit {
        /// The strategy id.
        id: String,
        /// The owner.
        #[arg(long)]
        user: String,
    },
}

/// `martingale subscribe`.
#[derive(Args)]
pub struct SubscribeArgs {
    /// The strategy id.
    strategy: String,
    /// The subscriber.
    #[arg(long)]
    user: String,
    /// The subscriber's API key label (of the strategy's venue).
    #[arg(long)]
    key: String,
    /// The bot id its orders carry (1 to 15 characters of [A-Za-z0-9_-]).
    #[arg(long)]
    bot: String,
    /// Share of capital risked per trade (e.g. 0.01).
    #[arg(long)]
    risk: String,
    /// Capital in quote.
    #[arg(long)]
    capital: String,
    /// Leverage (1 for spot).
    #[arg(long, default_value = "1")]
    leverage: String,
}

/// Subscriptions.
#[derive(Subcommand)]
pub enum SubscriptionCmd {
    /// No new trades until resumed (open trades run to their end).
    Pause(Sub),
    /// New trades again.
    Resume(Sub),
    /// Unsubscribes (open trades run to their end).
    Rm(Sub),
    /// A user's subscriptions.
    List {
        /// The subscriber.
        #[arg(long)]
        user: String,
    },
}

/// One user's subscription.
#[derive(Args)]
pub struct Sub {
    /// The strategy id.
    strategy: String,
    /// The subscriber.
    #[arg(long)]
    user: String,
    /// Only this bot's subscription (all of the user's to the strategy without it).
    #[arg(long)]
    bot: Option<String>,
}

/// `martingale trades`.
#[derive(Args)]
pub struct TradesArgs {
    /// Only this user's (every user's without it: the operator's view).
    #[arg(long)]
    user: Option<String>,
    /// Only this strategy's.
    #[arg(long)]
    strategy: Option<String>,
}

fn decimal(flag: &str, text: &str) -> Result<Decimal, String> {
    Decimal::from_str_exact(text).map_err(|e| format!("--{flag} {text:?}: not a decimal number ({e})"))
}

fn err(e: martingale_service::ServiceError) -> String {
    e.to_string()
}

/// Runs a `strategy` command.
pub async fn strategy(db: &Db, cmd: StrategyCmd, out: &mut Vec<u8>) -> Result<(), String> {
    match cmd {
        StrategyCmd::Add { id, user, venue, symbol } => {
            let venue: Venue = venue.parse().map_err(|e| format!("--venue {venue:?}: {e}"))?;
            let s = fanout::add_strategy(db, &user, &id, venue, &symbol).await.map_err(err)?;
            line(out, format!("added strategy {} of {} on {:?} {}", s.id, s.owner, s.venue, s.symbol));
        }
        StrategyCmd::Signal { id, user, side, entry, stop, take_profit, market } => {
            let side = match side.as_str() {
                "long" => Side::Long,
                "short" => Side::Short,
                other => return Err(format!("--side {other:?}: long or short")),
            };
            let input = EntryInput {
                side,
                entry: decimal("entry", &entry)?,
                stop_loss: stop.map(|s| decimal("stop", &s)).transpose()?,
                take_profit: take_profit.map(|s| decimal("take-profit", &s)).transpose()?,
                market,
            };
            let seq = signals::entry(db, &user, &id, input).await.map_err(err)?;
            line(out, format!("strategy {id}: signal {seq} queued (the running service fans it out)"));
        }
        StrategyCmd::Exit { id, user } => {
            signals::exit(db, &user, &id).await.map_err(err)?;
            line(out, format!("strategy {id}: exit queued (the running service closes every open trade)"));
        }
    }
    Ok(())
}

/// Runs `subscribe`.
pub async fn subscribe(db: &Db, a: SubscribeArgs, out: &mut Vec<u8>) -> Result<(), String> {
    let sizing = Sizing::Risk(RiskSizing {
        capital: decimal("capital", &a.capital)?,
        risk_per_trade: decimal("risk", &a.risk)?,
        leverage: decimal("leverage", &a.leverage)?,
    });
    let s = fanout::subscribe(db, &a.user, &a.strategy, &a.bot, &a.key, sizing).await.map_err(err)?;
    line(out, format!("{} subscribed to {} as bot {}", s.account, s.strategy, s.bot));
    Ok(())
}

/// Runs a `subscription` command.
pub async fn subscription(db: &Db, cmd: SubscriptionCmd, out: &mut Vec<u8>) -> Result<(), String> {
    match cmd {
        SubscriptionCmd::Pause(s) => {
            for s in fanout::set_paused(db, &s.user, &s.strategy, s.bot.as_deref(), true).await.map_err(err)? {
                line(out, format!("{} on {} as bot {}: paused", s.account, s.strategy, s.bot));
            }
        }
        SubscriptionCmd::Resume(s) => {
            for s in fanout::set_paused(db, &s.user, &s.strategy, s.bot.as_deref(), false).await.map_err(err)? {
                line(out, format!("{} on {} as bot {}: active", s.account, s.strategy, s.bot));
            }
        }
        SubscriptionCmd::Rm(s) => {
            let n = fanout::unsubscribe(db, &s.user, &s.strategy, s.bot.as_deref()).await.map_err(err)?;
            line(out, format!("{} unsubscribed from {} ({n} bots)", s.user, s.strategy));
        }
        SubscriptionCmd::List { user } => {
            users::get(db, &user).await.map_err(err)?;
            line(out, format!("{:<16} {:<16} {:<10} {}", "strategy", "bot", "key", "state"));
            for s in fanout::of_account(db, &user).await.map_err(err)? {
                let state = if s.paused { "paused" } else { "active" };
                line(out, format!("{:<16} {:<16} {:<10} {state}", s.strategy, s.bot, s.key_label));
            }
        }
    }
    Ok(())
}

/// Lists trades.
pub async fn list(db: &Db, a: &TradesArgs, out: &mut Vec<u8>) -> Result<(), String> {
    if let Some(u) = &a.user {
        users::get(db, u).await.map_err(err)?;
    }
    line(
        out,
        format!(
            "{:<12} {:>4} {:<16} {:<12} {:<10} {:>12} {:>12} {:>12} {:>12} {:>12} {}",
            "strategy", "seq", "user", "bot", "state", "quantity", "filled", "entry", "exit", "pnl", "error"
        ),
    );
    for r in trades::list(db, a.user.as_deref(), a.strategy.as_deref()).await.map_err(err)? {
        let t = &r.trade;
        let opt = |d: Option<Decimal>| d.map(|d| d.normalize().to_string()).unwrap_or_else(|| "-".into());
        line(
            out,
            format!(
                "{:<12} {:>4} {:<16} {:<12} {:<10} {:>12} {:>12} {:>12} {:>12} {:>12} {}",
                r.strategy,
                t.seq,
                r.account,
                t.bot,
                t.state.as_str(),
                r.quantity().normalize(),
                t.filled().normalize(),
                opt(t.entry_price()),
                opt(t.exit_price()),
                opt(t.pnl()),
                r.last_error.as_deref().unwrap_or("")
            ),
        );
    }
    Ok(())
}
