"""The fake's signed spot trading API (tests/fakes/binance) against ccxt's real binance client."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import ccxt.async_support as ccxt_async
import pytest

from tests.fakes.binance import FakeBinance, binance_trading_exchange

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


async def using(fake, body, **kwargs):
    exchange = binance_trading_exchange(fake, **kwargs)
    try:
        return await body(exchange)
    finally:
        await exchange.close()


def test_authentication(fake):
    async def balance(ex):
        return await ex.fetch_balance()

    with pytest.raises(ccxt_async.AuthenticationError):  # -1022
        run(using(fake, balance, secret="wrong"))
    with pytest.raises(ccxt_async.AuthenticationError):  # -2015
        run(using(fake, balance, api_key="wrong"))
    assert run(using(fake, balance))["USDT"]["free"] == 10_000

    async def stale(ex):
        # ccxt signs with recvWindow 10 s: a clock 11 s behind the venue is outside it.
        ex.options["timeDifference"] = 11_000
        return await ex.fetch_balance()

    with pytest.raises(ccxt_async.InvalidNonce):  # -1021
        run(using(fake, stale))
    statuses = [r.status for r in fake.requests if r.path == "/api/v3/account"]
    assert statuses == [400, 401, 200, 400]


def test_market_order_fills_and_moves_balances(fake):
    price = fake.price("BTCUSDT")

    async def body(ex):
        order = await ex.create_order(
            "BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "abc"}
        )
        by_id = await ex.fetch_order(order["id"], "BTC/USDT")
        by_client = await ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "abc"})
        trades = await ex.fetch_my_trades("BTC/USDT")
        return order, by_id, by_client, trades, await ex.fetch_balance()

    order, by_id, by_client, trades, balance = run(using(fake, body))
    assert order["status"] == "closed" and order["clientOrderId"] == "abc"
    assert order["filled"] == 0.01 and order["average"] == float(price)
    assert by_id["id"] == by_client["id"] == order["id"]
    assert by_client["clientOrderId"] == "abc" and by_id["status"] == "closed"
    assert len(trades) == 1 and trades[0]["order"] == order["id"] and trades[0]["side"] == "buy"
    cost = price * Decimal("0.01")
    fee = (cost * Decimal("0.001")).quantize(Decimal("1e-8"))
    assert trades[0]["fee"] == {"cost": float(fee), "currency": "USDT", "rate": None} or (
        trades[0]["fee"]["cost"] == float(fee) and trades[0]["fee"]["currency"] == "USDT"
    )
    assert Decimal(str(balance["USDT"]["free"])) == Decimal(10_000) - cost - fee
    assert balance["BTC"]["free"] == 0.01
    assert fake.balance("USDT") == (Decimal(10_000) - cost - fee, 0)


def test_limit_order_rests_then_fills_partially_then_fully(fake):
    # a buy below the price: find the first later candle whose low crosses it
    limit = (fake.price("BTCUSDT") * Decimal("0.999")).quantize(Decimal("0.01"))

    async def body(ex):
        order = await ex.create_order("BTC/USDT", "limit", "buy", 0.02, float(limit))
        assert order["status"] == "open" and order["filled"] == 0
        assert [o["id"] for o in await ex.fetch_open_orders("BTC/USDT")] == [order["id"]]
        locked = (await ex.fetch_balance())["USDT"]["used"]
        assert locked == pytest.approx(float(limit * Decimal("0.02") * Decimal("1.001")))
        seen = []
        for _ in range(2000):
            fake.advance(MIN)
            got = await ex.fetch_order(order["id"], "BTC/USDT")
            if got["filled"] and (not seen or seen[-1] != (got["status"], got["filled"])):
                seen.append((got["status"], got["filled"]))
            if got["status"] == "closed":
                break
        assert seen[0] == ("open", 0.01) and seen[-1] == ("closed", 0.02)
        assert await ex.fetch_open_orders("BTC/USDT") == []
        with pytest.raises(ccxt_async.OrderNotFound):  # -2011
            await ex.cancel_order(order["id"], "BTC/USDT")
        trades = await ex.fetch_my_trades("BTC/USDT")
        assert [t["amount"] for t in trades] == [0.01, 0.01]
        assert all(t["price"] == float(limit) and t["takerOrMaker"] == "maker" for t in trades)
        return await ex.fetch_balance()

    balance = run(using(fake, body))
    assert balance["USDT"]["used"] == 0 and balance["BTC"]["free"] == 0.02


def test_cancel_open_order_unlocks(fake):
    async def body(ex):
        order = await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 30_000)
        canceled = await ex.cancel_order(order["id"], "BTC/USDT")
        assert canceled["status"] == "canceled"
        return await ex.fetch_balance()

    assert run(using(fake, body))["USDT"] == {"free": 10_000, "used": 0, "total": 10_000}


def test_order_rejections(fake):
    async def body(ex):
        await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 30_000, {"clientOrderId": "dup"})
        with pytest.raises(ccxt_async.InvalidOrder):  # -2010 Duplicate order sent.
            await ex.create_order(
                "BTC/USDT", "limit", "buy", 0.01, 30_000, {"clientOrderId": "dup"}
            )
        assert len(fake.orders()) == 1
        with pytest.raises(ccxt_async.InvalidOrder):  # below minQty: ccxt refuses client-side
            await ex.create_order("BTC/USDT", "market", "buy", 0.000001)
        with pytest.raises(ccxt_async.BadRequest):  # -1013 Filter failure: NOTIONAL
            await ex.create_order("BTC/USDT", "market", "buy", 0.0001)
        with pytest.raises(ccxt_async.InsufficientFunds):  # -2010 insufficient balance
            await ex.create_order("BTC/USDT", "market", "buy", 1)
        with pytest.raises(ccxt_async.InsufficientFunds):
            await ex.create_order("BTC/USDT", "market", "sell", 0.01)
        with pytest.raises(ccxt_async.OrderNotFound):  # -2013
            await ex.fetch_order("123", "BTC/USDT")
        assert len(fake.orders()) == 1

    run(using(fake, body))
    bodies = [r for r in fake.requests if r.path == "/api/v3/order" and r.status == 400]
    assert len(bodies) == 5


def test_dropped_create_leaves_the_order(fake):
    fake.drop_next("/api/v3/order", method="POST")

    async def body(ex):
        with pytest.raises(ccxt_async.NetworkError):
            await ex.create_order(
                "BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "lost"}
            )
        return await ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "lost"})

    found = run(using(fake, body))
    assert found["status"] == "closed" and found["filled"] == 0.01
    assert [o.client_order_id for o in fake.orders()] == ["lost"]


def test_reject_and_unavailable_faults(fake):
    fake.reject_next("/api/v3/order", 400, -1013, "Market is closed.")
    fake.unavailable_next("/api/v3/account", count=2)

    async def body(ex):
        with pytest.raises(ccxt_async.MarketClosed):
            await ex.create_order("BTC/USDT", "market", "buy", 0.01)
        for _ in range(2):
            with pytest.raises(ccxt_async.ExchangeNotAvailable):
                await ex.fetch_balance()
        return await ex.fetch_balance()

    assert run(using(fake, body))["USDT"]["free"] == 10_000
    assert fake.orders() == []
