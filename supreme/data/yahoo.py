"""Bars from Yahoo Finance, through yfinance: history and live polling.

:class:`YahooFeed` implements :class:`~supreme.data.feed.Feed`. Equities (``AAPL``), ETFs
(``SPY``), FX (``EURUSD=X``), futures (``ES=F``) and crypto (``BTC-USD``) are all plain Yahoo
tickers; the bars carry the ticker exactly as it was given.

**The boundary.** Every request goes through one callable with the signature of
``yfinance.download`` (the default), called with keyword arguments only: ``tickers`` (a list),
``start`` and ``end`` (tz-aware UTC timestamps), ``interval``, ``auto_adjust``, ``actions=False``,
``keepna=True`` (Yahoo's empty rows reach the cleaning report instead of vanishing inside
yfinance), ``ignore_tz=False`` (without it yfinance strips the timezone from daily bars),
``group_by="column"``, ``multi_level_index=True``, ``progress=False``, ``threads=True``.
Arguments the callable does not take are left out (older yfinance), except the first five.
Tests pass their own callable that returns frames of yfinance's shape. The call is blocking and
runs in ``asyncio.to_thread``.

**Raw or adjusted.** ``adjusted=False`` (default) asks for ``auto_adjust=False`` and keeps
Yahoo's Open/High/Low/Close. Yahoo already scales those for *splits*; they are not adjusted for
dividends. ``adjusted=True`` asks for ``auto_adjust=True``: yfinance multiplies Open, High and Low
by ``Adj Close / Close`` and replaces Close with Adj Close (splits and dividends). Should a frame
still carry ``Adj Close`` (a downloader that ignored ``auto_adjust``), the feed applies that same
scaling itself. Volume is never adjusted. ``Adj Close``, ``Dividends`` and ``Stock Splits`` are
dropped after use.

**Time.** yfinance indexes bars with a tz-aware DatetimeIndex in the exchange's zone
(``America/New_York`` for US listings; a multi-ticker frame is converted to the zone most of its
tickers share). Intraday bars are stamped at their open; daily and weekly bars at *local midnight*
of their date. Each stamp is converted to UTC milliseconds, so an NYSE daily bar opens at 05:00
UTC in winter and 04:00 UTC in summer (2024-03-08 -> 1709874000000, 2024-03-11 ->
1710129600000). A bar is closed once ``open + timeframe <= now``; the one still forming is
dropped, so today's daily bar appears after local midnight. The resolution of the index (s, us
or ns in pandas >= 2) does not matter. A tz-naive index is refused (FeedError), never guessed.

**Timeframes and limits.** 1m, 5m, 15m, 30m, 1h, 1d and 1w map to Yahoo's 1m, 5m, 15m, 30m, 1h,
1d and 1wk. Yahoo has no 4h bars: asking for them raises ``InvalidArgument``. Yahoo keeps
intraday bars only for so long (the limits yfinance's own code works with): 1m for 30 days,
5m/15m/30m for 60 days, 1h for 730 days; 1d and 1w have no limit. ``history`` refuses a start
older than that (``InvalidArgument``, naming the earliest start it would accept; the limit is
counted from now, less five minutes of headroom for the request to travel). Yahoo also serves at
most 8 days of 1m bars per request, so 1m ranges are fetched in 7-day windows, put together and
cleaned at once. Each request is padded by one bar on either side (a daily bar stamped at local
midnight has a Yahoo timestamp later in the day) and the result cut to ``[start_ms, end_ms)``.

**Cleaning.** Bars go through :func:`~supreme.data.clean.clean_bars` with the feed's ``policy``
(default ``CleanPolicy(timeframe_ms=<the timeframe>)``, which reports gaps: weekends and holidays
show up there, they are not errors). The report of the last call is ``last_report``. NaN rows
(Yahoo sends them for holidays and missing minutes) and inverted bars are dropped and counted
there.

**Errors.** yfinance does not raise for a ticker it cannot fetch: ``download`` logs the reason on
the ``yfinance`` logger ("['XYZ']: possibly delisted; no timezone found",
"['XYZ']: YFRateLimitError('Too Many Requests. ...')") and returns an empty frame (or, among
several tickers, all-NaN columns). The feed listens to that logger for the duration of its own
call (records of its own thread only) to learn the reason: missing data ("delisted", "no timezone
found", "no price data found", ...) gives :class:`SymbolNotFound`; anything else (rate limit,
network, Yahoo down) :class:`FeedUnavailable`. Without a reason (a silenced ``yfinance``
logger), an empty frame gives ``SymbolNotFound``. Exceptions the boundary raises are mapped the
same way: yfinance's ``YFTickerMissingError`` family to ``SymbolNotFound``, ``YFRateLimitError``
and every other yfinance, network (``OSError``, curl_cffi, requests) error to
``FeedUnavailable``; any other exception propagates as it is. Messages name the ticker and the
range. Yahoo's answer for a range without any trading of a ticker it knows (a weekend of 5m
bars) is "no price data found" with the ticker's timezone resolved: ``history`` then yields no
bars rather than an error, since a store filling its missing ranges asks for such ranges; an
unknown ticker ("no timezone found") still raises ``SymbolNotFound``.

**Stream.** ``stream`` polls every ``poll_interval_s`` (default ``min(timeframe / 2, 60 s)``)
with one download for all symbols, from the oldest of their last emitted bars (14 days back, or
five bars if longer, before anything was emitted; never beyond Yahoo's limit) to now. The first
time a symbol answers, only its latest closed bar is emitted (consumers get a current bar at once,
not a backfill: use ``history`` for that); after that, each closed bar newer than the last one
emitted, once. One BarBatch per poll with something new, ordered by time then symbol. A ticker
without bars in a poll is logged (warning) and skipped for that round; if every ticker fails, the
stream raises the mapped error.

**Running it for real** (needs network access to Yahoo)::

    supreme data download --source yahoo --symbol AAPL --timeframe 1d --start 2024-01-01

or, from Python::

    import asyncio
    from supreme.data.yahoo import YahooFeed

    async def main():
        feed = YahooFeed(adjusted=True)
        async for page in feed.history("AAPL", "1d", 1704067200000, 1735689600000):
            print(page.to_frame().tail())
        print(feed.last_report.summary())

    asyncio.run(main())
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from supreme.core.errors import InvalidArgument
from supreme.core.model import BarBatch, object_column
from supreme.data.clean import CleanPolicy, CleanReport, clean_bars
from supreme.data.feed import FeedError, FeedUnavailable, SymbolNotFound, timeframe_ms

__all__ = ["INTERVALS", "LOOKBACK_DAYS", "YahooFeed", "yahoo_interval"]

log = logging.getLogger(__name__)

DAY_MS = 86_400_000

# Our timeframes -> yfinance intervals. 4h is missing on purpose: Yahoo has no such bars.
INTERVALS: dict[str, str] = {
    "1m": "1m",
    "5m": "5m",
    "15m": "15m",
    "30m": "30m",
    "1h": "1h",
    "1d": "1d",
    "1w": "1wk",
}
# How far back Yahoo serves intraday bars, in days (1d and 1w: no limit).
LOOKBACK_DAYS: dict[str, int] = {"1m": 30, "5m": 60, "15m": 60, "30m": 60, "1h": 730}
# The longest range one request may span (Yahoo: 8 days of 1m bars per request).
_REQUEST_MS: dict[str, int] = {"1m": 7 * DAY_MS}
# Headroom at the lookback limit, for the request's travel time and clock skew.
_EDGE_MS = 5 * 60_000
# How far back the first poll of a stream looks for each symbol's latest bar.
_STREAM_WINDOW_MS = 14 * DAY_MS

_OHLC = ("Open", "High", "Low", "Close")
_BAR_COLUMNS = ("symbol", "time_ms", "open", "high", "low", "close", "volume")
# Reasons yfinance gives when a ticker or its prices do not exist.
# (Not a bare "not found": yfinance's own KeyErrors say "... not found in axis".)
_MISSING = re.compile(
    r"delisted|no timezone found|no price data found|no data found|quote not found"
    r"|data doesn't exist|data does not exist"
    r"|YFTzMissingError|YFPricesMissingError|YFTickerMissingError",
    re.IGNORECASE,
)
# yfinance's summary after a download: "['A', 'B']: reason"; and per ticker: "$A: reason".
_SUMMARY_LINE = re.compile(r"^\s*\[(?P<tickers>[^\]]*)\]:\s*(?P<reason>.+)$", re.DOTALL)
_TICKER_LINE = re.compile(r"^\s*\$(?P<ticker>[^:\s]+):\s*(?P<reason>.+)$", re.DOTALL)
# Arguments every downloader must take; the others are dropped when it does not.
_REQUIRED_ARGS = ("tickers", "start", "end", "interval", "auto_adjust")


def yahoo_interval(timeframe: str) -> str:
    """The yfinance interval of ``timeframe``; :class:`InvalidArgument` for 4h or unknown ones."""
    timeframe_ms(timeframe)  # unknown timeframes: the common message
    try:
        return INTERVALS[timeframe]
    except KeyError:
        raise InvalidArgument(
            f"Yahoo does not offer {timeframe} bars; it offers {', '.join(INTERVALS)} "
            "(aggregate 1h bars for 4h)"
        ) from None


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


def _span(timeframe: str, start_ms: int, end_ms: int) -> str:
    return f"{timeframe} bars in [{_iso(start_ms)}, {_iso(end_ms)})"


def _check_symbol(symbol: object) -> str:
    if not isinstance(symbol, str) or not symbol.strip():
        raise InvalidArgument(f"a Yahoo ticker must be a non-empty string, got {symbol!r}")
    return symbol


class YahooFeed:
    """Bars from Yahoo Finance via ``yfinance.download`` (see the module docstring).

    ``download`` replaces ``yfinance.download`` (tests); ``now_ms`` replaces the wall clock.
    ``policy`` is used as given for every call (set its ``timeframe_ms`` for gap reports).
    """

    name = "yahoo"

    def __init__(
        self,
        *,
        adjusted: bool = False,
        download: Callable[..., pd.DataFrame | None] | None = None,
        poll_interval_s: float | None = None,
        policy: CleanPolicy | None = None,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        if poll_interval_s is not None and not poll_interval_s > 0:
            raise InvalidArgument(f"poll_interval_s must be > 0, got {poll_interval_s!r}")
        self.adjusted = bool(adjusted)
        self.poll_interval_s = poll_interval_s
        self.policy = policy
        self.last_report: CleanReport | None = None
        self._download = download
        self._now_ms = now_ms or _wall_clock_ms
        self._accepted: set[str] | None = None  # the downloader's keywords; None: all

    # -- history -------------------------------------------------------------------------------

    async def history(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int
    ) -> AsyncIterator[BarBatch]:
        """Closed bars of ``symbol`` in ``[start_ms, end_ms)``, cleaned, in one page."""
        interval = yahoo_interval(timeframe)
        step = timeframe_ms(timeframe)
        _check_symbol(symbol)
        start_ms, end_ms = int(start_ms), int(end_ms)
        if end_ms <= start_ms:
            raise InvalidArgument(
                f"end_ms ({end_ms}) must be after start_ms ({start_ms}) for {symbol!r}"
            )
        now = int(self._now_ms())
        earliest = self._earliest(timeframe, now)
        if earliest is not None and start_ms < earliest:
            raise InvalidArgument(
                f"Yahoo serves {timeframe} bars only for the last {LOOKBACK_DAYS[timeframe]} "
                f"days: cannot fetch {symbol!r} from {_iso(start_ms)}, the earliest start is "
                f"{_iso(earliest)}; use a later start or a coarser timeframe "
                "(1d and 1w have no limit)"
            )
        stop = min(end_ms, now)  # a bar opening at or after now cannot have closed
        parts: list[pd.DataFrame] = []
        failure: FeedError | None = None
        for a, b in _windows(start_ms, stop, _REQUEST_MS.get(timeframe)):
            ask_from = a - step if earliest is None else max(a - step, earliest)
            frame, reasons = await asyncio.to_thread(
                self._fetch, [symbol], interval, ask_from, b + step
            )
            rows = _ticker_frames(frame, [symbol])[symbol]
            if rows.empty:
                reason = reasons.get(symbol.upper())
                if _no_trading(reason):
                    # A known ticker (its timezone resolved) with no trading in the window: a
                    # weekend or a holiday, not an error. The store asks for such ranges.
                    continue
                error = _no_bars_error(symbol, reason, timeframe, a, b)
                if not isinstance(error, SymbolNotFound):
                    raise error
                failure = failure or error  # one quiet 1m window among others is no error
                continue
            bars = _bars(rows, symbol, adjusted=self.adjusted)
            parts.append(bars[(bars["time_ms"] >= a) & (bars["time_ms"] < b)])
        if failure is not None and not parts:
            raise failure
        bars = pd.concat(parts, ignore_index=True) if parts else _empty_bars()
        bars = bars[bars["time_ms"] + step <= now]  # the bar still forming
        batch, report = clean_bars(bars, self.policy or CleanPolicy(timeframe_ms=step))
        self.last_report = report
        if report.changed:
            log.info("yahoo %s %s: %s", symbol, timeframe, report.summary())
        if len(batch):
            yield batch

    # -- stream --------------------------------------------------------------------------------

    async def stream(self, symbols: Sequence[str], timeframe: str) -> AsyncIterator[BarBatch]:
        """Closed bars of ``symbols`` as they close, polling Yahoo; runs until closed."""
        interval = yahoo_interval(timeframe)
        step = timeframe_ms(timeframe)
        if isinstance(symbols, str):
            symbols = [symbols]
        tickers = list(dict.fromkeys(_check_symbol(s) for s in symbols))
        if not tickers:
            raise InvalidArgument("stream needs at least one Yahoo ticker")
        poll_s = self.poll_interval_s or min(step / 2_000, 60.0)
        policy = self.policy or CleanPolicy(timeframe_ms=step)
        last: dict[str, int] = {}  # ticker -> open time of the last bar emitted
        while True:
            now = int(self._now_ms())
            if all(t in last for t in tickers):
                ask_from = min(last[t] for t in tickers)
            else:
                ask_from = now - max(_STREAM_WINDOW_MS, 5 * step)
            ask_from = max(ask_from, self._earliest_request(timeframe, now))
            frame, reasons = await asyncio.to_thread(
                self._fetch, tickers, interval, ask_from, now + step
            )
            per_ticker = _ticker_frames(frame, tickers)
            fresh: list[pd.DataFrame] = []
            failed: dict[str, str | None] = {}
            for ticker in tickers:
                rows = per_ticker[ticker]
                if rows.empty:
                    failed[ticker] = reasons.get(ticker.upper())
                    continue
                bars = _bars(rows, ticker, adjusted=self.adjusted)
                bars = bars[bars["time_ms"] + step <= now]
                if ticker in last:
                    bars = bars[bars["time_ms"] > last[ticker]]
                elif len(bars):  # first answer: the latest closed bar only
                    bars = bars[bars["time_ms"] == bars["time_ms"].max()]
                fresh.append(bars)
            if len(failed) == len(tickers):
                raise _poll_error(failed, timeframe, ask_from, now)
            for ticker, reason in failed.items():
                log.warning(
                    "yahoo: no %s for %s in this poll (%s); skipped this round",
                    _span(timeframe, ask_from, now),
                    ticker,
                    reason or "empty frame",
                )
            batch, report = clean_bars(pd.concat(fresh, ignore_index=True), policy)
            self.last_report = report
            if report.dropped or report.repaired:
                log.warning("yahoo stream %s: %s", timeframe, report.summary())
            if len(batch):
                for ticker, t in zip(batch.symbol.tolist(), batch.time_ms.tolist(), strict=True):
                    if t > last.get(ticker, -1):
                        last[ticker] = t
                yield batch
            await asyncio.sleep(poll_s)

    async def close(self) -> None:
        """Nothing to release: every request is a self-contained yfinance call."""

    # -- the yfinance boundary -----------------------------------------------------------------

    def _earliest(self, timeframe: str, now: int) -> int | None:
        """The earliest open time Yahoo serves at ``timeframe`` (None: no limit)."""
        days = LOOKBACK_DAYS.get(timeframe)
        return None if days is None else now - days * DAY_MS + _EDGE_MS

    def _earliest_request(self, timeframe: str, now: int) -> int:
        """The earliest start one request for recent bars may have."""
        earliest = self._earliest(timeframe, now)
        limits = [earliest if earliest is not None else 0]
        if timeframe in _REQUEST_MS:
            limits.append(now - _REQUEST_MS[timeframe])
        return max(limits)

    def _resolved_download(self) -> Callable[..., pd.DataFrame | None]:
        if self._download is None:
            import yfinance

            self._download = yfinance.download
        if self._accepted is None:
            self._accepted = _keywords(self._download)
        return self._download

    def _fetch(
        self, tickers: list[str], interval: str, start_ms: int, end_ms: int
    ) -> tuple[pd.DataFrame, dict[str, str]]:
        """One blocking download; the frame, and yfinance's logged reasons per ticker."""
        download = self._resolved_download()
        kwargs: dict[str, Any] = {
            "tickers": list(tickers),
            "start": pd.Timestamp(start_ms, unit="ms", tz="UTC"),
            "end": pd.Timestamp(end_ms, unit="ms", tz="UTC"),
            "interval": interval,
            "auto_adjust": self.adjusted,
            "actions": False,
            "keepna": True,
            "ignore_tz": False,
            "group_by": "column",
            "multi_level_index": True,
            "progress": False,
            "threads": True,
        }
        if self._accepted:
            kwargs = {k: v for k, v in kwargs.items() if k in self._accepted or k in _REQUIRED_ARGS}
        capture = _YfinanceErrors(threading.get_ident())
        yf_logger = logging.getLogger("yfinance")
        yf_logger.addHandler(capture)
        try:
            frame = download(**kwargs)
        except Exception as exc:
            mapped = _map_exception(exc, tickers, interval, start_ms, end_ms)
            if mapped is None:
                raise
            raise mapped from exc
        finally:
            yf_logger.removeHandler(capture)
        if frame is None:
            frame = pd.DataFrame()
        if not isinstance(frame, pd.DataFrame):
            raise FeedError(
                f"the Yahoo downloader returned a {type(frame).__name__} for {tickers}, "
                "expected a pandas DataFrame"
            )
        return frame, capture.reasons


