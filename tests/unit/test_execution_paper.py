"""PaperBroker matching rules: prices, fees, partial fills, time in force, bookkeeping."""

from __future__ import annotations

import asyncio

import pytest

from supreme.core.errors import IllegalTransition, InvalidArgument, NotFound
from supreme.core.execution.broker import Broker, ExecutionReport
from supreme.core.execution.paper import DAY_MS, PaperBroker, PaperBrokerConfig
from supreme.core.model import Bar, Order, OrderStatus, OrderType, Side, TimeInForce

S = OrderStatus
MIN = 60_000
T0 = 10 * DAY_MS  # midnight UTC
SLIP = 10.0  # bps
FEE = 5.0  # bps


def broker(**kw: object) -> PaperBroker:
    config = dict(slippage_bps=SLIP, fee_bps=FEE)
    config.update(kw)
    return PaperBroker(PaperBrokerConfig(**config))  # type: ignore[arg-type]


def bar(
    i: int,
    o: float = 100.0,
    h: float | None = None,
    lo: float | None = None,
    c: float | None = None,
    v: float = 1_000.0,
    symbol: str = "BTC",
    t: int | None = None,
) -> Bar:
    h = max(o, c or o) + 1.0 if h is None else h
    lo = min(o, c or o) - 1.0 if lo is None else lo
    return Bar(symbol, T0 + i * MIN if t is None else t, o, h, lo, o if c is None else c, v)


def order(
    cid: str = "o1",
    side: Side = Side.BUY,
    qty: float = 2.0,
    t: int = T0,
    **kw: object,
) -> Order:
    return Order(cid, "BTC", side, qty, created_ms=t, updated_ms=t, **kw)  # type: ignore[arg-type]


def submit(b: PaperBroker, o: Order) -> ExecutionReport:
    return asyncio.run(b.submit(o))


def fills(reports: list[ExecutionReport]) -> list:
    return [r.fill for r in reports if r.fill is not None]


def test_paper_broker_is_a_broker() -> None:
    assert isinstance(PaperBroker(), Broker)
    assert PaperBroker().venue == "paper"
    assert PaperBroker().config == PaperBrokerConfig(1.0, 1.0, None)


@pytest.mark.parametrize(
    "kw",
    [{"slippage_bps": -1.0}, {"fee_bps": float("nan")}, {"max_volume_participation": 0.0}],
)
def test_config_is_validated(kw: dict) -> None:
    with pytest.raises(InvalidArgument):
        PaperBrokerConfig(**kw)


def test_submit_ack() -> None:
    b = broker()
    ack = submit(b, order())
    assert ack.status is S.SUBMITTED
    assert ack.venue_order_id == "paper-1"
    assert ack.client_order_id == "o1"
    held = asyncio.run(b.fetch_order("o1"))
    assert held is not None and held.status is S.SUBMITTED
    assert [o.client_order_id for o in asyncio.run(b.open_orders())] == ["o1"]


def test_market_buy_fills_at_next_bar_open_with_slippage_and_fee() -> None:
    b = broker()
    seen: list[ExecutionReport] = []
    b.set_report_handler(seen.append)
    b.on_bar(bar(0, o=99.0, c=100.0))  # the bar whose close produced the order
    submit(b, order(qty=2.0, t=T0))
    assert b.on_bar(bar(0, o=99.0, c=100.0)) == []  # the same bar again: never
    reports = b.on_bar(bar(1, o=101.0))
    assert seen == reports
    [report] = reports
    assert report.status is S.FILLED
    f = report.fill
    assert f is not None
    assert f.fill_id == f"o1-{T0 + MIN}"
    assert f.time_ms == T0 + MIN
    assert f.quantity == 2.0
    assert f.price == pytest.approx(101.0 * 1.001, rel=1e-12)
    assert f.fee == pytest.approx(2.0 * 101.0 * 1.001 * 0.0005, rel=1e-12)
    held = asyncio.run(b.fetch_order("o1"))
    assert held is not None and held.status is S.FILLED
    assert asyncio.run(b.open_orders()) == []
    assert b.on_bar(bar(2)) == []  # never twice


