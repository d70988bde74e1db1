"""Hostile input: every RPC of every service, fuzzed over a real gRPC channel.

One gateway serves the module (its own Ray namespace, ``feed="none"``). Messages are built by
hypothesis from each request's DESCRIPTOR: floats NaN, +-inf, 1e308, -0.0, subnormals; ints at
their type's extremes; strings empty, blank, 10^5 characters long, unicode, control
characters; repeated fields empty or large; unknown enum values; maps with odd keys. A few
plausible values (real strategy names, parameter and limit names) are mixed in so the fuzz
also reaches past the first validation.

Every call must end in OK or one of the statuses a client can act on (never INTERNAL, UNKNOWN,
UNAVAILABLE or a hang), and every error must say what was wrong. After the run the gateway must
still be SERVING and answer a normal call. The outcome of every case is counted by RPC and
status and printed at the end of the module (run with ``-s`` to see it).
"""

from __future__ import annotations

import math
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from google.protobuf.descriptor import FieldDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supreme._proto import (
    backtest_pb2,
    backtest_pb2_grpc,
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
from supreme.core.risk import RiskConfig
from supreme.core.strategies import list_strategies
from supreme.server.app import MAX_MESSAGE_BYTES
from tests.integration.test_gateway import LoopThread, start_gateway

pytestmark = pytest.mark.integration

ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.OUT_OF_RANGE,
}
CALL_TIMEOUT = 5.0
# How long a never-ending server stream is kept open before the client cancels it.
STREAM_WINDOW = 0.15

OUTCOMES: Counter = Counter()  # (rpc, status name) -> cases


# -- value strategies -------------------------------------------------------------------------

SUBNORMAL = 5e-324
EXTREME_DOUBLES = [
    math.nan,
    -math.nan,
    math.inf,
    -math.inf,
    1e308,
    -1e308,
    sys.float_info.max,
    -sys.float_info.max,
    0.0,
    -0.0,
    SUBNORMAL,
    -SUBNORMAL,
    2.2250738585072014e-308 / 3,
    sys.float_info.min,
    -1e18,
    1.0,
    -1.0,
    0.5,
    100.0,
    1e-9,
    2.0**53 + 1,
]
doubles = st.one_of(
    st.sampled_from(EXTREME_DOUBLES),
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
)
INT_RANGES = {
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
}


def ints(low: int, high: int) -> st.SearchStrategy[int]:
    edges = [
        v for v in (low, low + 1, -1, 0, 1, 2, 5, 100, 10_000, high - 1, high) if low <= v <= high
    ]
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


STRATEGY_NAMES = [info.name for info in list_strategies()]
PARAM_NAMES = sorted({p.name for info in list_strategies() for p in info.params})
LIMIT_NAMES = [name for name in RiskConfig.__dataclass_fields__]
ODD_STRINGS = [
    "",
    " ",
    "\t\n\r ",
    "\x00",
    "\x00\x01\x02\x7f",
    "BTC-USD",
    "FUZZ-A",
    "FUZZ\x00B",
    "ünïcødé-€",
    "日本語",
    "😀🚀",
    "\u202e\u200b\ufeff",
    "a" * 100_000,
    "é" * 50_000,
    "../../etc/passwd",
    "'; DROP TABLE orders; --",
    "%s%n{0}",
    "manual",
    "HALTED",
    *STRATEGY_NAMES,
    *PARAM_NAMES,
    *LIMIT_NAMES,
]
# Protobuf strings are UTF-8: no lone surrogates.
text = st.one_of(
    st.sampled_from(ODD_STRINGS),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
)


def scalar(field: FieldDescriptor) -> st.SearchStrategy:
    t = field.type
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return doubles
    if t in INT_RANGES:
        return ints(*INT_RANGES[t])
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_STRING:
        return text
    if t == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if t == FieldDescriptor.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        # Unknown values too, set through the raw int (proto3 enums are open).
        return st.one_of(
            st.sampled_from(known), st.sampled_from([-1, len(known), 99, -(2**31), 2**31 - 1])
        )
    raise AssertionError(f"unhandled field type {t} of {field.full_name}")


