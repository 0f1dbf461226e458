//! A deal's take profit as one state ([`TakeProfitState`]) instead of four
//! fields that could contradict each other (`managed`, `take_profit_wanted`,
//! `take_profit_price`, `trailing`, as the snapshot still spells them).
//!
//! Transitions (all in the engine's handlers; this module only names them):
//! - the base order fills: `NotYet` → `Wanted` (nothing planned yet);
//! - `reconcile` places the take profit (or its steps, or arms nothing but
//!   the trailing price) once no take-profit order is live: `Wanted` →
//!   `Placed` at the new price, keeping an armed trailing exit;
//! - an entry fill moves the position: `Placed` → `Wanted`, the trailing
//!   exit disarmed (the target moved, so it must be reached again);
//! - a take-profit order canceled or refused by the venue, or left offering
//!   more than the deal holds after a late exit fill: `Placed` → `Wanted`
//!   with the trailing exit kept. So a take-profit step lost while the
//!   trailing last step is armed is placed again and the trailing exit
//!   stays armed at its peak: nothing about the target changed;
//! - `stop` with `cancel_orders`: any state → `Unmanaged` (the engine places
//!   nothing and watches no exit for the deal); `start` → `Wanted`;
//! - the deal decides an exit: the trailing exit and any pending
//!   re-placement are dropped ([`TakeProfitState::settled`]).
//!
//! Invariant: a trailing exit is armed only with a price that armed it.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::deal::Trailing;

/// The take profit of one deal (see the module docs for its transitions).
///
/// ```
/// use martingale_core::engine::TakeProfitState;
/// use rust_decimal_macros::dec;
///
/// let placed = TakeProfitState::Placed { price: dec!(101.50), trailing: None };
/// assert_eq!(placed.price(), Some(dec!(101.50)));
/// assert!(placed.is_managed() && !placed.is_wanted());
/// assert_eq!(TakeProfitState::NotYet.price(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TakeProfitRepr", into = "TakeProfitRepr")]
pub enum TakeProfitState {
    /// The deal's entry has not filled: there is nothing to take profit on.
    NotYet,
    /// To be placed (again) once no take-profit order of the deal is live.
    Wanted {
        /// The price planned last time, if any (it still arms a trailing
        /// exit until the new one is planned).
        price: Option<Decimal>,
        /// A trailing exit armed before, kept through the re-placement.
        trailing: Option<Trailing>,
    },
    /// Planned at `price`: its order (or steps) placed, or with a trailing
    /// take profit the price that arms the trailing exit.
    Placed {
        /// The take-profit price (the last step's with steps).
        price: Decimal,
        /// The trailing exit, once armed.
        trailing: Option<Trailing>,
    },
    /// After `stop` with `cancel_orders`: the engine places no order and
    /// watches no exit for this deal until `start`.
    Unmanaged {
        /// The price planned last, if any.
        price: Option<Decimal>,
    },
}

impl TakeProfitState {
    /// The take-profit (or trailing arming) price planned last.
    pub fn price(&self) -> Option<Decimal> {
        match *self {
            TakeProfitState::NotYet => None,
            TakeProfitState::Wanted { price, .. } | TakeProfitState::Unmanaged { price } => price,
            TakeProfitState::Placed { price, .. } => Some(price),
        }
    }

    /// The trailing exit, once armed.
    pub fn trailing(&self) -> Option<Trailing> {
        match *self {
            TakeProfitState::Wanted { trailing, .. } | TakeProfitState::Placed { trailing, .. } => trailing,
            TakeProfitState::NotYet | TakeProfitState::Unmanaged { .. } => None,
        }
    }

    /// False after `stop` with `cancel_orders`, until `start`.
    pub fn is_managed(&self) -> bool {
        !matches!(self, TakeProfitState::Unmanaged { .. })
    }

    /// True while a take profit waits to be placed.
    pub fn is_wanted(&self) -> bool {
        matches!(self, TakeProfitState::Wanted { .. })
    }

    /// To place again, keeping the trailing exit or not; unchanged when
    /// unmanaged.
    pub(super) fn want(&mut self, keep_trailing: bool) {
        if self.is_managed() {
            let trailing = self.trailing().filter(|_| keep_trailing);
            *self = TakeProfitState::Wanted { price: self.price(), trailing };
        }
    }

    /// Placed at `price`, keeping an armed trailing exit.
    pub(super) fn placed(&mut self, price: Decimal) {
        *self = TakeProfitState::Placed { price, trailing: self.trailing() };
    }

    /// Sets the trailing exit of a planned take profit (no change in other
    /// states: nothing arms without a price).
    pub(super) fn set_trailing(&mut self, armed: Option<Trailing>) {
        if let TakeProfitState::Wanted { price: Some(_), trailing } | TakeProfitState::Placed { trailing, .. } = self {
            *trailing = armed;
        }
    }

