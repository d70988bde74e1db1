"""The SDK against a scripted server (grpcio-testing's fake channel): requests, metadata,
and domain types back. The asyncio client, which the fake channel cannot drive, runs against a
tiny in-process grpc.aio server at the end of this file."""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import pandas as pd
import pytest
from _sdk_fake import OK, TOKEN, FakeServer, bounded, result
from grpc_health.v1 import health_pb2

from supreme._proto import (
    backtest_pb2,
    common_pb2,
    market_data_pb2,
    order_pb2,
    order_pb2_grpc,
    risk_pb2,
    strategy_pb2,
    strategy_pb2_grpc,
)
from supreme.client import (
    AsyncSupremeClient,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
)
from supreme.client.models import (
    CircuitBreakerView,
    OrderUpdate,
    PortfolioView,
    PositionView,
    PublishResult,
    RemoteOrder,
    RiskStateView,
    StrategyInstanceInfo,
)
from supreme.core.model import (
    Bar,
    BarBatch,
    Direction,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Portfolio,
    Position,
    Side,
    Signal,
    TimeInForce,
)
from supreme.server import convert


@pytest.fixture
def fake():
    server = FakeServer()
    yield server
    server.close()


def _order(**overrides) -> Order:
    fields = {
        "client_order_id": "c-1",
        "symbol": "BTC-USD",
        "side": Side.BUY,
        "quantity": 0.5,
        "status": OrderStatus.SUBMITTED,
        "created_ms": 1_000,
        "updated_ms": 1_000,
    }
    fields.update(overrides)
    return Order(**fields)


def _signal(i: int, direction: Direction = Direction.LONG) -> Signal:
    return Signal("BTC-USD", "momentum", 1_000 + i, direction, 0.5, 100.0 + i)


def _started(sub_id: str = "sub-7") -> strategy_pb2.SubscribeSignalsResponse:
    return strategy_pb2.SubscribeSignalsResponse(
        started=strategy_pb2.SubscriptionStarted(
            subscription_id=sub_id, params={"fast": 12.0, "slow": 26.0}, symbols=["BTC-USD"]
        )
    )


def _signal_message(signal: Signal) -> strategy_pb2.SubscribeSignalsResponse:
    return strategy_pb2.SubscribeSignalsResponse(signal=convert.signal_to_proto(signal))


def _bars(n: int, symbol: str = "BTC-USD") -> list[Bar]:
    return [Bar(symbol, 60_000 * i, 10.0, 11.0, 9.0, 10.5, 3.0) for i in range(n)]


# -- orders -----------------------------------------------------------------------------------


def test_submit_order_sends_the_request_and_the_token_and_returns_a_domain_order(fake):
    future = fake.call(
        fake.client.submit_order,
        "BTC-USD",
        "buy",
        0.5,
        order_type="limit",
        limit_price=99.5,
        time_in_force=TimeInForce.IOC,
        stop_loss=90.0,
    )
    metadata, request, rpc = fake.unary("OrderService/SubmitOrder")
    assert metadata["authorization"] == f"Bearer {TOKEN}"
    assert request.client_order_id.startswith("sdk-") and len(request.client_order_id) > 20
    assert request.side == common_pb2.SIDE_BUY and request.quantity == 0.5
    assert request.order_type == common_pb2.ORDER_TYPE_LIMIT and request.limit_price == 99.5
    assert request.time_in_force == common_pb2.TIME_IN_FORCE_IOC
    assert request.strategy == "manual" and request.stop_loss == 90.0
    assert not request.HasField("take_profit") and not request.HasField("stop_price")
    sent = _order(
        client_order_id=request.client_order_id,
        order_type=OrderType.LIMIT,
        limit_price=99.5,
        time_in_force=TimeInForce.IOC,
    )
    rpc.terminate(order_pb2.SubmitOrderResponse(order=convert.order_to_proto(sent)), (), OK, "")
    order = result(future)
    assert isinstance(order, RemoteOrder) and isinstance(order, Order)
    assert order.to_order() == sent
    assert order.side is Side.BUY and order.status is OrderStatus.SUBMITTED
    assert order.reason_code == ""


