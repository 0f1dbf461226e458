"""martingale: the Rust Martingale / DCA engine and backtester for Python.

Money is exact inside: values go in as ``decimal.Decimal``, ``str``,
``int`` or ``float`` (floats through their shortest repr, so ``0.1`` is
``0.1``). Frames and series come back pandas-native (float64 money,
datetime64 times) so ``plot``, ``describe`` and ``nlargest`` work; pass
``exact=True`` (or read ``result.exact``) for the exact ``decimal.Decimal``
values. Config objects (``BotConfig``, ``Engine`` actions) stay Decimal.
Errors are ``ValueError`` subclasses whose message names the field and the
value; they pickle.

>>> import martingale as mg
>>> bot = mg.BotConfig.example()
>>> ladder = mg.plan(bot, "43250.17")
>>> str(ladder["price"][1]), str(ladder.attrs["funds_required"])
('42601.41', '2737.5')
"""

from __future__ import annotations

import difflib
import json
import os
from decimal import Decimal
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from . import _core
from ._core import BacktestError, CandleError, Candles, ConfigError, EngineError, MartingaleError
from ._frames import _decimals, floats, frame, series, times as _times

__version__: str = _core.__version__

__all__ = [
    "__version__",
    "BotConfig",
    "Candles",
    "BacktestResult",
    "Engine",
    "plan",
    "backtest",
    "sweep",
    "to_candles",
    "MartingaleError",
    "ConfigError",
    "CandleError",
    "BacktestError",
    "EngineError",
]

_SECTIONS = ("strategy", "market", "fees", "fill")
_EXAMPLE = {
    "strategy": {
        "side": "long",
        "base_order": {"quote": "100"},
        "safety_order": {"quote": "200"},
        "max_safety_orders": 5,
        "price_deviation": "1.5",
        "step_scale": "1.2",
        "volume_scale": "1.5",
        "take_profit": {"percent": "1.5", "base": "average"},
    },
    "market": {"symbol": "BTCUSDT", "tick_size": "0.01", "step_size": "0.00001", "min_qty": "0.00001", "min_notional": "5"},
    "fees": {"maker": "0.001", "taker": "0.001", "asset": "quote"},
    "fill": {"path": "adaptive", "limit_fill": "cross", "slippage_bps": "0"},
}


