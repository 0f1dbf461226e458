//! The fake venues answer in the shape the venues document (issue 18):
//! every endpoint the adapters use is called raw (signed as the venue
//! requires, not through an adapter) on each fake, with orders open,
//! partly filled and filled, and its answer is held field for field to
//! the example reply copied from the venue's documentation
//! (`tests/fixtures/documented/<venue>/<name>.json`, each citing its page).
//! A fake that drifts from the documents, in a field's name or its kind of
//! value, fails here, independently of what the adapters read.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::documented::{fixture, same_shape};
use common::{fake_binance, fake_bybit, fake_coindcx, fake_okx};
use martingale_core::engine::{ClientOrderId, OrderKind, OrderRequest, OrderRole};
use martingale_core::OrderSide;
use martingale_exchange::binance::Signer;
use martingale_exchange::{Exchange, Secret};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn order(id: &str, side: OrderSide, kind: OrderKind, quantity: Decimal) -> OrderRequest {
    OrderRequest { client_order_id: ClientOrderId::from_raw(id), role: OrderRole::Safety(1), side, kind, quantity }
}

/// Places a resting buy that the next two price moves fill (half, then
/// all), one that stays open, and a market sell of part of the first.
async fn trade<E: Exchange>(e: &E, symbol: &str, price: Decimal, mut move_price: impl FnMut(Decimal)) -> Vec<String> {
    let low = (price * dec!(0.98)).round_dp(1);
    let ids = ["shape1", "shape2", "shape3"];
    e.place_order(symbol, &order(ids[0], OrderSide::Buy, OrderKind::Limit { price: low }, dec!(0.002))).await.unwrap();
    let far = (price * dec!(0.5)).round_dp(1);
    e.place_order(symbol, &order(ids[1], OrderSide::Buy, OrderKind::Limit { price: far }, dec!(0.001))).await.unwrap();
    move_price(low - dec!(1));
    move_price(low - dec!(2));
    let market = OrderKind::Market { reference_price: low };
    e.place_order(symbol, &order(ids[2], OrderSide::Sell, market, dec!(0.001))).await.unwrap();
    ids.iter().map(|s| s.to_string()).collect()
}

fn check(venue: &str, name: &str, got: &Value) {
    let f = fixture(venue, name);
    let source = f["source"].as_str().unwrap_or_default();
    assert!(source.starts_with("https://"), "{venue}/{name}: no documentation page cited");
    if let Err(e) = same_shape(got, &f["example"]) {
        panic!("{venue} {} differs from its documented reply ({source}): {e}\n{got}", f["endpoint"]);
    }
}

