"""A martingale Engine driven by ccxt: the engine decides, ccxt executes.

    pip install ./martingale-py ccxt
    EXCHANGE=binance API_KEY=... API_SECRET=... python examples/python/ccxt_bot.py --sandbox

Not run in CI (it needs the network). The action loop: poll the price, feed
it to the engine, send the orders it asks for with their deterministic
client order ids, poll those orders and feed every fill back. The engine's
snapshot is saved after every step, so a restart resumes where it stopped
and never sends the same client order id twice.
"""

import argparse
import os
import time
from decimal import Decimal
from pathlib import Path

import ccxt  # type: ignore

import martingale as mg

p = argparse.ArgumentParser()
p.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "bots" / "example.json"))
p.add_argument("--symbol", default="BTC/USDT")
p.add_argument("--state", default="ccxt_bot_state.json")
p.add_argument("--sandbox", action="store_true", help="use the exchange's testnet (ccxt set_sandbox_mode)")
p.add_argument("--interval", type=float, default=5.0)
args = p.parse_args()

exchange = getattr(ccxt, os.environ.get("EXCHANGE", "binance"))(
    {"apiKey": os.environ.get("API_KEY"), "secret": os.environ.get("API_SECRET"), "enableRateLimit": True}
)
exchange.set_sandbox_mode(args.sandbox)

state = Path(args.state)
if state.exists():
    engine = mg.Engine.restore(state.read_text())
else:
    engine = mg.Engine("ccxt-dca", mg.BotConfig.from_file(args.config))
    engine.command("start", time=int(time.time() * 1000))

open_orders: dict = {}  # client order id -> last cumulative filled quantity


def now() -> int:
    return int(time.time() * 1000)


def execute(actions: list) -> None:
    """Sends the engine's actions; feeds the immediate answers back."""
    for a in actions:
        cid = a["client_order_id"]
        try:
            if a["action"] == "cancel":
                exchange.cancel_order(None, args.symbol, params={"origClientOrderId": cid})
                execute(engine.order_update(now(), cid, "canceled"))
                continue
            params = {"newClientOrderId": cid}
            if a["kind"] == "limit":
                exchange.create_order(args.symbol, "limit", a["side"], float(a["quantity"]), float(a["price"]), params)
            else:
                exchange.create_order(args.symbol, "market", a["side"], float(a["quantity"]), None, params)
            open_orders[cid] = Decimal(0)
            execute(engine.order_update(now(), cid, "accepted"))
        except ccxt.InsufficientFunds as e:
            execute(engine.order_update(now(), cid, "rejected", str(e)))
        except ccxt.NetworkError:
            # Unknown outcome: the order may exist. Query it by client id next poll.
            open_orders.setdefault(cid, Decimal(0))


def poll_orders() -> None:
    for cid, seen in list(open_orders.items()):
        try:
            o = exchange.fetch_order(None, args.symbol, params={"origClientOrderId": cid})
        except ccxt.OrderNotFound:
            open_orders.pop(cid)
            execute(engine.order_update(now(), cid, "rejected", "order not found"))
            continue
        filled = Decimal(str(o.get("filled") or 0))
        if filled > seen:
            open_orders[cid] = filled
            execute(engine.fill(now(), cid, filled, Decimal(str(o.get("average") or o.get("price")))))
        if o["status"] in ("closed", "canceled", "expired", "rejected"):
            open_orders.pop(cid)
            if o["status"] != "closed":
                execute(engine.order_update(now(), cid, "canceled" if o["status"] != "rejected" else "rejected"))


while True:
    price = Decimal(str(exchange.fetch_ticker(args.symbol)["last"]))
    execute(engine.tick(now(), price))
    poll_orders()
    state.write_text(engine.snapshot())
    for deal in engine.closed_deals:
        print(f"deal {deal['number']} closed by {deal['exit']}: P&L {deal['pnl']}")
    engine.closed_deals.clear()
    time.sleep(args.interval)
