//! The order book every fake venue keeps for one account on BTC/USDT:
//! orders with their fills, balances, and a scripted price that fills the
//! resting limits it reaches (half of the open quantity first, the rest on
//! the next move, so partial fills are exercised). Each fake server speaks
//! its venue's dialect over this book.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Where an order is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderState {
    New,
    Partial,
    Filled,
    Canceled,
}

#[derive(Clone, Debug)]
pub struct Order {
    pub id: String,
    pub buy: bool,
    pub limit: bool,
    pub price: Decimal,
    pub qty: Decimal,
    pub filled: Decimal,
    /// Filled quote.
    pub value: Decimal,
    pub state: OrderState,
    /// The state before the last change (for stale reports).
    pub previous: Option<Box<Order>>,
    /// The venue's own order id (1-based).
    pub number: usize,
    /// Placement time (ms).
    pub time: i64,
}

impl Order {
    pub fn is_open(&self) -> bool {
        matches!(self.state, OrderState::New | OrderState::Partial)
    }

    /// Average fill price (zero before any fill).
    pub fn average(&self) -> Decimal {
        if self.filled.is_zero() {
            Decimal::ZERO
        } else {
            self.value / self.filled
        }
    }
}

#[derive(Clone, Debug)]
pub struct Trade {
    /// 1-based trade number.
    pub n: usize,
    pub order: String,
    pub buy: bool,
    pub price: Decimal,
    pub qty: Decimal,
    /// Trade time (ms).
    pub time: i64,
}

#[derive(Default)]
pub struct Book {
    pub orders: Vec<Order>,
    pub trades: Vec<Trade>,
    pub usdt: Decimal,
    pub btc: Decimal,
    pub price: Decimal,
}

impl Book {
    pub fn funded(usdt: Decimal, price: Decimal) -> Book {
        Book { usdt, price, ..Default::default() }
    }

    pub fn find(&self, id: &str) -> Option<usize> {
        self.orders.iter().position(|o| o.id == id)
    }

    /// Stores a new order if the balance covers it (at its limit, or the
    /// last price for a market order, which fills at once); `None` when
    /// the balance is short. Duplicates and minimums are the venue's checks.
    pub fn place(&mut self, id: &str, buy: bool, limit: Option<Decimal>, qty: Decimal) -> Option<usize> {
        let px = limit.unwrap_or(self.price);
        if (buy && px * qty > self.usdt) || (!buy && qty > self.btc) {
            return None;
        }
        self.orders.push(Order {
            id: id.to_string(),
            buy,
            limit: limit.is_some(),
            price: limit.unwrap_or(Decimal::ZERO),
            qty,
            filled: Decimal::ZERO,
            value: Decimal::ZERO,
            state: OrderState::New,
            previous: None,
            number: self.orders.len() + 1,
            time: now(),
        });
        let i = self.orders.len() - 1;
        if limit.is_none() {
            let px = self.price;
            self.fill(i, px, qty);
        }
        Some(i)
    }

    fn remember(&mut self, i: usize) {
        let before = self.orders[i].clone();
        self.orders[i].previous = Some(Box::new(Order { previous: None, ..before }));
    }

    pub fn fill(&mut self, i: usize, price: Decimal, qty: Decimal) {
        self.remember(i);
        let o = &mut self.orders[i];
        o.filled += qty;
        o.value += price * qty;
        o.state = if o.filled == o.qty { OrderState::Filled } else { OrderState::Partial };
        let (buy, id) = (o.buy, o.id.clone());
        if buy {
            self.btc += qty;
            self.usdt -= price * qty;
        } else {
            self.btc -= qty;
            self.usdt += price * qty;
        }
        let n = self.trades.len() + 1;
        self.trades.push(Trade { n, order: id, buy, price, qty, time: now() });
    }

    /// `n` past orders, one every `step_ms` from `start`, each filled by
    /// two trades (client ids `hist-<k>`): a history longer than one page,
    /// for the paging tests. Balances are left as they are.
    pub fn seed_history(&mut self, n: usize, start: i64, step_ms: i64) {
        for k in 0..n {
            let time = start + k as i64 * step_ms;
            let id = format!("hist-{k}");
            let buy = k % 2 == 0;
            self.orders.push(Order {
                id: id.clone(),
                buy,
                limit: true,
                price: dec!(40000),
                qty: dec!(0.002),
                filled: dec!(0.002),
                value: dec!(80),
                state: OrderState::Filled,
                previous: None,
                number: self.orders.len() + 1,
                time,
            });
            for _ in 0..2 {
                let n = self.trades.len() + 1;
                self.trades.push(Trade { n, order: id.clone(), buy, price: dec!(40000), qty: dec!(0.001), time });
            }
        }
    }

    /// Cancels an open order; false when it is not open.
    pub fn cancel(&mut self, i: usize) -> bool {
        if !self.orders[i].is_open() {
            return false;
        }
        self.remember(i);
        self.orders[i].state = OrderState::Canceled;
        true
    }

    /// Moves the price; resting limits it reaches fill (half first).
    pub fn move_price(&mut self, price: Decimal) {
        self.price = price;
        for i in 0..self.orders.len() {
            let o = &self.orders[i];
            let reached = (o.buy && price <= o.price) || (!o.buy && price >= o.price);
            if o.limit && reached && o.is_open() {
                let open = o.qty - o.filled;
                let part = if o.state == OrderState::New { (open / dec!(2)).round_dp(5) } else { open };
                let px = o.price;
                self.fill(i, px, part);
            }
        }
    }
}
