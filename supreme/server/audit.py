"""An append-only, hash-chained audit log of who did what: JSON lines, one per event.

Every line is one JSON object with the fields::

    seq      1, 2, 3, ... (the line number)
    time     UTC ISO 8601 with milliseconds, e.g. "2024-05-01T12:00:00.123Z"
    who      the principal (a token id, never a token; "local" while auth is off; "system"
             for what the gateway does on its own: trading instances' orders, risk events)
    what     order.submit, order.cancel, risk.decision, risk.state, risk.limits,
             risk.breakers_reset
    subject  what it was done to (a client order id, a trading state, ...)
    details  a JSON-safe dict
    outcome  the order status, APPROVED / DENIED (REASON), "ok" or "error: ..."
    prev     the previous line's hash (64 hex zeros for the first line)
    hash     sha256 of the canonical JSON (sorted keys, no spaces, UTF-8) of the line
             without ``hash``

Changing any field of a line breaks its hash; removing, inserting or reordering lines breaks
``seq`` and ``prev``. (Removing the *last* lines cannot be seen from the file alone: keep the
last hash somewhere else to detect that.) A file whose chain is broken is never extended.

Each line is written whole (one ``write``), then flushed to disk (``fsync``). On the event loop,
:meth:`AuditLog.record` only queues the line; one writer task writes queued lines in groups
from a thread, one ``fsync`` per group, and :meth:`AuditLog.close` drains the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from supreme.core.risk.events import json_safe

log = logging.getLogger("supreme.server.audit")

__all__ = [
    "GENESIS",
    "LOCAL",
    "SYSTEM",
    "AuditChainError",
    "AuditLog",
    "VerifyResult",
    "line_hash",
    "verify",
]

GENESIS = "0" * 64
# The principal while authentication is off, and the one of the gateway's own actions.
LOCAL = "local"
SYSTEM = "system"
FIELDS = ("seq", "time", "who", "what", "subject", "details", "outcome", "prev", "hash")
# Lines written (and fsynced) together by the background writer, at most.
MAX_GROUP = 256


class AuditChainError(RuntimeError):
    """The existing audit file does not verify: it is not extended."""


def canonical(record: Mapping[str, Any]) -> bytes:
    return json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def line_hash(record: Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of ``record`` without its ``hash`` field."""
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def utc_iso_ms(epoch_s: float | None = None) -> str:
    moment = datetime.now(UTC) if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    lines: int  # complete, valid lines before the first bad one (all of them when ok)
    first_bad_line: int | None = None  # 1-based
    reason: str = ""
    last_hash: str = GENESIS  # of the last valid line

    def __str__(self) -> str:
        if self.ok:
            return f"ok: {self.lines} lines, chain intact"
        return f"line {self.first_bad_line}: {self.reason}"


def verify(path: str | os.PathLike[str]) -> VerifyResult:
    """Check every line's hash, the ``prev`` links and ``seq`` continuity of an audit file."""
    data = Path(path).read_bytes()
    return _verify_bytes(data)


def _verify_bytes(data: bytes) -> VerifyResult:
    prev, count = GENESIS, 0
    if not data:
        return VerifyResult(True, 0)
    parts = data.split(b"\n")
    complete, tail = parts[:-1], parts[-1]  # tail is b"" when the file ends with a newline
    for index, raw in enumerate(complete, start=1):
        bad = _check_line(raw, index, prev)
        if bad:
            return VerifyResult(False, count, index, bad, prev)
        prev = json.loads(raw)["hash"]
        count = index
    if tail:
        return VerifyResult(
            False,
            count,
            count + 1,
            "truncated last line (no newline at its end: a crash while it was written?)",
            prev,
        )
    return VerifyResult(True, count, None, "", prev)


def _check_line(raw: bytes, index: int, prev: str) -> str:
    """Why line ``index`` is bad, or "" when it is good."""
    if not raw.strip():
        return "empty line"
    try:
        record = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"not valid JSON ({exc})"
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = [name for name in FIELDS if name not in record]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    extra = sorted(set(record) - set(FIELDS))
    if extra:
        return f"unexpected field(s) {', '.join(extra)}"
    if record["hash"] != line_hash(record):
        return "hash mismatch: the line was altered"
    if record["seq"] != index:
        return (
            f"seq is {record['seq']!r}, expected {index}: a line was removed, inserted or reordered"
        )
    if record["prev"] != prev:
        what = "the genesis hash (64 zeros)" if index == 1 else f"line {index - 1}'s hash"
        return f"prev does not match {what}: a line was removed, inserted or reordered"
    return ""


