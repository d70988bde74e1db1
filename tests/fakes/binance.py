"""A faithful fake of Binance spot's public REST API, served on loopback, for tests.

:class:`FakeBinance` runs a ``ThreadingHTTPServer`` on ``127.0.0.1`` (a free port) in a daemon
thread and answers the way ``api.binance.com`` does, in the same JSON shapes:

- ``GET /api/v3/ping``: ``{}``;
- ``GET /api/v3/time``: ``{"serverTime": ms}``;
- ``GET /api/v3/exchangeInfo`` (optionally ``symbol`` or ``symbols``): ``timezone``,
  ``serverTime``, ``rateLimits``, ``exchangeFilters`` and one ``symbols`` entry per listed
  symbol (status, assets, precisions, order types, permissions/permissionSets, filters:
  PRICE_FILTER, LOT_SIZE, NOTIONAL and the rest);
- ``GET /api/v3/klines`` (``symbol``, ``interval``, ``startTime``, ``endTime``, ``limit``:
  default 500, at most 1000, capped here; ccxt never asks for more): a list of 12-element
  arrays ``[openTime, "open", "high", "low", "close", "volume", closeTime, "quoteVolume",
  trades, "takerBuyBase", "takerBuyQuote", "0"]``, numbers as strings with 8 decimals. With
  ``startTime``, the first ``limit`` candles opening at or after it; otherwise the last
  ``limit`` opening at or before ``endTime`` (or now).

Errors are Binance's: HTTP 400 with ``{"code": -1121, "msg": "Invalid symbol."}`` for an unknown
symbol, -1120 for an unknown interval, -1100 for a malformed number, -1102 for a missing
parameter, -1023 when ``startTime > endTime``; 404 for a path Binance does not serve.

Candles lie on Binance's grid (aligned to the Unix epoch, weekly candles to Mondays) and
come from a deterministic price path: each symbol's price is a function of the interval and the
candle's index, so the same request always gets the same answer and a test can compute what it
should have received (:meth:`FakeBinance.candles`). As on Binance, the candle that is still
forming by the fake's clock (:attr:`FakeBinance.now_ms`, real time when ``None``) is served too,
with partial values; candles after it do not exist yet, nor do candles before the symbol was
listed or inside an ``outage`` (a window in which the venue recorded nothing, as during an
exchange-wide maintenance).

Tests script faults on the klines endpoint, counted from the next klines request:
:meth:`~FakeBinance.rate_limit` (HTTP 429 with ``Retry-After``), :meth:`~FakeBinance.ban`
(HTTP 418, Binance's IP ban), :meth:`~FakeBinance.reject` (HTTP 400 with any Binance error
code) and :meth:`~FakeBinance.drop` (the socket is closed without a response: a network drop
mid-download). Every request is logged (:attr:`FakeBinance.requests`).

:func:`binance_exchange` builds a ``ccxt.async_support.binance`` that talks only to the fake
and reads the fake's clock.

:class:`FakeBinanceStream` fakes the kline websocket stream (``<symbol>@kline_<interval>``) for
ccxt.pro, with :func:`binance_pro_exchange` to build a ``ccxt.pro.binance`` pointed at both.

The signed spot trading API (``/api/v3/account``, ``/api/v3/order`` POST/GET/DELETE,
``/api/v3/openOrders``, ``/api/v3/myTrades``) keeps one account: balances with locks, MARKET,
LIMIT, STOP_LOSS and STOP_LOSS_LIMIT orders worked against the price path, and scripted faults
(:meth:`~FakeBinance.drop_next`, :meth:`~FakeBinance.reject_next`,
:meth:`~FakeBinance.unavailable_next`, :meth:`~FakeBinance.delay_next`). Every order change is
also a user-data event (``executionReport`` then ``outboundAccountPosition``), which
:class:`FakeBinanceStream` pushes over its WebSocket API (``userDataStream.subscribe.signature``)
to ccxt.pro's ``watch_orders``/``watch_my_trades``/``watch_balance``
(:func:`binance_pro_trading_exchange`).

Not modelled: the ``1M`` interval (calendar months), ``timeZone``, weight-based throttling (the
fake only reports ``x-mbx-used-weight``), derivatives, the other private endpoints and order
types (LIMIT_MAKER, TAKE_PROFIT*, OCO, trailing stops), the WebSocket API's trading methods,
listen keys, and every market-data stream but spot klines (no combined ``/stream?streams=``, no
ping schedule). A stop's trigger itself sends no event (Binance's trigger is visible only in
``isWorking``/``workingTime`` and in the fills that follow).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "DEFAULT_SYMBOLS",
    "INTERVALS",
    "FakeBinance",
    "FakeBinanceStream",
    "FakeOrder",
    "FakeTrade",
    "Request",
    "SymbolSpec",
    "binance_config",
    "binance_exchange",
    "binance_pro_config",
    "binance_pro_exchange",
    "binance_pro_trading_exchange",
    "binance_trading_exchange",
]

# Binance's spot kline intervals of fixed length, in ms ("1M", calendar months, is not served).
INTERVALS: dict[str, int] = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}
_WEEK_ORIGIN_MS = 4 * 86_400_000  # Monday 1970-01-05 00:00 UTC: weekly candles open on Mondays
_MAX_LIMIT = 1000
_DEFAULT_LIMIT = 500
_MASK64 = (1 << 64) - 1
_KLINES = "/api/v3/klines"
_WEIGHTS = {"/api/v3/ping": 1, "/api/v3/time": 1, "/api/v3/exchangeInfo": 20, _KLINES: 2}
_ORDER_TYPES = [
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
]


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One spot market of the fake: its Binance id, assets, price level and filters."""

    symbol: str
    base: str
    quote: str
    price: float  # the level the price path moves around
    tick: str  # PRICE_FILTER tickSize
    step: str  # LOT_SIZE stepSize
    min_notional: str
    listed_ms: int = 0  # no candle opens before this

    @property
    def price_decimals(self) -> int:
        return _decimals(self.tick)

    @property
    def qty_decimals(self) -> int:
        return _decimals(self.step)


DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("BTCUSDT", "BTC", "USDT", 42_000.0, "0.01", "0.00001", "5", 1_502_942_400_000),
    SymbolSpec("ETHUSDT", "ETH", "USDT", 2_300.0, "0.01", "0.0001", "5", 1_502_942_400_000),
    SymbolSpec("ETHBTC", "ETH", "BTC", 0.055, "0.00001", "0.0001", "0.0001", 1_500_004_800_000),
)


@dataclass(frozen=True, slots=True)
class Request:
    """One request the fake received, in arrival order."""

    path: str
    params: dict[str, str]
    status: int | None  # None: the connection was dropped without an answer
    at_ms: int  # the fake's clock when it arrived
    rows: int | None = None  # klines answered

    @property
    def start_time(self) -> int | None:
        value = self.params.get("startTime")
        return int(value) if value is not None and value.isdigit() else None


@dataclass(frozen=True, slots=True)
class _Fault:
    status: int | None  # None: drop the connection
    body: Any = None
    retry_after: int | None = None
    process: bool = False  # private endpoints: carry the request out before the fault
    delay: float = 0.0  # private endpoints: carry the request out, answer after this many s
    release: threading.Event | None = None  # ...or as soon as this is set


@dataclass(frozen=True, slots=True)
class _Raw:
    """A non-JSON body (a gateway's error page)."""

    text: str


_PRIVATE = frozenset({"/api/v3/account", "/api/v3/order", "/api/v3/openOrders", "/api/v3/myTrades"})
_ZERO = Decimal(0)


@dataclass(slots=True)
class FakeOrder:
    """One order of the fake's account (``status`` is Binance's: NEW, PARTIALLY_FILLED, FILLED,
    CANCELED, EXPIRED)."""

    symbol: str
    order_id: int
    client_order_id: str
    side: str  # BUY / SELL
    type: str  # MARKET / LIMIT / STOP_LOSS / STOP_LOSS_LIMIT
    time_in_force: str
    price: Decimal  # 0 for MARKET
    orig_qty: Decimal
    time: int
    update_time: int
    locked: Decimal = _ZERO  # what it still holds locked (quote with fees for buys, base for sells)
    orig_quote_qty: Decimal = _ZERO
    executed_qty: Decimal = _ZERO
    cum_quote: Decimal = _ZERO
    status: str = "NEW"
    next_index: int = 0  # the first trade_interval candle that may fill (or trigger) it
    stop_price: Decimal = _ZERO  # STOP_LOSS / STOP_LOSS_LIMIT: the trigger; 0 for the others
    working_time: int = 0  # when it went on the book; -1 while a stop waits for its trigger
    used: dict[int, Decimal] = field(default_factory=dict)  # candle index -> filled in it

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def is_working(self) -> bool:
        """On the book: false for a stop order until its stop price is reached."""
        return self.working_time >= 0


