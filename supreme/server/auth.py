"""Bearer-token authentication and scope checks for every RPC, unary and streaming.

**Tokens.** A token is ``sup_<id>_<secret>``: the id is public (it names the token in logs and
in the audit log), the secret is 32 random bytes. Only the SHA-256 of the whole token is stored
(``tokens.json``, mode 0600, or the ``SUPREME_TOKENS`` environment variable holding the same
JSON), with its scopes, an optional expiry and an optional client-certificate binding (the
SHA-256 fingerprint of the certificate a TLS client must present with it). ``supreme tokens
create`` prints a new token once; it cannot be shown again. Comparisons are constant-time.

**Scopes** nest: ``read`` (market data, signals, orders, positions, risk state, backtests) <
``trade`` (also publishing bars, submitting and cancelling orders, starting and stopping
strategies) < ``admin`` (also risk limits, the trading state, resetting breakers). A method not
in :data:`METHOD_SCOPES` needs ``admin``.

**Answers.** No token, a malformed, unknown or expired one, or one presented without its bound
client certificate: UNAUTHENTICATED. A valid token whose scope is too narrow: PERMISSION_DENIED.
Neither says whether the thing asked for exists: the check runs before the call. Each token has
a request budget (a token bucket, ``rate`` per second with a burst of ``burst``); past it:
RESOURCE_EXHAUSTED. Health and reflection stay open unless configured otherwise.

:func:`current_principal` is the id of the token the current call came with ("local" when
authentication is off), for the audit log.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from supreme.core.errors import InvalidArgument

__all__ = [
    "METHOD_SCOPES",
    "OPEN_PREFIXES",
    "SCOPES",
    "AuthInterceptor",
    "TokenRecord",
    "TokenStore",
    "create_token",
    "current_principal",
    "parse_ttl",
]

SCOPES = ("read", "trade", "admin")
_RANK = {scope: rank for rank, scope in enumerate(SCOPES)}

METHOD_SCOPES: dict[str, str] = {
    "/supreme.v1.MarketDataService/PublishBars": "trade",
    "/supreme.v1.MarketDataService/GetBars": "read",
    "/supreme.v1.StrategyService/ListStrategies": "read",
    "/supreme.v1.StrategyService/SubscribeSignals": "read",
    "/supreme.v1.StrategyService/StartStrategy": "trade",
    "/supreme.v1.StrategyService/StopStrategy": "trade",
    "/supreme.v1.StrategyService/ListStrategyInstances": "read",
    "/supreme.v1.OrderService/SubmitOrder": "trade",
    "/supreme.v1.OrderService/CancelOrder": "trade",
    "/supreme.v1.OrderService/GetOrder": "read",
    "/supreme.v1.OrderService/ListOrders": "read",
    "/supreme.v1.OrderService/StreamOrderUpdates": "read",
    "/supreme.v1.OrderService/ListPositions": "read",
    "/supreme.v1.OrderService/GetPortfolio": "read",
    "/supreme.v1.RiskService/GetRiskState": "read",
    "/supreme.v1.RiskService/StreamRiskEvents": "read",
    "/supreme.v1.RiskService/SetTradingState": "admin",
    "/supreme.v1.RiskService/UpdateRiskLimits": "admin",
    "/supreme.v1.RiskService/ResetCircuitBreakers": "admin",
    "/supreme.v1.BacktestService/RunBacktest": "read",
}
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/")

_principal: contextvars.ContextVar[str] = contextvars.ContextVar(
    "supreme_principal", default="local"
)


def current_principal() -> str:
    return _principal.get()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    sha256: str
    scope: str
    expires_ms: int | None = None
    cert_sha256: str | None = None  # the client certificate it is bound to
    name: str = ""
    created_ms: int = 0

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise InvalidArgument(f"token scope must be one of {SCOPES}, got {self.scope!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sha256": self.sha256,
            "scope": self.scope,
            "expires_ms": self.expires_ms,
            "cert_sha256": self.cert_sha256,
            "name": self.name,
            "created_ms": self.created_ms,
        }


def create_token(
    scope: str,
    *,
    ttl_s: float | None = None,
    name: str = "",
    cert_pem: bytes | None = None,
    now_ms: int | None = None,
) -> tuple[str, TokenRecord]:
    """A new token (shown once) and the record to store (its hash, never the token)."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    token_id = secrets.token_hex(4)
    token = f"sup_{token_id}_{secrets.token_urlsafe(32)}"
    record = TokenRecord(
        id=token_id,
        sha256=_digest(token),
        scope=scope,
        expires_ms=None if ttl_s is None else now + int(ttl_s * 1000),
        cert_sha256=cert_fingerprint(cert_pem) if cert_pem else None,
        name=name,
        created_ms=now,
    )
    return token, record


def cert_fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of a PEM certificate's DER bytes, hex."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(Encoding.DER)
    return hashlib.sha256(der).hexdigest()


