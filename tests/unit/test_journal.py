"""OrderJournal: write-ahead, idempotency, atomic fills, replay, checkpoints, WAL."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from supreme.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    IllegalTransition,
    InvalidArgument,
    NotFound,
)
from supreme.core.execution.journal import OrderJournal
from supreme.core.execution.state import apply_fill, transition
from supreme.core.model import (
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Portfolio,
    Side,
    TimeInForce,
)

S = OrderStatus


def new_order(cid: str, symbol: str = "BTC", side: Side = Side.BUY, qty: float = 2.0) -> Order:
    return Order(cid, symbol, side, qty, created_ms=1_000, updated_ms=1_000, strategy="s1")


def make_fill(o: Order, n: int, qty: float, price: float, fee: float = 0.5) -> Fill:
    return Fill(
        f"{o.client_order_id}-{n}",
        o.client_order_id,
        o.symbol,
        o.side,
        qty,
        price,
        fee,
        2_000 + n,
        o.strategy,
    )


@pytest.fixture
def journal(tmp_path: Path):
    with OrderJournal(tmp_path / "j.sqlite") as j:
        yield j


def test_wal_mode_is_on_for_a_file(tmp_path: Path) -> None:
    path = tmp_path / "wal.sqlite"
    with OrderJournal(path) as j:
        assert j.journal_mode == "wal"
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_memory_journal_works() -> None:
    with OrderJournal(":memory:") as j:
        assert j.record_new(new_order("a"))
        assert j.get("a") == new_order("a")
        assert j.journal_mode == "memory"


def test_invalid_synchronous_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        OrderJournal(tmp_path / "x.sqlite", synchronous="FULL; DROP TABLE orders")


def test_every_order_field_round_trips(journal: OrderJournal) -> None:
    o = Order(
        client_order_id="rt",
        symbol="ETH/USDT",
        side=Side.SELL,
        quantity=0.1 + 0.2,
        order_type=OrderType.STOP,
        limit_price=None,
        stop_price=1234.5678901234,
        time_in_force=TimeInForce.DAY,
        strategy="momo",
        status=S.NEW,
        created_ms=1_700_000_000_123,
        updated_ms=1_700_000_000_124,
        venue_order_id="v-1",
        reason="because",
        reduce_only=True,
    )
    assert journal.record_new(o)
    assert journal.get("rt") == o
    limit = Order("lim", "BTC", Side.BUY, 1.0, OrderType.LIMIT, limit_price=99.5)
    journal.record_new(limit)
    assert journal.get("lim") == limit
    assert journal.get("missing") is None


def test_duplicate_client_order_id_returns_false_and_writes_nothing(journal: OrderJournal) -> None:
    assert journal.record_new(new_order("a")) is True
    other = Order("a", "ETH", Side.SELL, 99.0)
    assert journal.record_new(other) is False
    assert journal.get("a") == new_order("a")
    assert len(journal.orders()) == 1
    assert len(journal.events("a")) == 1


def test_update_appends_audit_events(journal: OrderJournal) -> None:
    o = new_order("a")
    journal.record_new(o)
    o = transition(o, S.SUBMITTED, time_ms=1_100, venue_order_id="v1")
    journal.update(o)
    o = transition(o, S.CANCELED, time_ms=1_200, reason="user")
    journal.update(o)
    assert journal.get("a") == o
    trail = [(e.status, e.time_ms, e.reason) for e in journal.events("a")]
    assert trail == [(S.NEW, 1_000, ""), (S.SUBMITTED, 1_100, ""), (S.CANCELED, 1_200, "user")]
    assert [e.seq for e in journal.events()] == sorted(e.seq for e in journal.events())


def test_update_unknown_order_raises(journal: OrderJournal) -> None:
    with pytest.raises(NotFound):
        journal.update(new_order("ghost"))


def test_terminal_order_is_not_overwritten(journal: OrderJournal) -> None:
    o = new_order("a")
    journal.record_new(o)
    canceled = transition(o, S.CANCELED, time_ms=1_100)
    journal.update(canceled)
    with pytest.raises(IllegalTransition):
        journal.update(transition(o, S.SUBMITTED, time_ms=1_200))
    assert journal.get("a") == canceled


def test_record_fill_is_atomic_and_idempotent(journal: OrderJournal) -> None:
    o = transition(new_order("a", qty=3.0), S.SUBMITTED, time_ms=1_000)
    journal.record_new(new_order("a", qty=3.0))
    journal.update(o)
    f1 = make_fill(o, 1, 1.0, 100.0)
    after = apply_fill(o, f1)
    assert journal.record_fill(f1, after) is True
    assert journal.get("a") == after
    # The same fill again (even with a different order state) changes nothing.
    assert journal.record_fill(f1, apply_fill(after, make_fill(o, 9, 1.0, 1.0))) is False
    assert journal.get("a") == after
    assert journal.fills() == [f1]
    assert journal.has_fill(f1.fill_id) and not journal.has_fill("nope")
    assert journal.events("a")[-1].reason == f"fill {f1.fill_id}"


def test_fill_without_journaled_order_is_refused(journal: OrderJournal) -> None:
    ghost = new_order("ghost")
    f = make_fill(ghost, 1, 1.0, 100.0)
    with pytest.raises(NotFound):
        journal.record_fill(f, apply_fill(ghost, f))
    assert journal.fills() == []
    with pytest.raises(InvalidArgument):
        journal.record_fill(f, new_order("other"))


def test_append_only_tables(journal: OrderJournal) -> None:
    o = new_order("a")
    journal.record_new(o)
    f = make_fill(o, 1, 1.0, 100.0)
    journal.record_fill(f, apply_fill(o, f))
    conn = journal._connection()
    for sql in (
        "DELETE FROM fills",
        "UPDATE fills SET price = 1",
        "DELETE FROM order_events",
        "UPDATE order_events SET reason = 'x'",
    ):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)
    assert journal.fills() == [f]


def _scenario(j: OrderJournal) -> tuple[list[Fill], dict[str, Order]]:
    """Some orders in every state, with fills; returns the fills and the final orders."""
    j.set_initial_cash(10_000.0)
    fills: list[Fill] = []
    final: dict[str, Order] = {}

    def submit(o: Order) -> Order:
        assert j.record_new(o)
        o = transition(o, S.SUBMITTED, time_ms=1_001, venue_order_id=f"v-{o.client_order_id}")
        j.update(o)
        return o

    def fill(o: Order, n: int, qty: float, price: float, fee: float) -> Order:
        f = make_fill(o, n, qty, price, fee)
        o = apply_fill(o, f)
        assert j.record_fill(f, o)
        fills.append(f)
        return o

    a = submit(new_order("buy-btc", "BTC", Side.BUY, 2.0))
    a = fill(a, 1, 1.5, 100.0, 0.15)
    a = fill(a, 2, 0.5, 104.0, 0.05)  # FILLED
    b = submit(new_order("sell-btc", "BTC", Side.SELL, 1.0))
    b = fill(b, 1, 0.25, 110.0, 0.03)  # PARTIALLY_FILLED: open
    c = submit(new_order("buy-eth", "ETH", Side.BUY, 5.0))  # SUBMITTED, open
    d = new_order("new-eth", "ETH", Side.SELL, 1.0)
    assert j.record_new(d)  # NEW, fate unknown: open
    e = submit(new_order("canceled", "ETH", Side.BUY, 1.0))
    e = transition(e, S.CANCELED, time_ms=1_500)
    j.update(e)
    g = submit(new_order("short-sol", "SOL", Side.SELL, 3.0))
    g = fill(g, 1, 3.0, 20.0, 0.06)
    for o in (a, b, c, d, e, g):
        final[o.client_order_id] = o
    return fills, final


def test_replay_rebuilds_open_orders_positions_and_cash(tmp_path: Path) -> None:
    path = tmp_path / "replay.sqlite"
    with OrderJournal(path) as j:
        fills, final = _scenario(j)
    with OrderJournal(path) as j:  # a restart
        state = j.replay()
        assert state.orders == final
        assert list(state.open_orders) == ["sell-btc", "buy-eth", "new-eth"]
        assert [o.client_order_id for o in j.open_orders()] == list(state.open_orders)
        assert state.fills == fills
        assert state.initial_cash == 10_000.0
        by_hand = Portfolio(cash=10_000.0)
        for f in fills:
            by_hand = by_hand.apply_fill(f)
        assert state.portfolio == by_hand
        # And the arithmetic, independently of Portfolio.
        cash = (
            10_000.0 - (1.5 * 100 + 0.5 * 104) + 0.25 * 110 + 3 * 20 - (0.15 + 0.05 + 0.03 + 0.06)
        )
        assert state.portfolio.cash == pytest.approx(cash, rel=1e-12)
        assert state.portfolio.position("BTC").quantity == pytest.approx(1.75)
        assert state.portfolio.position("SOL").quantity == pytest.approx(-3.0)
        assert state.portfolio.position("ETH").is_flat
        assert [o.client_order_id for o in j.orders(S.FILLED)] == ["buy-btc", "short-sol"]
        assert [f.fill_id for f in j.fills("buy-btc")] == ["buy-btc-1", "buy-btc-2"]


def test_replay_of_empty_journal(journal: OrderJournal) -> None:
    state = journal.replay()
    assert state.orders == {} and state.fills == [] and state.initial_cash is None
    assert state.portfolio == Portfolio(cash=0.0)


def test_initial_cash_is_set_once(journal: OrderJournal) -> None:
    assert journal.initial_cash is None
    journal.set_initial_cash(1_000)
    journal.set_initial_cash(1_000.0)  # same value: no-op
    with pytest.raises(AlreadyExists):
        journal.set_initial_cash(2_000.0)
    with pytest.raises(InvalidArgument):
        OrderJournal(":memory:").set_initial_cash(float("inf"))
    assert journal.initial_cash == 1_000.0


def test_checkpoints_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "cp.sqlite"
    data = {"halted": False, "peak_equity": 123.456, "limits": {"BTC": [1, 2.5]}, "n": None}
    with OrderJournal(path) as j:
        assert j.load_checkpoint("risk") is None
        j.save_checkpoint("risk", {"old": 1}, 1)
        j.save_checkpoint("risk", data, 2)
        with pytest.raises(InvalidArgument):
            j.save_checkpoint("bad", {"x": object()}, 3)
    with OrderJournal(path) as j:
        assert j.load_checkpoint("risk") == data


def test_closed_journal_refuses_use(tmp_path: Path) -> None:
    j = OrderJournal(tmp_path / "c.sqlite")
    j.close()
    j.close()  # idempotent
    assert j.closed
    with pytest.raises(FailedPrecondition):
        j.record_new(new_order("a"))
    with pytest.raises(FailedPrecondition):
        j.get("a")


def test_concurrent_writers_on_one_journal(journal: OrderJournal) -> None:
    def work(k: int) -> None:
        for i in range(25):
            o = new_order(f"t{k}-{i}")
            journal.record_new(o)
            f = make_fill(o, 1, 2.0, 100.0)
            journal.record_fill(f, apply_fill(o, f))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(journal.orders(S.FILLED)) == 100
    assert len(journal.fills()) == 100
