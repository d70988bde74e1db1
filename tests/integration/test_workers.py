"""The Ray actors for real: two SymbolShards, the RiskActor and the ExecutionActor on a local
Ray. One cluster serves the whole module (actors cost ~90 MB and a second or two each); tests
use distinct symbols so they do not disturb each other, and run in file order."""

from __future__ import annotations

import asyncio
import time
import zlib

import pytest
import ray

from supreme.core.backtest import BacktestConfig, run_backtest
from supreme.core.execution import PaperBrokerConfig
from supreme.core.model import Direction, OrderIntent, OrderStatus, Side, Signal
from supreme.core.shard import InstanceKey
from supreme.core.strategies import generate_signals
from supreme.data.simulator import simulate_bars
from supreme.workers import Cluster, ClusterConfig, shard_for_symbol
from supreme.workers.backtest import run_backtest_remote

pytestmark = pytest.mark.integration

ALL = ("momentum", "mean_reversion", "breakout")
SYMBOLS = ["AAA", "DDD", "BBB", "EEE"]  # two on each of the two shards


@pytest.fixture(scope="module")
def cluster(ray_session, tmp_path_factory):
    config = ClusterConfig(
        num_shards=2,
        state_dir=str(tmp_path_factory.mktemp("workers-state")),
        namespace=f"{ray_session}-workers",
        initial_cash=100_000.0,
    )
    deployed = Cluster(config)
    deployed.health(timeout=60)
    yield deployed
    deployed.shutdown(stop_ray=False)


@pytest.fixture(scope="module")
def ggg():
    return simulate_bars("GGG", 60, seed=9)


