//! Signal fan-out: one strategy signal, each subscriber's own orders.
//!
//! A strategy emits one [`Signal`] (side, entry, optional stop and take
//! profit). Every [`Subscriber`] of a [`SubscriberBook`] turns it into its
//! own [`Allocation`] from its own settings, rounded to its market's rules:
//! - [`Sizing::Risk`]: the quantity whose loss at the stop is the risk
//!   share of its capital (times leverage), or without a stop that share of
//!   capital at the entry ([`RiskSizing`]);
//! - [`Sizing::Ladder`]: a Martingale ladder whose quote sizes use at most
//!   its capital ([`budget_strategy`], computed once at subscription). The
//!   allocation is the base order at the signal's entry and the scaled
//!   strategy ([`SubscriberBook::ladder`]); the safety orders are planned
//!   by the subscriber's engine when the base order fills, since their
//!   prices anchor on the fill price ([`SubscriberBook::plan`] previews
//!   them at the entry).
//!
//! Prices are rounded per subscriber: the entry like a limit order of the
//! entry side, the stop toward the entry and the take profit away from it
//! (so the risk taken never exceeds the risk sized, and the target is never
//! below the signal's). Sizes use the rounded prices.
//!
//! A paused subscriber or one whose size breaks a market rule (below the
//! minimum quantity or notional) is [skipped](Skip) with the reason; a
//! malformed signal is an error for all.
//!
//! Client order ids are deterministic: `{bot}-{signal seq}-{role}-0`, so a
//! fan-out repeated after a crash produces the very same ids and the venue
//! refuses the duplicates.
//!
//! Each subscriber's trade then lives as a [`Trade`] state machine (entry,
//! take profit resting on the venue, stop loss watched on each price tick,
//! exit signal; see [`trade`](Trade) for the table).
//!
//! Speed: a subscriber's exposure (`capital * risk * leverage`) and scaled
//! ladder sizes are computed once when it subscribes; a signal costs one
//! division and one rounding per risk-sized subscriber.

mod trade;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use trade::{ExitReason, Leg, Trade, TradeError, TradeEvent, TradeState};

use super::EngineKey;
use crate::engine::{ClientOrderId, OrderKind, OrderRequest, OrderRole, TimeMs};
use crate::ladder::{budget_strategy, order_quantity, LadderError, LadderPlan};
use crate::market::{MarketRules, Rounding, RuleViolation};
use crate::sizing::{sized_quantity, RiskSizing, SizeBasis, SizingError};
use crate::{Side, StrategyConfig};

/// How the signal's entry order is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryType {
    /// A limit order at the entry price.
    #[default]
    Limit,
    /// A market order (the entry is the reference price).
    Market,
}

/// One entry signal of a strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    /// The strategy's signal number (part of every client order id).
    pub seq: u32,
    /// When it was produced.
    pub time: TimeMs,
    /// Long or short.
    pub side: Side,
    /// Entry price.
    pub entry: Decimal,
    /// Limit or market entry.
    #[serde(default)]
    pub entry_type: EntryType,
    /// Stop-loss price.
    #[serde(default)]
    pub stop_loss: Option<Decimal>,
    /// Take-profit price.
    #[serde(default)]
    pub take_profit: Option<Decimal>,
}

/// A signal that cannot be acted on by anybody.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignalError {
    /// Entry price zero or negative.
    #[error("signal {seq}: entry {entry} is not positive")]
    BadEntry {
        /// Signal number.
        seq: u32,
        /// The entry.
        entry: Decimal,
    },
    /// The stop is not on the losing side of the entry.
    #[error("signal {seq}: stop {stop} is on the wrong side of entry {entry} for a {side:?}")]
    StopSide {
        /// Signal number.
        seq: u32,
        /// Deal side.
        side: Side,
        /// Entry.
        entry: Decimal,
        /// Stop.
        stop: Decimal,
    },
    /// The take profit is not on the winning side of the entry.
    #[error("signal {seq}: take profit {take_profit} is on the wrong side of entry {entry} for a {side:?}")]
    TakeProfitSide {
        /// Signal number.
        seq: u32,
        /// Deal side.
        side: Side,
        /// Entry.
        entry: Decimal,
        /// Take profit.
        take_profit: Decimal,
    },
}

