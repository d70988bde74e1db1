"""CcxtFeed against a faithful fake of Binance spot's REST API on loopback (tests/fakes/binance).

Every test runs ccxt's real binance client over HTTP to the fake, whose clock is fixed (and is
the clock ccxt reads), and compares what the feed yields with the fake's own price path.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import numpy as np
import pytest

from supreme.core.errors import InvalidArgument
from supreme.core.model import BarBatch
from supreme.data.ccxt_feed import CcxtFeed
from supreme.data.feed import Feed, FeedError, FeedUnavailable, SymbolNotFound
from tests.fakes.binance import (
    FakeBinance,
    FakeBinanceStream,
    binance_config,
    binance_exchange,
    binance_pro_config,
    binance_pro_exchange,
)

pytestmark = pytest.mark.integration

MIN = 60_000
T = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a candle boundary of every interval up to 1d
NOW = T + 30_000  # the fake's clock: 30 s into the candle that opened at T


def run(coro, timeout: float = 10.0):
    """``asyncio.run`` with a deadline: a feed that never stops fails the test, not the run."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture
def fake():
    with FakeBinance(now_ms=NOW) as server:
        yield server


@contextlib.asynccontextmanager
async def open_feed(fake: FakeBinance, **kwargs):
    """A feed over a binance exchange pointed at ``fake``; the test owns and closes it."""
    kwargs.setdefault("backoff_s", 0.001)
    exchange = binance_exchange(fake)
    feed = CcxtFeed(exchange, **kwargs)
    try:
        yield feed
    finally:
        await feed.close()  # not ours to close: the exchange stays open...
        assert exchange.session is None or not exchange.session.closed
        await exchange.close()  # ...until its owner closes it


async def download(feed: CcxtFeed, symbol: str, start: int, end: int, tf: str = "1m"):
    return [batch async for batch in feed.history(symbol, tf, start, end)]


def assert_bars(bars: BarBatch, rows: list[list], symbol: str) -> None:
    """``bars`` are exactly Binance's ``rows`` (times, prices, volumes), in order."""
    assert len(bars) == len(rows)
    assert bars.time_ms.tolist() == [r[0] for r in rows]
    assert set(bars.symbol.tolist()) <= {symbol}
    for column, index in (("open", 1), ("high", 2), ("low", 3), ("close", 4), ("volume", 5)):
        np.testing.assert_array_equal(getattr(bars, column), [float(r[index]) for r in rows])


def starts(fake: FakeBinance) -> list[int | None]:
    return [r.start_time for r in fake.klines_requests()]


def statuses(fake: FakeBinance) -> list[int | None]:
    return [r.status for r in fake.klines_requests()]


# -- markets ---------------------------------------------------------------------------------


def test_markets_load_from_exchange_info_only_and_stay_on_loopback(fake):
    async def go():
        async with open_feed(fake) as feed:
            assert isinstance(feed, Feed)
            assert feed.name == "ccxt:binance"
            await download(feed, "BTC/USDT", T - 5 * MIN, T)
            for url in feed.exchange.urls["api"].values():
                assert url.startswith(fake.base_url)
            market = feed.exchange.markets["BTC/USDT"]
            assert market["id"] == "BTCUSDT" and market["spot"] and market["active"]
            assert market["precision"]["price"] == 0.01
            assert market["limits"]["cost"]["min"] == 5.0  # from the NOTIONAL filter

    run(go())
    assert [r.path for r in fake.requests] == ["/api/v3/exchangeInfo", "/api/v3/klines"]


def test_sandbox_mode_switches_to_the_test_urls(fake):
    async def go():
        async with open_feed(fake, sandbox=True) as feed:
            assert feed.exchange.isSandboxModeEnabled
            assert "apiBackup" in feed.exchange.urls  # ccxt swapped "test" in for "api"
            return await download(feed, "ETH/USDT", T - 5 * MIN, T)

    bars = BarBatch.concat(run(go()))
    assert_bars(bars, fake.candles("ETHUSDT", "1m", T - 5 * MIN, T), "ETH/USDT")


