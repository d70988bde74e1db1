"""Momentum: MACD crosses confirmed by RSI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from supreme.core.errors import InvalidArgument
from supreme.core.indicators import MACD, RSI, macd, rsi
from supreme.core.model import Bar, BarBatch, Direction, Signal
from supreme.core.strategies.base import (
    BaseStrategy,
    Param,
    clamp01,
    nan_to_none,
    none_to_nan,
    single_symbol,
    validate_params,
)
from supreme.core.strategies.registry import register

__all__ = ["Momentum", "momentum_step", "momentum_strength"]

LONG, FLAT, SHORT = Direction.LONG, Direction.FLAT, Direction.SHORT
NAN = float("nan")


def momentum_step(
    state: Direction,
    macd_prev: float,
    signal_prev: float,
    macd_now: float,
    signal_now: float,
    rsi_now: float,
    rsi_upper: float,
    rsi_lower: float,
) -> Direction:
    """The momentum rule: the target after one bar, from the target ``state`` at its start.

    A cross up is ``macd_prev <= signal_prev`` and ``macd_now > signal_now``; a cross down is
    its mirror. On a cross up, ``50 < RSI < rsi_upper`` gives LONG (reversing a SHORT
    directly); otherwise a SHORT target becomes FLAT. On a cross down, ``rsi_lower < RSI < 50``
    gives SHORT; otherwise a LONG target becomes FLAT. Any NaN input keeps ``state``.
    """
    if (
        macd_prev != macd_prev
        or signal_prev != signal_prev
        or macd_now != macd_now
        or signal_now != signal_now
        or rsi_now != rsi_now
    ):
        return state
    if macd_prev <= signal_prev and macd_now > signal_now:
        if 50.0 < rsi_now < rsi_upper:
            return LONG
        return FLAT if state is SHORT else state
    if macd_prev >= signal_prev and macd_now < signal_now:
        if rsi_lower < rsi_now < 50.0:
            return SHORT
        return FLAT if state is LONG else state
    return state


def momentum_strength(
    direction: Direction, rsi_now: float, rsi_upper: float, rsi_lower: float
) -> float:
    """How far RSI sits from neutral, relative to the confirming band.

    LONG: ``(RSI - 50) / (rsi_upper - 50)``; SHORT: ``(50 - RSI) / (50 - rsi_lower)``, both in
    (0, 1) by construction of the rule; FLAT: 1.0 (an exit is unconditional). Clamped to [0, 1].
    """
    if direction is LONG:
        span = rsi_upper - 50.0
        return clamp01((rsi_now - 50.0) / span) if span > 0.0 else 1.0
    if direction is SHORT:
        span = 50.0 - rsi_lower
        return clamp01((50.0 - rsi_now) / span) if span > 0.0 else 1.0
    return 1.0


@register
class Momentum(BaseStrategy):
    """MACD cross confirmed by RSI, evaluated on close.

    Cross up with ``50 < RSI < rsi_upper``: LONG (directly from SHORT too); a cross up without
    that confirmation only closes a SHORT. Cross down with ``rsi_lower < RSI < 50``: SHORT;
    without confirmation it only closes a LONG. MACD, signal line and RSI are TA-Lib's, on close.

    Strength: see :func:`momentum_strength` (RSI distance from 50 relative to the confirming
    band; FLAT signals carry 1.0).
    """

    name = "momentum"
    description = "MACD line/signal crosses confirmed by RSI; reverses directly."
    params = (
        Param("fast", 12, 2, 200, integer=True, doc="fast EMA period of MACD"),
        Param("slow", 26, 3, 500, integer=True, doc="slow EMA period of MACD (> fast)"),
        Param("signal", 9, 1, 200, integer=True, doc="EMA period of the MACD signal line"),
        Param("rsi_period", 14, 2, 200, integer=True, doc="RSI period"),
        Param("rsi_upper", 70, 50, 100, doc="a LONG needs RSI strictly between 50 and this"),
        Param("rsi_lower", 30, 0, 50, doc="a SHORT needs RSI strictly between this and 50"),
    )

    __slots__ = ("_lower", "_macd", "_macd_prev", "_rsi", "_rsi_now", "_signal_prev", "_upper")

    @classmethod
    def check_params(cls, values: Mapping[str, float]) -> None:
        if values["fast"] >= values["slow"]:
            raise InvalidArgument(
                f"parameter 'fast' of strategy 'momentum' must be < 'slow', "
                f"got fast={values['fast']} >= slow={values['slow']}"
            )

    def __init__(self, symbol: str, params: Mapping[str, float] | None = None) -> None:
        super().__init__(symbol, params)
        v = self.param_values
        self._macd = MACD(v["fast"], v["slow"], v["signal"])
        self._rsi = RSI(v["rsi_period"])
        self._upper = float(v["rsi_upper"])
        self._lower = float(v["rsi_lower"])
        self._macd_prev = NAN
        self._signal_prev = NAN
        self._rsi_now = NAN

    def evaluate(self, bar: Bar) -> Direction:
        close = bar.close
        line, sig, _ = self._macd.update(close)
        r = self._rsi_now = self._rsi.update(close)
        new = momentum_step(
            self._direction,
            self._macd_prev,
            self._signal_prev,
            line,
            sig,
            r,
            self._upper,
            self._lower,
        )
        self._macd_prev = line
        self._signal_prev = sig
        return new

    def signal_strength(self, bar: Bar, direction: Direction) -> float:
        return momentum_strength(direction, self._rsi_now, self._upper, self._lower)

    def state_dict(self) -> dict[str, Any]:
        return {
            "macd": self._macd.snapshot(),
            "rsi": self._rsi.snapshot(),
            "macd_prev": nan_to_none(self._macd_prev),
            "signal_prev": nan_to_none(self._signal_prev),
            "rsi_now": nan_to_none(self._rsi_now),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        try:
            macd_ind = MACD.restore(state["macd"])
            rsi_ind = RSI.restore(state["rsi"])
            prev = (
                none_to_nan(state["macd_prev"]),
                none_to_nan(state["signal_prev"]),
                none_to_nan(state["rsi_now"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"malformed momentum state: {exc!r}") from None
        self._macd, self._rsi = macd_ind, rsi_ind
        self._macd_prev, self._signal_prev, self._rsi_now = prev

    @classmethod
    def generate_signals(
        cls, bars: BarBatch, params: Mapping[str, float] | None = None
    ) -> list[Signal]:
        """Batch path: TA-Lib MACD and RSI over the whole close series, then
        :func:`momentum_step` bar by bar."""
        v = validate_params(cls, params)
        symbol = single_symbol(bars)
        if symbol is None:
            return []
        line, sig, _ = macd(bars.close, v["fast"], v["slow"], v["signal"])
        r = rsi(bars.close, v["rsi_period"]).tolist()
        line_l, sig_l = line.tolist(), sig.tolist()
        close, times = bars.close.tolist(), bars.time_ms.tolist()
        upper, lower = float(v["rsi_upper"]), float(v["rsi_lower"])
        state = FLAT
        signals = []
        for i in range(1, len(close)):
            new = momentum_step(
                state, line_l[i - 1], sig_l[i - 1], line_l[i], sig_l[i], r[i], upper, lower
            )
            if new is not state:
                state = new
                strength = clamp01(momentum_strength(new, r[i], upper, lower))
                signals.append(Signal(symbol, cls.name, times[i], new, strength, close[i]))
        return signals
