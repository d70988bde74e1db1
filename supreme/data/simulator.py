"""Synthetic market data: geometric Brownian motion with volatility regimes and jumps.

The generator is seeded and reproducible. It is what the demo, the benchmarks and many tests run
on when no real data is at hand, so it aims to look like a real market to the strategies: calm
and turbulent regimes that persist, occasional jumps, intrabar ranges that widen with
volatility, and volume that rises with it.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import numpy as np

from supreme.core.model import BarBatch

__all__ = ["SimulatorConfig", "SimulatorFeed", "simulate_bars", "simulator_stream"]


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Parameters of the random walk, per bar. The defaults resemble hourly crypto bars."""

    initial_price: float = 100.0
    drift: float = 0.0
    volatilities: tuple[float, ...] = (0.004, 0.012, 0.03)
    # Probability of leaving the current regime on any bar; regimes last ~1/p bars.
    regime_switch_probability: float = 0.01
    jump_probability: float = 0.002
    jump_scale: float = 0.05
    base_volume: float = 1_000.0

    def __post_init__(self) -> None:
        if not self.initial_price > 0:
            raise ValueError(f"initial_price must be > 0, got {self.initial_price}")
        if not self.volatilities or min(self.volatilities) <= 0:
            raise ValueError("volatilities must be a non-empty tuple of values > 0")
        for name in ("regime_switch_probability", "jump_probability"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")


def _one_symbol(
    rng: np.random.Generator, n: int, config: SimulatorConfig, initial_price: float
) -> tuple[np.ndarray, ...]:
    n_regimes = len(config.volatilities)
    switches = rng.random(n) < config.regime_switch_probability
    # A switch moves to a uniformly chosen *other* regime.
    steps = np.where(switches, rng.integers(1, max(n_regimes, 2), n), 0)
    regime = (rng.integers(0, n_regimes) + np.cumsum(steps)) % n_regimes
    sigma = np.asarray(config.volatilities)[regime]

    jumps = np.where(
        rng.random(n) < config.jump_probability, rng.normal(0.0, config.jump_scale, n), 0.0
    )
    # ``drift`` is the drift of the log price: with zero drift the median price stays put
    # instead of decaying through the volatility drag of long, turbulent runs.
    log_returns = config.drift + sigma * rng.standard_normal(n) + jumps
    close = initial_price * np.exp(np.cumsum(log_returns))
    # Opens sit near the previous close, with a small gap.
    previous = np.concatenate(([initial_price], close[:-1]))
    open_ = previous * np.exp(rng.normal(0.0, sigma * 0.1, n))
    # The intrabar range extends beyond the body by a volatility-scaled excursion.
    body_high = np.maximum(open_, close)
    body_low = np.minimum(open_, close)
    high = body_high * np.exp(np.abs(rng.normal(0.0, sigma * 0.5, n)))
    low = body_low * np.exp(-np.abs(rng.normal(0.0, sigma * 0.5, n)))
    volume = config.base_volume * (sigma / min(config.volatilities)) * rng.lognormal(0, 0.5, n)
    return open_, high, low, close, volume


def simulate_bars(
    symbols: Sequence[str] | str,
    n_bars: int,
    *,
    interval_ms: int = 3_600_000,
    start_ms: int = 1_704_067_200_000,  # 2024-01-01T00:00:00Z
    seed: int = 0,
    config: SimulatorConfig | None = None,
) -> BarBatch:
    """``n_bars`` bars for each symbol, ordered by time then by symbol.

    Each symbol gets its own random stream derived from ``seed`` and its position, and its own
    starting price, so symbols are distinct but the whole set is reproducible.
    """
    config = config or SimulatorConfig()
    names = [symbols] if isinstance(symbols, str) else list(symbols)
    if not names:
        raise ValueError("symbols must name at least one symbol")
    if n_bars < 0:
        raise ValueError(f"n_bars must be >= 0, got {n_bars}")
    if interval_ms <= 0:
        raise ValueError(f"interval_ms must be > 0, got {interval_ms}")
    children = np.random.SeedSequence(seed).spawn(len(names))
    columns: list[tuple[np.ndarray, ...]] = []
    for k, child in enumerate(children):
        rng = np.random.default_rng(child)
        # The first symbol starts at initial_price; the others are spread around it.
        spread = float(np.exp(rng.normal(0.0, 0.5))) if k else 1.0
        start_price = config.initial_price * spread
        columns.append(_one_symbol(rng, n_bars, config, start_price))
    n_symbols = len(names)
    times = start_ms + np.arange(n_bars, dtype=np.int64) * interval_ms
    # Interleave: row r is bar r // n_symbols of symbol r % n_symbols.
    stacked = [np.stack([c[j] for c in columns], axis=1).reshape(-1) for j in range(5)]
    return BarBatch(
        np.tile(np.array(names, dtype=object), n_bars),
        np.repeat(times, n_symbols),
        *stacked,
    )


async def simulator_stream(
    symbols: Sequence[str],
    *,
    rate: float,
    seed: int = 0,
    chunk: int = 5_000,
    config: SimulatorConfig | None = None,
) -> AsyncIterator[BarBatch]:
    """Live simulated bars: one bar per symbol per tick, ``rate`` bars per second in all.

    Bars are stamped with the wall clock (UTC ms, strictly increasing per symbol). Prices come
    from :func:`simulate_bars` in chunks, each rescaled to continue from the last close, so the
    stream can run for as long as the process does.
    """
    names = list(symbols)
    interval = len(names) / rate
    last_close: np.ndarray | None = None
    last_ms = 0
    k = 0
    while True:
        block = simulate_bars(names, chunk, seed=seed + k, config=config)
        k += 1
        n = len(names)
        prices = {c: getattr(block, c).reshape(chunk, n) for c in ("open", "high", "low", "close")}
        scale = np.ones(n) if last_close is None else last_close / prices["open"][0]
        volume = block.volume.reshape(chunk, n)
        for row in range(chunk):
            now = max(int(time.time() * 1000), last_ms + 1)
            last_ms = now
            yield BarBatch(
                names,
                np.full(n, now, dtype=np.int64),
                prices["open"][row] * scale,
                prices["high"][row] * scale,
                prices["low"][row] * scale,
                prices["close"][row] * scale,
                volume[row],
                validate=False,
            )
            await asyncio.sleep(interval)
        last_close = prices["close"][-1] * scale


class SimulatorFeed:
    """The simulator as a :class:`~supreme.data.feed.Feed`: the gateway's embedded default.

    :meth:`stream` is :func:`simulator_stream` (``rate`` bars per second over all symbols,
    stamped with the wall clock). :meth:`history` gives the bars of one symbol on the
    timeframe's grid in ``[start_ms, end_ms)``; it is reproducible for the same (seed, symbol,
    timeframe, start), but two different ranges are two different random paths, so it is meant
    for tests and demos, not for a store of history.
    """

    name = "simulator"

    def __init__(
        self, *, rate: float = 20.0, seed: int = 0, config: SimulatorConfig | None = None
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 bars/s, got {rate}")
        self._rate = rate
        self._seed = seed
        self._config = config
        self.last_report = None

    async def history(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int
    ) -> AsyncIterator[BarBatch]:
        from supreme.data.feed import timeframe_ms

        step = timeframe_ms(timeframe)
        first = -(-start_ms // step) * step  # the first grid point at or after start
        n = max(0, -(-(end_ms - first) // step))
        if n:
            from supreme.data.clean import CleanPolicy, clean_bars

            seed = self._seed + zlib.crc32(f"{symbol}/{timeframe}/{first}".encode())
            raw = simulate_bars(
                symbol, n, interval_ms=step, start_ms=first, seed=seed, config=self._config
            )
            # Like every feed's, through the cleaning pipeline (which finds nothing to do here).
            bars, self.last_report = clean_bars(raw, CleanPolicy(timeframe_ms=step))
            yield bars

    def stream(self, symbols: Sequence[str], timeframe: str) -> AsyncIterator[BarBatch]:
        return simulator_stream(symbols, rate=self._rate, seed=self._seed, config=self._config)

    async def close(self) -> None:
        """Nothing to release."""
