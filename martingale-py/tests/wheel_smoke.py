"""Run by scripts/test.sh with the Python of a clean virtualenv into which
only the built abi3 wheel (and its numpy / pandas dependencies) was
installed: the package imports from the wheel, not from the source tree,
and runs a tiny backtest. Exits non-zero on any failure."""

import os
import sys

import numpy as np

import martingale as mg

here = os.path.dirname(os.path.abspath(mg.__file__))
assert "site-packages" in here, f"imported from {here}, not from the installed wheel"
assert mg._core.__file__.endswith((".so", ".pyd")) and "abi3" in os.path.basename(mg._core.__file__), mg._core.__file__
n = 2_000
close = np.round(100 + 5 * np.sin(np.arange(n) / 40.0), 2)
open_ = np.concatenate([[close[0]], close[:-1]])
data = {"time": np.arange(n, dtype=np.int64) * 60_000, "open": open_, "high": np.maximum(open_, close) + 0.2, "low": np.minimum(open_, close) - 0.2, "close": close}
r = mg.backtest(data, mg.BotConfig.example())
assert r.stats["candles"] == n and r.stats["closed_deals"] > 0, r
assert len(r.equity) == n
print(f"wheel OK: martingale {mg.__version__} from {here}: {r!r}")
sys.exit(0)
