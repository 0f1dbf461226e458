//! The walk of one candle's price path (SPEC section 6): which event comes
//! next, at which price. One implementation for every simulated venue: the
//! backtest's [`Driver`](super::Driver) executes the steps against its
//! [`SimExchange`](super::SimExchange) directly, and the paper exchange of
//! `martingale-exchange` executes the same steps through its runner, so a
//! paper replay and a backtest of the same candles give the same deals.
//!
//! A [`CandleWalk`] is a small state machine. Each call to
//! [`CandleWalk::next`] looks at the engine (its phase and watch levels) and
//! the resting orders of the book *as they are now* and returns the next
//! step: a tick to send to the engine, a resting order to fill, or the end
//! of the candle. The caller executes the step (and whatever the engine does
//! in reaction) before it asks for the next one, so orders placed or
//! canceled in reaction to a fill are seen by the rest of the walk.
//!
//! Rules (the reference semantics the backtest identity tests pin down):
//! - an idle engine first gets a tick at the candle's open, at the candle's
//!   open time; a deal that opens there walks the path from the open, else
//!   the candle ends there (nothing can happen without a deal); so does an
//!   engine whose limit base order times out at this open
//!   ([`Engine::entry_deadline`]): it is canceled before the path, the
//!   start retried by a second tick at the open ([`Engine::start_pending`]),
//!   and the path then starts at the open;
//! - otherwise the path starts at the previous close (at the open when there
//!   is none) and visits the candle's four path points;
//! - along each straight segment the nearest reached price fires first:
//!   resting buys on the way down and sells on the way up (crossed strictly,
//!   or touched with `limit_fill = touch`), and the engine's watch levels
//!   (stop loss, trailing arm / exit) when touched; at one price a watch
//!   level beats a resting order. A resting order already beyond the current
//!   price is reached at once, at the current price (it fills at its own
//!   price). A watch level whose tick made the engine do nothing is not
//!   reported again on that segment (see [`CandleWalk::inert`]);
//! - each segment ends with a tick at its end point;
//! - once the engine is idle again (the deal closed), the candle ends.
//!
//! Every event inside the candle carries the candle's last millisecond
//! (`open time + interval - 1`).

use rust_decimal::Decimal;

use super::sim::Resting;
use crate::config::{LimitFill, PathModel};
use crate::engine::{candle_path, Candle, Engine, PhaseKind, TimeMs};
use crate::market::cmp;
use crate::{OrderSide, Side};

/// The next step of a [`CandleWalk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkStep {
    /// Send the engine a tick at `price`. `watch` is set when the price is a
    /// watch level the path reached (stop loss, trailing): if the engine's
    /// answer has no actions, call [`CandleWalk::inert`].
    Tick {
        /// Event time.
        time: TimeMs,
        /// The price the path is at.
        price: Decimal,
        /// Whether a watch level fired the tick.
        watch: bool,
    },
    /// Fill resting order `index` (position in the book's placement order,
    /// as passed to [`CandleWalk::next`]) completely at its own price.
    Fill {
        /// Position of the order in the resting book.
        index: usize,
        /// Event time.
        time: TimeMs,
        /// The price the path is at (the order's price, or the current price
        /// when the order was already beyond it).
        at: Decimal,
    },
    /// The candle is done.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Start,
    Opened,
    Walk,
    Done,
}

#[derive(Clone, Copy, PartialEq)]
enum Hit {
    Watch,
    Limit(usize),
}