def test_market_never_fills_on_submission_bar_even_without_prior_bar() -> None:
    b = broker()
    submit(b, order(t=T0 + MIN))  # created at the open time of the bar that produced it
    assert b.on_bar(bar(1)) == []
    assert len(fills(b.on_bar(bar(2)))) == 1


def test_market_sell_gets_open_less_slippage() -> None:
    b = broker()
    submit(b, order(side=Side.SELL, qty=3.0))
    [f] = fills(b.on_bar(bar(1, o=200.0)))
    assert f.side is Side.SELL
    assert f.price == pytest.approx(200.0 * 0.999, rel=1e-12)
    assert f.fee == pytest.approx(3.0 * 200.0 * 0.999 * 0.0005, rel=1e-12)


def test_limit_buy_fills_only_when_crossed_at_limit_or_better_open() -> None:
    b = broker()
    submit(b, order("a", order_type=OrderType.LIMIT, limit_price=95.0))
    submit(b, order("b", order_type=OrderType.LIMIT, limit_price=93.0))
    assert b.on_bar(bar(1, o=100.0, lo=95.5, h=101.0)) == []  # low above limit
    held = asyncio.run(b.fetch_order("a"))
    assert held is not None and held.status is S.SUBMITTED
    [fa] = fills(b.on_bar(bar(2, o=98.0, lo=94.0, h=99.0)))  # crossed: at the limit
    assert fa.client_order_id == "a"
    assert fa.price == 95.0  # no slippage on limits
    assert fa.fee == pytest.approx(2 * 95.0 * 0.0005, rel=1e-12)
    held = asyncio.run(b.fetch_order("b"))  # low 94 did not reach 93
    assert held is not None and held.status is S.SUBMITTED
    b2 = broker()
    submit(b2, order("g", order_type=OrderType.LIMIT, limit_price=95.0))
    [fg] = fills(b2.on_bar(bar(1, o=90.0, lo=89.0, h=92.0)))  # gap through: the better open
    assert fg.price == 90.0


def test_limit_sell_mirror() -> None:
    b = broker()
    submit(b, order("s", side=Side.SELL, order_type=OrderType.LIMIT, limit_price=105.0))
    assert b.on_bar(bar(1, o=100.0, h=104.9, lo=99.0)) == []
    [f] = fills(b.on_bar(bar(2, o=103.0, h=106.0, lo=102.0)))
    assert f.price == 105.0
    b2 = broker()
    submit(b2, order("s", side=Side.SELL, order_type=OrderType.LIMIT, limit_price=105.0))
    [g] = fills(b2.on_bar(bar(1, o=110.0, h=111.0, lo=109.0)))
    assert g.price == 110.0


def test_buy_stop_triggers_when_traded_through() -> None:
    b = broker()
    submit(b, order("st", order_type=OrderType.STOP, stop_price=105.0))
    assert b.on_bar(bar(1, o=100.0, h=104.0, lo=99.0)) == []
    [f] = fills(b.on_bar(bar(2, o=103.0, h=106.0, lo=102.0)))
    assert f.price == pytest.approx(105.0 * 1.001, rel=1e-12)
    b2 = broker()
    submit(b2, order("st", order_type=OrderType.STOP, stop_price=105.0))
    [g] = fills(b2.on_bar(bar(1, o=108.0, h=109.0, lo=107.0)))  # gap above the stop
    assert g.price == pytest.approx(108.0 * 1.001, rel=1e-12)


