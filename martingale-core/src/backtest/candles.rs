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
    #[error("row {row}: time {value:?} is neither ISO-8601 UTC nor an epoch time (seconds, ms, µs or ns)")]
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
    /// A number that a `Decimal` cannot hold exactly (too many digits, too
    /// large, not finite): refused rather than rounded.
    #[error("row {row}: {field} = {value:?} {reason}")]
    Unrepresentable {
        /// Row.
        row: usize,
        /// Column name.
        field: &'static str,
        /// The text.
        value: String,
        /// Why.
        reason: String,
    },
    /// A price above the largest the engine accepts.
    #[error("row {row}: {field} = {value} is above the largest price accepted, {max}")]
    PriceTooLarge {
        /// Row.
        row: usize,
        /// Column name.
        field: &'static str,
        /// The price.
        value: Decimal,
        /// Largest price accepted (10^13).
        max: Decimal,
    },
    /// The header lacks a column the series needs.
    #[error("the header has no `{name}` column (found {header:?}); name the columns time, open, high, low, close")]
    MissingColumn {
        /// The column missing.
        name: &'static str,
        /// The header line.
        header: String,
    },
    /// The header names a column twice.
    #[error("the header names the `{name}` column twice ({header:?})")]
    DuplicateColumn {
        /// The column.
        name: &'static str,
        /// The header line.
        header: String,
    },
    /// Epoch times in different units in one file.
    #[error("row {row}: time {value} is not in seconds like the first row's {first}: a file's epoch times must share one unit")]
    MixedTimeUnits {
        /// Row.
        row: usize,
        /// This row's epoch number.
        value: i64,
        /// The first row's epoch number (seconds).
        first: i64,
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

/// Largest price a series may hold (10^13), the engine's limit.
pub const MAX_PRICE: Decimal = Decimal::from_parts(1_316_134_912, 2_328, 0, false, 0);

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
            if h > MAX_PRICE {
                return Err(CandleError::PriceTooLarge { row: i, field: "high", value: h, max: MAX_PRICE });
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

    /// Parses the CSV formats of SPEC section 9: a header naming the
    /// columns `time,open,high,low,close[,volume]`, or Binance's kline
    /// export (no header; open time first, then open, high, low, close).
    ///
    /// Rules (the README's "Candles" lists them too):
    /// - a UTF-8 byte-order mark is skipped; blank lines are skipped, and
    ///   errors name the line of the file (1-based, blank lines counted);
    /// - a first line starting with a letter (or `"`) is a header, and the
    ///   columns are taken by name, in any order, case-insensitive (`time`
    ///   may also be `timestamp`, `date`, `datetime` or `open_time`); other
    ///   columns are ignored; without a header the order is time, open,
    ///   high, low, close;
    /// - times are ISO-8601 (UTC unless an offset is given) or epoch
    ///   integers. The first row's epoch number decides the unit: from 10^9
    ///   up to 10^11 it is seconds (2001-09-09 to the year 5138) and every
    ///   epoch time of the file is seconds (a larger one is an error);
    ///   otherwise each is milliseconds, or microseconds from 10^14, or
    ///   nanoseconds from 10^17 (Binance's exports switch units);
    /// - prices are read exactly (a number a `Decimal` cannot hold exactly
    ///   is refused) and may not exceed [`MAX_PRICE`].
    ///
    /// ```
    /// use martingale_core::backtest::Candles;
    /// // Header by name, epoch seconds, a BOM and a blank line.
    /// let c = Candles::from_csv("\u{feff}time,close,high,low,open\n\n1498906800,2,3,1,1.5\n").unwrap();
    /// assert_eq!(c.times(), &[1_498_906_800_000]);
    /// assert_eq!((c.get(0).unwrap().open.to_string(), c.closes()[0].to_string()), ("1.5".into(), "2".into()));
    /// ```
    pub fn from_csv(text: &str) -> Result<Candles, CandleError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rows =
            text.lines().enumerate().map(|(i, l)| (i + 1, l)).filter(|(_, l)| !l.trim().is_empty()).peekable();
        let columns = match rows.peek() {
            Some((_, l)) if l.trim_start().starts_with(|c: char| c.is_ascii_alphabetic() || c == '"') => {
                let columns = Columns::from_header(l)?;
                rows.next();
                columns
            }
            _ => Columns::POSITIONAL,
        };
        let n = text.len() / 48;
        let (mut time, mut open, mut high, mut low, mut close) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let mut lines = Vec::with_capacity(n);
        let mut first_epoch: Option<i64> = None;
        let mut fields: Vec<&str> = Vec::with_capacity(16);
        for (row, line) in rows {
            fields.clear();
            fields.extend(line.split(',').map(str::trim));
            if fields.len() < columns.needed {
                return Err(CandleError::Columns { row, expected: columns.needed, found: fields.len() });
            }
            let t = fields[columns.time];
            time.push(csv_time(row, t, &mut first_epoch)?);
            open.push(csv_number(row, "open", fields[columns.open])?);
            high.push(csv_number(row, "high", fields[columns.high])?);
            low.push(csv_number(row, "low", fields[columns.low])?);
            close.push(csv_number(row, "close", fields[columns.close])?);
            lines.push(row);
        }
        Candles::new(time, open, high, low, close).map_err(|e| at_line(e, &lines))
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

/// Where the series' columns are in a CSV row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Columns {
    time: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    /// Fields a row needs (the largest index + 1).
    needed: usize,
}

impl Columns {
    const POSITIONAL: Columns = Columns { time: 0, open: 1, high: 2, low: 3, close: 4, needed: 5 };

    fn from_header(header: &str) -> Result<Columns, CandleError> {
        let names: Vec<String> =
            header.split(',').map(|f| f.trim().trim_matches('"').trim().to_ascii_lowercase()).collect();
        let find = |name: &'static str, aliases: &[&str]| -> Result<usize, CandleError> {
            let mut at = names.iter().enumerate().filter(|(_, n)| aliases.contains(&n.as_str())).map(|(i, _)| i);
            let first = at.next().ok_or_else(|| CandleError::MissingColumn { name, header: header.into() })?;
            if at.next().is_some() {
                return Err(CandleError::DuplicateColumn { name, header: header.into() });
            }
            Ok(first)
        };
        let c = Columns {
            time: find("time", &["time", "timestamp", "date", "datetime", "open_time"])?,
            open: find("open", &["open"])?,
            high: find("high", &["high"])?,
            low: find("low", &["low"])?,
            close: find("close", &["close"])?,
            needed: 0,
        };
        Ok(Columns { needed: [c.time, c.open, c.high, c.low, c.close].into_iter().max().unwrap_or(0) + 1, ..c })
    }
}

