"""A scripted server for SDK tests: grpcio-testing's fake channel, played from the test thread.

The client call runs in a worker thread (``FakeServer.call``); the test takes the RPC it made
(``unary``, ``stream``, ``client_stream``), checks the request and metadata, and answers.
Every wait is bounded, so a client that never makes the expected call fails the test instead
of hanging it.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import grpc
import grpc_testing
import pytest
from grpc_health.v1 import health_pb2

from supreme._proto import backtest_pb2, market_data_pb2, order_pb2, risk_pb2, strategy_pb2
from supreme.client.sdk import SupremeClient

SERVICES = {
    "MarketDataService": market_data_pb2,
    "StrategyService": strategy_pb2,
    "OrderService": order_pb2,
    "RiskService": risk_pb2,
    "BacktestService": backtest_pb2,
}
WAIT = 3.0
OK = grpc.StatusCode.OK
TOKEN = "s3cret-token"


def method(name: str) -> Any:
    """The descriptor of ``Service/Method`` (or ``Health/Check``)."""
    service, rpc = name.split("/")
    if service == "Health":
        return health_pb2.DESCRIPTOR.services_by_name["Health"].methods_by_name[rpc]
    return SERVICES[service].DESCRIPTOR.services_by_name[service].methods_by_name[rpc]


def _descriptors() -> list[Any]:
    out = [m.DESCRIPTOR.services_by_name[s] for s, m in SERVICES.items()]
    out.append(health_pb2.DESCRIPTOR.services_by_name["Health"])
    return out


def bounded(fn: Any, *args: Any, timeout: float = WAIT) -> Any:
    """``fn(*args)`` in a daemon thread, failing the test if it does not return in time."""
    box: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            box.append(fn(*args))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if errors:
        raise errors[0]
    if not box:
        pytest.fail(f"{getattr(fn, '__name__', fn)} did not return within {timeout} s")
    return box[0]


class FakeServer:
    def __init__(self, *, token: str | None = TOKEN, timeout: float | None = 5.0) -> None:
        self.channel = grpc_testing.channel(_descriptors(), grpc_testing.strict_real_time())
        self.client = SupremeClient(self.channel, token=token, timeout=timeout)
        self._pool = ThreadPoolExecutor(max_workers=4)

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Future:
        """Run a client call in a worker thread."""
        return self._pool.submit(fn, *args, **kwargs)

    def _take(self, kind: str, name: str) -> Any:
        return bounded(getattr(self.channel, kind), method(name))

    def unary(self, name: str) -> tuple[dict[str, str], Any, Any]:
        """(metadata as a dict, request, rpc) of the next unary call to ``name``."""
        metadata, request, rpc = self._take("take_unary_unary", name)
        return dict(metadata), request, rpc

    def stream(self, name: str) -> tuple[dict[str, str], Any, Any]:
        metadata, request, rpc = self._take("take_unary_stream", name)
        return dict(metadata), request, rpc

    def client_stream(self, name: str) -> tuple[dict[str, str], Any]:
        metadata, rpc = self._take("take_stream_unary", name)
        return dict(metadata), rpc

    def answer(self, name: str, response: Any) -> Any:
        """Answer the next unary call to ``name`` with OK; returns its request."""
        _, request, rpc = self.unary(name)
        rpc.terminate(response, (), OK, "")
        return request

    def fail(self, name: str, code: grpc.StatusCode, details: str) -> Any:
        _, request, rpc = self.unary(name)
        rpc.terminate(None, (), code, details)
        return request

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def result(future: Future, timeout: float = WAIT) -> Any:
    return future.result(timeout=timeout)
