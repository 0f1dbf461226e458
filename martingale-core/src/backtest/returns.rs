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
//! - inside a stripe, returns go to four lanes keyed by index mod 4 and are
//!   added in index order;
//! - the sixteen partial sums are combined stripe by stripe, lane by lane.
//!
//! The stripes are streamed side by side: one sequential read of the closes
//! is limited by memory latency (on the reference VM one stream of 2.6 M
//! candles takes ~3 ms, four take ~1 ms), and the four-candle chunks of each
//! stripe vectorize. Any walk that records the same segments gets the same
//! bits.

use super::equity::{fmin, Segment};

/// Stripes streamed side by side.
pub(crate) const STRIPES: usize = 4;

/// Sums of returns, squared returns and squared downside returns, in four
/// lanes keyed by candle index mod 4.
#[derive(Debug, Clone, Copy, Default)]
struct Lanes {
    s1: [f64; 4],
    s2: [f64; 4],
    sd: [f64; 4],
}

impl Lanes {
    #[inline(always)]
    fn add(&mut self, l: usize, r: f64) {
        self.s1[l] += r;
        self.s2[l] += r * r;
        let d = fmin(r, 0.0);
        self.sd[l] += d * d;
    }
}

/// One stripe being streamed: the next candle, where the stripe ends, the
/// segment holding the next candle and the previous candle's equity.
#[derive(Debug, Clone, Copy)]
struct Stream {
    i: usize,
    end: usize,
    seg: usize,
    prev: f64,
    lanes: Lanes,
}

#[inline(always)]
fn ret(e: f64, prev: f64) -> f64 {
    // Division first, guard after: no branch, the same value either way.
    let r = e / prev - 1.0;
    if prev > 0.0 {
        r
    } else {
        0.0
    }
}

impl Stream {
    /// First candle of the segment after the current one.
    #[inline(always)]
    fn seg_end(&self, segs: &[Segment], n: usize) -> usize {
        segs.get(self.seg + 1).map_or(n, |s| s.start)
    }

    /// Whole four-candle chunks available before the stripe or the segment
    /// ends (0 when not at a multiple of 4); moves to the next segment when
    /// the current one is done.
    #[inline(always)]
    fn chunks(&mut self, segs: &[Segment], n: usize) -> usize {
        while self.seg_end(segs, n) <= self.i && self.i < n {
            self.seg += 1;
        }
        if !self.i.is_multiple_of(4) || self.i >= self.end {
            return 0;
        }
        self.seg_end(segs, n).min(self.end).saturating_sub(self.i) / 4
    }

    /// One candle.
    #[inline]
    fn step(&mut self, segs: &[Segment], closes: &[f64]) {
        let Some(&close) = closes.get(self.i) else { return };
        while self.seg_end(segs, closes.len()) <= self.i {
            self.seg += 1;
        }
        let Some(s) = segs.get(self.seg) else { return };
        let e = s.state.a_f + s.state.q_f * close;
        self.lanes.add(self.i % 4, ret(e, self.prev));
        self.prev = e;
        self.i += 1;
    }

    /// Everything left, alone.
    fn finish(&mut self, segs: &[Segment], closes: &[f64]) {
        let n = closes.len();
        while self.i < self.end {
            let m = self.chunks(segs, n);
            if m == 0 {
                self.step(segs, closes);
                continue;
            }
            let Some(s) = segs.get(self.seg) else { return };
            let (a, q) = (s.state.a_f, s.state.q_f);
            for cl in closes.get(self.i..self.i + 4 * m).unwrap_or_default().chunks_exact(4) {
                self.prev = chunk4(&mut self.lanes, cl, (a, q), self.prev);
            }
            self.i += 4 * m;
        }
    }
}

/// Four candles with equity `a + q * close`, after `prev`.
#[inline(always)]
fn chunk4(lanes: &mut Lanes, cl: &[f64], (a, q): (f64, f64), prev: f64) -> f64 {
    let cl: [f64; 4] = cl.try_into().unwrap_or([1.0; 4]);
    let e = [a + q * cl[0], a + q * cl[1], a + q * cl[2], a + q * cl[3]];
    let p = [prev, e[0], e[1], e[2]];
    for l in 0..4 {
        lanes.add(l, ret(e[l], p[l]));
    }
    e[3]
}