def message_strategy(descriptor, depth: int = 0) -> st.SearchStrategy:
    """Messages of ``descriptor`` with hostile values in any subset of its fields."""
    from google.protobuf import message_factory

    cls = message_factory.GetMessageClass(descriptor)
    fields = {}
    for field in descriptor.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            value = (
                message_strategy(value_field.message_type, depth + 1)
                if value_field.message_type is not None
                else scalar(value_field)
            )
            fields[field.name] = st.dictionaries(scalar(key_field), value, max_size=6)
            continue
        if field.message_type is not None:
            if depth >= 3:
                continue
            element = message_strategy(field.message_type, depth + 1)
        else:
            element = scalar(field)
        if field.is_repeated:
            fields[field.name] = st.lists(element, max_size=6 if depth else 8)
        else:
            fields[field.name] = element

    @st.composite
    def build(draw):
        message = cls()
        names = draw(st.lists(st.sampled_from(sorted(fields)), unique=True)) if fields else []
        for name in names:
            value = draw(fields[name])
            field = descriptor.fields_by_name[name]
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                target = getattr(message, name)
                for k, v in value.items():
                    if field.message_type.fields_by_name["value"].message_type is not None:
                        target[k].CopyFrom(v)
                    else:
                        target[k] = v
            elif field.is_repeated:
                if field.message_type is not None:
                    getattr(message, name).extend(value)
                else:
                    getattr(message, name).extend(value)
            elif field.message_type is not None:
                getattr(message, name).CopyFrom(value)
            else:
                setattr(message, name, value)
        return message

    return build()


def plausible_params() -> st.SearchStrategy[dict[str, float]]:
    return st.dictionaries(
        st.one_of(st.sampled_from(PARAM_NAMES), text),
        st.one_of(doubles, st.integers(-5, 600).map(float)),
        max_size=4,
    )


# Requests with some plausible parts, so that the fuzz gets past the first check.
@st.composite
def plausible_subscribe(draw):
    return strategy_pb2.SubscribeSignalsRequest(
        symbols=draw(st.lists(text, max_size=4)),
        strategy=draw(st.one_of(st.sampled_from(STRATEGY_NAMES), text)),
        params=draw(plausible_params()),
        max_batch=draw(ints(0, 2**32 - 1)),
    )


@st.composite
def plausible_start(draw):
    return strategy_pb2.StartStrategyRequest(
        strategy=draw(st.one_of(st.sampled_from(STRATEGY_NAMES), text)),
        symbols=draw(st.lists(text, max_size=4)),
        params=draw(plausible_params()),
        instance_id=draw(st.one_of(st.just(""), text)),
    )


@st.composite
def plausible_limits(draw):
    return risk_pb2.UpdateRiskLimitsRequest(
        limits=draw(
            st.dictionaries(
                st.one_of(st.sampled_from(LIMIT_NAMES), text),
                st.one_of(doubles, ints(-(2**63), 2**63 - 1).map(float)),
                max_size=4,
            )
        ),
        clear=draw(st.lists(st.one_of(st.sampled_from(LIMIT_NAMES), text), max_size=3)),
    )


@st.composite
def plausible_order(draw):
    request = draw(message_strategy(order_pb2.SubmitOrderRequest.DESCRIPTOR))
    if draw(st.booleans()):
        request.client_order_id = f"fuzz-{draw(st.integers(0, 10**12))}"
        request.symbol = draw(st.sampled_from(["FUZZ-A", "FUZZ-B", "BTC-USD", "", " "]))
        request.side = draw(st.sampled_from([1, 2, 0, 7]))
    return request


@st.composite
def plausible_bar(draw):
    return common_pb2.Bar(
        symbol=draw(st.one_of(st.sampled_from(["FUZZ-A", "FUZZ-B"]), text)),
        time_unix_ms=draw(ints(-(2**63), 2**63 - 1)),
        open=draw(doubles),
        high=draw(doubles),
        low=draw(doubles),
        close=draw(doubles),
        volume=draw(doubles),
    )


