"""Shared plumbing of the end-to-end benchmarks: a gateway subprocess, signal readers, a
publisher process and process-tree accounting. Not a benchmark itself.

The gateway runs as ``.venv/bin/supreme serve --port P --feed none --state-dir TMP`` on a free
loopback port (picked by binding port 0: ``serve`` does not report the port it got). It is
ready when it logged "gateway listening on" and the gRPC health service answers SERVING.
:meth:`GatewayProcess.stop` sends SIGINT, waits, escalates only if it must, then checks that
every Ray process the gateway started (raylet, gcs_server, workers, agents: recorded by pid and
start time while it ran) has gone. Any left after a grace period are reported in ``stray`` and
then ended by their pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from supreme._proto import strategy_pb2, strategy_pb2_grpc

REPO = Path(__file__).resolve().parent.parent
SUPREME_EXE = REPO / ".venv" / "bin" / "supreme"
STRATEGIES = ("momentum", "mean_reversion", "breakout")
PUBLISH_METHOD = "/supreme.v1.MarketDataService/PublishBars"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def now_ns() -> int:
    """CLOCK_MONOTONIC in ns: one clock for every process of the machine."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pss_kb(pid: int) -> int | None:
    """Proportional set size of ``pid`` from /proc/<pid>/smaps_rollup, in kB."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def process_label(proc: psutil.Process) -> str:
    """A readable name: ``ray::SymbolShard`` for Ray workers, else the executable's name."""
    try:
        cmdline = proc.cmdline()
        name = proc.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "?"
    if cmdline and cmdline[0].startswith("ray::"):
        return cmdline[0].split()[0].split(".")[0]
    if name.startswith("python") and len(cmdline) > 1:
        for arg in cmdline[1:]:
            if arg.endswith(".py"):
                return Path(arg).name
    return name