def test_a_risk_denial_is_an_order_with_status_denied_its_reason_and_reason_code(fake):
    future = fake.call(fake.client.submit_order, "BTC-USD", Side.SELL)  # risk sizes it
    _, request, rpc = fake.unary("OrderService/SubmitOrder")
    assert request.quantity == 0.0
    denied = _order(
        client_order_id=request.client_order_id,
        side=Side.SELL,
        quantity=0.0,
        status=OrderStatus.DENIED,
        reason="trading is halted: manual halt",
    )
    response = order_pb2.SubmitOrderResponse(order=convert.order_to_proto(denied, "HALTED"))
    rpc.terminate(response, (), OK, "")
    order = result(future)
    assert order.status is OrderStatus.DENIED
    assert order.reason == "trading is halted: manual halt" and order.reason_code == "HALTED"


def test_order_requests_are_checked_before_sending(fake):
    with pytest.raises(InvalidArgumentError, match="side must be one of BUY, SELL"):
        fake.client.submit_order("BTC-USD", "hold", 1.0)
    with pytest.raises(InvalidArgumentError, match="quantity must be > 0"):
        fake.client.submit_order("BTC-USD", "BUY", -1.0)
    with pytest.raises(InvalidArgumentError, match="status must be one of"):
        fake.client.orders(status="DONE")


def test_cancel_get_and_list_orders(fake):
    future = fake.call(fake.client.cancel_order, "c-1")
    canceled = _order(status=OrderStatus.CANCELED)
    request = fake.answer(
        "OrderService/CancelOrder",
        order_pb2.CancelOrderResponse(order=convert.order_to_proto(canceled)),
    )
    assert request.client_order_id == "c-1"
    assert result(future).status is OrderStatus.CANCELED

    future = fake.call(fake.client.get_order, "c-1")
    fake.fail("OrderService/GetOrder", grpc.StatusCode.NOT_FOUND, "no order 'c-1'")
    with pytest.raises(NotFoundError, match="no order 'c-1'"):
        result(future)

    future = fake.call(fake.client.orders, status="filled", symbol="BTC-USD", limit=5)
    orders = [_order(client_order_id=f"c-{i}", status=OrderStatus.FILLED) for i in range(3)]
    request = fake.answer(
        "OrderService/ListOrders",
        order_pb2.ListOrdersResponse(orders=[convert.order_to_proto(o) for o in orders]),
    )
    assert request.status == common_pb2.ORDER_STATUS_FILLED and request.symbol == "BTC-USD"
    assert request.limit == 5 and not request.open_only
    assert [o.to_order() for o in result(future)] == orders


def test_order_updates_stream_orders_with_their_fills(fake):
    stream = bounded(fake.client.order_updates, ["BTC-USD"])
    _, request, rpc = fake.stream("OrderService/StreamOrderUpdates")
    assert list(request.symbols) == ["BTC-USD"]
    fill = Fill("f-1", "c-1", "BTC-USD", Side.BUY, 0.5, 100.0, 0.01, 2_000)
    filled = _order(status=OrderStatus.FILLED, filled_quantity=0.5, average_fill_price=100.0)
    rpc.send_response(order_pb2.StreamOrderUpdatesResponse(order=convert.order_to_proto(_order())))
    rpc.send_response(
        order_pb2.StreamOrderUpdatesResponse(
            order=convert.order_to_proto(filled), fill=convert.fill_to_proto(fill)
        )
    )
    rpc.terminate((), OK, "")
    updates = bounded(list, stream)
    assert all(isinstance(u, OrderUpdate) for u in updates)
    assert updates[0].fill is None and updates[0].order.status is OrderStatus.SUBMITTED
    assert updates[1].fill == fill and updates[1].order.to_order() == filled


