//! Users' API keys in the database on SQLite and Postgres: sealed, scoped
//! by account, bound to their row, refused under another master key.

mod common;

use martingale_core::venue::Venue;
use martingale_exchange::{Credentials, MasterKey};
use martingale_service::keys::{self, Keyring};
use martingale_service::{bots, users, ServiceError};

#[tokio::test]
async fn keys_are_sealed_scoped_and_bound_to_their_row_on_both_backends() {
    let (_dir, dbs) = common::backends().await;
    for db in &dbs {
        users::add(db, "alice").await.unwrap();
        users::add(db, "bob").await.unwrap();
        let master = MasterKey::generate();
        let ring = Keyring::open(db, &master).await.unwrap();
        let info = ring.put("alice", "main", Venue::Binance, &Credentials::new("AK-1", "SK-1")).await.unwrap();
        assert_eq!((info.version, info.venue), (1, Venue::Binance));
        // Replacing raises the version; the new secret is the one loaded.
        let info = ring.put("alice", "main", Venue::Binance, &Credentials::new("AK-2", "SK-2")).await.unwrap();
        assert_eq!(info.version, 2);
        let (venue, creds) = ring.load("alice", "main").await.unwrap();
        assert_eq!((venue, creds.api_key.expose(), creds.secret_key.expose()), (Venue::Binance, "AK-2", "SK-2"));
        // Never in clear in the table.
        let rows: Vec<(String,)> = sqlx::query_as("SELECT sealed FROM api_keys").fetch_all(db.pool()).await.unwrap();
        assert!(rows.iter().all(|(t,)| !t.contains("SK-2") && !t.contains("AK-2")));
        // Scoped: bob has no key "main"; listing shows no secret.
        assert!(matches!(ring.load("bob", "main").await, Err(ServiceError::NotFound { kind: "key", .. })));
        assert!(keys::list(db, "bob").await.unwrap().is_empty());
        assert_eq!(keys::list(db, "alice").await.unwrap()[0].label, "main");
        // A row copied to another account does not open: tampered, not bob's key.
        ring.put("bob", "main", Venue::Binance, &Credentials::new("BK", "BS")).await.unwrap();
        sqlx::query(
            "UPDATE api_keys SET sealed = (SELECT sealed FROM api_keys WHERE account = 'alice' AND label = 'main') \
             WHERE account = 'bob'",
        )
        .execute(db.pool())
        .await
        .unwrap();
        let err = ring.load("bob", "main").await.unwrap_err().to_string();
        assert!(err.contains("tampered"), "{err}");
        // Bad input: unknown user, bad label, a paper key.
        assert!(matches!(
            ring.put("carol", "main", Venue::Binance, &Credentials::new("a", "b")).await,
            Err(ServiceError::NotFound { kind: "user", .. })
        ));
        assert!(ring.put("alice", "../x", Venue::Binance, &Credentials::new("a", "b")).await.is_err());
        assert!(ring.put("alice", "p", Venue::Paper, &Credentials::new("a", "b")).await.is_err());
        // Another master key opens nothing.
        let err = Keyring::open(db, &MasterKey::generate()).await.unwrap_err().to_string();
        assert!(err.contains("master key does not open"), "{err}");
        // A bot trades with its owner's key of its venue only.
        let binance = martingale_core::config::EXAMPLE_BOT_JSON.replacen('{', "{\"venue\": \"binance\",", 1);
        let bybit = martingale_core::config::EXAMPLE_BOT_JSON.replacen('{', "{\"venue\": \"bybit\",", 1);
        assert!(matches!(
            bots::add(db, "bob", "b1", &binance, Some("nokey")).await,
            Err(ServiceError::NotFound { kind: "key", .. })
        ));
        let err = bots::add(db, "alice", "a2", &bybit, Some("main")).await.unwrap_err().to_string();
        assert!(err.contains("Binance"), "{err}");
        bots::add(db, "alice", "a1", &binance, Some("main")).await.unwrap();
        // A key in use is kept unless forced.
        let err = keys::remove(db, "alice", "main", false).await.unwrap_err().to_string();
        assert!(err.contains("a1"), "{err}");
        keys::remove(db, "alice", "main", true).await.unwrap();
        assert!(keys::list(db, "alice").await.unwrap().is_empty());
    }
}
