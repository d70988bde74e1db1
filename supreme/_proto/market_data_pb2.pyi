from supreme._proto import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PublishBarsRequest(_message.Message):
    __slots__ = ("bars", "columns")
    BARS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    bars: _containers.RepeatedCompositeFieldContainer[_common_pb2.Bar]
    columns: _common_pb2.BarColumns
    def __init__(self, bars: _Optional[_Iterable[_Union[_common_pb2.Bar, _Mapping]]] = ..., columns: _Optional[_Union[_common_pb2.BarColumns, _Mapping]] = ...) -> None: ...

class BarRejection(_message.Message):
    __slots__ = ("index", "symbol", "time_unix_ms", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    symbol: str
    time_unix_ms: int
    reason: str
    def __init__(self, index: _Optional[int] = ..., symbol: _Optional[str] = ..., time_unix_ms: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class PublishBarsResponse(_message.Message):
    __slots__ = ("accepted", "rejected", "rejections", "rejected_by_reason")
    class RejectedByReasonEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_BY_REASON_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    rejected: int
    rejections: _containers.RepeatedCompositeFieldContainer[BarRejection]
    rejected_by_reason: _containers.ScalarMap[str, int]
    def __init__(self, accepted: _Optional[int] = ..., rejected: _Optional[int] = ..., rejections: _Optional[_Iterable[_Union[BarRejection, _Mapping]]] = ..., rejected_by_reason: _Optional[_Mapping[str, int]] = ...) -> None: ...

class GetBarsRequest(_message.Message):
    __slots__ = ("symbol", "limit")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    limit: int
    def __init__(self, symbol: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class GetBarsResponse(_message.Message):
    __slots__ = ("bars",)
    BARS_FIELD_NUMBER: _ClassVar[int]
    bars: _common_pb2.BarColumns
    def __init__(self, bars: _Optional[_Union[_common_pb2.BarColumns, _Mapping]] = ...) -> None: ...
