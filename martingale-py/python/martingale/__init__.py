"""martingale: the Rust Martingale / DCA engine and backtester for Python.

Money is exact: values go in as ``decimal.Decimal``, ``str``, ``int`` or
``float`` (floats through their shortest repr, so ``0.1`` is ``0.1``) and
come back as ``decimal.Decimal``. Errors are ``ValueError`` subclasses whose
message names the field and the value.

>>> import martingale as mg
>>> bot = mg.BotConfig.example()
>>> ladder = mg.plan(bot, "43250.17")
>>> str(ladder["price"][1]), str(ladder.attrs["funds_required"])
('42601.41', '2737.5')
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from . import _core
from ._core import BacktestError, CandleError, Candles, ConfigError, EngineError, MartingaleError

__all__ = [
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


def _decimals(value: Any) -> Any:
    """JSON values from Rust -> Python, decimal strings as Decimal."""
    if isinstance(value, str):
        try:
            return Decimal(value) if value and (value[0].isdigit() or value[0] == "-") else value
        except ArithmeticError:
            return value
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


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


def plan(config: Union[BotConfig, Mapping[str, Any], str], price: Any) -> pd.DataFrame:
    """The ladder of ``config`` for a deal entered at ``price``.

    One row per level (0 = base order): price, deviation, quantity, quote,
    cost, cumulative quantity and cost, average and take-profit price if the
    deal closes after that level. ``.attrs`` holds ``funds_required`` and
    ``max_deviation``.
    """
    bot = _bot(config)
    raw = json.loads(_core.plan(bot.to_json(), _plain(price) if not isinstance(price, str) else price))
    levels = _decimals(raw["levels"])
    df = pd.DataFrame(levels).set_index("level")
    df.attrs["funds_required"] = Decimal(raw["funds_required"])
    df.attrs["max_deviation"] = Decimal(raw["max_deviation"])
    return df


def _ms(values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[ms]").astype(np.int64)
    if arr.dtype == object:
        return pd.to_datetime(arr, utc=True).values.astype("datetime64[ms]").astype(np.int64)
    return arr.astype(np.int64)


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
        get = lambda k: np.ascontiguousarray(data[cols[k]].to_numpy(dtype=np.float64))  # noqa: E731
    elif isinstance(data, Mapping):
        time = _ms(data["time"])
        get = lambda k: np.ascontiguousarray(np.asarray(data[k], dtype=np.float64))  # noqa: E731
    else:
        raise CandleError(f"cannot read candles from {type(data).__name__}")
    try:
        o, h, l, c = get("open"), get("high"), get("low"), get("close")
    except KeyError as e:
        raise CandleError(f"missing column {e}") from None
    return Candles(np.ascontiguousarray(time), o, h, l, c, _decimal_places(config))


class BacktestResult:
    """The result of :func:`backtest`.

    ``stats`` (pandas Series of the metrics), ``deals`` and ``fills``
    (DataFrames), ``equity`` (Series of equity at each close), ``open_deal``
    (dict or None), ``to_dict()``; pickles.
    """

    def __init__(self, raw: Any, times: Sequence[int]):
        # `raw` is the result held in Rust (from `backtest`) or its JSON text
        # (unpickled). Serialized, parsed and converted on first access: a
        # backtest call costs the Rust run alone.
        self._native = None if isinstance(raw, str) else raw
        self._text: Optional[str] = raw if isinstance(raw, str) else None
        self._times = times
        self._cache: Dict[str, Any] = {}

    @property
    def _json(self) -> str:
        if self._text is None:
            self._text = self._native.json()
        return self._text

    @property
    def _raw(self) -> Dict[str, Any]:
        if "raw" not in self._cache:
            self._cache["raw"] = _decimals(json.loads(self._json))
        return self._cache["raw"]

    @property
    def _metrics(self) -> Dict[str, Any]:
        # The metrics alone, without serializing every deal and fill.
        if "raw" in self._cache or self._native is None:
            return self._raw["metrics"]
        if "metrics" not in self._cache:
            self._cache["metrics"] = _decimals(json.loads(self._native.metrics_json()))
        return self._cache["metrics"]

    def _get(self, key: str, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    @property
    def stats(self) -> pd.Series:
        """The SPEC metrics."""
        return self._get("stats", lambda: pd.Series(self._metrics, name="metrics"))

    @property
    def deals(self) -> pd.DataFrame:
        """One row per closed deal."""
        return self._get("deals", lambda: pd.DataFrame(self._raw["deals"]))

    @property
    def fills(self) -> pd.DataFrame:
        """One row per fill."""
        return self._get("fills", lambda: pd.DataFrame(self._raw["fills"]))

    @property
    def open_deal(self) -> Optional[Dict[str, Any]]:
        """The deal open at the end, if any."""
        return self._raw["open_deal"]

    @property
    def equity(self) -> pd.Series:
        """Equity at each close (with ``record_equity``)."""

        def build():
            values = self._raw["equity"]
            idx = pd.to_datetime(np.asarray(list(self._times), dtype=np.int64)[: len(values)], unit="ms", utc=True)
            return pd.Series(values, index=idx, name="equity", dtype=object)

        return self._get("equity", build)

    def to_dict(self) -> Dict[str, Any]:
        """``{"metrics": ..., "deals": [...], "fills": [...], "equity": [...], "open_deal": ...}``."""
        return self._raw

    def __reduce__(self):
        return (BacktestResult, (self._json, list(self._times)))

    def plot(self, candles: Any = None, ax=None):
        """Plots equity and drawdown (and, given the candles used, the
        closes with deal entries and exits). Needs matplotlib; returns the
        figure."""
        import matplotlib.pyplot as plt

        rows = 3 if candles is not None else 2
        fig, axes = plt.subplots(rows, 1, figsize=(11, 2.6 * rows), sharex=True)
        if candles is not None:
            series = to_candles(candles)
            t = pd.to_datetime(np.asarray(series.times(), dtype=np.int64), unit="ms", utc=True)
            closes = np.array([float(c) for c in series.closes()])
            axes[0].plot(t, closes, lw=0.7, color="0.3")
            if len(self.deals):
                starts = self.deals["start_index"].to_numpy(dtype=int)
                ends = self.deals["end_index"].to_numpy(dtype=int)
                axes[0].scatter(t[starts], closes[starts], marker="^", s=12, color="tab:green", label="entry")
                axes[0].scatter(t[ends], [float(p) for p in self.deals["exit_price"]], marker="v", s=12, color="tab:red", label="exit")
            if len(self.fills):
                # Ladder levels: every safety order that filled, at its price.
                safety = self.fills[self.fills["role"].map(lambda r: isinstance(r, dict) and "safety" in r)]
                if len(safety):
                    idx = safety["candle"].to_numpy(dtype=int)
                    axes[0].scatter(t[idx], [float(p) for p in safety["price"]], marker="_", s=40, color="tab:orange", label="safety order")
            if len(self.deals):
                axes[0].legend(loc="upper left")
            axes[0].set_ylabel("price")
        eq = self.equity.astype(float)
        axes[-2].plot(eq.index, eq.values, lw=0.8)
        axes[-2].set_ylabel("equity")
        dd = eq.cummax() - eq
        axes[-1].fill_between(dd.index, -dd.values, 0, color="tab:red", alpha=0.4)
        axes[-1].set_ylabel("drawdown")
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
    record_equity: bool = True,
    record_fills: bool = True,
) -> BacktestResult:
    """Backtests ``config`` on ``candles`` (see :func:`to_candles` for the
    accepted inputs) with the Rust engine; the GIL is released meanwhile.
    ``signals`` is an optional boolean array (a signal on candle i opens a
    deal at candle i + 1, with ``start_condition = "signal"``)."""
    bot = _bot(config)
    series = to_candles(candles, bot)
    options = {
        "initial_capital": None if initial_capital is None else _plain(initial_capital),
        "mode": mode,
        "record_equity": record_equity,
        "record_fills": record_fills,
    }
    sig = None if signals is None else np.ascontiguousarray(np.asarray(signals, dtype=bool))
    raw = _core.run_backtest(bot.to_json(), series, json.dumps(options), sig)
    return BacktestResult(raw, series.times() if record_equity else [])


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
) -> pd.DataFrame:
    """Backtests every combination of ``grid`` (bot-file fields by dotted
    path, e.g. ``{"take_profit.percent": [1, 1.5], "price_deviation":
    [1, 2]}``) on all cores, in Rust, with the GIL released. Shows a tqdm
    progress bar when tqdm is installed (``progress=False`` hides it, a
    callable ``progress(done, total)`` replaces it). Ctrl-C stops the sweep
    and raises ``KeyboardInterrupt``. Returns one row per combination: its
    values, every metric, and ``error`` for combinations that could not run;
    sorted by ``sort_by``.
    """
    bot = _bot(config)
    series = to_candles(candles, bot)
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
    options = json.dumps({"initial_capital": None if initial_capital is None else str(_plain(initial_capital))})
    try:
        raw = _core.run_sweep(bot.to_json(), series, _grid(grid), options, callback)
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
    df = pd.DataFrame(rows).set_index("index")
    df.attrs["cancelled"] = out["cancelled"]
    if sort_by is not None and sort_by in df.columns:
        key = df[sort_by].map(lambda v: float(v) if v is not None else float("nan"))
        df = df.loc[key.sort_values(ascending=ascending, na_position="last").index]
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
