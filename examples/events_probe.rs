use martingale_core::backtest::{backtest, BacktestOptions, Candles};
use martingale_core::config::BotFile;
fn main() {
    let text = std::fs::read_to_string("../shared/data/btcusd-coinbase-1h.csv").unwrap();
    let candles = Candles::from_csv(&text).unwrap();
    let bot: BotFile = include_str!("bots/example.json").parse().unwrap();
    let t = std::time::Instant::now();
    let mut fills = 0;
    for _ in 0..50 {
        fills += backtest(&bot, &candles, &BacktestOptions::default()).unwrap().metrics.fills;
    }
    println!("{:?} per backtest, {} fills, {:?} per fill", t.elapsed() / 50, fills / 50, t.elapsed() / fills as u32);
}
