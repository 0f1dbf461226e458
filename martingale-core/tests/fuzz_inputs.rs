//! Fuzzing the input readers with proptest (issue 14, "Tests that keep it
//! fixed"): bot files in JSON and TOML (random mutations of valid files and
//! random values in every field) and CSV candles (random rows, garbage,
//! huge numbers, missing columns, blank lines). Nothing may panic; every
//! refusal is a typed error with a message; whatever is accepted can be
//! planned at any price without a panic.
//!
//! Case counts are large but the whole file runs in a few seconds in
//! release; `FUZZ_CASES` scales them.

use martingale_core::backtest::{CandleError, Candles};
use martingale_core::config::{BotFile, BotFileError};
use martingale_core::ladder::plan;
use proptest::prelude::*;
use rust_decimal::Decimal;

const EXAMPLE: &str = include_str!("../bots/example.json");

fn config(default_cases: u32) -> ProptestConfig {
    let scale = std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse::<f64>().ok()).unwrap_or(1.0);
    ProptestConfig { cases: ((f64::from(default_cases) * scale) as u32).max(1), ..ProptestConfig::default() }
}

/// Accepted files plan without panicking at cheap, ordinary and extreme
/// entry prices (the planner may refuse, with its typed error).
fn accepted_file_plans(bot: &BotFile) {
    for p0 in [Decimal::new(1, 8), Decimal::new(4_325_017, 2), Decimal::new(10_000_000_000_000, 0)] {
        let _ = plan(&bot.strategy, &bot.market, p0).map(|p| p.levels.len());
    }
    bot.validate().expect("a loaded file is valid");
}

/// A refusal explains itself: a message, and a field path for field errors.
fn refusal_is_typed(e: &BotFileError) {
    let shown = e.to_string();
    assert!(!shown.trim().is_empty());
    match e {
        BotFileError::Field { message, .. } => {
            assert!(!message.is_empty());
            assert!(!shown.contains("line 1 column"), "{shown}");
        }
        BotFileError::Syntax { line, column, .. } => assert!(*line >= 1 && *column >= 1),
        _ => {}
    }
}

fn check_bot_text(text: &str) {
    for result in [BotFile::from_json(text), BotFile::from_toml(text), text.parse::<BotFile>()] {
        match result {
            Ok(bot) => accepted_file_plans(&bot),
            Err(e) => refusal_is_typed(&e),
        }
    }
}

/// Number texts: ordinary, long, tiny, huge, exponents, signs.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (1u32..5000, 0u32..4).prop_map(|(m, s)| Decimal::new(i64::from(m), s).to_string()),
        2 => "-?[0-9]{1,35}(\\.[0-9]{1,35})?([eE][-+]?[0-9]{1,3})?",
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec![
            "0", "-1", "1e13", "10000000000000", "10000000000001", "1e-28", "99.9999999999999999999",
            "100", "200", "201", "0.1", "10", "10.0000001", "79228162514264337593543950335", "1e400", "4294967296",
        ])
        .prop_map(str::to_string),
    ]
}

/// A JSON value for a decimal field: number, string, or the wrong type.
fn decimal_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => number(),
        4 => number().prop_map(|n| format!("\"{n}\"")),
        1 => prop::sample::select(vec!["true", "null", "[]", "{}", "\"abc\"", "\"\"", "\"1_000\""]).prop_map(str::to_string),
    ]
}

fn size_value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (prop::sample::select(vec!["quote", "base"]), decimal_value()).prop_map(|(k, v)| format!("{{\"{k}\": {v}}}")),
        1 => decimal_value(),
        1 => Just("{\"quote\": \"1\", \"base\": \"1\"}".to_string()),
    ]
}

fn integer_value() -> impl Strategy<Value = String> {
    prop_oneof![6 => (0u64..260).prop_map(|n| n.to_string()), 2 => number(), 1 => decimal_value()]
}

fn word(options: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![8 => prop::sample::select(options).prop_map(|w| format!("\"{w}\"")), 1 => decimal_value()]
}

fn custom_levels() -> impl Strategy<Value = String> {
    prop::collection::vec((decimal_value(), size_value()), 0..6).prop_map(|levels| {
        let items: Vec<String> = levels.iter().map(|(d, s)| format!("{{\"deviation\": {d}, \"size\": {s}}}")).collect();
        format!("[{}]", items.join(", "))
    })
}

/// The valid value `valid` `keep` times in `keep + 1`, else a random one.
fn or_valid(keep: u32, valid: &'static str, random: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    prop_oneof![keep => Just(valid.to_string()), 1 => random]
}

