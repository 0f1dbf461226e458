//! Replaying candles through a runner on the paper exchange, step by step
//! along each candle's path, so that stops fire at their price and the
//! deals are the backtest's.
//!
//! How a paper step consumes one candle: the runner polls once per step
//! (last price, a tick to the engine, then every live order). So one candle
//! is several steps: core's [`CandleWalk`] says where the path next does
//! something, given the engine's watch levels and the paper book; the paper
//! exchange moves its market there (filling the resting order reached, if
//! that is the event) and the runner polls once. The engine thus sees every
//! tick the backtest's driver gives it (the open for a new deal, each stop
//! or trailing level reached, each path point) and every fill at the same
//! price, at the same time (`open time + interval - 1` inside the candle).
//! The one difference: the runner's poll shows the engine the price of a
//! limit fill (as a tick) before the fill, where the driver reports the fill
//! alone; that price is never beyond a watch level (the walk fires those
//! first), so the tick changes no decision (the identity test checks it).

use martingale_core::backtest::{CandleWalk, WalkStep};
use martingale_core::engine::{Candle, Event, TimeMs};

use super::PaperExchange;
use crate::exchange::Exchange;
use crate::runner::{Runner, RunnerError};

impl PaperExchange {
    /// Replays `candle` (of `interval_ms`) through `runner`, which must
    /// trade on this exchange: walks the candle's path with the backtest's
    /// walk and lets the runner poll at every point where something happens
    /// (see the module docs). After it the last price is the close.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use martingale_core::backtest::synthetic;
    /// use martingale_core::config::BotFile;
    /// use martingale_core::engine::{BotId, Command};
    /// use martingale_exchange::{JsonFileStore, PaperExchange, Runner, RunnerConfig, StateStore};
    /// use rust_decimal_macros::dec;
    ///
    /// let bot = BotFile::example().unwrap();
    /// let paper = Arc::new(PaperExchange::for_bot(&bot, dec!(100000)));
    /// let dir = tempfile::tempdir().unwrap();
    /// let store: Arc<dyn StateStore> = Arc::new(JsonFileStore::new(dir.path()).unwrap());
    /// let cfg = RunnerConfig { account: "me".into(), symbol: paper.symbol().into(), cancel_on_shutdown: false };
    /// let mut runner = Runner::start(BotId::new("b").unwrap(), &bot, paper.clone(), store, None, cfg, 0).await.unwrap();
    /// runner.command(0, Command::Start).await.unwrap();
    /// let candles = synthetic::random_walk(3, 300, 60_000, 30_000.0, 0.003);
    /// for i in 0..candles.len() {
    ///     paper.replay_candle(&mut runner, candles.get(i).unwrap(), 60_000).await.unwrap();
    /// }
    /// assert!(runner.engine().totals().closed_deals > 0);
    /// # });
    /// ```
    pub async fn replay_candle<E: Exchange + ?Sized>(
        &self,
        runner: &mut Runner<E>,
        candle: Candle,
        interval_ms: TimeMs,
    ) -> Result<(), RunnerError> {
        let prev_close = self.lock()?.price;
        runner.set_clock_grain(Some(interval_ms));
        let mut walk = CandleWalk::new(&candle, prev_close, self.fill.path, self.fill.limit_fill, interval_ms);
        loop {
            let step = {
                let st = self.lock()?;
                walk.next(Some(runner.engine()), st.book.resting())
            };
            let time = match step {
                WalkStep::Tick { time, price, watch } => {
                    if watch {
                        // The walk skips a level whose tick does nothing; the
                        // runner does not say, so ask a copy of the engine.
                        let mut probe = runner.engine().clone();
                        if probe.handle(Event::Tick { time, price }).is_ok_and(|out| out.actions.is_empty()) {
                            walk.inert();
                        }
                    }
                    let mut st = self.lock()?;
                    st.time = time;
                    st.price = Some(price);
                    time
                }
                WalkStep::Fill { index, time, at } => {
                    let mut st = self.lock()?;
                    st.time = time;
                    st.price = Some(at);
                    self.fill_resting(&mut st, index);
                    time
                }
                WalkStep::Done => break,
            };
            runner.step(time).await?;
        }
        {
            let mut st = self.lock()?;
            st.price = Some(candle.close);
            st.keep(candle);
        }
        // An indicator start condition decides at the close, as the
        // backtest does (a signal at the candle's last millisecond).
        runner.candle_closed(candle.time.saturating_add(interval_ms - 1), candle.close).await?;
        Ok(())
    }
}
