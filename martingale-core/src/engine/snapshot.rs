//! Restoring an engine from a snapshot: a snapshot is outside input.
//!
//! Every deserialization of an [`Engine`] goes through [`EngineState`] and
//! `TryFrom`: the strategy, market rules and fees are validated by the bot
//! file's own code ([`BotFile::validate`], which bounds `max_safety_orders`
//! and the sizes before anything is allocated for the ladder), the values
//! derived from them (nominal deviations, level specs) are recomputed, never
//! read, and every amount of the state is bounded as the engine itself
//! keeps it: prices seen in `(0, MAX_AMOUNT]`, a position's running totals
//! in `[0, MAX_TOTAL]`, quantities and planned prices positive, an order's
//! fills within its quantity, and the phase must agree with its deal.
//! Within those bounds no later event can make the engine's arithmetic
//! overflow (what could is checked or saturating), and every state the
//! engine reaches restores (tested by fuzzing).
//!
//! Versions: every snapshot carries its layout as `"format"`
//! ([`ENGINE_SNAPSHOT_FORMAT`]). Format 1 is the layout written before the
//! field existed (a snapshot without `"format"` is read as 1); format 2
//! adds only the field. A snapshot of any known format restores, and the
//! restored engine writes the current one; a format from a newer release
//! is refused ([`SnapshotError::Format`]) rather than misread. A committed
//! format-1 fixture (`tests/fixtures/engine-snapshot-format-1.json`) keeps
//! this true.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::deal::Deal;
use super::fsm::price_ok;
use super::{BotId, Engine, IdGeneration, Mode, OrderKind, Phase, TimeMs};
use crate::config::{BotFile, ConfigError, FillModel, StrategyConfig};
use crate::fees::FeeSchedule;
use crate::ladder;
use crate::market::MarketRules;
use crate::pnl::BotTotals;
use crate::position::MAX_TOTAL;

