"""Fan-out of signals from shards to subscribers.

Every subscriber has a bounded queue. Delivery never waits: when a subscriber's queue is full,
that subscriber alone is cut off (its stream ends with RESOURCE_EXHAUSTED) and the pipeline
carries on at full speed for everyone else.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Iterable
from typing import Protocol

from supreme.core.model import Signal
from supreme.core.shard import InstanceKey

__all__ = ["CUT_OFF", "Broadcast", "QueueSubscriber", "SignalHub", "SignalSink"]


class _CutOff:
    """Queued last to a subscriber that fell behind; its stream then ends."""


CUT_OFF = _CutOff()


class SignalSink(Protocol):
    id: str
    keys: tuple[InstanceKey, ...]

    def offer(self, instance_id: str, signal: Signal) -> bool:
        """Take the signal without waiting; False means the sink cannot keep up."""
        ...


class QueueSubscriber:
    """A SubscribeSignals stream's end of the hub."""

    _ids = itertools.count(1)

    def __init__(self, keys: Iterable[InstanceKey], queue_size: int) -> None:
        self.id = f"sub-{next(self._ids)}"
        self.keys = tuple(keys)
        # One slot more than the limit, kept for the cut-off marker.
        self.queue: asyncio.Queue[Signal | _CutOff] = asyncio.Queue(queue_size + 1)
        self._limit = queue_size
        self.cut_off = False

    def offer(self, instance_id: str, signal: Signal) -> bool:
        if self.cut_off:
            return False
        if self.queue.qsize() >= self._limit:
            self.cut_off = True
            self.queue.put_nowait(CUT_OFF)
            return False
        self.queue.put_nowait(signal)
        return True


class SignalHub:
    """Routes ``(instance id, signal)`` pairs to the sinks attached to that instance."""

    def __init__(self) -> None:
        self._by_instance: dict[str, set[SignalSink]] = defaultdict(set)
        self._sinks: dict[str, SignalSink] = {}
        self.delivered = 0
        self.cut_offs = 0

    def add(self, sink: SignalSink) -> None:
        self._sinks[sink.id] = sink
        for key in sink.keys:
            self._by_instance[key.id].add(sink)

    def remove(self, sink: SignalSink) -> None:
        self._sinks.pop(sink.id, None)
        for key in sink.keys:
            sinks = self._by_instance.get(key.id)
            if sinks is not None:
                sinks.discard(sink)
                if not sinks:
                    del self._by_instance[key.id]

    def publish(self, pairs: Iterable[tuple[str, Signal]]) -> None:
        for instance_id, signal in pairs:
            for sink in tuple(self._by_instance.get(instance_id, ())):
                if sink.offer(instance_id, signal):
                    self.delivered += 1
                else:
                    # The sink asked to be dropped; it detaches itself from its own stream.
                    self.cut_offs += 1
                    self.remove(sink)

    def sinks(self) -> list[SignalSink]:
        return list(self._sinks.values())

    def __len__(self) -> int:
        return len(self._sinks)


class Broadcast:
    """Fan-out of plain events (order updates, risk events) to streams, a bounded queue each.

    A stream that falls ``size`` events behind is ended: ``None`` is queued to it last.
    """

    def __init__(self, size: int = 10_000) -> None:
        self._queues: set[asyncio.Queue] = set()
        self._size = size

    def subscribe(self) -> asyncio.Queue:
        # One slot beyond the limit, for the end-of-stream marker.
        queue: asyncio.Queue = asyncio.Queue(self._size + 1)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._queues.discard(queue)

    def publish(self, item: object) -> None:
        for queue in tuple(self._queues):
            if queue.qsize() >= self._size:
                self._queues.discard(queue)
                queue.put_nowait(None)
            else:
                queue.put_nowait(item)
