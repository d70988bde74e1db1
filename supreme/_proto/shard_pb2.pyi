from supreme._proto import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ShardHello(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: bytes
    def __init__(self, token: _Optional[bytes] = ...) -> None: ...

class ShardRequest(_message.Message):
    __slots__ = ("seq", "bars")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    seq: int
    bars: _common_pb2.BarColumns
    def __init__(self, seq: _Optional[int] = ..., bars: _Optional[_Union[_common_pb2.BarColumns, _Mapping]] = ...) -> None: ...

class ShardSignal(_message.Message):
    __slots__ = ("instance_id", "signal")
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    signal: _common_pb2.Signal
    def __init__(self, instance_id: _Optional[str] = ..., signal: _Optional[_Union[_common_pb2.Signal, _Mapping]] = ...) -> None: ...

class ShardReply(_message.Message):
    __slots__ = ("seq", "signals", "accepted", "rejected", "error")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    seq: int
    signals: _containers.RepeatedCompositeFieldContainer[ShardSignal]
    accepted: int
    rejected: int
    error: str
    def __init__(self, seq: _Optional[int] = ..., signals: _Optional[_Iterable[_Union[ShardSignal, _Mapping]]] = ..., accepted: _Optional[int] = ..., rejected: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...