def test_positions_and_portfolio_come_back_valued(fake):
    portfolio = Portfolio(
        cash=1_000.0,
        positions={"BTC-USD": Position("BTC-USD", 2.0, 100.0, 5.0)},
        realized_pnl=5.0,
        fees=1.0,
    )
    prices = {"BTC-USD": 110.0}
    future = fake.call(fake.client.positions)
    fake.answer(
        "OrderService/ListPositions",
        order_pb2.ListPositionsResponse(
            positions=[convert.position_to_proto(portfolio.positions["BTC-USD"], 110.0)]
        ),
    )
    (position,) = result(future)
    assert position == PositionView("BTC-USD", 2.0, 100.0, 5.0, 20.0, 110.0, 220.0)

    future = fake.call(fake.client.portfolio)
    fake.answer(
        "OrderService/GetPortfolio",
        order_pb2.GetPortfolioResponse(portfolio=convert.portfolio_to_proto(portfolio, prices)),
    )
    view = result(future)
    assert isinstance(view, PortfolioView)
    assert view.equity == 1_220.0 and view.unrealized_pnl == 20.0 and view.gross_exposure == 220.0
    assert view.portfolio == portfolio


# -- risk -------------------------------------------------------------------------------------


def _risk_state(state: str = "HALTED") -> RiskStateView:
    return RiskStateView(
        state=state,
        manual_state=state,
        equity=99_000.0,
        peak_equity=100_000.0,
        drawdown=0.01,
        breakers=[CircuitBreakerView("daily_loss", True, "HALTED", "lost 3%", 5_000, 0)],
        limits={"max_order_notional": 10_000.0},
    )


def test_risk_state_and_trading_state_changes(fake):
    future = fake.call(fake.client.risk_state)
    fake.answer(
        "RiskService/GetRiskState",
        risk_pb2.GetRiskStateResponse(state=convert.risk_state_view_to_proto(_risk_state())),
    )
    state = result(future)
    assert state == _risk_state() and state.tripped[0].name == "daily_loss"

    future = fake.call(fake.client.set_trading_state, "halted", reason="maintenance")
    request = fake.answer(
        "RiskService/SetTradingState",
        risk_pb2.SetTradingStateResponse(state=convert.risk_state_view_to_proto(_risk_state())),
    )
    assert request.state == common_pb2.TRADING_STATE_HALTED and request.reason == "maintenance"
    assert result(future).state == "HALTED"
    with pytest.raises(InvalidArgumentError, match="ACTIVE, REDUCING, HALTED"):
        fake.client.set_trading_state("PAUSED")


def test_limits_and_breaker_resets(fake):
    future = fake.call(fake.client.update_risk_limits, {"max_order_notional": 500}, clear="x")
    request = fake.answer(
        "RiskService/UpdateRiskLimits",
        risk_pb2.UpdateRiskLimitsResponse(limits={"max_order_notional": 500.0}),
    )
    assert dict(request.limits) == {"max_order_notional": 500.0} and list(request.clear) == ["x"]
    assert result(future) == {"max_order_notional": 500.0}

    future = fake.call(fake.client.reset_circuit_breakers, ["daily_loss"])
    state = _risk_state("ACTIVE")
    request = fake.answer(
        "RiskService/ResetCircuitBreakers",
        risk_pb2.ResetCircuitBreakersResponse(
            reset=["daily_loss"], state=convert.risk_state_view_to_proto(state)
        ),
    )
    assert list(request.names) == ["daily_loss"]
    reset = result(future)
    assert reset.reset == ["daily_loss"] and reset.state == state


def test_risk_events_are_dicts(fake):
    stream = bounded(fake.client.risk_events)
    _, _, rpc = fake.stream("RiskService/StreamRiskEvents")
    event = {
        "time_ms": 7,
        "kind": "STATE_CHANGED",
        "outcome": "HALTED",
        "reason_code": "MANUAL",
        "message": "halted by hand",
        "details": {"by": "ops"},
    }
    rpc.send_response(risk_pb2.StreamRiskEventsResponse(event=convert.risk_event_to_proto(event)))
    rpc.terminate((), OK, "")
    assert bounded(list, stream) == [event]


# -- strategies and signals --------------------------------------------------------------------


