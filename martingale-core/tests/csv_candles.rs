//! CSV candles (issue 14 item 21): rows named by their file line, columns
//! taken by header name, epoch units detected by the documented rule, a BOM
//! accepted, numbers exact or refused.

use martingale_core::backtest::{CandleError, Candles};
use rstest::rstest;
use rust_decimal::Decimal;
use std::str::FromStr;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// (open, high, low, close) of candle `i`.
fn ohlc(c: &Candles, i: usize) -> [String; 4] {
    let k = c.get(i).unwrap();
    [k.open, k.high, k.low, k.close].map(|d| d.to_string())
}

#[rstest]
#[case::spec_order("time,open,high,low,close\n1000,1.5,3,1,2\n")]
#[case::reordered("time,close,high,low,open\n1000,2,3,1,1.5\n")]
#[case::upper_case_and_extra("Close,Volume,Low,TIME,High,Open\n2,99,1,1000,3,1.5\n")]
#[case::quoted_names("\"time\",\"open\",\"high\",\"low\",\"close\"\n1000,1.5,3,1,2\n")]
#[case::timestamp_alias("timestamp,open,high,low,close,volume\n1000,1.5,3,1,2,7\n")]
#[case::no_header("1000,1.5,3,1,2\n")]
fn columns_are_taken_by_header_name(#[case] csv: &str) {
    let c = Candles::from_csv(csv).unwrap();
    assert_eq!(ohlc(&c, 0), ["1.5", "3", "1", "2"].map(String::from));
    assert_eq!(c.times(), &[1000]);
}

