"""The gateway end to end: a real local Ray, real actors, a real grpc.aio server on port 0.

One gateway serves the whole module (Ray start-up costs seconds); tests use distinct symbols so
they do not disturb each other.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
import ray
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from supreme._proto import (
    common_pb2,
    market_data_pb2,
    market_data_pb2_grpc,
    order_pb2,
    order_pb2_grpc,
    risk_pb2,
    risk_pb2_grpc,
    strategy_pb2,
    strategy_pb2_grpc,
)
from supreme.core.model import BarBatch
from supreme.core.strategies import generate_signals
from supreme.data.simulator import simulate_bars
from supreme.server import convert
from supreme.server.app import Gateway
from supreme.server.config import GatewayConfig

pytestmark = pytest.mark.integration


class LoopThread:
    """An asyncio loop in a thread, so sync gRPC stubs can drive the async gateway."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 120.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def start_gateway(loop: LoopThread, state_dir, namespace: str, **overrides) -> Gateway:
    settings = {"port": 0, "metrics_port": 0, "feed": "none", "num_shards": 2} | overrides
    config = GatewayConfig(state_dir=str(state_dir), namespace=namespace, **settings)
    gateway = Gateway(config)
    loop.run(gateway.start())
    return gateway


@pytest.fixture(scope="module")
def loop(ray_session) -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("gateway-state")


@pytest.fixture(scope="module")
def gateway(loop, state_dir, ray_session) -> Iterator[Gateway]:
    gw = start_gateway(loop, state_dir, f"{ray_session}-gateway")
    yield gw
    loop.run(gw.stop(grace=1.0))


@pytest.fixture(scope="module")
def channel(gateway) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as ch:
        grpc.channel_ready_future(ch).result(timeout=10)
        yield ch


def publish(
    channel, batch: BarBatch, chunk: int = 1_000, pause: float = 0.0
) -> market_data_pb2.PublishBarsResponse:
    stub = market_data_pb2_grpc.MarketDataServiceStub(channel)

    def requests():
        for start in range(0, len(batch), chunk):
            part = batch.select(slice(start, start + chunk))
            yield market_data_pb2.PublishBarsRequest(columns=convert.columns_to_proto(part))
            time.sleep(pause)

    return stub.PublishBars(requests(), timeout=60)


def subscribe(channel, symbols, strategy, params=None, timeout=None, max_batch=0):
    stub = strategy_pb2_grpc.StrategyServiceStub(channel)
    call = stub.SubscribeSignals(
        strategy_pb2.SubscribeSignalsRequest(
            symbols=symbols, strategy=strategy, params=params or {}, max_batch=max_batch
        ),
        timeout=timeout,
    )
    first = next(call)
    assert first.WhichOneof("event") == "started"
    return call, first.started


def collect(call, n: int, timeout: float = 60.0) -> list:
    out = []
    deadline = time.monotonic() + timeout
    for response in call:
        if response.WhichOneof("event") == "signals":
            out.extend(convert.signal_from_proto(s) for s in response.signals.signals)
        else:
            out.append(convert.signal_from_proto(response.signal))
        if len(out) >= n or time.monotonic() > deadline:
            break
    return out


def renamed(batch: BarBatch, mapping: dict[str, str]) -> BarBatch:
    symbols = np.array([mapping[s] for s in batch.symbol.tolist()], dtype=object)
    return BarBatch(
        symbols, batch.time_ms, batch.open, batch.high, batch.low, batch.close, batch.volume
    )


def test_health_and_reflection_answer(channel):
    status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = {s.name for s in next(responses).list_services_response.service}
    assert {
        "supreme.v1.MarketDataService",
        "supreme.v1.OrderService",
        "grpc.health.v1.Health",
    } <= names


