//! The cross-check with an independent client (issue 18): `ccxt`, the
//! most used exchange library, drives each fake venue for every call the
//! adapters make (place, query, cancel, open orders, trades, candles,
//! balances) and must read the same orders, fills and balances our adapter
//! reads. The fakes answer from the venues' documented example replies, so
//! a disagreement means the fake, the adapter or this test is wrong.
//!
//! Each venue's run: the adapter and ccxt each place a resting buy that
//! fills (half, then all), a far buy that stays open, and a market sell;
//! after every step both read every order, and at the end both read the
//! open orders, the trades, the balances and the candles; each cancels
//! the other's open order.
//!
//! ccxt runs in `tests/ccxt/driver.py` under the Python of
//! `MARTINGALE_CCXT_PYTHON`, or the workspace's `.venv` when it has ccxt
//! (`scripts/test.sh` installs it there and sets `MARTINGALE_REQUIRE_CCXT`,
//! so CI never skips this). ccxt has no CoinDCX exchange: CoinDCX's fake is
//! held to its documented replies by `documented_shapes.rs` only.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use common::{fake_binance, fake_bybit, fake_okx};
use martingale_core::engine::{ClientOrderId, OrderKind, OrderRequest, OrderRole};
use martingale_core::OrderSide;
use martingale_exchange::{Exchange, OrderStatus};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

