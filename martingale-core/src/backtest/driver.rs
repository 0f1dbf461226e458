//! The event-driven candle driver: walks each candle's price path and feeds
//! the [`Engine`] exactly the ticks and order reports a live exchange would,
//! with fills from the [`SimExchange`].
//!
//! This is the reference implementation of SPEC section 6. It is written for
//! clarity, not speed: every price where something can happen becomes an
//! event. Times: a candle's open tick carries its open time `T`; everything
//! inside the candle happens at `T + interval - 1` (its last millisecond),
//! so a deal that closes in candle `i` lets the next one start at the open of
//! candle `i + 1` at the earliest, and a cooldown counts whole candles.

use rust_decimal::Decimal;

use super::sim::{FillRecord, SimExchange};
use crate::config::{FillModel, LimitFill};
use crate::engine::{
    candle_path, Action, Candle, DealReport, Engine, EngineError, Event, OrderRequest, OrderUpdate, Output, PhaseKind,
    TimeMs,
};
use crate::market::cmp;
use crate::{OrderSide, Side};

/// What a driven run produced, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Every closed deal.
    pub deals: Vec<DealReport>,
    /// Every fill (unless [`Driver::record_fills`] is off).
    pub fills: Vec<FillRecord>,
    /// Every order placed (only with [`Driver::record_orders`]).
    pub orders: Vec<OrderRequest>,
}

/// Drives one engine over candles through a simulated exchange.
///
/// ```
/// use martingale_core::backtest::{synthetic, Driver};
/// use martingale_core::config::BotFile;
/// use martingale_core::engine::{BotId, Command, Engine, Event};
/// let bot: BotFile = include_str!("../../../examples/bots/example.json").parse().unwrap();
/// let mut engine = Engine::new(BotId::new("d").unwrap(), &bot).unwrap();
/// engine.handle(Event::Command { time: -1, command: Command::Start }).unwrap();
/// let candles = synthetic::random_walk(1, 2_000, 60_000, 30_000.0, 0.002);
/// let mut driver = Driver::new(&mut engine, bot.fill, 60_000);
/// let mut prev = None;
/// for i in 0..candles.len() {
///     let c = candles.get(i).unwrap();
///     driver.candle(i, &c, prev).unwrap();
///     prev = Some(c.close);
/// }
/// assert!(!driver.recorded.fills.is_empty());
/// ```
#[derive(Debug)]
pub struct Driver<'e> {
    engine: &'e mut Engine,
    sim: SimExchange,
    fill: FillModel,
    interval_ms: TimeMs,
    candle: usize,
    record_orders: bool,
    record_fills: bool,
    fill_count: usize,
    updates: Vec<OrderUpdate>,
    /// What happened so far.
    pub recorded: Recorded,
}

#[derive(Clone, Copy, PartialEq)]
enum Hit {
    Watch,
    Limit(usize),
}

impl<'e> Driver<'e> {
    /// A driver for `engine`; `interval_ms` is the candles' interval.
    pub fn new(engine: &'e mut Engine, fill: FillModel, interval_ms: TimeMs) -> Self {
        let mut sim = SimExchange::new(engine.rules().clone(), *engine.fees(), fill);
        // A restored engine's live orders still rest on the exchange.
        sim.restore(engine.deal().map(|d| d.orders.as_slice()).unwrap_or_default());
        Driver {
            engine,
            sim,
            fill,
            interval_ms,
            candle: 0,
            record_orders: false,
            record_fills: true,
            fill_count: 0,
            updates: Vec::new(),
            recorded: Recorded::default(),
        }
    }

    /// Also record every order placed (for audits and tests).
    pub fn record_orders(mut self, on: bool) -> Self {
        self.record_orders = on;
        self
    }

    /// Report resting orders as `Accepted` to the engine (on by default;
    /// see [`SimExchange::acknowledge`]). Deals and fills are the same
    /// either way; only the engine's order states differ (sent vs open).
    pub fn acknowledge(mut self, on: bool) -> Self {
        self.sim = self.sim.acknowledge(on);
        self
    }

    /// Record every fill in [`Recorded::fills`] (on by default; off, fills
    /// are only counted).
    pub fn record_fills(mut self, on: bool) -> Self {
        self.record_fills = on;
        self
    }

    /// Orders resting on the simulated book.
    pub fn resting(&self) -> &[super::sim::Resting] {
        self.sim.resting()
    }

    /// Fills so far (also when [`Recorded::fills`] is cleared by the caller).
    pub fn fill_count(&self) -> usize {
        self.fill_count
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        self.engine
    }

    /// Sends an event and executes everything that follows from it.
    pub fn send(&mut self, event: Event, time: TimeMs) -> Result<(), EngineError> {
        let out = self.engine.handle(event)?;
        self.pump(out, time)
    }

    fn pump(&mut self, mut out: Output, time: TimeMs) -> Result<(), EngineError> {
        // The buffer is kept between calls (no allocation per event); pumps
        // do not nest, so it is always empty here.
        let mut updates = std::mem::take(&mut self.updates);
        let result = self.pump_with(&mut out, time, &mut updates);
        updates.clear();
        self.updates = updates;
        result
    }

