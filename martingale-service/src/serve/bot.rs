//! One bot the service runs, on the paper venue (prices replayed from the
//! price file, or read live from a venue's public ticker) or on a live
//! venue: its runner, where its prices come from, and how the operator's
//! wishes become engine commands.

use std::sync::Arc;

use martingale_core::backtest::Candles;
use martingale_core::engine::{Candle, Command, Mode, OrderState, PhaseKind, TimeMs};
use martingale_core::venue::Venue;
use martingale_core::Side;
use martingale_exchange::{Exchange, PaperExchange, Persisted, Runner, RunnerConfig, StateStore};

use crate::db::now_ms;
use rust_decimal::Decimal;

use crate::bots::{Bot, DesiredState, Request};
use crate::{Db, DbStateStore};

/// Where a paper bot's prices come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PaperPrices {
    /// The price file, one candle per interval, on the replay's clock.
    File,
    /// A live venue's last price (the shared board), one walk per
    /// interval from the previous price to this one, on the wall clock.
    Live(Venue),
}

/// Where a bot's prices and fills come from.
pub(super) enum Feed {
    /// Its own paper account.
    Paper {
        /// The paper account.
        paper: Arc<PaperExchange>,
        /// Where its prices come from.
        prices: PaperPrices,
        /// The last millisecond of the last candle walked through it (the
        /// engine's own last event may be earlier in that candle).
        replayed_until: Option<TimeMs>,
        /// Events and replay position at the last checkpoint written.
        checkpointed: Option<(u64, Option<TimeMs>)>,
    },
    /// A live venue with its owner's keys, stepped on the wall clock; the
    /// runner persists every engine output before sending it, so there is
    /// no checkpoint to keep.
    Live {
        /// The venue.
        venue: Venue,
        /// Its market id.
        symbol: String,
    },
}

/// How a paper bot starts: its account and where the market stands.
pub(super) struct PaperStart<'a> {
    /// Quote balance of the new paper account.
    pub quote: Decimal,
    /// Where its prices come from.
    pub prices: PaperPrices,
    /// The last candle the service walked (sets the market's price).
    pub previous: Option<Candle>,
    /// The next price (funds a short bot's base balance).
    pub price: Option<Decimal>,
    /// The price file's closes (last millisecond, close): the bot takes
    /// those it has seen (up to its checkpoint, or before `time` when it
    /// is new) to warm an indicator start condition.
    pub history: &'a [(TimeMs, Decimal)],
    /// The clock.
    pub time: TimeMs,
}

/// A bot the service runs.
pub(super) struct ServiceBot {
    /// Owning account.
    pub account: String,
    /// When its bot row was added: a bot removed and added again under
    /// the same id is another bot (another runner).
    pub created_at: i64,
    /// The runner (engine, persistence to the database).
    pub runner: Runner<dyn Exchange>,
    /// Where its prices come from.
    pub feed: Feed,
}

impl ServiceBot {
    /// Starts `bot` (or resumes it from its snapshot) on a live venue:
    /// `exchange` carries its owner's keys. The runner reconciles every
    /// order its snapshot holds with the venue before the first step (see
    /// `martingale_exchange::Runner`), so a restart never places an order
    /// twice.
    pub async fn start_live(
        bot: &Bot,
        store: Arc<DbStateStore>,
        exchange: Arc<dyn Exchange>,
    ) -> Result<ServiceBot, String> {
        let cfg = RunnerConfig { account: bot.account.clone(), symbol: bot.symbol.clone(), cancel_on_shutdown: false };
        let runner = Runner::builder(bot.id.clone(), &bot.file, exchange, store as Arc<dyn StateStore>)
            .config(cfg)
            .time(now_ms())
            // The row is the authority (see `crate::settings`).
            .adopt_settings(true)
            .step_timeout(std::time::Duration::from_secs(60))
            .start()
            .await
            .map_err(|e| e.to_string())?;
        Ok(ServiceBot {
            account: bot.account.clone(),
            created_at: bot.created_at,
            runner,
            feed: Feed::Live { venue: bot.venue, symbol: bot.symbol.clone() },
        })
    }

