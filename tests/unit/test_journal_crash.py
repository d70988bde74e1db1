"""Kill -9 a process that is writing the journal; the journal must hold everything it promised.

The writer (``_journal_writer.py``) prints a line only after the corresponding journal write
returned. The parent SIGKILLs it at a random point, reopens the journal and checks that every
announced order and fill is there exactly once, that the journal is a gap-free prefix of the
writer's deterministic stream, and that replay rebuilds the same portfolio as the fills do.
"""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from supreme.core.execution.journal import OrderJournal
from supreme.core.model import OrderStatus

WRITER = Path(__file__).with_name("_journal_writer.py")
REPO = Path(__file__).resolve().parents[2]

# Load the writer by path, whatever pytest's import mode: the parent regenerates its stream.
_spec = importlib.util.spec_from_file_location("_journal_writer", WRITER)
assert _spec is not None and _spec.loader is not None
_writer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_writer)
INITIAL_CASH = _writer.INITIAL_CASH
stream = _writer.stream


def run_and_kill(path: Path, seed: int, stop_after: int) -> tuple[list[str], list[str]]:
    """Start the writer, read ``stop_after`` announcements, SIGKILL it; returns what it said."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(path), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    watchdog = threading.Timer(30.0, proc.kill)  # a hung writer must not hang the suite
    watchdog.start()
    orders: list[str] = []
    fills: list[str] = []
    try:
        assert proc.stdout is not None
        while len(orders) + len(fills) < stop_after:
            line = proc.stdout.readline()
            if not line:
                proc.wait(timeout=10)
                err = proc.stderr.read() if proc.stderr else ""
                pytest.fail(f"writer ended early (rc={proc.returncode}):\n{err}")
            kind, ident = line.split()
            (orders if kind == "ORDER" else fills).append(ident)
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: the writer never stops on its own
        proc.wait(timeout=10)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    assert proc.returncode == -signal.SIGKILL
    return orders, fills


@pytest.mark.parametrize("run", range(3))
def test_sigkill_mid_stream_loses_nothing_announced(tmp_path: Path, run: int) -> None:
    rng = random.Random(7_919 * (run + 1))
    stop_after = rng.randint(50, 200)
    path = tmp_path / "crash.sqlite"
    announced_orders, announced_fills = run_and_kill(path, run, stop_after)

    with OrderJournal(path) as journal:
        conn = journal._connection()
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        state = journal.replay()
        events = journal.events()

    fill_ids = [f.fill_id for f in state.fills]
    # Every announcement is there, exactly once.
    assert set(announced_orders) <= set(state.orders)
    assert set(announced_fills) <= set(fill_ids)
    assert len(fill_ids) == len(set(fill_ids))
    new_events = Counter(e.client_order_id for e in events if e.status is OrderStatus.NEW)
    assert all(new_events[cid] == 1 for cid in state.orders)
    fill_events = Counter(e.reason for e in events if e.reason.startswith("fill "))
    assert all(fill_events[f"fill {fid}"] == 1 for fid in fill_ids)
    # No fill without its order; each order's filled quantity is the sum of its fills.
    assert all(f.client_order_id in state.orders for f in state.fills)
    per_order: dict[str, float] = {}
    for f in state.fills:
        per_order[f.client_order_id] = per_order.get(f.client_order_id, 0.0) + f.quantity
    for cid, o in state.orders.items():
        assert o.filled_quantity == pytest.approx(per_order.get(cid, 0.0), abs=1e-9)
        if o.status is OrderStatus.FILLED:
            assert o.remaining_quantity == 0.0
        assert o.status in (
            OrderStatus.NEW,
            OrderStatus.SUBMITTED,
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
        )

    # The journal is a gap-free prefix of what the writer meant to write.
    expected_orders, expected_fills = [], []
    for order, fills in stream(run, limit=len(state.orders)):
        expected_orders.append(order.client_order_id)
        expected_fills.extend(fills)
    assert list(state.orders) == expected_orders
    assert state.fills == expected_fills[: len(state.fills)]
    assert len(state.fills) >= len(announced_fills)

    # Replay's portfolio equals the one computed from the fills by hand.
    cash = INITIAL_CASH
    quantities: dict[str, float] = {}
    for f in state.fills:
        cash -= f.side.sign * f.quantity * f.price + f.fee
        quantities[f.symbol] = quantities.get(f.symbol, 0.0) + f.side.sign * f.quantity
    assert state.portfolio.cash == pytest.approx(cash, rel=1e-12)
    assert state.portfolio.fees == pytest.approx(sum(f.fee for f in state.fills), rel=1e-12)
    for symbol, qty in quantities.items():
        assert state.portfolio.position(symbol).quantity == pytest.approx(qty, abs=1e-9)
