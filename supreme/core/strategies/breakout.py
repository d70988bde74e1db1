"""Breakout: Donchian channel entries filtered by ATR, with a shorter exit channel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from supreme.core.errors import InvalidArgument
from supreme.core.indicators import ATR, Donchian, atr, donchian
from supreme.core.model import Bar, BarBatch, Direction, Signal
from supreme.core.strategies.base import (
    BaseStrategy,
    Param,
    clamp01,
    single_symbol,
    validate_params,
)
from supreme.core.strategies.registry import register

__all__ = ["Breakout", "breakout_step", "breakout_strength"]

LONG, FLAT, SHORT = Direction.LONG, Direction.FLAT, Direction.SHORT


def breakout_step(
    state: Direction,
    close: float,
    hi: float,
    lo: float,
    exit_hi: float,
    exit_lo: float,
    atr_now: float,
    atr_mult: float,
) -> Direction:
    """The breakout rule: the target after one bar, from the target ``state`` at its start.

    ``hi``/``lo`` are the highest high / lowest low of the previous ``channel`` bars and
    ``exit_hi``/``exit_lo`` those of the previous ``exit_channel`` bars (the current bar is not
    included). Entry: ``close > hi + atr_mult * ATR`` gives LONG, ``close < lo - atr_mult * ATR``
    gives SHORT; an opposite entry reverses directly and wins over an exit on the same bar.
    Exit: from LONG, ``close < exit_lo`` gives FLAT; from SHORT, ``close > exit_hi`` gives FLAT.
    Any NaN input keeps ``state``.
    """
    if (
        close != close
        or hi != hi
        or lo != lo
        or exit_hi != exit_hi
        or exit_lo != exit_lo
        or atr_now != atr_now
    ):
        return state
    band = atr_mult * atr_now
    if close > hi + band:
        return LONG
    if close < lo - band:
        return SHORT
    if state is LONG:
        return FLAT if close < exit_lo else LONG
    if state is SHORT:
        return FLAT if close > exit_hi else SHORT
    return state


def breakout_strength(
    direction: Direction, close: float, hi: float, lo: float, atr_now: float
) -> float:
    """Excess over the channel in ATR units.

    LONG: ``(close - hi) / ATR``; SHORT: ``(lo - close) / ATR``; 1.0 when ATR is 0; FLAT: 1.0
    (an exit is unconditional). Clamped to [0, 1].
    """
    if direction is FLAT:
        return 1.0
    if not atr_now > 0.0:
        return 1.0
    excess = close - hi if direction is LONG else lo - close
    return clamp01(excess / atr_now)


@register
class Breakout(BaseStrategy):
    """Donchian breakout with an ATR filter and a shorter exit channel.

    LONG when close clears the previous ``channel`` bars' highest high by ``atr_mult`` ATRs,
    SHORT on the mirror; a LONG exits to FLAT when close breaks the previous ``exit_channel``
    bars' lowest low (mirror for SHORT). An opposite entry reverses directly and wins over an
    exit. Nothing happens until every channel and the ATR exist.

    Strength: see :func:`breakout_strength` (excess over the channel in ATRs; FLAT signals
    carry 1.0).
    """

    name = "breakout"
    description = "Donchian channel breakout with ATR filter; shorter channel for exits."
    params = (
        Param("channel", 20, 2, 500, integer=True, doc="entry channel length (previous bars)"),
        Param("exit_channel", 10, 2, 500, integer=True, doc="exit channel length"),
        Param("atr_period", 14, 1, 200, integer=True, doc="ATR period (Wilder)"),
        Param("atr_mult", 0.5, 0, 10, doc="ATRs the close must clear the channel by"),
    )

    __slots__ = ("_atr", "_atr_mult", "_atr_now", "_channel", "_exit", "_hi", "_lo")

    def __init__(self, symbol: str, params: Mapping[str, float] | None = None) -> None:
        super().__init__(symbol, params)
        v = self.param_values
        self._channel = Donchian(v["channel"])
        self._exit = Donchian(v["exit_channel"])
        self._atr = ATR(v["atr_period"])
        self._atr_mult = float(v["atr_mult"])
        self._hi = self._lo = self._atr_now = float("nan")

    def evaluate(self, bar: Bar) -> Direction:
        channel, exit_channel = self._channel, self._exit
        # The channels as of the previous bar: read before this bar goes in.
        hi = self._hi = channel.upper
        lo = self._lo = channel.lower
        exit_hi, exit_lo = exit_channel.upper, exit_channel.lower
        high, low, close = bar.high, bar.low, bar.close
        atr_now = self._atr_now = self._atr.update(high, low, close)
        channel.update(high, low)
        exit_channel.update(high, low)
        return breakout_step(
            self._direction, close, hi, lo, exit_hi, exit_lo, atr_now, self._atr_mult
        )

    def signal_strength(self, bar: Bar, direction: Direction) -> float:
        return breakout_strength(direction, bar.close, self._hi, self._lo, self._atr_now)

    def state_dict(self) -> dict[str, Any]:
        # _hi/_lo/_atr_now only feed signal_strength right after evaluate: not state.
        return {
            "channel": self._channel.snapshot(),
            "exit": self._exit.snapshot(),
            "atr": self._atr.snapshot(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        try:
            restored = (
                Donchian.restore(state["channel"]),
                Donchian.restore(state["exit"]),
                ATR.restore(state["atr"]),
            )
        except (KeyError, TypeError) as exc:
            raise InvalidArgument(f"malformed breakout state: {exc!r}") from None
        self._channel, self._exit, self._atr = restored

    @classmethod
    def generate_signals(
        cls, bars: BarBatch, params: Mapping[str, float] | None = None
    ) -> list[Signal]:
        """Batch path: TA-Lib MAX/MIN and ATR over the whole series, then
        :func:`breakout_step` with the channels shifted by one bar."""
        v = validate_params(cls, params)
        symbol = single_symbol(bars)
        if symbol is None:
            return []
        hi, lo = (a.tolist() for a in donchian(bars.high, bars.low, v["channel"]))
        ex_hi, ex_lo = (a.tolist() for a in donchian(bars.high, bars.low, v["exit_channel"]))
        atr_l = atr(bars.high, bars.low, bars.close, v["atr_period"]).tolist()
        close, times = bars.close.tolist(), bars.time_ms.tolist()
        mult = float(v["atr_mult"])
        state = FLAT
        signals = []
        for i in range(1, len(close)):
            c = close[i]
            new = breakout_step(
                state, c, hi[i - 1], lo[i - 1], ex_hi[i - 1], ex_lo[i - 1], atr_l[i], mult
            )
            if new is not state:
                state = new
                strength = clamp01(breakout_strength(new, c, hi[i - 1], lo[i - 1], atr_l[i]))
                signals.append(Signal(symbol, cls.name, times[i], new, strength, c))
        return signals