def test_sell_stop_triggers_when_traded_through() -> None:
    b = broker()
    submit(b, order("st", side=Side.SELL, order_type=OrderType.STOP, stop_price=95.0))
    assert b.on_bar(bar(1, o=100.0, h=101.0, lo=96.0)) == []
    [f] = fills(b.on_bar(bar(2, o=97.0, h=98.0, lo=94.0)))
    assert f.price == pytest.approx(95.0 * 0.999, rel=1e-12)
    b2 = broker()
    submit(b2, order("st", side=Side.SELL, order_type=OrderType.STOP, stop_price=95.0))
    [g] = fills(b2.on_bar(bar(1, o=90.0, h=91.0, lo=89.0)))
    assert g.price == pytest.approx(90.0 * 0.999, rel=1e-12)


def test_volume_participation_gives_partial_fills_across_bars() -> None:
    b = broker(max_volume_participation=0.1)
    submit(b, order(qty=10.0))
    statuses, quantities, ids = [], [], []
    for i in range(1, 6):
        for r in b.on_bar(bar(i, o=100.0 + i, v=30.0)):
            statuses.append(r.status)
            assert r.fill is not None
            quantities.append(r.fill.quantity)
            ids.append(r.fill.fill_id)
            assert r.fill.price == pytest.approx((100.0 + i) * 1.001, rel=1e-12)
    assert quantities == pytest.approx([3.0, 3.0, 3.0, 1.0])
    assert statuses == [S.PARTIALLY_FILLED] * 3 + [S.FILLED]
    assert len(set(ids)) == 4
    held = asyncio.run(b.fetch_order("o1"))
    assert held is not None
    assert held.filled_quantity == 10.0
    assert held.average_fill_price == pytest.approx(
        (3 * 101 + 3 * 102 + 3 * 103 + 1 * 104) * 1.001 / 10, rel=1e-12
    )


def test_volume_budget_is_shared_by_a_symbols_orders_in_submission_order() -> None:
    b = broker(max_volume_participation=0.5)
    submit(b, order("first", qty=3.0))
    submit(b, order("second", qty=3.0))
    got = {f.client_order_id: f.quantity for f in fills(b.on_bar(bar(1, v=8.0)))}
    assert got == {"first": 3.0, "second": 1.0}
    assert b.on_bar(bar(2, v=0.0)) == []  # no volume, no fill
    got = {f.client_order_id: f.quantity for f in fills(b.on_bar(bar(3, v=8.0)))}
    assert got == {"second": 2.0}


def test_triggered_stop_remainder_trades_as_market() -> None:
    b = broker(max_volume_participation=0.1)
    submit(b, order(qty=5.0, order_type=OrderType.STOP, stop_price=105.0))
    [f1] = fills(b.on_bar(bar(1, o=100.0, h=106.0, lo=99.0, v=30.0)))
    assert (f1.quantity, f1.price) == (3.0, pytest.approx(105.0 * 1.001))
    [f2] = fills(b.on_bar(bar(2, o=101.0, h=102.0, lo=100.0, v=30.0)))  # below stop again
    assert (f2.quantity, f2.price) == (2.0, pytest.approx(101.0 * 1.001))


def test_ioc_expires_unfilled_remainder_on_first_bar() -> None:
    b = broker(max_volume_participation=0.1)
    submit(b, order(qty=10.0, time_in_force=TimeInForce.IOC))
    reports = b.on_bar(bar(1, v=40.0))
    assert [r.status for r in reports] == [S.PARTIALLY_FILLED, S.EXPIRED]
    assert reports[0].fill is not None and reports[0].fill.quantity == 4.0
    assert "IOC" in reports[1].reason
    assert b.on_bar(bar(2, v=40.0)) == []
    held = asyncio.run(b.fetch_order("o1"))
    assert held is not None and held.status is S.EXPIRED and held.filled_quantity == 4.0


def test_ioc_limit_not_crossed_expires() -> None:
    b = broker()
    submit(b, order(order_type=OrderType.LIMIT, limit_price=90.0, time_in_force=TimeInForce.IOC))
    [r] = b.on_bar(bar(1, o=100.0, lo=95.0))
    assert r.status is S.EXPIRED and r.fill is None