/// A whole bot file with random values in its fields (some left out): each
/// field keeps the example's valid value `keep` times in `keep + 1`.
fn random_bot_json(keep: u32) -> impl Strategy<Value = String> {
    let dec = move |valid: &'static str| or_valid(keep, valid, decimal_value());
    let int = move |valid: &'static str| or_valid(keep, valid, integer_value());
    let size = move |valid: &'static str| or_valid(keep, valid, size_value());
    let w = move |valid: &'static str, options: &'static [&'static str]| or_valid(keep, valid, word(options));
    let strategy = (
        (
            w("\"long\"", &["long", "short"]),
            size("{\"quote\": \"100\"}"),
            size("{\"quote\": \"200\"}"),
            int("5"),
            dec("\"1.5\""),
            dec("\"1.2\""),
        ),
        (dec("\"1.5\""), w("\"base\"", &["base", "previous", "average"]), prop::option::weighted(0.2, custom_levels())),
        (dec("\"1.5\""), w("\"average\"", &["average", "base_order"]), prop::option::weighted(0.2, dec("\"0.5\""))),
        (
            prop::option::weighted(0.3, (dec("\"30\""), w("\"base_order\"", &["average", "base_order"]))),
            prop::option::weighted(0.2, int("60")),
        ),
        (int("0"), prop::option::weighted(0.2, int("10")), dec("\"0\""), prop::option::weighted(0.2, int("2"))),
    );
    let market = (
        dec("\"0.01\""),
        dec("\"0.00001\""),
        dec("\"0.00001\""),
        dec("\"5\""),
        prop::option::weighted(0.2, dec("\"1000\"")),
    );
    let rest = (dec("\"0.001\""), dec("\"0.001\""), w("\"quote\"", &["quote", "base"]), dec("\"0\""), any::<bool>());
    (strategy, market, rest).prop_map(|(s, m, r)| {
        let (
            (side, base, safety, n, d, step),
            (volume, anchor, custom),
            (tp, tp_base, trailing),
            (sl, sl_timeout),
            more,
        ) = s;
        let (cooldown, max_deals, reinvest, active) = more;
        let mut f = vec![
            format!("\"side\": {side}"),
            format!("\"base_order\": {base}"),
            format!("\"safety_order\": {safety}"),
            format!("\"price_deviation\": {d}"),
            format!("\"step_scale\": {step}"),
            format!("\"volume_scale\": {volume}"),
            format!("\"safety_anchor\": {anchor}"),
            format!("\"take_profit\": {{\"percent\": {tp}, \"base\": {tp_base}}}"),
            format!("\"cooldown_secs\": {cooldown}"),
            format!("\"reinvest_percent\": {reinvest}"),
        ];
        match custom {
            Some(levels) => f.push(format!("\"custom_levels\": {levels}")),
            None => f.push(format!("\"max_safety_orders\": {n}")),
        }
        if let Some(t) = trailing {
            f.push(format!("\"trailing_take_profit\": {t}"));
        }
        if let Some((p, b)) = sl {
            f.push(format!("\"stop_loss\": {{\"percent\": {p}, \"base\": {b}}}"));
        }
        if let Some(t) = sl_timeout {
            f.push(format!("\"stop_loss_timeout_secs\": {t}"));
        }
        if let Some(x) = max_deals {
            f.push(format!("\"max_deals\": {x}"));
        }
        if let Some(x) = active {
            f.push(format!("\"max_active_safety_orders\": {x}"));
        }
        let (tick, step_size, min_qty, min_notional, max_qty) = m;
        let max_qty = max_qty.map(|q| format!(", \"max_qty\": {q}")).unwrap_or_default();
        let (maker, taker, asset, slippage, bom) = r;
        format!(
            "{}{{\"strategy\": {{{}}}, \"market\": {{\"tick_size\": {tick}, \"step_size\": {step_size}, \
             \"min_qty\": {min_qty}, \"min_notional\": {min_notional}{max_qty}}}, \"fees\": {{\"maker\": {maker}, \
             \"taker\": {taker}, \"asset\": {asset}}}, \"fill\": {{\"slippage_bps\": {slippage}}}}}",
            if bom { "\u{feff}" } else { "" },
            f.join(", ")
        )
    })
}

/// Up to five edits of `text`: deletions and insertions of JSON / TOML
/// punctuation, digits, letters, a BOM or a newline.
fn mutated(text: String) -> impl Strategy<Value = String> {
    let edit = (any::<prop::sample::Index>(), 0usize..12, "[{}\\[\\]\":,=0-9eE.+\\- a-z_\n\u{feff}é]{0,6}");
    prop::collection::vec(edit, 1..6).prop_map(move |edits| {
        let mut s = text.clone();
        for (at, delete, insert) in edits {
            let mut i = at.index(s.len() + 1);
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            let mut j = (i + delete).min(s.len());
            while !s.is_char_boundary(j) {
                j += 1;
            }
            s.replace_range(i..j, &insert);
        }
        s
    })
}

fn example_toml() -> String {
    EXAMPLE.parse::<BotFile>().unwrap().to_toml().unwrap()
}

proptest! {
    #![proptest_config(config(4000))]

    #[test]
    fn random_field_values_never_panic(text in random_bot_json(1)) {
        check_bot_text(&text);
    }

    #[test]
    fn one_or_two_random_fields_never_panic(text in random_bot_json(15)) {
        check_bot_text(&text);
    }

    #[test]
    fn mutated_json_bot_files_never_panic(text in mutated(EXAMPLE.to_string())) {
        check_bot_text(&text);
    }

    #[test]
    fn mutated_toml_bot_files_never_panic(text in mutated(example_toml())) {
        check_bot_text(&text);
    }
}

/// The generators reach the accepting path often enough to matter.
#[test]
fn generators_produce_accepted_files() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let rate = |s: &dyn Fn(&mut TestRunner) -> String, runner: &mut TestRunner| {
        let ok = (0..400).filter(|_| BotFile::from_json(&s(runner)).is_ok()).count();
        ok as f64 / 400.0
    };
    let mostly_valid = random_bot_json(15);
    let r = rate(&|r: &mut TestRunner| mostly_valid.new_tree(r).unwrap().current(), &mut runner);
    assert!(r > 0.1, "only {r} of mostly-valid files accepted");
    let csv = valid_csv();
    let mut muts = 0;
    for _ in 0..200 {
        let t = csv.new_tree(&mut runner).unwrap().current();
        muts += usize::from(Candles::from_csv(&t).is_ok());
    }
    assert_eq!(muts, 200);
}

