"""The client side of the command line: parsing, output, exit codes and the live view.

Server answers are scripted with the SDK's fake channel (tests/unit/_sdk_fake.py): the command
runs in a worker thread with ``SupremeClient.connect`` patched to return the fake's client.
"""

from __future__ import annotations

import io
import json

import grpc
import pytest
from _sdk_fake import OK, FakeServer, result

from supreme._proto import backtest_pb2, order_pb2, risk_pb2, strategy_pb2
from supreme.client import cli
from supreme.client.cli import build_parser, main
from supreme.client.errors import NotFoundError, UnavailableError
from supreme.client.live_view import Subscription, render_frame, run_live_view
from supreme.client.models import (
    CircuitBreakerView,
    PortfolioView,
    PositionView,
    PublishResult,
    RemoteOrder,
    RiskStateView,
)
from supreme.client.sdk import SupremeClient
from supreme.core.model import Direction, Order, OrderStatus, OrderType, Side, Signal
from supreme.data.simulator import simulate_bars
from supreme.server import convert


@pytest.fixture
def fake(monkeypatch):
    server = FakeServer(token=None)
    seen = {}

    def connect(target, **kwargs):
        seen.update(target=target, **kwargs)
        return server.client

    monkeypatch.setattr(SupremeClient, "connect", staticmethod(connect))
    server.connect_args = seen
    yield server
    server.close()


def _risk(state="ACTIVE"):
    return RiskStateView(
        state=state,
        manual_state=state,
        equity=100_000.0,
        peak_equity=101_000.0,
        drawdown=0.0099,
        breakers=[CircuitBreakerView("daily_loss", False, "HALTED")],
        limits={"max_order_notional": 10_000.0},
    )


# -- parsing --------------------------------------------------------------------------------------


def test_server_options_survive_a_nested_subcommand_on_either_side():
    parser = build_parser()
    args = parser.parse_args(["risk", "--target", "h:1", "set-state", "halted", "--reason", "x"])
    assert (args.target, args.risk_action, args.state, args.reason) == (
        "h:1",
        "set-state",
        "HALTED",
        "x",
    )
    args = parser.parse_args(["risk", "set-state", "HALTED", "--target", "h:2", "--json"])
    assert args.target == "h:2" and args.json
    args = parser.parse_args(["risk"])
    assert args.risk_action is None and not hasattr(args, "target")


def test_target_and_token_come_from_the_environment(monkeypatch, fake):
    monkeypatch.setenv("SUPREME_TARGET", "envhost:7")
    monkeypatch.setenv("SUPREME_TOKEN", "tok")
    future = fake.call(main, ["positions", "--timeout", "2.5"])
    fake.answer("OrderService/ListPositions", order_pb2.ListPositionsResponse())
    assert result(future) == 0
    assert fake.connect_args["target"] == "envhost:7"
    assert fake.connect_args["token"] == "tok" and fake.connect_args["timeout"] == 2.5
    future = fake.call(main, ["positions", "--target", "flag:8", "--token", "t2"])
    fake.answer("OrderService/ListPositions", order_pb2.ListPositionsResponse())
    assert result(future) == 0
    assert fake.connect_args["target"] == "flag:8" and fake.connect_args["token"] == "t2"


