"""The SDK's one error tree.

Every SDK method turns a failed RPC into a :class:`SupremeClientError` subclass chosen by the
status code (:func:`error_from_rpc`), so callers never handle ``grpc.RpcError`` themselves. The
original error stays reachable as ``__cause__``. A few of these also subclass the matching
built-in (``ValueError``, ``LookupError``, ``TimeoutError``, ``ConnectionError``) so generic
handlers catch them too.

A risk denial is not an error: ``submit_order`` returns the order with status DENIED.
"""

from __future__ import annotations

from typing import Any

import grpc

__all__ = [
    "AlreadyExistsError",
    "CancelledError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "SupremeClientError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "error_from_rpc",
]


class SupremeClientError(Exception):
    """Base of every error the SDK raises. ``code`` is the gRPC status code (the client-side
    checks use the code the server would have used), ``details`` the server's message."""

    default_code = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        details: str = "",
        code: grpc.StatusCode | None = None,
        trailing_metadata: tuple[tuple[str, Any], ...] = (),
    ) -> None:
        self.code: grpc.StatusCode = code if code is not None else self.default_code
        self.details: str = details
        self.trailing_metadata = tuple(trailing_metadata)
        super().__init__(details or self.code.name)

    def __str__(self) -> str:
        return self.details or self.code.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code.name}, details={self.details!r})"


class InvalidArgumentError(SupremeClientError, ValueError):
    """The request was malformed: unknown strategy parameter, bad price, unknown limit name."""

    default_code = grpc.StatusCode.INVALID_ARGUMENT


class NotFoundError(SupremeClientError, LookupError):
    """An unknown strategy, order, symbol or strategy instance."""

    default_code = grpc.StatusCode.NOT_FOUND


class AlreadyExistsError(SupremeClientError):
    """Something that must be unique exists already (for example a strategy instance id)."""

    default_code = grpc.StatusCode.ALREADY_EXISTS


class FailedPreconditionError(SupremeClientError):
    """The system is not in a state that allows the request (for example trading is halted)."""

    default_code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhaustedError(SupremeClientError):
    """A limit was hit: a signal subscriber that fell too far behind, a rate or a size."""

    default_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class UnauthenticatedError(SupremeClientError):
    """No token, or a token the server does not accept."""

    default_code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDeniedError(SupremeClientError):
    """The token is valid but may not do this."""

    default_code = grpc.StatusCode.PERMISSION_DENIED


class UnavailableError(SupremeClientError, ConnectionError):
    """The server (or a backend it needs) cannot be reached right now; retrying may help."""

    default_code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceededError(SupremeClientError, TimeoutError):
    """The call did not finish within its timeout."""

    default_code = grpc.StatusCode.DEADLINE_EXCEEDED


class CancelledError(SupremeClientError):
    """The call was cancelled (by the server, or by the client outside of ``cancel()``)."""

    default_code = grpc.StatusCode.CANCELLED


class UnimplementedError(SupremeClientError):
    """The server does not offer this method (an older or partial deployment)."""

    default_code = grpc.StatusCode.UNIMPLEMENTED


class InternalError(SupremeClientError):
    """The server failed unexpectedly, or sent a response the SDK cannot read."""

    default_code = grpc.StatusCode.INTERNAL


_BY_CODE: dict[grpc.StatusCode, type[SupremeClientError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.CANCELLED: CancelledError,
    grpc.StatusCode.UNIMPLEMENTED: UnimplementedError,
    grpc.StatusCode.INTERNAL: InternalError,
    grpc.StatusCode.UNKNOWN: InternalError,
    grpc.StatusCode.DATA_LOSS: InternalError,
}


def error_class_for(code: grpc.StatusCode | None) -> type[SupremeClientError]:
    return _BY_CODE.get(code, SupremeClientError) if code is not None else SupremeClientError


def error_from_rpc(exc: grpc.RpcError) -> SupremeClientError:
    """The SDK error for a failed RPC, chosen by its status code, with its details kept.

    Callers raise it ``from exc`` so the gRPC error stays the ``__cause__``.
    """
    code = _call(exc, "code")
    details = _call(exc, "details")
    trailing = _call(exc, "trailing_metadata") or ()
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    cls = error_class_for(code)
    try:
        trailing = tuple(trailing)
    except TypeError:
        trailing = ()
    return cls(str(details) if details else "", code, trailing)


def _call(exc: object, name: str) -> Any:
    method = getattr(exc, name, None)
    if not callable(method):
        return None
    try:
        return method()
    except Exception:  # a half-built RpcError must not hide the real failure
        return None