    fn pump_with(&mut self, out: &mut Output, time: TimeMs, updates: &mut Vec<OrderUpdate>) -> Result<(), EngineError> {
        loop {
            self.recorded.deals.append(&mut out.closed);
            if out.actions.is_empty() {
                return Ok(());
            }
            if self.record_orders {
                for a in &out.actions {
                    if let Action::Place(o) = a {
                        self.recorded.orders.push(o.clone());
                    }
                }
            }
            updates.clear();
            self.sim.execute(&out.actions, updates);
            *out = Output::default();
            for update in updates.drain(..) {
                self.record_fill(&update, time);
                out.extend(self.engine.handle(Event::Order { time, update })?);
            }
        }
    }

    fn record_fill(&mut self, update: &OrderUpdate, time: TimeMs) {
        let OrderUpdate::Fill { client_order_id, cumulative_qty, price, fee: Some(fee) } = update else {
            return;
        };
        self.fill_count += 1;
        if !self.record_fills {
            return;
        }
        let Some(deal) = self.engine.deal() else {
            return;
        };
        let Some(order) = deal.orders.iter().find(|o| &o.request.client_order_id == client_order_id) else {
            return;
        };
        self.recorded.fills.push(FillRecord {
            candle: self.candle,
            time,
            deal: deal.number,
            client_order_id: client_order_id.clone(),
            role: order.request.role,
            side: order.request.side,
            price: *price,
            quantity: *cumulative_qty - order.filled,
            fee: *fee,
        });
    }

    /// Processes candle `index`; `prev_close` is the previous candle's close.
    pub fn candle(&mut self, index: usize, c: &Candle, prev_close: Option<Decimal>) -> Result<(), EngineError> {
        self.candle = index;
        let inside = c.time.saturating_add(self.interval_ms - 1);
        let points = candle_path(c, self.fill.path);
        let mut start = prev_close;
        if self.engine.phase().kind() == PhaseKind::Idle {
            self.send(Event::Tick { time: c.time, price: c.open }, c.time)?;
            if self.engine.phase().kind() == PhaseKind::Idle {
                return Ok(()); // no deal: nothing can happen inside the candle
            }
            start = None; // the deal opened at the open: the path starts there
        }
        let mut a = start.unwrap_or(points[0]);
        let first = usize::from(start.is_none());
        for &b in &points[first..] {
            self.segment(a, b, inside)?;
            a = b;
        }
        Ok(())
    }

    /// Walks the straight path from `a` to `b`, firing everything reached,
    /// nearest first; a stop beats a limit order at the same price.
    fn segment(&mut self, a: Decimal, b: Decimal, time: TimeMs) -> Result<(), EngineError> {
        if cmp(a, b).is_eq() {
            return self.vertex(b, time);
        }
        let down = cmp(b, a).is_lt();
        let touch = self.fill.limit_fill == LimitFill::Touch;
        let mut cur = a;
        let mut inert: Vec<Decimal> = Vec::new();
        loop {
            if self.engine.phase().kind() == PhaseKind::Idle {
                return Ok(());
            }
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
            for (i, r) in self.sim.resting().iter().enumerate() {
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
                    // `r.price.min(cur)` / `r.price.max(cur)`, inlined (the
                    // same operand wins on a tie): the order fills at its
                    // price, or at the current one if the path starts beyond.
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
            let w = self.engine.watch();
            let side = self.engine.strategy().side;
            let (downs, ups) = match side {
                Side::Long => ([w.stop_loss, w.trailing_exit], [w.trailing_arm, None]),
                Side::Short => ([w.trailing_arm, None], [w.stop_loss, w.trailing_exit]),
            };
            for level in (if down { downs } else { ups }).into_iter().flatten() {
                let reached = if down { b <= level } else { b >= level };
                let pos = if down { level.min(cur) } else { level.max(cur) };
                if reached && !inert.contains(&pos) {
                    consider(pos, Hit::Watch);
                }
            }
            let Some((pos, hit)) = best else { break };
            cur = pos;
            match hit {
                Hit::Watch => {
                    let out = self.engine.handle(Event::Tick { time, price: pos })?;
                    if out.actions.is_empty() {
                        inert.push(pos);
                    }
                    self.pump(out, time)?;
                }
                Hit::Limit(i) => {
                    if let Some(update) = self.sim.fill_resting(i) {
                        self.record_fill(&update, time);
                        let out = self.engine.handle(Event::Order { time, update })?;
                        self.pump(out, time)?;
                    }
                }
            }
        }
        self.vertex(b, time)
    }

    fn vertex(&mut self, price: Decimal, time: TimeMs) -> Result<(), EngineError> {
        if self.engine.phase().kind() == PhaseKind::Idle {
            return Ok(());
        }
        self.send(Event::Tick { time, price }, time)
    }
}
