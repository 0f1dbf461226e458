//! Resumable candle download into the CSV format of SPEC section 9.
//!
//! Candles are fetched page by page through [`Exchange::candles`] and
//! appended to the file as they arrive; if the file already holds candles,
//! the download resumes after its last one, so an interrupted download
//! never refetches or duplicates rows.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use martingale_core::backtest::Candles;
use martingale_core::engine::TimeMs;

use crate::error::ExchangeError;
use crate::exchange::Exchange;

/// Why a download stopped.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The exchange failed.
    #[error("exchange: {0}")]
    Exchange(#[from] ExchangeError),
    /// The file could not be read or written.
    #[error("file: {0}")]
    Io(#[from] io::Error),
    /// The existing file is not a candle CSV.
    #[error("existing file: {0}")]
    Existing(String),
}

/// Candles to fetch per request window (Binance returns at most 1,000).
const CHUNK: i64 = 1000;

/// Downloads `[from, to)` of `symbol` at `interval_ms` into `path`, resuming
/// after the last candle already there. Returns how many candles it added.
pub async fn download_csv<E: Exchange + ?Sized>(
    exchange: &E,
    symbol: &str,
    interval_ms: i64,
    from: TimeMs,
    to: TimeMs,
    path: &Path,
) -> Result<usize, DownloadError> {
    let mut start = from;
    let exists = path.exists() && std::fs::metadata(path)?.len() > 0;
    if exists {
        let text = std::fs::read_to_string(path)?;
        let have = Candles::from_csv(&text).map_err(|e| DownloadError::Existing(e.to_string()))?;
        if let Some(last) = have.times().last() {
            start = start.max(last + interval_ms);
        }
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    if !exists {
        file.write_all(b"time,open,high,low,close,volume\n")?;
    }
    let mut added = 0;
    while start < to {
        let end = (start + CHUNK * interval_ms).min(to);
        let page = exchange.candles(symbol, interval_ms, start, end).await?;
        let mut rows = String::new();
        for c in &page {
            rows.push_str(&format!("{},{},{},{},{},\n", c.time, c.open, c.high, c.low, c.close));
        }
        // One write per page, flushed: an interruption loses at most a page.
        file.write_all(rows.as_bytes())?;
        file.flush()?;
        added += page.len();
        start = end;
    }
    Ok(added)
}
