//! Issue 14 item 1 on every venue: a proxy in front of each fake venue
//! forwards every order placement (so the order executes) and then answers
//! the client with one of the answers that venue documents as "outcome
//! unknown", a 5xx, an unreadable body, or a redirect:
//!
//! - Binance: -1007 on HTTP 408 and 400 ("execution status unknown"),
//!   -1006, -1001, -1000 (unknown error);
//! - Bybit (HTTP 200): 10000 "Server Timeout", 10016 "Internal server
//!   error", 170001 "Internal error", 170007 "Timeout waiting for response
//!   from backend server";
//! - OKX: 50004 "API endpoint request timeout (does not mean that the
//!   request was successful or failed, please check the request result)"
//!   and 50013 "Systems are busy" (HTTP 200), 50001 on 503, 50026 on 500,
//!   per-order `sCode` 51149 "Order timed out";
//! - CoinDCX: 500 "We had a problem with our server", 503 "temporarily
//!   offline", 502 and 504 from a gateway;
//!
//! and, for all four, HTTP 500 / 502 with an empty or HTML body, an
//! unreadable 200, and 301/302/303/307/308 redirects to a recording host.
//! A real `Runner` driven through the proxy must place every order exactly
//! once (the proxy counts placements by client order id), resolve each by
//! querying its id, and end exactly like the run without the proxy: same
//! orders and fills on the venue, same P&L, same open position; nothing
//! follows a redirect.

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::crashy::MemStore;
use common::proxy::{ambiguous_proxy, recorder, Answer};
use common::venue_crash::{closes, every_venue_bot, Harness};
use common::{fake_binance, fake_bybit, fake_coindcx, fake_okx};
use martingale_core::engine::{BotId, Command};
use martingale_exchange::{Exchange, ExchangeError, Runner, RunnerConfig, RunnerError, StateStore};
use rust_decimal::Decimal;

/// The scenario's outcome, as the runner and the venue see it.
#[derive(Debug)]
struct Outcome {
    totals: martingale_core::pnl::BotTotals,
    open: Option<(Decimal, Decimal)>,
    /// Orders and fills on the venue.
    counts: (usize, usize),
}

/// Drives a runner through `closes`; returns the outcome and the number
/// of steps a redirect stopped (the order stays `sent`, the next step
/// queries it).
async fn drive<E: Exchange + 'static>(name: &str, h: Harness<E>, closes: &[Decimal]) -> (Outcome, usize) {
    let b = every_venue_bot();
    let store: Arc<dyn StateStore> = Arc::new(MemStore::default());
    let cfg = RunnerConfig { account: "bob".into(), symbol: h.symbol.clone(), cancel_on_shutdown: false };
    let id = BotId::new("ambig-x").unwrap();
    // The venue's clock (fills are answered within the venue's reach only).
    let t0 = common::book::now() / 60_000 * 60_000;
    let mut runner = Runner::start(id, &b, h.venue.clone(), store, None, cfg, t0).await.unwrap();
    let mut redirects = 0;
    let mut count = |r: Result<(), RunnerError>, what: &str| match r {
        Ok(()) => {}
        Err(RunnerError::Exchange(ExchangeError::Redirect { .. })) => redirects += 1,
        Err(e) => panic!("{name} {what}: {e}"),
    };
    count(runner.command(t0, Command::Start).await, "start");
    for (i, p) in closes.iter().enumerate() {
        (h.move_price)(*p);
        count(runner.step(t0 + (i as i64 + 1) * 60_000).await, &format!("step {i}"));
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let e = runner.engine();
    let outcome = Outcome {
        totals: e.totals().clone(),
        open: e.deal().map(|d| (d.position.open_qty(), d.position.entry_value())),
        counts: (h.counts)(),
    };
    (outcome, redirects)
}

/// A venue under test: its placement path, the answers it documents as
/// ambiguous, and how to start its fake and build a client for a URL.
struct Case<E: Exchange> {
    name: &'static str,
    place_path: &'static str,
    answers: Vec<Answer>,
    start: fn(Decimal) -> Starting<E>,
}

