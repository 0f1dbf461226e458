//! Entry signals into a running bot: external ones (`start_condition =
//! signal`) and those an indicator start condition raises at candle closes
//! (`start_condition = {"indicator": ...}`), decided by the same
//! [`StartGate`] a backtest uses, so paper, live and backtest open deals on
//! the same candles.
//!
//! Known limit: the gate's state (the indicator's recent closes) is not
//! persisted with the engine; after a restart, [`Runner::warm_gate`] feeds
//! it the closes before the restart (e.g. the venue's recent candles)
//! without raising signals.

use martingale_core::engine::{Event, TimeMs};
use martingale_core::indicators::StartGate;
use rust_decimal::Decimal;

use super::{Runner, RunnerError};
use crate::exchange::Exchange;

impl<E: Exchange + ?Sized> Runner<E> {
    /// The gate of the bot's start condition, for indicator conditions.
    pub(super) fn gate_for(bot: &martingale_core::config::BotFile) -> Option<StartGate> {
        let condition = bot.strategy.start_condition;
        condition.is_indicator().then(|| StartGate::new(condition))
    }

    /// An entry signal: with `start_condition = signal` (or an indicator
    /// condition) a deal may open at the next step; ignored by the engine
    /// while a deal is open or for `asap` bots. Persisted and audited like
    /// every event.
    pub async fn signal(&mut self, time: TimeMs) -> Result<(), RunnerError> {
        let time = self.clock(time);
        self.feed(Event::Signal { time }).await
    }

    /// A candle of the bot's interval closed at `close` (at `time`, its
    /// last millisecond). With an indicator start condition, when the
    /// condition holds at this close the engine gets a signal: a deal may
    /// open at the next step, as a backtest opens it at the next candle.
    /// Without one, nothing happens. Returns whether a signal was sent.
    pub async fn candle_closed(&mut self, time: TimeMs, close: Decimal) -> Result<bool, RunnerError> {
        let Some(gate) = self.gate.as_mut() else { return Ok(false) };
        if !gate.push(close) {
            return Ok(false);
        }
        self.signal(time).await?;
        Ok(true)
    }

    /// Counts the engine's time limit in whole candles of `interval_ms`
    /// (a replay of candles, as the backtest does); `None`: exact times.
    pub fn set_clock_grain(&mut self, interval_ms: Option<TimeMs>) {
        self.engine.set_clock_grain(interval_ms);
    }

    /// Feeds closes from before a (re)start to the indicator, oldest first,
    /// without raising signals.
    pub fn warm_gate(&mut self, closes: &[Decimal]) {
        if let Some(gate) = self.gate.as_mut() {
            for c in closes {
                gate.push(*c);
            }
        }
    }
}
