//! Property tests and fuzzing of the engine API (issue 14, "Tests that keep
//! it fixed"):
//! - an exchange that delivers its reports reordered, delayed and
//!   duplicated: the engine never offers more than it holds, its books
//!   never go short of a long (or over-cover a short), and deals close;
//! - hostile event sequences: no panic, every refusal an error that leaves
//!   the engine unchanged, every reachable state a valid snapshot;
//! - perturbed JSON of real snapshots: refused with an error, or restored
//!   into an engine that then survives hostile events.
//!
//! The first two also run with the SPEC section 10 options
//! ([`EXIT_OPTIONS`], a limit entry with a timeout among them): no safety order is placed once a take-profit step
//! has filled, step orders never offer more than the deal holds, and a deal
//! its steps closed leaves nothing sellable.
//!
//! Case counts are bounded so the three run in well under 30 s in release.

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;
use crate::config::OrderSize;
use crate::fees::FeeCharge;
use crate::pnl::ExitKind;
use crate::{OrderSide, Side};

/// The SPEC section 10 exit options the property tests also run with:
/// none; take-profit steps with a trailing break-even stop; three steps
/// (the first merged: 3 % of the base order is below the minimum
/// notional) with the last one trailing and a time limit.
const EXIT_OPTIONS: [&str; 4] = [
    r#""take_profit": {"percent": "1"}"#,
    r#""take_profit": {"steps": [{"percent": "1", "close": "40"}, {"percent": "2", "close": "60"}]},
        "stop_loss": {"percent": "20", "trailing": true, "breakeven_after_step": 1}"#,
    r#""take_profit": {"steps": [{"percent": "0.5", "close": "3"}, {"percent": "1", "close": "37"},
        {"percent": "2", "close": "60"}]}, "trailing_take_profit": "0.5",
        "time_limit": {"secs": 30, "min_profit_percent": "-1"}"#,
    r#""take_profit": {"percent": "1"}, "base_order_type": "limit", "entry_offset_percent": "0.5",
        "entry_timeout_secs": 5, "stop_loss": {"percent": "15"}"#,
];

fn bot_for(side: Side, active: u32) -> BotFile {
    bot_with(side, active, EXIT_OPTIONS[0])
}

fn bot_with(side: Side, active: u32, exits: &str) -> BotFile {
    let side = match side {
        Side::Long => "long",
        Side::Short => "short",
    };
    BotFile::from_json(&format!(
        r#"{{"strategy": {{"side": "{side}", "base_order": {{"quote": "100"}}, "safety_order": {{"quote": "200"}},
            "max_safety_orders": 3, "price_deviation": "2", {exits},
            "max_active_safety_orders": {active}, "max_deals": 1}},
            "market": {{"tick_size": "0.01", "step_size": "0.001", "min_notional": "5"}},
            "fees": {{"maker": "0.001", "taker": "0.002"}}}}"#
    ))
    .unwrap()
}

// ----- an exchange that reorders, delays and duplicates its reports --------

struct XOrder {
    id: ClientOrderId,
    side: OrderSide,
    limit: Option<Decimal>,
    qty: Decimal,
    filled: Decimal,
    open: bool,
}

/// A spot exchange: it never sells what the account does not hold (a long)
/// nor buys back more than is owed (a short): such fills are capped.
struct Exchange {
    entry: OrderSide,
    orders: Vec<XOrder>,
    held: Decimal,
    price: Decimal,
    actions: Vec<Action>,
    reports: Vec<OrderUpdate>,
}

impl Exchange {
    fn fill(&mut self, i: usize, price: Decimal, frac: u8) {
        let o = &mut self.orders[i];
        let remaining = o.qty - o.filled;
        let mut q = (remaining * Decimal::from(frac) / dec!(4)).round_dp(3);
        if q.is_zero() {
            q = remaining;
        }
        let exit = o.side != self.entry;
        if exit {
            q = q.min(self.held);
        }
        if q <= Decimal::ZERO {
            return;
        }
        o.filled += q;
        self.held += if exit { -q } else { q };
        self.reports.push(OrderUpdate::Fill {
            client_order_id: o.id.clone(),
            cumulative_qty: o.filled,
            price,
            fee: None,
        });
        if o.filled == o.qty {
            o.open = false;
        }
    }