def test_subscribe_waits_for_started_and_yields_domain_signals(fake):
    future = fake.call(fake.client.subscribe_signals, "BTC-USD", "momentum", {"fast": 12})
    metadata, request, rpc = fake.stream("StrategyService/SubscribeSignals")
    assert metadata["authorization"] == f"Bearer {TOKEN}"
    assert list(request.symbols) == ["BTC-USD"] and request.strategy == "momentum"
    assert dict(request.params) == {"fast": 12.0}
    time.sleep(0.05)
    assert not future.done(), "subscribe_signals returned before the server confirmed"
    rpc.send_response(_started())
    stream = result(future)
    assert stream.subscription_id == "sub-7"
    assert stream.params == {"fast": 12.0, "slow": 26.0} and stream.symbols == ["BTC-USD"]
    sent = [_signal(0), _signal(1, Direction.SHORT), _signal(2, Direction.FLAT)]
    for signal in sent:
        rpc.send_response(_signal_message(signal))
    received = [bounded(next, stream) for _ in sent]
    assert received == sent
    assert received[1].direction is Direction.SHORT
    stream.cancel()
    assert bounded(list, stream) == []  # iteration ends quietly after cancel()


def test_subscribe_asks_for_batches_and_yields_their_signals_one_by_one(fake):
    future = fake.call(fake.client.subscribe_signals, ["BTC-USD"], "momentum")
    _, request, rpc = fake.stream("StrategyService/SubscribeSignals")
    assert request.max_batch > 1
    rpc.send_response(_started())
    stream = result(future)
    sent = [_signal(i) for i in range(5)]
    batch = strategy_pb2.SignalBatch(signals=[convert.signal_to_proto(s) for s in sent[:4]])
    rpc.send_response(strategy_pb2.SubscribeSignalsResponse(signals=batch))
    rpc.send_response(_signal_message(sent[4]))
    assert [bounded(next, stream) for _ in sent] == sent
    stream.cancel()


def test_subscriber_cut_off_mid_stream_gets_resource_exhausted_after_its_signals(fake):
    future = fake.call(fake.client.subscribe_signals, ["BTC-USD"], "momentum")
    _, _, rpc = fake.stream("StrategyService/SubscribeSignals")
    rpc.send_response(_started())
    stream = result(future)
    received = []
    for i in range(3):
        rpc.send_response(_signal_message(_signal(i)))
        # The fake channel reports a termination before queued responses, so read each one
        # before the cut-off (a real channel delivers them in order anyway).
        received.append(bounded(next, stream))
    assert received == [_signal(i) for i in range(3)]
    rpc.terminate((), grpc.StatusCode.RESOURCE_EXHAUSTED, "subscriber sub-7 fell behind")
    with pytest.raises(ResourceExhaustedError, match="fell behind") as caught:
        bounded(next, stream)
    assert caught.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert isinstance(caught.value.__cause__, grpc.RpcError)


def test_subscribe_refused_before_started_raises_the_mapped_error(fake):
    future = fake.call(fake.client.subscribe_signals, ["BTC-USD"], "nope")
    _, _, rpc = fake.stream("StrategyService/SubscribeSignals")
    rpc.terminate((), grpc.StatusCode.NOT_FOUND, "unknown strategy 'nope'")
    with pytest.raises(NotFoundError, match="unknown strategy 'nope'"):
        result(future)


def test_subscribe_insists_on_started_first(fake):
    future = fake.call(fake.client.subscribe_signals, ["BTC-USD"], "momentum")
    _, _, rpc = fake.stream("StrategyService/SubscribeSignals")
    rpc.send_response(_signal_message(_signal(0)))
    with pytest.raises(InternalError, match="first event must be `started`"):
        result(future)


def test_subscribe_gives_up_when_started_does_not_come_in_time():
    fake = FakeServer(timeout=0.2)
    try:
        future = fake.call(fake.client.subscribe_signals, ["BTC-USD"], "momentum")
        fake.stream("StrategyService/SubscribeSignals")
        with pytest.raises(Exception, match="did not confirm the subscription") as caught:
            result(future)
        assert caught.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        fake.close()


