"""W5 from Python vs the same backtest called in Rust, in one process.

    python examples/python/bench_w5.py

W5: 2,629,800 one-minute candles (the Rust crate's seeded synthetic walk),
the ladder of examples/bots/w5.json. Figures, best of `repeat` runs each:

- rust call: the bare Rust call (no Python at all);
- default: `mg.backtest(candles, bot)` as the README writes it;
- lean: the same with `record_equity=False, record_fills=False`;
- equity read: `r.equity` on a fresh result (the per-candle curve built
  from the equity path, float64, with its DatetimeIndex);
- exact equity read: `r.exact.equity` (2.6 M `Decimal` objects; once).
"""

import time
from pathlib import Path

import martingale as mg

bot = mg.BotConfig.from_file(Path(__file__).resolve().parents[1] / "bots" / "w5.json")
candles = mg.Candles.synthetic(42, 2_629_800, 60_000, 30_000.0, 0.0012)
repeat = 15


def best_of(f, n=repeat):
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


rust = mg._core.time_backtest_rust(bot.to_json(), candles, repeat)
# Interleaved, so both see the same machine load.
default = lean = float("inf")
for _ in range(repeat):
    default = min(default, best_of(lambda: mg.backtest(candles, bot), 1))
    lean = min(lean, best_of(lambda: mg.backtest(candles, bot, record_equity=False, record_fills=False), 1))
results = [mg.backtest(candles, bot) for _ in range(repeat)]
read = min(best_of(lambda r=r: r.equity, 1) for r in results)
r = results[0]
exact = best_of(lambda: r.exact.equity, 1)
print(f"W5: {len(candles)} candles, {int(r.stats['closed_deals'])} deals, {int(r.stats['fills'])} fills")
print(f"rust call          {rust * 1e3:8.2f} ms")
print(f"default call       {default * 1e3:8.2f} ms  ({(default / lean - 1) * 100:+.1f} % vs lean)")
print(f"lean call          {lean * 1e3:8.2f} ms  ({(lean / rust - 1) * 100:+.1f} % vs rust)")
print(f"r.equity read      {read * 1e3:8.2f} ms")
print(f"r.exact.equity     {exact * 1e3:8.2f} ms")
