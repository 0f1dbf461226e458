//! The service's database layer on SQLite and on Postgres: the same calls,
//! the same answers.

mod common;

use martingale_service::bots::{self, DesiredState};
use martingale_service::{users, Backend, Db, Ownership, ServiceError, STALE_AFTER};

const BOT: &str = martingale_core::config::EXAMPLE_BOT_JSON;

#[tokio::test]
async fn users_and_bots_are_scoped_by_account_on_both_backends() {
    let (_dir, dbs) = common::backends().await;
    assert_eq!(dbs.iter().map(Db::backend).collect::<Vec<_>>(), [Backend::Sqlite, Backend::Postgres]);
    for db in &dbs {
        users::add(db, "alice").await.unwrap();
        users::add(db, "bob").await.unwrap();
        assert!(matches!(users::add(db, "alice").await, Err(ServiceError::Exists { kind: "user", .. })));
        assert!(matches!(users::add(db, "no spaces allowed").await, Err(ServiceError::Invalid(_))));
        let names: Vec<String> = users::list(db).await.unwrap().into_iter().map(|u| u.name.as_str().into()).collect();
        assert_eq!(names, ["alice", "bob"]);

        let bot = bots::add(db, "alice", "a-btc", BOT, None).await.unwrap();
        assert_eq!((bot.account.as_str(), bot.desired), ("alice", DesiredState::Stopped));
        assert_eq!(bot.file, BOT.parse().unwrap(), "the bot file round-trips exactly");
        // Bot ids are global: bob cannot take alice's, and cannot see or touch it.
        assert!(matches!(bots::add(db, "bob", "a-btc", BOT, None).await, Err(ServiceError::Exists { .. })));
        assert!(matches!(bots::get(db, "bob", "a-btc").await, Err(ServiceError::NotFound { kind: "bot", .. })));
        assert!(matches!(
            bots::set_desired(db, "bob", "a-btc", DesiredState::Running).await,
            Err(ServiceError::NotFound { .. })
        ));
        assert!(matches!(bots::remove(db, "bob", "a-btc", true).await, Err(ServiceError::NotFound { .. })));
        assert!(bots::list(db, Some("bob")).await.unwrap().is_empty());
        assert_eq!(bots::list(db, None).await.unwrap().len(), 1);
        // Unknown users and bad files: a clear error, nothing written.
        assert!(matches!(
            bots::add(db, "carol", "c-btc", BOT, None).await,
            Err(ServiceError::NotFound { kind: "user", .. })
        ));
        let bad = BOT.replace("\"1.5\"", "\"-1\"");
        let err = bots::add(db, "bob", "b-btc", &bad, None).await.unwrap_err().to_string();
        assert!(err.contains("bot file"), "{err}");
        assert!(bots::list(db, Some("bob")).await.unwrap().is_empty());
        // Running bots are not removed by accident.
        bots::set_desired(db, "alice", "a-btc", DesiredState::Running).await.unwrap();
        let err = bots::remove(db, "alice", "a-btc", false).await.unwrap_err().to_string();
        assert!(err.contains("stop it first"), "{err}");
        bots::remove(db, "alice", "a-btc", true).await.unwrap();
        assert!(bots::list(db, None).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn one_service_per_database_and_a_dead_owner_is_taken_over() {
    let (_dir, dbs) = common::backends().await;
    let stale = i64::try_from(STALE_AFTER.as_millis()).unwrap();
    for db in &dbs {
        let t = 1_765_000_000_000;
        let first = Ownership::acquire_at(db, "host-a", 11, t).await.unwrap();
        match Ownership::acquire_at(db, "host-b", 22, t + 1_000).await {
            Err(ServiceError::Owned { holder, pid, .. }) => assert_eq!((holder.as_str(), pid), ("host-a", 11)),
            other => panic!("second owner accepted: {other:?}"),
        }
        first.renew_at(t + stale).await.unwrap();
        assert!(Ownership::acquire_at(db, "host-b", 22, t + stale + 1_000).await.is_err(), "renewed claim");
        // The first owner dies: after STALE_AFTER without a heartbeat the claim lapses.
        let second = Ownership::acquire_at(db, "host-b", 22, t + 2 * stale + 1).await.unwrap();
        assert!(first.renew_at(t + 2 * stale + 2).await.is_err(), "the old owner learns it lost the database");
        second.release().await.unwrap();
        Ownership::acquire_at(db, "host-c", 33, t + 2 * stale + 3).await.unwrap();
    }
}

#[tokio::test]
async fn a_corrupt_or_foreign_database_file_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("martingale.db"), b"this is not an SQLite database, just text").unwrap();
    let err = Db::open_dir(dir.path()).await.unwrap_err().to_string();
    assert!(err.contains("martingale.db"), "{err}");
    let err = Db::connect("mysql://x").await.unwrap_err().to_string();
    assert!(err.contains("unsupported URL"), "{err}");
}

#[tokio::test]
async fn an_owner_that_died_on_this_host_is_taken_over_at_once() {
    let (_dir, dbs) = common::backends().await;
    let me = i64::from(std::process::id());
    let gone = 999_999_999; // above Linux's pid_max: no such process
    for db in &dbs {
        let t = 1_765_000_000_000;
        let _dead = Ownership::acquire_at(db, &format!("box:{gone}"), gone, t).await.unwrap();
        let err = Ownership::acquire_at(db, &format!("elsewhere:{me}"), me, t + 1).await.unwrap_err();
        assert!(matches!(err, ServiceError::Owned { .. }), "another host waits for the heartbeat to age");
        let alive = Ownership::acquire_at(db, &format!("box:{me}"), me, t + 2).await.unwrap();
        let err = Ownership::acquire_at(db, "box:999999998", 999_999_998, t + 3).await.unwrap_err().to_string();
        assert!(err.contains(&format!("box:{me}")), "a live holder keeps the database: {err}");
        alive.release().await.unwrap();
    }
}
