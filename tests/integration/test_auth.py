"""Bearer tokens and scopes on a real gateway: unary and streaming calls alike."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from supreme._proto import (
    market_data_pb2,
    market_data_pb2_grpc,
    order_pb2,
    order_pb2_grpc,
    risk_pb2,
    risk_pb2_grpc,
    strategy_pb2,
    strategy_pb2_grpc,
)
from supreme.core.errors import InvalidArgument
from supreme.server.app import Gateway
from supreme.server.auth import TokenStore, create_token, parse_ttl
from supreme.server.config import GatewayConfig
from tests.integration.test_gateway import LoopThread, start_gateway

pytestmark = pytest.mark.integration

RATE_LIMITED = 4  # calls the rate-limited token may make at once
_RUNNING: dict = {}


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    path = tmp_path_factory.mktemp("tokens") / "tokens.json"
    made = {}
    for scope in ("read", "trade", "admin"):
        made[scope], record = create_token(scope, name=f"{scope}-bot")
        TokenStore.append(path, record)
    made["limited"], record = create_token("read", name="rate-limit-test")
    TokenStore.append(path, record)
    made["expired"], record = create_token("admin", ttl_s=1, now_ms=1_000)  # expired in 1970
    TokenStore.append(path, record)
    return path, made


@pytest.fixture(scope="module")
def target(tokens, tmp_path_factory, ray_session):
    path, _ = tokens
    loop = LoopThread()
    gateway = start_gateway(
        loop,
        tmp_path_factory.mktemp("auth-state"),
        f"{ray_session}-auth",
        tokens_file=str(path),
        rate_limit=0.5,
        rate_burst=RATE_LIMITED,
    )
    _RUNNING["gateway"], _RUNNING["loop"] = gateway, loop
    yield f"127.0.0.1:{gateway.port}"
    loop.run(gateway.stop(grace=1.0))
    loop.close()


def _code(call):
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code(), caught.value.details()


def _md(token):
    return (("authorization", f"Bearer {token}"),) if token else None


def test_the_token_file_holds_hashes_only_and_is_private(tokens):
    path, made = tokens
    text = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert all(token not in text for token in made.values())
    assert {r["scope"] for r in json.loads(text)} == {"read", "trade", "admin"}
    assert all(len(r["sha256"]) == 64 for r in json.loads(text))


def test_missing_bad_or_expired_tokens_are_unauthenticated_even_on_streams(target, tokens):
    _, made = tokens
    with grpc.insecure_channel(target) as channel:
        orders = order_pb2_grpc.OrderServiceStub(channel)
        strategies = strategy_pb2_grpc.StrategyServiceStub(channel)
        market = market_data_pb2_grpc.MarketDataServiceStub(channel)
        for token in (None, "sup_deadbeef_nope", made["expired"], "not-even-shaped"):
            md = _md(token)
            code, details = _code(
                lambda md=md: orders.GetOrder(
                    order_pb2.GetOrderRequest(client_order_id="no-such-order"), metadata=md
                )
            )
            # Not NOT_FOUND: an unauthenticated caller learns nothing about what exists.
            assert code is grpc.StatusCode.UNAUTHENTICATED, (token, code, details)
            stream = strategies.SubscribeSignals(
                strategy_pb2.SubscribeSignalsRequest(symbols=["A"], strategy="momentum"),
                metadata=md,
            )
            assert _code(lambda s=stream: next(s))[0] is grpc.StatusCode.UNAUTHENTICATED
            publish = lambda md=md: market.PublishBars(  # noqa: E731
                iter([market_data_pb2.PublishBarsRequest()]), metadata=md
            )
            assert _code(publish)[0] is grpc.StatusCode.UNAUTHENTICATED
        # Health stays open.
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_scopes_nest_read_trade_admin(target, tokens):
    _, made = tokens
    with grpc.insecure_channel(target) as channel:
        orders = order_pb2_grpc.OrderServiceStub(channel)
        risk = risk_pb2_grpc.RiskServiceStub(channel)
        order = order_pb2.SubmitOrderRequest(
            client_order_id="auth-1", symbol="AUTH", side=1, order_type=1, quantity=1.0
        )
        orders.ListOrders(order_pb2.ListOrdersRequest(), metadata=_md(made["read"]))
        code, details = _code(lambda: orders.SubmitOrder(order, metadata=_md(made["read"])))
        assert code is grpc.StatusCode.PERMISSION_DENIED and "'trade'" in details
        # trade may submit (risk may refuse the order itself, but not the caller).
        try:
            orders.SubmitOrder(order, metadata=_md(made["trade"]))
        except grpc.RpcError as exc:
            assert exc.code() not in (
                grpc.StatusCode.UNAUTHENTICATED,
                grpc.StatusCode.PERMISSION_DENIED,
            )
        halt = risk_pb2.SetTradingStateRequest(state=3, reason="auth test")
        code, _ = _code(lambda: risk.SetTradingState(halt, metadata=_md(made["trade"])))
        assert code is grpc.StatusCode.PERMISSION_DENIED
        risk.SetTradingState(
            risk_pb2.SetTradingStateRequest(state=1, reason="auth test"),
            metadata=_md(made["admin"]),
        )


def test_the_audit_log_names_the_token_never_shows_it(target, tokens):
    _, made = tokens
    with grpc.insecure_channel(target) as channel:
        order = order_pb2.SubmitOrderRequest(
            client_order_id="auth-audit", symbol="AUDT", side=1, order_type=1, quantity=1.0
        )
        try:
            order_pb2_grpc.OrderServiceStub(channel).SubmitOrder(order, metadata=_md(made["trade"]))
        except grpc.RpcError as exc:  # risk may refuse the order; the audit line is written
            assert exc.code() is not grpc.StatusCode.UNAUTHENTICATED
    gateway, loop = _RUNNING["gateway"], _RUNNING["loop"]
    loop.run(gateway.audit.flush())
    text = Path(gateway.config.state_dir, "audit.jsonl").read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    mine = [x for x in lines if x["what"] == "order.submit" and x["subject"] == "auth-audit"]
    assert [x["who"] for x in mine] == [made["trade"].split("_")[1]]
    assert all(token not in text for token in made.values())


def test_each_token_has_a_rate_limit(target, tokens):
    # The module's gateway allows RATE_LIMITED calls at once a token, then 0.5 a second.
    _, made = tokens
    with grpc.insecure_channel(target) as channel:
        orders = order_pb2_grpc.OrderServiceStub(channel)
        for _ in range(RATE_LIMITED):
            orders.ListOrders(order_pb2.ListOrdersRequest(), metadata=_md(made["limited"]))
        code, details = _code(
            lambda: orders.ListOrders(order_pb2.ListOrdersRequest(), metadata=_md(made["limited"]))
        )
        assert code is grpc.StatusCode.RESOURCE_EXHAUSTED and "rate limit" in details
        # Another token's budget is its own.
        orders.ListOrders(order_pb2.ListOrdersRequest(), metadata=_md(made["admin"]))


def test_without_tokens_only_loopback_is_served(tmp_path):
    gateway = Gateway(GatewayConfig(host="0.0.0.0", state_dir=str(tmp_path)))
    with pytest.raises(InvalidArgument, match="without authentication"):
        gateway._auth_interceptors()
    allowed = Gateway(GatewayConfig(host="0.0.0.0", insecure_no_auth=True, state_dir="x"))
    assert allowed._auth_interceptors() == []
    assert Gateway(GatewayConfig(state_dir="x"))._auth_interceptors() == []  # loopback


def test_ttl_parsing():
    assert parse_ttl("30d") == 30 * 86400 and parse_ttl("15m") == 900 and parse_ttl("90") == 90
    with pytest.raises(InvalidArgument):
        parse_ttl("soon")
