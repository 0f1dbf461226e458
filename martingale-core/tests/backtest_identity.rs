//! The fast backtest gives exactly the deals, fills and metrics of the
//! event-driven reference walk, on real data (`../shared/data/`), over a
//! range of configurations: both sides, every anchor, stop losses on both
//! bases (with and without timeout), trailing, fees in base, cooldown,
//! reinvest, every path model and limit-fill rule, and entry signals.

use martingale_core::backtest::{backtest, max_drawdown, BacktestOptions, Candles, Driver, Mode};
use martingale_core::config::BotFile;
use martingale_core::engine::{BotId, Command, Engine, Event};
use rust_decimal::Decimal;

fn data() -> Candles {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/btcusd-coinbase-1h.csv");
    let text = std::fs::read_to_string(path).expect("real data in ../shared/data (see README)");
    Candles::from_csv(&text).expect("valid data")
}

fn bot(strategy: &str, fees_asset: &str, fill: &str) -> BotFile {
    BotFile::from_json(&format!(
        r#"{{"strategy": {{{strategy}}},
            "market": {{"tick_size": "0.01", "step_size": "0.00001", "min_qty": "0.00001", "min_notional": "5"}},
            "fees": {{"maker": "0.001", "taker": "0.001", "asset": "{fees_asset}"}},
            "fill": {{{fill}}}}}"#
    ))
    .unwrap()
}

const LADDER: &str = r#""base_order": {"quote": "100"}, "safety_order": {"quote": "200"}, "max_safety_orders": 6,
    "price_deviation": "1.5", "step_scale": "1.3", "volume_scale": "1.5""#;

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

#[test]
fn fast_equals_reference_on_real_data() {
    let candles = data();
    assert_eq!(candles.len(), 20_111);
    for (name, bot) in configs() {
        let opts = |mode| BacktestOptions { mode, record_fills: true, ..Default::default() };
        let t = std::time::Instant::now();
        let fast = backtest(&bot, &candles, &opts(Mode::Fast)).unwrap();
        let tf = t.elapsed();
        let t = std::time::Instant::now();
        let reference = backtest(&bot, &candles, &opts(Mode::Reference)).unwrap();
        let tr = t.elapsed();
        assert!(fast.metrics.closed_deals > 0, "{name}: no deals");
        assert_eq!(fast.deals, reference.deals, "{name}: deals differ");
        assert_eq!(fast.fills, reference.fills, "{name}: fills differ");
        assert_eq!(fast.metrics, reference.metrics, "{name}: metrics differ");
        assert_eq!(fast.open_deal, reference.open_deal, "{name}");
        // Deal numbers of limit entries that timed out unfilled are skipped.
        let numbers = fast.deals.last().map_or(0, |d| d.deal.number) as usize;
        let timed_out = numbers - fast.deals.len();
        assert_eq!(timed_out > 0, bot.strategy.entry_timeout_secs.is_some(), "{name}: {timed_out} timed-out entries");
        println!(
            "{name:32} deals {:4} timed out {timed_out:3} fills {:5} sl {:3} tr {:3} pnl {:>12} fast {tf:?} reference {tr:?}",
            fast.metrics.closed_deals,
            fast.fills.len(),
            fast.metrics.stop_loss_exits,
            fast.metrics.trailing_exits,
            fast.metrics.realized_pnl.round_dp(2)
        );
    }
}