def test_an_exchange_without_ohlcv_is_refused(fake):
    async def go():
        exchange = binance_exchange(fake)
        exchange.has = {**exchange.has, "fetchOHLCV": False}
        try:
            with pytest.raises(FeedError, match="does not offer OHLCV"):
                CcxtFeed(exchange)
        finally:
            await exchange.close()

    run(go())


# -- history ---------------------------------------------------------------------------------


def test_history_pages_through_the_range(fake):
    start, end = T - 3_000 * MIN, T - 500 * MIN  # 2,500 closed candles: three pages

    async def go():
        async with open_feed(fake) as feed:
            batches = await download(feed, "BTC/USDT", start, end)
            return batches, feed.last_report

    batches, report = run(go())
    assert [len(b) for b in batches] == [1000, 1000, 500]
    assert_bars(BarBatch.concat(batches), fake.candles("BTCUSDT", "1m", start, end), "BTC/USDT")
    assert starts(fake) == [start, start + 1000 * MIN, start + 2000 * MIN]
    assert [r.params["limit"] for r in fake.klines_requests()] == ["1000", "1000", "500"]
    assert (report.rows_in, report.rows_out, report.gap_count, report.changed) == (
        2500,
        2500,
        0,
        False,
    )


def test_history_follows_the_venue_when_it_caps_the_page(fake):
    start, end = T - 1_200 * MIN, T - 100 * MIN

    async def go():
        async with open_feed(fake, page_limit=1500) as feed:  # Binance serves 1,000 at most
            return await download(feed, "ETH/USDT", start, end)

    bars = BarBatch.concat(run(go()))
    assert_bars(bars, fake.candles("ETHUSDT", "1m", start, end), "ETH/USDT")
    assert starts(fake) == [start, start + 1000 * MIN]


def test_history_reports_a_gap_between_pages(fake):
    # The venue recorded nothing for 10 minutes, right where the second page starts.
    start, end = T - 1_500 * MIN, T - 300 * MIN
    fake.outages.append((start + 1000 * MIN, start + 1010 * MIN))

    async def go():
        async with open_feed(fake) as feed:
            return await download(feed, "BTC/USDT", start, end), feed.last_report

    batches, report = run(go())
    rows = fake.candles("BTCUSDT", "1m", start, end)
    assert len(rows) == 1190
    assert_bars(BarBatch.concat(batches), rows, "BTC/USDT")
    assert (report.gap_count, report.missing_bars) == (1, 10)
    gap = report.gaps[0]
    assert (gap.after_ms, gap.before_ms) == (start + 999 * MIN, start + 1010 * MIN)


@pytest.mark.parametrize("offset", [0, 1, 30_000, MIN - 1])
def test_history_never_yields_the_forming_candle(fake, offset):
    fake.now_ms = T + offset  # inside the candle that opened at T

    async def go():
        async with open_feed(fake) as feed:
            return await download(feed, "BTC/USDT", T - 10 * MIN, T + 10 * MIN)

    bars = BarBatch.concat(run(go()))
    # Binance served the forming candle too (11 rows); the feed kept the 10 closed ones.
    assert [r.rows for r in fake.klines_requests()] == [11]
    assert bars.time_ms.tolist() == [T - k * MIN for k in range(10, 0, -1)]
    assert_bars(bars, fake.candles("BTCUSDT", "1m", T - 10 * MIN, T), "BTC/USDT")


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "status"), [("rate_limit", 429), ("ban", 418)])
def test_rate_limit_answers_are_retried(fake, fault, status):
    start, end = T - 2_500 * MIN, T - 100 * MIN
    getattr(fake, fault)(2, at=2)  # the second page is refused twice

    async def go():
        async with open_feed(fake) as feed:
            return await download(feed, "BTC/USDT", start, end)

    bars = BarBatch.concat(run(go()))
    assert_bars(bars, fake.candles("BTCUSDT", "1m", start, end), "BTC/USDT")
    second, third = start + 1000 * MIN, start + 2000 * MIN
    assert statuses(fake) == [200, status, status, 200, 200]
    assert starts(fake) == [start, second, second, second, third]