def _keywords(function: Callable[..., Any]) -> set[str] | None:
    """The keyword names ``function`` takes; None when it takes any (``**kwargs``) or is opaque."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters}


class _YfinanceErrors(logging.Handler):
    """Collects the failure reasons yfinance logs from one thread, per upper-case ticker."""

    def __init__(self, thread_id: int) -> None:
        super().__init__(logging.ERROR)
        self.thread_id = thread_id
        self.reasons: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread_id:
            return
        try:
            message = record.getMessage()
        except Exception:  # a malformed record from elsewhere is not ours to judge
            return
        if match := _SUMMARY_LINE.match(message):
            for ticker in re.findall(r"'([^']*)'", match["tickers"]):
                self.reasons[ticker.upper()] = match["reason"].strip()
        elif match := _TICKER_LINE.match(message):
            self.reasons.setdefault(match["ticker"].upper(), match["reason"].strip())


def _is_missing(reason: str | None) -> bool:
    return reason is None or bool(_MISSING.search(reason))


def _no_trading(reason: str | None) -> bool:
    """Yahoo's answer for a range without any trading of a ticker it knows."""
    text = (reason or "").lower()
    return "no price data found" in text and "no timezone found" not in text


def _no_bars_error(
    ticker: str, reason: str | None, timeframe: str, start_ms: int, end_ms: int
) -> FeedError:
    what = f"Yahoo returned no {_span(timeframe, start_ms, end_ms)} for {ticker!r}"
    if reason is None:
        return SymbolNotFound(f"{what}: unknown or delisted ticker, or no trading in that range")
    kind = SymbolNotFound if _is_missing(reason) else FeedUnavailable
    return kind(f"{what}: {reason}")


