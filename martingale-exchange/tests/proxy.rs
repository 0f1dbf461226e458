//! Ambiguous answers and redirects between the adapters and the venue.
//!
//! - Issue 14 item 4: API keys never follow a redirect. A local "venue"
//!   answers every request with 301/302/303/307/308 pointing at a second
//!   local listener that records what reaches it. For every adapter,
//!   public and signed requests and order placements end in a typed
//!   `ExchangeError::Redirect`, and nothing (so no key header) ever
//!   arrives at the other host.
//! - Issue 14 item 1: a proxy in front of the fake Binance forwards every
//!   order placement (so the order executes) and then answers the client
//!   with one of the answers Binance documents as ambiguous (-1007 on 408
//!   and 400, -1006, -1001, 5xx, an unreadable body) or with a redirect.
//!   A real `Runner` driven through it must place every order exactly
//!   once, find each by its client order id, and end like a run without
//!   the proxy.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use common::crashy::MemStore;
use common::fake_binance::{self, funded, move_price, serve, SECRET};
use martingale_core::config::BotFile;
use martingale_core::engine::{BotId, ClientOrderId, Command, OrderKind, OrderRequest, OrderRole};
use martingale_core::venue::Venue;
use martingale_core::OrderSide;
use martingale_exchange::{
    connect, Credentials, ExchangeError, Runner, RunnerConfig, RunnerError, Secret, StateStore, VenueOptions,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tokio::io::AsyncReadExt;

/// A listener that records every byte sent to it.
async fn recorder() -> (String, Arc<AtomicUsize>, Arc<Mutex<Vec<u8>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (conns, bytes) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
    let (c, b) = (conns.clone(), bytes.clone());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            let b = b.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = sock.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    b.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
    });
    (format!("http://{addr}"), conns, bytes)
}

