//! `martingale serve`: logging, signals and the price file around
//! `martingale_service::serve`.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use martingale_core::backtest::Candles;
use martingale_core::venue::Venue;
use martingale_service::keys::Keyring;
use martingale_service::serve::{serve, ServeConfig};
use martingale_service::Db;
use rust_decimal::Decimal;

/// Log line format.
#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Options of `serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Candle CSV the paper bots replay, one candle per polling interval
    /// (`time,open,high,low,close[,volume]`, time in ms or s).
    #[arg(long, conflicts_with = "paper_prices_from")]
    prices: Option<PathBuf>,
    /// Paper bots take this venue's live prices instead (binance, bybit,
    /// okx or coindcx; its public ticker, no key): one read per symbol per
    /// interval, the move between two reads walked like a candle.
    #[arg(long, value_name = "VENUE")]
    paper_prices_from: Option<String>,
    /// Polling interval in milliseconds.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// Quote balance of each paper bot's account.
    #[arg(long, default_value = "100000")]
    paper_quote: String,
    /// Stop once the price file has been replayed.
    #[arg(long)]
    exit_at_end: bool,
    #[command(flatten)]
    urls: super::keys::VenueUrls,
    /// Log format (RUST_LOG sets the level; default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
}

/// Runs the service until SIGINT or SIGTERM.
pub async fn run(
    db: Db,
    args: ServeArgs,
    master: &super::keys::MasterKeyArgs,
    data: &std::path::Path,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    init_logs(args.log_format);
    // Bots on live venues need the users' keys: opened with the master key
    // when there is one (a wrong one stops here); without one, only paper
    // bots run and live ones say why.
    let keys = match super::keys::master_key(master, data, false) {
        Ok(key) => Some(std::sync::Arc::new(Keyring::open(&db, &key).await.map_err(|e| e.to_string())?)),
        Err(why) => {
            tracing::info!("{why}; bots on live venues will not start");
            None
        }
    };
    let mut venue_urls = std::collections::HashMap::new();
    for venue in [Venue::Binance, Venue::Bybit, Venue::Okx, Venue::Coindcx] {
        if let Some(url) = args.urls.options(venue)?.base_url {
            venue_urls.insert(venue, url);
        }
    }
    let prices = match &args.prices {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("--prices {}: {e}", p.display()))?;
            Some(std::sync::Arc::new(Candles::from_csv(&text).map_err(|e| format!("--prices {}: {e}", p.display()))?))
        }
        None => None,
    };
    let paper_live = match &args.paper_prices_from {
        Some(v) => match v.parse::<Venue>() {
            Ok(Venue::Paper) | Err(_) => {
                return Err(format!("--paper-prices-from {v:?}: a live venue (binance, bybit, okx or coindcx)"))
            }
            Ok(venue) => Some(venue),
        },
        None => None,
    };
    let paper_quote = Decimal::from_str(&args.paper_quote)
        .ok()
        .filter(|q| *q > Decimal::ZERO)
        .ok_or_else(|| format!("--paper-quote {:?}: a positive decimal number", args.paper_quote))?;
    let pid = std::process::id();
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let cfg = ServeConfig {
        interval: Duration::from_millis(args.interval_ms.max(1)),
        prices,
        paper_live,
        paper_quote,
        // Without a host name the fast takeover of a dead owner is off.
        holder: format!("{}:{pid}", if host.is_empty() { martingale_service::UNKNOWN_HOST } else { &host }),
        pid: i64::from(pid),
        exit_at_end: args.exit_at_end,
        keys,
        venue_urls,
    };
    let summary = serve(db, cfg, stop_signal()).await.map_err(|e| e.to_string())?;
    super::line(
        out,
        format!(
            "stopped after {} polls: {} candles replayed, {} deals recorded, {} live steps, {} price requests",
            summary.polls, summary.candles, summary.deals, summary.live_steps, summary.price_requests
        ),
    );
    Ok(())
}

/// Completes at SIGINT or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("stop signal received: stopping the bots");
}

fn init_logs(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
