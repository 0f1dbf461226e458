//! Between an adapter and a fake venue: a listener that records whatever
//! reaches it (the "other host" of a redirect), and a proxy that forwards
//! every request to the fake venue but answers order placements, after
//! the venue executed them, with something else: one of the answers the
//! venue documents as "outcome unknown", a 5xx, an unreadable body, or a
//! redirect to the recording listener.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::io::AsyncReadExt;

/// A listener that records every byte sent to it: its URL, the number of
/// connections it accepted, and the bytes.
pub async fn recorder() -> (String, Arc<AtomicUsize>, Arc<Mutex<Vec<u8>>>) {
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

/// One answer the proxy may give instead of the venue's: HTTP status and
/// body, or a redirect (`None` body) with that status.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Option<String>,
}

impl Answer {
    pub fn body(status: u16, body: impl Into<String>) -> Answer {
        Answer { status, body: Some(body.into()) }
    }

    /// The five redirect statuses.
    pub fn redirects() -> Vec<Answer> {
        [301, 302, 303, 307, 308].into_iter().map(|status| Answer { status, body: None }).collect()
    }

    fn respond(&self, elsewhere: &str, path: &str) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap();
        match &self.body {
            Some(b) => (status, [("content-type", "application/json")], b.clone()).into_response(),
            None => {
                let mut h = HeaderMap::new();
                h.insert("location", format!("{elsewhere}{path}").parse().unwrap());
                (status, h, "").into_response()
            }
        }
    }
}

/// What the proxy saw.
#[derive(Default)]
pub struct Seen {
    /// Placements forwarded to the venue, by the client order id they carry.
    pub placed: HashMap<String, usize>,
    /// Placements answered (so `answers[n % len]` was given for the n-th).
    pub placements: usize,
}

/// The client order id in a placement's query or body: the value of the
/// venue's id parameter (Binance `newClientOrderId`, Bybit `orderLinkId`,
/// OKX `clOrdId`, CoinDCX `client_order_id`).
fn client_id(text: &str) -> Option<String> {
    ["newClientOrderId=", "\"orderLinkId\":\"", "\"clOrdId\":\"", "\"client_order_id\":\""].iter().find_map(|key| {
        let at = text.find(key)? + key.len();
        Some(text[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect())
    })
}

/// A proxy to `venue`: forwards every request (all headers but the
/// connection's own), and answers each `POST place_path`, after
/// forwarding it, with `answers[n % answers.len()]`. Returns its URL and
/// what it saw.
pub async fn ambiguous_proxy(
    venue: String,
    elsewhere: String,
    place_path: &'static str,
    answers: Vec<Answer>,
) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let (answers, s) = (Arc::new(answers), seen.clone());
    let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let (venue, elsewhere, http, s, answers) =
            (venue.clone(), elsewhere.clone(), http.clone(), s.clone(), answers.clone());
        async move {
            let mut req = http.request(method.clone(), format!("{venue}{uri}")).body(body.clone());
            for (k, v) in headers.iter() {
                if !matches!(k.as_str(), "host" | "content-length" | "connection" | "transfer-encoding") {
                    req = req.header(k.clone(), v.clone());
                }
            }
            let resp = req.send().await.unwrap();
            let status = resp.status();
            let mut h = HeaderMap::new();
            for (k, v) in resp.headers().iter() {
                if !matches!(k.as_str(), "content-length" | "connection" | "transfer-encoding" | "date") {
                    h.insert(k.clone(), v.clone());
                }
            }
            let text = resp.text().await.unwrap();
            if method == Method::POST && uri.path() == place_path {
                // The venue executed it; the client hears something else.
                let request = format!("{uri} {}", String::from_utf8_lossy(&body));
                let id = client_id(&request).unwrap_or_else(|| panic!("no client id in {request}"));
                let mut seen = s.lock().unwrap();
                *seen.placed.entry(id).or_default() += 1;
                let n = seen.placements;
                seen.placements += 1;
                return answers[n % answers.len()].respond(&elsewhere, uri.path());
            }
            (status, h, text).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}
