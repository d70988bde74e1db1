"""Python SDK and the ``supreme`` command line.

Quick start::

    from supreme.client import SupremeClient

    with SupremeClient.connect("localhost:50051", token="...") as client:
        with client.subscribe_signals(["BTC-USD"], "momentum") as signals:
            for signal in signals:
                print(signal.symbol, signal.direction.name, signal.price)

:class:`AsyncSupremeClient` is the asyncio twin. Every failed call raises a
:class:`SupremeClientError` subclass (see :mod:`supreme.client.errors`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names are resolved on first use (PEP 562): importing ``supreme.client.models`` (which
# supreme.server.convert does) must not import the SDK, which imports convert: a cycle.
_EXPORTS = {
    "SupremeClient": "supreme.client.sdk",
    "AsyncSupremeClient": "supreme.client.sdk",
    "SignalStream": "supreme.client.sdk",
    "AsyncSignalStream": "supreme.client.sdk",
    "ResponseStream": "supreme.client.sdk",
    "AsyncResponseStream": "supreme.client.sdk",
    "SupremeClientError": "supreme.client.errors",
    "InvalidArgumentError": "supreme.client.errors",
    "NotFoundError": "supreme.client.errors",
    "AlreadyExistsError": "supreme.client.errors",
    "FailedPreconditionError": "supreme.client.errors",
    "ResourceExhaustedError": "supreme.client.errors",
    "UnauthenticatedError": "supreme.client.errors",
    "PermissionDeniedError": "supreme.client.errors",
    "UnavailableError": "supreme.client.errors",
    "DeadlineExceededError": "supreme.client.errors",
    "CancelledError": "supreme.client.errors",
    "UnimplementedError": "supreme.client.errors",
    "InternalError": "supreme.client.errors",
    "error_from_rpc": "supreme.client.errors",
    "BarRejection": "supreme.client.models",
    "BreakerReset": "supreme.client.models",
    "CircuitBreakerView": "supreme.client.models",
    "OrderUpdate": "supreme.client.models",
    "PortfolioView": "supreme.client.models",
    "PositionView": "supreme.client.models",
    "PublishResult": "supreme.client.models",
    "RemoteOrder": "supreme.client.models",
    "RiskStateView": "supreme.client.models",
    "StrategyInstanceInfo": "supreme.client.models",
}

__all__ = [
    "AlreadyExistsError",
    "AsyncResponseStream",
    "AsyncSignalStream",
    "AsyncSupremeClient",
    "BarRejection",
    "BreakerReset",
    "CancelledError",
    "CircuitBreakerView",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "OrderUpdate",
    "PermissionDeniedError",
    "PortfolioView",
    "PositionView",
    "PublishResult",
    "RemoteOrder",
    "ResourceExhaustedError",
    "ResponseStream",
    "RiskStateView",
    "SignalStream",
    "StrategyInstanceInfo",
    "SupremeClient",
    "SupremeClientError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "error_from_rpc",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from supreme.client.errors import (
        AlreadyExistsError,
        CancelledError,
        DeadlineExceededError,
        FailedPreconditionError,
        InternalError,
        InvalidArgumentError,
        NotFoundError,
        PermissionDeniedError,
        ResourceExhaustedError,
        SupremeClientError,
        UnauthenticatedError,
        UnavailableError,
        UnimplementedError,
        error_from_rpc,
    )
    from supreme.client.models import (
        BarRejection,
        BreakerReset,
        CircuitBreakerView,
        OrderUpdate,
        PortfolioView,
        PositionView,
        PublishResult,
        RemoteOrder,
        RiskStateView,
        StrategyInstanceInfo,
    )
    from supreme.client.sdk import (
        AsyncResponseStream,
        AsyncSignalStream,
        AsyncSupremeClient,
        ResponseStream,
        SignalStream,
        SupremeClient,
    )