def test_retries_run_out_into_feed_unavailable(fake):
    start, end = T - 2_500 * MIN, T - 100 * MIN
    fake.rate_limit(10, at=2)
    pages = []

    async def go():
        async with open_feed(fake, max_retries=2) as feed:
            async for batch in feed.history("BTC/USDT", "1m", start, end):
                pages.append(batch)

    with pytest.raises(FeedUnavailable) as caught:
        run(go())
    assert [len(p) for p in pages] == [1000]  # what came before the failure was delivered
    assert statuses(fake) == [200, 429, 429, 429]  # one try and two retries
    message = str(caught.value)
    for part in ("ccxt:binance", "'BTC/USDT'", "fetching candles", "3 attempt", "DDoSProtection"):
        assert part in message
    assert "429" in message


def test_retry_after_is_honoured(fake):
    fake.rate_limit(1, retry_after=1)

    async def go():
        async with open_feed(fake, backoff_s=0.001) as feed:
            began = time.monotonic()
            batches = await download(feed, "ETH/BTC", T - 20 * MIN, T)
            return batches, time.monotonic() - began

    batches, took = run(go())
    assert_bars(BarBatch.concat(batches), fake.candles("ETHBTC", "1m", T - 20 * MIN, T), "ETH/BTC")
    assert statuses(fake) == [429, 200]
    assert took >= 0.95  # Retry-After: 1, not the 1 ms backoff


def test_a_ban_longer_than_the_backoff_cap_fails_at_once(fake):
    fake.ban(1, retry_after=600)

    async def go():
        async with open_feed(fake, max_backoff_s=30) as feed:
            await download(feed, "BTC/USDT", T - 20 * MIN, T)

    with pytest.raises(FeedUnavailable, match=r"asks to wait 600 s \(Retry-After\)"):
        run(go())
    assert statuses(fake) == [418]  # no request during the ban


@pytest.mark.parametrize("drops", [1, 2, 3])
def test_a_dropped_connection_is_retried_without_gap_or_duplicate(fake, drops):
    start, end = T - 2_500 * MIN, T - 100 * MIN
    fake.drop(drops, at=2)  # the second page's connection dies without an answer

    async def go():
        async with open_feed(fake) as feed:
            return await download(feed, "BTC/USDT", start, end)

    bars = BarBatch.concat(run(go()))
    assert len(np.unique(bars.time_ms)) == len(bars) == 2400
    assert set(np.diff(bars.time_ms).tolist()) == {MIN}
    assert_bars(bars, fake.candles("BTCUSDT", "1m", start, end), "BTC/USDT")
    second = start + 1000 * MIN
    assert statuses(fake) == [200, *[None] * drops, 200, 200]
    assert starts(fake)[1 : 2 + drops] == [second] * (drops + 1)


def test_dropped_connections_beyond_the_retries_fail(fake):
    # aiohttp itself resends a GET once when the connection dies; the feed's retries do the rest.
    fake.drop(2)

    async def go():
        async with open_feed(fake, max_retries=0) as feed:
            await download(feed, "BTC/USDT", T - 20 * MIN, T)

    with pytest.raises(FeedUnavailable, match="ExchangeNotAvailable"):
        run(go())
    assert statuses(fake) == [None, None]


# -- errors that are not retried -------------------------------------------------------------


def test_unknown_symbol(fake):
    async def go():
        async with open_feed(fake) as feed:
            with pytest.raises(SymbolNotFound, match=r"ccxt:binance does not list 'DOGE/USDT'"):
                await download(feed, "DOGE/USDT", T - 20 * MIN, T)
            with pytest.raises(SymbolNotFound, match=r"ccxt names it 'BTC/USDT'"):
                await download(feed, "BTCUSDT", T - 20 * MIN, T)
            # Listed when markets loaded, gone since: Binance answers -1121, ccxt BadSymbol.
            fake.delist("ETHUSDT")
            with pytest.raises(SymbolNotFound, match="Invalid symbol"):
                await download(feed, "ETH/USDT", T - 20 * MIN, T)

    run(go())
    assert statuses(fake) == [400]  # only the delisted symbol reached klines, and only once
    assert fake.klines_requests()[0].params["symbol"] == "ETHUSDT"


