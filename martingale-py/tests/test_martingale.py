"""Tests of the martingale Python package (run by scripts/test.sh)."""

import json
import os
import pickle
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import martingale as mg

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "btcusd-coinbase-1h.csv"


@pytest.fixture(scope="module")
def btc():
    return pd.read_csv(DATA, parse_dates=["time"], index_col="time")


def test_plan_reproduces_the_worked_example():
    ladder = mg.plan(mg.BotConfig.example(), "43250.17", exact=True)
    assert [str(p) for p in ladder["price"]] == ["43250.17", "42601.41", "41822.91", "40888.71", "39767.66", "38422.41"]
    assert [Decimal(q) for q in ladder["quantity"]] == [Decimal(x) for x in ("0.00231", "0.00469", "0.00717", "0.011", "0.01697", "0.02635")]
    assert ladder.attrs["funds_required"] == Decimal("2737.5")
    assert ladder.attrs["max_deviation"] == Decimal("11.1624")
    assert all(isinstance(v, Decimal) for v in ladder["take_profit_price"])


def test_plan_shows_take_profit_steps_and_the_stop():
    bot = mg.BotConfig(
        base_order={"quote": 100}, safety_order={"quote": 200}, max_safety_orders=1, price_deviation=2,
        take_profit={"steps": [{"percent": "1", "close": "40"}, {"percent": "2", "close": "60"}]},
        stop_loss={"percent": "10", "breakeven_after_step": 1},
        market={"tick_size": "0.01", "step_size": "0.001", "min_notional": "5"},
    )
    ladder = mg.plan(bot, "100", exact=True)
    assert list(ladder["take_profit_step_1"]) == [Decimal("101"), Decimal("99.65")]
    assert list(ladder["take_profit_step_2"]) == [Decimal("102"), Decimal("100.64")]
    assert list(ladder["stop_loss_price"]) == [Decimal("90"), Decimal("88.79")]


@pytest.mark.parametrize("value", [Decimal("1.5"), "1.5", 1.5, np.float64(1.5)])
def test_values_accept_decimal_str_float_and_return_decimal(value):
    bot = mg.BotConfig(base_order={"quote": 100}, take_profit={"percent": value}, max_safety_orders=0)
    assert bot.strategy["take_profit"]["percent"] == Decimal("1.5")
    assert bot.strategy["base_order"]["quote"] == Decimal("100")


def test_config_round_trips_through_dict_json_toml_file_and_pickle(tmp_path):
    bot = mg.BotConfig.example()
    assert mg.BotConfig(bot.to_dict()) == bot
    assert mg.BotConfig.from_json(bot.to_json()) == bot
    assert mg.BotConfig.from_toml(bot.to_toml()) == bot
    path = tmp_path / "bot.toml"
    path.write_text(bot.to_toml())
    assert mg.BotConfig.from_file(path) == bot
    assert pickle.loads(pickle.dumps(bot)) == bot
    assert mg.BotConfig.from_file(ROOT / "examples" / "bots" / "example.json") == bot
    changed = bot.replace(**{"take_profit.percent": "2", "fees.maker": 0})
    assert changed.strategy["take_profit"]["percent"] == Decimal("2")
    assert changed.fees["maker"] == Decimal("0")


def test_invalid_config_raises_value_error_naming_field_and_value():
    with pytest.raises(mg.ConfigError) as e:
        mg.BotConfig.example().replace(step_scale="11")
    assert isinstance(e.value, ValueError)
    assert "step_scale" in str(e.value) and "11" in str(e.value)
    with pytest.raises(mg.ConfigError, match="stop_los"):
        mg.BotConfig(mg.BotConfig.example().to_dict() | {"strategy": {**mg.BotConfig.example().to_dict()["strategy"], "stop_los": {"percent": 5}}})
    with pytest.raises(mg.ConfigError, match="price"):
        mg.plan(mg.BotConfig.example(), "abc")
    with pytest.raises(mg.ConfigError, match="nan"):
        mg.plan(mg.BotConfig.example(), float("nan"))
    assert mg.plan(mg.BotConfig.example(), np.float64(43250.17), exact=True)["price"][1] == Decimal("42601.41")


def rust_reference(tmp_path):
    """The same backtest through the Rust example binary (built by cargo test)."""
    out = tmp_path / "rust.json"
    exe = ROOT / "target" / "release" / "examples" / "backtest"
    cmd = [str(exe)] if exe.exists() else ["cargo", "run", "--release", "-q", "--example", "backtest", "--"]
    subprocess.run(cmd + ["--csv", str(DATA), "--json", str(out)], cwd=ROOT, check=True, capture_output=True)
    return json.loads(out.read_text())


