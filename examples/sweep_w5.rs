//! Times one sweep of 1,000 parameter sets over W5 on all cores.
//! `cargo run --release --example sweep_w5`
use martingale_core::backtest::sweep::{sweep, Grid};
use martingale_core::backtest::{synthetic, BacktestOptions};
use martingale_core::config::BotFile;
use martingale_toolkit::outln;
use serde_json::json;

fn main() {
    let candles = synthetic::w5();
    let bot: BotFile = include_str!("bots/w5.json").parse().expect("valid bot");
    let tp = (0..10).map(|i| json!(format!("{}", 1.0 + 0.25 * i as f64)));
    let dev = (0..10).map(|i| json!(format!("{}", 1.0 + 0.2 * i as f64)));
    let vol = (0..10).map(|i| json!(format!("{}", 1.0 + 0.1 * i as f64)));
    let grid = Grid::new().axis("take_profit.percent", tp).axis("price_deviation", dev).axis("volume_scale", vol);
    let t = std::time::Instant::now();
    let out = sweep(&bot, &candles, &grid, &BacktestOptions::default(), &|_, _| {}, None).expect("sweep");
    let el = t.elapsed();
    let ok = out.rows.iter().filter(|r| r.outcome.is_ok()).count();
    let fills: usize = out.rows.iter().filter_map(|r| r.outcome.as_ref().ok()).map(|m| m.fills).sum();
    outln!(
        "{} sets ({ok} ok) over {} candles on {} threads: {el:.2?} ({:.1} ms per backtest per thread), {fills} fills",
        grid.len(),
        candles.len(),
        rayon::current_num_threads(),
        el.as_secs_f64() * 1e3 * rayon::current_num_threads() as f64 / grid.len() as f64
    );
}
