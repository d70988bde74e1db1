"""Market data from crypto venues through ccxt's async API: :class:`CcxtFeed`.

:class:`CcxtFeed` implements :class:`~supreme.data.feed.Feed` over any exchange ccxt knows that
offers OHLCV candles (``exchange.has["fetchOHLCV"]``): Binance, Bybit, OKX, Kraken and so on.

- :meth:`CcxtFeed.history` pages through ``fetch_ohlcv(symbol, timeframe, since, limit)``:
  each page starts one timeframe after the last candle the previous page returned, and the
  download stops at ``end_ms`` (exclusive), at a page that comes back empty or does not move
  forward, or at the still-forming candle. Every page goes through
  :func:`~supreme.data.clean.clean_bars`; :attr:`CcxtFeed.last_report` adds up what cleaning did
  over the whole download (a gap across two pages is reported there too, but not filled).
- :meth:`CcxtFeed.stream` polls ``fetch_ohlcv`` every ``poll_interval_s`` and yields, once per
  poll, the candles of all symbols that closed since the last poll (the first poll yields the
  latest closed candle of each symbol). A symbol whose next candle cannot have closed yet is
  not asked.
- Where the venue offers candles over websockets (ccxt.pro's ``has["watchOHLCV"]``),
  :meth:`CcxtFeed.stream` listens instead (``live="auto"``, the default; ``live="watch"``
  requires it, ``live="poll"`` always polls). One task per symbol loops ``watch_ohlcv`` on a
  ccxt.pro exchange of the same venue (made by the feed with the same config, or passed in as
  ``pro=``); the REST exchange still serves markets, history and the first batch (the latest
  closed candle of each symbol, as when polling). A candle is yielded once it is closed: a newer
  candle of its symbol has arrived, or the clock below says so and a short settling time
  (``min(2 s, timeframe / 2)``, for the venue's final update of the candle to arrive) has
  passed. Each candle comes out once, with its last values, cleaned like a polled one; symbols
  whose candles close together share a batch. Stopping the iteration cancels the tasks.

**The forming candle.** Venues return the current candle while it is still forming, with
values that will change. A candle is closed when its open time plus the timeframe is at or
before the venue's current time, read as ``exchange.milliseconds()`` less ccxt's
``options["timeDifference"]`` (set it with ``options={"adjustForTimeDifference": True}`` when
the local clock may be off). A candle that has not closed is never yielded.

**Retries.** ccxt's ``NetworkError`` family (``RequestTimeout``, ``ExchangeNotAvailable``, which
includes HTTP 5xx and dropped connections, ``DDoSProtection``, which is how ccxt reports
Binance's HTTP 429 and 418, and ``RateLimitExceeded``), from a request or from a websocket
watch, is retried up to ``max_retries`` times, waiting ``backoff_s * 2**attempt`` seconds (at
most ``max_backoff_s``), or longer when a rate limit answer carries a ``Retry-After`` header.
When ``Retry-After`` asks for more than ``max_backoff_s`` (an IP ban), or the retries run out,
:class:`FeedUnavailable` is raised, naming the venue, the symbol, what failed and the last
error. ``BadSymbol`` becomes :class:`SymbolNotFound`; any other ccxt error (``ExchangeError``:
a bad parameter, a permission problem, ...) is raised at once as :class:`FeedError` with the
venue's message. Between requests the exchange's own rate limiter paces the feed
(``enableRateLimit``, on by default).
Messages never include the exchange's configuration, and any credential the exchange holds is
masked if a venue echoes it.

**Against a real venue**::

    import asyncio
    from supreme.data.ccxt_feed import CcxtFeed

    async def main():
        async with CcxtFeed("binance") as feed:  # public data needs no API key
            async for bars in feed.history("BTC/USDT", "1h", 1_704_067_200_000, 1_704_672_000_000):
                print(len(bars), bars.time_ms[0], bars.close[-1])
            print(feed.last_report.summary())

    asyncio.run(main())

Symbols are ccxt's unified ones (``"BTC/USDT"``, ``"BTC/USDT:USDT"`` for a perpetual).
``sandbox=True`` switches to the venue's testnet where ccxt knows one; ``config`` reaches the
ccxt constructor (``{"options": {"defaultType": "swap"}}``, proxies, keys for private data).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import numpy as np
from ccxt.base.errors import (
    BadSymbol,
    BaseError,
    DDoSProtection,
    NetworkError,
    RateLimitExceeded,
)

from supreme.core.errors import InvalidArgument
from supreme.core.model import BarBatch
from supreme.data.clean import CleanPolicy, CleanReport, Gap, clean_bars
from supreme.data.feed import (
    TIMEFRAMES,
    FeedError,
    FeedUnavailable,
    SymbolNotFound,
    timeframe_ms,
)
from supreme.logs import register_secret

__all__ = ["CcxtFeed"]

T = TypeVar("T")

_MIN_POLL_S = 0.05
_MAX_POLL_S = 15.0
_MAX_MESSAGE = 500  # characters of a venue's error kept in our messages
_FIRST_POLL_BACK = 3  # the first poll asks from this many timeframes back
_WS_SETTLE_MS = 2_000  # a watched candle closed only by the clock waits this long for its final
_LIVE = ("auto", "watch", "poll")
_SECRETS = ("apiKey", "secret", "password", "uid", "privateKey", "walletAddress", "token")


class CcxtFeed:
    """A :class:`~supreme.data.feed.Feed` over a ccxt async exchange; see the module docstring.

    ``exchange`` is a ccxt exchange id (``"binance"``, ``"bybit"``, ``"okx"``...), which the
    feed creates with ``{"enableRateLimit": True, **config}`` and closes in :meth:`close`, or a
    ready ``ccxt.async_support`` exchange instance, which stays the caller's: the feed uses it
    but never closes it (``config`` must then be left out).

    ``live`` picks how :meth:`stream` follows the venue: ``"auto"`` (websockets where ccxt.pro
    offers ``watchOHLCV``, else polling), ``"watch"`` (websockets or :class:`FeedError`) or
    ``"poll"``. The websocket exchange is ``pro``, a ready ``ccxt.pro`` instance of the same venue
    that stays the caller's; otherwise, for an exchange id, one the feed creates with the same
    config and closes in :meth:`close`; otherwise ``exchange`` itself when it is a ccxt.pro
    instance.

    :attr:`last_report` is the cleaning report of the latest :meth:`history` download or
    :meth:`stream`, cumulative over its pages; one feed should run one download at a time if
    that report matters.
    """

    def __init__(
        self,
        exchange: str | ccxt_async.Exchange,
        *,
        config: dict[str, Any] | None = None,
        sandbox: bool = False,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        poll_interval_s: float | None = None,
        page_limit: int = 1000,
        policy: CleanPolicy | None = None,
        max_backoff_s: float = 30.0,
        live: str = "auto",
        pro: ccxt_pro.Exchange | None = None,
    ) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidArgument(f"max_retries must be an integer >= 0, got {max_retries!r}")
        if not _is_number(backoff_s) or backoff_s < 0:
            raise InvalidArgument(f"backoff_s must be a number >= 0, got {backoff_s!r}")
        if not _is_number(max_backoff_s) or max_backoff_s < 0:
            raise InvalidArgument(f"max_backoff_s must be a number >= 0, got {max_backoff_s!r}")
        if poll_interval_s is not None and (
            not _is_number(poll_interval_s) or poll_interval_s <= 0
        ):
            raise InvalidArgument(f"poll_interval_s must be a number > 0, got {poll_interval_s!r}")
        if isinstance(page_limit, bool) or not isinstance(page_limit, int) or page_limit < 1:
            raise InvalidArgument(f"page_limit must be an integer >= 1, got {page_limit!r}")
        if policy is not None and not isinstance(policy, CleanPolicy):
            raise InvalidArgument(f"policy must be a CleanPolicy, got {type(policy).__name__}")
        if live not in _LIVE:
            raise InvalidArgument(f"live must be one of {', '.join(_LIVE)}, got {live!r}")
        if pro is not None and not isinstance(pro, ccxt_pro.Exchange):
            raise InvalidArgument(f"pro must be a ccxt.pro exchange, got {type(pro).__name__}")

        for field in ("apiKey", "secret", "password", "uid", "privateKey"):
            register_secret((config or {}).get(field))  # never in a log line
        if isinstance(exchange, str):
            self._exchange = _exchange_class(exchange)({"enableRateLimit": True, **(config or {})})
            self._owns_exchange = True
        elif isinstance(exchange, ccxt_async.Exchange):
            if config:
                raise InvalidArgument(
                    "config applies only to an exchange the feed creates from an id; "
                    "configure the instance you pass instead"
                )
            self._exchange = exchange
            self._owns_exchange = False
        else:
            raise InvalidArgument(
                "exchange must be a ccxt exchange id such as 'binance' or a ccxt.async_support "
                f"exchange instance, got {type(exchange).__name__}"
            )
        self.name = f"ccxt:{self._exchange.id}"
        if sandbox:
            try:
                self._exchange.set_sandbox_mode(True)
            except ccxt.NotSupported:
                raise InvalidArgument(f"{self.name} has no sandbox (testnet) in ccxt") from None
        if not self._exchange.has.get("fetchOHLCV"):
            raise FeedError(f"{self.name} does not offer OHLCV candles (has['fetchOHLCV'] is off)")

        self.live = live
        self._pro: ccxt_pro.Exchange | None = None
        self._owns_pro = False
        if live != "poll":
            if pro is not None:
                if pro.id != self._exchange.id:
                    raise InvalidArgument(
                        f"pro must be the same venue as the exchange ({self._exchange.id}), "
                        f"got {pro.id}"
                    )
                self._pro = pro
            elif isinstance(exchange, str):
                if exchange in ccxt_pro.exchanges:
                    settings = {"enableRateLimit": True, **(config or {})}
                    self._pro = getattr(ccxt_pro, exchange)(settings)
                    self._owns_pro = True
                    if sandbox:
                        self._pro.set_sandbox_mode(True)
            elif isinstance(exchange, ccxt_pro.Exchange):
                self._pro = exchange
        if live == "watch" and not self.watches:
            raise FeedError(
                f"{self.name} does not offer OHLCV over websockets (ccxt.pro has['watchOHLCV'] "
                "is off or ccxt.pro does not know the venue); use live='poll'"
            )

        self.max_retries = max_retries
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.poll_interval_s = poll_interval_s
        self.page_limit = page_limit
        self.policy = policy
        self.last_report = CleanReport()
        self._markets_loaded = False
        self._markets_lock = asyncio.Lock()
        self._closed = False

    @property
    def exchange(self) -> ccxt_async.Exchange:
        """The ccxt exchange the feed talks to."""
        return self._exchange

    async def __aenter__(self) -> CcxtFeed:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def pro(self) -> ccxt_pro.Exchange | None:
        """The ccxt.pro exchange :meth:`stream` watches, if any."""
        return self._pro

    @property
    def watches(self) -> bool:
        """Whether :meth:`stream` listens over websockets rather than polling."""
        return (
            self.live != "poll" and self._pro is not None and bool(self._pro.has.get("watchOHLCV"))
        )

    async def close(self) -> None:
        """Close the exchanges' connections that the feed created (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._owns_pro and self._pro is not None:
                await self._pro.close()
        finally:
            if self._owns_exchange:
                await self._exchange.close()

    # -- history ---------------------------------------------------------------------------------

    async def history(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int
    ) -> AsyncIterator[BarBatch]:
        """Closed bars of ``symbol`` opening in ``[start_ms, end_ms)``, oldest first, a cleaned
        page at a time (empty pages are not yielded)."""
        step = self._step(timeframe)
        for name, value in (("start_ms", start_ms), ("end_ms", end_ms)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise InvalidArgument(f"{name} must be an integer of UTC ms >= 0, got {value!r}")
        policy = self._policy(step)
        report = self.last_report = CleanReport()
        await self._require_symbol(symbol)
        since, previous = int(start_ms), None
        while since < end_ms:
            now = self._now()
            if since + step > now:
                break  # no candle opening at or after `since` has closed yet
            limit = min(self.page_limit, -(-(end_ms - since) // step))
            rows = await self._fetch(symbol, timeframe, since, limit, "fetching candles")
            if not rows:
                break
            times = [_time(row) for row in rows]
            keep = [
                row
                for row, t in zip(rows, times, strict=True)
                if t < 0 or (since <= t < end_ms and t + step <= now)
            ]
            if keep:
                rows_of = [(symbol, row) for row in keep]
                batch, newest = _clean_into(report, policy, rows_of, step, {symbol: previous})
                previous = newest.get(symbol, previous)
                if len(batch):
                    yield batch
            last_open = max(times)
            if last_open < since or last_open + step > now:
                break  # the page did not move forward, or it reached the forming candle
            since = last_open + step

    # -- stream ----------------------------------------------------------------------------------

    async def stream(self, symbols: Sequence[str], timeframe: str) -> AsyncIterator[BarBatch]:
        """Candles of ``symbols`` as they close: one batch per poll that found any (or, over
        websockets, per moment candles closed), ordered by time then symbol. Runs until the
        caller stops iterating; raises :class:`FeedUnavailable` when a poll or a watch still
        fails after the retries."""
        step = self._step(timeframe)
        names = [symbols] if isinstance(symbols, str) else list(dict.fromkeys(symbols))
        if not names:
            raise InvalidArgument("stream needs at least one symbol")
        policy = self._policy(step)
        report = self.last_report = CleanReport()
        for name in names:
            await self._require_symbol(name)
        interval = self.poll_interval_s
        if interval is None:
            interval = max(_MIN_POLL_S, min(step / 4_000, _MAX_POLL_S))
        if self.watches:
            watching = self._watch(names, timeframe, step, interval, policy, report)
            try:
                async for batch in watching:
                    yield batch
            finally:
                await watching.aclose()
            return
        last: dict[str, int | None] = dict.fromkeys(names)
        while True:
            rows = await self._poll_all(names, timeframe, step, last)
            if rows:
                batch, newest = _clean_into(report, policy, rows, step, last)
                last.update(newest)
                if len(batch):
                    yield batch
            await asyncio.sleep(interval)

    async def _poll_all(
        self, names: list[str], timeframe: str, step: int, last: dict[str, int | None]
    ) -> list[tuple[str, Sequence[Any]]]:
        """One poll of every symbol at once: ``(symbol, candle)`` rows newer than ``last``."""
        now = self._now()
        polls = [self._poll(name, timeframe, step, now, last[name]) for name in names]
        results = await asyncio.gather(*polls, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [(name, row) for name, got in zip(names, results, strict=True) for row in got]

    async def _poll(
        self, symbol: str, timeframe: str, step: int, now: int, last_open: int | None
    ) -> list[list[Any]]:
        """The candles of ``symbol`` that closed after ``last_open`` (the latest closed one on
        the first poll), oldest first."""
        if last_open is None:
            since, limit = max(0, now - _FIRST_POLL_BACK * step), _FIRST_POLL_BACK + 2
        else:
            since, limit = last_open + step, self.page_limit
            if since + step > now:
                return []  # the next candle cannot have closed: nothing to ask
        rows = await self._fetch(symbol, timeframe, since, limit, "polling candles")
        closed = [row for row in rows if since <= _time(row) and _time(row) + step <= now]
        closed.sort(key=_time)
        return closed[-1:] if last_open is None else closed

    async def _watch(
        self,
        names: list[str],
        timeframe: str,
        step: int,
        interval: float,
        policy: CleanPolicy,
        report: CleanReport,
    ) -> AsyncIterator[BarBatch]:
        """The websocket side of :meth:`stream`: a ``watch_ohlcv`` task per symbol feeds
        ``pending`` (each symbol's candles not yet yielded, by open time, latest values); this
        loop yields those that closed, waking on news or every ``interval`` for the clock."""
        pro = self._pro
        assert pro is not None
        if pro.markets is None and self._exchange.markets:
            pro.set_markets(self._exchange.markets, self._exchange.currencies)
        settle = min(_WS_SETTLE_MS, step // 2)
        last: dict[str, int | None] = dict.fromkeys(names)
        pending: dict[str, dict[int, list[Any]]] = {name: {} for name in names}
        failed: list[Exception] = []
        news = asyncio.Event()

        async def watch(symbol: str) -> None:
            def call() -> Awaitable[list[list[Any]]]:
                return pro.watch_ohlcv(symbol, timeframe)

            try:
                while True:
                    rows = await self._call(f"watching candles ({timeframe})", symbol, call)
                    for row in rows or []:
                        if isinstance(row, list | tuple) and row:
                            pending[symbol][_time(row)] = list(row)  # ccxt updates rows in place
                    news.set()
            except Exception as err:  # handed to the consumer; cancellation is not caught
                failed.append(err)
                news.set()

        tasks = [
            asyncio.create_task(watch(name), name=f"{self.name} watch {name} {timeframe}")
            for name in names
        ]
        try:
            # The first batch: the latest closed candles, as when polling.
            rows = await self._poll_all(names, timeframe, step, dict.fromkeys(names))
            while True:
                if rows:
                    batch, newest = _clean_into(report, policy, rows, step, last)
                    last.update(newest)
                    if len(batch):
                        yield batch
                if failed:
                    raise failed[0]
                news.clear()
                rows = self._closed_rows(pending, last, step, settle)
                if not rows:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(news.wait(), interval)
                    rows = self._closed_rows(pending, last, step, settle)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _closed_rows(
        self,
        pending: dict[str, dict[int, list[Any]]],
        last: dict[str, int | None],
        step: int,
        settle: int,
    ) -> list[tuple[str, list[Any]]]:
        """Take out of ``pending`` the candles that closed, oldest first; drop those at or
        before the symbol's ``last`` yielded one."""
        now = self._now()
        rows: list[tuple[str, list[Any]]] = []
        for symbol, candles in pending.items():
            floor = last.get(symbol)
            if floor is not None:
                for t in [t for t in candles if t <= floor]:
                    del candles[t]
            if not candles:
                continue
            newest = max(candles)
            for t in sorted(candles):
                if t < newest or t + step + settle <= now:
                    rows.append((symbol, candles.pop(t)))
        return rows

    # -- shared ----------------------------------------------------------------------------------

    def _step(self, timeframe: str) -> int:
        step = timeframe_ms(timeframe)
        offered = self._exchange.timeframes
        if offered and timeframe not in offered:
            choice = ", ".join(t for t in TIMEFRAMES if t in offered) or "none of ours"
            raise InvalidArgument(
                f"{self.name} does not offer {timeframe!r} candles; it offers {choice}"
            )
        return step

    def _policy(self, step: int) -> CleanPolicy:
        return self.policy if self.policy is not None else CleanPolicy(timeframe_ms=step)

    def _now(self) -> int:
        """The venue's time as ccxt sees it: the local clock less the known time difference."""
        difference = self._exchange.options.get("timeDifference") or 0
        return int(self._exchange.milliseconds()) - int(difference)

    async def _require_symbol(self, symbol: str) -> None:
        if not isinstance(symbol, str) or not symbol:
            raise InvalidArgument(f"symbol must be a non-empty string, got {symbol!r}")
        async with self._markets_lock:
            if not self._markets_loaded:
                await self._call("loading markets", None, self._exchange.load_markets)
                self._markets_loaded = True
        markets = self._exchange.markets or {}
        if symbol in markets:
            return
        by_id = self._exchange.markets_by_id or {}
        if by_id.get(symbol):
            hint = f"; ccxt names it {by_id[symbol][0]['symbol']!r}"
        else:
            close = difflib.get_close_matches(symbol, list(markets), n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise SymbolNotFound(f"{self.name} does not list {symbol!r}{hint}")

    async def _fetch(
        self, symbol: str, timeframe: str, since: int, limit: int, what: str
    ) -> list[list[Any]]:
        def call() -> Awaitable[list[list[Any]]]:
            return self._exchange.fetch_ohlcv(symbol, timeframe, since, limit)

        rows = await self._call(f"{what} ({timeframe} from {since})", symbol, call)
        return [row for row in rows or [] if isinstance(row, list | tuple) and row]

    async def _call(self, what: str, symbol: str | None, call: Callable[[], Awaitable[T]]) -> T:
        """``call()`` with the feed's retry rules and error mapping."""
        subject = "" if symbol is None else f" for {symbol!r}"
        attempt = 0
        while True:
            try:
                return await call()
            except BadSymbol as err:
                raise SymbolNotFound(
                    f"{self.name} does not know {symbol!r}: {self._say(err)}"
                ) from err
            except NetworkError as err:
                wait, asked = self._backoff(attempt, err)
                if wait is None:
                    raise FeedUnavailable(
                        f"{self.name}: {what}{subject} failed: the venue asks to wait {asked:g} s "
                        f"(Retry-After), more than max_backoff_s={self.max_backoff_s:g}; "
                        f"last error: {type(err).__name__}: {self._say(err)}"
                    ) from err
                if attempt >= self.max_retries:
                    raise FeedUnavailable(
                        f"{self.name}: {what}{subject} failed after {attempt + 1} attempt(s); "
                        f"last error: {type(err).__name__}: {self._say(err)}"
                    ) from err
                attempt += 1
                await asyncio.sleep(wait)
            except BaseError as err:  # ExchangeError and the rest: retrying will not help
                raise FeedError(
                    f"{self.name}: {what}{subject} failed: {type(err).__name__}: {self._say(err)}"
                ) from err

    def _backoff(self, attempt: int, err: NetworkError) -> tuple[float | None, float]:
        """Seconds to wait before the next attempt (None: do not retry) and the Retry-After."""
        wait = min(self.backoff_s * 2**attempt, self.max_backoff_s)
        asked = 0.0
        if isinstance(err, DDoSProtection | RateLimitExceeded):
            asked = self._retry_after()
            if asked > self.max_backoff_s:
                return None, asked
            wait = max(wait, asked)
        return wait, asked

    def _retry_after(self) -> float:
        """The ``Retry-After`` of the answer that raised, from the headers ccxt keeps of the
        exchange's last answer (best effort: with requests in flight for several symbols, it
        may be another's); 0 when absent or not a number of seconds."""
        headers = getattr(self._exchange, "last_response_headers", None) or {}
        for name, value in headers.items():
            if str(name).lower() == "retry-after":
                try:
                    seconds = float(value)
                except (TypeError, ValueError):
                    return 0.0
                return seconds if math.isfinite(seconds) and seconds > 0 else 0.0
        return 0.0

    def _say(self, err: BaseException) -> str:
        """The error's text, with any credential masked and long bodies cut."""
        text = str(err)
        for attr in _SECRETS:
            value = getattr(self._exchange, attr, None)
            if isinstance(value, str) and len(value) >= 4:
                text = text.replace(value, "***")
        return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _exchange_class(exchange_id: str) -> type[ccxt_async.Exchange]:
    if exchange_id not in ccxt_async.exchanges:
        close = difflib.get_close_matches(exchange_id.lower(), ccxt_async.exchanges, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see ccxt.exchanges"
        raise InvalidArgument(
            f"unknown exchange id {exchange_id!r}: ccxt {ccxt.__version__} has no such "
            f"exchange{hint}"
        )
    return getattr(ccxt_async, exchange_id)


def _clean_into(
    report: CleanReport,
    policy: CleanPolicy,
    rows: list[tuple[str, Sequence[Any]]],
    step: int,
    previous: dict[str, int | None],
) -> tuple[BarBatch, dict[str, int]]:
    """Clean ``rows`` (symbol, ccxt candle) and add what it took to ``report``, with the gap, if
    any, between each symbol's ``previous`` candle and its first one here; returns the clean
    bars and each symbol's newest candle time among ``rows`` (kept or not)."""
    batch, page = clean_bars(_raw_batch(rows), policy)
    report.merge(page)
    newest: dict[str, int] = {}
    for symbol, row in rows:
        t = _time(row)
        if t > newest.get(symbol, -1):
            newest[symbol] = t
    for symbol, before in previous.items():
        kept = batch.time_ms[batch.symbol == symbol]
        if before is None or not len(kept):
            continue
        after = int(kept.min())
        missing = (after - before - 1) // step
        if after - before > step and missing >= 1:
            gap = Gap(symbol, before, after, missing)
            report.merge(CleanReport(gaps=[gap], gap_count=1, missing_bars=missing))
    return batch, newest


def _time(row: Sequence[Any]) -> int:
    """A ccxt candle's open time; -1 when missing or not a number (cleaning drops the row)."""
    value = row[0] if row else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return -1
    return int(value)


def _raw_batch(rows: list[tuple[str, Sequence[Any]]]) -> BarBatch:
    """Unvalidated bars from (symbol, ccxt candle) rows: ``[time, open, high, low, close,
    volume]``, a missing value as NaN for cleaning to judge."""

    def column(i: int) -> np.ndarray:
        values = [row[i] if len(row) > i else None for _, row in rows]
        return np.array([v if _is_number(v) else None for v in values], dtype=np.float64)

    return BarBatch(
        [symbol for symbol, _ in rows],
        np.array([_time(row) for _, row in rows], dtype=np.int64),
        column(1),
        column(2),
        column(3),
        column(4),
        column(5),
        validate=False,
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
