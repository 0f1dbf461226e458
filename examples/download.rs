//! Downloads Binance klines into the CSV format of the SPEC (resumable).
//!
//! ```text
//! cargo run --example download -- --symbol BTCUSDT --interval 1m --from 2024-01-01 --to 2024-02-01 --out FILE.csv
//!                                 [--base-url URL]
//! ```
//!
//! Public data: no keys needed. Run it again with the same `--out` and it
//! resumes after the last candle in the file.

use std::process::ExitCode;

use martingale_toolkit::cli::{arg, run_async};

use martingale_core::backtest::parse_time;
use martingale_exchange::binance::{BinanceConfig, BinanceSpot, MAINNET};
use martingale_exchange::{download_csv, Secret};

fn interval_ms(s: &str) -> Result<i64, String> {
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| format!("--interval {s:?}"))?;
    Ok(n * match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("--interval {s:?}: use m, h or d")),
    })
}

async fn run() -> Result<(), String> {
    let symbol = arg("--symbol").unwrap_or_else(|| "BTCUSDT".into());
    let interval = interval_ms(&arg("--interval").unwrap_or_else(|| "1m".into()))?;
    let from = parse_time(&arg("--from").ok_or("--from is required")?).ok_or("--from: not a date")?;
    let to = parse_time(&arg("--to").ok_or("--to is required")?).ok_or("--to: not a date")?;
    let out = arg("--out").ok_or("--out is required")?;
    let cfg = BinanceConfig { base_url: arg("--base-url").unwrap_or_else(|| MAINNET.into()), ..Default::default() };
    let venue = BinanceSpot::new(cfg, Secret::new(""), Secret::new("")).map_err(|e| e.to_string())?;
    let added = download_csv(&venue, &symbol, interval, from, to, std::path::Path::new(&out))
        .await
        .map_err(|e| e.to_string())?;
    println!("{added} candles added to {out}");
    Ok(())
}

fn main() -> ExitCode {
    run_async(run())
}
