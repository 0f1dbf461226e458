//! The serialized form of a [`Phase`]: `{"phase": "closing", "deal": {...}}`
//! with a closing deal's exit inside its deal object as `"exit"` (the
//! snapshot layout of format 1, kept so every snapshot written before the
//! exit moved into [`Phase::Closing`] restores unchanged).
//!
//! Reading refuses what the type cannot hold: an opening or open deal with
//! an exit, a closing deal without one.

use serde::{Deserialize, Serialize};

use super::deal::{Deal, PendingExit};
use super::Phase;

/// A deal and, when closing, its exit, as one JSON object.
#[derive(Serialize)]
pub(super) struct DealOut {
    #[serde(flatten)]
    deal: Deal,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit: Option<PendingExit>,
}

#[derive(Serialize)]
#[serde(tag = "phase", content = "deal", rename_all = "snake_case")]
pub(super) enum PhaseOut {
    Idle,
    Opening(DealOut),
    Open(DealOut),
    Closing(DealOut),
}

impl From<Phase> for PhaseOut {
    fn from(p: Phase) -> Self {
        let plain = |deal| DealOut { deal, exit: None };
        match p {
            Phase::Idle => PhaseOut::Idle,
            Phase::Opening(d) => PhaseOut::Opening(plain(d)),
            Phase::Open(d) => PhaseOut::Open(plain(d)),
            Phase::Closing { deal, exit } => PhaseOut::Closing(DealOut { deal, exit: Some(exit) }),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct DealIn {
    #[serde(flatten)]
    deal: Deal,
    #[serde(default)]
    exit: Option<PendingExit>,
}

#[derive(Deserialize)]
#[serde(tag = "phase", content = "deal", rename_all = "snake_case")]
pub(super) enum PhaseIn {
    Idle,
    Opening(DealIn),
    Open(DealIn),
    Closing(DealIn),
}

impl TryFrom<PhaseIn> for Phase {
    type Error = &'static str;

    fn try_from(p: PhaseIn) -> Result<Self, Self::Error> {
        match p {
            PhaseIn::Idle => Ok(Phase::Idle),
            PhaseIn::Opening(DealIn { exit: Some(_), .. }) | PhaseIn::Open(DealIn { exit: Some(_), .. }) => {
                Err("inconsistent snapshot: an opening or open deal has an exit")
            }
            PhaseIn::Opening(d) => Ok(Phase::Opening(d.deal)),
            PhaseIn::Open(d) => Ok(Phase::Open(d.deal)),
            PhaseIn::Closing(DealIn { deal, exit: Some(exit) }) => Ok(Phase::Closing { deal, exit }),
            PhaseIn::Closing(DealIn { exit: None, .. }) => Err("inconsistent snapshot: a closing deal has no exit"),
        }
    }
}
