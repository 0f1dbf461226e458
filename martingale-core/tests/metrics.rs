//! Metrics of SPEC section 7 on candle series small enough to compute by
//! hand; every figure below is worked out in the comments.

use martingale_core::backtest::{backtest, BacktestOptions, Candles, Mode};
use martingale_core::config::BotFile;
use martingale_core::engine::{Candle, ExitKind};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const H: i64 = 3_600_000;

fn candles(rows: &[(Decimal, Decimal, Decimal, Decimal)]) -> Candles {
    let rows: Vec<Candle> = rows
        .iter()
        .enumerate()
        .map(|(i, &(open, high, low, close))| Candle { time: i as i64 * H, open, high, low, close })
        .collect();
    Candles::from_candles(&rows).unwrap()
}

fn bot(strategy: &str, fees: &str) -> BotFile {
    BotFile::from_json(&format!(
        r#"{{"strategy": {{"base_order": {{"quote": "100"}}, "max_safety_orders": 0, {strategy}}},
            "market": {{"tick_size": "0.01", "step_size": "0.0001"}}, "fees": {fees}}}"#
    ))
    .unwrap()
}

fn both(bot: &BotFile, c: &Candles) -> martingale_core::backtest::BacktestResult {
    let fast = backtest(bot, c, &BacktestOptions { record_equity: false, ..Default::default() }).unwrap();
    let reference =
        backtest(bot, c, &BacktestOptions { mode: Mode::Reference, record_equity: true, ..Default::default() })
            .unwrap();
    assert_eq!(fast.metrics, reference.metrics);
    reference
}

