//! `bots::set` on SQLite and on Postgres: a stopped bot's row is written
//! at once (checked against its saved engine), a running bot's change is
//! queued, another user's bot is not found, and a runner started on the
//! new row (a restart, or the crash window between the row and the
//! engine) brings the saved engine to the row's settings.

mod common;

use std::sync::Arc;

use martingale_core::config::BotFile;
use martingale_core::engine::{Candle, Command};
use martingale_exchange::{check_settings, PaperExchange, Persisted, Runner, StateStore};
use martingale_service::bots::{self, DesiredState, Request, SetOutcome};
use martingale_service::{users, DbStateStore, ServiceError};
use rust_decimal_macros::dec;

const BOT: &str = martingale_core::config::EXAMPLE_BOT_JSON;

fn changed(f: impl Fn(&mut BotFile)) -> String {
    let mut file: BotFile = BOT.parse().unwrap();
    f(&mut file);
    file.to_json()
}

#[tokio::test]
async fn set_saves_a_stopped_bot_queues_a_running_one_and_a_restart_adopts_the_row() {
    let (_dir, dbs) = common::backends().await;
    for db in &dbs {
        users::add(db, "alice").await.unwrap();
        users::add(db, "bob").await.unwrap();
        let bot = bots::add(db, "alice", "a-btc", BOT, None).await.unwrap();
        // A deal opened, then the bot stopped with its orders kept.
        let store = Arc::new(DbStateStore::new(db.clone()));
        let paper = Arc::new(PaperExchange::for_bot(&bot.file, dec!(100000)));
        let p = dec!(43250);
        paper.feed(Candle { time: 0, open: p, high: p, low: p, close: p });
        let mut r = Runner::builder(bot.id.clone(), &bot.file, paper.clone(), store.clone() as Arc<dyn StateStore>)
            .time(1_000)
            .start()
            .await
            .unwrap();
        r.command(1_000, Command::Start).await.unwrap();
        r.step(60_000).await.unwrap();
        r.command(61_000, Command::Stop { cancel_orders: false }).await.unwrap();
        drop(r);

        let new = changed(|f| {
            f.strategy.take_profit.percent = dec!(3);
            f.strategy.max_safety_orders = Some(2);
        });
        assert!(matches!(bots::set(db, "bob", "a-btc", &new).await, Err(ServiceError::NotFound { kind: "bot", .. })));
        for (bad, needle) in [
            (changed(|f| f.strategy.side = martingale_core::Side::Short), "strategy.side"),
            (changed(|f| f.market.symbol = Some("ETHUSDT".into())), "market cannot change"),
            (changed(|f| f.venue = Some(martingale_core::venue::Venue::Binance)), "venue cannot change"),
            (changed(|f| f.fees.taker = dec!(0.002)), "fees"),
            ("{".to_string(), "bot file"),
        ] {
            let err = bots::set(db, "alice", "a-btc", &bad).await.unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
        assert_eq!(bots::get(db, "alice", "a-btc").await.unwrap().file, bot.file, "refused: the row is unchanged");

        let done = bots::set(db, "alice", "a-btc", &new).await.unwrap();
        let want = "applied at once: take_profit; from the next deal: max_safety_orders";
        assert_eq!(done, SetOutcome::Saved(want.into()), "checked against the saved deal");
        let row = bots::get(db, "alice", "a-btc").await.unwrap();
        assert_eq!(row.file.strategy.take_profit.percent, dec!(3));

        // The saved engine still has the old settings (as after a crash
        // between the row and the engine); a start on the row adopts them.
        let saved = |text: String| Persisted::load(&bot.id, &text).unwrap().engine;
        let before = saved(store.load(&bot.id).await.unwrap().unwrap());
        assert!(check_settings(&before, &row.file).is_err());
        let r = Runner::builder(bot.id.clone(), &row.file, paper.clone(), store.clone() as Arc<dyn StateStore>)
            .time(62_000)
            .adopt_settings(true)
            .start()
            .await
            .unwrap();
        assert_eq!(r.engine().target_strategy(), &row.file.strategy);
        drop(r);
        let after = saved(store.load(&bot.id).await.unwrap().unwrap());
        check_settings(&after, &row.file).unwrap();
        assert_eq!(after.pending_strategy(), Some(&row.file.strategy), "the deal keeps its ladder");

        // A running bot's change is queued, the row untouched until the service applies it.
        bots::set_desired(db, "alice", "a-btc", DesiredState::Running).await.unwrap();
        let third = changed(|f| f.strategy.cooldown_secs = 60);
        assert_eq!(bots::set(db, "alice", "a-btc", &third).await.unwrap(), SetOutcome::Queued);
        let queued = bots::pending(db).await.unwrap();
        assert_eq!(queued.len(), 1);
        let Some(Request::Set { file }) = &queued[0].request else { panic!("{queued:?}") };
        assert_eq!(file.parse::<BotFile>().unwrap(), third.parse::<BotFile>().unwrap());
        assert_eq!(bots::get(db, "alice", "a-btc").await.unwrap().file, row.file);
        assert_eq!(Request::parse(&queued[0].text), queued[0].request);
    }
}