@st.composite
def plausible_columns(draw):
    n = draw(st.integers(0, 6))
    extra = draw(st.sampled_from([0, 0, 0, 1, -1]))  # sometimes a ragged column

    def column(strategy, size):
        return draw(st.lists(strategy, min_size=max(size, 0), max_size=max(size, 0)))

    return common_pb2.BarColumns(
        symbols=column(st.one_of(st.sampled_from(["FUZZ-A", "FUZZ-C"]), text), n + extra),
        time_unix_ms=column(ints(-(2**63), 2**63 - 1), n),
        open=column(doubles, n),
        high=column(doubles, n),
        low=column(doubles, n),
        close=column(doubles, n),
        volume=column(doubles, draw(st.sampled_from([0, n]))),
    )


publish_requests = st.lists(
    st.one_of(
        message_strategy(market_data_pb2.PublishBarsRequest.DESCRIPTOR),
        st.builds(
            market_data_pb2.PublishBarsRequest,
            bars=st.lists(plausible_bar(), max_size=5),
            columns=plausible_columns(),
        ),
    ),
    max_size=4,
)


def small_backtest(request: backtest_pb2.RunBacktestRequest) -> backtest_pb2.RunBacktestRequest:
    """Keep accepted backtests small: a simulated length the server would accept is cut to a
    few hundred bars, and at most three symbols are simulated."""
    if request.WhichOneof("data") == "simulated":
        sim = request.simulated
        if 300 < sim.bars <= 1_000_000:
            sim.bars = 50 + sim.bars % 250
        if len(sim.symbols) > 3:
            del sim.symbols[3:]
    return request


@st.composite
def plausible_backtest(draw):
    request = backtest_pb2.RunBacktestRequest(
        strategies=[
            backtest_pb2.BacktestStrategy(
                name=draw(st.one_of(st.sampled_from(STRATEGY_NAMES), text)),
                params=draw(plausible_params()),
                symbols=draw(st.lists(text, max_size=2)),
            )
            for _ in range(draw(st.integers(0, 2)))
        ],
        initial_cash=draw(doubles),
    )
    if draw(st.booleans()):
        request.fee_bps = draw(doubles)
    if draw(st.booleans()):
        request.slippage_bps = draw(doubles)
    kind = draw(st.sampled_from(["simulated", "bars", "none"]))
    if kind == "simulated":
        request.simulated.CopyFrom(
            backtest_pb2.SimulatedData(
                symbols=draw(st.lists(text, max_size=3)),
                bars=draw(st.one_of(ints(-(2**31), 2**31 - 1), st.integers(1, 200))),
                seed=draw(ints(-(2**63), 2**63 - 1)),
            )
        )
    elif kind == "bars":
        request.bars.CopyFrom(draw(plausible_columns()))
    return small_backtest(request)


# -- the gateway --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loop(ray_session) -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def gateway(loop, tmp_path_factory, ray_session):
    gw = start_gateway(loop, tmp_path_factory.mktemp("fuzz-state"), f"{ray_session}-fuzz")
    yield gw
    loop.run(gw.stop(grace=1.0))
    summary()