def test_published_bars_produce_exactly_the_batch_signals(channel, gateway):
    bars = renamed(simulate_bars(["A", "B"], 1_500, seed=21), {"A": "EQ-A", "B": "EQ-B"})
    # Breakout asks for batched delivery; the signals must be the same.
    batch = {"momentum": 0, "mean_reversion": 0, "breakout": 50}
    calls = {
        name: subscribe(channel, ["EQ-A", "EQ-B"], name, max_batch=batch[name])[0]
        for name in ("momentum", "mean_reversion", "breakout")
    }
    expected = {
        name: sorted(
            (s.symbol, s.time_ms, s.direction, s.price)
            for symbol in ("EQ-A", "EQ-B")
            for s in generate_signals(name, bars.for_symbol(symbol), {})
        )
        for name in calls
    }
    response = publish(channel, bars)
    assert response.accepted == len(bars) and response.rejected == 0
    for name, call in calls.items():
        got = collect(call, len(expected[name]))
        call.cancel()
        assert len(expected[name]) > 5
        assert sorted((s.symbol, s.time_ms, s.direction, s.price) for s in got) == expected[name]
    # The bars went over the shards' data-plane streams, not as actor calls.
    assert all(c.streaming for c in gateway.channels)
    assert sum(c.stream_batches for c in gateway.channels) > 0
    assert sum(c.actor_batches for c in gateway.channels) == 0


def test_out_of_order_duplicate_and_invalid_bars_are_rejected_with_reasons(channel):
    bars = simulate_bars("ORD", 5, seed=3)
    first = publish(channel, bars)
    assert first.accepted == 5
    rows = list(bars)
    stub = market_data_pb2_grpc.MarketDataServiceStub(channel)
    late = convert.bar_to_proto(rows[1])
    dup = convert.bar_to_proto(rows[4])
    bad = common_pb2.Bar(
        symbol="ORD", time_unix_ms=rows[4].time_ms + 10, open=1, high=0.5, low=1, close=1
    )
    fresh = convert.bar_to_proto(rows[4])
    fresh.time_unix_ms += 3_600_000
    response = stub.PublishBars(
        iter([market_data_pb2.PublishBarsRequest(bars=[late, dup, bad, fresh])])
    )
    assert response.accepted == 1 and response.rejected == 3
    assert dict(response.rejected_by_reason) == {"OUT_OF_ORDER": 1, "DUPLICATE": 1, "INVALID": 1}
    reasons = {r.index: r.reason for r in response.rejections}
    assert "OUT_OF_ORDER" in reasons[0] and "DUPLICATE" in reasons[1]
    assert "high" in reasons[2]


def test_two_subscribers_share_an_instance_and_one_leaving_does_not_disturb_the_other(
    channel, gateway, loop
):
    bars = renamed(simulate_bars("S", 1_200, seed=5), {"S": "SHARE"})
    first, started_a = subscribe(channel, ["SHARE"], "mean_reversion", {"period": 20})
    second, started_b = subscribe(channel, ["SHARE"], "mean_reversion", {})
    assert started_a.params == started_b.params  # equal effective params: one instance
    shard = gateway.cluster.shard_for("SHARE")
    instances = loop.run(_await(shard.instances.remote()))
    counts = {i["id"]: i["refcount"] for i in instances if i["symbol"] == "SHARE"}
    assert list(counts.values()) == [2]
    expected = generate_signals("mean_reversion", bars.for_symbol("SHARE"), {})
    half = len(bars) // 2
    publish(channel, bars.select(slice(0, half)))
    before = [s for s in expected if s.time_ms <= bars.time_ms[half - 1]]
    got_first = collect(first, len(before))
    first.cancel()
    publish(channel, bars.select(slice(half, None)))
    got_second = collect(second, len(expected))
    second.cancel()
    assert [s.time_ms for s in got_first] == [s.time_ms for s in before]
    assert [s.time_ms for s in got_second] == [s.time_ms for s in expected]


async def _await(ref):
    return await ref


