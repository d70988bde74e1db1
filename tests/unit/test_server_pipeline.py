"""The gateway's pipeline pieces without Ray or gRPC: hub, broadcast and ingestor.

The ingestor talks to shards through ``channel.process(batch)``, which returns a future (see
supreme.workers.dataplane.ShardChannel); here a shard is a plain ShardCore behind that shape.
"""

import asyncio

from supreme.core.model import BarBatch
from supreme.core.shard import InstanceKey, ShardCore
from supreme.core.strategies import generate_signals
from supreme.data.simulator import simulate_bars
from supreme.server.hub import CUT_OFF, Broadcast, QueueSubscriber, SignalHub
from supreme.server.ingest import Ingestor
from supreme.workers.cluster import shard_for_symbol


class LocalShard:
    def __init__(self) -> None:
        self.core = ShardCore()

    def process(self, batch):
        future = asyncio.get_running_loop().create_future()
        future.set_result(self.core.process(batch))
        return future


def _signal(i: int):
    from supreme.core.model import Direction, Signal

    return Signal("A", "momentum", i, Direction.LONG, 0.5, 10.0)


def test_queue_subscriber_is_cut_off_when_its_queue_is_full():
    async def scenario():
        key = InstanceKey.of("momentum", {}, "A")
        subscriber = QueueSubscriber([key], queue_size=3)
        hub = SignalHub()
        hub.add(subscriber)
        hub.publish([(key.id, _signal(i)) for i in range(5)])
        items = [subscriber.queue.get_nowait() for _ in range(subscriber.queue.qsize())]
        return hub, subscriber, items

    hub, subscriber, items = asyncio.run(scenario())
    assert items[:3] == [_signal(0), _signal(1), _signal(2)] and items[3] is CUT_OFF
    assert subscriber.cut_off and len(hub) == 0 and hub.cut_offs == 1


def test_hub_routes_by_instance_and_a_cut_off_does_not_touch_other_sinks():
    async def scenario():
        a = InstanceKey.of("momentum", {}, "A")
        b = InstanceKey.of("momentum", {}, "B")
        slow = QueueSubscriber([a], queue_size=1)
        fast = QueueSubscriber([a, b], queue_size=100)
        only_b = QueueSubscriber([b], queue_size=100)
        hub = SignalHub()
        for sink in (slow, fast, only_b):
            hub.add(sink)
        hub.publish([(a.id, _signal(1)), (a.id, _signal(2)), (b.id, _signal(3))])
        return slow, fast, only_b

    slow, fast, only_b = asyncio.run(scenario())
    assert slow.cut_off and not fast.cut_off
    assert fast.queue.qsize() == 3 and only_b.queue.qsize() == 1


def test_broadcast_ends_only_the_stream_that_falls_behind():
    async def scenario():
        broadcast = Broadcast(size=2)
        lagging, keeping_up = broadcast.subscribe(), broadcast.subscribe()
        got = []
        for i in range(4):
            broadcast.publish(i)
            got.append(keeping_up.get_nowait())
        drained = [lagging.get_nowait() for _ in range(lagging.qsize())]
        return got, drained

    got, drained = asyncio.run(scenario())
    assert got == [0, 1, 2, 3]
    assert drained == [0, 1, None]


def test_ingestor_rejects_late_bars_and_delivers_the_batch_signals_in_order():
    bars = simulate_bars(["A", "B", "C"], 600, seed=4)
    expected = {s: generate_signals("breakout", bars.for_symbol(s), {}) for s in "ABC"}

    async def scenario():
        shards = [LocalShard(), LocalShard()]
        hub = SignalHub()
        keys = [InstanceKey.of("breakout", {}, s) for s in "ABC"]
        for key in keys:
            shards[shard_for_symbol(key.symbol, 2)].core.attach(key)
        subscriber = QueueSubscriber(keys, queue_size=100_000)
        hub.add(subscriber)
        flushed = []
        ingestor = Ingestor(
            shard_of=lambda s: shard_for_symbol(s, 2),
            shards=shards,
            hub=hub,
            on_flushed=flushed.append,
            flush_max_bars=250,
        )
        ingestor.start()
        outcomes = []
        for start in range(0, len(bars), 100):
            outcomes.append(await ingestor.submit(bars.select(slice(start, start + 100))))
        late = await ingestor.submit(bars.select(slice(0, 10)))
        again = await ingestor.submit(bars.select(slice(len(bars) - 1, None)))
        await ingestor.close()
        signals = [subscriber.queue.get_nowait() for _ in range(subscriber.queue.qsize())]
        return outcomes, late, again, signals, flushed

    outcomes, late, again, signals, flushed = asyncio.run(scenario())
    assert sum(o.accepted for o in outcomes) == len(bars)
    assert late.accepted == 0 and {r.code for r in late.rejections} == {"OUT_OF_ORDER"}
    assert [r.code for r in again.rejections] == ["DUPLICATE"]
    assert sum(len(b) for b in flushed) == len(bars)  # every accepted bar reached trading
    for symbol in "ABC":
        got = [(s.time_ms, s.direction) for s in signals if s.symbol == symbol]
        assert got == [(s.time_ms, s.direction) for s in expected[symbol]]
        assert len(got) > 3


