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
from ._core import BacktestError, CandleError, Candles, ConfigError, MartingaleError

__all__ = [
    "BotConfig",
    "Candles",
    "BacktestResult",
    "plan",
    "backtest",
    "to_candles",
    "MartingaleError",
    "ConfigError",
    "CandleError",
    "BacktestError",
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
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{value!r} is not a finite number")
        return repr(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, np.floating):
        return _plain(float(value))
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
        data = data.to_pandas()
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

    def __init__(self, raw_json: str, times: Sequence[int]):
        self._json = raw_json
        self._times = list(times)
        raw = _decimals(json.loads(raw_json))
        self._raw = raw
        self.stats = pd.Series(raw["metrics"], name="metrics")
        self.deals = pd.DataFrame(raw["deals"])
        self.fills = pd.DataFrame(raw["fills"])
        self.open_deal = raw["open_deal"]
        idx = pd.to_datetime(np.asarray(self._times, dtype=np.int64)[: len(raw["equity"])], unit="ms", utc=True)
        self.equity = pd.Series(raw["equity"], index=idx, name="equity", dtype=object)

    def to_dict(self) -> Dict[str, Any]:
        """``{"metrics": ..., "deals": [...], "fills": [...], "equity": [...], "open_deal": ...}``."""
        return self._raw

    def __reduce__(self):
        return (BacktestResult, (self._json, self._times))

    def __repr__(self) -> str:
        m = self._raw["metrics"]
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