@pytest.fixture(scope="module")
def channel(gateway) -> Iterator[grpc.Channel]:
    options = [
        ("grpc.max_send_message_length", 2 * MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", 2 * MAX_MESSAGE_BYTES),
    ]
    with grpc.insecure_channel(f"127.0.0.1:{gateway.port}", options=options) as ch:
        grpc.channel_ready_future(ch).result(timeout=10)
        yield ch


def summary() -> None:
    by_rpc: dict[str, Counter] = {}
    for (rpc, code), n in OUTCOMES.items():
        by_rpc.setdefault(rpc, Counter())[code] = n
    by_code: Counter = Counter()
    for (_, code), n in OUTCOMES.items():
        by_code[code] += n
    lines = ["", "fuzz cases by RPC and status:"]
    for rpc in sorted(by_rpc):
        counts = ", ".join(f"{c} {n}" for c, n in sorted(by_rpc[rpc].items()))
        lines.append(f"  {rpc:<40} {sum(by_rpc[rpc].values()):>5}  ({counts})")
    lines.append(f"  {'total':<40} {sum(by_code.values()):>5}  ({dict(sorted(by_code.items()))})")
    print("\n".join(lines))


# -- calling and checking -------------------------------------------------------------------------


def record(rpc: str, code: grpc.StatusCode, details: str | None, request) -> None:
    OUTCOMES[(rpc, code.name)] += 1
    shown = str(request)[:300]
    assert code in ALLOWED, f"{rpc} answered {code.name} ({details!r}) to {shown}"
    if code is not grpc.StatusCode.OK and not (
        # The stock grpc.health.v1 servicer answers an unknown service name with a bare
        # NOT_FOUND, as the health checking protocol specifies.
        rpc == "Health.Check" and code is grpc.StatusCode.NOT_FOUND
    ):
        assert details and details.strip(), f"{rpc} {code.name} without a message for {shown}"
    # The client refuses a status message over 16 KiB (grpc-message, percent-encoded) and
    # reports RESOURCE_EXHAUSTED instead: the real status and message are lost.
    assert "metadata size exceeds" not in (details or ""), (
        f"{rpc}: the server's status message was too large for the client ({details!r}); "
        f"the real status was lost. Request: {shown}"
    )


def unary(rpc: str, method, request) -> None:
    try:
        method(request, timeout=CALL_TIMEOUT)
    except grpc.RpcError as exc:
        record(rpc, exc.code(), exc.details(), request)
    else:
        record(rpc, grpc.StatusCode.OK, None, request)


def server_stream(rpc: str, method, request, *, first_then_cancel: bool = False) -> None:
    """Read a stream for a moment; a stream still open then (cancelled by us) counts as OK."""
    call = method(request, timeout=CALL_TIMEOUT * 4)
    cancelled = threading.Event()

    def cancel():
        cancelled.set()
        call.cancel()

    timer = threading.Timer(STREAM_WINDOW, cancel)
    if not first_then_cancel:
        timer.start()
    try:
        for response in call:
            assert response.ByteSize() >= 0
            if first_then_cancel:
                # The first answer of a subscription is `started`; a couple more would need
                # bars, so the subscription is cancelled once it has started.
                assert response.WhichOneof("event") == "started", response
                cancel()
                break
    except grpc.RpcError as exc:
        if cancelled.is_set() and exc.code() is grpc.StatusCode.CANCELLED:
            record(rpc, grpc.StatusCode.OK, None, request)
        else:
            record(rpc, exc.code(), exc.details(), request)
    else:
        record(rpc, grpc.StatusCode.OK, None, request)
    finally:
        timer.cancel()


def fuzz(strategy, examples: int):
    """Run ``check(message)`` for ``examples`` messages drawn from ``strategy``."""

    def decorate(check):
        return settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=False,
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
                HealthCheck.large_base_example,
                HealthCheck.function_scoped_fixture,
            ],
        )(given(strategy)(check))

    return decorate


def descriptor_of(cls) -> st.SearchStrategy:
    return message_strategy(cls.DESCRIPTOR)


# -- one test per RPC ----------------------------------------------------------------------------


def test_market_data_publish_bars(channel):
    stub = market_data_pb2_grpc.MarketDataServiceStub(channel)

    @fuzz(publish_requests, 250)
    def check(requests):
        try:
            response = stub.PublishBars(iter(requests), timeout=CALL_TIMEOUT)
        except grpc.RpcError as exc:
            record("MarketData.PublishBars", exc.code(), exc.details(), requests)
        else:
            record("MarketData.PublishBars", grpc.StatusCode.OK, None, requests)
            assert response.accepted + response.rejected >= 0
            for rejection in response.rejections:
                assert rejection.reason, rejection

    check()


SEEDED_SYMBOLS = ["FUZZ-SEED", "FUZZ-SEED\x00", "\x00", " FUZZ-SEED\t", "日本語-SEED"]


def seed_bars(channel) -> None:
    """One valid bar for each of SEEDED_SYMBOLS, far in the future of anything fuzzed."""
    stub = market_data_pb2_grpc.MarketDataServiceStub(channel)
    t = 4_000_000_000_000 + int(time.time() * 1000)
    bars = [
        common_pb2.Bar(symbol=s, time_unix_ms=t, open=1, high=2, low=0.5, close=1.5, volume=3)
        for s in SEEDED_SYMBOLS
    ]
    stub.PublishBars(iter([market_data_pb2.PublishBarsRequest(bars=bars)]), timeout=10)


