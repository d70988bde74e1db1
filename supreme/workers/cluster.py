"""Starting Ray and wiring the actors: shards, the RiskActor and the ExecutionActor.

**Partitioning.** Symbols are spread over a fixed pool of ``SymbolShard`` actors by
``crc32(symbol) % n_shards`` (:func:`shard_for_symbol`), a hash that is stable across processes
and runs (Python's ``hash`` of a str is salted per process), so each symbol has exactly one
owner for a given shard count. The default shard count is the cluster's CPU count. With
``one_actor_per_symbol`` every symbol gets its own actor instead (isolation at ~90 MB a
process: only for a handful of symbols).

**CPU accounting.** Every actor asks for ``num_cpus=0``. Ray's CPU resource is a scheduling
count, not a limit; the actors here are light and mostly wait on their callers (a shard spends
a few ms per batch, risk and execution far less), so reserving a CPU each would refuse to place
``gateway + N shards + risk + execution`` on a 2-core machine for no benefit. The shard count
already matches the parallelism to the cores.

**Restarts.** Every actor has ``max_restarts`` (default -1: always). Risk and execution restore
their state from ``state_dir`` in ``__init__`` (checkpoint and journal); a restarted shard comes
back empty with a new incarnation (see :mod:`supreme.workers.shard`). Tasks are not retried
(``max_task_retries=0``): a call in flight when an actor died fails with ``RayActorError`` and
the caller decides; a retried submit could not double an order anyway (client order ids are
unique in the journal). Each actor runs one call at a time (``max_concurrency=1``), so calls
from one caller apply in the order they were made.

``state_dir`` is resolved to an absolute path by the driver; on a multi-node cluster it must be
on the node that runs risk and execution (or on a shared file system).
"""

from __future__ import annotations

import asyncio
import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import ray

from supreme.core.errors import InvalidArgument
from supreme.core.execution import PaperBrokerConfig
from supreme.core.execution.venues import parse_venue, venue_slug
from supreme.core.model import BarBatch
from supreme.core.risk import RiskConfig
from supreme.workers.execution import ExecutionActor
from supreme.workers.risk import RiskActor
from supreme.workers.shard import SymbolShard

__all__ = ["Cluster", "ClusterConfig", "shard_for_symbol", "start_ray"]

log = logging.getLogger(__name__)


def shard_for_symbol(symbol: str, n_shards: int) -> int:
    """The shard that owns ``symbol``: ``crc32(utf-8 symbol) % n_shards`` (stable everywhere)."""
    if isinstance(n_shards, bool) or not isinstance(n_shards, int) or n_shards < 1:
        raise InvalidArgument(f"n_shards must be an integer >= 1, got {n_shards!r}")
    return zlib.crc32(symbol.encode("utf-8")) % n_shards


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    ray_address: str | None = None  # None: start (or join) a local Ray
    num_shards: int | None = None  # None: the cluster's CPU count, at least 1
    one_actor_per_symbol: bool = False
    history_limit: int = 10_000
    state_dir: str = "./.supreme"  # risk checkpoint and execution journal
    venue: str = "paper"
    initial_cash: float = 100_000.0
    namespace: str = "supreme"
    risk: RiskConfig | None = None
    broker: PaperBrokerConfig | None = None
    atr_period: int = 14
    include_dashboard: bool = False
    num_cpus: int | None = None  # for a local Ray started here; None: all cores
    log_to_driver: bool = True
    max_restarts: int = -1  # per actor; -1: always restart
    detached: bool = False  # detached actors outlive the driver (get_if_exists reattaches)
    risk_checkpoint_interval_s: float = 1.0
    # Live venues ("ccxt:<exchange>"): ccxt constructor options merged over the defaults,
    # sandbox (testnet) mode, the symbols whose venue limits risk checks, how often orders are
    # polled, and how long an order whose submit got no answer stays in doubt (None: ccxt's
    # recvWindow plus 2 s).
    venue_options: dict[str, Any] | None = None
    sandbox: bool = False
    venue_symbols: tuple[str, ...] = ()
    venue_poll_interval_s: float = 1.0
    unknown_fate_ms: int | None = None
    venue_streaming: bool = True  # follow the user-data stream where ccxt.pro has one

    def __post_init__(self) -> None:
        if self.num_shards is not None and (
            isinstance(self.num_shards, bool)
            or not isinstance(self.num_shards, int)
            or self.num_shards < 1
        ):
            raise InvalidArgument(f"num_shards must be an integer >= 1, got {self.num_shards!r}")
        if not self.initial_cash > 0:
            raise InvalidArgument(f"initial_cash must be > 0, got {self.initial_cash}")
        if not self.namespace:
            raise InvalidArgument("namespace must be a non-empty string")
        parse_venue(self.venue)
        if not self.venue_poll_interval_s > 0:
            raise InvalidArgument(
                f"venue_poll_interval_s must be > 0, got {self.venue_poll_interval_s}"
            )