    /// The state once an exit is decided: no trailing exit, nothing to place.
    pub(super) fn settled(&self) -> TakeProfitState {
        match (*self, self.price()) {
            (TakeProfitState::Unmanaged { price }, _) => TakeProfitState::Unmanaged { price },
            (_, Some(price)) => TakeProfitState::Placed { price, trailing: None },
            (_, None) => TakeProfitState::NotYet,
        }
    }
}

/// The snapshot layout: four fields of the deal object.
#[derive(Serialize, Deserialize)]
struct TakeProfitRepr {
    take_profit_price: Option<Decimal>,
    take_profit_wanted: bool,
    trailing: Option<Trailing>,
    managed: bool,
}

impl TryFrom<TakeProfitRepr> for TakeProfitState {
    type Error = &'static str;

    fn try_from(r: TakeProfitRepr) -> Result<Self, Self::Error> {
        use TakeProfitState as T;
        match (r.managed, r.take_profit_wanted, r.take_profit_price, r.trailing) {
            (false, false, price, None) => Ok(T::Unmanaged { price }),
            (false, _, _, _) => Err("inconsistent snapshot: an unmanaged deal wants a take profit or trails"),
            (true, _, None, Some(_)) => Err("inconsistent snapshot: a trailing exit armed without a price"),
            (true, true, price, trailing) => Ok(T::Wanted { price, trailing }),
            (true, false, Some(price), trailing) => Ok(T::Placed { price, trailing }),
            (true, false, None, None) => Ok(T::NotYet),
        }
    }
}

impl From<TakeProfitState> for TakeProfitRepr {
    fn from(t: TakeProfitState) -> Self {
        TakeProfitRepr {
            take_profit_price: t.price(),
            take_profit_wanted: t.is_wanted(),
            trailing: t.trailing(),
            managed: t.is_managed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn read(json: &str) -> Result<TakeProfitState, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn every_state_round_trips_through_the_snapshot_fields() {
        let t = Some(Trailing { peak: dec!(103) });
        for state in [
            TakeProfitState::NotYet,
            TakeProfitState::Wanted { price: None, trailing: None },
            TakeProfitState::Wanted { price: Some(dec!(102)), trailing: t },
            TakeProfitState::Placed { price: dec!(102), trailing: None },
            TakeProfitState::Placed { price: dec!(102), trailing: t },
            TakeProfitState::Unmanaged { price: None },
            TakeProfitState::Unmanaged { price: Some(dec!(102)) },
        ] {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(read(&json), Ok(state), "{json}");
        }
        let placed =
            r#"{"take_profit_price": "39187.11", "take_profit_wanted": false, "trailing": null, "managed": true}"#;
        assert_eq!(read(placed), Ok(TakeProfitState::Placed { price: dec!(39187.11), trailing: None }));
    }

    #[test]
    fn contradicting_fields_are_refused() {
        let cases = [
            (
                r#"{"take_profit_price": null, "take_profit_wanted": true, "trailing": null, "managed": false}"#,
                "unmanaged",
            ),
            (
                r#"{"take_profit_price": "1", "take_profit_wanted": false, "trailing": {"peak": "2"}, "managed": false}"#,
                "unmanaged",
            ),
            (
                r#"{"take_profit_price": null, "take_profit_wanted": false, "trailing": {"peak": "2"}, "managed": true}"#,
                "without a price",
            ),
            (
                r#"{"take_profit_price": null, "take_profit_wanted": true, "trailing": {"peak": "2"}, "managed": true}"#,
                "without a price",
            ),
        ];
        for (json, needle) in cases {
            let e = read(json).unwrap_err();
            assert!(e.contains(needle), "{json}: {e}");
        }
    }

    #[test]
    fn want_keeps_or_drops_the_trailing_exit_and_never_manages_an_unmanaged_deal() {
        let armed = TakeProfitState::Placed { price: dec!(102), trailing: Some(Trailing { peak: dec!(103) }) };
        let mut kept = armed;
        kept.want(true);
        assert_eq!(kept, TakeProfitState::Wanted { price: Some(dec!(102)), trailing: armed.trailing() });
        let mut dropped = armed;
        dropped.want(false);
        assert_eq!(dropped, TakeProfitState::Wanted { price: Some(dec!(102)), trailing: None });
        let mut stopped = TakeProfitState::Unmanaged { price: Some(dec!(102)) };
        stopped.want(true);
        assert_eq!(stopped, TakeProfitState::Unmanaged { price: Some(dec!(102)) });
        assert_eq!(armed.settled(), TakeProfitState::Placed { price: dec!(102), trailing: None });
        assert_eq!(TakeProfitState::Wanted { price: None, trailing: None }.settled(), TakeProfitState::NotYet);
    }
}
