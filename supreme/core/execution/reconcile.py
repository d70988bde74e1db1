"""Reconciliation on start: the journal against the live venue, before any new order.

:func:`reconcile` runs in three steps, each applied through the execution engine, so every
change it makes is journaled like any other report:

1. **Orders in flight.** Every order the journal has open (NEW: written but never
   acknowledged; SUBMITTED; PARTIALLY_FILLED) is looked up by client order id. A known order
   gets its acknowledgement, every fill it missed and its end (filled, canceled, expired). A
   NEW order the venue does not have is looked up again until the venue's validity window for
   the original request has passed (see :mod:`supreme.core.execution.ccxt_broker`), then closed
   as REJECTED ("never reached the venue"): it is never re-sent. An acknowledged order the
   venue no longer knows is closed as CANCELED and reported as *vanished*.
2. **External orders.** An open order on the venue that the journal does not know was placed
   outside Supreme (by hand, by another program). It is adopted: journaled as an order of
   strategy ``external`` with its fills so far, and tracked from then on. It is reported, not
   silently ignored.
3. **Balances.** The venue's balance of every asset is compared with what the journal
   explains: the balances recorded the first time this journal met the venue (the *baseline*,
   a journal checkpoint) plus every journaled fill since (base asset by quantity, quote asset
   by notional and fee). A difference beyond the tolerance (fees charged in another asset than
   the quote, dust) is a *mismatch*. The baseline then moves to the balances just seen, so a
   mismatch is reported once; the risk engine keeps it (REDUCING) until an admin acknowledges.

The result, :class:`Reconciliation`, is what the execution actor hands to the risk engine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from supreme.core.errors import InvalidArgument
from supreme.core.execution.broker import ExecutionReport
from supreme.core.execution.ccxt_broker import CcxtBroker
from supreme.core.execution.engine import ExecutionEngine
from supreme.core.model import Fill, OrderStatus, Side

__all__ = ["BASELINE_CHECKPOINT", "BalanceTolerance", "Reconciliation", "reconcile"]

BASELINE_CHECKPOINT = "venue_baseline"


@dataclass(frozen=True, slots=True)
class BalanceTolerance:
    """How far a venue balance may sit from the journal's figure before it is a mismatch:
    ``absolute + relative * turnover``, where turnover is the amount of the asset the fills
    since the baseline moved (fees charged in the other asset of a pair are a fraction of it)."""

    absolute: float = 1e-8
    relative: float = 0.002

    def __post_init__(self) -> None:
        if not (self.absolute >= 0 and self.relative >= 0):
            raise InvalidArgument("balance tolerances must be >= 0")


@dataclass(slots=True)
class Reconciliation:
    """What reconciliation found and did (JSON-safe through :meth:`to_dict`)."""

    venue: str
    orders_checked: int = 0
    orders_updated: list[dict[str, Any]] = field(default_factory=list)
    missed_fills: int = 0
    never_sent: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)
    external: list[dict[str, Any]] = field(default_factory=list)
    balances: dict[str, dict[str, float]] = field(default_factory=dict)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    baseline_set: bool = False
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not (self.mismatches or self.vanished)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def reconcile(
    engine: ExecutionEngine,
    broker: CcxtBroker,
    *,
    tolerance: BalanceTolerance | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    balance_attempts: int = 3,
) -> Reconciliation:
    """Reconcile ``engine``'s journal with ``broker``'s venue; see the module docstring.

    ``engine`` must have replayed its journal (:meth:`ExecutionEngine.start`) and be the
    broker's report handler. Venue errors propagate: the caller retries later.
    """
    started = time.monotonic()
    tolerance = tolerance or BalanceTolerance()
    result = Reconciliation(venue=broker.venue)
    await _orders_in_flight(engine, broker, result, sleep)
    await _external_orders(engine, broker, result)
    await _balances(engine, broker, result, tolerance, balance_attempts)
    result.seconds = round(time.monotonic() - started, 3)
    return result


async def _orders_in_flight(
    engine: ExecutionEngine,
    broker: CcxtBroker,
    result: Reconciliation,
    sleep: Callable[[float], Awaitable[Any]],
) -> None:
    journaled = engine.open_orders()
    result.orders_checked = len(journaled)
    for order in journaled:
        broker.track(order)
    pending = {o.client_order_id: o for o in journaled}
    deadline = time.monotonic() + broker.unknown_fate_ms / 1000.0
    while True:
        for cid in list(pending):
            found, reports = await broker.sync(cid)
            if not found:
                continue
            before = pending.pop(cid)
            after = engine.get(cid)
            _count(result, before.status, after.status if after else before.status, reports, cid)
        for cid in [c for c, o in pending.items() if o.venue_order_id is not None]:
            # Acknowledged once, unknown now: the venue lost it (or archived it). Close it
            # here, and let the risk engine hold trading until someone has looked.
            broker.untrack(cid)
            _close(
                engine,
                pending.pop(cid),
                OrderStatus.CANCELED,
                f"{broker.venue} no longer knows this acknowledged order (reconciliation on start)",
            )
            result.vanished.append(cid)
        if not pending or time.monotonic() >= deadline:
            break
        await sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    for cid, order in pending.items():  # written, never acknowledged, never reached the venue
        broker.untrack(cid)
        _close(
            engine,
            order,
            OrderStatus.REJECTED,
            f"never reached {broker.venue}: not found by client order id after its validity "
            "window (reconciliation on start); not re-sent",
        )
        result.never_sent.append(cid)


async def _external_orders(
    engine: ExecutionEngine, broker: CcxtBroker, result: Reconciliation
) -> None:
    for order in await broker.external_orders(lambda cid: engine.get(cid) is not None):
        engine.adopt(order)
        broker.adopt(order)
        found, reports = await broker.sync(order.client_order_id)
        adopted = engine.get(order.client_order_id)
        result.missed_fills += sum(1 for r in reports if r.fill is not None)
        result.external.append(
            {
                "client_order_id": order.client_order_id,
                "venue_order_id": adopted.venue_order_id if adopted else None,
                "symbol": order.symbol,
                "side": order.side.value,
                "order_type": order.order_type.value,
                "quantity": order.quantity,
                "limit_price": order.limit_price,
                "filled": adopted.filled_quantity if adopted else 0.0,
                "status": adopted.status.value if adopted else OrderStatus.NEW.value,
                "found": found,
            }
        )


async def _balances(
    engine: ExecutionEngine,
    broker: CcxtBroker,
    result: Reconciliation,
    tolerance: BalanceTolerance,
    attempts: int,
) -> None:
    journal = engine.journal
    saved = journal.load_checkpoint(BASELINE_CHECKPOINT)
    for attempt in range(max(1, attempts)):
        venue = await broker.balances()
        fills = journal.fills()
        if saved is None:
            break
        expected, turnover = _expected(saved, fills[int(saved["fills"]) :], broker)
        compared, mismatches = _compare(venue, expected, turnover, tolerance)
        if not mismatches or attempt == attempts - 1:
            break
        # A fill may have landed between the order sync and the balance: catch up, look again.
        await broker.poll()
    now = int(time.time() * 1000)
    journal.save_checkpoint(BASELINE_CHECKPOINT, {"balances": venue, "fills": len(fills)}, now)
    if saved is None:
        result.baseline_set = True
        result.balances = {a: {"venue": v, "expected": v} for a, v in sorted(venue.items())}
        return
    result.balances = compared
    result.mismatches = mismatches


def _expected(
    saved: dict[str, Any], fills: list[Fill], broker: CcxtBroker
) -> tuple[dict[str, float], dict[str, float]]:
    expected = {str(a): float(v) for a, v in saved["balances"].items()}
    turnover: dict[str, float] = {}
    for fill in fills:
        base, quote = broker.assets(fill.symbol)
        sign = 1.0 if fill.side is Side.BUY else -1.0
        notional = fill.quantity * fill.price
        expected[base] = expected.get(base, 0.0) + sign * fill.quantity
        expected[quote] = expected.get(quote, 0.0) - sign * notional - fill.fee
        turnover[base] = turnover.get(base, 0.0) + fill.quantity
        turnover[quote] = turnover.get(quote, 0.0) + notional
    return expected, turnover


def _compare(
    venue: dict[str, float],
    expected: dict[str, float],
    turnover: dict[str, float],
    tolerance: BalanceTolerance,
) -> tuple[dict[str, dict[str, float]], list[dict[str, Any]]]:
    compared: dict[str, dict[str, float]] = {}
    mismatches: list[dict[str, Any]] = []
    for asset in sorted(set(venue) | set(expected)):
        have, want = venue.get(asset, 0.0), expected.get(asset, 0.0)
        allowed = tolerance.absolute + tolerance.relative * turnover.get(asset, 0.0)
        compared[asset] = {"venue": have, "expected": want}
        if abs(have - want) > allowed:
            mismatches.append(
                {
                    "asset": asset,
                    "venue": have,
                    "expected": want,
                    "difference": have - want,
                    "tolerance": allowed,
                }
            )
    return compared, mismatches


def _close(engine: ExecutionEngine, order: Any, status: OrderStatus, reason: str) -> None:
    current = engine.get(order.client_order_id) or order
    if not current.status.is_open:
        return
    if current.status is not OrderStatus.NEW and status is OrderStatus.REJECTED:
        status = OrderStatus.CANCELED
    engine.handle_report(
        ExecutionReport(
            current.client_order_id,
            status,
            max(current.updated_ms, int(time.time() * 1000)),
            venue_order_id=current.venue_order_id,
            reason=reason,
        )
    )


def _count(
    result: Reconciliation,
    before: OrderStatus,
    after: OrderStatus,
    reports: list[ExecutionReport],
    cid: str,
) -> None:
    fills = sum(1 for r in reports if r.fill is not None)
    result.missed_fills += fills
    if before is not after or fills:
        result.orders_updated.append(
            {"client_order_id": cid, "from": before.value, "to": after.value, "fills": fills}
        )