    fn execute(&mut self, n: usize) {
        for action in self.actions.drain(..n.min(self.actions.len())).collect::<Vec<_>>() {
            match action {
                Action::Place(o) => {
                    let limit = match o.kind {
                        OrderKind::Limit { price } => Some(price),
                        OrderKind::Market { .. } => None,
                    };
                    self.orders.push(XOrder {
                        id: o.client_order_id.clone(),
                        side: o.side,
                        limit,
                        qty: o.quantity,
                        filled: Decimal::ZERO,
                        open: true,
                    });
                    let i = self.orders.len() - 1;
                    if limit.is_some() {
                        self.reports.push(OrderUpdate::Accepted { client_order_id: o.client_order_id });
                    } else {
                        // Market: fills now (capped), the rest expires.
                        self.fill(i, self.price, 4);
                        if self.orders[i].open {
                            self.orders[i].open = false;
                            self.reports.push(OrderUpdate::Expired { client_order_id: o.client_order_id });
                        }
                    }
                }
                Action::Cancel { client_order_id } => {
                    if let Some(o) = self.orders.iter_mut().find(|o| o.id == client_order_id && o.open) {
                        o.open = false;
                        self.reports.push(OrderUpdate::Canceled { client_order_id });
                    }
                }
            }
        }
    }

    fn move_to(&mut self, price: Decimal, frac: u8) {
        self.price = price;
        for i in 0..self.orders.len() {
            let o = &self.orders[i];
            let Some(limit) = o.limit.filter(|_| o.open) else { continue };
            let crosses = match o.side {
                OrderSide::Buy => price <= limit,
                OrderSide::Sell => price >= limit,
            };
            if crosses {
                self.fill(i, limit, frac);
            }
        }
    }
}

#[derive(Debug, Clone)]
enum XOp {
    Move(Decimal, u8),
    Execute(usize),
    Deliver(usize, bool),
}

fn x_op() -> impl Strategy<Value = XOp> {
    let prices = prop::sample::select(vec![
        dec!(93),
        dec!(94),
        dec!(95.5),
        dec!(96),
        dec!(97),
        dec!(98),
        dec!(99),
        dec!(100),
        dec!(101),
        dec!(102),
        dec!(103),
        dec!(104),
        dec!(106),
        dec!(107),
    ]);
    prop_oneof![
        3 => (prices, 1u8..=4).prop_map(|(p, f)| XOp::Move(p, f)),
        3 => (1usize..4).prop_map(XOp::Execute),
        5 => (0usize..64, prop::bool::weighted(0.15)).prop_map(|(k, dup)| XOp::Deliver(k, dup)),
    ]
}

/// What a deal offers to sell (a long) or buy back (a short) with orders
/// that are not being canceled.
fn offered(deal: &Deal) -> Decimal {
    deal.orders
        .iter()
        .filter(|o| matches!(o.state, OrderState::Sent | OrderState::Open) && !o.request.role.is_entry())
        .map(|o| o.request.quantity - o.filled)
        .sum()
}

