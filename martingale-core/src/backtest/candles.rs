//! Columnar candle series and their text formats (SPEC sections 6 and 9).
//!
//! A [`Candles`] series holds exact `Decimal` columns and, for the fast
//! backtester's comparisons, `f64` copies of them. Every series is
//! validated: strictly increasing times, positive prices, `low <= open,
//! close <= high`; violations are typed errors naming the row. Gaps (missing
//! intervals) are not errors: [`Candles::gaps`] reports them.
//!
//! Parsing works on text (`&str`), never on files: reading a file is the
//! caller's business, which keeps this crate free of I/O.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use thiserror::Error;

use crate::engine::{Candle, TimeMs};

/// A malformed candle or file.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CandleError {
    /// A field is not a number.
    #[error("row {row}: {field} = {value:?} is not a number")]
    BadNumber {
        /// 1-based line of the file (or 0-based index for columns).
        row: usize,
        /// Column name.
        field: &'static str,
        /// The text.
        value: String,
    },
    /// The time cannot be read.
    #[error("row {row}: time {value:?} is neither ISO-8601 UTC nor epoch milliseconds")]
    BadTime {
        /// Row.
        row: usize,
        /// The text.
        value: String,
    },
    /// Too few columns.
    #[error("row {row}: expected at least {expected} columns, found {found}")]
    Columns {
        /// Row.
        row: usize,
        /// Needed.
        expected: usize,
        /// Found.
        found: usize,
    },
    /// Prices inconsistent (high below low, open or close outside them, or not positive).
    #[error("row {row}: inconsistent prices open {open} high {high} low {low} close {close}")]
    Prices {
        /// Row.
        row: usize,
        /// Open.
        open: Decimal,
        /// High.
        high: Decimal,
        /// Low.
        low: Decimal,
        /// Close.
        close: Decimal,
    },
    /// Time not after the previous row's.
    #[error("row {row}: time {time} is not after the previous row's {previous}")]
    TimeNotIncreasing {
        /// Row.
        row: usize,
        /// This row's time (ms).
        time: TimeMs,
        /// Previous time (ms).
        previous: TimeMs,
    },
    /// Columns of different lengths.
    #[error("columns have different lengths: {0:?}")]
    Lengths(Vec<usize>),
    /// An `f64` input that is not finite.
    #[error("row {row}: {field} = {value} is not a finite number")]
    NotFinite {
        /// Row.
        row: usize,
        /// Column.
        field: &'static str,
        /// Value.
        value: f64,
    },
}

/// Candles per block of the per-block extremes the fast backtester skips by.
pub(crate) const BLOCK: usize = 64;

/// Missing candles between two rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// Index of the row after the gap.
    pub index: usize,
    /// How many intervals are missing.
    pub missing: i64,
}

/// The closes of one block, for the drawdown's filters: the lowest and
/// highest close and the largest fall and rise inside the block (`max c_i -
/// c_j` and `max c_j - c_i` over `i <= j`), which bound those of any part of
/// the block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CloseBlock {
    pub min: f64,
    pub max: f64,
    pub fall: f64,
    pub rise: f64,
}

impl CloseBlock {
    fn of(closes: &[f64]) -> CloseBlock {
        let mut b = CloseBlock { min: f64::INFINITY, max: f64::NEG_INFINITY, fall: 0.0, rise: 0.0 };
        for &x in closes {
            // Against the extremes of the closes before this one.
            b.fall = b.fall.max(b.max - x);
            b.rise = b.rise.max(x - b.min);
            b.min = b.min.min(x);
            b.max = b.max.max(x);
        }
        b
    }
}

/// A validated candle series, oldest first.
///
/// ```
/// use martingale_core::backtest::Candles;
/// let csv = "time,open,high,low,close,volume\n\
///            2017-07-01T11:00:00Z,2505.56,2513.38,2495.12,2509.17,114.6\n\
///            2017-07-01T12:00:00Z,2509.17,2512.87,2484.99,2488.43,157.36\n";
/// let c = Candles::from_csv(csv).unwrap();
/// assert_eq!(c.len(), 2);
/// assert_eq!(c.interval_ms(), Some(3_600_000));
/// assert_eq!(c.get(1).unwrap().low.to_string(), "2484.99");
/// assert!(Candles::from_csv("time,open,high,low,close\n2017-07-01T11:00:00Z,1,0.5,2,1\n").is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Candles {
    time: Vec<TimeMs>,
    open: Vec<Decimal>,
    high: Vec<Decimal>,
    low: Vec<Decimal>,
    close: Vec<Decimal>,
    pub(crate) low_f: Vec<f64>,
    pub(crate) high_f: Vec<f64>,
    pub(crate) close_f: Vec<f64>,
    /// Lowest low of each block of [`BLOCK`] candles.
    pub(crate) blk_low: Vec<f64>,
    /// Highest high of each block of [`BLOCK`] candles.
    pub(crate) blk_high: Vec<f64>,
    /// Where in each block its lowest low and highest high are (the first
    /// of equals): the likely next event when the block cannot be skipped.
    pub(crate) blk_at: Vec<[u8; 2]>,
    /// The closes of each block: extremes and largest moves.
    pub(crate) blk_close: Vec<CloseBlock>,
    /// Smallest time step, computed once.
    interval: Option<TimeMs>,
}

