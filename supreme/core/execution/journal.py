"""The durable order journal: SQLite in WAL mode, one committed transaction per write.

Write-ahead discipline: an order is journaled as NEW (:meth:`OrderJournal.record_new`) *before*
it is sent to a venue, every transition is journaled (:meth:`OrderJournal.update`) and every
fill is written together with the order it moves, atomically
(:meth:`OrderJournal.record_fill`). A process killed at any instant therefore leaves a journal
from which :meth:`OrderJournal.replay` rebuilds open orders, positions and cash.

Tables:

* ``meta(key, value)``: schema version, initial cash.
* ``orders``: one row per client order id with every :class:`Order` field, current status.
* ``order_events``: append-only audit trail (seq, client_order_id, status, time_ms, reason);
  one row per journaled status change and per fill.
* ``fills``: one row per fill id; insertion order is the order fills are replayed in.
* ``checkpoints(name, json, time_ms)``: snapshots other components (the risk engine) persist.

``order_events`` and ``fills`` refuse UPDATE and DELETE (triggers). Foreign keys are on, so a
fill cannot exist without its order.

Thread-safety: one connection (``check_same_thread=False``) guarded by a lock. One process
should write a given journal at a time.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supreme.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    IllegalTransition,
    InvalidArgument,
    NotFound,
)
from supreme.core.model import (
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Portfolio,
    Side,
    TimeInForce,
)

__all__ = ["SCHEMA_VERSION", "JournalState", "OrderEvent", "OrderJournal"]

SCHEMA_VERSION = 1

_SYNCHRONOUS = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})

_OPEN_STATUSES = (OrderStatus.NEW, OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)

_ORDER_COLUMNS = (
    "client_order_id",
    "symbol",
    "side",
    "quantity",
    "order_type",
    "limit_price",
    "stop_price",
    "time_in_force",
    "strategy",
    "status",
    "filled_quantity",
    "average_fill_price",
    "fees",
    "created_ms",
    "updated_ms",
    "venue_order_id",
    "reason",
    "reduce_only",
)
_FILL_COLUMNS = (
    "fill_id",
    "client_order_id",
    "symbol",
    "side",
    "quantity",
    "price",
    "fee",
    "time_ms",
    "strategy",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id    TEXT PRIMARY KEY,
    symbol             TEXT NOT NULL,
    side               TEXT NOT NULL,
    quantity           REAL NOT NULL,
    order_type         TEXT NOT NULL,
    limit_price        REAL,
    stop_price         REAL,
    time_in_force      TEXT NOT NULL,
    strategy           TEXT NOT NULL,
    status             TEXT NOT NULL,
    filled_quantity    REAL NOT NULL,
    average_fill_price REAL NOT NULL,
    fees               REAL NOT NULL,
    created_ms         INTEGER NOT NULL,
    updated_ms         INTEGER NOT NULL,
    venue_order_id     TEXT,
    reason             TEXT NOT NULL,
    reduce_only        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders(status);
CREATE TABLE IF NOT EXISTS order_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    client_order_id TEXT NOT NULL REFERENCES orders(client_order_id),
    status          TEXT NOT NULL,
    time_ms         INTEGER NOT NULL,
    reason          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS order_events_by_order ON order_events(client_order_id);
CREATE TABLE IF NOT EXISTS fills (
    fill_id         TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL REFERENCES orders(client_order_id),
    symbol          TEXT NOT NULL,
    side            TEXT NOT NULL,
    quantity        REAL NOT NULL,
    price           REAL NOT NULL,
    fee             REAL NOT NULL,
    time_ms         INTEGER NOT NULL,
    strategy        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS fills_by_order ON fills(client_order_id);
CREATE TABLE IF NOT EXISTS checkpoints (
    name    TEXT PRIMARY KEY,
    json    TEXT NOT NULL,
    time_ms INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS order_events_no_update BEFORE UPDATE ON order_events
BEGIN SELECT RAISE(ABORT, 'order_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS order_events_no_delete BEFORE DELETE ON order_events
BEGIN SELECT RAISE(ABORT, 'order_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS fills_no_update BEFORE UPDATE ON fills
BEGIN SELECT RAISE(ABORT, 'fills is append-only'); END;
CREATE TRIGGER IF NOT EXISTS fills_no_delete BEFORE DELETE ON fills
BEGIN SELECT RAISE(ABORT, 'fills is append-only'); END;
"""


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One row of the audit trail."""

    seq: int
    client_order_id: str
    status: OrderStatus
    time_ms: int
    reason: str


@dataclass(frozen=True, slots=True)
class JournalState:
    """Everything a restart needs, rebuilt from the journal.

    ``orders`` and ``open_orders`` are keyed by client order id in creation order; ``fills``
    are in the order they were journaled; ``portfolio`` is the initial cash (0 when never set)
    with every fill applied in that order.
    """

    orders: dict[str, Order]
    open_orders: dict[str, Order]
    fills: list[Fill]
    portfolio: Portfolio
    initial_cash: float | None


def _order_row(order: Order) -> tuple[Any, ...]:
    return (
        order.client_order_id,
        order.symbol,
        order.side.value,
        float(order.quantity),
        order.order_type.value,
        None if order.limit_price is None else float(order.limit_price),
        None if order.stop_price is None else float(order.stop_price),
        order.time_in_force.value,
        order.strategy,
        order.status.value,
        float(order.filled_quantity),
        float(order.average_fill_price),
        float(order.fees),
        int(order.created_ms),
        int(order.updated_ms),
        order.venue_order_id,
        order.reason,
        1 if order.reduce_only else 0,
    )


def _row_order(row: tuple[Any, ...]) -> Order:
    values = dict(zip(_ORDER_COLUMNS, row, strict=True))
    values["side"] = Side(values["side"])
    values["order_type"] = OrderType(values["order_type"])
    values["time_in_force"] = TimeInForce(values["time_in_force"])
    values["status"] = OrderStatus(values["status"])
    values["reduce_only"] = bool(values["reduce_only"])
    return Order(**values)


def _fill_row(fill: Fill) -> tuple[Any, ...]:
    return (
        fill.fill_id,
        fill.client_order_id,
        fill.symbol,
        fill.side.value,
        float(fill.quantity),
        float(fill.price),
        float(fill.fee),
        int(fill.time_ms),
        fill.strategy,
    )


def _row_fill(row: tuple[Any, ...]) -> Fill:
    fill_id, cid, symbol, side, quantity, price, fee, time_ms, strategy = row
    return Fill(fill_id, cid, symbol, Side(side), quantity, price, fee, time_ms, strategy)


_SELECT_ORDERS = f"SELECT {', '.join(_ORDER_COLUMNS)} FROM orders"
_SELECT_FILLS = f"SELECT {', '.join(_FILL_COLUMNS)} FROM fills"
_INSERT_ORDER = (
    f"INSERT INTO orders ({', '.join(_ORDER_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_ORDER_COLUMNS))}) "
    "ON CONFLICT(client_order_id) DO NOTHING"
)
_UPDATE_ORDER = (
    f"UPDATE orders SET {', '.join(f'{c} = ?' for c in _ORDER_COLUMNS[1:])} "
    "WHERE client_order_id = ?"
)
_INSERT_FILL = (
    f"INSERT INTO fills ({', '.join(_FILL_COLUMNS)}) VALUES ({', '.join('?' * len(_FILL_COLUMNS))})"
)
_INSERT_EVENT = (
    "INSERT INTO order_events (client_order_id, status, time_ms, reason) VALUES (?, ?, ?, ?)"
)


class OrderJournal:
    """SQLite journal of orders, their transitions and fills; see the module docstring."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        mode = str(synchronous).upper()
        if mode not in _SYNCHRONOUS:
            raise InvalidArgument(
                f"synchronous must be one of {sorted(_SYNCHRONOUS)}, got {synchronous!r}"
            )
        self.path = str(path)
        self._lock = threading.RLock()
        conn = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        try:
            row = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            self.journal_mode: str = str(row[0]).lower() if row else ""
            conn.execute(f"PRAGMA synchronous={mode}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(_SCHEMA)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT(key) DO NOTHING",
                (str(SCHEMA_VERSION),),
            )
            (version,) = conn.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
            if int(version) != SCHEMA_VERSION:
                raise FailedPrecondition(
                    f"journal {self.path} has schema version {version}, "
                    f"this code reads version {SCHEMA_VERSION}"
                )
        except BaseException:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn

    # -- plumbing ------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise FailedPrecondition(f"journal {self.path} is closed")
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One committed write transaction (durable on return, per ``synchronous``)."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: a consistent snapshot across several queries."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def closed(self) -> bool:
        return self._conn is None

    def __enter__(self) -> OrderJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes --------------------------------------------------------------------------------

    def record_new(self, order: Order) -> bool:
        """Journal an order before it goes to a venue.

        Returns False, writing nothing, when the client order id is already journaled: a client
        order id names one order forever, so submitting it twice never creates two orders.
        """
        if not isinstance(order, Order):
            raise InvalidArgument(f"expected an Order, got {type(order).__name__}")
        with self._write() as conn:
            if conn.execute(_INSERT_ORDER, _order_row(order)).rowcount == 0:
                return False
            conn.execute(
                _INSERT_EVENT,
                (order.client_order_id, order.status.value, order.updated_ms, order.reason),
            )
        return True

    def update(self, order: Order) -> None:
        """Persist the order's new state and append an audit event.

        Raises :class:`NotFound` for an order never journaled and :class:`IllegalTransition`
        when the journaled order is terminal and ``order`` has another status (a stale write).
        """
        with self._write() as conn:
            self._check_stored(conn, order)
            row = _order_row(order)
            conn.execute(_UPDATE_ORDER, (*row[1:], row[0]))
            conn.execute(
                _INSERT_EVENT,
                (order.client_order_id, order.status.value, order.updated_ms, order.reason),
            )

    def record_fill(self, fill: Fill, order_after: Order) -> bool:
        """Write ``fill`` and the order it moved to ``order_after``, in one transaction.

        Returns False, changing nothing, when the fill id is already journaled.
        """
        if fill.client_order_id != order_after.client_order_id:
            raise InvalidArgument(
                f"fill {fill.fill_id!r} belongs to {fill.client_order_id!r}, "
                f"not {order_after.client_order_id!r}"
            )
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM fills WHERE fill_id = ?", (fill.fill_id,)).fetchone():
                return False
            self._check_stored(conn, order_after)
            row = _order_row(order_after)
            conn.execute(_UPDATE_ORDER, (*row[1:], row[0]))
            conn.execute(_INSERT_FILL, _fill_row(fill))
            event = (order_after.status.value, fill.time_ms, f"fill {fill.fill_id}")
            conn.execute(_INSERT_EVENT, (fill.client_order_id, *event))
        return True

    @staticmethod
    def _check_stored(conn: sqlite3.Connection, order: Order) -> None:
        row = conn.execute(
            "SELECT status FROM orders WHERE client_order_id = ?", (order.client_order_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"order {order.client_order_id!r} is not in the journal")
        stored = OrderStatus(row[0])
        if stored.is_terminal and order.status is not stored:
            raise IllegalTransition(
                f"order {order.client_order_id!r}: journaled as {stored.value}, "
                f"refusing to overwrite with {order.status.value}"
            )

    def set_initial_cash(self, cash: float) -> None:
        """Record the account's starting cash, once. Setting the same value again is a no-op;
        a different value raises :class:`AlreadyExists`."""
        if isinstance(cash, bool) or not isinstance(cash, int | float) or not math.isfinite(cash):
            raise InvalidArgument(f"initial cash must be a finite number, got {cash!r}")
        value = float(cash)
        with self._write() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'initial_cash'").fetchone()
            if row is not None:
                if float(row[0]) != value:
                    raise AlreadyExists(
                        f"journal {self.path} already has initial cash {row[0]}, not {value!r}"
                    )
                return
            conn.execute("INSERT INTO meta (key, value) VALUES ('initial_cash', ?)", (repr(value),))

    @property
    def initial_cash(self) -> float | None:
        with self._lock:
            row = (
                self._connection()
                .execute("SELECT value FROM meta WHERE key = 'initial_cash'")
                .fetchone()
            )
        return None if row is None else float(row[0])

    def save_checkpoint(self, name: str, data: dict[str, Any], time_ms: int) -> None:
        """Store (or replace) the JSON snapshot ``name``."""
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"checkpoint name must be a non-empty string, got {name!r}")
        try:
            text = json.dumps(data, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"checkpoint {name!r} is not JSON-serialisable: {exc}") from exc
        with self._write() as conn:
            conn.execute(
                "INSERT INTO checkpoints (name, json, time_ms) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET json = excluded.json, time_ms = excluded.time_ms",
                (name, text, int(time_ms)),
            )

    def load_checkpoint(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            row = (
                self._connection()
                .execute("SELECT json FROM checkpoints WHERE name = ?", (name,))
                .fetchone()
            )
        return None if row is None else json.loads(row[0])

    # -- reads ---------------------------------------------------------------------------------

    def get(self, client_order_id: str) -> Order | None:
        with self._lock:
            row = (
                self._connection()
                .execute(f"{_SELECT_ORDERS} WHERE client_order_id = ?", (client_order_id,))
                .fetchone()
            )
        return None if row is None else _row_order(row)

    def orders(self, status: OrderStatus | None = None) -> list[Order]:
        """Every journaled order (or those with ``status``), in creation order."""
        with self._lock:
            conn = self._connection()
            if status is None:
                rows = conn.execute(f"{_SELECT_ORDERS} ORDER BY rowid").fetchall()
            else:
                rows = conn.execute(
                    f"{_SELECT_ORDERS} WHERE status = ? ORDER BY rowid", (status.value,)
                ).fetchall()
        return [_row_order(r) for r in rows]

    def open_orders(self) -> list[Order]:
        """Orders that may still trade (NEW, SUBMITTED, PARTIALLY_FILLED), in creation order."""
        with self._lock:
            rows = (
                self._connection()
                .execute(
                    f"{_SELECT_ORDERS} WHERE status IN (?, ?, ?) ORDER BY rowid",
                    tuple(s.value for s in _OPEN_STATUSES),
                )
                .fetchall()
            )
        return [_row_order(r) for r in rows]

    def fills(self, client_order_id: str | None = None) -> list[Fill]:
        """Journaled fills (of one order, or all), in the order they were journaled."""
        with self._lock:
            conn = self._connection()
            if client_order_id is None:
                rows = conn.execute(f"{_SELECT_FILLS} ORDER BY rowid").fetchall()
            else:
                rows = conn.execute(
                    f"{_SELECT_FILLS} WHERE client_order_id = ? ORDER BY rowid",
                    (client_order_id,),
                ).fetchall()
        return [_row_fill(r) for r in rows]

    def has_fill(self, fill_id: str) -> bool:
        with self._lock:
            return (
                self._connection()
                .execute("SELECT 1 FROM fills WHERE fill_id = ?", (fill_id,))
                .fetchone()
                is not None
            )

    def events(self, client_order_id: str | None = None) -> list[OrderEvent]:
        """The audit trail (of one order, or all), oldest first."""
        sql = "SELECT seq, client_order_id, status, time_ms, reason FROM order_events"
        with self._lock:
            conn = self._connection()
            if client_order_id is None:
                rows = conn.execute(f"{sql} ORDER BY seq").fetchall()
            else:
                rows = conn.execute(
                    f"{sql} WHERE client_order_id = ? ORDER BY seq", (client_order_id,)
                ).fetchall()
        return [OrderEvent(s, c, OrderStatus(st), t, r) for s, c, st, t, r in rows]

    def replay(self) -> JournalState:
        """Rebuild orders, open orders, fills and the portfolio from one consistent snapshot."""
        with self._read() as conn:
            order_rows = conn.execute(f"{_SELECT_ORDERS} ORDER BY rowid").fetchall()
            fill_rows = conn.execute(f"{_SELECT_FILLS} ORDER BY rowid").fetchall()
            cash_row = conn.execute("SELECT value FROM meta WHERE key = 'initial_cash'").fetchone()
        orders = {o.client_order_id: o for o in map(_row_order, order_rows)}
        fills = [_row_fill(r) for r in fill_rows]
        initial_cash = None if cash_row is None else float(cash_row[0])
        portfolio = Portfolio(cash=0.0 if initial_cash is None else initial_cash)
        for fill in fills:
            portfolio = portfolio.apply_fill(fill)
        return JournalState(
            orders=orders,
            open_orders={k: o for k, o in orders.items() if o.status.is_open},
            fills=fills,
            portfolio=portfolio,
            initial_cash=initial_cash,
        )