fn feed(
    e: &mut Engine,
    x: &mut Exchange,
    time: &mut TimeMs,
    make: impl FnOnce(TimeMs) -> Event,
) -> Result<(), TestCaseError> {
    *time += 1;
    let event = make(*time);
    let steps_started = e.deal().is_some_and(Deal::steps_started);
    let out = e.handle(event.clone()).map_err(|err| TestCaseError::fail(format!("{event:?} refused: {err}")))?;
    // No safety order once a take-profit step has filled.
    let safety = out.actions.iter().any(|a| matches!(a, Action::Place(o) if matches!(o.role, OrderRole::Safety(_))));
    prop_assert!(!(steps_started && safety), "a safety order after the first step filled: {event:?}");
    // A deal closed by its take profit (steps) leaves nothing sellable.
    for report in out.closed.iter().filter(|r| r.exit == ExitKind::TakeProfit) {
        let rest = e.rules().round_qty(report.dust);
        let price = report.exit_price.unwrap_or(Decimal::ONE);
        prop_assert!(e.rules().validate_order(price, rest).is_err(), "{rest} sellable left by {report:?}");
    }
    x.actions.extend(out.actions);
    if let Some(deal) = e.deal() {
        let open = deal.position.open_qty();
        // Never offers more than its books hold.
        prop_assert!(
            offered(deal) <= open.max(Decimal::ZERO),
            "offers {} holding {open} after {event:?}",
            offered(deal)
        );
        // Once it knows every entry fill, its books hold what the account
        // holds or more (exit reports may still be on the way): never short
        // of a long, never over-covering a short. (Before that, a fill of
        // an order whose cancel was in flight can show past flat until the
        // entry reports arrive: the exchange knew more than the engine.)
        let entered: Decimal = x.orders.iter().filter(|o| o.side == x.entry).map(|o| o.filled).sum();
        if deal.position.entry_qty() == entered {
            prop_assert!(open >= Decimal::ZERO, "the deal's books went past flat: {open} after {event:?}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Item 5: reports reordered, delayed and duplicated never make the
    /// engine sell more than it holds, and the deal still closes.
    #[test]
    fn reordered_reports_never_oversell_and_deals_close(
        short in any::<bool>(),
        active in 1u32..=3,
        exits in 0usize..EXIT_OPTIONS.len(),
        ops in prop::collection::vec(x_op(), 1..120),
    ) {
        let side = if short { Side::Short } else { Side::Long };
        let mut e = Engine::new(BotId::new("px").unwrap(), &bot_with(side, active, EXIT_OPTIONS[exits])).unwrap();
        let mut x = Exchange { entry: side.entry(), orders: vec![], held: Decimal::ZERO, price: dec!(100),
            actions: vec![], reports: vec![] };
        let mut time: TimeMs = 0;
        feed(&mut e, &mut x, &mut time, |time| Event::Command { time, command: Command::Start })?;
        feed(&mut e, &mut x, &mut time, |time| Event::Tick { time, price: dec!(100) })?;
        for op in ops {
            match op {
                XOp::Move(p, f) => {
                    x.move_to(p, f);
                    feed(&mut e, &mut x, &mut time, |time| Event::Tick { time, price: p })?;
                }
                XOp::Execute(n) => x.execute(n),
                XOp::Deliver(k, dup) => {
                    if x.reports.is_empty() {
                        continue;
                    }
                    let i = k % x.reports.len();
                    let update = if dup { x.reports[i].clone() } else { x.reports.remove(i) };
                    feed(&mut e, &mut x, &mut time, |time| Event::Order { time, update })?;
                }
            }
            prop_assert!(x.held >= Decimal::ZERO);
        }
        // Drain: everything executed and delivered in order, the price
        // through the whole ladder and then beyond the take profit, until
        // nothing moves.
        let (through, beyond) = if short { (dec!(200), dec!(50)) } else { (dec!(50), dec!(200)) };
        for round in 0..40 {
            x.execute(usize::MAX);
            while !x.reports.is_empty() {
                let update = x.reports.remove(0);
                feed(&mut e, &mut x, &mut time, |time| Event::Order { time, update })?;
            }
            let target = if round % 2 == 0 { through } else { beyond };
            x.move_to(target, 4);
            feed(&mut e, &mut x, &mut time, |time| Event::Tick { time, price: target })?;
            if x.actions.is_empty() && x.reports.is_empty() && e.phase().kind() == PhaseKind::Idle {
                break;
            }
        }
        prop_assert_eq!(e.phase().kind(), PhaseKind::Idle, "the deal never closed: {:?}", e.deal());
        prop_assert_eq!(e.totals().closed_deals, 1);
        prop_assert!(x.held >= Decimal::ZERO);
    }
}

// ----- hostile events ----------------------------------------------------

fn hostile_decimal() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        4 => (1i64..20_000, 0u32..3).prop_map(|(m, s)| Decimal::new(m, s)),
        1 => Just(Decimal::MAX),
        1 => Just(Decimal::MIN),
        1 => Just(Decimal::ZERO),
        1 => Just(dec!(-1)),
        1 => Just(MAX_AMOUNT),
        1 => Just(MAX_AMOUNT + Decimal::ONE),
        1 => Just(Decimal::MAX / dec!(2)),
        1 => Just(Decimal::new(1, 28)),
        1 => any::<i64>().prop_map(|m| Decimal::new(m, 4)),
    ]
}

#[derive(Debug, Clone)]
enum HOp {
    Tick(Decimal),
    Candle(Decimal, Decimal, Decimal, Decimal),
    Fill { order: usize, cum: Decimal, frac: Option<u8>, price: Option<Decimal>, fee: Option<(bool, Decimal)> },
    Status(usize, u8),
    Foreign(u8),
    Command(u8, Decimal),
    Signal,
    Back,
}

fn h_op() -> impl Strategy<Value = HOp> {
    prop_oneof![
        4 => hostile_decimal().prop_map(HOp::Tick),
        1 => (hostile_decimal(), hostile_decimal(), hostile_decimal(), hostile_decimal())
            .prop_map(|(o, h, l, c)| HOp::Candle(o, h, l, c)),
        5 => (0usize..32, hostile_decimal(), prop::option::of(1u8..=4), prop::option::of(hostile_decimal()),
              prop::option::of((any::<bool>(), hostile_decimal())))
            .prop_map(|(order, cum, frac, price, fee)| HOp::Fill { order, cum, frac, price, fee }),
        3 => (0usize..32, 0u8..4).prop_map(|(i, s)| HOp::Status(i, s)),
        1 => (0u8..5).prop_map(HOp::Foreign),
        2 => (0u8..8, hostile_decimal()).prop_map(|(c, d)| HOp::Command(c, d)),
        1 => Just(HOp::Signal),
        1 => Just(HOp::Back),
    ]
}

fn hostile_event(op: HOp, time: TimeMs, sent: &[OrderRequest]) -> Option<Event> {
    let pick = |i: usize| sent.get(i % sent.len().max(1)).cloned();
    Some(match op {
        HOp::Tick(price) => Event::Tick { time, price },
        HOp::Candle(open, high, low, close) => Event::Candle(Candle { time, open, high, low, close }),
        HOp::Fill { order, cum, frac, price, fee } => {
            let o = pick(order)?;
            let limit = match o.kind {
                OrderKind::Limit { price } | OrderKind::Market { reference_price: price } => price,
            };
            let cumulative_qty = frac.map_or(cum, |f| (o.quantity * Decimal::from(f) / dec!(4)).round_dp(3));
            let fee = fee.map(|(quote, v)| if quote { FeeCharge::Quote(v) } else { FeeCharge::Base(v) });
            Event::Order {
                time,
                update: OrderUpdate::Fill {
                    client_order_id: o.client_order_id,
                    cumulative_qty,
                    price: price.unwrap_or(limit),
                    fee,
                },
            }
        }
        HOp::Status(i, s) => {
            let client_order_id = pick(i)?.client_order_id;
            let update = match s {
                0 => OrderUpdate::Accepted { client_order_id },
                1 => OrderUpdate::Canceled { client_order_id },
                2 => OrderUpdate::Expired { client_order_id },
                _ => OrderUpdate::Rejected { client_order_id, reason: "fuzz".into() },
            };
            Event::Order { time, update }
        }
        HOp::Foreign(k) => {
            let id = ["fz-1-s1-0", "fz-zzzzzz-1-tp-1", "other-1-b-0", "fz-0-1-b-0", ""][usize::from(k % 5)];
            Event::Order { time, update: OrderUpdate::Canceled { client_order_id: ClientOrderId::from_raw(id) } }
        }
        HOp::Command(c, d) => Event::Command {
            time,
            command: match c {
                0 => Command::Start,
                1 => Command::Pause,
                2 => Command::Resume,
                3 => Command::Stop { cancel_orders: true },
                4 => Command::Stop { cancel_orders: false },
                5 => Command::CloseNow,
                6 => Command::AddFunds { size: OrderSize::Quote(d) },
                _ => Command::AddFunds { size: OrderSize::Base(d) },
            },
        },
        HOp::Signal => Event::Signal { time },
        HOp::Back => Event::Tick { time: time - 5_000, price: dec!(100) },
    })
}

/// Drives `e` through hostile ops; refused events must change nothing.
fn run_hostile(e: &mut Engine, ops: Vec<HOp>, sent: &mut Vec<OrderRequest>) -> Result<(), TestCaseError> {
    if let Some(d) = e.deal() {
        sent.extend(d.orders.iter().map(|o| o.request.clone()));
    }
    let mut time = e.last_time.unwrap_or(0);
    for (k, op) in ops.into_iter().enumerate() {
        time = time.saturating_add(1_000);
        let Some(event) = hostile_event(op, time, sent) else { continue };
        let before = e.clone();
        match e.handle(event.clone()) {
            Ok(out) => {
                for a in out.actions {
                    if let Action::Place(o) = a {
                        sent.push(o);
                    }
                }
                if k % 4 == 0 {
                    // Every reachable state is a valid snapshot.
                    let restored = Engine::from_json(&e.to_json())
                        .map_err(|err| TestCaseError::fail(format!("own snapshot refused: {err}")))?;
                    prop_assert_eq!(&restored, &*e);
                }
            }
            Err(err) => {
                prop_assert_eq!(&*e, &before, "refused {:?} ({}) changed the engine", event, err);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    /// Hostile events: no panic, refusals change nothing.
    #[test]
    fn hostile_event_sequences_never_panic(
        short in any::<bool>(),
        generation in any::<bool>(),
        exits in 0usize..EXIT_OPTIONS.len(),
        ops in prop::collection::vec(h_op(), 1..80),
    ) {
        let side = if short { Side::Short } else { Side::Long };
        let (id, file) = (BotId::new("fz").unwrap(), bot_with(side, 3, EXIT_OPTIONS[exits]));
        let mut e = if generation { Engine::starting_at(id, &file, 0) } else { Engine::new(id, &file) }.unwrap();
        e.handle(Event::Command { time: 0, command: Command::Start }).unwrap();
        e.handle(Event::Tick { time: 1, price: dec!(100) }).unwrap();
        run_hostile(&mut e, ops, &mut Vec::new())?;
    }
}

// ----- perturbed snapshots --------------------------------------------

/// Real snapshots: idle, opening, open with fills, closing, after a deal.
fn real_snapshots() -> Vec<String> {
    let mut out = Vec::new();
    for (side, generation) in [(Side::Long, false), (Side::Short, true)] {
        let (id, file) = (BotId::new("sn").unwrap(), bot_for(side, 3));
        let mut e = if generation { Engine::starting_at(id, &file, 0) } else { Engine::new(id, &file) }.unwrap();
        out.push(e.to_json());
        e.handle(Event::Command { time: 0, command: Command::Start }).unwrap();
        let o = e.handle(Event::Tick { time: 1, price: dec!(100) }).unwrap();
        out.push(e.to_json());
        let Action::Place(base) = &o.actions[0] else { unreachable!() };
        let fill = |id: &ClientOrderId, q, p| OrderUpdate::Fill {
            client_order_id: id.clone(),
            cumulative_qty: q,
            price: p,
            fee: None,
        };
        let o =
            e.handle(Event::Order { time: 2, update: fill(&base.client_order_id, base.quantity, dec!(100)) }).unwrap();
        let Action::Place(so1) = &o.actions[0] else { unreachable!() };
        let p = match so1.kind {
            OrderKind::Limit { price } => price,
            OrderKind::Market { reference_price } => reference_price,
        };
        e.handle(Event::Order { time: 3, update: fill(&so1.client_order_id, so1.quantity, p) }).unwrap();
        out.push(e.to_json());
        e.handle(Event::Command { time: 4, command: Command::CloseNow }).unwrap();
        out.push(e.to_json());
    }
    out
}

fn leaves(v: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                path.push(k.clone());
                leaves(x, path, out);
                path.pop();
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(i.to_string());
                leaves(x, path, out);
                path.pop();
            }
        }
        _ => {}
    }
    out.push(path.clone());
}

fn at<'a>(v: &'a mut serde_json::Value, path: &[String]) -> Option<&'a mut serde_json::Value> {
    path.iter().try_fold(v, |v, k| match v {
        serde_json::Value::Object(m) => m.get_mut(k),
        serde_json::Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
        _ => None,
    })
}

