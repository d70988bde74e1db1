"""Structured logging for the gateway and the actors: one JSON object a line.

Every line carries ``time`` (UTC, ISO 8601 with ms), ``level``, ``logger``, ``message``, the
process id, and the correlation id of the work it belongs to when there is one (a subscription
id, a client order id): :func:`correlate` sets it for the current asyncio task and what it
awaits, and ``extra={"correlation_id": ...}`` sets it for one line. Exceptions come as ``exc``.

No secret reaches a line: values registered with :func:`register_secret` (exchange keys and
the like, as they are loaded) and anything shaped like a bearer token or an ``api_key=`` /
``secret=`` / ``token=`` / ``password=`` assignment are replaced by ``***``, in the message,
the extras and the exception text alike.

:func:`setup_logging` configures the root logger (``json`` or ``text``, and a level); the
gateway calls it, and :func:`setup_worker_logging` is Ray's ``worker_process_setup_hook`` so
that every actor process logs the same way (format and level come from ``SUPREME_LOG_FORMAT``
and ``SUPREME_LOG_LEVEL``).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "JsonFormatter",
    "correlate",
    "redact",
    "register_secret",
    "setup_logging",
    "setup_worker_logging",
    "tag_task",
]

_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "supreme_correlation_id", default=None
)
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_SHAPES = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|((?:api[_-]?key|secret|token|password|passphrase)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]{4,}"
)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def register_secret(value: str | None) -> None:
    """Never let ``value`` appear in a log line (values shorter than 6 characters are ignored:
    they would blank out ordinary words)."""
    if value and len(value) >= 6:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return _SHAPES.sub(lambda m: (m.group(1) or m.group(2) or "") + "***", text)


def tag_task(correlation_id: str) -> None:
    """Tag the log lines of the rest of the current asyncio task (a gRPC call's handler runs in
    a task of its own) with ``correlation_id``."""
    _correlation.set(correlation_id)


@contextlib.contextmanager
def correlate(correlation_id: str) -> Iterator[None]:
    """Tag the log lines of this block (and of the tasks it starts) with ``correlation_id``."""
    token = _correlation.set(correlation_id)
    try:
        yield
    finally:
        _correlation.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "pid": record.process,
        }
        correlation = getattr(record, "correlation_id", None) or _correlation.get()
        if correlation:
            line["correlation_id"] = str(correlation)
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line and key != "correlation_id":
                line[key] = redact(value) if isinstance(value, str) else _plain(value)
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


class _RedactingTextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        correlation = getattr(record, "correlation_id", None) or _correlation.get()
        return redact(f"{text} [{correlation}]" if correlation else text)


def _plain(value: Any) -> Any:
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Configure the root logger: ``fmt`` is ``json`` (one object a line) or ``text``."""
    if fmt not in ("json", "text"):
        raise ValueError(f"log format must be json or text, got {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else _RedactingTextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    os.environ["SUPREME_LOG_FORMAT"] = fmt  # inherited by the actors' setup hook
    os.environ["SUPREME_LOG_LEVEL"] = level.upper()


def setup_worker_logging() -> None:
    """Ray's ``worker_process_setup_hook``: actors log like the gateway."""
    fmt = os.environ.get("SUPREME_LOG_FORMAT", "text")
    setup_logging(
        os.environ.get("SUPREME_LOG_LEVEL", "INFO"), fmt if fmt in ("json", "text") else "text"
    )