def test_market_data_get_bars(channel):
    seed_bars(channel)
    stub = market_data_pb2_grpc.MarketDataServiceStub(channel)
    strategy = st.one_of(
        descriptor_of(market_data_pb2.GetBarsRequest),
        st.builds(
            market_data_pb2.GetBarsRequest,
            symbol=st.sampled_from(["FUZZ-A", "FUZZ-B", "FUZZ-C", *SEEDED_SYMBOLS]),
            limit=ints(-(2**31), 2**31 - 1),
        ),
    )

    @fuzz(strategy, 250)
    def check(request):
        unary("MarketData.GetBars", stub.GetBars, request)

    check()


def test_get_bars_returns_the_symbol_asked_for(channel):
    """Whatever symbol a bar was accepted under is the symbol its history comes back under."""
    seed_bars(channel)
    stub = market_data_pb2_grpc.MarketDataServiceStub(channel)
    wrong = {}
    for symbol in SEEDED_SYMBOLS:
        bars = stub.GetBars(market_data_pb2.GetBarsRequest(symbol=symbol), timeout=10).bars
        OUTCOMES[("MarketData.GetBars[seeded]", "OK")] += 1
        if not bars.symbols or set(bars.symbols) != {symbol}:
            wrong[symbol] = list(bars.symbols)
    assert not wrong, f"GetBars answered other symbols than asked for: {wrong}"


def test_strategy_list_strategies(channel):
    stub = strategy_pb2_grpc.StrategyServiceStub(channel)

    @fuzz(descriptor_of(strategy_pb2.ListStrategiesRequest), 20)
    def check(request):
        unary("Strategy.ListStrategies", stub.ListStrategies, request)

    check()


def test_strategy_subscribe_signals(channel):
    stub = strategy_pb2_grpc.StrategyServiceStub(channel)
    strategy = st.one_of(descriptor_of(strategy_pb2.SubscribeSignalsRequest), plausible_subscribe())

    @fuzz(strategy, 250)
    def check(request):
        server_stream(
            "Strategy.SubscribeSignals", stub.SubscribeSignals, request, first_then_cancel=True
        )

    check()


def test_strategy_start_strategy(channel):
    stub = strategy_pb2_grpc.StrategyServiceStub(channel)
    strategy = st.one_of(descriptor_of(strategy_pb2.StartStrategyRequest), plausible_start())

    @fuzz(strategy, 200)
    def check(request):
        unary("Strategy.StartStrategy", stub.StartStrategy, request)

    check()


def test_strategy_stop_strategy(channel):
    stub = strategy_pb2_grpc.StrategyServiceStub(channel)
    started = stub.ListStrategyInstances(strategy_pb2.ListStrategyInstancesRequest(), timeout=5)
    existing = [i.instance_id for i in started.instances] or ["none-yet"]
    strategy = st.one_of(
        descriptor_of(strategy_pb2.StopStrategyRequest),
        st.builds(strategy_pb2.StopStrategyRequest, instance_id=st.sampled_from(existing)),
    )

    @fuzz(strategy, 200)
    def check(request):
        unary("Strategy.StopStrategy", stub.StopStrategy, request)

    check()


def test_strategy_list_instances(channel):
    stub = strategy_pb2_grpc.StrategyServiceStub(channel)

    @fuzz(descriptor_of(strategy_pb2.ListStrategyInstancesRequest), 20)
    def check(request):
        unary("Strategy.ListStrategyInstances", stub.ListStrategyInstances, request)

    check()


def test_order_submit_order(channel):
    stub = order_pb2_grpc.OrderServiceStub(channel)

    @fuzz(plausible_order(), 400)
    def check(request):
        unary("Order.SubmitOrder", stub.SubmitOrder, request)

    check()


