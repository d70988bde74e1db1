"""``ExecutionActor``: orders of one venue (a thin shell over ExecutionEngine).

One named actor per venue (``"execution-<venue>"``, with ``:`` as ``-``) runs the order state
machine, the SQLite journal (``<state_dir>/execution-<venue>.sqlite``) and the broker:

* ``paper``: the :class:`~supreme.core.execution.PaperBroker`, which fills against the bars
  the gateway feeds it (:meth:`ExecutionActor.on_bars`);
* ``ccxt:<exchange>``: the :class:`~supreme.core.execution.ccxt_broker.CcxtBroker` on a live
  venue (:mod:`supreme.core.execution.venues` builds the exchange).

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
are rebuilt; on paper they are re-registered with the broker (they trade only on bars after the
restart), closed orders and fills stay queryable.

**Live venues.** The actor starts *not ready*: a background task reconciles the journal with
the venue (:mod:`supreme.core.execution.reconcile`; retried with backoff while the venue is
unreachable), hands the result to the risk engine (``record_reconciliation``: a mismatch holds
trading at REDUCING until an admin resets the ``reconciliation`` breaker) together with the
venue's tick, lot and minimum sizes of the traded symbols (``set_instruments``), and only then
accepts orders; until then :meth:`ping` says ``ready: False`` (the gateway reports NOT_SERVING)
and orders are journaled as REJECTED, never sent. Once ready a tracking task polls the venue
every ``poll_interval_s`` (and follows its user-data stream where ccxt can): fills, cancels and
expiries move the orders, every fill is forwarded to risk, and the changes wait in an outbox
for the gateway (:meth:`ExecutionActor.take_updates`). Venue outages and rejections are passed
to risk's error-burst breaker. One lock keeps the tracking task and the order calls from
interleaving on the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import ray
from ray.util import metrics

from supreme.core.desk import decision_order
from supreme.core.errors import Unavailable
from supreme.core.execution import (
    ExecutionEngine,
    ExecutionReport,
    OrderJournal,
    PaperBroker,
    PaperBrokerConfig,
)
from supreme.core.execution.ccxt_broker import CcxtBroker, scrub
from supreme.core.execution.venues import make_exchange, parse_venue, venue_slug
from supreme.core.model import BarBatch, Fill, Order, OrderStatus, Portfolio
from supreme.core.risk import RiskDecision

__all__ = ["FORWARD_CHECKPOINT", "ExecutionActor", "journal_path"]

log = logging.getLogger(__name__)

FORWARD_CHECKPOINT = "risk_forwarded"
FORWARD_TIMEOUT_S = 30.0
MAX_OUTBOX = 10_000  # order updates kept for the gateway (the oldest go first)


def journal_path(state_dir: str | Path, venue: str) -> Path:
    return Path(state_dir) / f"execution-{venue_slug(venue)}.sqlite"


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


def _not_ready_reason(venue: str, exc: BaseException, delay: float, exchange: Any) -> str:
    import ccxt

    what = scrub(exc, exchange)
    if isinstance(exc, ccxt.AuthenticationError):
        prefix = f"SUPREME_{venue.upper().replace('-', '_')}"
        return (
            f"authentication with {venue} failed; check the API key and secret "
            f"({prefix}_API_KEY and {prefix}_SECRET): {what}; retrying in {delay:.0f} s"
        )
    return (
        f"reconciliation with {venue} failed ({type(exc).__name__}: {what}); "
        f"retrying in {delay:.0f} s"
    )


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
        venue_options: Mapping[str, Any] | None = None,
        sandbox: bool = False,
        symbols: Iterable[str] = (),
        poll_interval_s: float = 1.0,
        unknown_fate_ms: int | None = None,
        streaming: bool = True,
    ) -> None:
        exchange_id = parse_venue(venue)
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
        self._lock = asyncio.Lock()
        self._outbox: deque[tuple[Order, Fill | None]] = deque(maxlen=MAX_OUTBOX)
        self._tasks: list[asyncio.Task] = []
        self._exchange: Any = None
        self.reconciliation: dict[str, Any] | None = None
        self.not_ready_reason = ""
        if exchange_id is None:
            self._broker: Any = PaperBroker(_broker_config(broker_config))
            self._engine = await ExecutionEngine.recover(self._broker, self._journal)
            self._ready = True
        else:
            self._ready = False
            self._symbols = list(dict.fromkeys(symbols))
            self._poll_interval_s = float(poll_interval_s)
            self._wake = asyncio.Event()
            self._exchange = make_exchange(
                exchange_id, options=venue_options, sandbox=sandbox, streaming=streaming
            )
            self._broker = CcxtBroker(
                self._exchange,
                unknown_fate_ms=unknown_fate_ms,
                on_venue_error=self._venue_error,
            )
            self._engine = ExecutionEngine(self._broker, self._journal)
            await self._engine.start(resubmit_unknown=False)  # replay only; reconcile below
            self._broker.set_report_handler(self._on_report)
            self.not_ready_reason = f"reconciling the journal with {exchange_id}"
        saved = self._journal.load_checkpoint(FORWARD_CHECKPOINT) or {}
        self._forwarded = int(saved.get("fills", 0))
        # Journaled fills risk has not confirmed yet (all of them after a crash mid-forward).
        self._unsent: list[Fill] = self._journal.fills()[self._forwarded :]
        self.recovered_orders = len(self._engine.orders())
        self.forward_failures = 0
        if not self._ready:
            self._tasks.append(asyncio.create_task(self._go_live(), name="go-live"))

    # -- live venues ---------------------------------------------------------------------------

    def _risk_actor(self) -> Any:
        if self._risk is None and self._risk_name is not None:
            self._risk = ray.get_actor(self._risk_name, namespace=self._risk_namespace)
        return self._risk

    def _venue_error(self, reason: str) -> None:
        """An outage or a rejection: one count towards risk's error-burst breaker."""
        with contextlib.suppress(Exception):  # risk away: the error is logged by the broker
            risk = self._risk_actor()
            if risk is not None:
                risk.record_venue_error.remote(reason)

    def _on_report(self, report: ExecutionReport) -> None:
        """A report the venue sent by itself: applied, journaled, queued for the gateway."""
        before = self._engine.get(report.client_order_id)
        fill = self._engine.handle_report(report)
        after = self._engine.get(report.client_order_id)
        if after is not None and (fill is not None or before is None or after != before):
            self._outbox.append((after, fill))
        self._wake.set()

    async def _go_live(self) -> None:
        from supreme.core.execution.reconcile import reconcile

        delay = 1.0
        while True:
            try:
                async with self._lock:
                    result = await reconcile(self._engine, self._broker)
                report = result.to_dict()
                symbols = set(self._symbols) | {o.symbol for o in self._engine.open_orders()}
                instruments = await self._broker.instruments(sorted(symbols))
                risk = self._risk_actor()
                if risk is not None:
                    await risk.record_reconciliation.remote(report)
                    await risk.set_instruments.remote(instruments)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the venue or risk unreachable: keep trying
                self.not_ready_reason = _not_ready_reason(
                    self._broker.venue, exc, delay, self._exchange
                )
                log.warning("%s", self.not_ready_reason)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        self.reconciliation = report
        log.log(
            logging.INFO if result.clean else logging.WARNING,
            "reconciled with %s in %.1f s: %d order(s) checked, %d missed fill(s), "
            "%d external order(s) adopted, %d balance mismatch(es), %d vanished",
            self._broker.venue,
            result.seconds,
            result.orders_checked,
            result.missed_fills,
            len(result.external),
            len(result.mismatches),
            len(result.vanished),
        )
        await self._forward(0)
        self._ready = True
        self.not_ready_reason = ""
        self._tasks.append(asyncio.create_task(self._track(), name="track"))
        if self._broker.can_watch:
            self._tasks.append(asyncio.create_task(self._broker.watch(), name="watch"))

    async def _track(self) -> None:
        """Poll the venue every ``poll_interval_s``; forward fills as soon as they arrive."""
        last_poll = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)
            self._wake.clear()
            if time.monotonic() - last_poll >= self._poll_interval_s:
                last_poll = time.monotonic()
                try:
                    async with self._lock:
                        await self._broker.poll()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the venue away: the next round tries again
                    log.warning(
                        "polling %s failed: %s", self._broker.venue, scrub(exc, self._exchange)
                    )
            fills = self._engine.drain_fills()
            if fills or self._unsent:
                self._unsent.extend(fills)
                await self._forward(0)

    async def take_updates(self) -> list[tuple[Order, Fill | None]]:
        """Order changes the venue reported by itself since the last call (fills, cancels,
        expiries), oldest first, each with the order after it."""
        updates = list(self._outbox)
        self._outbox.clear()
        return updates

    def _check_ready(self) -> None:
        if not self._ready:
            raise Unavailable(
                f"execution on {self._venue} is not ready ({self.not_ready_reason}); "
                "orders are accepted once reconciliation with the venue has finished"
            )

    def _refuse(self, order: Order) -> Order:
        """Journal an approved order that cannot be sent now as REJECTED (never sent)."""
        return self._engine.record_unsent(
            order,
            f"not sent: execution on {self._venue} is not ready ({self.not_ready_reason})",
        )

    async def _send(self, order: Order) -> Order:
        """Submit one order; an order whose fate is unknown stays NEW (the broker resolves
        it) instead of failing the orders after it."""
        try:
            return await self._engine.submit(order)
        except Unavailable as exc:
            log.warning("%s", exc)
            return self._engine.get(order.client_order_id) or order

    # -- market data ---------------------------------------------------------------------------

    async def on_bars(self, batch: BarBatch) -> list[Fill]:
        """Match working orders against each bar in order; returns the new fills, after risk
        has booked them (see the module docstring)."""
        if not isinstance(self._broker, PaperBroker):
            return []  # a live venue's fills arrive through tracking (take_updates)
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
            risk = self._risk_actor()
            await asyncio.wait_for(risk.on_fills.remote(batch, now), FORWARD_TIMEOUT_S)
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
        self._check_ready()
        async with self._lock:
            return [await self._send(order) for order in orders]

    async def record_denied(self, orders: Iterable[Order]) -> list[Order]:
        """Journal orders risk denied (DENIED), so they show in listings."""
        return [self._engine.record_denied(order) for order in orders]

    async def route(self, decisions: Iterable[RiskDecision]) -> list[Order]:
        """Submit the approved decisions' orders and journal the denied ones, in order."""
        out = []
        async with self._lock:
            for decision in decisions:
                order = decision_order(decision)
                if not decision.approved:
                    out.append(self._engine.record_denied(order))
                elif self._ready:
                    out.append(await self._send(order))
                else:  # approved, but the venue is not reconciled yet: recorded, never sent
                    out.append(self._refuse(order))
        return out

    async def cancel(self, client_order_id: str) -> Order:
        self._check_ready()
        async with self._lock:
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
            "actor": f"execution-{venue_slug(self._venue)}",
            "venue": self._venue,
            "incarnation": self._incarnation,
            "pid": os.getpid(),
            "ready": self._ready,
            "not_ready_reason": self.not_ready_reason,
            "recovered_orders": self.recovered_orders,
            "unsent_fills": len(self._unsent),
            "forward_failures": self.forward_failures,
            "reconciliation": self.reconciliation,
        }

    async def reconciliation_report(self) -> dict[str, Any] | None:
        """What reconciliation on start found (None on paper, or while it runs)."""
        return self.reconciliation

    async def close(self) -> None:
        """Stop tracking, close the venue connection and the journal (the actor is unusable
        afterwards)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        if self._exchange is not None:
            with contextlib.suppress(Exception):
                await self._exchange.close()
        if not self._journal.closed:
            self._journal.close()