def _poll_error(
    failed: dict[str, str | None], timeframe: str, start_ms: int, end_ms: int
) -> FeedError:
    details = "; ".join(f"{t}: {r or 'empty frame'}" for t, r in failed.items())
    kind = SymbolNotFound if all(_is_missing(r) for r in failed.values()) else FeedUnavailable
    return kind(f"Yahoo returned no {_span(timeframe, start_ms, end_ms)} for any of {details}")


def _map_exception(
    exc: Exception, tickers: Iterable[str], interval: str, start_ms: int, end_ms: int
) -> FeedError | None:
    """The FeedError for an exception of the download; None when it is not Yahoo's doing."""
    mro = type(exc).__mro__
    names = {cls.__name__ for cls in mro}
    packages = {cls.__module__.split(".")[0] for cls in mro}
    what = f"{', '.join(tickers)} ({interval} bars in [{_iso(start_ms)}, {_iso(end_ms)}))"
    if "YFTickerMissingError" in names:
        return SymbolNotFound(f"Yahoo has no data for {what}: {exc}")
    if (
        "yfinance" in packages
        or packages & {"curl_cffi", "requests", "urllib3"}
        or isinstance(exc, OSError)
    ):
        return FeedUnavailable(f"Yahoo did not deliver {what}: {type(exc).__name__}: {exc}")
    return None


