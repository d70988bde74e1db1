"""The shard data plane without Ray: a real ShardServer on loopback, a real ShardChannel.

The actor is faked by an object with the two Ray methods the channel uses, ``endpoint.remote()``
and ``process.remote(batch)``, answering with awaitables. Like the real actor, the fake's
``process`` and the server share one ShardCore, so whichever path a batch takes, it lands in
the same state.
"""

import asyncio
import struct

import pytest

from supreme.core.shard import InstanceKey, ShardCore
from supreme.data.simulator import simulate_bars
from supreme.workers.dataplane import (
    MAX_FRAME_BYTES,
    ShardChannel,
    ShardError,
    ShardServer,
    decode_reply,
    encode_reply,
    encode_request,
    frame,
    read_frame,
)

PARAMS = {"period": 2.0, "k": 0.1}


class _Method:
    def __init__(self, fn):
        self._fn = fn

    def remote(self, *args):
        return self._fn(*args)


class FakeShardActor:
    """The Ray face of a shard: endpoint() and process() over one core and one server."""

    def __init__(self, core: ShardCore, server: ShardServer, *, token: bytes | None = None):
        self.core = core
        self.server = server
        self.token = token
        self.actor_calls = 0
        self.hold: asyncio.Event | None = None  # set: actor calls wait for it
        self.endpoint = _Method(self._endpoint)
        self.process = _Method(self._process)

    async def _endpoint(self):
        token = self.server.token if self.token is None else self.token
        return {"host": "127.0.0.1", "port": self.server.port, "token": token}

    async def _process(self, batch):
        self.actor_calls += 1
        if self.hold is not None:
            await self.hold.wait()
        return self.core.process(batch)


def _attached_core() -> ShardCore:
    core = ShardCore()
    for symbol in ("A", "B"):
        core.attach(InstanceKey.of("mean_reversion", PARAMS, symbol))
    return core


def _bars(n: int = 60, seed: int = 3):
    return simulate_bars(["A", "B"], n, seed=seed)


def _expected(batches):
    core = _attached_core()
    out = []
    for batch in batches:
        out.extend(core.process(batch).signals)
    return out


async def _start(token: bytes | None = None):
    core = _attached_core()
    server = ShardServer(core.process)
    await server.start("127.0.0.1")
    actor = FakeShardActor(core, server, token=token)
    channel = ShardChannel("shard-0", actor)
    return core, server, actor, channel


def _signals(results):
    return [pair for result in results for pair in result.signals]


def test_codec_round_trips_a_result_and_an_error():
    core = _attached_core()
    result = core.process(_bars())
    seq, back = decode_reply(encode_reply(7, result))
    assert seq == 7 and back.signals == result.signals and len(back.signals) > 5
    assert (back.accepted, back.rejected) == (result.accepted, result.rejected)
    seq, error = decode_reply(encode_reply(8, error="ValueError: bad row"))
    assert seq == 8 and isinstance(error, ShardError) and "bad row" in str(error)


def test_batches_over_the_stream_give_exactly_what_the_core_gives():
    bars = _bars(200)
    batches = [bars.select(slice(i, i + 7)) for i in range(0, len(bars), 7)]

    async def scenario():
        _, server, actor, channel = await _start()
        assert await channel.connect()
        results = await asyncio.gather(*(channel.process(b) for b in batches))
        await channel.close()
        await server.close()
        return results, actor, channel, server

    results, actor, channel, server = asyncio.run(scenario())
    assert _signals(results) == _expected(batches)
    assert sum(r.accepted for r in results) == len(bars)
    assert channel.stream_batches == len(batches) and actor.actor_calls == 0
    assert server.requests == len(batches)


def test_a_wrong_token_is_refused_and_batches_go_through_the_actor():
    batches = [_bars(30)]

    async def scenario():
        _, server, actor, channel = await _start(token=b"not the token")
        connected = await channel.connect()
        results = [await channel.process(b) for b in batches]
        await channel.close()
        await server.close()
        return connected, results, actor, server

    connected, results, actor, server = asyncio.run(scenario())
    assert connected is False and server.refused >= 1 and server.requests == 0
    assert _signals(results) == _expected(batches) and actor.actor_calls == 1


