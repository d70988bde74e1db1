"""The fake's signed spot trading API (tests/fakes/binance) against ccxt's real binance client."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import ccxt.async_support as ccxt_async
import pytest

from tests.fakes.binance import (
    FakeBinance,
    FakeBinanceStream,
    binance_pro_trading_exchange,
    binance_trading_exchange,
)

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


def test_delayed_ack_order_exists_before_the_answer(fake):
    fake.delay_next("/api/v3/order", 1.5, method="POST")

    async def body(ex):
        await ex.load_markets()
        started = time.monotonic()
        task = asyncio.create_task(
            ex.create_order("BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "slow"})
        )
        seen_at = None
        while seen_at is None:
            await asyncio.sleep(0.02)
            orders = await asyncio.to_thread(fake.orders)
            if orders:
                seen_at = time.monotonic() - started
                assert not task.done()
                assert [(o.client_order_id, o.status) for o in orders] == [("slow", "FILLED")]
        order = await task
        return seen_at, time.monotonic() - started, order

    seen_at, took, order = run(using(fake, body))
    assert seen_at < 1.0 and took >= 1.5
    assert order["clientOrderId"] == "slow" and order["status"] == "closed"
    assert order["filled"] == 0.01

    # the delay was spent once: the next order is answered at once
    async def again(ex):
        started = time.monotonic()
        await ex.create_order("BTC/USDT", "market", "buy", 0.01)
        return time.monotonic() - started

    assert run(using(fake, again)) < 1.0


def test_delayed_ack_times_out_the_client_but_the_order_exists(fake):
    fake.delay_next("/api/v3/order", 1.5, method="POST")

    async def body(ex):
        await ex.load_markets()
        started = time.monotonic()
        with pytest.raises(ccxt_async.RequestTimeout) as raised:
            await ex.create_order(
                "BTC/USDT", "limit", "buy", 0.01, 30_000, {"clientOrderId": "late"}
            )
        assert isinstance(raised.value, ccxt_async.NetworkError)
        assert time.monotonic() - started < 1.4
        # while the venue still holds the answer, the order is there and queryable
        assert [o.client_order_id for o in fake.open_orders()] == ["late"]
        return await ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "late"})

    found = run(using(fake, body, timeout=500))
    assert found["status"] == "open" and found["clientOrderId"] == "late"
    assert fake.balance("USDT")[1] == Decimal("300.3")  # 0.01 * 30000 * 1.001 locked


def first_cross(fake, symbol, side, level, after_ms):
    """The open time of the first 1m candle opening at or after ``after_ms`` whose low (a sell
    stop) or high (a buy stop) reaches ``level``."""
    for row in fake.candles(symbol, "1m", after_ms, after_ms + 3_000 * MIN, now_ms=1 << 50):
        low, high = Decimal(row[3]), Decimal(row[2])
        if (low <= level) if side == "sell" else (high >= level):
            return row[0]
    raise AssertionError("the price path never reaches the level")


def test_stop_loss_sell_waits_then_fills_at_the_stop(fake):
    fake.fund("BTC", "0.05")
    current = fake.price("BTCUSDT")
    stop = (current * Decimal("0.995")).quantize(Decimal("0.01"))
    cross = first_cross(fake, "BTCUSDT", "sell", stop, NOW - NOW % MIN + MIN)
    assert cross > NOW + MIN  # at least one candle in between that does not trigger

    async def body(ex):
        order = await ex.create_order(
            "BTC/USDT", "market", "sell", 0.02, None, {"stopLossPrice": float(stop)}
        )
        assert order["info"]["type"] == "STOP_LOSS" and order["info"]["status"] == "NEW"
        assert order["type"] == "market" and order["status"] == "open"
        assert order["triggerPrice"] == float(stop) and order["filled"] == 0
        assert (await ex.fetch_balance())["BTC"] == {"free": 0.03, "used": 0.02, "total": 0.05}
        fake.now_ms = cross + MIN - 1  # the crossing candle has not closed yet
        [pending] = await ex.fetch_open_orders("BTC/USDT")
        assert pending["id"] == order["id"] and pending["triggerPrice"] == float(stop)
        assert pending["stopPrice"] == float(stop) and pending["info"]["isWorking"] is False
        assert pending["info"]["workingTime"] == -1
        fake.now_ms = cross + MIN  # now it has
        done = await ex.fetch_order(order["id"], "BTC/USDT")
        trades = await ex.fetch_my_trades("BTC/USDT")
        return order, done, trades, await ex.fetch_balance()

    order, done, trades, balance = run(using(fake, body))
    assert done["id"] == order["id"] and done["info"]["type"] == "STOP_LOSS"
    assert done["status"] == "closed" and done["filled"] == 0.02  # whole, cap or not
    assert done["average"] == float(stop) and done["info"]["workingTime"] == cross + MIN - 1
    assert [(t["order"], t["price"], t["amount"], t["takerOrMaker"]) for t in trades] == [
        (order["id"], float(stop), 0.02, "taker")
    ]
    proceeds = (stop * Decimal("0.02")).quantize(Decimal("1e-8"))
    fee = (proceeds * Decimal("0.001")).quantize(Decimal("1e-8"))
    assert Decimal(str(balance["USDT"]["free"])) == 10_000 + proceeds - fee
    assert balance["BTC"] == {"free": 0.03, "used": 0, "total": 0.03}
    assert fake.balance("BTC") == (Decimal("0.03"), 0)


def test_stop_loss_limit_buy_triggers_into_a_limit(fake):
    current = fake.price("BTCUSDT")
    stop = (current * Decimal("1.004")).quantize(Decimal("0.01"))
    limit = stop + Decimal("5")
    cross = first_cross(fake, "BTCUSDT", "buy", stop, NOW - NOW % MIN + MIN)
    assert cross > NOW + MIN

    async def body(ex):
        order = await ex.create_order(
            "BTC/USDT", "limit", "buy", 0.03, float(limit), {"stopLossPrice": float(stop)}
        )
        assert order["info"]["type"] == "STOP_LOSS_LIMIT" and order["type"] == "limit"
        assert order["status"] == "open" and order["price"] == float(limit)
        assert order["triggerPrice"] == float(stop) and order["timeInForce"] == "GTC"
        locked = (await ex.fetch_balance())["USDT"]["used"]
        assert locked == pytest.approx(float(limit * Decimal("0.03") * Decimal("1.001")))
        fake.now_ms = cross + MIN - 1
        assert (await ex.fetch_order(order["id"], "BTC/USDT"))["filled"] == 0
        fake.now_ms = cross + MIN
        # triggered: marketable at the stop, it takes one candle's worth there
        triggered = await ex.fetch_order(order["id"], "BTC/USDT")
        assert triggered["info"]["type"] == "STOP_LOSS_LIMIT" and triggered["id"] == order["id"]
        assert triggered["status"] == "open" and triggered["filled"] == 0.01
        assert triggered["info"]["status"] == "PARTIALLY_FILLED"
        assert triggered["info"]["isWorking"] is True
        for _ in range(2000):
            if (await ex.fetch_order(order["id"], "BTC/USDT"))["status"] == "closed":
                break
            fake.advance(MIN)
        trades = await ex.fetch_my_trades("BTC/USDT")
        return order, trades, await ex.fetch_balance()

    order, trades, balance = run(using(fake, body))
    assert [(t["price"], t["amount"], t["takerOrMaker"]) for t in trades] == [
        (float(stop), 0.01, "taker"),
        (float(limit), 0.01, "maker"),
        (float(limit), 0.01, "maker"),
    ]
    assert {t["order"] for t in trades} == {order["id"]}
    assert trades[0]["timestamp"] == cross + MIN - 1 < trades[1]["timestamp"]
    assert balance["BTC"]["free"] == 0.03 and balance["USDT"]["used"] == 0
    spent = sum(
        (Decimal(str(t["cost"])) + Decimal(str(t["fee"]["cost"])) for t in trades), Decimal(0)
    )
    assert Decimal(str(balance["USDT"]["free"])) == 10_000 - spent


def test_stop_that_would_trigger_immediately_is_rejected(fake):
    fake.fund("BTC", "0.05")
    current = float(fake.price("BTCUSDT"))

    async def body(ex):
        with pytest.raises(ccxt_async.OrderImmediatelyFillable) as sell:  # -2010
            await ex.create_order(
                "BTC/USDT", "market", "sell", 0.01, None, {"stopLossPrice": current + 1}
            )
        with pytest.raises(ccxt_async.OrderImmediatelyFillable) as buy:
            await ex.create_order(
                "BTC/USDT", "limit", "buy", 0.01, current, {"stopLossPrice": current - 1}
            )
        # the raw endpoint: Binance's mandatory-parameter and filter errors
        with pytest.raises(ccxt_async.BadRequest) as missing:  # -1102
            await ex.private_post_order(
                {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS", "quantity": "0.01"}
            )
        with pytest.raises(ccxt_async.InvalidOrder) as filtered:  # -1013 PRICE_FILTER
            await ex.private_post_order(
                {
                    "symbol": "BTCUSDT",
                    "side": "SELL",
                    "type": "STOP_LOSS",
                    "quantity": "0.01",
                    "stopPrice": "1000.001",
                }
            )
        return sell.value, buy.value, missing.value, filtered.value

    sell, buy, missing, filtered = run(using(fake, body))
    assert str(sell) == str(buy) == "binance Stop price would trigger immediately."
    assert "'stopPrice' was not sent" in str(missing) and "PRICE_FILTER" in str(filtered)
    assert [r.status for r in fake.requests if r.path == "/api/v3/order"] == [400] * 4
    assert fake.orders() == []
    assert fake.balance("BTC") == (Decimal("0.05"), 0) and fake.balance("USDT") == (10_000, 0)


def test_cancel_untriggered_stop_unlocks(fake):
    stop = (fake.price("BTCUSDT") * Decimal("1.05")).quantize(Decimal("0.01"))

    async def body(ex):
        order = await ex.create_order(
            "BTC/USDT", "market", "buy", 0.01, None, {"stopLossPrice": float(stop)}
        )
        # a buy STOP_LOSS locks at the stop price, fee included
        expected = (stop * Decimal("0.01") * Decimal("1.001")).quantize(Decimal("1e-8"))
        assert fake.balance("USDT") == (10_000 - expected, expected)
        [pending] = await ex.fetch_open_orders("BTC/USDT")
        assert pending["triggerPrice"] == float(stop) and pending["info"]["status"] == "NEW"
        canceled = await ex.cancel_order(order["id"], "BTC/USDT")
        assert canceled["status"] == "canceled" and canceled["triggerPrice"] == float(stop)
        assert await ex.fetch_open_orders("BTC/USDT") == []
        return await ex.fetch_balance()

    assert run(using(fake, body))["USDT"] == {"free": 10_000, "used": 0, "total": 10_000}
    assert fake.balance("USDT") == (10_000, 0)
    [order] = fake.orders()
    assert order.status == "CANCELED" and order.type == "STOP_LOSS"
    assert order.stop_price == stop and not order.is_working


# -- the user data stream over the WebSocket API (ccxt.pro) ---------------------------------------


@pytest.fixture
def stream(fake):
    with FakeBinanceStream(fake) as server:
        yield server


async def until(check, timeout: float = 3.0):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.01)


def test_watch_orders_and_my_trades_follow_a_limit_order(fake, stream):
    limit = (fake.price("BTCUSDT") * Decimal("0.999")).quantize(Decimal("0.01"))

    async def body(pro):
        await pro.load_markets()
        updates, trades = [], []

        async def collect_orders():
            while True:
                updates.extend(dict(u) for u in await pro.watch_orders("BTC/USDT"))

        async def collect_trades():
            while True:
                trades.extend(dict(t) for t in await pro.watch_my_trades("BTC/USDT"))

        tasks = [asyncio.create_task(collect_orders()), asyncio.create_task(collect_trades())]
        try:
            await until(lambda: stream.user_subscriptions() == 1)
            order = await pro.create_order(
                "BTC/USDT", "limit", "buy", 0.02, float(limit), {"clientOrderId": "ws-1"}
            )
            await until(lambda: len(updates) == 1)
            fills = 0
            for _ in range(2000):
                fake.advance(MIN)
                now_fills = len(fake.trades())  # matches up to the clock: sends the events
                if now_fills > fills:
                    fills = now_fills
                    await until(lambda n=fills: len(updates) == 1 + n and len(trades) == n)
                if fills == 2:
                    break
            await asyncio.sleep(0.1)  # nothing more arrives
            return order, updates, trades
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    order, updates, trades = run(using_pro(fake, stream, body))
    assert [(u["id"], u["clientOrderId"], u["status"], u["filled"]) for u in updates] == [
        (order["id"], "ws-1", "open", 0),
        (order["id"], "ws-1", "open", 0.01),
        (order["id"], "ws-1", "closed", 0.02),
    ]
    assert [u["info"]["X"] for u in updates] == ["NEW", "PARTIALLY_FILLED", "FILLED"]
    assert [u["info"]["x"] for u in updates] == ["NEW", "TRADE", "TRADE"]
    assert all(u["price"] == float(limit) and u["amount"] == 0.02 for u in updates)
    venue = fake.trades()
    assert [(t["id"], t["order"], t["amount"], t["price"]) for t in trades] == [
        (str(v.trade_id), order["id"], 0.01, float(limit)) for v in venue
    ]
    assert [t["takerOrMaker"] for t in trades] == ["maker", "maker"]
    assert [t["fee"]["cost"] for t in trades] == [float(v.commission) for v in venue]
    assert all(t["fee"]["currency"] == "USDT" for t in trades)
    assert [t["timestamp"] for t in trades] == [v.time for v in venue]
    # the raw events: one executionReport per change, each followed by the account position
    reports = fake.user_events("executionReport")
    assert [(r["x"], r["X"], r["l"], r["z"]) for r in reports] == [
        ("NEW", "NEW", "0.00000000", "0.00000000"),
        ("TRADE", "PARTIALLY_FILLED", "0.01000000", "0.01000000"),
        ("TRADE", "FILLED", "0.01000000", "0.02000000"),
    ]
    assert [r["t"] for r in reports] == [-1, *(v.trade_id for v in venue)]
    positions = fake.user_events("outboundAccountPosition")
    assert positions[-1]["B"] == [
        {"a": "BTC", "f": "0.02000000", "l": "0.00000000"},
        {"a": "USDT", "f": f"{fake.balance('USDT')[0]:.8f}", "l": "0.00000000"},
    ]


def test_watch_orders_sees_market_fill_and_cancel(fake, stream):
    async def body(pro):
        await pro.load_markets()
        updates = []

        async def collect_orders():
            while True:
                updates.extend(dict(u) for u in await pro.watch_orders("BTC/USDT"))

        task = asyncio.create_task(collect_orders())
        try:
            await until(lambda: stream.user_subscriptions() == 1)
            market = await pro.create_order("BTC/USDT", "market", "buy", 0.01)
            await until(lambda: any(u["status"] == "closed" for u in updates))
            resting = await pro.create_order("BTC/USDT", "limit", "buy", 0.01, 30_000)
            await until(lambda: updates[-1]["id"] == resting["id"])
            await pro.cancel_order(resting["id"], "BTC/USDT")
            await until(lambda: updates[-1]["status"] == "canceled")
            await until(lambda: pro.balance["spot"]["USDT"]["used"] == 0)
            return market, resting, updates, pro.balance["spot"]["USDT"]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    market, resting, updates, balance = run(using_pro(fake, stream, body))
    # NEW and TRADE of the market order arrive back to back: ccxt may fold them into one update
    first = [u for u in updates if u["id"] == market["id"]]
    assert (first[-1]["status"], first[-1]["filled"], first[-1]["info"]["x"]) == (
        "closed",
        0.01,
        "TRADE",
    )
    assert [(u["status"], u["clientOrderId"]) for u in updates if u["id"] == resting["id"]] == [
        ("open", resting["clientOrderId"]),
        ("canceled", resting["clientOrderId"]),
    ]
    cancel_report = fake.user_events("executionReport")[-1]
    assert cancel_report["x"] == cancel_report["X"] == "CANCELED"
    assert cancel_report["C"] == resting["clientOrderId"] != cancel_report["c"]
    # outboundAccountPosition reached ccxt's balance cache: nothing left locked
    assert balance["used"] == 0 and balance["free"] == float(fake.balance("USDT")[0])


def test_ws_subscribe_with_a_bad_secret_is_refused(fake, stream):
    async def body(pro):
        await pro.load_markets()
        with pytest.raises(KeyError) as raised:
            await pro.watch_orders("BTC/USDT")
        return raised.value

    error = run(using_pro(fake, stream, body, secret="wrong"))
    # ccxt 4.5.90 turns the -1022 answer into AuthenticationError, then, removing the
    # subscription a second time, raises KeyError('spot') with it as the context
    assert error.args == ("spot",)
    assert isinstance(error.__context__, ccxt_async.AuthenticationError)
    assert "-1022" in str(error.__context__)
    [answer] = stream.api_answers
    assert answer["status"] == 400 and answer["error"]["code"] == -1022
    assert answer["id"] == stream.api_requests[0]["id"]
    assert stream.user_subscriptions() == 0
    fake.fund("USDT", 1)  # an account change: nobody is subscribed, nothing is pushed
    assert len(stream.api_answers) == 1


async def using_pro(fake, stream, body, **kwargs):
    exchange = binance_pro_trading_exchange(fake, stream, **kwargs)
    try:
        return await body(exchange)
    finally:
        await exchange.close()
