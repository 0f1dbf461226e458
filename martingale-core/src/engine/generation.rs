//! Start generations: client order ids that never repeat across fresh starts.
//!
//! Venues refuse a duplicate client order id only while the first order
//! with that id is open. A bot whose state was lost and that starts again
//! at deal 1 would otherwise send `bot-1-b-0` a second time, and a query by
//! that id could then answer with the old order. So an engine created for a
//! live or paper run carries a [`IdGeneration`]: the second its run started
//! (Unix time, base 36), written into every id it builds:
//! `{bot}-{generation}-{deal}-{role}-{seq}`. Engines made with
//! [`Engine::new`](super::Engine::new) (backtests, research) keep the short
//! form `{bot}-{deal}-{role}-{seq}`.
//!
//! Invariants:
//! - every id the engine builds is at most 36 characters of
//!   `[A-Za-z0-9_-]`: when the next deal's ids might not fit (a long bot id
//!   and a deal number grown past the room left), the engine rolls to a new
//!   generation stamped with the deal's start second (later than any earlier
//!   stamp of this bot), and numbers that generation's deals from 1 in its ids;
//! - two engines of one bot started in different seconds never build the
//!   same id; the runner refuses a fresh start while the venue still holds
//!   orders or recent fills of the bot, which covers two starts in one second.
//!
//! Known limit: a bot id that is a prefix of another bot's id followed by
//! `-` (`a` and `a-b`) can mistake the other's ids for its own in
//! [`BotId::owns`] when the rest happens to parse; the runner only uses it to
//! refuse a start, the safe direction.

use serde::{Deserialize, Serialize};

use super::ids::{BotId, ClientOrderId, OrderRole};
use super::TimeMs;

/// Longest client order id the venues accept (Binance, Bybit).
pub const MAX_CLIENT_ORDER_ID_LEN: usize = 36;

/// Room kept for a deal's order sequence numbers in base 36 (1,679,615
/// orders per deal) when deciding whether a deal's ids fit.
const SEQ_ROOM: usize = 4;

/// The generation part of a bot's client order ids (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdGeneration {
    /// Unix second at which this generation started.
    pub stamp: u64,
    /// The first deal number of this generation; its ids number deals from
    /// 1 (`number - first_deal + 1`).
    pub first_deal: u32,
}

impl IdGeneration {
    /// The generation of a fresh start at `time` (ms since the Unix epoch).
    ///
    /// ```
    /// use martingale_core::engine::IdGeneration;
    /// let g = IdGeneration::starting_at(1_765_000_000_000);
    /// assert_eq!((g.stamp, g.first_deal), (1_765_000_000, 1));
    /// ```
    pub fn starting_at(time: TimeMs) -> IdGeneration {
        IdGeneration { stamp: time.max(0).unsigned_abs() / 1000, first_deal: 1 }
    }

    /// The deal segment of deal `number`'s ids.
    pub(crate) fn deal_segment(self, number: u32) -> u32 {
        number.saturating_sub(self.first_deal).saturating_add(1)
    }

    /// The generation deal `number` (started at `time`) uses: this one when
    /// its longest id fits, else a new one stamped later than this one.
    pub(crate) fn for_deal(self, bot: &BotId, number: u32, max_level: u32, time: TimeMs) -> IdGeneration {
        if longest_id(bot, self.stamp, self.deal_segment(number), max_level) <= MAX_CLIENT_ORDER_ID_LEN {
            return self;
        }
        let stamp = (self.stamp + 1).max(IdGeneration::starting_at(time).stamp);
        IdGeneration { stamp, first_deal: number }
    }
}

/// Length of the longest id of a deal: the largest safety role and a
/// sequence number of [`SEQ_ROOM`] digits.
fn longest_id(bot: &BotId, stamp: u64, deal: u32, max_level: u32) -> usize {
    let role = 1 + digits(u64::from(max_level), 10).max(1);
    bot.as_str().len() + 1 + digits(stamp, 36) + 1 + digits(u64::from(deal), 36) + 1 + role + 1 + SEQ_ROOM
}