def test_trading_instance_places_orders_through_risk_and_halted_blocks_them(channel, gateway, loop):
    strategies = strategy_pb2_grpc.StrategyServiceStub(channel)
    orders = order_pb2_grpc.OrderServiceStub(channel)
    risk = risk_pb2_grpc.RiskServiceStub(channel)
    started = strategies.StartStrategy(
        strategy_pb2.StartStrategyRequest(strategy="breakout", symbols=["TRD"], instance_id="trd-1")
    ).instance
    assert started.instance_id == "trd-1" and started.params["channel"] == 20
    publish(channel, renamed(simulate_bars("X", 1_500, seed=13), {"X": "TRD"}))
    loop.run(gateway.ingestor.drain())
    loop.run(gateway.router.drain())
    listed = orders.ListOrders(order_pb2.ListOrdersRequest(symbol="TRD")).orders
    assert any(o.status == common_pb2.ORDER_STATUS_FILLED for o in listed), [
        (o.status, o.reason) for o in listed
    ][:8]
    assert all(o.strategy == "trd-1" for o in listed)
    # Every denial carries its reason.
    assert all(o.reason for o in listed if o.status == common_pb2.ORDER_STATUS_DENIED)

    halted = risk.SetTradingState(
        risk_pb2.SetTradingStateRequest(state=common_pb2.TRADING_STATE_HALTED, reason="test")
    )
    assert halted.state.state == common_pb2.TRADING_STATE_HALTED
    with pytest.raises(grpc.RpcError) as info:
        orders.SubmitOrder(
            order_pb2.SubmitOrderRequest(
                client_order_id="manual-halted", symbol="TRD", side=common_pb2.SIDE_BUY, quantity=1
            )
        )
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    denied = orders.GetOrder(order_pb2.GetOrderRequest(client_order_id="manual-halted")).order
    assert denied.status == common_pb2.ORDER_STATUS_DENIED and denied.reason_code == "HALTED"
    risk.SetTradingState(
        risk_pb2.SetTradingStateRequest(state=common_pb2.TRADING_STATE_ACTIVE, reason="test")
    )
    publish(channel, renamed(simulate_bars("X", 30, seed=2), {"X": "MAN"}))
    loop.run(gateway.ingestor.drain())
    loop.run(gateway.router.drain())
    ok = orders.SubmitOrder(
        order_pb2.SubmitOrderRequest(
            client_order_id="manual-ok", symbol="MAN", side=common_pb2.SIDE_BUY, quantity=1
        )
    ).order
    assert ok.status == common_pb2.ORDER_STATUS_SUBMITTED
    again = orders.SubmitOrder(
        order_pb2.SubmitOrderRequest(
            client_order_id="manual-ok", symbol="MAN", side=common_pb2.SIDE_BUY, quantity=5
        )
    ).order
    assert again.quantity == 1  # the same client order id never makes a second order
    instances = strategies.ListStrategyInstances(strategy_pb2.ListStrategyInstancesRequest())
    assert "trd-1" in {i.instance_id for i in instances.instances}