/// One CSV field: times of every unit, prices, garbage, huge numbers.
fn csv_field() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (1u32..100_000, 0u32..4).prop_map(|(m, s)| Decimal::new(i64::from(m), s).to_string()),
        2 => prop::sample::select(vec![0i64, 1_000, 1_498_906_800, 1_498_906_800_000, 1_498_906_800_000_000, 1_498_906_800_000_000_000])
            .prop_flat_map(|base| (0i64..10).prop_map(move |k| (base + k * 3600).to_string())),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => "-?[0-9]{1,40}(\\.[0-9]{1,40})?([eE][-+]?[0-9]{1,4})?",
        1 => "[ -~]{0,10}",
        1 => prop::sample::select(vec!["", "2017-07-01T11:00:00Z", "2017-07-01", "nan", "inf", "1e400", "\u{feff}1"])
            .prop_map(str::to_string),
    ]
}

fn csv_text() -> impl Strategy<Value = String> {
    let names = vec!["time", "open", "high", "low", "close", "volume", "junk", "Close", "timestamp"];
    let header = prop::option::of(prop::sample::subsequence(names, 0..=9).prop_shuffle());
    let row = prop_oneof![1 => Just(Vec::new()), 8 => prop::collection::vec(csv_field(), 0..9)];
    (any::<bool>(), header, prop::collection::vec(row, 0..25)).prop_map(|(bom, header, rows)| {
        let mut s = String::from(if bom { "\u{feff}" } else { "" });
        if let Some(h) = header {
            s.push_str(&h.join(","));
            s.push('\n');
        }
        for r in rows {
            s.push_str(&r.join(","));
            s.push('\n');
        }
        s
    })
}

/// A valid CSV (increasing hourly times, consistent prices) of some unit.
fn valid_csv() -> impl Strategy<Value = String> {
    let rows = prop::collection::vec((1u32..1_000_000, 0u32..1000, 0u32..1000, 0u32..1000), 1..40);
    (prop::sample::select(vec![1u64, 1000, 1_000_000]), rows).prop_map(|(unit, rows)| {
        let mut s = String::from("time,open,high,low,close\n");
        for (i, (low, a, b, c)) in rows.into_iter().enumerate() {
            let t = (1_498_906_800 + 3600 * i as u64) * unit;
            let (low, high) = (u64::from(low), u64::from(low) + u64::from(a.max(b).max(c)));
            s.push_str(&format!("{t},{},{high},{low},{}\n", low + u64::from(a.min(b)), low + u64::from(c.min(a))));
        }
        s
    })
}

/// Every error naming a row names a line of the file.
fn check_csv(text: &str) -> Result<Candles, CandleError> {
    let lines = text.lines().count();
    let result = Candles::from_csv(text);
    if let Err(e) = &result {
        assert!(!e.to_string().is_empty());
        let row = match e {
            CandleError::BadNumber { row, .. }
            | CandleError::BadTime { row, .. }
            | CandleError::Columns { row, .. }
            | CandleError::Prices { row, .. }
            | CandleError::TimeNotIncreasing { row, .. }
            | CandleError::Unrepresentable { row, .. }
            | CandleError::PriceTooLarge { row, .. }
            | CandleError::MixedTimeUnits { row, .. } => Some(*row),
            _ => None,
        };
        if let Some(row) = row {
            assert!((1..=lines).contains(&row), "row {row} of {lines} lines: {e}");
        }
    }
    result
}

proptest! {
    #![proptest_config(config(4000))]

    #[test]
    fn random_csv_never_panics(text in csv_text()) {
        if let Ok(c) = check_csv(&text) {
            prop_assert!(c.len() <= text.lines().count());
        }
    }

    #[test]
    fn valid_csv_reads_every_row(text in valid_csv()) {
        let c = check_csv(&text).unwrap();
        prop_assert_eq!(c.len(), text.lines().count() - 1);
        prop_assert_eq!(c.times()[0], 1_498_906_800_000);
    }

    #[test]
    fn mutated_csv_never_panics(text in valid_csv().prop_flat_map(mutated)) {
        let _ = check_csv(&text);
    }
}
