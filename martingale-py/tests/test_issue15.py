"""Issue 15: a fast default backtest, pandas-native frames, clear errors
for bad inputs, calendar-aware Sharpe, running out of capital."""

import concurrent.futures
import pickle
import re
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import martingale as mg

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "btcusd-coinbase-1h.csv"
DAY = 86_400_000


@pytest.fixture(scope="module")
def btc():
    return pd.read_csv(DATA, parse_dates=["time"], index_col="time")


@pytest.fixture(scope="module")
def walk():
    """600,000 one-minute candles of the Rust crate's seeded walk."""
    return mg.Candles.synthetic(42, 600_000, 60_000, 30_000.0, 0.0012)


def best_of(n, f):
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


# --- item 6: the default call is fast; the curve is built when read ---------


def test_default_backtest_costs_about_the_lean_one(walk):
    bot = mg.BotConfig.from_file(ROOT / "examples" / "bots" / "w5.json")
    default = best_of(5, lambda: mg.backtest(walk, bot))
    lean = best_of(5, lambda: mg.backtest(walk, bot, record_equity=False, record_fills=False))
    # Before: the default walked every candle and serialized the curve
    # (~100x the lean call). The bound is loose for a shared machine; the
    # benchmark (examples/python/bench_w5.py) measures the real ratio.
    assert default < 1.5 * lean + 0.005, (default, lean)


def test_equity_is_built_on_read_float_and_exact(walk):
    bot = mg.BotConfig.from_file(ROOT / "examples" / "bots" / "w5.json")
    r = mg.backtest(walk, bot)
    start = time.perf_counter()
    eq = r.equity
    elapsed = time.perf_counter() - start
    assert eq.dtype == np.float64 and len(eq) == len(walk)
    assert isinstance(eq.index, pd.DatetimeIndex) and str(eq.index.tz) == "UTC"
    assert elapsed < 1.0, elapsed  # before: ~1 s per million candles of Decimal objects
    exact = mg.backtest(walk, bot, exact=True).equity.iloc[-5:]
    assert all(isinstance(v, Decimal) for v in exact)
    assert exact.iloc[-1] == r.exact.stats["final_equity"]
    assert np.allclose(eq.iloc[-5:].to_numpy(), exact.astype(float).to_numpy(), rtol=1e-12)
    # Pickled results rebuild the same curves.
    again = pickle.loads(pickle.dumps(r))
    assert again.equity.equals(eq)


# --- item 7: pandas-native frames, exact on request -------------------------


def test_frames_are_pandas_native(btc):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    r = mg.backtest(btc, mg.BotConfig.example())
    assert r.equity.dtype == np.float64
    r.equity.plot()  # failed on Decimal objects
    assert "pnl" in r.deals.describe().columns  # dropped when object dtype
    assert r.deals["pnl"].dtype == np.float64 and r.deals["cost"].dtype == np.float64
    assert isinstance(r.deals["started_at"].dtype, pd.DatetimeTZDtype)
    assert isinstance(r.deals["closed_at"].dtype, pd.DatetimeTZDtype)
    # One deal type: the backtest's deal rows are the engine's deal reports
    # (same names as ``Engine.closed_deals``) plus the candles they spanned.
    assert list(r.deals.columns[-2:]) == ["start_index", "end_index"]
    assert {"fees_quote", "fees_base", "safety_orders_filled", "started_at", "closed_at"} <= set(r.deals.columns)
    assert not {"fees", "safety_orders_used", "start_time", "end_time"} & set(r.deals.columns)
    assert isinstance(r.fills["time"].dtype, pd.DatetimeTZDtype) and r.fills["fee"].dtype == np.float64
    assert r.stats.dtype == np.float64 and r.stats["realized_pnl"] == pytest.approx(2822.5461979498)
    assert r.deals["started_at"].iloc[0] == pd.Timestamp(r.to_dict()["deals"][0]["started_at"], unit="ms", tz="UTC")
    # Exact on request: the accessor and the option agree with the Rust values.
    exact = r.exact
    assert exact.stats["realized_pnl"] == Decimal("2822.5461979498")
    assert sum(exact.deals["pnl"]) == exact.stats["realized_pnl"]
    assert all(isinstance(v, Decimal) for v in exact.deals["pnl"])
    assert mg.backtest(btc, mg.BotConfig.example(), exact=True).deals["pnl"].equals(exact.deals["pnl"])
    ladder = mg.plan(mg.BotConfig.example(), "43250.17")
    assert ladder["price"].dtype == np.float64 and ladder.attrs["funds_required"] == 2737.5


