from supreme._proto import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BacktestStrategy(_message.Message):
    __slots__ = ("name", "params", "symbols")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    name: str
    params: _containers.ScalarMap[str, float]
    symbols: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., params: _Optional[_Mapping[str, float]] = ..., symbols: _Optional[_Iterable[str]] = ...) -> None: ...

class SimulatedData(_message.Message):
    __slots__ = ("symbols", "bars", "seed")
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    symbols: _containers.RepeatedScalarFieldContainer[str]
    bars: int
    seed: int
    def __init__(self, symbols: _Optional[_Iterable[str]] = ..., bars: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class RunBacktestRequest(_message.Message):
    __slots__ = ("strategies", "bars", "simulated", "initial_cash", "fee_bps", "slippage_bps")
    STRATEGIES_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_FIELD_NUMBER: _ClassVar[int]
    INITIAL_CASH_FIELD_NUMBER: _ClassVar[int]
    FEE_BPS_FIELD_NUMBER: _ClassVar[int]
    SLIPPAGE_BPS_FIELD_NUMBER: _ClassVar[int]
    strategies: _containers.RepeatedCompositeFieldContainer[BacktestStrategy]
    bars: _common_pb2.BarColumns
    simulated: SimulatedData
    initial_cash: float
    fee_bps: float
    slippage_bps: float
    def __init__(self, strategies: _Optional[_Iterable[_Union[BacktestStrategy, _Mapping]]] = ..., bars: _Optional[_Union[_common_pb2.BarColumns, _Mapping]] = ..., simulated: _Optional[_Union[SimulatedData, _Mapping]] = ..., initial_cash: _Optional[float] = ..., fee_bps: _Optional[float] = ..., slippage_bps: _Optional[float] = ...) -> None: ...

class BacktestProgress(_message.Message):
    __slots__ = ("bars_done", "bars_total")
    BARS_DONE_FIELD_NUMBER: _ClassVar[int]
    BARS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    bars_done: int
    bars_total: int
    def __init__(self, bars_done: _Optional[int] = ..., bars_total: _Optional[int] = ...) -> None: ...

class EquityPoint(_message.Message):
    __slots__ = ("time_unix_ms", "equity")
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    EQUITY_FIELD_NUMBER: _ClassVar[int]
    time_unix_ms: int
    equity: float
    def __init__(self, time_unix_ms: _Optional[int] = ..., equity: _Optional[float] = ...) -> None: ...

class BacktestReport(_message.Message):
    __slots__ = ("initial_cash", "final_equity", "total_return", "annualized_return", "sharpe", "sortino", "max_drawdown", "trades", "win_rate", "profit_factor", "fees", "realized_pnl", "unrealized_pnl", "equity_curve", "report_json")
    INITIAL_CASH_FIELD_NUMBER: _ClassVar[int]
    FINAL_EQUITY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_RETURN_FIELD_NUMBER: _ClassVar[int]
    ANNUALIZED_RETURN_FIELD_NUMBER: _ClassVar[int]
    SHARPE_FIELD_NUMBER: _ClassVar[int]
    SORTINO_FIELD_NUMBER: _ClassVar[int]
    MAX_DRAWDOWN_FIELD_NUMBER: _ClassVar[int]
    TRADES_FIELD_NUMBER: _ClassVar[int]
    WIN_RATE_FIELD_NUMBER: _ClassVar[int]
    PROFIT_FACTOR_FIELD_NUMBER: _ClassVar[int]
    FEES_FIELD_NUMBER: _ClassVar[int]
    REALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    UNREALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    EQUITY_CURVE_FIELD_NUMBER: _ClassVar[int]
    REPORT_JSON_FIELD_NUMBER: _ClassVar[int]
    initial_cash: float
    final_equity: float
    total_return: float
    annualized_return: float
    sharpe: float
    sortino: float
    max_drawdown: float
    trades: int
    win_rate: float
    profit_factor: float
    fees: float
    realized_pnl: float
    unrealized_pnl: float
    equity_curve: _containers.RepeatedCompositeFieldContainer[EquityPoint]
    report_json: str
    def __init__(self, initial_cash: _Optional[float] = ..., final_equity: _Optional[float] = ..., total_return: _Optional[float] = ..., annualized_return: _Optional[float] = ..., sharpe: _Optional[float] = ..., sortino: _Optional[float] = ..., max_drawdown: _Optional[float] = ..., trades: _Optional[int] = ..., win_rate: _Optional[float] = ..., profit_factor: _Optional[float] = ..., fees: _Optional[float] = ..., realized_pnl: _Optional[float] = ..., unrealized_pnl: _Optional[float] = ..., equity_curve: _Optional[_Iterable[_Union[EquityPoint, _Mapping]]] = ..., report_json: _Optional[str] = ...) -> None: ...

class RunBacktestResponse(_message.Message):
    __slots__ = ("progress", "report")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    progress: BacktestProgress
    report: BacktestReport
    def __init__(self, progress: _Optional[_Union[BacktestProgress, _Mapping]] = ..., report: _Optional[_Union[BacktestReport, _Mapping]] = ...) -> None: ...
