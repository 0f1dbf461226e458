"""Rust results -> pandas: float64 money and datetime64 times by default,
exact ``decimal.Decimal`` values on request.

Money crosses from Rust as decimal strings. ``_decimals`` turns them into
``Decimal``; the frame builders then convert every column whose values are
all ``Decimal`` to float64 (unless exact) and every ``*time`` / ``*_at`` column of
epoch milliseconds to ``datetime64[ms, UTC]`` (in both modes: times are not
money). Invariant: the exact frames hold the very values Rust computed; the
float frames hold the nearest float64 of each.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Dict, Iterable, List, Mapping, Optional

import numpy as np
import pandas as pd


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


def _number(value: Any) -> Any:
    """A Decimal as float; anything else unchanged."""
    return float(value) if isinstance(value, Decimal) else value


def floats(value: Any) -> Any:
    """Every Decimal inside dicts and lists as float."""
    if isinstance(value, dict):
        return {k: floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [floats(v) for v in value]
    return _number(value)


def _is_decimal_column(col: pd.Series) -> bool:
    values = [v for v in col if v is not None and not (isinstance(v, float) and v != v)]
    return bool(values) and all(isinstance(v, Decimal) for v in values)


def times(ms: Iterable[int]) -> pd.DatetimeIndex:
    """Epoch milliseconds -> a UTC DatetimeIndex."""
    arr = np.ascontiguousarray(ms if isinstance(ms, np.ndarray) else list(ms), dtype=np.int64)
    # A view as datetime64[ms]: no conversion to ns (10x faster on millions).
    return pd.DatetimeIndex(arr.view("datetime64[ms]")).tz_localize("UTC")


def frame(records: List[Mapping[str, Any]], exact: bool, columns: Optional[List[str]] = None) -> pd.DataFrame:
    """Records (with Decimal values) -> a DataFrame: money float64 unless
    ``exact``, ``*time`` and ``*_at`` columns of ms as UTC datetimes, a ``fee`` column of
    ``{"asset", "amount"}`` split into ``fee`` and ``fee_asset``."""
    df = pd.DataFrame(list(records), columns=columns)
    if "fee" in df.columns and len(df) and all(isinstance(v, dict) for v in df["fee"]):
        df["fee_asset"] = [v.get("asset") for v in df["fee"]]
        df["fee"] = [v.get("amount") for v in df["fee"]]
    for name in df.columns:
        col = df[name]
        if str(name).endswith(("time", "_at")) and len(col) and col.dtype.kind in "iu":
            df[name] = times(col.to_numpy())
        elif col.dtype == object and _is_decimal_column(col):
            if not exact:
                df[name] = pd.to_numeric(col.map(_number), errors="coerce").astype(np.float64)
    return df


def series(values: Mapping[str, Any], exact: bool, name: str) -> pd.Series:
    """A dict of metrics -> a Series: float64 (None as NaN) unless ``exact``
    (then the Decimal / int values as they are, dtype object)."""
    if exact:
        return pd.Series(dict(values), name=name, dtype=object)
    return pd.Series({k: np.nan if v is None else float(v) for k, v in values.items()}, name=name, dtype=np.float64)