/// One take profit, a cooldown candle, a second deal left open.
///
/// Deal 1 buys 1 at 100 (candle 0), TP 110 fills in candle 3 (P&L 10).
/// Cooldown 1 h: candle 4 idle. Deal 2 buys 100/111 -> 0.9009 at 111
/// (cost 99.9999) in candle 5; candle 6 closes at 100.
/// Equity at closes: 100, 90, 95, 110, 110, 110, 110 + 90.09 - 99.9999 = 100.0901.
#[test]
fn take_profit_drawdown_and_open_deal() {
    let bot = bot(r#""take_profit": {"percent": "10"}, "cooldown_secs": 3600"#, r#"{"maker": "0", "taker": "0"}"#);
    let c = candles(&[
        (dec!(100), dec!(100), dec!(100), dec!(100)),
        (dec!(100), dec!(102), dec!(80), dec!(90)),
        (dec!(90), dec!(95), dec!(85), dec!(95)),
        (dec!(95), dec!(112), dec!(95), dec!(111)),
        (dec!(111), dec!(111), dec!(111), dec!(111)),
        (dec!(111), dec!(111), dec!(111), dec!(111)),
        (dec!(111), dec!(111), dec!(100), dec!(100)),
    ]);
    let r = both(&bot, &c);
    let m = &r.metrics;
    assert_eq!(r.equity, vec![dec!(100), dec!(90), dec!(95), dec!(110), dec!(110), dec!(110), dec!(100.0901)]);
    assert_eq!(m.closed_deals, 1);
    assert_eq!(m.take_profit_exits, 1);
    assert_eq!(m.realized_pnl, dec!(10));
    assert_eq!(m.fees, dec!(0));
    assert_eq!(m.win_rate_pct, Some(dec!(100)));
    assert_eq!(m.profit_factor, None, "no losing deal");
    // Opened at 0 h, closed inside candle 3: its last millisecond, 4 h - 1 ms.
    assert_eq!(m.avg_deal_duration_secs, Some(dec!(14400)));
    assert_eq!(m.max_deal_duration_secs, Some(14400));
    assert_eq!(m.max_safety_orders_used, 0);
    assert_eq!(m.max_deal_cost, dec!(100));
    assert_eq!(m.funds_required, dec!(100));
    assert_eq!(m.initial_capital, dec!(100));
    assert_eq!(m.return_on_funds_pct, Some(dec!(10)));
    assert_eq!(m.final_equity, dec!(100.0901));
    // Peak 100 -> 90 (10, 10 %), later peak 110 -> 100.0901 (9.9099, 9.009 %).
    assert_eq!(m.max_drawdown, dec!(10));
    assert_eq!(m.max_drawdown_pct, dec!(10));
    // Worst open P&L at a candle's low: candle 1, 80 - 100.
    assert_eq!(m.max_unrealized_loss, dec!(20));
    // Deal open in candles 0-3 and 5-6: 6 of 7.
    assert_eq!(m.time_in_deal_pct, dec!(85.7143));
    // Returns 0, -0.1, 95/90-1, 110/95-1, 0, 0, 100.0901/110-1; hourly: sqrt(8766).
    assert!((m.sharpe.unwrap() - 3.5662864859673937).abs() < 1e-9, "{:?}", m.sharpe);
    assert!((m.sortino.unwrap() - 6.1418094351300505).abs() < 1e-9, "{:?}", m.sortino);
    let open = r.open_deal.unwrap();
    assert_eq!((open.number, open.start_index, open.quantity), (2, 5, dec!(0.9009)));
    assert_eq!(open.unrealized_pnl, dec!(-9.9099));
    assert_eq!(r.deals[0].deal.exit, ExitKind::TakeProfit);
    assert_eq!((r.deals[0].start_index, r.deals[0].end_index), (0, 3));
}

/// A win and a stop loss, with fees.
///
/// Deal 1: buy 1 at 100 (taker 0.2), TP 110 (maker 0.11): +9.69.
/// Deal 2: buy 0.9009 at 111 (99.9999, taker 0.1999998); stop 111 * 0.9 = 99.9
/// touched: sell 0.9009 at 99.9 = 89.99991 (taker 0.17999982): -10.37998962.
#[test]
fn stop_loss_fees_win_rate_profit_factor() {
    let bot = bot(
        r#""take_profit": {"percent": "10"}, "stop_loss": {"percent": "10"}"#,
        r#"{"maker": "0.001", "taker": "0.002"}"#,
    );
    let c = candles(&[
        (dec!(100), dec!(100), dec!(100), dec!(100)),
        (dec!(100), dec!(111), dec!(100), dec!(111)),
        (dec!(111), dec!(111), dec!(99), dec!(99.5)),
        (dec!(99.5), dec!(99.5), dec!(99.5), dec!(99.5)),
    ]);
    let r = both(&bot, &c);
    let m = &r.metrics;
    assert_eq!(r.deals.len(), 2);
    assert_eq!(r.deals[0].deal.pnl, dec!(9.69));
    assert_eq!(r.deals[1].deal.pnl, dec!(-10.37998962));
    assert_eq!(r.deals[1].deal.exit, ExitKind::StopLoss);
    assert_eq!(r.deals[1].deal.exit_price, Some(dec!(99.9)));
    assert_eq!((m.take_profit_exits, m.stop_loss_exits), (1, 1));
    assert_eq!(m.realized_pnl, dec!(-0.68998962));
    assert_eq!(m.fees, dec!(0.68999962));
    assert_eq!(m.win_rate_pct, Some(dec!(50)));
    assert_eq!(m.profit_factor, Some((dec!(9.69) / dec!(10.37998962)).round_dp(6)));
    assert_eq!(m.profit_factor, Some(dec!(0.933527)));
    // A third deal opens at candle 3's open.
    assert_eq!(r.open_deal.as_ref().map(|d| d.start_index), Some(3));
}

/// Fees in base: the position holds q (1 - fee); the remainder below the
/// step is dust, never silently lost.
#[test]
fn base_asset_fees_and_dust() {
    let bot = bot(r#""take_profit": {"percent": "10"}"#, r#"{"maker": "0.001", "taker": "0.001", "asset": "base"}"#);
    let c = candles(&[(dec!(100), dec!(100), dec!(100), dec!(100)), (dec!(100), dec!(111), dec!(100), dec!(111))]);
    let r = both(&bot, &c);
    // Buy 1 at 100, 0.001 withheld: hold 0.999; sell 0.999 at 110 (fee 0.10989 quote).
    let d = &r.deals[0];
    assert_eq!(d.deal.fees_base, dec!(0.001));
    assert_eq!(d.deal.fees_quote, dec!(0.10989));
    assert_eq!(d.deal.pnl, dec!(109.89) - dec!(100) - dec!(0.10989));
    assert_eq!(d.deal.dust, dec!(0));
    assert_eq!(r.metrics.fees_base, dec!(0.001));
}

/// Issue 15 item 11: one closed-deal type. A backtest's deal record is the
/// engine's `DealReport` (same names as a runner reports) plus the candle
/// span, serialized flat.
#[test]
fn backtest_deals_are_engine_deal_reports_plus_their_candles() {
    let bot = BotFile::example().unwrap();
    let csv = "time,open,high,low,close\n0,100,100,100,100\n60000,100,103,100,102\n";
    let r = backtest(&bot, &Candles::from_csv(csv).unwrap(), &BacktestOptions::default()).unwrap();
    let d = &r.deals[0];
    let record = serde_json::to_value(d).unwrap();
    let report = serde_json::to_value(&d.deal).unwrap();
    let mut keys: Vec<_> = report.as_object().unwrap().keys().cloned().collect();
    keys.extend(["start_index".to_string(), "end_index".to_string()]);
    let mut got: Vec<_> = record.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    got.sort();
    assert_eq!(got, keys);
    assert_eq!(record["fees_quote"], report["fees_quote"]);
    let back: martingale_core::backtest::DealRecord = serde_json::from_value(record).unwrap();
    assert_eq!(&back, d);
}
