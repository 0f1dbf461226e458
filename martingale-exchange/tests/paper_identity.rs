//! A paper replay gives the backtest's deals, deal for deal and fill for
//! fill, on real data (`../shared/data/btcusd-coinbase-1h.csv`): the paper
//! exchange walks each candle with the backtest's own walk and book
//! (`CandleWalk`, `SimExchange`), and the runner polls at every point where
//! the backtest acts. The configurations are those of martingale-core's
//! `tests/backtest_identity.rs` (both sides, every anchor, stops with and
//! without timeout, slippage, trailing, base fees, cooldown, reinvest, every
//! path model and limit-fill rule, max deals), plus the two indicator start
//! conditions (RSI, price vs SMA), whose signals the backtest computes from
//! the closes and the paper runner's gate raises at each close; the
//! externally signal-driven one has no paper counterpart.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use martingale_core::backtest::{backtest, BacktestOptions, Candles, Driver, Mode};
use martingale_core::config::BotFile;
use martingale_core::engine::{BotId, Command, DealReport, Engine, Event, ExitKind, TimeMs};
use martingale_exchange::{Exchange, PaperExchange, Runner, RunnerConfig, StateStore};
use rust_decimal::Decimal;

fn data() -> Candles {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/btcusd-coinbase-1h.csv");
    let text = std::fs::read_to_string(path).expect("real data in ../shared/data (see README)");
    Candles::from_csv(&text).expect("valid data")
}

fn bot(strategy: &str, fees_asset: &str, fill: &str) -> BotFile {
    BotFile::from_json(&format!(
        r#"{{"strategy": {{{strategy}}},
            "market": {{"symbol": "BTCUSD", "tick_size": "0.01", "step_size": "0.00001", "min_qty": "0.00001", "min_notional": "5"}},
            "fees": {{"maker": "0.001", "taker": "0.001", "asset": "{fees_asset}"}},
            "fill": {{{fill}}}}}"#
    ))
    .unwrap()
}

const LADDER: &str = r#""base_order": {"quote": "100"}, "safety_order": {"quote": "200"}, "max_safety_orders": 6,
    "price_deviation": "1.5", "step_scale": "1.3", "volume_scale": "1.5""#;

