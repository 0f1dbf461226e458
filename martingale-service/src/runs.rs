//! Backtest runs a user kept (`martingale backtest --user U`): the bot
//! file, the candle source and the metrics, scoped by account.

use martingale_core::backtest::Metrics;
use martingale_core::config::BotFile;
use rust_decimal::Decimal;

use crate::db::{now_ms, Db};
use crate::error::{Result, ServiceError};
use crate::users;

/// A stored backtest run.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRun {
    /// Its number (unique in the database).
    pub id: i64,
    /// Owning account.
    pub account: String,
    /// Where the candles came from.
    pub source: String,
    /// Candles backtested.
    pub candles: i64,
    /// Closed deals.
    pub closed_deals: i64,
    /// Realized P&L (exact).
    pub realized_pnl: Decimal,
    /// When it was stored (ms).
    pub created_at: i64,
}

/// Stores a run for `account`; its number.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use martingale_core::backtest::{backtest, synthetic, BacktestOptions};
/// use martingale_core::config::BotFile;
/// use martingale_service::{runs, users, Db};
/// let dir = tempfile::tempdir().unwrap();
/// let db = Db::open_dir(dir.path()).await.unwrap();
/// users::add(&db, "alice").await.unwrap();
/// let bot = BotFile::example().unwrap();
/// let candles = synthetic::random_walk(7, 2_000, 60_000, 30_000.0, 0.002);
/// let m = backtest(&bot, &candles, &BacktestOptions::default()).unwrap().metrics;
/// let id = runs::record(&db, "alice", &bot, "synthetic", &m).await.unwrap();
/// let kept = runs::list(&db, "alice").await.unwrap();
/// assert_eq!((kept[0].id, kept[0].realized_pnl), (id, m.realized_pnl));
/// users::add(&db, "bob").await.unwrap();
/// assert!(runs::list(&db, "bob").await.unwrap().is_empty(), "scoped by account");
/// # });
/// ```
pub async fn record(db: &Db, account: &str, bot: &BotFile, source: &str, metrics: &Metrics) -> Result<i64> {
    users::get(db, account).await?;
    let text = serde_json::to_string(metrics).map_err(|e| ServiceError::Invalid(format!("metrics: {e}")))?;
    let candles = i64::try_from(metrics.candles).unwrap_or(i64::MAX);
    let deals = i64::try_from(metrics.closed_deals).unwrap_or(i64::MAX);
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO backtest_runs (account, source, candles, closed_deals, realized_pnl, bot_file, metrics, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(account)
    .bind(source)
    .bind(candles)
    .bind(deals)
    .bind(metrics.realized_pnl.to_string())
    .bind(bot.to_json())
    .bind(text)
    .bind(now_ms())
    .fetch_one(db.pool())
    .await
    .map_err(ServiceError::query)?;
    Ok(id)
}

/// `account`'s runs, newest first.
pub async fn list(db: &Db, account: &str) -> Result<Vec<StoredRun>> {
    users::get(db, account).await?;
    let rows: Vec<(i64, String, i64, i64, String, i64)> = sqlx::query_as(
        "SELECT id, source, candles, closed_deals, realized_pnl, created_at FROM backtest_runs \
         WHERE account = $1 ORDER BY id DESC",
    )
    .bind(account)
    .fetch_all(db.pool())
    .await
    .map_err(ServiceError::query)?;
    rows.into_iter()
        .map(|(id, source, candles, closed_deals, pnl, created_at)| {
            let realized_pnl =
                pnl.parse().map_err(|e| ServiceError::Query(format!("stored run {id}: realized_pnl {pnl:?}: {e}")))?;
            Ok(StoredRun { id, account: account.into(), source, candles, closed_deals, realized_pnl, created_at })
        })
        .collect()
}
