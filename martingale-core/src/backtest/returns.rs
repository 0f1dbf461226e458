//! Sharpe and Sortino of per-candle equity returns, streamed from the
//! `f64` closes.
//!
//! The return of candle `i` is `e_i / e_{i-1} - 1` (0 when `e_{i-1} <= 0`)
//! with `e_i = a_f + q_f * close_f[i]` in the state of candle `i`'s segment
//! (`e_{-1}` is the initial equity). Each return depends only on its candle
//! and the one before, so they can be computed in any order; only the order
//! of the additions decides the bits of the sums. That order is fixed by the
//! candle index alone:
//!
//! - the series is cut into [`STRIPES`] stripes of equal length (a multiple
//!   of 4 candles, from the series length only);
//! - inside a stripe, candles go in chunks of four from the stripe's start;
//!   chunk `i..i+4` adds `r_i + r_{i+2}` to lane 0 and `r_{i+1} + r_{i+3}`
//!   to lane 1 (likewise for the squares); the last stripe's last one to
//!   three candles are added alone, to lane `i mod 2`;
//! - the lanes are combined stripe by stripe: `lane 0 + lane 1`.
//!
//! Speed: the stripes are streamed side by side (four independent chains),
//! in blocks of up to 1,024 candles per stripe; each stream asks for its
//! closes [`AHEAD`] candles before it computes them (a cache hint, see
//! [`super::prefetch`]), so they are in cache when their turn comes: the
//! hardware prefetcher alone falls behind the divisions, and a read-ahead
//! by plain loads stalls the loop. Segments whose equity cannot reach zero
//! skip the guard. Any walk that records the same segments gets the same
//! bits.

use super::equity::{fmin, Segment};
use super::prefetch::prefetch;

/// Stripes streamed side by side.
pub(crate) const STRIPES: usize = 4;

/// Chunks of four candles of each stripe computed per block.
const BLOCK_CHUNKS: usize = 256;

/// How far ahead of the candle being computed each stream asks for its
/// closes: 256 candles, 32 cache lines per stream, ~0.5 µs of work, well
/// beyond a memory access.
const AHEAD: usize = 256;

/// Sums of returns, squared returns and squared downside returns, in two
/// lanes.
#[derive(Debug, Clone, Copy, Default)]
struct Lanes {
    s1: [f64; 2],
    s2: [f64; 2],
    sd: [f64; 2],
}

impl Lanes {
    /// One return alone, to lane `l`.
    #[inline(always)]
    fn add(&mut self, l: usize, r: f64) {
        let d = fmin(r, 0.0);
        self.s1[l] += r;
        self.s2[l] += r * r;
        self.sd[l] += d * d;
    }

    /// The four returns of a chunk.
    #[inline(always)]
    fn add4(&mut self, r: [f64; 4]) {
        let d = [fmin(r[0], 0.0), fmin(r[1], 0.0), fmin(r[2], 0.0), fmin(r[3], 0.0)];
        for l in 0..2 {
            self.s1[l] += r[l] + r[l + 2];
            self.s2[l] += r[l] * r[l] + r[l + 2] * r[l + 2];
            self.sd[l] += d[l] * d[l] + d[l + 2] * d[l + 2];
        }
    }
}

/// The return of equity `e` after `prev`. Without `GUARD` the caller knows
/// `prev > 0` (and gets the same value).
#[inline(always)]
fn ret<const GUARD: bool>(e: f64, prev: f64) -> f64 {
    // Division first, guard after: no branch, the same value either way.
    let r = e / prev - 1.0;
    if !GUARD || prev > 0.0 {
        r
    } else {
        0.0
    }
}

/// Four candles with equities `e`, after `prev`.
#[inline(always)]
fn chunk<const GUARD: bool>(lanes: &mut Lanes, e: [f64; 4], prev: f64) {
    let p = [prev, e[0], e[1], e[2]];
    lanes.add4([
        ret::<GUARD>(e[0], p[0]),
        ret::<GUARD>(e[1], p[1]),
        ret::<GUARD>(e[2], p[2]),
        ret::<GUARD>(e[3], p[3]),
    ]);
}