def test_unknown_exchange_id():
    with pytest.raises(InvalidArgument, match=r"unknown exchange id 'binanse'.*binance"):
        CcxtFeed("binanse")
    with pytest.raises(InvalidArgument, match="ccxt exchange id"):
        CcxtFeed(object())


def test_an_exchange_error_surfaces_without_retries(fake):
    msg = "Illegal characters found in parameter 'startTime'; legal range is '^[0-9]{1,20}$'."
    fake.reject(-1100, msg)

    async def go():
        async with open_feed(fake, max_retries=5) as feed:
            await download(feed, "BTC/USDT", T - 20 * MIN, T)

    with pytest.raises(FeedError) as caught:
        run(go())
    assert not isinstance(caught.value, FeedUnavailable | SymbolNotFound)
    assert "BadRequest" in str(caught.value) and "Illegal characters" in str(caught.value)
    assert statuses(fake) == [400]


def test_a_feed_made_from_an_id_owns_and_closes_its_exchange():
    with FakeBinance() as fake:  # real time: the exchange's clock is the real one here

        async def go():
            feed = CcxtFeed("binance", config=binance_config(fake))
            assert feed.exchange.enableRateLimit
            now = feed.exchange.milliseconds()
            start = (now // MIN - 5) * MIN
            bars = BarBatch.concat(await download(feed, "BTC/USDT", start, now + MIN))
            await feed.close()
            return feed.exchange, bars, start

        exchange, bars, start = run(go())
        assert exchange.session is None  # closed by the feed
        assert bars.time_ms[0] == start and int(bars.time_ms[-1]) + MIN <= time.time() * 1000
        assert set(np.diff(bars.time_ms).tolist()) <= {MIN}


# -- stream ----------------------------------------------------------------------------------


async def until(predicate, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.005)


def test_stream_emits_each_closed_candle_once(fake):
    symbols = ["ETH/USDT", "BTC/USDT"]
    out: list[BarBatch] = []

    async def go():
        async with (
            open_feed(fake, poll_interval_s=0.01) as feed,
            consuming(feed, symbols, out),
        ):
            # First poll, 30 s into candle T: the latest closed candle of each symbol.
            await until(lambda: len(out) == 1)
            fake.now_ms = T + MIN - 1  # still inside candle T: nothing closes
            await asyncio.sleep(0.15)
            assert len(out) == 1
            served = len(fake.klines_requests())
            fake.now_ms = T + MIN  # candle T closes; T + 1 min opens and is served
            await until(lambda: len(out) == 2)
            assert [r.rows for r in fake.klines_requests()[served:]] == [2, 2]
            fake.now_ms = T + 4 * MIN + 30_000  # three more close at once
            await until(lambda: len(out) == 3)
            await asyncio.sleep(0.15)  # and the forming T + 4 min never comes out
            assert len(out) == 3

    run(go())
    expected_times = [[T - MIN], [T], [T + MIN, T + 2 * MIN, T + 3 * MIN]]
    for batch, times in zip(out, expected_times, strict=True):
        assert batch.time_ms.tolist() == [t for t in times for _ in symbols]  # time, then...
        assert batch.symbol.tolist() == ["BTC/USDT", "ETH/USDT"] * len(times)  # ...symbol
    bars = BarBatch.concat(out)
    for symbol, market_id in (("BTC/USDT", "BTCUSDT"), ("ETH/USDT", "ETHUSDT")):
        closed = fake.candles(market_id, "1m", T - MIN, T + 10 * MIN, closed_only=True)
        assert_bars(bars.for_symbol(symbol), closed, symbol)


def test_stream_raises_feed_unavailable_when_a_poll_keeps_failing(fake):
    fake.ban(5)

    async def go():
        async with open_feed(fake, max_retries=1, poll_interval_s=0.01) as feed:
            stream = feed.stream(["BTC/USDT"], "1m")
            try:
                with pytest.raises(FeedUnavailable, match="polling candles"):
                    await anext(stream)
            finally:
                await stream.aclose()

    run(go())
    assert statuses(fake) == [418, 418]


# -- stream over websockets ------------------------------------------------------------------


@pytest.fixture
def ws(fake):
    with FakeBinanceStream(fake) as server:
        yield server


@contextlib.asynccontextmanager
async def open_watch_feed(fake: FakeBinance, ws: FakeBinanceStream, **kwargs):
    """A feed over a REST binance and a ccxt.pro binance pointed at the fakes; the test owns and
    closes both exchanges."""
    kwargs.setdefault("backoff_s", 0.001)
    kwargs.setdefault("poll_interval_s", 0.01)
    exchange, pro = binance_exchange(fake), binance_pro_exchange(fake, ws)
    feed = CcxtFeed(exchange, pro=pro, **kwargs)
    try:
        yield feed
    finally:
        await feed.close()
        await pro.close()
        await exchange.close()


@contextlib.asynccontextmanager
async def consuming(feed: CcxtFeed, symbols, out: list[BarBatch]):
    stream = feed.stream(symbols, "1m")

    async def consume():
        async for batch in stream:
            out.append(batch)

    task = asyncio.create_task(consume())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await stream.aclose()


def test_watch_yields_a_forming_candle_once_with_its_final_values(fake, ws):
    out: list[BarBatch] = []
    pushed = []

    async def go():
        async with open_watch_feed(fake, ws, live="watch") as feed:
            assert feed.watches
            async with consuming(feed, ["BTC/USDT"], out):
                await until(lambda: len(out) == 1)  # the latest closed candle, from REST
                await until(lambda: ws.listeners("btcusdt@kline_1m") == 1)
                for now in (T + 1_000, T + 20_000, NOW, T + MIN - 1):  # candle T forming
                    fake.now_ms = now
                    pushed.append(ws.push_kline("BTCUSDT", "1m", T))
                await asyncio.sleep(0.15)
                assert len(out) == 1
                fake.now_ms = T + MIN
                pushed.append(ws.push_kline("BTCUSDT", "1m", T))  # final: x true
                pushed.append(ws.push_kline("BTCUSDT", "1m", T + MIN))  # the next one opens
                await until(lambda: len(out) == 2)
                await asyncio.sleep(0.15)  # the forming T + 1 min does not come out
                assert len(out) == 2

    run(go())
    assert [k["k"]["x"] for k in pushed] == [False] * 4 + [True, False]
    assert len({k["k"]["c"] for k in [*pushed[:3], pushed[4]]}) == 4  # T's close moved
    assert out[0].time_ms.tolist() == [T - MIN]
    assert_bars(out[1], fake.candles("BTCUSDT", "1m", T, T + MIN), "BTC/USDT")
    assert out[1].close.tolist() == [float(pushed[4]["k"]["c"])]
    assert [r.path for r in fake.requests].count("/api/v3/exchangeInfo") == 1  # markets shared


def test_watch_emits_candles_of_two_symbols_once_each_in_order(fake, ws):
    symbols = ["ETH/USDT", "BTC/USDT"]
    out: list[BarBatch] = []

    async def go():
        async with (
            open_watch_feed(fake, ws, live="watch") as feed,
            consuming(feed, symbols, out),
        ):
            await until(lambda: len(out) == 1)
            for stream in ("btcusdt@kline_1m", "ethusdt@kline_1m"):
                await until(lambda s=stream: ws.listeners(s) == 1)
            for market_id in ("BTCUSDT", "ETHUSDT"):
                ws.push_kline(market_id, "1m", T)
            fake.now_ms = T + MIN
            ws.push_kline("BTCUSDT", "1m", T)  # BTC's T closes first...
            ws.push_kline("BTCUSDT", "1m", T + MIN)
            await until(lambda: len(out) == 2)
            ws.push_kline("ETHUSDT", "1m", T)  # ...then ETH's, with a repeat
            ws.push_kline("ETHUSDT", "1m", T)
            ws.push_kline("ETHUSDT", "1m", T + MIN)
            await until(lambda: len(out) == 3)
            fake.now_ms = T + 2 * MIN  # both T + 1 min end with no newer candle yet:
            for market_id in ("BTCUSDT", "ETHUSDT"):
                ws.push_kline(market_id, "1m", T + MIN)
            await asyncio.sleep(0.15)
            assert len(out) == 3  # they wait out the settling time...
            fake.now_ms = T + 2 * MIN + 2_000  # ...and then close by the clock, together
            await until(lambda: len(out) == 4)
            await asyncio.sleep(0.15)
            assert len(out) == 4

    run(go())
    shape = [(b.symbol.tolist(), b.time_ms.tolist()) for b in out]
    assert shape == [
        (["BTC/USDT", "ETH/USDT"], [T - MIN, T - MIN]),
        (["BTC/USDT"], [T]),
        (["ETH/USDT"], [T]),
        (["BTC/USDT", "ETH/USDT"], [T + MIN, T + MIN]),
    ]
    bars = BarBatch.concat(out)
    for symbol, market_id in (("BTC/USDT", "BTCUSDT"), ("ETH/USDT", "ETHUSDT")):
        closed = fake.candles(market_id, "1m", T - MIN, T + 5 * MIN, closed_only=True)
        assert_bars(bars.for_symbol(symbol), closed, symbol)


@pytest.mark.parametrize("live", ["auto", "poll"])
def test_auto_watches_binance_and_poll_never_opens_a_websocket(fake, ws, live):
    out: list[BarBatch] = []

    async def go():
        async with open_watch_feed(fake, ws, live=live) as feed:
            assert feed.watches is (live == "auto")
            async with consuming(feed, ["BTC/USDT"], out):
                await until(lambda: len(out) == 1)
                if live == "auto":
                    await until(lambda: ws.subscribed() == ["btcusdt@kline_1m"])
                else:
                    await asyncio.sleep(0.15)

    run(go())
    assert out[0].time_ms.tolist() == [T - MIN]
    if live == "auto":
        assert ws.paths == ["/stream/ws/0"]
        assert ws.requests[0]["method"] == "SUBSCRIBE" and isinstance(ws.requests[0]["id"], int)
    else:
        assert ws.paths == [] and ws.requests == []
        assert len(fake.klines_requests()) == 1  # the first poll; later ones had nothing to ask


def test_watch_is_refused_without_websockets_and_an_id_feed_makes_its_own(fake, ws):
    async def go():
        exchange = binance_exchange(fake)
        try:
            with pytest.raises(FeedError, match="does not offer OHLCV over websockets"):
                CcxtFeed(exchange, live="watch")  # a REST instance and no pro
            assert not CcxtFeed(exchange).watches  # auto falls back to polling
        finally:
            await exchange.close()
        feed = CcxtFeed("binance", config=binance_pro_config(fake, ws))
        assert feed.watches and feed.pro is not None and feed.pro.id == "binance"
        await feed.close()

    run(go())


def test_stopping_a_watch_stream_leaves_nothing_running():
    with FakeBinance() as fake, FakeBinanceStream(fake) as ws:  # real time, as an id feed reads
        out: list[BarBatch] = []

        async def go():
            before = asyncio.all_tasks()  # this test and run()'s wait_for
            feed = CcxtFeed("binance", config=binance_pro_config(fake, ws), backoff_s=0.001)
            stream = feed.stream(["BTC/USDT", "ETH/USDT"], "1m")
            out.append(await anext(stream))  # the latest closed candles
            await until(lambda: ws.listeners("ethusdt@kline_1m") == 1)
            ws.push_kline("ETHUSDT", "1m", fake.clock_ms() // MIN * MIN)
            watchers = [t for t in asyncio.all_tasks() if "watch" in t.get_name()]
            assert len(watchers) == 2
            await stream.aclose()  # the consumer stops
            assert all(t.done() for t in watchers)
            await feed.close()
            await asyncio.sleep(0)
            assert asyncio.all_tasks() == before  # no watcher, no ccxt.pro receive or ping loop
            return feed

        feed = run(go())
        assert feed.exchange.session is None and not feed.pro.clients
        assert out[0].symbol.tolist() == ["BTC/USDT", "ETH/USDT"]
