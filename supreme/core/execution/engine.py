"""The execution engine: the one path from an approved order to a venue and back.

Both the backtester (with :class:`~supreme.core.execution.paper.PaperBroker`) and the live
execution worker use it. Every order is journaled before it leaves, every report from the venue
is applied through the state machine and journaled before anything else sees it, and the fills
it produced are collected for the caller (:meth:`ExecutionEngine.drain_fills`) to forward to
the risk engine and the portfolio.

Not thread-safe: use one engine from one event loop (the broker's report handler is called on
that loop, or synchronously from ``PaperBroker.on_bar``).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from supreme.core.errors import IllegalTransition, InvalidArgument, NotFound
from supreme.core.execution.broker import Broker, ExecutionReport
from supreme.core.execution.journal import JournalState, OrderJournal
from supreme.core.execution.paper import PaperBroker
from supreme.core.execution.state import apply_fill, can_transition, transition
from supreme.core.model import Fill, Order, OrderStatus

__all__ = ["ExecutionEngine"]

log = logging.getLogger(__name__)


class ExecutionEngine:
    """Submits orders to a :class:`Broker`, applies its reports, journals everything.

    The engine registers itself as the broker's report handler. Open orders are kept in memory;
    closed ones are read back from the journal.
    """

    def __init__(self, broker: Broker, journal: OrderJournal) -> None:
        self.broker = broker
        self.journal = journal
        self._open: dict[str, Order] = {}
        self._new_fills: list[Fill] = []
        broker.set_report_handler(self.handle_report)

    # -- construction after a restart ------------------------------------------------------------

    @classmethod
    async def recover(
        cls, broker: Broker, journal: OrderJournal, *, resubmit_unknown: bool | None = None
    ) -> ExecutionEngine:
        """An engine whose state was rebuilt from ``journal``; see :meth:`start`."""
        engine = cls(broker, journal)
        await engine.start(resubmit_unknown=resubmit_unknown)
        return engine

    async def start(self, *, resubmit_unknown: bool | None = None) -> JournalState:
        """Replay the journal and re-register its open orders with the broker.

        Open orders the broker knows (``fetch_order``) are left alone: reconciling them with the
        venue's view is the live worker's job. Open orders the broker does not know are, with
        ``resubmit_unknown``, submitted again with their filled quantity, so only the remainder
        trades, and with the journal's latest time as their ``updated_ms``, so only later bars
        can trade them (the journaled orders keep their own times); a rejected re-submission
        closes the order (REJECTED, or CANCELED if it had fills).

        ``resubmit_unknown=None`` (the default) means True for a :class:`PaperBroker`, whose
        book lived in memory and died with the process, and False for any other broker: a live
        venue not finding an order is a reconciliation question, and blindly re-sending it could
        trade twice.

        Returns the replayed state, whose portfolio the caller uses to rebuild positions and cash.
        """
        if resubmit_unknown is None:
            resubmit_unknown = isinstance(self.broker, PaperBroker)
        state = self.journal.replay()
        self._open = dict(state.open_orders)
        # The latest moment the journal knows of. A re-submitted order was working until then,
        # so it is sent with that as its updated time: a paper broker then only matches it
        # against bars after it (a bar re-fed after the restart cannot trade it again).
        horizon = max(
            max((o.updated_ms for o in state.orders.values()), default=0),
            max((f.time_ms for f in state.fills), default=0),
        )
        for cid, order in list(self._open.items()):
            if not resubmit_unknown or await self.broker.fetch_order(cid) is not None:
                continue
            report = await self.broker.submit(
                replace(order, updated_ms=max(order.updated_ms, horizon))
            )
            if report.status is OrderStatus.REJECTED:
                status = (
                    OrderStatus.REJECTED
                    if can_transition(order.status, OrderStatus.REJECTED)
                    else OrderStatus.CANCELED
                )
                after = transition(
                    order,
                    status,
                    time_ms=report.time_ms,
                    reason=f"re-submission after restart rejected: {report.reason}",
                )
                self.journal.update(after)
                self._remember(after)
            else:
                self._apply(report)
        return state

    # -- orders in and out -------------------------------------------------------------------------

    async def submit(self, order: Order) -> Order:
        """Journal ``order`` (write-ahead), send it, apply the ack; returns the order after it.

        Idempotent on the client order id: an id already journaled returns the journaled order
        unchanged and nothing is sent. If the broker raises, the order stays journaled as NEW
        (its fate at the venue is unknown) and the exception propagates.
        """
        if order.status is not OrderStatus.NEW:
            raise InvalidArgument(
                f"order {order.client_order_id!r} must be NEW to be submitted, "
                f"it is {order.status.value}"
            )
        if not self.journal.record_new(order):
            existing = self.get(order.client_order_id)
            assert existing is not None
            return existing
        self._open[order.client_order_id] = order
        report = await self.broker.submit(order)
        if report.client_order_id != order.client_order_id:
            raise InvalidArgument(
                f"broker acknowledged {report.client_order_id!r} for {order.client_order_id!r}"
            )
        return self._apply(report)[0]

    def adopt(self, order: Order) -> Order:
        """Journal an order found on the venue that nobody here submitted (NEW; the venue's
        reports then move it). Idempotent like :meth:`submit`."""
        if order.status is not OrderStatus.NEW:
            raise InvalidArgument(
                f"an adopted order starts NEW, {order.client_order_id!r} is {order.status.value}"
            )
        if not self.journal.record_new(order):
            existing = self.get(order.client_order_id)
            assert existing is not None
            return existing
        self._open[order.client_order_id] = order
        return order

    def record_unsent(self, order: Order, reason: str) -> Order:
        """Journal a NEW order that will not be sent (the venue is not ready) as REJECTED with
        ``reason``. Idempotent like :meth:`submit`."""
        if not self.journal.record_new(order):
            existing = self.get(order.client_order_id)
            assert existing is not None
            return existing
        after = transition(order, OrderStatus.REJECTED, time_ms=order.updated_ms, reason=reason)
        self.journal.update(after)
        return after

    def record_denied(self, order: Order) -> Order:
        """Journal an order the risk engine denied (NEW -> DENIED), so it shows in listings.

        Idempotent like :meth:`submit`: an id already journaled returns that order unchanged.
        """
        if order.status is not OrderStatus.DENIED:
            raise InvalidArgument(
                f"record_denied needs a DENIED order, {order.client_order_id!r} is "
                f"{order.status.value}"
            )
        # Written as DENIED in one step: a denied sizing request has quantity 0, which no NEW
        # order may have, and it never went anywhere that a NEW record would stand for.
        if not self.journal.record_new(order):
            existing = self.get(order.client_order_id)
            assert existing is not None
            return existing
        return order

    async def cancel(self, client_order_id: str) -> Order:
        """Cancel an open order; returns the order after the venue's answer.

        Canceling an order already CANCELED returns it; any other closed order raises
        :class:`IllegalTransition`; an unknown id raises :class:`NotFound`. A NEW order the
        broker does not know (its submit failed) is canceled locally.
        """
        current = self._current(client_order_id)
        if current is None:
            raise NotFound(f"no order {client_order_id!r}")
        if current.status.is_terminal:
            if current.status is OrderStatus.CANCELED:
                return current
            raise IllegalTransition(
                f"order {client_order_id!r} is {current.status.value}; it cannot be canceled"
            )
        try:
            report = await self.broker.cancel(client_order_id)
        except NotFound:
            current = self._current(client_order_id) or current
            if current.status is not OrderStatus.NEW:
                raise
            after = transition(
                current,
                OrderStatus.CANCELED,
                time_ms=current.updated_ms,
                reason=f"canceled locally: {self.broker.venue} does not know the order",
            )
            self.journal.update(after)
            self._remember(after)
            return after
        return self._apply(report)[0]

    def handle_report(self, report: ExecutionReport) -> Fill | None:
        """Apply an asynchronous report (fill, expiry, cancel by the venue).

        Returns the new fill, or None for a non-fill report or a fill already journaled.
        Duplicate status reports, and reports overtaken by a terminal status (a cancel ack
        after the last fill), change nothing. A fill reported after the order was canceled or
        expired is still booked (the status stays). Reports for unknown orders are logged and
        ignored.
        """
        return self._apply(report)[1]

    def drain_fills(self) -> list[Fill]:
        """The fills produced since the last call, oldest first."""
        fills, self._new_fills = self._new_fills, []
        return fills

    # -- views ---------------------------------------------------------------------------------

    def get(self, client_order_id: str) -> Order | None:
        return self._current(client_order_id)

    def open_orders(self) -> list[Order]:
        """Open orders (NEW, SUBMITTED, PARTIALLY_FILLED), in submission order."""
        return list(self._open.values())

    def orders(self, status: OrderStatus | None = None) -> list[Order]:
        """Every journaled order (or those with ``status``), in creation order."""
        return self.journal.orders(status)

    # -- internals -----------------------------------------------------------------------------

    def _current(self, client_order_id: str) -> Order | None:
        order = self._open.get(client_order_id)
        return order if order is not None else self.journal.get(client_order_id)

    def _remember(self, order: Order) -> None:
        if order.status.is_open:
            self._open[order.client_order_id] = order
        else:
            self._open.pop(order.client_order_id, None)

    def _apply(self, report: ExecutionReport) -> tuple[Order | None, Fill | None]:
        """Apply one report; returns the order after it and the new fill, if any."""
        cid = report.client_order_id
        current = self._current(cid)
        if current is None:
            log.warning("report for unknown order %r ignored: %s", cid, report)
            return None, None
        fill = report.fill
        if fill is not None:
            if self.journal.has_fill(fill.fill_id):
                return current, None
            after = apply_fill(current, fill, allow_terminal=True)
            if report.venue_order_id is not None and after.venue_order_id is None:
                after = replace(after, venue_order_id=report.venue_order_id)
            if not self.journal.record_fill(fill, after):
                return current, None
            if not current.status.is_open:
                log.warning(
                    "late fill %s booked on %s order %r", fill.fill_id, current.status.value, cid
                )
            self._remember(after)
            self._new_fills.append(fill)
            return after, fill
        status = report.status
        overtaken = status is OrderStatus.SUBMITTED and current.status is not OrderStatus.NEW
        if status is current.status or current.status.is_terminal or overtaken:
            # A duplicate, or a report that arrives after a later state (an ack after the first
            # fill, a cancel ack after the last fill): keep the state, learn the venue id.
            if not current.status.is_open and status is not current.status:
                log.info(
                    "report %s for %s order %r ignored", status.value, current.status.value, cid
                )
            venue_id = report.venue_order_id
            if venue_id is not None and venue_id != current.venue_order_id:
                current = replace(current, venue_order_id=venue_id)
                self.journal.update(current)
                self._remember(current)
            return current, None
        after = transition(
            current,
            status,
            time_ms=report.time_ms,
            reason=report.reason,
            venue_order_id=report.venue_order_id,
        )
        self.journal.update(after)
        self._remember(after)
        return after, None