def test_fok_fills_completely_or_expires() -> None:
    b = broker(max_volume_participation=0.1)
    submit(b, order("small", qty=3.0, time_in_force=TimeInForce.FOK))
    submit(b, order("big", qty=30.0, time_in_force=TimeInForce.FOK))
    reports = b.on_bar(bar(1, v=50.0))
    by_id = {(r.client_order_id, r.status) for r in reports}
    assert by_id == {("small", S.FILLED), ("big", S.EXPIRED)}
    assert [f.client_order_id for f in fills(reports)] == ["small"]
    assert b.on_bar(bar(2, v=1e9)) == []


def test_day_order_expires_at_first_bar_of_next_utc_day_gtc_stays() -> None:
    b = broker()
    t = T0 + DAY_MS - 3 * MIN
    limit = dict(order_type=OrderType.LIMIT, limit_price=90.0)
    submit(b, order("day", t=t, time_in_force=TimeInForce.DAY, **limit))
    submit(b, order("gtc", t=t, **limit))
    assert b.on_bar(bar(0, t=t + MIN, lo=95.0)) == []
    reports = b.on_bar(bar(0, t=T0 + DAY_MS, o=89.0, lo=88.0, h=90.0))
    summary = [(r.client_order_id, r.status, r.fill is not None) for r in reports]
    assert summary == [("day", S.EXPIRED, False), ("gtc", S.FILLED, True)]


def test_duplicate_submit_is_rejected_and_order_fills_once() -> None:
    b = broker()
    assert submit(b, order()).status is S.SUBMITTED
    dup = submit(b, order(qty=5.0))
    assert dup.status is S.REJECTED
    assert "duplicate" in dup.reason
    held = asyncio.run(b.fetch_order("o1"))
    assert held is not None and held.quantity == 2.0
    reports = b.on_bar(bar(1))
    assert len(fills(reports)) == 1 and reports[0].fill.quantity == 2.0  # type: ignore[union-attr]
    assert b.on_bar(bar(2)) == []


@pytest.mark.parametrize(
    "bad",
    [
        order(status=S.CANCELED),
        order(status=S.SUBMITTED, filled_quantity=2.0),  # nothing left
    ],
)
def test_invalid_orders_are_rejected(bad: Order) -> None:
    b = broker()
    ack = submit(b, bad)
    assert ack.status is S.REJECTED and ack.reason
    assert b.on_bar(bar(1, lo=1.0, h=1_000.0)) == []
    assert asyncio.run(b.open_orders()) == []


def test_cancel() -> None:
    b = broker()
    submit(b, order(order_type=OrderType.LIMIT, limit_price=50.0))
    b.on_bar(bar(1))
    report = asyncio.run(b.cancel("o1"))
    assert report.status is S.CANCELED
    assert report.time_ms == T0 + MIN
    assert b.on_bar(bar(2, o=40.0, lo=39.0, h=41.0)) == []
    held = asyncio.run(b.fetch_order("o1"))
    assert held is not None and held.status is S.CANCELED
    with pytest.raises(NotFound):
        asyncio.run(b.cancel("nope"))
    with pytest.raises(IllegalTransition):
        asyncio.run(b.cancel("o1"))


def test_other_symbols_bars_do_not_touch_the_order_and_marks() -> None:
    b = broker()
    submit(b, order())
    assert b.mark("BTC") is None
    assert b.on_bar(bar(1, symbol="ETH", c=50.0, o=50.0)) == []
    assert b.mark("ETH") == 50.0
    assert len(b.on_bar(bar(2, o=100.0, c=101.0))) == 1
    assert b.mark("BTC") == 101.0
    assert b.now_ms == T0 + 2 * MIN
    b.on_bar(bar(1, o=100.0, c=99.0))  # an older bar does not move the mark back
    assert b.mark("BTC") == 101.0
