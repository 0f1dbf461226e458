use super::*;
use crate::engine::{BotId, OrderUpdate, PhaseKind};
use rust_decimal_macros::dec;

fn bot(symbol: &str) -> BotFile {
    let mut b: BotFile = crate::config::EXAMPLE_BOT_JSON.parse().unwrap();
    b.market.symbol = Some(symbol.to_string());
    b
}

fn key(a: &str, b: &str) -> EngineKey {
    EngineKey::parse(a, b).unwrap()
}

fn started(fleet: &mut Fleet, k: &EngineKey, symbol: &str) {
    fleet.insert(k.clone(), &bot(symbol)).unwrap();
    fleet.command(k, 0, Command::Start).unwrap();
}

#[test]
fn routes_by_symbol_and_tags_actions() {
    let mut fleet = Fleet::new();
    started(&mut fleet, &key("u1", "a"), "BTCUSDT");
    started(&mut fleet, &key("u2", "a"), "BTCUSDT");
    started(&mut fleet, &key("u1", "e"), "ETHUSDT");
    assert_eq!((fleet.count_on("BTCUSDT"), fleet.count_on("ETHUSDT")), (2, 1));
    let out = fleet.tick("BTCUSDT", 1, dec!(40000));
    let keys: Vec<String> = out.actions.iter().map(|t| t.key.to_string()).collect();
    assert_eq!(keys, ["u1/a", "u2/a"]);
    assert_eq!(fleet.get(&key("u1", "e")).unwrap().phase().kind(), PhaseKind::Idle);
    assert_eq!(fleet.get(&key("u1", "a")).unwrap().phase().kind(), PhaseKind::Opening);
}

#[test]
fn one_engines_error_changes_nobody_else() {
    let mut fleet = Fleet::new();
    for u in ["u1", "u2", "u3"] {
        started(&mut fleet, &key(u, "a"), "BTCUSDT");
    }
    fleet.tick("BTCUSDT", 10, dec!(40000));
    let before: Vec<Engine> = fleet.iter().map(|(_, e)| e.clone()).collect();
    // A report for an order u2 never placed: refused, nothing changes anywhere.
    let bogus = Event::Order {
        time: 11,
        update: OrderUpdate::Accepted { client_order_id: crate::engine::ClientOrderId::from_raw("zz-1-b-0") },
    };
    assert!(matches!(fleet.handle(&key("u2", "a"), bogus), Err(FleetError::Engine { .. })));
    // Time going backwards for one engine only: it alone reports an error.
    fleet.command(&key("u3", "a"), 50, Command::Pause).unwrap();
    let out = fleet.tick("BTCUSDT", 20, dec!(39000));
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].key, key("u3", "a"));
    let after: Vec<&Engine> = fleet.iter().map(|(_, e)| e).collect();
    assert_eq!(after[1].deal(), before[1].deal());
    assert_eq!(after[2].deal(), before[2].deal());
}

#[test]
fn duplicate_unknown_and_symbolless_bots_are_refused() {
    let mut fleet = Fleet::new();
    fleet.insert(key("u", "a"), &bot("X")).unwrap();
    assert_eq!(fleet.insert(key("u", "a"), &bot("X")), Err(FleetError::Duplicate(key("u", "a"))));
    let mut no_symbol = bot("X");
    no_symbol.market.symbol = None;
    assert_eq!(fleet.insert(key("u", "b"), &no_symbol), Err(FleetError::NoSymbol(key("u", "b"))));
    assert!(matches!(fleet.command(&key("v", "a"), 0, Command::Start), Err(FleetError::Unknown(_))));
    let other = Engine::new(BotId::new("zzz").unwrap(), &bot("X")).unwrap();
    assert!(matches!(fleet.insert_engine(key("u", "c"), other), Err(FleetError::BotMismatch { .. })));
    let mut bad = bot("X");
    bad.strategy.take_profit.percent = dec!(-1);
    assert!(matches!(fleet.insert(key("u", "d"), &bad), Err(FleetError::Config { .. })));
}

#[test]
fn removal_keeps_routing_in_insertion_order() {
    let mut fleet = Fleet::new();
    for (i, sym) in ["A", "B", "A", "A", "B"].iter().enumerate() {
        started(&mut fleet, &key("u", &format!("b{i}")), sym);
    }
    assert!(fleet.remove(&key("u", "b0")).is_some());
    assert!(fleet.remove(&key("u", "b0")).is_none());
    let out = fleet.tick("A", 1, dec!(100));
    let keys: Vec<String> = out.actions.iter().map(|t| t.key.bot.to_string()).collect();
    assert_eq!(keys, ["b2", "b3"]);
    let out = fleet.tick("B", 1, dec!(100));
    let mut keys: Vec<String> = out.actions.iter().map(|t| t.key.bot.to_string()).collect();
    keys.sort();
    assert_eq!(keys, ["b1", "b4"]);
    assert_eq!(fleet.len(), 4);
}

#[test]
fn account_commands_reach_only_that_account() {
    let mut fleet = Fleet::new();
    started(&mut fleet, &key("u1", "a"), "X");
    started(&mut fleet, &key("u1", "b"), "X");
    started(&mut fleet, &key("u2", "a"), "X");
    let out = fleet.command_account(&AccountId::new("u1").unwrap(), 1, Command::Pause);
    assert!(out.errors.is_empty());
    let out = fleet.tick("X", 2, dec!(100));
    assert_eq!(out.actions.len(), 1);
    assert_eq!(out.actions[0].key, key("u2", "a"));
}