def test_sweep_frame_is_numeric(btc):
    table = mg.sweep(btc.iloc[:4000], mg.BotConfig.example(), {"take_profit.percent": [1, 1.5, 2]}, progress=False)
    top = table.nlargest(1, "realized_pnl")  # failed on Decimal objects
    assert top.index[0] == table.index[0]
    assert table["realized_pnl"].dtype == np.float64 and table["take_profit.percent"].dtype == np.float64
    exact = mg.sweep(btc.iloc[:4000], mg.BotConfig.example(), {"take_profit.percent": [1, 1.5, 2]}, progress=False, exact=True)
    assert all(isinstance(v, Decimal) for v in exact["realized_pnl"])
    assert list(exact.index) == list(table.index)


# --- item 8: inputs refused with clear errors -------------------------------


def hourly(n, start_ms, step_ms):
    close = np.round(100 + np.sin(np.arange(n) / 5.0) * 3, 2)
    return {"time": start_ms + np.arange(n, dtype=np.int64) * step_ms, "open": close, "high": close + 0.5, "low": close - 0.5, "close": close}


def test_epoch_second_times_are_refused():
    with pytest.raises(mg.CandleError, match="epoch seconds"):
        mg.backtest(hourly(500, 1_700_000_000, 3600), mg.BotConfig.example())
    # Milliseconds (even from 1970) pass.
    assert mg.backtest(hourly(500, 1_700_000_000_000, 3_600_000), mg.BotConfig.example()).stats["candles"] == 500
    assert mg.backtest(hourly(500, 0, 60_000), mg.BotConfig.example()).stats["candles"] == 500


@pytest.mark.parametrize("capital", [0, -100, "0", Decimal("-1")])
def test_non_positive_initial_capital_is_refused(btc, capital):
    with pytest.raises(mg.ConfigError, match="initial_capital .* must be positive"):
        mg.backtest(btc.iloc[:100], mg.BotConfig.example(), initial_capital=capital)
    with pytest.raises(mg.ConfigError, match="initial_capital"):
        mg.sweep(btc.iloc[:100], mg.BotConfig.example(), {"take_profit.percent": [1]}, initial_capital=capital, progress=False)


def test_sweep_refuses_a_misspelt_sort_by_and_axis_up_front(btc):
    with pytest.raises(mg.ConfigError, match="sort_by = 'realised_pnl'.*did you mean 'realized_pnl'"):
        mg.sweep(btc.iloc[:100], mg.BotConfig.example(), {"take_profit.percent": [1]}, sort_by="realised_pnl", progress=False)
    calls = []
    with pytest.raises(mg.ConfigError, match="grid axis \"take_profit.percnt\" names no bot-file field"):
        mg.sweep(btc.iloc[:100], mg.BotConfig.example(), {"take_profit.percnt": [1, 2]}, progress=lambda d, t: calls.append(d))
    assert calls == [], "nothing ran"


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("take_profit", 5, "{'percent': 5}"),
        ("base_order", 1000, "{'quote': 1000}"),
        ("max_safety_orders", 2.5, "whole number"),
        ("max_safety_orders", "x", "whole number"),
        ("stop_loss", "3", "{'percent': '3'}"),
    ],
)
def test_config_shape_errors_name_the_field_and_the_form(field, value, expected):
    fields = {"base_order": {"quote": 100}, "take_profit": {"percent": 1}, field: value}
    for build in (lambda: mg.BotConfig.example().replace(**{field: value}), lambda: mg.BotConfig(**fields)):
        with pytest.raises(mg.ConfigError) as e:
            build()
        message = str(e.value)
        assert f"strategy.{field}" in message and expected in message, message
        assert not re.search(r"line \d+ column \d+", message), message


def test_a_price_that_is_not_a_number_names_column_and_row(btc):
    df = btc.iloc[:10].copy()
    df["close"] = df["close"].astype(object)
    df.iloc[2, df.columns.get_loc("close")] = "n/a"
    with pytest.raises(mg.CandleError, match=r"column 'close', row 2 \(index 2017-07-01 13:00:00\+00:00\): 'n/a' is not a number"):
        mg.backtest(df, mg.BotConfig.example())


def test_plan_accepts_an_int_price():
    bot = mg.BotConfig.example()
    assert mg.plan(bot, 43250).equals(mg.plan(bot, "43250"))
    assert mg.plan(bot, np.int64(43250)).equals(mg.plan(bot, "43250"))