def test_order_cancel_get_list(channel):
    stub = order_pb2_grpc.OrderServiceStub(channel)
    ids = st.one_of(text, st.integers(0, 50).map(lambda i: f"fuzz-{i}"))

    @fuzz(
        st.one_of(
            descriptor_of(order_pb2.CancelOrderRequest),
            st.builds(order_pb2.CancelOrderRequest, client_order_id=ids),
        ),
        200,
    )
    def cancel(request):
        unary("Order.CancelOrder", stub.CancelOrder, request)

    @fuzz(
        st.one_of(
            descriptor_of(order_pb2.GetOrderRequest),
            st.builds(order_pb2.GetOrderRequest, client_order_id=ids),
        ),
        200,
    )
    def get(request):
        unary("Order.GetOrder", stub.GetOrder, request)

    @fuzz(descriptor_of(order_pb2.ListOrdersRequest), 250)
    def list_orders(request):
        unary("Order.ListOrders", stub.ListOrders, request)

    @fuzz(descriptor_of(order_pb2.ListPositionsRequest), 20)
    def positions(request):
        unary("Order.ListPositions", stub.ListPositions, request)

    @fuzz(descriptor_of(order_pb2.GetPortfolioRequest), 20)
    def portfolio(request):
        unary("Order.GetPortfolio", stub.GetPortfolio, request)

    failures = []
    for run in (cancel, get, list_orders, positions, portfolio):
        try:
            run()
        except AssertionError as exc:  # run every RPC's fuzz, then report all failures
            failures.append(str(exc).splitlines()[0])
    assert not failures, failures


def test_order_stream_order_updates(channel):
    stub = order_pb2_grpc.OrderServiceStub(channel)

    @fuzz(descriptor_of(order_pb2.StreamOrderUpdatesRequest), 25)
    def check(request):
        server_stream("Order.StreamOrderUpdates", stub.StreamOrderUpdates, request)

    check()


def test_risk_service(channel):
    stub = risk_pb2_grpc.RiskServiceStub(channel)

    @fuzz(descriptor_of(risk_pb2.GetRiskStateRequest), 20)
    def get_state(request):
        unary("Risk.GetRiskState", stub.GetRiskState, request)

    @fuzz(descriptor_of(risk_pb2.SetTradingStateRequest), 150)
    def set_state(request):
        unary("Risk.SetTradingState", stub.SetTradingState, request)

    @fuzz(st.one_of(descriptor_of(risk_pb2.UpdateRiskLimitsRequest), plausible_limits()), 300)
    def update_limits(request):
        unary("Risk.UpdateRiskLimits", stub.UpdateRiskLimits, request)

    @fuzz(
        st.one_of(
            descriptor_of(risk_pb2.ResetCircuitBreakersRequest),
            st.builds(risk_pb2.ResetCircuitBreakersRequest, names=st.lists(text, max_size=3)),
        ),
        150,
    )
    def reset(request):
        unary("Risk.ResetCircuitBreakers", stub.ResetCircuitBreakers, request)

    @fuzz(descriptor_of(risk_pb2.StreamRiskEventsRequest), 20)
    def events(request):
        server_stream("Risk.StreamRiskEvents", stub.StreamRiskEvents, request)

    failures = []
    for run in (get_state, set_state, update_limits, reset, events):
        try:
            run()
        except AssertionError as exc:  # run every RPC's fuzz, then report all failures
            failures.append(str(exc).splitlines()[0])
    # Leave trading ACTIVE for whatever runs next.
    stub.SetTradingState(
        risk_pb2.SetTradingStateRequest(state=common_pb2.TRADING_STATE_ACTIVE, reason="fuzz done"),
        timeout=CALL_TIMEOUT,
    )
    assert not failures, failures


def test_backtest_run_backtest(channel):
    stub = backtest_pb2_grpc.BacktestServiceStub(channel)
    strategy = st.one_of(
        descriptor_of(backtest_pb2.RunBacktestRequest).map(small_backtest), plausible_backtest()
    )

    @fuzz(strategy, 120)
    def check(request):
        try:
            responses = list(stub.RunBacktest(request, timeout=CALL_TIMEOUT * 6))
        except grpc.RpcError as exc:
            record("Backtest.RunBacktest", exc.code(), exc.details(), request)
        else:
            record("Backtest.RunBacktest", grpc.StatusCode.OK, None, request)
            assert responses and responses[-1].WhichOneof("event") == "report", responses[-1:]

    check()