impl Candles {
    /// Builds a series from exact columns, validating every row.
    pub fn new(
        time: Vec<TimeMs>,
        open: Vec<Decimal>,
        high: Vec<Decimal>,
        low: Vec<Decimal>,
        close: Vec<Decimal>,
    ) -> Result<Candles, CandleError> {
        let lens = vec![time.len(), open.len(), high.len(), low.len(), close.len()];
        if lens.iter().any(|l| *l != time.len()) {
            return Err(CandleError::Lengths(lens));
        }
        for i in 0..time.len() {
            let (o, h, l, c) = (open[i], high[i], low[i], close[i]);
            if l <= Decimal::ZERO || l > h || o < l || o > h || c < l || c > h {
                return Err(CandleError::Prices { row: i, open: o, high: h, low: l, close: c });
            }
            if i > 0 && time[i] <= time[i - 1] {
                return Err(CandleError::TimeNotIncreasing { row: i, time: time[i], previous: time[i - 1] });
            }
        }
        let f = |v: &[Decimal]| v.iter().map(|d| super::equity::to_f64(*d)).collect::<Vec<_>>();
        let (low_f, high_f) = (f(&low), f(&high));
        let blk_low: Vec<f64> = low_f.chunks(BLOCK).map(|b| b.iter().copied().fold(f64::INFINITY, f64::min)).collect();
        let blk_high: Vec<f64> =
            high_f.chunks(BLOCK).map(|b| b.iter().copied().fold(f64::NEG_INFINITY, f64::max)).collect();
        let first = |b: &[f64], x: f64| b.iter().position(|y| *y == x).unwrap_or(0) as u8;
        let blk_at = (low_f.chunks(BLOCK).zip(high_f.chunks(BLOCK)))
            .zip(blk_low.iter().zip(&blk_high))
            .map(|((l, h), (lo, hi))| [first(l, *lo), first(h, *hi)])
            .collect();
        let interval = time.windows(2).map(|w| w[1] - w[0]).min();
        let close_f = f(&close);
        let blk_close = close_f.chunks(BLOCK).map(CloseBlock::of).collect();
        Ok(Candles {
            low_f,
            high_f,
            close_f,
            blk_low,
            blk_high,
            blk_at,
            blk_close,
            interval,
            time,
            open,
            high,
            low,
            close,
        })
    }

    /// Builds a series from candles.
    pub fn from_candles(rows: &[Candle]) -> Result<Candles, CandleError> {
        Candles::new(
            rows.iter().map(|c| c.time).collect(),
            rows.iter().map(|c| c.open).collect(),
            rows.iter().map(|c| c.high).collect(),
            rows.iter().map(|c| c.low).collect(),
            rows.iter().map(|c| c.close).collect(),
        )
    }