/// martingale-core's `tests/backtest_identity.rs` configurations.
fn configs() -> Vec<(&'static str, BotFile)> {
    let s = |extra: &str| format!("{LADDER}, {extra}");
    vec![
        ("long base anchor", bot(&s(r#""take_profit": {"percent": "1.5"}"#), "quote", "")),
        ("short", bot(&s(r#""side": "short", "take_profit": {"percent": "1.5"}"#), "quote", "")),
        (
            "previous anchor, touch",
            bot(
                &s(r#""safety_anchor": "previous", "take_profit": {"percent": "1"}"#),
                "quote",
                r#""limit_fill": "touch""#,
            ),
        ),
        (
            "average anchor, ohlc",
            bot(&s(r#""safety_anchor": "average", "take_profit": {"percent": "2"}"#), "quote", r#""path": "ohlc""#),
        ),
        (
            "tp on base order, olhc",
            bot(&s(r#""take_profit": {"percent": "3", "base": "base_order"}"#), "quote", r#""path": "olhc""#),
        ),
        (
            "stop on average",
            bot(
                &s(r#""take_profit": {"percent": "1.5"}, "stop_loss": {"percent": "4"}"#),
                "quote",
                r#""slippage_bps": "10""#,
            ),
        ),
        (
            "stop on base order with timeout",
            bot(
                &s(
                    r#""take_profit": {"percent": "1.5"}, "stop_loss": {"percent": "25", "base": "base_order"}, "stop_loss_timeout_secs": 7200"#,
                ),
                "quote",
                "",
            ),
        ),
        (
            "short stop",
            bot(
                &s(
                    r#""side": "short", "take_profit": {"percent": "1.5"}, "stop_loss": {"percent": "30", "base": "base_order"}"#,
                ),
                "quote",
                "",
            ),
        ),
        ("trailing", bot(&s(r#""take_profit": {"percent": "1"}, "trailing_take_profit": "0.5""#), "quote", "")),
        (
            "short trailing",
            bot(&s(r#""side": "short", "take_profit": {"percent": "1"}, "trailing_take_profit": "0.4""#), "quote", ""),
        ),
        (
            "base fees, cooldown, reinvest",
            bot(
                &s(r#""take_profit": {"percent": "1.2"}, "cooldown_secs": 10800, "reinvest_percent": "50""#),
                "base",
                "",
            ),
        ),
        (
            "max deals, active limit",
            bot(
                &s(r#""take_profit": {"percent": "1.2"}, "max_deals": 40, "max_active_safety_orders": 2"#),
                "quote",
                "",
            ),
        ),
        // SPEC section 10 time limits.
        (
            "time limit, min profit",
            bot(
                &s(r#""take_profit": {"percent": "3"}, "time_limit": {"secs": 172800, "min_profit_percent": "0.3"}"#),
                "quote",
                r#""slippage_bps": "5""#,
            ),
        ),
        (
            "short time limit at once",
            bot(&s(r#""side": "short", "take_profit": {"percent": "2"}, "time_limit": {"secs": 86400}"#), "quote", ""),
        ),
        // SPEC section 10 stop-loss extras.
        (
            "trailing stop loss",
            bot(
                &s(r#""take_profit": {"percent": "3"}, "stop_loss": {"percent": "22", "trailing": true}"#),
                "quote",
                "",
            ),
        ),
        (
            "short trailing stop, close and stop",
            bot(
                &s(
                    r#""side": "short", "take_profit": {"percent": "2"}, "stop_loss": {"percent": "25", "trailing": true, "action": "close_and_stop"}"#,
                ),
                "quote",
                "",
            ),
        ),
        // SPEC section 10 start conditions: the backtest precomputes the
        // signals from the closes, the paper runner's gate raises them at
        // each close; the deals must be the same.
        (
            "rsi start",
            bot(
                &s(
                    r#""take_profit": {"percent": "1.5"}, "start_condition": {"indicator": "rsi", "period": 14, "below": "35"}"#,
                ),
                "quote",
                "",
            ),
        ),
        (
            "short, price vs sma start",
            bot(
                &s(
                    r#""side": "short", "take_profit": {"percent": "1.5"}, "start_condition": {"indicator": "price_vs_sma", "period": 50, "below_percent": "1"}"#,
                ),
                "quote",
                "",
            ),
        ),
        // SPEC section 10 take-profit steps.
        (
            "tp steps",
            bot(
                &s(
                    r#""take_profit": {"steps": [{"percent": "1", "close": "30"}, {"percent": "2", "close": "30"}, {"percent": "3.5", "close": "40"}]}"#,
                ),
                "quote",
                "",
            ),
        ),
        (
            "short tp steps, break-even",
            bot(
                &s(
                    r#""side": "short", "take_profit": {"steps": [{"percent": "1", "close": "50"}, {"percent": "2.5", "close": "50"}]}, "stop_loss": {"percent": "25", "breakeven_after_step": 1}"#,
                ),
                "quote",
                r#""slippage_bps": "5""#,
            ),
        ),
        (
            "tp steps, trailing last step",
            bot(
                &s(
                    r#""take_profit": {"steps": [{"percent": "1", "close": "40"}, {"percent": "2", "close": "60"}]}, "trailing_take_profit": "0.5""#,
                ),
                "quote",
                "",
            ),
        ),
        (
            "tp steps on base order, trailing stop, break-even, time limit",
            bot(
                &s(
                    r#""take_profit": {"base": "base_order", "steps": [{"percent": "2", "close": "50"}, {"percent": "4", "close": "50"}]}, "stop_loss": {"percent": "22", "trailing": true, "breakeven_after_step": 1}, "time_limit": {"secs": 259200, "min_profit_percent": "0.2"}"#,
                ),
                "quote",
                "",
            ),
        ),
        (
            "tp steps merged, base fees, touch",
            bot(
                &s(
                    r#""take_profit": {"steps": [{"percent": "0.8", "close": "3"}, {"percent": "1.5", "close": "37"}, {"percent": "3", "close": "60"}]}"#,
                ),
                "base",
                r#""limit_fill": "touch""#,
            ),
        ),
        // SPEC section 10 limit base order.
        (
            "limit entry, offset, timeout",
            bot(
                &s(
                    r#""take_profit": {"percent": "1.5"}, "base_order_type": "limit", "entry_offset_percent": "0.3", "entry_timeout_secs": 7200"#,
                ),
                "quote",
                "",
            ),
        ),
        (
            "short limit entry at the open, timeout",
            bot(
                &s(
                    r#""side": "short", "take_profit": {"percent": "1"}, "base_order_type": "limit", "entry_timeout_secs": 3600, "cooldown_secs": 7200"#,
                ),
                "quote",
                "",
            ),
        ),
        (
            "limit entry, rsi start, odd timeout",
            bot(
                &s(
                    r#""take_profit": {"percent": "1.2"}, "base_order_type": "limit", "entry_offset_percent": "0.5", "entry_timeout_secs": 10000, "start_condition": {"indicator": "rsi", "period": 14, "below": "45"}"#,
                ),
                "quote",
                "",
            ),
        ),
        (
            "limit entry, tp steps, trailing stop, touch",
            bot(
                &s(
                    r#""take_profit": {"steps": [{"percent": "1", "close": "50"}, {"percent": "2", "close": "50"}]}, "stop_loss": {"percent": "20", "trailing": true}, "base_order_type": "limit", "entry_offset_percent": "0.2""#,
                ),
                "base",
                r#""limit_fill": "touch""#,
            ),
        ),
    ]
}

/// Snapshots in memory (the runner persists after every event).
#[derive(Default)]
struct MemStore(Mutex<HashMap<String, String>>);

#[async_trait::async_trait]
impl StateStore for MemStore {
    async fn load(&self, bot: &BotId) -> io::Result<Option<String>> {
        Ok(self.0.lock().unwrap().get(bot.as_str()).cloned())
    }
    async fn save(&self, bot: &BotId, state: &str) -> io::Result<()> {
        self.0.lock().unwrap().insert(bot.as_str().to_string(), state.to_string());
        Ok(())
    }
}

const HOUR: TimeMs = 3_600_000;

/// A fill as both sides can state it: client order id, price, quantity, fee.
type FillKey = (String, Decimal, Decimal, Decimal);

/// The backtest's event-driven walk: deals and fills.
fn backtest_run(bot: &BotFile, candles: &Candles) -> (Vec<DealReport>, Vec<FillKey>) {
    let mut engine = Engine::new(BotId::new("same").unwrap(), bot).unwrap();
    engine.handle(Event::Command { time: TimeMs::MIN, command: Command::Start }).unwrap();
    let mut driver = Driver::new(&mut engine, bot.fill, HOUR);
    let condition = bot.strategy.start_condition;
    let signals =
        condition.is_indicator().then(|| martingale_core::indicators::start_signals(&condition, candles.closes()));
    let mut prev = None;
    for i in 0..candles.len() {
        let c = candles.get(i).unwrap();
        driver.candle(i, &c, prev).unwrap();
        if signals.as_ref().is_some_and(|s| s[i]) {
            let time = c.time + HOUR - 1;
            driver.send(Event::Signal { time }, time).unwrap();
        }
        prev = Some(c.close);
    }
    let fills = driver
        .recorded
        .fills
        .iter()
        .map(|f| {
            let fee = match f.fee {
                martingale_core::fees::FeeCharge::Quote(x) | martingale_core::fees::FeeCharge::Base(x) => x,
            };
            (order_key(&f.client_order_id), f.price, f.quantity, fee)
        })
        .collect();
    (driver.recorded.deals.clone(), fills)
}

/// An order's deal, role and sequence number: the runner's fresh start
/// writes a start generation into its ids, the backtest's engine does not.
fn order_key(id: &martingale_core::engine::ClientOrderId) -> String {
    let p = id.parse_for(&BotId::new("same").unwrap()).unwrap_or_else(|| panic!("{id} is not the bot's"));
    format!("{}-{:?}-{}", p.deal, p.role, p.seq)
}

/// The same candles replayed through a runner on the paper exchange.
async fn paper_run(bot: &BotFile, candles: &Candles) -> (Vec<DealReport>, Vec<FillKey>) {
    // Funds for every ladder, and base to sell for the shorts.
    let paper = Arc::new(
        PaperExchange::builder("BTCUSD", bot.market.clone())
            .fees(bot.fees)
            .fill(bot.fill)
            .quote_balance(Decimal::from(100_000_000))
            .base_balance(Decimal::from(10_000))
            .build(),
    );
    let cfg = RunnerConfig { account: "paper".into(), symbol: "BTCUSD".into(), cancel_on_shutdown: false };
    let store: Arc<dyn StateStore> = Arc::new(MemStore::default());
    let id = BotId::new("same").unwrap();
    let mut runner = Runner::start(id, bot, paper.clone(), store, None, cfg, TimeMs::MIN).await.unwrap();
    runner.command(TimeMs::MIN, Command::Start).await.unwrap();
    let mut deals = Vec::new();
    for i in 0..candles.len() {
        paper.replay_candle(&mut runner, candles.get(i).unwrap(), HOUR).await.unwrap();
        deals.extend(runner.take_closed());
    }
    let fills = paper
        .fills_since("BTCUSD", TimeMs::MIN)
        .await
        .unwrap()
        .into_iter()
        .map(|f| (order_key(&f.client_order_id), f.price, f.quantity, f.fee))
        .collect();
    (deals, fills)
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

#[test]
fn paper_replay_equals_the_backtest_on_real_data() {
    let candles = data();
    assert_eq!(candles.len(), 20_111);
    for (name, bot) in configs() {
        let t = std::time::Instant::now();
        let (deals, fills) = backtest_run(&bot, &candles);
        let tb = t.elapsed();
        let t = std::time::Instant::now();
        let (paper_deals, paper_fills) = run(paper_run(&bot, &candles));
        let tp = t.elapsed();
        assert!(!deals.is_empty(), "{name}: no deals");
        assert_eq!(paper_deals.len(), deals.len(), "{name}: deal count");
        for (p, b) in paper_deals.iter().zip(&deals) {
            assert_eq!(p, b, "{name}: deal {} differs", b.number);
        }
        assert_eq!(paper_fills, fills, "{name}: fills differ");
        // The public backtest (fast walk) agrees too: its deal records
        // carry the very reports the engine gave the runner.
        let fast = backtest(&bot, &candles, &BacktestOptions { mode: Mode::Fast, ..Default::default() }).unwrap();
        let reports: Vec<_> = fast.deals.iter().map(|d| d.deal.clone()).collect();
        assert_eq!(reports, paper_deals, "{name}");
        let stops = deals.iter().filter(|d| d.exit == ExitKind::StopLoss).count();
        println!(
            "{name:32} deals {:4} fills {:5} stops {stops:3} backtest {tb:?} paper {tp:?}",
            deals.len(),
            fills.len()
        );
    }
}

/// The issue's case: 400 hourly candles with a stop. The stop fires at its
/// price on the path (a feed-then-poll runner saw only the close).
#[test]
fn stops_fire_at_their_price_on_the_path() {
    let all = data();
    let csv: String = std::iter::once("time,open,high,low,close".to_string())
        .chain((0..400).map(|i| {
            let c = all.get(i).unwrap();
            format!("{},{},{},{},{}", c.time, c.open, c.high, c.low, c.close)
        }))
        .collect::<Vec<_>>()
        .join("\n");
    let candles = Candles::from_csv(&csv).unwrap();
    let bot =
        bot(&format!(r#"{LADDER}, "take_profit": {{"percent": "1.5"}}, "stop_loss": {{"percent": "3"}}"#), "quote", "");
    let (deals, _) = backtest_run(&bot, &candles);
    let (paper_deals, _) = run(paper_run(&bot, &candles));
    assert_eq!(paper_deals, deals);
    let stopped: Vec<_> = deals.iter().filter(|d| d.exit == ExitKind::StopLoss).collect();
    assert!(!stopped.is_empty(), "no stop in 400 candles");
    for d in stopped {
        let closes: Vec<Decimal> = (0..candles.len()).map(|i| candles.get(i).unwrap().close).collect();
        assert!(!closes.contains(&d.exit_price.unwrap()), "deal {} stopped at a close", d.number);
    }
}