def wait_for_restart(actor, incarnation: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = ray.get(actor.ping.remote(), timeout=10)
            if answer["incarnation"] != incarnation:
                return answer
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError("the actor did not come back")
        time.sleep(0.2)


def summary(orders) -> dict:
    return {
        o.client_order_id: (o.status, o.side, o.quantity, o.filled_quantity, o.created_ms)
        for o in orders
    }


def test_symbols_map_to_shards_by_a_stable_hash():
    # crc32, not Python's per-process salted hash(): the same owner in every process and run.
    assert [shard_for_symbol(s, 2) for s in SYMBOLS] == [1, 0, 1, 0]
    assert shard_for_symbol("BTC-USD", 3) == zlib.crc32(b"BTC-USD") % 3 == 2
    owners = [shard_for_symbol(f"S{i}", 8) for i in range(800)]
    assert min(owners.count(k) for k in range(8)) > 60  # spread over every shard
    with pytest.raises(ValueError):
        shard_for_symbol("X", 0)


def test_every_actor_answers_a_ping(cluster):
    answers = asyncio.run(cluster.ping())
    assert set(answers) == {"risk", "execution-paper", "shard-0", "shard-1"}
    assert len({a["pid"] for a in answers.values()}) == 4  # four processes
    assert cluster.healthy()


def test_batches_through_two_shards_give_the_core_batch_path_signals(cluster):
    bars = simulate_bars(SYMBOLS, 600, seed=8)
    assert {cluster.shard_index(s) for s in SYMBOLS} == {0, 1}
    ray.get([cluster.shard_for(s).attach.remote(n, {}, s) for s in SYMBOLS for n in ALL])
    signals = []
    for start in range(0, len(bars), 250):  # micro-batches: one call per shard per batch
        parts = cluster.split(bars.select(slice(start, start + 250)))
        assert len(parts) == 2
        for result in ray.get([shard.process.remote(batch) for shard, batch in parts]):
            signals += result.signals
    got: dict[str, list] = {}
    for instance_id, signal in signals:
        got.setdefault(instance_id, []).append(signal)
    for symbol in SYMBOLS:
        for name in ALL:
            expected = generate_signals(name, bars.for_symbol(symbol), {})
            seen = got[InstanceKey.of(name, {}, symbol).id]
            assert [(s.time_ms, s.direction, s.price) for s in seen] == [
                (s.time_ms, s.direction, s.price) for s in expected
            ]
            assert [s.strength for s in seen] == pytest.approx([s.strength for s in expected])
    stats = ray.get([shard.stats.remote() for shard in cluster.shards])
    assert [s["symbols"] for s in stats] == [2, 2]
    assert sum(s["bars_processed"] for s in stats) == len(bars)
    history = ray.get(cluster.shard_for("AAA").history.remote("AAA", 10))
    assert history.time_ms.tolist() == bars.for_symbol("AAA").time_ms[-10:].tolist()


def test_attaching_equal_params_in_separate_calls_shares_one_instance(cluster):
    shard = cluster.shard_for("FFF")
    key = InstanceKey.of("breakout", {}, "FFF")
    first = ray.get(shard.attach.remote("breakout", {}, "FFF"))
    second = ray.get(shard.attach.remote("breakout", key.params_dict(), "FFF"))
    third = ray.get(shard.attach.remote(key))
    assert first["created"] and not second["created"] and not third["created"]
    assert first["id"] == second["id"] == third["id"] == key.id and third["refcount"] == 3
    assert ray.get(shard.detach.remote(key)) == {"id": key.id, "removed": False, "refcount": 2}
    listed = {i["id"]: i["refcount"] for i in ray.get(shard.instances.remote())}
    assert listed[key.id] == 2
    # Columns as a plain mapping work too (validated on arrival).
    bars = simulate_bars("FFF", 5, seed=1)
    columns = {name: getattr(bars, name) for name in ("symbol", "time_ms", "open", "high")}
    columns |= {"low": bars.low, "close": bars.close, "volume": bars.volume}
    assert ray.get(shard.process.remote(columns)).accepted == 5


def test_paper_orders_fill_on_the_next_bar_and_the_fills_reach_risk(cluster, ggg):
    risk, execution = cluster.risk, cluster.execution
    warm = ggg.select(slice(0, 30))
    assert ray.get(execution.on_bars.remote(warm)) == []
    assert ray.get(risk.on_bars.remote(warm)) == []
    last = warm[len(warm) - 1]
    signal = Signal("GGG", "it-instance", last.time_ms, Direction.LONG, 0.8, last.close)
    open_orders = ray.get(execution.open_orders.remote())
    (decision,) = ray.get(risk.on_signals.remote([("some-instance-id", signal)], open_orders))
    assert decision.approved and decision.quantity > 0
    (order,) = ray.get(execution.route.remote([decision]))
    assert order.status is OrderStatus.SUBMITTED

    following = ggg.select(slice(30, 31))
    # on_market: on_bars plus each fill's order as it now stands and the orders still open.
    ((fill, filled),), still_open = ray.get(execution.on_market.remote(following))
    assert filled.client_order_id == fill.client_order_id == order.client_order_id
    assert filled.status is OrderStatus.FILLED and still_open == []
    assert fill.time_ms == int(following.time_ms[0]) > order.created_ms
    assert fill.price == pytest.approx(float(following.open[0]) * (1 + 1e-4))  # 1 bp slippage
    # on_market returned after risk booked the fill: positions are already there.
    positions = ray.get(risk.positions.remote())
    assert positions["GGG"].quantity == pytest.approx(order.quantity)
    assert ray.get(risk.strategy_positions.remote()) == [
        {"strategy": "it-instance", "symbol": "GGG", "quantity": pytest.approx(order.quantity)}
    ]
    journal_view = ray.get(execution.portfolio.remote())
    risk_view, prices = ray.get(risk.portfolio.remote())
    assert journal_view.position("GGG") == risk_view.position("GGG")
    assert journal_view.cash == pytest.approx(risk_view.cash)
    assert prices["GGG"] == float(warm.close[-1])
    assert ray.get(execution.get.remote(order.client_order_id)).status is OrderStatus.FILLED


def test_halted_risk_actor_denies_and_the_denial_is_journaled(cluster, ggg):
    risk, execution = cluster.risk, cluster.execution
    status = ray.get(risk.set_trading_state.remote("HALTED", "integration test"))
    assert status["state"] == "HALTED"
    try:
        last = ggg[30]
        signal = Signal("HHH", "it-halted", last.time_ms, Direction.LONG, 0.5, 50.0)
        (decision,) = ray.get(risk.on_signals.remote([signal]))
        assert decision.denied and decision.reason_code.value == "HALTED"
        (order,) = ray.get(execution.route.remote([decision]))
        assert order.status is OrderStatus.DENIED
        denied = ray.get(execution.orders.remote(OrderStatus.DENIED))
        assert order.client_order_id in {o.client_order_id for o in denied}
        events = ray.get(risk.drain_events.remote())
        assert any(e["reason_code"] == "HALTED" and e["kind"] == "DECISION" for e in events)
    finally:
        ray.get(risk.set_trading_state.remote("ACTIVE", "integration test done"))


def test_a_killed_execution_actor_restarts_with_its_journal(cluster, ggg):
    risk, execution = cluster.risk, cluster.execution
    before_position = ray.get(risk.positions.remote())["GGG"].quantity
    bar = ggg[30]
    # A partial exit: GGG is at its position limit, reducing is always allowed.
    intent = OrderIntent("it-restart-1", "GGG", Side.SELL, quantity=1.0, time_ms=bar.time_ms)
    decision = ray.get(risk.evaluate.remote(intent, ray.get(execution.open_orders.remote())))
    (working,) = ray.get(execution.route.remote([decision]))
    assert working.status is OrderStatus.SUBMITTED
    journaled = summary(ray.get(execution.orders.remote()))
    incarnation = ray.get(execution.ping.remote())["incarnation"]

    ray.kill(execution, no_restart=False)  # SIGKILL; Ray restarts it (max_restarts)
    answer = wait_for_restart(execution, incarnation)
    assert answer["recovered_orders"] == len(journaled)
    # (The paper broker gives a re-registered order a new venue id: that is not compared.)
    assert summary(ray.get(execution.orders.remote())) == journaled
    assert [o.client_order_id for o in ray.get(execution.open_orders.remote())] == ["it-restart-1"]
    # The working order was re-registered with the paper broker: the next bar fills it, and
    # the fill reaches risk.
    (fill,) = ray.get(execution.on_bars.remote(ggg.select(slice(31, 32))))
    assert fill.client_order_id == "it-restart-1"
    after = ray.get(risk.positions.remote())["GGG"].quantity
    assert after == pytest.approx(before_position - 1.0)


def test_a_killed_risk_actor_restores_its_checkpoint(cluster):
    risk = cluster.risk
    positions = ray.get(risk.positions.remote())
    limits = ray.get(risk.update_limits.remote({"max_orders_per_minute": 77}))
    assert limits["max_orders_per_minute"] == 77
    incarnation = ray.get(risk.ping.remote())["incarnation"]
    ray.kill(risk, no_restart=False)
    answer = wait_for_restart(risk, incarnation)
    assert answer["restored"] is True
    assert ray.get(risk.positions.remote()) == positions
    status = ray.get(risk.status.remote())
    assert status["limits"]["max_orders_per_minute"] == 77 and status["state"] == "ACTIVE"


def test_a_backtest_runs_as_a_ray_task_with_progress(ray_session):
    bars = simulate_bars(["AAA", "BBB"], 800, seed=3)
    progress: asyncio.Queue = asyncio.Queue()
    options = {"initial_cash": 50_000.0, "fee_bps": 2.0, "slippage_bps": 1.0}
    report = asyncio.run(run_backtest_remote(bars, ["breakout"], options, progress))
    local = run_backtest(
        bars,
        ["breakout"],
        BacktestConfig(
            initial_cash=50_000.0, broker=PaperBrokerConfig(slippage_bps=1.0, fee_bps=2.0)
        ),
    )
    assert report.final_equity == local.final_equity and report.trades == local.trades
    updates = []
    while not progress.empty():
        updates.append(progress.get_nowait())
    assert len(updates) >= 10 and updates[-1] == (len(bars), len(bars))
