//! Shared funds (SPEC section 10): the bots of one account never commit
//! more than its balance.

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;
use crate::engine::{Action, OrderKind, OrderRequest, OrderUpdate, PhaseKind};

/// A zero-fee bot (the balance then moves by exactly what the needs do).
fn bot(anchor: &str) -> BotFile {
    let json = format!(
        r#"{{"strategy": {{"base_order": {{"quote": "100"}}, "safety_order": {{"quote": "200"}},
            "max_safety_orders": 3, "price_deviation": "2", "safety_anchor": "{anchor}",
            "take_profit": {{"percent": "1"}} }},
            "market": {{"symbol": "BTCUSDT", "tick_size": "0.01", "step_size": "0.001", "min_notional": "5"}},
            "fees": {{"maker": "0", "taker": "0"}}}}"#
    );
    BotFile::from_json(&json).unwrap()
}

fn key(a: &str, b: &str) -> EngineKey {
    EngineKey::parse(a, b).unwrap()
}

fn fleet_of(bots: &[(&str, &str, &str)]) -> Fleet {
    let mut fleet = Fleet::new();
    for (account, id, anchor) in bots {
        let k = key(account, id);
        fleet.insert(k.clone(), &bot(anchor)).unwrap();
        fleet.command(&k, 0, Command::Start).unwrap();
    }
    fleet
}

/// The ladder at 100: base 1 (100), safety 2.040 at 98 (199.92), 2.083 at
/// 96 (199.968), 2.127 at 94 (199.938): 699.826 in all.
const LADDER_AT_100: Decimal = dec!(699.826);

#[test]
fn a_deal_waits_for_funds_and_says_why() {
    let mut fleet = fleet_of(&[("alice", "a", "base"), ("alice", "b", "base"), ("bob", "c", "base")]);
    let alice = AccountId::new("alice").unwrap();
    fleet.set_funds(&alice, Some(dec!(1000)));
    let out = fleet.tick("BTCUSDT", 1, dec!(100));
    // alice/a starts; alice/b would need another 699.826 of 300.174 free;
    // bob has no limit.
    let started: Vec<String> = out.actions.iter().map(|t| t.key.to_string()).collect();
    assert_eq!(started, ["alice/a", "bob/c"]);
    assert_eq!(fleet.committed(&alice), LADDER_AT_100);
    let wait = fleet.waiting(&key("alice", "b")).unwrap();
    assert_eq!((wait.needed, wait.free), (LADDER_AT_100, dec!(1000) - LADDER_AT_100));
    assert!(wait.to_string().contains("waiting for funds"), "{wait}");
    assert_eq!(fleet.get(&key("alice", "b")).unwrap().phase().kind(), PhaseKind::Idle);
    // More funds: it starts at the next tick and no longer waits.
    fleet.set_funds(&alice, Some(dec!(1400)));
    let out = fleet.tick("BTCUSDT", 2, dec!(100));
    assert_eq!(out.actions.iter().filter(|t| t.key == key("alice", "b")).count(), 1);
    assert_eq!(fleet.waiting(&key("alice", "b")), None);
    assert_eq!(fleet.committed(&alice), LADDER_AT_100 * dec!(2));
}

/// A closed deal frees its funds: once alice/a's deal is over (and a is
/// paused), alice/b starts at the next tick.
#[test]
fn a_closed_deal_frees_its_funds() {
    use crate::engine::Event;
    let mut fleet = fleet_of(&[("alice", "a", "base"), ("alice", "b", "base")]);
    let alice = AccountId::new("alice").unwrap();
    let mut balance = dec!(1000);
    fleet.set_funds(&alice, Some(balance));
    let out = fleet.tick("BTCUSDT", 1, dec!(100));
    let Action::Place(base) = &out.actions[0].item else { panic!("{out:?}") };
    assert!(fleet.waiting(&key("alice", "b")).is_some());
    let (a, fill) = (key("alice", "a"), |o: &OrderRequest, p: Decimal| OrderUpdate::Fill {
        client_order_id: o.client_order_id.clone(),
        cumulative_qty: o.quantity,
        price: p,
        fee: None,
    });
    let out = fleet.handle(&a, Event::Order { time: 2, update: fill(base, dec!(100)) }).unwrap();
    balance -= dec!(100);
    fleet.set_funds(&alice, Some(balance));
    // The base is bought: 599.826 still needed, 300.174 free, still short.
    assert_eq!(fleet.committed(&alice), LADDER_AT_100 - dec!(100));
    let tp = out.item.actions.iter().find_map(|x| match x {
        Action::Place(o) if o.role == crate::engine::OrderRole::TakeProfit => Some(o.clone()),
        _ => None,
    });
    let tp = tp.unwrap();
    let out = fleet.handle(&a, Event::Order { time: 3, update: fill(&tp, price_of(&tp)) }).unwrap();
    balance += price_of(&tp) * tp.quantity;
    fleet.set_funds(&alice, Some(balance));
    for x in out.item.actions {
        if let Action::Cancel { client_order_id } = x {
            fleet.handle(&a, Event::Order { time: 4, update: OrderUpdate::Canceled { client_order_id } }).unwrap();
        }
    }
    assert_eq!(fleet.get(&a).unwrap().phase().kind(), PhaseKind::Idle, "the deal closed");
    assert_eq!(fleet.committed(&alice), dec!(0));
    fleet.command(&a, 5, Command::Pause).unwrap();
    let out = fleet.tick("BTCUSDT", 6, dec!(100));
    assert_eq!(out.actions.len(), 1);
    assert_eq!(out.actions[0].key, key("alice", "b"));
    assert_eq!(fleet.waiting(&key("alice", "b")), None);
}