def _windows(start_ms: int, stop_ms: int, size_ms: int | None) -> list[tuple[int, int]]:
    if stop_ms <= start_ms:
        return []
    if size_ms is None:
        return [(start_ms, stop_ms)]
    edges = [*range(start_ms, stop_ms, size_ms), stop_ms]
    return list(itertools.pairwise(edges))


def _ticker_frames(frame: pd.DataFrame, tickers: list[str]) -> dict[str, pd.DataFrame]:
    """Each ticker's rows (columns Open, High, ...), from flat or (Price, Ticker) columns.

    Among several tickers, yfinance aligns every ticker on the union of their times; the rows
    a ticker did not have (every price *and* the volume NaN; Yahoo's own empty rows have volume
    0) are removed here. A single ticker's rows are kept as they are, for the cleaning report.
    """
    empty = pd.DataFrame(columns=list(_OHLC))
    if frame.empty or len(frame.columns) == 0:
        return {t: empty for t in tickers}
    columns = frame.columns
    out: dict[str, pd.DataFrame] = {}
    if isinstance(columns, pd.MultiIndex):
        if columns.nlevels != 2:
            raise FeedError(f"unexpected Yahoo columns with {columns.nlevels} levels: {columns}")
        price_level = next(
            (i for i in (0, 1) if "Close" in set(map(str, columns.get_level_values(i)))), None
        )
        if price_level is None:
            raise FeedError(f"no Close column in the Yahoo frame: {list(columns)}")
        ticker_level = 1 - price_level
        present = {str(v).upper(): v for v in columns.get_level_values(ticker_level).unique()}
        for ticker in tickers:
            key = present.get(ticker.upper())
            out[ticker] = empty if key is None else frame.xs(key, axis=1, level=ticker_level)
    elif len(tickers) == 1:
        out[tickers[0]] = frame
    else:
        raise FeedError(
            f"the Yahoo frame for {tickers} has flat columns {list(columns)}; several tickers "
            "need (Price, Ticker) columns"
        )
    if len(tickers) > 1:
        for ticker, rows in out.items():
            present_cols = [c for c in (*_OHLC, "Volume") if c in rows.columns]
            if present_cols and len(rows):
                padding = rows[present_cols].isna().all(axis=1).to_numpy()
                out[ticker] = rows.loc[~padding]
    return out