class GatewayProcess:
    """``supreme serve`` in a subprocess; use as a context manager (stop always runs)."""

    def __init__(
        self,
        *,
        shards: int | None = None,
        extra_args: Iterable[str] = (),
        start_timeout: float = 180.0,
    ) -> None:
        self.shards = shards
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.state_dir = tempfile.mkdtemp(prefix="supreme-bench-")
        self.log_path = Path(self.state_dir) / "gateway.log"
        self.proc: subprocess.Popen | None = None
        self.startup_s = float("nan")
        self.stray: list[dict[str, Any]] = []
        self.exit_code: int | None = None
        self._known: dict[int, tuple[float, str]] = {}  # pid -> (create_time, label)

    def __enter__(self) -> GatewayProcess:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        # A SIGTERM to the benchmark must still run the clean-up (it raises SystemExit).
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        ):
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        cmd = [
            str(SUPREME_EXE),
            "serve",
            "--port",
            str(self.port),
            "--feed",
            "none",
            "--metrics-port",
            "0",
            "--state-dir",
            self.state_dir,
            *(["--shards", str(self.shards)] if self.shards else []),
            *self.extra_args,
        ]
        log(f"starting gateway on {self.target} (shards {self.shards or 'default'})")
        started = time.monotonic()
        with open(self.log_path, "wb") as out:
            # A session of its own: a Ctrl-C at the terminal reaches us, and we stop it in order.
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
            )
        self._wait_ready(started)
        self.startup_s = time.monotonic() - started
        self.remember_tree()
        log(f"gateway ready in {self.startup_s:.1f} s (pid {self.proc.pid})")

    def _wait_ready(self, started: float) -> None:
        deadline = started + self.start_timeout
        listening = False
        channel = grpc.insecure_channel(self.target)
        try:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"the gateway exited with {self.proc.returncode} during start-up:\n"
                        + self.log_tail()
                    )
                if not listening:
                    listening = b"gateway listening on" in self.log_path.read_bytes()
                if listening:
                    with contextlib.suppress(grpc.RpcError):
                        reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                        if reply.status == health_pb2.HealthCheckResponse.SERVING:
                            return
                self.remember_tree()
                time.sleep(0.2)
        finally:
            channel.close()
        raise TimeoutError(
            f"the gateway was not SERVING within {self.start_timeout} s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def tree(self) -> list[psutil.Process]:
        """The gateway and every descendant (Ray's gcs_server, raylet, agents, workers)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def remember_tree(self) -> None:
        for proc in self.tree()[1:]:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                if proc.pid not in self._known:
                    self._known[proc.pid] = (proc.create_time(), process_label(proc))

    def _alive_known(self) -> list[tuple[psutil.Process, str]]:
        alive = []
        for pid, (created, label) in self._known.items():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                proc = psutil.Process(pid)
                if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append((proc, label))
        return alive

    def stop(self, timeout: float = 60.0) -> None:
        if self.proc is None:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            return
        try:
            if self.proc.poll() is None:
                self.remember_tree()
                log("stopping gateway (SIGINT)")
                self.proc.send_signal(signal.SIGINT)
                try:
                    self.exit_code = self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    log(f"gateway still running {timeout} s after SIGINT: SIGTERM")
                    self.proc.terminate()
                    try:
                        self.exit_code = self.proc.wait(15)
                    except subprocess.TimeoutExpired:
                        self.proc.kill()
                        self.exit_code = self.proc.wait()
            else:
                self.exit_code = self.proc.returncode
            # Ray's processes exit on their own once the driver has gone; give them time.
            deadline = time.monotonic() + 15
            alive = self._alive_known()
            while alive and time.monotonic() < deadline:
                time.sleep(0.5)
                alive = self._alive_known()
            for proc, label in alive:
                self.stray.append({"pid": proc.pid, "name": label})
            if alive:
                log(f"STRAY Ray processes of this gateway after it exited: {self.stray}")
                for proc, _ in alive:  # ours (pid + start time checked): end them by pid
                    with contextlib.suppress(psutil.NoSuchProcess):
                        proc.terminate()
                _, still = psutil.wait_procs([p for p, _ in alive], timeout=5)
                for proc in still:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        proc.kill()
            log(f"gateway exited with {self.exit_code}; stray Ray processes: {len(self.stray)}")
        finally:
            if self.exit_code not in (0, None):
                log("gateway log tail:\n" + self.log_tail())
            shutil.rmtree(self.state_dir, ignore_errors=True)


# -- clients ---------------------------------------------------------------------------------


# A subchannel of its own, so each reader or writer gets its own HTTP/2 connection.
CHANNEL_OPTIONS = [
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]


def channel_for(target: str) -> grpc.Channel:
    return grpc.insecure_channel(target, options=CHANNEL_OPTIONS)


class LoopThread:
    """An asyncio loop in a daemon thread; the signal readers run on it (grpc.aio costs the
    client much less CPU per streamed message than the sync API's thread hand-offs)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="aio", daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float | None = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def __enter__(self) -> LoopThread:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SignalReader:
    """A SubscribeSignals stream (raw grpc.aio stub, its own connection) read on ``loop``.

    The subscription is confirmed (``started`` received) in the constructor. Arrival times are
    taken as each message is read; with ``record=True`` they are kept by ``(symbol, time_ms)``.
    """

    def __init__(
        self,
        loop: LoopThread,
        target: str,
        symbols: list[str],
        strategy: str,
        params: dict[str, float] | None = None,
        *,
        expected: int = 0,
        record: bool = False,
        max_batch: int = 0,
    ) -> None:
        self.strategy = strategy
        self.expected = expected
        self.record = record
        self.count = 0
        self.first_ns = 0
        self.last_ns = 0
        self.arrivals: dict[tuple[str, int], int] = {}
        self.error: str | None = None
        self.done = threading.Event()
        self._loop = loop
        self._cancelled = False
        request = strategy_pb2.SubscribeSignalsRequest(
            symbols=symbols, strategy=strategy, params=params or {}, max_batch=max_batch
        )
        loop.run(self._open(target, request))
        if expected == 0:
            self.done.set()
        self._task = loop.submit(self._read())

    async def _open(self, target: str, request: Any) -> None:
        self._channel = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
        stub = strategy_pb2_grpc.StrategyServiceStub(self._channel)
        self._call = stub.SubscribeSignals(request)
        first = await self._call.read()
        if first is grpc.aio.EOF or first.WhichOneof("event") != "started":
            raise RuntimeError(f"SubscribeSignals did not start: {first!r}")

    async def _read(self) -> None:
        call, record, arrivals = self._call, self.record, self.arrivals
        try:
            while True:
                message = await call.read()
                t = now_ns()
                if message is grpc.aio.EOF:
                    break
                event = message.WhichOneof("event")
                if event == "signal":
                    signals = [message.signal]
                elif event == "signals":
                    signals = message.signals.signals
                else:
                    continue
                if not self.count:
                    self.first_ns = t
                self.count += len(signals)
                self.last_ns = t
                if record:
                    for signal_ in signals:
                        arrivals[(signal_.symbol, signal_.time_unix_ms)] = t
                if self.count >= self.expected:
                    self.done.set()
        except (grpc.aio.AioRpcError, asyncio.CancelledError) as exc:
            if not self._cancelled:
                code = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else "CANCELLED"
                details = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else ""
                self.error = f"{code}: {details}"
                log(f"{self.strategy} stream failed: {self.error}")
        finally:
            self.done.set()

    async def _close(self) -> None:
        self._call.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.wrap_future(self._task), 10)
        await self._channel.close()

    def cancel(self) -> None:
        self._cancelled = True
        with contextlib.suppress(Exception):
            self._loop.run(self._close(), timeout=20)


def wait_all(readers: list[SignalReader], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    for reader in readers:
        if not reader.done.wait(max(0.0, deadline - time.monotonic())):
            return False
    return all(r.count >= r.expected for r in readers)


def expected_signals(batch: Any, symbols: list[str], strategy: str, params=None) -> list[Any]:
    """Every signal ``strategy`` gives on ``batch``, symbol by symbol (fresh instances)."""
    from supreme.core.strategies import generate_signals

    out = []
    for symbol in symbols:
        out.extend(generate_signals(strategy, batch.for_symbol(symbol), params or {}))
    return out


# -- the publisher process ---------------------------------------------------------------------


def publisher_main(
    target: str,
    symbols: list[str],
    n_bars: int,
    seed: int,
    batch_size: int,
    ready: Any,
    go: Any,
    results: Any,
) -> None:
    """Runs in a process of its own: builds and serializes the PublishBars requests, signals
    ``ready``, waits for ``go``, then streams them; puts its timings on ``results``."""
    try:
        from supreme._proto import market_data_pb2
        from supreme.data.simulator import simulate_bars
        from supreme.server.convert import columns_to_proto

        batch = simulate_bars(symbols, n_bars, seed=seed)
        payloads = [
            market_data_pb2.PublishBarsRequest(
                columns=columns_to_proto(batch.select(slice(start, start + batch_size)))
            ).SerializeToString()
            for start in range(0, len(batch), batch_size)
        ]
        channel = channel_for(target)
        publish = channel.stream_unary(
            PUBLISH_METHOD,
            request_serializer=None,  # payloads are serialized already
            response_deserializer=market_data_pb2.PublishBarsResponse.FromString,
        )
        grpc.channel_ready_future(channel).result(timeout=30)
        ready.set()
        go.wait()
        cpu_before = time.process_time()
        started = now_ns()
        response = publish(iter(payloads))
        finished = now_ns()
        cpu_s = time.process_time() - cpu_before
        channel.close()
        results.put(
            {
                "start_ns": started,
                "end_ns": finished,
                "accepted": response.accepted,
                "rejected": response.rejected,
                "messages": len(payloads),
                "cpu_s": cpu_s,
            }
        )
    except BaseException as exc:
        results.put({"error": f"{type(exc).__name__}: {exc}"})
        raise


class Publisher:
    """:func:`publisher_main` in a spawned process: ready when constructed, sends on
    :meth:`go`; :meth:`result` is its timings. Use as a context manager."""

    def __init__(
        self, target: str, symbols: list[str], n_bars: int, seed: int, batch_size: int
    ) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        ready, self._go, self._results = ctx.Event(), ctx.Event(), ctx.Queue()
        self.proc = ctx.Process(
            target=publisher_main,
            args=(target, symbols, n_bars, seed, batch_size, ready, self._go, self._results),
            name="publisher",
            daemon=True,
        )
        self.proc.start()
        deadline = time.monotonic() + 120
        while not ready.wait(0.5):
            if not self.proc.is_alive() or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("the publisher process did not get ready")

    def go(self) -> None:
        self._go.set()

    def result(self, timeout: float) -> dict[str, Any]:
        result = self._results.get(timeout=timeout)
        self.proc.join(10)
        if "error" in result:
            raise RuntimeError(f"publisher failed: {result['error']}")
        return result

    def close(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(10)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def wait_settled(gateway: GatewayProcess, minimum: float, timeout: float = 30.0) -> None:
    """Sleep ``minimum`` seconds, then until the gateway's process tree stops changing: the
    gateway reports SERVING while its actors' worker processes may still be starting."""
    time.sleep(minimum)
    deadline = time.monotonic() + timeout
    previous = None
    while time.monotonic() < deadline:
        labels = sorted(process_label(p) for p in gateway.tree())
        if labels == previous and "default_worker.py" not in labels:
            return
        previous = labels
        time.sleep(0.5)
    log(f"the process tree was still changing after {timeout} s: {previous}")


def tree_pss(gateway: GatewayProcess) -> tuple[float, list[dict[str, Any]]]:
    """Total PSS (MB) of the gateway's process tree and one row per process."""
    rows = []
    for proc in gateway.tree():
        kb = pss_kb(proc.pid)
        if kb is None:
            continue
        label = "gateway" if proc.pid == gateway.proc.pid else process_label(proc)
        rows.append({"pid": proc.pid, "name": label, "pss_mb": round(kb / 1024, 1)})
    return sum(r["pss_mb"] for r in rows), rows


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as handle:
        fields = [float(x) for x in handle.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / tick, sum(fields) / tick


def cpu_seconds(gateway: GatewayProcess, clients: list = ()) -> dict[int, tuple[str, float]]:
    """CPU seconds so far of every process of the stack, of the clients and of the machine."""
    busy, _ = machine_cpu()
    out: dict[int, tuple[str, float]] = {-1: ("machine", busy)}
    for label, proc in clients:
        times = proc.cpu_times()
        out[proc.pid] = (label, times.user + times.system)
    for proc in gateway.tree():
        try:
            times = proc.cpu_times()
            label = "gateway" if proc.pid == gateway.proc.pid else process_label(proc)
            out[proc.pid] = (label, times.user + times.system)
        except Exception:  # gone in between
            continue
    return out


def cpu_share(before: dict, after: dict, wall_s: float) -> dict[str, float]:
    """CPU use of each process of the stack over a run, in cores (1.0 = one core busy)."""
    shares: dict[str, float] = {}
    for pid, (label, seconds) in after.items():
        used = seconds - before.get(pid, (label, 0.0))[1]
        if used > 0.01 * wall_s:
            key = label if label not in shares else f"{label}#{pid}"
            shares[key] = round(used / wall_s, 2)
    return shares


def cpu_busy_note() -> str:
    load1, _, _ = os.getloadavg()
    return f"load average {load1:.2f} on {os.cpu_count()} CPUs"