def test_bad_rows_get_an_error_reply_and_the_stream_stays_up():
    good = _bars(20)
    # A row the gateway would never send: high below low (built unvalidated).
    from supreme.core.model import BarBatch

    broken = BarBatch(["A"], [1], [10.0], [9.0], [11.0], [10.0], [1.0], validate=False)

    async def scenario():
        _, server, _, channel = await _start()
        assert await channel.connect()
        with pytest.raises(ShardError, match="low"):
            await channel.process(broken)
        result = await channel.process(good)
        streaming = channel.streaming
        await channel.close()
        await server.close()
        return result, streaming

    result, streaming = asyncio.run(scenario())
    assert streaming and result.accepted == len(good)


@pytest.mark.parametrize(
    "garbage",
    [
        struct.pack("<I", MAX_FRAME_BYTES + 1),  # a frame too large to accept
        struct.pack("<I", 5) + b"\xff\xff\xff\xff\xff",  # not a ShardRequest
    ],
)
def test_malformed_frames_close_only_that_connection(garbage):
    async def scenario():
        _, server, _, channel = await _start()
        assert await channel.connect()
        # A second client that knows the token, then sends garbage.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        from supreme._proto import shard_pb2

        writer.write(frame(shard_pb2.ShardHello(token=server.token).SerializeToString()))
        await read_frame(reader)  # the acknowledgement
        writer.write(garbage)
        await writer.drain()
        closed = await asyncio.wait_for(reader.read(), 5) == b""  # EOF: the server hung up
        writer.close()
        result = await channel.process(_bars(10))  # the good connection is untouched
        await channel.close()
        await server.close()
        return closed, result, server

    closed, result, server = asyncio.run(scenario())
    assert closed and result.accepted == 20 and server.refused == 1


def test_a_broken_stream_resends_in_order_through_the_actor_then_reconnects():
    bars = _bars(120)
    batches = [bars.select(slice(i, i + 10)) for i in range(0, len(bars), 10)]

    async def scenario():
        _, server, actor, channel = await _start()
        assert await channel.connect()
        first = await asyncio.gather(*(channel.process(b) for b in batches[:3]))
        # The shard "dies" with requests written but not read: its connections drop.
        pending = [channel.process(b) for b in batches[3:6]]
        for writer in tuple(server._connections):
            writer.transport.abort()
        middle = await asyncio.gather(*pending)
        # While the stream is down, batches take the actor path; it comes back by itself.
        for _ in range(200):
            if channel.streaming:
                break
            await asyncio.sleep(0.01)
        last = await asyncio.gather(*(channel.process(b) for b in batches[6:]))
        stats = (channel.reconnects, channel.actor_batches, channel.streaming)
        await channel.close()
        await server.close()
        return first + middle + last, actor, stats

    results, actor, (reconnects, via_actor, streaming) = asyncio.run(scenario())
    # Every batch was applied exactly once, in order: the signals are the core's.
    assert _signals(results) == _expected(batches)
    assert sum(r.accepted for r in results) == len(bars)
    assert reconnects == 1 and streaming and via_actor >= 1 and actor.actor_calls == via_actor


def test_the_stream_waits_for_outstanding_actor_calls_before_taking_over():
    bars = _bars(40)
    batches = [bars.select(slice(i, i + 10)) for i in range(0, len(bars), 10)]

    async def scenario():
        _, server, actor, channel = await _start()
        actor.hold = asyncio.Event()
        first = channel.process(batches[0])  # not connected yet: the actor path, held
        assert await channel.connect()
        second = channel.process(batches[1])  # connected, but an actor call is outstanding
        actor.hold.set()
        results = [await first, await second]
        third = await channel.process(batches[2])  # nothing outstanding: the stream
        calls = actor.actor_calls
        await channel.close()
        await server.close()
        return [*results, third], calls, channel

    results, calls, channel = asyncio.run(scenario())
    assert _signals(results) == _expected(batches[:3])
    assert calls == 2 and channel.stream_batches == 1


def test_request_frames_carry_the_batch_columns():
    bars = _bars(5)
    from supreme._proto import shard_pb2

    message = shard_pb2.ShardRequest.FromString(encode_request(3, bars))
    assert message.seq == 3 and list(message.bars.symbols) == bars.symbol.tolist()
    assert list(message.bars.close) == bars.close.tolist()
