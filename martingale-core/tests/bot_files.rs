//! Bot files read exactly, refused with messages that name the field, and
//! validation that refuses absurd inputs with typed errors instead of
//! panicking (issue 14 items 11, 12, 21; issue 15 item 8).

use martingale_core::config::{BotFile, BotFileError, ConfigError, OrderSize};
use rstest::rstest;
use rust_decimal::Decimal;
use std::str::FromStr;

const EXAMPLE: &str = include_str!("../bots/example.json");

/// The example bot with one strategy field's JSON replaced.
fn with_strategy(field: &str, old: &str, new: &str) -> String {
    let from = format!("\"{field}\": {old}");
    assert!(EXAMPLE.contains(&from), "{from}");
    EXAMPLE.replace(&from, &format!("\"{field}\": {new}"))
}

/// The example strategy in TOML with `base_order = { quote = <quote> }`.
fn toml_with_quote(quote: &str) -> String {
    format!(
        "[strategy]\nbase_order = {{ quote = {quote} }}\nsafety_order = {{ quote = \"200\" }}\nmax_safety_orders = 5\n\
         price_deviation = \"1.5\"\nstep_scale = \"1.2\"\nvolume_scale = \"1.5\"\ntake_profit = {{ percent = \"1.5\" }}\n\
         [market]\ntick_size = \"0.01\"\nstep_size = \"0.00001\"\n"
    )
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

#[rstest]
#[case("100.12345678901234567891", "100.12345678901234567891")]
#[case("\"100.12345678901234567891\"", "100.12345678901234567891")]
#[case("100", "100")]
#[case("100.50", "100.50")]
#[case("1e2", "100")]
#[case("1.5E+1", "15")]
#[case("12345e-2", "123.45")]
#[case("\"1e2\"", "100")]
#[case("0.1", "0.1")]
#[case("0.30000000000000004", "0.30000000000000004")]
#[case("999999999999.9999999999999999", "999999999999.9999999999999999")]
fn json_numbers_are_read_exactly(#[case] written: &str, #[case] want: &str) {
    let bot =
        BotFile::from_json(&with_strategy("base_order", "{\"quote\": \"100\"}", &format!("{{\"quote\": {written}}}")))
            .unwrap();
    assert_eq!(bot.strategy.base_order, OrderSize::Quote(dec(want)));
    assert_eq!(bot.strategy.base_order.amount().scale(), dec(want).scale(), "{written}: scale as written");
}

#[rstest]
#[case("100.12345678901234567891", "100.12345678901234567891")]
#[case("\"100.12345678901234567891\"", "100.12345678901234567891")]
#[case("1_000.5", "1000.5")]
#[case("1e2", "100")]
#[case("100", "100")]
#[case("0.30000000000000004", "0.30000000000000004")]
fn toml_numbers_are_read_exactly(#[case] written: &str, #[case] want: &str) {
    let bot = BotFile::from_toml(&toml_with_quote(written)).unwrap();
    assert_eq!(bot.strategy.base_order, OrderSize::Quote(dec(want)));
}

#[rstest]
#[case("0.12345678901234567890123456789", "more digits")]
#[case("\"0.12345678901234567890123456789\"", "more digits")]
#[case("1e-29", "more digits")]
#[case("123456789012345678901234567890", "too large")]
#[case("1e40", "too large")]
#[case("1e99999999999", "too large")]
fn json_numbers_that_cannot_be_exact_are_refused(#[case] written: &str, #[case] why: &str) {
    let text = with_strategy("base_order", "{\"quote\": \"100\"}", &format!("{{\"quote\": {written}}}"));
    let e = BotFile::from_json(&text).unwrap_err();
    match &e {
        BotFileError::Field { path, message } => {
            assert_eq!(path, "strategy.base_order.quote");
            assert!(message.contains(why), "{message}");
        }
        other => panic!("{written}: {other:?}"),
    }
    // The same number in TOML (strings as strings, floats as floats).
    let toml = toml_with_quote(written);
    match BotFile::from_toml(&toml) {
        Err(BotFileError::Field { path, message }) => {
            assert_eq!(path, "strategy.base_order.quote");
            assert!(message.contains(why), "{message}");
        }
        // TOML itself refuses integers above 64 bits and huge exponents.
        Err(BotFileError::Syntax { .. }) => {}
        other => panic!("TOML {written}: {other:?}"),
    }
}

/// Python's `json.dumps` writes float nan / inf as `NaN` / `Infinity`.
#[rstest]
#[case("NaN")]
#[case("Infinity")]
#[case("-Infinity")]
fn json_non_finite_numbers_name_the_field(#[case] written: &str) {
    let text = with_strategy("price_deviation", "\"1.5\"", written);
    let e = BotFile::from_json(&text).unwrap_err();
    let BotFileError::Field { path, message } = &e else { panic!("{e:?}") };
    assert_eq!(path, "strategy.price_deviation");
    assert!(message.contains("not a finite number"), "{message}");
}

#[rstest]
#[case("inf")]
#[case("nan")]
#[case("-inf")]
fn toml_non_finite_numbers_are_refused(#[case] written: &str) {
    let e = BotFile::from_toml(&toml_with_quote(written)).unwrap_err();
    assert!(e.to_string().contains("not a finite number"), "{e}");
}

/// Issue 15 item 8: mistakes name the field and what is expected, not a
/// position in JSON the user never wrote.
#[rstest]
#[case(
    "take_profit",
    r#"{"percent": "1.5", "base": "average"}"#,
    "5",
    "strategy.take_profit",
    r#"expected a table such as {"percent": "1.5""#
)]
#[case(
    "base_order",
    r#"{"quote": "100"}"#,
    "1000",
    "strategy.base_order",
    r#"expected a size such as {"quote": "100"} or {"base": "0.002"}, found the number 1000"#
)]
#[case("base_order", r#"{"quote": "100"}"#, r#""100""#, "strategy.base_order", "expected a size such as")]
#[case(
    "base_order",
    r#"{"quote": "100"}"#,
    r#"{"usd": "100"}"#,
    "strategy.base_order",
    "unknown value \"usd\"; expected one of `quote`, `base`"
)]
#[case(
    "base_order",
    r#"{"quote": "100"}"#,
    r#"{"quote": "abc"}"#,
    "strategy.base_order.quote",
    r#"expected a decimal number such as "1.5", found the string "abc""#
)]
#[case("base_order", r#"{"quote": "100"}"#, r#"{"quote": [1]}"#, "strategy.base_order.quote", "found an array")]
#[case(
    "max_safety_orders",
    "5",
    "2.5",
    "strategy.max_safety_orders",
    "expected a whole number from 0 to 4294967295, found the number 2.5"
)]
#[case("max_safety_orders", "5", r#""5""#, "strategy.max_safety_orders", "found the string \"5\"")]
#[case(
    "max_safety_orders",
    "5",
    "-1",
    "strategy.max_safety_orders",
    "expected a whole number from 0 to 4294967295, found the number -1"
)]
#[case(
    "side",
    r#""long""#,
    r#""sideways""#,
    "strategy.side",
    "unknown value \"sideways\"; expected one of `long`, `short`"
)]
#[case("side", r#""long""#, "1", "strategy.side", "expected one of `long`, `short`, found the number 1")]
#[case("price_deviation", r#""1.5""#, "true", "strategy.price_deviation", "found the boolean true")]
#[case(
    "take_profit",
    r#"{"percent": "1.5", "base": "average"}"#,
    r#"{"base": "average"}"#,
    "strategy.take_profit",
    "missing field `percent`"
)]
#[case(
    "take_profit",
    r#"{"percent": "1.5", "base": "average"}"#,
    r#"{"percent": 1, "percnt": 2}"#,
    "strategy.take_profit.percnt",
    "unknown field `percnt`"
)]
fn mistakes_name_the_field(
    #[case] field: &str,
    #[case] old: &str,
    #[case] new: &str,
    #[case] path: &str,
    #[case] message_part: &str,
) {
    let e = BotFile::from_json(&with_strategy(field, old, new)).unwrap_err();
    let BotFileError::Field { path: p, message } = &e else { panic!("{e:?}") };
    assert_eq!(p, path);
    assert!(message.contains(message_part), "{message}");
    let shown = e.to_string();
    assert!(shown.starts_with(&format!("bot file field `{path}`: ")), "{shown}");
    assert!(!shown.contains("line 1 column"), "{shown}");
}