fn digits(mut n: u64, radix: u64) -> usize {
    let mut d = 1;
    while n >= radix {
        n /= radix;
        d += 1;
    }
    d
}

/// What an id built by the engine says about its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderIdParts {
    /// The generation stamp (`None` for the short form without one).
    pub generation: Option<u64>,
    /// The deal segment (the deal number within its generation).
    pub deal: u32,
    /// The order's role.
    pub role: OrderRole,
    /// The order's sequence number within its deal.
    pub seq: u32,
}

impl ClientOrderId {
    /// Reads an id as one built by `bot`'s engine; `None` when it is not
    /// (another bot's, or anything else).
    ///
    /// ```
    /// use martingale_core::engine::{BotId, ClientOrderId, OrderRole};
    /// let bot = BotId::new("btc1").unwrap();
    /// let p = ClientOrderId::from_raw("btc1-tbj9a8-2-s3-z").parse_for(&bot).unwrap();
    /// assert_eq!((p.generation, p.deal, p.role, p.seq), (Some(1_772_893_376), 2, OrderRole::Safety(3), 35));
    /// assert!(ClientOrderId::from_raw("btc1-1-tp-4").parse_for(&bot).is_some());
    /// assert!(ClientOrderId::from_raw("btc2-1-tp-4").parse_for(&bot).is_none());
    /// ```
    pub fn parse_for(&self, bot: &BotId) -> Option<OrderIdParts> {
        let rest = self.as_str().strip_prefix(bot.as_str())?.strip_prefix('-')?;
        let parts: Vec<&str> = rest.split('-').collect();
        let (generation, deal, role, seq) = match parts.as_slice() {
            [deal, role, seq] => (None, *deal, *role, *seq),
            [generation, deal, role, seq] => (Some(base36(generation)?), *deal, *role, *seq),
            _ => return None,
        };
        let deal = u32::try_from(base36(deal)?).ok()?;
        let seq = u32::try_from(base36(seq)?).ok()?;
        Some(OrderIdParts { generation, deal, role: role_from_code(role)?, seq })
    }
}

impl BotId {
    /// True when `id` reads as one of this bot's client order ids, of any
    /// generation (see the module docs for the one ambiguity).
    ///
    /// ```
    /// use martingale_core::engine::{BotId, ClientOrderId};
    /// let bot = BotId::new("dca").unwrap();
    /// assert!(bot.owns(&ClientOrderId::from_raw("dca-tbj9a8-1-b-0")));
    /// assert!(!bot.owns(&ClientOrderId::from_raw("dca-manual-order")));
    /// ```
    pub fn owns(&self, id: &ClientOrderId) -> bool {
        id.parse_for(self).is_some()
    }
}

fn base36(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()) {
        return None;
    }
    u64::from_str_radix(s, 36).ok()
}

