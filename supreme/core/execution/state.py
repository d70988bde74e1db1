"""The order state machine: which status may follow which, and how a fill moves an order.

::

    NEW ──> SUBMITTED ──> PARTIALLY_FILLED ──> FILLED
     │          │               │  ↺
     │          │               └──> CANCELED | EXPIRED
     │          └──> FILLED | CANCELED | REJECTED | EXPIRED
     └──> REJECTED | DENIED | CANCELED | PARTIALLY_FILLED | FILLED

Decision: a fill may arrive on a NEW order (``NEW -> PARTIALLY_FILLED | FILLED``). Venues that
fill instantly can push the fill over their stream before the REST acknowledgement of the
submit has come back, and the engine must not drop or refuse that fill. The late ``SUBMITTED``
ack is then merged (its venue order id kept) instead of being applied as a transition; see
:class:`supreme.core.execution.engine.ExecutionEngine`.

Terminal statuses (FILLED, CANCELED, REJECTED, EXPIRED, DENIED) go nowhere. The one exception
is :func:`apply_fill` with ``allow_terminal=True``: a fill that executed before a cancel or an
expiry but is reported after it must still be booked (positions depend on it), so its
quantities are applied while the status stays CANCELED / EXPIRED.

Orders are immutable: every function here returns a new :class:`Order`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from supreme.core.errors import IllegalTransition, InvalidArgument
from supreme.core.model import Fill, Order, OrderStatus

__all__ = [
    "FILL_STATUSES",
    "LEGAL_TRANSITIONS",
    "apply_fill",
    "can_transition",
    "fill_tolerance",
    "transition",
]

_S = OrderStatus

LEGAL_TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = MappingProxyType(
    {
        _S.NEW: frozenset(
            {
                _S.SUBMITTED,
                _S.REJECTED,
                _S.DENIED,
                _S.CANCELED,
                _S.PARTIALLY_FILLED,
                _S.FILLED,
            }
        ),
        _S.SUBMITTED: frozenset(
            {_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.REJECTED, _S.EXPIRED}
        ),
        _S.PARTIALLY_FILLED: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.EXPIRED}),
        _S.FILLED: frozenset(),
        _S.CANCELED: frozenset(),
        _S.REJECTED: frozenset(),
        _S.EXPIRED: frozenset(),
        _S.DENIED: frozenset(),
    }
)

FILL_STATUSES = frozenset({_S.PARTIALLY_FILLED, _S.FILLED})

# Terminal statuses that may still book a late fill (the fill happened before the cancel or
# expiry but was reported after it).
_LATE_FILL_STATUSES = frozenset({_S.CANCELED, _S.EXPIRED})


def can_transition(current: OrderStatus, new: OrderStatus) -> bool:
    return new in LEGAL_TRANSITIONS[current]


def fill_tolerance(order: Order) -> float:
    """Quantity slack for float residue: a fill within this of the remainder completes it."""
    return 1e-9 * max(1.0, order.quantity)


def _check(order: Order, status: OrderStatus) -> None:
    if not isinstance(status, OrderStatus):
        raise InvalidArgument(f"status must be an OrderStatus, got {status!r}")
    if not can_transition(order.status, status):
        raise IllegalTransition(
            f"order {order.client_order_id!r}: illegal transition "
            f"{order.status.value} -> {status.value}"
        )


def _check_time(time_ms: object) -> int:
    if isinstance(time_ms, bool) or not isinstance(time_ms, numbers.Integral) or time_ms < 0:
        raise InvalidArgument(f"time_ms must be a non-negative integer, got {time_ms!r}")
    return int(time_ms)


def transition(
    order: Order,
    status: OrderStatus,
    *,
    time_ms: int,
    reason: str = "",
    venue_order_id: str | None = None,
) -> Order:
    """``order`` moved to ``status`` at ``time_ms``.

    Raises :class:`IllegalTransition` when the current status cannot reach ``status``. Moving
    to PARTIALLY_FILLED or FILLED this way is allowed only when the order's quantities already
    say so (0 < filled < quantity, resp. nothing remaining); use :func:`apply_fill` to book a
    fill. ``reason`` and ``venue_order_id`` replace the order's values when given.
    ``updated_ms`` never moves backwards.
    """
    _check(order, status)
    time_ms = _check_time(time_ms)
    if status is _S.FILLED and order.remaining_quantity > fill_tolerance(order):
        raise InvalidArgument(
            f"order {order.client_order_id!r}: cannot mark FILLED with "
            f"{order.remaining_quantity} of {order.quantity} unfilled; book fills with apply_fill"
        )
    if status is _S.PARTIALLY_FILLED and not (
        order.filled_quantity > 0.0 and order.remaining_quantity > fill_tolerance(order)
    ):
        raise InvalidArgument(
            f"order {order.client_order_id!r}: cannot mark PARTIALLY_FILLED with filled "
            f"quantity {order.filled_quantity} of {order.quantity}; book fills with apply_fill"
        )
    return replace(
        order,
        status=status,
        updated_ms=max(order.updated_ms, time_ms),
        reason=reason or order.reason,
        venue_order_id=venue_order_id if venue_order_id is not None else order.venue_order_id,
    )


def apply_fill(order: Order, fill: Fill, *, allow_terminal: bool = False) -> Order:
    """``order`` after ``fill``: filled quantity, volume-weighted average price, fees, status.

    The status becomes FILLED when nothing remains (within :func:`fill_tolerance`; the filled
    quantity is then snapped to the order quantity) and PARTIALLY_FILLED otherwise.

    Raises :class:`InvalidArgument` when the fill belongs to another order, symbol or side, or
    would overfill the order; :class:`IllegalTransition` when the order's status cannot take a
    fill. With ``allow_terminal=True`` a CANCELED or EXPIRED order books the fill (a late fill)
    but keeps its status.
    """
    if not isinstance(fill, Fill):
        raise InvalidArgument(f"fill must be a Fill, got {type(fill).__name__}")
    if fill.client_order_id != order.client_order_id:
        raise InvalidArgument(
            f"fill {fill.fill_id!r} is for order {fill.client_order_id!r}, "
            f"not {order.client_order_id!r}"
        )
    if fill.symbol != order.symbol:
        raise InvalidArgument(
            f"fill {fill.fill_id!r} is for symbol {fill.symbol!r}, but order "
            f"{order.client_order_id!r} trades {order.symbol!r}"
        )
    if fill.side is not order.side:
        raise InvalidArgument(
            f"fill {fill.fill_id!r} is a {fill.side.value}, but order "
            f"{order.client_order_id!r} is a {order.side.value}"
        )
    tolerance = fill_tolerance(order)
    remaining = order.quantity - order.filled_quantity
    late = allow_terminal and order.status in _LATE_FILL_STATUSES
    filled = order.filled_quantity + fill.quantity
    complete = order.quantity - filled <= tolerance
    status = order.status if late else _S.FILLED if complete else _S.PARTIALLY_FILLED
    if not late:
        _check(order, status)  # a closed order refuses the fill before any quantity check
    if fill.quantity > remaining + tolerance:
        raise InvalidArgument(
            f"fill {fill.fill_id!r} of {fill.quantity} overfills order "
            f"{order.client_order_id!r}: {max(remaining, 0.0)} of {order.quantity} remaining"
        )
    average = (order.filled_quantity * order.average_fill_price + fill.quantity * fill.price) / (
        filled
    )
    if not math.isfinite(average):  # pragma: no cover - guarded by Fill validation
        raise InvalidArgument(f"fill {fill.fill_id!r} produced a non-finite average price")
    return replace(
        order,
        status=status,
        filled_quantity=order.quantity if complete else filled,
        average_fill_price=average,
        fees=order.fees + fill.fee,
        updated_ms=max(order.updated_ms, fill.time_ms),
    )