    /// Starts `bot` (or resumes it from its stored snapshot) on a new paper
    /// account holding `start.quote` (a short bot also holds base worth
    /// that at `start.price`); the market stands at `start.previous`.
    ///
    /// The paper venue does not outlive the process: a resumed bot's paper
    /// account is rebuilt from its snapshot (its open position as base
    /// balance, its resting orders placed again). An order that was partly
    /// filled cannot be rebuilt; the bot is refused with a message.
    pub async fn start(bot: &Bot, store: Arc<DbStateStore>, start: PaperStart<'_>) -> Result<ServiceBot, String> {
        let PaperStart { quote, prices, previous, price, history, time } = start;
        // The paper venue died with the last process: go back to the state
        // at the end of the last whole polling interval, which the venue
        // can be rebuilt from (see `DbStateStore::restore_checkpoint`).
        if store.restore_checkpoint(&bot.id).await.map_err(|e| e.to_string())? {
            tracing::info!(bot = %bot.id, "resumed from the last replay checkpoint");
        }
        let saved = match store.load(&bot.id).await.map_err(|e| e.to_string())? {
            Some(text) => Some(Persisted::load(&bot.id, &text).map_err(|e| e.to_string())?),
            None => None,
        };
        let deal = saved.as_ref().and_then(|p| p.engine.deal());
        let open_qty = deal.map_or(Decimal::ZERO, |d| d.position.open_qty().max(Decimal::ZERO));
        // A long holds what its deal bought; a short borrows nothing on a
        // spot account, so it starts with base worth `quote` at `price`.
        let base = match (bot.file.strategy.side, price) {
            (Side::Long, _) => open_qty,
            (Side::Short, Some(p)) if p > Decimal::ZERO => (quote / p).round_dp(8),
            (Side::Short, _) => return Err("no price yet to fund a short bot's paper account".into()),
        };
        let paper = Arc::new(
            PaperExchange::builder(&bot.symbol, bot.file.market.clone())
                .fees(bot.file.fees)
                .fill(bot.file.fill)
                .quote_balance(quote)
                .base_balance(base)
                .build(),
        );
        if let Some(c) = previous {
            // The book is empty: this only sets the market's price.
            paper.feed(c);
        }
        for o in deal.iter().flat_map(|d| d.orders.iter()) {
            if !o.state.is_live() || o.state == OrderState::Sent {
                continue;
            }
            if !o.filled.is_zero() {
                return Err(format!(
                    "order {} was partly filled when the service stopped; the paper venue cannot rebuild it: \
                     remove the bot and add it again to start afresh",
                    o.request.client_order_id
                ));
            }
            paper.place_order(&bot.symbol, &o.request).await.map_err(|e| e.to_string())?;
        }
        let cfg = RunnerConfig { account: bot.account.clone(), symbol: bot.symbol.clone(), cancel_on_shutdown: false };
        let exchange: Arc<dyn Exchange> = paper.clone();
        let mut runner = Runner::builder(bot.id.clone(), &bot.file, exchange, store.clone() as Arc<dyn StateStore>)
            .config(cfg)
            .time(time)
            // The row is the authority (see `crate::settings`).
            .adopt_settings(true)
            .start()
            .await
            .map_err(|e| e.to_string())?;
        // An indicator start condition sees the closes this bot has seen
        // (without signals), as the backtest does: up to the last candle its
        // checkpoint replayed (bots resume from different polls when a
        // crash cut the last checkpoints short), or those before the
        // clock for a new bot.
        let replayed_until = match &saved {
            Some(_) => store.replayed_until(&bot.id).await.map_err(|e| e.to_string())?,
            None => None,
        };
        let seen = replayed_until.unwrap_or(time);
        let closes: Vec<Decimal> = history.iter().filter(|(end, _)| *end <= seen).map(|(_, close)| *close).collect();
        runner.warm_gate(&closes);
        Ok(ServiceBot {
            account: bot.account.clone(),
            created_at: bot.created_at,
            runner,
            feed: Feed::Paper { paper, prices, replayed_until, checkpointed: None },
        })
    }

    /// Keeps the engine's state as the bot's replay checkpoint.
    /// Nothing is written when no event was handled and no candle replayed
    /// since the last one.
    /// Live bots keep none (every output is persisted before it is sent).
    pub async fn checkpoint(&mut self, store: &DbStateStore) -> Result<(), String> {
        let Feed::Paper { replayed_until, checkpointed, .. } = &mut self.feed else {
            return Ok(());
        };
        let r = &self.runner;
        let now = (r.events(), *replayed_until);
        if *checkpointed == Some(now) {
            return Ok(());
        }
        let text = Persisted::to_text(r.engine(), r.events(), r.last_time()).map_err(|e| e.to_string())?;
        store.save_checkpoint(r.engine().bot_id(), &text, *replayed_until).await.map_err(|e| e.to_string())?;
        *checkpointed = Some(now);
        Ok(())
    }

    /// This bot's clock: the replay's (`fallback` before its first event)
    /// or the wall clock for a live bot.
    pub fn time(&self, fallback: TimeMs) -> TimeMs {
        match self.feed {
            Feed::Paper { prices: PaperPrices::File, .. } => self.runner.last_time().unwrap_or(fallback),
            Feed::Paper { prices: PaperPrices::Live(_), .. } | Feed::Live { .. } => now_ms(),
        }
    }