def test_health_check(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    names = st.one_of(
        text,
        st.sampled_from(["", "supreme.v1.MarketDataService", "supreme.v1.RiskService"]),
    )

    @fuzz(st.builds(health_pb2.HealthCheckRequest, service=names), 100)
    def check(request):
        unary("Health.Check", stub.Check, request)

    check()


# -- large messages, built directly ---------------------------------------------------------------


def publish_one(channel, request) -> None:
    stub = market_data_pb2_grpc.MarketDataServiceStub(channel)
    try:
        stub.PublishBars(iter([request]), timeout=60)
    except grpc.RpcError as exc:
        record("MarketData.PublishBars[10^6]", exc.code(), exc.details(), "10^6 rows")
    else:
        record("MarketData.PublishBars[10^6]", grpc.StatusCode.OK, None, "10^6 rows")


def test_publish_bars_million_values(channel):
    n = 1_000_000
    # A million opens and nothing else.
    publish_one(
        channel,
        market_data_pb2.PublishBarsRequest(columns=common_pb2.BarColumns(open=np.full(n, np.nan))),
    )
    # A million times and opens, the other columns missing: ragged.
    columns = common_pb2.BarColumns(
        time_unix_ms=np.arange(n, dtype=np.int64), open=np.full(n, -0.0)
    )
    publish_one(channel, market_data_pb2.PublishBarsRequest(columns=columns))
    # A million complete rows of extreme values: all invalid, all counted.
    columns = common_pb2.BarColumns(
        symbols=["FUZZ-BIG"] * n,
        time_unix_ms=np.full(n, -(2**63), dtype=np.int64),
        open=np.full(n, np.inf),
        high=np.full(n, 1e308),
        low=np.full(n, SUBNORMAL),
        close=np.full(n, np.nan),
        volume=np.full(n, -1e308),
    )
    stub = market_data_pb2_grpc.MarketDataServiceStub(channel)
    started = time.perf_counter()
    response = stub.PublishBars(
        iter([market_data_pb2.PublishBarsRequest(columns=columns)]), timeout=60
    )
    record("MarketData.PublishBars[10^6]", grpc.StatusCode.OK, None, "10^6 rows")
    assert response.accepted == 0 and response.rejected == n
    assert len(response.rejections) == 1_000
    print(f"\n10^6 invalid rows answered in {time.perf_counter() - started:.1f} s")


def test_publish_bars_over_the_message_limit(channel, gateway, loop):
    # PublishBarsRequest{columns: BarColumns{open: packed doubles}}, encoded by hand so that the
    # 64 MiB payload costs one numpy allocation rather than 8.4 million Python floats.
    count = MAX_MESSAGE_BYTES // 8 + 1_000
    payload = np.zeros(count, dtype="<f8").tobytes()

    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            byte = value & 0x7F
            value >>= 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)

    inner = b"\x1a" + varint(len(payload)) + payload  # BarColumns.open = 3, packed
    raw = b"\x12" + varint(len(inner)) + inner  # PublishBarsRequest.columns = 2
    assert len(raw) > MAX_MESSAGE_BYTES
    assert struct.unpack("<d", raw[-8:])[0] == 0.0
    publish = channel.stream_unary(
        "/supreme.v1.MarketDataService/PublishBars",
        request_serializer=lambda b: b,
        response_deserializer=market_data_pb2.PublishBarsResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as info:
        publish(iter([raw]), timeout=60)
    code, details = info.value.code(), info.value.details()
    OUTCOMES[("MarketData.PublishBars[>64MiB]", code.name)] += 1
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details)
    assert details and "larger than max" in details, details
    assert_healthy(channel)


# -- afterwards ---------------------------------------------------------------------------------


def assert_healthy(channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "supreme.v1.MarketDataService", "supreme.v1.OrderService"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING, service
    strategies = strategy_pb2_grpc.StrategyServiceStub(channel).ListStrategies(
        strategy_pb2.ListStrategiesRequest(), timeout=10
    )
    assert {s.name for s in strategies.strategies} >= set(STRATEGY_NAMES)
    risk_pb2_grpc.RiskServiceStub(channel).GetRiskState(risk_pb2.GetRiskStateRequest(), timeout=10)


def test_gateway_healthy_after_the_fuzz(channel):
    assert_healthy(channel)
    total = sum(OUTCOMES.values())
    bad = {k: n for k, n in OUTCOMES.items() if k[1] not in {c.name for c in ALLOWED}}
    assert total >= 2_000, f"only {total} fuzz cases ran"
    assert not bad, bad
