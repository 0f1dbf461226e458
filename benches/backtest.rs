//! Backtest speed on the reference workload W5 (2,629,800 one-minute
//! candles, a long ladder with N = 8): the fast backtest, the same with
//! take-profit steps and a trailing stop (SPEC section 10), the
//! event-driven reference walk, a plain per-candle Decimal loop as the
//! baseline, and a sweep of 1,000 parameter sets.
//!
//! `cargo bench --bench backtest` (the sweep group alone takes ~2 minutes).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use martingale_core::backtest::sweep::{sweep, Grid};
use martingale_core::backtest::{backtest, synthetic, BacktestOptions, Candles, Mode};
use martingale_core::config::BotFile;
use rust_decimal::Decimal;
use serde_json::json;

fn w5_bot() -> BotFile {
    include_str!("../examples/bots/w5.json").parse().expect("valid bot")
}

/// The baseline: one pass over the Decimal candles doing the least an exact
/// per-candle backtester does (compare low and high with the next safety
/// order and the take profit, mark equity at the close).
fn plain_decimal_loop(c: &Candles, so: Decimal, tp: Decimal, a: Decimal, q: Decimal) -> (usize, Decimal) {
    let mut hits = 0;
    let mut min_equity = Decimal::MAX;
    for i in 0..c.len() {
        let k = c.get(i).expect("in range");
        hits += usize::from(k.low < so) + usize::from(k.high > tp);
        min_equity = min_equity.min(a + q * k.close);
    }
    (hits, min_equity)
}

/// The W5 ladder with SPEC section 10 exits: three take-profit steps (the
/// last one trailing 0.3 %) and a 12 % trailing stop that moves to
/// break-even after the first step.
pub fn w5_steps_bot() -> BotFile {
    let mut bot = w5_bot();
    bot.strategy.take_profit = serde_json::from_value(json!({"steps": [
        {"percent": "0.8", "close": "30"}, {"percent": "1.5", "close": "30"}, {"percent": "2.5", "close": "40"}]}))
    .expect("valid steps");
    bot.strategy.trailing_take_profit = Some(Decimal::new(3, 1));
    bot.strategy.stop_loss = Some(
        serde_json::from_value(json!({"percent": "12", "trailing": true, "breakeven_after_step": 1})).expect("stop"),
    );
    bot.strategy.validate().expect("valid strategy");
    bot
}

fn w5(cr: &mut Criterion) {
    let candles = synthetic::w5();
    let bot = w5_bot();
    let steps = w5_steps_bot();
    let mut g = cr.benchmark_group("w5");
    g.throughput(Throughput::Elements(candles.len() as u64));
    g.bench_function("fast", |b| b.iter(|| backtest(&bot, black_box(&candles), &BacktestOptions::default())));
    g.bench_function("fast_tp_steps_trailing_stop", |b| {
        b.iter(|| backtest(&steps, black_box(&candles), &BacktestOptions::default()))
    });
    g.bench_function("plain_decimal_loop", |b| {
        let (so, tp, a, q) = (Decimal::new(2_000_000, 2), Decimal::new(9_000_000, 2), Decimal::ONE, Decimal::ONE);
        b.iter(|| plain_decimal_loop(black_box(&candles), so, tp, a, q))
    });
    g.sample_size(10);
    g.bench_function("reference", |b| {
        let opts = BacktestOptions { mode: Mode::Reference, ..Default::default() };
        b.iter(|| backtest(&bot, black_box(&candles), &opts))
    });
    g.finish();
}

/// 10 take profits x 10 deviations x 10 volume scales = 1,000 sets.
pub fn grid_1000() -> Grid {
    let tp = (0..10).map(|i| json!(format!("{}", 1.0 + 0.25 * i as f64)));
    let dev = (0..10).map(|i| json!(format!("{}", 1.0 + 0.2 * i as f64)));
    let vol = (0..10).map(|i| json!(format!("{}", 1.0 + 0.1 * i as f64)));
    Grid::new().axis("take_profit.percent", tp).axis("price_deviation", dev).axis("volume_scale", vol)
}

fn sweep_1000(cr: &mut Criterion) {
    let candles = synthetic::w5();
    let bot = w5_bot();
    let grid = grid_1000();
    let mut g = cr.benchmark_group("sweep");
    g.sample_size(10);
    g.throughput(Throughput::Elements(grid.len() as u64));
    g.bench_function("w5_1000_sets", |b| {
        b.iter(|| sweep(&bot, black_box(&candles), &grid, &BacktestOptions::default(), &|_, _| {}, None))
    });
    g.finish();
}

criterion_group!(benches, w5, sweep_1000);
criterion_main!(benches);
