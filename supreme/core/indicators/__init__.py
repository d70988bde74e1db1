"""Technical indicators: TA-Lib batch functions and their O(1) incremental twins.

The batch functions (:mod:`.batch`) return TA-Lib's numbers for whole arrays; the incremental
classes (:mod:`.incremental`) take one bar at a time and reproduce those arrays exactly.
"""

from supreme.core.indicators.batch import atr, bollinger, donchian, ema, macd, rsi, sma
from supreme.core.indicators.incremental import (
    ATR,
    EMA,
    MACD,
    RSI,
    SMA,
    Bollinger,
    Donchian,
    EMAVector,
    Indicator,
    restore_indicator,
)

__all__ = [
    "ATR",
    "EMA",
    "MACD",
    "RSI",
    "SMA",
    "Bollinger",
    "Donchian",
    "EMAVector",
    "Indicator",
    "atr",
    "bollinger",
    "donchian",
    "ema",
    "macd",
    "restore_indicator",
    "rsi",
    "sma",
]