#[tokio::test]
async fn binance_answers_as_documented() {
    let (fake, url) = fake_binance::serve(fake_binance::funded()).await;
    let b = fake_binance::client(&url, fake_binance::SECRET);
    let ids = trade(&b, "BTCUSDT", dec!(43250.17), |p| fake_binance::move_price(&mut fake.lock().unwrap(), p)).await;
    let http = reqwest::Client::new();
    let signer = Signer::Hmac(Secret::new(fake_binance::SECRET));
    let call = |method: reqwest::Method, path: &str, query: String, signed: bool| {
        let q = if signed {
            let q = format!("{query}{}timestamp={}", if query.is_empty() { "" } else { "&" }, now());
            let sig = signer.sign(&q, "");
            format!("{q}&signature={sig}")
        } else {
            query
        };
        let req = http.request(method, format!("{url}{path}?{q}")).header("X-MBX-APIKEY", fake_binance::KEY);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    use reqwest::Method as M;
    check("binance", "time", &call(M::GET, "/api/v3/time", String::new(), false).await);
    let info = call(M::GET, "/api/v3/exchangeInfo", "symbol=BTCUSDT".into(), false).await;
    check("binance", "exchange_info", &info);
    let documented_filters = fixture("binance", "filters")["example"].clone();
    for f in info["symbols"][0]["filters"].as_array().unwrap() {
        let doc = documented_filters.as_array().unwrap().iter().find(|d| d["filterType"] == f["filterType"]).unwrap();
        same_shape(f, doc).unwrap_or_else(|e| panic!("filter {}: {e}", f["filterType"]));
    }
    check("binance", "ticker_price", &call(M::GET, "/api/v3/ticker/price", "symbol=BTCUSDT".into(), false).await);
    fake.lock().unwrap().candles = (0..3).map(|i| (i * 60_000, dec!(43000) + Decimal::from(i))).collect();
    check("binance", "klines", &call(M::GET, "/api/v3/klines", "symbol=BTCUSDT&interval=1m".into(), false).await);
    check("binance", "account", &call(M::GET, "/api/v3/account", String::new(), true).await);
    let new = call(
        M::POST,
        "/api/v3/order",
        "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.0005&newClientOrderId=shape4&newOrderRespType=FULL".into(),
        true,
    )
    .await;
    assert_eq!(new["fills"].as_array().map(Vec::len), Some(1), "{new}");
    check("binance", "order_new", &new);
    for id in &ids {
        let q = call(M::GET, "/api/v3/order", format!("symbol=BTCUSDT&origClientOrderId={id}"), true).await;
        check("binance", "order_query", &q);
    }
    check("binance", "open_orders", &call(M::GET, "/api/v3/openOrders", "symbol=BTCUSDT".into(), true).await);
    let trades = call(M::GET, "/api/v3/myTrades", "symbol=BTCUSDT&limit=1000".into(), true).await;
    assert!(trades.as_array().unwrap().len() >= 3);
    check("binance", "my_trades", &trades);
    check("binance", "open_orders", &call(M::GET, "/api/v3/allOrders", "symbol=BTCUSDT&orderId=1".into(), true).await);
    let cancel = call(M::DELETE, "/api/v3/order", format!("symbol=BTCUSDT&origClientOrderId={}", ids[1]), true).await;
    check("binance", "order_cancel", &cancel);
    let err = call(M::GET, "/api/v3/order", "symbol=BTCUSDT&origClientOrderId=nope".into(), true).await;
    check("binance", "error", &err);
}

#[tokio::test]
async fn bybit_answers_as_documented() {
    let (fake, url) = fake_bybit::serve(fake_bybit::funded()).await;
    let b = fake_bybit::client(&url, fake_bybit::SECRET);
    let ids = trade(&b, "BTCUSDT", dec!(43250.17), |p| fake_bybit::move_price(&mut fake.lock().unwrap(), p)).await;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, query: String, body: Option<Value>| {
        let ts = now();
        let payload = body.as_ref().map(Value::to_string).unwrap_or_else(|| query.clone());
        let sig =
            martingale_exchange::bybit::sign(&Secret::new(fake_bybit::SECRET), ts, fake_bybit::KEY, 5000, &payload);
        let mut req = http
            .request(method, format!("{url}{path}?{query}"))
            .header("X-BAPI-API-KEY", fake_bybit::KEY)
            .header("X-BAPI-TIMESTAMP", ts.to_string())
            .header("X-BAPI-RECV-WINDOW", "5000")
            .header("X-BAPI-SIGN", sig);
        if let Some(b) = body {
            req = req.header("Content-Type", "application/json").body(b.to_string());
        }
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    use reqwest::Method as M;
    check("bybit", "time", &call(M::GET, "/v5/market/time", String::new(), None).await);
    let q = "category=spot&symbol=BTCUSDT".to_string();
    check("bybit", "instruments_spot", &call(M::GET, "/v5/market/instruments-info", q.clone(), None).await);
    check("bybit", "tickers_spot", &call(M::GET, "/v5/market/tickers", q.clone(), None).await);
    fake.lock().unwrap().candles = (0..3).map(|i| (i * 60_000, dec!(43000) + Decimal::from(i))).collect();
    check("bybit", "kline", &call(M::GET, "/v5/market/kline", format!("{q}&interval=1"), None).await);
    check(
        "bybit",
        "wallet_balance",
        &call(M::GET, "/v5/account/wallet-balance", "accountType=UNIFIED".into(), None).await,
    );
    check("bybit", "account_info", &call(M::GET, "/v5/account/info", String::new(), None).await);
    for id in &ids {
        let o = call(M::GET, "/v5/order/realtime", format!("{q}&orderLinkId={id}"), None).await;
        assert_eq!(o["result"]["list"].as_array().map(Vec::len), Some(1), "{o}");
        check("bybit", "order_realtime", &o);
    }
    let ex = call(M::GET, "/v5/execution/list", format!("{q}&limit=100"), None).await;
    assert!(ex["result"]["list"].as_array().unwrap().len() >= 3, "{ex}");
    check("bybit", "execution_list", &ex);
    let body = json!({"category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001",
                      "price": "20000", "orderLinkId": "shape5", "timeInForce": "GTC"});
    check("bybit", "order_create", &call(M::POST, "/v5/order/create", String::new(), Some(body)).await);
    let body = json!({"category": "spot", "symbol": "BTCUSDT", "orderLinkId": "shape5"});
    check("bybit", "order_cancel", &call(M::POST, "/v5/order/cancel", String::new(), Some(body)).await);
}

#[tokio::test]
async fn okx_answers_as_documented() {
    let (fake, url) = fake_okx::serve(fake_okx::funded()).await;
    let b = fake_okx::client(&url, fake_okx::SECRET);
    trade(&b, "BTC-USDT", dec!(43250.1), |p| fake_okx::move_price(&mut fake.lock().unwrap(), p)).await;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, query: String, body: Option<Value>| {
        let ts = chrono::DateTime::from_timestamp_millis(now()).unwrap().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        let full = if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
        let text = body.as_ref().map(Value::to_string).unwrap_or_default();
        let sig = martingale_exchange::okx::sign(&Secret::new(fake_okx::SECRET), &ts, method.as_str(), &full, &text);
        let mut req = http
            .request(method, format!("{url}{full}"))
            .header("OK-ACCESS-KEY", fake_okx::KEY)
            .header("OK-ACCESS-PASSPHRASE", fake_okx::PASSPHRASE)
            .header("OK-ACCESS-TIMESTAMP", ts)
            .header("OK-ACCESS-SIGN", sig);
        if body.is_some() {
            req = req.header("Content-Type", "application/json").body(text);
        }
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    use reqwest::Method as M;
    check("okx", "time", &call(M::GET, "/api/v5/public/time", String::new(), None).await);
    let q = "instType=SPOT&instId=BTC-USDT".to_string();
    check("okx", "instruments", &call(M::GET, "/api/v5/public/instruments", q.clone(), None).await);
    check("okx", "ticker", &call(M::GET, "/api/v5/market/ticker", "instId=BTC-USDT".into(), None).await);
    fake.lock().unwrap().candles = (0..3).map(|i| (now() - i * 60_000, dec!(43000) + Decimal::from(i))).collect();
    check("okx", "candles", &call(M::GET, "/api/v5/market/candles", "instId=BTC-USDT&bar=1m".into(), None).await);
    let h = call(M::GET, "/api/v5/market/history-candles", "instId=BTC-USDT&bar=1m".into(), None).await;
    check("okx", "history_candles", &h);
    check("okx", "balance", &call(M::GET, "/api/v5/account/balance", String::new(), None).await);
    for id in ["shape1", "shape2", "shape3"] {
        let venue_id = martingale_exchange::okx::venue_order_id(&ClientOrderId::from_raw(id));
        let o = call(M::GET, "/api/v5/trade/order", format!("instId=BTC-USDT&clOrdId={venue_id}"), None).await;
        assert_eq!(o["data"].as_array().map(Vec::len), Some(1), "{o}");
        check("okx", "order_query", &o);
    }
    check("okx", "orders_pending", &call(M::GET, "/api/v5/trade/orders-pending", q.clone(), None).await);
    let fills = call(M::GET, "/api/v5/trade/fills", q.clone(), None).await;
    assert!(fills["data"].as_array().unwrap().len() >= 3, "{fills}");
    check("okx", "fills", &fills);
    check("okx", "fills_history", &call(M::GET, "/api/v5/trade/fills-history", q.clone(), None).await);
    let body = json!({"instId": "BTC-USDT", "tdMode": "cash", "clOrdId": "shape6", "side": "buy",
                      "ordType": "limit", "px": "20000", "sz": "0.001"});
    check("okx", "order_place", &call(M::POST, "/api/v5/trade/order", String::new(), Some(body)).await);
    let body = json!({"instId": "BTC-USDT", "clOrdId": "shape6"});
    check("okx", "order_cancel", &call(M::POST, "/api/v5/trade/cancel-order", String::new(), Some(body)).await);
}

#[tokio::test]
async fn coindcx_answers_as_documented() {
    let (fake, url) = fake_coindcx::serve(fake_coindcx::funded()).await;
    let b = fake_coindcx::client(&url, fake_coindcx::SECRET);
    let ids = trade(&b, "BTCUSDT", dec!(43250.17), |p| fake_coindcx::move_price(&mut fake.lock().unwrap(), p)).await;
    let http = reqwest::Client::new();
    let post = |path: &str, mut body: Value| {
        body["timestamp"] = json!(now());
        let text = body.to_string();
        let sig = martingale_exchange::coindcx::sign(&Secret::new(fake_coindcx::SECRET), &text);
        let req = http
            .post(format!("{url}{path}"))
            .header("X-AUTH-APIKEY", fake_coindcx::KEY)
            .header("X-AUTH-SIGNATURE", sig)
            .header("Content-Type", "application/json")
            .body(text);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let get = |path: &str| {
        let req = http.get(format!("{url}{path}"));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    check("coindcx", "markets_details", &get("/exchange/v1/markets_details").await);
    check("coindcx", "ticker", &get("/exchange/ticker").await);
    fake.lock().unwrap().candles = (0..3).map(|i| (i * 60_000, dec!(43000) + Decimal::from(i))).collect();
    check("coindcx", "candles", &get("/market_data/candles?pair=B-BTC_USDT&interval=1m").await);
    check("coindcx", "balances", &post("/exchange/v1/users/balances", json!({})).await);
    for id in &ids {
        check("coindcx", "order_status", &post("/exchange/v1/orders/status", json!({"client_order_id": id})).await);
    }
    check("coindcx", "active_orders", &post("/exchange/v1/orders/active_orders", json!({"market": "BTCUSDT"})).await);
    let trades = post("/exchange/v1/orders/trade_history", json!({"limit": 5000})).await;
    assert!(trades.as_array().unwrap().len() >= 3, "{trades}");
    check("coindcx", "trade_history", &trades);
    let body = json!({"side": "buy", "order_type": "limit_order", "market": "BTCUSDT", "price_per_unit": "20000",
                      "total_quantity": "0.001", "client_order_id": "shape7"});
    check("coindcx", "order_create", &post("/exchange/v1/orders/create", body).await);
}