    /// The venue and market whose live price this bot steps on: a bot on
    /// a live venue, or a paper bot on live prices.
    pub fn live_market(&self) -> Option<(Venue, String)> {
        match &self.feed {
            Feed::Live { venue, symbol } => Some((*venue, symbol.clone())),
            Feed::Paper { prices: PaperPrices::Live(venue), paper, .. } => Some((*venue, paper.symbol().to_string())),
            Feed::Paper { prices: PaperPrices::File, .. } => None,
        }
    }

    /// One polling step on the live price: a bot on a live venue steps
    /// at `now` (its exchange reads the price from the shared board); a
    /// paper bot on live prices walks the move from the previous price to
    /// `price` as one candle ending at `now` (the walk the price file's
    /// candles get: resting orders between the two prices fill at their
    /// own price, stops fire at their level). Nothing when the wall clock
    /// has not moved past the last walk, or a paper bot has no price.
    pub async fn step_live(&mut self, price: Option<Decimal>, now: TimeMs) -> Result<(), String> {
        let Feed::Paper { paper, replayed_until, .. } = &mut self.feed else {
            return self.runner.step(now).await.map_err(|e| format!("step: {e}"));
        };
        let (Some(price), Some(start)) = (price, live_candle_start(*replayed_until, now)) else {
            return Ok(());
        };
        let open = paper.last_price(paper.symbol()).await.unwrap_or(price);
        let candle = Candle { time: start, open, high: open.max(price), low: open.min(price), close: price };
        paper.replay_candle(&mut self.runner, candle, now - start + 1).await.map_err(|e| format!("step: {e}"))?;
        // The wall clock counts milliseconds, not candles (a time limit).
        self.runner.set_clock_grain(None);
        *replayed_until = Some(now);
        Ok(())
    }