/// Why a snapshot was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SnapshotError {
    /// The strategy, market rules or fees are invalid (as in a bot file).
    #[error("snapshot: {0}")]
    Invalid(#[from] ConfigError),
    /// An amount of the state is out of its bounds.
    #[error("snapshot: `{field}` = {value} is out of bounds: {reason}")]
    OutOfBounds {
        /// The field.
        field: &'static str,
        /// Its value.
        value: Decimal,
        /// The bounds.
        reason: &'static str,
    },
    /// The state contradicts itself.
    #[error("snapshot: {0}")]
    Inconsistent(&'static str),
    /// The snapshot's layout is not one this release reads (a newer
    /// release wrote it): upgrade martingale-core to restore it.
    #[error("snapshot: format {found} is not supported (this release reads formats 1 to {supported}); it was written by a newer release: upgrade to restore it")]
    Format {
        /// The snapshot's `"format"`.
        found: u32,
        /// The newest format this release reads.
        supported: u32,
    },
}

/// The engine snapshot layout this release writes (see the module docs).
pub const ENGINE_SNAPSHOT_FORMAT: u32 = 2;

/// A snapshot's layout version, serialized as a bare number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(super) struct Format(u32);

impl Default for Format {
    fn default() -> Format {
        Format(ENGINE_SNAPSHOT_FORMAT)
    }
}

impl Format {
    /// Snapshots written before the field existed.
    fn first() -> Format {
        Format(1)
    }
}

/// The serialized fields of an [`Engine`]; the derived `deviations` and
/// `levels_spec` are not read (they are recomputed).
#[derive(Deserialize)]
pub(super) struct EngineState {
    #[serde(default = "Format::first")]
    format: Format,
    bot: BotId,
    strategy: StrategyConfig,
    rules: MarketRules,
    fees: FeeSchedule,
    mode: Mode,
    phase: Phase,
    deals_started: u32,
    totals: BotTotals,
    last_closed_at: Option<TimeMs>,
    reinvest_pool: Decimal,
    signal_pending: bool,
    retry_on_tick: bool,
    #[serde(default)]
    entry_retry: Option<bool>,
    last_price: Option<Decimal>,
    last_time: Option<TimeMs>,
    #[serde(default)]
    last_tick_time: Option<TimeMs>,
    #[serde(default)]
    generation: Option<IdGeneration>,
    #[serde(default)]
    next: Option<Box<StrategyConfig>>,
}

const PRICE: &str = "must be in (0, 10^13]";
const TOTAL: &str = "must be in [0, 10^28]";

fn price(field: &'static str, value: Decimal) -> Result<(), SnapshotError> {
    if price_ok(value) {
        Ok(())
    } else {
        Err(SnapshotError::OutOfBounds { field, value, reason: PRICE })
    }
}

fn total(field: &'static str, value: Decimal) -> Result<(), SnapshotError> {
    if value >= Decimal::ZERO && value <= MAX_TOTAL {
        Ok(())
    } else {
        Err(SnapshotError::OutOfBounds { field, value, reason: TOTAL })
    }
}

fn positive(field: &'static str, value: Decimal) -> Result<(), SnapshotError> {
    if value > Decimal::ZERO && value <= MAX_TOTAL {
        Ok(())
    } else {
        Err(SnapshotError::OutOfBounds { field, value, reason: "must be positive and at most 10^28" })
    }
}

fn not_negative(field: &'static str, value: Decimal) -> Result<(), SnapshotError> {
    if value >= Decimal::ZERO {
        Ok(())
    } else {
        Err(SnapshotError::OutOfBounds { field, value, reason: "must not be negative" })
    }
}

impl TryFrom<EngineState> for Engine {
    type Error = SnapshotError;

    fn try_from(s: EngineState) -> Result<Engine, SnapshotError> {
        if !(1..=ENGINE_SNAPSHOT_FORMAT).contains(&s.format.0) {
            return Err(SnapshotError::Format { found: s.format.0, supported: ENGINE_SNAPSHOT_FORMAT });
        }
        let file =
            BotFile { strategy: s.strategy, market: s.rules, fees: s.fees, fill: FillModel::default(), venue: None };
        file.validate()?;
        let deviations = file.strategy.nominal_deviations()?;
        let levels_spec = ladder::level_specs(&file.strategy, &deviations)?;
        if let Some(p) = s.last_price {
            price("last_price", p)?;
        }
        not_negative("reinvest_pool", s.reinvest_pool)?;
        check_generation(s.generation)?;
        if let Some(next) = &s.next {
            // A reconfiguration's pending strategy: valid on the same
            // market, fees and side as the one in force.
            let pending = BotFile { strategy: StrategyConfig::clone(next), ..file.clone() };
            pending.validate()?;
            if next.side != file.strategy.side {
                return Err(SnapshotError::Inconsistent("the pending strategy's side differs from the strategy's"));
            }
        }
        match &s.phase {
            Phase::Idle => {}
            Phase::Opening(d) | Phase::Open(d) => check_deal(d, &file.strategy)?,
            Phase::Closing { deal, exit } => {
                check_deal(deal, &file.strategy)?;
                total("deal.exit.reference_price", exit.reference_price)?;
            }
        }
        Ok(Engine {
            format: Format::default(),
            bot: s.bot,
            strategy: file.strategy,
            deviations,
            levels_spec,
            rules: file.market,
            fees: file.fees,
            mode: s.mode,
            phase: s.phase,
            deals_started: s.deals_started,
            totals: s.totals,
            last_closed_at: s.last_closed_at,
            reinvest_pool: s.reinvest_pool,
            signal_pending: s.signal_pending,
            retry_on_tick: s.retry_on_tick,
            entry_retry: s.entry_retry,
            last_price: s.last_price,
            last_time: s.last_time,
            last_tick_time: s.last_tick_time,
            generation: s.generation,
            next: s.next,
            clock_grain: super::time_limit::ClockGrain::default(),
        })
    }
}

/// Largest generation stamp accepted (2^62 seconds; a start at any `TimeMs`
/// gives at most ~9.2 * 10^15): keeps rolling to later generations far from
/// overflow.
const MAX_STAMP: u64 = 1 << 62;

fn check_generation(g: Option<IdGeneration>) -> Result<(), SnapshotError> {
    match g {
        Some(g) if g.stamp > MAX_STAMP => Err(SnapshotError::OutOfBounds {
            field: "generation.stamp",
            value: Decimal::from(g.stamp),
            reason: "must be at most 2^62 (a Unix second)",
        }),
        Some(g) if g.first_deal == 0 => Err(SnapshotError::Inconsistent("generation.first_deal starts at 1")),
        _ => Ok(()),
    }
}

fn check_deal(d: &Deal, strategy: &StrategyConfig) -> Result<(), SnapshotError> {
    if d.position.side() != strategy.side {
        return Err(SnapshotError::Inconsistent("the deal's position side differs from the strategy's"));
    }
    d.position.check_bounds().map_err(|(field, value)| SnapshotError::OutOfBounds { field, value, reason: TOTAL })?;
    positive("deal.scale", d.scale)?;
    not_negative("deal.base_quote", d.base_quote)?;
    // Computed from fills (an average can round to zero): bounded as totals.
    for (field, p) in [("deal.entry_price", d.entry_price), ("deal.planned_at", d.planned_at)] {
        if let Some(p) = p {
            total(field, p)?;
        }
    }
    if let Some(tp) = d.take_profit.price() {
        positive("deal.take_profit_price", tp)?;
    }
    if let Some(t) = d.take_profit.trailing() {
        price("deal.trailing.peak", t.peak)?;
    }
    if !d.step_prices.is_empty() && d.step_prices.len() != strategy.take_profit.steps.len() {
        return Err(SnapshotError::Inconsistent("the deal's take-profit steps differ from the strategy's"));
    }
    for p in &d.step_prices {
        positive("deal.step_prices", *p)?;
    }
    if let Some(b) = d.breakeven {
        total("deal.breakeven", b)?;
    }
    check_generation(d.generation)?;
    if d.next_level == 0 {
        return Err(SnapshotError::Inconsistent("deal.next_level starts at 1"));
    }
    if d.levels.len() > usize::try_from(strategy.safety_count()).unwrap_or(usize::MAX) {
        return Err(SnapshotError::Inconsistent("the deal has more levels than the strategy"));
    }
    for l in &d.levels {
        positive("deal.levels.price", l.price)?;
        positive("deal.levels.quantity", l.quantity)?;
    }
    for o in &d.orders {
        let q = o.request.quantity;
        positive("deal.orders.quantity", q)?;
        if o.filled < Decimal::ZERO || o.filled > q {
            let reason = "must be in [0, the order's quantity]";
            return Err(SnapshotError::OutOfBounds { field: "deal.orders.filled", value: o.filled, reason });
        }
        total("deal.orders.filled_value", o.filled_value)?;
        match o.request.kind {
            OrderKind::Limit { price: p } => positive("deal.orders.price", p)?,
            OrderKind::Market { reference_price } => total("deal.orders.reference_price", reference_price)?,
        }
    }
    Ok(())
}
