"""Trading instances and the route from signals to orders.

A trading instance is a strategy on some symbols whose signals become orders. It outlives the
client that started it: its definition is persisted in ``state_dir/instances.json`` and it is
re-attached when the gateway starts again.

One worker task serializes everything that touches risk and execution (market data for the
paper broker and the risk marks, trading signals, manual orders), so the risk actor always
decides on the state that the previous decision left, and no approved order can be lost
between the two actors: the execution actor journals it before it is sent anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from supreme.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from supreme.core.model import BarBatch, Order, OrderIntent, Signal
from supreme.core.shard import InstanceKey, keys_for
from supreme.server.audit import LOCAL, SYSTEM, AuditLog
from supreme.server.hub import Broadcast, SignalHub
from supreme.server.metrics import GatewayMetrics

log = logging.getLogger("supreme.server.trading")

__all__ = ["InstanceStore", "TradingInstance", "TradingRouter"]


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class TradingInstance:
    instance_id: str
    strategy: str
    params: dict[str, float]
    symbols: list[str]
    created_ms: int
    signals: int = 0
    orders: int = 0
    keys: tuple[InstanceKey, ...] = field(default=(), repr=False)

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        del record["keys"], record["signals"], record["orders"]
        return record


class InstanceStore:
    """Trading instance definitions on disk, rewritten atomically on every change."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def load(self) -> list[dict[str, Any]]:
        if not self._path.exists():
            return []
        return list(json.loads(self._path.read_text()))

    def save(self, instances: Iterable[TradingInstance]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        with open(tmp, "w") as handle:
            json.dump([i.to_record() for i in instances], handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path)


class _InstanceSink:
    """The hub's view of a trading instance: signals go to the router's queue, never dropped."""

    def __init__(self, instance: TradingInstance, router: TradingRouter) -> None:
        self.id = f"instance:{instance.instance_id}"
        self.keys = instance.keys
        self._instance = instance
        self._router = router

    def offer(self, instance_id: str, signal: Signal) -> bool:
        self._instance.signals += 1
        self._router.enqueue(("signal", self._instance.instance_id, signal))
        return True


class TradingRouter:
    def __init__(
        self,
        *,
        shard_for: Any,
        risk: Any,
        execution: Any,
        hub: SignalHub,
        store: InstanceStore,
        updates: Broadcast,
        market_linger_ms: float = 50.0,
        metrics: GatewayMetrics | None = None,
        audit: AuditLog | None = None,
        venue_poll_s: float | None = None,
    ) -> None:
        self._shard_for = shard_for
        self._risk = risk
        self._execution = execution
        self._hub = hub
        self._store = store
        self._updates = updates
        self._instances: dict[str, TradingInstance] = {}
        self._sinks: dict[str, _InstanceSink] = {}
        self._queue: asyncio.Queue = asyncio.Queue()
        self._lock = asyncio.Lock()
        self._worker: asyncio.Task | None = None
        self._ids = itertools.count(1)
        self._linger = market_linger_ms / 1000.0
        self._metrics = metrics
        self._audit = audit
        self._signal_queued = asyncio.Event()
        self._venue_poll_s = venue_poll_s
        self._venue_pending = False
        self._ticker: asyncio.Task | None = None
        self.errors = 0

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        for record in self._store.load():
            try:
                await self._start(
                    record["strategy"],
                    record["symbols"],
                    record["params"],
                    record["instance_id"],
                    created_ms=int(record["created_ms"]),
                    persist=False,
                )
            except Exception:  # one bad record must not stop the others
                log.exception("could not restore trading instance %s", record)
        self._worker = asyncio.create_task(self._work(), name="trading-router")
        if self._venue_poll_s is not None:
            self._ticker = asyncio.create_task(self._tick_venue(), name="venue-updates")

    async def _tick_venue(self) -> None:
        """A live venue reports fills and cancels by itself: fetch them for the subscribers
        every ``venue_poll_s`` (one request in the queue at a time)."""
        while True:
            await asyncio.sleep(self._venue_poll_s)
            if not self._venue_pending:
                self._venue_pending = True
                self._queue.put_nowait(("venue",))

    async def drain(self) -> None:
        await self._queue.join()

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        await self.drain()
        if self._worker is not None:
            self._worker.cancel()

    def enqueue(self, item: tuple) -> None:
        self._queue.put_nowait(item)
        if item[0] == "signal":
            self._signal_queued.set()

    def on_bars(self, batch: BarBatch) -> None:
        """Market data for the paper broker and the risk marks, in flush order."""
        self._queue.put_nowait(("bars", batch))

    # -- instances -------------------------------------------------------------------------------

    def instances(self) -> list[TradingInstance]:
        return list(self._instances.values())

    async def start_instance(
        self,
        strategy: str,
        symbols: list[str],
        params: Mapping[str, float],
        instance_id: str = "",
    ) -> TradingInstance:
        return await self._start(strategy, symbols, params, instance_id, now_ms(), persist=True)

    async def _start(
        self,
        strategy: str,
        symbols: list[str],
        params: Mapping[str, float],
        instance_id: str,
        created_ms: int,
        *,
        persist: bool,
    ) -> TradingInstance:
        if not symbols:
            raise InvalidArgument("symbols must name at least one symbol")
        keys = keys_for(strategy, params, dict.fromkeys(symbols))
        instance_id = instance_id or f"{strategy}-{created_ms}-{next(self._ids)}"
        if instance_id in self._instances:
            raise AlreadyExists(f"trading instance {instance_id!r} already exists")
        instance = TradingInstance(
            instance_id,
            strategy,
            keys[0].params_dict(),
            [k.symbol for k in keys],
            created_ms,
            keys=tuple(keys),
        )
        sink = _InstanceSink(instance, self)
        self._hub.add(sink)
        try:
            await asyncio.gather(*(self._shard_for(k.symbol).attach.remote(k) for k in keys))
        except BaseException:
            self._hub.remove(sink)
            raise
        self._instances[instance_id] = instance
        self._sinks[instance_id] = sink
        if persist:
            self._store.save(self._instances.values())
        log.info("trading instance %s started on %s", instance_id, instance.symbols)
        return instance

    async def stop_instance(self, instance_id: str) -> TradingInstance:
        instance = self._instances.get(instance_id)
        if instance is None:
            raise NotFound(f"no trading instance {instance_id!r}")
        self._hub.remove(self._sinks.pop(instance_id))
        del self._instances[instance_id]
        self._store.save(self._instances.values())
        await asyncio.gather(*(self._shard_for(k.symbol).detach.remote(k) for k in instance.keys))
        return instance

    # -- orders ----------------------------------------------------------------------------------

    async def submit_manual(self, intent: OrderIntent, principal: str = LOCAL) -> tuple[Order, str]:
        """Route one manual order through risk and execution; returns it and the reason code.
        ``principal`` is who asked (audit log)."""
        async with self._lock:
            try:
                existing = await self._execution.get.remote(intent.client_order_id)
                if existing is not None:
                    self._audit_order(
                        principal, existing, "", intent, "a resubmission: the existing order"
                    )
                    return existing, ""
                open_orders = await self._execution.open_orders.remote()
                decision = await self._risk.evaluate.remote(intent, open_orders)
                orders = await self._apply([decision], principal)
            except Exception as exc:
                self._audit_error(principal, "order.submit", intent.client_order_id, exc, intent)
                raise
        order, code = orders[0]
        if order.status.name == "DENIED" and code == "HALTED":
            raise FailedPrecondition(f"trading is halted: {order.reason}")
        return order, code

    async def cancel(self, client_order_id: str, principal: str = LOCAL) -> Order:
        async with self._lock:
            try:
                order = await self._execution.cancel.remote(client_order_id)
            except Exception as exc:
                self._audit_error(principal, "order.cancel", client_order_id, exc)
                raise
            if self._audit is not None:
                self._audit.record(
                    principal,
                    "order.cancel",
                    client_order_id,
                    {"symbol": order.symbol, "strategy": order.strategy, "reason": order.reason},
                    order.status.name,
                )
        self._publish(order, None)
        return order

    def _audit_order(
        self, principal: str, order: Order, code: str, intent: Any = None, note: str = ""
    ) -> None:
        if self._audit is None:
            return
        details: dict[str, Any] = {
            "symbol": order.symbol,
            "side": order.side,
            "order_type": order.order_type,
            "quantity": order.quantity,
            "limit_price": order.limit_price,
            "stop_price": order.stop_price,
            "strategy": order.strategy,
            "reduce_only": order.reduce_only,
        }
        if intent is not None:
            details["requested_quantity"] = intent.quantity
        if note:
            details["note"] = note
        outcome = order.status.name
        if code and code not in ("OK", "CANCEL"):
            outcome += f" ({code})"
        self._audit.record(principal, "order.submit", order.client_order_id, details, outcome)

    def _audit_error(
        self, principal: str, what: str, subject: str, exc: BaseException, intent: Any = None
    ) -> None:
        if self._audit is None:
            return
        details: dict[str, Any] = {}
        if intent is not None:
            details = {
                "symbol": intent.symbol,
                "side": intent.side,
                "order_type": intent.order_type,
                "requested_quantity": intent.quantity,
                "strategy": intent.strategy,
            }
        self._audit.record(principal, what, subject, details, f"error: {exc}")

    async def _apply(
        self, decisions: list[Any], principal: str = SYSTEM
    ) -> list[tuple[Order, str]]:
        """Journal and send approved orders, journal denials (one execution call); returns
        each decision's order and reason code, in decision order. Every order is audited as
        submitted by ``principal`` (SYSTEM: trading instances and risk's own orders)."""
        decisions = [d for d in decisions if d.intent is not None]
        # The execution actor stamps orders with the decision's market time, so the paper
        # broker fills them on the next bar of the market clock, whatever the wall clock says.
        done = self._metrics.timer(self._metrics.execution_latency) if self._metrics else None
        orders = await self._execution.route.remote(decisions) if decisions else []
        if done is not None and decisions:
            done()
        by_id = {o.client_order_id: o for o in orders}
        results = []
        for decision in decisions:
            order = by_id.get(decision.client_order_id)
            if order is None:
                continue
            code = decision.reason_code.name if hasattr(decision.reason_code, "name") else ""
            results.append((order, code))
            self._audit_order(principal, order, code, decision.intent)
            self._publish(order, None)
            instance = self._instances.get(order.strategy)
            if instance is not None:
                instance.orders += 1
        return results

    def _publish(self, order: Order, fill: Any) -> None:
        self._updates.publish((order, fill))
        if self._metrics is not None:
            self._metrics.orders.labels(order.status.name).inc()

    # -- the worker ------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            items = [await self._queue.get()]
            if items[0][0] == "bars" and self._linger > 0 and not self._signal_queued.is_set():
                # Market data alone is not urgent (the broker and the marks go by bar time, not
                # wall time): let more of it gather, so a fast feed of small flushes costs a
                # few actor calls a second instead of one per flush. A signal ends the wait.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._signal_queued.wait(), self._linger)
            # Take whatever else is waiting: consecutive market data merges into one batch and
            # consecutive signals into one decision call, so the router keeps up with the feed
            # however small the flushes are.
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            self._signal_queued.clear()  # every signal queued so far is in `items`
            try:
                for kind, run in _runs(items):
                    try:
                        async with self._lock:
                            await self._handle(kind, run)
                    except Exception:  # keep routing; the failure is logged and counted
                        self.errors += 1
                        log.exception("trading router failed on %s", kind)
            finally:
                for _ in items:
                    self._queue.task_done()

    async def _handle(self, kind: str, items: list[tuple]) -> None:
        if kind == "bars":
            parts = [item[1] for item in items]
            batch = parts[0] if len(parts) == 1 else BarBatch.concat(parts)
            fills, open_orders = await self._execution.on_market.remote(batch)
            decisions = await self._risk.on_bars.remote(batch, open_orders)
            for fill, order in fills:
                if order is not None:
                    self._publish(order, fill)
            if decisions:
                await self._apply(decisions)
        elif kind == "venue":
            self._venue_pending = False
            for order, fill in await self._execution.take_updates.remote():
                self._publish(order, fill)
        elif kind == "signal":
            # Trading instances trade under their instance id, so attribution is per instance.
            routed = [
                Signal(s.symbol, instance_id, s.time_ms, s.direction, s.strength, s.price)
                for _, instance_id, s in items
            ]
            open_orders = await self._execution.open_orders.remote()
            decisions = await self._risk.on_signals.remote(routed, open_orders)
            if decisions:
                await self._apply(decisions)


def _runs(items: list[tuple]) -> list[tuple[str, list[tuple]]]:
    """Consecutive items of the same kind, grouped, in order."""
    runs: list[tuple[str, list[tuple]]] = []
    for item in items:
        if runs and runs[-1][0] == item[0]:
            runs[-1][1].append(item)
        else:
            runs.append((item[0], [item]))
    return runs
