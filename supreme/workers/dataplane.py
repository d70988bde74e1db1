"""The shard data plane: bars to a ``SymbolShard`` and its signals back, over one TCP stream.

**Why it exists.** A Ray actor call costs its caller about 0.7 ms of CPU and takes about 1 ms
end to end on a 2-core machine (task submission, object store, reply). At a thousand small
flushes a second that is the whole gateway core, and the queueing it causes is what dominated
bar-to-signal latency. A persistent stream of length-prefixed protobuf frames costs about a
tenth of that (``bench/e2e_latency.py --shard-transport ray|stream`` measures both). Ray still
owns everything else about a shard: placement, start, restart, and the control calls (attach,
detach, history, ping, and :meth:`~supreme.workers.shard.SymbolShard.endpoint`, which hands out
the stream's address).

**Wire format.** Every frame is a 4-byte little-endian length, then one message of
``proto/supreme/v1/shard.proto``. The gateway's first frame is a ``ShardHello`` carrying the
per-incarnation token the shard gave it over Ray, acknowledged by an empty ``ShardReply`` with
``seq`` 0; a wrong token, a malformed message or a frame
over :data:`MAX_FRAME_BYTES` closes that connection (and only that one). Then every
``ShardRequest`` is answered by one ``ShardReply``, in order. Nothing is unpickled from the
socket: a stranger that reaches the port can at worst be disconnected.

**Failure.** When a stream breaks (the shard died, or the network did), :class:`ShardChannel`
re-sends every unanswered batch through the actor call ``SymbolShard.process`` (which Ray holds
until a restarting actor is back), one call at a time and in order, and sends later batches the
same way until it has reconnected. It returns to the stream only once those calls have all
been answered, so a shard always applies batches in the order they were flushed. Re-sending is
harmless: a shard refuses a bar that is not newer than the last one it applied for its symbol,
so a batch that had been applied before the break changes nothing the second time (the signals
of such a batch, whose reply was lost with the connection, are not produced again).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf.message import DecodeError

from supreme._proto import shard_pb2
from supreme.core.model import BarBatch, Signal
from supreme.core.shard import ShardResult
from supreme.server.convert import (
    columns_from_proto,
    columns_to_proto,
    signal_from_proto,
    signal_to_proto,
)

log = logging.getLogger(__name__)

__all__ = [
    "MAX_FRAME_BYTES",
    "ProtocolError",
    "ShardChannel",
    "ShardError",
    "ShardServer",
    "decode_reply",
    "encode_reply",
    "encode_request",
    "frame",
    "read_frame",
]

_HEADER = struct.Struct("<I")
MAX_FRAME_BYTES = 64 * 1024 * 1024
_MAX_HELLO_BYTES = 1024
_RECONNECT_DELAYS_S = (0.05, 0.2, 0.5, 1.0, 2.0)


class ShardError(RuntimeError):
    """The shard answered a request with an error (its message is the shard's)."""


class ProtocolError(RuntimeError):
    """The peer broke the framing or sent something that is not the expected message."""


# -- codec ---------------------------------------------------------------------------------------


def frame(payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {len(payload)} bytes is over {MAX_FRAME_BYTES}")
    return _HEADER.pack(len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader, limit: int = MAX_FRAME_BYTES) -> bytes:
    """One frame's payload; ``IncompleteReadError`` at end of stream."""
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    if size > limit:
        raise ProtocolError(f"frame of {size} bytes announced; at most {limit} accepted")
    return await reader.readexactly(size)


def encode_request(seq: int, batch: BarBatch) -> bytes:
    return shard_pb2.ShardRequest(seq=seq, bars=columns_to_proto(batch)).SerializeToString()


def encode_reply(seq: int, result: ShardResult | None = None, error: str = "") -> bytes:
    if result is None:
        return shard_pb2.ShardReply(seq=seq, error=error or "unknown error").SerializeToString()
    return shard_pb2.ShardReply(
        seq=seq,
        signals=[
            shard_pb2.ShardSignal(instance_id=instance_id, signal=signal_to_proto(signal))
            for instance_id, signal in result.signals
        ],
        accepted=result.accepted,
        rejected=result.rejected,
    ).SerializeToString()


def decode_reply(payload: bytes) -> tuple[int, ShardResult | ShardError]:
    message = shard_pb2.ShardReply.FromString(payload)
    if message.error:
        return message.seq, ShardError(message.error)
    signals: list[tuple[str, Signal]] = [
        (s.instance_id, signal_from_proto(s.signal)) for s in message.signals
    ]
    return message.seq, ShardResult(
        signals=signals, accepted=message.accepted, rejected=message.rejected
    )


# -- the shard's end -----------------------------------------------------------------------------


class ShardServer:
    """Serves ``process(batch)`` on a TCP port, for connections that present :attr:`token`.

    Runs on the event loop of the async actor that owns it, so a request is handled between
    two actor calls, never during one: ``process`` needs no lock.
    """

    def __init__(self, process: Callable[[BarBatch], ShardResult]) -> None:
        self._process = process
        self.token = secrets.token_bytes(32)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self.host = ""
        self.port = 0
        self.requests = 0
        self.refused = 0

    async def start(self, host: str) -> int:
        self._server = await asyncio.start_server(self._serve, host, 0)
        self.host = host
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in tuple(self._connections):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        self._connections.add(writer)
        try:
            hello = shard_pb2.ShardHello.FromString(await read_frame(reader, _MAX_HELLO_BYTES))
            if not hmac.compare_digest(hello.token, self.token):
                self.refused += 1
                log.warning("refused a data-plane connection from %s: wrong token", peer)
                return
            writer.write(frame(encode_reply(0, ShardResult())))  # the hello's acknowledgement
            while True:
                try:
                    request = shard_pb2.ShardRequest.FromString(await read_frame(reader))
                except DecodeError as exc:
                    raise ProtocolError(f"malformed ShardRequest: {exc}") from exc
                self.requests += 1
                try:
                    # The rows are validated again: a shard trusts no socket with its state.
                    result = self._process(columns_from_proto(request.bars))
                    reply = encode_reply(request.seq, result)
                except Exception as exc:  # bad rows, or the shard's own failure: answer it
                    if not isinstance(exc, ValueError):
                        log.exception("processing a data-plane batch failed")
                    reply = encode_reply(request.seq, error=f"{type(exc).__name__}: {exc}")
                writer.write(frame(reply))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the gateway went away
        except (ProtocolError, DecodeError) as exc:
            self.refused += 1
            log.warning("closed a data-plane connection from %s: %s", peer, exc)
        finally:
            self._connections.discard(writer)
            writer.close()


# -- the gateway's end ---------------------------------------------------------------------------


class ShardChannel:
    """The gateway's way to one shard: the data-plane stream when it is up, the actor call
    ``process`` when it is not (see the module docstring).

    :meth:`process` must be called in flush order; it writes at once and returns a future of the
    shard's :class:`~supreme.core.shard.ShardResult`. With ``use_stream=False`` every batch goes
    through Ray (the transport of choice where the shard's port is not reachable).
    """

    def __init__(self, name: str, actor: Any, *, use_stream: bool = True) -> None:
        self.name = name
        self.actor = actor
        self.use_stream = use_stream
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task | None = None
        self._reconnect_task: asyncio.Task | None = None
        self._pending: deque[tuple[int, BarBatch, asyncio.Future]] = deque()
        self._actor_queue: deque[tuple[BarBatch, asyncio.Future]] = deque()
        self._actor_task: asyncio.Task | None = None
        self._via_actor = 0  # batches on the actor path not answered yet
        self._seq = 0
        self._closed = False
        self._connect_lock = asyncio.Lock()
        self.stream_batches = 0
        self.actor_batches = 0
        self.reconnects = 0

    @property
    def streaming(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self, timeout: float = 10.0, *, quiet: bool = False) -> bool:
        """Open the stream; False (logged, at debug level when ``quiet``) when that fails, and
        batches go through Ray."""
        async with self._connect_lock:
            if not self.use_stream or self._closed:
                return False
            if self.streaming:
                return True
            return await self._connect(timeout, quiet)

    async def _connect(self, timeout: float, quiet: bool) -> bool:
        writer = None
        try:
            endpoint = await asyncio.wait_for(_awaited(self.actor.endpoint.remote()), timeout)
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(endpoint["host"], endpoint["port"]), timeout
            )
            writer.write(frame(shard_pb2.ShardHello(token=endpoint["token"]).SerializeToString()))
            try:
                seq, ack = decode_reply(await asyncio.wait_for(read_frame(reader), timeout))
            except asyncio.IncompleteReadError:
                raise ProtocolError("the shard closed the stream: token refused") from None
            if seq != 0 or isinstance(ack, ShardError):
                raise ProtocolError(f"unexpected answer to the hello: {seq} {ack}")
        except Exception as exc:
            if writer is not None:
                writer.close()
            log.log(
                logging.DEBUG if quiet else logging.WARNING,
                "%s: no data-plane stream (%s); batches go through Ray",
                self.name,
                exc,
            )
            return False
        self._writer = writer
        self._reader_task = asyncio.create_task(self._read(reader, writer), name=f"{self.name}-rx")
        log.info("%s: data-plane stream to %s:%s", self.name, endpoint["host"], endpoint["port"])
        return True

    def process(self, batch: BarBatch) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        if self.streaming and not self._via_actor:
            self._seq += 1
            self._pending.append((self._seq, batch, future))
            self._writer.write(frame(encode_request(self._seq, batch)))
            self.stream_batches += 1
        else:
            self._send_via_actor(batch, future)
            self._reconnect_later()
        return future

    async def close(self) -> None:
        self._closed = True
        for task in (self._reconnect_task, self._reader_task, self._actor_task):
            if task is not None:
                task.cancel()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        unanswered = [f for _, _, f in self._pending] + [f for _, f in self._actor_queue]
        self._pending.clear()
        self._actor_queue.clear()
        for future in unanswered:
            if not future.done():
                future.set_exception(ShardError(f"{self.name}: channel closed"))

    # -- internals -------------------------------------------------------------------------------

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                seq, outcome = decode_reply(await read_frame(reader))
                if not self._pending or self._pending[0][0] != seq:
                    expected = self._pending[0][0] if self._pending else None
                    raise ProtocolError(f"reply {seq} does not answer request {expected}")
                _, _, future = self._pending.popleft()
                if future.done():
                    continue
                if isinstance(outcome, ShardError):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
        except asyncio.CancelledError:
            raise
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            reason = f"stream closed ({type(exc).__name__})"
        except (ProtocolError, DecodeError, ValueError) as exc:
            reason = f"bad reply: {exc}"
        if not self._closed:
            self._break(writer, reason)

    def _break(self, writer: asyncio.StreamWriter, reason: str) -> None:
        """Drop the stream; re-send what it had not answered through the actor, in order."""
        writer.close()
        if self._writer is writer:
            self._writer = None
        unanswered, self._pending = self._pending, deque()
        log.warning(
            "%s: data-plane %s; re-sending %d batch(es) through Ray",
            self.name,
            reason,
            len(unanswered),
        )
        for _, batch, future in unanswered:
            if not future.done():
                self._send_via_actor(batch, future)
        self._reconnect_later()

    def _send_via_actor(self, batch: BarBatch, future: asyncio.Future) -> None:
        self._via_actor += 1
        self.actor_batches += 1
        self._actor_queue.append((batch, future))
        if self._actor_task is None or self._actor_task.done():
            self._actor_task = asyncio.get_running_loop().create_task(self._drain_via_actor())

    async def _drain_via_actor(self) -> None:
        """One actor call at a time: Ray does not promise to run an async actor's calls in
        submission order, and a shard must apply batches in flush order."""
        while self._actor_queue:
            batch, future = self._actor_queue.popleft()
            try:
                result = await self.actor.process.remote(batch)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)
            finally:
                self._via_actor -= 1

    def _reconnect_later(self) -> None:
        if (
            not self.use_stream
            or self._closed
            or self.streaming
            or (self._reconnect_task is not None and not self._reconnect_task.done())
        ):
            return
        self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        attempt = 0
        while not self._closed and not self.streaming:
            await asyncio.sleep(_RECONNECT_DELAYS_S[min(attempt, len(_RECONNECT_DELAYS_S) - 1)])
            attempt += 1
            if await self.connect(quiet=attempt > 1):
                self.reconnects += 1


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
