//! Downloads candles into the CSV format of the SPEC (resumable).
//!
//! ```text
//! cargo run --example download -- --symbol BTC/USDT --interval 1m --from 2024-01-01 --to 2024-02-01 --out FILE.csv
//!                                 [--venue binance|bybit|okx|coindcx] [--base-url URL]
//! ```
//!
//! Public data: no keys needed. Run it again with the same `--out` and it
//! resumes after the last candle in the file.

use martingale_toolkit::outln;
use std::process::ExitCode;

use martingale_toolkit::cli::{arg, run_async};

use martingale_core::backtest::parse_time;
use martingale_core::venue::Venue;
use martingale_exchange::{connect, download_csv, VenueOptions};

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
    let venue: Venue = arg("--venue").unwrap_or_else(|| "binance".into()).parse().map_err(|e| format!("{e}"))?;
    let symbol = venue.resolve(&arg("--symbol").unwrap_or_else(|| "BTC/USDT".into())).map_err(|e| e.to_string())?;
    let interval = interval_ms(&arg("--interval").unwrap_or_else(|| "1m".into()))?;
    let from = parse_time(&arg("--from").ok_or("--from is required")?).ok_or("--from: not a date")?;
    let to = parse_time(&arg("--to").ok_or("--to is required")?).ok_or("--to: not a date")?;
    let out = arg("--out").ok_or("--out is required")?;
    let opts = VenueOptions { testnet: false, base_url: arg("--base-url") };
    let api = connect(venue, None, None, &opts).map_err(|e| e.to_string())?;
    let added = download_csv(api.as_ref(), &symbol, interval, from, to, std::path::Path::new(&out))
        .await
        .map_err(|e| e.to_string())?;
    outln!("{added} candles added to {out}");
    Ok(())
}

fn main() -> ExitCode {
    run_async(run())
}