class AuditLog:
    """Appends hash-chained lines to ``path``, continuing the chain of an existing file.

    ``append`` writes one line at once (any thread); ``record`` queues it for the background
    writer (event loop only, never blocks); ``flush`` waits for the queue, ``close`` drains it.
    Raises :class:`AuditChainError` when the existing file does not verify.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
        try:
            with self._lock:
                result = _verify_bytes(self.path.read_bytes())
            if not result.ok:
                raise AuditChainError(
                    f"audit log {self.path} does not verify, refusing to extend it: {result}"
                )
        except BaseException:
            os.close(self._fd)
            raise
        self._seq = result.lines
        self._prev = result.last_hash
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._writer: asyncio.Task | None = None
        self._closed = False
        self.errors = 0

    @property
    def seq(self) -> int:
        """The seq of the last line written."""
        return self._seq

    @property
    def last_hash(self) -> str:
        return self._prev

    # -- writing ---------------------------------------------------------------------------------

    @staticmethod
    def event(
        who: str,
        what: str,
        subject: str,
        details: Mapping[str, Any] | None = None,
        outcome: str = "ok",
        *,
        time: str | None = None,
    ) -> dict[str, Any]:
        if not who:
            raise ValueError("who must name a principal")
        return {
            "time": time or utc_iso_ms(),
            "who": str(who),
            "what": str(what),
            "subject": str(subject),
            "details": json_safe(dict(details or {})),
            "outcome": str(outcome),
        }

    def append(
        self,
        who: str,
        what: str,
        subject: str,
        details: Mapping[str, Any] | None = None,
        outcome: str = "ok",
    ) -> dict[str, Any]:
        """Write one line now (blocking: write + fsync); returns it as written."""
        self._check_open()
        return self._write([self.event(who, what, subject, details, outcome)])[0]

    def record(
        self,
        who: str,
        what: str,
        subject: str,
        details: Mapping[str, Any] | None = None,
        outcome: str = "ok",
    ) -> None:
        """Queue one line for the background writer (from the event loop; never blocks)."""
        self._check_open()
        event = self.event(who, what, subject, details, outcome)
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._run(), name="audit-log")
        self._queue.put_nowait(event)

    async def flush(self) -> None:
        """Wait until every queued line is on disk."""
        if self._queue is not None:
            await self._queue.join()

    async def close(self) -> None:
        """Write every queued line, stop the writer and close the file."""
        if self._closed:
            return
        await self.flush()
        self._closed = True
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        with self._lock:
            os.close(self._fd)

    def close_sync(self) -> None:
        """Close without an event loop (nothing may be queued)."""
        if self._queue is not None and not self._queue.empty():
            raise RuntimeError("audit lines are queued: use `await close()`")
        if not self._closed:
            self._closed = True
            with self._lock:
                os.close(self._fd)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"audit log {self.path} is closed")

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            group = [await queue.get()]
            while len(group) < MAX_GROUP and not queue.empty():
                group.append(queue.get_nowait())
            try:
                await asyncio.to_thread(self._write, group)
            except Exception:
                # The chain is untouched (state moves only after a write succeeded); the lines
                # are logged so that nothing disappears without a trace.
                self.errors += len(group)
                log.exception("could not write %d audit line(s): %s", len(group), group)
            finally:
                for _ in group:
                    queue.task_done()

    def _write(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Chain, write (whole lines in one write) and fsync ``events``; returns the lines."""
        with self._lock:
            seq, prev = self._seq, self._prev
            lines, data = [], []
            for event in events:
                seq += 1
                line = {**event, "seq": seq, "prev": prev}
                line["hash"] = prev = line_hash(line)
                lines.append(line)
                data.append(canonical(line) + b"\n")
            size = os.fstat(self._fd).st_size
            try:
                _write_all(self._fd, b"".join(data))
                os.fsync(self._fd)
            except BaseException:
                # No partial line may stay behind to break the chain for the next write.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, size)
                raise
            self._seq, self._prev = seq, prev
            return lines


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def record_risk_event(audit: AuditLog | None, event: Mapping[str, Any]) -> None:
    """Queue the audit line of one drained risk event (``RiskEvent.to_dict()``): decisions
    (risk.decision) and trading-state changes (risk.state); other kinds are not audited."""
    if audit is None:
        return
    kind = event.get("kind")
    details = dict(event.get("details") or {})
    details["risk_time_ms"] = event.get("time_ms")
    details["message"] = event.get("message", "")
    outcome, code = str(event.get("outcome", "")), str(event.get("reason_code", ""))
    if kind == "DECISION":
        if code and code not in ("OK", "CANCEL") and outcome != code:
            outcome = f"{outcome} ({code})"
        subject = str(details.get("client_order_id", ""))
        audit.record(SYSTEM, "risk.decision", subject, details, outcome)
    elif kind == "STATE_CHANGED":
        details["reason_code"] = code
        audit.record(SYSTEM, "risk.state", outcome, details, outcome)
