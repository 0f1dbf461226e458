//! SPEC section 8, reproduced exactly.

use martingale_core::config::BotFile;
use martingale_core::ladder::plan;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

#[test]
fn spec_worked_example() {
    let bot: BotFile = martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap();
    let ladder = plan(&bot.strategy, &bot.market, dec!(43250.17)).unwrap();
    let table: Vec<(u32, Decimal, Decimal, Decimal)> =
        ladder.levels.iter().map(|l| (l.level, l.price, l.quantity, l.quote)).collect();
    assert_eq!(
        table,
        vec![
            (0, dec!(43250.17), dec!(0.00231), dec!(100)),
            (1, dec!(42601.41), dec!(0.00469), dec!(200)),
            (2, dec!(41822.91), dec!(0.00717), dec!(300)),
            (3, dec!(40888.71), dec!(0.01100), dec!(450)),
            (4, dec!(39767.66), dec!(0.01697), dec!(675)),
            (5, dec!(38422.41), dec!(0.02635), dec!(1012.5)),
        ]
    );
    assert_eq!(ladder.funds_required, dec!(2737.5));
    assert_eq!(ladder.max_deviation, dec!(11.1624));
    let deviations: Vec<_> = ladder.levels.iter().map(|l| l.deviation).collect();
    assert_eq!(deviations, vec![dec!(0), dec!(1.5), dec!(3.3), dec!(5.46), dec!(8.052), dec!(11.1624)]);

    // Running totals are exact sums of price * quantity.
    let mut qty = Decimal::ZERO;
    let mut cost = Decimal::ZERO;
    for l in &ladder.levels {
        qty += l.quantity;
        cost += l.price * l.quantity;
        assert_eq!(l.cumulative_quantity, qty);
        assert_eq!(l.cumulative_cost, cost);
        assert_eq!(l.average_price, cost / qty);
        // TP on the average, rounded up to the tick.
        let raw = cost / qty * dec!(1.015);
        assert!(l.take_profit_price >= raw && l.take_profit_price - raw < dec!(0.01));
    }
    assert_eq!(ladder.levels[0].take_profit_price, dec!(43898.93));
}