class TokenStore:
    """Token records by id, from a JSON file and/or a JSON string (``SUPREME_TOKENS``)."""

    def __init__(self, records: Iterable[TokenRecord] = ()) -> None:
        self._by_id = {r.id: r for r in records}

    @classmethod
    def load(cls, path: str | Path | None = None, env: str | None = None) -> TokenStore:
        records: list[TokenRecord] = []
        for text, where in (
            (Path(path).read_text() if path and Path(path).exists() else None, str(path)),
            (env, "SUPREME_TOKENS"),
        ):
            if not text:
                continue
            try:
                records.extend(TokenRecord(**item) for item in json.loads(text))
            except (ValueError, TypeError) as exc:
                raise InvalidArgument(f"cannot read the tokens in {where}: {exc}") from exc
        return cls(records)

    @staticmethod
    def append(path: str | Path, record: TokenRecord) -> None:
        """Add ``record`` to the file at ``path`` (created 0600), atomically."""
        path = Path(path)
        existing = json.loads(path.read_text()) if path.exists() else []
        existing.append(record.to_dict())
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(existing, handle, indent=1)
        os.replace(tmp, path)

    def __len__(self) -> int:
        return len(self._by_id)

    def check(self, token: str, now_ms: int) -> TokenRecord | None:
        """The record of a valid, unexpired ``token``; None otherwise."""
        parts = token.split("_")
        if len(parts) < 3 or parts[0] != "sup":
            return None
        record = self._by_id.get(parts[1])
        if record is None or not hmac.compare_digest(record.sha256, _digest(token)):
            return None
        if record.expires_ms is not None and now_ms >= record.expires_ms:
            return None
        return record


@dataclass
class _Bucket:
    tokens: float
    updated: float
    lock: threading.Lock = field(default_factory=threading.Lock)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        store: TokenStore,
        *,
        rate: float = 100.0,
        burst: float = 200.0,
        open_methods: tuple[str, ...] = OPEN_PREFIXES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._rate = rate
        self._burst = burst
        self._open = open_methods
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method
        if handler is None or (self._open and method.startswith(self._open)):
            return handler
        needed = METHOD_SCOPES.get(method, "read" if method.startswith(OPEN_PREFIXES) else "admin")
        token = _bearer(details.invocation_metadata or ())
        return _guarded(handler, lambda context: self._admit(token, needed, context))

    def _admit(self, token: str | None, needed: str, context: Any) -> tuple[Any, str] | str:
        """The principal id, or (status, message) to abort with."""
        if token is None:
            return grpc.StatusCode.UNAUTHENTICATED, (
                "authentication required: send 'authorization: Bearer <token>' metadata "
                "(supreme tokens create makes one)"
            )
        record = self._store.check(token, int(time.time() * 1000))
        if record is None:
            return grpc.StatusCode.UNAUTHENTICATED, "invalid or expired token"
        if record.cert_sha256 is not None:
            pem = (context.auth_context() or {}).get("x509_pem_cert") or [b""]
            try:
                bound = hmac.compare_digest(cert_fingerprint(pem[0]), record.cert_sha256)
            except (ValueError, TypeError):
                bound = False
            if not bound:
                return grpc.StatusCode.UNAUTHENTICATED, (
                    "this token is bound to a client certificate the connection did not present"
                )
        if _RANK[record.scope] < _RANK[needed]:
            return grpc.StatusCode.PERMISSION_DENIED, (
                f"this token's scope is {record.scope!r}; the call needs {needed!r}"
            )
        if not self._take(record.id):
            return grpc.StatusCode.RESOURCE_EXHAUSTED, (
                f"rate limit: at most {self._rate:g} calls/s (bursts of {self._burst:g}) a token"
            )
        return record.id

    def _take(self, token_id: str) -> bool:
        now = self._clock()
        bucket = self._buckets.setdefault(token_id, _Bucket(self._burst, now))
        with bucket.lock:
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            if bucket.tokens < 1:
                return False
            bucket.tokens -= 1
            return True


def _bearer(metadata: Iterable[tuple[str, Any]]) -> str | None:
    for key, value in metadata:
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else str(value)
            scheme, _, token = text.partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else ""
    return None


def _guarded(handler: grpc.RpcMethodHandler, admit: Callable[[Any], Any]) -> Any:
    """``handler`` with ``admit(context)`` run first: its principal is set for the call, or the
    call is aborted with the status and message it returned."""

    async def enter(context: Any) -> None:
        verdict = admit(context)
        if isinstance(verdict, tuple):
            await context.abort(*verdict)
        _principal.set(verdict)

    if handler.unary_unary:
        inner = handler.unary_unary

        async def unary_unary(request: Any, context: Any) -> Any:
            await enter(context)
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            unary_unary, handler.request_deserializer, handler.response_serializer
        )
    if handler.unary_stream:
        inner = handler.unary_stream

        async def unary_stream(request: Any, context: Any) -> Any:
            await enter(context)
            async for item in inner(request, context):
                yield item

        return grpc.unary_stream_rpc_method_handler(
            unary_stream, handler.request_deserializer, handler.response_serializer
        )
    if handler.stream_unary:
        inner = handler.stream_unary

        async def stream_unary(requests: Any, context: Any) -> Any:
            await enter(context)
            return await inner(requests, context)

        return grpc.stream_unary_rpc_method_handler(
            stream_unary, handler.request_deserializer, handler.response_serializer
        )
    inner = handler.stream_stream

    async def stream_stream(requests: Any, context: Any) -> Any:
        await enter(context)
        async for item in inner(requests, context):
            yield item

    return grpc.stream_stream_rpc_method_handler(
        stream_stream, handler.request_deserializer, handler.response_serializer
    )


def parse_ttl(text: str) -> float:
    """Seconds from ``30d``, ``12h``, ``15m``, ``90s`` (or a plain number of seconds)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = text.strip().lower()
    try:
        value = float(text[:-1]) * units[text[-1]] if text[-1:] in units else float(text)
    except ValueError:
        raise InvalidArgument(f"cannot read {text!r} as a duration: use 30d, 12h, 15m") from None
    if not value > 0:
        raise InvalidArgument(f"a token's ttl must be > 0, got {text!r}")
    return value
