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
use super::walk::{CandleWalk, WalkStep};
use crate::config::FillModel;
use crate::engine::{
    Action, Candle, DealReport, Engine, EngineError, Event, OrderRequest, OrderUpdate, Output, TimeMs,
};

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
/// let bot: BotFile = martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap();
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

impl<'e> Driver<'e> {
    /// A driver for `engine`; `interval_ms` is the candles' interval.
    pub fn new(engine: &'e mut Engine, fill: FillModel, interval_ms: TimeMs) -> Self {
        let mut sim = SimExchange::new(engine.rules().clone(), *engine.fees(), fill);
        // A restored engine's live orders still rest on the exchange.
        sim.restore(engine.deal().map(|d| d.orders.as_slice()).unwrap_or_default());
        // The time limit counts whole candles (SPEC 10.1).
        engine.set_clock_grain(Some(interval_ms));
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
    /// The path is walked by [`CandleWalk`] (the walk the paper exchange
    /// shares); this executes its steps against the simulated exchange.
    pub fn candle(&mut self, index: usize, c: &Candle, prev_close: Option<Decimal>) -> Result<(), EngineError> {
        self.candle = index;
        let mut walk = CandleWalk::new(c, prev_close, self.fill.path, self.fill.limit_fill, self.interval_ms);
        loop {
            match walk.next(Some(self.engine), self.sim.resting()) {
                WalkStep::Tick { time, price, watch } => {
                    let out = self.engine.handle(Event::Tick { time, price })?;
                    if watch && out.actions.is_empty() {
                        walk.inert();
                    }
                    self.pump(out, time)?;
                }
                WalkStep::Fill { index, time, .. } => {
                    if let Some(update) = self.sim.fill_resting(index) {
                        self.record_fill(&update, time);
                        let out = self.engine.handle(Event::Order { time, update })?;
                        self.pump(out, time)?;
                    }
                }
                WalkStep::Done => return Ok(()),
            }
        }
    }
}