#[rstest]
#[case("time,open,high,low\n1000,1,1,1\n", "close")]
#[case("date,o,h,l,c\n1000,1,1,1,1\n", "open")]
#[case("open,high,low,close\n1,1,1,1\n", "time")]
fn a_header_without_a_needed_column_is_refused(#[case] csv: &str, #[case] missing: &str) {
    match Candles::from_csv(csv) {
        Err(CandleError::MissingColumn { name, .. }) => assert_eq!(name, missing),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_duplicated_column_is_refused() {
    let e = Candles::from_csv("time,open,high,low,close,close\n1000,1,1,1,1,1\n").unwrap_err();
    assert!(matches!(e, CandleError::DuplicateColumn { name: "close", .. }), "{e:?}");
}

#[test]
fn a_row_shorter_than_the_header_columns_is_refused() {
    let e = Candles::from_csv("open,high,low,close,time\n1,1,1,1\n").unwrap_err();
    assert_eq!(e, CandleError::Columns { row: 2, expected: 5, found: 4 });
}

#[rstest]
// Blank lines before and between rows: the error names the file's line.
#[case("time,open,high,low,close\n\n1000,1,1,1,1\n\n\n2000,1,0.5,2,1\n", 6)]
#[case("\n\ntime,open,high,low,close\n1000,1,1,1,1\n2000,1,2,1,3\n", 5)]
#[case("1000,1,1,1,1\n\n2000,1,1,1,1\n   \n1500,1,1,1,1\n", 5)]
#[case("time,open,high,low,close\r\n1000,1,1,1,1\r\n\r\n900,1,1,1,1\r\n", 4)]
fn errors_name_the_file_line_after_blank_lines(#[case] csv: &str, #[case] line: usize) {
    let e = Candles::from_csv(csv).unwrap_err();
    let row = match e {
        CandleError::Prices { row, .. } | CandleError::TimeNotIncreasing { row, .. } => row,
        other => panic!("{other:?}"),
    };
    assert_eq!(row, line);
}

#[test]
fn parse_errors_name_the_file_line_after_blank_lines() {
    let e = Candles::from_csv("time,open,high,low,close\n\n\n1000,1,1,x,1\n").unwrap_err();
    assert_eq!(e, CandleError::BadNumber { row: 4, field: "low", value: "x".into() });
}

#[rstest]
#[case::seconds("1498906800\n1498910400", &[1_498_906_800_000, 1_498_910_400_000])]
#[case::milliseconds("1498906800000\n1498910400000", &[1_498_906_800_000, 1_498_910_400_000])]
#[case::microseconds("1498906800000000\n1498910400000000", &[1_498_906_800_000, 1_498_910_400_000])]
#[case::nanoseconds("1498906800000000000\n1498910400000000000", &[1_498_906_800_000, 1_498_910_400_000])]
#[case::ms_then_us("1735689540000\n1735689600000000", &[1_735_689_540_000, 1_735_689_600_000])]
#[case::small_ms_from_zero("0\n60000\n1000000000\n1000060000", &[0, 60_000, 1_000_000_000, 1_000_060_000])]
#[case::iso_then_seconds("2017-07-01T11:00:00Z\n1498910400", &[1_498_906_800_000, 1_498_910_400_000])]
fn epoch_units_follow_the_documented_rule(#[case] times: &str, #[case] want: &[i64]) {
    let csv: String = times.lines().map(|t| format!("{t},1,1,1,1\n")).collect();
    let c = Candles::from_csv(&format!("time,open,high,low,close\n{csv}")).unwrap();
    assert_eq!(c.times(), want);
}

#[test]
fn seconds_then_milliseconds_is_refused() {
    let e = Candles::from_csv("1498906800,1,1,1,1\n1498910400000,1,1,1,1\n").unwrap_err();
    assert_eq!(e, CandleError::MixedTimeUnits { row: 2, value: 1_498_910_400_000, first: 1_498_906_800 });
    assert!(e.to_string().contains("share one unit"));
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let plain = "time,open,high,low,close\n2017-07-01T11:00:00Z,1,2,1,2\n";
    let c = Candles::from_csv(&format!("\u{feff}{plain}")).unwrap();
    assert_eq!(c, Candles::from_csv(plain).unwrap());
    // Without a header too.
    assert_eq!(Candles::from_csv("\u{feff}1000,1,1,1,1\n").unwrap().times(), &[1000]);
}

#[rstest]
#[case("2505.123456789012345678901234567", "has more digits")]
#[case("123456789012345678901234567890", "too large")]
#[case("1e40", "too large")]
fn prices_are_exact_or_refused(#[case] price: &str, #[case] why: &str) {
    let e = Candles::from_csv(&format!("time,open,high,low,close\n1000,1,{price},1,1\n")).unwrap_err();
    match &e {
        CandleError::Unrepresentable { row: 2, field: "high", reason, .. } => assert!(reason.contains(why), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn prices_keep_every_digit_written() {
    let c = Candles::from_csv("time,open,high,low,close\n1000,0.1234567890123456789012345678,1,0.1,1\n").unwrap();
    assert_eq!(c.get(0).unwrap().open, dec("0.1234567890123456789012345678"));
    // Old spellings still read.
    let c = Candles::from_csv("time,open,high,low,close\n1000,.5,1_0,.5,2.5e0\n").unwrap();
    assert_eq!(ohlc(&c, 0), ["0.5", "10", "0.5", "2.5"].map(String::from));
}

#[test]
fn prices_above_the_engine_limit_are_refused() {
    let e = Candles::from_csv("time,open,high,low,close\n\n1000,1,10000000000001,1,1\n").unwrap_err();
    assert!(matches!(e, CandleError::PriceTooLarge { row: 3, field: "high", .. }), "{e:?}");
    assert!(Candles::from_csv("time,open,high,low,close\n1000,1,10000000000000,1,1\n").is_ok());
}

#[test]
fn the_real_data_reads_as_before() {
    // The checkout's `../shared/data`, or `MARTINGALE_DATA_DIR` (the test
    // command sets it when it runs the packaged crate's tests elsewhere).
    let dir = std::env::var("MARTINGALE_DATA_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data").to_string());
    let path = format!("{dir}/btcusd-coinbase-1h.csv");
    let text =
        std::fs::read_to_string(&path).expect("real data in ../shared/data or $MARTINGALE_DATA_DIR (see README)");
    let c = Candles::from_csv(&text).unwrap();
    assert_eq!(c.interval_ms(), Some(3_600_000));
    assert_eq!(ohlc(&c, 0), ["2505.56", "2513.38", "2495.12", "2509.17"].map(String::from));
}