BAD_REQUESTS = [
    (
        "strategy",
        "SubscribeSignals",
        strategy_pb2.SubscribeSignalsRequest(symbols=["A"], strategy="nope"),
        grpc.StatusCode.NOT_FOUND,
    ),
    (
        "strategy",
        "SubscribeSignals",
        strategy_pb2.SubscribeSignalsRequest(symbols=[], strategy="momentum"),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "strategy",
        "SubscribeSignals",
        strategy_pb2.SubscribeSignalsRequest(
            symbols=["A"], strategy="momentum", params={"fast": -1}
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "strategy",
        "SubscribeSignals",
        strategy_pb2.SubscribeSignalsRequest(
            symbols=["A"], strategy="momentum", params={"bogus": 1}
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "strategy",
        "StartStrategy",
        strategy_pb2.StartStrategyRequest(symbols=["A"], strategy="nope"),
        grpc.StatusCode.NOT_FOUND,
    ),
    (
        "strategy",
        "StartStrategy",
        strategy_pb2.StartStrategyRequest(symbols=[""], strategy="momentum"),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "strategy",
        "StopStrategy",
        strategy_pb2.StopStrategyRequest(instance_id="missing"),
        grpc.StatusCode.NOT_FOUND,
    ),
    (
        "order",
        "SubmitOrder",
        order_pb2.SubmitOrderRequest(symbol="A", side=common_pb2.SIDE_BUY, quantity=1),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "order",
        "SubmitOrder",
        order_pb2.SubmitOrderRequest(client_order_id="x1", symbol="A", quantity=1),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "order",
        "SubmitOrder",
        order_pb2.SubmitOrderRequest(
            client_order_id="x2", symbol="A", side=common_pb2.SIDE_BUY, quantity=float("nan")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "order",
        "SubmitOrder",
        order_pb2.SubmitOrderRequest(
            client_order_id="x3", symbol="", side=common_pb2.SIDE_BUY, quantity=1
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "order",
        "SubmitOrder",
        order_pb2.SubmitOrderRequest(
            client_order_id="x4",
            symbol="A",
            side=common_pb2.SIDE_BUY,
            quantity=1,
            order_type=common_pb2.ORDER_TYPE_LIMIT,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "order",
        "SubmitOrder",
        order_pb2.SubmitOrderRequest(client_order_id="x5", symbol="A", side=99, quantity=1),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "order",
        "CancelOrder",
        order_pb2.CancelOrderRequest(client_order_id="missing"),
        grpc.StatusCode.NOT_FOUND,
    ),
    (
        "order",
        "GetOrder",
        order_pb2.GetOrderRequest(client_order_id=""),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "order",
        "GetOrder",
        order_pb2.GetOrderRequest(client_order_id="missing"),
        grpc.StatusCode.NOT_FOUND,
    ),
    (
        "order",
        "ListOrders",
        order_pb2.ListOrdersRequest(limit=-1),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "order",
        "ListOrders",
        order_pb2.ListOrdersRequest(status=42),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "risk",
        "SetTradingState",
        risk_pb2.SetTradingStateRequest(),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "risk",
        "UpdateRiskLimits",
        risk_pb2.UpdateRiskLimitsRequest(limits={"no_such_limit": 1}),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "risk",
        "UpdateRiskLimits",
        risk_pb2.UpdateRiskLimitsRequest(limits={"daily_loss_pct": -2}),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "risk",
        "UpdateRiskLimits",
        risk_pb2.UpdateRiskLimitsRequest(),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "market",
        "GetBars",
        market_data_pb2.GetBarsRequest(symbol="NEVER-SEEN"),
        grpc.StatusCode.NOT_FOUND,
    ),
    (
        "market",
        "GetBars",
        market_data_pb2.GetBarsRequest(symbol=""),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
]

STUBS = {
    "strategy": strategy_pb2_grpc.StrategyServiceStub,
    "order": order_pb2_grpc.OrderServiceStub,
    "risk": risk_pb2_grpc.RiskServiceStub,
    "market": market_data_pb2_grpc.MarketDataServiceStub,
}


@pytest.mark.parametrize(("service", "method", "request_message", "code"), BAD_REQUESTS)
def test_bad_input_gets_the_right_status_and_the_server_stays_healthy(
    channel, service, method, request_message, code
):
    call = getattr(STUBS[service](channel), method)
    with pytest.raises(grpc.RpcError) as info:
        result = call(request_message, timeout=20)
        if method == "SubscribeSignals":
            next(result)
    assert info.value.code() == code, info.value.details()
    assert info.value.details()  # says what was wrong
    assert 'File "' not in info.value.details()  # and leaks no traceback
    status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert status.status == health_pb2.HealthCheckResponse.SERVING


def test_malformed_bar_columns_are_refused_without_killing_the_server(channel):
    stub = market_data_pb2_grpc.MarketDataServiceStub(channel)
    columns = common_pb2.BarColumns(symbols=["A", "B"], time_unix_ms=[1], open=[1.0])
    with pytest.raises(grpc.RpcError) as info:
        stub.PublishBars(iter([market_data_pb2.PublishBarsRequest(columns=columns)]))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "same" in info.value.details() or "must have" in info.value.details()


def test_a_restarted_shard_gets_its_subscriptions_back(channel, gateway):
    call, _ = subscribe(channel, ["RSH"], "breakout", timeout=60)
    shard = gateway.cluster.shard_for("RSH")
    before = dict(gateway._incarnations)
    ray.kill(shard, no_restart=False)  # Ray restarts it, empty
    name = f"shard-{gateway.cluster.shard_index('RSH')}"
    deadline = time.monotonic() + 60
    while gateway._incarnations.get(name) == before[name] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert gateway._incarnations[name] != before[name]
    bars = renamed(simulate_bars("X", 800, seed=17), {"X": "RSH"})
    expected = generate_signals("breakout", bars, {})
    publish(channel, bars)
    got = collect(call, len(expected))
    call.cancel()
    assert [(s.time_ms, s.direction) for s in got] == [(s.time_ms, s.direction) for s in expected]
    # The gateway found the restarted shard's new data-plane stream.
    link = gateway.channels[gateway.cluster.shard_index("RSH")]
    deadline = time.monotonic() + 30
    while not link.streaming and time.monotonic() < deadline:
        time.sleep(0.1)
    assert link.streaming and link.reconnects >= 1


def test_slow_subscriber_is_cut_off_while_a_fast_one_keeps_up(loop, tmp_path, ray_session):
    # A second gateway with small subscriber queues and small flushes (a flush's signals land
    # in the queues at once), with actors of its own. It reaches its shards by actor calls
    # only (--shard-transport ray), so that path is covered end to end too.
    gateway = start_gateway(
        loop,
        tmp_path,
        f"{ray_session}-slow",
        subscriber_queue_size=500,
        flush_max_bars=200,
        shard_transport="ray",
    )
    try:
        target = f"127.0.0.1:{gateway.port}"
        # The slow reader's connection keeps HTTP/2's initial 64 KiB window (no BDP growth),
        # so the transport cannot absorb the backlog that the gateway's queue must catch.
        slow_options = [("grpc.http2.bdp_probe", 0)]
        with (
            grpc.insecure_channel(target) as channel,
            grpc.insecure_channel(target, options=slow_options) as slow_channel,
        ):
            # A jumpy strategy on many symbols, so thousands of signals flow.
            symbols = [f"FAST{i}" for i in range(10)]
            bars = simulate_bars(symbols, 1_000, seed=9)
            params = {"period": 2, "k": 0.1}
            expected = sum(
                len(generate_signals("mean_reversion", bars.for_symbol(s), params)) for s in symbols
            )
            assert expected > 5_000
            slow, _ = subscribe(slow_channel, symbols, "mean_reversion", params, timeout=60)
            fast, _ = subscribe(channel, symbols, "mean_reversion", params)
            received = []
            reader = threading.Thread(target=lambda: received.extend(collect(fast, expected)))
            reader.start()
            # Paced below what one stream can carry, so only the reader that never reads lags.
            publish(channel, bars, chunk=100, pause=0.04)
            reader.join(60)
            assert len(received) == expected
            with pytest.raises(grpc.RpcError) as info:
                for _ in slow:
                    pass
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "cut off" in info.value.details()
            fast.cancel()
            assert sum(c.actor_batches for c in gateway.channels) > 0
            assert sum(c.stream_batches for c in gateway.channels) == 0
    finally:
        loop.run(gateway.stop(grace=1.0))


def test_trading_instances_orders_and_positions_survive_a_gateway_restart(
    loop, tmp_path, ray_session
):
    namespace = f"{ray_session}-restart"
    first = start_gateway(loop, tmp_path, namespace)
    with grpc.insecure_channel(f"127.0.0.1:{first.port}") as channel:
        strategies = strategy_pb2_grpc.StrategyServiceStub(channel)
        strategies.StartStrategy(
            strategy_pb2.StartStrategyRequest(
                strategy="breakout", symbols=["RST"], instance_id="keep-me"
            )
        )
        publish(channel, renamed(simulate_bars("X", 1_500, seed=13), {"X": "RST"}))
        loop.run(first.ingestor.drain())
        loop.run(first.router.drain())
        orders_before = (
            order_pb2_grpc.OrderServiceStub(channel)
            .ListOrders(order_pb2.ListOrdersRequest(symbol="RST"))
            .orders
        )
        portfolio_before = (
            order_pb2_grpc.OrderServiceStub(channel)
            .GetPortfolio(order_pb2.GetPortfolioRequest())
            .portfolio
        )
    assert any(o.status == common_pb2.ORDER_STATUS_FILLED for o in orders_before)
    # A full stop: the actors end too, so the second gateway rebuilds from disk alone.
    loop.run(first.stop(grace=1.0))

    second = start_gateway(loop, tmp_path, namespace)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{second.port}") as channel:
            instances = strategy_pb2_grpc.StrategyServiceStub(channel).ListStrategyInstances(
                strategy_pb2.ListStrategyInstancesRequest()
            )
            assert [i.instance_id for i in instances.instances] == ["keep-me"]
            stub = order_pb2_grpc.OrderServiceStub(channel)
            orders_after = stub.ListOrders(order_pb2.ListOrdersRequest(symbol="RST")).orders
            portfolio_after = stub.GetPortfolio(order_pb2.GetPortfolioRequest()).portfolio
        key = [(o.client_order_id, o.status, o.filled_quantity) for o in orders_before]
        assert [(o.client_order_id, o.status, o.filled_quantity) for o in orders_after] == key
        assert portfolio_after.cash == pytest.approx(portfolio_before.cash)
        assert [p.quantity for p in portfolio_after.positions] == pytest.approx(
            [p.quantity for p in portfolio_before.positions]
        )
        # The risk actor gone for good: health must say so.
        ray.kill(second.cluster.risk, no_restart=True)
        with grpc.insecure_channel(f"127.0.0.1:{second.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                status = health.Check(health_pb2.HealthCheckRequest(service="")).status
                if status == health_pb2.HealthCheckResponse.NOT_SERVING:
                    break
                time.sleep(0.2)
            assert status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        loop.run(second.stop(grace=1.0))


def test_a_file_feed_streams_every_bar_into_the_gateway(loop, tmp_path, ray_session):
    # --feed file:PATH replays a Parquet file through FileFeed (chunked, cleaned): every bar
    # of the named symbols reaches the shards, in order, and nothing else does.
    bars = simulate_bars(["FA", "FB", "FC"], 300, seed=23)
    path = tmp_path / "feed.parquet"
    bars.to_frame().to_parquet(path)
    gateway = start_gateway(
        loop,
        tmp_path / "state",
        f"{ray_session}-file-feed",
        feed=f"file:{path}",
        feed_symbols=("FA", "FB"),
        feed_timeframe="1h",
        feed_speed=0.0,
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            stub = market_data_pb2_grpc.MarketDataServiceStub(channel)
            deadline = time.monotonic() + 60
            while gateway.ingestor.stats.accepted < 600 and time.monotonic() < deadline:
                time.sleep(0.1)
            for symbol in ("FA", "FB"):
                got = stub.GetBars(market_data_pb2.GetBarsRequest(symbol=symbol))
                want = bars.for_symbol(symbol)
                assert list(got.bars.time_unix_ms) == want.time_ms.tolist()
                assert list(got.bars.close) == want.close.tolist()
            assert gateway.ingestor.stats.accepted == 600
            assert gateway.ingestor.last_time_ms("FC") is None
    finally:
        loop.run(gateway.stop(grace=1.0))


def _scrape(port: int) -> dict[tuple[str, tuple], float]:
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_bars_rejections_signals_and_subscriptions(channel, gateway):
    assert gateway.metrics_port  # a free port, served over HTTP
    before = _scrape(gateway.metrics_port)
    bars = renamed(simulate_bars("X", 400, seed=29), {"X": "MET"})
    call, _ = subscribe(channel, ["MET"], "mean_reversion", {"period": 2, "k": 0.1})
    expected = generate_signals("mean_reversion", bars, {"period": 2, "k": 0.1})
    publish(channel, bars)
    late = BarBatch.concat([bars.select(slice(0, 2)), bars.select(slice(399, 400))])
    publish(channel, late)  # two old bars (out of order) and the last one again (duplicate)
    got = collect(call, len(expected))
    during = _scrape(gateway.metrics_port)
    call.cancel()
    after = _scrape(gateway.metrics_port)

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return during.get(key, 0.0) - before.get(key, 0.0)

    assert delta("supreme_bars_received_total") == 403
    assert delta("supreme_bars_accepted_total") == 400
    assert delta("supreme_bars_rejected_total", reason="OUT_OF_ORDER") == 2
    assert delta("supreme_bars_rejected_total", reason="DUPLICATE") == 1
    assert delta("supreme_signals_total", strategy="mean_reversion") >= len(got) == len(expected)
    assert delta("supreme_bar_to_signal_seconds_count") >= 1
    assert delta("supreme_shard_batch_seconds_count") >= 1
    assert during[("supreme_subscriptions_active", ())] >= 1
    deadline = time.monotonic() + 10
    while (
        after[("supreme_subscriptions_active", ())] >= during[("supreme_subscriptions_active", ())]
    ):
        assert time.monotonic() < deadline, "the cancelled subscription was never counted off"
        time.sleep(0.1)
        after = _scrape(gateway.metrics_port)
    # The account gauges come from the risk actor.
    assert after[("supreme_trading_state", (("state", "ACTIVE"),))] in (0.0, 1.0)
    assert after[("supreme_equity", ())] > 0


def test_orders_cancels_and_state_changes_reach_the_audit_log(channel, gateway, loop):
    import json

    from supreme.server.audit import verify

    orders = order_pb2_grpc.OrderServiceStub(channel)
    risk = risk_pb2_grpc.RiskServiceStub(channel)
    publish(channel, renamed(simulate_bars("X", 30, seed=31), {"X": "AUD"}))
    loop.run(gateway.ingestor.drain())
    loop.run(gateway.router.drain())
    kept = orders.SubmitOrder(
        order_pb2.SubmitOrderRequest(
            client_order_id="audit-kept", symbol="AUD", side=common_pb2.SIDE_BUY, quantity=1
        )
    ).order
    cancelled = orders.SubmitOrder(
        order_pb2.SubmitOrderRequest(
            client_order_id="audit-cancelled", symbol="AUD", side=common_pb2.SIDE_BUY, quantity=2
        )
    ).order
    assert kept.status == cancelled.status == common_pb2.ORDER_STATUS_SUBMITTED
    orders.CancelOrder(order_pb2.CancelOrderRequest(client_order_id="audit-cancelled"))
    for state in (common_pb2.TRADING_STATE_REDUCING, common_pb2.TRADING_STATE_ACTIVE):
        risk.SetTradingState(risk_pb2.SetTradingStateRequest(state=state, reason="audit-test"))

    path = gateway.audit.path
    assert path.name == "audit.jsonl" and str(path.parent) == gateway.config.state_dir

    def audit_lines() -> list[dict]:
        loop.run(gateway.audit.flush())
        return [json.loads(line) for line in path.read_text().splitlines()]

    # Risk decisions arrive with the drained risk events (every 0.25 s).
    deadline = time.monotonic() + 10
    while not any(
        r["what"] == "risk.decision" and r["subject"] == "audit-cancelled" for r in audit_lines()
    ):
        assert time.monotonic() < deadline, "the risk decisions never reached the audit log"
        time.sleep(0.1)
    lines = audit_lines()

    def find(what: str, subject: str) -> list[dict]:
        return [r for r in lines if r["what"] == what and r["subject"] == subject]

    (submit_kept,) = find("order.submit", "audit-kept")
    (submit_cancelled,) = find("order.submit", "audit-cancelled")
    (cancel,) = find("order.cancel", "audit-cancelled")
    states = [r for r in lines if r["what"] == "risk.state" and r["who"] == "local"]
    assert [r["subject"] for r in states[-2:]] == ["REDUCING", "ACTIVE"]
    assert all(r["details"]["reason"] == "audit-test" for r in states[-2:])
    for record in (submit_kept, submit_cancelled, cancel, *states[-2:]):
        assert record["who"] == "local"
    assert submit_kept["outcome"] == "SUBMITTED" and submit_kept["details"]["quantity"] == 1
    assert submit_kept["details"]["symbol"] == "AUD"
    assert cancel["outcome"] == "CANCELED"
    decision = find("risk.decision", "audit-kept")[0]
    assert decision["who"] == "system" and decision["outcome"].startswith("APPROVED")
    # The risk actor's own record of the state changes comes through as well.
    assert any(r["what"] == "risk.state" and r["who"] == "system" for r in lines)
    assert [r["seq"] for r in lines] == list(range(1, len(lines) + 1))
    result = verify(path)
    assert result.ok and result.lines >= len(lines), result