/// The Python that has ccxt, if any.
fn python() -> Option<PathBuf> {
    let has_ccxt =
        |p: &PathBuf| Command::new(p).args(["-c", "import ccxt"]).status().map(|s| s.success()).unwrap_or(false);
    if let Some(p) = std::env::var_os("MARTINGALE_CCXT_PYTHON").map(PathBuf::from) {
        return Some(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let found = venv.exists().then_some(venv).filter(has_ccxt);
    if found.is_none() {
        assert!(
            std::env::var_os("MARTINGALE_REQUIRE_CCXT").is_none(),
            "ccxt is required (MARTINGALE_REQUIRE_CCXT) but neither MARTINGALE_CCXT_PYTHON nor .venv has it"
        );
        eprintln!("ccxt cross-check skipped: no Python with ccxt (run scripts/test.sh, which installs it)");
    }
    found
}

/// One ccxt process speaking JSON lines.
struct Ccxt {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Ccxt {
    fn spawn(python: &PathBuf, args: &[&str]) -> Ccxt {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ccxt/driver.py");
        let mut child = Command::new(python)
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the ccxt driver");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Ccxt { child, stdin, stdout }
    }

    /// One command; the fake venue keeps serving on the runtime's other
    /// worker meanwhile.
    fn call(&mut self, cmd: Value) -> Value {
        tokio::task::block_in_place(|| {
            writeln!(self.stdin, "{cmd}").unwrap();
            let mut line = String::new();
            self.stdout.read_line(&mut line).unwrap();
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
            match v.get("ok") {
                Some(ok) => ok.clone(),
                None => panic!("ccxt failed on {cmd}: {}\n{}", v["error"], v["trace"].as_str().unwrap_or_default()),
            }
        })
    }
}

impl Drop for Ccxt {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn d(v: &Value) -> Decimal {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a decimal: {v}"))
}

fn limit(id: &str, side: OrderSide, price: Decimal, quantity: Decimal) -> OrderRequest {
    OrderRequest {
        client_order_id: ClientOrderId::from_raw(id),
        role: OrderRole::Safety(1),
        side,
        kind: OrderKind::Limit { price },
        quantity,
    }
}

fn status(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::New | OrderStatus::PartiallyFilled => "open",
        OrderStatus::Filled => "closed",
        OrderStatus::Canceled => "canceled",
        OrderStatus::Rejected => "rejected",
        OrderStatus::Expired => "expired",
    }
}

/// What a venue run needs.
struct Venue<E> {
    name: &'static str,
    symbol: &'static str,
    adapter: E,
    args: Vec<String>,
    /// The client id the venue shows for one of our ids.
    on_venue: fn(&str) -> String,
    move_price: Box<dyn FnMut(Decimal) + Send>,
    price: Decimal,
}

/// Both clients read order `id` alike.
async fn same_order<E: Exchange>(v: &Venue<E>, cx: &mut Ccxt, id: &str) {
    let ours = v.adapter.query_order(v.symbol, &ClientOrderId::from_raw(id)).await.unwrap();
    let theirs = cx.call(json!({"op": "order", "client_id": (v.on_venue)(id)}));
    let at = format!("{} order {id}: ours {ours:?}, ccxt {theirs}", v.name);
    assert_eq!(theirs["client_id"], json!((v.on_venue)(id)), "{at}");
    assert_eq!(theirs["status"], json!(status(ours.status)), "{at}");
    assert_eq!(theirs["side"], json!(ours.side.to_string().to_lowercase()), "{at}");
    assert_eq!(d(&theirs["amount"]), ours.quantity, "{at}");
    assert_eq!(d(&theirs["filled"]), ours.filled, "{at}");
    if let Some(p) = ours.price {
        assert_eq!(d(&theirs["price"]), p, "{at}");
    }
}

async fn cross_check<E: Exchange>(mut v: Venue<E>, python: &PathBuf) {
    let args: Vec<&str> = v.args.iter().map(String::as_str).collect();
    let mut cx = Ccxt::spawn(python, &args);
    let low = (v.price * dec!(0.98)).round_dp(1);
    let far = (v.price * dec!(0.5)).round_dp(1);
    // Ours: a buy that will fill, one that stays open.
    v.adapter.place_order(v.symbol, &limit("xa1", OrderSide::Buy, low, dec!(0.002))).await.unwrap();
    v.adapter.place_order(v.symbol, &limit("xa2", OrderSide::Buy, far, dec!(0.001))).await.unwrap();
    // ccxt's: the same pair.
    for (id, px) in [("cx1", low), ("cx2", far)] {
        let amount = if id == "cx1" { "0.002" } else { "0.001" };
        let cmd = json!({"op": "place", "client_id": (v.on_venue)(id), "type": "limit", "side": "buy",
                         "amount": amount, "price": px.to_string()});
        cx.call(cmd);
    }
    let ids = ["xa1", "xa2", "cx1", "cx2"];
    for id in ids {
        same_order(&v, &mut cx, id).await;
    }
    // Half filled, then filled.
    for step in [dec!(1), dec!(2)] {
        (v.move_price)(low - step);
        for id in ids {
            same_order(&v, &mut cx, id).await;
        }
    }
    // Market sells, one each.
    let sell = OrderRequest {
        kind: OrderKind::Market { reference_price: low },
        ..limit("xa3", OrderSide::Sell, low, dec!(0.001))
    };
    v.adapter.place_order(v.symbol, &sell).await.unwrap();
    cx.call(json!({"op": "place", "client_id": (v.on_venue)("cx3"), "type": "market", "side": "sell",
                   "amount": "0.001"}));
    for id in ["xa1", "xa2", "xa3", "cx1", "cx2", "cx3"] {
        same_order(&v, &mut cx, id).await;
    }
    // Open orders.
    let ours = v.adapter.open_orders(v.symbol).await.unwrap();
    let theirs = cx.call(json!({"op": "open_orders"}));
    let mut ours: Vec<String> = ours.iter().map(|o| (v.on_venue)(o.client_order_id.as_str())).collect();
    ours.sort();
    let theirs: Vec<String> =
        theirs["orders"].as_array().unwrap().iter().map(|o| o["client_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(theirs, ours, "{}: open orders", v.name);
    // Trades since an hour ago: the same fills, in the same order.
    let since = common::book::now() - 3_600_000;
    let fills = v.adapter.fills_since(v.symbol, since).await.unwrap();
    let theirs = cx.call(json!({"op": "trades", "since": since, "until": common::book::now() + 60_000, "limit": 100}));
    let theirs = theirs["trades"].as_array().unwrap();
    assert_eq!(theirs.len(), fills.len(), "{}: trades: ours {fills:?}, ccxt {theirs:?}", v.name);
    assert_eq!(fills.len(), 6, "{}: two partial fills of each resting buy and one each market sell", v.name);
    let mut a: Vec<(String, Decimal, Decimal, String)> =
        fills.iter().map(|f| (f.trade_id.clone(), f.price, f.quantity, f.side.to_string().to_lowercase())).collect();
    let mut b: Vec<(String, Decimal, Decimal, String)> = theirs
        .iter()
        .map(|t| {
            (t["id"].as_str().unwrap().to_string(), d(&t["price"]), d(&t["amount"]), t["side"].as_str().unwrap().into())
        })
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "{}: trades", v.name);
    // Balances.
    let ours = v.adapter.balances().await.unwrap();
    let theirs = cx.call(json!({"op": "balance"}));
    for asset in ["BTC", "USDT"] {
        let mine = ours.iter().find(|b| b.asset == asset).unwrap();
        assert_eq!(d(&theirs[asset]["free"]), mine.free, "{} {asset} balance: ccxt {theirs}", v.name);
    }
    // Candles.
    let start = CANDLES_FROM + 5 * 60_000;
    let ours = v.adapter.candles(v.symbol, 60_000, start, start + 10 * 60_000).await.unwrap();
    let theirs = cx.call(json!({"op": "candles", "since": start, "limit": 10}));
    let theirs = theirs["candles"].as_array().unwrap();
    assert_eq!(ours.len(), 10, "{}: candles {ours:?}", v.name);
    assert_eq!(theirs.len(), ours.len(), "{}: candles ccxt {theirs:?}", v.name);
    for (c, t) in ours.iter().zip(theirs) {
        let t: Vec<&Value> = t.as_array().unwrap().iter().collect();
        assert_eq!(t[0].as_i64(), Some(c.time), "{}", v.name);
        assert_eq!((d(t[1]), d(t[2]), d(t[3]), d(t[4])), (c.open, c.high, c.low, c.close), "{}", v.name);
    }
    // Each cancels the other's open order; both read the result alike.
    cx.call(json!({"op": "cancel", "client_id": (v.on_venue)("xa2")}));
    let canceled = v.adapter.cancel_order(v.symbol, &ClientOrderId::from_raw("cx2")).await.unwrap();
    assert_eq!(canceled.status, OrderStatus::Canceled, "{}", v.name);
    for id in ["xa2", "cx2"] {
        same_order(&v, &mut cx, id).await;
    }
    println!("{}: ccxt read every order, fill, balance and candle as the adapter did", v.name);
}

/// The first candle's time (on the minute grid).
const CANDLES_FROM: i64 = 1_699_999_980_000;

fn candles() -> Vec<(i64, Decimal)> {
    (0..30).map(|i| (CANDLES_FROM + i * 60_000, dec!(43000) + Decimal::from(i))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ccxt_reads_binance_as_the_adapter_does() {
    let Some(py) = python() else { return };
    let mut f = fake_binance::funded();
    f.candles = candles();
    let (fake, url) = fake_binance::serve(f).await;
    let v = Venue {
        name: "binance",
        symbol: "BTCUSDT",
        adapter: fake_binance::client(&url, fake_binance::SECRET),
        args: vec!["binance".into(), url.clone(), fake_binance::KEY.into(), fake_binance::SECRET.into()],
        on_venue: |id| id.to_string(),
        move_price: Box::new(move |p| fake_binance::move_price(&mut fake.lock().unwrap(), p)),
        price: dec!(43250.17),
    };
    cross_check(v, &py).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ccxt_reads_bybit_as_the_adapter_does() {
    let Some(py) = python() else { return };
    let mut f = fake_bybit::funded();
    f.candles = candles();
    let (fake, url) = fake_bybit::serve(f).await;
    let v = Venue {
        name: "bybit",
        symbol: "BTCUSDT",
        adapter: fake_bybit::client(&url, fake_bybit::SECRET),
        args: vec!["bybit".into(), url.clone(), fake_bybit::KEY.into(), fake_bybit::SECRET.into()],
        on_venue: |id| id.to_string(),
        move_price: Box::new(move |p| fake_bybit::move_price(&mut fake.lock().unwrap(), p)),
        price: dec!(43250.17),
    };
    cross_check(v, &py).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ccxt_reads_okx_as_the_adapter_does() {
    let Some(py) = python() else { return };
    let mut f = fake_okx::funded();
    f.candles = candles();
    let (fake, url) = fake_okx::serve(f).await;
    let v = Venue {
        name: "okx",
        symbol: "BTC-USDT",
        adapter: fake_okx::client(&url, fake_okx::SECRET),
        args: vec![
            "okx".into(),
            url.clone(),
            fake_okx::KEY.into(),
            fake_okx::SECRET.into(),
            fake_okx::PASSPHRASE.into(),
        ],
        // OKX takes 1 to 32 letters and digits: the adapter sends a digest
        // of our id, and ccxt places its own orders under such digests too.
        on_venue: |id| martingale_exchange::okx::venue_order_id(&ClientOrderId::from_raw(id)),
        move_price: Box::new(move |p| fake_okx::move_price(&mut fake.lock().unwrap(), p)),
        price: dec!(43250.1),
    };
    cross_check(v, &py).await;
}