    /// Builds a series from `f64` columns (e.g. numpy arrays). Each value is
    /// converted through its shortest decimal representation, so `0.1` is
    /// exactly `0.1`, then rounded to `decimals` places if given.
    pub fn from_f64(
        time: &[TimeMs],
        open: &[f64],
        high: &[f64],
        low: &[f64],
        close: &[f64],
        decimals: Option<u32>,
    ) -> Result<Candles, CandleError> {
        let conv = |field: &'static str, v: &[f64]| -> Result<Vec<Decimal>, CandleError> {
            v.iter()
                .enumerate()
                .map(|(row, x)| {
                    if !x.is_finite() {
                        return Err(CandleError::NotFinite { row, field, value: *x });
                    }
                    let d = Decimal::from_str(&x.to_string())
                        .or_else(|_| Decimal::from_scientific(&format!("{x:e}")))
                        .map_err(|_| CandleError::BadNumber { row, field, value: x.to_string() })?;
                    Ok(decimals.map_or(d, |dp| d.round_dp(dp)))
                })
                .collect()
        };
        Candles::new(time.to_vec(), conv("open", open)?, conv("high", high)?, conv("low", low)?, conv("close", close)?)
    }

    /// Parses the CSV formats of SPEC section 9: a header
    /// `time,open,high,low,close[,volume]` with ISO-8601 UTC or epoch
    /// millisecond times, or Binance's kline export (no header; open time in
    /// ms or µs first, then open, high, low, close).
    pub fn from_csv(text: &str) -> Result<Candles, CandleError> {
        let mut rows = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).peekable();
        let has_header =
            rows.peek().is_some_and(|(_, l)| l.trim_start().starts_with(|c: char| c.is_ascii_alphabetic()));
        if has_header {
            rows.next();
        }
        let n = text.len() / 48;
        let (mut time, mut open, mut high, mut low, mut close) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for (i, line) in rows {
            let row = i + 1;
            let mut fields = line.split(',').map(str::trim);
            let mut next = |found: usize| fields.next().ok_or(CandleError::Columns { row, expected: 5, found });
            let t = next(0)?;
            let num = |field: &'static str, v: &str| {
                Decimal::from_str(v).or_else(|_| Decimal::from_scientific(v)).map_err(|_| CandleError::BadNumber {
                    row,
                    field,
                    value: v.into(),
                })
            };
            time.push(parse_time(t).ok_or_else(|| CandleError::BadTime { row, value: t.into() })?);
            open.push(num("open", next(1)?)?);
            high.push(num("high", next(2)?)?);
            low.push(num("low", next(3)?)?);
            close.push(num("close", next(4)?)?);
        }
        Candles::new(time, open, high, low, close).map_err(|e| shift_row(e, usize::from(has_header) + 1))
    }

    /// Writes the series as CSV with the SPEC header (volume left empty).
    pub fn to_csv(&self) -> String {
        let mut out = String::with_capacity(self.len() * 64 + 40);
        out.push_str("time,open,high,low,close,volume\n");
        for i in 0..self.len() {
            let t = DateTime::from_timestamp_millis(self.time[i]).map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            out.push_str(&format!(
                "{},{},{},{},{},\n",
                t.unwrap_or_else(|| self.time[i].to_string()),
                self.open[i],
                self.high[i],
                self.low[i],
                self.close[i]
            ));
        }
        out
    }

    /// Number of candles.
    pub fn len(&self) -> usize {
        self.time.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }

    /// Asks the CPU to start loading candle `i` (its time, prices and the
    /// previous close) ahead of [`Candles::get`]: a cache hint, no effect
    /// on any value.
    #[inline]
    pub(crate) fn prefetch(&self, i: usize) {
        use super::prefetch::prefetch;
        if let (Some(t), Some(o), Some(h), Some(l), Some(c)) =
            (self.time.get(i), self.open.get(i), self.high.get(i), self.low.get(i), self.close.get(i))
        {
            prefetch(t);
            prefetch(o);
            prefetch(h);
            prefetch(l);
            prefetch(c);
        }
        if let Some(p) = i.checked_sub(1).and_then(|j| self.close.get(j)) {
            prefetch(p);
        }
    }

    /// Candle `i`.
    pub fn get(&self, i: usize) -> Option<Candle> {
        Some(Candle {
            time: *self.time.get(i)?,
            open: *self.open.get(i)?,
            high: *self.high.get(i)?,
            low: *self.low.get(i)?,
            close: *self.close.get(i)?,
        })
    }

    /// Open times.
    pub fn times(&self) -> &[TimeMs] {
        &self.time
    }

    /// Close prices.
    pub fn closes(&self) -> &[Decimal] {
        &self.close
    }

    /// The series' interval: the smallest time step (`None` below 2 candles).
    pub fn interval_ms(&self) -> Option<TimeMs> {
        self.interval
    }

    /// Places where candles are missing, given the interval.
    pub fn gaps(&self, interval_ms: TimeMs) -> Vec<Gap> {
        if interval_ms <= 0 {
            return Vec::new();
        }
        self.time
            .windows(2)
            .enumerate()
            .filter_map(|(i, w)| {
                let missing = (w[1] - w[0]) / interval_ms - 1;
                (missing > 0).then_some(Gap { index: i + 1, missing })
            })
            .collect()
    }

    /// A sub-series (copies the rows).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Candles {
        let r = range.start.min(self.len())..range.end.min(self.len()).max(range.start.min(self.len()));
        let rows: Vec<Candle> = r.filter_map(|i| self.get(i)).collect();
        // The rows come from a valid series, so they are valid.
        Candles::from_candles(&rows).unwrap_or_default()
    }
}

fn shift_row(e: CandleError, by: usize) -> CandleError {
    match e {
        CandleError::Prices { row, open, high, low, close } => {
            CandleError::Prices { row: row + by, open, high, low, close }
        }
        CandleError::TimeNotIncreasing { row, time, previous } => {
            CandleError::TimeNotIncreasing { row: row + by, time, previous }
        }
        other => other,
    }
}