fn role_from_code(code: &str) -> Option<OrderRole> {
    Some(match code {
        "b" => OrderRole::Base,
        "tp" => OrderRole::TakeProfit,
        "sl" => OrderRole::StopLoss,
        "tr" => OrderRole::Trailing,
        "x" => OrderRole::CloseNow,
        "a" => OrderRole::AddFunds,
        "r" => OrderRole::Residual,
        "tl" => OrderRole::TimeLimit,
        s if s.starts_with("tp") => {
            let &[first, last] = s.as_bytes().get(2..)? else { return None };
            let (first, last) = (first.wrapping_sub(b'0'), last.wrapping_sub(b'0'));
            let max = u8::try_from(crate::config::MAX_TP_STEPS).unwrap_or(u8::MAX);
            if first == 0 || first > last || last > max {
                return None;
            }
            OrderRole::TakeProfitStep { first, last }
        }
        s => {
            let n = s.strip_prefix('s')?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            OrderRole::Safety(n.parse().ok()?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bot(s: &str) -> BotId {
        BotId::new(s).unwrap()
    }

    #[test]
    fn ids_round_trip_through_the_parser_in_both_forms() {
        let b = bot("A_b-9");
        let g = IdGeneration::starting_at(1_765_000_000_123);
        for role in [
            OrderRole::Base,
            OrderRole::Safety(0),
            OrderRole::Safety(200),
            OrderRole::TakeProfit,
            OrderRole::StopLoss,
            OrderRole::Trailing,
            OrderRole::CloseNow,
            OrderRole::AddFunds,
            OrderRole::Residual,
            OrderRole::TimeLimit,
            OrderRole::TakeProfitStep { first: 1, last: 1 },
            OrderRole::TakeProfitStep { first: 2, last: 8 },
        ] {
            for (deal, seq) in [(1, 0), (36, 35), (46_655, 1_679_615)] {
                let short = ClientOrderId::new(&b, deal, role, seq);
                assert_eq!(short.parse_for(&b), Some(OrderIdParts { generation: None, deal, role, seq }));
                let long = ClientOrderId::with_generation(&b, Some(g), deal, role, seq);
                assert_eq!(long.parse_for(&b), Some(OrderIdParts { generation: Some(g.stamp), deal, role, seq }));
                assert!(b.owns(&long) && b.owns(&short));
                assert!(!bot("A_b").owns(&short) || short.as_str().starts_with("A_b-9"));
            }
        }
    }

    #[test]
    fn foreign_and_malformed_ids_are_not_owned() {
        let b = bot("dca");
        for id in
            ["dca", "dca-", "dca-1-b", "dca-1-q-0", "dca-1-s-0", "dca-1-sx-0", "dcab-1-b-0", "dca-1-b-0-0-0", "x-1-b-0"]
        {
            assert!(!b.owns(&ClientOrderId::from_raw(id)), "{id}");
        }
        assert!(!b.owns(&ClientOrderId::from_raw("dca-TBJ-1-b-0")), "upper case is not base 36 here");
    }

    #[test]
    fn a_generation_rolls_when_the_next_deal_would_not_fit() {
        let long = bot("abcdefghijklmno"); // 15 characters, the longest
        let g = IdGeneration::starting_at(1_765_000_000_000);
        // 15 + 1 + 6 + 1 + deal + 1 + 4 ("s200") + 1 + 4 <= 36 leaves 3 digits for the deal.
        assert_eq!(g.for_deal(&long, 46_655, 200, 0), g);
        let rolled = g.for_deal(&long, 46_656, 200, 1_765_000_500_000);
        assert_eq!(rolled, IdGeneration { stamp: 1_765_000_500, first_deal: 46_656 });
        assert_eq!(rolled.deal_segment(46_656), 1);
        // A clock that did not move still gives a later stamp.
        assert_eq!(g.for_deal(&long, 46_656, 200, 0).stamp, g.stamp + 1);
        let id = ClientOrderId::with_generation(
            &long,
            Some(rolled),
            rolled.deal_segment(46_656 + 46_654),
            OrderRole::Safety(200),
            1_679_615,
        );
        assert!(id.as_str().len() <= MAX_CLIENT_ORDER_ID_LEN, "{id}");
        // A short bot id never rolls in practice.
        assert_eq!(g.for_deal(&bot("b"), 1_000_000, 200, 0), g);
    }

    #[test]
    fn different_start_seconds_never_share_an_id() {
        let b = bot("x");
        let a = ClientOrderId::with_generation(&b, Some(IdGeneration::starting_at(1_000)), 1, OrderRole::Base, 0);
        let c = ClientOrderId::with_generation(&b, Some(IdGeneration::starting_at(2_000)), 1, OrderRole::Base, 0);
        assert_ne!(a, c);
        assert_eq!(a.as_str(), "x-1-1-b-0");
        assert_eq!(c.as_str(), "x-2-1-b-0");
    }
}

#[cfg(test)]
mod engine_tests {
    use rust_decimal_macros::dec;

    use crate::config::BotFile;
    use crate::engine::{Action, BotId, Command, Engine, Event, OrderUpdate};

    fn bot() -> BotFile {
        BotFile::from_json(
            r#"{"strategy": {"base_order": {"quote": "100"}, "safety_order": {"quote": "200"},
                "max_safety_orders": 3, "price_deviation": "2", "take_profit": {"percent": "1"}},
                "market": {"tick_size": "0.01", "step_size": "0.001", "min_notional": "5"},
                "fees": {"maker": "0.001", "taker": "0.002"}}"#,
        )
        .unwrap()
    }

    /// Runs `deals` whole deals (base fill, take-profit fill) and returns every id placed.
    fn ids_of(mut e: Engine, t0: i64, deals: usize) -> (Engine, Vec<String>) {
        let mut ids = Vec::new();
        let mut t = t0;
        e.handle(Event::Command { time: t, command: Command::Start }).unwrap();
        for _ in 0..deals {
            t += 1000;
            let out = e.handle(Event::Tick { time: t, price: dec!(100) }).unwrap();
            let Some(Action::Place(base)) = out.actions.first() else { panic!("no base order") };
            ids.push(base.client_order_id.to_string());
            let fill = OrderUpdate::Fill {
                client_order_id: base.client_order_id.clone(),
                cumulative_qty: base.quantity,
                price: dec!(100),
                fee: None,
            };
            let out = e.handle(Event::Order { time: t, update: fill }).unwrap();
            let mut tp = None;
            for a in &out.actions {
                if let Action::Place(o) = a {
                    ids.push(o.client_order_id.to_string());
                    if o.role == crate::engine::OrderRole::TakeProfit {
                        tp = Some(o.clone());
                    }
                }
            }
            let tp = tp.unwrap();
            let fill = OrderUpdate::Fill {
                client_order_id: tp.client_order_id.clone(),
                cumulative_qty: tp.quantity,
                price: dec!(101),
                fee: None,
            };
            let out = e.handle(Event::Order { time: t, update: fill }).unwrap();
            let mut closed = out.closed.len();
            for a in out.actions {
                if let Action::Cancel { client_order_id } = a {
                    let update = OrderUpdate::Canceled { client_order_id };
                    closed += e.handle(Event::Order { time: t, update }).unwrap().closed.len();
                }
            }
            assert_eq!(closed, 1);
        }
        (e, ids)
    }

    #[test]
    fn two_fresh_starts_of_one_bot_never_share_an_id_and_snapshots_keep_the_generation() {
        let id = BotId::new("dca").unwrap();
        let first = Engine::starting_at(id.clone(), &bot(), 1_765_000_000_000).unwrap();
        let (first, a) = ids_of(first, 1_765_000_000_000, 3);
        let second = Engine::starting_at(id.clone(), &bot(), 1_765_000_060_000).unwrap();
        let (_, b) = ids_of(second, 1_765_000_060_000, 3);
        assert!(a.iter().all(|x| !b.contains(x)), "{a:?} {b:?}");
        assert!(a.iter().chain(&b).all(|x| id.owns(&crate::engine::ClientOrderId::from_raw(x.as_str()))));
        assert_eq!(a[0], "dca-t6u2ps-1-b-0");
        let restored = Engine::from_json(&first.to_json()).unwrap();
        assert_eq!(restored, first);
        assert_eq!(restored.generation(), first.generation());
        // An engine without a generation keeps the short ids and its snapshot format.
        let (plain, c) = ids_of(Engine::new(id, &bot()).unwrap(), 0, 1);
        assert_eq!(c[0], "dca-1-b-0");
        assert!(!plain.to_json().contains("generation"));
    }
}