#[test]
fn custom_level_errors_carry_the_index() {
    let text = EXAMPLE.replace(
        "\"max_safety_orders\": 5",
        r#""custom_levels": [{"deviation": "2", "size": {"quote": "150"}}, {"deviation": "5", "size": 300}]"#,
    );
    let e = BotFile::from_json(&text).unwrap_err();
    assert!(matches!(&e, BotFileError::Field { path, .. } if path == "strategy.custom_levels[1].size"), "{e}");
}

#[rstest]
#[case("", "bot file is empty")]
#[case("  \n\t ", "bot file is empty")]
#[case("\u{feff}", "bot file is empty")]
#[case("[]", "must be a JSON object or a TOML table, found an array")]
#[case("null", "must be a JSON object or a TOML table, found null")]
#[case("5", "must be a JSON object or a TOML table, found the number 5")]
#[case("\"bot\"", "must be a JSON object or a TOML table, found the string \"bot\"")]
#[case("\u{feff}[1, 2]", "found an array")]
#[case("{}", "bot file: missing field `strategy`")]
#[case("{\"strategy\": ", "JSON syntax error at line 1, column 14")]
#[case("[strategy\n", "TOML syntax error at line 1")]
fn the_document_itself_is_described(#[case] text: &str, #[case] want: &str) {
    let e = BotFile::from_str(text).unwrap_err();
    assert!(e.to_string().contains(want), "{text:?}: {e}");
    assert!(!e.to_string().contains("TOML parse error"), "{e}");
}