/// One stripe being streamed: the next candle (a multiple of 4 until the
/// stripe's tail), where the stripe ends, the segment holding the next
/// candle and the previous candle's equity.
#[derive(Debug, Clone, Copy)]
struct Stream {
    i: usize,
    end: usize,
    seg: usize,
    prev: f64,
    lanes: Lanes,
}

impl Stream {
    fn seg_end(&self, segs: &[Segment], n: usize) -> usize {
        segs.get(self.seg + 1).map_or(n, |s| s.start)
    }

    /// Moves to the segment holding candle `j` (at or after the current).
    fn seek(&mut self, segs: &[Segment], n: usize, j: usize) {
        while self.seg_end(segs, n) <= j && self.seg + 1 < segs.len() {
            self.seg += 1;
        }
    }

    fn line(&self, segs: &[Segment]) -> (f64, f64) {
        segs.get(self.seg).map_or((0.0, 0.0), |s| (s.state.a_f, s.state.q_f))
    }

    /// Whole chunks left before the stripe or the current segment ends.
    fn chunks(&mut self, segs: &[Segment], n: usize) -> usize {
        self.seek(segs, n, self.i);
        self.seg_end(segs, n).min(self.end).saturating_sub(self.i) / 4
    }

    /// True when no return of the current segment needs the guard: the
    /// equity `a + q * close` stays positive for every positive close.
    fn safe(&self, segs: &[Segment]) -> bool {
        let (a, q) = self.line(segs);
        a > 0.0 && q >= 0.0 && self.prev > 0.0
    }

    /// A chunk in which a segment ends: each candle's equity in its own
    /// segment (the same operations, so the same bits as inside one).
    fn crossing(&mut self, segs: &[Segment], closes: &[f64]) {
        let n = closes.len();
        let mut e = [0.0; 4];
        for (k, e) in e.iter_mut().enumerate() {
            self.seek(segs, n, self.i + k);
            let (a, q) = self.line(segs);
            *e = a + q * closes.get(self.i + k).copied().unwrap_or(0.0);
        }
        chunk::<true>(&mut self.lanes, e, self.prev);
        self.prev = e[3];
        self.i += 4;
    }

    /// Everything left, alone: whole chunks, then the last few candles.
    fn finish(&mut self, segs: &[Segment], closes: &[f64]) {
        let n = closes.len();
        while self.i + 4 <= self.end {
            let m = self.chunks(segs, n);
            if m == 0 {
                self.crossing(segs, closes);
                continue;
            }
            let (a, q) = self.line(segs);
            for cl in closes.get(self.i..self.i + 4 * m).unwrap_or_default().chunks_exact(4) {
                let e = [a + q * cl[0], a + q * cl[1], a + q * cl[2], a + q * cl[3]];
                chunk::<true>(&mut self.lanes, e, self.prev);
                self.prev = e[3];
            }
            self.i += 4 * m;
        }
        while let Some(&c) = closes.get(self.i).filter(|_| self.i < self.end) {
            self.seek(segs, n, self.i);
            let (a, q) = self.line(segs);
            let e = a + q * c;
            self.lanes.add(self.i % 2, ret::<true>(e, self.prev));
            self.prev = e;
            self.i += 1;
        }
    }
}

/// Asks for the closes `from..to` (a cache hint per line).
#[inline(always)]
fn fetch(closes: &[f64], from: usize, to: usize) {
    for x in closes.get(from..to.min(closes.len())).unwrap_or_default().iter().step_by(8) {
        prefetch(x);
    }
}

