"""The vocabulary of the risk engine: trading states, reason codes, events and decisions.

Everything the engine decides is a value from this module. A denial is a normal
:class:`RiskDecision` with a :class:`RiskReason` code and a sentence saying what was wrong and
what was expected; exceptions are kept for programming errors and invalid configuration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Any

from supreme.core.errors import InvalidArgument
from supreme.core.model import Order, OrderIntent

__all__ = [
    "DecisionOutcome",
    "EventKind",
    "RiskDecision",
    "RiskEvent",
    "RiskReason",
    "TradingState",
    "json_safe",
    "most_restrictive",
]


class TradingState(Enum):
    """What may trade. Ordered from the least to the most restrictive."""

    ACTIVE = "ACTIVE"  # everything the limits allow
    REDUCING = "REDUCING"  # only orders that reduce exposure
    HALTED = "HALTED"  # nothing but cancels (and the engine's own flattening orders)

    @property
    def rank(self) -> int:
        return _STATE_RANK[self]


_STATE_RANK = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


def most_restrictive(*states: TradingState) -> TradingState:
    """The most restrictive of ``states`` (ACTIVE when none are given)."""
    return max(states, key=_STATE_RANK.__getitem__, default=TradingState.ACTIVE)


class RiskReason(StrEnum):
    """Why a decision or an event came out the way it did."""

    OK = "OK"
    RESIZED = "RESIZED"
    # trading state
    HALTED = "HALTED"
    REDUCING_ONLY = "REDUCING_ONLY"
    NOTHING_TO_REDUCE = "NOTHING_TO_REDUCE"
    # the order itself
    INVALID_ORDER = "INVALID_ORDER"
    PRECISION = "PRECISION"
    MIN_QUANTITY = "MIN_QUANTITY"
    MIN_NOTIONAL = "MIN_NOTIONAL"
    PRICE_BAND = "PRICE_BAND"
    NO_PRICE = "NO_PRICE"
    DUPLICATE_CLIENT_ORDER_ID = "DUPLICATE_CLIENT_ORDER_ID"
    # limits
    MAX_NOTIONAL = "MAX_NOTIONAL"
    GROSS_EXPOSURE = "GROSS_EXPOSURE"
    POSITION_LIMIT = "POSITION_LIMIT"
    ORDER_RATE = "ORDER_RATE"
    INSUFFICIENT_EQUITY = "INSUFFICIENT_EQUITY"
    # sizing
    NO_EDGE = "NO_EDGE"
    SIZING_UNAVAILABLE = "SIZING_UNAVAILABLE"
    ZERO_QUANTITY = "ZERO_QUANTITY"
    # breakers, states and limits
    DAILY_LOSS = "DAILY_LOSS"
    CONSECUTIVE_LOSSES = "CONSECUTIVE_LOSSES"
    ERROR_BURST = "ERROR_BURST"
    DRAWDOWN_SOFT = "DRAWDOWN_SOFT"
    DRAWDOWN_HARD = "DRAWDOWN_HARD"
    COOLDOWN_EXPIRED = "COOLDOWN_EXPIRED"
    RECOVERED = "RECOVERED"
    MANUAL = "MANUAL"
    LIMITS_CHANGED = "LIMITS_CHANGED"
    # reconciliation with the venue on start
    RECONCILED = "RECONCILED"
    RECONCILIATION_MISMATCH = "RECONCILIATION_MISMATCH"
    EXTERNAL_ORDER = "EXTERNAL_ORDER"
    # in-trade and post-trade
    STOP_LOSS = "STOP_LOSS"
    TAKE_PROFIT = "TAKE_PROFIT"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    SIDE_MISMATCH = "SIDE_MISMATCH"
    OVERFILL = "OVERFILL"
    TRADE_CLOSED = "TRADE_CLOSED"
    CANCEL = "CANCEL"


class EventKind(StrEnum):
    DECISION = "DECISION"  # an order or a cancel was approved, resized or denied
    STATE_CHANGED = "STATE_CHANGED"  # the effective (or the manual) trading state changed
    BREAKER_TRIPPED = "BREAKER_TRIPPED"
    BREAKER_RESET = "BREAKER_RESET"  # explicit reset, cool-down end or recovery
    LIMITS_CHANGED = "LIMITS_CHANGED"
    STOP_TRIGGERED = "STOP_TRIGGERED"  # stop-loss / take-profit / drawdown flattening intents
    FILL_CHECK = "FILL_CHECK"  # every fill, OK or FLAGGED
    TRADE_CLOSED = "TRADE_CLOSED"  # a round trip of a strategy ended
    DAY_STARTED = "DAY_STARTED"  # a new UTC day re-based the daily-loss baseline
    RECONCILIATION = "RECONCILIATION"  # execution compared its journal with the venue


class DecisionOutcome(StrEnum):
    APPROVED = "APPROVED"
    RESIZED = "RESIZED"
    DENIED = "DENIED"


def json_safe(value: Any) -> Any:
    """``value`` made strictly JSON-serialisable: enums become their value, tuples and sets
    lists, mappings dicts with string keys, numpy scalars Python numbers and non-finite floats
    ``None``."""
    if isinstance(value, Enum):
        return json_safe(value.value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [json_safe(v) for v in items]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return json_safe(item())
    return str(value)


@dataclass(frozen=True, slots=True)
class RiskEvent:
    """One line of the risk audit log.

    ``outcome`` is APPROVED/RESIZED/DENIED for decisions, the new state for state changes,
    TRIPPED/RESET for breakers, OK/FLAGGED for fill checks. ``details`` holds JSON-safe values
    only (it is sanitised on construction).
    """

    time_ms: int
    kind: EventKind
    outcome: str
    reason_code: RiskReason
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", MappingProxyType(json_safe(dict(self.details))))

    def to_dict(self) -> dict[str, Any]:
        return {
            "time_ms": int(self.time_ms),
            "kind": self.kind.value,
            "outcome": str(self.outcome),
            "reason_code": self.reason_code.value,
            "message": self.message,
            "details": dict(self.details),
        }


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """The engine's answer to one order intent (or cancel).

    ``quantity`` is what may be sent (0.0 when denied). ``intent`` is None for a cancel.
    """

    approved: bool
    intent: OrderIntent | None
    quantity: float
    reason_code: RiskReason
    reason: str
    event: RiskEvent
    client_order_id: str = ""

    @property
    def resized(self) -> bool:
        """Approved for less than an explicitly requested quantity."""
        return self.approved and self.reason_code is RiskReason.RESIZED

    @property
    def denied(self) -> bool:
        return not self.approved

    def to_order(self, time_ms: int) -> Order:
        """The approved order, ready for execution."""
        if not self.approved or self.intent is None:
            raise InvalidArgument(f"decision for {self.client_order_id!r} approved no order")
        return Order.from_intent(self.intent, self.quantity, time_ms)
