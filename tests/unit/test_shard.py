import numpy as np
import pytest

from supreme.core.errors import InvalidArgument, NotFound
from supreme.core.model import BarBatch
from supreme.core.shard import InstanceKey, ShardCore
from supreme.core.strategies import generate_signals
from supreme.data.simulator import simulate_bars

ALL = ("momentum", "mean_reversion", "breakout")


@pytest.fixture(scope="module")
def bars():
    # Time-major, three symbols interleaved: what a gateway's micro-batches look like.
    return simulate_bars(["AAA", "BBB", "CCC"], 1_500, seed=21)


def chunks(batch: BarBatch, size: int) -> list[BarBatch]:
    return [batch.select(slice(i, i + size)) for i in range(0, len(batch), size)]


def by_instance(signals):
    out = {}
    for instance_id, signal in signals:
        out.setdefault(instance_id, []).append(signal)
    return out


def test_instance_key_fills_defaults_so_equal_effective_params_are_one_key():
    a = InstanceKey.of("momentum", {}, "AAA")
    b = InstanceKey.of("momentum", {"fast": 12, "slow": 26.0}, "AAA")
    assert a == b and hash(a) == hash(b) and a.id == b.id
    assert a.params == tuple(sorted(a.params))  # sorted by name
    assert InstanceKey.of("momentum", {"fast": 8}, "AAA") != a
    assert InstanceKey.of("momentum", {}, "BBB") != a
    assert a.id.startswith("momentum[") and a.id.endswith("]@AAA") and "fast=12" in a.id
    with pytest.raises(InvalidArgument, match="fast"):
        InstanceKey.of("momentum", {"fast": -1}, "AAA")
    with pytest.raises(NotFound):
        InstanceKey.of("no_such_strategy", {}, "AAA")
    with pytest.raises(InvalidArgument):
        InstanceKey.of("momentum", {}, "")


def test_attaching_equal_effective_params_shares_one_instance():
    core = ShardCore()
    assert core.attach(InstanceKey.of("breakout", {}, "AAA")) is True
    explicit_defaults = InstanceKey.of(
        "breakout", dict(InstanceKey.of("breakout", {}, "A").params), "AAA"
    )
    assert core.attach(explicit_defaults) is False
    assert core.instances() == {explicit_defaults: 2}
    assert core.stats()["instances"] == 1 and core.stats()["subscriptions"] == 2


def test_detaching_one_subscription_keeps_the_instance_for_the_other(bars):
    shared = InstanceKey.of("momentum", {}, "AAA")
    other = InstanceKey.of("momentum", {"fast": 8}, "AAA")
    core, reference = ShardCore(), ShardCore()
    core.attach(shared)
    core.attach(shared)
    core.attach(other)
    reference.attach(shared)
    first, rest = bars.select(slice(0, 1_500)), bars.select(slice(1_500, None))
    core.process(first)
    reference.process(first)
    assert core.detach(shared) is False  # one subscriber left
    assert core.instances() == {shared: 1, other: 1}
    assert core.detach(other) is True  # its last subscriber: removed
    got = by_instance(core.process(rest).signals)
    expected = by_instance(reference.process(rest).signals)
    assert set(got) == {shared.id} and got == expected and got[shared.id]
    assert core.detach(shared) is True and core.instances() == {}
    with pytest.raises(NotFound):
        core.detach(shared)


def test_a_late_attached_instance_is_warmed_up_and_signals_as_if_attached_from_the_start(bars):
    keys = [InstanceKey.of(name, {}, "BBB") for name in ALL]
    early, late = ShardCore(), ShardCore()
    for key in keys:
        early.attach(key)
    first, rest = bars.select(slice(0, 2_400)), bars.select(slice(2_400, None))
    early.process(first)
    late.process(first)  # history only: nothing attached yet
    for key in keys:
        assert late.attach(key) is True
        assert late.strategy(key).snapshot() == early.strategy(key).snapshot()
    got, expected = [], []
    for batch in chunks(rest, 50):
        got += late.process(batch).signals
        expected += early.process(batch).signals
    assert got == expected and len(got) > 5


