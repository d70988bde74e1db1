"""One SDK error tree: every status code maps to its class, for unary calls and streams."""

from __future__ import annotations

import grpc
import pytest
from _sdk_fake import OK, FakeServer, bounded, result

from supreme._proto import risk_pb2
from supreme.client import (
    AlreadyExistsError,
    CancelledError,
    DeadlineExceededError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    SupremeClient,
    SupremeClientError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
    error_from_rpc,
)
from supreme.core.model import Bar
from supreme.server import convert

CODES = [
    (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgumentError),
    (grpc.StatusCode.OUT_OF_RANGE, InvalidArgumentError),
    (grpc.StatusCode.NOT_FOUND, NotFoundError),
    (grpc.StatusCode.ALREADY_EXISTS, AlreadyExistsError),
    (grpc.StatusCode.FAILED_PRECONDITION, FailedPreconditionError),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, ResourceExhaustedError),
    (grpc.StatusCode.UNAUTHENTICATED, UnauthenticatedError),
    (grpc.StatusCode.PERMISSION_DENIED, PermissionDeniedError),
    (grpc.StatusCode.UNAVAILABLE, UnavailableError),
    (grpc.StatusCode.DEADLINE_EXCEEDED, DeadlineExceededError),
    (grpc.StatusCode.CANCELLED, CancelledError),
    (grpc.StatusCode.UNIMPLEMENTED, UnimplementedError),
    (grpc.StatusCode.INTERNAL, InternalError),
    (grpc.StatusCode.UNKNOWN, InternalError),
    (grpc.StatusCode.DATA_LOSS, InternalError),
    (grpc.StatusCode.ABORTED, SupremeClientError),
]


@pytest.fixture(scope="module")
def fake():
    server = FakeServer()
    yield server
    server.close()


@pytest.mark.parametrize(("code", "cls"), CODES, ids=[c.name for c, _ in CODES])
def test_unary_failures_map_by_status_code_and_keep_the_details(fake, code, cls):
    future = fake.call(fake.client.get_order, "c-9")
    fake.fail("OrderService/GetOrder", code, f"details for {code.name}")
    with pytest.raises(cls) as caught:
        result(future)
    error = caught.value
    assert type(error) is cls and isinstance(error, SupremeClientError)
    assert error.code is code and error.details == f"details for {code.name}"
    assert str(error) == f"details for {code.name}"
    assert isinstance(error.__cause__, grpc.RpcError)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (grpc.StatusCode.RESOURCE_EXHAUSTED, ResourceExhaustedError),
        (grpc.StatusCode.UNAVAILABLE, UnavailableError),
        (grpc.StatusCode.PERMISSION_DENIED, PermissionDeniedError),
    ],
)
def test_stream_failures_during_iteration_map_too(fake, code, cls):
    stream = bounded(fake.client.risk_events)
    _, _, rpc = fake.stream("RiskService/StreamRiskEvents")
    event = {
        "time_ms": 1,
        "kind": "DECISION",
        "outcome": "APPROVED",
        "reason_code": "OK",
        "message": "",
        "details": {},
    }
    rpc.send_response(risk_pb2.StreamRiskEventsResponse(event=convert.risk_event_to_proto(event)))
    assert bounded(next, stream) == event
    rpc.terminate((), code, "stream ended badly")
    with pytest.raises(cls, match="stream ended badly"):
        bounded(next, stream)


def test_client_stream_failures_map(fake):
    bars = [Bar("BTC-USD", 60_000 * i, 10.0, 11.0, 9.0, 10.5) for i in range(3)]
    future = fake.call(fake.client.publish_bars, bars)
    _, rpc = fake.client_stream("MarketDataService/PublishBars")
    bounded(rpc.requests_closed)
    rpc.terminate(None, (), grpc.StatusCode.UNAUTHENTICATED, "missing bearer token")
    with pytest.raises(UnauthenticatedError, match="missing bearer token"):
        result(future)


def test_unauthenticated_and_permission_denied_on_a_unary_call(fake):
    future = fake.call(fake.client.set_trading_state, "HALTED")
    fake.fail("RiskService/SetTradingState", grpc.StatusCode.PERMISSION_DENIED, "read-only token")
    with pytest.raises(PermissionDeniedError, match="read-only token"):
        result(future)


def test_errors_also_subclass_the_matching_builtins():
    assert issubclass(InvalidArgumentError, ValueError)
    assert issubclass(NotFoundError, LookupError)
    assert issubclass(DeadlineExceededError, TimeoutError)
    assert issubclass(UnavailableError, ConnectionError)
    error = NotFoundError("no order 'x'")
    assert error.code is grpc.StatusCode.NOT_FOUND and str(error) == "no order 'x'"
    assert repr(error) == "NotFoundError(code=NOT_FOUND, details=\"no order 'x'\")"
    assert str(UnavailableError()) == "UNAVAILABLE"


class _OddError(grpc.RpcError):
    """An RpcError without the Call interface (as some interceptors raise)."""


class _BrokenCall(grpc.RpcError):
    def code(self):
        raise RuntimeError("half built")

    def details(self):
        return None


def test_error_from_rpc_survives_odd_rpc_errors():
    error = error_from_rpc(_OddError())
    assert type(error) is InternalError and error.code is grpc.StatusCode.UNKNOWN
    error = error_from_rpc(_BrokenCall())
    assert type(error) is InternalError and error.details == ""


def test_a_closed_port_is_unavailable_quickly():
    with SupremeClient.connect("127.0.0.1:1", timeout=2.0) as client:
        with pytest.raises(UnavailableError) as caught:
            client.orders()
        assert caught.value.code is grpc.StatusCode.UNAVAILABLE
        with pytest.raises(UnavailableError, match=r"did not become reachable within 0\.1 s"):
            client.wait_until_ready(timeout=0.1)


def test_bad_connection_settings_are_invalid_arguments(tmp_path):
    with pytest.raises(InvalidArgumentError, match="cannot read the TLS CA file"):
        SupremeClient.connect("localhost:1", tls_ca=tmp_path / "missing.pem")
    with pytest.raises(InvalidArgumentError, match="TLS files were given but tls=False"):
        SupremeClient.connect("localhost:1", tls=False, tls_ca="ca.pem")
    with pytest.raises(InvalidArgumentError, match="tls_cert and tls_key go together"):
        SupremeClient.connect("localhost:1", tls_cert="client.pem")
    with pytest.raises(InvalidArgumentError, match="cannot read the TLS key"):
        SupremeClient.connect(
            "localhost:1", tls_cert=tmp_path / "c.pem", tls_key=tmp_path / "missing.key"
        )
    with pytest.raises(InvalidArgumentError, match="token must not be empty"):
        SupremeClient.connect("localhost:1", token="  ")


def test_ok_is_not_an_error(fake):
    future = fake.call(fake.client.update_risk_limits, {"max_positions": 3})
    _, _, rpc = fake.unary("RiskService/UpdateRiskLimits")
    rpc.terminate(risk_pb2.UpdateRiskLimitsResponse(limits={"max_positions": 3.0}), (), OK, "")
    assert result(future) == {"max_positions": 3.0}