def start_ray(config: ClusterConfig) -> bool:
    """Connect to (or start) Ray; True when this call initialised it."""
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {
        "address": config.ray_address,
        "namespace": config.namespace,
        "ignore_reinit_error": True,
        "include_dashboard": config.include_dashboard,
        "logging_level": logging.WARNING,
        "log_to_driver": config.log_to_driver,
        # Actors log like the gateway (supreme.logs), in the format and level it chose.
        "runtime_env": {
            "worker_process_setup_hook": "supreme.logs.setup_worker_logging",
            "env_vars": {
                name: os.environ[name]
                for name in ("SUPREME_LOG_FORMAT", "SUPREME_LOG_LEVEL")
                if name in os.environ
            },
        },
    }
    if config.ray_address is None and config.num_cpus is not None:
        kwargs["num_cpus"] = config.num_cpus
    ray.init(**kwargs)
    return True


def cluster_cpus() -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _consume(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


class Cluster:
    """The actors of one Supreme deployment, created or looked up by name."""

    def __init__(self, config: ClusterConfig | None = None) -> None:
        self.config = config = config or ClusterConfig()
        self._owns_ray = start_ray(config)
        self.state_dir = str(Path(config.state_dir).expanduser().resolve())
        self.num_shards = config.num_shards or cluster_cpus()
        self.risk = self._actor(RiskActor, "risk").remote(
            self.state_dir,
            initial_cash=config.initial_cash,
            risk_config=config.risk,
            atr_period=config.atr_period,
            checkpoint_interval_s=config.risk_checkpoint_interval_s,
        )
        self.execution_name = f"execution-{venue_slug(config.venue)}"
        self.execution = self._actor(ExecutionActor, self.execution_name).remote(
            self.state_dir,
            venue=config.venue,
            initial_cash=config.initial_cash,
            risk="risk",
            risk_namespace=config.namespace,
            broker_config=config.broker,
            venue_options=config.venue_options,
            sandbox=config.sandbox,
            symbols=config.venue_symbols,
            poll_interval_s=config.venue_poll_interval_s,
            unknown_fate_ms=config.unknown_fate_ms,
            streaming=config.venue_streaming,
        )
        self.shards: list[Any] = []
        self._symbol_actors: dict[str, Any] = {}
        if not config.one_actor_per_symbol:
            self.shards = [self._shard(f"shard-{i}") for i in range(self.num_shards)]
        self._owner: dict[str, int] = {}

    # -- actors --------------------------------------------------------------------------------

    def _actor(self, cls: Any, name: str) -> Any:
        return cls.options(
            name=name,
            namespace=self.config.namespace,
            get_if_exists=True,
            max_restarts=self.config.max_restarts,
            lifetime="detached" if self.config.detached else None,
        )

    def _shard(self, name: str) -> Any:
        return self._actor(SymbolShard, name).remote(name, history_limit=self.config.history_limit)

    def shard_index(self, symbol: str) -> int:
        index = self._owner.get(symbol)
        if index is None:
            index = self._owner[symbol] = shard_for_symbol(symbol, self.num_shards)
        return index

    def shard_for(self, symbol: str) -> Any:
        """The handle of the actor that owns ``symbol``."""
        if self.config.one_actor_per_symbol:
            actor = self._symbol_actors.get(symbol)
            if actor is None:
                actor = self._symbol_actors[symbol] = self._shard(f"shard-{symbol}")
            return actor
        return self.shards[self.shard_index(symbol)]

    def split(self, batch: BarBatch) -> list[tuple[Any, BarBatch]]:
        """``batch`` cut into one sub-batch per owning actor (row order kept within each)."""
        if len(batch) == 0:
            return []
        symbols = batch.symbol.tolist()
        if self.config.one_actor_per_symbol:
            groups: dict[str, list[int]] = {}
            for i, symbol in enumerate(symbols):
                groups.setdefault(symbol, []).append(i)
            return [
                (self.shard_for(s), batch.select(np.asarray(rows, dtype=np.intp)))
                for s, rows in groups.items()
            ]
        owners = np.fromiter((self.shard_index(s) for s in symbols), np.int64, len(symbols))
        return [(self.shards[i], batch.select(owners == i)) for i in np.unique(owners).tolist()]

    def all_actors(self) -> dict[str, Any]:
        actors = {"risk": self.risk, self.execution_name: self.execution}
        actors.update({f"shard-{i}": s for i, s in enumerate(self.shards)})
        actors.update({f"shard-{s}": a for s, a in self._symbol_actors.items()})
        return actors

    # -- health --------------------------------------------------------------------------------

    async def ping(self, timeout: float = 10.0) -> dict[str, Any]:
        """Every actor's ping answer, awaited without blocking the event loop; raises
        ``TimeoutError`` when one does not answer within ``timeout`` seconds, or the actor's
        error (``RayActorError``) when one is dead."""
        actors = self.all_actors()
        futures = [asyncio.wrap_future(a.ping.remote().future()) for a in actors.values()]
        for future in futures:  # answers nobody waits for any more must not warn
            future.add_done_callback(_consume)
        _, pending = await asyncio.wait(futures, timeout=timeout)
        if pending:
            late = [name for name, f in zip(actors, futures, strict=True) if f in pending]
            raise TimeoutError(f"no ping answer within {timeout} s from {late}")
        return {name: f.result() for name, f in zip(actors, futures, strict=True)}

    def health(self, timeout: float = 30.0) -> dict[str, Any]:
        """:meth:`ping`, blocking (for scripts and tests)."""
        actors = self.all_actors()
        answers = ray.get([a.ping.remote() for a in actors.values()], timeout=timeout)
        return dict(zip(actors, answers, strict=True))

    def healthy(self, timeout: float = 10.0) -> bool:
        """True when every actor answers :meth:`health` within ``timeout`` seconds."""
        try:
            self.health(timeout)
        except Exception:
            log.warning("cluster health check failed", exc_info=True)
            return False
        return True

    def shutdown(self, *, stop_ray: bool | None = None, timeout: float = 30.0) -> None:
        """Save and close risk and execution, kill every actor (no restart) and, when this
        object started Ray (or ``stop_ray``), shut Ray down."""
        for actor in (self.risk, self.execution):
            try:
                ray.get(actor.close.remote(), timeout=timeout)
            except Exception:
                log.warning("closing an actor failed", exc_info=True)
        for actor in self.all_actors().values():
            try:
                ray.kill(actor, no_restart=True)
            except Exception:
                log.warning("killing an actor failed", exc_info=True)
        if stop_ray if stop_ray is not None else self._owns_ray:
            ray.shutdown()