#[rstest]
#[case::json_empty(BotFile::from_json(""), "bot file is empty")]
#[case::json_array(BotFile::from_json("[]"), "found an array")]
#[case::json_null(BotFile::from_json("null"), "found null")]
#[case::toml_empty(BotFile::from_toml("\u{feff}  "), "bot file is empty")]
fn each_loader_describes_the_document(#[case] got: Result<BotFile, BotFileError>, #[case] want: &str) {
    let e = got.unwrap_err();
    assert!(e.to_string().contains(want), "{e}");
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let plain: BotFile = EXAMPLE.parse().unwrap();
    let bom = format!("\u{feff}{EXAMPLE}");
    assert_eq!(BotFile::from_json(&bom).unwrap(), plain);
    assert_eq!(bom.parse::<BotFile>().unwrap(), plain);
    let toml = plain.to_toml().unwrap();
    assert_eq!(BotFile::from_toml(&format!("\u{feff}{toml}")).unwrap(), plain);
    assert_eq!(format!("\u{feff}{toml}").parse::<BotFile>().unwrap(), plain);
}

#[test]
fn valid_files_read_as_before() {
    // The example through both formats and the derive-based reader agree.
    let bot: BotFile = EXAMPLE.parse().unwrap();
    let via_serde: BotFile = serde_json::from_str(EXAMPLE).unwrap();
    assert_eq!(bot, via_serde);
    assert_eq!(BotFile::from_toml(&bot.to_toml().unwrap()).unwrap(), bot);
    assert_eq!(BotFile::from_json(&bot.to_json()).unwrap(), bot);
}

/// Issue 14 item 12: inputs that used to panic inside validation (or
/// later, in the ladder) are refused up front with typed errors.
#[rstest]
#[case::deviation_near_100_previous(
    r#""custom_levels": [{"deviation": "99.9999999999999999999", "size": {"quote": "10000000000"}}, {"deviation": "99.9999999999999999999", "size": {"quote": "150"}}], "safety_anchor": "previous""#,
    "LevelPriceOutOfRange"
)]
#[case::deviation_near_100_base(
    r#""custom_levels": [{"deviation": "99.9999999999999999999", "size": {"quote": "150"}}]"#,
    "LevelPriceOutOfRange"
)]
#[case::deviation_near_100_average(
    r#""custom_levels": [{"deviation": "99.9999999999999999999", "size": {"quote": "10000000000000"}}, {"deviation": "99.9999999999999999999", "size": {"quote": "10000000000000"}}], "safety_anchor": "average""#,
    "LevelPriceOutOfRange"
)]
#[case::base_sized_v10_n13(
    r#""max_safety_orders": 13, "safety_order": {"base": "10000000000000"}, "volume_scale": "10", "price_deviation": "0.1", "step_scale": "1""#,
    "LevelSizeTooLarge"
)]
#[case::quote_v2_n53(
    r#""max_safety_orders": 53, "safety_order": {"quote": "10000000000000"}, "volume_scale": "2", "price_deviation": "0.01", "step_scale": "1""#,
    "LevelSizeTooLarge"
)]
#[case::scale_overflow(
    r#""max_safety_orders": 200, "safety_order": {"quote": "10000000000000"}, "volume_scale": "10", "price_deviation": "0.0001", "step_scale": "1""#,
    "LevelSizeTooLarge"
)]
#[case::short_ladder_far_above(
    r#""side": "short", "max_safety_orders": 200, "safety_order": {"quote": "1"}, "volume_scale": "1", "price_deviation": "1000000", "step_scale": "10""#,
    "LevelPriceOutOfRange"
)]
#[case::cooldown(r#""cooldown_secs": 18446744073709551615"#, "OutOfRange")]
#[case::take_profit(r#""take_profit": {"percent": "10000000000000"}"#, "OutOfRange")]
fn absurd_inputs_are_typed_errors(#[case] strategy: &str, #[case] variant: &str) {
    let base = r#""base_order": {"quote": "100"}, "safety_order": {"quote": "200"}, "max_safety_orders": 5, "price_deviation": "1.5", "step_scale": "1.2", "volume_scale": "1.5", "take_profit": {"percent": "1.5"}"#;
    // Later keys of the case replace the base's (JSON objects: build one map).
    let mut fields: Vec<(String, String)> = Vec::new();
    for part in [base, strategy] {
        let v: serde_json::Value = serde_json::from_str(&format!("{{{part}}}")).unwrap();
        for (k, val) in v.as_object().unwrap() {
            fields.retain(|(f, _)| f != k);
            fields.push((k.clone(), val.to_string()));
        }
    }
    if strategy.contains("custom_levels") {
        fields.retain(|(f, _)| f != "max_safety_orders");
    }
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
    let text = format!(
        "{{\"strategy\": {{{}}}, \"market\": {{\"tick_size\": \"0.01\", \"step_size\": \"0.00001\"}}}}",
        body.join(", ")
    );
    let e = BotFile::from_json(&text).unwrap_err();
    let BotFileError::Invalid(c) = &e else { panic!("{e:?}") };
    assert!(format!("{c:?}").starts_with(variant), "{c:?}");
    // The message names the problem.
    assert!(!e.to_string().is_empty());
}

