//! Property tests of the engine driven through the simulated exchange, and
//! of the engine fed arbitrary events. Each property runs at least 1,000
//! cases (`PROPTEST_CASES` raises it). The generated bots include the SPEC
//! section 10 time limit, stop-loss extras and limit base order.

use martingale_core::backtest::{Driver, Recorded};
use martingale_core::config::{BotFile, FillModel, LimitFill, PathModel};
use martingale_core::engine::{
    Action, BotId, Candle, ClientOrderId, Command, Engine, EngineError, Event, OrderKind, OrderUpdate, PhaseKind,
};
use martingale_core::fees::FeeCharge;
use martingale_core::ladder::plan_scaled;
use martingale_core::{OrderSide, Side};
use proptest::prelude::*;
use rust_decimal::Decimal;

const HOUR: i64 = 3_600_000;

fn cases() -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    ProptestConfig { cases: n.max(1000), failure_persistence: None, ..ProptestConfig::default() }
}

fn d(x: i64, scale: u32) -> Decimal {
    Decimal::new(x, scale)
}

/// A random but valid bot file.
fn bot_file() -> impl Strategy<Value = BotFile> {
    (
        (any::<bool>(), 0u32..6, 5i64..50, 8i64..15, 10i64..20, 0usize..3),
        (3i64..30, any::<bool>(), prop::option::of(2i64..20), prop::option::of((5i64..30, any::<bool>(), 0u8..4))),
        (any::<bool>(), 0u64..3, 0i64..60, 0usize..3, any::<bool>(), prop::option::of(0u64..3)),
        prop::option::of((0u64..6, prop::option::of(-20i64..20))),
        prop::option::of((0i64..10, prop::option::of(1u64..4))),
    )
        .prop_map(|(a, b, c, time_limit, limit_entry)| {
            let (short, n, dev, step_scale, vol_scale, anchor) = a;
            let (tp, tp_on_base, trailing, stop) = b;
            let (base_fees, cooldown_h, reinvest, path, touch, timeout_h) = c;
            let side = if short { "short" } else { "long" };
            let anchor = ["base", "previous", "average"][anchor];
            let tp_base = if tp_on_base { "base_order" } else { "average" };
            let mut s = format!(
                r#""side": "{side}", "base_order": {{"quote": "100"}}, "safety_order": {{"quote": "150"}},
                   "max_safety_orders": {n}, "price_deviation": "{}", "step_scale": "{}", "volume_scale": "{}",
                   "safety_anchor": "{anchor}", "take_profit": {{"percent": "{}", "base": "{tp_base}"}},
                   "cooldown_secs": {}, "reinvest_percent": "{reinvest}""#,
                d(dev, 1),
                d(step_scale, 1),
                d(vol_scale, 1),
                d(tp, 1),
                cooldown_h * 3600
            );
            if let Some(t) = trailing {
                s += &format!(r#", "trailing_take_profit": "{}""#, d(t, 1));
            }
            // SPEC section 10 time limit: hours, with or without a minimum.
            if let Some((h, min)) = time_limit {
                let min = min.map(|m| format!(r#", "min_profit_percent": "{}""#, d(m, 1))).unwrap_or_default();
                s += &format!(r#", "time_limit": {{"secs": {}{min}}}"#, h * 3600);
            }
            // SPEC section 10 limit base order: offset 0-0.9 %, timeout in hours.
            if let Some((off, timeout_h)) = limit_entry {
                s += &format!(r#", "base_order_type": "limit", "entry_offset_percent": "{}""#, d(off, 1));
                if let Some(h) = timeout_h {
                    s += &format!(r#", "entry_timeout_secs": {}"#, h * 3600);
                }
            }
            if let Some((pct, on_base, extras)) = stop {
                // A base-order stop must lie beyond the ladder: put it past 60 %.
                let (pct, base) = if on_base { (pct + 60, "base_order") } else { (pct, "average") };
                // SPEC section 10 extras: trailing, close_and_stop, both.
                let trailing = extras & 1 == 1;
                let action = if extras & 2 == 2 { "close_and_stop" } else { "close" };
                s += &format!(
                    r#", "stop_loss": {{"percent": "{pct}", "base": "{base}", "trailing": {trailing}, "action": "{action}"}}"#
                );
                if let Some(h) = timeout_h {
                    s += &format!(r#", "stop_loss_timeout_secs": {}"#, h * 3600);
                }
            }
            let asset = if base_fees && !short { "base" } else { "quote" };
            let path = ["adaptive", "ohlc", "olhc"][path];
            let fill = if touch { "touch" } else { "cross" };
            let json = format!(
                r#"{{"strategy": {{{s}}},
                    "market": {{"tick_size": "0.01", "step_size": "0.0001", "min_qty": "0.0001", "min_notional": "1"}},
                    "fees": {{"maker": "0.001", "taker": "0.002", "asset": "{asset}"}},
                    "fill": {{"path": "{path}", "limit_fill": "{fill}", "slippage_bps": "5"}}}}"#
            );
            BotFile::from_json(&json).unwrap_or_else(|e| panic!("generated an invalid bot: {e}\n{json}"))
        })
}

/// A random walk of hourly candles around 100.
fn candles() -> impl Strategy<Value = Vec<Candle>> {
    prop::collection::vec((-300i64..300, 0i64..200, 0i64..200, -200i64..200), 5..60).prop_map(|steps| {
        let mut out = Vec::new();
        let mut close = Decimal::new(10_000, 2);
        for (i, (drift, up, down, body)) in steps.into_iter().enumerate() {
            let open = close;
            let c = (open + Decimal::new(drift + body, 2)).max(Decimal::new(2000, 2));
            let high = open.max(c) + Decimal::new(up, 2);
            let low = (open.min(c) - Decimal::new(down, 2)).max(Decimal::new(1000, 2));
            out.push(Candle { time: i as i64 * HOUR, open, high, low, close: c });
            close = c;
        }
        out
    })
}

struct Run {
    engine: Engine,
    recorded: Recorded,
}

/// Drives `file` over `candles`, calling `check` after every candle.
fn drive(file: &BotFile, candles: &[Candle], mut check: impl FnMut(&Engine, &Recorded, &Candle)) -> Run {
    let mut engine = Engine::new(BotId::new("p").unwrap(), file).unwrap();
    engine.handle(Event::Command { time: -1, command: Command::Start }).unwrap();
    let mut driver = Driver::new(&mut engine, file.fill, HOUR).record_orders(true);
    let mut prev = None;
    for (i, c) in candles.iter().enumerate() {
        driver.candle(i, c, prev).unwrap();
        check(driver.engine(), &driver.recorded, c);
        prev = Some(c.close);
    }
    let recorded = driver.recorded.clone();
    Run { engine, recorded }
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn average_between_lowest_and_highest_fill(file in bot_file(), candles in candles()) {
        drive(&file, &candles, |e, _, _| {
            if let Some(deal) = e.deal() {
                if let (Some(avg), Some((lo, hi))) = (deal.position.average_price(), deal.position.entry_price_range()) {
                    assert!(lo <= avg && avg <= hi, "average {avg} outside [{lo}, {hi}]");
                }
            }
        });
    }

    #[test]
    fn quantity_is_fills_minus_exits_and_fees(file in bot_file(), candles in candles()) {
        drive(&file, &candles, |e, rec, _| {
            let Some(deal) = e.deal() else { return };
            let entry = file.strategy.side.entry();
            let mut qty = Decimal::ZERO;
            for f in rec.fills.iter().filter(|f| f.deal == deal.number) {
                let base_fee = match f.fee { FeeCharge::Base(b) => b, FeeCharge::Quote(_) => Decimal::ZERO };
                qty += if f.side == entry { f.quantity - base_fee } else { -f.quantity };
            }
            assert_eq!(deal.position.open_qty(), qty);
        });
    }

    #[test]
    fn no_order_violates_the_market_rules(file in bot_file(), candles in candles()) {
        let run = drive(&file, &candles, |_, _, _| {});
        for o in &run.recorded.orders {
            let price = match o.kind {
                OrderKind::Limit { price } => price,
                OrderKind::Market { reference_price } => file.market.round_price(reference_price, martingale_core::market::Rounding::Down),
            };
            prop_assert!(file.market.validate_order(price, o.quantity).is_ok(), "{o:?} breaks the rules");
        }
    }

    #[test]
    fn committed_funds_never_exceed_funds_required(file in bot_file(), candles in candles()) {
        drive(&file, &candles, |e, _, _| {
            let Some(deal) = e.deal() else { return };
            let Some(p0) = deal.entry_price else { return };
            let required = plan_scaled(&file.strategy, &file.market, p0, deal.scale).unwrap().funds_required;
            assert!(deal.position.entry_value() <= required, "{} > {required}", deal.position.entry_value());
        });
    }

    #[test]
    fn cash_plus_positions_equals_capital_plus_pnl(file in bot_file(), candles in candles()) {
        let initial = Decimal::new(100_000, 0);
        drive(&file, &candles, |e, rec, c| {
            let mut cash = initial;
            let mut held = Decimal::ZERO; // base held (negative: owed)
            for f in &rec.fills {
                let value = f.price * f.quantity;
                let (quote_fee, base_fee) = match f.fee {
                    FeeCharge::Quote(q) => (q, Decimal::ZERO),
                    FeeCharge::Base(b) => (Decimal::ZERO, b),
                };
                match f.side {
                    OrderSide::Buy => { cash -= value + quote_fee; held += f.quantity - base_fee; }
                    OrderSide::Sell => { cash += value - quote_fee; held -= f.quantity; }
                }
            }
            let mark = c.close;
            let dust = e.totals().dust;
            let open = e.deal().map_or(Decimal::ZERO, |d| d.position.open_qty());
            let signed_open = if file.strategy.side == Side::Long { open } else { -open };
            assert_eq!(held, signed_open + dust);
            assert_eq!(cash + held * mark, initial + e.totals().realized_pnl + e.unrealized_pnl(mark) + dust * mark);
        });
    }

    #[test]
    fn snapshot_restore_is_identity_and_replay_is_deterministic(file in bot_file(), candles in candles(), cut in 0usize..60) {
        let full = drive(&file, &candles, |e, _, _| {
            let restored = Engine::from_json(&e.to_json()).unwrap();
            assert_eq!(&restored, e);
        });
        // The same events give the same fills, deals and orders.
        let again = drive(&file, &candles, |_, _, _| {});
        prop_assert_eq!(&again.recorded, &full.recorded);
        prop_assert_eq!(&again.engine, &full.engine);
        // Stopping at `cut`, restoring from JSON and continuing gives the
        // same final state as never stopping.
        let cut = cut.min(candles.len());
        let first = drive(&file, &candles[..cut], |_, _, _| {});
        let mut engine = Engine::from_json(&first.engine.to_json()).unwrap();
        if cut < candles.len() {
            // The simulated book is rebuilt from the engine's live orders.
            let mut driver = Driver::new(&mut engine, file.fill, HOUR);
            let mut prev = cut.checked_sub(1).map(|i| candles[i].close);
            for (i, c) in candles.iter().enumerate().skip(cut) {
                driver.candle(i, c, prev).unwrap();
                prev = Some(c.close);
            }
            let mut fills = first.recorded.fills.clone();
            fills.extend(driver.recorded.fills.iter().cloned());
            prop_assert_eq!(&fills, &full.recorded.fills);
            prop_assert_eq!(driver.engine(), &full.engine);
        }
    }
}

/// One arbitrary input for the fuzz property.
#[derive(Debug, Clone)]
enum Op {
    Tick(i64),
    Fill { order: usize, frac: u8, price: i64, dup: bool },
    Cancel(usize),
    Reject(usize),
    Accept(usize),
    Unknown,
    Cmd(u8),
    Back,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1i64..40_000).prop_map(Op::Tick),
        4 => (0usize..16, 0u8..=4, -10i64..40_000, any::<bool>()).prop_map(|(order, frac, price, dup)| Op::Fill { order, frac, price, dup }),
        1 => (0usize..16).prop_map(Op::Cancel),
        1 => (0usize..16).prop_map(Op::Reject),
        1 => (0usize..16).prop_map(Op::Accept),
        1 => Just(Op::Unknown),
        1 => (0u8..7).prop_map(Op::Cmd),
        1 => Just(Op::Back),
        1 => Just(Op::Tick(i64::MAX)),
    ]
}

proptest! {
    #![proptest_config(cases())]

    /// Arbitrary events never panic; a refused event changes nothing.
    #[test]
    fn arbitrary_events_never_panic(file in bot_file(), ops in prop::collection::vec(op(), 1..80)) {
        let mut e = Engine::new(BotId::new("fz").unwrap(), &file).unwrap();
        let mut sent: Vec<(ClientOrderId, Decimal)> = Vec::new();
        let mut time = 0i64;
        for op in ops {
            time += 1000;
            let id = |i: usize| sent.get(i % sent.len().max(1)).cloned();
            let event = match op {
                Op::Tick(i64::MAX) => Event::Tick { time, price: Decimal::MAX },
                Op::Tick(p) => Event::Tick { time, price: Decimal::new(p, 2) },
                Op::Fill { order, frac, price, dup } => {
                    let Some((id, qty)) = id(order) else { continue };
                    let cum = qty * Decimal::from(frac) / Decimal::from(4) + if dup { Decimal::ZERO } else { Decimal::new(1, 4) };
                    Event::Order { time, update: OrderUpdate::Fill { client_order_id: id, cumulative_qty: cum, price: Decimal::new(price, 2), fee: None } }
                }
                Op::Cancel(i) => { let Some((id, _)) = id(i) else { continue }; Event::Order { time, update: OrderUpdate::Canceled { client_order_id: id } } }
                Op::Reject(i) => { let Some((id, _)) = id(i) else { continue }; Event::Order { time, update: OrderUpdate::Rejected { client_order_id: id, reason: "x".into() } } }
                Op::Accept(i) => { let Some((id, _)) = id(i) else { continue }; Event::Order { time, update: OrderUpdate::Accepted { client_order_id: id } } }
                Op::Unknown => Event::Order { time, update: OrderUpdate::Expired { client_order_id: ClientOrderId::from_raw("zz") } },
                Op::Cmd(c) => Event::Command { time, command: match c {
                    0 => Command::Start, 1 => Command::Pause, 2 => Command::Resume,
                    3 => Command::Stop { cancel_orders: true }, 4 => Command::Stop { cancel_orders: false },
                    5 => Command::CloseNow,
                    _ => Command::AddFunds { size: martingale_core::config::OrderSize::Quote(Decimal::from(50)) },
                } },
                Op::Back => Event::Tick { time: time - 10_000, price: Decimal::ONE },
            };
            let before = e.clone();
            match e.handle(event) {
                Ok(out) => {
                    for a in out.actions {
                        if let Action::Place(o) = a {
                            prop_assert!(!sent.iter().any(|(id, _)| *id == o.client_order_id), "client order id reused");
                            sent.push((o.client_order_id, o.quantity));
                        }
                    }
                    // Money invariants hold whatever happened.
                    if let Some(deal) = e.deal() {
                        prop_assert!(deal.position.entry_qty() >= Decimal::ZERO);
                    }
                }
                Err(err) => {
                    prop_assert_eq!(&e, &before, "refused event {:?} changed the state", err);
                    let _ = matches!(err, EngineError::InvalidTransition { .. });
                }
            }
            let _ = e.phase().kind() == PhaseKind::Idle;
        }
    }
}

/// The generators reach every exit kind and safety fills (guards against a
/// generator that silently tests nothing).
#[test]
fn generators_cover_every_exit() {
    use martingale_core::engine::ExitKind;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = std::collections::HashSet::new();
    let mut safety_fills = 0;
    for _ in 0..400 {
        let file = bot_file().new_tree(&mut runner).unwrap().current();
        let candles = candles().new_tree(&mut runner).unwrap().current();
        let run = drive(&file, &candles, |_, _, _| {});
        seen.extend(run.recorded.deals.iter().map(|d| d.exit));
        safety_fills += run.recorded.deals.iter().map(|d| d.safety_orders_filled).sum::<u32>();
    }
    for kind in [ExitKind::TakeProfit, ExitKind::StopLoss, ExitKind::Trailing] {
        assert!(seen.contains(&kind), "no {kind:?} in 400 generated runs");
    }
    assert!(safety_fills > 100, "only {safety_fills} safety fills");
}

#[test]
fn fill_model_defaults_are_spec_defaults() {
    let f = FillModel::default();
    assert_eq!((f.path, f.limit_fill), (PathModel::Adaptive, LimitFill::Cross));
}
