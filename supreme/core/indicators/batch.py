"""Batch indicators: thin, validated wrappers over TA-Lib.

Every function takes array-likes, returns ``float64`` arrays as long as its input, and has NaN
in the warm-up positions. The numbers are TA-Lib's own; these wrappers only check arguments and
normalise inputs, so :mod:`supreme.core.indicators.incremental` has a single reference to match.
"""

from __future__ import annotations

import numbers

import numpy as np
import numpy.typing as npt
import talib

from supreme.core.errors import InvalidArgument

__all__ = ["atr", "bollinger", "donchian", "ema", "macd", "rsi", "sma"]

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]

# TA-Lib accepts time periods up to 100000 for every function used here.
MAX_PERIOD = 100_000


def check_period(value: object, name: str, minimum: int = 1) -> int:
    """``value`` as an ``int`` in [minimum, 100000], or :class:`InvalidArgument` naming it.

    Whole floats (``12.0``) are accepted; booleans, fractions and non-numbers are not.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgument(f"{name} must be an integer >= {minimum}, got {value!r}")
    if isinstance(value, numbers.Integral):
        period = int(value)
    else:
        as_float = float(value)
        if not as_float.is_integer():
            raise InvalidArgument(f"{name} must be an integer >= {minimum}, got {value!r}")
        period = int(as_float)
    if not minimum <= period <= MAX_PERIOD:
        raise InvalidArgument(
            f"{name} must be an integer in [{minimum}, {MAX_PERIOD}], got {value!r}"
        )
    return period


def check_multiplier(value: object, name: str) -> float:
    """``value`` as a finite ``float`` >= 0, or :class:`InvalidArgument` naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgument(f"{name} must be a finite number >= 0, got {value!r}")
    result = float(value)
    if not np.isfinite(result) or result < 0:
        raise InvalidArgument(f"{name} must be a finite number >= 0, got {value!r}")
    return result


def _series(values: ArrayLike, name: str) -> FloatArray:
    try:
        array = np.ascontiguousarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{name} must be a 1-D array of numbers: {exc}") from None
    if array.ndim != 1:
        raise InvalidArgument(f"{name} must be 1-D, got an array of shape {array.shape}")
    return array


def _same_length(**arrays: FloatArray) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidArgument(f"inputs must have the same length, got {lengths}")


def sma(x: ArrayLike, period: int) -> FloatArray:
    """Simple moving average (``talib.SMA``); the first value is at index ``period - 1``."""
    period = check_period(period, "period")
    return talib.SMA(_series(x, "x"), timeperiod=period)


def ema(x: ArrayLike, period: int) -> FloatArray:
    """Exponential moving average (``talib.EMA``), ``k = 2 / (period + 1)``, seeded with the SMA
    of the first ``period`` values; the first value is at index ``period - 1``."""
    period = check_period(period, "period")
    return talib.EMA(_series(x, "x"), timeperiod=period)


def rsi(x: ArrayLike, period: int = 14) -> FloatArray:
    """Wilder's relative strength index (``talib.RSI``); the first value is at index ``period``.

    Where the average gain plus the average loss is zero (no change since the seed), it is 0.
    """
    period = check_period(period, "period", 2)
    return talib.RSI(_series(x, "x"), timeperiod=period)


def macd(
    x: ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(macd, signal, hist)`` from ``talib.MACD``.

    As in TA-Lib, all three are NaN until the signal line exists, at index
    ``slow + signal - 2``. TA-Lib silently swaps ``fast`` and ``slow`` when ``fast > slow``;
    here that is an :class:`InvalidArgument` instead.
    """
    fast = check_period(fast, "fast", 2)
    slow = check_period(slow, "slow", 2)
    signal = check_period(signal, "signal", 1)
    if fast > slow:
        raise InvalidArgument(f"fast must be <= slow, got fast={fast} > slow={slow}")
    line, sig, hist = talib.MACD(
        _series(x, "x"), fastperiod=fast, slowperiod=slow, signalperiod=signal
    )
    return line, sig, hist


def bollinger(
    x: ArrayLike, period: int = 20, k: float = 2.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(upper, middle, lower)``: SMA ± ``k`` population standard deviations (``talib.BBANDS``
    with ``matype=0``)."""
    period = check_period(period, "period", 2)
    k = check_multiplier(k, "k")
    upper, middle, lower = talib.BBANDS(
        _series(x, "x"), timeperiod=period, nbdevup=k, nbdevdn=k, matype=0
    )
    return upper, middle, lower


def atr(high: ArrayLike, low: ArrayLike, close: ArrayLike, period: int = 14) -> FloatArray:
    """Wilder's average true range (``talib.ATR``).

    The first value, at index ``period``, is the mean of the first ``period`` true ranges (which
    start at index 1); then ``atr = (atr * (period - 1) + tr) / period``.
    """
    period = check_period(period, "period", 1)
    h, lo, c = _series(high, "high"), _series(low, "low"), _series(close, "close")
    _same_length(high=h, low=lo, close=c)
    return talib.ATR(h, lo, c, timeperiod=period)


def donchian(high: ArrayLike, low: ArrayLike, period: int = 20) -> tuple[FloatArray, FloatArray]:
    """``(upper, lower)`` = highest high and lowest low of the last ``period`` bars, including the
    current one (``talib.MAX`` / ``talib.MIN``); the first value is at index ``period - 1``."""
    period = check_period(period, "period", 2)
    h, lo = _series(high, "high"), _series(low, "low")
    _same_length(high=h, low=lo)
    return talib.MAX(h, timeperiod=period), talib.MIN(lo, timeperiod=period)
