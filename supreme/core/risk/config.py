"""Every limit of the risk engine in one immutable, validated value.

Percentages are fractions (0.05 = 5%); "of equity" means of the equity marked at the time of
the check. Durations are integer milliseconds. An optional cool-down of ``None`` means the
breaker only clears on an explicit reset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from supreme.core.errors import InvalidArgument

__all__ = ["RiskConfig"]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# Upper bound of the limits that size in-memory buffers (events, tracked orders, trade history,
# the Kelly window): beyond it a deque cannot even be created.
MAX_BUFFER = 10_000_000


@dataclass(frozen=True, slots=True)
class RiskConfig:
    # -- pre-trade limits --------------------------------------------------------------------
    max_order_notional: float = 1_000_000.0  # per order, account currency
    max_gross_exposure_pct: float = 1.5  # sum of |position values| incl. the new order / equity
    max_position_pct: float = 0.10  # |position value| per symbol / equity
    max_orders_per_minute: int = 120  # approvals per rolling 60 s
    price_band_pct: float = 0.10  # fat finger: limit/stop price vs last price
    # -- circuit breakers ----------------------------------------------------------------------
    daily_loss_pct: float = 0.05  # of the UTC day's starting equity, realized + unrealized
    daily_loss_cooldown_ms: int | None = None  # None: explicit reset only
    max_consecutive_losses: int = 3  # losing round trips in a row -> REDUCING
    consecutive_loss_cooldown_ms: int | None = 3_600_000
    error_burst_threshold: int = 5  # venue errors/rejects within the window -> HALTED
    error_burst_window_ms: int = 60_000
    error_burst_cooldown_ms: int | None = None
    # -- drawdown control ----------------------------------------------------------------------
    drawdown_soft_pct: float = 0.10  # -> REDUCING, new sizes scaled
    drawdown_hard_pct: float = 0.20  # -> HALTED, positions flattened
    drawdown_size_scale: float = 0.5  # multiplier on sizes while drawdown >= soft
    # -- sizing ------------------------------------------------------------------------------
    kelly_fraction: float = 0.5  # fraction of the full Kelly bet
    kelly_min_trades: int = 20  # closed trades before Kelly replaces fixed-fractional
    kelly_window: int = 100  # rolling closed trades per strategy for win rate / payoff
    max_risk_per_trade_pct: float = 0.02  # equity lost if the stop is hit
    fixed_fractional_risk_pct: float = 0.01
    atr_stop_multiple: float = 2.0  # stop distance = multiple * ATR
    take_profit_atr_multiple: float | None = None  # None: no default take-profit
    # -- bookkeeping ---------------------------------------------------------------------------
    max_events: int = 10_000  # events kept until drained (oldest dropped first)
    max_tracked_orders: int = 100_000  # client order ids remembered for duplicates/fill checks
    trade_history_limit: int = 100_000  # closed trades kept by the ledger

    _INT_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "max_orders_per_minute",
            "daily_loss_cooldown_ms",
            "max_consecutive_losses",
            "consecutive_loss_cooldown_ms",
            "error_burst_threshold",
            "error_burst_window_ms",
            "error_burst_cooldown_ms",
            "kelly_min_trades",
            "kelly_window",
            "max_events",
            "max_tracked_orders",
            "trade_history_limit",
        }
    )
    _OPTIONAL_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "daily_loss_cooldown_ms",
            "consecutive_loss_cooldown_ms",
            "error_burst_cooldown_ms",
            "take_profit_atr_multiple",
        }
    )
    # name -> (low, high, low inclusive, high inclusive); None = unbounded on that side
    _RANGES: ClassVar[dict[str, tuple[float | None, float | None, bool, bool]]] = {
        "max_order_notional": (0.0, None, False, False),
        "max_gross_exposure_pct": (0.0, None, False, False),
        "max_position_pct": (0.0, None, False, False),
        "max_orders_per_minute": (1, None, True, False),
        "price_band_pct": (0.0, None, False, False),
        "daily_loss_pct": (0.0, 1.0, False, True),
        "daily_loss_cooldown_ms": (0, None, False, False),
        "max_consecutive_losses": (1, None, True, False),
        "consecutive_loss_cooldown_ms": (0, None, False, False),
        "error_burst_threshold": (1, None, True, False),
        "error_burst_window_ms": (0, None, False, False),
        "error_burst_cooldown_ms": (0, None, False, False),
        "drawdown_soft_pct": (0.0, 1.0, False, False),
        "drawdown_hard_pct": (0.0, 1.0, False, True),
        "drawdown_size_scale": (0.0, 1.0, False, True),
        "kelly_fraction": (0.0, 1.0, False, True),
        "kelly_min_trades": (1, None, True, False),
        "kelly_window": (1, MAX_BUFFER, True, True),
        "max_risk_per_trade_pct": (0.0, 1.0, False, True),
        "fixed_fractional_risk_pct": (0.0, 1.0, False, True),
        "atr_stop_multiple": (0.0, None, False, False),
        "take_profit_atr_multiple": (0.0, None, False, False),
        "max_events": (1, MAX_BUFFER, True, True),
        "max_tracked_orders": (1, MAX_BUFFER, True, True),
        "trade_history_limit": (1, MAX_BUFFER, True, True),
    }

    def __post_init__(self) -> None:
        for f in fields(self):
            self._check_field(f.name, getattr(self, f.name))
        if self.drawdown_soft_pct >= self.drawdown_hard_pct:
            raise InvalidArgument(
                f"drawdown_soft_pct must be < drawdown_hard_pct, got "
                f"{self.drawdown_soft_pct} >= {self.drawdown_hard_pct}"
            )
        if self.kelly_window < self.kelly_min_trades:
            raise InvalidArgument(
                f"kelly_window must be >= kelly_min_trades (else Kelly never applies), got "
                f"{self.kelly_window} < {self.kelly_min_trades}"
            )
        if self.max_position_pct > self.max_gross_exposure_pct:
            raise InvalidArgument(
                f"max_position_pct must be <= max_gross_exposure_pct, got "
                f"{self.max_position_pct} > {self.max_gross_exposure_pct}"
            )

    def _check_field(self, name: str, value: Any) -> None:
        if value is None:
            if name in self._OPTIONAL_FIELDS:
                return
            raise InvalidArgument(f"{name} must not be None")
        if name in self._INT_FIELDS:
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidArgument(f"{name} must be an integer, got {value!r}")
        else:
            if not _is_number(value) or not math.isfinite(value):
                raise InvalidArgument(f"{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        low, high, low_inclusive, high_inclusive = self._RANGES[name]
        too_low = low is not None and (value < low if low_inclusive else value <= low)
        too_high = high is not None and (value > high if high_inclusive else value >= high)
        if too_low or too_high:
            left = "[" if low_inclusive else "("
            right = "]" if high_inclusive else ")"
            lo = "-inf" if low is None else low
            hi = "inf" if high is None else high
            raise InvalidArgument(f"{name} must lie in {left}{lo}, {hi}{right}, got {value!r}")

    # -- construction and export -------------------------------------------------------------

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RiskConfig:
        """Build from a mapping (for example parsed JSON); unknown keys are refused.

        Integral floats are accepted for integer fields (JSON numbers are often floats).
        """
        if not isinstance(data, Mapping):
            raise InvalidArgument(f"risk config must be a mapping, got {type(data).__name__}")
        known = set(cls.field_names())
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise InvalidArgument(
                f"unknown risk config key(s) {unknown}; known keys are {sorted(known)}"
            )
        values: dict[str, Any] = {}
        for key, value in data.items():
            if (
                key in cls._INT_FIELDS
                and isinstance(value, float)
                and math.isfinite(value)
                and value.is_integer()
            ):
                value = int(value)
            values[key] = value
        return cls(**values)

    def with_updates(self, **changes: Any) -> RiskConfig:
        """A new validated config with ``changes`` applied; unknown names are refused."""
        return self.from_mapping({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.field_names()}
