"""YahooFeed without the network: frames of yfinance's shape are injected at the download
boundary. The last tests run the real ``yfinance.download`` with only its HTTP layer faked, to
pin the shapes the hand-built frames copy."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from supreme.core.errors import InvalidArgument
from supreme.data.clean import CleanPolicy
from supreme.data.feed import Feed, FeedError, FeedUnavailable, SymbolNotFound
from supreme.data.yahoo import YahooFeed

NY = "America/New_York"
MIN = 60_000
DAY = 86_400_000


def ms(text: str, tz: str = "UTC") -> int:
    stamp = pd.Timestamp(text)
    stamp = stamp.tz_localize(tz) if stamp.tzinfo is None else stamp
    return int(stamp.tz_convert("UTC").value // 1_000_000)


# -- frames as yfinance builds them ----------------------------------------------------------


def ticker_frame(
    rows: list[tuple],
    *,
    tz: str = NY,
    intraday: bool = False,
    auto_adjust: bool = False,
    actions: bool = False,
    unit: str | None = None,
) -> pd.DataFrame:
    """One ticker as ``Ticker.history`` returns it: rows of (local time, open, high, low, close,
    adj close, volume); a tz-aware index named Date (daily, at local midnight) or Datetime."""
    index = pd.DatetimeIndex([pd.Timestamp(r[0]) for r in rows]).tz_localize(tz)
    index = index.as_unit(unit or ("us" if intraday else "s"))  # as pandas 3 + yfinance 1.x
    index.name = "Datetime" if intraday else "Date"
    values = np.array([r[1:] for r in rows], dtype=np.float64).reshape(len(rows), 6)
    frame = pd.DataFrame(
        {
            "Open": values[:, 0],
            "High": values[:, 1],
            "Low": values[:, 2],
            "Close": values[:, 3],
            "Adj Close": values[:, 4],
            "Volume": np.nan_to_num(values[:, 5]).astype(np.int64),
        },
        index=index,
    )
    if actions:
        frame["Dividends"] = 0.0
        frame["Stock Splits"] = 0.0
    if auto_adjust:  # yfinance.utils.auto_adjust
        ratio = frame["Adj Close"] / frame["Close"]
        for column in ("Open", "High", "Low"):
            frame[column] = frame[column] * ratio
        frame["Close"] = frame["Adj Close"]
        frame = frame.drop(columns="Adj Close")
    return frame


def missing_frame() -> pd.DataFrame:
    """yfinance.utils.empty_df(): what a ticker that failed contributes."""
    frame = pd.DataFrame(
        index=[],
        data={c: np.nan for c in ("Open", "High", "Low", "Close", "Adj Close", "Volume")},
    )
    frame.index.name = "Date"
    return frame


def combine(frames: dict[str, pd.DataFrame], *, multi_level_index: bool = True) -> pd.DataFrame:
    """What ``yfinance.download`` makes of per-ticker frames (group_by='column',
    ignore_tz=False): every ticker on the union of the times, in the most common zone, columns
    (Price, Ticker) sorted by price."""
    zones = [str(f.index.tz) for f in frames.values() if len(f)]
    index = None
    if zones:
        zone = max(set(zones), key=zones.count)
        for f in frames.values():
            if len(f):
                f.index = f.index.tz_convert(zone)
                index = f.index if index is None else index.union(f.index)
    if index is None:
        index = pd.DatetimeIndex([])
    aligned = {t: f.reindex(index) for t, f in frames.items()}
    data = pd.concat(
        aligned.values(), axis=1, sort=True, keys=aligned.keys(), names=["Ticker", "Price"]
    )
    data.columns = data.columns.swaplevel(0, 1)
    data = data.sort_index(level=0, axis=1)
    if not multi_level_index and len(frames) == 1:
        data = data.droplevel(1, axis=1).rename_axis(None, axis=1)
    return data


class FakeDownload:
    """Stands in for ``yfinance.download`` (same signature); ``respond`` makes each frame."""

    def __init__(self, respond: Callable[..., pd.DataFrame]) -> None:
        self.respond = respond
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self,
        tickers,
        start=None,
        end=None,
        actions=False,
        threads=True,
        ignore_tz=None,
        group_by="column",
        auto_adjust=True,
        back_adjust=False,
        repair=False,
        keepna=False,
        progress=True,
        period="1mo",
        interval="1d",
        prepost=False,
        rounding=False,
        timeout=10,
        session=None,
        multi_level_index=True,
    ):
        call = dict(
            tickers=tickers,
            start=start,
            end=end,
            actions=actions,
            ignore_tz=ignore_tz,
            group_by=group_by,
            auto_adjust=auto_adjust,
            keepna=keepna,
            progress=progress,
            interval=interval,
            multi_level_index=multi_level_index,
        )
        self.calls.append(call)
        return self.respond(**call)


def run_history(feed: YahooFeed, symbol: str, timeframe: str, start: int, end: int) -> list:
    async def go():
        return [page async for page in feed.history(symbol, timeframe, start, end)]

    return asyncio.run(go())


def rows_of(pages: list) -> list[tuple]:
    return [
        (b.symbol, b.time_ms, b.open, b.high, b.low, b.close, b.volume)
        for page in pages
        for b in page
    ]


# Daily AAPL bars around the US switch to summer time (Sunday 2024-03-10).
DAILY = [
    ("2024-03-07", 100.0, 102.0, 99.0, 101.0, 50.5, 1_000),
    ("2024-03-08", 101.0, 103.0, 100.0, 102.0, 51.0, 1_100),
    ("2024-03-11", 102.0, 104.0, 101.0, 103.0, 51.5, 1_200),
    ("2024-03-12", 103.0, 105.0, 102.0, 104.0, 52.0, 1_300),
]
LATER = ms("2024-03-20")


# -- history: time, prices, range ------------------------------------------------------------


@pytest.mark.parametrize("unit", ["s", "us", "ns"])
def test_daily_equity_bars_open_at_local_midnight_in_utc_across_dst(unit):
    fake = FakeDownload(lambda **_: combine({"AAPL": ticker_frame(DAILY, unit=unit)}))
    feed = YahooFeed(download=fake, now_ms=lambda: LATER)
    assert isinstance(feed, Feed) and feed.name == "yahoo"
    pages = run_history(feed, "AAPL", "1d", ms("2024-03-07"), ms("2024-03-13"))
    assert len(pages) == 1
    page = pages[0]
    # Midnight in New York: 05:00 UTC on EST days, 04:00 UTC once EDT starts.
    assert page.time_ms.tolist() == [
        ms("2024-03-07 05:00"),
        1_709_874_000_000,  # 2024-03-08 00:00 EST
        1_710_129_600_000,  # 2024-03-11 00:00 EDT
        ms("2024-03-12 04:00"),
    ]
    assert page.symbol.tolist() == ["AAPL"] * 4
    assert page.close.tolist() == [101.0, 102.0, 103.0, 104.0]  # raw, not Adj Close
    assert page.volume.tolist() == [1_000.0, 1_100.0, 1_200.0, 1_300.0]
    [call] = fake.calls
    assert call["tickers"] == ["AAPL"] and call["interval"] == "1d"
    assert call["ignore_tz"] is False and call["auto_adjust"] is False
    assert call["actions"] is False and call["progress"] is False and call["keepna"] is True
    # Padded by a bar on each side, in UTC.
    assert call["start"] == pd.Timestamp("2024-03-06", tz="UTC")
    assert call["end"] == pd.Timestamp("2024-03-14", tz="UTC")
    # The weekend is a reported gap, not an error.
    report = feed.last_report
    assert report.rows_in == 4 and report.rows_out == 4 and report.gap_count == 1
    assert report.gaps[0].missing == 2


@pytest.mark.parametrize(
    ("ticker", "tz", "local", "utc"),
    [
        ("AAPL", NY, "2024-03-11 09:30", "2024-03-11 13:30"),
        ("AAPL", NY, "2024-03-08 09:30", "2024-03-08 14:30"),
        ("EURUSD=X", "Europe/London", "2024-07-01 08:00", "2024-07-01 07:00"),
        ("BTC-USD", "UTC", "2024-03-11 09:30", "2024-03-11 09:30"),
    ],
)
def test_intraday_bars_keep_their_open_time_in_utc(ticker, tz, local, utc):
    start = pd.Timestamp(local)
    rows = [
        (start + pd.Timedelta(minutes=5 * i), 10.0 + i, 11.0 + i, 9.0 + i, 10.5 + i, 10.5 + i, 7)
        for i in range(3)
    ]
    frame = ticker_frame(rows, tz=tz, intraday=True, actions=True)
    assert frame.index.name == "Datetime"
    fake = FakeDownload(lambda **_: combine({ticker: frame}))
    now = ms(utc) + DAY
    feed = YahooFeed(download=fake, now_ms=lambda: now)
    pages = run_history(feed, ticker, "5m", ms(utc), ms(utc) + 15 * MIN)
    assert pages[0].time_ms.tolist() == [ms(utc) + i * 5 * MIN for i in range(3)]
    assert pages[0].symbol.tolist() == [ticker] * 3
    assert pages[0].open.tolist() == [10.0, 11.0, 12.0]
    assert fake.calls[0]["interval"] == "5m"


def test_weekly_and_hourly_map_to_yahoo_intervals():
    seen = []

    def respond(**call):
        seen.append(call["interval"])
        return combine({"SPY": ticker_frame(DAILY[:1])})

    feed = YahooFeed(download=FakeDownload(respond), now_ms=lambda: LATER)
    run_history(feed, "SPY", "1w", ms("2024-03-01"), ms("2024-03-15"))
    run_history(feed, "SPY", "1h", ms("2024-03-07"), ms("2024-03-08"))
    assert seen == ["1wk", "1h"]


def test_adjusted_asks_yfinance_to_adjust_and_raw_does_not():
    def respond(**call):  # as yfinance: adjusted when asked to
        return combine({"AAPL": ticker_frame(DAILY, auto_adjust=call["auto_adjust"])})

    raw_fake, adj_fake = FakeDownload(respond), FakeDownload(respond)
    raw = run_history(
        YahooFeed(download=raw_fake, now_ms=lambda: LATER), "AAPL", "1d", ms("2024-03-07"), LATER
    )[0]
    adj = run_history(
        YahooFeed(adjusted=True, download=adj_fake, now_ms=lambda: LATER),
        "AAPL",
        "1d",
        ms("2024-03-07"),
        LATER,
    )[0]
    assert raw_fake.calls[0]["auto_adjust"] is False
    assert adj_fake.calls[0]["auto_adjust"] is True
    assert raw.close.tolist() == [101.0, 102.0, 103.0, 104.0]
    assert raw.open.tolist() == [100.0, 101.0, 102.0, 103.0]
    # Adj Close / Close = 0.5 on every bar: every price halves, volume does not.
    assert adj.close.tolist() == [50.5, 51.0, 51.5, 52.0]
    np.testing.assert_allclose(adj.open, raw.open * 0.5)
    np.testing.assert_allclose(adj.high, raw.high * 0.5)
    np.testing.assert_allclose(adj.low, raw.low * 0.5)
    np.testing.assert_array_equal(adj.volume, raw.volume)


def test_adjusted_scales_a_frame_that_still_has_adj_close():
    # A downloader that ignores auto_adjust: the feed scales by Adj Close / Close itself.
    fake = FakeDownload(lambda **_: combine({"AAPL": ticker_frame(DAILY, actions=True)}))
    feed = YahooFeed(adjusted=True, download=fake, now_ms=lambda: LATER)
    page = run_history(feed, "AAPL", "1d", ms("2024-03-07"), LATER)[0]
    assert page.close.tolist() == [50.5, 51.0, 51.5, 52.0]
    assert page.open.tolist() == [50.0, 50.5, 51.0, 51.5]


def test_flat_and_ticker_first_columns_are_read_too():
    flat = combine({"AAPL": ticker_frame(DAILY)}, multi_level_index=False)
    assert not isinstance(flat.columns, pd.MultiIndex)
    by_ticker = combine({"AAPL": ticker_frame(DAILY)})
    by_ticker.columns = by_ticker.columns.swaplevel(0, 1)  # group_by='ticker'
    for frame in (flat, by_ticker):
        feed = YahooFeed(download=FakeDownload(lambda f=frame, **_: f), now_ms=lambda: LATER)
        page = run_history(feed, "AAPL", "1d", ms("2024-03-07"), LATER)[0]
        assert page.close.tolist() == [101.0, 102.0, 103.0, 104.0]


def test_symbol_keeps_the_case_it_was_given():
    fake = FakeDownload(lambda **_: combine({"BRK-B": ticker_frame(DAILY)}))  # yfinance upcases
    page = run_history(YahooFeed(download=fake, now_ms=lambda: LATER), "brk-b", "1d", 0, LATER)
    assert page[0].symbol.tolist() == ["brk-b"] * 4


def test_range_is_half_open_and_the_forming_bar_is_dropped():
    # Yahoo returns more than asked (the padding, and its live row after the end).
    fake = FakeDownload(lambda **_: combine({"AAPL": ticker_frame(DAILY)}))
    feed = YahooFeed(download=fake, now_ms=lambda: LATER)
    page = run_history(feed, "AAPL", "1d", ms("2024-03-08 05:00"), ms("2024-03-11 04:00"))[0]
    assert page.time_ms.tolist() == [ms("2024-03-08 05:00")]  # the end is excluded
    # Now is 2024-03-12 15:00 New York: the 12th's bar has not closed, the 11th's has.
    now = ms("2024-03-12 15:00", NY)
    feed = YahooFeed(download=fake, now_ms=lambda: now)
    page = run_history(feed, "AAPL", "1d", ms("2024-03-01"), ms("2024-04-01"))[0]
    assert page.time_ms.max() == ms("2024-03-11", NY)
    assert len(page) == 3


def test_bad_rows_are_dropped_and_counted():
    rows = [
        *DAILY[:2],
        ("2024-03-09", np.nan, np.nan, np.nan, np.nan, np.nan, 0),  # Yahoo's empty row
        ("2024-03-11", 102.0, 99.0, 104.0, 103.0, 51.5, 1_200),  # high < low
        DAILY[3],
    ]
    fake = FakeDownload(lambda **_: combine({"AAPL": ticker_frame(rows)}))
    feed = YahooFeed(download=fake, now_ms=lambda: LATER)
    page = run_history(feed, "AAPL", "1d", ms("2024-03-01"), LATER)[0]
    assert page.time_ms.tolist() == [ms(d, NY) for d in ("2024-03-07", "2024-03-08", "2024-03-12")]
    report = feed.last_report
    assert report.rows_in == 5 and report.rows_out == 3
    assert report.dropped == {"bad price or time": 1, "high below low": 1}


def test_a_given_policy_is_used():
    rows = [*DAILY[:2], ("2024-03-11", 102.0, 99.0, 104.0, 103.0, 51.5, 1_200)]
    fake = FakeDownload(lambda **_: combine({"AAPL": ticker_frame(rows)}))
    feed = YahooFeed(download=fake, now_ms=lambda: LATER, policy=CleanPolicy(bad_range="repair"))
    page = run_history(feed, "AAPL", "1d", ms("2024-03-01"), LATER)[0]
    assert len(page) == 3 and page.high[2] == 104.0 and page.low[2] == 99.0
    assert feed.last_report.repaired and feed.last_report.gap_count == 0  # no timeframe given


def test_tz_naive_index_is_refused_not_guessed():
    naive = combine({"AAPL": ticker_frame(DAILY)})
    naive.index = naive.index.tz_localize(None)  # what ignore_tz=True gives
    feed = YahooFeed(download=FakeDownload(lambda **_: naive), now_ms=lambda: LATER)
    with pytest.raises(FeedError, match="no timezone"):
        run_history(feed, "AAPL", "1d", ms("2024-03-01"), LATER)


# -- history: errors and limits --------------------------------------------------------------


def test_empty_frame_is_symbol_not_found_naming_ticker_and_range():
    def respond(**_):
        # What yfinance logs (from the calling thread) before returning the empty frame.
        logging.getLogger("yfinance").error("['XYZQ']: possibly delisted; no timezone found")
        return combine({"XYZQ": missing_frame()})

    feed = YahooFeed(download=FakeDownload(respond), now_ms=lambda: LATER)
    with pytest.raises(SymbolNotFound) as caught:
        run_history(feed, "XYZQ", "1d", ms("2024-03-01"), ms("2024-03-10"))
    message = str(caught.value)
    assert "'XYZQ'" in message and "no timezone found" in message
    assert "2024-03-01 00:00 UTC" in message and "2024-03-10 00:00 UTC" in message


def test_a_range_without_trading_of_a_known_ticker_is_empty_not_an_error():
    # Yahoo's answer for a weekend of 5m bars of a ticker it knows: no price data, timezone
    # resolved. A store filling its missing ranges asks exactly such ranges.
    def respond(**_):
        logging.getLogger("yfinance").error(
            "['AAPL']: possibly delisted; no price data found  (5m 2024-03-09 -> 2024-03-10)"
        )
        return combine({"AAPL": missing_frame()})

    feed = YahooFeed(download=FakeDownload(respond), now_ms=lambda: LATER)
    assert run_history(feed, "AAPL", "5m", ms("2024-03-09"), ms("2024-03-10")) == []


def test_empty_frame_without_a_reason_is_still_symbol_not_found():
    feed = YahooFeed(download=FakeDownload(lambda **_: pd.DataFrame()), now_ms=lambda: LATER)
    with pytest.raises(SymbolNotFound, match=r"'NOPE'.*unknown or delisted"):
        run_history(feed, "NOPE", "1d", ms("2024-03-01"), ms("2024-03-10"))


def test_logged_rate_limit_is_feed_unavailable():
    def respond(**_):
        logging.getLogger("yfinance").error(
            "['AAPL']: YFRateLimitError('Too Many Requests. Rate limited. Try after a while.')"
        )
        return combine({"AAPL": missing_frame()})

    feed = YahooFeed(download=FakeDownload(respond), now_ms=lambda: LATER)
    with pytest.raises(FeedUnavailable, match=r"'AAPL'.*Too Many Requests"):
        run_history(feed, "AAPL", "1d", ms("2024-03-01"), ms("2024-03-10"))


def test_a_yfinance_internal_failure_is_not_taken_for_a_missing_ticker():
    # Seen for real: a KeyError inside yfinance, logged like a ticker's failure. Its text says
    # "not found", but the ticker is not the problem.
    def respond(**_):
        logging.getLogger("yfinance").error(
            """['AAPL']: KeyError("['timezone', 'gmtoffset'] not found in axis")"""
        )
        return combine({"AAPL": missing_frame()})

    feed = YahooFeed(download=FakeDownload(respond), now_ms=lambda: LATER)
    with pytest.raises(FeedUnavailable, match="KeyError"):
        run_history(feed, "AAPL", "1d", ms("2024-03-01"), ms("2024-03-10"))


def test_errors_logged_by_other_threads_are_not_taken_for_ours():
    def respond(**_):
        import threading

        thread = threading.Thread(
            target=lambda: logging.getLogger("yfinance").error("['AAPL']: YFRateLimitError()")
        )
        thread.start()
        thread.join()
        return pd.DataFrame()

    feed = YahooFeed(download=FakeDownload(respond), now_ms=lambda: LATER)
    with pytest.raises(SymbolNotFound):
        run_history(feed, "AAPL", "1d", ms("2024-03-01"), ms("2024-03-10"))


def test_yfinance_exceptions_map_to_feed_errors():
    from yfinance.exceptions import (
        YFDataException,
        YFPricesMissingError,
        YFRateLimitError,
        YFTzMissingError,
    )

    cases = [
        (YFRateLimitError(), FeedUnavailable, "Too Many Requests"),
        (YFTzMissingError("ZZZZ"), SymbolNotFound, "no timezone found"),
        (YFPricesMissingError("ZZZZ", "(1d 2024-03-01 -> 2024-03-10)"), SymbolNotFound, "price"),
        (YFDataException("*** YAHOO! FINANCE IS CURRENTLY DOWN! ***"), FeedUnavailable, "DOWN"),
        (ConnectionError("connection reset"), FeedUnavailable, "connection reset"),
        (TimeoutError("timed out"), FeedUnavailable, "timed out"),
    ]
    for error, expected, text in cases:

        def respond(error=error, **_):
            raise error

        feed = YahooFeed(download=FakeDownload(respond), now_ms=lambda: LATER)
        with pytest.raises(expected, match=text) as caught:
            run_history(feed, "ZZZZ", "1d", ms("2024-03-01"), ms("2024-03-10"))
        assert "ZZZZ" in str(caught.value)
        assert caught.value.__cause__ is error


def test_a_bug_in_the_downloader_is_not_disguised():
    def respond(**_):
        raise TypeError("unexpected keyword")

    feed = YahooFeed(download=FakeDownload(respond), now_ms=lambda: LATER)
    with pytest.raises(TypeError, match="unexpected keyword"):
        run_history(feed, "AAPL", "1d", ms("2024-03-01"), ms("2024-03-10"))


def test_4h_and_unknown_timeframes_are_invalid_arguments():
    fake = FakeDownload(lambda **_: pytest.fail("must not download"))
    feed = YahooFeed(download=fake, now_ms=lambda: LATER)
    with pytest.raises(InvalidArgument, match="Yahoo does not offer 4h"):
        run_history(feed, "AAPL", "4h", ms("2024-03-01"), ms("2024-03-10"))
    with pytest.raises(InvalidArgument, match="unknown timeframe"):
        run_history(feed, "AAPL", "2h", ms("2024-03-01"), ms("2024-03-10"))
    with pytest.raises(InvalidArgument, match="4h"):

        async def stream_4h():
            async for _ in feed.stream(["AAPL"], "4h"):
                pass

        asyncio.run(stream_4h())
    with pytest.raises(InvalidArgument, match="after start_ms"):
        run_history(feed, "AAPL", "1d", ms("2024-03-10"), ms("2024-03-10"))
    assert fake.calls == []


@pytest.mark.parametrize(("timeframe", "days"), [("1m", 30), ("5m", 60), ("30m", 60), ("1h", 730)])
def test_intraday_start_older_than_yahoo_keeps_is_refused(timeframe, days):
    now = ms("2024-06-01 12:00")
    fake = FakeDownload(lambda **_: pytest.fail("must not download"))
    feed = YahooFeed(download=fake, now_ms=lambda: now)
    with pytest.raises(InvalidArgument, match=f"only for the last {days} days"):
        run_history(feed, "AAPL", timeframe, now - (days + 1) * DAY, now)
    assert fake.calls == []


def test_daily_history_has_no_lookback_limit():
    fake = FakeDownload(lambda **_: combine({"AAPL": ticker_frame(DAILY)}))
    feed = YahooFeed(download=fake, now_ms=lambda: LATER)
    assert len(run_history(feed, "AAPL", "1d", ms("1990-01-01"), LATER)[0]) == 4


def test_long_1m_range_is_fetched_in_windows_yahoo_accepts():
    now = ms("2024-06-01 12:00")

    def respond(start, end, **_):  # one 1m bar every 6 hours inside what was asked
        times = pd.date_range(start.ceil("6h"), end, freq="6h", inclusive="left")
        rows = [(t.tz_localize(None), 10.0, 11.0, 9.0, 10.0, 10.0, 5) for t in times]
        return combine({"BTC-USD": ticker_frame(rows, tz="UTC", intraday=True)})

    fake = FakeDownload(respond)
    feed = YahooFeed(download=fake, now_ms=lambda: now)
    start, end = now - 20 * DAY, now - 1 * DAY
    page = run_history(feed, "BTC-USD", "1m", start, end)[0]
    assert len(fake.calls) == 3  # 19 days in windows of 7
    for call in fake.calls:
        assert call["end"] - call["start"] <= pd.Timedelta(days=8)  # Yahoo's 1m cap
    # The windows join without holes or repeats.
    assert page.time_ms.tolist() == list(range(start, end, 6 * 3_600_000))
    assert feed.last_report.dropped == {}


def test_a_quiet_1m_window_among_others_is_not_an_error():
    now = ms("2024-06-01 12:00")

    def respond(start, end, **_):
        if start < pd.Timestamp(now - 10 * DAY, unit="ms", tz="UTC"):
            return pd.DataFrame()  # nothing traded in the first window
        rows = [(pd.Timestamp(now - 2 * DAY, unit="ms"), 10.0, 11.0, 9.0, 10.0, 10.0, 5)]
        return combine({"BTC-USD": ticker_frame(rows, tz="UTC", intraday=True)})

    feed = YahooFeed(download=FakeDownload(respond), now_ms=lambda: now)
    page = run_history(feed, "BTC-USD", "1m", now - 14 * DAY, now - DAY)[0]
    assert page.time_ms.tolist() == [now - 2 * DAY]


# -- stream ----------------------------------------------------------------------------------


class ClockDone(Exception):
    """The test's clock has no more times: the stream has polled enough."""