    /// Brings the engine's mode to what the operator wants.
    pub async fn converge(&mut self, desired: DesiredState, time: TimeMs) -> Result<(), String> {
        let mode = self.runner.engine().mode();
        let commands: &[Command] = match (desired, mode) {
            (DesiredState::Running, Mode::Created | Mode::Stopped) => &[Command::Start],
            (DesiredState::Running, Mode::Paused) => &[Command::Resume],
            (DesiredState::Paused, Mode::Created | Mode::Stopped) => &[Command::Start, Command::Pause],
            (DesiredState::Paused, Mode::Running) => &[Command::Pause],
            (DesiredState::Stopped, Mode::Running | Mode::Paused) => &[Command::Stop { cancel_orders: false }],
            _ => &[],
        };
        for c in commands {
            self.runner.command(time, c.clone()).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Applies a queued request; the outcome in words.
    /// `row`: the bot's row (a settings change writes it).
    pub async fn apply(&mut self, request: Request, time: TimeMs, db: &Db, row: &Bot) -> Result<String, String> {
        let engine = self.runner.engine();
        match request {
            Request::Close if engine.phase().kind() != PhaseKind::Open => Ok("no open deal to close".into()),
            Request::Close => {
                self.runner.command(time, Command::CloseNow).await.map_err(|e| e.to_string())?;
                Ok("closing the open deal".into())
            }
            Request::Signal if !engine.strategy().start_condition.needs_signal() => {
                Ok("ignored: the bot's start condition takes no signals".into())
            }
            Request::Signal if engine.phase().kind() != PhaseKind::Idle => Ok("ignored: a deal is open".into()),
            Request::Signal => {
                self.runner.signal(time).await.map_err(|e| e.to_string())?;
                Ok("signal sent: a deal may open at the next step".into())
            }
            Request::AddFunds { .. } if engine.phase().kind() != PhaseKind::Open => Ok("no open deal to add to".into()),
            Request::AddFunds { quote } => {
                let size = martingale_core::config::OrderSize::Quote(quote);
                self.runner.command(time, Command::AddFunds { size }).await.map_err(|e| e.to_string())?;
                Ok(format!("bought {quote} quote more by market"))
            }
            Request::CancelOrders if matches!(engine.mode(), Mode::Running | Mode::Paused) => {
                self.runner.command(time, Command::Stop { cancel_orders: true }).await.map_err(|e| e.to_string())?;
                Ok("stopped; resting orders canceled".into())
            }
            Request::CancelOrders => {
                // Stopped earlier with its orders kept: one `stop` with
                // `cancel_orders` cancels them.
                let live = engine.deal().map_or(0, |d| d.orders.iter().filter(|o| o.state.is_live()).count());
                if live == 0 {
                    return Ok("stopped; no resting orders".into());
                }
                self.runner.command(time, Command::Stop { cancel_orders: true }).await.map_err(|e| e.to_string())?;
                Ok(format!("stopped; {live} resting order(s) canceled"))
            }
            Request::Set { file } => self.set(db, row, &file, time).await,
        }
    }

    /// A settings change (see `crate::settings`): checked against the live
    /// engine, then the row is written, then the engine reconfigured. A
    /// refusal is an outcome (nothing written); a failure after the row
    /// was written fails the bot, whose restart adopts the row.
    async fn set(&mut self, db: &Db, row: &Bot, text: &str, time: TimeMs) -> Result<String, String> {
        let file = match crate::bots::check_file(row, text) {
            Ok(file) => file,
            Err(e) => return Ok(e.to_string()),
        };
        if let Err(e) = self.runner.engine().plan_reconfigure(&file) {
            return Ok(format!("refused: {e}"));
        }
        crate::settings::write_file(db, &row.account, row.id.as_str(), &file).await.map_err(|e| e.to_string())?;
        let done = self.runner.reconfigure(time, &file).await.map_err(|e| e.to_string())?;
        Ok(done.to_string())
    }

    /// Brings a runner whose settings differ from its row's (a row written
    /// while the runner was not told) to the row's.
    pub async fn follow_row(&mut self, row: &Bot, time: TimeMs) -> Result<(), String> {
        if self.runner.engine().target_strategy() == &row.file.strategy {
            return Ok(());
        }
        let done = self.runner.reconfigure(time, &row.file).await.map_err(|e| e.to_string())?;
        tracing::info!(bot = %row.id, %done, "settings taken from the bot row");
        Ok(())
    }

    /// True when a stopped bot has nothing left to look after: no deal, or
    /// no order of it that can still fill.
    pub fn finished(&self) -> bool {
        let e = self.runner.engine();
        e.mode() == Mode::Stopped && e.deal().is_none_or(|d| !d.has_live_orders())
    }

    /// Replays candle `index` through the runner, after every earlier
    /// candle the bot has not seen (a bot back from a failure catches up
    /// from its own state); nothing when it has seen them all.
    pub async fn replay(&mut self, candles: &Candles, index: usize, interval: TimeMs) -> Result<bool, String> {
        let Feed::Paper { paper, replayed_until, prices: PaperPrices::File, .. } = &mut self.feed else {
            return Ok(false);
        };
        let end = |i: usize| candles.get(i).map(|c| c.time.saturating_add(interval.saturating_sub(1)));
        let seen = |i: usize| replayed_until.is_some_and(|t| end(i).is_some_and(|e| t >= e));
        // The first candle not seen yet, at most `index` (times increase).
        let (mut lo, mut hi) = (0, index.saturating_add(1).min(candles.len()));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if seen(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if replayed_until.is_none() {
            lo = index; // a new bot joins here
        }
        let mut replayed = false;
        for i in lo..=index {
            let Some(c) = candles.get(i) else { break };
            paper.replay_candle(&mut self.runner, c, interval).await.map_err(|e| e.to_string())?;
            *replayed_until = end(i);
            replayed = true;
        }
        Ok(replayed)
    }
}

/// Where the candle of a paper bot on live prices starts: right after the
/// last walk, at most one second before `now` (after a restart the gap
/// since the last walk may be hours: the walk's times stay within the
/// last second, so a time limit is counted to the millisecond, not in
/// hours-wide candles); `None` when the clock has not moved past the last
/// walk.
fn live_candle_start(replayed_until: Option<TimeMs>, now: TimeMs) -> Option<TimeMs> {
    let earliest = now.saturating_sub(999);
    let start = replayed_until.map_or(earliest, |t| t.saturating_add(1).max(earliest));
    (start <= now).then_some(start)
}

#[cfg(test)]
mod tests {
    use super::live_candle_start;

    #[test]
    fn a_live_candle_starts_after_the_last_walk_and_never_before_it() {
        assert_eq!(live_candle_start(None, 10_000), Some(9_001));
        assert_eq!(live_candle_start(Some(9_500), 10_000), Some(9_501));
        assert_eq!(live_candle_start(Some(9_999), 10_000), Some(10_000));
        // Back after a pause of hours: the last second only.
        assert_eq!(live_candle_start(Some(10_000), 3_600_000), Some(3_599_001));
        assert_eq!(live_candle_start(Some(10_000), 10_000), None);
        // The wall clock stepped back: wait for it.
        assert_eq!(live_candle_start(Some(12_000), 10_000), None);
    }
}
