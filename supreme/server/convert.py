"""Conversion between protobuf messages and domain types, in both directions.

This module and the gRPC layers (server and SDK) are the only code that touches
``supreme._proto``. Every enum has an explicit map in both directions: protobuf enums are not
domain enums, and an UNSPECIFIED or unknown wire value is an error, never a silent default
(except where the API documents a default).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from supreme._proto import backtest_pb2, common_pb2, market_data_pb2, risk_pb2, strategy_pb2
from supreme.client.models import (
    BarRejection,
    CircuitBreakerView,
    PortfolioView,
    PositionView,
    PublishResult,
    RemoteOrder,
    RiskStateView,
    StrategyInstanceInfo,
)
from supreme.core.errors import InvalidArgument
from supreme.core.model import (
    Bar,
    BarBatch,
    Direction,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Portfolio,
    Position,
    Side,
    Signal,
    TimeInForce,
)

# -- enums ------------------------------------------------------------------------------------

DIRECTION_TO_PROTO = {
    Direction.LONG: common_pb2.DIRECTION_LONG,
    Direction.SHORT: common_pb2.DIRECTION_SHORT,
    Direction.FLAT: common_pb2.DIRECTION_FLAT,
}
SIDE_TO_PROTO = {Side.BUY: common_pb2.SIDE_BUY, Side.SELL: common_pb2.SIDE_SELL}
ORDER_TYPE_TO_PROTO = {
    OrderType.MARKET: common_pb2.ORDER_TYPE_MARKET,
    OrderType.LIMIT: common_pb2.ORDER_TYPE_LIMIT,
    OrderType.STOP: common_pb2.ORDER_TYPE_STOP,
}
TIME_IN_FORCE_TO_PROTO = {
    TimeInForce.GTC: common_pb2.TIME_IN_FORCE_GTC,
    TimeInForce.IOC: common_pb2.TIME_IN_FORCE_IOC,
    TimeInForce.FOK: common_pb2.TIME_IN_FORCE_FOK,
    TimeInForce.DAY: common_pb2.TIME_IN_FORCE_DAY,
}
ORDER_STATUS_TO_PROTO = {
    OrderStatus.NEW: common_pb2.ORDER_STATUS_NEW,
    OrderStatus.SUBMITTED: common_pb2.ORDER_STATUS_SUBMITTED,
    OrderStatus.PARTIALLY_FILLED: common_pb2.ORDER_STATUS_PARTIALLY_FILLED,
    OrderStatus.FILLED: common_pb2.ORDER_STATUS_FILLED,
    OrderStatus.CANCELED: common_pb2.ORDER_STATUS_CANCELED,
    OrderStatus.REJECTED: common_pb2.ORDER_STATUS_REJECTED,
    OrderStatus.EXPIRED: common_pb2.ORDER_STATUS_EXPIRED,
    OrderStatus.DENIED: common_pb2.ORDER_STATUS_DENIED,
}
# Trading states are the risk engine's enum, compared by name to keep this module free of it.
TRADING_STATE_TO_PROTO = {
    "ACTIVE": common_pb2.TRADING_STATE_ACTIVE,
    "REDUCING": common_pb2.TRADING_STATE_REDUCING,
    "HALTED": common_pb2.TRADING_STATE_HALTED,
}


def _invert(mapping: Mapping[Any, int]) -> dict[int, Any]:
    return {v: k for k, v in mapping.items()}


DIRECTION_FROM_PROTO = _invert(DIRECTION_TO_PROTO)
SIDE_FROM_PROTO = _invert(SIDE_TO_PROTO)
ORDER_TYPE_FROM_PROTO = _invert(ORDER_TYPE_TO_PROTO)
TIME_IN_FORCE_FROM_PROTO = _invert(TIME_IN_FORCE_TO_PROTO)
ORDER_STATUS_FROM_PROTO = _invert(ORDER_STATUS_TO_PROTO)
TRADING_STATE_FROM_PROTO = _invert(TRADING_STATE_TO_PROTO)


def enum_from_proto(mapping: Mapping[int, Any], value: int, field: str, enum_name: str) -> Any:
    """Look a wire enum value up, or raise InvalidArgument listing what is accepted."""
    try:
        return mapping[value]
    except KeyError:
        names = ", ".join(
            common_pb2.DESCRIPTOR.enum_types_by_name[enum_name].values_by_number[v].name
            for v in sorted(mapping)
        )
        raise InvalidArgument(f"{field} must be one of {names}; got {value}") from None


# -- bars ---------------------------------------------------------------------------------------


def bar_to_proto(bar: Bar) -> common_pb2.Bar:
    return common_pb2.Bar(
        symbol=bar.symbol,
        time_unix_ms=bar.time_ms,
        open=bar.open,
        high=bar.high,
        low=bar.low,
        close=bar.close,
        volume=bar.volume,
    )


def bar_from_proto(message: common_pb2.Bar) -> Bar:
    """Raises ValueError naming the field when the bar is invalid."""
    return Bar(
        message.symbol,
        message.time_unix_ms,
        message.open,
        message.high,
        message.low,
        message.close,
        message.volume,
    )


def columns_to_proto(batch: BarBatch) -> common_pb2.BarColumns:
    return common_pb2.BarColumns(
        symbols=batch.symbol.tolist(),
        time_unix_ms=batch.time_ms.tolist(),
        open=batch.open.tolist(),
        high=batch.high.tolist(),
        low=batch.low.tolist(),
        close=batch.close.tolist(),
        volume=batch.volume.tolist(),
    )


def columns_from_proto(message: common_pb2.BarColumns, *, validate: bool = True) -> BarBatch:
    """A BarBatch from columns. With ``validate=False`` the caller screens rows itself
    (``BarBatch.invalid_rows``), so one bad row need not refuse the rest."""
    n = len(message.time_unix_ms)
    lengths = {
        "symbols": len(message.symbols),
        "open": len(message.open),
        "high": len(message.high),
        "low": len(message.low),
        "close": len(message.close),
    }
    if message.volume:
        lengths["volume"] = len(message.volume)
    wrong = {k: v for k, v in lengths.items() if v != n}
    if wrong:
        raise InvalidArgument(
            f"every BarColumns column must have {n} values (as time_unix_ms); got {wrong}"
        )
    return BarBatch(
        np.array(message.symbols, dtype=object),
        np.array(message.time_unix_ms, dtype=np.int64),
        np.array(message.open, dtype=np.float64),
        np.array(message.high, dtype=np.float64),
        np.array(message.low, dtype=np.float64),
        np.array(message.close, dtype=np.float64),
        np.array(message.volume, dtype=np.float64) if message.volume else None,
        validate=validate,
    )


def bars_to_columns(bars: list[common_pb2.Bar]) -> BarBatch:
    """Repeated Bar messages as an unvalidated BarBatch (screen rows with invalid_rows)."""
    return BarBatch(
        np.array([b.symbol for b in bars], dtype=object),
        np.array([b.time_unix_ms for b in bars], dtype=np.int64),
        np.array([b.open for b in bars], dtype=np.float64),
        np.array([b.high for b in bars], dtype=np.float64),
        np.array([b.low for b in bars], dtype=np.float64),
        np.array([b.close for b in bars], dtype=np.float64),
        np.array([b.volume for b in bars], dtype=np.float64),
        validate=False,
    )


# -- signals --------------------------------------------------------------------------------------


def signal_to_proto(signal: Signal) -> common_pb2.Signal:
    return common_pb2.Signal(
        symbol=signal.symbol,
        strategy=signal.strategy,
        time_unix_ms=signal.time_ms,
        direction=DIRECTION_TO_PROTO[signal.direction],
        strength=signal.strength,
        price=signal.price,
    )


def signal_from_proto(message: common_pb2.Signal) -> Signal:
    return Signal(
        message.symbol,
        message.strategy,
        message.time_unix_ms,
        enum_from_proto(DIRECTION_FROM_PROTO, message.direction, "direction", "Direction"),
        message.strength,
        message.price,
    )


# -- orders and fills ---------------------------------------------------------------------------


_REASON_CODE = re.compile(r"^([A-Z][A-Z_]+): ")


def order_to_proto(order: Order, reason_code: str = "") -> common_pb2.Order:
    """``reason_code`` defaults to the code a denied order's reason starts with."""
    if not reason_code and order.status is OrderStatus.DENIED:
        match = _REASON_CODE.match(order.reason)
        reason_code = match.group(1) if match else ""
    message = common_pb2.Order(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=SIDE_TO_PROTO[order.side],
        quantity=order.quantity,
        order_type=ORDER_TYPE_TO_PROTO[order.order_type],
        time_in_force=TIME_IN_FORCE_TO_PROTO[order.time_in_force],
        strategy=order.strategy,
        status=ORDER_STATUS_TO_PROTO[order.status],
        filled_quantity=order.filled_quantity,
        average_fill_price=order.average_fill_price,
        fees=order.fees,
        created_unix_ms=order.created_ms,
        updated_unix_ms=order.updated_ms,
        venue_order_id=order.venue_order_id or "",
        reason=order.reason,
        reduce_only=order.reduce_only,
        reason_code=reason_code,
    )
    if order.limit_price is not None:
        message.limit_price = order.limit_price
    if order.stop_price is not None:
        message.stop_price = order.stop_price
    return message


