"""``SymbolShard``: the Ray actor that owns a set of symbols (a thin shell over ShardCore).

The gateway sends each shard columnar batches (one per micro-batch, never one per bar) and gets
back the signals of the strategy instances attached to the batch's symbols. Batches travel over
the shard's data-plane stream (:mod:`supreme.workers.dataplane`, address from :meth:`endpoint`)
or, when that is down or turned off, as :meth:`process` actor calls. All the logic is in
:class:`supreme.core.shard.ShardCore`.

It is an async actor so that the stream's server can share its event loop: every method and
every stream request runs on that one loop thread, one at a time, so the core needs no lock.

State lives in memory only. If the actor process dies, Ray restarts it (``max_restarts``) empty,
with a new ``incarnation`` in :meth:`SymbolShard.ping`: a caller that sees the incarnation
change re-attaches its subscriptions (and may re-send recent history).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import ray
from ray.util import metrics

from supreme.core.errors import InvalidArgument
from supreme.core.model import BarBatch
from supreme.core.shard import InstanceKey, ShardCore, ShardResult
from supreme.workers.dataplane import ShardServer

__all__ = ["SymbolShard", "as_batch"]

_COLUMNS = ("symbol", "time_ms", "open", "high", "low", "close", "volume")


def as_batch(data: BarBatch | Mapping[str, Any]) -> BarBatch:
    """A :class:`BarBatch` from a batch or a mapping of its columns (numpy arrays or lists).

    A mapping is validated like any new batch (its rows have not been checked yet).
    """
    if isinstance(data, BarBatch):
        return data
    if isinstance(data, Mapping):
        missing = [c for c in _COLUMNS[:6] if c not in data]
        if missing:
            raise InvalidArgument(f"bar columns missing: {missing}; expected {list(_COLUMNS)}")
        return BarBatch(
            *(np.asarray(data[c]) for c in _COLUMNS[:6]),
            data.get("volume"),
        )
    raise InvalidArgument(f"expected a BarBatch or a mapping of columns, got {type(data).__name__}")


def _key(strategy: str | InstanceKey, params: Mapping[str, float] | None, symbol: str | None):
    if isinstance(strategy, InstanceKey):
        return strategy
    if symbol is None:
        raise InvalidArgument("symbol is required")
    return InstanceKey.of(strategy, params, symbol)


@ray.remote(num_cpus=0)
class SymbolShard:
    """One shard of the symbol space. No method awaits mid-way (except :meth:`endpoint`), so
    each runs whole, one at a time. Ray does not promise that an async actor runs one caller's
    calls in submission order: a caller that needs order waits for each call before the next
    (as :class:`~supreme.workers.dataplane.ShardChannel` does)."""

    def __init__(self, name: str = "shard", *, history_limit: int = 10_000) -> None:
        self._core = ShardCore(history_limit=history_limit)
        self._name = name
        self._incarnation = uuid.uuid4().hex
        self._started_ms = int(time.time() * 1000)
        self._server: ShardServer | None = None
        self._server_lock = asyncio.Lock()
        # Exported by Ray's metrics agent as ray_supreme_shard_process_seconds.
        self._process_seconds = metrics.Histogram(
            "supreme_shard_process_seconds",
            description="Time a shard spends applying one batch.",
            boundaries=[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
        )

    # -- instances -----------------------------------------------------------------------------

    async def attach(
        self,
        strategy: str | InstanceKey,
        params: Mapping[str, float] | None = None,
        symbol: str | None = None,
    ) -> dict[str, Any]:
        """Attach (or share) an instance; ``{"id", "created", "refcount"}``."""
        key = _key(strategy, params, symbol)
        created = self._core.attach(key)
        return {"id": key.id, "created": created, "refcount": self._core.instances()[key]}

    async def detach(
        self,
        strategy: str | InstanceKey,
        params: Mapping[str, float] | None = None,
        symbol: str | None = None,
    ) -> dict[str, Any]:
        """Drop one reference; ``{"id", "removed", "refcount"}``."""
        key = _key(strategy, params, symbol)
        removed = self._core.detach(key)
        return {"id": key.id, "removed": removed, "refcount": self._core.instances().get(key, 0)}

    async def attach_many(self, keys: Iterable[InstanceKey]) -> list[dict[str, Any]]:
        return [await self.attach(k) for k in keys]

    async def detach_many(self, keys: Iterable[InstanceKey]) -> list[dict[str, Any]]:
        return [await self.detach(k) for k in keys]

    async def instances(self) -> list[dict[str, Any]]:
        return [
            {**k.to_dict(), "id": k.id, "refcount": n} for k, n in self._core.instances().items()
        ]

    # -- bars ----------------------------------------------------------------------------------

    async def process(self, batch: BarBatch | Mapping[str, Any]) -> ShardResult:
        """Apply a batch (a BarBatch or a mapping of columns); the signals it produced."""
        return self._process(as_batch(batch))

    def _process(self, batch: BarBatch) -> ShardResult:
        started = time.perf_counter()
        result = self._core.process(batch)
        self._process_seconds.observe(time.perf_counter() - started)
        return result

    async def endpoint(self) -> dict[str, Any]:
        """Where the data-plane stream listens (started on first call, on this node's IP) and
        the token a client must present; both change when the actor restarts."""
        async with self._server_lock:
            if self._server is None:
                server = ShardServer(self._process)
                await server.start(ray.util.get_node_ip_address())
                self._server = server
        return {
            "host": self._server.host,
            "port": self._server.port,
            "token": self._server.token,
            "incarnation": self._incarnation,
        }

    # -- views ---------------------------------------------------------------------------------

    async def history(self, symbol: str, limit: int | None = None) -> BarBatch:
        return self._core.history(symbol, limit)

    async def symbols(self) -> list[str]:
        return self._core.symbols()

    async def stats(self) -> dict[str, Any]:
        stream = self._server
        return {
            **self._core.stats(),
            "name": self._name,
            "incarnation": self._incarnation,
            "stream_requests": stream.requests if stream else 0,
            "stream_refused": stream.refused if stream else 0,
        }

    async def ping(self) -> dict[str, Any]:
        return {
            "actor": self._name,
            "incarnation": self._incarnation,
            "pid": os.getpid(),
            "started_ms": self._started_ms,
        }
