"""Circuit breakers: small state machines that restrict trading when something goes wrong.

A breaker is either clear or tripped. A tripped breaker contributes its state (REDUCING or
HALTED) to the engine's effective state; it clears on an explicit :meth:`Breaker.reset` or,
when it was tripped with a cool-down, once ``now_ms >= until_ms``. The cool-down is fixed when
the breaker trips (a later limits change does not move it). Thresholds are passed in on every
call, so changed limits apply at once.

The breakers hold state only and produce no events; the engine turns their transitions into
:class:`~supreme.core.risk.events.RiskEvent` values.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from supreme.core.risk.events import RiskReason, TradingState

__all__ = [
    "Breaker",
    "ConsecutiveLossBreaker",
    "DailyLossBreaker",
    "DrawdownBreaker",
    "ErrorBurstBreaker",
    "ReconciliationBreaker",
]

# Relative tolerance on threshold comparisons, so that 1 - 90_000 / 100_000 = 0.09999999999999998
# counts as the 10% it is meant to be.
THRESHOLD_TOLERANCE = 1e-9


def reached(value: float, threshold: float) -> bool:
    """``value >= threshold`` up to float residue."""
    return value >= threshold * (1 - THRESHOLD_TOLERANCE) - 1e-12


class Breaker:
    """One breaker: ``name``, the state it imposes when tripped, and why it tripped."""

    name = "breaker"
    trips_to = TradingState.HALTED
    code = RiskReason.HALTED

    def __init__(self) -> None:
        self.tripped_at_ms: int | None = None
        self.until_ms: int | None = None
        self.reason = ""

    @property
    def tripped(self) -> bool:
        return self.tripped_at_ms is not None

    @property
    def state(self) -> TradingState:
        return self.trips_to if self.tripped else TradingState.ACTIVE

    def trip(self, now_ms: int, reason: str, cooldown_ms: int | None = None) -> bool:
        """Trip; False (and nothing changes) when already tripped."""
        if self.tripped:
            return False
        self.tripped_at_ms = now_ms
        self.until_ms = None if cooldown_ms is None else now_ms + cooldown_ms
        self.reason = reason
        return True

    def reset(self) -> bool:
        """Clear; False when it was not tripped."""
        if not self.tripped:
            return False
        self.tripped_at_ms = None
        self.until_ms = None
        self.reason = ""
        self._on_reset()
        return True

    def _on_reset(self) -> None:
        """Hook for subclasses: forget the history that led to the trip."""

    def cooldown_over(self, now_ms: int) -> bool:
        return self.tripped and self.until_ms is not None and now_ms >= self.until_ms

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tripped": self.tripped,
            "state": self.state.value,
            "tripped_at_ms": self.tripped_at_ms,
            "until_ms": self.until_ms,
            "reason": self.reason,
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        self.tripped_at_ms = data.get("tripped_at_ms")
        self.until_ms = data.get("until_ms")
        self.reason = data.get("reason", "")


class DailyLossBreaker(Breaker):
    """HALTED once the day's loss (realized + unrealized + fees, i.e. the equity change since
    the UTC day started) reaches ``daily_loss_pct`` of the day's starting equity."""

    name = "daily_loss"
    trips_to = TradingState.HALTED
    code = RiskReason.DAILY_LOSS

    @staticmethod
    def breached(day_start_equity: float, equity: float, loss_pct: float) -> bool:
        if day_start_equity <= 0:
            return equity < day_start_equity
        return reached(day_start_equity - equity, loss_pct * day_start_equity)


class ConsecutiveLossBreaker(Breaker):
    """REDUCING after ``limit`` losing round trips in a row (any strategy, in closing order).

    A trade with pnl >= 0 ends the streak. Trades closed while tripped are not counted, and the
    streak starts from zero when the breaker clears.
    """

    name = "consecutive_losses"
    trips_to = TradingState.REDUCING
    code = RiskReason.CONSECUTIVE_LOSSES

    def __init__(self) -> None:
        super().__init__()
        self.streak = 0

    def record(self, pnl: float, limit: int) -> bool:
        """Count one closed trade; True when the streak reached ``limit`` (time to trip)."""
        if self.tripped:
            return False
        self.streak = self.streak + 1 if pnl < 0 else 0
        return self.streak >= limit

    def _on_reset(self) -> None:
        self.streak = 0

    def snapshot(self) -> dict[str, Any]:
        return {**super().snapshot(), "streak": self.streak}

    def restore(self, data: Mapping[str, Any]) -> None:
        super().restore(data)
        self.streak = int(data.get("streak", 0))