def order_from_proto(message: common_pb2.Order) -> Order:
    return Order(
        client_order_id=message.client_order_id,
        symbol=message.symbol,
        side=enum_from_proto(SIDE_FROM_PROTO, message.side, "side", "Side"),
        quantity=message.quantity,
        order_type=enum_from_proto(
            ORDER_TYPE_FROM_PROTO, message.order_type, "order_type", "OrderType"
        ),
        limit_price=message.limit_price if message.HasField("limit_price") else None,
        stop_price=message.stop_price if message.HasField("stop_price") else None,
        time_in_force=enum_from_proto(
            TIME_IN_FORCE_FROM_PROTO, message.time_in_force, "time_in_force", "TimeInForce"
        ),
        strategy=message.strategy,
        status=enum_from_proto(ORDER_STATUS_FROM_PROTO, message.status, "status", "OrderStatus"),
        filled_quantity=message.filled_quantity,
        average_fill_price=message.average_fill_price,
        fees=message.fees,
        created_ms=message.created_unix_ms,
        updated_ms=message.updated_unix_ms,
        venue_order_id=message.venue_order_id or None,
        reason=message.reason,
        reduce_only=message.reduce_only,
    )


def fill_to_proto(fill: Fill) -> common_pb2.Fill:
    return common_pb2.Fill(
        fill_id=fill.fill_id,
        client_order_id=fill.client_order_id,
        symbol=fill.symbol,
        side=SIDE_TO_PROTO[fill.side],
        quantity=fill.quantity,
        price=fill.price,
        fee=fill.fee,
        time_unix_ms=fill.time_ms,
        strategy=fill.strategy,
    )


