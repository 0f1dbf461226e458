"""ccxt, the independent client of the cross-check (issue 18).

Drives one fake venue with ccxt (from PyPI, installed into the test
virtualenv by scripts/test.sh) and answers the Rust test's commands, one
JSON object a line on stdin, with one JSON object a line on stdout. Every
number goes back as ccxt's own text, so the Rust side compares exact
decimals; nothing here decides what is right, it only reports what ccxt
read.

Usage: driver.py VENUE BASE_URL KEY SECRET [PASSPHRASE]
"""

import decimal
import json
import re
import sys
import traceback

import ccxt

VENUES = {"binance": ccxt.binance, "bybit": ccxt.bybit, "okx": ccxt.okx}


def client(venue, url, key, secret, passphrase):
    ex = VENUES[venue](
        {
            "apiKey": key,
            "secret": secret,
            "password": passphrase,
            "enableRateLimit": False,
            "timeout": 5000,
            "options": {
                # Spot only: the fakes speak each venue's spot API.
                "defaultType": "spot",
                "fetchMarkets": {"types": ["spot"]},
                # Binance: margin pairs come from sapi, which the adapter never uses.
                "fetchMargins": False,
                # OKX: the single-order endpoint the adapter uses, not the batch one.
                "createOrder": "privatePostTradeOrder",
            },
        }
    )
    # Currencies come from private wallet endpoints the adapters never use.
    ex.has["fetchCurrencies"] = False

    def point(v):
        if isinstance(v, dict):
            return {k: point(x) for k, x in v.items()}
        if isinstance(v, str):
            return re.sub(r"^https?://[^/]+", url, v)
        return v

    ex.urls["api"] = point(ex.urls["api"])
    return ex


def text(v):
    """A number as plain decimal text (1e-05 reads 0.00001)."""
    return None if v is None else format(decimal.Decimal(repr(v)), "f")


def order(o):
    return {
        "client_id": o.get("clientOrderId"),
        "status": o.get("status"),
        "side": o.get("side"),
        "type": o.get("type"),
        "price": text(o.get("price")),
        "amount": text(o.get("amount")),
        "filled": text(o.get("filled")),
        "cost": text(o.get("cost")),
    }


def trade(t):
    return {
        "id": t.get("id"),
        "order": t.get("order"),
        "side": t.get("side"),
        "price": text(t.get("price")),
        "amount": text(t.get("amount")),
        "timestamp": t.get("timestamp"),
    }


def by_client_id(venue, cid):
    return {"binance": {"origClientOrderId": cid}, "bybit": {"orderLinkId": cid}, "okx": {"clOrdId": cid}}[venue]


def run(ex, venue, symbol, cmd):
    op = cmd["op"]
    if op == "markets":
        m = ex.load_markets()[symbol]
        return {"id": m["id"], "amount": text(m["precision"]["amount"]), "price": text(m["precision"]["price"])}
    if op == "place":
        params = {"binance": {"newClientOrderId": cmd["client_id"]}, "bybit": {"orderLinkId": cmd["client_id"]},
                  "okx": {"clOrdId": cmd["client_id"]}}[venue]
        if venue == "okx" and cmd["type"] == "market":
            params["tgtCcy"] = "base_ccy"
        price = float(cmd["price"]) if cmd.get("price") else None
        o = ex.create_order(symbol, cmd["type"], cmd["side"], float(cmd["amount"]), price, params)
        return {"id": o.get("id"), "client_id": o.get("clientOrderId")}
    if op == "order":
        cid = cmd["client_id"]
        if venue == "bybit":
            try:
                o = ex.fetch_open_order(None, symbol, {"orderLinkId": cid})
            except ccxt.OrderNotFound:
                o = ex.fetch_closed_order(None, symbol, {"orderLinkId": cid})
        else:
            o = ex.fetch_order(None, symbol, by_client_id(venue, cid))
        return order(o)
    if op == "open_orders":
        return {"orders": sorted((order(o) for o in ex.fetch_open_orders(symbol)), key=lambda o: o["client_id"])}
    if op == "trades":
        params = {"until": cmd["until"]} if venue == "bybit" else {}
        ts = ex.fetch_my_trades(symbol, cmd["since"], cmd.get("limit"), params)
        return {"trades": [trade(t) for t in ts]}
    if op == "balance":
        b = ex.fetch_balance()
        return {c: {"free": text(b[c]["free"]), "total": text(b[c]["total"])} for c in ("BTC", "USDT") if c in b}
    if op == "candles":
        # Both ends given: what Bybit answers for a start alone is not documented.
        until = cmd["since"] + cmd["limit"] * 60_000 - 1
        params = {"until": until} if venue == "bybit" else {}
        rows = ex.fetch_ohlcv(symbol, "1m", cmd["since"], cmd["limit"], params)
        return {"candles": [[r[0]] + [text(x) for x in r[1:5]] for r in rows]}
    if op == "cancel":
        ex.cancel_order(None, symbol, by_client_id(venue, cmd["client_id"]))
        return {}
    raise ValueError(f"unknown op {op!r}")


def main():
    venue, url, key, secret = sys.argv[1:5]
    passphrase = sys.argv[5] if len(sys.argv) > 5 else None
    ex = client(venue, url, key, secret, passphrase)
    symbol = "BTC/USDT"
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            out = {"ok": run(ex, venue, symbol, cmd)}
        except Exception as e:  # reported to the Rust side, which fails the test
            out = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc(limit=3)}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
