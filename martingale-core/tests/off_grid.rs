//! Candle data off the tick grid (SPEC section 10, last paragraph): float
//! noise such as `0.09969000000000001` in exported data never aborts a
//! backtest. Market and stop fills happen at the price the path reaches,
//! even off the grid; only prices the bot places are rounded to the grid.
//! Both walks agree.

use martingale_core::backtest::{backtest, BacktestOptions, Candles, Mode};
use martingale_core::config::BotFile;
use martingale_core::engine::OrderRole;
use rust_decimal::Decimal;

/// A random walk of prices near 0.1 written as `f64` arithmetic prints them
/// (`9969 * 0.00001` is `0.09969000000000001`): many prices off a 0.000001
/// grid by float noise, as in data exported from a float pipeline.
fn noisy_csv(seed: u64, n: usize) -> String {
    let mut s = seed;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut units: i64 = 10_000; // price in units of 0.00001
    let mut out = String::from("time,open,high,low,close\n");
    for i in 0..n {
        let open = units;
        let mut hi = open;
        let mut lo = open;
        for _ in 0..4 {
            units = (units + (next() % 61) as i64 - 30).max(3_000);
            hi = hi.max(units);
            lo = lo.min(units);
        }
        let p = |u: i64| u as f64 * 0.00001;
        out.push_str(&format!("{},{},{},{},{}\n", i as i64 * 3_600_000, p(open), p(hi), p(lo), p(units)));
    }
    out
}

fn bot(extra: &str) -> BotFile {
    BotFile::from_json(&format!(
        r#"{{"strategy": {{"base_order": {{"quote": "100"}}, "safety_order": {{"quote": "100"}},
              "max_safety_orders": 4, "price_deviation": "2", "take_profit": {{"percent": "1.5"}}{extra}}},
            "market": {{"tick_size": "0.000001", "step_size": "1", "min_qty": "1", "min_notional": "1"}},
            "fees": {{"maker": "0.001", "taker": "0.001", "asset": "quote"}}}}"#
    ))
    .unwrap()
}

fn off_grid(p: Decimal) -> bool {
    !(p / Decimal::new(1, 6)).fract().is_zero()
}

#[test]
fn the_series_has_float_noise() {
    let csv = noisy_csv(7, 3_000);
    assert!(csv.contains("0.09969000000000001") || csv.lines().any(|l| l.contains("0000000")), "no float noise");
    let candles = Candles::from_csv(&csv).unwrap();
    let noisy = (0..candles.len()).filter(|&i| off_grid(candles.get(i).unwrap().open)).count();
    assert!(noisy > 100, "only {noisy} off-grid opens");
}

#[test]
fn off_grid_candles_backtest_and_both_walks_agree() {
    let candles = Candles::from_csv(&noisy_csv(7, 3_000)).unwrap();
    let configs = [
        ("long", ""),
        ("short", r#", "side": "short""#),
        ("long stop", r#", "stop_loss": {"percent": "5"}"#),
        ("short stop", r#", "side": "short", "stop_loss": {"percent": "5"}"#),
        ("trailing", r#", "trailing_take_profit": "0.5""#),
    ];
    for (name, extra) in configs {
        let bot = bot(extra);
        let opts = |mode| BacktestOptions { mode, record_fills: true, ..Default::default() };
        let fast = backtest(&bot, &candles, &opts(Mode::Fast)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let reference = backtest(&bot, &candles, &opts(Mode::Reference)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(fast, reference, "{name}");
        assert!(fast.metrics.closed_deals > 5, "{name}: {} deals", fast.metrics.closed_deals);
        // Base orders fill at the candle's open, off the grid when it is.
        let base_fills: Vec<_> = fast.fills.iter().filter(|f| f.role == OrderRole::Base).collect();
        assert!(base_fills.iter().any(|f| off_grid(f.price)), "{name}: no off-grid base fill");
        for f in &base_fills {
            let open = candles.get(f.candle).unwrap().open;
            assert!(f.price == open, "{name}: base fill {} is not the open {open}", f.price);
        }
        // Every price the bot placed (limit orders) is on the grid.
        for f in fast.fills.iter().filter(|f| matches!(f.role, OrderRole::Safety(_) | OrderRole::TakeProfit)) {
            assert!(!off_grid(f.price), "{name}: placed price {} off the grid", f.price);
        }
        if name.contains("stop") {
            assert!(fast.metrics.stop_loss_exits > 0, "{name}: no stop fired");
        }
    }
}