/// A started fake: its URL, a harness on it, and how to build a client
/// for another URL (the proxy's).
type Started<E> = (String, Harness<E>, Arc<dyn Fn(&str) -> Arc<E> + Send + Sync>);
type Starting<E> = Pin<Box<dyn Future<Output = Started<E>> + Send>>;

/// `Case::start` for a fake keeping the shared `book` (Bybit, OKX, CoinDCX).
macro_rules! book_fake {
    ($fake:ident, $symbol:literal) => {
        |price| {
            Box::pin(async move {
                let mut f = $fake::funded();
                f.book.usdt = Decimal::from(1_000_000);
                f.book.price = price;
                let (fake, url) = $fake::serve(f).await;
                let (f1, f2) = (fake.clone(), fake);
                let h = Harness {
                    venue: Arc::new($fake::client(&url, $fake::SECRET)),
                    move_price: Box::new(move |p| $fake::move_price(&mut f1.lock().unwrap(), p)),
                    counts: Box::new(move || {
                        let f = f2.lock().unwrap();
                        (f.book.orders.len(), f.book.trades.len())
                    }),
                    symbol: $symbol.into(),
                };
                let client: Arc<dyn Fn(&str) -> _ + Send + Sync> =
                    Arc::new(|u: &str| Arc::new($fake::client(u, $fake::SECRET)));
                (url, h, client)
            })
        }
    };
}

async fn check<E: Exchange + 'static>(case: Case<E>) {
    let closes = closes(160);
    let (_, clean_h, _) = (case.start)(closes[0]).await;
    let (clean, _) = drive(case.name, clean_h, &closes).await;
    assert!(clean.totals.closed_deals >= 2, "{}: the scenario must trade: {:?}", case.name, clean.totals);

    let (url, mut h, client) = (case.start)(closes[0]).await;
    let (elsewhere, conns, bytes) = recorder().await;
    let kinds = case.answers.len();
    let (proxy, seen) = ambiguous_proxy(url, elsewhere, case.place_path, case.answers).await;
    h.venue = client(&proxy);
    let (run, redirects) = drive(case.name, h, &closes).await;
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    // Every kind of ambiguous answer was given, more than once.
    assert!(seen.placements >= 2 * kinds, "{}: {} placements for {kinds} kinds", case.name, seen.placements);
    assert!(redirects > 0, "{}", case.name);
    let twice: HashMap<_, _> = seen.placed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{}: placed twice: {twice:?}", case.name);
    assert_eq!(seen.placed.len(), run.counts.0, "{}: every order on the venue was placed once", case.name);
    // The same trades, P&L and open position as without the proxy. (The
    // number of orders may differ: a runner that learns of a fill a step
    // later can skip a replacement the clean run placed and canceled.)
    assert_eq!(run.counts.1, clean.counts.1, "{}: fills differ from the run without the proxy", case.name);
    assert_eq!(
        (&run.totals, run.open),
        (&clean.totals, clean.open),
        "{}: differs from the run without the proxy",
        case.name
    );
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let leaked = String::from_utf8_lossy(&bytes.lock().unwrap()).to_string();
    assert_eq!(conns.load(Ordering::SeqCst), 0, "{}: a request followed a redirect: {leaked}", case.name);
    println!(
        "{}: {} placements answered ambiguously ({kinds} kinds), {redirects} redirects; {} deals and {} fills as without the proxy ({} / {} orders)",
        case.name, seen.placements, clean.totals.closed_deals, clean.counts.1, run.counts.0, clean.counts.0
    );
}

fn json(status: u16, body: &str) -> Answer {
    Answer::body(status, body)
}

