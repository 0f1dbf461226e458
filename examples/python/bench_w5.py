"""W5 from Python vs the same backtest called in Rust, in one process.

    python examples/python/bench_w5.py

W5: 2,629,800 one-minute candles (the Rust crate's seeded synthetic walk),
the ladder of examples/bots/w5.json. The Rust figure times the bare Rust
call (no Python at all); the Python figure times `martingale.backtest`
(argument handling, the Rust run with the GIL released, the result).
"""

import time
from pathlib import Path

import martingale as mg

bot = mg.BotConfig.from_file(Path(__file__).resolve().parents[1] / "bots" / "w5.json")
candles = mg.Candles.synthetic(42, 2_629_800, 60_000, 30_000.0, 0.0012)
repeat = 15

rust = mg._core.time_backtest_rust(bot.to_json(), candles, repeat)
best = float("inf")
for _ in range(repeat):
    t = time.perf_counter()
    r = mg.backtest(candles, bot, record_equity=False, record_fills=False)
    best = min(best, time.perf_counter() - t)
print(f"W5: {len(candles)} candles, {r.stats['closed_deals']} deals, {r.stats['fills']} fills")
print(f"rust call   {rust * 1e3:8.2f} ms")
print(f"python call {best * 1e3:8.2f} ms  (+{(best / rust - 1) * 100:.1f} %)")