impl Signal {
    /// Checks the prices against each other.
    pub fn validate(&self) -> Result<(), SignalError> {
        let (seq, side, entry) = (self.seq, self.side, self.entry);
        if entry <= Decimal::ZERO {
            return Err(SignalError::BadEntry { seq, entry });
        }
        let below = |p: Decimal| p < entry && p > Decimal::ZERO;
        let above = |p: Decimal| p > entry;
        if let Some(stop) = self.stop_loss {
            let ok = match side {
                Side::Long => below(stop),
                Side::Short => above(stop),
            };
            if !ok {
                return Err(SignalError::StopSide { seq, side, entry, stop });
            }
        }
        if let Some(take_profit) = self.take_profit {
            let ok = match side {
                Side::Long => above(take_profit),
                Side::Short => below(take_profit),
            };
            if !ok {
                return Err(SignalError::TakeProfitSide { seq, side, entry, take_profit });
            }
        }
        Ok(())
    }
}

/// A subscriber's sizing settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sizing {
    /// Risk a share of capital per trade.
    Risk(RiskSizing),
    /// Run a Martingale ladder scaled to `capital`.
    Ladder {
        /// Ladder shape (N, deviations, scales, take profit); its sizes are replaced.
        template: Box<StrategyConfig>,
        /// Quote the whole ladder may use.
        capital: Decimal,
        /// First safety order / base order.
        safety_ratio: Decimal,
    },
}

/// One subscriber of a strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscriber {
    /// Owner and the bot id its orders carry.
    pub key: EngineKey,
    /// Rules of the market it trades the signal on.
    pub rules: MarketRules,
    /// How it sizes.
    pub sizing: Sizing,
    /// Paused subscribers are skipped.
    #[serde(default)]
    pub paused: bool,
}

/// Why a subscriber got no orders for a signal (not an error).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Skip {
    /// The subscriber is paused.
    #[error("paused")]
    Paused,
    /// An order breaks a market rule (e.g. below the minimum size).
    #[error("level {level}: {violation}")]
    BelowMinimum {
        /// The order's level (0 = the entry, n = safety order n).
        level: u32,
        /// The rule and the values.
        violation: RuleViolation,
    },
    /// No size can be computed for this signal (e.g. the stop rounds onto the entry).
    #[error("{0}")]
    Sizing(SizingError),
    /// The scaled ladder cannot be planned at this entry.
    #[error("{0}")]
    Ladder(LadderError),
    /// The subscriber's ladder trades the other side.
    #[error("the ladder is {ladder:?}, the signal {signal:?}")]
    WrongSide {
        /// The ladder's side.
        ladder: Side,
        /// The signal's side.
        signal: Side,
    },
}

/// A subscriber's orders for one signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allocation {
    /// One entry order with its protective prices.
    Single {
        /// The entry order.
        entry: OrderRequest,
        /// Stop price on the tick grid.
        stop_loss: Option<Decimal>,
        /// Take-profit price on the tick grid.
        take_profit: Option<Decimal>,
    },
    /// A ladder: the base order now; the safety orders when it fills (the
    /// subscriber's scaled strategy is [`SubscriberBook::ladder`]).
    Ladder {
        /// The base order.
        entry: OrderRequest,
        /// Stop price on the tick grid.
        stop_loss: Option<Decimal>,
    },
}

impl Allocation {
    /// The entry order.
    pub fn entry(&self) -> &OrderRequest {
        match self {
            Allocation::Single { entry, .. } | Allocation::Ladder { entry, .. } => entry,
        }
    }
}

/// Why a subscriber cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubscribeError {
    /// Invalid risk settings.
    #[error("subscriber {key}: {error}")]
    Sizing {
        /// Subscriber.
        key: EngineKey,
        /// What is wrong.
        error: SizingError,
    },
    /// The ladder template cannot be scaled to the capital.
    #[error("subscriber {key}: {error}")]
    Ladder {
        /// Subscriber.
        key: EngineKey,
        /// What is wrong.
        error: Box<LadderError>,
    },
    /// Invalid market rules.
    #[error("subscriber {key}: {error}")]
    Rules {
        /// Subscriber.
        key: EngineKey,
        /// What is wrong.
        error: crate::market::InvalidRules,
    },
}

#[derive(Debug, Clone)]
enum Prepared {
    Risk { exposure: Option<Decimal> },
    Ladder { strategy: Box<StrategyConfig> },
}