/// The answers every venue may give through a gateway.
fn common_answers(unreadable: &str) -> Vec<Answer> {
    let mut v = vec![json(500, ""), json(502, "<html><body>502 Bad Gateway</body></html>"), json(200, unreadable)];
    v.extend(Answer::redirects());
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_ambiguous_answers_are_resolved_by_query() {
    let timeout = "Timeout waiting for response from backend server. Send status unknown; execution status unknown.";
    let mut answers = vec![
        json(408, &format!(r#"{{"code":-1007,"msg":"{timeout}"}}"#)),
        json(400, &format!(r#"{{"code":-1007,"msg":"{timeout}"}}"#)),
        json(
            400,
            r#"{"code":-1006,"msg":"An unexpected response was received from the message bus. Execution status unknown."}"#,
        ),
        json(400, r#"{"code":-1001,"msg":"Internal error; unable to process your request. Please try again."}"#),
        json(200, r#"{"code":-1000,"msg":"An unknown error occurred while processing the request."}"#),
        json(503, "<html>maintenance</html>"),
    ];
    answers.extend(common_answers(r#"{"symbol":"#));
    check(Case {
        name: "binance",
        place_path: "/api/v3/order",
        answers,
        start: |price| {
            Box::pin(async move {
                let mut f = fake_binance::funded();
                f.usdt = Decimal::from(1_000_000);
                f.price = price;
                let (fake, url) = fake_binance::serve(f).await;
                let (f1, f2) = (fake.clone(), fake);
                let h = Harness {
                    venue: Arc::new(fake_binance::client(&url, fake_binance::SECRET)),
                    move_price: Box::new(move |p| fake_binance::move_price(&mut f1.lock().unwrap(), p)),
                    counts: Box::new(move || {
                        let f = f2.lock().unwrap();
                        (f.orders.len(), f.trades.len())
                    }),
                    symbol: "BTCUSDT".into(),
                };
                let client: Arc<dyn Fn(&str) -> _ + Send + Sync> =
                    Arc::new(|u: &str| Arc::new(fake_binance::client(u, fake_binance::SECRET)));
                (url, h, client)
            })
        },
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_ambiguous_answers_are_resolved_by_query() {
    let bybit = |code: i64, msg: &str| {
        json(
            200,
            &format!(r#"{{"retCode":{code},"retMsg":"{msg}","result":{{}},"retExtInfo":{{}},"time":1672211918471}}"#),
        )
    };
    let mut answers = vec![
        bybit(10000, "Server Timeout"),
        bybit(10016, "Internal server error."),
        bybit(170001, "Internal error."),
        bybit(170007, "Timeout waiting for response from backend server."),
    ];
    answers.extend(common_answers(r#"{"retCode":0,"result":{"orderId":"#));
    check(Case { name: "bybit", place_path: "/v5/order/create", answers, start: book_fake!(fake_bybit, "BTCUSDT") })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okx_ambiguous_answers_are_resolved_by_query() {
    let okx =
        |status: u16, code: &str, msg: &str| json(status, &format!(r#"{{"code":"{code}","msg":"{msg}","data":[]}}"#));
    let mut answers = vec![
        okx(
            200,
            "50004",
            "API endpoint request timeout (does not mean that the request was successful or failed, please check the request result)",
        ),
        okx(200, "50013", "Systems are busy. Please try again later."),
        okx(503, "50001", "Service temporarily unavailable. Please try again later."),
        okx(500, "50026", "System error. Try again later."),
        json(
            200,
            r#"{"code":"1","msg":"Operation failed.","data":[{"clOrdId":"","ordId":"","sCode":"51149","sMsg":"Order timed out. Please try again.","tag":""}]}"#,
        ),
    ];
    answers.extend(common_answers(r#"{"code":"0","data":[{"ordId":"#));
    check(Case { name: "okx", place_path: "/api/v5/trade/order", answers, start: book_fake!(fake_okx, "BTC-USDT") })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coindcx_ambiguous_answers_are_resolved_by_query() {
    let mut answers = vec![
        json(500, r#"{"code":500,"message":"We had a problem with our server. Try again later.","status":"error"}"#),
        json(
            503,
            r#"{"code":503,"message":"We're temporarily offline for maintenance. Please try again later.","status":"error"}"#,
        ),
        json(504, "<html><body>504 Gateway Time-out</body></html>"),
    ];
    answers.extend(common_answers(r#"{"orders":[{"id":"#));
    check(Case {
        name: "coindcx",
        place_path: "/exchange/v1/orders/create",
        answers,
        start: book_fake!(fake_coindcx, "BTCUSDT"),
    })
    .await;
}
