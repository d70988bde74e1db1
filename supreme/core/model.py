"""Domain types shared by every part of Supreme.

Every type here is an immutable value object. Timestamps are integers in UTC milliseconds
(``time_ms``). Construction validates its input and raises :class:`ValueError` naming the
offending field, so a bad value is stopped at the edge instead of poisoning indicator state,
risk figures or the journal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum, IntEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Bar",
    "BarBatch",
    "Direction",
    "Fill",
    "Instrument",
    "Order",
    "OrderIntent",
    "OrderStatus",
    "OrderType",
    "Portfolio",
    "Position",
    "Side",
    "Signal",
    "TimeInForce",
]

# Quantities below this are treated as zero; it keeps float residue (0.1 + 0.2 - 0.3) from
# leaving phantom positions behind after a round trip.
QTY_EPSILON = 1e-12


def _require_symbol(symbol: object, field_name: str = "symbol") -> None:
    if not isinstance(symbol, str) or not symbol.strip():
        raise ValueError(f"{field_name} must be a non-empty string, got {symbol!r}")


# Times are UTC milliseconds in [0, MAX_TIME_MS): a bar stamped centuries ahead would block
# its symbol for good (later bars would all be "older").
MAX_TIME_MS = 7_258_118_400_000  # 2200-01-01T00:00:00Z


def _require_time(value: object, field_name: str = "time_ms") -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not 0 <= value < MAX_TIME_MS
    ):
        raise ValueError(
            f"{field_name} must be an integer of UTC milliseconds in [0, {MAX_TIME_MS}) "
            f"(before 2200), got {value!r}"
        )


def _require_positive(value: object, field_name: str) -> None:
    if not _is_real(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{field_name} must be a finite number > 0, got {value!r}")


def _require_non_negative(value: object, field_name: str) -> None:
    if not _is_real(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{field_name} must be a finite number >= 0, got {value!r}")


def _require_finite(value: object, field_name: str) -> None:
    if not _is_real(value) or not math.isfinite(value):
        raise ValueError(f"{field_name} must be a finite number, got {value!r}")


def _is_real(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------
# Enums
# --------------------------------------------------------------------------------------------


class Direction(IntEnum):
    """A strategy's target exposure. The integer value is the sign of that exposure."""

    SHORT = -1
    FLAT = 0
    LONG = 1


class Side(Enum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: the sign of the position change."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(Enum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"


class TimeInForce(Enum):
    GTC = "GTC"  # good till cancelled
    IOC = "IOC"  # immediate or cancel: whatever is not filled on the first bar expires
    FOK = "FOK"  # fill or kill: the whole quantity on the first bar, or nothing
    DAY = "DAY"  # expires at the end of the UTC day it was submitted on


class OrderStatus(Enum):
    NEW = "NEW"
    SUBMITTED = "SUBMITTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    DENIED = "DENIED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL_STATUSES

    @property
    def is_open(self) -> bool:
        """True while the order may still trade (it is in flight at the venue or about to be)."""
        return not self.is_terminal


_TERMINAL_STATUSES = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
        OrderStatus.DENIED,
    }
)


# --------------------------------------------------------------------------------------------
# Market data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar of a symbol; ``time_ms`` is the bar's open time in UTC milliseconds."""

    symbol: str
    time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0

    def __post_init__(self) -> None:
        _require_symbol(self.symbol)
        _require_time(self.time_ms)
        for name in ("open", "high", "low", "close"):
            _require_positive(getattr(self, name), name)
        _require_non_negative(self.volume, "volume")
        if self.low > self.high:
            raise ValueError(f"low must be <= high, got low={self.low} > high={self.high}")
        for name in ("open", "close"):
            value = getattr(self, name)
            if not self.low <= value <= self.high:
                raise ValueError(
                    f"{name} must lie within [low, high] = [{self.low}, {self.high}], got {value}"
                )


_BAR_PRICE_FIELDS = ("open", "high", "low", "close")
_BAR_FIELDS = ("symbol", "time_ms", "open", "high", "low", "close", "volume")


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def object_column(value: Any, n: int) -> np.ndarray:
    """An object array of ``n`` copies of ``value``. Not ``np.full``: that passes a string
    through a fixed-width string type, which drops trailing NUL characters."""
    column = np.empty(n, dtype=object)
    column[:] = [value] * n
    return column


