"""The gateway: a grpc.aio server that is also the Ray driver.

Start-up order: Ray and the actors (the execution actor replays its journal, the risk actor
restores its checkpoint), then the pipeline (hub, ingestor, trading router, which re-attaches
persisted trading instances), then the gRPC server, then the feed. Health reports SERVING only
when all of that is up, and NOT_SERVING while the cluster does not answer.

Shutdown is the reverse: health goes NOT_SERVING, the feed stops, the server stops taking calls
and gives in-flight streams the grace period, the pipeline drains (every accepted bar is
processed and every decision journaled), the risk actor checkpoints, the execution actor closes
its journal, the actors end, and a Ray this gateway started is shut down.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import json
import logging
import os
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from supreme._proto import (
    backtest_pb2,
    backtest_pb2_grpc,
    market_data_pb2,
    market_data_pb2_grpc,
    order_pb2,
    order_pb2_grpc,
    risk_pb2,
    risk_pb2_grpc,
    strategy_pb2,
    strategy_pb2_grpc,
)
from supreme.core.errors import InvalidArgument
from supreme.core.shard import InstanceKey
from supreme.server.audit import AuditLog, record_risk_event
from supreme.server.auth import OPEN_PREFIXES, AuthInterceptor, TokenStore
from supreme.server.config import GatewayConfig
from supreme.server.hub import Broadcast, SignalHub
from supreme.server.ingest import Ingestor
from supreme.server.metrics import GatewayMetrics
from supreme.server.services import (
    BacktestService,
    MarketDataService,
    OrderService,
    RiskService,
    StrategyService,
)
from supreme.server.trading import InstanceStore, TradingRouter
from supreme.workers.dataplane import ShardChannel

log = logging.getLogger("supreme.server")

__all__ = ["Gateway", "serve"]

SERVICE_NAMES = (
    market_data_pb2.DESCRIPTOR.services_by_name["MarketDataService"].full_name,
    strategy_pb2.DESCRIPTOR.services_by_name["StrategyService"].full_name,
    order_pb2.DESCRIPTOR.services_by_name["OrderService"].full_name,
    risk_pb2.DESCRIPTOR.services_by_name["RiskService"].full_name,
    backtest_pb2.DESCRIPTOR.services_by_name["BacktestService"].full_name,
)

PING_TIMEOUT_S = 10.0
PING_TIMEOUTS_BEFORE_NOT_SERVING = 3

# Protects against a single request large enough to exhaust memory (bytes).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class Gateway:
    def __init__(self, config: GatewayConfig | None = None) -> None:
        self.config = config or GatewayConfig()
        self.cluster: Any = None
        self.hub = SignalHub()
        self.updates = Broadcast()
        self.risk_events = Broadcast()
        self.ingestor: Ingestor | None = None
        self.router: TradingRouter | None = None
        self.audit: AuditLog | None = None  # state_dir/audit.jsonl (config.audit_log)
        self.channels: list[ShardChannel] = []
        self.metrics = GatewayMetrics()
        self.metrics_port: int | None = None
        self.metrics.subscriptions_active.set_function(lambda: self.subscriptions)
        self.health = health.aio.HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.port: int | None = None
        self.subscriptions = 0
        self.cut_offs = 0
        self._tasks: list[asyncio.Task] = []
        self._background: set[asyncio.Task] = set()
        self._incarnations: dict[str, str] = {}
        self._serving = False

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> int:
        """Bring everything up; returns the bound port."""
        from supreme.workers.cluster import Cluster, ClusterConfig

        cfg = self.config
        # Refuse a non-loopback address without authentication before anything starts.
        interceptors = self._auth_interceptors()
        state_dir = Path(cfg.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        if cfg.audit_log is not None:
            self.audit = await asyncio.to_thread(AuditLog, state_dir / cfg.audit_log)
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        venue_options = await self._check_venue()
        self.cluster = await asyncio.to_thread(
            Cluster,
            ClusterConfig(
                ray_address=cfg.ray_address,
                num_shards=cfg.num_shards,
                history_limit=cfg.history_limit,
                state_dir=str(state_dir),
                initial_cash=cfg.initial_cash,
                namespace=cfg.namespace,
                include_dashboard=cfg.include_dashboard,
                venue=cfg.venue,
                venue_options=venue_options,
                sandbox=cfg.sandbox,
                venue_symbols=tuple(cfg.feed_symbols),
                venue_poll_interval_s=cfg.venue_poll_s,
                venue_streaming=cfg.venue_tracking == "auto",
            ),
        )
        self.router = TradingRouter(
            shard_for=self.cluster.shard_for,
            risk=self.cluster.risk,
            execution=self.cluster.execution,
            hub=self.hub,
            store=InstanceStore(state_dir / "instances.json"),
            updates=self.updates,
            market_linger_ms=cfg.market_linger_ms,
            metrics=self.metrics,
            audit=self.audit,
            venue_poll_s=None if cfg.venue == "paper" else min(cfg.venue_poll_s, 0.5),
        )
        self.channels = [
            ShardChannel(f"shard-{i}", actor, use_stream=cfg.shard_transport == "stream")
            for i, actor in enumerate(self.cluster.shards)
        ]
        await asyncio.gather(*(channel.connect() for channel in self.channels))
        self.ingestor = Ingestor(
            shard_of=self.cluster.shard_index,
            shards=self.channels,
            hub=self.hub,
            on_flushed=self.router.on_bars,
            flush_max_bars=cfg.flush_max_bars,
            flush_interval_ms=cfg.flush_interval_ms,
            max_inflight_flushes=cfg.max_inflight_flushes,
            # A stream flush costs ~0.1 ms, so flushes go out at once while there is room; an
            # actor call costs ~1 ms, so then only an idle pipeline flushes without waiting.
            eager_flushes=cfg.max_inflight_flushes if cfg.shard_transport == "stream" else 1,
            metrics=self.metrics,
        )
        self.ingestor.start()
        await self.router.start()
        for name in cfg.start_strategies:
            await self.router.start_instance(name, list(cfg.feed_symbols), {}, f"boot-{name}")

        # Every actor answers before anything is served: the first calls then find warm
        # processes instead of waiting for workers to start.
        answers = await self.cluster.ping(timeout=120.0)
        self._incarnations = _incarnations(answers)
        self.server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        market_data_pb2_grpc.add_MarketDataServiceServicer_to_server(
            MarketDataService(self), self.server
        )
        strategy_pb2_grpc.add_StrategyServiceServicer_to_server(StrategyService(self), self.server)
        order_pb2_grpc.add_OrderServiceServicer_to_server(OrderService(self), self.server)
        risk_pb2_grpc.add_RiskServiceServicer_to_server(RiskService(self), self.server)
        backtest_pb2_grpc.add_BacktestServiceServicer_to_server(BacktestService(self), self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server
        )
        address = f"{cfg.host}:{cfg.port}"
        credentials = server_credentials(cfg)
        if credentials is None:
            if not _is_loopback(cfg.host):
                log.warning(
                    "PLAINTEXT on %s: anyone on the network can read and send trading traffic; "
                    "give --tls-cert and --tls-key (supreme certs dev makes development ones)",
                    address,
                )
            self.port = self.server.add_insecure_port(address)
        else:
            self.port = self.server.add_secure_port(address, credentials)
        if self.port == 0:
            raise RuntimeError(f"could not bind {cfg.host}:{cfg.port}")
        await self.server.start()
        if cfg.metrics_port is not None:
            self.metrics_port = self.metrics.serve(cfg.metrics_port, cfg.host)
            self._tasks.append(asyncio.create_task(self._poll_account(), name="account-metrics"))
        self._tasks.append(asyncio.create_task(self._pump_risk_events(), name="risk-events"))
        self._tasks.append(asyncio.create_task(self._watch_cluster(), name="health-watch"))
        if cfg.feed != "none":
            self._tasks.append(asyncio.create_task(self._run_feed(), name="feed"))
        # Everything loaded so far (Ray, gRPC, numpy, TA-Lib, the actors' handles) lives as long
        # as the process: keep it out of the cyclic collector, whose full passes would otherwise
        # walk it every time and stall the event loop for tens of ms.
        gc.freeze()
        # A live venue's execution reconciles first; the health watch says SERVING after it.
        self._serving = not _not_ready(answers)
        if self._serving:
            await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        else:
            log.warning("NOT_SERVING until ready: %s", "; ".join(_not_ready(answers)))
        log.info(
            "gateway listening on %s:%d (feed %s, metrics %s)",
            cfg.host,
            self.port,
            cfg.feed,
            f"on :{self.metrics_port}/metrics" if self.metrics_port else "off",
        )
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        grace = self.config.grace_seconds if grace is None else grace
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        for task in self._tasks:
            task.cancel()
        if self.server is not None:
            await self.server.stop(grace)
        with contextlib.suppress(Exception):
            if self.ingestor is not None:
                await asyncio.wait_for(self.ingestor.close(), timeout=grace + 5)
            if self.router is not None:
                await asyncio.wait_for(self.router.close(), timeout=grace + 5)
            for channel in self.channels:
                await channel.close()
        if self.audit is not None:
            # The risk events left since the last pump, then every queued line to disk.
            with contextlib.suppress(Exception):
                for event in await self.cluster.risk.drain_events.remote():
                    self.metrics.observe_risk_event(event)
                    record_risk_event(self.audit, event)
            await self.audit.close()
        self.metrics.close()
        if self.cluster is not None:
            # Checkpoints risk, closes the journal, ends the actors, and stops Ray if this
            # gateway started it.
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.cluster.shutdown)
        log.info("gateway stopped")

    async def _check_venue(self) -> dict[str, Any] | None:
        """The venue's ccxt options (from ``venue_options``), after checking, for a local Ray,
        that the exchange can be built here (credentials set, sandbox available): a missing key
        stops the gateway at once instead of leaving the execution actor failing."""
        cfg = self.config
        if cfg.venue == "paper":
            return None
        from supreme.core.execution.venues import make_exchange, parse_venue

        options: dict[str, Any] | None = None
        if cfg.venue_options is not None:
            try:
                options = json.loads(Path(cfg.venue_options).read_text())
            except (OSError, ValueError) as exc:
                raise InvalidArgument(
                    f"cannot read the venue options {cfg.venue_options}: {exc}"
                ) from None
            if not isinstance(options, dict):
                raise InvalidArgument(
                    f"the venue options {cfg.venue_options} must be a JSON object of ccxt "
                    f"constructor options, got {type(options).__name__}"
                )
        if cfg.ray_address is None:
            exchange = make_exchange(
                parse_venue(cfg.venue),
                options=options,
                sandbox=cfg.sandbox,
                streaming=cfg.venue_tracking == "auto",
            )
            await exchange.close()
        log.warning(
            "LIVE trading on %s%s: orders go to the venue", cfg.venue, " (sandbox)" * cfg.sandbox
        )
        return options

    def _auth_interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        """Token checks when tokens are configured; otherwise loopback only (or an explicit
        --insecure-no-auth), said loudly either way."""
        cfg = self.config
        store = TokenStore.load(cfg.tokens_file, os.environ.get("SUPREME_TOKENS"))
        if len(store):
            log.info("authentication on: %d token(s), %g calls/s each", len(store), cfg.rate_limit)
            return [
                AuthInterceptor(
                    store,
                    rate=cfg.rate_limit,
                    burst=cfg.rate_burst,
                    open_methods=OPEN_PREFIXES if cfg.open_health else (),
                )
            ]
        if _is_loopback(cfg.host):
            log.warning("authentication OFF: no tokens, and the gateway listens on loopback only")
            return []
        if cfg.insecure_no_auth:
            log.warning(
                "authentication OFF on %s (--insecure-no-auth): anyone who reaches the port "
                "can trade",
                cfg.host,
            )
            return []
        raise InvalidArgument(
            f"refusing to listen on {cfg.host} without authentication: give --tokens-file "
            "(supreme tokens create) or, knowingly, --insecure-no-auth"
        )

    async def _set_health(self, status: int) -> None:
        await self.health.set("", status)
        for name in SERVICE_NAMES:
            await self.health.set(name, status)

    # -- background work -------------------------------------------------------------------------

    def detach_later(self, keys: Iterable[InstanceKey]) -> None:
        """Detach a finished subscription's instances without holding up its stream's end."""

        async def detach() -> None:
            await asyncio.gather(
                *(self.cluster.shard_for(k.symbol).detach.remote(k) for k in keys),
                return_exceptions=True,
            )

        task = asyncio.create_task(detach())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _run_feed(self) -> None:
        cfg = self.config
        feed = None
        try:
            if cfg.feed == "simulator":
                from supreme.data.simulator import simulator_stream

                stream = simulator_stream(cfg.feed_symbols, rate=cfg.feed_rate, seed=cfg.feed_seed)
            elif cfg.feed.startswith(("csv:", "parquet:")):
                from supreme.data.files import read_bars, replay

                path = cfg.feed.split(":", 1)[1]
                stream = replay(await asyncio.to_thread(read_bars, path), rate=cfg.feed_rate)
            else:
                from supreme.data.cli import make_feed

                feed = make_feed(cfg.feed, speed=cfg.feed_speed)
                stream = feed.stream(list(cfg.feed_symbols), cfg.feed_timeframe)
            # Lag is measured for feeds of live bars: the bar's close against the wall clock.
            live_step = 0 if cfg.feed == "simulator" else None
            if cfg.feed == "yahoo" or cfg.feed.startswith("ccxt:"):
                from supreme.data.feed import timeframe_ms

                live_step = timeframe_ms(cfg.feed_timeframe)
            source = cfg.feed.split(":", 1)[0]
            async for batch in stream:
                await self.ingestor.submit(batch)
                if live_step is not None and len(batch):
                    self.metrics.feed_bars(source, int(batch.time_ms.max()), live_step)
            log.info("the %s feed ended", cfg.feed)
        except asyncio.CancelledError:
            raise
        except Exception:  # a broken feed is logged; the gateway stays up
            log.exception("the %s feed stopped", cfg.feed)
        finally:
            if feed is not None:
                with contextlib.suppress(Exception):
                    await feed.close()

    async def _pump_risk_events(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            try:
                drained = self.cluster.risk.drain_events.remote()
                events = await drained
            except asyncio.CancelledError:
                # Stopped mid-drain: the events have left the actor; the audit log keeps them.
                with contextlib.suppress(Exception):
                    for event in await asyncio.wait_for(drained, 5.0):
                        record_risk_event(self.audit, event)
                raise
            except Exception:  # the health watch reports an absent actor
                continue
            for event in events:
                self.metrics.observe_risk_event(event)
                record_risk_event(self.audit, event)
                self.risk_events.publish(event)

    async def _poll_account(self) -> None:
        """The account gauges (equity, drawdown, exposure, PnL, trading state), every 2 s."""
        while True:
            # An absent actor is the health watch's to report.
            with contextlib.suppress(Exception):
                self.metrics.set_account(await self.cluster.risk.status.remote())
            await asyncio.sleep(2.0)

    async def _watch_cluster(self) -> None:
        """NOT_SERVING at once when an actor is dead, or after several pings in a row time out
        (a busy actor answers late; one slow answer on a loaded machine is not an outage)."""
        timeouts = 0
        waiting: list[str] = []
        while True:
            await asyncio.sleep(1.0)
            try:
                answers = await self.cluster.ping(timeout=PING_TIMEOUT_S)
                await self._reattach_restarted_shards(answers)
                timeouts = 0
                waiting = _not_ready(answers)
                ok = not waiting
            except TimeoutError:
                timeouts += 1
                ok = timeouts < PING_TIMEOUTS_BEFORE_NOT_SERVING
            except Exception:  # a dead or unreachable actor
                ok = False
            if ok != self._serving:
                self._serving = ok
                await self._set_health(
                    health_pb2.HealthCheckResponse.SERVING
                    if ok
                    else health_pb2.HealthCheckResponse.NOT_SERVING
                )
                if ok:
                    log.warning("cluster ready: SERVING")
                else:
                    log.warning("NOT_SERVING: %s", "; ".join(waiting) or "cluster unavailable")

    async def _reattach_restarted_shards(self, answers: dict[str, Any]) -> None:
        """A shard that Ray restarted comes back empty: attach every live subscription's and
        trading instance's strategies on it again. Their history is gone, so they warm up
        anew from the bars that follow."""
        current = _incarnations(answers)
        for name, incarnation in current.items():
            before = self._incarnations.get(name)
            suffix = name.removeprefix("shard-")
            if before is None or before == incarnation or name == suffix or not suffix.isdigit():
                continue
            index = int(suffix)
            keys = [
                key
                for sink in self.hub.sinks()
                for key in sink.keys
                if self.cluster.shard_index(key.symbol) == index
            ]
            await self.cluster.shards[index].attach_many.remote(keys)
            log.warning("%s restarted: re-attached %d strategy instance(s)", name, len(keys))
        self._incarnations = current


def server_credentials(cfg: GatewayConfig) -> grpc.ServerCredentials | None:
    """TLS credentials from the config's PEM files (None: plaintext); mutual TLS when a client
    CA is given. A file that cannot be read is an InvalidArgument naming it."""
    if cfg.tls_cert is None:
        return None

    def read(path: str, what: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise InvalidArgument(f"cannot read the TLS {what} {path}: {exc}") from exc

    pair = (read(cfg.tls_key, "key"), read(cfg.tls_cert, "certificate"))
    client_ca = read(cfg.tls_client_ca, "client CA") if cfg.tls_client_ca else None
    return grpc.ssl_server_credentials(
        [pair], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _not_ready(answers: dict[str, Any]) -> list[str]:
    """Why actors that answered are not ready to serve (a live venue still reconciling)."""
    return [
        f"{name}: {answer.get('not_ready_reason') or 'not ready'}"
        for name, answer in answers.items()
        if isinstance(answer, dict) and answer.get("ready") is False
    ]


def _incarnations(answers: dict[str, Any]) -> dict[str, str]:
    return {name: str(answer.get("incarnation")) for name, answer in answers.items()}


async def serve(config: GatewayConfig, *, duration: float | None = None) -> None:
    """Run a gateway until SIGINT/SIGTERM (or ``duration`` seconds), then stop gracefully."""
    gateway = Gateway(config)
    await gateway.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        if duration is None:
            await stop.wait()
        else:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=duration)
    finally:
        await gateway.stop()
