//! Shared funds (SPEC section 10): the bots of one account trade from one
//! balance and never over-commit it.
//!
//! With [`Fleet::set_funds`] an account has a balance (the caller keeps it
//! current: the venue's free quote, or a budget). A deal of one of its bots
//! starts only when the account's free balance, its balance minus what
//! every open deal of the account still needs for its unfilled entries
//! ([`Engine::funds_outstanding`]), covers what the new deal would commit;
//! otherwise the price is not handed to that bot, which waits and says why
//! ([`Fleet::waiting`]). What a deal would commit is measured exactly, on a
//! copy of the engine given the same event.
//!
//! Invariant: after every routed event, for every account with a balance,
//! the sum of its engines' outstanding needs is at most the balance as it
//! was when the deals started (the caller lowers the balance as entries
//! fill, which lowers the needs by the same amounts). Known limit: one
//! balance per account, in the unit of the ladder's sizes (quote); bots of
//! one account on different quote assets need separate fleets. A limit
//! entry that times out is retried on the next tick, so the retry is gated
//! like any start.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{AccountId, EngineKey, Fleet};
use crate::engine::{Engine, EngineError, Event, Output, TimeMs};

/// Why a bot did not start a deal: its ladder needs more than the
/// account's free balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundsWait {
    /// When it last had to wait.
    pub time: TimeMs,
    /// What the deal would commit.
    pub needed: Decimal,
    /// The account's free balance then.
    pub free: Decimal,
}

impl std::fmt::Display for FundsWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "waiting for funds: the next deal needs {} but the account has {} free (its other deals hold the rest)",
            self.needed, self.free
        )
    }
}

impl Fleet {
    /// Sets (or, with `None`, removes) the balance the bots of `account`
    /// share; without one they are not limited.
    pub fn set_funds(&mut self, account: &AccountId, balance: Option<Decimal>) {
        match balance {
            Some(b) => {
                self.funds.insert(account.clone(), b);
            }
            None => {
                self.funds.remove(account);
            }
        }
    }

    /// The balance `account` shares, if set.
    pub fn funds(&self, account: &AccountId) -> Option<Decimal> {
        self.funds.get(account).copied()
    }

    /// What the open deals of `account` still need for their unfilled entries.
    pub fn committed(&self, account: &AccountId) -> Decimal {
        self.slots
            .iter()
            .filter(|s| &s.key.account == account)
            .fold(Decimal::ZERO, |acc, s| acc.saturating_add(s.engine.funds_outstanding()))
    }

    /// Why `key`'s bot is waiting to start a deal, if it is.
    pub fn waiting(&self, key: &EngineKey) -> Option<FundsWait> {
        self.waits.get(key).copied()
    }

    /// The free balance of each account with a balance, before routing.
    pub(super) fn free_balances(&self, accounts: impl Iterator<Item = AccountId>) -> HashMap<AccountId, Decimal> {
        let mut free = HashMap::new();
        for a in accounts {
            if let Some(balance) = self.funds.get(&a) {
                if !free.contains_key(&a) {
                    free.insert(a.clone(), *balance - self.committed(&a));
                }
            }
        }
        free
    }
}

/// Hands `event` to `engine` unless it would start a deal its account
/// cannot fund (`free`, updated when it starts one). `Ok(None)`: withheld,
/// the wait recorded in `waits`.
pub(super) fn gated(
    engine: &mut Engine,
    key: &EngineKey,
    event: Event,
    time: TimeMs,
    free: Option<&mut Decimal>,
    waits: &mut HashMap<EngineKey, FundsWait>,
) -> Result<Option<Output>, EngineError> {
    let Some(free) = free else { return engine.handle(event).map(Some) };
    if !engine.would_start(time) {
        let before = engine.funds_outstanding();
        let out = engine.handle(event)?;
        // Fills are not routed here; a tick changes no need, but keep the
        // account's figure exact whatever the event did.
        *free -= engine.funds_outstanding() - before;
        return Ok(Some(out));
    }
    let mut trial = engine.clone();
    let out = trial.handle(event)?;
    let needed = trial.funds_outstanding();
    if needed > *free {
        waits.insert(key.clone(), FundsWait { time, needed, free: *free });
        return Ok(None);
    }
    *free -= needed;
    waits.remove(key);
    *engine = trial;
    Ok(Some(out))
}