@dataclass(frozen=True, slots=True)
class FakeTrade:
    """One fill of the fake's account."""

    symbol: str
    trade_id: int
    order_id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool


class FakeBinance:
    """Binance spot's public REST API on ``127.0.0.1``; see the module docstring.

    ``with FakeBinance() as fake: ...`` or ``fake = FakeBinance(); ...; fake.stop()``.
    """

    def __init__(
        self,
        symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS,
        *,
        now_ms: int | None = None,
        outages: list[tuple[int, int]] | None = None,
        api_key: str = "fake-api-key",
        secret: str = "fake-secret",
        max_fill_per_candle: float | str | None = None,
        trade_interval: str = "1m",
        fee: str = "0.001",
        strict_client_ids: bool = False,
    ) -> None:
        self.api_key, self.secret = api_key, secret
        self.max_fill_per_candle = max_fill_per_candle  # base qty per order and candle; None: all
        self.trade_interval = trade_interval  # the candles orders fill against
        self.fee = Decimal(fee)  # commission rate, charged in the quote asset
        self.strict_client_ids = strict_client_ids  # True: a clientOrderId is never reusable
        self._free: dict[str, Decimal] = {}
        self._locked: dict[str, Decimal] = {}
        self._orders: dict[int, FakeOrder] = {}
        self._trades: list[FakeTrade] = []
        self._next_order_id = 1_000_001
        self._next_trade_id = 5_000_001
        self._account_time = 0
        self._pfaults: list[tuple[str, str | None, _Fault]] = []
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._events: list[dict[str, Any]] = []  # user-data events, in order
        self._event_seq = 0
        self.symbols: dict[str, SymbolSpec] = {s.symbol: s for s in symbols}
        self.now_ms = now_ms  # the fake's clock; None: real time
        self.outages: list[tuple[int, int]] = list(outages or [])  # [start, end) without candles
        self._delisted: set[str] = set()
        self._lock = threading.Lock()
        self._log: list[Request] = []
        self._klines_seen = 0
        self._faults: dict[int, _Fault] = {}  # klines request number -> fault
        self._weight_minute = -1
        self._weight = 0

        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> FakeBinance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    # -- clock -----------------------------------------------------------------------------------

    def clock_ms(self) -> int:
        """The fake's current time: ``now_ms``, or real time when it is ``None``."""
        now = self.now_ms
        return time.time_ns() // 1_000_000 if now is None else now

    def advance(self, ms: int) -> int:
        """Move the (fixed) clock forward by ``ms``; returns the new time."""
        self.now_ms = self.clock_ms() + ms
        return self.now_ms

    # -- scripted faults -------------------------------------------------------------------------

    def rate_limit(self, count: int = 1, *, at: int = 1, retry_after: int = 0) -> None:
        """Answer ``count`` klines requests, from the ``at``-th next one, with HTTP 429."""
        body = {
            "code": -1003,
            "msg": "Too much request weight used; current limit is 6000 request weight per 1 "
            "MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
        }
        self._schedule(_Fault(429, body, retry_after), count, at)

    def ban(self, count: int = 1, *, at: int = 1, retry_after: int = 0) -> None:
        """Answer ``count`` klines requests, from the ``at``-th next one, with HTTP 418."""
        until = self.clock_ms() + retry_after * 1000
        body = {
            "code": -1003,
            "msg": f"Way too much request weight used; IP banned until {until}. Please use "
            "WebSocket Streams for live updates to avoid bans.",
        }
        self._schedule(_Fault(418, body, retry_after), count, at)

    def reject(
        self, code: int, msg: str, *, count: int = 1, at: int = 1, status: int = 400
    ) -> None:
        """Answer ``count`` klines requests, from the ``at``-th next one, with a Binance error."""
        self._schedule(_Fault(status, {"code": code, "msg": msg}), count, at)

    def drop(self, count: int = 1, *, at: int = 1) -> None:
        """Close the connection without answering ``count`` klines requests, from the ``at``-th
        next one (a network drop mid-download)."""
        self._schedule(_Fault(None), count, at)

    def delist(self, symbol: str) -> None:
        """Forget ``symbol``: klines answer -1121 and exchangeInfo no longer lists it."""
        self._delisted.add(symbol)

    def _schedule(self, fault: _Fault, count: int, at: int) -> None:
        if count < 0 or at < 1:
            raise ValueError("count must be >= 0 and at >= 1")
        with self._lock:
            first = self._klines_seen + at
            for n in range(first, first + count):
                self._faults[n] = fault

    # -- what was asked --------------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """Every request so far, in arrival order."""
        with self._lock:
            return list(self._log)

    def klines_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == _KLINES]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    # -- the price path --------------------------------------------------------------------------

    def candles(
        self,
        symbol: str,
        interval: str,
        start_ms: int,
        end_ms: int,
        *,
        closed_only: bool = False,
        now_ms: int | None = None,
    ) -> list[list[Any]]:
        """The candles (Binance's 12-element rows) opening in ``[start_ms, end_ms)`` that exist
        at ``now_ms`` (default: the fake's clock), the forming one included unless
        ``closed_only``: exactly what the klines endpoint serves for that range."""
        spec = self.symbols[symbol]
        step, origin = INTERVALS[interval], _origin(interval)
        now = self.clock_ms() if now_ms is None else now_ms
        rows = []
        for index in self._indices_up(spec, interval, _ceil_index(start_ms, step, origin), now):
            open_ms = origin + index * step
            if open_ms >= end_ms:
                break
            if closed_only and open_ms + step > now:
                break
            rows.append(self._row(spec, interval, index, now))
        return rows

    def _indices_up(self, spec: SymbolSpec, interval: str, first: int, now: int):
        """Candle indices from ``first`` upward that exist by ``now``, skipping outages."""
        step, origin = INTERVALS[interval], _origin(interval)
        index = max(first, _ceil_index(spec.listed_ms, step, origin))
        last = (now - origin) // step  # the forming candle
        while index <= last:
            open_ms = origin + index * step
            outage = self._outage_at(open_ms)
            if outage is not None:
                index = _ceil_index(outage[1], step, origin)
                continue
            yield index
            index += 1

    def _indices_down(self, spec: SymbolSpec, interval: str, last: int):
        step, origin = INTERVALS[interval], _origin(interval)
        first = _ceil_index(spec.listed_ms, step, origin)
        index = last
        while index >= first:
            open_ms = origin + index * step
            outage = self._outage_at(open_ms)
            if outage is not None:
                index = (outage[0] - 1 - origin) // step
                continue
            yield index
            index -= 1

    def _outage_at(self, open_ms: int) -> tuple[int, int] | None:
        for start, end in self.outages:
            if start <= open_ms < end:
                return start, end
        return None

    def _row(self, spec: SymbolSpec, interval: str, index: int, now: int) -> list[Any]:
        step, origin = INTERVALS[interval], _origin(interval)
        open_ms = origin + index * step
        seed = zlib.crc32(f"{spec.symbol}/{interval}".encode())
        tick, lot = Decimal(spec.tick), Decimal(spec.step)
        o = self._level(spec, seed, index)
        c = self._level(spec, seed, index + 1)
        body_hi, body_lo = max(o, c), min(o, c)
        h = body_hi + math.ceil(body_hi * 0.004 * _uniform(seed, index, 1))
        lo = body_lo - math.floor(body_lo * 0.004 * _uniform(seed, index, 2))
        lo = max(lo, 1)
        volume = max(1, round((1 + 99 * _uniform(seed, index, 3)) * 10**spec.qty_decimals))
        taker = round(volume * _uniform(seed, index, 4))
        trades = 100 + int(2_000 * _uniform(seed, index, 5))
        fraction = (now - open_ms) / step
        if fraction < 1:  # still forming: what has traded so far
            c = o + round((c - o) * fraction)
            h = max(o, c) + round((h - body_hi) * fraction)
            lo = min(o, c) - round((body_lo - lo) * fraction)
            volume, taker = round(volume * fraction), round(taker * fraction)
            trades = int(trades * fraction)
        price = [Decimal(x) * tick for x in (o, h, lo, c)]
        vol, buy = Decimal(volume) * lot, Decimal(taker) * lot
        average = sum(price) / 4
        return [
            open_ms,
            *(_fmt(p) for p in price),
            _fmt(vol),
            open_ms + step - 1,
            _fmt(vol * average),
            trades,
            _fmt(buy),
            _fmt(buy * average),
            "0",
        ]

    @staticmethod
    def _level(spec: SymbolSpec, seed: int, index: int) -> int:
        """The price, in ticks, at the boundary opening candle ``index``."""
        phase = (seed % 1000) / 1000 * 2 * math.pi
        log_move = (
            0.08 * math.sin(index / 211 + phase)
            + 0.02 * math.sin(index / 17 + 2 * phase)
            + 0.004 * (_uniform(seed, index, 0) - 0.5)
        )
        return max(1, round(spec.price * math.exp(log_move) / float(spec.tick)))

    # -- the signed (private) spot trading API -----------------------------------------------------

    def fund(self, asset: str, amount: float | str | Decimal) -> Decimal:
        """Credit ``amount`` of ``asset`` to the account's free balance; returns the new free."""
        with self._lock:
            free = self._free.get(asset, _ZERO) + Decimal(str(amount))
            self._free[asset] = free
            return free

    def balance(self, asset: str) -> tuple[Decimal, Decimal]:
        """``(free, locked)`` of ``asset``, after matching resting orders up to the clock."""
        with self._lock:
            self._match(self.clock_ms())
            return self._free.get(asset, _ZERO), self._locked.get(asset, _ZERO)

    def price(self, symbol: str, now_ms: int | None = None) -> Decimal:
        """The last price of ``symbol`` (a Binance id) at ``now_ms`` (default: the clock): the
        close so far of the forming candle of ``trade_interval``; market orders fill at it."""
        now = self.clock_ms() if now_ms is None else now_ms
        step = INTERVALS[self.trade_interval]
        row = self._row(self.symbols[symbol], self.trade_interval, now // step, now)
        return Decimal(row[4])

    def orders(self, symbol: str | None = None) -> list[FakeOrder]:
        """Every order (copies), oldest first, after matching up to the clock."""
        with self._lock:
            self._match(self.clock_ms())
            return [
                replace(o) for o in self._orders.values() if symbol is None or o.symbol == symbol
            ]

    def open_orders(self, symbol: str | None = None) -> list[FakeOrder]:
        return [o for o in self.orders(symbol) if o.is_open]

    def order(self, order_id: int) -> FakeOrder:
        with self._lock:
            self._match(self.clock_ms())
            return replace(self._orders[order_id])

    def trades(self, symbol: str | None = None) -> list[FakeTrade]:
        """Every fill, oldest first, after matching up to the clock."""
        with self._lock:
            self._match(self.clock_ms())
            return [t for t in self._trades if symbol is None or t.symbol == symbol]

    def drop_next(
        self, path: str, *, count: int = 1, method: str | None = None, process: bool = True
    ) -> None:
        """Close the connection without an answer on the next ``count`` requests to the private
        ``path`` (of ``method``, if given). With ``process`` (the default) the request is carried
        out first: the order exists although the client saw a network error."""
        self._private_fault(path, method, _Fault(None, process=process), count)

    def reject_next(
        self,
        path: str,
        http_status: int,
        code: int,
        msg: str,
        *,
        count: int = 1,
        method: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests to the private ``path`` with a Binance error, without
        carrying them out."""
        self._private_fault(path, method, _Fault(http_status, _error(code, msg)), count)

    def unavailable_next(
        self, path: str, *, count: int = 1, status: int = 503, method: str | None = None
    ) -> None:
        """Answer the next ``count`` requests to the private ``path`` with a bare HTTP 5xx (a
        gateway's text page, not JSON: ccxt raises ExchangeNotAvailable), not carrying them out."""
        body = _Raw("Service Unavailable" if status == 503 else "Internal Server Error")
        self._private_fault(path, method, _Fault(status, body), count)

    def delay_next(
        self,
        path: str,
        seconds: float,
        *,
        count: int = 1,
        method: str | None = None,
        release: threading.Event | None = None,
    ) -> None:
        """Carry out the next ``count`` requests to the private ``path`` (of ``method``, if given)
        at once, but write their answers only ``seconds`` later, or as soon as ``release`` is
        set (a slow acknowledgement: the order exists on the venue while the client still
        waits). Other requests are served meanwhile; a client that gives up first sees a
        timeout."""
        if seconds <= 0:
            raise ValueError("seconds must be > 0")
        fault = _Fault(200, process=True, delay=seconds, release=release)
        self._private_fault(path, method, fault, count)

    def _private_fault(self, path: str, method: str | None, fault: _Fault, count: int) -> None:
        if path not in _PRIVATE:
            raise ValueError(f"{path} is not a private endpoint of the fake")
        with self._lock:
            self._pfaults.extend([(path, method, fault)] * count)

    def _take_fault(self, path: str, method: str) -> _Fault | None:
        for i, (p, m, fault) in enumerate(self._pfaults):
            if p == path and (m is None or m == method):
                del self._pfaults[i]
                return fault
        return None

    def _handle_private(self, handler: _Handler, raw_query: str, body: str) -> None:
        method, path = handler.command, urlsplit(handler.path).path
        params = {k: v[-1] for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
        params.update({k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()})
        key = handler.headers.get("X-MBX-APIKEY")
        with self._lock:
            now = self.clock_ms()
            fault = self._take_fault(path, method)
            delay, release = 0.0, None
            if fault is not None and fault.delay:
                delay, release, fault = fault.delay, fault.release, None
            if fault is None or fault.process:
                status, payload = self._authenticate(raw_query, body, params, key, now)
                if status == 200:
                    status, payload = self._private_route(method, path, params, now)
            if fault is not None and fault.status is not None:
                status, payload = fault.status, fault.body
            self._weight += 1
            weight = self._weight
        self._record(Request(path, params, None if fault and fault.status is None else status, now))
        if fault is not None and fault.status is None:
            handler.close_connection = True
            return
        if delay:
            # Outside the lock: the venue goes on serving meanwhile.
            if release is None:
                time.sleep(delay)
            else:
                release.wait(delay)
            try:
                handler.answer(status, payload, weight, {})
            except OSError:  # the client gave up waiting and closed the connection
                handler.close_connection = True
            return
        handler.answer(status, payload, weight, {})

    def _authenticate(
        self, raw_query: str, body: str, params: dict[str, str], key: str | None, now: int
    ) -> tuple[int, Any]:
        if not key:
            return 401, _error(-2014, "API-key format invalid.")
        if key != self.api_key:
            return 401, _error(-2015, "Invalid API-key, IP, or permissions for action.")
        for name in ("timestamp", "signature"):
            if not params.get(name):
                return 400, _missing(name)
        payload = _unsigned(raw_query) + _unsigned(body)
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, params["signature"].lower()):
            return 400, _error(-1022, "Signature for this request is not valid.")
        return _check_timestamp(params, now)

    def _authenticate_ws(self, params: dict[str, Any], now: int) -> tuple[int, Any]:
        """A signed WebSocket-API request's ``params``, checked as Binance does: ``apiKey``,
        then the HMAC-SHA256 ``signature`` of every other parameter sorted by name and joined as
        ``name=value&...``, then ``timestamp``/``recvWindow``. ``(200, None)`` or
        ``(status, error)``."""
        for name in ("apiKey", "timestamp", "signature"):
            if params.get(name) in (None, ""):
                return 400, _missing(name)
        if params["apiKey"] != self.api_key:
            return 401, _error(-2015, "Invalid API-key, IP, or permissions for action.")
        payload = "&".join(
            f"{k}={_ws_value(v)}" for k, v in sorted(params.items()) if k != "signature"
        )
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, str(params["signature"]).lower()):
            return 400, _error(-1022, "Signature for this request is not valid.")
        return _check_timestamp({k: _ws_value(v) for k, v in params.items()}, now)

    def _private_route(
        self, method: str, path: str, params: dict[str, str], now: int
    ) -> tuple[int, Any]:
        self._match(now)
        if path == "/api/v3/account" and method == "GET":
            return 200, self._account(params, now)
        if path == "/api/v3/order":
            if method == "POST":
                return self._new_order(params, now)
            if method == "GET":
                return self._query_order(params)
            if method == "DELETE":
                return self._cancel_order(params, now)
        if path == "/api/v3/openOrders" and method == "GET":
            symbol = params.get("symbol")
            if symbol is not None and symbol not in self.symbols:
                return 400, _error(-1121, "Invalid symbol.")
            found = [o for o in self._orders.values() if o.is_open]
            return 200, [_order_json(o) for o in found if symbol is None or o.symbol == symbol]
        if path == "/api/v3/myTrades" and method == "GET":
            return self._my_trades(params)
        return 404, None

    def _account(self, params: dict[str, str], now: int) -> dict[str, Any]:
        assets = sorted(
            set(self._free)
            | set(self._locked)
            | {a for s in self.symbols.values() for a in (s.base, s.quote)}
        )
        balances = [
            {
                "asset": a,
                "free": _fmt(self._free.get(a, _ZERO)),
                "locked": _fmt(self._locked.get(a, _ZERO)),
            }
            for a in assets
        ]
        if params.get("omitZeroBalances") == "true":
            balances = [b for b in balances if Decimal(b["free"]) or Decimal(b["locked"])]
        fee = _fmt(self.fee)
        return {
            "makerCommission": int(self.fee * 10_000),
            "takerCommission": int(self.fee * 10_000),
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": fee,
                "taker": fee,
                "buyer": _fmt(_ZERO),
                "seller": _fmt(_ZERO),
            },
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self._account_time or now,
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": 354_937_868,
        }

    def _new_order(self, params: dict[str, str], now: int) -> tuple[int, Any]:
        for name in ("symbol", "side", "type"):
            if not params.get(name):
                return 400, _missing(name)
        symbol, side, kind = params["symbol"], params["side"], params["type"]
        if symbol not in self.symbols or symbol in self._delisted:
            return 400, _error(-1121, "Invalid symbol.")
        if side not in ("BUY", "SELL"):
            return 400, _error(-1117, "Invalid side.")
        if kind not in _ORDER_TYPES:
            return 400, _error(-1116, "Invalid orderType.")
        if kind not in ("MARKET", "LIMIT", "STOP_LOSS", "STOP_LOSS_LIMIT"):
            return 400, _error(-1014, "Unsupported order combination.")
        spec = self.symbols[symbol]
        limit_priced = kind in ("LIMIT", "STOP_LOSS_LIMIT")  # takes price and timeInForce
        stop = kind in ("STOP_LOSS", "STOP_LOSS_LIMIT")
        numbers: dict[str, Decimal] = {}
        for name in ("quantity", "price", "quoteOrderQty", "stopPrice"):
            if params.get(name):
                try:
                    numbers[name] = Decimal(params[name])
                except ArithmeticError:
                    return 400, _illegal(name)
                if not numbers[name].is_finite() or numbers[name] < 0:
                    return 400, _illegal(name)
        tif = params.get("timeInForce")
        current = self.price(symbol, now)
        stop_price = _ZERO
        tick = Decimal(spec.tick)
        for name in ("price", "stopPrice"):
            needed = limit_priced if name == "price" else stop
            if params.get(name) and not needed:
                return 400, _error(-1106, f"Parameter '{name}' sent when not required.")
        if stop and params.get("quoteOrderQty"):
            return 400, _error(-1106, "Parameter 'quoteOrderQty' sent when not required.")
        if limit_priced:
            required = ("timeInForce", "quantity", "price") + (("stopPrice",) if stop else ())
            for name in required:
                if not params.get(name):
                    return 400, _missing(name)
            if tif not in ("GTC", "IOC", "FOK"):
                return 400, _error(-1115, "Invalid timeInForce.")
            price, qty = numbers["price"], numbers["quantity"]
        elif stop:
            for name in ("quantity", "stopPrice"):
                if not params.get(name):
                    return 400, _missing(name)
            if tif is not None:
                return 400, _error(-1106, "Parameter 'timeInForce' sent when not required.")
            tif, price, qty = "GTC", _ZERO, numbers["quantity"]
        else:
            if tif is not None:
                return 400, _error(-1106, "Parameter 'timeInForce' sent when not required.")
            tif, price = "GTC", _ZERO
            if "quantity" in numbers:
                qty = numbers["quantity"]
            elif "quoteOrderQty" in numbers:
                step = Decimal(spec.step)
                qty = (numbers["quoteOrderQty"] / current // step) * step
            else:
                return 400, _error(
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
                )
        max_price = Decimal(_symbol_max_price(spec))
        for value in (price,) if limit_priced else ():
            if value < tick or value > max_price or value % tick:
                return 400, _error(-1013, "Filter failure: PRICE_FILTER")
        if stop:
            stop_price = numbers["stopPrice"]
            if stop_price < tick or stop_price > max_price or stop_price % tick:
                return 400, _error(-1013, "Filter failure: PRICE_FILTER")
        step = Decimal(spec.step)
        if qty < step or qty > Decimal("9000") or qty % step:
            return 400, _error(-1013, "Filter failure: LOT_SIZE")
        if kind in ("MARKET", "STOP_LOSS") and qty > Decimal("100"):
            return 400, _error(-1013, "Filter failure: MARKET_LOT_SIZE")
        # what one unit will cost: the limit price, the stop price for a STOP_LOSS (a market
        # order once triggered, at about the stop), the last price for a MARKET
        estimate = price if limit_priced else stop_price if stop else current
        notional = qty * estimate
        if notional < Decimal(spec.min_notional) or (
            limit_priced and notional > Decimal("9000000")
        ):
            return 400, _error(-1013, "Filter failure: NOTIONAL")
        if stop and (stop_price >= current if side == "SELL" else stop_price <= current):
            return 400, _error(-2010, "Stop price would trigger immediately.")
        client_id = params.get("newClientOrderId") or f"fake{uuid.uuid4().hex[:18]}"
        if any(
            o.client_order_id == client_id and (o.is_open or self.strict_client_ids)
            for o in self._orders.values()
        ):
            return 400, _error(-2010, "Duplicate order sent.")
        if side == "BUY":
            asset = spec.quote
            need = _q8(qty * estimate * (1 + self.fee))
        else:
            asset, need = spec.base, qty
        if self._free.get(asset, _ZERO) < need:
            return 400, _error(-2010, "Account has insufficient balance for requested action.")
        self._free[asset] = self._free.get(asset, _ZERO) - need
        self._locked[asset] = self._locked.get(asset, _ZERO) + need
        order = FakeOrder(
            symbol=symbol,
            order_id=self._next_order_id,
            client_order_id=client_id,
            side=side,
            type=kind,
            time_in_force=tif,
            price=price,
            orig_qty=qty,
            time=now,
            update_time=now,
            locked=need,
            orig_quote_qty=numbers.get("quoteOrderQty", _ZERO) if kind == "MARKET" else _ZERO,
            stop_price=stop_price,
            working_time=-1 if stop else now,
        )
        self._next_order_id += 1
        self._orders[order.order_id] = order
        self._report(order, "NEW", now)
        first_trade = len(self._trades)
        index = now // INTERVALS[self.trade_interval]
        marketable = kind == "MARKET" or (current <= price if side == "BUY" else current >= price)
        if stop:
            pass  # waits for the price path to cross stopPrice (see _match)
        elif kind == "MARKET":
            self._fill(order, qty, current, now, maker=False)
        elif marketable:
            cap = (
                qty if self.max_fill_per_candle is None else Decimal(str(self.max_fill_per_candle))
            )
            take = min(qty, cap)
            if tif == "FOK" and take < qty:
                take = _ZERO
            if take > 0:
                self._fill(order, take, current, now, maker=False)
                order.used[index] = take
        order.next_index = index + 1
        if order.is_open and tif in ("IOC", "FOK") and not stop:
            self._finish(order, "EXPIRED", now)
        self._account_time = now
        resp_type = params.get("newOrderRespType", "FULL")
        ack = {
            "symbol": symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": client_id,
            "transactTime": now,
        }
        if resp_type == "ACK":
            return 200, ack
        result = {
            **ack,
            "price": _fmt(order.price),
            "origQty": _fmt(order.orig_qty),
            "executedQty": _fmt(order.executed_qty),
            "origQuoteOrderQty": _fmt(order.orig_quote_qty),
            "cummulativeQuoteQty": _fmt(order.cum_quote),
            "status": order.status,
            "timeInForce": order.time_in_force,
            "type": order.type,
            "side": order.side,
            **({"stopPrice": _fmt(order.stop_price)} if stop else {}),
            "workingTime": order.working_time,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        if resp_type == "FULL":
            result["fills"] = [
                {
                    "price": _fmt(t.price),
                    "qty": _fmt(t.qty),
                    "commission": _fmt(t.commission),
                    "commissionAsset": t.commission_asset,
                    "tradeId": t.trade_id,
                }
                for t in self._trades[first_trade:]
            ]
        return 200, result

    def _find(self, params: dict[str, str]) -> FakeOrder | tuple[int, Any] | None:
        if not params.get("symbol"):
            return 400, _missing("symbol")
        symbol = params["symbol"]
        if symbol not in self.symbols:
            return 400, _error(-1121, "Invalid symbol.")
        if params.get("orderId"):
            if not params["orderId"].isdigit():
                return 400, _illegal("orderId")
            order = self._orders.get(int(params["orderId"]))
            return order if order is not None and order.symbol == symbol else None
        if params.get("origClientOrderId"):
            wanted = params["origClientOrderId"]
            found = [
                o
                for o in self._orders.values()
                if o.symbol == symbol and o.client_order_id == wanted
            ]
            return found[-1] if found else None
        return 400, _error(
            -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )

    def _query_order(self, params: dict[str, str]) -> tuple[int, Any]:
        found = self._find(params)
        if isinstance(found, tuple):
            return found
        if found is None:
            return 400, _error(-2013, "Order does not exist.")
        return 200, _order_json(found)

    def _cancel_order(self, params: dict[str, str], now: int) -> tuple[int, Any]:
        found = self._find(params)
        if isinstance(found, tuple):
            return found
        if found is None or not found.is_open:
            return 400, _error(-2011, "Unknown order sent.")
        cancel_id = params.get("newClientOrderId") or f"fake{uuid.uuid4().hex[:18]}"
        self._finish(found, "CANCELED", now, cancel_id=cancel_id)
        self._account_time = now
        return 200, {
            "symbol": found.symbol,
            "origClientOrderId": found.client_order_id,
            "orderId": found.order_id,
            "orderListId": -1,
            "clientOrderId": cancel_id,
            "transactTime": now,
            "price": _fmt(found.price),
            "origQty": _fmt(found.orig_qty),
            "executedQty": _fmt(found.executed_qty),
            "origQuoteOrderQty": _fmt(found.orig_quote_qty),
            "cummulativeQuoteQty": _fmt(found.cum_quote),
            "status": found.status,
            "timeInForce": found.time_in_force,
            "type": found.type,
            "side": found.side,
            **({"stopPrice": _fmt(found.stop_price)} if found.stop_price else {}),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def _my_trades(self, params: dict[str, str]) -> tuple[int, Any]:
        if not params.get("symbol"):
            return 400, _missing("symbol")
        symbol = params["symbol"]
        if symbol not in self.symbols:
            return 400, _error(-1121, "Invalid symbol.")
        numbers: dict[str, int] = {}
        for name in ("orderId", "startTime", "endTime", "fromId", "limit"):
            if params.get(name):
                if not params[name].isdigit():
                    return 400, _illegal(name)
                numbers[name] = int(params[name])
        limit = min(numbers.get("limit", _DEFAULT_LIMIT), _MAX_LIMIT)
        rows = [t for t in self._trades if t.symbol == symbol]
        if "orderId" in numbers:
            rows = [t for t in rows if t.order_id == numbers["orderId"]]
        if "fromId" in numbers:
            rows = [t for t in rows if t.trade_id >= numbers["fromId"]][:limit]
        else:
            rows = [
                t
                for t in rows
                if numbers.get("startTime", 0) <= t.time <= numbers.get("endTime", 1 << 62)
            ]
            rows = rows[-limit:] if "startTime" not in numbers else rows[:limit]
        return 200, [
            {
                "symbol": t.symbol,
                "id": t.trade_id,
                "orderId": t.order_id,
                "orderListId": -1,
                "price": _fmt(t.price),
                "qty": _fmt(t.qty),
                "quoteQty": _fmt(t.quote_qty),
                "commission": _fmt(t.commission),
                "commissionAsset": t.commission_asset,
                "time": t.time,
                "isBuyer": t.is_buyer,
                "isMaker": t.is_maker,
                "isBestMatch": True,
            }
            for t in rows
        ]

    def _fill(
        self, order: FakeOrder, qty: Decimal, price: Decimal, at: int, *, maker: bool
    ) -> None:
        spec = self.symbols[order.symbol]
        quote_qty = _q8(qty * price)
        commission = _q8(quote_qty * self.fee)
        if order.side == "BUY":
            cost = quote_qty + commission
            self._locked[spec.quote] -= cost
            order.locked -= cost
            self._free[spec.base] = self._free.get(spec.base, _ZERO) + qty
        else:
            self._locked[spec.base] -= qty
            order.locked -= qty
            self._free[spec.quote] = self._free.get(spec.quote, _ZERO) + quote_qty - commission
        order.executed_qty += qty
        order.cum_quote += quote_qty
        order.update_time = at
        self._trades.append(
            FakeTrade(
                symbol=order.symbol,
                trade_id=self._next_trade_id,
                order_id=order.order_id,
                price=price,
                qty=qty,
                quote_qty=quote_qty,
                commission=commission,
                commission_asset=spec.quote,
                time=at,
                is_buyer=order.side == "BUY",
                is_maker=maker,
            )
        )
        self._next_trade_id += 1
        if order.executed_qty >= order.orig_qty:
            self._finish(order, "FILLED", at)
        else:
            order.status = "PARTIALLY_FILLED"
        self._report(order, "TRADE", at, self._trades[-1])

    def _finish(
        self, order: FakeOrder, status: str, at: int, *, cancel_id: str | None = None
    ) -> None:
        """End ``order`` with ``status``, unlocking what it still held (a FILLED order's report
        is its last TRADE one, sent by :meth:`_fill`)."""
        spec = self.symbols[order.symbol]
        asset = spec.quote if order.side == "BUY" else spec.base
        if order.locked:
            self._locked[asset] -= order.locked
            self._free[asset] = self._free.get(asset, _ZERO) + order.locked
            order.locked = _ZERO
        order.status, order.update_time = status, at
        if status != "FILLED":
            self._report(order, status, at, cancel_id=cancel_id)

    # -- the user data stream's events -------------------------------------------------------------

    def add_listener(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener(event)`` with every later user-data event of the account, in order,
        under the fake's lock (so it must not block nor call back into the fake)."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[dict[str, Any]], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def user_events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every user-data event so far (``executionReport`` and ``outboundAccountPosition``
        payloads, as Binance sends them), or only those whose ``e`` is ``kind``, in order."""
        with self._lock:
            return [dict(e) for e in self._events if kind is None or e["e"] == kind]

    def settle(self) -> None:
        """Match resting orders up to the clock now (which sends their events), as any private
        request or inspection (:meth:`orders`, :meth:`balance`) does."""
        with self._lock:
            self._match(self.clock_ms())

    def _report(
        self,
        order: FakeOrder,
        execution: str,
        at: int,
        trade: FakeTrade | None = None,
        *,
        cancel_id: str | None = None,
    ) -> None:
        """Send the ``executionReport`` of ``order``'s change (``execution``: NEW, TRADE,
        CANCELED, EXPIRED) at ``at``, then the ``outboundAccountPosition`` of its two assets."""
        spec = self.symbols[order.symbol]
        now = self.clock_ms()
        self._event_seq += 1
        report: dict[str, Any] = {
            "e": "executionReport",
            "E": now,
            "s": order.symbol,
            "c": cancel_id or order.client_order_id,
            "S": order.side,
            "o": order.type,
            "f": order.time_in_force,
            "q": _fmt(order.orig_qty),
            "p": _fmt(order.price),
            "P": _fmt(order.stop_price),
            "F": _fmt(_ZERO),
            "g": -1,
            "C": order.client_order_id if cancel_id else "",
            "x": execution,
            "X": order.status,
            "r": "NONE",
            "i": order.order_id,
            "l": _fmt(trade.qty if trade else _ZERO),
            "z": _fmt(order.executed_qty),
            "L": _fmt(trade.price if trade else _ZERO),
            "n": _fmt(trade.commission) if trade else "0",
            "N": trade.commission_asset if trade else None,
            "T": at,
            "t": trade.trade_id if trade else -1,
            "I": self._event_seq,
            "w": order.is_open and order.is_working and order.type != "MARKET",
            "m": trade.is_maker if trade else False,
            "M": trade is not None,
            "O": order.time,
            "Z": _fmt(order.cum_quote),
            "Y": _fmt(trade.quote_qty if trade else _ZERO),
            "Q": _fmt(order.orig_quote_qty),
            "V": "EXPIRE_MAKER",
        }
        if order.is_working:
            report["W"] = order.working_time
        position = {
            "e": "outboundAccountPosition",
            "E": now,
            "u": at,
            "B": [
                {
                    "a": asset,
                    "f": _fmt(self._free.get(asset, _ZERO)),
                    "l": _fmt(self._locked.get(asset, _ZERO)),
                }
                for asset in (spec.base, spec.quote)
            ],
        }
        for event in (report, position):
            self._events.append(event)
            for listener in list(self._listeners):
                listener(event)

    def _match(self, now: int) -> None:
        """Work resting orders against the ``trade_interval`` candles that closed by ``now``.

        A LIMIT (or triggered STOP_LOSS_LIMIT) buy fills at its price on a candle whose low
        reaches it, a sell on one whose high does, as maker, at most ``max_fill_per_candle`` of
        base per order and candle. A stop order waiting for its trigger (candles after the one
        it was placed in) triggers on the first candle whose low reaches its stop price (a
        sell) or whose high does (a buy); see :meth:`_trigger`."""
        interval = self.trade_interval
        step = INTERVALS[interval]
        cap = None if self.max_fill_per_candle is None else Decimal(str(self.max_fill_per_candle))
        for order in list(self._orders.values()):
            if not order.is_open or order.type not in ("LIMIT", "STOP_LOSS", "STOP_LOSS_LIMIT"):
                continue
            spec = self.symbols[order.symbol]
            for index in self._indices_up(spec, interval, order.next_index, now):
                close_ms = index * step + step
                if close_ms > now:
                    break
                order.next_index = index + 1
                row = self._row(spec, interval, index, now)
                high, low = Decimal(row[2]), Decimal(row[3])
                if not order.is_working:
                    stop = order.stop_price
                    if low <= stop if order.side == "SELL" else high >= stop:
                        self._trigger(order, index, close_ms - 1, cap)
                        self._account_time = close_ms - 1
                    if not order.is_open:
                        break
                    continue
                if order.price < low if order.side == "BUY" else order.price > high:
                    continue
                room = order.orig_qty - order.executed_qty
                qty = room if cap is None else min(room, cap - order.used.get(index, _ZERO))
                if qty > 0:
                    self._fill(order, qty, order.price, close_ms - 1, maker=True)
                    self._account_time = close_ms - 1
                if not order.is_open:
                    break

    def _trigger(self, order: FakeOrder, index: int, at: int, cap: Decimal | None) -> None:
        """The price reached ``order``'s stop in candle ``index``: it goes on the book at ``at``
        (keeping its type and id, as on Binance). A STOP_LOSS is then a market order: it fills
        whole at the stop price, as taker. A STOP_LOSS_LIMIT is then a limit order at its price
        placed while the market trades at the stop: if that is marketable it takes at the stop
        price (taker, within ``max_fill_per_candle`` for this candle), and what is left rests
        at its price for the later candles (IOC/FOK: expires instead)."""
        order.working_time = order.update_time = at
        stop = order.stop_price
        if order.type == "STOP_LOSS":
            self._fill(order, order.orig_qty, stop, at, maker=False)
            return
        if stop <= order.price if order.side == "BUY" else stop >= order.price:
            room = order.orig_qty - order.executed_qty
            take = room if cap is None else min(room, cap)
            if order.time_in_force == "FOK" and take < room:
                take = _ZERO
            if take > 0:
                self._fill(order, take, stop, at, maker=False)
                order.used[index] = take
        if order.is_open and order.time_in_force in ("IOC", "FOK"):
            self._finish(order, "EXPIRED", at)

    # -- serving ---------------------------------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        url = urlsplit(handler.path)
        body = handler.read_body() if handler.command in ("POST", "PUT", "DELETE") else ""
        query = parse_qs(url.query, keep_blank_values=True)
        params = {k: v[-1] for k, v in query.items()}
        path = url.path
        if path in _PRIVATE:
            self._handle_private(handler, url.query, body)
            return
        with self._lock:
            now = self.clock_ms()
            fault = None
            if path == _KLINES:
                self._klines_seen += 1
                fault = self._faults.pop(self._klines_seen, None)
            minute = now // 60_000
            if minute != self._weight_minute:
                self._weight_minute, self._weight = minute, 0
            self._weight += _WEIGHTS.get(path, 1)
            weight = self._weight
        if fault is not None and fault.status is None:
            self._record(Request(path, params, None, now))
            handler.close_connection = True  # finish() closes the socket: no answer at all
            return
        if fault is not None:
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            status, payload, rows = fault.status, fault.body, None
        else:
            headers = {}
            status, payload = self._route(path, params, now)
            rows = len(payload) if path == _KLINES and status == 200 else None
        self._record(Request(path, params, status, now, rows))
        handler.answer(status, payload, weight, headers)

    def _record(self, request: Request) -> None:
        with self._lock:
            self._log.append(request)

    def _route(self, path: str, params: dict[str, str], now: int) -> tuple[int, Any]:
        if path == "/api/v3/ping":
            return 200, {}
        if path == "/api/v3/time":
            return 200, {"serverTime": now}
        if path == "/api/v3/exchangeInfo":
            return self._exchange_info(params, now)
        if path == _KLINES:
            return self._klines(params, now)
        return 404, None

    def _exchange_info(self, params: dict[str, str], now: int) -> tuple[int, Any]:
        listed = [s for name, s in self.symbols.items() if name not in self._delisted]
        wanted: list[str] | None = None
        if "symbol" in params:
            wanted = [params["symbol"]]
        elif "symbols" in params:
            try:
                wanted = list(json.loads(params["symbols"]))
            except ValueError:
                return 400, _error(-1100, "Illegal characters found in parameter 'symbols'.")
        if wanted is not None:
            known = {s.symbol: s for s in listed}
            if any(w not in known for w in wanted):
                return 400, _error(-1121, "Invalid symbol.")
            listed = [known[w] for w in wanted]
        return 200, {
            "timezone": "UTC",
            "serverTime": now,
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                },
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                {
                    "rateLimitType": "RAW_REQUESTS",
                    "interval": "MINUTE",
                    "intervalNum": 5,
                    "limit": 61000,
                },
            ],
            "exchangeFilters": [],
            "symbols": [_symbol_info(s) for s in listed],
        }

    def _klines(self, params: dict[str, str], now: int) -> tuple[int, Any]:
        for name in ("symbol", "interval"):
            if not params.get(name):
                return 400, _error(
                    -1102,
                    f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
                )
        numbers: dict[str, int] = {}
        for name in ("startTime", "endTime", "limit"):
            if name in params:
                raw = params[name]
                if not (raw.isdigit() and len(raw) <= 20):
                    return 400, _error(
                        -1100,
                        f"Illegal characters found in parameter '{name}'; "
                        "legal range is '^[0-9]{1,20}$'.",
                    )
                numbers[name] = int(raw)
        symbol, interval = params["symbol"], params["interval"]
        if symbol not in self.symbols or symbol in self._delisted:
            return 400, _error(-1121, "Invalid symbol.")
        if interval not in INTERVALS:
            return 400, _error(-1120, "Invalid interval.")
        start, end = numbers.get("startTime"), numbers.get("endTime")
        if start is not None and end is not None and start > end:
            return 400, _error(-1023, "Start time is greater than end time.")
        limit = numbers.get("limit", _DEFAULT_LIMIT)
        if limit < 1:
            return 400, _error(-1130, "Data sent for parameter 'limit' is not valid.")
        limit = min(limit, _MAX_LIMIT)
        spec = self.symbols[symbol]
        step, origin = INTERVALS[interval], _origin(interval)
        forming = (now - origin) // step
        last = forming if end is None else min(forming, (end - origin) // step)
        indices: list[int] = []
        if start is not None:  # the first `limit` candles opening at or after startTime
            for index in self._indices_up(spec, interval, _ceil_index(start, step, origin), now):
                if index > last or len(indices) == limit:
                    break
                indices.append(index)
        else:  # the last `limit` candles opening at or before endTime (or now)
            for index in self._indices_down(spec, interval, last):
                if len(indices) == limit:
                    break
                indices.append(index)
            indices.reverse()
        return 200, [self._row(spec, interval, i, now) for i in indices]


class _Handler(BaseHTTPRequestHandler):
    owner: FakeBinance
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API; every answer has a length
    timeout = 10  # an idle kept-alive connection is closed after this

    def do_GET(self) -> None:
        self.owner._handle(self)

    def do_POST(self) -> None:
        self.owner._handle(self)

    def do_DELETE(self) -> None:
        self.owner._handle(self)

    def do_PUT(self) -> None:
        self.owner._handle(self)

    def read_body(self) -> str:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode() if length > 0 else ""

    def answer(self, status: int, payload: Any, weight: int, headers: dict[str, str]) -> None:
        if isinstance(payload, _Raw):
            body = payload.text.encode()
        else:
            body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-mbx-used-weight", str(weight))
        self.send_header("x-mbx-used-weight-1m", str(weight))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the fake keeps its own log
        pass


def _symbol_info(spec: SymbolSpec) -> dict[str, Any]:
    max_price = "1000000.00000000" if spec.price > 1 else "1000.00000000"
    return {
        "symbol": spec.symbol,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": list(_ORDER_TYPES),
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": _fmt(Decimal(spec.tick)),
                "maxPrice": max_price,
                "tickSize": _fmt(Decimal(spec.tick)),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": _fmt(Decimal(spec.step)),
                "maxQty": "9000.00000000",
                "stepSize": _fmt(Decimal(spec.step)),
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": "100.00000000",
                "stepSize": "0.00000000",
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": _fmt(Decimal(spec.min_notional)),
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _ws_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_timestamp(params: dict[str, str], now: int) -> tuple[int, Any]:
    """Binance's ``timestamp``/``recvWindow`` rule for signed requests."""
    raw_ts, raw_window = params["timestamp"], params.get("recvWindow", "5000")
    if not (raw_ts.isdigit() and raw_window.isdigit()):
        name = "timestamp" if not raw_ts.isdigit() else "recvWindow"
        return 400, _illegal(name)
    timestamp, window = int(raw_ts), int(raw_window)
    if window > 60_000:
        return 400, _error(-1131, "recvWindow must be less than 60000")
    if timestamp >= now + 1000:
        return 400, _error(
            -1021, "Timestamp for this request was 1000ms ahead of the server's time."
        )
    if now - timestamp > window:
        return 400, _error(-1021, "Timestamp for this request is outside of the recvWindow.")
    return 200, None


def _error(code: int, msg: str) -> dict[str, Any]:
    return {"code": code, "msg": msg}


def _missing(name: str) -> dict[str, Any]:
    return _error(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def _illegal(name: str) -> dict[str, Any]:
    return _error(
        -1100,
        f"Illegal characters found in parameter '{name}'; "
        "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
    )


def _unsigned(raw: str) -> str:
    """``raw`` (a query string or form body, as sent) without its ``signature`` parameter."""
    return "&".join(p for p in raw.split("&") if p and not p.startswith("signature="))


def _q8(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP)


def _symbol_max_price(spec: SymbolSpec) -> str:
    return "1000000.00000000" if spec.price > 1 else "1000.00000000"


def _order_json(o: FakeOrder) -> dict[str, Any]:
    """An order as ``GET /api/v3/order`` and ``/api/v3/openOrders`` show it."""
    return {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "price": _fmt(o.price),
        "origQty": _fmt(o.orig_qty),
        "executedQty": _fmt(o.executed_qty),
        "cummulativeQuoteQty": _fmt(o.cum_quote),
        "status": o.status,
        "timeInForce": o.time_in_force,
        "type": o.type,
        "side": o.side,
        "stopPrice": _fmt(o.stop_price),
        "icebergQty": _fmt(_ZERO),
        "time": o.time,
        "updateTime": o.update_time,
        "isWorking": o.working_time >= 0,
        "workingTime": o.working_time,
        "origQuoteOrderQty": _fmt(o.orig_quote_qty),
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def _fmt(value: Decimal) -> str:
    return f"{value:.8f}"


def _decimals(step: str) -> int:
    exponent = Decimal(step).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def _origin(interval: str) -> int:
    return _WEEK_ORIGIN_MS if interval == "1w" else 0


def _ceil_index(ms: int, step: int, origin: int) -> int:
    return -((origin - ms) // step)


def _uniform(seed: int, index: int, lane: int) -> float:
    """A uniform number in [0, 1) fixed by (seed, index, lane): splitmix64 of the three."""
    x = (
        seed * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9 + lane * 0x94D049BB133111EB
    ) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    x ^= x >> 31
    return (x >> 11) / float(1 << 53)


def binance_config(fake: FakeBinance, **config: Any) -> dict[str, Any]:
    """The ccxt constructor config of a ``binance`` that talks to ``fake`` and nothing else.

    Every URL of ``urls`` (``api``, ``test``, ``demo``) is rebased on the fake, keeping its path,
    so sandbox mode lands on the fake too; market loading is restricted to spot, so
    ``load_markets`` calls ``/api/v3/exchangeInfo`` only (by default ccxt also loads the USD-M
    and COIN-M futures markets from ``/fapi/v1`` and ``/dapi/v1``, and margin pairs and
    currencies when it has keys); rate limiting stays on, with a 1 ms base rate so tests are
    not slowed. ``config`` is merged over this (``options`` key by key).
    """
    import ccxt.async_support as ccxt_async

    urls = ccxt_async.binance().urls  # no session is opened until a request
    options = {
        "fetchMarkets": {"types": ["spot"]},
        "fetchMargins": False,
        "fetchCurrencies": False,
        **config.pop("options", {}),
    }
    return {
        "enableRateLimit": True,
        "rateLimit": 1,
        "timeout": 5_000,
        "timeout_on_exit": 0,  # close() waits this long for TLS shutdowns; loopback has none
        **config,
        "urls": {k: _rebase(urls[k], fake.base_url) for k in ("api", "test", "demo") if k in urls},
        "options": options,
    }


def binance_exchange(fake: FakeBinance, **config: Any):
    """A ``ccxt.async_support.binance`` built from :func:`binance_config` whose clock
    (``milliseconds()``) is the fake's, so "now" is the same instant for the venue and for ccxt.
    The caller closes it."""
    import ccxt.async_support as ccxt_async

    exchange = ccxt_async.binance(binance_config(fake, **config))
    exchange.milliseconds = fake.clock_ms  # the venue's clock, as ccxt reads it
    for url in _strings(exchange.urls.get("api")):
        if not url.startswith(fake.base_url):
            raise AssertionError(f"{url} does not point at the fake")
    return exchange


def binance_trading_exchange(
    fake: FakeBinance, *, api_key: str | None = None, secret: str | None = None, **config: Any
):
    """:func:`binance_exchange` with credentials (the fake's own unless given), for the signed
    trading endpoints. The caller closes it."""
    return binance_exchange(
        fake,
        apiKey=fake.api_key if api_key is None else api_key,
        secret=fake.secret if secret is None else secret,
        **config,
    )


def _strings(value: Any):
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def _rebase(value: Any, base: str) -> Any:
    if isinstance(value, dict):
        return {k: _rebase(v, base) for k, v in value.items()}
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return base + urlsplit(value).path
    return value


# -- the kline websocket stream --------------------------------------------------------------


class FakeBinanceStream:
    """Binance spot's market-data websocket (``wss://stream.binance.com:9443/ws``) on
    ``127.0.0.1``, served by ``aiohttp.web`` on its own event loop in a daemon thread.

    It accepts connections on ``/stream/ws`` and ``/stream/ws/<anything>`` (ccxt.pro connects to
    ``<ws url>/<stream index>``, and tells spot streams from futures ones by ``/stream`` in the
    URL), and answers the live-subscription requests as Binance does:
    ``{"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": N}`` with
    ``{"result": null, "id": N}``, likewise ``UNSUBSCRIBE`` and ``LIST_SUBSCRIPTIONS``; anything
    else gets ``{"error": {"code": 2, "msg": ...}, "id": N}``. Every request is logged
    (:attr:`requests`, :meth:`subscribed`). The test then drives events: :meth:`push_kline`
    sends a kline event, in Binance's shape, to the connections subscribed to its stream, with
    values from ``fake``'s price path as of a given time (``x`` is true once the candle closed).
    """

    def __init__(self, fake: FakeBinance) -> None:
        import asyncio

        self.fake = fake
        self.requests: list[dict[str, Any]] = []  # every JSON message received, in order
        self.api_requests: list[dict[str, Any]] = []  # every WebSocket-API request, in order
        self.api_answers: list[dict[str, Any]] = []  # every WebSocket-API answer, in order
        self.paths: list[str] = []  # the path of every connection accepted
        self._subs: dict[Any, set[str]] = {}  # open websocket -> its streams
        # open WebSocket-API connection -> (its outgoing queue, its user-data subscription ids)
        self._api: dict[Any, tuple[Any, set[int]]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._runner: Any = None
        port = self._call(self._start())
        self.base_url = f"ws://127.0.0.1:{port}"
        self.url = f"{self.base_url}/stream/ws"  # ccxt.pro binance's urls["api"]["ws"]["spot"]
        # ccxt.pro's urls["api"]["ws"]["ws-api"]["spot"] (wss://ws-api.binance.com:443/ws-api/v3)
        self.api_url = f"{self.base_url}/ws-api/ws-api/v3"
        fake.add_listener(self._on_user_event)

    def __enter__(self) -> FakeBinanceStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Close every connection and the listening socket, and stop the thread (idempotent)."""
        if not self._thread.is_alive():
            return
        self.fake.remove_listener(self._on_user_event)
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def _call(self, coro: Any) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=5)

    async def _start(self) -> int:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/stream/ws", self._serve)
        app.router.add_get("/stream/ws/{tail:.*}", self._serve)
        app.router.add_get("/ws-api/ws-api/v3", self._serve_api)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(self._runner.addresses[0][1])

    async def _stop(self) -> None:
        for ws in [*self._subs, *self._api]:
            await ws.close()
        await self._runner.cleanup()

    async def _serve(self, request: Any) -> Any:
        from aiohttp import WSMsgType, web

        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.paths.append(request.path)
        streams = self._subs[ws] = set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    await ws.send_json({"error": {"code": 3, "msg": "Invalid JSON"}})
                    continue
                self.requests.append(data)
                method, ident = data.get("method"), data.get("id")
                params = data.get("params") or []
                if method == "SUBSCRIBE":
                    streams.update(params)
                    await ws.send_json({"result": None, "id": ident})
                elif method == "UNSUBSCRIBE":
                    streams.difference_update(params)
                    await ws.send_json({"result": None, "id": ident})
                elif method == "LIST_SUBSCRIPTIONS":
                    await ws.send_json({"result": sorted(streams), "id": ident})
                else:
                    error = {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}
                    await ws.send_json({"error": error, "id": ident})
        finally:
            self._subs.pop(ws, None)
        return ws

    async def _serve_api(self, request: Any) -> Any:
        """Binance's WebSocket API (``/ws-api/v3``): JSON requests ``{"id", "method", "params"}``
        answered ``{"id", "status": 200, "result", "rateLimits"}`` or ``{"id", "status": 4xx,
        "error": {"code", "msg"}, "rateLimits"}``. Served: ``ping``, ``time``,
        ``userDataStream.subscribe.signature`` (signed: ``apiKey``, ``timestamp``, optional
        ``recvWindow``, ``signature``; answers ``{"subscriptionId": n}``, n counting from 0 per
        connection, and from then on pushes ``{"subscriptionId": n, "event": {...}}`` for every
        user-data event of the account), ``userDataStream.unsubscribe`` (optional
        ``subscriptionId``; none: all) and ``session.subscriptions``."""
        import asyncio

        from aiohttp import WSMsgType, web

        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.paths.append(request.path)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        subscriptions: set[int] = set()
        self._api[ws] = (queue, subscriptions)
        next_id = 0

        async def pump() -> None:
            while True:
                payload = await queue.get()
                await ws.send_json(payload)

        sender = asyncio.create_task(pump())
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    error = _error(-1100, "Malformed request.")
                    queue.put_nowait(self._api_answer(None, 400, error=error))
                    continue
                self.api_requests.append(data)
                ident, method = data.get("id"), data.get("method")
                params = data.get("params") or {}
                now = self.fake.clock_ms()
                if method == "ping":
                    queue.put_nowait(self._api_answer(ident, 200, {}))
                elif method == "time":
                    queue.put_nowait(self._api_answer(ident, 200, {"serverTime": now}))
                elif method == "userDataStream.subscribe.signature":
                    status, error = self.fake._authenticate_ws(params, now)
                    if status != 200:
                        queue.put_nowait(self._api_answer(ident, status, error=error))
                        continue
                    subscriptions.add(next_id)
                    queue.put_nowait(self._api_answer(ident, 200, {"subscriptionId": next_id}))
                    next_id += 1
                elif method == "userDataStream.unsubscribe":
                    wanted = params.get("subscriptionId")
                    if wanted is None:
                        subscriptions.clear()
                    elif wanted in subscriptions:
                        subscriptions.discard(wanted)
                    else:
                        error = _error(-2035, "User Data Stream subscription not found.")
                        queue.put_nowait(self._api_answer(ident, 400, error=error))
                        continue
                    queue.put_nowait(self._api_answer(ident, 200, {}))
                elif method == "session.subscriptions":
                    rows = [{"subscriptionId": n} for n in sorted(subscriptions)]
                    queue.put_nowait(self._api_answer(ident, 200, rows))
                else:
                    # not served by the fake (order placement and the rest of the WS API)
                    error = _error(-1020, "This operation is not supported.")
                    queue.put_nowait(self._api_answer(ident, 400, error=error))
        finally:
            self._api.pop(ws, None)
            sender.cancel()
        return ws

    def _api_answer(
        self, ident: Any, status: int, result: Any = None, *, error: Any = None
    ) -> dict[str, Any]:
        answer: dict[str, Any] = {"id": ident, "status": status}
        if error is not None:
            answer["error"] = error
        else:
            answer["result"] = result
        self.api_answers.append(answer)
        answer["rateLimits"] = [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000,
                "count": 2,
            }
        ]
        return answer

    def _on_user_event(self, event: dict[str, Any]) -> None:
        """The fake's listener (called under its lock, on any thread): hand the event to the
        loop, which queues it, in order, on every subscribed WebSocket-API connection."""
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._push_user_event, dict(event))

    def _push_user_event(self, event: dict[str, Any]) -> None:
        for queue, subscriptions in list(self._api.values()):
            for n in sorted(subscriptions):
                queue.put_nowait({"subscriptionId": n, "event": event})

    def user_subscriptions(self) -> int:
        """How many user-data subscriptions the open WebSocket-API connections hold."""
        return sum(len(subs) for _, subs in list(self._api.values()))

    def subscribed(self) -> list[str]:
        """Every stream asked for in a SUBSCRIBE, in order (repeats included)."""
        return [
            p for r in self.requests if r.get("method") == "SUBSCRIBE" for p in r.get("params", [])
        ]

    def listeners(self, stream: str) -> int:
        """How many open connections are subscribed to ``stream`` (``"btcusdt@kline_1m"``)."""
        return sum(stream in streams for streams in list(self._subs.values()))

    def kline(self, symbol: str, interval: str, open_ms: int, now_ms: int) -> dict[str, Any]:
        """The kline event Binance sends at ``now_ms`` for the candle of ``symbol`` (a Binance
        id) opening at ``open_ms``: its values so far, ``x`` true once it has closed."""
        spec = self.fake.symbols[symbol]
        step, origin = INTERVALS[interval], _origin(interval)
        index = (open_ms - origin) // step
        row = self.fake._row(spec, interval, index, min(now_ms, open_ms + step))
        first = index * 10_000
        return {
            "e": "kline",
            "E": now_ms,
            "s": symbol,
            "k": {
                "t": row[0],
                "T": row[6],
                "s": symbol,
                "i": interval,
                "f": first,
                "L": first + max(row[8], 1) - 1,
                "o": row[1],
                "c": row[4],
                "h": row[2],
                "l": row[3],
                "v": row[5],
                "n": row[8],
                "x": now_ms >= open_ms + step,
                "q": row[7],
                "V": row[9],
                "Q": row[10],
                "B": "0",
            },
        }

    def push_kline(
        self, symbol: str, interval: str, open_ms: int, now_ms: int | None = None
    ) -> dict[str, Any]:
        """Send :meth:`kline` (as of ``now_ms``, default the fake's clock) to the subscribers of
        ``<symbol>@kline_<interval>``; returns the event."""
        event = self.kline(
            symbol, interval, open_ms, self.fake.clock_ms() if now_ms is None else now_ms
        )
        self.send(f"{symbol.lower()}@kline_{interval}", event)
        return event

    def send(self, stream: str, payload: Any) -> int:
        """Send ``payload`` to every connection subscribed to ``stream``; returns how many."""

        async def go() -> int:
            targets = [ws for ws, streams in list(self._subs.items()) if stream in streams]
            for ws in targets:
                await ws.send_json(payload)
            return len(targets)

        return self._call(go())


def binance_pro_config(fake: FakeBinance, stream: FakeBinanceStream, **config: Any):
    """:func:`binance_config` plus ccxt.pro's websocket URLs (every ``ws`` entry of ``api``,
    ``test`` and ``demo``) rebased on ``stream``: ``wss://stream.binance.com:9443/ws`` becomes
    ``ws://127.0.0.1:<port>/stream/ws`` (the host's first label becomes the first path segment),
    so only spot streams reach a served path."""
    import ccxt.pro as ccxt_pro

    settings = binance_config(fake, **config)
    pro_urls = ccxt_pro.binance().urls
    for key, urls in settings["urls"].items():
        ws = (pro_urls.get(key) or {}).get("ws")
        if ws is not None:
            urls["ws"] = _rebase_ws(ws, stream.base_url)
    return settings


def binance_pro_exchange(fake: FakeBinance, stream: FakeBinanceStream, **config: Any):
    """A ``ccxt.pro.binance`` built from :func:`binance_pro_config`, on the fake's clock like
    :func:`binance_exchange`. The caller closes it."""
    import ccxt.pro as ccxt_pro

    exchange = ccxt_pro.binance(binance_pro_config(fake, stream, **config))
    exchange.milliseconds = fake.clock_ms
    for url in _strings(exchange.urls.get("api")):
        if not url.startswith((fake.base_url, stream.base_url)):
            raise AssertionError(f"{url} does not point at the fakes")
    return exchange


def binance_pro_trading_exchange(
    fake: FakeBinance,
    stream: FakeBinanceStream,
    *,
    api_key: str | None = None,
    secret: str | None = None,
    **config: Any,
):
    """:func:`binance_pro_exchange` with credentials (the fake's own unless given): REST trading
    on ``fake`` and ``watch_orders``/``watch_my_trades``/``watch_balance`` through ``stream``'s
    WebSocket API (``userDataStream.subscribe.signature``). The caller closes it."""
    return binance_pro_exchange(
        fake,
        stream,
        apiKey=fake.api_key if api_key is None else api_key,
        secret=fake.secret if secret is None else secret,
        **config,
    )


def _rebase_ws(value: Any, base: str) -> Any:
    if isinstance(value, dict):
        return {k: _rebase_ws(v, base) for k, v in value.items()}
    if isinstance(value, str) and value.startswith(("ws://", "wss://")):
        url = urlsplit(value)
        return f"{base}/{(url.hostname or '').split('.')[0]}{url.path}"
    return value