def test_list_strategies_returns_the_registry_types(fake):
    from supreme.core.strategies import list_strategies

    infos = list_strategies()
    future = fake.call(fake.client.list_strategies)
    fake.answer(
        "StrategyService/ListStrategies",
        strategy_pb2.ListStrategiesResponse(
            strategies=[convert.strategy_info_to_proto(i) for i in infos]
        ),
    )
    assert result(future) == infos


def test_start_stop_and_list_strategy_instances(fake):
    info = StrategyInstanceInfo("i-1", "breakout", ["BTC-USD"], {"window": 20.0}, 5, 0, 0)
    message = convert.strategy_instance_info_to_proto(info)
    future = fake.call(fake.client.start_strategy, "breakout", "BTC-USD", {"window": 20})
    request = fake.answer(
        "StrategyService/StartStrategy", strategy_pb2.StartStrategyResponse(instance=message)
    )
    assert request.strategy == "breakout" and list(request.symbols) == ["BTC-USD"]
    assert request.instance_id == "" and dict(request.params) == {"window": 20.0}
    assert result(future) == info

    future = fake.call(fake.client.stop_strategy, "i-1")
    request = fake.answer(
        "StrategyService/StopStrategy", strategy_pb2.StopStrategyResponse(instance=message)
    )
    assert request.instance_id == "i-1" and result(future) == info

    future = fake.call(fake.client.strategy_instances)
    fake.answer(
        "StrategyService/ListStrategyInstances",
        strategy_pb2.ListStrategyInstancesResponse(instances=[message]),
    )
    assert result(future) == [info]


# -- market data ------------------------------------------------------------------------------


def _take_publish(fake):
    metadata, rpc = fake.client_stream("MarketDataService/PublishBars")
    bounded(rpc.requests_closed)
    requests = []
    # Every request was added before the close, so none of these waits.
    while True:
        try:
            requests.append(bounded(rpc.take_request, timeout=0.05))
        except pytest.fail.Exception:
            break
    return metadata, requests, rpc


def _publish_response(accepted: int, rejected: int = 0) -> market_data_pb2.PublishBarsResponse:
    return convert.publish_result_to_proto(
        PublishResult(
            accepted,
            rejected,
            [],
            {"DUPLICATE": rejected} if rejected else {},
        )
    )


def test_publish_bars_sends_columnar_batches_of_batch_size_and_returns_the_counts(fake):
    bars = _bars(12)
    future = fake.call(fake.client.publish_bars, iter(bars), batch_size=5)
    metadata, requests, rpc = _take_publish(fake)
    assert metadata["authorization"] == f"Bearer {TOKEN}"
    assert [len(r.columns.time_unix_ms) for r in requests] == [5, 5, 2]
    assert all(len(r.bars) == 0 for r in requests)
    sent = BarBatch.concat(convert.columns_from_proto(r.columns) for r in requests)
    assert list(sent) == bars
    response = market_data_pb2.PublishBarsResponse(
        accepted=11,
        rejected=1,
        rejections=[
            market_data_pb2.BarRejection(
                index=4, symbol="BTC-USD", time_unix_ms=240_000, reason="DUPLICATE: seen"
            )
        ],
        rejected_by_reason={"DUPLICATE": 1},
    )
    rpc.terminate(response, (), OK, "")
    published = result(future)
    assert published.accepted == 11 and published.rejected == 1
    assert published.rejections == [(4, "BTC-USD", 240_000, "DUPLICATE: seen")]
    assert published.rejections[0].reason == "DUPLICATE: seen"
    assert published.rejected_by_reason == {"DUPLICATE": 1}


def test_publish_bars_takes_a_dataframe_and_a_barbatch(fake):
    frame = BarBatch.from_bars(_bars(7)).to_frame()
    assert isinstance(frame, pd.DataFrame)
    future = fake.call(fake.client.publish_bars, frame, batch_size=4)
    _, requests, rpc = _take_publish(fake)
    assert [len(r.columns.symbols) for r in requests] == [4, 3]
    rpc.terminate(_publish_response(7), (), OK, "")
    assert result(future).accepted == 7

    future = fake.call(fake.client.publish_bars, BarBatch.from_bars(_bars(3)))
    _, requests, rpc = _take_publish(fake)
    assert [len(r.columns.symbols) for r in requests] == [3]
    rpc.terminate(_publish_response(3), (), OK, "")
    assert result(future) == PublishResult(3, 0, [], {})


