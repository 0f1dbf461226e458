"""Quickstart: backtest the example bot on a CSV, look at the results, run a
small sweep.

    pip install ./martingale-py            # from the repository root
    python examples/python/quickstart.py [CANDLES.csv]

Without an argument it reads the project's shared BTC/USD hourly data
(../shared/data/btcusd-coinbase-1h.csv beside the checkout) if present, else
generates a synthetic series.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

import martingale as mg

here = Path(__file__).resolve()
default = here.parents[3] / "shared" / "data" / "btcusd-coinbase-1h.csv"
path = Path(sys.argv[1]) if len(sys.argv) > 1 else default

if path.exists():
    candles = pd.read_csv(path, parse_dates=["time"], index_col="time")
else:
    rng = np.random.default_rng(7)
    close = np.round(30_000 * np.exp(np.cumsum(rng.normal(0, 0.004, 20_000))), 2)
    open_ = np.concatenate([[close[0]], close[:-1]])
    candles = pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close) * 1.002, "low": np.minimum(open_, close) * 0.998, "close": close},
        index=pd.date_range("2020-01-01", periods=len(close), freq="h", tz="UTC"),
    ).round(2)

bot = mg.BotConfig.from_file(here.parents[1] / "bots" / "example.json")
print(mg.plan(bot, candles["close"].iloc[0])[["price", "quantity", "quote", "take_profit_price"]])

result = mg.backtest(candles, bot)
print(result)
print(result.stats[["closed_deals", "realized_pnl", "win_rate_pct", "max_drawdown_pct", "sharpe"]])
print(result.deals[["number", "start_index", "end_index", "exit", "safety_orders_filled", "pnl"]].tail())

try:
    import matplotlib

    matplotlib.use("Agg")
    fig = result.plot(candles)
    fig.savefig("quickstart.png", dpi=90)
    print("wrote quickstart.png")
except ImportError:
    print("matplotlib not installed: no plot")

table = mg.sweep(candles, bot, {"take_profit.percent": [1, 1.5, 2, 3], "price_deviation": [1, 1.5, 2]}, progress=False)
print(table[["take_profit.percent", "price_deviation", "closed_deals", "realized_pnl", "max_drawdown_pct"]].head())
