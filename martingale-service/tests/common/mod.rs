//! Both database backends for one test suite: a fresh SQLite file, and a
//! fresh database on the Postgres server named by `MARTINGALE_TEST_PG_URL`
//! (scripts/test.sh starts a throwaway cluster and sets it).

use std::sync::atomic::{AtomicU32, Ordering};

use martingale_service::Db;

/// A database of each backend, each new and empty; the temp dir must outlive them.
pub async fn backends() -> (tempfile::TempDir, Vec<Db>) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Db::open_dir(dir.path()).await.unwrap();
    let url = std::env::var("MARTINGALE_TEST_PG_URL").expect(
        "MARTINGALE_TEST_PG_URL is not set: run scripts/test.sh (it starts a throwaway Postgres), \
         or point it at a Postgres server you can create databases on",
    );
    (dir, vec![sqlite, fresh_postgres(&url).await])
}

async fn fresh_postgres(url: &str) -> Db {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!("t{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst), martingale_service::now_ms());
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
    admin.close().await;
    let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
    Db::connect(&format!("{base}/{name}")).await.unwrap()
}