@dataclass(frozen=True, slots=True, eq=False)
class BarBatch:
    """Columnar bars (one numpy array per field) for throughput.

    Rows may mix symbols. Arrays are read-only after construction. Construction validates every
    row with the same rules as :class:`Bar` and raises ``ValueError`` naming the field and the
    first offending row; :meth:`invalid_rows` reports every bad row without raising, for
    pipelines that drop bad rows instead of refusing the whole batch.
    """

    symbol: np.ndarray
    time_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __init__(
        self,
        symbol: Iterable[str] | np.ndarray | str,
        time_ms: Iterable[int] | np.ndarray,
        open: Iterable[float] | np.ndarray,
        high: Iterable[float] | np.ndarray,
        low: Iterable[float] | np.ndarray,
        close: Iterable[float] | np.ndarray,
        volume: Iterable[float] | np.ndarray | None = None,
        *,
        validate: bool = True,
    ) -> None:
        times = np.array(time_ms, dtype=np.int64, copy=True).reshape(-1)
        n = times.shape[0]
        if isinstance(symbol, str):
            symbols = object_column(symbol, n)
        else:
            symbols = np.array(list(symbol), dtype=object).reshape(-1)
        columns = {}
        for name, values in (("open", open), ("high", high), ("low", low), ("close", close)):
            columns[name] = np.array(values, dtype=np.float64, copy=True).reshape(-1)
        columns["volume"] = (
            np.zeros(n, dtype=np.float64)
            if volume is None
            else np.array(volume, dtype=np.float64, copy=True).reshape(-1)
        )
        for name, column in (("symbol", symbols), *columns.items()):
            if column.shape[0] != n:
                raise ValueError(
                    f"{name} has {column.shape[0]} values but time_ms has {n}: "
                    "every column of a BarBatch must have the same length"
                )
        object.__setattr__(self, "symbol", _readonly(symbols))
        object.__setattr__(self, "time_ms", _readonly(times))
        for name, column in columns.items():
            object.__setattr__(self, name, _readonly(column))
        if validate:
            self._raise_on_invalid()

    # -- construction helpers ------------------------------------------------------------------

    @classmethod
    def empty(cls) -> BarBatch:
        return cls([], [], [], [], [], [], [])

    @classmethod
    def from_bars(cls, bars: Iterable[Bar]) -> BarBatch:
        rows = list(bars)
        return cls(
            [b.symbol for b in rows],
            [b.time_ms for b in rows],
            [b.open for b in rows],
            [b.high for b in rows],
            [b.low for b in rows],
            [b.close for b in rows],
            [b.volume for b in rows],
            validate=False,  # each Bar validated itself
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, symbol: str | None = None) -> BarBatch:
        """Build from a DataFrame with columns time_ms, open, high, low, close[, volume, symbol].

        Column names are matched case-insensitively. ``symbol`` fills the symbol column when
        the frame has none.
        """
        lower = {str(c).lower(): c for c in frame.columns}
        missing = [c for c in ("time_ms", "open", "high", "low", "close") if c not in lower]
        if missing:
            raise ValueError(
                f"frame is missing column(s) {missing}; expected time_ms, open, high, low, "
                f"close and optionally volume and symbol, got {list(frame.columns)}"
            )
        if "symbol" in lower:
            symbols = frame[lower["symbol"]].astype(str).to_numpy(dtype=object)
        elif symbol is not None:
            symbols = symbol
        else:
            raise ValueError("frame has no symbol column; pass symbol=...")
        return cls(
            symbols,
            frame[lower["time_ms"]].to_numpy(dtype=np.int64),
            frame[lower["open"]].to_numpy(dtype=np.float64),
            frame[lower["high"]].to_numpy(dtype=np.float64),
            frame[lower["low"]].to_numpy(dtype=np.float64),
            frame[lower["close"]].to_numpy(dtype=np.float64),
            frame[lower["volume"]].to_numpy(dtype=np.float64) if "volume" in lower else None,
        )

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame({name: getattr(self, name) for name in _BAR_FIELDS})

    @classmethod
    def concat(cls, batches: Iterable[BarBatch]) -> BarBatch:
        parts = list(batches)
        if not parts:
            return cls.empty()
        return cls(
            *(np.concatenate([getattr(b, name) for b in parts]) for name in _BAR_FIELDS),
            validate=False,
        )

    # -- access ----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.time_ms.shape[0])

    def __getitem__(self, index: int) -> Bar:
        return Bar(
            str(self.symbol[index]),
            int(self.time_ms[index]),
            float(self.open[index]),
            float(self.high[index]),
            float(self.low[index]),
            float(self.close[index]),
            float(self.volume[index]),
        )

    def __iter__(self) -> Iterator[Bar]:
        # Rows were validated on construction, so skip Bar's per-field checks for speed.
        for row in zip(
            self.symbol.tolist(),
            self.time_ms.tolist(),
            self.open.tolist(),
            self.high.tolist(),
            self.low.tolist(),
            self.close.tolist(),
            self.volume.tolist(),
            strict=True,
        ):
            bar = object.__new__(Bar)
            for name, value in zip(_BAR_FIELDS, row, strict=True):
                object.__setattr__(bar, name, value)
            yield bar

    def select(self, rows: np.ndarray | slice) -> BarBatch:
        """The rows picked by a boolean mask, an index array or a slice."""
        return BarBatch(*(getattr(self, name)[rows] for name in _BAR_FIELDS), validate=False)

    def for_symbol(self, symbol: str) -> BarBatch:
        return self.select(self.symbol == symbol)

    def symbols(self) -> list[str]:
        """Distinct symbols, in order of first appearance."""
        seen: dict[str, None] = {}
        for s in self.symbol.tolist():
            seen.setdefault(s, None)
        return list(seen)

    def sorted(self) -> BarBatch:
        """Rows ordered by (time_ms, symbol), stable."""
        order = np.lexsort((self.symbol.astype(str), self.time_ms))
        return self.select(order)

    # -- validation ------------------------------------------------------------------------------

    def invalid_rows(self) -> dict[int, str]:
        """Every row that breaks a Bar rule, mapped to the first reason it breaks (row -> text)."""
        # The usual case, every row valid, is settled by a quick screen.
        return {} if self._all_valid() else self._reasons()

    def _reasons(self) -> dict[int, str]:
        reasons: dict[int, str] = {}

        def flag(mask: np.ndarray, text: str) -> None:
            for i in np.flatnonzero(mask).tolist():
                reasons.setdefault(i, text)

        empty = np.array([not isinstance(s, str) or not s.strip() for s in self.symbol], bool)
        flag(empty, "symbol must be a non-empty string")
        flag(
            (self.time_ms < 0) | (self.time_ms >= MAX_TIME_MS),
            f"time_ms must be UTC milliseconds in [0, {MAX_TIME_MS}) (before 2200)",
        )
        with np.errstate(invalid="ignore"):
            for name in _BAR_PRICE_FIELDS:
                col = getattr(self, name)
                flag(~(np.isfinite(col) & (col > 0)), f"{name} must be a finite number > 0")
            vol = self.volume
            flag(~(np.isfinite(vol) & (vol >= 0)), "volume must be a finite number >= 0")
            flag(self.low > self.high, "low must be <= high")
            for name in ("open", "close"):
                col = getattr(self, name)
                flag((col < self.low) | (col > self.high), f"{name} must lie within [low, high]")
        return dict(sorted(reasons.items()))

    def _all_valid(self) -> bool:
        if len(self) <= 32:  # a few rows: plain Python beats a dozen tiny array operations
            columns = (self.symbol, self.time_ms, self.open, self.high, self.low, self.close)
            for s, t, o, h, lo, c, v in zip(
                *(col.tolist() for col in columns), self.volume.tolist(), strict=True
            ):
                # NaN fails every comparison; an infinite high is the one way past them.
                if not (
                    0 < lo <= o <= h
                    and lo <= c <= h
                    and math.isfinite(h)
                    and 0 <= v < math.inf
                    and 0 <= t < MAX_TIME_MS
                    and isinstance(s, str)
                    and s.strip()
                ):
                    return False
            return True
        o, h, lo, c, v = self.open, self.high, self.low, self.close, self.volume
        with np.errstate(invalid="ignore"):
            ok = (
                np.isfinite(h).all()
                and np.isfinite(v).all()
                and bool((lo > 0).all() and (v >= 0).all() and (self.time_ms >= 0).all())
                and bool((self.time_ms < MAX_TIME_MS).all())
                and bool(((o >= lo) & (o <= h) & (c >= lo) & (c <= h)).all())
            )
        return ok and all(isinstance(s, str) and s.strip() for s in self.symbol.tolist())

    def _raise_on_invalid(self) -> None:
        bad = self.invalid_rows()
        if bad:
            row, reason = next(iter(bad.items()))
            raise ValueError(
                f"row {row} ({self.symbol[row]!r} at {self.time_ms[row]}): {reason}"
                + (f"; {len(bad) - 1} more invalid row(s)" if len(bad) > 1 else "")
            )


