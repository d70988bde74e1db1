"""Bar ingestion: validation, per-symbol ordering, micro-batching per shard, and dispatch.

Bars from every source (PublishBars streams and the gateway's own feed) go through one
:class:`Ingestor`, which is the only writer of the per-symbol clock, so "late" has one meaning.

Batching policy: pending bars are flushed when ``flush_max_bars`` have gathered, when the
oldest pending bar has waited ``flush_interval_ms``, or at once while fewer than
``eager_flushes`` flushes are in flight (a pipeline with room gains nothing by waiting). At most
``max_inflight_flushes`` flushes are in flight; beyond that, publishers wait, which pushes back
through gRPC flow control. Results are dispatched in flush order per shard, so each subscriber
sees a symbol's signals in bar order, and a shard that answers late holds up only its own
symbols.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from supreme.core.model import BarBatch
from supreme.data.clean import screen_rows
from supreme.server.hub import SignalHub
from supreme.server.metrics import GatewayMetrics

log = logging.getLogger("supreme.server.ingest")

__all__ = ["IngestOutcome", "Ingestor", "Rejection"]


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    symbol: str
    time_ms: int
    code: str
    reason: str


@dataclass(slots=True)
class IngestOutcome:
    accepted: int = 0
    rejections: list[Rejection] = field(default_factory=list)


@dataclass(slots=True)
class IngestStats:
    received: int = 0
    accepted: int = 0
    rejected: Counter = field(default_factory=Counter)
    flushes: int = 0
    signals: int = 0


class Ingestor:
    """Validates, orders and batches bars; sends them to shards, execution and risk.

    ``shards[i].process(batch)`` must send at once and return an awaitable of the
    :class:`~supreme.core.shard.ShardResult` (a :class:`~supreme.workers.dataplane.ShardChannel`).
    """

    def __init__(
        self,
        *,
        shard_of: Callable[[str], int],
        shards: list[Any],
        hub: SignalHub,
        on_flushed: Callable[[BarBatch], None] | None = None,
        flush_max_bars: int = 4_096,
        flush_interval_ms: float = 2.0,
        max_inflight_flushes: int = 4,
        eager_flushes: int = 1,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self._shard_of = shard_of
        self._shards = shards
        self._hub = hub
        self._on_flushed = on_flushed
        self._max_bars = flush_max_bars
        self._interval = flush_interval_ms / 1000.0
        self._slots = asyncio.Semaphore(max_inflight_flushes)
        self._eager = max(1, min(eager_flushes, max_inflight_flushes))
        self._metrics = metrics
        self._inflight = 0
        self._last_time: dict[str, int] = {}
        self._pending: list[BarBatch] = []
        self._pending_rows = 0
        self._pending_since = 0.0
        self._wake = asyncio.Event()
        self._previous_dispatch: dict[int, asyncio.Task] = {}  # by shard
        self._flusher: asyncio.Task | None = None
        self._closed = False
        self.stats = IngestStats()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_loop(), name="ingest-flusher")

    async def drain(self) -> None:
        """Flush what is pending and wait until every flush has been dispatched."""
        await self._flush()
        for task in list(self._previous_dispatch.values()):
            await asyncio.shield(task)

    async def close(self) -> None:
        self._closed = True
        await self.drain()
        if self._flusher is not None:
            self._flusher.cancel()

    # -- ingestion -------------------------------------------------------------------------------

    def last_time_ms(self, symbol: str) -> int | None:
        return self._last_time.get(symbol)

    async def submit(self, batch: BarBatch, *, index_offset: int = 0) -> IngestOutcome:
        """Screen ``batch`` (unvalidated rows are fine) and queue its good rows."""
        outcome = IngestOutcome()
        n = len(batch)
        if n == 0:
            return outcome
        self.stats.received += n
        keep, rejected = screen_rows(batch, self._last_time)
        outcome.rejections.extend(
            Rejection(index_offset + row, symbol, t, code, reason)
            for row, symbol, t, code, reason in rejected
        )
        outcome.rejections.sort(key=lambda r: r.index)
        for rejection in outcome.rejections:
            self.stats.rejected[rejection.code] += 1
        if self._metrics is not None:
            self._metrics.bars_received.inc(n)
            for rejection in outcome.rejections:
                self._metrics.bars_rejected.labels(rejection.code).inc()
        accepted = int(keep.sum())
        outcome.accepted = accepted
        self.stats.accepted += accepted
        if self._metrics is not None and accepted:
            self._metrics.bars_accepted.inc(accepted)
        if accepted:
            good = batch if accepted == n else batch.select(keep)
            if not self._pending:
                self._pending_since = time.perf_counter()
            self._pending.append(good)
            self._pending_rows += accepted
            if self._pending_rows >= self._max_bars:
                await self._flush()
            else:
                self._wake.set()
        return outcome

    # -- flushing --------------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                continue
            if self._inflight >= self._eager:
                # Enough is in flight: let more bars gather, up to the window.
                wait = self._interval - (time.perf_counter() - self._pending_since)
                if wait > 0:
                    await asyncio.sleep(wait)
            else:
                # Room in the pipeline: take whatever else arrives in this loop turn, then go.
                await asyncio.sleep(0)
            try:
                await self._flush()
            except Exception:  # the flusher must survive a bad flush
                log.exception("flush failed")

    async def _flush(self) -> None:
        if not self._pending:
            return
        parts, self._pending, self._pending_rows = self._pending, [], 0
        received = self._pending_since
        batch = parts[0] if len(parts) == 1 else BarBatch.concat(parts)
        await self._slots.acquire()
        self._inflight += 1
        self.stats.flushes += 1
        try:
            shard_of = self._shard_of
            owners = np.fromiter((shard_of(s) for s in batch.symbol.tolist()), np.int64, len(batch))
            shards = np.unique(owners).tolist()
            # Each channel writes at once, so every shard gets its batches in flush order.
            sent = []
            for index in shards:
                part = batch if len(shards) == 1 else batch.select(owners == index)
                sent.append((index, part, self._shards[index].process(part)))
        except BaseException:
            self._inflight -= 1
            self._slots.release()
            raise
        flush = _Flush(len(sent), received, time.perf_counter())
        for index, part, result in sent:
            previous = self._previous_dispatch.get(index)
            self._previous_dispatch[index] = asyncio.create_task(
                self._dispatch(part, result, previous, flush)
            )

    async def _dispatch(
        self, part: BarBatch, result: Any, previous: asyncio.Task | None, flush: _Flush
    ) -> None:
        """Hand on one shard's share of a flush, after that shard's share of the flush before.

        Order is kept per shard, hence per symbol, and not across shards: a shard that answers
        late holds up only its own symbols' signals.
        """
        try:
            answer = await result
            answered = time.perf_counter()
            if previous is not None:
                await asyncio.shield(previous)
            # A symbol's bars go to the trading side before the signals of those bars, and
            # after the signals of its earlier bars: orders then fill on the bar after their
            # signal.
            if self._on_flushed is not None:
                self._on_flushed(part)
            self.stats.signals += len(answer.signals)
            self._hub.publish(answer.signals)
            if self._metrics is not None:
                self._observe(part, answer, flush, answered)
        except Exception:  # a failed shard call must not stop later flushes
            log.exception("dispatching a flush failed")
        finally:
            flush.remaining -= 1
            if flush.remaining == 0:
                self._inflight -= 1
                self._slots.release()

    def _observe(self, part: BarBatch, answer: Any, flush: _Flush, answered: float) -> None:
        metrics = self._metrics
        metrics.flush_bars.observe(len(part))
        metrics.shard_batch_seconds.observe(answered - flush.sent)
        if answer.signals:
            metrics.bar_to_signal_seconds.observe(time.perf_counter() - flush.received)
            counts = Counter(signal.strategy for _, signal in answer.signals)
            for strategy, count in counts.items():
                metrics.signals.labels(strategy).inc(count)


@dataclass(slots=True)
class _Flush:
    remaining: int  # shards whose share is not dispatched yet
    received: float  # perf_counter when its oldest bar was queued
    sent: float  # perf_counter when it went to the shards
