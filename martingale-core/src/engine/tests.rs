//! Scenario tests of the transition tables.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;
use crate::config::{BotFile, OrderSize, PriceBase, StopLoss};
use crate::fees::{FeeAsset, FeeSchedule};

pub(super) fn bot(strategy_extra: &str) -> BotFile {
    let json = format!(
        r#"{{"strategy": {{"base_order": {{"quote": "100"}}, "safety_order": {{"quote": "200"}},
            "max_safety_orders": 3, "price_deviation": "2", "take_profit": {{"percent": "1"}} {strategy_extra} }},
            "market": {{"tick_size": "0.01", "step_size": "0.001", "min_notional": "5"}},
            "fees": {{"maker": "0.001", "taker": "0.002"}}}}"#
    );
    BotFile::from_json(&json).unwrap()
}

pub(super) struct T {
    pub(super) e: Engine,
    pub(super) t: TimeMs,
}

impl T {
    pub(super) fn new(file: &BotFile) -> T {
        let mut e = Engine::new(BotId::new("bot").unwrap(), file).unwrap();
        e.handle(Event::Command { time: 0, command: Command::Start }).unwrap();
        T { e, t: 0 }
    }
    pub(super) fn ev(&mut self, event: Event) -> Output {
        self.e.handle(event).unwrap()
    }
    pub(super) fn tick(&mut self, p: Decimal) -> Output {
        self.t += 1000;
        self.ev(Event::Tick { time: self.t, price: p })
    }
    pub(super) fn upd(&mut self, update: OrderUpdate) -> Result<Output, EngineError> {
        self.t += 1000;
        self.e.handle(Event::Order { time: self.t, update })
    }
    pub(super) fn fill(&mut self, id: &ClientOrderId, cum: Decimal, price: Decimal) -> Output {
        self.upd(OrderUpdate::Fill { client_order_id: id.clone(), cumulative_qty: cum, price, fee: None }).unwrap()
    }
    pub(super) fn cancel_ok(&mut self, id: &ClientOrderId) -> Output {
        self.upd(OrderUpdate::Canceled { client_order_id: id.clone() }).unwrap()
    }
    pub(super) fn cmd(&mut self, command: Command) -> Result<Output, EngineError> {
        self.t += 1000;
        self.e.handle(Event::Command { time: self.t, command })
    }
    /// Opens a deal at `p` and fills the base order.
    pub(super) fn open_at(&mut self, p: Decimal) -> Output {
        let out = self.tick(p);
        let base = placed(&out)[0].clone();
        self.fill(&base.client_order_id, base.quantity, p)
    }
    pub(super) fn order(&self, role: OrderRole) -> TrackedOrder {
        let d = self.e.deal().unwrap();
        d.orders.iter().rev().find(|o| o.request.role == role).unwrap().clone()
    }
}