# --------------------------------------------------------------------------------------------
# Signals and orders
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signal:
    """A strategy's new target direction for a symbol, evaluated on the close of a bar."""

    symbol: str
    strategy: str
    time_ms: int
    direction: Direction
    strength: float
    price: float

    def __post_init__(self) -> None:
        _require_symbol(self.symbol)
        _require_symbol(self.strategy, "strategy")
        _require_time(self.time_ms)
        if not isinstance(self.direction, Direction):
            raise ValueError(f"direction must be a Direction, got {self.direction!r}")
        if not _is_real(self.strength) or not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must lie in [0, 1], got {self.strength!r}")
        _require_positive(self.price, "price")


@dataclass(frozen=True, slots=True)
class Instrument:
    """What the venue allows for one symbol: tick and lot sizes and minimums.

    A zero increment means "no rounding constraint".
    """

    symbol: str
    price_increment: float = 0.0
    quantity_increment: float = 0.0
    min_quantity: float = 0.0
    min_notional: float = 0.0

    def __post_init__(self) -> None:
        _require_symbol(self.symbol)
        for name in ("price_increment", "quantity_increment", "min_quantity", "min_notional"):
            _require_non_negative(getattr(self, name), name)

    def round_quantity(self, quantity: float) -> float:
        """Round a quantity down to the lot size (never up: rounding up could breach a limit)."""
        step = self.quantity_increment
        if step <= 0:
            return quantity
        # The small tolerance keeps 0.3/0.1 = 2.9999999999999996 from losing a whole lot.
        return math.floor(quantity / step + 1e-9) * step

    def round_price(self, price: float) -> float:
        step = self.price_increment
        if step <= 0:
            return price
        return round(price / step) * step

    def is_on_price_tick(self, price: float) -> bool:
        step = self.price_increment
        return step <= 0 or abs(price / step - round(price / step)) < 1e-6

    def is_on_quantity_lot(self, quantity: float) -> bool:
        step = self.quantity_increment
        return step <= 0 or abs(quantity / step - round(quantity / step)) < 1e-6


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """A request to trade, before risk has looked at it.

    ``quantity=None`` asks the risk engine to size the order. ``reduce_only`` marks an order
    that may only shrink an existing position (exits, flattening). ``stop_loss`` and
    ``take_profit`` are prices the risk engine tracks for the resulting position.
    """

    client_order_id: str
    symbol: str
    side: Side
    quantity: float | None = None
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    stop_price: float | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    strategy: str = "manual"
    time_ms: int = 0
    reduce_only: bool = False
    stop_loss: float | None = None
    take_profit: float | None = None

    def __post_init__(self) -> None:
        _require_symbol(self.client_order_id, "client_order_id")
        _require_symbol(self.symbol)
        _require_symbol(self.strategy, "strategy")
        _require_time(self.time_ms)
        if not isinstance(self.side, Side):
            raise ValueError(f"side must be a Side, got {self.side!r}")
        if not isinstance(self.order_type, OrderType):
            raise ValueError(f"order_type must be an OrderType, got {self.order_type!r}")
        if not isinstance(self.time_in_force, TimeInForce):
            raise ValueError(f"time_in_force must be a TimeInForce, got {self.time_in_force!r}")
        if self.quantity is not None:
            _require_positive(self.quantity, "quantity")
        if self.order_type is OrderType.LIMIT and self.limit_price is None:
            raise ValueError("limit_price is required for a LIMIT order")
        if self.order_type is OrderType.STOP and self.stop_price is None:
            raise ValueError("stop_price is required for a STOP order")
        for name in ("limit_price", "stop_price", "stop_loss", "take_profit"):
            value = getattr(self, name)
            if value is not None:
                _require_positive(value, name)

    def with_quantity(self, quantity: float) -> OrderIntent:
        return replace(self, quantity=quantity)


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the system tracks it. Transitions return new ``Order`` values; the legal
    transitions live in :mod:`supreme.core.execution.state`."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    stop_price: float | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    strategy: str = "manual"
    status: OrderStatus = OrderStatus.NEW
    filled_quantity: float = 0.0
    average_fill_price: float = 0.0
    fees: float = 0.0
    created_ms: int = 0
    updated_ms: int = 0
    venue_order_id: str | None = None
    reason: str = ""
    reduce_only: bool = False

    def __post_init__(self) -> None:
        _require_symbol(self.client_order_id, "client_order_id")
        _require_symbol(self.symbol)
        if self.status is OrderStatus.DENIED:
            # Risk may deny a request it was asked to size: such an order never had a quantity.
            _require_non_negative(self.quantity, "quantity")
        else:
            _require_positive(self.quantity, "quantity")
        _require_non_negative(self.filled_quantity, "filled_quantity")
        _require_non_negative(self.average_fill_price, "average_fill_price")
        _require_non_negative(self.fees, "fees")
        _require_time(self.created_ms, "created_ms")
        _require_time(self.updated_ms, "updated_ms")
        for name, kind in (
            ("side", Side),
            ("order_type", OrderType),
            ("time_in_force", TimeInForce),
            ("status", OrderStatus),
        ):
            if not isinstance(getattr(self, name), kind):
                raise ValueError(f"{name} must be a {kind.__name__}, got {getattr(self, name)!r}")
        if self.order_type is OrderType.LIMIT and self.limit_price is None:
            raise ValueError("limit_price is required for a LIMIT order")
        if self.order_type is OrderType.STOP and self.stop_price is None:
            raise ValueError("stop_price is required for a STOP order")
        for name in ("limit_price", "stop_price"):
            if getattr(self, name) is not None:
                _require_positive(getattr(self, name), name)
        if self.filled_quantity > self.quantity * (1 + 1e-9):
            raise ValueError(
                f"filled_quantity {self.filled_quantity} exceeds quantity {self.quantity}"
            )

    @classmethod
    def from_intent(cls, intent: OrderIntent, quantity: float, time_ms: int) -> Order:
        return cls(
            client_order_id=intent.client_order_id,
            symbol=intent.symbol,
            side=intent.side,
            quantity=quantity,
            order_type=intent.order_type,
            limit_price=intent.limit_price,
            stop_price=intent.stop_price,
            time_in_force=intent.time_in_force,
            strategy=intent.strategy,
            created_ms=time_ms,
            updated_ms=time_ms,
            reduce_only=intent.reduce_only,
        )

    @classmethod
    def denied(cls, intent: OrderIntent, time_ms: int, reason: str) -> Order:
        """The record of an intent the risk engine refused (quantity 0 if it was unsized)."""
        return replace(
            cls.from_intent(intent, intent.quantity or 1.0, time_ms),
            quantity=intent.quantity or 0.0,
            status=OrderStatus.DENIED,
            reason=reason,
        )

    @property
    def remaining_quantity(self) -> float:
        remaining = self.quantity - self.filled_quantity
        # Relative tolerance, as the state machine's: float sums of partial fills may leave
        # residue a few ulps above zero.
        return 0.0 if remaining <= 1e-9 * max(1.0, self.quantity) else remaining

    @property
    def is_open(self) -> bool:
        return self.status.is_open


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution against an order. ``fee`` is in account currency and always >= 0."""

    fill_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    fee: float
    time_ms: int
    strategy: str = "manual"

    def __post_init__(self) -> None:
        _require_symbol(self.fill_id, "fill_id")
        _require_symbol(self.client_order_id, "client_order_id")
        _require_symbol(self.symbol)
        _require_positive(self.quantity, "quantity")
        _require_positive(self.price, "price")
        _require_non_negative(self.fee, "fee")
        _require_time(self.time_ms)

    @property
    def signed_quantity(self) -> float:
        return self.side.sign * self.quantity

    @property
    def notional(self) -> float:
        return self.quantity * self.price


# --------------------------------------------------------------------------------------------
# Positions and portfolio
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Position:
    """A net position in one symbol, on average cost.

    ``quantity`` is signed (negative is short). ``realized_pnl`` accumulates gains and losses
    of closed quantity, before fees.
    """

    symbol: str
    quantity: float = 0.0
    average_price: float = 0.0
    realized_pnl: float = 0.0

    def __post_init__(self) -> None:
        _require_symbol(self.symbol)
        _require_finite(self.quantity, "quantity")
        _require_non_negative(self.average_price, "average_price")
        _require_finite(self.realized_pnl, "realized_pnl")

    @property
    def is_flat(self) -> bool:
        return abs(self.quantity) <= QTY_EPSILON

    @property
    def direction(self) -> Direction:
        if self.is_flat:
            return Direction.FLAT
        return Direction.LONG if self.quantity > 0 else Direction.SHORT

    def unrealized_pnl(self, price: float) -> float:
        return 0.0 if self.is_flat else (price - self.average_price) * self.quantity

    def market_value(self, price: float) -> float:
        return self.quantity * price

    def apply(self, signed_quantity: float, price: float) -> tuple[Position, float]:
        """The position after trading ``signed_quantity`` at ``price``, and the PnL it realized."""
        old = self.quantity
        new = old + signed_quantity
        if abs(new) <= QTY_EPSILON:
            new = 0.0
        realized = 0.0
        if old == 0.0 or (old > 0) == (signed_quantity > 0):
            # Opening or adding: the average cost moves, nothing is realized.
            total = abs(old) + abs(signed_quantity)
            average = (abs(old) * self.average_price + abs(signed_quantity) * price) / total
        else:
            closed = min(abs(old), abs(signed_quantity))
            realized = closed * (price - self.average_price) * (1 if old > 0 else -1)
            if new == 0.0:
                average = 0.0
            elif (new > 0) == (old > 0):
                average = self.average_price  # reduced, not flipped: cost basis unchanged
            else:
                average = price  # flipped: the remainder was opened at this price
        return (
            Position(self.symbol, new, average, self.realized_pnl + realized),
            realized,
        )


@dataclass(frozen=True, slots=True)
class Portfolio:
    """Cash and net positions of one account.

    Accounting identity, which the backtester checks: ``equity(prices) == initial cash +
    realized_pnl - fees + unrealized_pnl(prices)``.
    """

    cash: float
    positions: Mapping[str, Position] = field(default_factory=dict)
    realized_pnl: float = 0.0
    fees: float = 0.0

    def __post_init__(self) -> None:
        _require_finite(self.cash, "cash")
        object.__setattr__(self, "positions", MappingProxyType(dict(self.positions)))

    def position(self, symbol: str) -> Position:
        return self.positions.get(symbol) or Position(symbol)

    def apply_fill(self, fill: Fill) -> Portfolio:
        position, realized = self.position(fill.symbol).apply(fill.signed_quantity, fill.price)
        positions = dict(self.positions)
        positions[fill.symbol] = position
        return Portfolio(
            cash=self.cash - fill.signed_quantity * fill.price - fill.fee,
            positions=positions,
            realized_pnl=self.realized_pnl + realized,
            fees=self.fees + fill.fee,
        )

    def _price(self, prices: Mapping[str, float], position: Position) -> float:
        price = prices.get(position.symbol)
        # No mark yet: value the position at cost rather than inventing a price.
        return position.average_price if price is None else price

    def unrealized_pnl(self, prices: Mapping[str, float]) -> float:
        return sum(p.unrealized_pnl(self._price(prices, p)) for p in self.positions.values())

    def equity(self, prices: Mapping[str, float]) -> float:
        return self.cash + sum(
            p.market_value(self._price(prices, p)) for p in self.positions.values()
        )

    def gross_exposure(self, prices: Mapping[str, float]) -> float:
        return sum(abs(p.market_value(self._price(prices, p))) for p in self.positions.values())

    def net_exposure(self, prices: Mapping[str, float]) -> float:
        return sum(p.market_value(self._price(prices, p)) for p in self.positions.values())

    def open_positions(self) -> dict[str, Position]:
        return {s: p for s, p in self.positions.items() if not p.is_flat}

    def to_dict(self) -> dict[str, Any]:
        return {
            "cash": self.cash,
            "realized_pnl": self.realized_pnl,
            "fees": self.fees,
            "positions": {
                s: {
                    "quantity": p.quantity,
                    "average_price": p.average_price,
                    "realized_pnl": p.realized_pnl,
                }
                for s, p in self.positions.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Portfolio:
        return cls(
            cash=float(data["cash"]),
            positions={
                s: Position(
                    s, float(p["quantity"]), float(p["average_price"]), float(p["realized_pnl"])
                )
                for s, p in data.get("positions", {}).items()
            },
            realized_pnl=float(data.get("realized_pnl", 0.0)),
            fees=float(data.get("fees", 0.0)),
        )