def _utc_ms(index: pd.Index) -> np.ndarray:
    if not isinstance(index, pd.DatetimeIndex):
        raise FeedError(
            f"the Yahoo frame is indexed by {type(index).__name__}, expected a DatetimeIndex"
        )
    if index.tz is None:
        raise FeedError(
            "the Yahoo frame's index has no timezone, so its times cannot be placed in UTC "
            "(yfinance strips it from daily bars unless called with ignore_tz=False)"
        )
    return index.tz_convert("UTC").as_unit("ms").asi8.astype(np.int64)


def _column(rows: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _bars(rows: pd.DataFrame, symbol: str, *, adjusted: bool) -> pd.DataFrame:
    """One ticker's yfinance rows as bar columns (symbol, time_ms, open, ..., volume)."""
    missing = [c for c in _OHLC if c not in rows.columns]
    if missing:
        raise FeedError(
            f"the Yahoo frame for {symbol!r} lacks {missing}; it has {list(rows.columns)}"
        )
    o, h, lo, c = (_column(rows, name) for name in _OHLC)
    if adjusted and "Adj Close" in rows.columns:
        # Not adjusted by yfinance: the same scaling as its auto_adjust.
        adj_close = _column(rows, "Adj Close")
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = adj_close / c
        o, h, lo, c = o * ratio, h * ratio, lo * ratio, adj_close
    volume = (
        _column(rows, "Volume") if "Volume" in rows.columns else np.zeros(len(rows), np.float64)
    )
    return pd.DataFrame(
        {
            "symbol": object_column(symbol, len(rows)),
            "time_ms": _utc_ms(rows.index),
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume": volume,
        }
    )


def _empty_bars() -> pd.DataFrame:
    return pd.DataFrame({name: [] for name in _BAR_COLUMNS})
