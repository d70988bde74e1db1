"""The risk engine: one authority approving, resizing or denying every order.

See :mod:`supreme.core.risk.engine` for the rules and the documented choices.
"""

from supreme.core.risk.breakers import (
    Breaker,
    ConsecutiveLossBreaker,
    DailyLossBreaker,
    DrawdownBreaker,
    ErrorBurstBreaker,
    ReconciliationBreaker,
)
from supreme.core.risk.config import RiskConfig
from supreme.core.risk.engine import ENGINE_STRATEGY, MarketState, RiskEngine
from supreme.core.risk.events import (
    DecisionOutcome,
    EventKind,
    RiskDecision,
    RiskEvent,
    RiskReason,
    TradingState,
)
from supreme.core.risk.sizing import (
    SizingMethod,
    SizingResult,
    fixed_fractional_quantity,
    kelly_fraction,
    size_order,
)
from supreme.core.risk.trades import ClosedTrade, StrategyStats, TradeLedger

__all__ = [
    "ENGINE_STRATEGY",
    "Breaker",
    "ClosedTrade",
    "ConsecutiveLossBreaker",
    "DailyLossBreaker",
    "DecisionOutcome",
    "DrawdownBreaker",
    "ErrorBurstBreaker",
    "EventKind",
    "MarketState",
    "ReconciliationBreaker",
    "RiskConfig",
    "RiskDecision",
    "RiskEngine",
    "RiskEvent",
    "RiskReason",
    "SizingMethod",
    "SizingResult",
    "StrategyStats",
    "TradeLedger",
    "TradingState",
    "fixed_fractional_quantity",
    "kelly_fraction",
    "size_order",
]
