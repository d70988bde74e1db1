"""Throughput of the trading core. Prints one JSON line of figures.

- batch indicators: points/s of ``supreme.core.indicators.ema`` and ``rsi`` against TA-Lib called
  directly on the same array, in the same run (the ratio is the wrapper's cost);
- incremental indicators: ns per ``update`` for each class;
- backtest: bars/s for one symbol with all three strategies in one run, against a baseline of
  the same strategies' ``on_bar`` alone (the ratio is what risk, execution and accounting add).

Every figure is the median over ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import talib

from supreme.core import indicators as ind
from supreme.core.backtest import BacktestConfig, run_backtest
from supreme.core.strategies import create_strategy
from supreme.data.simulator import simulate_bars


def median_seconds(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def bench_batch(n_points: int, repeat: int) -> dict[str, float]:
    close = simulate_bars("X", n_points, seed=1).close.copy()
    out: dict[str, float] = {}
    for name, ours, theirs in (
        ("ema", lambda: ind.ema(close, 20), lambda: talib.EMA(close, 20)),
        ("rsi", lambda: ind.rsi(close, 14), lambda: talib.RSI(close, 14)),
    ):
        t_ours = median_seconds(ours, repeat)
        t_talib = median_seconds(theirs, repeat)
        out[f"batch_{name}_points_per_s"] = n_points / t_ours
        out[f"talib_{name}_points_per_s"] = n_points / t_talib
        out[f"batch_{name}_vs_talib_ratio"] = t_talib / t_ours
    return out


def bench_incremental(n_updates: int, repeat: int) -> dict[str, float]:
    bars = simulate_bars("X", n_updates, seed=2)
    high, low, close = bars.high.tolist(), bars.low.tolist(), bars.close.tolist()
    cases = {
        "sma": (lambda: ind.SMA(20), lambda o: [o.update(c) for c in close]),
        "ema": (lambda: ind.EMA(20), lambda o: [o.update(c) for c in close]),
        "rsi": (lambda: ind.RSI(14), lambda o: [o.update(c) for c in close]),
        "macd": (lambda: ind.MACD(12, 26, 9), lambda o: [o.update(c) for c in close]),
        "bollinger": (lambda: ind.Bollinger(20, 2.0), lambda o: [o.update(c) for c in close]),
        "atr": (
            lambda: ind.ATR(14),
            lambda o: [o.update(h, lo, c) for h, lo, c in zip(high, low, close, strict=True)],
        ),
        "donchian": (
            lambda: ind.Donchian(20),
            lambda o: [o.update(h, lo) for h, lo in zip(high, low, strict=True)],
        ),
    }
    # Baseline: the same loop shape with a no-op, so the figures show the update's own cost.
    baseline = median_seconds(lambda: [abs(c) for c in close], repeat)
    out = {"loop_baseline_ns": baseline / n_updates * 1e9}
    for name, (make, feed) in cases.items():
        seconds = median_seconds(lambda make=make, feed=feed: feed(make()), repeat)
        out[f"incremental_{name}_ns_per_update"] = seconds / n_updates * 1e9
    return out


def bench_backtest(n_bars: int, repeat: int) -> dict[str, float]:
    bars = simulate_bars("BTC-USD", n_bars, seed=3)
    names = ["momentum", "mean_reversion", "breakout"]

    def strategies_only() -> None:
        instances = [create_strategy(name, "BTC-USD") for name in names]
        for bar in bars:
            for strategy in instances:
                strategy.on_bar(bar)

    reports = []

    def full() -> None:
        reports.append(run_backtest(bars, names, BacktestConfig()))

    t_strategies = median_seconds(strategies_only, repeat)
    t_full = median_seconds(full, repeat)
    return {
        "backtest_bars_per_s": n_bars / t_full,
        "strategies_only_bars_per_s": n_bars / t_strategies,
        "backtest_vs_strategies_only_ratio": t_full / t_strategies,
        "backtest_trades": reports[-1].trades,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--updates", type=int, default=200_000)
    parser.add_argument("--bars", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    figures: dict[str, float | int | str] = {"bench": "core_throughput", "repeat": args.repeat}
    figures.update(bench_batch(args.points, args.repeat))
    figures.update(bench_incremental(args.updates, args.repeat))
    figures.update(bench_backtest(args.bars, max(3, args.repeat // 2)))
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