/// Parses an ISO-8601 UTC time (`2017-07-01T11:00:00Z`, with optional
/// fraction or offset, a space instead of `T`, or a bare date) or an epoch
/// time in ms (µs when above 10^14, as in Binance's newer exports).
pub fn parse_time(s: &str) -> Option<TimeMs> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(if n.abs() >= 100_000_000_000_000 { n / 1000 } else { n });
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp_millis());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), fmt) {
            return Some(d.and_utc().timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(&[5.0], 5.0, 5.0, 0.0, 0.0)]
    #[case(&[1.0, 2.0, 3.0], 1.0, 3.0, 0.0, 2.0)]
    #[case(&[3.0, 2.0, 1.0], 1.0, 3.0, 2.0, 0.0)]
    #[case(&[4.0, 1.0, 6.0, 2.0, 3.0], 1.0, 6.0, 4.0, 5.0)]
    #[case(&[2.0, 9.0, 1.0, 5.0], 1.0, 9.0, 8.0, 7.0)]
    fn close_blocks(#[case] closes: &[f64], #[case] min: f64, #[case] max: f64, #[case] fall: f64, #[case] rise: f64) {
        assert_eq!(CloseBlock::of(closes), CloseBlock { min, max, fall, rise });
    }

    #[rstest]
    #[case("2017-07-01T11:00:00Z", 1_498_906_800_000)]
    #[case("2017-07-01T11:00:00.250Z", 1_498_906_800_250)]
    #[case("2017-07-01T13:00:00+02:00", 1_498_906_800_000)]
    #[case("2017-07-01 11:00:00", 1_498_906_800_000)]
    #[case("1498906800000", 1_498_906_800_000)]
    #[case("1498906800000000", 1_498_906_800_000)]
    #[case("2017-07-01", 1_498_867_200_000)]
    fn times(#[case] s: &str, #[case] want: TimeMs) {
        assert_eq!(parse_time(s), Some(want));
    }

    #[test]
    fn binance_kline_export() {
        let csv = "1704067200000000,42283.58,42298.62,42261.02,42298.61,35.92,1704067259999999,1518,1,2,3,0\n\
                   1704067260000000,42298.62,42320.00,42298.61,42320.00,21.6,1704067319999999,1,1,1,1,0\n";
        let c = Candles::from_csv(csv).unwrap();
        assert_eq!(c.times(), &[1_704_067_200_000, 1_704_067_260_000]);
        assert_eq!(c.interval_ms(), Some(60_000));
    }

    #[test]
    fn typed_errors_name_the_row() {
        let bad_number = "time,open,high,low,close\n2017-07-01T11:00:00Z,1,2,x,1\n";
        assert_eq!(
            Candles::from_csv(bad_number),
            Err(CandleError::BadNumber { row: 2, field: "low", value: "x".into() })
        );
        let backwards = "time,open,high,low,close\n1000,1,1,1,1\n2000,1,1,1,1\n1500,1,1,1,1\n";
        assert!(matches!(Candles::from_csv(backwards), Err(CandleError::TimeNotIncreasing { row: 4, .. })));
        let short = "time,open,high,low,close\n1000,1,1\n";
        assert!(matches!(Candles::from_csv(short), Err(CandleError::Columns { row: 2, .. })));
        let bad_time = "time,open,high,low,close\nyesterday,1,1,1,1\n";
        assert!(matches!(Candles::from_csv(bad_time), Err(CandleError::BadTime { row: 2, .. })));
    }

    #[test]
    fn gaps_are_reported() {
        let csv = "time,open,high,low,close\n0,1,1,1,1\n60000,1,1,1,1\n240000,1,1,1,1\n";
        let c = Candles::from_csv(csv).unwrap();
        assert_eq!(c.gaps(60_000), vec![Gap { index: 2, missing: 2 }]);
    }

    #[test]
    fn f64_input_is_read_as_written() {
        let c = Candles::from_f64(&[0, 1], &[0.1, 0.3], &[0.3, 0.3], &[0.1, 0.2], &[0.2, 0.3], None).unwrap();
        assert_eq!(c.get(0).unwrap().open, Decimal::new(1, 1));
        assert!(Candles::from_f64(&[0], &[f64::NAN], &[1.0], &[1.0], &[1.0], None).is_err());
    }

    #[test]
    fn csv_round_trip() {
        let csv = "time,open,high,low,close,volume\n2017-07-01T11:00:00Z,2505.56,2513.38,2495.12,2509.17,\n";
        let c = Candles::from_csv(csv).unwrap();
        assert_eq!(c.to_csv(), csv);
    }
}