/// A venue that redirects everything to `target` with the current status.
async fn redirecting(target: String, status: Arc<AtomicU16>) -> String {
    let app = Router::new().fallback(move |uri: axum::http::Uri| {
        let (target, status) = (target.clone(), status.clone());
        async move {
            let mut h = HeaderMap::new();
            h.insert("location", format!("{target}{uri}").parse().unwrap());
            let code = StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap();
            (code, h, "").into_response() as Response
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn order() -> OrderRequest {
    OrderRequest {
        client_order_id: ClientOrderId::from_raw("redir-1-s1-1"),
        role: OrderRole::Safety(1),
        side: OrderSide::Buy,
        kind: OrderKind::Limit { price: dec!(40000) },
        quantity: dec!(0.001),
    }
}

#[tokio::test]
async fn no_adapter_follows_a_redirect_and_no_key_leaves() {
    let (elsewhere, conns, bytes) = recorder().await;
    let status = Arc::new(AtomicU16::new(301));
    let url = redirecting(elsewhere.clone(), status.clone()).await;
    let creds = || {
        let mut c = Credentials::new("CANARY-API-KEY", "CANARY-SECRET");
        c.passphrase = Some(Secret::new("CANARY-PASS"));
        Some(c)
    };
    let opts = VenueOptions { testnet: false, base_url: Some(url.clone()) };
    for venue in [Venue::Binance, Venue::Bybit, Venue::Okx, Venue::Coindcx] {
        let ex = connect(venue, creds(), None, &opts).unwrap();
        for code in [301u16, 302, 303, 307, 308] {
            status.store(code, Ordering::SeqCst);
            let is_redirect = |r: Result<(), ExchangeError>, what: &str| match r {
                Err(ExchangeError::Redirect { status, location }) => {
                    assert_eq!(status, code, "{venue:?} {what}");
                    assert!(location.starts_with(&elsewhere), "{venue:?} {what}: {location}");
                }
                other => panic!("{venue:?} {what} on {code}: {other:?}"),
            };
            is_redirect(ex.balances().await.map(|_| ()), "balances");
            is_redirect(ex.last_price("BTCUSDT").await.map(|_| ()), "last price");
            let placed = ex.place_order("BTCUSDT", &order()).await;
            is_redirect(placed.as_ref().map(|_| ()).map_err(Clone::clone), "place");
            // A redirect is not a rejection: the order's fate is unknown.
            assert!(!placed.unwrap_err().is_definite_rejection());
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let seen = String::from_utf8_lossy(&bytes.lock().unwrap()).to_string();
    assert_eq!(conns.load(Ordering::SeqCst), 0, "requests reached the other host: {seen}");
    assert!(!seen.contains("CANARY"));
}

/// What the proxy answers a placement with after forwarding it: an
/// ambiguous answer Binance documents, an unreadable one, or a redirect.
fn ambiguous(n: usize, elsewhere: &str) -> Response {
    let body = |code: i64, msg: &str| format!(r#"{{"code":{code},"msg":"{msg}"}}"#);
    let timeout = "Timeout waiting for response from backend server. Send status unknown; execution status unknown.";
    let redirect = |s: StatusCode| {
        let mut h = HeaderMap::new();
        h.insert("location", format!("{elsewhere}/api/v3/order").parse().unwrap());
        (s, h, "").into_response()
    };
    match n % 13 {
        0 => (StatusCode::REQUEST_TIMEOUT, body(-1007, timeout)).into_response(),
        1 => (StatusCode::BAD_REQUEST, body(-1007, timeout)).into_response(),
        2 => (
            StatusCode::BAD_REQUEST,
            body(-1006, "An unexpected response was received from the message bus. Execution status unknown."),
        )
            .into_response(),
        3 => {
            (StatusCode::BAD_REQUEST, body(-1001, "Internal error; unable to process your request. Please try again."))
                .into_response()
        }
        4 => (StatusCode::INTERNAL_SERVER_ERROR, "").into_response(),
        5 => (StatusCode::SERVICE_UNAVAILABLE, "<html>maintenance</html>").into_response(),
        6 => (StatusCode::OK, "{\"symbol\":").into_response(),
        7 => (StatusCode::OK, body(-1000, "An unknown error occurred while processing the request.")).into_response(),
        8 => redirect(StatusCode::MOVED_PERMANENTLY),
        9 => redirect(StatusCode::FOUND),
        10 => redirect(StatusCode::SEE_OTHER),
        11 => redirect(StatusCode::TEMPORARY_REDIRECT),
        _ => redirect(StatusCode::PERMANENT_REDIRECT),
    }
}

/// A proxy to `venue` that forwards everything and answers each order
/// placement, after forwarding it, with `ambiguous(n)`.
async fn proxy(venue: String, elsewhere: String) -> (String, Arc<AtomicUsize>) {
    let placements = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let p = placements.clone();
    let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let (venue, elsewhere, http, p) = (venue.clone(), elsewhere.clone(), http.clone(), p.clone());
        async move {
            let mut req = http.request(method.clone(), format!("{venue}{uri}")).body(body);
            for (k, v) in headers.iter() {
                if k.as_str().starts_with("x-") || k.as_str() == "content-type" {
                    req = req.header(k.clone(), v.clone());
                }
            }
            let resp = req.send().await.unwrap();
            let status = resp.status();
            let mut h = HeaderMap::new();
            for (k, v) in resp.headers().iter() {
                if k.as_str().starts_with("x-") || k.as_str() == "retry-after" {
                    h.insert(k.clone(), v.clone());
                }
            }
            let text = resp.text().await.unwrap();
            if method == Method::POST && uri.path() == "/api/v3/order" {
                // The venue executed it; the client hears something else.
                return ambiguous(p.fetch_add(1, Ordering::SeqCst), &elsewhere);
            }
            (status, h, text).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), placements)
}

struct Run {
    totals: martingale_core::pnl::BotTotals,
    open: Option<(Decimal, Decimal)>,
    per_id: HashMap<String, usize>,
    trades: usize,
    placements: usize,
    redirects: usize,
}

async fn run_binance(closes: &[Decimal], through_proxy: bool) -> (Run, usize, String) {
    let b: BotFile = martingale_core::config::BotFile::example().unwrap();
    let mut f = funded();
    f.usdt = Decimal::from(1_000_000);
    f.price = closes[0];
    let (fake, url) = serve(f).await;
    let (elsewhere, conns, bytes) = recorder().await;
    let (url, placements) = if through_proxy { proxy(url, elsewhere).await } else { (url, Arc::default()) };
    let venue = Arc::new(fake_binance::client(&url, SECRET));
    let store: Arc<dyn StateStore> = Arc::new(MemStore::default());
    let cfg = RunnerConfig { account: "bob".into(), symbol: "BTCUSDT".into(), cancel_on_shutdown: false };
    let id = BotId::new("proxy-bn").unwrap();
    let mut runner = Runner::start(id, &b, venue, store, None, cfg, 0).await.unwrap();
    let mut redirects = 0;
    match runner.command(0, Command::Start).await {
        Ok(()) => {}
        Err(RunnerError::Exchange(ExchangeError::Redirect { .. })) => redirects += 1,
        Err(e) => panic!("start: {e}"),
    }
    for (i, p) in closes.iter().enumerate() {
        move_price(&mut fake.lock().unwrap(), *p);
        match runner.step((i as i64 + 1) * 60_000).await {
            Ok(()) => {}
            // A redirect stops the step (a misconfigured base URL); the
            // order stays `sent` and the next step queries it.
            Err(RunnerError::Exchange(ExchangeError::Redirect { .. })) => redirects += 1,
            Err(e) => panic!("step {i}: {e}"),
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let e = runner.engine();
    let fake = fake.lock().unwrap();
    let mut per_id = HashMap::new();
    for o in &fake.orders {
        *per_id.entry(o.client_id().to_string()).or_default() += 1;
    }
    let seen = String::from_utf8_lossy(&bytes.lock().unwrap()).to_string();
    let run = Run {
        totals: e.totals().clone(),
        open: e.deal().map(|d| (d.position.open_qty(), d.position.entry_value())),
        per_id,
        trades: fake.trades.len(),
        placements: placements.load(Ordering::SeqCst),
        redirects,
    };
    (run, conns.load(Ordering::SeqCst), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ambiguous_answer_is_resolved_by_query_and_nothing_is_placed_twice() {
    let closes: Vec<Decimal> =
        (0..160).map(|k| Decimal::new((3_000_000.0 + 90_000.0 * (k as f64 / 6.0).sin()).round() as i64, 2)).collect();
    let (clean, _, _) = run_binance(&closes, false).await;
    assert!(clean.totals.closed_deals >= 2, "the scenario must trade: {:?}", clean.totals);
    let (run, conns, seen) = run_binance(&closes, true).await;
    // Every kind of ambiguous answer was given, more than once.
    assert!(run.placements >= 26, "{} placements", run.placements);
    assert!(run.redirects > 0);
    let twice: Vec<_> = run.per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "placed twice: {twice:?}");
    assert_eq!(run.per_id.len(), run.placements, "every placement reached the venue once");
    assert_eq!((run.per_id.len(), run.trades), (clean.per_id.len(), clean.trades));
    assert_eq!(run.totals, clean.totals, "P&L differs from the run without the proxy");
    assert_eq!(run.open, clean.open);
    assert_eq!(conns, 0, "a request followed a redirect: {seen}");
    assert!(!seen.contains(fake_binance::KEY));
}