/// Chunks of each stripe read ahead by [`warm`] before they are computed
/// (4 stripes x 1,024 candles x 8 bytes = 32 KiB: fits in L1 with room).
const WARM_CHUNKS: usize = 256;

/// Loads one value of every cache line of the next `m` chunks of each
/// stream. The computing loop does enough work per candle that the hardware
/// prefetcher falls behind it (on the reference VM the pass took ~2.8 ms cold
/// against ~1 ms from L1); a bare read runs at memory bandwidth, so reading
/// ahead first and computing from cache takes ~1.3 ms.
#[inline(never)]
fn warm(st: &[Stream; STRIPES], closes: &[f64], m: usize) {
    let line = |s: &Stream| closes.get(s.i..s.i + 4 * m).unwrap_or_default().iter().step_by(8);
    let [s0, s1, s2, s3] = st;
    let mut t = 0.0;
    for (((a, b), c), d) in line(s0).zip(line(s1)).zip(line(s2)).zip(line(s3)) {
        t += (a + b) + (c + d);
    }
    std::hint::black_box(t);
}

/// `m` chunks of every stream, side by side, each with its own state
/// (written out for the four stripes: the zipped loop keeps every stream's
/// position in one induction variable).
#[inline(never)]
fn side_by_side(st: &mut [Stream; STRIPES], segs: &[Segment], closes: &[f64], m: usize) {
    let aq = |s: &Stream| segs.get(s.seg).map_or((0.0, 0.0), |x| (x.state.a_f, x.state.q_f));
    let part = |s: &Stream| closes.get(s.i..s.i + 4 * m).unwrap_or_default();
    let [s0, s1, s2, s3] = st;
    let (aq0, aq1, aq2, aq3) = (aq(s0), aq(s1), aq(s2), aq(s3));
    let (mut l0, mut l1, mut l2, mut l3) = (s0.lanes, s1.lanes, s2.lanes, s3.lanes);
    let (mut p0, mut p1, mut p2, mut p3) = (s0.prev, s1.prev, s2.prev, s3.prev);
    let chunks = |s: &Stream| part(s).chunks_exact(4);
    for (((c0, c1), c2), c3) in chunks(s0).zip(chunks(s1)).zip(chunks(s2)).zip(chunks(s3)) {
        p0 = chunk4(&mut l0, c0, aq0, p0);
        p1 = chunk4(&mut l1, c1, aq1, p1);
        p2 = chunk4(&mut l2, c2, aq2, p2);
        p3 = chunk4(&mut l3, c3, aq3, p3);
    }
    for (s, l, p) in [(s0, l0, p0), (s1, l1, p1), (s2, l2, p2), (s3, l3, p3)] {
        s.lanes = l;
        s.prev = p;
        s.i += 4 * m;
    }
}

