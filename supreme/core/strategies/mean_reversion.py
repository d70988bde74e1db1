"""Mean reversion on Bollinger bands."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from supreme.core.errors import InvalidArgument
from supreme.core.indicators import Bollinger, bollinger
from supreme.core.model import Bar, BarBatch, Direction, Signal
from supreme.core.strategies.base import (
    BaseStrategy,
    Param,
    clamp01,
    single_symbol,
    validate_params,
)
from supreme.core.strategies.registry import register

__all__ = ["MeanReversion", "mean_reversion_step", "mean_reversion_strength"]

LONG, FLAT, SHORT = Direction.LONG, Direction.FLAT, Direction.SHORT


def mean_reversion_step(
    state: Direction, close: float, upper: float, middle: float, lower: float
) -> Direction:
    """The mean-reversion rule: the target after one bar, from the target ``state`` at its start.

    From FLAT: ``close < lower`` gives LONG, ``close > upper`` gives SHORT. From LONG:
    ``close >= middle`` gives FLAT. From SHORT: ``close <= middle`` gives FLAT. It never
    reverses directly. Any NaN input keeps ``state``.
    """
    if close != close or upper != upper or middle != middle or lower != lower:
        return state
    if state is FLAT:
        if close < lower:
            return LONG
        if close > upper:
            return SHORT
        return FLAT
    if state is LONG:
        return FLAT if close >= middle else LONG
    return FLAT if close <= middle else SHORT


def mean_reversion_strength(
    direction: Direction, close: float, upper: float, middle: float, lower: float, k: float
) -> float:
    """Distance beyond the band in standard deviations (``sigma = (middle - lower) / k``).

    LONG: ``(lower - close) / sigma``; SHORT: ``(close - upper) / sigma``; 1.0 when sigma is 0;
    FLAT: 1.0 (an exit is unconditional). Clamped to [0, 1].
    """
    if direction is FLAT:
        return 1.0
    sigma = (middle - lower) / k if k > 0.0 else 0.0
    excess = lower - close if direction is LONG else close - upper
    if not sigma > 0.0:
        return 1.0
    return clamp01(excess / sigma)


@register
class MeanReversion(BaseStrategy):
    """Fade moves outside the Bollinger bands (SMA ± k population sigma of close).

    FLAT -> LONG when close < lower, FLAT -> SHORT when close > upper; LONG -> FLAT when
    close >= middle, SHORT -> FLAT when close <= middle. Never reverses directly.

    Strength: see :func:`mean_reversion_strength` (excess beyond the band in sigmas; FLAT
    signals carry 1.0).
    """

    name = "mean_reversion"
    description = "Bollinger band fade: enter outside the bands, exit at the middle band."
    params = (
        Param("period", 20, 2, 500, integer=True, doc="Bollinger period (SMA and sigma)"),
        Param("k", 2.0, 0.1, 10, doc="band width in population standard deviations"),
    )

    __slots__ = ("_bands", "_k")

    def __init__(self, symbol: str, params: Mapping[str, float] | None = None) -> None:
        super().__init__(symbol, params)
        self._k = float(self.param_values["k"])
        self._bands = Bollinger(self.param_values["period"], self._k)

    def evaluate(self, bar: Bar) -> Direction:
        upper, middle, lower = self._bands.update(bar.close)
        return mean_reversion_step(self._direction, bar.close, upper, middle, lower)

    def signal_strength(self, bar: Bar, direction: Direction) -> float:
        b = self._bands
        return mean_reversion_strength(direction, bar.close, b.upper, b.middle, b.lower, self._k)

    def state_dict(self) -> dict[str, Any]:
        return {"bands": self._bands.snapshot()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        try:
            self._bands = Bollinger.restore(state["bands"])
        except (KeyError, TypeError) as exc:
            raise InvalidArgument(f"malformed mean_reversion state: {exc!r}") from None

    @classmethod
    def generate_signals(
        cls, bars: BarBatch, params: Mapping[str, float] | None = None
    ) -> list[Signal]:
        """Batch path: TA-Lib BBANDS over the close series, then :func:`mean_reversion_step`."""
        v = validate_params(cls, params)
        symbol = single_symbol(bars)
        if symbol is None:
            return []
        k = float(v["k"])
        up, mid, low = (a.tolist() for a in bollinger(bars.close, v["period"], k))
        close, times = bars.close.tolist(), bars.time_ms.tolist()
        state = FLAT
        signals = []
        for i in range(len(close)):
            c = close[i]
            new = mean_reversion_step(state, c, up[i], mid[i], low[i])
            if new is not state:
                state = new
                strength = clamp01(mean_reversion_strength(new, c, up[i], mid[i], low[i], k))
                signals.append(Signal(symbol, cls.name, times[i], new, strength, c))
        return signals