def test_missing_required_options_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["signals", "--strategy", "momentum"])
    assert caught.value.code == 2
    assert "--symbol" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["signals", "--symbol", "A", "--strategy", "m", "--param", "fast"], "key=value"),
        (["signals", "--symbol", "A", "--strategy", "m", "--param", "fast=x"], "a number"),
        (["signals", "--symbol", "A", "--strategy", "m", "--param", "o.fast=1"], "'o'"),
        (["signals", "--symbol", "A", "--strategy", "m", "--count", "0"], "--count"),
        (["start-strategy", "m", "--symbol", "A", "--param", "=3"], "key=value"),
        (["orders", "--timeout", "0"], "--timeout must be > 0"),
        (["publish", "/does/not/exist.csv"], "no such data file"),
    ],
)
def test_bad_input_exits_2_before_any_call(argv, message, capsys):
    assert main([*argv, "--target", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_params_go_to_the_server_as_numbers(fake):
    future = fake.call(
        main,
        ["start-strategy", "breakout", "--symbol", "A", "--symbol", "B", "--param", "window=30"],
    )
    info = convert.strategy_instance_info_to_proto(_instance())
    request = fake.answer(
        "StrategyService/StartStrategy", strategy_pb2.StartStrategyResponse(instance=info)
    )
    assert dict(request.params) == {"window": 30.0} and list(request.symbols) == ["A", "B"]
    assert result(future) == 0


def _instance():
    from supreme.client.models import StrategyInstanceInfo

    return StrategyInstanceInfo("i-1", "breakout", ["A", "B"], {"window": 30.0}, 0, 0, 0)


# -- error paths ----------------------------------------------------------------------------------


def test_a_closed_port_exits_1_with_a_clear_message(capsys):
    assert main(["orders", "--target", "127.0.0.1:1", "--timeout", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the Supreme server at 127.0.0.1:1")


def test_a_closed_port_named_by_the_environment_is_named_in_the_message(monkeypatch, capsys):
    monkeypatch.setenv("SUPREME_TARGET", "127.0.0.1:1")
    assert main(["risk", "--timeout", "1"]) == 1
    assert "at 127.0.0.1:1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (grpc.StatusCode.NOT_FOUND, 2),
        (grpc.StatusCode.INVALID_ARGUMENT, 2),
        (grpc.StatusCode.FAILED_PRECONDITION, 1),
        (grpc.StatusCode.UNAUTHENTICATED, 1),
        (grpc.StatusCode.INTERNAL, 1),
    ],
)
def test_server_errors_print_the_message_and_exit_by_kind(fake, capsys, code, status):
    future = fake.call(main, ["stop-strategy", "i-404"])
    fake.fail("StrategyService/StopStrategy", code, "no instance 'i-404'")
    assert result(future) == status
    assert capsys.readouterr().err == "error: no instance 'i-404'\n"


# -- commands against the scripted server -------------------------------------------------------


def test_orders_prints_a_table_or_json(fake, capsys):
    orders = [
        Order(
            "c-1",
            "BTC-USD",
            Side.BUY,
            0.5,
            status=OrderStatus.FILLED,
            filled_quantity=0.5,
            average_fill_price=100.0,
            created_ms=1_000,
        ),
        Order("c-2", "BTC-USD", Side.SELL, 0.0, status=OrderStatus.DENIED, reason="halted"),
    ]
    response = order_pb2.ListOrdersResponse(
        orders=[convert.order_to_proto(orders[0]), convert.order_to_proto(orders[1], "HALTED")]
    )
    future = fake.call(main, ["orders", "--open", "--status", "filled", "--limit", "5"])
    request = fake.answer("OrderService/ListOrders", response)
    assert request.open_only and request.limit == 5
    assert result(future) == 0
    out = capsys.readouterr().out
    assert "c-1" in out and "FILLED" in out and "[HALTED] halted" in out

    future = fake.call(main, ["orders", "--json"])
    fake.answer("OrderService/ListOrders", response)
    assert result(future) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[1]["status"] == "DENIED" and rows[1]["reason_code"] == "HALTED"
    assert rows[0]["side"] == "BUY" and rows[0]["limit_price"] is None


def test_submit_prints_a_denied_order_and_exits_0(fake, capsys):
    future = fake.call(main, ["submit", "buy", "BTC-USD", "0.1", "--limit", "99"])
    _, request, rpc = fake.unary("OrderService/SubmitOrder")
    assert request.order_type == 2 and request.limit_price == 99.0  # LIMIT
    denied = Order(
        request.client_order_id,
        "BTC-USD",
        Side.BUY,
        0.1,
        order_type=OrderType.LIMIT,
        limit_price=99.0,
        status=OrderStatus.DENIED,
        reason="trading halted",
    )
    response = order_pb2.SubmitOrderResponse(order=convert.order_to_proto(denied, "HALTED"))
    rpc.terminate(response, (), OK, "")
    assert result(future) == 0
    assert "DENIED" in capsys.readouterr().out


def test_risk_shows_state_breakers_and_limits(fake, capsys):
    future = fake.call(main, ["risk"])
    fake.answer(
        "RiskService/GetRiskState",
        risk_pb2.GetRiskStateResponse(state=convert.risk_state_view_to_proto(_risk())),
    )
    assert result(future) == 0
    out = capsys.readouterr().out
    assert "state ACTIVE" in out and "daily_loss" in out and "max_order_notional" in out


def test_risk_set_state_sends_the_state_and_reason(fake, capsys):
    future = fake.call(main, ["risk", "set-state", "halted", "--reason", "maintenance", "--json"])
    request = fake.answer(
        "RiskService/SetTradingState",
        risk_pb2.SetTradingStateResponse(state=convert.risk_state_view_to_proto(_risk("HALTED"))),
    )
    assert result(future) == 0
    assert request.state == 3 and request.reason == "maintenance"  # TRADING_STATE_HALTED
    assert json.loads(capsys.readouterr().out)["state"] == "HALTED"


def test_risk_set_limits_parses_pairs(fake, capsys):
    assert main(["risk", "set-limits", "max_order_notional", "--target", "127.0.0.1:1"]) == 2
    assert "NAME=NUMBER" in capsys.readouterr().err
    future = fake.call(main, ["risk", "set-limits", "max_order_notional=500", "--clear", "x"])
    request = fake.answer(
        "RiskService/UpdateRiskLimits",
        risk_pb2.UpdateRiskLimitsResponse(limits={"max_order_notional": 500.0}),
    )
    assert dict(request.limits) == {"max_order_notional": 500.0} and list(request.clear) == ["x"]
    assert result(future) == 0
    assert "500" in capsys.readouterr().out


def test_signals_prints_json_lines_until_count(fake, capsys):
    future = fake.call(
        main,
        [
            "signals",
            "--symbol",
            "BTC-USD",
            "--strategy",
            "momentum",
            "--param",
            "fast=8",
            "--count",
            "2",
            "--json",
        ],
    )
    _, request, rpc = fake.stream("StrategyService/SubscribeSignals")
    assert dict(request.params) == {"fast": 8.0}
    rpc.send_response(
        strategy_pb2.SubscribeSignalsResponse(
            started=strategy_pb2.SubscriptionStarted(
                subscription_id="s-1", params={"fast": 8.0}, symbols=["BTC-USD"]
            )
        )
    )
    for i in range(3):
        signal = Signal("BTC-USD", "momentum", 60_000 * i, Direction.LONG, 0.5, 100.0 + i)
        rpc.send_response(
            strategy_pb2.SubscribeSignalsResponse(signal=convert.signal_to_proto(signal))
        )
    assert result(future) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [line["price"] for line in lines] == [100.0, 101.0]
    assert lines[0]["direction"] == "LONG"
    assert "subscribed s-1" in captured.err and "fast=8" in captured.err


def test_publish_reads_the_file_and_prints_the_counts(fake, tmp_path, capsys):
    path = tmp_path / "bars.csv"
    simulate_bars(["AAA"], 20, seed=1).to_frame().to_csv(path, index=False)
    future = fake.call(main, ["publish", str(path), "--batch-size", "8"])
    _, rpc = fake.client_stream("MarketDataService/PublishBars")
    rpc.requests_closed()
    sizes = [len(rpc.take_request().columns.symbols) for _ in range(3)]
    assert sizes == [8, 8, 4]
    rejection = (3, "AAA", 0, "DUPLICATE: seen")
    rpc.terminate(
        convert.publish_result_to_proto(PublishResult(19, 1, [rejection], {"DUPLICATE": 1})),
        (),
        OK,
        "",
    )
    assert result(future) == 0
    out = capsys.readouterr().out
    assert "published 20 bars: 19 accepted, 1 rejected" in out and "DUPLICATE: 1" in out


def test_backtest_remote_shows_progress_and_the_summary(fake, tmp_path, capsys):
    from supreme.core.backtest import BacktestConfig, run_backtest

    bars = simulate_bars(["AAA"], 300, seed=2)
    path = tmp_path / "bars.csv"
    bars.to_frame().to_csv(path, index=False)
    report = run_backtest(bars, ["breakout"], BacktestConfig())
    future = fake.call(
        main, ["backtest", "--data", str(path), "--strategy", "breakout", "--remote", "grid:9"]
    )
    _, request, rpc = fake.stream("BacktestService/RunBacktest")
    assert len(request.bars.close) == 300 and request.strategies[0].name == "breakout"
    rpc.send_response(
        backtest_pb2.RunBacktestResponse(
            progress=backtest_pb2.BacktestProgress(bars_done=300, bars_total=300)
        )
    )
    rpc.send_response(
        backtest_pb2.RunBacktestResponse(report=convert.backtest_report_to_proto(report))
    )
    rpc.terminate((), OK, "")
    assert result(future) == 0
    captured = capsys.readouterr()
    assert fake.connect_args["target"] == "grid:9"
    assert "remote backtest" in captured.err and "100.0%" in captured.err
    assert captured.out.strip() == report.summary()


def test_health_exit_status_follows_the_serving_status(fake, capsys):
    from grpc_health.v1 import health_pb2

    future = fake.call(main, ["health"])
    fake.answer("Health/Check", health_pb2.HealthCheckResponse(status=2))  # NOT_SERVING
    assert result(future) == 1
    assert capsys.readouterr().out.strip() == "NOT_SERVING"


# -- the live view --------------------------------------------------------------------------------


class _Stream:
    def __init__(self, signals):
        self.subscription_id = "sub-1"
        self._signals = list(signals)
        self.cancelled = False

    def __iter__(self):
        yield from self._signals
        import time

        while not self.cancelled:
            time.sleep(0.01)

    def cancel(self):
        self.cancelled = True


class _FakeClient:
    """The SDK surface the live view uses."""

    def __init__(self):
        self.streams = []

    def strategy_instances(self):
        return [_instance()]

    def subscribe_signals(self, symbols, strategy, params):
        assert symbols == ["A", "B"] and strategy == "breakout" and params == {"window": 30.0}
        stream = _Stream([Signal("A", "breakout", 60_000, Direction.SHORT, 0.7, 42.0)])
        self.streams.append(stream)
        return stream

    def orders(self, limit):
        order = Order("c-9", "A", Side.SELL, 1.0, status=OrderStatus.DENIED, reason="halted")
        return [RemoteOrder.from_order(order, "HALTED")]

    def portfolio(self):
        position = PositionView("A", -1.0, 40.0, 0.0, -2.0, 42.0, -42.0)
        return PortfolioView(1_000.0, 958.0, 0.0, -2.0, 0.1, 42.0, -42.0, [position])

    def risk_state(self):
        raise UnavailableError("risk actor restarting")


def test_live_view_prints_compact_snapshots_off_a_terminal_and_stops_on_time():
    client = _FakeClient()
    out = io.StringIO()
    frames = run_live_view(client, duration=0.35, refresh=0.1, out=out)
    assert 3 <= frames <= 6
    text = out.getvalue()
    assert "\x1b[" not in text
    assert "signal 1970-01-01 00:01  A" in text and "SHORT" in text
    assert text.count("signal 1970") == 1  # each signal is printed once
    assert "equity 958.00" in text and "[HALTED] halted" in text
    assert "! risk: UnavailableError: risk actor restarting" in text
    assert client.streams and all(s.cancelled for s in client.streams)


def test_live_view_redraws_the_screen_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    client = _FakeClient()
    run_live_view(
        client,
        duration=0.15,
        refresh=0.05,
        out=out,
        subscriptions=[Subscription("breakout", ("A", "B"), {"window": 30.0})],
    )
    text = out.getvalue()
    assert text.count("\x1b[H\x1b[2J") >= 2 and text.endswith("\x1b[?25h")
    assert "POSITIONS" in text and "SIGNALS" in text and "ORDERS" in text


def test_live_view_frame_shows_risk_and_pnl():
    from supreme.client.live_view import _Frame

    frame = _Frame(
        "12:00:00",
        [],
        0,
        {"momentum": "live (s-1)"},
        [],
        _FakeClient().portfolio(),
        _risk("HALTED"),
    )
    text = render_frame(frame)
    assert "RISK  HALTED" in text and "drawdown 0.99%" in text
    assert "equity 958.00" in text and "[momentum] live (s-1)" in text and "(none)" in text


def test_live_view_keeps_going_when_a_subscription_fails():
    class Failing(_FakeClient):
        def subscribe_signals(self, symbols, strategy, params):
            raise NotFoundError("unknown strategy 'breakout'")

    out = io.StringIO()
    frames = run_live_view(Failing(), duration=0.15, refresh=0.05, out=out)
    text = out.getvalue()
    assert frames >= 2 and "equity 958.00" in text
    # A feed's status is printed when it changes, not at every refresh.
    assert text.count("[breakout] subscribe failed: unknown strategy 'breakout'") == 1


def test_parse_params_is_reused():
    assert cli._params_for(["fast=3", "slow=9"], "momentum") == {"fast": 3.0, "slow": 9.0}
    assert cli._params_for(["momentum.fast=3"], "momentum") == {"fast": 3.0}
    assert cli._params_for(None, "momentum") == {}
