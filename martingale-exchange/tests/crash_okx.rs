//! The runner's crash test on OKX: killed at 120 points of a scenario over
//! HTTP against the fake OKX server, with a 5xx and (in one run of eight) a
//! timeout after accepting orders, a 429 (another one in eight) and stale order
//! reports on top; every run ends exactly like the uninterrupted one.

mod common;

use std::sync::Arc;

use common::fake_okx::{client, funded, move_price, serve, Fault, SECRET};
use common::venue_crash::{crash_test, Harness};
use rust_decimal::Decimal;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_any_request_the_runner_recovers_exactly_on_okx() {
    crash_test("okx", 120, 160, |run| async move {
        let mut f = funded();
        f.book.usdt = Decimal::from(1_000_000);
        f.book.price = common::venue_crash::closes(1)[0];
        f.faults = vec![Fault::ServerErrorAfterAccept, Fault::StaleQuery];
        if run % 8 == 4 {
            f.faults.push(Fault::RateLimit);
        }
        if run % 8 == 0 {
            f.faults.extend([Fault::TimeoutAfterAccept, Fault::StaleQuery]);
        }
        let (fake, url) = serve(f).await;
        let (f1, f2) = (fake.clone(), fake);
        Harness {
            venue: Arc::new(client(&url, SECRET)),
            move_price: Box::new(move |p| move_price(&mut f1.lock().unwrap(), p)),
            counts: Box::new(move || {
                let f = f2.lock().unwrap();
                (f.book.orders.len(), f.book.trades.len())
            }),
            symbol: "BTC-USDT".into(),
        }
    })
    .await;
}