def fill_from_proto(message: common_pb2.Fill) -> Fill:
    return Fill(
        fill_id=message.fill_id,
        client_order_id=message.client_order_id,
        symbol=message.symbol,
        side=enum_from_proto(SIDE_FROM_PROTO, message.side, "side", "Side"),
        quantity=message.quantity,
        price=message.price,
        fee=message.fee,
        time_ms=message.time_unix_ms,
        strategy=message.strategy,
    )


# -- positions and portfolio --------------------------------------------------------------------


def position_to_proto(position: Position, price: float | None) -> common_pb2.Position:
    mark = position.average_price if price is None else price
    return common_pb2.Position(
        symbol=position.symbol,
        quantity=position.quantity,
        average_price=position.average_price,
        realized_pnl=position.realized_pnl,
        unrealized_pnl=position.unrealized_pnl(mark),
        market_price=mark,
        market_value=position.market_value(mark),
    )


def position_from_proto(message: common_pb2.Position) -> Position:
    return Position(message.symbol, message.quantity, message.average_price, message.realized_pnl)


def portfolio_to_proto(portfolio: Portfolio, prices: Mapping[str, float]) -> common_pb2.Portfolio:
    return common_pb2.Portfolio(
        cash=portfolio.cash,
        equity=portfolio.equity(prices),
        realized_pnl=portfolio.realized_pnl,
        unrealized_pnl=portfolio.unrealized_pnl(prices),
        fees=portfolio.fees,
        gross_exposure=portfolio.gross_exposure(prices),
        net_exposure=portfolio.net_exposure(prices),
        positions=[
            position_to_proto(p, prices.get(s)) for s, p in sorted(portfolio.positions.items())
        ],
    )


def portfolio_from_proto(message: common_pb2.Portfolio) -> Portfolio:
    return Portfolio(
        cash=message.cash,
        positions={p.symbol: position_from_proto(p) for p in message.positions},
        realized_pnl=message.realized_pnl,
        fees=message.fees,
    )


# -- strategies -----------------------------------------------------------------------------------


def strategy_info_to_proto(info: Any) -> strategy_pb2.StrategyInfo:
    return strategy_pb2.StrategyInfo(
        name=info.name,
        description=info.description,
        params=[
            strategy_pb2.StrategyParam(
                name=p.name,
                default_value=p.default,
                min_value=p.low,
                max_value=p.high,
                integer=p.integer,
                description=p.doc,
            )
            for p in info.params
        ],
    )


# -- risk ------------------------------------------------------------------------------------