class Clock:
    """A fake ``now_ms``: each call (one per poll) moves to the next time."""

    def __init__(self, times: list[int]) -> None:
        self.times = list(times)
        self.value = 0

    def __call__(self) -> int:
        if not self.times:
            raise ClockDone
        self.value = self.times.pop(0)
        return self.value


def five_minute_bars(first: str, count: int, base: float) -> list[tuple]:
    start = pd.Timestamp(first)
    return [
        (
            start + pd.Timedelta(minutes=5 * i),
            base + i,
            base + i + 1,
            base + i - 1,
            *[base + i] * 2,
            9,
        )
        for i in range(count)
    ]


class GrowingYahoo:
    """Yahoo as time passes: every bar that has opened by the clock's time, the forming one
    too. AAPL trades in New York from 09:30 (13:30 UTC); BTC-USD is in UTC, with a bar on the
    quarter hours only, so the two never line up."""

    def __init__(self, clock: Clock, failing: Callable[[int], set[str]] = lambda n: set()):
        self.clock = clock
        self.failing = failing
        self.fake = FakeDownload(self.respond)

    def respond(self, tickers, start, **_):
        failing = self.failing(len(self.fake.calls) - 1)
        frames = {}
        for ticker in tickers:
            if ticker in failing:
                logging.getLogger("yfinance").error(
                    f"[{ticker!r}]: possibly delisted; no price data found"
                )
                frames[ticker] = missing_frame()
                continue
            if ticker == "AAPL":
                rows = five_minute_bars("2024-03-11 09:30", 40, 100.0)
                frame = ticker_frame(rows, tz=NY, intraday=True)
            else:
                rows = five_minute_bars("2024-03-11 13:15", 40, 60_000.0)[::3]
                frame = ticker_frame(rows, tz="UTC", intraday=True)
            opened = frame.index.tz_convert("UTC").as_unit("ms").asi8 <= self.clock.value
            frames[ticker] = frame[opened & (frame.index >= start)]
        return combine(frames)