def _plain(value: Any) -> Any:
    """Python values -> JSON values with every number as an exact decimal string."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)  # numpy scalars repr as np.float64(...)
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{value!r} is not a finite number")
        return repr(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


#: Whole-number strategy fields.
_WHOLE = ("max_safety_orders", "max_active_safety_orders", "cooldown_secs", "stop_loss_timeout_secs", "max_deals")
#: Strategy fields that are order sizes.
_SIZES = ("base_order", "safety_order")
#: Strategy fields that are ``{"percent": ..., "base": ...}`` tables.
_PERCENTS = ("take_profit", "stop_loss")


def _check_strategy(strategy: Any) -> None:
    """Refuses the common shape mistakes with a message that names the
    field and the expected form (rather than the position in JSON text
    the user never wrote)."""
    if not isinstance(strategy, Mapping):
        raise ConfigError(f"strategy = {strategy!r}: expected a table of strategy fields")
    for name in _SIZES:
        v = strategy.get(name)
        if v is not None and not isinstance(v, Mapping):
            raise ConfigError(
                f"strategy.{name} = {v!r}: expected an order size: {{'quote': {v!r}}} (quote currency to spend) "
                f"or {{'base': ...}} (base quantity)"
            )
    for name in _PERCENTS:
        v = strategy.get(name)
        if v is not None and not isinstance(v, Mapping):
            raise ConfigError(
                f"strategy.{name} = {v!r}: expected {{'percent': {v!r}}} (optionally with 'base': 'average' or 'base_order')"
            )
    for name in _WHOLE:
        v = strategy.get(name)
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v < 0:
            raise ConfigError(f"strategy.{name} = {v!r}: expected a whole number >= 0")
        if isinstance(v, str) and not v.isdigit():
            raise ConfigError(f"strategy.{name} = {v}: expected a whole number >= 0")
        if isinstance(v, (float, np.floating, Decimal)):
            raise ConfigError(f"strategy.{name} = {v!r}: expected a whole number >= 0 (an int, not {type(v).__name__})")


class BotConfig:
    """A validated bot file: strategy, market rules, fees and fill model.

    Build it from keyword arguments (strategy fields, plus ``market=``,
    ``fees=``, ``fill=``), from a dict (a whole bot file or just a
    strategy), or from a JSON / TOML file. It round-trips to all of them and
    pickles.

    >>> bot = BotConfig(base_order={"quote": 100}, take_profit={"percent": 1.5},
    ...                 max_safety_orders=0, market={"tick_size": "0.01", "step_size": "0.001"})
    >>> bot.strategy["take_profit"]["percent"]
    Decimal('1.5')
    """

    def __init__(self, config: Optional[Mapping[str, Any]] = None, **fields: Any) -> None:
        doc: Dict[str, Any] = {}
        if config is not None:
            doc = dict(config)
            if not any(k in doc for k in _SECTIONS):
                doc = {"strategy": doc}
        sections = {k: fields.pop(k) for k in _SECTIONS if k in fields}
        if fields:
            doc.setdefault("strategy", {}).update(fields)
        doc.update(sections)
        doc.setdefault("market", {"tick_size": "0.01", "step_size": "0.00001"})
        _check_strategy(doc.get("strategy", {}))
        self._json = _core.validate_bot(json.dumps(_plain(doc)))

    @classmethod
    def example(cls) -> "BotConfig":
        """The SPEC's example bot (the worked example's ladder on BTCUSDT)."""
        return cls(_EXAMPLE)

    @classmethod
    def from_json(cls, text: str) -> "BotConfig":
        """From JSON text."""
        return cls(json.loads(text))

    @classmethod
    def from_toml(cls, text: str) -> "BotConfig":
        """From TOML text."""
        return cls.from_json(_core.bot_from_toml(text))

    @classmethod
    def from_file(cls, path: Union[str, os.PathLike]) -> "BotConfig":
        """From a ``.json`` or ``.toml`` file."""
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return cls.from_json(text) if text.lstrip().startswith("{") else cls.from_toml(text)

    def to_json(self) -> str:
        """JSON text (decimals as strings)."""
        return self._json

    def to_toml(self) -> str:
        """TOML text."""
        return _core.bot_to_toml(self._json)

    def to_dict(self) -> Dict[str, Any]:
        """A dict with decimals as ``Decimal``."""
        return _decimals(json.loads(self._json))

    def replace(self, **changes: Any) -> "BotConfig":
        """A copy with fields changed; dotted paths (``"take_profit.percent"``)
        or strategy field names; sections (``market``, ...) replace whole."""
        doc = json.loads(self._json)
        for path, value in changes.items():
            parts = path.replace("__", ".").split(".")
            if parts[0] not in _SECTIONS:
                parts.insert(0, "strategy")
            node = doc
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            node[parts[-1]] = _plain(value)
        return BotConfig(doc)

    @property
    def strategy(self) -> Dict[str, Any]:
        return self.to_dict()["strategy"]

    @property
    def market(self) -> Dict[str, Any]:
        return self.to_dict()["market"]

    @property
    def fees(self) -> Dict[str, Any]:
        return self.to_dict()["fees"]

    @property
    def fill(self) -> Dict[str, Any]:
        return self.to_dict()["fill"]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BotConfig) and json.loads(self._json) == json.loads(other._json)

    def __reduce__(self):
        return (BotConfig.from_json, (self._json,))

    def __repr__(self) -> str:
        return f"BotConfig({self._json})"


def _bot(config: Union[BotConfig, Mapping[str, Any], str, os.PathLike]) -> BotConfig:
    if isinstance(config, BotConfig):
        return config
    if isinstance(config, Mapping):
        return BotConfig(config)
    return BotConfig.from_file(config)


def plan(config: Union[BotConfig, Mapping[str, Any], str], price: Any, *, exact: bool = False) -> pd.DataFrame:
    """The ladder of ``config`` for a deal entered at ``price`` (Decimal,
    str, int or float).

    One row per level (0 = base order): price, deviation, quantity, quote,
    cost, cumulative quantity and cost, average and take-profit price if the
    deal closes after that level; with take-profit steps, one
    ``take_profit_step_k`` column per step; with a stop loss,
    ``stop_loss_price``. ``.attrs`` holds ``funds_required`` and
    ``max_deviation``. float64 columns, or ``Decimal`` with ``exact=True``.
    """
    bot = _bot(config)
    raw = json.loads(_core.plan(bot.to_json(), price if isinstance(price, str) else str(_plain(price))))
    for level in raw["levels"]:
        # Take-profit steps become one column per step.
        for k, step_price in enumerate(level.pop("take_profit_steps", []), start=1):
            level[f"take_profit_step_{k}"] = step_price
    levels = _decimals(raw["levels"])
    df = frame(levels, exact).set_index("level")
    conv = (lambda v: v) if exact else float  # noqa: E731
    df.attrs["funds_required"] = conv(Decimal(raw["funds_required"]))
    df.attrs["max_deviation"] = conv(Decimal(raw["max_deviation"]))
    return df


def _ms(values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[ms]").astype(np.int64)
    if arr.dtype == object:
        return pd.to_datetime(arr, utc=True).values.astype("datetime64[ms]").astype(np.int64)
    ms = arr.astype(np.int64)
    _refuse_epoch_seconds(ms)
    return ms


def _refuse_epoch_seconds(ms: np.ndarray) -> None:
    """Numeric times are epoch milliseconds. Epoch seconds read as ms put
    every candle between 1970-01-02 and 1973-03-03 with candles seconds
    apart (and inflate an hourly Sharpe ~60-fold): such a series is
    refused, with the fix. Known limit: genuine millisecond data from those
    three years is refused too (pass datetimes)."""
    if len(ms) == 0:
        return
    first, last = int(ms.min()), int(ms.max())
    if 100_000_000 <= first and last < 100_000_000_000:
        steps = np.diff(ms)
        positive = steps[steps > 0]
        step = f", candles {int(positive.min())} ms apart" if len(positive) else ""
        raise CandleError(
            f"time = {first} looks like epoch seconds ({pd.Timestamp(first, unit='s', tz='UTC'):%Y-%m-%d} as seconds, "
            f"{pd.Timestamp(first, unit='ms', tz='UTC'):%Y-%m-%d} as milliseconds{step}): "
            "pass epoch milliseconds (time * 1000) or datetimes"
        )


def _prices(get: Any, name: str, labels: Any) -> np.ndarray:
    """A price column as contiguous float64; a value that is not a number
    raises CandleError naming the column and the row."""
    raw = get(name)
    try:
        return np.ascontiguousarray(np.asarray(raw, dtype=np.float64))
    except (ValueError, TypeError):
        values = pd.Series(np.asarray(raw, dtype=object))
        bad = pd.to_numeric(values, errors="coerce").isna() & values.notna()
        row = int(np.flatnonzero(bad.to_numpy())[0]) if bad.any() else 0
        where = f"row {row}"
        if labels is not None and row < len(labels):
            where += f" (index {labels[row]})"
        raise CandleError(f"column {name!r}, {where}: {values.iloc[row]!r} is not a number") from None


def _decimal_places(bot: Optional[BotConfig]) -> Optional[int]:
    if bot is None:
        return None
    tick = Decimal(str(bot.market["tick_size"])).normalize()
    return max(0, -tick.as_tuple().exponent) if tick > 0 else None


def to_candles(data: Any, config: Optional[BotConfig] = None) -> Candles:
    """Converts candles to the native series.

    Accepts a pandas DataFrame (``open, high, low, close`` columns and a
    datetime index or a ``time`` column), a dict of numpy arrays (``time``
    in ms or datetime64), a polars DataFrame, a CSV path, or ``Candles``.
    Float prices are taken on the market's price grid when ``config`` is
    given (so ``43250.17`` is exactly ``43250.17``).
    """
    if isinstance(data, Candles):
        return data
    if isinstance(data, (str, os.PathLike)):
        with open(data, encoding="utf-8") as f:
            return Candles.from_csv(f.read())
    if type(data).__module__.startswith("polars"):
        # Column by column to numpy: no pyarrow needed.
        data = {str(c).lower(): data[c].to_numpy() for c in data.columns}
    if isinstance(data, pd.DataFrame):
        cols = {c.lower(): c for c in data.columns}
        if "time" in cols:
            col = data[cols["time"]]
            if isinstance(col.dtype, pd.DatetimeTZDtype):
                col = col.dt.tz_convert(None)
            time = _ms(col.to_numpy())
        elif isinstance(data.index, pd.DatetimeIndex):
            index = data.index.tz_convert(None) if data.index.tz is not None else data.index
            time = _ms(index.to_numpy())
        else:
            raise CandleError("candles need a datetime index or a 'time' column")
        get = lambda k: data[cols[k]].to_numpy()  # noqa: E731
        labels = data.index
    elif isinstance(data, Mapping):
        if "time" not in data:
            raise CandleError("missing column 'time'")
        time = _ms(data["time"])
        get = lambda k: data[k]  # noqa: E731
        labels = None
    else:
        raise CandleError(f"cannot read candles from {type(data).__name__}")
    try:
        o, h, l, c = (_prices(get, k, labels) for k in ("open", "high", "low", "close"))
    except KeyError as e:
        raise CandleError(f"missing column {e}") from None
    return Candles(np.ascontiguousarray(time), o, h, l, c, _decimal_places(config))


class BacktestResult:
    """The result of :func:`backtest`.

    ``stats`` (Series of the metrics), ``deals`` and ``fills``
    (DataFrames), ``equity`` (Series of equity at each close, UTC
    DatetimeIndex), ``open_deal`` (dict or None), ``unfunded`` (when equity
    first could not fund the next deal, or None), ``to_dict()`` (exact);
    pickles. Money is float64 unless the result is exact
    (``backtest(..., exact=True)``); ``result.exact`` is the same result
    with ``Decimal`` values.

    Nothing is converted until it is read: the equity curve is built from
    the equity path (a few thousand pieces) on first access of ``equity``,
    in Rust; deals and fills are serialized and parsed on first access.
    """

    def __init__(self, raw: Any, candles: Optional[Candles] = None, exact: bool = False, _shared: Optional[Dict[str, Any]] = None):
        # `raw` is the result held in Rust (from `backtest`) or its JSON text
        # (unpickled, with `candles`).
        self._native = None if isinstance(raw, str) else raw
        self._text: Optional[str] = raw if isinstance(raw, str) else None
        self._candles = candles if candles is not None or self._native is None else self._native.candles()
        self._exact = exact
        # Parsed values are shared between the float and the exact view.
        self._shared: Dict[str, Any] = {} if _shared is None else _shared
        self._cache: Dict[str, Any] = {}

    @property
    def exact(self) -> "BacktestResult":
        """The same result with money as ``decimal.Decimal`` (exact)."""
        if self._exact:
            return self
        if "exact" not in self._cache:
            view = BacktestResult.__new__(BacktestResult)
            view.__dict__.update(self.__dict__)
            view._exact, view._cache = True, {}
            view._cache["exact"] = view
            self._cache["exact"] = view
        return self._cache["exact"]

    @property
    def _json(self) -> str:
        if self._text is None:
            self._text = self._native.json()
        return self._text

    @property
    def _raw(self) -> Dict[str, Any]:
        if "raw" not in self._shared:
            self._shared["raw"] = _decimals(json.loads(self._json))
        return self._shared["raw"]

    @property
    def _metrics(self) -> Dict[str, Any]:
        # The metrics alone, without serializing every deal and fill.
        if "raw" in self._shared or self._native is None:
            return self._raw["metrics"]
        if "metrics" not in self._shared:
            self._shared["metrics"] = _decimals(json.loads(self._native.metrics_json()))
        return self._shared["metrics"]

    def _get(self, key: str, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    @property
    def stats(self) -> pd.Series:
        """The SPEC metrics: float64 (None as NaN), or exact values."""
        return self._get("stats", lambda: series(self._metrics, self._exact, "metrics"))

    @property
    def deals(self) -> pd.DataFrame:
        """One row per closed deal (``started_at`` / ``closed_at`` as UTC datetimes)."""
        return self._get("deals", lambda: frame(self._raw["deals"], self._exact))

    @property
    def fills(self) -> pd.DataFrame:
        """One row per fill (``time`` as UTC datetime; ``fee`` and ``fee_asset``)."""
        return self._get("fills", lambda: frame(self._raw["fills"], self._exact))

    @property
    def open_deal(self) -> Optional[Dict[str, Any]]:
        """The deal open at the end, if any."""
        deal = self._raw["open_deal"]
        return deal if self._exact or deal is None else floats(deal)

    @property
    def unfunded(self) -> Optional[Dict[str, Any]]:
        """When equity first could not fund the next deal (``index``,
        ``time``, ``equity``, ``funds_required``), or None: checked at the
        start and at each deal's close against the funds the ladder needs
        there. ``backtest(..., stop_when_unfunded=True)`` stops opening
        deals from that point."""

        def build():
            raw = _decimals(json.loads(self._native.unfunded_json())) if self._native is not None else self._raw.get("unfunded")
            if raw is None:
                return None
            raw = dict(raw)
            raw["time"] = pd.Timestamp(raw["time"], unit="ms", tz="UTC")
            return raw if self._exact else floats(raw)

        return self._get("unfunded", build)

    def _index(self) -> pd.DatetimeIndex:
        if "index" not in self._shared:
            self._shared["index"] = _times(self._candles.times_array())
        return self._shared["index"]

    @property
    def equity(self) -> pd.Series:
        """Equity at each close: float64 (for plots and numpy), or exact
        ``Decimal`` values on the exact view."""

        def build():
            if self._native is not None:
                values = [Decimal(v) for v in self._native.equity_exact()] if self._exact else self._native.equity_f64()
            else:
                path = json.dumps(_plain(self._raw["equity_path"]))
                values = _core.equity_curve(path, self._candles, self._exact)
                values = [Decimal(v) for v in values] if self._exact else values
            dtype = object if self._exact else np.float64
            return pd.Series(values, index=self._index(), name="equity", dtype=dtype)

        return self._get("equity", build)

    def to_dict(self) -> Dict[str, Any]:
        """``{"metrics", "deals", "fills", "equity_path", "unfunded", "open_deal"}``
        with exact ``Decimal`` values (``equity_path``: the pieces
        ``start, cash, base`` of the equity ``cash + base * close``)."""
        raw = dict(self._raw)
        raw.pop("equity", None)
        return raw

    def __reduce__(self):
        return (BacktestResult, (self._json, self._candles, self._exact))

    def plot(self, candles: Any = None, ax=None):
        """Plots equity and drawdown (and, given the candles used, the
        closes with deal entries and exits). Needs matplotlib; returns the
        figure. ``ax``: one matplotlib Axes (equity with the drawdown
        shaded below it) or a sequence of as many Axes as panels (2, or 3
        with candles) to draw into instead of a new figure."""
        import matplotlib.pyplot as plt

        rows = 3 if candles is not None else 2
        if ax is None:
            fig, axes = plt.subplots(rows, 1, figsize=(11, 2.6 * rows), sharex=True)
        elif hasattr(ax, "plot"):
            eq = self.equity
            ax.plot(eq.index, eq.to_numpy(), lw=0.8, label="equity")
            ax.fill_between(eq.index, eq.cummax().to_numpy(), eq.to_numpy(), color="tab:red", alpha=0.3, label="drawdown")
            ax.set_ylabel("equity")
            ax.legend(loc="upper left")
            return ax.figure
        else:
            axes = list(np.ravel(ax))
            if len(axes) != rows:
                raise ValueError(f"plot(ax=...) needs one Axes or {rows} of them, got {len(axes)}")
            fig = axes[0].figure
        if candles is not None:
            series_ = to_candles(candles)
            t = _times(series_.times_array())
            closes = series_.closes_array()
            axes[0].plot(t, closes, lw=0.7, color="0.3")
            deals = self.deals
            if len(deals):
                starts = deals["start_index"].to_numpy(dtype=int)
                ends = deals["end_index"].to_numpy(dtype=int)
                axes[0].scatter(t[starts], closes[starts], marker="^", s=12, color="tab:green", label="entry")
                axes[0].scatter(t[ends], deals["exit_price"].astype(float), marker="v", s=12, color="tab:red", label="exit")
            fills = self.fills
            if len(fills):
                # Ladder levels: every safety order that filled, at its price.
                safety = fills[fills["role"].map(lambda r: isinstance(r, dict) and "safety" in r)]
                if len(safety):
                    idx = safety["candle"].to_numpy(dtype=int)
                    axes[0].scatter(t[idx], safety["price"].astype(float), marker="_", s=40, color="tab:orange", label="safety order")
            if len(deals):
                axes[0].legend(loc="upper left")
            axes[0].set_ylabel("price")
        eq = self.equity if not self._exact else self.equity.astype(float)
        axes[-2].plot(eq.index, eq.to_numpy(), lw=0.8)
        axes[-2].set_ylabel("equity")
        dd = eq.cummax() - eq
        axes[-1].fill_between(dd.index, -dd.to_numpy(), 0, color="tab:red", alpha=0.4)
        axes[-1].set_ylabel("drawdown")
        if ax is None:
            fig.tight_layout()
        return fig

    def __repr__(self) -> str:
        m = self._metrics
        return f"BacktestResult({m['closed_deals']} deals, realized P&L {m['realized_pnl']}, max drawdown {m['max_drawdown_pct']} %)"


def backtest(
    candles: Any,
    config: Union[BotConfig, Mapping[str, Any], str],
    *,
    signals: Optional[Sequence[bool]] = None,
    initial_capital: Any = None,
    mode: str = "fast",
    interval_ms: Optional[int] = None,
    periods_per_year: Optional[float] = None,
    stop_when_unfunded: bool = False,
    exact: bool = False,
    record_equity: bool = True,
    record_fills: bool = True,
) -> BacktestResult:
    """Backtests ``config`` on ``candles`` (see :func:`to_candles` for the
    accepted inputs) with the Rust engine; the GIL is released meanwhile.

    - ``signals``: optional boolean array (a signal on candle i opens a deal
      at candle i + 1, with ``start_condition = "signal"``).
    - ``initial_capital``: positive; default the funds the ladder requires.
    - ``interval_ms``: the candle interval, needed for a single candle
      (default: the smallest step of the series).
    - ``periods_per_year``: returns a year for Sharpe / Sortino (e.g. 252
      for daily stock candles); default the series' own calendar (24/7
      when it has >= 90 % of the around-the-clock candle count).
    - ``stop_when_unfunded``: open no new deal once equity cannot fund one
      (see :attr:`BacktestResult.unfunded`).
    - ``exact``: frames with ``Decimal`` money instead of float64.
    - ``record_equity`` is accepted for compatibility: the equity curve is
      always available and built only when ``result.equity`` is read.
      ``record_fills=False`` leaves ``fills`` empty.
    """
    bot = _bot(config)
    series_ = to_candles(candles, bot)
    options = {
        "initial_capital": None if initial_capital is None else _plain(initial_capital),
        "mode": mode,
        "record_equity": False,  # the curve is built from the path on demand
        "record_fills": bool(record_fills),
        "interval_ms": None if interval_ms is None else int(interval_ms),
        "periods_per_year": None if periods_per_year is None else float(periods_per_year),
        "stop_when_unfunded": bool(stop_when_unfunded),
    }
    sig = None if signals is None else np.ascontiguousarray(np.asarray(signals, dtype=bool))
    raw = _core.run_backtest(bot.to_json(), series_, json.dumps(options), sig)
    return BacktestResult(raw, series_, exact)


#: The metric columns of a backtest (`stats` index and sweep columns).
METRICS = (
    "candles", "fills", "closed_deals", "take_profit_exits", "stop_loss_exits", "trailing_exits", "manual_exits", "time_limit_exits",
    "realized_pnl", "fees", "fees_base", "win_rate_pct", "profit_factor", "avg_deal_duration_secs",
    "max_deal_duration_secs", "max_safety_orders_used", "max_deal_cost", "funds_required", "return_on_funds_pct",
    "initial_capital", "final_equity", "max_drawdown", "max_drawdown_pct", "max_unrealized_loss", "time_in_deal_pct",
    "sharpe", "sortino", "periods_per_year",
)  # fmt: skip


def _grid(grid: Mapping[str, Sequence[Any]]) -> str:
    axes = [[path, [_plain(v) for v in values]] for path, values in grid.items()]
    return json.dumps({"axes": axes})


def sweep(
    candles: Any,
    config: Union[BotConfig, Mapping[str, Any], str],
    grid: Mapping[str, Sequence[Any]],
    *,
    sort_by: Optional[str] = "realized_pnl",
    ascending: bool = False,
    progress: Union[bool, Any] = True,
    initial_capital: Any = None,
    periods_per_year: Optional[float] = None,
    exact: bool = False,
) -> pd.DataFrame:
    """Backtests every combination of ``grid`` (bot-file fields by dotted
    path, e.g. ``{"take_profit.percent": [1, 1.5], "price_deviation":
    [1, 2]}``) on all cores, in Rust, with the GIL released. Shows a tqdm
    progress bar when tqdm is installed (``progress=False`` hides it, a
    callable ``progress(done, total)`` replaces it). Ctrl-C stops the sweep
    and raises ``KeyboardInterrupt``. Returns one row per combination: its
    values, every metric (float64, or ``Decimal`` with ``exact=True``), and
    ``error`` for combinations that could not run; sorted by ``sort_by`` (a
    metric or an axis). A misspelt ``sort_by`` or an axis that names no
    field raises :class:`ConfigError` before anything runs.
    """
    bot = _bot(config)
    if sort_by is not None and sort_by not in METRICS and sort_by not in grid:
        near = difflib.get_close_matches(str(sort_by), list(METRICS) + list(grid), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ConfigError(f"sort_by = {sort_by!r}: not a metric or a grid axis{hint}; metrics: {', '.join(METRICS)}")
    for path, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) and not isinstance(values, np.ndarray):
            raise ConfigError(f"grid axis {path!r}: expected a list of values, got {values!r}")
        if len(values) == 0:
            raise ConfigError(f"grid axis {path!r}: has no values")
    series_ = to_candles(candles, bot)
    callback = None
    bar = None
    if callable(progress):
        callback = progress
    elif progress:
        try:
            from tqdm.auto import tqdm

            total = 1
            for values in grid.values():
                total *= len(values)
            bar = tqdm(total=total, desc="sweep")

            def callback(done: int, total: int) -> None:
                bar.update(done - bar.n)
        except ImportError:
            callback = None
    options = json.dumps(
        {
            "initial_capital": None if initial_capital is None else str(_plain(initial_capital)),
            "periods_per_year": None if periods_per_year is None else float(periods_per_year),
        }
    )
    try:
        raw = _core.run_sweep(bot.to_json(), series_, _grid(grid), options, callback)
    finally:
        if bar is not None:
            bar.close()
    out = json.loads(raw)
    rows = []
    for row in out["rows"]:
        record: Dict[str, Any] = {"index": row["index"], **_decimals(row["params"])}
        outcome = row["outcome"]
        if "Ok" in outcome:
            record.update(_decimals(outcome["Ok"]))
            record["error"] = None
        else:
            record["error"] = outcome["Err"]
        rows.append(record)
    columns = ["index", *grid.keys(), *METRICS, "error"]
    df = frame(rows, exact, columns=columns)
    if not exact:
        # Axes of plain numbers and every metric as float64 (None as NaN).
        for name in [*grid.keys(), *METRICS]:
            if df[name].dtype == object:
                converted = pd.to_numeric(df[name].map(lambda v: float(v) if isinstance(v, Decimal) else v), errors="coerce")
                if converted.notna().sum() == df[name].notna().sum():
                    df[name] = converted.astype(np.float64)
    df = df.set_index("index")
    df.attrs["cancelled"] = out["cancelled"]
    if sort_by is not None:
        key = df[sort_by].map(lambda v: float(v) if v is not None and not isinstance(v, str) else float("nan"))
        df = df.loc[key.sort_values(ascending=ascending, na_position="last", kind="stable").index]
    return df


class Engine:
    """The live deal engine for Python bots that bring their own execution
    (e.g. ccxt): feed it prices, order reports and commands; it answers with
    actions (dicts: ``action`` "place" or "cancel", ``client_order_id``,
    ``side``, ``kind``, ``price`` / ``reference_price``, ``quantity``, all
    money as ``Decimal``). A refused event raises :class:`EngineError` and
    changes nothing. ``snapshot()`` / ``Engine.restore()`` persist it; it
    pickles.

    >>> e = Engine("demo", BotConfig.example())
    >>> _ = e.command("start", time=0)
    >>> [a["client_order_id"] for a in e.tick(1, "43250.17")]
    ['demo-1-b-0']
    """

    def __init__(self, bot_id: str, config: Union[BotConfig, Mapping[str, Any], str]):
        self._native = _core.Engine(bot_id, _bot(config).to_json())
        self.closed_deals: list = []

    @classmethod
    def restore(cls, snapshot: str) -> "Engine":
        """An engine restored from :meth:`snapshot` text."""
        e = cls.__new__(cls)
        e._native = _core.Engine.restore(snapshot)
        e.closed_deals = []
        return e

    def snapshot(self) -> str:
        """The whole state as JSON text."""
        return self._native.snapshot()

    def handle(self, event: Mapping[str, Any]) -> list:
        """Handles one event dict (``{"type": "tick", "time": ..., "price": ...}``,
        ``{"type": "order", "time": ..., "update": {...}}``, ...); returns the
        actions. Closed deals are appended to ``closed_deals``."""
        out = _decimals(json.loads(self._native.handle(json.dumps(_plain(event)))))
        self.closed_deals.extend(out["closed"])
        actions = []
        for a in out["actions"]:
            if a["action"] == "place":
                kind = a.pop("kind")
                a.update({"kind": kind.pop("type"), **kind})
            actions.append(a)
        return actions

    def tick(self, time: int, price: Any) -> list:
        """A market price at ``time`` (ms)."""
        return self.handle({"type": "tick", "time": int(time), "price": _plain(price)})

    def fill(self, time: int, client_order_id: str, cumulative_qty: Any, price: Any, fee: Any = None, fee_asset: str = "quote") -> list:
        """A (partial) fill report: the order's total filled quantity so far."""
        update: Dict[str, Any] = {"status": "fill", "client_order_id": client_order_id, "cumulative_qty": _plain(cumulative_qty), "price": _plain(price)}
        if fee is not None:
            update["fee"] = {"asset": fee_asset, "amount": _plain(fee)}
        return self.handle({"type": "order", "time": int(time), "update": update})

    def order_update(self, time: int, client_order_id: str, status: str, reason: str = "") -> list:
        """``accepted``, ``canceled``, ``expired`` or ``rejected`` (with ``reason``)."""
        update: Dict[str, Any] = {"status": status, "client_order_id": client_order_id}
        if status == "rejected":
            update["reason"] = reason
        return self.handle({"type": "order", "time": int(time), "update": update})

    def command(self, name: str, time: int, **args: Any) -> list:
        """``start``, ``pause``, ``resume``, ``stop`` (``cancel_orders=``),
        ``close_now`` or ``add_funds`` (``size={"quote": ...}``)."""
        return self.handle({"type": "command", "time": int(time), "command": {"command": name, **args}})

    def signal(self, time: int) -> list:
        """An entry signal (with ``start_condition = "signal"``)."""
        return self.handle({"type": "signal", "time": int(time)})

    @property
    def status(self) -> Dict[str, Any]:
        """Mode, phase, open deal and totals."""
        return _decimals(json.loads(self._native.status()))

    def __reduce__(self):
        return (Engine.restore, (self.snapshot(),))