def risk_event_to_proto(event: Mapping[str, Any]) -> risk_pb2.RiskEvent:
    """From a RiskEvent's ``to_dict()`` form (what crosses the actor boundary)."""
    return risk_pb2.RiskEvent(
        time_unix_ms=int(event.get("time_ms", 0)),
        kind=str(event.get("kind", "")),
        outcome=str(event.get("outcome", "")),
        reason_code=str(event.get("reason_code", "")),
        message=str(event.get("message", "")),
        details_json=json.dumps(event.get("details", {}), sort_keys=True, allow_nan=False),
    )


def risk_event_from_proto(message: risk_pb2.RiskEvent) -> dict[str, Any]:
    return {
        "time_ms": message.time_unix_ms,
        "kind": message.kind,
        "outcome": message.outcome,
        "reason_code": message.reason_code,
        "message": message.message,
        "details": json.loads(message.details_json) if message.details_json else {},
    }


def finite_limits(limits: Mapping[str, Any]) -> dict[str, float]:
    """The numeric, set limits of a config dict (booleans and unset values left out)."""
    out: dict[str, float] = {}
    for name, value in limits.items():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float) and math.isfinite(value):
            out[name] = float(value)
    return out


# -- backtests -------------------------------------------------------------------------------


def backtest_report_to_proto(report: Any) -> backtest_pb2.BacktestReport:
    data = report.to_dict()
    return backtest_pb2.BacktestReport(
        initial_cash=report.initial_cash,
        final_equity=report.final_equity,
        total_return=report.total_return,
        annualized_return=report.annualized_return,
        sharpe=report.sharpe,
        sortino=report.sortino,
        max_drawdown=report.max_drawdown,
        trades=report.trades,
        win_rate=report.win_rate,
        profit_factor=report.profit_factor if math.isfinite(report.profit_factor) else 0.0,
        fees=report.fees,
        realized_pnl=report.realized_pnl,
        unrealized_pnl=report.unrealized_pnl,
        equity_curve=[
            backtest_pb2.EquityPoint(time_unix_ms=t, equity=e) for t, e in report.equity_curve
        ],
        report_json=json.dumps(data, allow_nan=False),
    )


# -- the SDK's views (supreme.client.models) ----------------------------------------------------
# The server builds these messages from domain objects with the *_to_proto functions above;
# the SDK reads them back into the views below, which keep what the domain types cannot hold
# (the server's valuation, a denial's reason code).


def remote_order_from_proto(message: common_pb2.Order) -> RemoteOrder:
    """The order with its ``reason_code`` (pair of :func:`order_to_proto`)."""
    return RemoteOrder.from_order(order_from_proto(message), message.reason_code)


def position_view_from_proto(message: common_pb2.Position) -> PositionView:
    """Pair of :func:`position_to_proto`."""
    return PositionView(
        symbol=message.symbol,
        quantity=message.quantity,
        average_price=message.average_price,
        realized_pnl=message.realized_pnl,
        unrealized_pnl=message.unrealized_pnl,
        market_price=message.market_price,
        market_value=message.market_value,
    )


def portfolio_view_from_proto(message: common_pb2.Portfolio) -> PortfolioView:
    """Pair of :func:`portfolio_to_proto`."""
    return PortfolioView(
        cash=message.cash,
        equity=message.equity,
        realized_pnl=message.realized_pnl,
        unrealized_pnl=message.unrealized_pnl,
        fees=message.fees,
        gross_exposure=message.gross_exposure,
        net_exposure=message.net_exposure,
        positions=[position_view_from_proto(p) for p in message.positions],
    )


def publish_result_to_proto(result: PublishResult) -> market_data_pb2.PublishBarsResponse:
    return market_data_pb2.PublishBarsResponse(
        accepted=result.accepted,
        rejected=result.rejected,
        rejections=[
            # Unpacked: a plain (index, symbol, time_ms, reason) tuple serves as well.
            market_data_pb2.BarRejection(
                index=index, symbol=symbol, time_unix_ms=time_ms, reason=reason
            )
            for index, symbol, time_ms, reason in result.rejections
        ],
        rejected_by_reason=result.rejected_by_reason,
    )


def publish_result_from_proto(message: market_data_pb2.PublishBarsResponse) -> PublishResult:
    return PublishResult(
        accepted=message.accepted,
        rejected=message.rejected,
        rejections=[
            BarRejection(r.index, r.symbol, r.time_unix_ms, r.reason) for r in message.rejections
        ],
        rejected_by_reason=dict(message.rejected_by_reason),
    )