def drive(feed: YahooFeed, symbols: list[str], timeframe: str) -> tuple[list, Exception]:
    """Iterate the stream until it raises (the clock running out ends it with ClockDone)."""
    batches: list = []

    async def go():
        async for batch in feed.stream(symbols, timeframe):
            batches.append(batch)

    try:
        asyncio.run(go())
    except Exception as exc:
        return batches, exc
    raise AssertionError("the stream ended by itself")


def utc(ms_value: int) -> pd.Timestamp:
    return pd.Timestamp(ms_value, unit="ms", tz="UTC")


def test_stream_emits_each_closed_bar_once_across_polls():
    def at(hm: str) -> int:
        return ms(f"2024-03-11 {hm}", NY)

    clock = Clock(
        [
            at("10:01"),  # 09:55 closed (10:00 forming): first sight, the latest only
            at("10:06"),  # 10:00 closed
            at("10:08"),  # nothing new
            at("10:21"),  # 10:05, 10:10, 10:15 closed
        ]
    )
    yahoo = GrowingYahoo(clock)
    feed = YahooFeed(download=yahoo.fake, poll_interval_s=0.001, now_ms=clock)
    batches, error = drive(feed, ["AAPL"], "5m")
    assert isinstance(error, ClockDone)
    assert len(yahoo.fake.calls) == 4
    emitted = [t for b in batches for t in b.time_ms.tolist()]
    assert emitted == [at(hm) for hm in ("09:55", "10:00", "10:05", "10:10", "10:15")]
    assert [len(b) for b in batches] == [1, 1, 3]  # no batch for the poll with nothing new
    assert batches[0].close.tolist() == [105.0]  # the 09:55 bar
    calls = yahoo.fake.calls
    assert all(c["tickers"] == ["AAPL"] and c["interval"] == "5m" for c in calls)
    assert calls[0]["start"] == utc(at("10:01") - 14 * DAY)
    # Then each poll asks from the last bar emitted to a bar past now.
    assert calls[1]["start"] == utc(at("09:55"))
    assert calls[3]["start"] == utc(at("10:00"))
    assert calls[3]["end"] == utc(at("10:26"))


