"""The one place where exceptions become gRPC status codes."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import ray

from supreme.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)

log = logging.getLogger("supreme.server")

T = TypeVar("T")


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """Map an exception to the status code and message a client sees.

    Domain faults keep their message (it says what was wrong and what was expected). Anything
    unexpected is INTERNAL with a generic message; its traceback goes to the log, not the wire.
    An error raised inside an actor arrives wrapped in Ray's RayTaskError, whose text carries
    the remote traceback: the original exception is mapped instead, so no traceback, path or
    address reaches a client.
    """
    if isinstance(exc, ray.exceptions.RayTaskError) and exc.cause is not None:
        exc = exc.cause
    if isinstance(
        exc,
        ray.exceptions.RayActorError
        | ray.exceptions.ActorUnavailableError
        | ray.exceptions.GetTimeoutError,
    ):
        return grpc.StatusCode.UNAVAILABLE, (
            "a backend actor is not reachable right now; retry shortly"
        )
    # Model constructors raise plain ValueError naming the field: bad input, not a fault.
    if isinstance(exc, InvalidArgument | ValueError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, NotFound):
        return grpc.StatusCode.NOT_FOUND, str(exc.args[0]) if exc.args else str(exc)
    if isinstance(exc, AlreadyExists):
        return grpc.StatusCode.ALREADY_EXISTS, str(exc)
    if isinstance(exc, FailedPrecondition):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
    if isinstance(exc, ResourceExhausted):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)
    if isinstance(exc, Unavailable):
        return grpc.StatusCode.UNAVAILABLE, str(exc)
    return grpc.StatusCode.INTERNAL, "internal error; see the gateway's log"


# The status message travels in a response header (percent-encoded), and gRPC refuses headers
# over 16 KiB, which would replace the real status: messages that quote a long request value are
# cut well below that.
MAX_MESSAGE_CHARS = 1_000


def bounded(message: str) -> str:
    """``message`` cut to :data:`MAX_MESSAGE_CHARS` characters, saying so."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - 40] + f"... ({len(message)} characters, cut)"


async def abort_with(context: grpc.aio.ServicerContext, exc: BaseException) -> None:
    code, message = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.exception("unexpected error in an RPC", exc_info=exc)
    await context.abort(code, bounded(message))


def unary(
    method: Callable[..., Awaitable[T]],
) -> Callable[..., Awaitable[T]]:
    """Wrap a unary servicer method so every failure leaves through :func:`status_for`."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # this is the mapping boundary
            await abort_with(context, exc)
            raise  # unreachable: abort raises

    return wrapper


def streaming(
    method: Callable[..., AsyncIterator[T]],
) -> Callable[..., AsyncIterator[T]]:
    """The same for server-streaming methods (async generators)."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext):
        try:
            async for item in method(self, request, context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # this is the mapping boundary
            await abort_with(context, exc)

    return wrapper
