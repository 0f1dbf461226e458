//! Changing a running bot's settings: [`Runner::reconfigure`] sends the
//! engine's `reconfigure` command (persisted and audited like every event,
//! its orders sent as usual), so the snapshot written holds the new
//! settings and a restart with the new bot file passes
//! [`crate::check_settings`]. See `martingale_core::engine`'s
//! reconfiguration rules (what applies at once, what from the next deal,
//! what is refused).

use martingale_core::config::BotFile;
use martingale_core::engine::{Command, Reconfiguration, TimeMs};

use super::{Runner, RunnerError};
use crate::exchange::Exchange;

impl<E: Exchange + ?Sized> Runner<E> {
    /// Applies `bot`'s settings to the running bot; what changed, by when
    /// it applies. A refused change ([`martingale_core::engine::EngineError::SettingRefused`])
    /// changes nothing and sends nothing. An indicator start condition that
    /// changed starts its indicator afresh (feed it with [`Runner::warm_gate`]).
    pub async fn reconfigure(&mut self, time: TimeMs, bot: &BotFile) -> Result<Reconfiguration, RunnerError> {
        let plan = self.engine.plan_reconfigure(bot)?;
        let condition_changed = self.engine.strategy().start_condition != bot.strategy.start_condition;
        let time = self.clock(time);
        self.command(time, Command::Reconfigure { bot: Box::new(bot.clone()) }).await?;
        if condition_changed {
            self.gate = Self::gate_for(bot);
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use martingale_core::config::BotFile;
    use martingale_core::engine::{BotId, Candle, Command, OrderKind, OrderRole};
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    use crate::{check_settings, JsonFileStore, PaperExchange, Persisted, Runner, StateStore};

    fn bot(tp: &str, safety: u32) -> BotFile {
        let mut b = BotFile::example().unwrap();
        b.strategy.take_profit.percent = tp.parse().unwrap();
        b.strategy.max_safety_orders = Some(safety);
        b
    }

    fn tp_price(r: &Runner<PaperExchange>) -> Option<Decimal> {
        let d = r.engine().deal()?;
        d.orders.iter().rev().find(|o| o.request.role == OrderRole::TakeProfit && o.state.is_live()).map(|o| {
            match o.request.kind {
                OrderKind::Limit { price } => price,
                OrderKind::Market { reference_price } => reference_price,
            }
        })
    }

    async fn open_deal(
        old: &BotFile,
    ) -> (tempfile::TempDir, Arc<dyn StateStore>, Arc<PaperExchange>, Runner<PaperExchange>) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> = Arc::new(JsonFileStore::new(dir.path()).unwrap());
        let paper = Arc::new(PaperExchange::for_bot(old, dec!(100000)));
        let p = dec!(43250);
        paper.feed(Candle { time: 0, open: p, high: p, low: p, close: p });
        let id = BotId::new("b1").unwrap();
        let mut r = Runner::builder(id, old, paper.clone(), store.clone()).time(1_000).start().await.unwrap();
        r.command(1_000, Command::Start).await.unwrap();
        r.step(60_000).await.unwrap();
        (dir, store, paper, r)
    }

    #[tokio::test]
    async fn a_running_bot_takes_new_settings_and_its_snapshot_holds_them() {
        let (old, new) = (bot("1.5", 5), bot("3", 2));
        let (_dir, store, _paper, mut r) = open_deal(&old).await;
        assert_eq!(tp_price(&r), Some(dec!(43898.75)));
        let done = r.reconfigure(61_000, &new).await.unwrap();
        assert_eq!(done.to_string(), "applied at once: take_profit; from the next deal: max_safety_orders");
        // The paper venue confirms the cancel at once: the new take profit rests.
        assert_eq!(tp_price(&r), Some(dec!(44547.50)));
        let saved = Persisted::load(
            &BotId::new("b1").unwrap(),
            &store.load(&BotId::new("b1").unwrap()).await.unwrap().unwrap(),
        )
        .unwrap();
        check_settings(&saved.engine, &new).unwrap();
        assert!(check_settings(&saved.engine, &old).is_err());
        // A refused change sends nothing.
        let mut short = new.clone();
        short.strategy.side = martingale_core::Side::Short;
        let events = r.events();
        assert!(r.reconfigure(62_000, &short).await.unwrap_err().to_string().contains("strategy.side"));
        assert_eq!(r.events(), events);
    }

    /// The crash window of a settings change: the bot file (the service's
    /// row) was written, the engine not yet. A restart that adopts the
    /// file's settings brings the snapshot to them; one that does not
    /// refuses the snapshot.
    #[tokio::test]
    async fn a_restart_adopts_the_bot_files_new_settings_when_asked() {
        let (old, new) = (bot("1.5", 5), bot("3", 2));
        let (_dir, store, paper, mut r) = open_deal(&old).await;
        r.shutdown(61_000).await.unwrap();
        drop(r);
        let id = BotId::new("b1").unwrap();
        let refused = Runner::builder(id.clone(), &new, paper.clone(), store.clone()).time(62_000).start().await;
        assert!(refused.err().unwrap().to_string().contains("take_profit"));
        let r = Runner::builder(id.clone(), &new, paper.clone(), store.clone())
            .time(62_000)
            .adopt_settings(true)
            .start()
            .await
            .unwrap();
        assert_eq!(r.engine().target_strategy(), &new.strategy);
        assert_eq!(tp_price(&r), Some(dec!(44547.50)));
        let saved = Persisted::load(&id, &store.load(&id).await.unwrap().unwrap()).unwrap();
        check_settings(&saved.engine, &new).unwrap();
    }
}