def test_ingestor_reports_invalid_rows_with_their_stream_index():
    bars = simulate_bars("A", 5, seed=1)
    broken = bars.to_frame()
    broken.loc[2, "low"] = broken.loc[2, "high"] * 2

    from supreme.core.model import BarBatch

    batch = BarBatch(*(broken[c].to_numpy() for c in broken.columns), validate=False)

    async def scenario():
        ingestor = Ingestor(
            shard_of=lambda s: 0, shards=[LocalShard()], hub=SignalHub(), on_flushed=None
        )
        ingestor.start()
        outcome = await ingestor.submit(batch, index_offset=100)
        await ingestor.close()
        return outcome

    outcome = asyncio.run(scenario())
    assert outcome.accepted == 4
    [rejection] = outcome.rejections
    assert (rejection.index, rejection.code) == (102, "INVALID")
    assert "low" in rejection.reason


class _Calls:
    """A fake actor method: records each call's arguments, answers with ``answer(*args)``."""

    def __init__(self, log, name, answer):
        self._log, self._name, self._answer = log, name, answer

    def remote(self, *args):
        self._log.append((self._name, args))
        future = asyncio.get_running_loop().create_future()
        future.set_result(self._answer(*args))
        return future


def _router(tmp_path, calls, linger_ms):
    from types import SimpleNamespace

    from supreme.server.trading import InstanceStore, TradingRouter

    execution = SimpleNamespace(
        on_market=_Calls(calls, "on_market", lambda batch: ([], [])),
        open_orders=_Calls(calls, "open_orders", lambda: []),
    )
    risk = SimpleNamespace(
        on_bars=_Calls(calls, "risk.on_bars", lambda batch, orders: []),
        on_signals=_Calls(calls, "risk.on_signals", lambda signals, orders: []),
    )
    return TradingRouter(
        shard_for=None,
        risk=risk,
        execution=execution,
        hub=SignalHub(),
        store=InstanceStore(tmp_path / "instances.json"),
        updates=Broadcast(),
        market_linger_ms=linger_ms,
    )


def test_router_lets_market_data_gather_and_a_signal_ends_the_wait(tmp_path):
    bars = simulate_bars(["A", "B"], 30, seed=2)
    flushes = [bars.select(slice(i, i + 3)) for i in range(0, len(bars), 3)]

    async def scenario(linger_ms):
        calls = []
        router = _router(tmp_path, calls, linger_ms)
        await router.start()
        loop = asyncio.get_running_loop()
        for flush in flushes[:10]:  # ten small flushes within the linger
            router.on_bars(flush)
            await asyncio.sleep(0.001)
        await router.drain()
        quiet = len(calls)
        # Bars then a signal: the signal must not wait out the (long) linger.
        started = loop.time()
        router.on_bars(flushes[10])
        router.enqueue(("signal", "inst-1", _signal(1)))
        await router.drain()
        waited = loop.time() - started
        await router.close()
        return calls, quiet, waited

    calls, quiet, waited = asyncio.run(scenario(linger_ms=500.0))
    market = [args[0] for name, args in calls if name == "on_market"]
    # The ten flushes went to execution in one call (then risk), every bar once and in order.
    assert quiet == 2 and len(market[0]) == 10 * len(flushes[0])
    assert market[0].time_ms.tolist() == BarBatch.concat(flushes[:10]).time_ms.tolist()
    assert waited < 0.25  # well under the 500 ms linger
    assert [name for name, _ in calls[2:]] == [
        "on_market",
        "risk.on_bars",
        "open_orders",
        "risk.on_signals",
    ]

    calls, quiet, _ = asyncio.run(scenario(linger_ms=0.0))
    assert quiet > 2  # without a linger, flushes go one by one as they come