#[rstest]
#[case("tick_size", "0.01", "100000000000000")]
#[case("step_size", "0.00001", "1e20")]
#[case("min_qty", "0.00001", "10000000000000.1")]
#[case("min_notional", "5", "99999999999999999")]
fn market_rules_are_bounded(#[case] field: &str, #[case] old: &str, #[case] value: &str) {
    let from = format!("\"{field}\": \"{old}\"");
    assert!(EXAMPLE.contains(&from));
    let text = EXAMPLE.replace(&from, &format!("\"{field}\": \"{value}\""));
    let e = BotFile::from_json(&text).unwrap_err();
    assert!(
        matches!(&e, BotFileError::Invalid(ConfigError::OutOfRange { field: f, .. }) if f == &format!("market.{field}")),
        "{e:?}"
    );
}

#[test]
fn nominal_deviations_overflow_is_typed_and_names_the_scale() {
    let mut bot: BotFile = EXAMPLE.parse().unwrap();
    bot.strategy.side = martingale_core::Side::Short; // prices never reach zero
    bot.strategy.max_safety_orders = Some(200);
    bot.strategy.volume_scale = Decimal::TEN;
    assert_eq!(bot.strategy.nominal_deviations(), Err(ConfigError::Overflow { field: "volume_scale", level: 28 }));
    bot.strategy.volume_scale = Decimal::ONE;
    bot.strategy.step_scale = Decimal::TEN;
    assert_eq!(bot.strategy.nominal_deviations(), Err(ConfigError::Overflow { field: "step_scale", level: 30 }));
    // Validation names the bound first.
    let e = bot.strategy.validate();
    assert!(matches!(e, Err(ConfigError::LevelPriceOutOfRange { .. })), "{e:?}");
}

/// The unbounded nominal ladder (what the planner and the engine call) used
/// to panic in `Decimal` division on a level priced at 10^-21 of P0 with a
/// large size: now a typed overflow naming the custom levels.
#[test]
fn nominal_deviations_of_a_near_zero_level_are_an_error_not_a_panic() {
    let text = EXAMPLE.replace(
        "\"max_safety_orders\": 5",
        r#""safety_anchor": "previous", "custom_levels": [{"deviation": "99.9999999999999999999", "size": {"quote": "10000000000"}}]"#,
    );
    let bot: BotFile = serde_json::from_str(&text).unwrap();
    assert_eq!(bot.strategy.nominal_deviations(), Err(ConfigError::Overflow { field: "custom_levels", level: 1 }));
    assert!(matches!(
        BotFile::from_json(&text),
        Err(BotFileError::Invalid(ConfigError::LevelPriceOutOfRange { level: 1, .. }))
    ));
}

/// SPEC section 10 start conditions read from JSON and TOML bot files alike,
/// write back unchanged, and an impossible one names its field and value
/// with its path in the file.
#[test]
fn indicator_start_conditions_in_json_and_toml() {
    use martingale_core::config::{StartCondition, Threshold};
    let with_start =
        |start: &str| EXAMPLE.replacen("\"strategy\": {", &format!("\"strategy\": {{\"start_condition\": {start},"), 1);
    let json = with_start(r#"{"indicator": "rsi", "period": 14, "below": 30.5}"#);
    assert_ne!(json, EXAMPLE);
    let bot = BotFile::from_json(&json).unwrap();
    let want = StartCondition::Rsi { period: 14, threshold: Threshold::Below(dec("30.5")) };
    assert_eq!(bot.strategy.start_condition, want);
    let toml = bot.to_toml().unwrap();
    assert!(toml.contains("indicator"), "{toml}");
    assert_eq!(BotFile::from_toml(&toml).unwrap(), bot);
    let json = with_start(r#"{"indicator": "price_vs_sma", "period": 0, "below_percent": "2"}"#);
    let e = BotFile::from_json(&json).unwrap_err().to_string();
    assert!(e.contains("start_condition") && e.contains("period = 0"), "{e}");
}