def test_stream_splits_a_multi_ticker_frame_by_symbol():
    clock = Clock([ms("2024-03-11 14:01"), ms("2024-03-11 14:31")])
    yahoo = GrowingYahoo(clock)
    feed = YahooFeed(download=yahoo.fake, poll_interval_s=0.001, now_ms=clock)
    batches, error = drive(feed, ["BTC-USD", "AAPL"], "5m")
    assert isinstance(error, ClockDone)
    first, second = batches
    assert yahoo.fake.calls[0]["tickers"] == ["BTC-USD", "AAPL"]
    # The first poll: each symbol's latest closed bar, by time then symbol.
    assert list(zip(first.symbol.tolist(), first.time_ms.tolist(), strict=True)) == [
        ("BTC-USD", ms("2024-03-11 13:45")),
        ("AAPL", ms("2024-03-11 13:55")),
    ]
    assert first.for_symbol("AAPL").close.tolist() == [105.0]
    assert first.for_symbol("BTC-USD").close.tolist() == [60_006.0]
    # Then every newer closed bar. The NaN rows each ticker gets where only the other has a
    # bar (yfinance aligns them on the union of times) are neither bars nor bad rows.
    expected = sorted(
        [("AAPL", ms("2024-03-11 14:00") + i * 5 * MIN) for i in range(6)]
        + [("BTC-USD", ms("2024-03-11 14:00") + i * 15 * MIN) for i in range(2)],
        key=lambda row: (row[1], row[0]),
    )
    assert list(zip(second.symbol.tolist(), second.time_ms.tolist(), strict=True)) == expected
    assert second.for_symbol("BTC-USD").close.tolist() == [60_009.0, 60_012.0]
    assert feed.last_report.dropped == {}