pub(super) fn placed(out: &Output) -> Vec<OrderRequest> {
    out.actions
        .iter()
        .filter_map(|a| match a {
            Action::Place(o) => Some(o.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn canceled(out: &Output) -> Vec<ClientOrderId> {
    out.actions
        .iter()
        .filter_map(|a| match a {
            Action::Cancel { client_order_id } => Some(client_order_id.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn limit_price(o: &OrderRequest) -> Decimal {
    match o.kind {
        OrderKind::Limit { price } => price,
        OrderKind::Market { reference_price } => reference_price,
    }
}

#[test]
fn nothing_happens_before_start() {
    let mut e = Engine::new(BotId::new("b").unwrap(), &bot("")).unwrap();
    let out = e.handle(Event::Tick { time: 1, price: dec!(100) }).unwrap();
    assert!(out.actions.is_empty());
    assert_eq!(e.phase().kind(), PhaseKind::Idle);
}

#[test]
fn full_deal_through_take_profit() {
    let mut t = T::new(&bot(""));
    let out = t.open_at(dec!(100));
    let orders = placed(&out);
    let prices: Vec<_> = orders.iter().map(limit_price).collect();
    assert_eq!(prices, vec![dec!(98), dec!(96), dec!(94), dec!(101)]);
    assert_eq!(orders[3].quantity, dec!(1));
    assert_eq!(t.e.phase().kind(), PhaseKind::Open);

    // Safety order 1 fills: TP cancel first, replacement only after the cancel.
    let so1 = orders[0].clone();
    let out = t.fill(&so1.client_order_id, so1.quantity, dec!(98));
    assert_eq!(canceled(&out), vec![orders[3].client_order_id.clone()]);
    assert!(placed(&out).is_empty());
    let out = t.cancel_ok(&orders[3].client_order_id);
    let tp = placed(&out);
    assert_eq!(tp.len(), 1);
    // avg = (100 + 2.040*98) / 3.040 = 98.6578..., TP = 99.6444 -> 99.65
    assert_eq!(limit_price(&tp[0]), dec!(99.65));
    assert_eq!(tp[0].quantity, dec!(3.040));

    // TP fills: remaining safety orders are canceled, then the deal closes.
    let out = t.fill(&tp[0].client_order_id, tp[0].quantity, dec!(99.65));
    assert_eq!(canceled(&out).len(), 2);
    assert_eq!(t.e.phase().kind(), PhaseKind::Closing);
    let _ = t.cancel_ok(&orders[1].client_order_id);
    let out = t.cancel_ok(&orders[2].client_order_id);
    assert_eq!(out.closed.len(), 1);
    let r = &out.closed[0];
    assert_eq!(r.exit, ExitKind::TakeProfit);
    // pnl = 3.04*99.65 - (100 + 199.92) - fees (0.2 taker + 0.19992 + 0.302936 maker)
    assert_eq!(r.pnl, dec!(302.936) - dec!(299.92) - dec!(0.2) - dec!(0.19992) - dec!(0.302936));
    assert_eq!(r.safety_orders_filled, 1);
    assert_eq!(t.e.phase().kind(), PhaseKind::Idle);
    assert_eq!(t.e.totals().closed_deals, 1);
}

#[test]
fn partial_fills_duplicates_and_stale_reports() {
    let mut t = T::new(&bot(""));
    let out = t.open_at(dec!(100));
    let so1 = placed(&out)[0].clone();
    let _ = t.fill(&so1.client_order_id, dec!(1), dec!(98));
    let before = t.e.clone();
    // Same cumulative quantity again, then a lower one: nothing changes.
    assert!(t.fill(&so1.client_order_id, dec!(1), dec!(98)).actions.is_empty());
    assert!(t.fill(&so1.client_order_id, dec!(0.5), dec!(98)).actions.is_empty());
    assert_eq!(t.e.deal().unwrap().position, before.deal().unwrap().position);
    let _ = t.fill(&so1.client_order_id, dec!(2.040), dec!(98));
    let pos = &t.e.deal().unwrap().position;
    assert_eq!(pos.entry_qty(), dec!(3.040));
    assert_eq!(pos.entry_value(), dec!(100) + dec!(2.040) * dec!(98));
    // Overfill is refused and changes nothing.
    let snapshot = t.e.clone();
    let err = t.upd(OrderUpdate::Fill {
        client_order_id: so1.client_order_id.clone(),
        cumulative_qty: dec!(5),
        price: dec!(98),
        fee: None,
    });
    assert!(matches!(err, Err(EngineError::InvalidFill { .. })));
    assert_eq!(t.e, snapshot);
}

#[test]
fn rejected_safety_order_is_skipped_and_position_untouched() {
    let mut t = T::new(&bot(r#", "max_active_safety_orders": 1"#));
    let out = t.open_at(dec!(100));
    let first = placed(&out);
    assert_eq!(first.len(), 2, "one safety order and the TP");
    let pos = t.e.deal().unwrap().position.clone();
    let out = t
        .upd(OrderUpdate::Rejected { client_order_id: first[0].client_order_id.clone(), reason: "balance".into() })
        .unwrap();
    let next = placed(&out);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].role, OrderRole::Safety(2));
    assert_eq!(t.e.deal().unwrap().position, pos);
}

#[test]
fn unknown_order_and_time_going_backwards_are_refused() {
    let mut t = T::new(&bot(""));
    let _ = t.open_at(dec!(100));
    let snapshot = t.e.clone();
    let err = t.upd(OrderUpdate::Canceled { client_order_id: ClientOrderId::from_raw("nope") });
    assert_eq!(err, Err(EngineError::UnknownOrder(ClientOrderId::from_raw("nope"))));
    let err = t.e.handle(Event::Tick { time: 1, price: dec!(100) });
    assert!(matches!(err, Err(EngineError::TimeWentBackwards { .. })));
    let err = t.e.handle(Event::Tick { time: t.t + 1, price: dec!(-1) });
    assert_eq!(err, Err(EngineError::BadPrice { price: dec!(-1) }));
    assert_eq!(t.e, snapshot);
}

#[test]
fn commands_follow_the_table() {
    let mut e = Engine::new(BotId::new("b").unwrap(), &bot("")).unwrap();
    let start = |e: &mut Engine, c| e.handle(Event::Command { time: 1, command: c });
    assert!(matches!(start(&mut e, Command::Pause), Err(EngineError::InvalidTransition { command: "pause", .. })));
    assert!(matches!(start(&mut e, Command::CloseNow), Err(EngineError::InvalidTransition { .. })));
    start(&mut e, Command::Start).unwrap();
    assert!(start(&mut e, Command::Start).is_err());
    start(&mut e, Command::Pause).unwrap();
    assert_eq!(e.mode(), Mode::Paused);
    // Paused: no new deal.
    assert!(e.handle(Event::Tick { time: 2, price: dec!(100) }).unwrap().actions.is_empty());
    start(&mut e, Command::Resume).unwrap_err(); // time 1 < 2
    e.handle(Event::Command { time: 3, command: Command::Resume }).unwrap();
    assert_eq!(placed(&e.handle(Event::Tick { time: 4, price: dec!(100) }).unwrap()).len(), 1);
}

#[test]
fn stop_with_cancel_unmanages_and_start_resumes() {
    let mut t = T::new(&bot(""));
    let out = t.open_at(dec!(100));
    assert_eq!(placed(&out).len(), 4);
    let out = t.cmd(Command::Stop { cancel_orders: true }).unwrap();
    assert_eq!(canceled(&out).len(), 4);
    for id in canceled(&out) {
        let _ = t.cancel_ok(&id);
    }
    assert!(t.tick(dec!(50)).actions.is_empty(), "unmanaged: no stop, no orders");
    let out = t.cmd(Command::Start).unwrap();
    let again = placed(&out);
    let roles: Vec<_> = again.iter().map(|o| o.role).collect();
    assert_eq!(roles, vec![OrderRole::Safety(1), OrderRole::Safety(2), OrderRole::Safety(3), OrderRole::TakeProfit]);
    // New orders get new client order ids: nothing is sent twice.
    assert_eq!(again[0].client_order_id.as_str(), "bot-1-s1-5");
    assert_eq!(t.e.deal().unwrap().next_level, 4);
}

#[test]
fn close_now_waits_for_tp_cancel_then_sells() {
    let mut t = T::new(&bot(""));
    let _ = t.open_at(dec!(100));
    let _ = t.tick(dec!(99.5));
    let tp = t.order(OrderRole::TakeProfit);
    let out = t.cmd(Command::CloseNow).unwrap();
    assert_eq!(canceled(&out).len(), 4);
    assert!(placed(&out).is_empty(), "no sell while the TP may still fill");
    // The TP fills partly before its cancel lands.
    let _ = t.fill(&tp.request.client_order_id, dec!(0.4), dec!(101));
    let out = t.cancel_ok(&tp.request.client_order_id);
    let exit = placed(&out);
    assert_eq!(exit.len(), 1);
    assert_eq!(exit[0].role, OrderRole::CloseNow);
    assert_eq!(exit[0].quantity, dec!(0.6));
    assert_eq!(exit[0].kind, OrderKind::Market { reference_price: dec!(99.5) });
    for s in 1..=3 {
        let id = t.order(OrderRole::Safety(s)).request.client_order_id;
        let _ = t.cancel_ok(&id);
    }
    let out = t.fill(&exit[0].client_order_id, dec!(0.6), dec!(99.5));
    assert_eq!(out.closed.len(), 1);
    assert_eq!(out.closed[0].exit, ExitKind::Manual);
    assert_eq!(out.closed[0].exit_price, Some((dec!(0.4) * dec!(101) + dec!(0.6) * dec!(99.5)) / dec!(1)));
}

#[test]
fn stop_loss_with_timeout() {
    let file = bot(r#", "stop_loss_timeout_secs": 5, "stop_loss": {"percent": "10", "base": "base_order"}"#);
    assert_eq!(file.strategy.stop_loss, Some(StopLoss::new(dec!(10), PriceBase::BaseOrder)));
    let mut t = T::new(&file);
    let _ = t.open_at(dec!(100));
    assert!(t.tick(dec!(89)).actions.is_empty(), "breach starts the timer");
    assert!(t.tick(dec!(91)).actions.is_empty(), "recovered: timer reset");
    assert!(t.tick(dec!(90)).actions.is_empty());
    for _ in 0..4 {
        assert!(t.tick(dec!(88)).actions.is_empty(), "breached for less than 5 s");
    }
    let out = t.tick(dec!(87));
    assert_eq!(canceled(&out).len(), 4, "5 s breached: fire");
    let tp = t.order(OrderRole::TakeProfit).request.client_order_id;
    let out = t.cancel_ok(&tp);
    let exit = placed(&out);
    assert_eq!(exit[0].role, OrderRole::StopLoss);
    assert_eq!(exit[0].kind, OrderKind::Market { reference_price: dec!(87) });
}

#[test]
fn trailing_take_profit_arms_tracks_and_exits() {
    let mut t = T::new(&bot(r#", "trailing_take_profit": "0.5""#));
    let out = t.open_at(dec!(100));
    assert!(placed(&out).iter().all(|o| o.role != OrderRole::TakeProfit), "no TP order with trailing");
    assert_eq!(t.e.watch().trailing_arm, Some(dec!(101)));
    assert!(t.tick(dec!(101)).actions.is_empty());
    assert!(t.e.deal().unwrap().take_profit.trailing().is_some());
    assert!(t.tick(dec!(103)).actions.is_empty());
    // Exit at 103 * 0.995 = 102.485 -> 102.48 (rounded down).
    assert_eq!(t.e.watch().trailing_exit, Some(dec!(102.48)));
    assert!(t.tick(dec!(102.49)).actions.is_empty());
    let out = t.tick(dec!(102.48));
    assert_eq!(canceled(&out).len(), 3);
    // No sell order rests, so the exit goes out at once; the buys' cancels
    // cannot conflict with it.
    let exit = placed(&out);
    assert_eq!(exit[0].role, OrderRole::Trailing);
    assert_eq!(exit[0].kind, OrderKind::Market { reference_price: dec!(102.48) });
}

#[test]
fn a_fill_disarms_trailing() {
    let mut t = T::new(&bot(r#", "trailing_take_profit": "0.5""#));
    let _ = t.open_at(dec!(100));
    let _ = t.tick(dec!(101.5));
    assert!(t.e.deal().unwrap().take_profit.trailing().is_some());
    let so = t.order(OrderRole::Safety(1)).request;
    let _ = t.fill(&so.client_order_id, so.quantity, dec!(98));
    assert!(t.e.deal().unwrap().take_profit.trailing().is_none());
    assert_eq!(t.e.watch().trailing_arm, Some(dec!(99.65)));
}

#[test]
fn cooldown_max_deals_and_reinvest() {
    let mut file = bot(r#", "cooldown_secs": 10, "max_deals": 2, "reinvest_percent": "50""#);
    file.strategy.max_safety_orders = Some(0);
    file.strategy.safety_order = None;
    file.strategy.price_deviation = None;
    let mut t = T::new(&file);
    for deal in 1..=2 {
        let out = t.open_at(dec!(100));
        let tp = placed(&out)[0].clone();
        let out = t.fill(&tp.client_order_id, tp.quantity, limit_price(&tp));
        assert_eq!(out.closed.len(), 1, "deal {deal}");
        if deal == 1 {
            // P&L: 101 - 100 - 0.2 (taker) - 0.101 (maker) = 0.699; half is reinvested.
            assert_eq!(t.e.reinvest_pool(), dec!(0.3495));
            t.t += 5_000;
            assert!(t.tick(dec!(100)).actions.is_empty(), "cooling down");
            t.t += 5_000;
        }
    }
    assert!(t.tick(dec!(100)).actions.is_empty(), "max_deals reached");
    assert_eq!(t.e.deals_started(), 2);
    // The second deal's base order grew by the reinvested profit.
    assert_eq!(t.e.totals().closed_deals, 2);
}

#[test]
fn base_asset_fees_leave_dust_not_loss() {
    let mut file = bot("");
    file.fees = FeeSchedule { maker: dec!(0.001), taker: dec!(0.001), asset: FeeAsset::Base };
    let mut t = T::new(&file);
    let out = t.open_at(dec!(100));
    let tp = placed(&out).into_iter().find(|o| o.role == OrderRole::TakeProfit).unwrap();
    // Held 1 - 0.001 = 0.999: sellable 0.999 on a 0.001 step.
    assert_eq!(tp.quantity, dec!(0.999));
    let out = t.fill(&tp.client_order_id, tp.quantity, limit_price(&tp));
    assert!(out.closed.is_empty(), "safety orders still live");
    let mut closed = Vec::new();
    for s in 1..=3 {
        let id = t.order(OrderRole::Safety(s)).request.client_order_id;
        closed.extend(t.cancel_ok(&id).closed);
    }
    assert_eq!(closed[0].fees_base, dec!(0.001));
    assert_eq!(closed[0].dust, dec!(0));
}

#[test]
fn add_funds_is_a_market_entry_and_reprices() {
    let mut t = T::new(&bot(""));
    let _ = t.open_at(dec!(100));
    let err = t.cmd(Command::AddFunds { size: OrderSize::Quote(dec!(1)) });
    assert!(matches!(err, Err(EngineError::Rule(_))), "below min notional");
    let out = t.cmd(Command::AddFunds { size: OrderSize::Quote(dec!(50)) }).unwrap();
    let a = placed(&out)[0].clone();
    assert_eq!(a.role, OrderRole::AddFunds);
    assert_eq!(a.quantity, dec!(0.5));
    let out = t.fill(&a.client_order_id, a.quantity, dec!(100));
    assert_eq!(canceled(&out).len(), 1, "TP re-priced");
}

#[test]
fn base_order_rejected_aborts_the_deal() {
    let mut t = T::new(&bot(""));
    let out = t.tick(dec!(100));
    let base = placed(&out)[0].clone();
    let out = t.upd(OrderUpdate::Rejected { client_order_id: base.client_order_id, reason: "no".into() }).unwrap();
    assert_eq!(out.closed[0].exit, ExitKind::Aborted);
    assert_eq!(t.e.phase().kind(), PhaseKind::Idle);
    assert_eq!(t.e.totals().aborted, 1);
    assert_eq!(t.e.totals().closed_deals, 0);
}

#[test]
fn snapshot_round_trips_through_json() {
    let mut t = T::new(&bot(""));
    let _ = t.open_at(dec!(100));
    let restored = Engine::from_json(&t.e.to_json()).unwrap();
    assert_eq!(restored, t.e);
}

#[test]
fn candle_event_is_atomic() {
    let mut t = T::new(&bot(""));
    let c = Candle { time: 10_000, open: dec!(100), high: dec!(101), low: dec!(0), close: dec!(100) };
    let snapshot = t.e.clone();
    // Low of zero is not a price: the whole candle is refused.
    assert!(t.e.handle(Event::Candle(c)).is_err());
    assert_eq!(t.e, snapshot);
}

#[test]
fn absurd_prices_are_refused_not_panicking() {
    let mut t = T::new(&bot(""));
    let _ = t.open_at(dec!(100));
    assert_eq!(MAX_AMOUNT, dec!(10_000_000_000_000));
    let snapshot = t.e.clone();
    assert!(matches!(
        t.e.handle(Event::Tick { time: t.t + 1, price: Decimal::MAX }),
        Err(EngineError::BadPrice { .. })
    ));
    let so = t.order(OrderRole::Safety(1)).request;
    let huge = OrderUpdate::Fill {
        client_order_id: so.client_order_id,
        cumulative_qty: so.quantity,
        price: Decimal::MAX,
        fee: None,
    };
    assert!(matches!(t.upd(huge), Err(EngineError::InvalidFill { .. })));
    assert_eq!(t.e, snapshot);
}

#[test]
fn signals_open_the_next_deal_and_are_not_queued() {
    let mut t = T::new(&bot(r#", "start_condition": "signal""#));
    assert!(t.tick(dec!(100)).actions.is_empty(), "no signal yet");
    t.t += 1;
    t.ev(Event::Signal { time: t.t });
    assert!(t.e.signal_pending());
    let base = placed(&t.tick(dec!(100)))[0].clone();
    assert_eq!(base.role, OrderRole::Base);
    // A signal during the deal is ignored.
    let _ = t.fill(&base.client_order_id, base.quantity, dec!(100));
    t.t += 1;
    t.ev(Event::Signal { time: t.t });
    assert!(!t.e.signal_pending());
}