/// The walk of one candle (see the module docs).
///
/// ```
/// use martingale_core::backtest::{CandleWalk, SimExchange, WalkStep};
/// use martingale_core::config::{BotFile, PathModel};
/// use martingale_core::engine::{BotId, Candle, Command, Engine, Event};
/// use rust_decimal_macros::dec;
/// let bot = BotFile::example().unwrap();
/// let mut engine = Engine::new(BotId::new("w").unwrap(), &bot).unwrap();
/// engine.handle(Event::Command { time: 0, command: Command::Start }).unwrap();
/// let c = Candle { time: 0, open: dec!(100), high: dec!(101), low: dec!(99), close: dec!(100.5) };
/// let mut walk = CandleWalk::new(&c, None, bot.fill.path, bot.fill.limit_fill, 60_000);
/// // An idle engine is first shown the open, at the candle's open time.
/// let step = walk.next(Some(&engine), SimExchange::new(bot.market.clone(), bot.fees, bot.fill).resting());
/// assert_eq!(step, WalkStep::Tick { time: 0, price: dec!(100), watch: false });
/// ```
#[derive(Debug, Clone)]
pub struct CandleWalk {
    points: [Decimal; 4],
    prev_close: Option<Decimal>,
    open_time: TimeMs,
    inside: TimeMs,
    touch: bool,
    stage: Stage,
    /// Index in `points` of the current segment's end.
    next: usize,
    a: Decimal,
    cur: Decimal,
    last_watch: Decimal,
    inert: Vec<Decimal>,
}

impl CandleWalk {
    /// The walk of candle `c`; `prev_close` is the previous candle's close,
    /// `interval_ms` the candles' interval.
    pub fn new(
        c: &Candle,
        prev_close: Option<Decimal>,
        path: PathModel,
        limit_fill: LimitFill,
        interval_ms: TimeMs,
    ) -> Self {
        CandleWalk {
            points: candle_path(c, path),
            prev_close,
            open_time: c.time,
            inside: c.time.saturating_add(interval_ms.saturating_sub(1)),
            touch: limit_fill == LimitFill::Touch,
            stage: Stage::Start,
            next: 0,
            a: c.open,
            cur: c.open,
            last_watch: Decimal::ZERO,
            inert: Vec::new(),
        }
    }

    /// The time of every event inside the candle (its last millisecond).
    pub fn inside_time(&self) -> TimeMs {
        self.inside
    }

    /// The price the path is at now (where the last step happened).
    pub fn price(&self) -> Decimal {
        self.cur
    }

    /// Reports that the last watch tick made the engine do nothing: that
    /// level is not reported again on this segment.
    pub fn inert(&mut self) {
        self.inert.push(self.last_watch);
    }

    fn begin(&mut self, a: Decimal, first: usize) {
        self.stage = Stage::Walk;
        self.a = a;
        self.cur = a;
        self.next = first;
        self.inert.clear();
    }

    fn advance(&mut self, b: Decimal) {
        self.next += 1;
        self.a = b;
        self.cur = b;
        self.inert.clear();
    }

    /// The next step, given the engine and the resting orders now. Without
    /// an engine (a book with no bot behind it, as in the paper exchange's
    /// plain `feed`) the path is walked for the resting orders alone.
    #[inline]
    pub fn next(&mut self, engine: Option<&Engine>, resting: &[Resting]) -> WalkStep {
        loop {
            let idle = engine.is_some_and(|e| e.phase().kind() == PhaseKind::Idle);
            match self.stage {
                Stage::Done => return WalkStep::Done,
                Stage::Start => {
                    if idle {
                        self.stage = Stage::Opened;
                        self.cur = self.points[0];
                        return WalkStep::Tick { time: self.open_time, price: self.points[0], watch: false };
                    }
                    if engine.and_then(Engine::entry_deadline).is_some_and(|d| d <= self.open_time) {
                        // A limit entry times out at this open: it is
                        // canceled (and the start retried) before the path.
                        self.stage = Stage::Opened;
                        self.cur = self.points[0];
                        return WalkStep::Tick { time: self.open_time, price: self.points[0], watch: false };
                    }
                    let start = self.prev_close.unwrap_or(self.points[0]);
                    self.begin(start, usize::from(self.prev_close.is_none()));
                }
                Stage::Opened => {
                    if idle && engine.is_some_and(Engine::start_pending) {
                        // A limit entry timed out at this open: the start is
                        // retried here (the tick clears the retry).
                        return WalkStep::Tick { time: self.open_time, price: self.points[0], watch: false };
                    }
                    if idle {
                        // No deal: nothing can happen inside the candle.
                        self.stage = Stage::Done;
                        return WalkStep::Done;
                    }
                    // The deal opened at the open: the path starts there.
                    self.begin(self.points[0], 1);
                }
                Stage::Walk => {
                    let Some(&b) = self.points.get(self.next) else {
                        self.stage = Stage::Done;
                        return WalkStep::Done;
                    };
                    if idle {
                        self.stage = Stage::Done;
                        return WalkStep::Done;
                    }
                    let a = self.a;
                    if !cmp(a, b).is_eq() {
                        if let Some((pos, hit)) = self.nearest(engine, resting, a, b) {
                            self.cur = pos;
                            return match hit {
                                Hit::Watch => {
                                    self.last_watch = pos;
                                    WalkStep::Tick { time: self.inside, price: pos, watch: true }
                                }
                                Hit::Limit(index) => WalkStep::Fill { index, time: self.inside, at: pos },
                            };
                        }
                    }
                    self.advance(b);
                    return WalkStep::Tick { time: self.inside, price: b, watch: false };
                }
            }
        }
    }