/// The subscribers of one strategy, with their sizing prepared.
///
/// ```
/// use martingale_core::fleet::fanout::{Allocation, Signal, Sizing, Skip, Subscriber, SubscriberBook};
/// use martingale_core::fleet::EngineKey;
/// use martingale_core::sizing::RiskSizing;
/// use martingale_core::{MarketRules, Side};
/// use rust_decimal_macros::dec;
///
/// let rules = MarketRules::new(dec!(0.01), dec!(0.001), dec!(0.001), dec!(5));
/// let mut book = SubscriberBook::new();
/// for (user, capital) in [("alice", dec!(10000)), ("bob", dec!(100))] {
///     let sizing = Sizing::Risk(RiskSizing { capital, risk_per_trade: dec!(0.01), leverage: dec!(1) });
///     book.subscribe(Subscriber { key: EngineKey::parse(user, "trend").unwrap(), rules: rules.clone(), sizing, paused: false })
///         .unwrap();
/// }
/// let signal = Signal { seq: 7, time: 0, side: Side::Long, entry: dec!(25000), entry_type: Default::default(),
///                       stop_loss: Some(dec!(24750)), take_profit: Some(dec!(26000)) };
/// let out = book.fan_out(&signal).unwrap();
/// // Alice risks 100 over a 250 distance: 0.4 units, under her own id.
/// let Ok(Allocation::Single { entry, .. }) = &out[0] else { panic!() };
/// assert_eq!((entry.quantity, entry.client_order_id.as_str()), (dec!(0.4), "trend-7-b-0"));
/// // Bob risks 1 over 250: 0.004 units (100 quote), above the minimums.
/// assert!(matches!(&out[1], Ok(Allocation::Single { entry, .. }) if entry.quantity == dec!(0.004)));
/// // On a 0.01 step his size truncates to zero: skipped with the rule, not an error.
/// let coarse = MarketRules::new(dec!(0.01), dec!(0.01), dec!(0.01), dec!(5));
/// let mut small = SubscriberBook::new();
/// small.subscribe(Subscriber { rules: coarse, ..book.subscribers()[1].clone() }).unwrap();
/// assert!(matches!(small.fan_out(&signal).unwrap()[0], Err(Skip::BelowMinimum { level: 0, .. })));
/// book.set_paused(1, true);
/// assert_eq!(book.fan_out(&signal).unwrap()[1], Err(Skip::Paused));
/// ```
#[derive(Debug, Clone, Default)]
pub struct SubscriberBook {
    subscribers: Vec<Subscriber>,
    prepared: Vec<Prepared>,
    /// Index into `markets` of each subscriber's rules.
    market_of: Vec<usize>,
    /// Distinct market rules: a signal's prices are rounded once per market.
    markets: Vec<MarketRules>,
}

impl SubscriberBook {
    /// An empty book.
    pub fn new() -> SubscriberBook {
        SubscriberBook::default()
    }

    /// Number of subscribers.
    pub fn len(&self) -> usize {
        self.subscribers.len()
    }

    /// True when nobody subscribed.
    pub fn is_empty(&self) -> bool {
        self.subscribers.is_empty()
    }

    /// The subscribers, in the order of [`fan_out`](Self::fan_out)'s results.
    pub fn subscribers(&self) -> &[Subscriber] {
        &self.subscribers
    }

    /// Adds a subscriber (validated now, so a signal never fails on settings);
    /// returns its index.
    pub fn subscribe(&mut self, sub: Subscriber) -> Result<usize, SubscribeError> {
        let key = sub.key.clone();
        sub.rules.validate().map_err(|error| SubscribeError::Rules { key: key.clone(), error })?;
        let prepared = match &sub.sizing {
            Sizing::Risk(risk) => {
                risk.validate().map_err(|error| SubscribeError::Sizing { key: key.clone(), error })?;
                Prepared::Risk { exposure: risk.exposure() }
            }
            Sizing::Ladder { template, capital, safety_ratio } => {
                let ladder = |error| SubscribeError::Ladder { key: key.clone(), error: Box::new(error) };
                let strategy = budget_strategy(template, &sub.rules, *capital, *safety_ratio).map_err(ladder)?;
                strategy.validate().map_err(|e| ladder(e.into()))?;
                Prepared::Ladder { strategy: Box::new(strategy) }
            }
        };
        let market = match self.markets.iter().position(|m| *m == sub.rules) {
            Some(i) => i,
            None => {
                self.markets.push(sub.rules.clone());
                self.markets.len() - 1
            }
        };
        self.market_of.push(market);
        self.subscribers.push(sub);
        self.prepared.push(prepared);
        Ok(self.subscribers.len() - 1)
    }

    /// The ladder subscriber `index` runs: its template with the sizes
    /// scaled to its capital (`None` for risk-sized subscribers).
    pub fn ladder(&self, index: usize) -> Option<&StrategyConfig> {
        match self.prepared.get(index)? {
            Prepared::Ladder { strategy } => Some(strategy),
            Prepared::Risk { .. } => None,
        }
    }

