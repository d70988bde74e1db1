"""What the SDK returns besides the core domain types: read-only views of server state.

Orders, fills, signals, bars and strategy descriptions come back as the core domain types
(:mod:`supreme.core.model`, :class:`supreme.core.strategies.StrategyInfo`). The types here cover
what has no domain type of its own: the server's valuation of positions and of the portfolio,
the risk engine's state, strategy instances and the outcome of a publish.

This module imports neither grpc nor the generated protobuf code, so
:mod:`supreme.server.convert` can build these types without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import NamedTuple

from supreme.core.model import Fill, Order, Portfolio, Position

__all__ = [
    "BarRejection",
    "BreakerReset",
    "CircuitBreakerView",
    "OrderUpdate",
    "PortfolioView",
    "PositionView",
    "PublishResult",
    "RemoteOrder",
    "RiskStateView",
    "StrategyInstanceInfo",
]


@dataclass(frozen=True, slots=True)
class RemoteOrder(Order):
    """An :class:`~supreme.core.model.Order` as the server reports it, plus the risk engine's
    ``reason_code`` ("HALTED", "MAX_NOTIONAL", ...) for a DENIED order ("" otherwise).

    It *is* an ``Order`` (``isinstance`` holds, every field and property is there); use
    :meth:`to_order` where a plain ``Order`` is needed, e.g. to compare with ``==``.
    """

    reason_code: str = ""

    def to_order(self) -> Order:
        return Order(**{f.name: getattr(self, f.name) for f in fields(Order)})

    @classmethod
    def from_order(cls, order: Order, reason_code: str = "") -> RemoteOrder:
        return cls(
            **{f.name: getattr(order, f.name) for f in fields(Order)}, reason_code=reason_code
        )


class OrderUpdate(NamedTuple):
    """One event of ``order_updates()``: the order as it now is, and the fill that moved it
    (None for a status change that is not a fill)."""

    order: RemoteOrder
    fill: Fill | None


class BarRejection(NamedTuple):
    """A bar the server refused. ``index`` counts from 0 over the whole published stream."""

    index: int
    symbol: str
    time_ms: int
    reason: str


@dataclass(frozen=True, slots=True)
class PublishResult:
    accepted: int
    rejected: int
    # The first rejections (the server reports at most 1000), each with its reason.
    rejections: list[BarRejection] = field(default_factory=list)
    # Every rejection counted by reason code (INVALID, OUT_OF_ORDER, DUPLICATE).
    rejected_by_reason: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PositionView:
    """A position valued by the server at ``market_price``. ``quantity`` is signed."""

    symbol: str
    quantity: float
    average_price: float
    realized_pnl: float
    unrealized_pnl: float
    market_price: float
    market_value: float

    @property
    def position(self) -> Position:
        """The domain position (no valuation)."""
        return Position(self.symbol, self.quantity, self.average_price, self.realized_pnl)


@dataclass(frozen=True, slots=True)
class PortfolioView:
    """The account valued by the server at its latest prices."""

    cash: float
    equity: float
    realized_pnl: float
    unrealized_pnl: float
    fees: float
    gross_exposure: float
    net_exposure: float
    positions: list[PositionView] = field(default_factory=list)

    @property
    def portfolio(self) -> Portfolio:
        """The domain portfolio (cash, positions at cost, realized PnL and fees)."""
        return Portfolio(
            cash=self.cash,
            positions={p.symbol: p.position for p in self.positions},
            realized_pnl=self.realized_pnl,
            fees=self.fees,
        )


@dataclass(frozen=True, slots=True)
class CircuitBreakerView:
    name: str
    tripped: bool
    # The trading state the breaker imposes while tripped: "ACTIVE", "REDUCING" or "HALTED".
    state: str
    reason: str = ""
    tripped_ms: int = 0
    # 0 when the breaker clears only by an explicit reset.
    cooldown_until_ms: int = 0


@dataclass(frozen=True, slots=True)
class RiskStateView:
    """The risk engine's state. ``state`` is the effective one: the most restrictive of
    ``manual_state`` and every tripped breaker. States are "ACTIVE", "REDUCING" or "HALTED"."""

    state: str
    manual_state: str
    equity: float = 0.0
    peak_equity: float = 0.0
    drawdown: float = 0.0
    day_start_equity: float = 0.0
    gross_exposure: float = 0.0
    realized_pnl: float = 0.0
    unrealized_pnl: float = 0.0
    breakers: list[CircuitBreakerView] = field(default_factory=list)
    limits: dict[str, float] = field(default_factory=dict)

    @property
    def tripped(self) -> list[CircuitBreakerView]:
        return [b for b in self.breakers if b.tripped]


class BreakerReset(NamedTuple):
    """What ``reset_circuit_breakers()`` did: the breakers cleared and the state after."""

    reset: list[str]
    state: RiskStateView


@dataclass(frozen=True, slots=True)
class StrategyInstanceInfo:
    """A trading instance: a strategy whose signals become orders on the server."""

    instance_id: str
    strategy: str
    symbols: list[str]
    params: dict[str, float]
    created_ms: int = 0
    signals: int = 0
    orders: int = 0
