"""What a venue looks like to the execution engine: the :class:`Broker` protocol and the
:class:`ExecutionReport` it produces.

The protocol is asynchronous because the live broker is built on ccxt's asyncio API. A broker
answers ``submit`` and ``cancel`` with an acknowledgement report and pushes everything that
happens later (fills, expiries, cancels by the venue) to the handler registered with
:meth:`Broker.set_report_handler`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from supreme.core.errors import InvalidArgument
from supreme.core.model import Fill, Order, OrderStatus

__all__ = ["Broker", "ExecutionReport", "ReportHandler"]


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """Something a venue says about one order.

    ``status`` is the status the order moves to. A report carrying a ``fill`` moves the order
    by that fill (its status is then PARTIALLY_FILLED or FILLED); at most one fill per report.
    """

    client_order_id: str
    status: OrderStatus
    time_ms: int
    fill: Fill | None = None
    venue_order_id: str | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.client_order_id, str) or not self.client_order_id:
            raise InvalidArgument(
                f"client_order_id must be a non-empty string, got {self.client_order_id!r}"
            )
        if not isinstance(self.status, OrderStatus):
            raise InvalidArgument(f"status must be an OrderStatus, got {self.status!r}")
        if self.fill is not None:
            if self.fill.client_order_id != self.client_order_id:
                raise InvalidArgument(
                    f"report for {self.client_order_id!r} carries fill {self.fill.fill_id!r} "
                    f"of order {self.fill.client_order_id!r}"
                )
            if self.status not in (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED):
                raise InvalidArgument(
                    f"a report carrying a fill must have status PARTIALLY_FILLED or FILLED, "
                    f"got {self.status.value}"
                )


ReportHandler = Callable[[ExecutionReport], None]


@runtime_checkable
class Broker(Protocol):
    """A venue the engine can trade on."""

    venue: str

    async def submit(self, order: Order) -> ExecutionReport:
        """Send ``order``. Returns the ack: SUBMITTED with the venue order id, or REJECTED with
        a reason. Raises when the fate of the order is unknown (e.g. the connection dropped)."""
        ...

    async def cancel(self, client_order_id: str) -> ExecutionReport:
        """Cancel an open order. Returns the CANCELED report; raises
        :class:`supreme.core.errors.NotFound` for an order the venue does not know."""
        ...

    async def fetch_order(self, client_order_id: str) -> Order | None:
        """The venue's view of one order, by client order id (for reconciliation)."""
        ...

    async def open_orders(self) -> list[Order]:
        """Every order the venue considers open."""
        ...

    def set_report_handler(self, callback: ReportHandler) -> None:
        """Register the callback that receives asynchronous reports (fills, expiries, ...)."""
        ...
