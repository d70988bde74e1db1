"""``ExecutionActor``: orders of one venue (a thin shell over ExecutionEngine).

One named actor per venue (``"execution-<venue>"``) runs the order state machine, the SQLite
journal (``<state_dir>/execution-<venue>.sqlite``) and the broker; today the broker is the
:class:`~supreme.core.execution.PaperBroker`, which fills against the bars the gateway feeds it
(:meth:`ExecutionActor.on_bars`).

It is an async actor (the broker protocol is async) with ``max_concurrency=1``: one call runs
at a time, so calls from one caller apply in order. :meth:`ExecutionActor.ping` runs in its own
``health`` concurrency group so a health check never waits behind work.

**Fills to risk.** :meth:`ExecutionActor.on_bars` awaits the RiskActor's ``on_fills`` before it
returns, so when the caller sees the fills, risk has booked them (a decision taken after that
sees the new positions). A forward that fails (risk restarting) is kept and retried with the
next call; the count of forwarded fills is checkpointed in the journal, so fills journaled but
not yet forwarded when this actor died are forwarded after its restart. Risk drops fill ids it
has already booked, so a retry never books a fill twice.

**Restart.** ``__init__`` replays the journal (:meth:`ExecutionEngine.recover`): open orders
are rebuilt and re-registered with the paper broker (they trade only on bars after the restart),
closed orders and fills stay queryable.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import ray
from ray.util import metrics

from supreme.core.desk import decision_order
from supreme.core.errors import InvalidArgument
from supreme.core.execution import ExecutionEngine, OrderJournal, PaperBroker, PaperBrokerConfig
from supreme.core.model import BarBatch, Fill, Order, OrderStatus, Portfolio
from supreme.core.risk import RiskDecision

__all__ = ["FORWARD_CHECKPOINT", "ExecutionActor", "journal_path"]

log = logging.getLogger(__name__)

FORWARD_CHECKPOINT = "risk_forwarded"
FORWARD_TIMEOUT_S = 30.0


def journal_path(state_dir: str | Path, venue: str) -> Path:
    return Path(state_dir) / f"execution-{venue}.sqlite"


def _time_journal_writes(journal: OrderJournal) -> None:
    """Record each journal write in ``supreme_journal_write_seconds`` (exported by Ray's metrics
    agent as ray_supreme_journal_write_seconds)."""
    histogram = metrics.Histogram(
        "supreme_journal_write_seconds",
        description="Time to write an order or a fill to the journal (committed).",
        boundaries=[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
        tag_keys=("operation",),
    )
    for name in ("record_new", "update", "record_fill"):
        write = getattr(journal, name)

        def timed(*args: Any, _write: Any = write, _name: str = name, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _write(*args, **kwargs)
            finally:
                histogram.observe(time.perf_counter() - started, tags={"operation": _name})

        setattr(journal, name, timed)


def _broker_config(value: PaperBrokerConfig | Mapping[str, Any] | None) -> PaperBrokerConfig | None:
    if value is None or isinstance(value, PaperBrokerConfig):
        return value
    return PaperBrokerConfig(**value)


@ray.remote(num_cpus=0, max_concurrency=1, concurrency_groups={"health": 1})
class ExecutionActor:
    """See the module docstring."""

    async def __init__(
        self,
        state_dir: str,
        *,
        venue: str = "paper",
        initial_cash: float = 100_000.0,
        risk: Any = None,
        risk_namespace: str | None = None,
        broker_config: PaperBrokerConfig | Mapping[str, Any] | None = None,
    ) -> None:
        if venue != "paper":
            raise InvalidArgument(f"venue {venue!r} is not supported yet; only 'paper' is")
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        self._venue = venue
        # The RiskActor: its name (looked up when first needed) or a handle. A name keeps the
        # constructor arguments plain values, which Ray can always replay on a restart.
        self._risk_name = risk if isinstance(risk, str) else None
        self._risk_namespace = risk_namespace
        self._risk = None if isinstance(risk, str) else risk
        self._incarnation = uuid.uuid4().hex
        self._journal = OrderJournal(journal_path(state_dir, venue))
        _time_journal_writes(self._journal)
        self._journal.set_initial_cash(initial_cash)
        self._broker = PaperBroker(_broker_config(broker_config))
        self._engine = await ExecutionEngine.recover(self._broker, self._journal)
        saved = self._journal.load_checkpoint(FORWARD_CHECKPOINT) or {}
        self._forwarded = int(saved.get("fills", 0))
        # Journaled fills risk has not confirmed yet (all of them after a crash mid-forward).
        self._unsent: list[Fill] = self._journal.fills()[self._forwarded :]
        self.recovered_orders = len(self._engine.orders())
        self.forward_failures = 0

    # -- market data ---------------------------------------------------------------------------

    async def on_bars(self, batch: BarBatch) -> list[Fill]:
        """Match working orders against each bar in order; returns the new fills, after risk
        has booked them (see the module docstring)."""
        last = 0
        for bar in batch:
            self._broker.on_bar(bar)
            last = max(last, bar.time_ms)
        fills = self._engine.drain_fills()
        if self._risk is not None or self._risk_name is not None:
            self._unsent.extend(fills)
            await self._forward(last)
        return fills

    async def on_market(
        self, batch: BarBatch
    ) -> tuple[list[tuple[Fill, Order | None]], list[Order]]:
        """:meth:`on_bars` plus what a router needs next, in one call: each new fill with its
        order as it stands now, and the orders still open."""
        fills = await self.on_bars(batch)
        return [(f, self._engine.get(f.client_order_id)) for f in fills], self._engine.open_orders()

    async def _forward(self, now_ms: int) -> bool:
        if (self._risk is None and self._risk_name is None) or not self._unsent:
            return not self._unsent
        batch = list(self._unsent)
        now = max(now_ms, max(f.time_ms for f in batch))
        try:
            if self._risk is None:
                self._risk = ray.get_actor(self._risk_name, namespace=self._risk_namespace)
            await asyncio.wait_for(self._risk.on_fills.remote(batch, now), FORWARD_TIMEOUT_S)
        except Exception as exc:  # risk down or restarting: keep the fills, retry later
            self.forward_failures += 1
            log.warning("could not forward %d fill(s) to risk, will retry: %s", len(batch), exc)
            return False
        del self._unsent[: len(batch)]
        self._forwarded += len(batch)
        self._journal.save_checkpoint(FORWARD_CHECKPOINT, {"fills": self._forwarded}, now)
        return True

    async def forward_pending(self) -> int:
        """Retry forwarding unconfirmed fills to risk; returns how many are still pending."""
        await self._forward(0)
        return len(self._unsent)

    # -- orders --------------------------------------------------------------------------------

    async def submit(self, orders: Iterable[Order]) -> list[Order]:
        """Journal and send NEW orders, in order; returns each order after the venue's ack
        (an id already journaled returns that order unchanged)."""
        return [await self._engine.submit(order) for order in orders]

    async def record_denied(self, orders: Iterable[Order]) -> list[Order]:
        """Journal orders risk denied (DENIED), so they show in listings."""
        return [self._engine.record_denied(order) for order in orders]

    async def route(self, decisions: Iterable[RiskDecision]) -> list[Order]:
        """Submit the approved decisions' orders and journal the denied ones, in order."""
        out = []
        for decision in decisions:
            order = decision_order(decision)
            if decision.approved:
                out.append(await self._engine.submit(order))
            else:
                out.append(self._engine.record_denied(order))
        return out

    async def cancel(self, client_order_id: str) -> Order:
        return await self._engine.cancel(client_order_id)

    # -- views ---------------------------------------------------------------------------------

    async def orders(self, status: OrderStatus | str | None = None) -> list[Order]:
        if isinstance(status, str):
            status = OrderStatus(status.upper())
        return self._engine.orders(status)

    async def get(self, client_order_id: str) -> Order | None:
        return self._engine.get(client_order_id)

    async def open_orders(self) -> list[Order]:
        return self._engine.open_orders()

    async def fills(self, client_order_id: str | None = None) -> list[Fill]:
        return self._journal.fills(client_order_id)

    async def portfolio(self) -> Portfolio:
        """Positions and cash as the journal has them (a replay of every fill)."""
        return self._journal.replay().portfolio

    @ray.method(concurrency_group="health")
    async def ping(self) -> dict[str, Any]:
        return {
            "actor": f"execution-{self._venue}",
            "incarnation": self._incarnation,
            "pid": os.getpid(),
            "recovered_orders": self.recovered_orders,
            "unsent_fills": len(self._unsent),
            "forward_failures": self.forward_failures,
        }

    async def close(self) -> None:
        """Close the journal (the actor is unusable afterwards)."""
        if not self._journal.closed:
            self._journal.close()
