"""Shared synthetic market data for the indicator and strategy tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from supreme.core.model import Bar, BarBatch

BAR_MS = 60_000
START_MS = 1_700_000_000_000


def ohlc_walk(
    n: int = 5000,
    *,
    seed: int = 7,
    price: float = 100.0,
    regime: int = 500,
    vols: tuple[float, float] = (0.005, 0.03),
    flat: Sequence[tuple[int, int]] = ((1000, 1080), (3000, 3060)),
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(open, high, low, close)`` of a geometric random walk.

    Volatility alternates between ``vols`` every ``regime`` bars; inside each ``flat`` range
    ``[start, stop)`` the price is constant and open == high == low == close.
    """
    rng = np.random.default_rng(seed)
    vol = np.where((np.arange(n) // regime) % 2 == 0, vols[0], vols[1])
    returns = rng.normal(0.0, vol)
    is_flat = np.zeros(n, dtype=bool)
    for start, stop in flat:
        is_flat[start:stop] = True
    returns[is_flat] = 0.0
    close = price * np.exp(np.cumsum(returns))
    open_ = np.empty(n)
    open_[0] = close[0]
    open_[1:] = close[:-1]
    spread = np.abs(rng.normal(0.0, vol)) * close
    high = np.maximum(open_, close) + spread * rng.random(n)
    low = np.minimum(open_, close) - spread * rng.random(n)
    for series in (open_, high, low):
        series[is_flat] = close[is_flat]
    return open_, high, low, close


def walk_batch(symbol: str = "BTC-USD", **kwargs: object) -> BarBatch:
    """:func:`ohlc_walk` as a single-symbol :class:`BarBatch` of one-minute bars."""
    open_, high, low, close = ohlc_walk(**kwargs)  # type: ignore[arg-type]
    times = START_MS + np.arange(len(close), dtype=np.int64) * BAR_MS
    return BarBatch(symbol, times, open_, high, low, close)


def bars_from_closes(
    closes: Sequence[float],
    symbol: str = "TEST",
    *,
    highs: Sequence[float] | None = None,
    lows: Sequence[float] | None = None,
) -> list[Bar]:
    """Bars with the given closes (open = close; high/low = close unless given)."""
    bars = []
    for i, close in enumerate(closes):
        high = close if highs is None else highs[i]
        low = close if lows is None else lows[i]
        bars.append(Bar(symbol, START_MS + i * BAR_MS, close, high, low, close))
    return bars
