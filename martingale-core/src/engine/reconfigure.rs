//! Changing a bot's settings while it runs: [`Command::Reconfigure`].
//!
//! The command carries the whole new bot file. Its strategy is compared
//! with the strategy in force, field by field, and each changed field is
//! applied by one rule:
//!
//! | setting | rule |
//! |---|---|
//! | `side`, `market` (symbol, tick and step sizes, minimums), `fees` | **refused** ([`EngineError::SettingRefused`] names the field): a bot for another side or market is another bot |
//! | `take_profit` (without steps), `trailing_take_profit` (without steps), `stop_loss`, `stop_loss_timeout_secs`, `cooldown_secs`, `max_deals`, `reinvest_percent`, `start_condition`, `time_limit` | **at once**: an open deal's take profit is re-priced (its order canceled, the new one placed once the cancel is confirmed, as after an entry fill; an armed trailing exit is kept only when neither the target nor the trailing changed), the stop loss and time limit use the new levels from the next tick, and the start rules apply to the next start |
//! | ladder shape: `base_order`, `safety_order`, `max_safety_orders`, `price_deviation`, `step_scale`, `volume_scale`, `safety_anchor`, `custom_levels`, `max_active_safety_orders`, `base_order_type`, `entry_offset_percent`, `entry_timeout_secs`; and `take_profit` / `trailing_take_profit` when the old or the new take profit has steps | **from the next deal** while a deal is in progress (opening, open or closing): the deal keeps the ladder (and steps) it was planned with; at once when no deal is open |
//!
//! The venue and the simulated fill model are not the engine's (it never
//! sees them): the callers refuse changing them (the service does).
//!
//! How: the strategy in force becomes the new one with the deal's ladder
//! fields kept, and the new strategy waits in the engine ([`Engine::pending_strategy`],
//! persisted in the snapshot as `"next"`) until no deal is in progress; it
//! is installed before the next tick can start a deal. [`Engine::target_strategy`]
//! is the strategy the bot file holds (the pending one, or the one in
//! force). A change that would leave the strategy in force invalid (e.g. a
//! break-even step that the deal's kept take-profit steps do not have) is
//! refused with the reason; nothing is ever silently ignored.
//! [`Engine::plan_reconfigure`] tells, without changing anything, what the
//! command would do.

use std::fmt;

use rust_decimal::Decimal;

use super::{Engine, EngineError, Output, Phase, PhaseKind, TimeMs};
use crate::config::{BotFile, StrategyConfig};
use crate::ladder;

/// What a reconfiguration changes: the strategy fields, by when they apply.
///
/// ```
/// use martingale_core::engine::Reconfiguration;
/// let r = Reconfiguration { at_once: vec!["take_profit"], next_deal: vec!["base_order"] };
/// assert_eq!(r.to_string(), "applied at once: take_profit; from the next deal: base_order");
/// assert_eq!(Reconfiguration::default().to_string(), "nothing changed");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconfiguration {
    /// Changed fields that apply at once.
    pub at_once: Vec<&'static str>,
    /// Changed fields that apply from the next deal (the deal in progress
    /// keeps its ladder).
    pub next_deal: Vec<&'static str>,
}

impl Reconfiguration {
    /// True when nothing changes.
    pub fn is_empty(&self) -> bool {
        self.at_once.is_empty() && self.next_deal.is_empty()
    }
}

impl fmt::Display for Reconfiguration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.at_once.is_empty() {
            parts.push(format!("applied at once: {}", self.at_once.join(", ")));
        }
        if !self.next_deal.is_empty() {
            parts.push(format!("from the next deal: {}", self.next_deal.join(", ")));
        }
        if parts.is_empty() {
            f.write_str("nothing changed")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}

/// A checked reconfiguration, ready to apply.
struct Prepared {
    report: Reconfiguration,
    strategy: StrategyConfig,
    deviations: Vec<Decimal>,
    levels_spec: Vec<ladder::LevelSpec>,
    next: Option<StrategyConfig>,
}