def test_stream_skips_a_failing_ticker_for_a_round_and_raises_when_all_fail(caplog):
    # Poll 0: BTC-USD fails; poll 1: both answer; poll 2: both fail.
    plan = {0: {"BTC-USD"}, 1: set(), 2: {"AAPL", "BTC-USD"}}
    clock = Clock([ms("2024-03-11 14:01"), ms("2024-03-11 14:16"), ms("2024-03-11 14:31")])
    yahoo = GrowingYahoo(clock, failing=plan.__getitem__)
    feed = YahooFeed(download=yahoo.fake, poll_interval_s=0.001, now_ms=clock)
    with caplog.at_level(logging.WARNING, logger="supreme.data.yahoo"):
        batches, error = drive(feed, ["AAPL", "BTC-USD"], "5m")
    assert isinstance(error, SymbolNotFound)
    assert "AAPL: possibly delisted" in str(error) and "BTC-USD: possibly delisted" in str(error)
    assert [b.symbols() for b in batches] == [["AAPL"], ["AAPL", "BTC-USD"]]
    # BTC-USD's first answer: its latest closed bar; AAPL: what closed since its last one.
    assert batches[1].for_symbol("BTC-USD").time_ms.tolist() == [ms("2024-03-11 14:00")]
    assert len(batches[1].for_symbol("AAPL")) == 3
    warned = [r.getMessage() for r in caplog.records if r.name == "supreme.data.yahoo"]
    assert len(warned) == 1
    assert "BTC-USD" in warned[0] and "no price data found" in warned[0]


