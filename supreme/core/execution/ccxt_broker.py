"""A :class:`~supreme.core.execution.broker.Broker` over a ready ccxt async exchange.

This increment trades market and limit orders and learns about fills by polling
(:meth:`CcxtBroker.poll`): each new trade of an order this broker submitted is pushed once to
the report handler, as the fill report :class:`~supreme.core.execution.paper.PaperBroker`
pushes (status PARTIALLY_FILLED, or FILLED for the fill that completes the order).

``submit`` answers with the acknowledgement only (SUBMITTED with the venue order id, or
REJECTED with the venue's reason); even an order the venue filled at once gets its fills
through :meth:`poll`. When the connection fails during a submit the order's fate is unknown:
the broker first looks the order up by its client order id and, only when the venue does not
have it, sends it once more under the same client order id.

Not done yet: tracking through ``watch_orders``, reconciliation of orders from an earlier
session (only orders submitted through this instance are polled), wiring into the execution
actor.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from typing import Any

import ccxt.async_support as ccxt_async

from supreme.core.errors import NotFound
from supreme.core.execution.broker import ExecutionReport, ReportHandler
from supreme.core.execution.state import apply_fill, transition
from supreme.core.model import Fill, Order, OrderStatus, OrderType, Side, TimeInForce

__all__ = ["CcxtBroker"]

_TIME_IN_FORCE = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}
_SECRET_QUERY = re.compile(r"(signature|apiKey|secret|X-MBX-APIKEY)=[^&\s\"']*", re.IGNORECASE)


class CcxtBroker:
    """Trades through ``exchange`` (a ``ccxt.async_support`` instance with credentials).

    The caller owns the exchange (and closes it). ``retries`` bounds the retries after a rate
    limit (``RateLimitExceeded`` / ``DDoSProtection``), waiting ``backoff_s * 2**attempt``.
    """

    def __init__(self, exchange: Any, *, retries: int = 3, backoff_s: float = 0.2) -> None:
        self._exchange = exchange
        self.venue = str(getattr(exchange, "id", "ccxt"))
        self._retries = retries
        self._backoff_s = backoff_s
        self._markets_loaded = False
        self._handler: ReportHandler | None = None
        self._orders: dict[str, Order] = {}  # client id -> our view, for orders sent here
        self._by_venue_id: dict[str, str] = {}  # venue order id -> client id
        self._seen_trades: set[tuple[str, str]] = set()  # (symbol, trade id) delivered
        self._last_trade_id: dict[str, int] = {}  # symbol -> highest trade id seen

    def __repr__(self) -> str:  # never the exchange: its repr could carry credentials
        return f"CcxtBroker(venue={self.venue!r}, tracked={len(self._orders)})"

    # -- Broker protocol -----------------------------------------------------------------------

    def set_report_handler(self, callback: ReportHandler | None) -> None:
        self._handler = callback

    async def submit(self, order: Order) -> ExecutionReport:
        cid = order.client_order_id
        now = self._now()
        if order.order_type not in (OrderType.MARKET, OrderType.LIMIT):
            return self._rejected(
                cid, now, f"{order.order_type.value} orders are not supported yet"
            )
        if order.order_type is OrderType.LIMIT and order.time_in_force not in _TIME_IN_FORCE:
            return self._rejected(
                cid, now, f"time in force {order.time_in_force.value} is not supported yet"
            )
        try:
            await self._load_markets()
            amount = float(self._exchange.amount_to_precision(order.symbol, order.quantity))
            price = None
            params: dict[str, Any] = {"clientOrderId": cid}
            if order.order_type is OrderType.LIMIT:
                price = float(self._exchange.price_to_precision(order.symbol, order.limit_price))
                params["timeInForce"] = _TIME_IN_FORCE[order.time_in_force]
        except (ccxt_async.InvalidOrder, ccxt_async.BadRequest) as exc:
            return self._rejected(cid, now, _reason(exc, self._exchange))
        args = (order.symbol, order.order_type.value.lower(), order.side.value.lower(), amount)
        try:
            placed = await self._with_backoff(self._exchange.create_order, *args, price, params)
        except (ccxt_async.InsufficientFunds, ccxt_async.InvalidOrder, ccxt_async.BadRequest) as e:
            return self._rejected(cid, now, _reason(e, self._exchange))
        except ccxt_async.NetworkError:
            # Unknown fate: ask the venue before anything else; resubmit only if it has nothing.
            placed = await self._lookup(order.symbol, cid)
            if placed is None:
                try:
                    placed = await self._with_backoff(
                        self._exchange.create_order, *args, price, params
                    )
                except (
                    ccxt_async.InsufficientFunds,
                    ccxt_async.InvalidOrder,
                    ccxt_async.BadRequest,
                ) as e:
                    return self._rejected(cid, now, _reason(e, self._exchange))
        return self._acknowledge(order, placed)

    async def cancel(self, client_order_id: str) -> ExecutionReport:
        tracked = self._orders.get(client_order_id)
        if tracked is None:
            raise NotFound(f"{self.venue} broker has no order {client_order_id!r}")
        try:
            answer = await self._with_backoff(
                self._exchange.cancel_order,
                None,
                tracked.symbol,
                {"origClientOrderId": client_order_id},
            )
        except ccxt_async.OrderNotFound as exc:
            why = _reason(exc, self._exchange)
            raise NotFound(f"{self.venue} has no open order {client_order_id!r}: {why}") from None
        await self._poll_symbol(tracked.symbol)  # fills before the cancel come first
        now = _int(answer.get("lastUpdateTimestamp") or answer.get("timestamp")) or self._now()
        tracked = self._orders.get(client_order_id, tracked)
        if tracked.is_open:
            self._orders[client_order_id] = transition(
                tracked, OrderStatus.CANCELED, time_ms=max(now, tracked.updated_ms)
            )
        return ExecutionReport(
            client_order_id,
            OrderStatus.CANCELED,
            now,
            venue_order_id=tracked.venue_order_id,
            reason="canceled",
        )

    async def fetch_order(self, client_order_id: str) -> Order | None:
        tracked = self._orders.get(client_order_id)
        if tracked is None:
            return None  # the venue needs the symbol; orders of earlier sessions: not yet
        found = await self._lookup(tracked.symbol, client_order_id)
        return None if found is None else self._to_order(found, tracked)

    async def open_orders(self) -> list[Order]:
        await self._load_markets()
        symbols = sorted({o.symbol for o in self._orders.values() if o.is_open})
        result: list[Order] = []
        for symbol in symbols:
            for raw in await self._with_backoff(self._exchange.fetch_open_orders, symbol):
                result.append(self._to_order(raw, self._orders.get(raw.get("clientOrderId"))))
        return result

    # -- polling -------------------------------------------------------------------------------

    async def poll(self) -> list[ExecutionReport]:
        """Deliver each new fill of the orders sent here once, to the handler; returns them."""
        reports: list[ExecutionReport] = []
        for symbol in sorted({o.symbol for o in self._orders.values() if o.is_open}):
            reports.extend(await self._poll_symbol(symbol))
        return reports

    async def _poll_symbol(self, symbol: str) -> list[ExecutionReport]:
        last = self._last_trade_id.get(symbol)
        if last is None:
            since = min(o.created_ms for o in self._orders.values() if o.symbol == symbol)
            trades = await self._with_backoff(self._exchange.fetch_my_trades, symbol, since)
        else:
            trades = await self._with_backoff(
                self._exchange.fetch_my_trades, symbol, None, None, {"fromId": last + 1}
            )
        reports: list[ExecutionReport] = []
        for trade in sorted(trades, key=lambda t: (_int(t.get("timestamp")), str(t.get("id")))):
            trade_id = str(trade.get("id"))
            if trade_id.isdigit():
                self._last_trade_id[symbol] = max(self._last_trade_id.get(symbol, 0), int(trade_id))
            key = (symbol, trade_id)
            cid = self._by_venue_id.get(str(trade.get("order")))
            if key in self._seen_trades or cid is None:
                continue
            self._seen_trades.add(key)
            order = self._orders[cid]
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
            report = ExecutionReport(
                cid,
                OrderStatus.FILLED if order.status is OrderStatus.FILLED else _fill_status(order),
                fill.time_ms,
                fill=fill,
                venue_order_id=order.venue_order_id,
            )
            reports.append(report)
            if self._handler is not None:
                self._handler(report)
        return reports

    # -- helpers -------------------------------------------------------------------------------

    async def _load_markets(self) -> None:
        if not self._markets_loaded:
            await self._with_backoff(self._exchange.load_markets)
            self._markets_loaded = True

    async def _with_backoff(self, call: Any, *args: Any) -> Any:
        for attempt in range(self._retries + 1):
            try:
                return await call(*args)
            except (ccxt_async.RateLimitExceeded, ccxt_async.DDoSProtection):
                if attempt == self._retries:
                    raise
                await asyncio.sleep(self._backoff_s * 2**attempt)
        raise AssertionError("unreachable")

    async def _lookup(self, symbol: str, client_order_id: str) -> dict[str, Any] | None:
        try:
            return await self._with_backoff(
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
        if order.status is OrderStatus.NEW:
            held = transition(
                replace(order, created_ms=created),
                OrderStatus.SUBMITTED,
                time_ms=max(now, order.updated_ms),
                venue_order_id=venue_id,
            )
        else:  # re-submission of an order that was already working before a restart
            held = replace(order, created_ms=created, venue_order_id=venue_id)
        self._orders[cid] = held
        self._by_venue_id[venue_id] = cid
        return ExecutionReport(cid, OrderStatus.SUBMITTED, now, venue_order_id=venue_id)

    def _to_order(self, raw: dict[str, Any], tracked: Order | None) -> Order:
        amount = _float(raw.get("amount"))
        filled = min(_float(raw.get("filled")), amount)
        side = Side.BUY if raw.get("side") == "buy" else Side.SELL
        order_type = OrderType.LIMIT if raw.get("type") == "limit" else OrderType.MARKET
        timestamp = _int(raw.get("timestamp"))
        updated = _int(raw.get("lastUpdateTimestamp")) or timestamp
        fee = raw.get("fee") or {}
        return Order(
            client_order_id=str(raw.get("clientOrderId") or raw["id"]),
            symbol=tracked.symbol if tracked else str(raw["symbol"]),
            side=side,
            quantity=amount,
            order_type=order_type,
            limit_price=_float(raw.get("price")) if order_type is OrderType.LIMIT else None,
            time_in_force=tracked.time_in_force if tracked else TimeInForce.GTC,
            strategy=tracked.strategy if tracked else "manual",
            status=_status(raw),
            filled_quantity=filled,
            average_fill_price=_float(raw.get("average")),
            fees=_float(fee.get("cost")) if isinstance(fee, dict) else 0.0,
            created_ms=timestamp,
            updated_ms=max(updated, timestamp),
            venue_order_id=str(raw["id"]),
        )

    def _rejected(self, cid: str, now: int, reason: str) -> ExecutionReport:
        return ExecutionReport(cid, OrderStatus.REJECTED, now, reason=reason)

    def _now(self) -> int:
        return int(self._exchange.milliseconds())


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


def _fill_status(order: Order) -> OrderStatus:
    # A late fill of a canceled/expired order still reports as a partial fill.
    return OrderStatus.FILLED if order.remaining_quantity == 0 else OrderStatus.PARTIALLY_FILLED


def _fee_in_quote(trade: dict[str, Any], symbol: str) -> float:
    fee = trade.get("fee") or {}
    cost = _float(fee.get("cost"))
    base = symbol.split("/")[0]
    if fee.get("currency") == base:  # charged in the base asset: value it at the fill price
        return cost * _float(trade.get("price"))
    return cost


def _reason(exc: BaseException, exchange: Any) -> str:
    text = _SECRET_QUERY.sub(r"\1=***", str(exc))
    for name in ("apiKey", "secret", "password", "uid"):
        value = getattr(exchange, name, None)
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def _float(value: Any) -> float:
    return 0.0 if value is None else float(value)


def _int(value: Any) -> int:
    return 0 if value is None else int(value)
