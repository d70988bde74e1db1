"""Position sizing: fractional Kelly once a strategy has a record, fixed-fractional before.

All functions are pure. Rules (fractions of equity):

* **Kelly** (``stats.trades >= kelly_min_trades``): the full-Kelly fraction
  ``f* = W - (1 - W) / R`` from the strategy's rolling win rate ``W`` and payoff ratio ``R``;
  the position's notional is ``kelly_fraction * f* * equity``. ``f* <= 0`` means no edge and
  sizes nothing (``NO_EDGE``).
* **Fixed-fractional** (fewer trades): ``fixed_fractional_risk_pct * equity`` at risk over the
  stop distance, ``quantity = equity * risk_pct / stop_distance``. Without a stop distance it
  cannot size (``SIZING_UNAVAILABLE``).
* The **stop distance** is ``|price - intent.stop_loss|`` when the intent carries a stop-loss,
  else ``atr_stop_multiple * ATR``. Kelly without any stop distance counts the whole notional
  as at risk (stop distance = price), which makes the 2% risk cap a 2% notional cap.
* **Caps**, whatever the method: notional ``<= max_position_pct * equity`` and
  ``quantity * stop_distance <= max_risk_per_trade_pct * equity``.
* **Drawdown scale**: the capped quantity is multiplied by ``scale`` (the engine passes
  ``drawdown_size_scale`` while drawdown is at or beyond the soft level, else 1).

Lot rounding, per-symbol headroom, order notional and gross exposure are the engine's job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from supreme.core.errors import InvalidArgument
from supreme.core.risk.config import RiskConfig
from supreme.core.risk.events import RiskReason
from supreme.core.risk.trades import StrategyStats

__all__ = [
    "SizingMethod",
    "SizingResult",
    "fixed_fractional_quantity",
    "kelly_fraction",
    "size_order",
    "stop_distance",
]


class SizingMethod(StrEnum):
    KELLY = "KELLY"
    FIXED_FRACTIONAL = "FIXED_FRACTIONAL"
    EXPLICIT = "EXPLICIT"  # the intent gave its quantity
    REDUCE = "REDUCE"  # an exposure-reducing order, capped at the position


def _finite(value: float, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgument(f"{name} must be a finite number, got {value!r}")


def kelly_fraction(win_rate: float, payoff_ratio: float) -> float:
    """The full-Kelly bet ``W - (1 - W) / R``.

    ``R = inf`` (no losses) gives ``W``. The result may be <= 0 (no edge); it is clamped at
    -1.0 so that ``R = 0`` (no wins) stays finite: a negative value only means "no edge".
    """
    if isinstance(win_rate, bool) or not isinstance(win_rate, int | float):
        raise InvalidArgument(f"win_rate must be a number in [0, 1], got {win_rate!r}")
    if not 0.0 <= win_rate <= 1.0:
        raise InvalidArgument(f"win_rate must be a number in [0, 1], got {win_rate!r}")
    if isinstance(payoff_ratio, bool) or not isinstance(payoff_ratio, int | float):
        raise InvalidArgument(f"payoff_ratio must be a number >= 0, got {payoff_ratio!r}")
    if math.isnan(payoff_ratio) or payoff_ratio < 0:
        raise InvalidArgument(f"payoff_ratio must be a number >= 0, got {payoff_ratio!r}")
    if math.isinf(payoff_ratio):
        return float(win_rate)
    if payoff_ratio == 0:
        return 1.0 if win_rate == 1.0 else -1.0
    return max(-1.0, win_rate - (1.0 - win_rate) / payoff_ratio)


def fixed_fractional_quantity(equity: float, risk_pct: float, stop_distance: float) -> float:
    """The quantity that loses ``risk_pct`` of ``equity`` if the price moves ``stop_distance``."""
    _finite(equity, "equity")
    _finite(risk_pct, "risk_pct")
    _finite(stop_distance, "stop_distance")
    if stop_distance <= 0:
        raise InvalidArgument(f"stop_distance must be > 0, got {stop_distance!r}")
    if risk_pct < 0:
        raise InvalidArgument(f"risk_pct must be >= 0, got {risk_pct!r}")
    return max(0.0, equity) * risk_pct / stop_distance


def stop_distance(
    price: float, *, atr: float | None, atr_multiple: float, stop_loss: float | None = None
) -> float | None:
    """The stop distance sizing uses: from the stop-loss if given, else from ATR, else None."""
    if stop_loss is not None and math.isfinite(stop_loss) and stop_loss != price:
        return abs(price - stop_loss)
    if atr is not None and math.isfinite(atr) and atr > 0:
        return atr_multiple * atr
    return None


@dataclass(frozen=True, slots=True)
class SizingResult:
    """What sizing decided. ``denial`` is set (and ``quantity`` is 0) when it cannot size."""

    quantity: float
    method: SizingMethod
    denial: RiskReason | None = None
    message: str = ""
    stop_distance: float | None = None
    stop_from_atr: bool = False  # the stop distance came from ATR (default stop applies)
    edge: float | None = None  # full-Kelly fraction f*
    raw_quantity: float = 0.0  # before caps and scale
    capped_by: tuple[str, ...] = ()
    scale: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    def details(self) -> dict[str, Any]:
        return {
            "sizing_method": self.method.value,
            "sizing_raw_quantity": self.raw_quantity,
            "sizing_quantity": self.quantity,
            "stop_distance": self.stop_distance,
            "kelly_edge": self.edge,
            "sizing_capped_by": list(self.capped_by),
            "size_scale": self.scale,
            **self.extra,
        }


def size_order(
    *,
    equity: float,
    price: float,
    config: RiskConfig,
    stats: StrategyStats | None = None,
    atr: float | None = None,
    stop_loss: float | None = None,
    scale: float = 1.0,
) -> SizingResult:
    """Size a new position (see the module docstring for the rules)."""
    _finite(equity, "equity")
    _finite(price, "price")
    if price <= 0:
        raise InvalidArgument(f"price must be > 0, got {price!r}")
    if not 0 < scale <= 1:
        raise InvalidArgument(f"scale must lie in (0, 1], got {scale!r}")
    distance = stop_distance(
        price, atr=atr, atr_multiple=config.atr_stop_multiple, stop_loss=stop_loss
    )
    from_atr = distance is not None and (stop_loss is None or stop_loss == price)
    use_kelly = stats is not None and stats.trades >= config.kelly_min_trades
    if use_kelly:
        assert stats is not None
        edge = kelly_fraction(stats.win_rate, stats.payoff_ratio)
        extra = {
            "win_rate": stats.win_rate,
            "payoff_ratio": stats.payoff_ratio,
            "trades": stats.trades,
        }
        if edge <= 0:
            return SizingResult(
                0.0,
                SizingMethod.KELLY,
                RiskReason.NO_EDGE,
                f"strategy {stats.strategy!r} has no edge: Kelly fraction {edge:.4f} <= 0 "
                f"(win rate {stats.win_rate:.3f}, payoff ratio {stats.payoff_ratio:.3f} over "
                f"{stats.trades} trades); expected a positive edge",
                distance,
                from_atr,
                edge,
                extra=extra,
            )
        raw = config.kelly_fraction * edge * max(0.0, equity) / price
        method = SizingMethod.KELLY
        risk_distance = distance if distance is not None else price
    else:
        edge = None
        extra = {"trades": stats.trades if stats is not None else 0}
        if distance is None:
            return SizingResult(
                0.0,
                SizingMethod.FIXED_FRACTIONAL,
                RiskReason.SIZING_UNAVAILABLE,
                "fixed-fractional sizing needs a stop distance: no ATR for the symbol and no "
                "stop_loss on the intent; expected an ATR > 0 or a stop_loss",
                extra=extra,
            )
        raw = fixed_fractional_quantity(equity, config.fixed_fractional_risk_pct, distance)
        method = SizingMethod.FIXED_FRACTIONAL
        risk_distance = distance
    quantity = raw
    capped: list[str] = []
    position_cap = config.max_position_pct * max(0.0, equity) / price
    if quantity > position_cap:
        quantity = position_cap
        capped.append("max_position_pct")
    risk_cap = config.max_risk_per_trade_pct * max(0.0, equity) / risk_distance
    if quantity > risk_cap:
        quantity = risk_cap
        capped.append("max_risk_per_trade_pct")
    quantity *= scale
    return SizingResult(
        quantity,
        method,
        None,
        "",
        distance,
        from_atr,
        edge,
        raw,
        tuple(capped),
        scale,
        extra,
    )