/// The strategy fields that differ between `a` and `b`, in declaration
/// order. Destructured in full: a new field must be classified here.
fn changed(a: &StrategyConfig, b: &StrategyConfig) -> Vec<&'static str> {
    let StrategyConfig {
        side,
        base_order,
        safety_order,
        max_safety_orders,
        price_deviation,
        step_scale,
        volume_scale,
        safety_anchor,
        custom_levels,
        max_active_safety_orders,
        take_profit,
        trailing_take_profit,
        stop_loss,
        stop_loss_timeout_secs,
        cooldown_secs,
        max_deals,
        reinvest_percent,
        start_condition,
        time_limit,
        base_order_type,
        entry_offset_percent,
        entry_timeout_secs,
    } = a;
    let mut out = Vec::new();
    let mut check = |name: &'static str, same: bool| {
        if !same {
            out.push(name);
        }
    };
    check("side", *side == b.side);
    check("base_order", *base_order == b.base_order);
    check("safety_order", *safety_order == b.safety_order);
    check("max_safety_orders", *max_safety_orders == b.max_safety_orders);
    check("price_deviation", *price_deviation == b.price_deviation);
    check("step_scale", *step_scale == b.step_scale);
    check("volume_scale", *volume_scale == b.volume_scale);
    check("safety_anchor", *safety_anchor == b.safety_anchor);
    check("custom_levels", *custom_levels == b.custom_levels);
    check("max_active_safety_orders", *max_active_safety_orders == b.max_active_safety_orders);
    check("take_profit", *take_profit == b.take_profit);
    check("trailing_take_profit", *trailing_take_profit == b.trailing_take_profit);
    check("stop_loss", *stop_loss == b.stop_loss);
    check("stop_loss_timeout_secs", *stop_loss_timeout_secs == b.stop_loss_timeout_secs);
    check("cooldown_secs", *cooldown_secs == b.cooldown_secs);
    check("max_deals", *max_deals == b.max_deals);
    check("reinvest_percent", *reinvest_percent == b.reinvest_percent);
    check("start_condition", *start_condition == b.start_condition);
    check("time_limit", *time_limit == b.time_limit);
    check("base_order_type", *base_order_type == b.base_order_type);
    check("entry_offset_percent", *entry_offset_percent == b.entry_offset_percent);
    check("entry_timeout_secs", *entry_timeout_secs == b.entry_timeout_secs);
    out
}

/// True for the fields that shape a deal's ladder (and, with steps, its
/// take profit): they apply from the next deal while one is in progress.
fn is_ladder(field: &str, steps: bool) -> bool {
    match field {
        "base_order"
        | "safety_order"
        | "max_safety_orders"
        | "price_deviation"
        | "step_scale"
        | "volume_scale"
        | "safety_anchor"
        | "custom_levels"
        | "max_active_safety_orders"
        | "base_order_type"
        | "entry_offset_percent"
        | "entry_timeout_secs" => true,
        "take_profit" | "trailing_take_profit" => steps,
        _ => false,
    }
}

/// `new` with the ladder fields of `old` (those [`is_ladder`] names).
fn keep_ladder(new: &StrategyConfig, old: &StrategyConfig, steps: bool) -> StrategyConfig {
    let mut s = new.clone();
    s.base_order = old.base_order;
    s.safety_order = old.safety_order;
    s.max_safety_orders = old.max_safety_orders;
    s.price_deviation = old.price_deviation;
    s.step_scale = old.step_scale;
    s.volume_scale = old.volume_scale;
    s.safety_anchor = old.safety_anchor;
    s.custom_levels.clone_from(&old.custom_levels);
    s.max_active_safety_orders = old.max_active_safety_orders;
    s.base_order_type = old.base_order_type;
    s.entry_offset_percent = old.entry_offset_percent;
    s.entry_timeout_secs = old.entry_timeout_secs;
    if steps {
        s.take_profit.clone_from(&old.take_profit);
        s.trailing_take_profit = old.trailing_take_profit;
    }
    s
}

fn refuse(field: &'static str, reason: impl Into<String>) -> EngineError {
    EngineError::SettingRefused { field, reason: reason.into() }
}

impl Engine {
    /// The strategy waiting for the deal in progress to end (set by a
    /// reconfiguration that changed the ladder mid-deal), if any.
    pub fn pending_strategy(&self) -> Option<&StrategyConfig> {
        self.next.as_deref()
    }

    /// The strategy the bot file holds: the pending one if any, else the
    /// one in force.
    pub fn target_strategy(&self) -> &StrategyConfig {
        self.next.as_deref().unwrap_or(&self.strategy)
    }