def test_backtest_equals_the_rust_backtest_on_real_data(btc, tmp_path):
    result = mg.backtest(btc, mg.BotConfig.example())
    rust = rust_reference(tmp_path)
    # Compared as numbers: the float input path writes 2560.00 where the
    # CSV says 2560 (same value, another scale).
    py = mg._decimals(json.loads(result._json))
    rust = mg._decimals(rust)
    assert py["metrics"] == rust["metrics"]
    assert py["deals"] == rust["deals"]
    assert py["open_deal"] == rust["open_deal"]
    assert result.stats["closed_deals"] == rust["metrics"]["closed_deals"] == len(result.deals)
    assert result.exact.stats["realized_pnl"] == rust["metrics"]["realized_pnl"] == Decimal("2822.5461979498")


def test_inputs_dataframe_time_column_numpy_dict_csv_and_candles(btc):
    bot = mg.BotConfig.example()
    base = mg.backtest(btc, bot).stats
    with_column = btc.reset_index()
    assert mg.backtest(with_column, bot).stats.equals(base)
    arrays = {"time": btc.index.tz_convert(None).to_numpy(), **{k: btc[k].to_numpy() for k in ("open", "high", "low", "close")}}
    assert mg.backtest(arrays, bot).stats.equals(base)
    assert mg.backtest(str(DATA), bot).stats.equals(base)
    candles = mg.to_candles(btc, bot)
    assert len(candles) == 20_111 and candles.interval_ms() == 3_600_000
    assert mg.backtest(candles, bot).stats.equals(base)


def test_result_frames_series_and_pickle(btc):
    r = mg.backtest(btc.iloc[:2000], mg.BotConfig.example())
    assert list(r.deals.columns)[:3] == ["average_price", "cost", "dust"] or "pnl" in r.deals.columns
    assert {"client_order_id", "price", "quantity", "role"} <= set(r.fills.columns)
    assert len(r.equity) == 2000 and isinstance(r.equity.index, pd.DatetimeIndex)
    assert r.exact.equity.iloc[-1] == r.exact.stats["final_equity"]
    again = pickle.loads(pickle.dumps(r))
    assert again.to_dict() == r.to_dict()
    assert again.exact.equity.equals(r.exact.equity) and again.equity.equals(r.equity)
    assert set(r.to_dict()) == {"metrics", "deals", "fills", "equity_path", "unfunded", "open_deal"}


def test_result_is_serialized_on_demand(btc):
    # The metrics alone (before anything else is read) equal those of the
    # whole result; a result pickled before any access carries everything.
    bot = mg.BotConfig.example()
    fresh = mg.backtest(btc, bot)
    stats = fresh.stats
    assert "raw" not in fresh._shared and repr(fresh).startswith(f"BacktestResult({int(stats['closed_deals'])} deals")
    assert fresh.exact.stats.equals(pd.Series(fresh.to_dict()["metrics"], name="metrics", dtype=object))
    unread = pickle.loads(pickle.dumps(mg.backtest(btc, bot)))
    assert unread.to_dict() == fresh.to_dict() and unread.stats.equals(stats)


def test_reference_mode_and_signals(btc):
    bot = mg.BotConfig.example().replace(start_condition="signal")
    signals = np.zeros(len(btc), dtype=bool)
    signals[::300] = True
    fast = mg.backtest(btc, bot, signals=signals)
    ref = mg.backtest(btc, bot, signals=signals, mode="reference")
    assert fast.to_dict() == ref.to_dict()
    assert all(signals[d - 1] for d in fast.deals["start_index"])
    with pytest.raises(mg.BacktestError, match="signals"):
        mg.backtest(btc, bot, signals=signals[:10])


def test_bad_candles_name_the_row():
    t = np.array([0, 60_000], dtype=np.int64)
    with pytest.raises(mg.CandleError, match="row 1"):
        mg.Candles(t, np.array([1.0, 1.0]), np.array([1.0, 1.0]), np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    with pytest.raises(mg.CandleError, match="finite"):
        mg.Candles(t, np.array([1.0, np.nan]), np.array([1.0, 1.0]), np.array([1.0, 1.0]), np.array([1.0, 1.0]))


def test_gil_is_released_during_a_backtest():
    n = 1_500_000
    rng = np.random.default_rng(1)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.0012, n)))
    close = np.round(close, 2)
    open_ = np.concatenate([[close[0]], close[:-1]])
    high, low = np.maximum(open_, close) + 1, np.minimum(open_, close) - 1
    candles = mg.Candles(np.arange(n, dtype=np.int64) * 60_000, open_, high, low, close, 2)
    ticks = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    worker = threading.Thread(target=spin)
    worker.start()
    time.sleep(0.01)
    start = time.perf_counter()
    mg.backtest(candles, mg.BotConfig.example(), mode="reference", record_equity=False, record_fills=False)
    end = time.perf_counter()
    stop.set()
    worker.join()
    during = [t for t in ticks if start < t < end]
    assert end - start > 0.05, "backtest too short to tell"
    # The other thread kept running: at least a tick every ~10 ms of the call.
    assert len(during) >= (end - start) / 0.01, (len(during), end - start)


