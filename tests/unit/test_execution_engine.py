"""ExecutionEngine over PaperBroker and a scripted broker: idempotency, journaling, recovery."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from supreme.core.errors import IllegalTransition, InvalidArgument, NotFound
from supreme.core.execution.broker import ExecutionReport, ReportHandler
from supreme.core.execution.engine import ExecutionEngine
from supreme.core.execution.journal import OrderJournal
from supreme.core.execution.paper import PaperBroker, PaperBrokerConfig
from supreme.core.model import (
    Bar,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Portfolio,
    Side,
    TimeInForce,
)

S = OrderStatus
MIN = 60_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000


def bar(i: int, o: float = 100.0, v: float = 1_000.0, symbol: str = "BTC") -> Bar:
    return Bar(symbol, T0 + i * MIN, o, o + 2.0, o - 2.0, o + 1.0, v)


def order(cid: str = "o1", side: Side = Side.BUY, qty: float = 2.0, i: int = 0, **kw) -> Order:
    t = T0 + i * MIN
    return Order(cid, "BTC", side, qty, created_ms=t, updated_ms=t, **kw)


def paper(**kw) -> PaperBroker:
    return PaperBroker(PaperBrokerConfig(slippage_bps=0.0, fee_bps=10.0, **kw))


def test_submit_is_idempotent_on_client_order_id(tmp_path: Path) -> None:
    broker = paper()
    with OrderJournal(tmp_path / "e.sqlite") as journal:
        engine = ExecutionEngine(broker, journal)
        first = asyncio.run(engine.submit(order()))
        assert first.status is S.SUBMITTED and first.venue_order_id == "paper-1"
        again = asyncio.run(engine.submit(order(qty=99.0)))
        assert again == first
        assert broker.submissions == 1
        assert len(journal.orders()) == 1
        assert [o.client_order_id for o in engine.open_orders()] == ["o1"]
        with pytest.raises(InvalidArgument):
            asyncio.run(engine.submit(order("x", status=S.SUBMITTED)))


def test_fills_flow_into_journal_and_drain(tmp_path: Path) -> None:
    broker = paper()
    with OrderJournal(tmp_path / "e.sqlite") as journal:
        journal.set_initial_cash(1_000.0)
        engine = ExecutionEngine(broker, journal)
        asyncio.run(engine.submit(order()))
        assert broker.on_bar(bar(0)) == []  # the submission bar: nothing
        reports = broker.on_bar(bar(1, o=101.0))
        assert [r.status for r in reports] == [S.FILLED]
        [f] = engine.drain_fills()
        assert engine.drain_fills() == []
        assert (f.quantity, f.price) == (2.0, 101.0)
        assert f.fee == pytest.approx(2 * 101.0 * 0.001)
        assert journal.fills() == [f]
        got = engine.get("o1")
        assert got is not None and got.status is S.FILLED and got.average_fill_price == 101.0
        assert journal.get("o1") == got
        assert engine.open_orders() == []
        assert [o.client_order_id for o in engine.orders(S.FILLED)] == ["o1"]
        trail = [e.status for e in journal.events("o1")]
        assert trail == [S.NEW, S.SUBMITTED, S.FILLED]
        # The same report again (a venue repeating itself) is ignored.
        assert engine.handle_report(reports[0]) is None
        assert engine.drain_fills() == []


def test_cancel_and_expiry_are_journaled(tmp_path: Path) -> None:
    broker = paper()
    with OrderJournal(tmp_path / "e.sqlite") as journal:
        engine = ExecutionEngine(broker, journal)
        limit = dict(order_type=OrderType.LIMIT, limit_price=50.0)
        asyncio.run(engine.submit(order("lim", **limit)))
        canceled = asyncio.run(engine.cancel("lim"))
        assert canceled.status is S.CANCELED
        assert journal.get("lim") == canceled
        assert asyncio.run(engine.cancel("lim")) == canceled  # canceling twice is fine
        with pytest.raises(NotFound):
            asyncio.run(engine.cancel("ghost"))
        asyncio.run(engine.submit(order("ioc", time_in_force=TimeInForce.IOC, **limit)))
        broker.on_bar(bar(1))
        expired = journal.get("ioc")
        assert expired is not None and expired.status is S.EXPIRED
        with pytest.raises(IllegalTransition):
            asyncio.run(engine.cancel("ioc"))
        assert engine.open_orders() == []


def test_record_denied(tmp_path: Path) -> None:
    with OrderJournal(tmp_path / "e.sqlite") as journal:
        engine = ExecutionEngine(paper(), journal)
        denied = order("d", status=S.DENIED, reason="max position")
        assert engine.record_denied(denied) == denied
        assert journal.get("d") == denied
        assert [(e.status, e.reason) for e in journal.events("d")] == [(S.DENIED, "max position")]
        assert engine.record_denied(order("d", status=S.DENIED, reason="other")) == denied
        # A request risk was asked to size and refused has no quantity; it is journaled as is.
        unsized = order("u", qty=0.0, status=S.DENIED, reason="halted")
        assert engine.record_denied(unsized) == unsized
        assert journal.replay().orders["u"].quantity == 0.0
        with pytest.raises(InvalidArgument):
            engine.record_denied(order("n"))


class ScriptedBroker:
    """A broker whose behaviour each test scripts."""

    venue = "scripted"

    def __init__(self) -> None:
        self.handler: ReportHandler | None = None
        self.submitted: list[Order] = []
        self.fail_submit: Exception | None = None
        self.fill_before_ack: Fill | None = None
        self.known: dict[str, Order] = {}

    def set_report_handler(self, callback: ReportHandler) -> None:
        self.handler = callback

    async def submit(self, order: Order) -> ExecutionReport:
        self.submitted.append(order)
        if self.fail_submit is not None:
            raise self.fail_submit
        if self.fill_before_ack is not None and self.handler is not None:
            # The venue's stream delivers the fill before the REST ack returns.
            self.handler(
                ExecutionReport(
                    order.client_order_id,
                    S.PARTIALLY_FILLED,
                    self.fill_before_ack.time_ms,
                    fill=self.fill_before_ack,
                )
            )
        self.known[order.client_order_id] = order
        return ExecutionReport(
            order.client_order_id, S.SUBMITTED, order.created_ms, venue_order_id="V-1"
        )

    async def cancel(self, client_order_id: str) -> ExecutionReport:
        if client_order_id not in self.known:
            raise NotFound(client_order_id)
        return ExecutionReport(client_order_id, S.CANCELED, T0 + 5 * MIN, reason="user")

    async def fetch_order(self, client_order_id: str) -> Order | None:
        return self.known.get(client_order_id)

    async def open_orders(self) -> list[Order]:
        return list(self.known.values())


def fill_of(o: Order, n: int, qty: float, price: float = 100.0) -> Fill:
    return Fill(
        f"{o.client_order_id}-{n}",
        o.client_order_id,
        o.symbol,
        o.side,
        qty,
        price,
        0.0,
        T0 + n * MIN,
    )


def test_broker_failure_leaves_order_new_and_propagates(tmp_path: Path) -> None:
    broker = ScriptedBroker()
    broker.fail_submit = ConnectionError("venue unreachable")
    with OrderJournal(tmp_path / "e.sqlite") as journal:
        engine = ExecutionEngine(broker, journal)
        with pytest.raises(ConnectionError):
            asyncio.run(engine.submit(order()))
        stored = journal.get("o1")
        assert stored is not None and stored.status is S.NEW
        assert [o.client_order_id for o in engine.open_orders()] == ["o1"]
        # The venue never heard of it, so a cancel closes it locally.
        canceled = asyncio.run(engine.cancel("o1"))
        assert canceled.status is S.CANCELED and "locally" in canceled.reason
        assert journal.get("o1") == canceled


def test_fill_that_overtakes_the_ack(tmp_path: Path) -> None:
    broker = ScriptedBroker()
    o = order(qty=3.0)
    broker.fill_before_ack = fill_of(o, 1, 1.0)
    with OrderJournal(tmp_path / "e.sqlite") as journal:
        engine = ExecutionEngine(broker, journal)
        after = asyncio.run(engine.submit(o))
        assert after.status is S.PARTIALLY_FILLED
        assert after.filled_quantity == 1.0
        assert after.venue_order_id == "V-1"
        assert journal.get("o1") == after
        assert [f.fill_id for f in engine.drain_fills()] == ["o1-1"]


def test_late_fill_after_cancel_is_booked(tmp_path: Path) -> None:
    broker = ScriptedBroker()
    with OrderJournal(tmp_path / "e.sqlite") as journal:
        engine = ExecutionEngine(broker, journal)
        o = asyncio.run(engine.submit(order(qty=3.0)))
        assert asyncio.run(engine.cancel("o1")).status is S.CANCELED
        late = fill_of(o, 2, 1.0)
        assert (
            engine.handle_report(ExecutionReport("o1", S.PARTIALLY_FILLED, late.time_ms, fill=late))
            == late
        )
        stored = journal.get("o1")
        assert stored is not None
        assert (stored.status, stored.filled_quantity) == (S.CANCELED, 1.0)
        # A stale status report for a closed order changes nothing.
        assert engine.handle_report(ExecutionReport("o1", S.EXPIRED, T0)) is None
        assert journal.get("o1") == stored
        assert engine.handle_report(ExecutionReport("ghost", S.EXPIRED, T0)) is None


def test_restart_replays_and_resubmits_to_a_fresh_paper_broker(tmp_path: Path) -> None:
    path = tmp_path / "restart.sqlite"
    config = dict(max_volume_participation=0.1)
    # Session 1: a market order partly filled (volume-limited), a resting limit, a filled sell.
    broker = paper(**config)
    with OrderJournal(path) as journal:
        journal.set_initial_cash(10_000.0)
        engine = ExecutionEngine(broker, journal)
        asyncio.run(engine.submit(order("mkt", qty=10.0)))
        asyncio.run(
            engine.submit(order("lim", qty=1.0, order_type=OrderType.LIMIT, limit_price=80.0))
        )
        asyncio.run(engine.submit(order("sell", side=Side.SELL, qty=1.0)))
        broker.on_bar(bar(1, o=100.0, v=40.0))  # 10% of 40: "mkt" fills 4 and uses it all
        session1 = engine.drain_fills()
        before = {o.client_order_id: o for o in journal.orders()}
    assert before["mkt"].status is S.PARTIALLY_FILLED
    assert before["mkt"].filled_quantity == 4.0
    assert before["lim"].status is S.SUBMITTED
    assert before["sell"].status is S.SUBMITTED  # the budget (4) went to "mkt" first

    # Session 2: new process, new (empty) paper broker, same journal.
    broker2 = paper(**config)
    with OrderJournal(path) as journal:
        engine2 = asyncio.run(ExecutionEngine.recover(broker2, journal))
        assert {o.client_order_id for o in engine2.open_orders()} == {"mkt", "lim", "sell"}
        assert broker2.submissions == 3
        assert broker2.on_bar(bar(1, o=100.0, v=40.0)) == []  # an already-seen bar: nothing
        broker2.on_bar(bar(2, o=102.0, v=100.0))
        session2 = engine2.drain_fills()
        got = {(f.client_order_id, f.quantity) for f in session2}
        assert got == {("mkt", 6.0), ("sell", 1.0)}  # only the remainder of "mkt" trades
        mkt = journal.get("mkt")
        assert mkt is not None and mkt.status is S.FILLED and mkt.filled_quantity == 10.0
        assert mkt.average_fill_price == pytest.approx((4 * 100.0 + 6 * 102.0) / 10)
        state = journal.replay()
        assert list(state.open_orders) == ["lim"]
        expected = Portfolio(cash=10_000.0)
        for f in session1 + session2:
            expected = expected.apply_fill(f)
        assert state.portfolio == expected
        assert state.portfolio.position("BTC").quantity == pytest.approx(9.0)


class RefusingPaper(PaperBroker):
    """A paper venue that refuses every new order, as a venue does when the account is closed."""

    async def submit(self, order: Order) -> ExecutionReport:
        return ExecutionReport(order.client_order_id, S.REJECTED, order.updated_ms, reason="no")


def test_recover_rejected_resubmission_closes_the_order(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    with OrderJournal(path) as journal:
        journal.record_new(order("bad"))
        engine = asyncio.run(ExecutionEngine.recover(RefusingPaper(), journal))
        assert engine.open_orders() == []
        stored = journal.get("bad")
        assert stored is not None and stored.status is S.REJECTED
        assert "restart" in stored.reason


def test_recover_leaves_orders_the_broker_knows(tmp_path: Path) -> None:
    broker = ScriptedBroker()
    with OrderJournal(tmp_path / "k.sqlite") as journal:
        asyncio.run(ExecutionEngine(broker, journal).submit(order()))
        broker.submitted.clear()
        engine = asyncio.run(ExecutionEngine.recover(broker, journal, resubmit_unknown=True))
        assert broker.submitted == []  # known to the venue: left alone
        assert [o.client_order_id for o in engine.open_orders()] == ["o1"]
        # A non-paper broker that does not know the order: not re-sent by default.
        fresh = ScriptedBroker()
        engine = asyncio.run(ExecutionEngine.recover(fresh, journal))
        assert fresh.submitted == []
        assert [o.status for o in engine.open_orders()] == [S.SUBMITTED]
        engine = asyncio.run(ExecutionEngine.recover(fresh, journal, resubmit_unknown=True))
        assert [o.client_order_id for o in fresh.submitted] == ["o1"]