/// `m` chunks of every stream, side by side, each in its current segment
/// (written out for the four stripes: the zipped loop keeps every stream's
/// position in one induction variable).
#[inline(never)]
fn side_by_side<const GUARD: bool>(st: &mut [Stream; STRIPES], segs: &[Segment], closes: &[f64], m: usize) {
    let part = |s: &Stream| closes.get(s.i..s.i + 4 * m).unwrap_or_default().chunks_exact(4);
    let [s0, s1, s2, s3] = st;
    let (aq0, aq1, aq2, aq3) = (s0.line(segs), s1.line(segs), s2.line(segs), s3.line(segs));
    let (mut l0, mut l1, mut l2, mut l3) = (s0.lanes, s1.lanes, s2.lanes, s3.lanes);
    let (mut p0, mut p1, mut p2, mut p3) = (s0.prev, s1.prev, s2.prev, s3.prev);
    let eq = |cl: &[f64], (a, q): (f64, f64)| {
        let cl: [f64; 4] = cl.try_into().unwrap_or([1.0; 4]);
        [a + q * cl[0], a + q * cl[1], a + q * cl[2], a + q * cl[3]]
    };
    // Each stream asks for the closes `AHEAD` candles on (once per chunk:
    // two hints per cache line, fewer branches than one).
    let ahead = |s: &Stream| closes.get((s.i + AHEAD).min(closes.len())..).unwrap_or_default();
    let (n0, n1, n2, n3) = (ahead(s0), ahead(s1), ahead(s2), ahead(s3));
    for (j, (((c0, c1), c2), c3)) in part(s0).zip(part(s1)).zip(part(s2)).zip(part(s3)).enumerate() {
        for n in [n0, n1, n2, n3] {
            if let Some(x) = n.get(4 * j) {
                prefetch(x);
            }
        }
        let (e0, e1, e2, e3) = (eq(c0, aq0), eq(c1, aq1), eq(c2, aq2), eq(c3, aq3));
        chunk::<GUARD>(&mut l0, e0, p0);
        chunk::<GUARD>(&mut l1, e1, p1);
        chunk::<GUARD>(&mut l2, e2, p2);
        chunk::<GUARD>(&mut l3, e3, p3);
        (p0, p1, p2, p3) = (e0[3], e1[3], e2[3], e3[3]);
    }
    for (s, l, p) in [(s0, l0, p0), (s1, l1, p1), (s2, l2, p2), (s3, l3, p3)] {
        s.lanes = l;
        s.prev = p;
        s.i += 4 * m;
    }
}

/// The sums of the returns of every candle of `closes` along `segs` (sorted
/// by start, the first starting at 0), from equity `initial` before the
/// first candle: `(count, sum r, sum r^2, sum min(r, 0)^2)`. Closes are
/// positive (the candles are validated).
#[inline(never)]
pub(crate) fn sums(segs: &[Segment], closes: &[f64], initial: f64) -> (u64, f64, f64, f64) {
    let n = closes.len();
    let len = n.div_ceil(STRIPES).next_multiple_of(4);
    let mut st = [Stream { i: 0, end: 0, seg: 0, prev: initial, lanes: Lanes::default() }; STRIPES];
    for (k, s) in st.iter_mut().enumerate() {
        s.i = (k * len).min(n);
        s.end = ((k + 1) * len).min(n);
        if s.i > 0 {
            // The previous candle's equity, in its own segment.
            s.seek(segs, n, s.i - 1);
            let (a, q) = s.line(segs);
            s.prev = a + q * closes.get(s.i - 1).copied().unwrap_or(0.0);
        }
    }
    for s in &st {
        fetch(closes, s.i, s.i + AHEAD);
    }
    // Side by side while every stripe has a whole chunk left (all stripes
    // but the last have the same length).
    while st.iter().all(|s| s.i + 4 <= s.end) {
        let m = st.iter_mut().map(|s| s.chunks(segs, n)).min().unwrap_or(0).min(BLOCK_CHUNKS);
        if m == 0 {
            for s in st.iter_mut() {
                if s.chunks(segs, n) == 0 {
                    s.crossing(segs, closes);
                }
            }
            continue;
        }
        if st.iter().all(|s| s.safe(segs)) {
            side_by_side::<false>(&mut st, segs, closes, m);
        } else {
            side_by_side::<true>(&mut st, segs, closes, m);
        }
    }
    let (mut s1, mut s2, mut sd) = (0.0, 0.0, 0.0);
    for s in st.iter_mut() {
        s.finish(segs, closes);
        s1 += s.lanes.s1[0] + s.lanes.s1[1];
        s2 += s.lanes.s2[0] + s.lanes.s2[1];
        sd += s.lanes.sd[0] + s.lanes.sd[1];
    }
    (n as u64, s1, s2, sd)
}

