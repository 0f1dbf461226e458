use super::*;
use crate::config::BotFile;
use crate::ladder::solve_budget;
use proptest::prelude::*;
use rstest::rstest;
use rust_decimal_macros::dec;

fn rules() -> MarketRules {
    MarketRules::new(dec!(0.01), dec!(0.001), dec!(0.001), dec!(5))
}

fn risk(capital: Decimal, risk: Decimal) -> Sizing {
    Sizing::Risk(RiskSizing { capital, risk_per_trade: risk, leverage: dec!(1) })
}

fn sub(user: &str, sizing: Sizing) -> Subscriber {
    Subscriber { key: EngineKey::parse(user, "strat").unwrap(), rules: rules(), sizing, paused: false }
}

fn signal(side: Side, entry: Decimal, stop: Option<Decimal>, tp: Option<Decimal>) -> Signal {
    Signal { seq: 1, time: 0, side, entry, entry_type: EntryType::Limit, stop_loss: stop, take_profit: tp }
}

#[rstest]
#[case(Side::Long, dec!(100.005), Some(dec!(95.001)), Some(dec!(110.001)), dec!(100.00), Some(dec!(95.01)), Some(dec!(110.01)))]
#[case(Side::Short, dec!(100.005), Some(dec!(105.009)), Some(dec!(90.009)), dec!(100.01), Some(dec!(105.00)), Some(dec!(90.00)))]
fn prices_round_toward_less_risk(
    #[case] side: Side,
    #[case] entry: Decimal,
    #[case] stop: Option<Decimal>,
    #[case] tp: Option<Decimal>,
    #[case] want_entry: Decimal,
    #[case] want_stop: Option<Decimal>,
    #[case] want_tp: Option<Decimal>,
) {
    let mut book = SubscriberBook::new();
    book.subscribe(sub("u", risk(dec!(10000), dec!(0.01)))).unwrap();
    let out = book.fan_out(&signal(side, entry, stop, tp)).unwrap();
    let Ok(Allocation::Single { entry, stop_loss, take_profit }) = &out[0] else { panic!("{out:?}") };
    assert_eq!(entry.kind, OrderKind::Limit { price: want_entry });
    assert_eq!((*stop_loss, *take_profit), (want_stop, want_tp));
    // 100 quote of risk over the rounded distance, truncated to the step.
    let distance = (want_entry - want_stop.unwrap()).abs();
    assert_eq!(entry.quantity, rules().round_qty(dec!(100) / distance));
    assert_eq!(entry.side, side.entry());
}

#[rstest]
#[case(signal(Side::Long, dec!(0), None, None))]
#[case(signal(Side::Long, dec!(100), Some(dec!(101)), None))]
#[case(signal(Side::Long, dec!(100), None, Some(dec!(99))))]
#[case(signal(Side::Short, dec!(100), Some(dec!(99)), None))]
#[case(signal(Side::Short, dec!(100), None, Some(dec!(-1))))]
fn malformed_signals_are_errors_for_all(#[case] s: Signal) {
    let mut book = SubscriberBook::new();
    book.subscribe(sub("u", risk(dec!(1000), dec!(0.01)))).unwrap();
    assert!(book.fan_out(&s).is_err());
}

#[test]
fn skips_have_reasons_and_others_still_get_orders() {
    let mut book = SubscriberBook::new();
    book.subscribe(sub("rich", risk(dec!(100000), dec!(0.02)))).unwrap();
    book.subscribe(sub("tiny", risk(dec!(10), dec!(0.01)))).unwrap();
    let mut paused = sub("away", risk(dec!(1000), dec!(0.01)));
    paused.paused = true;
    book.subscribe(paused).unwrap();
    let out = book.fan_out(&signal(Side::Long, dec!(100), Some(dec!(99)), None)).unwrap();
    assert!(matches!(&out[0], Ok(Allocation::Single { entry, .. }) if entry.quantity == dec!(2000)));
    // 0.1 quote at risk over a distance of 1: 0.1 units = 10 quote, fine; make it smaller:
    assert!(out[1].is_ok());
    assert_eq!(out[2], Err(Skip::Paused));
    let out = book.fan_out(&signal(Side::Long, dec!(100), Some(dec!(50)), None)).unwrap();
    // tiny: 0.1 / 50 = 0.002 units = 0.2 quote < min_notional 5.
    assert!(
        matches!(&out[1], Err(Skip::BelowMinimum { level: 0, violation: RuleViolation::BelowMinNotional { .. } })),
        "{:?}",
        out[1]
    );
}