GRID = {"take_profit.percent": [1, "1.5", Decimal("2")], "price_deviation": [1, 2]}


def test_sweep_rows_equal_single_backtests_sorted_by_metric(btc):
    bot = mg.BotConfig.example()
    table = mg.sweep(btc, bot, GRID, progress=False)
    assert len(table) == 6 and table["error"].isna().all()
    pnl = [float(v) for v in table["realized_pnl"]]
    assert pnl == sorted(pnl, reverse=True)
    best = table.iloc[0]
    single = mg.backtest(btc, bot.replace(**{"take_profit.percent": best["take_profit.percent"], "price_deviation": best["price_deviation"]}))
    assert single.stats["realized_pnl"] == best["realized_pnl"]
    assert single.stats["closed_deals"] == best["closed_deals"]


def test_sweep_reports_progress_and_invalid_rows(btc):
    seen = []
    table = mg.sweep(btc.iloc[:3000], mg.BotConfig.example(), {"step_scale": [1, 20]}, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1] == (2, 2)
    assert table.loc[1, "error"] is not None and "step_scale" in table.loc[1, "error"]


def test_sweep_ctrl_c_cancels_and_keeps_python_threads_running():
    n = 300_000
    rng = np.random.default_rng(3)
    close = np.round(30_000 * np.exp(np.cumsum(rng.normal(0, 0.0012, n))), 2)
    open_ = np.concatenate([[close[0]], close[:-1]])
    candles = mg.Candles(np.arange(n, dtype=np.int64) * 60_000, open_, np.maximum(open_, close) + 1, np.minimum(open_, close) - 1, close, 2)
    # Far more sets than finish before the Ctrl-C (the fast walk does 4,000
    # of them in ~0.4 s here: the interrupt raced the end).
    grid = {"take_profit.percent": [str(1 + i / 1000) for i in range(40_000)]}
    ticks = []
    stop = threading.Event()
    started = threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    def interrupt():
        # Ctrl-C once the sweep has really started.
        started.wait(10)
        time.sleep(0.02)
        import _thread

        _thread.interrupt_main()

    # Daemon threads, stopped in `finally`: a failing assertion must not
    # leave a thread spinning that keeps pytest from exiting.
    threading.Thread(target=spin, daemon=True).start()
    threading.Thread(target=interrupt, daemon=True).start()
    start = time.perf_counter()
    seen = []
    try:
        with pytest.raises(KeyboardInterrupt):
            mg.sweep(candles, mg.BotConfig.example(), grid, progress=lambda d, t: (seen.append(d), started.set()))
        elapsed = time.perf_counter() - start
    finally:
        stop.set()
    assert seen[-1] < 40_000, "the sweep finished before Ctrl-C"
    assert elapsed < 5, f"cancel took {elapsed:.1f} s"
    during = [t for t in ticks if start < t < start + elapsed]
    assert len(during) >= elapsed / 0.01


def test_engine_actions_commands_errors_snapshot_and_pickle():
    e = mg.Engine("demo", mg.BotConfig.example())
    with pytest.raises(mg.EngineError, match="pause"):
        e.command("pause", time=0)
    e.command("start", time=0)
    (base,) = e.tick(1, Decimal("43250.17"))
    assert base["kind"] == "market" and base["quantity"] == Decimal("0.00231") and base["side"] == "buy"
    actions = e.fill(2, base["client_order_id"], "0.00231", "43250.17")
    prices = [a["price"] for a in actions]
    assert prices == [Decimal(p) for p in ("42601.41", "41822.91", "40888.71", "39767.66", "38422.41", "43898.93")]
    saved = e.snapshot()
    restored = mg.Engine.restore(saved)
    assert restored.status == e.status and restored.status["phase"] == "open"
    again = pickle.loads(pickle.dumps(e))
    tp = actions[-1]
    out_a = e.fill(3, tp["client_order_id"], tp["quantity"], tp["price"])
    out_b = again.fill(3, tp["client_order_id"], tp["quantity"], tp["price"])
    assert out_a == out_b and len(out_a) == 5  # cancels of the five safety orders
    with pytest.raises(mg.EngineError, match="before the last"):
        e.tick(0, "1")