def test_stream_rate_limit_for_every_ticker_is_feed_unavailable():
    def respond(tickers, **_):
        for ticker in tickers:
            logging.getLogger("yfinance").error(f"[{ticker!r}]: YFRateLimitError('Too Many')")
        return combine({t: missing_frame() for t in tickers})

    feed = YahooFeed(download=FakeDownload(respond), poll_interval_s=0.001, now_ms=lambda: LATER)

    async def go():
        async for _ in feed.stream(["AAPL", "SPY"], "1d"):
            pass

    with pytest.raises(FeedUnavailable, match="Too Many"):
        asyncio.run(go())


def test_close_releases_nothing_and_poll_interval_is_checked():
    asyncio.run(YahooFeed(download=FakeDownload(lambda **_: None)).close())
    with pytest.raises(InvalidArgument, match="poll_interval_s"):
        YahooFeed(poll_interval_s=0)


# -- the real yfinance.download, with only its HTTP layer faked ------------------------------


def chart_json(ticker: str, tz: str, interval: str, period1: int, period2: int) -> dict:
    """Yahoo's /v8/finance/chart answer: daily bars stamped at 09:30 local (as Yahoo does),
    intraday ones every 5 minutes from 09:30; Adj Close at half the close."""
    if interval == "1d":
        days = pd.bdate_range("2024-03-06", "2024-03-13").tz_localize(tz)
        stamps = days + pd.Timedelta(hours=9, minutes=30)
    else:
        stamps = pd.date_range("2024-03-11 09:30", periods=6, freq="5min", tz=tz)
    stamps = [int(s.timestamp()) for s in stamps]
    stamps = [s for s in stamps if period1 <= s < period2]
    opens = [100.0 + i for i in range(len(stamps))]
    day0 = int(pd.Timestamp("2024-03-11", tz=tz).timestamp())

    def session() -> dict:  # a new dict each time: yfinance edits them in place
        return {"timezone": "EDT", "start": day0 + 34_200, "end": day0 + 57_600, "gmtoffset": 0}

    meta = {
        "currency": "USD",
        "symbol": ticker,
        "exchangeName": "NMS",
        "instrumentType": "EQUITY",
        "regularMarketTime": stamps[-1] if stamps else period1,
        "gmtoffset": -14_400,
        "timezone": "EDT",
        "exchangeTimezoneName": tz,
        "priceHint": 2,
        "currentTradingPeriod": {"pre": session(), "regular": session(), "post": session()},
        "dataGranularity": interval,
        "range": "",
        "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
        "tradingPeriods": [[session()]],
    }
    if not stamps:
        return {"chart": {"result": [{"meta": meta, "indicators": {"quote": [{}]}}], "error": None}}
    quote = {
        "open": opens,
        "high": [o + 2 for o in opens],
        "low": [o - 2 for o in opens],
        "close": [o + 1 for o in opens],
        "volume": [1_000] * len(opens),
    }
    result = {
        "meta": meta,
        "timestamp": stamps,
        "indicators": {"quote": [quote], "adjclose": [{"adjclose": [(o + 1) / 2 for o in opens]}]},
    }
    return {"chart": {"result": [result], "error": None}}