    /// Subscriber `index`'s whole ladder if its base order fills at `entry`.
    pub fn plan(&self, index: usize, entry: Decimal) -> Option<Result<LadderPlan, LadderError>> {
        let rules = &self.subscribers.get(index)?.rules;
        Some(crate::ladder::plan(self.ladder(index)?, rules, entry))
    }

    /// Pauses or resumes subscriber `index` (no-op for an unknown index).
    pub fn set_paused(&mut self, index: usize, paused: bool) {
        if let Some(s) = self.subscribers.get_mut(index) {
            s.paused = paused;
        }
    }

    /// Every subscriber's allocation for `signal`, in subscriber order.
    pub fn fan_out(&self, signal: &Signal) -> Result<Vec<Result<Allocation, Skip>>, SignalError> {
        signal.validate()?;
        let prices: Vec<Prices> = self.markets.iter().map(|m| Prices::round(signal, m)).collect();
        let mut out = Vec::with_capacity(self.subscribers.len());
        for ((sub, prep), &market) in self.subscribers.iter().zip(&self.prepared).zip(&self.market_of) {
            if sub.paused {
                out.push(Err(Skip::Paused));
                continue;
            }
            // `market` always indexes `prices`; recomputing is the safe fallback.
            let own;
            let p = match prices.get(market) {
                Some(p) => p,
                None => {
                    own = Prices::round(signal, &sub.rules);
                    &own
                }
            };
            out.push(allocate(sub, prep, signal, p));
        }
        Ok(out)
    }
}

/// A signal's prices on one market's grid.
#[derive(Debug, Clone)]
struct Prices {
    entry: Decimal,
    stop_loss: Option<Decimal>,
    take_profit: Option<Decimal>,
    /// The sizing basis of these prices (the same for every subscriber).
    basis: Result<SizeBasis, SizingError>,
}

impl Prices {
    fn round(signal: &Signal, rules: &MarketRules) -> Prices {
        // Stop toward the entry, take profit away from it.
        let (stop_dir, tp_dir) = match signal.side {
            Side::Long => (Rounding::Up, Rounding::Up),
            Side::Short => (Rounding::Down, Rounding::Down),
        };
        let entry = match signal.entry_type {
            EntryType::Limit => rules.round_limit_price(signal.entry, signal.side.entry()),
            EntryType::Market => signal.entry,
        };
        let stop_loss = signal.stop_loss.map(|p| rules.round_price(p, stop_dir));
        Prices {
            entry,
            stop_loss,
            take_profit: signal.take_profit.map(|p| rules.round_price(p, tp_dir)),
            basis: SizeBasis::new(entry, stop_loss, rules),
        }
    }
}

fn allocate(sub: &Subscriber, prep: &Prepared, signal: &Signal, prices: &Prices) -> Result<Allocation, Skip> {
    let order = |quantity| OrderRequest {
        client_order_id: ClientOrderId::new(&sub.key.bot, signal.seq, OrderRole::Base, 0),
        role: OrderRole::Base,
        side: signal.side.entry(),
        kind: match signal.entry_type {
            EntryType::Limit => OrderKind::Limit { price: prices.entry },
            EntryType::Market => OrderKind::Market { reference_price: prices.entry },
        },
        quantity,
    };
    match prep {
        Prepared::Risk { exposure } => {
            let basis = prices.basis.as_ref().map_err(|e| Skip::Sizing(e.clone()))?;
            let quantity = sized_quantity(*exposure, basis, &sub.rules).map_err(|e| match e {
                SizingError::Rule { violation, .. } => Skip::BelowMinimum { level: 0, violation },
                other => Skip::Sizing(other),
            })?;
            Ok(Allocation::Single {
                entry: order(quantity),
                stop_loss: prices.stop_loss,
                take_profit: prices.take_profit,
            })
        }
        Prepared::Ladder { strategy } => {
            if strategy.side != signal.side {
                return Err(Skip::WrongSide { ladder: strategy.side, signal: signal.side });
            }
            // The base order exactly as the subscriber's engine would size it.
            let quantity = order_quantity(strategy.base_order, prices.entry, &sub.rules, 0).map_err(|e| match e {
                LadderError::Rule { violation, level, .. } => Skip::BelowMinimum { level, violation },
                other => Skip::Ladder(other),
            })?;
            Ok(Allocation::Ladder { entry: order(quantity), stop_loss: prices.stop_loss })
        }
    }
}

#[cfg(test)]
mod tests;
