from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNSPECIFIED: _ClassVar[Direction]
    DIRECTION_LONG: _ClassVar[Direction]
    DIRECTION_SHORT: _ClassVar[Direction]
    DIRECTION_FLAT: _ClassVar[Direction]

class Side(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIDE_UNSPECIFIED: _ClassVar[Side]
    SIDE_BUY: _ClassVar[Side]
    SIDE_SELL: _ClassVar[Side]

class OrderType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_TYPE_UNSPECIFIED: _ClassVar[OrderType]
    ORDER_TYPE_MARKET: _ClassVar[OrderType]
    ORDER_TYPE_LIMIT: _ClassVar[OrderType]
    ORDER_TYPE_STOP: _ClassVar[OrderType]

class TimeInForce(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIME_IN_FORCE_UNSPECIFIED: _ClassVar[TimeInForce]
    TIME_IN_FORCE_GTC: _ClassVar[TimeInForce]
    TIME_IN_FORCE_IOC: _ClassVar[TimeInForce]
    TIME_IN_FORCE_FOK: _ClassVar[TimeInForce]
    TIME_IN_FORCE_DAY: _ClassVar[TimeInForce]

class OrderStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_STATUS_UNSPECIFIED: _ClassVar[OrderStatus]
    ORDER_STATUS_NEW: _ClassVar[OrderStatus]
    ORDER_STATUS_SUBMITTED: _ClassVar[OrderStatus]
    ORDER_STATUS_PARTIALLY_FILLED: _ClassVar[OrderStatus]
    ORDER_STATUS_FILLED: _ClassVar[OrderStatus]
    ORDER_STATUS_CANCELED: _ClassVar[OrderStatus]
    ORDER_STATUS_REJECTED: _ClassVar[OrderStatus]
    ORDER_STATUS_EXPIRED: _ClassVar[OrderStatus]
    ORDER_STATUS_DENIED: _ClassVar[OrderStatus]

class TradingState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRADING_STATE_UNSPECIFIED: _ClassVar[TradingState]
    TRADING_STATE_ACTIVE: _ClassVar[TradingState]
    TRADING_STATE_REDUCING: _ClassVar[TradingState]
    TRADING_STATE_HALTED: _ClassVar[TradingState]
DIRECTION_UNSPECIFIED: Direction
DIRECTION_LONG: Direction
DIRECTION_SHORT: Direction
DIRECTION_FLAT: Direction
SIDE_UNSPECIFIED: Side
SIDE_BUY: Side
SIDE_SELL: Side
ORDER_TYPE_UNSPECIFIED: OrderType
ORDER_TYPE_MARKET: OrderType
ORDER_TYPE_LIMIT: OrderType
ORDER_TYPE_STOP: OrderType
TIME_IN_FORCE_UNSPECIFIED: TimeInForce
TIME_IN_FORCE_GTC: TimeInForce
TIME_IN_FORCE_IOC: TimeInForce
TIME_IN_FORCE_FOK: TimeInForce
TIME_IN_FORCE_DAY: TimeInForce
ORDER_STATUS_UNSPECIFIED: OrderStatus
ORDER_STATUS_NEW: OrderStatus
ORDER_STATUS_SUBMITTED: OrderStatus
ORDER_STATUS_PARTIALLY_FILLED: OrderStatus
ORDER_STATUS_FILLED: OrderStatus
ORDER_STATUS_CANCELED: OrderStatus
ORDER_STATUS_REJECTED: OrderStatus
ORDER_STATUS_EXPIRED: OrderStatus
ORDER_STATUS_DENIED: OrderStatus
TRADING_STATE_UNSPECIFIED: TradingState
TRADING_STATE_ACTIVE: TradingState
TRADING_STATE_REDUCING: TradingState
TRADING_STATE_HALTED: TradingState

class Bar(_message.Message):
    __slots__ = ("symbol", "time_unix_ms", "open", "high", "low", "close", "volume")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    time_unix_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    def __init__(self, symbol: _Optional[str] = ..., time_unix_ms: _Optional[int] = ..., open: _Optional[float] = ..., high: _Optional[float] = ..., low: _Optional[float] = ..., close: _Optional[float] = ..., volume: _Optional[float] = ...) -> None: ...

class BarColumns(_message.Message):
    __slots__ = ("symbols", "time_unix_ms", "open", "high", "low", "close", "volume")
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    symbols: _containers.RepeatedScalarFieldContainer[str]
    time_unix_ms: _containers.RepeatedScalarFieldContainer[int]
    open: _containers.RepeatedScalarFieldContainer[float]
    high: _containers.RepeatedScalarFieldContainer[float]
    low: _containers.RepeatedScalarFieldContainer[float]
    close: _containers.RepeatedScalarFieldContainer[float]
    volume: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, symbols: _Optional[_Iterable[str]] = ..., time_unix_ms: _Optional[_Iterable[int]] = ..., open: _Optional[_Iterable[float]] = ..., high: _Optional[_Iterable[float]] = ..., low: _Optional[_Iterable[float]] = ..., close: _Optional[_Iterable[float]] = ..., volume: _Optional[_Iterable[float]] = ...) -> None: ...

class Signal(_message.Message):
    __slots__ = ("symbol", "strategy", "time_unix_ms", "direction", "strength", "price")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    strategy: str
    time_unix_ms: int
    direction: Direction
    strength: float
    price: float
    def __init__(self, symbol: _Optional[str] = ..., strategy: _Optional[str] = ..., time_unix_ms: _Optional[int] = ..., direction: _Optional[_Union[Direction, str]] = ..., strength: _Optional[float] = ..., price: _Optional[float] = ...) -> None: ...

class Fill(_message.Message):
    __slots__ = ("fill_id", "client_order_id", "symbol", "side", "quantity", "price", "fee", "time_unix_ms", "strategy")
    FILL_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    FEE_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    fill_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    fee: float
    time_unix_ms: int
    strategy: str
    def __init__(self, fill_id: _Optional[str] = ..., client_order_id: _Optional[str] = ..., symbol: _Optional[str] = ..., side: _Optional[_Union[Side, str]] = ..., quantity: _Optional[float] = ..., price: _Optional[float] = ..., fee: _Optional[float] = ..., time_unix_ms: _Optional[int] = ..., strategy: _Optional[str] = ...) -> None: ...

class Order(_message.Message):
    __slots__ = ("client_order_id", "symbol", "side", "quantity", "order_type", "limit_price", "stop_price", "time_in_force", "strategy", "status", "filled_quantity", "average_fill_price", "fees", "created_unix_ms", "updated_unix_ms", "venue_order_id", "reason", "reduce_only", "reason_code")
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ORDER_TYPE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    STOP_PRICE_FIELD_NUMBER: _ClassVar[int]
    TIME_IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FILLED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_FILL_PRICE_FIELD_NUMBER: _ClassVar[int]
    FEES_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    VENUE_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REDUCE_ONLY_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    order_type: OrderType
    limit_price: float
    stop_price: float
    time_in_force: TimeInForce
    strategy: str
    status: OrderStatus
    filled_quantity: float
    average_fill_price: float
    fees: float
    created_unix_ms: int
    updated_unix_ms: int
    venue_order_id: str
    reason: str
    reduce_only: bool
    reason_code: str
    def __init__(self, client_order_id: _Optional[str] = ..., symbol: _Optional[str] = ..., side: _Optional[_Union[Side, str]] = ..., quantity: _Optional[float] = ..., order_type: _Optional[_Union[OrderType, str]] = ..., limit_price: _Optional[float] = ..., stop_price: _Optional[float] = ..., time_in_force: _Optional[_Union[TimeInForce, str]] = ..., strategy: _Optional[str] = ..., status: _Optional[_Union[OrderStatus, str]] = ..., filled_quantity: _Optional[float] = ..., average_fill_price: _Optional[float] = ..., fees: _Optional[float] = ..., created_unix_ms: _Optional[int] = ..., updated_unix_ms: _Optional[int] = ..., venue_order_id: _Optional[str] = ..., reason: _Optional[str] = ..., reduce_only: _Optional[bool] = ..., reason_code: _Optional[str] = ...) -> None: ...

class Position(_message.Message):
    __slots__ = ("symbol", "quantity", "average_price", "realized_pnl", "unrealized_pnl", "market_price", "market_value")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_PRICE_FIELD_NUMBER: _ClassVar[int]
    REALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    UNREALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    MARKET_PRICE_FIELD_NUMBER: _ClassVar[int]
    MARKET_VALUE_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    quantity: float
    average_price: float
    realized_pnl: float
    unrealized_pnl: float
    market_price: float
    market_value: float
    def __init__(self, symbol: _Optional[str] = ..., quantity: _Optional[float] = ..., average_price: _Optional[float] = ..., realized_pnl: _Optional[float] = ..., unrealized_pnl: _Optional[float] = ..., market_price: _Optional[float] = ..., market_value: _Optional[float] = ...) -> None: ...

class Portfolio(_message.Message):
    __slots__ = ("cash", "equity", "realized_pnl", "unrealized_pnl", "fees", "gross_exposure", "net_exposure", "positions")
    CASH_FIELD_NUMBER: _ClassVar[int]
    EQUITY_FIELD_NUMBER: _ClassVar[int]
    REALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    UNREALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    FEES_FIELD_NUMBER: _ClassVar[int]
    GROSS_EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    NET_EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    cash: float
    equity: float
    realized_pnl: float
    unrealized_pnl: float
    fees: float
    gross_exposure: float
    net_exposure: float
    positions: _containers.RepeatedCompositeFieldContainer[Position]
    def __init__(self, cash: _Optional[float] = ..., equity: _Optional[float] = ..., realized_pnl: _Optional[float] = ..., unrealized_pnl: _Optional[float] = ..., fees: _Optional[float] = ..., gross_exposure: _Optional[float] = ..., net_exposure: _Optional[float] = ..., positions: _Optional[_Iterable[_Union[Position, _Mapping]]] = ...) -> None: ...