/// One step of the property test.
#[derive(Debug, Clone)]
enum Op {
    /// Move the price by this many cents and route a tick.
    Tick(i64),
    /// Fill (completely) the `n`-th live entry order of bot `b`.
    FillEntry(usize, usize),
    /// Fill the take profit of bot `b`, if it has one.
    FillExit(usize),
    /// Confirm every pending cancel of bot `b`.
    Cancels(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (-400i64..400).prop_map(Op::Tick),
        3 => (0usize..4, 0usize..4).prop_map(|(b, n)| Op::FillEntry(b, n)),
        1 => (0usize..4).prop_map(Op::FillExit),
        2 => (0usize..4).prop_map(Op::Cancels),
    ]
}

fn price_of(o: &OrderRequest) -> Decimal {
    match o.kind {
        OrderKind::Limit { price } => price,
        OrderKind::Market { reference_price } => reference_price,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Whatever the interleaving of ticks, entry fills, exits and cancel
    /// confirmations across four bots of one account (three anchors), the
    /// needs of its open deals never exceed its balance, which moves as a
    /// venue's would (down by each entry fill's cost, up by each exit's
    /// proceeds).
    #[test]
    fn shared_funds_are_never_over_committed(
        start in 1_500i64..3_000,
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let bots = [("acct", "a", "base"), ("acct", "b", "previous"), ("acct", "c", "average"), ("acct", "d", "base")];
        let mut fleet = fleet_of(&bots);
        let acct = AccountId::new("acct").unwrap();
        let mut balance = Decimal::from(start);
        fleet.set_funds(&acct, Some(balance));
        let keys: Vec<EngineKey> = bots.iter().map(|(a, b, _)| key(a, b)).collect();
        let (mut price, mut t) = (dec!(100), 0i64);
        for op in ops {
            t += 1000;
            match op {
                Op::Tick(cents) => {
                    price = (price + Decimal::new(cents, 2)).max(dec!(50));
                    let out = fleet.tick("BTCUSDT", t, price);
                    prop_assert!(out.errors.is_empty(), "{:?}", out.errors);
                }
                Op::FillEntry(b, n) => {
                    let Some(deal) = fleet.get(&keys[b]).and_then(|e| e.deal()) else { continue };
                    let live: Vec<OrderRequest> = deal.orders.iter()
                        .filter(|o| o.request.role.is_entry() && o.state.is_live() && o.filled.is_zero())
                        .map(|o| o.request.clone()).collect();
                    let Some(o) = live.get(n % live.len().max(1)).cloned() else { continue };
                    let p = price_of(&o);
                    let update = OrderUpdate::Fill { client_order_id: o.client_order_id.clone(), cumulative_qty: o.quantity, price: p, fee: None };
                    fleet.handle(&keys[b], crate::engine::Event::Order { time: t, update }).unwrap();
                    balance -= p * o.quantity;
                }
                Op::FillExit(b) => {
                    let Some(deal) = fleet.get(&keys[b]).and_then(|e| e.deal()) else { continue };
                    let Some(o) = deal.orders.iter().find(|o| !o.request.role.is_entry() && o.state.is_live() && o.filled.is_zero()).map(|o| o.request.clone()) else { continue };
                    let p = price_of(&o);
                    let update = OrderUpdate::Fill { client_order_id: o.client_order_id.clone(), cumulative_qty: o.quantity, price: p, fee: None };
                    fleet.handle(&keys[b], crate::engine::Event::Order { time: t, update }).unwrap();
                    balance += p * o.quantity;
                }
                Op::Cancels(b) => {
                    let Some(deal) = fleet.get(&keys[b]).and_then(|e| e.deal()) else { continue };
                    let pending: Vec<_> = deal.orders.iter()
                        .filter(|o| o.state == crate::engine::OrderState::CancelRequested)
                        .map(|o| o.request.client_order_id.clone()).collect();
                    for id in pending {
                        let update = OrderUpdate::Canceled { client_order_id: id };
                        let out = fleet.handle(&keys[b], crate::engine::Event::Order { time: t, update }).unwrap();
                        // An exit placed after the cancel fills at once here.
                        for a in out.item.actions {
                            if let Action::Place(o) = a {
                                if !o.role.is_entry() {
                                    let p = price_of(&o);
                                    let update = OrderUpdate::Fill { client_order_id: o.client_order_id.clone(), cumulative_qty: o.quantity, price: p, fee: None };
                                    fleet.handle(&keys[b], crate::engine::Event::Order { time: t, update }).unwrap();
                                    balance += p * o.quantity;
                                }
                            }
                        }
                    }
                }
            }
            fleet.set_funds(&acct, Some(balance));
            let committed = fleet.committed(&acct);
            prop_assert!(committed <= balance, "over-committed: needs {committed} > balance {balance}");
        }
    }
}