#[test]
fn signals_open_deals_on_the_next_candle() {
    let candles = data();
    let bot =
        bot(&format!(r#"{LADDER}, "take_profit": {{"percent": "1.5"}}, "start_condition": "signal""#), "quote", "");
    // Signals every 200 candles, and bursts of them, some while deals are
    // open (ignored) and some while cooling down (dropped at the next tick).
    let signals: Vec<bool> = (0..candles.len()).map(|i| i % 200 == 0 || (i % 997) < 3).collect();
    let opts =
        |mode| BacktestOptions { mode, signals: Some(signals.clone()), record_fills: true, ..Default::default() };
    let fast = backtest(&bot, &candles, &opts(Mode::Fast)).unwrap();
    let reference = backtest(&bot, &candles, &opts(Mode::Reference)).unwrap();
    assert_eq!(fast, reference);
    assert!(fast.metrics.closed_deals > 10);
    for d in &fast.deals {
        assert!(d.start_index > 0 && signals[d.start_index - 1], "deal {} opened without a signal", d.deal.number);
    }
}

/// Start conditions from indicators (SPEC section 10): the fast walk equals
/// the reference walk, every deal opens at the candle after a close where
/// the condition held (computed here independently, from the closes), and
/// the condition made a difference (fewer deals than `asap`).
#[test]
fn indicator_starts_open_deals_after_the_condition_holds() {
    let candles = data();
    let closes = candles.closes();
    let starts = [
        (r#"{"indicator": "rsi", "period": 14, "below": "35"}"#, "long"),
        (r#"{"indicator": "rsi", "period": 7, "above": "70"}"#, "short"),
        (r#"{"indicator": "price_vs_sma", "period": 50, "below_percent": "1"}"#, "long"),
        (r#"{"indicator": "price_vs_sma", "period": 20, "below_percent": "0"}"#, "short"),
    ];
    for (start, side) in starts {
        let strategy = format!(
            r#"{LADDER}, "side": "{side}", "take_profit": {{"percent": "1.5"}}, "stop_loss": {{"percent": "20"}}, "start_condition": {start}"#
        );
        let b = bot(&strategy, "quote", "");
        let opts = |mode| BacktestOptions { mode, record_fills: true, ..Default::default() };
        let fast = backtest(&b, &candles, &opts(Mode::Fast)).unwrap();
        let reference = backtest(&b, &candles, &opts(Mode::Reference)).unwrap();
        assert_eq!(fast, reference, "{start} {side}");
        assert!(fast.metrics.closed_deals > 5, "{start} {side}: {} deals", fast.metrics.closed_deals);
        let holds = condition_by_hand(start, closes);
        for d in &fast.deals {
            assert!(
                d.start_index > 0 && holds[d.start_index - 1],
                "{start} {side}: deal {} opened at candle {} without the condition at the close before",
                d.deal.number,
                d.start_index
            );
        }
        let asap = bot(
            &format!(
                r#"{LADDER}, "side": "{side}", "take_profit": {{"percent": "1.5"}}, "stop_loss": {{"percent": "20"}}"#
            ),
            "quote",
            "",
        );
        let asap = backtest(&asap, &candles, &opts(Mode::Fast)).unwrap();
        assert!(fast.metrics.closed_deals < asap.metrics.closed_deals, "{start} {side}");
        println!("{start:70} {side:5} deals {:4} (asap {:4})", fast.metrics.closed_deals, asap.metrics.closed_deals);
        // Signals cannot be given on top of an indicator.
        let with_signals = BacktestOptions { signals: Some(vec![true; candles.len()]), ..Default::default() };
        assert!(backtest(&b, &candles, &with_signals).is_err());
    }
}

/// The start conditions of the test above by their definitions, in plain
/// arithmetic (RSI through the division, SMA as a mean).
fn condition_by_hand(start: &str, closes: &[Decimal]) -> Vec<bool> {
    let v: serde_json::Value = serde_json::from_str(start).unwrap();
    let n = v["period"].as_u64().unwrap() as usize;
    let num = |k: &str| v[k].as_str().map(|x| x.parse::<Decimal>().unwrap());
    let nd = Decimal::from(n as u64);
    if v["indicator"] == "rsi" {
        let mut out = vec![false; closes.len()];
        let (mut g, mut l) = (Decimal::ZERO, Decimal::ZERO);
        for j in 1..closes.len() {
            let x = closes[j] - closes[j - 1];
            let (up, down) = (x.max(Decimal::ZERO), (-x).max(Decimal::ZERO));
            if j <= n {
                g += up;
                l += down;
                if j == n {
                    g /= nd;
                    l /= nd;
                }
            } else {
                g = (g * (nd - Decimal::ONE) + up) / nd;
                l = (l * (nd - Decimal::ONE) + down) / nd;
            }
            if j >= n && g + l > Decimal::ZERO {
                let rsi = Decimal::ONE_HUNDRED * g / (g + l);
                out[j] = match (num("below"), num("above")) {
                    (Some(b), _) => rsi < b,
                    (_, Some(a)) => rsi > a,
                    _ => unreachable!(),
                };
            }
        }
        out
    } else {
        let p = num("below_percent").unwrap();
        (0..closes.len())
            .map(|i| {
                i + 1 >= n && {
                    let sma = closes[i + 1 - n..=i].iter().sum::<Decimal>() / nd;
                    closes[i] <= sma * (Decimal::ONE - p / Decimal::ONE_HUNDRED)
                }
            })
            .collect()
    }
}

/// Long minute series skip whole blocks: the fast path must still match.
#[test]
fn fast_equals_reference_on_minute_data() {
    let candles = martingale_core::backtest::synthetic::random_walk(11, 150_000, 60_000, 30_000.0, 0.0012);
    for (name, bot) in configs().into_iter().step_by(2) {
        let opts = |mode| BacktestOptions { mode, record_fills: true, ..Default::default() };
        let fast = backtest(&bot, &candles, &opts(Mode::Fast)).unwrap();
        let reference = backtest(&bot, &candles, &opts(Mode::Reference)).unwrap();
        assert_eq!(fast, reference, "{name}");
    }
}

/// The backtest skips the simulated exchange's `Accepted` reports: every
/// configuration gives the same deals, fills, totals and position with them.
#[test]
fn acknowledgments_change_nothing_but_order_states() {
    let candles = data();
    for (name, bot) in configs() {
        if bot.strategy.start_condition.is_indicator() {
            continue; // this bare driver feeds no indicator gate: no deal would start
        }
        let run = |ack: bool| {
            let mut engine = Engine::new(BotId::new("ack").unwrap(), &bot).unwrap();
            engine.handle(Event::Command { time: i64::MIN, command: Command::Start }).unwrap();
            let mut driver = Driver::new(&mut engine, bot.fill, 3_600_000).acknowledge(ack).record_orders(true);
            let mut prev = None;
            for i in 0..candles.len() {
                let c = candles.get(i).unwrap();
                driver.candle(i, &c, prev).unwrap();
                prev = Some(c.close);
            }
            let recorded = driver.recorded.clone();
            let position = engine.deal().map(|d| (d.position.open_qty(), d.position.entry_value(), d.orders.len()));
            (recorded, engine.totals().clone(), engine.phase().kind(), position)
        };
        let (with, without) = (run(true), run(false));
        assert!(!with.0.deals.is_empty(), "{name}");
        assert_eq!(with, without, "{name}");
    }
}

/// The plain definition of the drawdown over the exact equity at each close,
/// rounded like the metrics: `(max drawdown, max drawdown % of its peak)`.
fn plain_drawdown(equity: &[Decimal]) -> (Decimal, Decimal) {
    let (dd, pct) = max_drawdown(equity);
    (dd, pct.round_dp(6))
}

/// The block filters of the drawdown (whole blocks passed over, climbs
/// taken at their highest close) give the plain per-close figures, on the
/// real data and on long minute series, longs and shorts.
#[test]
fn drawdown_equals_the_plain_definition() {
    let minutes = martingale_core::backtest::synthetic::random_walk(5, 200_000, 60_000, 30_000.0, 0.0012);
    for (series, candles) in [("hours", data()), ("minutes", minutes)] {
        for (name, bot) in configs() {
            let opts = BacktestOptions { record_equity: true, mode: Mode::Reference, ..Default::default() };
            let with_curve = backtest(&bot, &candles, &opts).unwrap();
            let fast = backtest(&bot, &candles, &BacktestOptions::default()).unwrap();
            let (dd, pct) = plain_drawdown(&with_curve.equity);
            assert!(dd > Decimal::ZERO, "{series} {name}");
            assert_eq!((fast.metrics.max_drawdown, fast.metrics.max_drawdown_pct), (dd, pct), "{series} {name}");
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// On random walks from calm to wild, for every configuration (both
    /// sides, stops, trailing), the fast backtest's drawdown equals the plain
    /// per-close definition and its metrics equal the reference walk's.
    #[test]
    fn drawdown_equals_the_plain_definition_on_random_walks(
        seed in proptest::prelude::any::<u64>(),
        n in 100usize..20_000,
        vol in 0.0003f64..0.01,
        which in 0usize..12,
    ) {
        let candles = martingale_core::backtest::synthetic::random_walk(seed, n, 60_000, 30_000.0, vol);
        let (name, bot) = configs().swap_remove(which);
        let opts = BacktestOptions { record_equity: true, mode: Mode::Reference, ..Default::default() };
        match (backtest(&bot, &candles, &opts), backtest(&bot, &candles, &BacktestOptions::default())) {
            (Ok(with_curve), Ok(fast)) => {
                let plain = plain_drawdown(&with_curve.equity);
                proptest::prop_assert_eq!((fast.metrics.max_drawdown, fast.metrics.max_drawdown_pct), plain, "{}", name);
                proptest::prop_assert_eq!(&fast.metrics, &with_curve.metrics, "{}", name);
            }
            (Err(a), Err(b)) => proptest::prop_assert_eq!(a, b, "{}", name),
            (a, b) => proptest::prop_assert!(false, "{name}: {:?} vs {:?}", a.err(), b.err()),
        }
    }
}

/// The time limit (SPEC section 10) on the real data: deals closed by it
/// exist, each closed in a candle at least `secs` after the candle its base
/// order filled in, and (with a minimum profit) at a profit of at least the
/// minimum less the slippage.
#[test]
fn time_limits_close_only_past_the_limit() {
    let candles = data();
    let times = candles.times();
    for (min, side) in [(Some("0.3"), "long"), (None, "short")] {
        let limit = match min {
            Some(m) => format!(r#"{{"secs": 172800, "min_profit_percent": "{m}"}}"#),
            None => r#"{"secs": 172800}"#.to_string(),
        };
        let b = bot(
            &format!(r#"{LADDER}, "side": "{side}", "take_profit": {{"percent": "3"}}, "time_limit": {limit}"#),
            "quote",
            "",
        );
        let r = backtest(&b, &candles, &BacktestOptions::default()).unwrap();
        assert!(r.metrics.time_limit_exits > 10, "{side}: {} time-limit exits", r.metrics.time_limit_exits);
        for d in r.deals.iter().filter(|d| d.deal.exit == martingale_core::engine::ExitKind::TimeLimit) {
            assert!(times[d.end_index] - times[d.start_index] >= 172_800_000, "{side}: deal {}", d.deal.number);
            if min.is_some() {
                assert!(d.deal.pnl >= d.deal.cost * Decimal::new(3, 3), "{side}: deal {:?}", d.deal);
            }
        }
        println!("{side}: {} deals, {} by the time limit", r.metrics.closed_deals, r.metrics.time_limit_exits);
    }
}