/// A CSV price, exactly as written.
fn csv_number(row: usize, field: &'static str, v: &str) -> Result<Decimal, CandleError> {
    use crate::config::document::{exact_number, NumberError};
    // Fast path for plain decimals (`2505.56`), the usual case: read exactly
    // without rewriting the text.
    if is_plain_decimal(v) {
        if let Ok(d) = Decimal::from_str_exact(v) {
            return Ok(d);
        }
    }
    match exact_number(v) {
        Ok(d) => Ok(d),
        // Spellings outside the plain grammar (`.5`, `1_000`): short enough
        // that `Decimal` reads them without rounding.
        Err(NumberError::Malformed) if v.len() <= 20 => Decimal::from_str(v)
            .or_else(|_| Decimal::from_scientific(v))
            .map_err(|_| CandleError::BadNumber { row, field, value: v.into() }),
        Err(NumberError::Malformed) => Err(CandleError::BadNumber { row, field, value: v.into() }),
        Err(e) => Err(CandleError::Unrepresentable { row, field, value: v.into(), reason: e.to_string() }),
    }
}

/// `-?digits(.digits)?`, short enough to hold no more than 28 digits (one
/// pass over the bytes: this runs for every price of a file).
fn is_plain_decimal(v: &str) -> bool {
    let b = v.as_bytes();
    let b = b.strip_prefix(b"-").unwrap_or(b);
    if b.is_empty() || b.len() > 28 {
        return false;
    }
    let mut dot = None;
    for (i, c) in b.iter().enumerate() {
        match c {
            b'0'..=b'9' => {}
            b'.' if dot.is_none() => dot = Some(i),
            _ => return false,
        }
    }
    dot.is_none_or(|i| i > 0 && i + 1 < b.len())
}

/// A CSV time in ms; `first_epoch` remembers the first epoch number, whose
/// magnitude decides whether the file's epoch times are seconds.
fn csv_time(row: usize, t: &str, first_epoch: &mut Option<i64>) -> Result<TimeMs, CandleError> {
    let bad = || CandleError::BadTime { row, value: t.into() };
    let Ok(n) = t.parse::<i64>() else {
        return parse_time(t).ok_or_else(bad);
    };
    let first = *first_epoch.get_or_insert(n);
    if (EPOCH_SECONDS_MIN..EPOCH_SECONDS_MAX).contains(&first) {
        if !(-EPOCH_SECONDS_MAX..EPOCH_SECONDS_MAX).contains(&n) {
            return Err(CandleError::MixedTimeUnits { row, value: n, first });
        }
        return n.checked_mul(1000).ok_or_else(bad);
    }
    Ok(epoch_ms(n))
}

/// Epoch numbers of the first row from here (2001-09-09 in seconds) ...
const EPOCH_SECONDS_MIN: i64 = 1_000_000_000;
/// ... up to here (the year 5138 in seconds, 1973-03-03 in ms) are seconds.
const EPOCH_SECONDS_MAX: i64 = 100_000_000_000;

/// An epoch number in ms, µs (from 10^14) or ns (from 10^17), as ms.
fn epoch_ms(n: i64) -> TimeMs {
    match n.unsigned_abs() {
        a if a >= 100_000_000_000_000_000 => n / 1_000_000,
        a if a >= 100_000_000_000_000 => n / 1000,
        _ => n,
    }
}

/// The error with its row index replaced by the file line of that row.
fn at_line(e: CandleError, lines: &[usize]) -> CandleError {
    let line = |row: usize| lines.get(row).copied().unwrap_or(row);
    match e {
        CandleError::Prices { row, open, high, low, close } => {
            CandleError::Prices { row: line(row), open, high, low, close }
        }
        CandleError::TimeNotIncreasing { row, time, previous } => {
            CandleError::TimeNotIncreasing { row: line(row), time, previous }
        }
        CandleError::PriceTooLarge { row, field, value, max } => {
            CandleError::PriceTooLarge { row: line(row), field, value, max }
        }
        other => other,
    }
}

/// Parses an ISO-8601 UTC time (`2017-07-01T11:00:00Z`, with optional
/// fraction or offset, a space instead of `T`, or a bare date) or an epoch
/// time in ms (µs from 10^14, as in Binance's newer exports, ns from
/// 10^17). A lone number is never taken as seconds here: in a CSV file,
/// [`Candles::from_csv`] decides that from the first row.
pub fn parse_time(s: &str) -> Option<TimeMs> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(epoch_ms(n));
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
