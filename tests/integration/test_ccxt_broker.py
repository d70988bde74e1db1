"""CcxtBroker against the fake Binance (tests/fakes/binance) through ccxt's real client."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from supreme.core.errors import NotFound, Unavailable
from supreme.core.execution.broker import Broker
from supreme.core.execution.ccxt_broker import CcxtBroker
from supreme.core.model import Order, OrderStatus, OrderType, Side
from tests.fakes.binance import (
    FakeBinance,
    FakeBinanceStream,
    binance_pro_trading_exchange,
    binance_trading_exchange,
)
from tests.integration.test_fake_binance_trading import first_cross

pytestmark = pytest.mark.integration

MIN = 60_000
T = 1_704_067_200_000  # 2024-01-01 00:00 UTC
NOW = T + 30_000


def run(coro, timeout: float = 10.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture
def fake():
    with FakeBinance(now_ms=NOW, max_fill_per_candle="0.01") as server:
        server.fund("USDT", 10_000)
        yield server


async def using(fake, body, **options):
    exchange = binance_trading_exchange(fake)
    broker = CcxtBroker(exchange, backoff_s=0.01, **options)
    reports = []
    broker.set_report_handler(reports.append)
    try:
        return await body(broker, reports)
    finally:
        await exchange.close()


def market(cid: str, quantity: float, side: Side = Side.BUY) -> Order:
    return Order(cid, "BTC/USDT", side, quantity, created_ms=NOW, updated_ms=NOW)


def test_market_buy_acknowledged_then_fill_delivered_once(fake):
    async def body(broker, reports):
        assert isinstance(broker, Broker)
        ack = await broker.submit(market("m1", 0.01))
        first = await broker.poll()
        second = await broker.poll()
        return ack, first, second, reports

    ack, first, second, reports = run(using(fake, body))
    (venue_order,) = fake.orders()
    assert ack.status is OrderStatus.SUBMITTED and ack.client_order_id == "m1"
    assert ack.venue_order_id == str(venue_order.order_id)
    assert venue_order.client_order_id == "m1"
    trades = fake.trades("BTCUSDT")
    assert len(first) == len(trades) == 1 and second == [] and reports == first
    (report,) = first
    assert report.status is OrderStatus.FILLED and report.venue_order_id == ack.venue_order_id
    assert report.fill.quantity == float(trades[0].qty) == 0.01
    assert report.fill.price == float(trades[0].price)
    assert report.fill.fee == pytest.approx(float(trades[0].commission))
    assert report.fill.side is Side.BUY and report.fill.client_order_id == "m1"


def test_limit_order_rests_then_fills_partially_then_fully(fake):
    limit = float((fake.price("BTCUSDT") * Decimal("0.999")).quantize(Decimal("0.01")))
    order = Order(
        "l1", "BTC/USDT", Side.BUY, 0.02, OrderType.LIMIT, limit, created_ms=NOW, updated_ms=NOW
    )

    async def body(broker, reports):
        ack = await broker.submit(order)
        resting = await broker.open_orders()
        for _ in range(2000):
            fake.advance(MIN)
            await broker.poll()
            if reports and reports[-1].status is OrderStatus.FILLED:
                break
        assert await broker.poll() == []
        return ack, resting, reports, await broker.open_orders(), await broker.fetch_order("l1")

    ack, resting, reports, after, fetched = run(using(fake, body))
    assert ack.status is OrderStatus.SUBMITTED
    assert [(o.client_order_id, o.status, o.limit_price) for o in resting] == [
        ("l1", OrderStatus.SUBMITTED, limit)
    ]
    assert [r.status for r in reports] == [OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED]
    assert [r.fill.quantity for r in reports] == [0.01, 0.01]
    assert all(r.fill.price == limit for r in reports)
    assert after == [] and fetched.status is OrderStatus.FILLED
    assert fetched.filled_quantity == 0.02


def test_rejections_carry_the_venue_reason_and_leave_nothing(fake):
    async def body(broker, reports):
        broke = await broker.submit(market("r1", 1))  # 1 BTC > 10k USDT
        tiny = await broker.submit(market("r2", 0.0001))  # below the minimum notional
        return broke, tiny, await broker.poll(), reports

    errors = []
    broke, tiny, polled, reports = run(using(fake, body, on_venue_error=errors.append))
    assert broke.status is tiny.status is OrderStatus.REJECTED
    assert "insufficient balance" in broke.reason
    assert "NOTIONAL" in tiny.reason
    # Each rejection counts towards the risk engine's error-burst breaker.
    assert len(errors) == 2 and "'r1'" in errors[0] and "'r2'" in errors[1]
    assert fake.secret not in broke.reason and fake.api_key not in tiny.reason
    assert fake.orders() == [] and polled == [] and reports == []


def test_dropped_submit_is_found_by_client_id_not_resent(fake):
    fake.drop_next("/api/v3/order", method="POST")

    async def body(broker, reports):
        ack = await broker.submit(market("lost", 0.01))
        return ack, await broker.poll()

    ack, fills = run(using(fake, body))
    (venue_order,) = [o for o in fake.orders() if o.client_order_id == "lost"]
    assert len(fake.orders()) == 1
    assert ack.status is OrderStatus.SUBMITTED and ack.venue_order_id == str(venue_order.order_id)
    assert [r.status for r in fills] == [OrderStatus.FILLED]
    posts = [r for r in fake.requests if r.path == "/api/v3/order" and "side" in r.params]
    assert len(posts) == 1


def test_dropped_unprocessed_submit_is_never_resent_and_ends_rejected(fake):
    fake.drop_next("/api/v3/order", method="POST", process=False)

    async def body(broker, reports):
        with pytest.raises(Unavailable, match="fate is unknown"):
            await broker.submit(market("again", 0.01))
        early = await broker.poll()  # within the venue's validity window: still in doubt
        fake.advance(broker.unknown_fate_ms)
        late = await broker.poll()
        return early, late, reports

    early, late, reports = run(using(fake, body))
    assert early == []
    assert [(r.client_order_id, r.status) for r in late] == [("again", OrderStatus.REJECTED)]
    assert "never reached binance" in late[0].reason and reports == late
    assert fake.orders() == []
    posts = [r for r in fake.requests if r.path == "/api/v3/order" and "side" in r.params]
    assert len(posts) == 1  # sent once, never again


def test_submit_whose_answer_and_lookup_both_fail_is_found_by_the_next_poll(fake):
    fake.drop_next("/api/v3/order", method="POST")  # carried out, answer lost
    fake.unavailable_next("/api/v3/order", method="GET")  # and the lookup fails too

    async def body(broker, reports):
        with pytest.raises(Unavailable):
            await broker.submit(market("doubt", 0.01))
        return await broker.poll(), reports

    errors = []
    polled, reports = run(using(fake, body, on_venue_error=errors.append))
    (venue_order,) = fake.orders()
    assert [r.status for r in polled] == [OrderStatus.SUBMITTED, OrderStatus.FILLED]
    assert polled[0].venue_order_id == str(venue_order.order_id) and reports == polled
    assert polled[1].fill.quantity == 0.01
    # ccxt reports both the dropped connection and the 503 as ExchangeNotAvailable: each one
    # counts towards the error-burst breaker, and no signature leaks into the reasons.
    assert len(errors) == 2 and all("not available" in e for e in errors)
    assert "503" in errors[1] and "signature=***" in errors[1]


def test_rate_limited_submit_backs_off_and_retries(fake):
    fake.reject_next("/api/v3/order", 429, -1003, "Too many requests.", method="POST", count=2)

    async def body(broker, reports):
        return await broker.submit(market("slow", 0.01))

    ack = run(using(fake, body))
    assert ack.status is OrderStatus.SUBMITTED
    assert [o.client_order_id for o in fake.orders()] == ["slow"]
    statuses = [r.status for r in fake.requests if r.path == "/api/v3/order"]
    assert statuses == [429, 429, 200]


def test_cancel(fake):
    async def body(broker, reports):
        with pytest.raises(NotFound):
            await broker.cancel("nobody")
        await broker.submit(market("done", 0.01))
        with pytest.raises(NotFound):  # filled: the venue has no open order to cancel
            await broker.cancel("done")
        await broker.submit(
            Order("rest", "BTC/USDT", Side.BUY, 0.01, OrderType.LIMIT, 30_000.0, created_ms=NOW)
        )
        canceled = await broker.cancel("rest")
        assert fake.secret not in repr(broker) and fake.api_key not in repr(broker)
        return canceled, await broker.open_orders()

    canceled, still_open = run(using(fake, body))
    assert canceled.status is OrderStatus.CANCELED and canceled.venue_order_id
    assert still_open == []
    assert [o.status for o in fake.orders()] == ["FILLED", "CANCELED"]


def test_stop_order_rests_until_the_price_crosses_then_fills(fake):
    fake.fund("BTC", "0.05")
    current = fake.price("BTCUSDT")
    stop = float((current * Decimal("0.995")).quantize(Decimal("0.01")))
    cross = first_cross(fake, "BTCUSDT", "sell", Decimal(str(stop)), NOW - NOW % MIN + MIN)
    order = Order(
        "stop-1", "BTC/USDT", Side.SELL, 0.02, OrderType.STOP, stop_price=stop, created_ms=NOW
    )
    too_late = Order(
        "stop-2", "BTC/USDT", Side.SELL, 0.01, OrderType.STOP, stop_price=float(current) * 1.01
    )

    async def body(broker, reports):
        ack = await broker.submit(order)
        refused = await broker.submit(too_late)  # a sell stop above the price: at once
        resting = await broker.open_orders()
        fake.now_ms = cross + MIN - 1
        before = await broker.poll()
        fake.now_ms = cross + MIN
        after = await broker.poll()
        return ack, refused, resting, before, after

    ack, refused, resting, before, after = run(using(fake, body))
    assert ack.status is OrderStatus.SUBMITTED
    assert refused.status is OrderStatus.REJECTED and "trigger immediately" in refused.reason
    (rest,) = resting
    assert rest.order_type is OrderType.STOP and rest.stop_price == stop
    assert before == []
    (fill,) = after
    assert fill.status is OrderStatus.FILLED and fill.fill.price == stop
    assert fill.fill.quantity == 0.02 and fill.fill.side is Side.SELL
    (venue_order,) = [o for o in fake.orders() if o.client_order_id == "stop-1"]
    assert venue_order.type == "STOP_LOSS"


def test_user_data_stream_delivers_fills_and_cancels_without_polling(fake):
    limit = float((fake.price("BTCUSDT") * Decimal("0.999")).quantize(Decimal("0.01")))

    async def body():
        exchange = binance_pro_trading_exchange(fake, stream)
        broker = CcxtBroker(exchange, backoff_s=0.01)
        reports = []
        broker.set_report_handler(reports.append)
        assert broker.can_watch
        watching = asyncio.create_task(broker.watch())
        try:
            await until(lambda: stream.user_subscriptions() == 1)
            await broker.submit(
                Order("w1", "BTC/USDT", Side.BUY, 0.02, OrderType.LIMIT, limit, created_ms=NOW)
            )
            await broker.submit(
                Order("w2", "BTC/USDT", Side.BUY, 0.01, OrderType.LIMIT, limit * 0.9)
            )
            for _ in range(2000):  # candle by candle until both parts of w1 traded
                fake.advance(MIN)
                fake.settle()  # the venue matches up to its clock and sends the events
                await asyncio.sleep(0.02)
                if len(reports) == 2:
                    break
            await until(lambda: len(reports) == 2)
            venue_w2 = next(o for o in fake.orders() if o.client_order_id == "w2")
            # Canceled on the venue by someone else: the stream says so.
            await cancel_by_hand(venue_w2.order_id)
            await until(lambda: len(reports) == 3)
            return reports, await broker.poll()  # polling finds nothing left to deliver
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
            await exchange.close()

    async def cancel_by_hand(order_id: int) -> None:
        exchange = binance_trading_exchange(fake)
        try:
            await exchange.cancel_order(str(order_id), "BTC/USDT")
        finally:
            await exchange.close()

    with FakeBinanceStream(fake) as stream:
        reports, polled = run(body(), timeout=30)
    assert [(r.client_order_id, r.status) for r in reports] == [
        ("w1", OrderStatus.PARTIALLY_FILLED),
        ("w1", OrderStatus.FILLED),
        ("w2", OrderStatus.CANCELED),
    ]
    assert [r.fill.quantity for r in reports[:2]] == [0.01, 0.01]
    assert polled == []
    assert not [r for r in fake.requests if r.path == "/api/v3/myTrades"]  # no poll needed


async def until(check, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)