def test_out_of_order_and_duplicate_bars_are_rejected_and_counted():
    t = 1_700_000_000_000
    batch = BarBatch(
        ["AAA", "AAA", "AAA", "BBB", "AAA", "AAA"],
        [t + 1, t + 2, t + 2, t + 1, t + 1, t + 3],
        [10, 11, 99, 20, 98, 12],
        [10, 11, 99, 20, 98, 12],
        [10, 11, 99, 20, 98, 12],
        [10, 11, 99, 20, 98, 12],
    )
    core = ShardCore()
    result = core.process(batch)
    assert (result.accepted, result.rejected) == (4, 2)
    assert result.last_time_ms == {"AAA": t + 3, "BBB": t + 1}
    history = core.history("AAA")
    assert history.time_ms.tolist() == [t + 1, t + 2, t + 3]
    assert history.close.tolist() == [10.0, 11.0, 12.0]  # the rejected 99 and 98 never applied
    again = core.process(batch.select(slice(5, 6)))  # t+3 once more: a duplicate
    assert (again.accepted, again.rejected) == (0, 1)
    stats = core.stats()
    assert stats["bars_processed"] == 4 and stats["bars_rejected"] == 3
    assert core.last_time_ms("AAA") == t + 3 and core.last_time_ms("ZZZ") is None


def test_history_is_bounded_and_keeps_the_newest_bars():
    bars = simulate_bars("AAA", 700, seed=3)
    core = ShardCore(history_limit=100)
    start = 0
    for size in (1, 7, 64, 3, 150, 99, 1, 101, 200, 74):  # below, across and above the limit
        core.process(bars.select(slice(start, start + size)))
        start += size
        history = core.history("AAA")
        lo = max(0, start - 100)
        assert history.time_ms.tolist() == bars.time_ms[lo:start].tolist()
        assert np.array_equal(history.high, bars.high[lo:start])
        assert np.array_equal(history.volume, bars.volume[lo:start])
    assert start == 700
    assert core.history("AAA", limit=5).time_ms.tolist() == bars.time_ms[-5:].tolist()
    assert len(core.history("AAA", limit=0)) == 0
    assert len(core.history("nothing")) == 0
    assert core.stats()["history_bars"] == 100


def test_history_is_stored_compactly():
    symbols = [f"S{i}" for i in range(20)]
    core = ShardCore(history_limit=1_000)
    core.process(simulate_bars(symbols, 1_200, seed=4))
    # 48 bytes a bar (int64 time + 5 float64), no per-bar Python objects.
    assert core.stats()["history_bytes"] == 20 * 1_000 * 48


def test_signals_over_a_multi_symbol_batch_equal_the_batch_path_per_symbol(bars):
    core = ShardCore()
    symbols = bars.symbols()
    for symbol in symbols:
        for name in ALL:
            core.attach(InstanceKey.of(name, {}, symbol))
    signals = []
    for batch in chunks(bars, 97):  # micro-batches cutting across timestamps
        signals += core.process(batch).signals
    got = by_instance(signals)
    for symbol in symbols:
        for name in ALL:
            expected = generate_signals(name, bars.for_symbol(symbol), {})
            seen = got[InstanceKey.of(name, {}, symbol).id]
            assert len(expected) > 3
            assert [(s.time_ms, s.direction, s.price) for s in seen] == [
                (s.time_ms, s.direction, s.price) for s in expected
            ]
            assert [s.strength for s in seen] == pytest.approx([s.strength for s in expected])
    # Signals come out in bar order.
    times = [s.time_ms for _, s in signals]
    assert times == sorted(times)


def test_snapshot_and_restore_continue_identically(bars):
    core = ShardCore(history_limit=500)
    key = InstanceKey.of("mean_reversion", {"period": 15}, "CCC")
    core.attach(key)
    core.attach(key)
    core.process(bars.select(slice(0, 2_000)))
    restored = ShardCore.restore(core.snapshot())
    assert restored.instances() == {key: 2} and restored.stats() == core.stats()
    rest = bars.select(slice(2_000, None))
    assert restored.process(rest).signals == core.process(rest).signals
    assert np.array_equal(restored.history("CCC").close, core.history("CCC").close)


def test_bad_input_is_refused():
    with pytest.raises(InvalidArgument):
        ShardCore(history_limit=0)
    core = ShardCore()
    with pytest.raises(InvalidArgument):
        core.process([1, 2, 3])  # type: ignore[arg-type]
    assert core.process(BarBatch.empty()).accepted == 0