/// The sums of the returns of every candle of `closes` along `segs` (sorted
/// by start, the first starting at 0), from equity `initial` before the
/// first candle: `(count, sum r, sum r^2, sum min(r, 0)^2)`.
#[inline(never)]
pub(crate) fn sums(segs: &[Segment], closes: &[f64], initial: f64) -> (u64, f64, f64, f64) {
    let n = closes.len();
    let len = n.div_ceil(STRIPES).next_multiple_of(4);
    let mut st = [Stream { i: 0, end: 0, seg: 0, prev: initial, lanes: Lanes::default() }; STRIPES];
    let mut seg = 0;
    for (k, s) in st.iter_mut().enumerate() {
        s.i = (k * len).min(n);
        s.end = ((k + 1) * len).min(n);
        while segs.get(seg + 1).is_some_and(|x| x.start <= s.i) {
            seg += 1;
        }
        s.seg = seg;
        if s.i > 0 {
            // The previous candle's equity, in its own segment.
            let before = if segs.get(seg).is_some_and(|x| x.start == s.i) { seg.saturating_sub(1) } else { seg };
            if let (Some(b), Some(c)) = (segs.get(before), closes.get(s.i - 1)) {
                s.prev = b.state.a_f + b.state.q_f * c;
            }
        }
    }
    loop {
        if st.iter().any(|s| s.i >= s.end) {
            break;
        }
        let m = st.iter_mut().map(|s| s.chunks(segs, n)).min().unwrap_or(0).min(WARM_CHUNKS);
        if m > 0 {
            warm(&st, closes, m);
            side_by_side(&mut st, segs, closes, m);
            continue;
        }
        for s in st.iter_mut() {
            if s.chunks(segs, n) == 0 && s.i < s.end {
                s.step(segs, closes);
            }
        }
    }
    let (mut s1, mut s2, mut sd) = (0.0, 0.0, 0.0);
    for s in st.iter_mut() {
        s.finish(segs, closes);
        let sum = |x: &[f64; 4]| ((x[0] + x[1]) + x[2]) + x[3];
        s1 += sum(&s.lanes.s1);
        s2 += sum(&s.lanes.s2);
        sd += sum(&s.lanes.sd);
    }
    (n as u64, s1, s2, sd)
}

/// Annualised Sharpe and Sortino from the sums (none without a positive
/// deviation or with fewer than two returns).
pub(crate) fn ratios(
    (count, sum_r, sum_r2, sum_down2): (u64, f64, f64, f64),
    interval_ms: i64,
) -> (Option<f64>, Option<f64>) {
    let n = count as f64;
    let ppy = if interval_ms > 0 { 365.25 * 86_400_000.0 / interval_ms as f64 } else { 0.0 };
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

    /// The plain definition, candle by candle, with the same order of
    /// additions (stripe, then lane by index mod 4).
    fn naive(segs: &[Segment], closes: &[f64], initial: f64) -> (u64, f64, f64, f64) {
        let n = closes.len();
        let len = n.div_ceil(STRIPES).next_multiple_of(4);
        let mut lanes = vec![Lanes::default(); STRIPES];
        let mut prev = initial;
        for (i, c) in closes.iter().enumerate() {
            let s = segs.iter().rev().find(|s| s.start <= i).unwrap();
            let e = s.state.a_f + s.state.q_f * c;
            let r = if prev > 0.0 { e / prev - 1.0 } else { 0.0 };
            lanes[i / len].add(i % 4, r);
            prev = e;
        }
        let sum = |x: &[f64; 4]| ((x[0] + x[1]) + x[2]) + x[3];
        let (mut s1, mut s2, mut sd) = (0.0, 0.0, 0.0);
        for l in &lanes {
            s1 += sum(&l.s1);
            s2 += sum(&l.s2);
            sd += sum(&l.sd);
        }
        (n as u64, s1, s2, sd)
    }

    #[test]
    fn striped_sums_equal_the_plain_definition_bit_for_bit() {
        for n in [0usize, 1, 3, 4, 5, 15, 16, 17, 63, 64, 65, 1_000, 4_099] {
            let closes: Vec<f64> = (0..n).map(|i| 100.0 + (i as f64 * 0.37).sin() * 3.0).collect();
            // Segments at awkward places: unaligned, inside and across stripes.
            let mut segs = vec![seg(0, 50.0, 1.0)];
            for (k, start) in [1usize, 2, 7, 9, 250, 251, 256, 1_024, 1_025, 2_047, 3_000].into_iter().enumerate() {
                if start < n {
                    segs.push(seg(start, 40.0 + k as f64, 1.0 + 0.1 * k as f64));
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
        assert_eq!(ratios((1, 0.1, 0.01, 0.0), 60_000), (None, None));
        assert_eq!(ratios((3, 0.0, 0.0, 0.0), 60_000), (None, None));
        let (sharpe, sortino) = ratios((4, 0.02, 0.0002, 0.0001), 86_400_000);
        assert!(sharpe.is_some() && sortino.is_some());
    }
}