def test_one_candle_backtest_takes_interval_ms():
    one = {"time": np.array([0]), "open": [100.0], "high": [101.0], "low": [99.0], "close": [100.5]}
    with pytest.raises(mg.BacktestError, match="interval_ms"):
        mg.backtest(one, mg.BotConfig.example())
    r = mg.backtest(one, mg.BotConfig.example(), interval_ms=60_000)
    assert r.stats["candles"] == 1 and r.stats["fills"] >= 1


def _raise_config_error(_):
    mg.BotConfig.example().replace(step_scale="11")


def test_errors_pickle_and_cross_process_pools():
    for cls in (mg.MartingaleError, mg.ConfigError, mg.CandleError, mg.BacktestError, mg.EngineError):
        again = pickle.loads(pickle.dumps(cls("row 3: bad")))
        assert type(again) is cls and str(again) == "row 3: bad" and isinstance(again, ValueError)
    with concurrent.futures.ProcessPoolExecutor(1) as pool:
        with pytest.raises(mg.ConfigError, match="step_scale"):
            pool.submit(_raise_config_error, 0).result()


def test_version():
    text = (ROOT / "martingale-py" / "pyproject.toml").read_text()
    assert mg.__version__ == re.search(r'^version = "(.+)"', text, re.M).group(1)


def test_plot_draws_into_the_given_axes(btc):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = mg.backtest(btc.iloc[:2000], mg.BotConfig.example())
    fig, ax = plt.subplots()
    assert r.plot(ax=ax) is fig and len(ax.lines) == 1 and len(fig.axes) == 1
    fig2, axes = plt.subplots(3, 1)
    assert r.plot(btc.iloc[:2000], ax=axes) is fig2 and all(a.has_data() for a in axes)
    with pytest.raises(ValueError, match="3 of them"):
        r.plot(btc.iloc[:2000], ax=axes[:2])
    plt.close("all")


# --- item 9: Sharpe / Sortino by the data's calendar ------------------------


def weekday_daily(n_days=1500):
    rng = np.random.default_rng(5)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0.0005, 0.02, n_days))), 2)
    open_ = np.concatenate([[close[0]], close[:-1]])
    days = np.arange(n_days, dtype=np.int64)
    keep = (days + 3) % 7 < 5  # 1970-01-01 was a Thursday: drop Saturdays and Sundays
    return {"time": (days * DAY)[keep], "open": open_[keep], "high": np.maximum(open_, close)[keep] + 0.5, "low": np.minimum(open_, close)[keep] - 0.5, "close": close[keep]}


def test_sharpe_uses_the_calendar_of_stock_data_and_the_option():
    bot = mg.BotConfig.example().replace(**{"take_profit.percent": 3, "price_deviation": 3})
    data = weekday_daily()
    r = mg.backtest(data, bot)
    ppy = r.stats["periods_per_year"]
    assert 255 < ppy < 266, ppy  # ~261 weekdays a year, not 365.25
    r247 = mg.backtest(data, bot, periods_per_year=365.25)
    assert r.stats["sharpe"] == pytest.approx(r247.stats["sharpe"] * np.sqrt(ppy / 365.25), rel=1e-12)
    r252 = mg.backtest(data, bot, periods_per_year=252)
    assert r252.stats["periods_per_year"] == 252
    assert r252.stats["sortino"] == pytest.approx(r247.stats["sortino"] * np.sqrt(252 / 365.25), rel=1e-12)
    with pytest.raises(mg.ConfigError, match="periods_per_year"):
        mg.backtest(data, bot, periods_per_year=0)


def test_sharpe_of_24_7_crypto_data_is_unchanged(btc):
    r = mg.backtest(btc, mg.BotConfig.example())
    assert r.stats["periods_per_year"] == 365.25 * 24
    same = mg.backtest(btc, mg.BotConfig.example(), periods_per_year=365.25 * 24)
    assert r.exact.stats.equals(same.exact.stats)


# --- item 4: running out of capital ----------------------------------------


def test_unfunded_is_reported_and_can_stop_the_bot(btc):
    bot = mg.BotConfig.example().replace(stop_loss={"percent": 8}, cooldown_secs=0)
    r = mg.backtest(btc, bot)
    u = r.unfunded
    assert u is not None and u["equity"] < u["funds_required"]
    assert isinstance(u["time"], pd.Timestamp)
    stopped = mg.backtest(btc, bot, stop_when_unfunded=True)
    assert stopped.unfunded == u
    last_start = stopped.deals["start_index"].max()
    assert last_start <= u["index"], "no deal opened after it"
    assert stopped.stats["closed_deals"] < r.stats["closed_deals"]
    assert stopped.stats["final_equity"] > r.stats["final_equity"]
    assert mg.backtest(btc, mg.BotConfig.example(), initial_capital=100_000).unfunded is None