fn hostile_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        Just(json!("-1")),
        Just(json!("0")),
        Just(json!("79228162514264337593543950335")),
        Just(json!("-79228162514264337593543950335")),
        Just(json!("0.0000000000000000000000000001")),
        Just(json!("10000000000001")),
        Just(json!(4294967295u64)),
        Just(json!(18446744073709551615u64)),
        Just(json!(-1)),
        Just(json!(0)),
        Just(json!(null)),
        Just(json!(true)),
        Just(json!("x")),
        Just(json!([])),
        Just(json!({})),
        (1i64..1_000_000, 0u32..8).prop_map(|(m, s)| json!(Decimal::new(m, s).to_string())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    /// Perturbed snapshots are refused with an error or restore into an
    /// engine that survives hostile events.
    #[test]
    fn perturbed_snapshots_never_panic(
        which in 0usize..8,
        edits in prop::collection::vec((any::<prop::sample::Index>(), hostile_json()), 1..4),
        ops in prop::collection::vec(h_op(), 0..30),
    ) {
        let snaps = real_snapshots();
        let mut v: serde_json::Value = serde_json::from_str(&snaps[which % snaps.len()]).unwrap();
        for (index, value) in edits {
            let mut paths = Vec::new();
            leaves(&v, &mut Vec::new(), &mut paths);
            let path = index.get(&paths).clone();
            if let Some(slot) = at(&mut v, &path) {
                *slot = value;
            }
        }
        if let Ok(mut e) = Engine::from_json(&v.to_string()) {
            run_hostile(&mut e, ops, &mut Vec::new())?;
        }
    }
}