@pytest.fixture
def real_yfinance(monkeypatch):
    """yfinance.download as shipped, answering from chart_json; XYZQ has no timezone (unknown
    ticker), RLIM is rate limited."""
    import yfinance as yf
    from yfinance import base
    from yfinance.data import YfData
    from yfinance.exceptions import YFRateLimitError

    # yfinance is pinned; if these internals move, this fixture must follow them.
    assert all(hasattr(c, n) for c, n in ((YfData, "get"), (YfData, "cache_get"))), (
        "yfinance internals changed: update the real_yfinance fixture"
    )
    assert hasattr(base.TickerBase, "_get_ticker_tz"), "yfinance internals changed"
    zones = {"AAPL": NY, "SPY": NY, "BTC-USD": "UTC", "RLIM": NY}

    class Response:
        def __init__(self, payload):
            self.payload = payload
            self.text = "{}"
            self.status_code = 200

        def json(self):
            return self.payload

        def raise_for_status(self):
            pass

    def get(self, url, params=None, timeout=30):
        ticker = url.rsplit("/", 1)[-1]
        if ticker == "RLIM":
            raise YFRateLimitError()
        p = params or {}
        return Response(
            chart_json(ticker, zones[ticker], p["interval"], p["period1"], p["period2"])
        )

    monkeypatch.setattr(YfData, "get", get)
    monkeypatch.setattr(YfData, "cache_get", get)
    monkeypatch.setattr(
        base.TickerBase, "_get_ticker_tz", lambda self, timeout: zones.get(self.ticker)
    )
    return yf.download


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_real_yfinance_daily_frame_through_the_feed(real_yfinance):
    for adjusted in (False, True):
        feed = YahooFeed(adjusted=adjusted, download=real_yfinance, now_ms=lambda: LATER)
        page = run_history(feed, "AAPL", "1d", ms("2024-03-07"), ms("2024-03-12"))[0]
        # Yahoo stamps the daily bar at 09:30; yfinance moves it to local midnight.
        assert page.time_ms.tolist() == [
            ms(d, NY) for d in ("2024-03-07", "2024-03-08", "2024-03-11")
        ]
        raw_close = [102.0, 103.0, 104.0]
        assert page.close.tolist() == ([c / 2 for c in raw_close] if adjusted else raw_close)
        assert feed.last_report.dropped == {}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_real_yfinance_multi_ticker_intraday_poll(real_yfinance):
    now = ms("2024-03-11 10:10", NY)
    feed = YahooFeed(download=real_yfinance, poll_interval_s=0.001, now_ms=lambda: now)

    async def first_poll():
        stream = feed.stream(["AAPL", "BTC-USD"], "5m")
        try:
            return await anext(stream)
        finally:
            await stream.aclose()

    batch = asyncio.run(first_poll())
    # The latest closed bar of each: 09:55 UTC comes before 09:55 New York.
    assert batch.symbols() == ["BTC-USD", "AAPL"]
    assert batch.for_symbol("BTC-USD").time_ms.tolist() == [ms("2024-03-11 09:55")]
    assert batch.for_symbol("AAPL").time_ms.tolist() == [ms("2024-03-11 09:55", NY)]
    assert batch.for_symbol("AAPL").close.tolist() == [106.0]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_real_yfinance_failures_map_to_feed_errors(real_yfinance):
    feed = YahooFeed(download=real_yfinance, now_ms=lambda: LATER)
    with pytest.raises(SymbolNotFound, match=r"'XYZQ'.*no timezone found"):
        run_history(feed, "XYZQ", "1d", ms("2024-03-07"), ms("2024-03-12"))
    with pytest.raises(FeedUnavailable, match=r"'RLIM'.*Rate limited"):
        run_history(feed, "RLIM", "1d", ms("2024-03-07"), ms("2024-03-12"))