def strategy_info_from_proto(message: strategy_pb2.StrategyInfo) -> Any:
    """The registry's ``StrategyInfo`` (pair of :func:`strategy_info_to_proto`)."""
    # Imported here: the strategies package loads TA-Lib, which most conversions never need.
    from supreme.core.strategies import Param, StrategyInfo

    return StrategyInfo(
        name=message.name,
        description=message.description,
        params=tuple(
            Param(
                name=p.name,
                default=p.default_value,
                low=p.min_value,
                high=p.max_value,
                integer=p.integer,
                doc=p.description,
            )
            for p in message.params
        ),
    )


def strategy_instance_info_to_proto(info: StrategyInstanceInfo) -> strategy_pb2.StrategyInstance:
    return strategy_pb2.StrategyInstance(
        instance_id=info.instance_id,
        strategy=info.strategy,
        symbols=list(info.symbols),
        params=dict(info.params),
        created_unix_ms=info.created_ms,
        signals=info.signals,
        orders=info.orders,
    )


def strategy_instance_info_from_proto(
    message: strategy_pb2.StrategyInstance,
) -> StrategyInstanceInfo:
    return StrategyInstanceInfo(
        instance_id=message.instance_id,
        strategy=message.strategy,
        symbols=list(message.symbols),
        params=dict(message.params),
        created_ms=message.created_unix_ms,
        signals=message.signals,
        orders=message.orders,
    )


def _trading_state_name(value: int, field: str) -> str:
    return enum_from_proto(TRADING_STATE_FROM_PROTO, value, field, "TradingState")


def risk_state_view_to_proto(view: RiskStateView) -> risk_pb2.RiskState:
    return risk_pb2.RiskState(
        state=TRADING_STATE_TO_PROTO[view.state],
        manual_state=TRADING_STATE_TO_PROTO[view.manual_state],
        equity=view.equity,
        peak_equity=view.peak_equity,
        drawdown=view.drawdown,
        day_start_equity=view.day_start_equity,
        gross_exposure=view.gross_exposure,
        realized_pnl=view.realized_pnl,
        unrealized_pnl=view.unrealized_pnl,
        breakers=[
            risk_pb2.CircuitBreaker(
                name=b.name,
                tripped=b.tripped,
                state=TRADING_STATE_TO_PROTO.get(b.state, common_pb2.TRADING_STATE_UNSPECIFIED),
                reason=b.reason,
                tripped_unix_ms=b.tripped_ms,
                cooldown_until_unix_ms=b.cooldown_until_ms,
            )
            for b in view.breakers
        ],
        limits=finite_limits(view.limits),
    )


def risk_state_view_from_proto(message: risk_pb2.RiskState) -> RiskStateView:
    """The effective and manual states must be set; a breaker's state may be UNSPECIFIED
    (read as "UNSPECIFIED"): it only matters while the breaker is tripped."""
    return RiskStateView(
        state=_trading_state_name(message.state, "state"),
        manual_state=_trading_state_name(message.manual_state, "manual_state"),
        equity=message.equity,
        peak_equity=message.peak_equity,
        drawdown=message.drawdown,
        day_start_equity=message.day_start_equity,
        gross_exposure=message.gross_exposure,
        realized_pnl=message.realized_pnl,
        unrealized_pnl=message.unrealized_pnl,
        breakers=[
            CircuitBreakerView(
                name=b.name,
                tripped=b.tripped,
                state=TRADING_STATE_FROM_PROTO.get(b.state, "UNSPECIFIED"),
                reason=b.reason,
                tripped_ms=b.tripped_unix_ms,
                cooldown_until_ms=b.cooldown_until_unix_ms,
            )
            for b in message.breakers
        ],
        limits=dict(message.limits),
    )


_REPORT_FIGURES = (
    "initial_cash",
    "final_equity",
    "total_return",
    "annualized_return",
    "sharpe",
    "sortino",
    "max_drawdown",
    "trades",
    "win_rate",
    "profit_factor",
    "fees",
    "realized_pnl",
    "unrealized_pnl",
)


def backtest_report_from_proto(message: backtest_pb2.BacktestReport) -> dict[str, Any]:
    """The report as a dict: ``report_json`` parsed (``BacktestReport.to_dict()``: trade list,
    orders by status, ...) over the message's own figures, which fill in what it lacks.

    ``equity_curve`` is a list of ``[time_ms, equity]``. Pair of :func:`backtest_report_to_proto`.
    """
    data: dict[str, Any] = {name: getattr(message, name) for name in _REPORT_FIGURES}
    data["equity_curve"] = [[p.time_unix_ms, p.equity] for p in message.equity_curve]
    if message.report_json:
        parsed = json.loads(message.report_json)
        if not isinstance(parsed, dict):
            raise InvalidArgument("report_json must be a JSON object")
        data.update(parsed)
    return data