def test_publish_bars_refuses_a_bad_frame_before_sending(fake):
    frame = pd.DataFrame({"open": [1.0]})
    with pytest.raises(InvalidArgumentError, match="bars need a time"):
        fake.client.publish_bars(frame)


def test_publish_bars_stops_at_a_bad_item_and_says_what_was_sent(fake):
    items = [*_bars(3), "not a bar"]
    future = fake.call(fake.client.publish_bars, items, batch_size=2)
    _, requests, rpc = _take_publish(fake)
    assert [len(r.columns.symbols) for r in requests] == [2]  # the partial chunk is not sent
    rpc.terminate(_publish_response(2), (), OK, "")
    with pytest.raises(InvalidArgumentError, match=r"item 3 is str .*2 bars before it were sent"):
        result(future)


def test_publish_bars_paces_to_the_rate(fake):
    started = time.monotonic()
    future = fake.call(fake.client.publish_bars, _bars(30), rate=100.0)  # batches of 10
    _, requests, rpc = _take_publish(fake)
    assert [len(r.columns.symbols) for r in requests] == [10, 10, 10]
    assert time.monotonic() - started >= 0.19  # two waits of 0.1 s
    rpc.terminate(_publish_response(30), (), OK, "")
    assert result(future).accepted == 30


def test_get_bars_returns_a_barbatch(fake):
    batch = BarBatch.from_bars(_bars(4))
    future = fake.call(fake.client.get_bars, "BTC-USD", limit=4)
    request = fake.answer(
        "MarketDataService/GetBars",
        market_data_pb2.GetBarsResponse(bars=convert.columns_to_proto(batch)),
    )
    assert request.symbol == "BTC-USD" and request.limit == 4
    assert list(result(future)) == list(batch)


# -- backtests and health ------------------------------------------------------------------------


def test_run_backtest_reports_progress_and_returns_the_report(fake):
    seen = []
    future = fake.call(
        fake.client.run_backtest,
        ["momentum", ("breakout", {"window": 30}, ["AAA"])],
        simulated=(["AAA", "BBB"], 500, 3),
        initial_cash=50_000,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    _, request, rpc = fake.stream("BacktestService/RunBacktest")
    assert [s.name for s in request.strategies] == ["momentum", "breakout"]
    assert dict(request.strategies[1].params) == {"window": 30.0}
    assert list(request.strategies[1].symbols) == ["AAA"]
    assert request.WhichOneof("data") == "simulated"
    assert list(request.simulated.symbols) == ["AAA", "BBB"] and request.simulated.bars == 500
    assert request.simulated.seed == 3 and request.initial_cash == 50_000
    assert not request.HasField("fee_bps")
    for done in (500, 1_000):
        rpc.send_response(
            backtest_pb2.RunBacktestResponse(
                progress=backtest_pb2.BacktestProgress(bars_done=done, bars_total=1_000)
            )
        )
    report = backtest_pb2.BacktestReport(
        initial_cash=50_000.0,
        final_equity=51_000.0,
        trades=4,
        equity_curve=[backtest_pb2.EquityPoint(time_unix_ms=1, equity=50_000.0)],
        report_json=json.dumps({"strategies": ["momentum", "breakout"], "trade_list": []}),
    )
    rpc.send_response(backtest_pb2.RunBacktestResponse(report=report))
    rpc.terminate((), OK, "")
    out = result(future)
    assert seen == [(500, 1_000), (1_000, 1_000)]
    assert out["final_equity"] == 51_000.0 and out["trades"] == 4
    assert out["strategies"] == ["momentum", "breakout"] and out["trade_list"] == []
    assert out["equity_curve"] == [[1, 50_000.0]]


def test_run_backtest_sends_bars_as_columns_and_needs_a_report(fake):
    batch = BarBatch.from_bars(_bars(5))
    future = fake.call(fake.client.run_backtest, "momentum", bars=batch)
    _, request, rpc = fake.stream("BacktestService/RunBacktest")
    assert request.WhichOneof("data") == "bars" and len(request.bars.close) == 5
    rpc.terminate((), OK, "")
    with pytest.raises(InternalError, match="without a report"):
        result(future)
    with pytest.raises(InvalidArgumentError, match="exactly one of bars= and simulated="):
        fake.client.run_backtest("momentum")


def test_run_backtest_errors_are_mapped(fake):
    future = fake.call(fake.client.run_backtest, "momentum", simulated=("AAA", 10))
    _, _, rpc = fake.stream("BacktestService/RunBacktest")
    rpc.terminate((), grpc.StatusCode.FAILED_PRECONDITION, "no Ray cluster")
    with pytest.raises(FailedPreconditionError, match="no Ray cluster"):
        result(future)


def test_health_uses_the_standard_health_service(fake):
    future = fake.call(fake.client.health)
    request = fake.answer(
        "Health/Check",
        health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING),
    )
    assert request.service == ""
    assert result(future) == "SERVING"


