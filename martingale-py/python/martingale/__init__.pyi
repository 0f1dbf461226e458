"""Type stubs of the martingale package."""

import os
from decimal import Decimal
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import pandas as pd

from ._core import BacktestError as BacktestError
from ._core import CandleError as CandleError
from ._core import Candles as Candles
from ._core import ConfigError as ConfigError
from ._core import EngineError as EngineError
from ._core import MartingaleError as MartingaleError

__version__: str
METRICS: tuple[str, ...]

Number = Union[Decimal, str, int, float]
ConfigLike = Union["BotConfig", Mapping[str, Any], str, os.PathLike]

class BotConfig:
    def __init__(self, config: Optional[Mapping[str, Any]] = None, **fields: Any) -> None: ...
    @classmethod
    def example(cls) -> "BotConfig": ...
    @classmethod
    def from_json(cls, text: str) -> "BotConfig": ...
    @classmethod
    def from_toml(cls, text: str) -> "BotConfig": ...
    @classmethod
    def from_file(cls, path: Union[str, os.PathLike]) -> "BotConfig": ...
    def to_json(self) -> str: ...
    def to_toml(self) -> str: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def replace(self, **changes: Any) -> "BotConfig": ...
    @property
    def strategy(self) -> Dict[str, Any]: ...
    @property
    def market(self) -> Dict[str, Any]: ...
    @property
    def fees(self) -> Dict[str, Any]: ...
    @property
    def fill(self) -> Dict[str, Any]: ...

class BacktestResult:
    stats: pd.Series
    deals: pd.DataFrame
    fills: pd.DataFrame
    equity: pd.Series
    open_deal: Optional[Dict[str, Any]]
    unfunded: Optional[Dict[str, Any]]
    exact: "BacktestResult"
    def to_dict(self) -> Dict[str, Any]: ...
    def plot(self, candles: Any = None, ax: Any = None) -> Any: ...

class Engine:
    closed_deals: List[Dict[str, Any]]
    def __init__(self, bot_id: str, config: ConfigLike) -> None: ...
    @classmethod
    def restore(cls, snapshot: str) -> "Engine": ...
    def snapshot(self) -> str: ...
    def handle(self, event: Mapping[str, Any]) -> List[Dict[str, Any]]: ...
    def tick(self, time: int, price: Number) -> List[Dict[str, Any]]: ...
    def fill(
        self, time: int, client_order_id: str, cumulative_qty: Number, price: Number, fee: Optional[Number] = None, fee_asset: str = "quote"
    ) -> List[Dict[str, Any]]: ...
    def order_update(self, time: int, client_order_id: str, status: str, reason: str = "") -> List[Dict[str, Any]]: ...
    def command(self, name: str, time: int, **args: Any) -> List[Dict[str, Any]]: ...
    def signal(self, time: int) -> List[Dict[str, Any]]: ...
    @property
    def status(self) -> Dict[str, Any]: ...

def plan(config: ConfigLike, price: Number, *, exact: bool = False) -> pd.DataFrame: ...
def to_candles(data: Any, config: Optional[BotConfig] = None) -> Candles: ...
def backtest(
    candles: Any,
    config: ConfigLike,
    *,
    signals: Optional[Sequence[bool]] = None,
    initial_capital: Optional[Number] = None,
    mode: str = "fast",
    interval_ms: Optional[int] = None,
    periods_per_year: Optional[float] = None,
    stop_when_unfunded: bool = False,
    exact: bool = False,
    record_equity: bool = True,
    record_fills: bool = True,
) -> BacktestResult: ...
def sweep(
    candles: Any,
    config: ConfigLike,
    grid: Mapping[str, Sequence[Any]],
    *,
    sort_by: Optional[str] = "realized_pnl",
    ascending: bool = False,
    progress: Union[bool, Callable[[int, int], Any]] = True,
    initial_capital: Optional[Number] = None,
    periods_per_year: Optional[float] = None,
    exact: bool = False,
) -> pd.DataFrame: ...