/// Milliseconds in a (Julian) year.
const YEAR_MS: f64 = 365.25 * 86_400_000.0;

/// Returns a year of a market that trades around the clock, one candle
/// every `interval_ms` (0 for a non-positive interval).
pub(crate) fn continuous_periods_per_year(interval_ms: i64) -> f64 {
    if interval_ms > 0 {
        YEAR_MS / interval_ms as f64
    } else {
        0.0
    }
}

/// Share of the around-the-clock candle count a series must have for its
/// returns to be annualised as a 24/7 market's.
pub(crate) const CONTINUOUS_SHARE: f64 = 0.9;

/// Returns a year by the series' own calendar: `candles - 1` steps over
/// the time from the first to the last candle. A series with at least
/// [`CONTINUOUS_SHARE`] of the candles a 24/7 market would have (a crypto
/// series with a few gaps) keeps the exact 24/7 figure
/// `year / interval_ms`; one with fewer (a stock's trading days and hours:
/// about 252 daily candles a year, not 365.25) gets the observed rate.
/// Known limit: a series shorter than one closure (e.g. four weekdays)
/// cannot show its calendar and counts as 24/7.
pub(crate) fn calendar_periods_per_year(times: &[i64], interval_ms: i64) -> f64 {
    let nominal = continuous_periods_per_year(interval_ms);
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        return nominal;
    };
    let span = last.saturating_sub(first);
    if span <= 0 || times.len() < 2 {
        return nominal;
    }
    let observed = (times.len() - 1) as f64 * YEAR_MS / span as f64;
    if observed >= CONTINUOUS_SHARE * nominal {
        nominal
    } else {
        observed
    }
}

