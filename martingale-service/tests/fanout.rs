//! Signal fan-out's tables on SQLite and on Postgres: strategies,
//! subscriptions (scoped by account), the signal queue and trades.

mod common;

use martingale_core::engine::{BotId, ClientOrderId, OrderKind, OrderRequest, OrderRole};
use martingale_core::fleet::fanout::{Sizing, Trade, TradeEvent, TradeState};
use martingale_core::sizing::RiskSizing;
use martingale_core::venue::Venue;
use martingale_core::Side;
use martingale_exchange::{Credentials, MasterKey};
use martingale_service::fanout::signals::{self, EntryInput, Queued};
use martingale_service::fanout::trades::{self, TradeRow};
use martingale_service::fanout::{self};
use martingale_service::keys::Keyring;
use martingale_service::{users, ServiceError};
use rust_decimal_macros::dec;

fn risk(capital: rust_decimal::Decimal) -> Sizing {
    Sizing::Risk(RiskSizing { capital, risk_per_trade: dec!(0.01), leverage: dec!(1) })
}

#[tokio::test]
async fn strategies_subscriptions_signals_and_trades_on_both_backends() {
    let (_dir, dbs) = common::backends().await;
    for db in &dbs {
        let ring = Keyring::open(db, &MasterKey::generate()).await.unwrap();
        for u in ["owner", "alice", "bob"] {
            users::add(db, u).await.unwrap();
        }
        ring.put("alice", "main", Venue::Binance, &Credentials::new("AK", "SK")).await.unwrap();
        ring.put("bob", "main", Venue::Bybit, &Credentials::new("BK", "SK")).await.unwrap();
        let s = fanout::add_strategy(db, "owner", "trend", Venue::Binance, "BTC/USDT").await.unwrap();
        assert_eq!(s.symbol, "BTCUSDT");
        assert!(matches!(
            fanout::add_strategy(db, "alice", "trend", Venue::Binance, "BTC/USDT").await,
            Err(ServiceError::Exists { .. })
        ));
        // Alice subscribes with her own key; Bob's key is for another venue,
        // and Alice's label is not his.
        let sub = fanout::subscribe(db, "alice", "trend", "al1", "main", risk(dec!(1000))).await.unwrap();
        assert_eq!((sub.bot.as_str(), sub.paused, sub.sizing), ("al1", false, risk(dec!(1000))));
        assert!(matches!(
            fanout::subscribe(db, "bob", "trend", "bo1", "main", risk(dec!(10))).await,
            Err(ServiceError::Invalid(_))
        ));
        assert!(matches!(
            fanout::subscribe(db, "bob", "trend", "bo1", "other", risk(dec!(10))).await,
            Err(ServiceError::NotFound { kind: "key", .. })
        ));
        // A second bot on the same strategy; a bot id is taken once.
        fanout::subscribe(db, "alice", "trend", "al2", "main", risk(dec!(5000))).await.unwrap();
        assert!(matches!(
            fanout::subscribe(db, "alice", "trend", "al2", "main", risk(dec!(1))).await,
            Err(ServiceError::Exists { kind: "bot", .. })
        ));
        // Another user's subscription is "not found".
        assert!(matches!(fanout::set_paused(db, "bob", "trend", None, true).await, Err(ServiceError::NotFound { .. })));
        assert!(matches!(
            fanout::set_paused(db, "bob", "trend", Some("al1"), true).await,
            Err(ServiceError::NotFound { .. })
        ));
        assert!(matches!(fanout::unsubscribe(db, "bob", "trend", None).await, Err(ServiceError::NotFound { .. })));
        assert!(matches!(fanout::get(db, "bob", "al1").await, Err(ServiceError::NotFound { .. })));
        let paused = fanout::set_paused(db, "alice", "trend", Some("al1"), true).await.unwrap();
        assert_eq!((paused.len(), paused[0].paused), (1, true));
        assert!(!fanout::get(db, "alice", "al2").await.unwrap().paused);
        assert_eq!(fanout::set_paused(db, "alice", "trend", None, true).await.unwrap().len(), 2);
        assert_eq!(fanout::of_strategy(db, "trend").await.unwrap().len(), 2);
        assert!(fanout::of_account(db, "bob").await.unwrap().is_empty());

        // Only the owner sends signals; they are checked when queued.
        let input = EntryInput {
            side: Side::Long,
            entry: dec!(100),
            stop_loss: Some(dec!(95)),
            take_profit: Some(dec!(110)),
            market: false,
        };
        assert!(matches!(signals::entry(db, "alice", "trend", input).await, Err(ServiceError::NotFound { .. })));
        let bad = EntryInput { stop_loss: Some(dec!(101)), ..input };
        assert!(matches!(signals::entry(db, "owner", "trend", bad).await, Err(ServiceError::Invalid(_))));
        assert_eq!(signals::entry(db, "owner", "trend", input).await.unwrap(), 1);
        assert_eq!(signals::entry(db, "owner", "trend", input).await.unwrap(), 2);
        signals::exit(db, "owner", "trend").await.unwrap();
        let pending = signals::pending(db).await.unwrap();
        assert_eq!(pending.len(), 3);
        assert!(matches!(&pending[0].signal, Some(Queued::Entry(s)) if s.seq == 1 && s.stop_loss == Some(dec!(95))));
        assert_eq!(pending[2].signal, Some(Queued::Exit));
        signals::take(db, pending[0].id).await.unwrap();
        signals::finish(db, pending[0].id, "entries 1").await.unwrap();
        assert_eq!(signals::pending(db).await.unwrap().len(), 2);

        // A trade survives the database exactly; only live ones are driven.
        let bot = BotId::new("al1").unwrap();
        let entry = OrderRequest {
            client_order_id: ClientOrderId::new(&bot, 1, OrderRole::Base, 0),
            role: OrderRole::Base,
            side: Side::Long.entry(),
            kind: OrderKind::Limit { price: dec!(100) },
            quantity: dec!(0.2),
        };
        let mut trade = Trade::new(bot, 1, Side::Long, entry, Some(dec!(95)), Some(dec!(110)));
        let row = |trade: Trade| TradeRow {
            strategy: "trend".into(),
            account: "alice".into(),
            key_label: "main".into(),
            trade,
            last_error: None,
            updated_at: 0,
        };
        trades::put(db, &[row(trade.clone())]).await.unwrap();
        assert!(trades::fanned_out(db, "trend", 1).await.unwrap());
        assert!(!trades::fanned_out(db, "trend", 2).await.unwrap());
        trade.apply(TradeEvent::EntryFill { cumulative_qty: dec!(0.2), cumulative_quote: dec!(20.001) }).unwrap();
        trades::put(db, &[row(trade.clone())]).await.unwrap();
        let live = trades::live(db).await.unwrap();
        assert_eq!((live.len(), &live[0].trade), (1, &trade));
        assert_eq!(live[0].trade.entry_price(), Some(dec!(100.005)));
        trade.apply(TradeEvent::TakeProfitFill { cumulative_qty: dec!(0.2), cumulative_quote: dec!(22) }).unwrap();
        assert_eq!(trade.state, TradeState::Closed);
        trades::put(db, &[row(trade.clone())]).await.unwrap();
        assert!(trades::live(db).await.unwrap().is_empty());
        assert_eq!(trades::list(db, Some("alice"), None).await.unwrap()[0].trade.pnl(), Some(dec!(1.999)));
        assert!(trades::list(db, Some("bob"), None).await.unwrap().is_empty());
        assert_eq!(trades::list(db, None, Some("trend")).await.unwrap().len(), 1);

        assert_eq!(fanout::unsubscribe(db, "alice", "trend", Some("al2")).await.unwrap(), 1);
        assert_eq!(fanout::unsubscribe(db, "alice", "trend", None).await.unwrap(), 1);
        assert!(fanout::of_strategy(db, "trend").await.unwrap().is_empty());
        // Trades outlive the subscription.
        assert_eq!(trades::list(db, Some("alice"), Some("trend")).await.unwrap().len(), 1);
    }
}
