//! Ambiguous answers and redirects between the adapters and the venue.
//!
//! - Issue 14 item 4: API keys never follow a redirect. A local "venue"
//!   answers every request with 301/302/303/307/308 pointing at a second
//!   local listener that records what reaches it. For every adapter,
//!   public and signed requests and order placements end in a typed
//!   `ExchangeError::Redirect`, and nothing (so no key header) ever
//!   arrives at the other host.
//!
//! The ambiguous answers to an order placement (issue 14 item 1) are in
//! `proxy_ambiguous.rs`; both use the recording listener of
//! `common::proxy`.

mod common;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use common::proxy::recorder;
use martingale_core::engine::{ClientOrderId, OrderKind, OrderRequest, OrderRole};
use martingale_core::venue::Venue;
use martingale_core::OrderSide;
use martingale_exchange::{connect, Credentials, ExchangeError, Secret, VenueOptions};
use rust_decimal_macros::dec;

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
