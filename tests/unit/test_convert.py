"""Round trips through supreme.server.convert: domain -> protobuf -> domain."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from supreme._proto import common_pb2, risk_pb2, strategy_pb2
from supreme.client.models import (
    CircuitBreakerView,
    PublishResult,
    RemoteOrder,
    RiskStateView,
    StrategyInstanceInfo,
)
from supreme.core.errors import InvalidArgument
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


def _wire(message):
    """Through the wire format, as a real channel would carry it."""
    return type(message).FromString(message.SerializeToString())


def test_every_domain_enum_value_has_a_wire_value_and_back():
    for mapping, kind in (
        (convert.DIRECTION_TO_PROTO, Direction),
        (convert.SIDE_TO_PROTO, Side),
        (convert.ORDER_TYPE_TO_PROTO, OrderType),
        (convert.TIME_IN_FORCE_TO_PROTO, TimeInForce),
        (convert.ORDER_STATUS_TO_PROTO, OrderStatus),
    ):
        assert set(mapping) == set(kind)
        assert 0 not in mapping.values()  # UNSPECIFIED is never produced
    assert set(convert.TRADING_STATE_TO_PROTO) == {"ACTIVE", "REDUCING", "HALTED"}


def test_an_unspecified_enum_is_refused_with_the_accepted_names():
    with pytest.raises(InvalidArgument, match="side must be one of SIDE_BUY, SIDE_SELL; got 0"):
        convert.enum_from_proto(convert.SIDE_FROM_PROTO, 0, "side", "Side")


def test_bar_round_trip():
    bar = Bar("BTC-USD", 60_000, 10.0, 11.0, 9.0, 10.5, 3.0)
    assert convert.bar_from_proto(_wire(convert.bar_to_proto(bar))) == bar


def test_columns_round_trip_and_length_check():
    batch = BarBatch(["A", "B"], [1, 2], [10, 20], [11, 21], [9, 19], [10.5, 20.5], [1, 2])
    back = convert.columns_from_proto(_wire(convert.columns_to_proto(batch)))
    assert list(back) == list(batch)
    message = convert.columns_to_proto(batch)
    del message.close[-1]
    with pytest.raises(InvalidArgument, match="'close': 1"):
        convert.columns_from_proto(message)
    rows = [convert.bar_to_proto(b) for b in batch]
    assert list(convert.bars_to_columns(rows)) == list(batch)


def test_signal_round_trip():
    for direction in Direction:
        signal = Signal("ETH-USD", "breakout", 5, direction, 0.25, 2_000.0)
        assert convert.signal_from_proto(_wire(convert.signal_to_proto(signal))) == signal


def _orders():
    yield Order("c-1", "BTC-USD", Side.BUY, 0.5, created_ms=1, updated_ms=2)
    yield Order(
        "c-2",
        "ETH-USD",
        Side.SELL,
        2.0,
        order_type=OrderType.LIMIT,
        limit_price=1_999.5,
        time_in_force=TimeInForce.IOC,
        strategy="momentum",
        status=OrderStatus.PARTIALLY_FILLED,
        filled_quantity=1.0,
        average_fill_price=2_000.0,
        fees=0.2,
        venue_order_id="v-9",
        reason="partial",
        reduce_only=True,
    )
    yield Order("c-3", "SOL-USD", Side.BUY, 3.0, order_type=OrderType.STOP, stop_price=150.0)
    yield Order("c-4", "SOL-USD", Side.BUY, 0.0, status=OrderStatus.DENIED, reason="halted")


@pytest.mark.parametrize("order", list(_orders()), ids=lambda o: o.client_order_id)
def test_order_round_trip_plain_and_with_the_reason_code(order):
    assert convert.order_from_proto(_wire(convert.order_to_proto(order))) == order
    remote = convert.remote_order_from_proto(_wire(convert.order_to_proto(order, "HALTED")))
    assert isinstance(remote, RemoteOrder) and remote.reason_code == "HALTED"
    assert remote.to_order() == order
    assert RemoteOrder.from_order(order, "HALTED") == remote


def test_fill_round_trip():
    fill = Fill("f-1", "c-1", "BTC-USD", Side.SELL, 0.5, 100.0, 0.01, 7, "breakout")
    assert convert.fill_from_proto(_wire(convert.fill_to_proto(fill))) == fill


def test_position_round_trip_with_and_without_a_mark():
    position = Position("BTC-USD", -2.0, 100.0, 5.0)
    view = convert.position_view_from_proto(_wire(convert.position_to_proto(position, 90.0)))
    assert view.position == position
    assert convert.position_from_proto(convert.position_to_proto(position, 90.0)) == position
    assert (view.market_price, view.market_value, view.unrealized_pnl) == (90.0, -180.0, 20.0)
    unmarked = convert.position_view_from_proto(convert.position_to_proto(position, None))
    assert unmarked.market_price == 100.0 and unmarked.unrealized_pnl == 0.0


def test_portfolio_round_trip():
    portfolio = Portfolio(
        cash=500.0,
        positions={
            "A": Position("A", 1.0, 10.0, 0.0),
            "B": Position("B", -3.0, 20.0, 4.0),
        },
        realized_pnl=4.0,
        fees=0.5,
    )
    prices = {"A": 12.0, "B": 19.0}
    message = _wire(convert.portfolio_to_proto(portfolio, prices))
    assert convert.portfolio_from_proto(message) == portfolio
    view = convert.portfolio_view_from_proto(message)
    assert view.portfolio == portfolio
    assert view.equity == pytest.approx(portfolio.equity(prices))
    assert view.unrealized_pnl == pytest.approx(portfolio.unrealized_pnl(prices))
    assert view.gross_exposure == pytest.approx(12.0 + 57.0)
    assert view.net_exposure == pytest.approx(12.0 - 57.0)
    assert [p.symbol for p in view.positions] == ["A", "B"]


def test_strategy_info_round_trip_for_every_registered_strategy():
    from supreme.core.strategies import list_strategies

    for info in list_strategies():
        message = _wire(convert.strategy_info_to_proto(info))
        assert isinstance(message, strategy_pb2.StrategyInfo)
        assert convert.strategy_info_from_proto(message) == info


def test_strategy_instance_round_trip():
    info = StrategyInstanceInfo("i-1", "momentum", ["A", "B"], {"fast": 12.0}, 9, 3, 1)
    message = _wire(convert.strategy_instance_info_to_proto(info))
    assert convert.strategy_instance_info_from_proto(message) == info


def test_publish_result_round_trip():
    result = PublishResult(
        accepted=10,
        rejected=2,
        rejections=[(3, "A", 180_000, "DUPLICATE: seen"), (7, "B", 0, "INVALID: low > high")],
        rejected_by_reason={"DUPLICATE": 1, "INVALID": 1},
    )
    back = convert.publish_result_from_proto(_wire(convert.publish_result_to_proto(result)))
    assert back == result
    assert back.rejections[1].reason == "INVALID: low > high"


def test_risk_state_round_trip():
    view = RiskStateView(
        state="REDUCING",
        manual_state="ACTIVE",
        equity=95_000.0,
        peak_equity=100_000.0,
        drawdown=0.05,
        day_start_equity=98_000.0,
        gross_exposure=20_000.0,
        realized_pnl=-3_000.0,
        unrealized_pnl=-2_000.0,
        breakers=[
            CircuitBreakerView("drawdown", True, "REDUCING", "5% off peak", 10, 20),
            CircuitBreakerView("daily_loss", False, "HALTED"),
        ],
        limits={"max_drawdown": 0.1, "max_order_notional": 10_000.0},
    )
    message = _wire(convert.risk_state_view_to_proto(view))
    assert message.state == common_pb2.TRADING_STATE_REDUCING
    assert convert.risk_state_view_from_proto(message) == view


def test_risk_state_needs_its_states_but_tolerates_an_unset_breaker_state():
    message = risk_pb2.RiskState(
        state=common_pb2.TRADING_STATE_ACTIVE,
        manual_state=common_pb2.TRADING_STATE_ACTIVE,
        breakers=[risk_pb2.CircuitBreaker(name="errors")],
    )
    assert convert.risk_state_view_from_proto(message).breakers[0].state == "UNSPECIFIED"
    message.ClearField("manual_state")
    with pytest.raises(InvalidArgument, match="manual_state must be one of"):
        convert.risk_state_view_from_proto(message)


def test_risk_event_round_trip():
    event = {
        "time_ms": 12,
        "kind": "BREAKER_TRIPPED",
        "outcome": "HALTED",
        "reason_code": "DAILY_LOSS",
        "message": "lost 3% today",
        "details": {"loss": 0.03, "names": ["daily_loss"]},
    }
    assert convert.risk_event_from_proto(_wire(convert.risk_event_to_proto(event))) == event


def test_finite_limits_keeps_set_numbers_only():
    limits = {"a": 1, "b": 2.5, "c": None, "d": True, "e": math.inf, "f": "x"}
    assert convert.finite_limits(limits) == {"a": 1.0, "b": 2.5}


def test_backtest_report_round_trip():
    from supreme.core.backtest import BacktestConfig, run_backtest
    from supreme.data.simulator import simulate_bars

    report = run_backtest(
        simulate_bars(["AAA"], 400, seed=5), ["breakout"], BacktestConfig(initial_cash=10_000.0)
    )
    message = _wire(convert.backtest_report_to_proto(report))
    data = convert.backtest_report_from_proto(message)
    assert data == json.loads(json.dumps(report.to_dict()))
    assert data["final_equity"] == pytest.approx(report.final_equity)
    assert data["equity_curve"][-1] == [report.equity_curve[-1][0], report.equity_curve[-1][1]]


def test_backtest_report_without_json_keeps_the_figures():
    from supreme._proto import backtest_pb2

    message = backtest_pb2.BacktestReport(
        initial_cash=1.0,
        final_equity=2.0,
        trades=3,
        equity_curve=[backtest_pb2.EquityPoint(time_unix_ms=4, equity=2.0)],
    )
    data = convert.backtest_report_from_proto(message)
    assert data["final_equity"] == 2.0 and data["trades"] == 3
    assert data["equity_curve"] == [[4, 2.0]]
    message.report_json = "[1, 2]"
    with pytest.raises(InvalidArgument, match="JSON object"):
        convert.backtest_report_from_proto(message)


def test_columns_from_proto_without_validation_keeps_bad_rows():
    batch = BarBatch(["A"], [1], [10.0], [9.0], [11.0], [10.0], validate=False)  # low > high
    back = convert.columns_from_proto(convert.columns_to_proto(batch), validate=False)
    assert np.array_equal(back.low, [11.0]) and back.invalid_rows()
    with pytest.raises(ValueError, match="low must be <= high"):
        convert.columns_from_proto(convert.columns_to_proto(batch))