    /// The nearest price on the segment `cur -> b` where something fires.
    #[inline]
    fn nearest(&self, engine: Option<&Engine>, resting: &[Resting], a: Decimal, b: Decimal) -> Option<(Decimal, Hit)> {
        let down = cmp(b, a).is_lt();
        let touch = self.touch;
        let cur = self.cur;
        let mut best: Option<(Decimal, Hit)> = None;
        let mut consider = |pos: Decimal, hit: Hit| {
            let better = match best {
                None => true,
                Some((p, h)) => {
                    let order = cmp(pos, p);
                    let nearer = if down { order.is_gt() } else { order.is_lt() };
                    nearer || (order.is_eq() && hit == Hit::Watch && h != Hit::Watch)
                }
            };
            if better {
                best = Some((pos, hit));
            }
        };
        for (i, r) in resting.iter().enumerate() {
            let fills_here = (down && r.side == OrderSide::Buy) || (!down && r.side == OrderSide::Sell);
            if !fills_here {
                continue;
            }
            let order = cmp(b, r.price);
            let reached = match (down, touch) {
                (true, true) => order.is_le(),
                (true, false) => order.is_lt(),
                (false, true) => order.is_ge(),
                (false, false) => order.is_gt(),
            };
            if reached {
                // `r.price.min(cur)` / `r.price.max(cur)`, inlined (the same
                // operand wins on a tie): the order fills at its price, or at
                // the current one if the path starts beyond.
                let pos = if down {
                    if cmp(cur, r.price).is_lt() {
                        cur
                    } else {
                        r.price
                    }
                } else if cmp(r.price, cur).is_gt() {
                    r.price
                } else {
                    cur
                };
                consider(pos, Hit::Limit(i));
            }
        }
        let Some(engine) = engine else { return best };
        // At this candle's time: the time limit may start to apply here.
        let w = engine.watch_at(self.inside);
        let (downs, ups) = match engine.strategy().side {
            Side::Long => ([w.stop_loss, w.trailing_exit], [w.trailing_arm, w.time_limit]),
            Side::Short => ([w.trailing_arm, w.time_limit], [w.stop_loss, w.trailing_exit]),
        };
        let (ahead, behind) = if down { (downs, ups) } else { (ups, downs) };
        for level in ahead.into_iter().flatten() {
            let reached = if down { b <= level } else { b >= level };
            let pos = if down { level.min(cur) } else { level.max(cur) };
            if reached && !self.inert.contains(&pos) {
                consider(pos, Hit::Watch);
            }
        }
        // A level of the other direction already at or beyond the current
        // price (a stop moved to break-even above a long's price, a time
        // limit met at a fill's price) fires at once, at the current price.
        for level in behind.into_iter().flatten() {
            let beyond = if down { cur >= level } else { cur <= level };
            if beyond && !self.inert.contains(&cur) {
                consider(cur, Hit::Watch);
            }
        }
        best
    }
}