    /// What [`Command::Reconfigure`](super::Command::Reconfigure) with
    /// `file` would do now, without doing it; the refusal it would return
    /// otherwise (see the module docs for the rules).
    pub fn plan_reconfigure(&self, file: &BotFile) -> Result<Reconfiguration, EngineError> {
        self.prepare(file).map(|p| p.report)
    }

    fn prepare(&self, file: &BotFile) -> Result<Prepared, EngineError> {
        file.validate().map_err(|e| refuse("bot file", e.to_string()))?;
        let new = &file.strategy;
        if new.side != self.strategy.side {
            return Err(refuse("strategy.side", "a bot's side cannot change: add another bot for the other side"));
        }
        if file.market.symbol != self.rules.symbol {
            return Err(refuse("market.symbol", "a bot's market cannot change: add another bot for that market"));
        }
        if file.market != self.rules {
            return Err(refuse(
                "market",
                "the market rules (tick and step sizes, minimums) cannot change while the bot exists",
            ));
        }
        if file.fees != self.fees {
            return Err(refuse("fees", "the fee schedule cannot change while the bot exists"));
        }
        let in_deal = self.phase.kind() != PhaseKind::Idle;
        let steps = in_deal && !(self.strategy.take_profit.steps.is_empty() && new.take_profit.steps.is_empty());
        let (strategy, next) = if in_deal {
            let kept = keep_ladder(new, &self.strategy, steps);
            let next = (kept != *new).then(|| new.clone());
            (kept, next)
        } else {
            (new.clone(), None)
        };
        let mut report = Reconfiguration::default();
        for field in changed(&self.strategy, new) {
            if in_deal && is_ladder(field, steps) {
                report.next_deal.push(field);
            } else {
                report.at_once.push(field);
            }
        }
        let in_force = BotFile { strategy, ..file.clone() };
        in_force.validate().map_err(|e| {
            refuse(
                "strategy",
                format!("{e} (the deal in progress keeps its ladder and take-profit steps); change it while no deal is open"),
            )
        })?;
        let deviations = in_force.strategy.nominal_deviations().map_err(|e| refuse("strategy", e.to_string()))?;
        let levels_spec =
            ladder::level_specs(&in_force.strategy, &deviations).map_err(|e| refuse("strategy", e.to_string()))?;
        Ok(Prepared { report, strategy: in_force.strategy, deviations, levels_spec, next })
    }

    /// Applies a reconfiguration (the command's handler): checks first,
    /// then changes the settings and re-prices the open deal's take profit.
    pub(super) fn reconfigure(&mut self, time: TimeMs, file: &BotFile) -> Result<Output, EngineError> {
        let p = self.prepare(file)?;
        let target_moved = p.strategy.take_profit != self.strategy.take_profit;
        let trailing_moved = p.strategy.trailing_take_profit != self.strategy.trailing_take_profit;
        let keep_trailing = !target_moved && !trailing_moved;
        self.strategy = p.strategy;
        self.deviations = p.deviations;
        self.levels_spec = p.levels_spec;
        self.next = p.next.map(Box::new);
        if !self.strategy.start_condition.needs_signal() {
            self.signal_pending = false;
        }
        if let (true, Phase::Open(deal)) = (target_moved || trailing_moved, &mut self.phase) {
            // Not before the entry filled (nothing planned yet) and not on
            // an unmanaged deal (`start` plans it with the new settings).
            if deal.take_profit.is_managed() && deal.take_profit.price().is_some() {
                deal.take_profit.want(keep_trailing);
            }
        }
        Ok(self.reconcile(time))
    }

    /// Installs the pending strategy once no deal is in progress.
    pub(super) fn install_pending(&mut self) {
        if self.phase.kind() != PhaseKind::Idle || self.next.is_none() {
            return;
        }
        let Some(next) = self.next.take() else { return };
        // Checked when it was accepted (and when a snapshot is restored).
        let Ok(deviations) = next.nominal_deviations() else { return };
        let Ok(levels_spec) = ladder::level_specs(&next, &deviations) else { return };
        self.strategy = *next;
        self.deviations = deviations;
        self.levels_spec = levels_spec;
    }
}
