"""The hash-chained audit log: building, verifying, tampering, reopening, concurrency, CLI."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import threading

import pytest

from supreme.client.cli import main
from supreme.server.audit import (
    GENESIS,
    AuditChainError,
    AuditLog,
    line_hash,
    record_risk_event,
    verify,
)

FIELDS = {"seq", "time", "who", "what", "subject", "details", "outcome", "prev", "hash"}


def build(path, n: int = 5) -> list[dict]:
    log = AuditLog(path)
    written = [
        log.append(
            "local", "order.submit", f"cid-{i}", {"symbol": "BTC-USD", "qty": i}, "SUBMITTED"
        )
        for i in range(1, n + 1)
    ]
    log.close_sync()
    return written


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_lines(path, records) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_chain_builds_and_verifies(tmp_path):
    path = tmp_path / "audit.jsonl"
    written = build(path)
    got = lines(path)
    assert got == written
    assert [r["seq"] for r in got] == [1, 2, 3, 4, 5]
    assert got[0]["prev"] == GENESIS
    for before, after in itertools.pairwise(got):
        assert after["prev"] == before["hash"]
    for record in got:
        assert set(record) == FIELDS
        assert record["hash"] == line_hash(record)
        assert record["time"].endswith("Z") and len(record["time"]) == len(
            "2024-01-01T00:00:00.000Z"
        )
    # The hash is over the canonical JSON of the line without its hash.

    body = {k: v for k, v in got[2].items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert got[2]["hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    result = verify(path)
    assert (result.ok, result.lines, result.first_bad_line) == (True, 5, None)


def test_an_empty_or_missing_log_verifies(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.close_sync()
    assert verify(path).ok and verify(path).lines == 0


@pytest.mark.parametrize("field", sorted(FIELDS))
@pytest.mark.parametrize("line", [1, 3, 5])
def test_editing_any_field_of_any_line_is_found_on_that_line(tmp_path, field, line):
    path = tmp_path / "audit.jsonl"
    build(path)
    records = lines(path)
    value = records[line - 1][field]
    if isinstance(value, int):
        records[line - 1][field] = value + 10
    elif isinstance(value, dict):
        records[line - 1][field] = {**value, "qty": 1_000}
    elif field in ("hash", "prev"):
        records[line - 1][field] = "f" * 64
    else:
        records[line - 1][field] = value + "x"
    write_lines(path, records)
    result = verify(path)
    assert not result.ok
    assert result.first_bad_line == line, result
    assert result.lines == line - 1
    assert "hash mismatch" in result.reason


def test_an_edit_with_a_recomputed_hash_is_found_on_the_next_line(tmp_path):
    path = tmp_path / "audit.jsonl"
    build(path)
    records = lines(path)
    records[1]["outcome"] = "DENIED"
    records[1]["hash"] = line_hash(records[1])
    write_lines(path, records)
    result = verify(path)
    assert (result.ok, result.first_bad_line) == (False, 3)
    assert "prev" in result.reason


@pytest.mark.parametrize("deleted", [1, 2, 4])
def test_deleting_a_line_is_found(tmp_path, deleted):
    path = tmp_path / "audit.jsonl"
    build(path)
    records = lines(path)
    del records[deleted - 1]
    write_lines(path, records)
    result = verify(path)
    assert (result.ok, result.first_bad_line) == (False, deleted)
    assert "removed" in result.reason


@pytest.mark.parametrize("first", [1, 2, 4])
def test_reordering_two_lines_is_found(tmp_path, first):
    path = tmp_path / "audit.jsonl"
    build(path)
    records = lines(path)
    records[first - 1], records[first] = records[first], records[first - 1]
    write_lines(path, records)
    result = verify(path)
    assert (result.ok, result.first_bad_line) == (False, first)


def test_a_truncated_last_line_is_reported_as_such(tmp_path):
    path = tmp_path / "audit.jsonl"
    build(path)
    data = path.read_bytes()
    path.write_bytes(data[:-20])  # a crash in the middle of the last write
    result = verify(path)
    assert (result.ok, result.lines, result.first_bad_line) == (False, 4, 5)
    assert "truncated" in result.reason
    # Only the newline missing is a truncation as well.
    path.write_bytes(data[:-1])
    result = verify(path)
    assert (result.ok, result.first_bad_line) == (False, 5) and "truncated" in result.reason


def test_garbage_and_blank_lines_are_found(tmp_path):
    path = tmp_path / "audit.jsonl"
    build(path, 3)
    data = path.read_text().splitlines(keepends=True)
    path.write_text(data[0] + "not json\n" + "".join(data[1:]))
    assert verify(path).first_bad_line == 2 and "JSON" in verify(path).reason
    path.write_text(data[0] + "\n" + "".join(data[1:]))
    assert verify(path).first_bad_line == 2 and "empty" in verify(path).reason


def test_reopening_continues_the_chain(tmp_path):
    path = tmp_path / "audit.jsonl"
    first = build(path, 3)
    log = AuditLog(path)
    assert (log.seq, log.last_hash) == (3, first[-1]["hash"])
    nxt = log.append("tok-1", "risk.state", "HALTED", {"reason": "lunch"})
    log.close_sync()
    assert nxt["seq"] == 4 and nxt["prev"] == first[-1]["hash"]
    result = verify(path)
    assert result.ok and result.lines == 4


@pytest.mark.parametrize("tamper", ["edit", "delete", "truncate"])
def test_appending_to_a_tampered_file_raises(tmp_path, tamper):
    path = tmp_path / "audit.jsonl"
    build(path)
    records = lines(path)
    if tamper == "edit":
        records[2]["who"] = "someone-else"
        write_lines(path, records)
    elif tamper == "delete":
        del records[1]
        write_lines(path, records)
    else:
        path.write_bytes(path.read_bytes()[:-7])
    before = path.read_bytes()
    with pytest.raises(AuditChainError, match="refusing"):
        AuditLog(path)
    assert path.read_bytes() == before  # nothing was appended


def test_concurrent_records_from_many_coroutines_make_one_valid_chain(tmp_path):
    path = tmp_path / "audit.jsonl"

    async def run() -> None:
        log = AuditLog(path)

        async def client(n: int) -> None:
            for i in range(25):
                log.record(f"p{n}", "order.submit", f"c{n}-{i}", {"i": i, "pad": "x" * 300})
                await asyncio.sleep(0)

        await asyncio.gather(*(client(n) for n in range(40)))
        await log.close()  # drains the queue: nothing is lost

    asyncio.run(run())
    result = verify(path)
    assert result.ok and result.lines == 1_000, result
    got = lines(path)
    assert len({r["subject"] for r in got}) == 1_000
    # Per coroutine, its lines keep their order.
    for n in range(40):
        mine = [r["details"]["i"] for r in got if r["who"] == f"p{n}"]
        assert mine == list(range(25))


def test_concurrent_appends_from_threads_and_the_loop_interleave_whole_lines(tmp_path):
    path = tmp_path / "audit.jsonl"

    async def run() -> None:
        log = AuditLog(path)

        def thread(n: int) -> None:
            for i in range(20):
                log.append(f"t{n}", "risk.limits", "limits", {"i": i, "pad": "y" * 5_000})

        threads = [threading.Thread(target=thread, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for i in range(100):
            log.record("loop", "order.cancel", f"c{i}", {"i": i})
            await asyncio.sleep(0)
        await asyncio.to_thread(lambda: [t.join() for t in threads])
        await log.close()

    asyncio.run(run())
    result = verify(path)
    assert result.ok and result.lines == 8 * 20 + 100, result


def test_record_after_close_raises_and_close_is_idempotent(tmp_path):
    async def run() -> None:
        log = AuditLog(tmp_path / "audit.jsonl")
        log.record("local", "risk.state", "ACTIVE", {})
        await log.close()
        await log.close()
        with pytest.raises(RuntimeError, match="closed"):
            log.record("local", "risk.state", "ACTIVE", {})

    asyncio.run(run())
    assert verify(tmp_path / "audit.jsonl").lines == 1


def test_details_are_made_json_safe_and_who_is_required(tmp_path):
    from supreme.core.model import Side

    log = AuditLog(tmp_path / "audit.jsonl")
    line = log.append("local", "order.submit", "x", {"side": Side.BUY, "px": float("nan")})
    assert line["details"] == {"side": Side.BUY.value, "px": None}
    with pytest.raises(ValueError, match="principal"):
        log.append("", "order.submit", "x", {})
    log.close_sync()
    assert verify(tmp_path / "audit.jsonl").ok


def test_risk_events_become_decision_and_state_lines(tmp_path):
    async def run() -> None:
        log = AuditLog(tmp_path / "audit.jsonl")
        record_risk_event(
            log,
            {
                "time_ms": 1,
                "kind": "DECISION",
                "outcome": "DENIED",
                "reason_code": "MAX_NOTIONAL",
                "message": "too big",
                "details": {"client_order_id": "c1"},
            },
        )
        record_risk_event(
            log,
            {
                "time_ms": 2,
                "kind": "STATE_CHANGED",
                "outcome": "HALTED",
                "reason_code": "MANUAL",
                "message": "halted",
                "details": {"scope": "manual"},
            },
        )
        record_risk_event(log, {"time_ms": 3, "kind": "FILL_CHECK", "outcome": "OK"})
        record_risk_event(None, {"kind": "DECISION"})  # audit off: nothing happens
        await log.close()

    asyncio.run(run())
    decision, state = lines(tmp_path / "audit.jsonl")
    assert (decision["what"], decision["subject"], decision["outcome"]) == (
        "risk.decision",
        "c1",
        "DENIED (MAX_NOTIONAL)",
    )
    assert decision["who"] == "system"
    assert (state["what"], state["subject"], state["outcome"]) == (
        "risk.state",
        "HALTED",
        "HALTED",
    )


def test_cli_verify_exit_codes_and_messages(tmp_path, capsys):
    path = tmp_path / "audit.jsonl"
    build(path, 4)
    assert main(["audit", "verify", str(path)]) == 0
    assert capsys.readouterr().out.strip() == "ok: 4 lines, chain intact"

    records = lines(path)
    records[2]["outcome"] = "FILLED"
    write_lines(path, records)
    assert main(["audit", "verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert "line 3" in out and "hash mismatch" in out

    path.unlink()
    build(path, 4)
    path.write_bytes(path.read_bytes()[:-5])
    assert main(["audit", "verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert "line 4" in out and "truncated" in out

    assert main(["audit", "verify", str(tmp_path / "missing.jsonl")]) == 2
