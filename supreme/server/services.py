"""gRPC servicers: validate the request, convert at the edge, call the pipeline, convert back.

Every method leaves through :mod:`supreme.server.errors`, so a malformed request gets
INVALID_ARGUMENT (or NOT_FOUND, FAILED_PRECONDITION, ...) with a message that says what was
expected, and never crashes the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc

from supreme._proto import (
    backtest_pb2,
    backtest_pb2_grpc,
    common_pb2,
    market_data_pb2,
    market_data_pb2_grpc,
    order_pb2,
    order_pb2_grpc,
    risk_pb2,
    risk_pb2_grpc,
    strategy_pb2,
    strategy_pb2_grpc,
)
from supreme.core.errors import InvalidArgument, NotFound, ResourceExhausted
from supreme.core.model import BarBatch, OrderIntent, OrderType
from supreme.core.shard import keys_for
from supreme.core.strategies import list_strategies
from supreme.logs import correlate, tag_task
from supreme.server import convert
from supreme.server.auth import current_principal
from supreme.server.errors import bounded, streaming, unary
from supreme.server.hub import CUT_OFF, QueueSubscriber

if TYPE_CHECKING:
    from supreme.server.app import Gateway

log = logging.getLogger("supreme.server")

# PublishBarsResponse lists at most this many rejections (all are counted).
MAX_LISTED_REJECTIONS = 1_000
MAX_SIGNAL_BATCH = 10_000


def principal_of(context: Any) -> str:
    """Who is calling, for the audit log: the id of the caller's token (never the token), set
    by the auth interceptor for this call; "local" when authentication is off."""
    return current_principal()


@contextlib.asynccontextmanager
async def _audited(
    gateway: Gateway, context: Any, what: str, subject: str, **details: Any
) -> AsyncIterator[dict[str, Any]]:
    """Audit the block as one line: its outcome is "ok", or the error it raised (re-raised).
    The block may add to the details it is given."""
    principal = principal_of(context)
    try:
        yield details
    except Exception as exc:
        _audit(gateway, principal, what, subject, details, f"error: {exc}")
        raise
    _audit(gateway, principal, what, subject, details)


def _audit(
    gateway: Gateway,
    principal: str,
    what: str,
    subject: str,
    details: dict[str, Any],
    outcome: str = "ok",
) -> None:
    if gateway.audit is not None:
        gateway.audit.record(principal, what, subject, details, outcome)


def _symbols(values: Any, field: str = "symbols") -> list[str]:
    symbols = list(dict.fromkeys(values))
    if not symbols:
        raise InvalidArgument(f"{field} must name at least one symbol")
    for symbol in symbols:
        if not symbol.strip():
            raise InvalidArgument(f"{field} must not contain an empty symbol")
    return symbols


def _params(values: Any) -> dict[str, float]:
    params = dict(values)
    for name, value in params.items():
        if not math.isfinite(value):
            raise InvalidArgument(f"parameter {name} must be a finite number, got {value}")
    return params


class MarketDataService(market_data_pb2_grpc.MarketDataServiceServicer):
    def __init__(self, gateway: Gateway) -> None:
        self._gw = gateway

    async def PublishBars(self, request_iterator, context):
        accepted = 0
        rejections = []
        by_reason: dict[str, int] = {}
        offset = 0
        try:
            async for request in request_iterator:
                parts = []
                if len(request.bars):
                    parts.append(convert.bars_to_columns(list(request.bars)))
                columns = request.columns
                if any(
                    len(getattr(columns, name))
                    for name in (
                        "time_unix_ms",
                        "symbols",
                        "open",
                        "high",
                        "low",
                        "close",
                        "volume",
                    )
                ):  # any column at all: all of them must be there (else INVALID_ARGUMENT)
                    parts.append(convert.columns_from_proto(request.columns, validate=False))
                if not parts:
                    continue
                batch = parts[0] if len(parts) == 1 else BarBatch.concat(parts)
                outcome = await self._gw.ingestor.submit(batch, index_offset=offset)
                offset += len(batch)
                accepted += outcome.accepted
                for rejection in outcome.rejections:
                    by_reason[rejection.code] = by_reason.get(rejection.code, 0) + 1
                    if len(rejections) < MAX_LISTED_REJECTIONS:
                        rejections.append(
                            market_data_pb2.BarRejection(
                                index=rejection.index,
                                symbol=rejection.symbol,
                                time_unix_ms=rejection.time_ms,
                                reason=f"{rejection.code}: {rejection.reason}",
                            )
                        )
        except grpc.aio.AbortError:
            raise
        except InvalidArgument as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, bounded(str(exc)))
        return market_data_pb2.PublishBarsResponse(
            accepted=accepted,
            rejected=sum(by_reason.values()),
            rejections=rejections,
            rejected_by_reason=by_reason,
        )

    @unary
    async def GetBars(self, request, context):
        symbol = _symbols([request.symbol], "symbol")[0]
        if request.limit < 0:
            raise InvalidArgument(f"limit must be >= 0, got {request.limit}")
        if self._gw.ingestor.last_time_ms(symbol) is None:
            raise NotFound(f"no bars seen for symbol {symbol!r}")
        await self._gw.ingestor.drain()
        batch = await self._gw.cluster.shard_for(symbol).history.remote(
            symbol, request.limit or None
        )
        return market_data_pb2.GetBarsResponse(bars=convert.columns_to_proto(batch))


class StrategyService(strategy_pb2_grpc.StrategyServiceServicer):
    def __init__(self, gateway: Gateway) -> None:
        self._gw = gateway

    @unary
    async def ListStrategies(self, request, context):
        return strategy_pb2.ListStrategiesResponse(
            strategies=[convert.strategy_info_to_proto(i) for i in list_strategies()]
        )

    @streaming
    async def SubscribeSignals(self, request, context) -> AsyncIterator[Any]:
        symbols = _symbols(request.symbols)
        if not request.strategy:
            raise InvalidArgument("strategy must name a strategy (see ListStrategies)")
        keys = keys_for(request.strategy, _params(request.params), symbols)
        if request.max_batch > MAX_SIGNAL_BATCH:
            raise InvalidArgument(
                f"max_batch must lie in [0, {MAX_SIGNAL_BATCH}], got {request.max_batch}"
            )
        max_batch = request.max_batch
        gw = self._gw
        subscriber = QueueSubscriber(keys, gw.config.subscriber_queue_size)
        tag_task(subscriber.id)
        # Into the hub first, then into the shards: no signal produced after attaching is lost.
        gw.hub.add(subscriber)
        attached: list[Any] = []
        counted = False
        try:
            by_shard: dict[int, list[Any]] = {}
            for key in keys:
                by_shard.setdefault(gw.cluster.shard_index(key.symbol), []).append(key)
            # One call per owning shard, all shards at once. If one fails, every key is
            # detached again in `finally` (a key that was never attached is ignored there).
            attached = keys
            await asyncio.gather(
                *(gw.cluster.shards[i].attach_many.remote(ks) for i, ks in by_shard.items())
            )
            counted = True
            gw.subscriptions += 1
            log.info("subscription started: %s on %d symbol(s)", request.strategy, len(keys))
            yield strategy_pb2.SubscribeSignalsResponse(
                started=strategy_pb2.SubscriptionStarted(
                    subscription_id=subscriber.id,
                    params=keys[0].params_dict(),
                    symbols=[k.symbol for k in keys],
                )
            )
            queue = subscriber.queue
            while True:
                batch = [await queue.get()]
                while len(batch) < max_batch and batch[-1] is not CUT_OFF and not queue.empty():
                    batch.append(queue.get_nowait())
                cut_off = batch[-1] is CUT_OFF
                signals = batch[:-1] if cut_off else batch
                if signals and max_batch:
                    yield strategy_pb2.SubscribeSignalsResponse(
                        signals=strategy_pb2.SignalBatch(
                            signals=[convert.signal_to_proto(s) for s in signals]
                        )
                    )
                elif signals:
                    yield strategy_pb2.SubscribeSignalsResponse(
                        signal=convert.signal_to_proto(signals[0])
                    )
                if cut_off:
                    gw.cut_offs += 1
                    gw.metrics.subscribers_cut_off.inc()
                    raise ResourceExhausted(
                        f"subscriber {subscriber.id} fell more than "
                        f"{gw.config.subscriber_queue_size} signals behind and was cut off; "
                        "consume faster or subscribe to fewer symbols"
                    )
        finally:
            gw.hub.remove(subscriber)
            if counted:
                gw.subscriptions -= 1
                log.info("subscription ended%s", " (cut off)" if subscriber.cut_off else "")
            if attached:
                gw.detach_later(attached)

    @unary
    async def StartStrategy(self, request, context):
        symbols = _symbols(request.symbols)
        if not request.strategy:
            raise InvalidArgument("strategy must name a strategy (see ListStrategies)")
        instance = await self._gw.router.start_instance(
            request.strategy, symbols, _params(request.params), request.instance_id
        )
        return strategy_pb2.StartStrategyResponse(instance=_instance_to_proto(instance))

    @unary
    async def StopStrategy(self, request, context):
        if not request.instance_id:
            raise InvalidArgument("instance_id is required")
        instance = await self._gw.router.stop_instance(request.instance_id)
        return strategy_pb2.StopStrategyResponse(instance=_instance_to_proto(instance))

    @unary
    async def ListStrategyInstances(self, request, context):
        return strategy_pb2.ListStrategyInstancesResponse(
            instances=[_instance_to_proto(i) for i in self._gw.router.instances()]
        )


def _instance_to_proto(instance: Any) -> strategy_pb2.StrategyInstance:
    return strategy_pb2.StrategyInstance(
        instance_id=instance.instance_id,
        strategy=instance.strategy,
        symbols=instance.symbols,
        params=instance.params,
        created_unix_ms=instance.created_ms,
        signals=instance.signals,
        orders=instance.orders,
    )


def _intent_from_request(request: order_pb2.SubmitOrderRequest) -> OrderIntent:
    if not request.client_order_id:
        raise InvalidArgument("client_order_id is required (unique per order)")
    if not math.isfinite(request.quantity) or request.quantity < 0:
        raise InvalidArgument(
            f"quantity must be a finite number > 0, or 0 to let risk size it; "
            f"got {request.quantity}"
        )
    order_type = (
        OrderType.MARKET
        if request.order_type == common_pb2.ORDER_TYPE_UNSPECIFIED
        else convert.enum_from_proto(
            convert.ORDER_TYPE_FROM_PROTO, request.order_type, "order_type", "OrderType"
        )
    )
    tif = (
        convert.TIME_IN_FORCE_FROM_PROTO[common_pb2.TIME_IN_FORCE_GTC]
        if request.time_in_force == common_pb2.TIME_IN_FORCE_UNSPECIFIED
        else convert.enum_from_proto(
            convert.TIME_IN_FORCE_FROM_PROTO, request.time_in_force, "time_in_force", "TimeInForce"
        )
    )

    def optional(name: str) -> float | None:
        return getattr(request, name) if request.HasField(name) else None

    return OrderIntent(
        client_order_id=request.client_order_id,
        symbol=request.symbol,
        side=convert.enum_from_proto(convert.SIDE_FROM_PROTO, request.side, "side", "Side"),
        quantity=request.quantity or None,
        order_type=order_type,
        limit_price=optional("limit_price"),
        stop_price=optional("stop_price"),
        time_in_force=tif,
        strategy=request.strategy or "manual",
        time_ms=0,
        reduce_only=request.reduce_only,
        stop_loss=optional("stop_loss"),
        take_profit=optional("take_profit"),
    )


class OrderService(order_pb2_grpc.OrderServiceServicer):
    def __init__(self, gateway: Gateway) -> None:
        self._gw = gateway

    @unary
    async def SubmitOrder(self, request, context):
        intent = _intent_from_request(request)
        with correlate(intent.client_order_id):
            order, code = await self._gw.router.submit_manual(intent, principal_of(context))
            log.info(
                "order %s %s %s: %s%s",
                intent.side.name,
                intent.symbol,
                intent.order_type.name,
                order.status.name,
                f" ({code})" if code else "",
            )
        return order_pb2.SubmitOrderResponse(order=convert.order_to_proto(order, code))

    @unary
    async def CancelOrder(self, request, context):
        if not request.client_order_id:
            raise InvalidArgument("client_order_id is required")
        principal = principal_of(context)
        try:
            await self._require_order(request.client_order_id)
        except NotFound as exc:
            _audit(
                self._gw, principal, "order.cancel", request.client_order_id, {}, f"error: {exc}"
            )
            raise
        with correlate(request.client_order_id):
            order = await self._gw.router.cancel(request.client_order_id, principal)
            log.info("order cancel: %s", order.status.name)
        return order_pb2.CancelOrderResponse(order=convert.order_to_proto(order))

    async def _require_order(self, client_order_id: str) -> Any:
        order = await self._gw.cluster.execution.get.remote(client_order_id)
        if order is None:
            raise NotFound(f"no order with client_order_id {client_order_id!r}")
        return order

    @unary
    async def GetOrder(self, request, context):
        if not request.client_order_id:
            raise InvalidArgument("client_order_id is required")
        order = await self._require_order(request.client_order_id)
        return order_pb2.GetOrderResponse(order=convert.order_to_proto(order))

    @unary
    async def ListOrders(self, request, context):
        if request.limit < 0:
            raise InvalidArgument(f"limit must be >= 0, got {request.limit}")
        status = (
            None
            if request.status == common_pb2.ORDER_STATUS_UNSPECIFIED
            else convert.enum_from_proto(
                convert.ORDER_STATUS_FROM_PROTO, request.status, "status", "OrderStatus"
            )
        )
        execution = self._gw.cluster.execution
        orders = await (
            execution.open_orders.remote() if request.open_only else execution.orders.remote(status)
        )
        if request.symbol:
            orders = [o for o in orders if o.symbol == request.symbol]
        if status is not None:
            orders = [o for o in orders if o.status is status]
        orders = orders[-(request.limit or 1_000) :]
        return order_pb2.ListOrdersResponse(orders=[convert.order_to_proto(o) for o in orders])

    @streaming
    async def StreamOrderUpdates(self, request, context):
        symbols = set(request.symbols)
        queue = self._gw.updates.subscribe()
        try:
            while True:
                item = await queue.get()
                if item is None:
                    raise ResourceExhausted("order update stream fell behind and was cut off")
                order, fill = item
                if symbols and order.symbol not in symbols:
                    continue
                yield order_pb2.StreamOrderUpdatesResponse(
                    order=convert.order_to_proto(order),
                    fill=convert.fill_to_proto(fill) if fill is not None else None,
                )
        finally:
            self._gw.updates.unsubscribe(queue)

    @unary
    async def ListPositions(self, request, context):
        portfolio, prices = await self._gw.cluster.risk.portfolio.remote()
        return order_pb2.ListPositionsResponse(
            positions=[
                convert.position_to_proto(p, prices.get(s))
                for s, p in sorted(portfolio.open_positions().items())
            ]
        )

    @unary
    async def GetPortfolio(self, request, context):
        portfolio, prices = await self._gw.cluster.risk.portfolio.remote()
        return order_pb2.GetPortfolioResponse(
            portfolio=convert.portfolio_to_proto(portfolio, prices)
        )


def _trading_state(value: int) -> str:
    return convert.enum_from_proto(convert.TRADING_STATE_FROM_PROTO, value, "state", "TradingState")


def _risk_state_to_proto(status: dict[str, Any]) -> risk_pb2.RiskState:
    breakers = []
    for name, breaker in sorted(status.get("breakers", {}).items()):
        breakers.append(
            risk_pb2.CircuitBreaker(
                name=name,
                tripped=bool(breaker.get("tripped")),
                state=convert.TRADING_STATE_TO_PROTO.get(
                    str(breaker.get("state") or "ACTIVE"), common_pb2.TRADING_STATE_UNSPECIFIED
                ),
                reason=str(breaker.get("reason") or ""),
                tripped_unix_ms=int(breaker.get("tripped_at_ms") or 0),
                cooldown_until_unix_ms=int(breaker.get("until_ms") or 0),
            )
        )
    return risk_pb2.RiskState(
        state=convert.TRADING_STATE_TO_PROTO[status["state"]],
        manual_state=convert.TRADING_STATE_TO_PROTO[status["manual_state"]],
        equity=float(status.get("equity", 0.0)),
        peak_equity=float(status.get("peak_equity", 0.0)),
        drawdown=float(status.get("drawdown") or 0.0),
        day_start_equity=float(status.get("day_start_equity", 0.0)),
        gross_exposure=float(status.get("gross_exposure", 0.0)),
        realized_pnl=float(status.get("realized_pnl", 0.0)),
        unrealized_pnl=float(status.get("unrealized_pnl", 0.0)),
        breakers=breakers,
        limits=convert.finite_limits(status.get("config", {})),
    )


class RiskService(risk_pb2_grpc.RiskServiceServicer):
    def __init__(self, gateway: Gateway) -> None:
        self._gw = gateway

    async def _state(self) -> risk_pb2.RiskState:
        return _risk_state_to_proto(await self._gw.cluster.risk.status.remote())

    @unary
    async def GetRiskState(self, request, context):
        return risk_pb2.GetRiskStateResponse(state=await self._state())

    @unary
    async def SetTradingState(self, request, context):
        state = _trading_state(request.state)
        reason = request.reason or "manual"
        async with _audited(self._gw, context, "risk.state", state, state=state, reason=reason):
            await self._gw.cluster.risk.set_trading_state.remote(state, reason)
        return risk_pb2.SetTradingStateResponse(state=await self._state())

    @unary
    async def UpdateRiskLimits(self, request, context):
        changes: dict[str, Any] = dict(request.limits)
        for name, value in changes.items():
            if not math.isfinite(value):
                raise InvalidArgument(f"limit {name} must be a finite number, got {value}")
        for name in request.clear:
            if name in changes:
                raise InvalidArgument(f"limit {name} is both set and cleared")
            changes[name] = None
        if not changes:
            raise InvalidArgument("name at least one limit to set or clear")
        async with _audited(self._gw, context, "risk.limits", "limits", changes=changes) as details:
            limits = await self._gw.cluster.risk.update_limits.remote(changes)
            details["in_force"] = limits
        return risk_pb2.UpdateRiskLimitsResponse(limits=convert.finite_limits(limits))

    @unary
    async def ResetCircuitBreakers(self, request, context):
        names = list(request.names) or None
        subject = ",".join(names) if names else "all"
        what = "risk.breakers_reset"
        async with _audited(self._gw, context, what, subject, requested=names) as details:
            reset = await self._gw.cluster.risk.reset_breakers.remote(names)
            details["reset"] = reset
        return risk_pb2.ResetCircuitBreakersResponse(reset=reset, state=await self._state())

    @streaming
    async def StreamRiskEvents(self, request, context):
        queue = self._gw.risk_events.subscribe()
        try:
            while True:
                event = await queue.get()
                if event is None:
                    raise ResourceExhausted("risk event stream fell behind and was cut off")
                yield risk_pb2.StreamRiskEventsResponse(event=convert.risk_event_to_proto(event))
        finally:
            self._gw.risk_events.unsubscribe(queue)


class BacktestService(backtest_pb2_grpc.BacktestServiceServicer):
    def __init__(self, gateway: Gateway) -> None:
        self._gw = gateway

    @streaming
    async def RunBacktest(self, request, context):
        from supreme.core.backtest import StrategySpec
        from supreme.workers.backtest import run_backtest_remote

        if not request.strategies:
            raise InvalidArgument("strategies must name at least one strategy")
        specs = []
        for strategy in request.strategies:
            keys_for(strategy.name, _params(strategy.params), ["X"])  # validates name + params
            specs.append(
                StrategySpec(
                    strategy.name,
                    _params(strategy.params),
                    tuple(strategy.symbols) if strategy.symbols else None,
                )
            )
        which = request.WhichOneof("data")
        if which == "bars":
            bars = convert.columns_from_proto(request.bars)
        elif which == "simulated":
            sim = request.simulated
            if not 0 < sim.bars <= 1_000_000:
                raise InvalidArgument(f"simulated.bars must lie in [1, 1000000], got {sim.bars}")
            from supreme.data.simulator import simulate_bars

            bars = simulate_bars(
                _symbols(sim.symbols, "simulated.symbols"), sim.bars, seed=sim.seed
            )
        else:
            raise InvalidArgument("data is required: bars (columns) or simulated")
        if len(bars) == 0:
            raise InvalidArgument("no bars to backtest")
        options = {
            "initial_cash": request.initial_cash or 100_000.0,
            "fee_bps": request.fee_bps if request.HasField("fee_bps") else 1.0,
            "slippage_bps": request.slippage_bps if request.HasField("slippage_bps") else 1.0,
        }
        for name, value in options.items():
            if not math.isfinite(value) or value < 0:
                raise InvalidArgument(f"{name} must be a finite number >= 0, got {value}")
        progress: asyncio.Queue = asyncio.Queue()
        task = asyncio.create_task(run_backtest_remote(bars, specs, options, progress))
        try:
            while True:
                getter = asyncio.create_task(progress.get())
                done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    done_bars, total = getter.result()
                    yield backtest_pb2.RunBacktestResponse(
                        progress=backtest_pb2.BacktestProgress(
                            bars_done=done_bars, bars_total=total
                        )
                    )
                    continue
                getter.cancel()
                report = task.result()
                while not progress.empty():
                    done_bars, total = progress.get_nowait()
                    yield backtest_pb2.RunBacktestResponse(
                        progress=backtest_pb2.BacktestProgress(
                            bars_done=done_bars, bars_total=total
                        )
                    )
                yield backtest_pb2.RunBacktestResponse(
                    report=convert.backtest_report_to_proto(report)
                )
                return
        finally:
            task.cancel()