/// Annualised Sharpe and Sortino from the sums, with `ppy` returns a year
/// (none without a positive deviation or with fewer than two returns).
pub(crate) fn ratios((count, sum_r, sum_r2, sum_down2): (u64, f64, f64, f64), ppy: f64) -> (Option<f64>, Option<f64>) {
    let n = count as f64;
    let mean = if count > 0 { sum_r / n } else { 0.0 };
    let var = if count > 1 { (sum_r2 - n * mean * mean) / (n - 1.0) } else { 0.0 };
    let sd = var.max(0.0).sqrt();
    let down = if count > 0 { (sum_down2 / n).sqrt() } else { 0.0 };
    let ratio = |x: f64| (x > 0.0 && count > 1).then(|| mean / x * ppy.sqrt());
    (ratio(sd), ratio(down))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::equity::EquityState;
    use rust_decimal::Decimal;

    fn seg(start: usize, a: f64, q: f64) -> Segment {
        let d = |x: f64| Decimal::try_from(x).unwrap_or_default();
        Segment { start, state: EquityState::new(d(a), d(q), Decimal::ZERO, d(q), q != 0.0) }
    }

    /// The plain definition, candle by candle, with the documented order of
    /// additions (stripes; chunks of four from the stripe's start, pairs to
    /// two lanes; a short tail alone, to lane `i mod 2`).
    fn naive(segs: &[Segment], closes: &[f64], initial: f64) -> (u64, f64, f64, f64) {
        let n = closes.len();
        let len = n.div_ceil(STRIPES).next_multiple_of(4);
        let mut r = Vec::new();
        let mut prev = initial;
        for (i, c) in closes.iter().enumerate() {
            let s = segs.iter().rev().find(|s| s.start <= i).unwrap();
            let e = s.state.a_f + s.state.q_f * c;
            r.push(if prev > 0.0 { e / prev - 1.0 } else { 0.0 });
            prev = e;
        }
        let (mut s1, mut s2, mut sd) = (0.0, 0.0, 0.0);
        for k in 0..STRIPES {
            let (from, to) = ((k * len).min(n), ((k + 1) * len).min(n));
            let mut lanes = Lanes::default();
            let mut i = from;
            while i + 4 <= to {
                lanes.add4([r[i], r[i + 1], r[i + 2], r[i + 3]]);
                i += 4;
            }
            for (j, x) in r.iter().enumerate().take(to).skip(i) {
                lanes.add(j % 2, *x);
            }
            s1 += lanes.s1[0] + lanes.s1[1];
            s2 += lanes.s2[0] + lanes.s2[1];
            sd += lanes.sd[0] + lanes.sd[1];
        }
        (n as u64, s1, s2, sd)
    }

    #[test]
    fn striped_sums_equal_the_plain_definition_bit_for_bit() {
        for n in [0usize, 1, 3, 4, 5, 15, 16, 17, 63, 64, 65, 1_000, 4_099, 20_011] {
            let closes: Vec<f64> = (0..n).map(|i| 100.0 + (i as f64 * 0.37).sin() * 3.0).collect();
            // Segments at awkward places: unaligned, inside and across
            // stripes; longs, shorts (guarded) and equity at or below zero.
            let mut segs = vec![seg(0, 50.0, 1.0)];
            let starts = [1usize, 2, 7, 9, 250, 251, 256, 1_024, 1_025, 2_047, 3_000, 9_000, 9_001, 15_003];
            for (k, start) in starts.into_iter().enumerate() {
                let (a, q) = match k % 4 {
                    1 => (300.0 + k as f64, -1.0 - 0.1 * k as f64),
                    3 => (-50.0, 0.5),
                    _ => (40.0 + k as f64, 1.0 + 0.1 * k as f64),
                };
                if start < n {
                    segs.push(seg(start, a, q));
                }
            }
            let got = sums(&segs, &closes, 150.0);
            let want = naive(&segs, &closes, 150.0);
            assert_eq!(got.0, want.0, "n = {n}");
            assert_eq!(got.1.to_bits(), want.1.to_bits(), "n = {n}");
            assert_eq!(got.2.to_bits(), want.2.to_bits(), "n = {n}");
            assert_eq!(got.3.to_bits(), want.3.to_bits(), "n = {n}");
        }
    }

    #[test]
    fn non_positive_equity_gives_zero_returns() {
        let closes = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let (n, s1, s2, sd) = sums(&[seg(0, -10.0, 1.0)], &closes, 0.0); // equity -9 .. -2
        assert_eq!((n, s1, s2, sd), (8, 0.0, 0.0, 0.0));
    }

    #[test]
    fn first_return_is_against_the_initial_equity() {
        let (_, s1, _, _) = sums(&[seg(0, 50.0, 1.0)], &[100.0], 100.0);
        assert_eq!(s1, 0.5);
    }

    #[test]
    fn ratios_need_two_returns_and_a_deviation() {
        let (minute, day) = (continuous_periods_per_year(60_000), continuous_periods_per_year(86_400_000));
        assert_eq!(ratios((1, 0.1, 0.01, 0.0), minute), (None, None));
        assert_eq!(ratios((3, 0.0, 0.0, 0.0), minute), (None, None));
        let (sharpe, sortino) = ratios((4, 0.02, 0.0002, 0.0001), day);
        assert!(sharpe.is_some() && sortino.is_some());
    }

    #[test]
    fn calendar_keeps_the_24_7_figure_for_continuous_series_and_counts_trading_days_otherwise() {
        const DAY: i64 = 86_400_000;
        // Every day for two years, and the same with 5 % of the days missing.
        let every_day: Vec<i64> = (0..730).map(|d| d * DAY).collect();
        assert_eq!(calendar_periods_per_year(&every_day, DAY), 365.25);
        let gappy: Vec<i64> = every_day.iter().copied().filter(|t| (t / DAY) % 20 != 7).collect();
        assert_eq!(calendar_periods_per_year(&gappy, DAY), 365.25);
        // Weekdays only for two years: about 261 a year.
        let weekdays: Vec<i64> = every_day.iter().copied().filter(|t| (t / DAY) % 7 < 5).collect();
        let ppy = calendar_periods_per_year(&weekdays, DAY);
        assert!((ppy - 260.9).abs() < 0.5, "{ppy}");
        // Nothing to observe: the nominal figure.
        assert_eq!(calendar_periods_per_year(&[5], DAY), 365.25);
        assert_eq!(calendar_periods_per_year(&[], 60_000), continuous_periods_per_year(60_000));
    }
}
