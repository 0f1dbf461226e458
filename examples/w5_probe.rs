use martingale_core::backtest::{backtest, synthetic, BacktestOptions, Mode};
use martingale_core::config::BotFile;
fn main() {
    let t = std::time::Instant::now();
    let candles = synthetic::random_walk(42, 2_629_800, 60_000, 30_000.0, 0.0012);
    println!("gen {:?}", t.elapsed());
    let bot = BotFile::from_json(
        r#"{"strategy": {"base_order": {"quote": "100"}, "safety_order": {"quote": "200"},
        "max_safety_orders": 8, "price_deviation": "1.5", "step_scale": "1.2", "volume_scale": "1.5",
        "take_profit": {"percent": "1.5"}},
        "market": {"tick_size": "0.01", "step_size": "0.00001", "min_qty": "0.00001", "min_notional": "5"},
        "fees": {"maker": "0.001", "taker": "0.001"}}"#,
    )
    .unwrap();
    let modes: &[Mode] = if std::env::var_os("FAST_ONLY").is_some() {
        &[Mode::Fast; 10]
    } else {
        &[Mode::Fast, Mode::Fast, Mode::Reference]
    };
    for &mode in modes {
        let t = std::time::Instant::now();
        let r = backtest(&bot, &candles, &BacktestOptions { mode, ..Default::default() }).unwrap();
        let el = t.elapsed();
        println!(
            "{mode:?} {el:?} deals {} fills {} {:.0} Mcandles/s",
            r.metrics.closed_deals,
            r.metrics.fills,
            2.6298 / el.as_secs_f64()
        );
    }
}