class ErrorBurstBreaker(Breaker):
    """HALTED when ``threshold`` venue errors or rejects arrive within a rolling window."""

    name = "error_burst"
    trips_to = TradingState.HALTED
    code = RiskReason.ERROR_BURST

    def __init__(self) -> None:
        super().__init__()
        self.errors: deque[int] = deque()

    def record(self, now_ms: int, window_ms: int, threshold: int) -> bool:
        """Count one error; True when the window now holds ``threshold`` of them."""
        self.errors.append(now_ms)
        while self.errors and self.errors[0] <= now_ms - window_ms:
            self.errors.popleft()
        return not self.tripped and len(self.errors) >= threshold

    def _on_reset(self) -> None:
        self.errors.clear()

    def snapshot(self) -> dict[str, Any]:
        return {**super().snapshot(), "errors": list(self.errors)}

    def restore(self, data: Mapping[str, Any]) -> None:
        super().restore(data)
        self.errors = deque(int(t) for t in data.get("errors", ()))


class DrawdownBreaker(Breaker):
    """Drawdown from peak equity: SOFT (REDUCING) and HARD (HALTED, flatten) levels.

    * SOFT trips when drawdown reaches the soft level and clears by itself once drawdown is back
      below it (RECOVERED), or on an explicit reset. After an explicit reset it does not trip
      again at the soft level until drawdown has been below it once (the reset acknowledged
      the current drawdown; trading resumes with scaled sizes), but HARD still trips.
    * HARD trips when drawdown reaches the hard level; only an explicit reset clears it. The
      engine then re-bases peak equity to the current equity (the account was flattened and
      starts a new high-water mark).
    """

    name = "drawdown"
    code = RiskReason.DRAWDOWN_SOFT

    SOFT = "SOFT"
    HARD = "HARD"

    def __init__(self) -> None:
        super().__init__()
        self.level: str | None = None
        self.soft_acknowledged = False

    @property
    def trips_to(self) -> TradingState:  # type: ignore[override]
        return TradingState.HALTED if self.level == self.HARD else TradingState.REDUCING

    def update(self, now_ms: int, drawdown: float, soft: float, hard: float) -> str | None:
        """Move with the latest drawdown; returns "HARD", "SOFT", "RECOVERED" or None."""
        if not reached(drawdown, soft):
            self.soft_acknowledged = False
        if reached(drawdown, hard):
            if self.level != self.HARD:
                self.level = self.HARD
                self.tripped_at_ms = now_ms
                self.until_ms = None
                self.reason = f"drawdown {drawdown:.2%} reached the hard limit {hard:.2%}"
                return self.HARD
            return None
        if reached(drawdown, soft):
            if self.level is None and not self.soft_acknowledged:
                self.level = self.SOFT
                self.tripped_at_ms = now_ms
                self.until_ms = None
                self.reason = f"drawdown {drawdown:.2%} reached the soft limit {soft:.2%}"
                return self.SOFT
            return None
        if self.level == self.SOFT:
            self.level = None
            self.tripped_at_ms = None
            self.reason = ""
            return "RECOVERED"
        return None

    def reset(self) -> bool:
        level = self.level
        if not super().reset():
            return False
        if level == self.SOFT:
            self.soft_acknowledged = True
        return True

    def _on_reset(self) -> None:
        self.level = None

    def snapshot(self) -> dict[str, Any]:
        return {
            **super().snapshot(),
            "level": self.level,
            "soft_acknowledged": self.soft_acknowledged,
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        super().restore(data)
        self.level = data.get("level")
        self.soft_acknowledged = bool(data.get("soft_acknowledged", False))


class ReconciliationBreaker(Breaker):
    """REDUCING when execution found the venue's balances or orders at odds with its journal on
    start. There is no cool-down: it clears only when an admin resets it, which acknowledges
    that the difference was looked at."""

    name = "reconciliation"
    trips_to = TradingState.REDUCING
    code = RiskReason.RECONCILIATION_MISMATCH
