from supreme._proto import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubmitOrderRequest(_message.Message):
    __slots__ = ("client_order_id", "symbol", "side", "quantity", "order_type", "limit_price", "stop_price", "time_in_force", "strategy", "stop_loss", "take_profit", "reduce_only")
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ORDER_TYPE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    STOP_PRICE_FIELD_NUMBER: _ClassVar[int]
    TIME_IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    STOP_LOSS_FIELD_NUMBER: _ClassVar[int]
    TAKE_PROFIT_FIELD_NUMBER: _ClassVar[int]
    REDUCE_ONLY_FIELD_NUMBER: _ClassVar[int]
    client_order_id: str
    symbol: str
    side: _common_pb2.Side
    quantity: float
    order_type: _common_pb2.OrderType
    limit_price: float
    stop_price: float
    time_in_force: _common_pb2.TimeInForce
    strategy: str
    stop_loss: float
    take_profit: float
    reduce_only: bool
    def __init__(self, client_order_id: _Optional[str] = ..., symbol: _Optional[str] = ..., side: _Optional[_Union[_common_pb2.Side, str]] = ..., quantity: _Optional[float] = ..., order_type: _Optional[_Union[_common_pb2.OrderType, str]] = ..., limit_price: _Optional[float] = ..., stop_price: _Optional[float] = ..., time_in_force: _Optional[_Union[_common_pb2.TimeInForce, str]] = ..., strategy: _Optional[str] = ..., stop_loss: _Optional[float] = ..., take_profit: _Optional[float] = ..., reduce_only: _Optional[bool] = ...) -> None: ...

class SubmitOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: _common_pb2.Order
    def __init__(self, order: _Optional[_Union[_common_pb2.Order, _Mapping]] = ...) -> None: ...

class CancelOrderRequest(_message.Message):
    __slots__ = ("client_order_id",)
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    client_order_id: str
    def __init__(self, client_order_id: _Optional[str] = ...) -> None: ...

class CancelOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: _common_pb2.Order
    def __init__(self, order: _Optional[_Union[_common_pb2.Order, _Mapping]] = ...) -> None: ...

class GetOrderRequest(_message.Message):
    __slots__ = ("client_order_id",)
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    client_order_id: str
    def __init__(self, client_order_id: _Optional[str] = ...) -> None: ...

class GetOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: _common_pb2.Order
    def __init__(self, order: _Optional[_Union[_common_pb2.Order, _Mapping]] = ...) -> None: ...

class ListOrdersRequest(_message.Message):
    __slots__ = ("status", "symbol", "open_only", "limit")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    OPEN_ONLY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.OrderStatus
    symbol: str
    open_only: bool
    limit: int
    def __init__(self, status: _Optional[_Union[_common_pb2.OrderStatus, str]] = ..., symbol: _Optional[str] = ..., open_only: _Optional[bool] = ..., limit: _Optional[int] = ...) -> None: ...

class ListOrdersResponse(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[_common_pb2.Order]
    def __init__(self, orders: _Optional[_Iterable[_Union[_common_pb2.Order, _Mapping]]] = ...) -> None: ...

class StreamOrderUpdatesRequest(_message.Message):
    __slots__ = ("symbols",)
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    symbols: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, symbols: _Optional[_Iterable[str]] = ...) -> None: ...

class StreamOrderUpdatesResponse(_message.Message):
    __slots__ = ("order", "fill")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    FILL_FIELD_NUMBER: _ClassVar[int]
    order: _common_pb2.Order
    fill: _common_pb2.Fill
    def __init__(self, order: _Optional[_Union[_common_pb2.Order, _Mapping]] = ..., fill: _Optional[_Union[_common_pb2.Fill, _Mapping]] = ...) -> None: ...

class ListPositionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPositionsResponse(_message.Message):
    __slots__ = ("positions",)
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    positions: _containers.RepeatedCompositeFieldContainer[_common_pb2.Position]
    def __init__(self, positions: _Optional[_Iterable[_Union[_common_pb2.Position, _Mapping]]] = ...) -> None: ...

class GetPortfolioRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetPortfolioResponse(_message.Message):
    __slots__ = ("portfolio",)
    PORTFOLIO_FIELD_NUMBER: _ClassVar[int]
    portfolio: _common_pb2.Portfolio
    def __init__(self, portfolio: _Optional[_Union[_common_pb2.Portfolio, _Mapping]] = ...) -> None: ...