def test_without_a_token_no_authorization_metadata_is_sent():
    fake = FakeServer(token=None)
    try:
        future = fake.call(fake.client.positions)
        metadata, _, rpc = fake.unary("OrderService/ListPositions")
        rpc.terminate(order_pb2.ListPositionsResponse(), (), OK, "")
        assert result(future) == []
        assert "authorization" not in metadata
    finally:
        fake.close()


def test_a_response_the_sdk_cannot_read_is_an_internal_error(fake):
    future = fake.call(fake.client.get_order, "c-1")
    broken = common_pb2.Order(client_order_id="c-1", symbol="BTC-USD")  # side UNSPECIFIED
    fake.answer("OrderService/GetOrder", order_pb2.GetOrderResponse(order=broken))
    with pytest.raises(InternalError, match="unreadable response from the server: side"):
        result(future)


# -- the asyncio client, against a tiny in-process grpc.aio server ------------------------------


class _Orders(order_pb2_grpc.OrderServiceServicer):
    def __init__(self) -> None:
        self.metadata: list[dict[str, str]] = []

    async def SubmitOrder(self, request, context):
        self.metadata.append(dict(context.invocation_metadata()))
        order = _order(client_order_id=request.client_order_id, quantity=request.quantity)
        return order_pb2.SubmitOrderResponse(order=convert.order_to_proto(order))

    async def GetOrder(self, request, context):
        await context.abort(grpc.StatusCode.NOT_FOUND, f"no order {request.client_order_id!r}")


class _Strategies(strategy_pb2_grpc.StrategyServiceServicer):
    async def SubscribeSignals(self, request, context):
        yield _started("sub-async")
        for i in range(3):
            yield _signal_message(_signal(i))
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "cut off")


async def _async_scenario() -> None:
    server = grpc.aio.server()
    orders = _Orders()
    order_pb2_grpc.add_OrderServiceServicer_to_server(orders, server)
    strategy_pb2_grpc.add_StrategyServiceServicer_to_server(_Strategies(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with AsyncSupremeClient.connect(
            f"127.0.0.1:{port}", token=TOKEN, timeout=5
        ) as client:
            order = await client.submit_order("BTC-USD", "BUY", 0.25)
            assert isinstance(order, RemoteOrder) and order.quantity == 0.25
            assert orders.metadata[0]["authorization"] == f"Bearer {TOKEN}"
            with pytest.raises(NotFoundError, match="no order 'x'"):
                await client.get_order("x")
            stream = await client.subscribe_signals(["BTC-USD"], "momentum")
            assert stream.subscription_id == "sub-async"
            received = []
            with pytest.raises(ResourceExhaustedError, match="cut off"):
                async for signal in stream:
                    received.append(signal)
            assert received == [_signal(i) for i in range(3)]
    finally:
        await server.stop(None)


def test_async_client_round_trip_against_an_in_process_server():
    asyncio.run(asyncio.wait_for(_async_scenario(), 10))
