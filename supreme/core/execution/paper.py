"""A simulated venue for backtests and paper trading.

:class:`PaperBroker` keeps its book in memory and matches it against bars fed to
:meth:`PaperBroker.on_bar`. The fill rules, per bar of the order's symbol:

* An order only trades on bars that open strictly after it was submitted, so never on the bar
  whose close produced it. The submission moment is the latest of the order's ``created_ms``,
  its ``updated_ms`` and the last bar of the symbol seen before the submit. Each order is
  matched against a given bar time at most once (a repeated bar cannot fill it twice).
* MARKET: fills at the bar's open, slipped against the trader: a buy pays
  ``open * (1 + slippage)``, a sell gets ``open * (1 - slippage)``.
* LIMIT: a buy fills when ``low <= limit`` at ``min(open, limit)`` (a gap through the limit
  gets the better open); a sell fills when ``high >= limit`` at ``max(open, limit)``. No
  slippage.
* STOP: a buy triggers when ``high >= stop`` and fills at ``max(open, stop)`` slipped; a sell
  triggers when ``low <= stop`` and fills at ``min(open, stop)`` slipped. Once triggered, an
  unfilled remainder (volume participation) trades as a market order on later bars.
* Fees: ``fee_bps * notional / 1e4`` on every fill.
* ``max_volume_participation``: the quantity filled per bar, summed over all of the symbol's
  orders in submission order, is at most that fraction of the bar's volume; the rest stays
  working. A bar with zero volume then fills nothing.
* Time in force: IOC expires what its first eligible bar did not fill; FOK fills completely on
  its first eligible bar or expires without a fill; DAY expires (without trading) on the first
  bar of a later UTC day than its submission; GTC works until filled or canceled.
* Fill ids are ``f"{client_order_id}-{bar.time_ms}"``: deterministic, unique (one fill per
  order per bar) and stable when an order is re-submitted after a restart, so a journal that
  already holds the fill recognises it.

The async methods never really await, so they are cheap inside a backtest loop.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace

from supreme.core.errors import InvalidArgument, NotFound
from supreme.core.execution.broker import ExecutionReport, ReportHandler
from supreme.core.execution.state import apply_fill, can_transition, fill_tolerance, transition
from supreme.core.model import Bar, Fill, Order, OrderStatus, OrderType, Side, TimeInForce

__all__ = ["DAY_MS", "PaperBroker", "PaperBrokerConfig"]

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class PaperBrokerConfig:
    slippage_bps: float = 1.0
    fee_bps: float = 1.0
    # At most this fraction of a bar's volume fills per bar (0.1 = 10%); None = unlimited.
    max_volume_participation: float | None = None

    def __post_init__(self) -> None:
        for name in ("slippage_bps", "fee_bps"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value) or value < 0:
                raise InvalidArgument(f"{name} must be a finite number >= 0, got {value!r}")
        p = self.max_volume_participation
        if p is not None and (not _is_number(p) or not math.isfinite(p) or p <= 0):
            raise InvalidArgument(f"max_volume_participation must be None or > 0, got {p!r}")


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(slots=True)
class _Working:
    """An order resting in the paper book."""

    order: Order
    after_ms: int  # only bars with time_ms > after_ms may touch the order
    day: int  # UTC day number of the submission, for DAY orders
    seen: bool = False  # has it had its first eligible bar (IOC / FOK)?
    triggered: bool = False  # stop orders: has the stop been hit?


class PaperBroker:
    """An in-memory venue; see the module docstring for the matching rules."""

    venue = "paper"

    def __init__(self, config: PaperBrokerConfig | None = None) -> None:
        self.config = config if config is not None else PaperBrokerConfig()
        self._slip = self.config.slippage_bps / 1e4
        self._fee = self.config.fee_bps / 1e4
        self._orders: dict[str, Order] = {}
        self._book: dict[str, dict[str, _Working]] = {}  # symbol -> client id -> working
        self._marks: dict[str, float] = {}
        self._last_bar_ms: dict[str, int] = {}
        self._now_ms = 0
        self._venue_seq = 0
        self._handler: ReportHandler | None = None
        self.submissions = 0  # accepted or rejected submit calls, for tests and metrics

    # -- Broker protocol -----------------------------------------------------------------------

    def set_report_handler(self, callback: ReportHandler | None) -> None:
        self._handler = callback

    async def submit(self, order: Order) -> ExecutionReport:
        return self.submit_now(order)

    async def cancel(self, client_order_id: str) -> ExecutionReport:
        return self.cancel_now(client_order_id)

    async def fetch_order(self, client_order_id: str) -> Order | None:
        return self._orders.get(client_order_id)

    async def open_orders(self) -> list[Order]:
        return [w.order for book in self._book.values() for w in book.values()]

    # -- synchronous core ----------------------------------------------------------------------

    def submit_now(self, order: Order) -> ExecutionReport:
        """:meth:`submit` without the coroutine."""
        self.submissions += 1
        cid = order.client_order_id
        now = max(order.created_ms, order.updated_ms, self._last_bar_ms.get(order.symbol, 0))
        if cid in self._orders:
            return ExecutionReport(
                cid, OrderStatus.REJECTED, now, reason=f"duplicate client order id {cid!r}"
            )
        problem = self._invalid(order)
        if problem:
            if can_transition(order.status, OrderStatus.REJECTED):
                self._orders[cid] = transition(
                    order, OrderStatus.REJECTED, time_ms=now, reason=problem
                )
            return ExecutionReport(cid, OrderStatus.REJECTED, now, reason=problem)
        self._venue_seq += 1
        venue_id = f"paper-{self._venue_seq}"
        if order.status is OrderStatus.NEW:
            held = transition(order, OrderStatus.SUBMITTED, time_ms=now, venue_order_id=venue_id)
        else:  # re-submission of an order that was already working before a restart
            held = replace(order, venue_order_id=venue_id)
        self._orders[cid] = held
        self._book.setdefault(order.symbol, {})[cid] = _Working(held, now, now // DAY_MS)
        return ExecutionReport(cid, OrderStatus.SUBMITTED, now, venue_order_id=venue_id)

    def cancel_now(self, client_order_id: str) -> ExecutionReport:
        """:meth:`cancel` without the coroutine."""
        order = self._orders.get(client_order_id)
        if order is None:
            raise NotFound(f"paper broker has no order {client_order_id!r}")
        now = max(self._now_ms, order.updated_ms)
        canceled = transition(order, OrderStatus.CANCELED, time_ms=now, reason="canceled")
        self._orders[client_order_id] = canceled
        self._book.get(order.symbol, {}).pop(client_order_id, None)
        return ExecutionReport(
            client_order_id,
            OrderStatus.CANCELED,
            now,
            venue_order_id=order.venue_order_id,
            reason="canceled",
        )

    def mark(self, symbol: str) -> float | None:
        """The close of the last bar seen for ``symbol``."""
        return self._marks.get(symbol)

    @property
    def now_ms(self) -> int:
        """Open time of the latest bar seen, any symbol."""
        return self._now_ms

    def on_bar(self, bar: Bar) -> list[ExecutionReport]:
        """Match the working orders of ``bar.symbol`` against ``bar``.

        Returns the reports produced (fills, expiries), in order, after pushing each to the
        report handler.
        """
        reports: list[ExecutionReport] = []
        book = self._book.get(bar.symbol)
        if book:
            participation = self.config.max_volume_participation
            budget = math.inf if participation is None else participation * bar.volume
            for cid, working in list(book.items()):
                if bar.time_ms <= working.after_ms:
                    continue
                working.after_ms = bar.time_ms
                budget -= self._match(working, bar, budget, reports)
                if not working.order.is_open:
                    del book[cid]
        if bar.time_ms >= self._last_bar_ms.get(bar.symbol, -1):
            self._last_bar_ms[bar.symbol] = bar.time_ms
            self._marks[bar.symbol] = bar.close
        self._now_ms = max(self._now_ms, bar.time_ms)
        if self._handler is not None:
            for report in reports:
                self._handler(report)
        return reports

    # -- matching ------------------------------------------------------------------------------

    def _match(
        self, working: _Working, bar: Bar, budget: float, reports: list[ExecutionReport]
    ) -> float:
        """Match one working order against a bar; returns the quantity filled."""
        order = working.order
        tif = order.time_in_force
        if tif is TimeInForce.DAY and bar.time_ms // DAY_MS > working.day:
            self._expire(working, bar, "DAY order expired at the start of a new UTC day", reports)
            return 0.0
        first = not working.seen
        working.seen = True
        filled = 0.0
        price = self._price(working, bar)
        if price is not None:
            remaining = order.remaining_quantity
            tolerance = fill_tolerance(order)
            quantity = min(remaining, budget)
            if quantity >= remaining - tolerance:
                quantity = remaining
            if tif is TimeInForce.FOK and quantity < remaining:
                quantity = 0.0
            if quantity > tolerance:
                filled = quantity
                fill = Fill(
                    fill_id=f"{order.client_order_id}-{bar.time_ms}",
                    client_order_id=order.client_order_id,
                    symbol=order.symbol,
                    side=order.side,
                    quantity=quantity,
                    price=price,
                    fee=self._fee * quantity * price,
                    time_ms=bar.time_ms,
                    strategy=order.strategy,
                )
                order = apply_fill(order, fill)
                working.order = order
                self._orders[order.client_order_id] = order
                reports.append(
                    ExecutionReport(
                        order.client_order_id,
                        order.status,
                        bar.time_ms,
                        fill=fill,
                        venue_order_id=order.venue_order_id,
                    )
                )
        if first and order.is_open and tif in (TimeInForce.IOC, TimeInForce.FOK):
            why = "not filled" if filled == 0.0 else "remainder not filled"
            self._expire(working, bar, f"{tif.value} order {why} on its first bar", reports)
        return filled

    def _price(self, working: _Working, bar: Bar) -> float | None:
        """The fill price on ``bar``, or None when the order does not trade on it."""
        order = working.order
        buy = order.side is Side.BUY
        if order.order_type is OrderType.MARKET:
            return self._slipped(bar.open, buy)
        if order.order_type is OrderType.LIMIT:
            limit = order.limit_price
            assert limit is not None  # checked on submit
            if buy:
                return min(bar.open, limit) if bar.low <= limit else None
            return max(bar.open, limit) if bar.high >= limit else None
        # STOP
        if working.triggered:
            return self._slipped(bar.open, buy)
        stop = order.stop_price
        assert stop is not None  # checked on submit
        if buy and bar.high >= stop:
            working.triggered = True
            return self._slipped(max(bar.open, stop), buy)
        if not buy and bar.low <= stop:
            working.triggered = True
            return self._slipped(min(bar.open, stop), buy)
        return None

    def _slipped(self, price: float, buy: bool) -> float:
        return price * (1.0 + self._slip) if buy else price * (1.0 - self._slip)

    def _expire(
        self, working: _Working, bar: Bar, reason: str, reports: list[ExecutionReport]
    ) -> None:
        order = transition(working.order, OrderStatus.EXPIRED, time_ms=bar.time_ms, reason=reason)
        working.order = order
        self._orders[order.client_order_id] = order
        reports.append(
            ExecutionReport(
                order.client_order_id,
                OrderStatus.EXPIRED,
                bar.time_ms,
                venue_order_id=order.venue_order_id,
                reason=reason,
            )
        )

    @staticmethod
    def _invalid(order: Order) -> str:
        """Why the paper venue refuses ``order``, or "" when it accepts it."""
        if not isinstance(order, Order):
            return f"not an Order: {type(order).__name__}"
        if not order.status.is_open:
            return f"order is already {order.status.value}"
        if order.remaining_quantity <= 0:
            return "nothing left to fill"
        return ""