#[test]
fn invalid_settings_are_refused_at_subscription() {
    let mut book = SubscriberBook::new();
    assert!(matches!(book.subscribe(sub("u", risk(dec!(0), dec!(0.01)))), Err(SubscribeError::Sizing { .. })));
    assert!(matches!(book.subscribe(sub("u", risk(dec!(10), dec!(2)))), Err(SubscribeError::Sizing { .. })));
    let bot: BotFile = crate::config::EXAMPLE_BOT_JSON.parse().unwrap();
    let ladder = Sizing::Ladder { template: Box::new(bot.strategy), capital: dec!(-5), safety_ratio: dec!(2) };
    assert!(matches!(book.subscribe(sub("u", ladder)), Err(SubscribeError::Ladder { .. })));
    assert!(book.is_empty());
}

#[test]
fn ladders_scale_to_each_subscribers_capital() {
    let bot: BotFile = crate::config::EXAMPLE_BOT_JSON.parse().unwrap();
    let mut book = SubscriberBook::new();
    for (user, capital) in [("a", dec!(5475)), ("b", dec!(1000)), ("c", dec!(20))] {
        let sizing = Sizing::Ladder { template: Box::new(bot.strategy.clone()), capital, safety_ratio: dec!(2) };
        book.subscribe(Subscriber { rules: bot.market.clone(), ..sub(user, sizing) }).unwrap();
    }
    let out = book.fan_out(&signal(Side::Long, dec!(43250.17), Some(dec!(30000)), None)).unwrap();
    for (i, capital) in [dec!(5475), dec!(1000)].into_iter().enumerate() {
        let Ok(Allocation::Ladder { entry, stop_loss }) = &out[i] else { panic!("{:?}", out[i]) };
        // Identical to the budget solver's ladder for that capital.
        let want = solve_budget(&bot.strategy, &bot.market, dec!(43250.17), capital, dec!(2)).unwrap();
        assert_eq!(book.ladder(i), Some(&want.strategy));
        let plan = book.plan(i, dec!(43250.17)).unwrap().unwrap();
        assert_eq!(plan, want.plan);
        assert!(plan.funds_required <= capital);
        assert_eq!(entry.quantity, plan.levels[0].quantity);
        assert_eq!(*stop_loss, Some(dec!(30000)));
    }
    // 20 quote cannot fund the ladder: its base order is below the minimum notional.
    assert!(matches!(out[2], Err(Skip::BelowMinimum { level: 0, .. })), "{:?}", out[2]);
    // A short signal does not fit a long ladder.
    assert!(matches!(
        book.fan_out(&signal(Side::Short, dec!(100), None, None)).unwrap()[0],
        Err(Skip::WrongSide { ladder: Side::Long, signal: Side::Short })
    ));
}

#[test]
fn ids_are_deterministic_per_subscriber_and_signal() {
    let mut book = SubscriberBook::new();
    book.subscribe(sub("u1", risk(dec!(1000), dec!(0.5)))).unwrap();
    let mut s = signal(Side::Long, dec!(100), None, None);
    s.seq = 40;
    let a = book.fan_out(&s).unwrap();
    assert_eq!(a, book.fan_out(&s).unwrap());
    assert_eq!(a[0].as_ref().unwrap().entry().client_order_id.as_str(), "strat-14-b-0");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]
    /// The prepared fast path sizes exactly like `RiskSizing::quantity`.
    #[test]
    fn book_matches_risk_sizing(
        capital in 1u64..10_000_000u64,
        risk_bp in 1u32..=10_000u32,
        lev in 1u32..=20u32,
        entry_cents in 1u64..10_000_000u64,
        stop_cents in proptest::option::of(1u64..10_000_000u64),
    ) {
        let sizing = RiskSizing { capital: Decimal::from(capital), risk_per_trade: Decimal::new(i64::from(risk_bp), 4),
                                  leverage: Decimal::from(lev) };
        let entry = Decimal::new(entry_cents as i64, 2);
        let stop = stop_cents.map(|c| Decimal::new(c as i64, 2)).filter(|s| *s < entry);
        let mut book = SubscriberBook::new();
        book.subscribe(sub("u", Sizing::Risk(sizing))).unwrap();
        let out = book.fan_out(&signal(Side::Long, entry, stop, None)).unwrap();
        let want = sizing.quantity(entry, stop, &rules());
        match (&out[0], want) {
            (Ok(a), Ok(q)) => prop_assert_eq!(a.entry().quantity, q),
            (Err(Skip::BelowMinimum { violation, .. }), Err(SizingError::Rule { violation: v, .. })) => prop_assert_eq!(violation, &v),
            (got, want) => prop_assert!(false, "{:?} vs {:?}", got, want),
        }
    }
}
