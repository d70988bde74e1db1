from supreme._proto import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StrategyParam(_message.Message):
    __slots__ = ("name", "default_value", "min_value", "max_value", "integer", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
    MIN_VALUE_FIELD_NUMBER: _ClassVar[int]
    MAX_VALUE_FIELD_NUMBER: _ClassVar[int]
    INTEGER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    default_value: float
    min_value: float
    max_value: float
    integer: bool
    description: str
    def __init__(self, name: _Optional[str] = ..., default_value: _Optional[float] = ..., min_value: _Optional[float] = ..., max_value: _Optional[float] = ..., integer: _Optional[bool] = ..., description: _Optional[str] = ...) -> None: ...

class StrategyInfo(_message.Message):
    __slots__ = ("name", "description", "params")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    params: _containers.RepeatedCompositeFieldContainer[StrategyParam]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., params: _Optional[_Iterable[_Union[StrategyParam, _Mapping]]] = ...) -> None: ...

class ListStrategiesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListStrategiesResponse(_message.Message):
    __slots__ = ("strategies",)
    STRATEGIES_FIELD_NUMBER: _ClassVar[int]
    strategies: _containers.RepeatedCompositeFieldContainer[StrategyInfo]
    def __init__(self, strategies: _Optional[_Iterable[_Union[StrategyInfo, _Mapping]]] = ...) -> None: ...

class SubscribeSignalsRequest(_message.Message):
    __slots__ = ("symbols", "strategy", "params", "max_batch")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    symbols: _containers.RepeatedScalarFieldContainer[str]
    strategy: str
    params: _containers.ScalarMap[str, float]
    max_batch: int
    def __init__(self, symbols: _Optional[_Iterable[str]] = ..., strategy: _Optional[str] = ..., params: _Optional[_Mapping[str, float]] = ..., max_batch: _Optional[int] = ...) -> None: ...

class SignalBatch(_message.Message):
    __slots__ = ("signals",)
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    signals: _containers.RepeatedCompositeFieldContainer[_common_pb2.Signal]
    def __init__(self, signals: _Optional[_Iterable[_Union[_common_pb2.Signal, _Mapping]]] = ...) -> None: ...

class SubscriptionStarted(_message.Message):
    __slots__ = ("subscription_id", "params", "symbols")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    params: _containers.ScalarMap[str, float]
    symbols: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, subscription_id: _Optional[str] = ..., params: _Optional[_Mapping[str, float]] = ..., symbols: _Optional[_Iterable[str]] = ...) -> None: ...

class SubscribeSignalsResponse(_message.Message):
    __slots__ = ("started", "signal", "signals")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    started: SubscriptionStarted
    signal: _common_pb2.Signal
    signals: SignalBatch
    def __init__(self, started: _Optional[_Union[SubscriptionStarted, _Mapping]] = ..., signal: _Optional[_Union[_common_pb2.Signal, _Mapping]] = ..., signals: _Optional[_Union[SignalBatch, _Mapping]] = ...) -> None: ...

class StrategyInstance(_message.Message):
    __slots__ = ("instance_id", "strategy", "symbols", "params", "created_unix_ms", "signals", "orders")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    strategy: str
    symbols: _containers.RepeatedScalarFieldContainer[str]
    params: _containers.ScalarMap[str, float]
    created_unix_ms: int
    signals: int
    orders: int
    def __init__(self, instance_id: _Optional[str] = ..., strategy: _Optional[str] = ..., symbols: _Optional[_Iterable[str]] = ..., params: _Optional[_Mapping[str, float]] = ..., created_unix_ms: _Optional[int] = ..., signals: _Optional[int] = ..., orders: _Optional[int] = ...) -> None: ...

class StartStrategyRequest(_message.Message):
    __slots__ = ("strategy", "symbols", "params", "instance_id")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    strategy: str
    symbols: _containers.RepeatedScalarFieldContainer[str]
    params: _containers.ScalarMap[str, float]
    instance_id: str
    def __init__(self, strategy: _Optional[str] = ..., symbols: _Optional[_Iterable[str]] = ..., params: _Optional[_Mapping[str, float]] = ..., instance_id: _Optional[str] = ...) -> None: ...

class StartStrategyResponse(_message.Message):
    __slots__ = ("instance",)
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    instance: StrategyInstance
    def __init__(self, instance: _Optional[_Union[StrategyInstance, _Mapping]] = ...) -> None: ...

class StopStrategyRequest(_message.Message):
    __slots__ = ("instance_id",)
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    def __init__(self, instance_id: _Optional[str] = ...) -> None: ...

class StopStrategyResponse(_message.Message):
    __slots__ = ("instance",)
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    instance: StrategyInstance
    def __init__(self, instance: _Optional[_Union[StrategyInstance, _Mapping]] = ...) -> None: ...

class ListStrategyInstancesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListStrategyInstancesResponse(_message.Message):
    __slots__ = ("instances",)
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    instances: _containers.RepeatedCompositeFieldContainer[StrategyInstance]
    def __init__(self, instances: _Optional[_Iterable[_Union[StrategyInstance, _Mapping]]] = ...) -> None: ...
