from supreme._proto import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CircuitBreaker(_message.Message):
    __slots__ = ("name", "tripped", "state", "reason", "tripped_unix_ms", "cooldown_until_unix_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TRIPPED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TRIPPED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    COOLDOWN_UNTIL_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    tripped: bool
    state: _common_pb2.TradingState
    reason: str
    tripped_unix_ms: int
    cooldown_until_unix_ms: int
    def __init__(self, name: _Optional[str] = ..., tripped: _Optional[bool] = ..., state: _Optional[_Union[_common_pb2.TradingState, str]] = ..., reason: _Optional[str] = ..., tripped_unix_ms: _Optional[int] = ..., cooldown_until_unix_ms: _Optional[int] = ...) -> None: ...

class RiskState(_message.Message):
    __slots__ = ("state", "manual_state", "equity", "peak_equity", "drawdown", "day_start_equity", "gross_exposure", "realized_pnl", "unrealized_pnl", "breakers", "limits")
    class LimitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    STATE_FIELD_NUMBER: _ClassVar[int]
    MANUAL_STATE_FIELD_NUMBER: _ClassVar[int]
    EQUITY_FIELD_NUMBER: _ClassVar[int]
    PEAK_EQUITY_FIELD_NUMBER: _ClassVar[int]
    DRAWDOWN_FIELD_NUMBER: _ClassVar[int]
    DAY_START_EQUITY_FIELD_NUMBER: _ClassVar[int]
    GROSS_EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    REALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    UNREALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    BREAKERS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    state: _common_pb2.TradingState
    manual_state: _common_pb2.TradingState
    equity: float
    peak_equity: float
    drawdown: float
    day_start_equity: float
    gross_exposure: float
    realized_pnl: float
    unrealized_pnl: float
    breakers: _containers.RepeatedCompositeFieldContainer[CircuitBreaker]
    limits: _containers.ScalarMap[str, float]
    def __init__(self, state: _Optional[_Union[_common_pb2.TradingState, str]] = ..., manual_state: _Optional[_Union[_common_pb2.TradingState, str]] = ..., equity: _Optional[float] = ..., peak_equity: _Optional[float] = ..., drawdown: _Optional[float] = ..., day_start_equity: _Optional[float] = ..., gross_exposure: _Optional[float] = ..., realized_pnl: _Optional[float] = ..., unrealized_pnl: _Optional[float] = ..., breakers: _Optional[_Iterable[_Union[CircuitBreaker, _Mapping]]] = ..., limits: _Optional[_Mapping[str, float]] = ...) -> None: ...

class GetRiskStateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRiskStateResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: RiskState
    def __init__(self, state: _Optional[_Union[RiskState, _Mapping]] = ...) -> None: ...

class SetTradingStateRequest(_message.Message):
    __slots__ = ("state", "reason")
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    state: _common_pb2.TradingState
    reason: str
    def __init__(self, state: _Optional[_Union[_common_pb2.TradingState, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class SetTradingStateResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: RiskState
    def __init__(self, state: _Optional[_Union[RiskState, _Mapping]] = ...) -> None: ...

class UpdateRiskLimitsRequest(_message.Message):
    __slots__ = ("limits", "clear")
    class LimitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    CLEAR_FIELD_NUMBER: _ClassVar[int]
    limits: _containers.ScalarMap[str, float]
    clear: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, limits: _Optional[_Mapping[str, float]] = ..., clear: _Optional[_Iterable[str]] = ...) -> None: ...

class UpdateRiskLimitsResponse(_message.Message):
    __slots__ = ("limits",)
    class LimitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    limits: _containers.ScalarMap[str, float]
    def __init__(self, limits: _Optional[_Mapping[str, float]] = ...) -> None: ...

class ResetCircuitBreakersRequest(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class ResetCircuitBreakersResponse(_message.Message):
    __slots__ = ("reset", "state")
    RESET_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    reset: _containers.RepeatedScalarFieldContainer[str]
    state: RiskState
    def __init__(self, reset: _Optional[_Iterable[str]] = ..., state: _Optional[_Union[RiskState, _Mapping]] = ...) -> None: ...

class RiskEvent(_message.Message):
    __slots__ = ("time_unix_ms", "kind", "outcome", "reason_code", "message", "details_json")
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    time_unix_ms: int
    kind: str
    outcome: str
    reason_code: str
    message: str
    details_json: str
    def __init__(self, time_unix_ms: _Optional[int] = ..., kind: _Optional[str] = ..., outcome: _Optional[str] = ..., reason_code: _Optional[str] = ..., message: _Optional[str] = ..., details_json: _Optional[str] = ...) -> None: ...

class StreamRiskEventsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StreamRiskEventsResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: RiskEvent
    def __init__(self, event: _Optional[_Union[RiskEvent, _Mapping]] = ...) -> None: ...
