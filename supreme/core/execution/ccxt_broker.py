"""A :class:`~supreme.core.execution.broker.Broker` over a ccxt async exchange.

**Orders.** Market, limit and stop orders (a stop with a limit price is a stop-limit), with
the amount and prices rounded by ccxt's ``amount_to_precision`` / ``price_to_precision`` and
our client order id sent in the venue's own field (ccxt's ``clientOrderId`` param, which it
maps to ``newClientOrderId`` on Binance). ``submit`` answers with the acknowledgement only
(SUBMITTED with the venue order id, or REJECTED with the venue's reason); fills and status
changes come later, through the report handler.

**Tracking.** Every order this broker submitted, or was told about (:meth:`CcxtBroker.track`:
journaled orders of an earlier session, adopted external orders), is followed until it ends:

* :meth:`CcxtBroker.poll` fetches the new trades of every symbol with open orders (from the
  last trade id seen) and the venue's open orders; an order that left the open list is looked
  up, so a cancel or an expiry by the venue moves the state machine too;
* :meth:`CcxtBroker.watch` (where the exchange has ``watchMyTrades`` / ``watchOrders``, i.e. a
  ``ccxt.pro`` instance) takes the same trades and order updates from the venue's user-data
  stream as they happen; polling then remains the safety net that catches anything a dropped
  stream missed. Both paths go through the same code, and each trade is delivered once.

**Unknown fate.** When the connection fails during a submit (``NetworkError``, which includes
``RequestTimeout``), the order may or may not exist. The broker looks it up by client order
id. Found: it is acknowledged. Not found, or the lookup failed too: the order is *in doubt*
and ``submit`` raises :class:`~supreme.core.errors.Unavailable`; it is never sent again. The
next polls look it up until the venue's validity window for the original request has passed
(``unknown_fate_ms``, by default ccxt's ``recvWindow`` plus 2 s: a request signed before then
can no longer be accepted); still absent, it is reported REJECTED ("never reached the venue").

**Errors.** An ``ExchangeError`` on submit (``InsufficientFunds``, ``InvalidOrder``,
``BadRequest``, a permission error...) means the venue answered with a refusal: REJECTED with
the venue's reason (credentials scrubbed). Rate limits (``RateLimitExceeded``,
``DDoSProtection``) back off and retry. Every ``ExchangeNotAvailable`` and every rejection is
reported to ``on_venue_error`` (the execution actor passes them to the risk engine's
error-burst breaker).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import ccxt.async_support as ccxt_async
from ccxt.base.decimal_to_precision import TICK_SIZE

from supreme.core.errors import NotFound, Unavailable
from supreme.core.execution.broker import ExecutionReport, ReportHandler
from supreme.core.execution.state import apply_fill, transition
from supreme.core.model import (
    Fill,
    Instrument,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)

__all__ = ["EXTERNAL_STRATEGY", "CcxtBroker", "scrub"]

log = logging.getLogger(__name__)

EXTERNAL_STRATEGY = "external"  # the strategy of orders adopted from the venue

_TIME_IN_FORCE = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}
_SECRET_QUERY = re.compile(r"(signature|apiKey|secret|X-MBX-APIKEY)=[^&\s\"']*", re.IGNORECASE)
_REJECTIONS = (ccxt_async.InsufficientFunds, ccxt_async.InvalidOrder, ccxt_async.BadRequest)


@dataclass(slots=True)
class _InDoubt:
    first_ms: int  # when the fate first was unknown (wall clock of the venue, as ccxt reads it)


class CcxtBroker:
    """Trades through ``exchange`` (a ``ccxt.async_support`` or ``ccxt.pro`` instance with
    credentials). The caller owns the exchange (and closes it).

    ``retries`` bounds the retries after a rate limit, waiting ``backoff_s * 2**attempt``.
    ``on_venue_error(reason)`` hears of every venue outage and rejection.
    """

    def __init__(
        self,
        exchange: Any,
        *,
        retries: int = 3,
        backoff_s: float = 0.2,
        unknown_fate_ms: int | None = None,
        on_venue_error: Callable[[str], None] | None = None,
    ) -> None:
        self._exchange = exchange
        self.venue = str(getattr(exchange, "id", "ccxt"))
        self._retries = retries
        self._backoff_s = backoff_s
        window = int((getattr(exchange, "options", None) or {}).get("recvWindow", 10_000))
        self.unknown_fate_ms = window + 2_000 if unknown_fate_ms is None else unknown_fate_ms
        self._on_venue_error = on_venue_error
        self._markets_loaded = False
        self._handler: ReportHandler | None = None
        self._orders: dict[str, Order] = {}  # client id -> our view, while the order is open
        self._by_venue_id: dict[str, str] = {}  # venue order id -> client id
        self._delivered: dict[str, set[str]] = {}  # client id -> trade ids delivered
        self._last_trade_id: dict[str, int] = {}  # symbol -> highest trade id polled
        self._in_doubt: dict[str, _InDoubt] = {}  # client id -> fate unknown since
        self._external_ids: dict[str, str] = {}  # external client id -> venue id, until adopted
        self._symbol_of: dict[str, str] = {}  # every client id followed, ended ones too
        self.venue_errors = 0

    def __repr__(self) -> str:  # never the exchange: its repr could carry credentials
        return f"CcxtBroker(venue={self.venue!r}, tracked={len(self._orders)})"

    # -- Broker protocol -----------------------------------------------------------------------

    def set_report_handler(self, callback: ReportHandler | None) -> None:
        self._handler = callback

    async def submit(self, order: Order) -> ExecutionReport:
        cid = order.client_order_id
        now = self._now()
        try:
            await self._load_markets()
            args = self._order_args(order)
        except _REJECTIONS as exc:
            return self._rejected(cid, now, scrub(exc, self._exchange))
        except _Unsupported as exc:
            return self._rejected(cid, now, str(exc))
        try:
            placed = await self._call(self._exchange.create_order, *args)
        except ccxt_async.ExchangeError as exc:
            # The venue answered, with a refusal (funds, filters, permissions...): not placed.
            return self._rejected(cid, now, scrub(exc, self._exchange))
        except ccxt_async.NetworkError as exc:
            # Unknown fate: ask the venue. It is never sent again (see the module docstring).
            why = scrub(exc, self._exchange)
            try:
                placed = await self._lookup(order.symbol, cid)
            except ccxt_async.NetworkError:
                placed = None
            if placed is None:
                self._orders[cid] = order
                self._symbol_of[cid] = order.symbol
                self._in_doubt[cid] = _InDoubt(now)
                raise Unavailable(
                    f"{self.venue} did not answer the submit of {cid!r} ({why}); the order's "
                    "fate is unknown: it is looked up by client order id and never sent twice"
                ) from None
        return self._acknowledge(order, placed)

    async def cancel(self, client_order_id: str) -> ExecutionReport:
        tracked = self._orders.get(client_order_id)
        if tracked is None or client_order_id in self._in_doubt:
            raise NotFound(f"{self.venue} broker has no working order {client_order_id!r}")
        try:
            answer = await self._call(
                self._exchange.cancel_order,
                None,
                tracked.symbol,
                {"origClientOrderId": client_order_id},
            )
        except ccxt_async.OrderNotFound as exc:
            why = scrub(exc, self._exchange)
            raise NotFound(f"{self.venue} has no open order {client_order_id!r}: {why}") from None
        await self._poll_trades(tracked.symbol)  # fills before the cancel come first
        now = _int(answer.get("lastUpdateTimestamp") or answer.get("timestamp")) or self._now()
        tracked = self._orders.pop(client_order_id, tracked)
        self._forget(client_order_id)
        return ExecutionReport(
            client_order_id,
            OrderStatus.CANCELED,
            max(now, tracked.updated_ms),
            venue_order_id=tracked.venue_order_id,
            reason="canceled",
        )

    async def fetch_order(self, client_order_id: str) -> Order | None:
        tracked = self._orders.get(client_order_id)
        symbol = self._symbol_of.get(client_order_id)
        if symbol is None:
            return None  # the venue needs the symbol: track() the order first
        found = await self._lookup(symbol, client_order_id)
        return None if found is None else self._to_order(found, tracked)

    async def open_orders(self) -> list[Order]:
        await self._load_markets()
        symbols = sorted({o.symbol for o in self._orders.values()})
        result: list[Order] = []
        for symbol in symbols:
            for raw in await self._call(self._exchange.fetch_open_orders, symbol):
                result.append(self._to_order(raw, self._orders.get(raw.get("clientOrderId"))))
        return result

    # -- orders of earlier sessions and of other clients -----------------------------------------

    def track(self, order: Order) -> None:
        """Follow ``order`` (journaled by an earlier session) from now on; an order without a
        venue order id (written but never acknowledged) is in doubt until looked up."""
        self._orders[order.client_order_id] = order
        self._symbol_of[order.client_order_id] = order.symbol
        if order.venue_order_id is not None:
            self._by_venue_id[order.venue_order_id] = order.client_order_id
        else:
            self._in_doubt[order.client_order_id] = _InDoubt(self._now())

    def untrack(self, client_order_id: str) -> None:
        """Stop following an order (the venue does not know it)."""
        self._orders.pop(client_order_id, None)
        self._forget(client_order_id)

    @property
    def tracked(self) -> list[str]:
        """Client ids of the orders followed, open or in doubt."""
        return list(self._orders)

    async def sync(self, client_order_id: str) -> tuple[bool, list[ExecutionReport]]:
        """Bring a tracked order up to date with the venue: the acknowledgement if it was
        missing, every trade not delivered yet, and its end (CANCELED / EXPIRED / REJECTED).
        Returns whether the venue knows the order, and the reports (also pushed to the
        handler)."""
        tracked = self._orders.get(client_order_id)
        if tracked is None:
            raise NotFound(f"{self.venue} broker does not track {client_order_id!r}")
        venue_id = self._external_ids.get(client_order_id)
        if venue_id is not None:  # adopted: the venue may not index it by a client id
            try:
                raw = await self._call(self._exchange.fetch_order, venue_id, tracked.symbol)
            except ccxt_async.OrderNotFound:
                raw = None
        else:
            raw = await self._lookup(tracked.symbol, client_order_id)
        if raw is None:
            return False, []
        return True, await self._catch_up(client_order_id, raw)

    async def external_orders(self, is_known: Callable[[str], bool]) -> list[Order]:
        """Open orders on the venue that neither this broker follows nor ``is_known`` (the
        journal) has heard of, as NEW orders of strategy ``external``; :meth:`adopt` one to
        follow it."""
        await self._load_markets()
        # One heavier request across all symbols, once at start, instead of one per market;
        # ccxt refuses it until told that this is deliberate.
        self._exchange.options["warnOnFetchOpenOrdersWithoutSymbol"] = False
        raws = await self._call(self._exchange.fetch_open_orders)
        found = []
        for raw in raws:
            cid = str(raw.get("clientOrderId") or f"{self.venue}-{raw['id']}")
            if cid in self._orders or is_known(cid):
                continue
            order = self._to_order(raw, None)
            found.append(
                replace(
                    order,
                    client_order_id=cid,
                    strategy=EXTERNAL_STRATEGY,
                    status=OrderStatus.NEW,
                    filled_quantity=0.0,
                    average_fill_price=0.0,
                    fees=0.0,
                    venue_order_id=None,
                    reason="adopted: placed on the venue outside Supreme",
                )
            )
            self._external_ids[cid] = str(raw["id"])
        return found

    def adopt(self, order: Order) -> None:
        """Follow an order returned by :meth:`external_orders`; :meth:`sync` then reports its
        venue id, its fills so far and, if it ended, its end."""
        if order.client_order_id not in self._external_ids:
            raise NotFound(f"{order.client_order_id!r} is not an external order found here")
        self._orders[order.client_order_id] = order
        self._symbol_of[order.client_order_id] = order.symbol

    async def balances(self) -> dict[str, float]:
        """The account's total balance per asset (free plus locked), zero balances left out."""
        raw = await self._call(self._exchange.fetch_balance)
        totals = raw.get("total") or {}
        return {str(a): float(v) for a, v in totals.items() if v is not None and float(v) != 0.0}

    async def instruments(self, symbols: Iterable[str] | None = None) -> list[Instrument]:
        """Tick and lot sizes, minimum amount and notional of ``symbols`` (every market when
        None) from ``load_markets``."""
        await self._load_markets()
        markets = self._exchange.markets or {}
        chosen = list(markets) if symbols is None else [s for s in symbols if s in markets]
        return [self._instrument(markets[s]) for s in chosen]

    def assets(self, symbol: str) -> tuple[str, str]:
        """``symbol``'s base and quote assets, as the venue names them in balances."""
        market = (self._exchange.markets or {}).get(symbol)
        if market is not None:
            return str(market["base"]), str(market["quote"])
        base, _, quote = symbol.partition("/")
        return base, quote.split(":")[0]

    # -- tracking ------------------------------------------------------------------------------

    async def poll(self) -> list[ExecutionReport]:
        """One round of tracking by REST: in-doubt orders looked up, new trades of every symbol
        with open orders delivered once, and orders that left the venue's open list ended.
        Returns the reports (also pushed to the handler)."""
        reports: list[ExecutionReport] = []
        for cid in list(self._in_doubt):
            reports.extend(await self._resolve(cid))
        symbols = sorted({o.symbol for c, o in self._orders.items() if c not in self._in_doubt})
        for symbol in symbols:
            reports.extend(await self._poll_trades(symbol))
            reports.extend(await self._poll_open(symbol))
        return reports

    @property
    def can_watch(self) -> bool:
        has = getattr(self._exchange, "has", {}) or {}
        return bool(has.get("watchMyTrades")) and bool(has.get("watchOrders"))

    async def watch(self) -> None:
        """Follow the user-data stream until cancelled: trades and order updates are applied as
        they arrive (see the module docstring). Stream errors are logged and retried with
        backoff; polling covers the gap."""
        await asyncio.gather(self._watch_loop("trades"), self._watch_loop("orders"))

    async def _watch_loop(self, what: str) -> None:
        delay = self._backoff_s
        while True:
            try:
                if what == "trades":
                    items = await self._exchange.watch_my_trades()
                    for symbol in sorted({str(t.get("symbol")) for t in items}):
                        self._ingest_trades(symbol, [t for t in items if t.get("symbol") == symbol])
                else:
                    for raw in await self._exchange.watch_orders():
                        self._ingest_status(raw)
                delay = self._backoff_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any stream failure: back off; polling covers
                log.warning(
                    "%s %s stream failed, retrying in %.1f s: %s",
                    self.venue,
                    what,
                    delay,
                    scrub(exc, self._exchange),
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _resolve(self, cid: str) -> list[ExecutionReport]:
        order = self._orders[cid]
        doubt = self._in_doubt[cid]
        try:
            raw = await self._lookup(order.symbol, cid)
        except ccxt_async.NetworkError:
            return []  # still unknown; the next poll asks again
        if raw is not None:
            return await self._catch_up(cid, raw)
        now = self._now()
        if now - doubt.first_ms < self.unknown_fate_ms:
            return []
        del self._in_doubt[cid]
        self._orders.pop(cid, None)
        report = ExecutionReport(
            cid,
            OrderStatus.REJECTED,
            now,
            reason=f"never reached {self.venue}: not found by client order id "
            f"{(now - doubt.first_ms) / 1000:.1f} s after its fate became unknown",
        )
        self._push(report)
        return [report]

    async def _catch_up(self, cid: str, raw: dict[str, Any]) -> list[ExecutionReport]:
        """Reports that take the tracked order ``cid`` to the venue's view ``raw``."""
        reports: list[ExecutionReport] = []
        order = self._orders[cid]
        venue_id = str(raw["id"])
        self._in_doubt.pop(cid, None)
        self._external_ids.pop(cid, None)
        if order.venue_order_id is None:
            order = self._orders[cid] = replace(order, venue_order_id=venue_id)
            self._by_venue_id[venue_id] = cid
            at = _int(raw.get("timestamp")) or self._now()
            report = ExecutionReport(cid, OrderStatus.SUBMITTED, at, venue_order_id=venue_id)
            self._push(report)
            reports.append(report)
        if _float(raw.get("filled")) > order.filled_quantity * (1 + 1e-12):
            trades = await self._call(
                self._exchange.fetch_my_trades, order.symbol, None, None, {"orderId": venue_id}
            )
            reports.extend(self._ingest_trades(order.symbol, trades))
        reports.extend(self._ingest_status(raw))
        return reports

    async def _poll_trades(self, symbol: str) -> list[ExecutionReport]:
        last = self._last_trade_id.get(symbol)
        if last is None:
            since = min(o.created_ms for o in self._orders.values() if o.symbol == symbol)
            trades = await self._call(self._exchange.fetch_my_trades, symbol, since)
        else:
            trades = await self._call(
                self._exchange.fetch_my_trades, symbol, None, None, {"fromId": last + 1}
            )
        for trade in trades:
            trade_id = str(trade.get("id"))
            if trade_id.isdigit():
                self._last_trade_id[symbol] = max(self._last_trade_id.get(symbol, 0), int(trade_id))
        return self._ingest_trades(symbol, trades)

    async def _poll_open(self, symbol: str) -> list[ExecutionReport]:
        """End the tracked orders of ``symbol`` that are no longer open on the venue."""
        listed = await self._call(self._exchange.fetch_open_orders, symbol)
        open_ids = {str(raw.get("id")) for raw in listed}
        reports: list[ExecutionReport] = []
        for cid, order in list(self._orders.items()):
            if order.symbol != symbol or cid in self._in_doubt or order.venue_order_id in open_ids:
                continue
            raw = await self._lookup(symbol, cid)
            if raw is not None:
                reports.extend(await self._catch_up(cid, raw))
        return reports

    def _ingest_trades(self, symbol: str, trades: list[dict[str, Any]]) -> list[ExecutionReport]:
        """Fill reports for the trades of tracked orders not delivered yet, oldest first."""
        reports: list[ExecutionReport] = []
        for trade in sorted(trades, key=lambda t: (_int(t.get("timestamp")), str(t.get("id")))):
            cid = self._by_venue_id.get(str(trade.get("order")))
            order = self._orders.get(cid) if cid is not None else None
            if order is None:
                continue
            trade_id = str(trade.get("id"))
            delivered = self._delivered.setdefault(cid, set())
            if trade_id in delivered:
                continue
            delivered.add(trade_id)
            fill = Fill(
                fill_id=f"{self.venue}-{symbol}-{trade_id}",
                client_order_id=cid,
                symbol=order.symbol,
                side=order.side,
                quantity=float(trade["amount"]),
                price=float(trade["price"]),
                fee=_fee_in_quote(trade, symbol),
                time_ms=_int(trade.get("timestamp")) or self._now(),
                strategy=order.strategy,
            )
            order = apply_fill(order, fill, allow_terminal=True)
            self._orders[cid] = order
            status = (
                OrderStatus.FILLED
                if order.status is OrderStatus.FILLED
                else OrderStatus.PARTIALLY_FILLED
            )
            report = ExecutionReport(
                cid, status, fill.time_ms, fill=fill, venue_order_id=order.venue_order_id
            )
            self._push(report)
            reports.append(report)
            if status is OrderStatus.FILLED:
                self._orders.pop(cid, None)
                self._forget(cid)
        return reports

    def _ingest_status(self, raw: dict[str, Any]) -> list[ExecutionReport]:
        """The end of a tracked order the venue canceled, expired or rejected (an order that
        filled ends with its last fill instead)."""
        cid = self._by_venue_id.get(str(raw.get("id")))
        order = self._orders.get(cid) if cid is not None else None
        status = _status(raw)
        if order is None or status not in (
            OrderStatus.CANCELED,
            OrderStatus.EXPIRED,
            OrderStatus.REJECTED,
        ):
            return []
        if _float(raw.get("filled")) > order.filled_quantity * (1 + 1e-9) + 1e-12:
            return []  # trades still to come: the next poll delivers them, then the end
        at = _int(raw.get("lastUpdateTimestamp") or raw.get("timestamp")) or self._now()
        self._orders.pop(cid, None)
        self._forget(cid)
        report = ExecutionReport(
            cid,
            status,
            max(at, order.updated_ms),
            venue_order_id=order.venue_order_id,
            reason=f"the venue reports the order {raw.get('status')}",
        )
        self._push(report)
        return [report]

    # -- helpers -------------------------------------------------------------------------------

    def _order_args(self, order: Order) -> tuple[Any, ...]:
        exchange, symbol = self._exchange, order.symbol
        has = getattr(exchange, "has", {}) or {}
        amount = float(exchange.amount_to_precision(symbol, order.quantity))
        params: dict[str, Any] = {"clientOrderId": order.client_order_id}
        price = None
        kind = order.order_type
        if order.limit_price is not None and kind in (OrderType.LIMIT, OrderType.STOP):
            price = float(exchange.price_to_precision(symbol, order.limit_price))
            if order.time_in_force not in _TIME_IN_FORCE:
                raise _Unsupported(
                    f"time in force {order.time_in_force.value} is not supported on {self.venue}"
                )
            params["timeInForce"] = _TIME_IN_FORCE[order.time_in_force]
        if kind is OrderType.STOP:
            if not (has.get("createStopLossOrder") or has.get("createStopOrder")):
                raise _Unsupported(f"{self.venue} does not take stop orders through ccxt")
            params["stopLossPrice"] = float(exchange.price_to_precision(symbol, order.stop_price))
            ccxt_type = "limit" if price is not None else "market"
        else:
            ccxt_type = kind.value.lower()
        return (symbol, ccxt_type, order.side.value.lower(), amount, price, params)

    def _instrument(self, market: dict[str, Any]) -> Instrument:
        precision = market.get("precision") or {}
        limits = market.get("limits") or {}

        def step(value: Any) -> float:
            if value is None:
                return 0.0
            if self._exchange.precisionMode == TICK_SIZE:
                return float(value)
            return 10.0 ** -float(value)

        return Instrument(
            symbol=str(market["symbol"]),
            price_increment=step(precision.get("price")),
            quantity_increment=step(precision.get("amount")),
            min_quantity=_float((limits.get("amount") or {}).get("min")),
            min_notional=_float((limits.get("cost") or {}).get("min")),
        )

    async def _load_markets(self) -> None:
        if not self._markets_loaded:
            await self._call(self._exchange.load_markets)
            self._markets_loaded = True

    async def _call(self, call: Any, *args: Any) -> Any:
        """``call(*args)``, retried with backoff after a rate limit; outages are reported."""
        for attempt in range(self._retries + 1):
            try:
                return await call(*args)
            except (ccxt_async.RateLimitExceeded, ccxt_async.DDoSProtection):
                if attempt == self._retries:
                    raise
                await asyncio.sleep(self._backoff_s * 2**attempt)
            except ccxt_async.ExchangeNotAvailable as exc:
                self._venue_error(f"{self.venue} not available: {scrub(exc, self._exchange)}")
                raise
        raise AssertionError("unreachable")

    async def _lookup(self, symbol: str, client_order_id: str) -> dict[str, Any] | None:
        try:
            return await self._call(
                self._exchange.fetch_order, None, symbol, {"origClientOrderId": client_order_id}
            )
        except ccxt_async.OrderNotFound:
            return None

    def _acknowledge(self, order: Order, placed: dict[str, Any]) -> ExecutionReport:
        cid = order.client_order_id
        venue_id = str(placed["id"])
        now = _int(placed.get("timestamp")) or self._now()
        status = _status(placed)
        ended = status in (OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED)
        if ended and _float(placed.get("filled")) <= 0:  # ended without trading: say so now
            reason = f"the venue reports the order {placed.get('status')}"
            return ExecutionReport(cid, status, now, venue_order_id=venue_id, reason=reason)
        created = min(order.created_ms, now) if order.created_ms else now  # poll from here
        held = transition(
            replace(order, created_ms=created),
            OrderStatus.SUBMITTED,
            time_ms=max(now, order.updated_ms),
            venue_order_id=venue_id,
        )
        self._orders[cid] = held
        self._symbol_of[cid] = held.symbol
        self._by_venue_id[venue_id] = cid
        return ExecutionReport(cid, OrderStatus.SUBMITTED, now, venue_order_id=venue_id)

    def _to_order(self, raw: dict[str, Any], tracked: Order | None) -> Order:
        amount = _float(raw.get("amount"))
        filled = min(_float(raw.get("filled")), amount)
        side = Side.BUY if raw.get("side") == "buy" else Side.SELL
        trigger = raw.get("triggerPrice") or raw.get("stopPrice")
        if trigger:
            order_type = OrderType.STOP
        else:
            order_type = OrderType.LIMIT if raw.get("type") == "limit" else OrderType.MARKET
        limit = _float(raw.get("price")) if raw.get("type") != "market" else 0.0
        timestamp = _int(raw.get("timestamp"))
        updated = _int(raw.get("lastUpdateTimestamp")) or timestamp
        fee = raw.get("fee") or {}
        return Order(
            client_order_id=str(raw.get("clientOrderId") or raw["id"]),
            symbol=tracked.symbol if tracked else str(raw["symbol"]),
            side=side,
            quantity=amount,
            order_type=order_type,
            limit_price=limit if limit > 0 and order_type is not OrderType.MARKET else None,
            stop_price=float(trigger) if trigger else None,
            time_in_force=tracked.time_in_force if tracked else TimeInForce.GTC,
            strategy=tracked.strategy if tracked else EXTERNAL_STRATEGY,
            status=_status(raw),
            filled_quantity=filled,
            average_fill_price=_float(raw.get("average")),
            fees=_float(fee.get("cost")) if isinstance(fee, dict) else 0.0,
            created_ms=timestamp,
            updated_ms=max(updated, timestamp),
            venue_order_id=str(raw["id"]),
        )

    def _forget(self, cid: str) -> None:
        self._delivered.pop(cid, None)
        self._in_doubt.pop(cid, None)
        self._external_ids.pop(cid, None)

    def _push(self, report: ExecutionReport) -> None:
        if self._handler is not None:
            self._handler(report)

    def _venue_error(self, reason: str) -> None:
        self.venue_errors += 1
        if self._on_venue_error is not None:
            try:
                self._on_venue_error(reason)
            except Exception:  # a failing listener must not fail the order path
                log.warning("venue error listener failed", exc_info=True)

    def _rejected(self, cid: str, now: int, reason: str) -> ExecutionReport:
        self._venue_error(f"{self.venue} rejected {cid!r}: {reason}")
        return ExecutionReport(cid, OrderStatus.REJECTED, now, reason=reason)

    def _now(self) -> int:
        return int(self._exchange.milliseconds())


class _Unsupported(Exception):
    """An order this venue cannot take (REJECTED before anything is sent)."""


def _status(raw: dict[str, Any]) -> OrderStatus:
    status = raw.get("status")
    if status == "closed":
        return OrderStatus.FILLED
    if status == "canceled":
        return OrderStatus.CANCELED
    if status == "expired":
        return OrderStatus.EXPIRED
    if status == "rejected":
        return OrderStatus.REJECTED
    return OrderStatus.PARTIALLY_FILLED if _float(raw.get("filled")) > 0 else OrderStatus.SUBMITTED


def _fee_in_quote(trade: dict[str, Any], symbol: str) -> float:
    fee = trade.get("fee") or {}
    cost = _float(fee.get("cost"))
    base = symbol.split("/")[0]
    if fee.get("currency") == base:  # charged in the base asset: value it at the fill price
        return cost * _float(trade.get("price"))
    return cost


def scrub(exc: BaseException, exchange: Any) -> str:
    """``exc``'s text without signatures, keys or the exchange's credentials."""
    text = _SECRET_QUERY.sub(r"\1=***", str(exc))
    for name in ("apiKey", "secret", "password", "uid"):
        value = getattr(exchange, name, None)
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def _float(value: Any) -> float:
    return 0.0 if value is None else float(value)


def _int(value: Any) -> int:
    # Venues use -1 for "not yet" (Binance's workingTime of an untriggered stop).
    return 0 if value is None else max(0, int(value))