def test_polars_input_when_installed(btc):
    pl = pytest.importorskip("polars")
    cols = {"time": btc.index.tz_convert(None).to_numpy(), **{k: btc[k].to_numpy() for k in ("open", "high", "low", "close")}}
    frame = pl.DataFrame(cols)
    assert mg.backtest(frame, mg.BotConfig.example()).stats.equals(mg.backtest(btc, mg.BotConfig.example()).stats)


def test_plot(btc):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    r = mg.backtest(btc.iloc[:3000], mg.BotConfig.example())
    fig = r.plot(btc.iloc[:3000])
    assert len(fig.axes) == 3
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["entry", "exit", "safety order"]


def test_candles_pickle(btc):
    candles = mg.to_candles(btc.iloc[:500], mg.BotConfig.example())
    again = pickle.loads(pickle.dumps(candles))
    assert again.to_csv() == candles.to_csv() and len(again) == 500


def test_quickstart_notebook_cells_run_top_to_bottom(monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    monkeypatch.chdir(ROOT / "examples" / "python")
    nb = json.loads((ROOT / "examples" / "python" / "quickstart.ipynb").read_text())
    namespace: dict = {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), "quickstart.ipynb", "exec"), namespace)
    assert namespace["result"].stats["closed_deals"] > 0
    assert len(namespace["table"]) == 12


def test_quickstart_script_runs(tmp_path):
    pytest.importorskip("matplotlib")
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "python" / "quickstart.py")], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "BacktestResult(" in out.stdout and (tmp_path / "quickstart.png").exists()


def test_engine_order_updates_and_signals():
    e = mg.Engine("sig", mg.BotConfig.example().replace(start_condition="signal", max_active_safety_orders=1))
    e.command("start", time=0)
    assert e.tick(1, "100") == [], "no signal, no deal"
    assert e.signal(2) == []
    (base,) = e.tick(3, "100")
    assert e.order_update(4, base["client_order_id"], "accepted") == []
    actions = e.fill(5, base["client_order_id"], base["quantity"], "100", fee="0.1", fee_asset="quote")
    safety = next(a for a in actions if a["role"] == {"safety": 1})
    # A rejected safety order is skipped: the next level is placed instead.
    (nxt,) = e.order_update(6, safety["client_order_id"], "rejected", reason="balance")
    assert nxt["role"] == {"safety": 2}
    assert e.status["deal"]["quantity"] == base["quantity"]
    assert e.status["totals"]["fees_quote"] == Decimal("0")  # fees are booked at close
    with pytest.raises(mg.EngineError, match="unknown order"):
        e.order_update(7, "nope", "canceled")
    with pytest.raises(mg.EngineError, match="event"):
        e.handle({"type": "bogus", "time": 8})


def test_indicator_start_conditions(btc):
    # SPEC section 10: the rule lives in Rust; Python passes the dict through.
    bot = mg.BotConfig.example().replace(start_condition={"indicator": "rsi", "period": 14, "below": "35"})
    fast = mg.backtest(btc, bot)
    ref = mg.backtest(btc, bot, mode="reference")
    assert fast.to_dict() == ref.to_dict()
    asap = mg.backtest(btc, mg.BotConfig.example())
    assert 0 < len(fast.deals) < len(asap.deals)
    with pytest.raises(ValueError, match="start_condition.period = 0"):
        mg.BotConfig.example().replace(start_condition={"indicator": "price_vs_sma", "period": 0, "below_percent": 1})


def test_limit_base_order(btc):
    # SPEC section 10: a resting limit base order with an offset and a timeout.
    bot = mg.BotConfig.example().replace(base_order_type="limit", entry_offset_percent="0.3", entry_timeout_secs=7200)
    fast = mg.backtest(btc, bot, record_fills=True)
    ref = mg.backtest(btc, bot, mode="reference", record_fills=True)
    assert fast.to_dict() == ref.to_dict()
    deals = fast.deals
    assert len(deals) > 0
    # Timed-out entries are not deals: their numbers are skipped.
    assert int(deals["number"].iloc[-1]) > len(deals)
    # The base order is a limit: it pays the maker fee.
    base = fast.fills[fast.fills["role"] == "base"].iloc[0]
    maker = Decimal(bot.to_dict()["fees"]["maker"])
    assert Decimal(str(base["fee"])) == maker * Decimal(str(base["price"])) * Decimal(str(base["quantity"]))
    with pytest.raises(ValueError, match="entry_timeout_secs"):
        mg.BotConfig.example().replace(entry_timeout_secs=60)
