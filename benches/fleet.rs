//! Fleet speed: routing one price tick to 10,000 engines with open deals,
//! and fanning one signal out to 10,000 subscribers (risk-sized and
//! ladder-scaled).
//!
//! `cargo bench --bench fleet`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use martingale_core::config::BotFile;
use martingale_core::engine::{Action, Command, Event, OrderUpdate, PhaseKind};
use martingale_core::fleet::fanout::{EntryType, Signal, Sizing, Subscriber, SubscriberBook};
use martingale_core::fleet::{EngineKey, Fleet};
use martingale_core::sizing::RiskSizing;
use martingale_core::Side;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const N: usize = 10_000;

fn bot() -> BotFile {
    include_str!("../examples/bots/example.json").parse().expect("valid bot")
}

/// 10,000 engines of 1,000 users, each with an open deal: base order
/// filled, safety orders and take profit resting.
fn open_fleet() -> Fleet {
    let file = bot();
    let mut fleet = Fleet::new();
    for i in 0..N {
        let key = EngineKey::parse(&format!("user{}", i / 10), &format!("bot{}", i % 10)).expect("valid key");
        fleet.insert(key.clone(), &file).expect("insert");
        fleet.command(&key, 0, Command::Start).expect("start");
    }
    let out = fleet.tick("BTCUSDT", 1, dec!(43250.17));
    let mut pending: Vec<_> = out.actions;
    while let Some(t) = pending.pop() {
        if let Action::Place(o) = t.item {
            let id = o.client_order_id.clone();
            let mut updates = vec![OrderUpdate::Accepted { client_order_id: id.clone() }];
            if o.role.is_entry() && o.role == martingale_core::engine::OrderRole::Base {
                updates.push(OrderUpdate::Fill {
                    client_order_id: id,
                    cumulative_qty: o.quantity,
                    price: dec!(43250.17),
                    fee: None,
                });
            }
            for u in updates {
                let out = fleet.handle(&t.key, Event::Order { time: 2, update: u }).expect("order update");
                pending.extend(
                    out.item
                        .actions
                        .into_iter()
                        .map(|item| martingale_core::fleet::Tagged { key: t.key.clone(), item }),
                );
            }
        }
    }
    assert!(fleet.iter().all(|(_, e)| e.phase().kind() == PhaseKind::Open));
    fleet
}

fn tick(c: &mut Criterion) {
    let mut fleet = open_fleet();
    let mut g = c.benchmark_group("fleet");
    g.throughput(Throughput::Elements(N as u64));
    let mut time = 10;
    g.bench_function("tick_10k_engines", |b| {
        b.iter(|| {
            time += 1;
            // Between the first safety order and the take profit: nothing fires.
            let price = if time % 2 == 0 { dec!(43100) } else { dec!(43300.5) };
            let out = fleet.tick("BTCUSDT", time, price);
            assert!(out.is_empty());
            black_box(out)
        })
    });
    g.finish();
}

fn fan_out(c: &mut Criterion) {
    let file = bot();
    let signal = Signal {
        seq: 12,
        time: 0,
        side: Side::Long,
        entry: dec!(43250.17),
        entry_type: EntryType::Limit,
        stop_loss: Some(dec!(42000)),
        take_profit: Some(dec!(45000)),
    };
    let book = |ladder: bool| {
        let mut book = SubscriberBook::new();
        for i in 0..N {
            let capital = Decimal::from(1000 + (i % 97) * 100);
            let sizing = if ladder {
                Sizing::Ladder { template: Box::new(file.strategy.clone()), capital, safety_ratio: dec!(2) }
            } else {
                Sizing::Risk(RiskSizing { capital, risk_per_trade: dec!(0.01), leverage: Decimal::from(1 + i % 3) })
            };
            let key = EngineKey::parse(&format!("user{i}"), "trend").expect("valid key");
            book.subscribe(Subscriber { key, rules: file.market.clone(), sizing, paused: i % 50 == 0 })
                .expect("subscribe");
        }
        book
    };
    let mut g = c.benchmark_group("fleet");
    g.throughput(Throughput::Elements(N as u64));
    let risk = book(false);
    g.bench_function("fanout_10k_risk", |b| b.iter(|| black_box(risk.fan_out(black_box(&signal)))));
    let ladder = book(true);
    g.bench_function("fanout_10k_ladder", |b| b.iter(|| black_box(ladder.fan_out(black_box(&signal)))));
    g.finish();
}

criterion_group!(benches, tick, fan_out);
criterion_main!(benches);
